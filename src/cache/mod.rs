//! The record cache: RRsets and negative answers keyed by (lowercase name,
//! type), each with an absolute expiry, bounded by memory.
//!
//! Only this module decides TTLs: it applies the configured clamps when an
//! entry is stored, counts remaining TTLs down when one is served, and keeps
//! expired entries for serve-stale. Lookups assemble CNAME chains from the
//! cached pieces; an NXDOMAIN entry answers its name for every type.

mod answer;
mod entry;
mod nsec;

use std::sync::Arc;
use std::time::{Duration, Instant};

use foldhash::fast::RandomState;
use moka::Expiry;

use crate::dnssec::Security;
use crate::wire::name::{MAX_NAME_LEN, NameKey, is_at_or_below};
use crate::wire::{rcode, rtype};

pub use answer::{Chain, MAX_PIECES, STALE_TTL};
pub use entry::{CacheEntry, EntryKind, Origin, Parts, ProofRecord, Rrset, TooLarge};
pub use nsec::{NsecRanges, Synthesised};

/// Key type for NXDOMAIN entries: type 0 is reserved (RFC 6895) and never
/// asked for, so it cannot clash with an RRset.
const NXDOMAIN_TYPE: u16 = 0;

/// What the map itself spends per entry beyond the entry (moka's node,
/// hash table slot, frequency sketch share, the Arc and the key's box);
/// measured by `tests/cache.rs` against the process's resident memory.
const MAP_OVERHEAD: usize = 480;

/// Longest a bogus answer is kept, so one bad zone costs a validation a
/// minute, not one per query, and a fixed zone is soon believed (Unbound's
/// `val-bogus-ttl`).
pub const BOGUS_TTL: u32 = 60;

/// How the cache treats what it stores.
#[derive(Clone, Debug)]
pub struct CacheSettings {
    /// Bytes the cache may hold.
    pub max_size: u64,
    pub min_ttl: u32,
    pub max_ttl: u32,
    pub max_negative_ttl: u32,
    /// How long after expiry an entry may still be served stale.
    pub serve_stale: Duration,
    /// Whether hits near expiry ask for a refresh.
    pub prefetch: bool,
}

/// A negative answer to store (RFC 2308): NXDOMAIN for every type of
/// `name`, or NODATA for `qtype`, with the SOA that came with it.
pub struct NegativeAnswer<'a> {
    pub kind: EntryKind,
    /// Lowercase wire form.
    pub name: &'a [u8],
    pub qtype: u16,
    pub soa: &'a Rrset,
    /// The SOA's MINIMUM field.
    pub minimum: u32,
}

/// What goes into the cache with an RRset or a denial besides its
/// records.
#[derive(Clone, Copy, Debug)]
pub struct Provenance<'a> {
    pub origin: Origin,
    pub security: Security,
    /// RRSIG RDATA over the RRset.
    pub rrsigs: &'a [Box<[u8]>],
    /// The NSEC or NSEC3 records, with their RRSIGs, that prove a
    /// wildcard answer or a denial (with the RRSIGs over its SOA).
    pub proof: &'a [ProofRecord],
}

impl<'a> Provenance<'a> {
    /// From `origin`, not validated, without DNSSEC records.
    pub fn unsigned(origin: Origin) -> Self {
        Provenance {
            origin,
            security: Security::Indeterminate,
            rrsigs: &[],
            proof: &[],
        }
    }

    /// From `origin`, secure, with its RRSIGs and proof.
    pub fn secure(origin: Origin, rrsigs: &'a [Box<[u8]>], proof: &'a [ProofRecord]) -> Self {
        Provenance {
            origin,
            security: Security::Secure,
            rrsigs,
            proof,
        }
    }
}

/// An entry as `Cache::entries` lists it.
pub struct HeldEntry {
    /// Lowercase wire form.
    pub owner: Box<[u8]>,
    /// The type it is kept under; `None` for NXDOMAIN (every type).
    pub kept_as: Option<u16>,
    pub entry: Arc<CacheEntry>,
}

/// The outcome of a cache lookup.
pub enum Lookup {
    /// Everything needed is cached and fresh. `refresh` asks the caller to
    /// refresh the question in the background (prefetch).
    Hit {
        chain: Chain,
        refresh: bool,
    },
    /// Everything needed is cached, but some of it has expired: to be used
    /// only if the question cannot be resolved.
    Stale(Chain),
    Miss,
}

pub struct Cache {
    map: moka::sync::Cache<Box<[u8]>, Arc<CacheEntry>, RandomState>,
    settings: CacheSettings,
    epoch: Instant,
}

/// Keeps entries for their TTL plus the serve-stale window.
struct KeepForStale(Duration);

impl Expiry<Box<[u8]>, Arc<CacheEntry>> for KeepForStale {
    fn expire_after_create(
        &self,
        _key: &Box<[u8]>,
        entry: &Arc<CacheEntry>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(Duration::from_secs(entry.ttl().into()) + self.0)
    }

    fn expire_after_update(
        &self,
        _key: &Box<[u8]>,
        entry: &Arc<CacheEntry>,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(Duration::from_secs(entry.ttl().into()) + self.0)
    }
}

/// An entry's cost for the size bound: what it and its key hold, plus
/// the map's own bookkeeping.
// moka hands the weigher `&K`, and K is `Box<[u8]>`.
#[allow(clippy::borrowed_box)]
fn weigh(key: &Box<[u8]>, entry: &Arc<CacheEntry>) -> u32 {
    u32::try_from(key.len() + entry.weight() + MAP_OVERHEAD).unwrap_or(u32::MAX)
}

/// Writes the key for (name, type) into `buf`: the lowercase wire name,
/// then the type.
fn key<'a>(name: &[u8], rtype: u16, buf: &'a mut [u8; MAX_NAME_LEN + 2]) -> &'a [u8] {
    let len = name.len().min(MAX_NAME_LEN);
    buf[..len].copy_from_slice(&name[..len]);
    buf[len..len + 2].copy_from_slice(&rtype.to_be_bytes());
    &buf[..len + 2]
}

impl Cache {
    pub fn new(settings: CacheSettings) -> Self {
        let map = moka::sync::Cache::builder()
            .max_capacity(settings.max_size)
            .weigher(weigh)
            .expire_after(KeepForStale(settings.serve_stale))
            .build_with_hasher(RandomState::default());
        Self {
            map,
            settings,
            epoch: Instant::now(),
        }
    }

    /// The cache's clock, in milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn get(&self, name: &[u8], rtype: u16) -> Option<Arc<CacheEntry>> {
        let mut buf = [0u8; MAX_NAME_LEN + 2];
        self.map.get(key(name, rtype, &mut buf))
    }

    /// As `get`, for lookups that mostly miss (CNAME and NXDOMAIN checks):
    /// a miss is not recorded as one, which is what costs in moka.
    fn get_if_held(&self, name: &[u8], rtype: u16) -> Option<Arc<CacheEntry>> {
        let mut buf = [0u8; MAX_NAME_LEN + 2];
        let key = key(name, rtype, &mut buf);
        if !self.map.contains_key(key) {
            return None;
        }
        self.map.get(key)
    }

    fn put(&self, name: &[u8], rtype: u16, entry: Arc<CacheEntry>) {
        // TTL 0: for the transaction in progress only (RFC 1035 3.2.1).
        if entry.ttl() == 0 {
            return;
        }
        let mut buf = [0u8; MAX_NAME_LEN + 2];
        self.map.insert(key(name, rtype, &mut buf).into(), entry);
    }

    /// Looks up the answer to (`qname`, `qtype`): the RRset, or a CNAME
    /// chain from cached pieces, or a negative entry.
    pub fn lookup(&self, qname: &NameKey, qtype: u16, now_ms: u64) -> Lookup {
        match self.assemble(qname, qtype) {
            None => Lookup::Miss,
            Some(chain) if chain.entries().any(|e| e.expired(now_ms)) => Lookup::Stale(chain),
            Some(chain) => {
                let refresh =
                    self.settings.prefetch && chain.entries().any(|e| e.claim_refresh(now_ms));
                Lookup::Hit { chain, refresh }
            }
        }
    }

    /// The fresh answer to (`qname`, `qtype`) if the cache has one, for the
    /// resolver's own use: no prefetch is claimed.
    pub fn peek(&self, qname: &NameKey, qtype: u16, now_ms: u64) -> Option<Chain> {
        self.assemble(qname, qtype)
            .filter(|chain| !chain.entries().any(|e| e.expired(now_ms)))
    }

    /// A fresh NXDOMAIN entry for a name strictly above `name`, if the
    /// cache holds one: nothing exists below a name that does not exist
    /// (RFC 8020). For the resolver, on a miss; not on the hot path.
    pub fn nxdomain_above(&self, name: &NameKey, now_ms: u64) -> Option<Arc<CacheEntry>> {
        (1..name.label_count()).find_map(|skip| {
            self.get_if_held(name.suffix(skip), NXDOMAIN_TYPE)
                .filter(|entry| !entry.expired(now_ms))
        })
    }

    /// The cached pieces that answer (`qname`, `qtype`), fresh or not.
    fn assemble(&self, qname: &NameKey, qtype: u16) -> Option<Chain> {
        // ANY is answered from upstream: the cache cannot know it holds
        // every type a name has.
        if qtype == rtype::ANY {
            return None;
        }
        let mut chain = Chain::new();
        let mut target = [0u8; MAX_NAME_LEN];
        let mut target_len = qname.wire_len();
        target[..target_len].copy_from_slice(qname.as_bytes());
        loop {
            let name = &target[..target_len];
            if let Some(entry) = self.get(name, qtype) {
                chain.push(entry);
                break;
            }
            if qtype != rtype::CNAME
                && let Some(entry) = self.get_if_held(name, rtype::CNAME)
                && let Some((next, _)) = entry.cname()
            {
                target_len = next.len().min(MAX_NAME_LEN);
                target[..target_len].copy_from_slice(&next[..target_len]);
                // A CNAME made from a DNAME is answered with the DNAME.
                if let Some(dname) = entry.via()
                    && !chain.push(dname.clone())
                {
                    return None;
                }
                if !chain.push(entry) || chain.len() == MAX_PIECES {
                    return None;
                }
                continue;
            }
            if let Some(entry) = self.get_if_held(name, NXDOMAIN_TYPE) {
                chain.push(entry);
                chain.set_rcode(rcode::NXDOMAIN);
                break;
            }
            return None;
        }
        Some(chain)
    }

    /// Stores a positive RRset, with its TTL clamped, and returns the entry.
    pub fn store_rrset(
        &self,
        rrset: &Rrset,
        now_ms: u64,
        origin: Origin,
    ) -> Result<Arc<CacheEntry>, TooLarge> {
        self.store_rrset_via(rrset, now_ms, None, Provenance::unsigned(origin))
    }

    /// As `store_rrset`, for a CNAME made from the DNAME `via`: answers
    /// from the cache carry the DNAME before it (RFC 6672 section 3.4).
    pub fn store_rrset_via(
        &self,
        rrset: &Rrset,
        now_ms: u64,
        via: Option<Arc<CacheEntry>>,
        provenance: Provenance<'_>,
    ) -> Result<Arc<CacheEntry>, TooLarge> {
        let ttl = self.validated_ttl(
            rrset
                .ttl
                .clamp(self.settings.min_ttl, self.settings.max_ttl),
            provenance.security,
        );
        let owner = NameKey::from_name(&rrset.name);
        let mut entry = CacheEntry::rrset(rrset, ttl, now_ms, provenance.origin, via)?
            .with_dnssec(owner.as_bytes(), provenance.rrsigs, provenance.proof)?;
        entry.set_security(provenance.security);
        let entry = Arc::new(entry);
        self.put(owner.as_bytes(), u16::from(rrset.rtype), entry.clone());
        Ok(entry)
    }

    /// Stores a negative answer for `name` (NXDOMAIN: every type; NODATA:
    /// `qtype`) with the TTL RFC 2308 section 5 gives it: the lesser of the
    /// SOA's TTL and MINIMUM, clamped.
    pub fn store_negative(
        &self,
        answer: NegativeAnswer<'_>,
        now_ms: u64,
        provenance: Provenance<'_>,
    ) -> Result<Arc<CacheEntry>, TooLarge> {
        let security = provenance.security;
        let ttl = self.validated_ttl(
            answer
                .soa
                .ttl
                .min(answer.minimum)
                .min(self.settings.max_negative_ttl),
            security,
        );
        let mut entry =
            CacheEntry::negative(answer.kind, answer.soa, ttl, now_ms, provenance.origin)?
                .with_dnssec(answer.name, provenance.rrsigs, provenance.proof)?;
        entry.set_security(security);
        let entry = Arc::new(entry);
        let key_type = match answer.kind {
            EntryKind::NxDomain => NXDOMAIN_TYPE,
            _ => answer.qtype,
        };
        self.put(answer.name, key_type, entry.clone());
        Ok(entry)
    }

    /// A TTL as validation bounds it: bogus data is kept briefly.
    fn validated_ttl(&self, ttl: u32, security: Security) -> u32 {
        match security {
            Security::Bogus(_) => ttl.min(BOGUS_TTL),
            _ => ttl,
        }
    }

    /// Entries held (after pending maintenance).
    pub fn entry_count(&self) -> u64 {
        self.map.entry_count()
    }

    /// Bytes held by the size bound's measure.
    pub fn weighted_size(&self) -> u64 {
        self.map.weighted_size()
    }

    /// Removes every entry for `name` (lowercase wire form), any type.
    /// Returns how many went.
    pub fn flush_name(&self, name: &[u8]) -> usize {
        self.flush_where(|owner| owner == name)
    }

    /// Removes every entry at or below `suffix` (lowercase wire form).
    pub fn flush_below(&self, suffix: &[u8]) -> usize {
        self.flush_where(|owner| is_at_or_below(owner, suffix))
    }

    /// Removes everything.
    pub fn flush_all(&self) -> usize {
        let count = self.map.iter().count();
        self.map.invalidate_all();
        self.map.run_pending_tasks();
        count
    }

    fn flush_where(&self, matches: impl Fn(&[u8]) -> bool) -> usize {
        let doomed: Vec<Arc<Box<[u8]>>> = self
            .map
            .iter()
            .map(|(key, _)| key)
            .filter(|key| matches(&key[..key.len().saturating_sub(2)]))
            .collect();
        for key in &doomed {
            self.map.invalidate(key.as_ref());
        }
        doomed.len()
    }

    /// Every entry that has not expired, with its owner (lowercase wire
    /// form) and the type it is kept under (`None` for NXDOMAIN, which
    /// covers every type). For dumps and inspection, not the query path.
    pub fn entries(&self, now_ms: u64) -> Vec<HeldEntry> {
        self.map
            .iter()
            .filter(|(_, entry)| !entry.expired(now_ms))
            .filter_map(|(key, entry)| {
                let split = key.len().checked_sub(2)?;
                let rtype = u16::from_be_bytes([key[split], key[split + 1]]);
                Some(HeldEntry {
                    owner: key[..split].into(),
                    kept_as: (rtype != NXDOMAIN_TYPE).then_some(rtype),
                    entry,
                })
            })
            .collect()
    }

    /// What is held for `name` that bears on `qtype`: the RRset, a CNAME,
    /// an NXDOMAIN, fresh or stale. For inspection.
    pub fn held(&self, name: &[u8], qtype: u16) -> Vec<(Option<u16>, Arc<CacheEntry>)> {
        [Some(qtype), Some(rtype::CNAME), None]
            .into_iter()
            .filter_map(|t| Some((t, self.get(name, t.unwrap_or(NXDOMAIN_TYPE))?)))
            .collect()
    }

    /// Runs the map's deferred evictions now; for tests and statistics.
    pub fn run_pending_tasks(&self) {
        self.map.run_pending_tasks();
    }
}

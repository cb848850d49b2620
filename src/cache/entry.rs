//! What the cache holds: RRsets and negative answers, encoded once when
//! they arrive, with a place for each record's TTL so a hit only copies
//! bytes and writes the remaining TTL.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};

use crate::dnssec::Security;
use crate::wire::name::{NameKey, name_to_wire};
use crate::wire::rtype;

/// Largest encoded entry.
const MAX_ENTRY_LEN: usize = 60_000;

/// An RRset as the resolver read it from an upstream response.
#[derive(Clone, Debug, PartialEq)]
pub struct Rrset {
    pub name: Name,
    pub rtype: RecordType,
    pub ttl: u32,
    pub rdatas: Vec<RData>,
}

/// What an entry says about its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// Records of the type asked.
    Rrset,
    /// The name exists but has no records of this type (RFC 2308 NODATA).
    NoData,
    /// The name does not exist, for any type (RFC 2308 NXDOMAIN).
    NxDomain,
}

/// Where a cached entry came from, for operators (`hearsay ctl lookup`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// An upstream resolver (forward mode).
    Upstream,
    /// An authoritative server (recursive mode).
    Authority,
    /// The sibling that owns the question.
    Sibling,
    /// A cache file read at start or by `ctl load-cache`.
    Restored,
}

impl Origin {
    pub fn label(self) -> &'static str {
        match self {
            Origin::Upstream => "upstream",
            Origin::Authority => "authority",
            Origin::Sibling => "sibling",
            Origin::Restored => "restored",
        }
    }
}

/// An RRset or negative answer, encoded.
///
/// For an RRset each record starts with a two-byte placeholder for its
/// owner name, filled with a compression pointer when the record is
/// written (to the question, or to the CNAME target before it). A DNAME's
/// owner is above the name being answered, so it is written out, as is the
/// SOA of a negative entry (for the authority section). Names inside RDATA
/// are never compressed, so the bytes are valid wherever they land in a
/// message. After the records may come their RRSIGs (owners as theirs)
/// and the NSEC or NSEC3 proof of a wildcard answer or a denial (owners
/// written out), for clients that set DO.
#[derive(Debug)]
pub struct CacheEntry {
    kind: EntryKind,
    wire: Box<[u8]>,
    /// Offset of each record's TTL in `wire`.
    ttl_at: Box<[u16]>,
    /// For a CNAME: its target in lowercase wire form, and where the
    /// target's uncompressed name starts in `wire`.
    cname: Option<(Box<[u8]>, u16)>,
    /// When it expires, in milliseconds on the cache's clock.
    expires_ms: u64,
    /// The TTL it was stored with, after clamping.
    ttl: u32,
    /// Set once a prefetch of this entry has started.
    refreshing: AtomicBool,
    origin: Origin,
    /// Whether records carry their owner written out (a DNAME, a negative
    /// entry's SOA) rather than a placeholder.
    owner_inline: bool,
    /// For a CNAME made from a DNAME: that DNAME, which answers go with.
    via: Option<Arc<CacheEntry>>,
    /// What validation made of it.
    security: Security,
    /// Where the DNSSEC records in `wire` are, if there are any.
    dnssec: Option<DnssecMarks>,
}

/// A place in an entry's records: bytes of `wire` and records before it.
#[derive(Clone, Copy, Debug)]
struct Mark {
    bytes: u16,
    records: u16,
}

/// An entry's records are its own, then the RRSIGs over them (`plain` to
/// `signed`), then the proof that goes in the authority section (from
/// `signed` on); what is after `plain` goes only to clients that set DO.
#[derive(Clone, Copy, Debug)]
struct DnssecMarks {
    plain: Mark,
    signed: Mark,
}

/// A record kept as proof for validation, and for clients that set DO:
/// owner (lowercase wire form), type and RDATA (wire form, names
/// uncompressed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofRecord {
    pub owner: Box<[u8]>,
    pub rtype: u16,
    pub rdata: Box<[u8]>,
}

impl ProofRecord {
    /// The RDATA of the RRSIGs among `proof` at `owner` that cover
    /// `covered`.
    pub fn rrsigs_over<'p>(
        proof: &'p [ProofRecord],
        owner: &[u8],
        covered: u16,
    ) -> impl Iterator<Item = &'p [u8]> {
        proof
            .iter()
            .filter(move |r| r.rtype == rtype::RRSIG && r.owner.eq_ignore_ascii_case(owner))
            .filter(move |r| r.rdata.get(..2) == Some(&covered.to_be_bytes()[..]))
            .map(|r| &r.rdata[..])
    }
}

/// The records of an entry a response takes: those for the entry's own
/// section (the first `placeholders` of them with a pointer slot before
/// their TTL's type and class), and those for the authority section.
pub struct Parts<'a> {
    pub main: &'a [u8],
    pub main_ttls: &'a [u16],
    pub placeholders: usize,
    pub proof: &'a [u8],
    /// TTL offsets in `proof`.
    pub proof_ttls: &'a [u16],
    /// Where `proof` starts in the entry, to shift `proof_ttls` by.
    pub proof_at: u16,
}

/// An RRset whose encoding would not fit in a DNS message.
#[derive(Debug, thiserror::Error)]
#[error("RRset {name} {rtype} is too large to cache")]
pub struct TooLarge {
    pub name: Name,
    pub rtype: RecordType,
}

impl CacheEntry {
    /// Encodes a positive RRset; `via` is the DNAME a CNAME was made from.
    pub fn rrset(
        rrset: &Rrset,
        ttl: u32,
        now_ms: u64,
        origin: Origin,
        via: Option<Arc<CacheEntry>>,
    ) -> Result<Self, TooLarge> {
        let owner_inline = rrset.rtype == RecordType::DNAME;
        let (wire, ttl_at) = encode(rrset, owner_inline)?;
        let cname = match rrset.rdatas.first() {
            Some(RData::CNAME(target)) if rrset.rtype == RecordType::CNAME => {
                // Owner placeholder (2), type, class, TTL, RDLENGTH (10).
                let target_at = ttl_at[0] + 6;
                Some((NameKey::from_name(&target.0).as_bytes().into(), target_at))
            }
            _ => None,
        };
        let mut entry = Self::new(EntryKind::Rrset, wire, ttl_at, cname, ttl, now_ms, origin);
        entry.owner_inline = owner_inline;
        entry.via = via.filter(|_| rrset.rtype == RecordType::CNAME);
        Ok(entry)
    }

    /// Encodes a negative answer around its zone's SOA.
    pub fn negative(
        kind: EntryKind,
        soa: &Rrset,
        ttl: u32,
        now_ms: u64,
        origin: Origin,
    ) -> Result<Self, TooLarge> {
        let (wire, ttl_at) = encode(soa, true)?;
        let mut entry = Self::new(kind, wire, ttl_at, None, ttl, now_ms, origin);
        entry.owner_inline = true;
        Ok(entry)
    }

    fn new(
        kind: EntryKind,
        wire: Box<[u8]>,
        ttl_at: Box<[u16]>,
        cname: Option<(Box<[u8]>, u16)>,
        ttl: u32,
        now_ms: u64,
        origin: Origin,
    ) -> Self {
        Self {
            origin,
            kind,
            wire,
            ttl_at,
            cname,
            expires_ms: now_ms + u64::from(ttl) * 1000,
            ttl,
            refreshing: AtomicBool::new(false),
            owner_inline: false,
            via: None,
            security: Security::Indeterminate,
            dnssec: None,
        }
    }

    /// Adds the DNSSEC records that go with the entry for clients that set
    /// DO: `rrsigs` (RDATA) over its RRset at `owner` (lowercase wire
    /// form), and `proof`: the NSEC or NSEC3 records and RRSIGs of a
    /// wildcard answer, or of a denial (with the RRSIGs over its SOA).
    pub fn with_dnssec(
        mut self,
        owner: &[u8],
        rrsigs: &[Box<[u8]>],
        proof: &[ProofRecord],
    ) -> Result<Self, TooLarge> {
        if rrsigs.is_empty() && proof.is_empty() {
            return Ok(self);
        }
        let too_large = || TooLarge {
            name: Name::from_ascii(crate::wire::name::wire_to_text(owner))
                .unwrap_or_else(|_| Name::root()),
            rtype: RecordType::RRSIG,
        };
        let mut wire = self.wire.to_vec();
        let mut ttl_at = self.ttl_at.to_vec();
        let mark = |wire: &Vec<u8>, ttl_at: &Vec<u16>| -> Result<Mark, TooLarge> {
            Ok(Mark {
                bytes: u16::try_from(wire.len()).map_err(|_| too_large())?,
                records: u16::try_from(ttl_at.len()).map_err(|_| too_large())?,
            })
        };
        let plain = mark(&wire, &ttl_at)?;
        let placeholder: &[u8] = if self.owner_inline {
            owner
        } else {
            &[0xC0, 0x0C]
        };
        for rdata in rrsigs {
            push_record(&mut wire, &mut ttl_at, placeholder, rtype::RRSIG, rdata)
                .ok_or_else(too_large)?;
        }
        // A denial's proof goes where the denial is, in the authority
        // section (before the mark); a wildcard answer's after the
        // answers (after it).
        let negative = self.kind != EntryKind::Rrset;
        let mut signed = mark(&wire, &ttl_at)?;
        for record in proof {
            push_record(
                &mut wire,
                &mut ttl_at,
                &record.owner,
                record.rtype,
                &record.rdata,
            )
            .ok_or_else(too_large)?;
        }
        if negative {
            signed = mark(&wire, &ttl_at)?;
        }
        if wire.len() > MAX_ENTRY_LEN {
            return Err(too_large());
        }
        self.wire = wire.into();
        self.ttl_at = ttl_at.into();
        self.dnssec = Some(DnssecMarks { plain, signed });
        Ok(self)
    }

    /// The records a response takes, with or without DNSSEC records.
    pub fn parts(&self, dnssec_ok: bool) -> Parts<'_> {
        let all = self.ttl_at.len();
        let (main, main_records, proof_at) = match (self.dnssec, dnssec_ok) {
            (None, _) => (self.wire.len(), all, self.wire.len()),
            (Some(marks), false) => (
                usize::from(marks.plain.bytes),
                usize::from(marks.plain.records),
                self.wire.len(),
            ),
            (Some(marks), true) => (
                usize::from(marks.signed.bytes),
                usize::from(marks.signed.records),
                usize::from(marks.signed.bytes),
            ),
        };
        let proof_records = match (self.dnssec, dnssec_ok) {
            (Some(marks), true) => usize::from(marks.signed.records)..all,
            _ => all..all,
        };
        Parts {
            main: &self.wire[..main],
            main_ttls: &self.ttl_at[..main_records],
            placeholders: if self.owner_inline { 0 } else { main_records },
            proof: &self.wire[proof_at..],
            proof_ttls: &self.ttl_at[proof_records],
            proof_at: proof_at as u16,
        }
    }

    pub(super) fn set_security(&mut self, security: Security) {
        self.security = security;
    }

    pub fn security(&self) -> Security {
        self.security
    }

    pub fn kind(&self) -> EntryKind {
        self.kind
    }

    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// For a CNAME made from a DNAME: the DNAME.
    pub fn via(&self) -> Option<&Arc<CacheEntry>> {
        self.via.as_ref()
    }

    /// For a CNAME: the target (lowercase wire) and its offset in `wire`.
    pub fn cname(&self) -> Option<(&[u8], u16)> {
        self.cname.as_ref().map(|(name, at)| (&name[..], *at))
    }

    /// The TTL it was stored with.
    pub fn ttl(&self) -> u32 {
        self.ttl
    }

    pub fn expires_ms(&self) -> u64 {
        self.expires_ms
    }

    /// Whether it has expired at `now_ms`.
    pub fn expired(&self, now_ms: u64) -> bool {
        now_ms >= self.expires_ms
    }

    /// Seconds left, rounded up, so a record is served with its full TTL
    /// right after it arrives and reaches 0 only as it expires.
    pub fn remaining(&self, now_ms: u64) -> u32 {
        (self.expires_ms.saturating_sub(now_ms).div_ceil(1000)) as u32
    }

    /// True when a hit now should refresh the entry: it is in the last
    /// tenth of its TTL and nobody has started a refresh yet. Claims the
    /// refresh, so it is true for one caller only.
    pub fn claim_refresh(&self, now_ms: u64) -> bool {
        let left = self.expires_ms.saturating_sub(now_ms);
        let whole = u64::from(self.ttl) * 1000;
        left * 10 < whole
            && self
                .refreshing
                .compare_exchange(false, true, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Calls `found` with each address of an A or AAAA RRset.
    pub fn addresses(&self, found: &mut impl FnMut(IpAddr)) {
        if self.kind != EntryKind::Rrset {
            return;
        }
        for &at in self.ttl_at.iter() {
            let at = at as usize;
            // Before the TTL: type and class; after it: RDLENGTH, RDATA.
            let rtype = u16::from_be_bytes([self.wire[at - 4], self.wire[at - 3]]);
            let Some(rdata) = self.wire.get(at + 6..) else {
                continue;
            };
            match rtype {
                1 => {
                    if let Some(bytes) = rdata.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok()) {
                        found(IpAddr::from(bytes));
                    }
                }
                28 => {
                    if let Some(bytes) = rdata.get(..16).and_then(|b| <[u8; 16]>::try_from(b).ok())
                    {
                        found(IpAddr::from(bytes));
                    }
                }
                _ => {}
            }
        }
    }

    /// Bytes it takes, roughly, for the cache's size bound.
    pub fn weight(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.wire.len()
            + self.ttl_at.len() * 2
            + self.cname.as_ref().map_or(0, |(n, _)| n.len())
    }
}

/// Appends one record: `owner` (wire form, or a pointer placeholder),
/// type, class IN, a TTL slot (its offset pushed to `ttl_at`), RDATA.
fn push_record(
    wire: &mut Vec<u8>,
    ttl_at: &mut Vec<u16>,
    owner: &[u8],
    rtype: u16,
    rdata: &[u8],
) -> Option<()> {
    wire.extend_from_slice(owner);
    wire.extend_from_slice(&rtype.to_be_bytes());
    wire.extend_from_slice(&u16::from(DNSClass::IN).to_be_bytes());
    ttl_at.push(u16::try_from(wire.len()).ok()?);
    wire.extend_from_slice(&[0; 4]);
    wire.extend_from_slice(&u16::try_from(rdata.len()).ok()?.to_be_bytes());
    wire.extend_from_slice(rdata);
    Some(())
}

/// Encoded records and the offset of each one's TTL.
type Encoded = (Box<[u8]>, Box<[u16]>);

/// Encodes records: owner (placeholder or written out), type, class, TTL
/// (0 until written), RDLENGTH, RDATA with uncompressed names.
fn encode(rrset: &Rrset, owner_inline: bool) -> Result<Encoded, TooLarge> {
    let too_large = || TooLarge {
        name: rrset.name.clone(),
        rtype: rrset.rtype,
    };
    let mut owner = Vec::new();
    if owner_inline {
        name_to_wire(&rrset.name, &mut owner);
    } else {
        owner.extend_from_slice(&[0xC0, 0x0C]);
    }
    let mut wire = Vec::new();
    let mut ttl_at = Vec::with_capacity(rrset.rdatas.len());
    let mut rdata = Vec::new();
    for data in &rrset.rdatas {
        wire.extend_from_slice(&owner);
        wire.extend_from_slice(&u16::from(rrset.rtype).to_be_bytes());
        wire.extend_from_slice(&u16::from(DNSClass::IN).to_be_bytes());
        ttl_at.push(u16::try_from(wire.len()).map_err(|_| too_large())?);
        wire.extend_from_slice(&[0; 4]);
        rdata.clear();
        let mut encoder = BinEncoder::new(&mut rdata);
        encoder.set_name_encoding(NameEncoding::Uncompressed);
        data.emit(&mut encoder).map_err(|_| too_large())?;
        let len = u16::try_from(rdata.len()).map_err(|_| too_large())?;
        wire.extend_from_slice(&len.to_be_bytes());
        wire.extend_from_slice(&rdata);
    }
    // Offsets are u16 and a response must fit in 64 KiB beside the header
    // and question.
    if wire.len() > MAX_ENTRY_LEN {
        return Err(too_large());
    }
    Ok((wire.into(), ttl_at.into()))
}

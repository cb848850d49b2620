//! DNSSEC validation of what resolution reads (RFC 4035 section 5), in
//! the manner of Unbound's validator.
//!
//! Each RRset of an answer chain is judged by the zone that signed it:
//! the signer its RRSIGs name, or, for an RRset without any, the zone its
//! owner lies in. That zone's keys are found by walking down from the
//! trust anchor one label at a time: a DS query for the next name, proven
//! by the keys above; a DS RRset leads to the child's DNSKEY set, proven
//! by it; a proven absence of DS at a delegation makes everything below
//! insecure, and at any other name (no cut) the walk goes on with the same
//! keys. What each step found is kept per name (`zones`), bounded in size
//! and for the TTL the records allow, so a zone's keys cost one walk per
//! TTL, not one per question. A negative answer is judged by the zone of
//! its SOA, with its NSEC or NSEC3 proof; a wildcard expansion needs the
//! proof that no closer name exists.
//!
//! Every signature check and NSEC3 hash comes from the client question's
//! `dnssec::Budget`; the DS and DNSKEY queries from its query budget.

use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant, SystemTime, UNIX_EPOCH};

use hickory_proto::rr::RecordType;
use tokio::time::Instant;

use super::Resolver;
use super::iterate::Budget;
use super::response::{End, Reading, rdata_wire};
use crate::cache::{BOGUS_TTL, ProofRecord, Rrset};
use crate::dnssec::budget::Exhausted;
use crate::dnssec::canonical::signature_labels;
use crate::dnssec::denial::{self, Denial, Nsec};
use crate::dnssec::nsec3::{self, Nsec3, Nsec3Proof};
use crate::dnssec::rollover::Rollover;
use crate::dnssec::{
    Failure, KeyVerdict, Rrsig, Security, TrustAnchor, ZoneKeys, prove_keys, prove_rrset,
    verify_rrset,
};
use crate::wire::name::{NameKey, is_at_or_below};
use crate::wire::rtype::{DNSKEY, DS, NSEC3, RRSIG};
use tracing::{info, warn};

/// Names whose place in the chain of trust is kept.
const MAX_KNOWN_NAMES: u64 = 20_000;

/// Longest a step of the chain is kept, whatever the TTLs say.
const MAX_KNOWN_TTL: u32 = 86_400;

/// What validation knows of a name on the way down from the anchor: the
/// keys of the zone it lies in (its own, if it is a zone apex), or that
/// nothing there is signed, or that the chain is broken.
#[derive(Clone, Debug)]
enum Trust {
    Secure(Arc<ZoneKeys>),
    Insecure,
    Bogus(Failure),
}

impl Trust {
    fn security(&self) -> Security {
        match self {
            Trust::Secure(_) => Security::Secure,
            Trust::Insecure => Security::Insecure,
            Trust::Bogus(failure) => Security::Bogus(*failure),
        }
    }
}

#[derive(Debug)]
struct Known {
    trust: Trust,
    until: StdInstant,
}

/// Why a reading could not be judged: the answer is SERVFAIL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unjudged {
    /// The question's validation budget is spent.
    Budget,
    /// A DS or DNSKEY query got no usable answer.
    Unanswered,
}

impl From<Exhausted> for Unjudged {
    fn from(_: Exhausted) -> Self {
        Unjudged::Budget
    }
}

/// What validation made of a reading.
#[derive(Debug)]
pub struct Judged {
    /// One for each RRset of the reading.
    pub rrsets: Vec<Security>,
    /// For a negative end: the denial's.
    pub denial: Security,
    /// The NSEC records a secure denial, or a wildcard answer, was
    /// proven with.
    pub nsecs: Option<ProvenNsecs>,
}

/// NSEC records whose signatures validation verified, with those RRSIGs:
/// what aggressive use of NSEC (RFC 8198) may answer from.
#[derive(Debug)]
pub struct ProvenNsecs {
    /// The zone that signed them.
    pub zone: Box<[u8]>,
    pub records: Vec<ProofRecord>,
}

/// What a verified NSEC or NSEC3 proof showed.
enum Proven {
    NxDomain,
    Denied(Denial),
    /// An NSEC3 opt-out span, or a chain too costly to judge.
    Insecure,
}

pub struct Validator {
    anchor: TrustAnchor,
    /// RFC 5011 tracking of the anchor zone's keys, when configured; its
    /// trusted keys replace `anchor`.
    rollover: Option<std::sync::Mutex<Rollover>>,
    /// Names at and below which nothing is validated (lowercase wire).
    insecure: Vec<Box<[u8]>>,
    zones: moka::sync::Cache<Box<[u8]>, Arc<Known>, foldhash::fast::RandomState>,
}

impl Validator {
    /// A validator with chains of trust from `anchor`, and none for names
    /// at or below `insecure` (lowercase wire form).
    pub fn new(anchor: TrustAnchor, insecure: Vec<Box<[u8]>>) -> Self {
        Validator {
            anchor,
            rollover: None,
            insecure,
            zones: moka::sync::Cache::builder()
                .max_capacity(MAX_KNOWN_NAMES)
                .time_to_live(Duration::from_secs(MAX_KNOWN_TTL.into()))
                .build_with_hasher(Default::default()),
        }
    }

    /// Follows the anchor zone's key rolls (RFC 5011) with `rollover`,
    /// whose trusted keys are the anchor from now on.
    pub fn with_rollover(mut self, rollover: Rollover) -> Self {
        self.rollover = Some(std::sync::Mutex::new(rollover));
        self
    }

    /// The anchor chains start from now.
    fn current_anchor(&self) -> TrustAnchor {
        match &self.rollover {
            Some(rollover) => match rollover.lock() {
                Ok(rollover) => rollover.anchor(),
                Err(_) => self.anchor.clone(),
            },
            None => self.anchor.clone(),
        }
    }

    /// Forgets every step of every chain (`ctl flush`).
    pub fn forget(&self) {
        self.zones.invalidate_all();
    }

    /// Judges each RRset of `reading`, the answer to (`qtype`), and its
    /// denial if it ends in one.
    pub(super) async fn judge(
        &self,
        resolver: &Resolver,
        reading: &Reading,
        qtype: u16,
        deadline: Instant,
        budget: &mut Budget,
        path: &mut Vec<Box<[u8]>>,
    ) -> Result<Judged, Unjudged> {
        let mut rrsets: Vec<Security> = Vec::with_capacity(reading.rrsets.len());
        let mut wildcard_nsecs = None;
        for (i, rrset) in reading.rrsets.iter().enumerate() {
            let rrsigs = reading.rrsigs.get(i).map_or(&[][..], Vec::as_slice);
            // A CNAME made from the DNAME before it is as good as that DNAME.
            if let Some(&dname) = rrsets.last()
                && rrsigs.is_empty()
                && rrset.rtype == RecordType::CNAME
                && reading.rrsets[i - 1].rtype == RecordType::DNAME
            {
                rrsets.push(dname);
                continue;
            }
            let (security, proven) = self
                .judge_rrset(
                    resolver,
                    rrset,
                    rrsigs,
                    &reading.proof,
                    deadline,
                    budget,
                    path,
                )
                .await?;
            rrsets.push(security);
            wildcard_nsecs = wildcard_nsecs.or(proven);
        }
        let (denial, nsecs) = match reading.end {
            End::NxDomain | End::NoData => {
                self.judge_denial(resolver, reading, qtype, deadline, budget, path)
                    .await?
            }
            End::Data | End::Dangling => (Security::Secure, None),
        };
        Ok(Judged {
            rrsets,
            denial,
            nsecs: nsecs.or(wildcard_nsecs),
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn judge_rrset(
        &self,
        resolver: &Resolver,
        rrset: &Rrset,
        rrsigs: &[Box<[u8]>],
        proof: &[ProofRecord],
        deadline: Instant,
        budget: &mut Budget,
        path: &mut Vec<Box<[u8]>>,
    ) -> Result<(Security, Option<ProvenNsecs>), Unjudged> {
        let owner: Box<[u8]> = NameKey::from_name(&rrset.name).as_bytes().into();
        let rtype = u16::from(rrset.rtype);
        // The zone that signed it: the signer its RRSIGs name, if above
        // the owner (strictly, for DS: the parent's); without RRSIGs, the
        // zone the owner lies in.
        let signer = rrsigs
            .iter()
            .filter_map(|r| Rrsig::parse(r))
            .map(|r| r.signer.to_ascii_lowercase())
            .find(|s| is_at_or_below(&owner, s) && !(rtype == DS && **s == *owner));
        let zone = match &signer {
            Some(signer) => signer.clone(),
            None if rtype == DS => parent(&owner).to_vec(),
            None => owner.to_vec(),
        };
        let keys = match self
            .keys_for(resolver, &zone, deadline, budget, path)
            .await?
        {
            Ok(keys) => keys,
            Err(security) => return Ok((security, None)),
        };
        if signer.is_none() {
            return Ok((Security::Bogus(Failure::RrsigsMissing), None));
        }
        if let Err(failure) = prove_with(&keys, &owner, rrset, &borrowed(rrsigs), budget)? {
            return Ok((Security::Bogus(failure), None));
        }
        // Signed with fewer labels than its owner has: a wildcard
        // expansion, to be shown to have had no closer match.
        let expanded = rrsigs
            .iter()
            .filter_map(|r| Rrsig::parse(r))
            .filter(|r| r.signer.eq_ignore_ascii_case(&keys.zone))
            .map(|r| r.labels)
            .min()
            .filter(|&labels| signature_labels(&owner).is_some_and(|own| labels < own));
        let Some(labels) = expanded else {
            return Ok((Security::Secure, None));
        };
        let encloser = suffix_with_labels(&owner, labels);
        let (links, nsec3s) = proven_links(&keys, proof, budget)?;
        let nsecs: Vec<Nsec<'_>> = links
            .iter()
            .filter_map(|(o, r)| Nsec::parse(o, r))
            .collect();
        if !nsecs.is_empty() {
            return Ok(
                match denial::prove_wildcard_answer(&owner, encloser, &nsecs) {
                    Ok(()) => (Security::Secure, proven_nsecs(&keys, links, proof)),
                    Err(failure) => (Security::Bogus(failure), None),
                },
            );
        }
        let nsec3s: Vec<Nsec3<'_>> = nsec3s
            .iter()
            .filter_map(|(o, r)| Nsec3::parse(o, r))
            .collect();
        let proven = nsec3::prove_wildcard_answer(&owner, encloser, &nsec3s, &mut budget.dnssec)?;
        Ok((
            match proven {
                Ok(Nsec3Proof::Insecure) => Security::Insecure,
                Ok(_) => Security::Secure,
                Err(failure) => Security::Bogus(failure),
            },
            None,
        ))
    }

    /// Judges the denial a reading ends in: by the zone of its SOA, if
    /// that lies above the name denied, else by the zone the name is in.
    async fn judge_denial(
        &self,
        resolver: &Resolver,
        reading: &Reading,
        qtype: u16,
        deadline: Instant,
        budget: &mut Budget,
        path: &mut Vec<Box<[u8]>>,
    ) -> Result<(Security, Option<ProvenNsecs>), Unjudged> {
        let last = &reading.last[..];
        let soa_owner: Option<Box<[u8]>> = reading
            .soa
            .as_ref()
            .map(|(soa, _)| Box::from(NameKey::from_name(&soa.name).as_bytes()))
            .filter(|owner| is_at_or_below(last, owner));
        let zone = match &soa_owner {
            // DS is the parent's: a child's SOA cannot deny it.
            Some(owner) if !(qtype == DS && **owner == *last) => owner.to_vec(),
            _ if qtype == DS => parent(last).to_vec(),
            _ => last.to_vec(),
        };
        let keys = match self
            .keys_for(resolver, &zone, deadline, budget, path)
            .await?
        {
            Ok(keys) => keys,
            Err(security) => return Ok((security, None)),
        };
        if let (Some((soa, _)), Some(owner)) = (&reading.soa, &soa_owner) {
            let rrsigs = rrsigs_in(&reading.proof, owner, RecordType::SOA.into());
            if let Err(failure) = prove_with(&keys, owner, soa, &rrsigs, budget)? {
                return Ok((Security::Bogus(failure), None));
            }
        }
        let (proven, links) =
            prove_denial_with(&keys, last, qtype, reading.end, &reading.proof, budget)?;
        Ok(match proven {
            Ok(Proven::Insecure) => (Security::Insecure, None),
            Ok(_) => (Security::Secure, proven_nsecs(&keys, links, &reading.proof)),
            Err(failure) => (Security::Bogus(failure), None),
        })
    }

    /// The proven keys of `zone`, or what its data is without them
    /// (insecure, bogus).
    async fn keys_for(
        &self,
        resolver: &Resolver,
        zone: &[u8],
        deadline: Instant,
        budget: &mut Budget,
        path: &mut Vec<Box<[u8]>>,
    ) -> Result<Result<Arc<ZoneKeys>, Security>, Unjudged> {
        Ok(
            match self
                .trust_for(resolver, zone, deadline, budget, path)
                .await?
            {
                Trust::Secure(keys) => Ok(keys),
                other => Err(other.security()),
            },
        )
    }

    /// What is known of `zone` (lowercase wire form) in the chain of
    /// trust, walking down from the anchor as far as needed.
    async fn trust_for(
        &self,
        resolver: &Resolver,
        zone: &[u8],
        deadline: Instant,
        budget: &mut Budget,
        path: &mut Vec<Box<[u8]>>,
    ) -> Result<Trust, Unjudged> {
        let zone = zone.to_ascii_lowercase();
        let anchor = self.anchor.zone.clone();
        if !is_at_or_below(&zone, &anchor)
            || self.insecure.iter().any(|name| is_at_or_below(&zone, name))
        {
            return Ok(Trust::Insecure);
        }
        // Where each name from the zone up to the anchor starts in `zone`.
        let mut starts = Vec::new();
        let mut at = 0;
        while let Some(rest) = zone.get(at..) {
            starts.push(at);
            if rest.len() <= anchor.len() {
                break;
            }
            at += 1 + usize::from(rest[0]);
        }
        let known = starts
            .iter()
            .enumerate()
            .find_map(|(i, &at)| Some((i, self.known(&zone[at..])?)));
        let (mut step, mut trust) = match known {
            Some(found) => found,
            None => (
                starts.len() - 1,
                self.prime(resolver, deadline, budget, path).await?,
            ),
        };
        while step > 0 {
            let Trust::Secure(keys) = &trust else {
                return Ok(trust);
            };
            step -= 1;
            let name = &zone[starts[step]..];
            let (found, ttl) = self
                .descend(resolver, keys.clone(), name, deadline, budget, path)
                .await?;
            self.remember(name, found.clone(), ttl);
            trust = found;
        }
        Ok(trust)
    }

    fn known(&self, name: &[u8]) -> Option<Trust> {
        let known = self.zones.get(name)?;
        (known.until > StdInstant::now()).then(|| known.trust.clone())
    }

    fn remember(&self, name: &[u8], trust: Trust, ttl: u32) {
        let ttl = match trust {
            Trust::Bogus(_) => ttl.min(BOGUS_TTL),
            _ => ttl.min(MAX_KNOWN_TTL),
        };
        let until = StdInstant::now() + Duration::from_secs(ttl.into());
        self.zones
            .insert(name.into(), Arc::new(Known { trust, until }));
    }

    /// The anchor's own DNSKEY set, proven by the anchor.
    async fn prime(
        &self,
        resolver: &Resolver,
        deadline: Instant,
        budget: &mut Budget,
        path: &mut Vec<Box<[u8]>>,
    ) -> Result<Trust, Unjudged> {
        let anchor = self.current_anchor();
        let zone = &anchor.zone;
        let reading = resolver
            .read(zone, DNSKEY, deadline, budget, path)
            .await
            .ok_or(Unjudged::Unanswered)?;
        let ds: Vec<&[u8]> = anchor.ds.iter().map(Vec::as_slice).collect();
        let anchor_keys: Vec<&[u8]> = anchor.dnskeys.iter().map(Vec::as_slice).collect();
        let (trust, ttl) = prove_dnskeys(zone, &reading, &ds, &anchor_keys, budget)?;
        if let (Trust::Secure(_), Some(rollover)) = (&trust, &self.rollover) {
            self.follow_roll(rollover, zone, &reading, budget)?;
        }
        self.remember(zone, trust.clone(), ttl);
        Ok(trust)
    }

    /// Shows RFC 5011 tracking the anchor zone's DNSKEY set, just proven:
    /// its keys, and which of the SEP keys sign it themselves.
    fn follow_roll(
        &self,
        rollover: &std::sync::Mutex<Rollover>,
        zone: &[u8],
        reading: &Reading,
        budget: &mut Budget,
    ) -> Result<(), Unjudged> {
        let Some(keys) = reading.rrsets.first().and_then(rdatas_of) else {
            return Ok(());
        };
        let keys = borrowed(&keys);
        let rrsigs = reading.rrsigs.first().map_or(&[][..], Vec::as_slice);
        let now = unix_now();
        let mut self_signed = Vec::new();
        let mut scratch = Vec::new();
        for key in keys.iter().copied() {
            let Some(fields) = crate::dnssec::Dnskey::parse(key) else {
                continue;
            };
            if !fields.is_secure_entry_point() {
                continue;
            }
            let tag = fields.key_tag();
            for rrsig in rrsigs
                .iter()
                .filter(|r| Rrsig::parse(r).is_some_and(|r| r.key_tag == tag))
            {
                budget.dnssec.signature()?;
                if verify_rrset(rrsig, zone, DNSKEY, &keys, zone, key, now, &mut scratch).is_ok() {
                    self_signed.push(key);
                    break;
                }
            }
        }
        let Ok(mut rollover) = rollover.lock() else {
            return Ok(());
        };
        match rollover.observe(&keys, &self_signed, u64::from(now)) {
            Ok(true) => info!(
                zone = %crate::wire::name::wire_to_text(zone),
                keys = ?rollover.states(),
                "trust anchor keys changed (RFC 5011)"
            ),
            Ok(false) => {}
            Err(e) => warn!("trust anchor state: {e}"),
        }
        Ok(())
    }

    /// One step down from a zone whose `keys` are proven: what the DS
    /// query for `name` shows of it.
    async fn descend(
        &self,
        resolver: &Resolver,
        keys: Arc<ZoneKeys>,
        name: &[u8],
        deadline: Instant,
        budget: &mut Budget,
        path: &mut Vec<Box<[u8]>>,
    ) -> Result<(Trust, u32), Unjudged> {
        let reading = resolver
            .read(name, DS, deadline, budget, path)
            .await
            .ok_or(Unjudged::Unanswered)?;
        let ds_rrset = match (&reading.end, reading.rrsets.as_slice()) {
            (End::Data, [ds]) if ds.rtype == RecordType::DS => Some(ds),
            _ => None,
        };
        let Some(ds_rrset) = ds_rrset else {
            return Ok(match reading.end {
                End::NxDomain | End::NoData => {
                    let ttl = reading
                        .soa
                        .as_ref()
                        .map_or(BOGUS_TTL, |(soa, minimum)| soa.ttl.min(*minimum));
                    match prove_denial(&keys, name, DS, reading.end, &reading.proof, budget)? {
                        // No cut here: the name is in the zone above.
                        Ok(Proven::Denied(Denial::NoData) | Proven::NxDomain) => {
                            (Trust::Secure(keys), ttl)
                        }
                        Ok(Proven::Denied(Denial::InsecureDelegation) | Proven::Insecure) => {
                            (Trust::Insecure, ttl)
                        }
                        Err(failure) => (Trust::Bogus(failure), BOGUS_TTL),
                    }
                }
                // An alias: no zone cut can be here.
                End::Data | End::Dangling => (Trust::Secure(keys), BOGUS_TTL),
            });
        };
        let Some(ds) = rdatas_of(ds_rrset) else {
            return Ok((Trust::Bogus(Failure::Malformed), BOGUS_TTL));
        };
        let ds = borrowed(&ds);
        let rrsigs = borrowed(reading.rrsigs.first().map_or(&[][..], Vec::as_slice));
        let ds_ttl = match prove_with(&keys, name, ds_rrset, &rrsigs, budget)? {
            Ok(ttl) => ttl,
            Err(failure) => return Ok((Trust::Bogus(failure), BOGUS_TTL)),
        };
        let reading = resolver
            .read(name, DNSKEY, deadline, budget, path)
            .await
            .ok_or(Unjudged::Unanswered)?;
        let (trust, ttl) = prove_dnskeys(name, &reading, &ds, &[], budget)?;
        Ok((trust, ttl.min(ds_ttl)))
    }
}

/// An RRset's RDATA in wire form, or `None` if one cannot be encoded.
fn rdatas_of(rrset: &Rrset) -> Option<Vec<Box<[u8]>>> {
    rrset.rdatas.iter().map(rdata_wire).collect()
}

/// Borrowed views of owned RDATA.
fn borrowed(all: &[Box<[u8]>]) -> Vec<&[u8]> {
    all.iter().map(|b| &b[..]).collect()
}

/// Proves `rrset` at `owner` with `keys` and the RRSIG RDATA `rrsigs`:
/// how long it may be kept, or why it is bogus.
fn prove_with(
    keys: &ZoneKeys,
    owner: &[u8],
    rrset: &Rrset,
    rrsigs: &[&[u8]],
    budget: &mut Budget,
) -> Result<Result<u32, Failure>, Unjudged> {
    let Some(rdatas) = rdatas_of(rrset) else {
        return Ok(Err(Failure::Malformed));
    };
    let proven = prove_rrset(
        keys,
        owner,
        u16::from(rrset.rtype),
        &borrowed(&rdatas),
        rrsigs,
        unix_now(),
        &mut budget.dnssec,
        &mut Vec::new(),
    )?;
    Ok(proven.map(|secure| secure.ttl.min(rrset.ttl)))
}

/// The DNSKEY set a reading holds for `zone`, proven by `ds` or
/// `anchor_keys`, and how long that may be kept.
fn prove_dnskeys(
    zone: &[u8],
    reading: &Reading,
    ds: &[&[u8]],
    anchor_keys: &[&[u8]],
    budget: &mut Budget,
) -> Result<(Trust, u32), Unjudged> {
    let rrset = match (&reading.end, reading.rrsets.as_slice()) {
        (End::Data, [keys]) if keys.rtype == RecordType::DNSKEY => keys,
        _ => return Ok((Trust::Bogus(Failure::DnskeyMissing), BOGUS_TTL)),
    };
    let Some(dnskeys) = rdatas_of(rrset) else {
        return Ok((Trust::Bogus(Failure::Malformed), BOGUS_TTL));
    };
    let dnskeys = borrowed(&dnskeys);
    let rrsigs = borrowed(reading.rrsigs.first().map_or(&[][..], Vec::as_slice));
    Ok(
        match prove_keys(
            zone,
            &dnskeys,
            &rrsigs,
            ds,
            anchor_keys,
            unix_now(),
            &mut budget.dnssec,
            &mut Vec::new(),
        )? {
            KeyVerdict::Secure(keys, secure) => {
                (Trust::Secure(Arc::new(keys)), secure.ttl.min(rrset.ttl))
            }
            KeyVerdict::Insecure => (Trust::Insecure, rrset.ttl),
            KeyVerdict::Bogus(failure) => (Trust::Bogus(failure), BOGUS_TTL),
        },
    )
}

/// Checks the proof that `name` has no `qtype` RRset (`NoData`) or does
/// not exist (`NxDomain`), with the NSEC or NSEC3 records of `proof`
/// whose signatures `keys` verify.
fn prove_denial(
    keys: &ZoneKeys,
    name: &[u8],
    qtype: u16,
    end: End,
    proof: &[ProofRecord],
    budget: &mut Budget,
) -> Result<Result<Proven, Failure>, Unjudged> {
    prove_denial_with(keys, name, qtype, end, proof, budget).map(|(proven, _)| proven)
}

/// As `prove_denial`, with the NSEC records (owner, RDATA) whose
/// signatures were verified, for aggressive use (RFC 8198).
fn prove_denial_with<'p>(
    keys: &ZoneKeys,
    name: &[u8],
    qtype: u16,
    end: End,
    proof: &'p [ProofRecord],
    budget: &mut Budget,
) -> Result<(Result<Proven, Failure>, Vec<Link<'p>>), Unjudged> {
    let (links, nsec3s) = proven_links(keys, proof, budget)?;
    let nsecs: Vec<Nsec<'_>> = links
        .iter()
        .filter_map(|(o, r)| Nsec::parse(o, r))
        .collect();
    if !nsecs.is_empty() {
        let proven = match end {
            End::NxDomain => denial::prove_nxdomain(name, &nsecs).map(|()| Proven::NxDomain),
            _ => denial::prove_nodata(name, qtype, &nsecs).map(Proven::Denied),
        };
        return Ok((proven, links));
    }
    let nsec3s: Vec<Nsec3<'_>> = nsec3s
        .iter()
        .filter_map(|(o, r)| Nsec3::parse(o, r))
        .collect();
    let proven = match end {
        End::NxDomain => nsec3::prove_nxdomain(name, &nsec3s, &mut budget.dnssec)?,
        _ => nsec3::prove_nodata(name, qtype, &nsec3s, &mut budget.dnssec)?,
    };
    let proven = proven.map(|p| match p {
        Nsec3Proof::NxDomain => Proven::NxDomain,
        Nsec3Proof::Denied(denial) => Proven::Denied(denial),
        Nsec3Proof::Insecure => Proven::Insecure,
    });
    Ok((proven, Vec::new()))
}

/// The NSEC `links` whose signatures `keys` verified, with those RRSIGs
/// from `proof`, for RFC 8198.
fn proven_nsecs(
    keys: &ZoneKeys,
    links: Vec<Link<'_>>,
    proof: &[ProofRecord],
) -> Option<ProvenNsecs> {
    let mut records = Vec::new();
    for (owner, rdata) in links {
        records.push(ProofRecord {
            owner: owner.into(),
            rtype: crate::wire::rtype::NSEC,
            rdata: rdata.into(),
        });
        let rrsigs = rrsigs_in(proof, owner, crate::wire::rtype::NSEC);
        records.extend(rrsigs.into_iter().map(|rrsig| ProofRecord {
            owner: owner.into(),
            rtype: RRSIG,
            rdata: rrsig.into(),
        }));
    }
    (!records.is_empty()).then(|| ProvenNsecs {
        zone: keys.zone.clone().into(),
        records,
    })
}

/// A proof record's owner and RDATA.
type Link<'a> = (&'a [u8], &'a [u8]);

/// The NSEC and NSEC3 records of `proof` whose signatures `keys` verify.
#[allow(clippy::type_complexity)]
fn proven_links<'p>(
    keys: &ZoneKeys,
    proof: &'p [ProofRecord],
    budget: &mut Budget,
) -> Result<(Vec<Link<'p>>, Vec<Link<'p>>), Unjudged> {
    let mut nsecs = Vec::new();
    let mut nsec3s = Vec::new();
    let mut scratch = Vec::new();
    for record in proof {
        let is_nsec3 = match record.rtype {
            crate::wire::rtype::NSEC => false,
            NSEC3 => true,
            _ => continue,
        };
        let rrsigs = rrsigs_in(proof, &record.owner, record.rtype);
        let verified = prove_rrset(
            keys,
            &record.owner,
            record.rtype,
            &[&record.rdata],
            &rrsigs,
            unix_now(),
            &mut budget.dnssec,
            &mut scratch,
        )?;
        if verified.is_ok() {
            let link = (&record.owner[..], &record.rdata[..]);
            if is_nsec3 {
                nsec3s.push(link);
            } else {
                nsecs.push(link);
            }
        }
    }
    Ok((nsecs, nsec3s))
}

/// The RRSIGs among `proof` at `owner` covering `rtype`.
fn rrsigs_in<'p>(proof: &'p [ProofRecord], owner: &[u8], rtype: u16) -> Vec<&'p [u8]> {
    ProofRecord::rrsigs_over(proof, owner, rtype).collect()
}

/// The name one label up (the root's parent is the root).
fn parent(name: &[u8]) -> &[u8] {
    match name.first() {
        Some(&len) if len > 0 => name.get(1 + usize::from(len)..).unwrap_or(b"\0"),
        _ => b"\0",
    }
}

/// The last `labels` labels of `name` (wire form).
fn suffix_with_labels(name: &[u8], labels: u8) -> &[u8] {
    let mut suffix = name;
    while signature_labels(suffix).is_some_and(|have| have > labels) {
        suffix = parent(suffix);
    }
    suffix
}

/// Seconds since the epoch, as RRSIG validity is written (modulo 2^32).
fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cut_by_label() {
        assert_eq!(parent(b"\x03www\x04test\x00"), b"\x04test\x00");
        assert_eq!(parent(b"\x04test\x00"), b"\x00");
        assert_eq!(parent(b"\x00"), b"\x00");
        // A name cut short has the root as its parent, not a panic.
        assert_eq!(parent(b"\x09www"), b"\x00");
        let expanded = b"\x01a\x01b\x04wild\x04test\x00";
        assert_eq!(suffix_with_labels(expanded, 2), b"\x04wild\x04test\x00");
        assert_eq!(suffix_with_labels(expanded, 0), b"\x00");
        assert_eq!(suffix_with_labels(expanded, 9), &expanded[..]);
    }
}

//! Aggressive use of validated NSEC records (RFC 8198): the ranges a
//! zone's NSEC chain proved empty, kept in canonical order, so a question
//! for a name in one is answered NXDOMAIN (or NODATA) here, without asking
//! the zone's servers. Random-subdomain floods then cost the authorities
//! one query per range per TTL, not one per name.
//!
//! Only NSEC records whose signatures validation checked, from a secure
//! denial, are kept, each until its TTL (or its denial's) runs out, and
//! every answer made from them goes through the same proof checks as an
//! answer from a server (`dnssec::denial`). NSEC3 is not used: Unbound
//! does not either, and its hashed ranges rarely cover a random name.
//!
//! Bounded: at most `MAX_LINKS` links and `MAX_ZONES` zones; past that,
//! the links that expire soonest go first.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use foldhash::fast::RandomState;

use super::entry::{EntryKind, ProofRecord, Rrset};
use crate::dnssec::denial::{self, Nsec};
use crate::wire::name::is_at_or_below;
use crate::wire::rtype;

/// Links kept, over every zone.
const MAX_LINKS: usize = 50_000;
/// Zones whose SOA is kept for answers made from their links.
const MAX_ZONES: usize = 10_000;

/// One validated NSEC record and the RRSIGs over it.
#[derive(Clone, Debug)]
struct Link {
    owner: Box<[u8]>,
    rdata: Box<[u8]>,
    rrsigs: Vec<Box<[u8]>>,
    /// The zone that signed it, lowercase wire form.
    zone: Box<[u8]>,
    expires_ms: u64,
}

/// A zone's SOA, for the authority section of an answer made here.
#[derive(Clone, Debug)]
struct ZoneSoa {
    soa: Rrset,
    minimum: u32,
    rrsigs: Vec<Box<[u8]>>,
    expires_ms: u64,
}

/// A denial made from kept links: what `Cache::store_negative` takes.
#[derive(Debug)]
pub struct Synthesised {
    pub kind: EntryKind,
    /// The SOA, its TTL no longer than the links used allow.
    pub soa: Rrset,
    pub minimum: u32,
    /// The SOA's RRSIGs, then the NSEC records used and their RRSIGs.
    pub proof: Vec<ProofRecord>,
}

/// A validated wildcard RRset, for answers synthesised from it.
#[derive(Clone, Debug)]
struct Wildcard {
    rrset: Rrset,
    rrsigs: Vec<Box<[u8]>>,
    zone: Box<[u8]>,
    expires_ms: u64,
}

/// An answer synthesised from a cached wildcard (RFC 8198 section 5.3):
/// the RRset at the name asked, the wildcard's RRSIGs, and the NSEC
/// record (with its RRSIGs) proving the name itself does not exist.
#[derive(Debug)]
pub struct Expanded {
    pub rrset: Rrset,
    pub rrsigs: Vec<Box<[u8]>>,
    pub proof: Vec<ProofRecord>,
}

#[derive(Default)]
struct Ranges {
    /// By the canonical order of their owners (`canonical_key`).
    links: BTreeMap<Vec<u8>, Link>,
    zones: HashMap<Box<[u8]>, ZoneSoa, RandomState>,
    /// By wildcard owner (lowercase wire form) and type.
    wildcards: HashMap<(Box<[u8]>, u16), Wildcard, RandomState>,
}

/// Wildcard RRsets kept.
const MAX_WILDCARDS: usize = 10_000;

/// The NSEC ranges validation proved, for RFC 8198.
#[derive(Default)]
pub struct NsecRanges {
    inner: Mutex<Ranges>,
}

/// A name as a key whose byte order is the canonical order of names
/// (RFC 4034 section 6.1): labels from the root, lowercase, each ended
/// by 0 0, a 0 inside a label written 0 1.
fn canonical_key(name: &[u8]) -> Option<Vec<u8>> {
    let labels = crate::wire::name::labels_of(name)?;
    let mut key = Vec::with_capacity(name.len() + labels.len() * 2);
    for label in labels.iter().rev() {
        for &b in label.iter() {
            match b {
                0 => key.extend([0, 1]),
                b => key.push(b.to_ascii_lowercase()),
            }
        }
        key.extend([0, 0]);
    }
    Some(key)
}

impl NsecRanges {
    /// Keeps the NSEC records (with their RRSIGs) of a secure denial or
    /// wildcard answer from `zone`, and for a denial the zone's SOA with
    /// the RRSIGs over it among `soa_proof`, until `expires_ms`.
    pub fn insert(
        &self,
        zone: &[u8],
        soa: Option<(&Rrset, u32, &[ProofRecord])>,
        proof: &[ProofRecord],
        expires_ms: u64,
    ) {
        let Ok(mut ranges) = self.inner.lock() else {
            return;
        };
        let zone: Box<[u8]> = zone.to_ascii_lowercase().into();
        let rrsigs_of = |proof: &[ProofRecord], owner: &[u8], covered: u16| -> Vec<Box<[u8]>> {
            ProofRecord::rrsigs_over(proof, owner, covered)
                .map(Box::from)
                .collect()
        };
        if let Some((soa, minimum, soa_proof)) = soa {
            let soa_owner = crate::wire::NameKey::from_name(&soa.name);
            if ranges.zones.len() >= MAX_ZONES && !ranges.zones.contains_key(&zone) {
                let now = expires_ms.saturating_sub(u64::from(soa.ttl) * 1000);
                ranges.zones.retain(|_, z| z.expires_ms > now);
                if ranges.zones.len() >= MAX_ZONES {
                    return;
                }
            }
            ranges.zones.insert(
                zone.clone(),
                ZoneSoa {
                    soa: soa.clone(),
                    minimum,
                    rrsigs: rrsigs_of(soa_proof, soa_owner.as_bytes(), rtype::SOA),
                    expires_ms,
                },
            );
        }
        for record in proof.iter().filter(|r| r.rtype == rtype::NSEC) {
            if !is_at_or_below(&record.owner, &zone) {
                continue;
            }
            let Some(key) = canonical_key(&record.owner) else {
                continue;
            };
            let link = Link {
                owner: record.owner.clone(),
                rdata: record.rdata.clone(),
                rrsigs: rrsigs_of(proof, &record.owner, rtype::NSEC),
                zone: zone.clone(),
                expires_ms,
            };
            ranges.links.insert(key, link);
        }
        while ranges.links.len() > MAX_LINKS {
            // The link that expires soonest goes; a scan, but only when
            // full, and bounded by the size.
            let Some(soonest) = ranges
                .links
                .iter()
                .min_by_key(|(_, l)| l.expires_ms)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            ranges.links.remove(&soonest);
        }
    }

    /// Keeps a validated wildcard RRset of `zone`, owner `wildcard`
    /// (lowercase wire form, `*` first), with the RRSIGs over it, for
    /// answers synthesised from it, until `expires_ms`.
    pub fn insert_wildcard(
        &self,
        zone: &[u8],
        wildcard: &[u8],
        rrset: &Rrset,
        rrsigs: &[Box<[u8]>],
        expires_ms: u64,
    ) {
        let Ok(mut ranges) = self.inner.lock() else {
            return;
        };
        if !wildcard.starts_with(b"\x01*") || !is_at_or_below(wildcard, zone) {
            return;
        }
        let key = (Box::from(wildcard), u16::from(rrset.rtype));
        if ranges.wildcards.len() >= MAX_WILDCARDS && !ranges.wildcards.contains_key(&key) {
            return;
        }
        ranges.wildcards.insert(
            key,
            Wildcard {
                rrset: rrset.clone(),
                rrsigs: rrsigs.to_vec(),
                zone: zone.to_ascii_lowercase().into(),
                expires_ms,
            },
        );
    }

    /// The answer for (`qname`, `qtype`) a cached wildcard gives, if the
    /// kept links prove `qname` does not exist and the wildcard that
    /// stands for it is cached with that type (RFC 8198 section 5.3).
    pub fn expand(&self, qname: &[u8], qtype: u16, now_ms: u64) -> Option<Expanded> {
        let ranges = self.inner.lock().ok()?;
        let key = canonical_key(qname)?;
        let (_, at) = ranges.links.range(..=key).next_back()?;
        if at.expires_ms <= now_ms || !is_at_or_below(qname, &at.zone) {
            return None;
        }
        let cover = Nsec::parse(&at.owner, &at.rdata)?;
        let wildcard = denial::wildcard_for(qname, &cover);
        let encloser = wildcard.get(2..)?;
        denial::prove_wildcard_answer(qname, encloser, &[cover]).ok()?;
        let found = ranges.wildcards.get(&(Box::from(&wildcard[..]), qtype))?;
        if found.expires_ms <= now_ms || found.zone != at.zone {
            return None;
        }
        let left = |expires_ms: u64| ((expires_ms - now_ms) / 1000) as u32;
        let mut rrset = found.rrset.clone();
        rrset.name = crate::wire::name::wire_to_name(qname)?;
        rrset.ttl = rrset
            .ttl
            .min(left(found.expires_ms))
            .min(left(at.expires_ms));
        let mut proof = vec![ProofRecord {
            owner: at.owner.clone(),
            rtype: rtype::NSEC,
            rdata: at.rdata.clone(),
        }];
        proof.extend(at.rrsigs.iter().map(|rdata| ProofRecord {
            owner: at.owner.clone(),
            rtype: rtype::RRSIG,
            rdata: rdata.clone(),
        }));
        Some(Expanded {
            rrset,
            rrsigs: found.rrsigs.clone(),
            proof,
        })
    }

    /// Forgets every range (`ctl flush`).
    pub fn clear(&self) {
        if let Ok(mut ranges) = self.inner.lock() {
            *ranges = Ranges::default();
        }
    }

    /// Links kept.
    pub fn len(&self) -> usize {
        self.inner.lock().map_or(0, |r| r.links.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The denial kept links prove for (`qname`, `qtype`), if they prove
    /// one: NODATA from the NSEC at the name, NXDOMAIN from the NSEC
    /// covering it and the one covering the wildcard that would stand
    /// for it (RFC 8198 sections 5.1 and 5.2).
    pub fn deny(&self, qname: &[u8], qtype: u16, now_ms: u64) -> Option<Synthesised> {
        let ranges = self.inner.lock().ok()?;
        let key = canonical_key(qname)?;
        // The link at or before the name.
        let (_, at) = ranges.links.range(..=key.clone()).next_back()?;
        if at.expires_ms <= now_ms || !is_at_or_below(qname, &at.zone) {
            return None;
        }
        let zone = ranges.zones.get(&at.zone)?;
        if zone.expires_ms <= now_ms {
            return None;
        }
        let first = Nsec::parse(&at.owner, &at.rdata)?;
        let mut used = vec![at];
        let kind = if at.owner.eq_ignore_ascii_case(qname) {
            denial::prove_nodata(qname, qtype, &[first]).ok()?;
            EntryKind::NoData
        } else {
            let wildcard = denial::wildcard_for(qname, &first);
            let (_, wild) = ranges
                .links
                .range(..=canonical_key(&wildcard)?)
                .next_back()?;
            if wild.expires_ms <= now_ms || wild.zone != at.zone {
                return None;
            }
            let second = Nsec::parse(&wild.owner, &wild.rdata)?;
            denial::prove_nxdomain(qname, &[first, second]).ok()?;
            if !std::ptr::eq(wild, at) {
                used.push(wild);
            }
            EntryKind::NxDomain
        };
        let left = |expires_ms: u64| ((expires_ms - now_ms) / 1000) as u32;
        let ttl = used
            .iter()
            .map(|l| left(l.expires_ms))
            .chain([left(zone.expires_ms)])
            .min()
            .unwrap_or(0);
        let mut soa = zone.soa.clone();
        soa.ttl = soa.ttl.min(ttl);
        let soa_owner = crate::wire::NameKey::from_name(&zone.soa.name);
        let mut proof: Vec<ProofRecord> = zone
            .rrsigs
            .iter()
            .map(|rdata| ProofRecord {
                owner: soa_owner.as_bytes().into(),
                rtype: rtype::RRSIG,
                rdata: rdata.clone(),
            })
            .collect();
        for link in used {
            proof.push(ProofRecord {
                owner: link.owner.clone(),
                rtype: rtype::NSEC,
                rdata: link.rdata.clone(),
            });
            proof.extend(link.rrsigs.iter().map(|rdata| ProofRecord {
                owner: link.owner.clone(),
                rtype: rtype::RRSIG,
                rdata: rdata.clone(),
            }));
        }
        Some(Synthesised {
            kind,
            soa,
            minimum: zone.minimum,
            proof,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::SOA;
    use hickory_proto::rr::{Name, RData, RecordType};

    fn nsec(owner: &[u8], next: &[u8], bitmap: &[u8]) -> ProofRecord {
        ProofRecord {
            owner: owner.into(),
            rtype: rtype::NSEC,
            rdata: [next, bitmap].concat().into(),
        }
    }

    /// example.: apex (NS SOA), a (A), d (NS: a delegation), m (A), and
    /// the chain's last link back to the apex.
    fn ranges() -> NsecRanges {
        let soa = Rrset {
            name: Name::from_ascii("example.").unwrap(),
            rtype: RecordType::SOA,
            ttl: 3600,
            rdatas: vec![RData::SOA(SOA::new(
                Name::from_ascii("ns.example.").unwrap(),
                Name::from_ascii("h.example.").unwrap(),
                1,
                2,
                3,
                4,
                300,
            ))],
        };
        // Bitmaps, window 0: A = 0x40; NS SOA = 0x22; NS = 0x20.
        let links = [
            nsec(b"\x07example\x00", b"\x01a\x07example\x00", b"\x00\x01\x22"),
            nsec(
                b"\x01a\x07example\x00",
                b"\x01d\x07example\x00",
                b"\x00\x01\x40",
            ),
            nsec(
                b"\x01d\x07example\x00",
                b"\x01m\x07example\x00",
                b"\x00\x01\x20",
            ),
            nsec(b"\x01m\x07example\x00", b"\x07example\x00", b"\x00\x01\x40"),
        ];
        let ranges = NsecRanges::default();
        ranges.insert(b"\x07example\x00", Some((&soa, 300, &[])), &links, 300_000);
        ranges
    }

    #[test]
    fn denials_are_made_only_where_the_links_prove_them() {
        let ranges = ranges();
        let kind =
            |name: &[u8], qtype: u16, now: u64| ranges.deny(name, qtype, now).map(|d| d.kind);
        // b lies between a and d; the wildcard *.example between the apex
        // and a.
        assert_eq!(
            kind(b"\x01b\x07example\x00", 1, 0),
            Some(EntryKind::NxDomain)
        );
        assert_eq!(
            kind(b"\x01z\x07example\x00", 1, 0),
            Some(EntryKind::NxDomain)
        );
        assert_eq!(
            kind(b"\x01a\x07example\x00", 28, 0),
            Some(EntryKind::NoData)
        );
        assert_eq!(kind(b"\x01a\x07example\x00", 1, 0), None, "a has A");
        // Below the delegation d the parent's NSEC proves nothing.
        assert_eq!(kind(b"\x01x\x01d\x07example\x00", 1, 0), None);
        assert_eq!(
            kind(b"\x01d\x07example\x00", 1, 0),
            None,
            "the child's data"
        );
        assert_eq!(
            kind(b"\x01d\x07example\x00", 43, 0),
            Some(EntryKind::NoData),
            "no DS"
        );
        // Outside the zone, or once expired: nothing.
        assert_eq!(kind(b"\x01b\x07example\x03org\x00", 1, 0), None);
        assert_eq!(kind(b"\x01b\x07example\x00", 1, 300_000), None);
        let denial = ranges.deny(b"\x01b\x07example\x00", 1, 100_000).unwrap();
        assert_eq!(denial.soa.ttl, 200, "no longer than the links have left");
        let nsecs = denial
            .proof
            .iter()
            .filter(|r| r.rtype == rtype::NSEC)
            .count();
        assert_eq!(nsecs, 2, "the covering link and the wildcard's");
        ranges.clear();
        assert!(ranges.is_empty());
    }

    #[test]
    fn names_below_a_cached_wildcard_are_answered_from_it() {
        use hickory_proto::rr::rdata::A;
        let ranges = ranges();
        // A wildcard *.m.example (inside the range m .. apex) with an A.
        let wildcard = Rrset {
            name: Name::from_ascii("*.m.example.").unwrap(),
            rtype: RecordType::A,
            ttl: 3600,
            rdatas: vec![RData::A(A::new(192, 0, 2, 7))],
        };
        let rrsig: Box<[u8]> = [0u8, 1, 13, 2].into();
        let star = b"\x01*\x01m\x07example\x00";
        ranges.insert_wildcard(b"\x07example\x00", star, &wildcard, &[rrsig], 300_000);
        let expanded = ranges.expand(b"\x01q\x01m\x07example\x00", 1, 0).unwrap();
        assert_eq!(
            expanded.rrset.name,
            Name::from_ascii("q.m.example.").unwrap()
        );
        assert_eq!(expanded.rrset.rdatas, wildcard.rdatas);
        assert_eq!(
            expanded.rrset.ttl, 300,
            "no longer than the links have left"
        );
        assert_eq!(expanded.proof[0].owner[..], b"\x01m\x07example\x00"[..]);
        // Not for another type, not once expired, not where the range
        // does not prove the name absent (m itself exists).
        assert!(ranges.expand(b"\x01q\x01m\x07example\x00", 28, 0).is_none());
        assert!(
            ranges
                .expand(b"\x01q\x01m\x07example\x00", 1, 300_000)
                .is_none()
        );
        assert!(ranges.expand(b"\x01m\x07example\x00", 1, 0).is_none());
        // A wildcard outside the zone it came with is not kept.
        ranges.insert_wildcard(
            b"\x07example\x00",
            b"\x01*\x03org\x00",
            &wildcard,
            &[],
            300_000,
        );
        assert!(ranges.expand(b"\x01q\x03org\x00", 1, 0).is_none());
    }

    #[test]
    fn keys_sort_as_canonical_order() {
        // RFC 4034 section 6.1's example, in order.
        let names: [&[u8]; 9] = [
            b"\x07example\x00",
            b"\x01a\x07example\x00",
            b"\x08yljkjljk\x01a\x07example\x00",
            b"\x01Z\x01a\x07example\x00",
            b"\x04zABC\x01a\x07EXAMPLE\x00",
            b"\x01z\x07example\x00",
            b"\x01\x01\x01z\x07example\x00",
            b"\x01*\x01z\x07example\x00",
            b"\x01\xc8\x01z\x07example\x00",
        ];
        let keys: Vec<Vec<u8>> = names.iter().map(|n| canonical_key(n).unwrap()).collect();
        for pair in keys.windows(2) {
            assert!(pair[0] < pair[1], "{pair:?}");
        }
        assert_eq!(canonical_key(b"\x03abc"), None, "cut short");
        // A 0 inside a label sorts after the label's end.
        assert!(canonical_key(b"\x01a\x00").unwrap() < canonical_key(b"\x02a\x00\x00").unwrap());
    }
}

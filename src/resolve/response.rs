//! Reading an upstream response: the answer chain for the question and
//! nothing else.
//!
//! From the question name, follow CNAMEs through the answer section and
//! take the RRset of the asked type at the end. A DNAME above a name on
//! the way redirects it (RFC 6672): the DNAME joins the chain, and the
//! CNAME it implies is made from it, whatever CNAME the server wrote (a
//! CNAME that does not match its DNAME is not believed). Records that are
//! not on that chain are ignored, whatever section they are in; the only
//! other record used is the SOA in the authority section of a negative
//! answer, which gives its TTL (RFC 2308).

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use foldhash::fast::RandomState;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};

use super::judge::{dname_of, dname_target};
use crate::cache::{MAX_PIECES, Origin, ProofRecord, Provenance, Rrset};
use crate::dnssec::Security;
use crate::dnssec::records::expands_wildcard;
use crate::wire::name::{NameKey, is_at_or_below, wire_to_name};
use crate::wire::rtype;

/// How the chain ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// At RRsets of the asked type (several only for ANY).
    Data,
    /// The last name does not exist.
    NxDomain,
    /// The last name has no records of the asked type.
    NoData,
    /// At a CNAME whose target the response does not cover: ask again for
    /// the target.
    Dangling,
}

/// The usable part of a response.
#[derive(Debug)]
pub struct Reading {
    /// CNAMEs from the question name, in order (each CNAME made from a
    /// DNAME right after that DNAME), then the final RRsets.
    pub rrsets: Vec<Rrset>,
    pub end: End,
    /// The last name of the chain, lowercase wire form.
    pub last: Box<[u8]>,
    /// For a negative end: the SOA and its MINIMUM field.
    pub soa: Option<(Rrset, u32)>,
    /// For each of `rrsets`, the RDATA (wire form) of the RRSIGs that
    /// cover it; none for a CNAME made from a DNAME.
    pub rrsigs: Vec<Vec<Box<[u8]>>>,
    /// The authority section's NSEC and NSEC3 records and RRSIGs: the
    /// proof of a negative answer or of a wildcard expansion.
    pub proof: Vec<ProofRecord>,
    /// The AD bit of the response: what a sibling says of its answer.
    pub authentic: bool,
}

impl Reading {
    /// What goes into the cache with RRset `i` of the reading (`None`: its
    /// denial): its RRSIGs, and the proof if it is a wildcard answer or a
    /// denial.
    pub fn provenance(
        &self,
        i: Option<usize>,
        origin: Origin,
        security: Security,
    ) -> Provenance<'_> {
        let (rrsigs, proof) = match i {
            None => (&[][..], &self.proof[..]),
            Some(i) => {
                let rrsigs = self.rrsigs.get(i).map_or(&[][..], Vec::as_slice);
                let expanded = self.rrsets.get(i).is_some_and(|rrset| {
                    expands_wildcard(NameKey::from_name(&rrset.name).as_bytes(), rrsigs)
                });
                (rrsigs, if expanded { &self.proof[..] } else { &[][..] })
            }
        };
        Provenance {
            origin,
            security,
            rrsigs,
            proof,
        }
    }
}

/// Most proof records kept from one response: a proof needs a handful,
/// and a hostile server chooses how many it sends.
const MAX_PROOF_RECORDS: usize = 32;

/// RRSIGs kept for one RRset: enough for the key and algorithm rolls
/// of a real zone, whose good signature may come after many others; only
/// those that name a key of the zone are tried, and a few of them
/// (`dnssec::budget`).
const MAX_RRSIGS: usize = 32;

/// `data` in wire form, names uncompressed, as it was signed.
pub fn rdata_wire(data: &RData) -> Option<Box<[u8]>> {
    let mut wire = Vec::new();
    let mut encoder = BinEncoder::new(&mut wire);
    encoder.set_name_encoding(NameEncoding::Uncompressed);
    data.emit(&mut encoder).ok()?;
    Some(wire.into())
}

/// The RDATA of each RRSIG in `records` at `owner` that covers `rtype`.
fn rrsigs_over(records: &[Record], owner: &Name, rtype: RecordType) -> Vec<Box<[u8]>> {
    records
        .iter()
        .filter(|r| r.record_type() == RecordType::RRSIG && r.name == *owner)
        .filter_map(|r| rdata_wire(&r.data))
        .filter(|rdata| rdata.get(..2) == Some(&u16::from(rtype).to_be_bytes()[..]))
        .take(MAX_RRSIGS)
        .collect()
}

/// The authority section's NSEC and NSEC3 records, and the RRSIGs over
/// them and over the SOA; not those over the other RRsets there (an NS
/// set), which are not kept.
fn proof_of(message: &Message) -> Vec<ProofRecord> {
    let proves = |rtype: u16| matches!(rtype, rtype::NSEC | rtype::NSEC3 | rtype::SOA);
    message
        .authorities
        .iter()
        .filter(|r| {
            matches!(
                r.record_type(),
                RecordType::NSEC | RecordType::NSEC3 | RecordType::RRSIG
            )
        })
        .filter_map(|r| {
            let rdata = rdata_wire(&r.data)?;
            if r.record_type() == RecordType::RRSIG {
                let covered = u16::from_be_bytes([*rdata.first()?, *rdata.get(1)?]);
                if !proves(covered) {
                    return None;
                }
            }
            Some(ProofRecord {
                owner: NameKey::from_name(&r.name).as_bytes().into(),
                rtype: u16::from(r.record_type()),
                rdata,
            })
        })
        .take(MAX_PROOF_RECORDS)
        .collect()
}

/// Reads the answer to (`qname`, `qtype`) out of `message`, which has
/// passed the exchange's checks and has rcode NOERROR or NXDOMAIN.
pub fn read_answer(message: &Message, qname: &[u8], qtype: u16) -> Reading {
    let sets = group(&message.answers);
    let has_dname = sets.iter().any(|(_, r)| r.rtype == RecordType::DNAME);
    let mut rrsets = Vec::new();
    let mut last: Box<[u8]> = qname.into();
    let end = loop {
        let data: Vec<&Rrset> = sets
            .iter()
            .filter(|(k, r)| **k == *last && answers_type(r.rtype, qtype))
            .map(|(_, r)| r)
            .collect();
        if !data.is_empty() {
            rrsets.extend(data.into_iter().cloned());
            break End::Data;
        }
        if has_dname
            && qtype != rtype::CNAME
            && rrsets.len() + 2 < MAX_PIECES
            && let Some((dname, cname, target)) = through_dname(&sets, &last)
        {
            last = target.as_bytes().into();
            if !rrsets.contains(&dname) {
                rrsets.push(dname);
            }
            rrsets.push(cname);
            continue;
        }
        let cname = (qtype != rtype::CNAME)
            .then(|| {
                sets.iter()
                    .find(|(k, r)| **k == *last && r.rtype == RecordType::CNAME)
            })
            .flatten();
        match cname.and_then(|(_, r)| r.rdatas.first().map(|d| (r, d))) {
            Some((rrset, RData::CNAME(target))) if rrsets.len() + 1 < MAX_PIECES => {
                rrsets.push(rrset.clone());
                last = NameKey::from_name(&target.0).as_bytes().into();
            }
            _ => {
                let negative = message.metadata.response_code == ResponseCode::NXDomain;
                break match (negative, rrsets.is_empty(), soa(message).is_some()) {
                    (true, _, _) => End::NxDomain,
                    (false, false, false) => End::Dangling,
                    _ => End::NoData,
                };
            }
        }
    };
    let soa = match end {
        End::NxDomain | End::NoData => soa(message),
        _ => None,
    };
    // A CNAME right after the DNAME it was made from is ours, unsigned.
    let rrsigs = rrsets
        .iter()
        .enumerate()
        .map(|(i, rrset)| {
            let made = rrset.rtype == RecordType::CNAME
                && i > 0
                && rrsets[i - 1].rtype == RecordType::DNAME;
            match made {
                true => Vec::new(),
                false => rrsigs_over(&message.answers, &rrset.name, rrset.rtype),
            }
        })
        .collect();
    Reading {
        rrsets,
        end,
        last,
        soa,
        rrsigs,
        proof: proof_of(message),
        authentic: message.metadata.authentic_data,
    }
}

/// Whether an RRset of `rtype` answers a question of `qtype`: RRSIGs go
/// with the RRset they cover, even for ANY.
fn answers_type(rtype: RecordType, qtype: u16) -> bool {
    match qtype {
        rtype::ANY => rtype != RecordType::RRSIG,
        _ => u16::from(rtype) == qtype,
    }
}

/// The deepest DNAME in `sets` strictly above `name`, and the CNAME it
/// makes of `name`, with the DNAME's TTL (RFC 6672 section 3.3), and
/// that CNAME's target.
fn through_dname(sets: &[(Box<[u8]>, Rrset)], name: &[u8]) -> Option<(Rrset, Rrset, NameKey)> {
    let key = NameKey::from_wire(name)?;
    let (owner, dname) = sets
        .iter()
        .filter(|(_, r)| r.rtype == RecordType::DNAME)
        .filter(|(owner, _)| owner.len() < name.len() && is_at_or_below(name, owner))
        .max_by_key(|(owner, _)| owner.len())?;
    let target = dname_of(dname.rdatas.first()?)?;
    let owner = NameKey::from_wire(owner)?;
    let synthesised = dname_target(&key, &owner, &target)?;
    let cname = Rrset {
        name: wire_to_name(key.as_bytes())?,
        rtype: RecordType::CNAME,
        ttl: dname.ttl,
        rdatas: vec![RData::CNAME(CNAME(wire_to_name(synthesised.as_bytes())?))],
    };
    Some((dname.clone(), cname, synthesised))
}

/// The first SOA of the authority section, with its MINIMUM.
fn soa(message: &Message) -> Option<(Rrset, u32)> {
    message
        .authorities
        .iter()
        .find_map(|record| match &record.data {
            RData::SOA(soa) => Some((
                Rrset {
                    name: record.name.clone(),
                    rtype: RecordType::SOA,
                    ttl: record.ttl,
                    rdatas: vec![record.data.clone()],
                },
                soa.minimum,
            )),
            _ => None,
        })
}

/// Records of one RRset beyond which duplicates are no longer looked for:
/// the check is quadratic, and a hostile server chooses the count.
const DEDUP_LIMIT: usize = 64;

/// Groups records into RRsets by (owner, type), in order of first
/// appearance, each with the lowest TTL of its records (RFC 2181 5.2).
fn group(records: &[Record]) -> Vec<(Box<[u8]>, Rrset)> {
    let mut sets: Vec<(Box<[u8]>, Rrset)> = Vec::new();
    let mut index: HashMap<(Box<[u8]>, RecordType), usize, RandomState> = HashMap::default();
    for record in records {
        let key: Box<[u8]> = NameKey::from_name(&record.name).as_bytes().into();
        let rtype = record.record_type();
        match index.entry((key, rtype)) {
            Entry::Occupied(at) => {
                let rrset = &mut sets[*at.get()].1;
                rrset.ttl = rrset.ttl.min(record.ttl);
                if rrset.rdatas.len() > DEDUP_LIMIT || !rrset.rdatas.contains(&record.data) {
                    rrset.rdatas.push(record.data.clone());
                }
            }
            Entry::Vacant(slot) => {
                let key = slot.key().0.clone();
                slot.insert(sets.len());
                sets.push((
                    key,
                    Rrset {
                        name: record.name.clone(),
                        rtype,
                        ttl: record.ttl,
                        rdatas: vec![record.data.clone()],
                    },
                ));
            }
        }
    }
    sets
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::Name;
    use hickory_proto::rr::rdata::{A, CNAME, SOA};

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn key(s: &str) -> Box<[u8]> {
        NameKey::from_name(&name(s)).as_bytes().into()
    }

    fn record(owner: &str, ttl: u32, data: RData) -> Record {
        Record::from_rdata(name(owner), ttl, data)
    }

    fn soa_record() -> Record {
        record(
            "example.",
            600,
            RData::SOA(SOA::new(
                name("ns.example."),
                name("h.example."),
                1,
                2,
                3,
                4,
                60,
            )),
        )
    }

    #[test]
    fn follows_the_chain_and_ignores_everything_else() {
        let mut msg = Message::response(1, hickory_proto::op::OpCode::Query);
        msg.answers = vec![
            record(
                "www.example.",
                300,
                RData::CNAME(CNAME(name("web.example."))),
            ),
            record("unrelated.example.", 300, RData::A(A::new(192, 0, 2, 66))),
            record("WEB.example.", 100, RData::A(A::new(192, 0, 2, 1))),
            record("web.example.", 50, RData::A(A::new(192, 0, 2, 2))),
        ];
        msg.additionals = vec![record("ns.example.", 300, RData::A(A::new(192, 0, 2, 99)))];
        let reading = read_answer(&msg, &key("www.example."), rtype::A);
        assert_eq!(reading.end, End::Data);
        assert_eq!(reading.rrsets.len(), 2);
        assert_eq!(reading.rrsets[1].rdatas.len(), 2);
        assert_eq!(reading.rrsets[1].ttl, 50, "lowest TTL of the RRset");
        assert_eq!(&*reading.last, &*key("web.example."));
    }

    #[test]
    fn a_dname_makes_the_cname_whatever_the_server_wrote() {
        let dname = RData::Unknown {
            code: RecordType::DNAME,
            rdata: hickory_proto::rr::rdata::NULL::with(key("new.example.").to_vec()),
        };
        let mut msg = Message::response(1, hickory_proto::op::OpCode::Query);
        msg.answers = vec![
            record("old.example.", 600, dname),
            // A forged CNAME beside it points elsewhere.
            record(
                "www.old.example.",
                600,
                RData::CNAME(CNAME(name("evil.example."))),
            ),
            record("www.new.example.", 300, RData::A(A::new(192, 0, 2, 1))),
            record("evil.example.", 300, RData::A(A::new(203, 0, 113, 1))),
        ];
        let reading = read_answer(&msg, &key("www.old.example."), rtype::A);
        assert_eq!(reading.end, End::Data);
        let types: Vec<RecordType> = reading.rrsets.iter().map(|r| r.rtype).collect();
        assert_eq!(types, [RecordType::DNAME, RecordType::CNAME, RecordType::A]);
        assert_eq!(reading.rrsets[1].name, name("www.old.example."));
        assert_eq!(reading.rrsets[1].ttl, 600, "the DNAME's TTL");
        assert_eq!(
            reading.rrsets[1].rdatas,
            [RData::CNAME(CNAME(name("www.new.example.")))]
        );
        assert_eq!(reading.rrsets[2].rdatas, [RData::A(A::new(192, 0, 2, 1))]);
        // Without the target's records the chain dangles at the new name.
        msg.answers.truncate(2);
        let reading = read_answer(&msg, &key("www.old.example."), rtype::A);
        assert_eq!(reading.end, End::Dangling);
        assert_eq!(&*reading.last, &*key("www.new.example."));
    }

    #[test]
    fn negative_answers_and_dangling_chains() {
        let mut nx = Message::response(1, hickory_proto::op::OpCode::Query);
        nx.metadata.response_code = ResponseCode::NXDomain;
        nx.answers = vec![record(
            "a.example.",
            300,
            RData::CNAME(CNAME(name("b.example."))),
        )];
        nx.authorities = vec![soa_record()];
        let reading = read_answer(&nx, &key("a.example."), rtype::A);
        assert_eq!(reading.end, End::NxDomain);
        assert_eq!(&*reading.last, &*key("b.example."));
        assert_eq!(reading.soa.as_ref().map(|(_, min)| *min), Some(60));

        let mut nodata = Message::response(1, hickory_proto::op::OpCode::Query);
        nodata.authorities = vec![soa_record()];
        assert_eq!(
            read_answer(&nodata, &key("a.example."), rtype::A).end,
            End::NoData
        );

        let mut dangling = Message::response(1, hickory_proto::op::OpCode::Query);
        dangling.answers = nx.answers.clone();
        assert_eq!(
            read_answer(&dangling, &key("a.example."), rtype::A).end,
            End::Dangling
        );
    }
}

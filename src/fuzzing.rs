//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz): one per
//! parser a stranger can feed, each taking the raw input and checking the
//! properties that must hold for any input: no panic, bounded work, and
//! for messages we write, that they decode and re-encode to themselves.
//! Built with the `fuzzing` feature (and in tests, which replay crashes
//! the fuzzers found).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};
use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RData, RecordType};

use crate::access::RecursionAcl;
use crate::cache::{Cache, CacheSettings, Origin, Rrset};
use crate::counters::{Counters, Transport};
use crate::dnssec::denial::{self, Nsec};
use crate::dnssec::nsec3::{self, Nsec3};
use crate::dnssec::{Budget, KeyVerdict, prove_keys, prove_rrset};
use crate::resolve::response::rdata_wire;
use crate::resolve::{Exchange, Resolver, ResolverSettings, judge, read_answer};
use crate::responder::{Action, Recursion, Responder};
use crate::siblings::ClusterKey;
use crate::wire::NameKey;
use crate::zone::{Zone, ZoneSet};

/// The zones the fuzzed responder serves: a plain one, and two signed by
/// BIND (NSEC and NSEC3, signatures valid until 2060) from Knot's tests.
const ZONES: [(&str, &str); 3] = [
    ("example.test.", include_str!("../zones/example.test.zone")),
    ("ok.nsec.", include_str!("../fuzz/zones/ok.nsec.zone")),
    ("ok.nsec3.", include_str!("../fuzz/zones/ok.nsec3.zone")),
];
const CACHED: &str = include_str!("../fuzz/zones/cached.test.zone");

/// A time inside the signed zones' validity.
const NOW: u32 = 1_800_000_000;

struct Fixture {
    responder: Responder,
}

/// The responder every input meets: zones loaded, the cache warm, and a
/// resolver that is never run (a miss stops at `Action::Resolve`).
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut zones = Vec::new();
        for (origin, text) in ZONES {
            let origin = Name::from_ascii(origin).expect("a name");
            let (zone, _) = Zone::from_text(&origin, text.as_bytes(), Path::new("fixture"))
                .expect("fixture zone loads");
            zones.push(Arc::new(zone));
        }
        let counters = Arc::new(Counters::default());
        let cache = Arc::new(Cache::new(CacheSettings {
            max_size: 16 << 20,
            min_ttl: 0,
            max_ttl: 86400,
            max_negative_ttl: 3600,
            serve_stale: Duration::from_secs(3600),
            prefetch: false,
        }));
        warm(&cache);
        let resolver = Arc::new(Resolver::forwarding(
            ResolverSettings {
                timeout: Duration::from_secs(1),
                max_flights: 16,
            },
            &[SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9)],
            None,
            Exchange {
                edns_size: 1232,
                randomise_case: false,
                dnssec_ok: true,
                checking_disabled: false,
                cookies: true,
            },
            cache.clone(),
            counters.clone(),
        ));
        let loopback = "127.0.0.0/8".parse().expect("a network");
        let recursion = Recursion {
            acl: Arc::new(ArcSwap::from_pointee(RecursionAcl::new(&[loopback]))),
            cache,
            resolver,
            max_pending: 64,
            special_use: Arc::new(crate::special_use::zone_set(&[], "")),
        };
        let responder = Responder::new(
            Arc::new(ArcSwap::from_pointee(ZoneSet::new(zones))),
            counters,
            crate::responder::UdpSizes {
                ours: 1232,
                nocookie: 512,
            },
            Some(recursion),
            Arc::new(ArcSwapOption::empty()),
            crate::identity::Identity {
                nsid: Some(b"fuzz-1".to_vec().into_boxed_slice()),
                identity: Some("fuzz-1.example".into()),
                version: None,
            },
            // On, so every packet goes through the limits' checks too.
            crate::rate_limit::RateLimits::new(&crate::config::RateLimitConfig {
                recursion: 100_000,
                responses: 100_000,
                ..Default::default()
            }),
        );
        Fixture { responder }
    })
}

/// Stores every RRset of `cached.test` in the cache.
fn warm(cache: &Cache) {
    let origin = Name::from_ascii("cached.test.").expect("a name");
    let (records, _) = crate::zone::read_master_text(CACHED, Path::new("cached"), &origin)
        .expect("fixture zone reads");
    let mut sets: Vec<Rrset> = Vec::new();
    for source in records {
        let record = source.record;
        match sets
            .iter_mut()
            .find(|s| s.name == record.name && s.rtype == record.record_type())
        {
            Some(set) => set.rdatas.push(record.data),
            None => sets.push(Rrset {
                name: record.name.clone(),
                rtype: record.record_type(),
                ttl: record.ttl,
                rdatas: vec![record.data],
            }),
        }
    }
    for set in &sets {
        let _ = cache.store_rrset(set, cache.now_ms(), Origin::Upstream);
    }
}

/// A query off the network, answered by the responder over a zone set and
/// a warm cache. The input's ID picks the client (may it recurse?) and
/// the transport. Whatever is sent back must decode, answer the query's
/// ID, fit UDP's limit, and re-encode to the same message.
pub fn responder(packet: &[u8]) {
    let fixture = fixture();
    let id = packet.get(1).copied().unwrap_or(0);
    let client = match id & 1 {
        0 => IpAddr::V4(Ipv4Addr::LOCALHOST),
        _ => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
    };
    let transport = match (id >> 1) & 3 {
        0 => Transport::Udp,
        1 => Transport::Tcp,
        _ => Transport::Tls,
    };
    let mut out = Vec::new();
    let action = fixture
        .responder
        .respond(packet, client, transport, Instant::now(), &mut out);
    if !matches!(action, Action::Reply) {
        return;
    }
    assert!(out.len() >= 12, "a reply has at least a header");
    assert_eq!(out[..2], packet[..2], "a reply echoes the ID");
    if transport == Transport::Udp {
        assert!(out.len() <= 4096, "a UDP reply of {} octets", out.len());
    }
    if transport == Transport::Tls
        && let Ok(query) = crate::wire::decode(packet)
        && query.edns.is_some_and(|e| e.padded)
        && out.len() + crate::wire::options::RESPONSE_BLOCK <= crate::wire::MAX_MESSAGE_SIZE
    {
        assert_eq!(
            out.len() % crate::wire::options::RESPONSE_BLOCK,
            0,
            "padded"
        );
    }
    let decoded = match Message::from_vec(&out) {
        Ok(message) => message,
        Err(e) => panic!("our reply does not decode: {e}\n{out:02x?}"),
    };
    round_trip(&decoded);
}

/// Decode, encode, decode: the same message.
fn round_trip(message: &Message) {
    let Ok(encoded) = message.to_vec() else {
        return;
    };
    let again = Message::from_vec(&encoded).expect("hickory's own encoding decodes");
    assert_eq!(&again, message, "decode, encode, decode is stable");
}

/// A response from an upstream or authoritative server, as resolution
/// reads it: the answer chain, the bailiwick scrub, and the verdict.
pub fn server_response(packet: &[u8]) {
    let Ok(mut message) = Message::from_vec(packet) else {
        return;
    };
    let Some(question) = message.queries.first().cloned() else {
        return;
    };
    let qname = NameKey::from_name(question.name());
    let qtype = u16::from(question.query_type());
    let reading = read_answer(&message, qname.as_bytes(), qtype);
    let _ = (reading.rrsets.len(), reading.proof.len(), reading.end);
    // As if asked of the question's parent zone, and of the root.
    for zone in [question.name().base_name(), Name::root()] {
        let mut scrubbed = message.clone();
        judge::scrub(&mut scrubbed, &zone);
        let verdict = judge::judge(&scrubbed, zone.num_labels() as usize, &qname, qtype);
        let _ = format!("{verdict:?}");
        let _ = judge::referral_servers(&scrubbed, question.name());
        let _ = judge::apex_servers(&scrubbed, &zone);
    }
    judge::scrub(&mut message, &Name::root());
}

/// A zone file, loaded and compiled, then asked for its apex and for
/// names taken from the file itself.
pub fn zone_file(text: &[u8]) {
    // Bounded as a zone transfer would be: the work grows with the input.
    if text.len() > 64 << 10 {
        return;
    }
    let origin = Name::from_ascii("fuzz.test.").expect("a name");
    let Ok((zone, _)) = Zone::from_text(&origin, text, Path::new("fuzz.zone")) else {
        return;
    };
    let mut out = Vec::new();
    let apex = zone.apex().clone();
    for qtype in [
        RecordType::SOA,
        RecordType::NS,
        RecordType::ANY,
        RecordType::DNSKEY,
    ] {
        for dnssec_ok in [false, true] {
            if let Some(reply) = zone.lookup(&apex, u16::from(qtype), dnssec_ok) {
                let query = query_for(apex.as_bytes(), u16::from(qtype), dnssec_ok);
                write_and_check(&mut out, &query, &reply);
            }
        }
    }
    for name in [
        b"\x03www\x04fuzz\x04test\x00".as_slice(),
        b"\x01*\x04fuzz\x04test\x00",
    ] {
        if let Some(key) = NameKey::from_wire(name)
            && let Some(reply) = zone.lookup(&key, 1, true)
        {
            let query = query_for(name, 1, true);
            write_and_check(&mut out, &query, &reply);
        }
    }
}

fn query_for(name: &[u8], qtype: u16, dnssec_ok: bool) -> Vec<u8> {
    let mut query = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
    query.extend_from_slice(name);
    query.extend_from_slice(&qtype.to_be_bytes());
    query.extend_from_slice(&[0, 1]);
    // OPT: root owner, 1232 octets, DO as asked.
    query.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0]);
    query.push(if dnssec_ok { 0x80 } else { 0 });
    query.extend_from_slice(&[0, 0, 0]);
    query
}

fn write_and_check(out: &mut Vec<u8>, query: &[u8], reply: &crate::wire::response::Reply<'_>) {
    let Ok(query) = crate::wire::decode(query) else {
        return;
    };
    let opts = crate::wire::response::ReplyOptions {
        max_len: 65535,
        our_udp_size: 1232,
        recursion_available: false,
    };
    crate::wire::response::write_reply(out, &query, reply, opts);
    // hickory refuses whole messages that NSD serves and kdig reads: a
    // DNSKEY whose protocol field is not 3 (seed dnskey-protocol-not-3;
    // RFC 4034 2.1.2 makes such a key unusable, not the message invalid).
    // The record is served as the file gives it, as NSD does, so only
    // what hickory decodes is re-checked.
    if let Ok(message) = Message::from_vec(out) {
        round_trip(&message);
    }
}

/// The configuration file reader.
pub fn config(text: &[u8]) {
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let _ = crate::config::Config::parse(text, Path::new("fuzz.toml"));
}

/// What arrives on the sibling port: TSIG-signed queries and answers, and
/// sealed gossip, checked with the cluster key; and, as a member holding
/// the key could send it, the same bytes sealed and handed to the
/// membership protocol.
pub fn sibling_packet(packet: &[u8]) {
    static KEY: OnceLock<ClusterKey> = OnceLock::new();
    let key = KEY.get_or_init(|| {
        ClusterKey::new(
            Name::from_ascii("siblings.fuzz.").expect("a name"),
            b"0123456789abcdef0123456789abcdef",
        )
        .expect("a key")
    });
    let _ = crate::siblings::key::is_gossip(packet);
    let _ = key.verify(packet, None);
    let _ = key.verify(packet, Some(&[0u8; 32]));
    let _ = key.open(packet);
    if let Ok(mut message) = Message::from_vec(packet) {
        // Signed again, a message that was already signed holds two TSIG
        // records, which must be refused (it once tripped an assertion in
        // hickory: fuzz/seeds/sibling_packet/crash-two-tsig-records).
        if message.signature().is_some()
            && let Ok(mut twice) = message.to_vec()
            && key.sign_query(&mut twice).is_some()
        {
            assert!(key.verify(&twice, None).is_err(), "two TSIG records");
        }
        // A message we could have built ourselves signs and verifies. One
        // still holding a TSIG-typed record (an UPDATE's empty one, which
        // hickory does not take for a signature) must not.
        let _ = message.take_signature();
        let holds_tsig = message
            .answers
            .iter()
            .chain(&message.authorities)
            .chain(&message.additionals)
            .any(|record| record.record_type() == RecordType::TSIG);
        if let Ok(mut signed) = message.to_vec()
            && key.sign_query(&mut signed).is_some()
        {
            assert_eq!(
                key.verify(&signed, None).is_ok(),
                !holds_tsig,
                "our own signature verifies on a message with one TSIG record"
            );
        }
    }
    let sealed = key.seal(packet);
    let opened = key.open(&sealed).expect("our own seal opens");
    assert_eq!(opened, packet);
    crate::siblings::gossip::feed(opened);
}

/// A cache file, as a restart reads it.
pub fn cache_file(text: &[u8]) {
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| {
        Cache::new(CacheSettings {
            max_size: 4 << 20,
            min_ttl: 0,
            max_ttl: 86400,
            max_negative_ttl: 3600,
            serve_stale: Duration::ZERO,
            prefetch: false,
        })
    });
    let _ = crate::persist::load_text(cache, text, Path::new("fuzz.cache"));
}

/// A signed response as validation sees it: every DNSKEY set proved
/// (trusting its own keys as anchors, and any DS beside it), every other
/// RRset proved with the keys that came out, and the NSEC and NSEC3
/// records tried as proofs of the question's denial or wildcard answer.
pub fn validation(packet: &[u8]) {
    let Ok(message) = Message::from_vec(packet) else {
        return;
    };
    let Some(question) = message.queries.first() else {
        return;
    };
    let qname = NameKey::from_name(question.name());
    let qtype = u16::from(question.query_type());
    // (owner, type, RDATA), RRSIGs by (owner, type covered).
    let mut records: Vec<(NameKey, u16, Box<[u8]>)> = Vec::new();
    let mut rrsigs: Vec<(NameKey, u16, Box<[u8]>)> = Vec::new();
    let all = message
        .answers
        .iter()
        .chain(&message.authorities)
        .chain(&message.additionals);
    for record in all.take(64) {
        let Some(rdata) = rdata_wire(&record.data) else {
            continue;
        };
        let owner = NameKey::from_name(&record.name);
        match &record.data {
            RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::RRSIG(sig)) => {
                rrsigs.push((owner, u16::from(sig.input().type_covered), rdata));
            }
            _ => records.push((owner, u16::from(record.record_type()), rdata)),
        }
    }
    let rdatas_of = |owner: &NameKey, rtype: u16| -> Vec<&[u8]> {
        records
            .iter()
            .filter(|(o, t, _)| o == owner && *t == rtype)
            .map(|(_, _, r)| &r[..])
            .collect()
    };
    let sigs_of = |owner: &NameKey, rtype: u16| -> Vec<&[u8]> {
        rrsigs
            .iter()
            .filter(|(o, t, _)| o == owner && *t == rtype)
            .map(|(_, _, r)| &r[..])
            .collect()
    };
    let mut budget = Budget::default();
    let mut scratch = Vec::new();
    let dnskey = u16::from(RecordType::DNSKEY);
    for (zone, _, _) in records.iter().filter(|(_, t, _)| *t == dnskey) {
        let keys = rdatas_of(zone, dnskey);
        let ds = rdatas_of(zone, u16::from(RecordType::DS));
        let Ok(verdict) = prove_keys(
            zone.as_bytes(),
            &keys,
            &sigs_of(zone, dnskey),
            &ds,
            &keys,
            NOW,
            &mut budget,
            &mut scratch,
        ) else {
            break;
        };
        let KeyVerdict::Secure(keys, _) = verdict else {
            continue;
        };
        for (owner, rtype, _) in &records {
            let proved = prove_rrset(
                &keys,
                owner.as_bytes(),
                *rtype,
                &rdatas_of(owner, *rtype),
                &sigs_of(owner, *rtype),
                NOW,
                &mut budget,
                &mut scratch,
            );
            if proved.is_err() {
                break;
            }
        }
    }
    let (nsec, nsec3_type) = (u16::from(RecordType::NSEC), u16::from(RecordType::NSEC3));
    let nsecs: Vec<Nsec<'_>> = records
        .iter()
        .filter(|(_, t, _)| *t == nsec)
        .filter_map(|(o, _, r)| Nsec::parse(o.as_bytes(), r))
        .collect();
    let nsec3s: Vec<Nsec3<'_>> = records
        .iter()
        .filter(|(_, t, _)| *t == nsec3_type)
        .filter_map(|(o, _, r)| Nsec3::parse(o.as_bytes(), r))
        .collect();
    let name = qname.as_bytes();
    let encloser = name
        .first()
        .and_then(|&len| name.get(usize::from(len) + 1..))
        .unwrap_or(name);
    let _ = denial::prove_nxdomain(name, &nsecs);
    let _ = denial::prove_nodata(name, qtype, &nsecs);
    let _ = denial::prove_wildcard_answer(name, encloser, &nsecs);
    let _ = nsec3::prove_nxdomain(name, &nsec3s, &mut budget);
    let _ = nsec3::prove_nodata(name, qtype, &nsec3s, &mut budget);
    let _ = nsec3::prove_wildcard_answer(name, encloser, &nsec3s, &mut budget);
}

#[cfg(test)]
mod tests {
    /// Every committed seed through its target, as `cargo test` runs:
    /// what a campaign found and fixed stays fixed.
    #[test]
    fn every_seed_passes_its_target() {
        type Target = (&'static str, fn(&[u8]));
        let targets: [Target; 7] = [
            ("responder", super::responder),
            ("server_response", super::server_response),
            ("zone_file", super::zone_file),
            ("config", super::config),
            ("sibling_packet", super::sibling_packet),
            ("cache_file", super::cache_file),
            ("validation", super::validation),
        ];
        let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
        for (target, run) in targets {
            let dir = seeds.join(target);
            let mut count = 0;
            for entry in std::fs::read_dir(&dir).expect("seed directory") {
                let path = entry.expect("a seed").path();
                run(&std::fs::read(&path).expect("readable seed"));
                count += 1;
            }
            assert!(count > 0, "{target} has seeds");
        }
    }
}

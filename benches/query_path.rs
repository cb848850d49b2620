//! The per-query work of an authoritative answer, without the sockets:
//! decode the query, find the answer in the zone, write the response.
//! `benches/auth_vs_nsd.sh` measures the whole server against NSD.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use hearsay::wire::decode;
use hearsay::wire::response::{ReplyOptions, udp_limit, write_reply};
use hearsay::zone::Zone;
use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::{Name, RecordType};

fn query(name: &str, rtype: RecordType) -> Vec<u8> {
    let mut msg = Message::query();
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    msg.set_edns(Edns::new());
    msg.to_vec().unwrap()
}

fn bench(c: &mut Criterion) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("zones/example.test.zone");
    let origin = Name::from_ascii("example.test.").unwrap();
    let (zone, _) = Zone::load(&origin, &path).unwrap();
    let opts = ReplyOptions {
        max_len: 1232,
        our_udp_size: 1232,
        recursion_available: false,
    };
    let mut out = Vec::with_capacity(65535);

    for (label, name, rtype) in [
        ("a", "www.example.test.", RecordType::A),
        ("mx_with_additional", "example.test.", RecordType::MX),
        ("cname_chain", "web.example.test.", RecordType::A),
        ("wildcard", "host.apps.example.test.", RecordType::A),
        ("nxdomain", "nope.example.test.", RecordType::A),
        ("referral", "host.sub.example.test.", RecordType::A),
    ] {
        let packet = query(name, rtype);
        let mut group = c.benchmark_group(label);
        group.bench_function("decode", |b| b.iter(|| decode(black_box(&packet)).unwrap()));
        let q = decode(&packet).unwrap();
        group.bench_function("lookup", |b| {
            b.iter(|| {
                zone.lookup(black_box(&q.key), black_box(q.qtype), false)
                    .unwrap()
            })
        });
        let reply = zone.lookup(&q.key, q.qtype, false).unwrap();
        group.bench_function("encode", |b| {
            b.iter(|| write_reply(&mut out, black_box(&q), &reply, opts))
        });
        group.bench_function("all", |b| {
            b.iter(|| {
                let q = decode(black_box(&packet)).unwrap();
                let reply = zone.lookup(&q.key, q.qtype, false).unwrap();
                let opts = ReplyOptions {
                    max_len: udp_limit(&q, 1232),
                    ..opts
                };
                write_reply(&mut out, &q, &reply, opts)
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

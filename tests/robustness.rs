//! Recursion under load the authorities did not ask for: a zone whose
//! server answers after 2 s, and a flood of unique missing names. NSD
//! serves the hierarchy; a proxy in front of it plays the slow server.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::lab::{Fault, Host, Lab, ask};
use common::*;
use hearsay::counters::IterationEvent;
use hearsay::resolve::Servers;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use tokio::net::UdpSocket;

const ROOT: &str = "
$ORIGIN .
$TTL 86400
@ SOA ns.root. hostmaster.root. 1 1800 900 604800 86400
@ NS ns.root.
ns.root. A LAB.1
test. NS ns.test.
ns.test. A LAB.2
";

/// fast.test and flood.test on NSD itself; slow.test behind the proxy.
const TLD: &str = "
$ORIGIN test.
$TTL 86400
@ SOA ns hostmaster 1 1800 900 604800 300
@ NS ns
ns A LAB.2
fast NS ns.fast
ns.fast A LAB.3
flood NS ns.flood
ns.flood A LAB.3
slow NS ns.slow
ns.slow A LAB.4
";

fn leaf(origin: &str, host: u8) -> String {
    format!(
        "$ORIGIN {origin}\n$TTL 3600\n@ SOA ns hostmaster 1 1800 900 604800 300\n@ NS ns\nns A LAB.{host}\n* A 192.0.2.1\n"
    )
}

/// The lab, and a resolver on it with `extra` configuration.
async fn lab(extra: &str) -> (Lab, TestServer) {
    let net = Lab::reserve();
    let expand = |text: &str| Lab::expand_in(net, text);
    let (fast, flood, slow) = (
        expand(&leaf("fast.test.", 3)),
        expand(&leaf("flood.test.", 3)),
        expand(&leaf("slow.test.", 4)),
    );
    let lab = Lab::start_on(
        net,
        &[
            Host::Nsd(1, &[(".", &expand(ROOT))]),
            Host::Nsd(2, &[("test.", &expand(TLD))]),
            Host::Nsd(
                3,
                &[
                    ("fast.test.", &fast),
                    ("flood.test.", &flood),
                    ("slow.test.", &slow),
                ],
            ),
            Host::Proxy(4, 3, Fault::Delay(Duration::from_secs(2))),
        ],
    )
    .await;
    let hints = lab.hints("ns.root.", 1);
    let resolver = common::lab::hearsay(
        &hints,
        &format!("dnssec = false\nqname_minimisation = false\ntimeout = \"3s\"\n{extra}"),
    )
    .await;
    (lab, resolver)
}

/// Sends `count` queries for unique names under `zone`, not waiting for
/// answers.
async fn spray(to: SocketAddr, zone: &str, tag: &str, count: usize) -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..count {
        let mut query = query_message(&format!("{tag}{i}.{zone}"), RecordType::A, None);
        query.metadata.id = i as u16;
        let _ = socket.send_to(&query.to_vec().unwrap(), to).await;
    }
    socket
}

fn outstanding(resolver: &TestServer) -> u32 {
    match resolver.server.handle().servers() {
        Some(Servers::Authorities { outstanding, .. }) => outstanding,
        _ => panic!("a recursive resolver"),
    }
}

/// Asks `name` and returns the rcode and how long it took.
async fn timed(resolver: SocketAddr, name: &str) -> (ResponseCode, Duration) {
    let started = Instant::now();
    let said = ask(resolver, name, RecordType::A).await;
    (said.rcode, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_zone_holds_only_its_share_and_other_zones_answer_at_once() {
    require_lab!();
    let (_lab, resolver) = lab("fetches_per_zone = 50\n").await;
    // The path down to test. is learned first, so only the zones differ.
    assert_eq!(
        ask(resolver.addr(), "warm.fast.test.", RecordType::A)
            .await
            .rcode,
        ResponseCode::NoError
    );
    let _held = spray(resolver.addr(), "slow.test.", "s", 400).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let during = outstanding(&resolver);
    let mut slowest = Duration::ZERO;
    for i in 0..20 {
        let (rcode, took) = timed(resolver.addr(), &format!("f{i}.fast.test.")).await;
        assert_eq!(rcode, ResponseCode::NoError, "f{i}.fast.test.");
        slowest = slowest.max(took);
    }
    // A new name under the capped zone fails at once, saying why.
    let capped = udp_query(
        resolver.addr(),
        "capped.slow.test.",
        RecordType::A,
        Some(1232),
    )
    .await;
    assert_eq!(capped.metadata.response_code, ResponseCode::ServFail);
    let ede = capped
        .edns
        .as_ref()
        .and_then(|e| e.option(EdnsCode::Unknown(15)))
        .cloned();
    match ede {
        Some(EdnsOption::Unknown(15, data)) => {
            assert_eq!(data[..2], [0, 0], "EDE 0, Other");
            assert!(String::from_utf8_lossy(&data[2..]).starts_with("not asked"));
        }
        other => panic!("no EDE: {other:?}"),
    }
    let counters = resolver.server.counters();
    let limited = counters.iteration(IterationEvent::FetchLimited);
    println!(
        "400 names under the slow zone: {during} queries outstanding, {limited} not sent; \
         slowest of 20 new names elsewhere {slowest:?}"
    );
    assert!(
        during <= 50 + 2,
        "the slow zone holds {during} queries, past its cap of 50"
    );
    assert!(limited >= 300, "only {limited} refused at the cap");
    assert!(
        slowest < Duration::from_millis(500),
        "a fast zone's new name took {slowest:?} behind the slow one"
    );
    // The slow zone itself still answers, from its share.
    let (rcode, took) = timed(resolver.addr(), "late.slow.test.").await;
    println!("a slow-zone name once the spray is done: {rcode} in {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_names_keep_answering_through_a_random_subdomain_flood() {
    require_lab!();
    let (_lab, resolver) = lab("max_pending = 2000\n").await;
    let cached: Vec<String> = (0..20).map(|i| format!("c{i}.fast.test.")).collect();
    for name in &cached {
        assert_eq!(
            ask(resolver.addr(), name, RecordType::A).await.rcode,
            ResponseCode::NoError
        );
    }
    // Four senders, each as fast as it goes for 3 s, unique names under
    // one zone; they read nothing back.
    let addr = resolver.addr();
    let flood_until = Instant::now() + Duration::from_secs(3);
    let mut senders = Vec::new();
    for s in 0..4 {
        senders.push(tokio::spawn(async move {
            let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let mut sent = 0u64;
            while Instant::now() < flood_until {
                for _ in 0..64 {
                    let name = format!("x{s}-{sent}.flood.test.");
                    let query = query_message(&name, RecordType::A, None);
                    let _ = socket.send_to(&query.to_vec().unwrap(), addr).await;
                    sent += 1;
                }
                tokio::task::yield_now().await;
            }
            sent
        }));
    }
    let mut latencies = Vec::new();
    let mut most_outstanding = 0;
    let mut i = 0;
    while Instant::now() < flood_until {
        let (rcode, took) = timed(addr, &cached[i % cached.len()]).await;
        assert_eq!(
            rcode,
            ResponseCode::NoError,
            "a cached name during the flood"
        );
        latencies.push(took);
        most_outstanding = most_outstanding.max(outstanding(&resolver));
        i += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut sent = 0;
    for sender in senders {
        sent += sender.await.unwrap();
    }
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    let counters = resolver.server.counters();
    println!(
        "flood of {sent} names: {} cached-name probes, p50 {:?}, p99 {p99:?}, max {:?}; \
         at most {most_outstanding} authoritative queries outstanding; {} dropped as over max_pending",
        latencies.len(),
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1],
        counters.overload_dropped,
    );
    assert!(latencies.len() >= 50, "probes kept going");
    assert!(
        p99 < Duration::from_millis(250),
        "cached names starved: p99 {p99:?}"
    );
    assert!(
        most_outstanding <= 2000,
        "{most_outstanding} queries outstanding past max_pending"
    );
}

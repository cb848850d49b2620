//! Sibling cache sharing: clusters of hearsay instances on 127.0.0.x
//! addresses, one authoritative hearsay server behind them, and real
//! sockets throughout. Each test has its own range of addresses.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::*;
use hearsay::counters::{IterationEvent, SiblingEvent, Transport};
use hearsay::siblings::ClusterKey;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::task::JoinSet;

const ZONE: &str = r#"
$ORIGIN cluster.test.
$TTL 3600
@ SOA ns hostmaster 1 1800 900 604800 300
  NS ns
ns A 192.0.2.53
* A 192.0.2.1
alias CNAME www
www A 192.0.2.80
; Over 6000 bytes: too large for the sibling port's UDP.
big TXT "000xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "001xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "002xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "003xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "004xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "005xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "006xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "007xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "008xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "009xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "010xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "011xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "012xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "013xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "014xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "015xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "016xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "017xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "018xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "019xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "020xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "021xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "022xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "023xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "024xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "025xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "026xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "027xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "028xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
big TXT "029xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
"#;

const SECRET: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const OTHER_SECRET: &str = "YW5vdGhlciBzZWNyZXQgb2YgdGhpcnR5LXR3byBiLi4=";

fn at(last: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::from([127, 0, 0, last]), port)
}

/// A free UDP port on 127.0.0.`last` (the kernel's choice, released).
fn free_port(last: u8) -> u16 {
    std::net::UdpSocket::bind(at(last, 0))
        .and_then(|s| s.local_addr())
        .expect("bind")
        .port()
}

struct Cluster {
    authority: TestServer,
    keys: tempfile::TempDir,
    port: u16,
}

impl Cluster {
    async fn new(first: u8) -> Cluster {
        let keys = tempfile::tempdir().unwrap();
        write(keys.path(), "good.key", SECRET);
        write(keys.path(), "bad.key", OTHER_SECRET);
        Cluster {
            authority: start_with(&[("cluster.test.", ZONE)], "").await,
            keys,
            port: free_port(first),
        }
    }

    /// A sibling on 127.0.0.`last` (sibling port shared by the cluster),
    /// forwarding to the authority, joining through `seeds`.
    async fn sibling(&self, last: u8, seeds: &[u8], key: &str) -> TestServer {
        start_with(&[], &self.sibling_config(last, seeds, key)).await
    }

    fn sibling_config(&self, last: u8, seeds: &[u8], key: &str) -> String {
        let seeds: Vec<SocketAddr> = seeds.iter().map(|s| at(*s, self.port)).collect();
        format!(
            "[resolver]\nupstreams = [\"{}\"]\ntimeout = \"2s\"\n\
             [cache]\nprefetch = false\n{}",
            self.authority.addr(),
            siblings_section(
                at(last, self.port),
                &seeds,
                ("50ms", "200ms"),
                &self.keys.path().join(key)
            )
        )
    }

    /// A sibling on 127.0.0.`last` as a process of its own, to be
    /// stopped, killed or frozen with a signal.
    fn process(&self, last: u8, seeds: &[u8]) -> std::process::Child {
        let config = write(
            self.keys.path(),
            &format!("member{last}.toml"),
            &format!(
                "[server]\nlisten = [\"127.0.0.{last}:0\"]\nthreads = 1\n{}",
                self.sibling_config(last, seeds, "good.key")
            ),
        );
        std::process::Command::new(env!("CARGO_BIN_EXE_hearsay"))
            .args(["serve", "--config", config.to_str().unwrap()])
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start a sibling process")
    }

    /// Queries the authority has received.
    fn asked(&self) -> u64 {
        let c = self.authority.server.counters();
        c.queries(Transport::Udp) + c.queries(Transport::Tcp)
    }
}

/// The `[siblings]` section of a member listening on `listen`, joining
/// through `seeds`, with the hedge delay's (min, max).
fn siblings_section(
    listen: SocketAddr,
    seeds: &[SocketAddr],
    hedge: (&str, &str),
    key: &std::path::Path,
) -> String {
    let seeds: Vec<String> = seeds.iter().map(|s| format!("\"{s}\"")).collect();
    format!(
        "[siblings]\nlisten = \"{listen}\"\nseeds = [{}]\nhedge_min = \"{}\"\nhedge_max = \"{}\"\n\
         key = {{ name = \"cluster.\", algorithm = \"hmac-sha256\", secret_file = \"{}\" }}\n",
        seeds.join(", "),
        hedge.0,
        hedge.1,
        key.display()
    )
}

async fn converge(members: &[&TestServer]) {
    let n = members.len();
    until("the members to see each other", || {
        members
            .iter()
            .all(|m| m.server.sibling_members().len() == n)
    })
    .await;
}

fn name(i: usize) -> String {
    format!("n{i}.cluster.test.")
}

fn first_a(reply: &Message) -> Option<std::net::Ipv4Addr> {
    reply.answers.iter().find_map(|r| match &r.data {
        RData::A(a) => Some(a.0),
        _ => None,
    })
}

/// Asks `names` of `servers` (query i to server (i + offset) mod n), 32 at
/// a time, and returns the slowest answer's time.
async fn ask_all(servers: &[SocketAddr], names: &[String], offset: usize) -> Duration {
    let mut slowest = Duration::ZERO;
    for (chunk_no, chunk) in names.chunks(32).enumerate() {
        let mut set = JoinSet::new();
        for (j, name) in chunk.iter().enumerate() {
            let i = chunk_no * 32 + j;
            let server = servers[(i + offset) % servers.len()];
            let name = name.clone();
            set.spawn(async move {
                let started = Instant::now();
                let reply = udp_query(server, &name, RecordType::A, Some(1232)).await;
                assert_eq!(
                    reply.metadata.response_code,
                    ResponseCode::NoError,
                    "{name}"
                );
                assert_eq!(first_a(&reply), Some([192, 0, 2, 1].into()), "{name}");
                started.elapsed()
            });
        }
        while let Some(took) = set.join_next().await {
            slowest = slowest.max(took.unwrap());
        }
    }
    slowest
}

#[tokio::test]
async fn a_cluster_asks_the_authority_once_per_name() {
    let cluster = Cluster::new(31).await;
    let a = cluster.sibling(31, &[32], "good.key").await;
    let b = cluster.sibling(32, &[31], "good.key").await;
    let c = cluster.sibling(33, &[31], "good.key").await;
    converge(&[&a, &b, &c]).await;

    let servers = [a.addr(), b.addr(), c.addr()];
    let names: Vec<String> = (0..1000).map(name).collect();
    // The same stream three times, each time shifted, so every name is
    // asked of every sibling.
    let before = cluster.asked();
    for round in 0..3 {
        ask_all(&servers, &names, round).await;
    }
    let asked = cluster.asked() - before;
    eprintln!("1000 names asked of 3 siblings 3 times: {asked} authoritative queries");
    assert!(
        asked <= 1050,
        "the authority saw {asked} queries for 1000 names (alone, each instance would send 1000)"
    );
    let answered: u64 = [&a, &b, &c]
        .iter()
        .map(|s| s.server.counters().sibling(SiblingEvent::Answered))
        .sum();
    assert!(
        answered >= 1000,
        "only {answered} answers came from siblings"
    );

    // The same stream through three lone instances: each asks for itself.
    let mut alone = Vec::new();
    for _ in 0..3 {
        alone
            .push(start_resolver(&[cluster.authority.addr()], "[cache]\nprefetch = false\n").await);
    }
    let lone: Vec<SocketAddr> = alone.iter().map(TestServer::addr).collect();
    let before = cluster.asked();
    for round in 0..3 {
        ask_all(&lone, &names, round).await;
    }
    let without = cluster.asked() - before;
    eprintln!("the same through 3 lone instances: {without} authoritative queries");
    assert!(without >= 2900, "{without}");

    // A CNAME chain is shared whole, with TTLs counting down.
    let reply = udp_query(a.addr(), "alias.cluster.test.", RecordType::A, Some(1232)).await;
    assert_eq!(lines(&reply.answers).len(), 2, "{:?}", reply.answers);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for server in [&b, &c] {
        let reply = udp_query(
            server.addr(),
            "alias.cluster.test.",
            RecordType::A,
            Some(1232),
        )
        .await;
        assert_eq!(lines(&reply.answers).len(), 2);
        assert!(
            reply.answers.iter().all(|r| r.ttl < 3600),
            "{:?}",
            reply.answers
        );
    }
    // Negative answers are shared too, with their SOA.
    let before = cluster.asked();
    for server in servers {
        let reply = udp_query(
            server,
            "missing.www.cluster.test.",
            RecordType::A,
            Some(1232),
        )
        .await;
        assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(reply.authorities.len(), 1, "{:?}", reply.authorities);
    }
    assert_eq!(cluster.asked() - before, 1);
}

#[tokio::test]
async fn a_killed_sibling_costs_clients_no_more_than_the_hedge() {
    let cluster = Cluster::new(41).await;
    let a = cluster.sibling(41, &[42], "good.key").await;
    let b = cluster.sibling(42, &[41], "good.key").await;
    // The third runs as its own process, to be killed without a goodbye.
    let mut third = cluster.process(43, &[41]);
    until("three members", || {
        a.server.sibling_members().len() == 3 && b.server.sibling_members().len() == 3
    })
    .await;

    let servers = [a.addr(), b.addr()];
    let names: Vec<String> = (0..300).map(name).collect();
    ask_all(&servers, &names[..100], 0).await;
    // Frozen, it neither answers nor lets the kernel refuse: the worst
    // case, a host gone silent.
    let pid = third.id() as i32;
    // SAFETY: signalling a child process we started and still own.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    // Every query is answered, none later than the hedge (200 ms) plus one
    // resolution against a local authority, with room for a slow machine.
    let slowest = ask_all(&servers, &names[100..200], 0).await;
    eprintln!("slowest answer with a silent sibling: {slowest:?}");
    assert!(
        slowest < Duration::from_millis(1200),
        "a client waited {slowest:?}"
    );
    // Killed: the kernel refuses for it, and nobody waits at all.
    third.kill().unwrap();
    third.wait().unwrap();
    let slowest = ask_all(&servers, &names[200..], 0).await;
    eprintln!("slowest answer after the kill: {slowest:?}");
    assert!(
        slowest < Duration::from_millis(1200),
        "a client waited {slowest:?}"
    );
    let hedged: u64 = [&a, &b]
        .iter()
        .map(|s| {
            let c = s.server.counters();
            c.sibling(SiblingEvent::Hedged)
        })
        .sum();
    assert!(hedged > 0, "nothing was ever asked of the silent sibling");
    // Gossip notices, and the dead member's names move to the others.
    tokio::time::timeout(Duration::from_secs(20), async {
        while a.server.sibling_members().len() != 2 || b.server.sibling_members().len() != 2 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the dead member leaves the member lists");
}

/// A member that joins takes its share of the names, and for each it
/// misses on first looks in the cache of the member that owned it
/// before: the names the cluster already knows cost the authority
/// nothing.
#[tokio::test]
async fn a_joining_member_warms_from_the_previous_owners() {
    let cluster = Cluster::new(101).await;
    let a = cluster.sibling(101, &[102], "good.key").await;
    let b = cluster.sibling(102, &[101], "good.key").await;
    converge(&[&a, &b]).await;
    let names: Vec<String> = (0..300).map(name).collect();
    ask_all(&[a.addr(), b.addr()], &names, 0).await;
    // Joining later than a cluster started at once would.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let c = cluster.sibling(103, &[101], "good.key").await;
    converge(&[&a, &b, &c]).await;

    let before = cluster.asked();
    ask_all(&[c.addr()], &names, 0).await;
    let asked = cluster.asked() - before;
    let counters = c.server.counters();
    let (peeked, hits) = (
        counters.sibling(SiblingEvent::Peeked),
        counters.sibling(SiblingEvent::PeekHit),
    );
    eprintln!(
        "300 known names asked of a new member: {asked} authoritative queries; \
         {hits} of its {peeked} misses on its own names found at the previous owner"
    );
    assert_eq!(asked, 0);
    assert!(
        (60..=140).contains(&peeked),
        "it owned {peeked} of 300 names"
    );
    assert_eq!(hits, peeked);
    // A name nobody knows is refused by the previous owner's cache and
    // resolved once.
    let before = cluster.asked();
    ask_all(&[a.addr(), b.addr(), c.addr()], &[name(1000)], 0).await;
    assert_eq!(cluster.asked() - before, 1);
}

/// A member stopped with SIGTERM says goodbye by gossip: the others drop
/// it at once, long before a silent member would be declared down.
#[tokio::test]
async fn a_member_that_leaves_cleanly_is_dropped_at_once() {
    let cluster = Cluster::new(111).await;
    let a = cluster.sibling(111, &[112], "good.key").await;
    let b = cluster.sibling(112, &[111], "good.key").await;
    let mut third = cluster.process(113, &[111]);
    until("three members", || {
        a.server.sibling_members().len() == 3 && b.server.sibling_members().len() == 3
    })
    .await;
    let stopped = Instant::now();
    // SAFETY: signalling a child process we started and still own.
    assert_eq!(unsafe { libc::kill(third.id() as i32, libc::SIGTERM) }, 0);
    while a.server.sibling_members().len() != 2 || b.server.sibling_members().len() != 2 {
        assert!(
            stopped.elapsed() < Duration::from_millis(1500),
            "the leaving member is still listed after {:?}",
            stopped.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "a member leaving with SIGTERM was dropped in {:?}",
        stopped.elapsed()
    );
    third.wait().unwrap();
}

/// Asks each of `names` of every one of `servers`; the authoritative
/// queries that cost.
async fn ask_everywhere(cluster: &Cluster, servers: &[SocketAddr], names: &[String]) -> u64 {
    let before = cluster.asked();
    for round in 0..servers.len() {
        ask_all(servers, names, round).await;
    }
    cluster.asked() - before
}

/// A member that stops answering, then dies: every survivor that misses
/// on one of its names turns to the same successor (the next member in
/// rendezvous order), so the authority still sees each name once, not
/// once per survivor.
#[tokio::test]
async fn a_failed_owners_names_go_to_one_successor() {
    let cluster = Cluster::new(91).await;
    let a = cluster.sibling(91, &[92], "good.key").await;
    let b = cluster.sibling(92, &[91], "good.key").await;
    let c = cluster.sibling(93, &[91], "good.key").await;
    let mut fourth = cluster.process(94, &[91]);
    until("four members", || {
        [&a, &b, &c]
            .iter()
            .all(|m| m.server.sibling_members().len() == 4)
    })
    .await;
    let servers = [a.addr(), b.addr(), c.addr()];

    // Silent: probes and queries go unanswered.
    let pid = fourth.id() as i32;
    // SAFETY: signalling a child process we started and still own.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let names: Vec<String> = (0..200).map(|i| format!("s{i}.cluster.test.")).collect();
    let silent = ask_everywhere(&cluster, &servers, &names).await;
    // Dead: the kernel refuses for it.
    fourth.kill().unwrap();
    fourth.wait().unwrap();
    let names: Vec<String> = (0..200).map(|i| format!("k{i}.cluster.test.")).collect();
    let dead = ask_everywhere(&cluster, &servers, &names).await;
    let successors: u64 = [&a, &b, &c]
        .iter()
        .map(|m| m.server.counters().sibling(SiblingEvent::Successor))
        .sum();
    eprintln!(
        "200 names asked of 3 survivors: {silent} authoritative queries with a silent \
         member, {dead} after it died; {successors} questions went to a successor"
    );
    assert!(
        silent <= 210,
        "{silent} authoritative queries for 200 names"
    );
    assert!(dead <= 210, "{dead} authoritative queries for 200 names");
}

/// Sends `packet` to `to` and returns the reply, if any.
async fn exchange(to: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    udp_exchange(to, packet, Duration::from_millis(500)).await
}

fn query_bytes(name: &str) -> Vec<u8> {
    let mut msg = query_message(name, RecordType::A, Some(4096));
    msg.metadata.id = 0x4242;
    msg.to_vec().unwrap()
}

#[tokio::test]
async fn a_member_with_the_wrong_key_is_refused() {
    let cluster = Cluster::new(51).await;
    let a = cluster.sibling(51, &[52], "good.key").await;
    let b = cluster.sibling(52, &[51], "good.key").await;
    converge(&[&a, &b]).await;
    let intruder = cluster.sibling(53, &[51, 52], "bad.key").await;
    // Gossip announces go out every two seconds; give it a few rounds.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(a.server.sibling_members().len(), 2);
    assert_eq!(b.server.sibling_members().len(), 2);
    assert_eq!(intruder.server.sibling_members().len(), 1);
    assert!(a.server.counters().sibling(SiblingEvent::Rejected) > 0);

    let sibling_port = at(51, cluster.port);
    let wrong = ClusterKey::new(
        Name::from_ascii("cluster.").unwrap(),
        b"another secret of thirty-two b..",
    )
    .unwrap();
    let right = ClusterKey::new(
        Name::from_ascii("cluster.").unwrap(),
        b"0123456789abcdef0123456789abcdef",
    )
    .unwrap();
    // Unsigned, and signed with the wrong key: NOTAUTH and no records.
    for packet in [query_bytes("x1.cluster.test."), {
        let mut p = query_bytes("x1.cluster.test.");
        wrong.sign_query(&mut p).unwrap();
        p
    }] {
        let reply = exchange(sibling_port, &packet).await.expect("a refusal");
        let reply = Message::from_vec(&reply).unwrap();
        assert_eq!(u16::from(reply.metadata.response_code), 9, "NOTAUTH");
        assert!(reply.answers.is_empty());
    }
    // A forged answer, signed with the wrong key, sent to the sibling
    // port: ignored, never cached.
    let mut forged = Message::from_vec(&query_bytes("evil.cluster.test.")).unwrap();
    forged.metadata.message_type = hickory_proto::op::MessageType::Response;
    forged.add_answer(hickory_proto::rr::Record::from_rdata(
        Name::from_ascii("evil.cluster.test.").unwrap(),
        3600,
        RData::A(hickory_proto::rr::rdata::A::new(6, 6, 6, 6)),
    ));
    let mut forged = forged.to_vec().unwrap();
    wrong.sign_query(&mut forged).unwrap();
    assert!(exchange(sibling_port, &forged).await.is_none());
    for server in [&a, &b] {
        let reply = udp_query(
            server.addr(),
            "evil.cluster.test.",
            RecordType::A,
            Some(1232),
        )
        .await;
        assert_eq!(first_a(&reply), Some([192, 0, 2, 1].into()));
    }
    // The right key is answered, signed.
    let mut packet = query_bytes("x2.cluster.test.");
    let mac = right.sign_query(&mut packet).unwrap();
    let reply = exchange(sibling_port, &packet).await.expect("an answer");
    right.verify(&reply, Some(&mac)).expect("a signed answer");
    assert_eq!(
        first_a(&Message::from_vec(&reply).unwrap()),
        Some([192, 0, 2, 1].into())
    );
    // The intruder's clients are served from its own resolution only.
    assert_eq!(
        intruder.server.counters().sibling(SiblingEvent::QuerySent),
        0
    );
}

#[tokio::test]
async fn a_question_from_a_sibling_is_never_passed_on() {
    let cluster = Cluster::new(61).await;
    let a = cluster.sibling(61, &[62], "good.key").await;
    let b = cluster.sibling(62, &[61], "good.key").await;
    let c = cluster.sibling(63, &[61], "good.key").await;
    converge(&[&a, &b, &c]).await;
    let key = ClusterKey::new(
        Name::from_ascii("cluster.").unwrap(),
        b"0123456789abcdef0123456789abcdef",
    )
    .unwrap();
    // Every member is asked every name as a sibling, whoever owns it: as
    // if members disagreed about membership. None passes a question on.
    let before = cluster.asked();
    for i in 0..50 {
        for last in [61, 62, 63] {
            let mut packet = query_bytes(&name(i));
            let mac = key.sign_query(&mut packet).unwrap();
            let reply = exchange(at(last, cluster.port), &packet)
                .await
                .expect("answer");
            key.verify(&reply, Some(&mac)).unwrap();
        }
    }
    for member in [&a, &b, &c] {
        assert_eq!(member.server.counters().sibling(SiblingEvent::QuerySent), 0);
    }
    // Each member resolved each name at most once.
    assert!(cluster.asked() - before <= 150);
}

#[tokio::test]
async fn a_new_member_takes_its_share_of_the_names() {
    let cluster = Cluster::new(71).await;
    let a = cluster.sibling(71, &[72], "good.key").await;
    let b = cluster.sibling(72, &[71], "good.key").await;
    converge(&[&a, &b]).await;
    let c = cluster.sibling(73, &[71], "good.key").await;
    converge(&[&a, &b, &c]).await;

    let names: Vec<String> = (0..300).map(name).collect();
    ask_all(&[a.addr()], &names, 0).await;
    let received = c.server.counters().sibling(SiblingEvent::QueryReceived);
    assert!(
        (60..=140).contains(&received),
        "the new member owned {received} of 300 names"
    );
}

#[tokio::test]
async fn an_answer_too_big_for_udp_is_fetched_from_the_owner_over_tcp() {
    let cluster = Cluster::new(81).await;
    let a = cluster.sibling(81, &[82], "good.key").await;
    let b = cluster.sibling(82, &[81], "good.key").await;
    converge(&[&a, &b]).await;
    let before = cluster.asked();
    for member in [&a, &b] {
        let reply = tcp_query(member.addr(), "big.cluster.test.", RecordType::TXT).await;
        assert_eq!(reply.answers.len(), 30);
    }
    // The owner asked the authority (over UDP, then TCP on truncation);
    // the other member got the whole RRset from the owner over TCP.
    assert_eq!(cluster.asked() - before, 2);
    let answered: u64 = [&a, &b]
        .iter()
        .map(|m| m.server.counters().sibling(SiblingEvent::Answered))
        .sum();
    assert_eq!(answered, 1);
}

#[tokio::test]
async fn garbage_on_the_sibling_port_is_refused_and_changes_nothing() {
    let cluster = Cluster::new(91).await;
    let a = cluster.sibling(91, &[92], "good.key").await;
    let b = cluster.sibling(92, &[91], "good.key").await;
    converge(&[&a, &b]).await;
    let port = at(91, cluster.port);
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // Random bytes, DNS-looking headers, fake gossip magic, and TCP
    // garbage: none of it may crash, join, or poison anything.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..2000 {
        let len = (next() % 700) as usize;
        let mut packet: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if len >= 12 && i % 3 == 0 {
            packet[2] &= 0x7F;
            packet[4] = 0;
            packet[5] = 1;
        }
        if len >= 4 && i % 3 == 1 {
            packet[..4].copy_from_slice(b"hs\x78\x01");
        }
        socket.send_to(&packet, port).await.unwrap();
    }
    for _ in 0..20 {
        if let Ok(mut stream) = tokio::net::TcpStream::connect(port).await {
            use tokio::io::AsyncWriteExt;
            let len = (next() % 300) as usize;
            let packet: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let _ = stream.write_all(&packet).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(a.server.counters().sibling(SiblingEvent::Rejected) > 500);
    assert_eq!(
        a.server.sibling_members().len(),
        2,
        "garbage joined the cluster"
    );
    // Still one cache.
    let before = cluster.asked();
    for member in [&a, &b] {
        let reply = udp_query(
            member.addr(),
            "after.cluster.test.",
            RecordType::A,
            Some(1232),
        )
        .await;
        assert_eq!(first_a(&reply), Some([192, 0, 2, 1].into()));
    }
    assert_eq!(cluster.asked() - before, 1);
}

const LAB_ROOT: &str = "\
. 86400 SOA ns.root. h.root. 1 1800 900 604800 86400
. 86400 NS ns.root.
ns.root. 86400 A LAB.1
test. 86400 NS ns.test.
ns.test. 86400 A LAB.2
";
const LAB_TEST: &str = "\
test. 86400 SOA ns.test. h.test. 1 1800 900 604800 86400
test. 86400 NS ns.test.
ns.test. 86400 A LAB.2
cluster.test. 86400 NS ns.cluster.test.
ns.cluster.test. 86400 A LAB.3
";
const LAB_CLUSTER: &str = "\
cluster.test. 3600 SOA ns h 1 1800 900 604800 300
cluster.test. 3600 NS ns.cluster.test.
ns.cluster.test. 3600 A LAB.3
*.cluster.test. 3600 A 192.0.2.1
";

/// Recursive members share zone cuts: a member that lacks one asks the
/// member that owns it before the parent's servers, so NSD's test.
/// server is asked about cluster.test. once for the cluster, not once
/// per member that resolves a name there.
#[tokio::test]
async fn a_zone_cut_is_learned_once_for_the_cluster() {
    require_lab!();
    let lab = common::lab::Lab::start(&[
        common::lab::Host::Nsd(1, &[(".", LAB_ROOT)]),
        common::lab::Host::Nsd(2, &[("test.", LAB_TEST)]),
        common::lab::Host::Nsd(3, &[("cluster.test.", LAB_CLUSTER)]),
    ])
    .await;
    let hints = lab.hints("ns.root.", 1);
    let keys = tempfile::tempdir().unwrap();
    write(keys.path(), "good.key", SECRET);
    let port = free_port(121);
    let lasts = [121u8, 122, 123, 124];
    let mut members = Vec::new();
    for last in lasts {
        let config = format!(
            "[resolver]\nmode = \"recursive\"\nroot_hints = \"{}\"\ndnssec = false\n\
             [cache]\nprefetch = false\n\
             [special_use]\nnodefault = [\"test.\"]\n{}",
            hints.display(),
            siblings_section(
                at(last, port),
                &[at(lasts[0], port)],
                ("100ms", "300ms"),
                &keys.path().join("good.key")
            )
        );
        members.push(start_with(&[], &config).await);
    }
    let refs: Vec<&TestServer> = members.iter().collect();
    converge(&refs).await;
    let servers: Vec<SocketAddr> = members.iter().map(TestServer::addr).collect();
    // Every member resolves names it owns, each needing cluster.test.'s
    // cut, one member after another.
    let names: Vec<String> = (0..40).map(|i| format!("c{i}.cluster.test.")).collect();
    for server in &servers {
        ask_all(&[*server], &names, 0).await;
    }
    let counts = lab.settled().await;
    let asked = |host: u8| {
        counts
            .iter()
            .find(|(h, _)| *h == host)
            .map_or(0, |(_, n)| *n)
    };
    let shared: u64 = members
        .iter()
        .map(|m| m.server.counters().iteration(IterationEvent::SiblingCut))
        .sum();
    eprintln!(
        "4 recursive members, 40 names: root asked {}, test. asked {}, cluster.test. asked {}; \
         {shared} cuts taken from a sibling",
        asked(1),
        asked(2),
        asked(3)
    );
    // Each member learning the cut itself asks test. about it once or
    // more (5 times in a run without sharing); shared, only the member
    // that owns the cut does, and the one that owns test.'s may meet it
    // on the way.
    assert!(asked(2) <= 2, "test. was asked {} times", asked(2));
    assert!(shared >= 2, "{shared} cuts taken from a sibling");
    // Every name was resolved once for the cluster.
    assert!(asked(3) <= 42, "cluster.test. was asked {} times", asked(3));

    // Below sub.cluster.test., which is no cut (the wildcard answers):
    // the member that owns it finds that out once, and tells the others,
    // who would each have asked (44 queries for these 40 names).
    let before = asked(3);
    let names: Vec<String> = (0..40).map(|i| format!("d{i}.sub.cluster.test.")).collect();
    for server in &servers {
        ask_all(&[*server], &names, 0).await;
    }
    let counts = lab.settled().await;
    let below = counts.iter().find(|(h, _)| *h == 3).map_or(0, |(_, n)| *n) - before;
    eprintln!("40 names below sub.cluster.test.: cluster.test. asked {below} times");
    assert!(below <= 42, "cluster.test. was asked {below} times");
}

//! Recursion from the root, against a DNS hierarchy built from hearsay
//! authoritative servers (and fakes where a server must misbehave), each on
//! its own 127.0.0.x address, all on one ephemeral port.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::fake::{Behaviour, EntFault, FakeUpstream};
use common::*;
use hearsay::counters::{IterationEvent, Transport};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

const ROOT: &str = r#"
$ORIGIN .
$TTL 86400
@ SOA a.root-servers.test. hostmaster.root-servers.test. 1 1800 900 604800 86400
  NS a.root-servers.test.
a.root-servers.test. A 127.0.0.10
test. NS ns1.test.
ns1.test. A 127.0.0.11
example. NS ns.example.
ns.example. A 127.0.0.12
"#;

const TEST_TLD: &str = r#"
$ORIGIN test.
$TTL 86400
@ SOA ns1 hostmaster 1 1800 900 604800 300
  NS ns1
ns1 A 127.0.0.11
a.root-servers A 127.0.0.10
; In-bailiwick glue.
deep NS ns.deep
ns.deep A 127.0.0.13
; The only name server's name is in another TLD: no glue.
cross NS ns.cross.example.
; The first server listed does not serve the zone.
lame NS ns.lame
lame NS ns2.lame
ns.lame A 127.0.0.14
ns2.lame A 127.0.0.13
; The first server listed does not answer at all.
dead NS ns.dead
dead NS ns2.dead
ns.dead A 127.0.0.15
ns2.dead A 127.0.0.13
; A server that adds records for other zones.
poison NS ns.poison
ns.poison A 127.0.0.16
; A server that gets empty non-terminals wrong.
broken NS ns.broken
ns.broken A 127.0.0.18
; NXNS: every name server is in a domain that does not exist.
nxns NS ns.gone1.example.
nxns NS ns.gone2.example.
nxns NS ns.gone3.example.
nxns NS ns.gone4.example.
nxns NS ns.gone5.example.
nxns NS ns.gone6.example.
nxns NS ns.gone7.example.
nxns NS ns.gone8.example.
nxns NS ns.gone9.example.
nxns NS ns.gone10.example.
nxns NS ns.gone11.example.
nxns NS ns.gone12.example.
nxns NS ns.gone13.example.
nxns NS ns.gone14.example.
nxns NS ns.gone15.example.
nxns NS ns.gone16.example.
nxns NS ns.gone17.example.
nxns NS ns.gone18.example.
nxns NS ns.gone19.example.
nxns NS ns.gone20.example.
"#;

const EXAMPLE_TLD: &str = r#"
$ORIGIN example.
$TTL 86400
@ SOA ns hostmaster 1 1800 900 604800 300
  NS ns
ns A 127.0.0.12
cross NS ns.cross
ns.cross A 127.0.0.13
"#;

const DEEP_TEST: &str = r#"
$ORIGIN deep.test.
$TTL 3600
@ SOA ns hostmaster 1 1800 900 604800 60
  NS ns
ns A 127.0.0.13
www A 192.0.2.1
alias CNAME www.cross.example.
loop CNAME loop.cross.example.
*.wild A 192.0.2.9
sub NS ns.sub
ns.sub A 127.0.0.17
"#;

const CROSS_EXAMPLE: &str = r#"
$ORIGIN cross.example.
$TTL 3600
@ SOA ns hostmaster 1 1800 900 604800 60
  NS ns
ns A 127.0.0.13
www A 192.0.2.2
loop CNAME loop.deep.test.
"#;

const CROSS_TEST: &str = r#"
$ORIGIN cross.test.
$TTL 3600
@ SOA ns.cross.example. hostmaster 1 1800 900 604800 60
  NS ns.cross.example.
www A 192.0.2.3
"#;

const LAME_TEST: &str = r#"
$ORIGIN lame.test.
$TTL 3600
@ SOA ns2 hostmaster 1 1800 900 604800 60
  NS ns
  NS ns2
ns A 127.0.0.14
ns2 A 127.0.0.13
www A 192.0.2.4
"#;

const DEAD_TEST: &str = r#"
$ORIGIN dead.test.
$TTL 3600
@ SOA ns2 hostmaster 1 1800 900 604800 60
  NS ns
  NS ns2
ns A 127.0.0.15
ns2 A 127.0.0.13
www A 192.0.2.5
"#;

const SUB_DEEP_TEST: &str = r#"
$ORIGIN sub.deep.test.
$TTL 3600
@ SOA ns hostmaster 1 1800 900 604800 60
  NS ns
ns A 127.0.0.17
host A 192.0.2.6
"#;

/// The whole hierarchy, running.
struct Hierarchy {
    port: u16,
    servers: Vec<(&'static str, TestServer)>,
    dead: FakeUpstream,
    poison: FakeUpstream,
    broken: FakeUpstream,
    dir: tempfile::TempDir,
}

fn at(last: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::from([127, 0, 0, last]), port)
}

impl Hierarchy {
    async fn start() -> Hierarchy {
        let root = start_at(at(10, 0), &[(".", ROOT)], "").await;
        let port = root.addr().port();
        let mut servers = vec![("root", root)];
        for (name, last, zones) in [
            ("test", 11, vec![("test.", TEST_TLD)]),
            ("example", 12, vec![("example.", EXAMPLE_TLD)]),
            (
                "leaf",
                13,
                vec![
                    ("deep.test.", DEEP_TEST),
                    ("cross.example.", CROSS_EXAMPLE),
                    ("cross.test.", CROSS_TEST),
                    ("lame.test.", LAME_TEST),
                    ("dead.test.", DEAD_TEST),
                ],
            ),
            // Serves nothing: REFUSED for lame.test.
            ("lame", 14, vec![]),
            ("sub", 17, vec![("sub.deep.test.", SUB_DEEP_TEST)]),
        ] {
            servers.push((name, start_at(at(last, port), &zones, "").await));
        }
        let fake = |last, behaviour| async move {
            FakeUpstream::start_on(at(last, port), behaviour)
                .await
                .expect("fake on the shared port")
        };
        let dead = fake(15, Behaviour::Drop).await;
        let poison = fake(16, Behaviour::Poison).await;
        let broken = fake(
            18,
            Behaviour::BrokenEnt {
                exists: "a.b.c.broken.test.".into(),
                fault: EntFault::NxDomain,
            },
        )
        .await;
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "root.hints",
            ". 3600000 NS a.root-servers.test.\na.root-servers.test. 3600000 A 127.0.0.10\n",
        );
        Hierarchy {
            port,
            servers,
            dead,
            poison,
            broken,
            dir,
        }
    }

    /// A recursive resolver using this hierarchy's root, primed.
    async fn resolver(&self, extra: &str) -> TestServer {
        let hints = self.dir.path().join("root.hints");
        let resolver = start_with(
            &[],
            &format!(
                "[resolver]\nmode = \"recursive\"\nroot_hints = \"{}\"\nauthority_port = {}\n{extra}",
                hints.display(),
                self.port
            ),
        )
        .await;
        until("priming", || {
            resolver.server.counters().iteration(IterationEvent::Primed) == 1
        })
        .await;
        resolver
    }

    /// Queries each authoritative server has received.
    fn queries(&self) -> Vec<(&'static str, u64)> {
        self.servers
            .iter()
            .map(|(name, s)| {
                let c = s.server.counters();
                (*name, c.queries(Transport::Udp) + c.queries(Transport::Tcp))
            })
            .collect()
    }

    fn total(&self) -> u64 {
        self.queries().iter().map(|(_, n)| n).sum::<u64>()
            + (self.dead.log().len() + self.poison.log().len() + self.broken.log().len()) as u64
    }
}

fn answers(reply: &Message) -> Vec<String> {
    lines(&reply.answers)
}

async fn ask(resolver: &TestServer, name: &str, rtype: RecordType) -> Message {
    udp_query(resolver.addr(), name, rtype, Some(1232)).await
}

#[tokio::test]
async fn a_name_three_delegations_deep_resolves_and_then_comes_from_the_cache() {
    let net = Hierarchy::start().await;
    let resolver = net.resolver("").await;
    let reply = ask(&resolver, "host.sub.deep.test.", RecordType::A).await;
    assert_eq!(answers(&reply), ["host.sub.deep.test. 3600 IN A 192.0.2.6"]);
    assert!(reply.metadata.recursion_available && !reply.metadata.authoritative);
    let before = net.total();
    let again = ask(&resolver, "host.sub.deep.test.", RecordType::A).await;
    assert_eq!(answers(&again), answers(&reply));
    assert_eq!(
        net.total(),
        before,
        "the second ask is answered from the cache"
    );
}

#[tokio::test]
async fn cold_and_warm_query_counts_show_no_wasted_queries() {
    let net = Hierarchy::start().await;
    let resolver = net.resolver("").await;
    // Priming asked the root once.
    assert_eq!(net.queries()[0], ("root", 1));
    ask(&resolver, "host.sub.deep.test.", RecordType::A).await;
    // With QNAME minimisation each server is asked once, one label deeper
    // than its zone: root "test.", test "deep.test.", deep.test
    // "sub.deep.test.", sub.deep.test the full name.
    assert_eq!(
        net.queries(),
        [
            ("root", 2),
            ("test", 1),
            ("example", 0),
            ("leaf", 1),
            ("lame", 0),
            ("sub", 1)
        ]
    );
    // Warm: the same name costs nothing; a new name in a known zone costs
    // one query, to that zone's server only.
    ask(&resolver, "host.sub.deep.test.", RecordType::A).await;
    let nx = ask(&resolver, "other.sub.deep.test.", RecordType::A).await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(
        net.queries(),
        [
            ("root", 2),
            ("test", 1),
            ("example", 0),
            ("leaf", 1),
            ("lame", 0),
            ("sub", 2)
        ]
    );
}

#[tokio::test]
async fn cnames_are_chased_into_another_tld() {
    let net = Hierarchy::start().await;
    let resolver = net.resolver("").await;
    let reply = ask(&resolver, "alias.deep.test.", RecordType::A).await;
    assert_eq!(
        answers(&reply),
        [
            "alias.deep.test. 3600 IN CNAME www.cross.example.",
            "www.cross.example. 3600 IN A 192.0.2.2"
        ]
    );
    let before = net.total();
    ask(&resolver, "alias.deep.test.", RecordType::A).await;
    ask(&resolver, "www.cross.example.", RecordType::A).await;
    assert_eq!(net.total(), before, "both pieces cached");
}

#[tokio::test]
async fn name_servers_named_in_another_tld_are_looked_up() {
    let net = Hierarchy::start().await;
    let resolver = net.resolver("").await;
    let reply = ask(&resolver, "www.cross.test.", RecordType::A).await;
    assert_eq!(answers(&reply), ["www.cross.test. 3600 IN A 192.0.2.3"]);
    // The name server's address came from its own zone, and is cached.
    let before = net.total();
    let ns = ask(&resolver, "ns.cross.example.", RecordType::A).await;
    assert_eq!(answers(&ns), ["ns.cross.example. 3600 IN A 127.0.0.13"]);
    assert_eq!(net.total(), before);
}

#[tokio::test]
async fn wildcards_and_missing_names() {
    let net = Hierarchy::start().await;
    let resolver = net.resolver("").await;
    let wild = ask(&resolver, "anything.wild.deep.test.", RecordType::A).await;
    assert_eq!(
        answers(&wild),
        ["anything.wild.deep.test. 3600 IN A 192.0.2.9"]
    );

    let nx = ask(&resolver, "nope.deep.test.", RecordType::A).await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    // The SOA of the zone that said so, with its negative TTL.
    assert_eq!(
        lines(&nx.authorities),
        ["deep.test. 60 IN SOA ns.deep.test. hostmaster.deep.test. 1 1800 900 604800 60"]
    );
    let nodata = ask(&resolver, "www.deep.test.", RecordType::MX).await;
    assert_eq!(
        (nodata.metadata.response_code, nodata.answers.len()),
        (ResponseCode::NoError, 0)
    );
    assert_eq!(nodata.authorities.len(), 1);
    let before = net.total();
    for rtype in [RecordType::A, RecordType::TXT] {
        let again = ask(&resolver, "nope.deep.test.", rtype).await;
        assert_eq!(again.metadata.response_code, ResponseCode::NXDomain);
    }
    ask(&resolver, "www.deep.test.", RecordType::MX).await;
    assert_eq!(net.total(), before, "negative answers cached");
}

#[tokio::test]
async fn lame_and_dead_servers_are_passed_over() {
    let net = Hierarchy::start().await;
    let resolver = net.resolver("timeout = \"3s\"\n").await;
    let lame = ask(&resolver, "www.lame.test.", RecordType::A).await;
    assert_eq!(answers(&lame), ["www.lame.test. 3600 IN A 192.0.2.4"]);
    assert!(resolver.server.counters().iteration(IterationEvent::Lame) >= 1);

    let started = Instant::now();
    let dead = ask(&resolver, "www.dead.test.", RecordType::A).await;
    assert_eq!(answers(&dead), ["www.dead.test. 3600 IN A 192.0.2.5"]);
    assert!(started.elapsed() < Duration::from_secs(3));
    // Known dead now: more names in the zone do not wait for it again.
    let started = Instant::now();
    for i in 0..5 {
        ask(&resolver, &format!("h{i}.dead.test."), RecordType::A).await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        net.dead.log().len() <= 2,
        "dead server asked {} times",
        net.dead.log().len()
    );
}

#[tokio::test]
async fn poisoned_records_never_reach_the_cache() {
    let net = Hierarchy::start().await;
    let resolver = net.resolver("").await;
    // First, so that poison accepted here would answer what follows.
    let reply = ask(&resolver, "www.poison.test.", RecordType::A).await;
    assert_eq!(answers(&reply), ["www.poison.test. 300 IN A 192.0.2.7"]);
    assert!(resolver.server.counters().bailiwick_dropped >= 4);

    let deep = ask(&resolver, "www.deep.test.", RecordType::A).await;
    assert_eq!(answers(&deep), ["www.deep.test. 3600 IN A 192.0.2.1"]);
    let cross = ask(&resolver, "www.cross.example.", RecordType::A).await;
    assert_eq!(answers(&cross), ["www.cross.example. 3600 IN A 192.0.2.2"]);
    // ns.evil. was never believed: the root says there is no evil. TLD.
    let evil = ask(&resolver, "ns.evil.", RecordType::A).await;
    assert_eq!(evil.metadata.response_code, ResponseCode::NXDomain);
    // And deep.test's servers are still the real ones.
    let before = net.queries();
    ask(&resolver, "other.deep.test.", RecordType::A).await;
    let after = net.queries();
    assert_eq!(
        after[3].1,
        before[3].1 + 1,
        "asked the real deep.test server"
    );
}

#[tokio::test]
async fn qname_minimisation_shows_one_label_at_a_time_and_survives_broken_servers() {
    let net = Hierarchy::start().await;
    let resolver = net.resolver("").await;
    net.poison.set(Behaviour::Authoritative);
    ask(&resolver, "a.b.c.poison.test.", RecordType::A).await;
    let seen: Vec<String> = net.poison.log().iter().map(|r| r.name.clone()).collect();
    assert_eq!(
        seen,
        ["c.poison.test.", "b.c.poison.test.", "a.b.c.poison.test."]
    );

    // NXDOMAIN for an empty non-terminal is not believed: the full name is
    // asked instead (RFC 9156 section 2.3).
    let reply = ask(&resolver, "a.b.c.broken.test.", RecordType::A).await;
    assert_eq!(answers(&reply), ["a.b.c.broken.test. 300 IN A 192.0.2.7"]);
    let seen: Vec<String> = net.broken.log().iter().map(|r| r.name.clone()).collect();
    assert_eq!(seen, ["c.broken.test.", "a.b.c.broken.test."]);
    // So are the other ways a minimised query can fail, each followed by
    // the full name, never by SERVFAIL.
    for (i, fault) in [
        EntFault::WrongType,
        EntFault::ServFail,
        EntFault::Refused,
        EntFault::Silent,
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("x{i}.y{i}.broken.test.");
        net.broken.set(Behaviour::BrokenEnt {
            exists: name.clone(),
            fault,
        });
        let reply = ask(&resolver, &name, RecordType::A).await;
        assert_eq!(
            answers(&reply),
            [format!("{name} 300 IN A 192.0.2.7")],
            "{fault:?}"
        );
        let seen: Vec<String> = net
            .broken
            .log()
            .iter()
            .map(|r| r.name.clone())
            .filter(|n| n.ends_with(&format!("y{i}.broken.test.")))
            .collect();
        assert_eq!(seen, [format!("y{i}.broken.test."), name], "{fault:?}");
    }

    // Turned off, servers see the whole name at once.
    let plain = net.resolver("qname_minimisation = false\n").await;
    ask(&plain, "x.y.poison.test.", RecordType::A).await;
    assert!(
        net.poison
            .log()
            .iter()
            .any(|r| r.name == "x.y.poison.test.")
    );
    assert!(!net.poison.log().iter().any(|r| r.name == "y.poison.test."));
}

#[tokio::test]
async fn query_names_go_out_in_random_case_and_the_echo_is_checked() {
    let net = Hierarchy::start().await;
    let resolver = net.resolver("timeout = \"1s\"\n").await;
    net.poison.set(Behaviour::Authoritative);
    for i in 0..4 {
        ask(
            &resolver,
            &format!("caseless{i}.poison.test."),
            RecordType::A,
        )
        .await;
    }
    let mixed = net
        .poison
        .log()
        .iter()
        .filter(|r| r.asked != r.asked.to_ascii_lowercase())
        .count();
    assert!(mixed >= 3, "names went out in random case ({mixed} of 4)");

    // A server that loses the case is asked once more in lowercase (and
    // its lowercase answer then accepted), so it still resolves.
    net.poison.set(Behaviour::LowercaseEcho);
    let asked_before = net.poison.log().len();
    let reply = ask(&resolver, "echo.poison.test.", RecordType::A).await;
    assert_eq!(answers(&reply), ["echo.poison.test. 300 IN A 192.0.2.7"]);
    let log = net.poison.log();
    let retries: Vec<_> = log[asked_before..]
        .iter()
        .filter(|r| r.name == "echo.poison.test.")
        .collect();
    assert_eq!(retries.len(), 2, "{retries:?}");
    assert_ne!(retries[0].asked, retries[0].asked.to_ascii_lowercase());
    assert_eq!(retries[1].asked, retries[1].asked.to_ascii_lowercase());
    assert_eq!(
        resolver
            .server
            .counters()
            .upstream(hearsay::counters::UpstreamEvent::CaseFallback),
        1
    );
    // With randomisation off, nothing to fall back from.
    let trusting = net.resolver("case_randomisation = false\n").await;
    let reply = ask(&trusting, "echo.poison.test.", RecordType::A).await;
    assert_eq!(answers(&reply), ["echo.poison.test. 300 IN A 192.0.2.7"]);
}

#[tokio::test]
async fn work_per_question_is_bounded() {
    let net = Hierarchy::start().await;
    let resolver = net.resolver("").await;
    // NXNS: twenty name servers, all in domains that do not exist.
    let before = net.total();
    let reply = ask(&resolver, "www.nxns.test.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    let spent = net.total() - before;
    assert!(
        spent <= u64::from(hearsay::resolve::MAX_QUERIES),
        "{spent} queries for one question"
    );
    assert!(
        resolver
            .server
            .counters()
            .iteration(IterationEvent::LimitReached)
            >= 1
    );

    // A CNAME loop across two zones ends too.
    let reply = ask(&resolver, "loop.deep.test.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
}

//! The caching forwarder: a real hearsay resolver in front of hearsay's own
//! authoritative server or a fake upstream that misbehaves on command.

mod common;

use std::time::{Duration, Instant};

use common::fake::{Behaviour, FakeUpstream, SERVER_COOKIE};
use common::*;
use hearsay::counters::{Source, Transport, UpstreamEvent};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

/// The TTL of the first answer record, or of the SOA for negative answers.
fn ttl(reply: &Message) -> u32 {
    reply
        .answers
        .first()
        .or(reply.authorities.first())
        .map(|r| r.ttl)
        .expect("a record")
}

#[tokio::test]
async fn a_repeated_query_reaches_the_upstream_once_and_its_ttl_counts_down() {
    let auth = start_example().await;
    let resolver = start_resolver(&[auth.addr()], "").await;
    let upstream_queries = || auth.server.counters().queries(Transport::Udp);

    let first = udp_query(
        resolver.addr(),
        "www.example.test.",
        RecordType::A,
        Some(1232),
    )
    .await;
    assert_eq!(
        lines(&first.answers),
        ["www.example.test. 3600 IN A 192.0.2.80"]
    );
    assert!(first.metadata.recursion_available);
    assert!(!first.metadata.authoritative);
    assert_eq!(upstream_queries(), 1);

    let deadline = Instant::now() + DEADLINE;
    loop {
        let again = udp_query(resolver.addr(), "WWW.example.TEST.", RecordType::A, None).await;
        assert_eq!(again.answers.len(), 1);
        if ttl(&again) < 3600 {
            break;
        }
        assert!(Instant::now() < deadline, "TTL never went down");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        upstream_queries(),
        1,
        "every later answer came from the cache"
    );
    assert!(resolver.server.counters().answered(Source::Cache) >= 1);
}

#[tokio::test]
async fn negative_answers_are_cached_for_the_soa_ttl() {
    let auth = start_example().await;
    let resolver = start_resolver(&[auth.addr()], "").await;
    let upstream_queries = || auth.server.counters().queries(Transport::Udp);

    // The zone's SOA has TTL 3600 and MINIMUM 300: negative answers live 300 s.
    let nx = udp_query(resolver.addr(), "nope.example.test.", RecordType::A, None).await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(ttl(&nx), 300);
    assert_eq!(upstream_queries(), 1);
    // NXDOMAIN answers the name for every type.
    for rtype in [RecordType::A, RecordType::AAAA, RecordType::TXT] {
        let again = udp_query(resolver.addr(), "nope.example.test.", rtype, None).await;
        assert_eq!(
            again.metadata.response_code,
            ResponseCode::NXDomain,
            "{rtype}"
        );
        assert_eq!(again.authorities.len(), 1, "{rtype}: SOA in authority");
    }
    assert_eq!(upstream_queries(), 1);

    let nodata = udp_query(resolver.addr(), "www.example.test.", RecordType::MX, None).await;
    assert_eq!(
        (nodata.metadata.response_code, nodata.answers.len()),
        (ResponseCode::NoError, 0)
    );
    assert_eq!(ttl(&nodata), 300);
    udp_query(resolver.addr(), "www.example.test.", RecordType::MX, None).await;
    assert_eq!(upstream_queries(), 2, "NODATA cached for its type");
    udp_query(resolver.addr(), "www.example.test.", RecordType::A, None).await;
    assert_eq!(upstream_queries(), 3, "but not for other types");
}

#[tokio::test]
async fn cname_chains_are_put_together_from_cached_pieces() {
    let auth = start_example().await;
    let resolver = start_resolver(&[auth.addr()], "").await;
    let upstream_queries = || auth.server.counters().queries(Transport::Udp);
    let chain = udp_query(resolver.addr(), "web.example.test.", RecordType::A, None).await;
    assert_eq!(chain.answers.len(), 3);
    assert_eq!(upstream_queries(), 1);
    // Each piece of the chain is cached under its own name.
    let site = udp_query(resolver.addr(), "site.example.test.", RecordType::A, None).await;
    assert_eq!(
        lines(&site.answers),
        [
            "site.example.test. 3600 IN CNAME www.example.test.",
            "www.example.test. 3600 IN A 192.0.2.80"
        ]
    );
    let www = udp_query(resolver.addr(), "www.example.test.", RecordType::A, None).await;
    assert_eq!(www.answers.len(), 1);
    let again = udp_query(resolver.addr(), "web.example.test.", RecordType::A, None).await;
    assert_eq!(lines(&again.answers), lines(&chain.answers));
    assert_eq!(upstream_queries(), 1);
}

#[tokio::test]
async fn only_the_answer_chain_is_cached() {
    let fake = FakeUpstream::start(Behaviour::Answer { ttl: 300 }).await;
    let resolver = start_resolver(&[fake.addr], "").await;
    let reply = udp_query(resolver.addr(), "alias.example.", RecordType::A, None).await;
    assert_eq!(
        lines(&reply.answers),
        [
            "alias.example. 300 IN CNAME target.example.",
            "target.example. 300 IN A 192.0.2.2"
        ]
    );
    assert!(reply.authorities.is_empty() && reply.additionals.is_empty());
    // The fake put poison.example. in every section; asking for it must go
    // upstream, not come from the cache.
    udp_query(resolver.addr(), "poison.example.", RecordType::A, None).await;
    assert_eq!(fake.count("poison.example."), 1);
}

#[tokio::test]
async fn ttls_are_clamped_by_the_configured_limits() {
    let fake = FakeUpstream::start(Behaviour::Answer { ttl: 5 }).await;
    let resolver = start_resolver(
        &[fake.addr],
        "[cache]\nmin_ttl = 60\nmax_ttl = 600\nmax_negative_ttl = 10\n",
    )
    .await;
    let low = udp_query(resolver.addr(), "low.example.", RecordType::A, None).await;
    assert_eq!(ttl(&low), 60, "raised to min_ttl");
    fake.set(Behaviour::Answer { ttl: 100_000 });
    let high = udp_query(resolver.addr(), "high.example.", RecordType::A, None).await;
    assert_eq!(ttl(&high), 600, "lowered to max_ttl");
    // SOA TTL 3600, MINIMUM 60, limited to 10.
    let nx = udp_query(resolver.addr(), "nx.example.", RecordType::A, None).await;
    assert_eq!(ttl(&nx), 10, "negative TTL limited");
}

#[tokio::test]
async fn concurrent_identical_misses_make_one_upstream_query() {
    let fake = FakeUpstream::start(Behaviour::Delay {
        ttl: 300,
        delay: Duration::from_millis(300),
    })
    .await;
    let resolver = start_resolver(&[fake.addr], "").await;
    let addr = resolver.addr();
    let clients: Vec<_> = (0..200)
        .map(|_| {
            tokio::spawn(
                async move { udp_query(addr, "popular.example.", RecordType::A, None).await },
            )
        })
        .collect();
    for client in clients {
        let reply = client.await.unwrap();
        assert_eq!(
            lines(&reply.answers),
            ["popular.example. 300 IN A 192.0.2.1"]
        );
    }
    assert_eq!(
        fake.count("popular.example."),
        1,
        "one upstream query for 200 clients"
    );
    assert!(resolver.server.counters().coalesced >= 150);
}

#[tokio::test]
async fn a_dead_upstream_is_passed_over_within_the_deadline() {
    let dead = FakeUpstream::start(Behaviour::Drop).await;
    let good = FakeUpstream::start(Behaviour::Answer { ttl: 300 }).await;
    let resolver = start_resolver(&[dead.addr, good.addr], "timeout = \"2s\"\n").await;
    for i in 0..20 {
        let started = Instant::now();
        let reply = udp_query(
            resolver.addr(),
            &format!("host{i}.example."),
            RecordType::A,
            None,
        )
        .await;
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::NoError,
            "host{i}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "host{i} within the deadline"
        );
    }
    // Once found dead, the dead one is only probed now and then.
    assert!(
        dead.log().len() <= 5,
        "dead upstream asked {} times",
        dead.log().len()
    );
    assert_eq!(good.log().len(), 20);
}

#[tokio::test]
async fn servfail_from_one_upstream_moves_on_to_the_next() {
    let failing = FakeUpstream::start(Behaviour::ServFail).await;
    let good = FakeUpstream::start(Behaviour::Answer { ttl: 300 }).await;
    let resolver = start_resolver(&[failing.addr, good.addr], "").await;
    for i in 0..5 {
        let reply = udp_query(
            resolver.addr(),
            &format!("h{i}.example."),
            RecordType::A,
            None,
        )
        .await;
        assert_eq!(reply.answers.len(), 1);
    }
}

#[tokio::test]
async fn when_every_upstream_fails_the_client_gets_servfail_in_time() {
    let dead = FakeUpstream::start(Behaviour::Drop).await;
    let resolver = start_resolver(&[dead.addr], "timeout = \"400ms\"\n").await;
    let started = Instant::now();
    let reply = udp_query(resolver.addr(), "lost.example.", RecordType::A, None).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    assert!(started.elapsed() < Duration::from_millis(1500));
    // Over TCP too: an answer, never silence.
    let reply = tcp_query(resolver.addr(), "lost2.example.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
}

#[tokio::test]
async fn spoofed_and_garbled_answers_are_ignored_and_never_cached() {
    let fake = FakeUpstream::start(Behaviour::WrongId).await;
    let resolver = start_resolver(&[fake.addr], "timeout = \"300ms\"\n").await;
    for (behaviour, event) in [
        (Behaviour::WrongId, UpstreamEvent::Mismatched),
        (Behaviour::WrongQuestion, UpstreamEvent::Mismatched),
        (Behaviour::Garbage, UpstreamEvent::Malformed),
    ] {
        fake.set(behaviour.clone());
        let name = format!("{:?}.example.", behaviour).to_ascii_lowercase();
        let before = resolver.server.counters().upstream(event);
        let reply = udp_query(resolver.addr(), &name, RecordType::A, None).await;
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::ServFail,
            "{behaviour:?}"
        );
        assert!(
            resolver.server.counters().upstream(event) > before,
            "{behaviour:?} counted"
        );

        fake.set(Behaviour::Answer { ttl: 300 });
        let asked = fake.count(&name);
        let reply = udp_query(resolver.addr(), &name, RecordType::A, None).await;
        assert_eq!(
            lines(&reply.answers),
            [format!("{name} 300 IN A 192.0.2.1")],
            "{behaviour:?}"
        );
        assert_eq!(
            fake.count(&name),
            asked + 1,
            "{behaviour:?}: nothing was cached from the bad answer"
        );
    }
}

/// Client cookies (RFC 7873): sent to every upstream, the server cookie
/// it gives remembered and returned, a forged answer (another client
/// cookie) dropped, BADCOOKIE retried once with the new cookie, and a
/// server that stops sending cookies checked over TCP, then forgotten.
#[tokio::test]
async fn client_cookies_are_sent_remembered_and_checked() {
    let fake = FakeUpstream::start(Behaviour::Cookies {
        strict: false,
        forge_first: false,
    })
    .await;
    let resolver = start_resolver(&[fake.addr], "timeout = \"1s\"\n").await;
    let ask = |name: &'static str| {
        let addr = resolver.addr();
        async move { lines(&udp_query(addr, name, RecordType::A, None).await.answers) }
    };
    assert_eq!(ask("c1.example.").await, ["c1.example. 300 IN A 192.0.2.1"]);
    assert_eq!(ask("c2.example.").await, ["c2.example. 300 IN A 192.0.2.1"]);
    let log = fake.log();
    let first = log[0].cookie.clone().expect("a client cookie");
    assert_eq!(first.len(), 8, "no server cookie known yet");
    let mut second = first.clone();
    second.extend_from_slice(&SERVER_COOKIE);
    assert_eq!(log[1].cookie, Some(second), "the server cookie comes back");

    // A forged answer that arrives first is dropped.
    fake.set(Behaviour::Cookies {
        strict: false,
        forge_first: true,
    });
    let mismatched = resolver
        .server
        .counters()
        .upstream(UpstreamEvent::Mismatched);
    assert_eq!(ask("c3.example.").await, ["c3.example. 300 IN A 192.0.2.1"]);
    assert!(
        resolver
            .server
            .counters()
            .upstream(UpstreamEvent::Mismatched)
            > mismatched
    );

    // The server stops doing cookies: its cookieless UDP answer is
    // checked over TCP, and then its cookie is forgotten.
    fake.set(Behaviour::Answer { ttl: 300 });
    assert_eq!(ask("c4.example.").await, ["c4.example. 300 IN A 192.0.2.1"]);
    assert_eq!(ask("c5.example.").await, ["c5.example. 300 IN A 192.0.2.1"]);
    let transports: Vec<(String, bool)> = fake.log()[3..]
        .iter()
        .map(|r| (r.name.clone(), r.tcp))
        .collect();
    assert_eq!(
        transports,
        [
            ("c4.example.".to_string(), false),
            ("c4.example.".to_string(), true),
            ("c5.example.".to_string(), false),
        ]
    );

    // BADCOOKIE: asked once more, with the cookie it gave.
    fake.set(Behaviour::Cookies {
        strict: true,
        forge_first: false,
    });
    assert_eq!(ask("c6.example.").await, ["c6.example. 300 IN A 192.0.2.1"]);
    assert_eq!(
        resolver
            .server
            .counters()
            .upstream(UpstreamEvent::CookieRetry),
        1
    );

    // Turned off, no cookie is sent.
    let plain = start_resolver(&[fake.addr], "send_cookies = false\n").await;
    fake.set(Behaviour::Answer { ttl: 300 });
    udp_query(plain.addr(), "c7.example.", RecordType::A, None).await;
    let last = fake.log().pop().unwrap();
    assert_eq!(
        (last.name.as_str(), last.edns, last.cookie),
        ("c7.example.", true, None)
    );
}

#[tokio::test]
async fn truncated_upstream_answers_are_retried_over_tcp() {
    let fake = FakeUpstream::start(Behaviour::Truncate { ttl: 300 }).await;
    let resolver = start_resolver(&[fake.addr], "").await;
    let reply = udp_query(resolver.addr(), "big.example.", RecordType::A, None).await;
    assert_eq!(lines(&reply.answers), ["big.example. 300 IN A 192.0.2.1"]);
    let log = fake.log();
    assert_eq!((log.len(), log[0].tcp, log[1].tcp), (2, false, true));
    assert_eq!(
        resolver.server.counters().upstream(UpstreamEvent::TcpRetry),
        1
    );
}

#[tokio::test]
async fn stale_data_is_served_only_when_no_upstream_answers() {
    let fake = FakeUpstream::start(Behaviour::Answer { ttl: 1 }).await;
    let resolver = start_resolver(
        &[fake.addr],
        "timeout = \"300ms\"\n[cache]\nprefetch = false\n",
    )
    .await;
    let fresh = udp_query(resolver.addr(), "short.example.", RecordType::A, None).await;
    assert_eq!(ttl(&fresh), 1);

    // Expired while the upstream answers: fresh data, never the stale copy.
    let deadline = Instant::now() + DEADLINE;
    while fake.count("short.example.") < 2 {
        assert!(Instant::now() < deadline, "never refetched");
        let reply = udp_query(resolver.addr(), "short.example.", RecordType::A, None).await;
        assert_eq!(ttl(&reply), 1, "fresh or cached, not stale");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(resolver.server.counters().answered(Source::Stale), 0);

    // The upstream goes silent: once the record expires, it is served
    // stale with TTL 30 (RFC 8767).
    fake.set(Behaviour::Drop);
    let deadline = Instant::now() + DEADLINE;
    loop {
        let reply = udp_query(resolver.addr(), "short.example.", RecordType::A, Some(1232)).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert_eq!(reply.answers.len(), 1);
        if ttl(&reply) == 30 {
            // Extended DNS Error 3, Stale Answer (RFC 8767 section 6).
            let options = reply.edns.as_ref().expect("OPT").options().as_ref();
            let ede = options.iter().find_map(|(_, option)| match option {
                hickory_proto::rr::rdata::opt::EdnsOption::Unknown(15, data) => Some(data.clone()),
                _ => None,
            });
            assert_eq!(ede, Some(vec![0, 3]), "{options:?}");
            break;
        }
        assert!(Instant::now() < deadline, "no stale answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(resolver.server.counters().answered(Source::Stale) >= 1);
    // A name never seen gets SERVFAIL, not something stale.
    let unknown = udp_query(resolver.addr(), "unknown.example.", RecordType::A, None).await;
    assert_eq!(unknown.metadata.response_code, ResponseCode::ServFail);
}

#[tokio::test]
async fn prefetch_refreshes_a_hot_entry_before_it_expires() {
    let fake = FakeUpstream::start(Behaviour::Answer { ttl: 3 }).await;
    let resolver = start_resolver(&[fake.addr], "").await;
    udp_query(resolver.addr(), "hot.example.", RecordType::A, None).await;
    let deadline = Instant::now() + DEADLINE;
    while fake.count("hot.example.") < 2 {
        assert!(Instant::now() < deadline, "never refreshed");
        let reply = udp_query(resolver.addr(), "hot.example.", RecordType::A, None).await;
        assert_eq!(reply.answers.len(), 1);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = fake.log();
    let refreshed_after = log[1].at - log[0].at;
    assert!(
        refreshed_after < Duration::from_secs(3),
        "refreshed before expiry, after {refreshed_after:?}"
    );
    assert!(
        refreshed_after >= Duration::from_millis(2500),
        "only in the last tenth of the TTL, not after {refreshed_after:?}"
    );
    let counters = resolver.server.counters();
    assert_eq!(
        counters.answered(Source::Upstream),
        1,
        "no client waited on a miss"
    );
    assert_eq!(counters.prefetches, 1);
}

#[tokio::test]
async fn only_allowed_clients_may_recurse() {
    let fake = FakeUpstream::start(Behaviour::Answer { ttl: 300 }).await;
    let zones = [("example.test.", EXAMPLE_ZONE)];
    let upstream = format!("[resolver]\nupstreams = [\"{}\"]\n", fake.addr);

    let closed = start_with(
        &zones,
        &format!("{upstream}[access]\nrecursion = [\"10.0.0.0/8\"]\n"),
    )
    .await;
    let zone = udp_query(closed.addr(), "www.example.test.", RecordType::A, None).await;
    assert!(zone.metadata.authoritative && !zone.metadata.recursion_available);
    assert_eq!(zone.answers.len(), 1, "local zones answer everyone");
    let other = udp_query(closed.addr(), "elsewhere.example.", RecordType::A, None).await;
    assert_eq!(other.metadata.response_code, ResponseCode::Refused);
    assert!(!other.metadata.recursion_available);
    assert!(fake.log().is_empty());

    let open = start_with(&zones, &upstream).await;
    let zone = udp_query(open.addr(), "www.example.test.", RecordType::A, None).await;
    assert!(zone.metadata.authoritative && zone.metadata.recursion_available);
    let other = udp_query(open.addr(), "elsewhere.example.", RecordType::A, None).await;
    assert_eq!(other.answers.len(), 1);
    assert!(other.metadata.recursion_available);

    // Without RD there is no recursion (Unbound's "allow", not
    // "allow_snoop"), so the cache cannot be probed.
    let mut norec = query_message("elsewhere.example.", RecordType::A, None);
    norec.metadata.recursion_desired = false;
    let reply = udp_exchange(open.addr(), &norec.to_vec().unwrap(), DEADLINE)
        .await
        .unwrap();
    assert_eq!(
        Message::from_vec(&reply).unwrap().metadata.response_code,
        ResponseCode::Refused
    );
}

#[tokio::test]
async fn tcp_answers_go_out_as_they_complete() {
    let fake = FakeUpstream::start(Behaviour::Delay {
        ttl: 300,
        delay: Duration::from_millis(300),
    })
    .await;
    let resolver = start_with(
        &[("example.test.", EXAMPLE_ZONE)],
        &format!("[resolver]\nupstreams = [\"{}\"]\n", fake.addr),
    )
    .await;
    let mut stream = tokio::net::TcpStream::connect(resolver.addr())
        .await
        .unwrap();
    let mut slow = query_message("slow.example.", RecordType::A, None);
    slow.metadata.id = 1;
    let mut quick = query_message("www.example.test.", RecordType::A, None);
    quick.metadata.id = 2;
    tcp_send(&mut stream, &slow.to_vec().unwrap()).await;
    tcp_send(&mut stream, &quick.to_vec().unwrap()).await;
    let first = Message::from_vec(&tcp_recv(&mut stream).await.unwrap()).unwrap();
    let second = Message::from_vec(&tcp_recv(&mut stream).await.unwrap()).unwrap();
    assert_eq!(
        (first.metadata.id, second.metadata.id),
        (2, 1),
        "the zone answer did not wait"
    );
    assert_eq!(second.answers.len(), 1);
}

#[tokio::test]
async fn a_server_that_rejects_edns_costs_one_extra_round_trip_not_one_per_question() {
    let upstream = FakeUpstream::start(Behaviour::NoEdns { ttl: 300 }).await;
    let resolver = start_resolver(&[upstream.addr], "").await;
    for name in ["one.example.", "two.example.", "three.example."] {
        let reply = udp_query(resolver.addr(), name, RecordType::A, Some(1232)).await;
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::NoError,
            "{name}"
        );
        assert_eq!(reply.answers.len(), 1, "{name}");
    }
    let log = upstream.log();
    let with_opt: Vec<_> = log.iter().filter(|r| r.edns).collect();
    assert_eq!(with_opt.len(), 1, "OPT sent once, then remembered: {log:?}");
    assert_eq!(log.len(), 4, "{log:?}");
    assert_eq!(
        resolver
            .server
            .counters()
            .upstream(UpstreamEvent::EdnsFallback),
        1
    );
}

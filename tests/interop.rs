//! The real `dig` and `kdig` against the server. They run when the tools
//! are installed; `.ci/run` installs them and sets HEARSAY_REQUIRE_DIG so
//! that in CI a missing tool fails instead of skipping.

mod common;

use std::net::SocketAddr;
use std::process::Command;

use common::*;

/// Runs a tool if installed. Returns `None` (after saying so) when it is
/// not and CI does not require it.
async fn run(tool: &'static str, addr: SocketAddr, args: &[&str]) -> Option<String> {
    let mut full = vec![
        format!("@{}", addr.ip()),
        "-p".into(),
        addr.port().to_string(),
    ];
    full.extend(args.iter().map(|a| a.to_string()));
    let output = tokio::task::spawn_blocking(move || Command::new(tool).args(&full).output())
        .await
        .expect("join");
    match output {
        Ok(out) => {
            assert!(
                out.status.success(),
                "{tool} {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(String::from_utf8_lossy(&out.stdout).into_owned())
        }
        Err(e) if std::env::var_os("HEARSAY_REQUIRE_DIG").is_some() => {
            panic!("{tool} is required (HEARSAY_REQUIRE_DIG is set) but cannot run: {e}")
        }
        Err(e) => {
            eprintln!("skipping: {tool} cannot run here: {e}");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_gets_authoritative_answers_over_udp_and_tcp() {
    let server = start_example().await;
    let addr = server.addr();
    // (arguments, text the output must contain, text it must not)
    let cases: &[(&[&str], &[&str], &[&str])] = &[
        (
            &["www.example.test", "+norec"],
            &[
                "status: NOERROR",
                "flags: qr aa;",
                "www.example.test.\t3600\tIN\tA\t192.0.2.80",
            ],
            &["WARNING"],
        ),
        (
            &["www.example.test", "+tcp", "+norec"],
            &["status: NOERROR", "flags: qr aa;", "192.0.2.80", "(TCP)"],
            &[],
        ),
        (
            &["big.example.test", "TXT", "+bufsize=512", "+norec"],
            &["Truncated, retrying in TCP mode", "ANSWER: 6,", "(TCP)"],
            &[],
        ),
        (
            &["big.example.test", "TXT", "+bufsize=1232", "+norec"],
            &["ANSWER: 6,", "(UDP)", "udp: 1232"],
            &["Truncated"],
        ),
        (
            &["nope.example.test", "+norec"],
            &["status: NXDOMAIN", "example.test.\t\t300\tIN\tSOA"],
            &[],
        ),
        (
            &["host.sub.example.test", "+norec"],
            &[
                "flags: qr;",
                "AUTHORITY: 2",
                "ns.sub.example.test.\t3600\tIN\tA\t192.0.2.99",
            ],
            &[],
        ),
        (
            &["www.example.test", "+noedns", "+norec"],
            &["status: NOERROR"],
            &["OPT PSEUDOSECTION"],
        ),
        (&["www.example.org", "+norec"], &["status: REFUSED"], &[]),
        (
            &["web.example.test", "+short"],
            &["site.example.test.\nwww.example.test.\n192.0.2.80"],
            &[],
        ),
    ];
    for (args, wanted, unwanted) in cases {
        let Some(out) = run("dig", addr, args).await else {
            return;
        };
        for want in *wanted {
            assert!(
                out.contains(want),
                "dig {args:?}: missing {want:?} in\n{out}"
            );
        }
        for not in *unwanted {
            assert!(
                !out.contains(not),
                "dig {args:?}: unexpected {not:?} in\n{out}"
            );
        }
    }
    server.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kdig_pipelines_queries_on_one_tcp_connection() {
    let server = start_example().await;
    let args = [
        "+tcp",
        "+keepopen",
        "www.example.test",
        "+tcp",
        "+keepopen",
        "mail.example.test",
        "+tcp",
        "+keepopen",
        "ns1.example.test",
    ];
    let Some(out) = run("kdig", server.addr(), &args).await else {
        return;
    };
    for address in ["192.0.2.80", "192.0.2.25", "192.0.2.53"] {
        assert!(out.contains(address), "missing {address} in\n{out}");
    }
    assert_eq!(
        server.server.counters().tcp_connections,
        1,
        "one connection for all three"
    );
    server.server.shutdown().await;
}

/// dig speaks TSIG (RFC 8945): it can ask a sibling port directly, and it
/// checks the signature on the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_asks_the_sibling_port_with_the_cluster_key() {
    const SECRET: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let authority = start_example().await;
    let keys = tempfile::tempdir().unwrap();
    let key = write(keys.path(), "cluster.key", SECRET);
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .unwrap()
        .port();
    let sibling: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let _member = start_resolver(
        &[authority.addr()],
        &format!(
            "[siblings]\nlisten = \"{sibling}\"\nseeds = []\nkey = {{ name = \"cluster.\", algorithm = \"hmac-sha256\", secret_file = \"{}\" }}\n",
            key.display()
        ),
    )
    .await;
    let signed = format!("hmac-sha256:cluster.:{SECRET}");
    let Some(out) = run("dig", sibling, &["-y", &signed, "www.example.test"]).await else {
        return;
    };
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(
        out.contains("www.example.test.\t3600\tIN\tA\t192.0.2.80"),
        "{out}"
    );
    // dig prints the answer's TSIG record, and complains if it does not
    // verify.
    assert!(out.contains("TSIG PSEUDOSECTION"), "{out}");
    assert!(out.contains("hmac-sha256"), "{out}");
    assert!(!out.to_lowercase().contains("verif"), "{out}");

    // Over TCP too.
    let out = run(
        "dig",
        sibling,
        &["-y", &signed, "+tcp", "mail.example.test"],
    )
    .await
    .unwrap();
    assert!(
        out.contains("status: NOERROR") && out.contains("192.0.2.25"),
        "{out}"
    );

    // Another key, or none: NOTAUTH, nothing answered.
    let wrong = "hmac-sha256:cluster.:YW5vdGhlciBzZWNyZXQgb2YgdGhpcnR5LXR3byBiLi4=";
    for args in [
        &["-y", wrong, "www.example.test"][..],
        &["www.example.test"][..],
    ] {
        let out = run("dig", sibling, args).await.unwrap();
        assert!(out.contains("status: NOTAUTH"), "{args:?}: {out}");
        assert!(!out.contains("192.0.2.80"), "{args:?}: {out}");
    }
}

/// SERVFAIL and REFUSED say why in an Extended DNS Error (RFC 8914), as
/// dig shows it, and a stale answer says it is stale (RFC 8767).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_shows_why_an_answer_failed_or_was_refused() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let resolver = start_resolver(
        &[silent.local_addr().unwrap()],
        "timeout = \"300ms\"\n[access]\nrecursion = [\"127.0.0.1/32\"]\n",
    )
    .await;
    let cases: [(&[&str], &[&str]); 3] = [
        (
            &["+tries=1", "+time=3", "dead.example."],
            &["status: SERVFAIL", "EDE: 22 (No Reachable Authority)"],
        ),
        (
            &["+norec", "elsewhere.example."],
            &[
                "status: REFUSED",
                "EDE: 20 (Not Authoritative)",
                "recursion needs RD",
            ],
        ),
        (&["-c", "CH", "TXT", "version.bind"], &["status: REFUSED"]),
    ];
    for (args, wanted) in cases {
        let Some(out) = run("dig", resolver.addr(), args).await else {
            return;
        };
        for want in wanted {
            assert!(
                out.contains(want),
                "dig {args:?}: missing {want:?} in\n{out}"
            );
        }
    }
    // A client outside [access] recursion (127.0.0.2) is refused by policy.
    let addr = resolver.addr();
    let args = ["-b", "127.0.0.2", "www.example."];
    let Some(out) = run("dig", addr, &args).await else {
        return;
    };
    for want in ["status: REFUSED", "EDE: 18 (Prohibited)"] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    // Recursion off: the name is in no zone here.
    let authoritative = start_example().await;
    let Some(out) = run("dig", authoritative.addr(), &["www.elsewhere.example."]).await else {
        return;
    };
    assert!(out.contains("EDE: 20 (Not Authoritative)"), "{out}");
    let Some(out) = run("dig", authoritative.addr(), &["-c", "HS", "example.test"]).await else {
        return;
    };
    assert!(
        out.contains("EDE: 21 (Not Supported): (only class IN is served)"),
        "{out}"
    );
    // An upstream whose port is closed answers with ICMP: a network
    // error, not a silence.
    let closed = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let resolver = start_resolver(&[closed], "timeout = \"300ms\"\n").await;
    let args = ["+tries=1", "+time=3", "closed.example."];
    let Some(out) = run("dig", resolver.addr(), &args).await else {
        return;
    };
    for want in ["status: SERVFAIL", "EDE: 23 (Network Error)"] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
}

/// DNS cookies (RFC 7873, RFC 9018): dig's client cookie comes back with
/// a server cookie, and that cookie, returned, is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_gets_a_server_cookie_that_it_can_return() {
    let server = start_example().await;
    let Some(out) = run("dig", server.addr(), &["+cookie", "www.example.test"]).await else {
        return;
    };
    let line = out
        .lines()
        .find(|l| l.starts_with("; COOKIE: "))
        .unwrap_or_else(|| panic!("no cookie in\n{out}"));
    assert!(line.ends_with("(good)"), "{line}");
    let cookie = line.split_whitespace().nth(2).unwrap().to_string();
    // 8 octets of client cookie, 16 of server cookie, version 1.
    assert_eq!(cookie.len(), 48, "{cookie}");
    assert_eq!(&cookie[16..18], "01", "{cookie}");
    let returned = format!("+cookie={cookie}");
    let out = run("dig", server.addr(), &[&returned, "www.example.test"])
        .await
        .unwrap();
    assert!(out.contains(&format!("; COOKIE: {cookie} (good)")), "{out}");
    // Without a cookie, none comes back.
    let out = run("dig", server.addr(), &["+nocookie", "www.example.test"])
        .await
        .unwrap();
    assert!(!out.contains("COOKIE"), "{out}");
}

/// Past the response rate limit, a slip (TC=1) sends dig, a real client,
/// to TCP, where it gets its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_gets_its_answer_over_tcp_after_a_rate_limit_slip() {
    let server = start_with(
        &[("example.test.", EXAMPLE_ZONE)],
        "[rate_limit]\nresponses = 1\nslip = 1\n",
    )
    .await;
    let mut outs = Vec::new();
    for _ in 0..3 {
        let Some(out) = run("dig", server.addr(), &["+nocookie", "www.example.test"]).await else {
            return;
        };
        assert!(
            out.contains("www.example.test.\t3600\tIN\tA\t192.0.2.80"),
            "{out}"
        );
        outs.push(out);
    }
    // Three in well under a second: at least the later ones slipped.
    assert!(
        outs.iter()
            .any(|o| o.contains("Truncated, retrying in TCP mode")),
        "{outs:?}"
    );
    let slipped = server
        .server
        .counters()
        .rate_limited(hearsay::counters::RateLimited::ResponseSlipped);
    assert!(slipped >= 1);
}

/// With `nocookie_udp_payload_size` below `udp_payload_size`, only a
/// client that returns a valid server cookie gets a large answer over
/// UDP; dig without one gets TC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_gets_a_large_udp_answer_only_with_a_valid_cookie() {
    let server = start_with(
        &[("example.test.", EXAMPLE_ZONE)],
        "udp_payload_size = 4096\nnocookie_udp_payload_size = 512\n",
    )
    .await;
    let big = ["+bufsize=4096", "+ignore", "big.example.test", "TXT"];
    let mut args = vec!["+nocookie"];
    args.extend_from_slice(&big);
    let Some(out) = run("dig", server.addr(), &args).await else {
        return;
    };
    assert!(out.contains(";; flags: qr aa tc rd;"), "{out}");
    // dig's first query has no server cookie yet; over TCP it gets one.
    let out = run(
        "dig",
        server.addr(),
        &["+cookie", "+tcp", "big.example.test", "TXT"],
    )
    .await
    .unwrap();
    let cookie = out
        .lines()
        .find_map(|l| l.strip_prefix("; COOKIE: "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no cookie in\n{out}"))
        .to_string();
    let returned = format!("+cookie={cookie}");
    let mut args = vec![returned.as_str()];
    args.extend_from_slice(&big);
    let out = run("dig", server.addr(), &args).await.unwrap();
    assert!(out.contains(";; flags: qr aa rd;"), "{out}");
    assert!(out.contains("ANSWER: 6,"), "{out}");
    assert!(out.contains("(UDP)"), "{out}");
}

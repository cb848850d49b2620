//! Operating a running server: metrics over HTTP, every `hearsay ctl`
//! command through the real binary, the cache across restarts, reloads
//! that fail safe, and the query log's rate bound.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::*;
use hearsay::counters::Transport;
use hearsay::{Config, Server};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use http_body_util::BodyExt;

const AUTHORITY: &str = r#"
$ORIGIN ops.test.
$TTL 3600
@ SOA ns hostmaster 1 1800 900 604800 300
  NS ns
ns A 192.0.2.53
www A 192.0.2.80
mail A 192.0.2.25
alias CNAME www
* A 192.0.2.1
"#;

const ZONE: &str = "$ORIGIN local.test.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n NS ns\nns A 192.0.2.53\nwww A 192.0.2.7\n";

fn asked(server: &TestServer) -> u64 {
    let c = server.server.counters();
    c.queries(Transport::Udp) + c.queries(Transport::Tcp)
}

/// A forwarding resolver in front of `authority` with `extra` config.
async fn resolver(authority: &TestServer, extra: &str) -> TestServer {
    start_with(
        &[("local.test.", ZONE)],
        &format!(
            "[resolver]\nupstreams = [\"{}\"]\n[cache]\nprefetch = false\n{extra}",
            authority.addr()
        ),
    )
    .await
}

async fn ask(server: &TestServer, name: &str) -> hickory_proto::op::Message {
    udp_query(server.addr(), name, RecordType::A, Some(1232)).await
}

/// GET `path` with hyper's client; returns status and body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header("host", addr.to_string())
        .body(http_body_util::Empty::<hyper::body::Bytes>::new())
        .unwrap();
    let response = tokio::time::timeout(DEADLINE, sender.send_request(request))
        .await
        .unwrap()
        .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// The value of one sample line (`name{labels} value`) in an exposition.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
}

#[tokio::test]
async fn metrics_move_as_queries_are_answered() {
    let authority = start_with(&[("ops.test.", AUTHORITY)], "").await;
    let server = resolver(&authority, "[metrics]\nlisten = \"127.0.0.1:0\"\n").await;
    let metrics = server.server.metrics_addr().expect("a metrics address");

    let (status, before) = get(metrics, "/metrics").await;
    assert_eq!(status, 200);
    for name in ["www.ops.test.", "www.ops.test.", "www.local.test."] {
        ask(&server, name).await;
    }
    // A response's latency is observed once it is sent, so the client
    // may scrape before the last one is: scrape until it is there.
    let latencies = "hearsay_response_latency_seconds_count";
    let mut after = String::new();
    for _ in 0..100 {
        after = get(metrics, "/metrics").await.1;
        if sample(&after, latencies) - sample(&before, latencies) >= 3.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let delta = |series: &str| sample(&after, series) - sample(&before, series);
    assert_eq!(delta("hearsay_queries_total{transport=\"udp\"}"), 3.0);
    assert_eq!(delta("hearsay_answers_total{source=\"upstream\"}"), 1.0);
    assert_eq!(delta("hearsay_answers_total{source=\"cache\"}"), 1.0);
    assert_eq!(delta("hearsay_answers_total{source=\"zone\"}"), 1.0);
    assert_eq!(
        delta("hearsay_responses_total{transport=\"udp\",rcode=\"NOERROR\"}"),
        3.0
    );
    assert_eq!(delta("hearsay_response_latency_seconds_count"), 3.0);
    assert_eq!(
        delta("hearsay_outcomes_total{transport=\"udp\",rcode=\"NOERROR\",source=\"cache\"}"),
        1.0
    );
    assert_eq!(
        delta("hearsay_outcomes_total{transport=\"udp\",rcode=\"NOERROR\",source=\"upstream\"}"),
        1.0
    );
    assert!(sample(&after, "hearsay_cache_entries") >= 1.0);
    assert!(sample(&after, "hearsay_cache_bytes") > 0.0);
    assert_eq!(sample(&after, "hearsay_cache_hit_ratio"), 0.5);
    assert_eq!(delta("hearsay_upstream_rtt_seconds_count"), 1.0);
    assert!(after.contains("# TYPE hearsay_response_latency_seconds histogram"));
    let upstream = authority.addr();
    assert!(
        sample(
            &after,
            &format!("hearsay_upstream_srtt_seconds{{server=\"{upstream}\"}}")
        ) > 0.0
    );
    assert_eq!(
        sample(
            &after,
            &format!("hearsay_upstream_held_down{{server=\"{upstream}\"}}")
        ),
        0.0
    );
    assert!(after.contains("hearsay_sibling_members 0"));

    // Garbage counts as malformed; a query from the wrong class as refused.
    udp_exchange(
        server.addr(),
        b"\x12\x34\x01\x00\x00\x01",
        Duration::from_millis(300),
    )
    .await;
    let (_, garbage) = get(metrics, "/metrics").await;
    assert_eq!(
        sample(&garbage, "hearsay_malformed_total{reason=\"short_header\"}")
            - sample(&after, "hearsay_malformed_total{reason=\"short_header\"}"),
        1.0
    );
    assert_eq!(get(metrics, "/other").await.0, 404);
}

/// Runs `hearsay ctl --config CONFIG ARGS...`; returns success and output.
async fn ctl(config: &Path, args: &[&str]) -> (bool, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hearsay"));
    command.arg("ctl").arg("--config").arg(config).args(args);
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ctl_command_works_against_a_running_server() {
    let authority = start_with(&[("ops.test.", AUTHORITY)], "").await;
    let server = resolver(&authority, "[control]\nsocket = \"control.sock\"\n").await;
    let config = server.dir.path().join("hearsay.toml");
    let socket = server.dir.path().join("control.sock");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the socket is private");

    for name in ["www.ops.test.", "alias.ops.test.", "nope.www.ops.test."] {
        ask(&server, name).await;
    }
    let (ok, stats) = ctl(&config, &["stats"]).await;
    assert!(ok, "{stats}");
    assert!(stats.contains("queries.udp 3"), "{stats}");
    let (ok, json) = ctl(&config, &["stats", "--json"]).await;
    assert!(ok, "{json}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["answers"]["upstream"], 3);
    let upstream = authority.addr().to_string();
    assert_eq!(json["servers"][&upstream]["failures"], 0, "{json}");
    assert!(json["servers"][&upstream]["srtt_ms"].as_f64().unwrap() > 0.0);
    // www A, alias CNAME (its target is the www entry), nope NXDOMAIN.
    assert_eq!(json["cache"]["entries"], 3);

    let (ok, held) = ctl(&config, &["lookup", "www.ops.test", "A"]).await;
    assert!(ok, "{held}");
    assert!(held.contains("from upstream, ttl 3"), "{held}");
    assert!(held.contains("www.ops.test. 3"), "{held}");
    assert!(held.contains("IN A 192.0.2.80"), "{held}");
    let (_, nx) = ctl(&config, &["lookup", "nope.www.ops.test", "MX"]).await;
    assert!(nx.contains("NxDomain NXDOMAIN (any type)"), "{nx}");

    // flush NAME: the next query goes upstream again.
    let before = asked(&authority);
    ask(&server, "www.ops.test.").await;
    assert_eq!(asked(&authority), before, "cached");
    let (ok, out) = ctl(&config, &["flush", "www.ops.test"]).await;
    assert!(ok && out.contains("flushed 1 entries"), "{out}");
    ask(&server, "www.ops.test.").await;
    assert_eq!(asked(&authority), before + 1, "flushed, so asked again");

    // dump, flush-zone, load: the entries come back.
    let dump = server.dir.path().join("dump.cache");
    let (ok, out) = ctl(&config, &["dump-cache", dump.to_str().unwrap()]).await;
    assert!(ok && out.contains("wrote 3 entries"), "{out}");
    let (ok, out) = ctl(&config, &["flush-zone", "ops.test"]).await;
    assert!(ok && out.contains("flushed 3 entries"), "{out}");
    let (ok, out) = ctl(&config, &["load-cache", dump.to_str().unwrap()]).await;
    assert!(ok && out.contains("loaded 3 entries"), "{out}");
    let before = asked(&authority);
    let reply = ask(&server, "alias.ops.test.").await;
    assert_eq!(reply.answers.len(), 2);
    assert_eq!(asked(&authority), before, "restored from the dump");
    let (_, held) = ctl(&config, &["lookup", "alias.ops.test", "A"]).await;
    assert!(held.contains("from restored"), "{held}");

    // A corrupt file is refused whole.
    let (ok, _) = ctl(&config, &["flush-all"]).await;
    assert!(ok);
    let mut text = std::fs::read_to_string(&dump).unwrap();
    text = text.replacen("www.ops.test.", "www.evil.test.", 1);
    std::fs::write(&dump, text).unwrap();
    let (ok, out) = ctl(&config, &["load-cache", dump.to_str().unwrap()]).await;
    assert!(!ok && out.contains("checksum mismatch"), "{out}");
    let before = asked(&authority);
    ask(&server, "mail.ops.test.").await;
    assert_eq!(asked(&authority), before + 1, "nothing was loaded");

    let (ok, out) = ctl(&config, &["members"]).await;
    assert!(ok && out.contains("no [siblings]"), "{out}");
    let (ok, out) = ctl(&config, &["reload"]).await;
    assert!(ok && out.contains("zone local.test.: loaded"), "{out}");
    let (ok, out) = ctl(&config, &["frobnicate"]).await;
    assert!(!ok && out.contains("unknown command"), "{out}");
    let (ok, out) = ctl(&config, &["lookup", "www.ops.test", "BOGUS"]).await;
    assert!(!ok && out.contains("not a record type"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_survives_a_restart_with_ttls_reduced() {
    let authority = start_with(&[("ops.test.", AUTHORITY)], "").await;
    let dir = tempfile::tempdir().unwrap();
    let config_path = write(
        dir.path(),
        "hearsay.toml",
        &format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nthreads = 1\n[resolver]\ndnssec = false\nupstreams = [\"{}\"]\n[cache]\nprefetch = false\npersist_file = \"cache.state\"\n[special_use]\nnodefault = [\"test.\"]\n",
            authority.addr()
        ),
    );
    let config = Config::load(&config_path).unwrap();
    let server = Server::start(&config).await.unwrap();
    for name in ["www.ops.test.", "alias.ops.test.", "nope.www.ops.test."] {
        udp_query(server.local_addr(), name, RecordType::A, Some(1232)).await;
    }
    server.shutdown().await;
    let state = dir.path().join("cache.state");
    assert!(state.exists(), "written on shutdown");
    assert!(
        !std::fs::read_dir(dir.path())
            .unwrap()
            .any(|e| { e.unwrap().file_name().to_string_lossy().contains(".tmp") })
    );

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let before = asked(&authority);
    let server = Server::start(&config).await.unwrap();
    let reply = udp_query(
        server.local_addr(),
        "alias.ops.test.",
        RecordType::A,
        Some(1232),
    )
    .await;
    assert_eq!(reply.answers.len(), 2);
    for record in &reply.answers {
        assert!(
            record.ttl <= 3598,
            "TTL reduced by the time passed: {record}"
        );
    }
    let reply = udp_query(
        server.local_addr(),
        "nope.www.ops.test.",
        RecordType::A,
        Some(1232),
    )
    .await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(
        asked(&authority),
        before,
        "answered from the restored cache"
    );
    server.shutdown().await;

    // A file that does not parse does not stop the start: the cache starts
    // cold.
    std::fs::write(&state, "hearsay-cache 1 0\ngarbage\n").unwrap();
    let server = Server::start(&config).await.unwrap();
    let before = asked(&authority);
    udp_query(
        server.local_addr(),
        "www.ops.test.",
        RecordType::A,
        Some(1232),
    )
    .await;
    assert_eq!(asked(&authority), before + 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_reload_keeps_the_running_state() {
    let server = start_with(
        &[("local.test.", ZONE)],
        "[resolver]\nmode = \"off\"\n[control]\nsocket = \"control.sock\"\n",
    )
    .await;
    let dir = server.dir.path();
    let config = dir.join("hearsay.toml");
    let www = |s: &TestServer| {
        let addr = s.addr();
        async move {
            lines(
                &udp_query(addr, "www.local.test.", RecordType::A, None)
                    .await
                    .answers,
            )
        }
    };
    assert_eq!(www(&server).await, ["www.local.test. 60 IN A 192.0.2.7"]);

    // A broken zone: reported, the old one keeps serving.
    std::fs::write(dir.join("zone0.zone"), ZONE.replace("www A", "www AAA")).unwrap();
    let (ok, out) = ctl(&config, &["reload"]).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("zone0.zone:6") && out.contains("previous version keeps serving"),
        "{out}"
    );
    assert_eq!(www(&server).await, ["www.local.test. 60 IN A 192.0.2.7"]);

    // A broken config: refused whole. ctl cannot read it either, and
    // says how to reach the server anyway.
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{good}\n[server\n")).unwrap();
    let (ok, out) = ctl(&config, &["reload"]).await;
    assert!(!ok && out.contains("--socket"), "{out}");
    let socket = dir.join("control.sock");
    let (ok, out) = ctl(&config, &["--socket", socket.to_str().unwrap(), "reload"]).await;
    assert!(
        !ok && out.contains("syntax") && out.contains("running configuration stays"),
        "{out}"
    );
    assert_eq!(www(&server).await, ["www.local.test. 60 IN A 192.0.2.7"]);

    // A good one: the fixed zone loads, and a listen change is reported as
    // needing a restart.
    std::fs::write(
        dir.join("zone0.zone"),
        ZONE.replace("192.0.2.7", "192.0.2.8"),
    )
    .unwrap();
    std::fs::write(&config, good.replace("127.0.0.1:0", "127.0.0.1:1")).unwrap();
    let (ok, out) = ctl(&config, &["reload"]).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("[server] changed: takes effect at the next restart"),
        "{out}"
    );
    assert_eq!(www(&server).await, ["www.local.test. 60 IN A 192.0.2.8"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_log_holds_its_rate_under_a_flood() {
    let server = start_with(
        &[("local.test.", ZONE)],
        "[log]\nquery_log = \"queries.log\"\nquery_log_rate = 100\n[resolver]\nmode = \"off\"\n",
    )
    .await;
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let addr = server.addr();
        tasks.spawn(async move {
            for i in 0..250 {
                let name = if i % 2 == 0 {
                    "www.local.test."
                } else {
                    "nope.local.test."
                };
                let _ = udp_exchange(
                    addr,
                    &query_message(name, RecordType::A, None).to_vec().unwrap(),
                    Duration::from_millis(500),
                )
                .await;
                let _ = worker;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = std::fs::read_to_string(server.dir.path().join("queries.log")).unwrap();
    let logged = log.lines().filter(|l| l.contains(" client=")).count();
    // A full bucket (100) plus 100 a second.
    let bound = 100.0 + 100.0 * seconds + 5.0;
    assert!(logged >= 100, "{logged} lines");
    assert!(
        (logged as f64) <= bound,
        "{logged} lines in {seconds:.2} s (bound {bound})"
    );
    let line = log
        .lines()
        .find(|l| l.contains("name=www.local.test."))
        .unwrap();
    for field in [
        "ts=",
        "client=127.0.0.1",
        "transport=udp",
        "type=A",
        "rcode=NOERROR",
        "source=zone",
        "latency_us=",
    ] {
        assert!(line.contains(field), "{field} missing in {line}");
    }
    assert!(log.contains("rcode=NXDOMAIN"));
    assert!(server.server.handle().query_log_dropped() >= 1000);

    // Rotation: the file is moved away, a reload reopens the log.
    let path = server.dir.path().join("queries.log");
    std::fs::rename(&path, server.dir.path().join("queries.log.1")).unwrap();
    server.server.reload().unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    udp_query(server.addr(), "www.local.test.", RecordType::A, None).await;
    until("the line in the new file", || {
        std::fs::read_to_string(&path).is_ok_and(|text| text.contains("name=www.local.test."))
    })
    .await;
}

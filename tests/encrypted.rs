//! DNS over TLS and DNS over HTTPS, asked by the clients people use: kdig
//! (+tls, +https), curl's --doh-url and openssl s_client, with a test CA
//! made by openssl. They run when the tools are installed; `.ci/run`
//! installs them and sets HEARSAY_REQUIRE_DIG so that in CI a missing
//! tool fails instead of skipping.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use common::*;
use tokio::process::Command;

/// Runs `tool` with `args` in `dir`; `None` (after saying why) when it is
/// not installed and CI does not require it. Returns stdout and stderr.
async fn run(tool: &str, dir: &Path, args: &[&str]) -> Option<(bool, String)> {
    let output = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .await;
    match output {
        Ok(out) => Some((
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )),
        Err(e) if std::env::var_os("HEARSAY_REQUIRE_DIG").is_some() => {
            panic!("{tool} is required (HEARSAY_REQUIRE_DIG is set) but cannot run: {e}")
        }
        Err(e) => {
            eprintln!("skipping: {tool} cannot run here: {e}");
            None
        }
    }
}

/// A test CA and a certificate from it for dns.test and 127.0.0.1, with
/// `subject` as its CN. Returns (CA file, certificate, key).
async fn certificate(dir: &Path, subject: &str) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let ca = dir.join("ca.pem");
    if !ca.exists() {
        let (ok, out) = run(
            "openssl",
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=hearsay test CA",
            ],
        )
        .await?;
        assert!(ok, "{out}");
    }
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:dns.test,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let steps: [&[&str]; 2] = [
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            &format!("/CN={subject}"),
        ],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    ];
    for step in steps {
        let (ok, out) = run("openssl", dir, step).await?;
        assert!(ok, "{out}");
    }
    Some((ca, dir.join("server.pem"), dir.join("server.key")))
}

struct Encrypted {
    server: TestServer,
    ca: PathBuf,
    tls: SocketAddr,
    https: SocketAddr,
}

/// hearsay serving the example zone over UDP, TCP, DoT and DoH, with NSID
/// and an identity configured; `None` when openssl cannot run.
async fn start_encrypted(certs: &tempfile::TempDir) -> Option<Encrypted> {
    start_encrypted_with(
        certs,
        "nsid = \"hearsay-test\"\nidentity = \"resolver-1.example\"\n",
    )
    .await
}

/// hearsay serving the example zone over UDP, TCP, DoT and DoH with a
/// test certificate for dns.test; `extra` follows the TLS keys in
/// `[server]` (and may open other sections).
async fn start_encrypted_with(certs: &tempfile::TempDir, extra: &str) -> Option<Encrypted> {
    let (ca, cert, key) = certificate(certs.path(), "dns.test").await?;
    let server = start_with(
        &[("example.test.", EXAMPLE_ZONE)],
        &format!(
            "tls_listen = [\"127.0.0.1:0\"]\nhttps_listen = [\"127.0.0.1:0\"]\n\
             tls_certificate = \"{}\"\ntls_key = \"{}\"\n{extra}",
            cert.display(),
            key.display()
        ),
    )
    .await;
    let tls = server.server.tls_addrs()[0];
    let https = server.server.https_addrs()[0];
    Some(Encrypted {
        server,
        ca,
        tls,
        https,
    })
}

fn contains_all(out: &str, needles: &[&str]) {
    for needle in needles {
        assert!(out.contains(needle), "no {needle:?} in:\n{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kdig_asks_over_tls_and_https_and_answers_are_padded() {
    let certs = tempfile::tempdir().unwrap();
    let Some(e) = start_encrypted(&certs).await else {
        return;
    };
    let dir = certs.path();
    let ca = format!("+tls-ca={}", e.ca.display());
    let tls_port = e.tls.port().to_string();
    let https_port = e.https.port().to_string();
    let cases: [(&str, &[&str]); 3] = [
        ("TLS", &["-p", &tls_port, "+tls"]),
        ("HTTP/2-POST", &["-p", &https_port, "+https"]),
        ("HTTP/2-GET", &["-p", &https_port, "+https-get"]),
    ];
    for (session, args) in cases {
        let mut full = vec![
            "@127.0.0.1",
            &ca,
            "+tls-hostname=dns.test",
            "www.example.test",
        ];
        full.extend_from_slice(args);
        let Some((ok, out)) = run("kdig", dir, &full).await else {
            return;
        };
        assert!(ok, "{out}");
        // kdig pads its queries over TLS, so the answer is padded to
        // the 468-octet block (RFC 8467).
        contains_all(
            &out,
            &[
                session,
                "status: NOERROR",
                "www.example.test.   \t3600\tIN\tA\t192.0.2.80",
                "PADDING",
                "Received 468 B",
            ],
        );
    }
    // Several queries on one TLS connection, as over TCP.
    let Some((ok, out)) = run(
        "kdig",
        dir,
        &[
            "@127.0.0.1",
            "-p",
            &tls_port,
            "+tls",
            &ca,
            "+tls-hostname=dns.test",
            "+keepopen",
            "www.example.test",
            "mail.example.test",
            "nope.example.test",
        ],
    )
    .await
    else {
        return;
    };
    assert!(ok, "{out}");
    contains_all(&out, &["192.0.2.80", "192.0.2.25", "status: NXDOMAIN"]);
    let counters = e.server.server.counters();
    assert!(counters.queries(hearsay::counters::Transport::Tls) >= 4);
    assert!(counters.queries(hearsay::counters::Transport::Https) >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_resolves_a_name_through_doh_and_http_errors_are_statuses() {
    let certs = tempfile::tempdir().unwrap();
    let Some(e) = start_encrypted(&certs).await else {
        return;
    };
    let dir = certs.path();
    let ca = e.ca.display().to_string();
    let resolve = format!("dns.test:{}:127.0.0.1", e.https.port());
    let doh = format!("https://dns.test:{}/dns-query", e.https.port());
    // curl asks for A and AAAA over DoH, then tries the address (port 9,
    // nothing there), so only what it resolved is checked.
    let Some((_, out)) = run(
        "curl",
        dir,
        &[
            "-sv",
            "--connect-timeout",
            "1",
            "--cacert",
            &ca,
            "--resolve",
            &resolve,
            "--doh-url",
            &doh,
            "http://www.example.test:9/",
        ],
    )
    .await
    else {
        return;
    };
    contains_all(
        &out,
        &[
            "DoH A: 192.0.2.80",
            "DoH AAAA: 2001:0db8:0000:0000:0000:0000:0000:0080",
        ],
    );

    // GET over HTTP/1.1, with the Cache-Control the answer's TTL allows.
    let query = "AAABAAABAAAAAAAAA3d3dwdleGFtcGxlBHRlc3QAAAEAAQ";
    let url = format!("https://dns.test:{}/dns-query?dns={query}", e.https.port());
    let (ok, out) = run(
        "curl",
        dir,
        &[
            "-si",
            "--http1.1",
            "--cacert",
            &ca,
            "--resolve",
            &resolve,
            &url,
        ],
    )
    .await
    .unwrap();
    assert!(ok, "{out}");
    contains_all(
        &out,
        &[
            "HTTP/1.1 200",
            "content-type: application/dns-message",
            "cache-control: max-age=3600",
        ],
    );
    let status = |args: Vec<String>| http_status(dir, &ca, &resolve, args);
    let base = format!("https://dns.test:{}", e.https.port());
    assert_eq!(status(vec![format!("{base}/elsewhere")]).await, "404");
    assert_eq!(
        status(vec![format!("{base}/dns-query?dns=!!")]).await,
        "400"
    );
    let wrong_type = [
        "-X",
        "POST",
        "-H",
        "content-type: text/plain",
        "--data",
        "x",
    ];
    let mut args: Vec<String> = wrong_type.iter().map(|a| a.to_string()).collect();
    args.push(format!("{base}/dns-query"));
    assert_eq!(status(args).await, "415");
    let big = dir.join("big");
    std::fs::write(&big, vec![0u8; 70_000]).unwrap();
    let args = vec![
        // Over HTTP/1.1: answered early, an HTTP/2 stream is reset
        // with its body unread, and curl then reports no status at all.
        "--http1.1".into(),
        "-X".into(),
        "POST".into(),
        "-H".into(),
        "content-type: application/dns-message".into(),
        "--data-binary".into(),
        format!("@{}", big.display()),
        format!("{base}/dns-query"),
    ];
    assert_eq!(status(args).await, "413");
    assert_eq!(
        status(vec![
            "-X".into(),
            "DELETE".into(),
            format!("{base}/dns-query")
        ])
        .await,
        "405"
    );
}

/// The HTTP status curl gets with `args`.
async fn http_status(dir: &Path, ca: &str, resolve: &str, args: Vec<String>) -> String {
    let mut full = vec![
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--cacert",
        ca,
        "--resolve",
        resolve,
    ];
    full.extend(args.iter().map(String::as_str));
    run("curl", dir, &full).await.expect("curl ran before").1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_offers_dot_over_1_2_and_1_3_and_reload_rereads_the_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let Some(e) = start_encrypted(&certs).await else {
        return;
    };
    let dir = certs.path();
    let connect = e.tls.to_string();
    let ca = e.ca.display().to_string();
    let s_client = |version: &'static str| {
        let (connect, ca) = (connect.clone(), ca.clone());
        async move {
            let args = [
                "s_client",
                "-connect",
                &connect,
                "-alpn",
                "dot",
                version,
                "-CAfile",
                &ca,
                "-servername",
                "dns.test",
            ];
            let mut child = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .stdin(std::process::Stdio::null())
                .output()
                .await
                .expect("openssl runs");
            child.stdout.extend_from_slice(&child.stderr);
            String::from_utf8_lossy(&child.stdout).into_owned()
        }
    };
    for (version, name) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let out = s_client(version).await;
        contains_all(
            &out,
            &[
                "ALPN protocol: dot",
                name,
                "Verify return code: 0 (ok)",
                "CN = dns.test",
            ],
        );
    }
    // A new certificate in the same files is served after a reload.
    certificate(dir, "renewed.dns.test").await.unwrap();
    let report = e.server.server.handle().reload().unwrap();
    assert!(report.tls_error.is_none(), "{report:?}");
    let out = s_client("-tls1_3").await;
    contains_all(&out, &["CN = renewed.dns.test"]);
    // Files that do not load leave the running certificate serving.
    std::fs::write(dir.join("server.key"), "not a key").unwrap();
    let report = e.server.server.handle().reload().unwrap();
    let error = report.tls_error.expect("the bad key is reported");
    assert!(error.contains("server.key"), "{error}");
    let out = s_client("-tls1_3").await;
    contains_all(
        &out,
        &["CN = renewed.dns.test", "Verify return code: 0 (ok)"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_gets_nsid_and_the_identity_only_when_configured() {
    let certs = tempfile::tempdir().unwrap();
    let Some(e) = start_encrypted(&certs).await else {
        return;
    };
    let dir = certs.path();
    let port = e.server.addr().port().to_string();
    let dig = |args: &'static [&'static str]| {
        let port = port.clone();
        async move {
            let mut full = vec!["@127.0.0.1", "-p", &port];
            full.extend_from_slice(args);
            run("dig", dir, &full).await
        }
    };
    let Some((_, out)) = dig(&["+nsid", "www.example.test"]).await else {
        return;
    };
    contains_all(
        &out,
        &["NSID: 68 65 61 72 73 61 79 2d 74 65 73 74 (\"hearsay-test\")"],
    );
    let (_, out) = dig(&["CH", "TXT", "id.server"]).await.unwrap();
    contains_all(
        &out,
        &[
            "status: NOERROR",
            "flags: qr aa",
            "id.server.\t\t0\tCH\tTXT\t\"resolver-1.example\"",
        ],
    );
    let (_, out) = dig(&["CH", "TXT", "hostname.bind"]).await.unwrap();
    contains_all(&out, &["\"resolver-1.example\""]);
    // No version configured: refused, as NSD and Unbound do when hidden.
    let (_, out) = dig(&["CH", "TXT", "version.bind"]).await.unwrap();
    contains_all(&out, &["status: REFUSED"]);
    let (_, out) = dig(&["+nsid", "CH", "TXT", "authors.bind"]).await.unwrap();
    contains_all(&out, &["status: REFUSED"]);
    // Without NSID configured, none is sent.
    let plain = start_example().await;
    let port = plain.addr().port().to_string();
    let (_, out) = run(
        "dig",
        dir,
        &["@127.0.0.1", "-p", &port, "+nsid", "www.example.test"],
    )
    .await
    .unwrap();
    assert!(!out.contains("NSID"), "{out}");
}

/// dnsperf's DoH client takes a TLS record for a response and keeps one
/// response buffer per connection: with several streams outstanding on
/// one connection, it loses answers unless each response is a record of
/// its own (as Unbound writes them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnsperf_gets_every_answer_with_ten_streams_on_one_connection() {
    let certs = tempfile::tempdir().unwrap();
    let Some(e) = start_encrypted(&certs).await else {
        return;
    };
    let dir = certs.path();
    let queries: String = (0..100)
        .map(|i| format!("www.example.test A\nnope{i}.example.test A\n"))
        .collect();
    std::fs::write(dir.join("queries"), queries).unwrap();
    let port = e.https.port().to_string();
    let args = [
        "-s",
        "127.0.0.1",
        "-p",
        &port,
        "-m",
        "doh",
        "-d",
        "queries",
        "-n",
        "1",
        "-c",
        "1",
        "-q",
        "10",
        "-t",
        "2",
    ];
    let Some((ok, out)) = run("dnsperf", dir, &args).await else {
        return;
    };
    assert!(ok, "{out}");
    contains_all(&out, &["Queries completed:    200 (100.00%)", "200: 200"]);
}

/// A forwarder whose upstream is `upstream` (and a dead plain one, so
/// both kinds share one ranking), trusting `ca`.
async fn start_dot_forwarder(upstream: &str, ca: &Path) -> TestServer {
    start_with(
        &[],
        &format!(
            "[resolver]\nupstreams = [\"127.0.0.1:9\", \"{upstream}\"]\ntls_ca_file = \"{}\"\n\
             timeout = \"2s\"\n[cache]\nprefetch = false\nserve_stale = \"0s\"\n",
            ca.display()
        ),
    )
    .await
}

/// Forwarding over DNS over TLS to a second hearsay: the certificate is
/// checked against the configured name and CA, concurrent questions are
/// pipelined on one kept connection, and a connection the upstream
/// closes is replaced without a failed answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_over_tls_checks_the_certificate_and_keeps_one_connection() {
    use hearsay::counters::UpstreamEvent;
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::RecordType;

    let certs = tempfile::tempdir().unwrap();
    let Some(Encrypted {
        server: upstream,
        ca,
        tls,
        ..
    }) = start_encrypted_with(&certs, "tcp_idle_timeout = \"1s\"\n").await
    else {
        return;
    };
    let port = tls.port();

    let forwarder = start_dot_forwarder(&format!("tls://127.0.0.1:{port}#dns.test"), &ca).await;
    let asks = (0..30).map(|i| {
        let addr = forwarder.addr();
        tokio::spawn(async move {
            udp_query(
                addr,
                &format!("n{i}.apps.example.test."),
                RecordType::A,
                Some(1232),
            )
            .await
        })
    });
    for ask in asks {
        let reply = ask.await.unwrap();
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert_eq!(lines(&reply.answers).len(), 1, "{reply:?}");
        assert!(lines(&reply.answers)[0].ends_with("A 192.0.2.100"));
    }
    let counters = forwarder.server.counters();
    assert_eq!(counters.upstream(UpstreamEvent::TlsConnected), 1);
    assert_eq!(counters.upstream(UpstreamEvent::TlsFailed), 0);
    let served = upstream.server.counters();
    assert!(
        served.queries(hearsay::counters::Transport::Tls) >= 30,
        "every question went over TLS"
    );

    // The upstream closes the idle connection; the next question opens
    // another and is answered.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let reply = udp_query(forwarder.addr(), "www.example.test.", RecordType::A, None).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(
        forwarder
            .server
            .counters()
            .upstream(UpstreamEvent::TlsConnected),
        2
    );

    // A certificate not valid for the configured name, or from a CA not
    // trusted: nothing is asked, and the client gets SERVFAIL.
    let other = tempfile::tempdir().unwrap();
    let (other_ca, _, _) = certificate(other.path(), "other.test").await.unwrap();
    for (name, ca) in [("elsewhere.test", &ca), ("dns.test", &other_ca)] {
        let forwarder = start_dot_forwarder(&format!("tls://127.0.0.1:{port}#{name}"), ca).await;
        let reply = udp_query(forwarder.addr(), "www.example.test.", RecordType::A, None).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
        let counters = forwarder.server.counters();
        assert_eq!(counters.upstream(UpstreamEvent::TlsConnected), 0);
        assert!(counters.upstream(UpstreamEvent::TlsFailed) >= 1);
    }
}

/// Discovery of designated resolvers (RFC 9462): a client that knows only
/// our plain address asks _dns.resolver.arpa SVCB, learns the DoT and DoH
/// endpoints and the name to check the certificate against, and kdig
/// then asks over the DoT endpoint with that certificate check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_discovers_the_designated_dot_and_doh_endpoints() {
    let certs = tempfile::tempdir().unwrap();
    let Some(Encrypted {
        server,
        ca,
        tls,
        https,
    }) = start_encrypted_with(
        &certs,
        "resolver_name = \"dns.test\"\n[resolver]\nupstreams = [\"127.0.0.1:9\"]\n",
    )
    .await
    else {
        return;
    };
    let dir = certs.path();
    let port = server.addr().port().to_string();
    let Some((ok, out)) = run(
        "dig",
        dir,
        &[
            "@127.0.0.1",
            "-p",
            &port,
            "+norec",
            "_dns.resolver.arpa",
            "SVCB",
        ],
    )
    .await
    else {
        return;
    };
    assert!(ok, "{out}");
    let (tls_port, https_port) = (tls.port(), https.port());
    contains_all(
        &out,
        &[
            "status: NOERROR",
            "flags: qr aa",
            &format!(
                "_dns.resolver.arpa.\t300\tIN\tSVCB\t1 dns.test. alpn=\"dot\" port={tls_port} ipv4hint=127.0.0.1"
            ),
            &format!(
                "_dns.resolver.arpa.\t300\tIN\tSVCB\t2 dns.test. alpn=\"h2\" port={https_port} ipv4hint=127.0.0.1 key7=\"/dns-query{{?dns}}\""
            ),
        ],
    );
    // Verified discovery: the endpoint's certificate holds the name the
    // record gave.
    let ca = format!("+tls-ca={}", ca.display());
    let (ok, out) = run(
        "kdig",
        dir,
        &[
            "@127.0.0.1",
            "-p",
            &tls_port.to_string(),
            "+tls",
            &ca,
            "+tls-hostname=dns.test",
            "www.example.test",
        ],
    )
    .await
    .unwrap();
    assert!(ok, "{out}");
    contains_all(&out, &["status: NOERROR", "192.0.2.80"]);
}

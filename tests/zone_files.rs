//! Master files: what loads, what is rejected (with the right file and
//! line), and reloading.

mod common;

use std::path::Path;

use common::*;
use hearsay::zone::{Zone, ZoneOutcome};
use hickory_proto::rr::{Name, RecordType};

const HEAD: &str = "$ORIGIN example.test.\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n  NS ns1\nns1 A 192.0.2.53\n";

fn origin() -> Name {
    Name::from_ascii("example.test.").unwrap()
}

fn load(dir: &Path, text: &str) -> Result<Zone, hearsay::zone::ZoneError> {
    let path = write(dir, "test.zone", text);
    Zone::load(&origin(), &path).map(|(zone, _)| zone)
}

#[test]
fn bad_zone_files_are_rejected_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    // (what, text, line, words the message must contain)
    let cases: Vec<(&str, String, Option<usize>, &str)> = vec![
        (
            "typo in a type",
            format!("{HEAD}www A 192.0.2.1\nmail AA 192.0.2.2\n"),
            Some(7),
            "AA",
        ),
        (
            "bad IPv4 address",
            format!("{HEAD}www A 192.0.2.300\n"),
            Some(6),
            "192.0.2.300",
        ),
        (
            "bad IPv6 address",
            format!("{HEAD}www AAAA 2001:db8::g\n"),
            Some(6),
            "2001:db8::g",
        ),
        (
            "MX without a target",
            format!("{HEAD}@ MX 10\n"),
            Some(6),
            "",
        ),
        (
            "label longer than 63 octets",
            format!("{HEAD}{} A 192.0.2.1\n", "a".repeat(64)),
            Some(6),
            "",
        ),
        (
            "no SOA",
            "$ORIGIN example.test.\n$TTL 60\n@ NS ns1\nns1 A 192.0.2.1\n".into(),
            Some(3),
            "no SOA record",
        ),
        (
            "second SOA",
            format!("{HEAD}@ SOA ns2 h 2 2 3 4 5\n"),
            Some(6),
            "second SOA",
        ),
        (
            "SOA below the apex",
            format!("{HEAD}sub SOA ns1 h 1 2 3 4 5\n"),
            Some(6),
            "not at the zone apex",
        ),
        (
            "CNAME beside other data",
            format!("{HEAD}www A 192.0.2.1\n\nwww CNAME ns1\n"),
            Some(8),
            "CNAME and other data",
        ),
        (
            "data beside a CNAME",
            format!("{HEAD}www CNAME ns1\nwww TXT \"x\"\n"),
            Some(7),
            "CNAME and other data",
        ),
        (
            "two CNAMEs",
            format!("{HEAD}www CNAME ns1\nwww CNAME ns2\n"),
            Some(7),
            "second CNAME",
        ),
        (
            "stray closing parenthesis",
            format!("{HEAD}www A 192.0.2.1 )\n"),
            Some(6),
            "')'",
        ),
        (
            "unclosed quote",
            format!("{HEAD}www TXT \"abc\n"),
            Some(6),
            "quoted string",
        ),
        ("bad $TTL", format!("$TTL forever\n{HEAD}"), Some(1), "$TTL"),
        (
            "class CH",
            format!("{HEAD}www CH TXT \"x\"\n"),
            Some(6),
            "class CH is not served",
        ),
        (
            "CNAME beside a DNAME",
            format!("{HEAD}d DNAME example.org.\nd CNAME ns1\n"),
            Some(6),
            "a CNAME and a DNAME",
        ),
        (
            "surplus RDATA",
            format!("{HEAD}www A 192.0.2.1 192.0.2.2\n"),
            Some(6),
            "surplus data after the RDATA: 192.0.2.2",
        ),
        (
            "continuation before any owner",
            " A 192.0.2.1\n".into(),
            Some(1),
            "no owner",
        ),
        (
            "missing $INCLUDE file",
            format!("{HEAD}$INCLUDE nothere.zone\n"),
            Some(6),
            "nothere.zone",
        ),
    ];
    let mut failures = Vec::new();
    for (what, text, line, words) in &cases {
        // Rejected here only where both NSD and BIND reject it too.
        if let Some((bind, nsd)) = peers_load(dir.path(), text)
            && (bind || nsd)
        {
            failures.push(format!("{what}: BIND loads it: {bind}, NSD: {nsd}"));
        }
        match load(dir.path(), text) {
            Ok(_) => failures.push(format!("{what}: loaded")),
            Err(err) => {
                let msg = err.to_string();
                let ok = err.line == *line
                    && msg.contains(words)
                    && msg.contains("test.zone")
                    && !msg.contains('\n');
                if !ok {
                    failures.push(format!(
                        "{what}: got {msg:?} (line {:?}), want line {line:?} with {words:?}",
                        err.line
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Whether named-checkzone (relaxed checks, as the corpus index) and
/// nsd-checkzone load `text`; `None` where they are not installed (a
/// failure under HEARSAY_REQUIRE_LAB).
fn peers_load(dir: &Path, text: &str) -> Option<(bool, bool)> {
    let path = write(dir, "peer.zone", text);
    let run = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .output()
            .map(|out| out.status.success())
    };
    let relaxed = [
        "-i", "none", "-k", "ignore", "-m", "ignore", "-M", "ignore", "-n", "ignore", "-r",
        "ignore", "-S", "ignore", "-T", "ignore", "-W", "ignore",
    ];
    let file = path.to_str().unwrap();
    let bind = run(
        "named-checkzone",
        &[&relaxed[..], &["example.test.", file]].concat(),
    );
    let nsd = run("nsd-checkzone", &["example.test.", file]);
    match (bind, nsd) {
        (Ok(bind), Ok(nsd)) => Some((bind, nsd)),
        _ if std::env::var_os("HEARSAY_REQUIRE_LAB").is_some() => {
            panic!("HEARSAY_REQUIRE_LAB is set but named-checkzone or nsd-checkzone cannot run")
        }
        _ => None,
    }
}

#[test]
fn what_bind_or_nsd_loads_loads_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    // (what, text, words of the warning)
    let cases = [
        (
            "no NS at the apex",
            "$TTL 60\n@ SOA ns1 h 1 2 3 4 5\n".to_string(),
            "no NS records",
        ),
        (
            "a name outside the zone",
            format!("{HEAD}www.example.org. A 192.0.2.1\n"),
            "outside the zone",
        ),
        (
            "data below a delegation",
            format!("{HEAD}sub NS ns.sub\nns.sub A 192.0.2.9\nhost.sub TXT \"x\"\n"),
            "inside the delegation",
        ),
        (
            "a delegation below a delegation",
            format!("{HEAD}sub NS ns.sub\na.sub NS ns.a.sub\n"),
            "inside the delegation",
        ),
        (
            "MX at a delegation",
            format!("{HEAD}sub NS ns.sub\nsub MX 1 mail\n"),
            "inside the delegation",
        ),
        (
            "a wildcard delegation",
            format!("{HEAD}* NS ns1\n"),
            "wildcard with NS",
        ),
        (
            "TTLs that differ in an RRset",
            format!("{HEAD}m 20 A 192.0.2.1\nm 10 A 192.0.2.2\n"),
            "using 20",
        ),
        (
            "a parenthesis open at the end",
            format!("{HEAD}www A 192.0.2.1\nx TXT ( \"a\"\n\"b\"\n"),
            "not closed before the end",
        ),
        (
            "a generic length that is wrong",
            format!("{HEAD}www TXT \\# 7 0568656c6c6f\n"),
            "says 7 octets",
        ),
    ];
    let mut failures = Vec::new();
    for (what, text, words) in &cases {
        if let Some((bind, nsd)) = peers_load(dir.path(), text)
            && !(bind || nsd)
        {
            failures.push(format!("{what}: neither BIND nor NSD loads it"));
        }
        let path = write(dir.path(), "test.zone", text);
        match Zone::load(&origin(), &path) {
            Ok((_, warnings)) if warnings.iter().any(|w| w.contains(words)) => {}
            Ok((_, warnings)) => failures.push(format!("{what}: warnings {warnings:?}")),
            Err(e) => failures.push(format!("{what}: refused: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn errors_in_included_files_name_that_file() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "hosts.inc",
        "www A 192.0.2.80\n\nmail A 192.0.2.300\n",
    );
    let err = load(dir.path(), &format!("{HEAD}$INCLUDE hosts.inc\n"))
        .err()
        .unwrap();
    assert!(err.file.ends_with("hosts.inc"), "{err}");
    assert_eq!(err.line, Some(3));
}

#[test]
fn master_file_syntax_is_understood() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "hosts.inc",
        "www A 192.0.2.80 ; relative to the $INCLUDE origin\n",
    );
    let text = r#"; no $TTL: records take the last TTL written (RFC 1035)
$ORIGIN example.test.
@ 1h IN SOA ns1 hostmaster (
        1       ; serial
        2h 1h 2w
        300 )
  NS ns1
ns1 A 192.0.2.53
$INCLUDE hosts.inc sub
a.b 60 IN A 192.0.2.1
    AAAA 2001:db8::1
$ORIGIN other.example.test.
c TXT "one; not a comment" "two (not a list)"
"#;
    let zone = load(dir.path(), text).unwrap();
    let stats = zone.stats();
    assert_eq!((stats.records, stats.rrsets), (7, 7));
    let key = |s: &str| hearsay::wire::NameKey::from_name(&Name::from_ascii(s).unwrap());
    let ttl_of = |name: &str, rtype: RecordType| {
        let answer = zone
            .lookup(&key(name), u16::from(rtype), false)
            .unwrap()
            .answer;
        assert_eq!(answer.counts()[0], 1, "{name} {rtype}");
        let b = answer.bytes();
        // Owner is a 2-byte pointer; then type, class, TTL.
        u32::from_be_bytes([b[6], b[7], b[8], b[9]])
    };
    assert_eq!(ttl_of("example.test.", RecordType::SOA), 3600);
    assert_eq!(
        ttl_of("ns1.example.test.", RecordType::A),
        3600,
        "last TTL written"
    );
    assert_eq!(ttl_of("www.sub.example.test.", RecordType::A), 3600);
    assert_eq!(ttl_of("a.b.example.test.", RecordType::AAAA), 60);
    assert_eq!(ttl_of("c.other.example.test.", RecordType::TXT), 60);
}

#[tokio::test]
async fn reload_serves_new_data_and_keeps_the_old_zone_when_the_new_one_is_broken() {
    let server = start_with(
        &[("example.test.", &format!("{HEAD}www A 192.0.2.1\n"))],
        "",
    )
    .await;
    let zone_file = server.dir.path().join("zone0.zone");
    let ask = || udp_query(server.addr(), "www.example.test.", RecordType::A, None);
    assert_eq!(
        lines(&ask().await.answers),
        ["www.example.test. 3600 IN A 192.0.2.1"]
    );

    std::fs::write(&zone_file, format!("{HEAD}www A 192.0.2.2\n")).unwrap();
    let outcomes = server.server.reload_zones();
    assert!(matches!(outcomes[..], [ZoneOutcome::Loaded { .. }]));
    assert_eq!(
        lines(&ask().await.answers),
        ["www.example.test. 3600 IN A 192.0.2.2"]
    );

    std::fs::write(&zone_file, format!("{HEAD}www A 192.0.2.999\n")).unwrap();
    let outcomes = server.server.reload_zones();
    match &outcomes[..] {
        [
            ZoneOutcome::Failed {
                error, kept_old, ..
            },
        ] => {
            assert!(kept_old);
            assert_eq!(error.line, Some(6));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        lines(&ask().await.answers),
        ["www.example.test. 3600 IN A 192.0.2.2"],
        "old zone still served"
    );

    std::fs::remove_file(&zone_file).unwrap();
    server.server.reload_zones();
    assert_eq!(
        lines(&ask().await.answers),
        ["www.example.test. 3600 IN A 192.0.2.2"],
        "a vanished file keeps the old zone too"
    );
    server.server.shutdown().await;
}

#[test]
fn a_zone_compiled_on_two_threads_answers_every_name_and_keeps_its_warnings() {
    // Enough names for the compiler to split the work; the CNAME loop
    // falls in the second half, the chain's end in the first.
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{HEAD}$GENERATE 0-59999 h$ TXT \"host $\"\nlast CNAME h7\nloop1 CNAME loop2\nloop2 CNAME loop1\n"
    );
    let path = write(dir.path(), "big.zone", &text);
    let (zone, warnings) = Zone::load(&origin(), &path).unwrap();
    assert_eq!(zone.stats().records, 60_000 + 3 + 3);
    let key = |s: &str| hearsay::wire::NameKey::from_name(&Name::from_ascii(s).unwrap());
    let answer_to = |name: &str, rtype: RecordType| {
        zone.lookup(&key(name), u16::from(rtype), false)
            .unwrap()
            .answer
            .clone()
    };
    for n in [0, 29_999, 30_000, 59_999] {
        let answer = answer_to(&format!("h{n}.example.test."), RecordType::TXT);
        assert_eq!(answer.counts(), [1, 0, 0]);
        let text = format!("host {n}");
        assert!(answer.bytes().ends_with(text.as_bytes()), "h{n}");
    }
    let chain = answer_to("last.example.test.", RecordType::TXT);
    assert_eq!(chain.counts()[0], 2, "CNAME then the TXT of h7");
    assert!(chain.bytes().ends_with(b"host 7"));
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("loop1") && w.contains("loops")),
        "{warnings:?}"
    );
}

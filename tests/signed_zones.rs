//! Pre-signed zones served as NSD serves them: the same zone, signed here by
//! BIND's and ldns's signers (NSEC; NSEC3 with salt and iterations; NSEC3
//! opt-out), served by NSD and by hearsay, asked the same DO=1 questions.
//! Every answer must carry the same records; `delv`, anchored at the
//! zone's key, must reach the same verdict on both servers' answers.
//!
//! NSD adds the apex NS RRset and addresses for it to positive answers;
//! hearsay keeps answers minimal, so those optional records are left out
//! of the comparison of positive answers (RFC 2181 section 9 leaves them
//! to the server).

mod common;

use std::net::SocketAddr;
use std::path::Path;

use common::lab::{Host, Lab};
use common::signing::{sign_with_bind, sign_with_ldns, tools_missing};
use common::*;
use hickory_proto::op::{Edns, Message};
use hickory_proto::rr::{Name, RecordType};

const ZONE: &str = "$ORIGIN example.test.
$TTL 3600
@ SOA ns1 hostmaster 1 7200 3600 1209600 300
  NS ns1
  MX 10 mail
  A 192.0.2.1
ns1 A 192.0.2.53
mail A 192.0.2.25
www A 192.0.2.80
 AAAA 2001:db8::80
web CNAME www
gone CNAME missing
out CNAME www.example.org.
wc CNAME x.wild
*.wild A 192.0.2.100
*.wild TXT \"wild\"
a.b.c.ent TXT \"deep\"
sec NS ns.sec
sec DS 12345 8 2 0000000000000000000000000000000000000000000000000000000000000000
ns.sec A 192.0.2.99
insec NS ns.insec
ns.insec A 192.0.2.98
other NS ns1.elsewhere.test.
dn DNAME example.net.
dkim._domainkey TXT ( \"v=DKIM1; k=rsa; \"
                      \"p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\" )
";

/// Questions of every kind: positive, NODATA, NXDOMAIN, empty
/// non-terminals, wildcard answers and NODATA, CNAME chains, referrals to
/// signed and unsigned children, DS, DNAME, the apex's keys.
const QUESTIONS: &[(&str, RecordType)] = &[
    ("example.test.", RecordType::SOA),
    ("example.test.", RecordType::NS),
    ("example.test.", RecordType::DNSKEY),
    ("example.test.", RecordType::MX),
    ("example.test.", RecordType::TXT),
    ("www.example.test.", RecordType::A),
    ("www.example.test.", RecordType::AAAA),
    ("www.example.test.", RecordType::TXT),
    ("www.example.test.", RecordType::RRSIG),
    ("nope.example.test.", RecordType::A),
    ("a.nope.example.test.", RecordType::A),
    ("zzzz.example.test.", RecordType::A),
    ("ent.example.test.", RecordType::TXT),
    ("c.ent.example.test.", RecordType::A),
    ("a.b.c.ent.example.test.", RecordType::TXT),
    ("x.a.b.c.ent.example.test.", RecordType::TXT),
    ("x.wild.example.test.", RecordType::A),
    ("x.wild.example.test.", RecordType::TXT),
    ("x.wild.example.test.", RecordType::MX),
    ("y.x.wild.example.test.", RecordType::A),
    ("*.wild.example.test.", RecordType::A),
    ("web.example.test.", RecordType::A),
    ("web.example.test.", RecordType::TXT),
    ("web.example.test.", RecordType::CNAME),
    ("gone.example.test.", RecordType::A),
    ("out.example.test.", RecordType::A),
    ("wc.example.test.", RecordType::A),
    ("sec.example.test.", RecordType::A),
    ("x.sec.example.test.", RecordType::A),
    ("sec.example.test.", RecordType::DS),
    ("insec.example.test.", RecordType::A),
    ("insec.example.test.", RecordType::DS),
    ("a.insec.example.test.", RecordType::DS),
    ("other.example.test.", RecordType::A),
    ("dn.example.test.", RecordType::DNAME),
    ("dn.example.test.", RecordType::A),
    ("x.dn.example.test.", RecordType::A),
    ("a.b.dn.example.test.", RecordType::TXT),
    ("dkim._domainkey.example.test.", RecordType::TXT),
];

/// Questions `delv` can validate on an authoritative server alone (no
/// referral or DNAME to follow elsewhere).
const VALIDATED: &[(&str, RecordType)] = &[
    ("www.example.test.", RecordType::A),
    ("example.test.", RecordType::MX),
    ("nope.example.test.", RecordType::A),
    ("www.example.test.", RecordType::TXT),
    ("c.ent.example.test.", RecordType::A),
    ("x.wild.example.test.", RecordType::A),
    ("x.wild.example.test.", RecordType::MX),
    ("web.example.test.", RecordType::A),
    ("sec.example.test.", RecordType::DS),
    ("insec.example.test.", RecordType::DS),
];

/// How a test zone is signed.
#[derive(Clone, Copy, Debug)]
enum Signing {
    /// dnssec-signzone, NSEC, ECDSA P-256.
    Nsec,
    /// dnssec-signzone, NSEC3 with a salt and 5 iterations.
    Nsec3,
    /// ldns-signzone, NSEC3 opt-out, Ed25519.
    Nsec3OptOut,
}

/// Signs `ZONE`; returns the signed text and the KSK's DNSKEY line.
fn sign(dir: &Path, how: Signing) -> (String, String) {
    let signed = match how {
        Signing::Nsec => sign_with_bind(dir, ZONE, "ECDSAP256SHA256", None, &[]),
        Signing::Nsec3 => sign_with_bind(
            dir,
            ZONE,
            "ECDSAP256SHA256",
            None,
            &["-3", "aabbccdd", "-H", "5"],
        ),
        Signing::Nsec3OptOut => {
            sign_with_ldns(dir, ZONE, "ED25519", &["-n", "-p", "-s", "beef", "-t", "2"])
        }
    };
    let (signed, ksk) = (signed.file, signed.ksk);
    let text = std::fs::read_to_string(dir.join(signed)).unwrap();
    let key = std::fs::read_to_string(dir.join(format!("{ksk}.key"))).unwrap();
    let dnskey = key
        .lines()
        .find(|l| !l.starts_with(';') && l.contains("DNSKEY"))
        .expect("a DNSKEY line")
        .to_string();
    (text, dnskey)
}

/// One record as compared: lowercase, TTL kept.
fn show(section: &str, r: &hickory_proto::rr::Record) -> String {
    format!(
        "{section} {} {} {} {}",
        r.name,
        r.ttl,
        r.record_type(),
        r.data
    )
    .to_lowercase()
}

/// Asks with DO=1 over UDP, offering `size` octets.
async fn ask_signed(server: SocketAddr, name: &str, rtype: RecordType, size: u16) -> Message {
    let mut query = query_message(name, rtype, None);
    query.metadata.recursion_desired = false;
    let mut edns = Edns::new();
    edns.set_max_payload(size);
    edns.set_dnssec_ok(true);
    query.set_edns(edns);
    let bytes = udp_exchange(server, &query.to_vec().unwrap(), DEADLINE)
        .await
        .unwrap_or_else(|| panic!("{server} did not answer {name} {rtype}"));
    Message::from_vec(&bytes).expect("reply decodes")
}

/// What a server said, in comparable form.
async fn said(server: SocketAddr, name: &str, rtype: RecordType) -> Vec<String> {
    let reply = ask_signed(server, name, rtype, 4096).await;
    assert!(
        !reply.metadata.truncation,
        "{server} truncated {name} {rtype} at 4096"
    );
    let positive = !reply.answers.is_empty() && reply.metadata.authoritative;
    let mut lines = vec![format!(
        "rcode {} aa {}",
        reply.metadata.response_code, reply.metadata.authoritative
    )];
    lines.extend(reply.answers.iter().map(|r| show("answer", r)));
    let apex = Name::from_ascii("example.test.").unwrap();
    for r in &reply.authorities {
        let apex_ns = r.name == apex
            && (r.record_type() == RecordType::NS || r.data.to_string().starts_with("NS "));
        if !(positive && apex_ns) {
            lines.push(show("authority", r));
        }
    }
    if !positive {
        lines.extend(reply.additionals.iter().map(|r| show("additional", r)));
    }
    lines.sort();
    lines
}

/// delv's verdict, anchored at the zone's KSK.
async fn verdict(dir: &Path, server: SocketAddr, name: &str, rtype: RecordType) -> String {
    verdict_text(dir, server, name, rtype).await.0
}

async fn verdict_text(
    dir: &Path,
    server: SocketAddr,
    name: &str,
    rtype: RecordType,
) -> (String, String) {
    // Async: hearsay answers from this test's runtime meanwhile.
    let out = tokio::process::Command::new("delv")
        .args([
            &format!("@{}", server.ip()),
            "-p",
            &server.port().to_string(),
            "-a",
            "anchors.conf",
            "+root=example.test",
            name,
            &rtype.to_string(),
        ])
        .current_dir(dir)
        .output()
        .await
        .expect("delv runs");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let verdict = text
        .lines()
        .filter(|l| l.starts_with("; ") && !l.starts_with("; <<>>"))
        .collect::<Vec<_>>()
        .join(" / ")
        .to_lowercase();
    (verdict, text)
}

async fn compare(how: Signing) {
    require_lab!();
    if let Some(why) = tools_missing(&[
        "dnssec-keygen",
        "dnssec-signzone",
        "ldns-keygen",
        "ldns-signzone",
        "delv",
    ]) {
        if std::env::var_os("HEARSAY_REQUIRE_LAB").is_some() {
            panic!("HEARSAY_REQUIRE_LAB is set but signing cannot run: {why}");
        }
        eprintln!("skipping: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (signed, dnskey) = sign(dir.path(), how);
    let uncommented = dnskey.split(';').next().unwrap_or_default();
    let fields: Vec<&str> = uncommented.split_whitespace().collect();
    let at = fields.iter().position(|f| *f == "DNSKEY").unwrap();
    std::fs::write(
        dir.path().join("anchors.conf"),
        format!(
            "trust-anchors {{ \"example.test.\" static-key {} {} {} \"{}\"; }};\n",
            fields[at + 1],
            fields[at + 2],
            fields[at + 3],
            fields[at + 4..].concat()
        ),
    )
    .unwrap();

    let lab = Lab::start(&[Host::Nsd(1, &[("example.test.", &signed)])]).await;
    let ours = start_with(&[("example.test.", &signed)], "udp_payload_size = 4096\n").await;
    let mut differ = Vec::new();
    for (name, rtype) in QUESTIONS {
        let nsd = said(lab.addr(1), name, *rtype).await;
        let got = said(ours.addr(), name, *rtype).await;
        if nsd != got {
            differ.push(format!(
                "{name} {rtype}:\n  NSD:\n    {}\n  hearsay:\n    {}",
                nsd.join("\n    "),
                got.join("\n    ")
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "{how:?}: {} of {} answers differ from NSD's:\n{}",
        differ.len(),
        QUESTIONS.len(),
        differ.join("\n")
    );

    // At 512 octets an answer either comes whole, each RRset with its
    // RRSIGs and every proof, or empty with TC set.
    let mut truncated = 0;
    for (name, rtype) in QUESTIONS {
        let small = ask_signed(ours.addr(), name, *rtype, 512).await;
        let full = ask_signed(ours.addr(), name, *rtype, 4096).await;
        let lines = |m: &Message| -> Vec<String> {
            let mut v: Vec<String> = m.answers.iter().map(|r| show("answer", r)).collect();
            v.extend(m.authorities.iter().map(|r| show("authority", r)));
            v
        };
        if small.metadata.truncation {
            truncated += 1;
            assert!(lines(&small).is_empty(), "{name} {rtype}: TC with records");
        } else {
            assert_eq!(
                lines(&small),
                lines(&full),
                "{how:?}: {name} {rtype} at 512"
            );
        }
    }
    eprintln!(
        "{how:?}: {truncated} of {} answers truncated at 512 octets",
        QUESTIONS.len()
    );

    for (name, rtype) in VALIDATED {
        let theirs = verdict(dir.path(), lab.addr(1), name, *rtype).await;
        let (mine, said) = verdict_text(dir.path(), ours.addr(), name, *rtype).await;
        assert_eq!(mine, theirs, "{how:?}: delv on {name} {rtype}: {said}");
        assert!(
            mine.contains("fully validated") || mine.contains("unsigned answer"),
            "{how:?}: delv on {name} {rtype}: {mine}"
        );
        if let Signing::Nsec = how {
            assert!(mine.contains("fully validated"), "{name} {rtype}: {mine}");
        }
    }
}

#[tokio::test]
async fn nsec_signed_zone_answers_as_nsd_does() {
    compare(Signing::Nsec).await;
}

#[tokio::test]
async fn nsec3_signed_zone_answers_as_nsd_does() {
    compare(Signing::Nsec3).await;
}

#[tokio::test]
async fn nsec3_opt_out_zone_answers_as_nsd_does() {
    compare(Signing::Nsec3OptOut).await;
}

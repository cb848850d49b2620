//! DNSSEC validation checked against Unbound (`validator iterator`) on a
//! signed hierarchy that NSD serves, signed here with BIND's
//! dnssec-signzone: a signed root whose DS is both resolvers' trust
//! anchor, an NSEC3-signed TLD, and under it an NSEC zone, an NSEC3 zone
//! with salt and iterations, an NSEC3 opt-out zone with an unsigned child,
//! an unsigned child without DS, a zone whose signatures expired two days
//! ago (signed with ldns-signzone, as dnssec-signzone will not), a DS naming a key the child does not publish, and an
//! Ed25519-signed zone. Every question gets the same rcode, AD flag and
//! answer records from both, and those are the ones RFC 4035 gives.

mod common;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use common::lab::{Fault, Host, Lab, Unbound, line};
use common::signing::{have_tools, run, sign_origin, sign_origin_with_ldns, stray_ds};
use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};

const ROOT: &str = "$TTL 3600
. SOA ns.root. hostmaster.root. 1 7200 3600 1209600 300
. NS ns.root.
ns.root. A LAB.1
test. NS ns.test.
ns.test. A LAB.2
";

const TEST: &str = "$ORIGIN test.
$TTL 3600
@ SOA ns hostmaster 1 7200 3600 1209600 300
@ NS ns
ns A LAB.2
www A 192.0.2.1
nsec NS ns.nsec
ns.nsec A LAB.3
nsec3 NS ns.nsec3
ns.nsec3 A LAB.3
optout NS ns.optout
ns.optout A LAB.3
unsigned NS ns.unsigned
ns.unsigned A LAB.4
expired NS ns.expired
ns.expired A LAB.3
wrongds NS ns.wrongds
ns.wrongds A LAB.3
ed NS ns.ed
ns.ed A LAB.3
stripped NS ns.stripped
ns.stripped A LAB.5
unproven NS ns.unproven
ns.unproven A LAB.6
forged NS ns.forged
ns.forged A LAB.7
keytrap NS ns.keytrap
ns.keytrap A LAB.8
";

/// The data of the NSEC and NSEC3 zones (origin added).
const LEAF: &str = "$TTL 3600
@ SOA ns hostmaster 1 7200 3600 1209600 300
@ NS ns
ns A LAB.3
www A 192.0.2.10
www AAAA 2001:db8::10
*.wild A 192.0.2.11
host.ent A 192.0.2.12
inside CNAME www
alias CNAME www.unsigned.test.
";

const OPTOUT: &str = "$ORIGIN optout.test.
$TTL 3600
@ SOA ns hostmaster 1 7200 3600 1209600 300
@ NS ns
ns A LAB.3
www A 192.0.2.30
child NS ns.child
ns.child A LAB.4
";

const CHILD: &str = "$ORIGIN child.optout.test.
$TTL 3600
@ SOA ns hostmaster 1 7200 3600 1209600 300
@ NS ns
ns A LAB.4
www A 192.0.2.31
";

const UNSIGNED: &str = "$ORIGIN unsigned.test.
$TTL 3600
@ SOA ns hostmaster 1 7200 3600 1209600 300
@ NS ns
ns A LAB.4
www A 192.0.2.40
";

/// A one-address zone.
fn small(origin: &str, address: &str) -> String {
    format!(
        "$ORIGIN {origin}\n$TTL 3600\n@ SOA ns hostmaster 1 7200 3600 1209600 300\n\
         @ NS ns\nns A LAB.3\nwww A {address}\n"
    )
}

/// `secs` since the epoch as dnssec-signzone takes a time.
fn signer_time(dir: &Path, secs: u64) -> String {
    run(
        dir,
        "date",
        &["-u", "-d", &format!("@{secs}"), "+%Y%m%d%H%M%S"],
    )
}

/// What a resolver said: rcode, AD, the answer records as sorted lines
/// without TTLs, and the Extended DNS Error's code, if any.
#[derive(Debug, PartialEq, Eq)]
struct Verdict {
    rcode: ResponseCode,
    ad: bool,
    answer: Vec<String>,
}

async fn ask(
    resolver: std::net::SocketAddr,
    name: &str,
    rtype: RecordType,
    cd: bool,
) -> (Verdict, Option<u16>) {
    let mut query = query_message(name, rtype, Some(1232));
    // AD in the query asks for AD in the answer (RFC 6840 section 5.7),
    // without the RRSIGs DO would bring.
    query.metadata.authentic_data = true;
    query.metadata.checking_disabled = cd;
    let packet = query.to_vec().expect("encode");
    let reply = udp_exchange(resolver, &packet, DEADLINE * 2)
        .await
        .unwrap_or_else(|| panic!("{resolver} did not answer {name} {rtype}"));
    let mut reply = Message::from_vec(&reply).expect("reply decodes");
    if reply.metadata.truncation {
        reply = tcp_query(resolver, name, rtype).await;
    }
    let ede = reply
        .edns
        .as_ref()
        .and_then(|e| match e.option(EdnsCode::Unknown(15)) {
            Some(EdnsOption::Unknown(15, data)) if data.len() >= 2 => {
                Some(u16::from_be_bytes([data[0], data[1]]))
            }
            _ => None,
        });
    let mut answer: Vec<String> = reply.answers.iter().map(line).collect();
    answer.sort();
    (
        Verdict {
            rcode: reply.metadata.response_code,
            ad: reply.metadata.authentic_data,
            answer,
        },
        ede,
    )
}

/// The answer and authority sections of a DO=1 answer, as sorted lines
/// without TTLs: the records and the RRSIGs and proofs that go with them.
async fn ask_signed(
    resolver: std::net::SocketAddr,
    name: &str,
    rtype: RecordType,
) -> (ResponseCode, Vec<String>, Vec<String>) {
    let mut query = query_message(name, rtype, Some(1232));
    let mut edns = query.edns.take().expect("EDNS");
    edns.set_dnssec_ok(true);
    query.set_edns(edns);
    let packet = query.to_vec().expect("encode");
    let reply = udp_exchange(resolver, &packet, DEADLINE * 2)
        .await
        .unwrap_or_else(|| panic!("{resolver} did not answer {name} {rtype} +dnssec"));
    let mut reply = Message::from_vec(&reply).expect("reply decodes");
    if reply.metadata.truncation {
        let mut stream = tokio::net::TcpStream::connect(resolver)
            .await
            .expect("connect");
        tcp_send(&mut stream, &packet).await;
        let framed = tcp_recv(&mut stream).await.expect("a TCP reply");
        reply = Message::from_vec(&framed).expect("reply decodes");
    }
    let sorted = |records: &[hickory_proto::rr::Record]| {
        let mut lines: Vec<String> = records.iter().map(line).collect();
        lines.sort();
        lines
    };
    (
        reply.metadata.response_code,
        sorted(&reply.answers),
        sorted(&reply.authorities),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_agrees_with_unbound_on_a_signed_hierarchy() {
    require_lab!();
    let tools = [
        "dnssec-keygen",
        "dnssec-signzone",
        "dnssec-dsfromkey",
        "ldns-signzone",
        "delv",
    ];
    if !have_tools(&tools) {
        return;
    }
    let net = Lab::reserve();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let expand = |text: &str| Lab::expand_in(net, text);
    let p256 = "ECDSAP256SHA256";

    // Children first: their DS go into the TLD, the TLD's into the root.
    let nsec = sign_origin(
        dir,
        "nsec.test",
        &expand(&format!("$ORIGIN nsec.test.\n{LEAF}")),
        p256,
        &[],
    );
    let nsec3 = sign_origin(
        dir,
        "nsec3.test",
        &expand(&format!("$ORIGIN nsec3.test.\n{LEAF}")),
        "RSASHA256",
        &["-3", "aabbccdd", "-H", "5"],
    );
    let optout = sign_origin(
        dir,
        "optout.test",
        &expand(OPTOUT),
        p256,
        &["-3", "-", "-A"],
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (start, end) = (
        signer_time(dir, now - 10 * 86_400),
        signer_time(dir, now - 2 * 86_400),
    );
    let expired = sign_origin_with_ldns(
        dir,
        "expired.test",
        &expand(&small("expired.test.", "192.0.2.50")),
        p256,
        &["-i", &start, "-e", &end],
    );
    let wrongds = sign_origin(
        dir,
        "wrongds.test",
        &expand(&small("wrongds.test.", "192.0.2.60")),
        p256,
        &[],
    );
    let ed = sign_origin(
        dir,
        "ed.test",
        &expand(&small("ed.test.", "192.0.2.70")),
        "ED25519",
        &[],
    );
    // Signed well, and served through proxies that strip the signatures
    // or the proofs, or forge addresses.
    let leaf = |origin: &str, host: u8| {
        let text = LEAF.replace("LAB.3", &format!("LAB.{host}"));
        sign_origin(
            dir,
            origin,
            &expand(&format!("$ORIGIN {origin}.\n{text}")),
            p256,
            &[],
        )
    };
    let stripped = leaf("stripped.test", 5);
    let unproven = leaf("unproven.test", 6);
    let forged = leaf("forged.test", 7);
    // Every RRset signed by twelve ZSKs, whose signatures a proxy
    // corrupts: the KeyTrap shape.
    let keytrap_keys = common::signing::Keys::new(dir, "keytrap.test");
    let keytrap_ksk = keytrap_keys.make(p256, true, 3600);
    let keytrap_zsks: Vec<String> = (0..12)
        .map(|_| keytrap_keys.make(p256, false, 3600))
        .collect();
    let keytrap_zsks: Vec<&str> = keytrap_zsks.iter().map(String::as_str).collect();
    let keytrap_text = keytrap_keys.sign(
        &expand(&format!(
            "$ORIGIN keytrap.test.\n{}",
            LEAF.replace("LAB.3", "LAB.8")
        )),
        &[&keytrap_ksk],
        &keytrap_zsks,
    );
    let keytrap_ds = keytrap_keys.ds(&keytrap_ksk);
    let delegations = [
        &forged.ds,
        &keytrap_ds,
        &stripped.ds,
        &unproven.ds,
        &nsec.ds,
        &nsec3.ds,
        &optout.ds,
        &expired.ds,
        &stray_ds(dir, "wrongds.test", p256),
        &ed.ds,
    ];
    let tld_text = format!(
        "{}{}",
        expand(TEST),
        delegations
            .iter()
            .map(|d| format!("{}\n", d.trim_end()))
            .collect::<String>()
    );
    let tld = sign_origin(dir, "test", &tld_text, p256, &["-3", "-"]);
    let root = sign_origin(dir, ".", &format!("{}{}", expand(ROOT), tld.ds), p256, &[]);
    let anchor = dir.join("root.anchor");
    std::fs::write(&anchor, &root.ds).unwrap();

    let lab = Lab::start_on(
        net,
        &[
            Host::Nsd(1, &[(".", &root.text)]),
            Host::Nsd(2, &[("test.", &tld.text)]),
            Host::Nsd(
                3,
                &[
                    ("nsec.test.", &nsec.text),
                    ("nsec3.test.", &nsec3.text),
                    ("optout.test.", &optout.text),
                    ("expired.test.", &expired.text),
                    ("wrongds.test.", &wrongds.text),
                    ("ed.test.", &ed.text),
                    ("stripped.test.", &stripped.text),
                    ("unproven.test.", &unproven.text),
                    ("forged.test.", &forged.text),
                    ("keytrap.test.", &keytrap_text),
                ],
            ),
            Host::Proxy(5, 3, Fault::StripRrsigs),
            Host::Proxy(6, 3, Fault::StripAuthority),
            Host::Proxy(7, 3, Fault::ForgeAddresses),
            Host::Proxy(8, 3, Fault::CorruptSignatures),
            Host::Nsd(
                4,
                &[
                    ("unsigned.test.", &expand(UNSIGNED)),
                    ("child.optout.test.", &expand(CHILD)),
                ],
            ),
        ],
    )
    .await;
    let hints = lab.hints("ns.root.", 1);
    let unbound = Unbound::validating(&lab, &hints, &anchor).await;
    let hearsay = common::lab::hearsay(
        &hints,
        &format!(
            "dnssec = true\ntrust_anchor_file = \"{}\"\n",
            anchor.display()
        ),
    )
    .await;

    use RecordType::*;
    use ResponseCode::{NXDomain, NoError, ServFail};
    // (name, type, CD, rcode, AD): what RFC 4035 makes of each.
    let cases: &[(&str, RecordType, bool, ResponseCode, bool)] = &[
        ("test.", SOA, false, NoError, true),
        ("www.test.", A, false, NoError, true),
        ("nope.test.", A, false, NXDomain, true),
        ("nsec.test.", DS, false, NoError, true),
        ("unsigned.test.", DS, false, NoError, true),
        ("nsec.test.", DNSKEY, false, NoError, true),
        // NSEC
        ("www.nsec.test.", A, false, NoError, true),
        ("www.nsec.test.", AAAA, false, NoError, true),
        ("www.nsec.test.", TXT, false, NoError, true),
        ("nope.nsec.test.", A, false, NXDomain, true),
        ("x.wild.nsec.test.", A, false, NoError, true),
        ("x.wild.nsec.test.", TXT, false, NoError, true),
        ("ent.nsec.test.", A, false, NoError, true),
        ("inside.nsec.test.", A, false, NoError, true),
        ("alias.nsec.test.", A, false, NoError, false),
        // NSEC3 with salt and iterations
        ("www.nsec3.test.", A, false, NoError, true),
        ("www.nsec3.test.", MX, false, NoError, true),
        ("nope.nsec3.test.", A, false, NXDomain, true),
        ("x.wild.nsec3.test.", A, false, NoError, true),
        ("x.wild.nsec3.test.", TXT, false, NoError, true),
        ("ent.nsec3.test.", A, false, NoError, true),
        // Opt-out, and the unsigned child in its span
        ("www.optout.test.", A, false, NoError, true),
        ("www.child.optout.test.", A, false, NoError, false),
        ("nope.optout.test.", A, false, NXDomain, false),
        ("child.optout.test.", DS, false, NoError, false),
        // Unsigned, no DS
        ("www.unsigned.test.", A, false, NoError, false),
        ("nope.unsigned.test.", A, false, NXDomain, false),
        // Broken chains, and the same with checking disabled
        ("www.expired.test.", A, false, ServFail, false),
        ("www.wrongds.test.", A, false, ServFail, false),
        ("www.expired.test.", A, true, NoError, false),
        ("www.wrongds.test.", A, true, NoError, false),
        // Ed25519
        ("www.ed.test.", A, false, NoError, true),
        // Signatures stripped on the way; proofs stripped on the way
        ("www.stripped.test.", A, false, ServFail, false),
        ("nope.stripped.test.", A, false, ServFail, false),
        ("x.wild.unproven.test.", A, false, ServFail, false),
        ("nope.unproven.test.", A, false, ServFail, false),
        ("www.unproven.test.", TXT, false, ServFail, false),
        ("www.unproven.test.", A, false, NoError, true),
        // A forged address; signatures that all fail, twelve an RRset
        ("www.forged.test.", A, false, ServFail, false),
        ("www.forged.test.", AAAA, false, NoError, true),
        ("www.keytrap.test.", A, false, ServFail, false),
    ];
    // Each resolver in turn, so the authoritative queries each costs can
    // be counted.
    let mut said = Vec::new();
    let before = lab.settled().await;
    for &(name, rtype, cd, _, _) in cases {
        said.push(ask(hearsay.addr(), name, rtype, cd).await);
    }
    let after_hearsay = lab.settled().await;
    let mut unbound_said = Vec::new();
    for &(name, rtype, cd, _, _) in cases {
        unbound_said.push(ask(unbound.addr, name, rtype, cd).await.0);
    }
    let after_unbound = lab.settled().await;
    let total = |counts: &[(u8, u64)]| counts.iter().map(|(_, n)| n).sum::<u64>();
    let (ours_asked, theirs_asked) = (
        total(&after_hearsay) - total(&before),
        total(&after_unbound) - total(&after_hearsay),
    );
    println!(
        "authoritative queries for {} questions: hearsay {ours_asked}, Unbound {theirs_asked}",
        cases.len()
    );
    // Keys and DS are fetched once per zone, not once per question.
    assert!(
        ours_asked * 4 <= theirs_asked * 5,
        "hearsay asked the authorities {ours_asked} times, Unbound {theirs_asked}"
    );
    // Forwarding, with CD, to the validating Unbound: the data comes
    // unvalidated and is judged here.
    let forwarder = start_with(
        &[],
        &format!(
            "[resolver]\nupstreams = [\"{}\"]\ndnssec = true\ntrust_anchor_file = \"{}\"\n",
            unbound.addr,
            anchor.display()
        ),
    )
    .await;
    let mut wrong = Vec::new();
    for (i, &(name, rtype, cd, rcode, ad)) in cases.iter().enumerate() {
        let (ours, ede) = &said[i];
        let theirs = &unbound_said[i];
        let (forwarded, forwarded_ede) = ask(forwarder.addr(), name, rtype, cd).await;
        println!(
            "{name} {rtype}{}: hearsay {:?} AD={} EDE={ede:?}, Unbound {:?} AD={}, forwarding {:?} AD={}",
            if cd { " +cd" } else { "" },
            ours.rcode,
            ours.ad,
            theirs.rcode,
            theirs.ad,
            forwarded.rcode,
            forwarded.ad,
        );
        if ours != theirs || ours.rcode != rcode || ours.ad != ad || forwarded != *ours {
            wrong.push(format!(
                "{name} {rtype} cd={cd}: expected {rcode:?} AD={ad}\n  hearsay {ours:?}\n  unbound {theirs:?}\n  forwarding {forwarded:?}"
            ));
        }
        if rcode == ServFail {
            let expected = match name {
                n if n.contains("expired") => 7,
                n if n.contains("wrongds") => 9,
                n if n.contains("stripped") => 10,
                n if n.contains("forged") || n.contains("keytrap") => 6,
                _ => 12,
            };
            if *ede != Some(expected) || forwarded_ede != Some(expected) {
                wrong.push(format!(
                    "{name}: EDE {ede:?} (forwarding {forwarded_ede:?}), expected {expected}"
                ));
            }
        }
    }
    // A name listed in domain_insecure is not validated; the rest is.
    let exempt = common::lab::hearsay(
        &hints,
        &format!(
            "dnssec = true\ntrust_anchor_file = \"{}\"\ndomain_insecure = [\"expired.test\"]\n",
            anchor.display()
        ),
    )
    .await;
    for (name, rcode, ad) in [
        ("www.expired.test.", NoError, false),
        ("www.wrongds.test.", ServFail, false),
        ("www.nsec.test.", NoError, true),
    ] {
        let (said, _) = ask(exempt.addr(), name, A, false).await;
        if (said.rcode, said.ad) != (rcode, ad) {
            wrong.push(format!("{name} with expired.test insecure: {said:?}"));
        }
    }

    // delv, validating itself through hearsay as its resolver, agrees.
    let fields: Vec<&str> = root.ds.split_whitespace().collect();
    let at = fields.iter().position(|f| *f == "DS").expect("a DS record");
    let delv_anchor = dir.join("delv.anchor");
    std::fs::write(
        &delv_anchor,
        format!(
            "trust-anchors {{ . static-ds {} {} {} \"{}\"; }};\n",
            fields[at + 1],
            fields[at + 2],
            fields[at + 3],
            fields[at + 4..].concat()
        ),
    )
    .unwrap();
    for (name, verdict) in [
        ("www.nsec3.test.", "; fully validated"),
        ("www.unsigned.test.", "; unsigned answer"),
        ("www.expired.test.", "resolution failed"),
    ] {
        let out = tokio::process::Command::new("delv")
            .arg(format!("@{}", hearsay.addr().ip()))
            .args(["-p", &hearsay.addr().port().to_string()])
            .arg("-a")
            .arg(&delv_anchor)
            .args(["+root=.", name, "A"])
            .output()
            .await
            .expect("delv runs");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !said.contains(verdict) {
            wrong.push(format!("delv {name}: expected {verdict:?}, said {said}"));
        }
    }

    // Twelve bad signatures an RRset cost a bounded number of checks.
    let checks = hearsay.server.counters().signatures_checked;
    let (keytrap, _) = ask(hearsay.addr(), "ns.keytrap.test.", A, false).await;
    let spent = hearsay.server.counters().signatures_checked - checks;
    println!(
        "ns.keytrap.test. A: {:?} after {spent} signature checks",
        keytrap.rcode
    );
    if keytrap.rcode != ServFail
        || spent > u64::from(hearsay::dnssec::budget::SIGNATURES_PER_QUESTION)
    {
        wrong.push(format!(
            "ns.keytrap.test.: {keytrap:?} after {spent} signature checks"
        ));
    }

    // 300 random missing names in the NSEC zone, and types missing at a
    // name: after a few misses, denied from the NSEC ranges proven
    // (RFC 8198). Authoritative queries: at most Unbound's.
    let mut seed: u32 = 0x2545_f491;
    let mut random_label = || {
        (0..8)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                char::from(b'a' + (seed >> 24) as u8 % 26)
            })
            .collect::<String>()
    };
    let mut flood: Vec<(String, RecordType, ResponseCode)> = (0..300)
        .map(|_| (format!("{}.nsec.test.", random_label()), A, NXDomain))
        .collect();
    flood.extend(
        [SRV, CAA, HINFO, NAPTR, SSHFP].map(|t| ("www.nsec.test.".to_string(), t, NoError)),
    );
    // And names under a wildcard already seen: answered from it.
    flood.extend((0..50).map(|_| (format!("{}.wild.nsec.test.", random_label()), A, NoError)));
    let mut flood_queries = Vec::new();
    let aggressive_before = hearsay.server.counters().aggressive_nsec;
    for server in [hearsay.addr(), unbound.addr] {
        let before = lab.settled().await;
        for (name, rtype, rcode) in &flood {
            let (said, _) = ask(server, name, *rtype, false).await;
            if said.rcode != *rcode || !said.ad {
                wrong.push(format!("{server} {name} {rtype}: {said:?}"));
            }
        }
        flood_queries.push(total(&lab.settled().await) - total(&before));
    }
    let aggressive = hearsay.server.counters().aggressive_nsec;
    println!(
        "{} missing names and types, and names under a wildcard: authoritative queries \
         hearsay {}, Unbound {}; hearsay made {} NXDOMAIN, {} NODATA and {} wildcard \
         answers from NSEC ranges",
        flood.len(),
        flood_queries[0],
        flood_queries[1],
        aggressive[0] - aggressive_before[0],
        aggressive[1] - aggressive_before[1],
        aggressive[2] - aggressive_before[2],
    );
    assert!(
        flood_queries[0] <= flood_queries[1],
        "hearsay asked {} times, Unbound {}",
        flood_queries[0],
        flood_queries[1]
    );

    // DO=1: the same records, with the same RRSIGs and proofs, from the
    // cache.
    let from_ranges = [
        ("k3.nsec.test.", A, false, NXDomain, true),
        ("www.nsec.test.", SRV, false, NoError, true),
        ("synthesised.wild.nsec.test.", A, false, NoError, true),
    ];
    for &(name, rtype, cd, rcode, _) in cases.iter().chain(&from_ranges) {
        if cd || rcode == ServFail {
            continue;
        }
        let ours = ask_signed(hearsay.addr(), name, rtype).await;
        let theirs = ask_signed(unbound.addr, name, rtype).await;
        let forwarded = ask_signed(forwarder.addr(), name, rtype).await;
        if ours != theirs || forwarded != ours {
            wrong.push(format!(
                "{name} {rtype} +dnssec:\n  hearsay {ours:?}\n  unbound {theirs:?}\n  forwarding {forwarded:?}"
            ));
        }
    }
    // Two validating siblings: what one member learns from the other
    // keeps its status (AD over the signed sibling channel), and its
    // RRSIGs and proofs for DO=1 clients.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port();
    let key = dir.join("cluster.key");
    std::fs::write(&key, "c2libGluZ3Mgc2hhcmUgb25lIGtleSBmb3IgdGhlIHRlc3Q=\n").unwrap();
    let member = |last: u8, seed: u8| {
        format!(
            "dnssec = true\ntrust_anchor_file = \"{}\"\ntimeout = \"3s\"\n\
             [cache]\nprefetch = false\n\
             [siblings]\nlisten = \"127.0.0.{last}:{port}\"\nseeds = [\"127.0.0.{seed}:{port}\"]\n\
             hedge_min = \"500ms\"\nhedge_max = \"1s\"\n\
             key = {{ name = \"cluster.\", algorithm = \"hmac-sha256\", secret_file = \"{}\" }}\n",
            anchor.display(),
            key.display()
        )
    };
    let first = common::lab::hearsay(&hints, &member(61, 62)).await;
    let second = common::lab::hearsay(&hints, &member(62, 61)).await;
    until("the siblings to see each other", || {
        first.server.sibling_members().len() == 2 && second.server.sibling_members().len() == 2
    })
    .await;
    let sibling_names = [
        ("www.nsec.test.", A, NoError),
        ("www.nsec3.test.", AAAA, NoError),
        ("nope.nsec.test.", A, NXDomain),
        ("nope.nsec3.test.", A, NXDomain),
        ("www.ed.test.", A, NoError),
        ("www.optout.test.", A, NoError),
        ("x.wild.nsec3.test.", A, NoError),
        ("www.nsec.test.", TXT, NoError),
    ];
    for (name, rtype, rcode) in sibling_names {
        for server in [&first, &second] {
            let (said, _) = ask(server.addr(), name, rtype, false).await;
            if said.rcode != rcode || !said.ad {
                wrong.push(format!(
                    "sibling {} {name} {rtype}: {said:?}",
                    server.addr()
                ));
            }
            let with_do = ask_signed(server.addr(), name, rtype).await;
            let reference = ask_signed(unbound.addr, name, rtype).await;
            if with_do != reference {
                wrong.push(format!(
                    "sibling {} {name} {rtype} +dnssec:\n  {with_do:?}\n  unbound {reference:?}",
                    server.addr()
                ));
            }
        }
    }
    // A cache file keeps the status: a restored secure answer is served
    // with AD, and with its RRSIGs, without asking anyone.
    let file = dir.join("cache.state");
    first.server.handle().dump_cache(&file).expect("dump");
    let restored = common::lab::hearsay(&hints, &config_for_restore(&anchor)).await;
    let loaded = restored.server.handle().load_cache(&file).expect("load");
    let before = restored.server.counters().cache_misses;
    let (said, _) = ask(restored.addr(), "www.nsec.test.", A, false).await;
    let with_do = ask_signed(restored.addr(), "www.nsec.test.", A).await;
    println!(
        "restored {} entries: www.nsec.test. A {said:?}",
        loaded.stored
    );
    if !said.ad
        || with_do != ask_signed(unbound.addr, "www.nsec.test.", A).await
        || restored.server.counters().cache_misses != before
    {
        wrong.push(format!("restored from a cache file: {said:?} {with_do:?}"));
    }
    let from_sibling = first
        .server
        .counters()
        .sibling(hearsay::counters::SiblingEvent::Answered)
        + second
            .server
            .counters()
            .sibling(hearsay::counters::SiblingEvent::Answered);
    println!("{from_sibling} answers came from the other sibling");
    if from_sibling == 0 {
        wrong.push("no answer came from a sibling".into());
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A validating resolver's configuration for `anchor`, without siblings.
fn config_for_restore(anchor: &Path) -> String {
    format!(
        "dnssec = true\ntrust_anchor_file = \"{}\"\n",
        anchor.display()
    )
}

/// The lab root's key roll, the way the root's is done (RFC 5011): a new
/// KSK published beside the old one, trusted after the add hold-down,
/// then the old one revoked. A resolver following it keeps validating,
/// across a restart; one with the old anchor fixed in its configuration
/// cannot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_key_roll_is_followed_through_rfc_5011() {
    use std::time::Duration;
    require_lab!();
    if !have_tools(&["dnssec-keygen", "dnssec-signzone", "dnssec-revoke"]) {
        return;
    }
    let net = Lab::reserve();
    let work = tempfile::tempdir().unwrap();
    let root_text = Lab::expand_in(
        net,
        "$TTL 3600
. SOA ns.root. hostmaster.root. 1 7200 3600 1209600 300
. NS ns.root.
ns.root. A LAB.1
",
    );
    // DNSKEY TTL 1 s, so every new question re-reads the root's keys.
    let keys = common::signing::Keys::new(work.path(), ".");
    let p256 = "ECDSAP256SHA256";
    let (old, zsk) = (keys.make(p256, true, 1), keys.make(p256, false, 1));
    let anchor = work.path().join("root.anchor");
    std::fs::write(&anchor, keys.ds(&old)).unwrap();
    let lab = Lab::start_on(
        net,
        &[Host::Nsd(
            1,
            &[(".", &keys.sign(&root_text, &[&old], &[&zsk]))],
        )],
    )
    .await;
    let hints = lab.hints("ns.root.", 1);
    let state = work.path().join("root.state");
    let config = |state: Option<&Path>| {
        let mut extra = format!(
            "dnssec = true\naggressive_nsec = false\ntrust_anchor_file = \"{}\"\n",
            anchor.display()
        );
        if let Some(state) = state {
            extra.push_str(&format!(
                "trust_anchor_state = \"{}\"\ntrust_anchor_add_hold_down = \"3s\"\n",
                state.display()
            ));
        }
        extra
    };
    let following = common::lab::hearsay(&hints, &config(Some(&state))).await;
    let fixed = common::lab::hearsay(&hints, &config(None)).await;
    // Each question a new name in the root zone: its denial needs the
    // root's keys, read again once their second is up.
    let mut asked = 0;
    let mut ask_root = async |server: std::net::SocketAddr| {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        asked += 1;
        ask(server, &format!("nope{asked}."), A, false).await.0
    };
    use RecordType::A;
    let secure_nx = |v: &Verdict| v.rcode == ResponseCode::NXDomain && v.ad;
    let states = || std::fs::read_to_string(&state).unwrap_or_default();

    assert!(secure_nx(&ask_root(following.addr()).await));
    assert!(secure_nx(&ask_root(fixed.addr()).await));
    assert!(states().contains("dnskey valid"), "{}", states());

    // The new KSK published and signing beside the old.
    let new = keys.make(p256, true, 1);
    lab.reload(1, 0, &keys.sign(&root_text, &[&old, &new], &[&zsk]))
        .await;
    assert!(secure_nx(&ask_root(following.addr()).await));
    assert!(states().contains("dnskey addpend"), "{}", states());
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(secure_nx(&ask_root(following.addr()).await));
    assert_eq!(states().matches("dnskey valid").count(), 2, "{}", states());

    // The old KSK revoked: only the new one vouches for the keys now.
    let revoked = keys.revoke(&old);
    lab.reload(1, 0, &keys.sign(&root_text, &[&revoked, &new], &[&zsk]))
        .await;
    let after_roll = ask_root(following.addr()).await;
    assert!(secure_nx(&after_roll), "{after_roll:?}");
    let stuck = ask_root(fixed.addr()).await;
    assert_eq!(
        stuck.rcode,
        ResponseCode::ServFail,
        "the fixed anchor: {stuck:?}"
    );
    assert!(states().contains("dnskey revoked"), "{}", states());

    // A restart keeps what was learned.
    drop(following);
    let restarted = common::lab::hearsay(&hints, &config(Some(&state))).await;
    let again = ask_root(restarted.addr()).await;
    assert!(secure_nx(&again), "after a restart: {again:?}");
    println!("{}", states());
}

//! Every authoritative answer rule (RFC 1034 section 4.3.2, RFC 2308,
//! RFC 4592, RFC 6604, RFC 8482), asked of a real server over UDP.

mod common;

use common::*;
use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};

const NEG_SOA: &str = "example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. 2026112401 7200 3600 1209600 300";
const SUB_NS: [&str; 2] = [
    "sub.example.test. 3600 IN NS ns.sub.example.test.",
    "sub.example.test. 3600 IN NS ns2.example.test.",
];
const SUB_GLUE: [&str; 3] = [
    "ns.sub.example.test. 3600 IN A 192.0.2.99",
    "ns2.example.test. 3600 IN A 192.0.2.54",
    "ns2.example.test. 3600 IN AAAA 2001:db8::54",
];

struct Case {
    what: &'static str,
    name: &'static str,
    rtype: RecordType,
    rcode: ResponseCode,
    aa: bool,
    answer: &'static [&'static str],
    authority: &'static [&'static str],
    additional: &'static [&'static str],
}

const fn case(what: &'static str, name: &'static str, rtype: RecordType) -> Case {
    Case {
        what,
        name,
        rtype,
        rcode: ResponseCode::NoError,
        aa: true,
        answer: &[],
        authority: &[],
        additional: &[],
    }
}

fn cases() -> Vec<Case> {
    use RecordType::*;
    vec![
        Case {
            answer: &["www.example.test. 3600 IN A 192.0.2.80"],
            ..case(
                "an existing RRset is answered with AA",
                "www.example.test.",
                A,
            )
        },
        Case {
            answer: &["WwW.eXaMpLe.TeSt. 3600 IN A 192.0.2.80"],
            ..case(
                "matching ignores case; the owner follows the question",
                "WwW.eXaMpLe.TeSt.",
                A,
            )
        },
        Case {
            answer: &[
                "example.test. 3600 IN SOA ns1.example.test. hostmaster.example.test. 2026112401 7200 3600 1209600 300",
            ],
            ..case("the apex SOA keeps its own TTL", "example.test.", SOA)
        },
        Case {
            answer: &[
                "web.example.test. 3600 IN CNAME site.example.test.",
                "site.example.test. 3600 IN CNAME www.example.test.",
                "www.example.test. 3600 IN A 192.0.2.80",
            ],
            ..case(
                "a CNAME chain inside the zone is followed",
                "web.example.test.",
                A,
            )
        },
        Case {
            answer: &[
                "web.example.test. 3600 IN CNAME site.example.test.",
                "site.example.test. 3600 IN CNAME www.example.test.",
                "www.example.test. 3600 IN AAAA 2001:db8::80",
            ],
            ..case(
                "the chain ends in the asked type",
                "web.example.test.",
                AAAA,
            )
        },
        Case {
            answer: &["web.example.test. 3600 IN CNAME site.example.test."],
            ..case(
                "asking for the CNAME itself gets only the CNAME",
                "web.example.test.",
                CNAME,
            )
        },
        Case {
            answer: &[
                "web.example.test. 3600 IN CNAME site.example.test.",
                "site.example.test. 3600 IN CNAME www.example.test.",
            ],
            authority: &[NEG_SOA],
            ..case(
                "a chain ending in NODATA carries the SOA",
                "web.example.test.",
                MX,
            )
        },
        Case {
            answer: &["docs.example.test. 3600 IN CNAME docs.example.org."],
            ..case(
                "a CNAME leaving the zone is given as is",
                "docs.example.test.",
                A,
            )
        },
        Case {
            rcode: ResponseCode::NXDomain,
            answer: &["gone.example.test. 3600 IN CNAME missing.example.test."],
            authority: &[NEG_SOA],
            ..case(
                "a chain ending at a missing name is NXDOMAIN (RFC 6604)",
                "gone.example.test.",
                A,
            )
        },
        Case {
            answer: &["deep.example.test. 3600 IN CNAME host.sub.example.test."],
            authority: &SUB_NS,
            additional: &SUB_GLUE,
            ..case(
                "a chain into a delegation ends with the referral",
                "deep.example.test.",
                A,
            )
        },
        Case {
            answer: &[
                "loop1.example.test. 3600 IN CNAME loop2.example.test.",
                "loop2.example.test. 3600 IN CNAME loop1.example.test.",
            ],
            ..case(
                "a CNAME loop is answered once round",
                "loop1.example.test.",
                A,
            )
        },
        Case {
            answer: &["x.apps.example.test. 300 IN A 192.0.2.100"],
            ..case(
                "a wildcard is synthesised with the asked name",
                "x.apps.example.test.",
                A,
            )
        },
        Case {
            answer: &["q.r.apps.example.test. 300 IN A 192.0.2.100"],
            ..case(
                "a wildcard covers names several labels down",
                "q.r.apps.example.test.",
                A,
            )
        },
        Case {
            answer: &["*.apps.example.test. 300 IN A 192.0.2.100"],
            ..case(
                "the wildcard name itself answers",
                "*.apps.example.test.",
                A,
            )
        },
        Case {
            authority: &[NEG_SOA],
            ..case(
                "a wildcard without the type is NODATA",
                "x.apps.example.test.",
                MX,
            )
        },
        Case {
            authority: &[NEG_SOA],
            ..case(
                "an existing name is not covered by the wildcard",
                "a.b.apps.example.test.",
                A,
            )
        },
        Case {
            authority: &[NEG_SOA],
            ..case(
                "an empty non-terminal is NODATA, not NXDOMAIN",
                "b.apps.example.test.",
                A,
            )
        },
        Case {
            rcode: ResponseCode::NXDomain,
            authority: &[NEG_SOA],
            ..case(
                "below an empty non-terminal with no wildcard is NXDOMAIN",
                "x.b.apps.example.test.",
                A,
            )
        },
        Case {
            answer: &[
                "foo.alias.example.test. 3600 IN CNAME www.example.test.",
                "www.example.test. 3600 IN A 192.0.2.80",
            ],
            ..case(
                "a wildcard CNAME is synthesised and followed",
                "foo.alias.example.test.",
                A,
            )
        },
        Case {
            rcode: ResponseCode::NXDomain,
            authority: &[NEG_SOA],
            ..case(
                "NXDOMAIN carries the SOA with the lesser of TTL and MINIMUM",
                "nope.example.test.",
                A,
            )
        },
        Case {
            authority: &[NEG_SOA],
            ..case("NODATA carries the SOA", "www.example.test.", MX)
        },
        Case {
            aa: false,
            authority: &SUB_NS,
            additional: &SUB_GLUE,
            ..case(
                "a name below a delegation gets a referral",
                "host.sub.example.test.",
                A,
            )
        },
        Case {
            aa: false,
            authority: &SUB_NS,
            additional: &SUB_GLUE,
            ..case(
                "the delegation point itself gets a referral",
                "sub.example.test.",
                NS,
            )
        },
        Case {
            aa: false,
            authority: &SUB_NS,
            additional: &SUB_GLUE,
            ..case(
                "glue is not answered authoritatively",
                "ns.sub.example.test.",
                A,
            )
        },
        Case {
            authority: &[NEG_SOA],
            ..case(
                "DS at a delegation is the parent's to answer",
                "sub.example.test.",
                DS,
            )
        },
        Case {
            answer: &["example.test. 3600 IN MX 10 mail.example.test."],
            additional: &["mail.example.test. 3600 IN A 192.0.2.25"],
            ..case("MX targets get their addresses", "example.test.", MX)
        },
        Case {
            answer: &[
                "example.test. 3600 IN NS ns1.example.test.",
                "example.test. 3600 IN NS ns2.example.test.",
            ],
            additional: &[
                "ns1.example.test. 3600 IN A 192.0.2.53",
                "ns2.example.test. 3600 IN A 192.0.2.54",
                "ns2.example.test. 3600 IN AAAA 2001:db8::54",
            ],
            ..case("NS targets get their addresses", "example.test.", NS)
        },
        Case {
            answer: &["_imap._tcp.example.test. 3600 IN SRV 10 0 993 mail.example.test."],
            additional: &["mail.example.test. 3600 IN A 192.0.2.25"],
            ..case(
                "SRV targets get their addresses",
                "_imap._tcp.example.test.",
                SRV,
            )
        },
        Case {
            answer: &["example.test. 3600 IN A 192.0.2.1"],
            ..case("ANY gets one RRset (RFC 8482)", "example.test.", ANY)
        },
        Case {
            answer: &["web.example.test. 3600 IN CNAME site.example.test."],
            ..case("ANY at a CNAME gets the CNAME", "web.example.test.", ANY)
        },
        Case {
            rcode: ResponseCode::Refused,
            aa: false,
            ..case("a name in no zone is refused", "www.example.org.", A)
        },
    ]
}

#[tokio::test]
async fn answers_follow_the_rules() {
    let server = start_example().await;
    let mut failures = Vec::new();
    for case in cases() {
        let reply = udp_query(server.addr(), case.name, case.rtype, Some(1232)).await;
        let got = (
            reply.metadata.response_code,
            reply.metadata.authoritative,
            lines(&reply.answers),
            lines(&reply.authorities),
            lines(&reply.additionals),
        );
        let want = (
            case.rcode,
            case.aa,
            case.answer
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
            case.authority
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
            case.additional
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>(),
        );
        if got != want {
            failures.push(format!("{}\n  got:  {got:?}\n  want: {want:?}", case.what));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    server.server.shutdown().await;
}

#[tokio::test]
async fn question_is_echoed_as_sent_and_flags_are_copied() {
    let server = start_example().await;
    let mut msg = query_message("wWw.Example.TEST.", RecordType::A, None);
    msg.metadata.checking_disabled = true;
    let reply = udp_exchange(server.addr(), &msg.to_vec().unwrap(), DEADLINE)
        .await
        .unwrap();
    // The question's bytes are the client's, case and all.
    assert_eq!(&reply[12..30], &msg.to_vec().unwrap()[12..30]);
    let reply = Message::from_vec(&reply).unwrap();
    assert!(reply.metadata.recursion_desired);
    assert!(reply.metadata.checking_disabled);
    assert!(!reply.metadata.recursion_available);
    assert!(
        reply.edns.is_none(),
        "no OPT in reply to a query without one"
    );
    server.server.shutdown().await;
}

#[tokio::test]
async fn status_codes_for_what_is_not_served() {
    let server = start_example().await;
    let cases: Vec<(&str, Message, ResponseCode)> = vec![
        (
            "EDNS version 1 gets BADVERS",
            {
                let mut m = query_message("www.example.test.", RecordType::A, Some(1232));
                if let Some(edns) = m.edns.as_mut() {
                    edns.set_version(1);
                }
                m
            },
            ResponseCode::BADVERS,
        ),
        (
            "NOTIFY is not implemented",
            {
                let mut m = query_message("example.test.", RecordType::SOA, None);
                m.metadata.op_code = OpCode::Notify;
                m
            },
            ResponseCode::NotImp,
        ),
        (
            "UPDATE is not implemented",
            {
                let mut m = query_message("example.test.", RecordType::SOA, None);
                m.metadata.op_code = OpCode::Update;
                m
            },
            ResponseCode::NotImp,
        ),
        (
            "AXFR is refused",
            query_message("example.test.", RecordType::AXFR, None),
            ResponseCode::Refused,
        ),
        (
            "IXFR is refused",
            query_message("example.test.", RecordType::IXFR, None),
            ResponseCode::Refused,
        ),
        (
            "class CH is refused",
            {
                let mut m = query_message("version.bind.", RecordType::TXT, None);
                m.queries[0].query_class = DNSClass::CH;
                m
            },
            ResponseCode::Refused,
        ),
        (
            "qtype OPT is a format error",
            query_message("example.test.", RecordType::OPT, None),
            ResponseCode::FormErr,
        ),
        (
            "qtype MAILB is not implemented",
            query_message("example.test.", RecordType::Unknown(253), None),
            ResponseCode::NotImp,
        ),
    ];
    for (what, msg, want) in cases {
        let reply = udp_exchange(server.addr(), &msg.to_vec().unwrap(), DEADLINE)
            .await
            .unwrap_or_else(|| panic!("{what}: no reply"));
        let reply = Message::from_vec(&reply).unwrap();
        // Compare numbers: hickory names rcode 16 BADSIG, which is BADVERS
        // when it comes from OPT.
        assert_eq!(
            u16::from(reply.metadata.response_code),
            u16::from(want),
            "{what}"
        );
        assert_eq!(reply.queries.len(), 1, "{what}: question echoed");
        assert!(reply.answers.is_empty(), "{what}");
        assert_eq!(
            reply.edns.is_some(),
            msg.edns.is_some(),
            "{what}: OPT iff the query had one"
        );
    }
    server.server.shutdown().await;
}

#[tokio::test]
async fn most_specific_zone_answers() {
    let child = "$ORIGIN sub.example.test.\n$TTL 60\n@ SOA ns hostmaster 1 2 3 4 5\n  NS ns\nns A 192.0.2.99\nhost A 192.0.2.7\n";
    let server = start_with(
        &[
            ("example.test.", EXAMPLE_ZONE),
            ("sub.example.test.", child),
        ],
        "",
    )
    .await;
    let reply = udp_query(server.addr(), "host.sub.example.test.", RecordType::A, None).await;
    assert!(reply.metadata.authoritative);
    assert_eq!(
        lines(&reply.answers),
        ["host.sub.example.test. 60 IN A 192.0.2.7"]
    );
    let reply = udp_query(server.addr(), "www.example.test.", RecordType::A, None).await;
    assert_eq!(
        lines(&reply.answers),
        ["www.example.test. 3600 IN A 192.0.2.80"]
    );
    server.server.shutdown().await;
}

#[tokio::test]
async fn names_below_a_dname_get_it_and_a_cname_made_for_them() {
    // RFC 6672 section 3.3 (and 2.2: YXDOMAIN when the substituted name
    // would be longer than 255 octets).
    let long_target = format!("{}.example.net.", vec!["x".repeat(60); 3].join("."));
    let zone = format!(
        "$ORIGIN example.test.\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n  NS ns1\n\
         ns1 A 192.0.2.53\nd 600 DNAME example.net.\nlong DNAME {long_target}\n\
         x.d A 192.0.2.7\n"
    );
    let server = start_with(&[("example.test.", &zone)], "").await;
    // hickory shows a DNAME's RDATA as opaque: base64 of its wire form.
    let dname = "d.example.test. 600 IN DNAME B2V4YW1wbGUDbmV0AA==";

    let reply = udp_query(
        server.addr(),
        "a.b.d.example.test.",
        RecordType::A,
        Some(1232),
    )
    .await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.metadata.authoritative);
    assert_eq!(
        lines(&reply.answers),
        [dname, "a.b.d.example.test. 600 IN CNAME a.b.example.net.",]
    );
    // Data below the DNAME is occluded: the DNAME answers for it.
    let reply = udp_query(
        server.addr(),
        "x.d.example.test.",
        RecordType::A,
        Some(1232),
    )
    .await;
    assert_eq!(
        lines(&reply.answers),
        [dname, "x.d.example.test. 600 IN CNAME x.example.net.",]
    );
    // The owner itself answers as any name.
    let reply = udp_query(
        server.addr(),
        "d.example.test.",
        RecordType::DNAME,
        Some(1232),
    )
    .await;
    assert_eq!(lines(&reply.answers), [dname]);

    let prefix = vec!["y".repeat(40); 2].join(".");
    let reply = udp_query(
        server.addr(),
        &format!("{prefix}.long.example.test."),
        RecordType::A,
        Some(1232),
    )
    .await;
    assert_eq!(reply.metadata.response_code, ResponseCode::YXDomain);
    assert_eq!(
        reply.answers.len(),
        1,
        "the DNAME alone: {:?}",
        reply.answers
    );
}

//! The README's offline lab (`config/lab/`, `zones/lab/`): its zone files,
//! served the way the lab configs serve them but on an ephemeral port, and
//! the questions the README asks of the lab's resolver.

mod common;

use std::net::{IpAddr, SocketAddr};

use common::*;
use hearsay::counters::{IterationEvent, Transport};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

fn zone(file: &str) -> String {
    let path = format!("{}/zones/lab/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn at(last: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::from([127, 0, 0, last]), port)
}

#[tokio::test]
async fn the_readme_lab_answers_what_the_readme_says() {
    let (root, test, lab, example, deep, shop) = (
        zone("root.zone"),
        zone("test.zone"),
        zone("lab.zone"),
        zone("example.test.zone"),
        zone("deep.example.test.zone"),
        zone("shop.lab.zone"),
    );
    let root = start_at(at(2, 0), &[(".", &root)], "").await;
    let port = root.addr().port();
    let servers = [
        root,
        start_at(at(3, port), &[("test.", &test), ("lab.", &lab)], "").await,
        start_at(at(4, port), &[("example.test.", &example)], "").await,
        start_at(
            at(5, port),
            &[("deep.example.test.", &deep), ("shop.lab.", &shop)],
            "",
        )
        .await,
    ];
    let hints = format!("{}/config/lab/root.hints", env!("CARGO_MANIFEST_DIR"));
    let resolver = start_with(
        &[],
        &format!(
            "[resolver]\nmode = \"recursive\"\nroot_hints = \"{hints}\"\nauthority_port = {port}\n"
        ),
    )
    .await;
    until("priming", || {
        resolver.server.counters().iteration(IterationEvent::Primed) == 1
    })
    .await;
    let asked = || -> u64 {
        servers
            .iter()
            .map(|s| {
                let c = s.server.counters();
                c.queries(Transport::Udp) + c.queries(Transport::Tcp)
            })
            .sum()
    };

    let cases: [(&str, RecordType, ResponseCode, &[&str]); 4] = [
        (
            "www.deep.example.test.",
            RecordType::A,
            ResponseCode::NoError,
            &["www.deep.example.test. 3600 IN A 192.0.2.3"],
        ),
        (
            "store.example.test.",
            RecordType::A,
            ResponseCode::NoError,
            &[
                "store.example.test. 3600 IN CNAME www.shop.lab.",
                "www.shop.lab. 3600 IN A 192.0.2.44",
            ],
        ),
        (
            "nope.example.test.",
            RecordType::A,
            ResponseCode::NXDomain,
            &[],
        ),
        (
            "x.users.deep.example.test.",
            RecordType::A,
            ResponseCode::NoError,
            &["x.users.deep.example.test. 3600 IN A 192.0.2.33"],
        ),
    ];
    for (name, rtype, rcode, expected) in cases {
        let reply = udp_query(resolver.addr(), name, rtype, Some(1232)).await;
        assert_eq!(reply.metadata.response_code, rcode, "{name}");
        assert_eq!(lines(&reply.answers), expected, "{name}");
        if rcode == ResponseCode::NXDomain {
            assert_eq!(
                lines(&reply.authorities),
                [
                    "example.test. 300 IN SOA ns1.example.test. hostmaster.example.test. 1 7200 3600 1209600 300"
                ]
            );
        }
    }
    // A second ask of each comes from the cache.
    let before = asked();
    for (name, rtype, rcode, _) in cases {
        let reply = udp_query(resolver.addr(), name, rtype, Some(1232)).await;
        assert_eq!(reply.metadata.response_code, rcode, "{name}, again");
    }
    assert_eq!(asked(), before, "the second round reached the lab servers");
}

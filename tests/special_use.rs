//! Special-use names (RFC 6761, 6303, 7686, 8375) answered by the resolver
//! itself, checked against Unbound's default local zones: both resolvers
//! have a root that never answers, so anything not answered locally would
//! SERVFAIL.

mod common;

use std::net::SocketAddr;

use common::lab::{Host, Lab, Unbound, hearsay};
use common::*;
use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;

/// Everything a client sees of an answer: rcode, AA, and the answer and
/// authority sections with TTLs.
fn seen(reply: &Message) -> String {
    let mut text = format!(
        "{} aa={}\n",
        reply.metadata.response_code, reply.metadata.authoritative
    );
    for (section, records) in [
        ("answer", &reply.answers),
        ("authority", &reply.authorities),
    ] {
        let mut lines: Vec<String> = records
            .iter()
            .map(|r| format!("{section}: {r}").to_lowercase())
            .collect();
        lines.sort();
        for line in lines {
            text.push_str(&line);
            text.push('\n');
        }
    }
    text
}

async fn ask(addr: SocketAddr, name: &str, rtype: RecordType) -> String {
    seen(&udp_query(addr, name, rtype, Some(1232)).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn special_use_names_are_answered_locally_as_unbound_answers_them() {
    require_lab!();
    let lab = Lab::start(&[Host::Silent(1), Host::Silent(2)]).await;
    let unbound = Unbound::start(&lab, &lab.hints("unbound", 1)).await;
    let ours = hearsay(&lab.hints("hearsay", 2), "[special_use]\nenabled = true\n").await;
    let questions = [
        ("localhost.", RecordType::A),
        ("localhost.", RecordType::AAAA),
        ("localhost.", RecordType::SOA),
        ("localhost.", RecordType::NS),
        ("localhost.", RecordType::MX),
        ("1.0.0.127.in-addr.arpa.", RecordType::PTR),
        ("2.0.0.127.in-addr.arpa.", RecordType::PTR),
        (
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
            RecordType::PTR,
        ),
        ("1.0.168.192.in-addr.arpa.", RecordType::PTR),
        ("168.192.in-addr.arpa.", RecordType::SOA),
        ("9.8.7.10.in-addr.arpa.", RecordType::PTR),
        ("1.1.20.172.in-addr.arpa.", RecordType::PTR),
        ("4.3.254.169.in-addr.arpa.", RecordType::PTR),
        ("1.2.0.192.in-addr.arpa.", RecordType::PTR),
        ("1.1.64.100.in-addr.arpa.", RecordType::PTR),
        ("255.255.255.255.in-addr.arpa.", RecordType::PTR),
        (
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.",
            RecordType::PTR,
        ),
        ("1.0.8.e.f.ip6.arpa.", RecordType::PTR),
        ("1.8.b.d.0.1.0.0.2.ip6.arpa.", RecordType::PTR),
        ("printer.home.arpa.", RecordType::A),
        ("home.arpa.", RecordType::SOA),
        (
            "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion.",
            RecordType::A,
        ),
        ("anything.test.", RecordType::A),
        ("test.", RecordType::NS),
        ("anything.invalid.", RecordType::AAAA),
    ];
    let mut differ = Vec::new();
    for (name, rtype) in questions {
        let theirs = ask(unbound.addr, name, rtype).await;
        let mine = ask(ours.addr(), name, rtype).await;
        assert!(
            !theirs.starts_with("SERVFAIL"),
            "Unbound resolved {name} {rtype}:\n{theirs}"
        );
        if theirs != mine {
            differ.push(format!(
                "{name} {rtype}\nUnbound:\n{theirs}hearsay:\n{mine}"
            ));
        }
    }
    assert!(differ.is_empty(), "answers differ:\n{}", differ.join("\n"));

    // Below localhost every name is the loopback (RFC 6761 6.3); Unbound
    // agrees on the address, so only ours is checked for the owner.
    let sub = udp_query(ours.addr(), "db.app.localhost.", RecordType::AAAA, None).await;
    assert_eq!(lines(&sub.answers), ["db.app.localhost. 10800 IN AAAA ::1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_zone_or_nodefault_replaces_a_special_use_zone() {
    require_lab!();
    let lab = Lab::start(&[Host::Silent(1)]).await;
    let zone = "$TTL 300\n@ SOA ns.test. h.test. 1 2 3 4 5\n@ NS ns.test.\nns A 192.0.2.1\nwww A 192.0.2.80\n";
    let hints = lab.hints("hearsay", 1);
    let served = start_with(
        &[("test.", zone)],
        &format!(
            "[resolver]\nmode = \"recursive\"\nroot_hints = \"{}\"\n[special_use]\n",
            hints.display()
        ),
    )
    .await;
    let reply = udp_query(served.addr(), "www.test.", RecordType::A, None).await;
    assert_eq!(lines(&reply.answers), ["www.test. 300 IN A 192.0.2.80"]);
    // The other special-use zones still answer.
    let reply = udp_query(served.addr(), "x.onion.", RecordType::A, None).await;
    assert_eq!(
        reply.metadata.response_code,
        hickory_proto::op::ResponseCode::NXDomain
    );

    // nodefault hands the name to the resolver, whose root is silent.
    let resolving = hearsay(
        &hints,
        "timeout = \"300ms\"\n[special_use]\nnodefault = [\"onion.\"]\n",
    )
    .await;
    let reply = udp_query(resolving.addr(), "x.onion.", RecordType::A, None).await;
    assert_eq!(
        reply.metadata.response_code,
        hickory_proto::op::ResponseCode::ServFail
    );
    let reply = udp_query(resolving.addr(), "localhost.", RecordType::A, None).await;
    assert_eq!(lines(&reply.answers), ["localhost. 10800 IN A 127.0.0.1"]);
}

//! UDP sizes and truncation, TCP framing, pipelining and limits, and
//! hostile input, over real sockets.

mod common;

use std::time::Duration;

use common::*;
use hearsay::counters::{TcpClose, Transport};
use hearsay::wire::Malformed;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

#[tokio::test]
async fn oversized_udp_answer_is_truncated_and_whole_over_tcp() {
    let server = start_example().await;
    let reply = udp_query(server.addr(), "big.example.test.", RecordType::TXT, None).await;
    assert!(reply.metadata.truncation, "TC set");
    assert!(reply.answers.is_empty(), "no partial RRset");
    assert_eq!(reply.queries.len(), 1);

    let reply = tcp_query(server.addr(), "big.example.test.", RecordType::TXT).await;
    assert!(!reply.metadata.truncation);
    assert_eq!(reply.answers.len(), 6);
    assert!(server.server.counters().truncated >= 1);
    server.server.shutdown().await;
}

#[tokio::test]
async fn udp_answers_honour_the_clients_edns_size_and_ours() {
    // The TXT answer is about 700 bytes.
    let cases = [
        ("no EDNS: 512", None, 1232, true),
        ("EDNS below 512 counts as 512", Some(100), 1232, true),
        ("client allows 512", Some(512), 1232, true),
        ("client allows 1232", Some(1232), 1232, false),
        ("client allows 4096, we send 1232", Some(4096), 1232, false),
        ("client allows 4096, we send 600", Some(4096), 600, true),
    ];
    for (what, client, ours, truncated) in cases {
        let server = start_with(
            &[("example.test.", EXAMPLE_ZONE)],
            &format!("udp_payload_size = {}", ours.max(512)),
        )
        .await;
        let msg = query_message("big.example.test.", RecordType::TXT, client);
        let raw = udp_exchange(server.addr(), &msg.to_vec().unwrap(), DEADLINE)
            .await
            .unwrap();
        let limit = client.map_or(512, |c| (c.min(ours) as usize).max(512));
        assert!(raw.len() <= limit, "{what}: {} > {limit}", raw.len());
        let reply = Message::from_vec(&raw).unwrap();
        assert_eq!(reply.metadata.truncation, truncated, "{what}");
        if client.is_some() {
            let edns = reply.edns.expect("OPT in reply");
            assert_eq!(
                edns.max_payload(),
                ours.max(512),
                "{what}: we advertise our size"
            );
        }
        server.server.shutdown().await;
    }
}

#[tokio::test]
async fn additional_data_is_dropped_before_the_answer_is_truncated() {
    let mut zone =
        String::from("$ORIGIN t.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n NS ns\nns A 192.0.2.1\n");
    for i in 0..10 {
        zone.push_str(&format!(
            "mx MX {i} m{i}\nm{i} A 192.0.2.{i}\nm{i} AAAA 2001:db8::{i}\n"
        ));
    }
    let server = start_with(&[("t.", &zone)], "").await;
    let reply = udp_query(server.addr(), "mx.t.", RecordType::MX, None).await;
    assert!(
        !reply.metadata.truncation,
        "optional data dropped without TC"
    );
    assert_eq!(reply.answers.len(), 10);
    assert!(!reply.additionals.is_empty() && reply.additionals.len() < 20);

    let reply = tcp_query(server.addr(), "mx.t.", RecordType::MX).await;
    assert_eq!(reply.additionals.len(), 20, "all of it over TCP");
    server.server.shutdown().await;
}

#[tokio::test]
async fn referral_without_room_for_its_glue_sets_tc() {
    let mut zone =
        String::from("$ORIGIN t.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n NS ns\nns A 192.0.2.1\n");
    for i in 0..8 {
        let ns = format!("a-rather-long-name-server-name-number-{i}.child");
        zone.push_str(&format!(
            "child NS {ns}\n{ns} A 192.0.2.{i}\n{ns} AAAA 2001:db8::{i}\n"
        ));
    }
    let server = start_with(&[("t.", &zone)], "").await;
    let reply = udp_query(server.addr(), "www.child.t.", RecordType::A, None).await;
    assert!(
        reply.metadata.truncation,
        "in-domain glue is required (RFC 9471)"
    );
    let reply = tcp_query(server.addr(), "www.child.t.", RecordType::A).await;
    assert_eq!((reply.authorities.len(), reply.additionals.len()), (8, 16));
    server.server.shutdown().await;
}

#[tokio::test]
async fn pipelined_tcp_queries_are_all_answered_on_one_connection() {
    let server = start_example().await;
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    let names = [
        "www", "mail", "nope", "web", "ns1", "big", "x.apps", "host.sub",
    ];
    let mut batch = Vec::new();
    let mut ids = Vec::new();
    for round in 0..4 {
        for name in names {
            let mut msg =
                query_message(&format!("{name}.example.test."), RecordType::A, Some(1232));
            msg.metadata.id = (round * 100 + ids.len()) as u16;
            ids.push(msg.metadata.id);
            let bytes = msg.to_vec().unwrap();
            batch.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
            batch.extend_from_slice(&bytes);
        }
    }
    // All queries in one write: the server must frame them itself.
    stream.write_all(&batch).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..ids.len() {
        let reply = tcp_recv(&mut stream).await.expect("every query answered");
        seen.push(Message::from_vec(&reply).unwrap().metadata.id);
    }
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids);
    assert_eq!(server.server.counters().tcp_connections, 1);
    server.server.shutdown().await;
}

#[tokio::test]
async fn silent_and_stalled_tcp_clients_are_cut_off() {
    let server = start_with(
        &[("example.test.", EXAMPLE_ZONE)],
        "tcp_idle_timeout = \"600ms\"\ntcp_message_timeout = \"200ms\"",
    )
    .await;
    let started = std::time::Instant::now();
    // Silent: connects and sends nothing.
    let mut silent = TcpStream::connect(server.addr()).await.unwrap();
    // Stalled: starts a message and never finishes it.
    let mut stalled = TcpStream::connect(server.addr()).await.unwrap();
    stalled.write_all(&[0, 40, 1, 2, 3]).await.unwrap();
    let mut buf = [0u8; 1];
    let read = timeout(DEADLINE, stalled.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "stalled one closed");
    let stalled_after = started.elapsed();
    let read = timeout(DEADLINE, silent.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "silent one closed");
    assert!(
        stalled_after < Duration::from_millis(550),
        "a begun message has the short deadline: closed after {stalled_after:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(550));
    let counters = server.server.counters();
    assert_eq!(counters.tcp_closed(TcpClose::Stalled), 1);
    assert_eq!(counters.tcp_closed(TcpClose::Idle), 1);
    server.server.shutdown().await;
}

#[tokio::test]
async fn a_connection_over_the_cap_evicts_the_idlest() {
    let server = start_with(
        &[("example.test.", EXAMPLE_ZONE)],
        "tcp_max_connections = 2",
    )
    .await;
    let mut first = TcpStream::connect(server.addr()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut second = TcpStream::connect(server.addr()).await.unwrap();
    // The second has asked something since: the first is the idlest.
    let msg = query_message("www.example.test.", RecordType::A, None);
    tcp_send(&mut second, &msg.to_vec().unwrap()).await;
    tcp_recv(&mut second).await.expect("answered");
    let mut third = TcpStream::connect(server.addr()).await.unwrap();
    tcp_send(&mut third, &msg.to_vec().unwrap()).await;
    let reply = timeout(DEADLINE, tcp_recv(&mut third))
        .await
        .expect("served at once")
        .expect("answered");
    assert_eq!(Message::from_vec(&reply).unwrap().answers.len(), 1);
    let mut buf = [0u8; 1];
    let read = timeout(DEADLINE, first.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "the idlest closed");
    tcp_send(&mut second, &msg.to_vec().unwrap()).await;
    tcp_recv(&mut second)
        .await
        .expect("the busier one still served");
    assert_eq!(server.server.counters().tcp_closed(TcpClose::Evicted), 1);
    server.server.shutdown().await;
}

/// Issue 13's shape: one address holds hundreds of connections, idle or
/// with one byte of a length prefix sent, far past every cap; a new client
/// from the same address is still answered within a second, and UDP too.
#[tokio::test]
async fn a_new_client_is_answered_past_hundreds_of_stalled_connections() {
    let server = start_with(
        &[("example.test.", EXAMPLE_ZONE)],
        "tcp_max_connections = 100\ntcp_max_connections_per_address = 50",
    )
    .await;
    let mut held = Vec::new();
    for i in 0..600 {
        let Ok(mut stream) = TcpStream::connect(server.addr()).await else {
            continue;
        };
        if i % 2 == 0 {
            let _ = stream.write_all(&[0]).await;
        }
        held.push(stream);
    }
    let msg = query_message("www.example.test.", RecordType::A, None);
    let started = std::time::Instant::now();
    let answered = timeout(Duration::from_secs(1), async {
        let mut client = TcpStream::connect(server.addr()).await.ok()?;
        tcp_send(&mut client, &msg.to_vec().unwrap()).await;
        tcp_recv(&mut client).await
    })
    .await;
    let reply = answered
        .expect("answered within 1 s")
        .expect("an answer, not a close");
    assert_eq!(Message::from_vec(&reply).unwrap().answers.len(), 1);
    let udp = udp_query(server.addr(), "www.example.test.", RecordType::A, None).await;
    assert_eq!(udp.answers.len(), 1);
    let counters = server.server.counters();
    let (evicted, stalled) = (
        counters.tcp_closed(TcpClose::Evicted),
        counters.tcp_closed(TcpClose::Stalled),
    );
    println!(
        "TCP client answered in {:?} past {} held connections; {evicted} evicted, {stalled} stalled",
        started.elapsed(),
        held.len(),
    );
    // All but the per-address cap were closed, one way or the other.
    assert!(
        evicted + stalled >= 500,
        "{evicted} evicted, {stalled} stalled"
    );
    server.server.shutdown().await;
}

/// A small deterministic generator, so a failure can be replayed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[tokio::test]
async fn malformed_packets_get_formerr_or_nothing_and_are_counted() {
    let server = start_example().await;
    let good = query_message("www.example.test.", RecordType::A, None)
        .to_vec()
        .unwrap();
    let with = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut p = good.clone();
        edit(&mut p);
        p
    };
    // (what, packet, expected rcode or None for no reply, counter)
    let cases: Vec<(&str, Vec<u8>, Option<ResponseCode>, Malformed)> = vec![
        ("empty datagram", vec![], None, Malformed::ShortHeader),
        (
            "truncated header",
            good[..7].to_vec(),
            None,
            Malformed::ShortHeader,
        ),
        (
            "a response",
            with(&|p| p[2] |= 0x80),
            None,
            Malformed::NotAQuery,
        ),
        (
            "no question",
            with(&|p| {
                p[5] = 0;
                p.truncate(12)
            }),
            Some(ResponseCode::FormErr),
            Malformed::QuestionCount,
        ),
        (
            "two questions",
            with(&|p| p[5] = 2),
            Some(ResponseCode::FormErr),
            Malformed::QuestionCount,
        ),
        (
            "question cut short",
            good[..20].to_vec(),
            Some(ResponseCode::FormErr),
            Malformed::Truncated,
        ),
        (
            "compression loop in the question",
            with(&|p| {
                p.truncate(12);
                p.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1])
            }),
            Some(ResponseCode::FormErr),
            Malformed::BadPointer,
        ),
        (
            "label longer than 63",
            with(&|p| p[12] = 0x45),
            Some(ResponseCode::FormErr),
            Malformed::BadName,
        ),
        (
            "answer count with no answers",
            with(&|p| p[7] = 1),
            Some(ResponseCode::FormErr),
            Malformed::Truncated,
        ),
        (
            "trailing garbage",
            with(&|p| p.extend_from_slice(b"junk")),
            Some(ResponseCode::FormErr),
            Malformed::TrailingData,
        ),
    ];
    for (what, packet, want, counter) in &cases {
        let before = server.server.counters().malformed(*counter);
        let reply = udp_exchange(server.addr(), packet, Duration::from_millis(300)).await;
        match (reply, want) {
            (None, None) => {}
            (Some(reply), Some(want)) => {
                let reply = Message::from_vec(&reply).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(reply.metadata.response_code, *want, "{what}");
                assert_eq!(
                    reply.metadata.id,
                    u16::from_be_bytes([good[0], good[1]]),
                    "{what}"
                );
            }
            (reply, want) => panic!("{what}: got {reply:?}, want {want:?}"),
        }
        assert_eq!(
            server.server.counters().malformed(*counter),
            before + 1,
            "{what}: counted"
        );
    }

    // Random bytes, with a valid header more often than chance would give.
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for _ in 0..2000 {
        let len = (rng.next() % 600) as usize;
        let mut packet: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if len >= 12 && rng.next().is_multiple_of(2) {
            packet[2] &= 0x7F;
            packet[4] = 0;
            packet[5] = 1;
        }
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket.send_to(&packet, server.addr()).await.unwrap();
    }
    // Still serving, over both transports.
    let reply = udp_query(server.addr(), "www.example.test.", RecordType::A, None).await;
    assert_eq!(reply.answers.len(), 1);
    let reply = tcp_query(server.addr(), "www.example.test.", RecordType::A).await;
    assert_eq!(reply.answers.len(), 1);
    let counters = server.server.counters();
    assert!(
        counters.malformed_total() > 1000,
        "random packets counted as malformed"
    );
    assert!(
        counters.responses(Transport::Udp, 1) >= 7,
        "FORMERR responses counted"
    );
    server.server.shutdown().await;
}

#[tokio::test]
async fn garbage_on_tcp_closes_the_connection() {
    let server = start_example().await;
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    tcp_send(&mut stream, &[1, 2, 3]).await;
    assert_eq!(tcp_recv(&mut stream).await, None, "closed without a reply");
    assert_eq!(server.server.counters().tcp_closed(TcpClose::Garbage), 1);
    // A FORMERR-worthy query still gets its FORMERR over TCP.
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    let mut query = query_message("www.example.test.", RecordType::A, None)
        .to_vec()
        .unwrap();
    query[5] = 2;
    tcp_send(&mut stream, &query).await;
    let reply = Message::from_vec(&tcp_recv(&mut stream).await.unwrap()).unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
    server.server.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_listening() {
    let server = start_example().await;
    let addr = server.addr();
    let reply = udp_query(addr, "www.example.test.", RecordType::A, None).await;
    assert_eq!(reply.answers.len(), 1);
    timeout(DEADLINE, server.server.shutdown())
        .await
        .expect("shutdown in time");
    let msg = query_message("www.example.test.", RecordType::A, None);
    let reply = udp_exchange(addr, &msg.to_vec().unwrap(), Duration::from_millis(200)).await;
    assert!(reply.is_none(), "no answers after shutdown");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "TCP closed after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_from_many_clients_get_their_own_answers() {
    let server = start_with(&[("example.test.", EXAMPLE_ZONE)], "threads = 2").await;
    let names = ["www", "mail", "ns1", "ns2", "nope"];
    let mut clients = Vec::new();
    for client in 0..40u16 {
        let addr = server.addr();
        clients.push(tokio::spawn(async move {
            let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            // Everything is sent before anything is read, so the server
            // sees full batches from many sources.
            for (i, name) in names.iter().enumerate() {
                let mut msg = query_message(&format!("{name}.example.test."), RecordType::A, None);
                msg.metadata.id = client * 16 + i as u16;
                socket.send_to(&msg.to_vec().unwrap(), addr).await.unwrap();
            }
            let mut buf = vec![0u8; 4096];
            let mut got = Vec::new();
            for _ in 0..names.len() {
                let (len, _) = timeout(DEADLINE, socket.recv_from(&mut buf))
                    .await
                    .unwrap()
                    .unwrap();
                let reply = Message::from_vec(&buf[..len]).unwrap();
                let i = (reply.metadata.id - client * 16) as usize;
                assert!(
                    i < names.len(),
                    "client {client} got another client's answer"
                );
                assert!(reply.queries[0].name().to_string().starts_with(names[i]));
                got.push(i);
            }
            got.sort();
            assert_eq!(got, [0, 1, 2, 3, 4]);
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    server.server.shutdown().await;
}

//! Rate limits (`[rate_limit]`): the response rate limit on authoritative
//! answers, with its slip, and the per-network limit on recursion; both
//! for UDP without a valid server cookie only.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::fake::{Behaviour, FakeUpstream};
use common::*;
use hearsay::counters::RateLimited;
use hickory_proto::op::{Edns, Message};
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use tokio::net::UdpSocket;

/// What came back for a burst of queries.
#[derive(Debug, Default, PartialEq)]
struct Burst {
    answered: usize,
    truncated: usize,
    silent: usize,
}

/// Waits for the start of a second, so a burst falls in one window of
/// the limits.
async fn start_of_a_second() {
    let into = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_millis();
    tokio::time::sleep(Duration::from_millis(u64::from(1000 - into) + 20)).await;
}

/// Sends `queries` at once over UDP and sorts what comes back.
async fn burst(server: SocketAddr, queries: &[Message]) -> Burst {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for query in queries {
        socket
            .send_to(&query.to_vec().unwrap(), server)
            .await
            .unwrap();
    }
    let mut seen = Burst::default();
    let mut buf = vec![0u8; 65535];
    while let Ok(Ok((len, _))) =
        tokio::time::timeout(Duration::from_millis(300), socket.recv_from(&mut buf)).await
    {
        let reply = Message::from_vec(&buf[..len]).unwrap();
        if reply.metadata.truncation {
            assert!(reply.answers.is_empty(), "a slip carries no records");
            seen.truncated += 1;
        } else {
            assert!(!reply.answers.is_empty(), "{reply:?}");
            seen.answered += 1;
        }
    }
    seen.silent = queries.len() - seen.answered - seen.truncated;
    seen
}

/// `n` queries for `name`, with `cookie` as the COOKIE option if given.
fn queries(name: &str, n: u16, cookie: Option<&[u8]>) -> Vec<Message> {
    (0..n)
        .map(|i| {
            let mut query = query_message(name, RecordType::A, Some(1232));
            query.metadata.id = 1000 + i;
            if let Some(cookie) = cookie {
                let edns = query.edns.get_or_insert_with(Edns::new);
                edns.options_mut()
                    .insert(EdnsOption::Unknown(10, cookie.to_vec()));
            }
            query
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authoritative_answers_past_the_limit_slip_or_drop() {
    let server = start_with(
        &[("example.test.", EXAMPLE_ZONE)],
        "[rate_limit]\nresponses = 3\nslip = 2\n",
    )
    .await;
    start_of_a_second().await;
    // Three answers; of the nine past the limit, every second slips.
    let seen = burst(server.addr(), &queries("www.example.test.", 12, None)).await;
    assert_eq!(
        seen,
        Burst {
            answered: 3,
            truncated: 4,
            silent: 5
        }
    );
    let counters = server.server.counters();
    assert_eq!(counters.rate_limited(RateLimited::ResponseSlipped), 4);
    assert_eq!(counters.rate_limited(RateLimited::ResponseDropped), 5);
    // NXDOMAIN counts per zone: random names share one limit.
    start_of_a_second().await;
    let random: Vec<Message> = (0..8)
        .flat_map(|i| queries(&format!("nx{i}.example.test."), 1, None))
        .collect();
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut answered = 0;
    for query in &random {
        socket
            .send_to(&query.to_vec().unwrap(), server.addr())
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        if let Ok(Ok((len, _))) =
            tokio::time::timeout(Duration::from_millis(100), socket.recv_from(&mut buf)).await
            && !Message::from_vec(&buf[..len]).unwrap().metadata.truncation
        {
            answered += 1;
        }
    }
    assert_eq!(answered, 3, "eight NXDOMAINs of one zone, three a second");
    // Over TCP the source is proven: never limited.
    for _ in 0..10 {
        let reply = tcp_query(server.addr(), "www.example.test.", RecordType::A).await;
        assert_eq!(reply.answers.len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recursion_past_the_limit_is_dropped_unless_the_client_has_a_cookie() {
    let fake = FakeUpstream::start(Behaviour::Answer { ttl: 300 }).await;
    let resolver = start_resolver(
        &[fake.addr],
        "[rate_limit]\nrecursion = 3\nrecursion_factor = 4\n",
    )
    .await;
    // Cached first, over TCP (not limited).
    tcp_query(resolver.addr(), "www.example.", RecordType::A).await;
    start_of_a_second().await;
    // Three go through, then one in four past the limit (the 7th and
    // 11th query).
    let seen = burst(resolver.addr(), &queries("www.example.", 12, None)).await;
    assert_eq!((seen.answered, seen.truncated, seen.silent), (5, 0, 7));
    assert_eq!(
        resolver
            .server
            .counters()
            .rate_limited(RateLimited::RecursionDropped),
        7
    );

    // A client that returns a valid server cookie is not limited.
    let client_cookie = [7u8; 8];
    let cookie = {
        let mut stream = tokio::net::TcpStream::connect(resolver.addr())
            .await
            .unwrap();
        let query = &queries("www.example.", 1, Some(&client_cookie))[0];
        tcp_send(&mut stream, &query.to_vec().unwrap()).await;
        let reply = Message::from_vec(&tcp_recv(&mut stream).await.unwrap()).unwrap();
        match reply.edns.unwrap().option(EdnsCode::Cookie) {
            Some(EdnsOption::Unknown(_, data)) => data.clone(),
            other => panic!("no cookie: {other:?}"),
        }
    };
    assert_eq!(cookie.len(), 24);
    start_of_a_second().await;
    let seen = burst(resolver.addr(), &queries("www.example.", 12, Some(&cookie))).await;
    assert_eq!((seen.answered, seen.silent), (12, 0));
    // A made-up server cookie proves nothing.
    let mut forged = cookie.clone();
    forged[20] ^= 1;
    start_of_a_second().await;
    let seen = burst(resolver.addr(), &queries("www.example.", 12, Some(&forged))).await;
    assert_eq!(seen.answered, 5);
}

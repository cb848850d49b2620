//! Sibling cache sharing, measured in one process on loopback: for
//! clusters of 1, 2, 4, 8 and 16 members under one mixed workload (Zipf-like
//! popularity over a set of names, plus names asked once), how many
//! queries reach the authoritative server per distinct name, against the
//! same number of independent instances (no `[siblings]`, as a fleet of
//! Unbounds or of lone hearsays behaves). Then the latency a sibling hit
//! adds over a local hit.
//!
//! Run: cargo bench --bench siblings. Knobs: QUERIES (20000), POPULAR
//! (5000 names), UNIQUE_PERCENT (20).

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use hearsay::counters::SiblingEvent;
use hearsay::siblings::{owner, owner_key};
use hearsay::{Config, Server};
use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use rand::{RngExt, SeedableRng, rngs::StdRng};
use tokio::net::UdpSocket;
use tokio::task::JoinSet;

const ZONE: &str = "$ORIGIN bench.test.\n$TTL 3600\n@ SOA ns hostmaster 1 1800 900 604800 300\n  NS ns\nns A 192.0.2.53\n* A 192.0.2.1\n";
const SECRET: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .unwrap()
        .port()
}

async fn start(dir: &Path, name: &str, text: &str) -> Server {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    Server::start(&Config::load(&path).unwrap()).await.unwrap()
}

struct Fleet {
    authority: Server,
    members: Vec<Server>,
    _dir: tempfile::TempDir,
}

impl Fleet {
    /// An authority and `n` resolvers forwarding to it, as siblings or not.
    async fn start(n: usize, siblings: bool) -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bench.zone"), ZONE).unwrap();
        std::fs::write(dir.path().join("cluster.key"), SECRET).unwrap();
        let authority = start(
            dir.path(),
            "authority.toml",
            "[server]\nlisten = [\"127.0.0.1:0\"]\nthreads = 1\n[log]\nlevel = \"warn\"\n[resolver]\nmode = \"off\"\n[[zone]]\norigin = \"bench.test.\"\nfile = \"bench.zone\"\n",
        )
        .await;
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let mut members = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            let mut text = format!(
                "[server]\nlisten = [\"127.0.0.1:0\"]\nthreads = 1\n[log]\nlevel = \"warn\"\n[cache]\nprefetch = false\n[resolver]\ndnssec = false\nupstreams = [\"{}\"]\n[special_use]\nnodefault = [\"test.\"]\n",
                authority.local_addr()
            );
            if siblings {
                let seeds: Vec<String> = ports
                    .iter()
                    .filter(|p| *p != port)
                    .map(|p| format!("\"127.0.0.1:{p}\""))
                    .collect();
                text.push_str(&format!(
                    "[siblings]\nlisten = \"127.0.0.1:{port}\"\nseeds = [{}]\nkey = {{ name = \"cluster.\", algorithm = \"hmac-sha256\", secret_file = \"cluster.key\" }}\n",
                    seeds.join(", ")
                ));
            }
            members.push(start(dir.path(), &format!("member{i}.toml"), &text).await);
        }
        if siblings {
            let deadline = Instant::now() + Duration::from_secs(20);
            while members.iter().any(|m| m.sibling_members().len() != n) {
                assert!(Instant::now() < deadline, "the cluster did not form");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Fleet {
            authority,
            members,
            _dir: dir,
        }
    }

    fn authority_queries(&self) -> u64 {
        let c = self.authority.counters();
        c.queries(hearsay::counters::Transport::Udp) + c.queries(hearsay::counters::Transport::Tcp)
    }
}

/// One query over UDP; returns the time to the answer.
async fn ask(server: SocketAddr, name: &str) -> Duration {
    let mut msg = Message::query();
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    msg.metadata.recursion_desired = true;
    msg.set_edns(Edns::new());
    let packet = msg.to_vec().unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let started = Instant::now();
    socket.send_to(&packet, server).await.unwrap();
    let mut buf = [0u8; 1500];
    let len = tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buf))
        .await
        .expect("an answer in time")
        .unwrap();
    let took = started.elapsed();
    let reply = Message::from_vec(&buf[..len]).unwrap();
    assert_eq!(
        reply.metadata.response_code,
        ResponseCode::NoError,
        "{name}"
    );
    took
}

/// The workload: Zipf(1) over `popular` names, and a share of names asked
/// once; the same for every fleet.
fn workload(queries: usize, popular: usize, unique_percent: usize) -> Vec<String> {
    let weights: Vec<f64> = (1..=popular).map(|rank| 1.0 / rank as f64).collect();
    let total: f64 = weights.iter().sum();
    let mut cdf = Vec::with_capacity(popular);
    let mut sum = 0.0;
    for w in weights {
        sum += w / total;
        cdf.push(sum);
    }
    let mut rng = StdRng::seed_from_u64(2026);
    (0..queries)
        .map(|i| {
            if rng.random_range(0..100) < unique_percent {
                format!("once{i}.bench.test.")
            } else {
                let x: f64 = rng.random();
                let rank = cdf.partition_point(|c| *c < x);
                format!("p{rank}.bench.test.")
            }
        })
        .collect()
}

/// Sends the workload round-robin over the members, 32 at a time.
async fn run(fleet: &Fleet, names: &[String]) {
    let servers: Vec<SocketAddr> = fleet.members.iter().map(Server::local_addr).collect();
    for (c, chunk) in names.chunks(32).enumerate() {
        let mut set = JoinSet::new();
        for (j, name) in chunk.iter().enumerate() {
            let server = servers[(c * 32 + j) % servers.len()];
            let name = name.clone();
            set.spawn(async move { ask(server, &name).await });
        }
        while set.join_next().await.is_some() {}
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn wire(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.trim_end_matches('.').split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let queries = knob("QUERIES", 20_000);
    let names = workload(queries, knob("POPULAR", 5_000), knob("UNIQUE_PERCENT", 20));
    let distinct = {
        let mut d = names.clone();
        d.sort();
        d.dedup();
        d.len()
    };
    println!(
        "workload: {queries} queries, {distinct} distinct names (Zipf over {} popular, {}% asked once), round-robin over the members",
        knob("POPULAR", 5_000),
        knob("UNIQUE_PERCENT", 20)
    );
    println!(
        "| members | authoritative queries per name, siblings | independent instances | ratio | sibling messages per local miss |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for n in [1, 2, 4, 8, 16] {
        let mut per_name = [0.0; 2];
        let mut per_miss = 0.0;
        for (k, siblings) in [true, false].into_iter().enumerate() {
            let fleet = Fleet::start(n, siblings).await;
            let before = fleet.authority_queries();
            run(&fleet, &names).await;
            per_name[k] = (fleet.authority_queries() - before) as f64 / distinct as f64;
            if siblings {
                let (mut sent, mut misses) = (0, 0);
                for member in &fleet.members {
                    let c = member.counters();
                    sent += c.sibling(SiblingEvent::QuerySent) + c.sibling(SiblingEvent::Peeked);
                    misses += c.cache_misses;
                }
                per_miss = sent as f64 / misses.max(1) as f64;
            }
            for member in fleet.members {
                member.shutdown().await;
            }
            fleet.authority.shutdown().await;
        }
        println!(
            "| {n} | {:.3} | {:.3} | {:.2} | {per_miss:.2} |",
            per_name[0],
            per_name[1],
            per_name[0] / per_name[1]
        );
    }

    // Latency: a name the second member owns, asked of the first after the
    // owner has it (a sibling hit), then again (a local hit).
    let fleet = Fleet::start(2, true).await;
    let (a, b) = (fleet.members[0].local_addr(), fleet.members[1].local_addr());
    let members = fleet.members[0].sibling_members();
    let b_sibling = fleet.members[1].sibling_addr().unwrap();
    let owned_by_b: Vec<String> = (0..)
        .map(|i| format!("lat{i}.bench.test."))
        .filter(|name| owner(&members, &owner_key(&wire(name), 1, 1, false)) == Some(b_sibling))
        .take(1000)
        .collect();
    let mut miss = Vec::new();
    let mut sibling_hit = Vec::new();
    let mut local_hit = Vec::new();
    for name in &owned_by_b {
        miss.push(ask(b, name).await);
        sibling_hit.push(ask(a, name).await);
        local_hit.push(ask(a, name).await);
    }
    let (miss, sibling_hit, local_hit) = (median(miss), median(sibling_hit), median(local_hit));
    println!();
    println!(
        "| answer (2 members, median of {}) | latency |",
        owned_by_b.len()
    );
    println!("| --- | --- |");
    println!("| local hit | {local_hit:?} |");
    println!(
        "| sibling hit (the owner has it) | {sibling_hit:?} (+{:?}) |",
        sibling_hit.saturating_sub(local_hit)
    );
    println!("| miss, resolved at the owner from the authority | {miss:?} |");
}

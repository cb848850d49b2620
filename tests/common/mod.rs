//! Helpers shared by the integration tests: start a real server on an
//! ephemeral loopback port, and query it over real sockets with deadlines.
#![allow(dead_code)]

pub mod fake;
pub mod lab;
pub mod signing;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use hearsay::{Config, Server};
use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

/// How long any single exchange in a test may take.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// A zone used by several tests. Every answer rule has a name here.
pub const EXAMPLE_ZONE: &str = r#"
$ORIGIN example.test.
$TTL 3600
@       SOA ns1 hostmaster 2026112401 7200 3600 1209600 300
        NS  ns1
        NS  ns2
        MX  10 mail
        A   192.0.2.1
ns1     A   192.0.2.53
ns2     A   192.0.2.54
        AAAA 2001:db8::54
www     A   192.0.2.80
        AAAA 2001:db8::80
mail    A   192.0.2.25
web     CNAME site
site    CNAME www
docs    CNAME docs.example.org.
gone    CNAME missing
deep    CNAME host.sub
loop1   CNAME loop2
loop2   CNAME loop1
_imap._tcp SRV 10 0 993 mail
*.apps  300 A 192.0.2.100
*.alias CNAME www
a.b.apps TXT "exact"
sub     NS  ns.sub
        NS  ns2
ns.sub  A   192.0.2.99
big     TXT "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        TXT "1111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111"
        TXT "2222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222"
        TXT "3333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333333"
        TXT "4444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444"
        TXT "5555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555555"
"#;

/// A running test server and the directory holding its files.
pub struct TestServer {
    pub server: Server,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }
}

/// Writes `zones` (origin, master file text) to a temporary directory and
/// starts a server for them on 127.0.0.1 with an ephemeral port. `extra`
/// is appended to the `[server]` table.
pub async fn start_with(zones: &[(&str, &str)], extra: &str) -> TestServer {
    start_at("127.0.0.1:0".parse().unwrap(), zones, extra).await
}

/// As `start_with`, listening on `listen`.
pub async fn start_at(listen: SocketAddr, zones: &[(&str, &str)], extra: &str) -> TestServer {
    let dir = tempfile::tempdir().expect("temp dir");
    let threads = if extra.contains("threads") {
        ""
    } else {
        "threads = 1\n"
    };
    // The test labs and fakes are unsigned: validating them from the
    // root's real anchor would make every answer bogus. Tests of
    // validation set `dnssec` and their own anchor.
    let extra = match extra.contains("dnssec") {
        true => extra.to_string(),
        false => extra.replacen("[resolver]\n", "[resolver]\ndnssec = false\n", 1),
    };
    let mut config = format!("[server]\nlisten = [\"{listen}\"]\n{threads}{extra}\n");
    // Without a resolver section the default is recursion from the real
    // root servers, which no test may touch.
    if !extra.contains("[resolver]") {
        config.push_str("[resolver]\nmode = \"off\"\n");
    }
    // The labs and fakes serve test. as a top-level domain, so it is
    // resolved, not answered as a special-use name: the lab's Unbound is
    // told the same (`local-zone: "test." nodefault`).
    if !extra.contains("[special_use]") {
        config.push_str("[special_use]\nnodefault = [\"test.\"]\n");
    }
    for (i, (origin, text)) in zones.iter().enumerate() {
        let file = dir.path().join(format!("zone{i}.zone"));
        std::fs::write(&file, text).expect("write zone");
        config.push_str(&format!(
            "[[zone]]\norigin = \"{origin}\"\nfile = \"zone{i}.zone\"\n"
        ));
    }
    let path = dir.path().join("hearsay.toml");
    std::fs::write(&path, &config).expect("write config");
    let config = Config::load(&path).expect("test config loads");
    let server = Server::start(&config).await.expect("server starts");
    TestServer { server, dir }
}

/// A server for the example zone.
pub async fn start_example() -> TestServer {
    start_with(&[("example.test.", EXAMPLE_ZONE)], "").await
}

/// Builds a query message.
pub fn query_message(name: &str, rtype: RecordType, edns_size: Option<u16>) -> Message {
    let mut msg = Message::query();
    msg.add_query(Query::query(Name::from_ascii(name).expect("name"), rtype));
    msg.metadata.recursion_desired = true;
    if let Some(size) = edns_size {
        let mut edns = Edns::new();
        edns.set_max_payload(size);
        msg.set_edns(edns);
    }
    msg
}

/// Sends raw bytes over UDP and returns the reply, or `None` if none
/// comes within `wait`.
pub async fn udp_exchange(addr: SocketAddr, packet: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    socket.send_to(packet, addr).await.expect("send");
    let mut buf = vec![0u8; 65535];
    let (len, _) = timeout(wait, socket.recv_from(&mut buf)).await.ok()?.ok()?;
    buf.truncate(len);
    Some(buf)
}

/// Asks over UDP and decodes the answer.
pub async fn udp_query(
    addr: SocketAddr,
    name: &str,
    rtype: RecordType,
    edns: Option<u16>,
) -> Message {
    let msg = query_message(name, rtype, edns);
    let reply = udp_exchange(addr, &msg.to_vec().expect("encode"), DEADLINE)
        .await
        .expect("a UDP reply");
    let reply = Message::from_vec(&reply).expect("reply decodes");
    assert_eq!(reply.metadata.id, msg.metadata.id);
    reply
}

/// Sends one length-prefixed message on a TCP stream.
pub async fn tcp_send(stream: &mut TcpStream, packet: &[u8]) {
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    stream.write_all(&framed).await.expect("tcp write");
}

/// Reads one length-prefixed message, or `None` on EOF or deadline.
pub async fn tcp_recv(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut prefix = [0u8; 2];
    timeout(DEADLINE, stream.read_exact(&mut prefix))
        .await
        .ok()?
        .ok()?;
    let mut buf = vec![0u8; u16::from_be_bytes(prefix) as usize];
    timeout(DEADLINE, stream.read_exact(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some(buf)
}

/// Asks over a new TCP connection and decodes the answer.
pub async fn tcp_query(addr: SocketAddr, name: &str, rtype: RecordType) -> Message {
    let mut stream = timeout(DEADLINE, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect");
    let msg = query_message(name, rtype, Some(1232));
    tcp_send(&mut stream, &msg.to_vec().expect("encode")).await;
    let reply = tcp_recv(&mut stream).await.expect("a TCP reply");
    Message::from_vec(&reply).expect("reply decodes")
}

/// Records of a section as "name ttl class type rdata" strings.
pub fn lines(records: &[hickory_proto::rr::Record]) -> Vec<String> {
    records.iter().map(|r| r.to_string()).collect()
}

/// Writes a file under `dir`.
pub fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path
}

/// Starts a forwarding resolver (no zones) for `upstreams`, with `extra`
/// appended to its configuration (after `[resolver]` keys).
pub async fn start_resolver(upstreams: &[SocketAddr], extra: &str) -> TestServer {
    let list: Vec<String> = upstreams.iter().map(|a| format!("\"{a}\"")).collect();
    start_with(
        &[],
        &format!("[resolver]\nupstreams = [{}]\n{extra}", list.join(", ")),
    )
    .await
}

/// Waits until `check` is true, polling every 20 ms, for at most `DEADLINE`.
pub async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + DEADLINE;
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

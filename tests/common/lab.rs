//! A lab of somebody else's servers: NSD as the authoritative servers of a
//! small Internet, each on its own 127.x.y.z address on port 53, and
//! Unbound resolving it, so hearsay's resolver can be checked against
//! another resolver on the same data, answer by answer and query by query.
//!
//! Port 53, because Unbound asks authoritative servers nowhere else: the
//! tests need root or `net.ipv4.ip_unprivileged_port_start=53`. Without
//! that, or without `nsd` and `unbound`, a lab test prints why and passes;
//! with `HEARSAY_REQUIRE_LAB` set (as `.ci/run` does) it fails instead.
//! `HEARSAY_KEEP_LAB` keeps each lab's files (configs, zones, logs).
//!
//! Zone texts write lab addresses as `LAB.n`; each lab gets a /24 of its
//! own inside 127/8, so labs of tests running at once never meet.
//!
//! Faults no real server makes on demand come from small proxies in front
//! of an NSD (`Fault`), or from an address that swallows every query.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{A, NULL};
use hickory_proto::rr::{RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use tokio::net::UdpSocket;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};

use super::{DEADLINE, TestServer, query_message, start_with, tcp_query, udp_exchange};

/// Why a lab cannot run here, if it cannot.
pub fn unavailable() -> Option<String> {
    for tool in ["nsd", "nsd-control", "unbound"] {
        let found = std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
            .unwrap_or(false);
        if !found {
            return Some(format!(
                "{tool} is not installed (apt-get install nsd unbound)"
            ));
        }
    }
    match std::net::UdpSocket::bind((Ipv4Addr::new(127, 254, 254, 254), 53)) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Some(
            "binding port 53 is not allowed (run as root, or set net.ipv4.ip_unprivileged_port_start=53)"
                .into(),
        ),
        _ => None,
    }
}

/// Skips the test (or fails it, under `HEARSAY_REQUIRE_LAB`) when no lab
/// can run here.
#[macro_export]
macro_rules! require_lab {
    () => {
        if let Some(why) = common::lab::unavailable() {
            if std::env::var_os("HEARSAY_REQUIRE_LAB").is_some() {
                panic!("HEARSAY_REQUIRE_LAB is set but the lab cannot run: {why}");
            }
            eprintln!("skipping: {why}");
            return;
        }
    };
}

/// A fault a proxy adds to the answers of the NSD behind it.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answers without the AA bit, as a server that is authoritative but
    /// does not say so.
    ClearAa,
    /// NXDOMAIN instead of NODATA for these names (lowercase, with the
    /// trailing dot): a server that gets empty non-terminals wrong.
    EntNxdomain(Vec<String>),
    /// No answer to the root's NS query (priming), and answers to the
    /// rest: a root server that fails priming.
    NoPriming,
    /// Every RRSIG removed: a signed zone stripped on the way (a
    /// downgrade attempt).
    StripRrsigs,
    /// The authority section removed: denials without their proof.
    StripAuthority,
    /// Every A record's address replaced, its RRSIGs left as they were: a
    /// forged answer.
    ForgeAddresses,
    /// The signature of every RRSIG except those over DNSKEY sets
    /// corrupted: RRsets with piles of signatures that all fail, the
    /// KeyTrap shape (CVE-2023-50387).
    CorruptSignatures,
    /// Every answer held back this long: a server far away or overloaded.
    Delay(Duration),
}

/// What runs on one lab address.
pub enum Host<'a> {
    /// NSD serving these zones (origin, text with `LAB.n` addresses).
    Nsd(u8, &'a [(&'a str, &'a str)]),
    /// A proxy on the first address in front of the NSD on the second.
    Proxy(u8, u8, Fault),
    /// Bound, and never answers.
    Silent(u8),
}

struct Nsd {
    host: u8,
    conf: PathBuf,
    child: Child,
}

pub struct Lab {
    /// 127.a.b of this lab's addresses.
    net: [u8; 3],
    pub dir: tempfile::TempDir,
    nsd: Vec<Nsd>,
    tasks: Vec<JoinHandle<()>>,
    /// Queries each silent host swallowed.
    swallowed: Vec<(u8, Arc<AtomicU64>)>,
}

/// Third octets handed out in this process; the second comes from the pid.
static NEXT_NET: AtomicU8 = AtomicU8::new(1);

/// Seconds ahead each reloaded zone file's time is set, growing.
static NEXT_MTIME: AtomicU8 = AtomicU8::new(1);

impl Lab {
    pub async fn start(hosts: &[Host<'_>]) -> Lab {
        Self::start_on(Self::reserve(), hosts).await
    }

    /// A /24 for a lab whose zones must hold their real addresses before
    /// it starts (signed zones): `expand_in` writes them.
    pub fn reserve() -> [u8; 3] {
        free_net()
    }

    /// `text` with every `LAB.` replaced by the prefix of `net`.
    pub fn expand_in(net: [u8; 3], text: &str) -> String {
        text.replace("LAB.", &format!("{}.{}.{}.", net[0], net[1], net[2]))
    }

    /// A lab on `net`, from `reserve`.
    pub async fn start_on(net: [u8; 3], hosts: &[Host<'_>]) -> Lab {
        let mut dir = tempfile::tempdir().expect("temp dir");
        // For a post-mortem: the configs and the servers' logs stay.
        if std::env::var_os("HEARSAY_KEEP_LAB").is_some() {
            dir.disable_cleanup(true);
            eprintln!("lab files kept in {}", dir.path().display());
        }
        let mut lab = Lab {
            net,
            dir,
            nsd: Vec::new(),
            tasks: Vec::new(),
            swallowed: Vec::new(),
        };
        for host in hosts {
            match host {
                Host::Nsd(n, zones) => {
                    let nsd = lab.spawn_nsd(*n, zones).await;
                    lab.nsd.push(nsd);
                }
                Host::Proxy(n, backend, fault) => {
                    let socket = UdpSocket::bind(lab.addr(*n)).await.expect("proxy bind");
                    let task = tokio::spawn(proxy(socket, lab.addr(*backend), fault.clone()));
                    lab.tasks.push(task);
                    let listener = tokio::net::TcpListener::bind(lab.addr(*n))
                        .await
                        .expect("proxy bind");
                    let task = tokio::spawn(proxy_tcp(listener, lab.addr(*backend), fault.clone()));
                    lab.tasks.push(task);
                }
                Host::Silent(n) => {
                    let socket = UdpSocket::bind(lab.addr(*n)).await.expect("silent bind");
                    let count = Arc::new(AtomicU64::new(0));
                    lab.swallowed.push((*n, count.clone()));
                    lab.tasks.push(tokio::spawn(async move {
                        let mut buf = [0u8; 512];
                        while socket.recv_from(&mut buf).await.is_ok() {
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                    }));
                }
            }
        }
        for nsd in &lab.nsd {
            lab.wait_answering(nsd.host).await;
        }
        lab
    }

    /// The address of host `n`, port 53.
    pub fn addr(&self, n: u8) -> SocketAddr {
        SocketAddr::new(self.ip(n), 53)
    }

    pub fn ip(&self, n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(self.net[0], self.net[1], self.net[2], n))
    }

    /// `text` with every `LAB.` replaced by this lab's 127.a.b. prefix.
    pub fn expand(&self, text: &str) -> String {
        Self::expand_in(self.net, text)
    }

    /// Root hints naming `name` at host `n`.
    pub fn hints(&self, name: &str, n: u8) -> PathBuf {
        let path = self.dir.path().join(format!("root-{n}.hints"));
        let text = format!(". 3600000 NS {name}\n{name} 3600000 A {}\n", self.ip(n));
        std::fs::write(&path, text).expect("write hints");
        path
    }

    async fn spawn_nsd(&self, n: u8, zones: &[(&str, &str)]) -> Nsd {
        let dir = self.dir.path().join(format!("nsd{n}"));
        std::fs::create_dir_all(&dir).expect("nsd dir");
        let mut conf = format!(
            "server:\n  ip-address: {ip}@53\n  username: \"\"\n  chroot: \"\"\n  zonesdir: \"{d}\"\n  \
             database: \"\"\n  pidfile: \"{d}/nsd.pid\"\n  xfrdfile: \"{d}/xfrd.state\"\n  \
             zonelistfile: \"{d}/zone.list\"\n  xfrdir: \"{d}\"\n  logfile: \"{d}/nsd.log\"\n  \
             server-count: 1\n  verbosity: 1\n  hide-version: yes\n  rrl-ratelimit: 0\n\
             remote-control:\n  control-enable: yes\n  control-interface: {d}/control.sock\n",
            ip = self.ip(n),
            d = dir.display()
        );
        for (i, (origin, text)) in zones.iter().enumerate() {
            let file = dir.join(format!("zone{i}"));
            std::fs::write(&file, self.expand(text)).expect("write zone");
            conf.push_str(&format!(
                "zone:\n  name: \"{origin}\"\n  zonefile: \"{}\"\n",
                file.display()
            ));
        }
        let path = dir.join("nsd.conf");
        let child = daemon("nsd", &path, &conf);
        Nsd {
            host: n,
            conf: path,
            child,
        }
    }

    /// Until the NSD on host `n` answers (anything: REFUSED will do).
    async fn wait_answering(&self, n: u8) {
        let query = query_message(".", RecordType::SOA, None)
            .to_vec()
            .expect("encode");
        let deadline = Instant::now() + DEADLINE * 2;
        while udp_exchange(self.addr(n), &query, Duration::from_millis(100))
            .await
            .is_none()
        {
            assert!(
                Instant::now() < deadline,
                "NSD on {} did not start",
                self.ip(n)
            );
        }
    }

    /// Replaces zone `i` of the NSD on host `n` with `text` (`LAB.n`
    /// addresses expanded) and has NSD load it.
    pub async fn reload(&self, n: u8, i: usize, text: &str) {
        let nsd = self
            .nsd
            .iter()
            .find(|nsd| nsd.host == n)
            .unwrap_or_else(|| panic!("no NSD on host {n}"));
        let dir = self.dir.path().join(format!("nsd{n}"));
        let file = dir.join(format!("zone{i}"));
        std::fs::write(&file, self.expand(text)).expect("write zone");
        // NSD reloads a file whose time changed: make sure this one did,
        // even within the second it was first loaded.
        let later = std::time::SystemTime::now()
            + Duration::from_secs(u64::from(NEXT_MTIME.fetch_add(1, Ordering::Relaxed)) + 1);
        std::fs::File::options()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_modified(later))
            .expect("zone file time");
        let out = Command::new("nsd-control")
            .arg("-c")
            .arg(&nsd.conf)
            .arg("reload")
            .output()
            .await
            .expect("nsd-control runs");
        assert!(
            out.status.success(),
            "nsd-control reload: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Queries the silent host `n` has swallowed.
    pub fn swallowed(&self, n: u8) -> u64 {
        self.swallowed
            .iter()
            .find(|(host, _)| *host == n)
            .map_or(0, |(_, count)| count.load(Ordering::Relaxed))
    }

    /// Queries each NSD has answered so far, by host.
    pub async fn queries_by_host(&self) -> Vec<(u8, u64)> {
        let mut counts = Vec::new();
        for nsd in &self.nsd {
            let out = Command::new("nsd-control")
                .arg("-c")
                .arg(&nsd.conf)
                .arg("stats_noreset")
                .output()
                .await
                .expect("nsd-control runs");
            let text = String::from_utf8_lossy(&out.stdout);
            let queries = text
                .lines()
                .find_map(|l| l.strip_prefix("num.queries="))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or_else(|| panic!("no num.queries from NSD on host {}: {text}", nsd.host));
            counts.push((nsd.host, queries));
        }
        counts
    }

    /// Queries all NSDs answered, except those on `excluded` hosts.
    pub async fn queries_except(&self, excluded: &[u8]) -> u64 {
        self.queries_by_host()
            .await
            .iter()
            .filter(|(h, _)| !excluded.contains(h))
            .map(|(_, n)| n)
            .sum()
    }

    /// Waits until no NSD has been asked anything for 300 ms (a resolver
    /// may still be working in the background after it answered), and
    /// returns the counts then.
    pub async fn settled(&self) -> Vec<(u8, u64)> {
        let deadline = Instant::now() + DEADLINE;
        let mut last = self.queries_by_host().await;
        loop {
            sleep(Duration::from_millis(300)).await;
            let now = self.queries_by_host().await;
            if now == last || Instant::now() > deadline {
                return now;
            }
            last = now;
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        // SIGTERM lets NSD stop the server processes it forked; a SIGKILL
        // (kill_on_drop) would leave them behind.
        for nsd in &mut self.nsd {
            if let Some(pid) = nsd.child.id() {
                // SAFETY: kill(2) with a pid we spawned.
                unsafe {
                    libc::kill(pid as i32, libc::SIGTERM);
                }
            }
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        for nsd in &mut self.nsd {
            while std::time::Instant::now() < deadline {
                match nsd.child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }
    }
}

/// Writes `conf` to `path` and starts `program -d -c path` in the
/// foreground, quietly.
fn daemon(program: &str, path: &Path, conf: &str) -> Child {
    std::fs::write(path, conf).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Command::new(program)
        .arg("-d")
        .arg("-c")
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{program} does not start: {e}"))
}

/// Until `server` answers (anything) a question about `name`.
async fn answering(server: SocketAddr, name: &str, rtype: RecordType) {
    let query = query_message(name, rtype, None).to_vec().expect("encode");
    let deadline = Instant::now() + DEADLINE * 2;
    while udp_exchange(server, &query, Duration::from_millis(100))
        .await
        .is_none()
    {
        assert!(Instant::now() < deadline, "{server} did not start");
    }
}

/// A /24 in 127/8 that nobody here uses yet.
fn free_net() -> [u8; 3] {
    let second = 64 + (std::process::id() % 128) as u8;
    for _ in 0..250 {
        let third = NEXT_NET.fetch_add(1, Ordering::Relaxed).max(1);
        let probe = std::net::UdpSocket::bind((Ipv4Addr::new(127, second, third, 1), 53));
        if probe.is_ok() {
            return [127, second, third];
        }
    }
    panic!("no free 127.{second}.x.0/24 for a lab");
}

/// Forwards each query to `backend` and passes its answer back with
/// `fault` applied.
async fn proxy(socket: UdpSocket, backend: SocketAddr, fault: Fault) {
    let socket = Arc::new(socket);
    let mut buf = vec![0u8; 65535];
    while let Ok((len, peer)) = socket.recv_from(&mut buf).await {
        let query = buf[..len].to_vec();
        let (socket, fault) = (socket.clone(), fault.clone());
        tokio::spawn(async move {
            if fault.drops(&query) {
                return;
            }
            if let Fault::Delay(delay) = fault {
                tokio::time::sleep(delay).await;
            }
            let Some(answer) = udp_exchange(backend, &query, DEADLINE).await else {
                return;
            };
            if let Some(answer) = fault.apply(&query, answer) {
                let _ = socket.send_to(&answer, peer).await;
            }
        });
    }
}

/// The proxy's TCP side: each query passed on over TCP, one per
/// connection at a time, its answer with the fault applied.
async fn proxy_tcp(listener: tokio::net::TcpListener, backend: SocketAddr, fault: Fault) {
    while let Ok((mut stream, _)) = listener.accept().await {
        let fault = fault.clone();
        tokio::spawn(async move {
            while let Some(query) = super::tcp_recv(&mut stream).await {
                if fault.drops(&query) {
                    return;
                }
                let Ok(Ok(mut upstream)) =
                    timeout(DEADLINE, tokio::net::TcpStream::connect(backend)).await
                else {
                    return;
                };
                super::tcp_send(&mut upstream, &query).await;
                let Some(answer) = super::tcp_recv(&mut upstream).await else {
                    return;
                };
                let Some(answer) = fault.apply(&query, answer) else {
                    return;
                };
                super::tcp_send(&mut stream, &answer).await;
            }
        });
    }
}

impl Fault {
    /// Whether the query goes unanswered.
    fn drops(&self, query: &[u8]) -> bool {
        let Fault::NoPriming = self else {
            return false;
        };
        Message::from_vec(query).ok().is_some_and(|m| {
            m.queries
                .first()
                .is_some_and(|q| q.name().is_root() && q.query_type() == RecordType::NS)
        })
    }

    /// The answer with the fault applied, or `None` to send nothing.
    fn apply(&self, query: &[u8], mut answer: Vec<u8>) -> Option<Vec<u8>> {
        if answer.len() < 12 {
            return None;
        }
        match self {
            Fault::ClearAa => answer[2] &= !0x04,
            Fault::NoPriming | Fault::Delay(_) => {}
            Fault::StripRrsigs
            | Fault::StripAuthority
            | Fault::ForgeAddresses
            | Fault::CorruptSignatures => {
                let Ok(mut message) = Message::from_vec(&answer) else {
                    return None;
                };
                if let Fault::ForgeAddresses = self {
                    for record in &mut message.answers {
                        if let RData::A(address) = &mut record.data {
                            *address = A::new(203, 0, 113, 66);
                        }
                    }
                }
                if let Fault::CorruptSignatures = self {
                    for record in message.answers.iter_mut().chain(&mut message.authorities) {
                        if record.record_type() != RecordType::RRSIG {
                            continue;
                        }
                        let mut rdata = Vec::new();
                        let mut encoder = BinEncoder::new(&mut rdata);
                        if record.data.emit(&mut encoder).is_err() {
                            continue;
                        }
                        // Type covered DNSKEY (48): left alone.
                        if rdata.get(..2) == Some(&[0, 48][..]) {
                            continue;
                        }
                        if let Some(last) = rdata.last_mut() {
                            *last ^= 0xFF;
                        }
                        record.data = RData::Unknown {
                            code: RecordType::RRSIG,
                            rdata: NULL::with(rdata),
                        };
                    }
                }
                if let Fault::StripAuthority = self {
                    message.authorities.clear();
                }
                let signature = |r: &Record| r.record_type() == RecordType::RRSIG;
                if let Fault::StripRrsigs = self {
                    message.answers.retain(|r| !signature(r));
                    message.authorities.retain(|r| !signature(r));
                    message.additionals.retain(|r| !signature(r));
                }
                let Ok(bytes) = message.to_vec() else {
                    return None;
                };
                answer = bytes;
            }
            Fault::EntNxdomain(names) => {
                let asked = Message::from_vec(query).ok().and_then(|m| {
                    m.queries
                        .first()
                        .map(|q| q.name().to_lowercase().to_ascii())
                });
                let ancount = u16::from_be_bytes([answer[6], answer[7]]);
                let noerror = answer[3] & 0x0f == 0;
                if noerror && ancount == 0 && asked.is_some_and(|a| names.contains(&a)) {
                    answer[3] = (answer[3] & 0xf0) | 3;
                }
            }
        }
        Some(answer)
    }
}

/// Unbound, iterating from the lab's root, on host 250 of the lab:
/// without validation, or validating from a trust anchor file.
pub struct Unbound {
    pub addr: SocketAddr,
    _child: Child,
}

impl Unbound {
    pub async fn start(lab: &Lab, hints: &Path) -> Unbound {
        Self::start_with(lab, hints, "module-config: \"iterator\"").await
    }

    /// Unbound as `validator iterator`, its chains of trust starting at
    /// the DS or DNSKEY records in `anchor_file`; "test." is resolved,
    /// not answered locally as a special-use name (RFC 6761).
    pub async fn validating(lab: &Lab, hints: &Path, anchor_file: &Path) -> Unbound {
        let modules = format!(
            "module-config: \"validator iterator\"\n  trust-anchor-file: \"{}\"\n  \
             val-log-level: 2\n  local-zone: \"test.\" nodefault",
            anchor_file.display()
        );
        Self::start_with(lab, hints, &modules).await
    }

    async fn start_with(lab: &Lab, hints: &Path, modules: &str) -> Unbound {
        let dir = lab.dir.path().join("unbound");
        std::fs::create_dir_all(&dir).expect("unbound dir");
        let addr = lab.addr(250);
        let conf = format!(
            "server:\n  interface: {ip}@53\n  num-threads: 1\n  do-daemonize: no\n  chroot: \"\"\n  \
             username: \"\"\n  directory: \"{d}\"\n  pidfile: \"{d}/unbound.pid\"\n  \
             logfile: \"{d}/unbound.log\"\n  use-syslog: no\n  verbosity: 1\n  \
             access-control: 127.0.0.0/8 allow\n  do-not-query-localhost: no\n  do-ip6: no\n  \
             {modules}\n  prefetch: no\n  root-hints: \"{hints}\"\n  \
             local-zone: \"ready.lab.\" static\n  local-data: \"ready.lab. A 127.0.0.1\"\n",
            ip = addr.ip(),
            d = dir.display(),
            hints = hints.display(),
        );
        let child = daemon("unbound", &dir.join("unbound.conf"), &conf);
        answering(addr, "ready.lab.", RecordType::A).await;
        Unbound {
            addr,
            _child: child,
        }
    }
}

/// A hearsay resolver iterating from `hints`, with `extra` configuration
/// after its `[resolver]` keys.
pub async fn hearsay(hints: &Path, extra: &str) -> TestServer {
    start_with(
        &[],
        &format!(
            "[resolver]\nmode = \"recursive\"\nroot_hints = \"{}\"\n{extra}",
            hints.display()
        ),
    )
    .await
}

/// What a resolver said to a question, in a form two resolvers' answers
/// can be compared in: the rcode and the answer section as sorted
/// "owner type rdata" lines, lowercased, without TTLs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Said {
    pub rcode: ResponseCode,
    pub answer: Vec<String>,
}

/// One record as `Said` shows it.
pub fn line(record: &Record) -> String {
    format!("{} {} {}", record.name, record.record_type(), record.data).to_lowercase()
}

/// Asks `resolver` (UDP with EDNS 1232, then TCP if truncated).
pub async fn ask(resolver: SocketAddr, name: &str, rtype: RecordType) -> Said {
    exchange_said(resolver, name, rtype, true).await
}

/// Asks an authoritative server (RD clear), as `ask` does.
pub async fn ask_authority(server: SocketAddr, name: &str, rtype: RecordType) -> Said {
    exchange_said(server, name, rtype, false).await
}

async fn exchange_said(resolver: SocketAddr, name: &str, rtype: RecordType, rd: bool) -> Said {
    let mut query = query_message(name, rtype, Some(1232));
    query.metadata.recursion_desired = rd;
    let reply = timeout(
        DEADLINE * 2,
        udp_exchange(resolver, &query.to_vec().expect("encode"), DEADLINE * 2),
    )
    .await
    .ok()
    .flatten()
    .unwrap_or_else(|| panic!("{resolver} did not answer {name} {rtype}"));
    let mut reply = Message::from_vec(&reply).expect("reply decodes");
    if reply.metadata.truncation {
        reply = tcp_query(resolver, name, rtype).await;
    }
    let mut answer: Vec<String> = reply.answers.iter().map(line).collect();
    answer.sort();
    Said {
        rcode: reply.metadata.response_code,
        answer,
    }
}

//! Sibling cache sharing: a cluster of hearsay instances that acts as one
//! cache. Every question has one owner among the live members
//! (`owner::owner`); a member that misses on a question it does not own
//! asks the owner once, and the owner answers from its cache or resolves
//! (its coalescing merges the whole cluster's misses). Questions that came
//! from a sibling are never passed on (hop limit 1), so members that
//! disagree about membership cannot loop.
//!
//! `Siblings` is the asking side and the live view of the cluster;
//! `listener` answers siblings and feeds gossip to `gossip`, which keeps
//! the member list with foca (SWIM). Every message is authenticated with
//! the cluster key (`key`).

pub(crate) mod gossip;
pub(crate) mod key;
mod listener;
mod owner;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};

use crate::counters::{Counters, SiblingEvent};
use crate::wire::name::name_to_wire;
use crate::wire::{class, flags, rtype};

pub use gossip::run_gossip;
pub use key::{ClusterKey, Rejection};
pub use listener::{SiblingListener, serve, serve_tcp};
pub use owner::{owner, owner_key};

/// The EDNS payload size on the sibling port. Answers that do not fit
/// come back truncated, and are fetched again over TCP.
pub const SIBLING_UDP_SIZE: u16 = 4096;
/// Room kept for the TSIG record at the end of an answer.
pub const TSIG_ROOM: usize = 200;
/// Query MACs remembered to refuse replays: more than siblings send in
/// the window at any sane rate; beyond it the oldest are forgotten, and a
/// replay of those is answered once more, no worse than without the cache.
const MAX_SEEN_QUERIES: u64 = 1 << 20;
/// Failures in a row after which a member is passed over.
const FAILURES_TO_DOWN: u32 = 3;
const FIRST_HOLD: Duration = Duration::from_secs(1);
/// How long after the member list changes an owner that misses first
/// looks in the cache of the member that owned the question before:
/// longer than most popular records live, so a joining member takes its
/// share of the names without a burst of misses at the authorities.
const WARM_UP: Duration = Duration::from_secs(600);
/// How much earlier than us a member must have started for its cache to
/// be worth a look at our start, in milliseconds: more than members
/// started together are apart, more than NTP-kept clocks drift.
const UP_BEFORE_US: u64 = 2_000;
const MAX_HOLD: Duration = Duration::from_secs(30);
/// Members asked in turn after a question's owner fails, before it is
/// resolved here.
const MAX_SUCCESSORS: usize = 2;

/// Why a sibling gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("no answer in time")]
    Timeout,
    #[error("network error: {0}")]
    Network(#[from] std::io::Error),
    #[error("unusable answer")]
    Unusable,
}

/// What is known of one member's recent answers.
#[derive(Default)]
struct Health {
    failures: u32,
    held_until: Option<std::time::Instant>,
    hold: Duration,
}

/// Smoothed round-trip time of sibling answers (RFC 6298 style).
struct Rtt {
    srtt: Duration,
    rttvar: Duration,
}

pub struct SiblingSettings {
    /// Our own sibling address, as others know us.
    pub me: SocketAddr,
    pub key: ClusterKey,
    pub hedge_min: Duration,
    pub hedge_max: Duration,
}

pub struct Siblings {
    me: SocketAddr,
    key: ClusterKey,
    /// Live members, us included, as gossip last reported them.
    members: ArcSwap<Vec<SocketAddr>>,
    /// When that list last changed (our own start counts), and what it
    /// was before.
    changed_at: Mutex<(std::time::Instant, Arc<Vec<SocketAddr>>)>,
    started: std::time::Instant,
    /// When each member started (Unix milliseconds, as its gossip
    /// identity says), us included.
    started_ms: Mutex<HashMap<SocketAddr, u64>>,
    /// Members that failed us recently; bounded by the member list.
    health: Mutex<HashMap<SocketAddr, Health>>,
    rtt: Mutex<Rtt>,
    hedge_min: Duration,
    hedge_max: Duration,
    counters: Arc<Counters>,
    /// MACs of the queries answered within the signature time window.
    seen: moka::sync::Cache<Box<[u8]>, ()>,
}

impl Siblings {
    pub fn new(settings: SiblingSettings, counters: Arc<Counters>) -> Self {
        Self {
            me: settings.me,
            key: settings.key,
            members: ArcSwap::from_pointee(vec![settings.me]),
            changed_at: Mutex::new((std::time::Instant::now(), Arc::new(Vec::new()))),
            started: std::time::Instant::now(),
            started_ms: Mutex::new(HashMap::from([(settings.me, crate::unix_millis())])),
            health: Mutex::new(HashMap::new()),
            rtt: Mutex::new(Rtt {
                srtt: settings.hedge_min,
                rttvar: Duration::ZERO,
            }),
            hedge_min: settings.hedge_min,
            hedge_max: settings.hedge_max,
            counters,
            seen: moka::sync::Cache::builder()
                .max_capacity(MAX_SEEN_QUERIES)
                // A signature is good for the fudge either side of its time.
                .time_to_live(Duration::from_secs(2 * u64::from(key::FUDGE)))
                .build(),
        }
    }

    /// Accepts a verified query's MAC the first time it is seen. A signed
    /// query captured on the wire and sent again (from a forged source, to
    /// reflect the answer at someone) is refused.
    pub(crate) fn first_sight(&self, mac: Vec<u8>) -> Result<Vec<u8>, Rejection> {
        let fresh = self
            .seen
            .entry(mac.clone().into_boxed_slice())
            .or_insert(())
            .is_fresh();
        if fresh {
            Ok(mac)
        } else {
            Err(Rejection::Replay)
        }
    }

    pub fn me(&self) -> SocketAddr {
        self.me
    }

    pub fn key(&self) -> &ClusterKey {
        &self.key
    }

    /// The live members, us included, sorted.
    pub fn members(&self) -> Vec<SocketAddr> {
        self.members.load().to_vec()
    }

    /// When we started, in Unix milliseconds: our gossip identity.
    pub fn started_ms(&self) -> u64 {
        self.started_ms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&self.me)
            .copied()
            .unwrap_or(0)
    }

    /// Replaces the live member list, each member with when it started
    /// (from gossip); `true` when it changed.
    pub(crate) fn set_members(&self, live: Vec<(SocketAddr, u64)>) -> bool {
        let mut members: Vec<SocketAddr> = live.iter().map(|(addr, _)| *addr).collect();
        if !members.contains(&self.me) {
            members.push(self.me);
        }
        {
            let mut started = self.started_ms.lock().unwrap_or_else(|e| e.into_inner());
            for (addr, since) in live {
                if addr != self.me {
                    started.insert(addr, since);
                }
            }
            started.retain(|addr, _| members.contains(addr));
        }
        members.sort();
        members.dedup();
        if **self.members.load() == members {
            return false;
        }
        self.health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|member, _| members.contains(member));
        let before = self.members.swap(Arc::new(members));
        *self.changed_at.lock().unwrap_or_else(|e| e.into_inner()) =
            (std::time::Instant::now(), before);
        true
    }

    /// For a question that moved to us, within `WARM_UP` of the move:
    /// the member that owned it before, if it is still here, whose cache
    /// may hold it. Soon after our own start every question we own moved
    /// to us (our cache is empty; the member next in rendezvous order
    /// owned it); later, those that moved in the last member list change.
    /// Questions we owned before too have none, so a change costs extra
    /// sibling messages only for the keys it moved.
    pub fn previous_owner(&self, name: &[u8], qtype: u16) -> Option<SocketAddr> {
        if self.owner_of(name, qtype).is_some() {
            return None;
        }
        if self.started.elapsed() <= WARM_UP {
            // Only a member up well before us has anything cached; in a
            // cluster started all at once nobody has, and a look would
            // cost a message for nothing.
            let successor = self.successor_of(name, qtype, self.me)?;
            let started = self.started_ms.lock().unwrap_or_else(|e| e.into_inner());
            let ours = started.get(&self.me).copied().unwrap_or(0);
            let theirs = started.get(&successor).copied().unwrap_or(u64::MAX);
            return (theirs.saturating_add(UP_BEFORE_US) <= ours).then_some(successor);
        }
        let (changed_at, before) = self
            .changed_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if changed_at.elapsed() > WARM_UP {
            return None;
        }
        let previous = owner(before.iter(), &owner_key(name, qtype, class::IN, false))?;
        (previous != self.me && self.members.load().contains(&previous)).then_some(previous)
    }

    /// The member to ask about a question, or `None` when it is ours (or
    /// we are alone). Members held down after failures are skipped, so
    /// their keys go to the runner-up.
    pub fn owner_of(&self, name: &[u8], qtype: u16) -> Option<SocketAddr> {
        self.ranked(name, qtype, &[])
    }

    /// The member to ask when `owner` failed or is slow: the one next
    /// in rendezvous order, the owner its keys go to if it leaves. Every
    /// member that sees the same failure picks the same successor, so
    /// their misses still meet in one place. `None` when that is us.
    pub fn successor_of(&self, name: &[u8], qtype: u16, owner: SocketAddr) -> Option<SocketAddr> {
        self.ranked(name, qtype, &[owner])
    }

    /// The members to ask after `owner` fails, in rendezvous order: up to
    /// `MAX_SUCCESSORS`, ending before us (then we are next, and resolve
    /// ourselves). Members killed together are often next to each other
    /// in that order; every survivor that finds the same ones dead still
    /// reaches the same live member.
    pub fn successors_of(&self, name: &[u8], qtype: u16, owner: SocketAddr) -> Vec<SocketAddr> {
        let mut tried = vec![owner];
        while tried.len() <= MAX_SUCCESSORS {
            match self.ranked(name, qtype, &tried) {
                Some(next) => tried.push(next),
                None => break,
            }
        }
        tried.split_off(1)
    }

    /// The highest-ranked live member for the question not in `skip`,
    /// unless it is us.
    fn ranked(&self, name: &[u8], qtype: u16, skip: &[SocketAddr]) -> Option<SocketAddr> {
        let members = self.members.load();
        if members.len() < 2 {
            return None;
        }
        let now = std::time::Instant::now();
        let health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        let live = members.iter().filter(|m| {
            !skip.contains(m)
                && health
                    .get(m)
                    .and_then(|h| h.held_until)
                    .is_none_or(|until| until <= now)
        });
        let owner = owner(live, &owner_key(name, qtype, class::IN, false))?;
        (owner != self.me).then_some(owner)
    }

    /// How long to wait for an owner before resolving here as well: about
    /// the slow end of recent sibling answers (SRTT + 4 RTTVAR), bounded.
    pub fn hedge_delay(&self) -> Duration {
        let rtt = self.rtt.lock().unwrap_or_else(|e| e.into_inner());
        (rtt.srtt + rtt.rttvar * 4).clamp(self.hedge_min, self.hedge_max)
    }

    fn succeeded(&self, member: SocketAddr, took: Duration) {
        {
            let mut rtt = self.rtt.lock().unwrap_or_else(|e| e.into_inner());
            let delta = rtt.srtt.abs_diff(took);
            rtt.rttvar = (rtt.rttvar * 3 + delta) / 4;
            rtt.srtt = (rtt.srtt * 7 + took) / 8;
        }
        let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = health.get_mut(&member) {
            if h.held_until.is_some() {
                tracing::info!(%member, "sibling answers again");
            }
            *h = Health::default();
        }
    }

    fn failed(&self, member: SocketAddr) {
        let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        if !self.members.load().contains(&member) {
            return;
        }
        let h = health.entry(member).or_default();
        h.failures += 1;
        if h.failures >= FAILURES_TO_DOWN {
            h.hold = if h.hold.is_zero() {
                FIRST_HOLD
            } else {
                (h.hold * 2).min(MAX_HOLD)
            };
            h.held_until = Some(std::time::Instant::now() + h.hold);
            h.failures = 0;
            tracing::warn!(%member, hold = ?h.hold, "sibling keeps failing; its names go to the next member");
        }
    }

    /// Asks `owner` for (`name`, `qtype`) and returns its answer if it is
    /// signed with the cluster key and usable (NOERROR or NXDOMAIN, not
    /// truncated, the same question).
    pub async fn ask(
        &self,
        owner: SocketAddr,
        name: &[u8],
        qtype: u16,
        deadline: Instant,
    ) -> Result<Message, AskError> {
        let started = std::time::Instant::now();
        self.counters.sibling(SiblingEvent::QuerySent);
        let result = self
            .exchange(owner, name, qtype, Asking::Answer, deadline)
            .await;
        match &result {
            Ok(_) => {
                self.counters.sibling(SiblingEvent::Answered);
                self.succeeded(owner, started.elapsed());
            }
            Err(AskError::Timeout) => {
                self.counters.sibling(SiblingEvent::Timeout);
                self.failed(owner);
            }
            Err(_) => {
                self.counters.sibling(SiblingEvent::Failed);
                self.failed(owner);
            }
        }
        result
    }

    /// Asks `member` for what its cache holds of (`name`, `qtype`),
    /// with RD clear: it answers from its cache or refuses, and never
    /// resolves. A refusal is no failure of the member's.
    pub async fn peek(
        &self,
        member: SocketAddr,
        name: &[u8],
        qtype: u16,
        deadline: Instant,
    ) -> Option<Message> {
        self.counters.sibling(SiblingEvent::Peeked);
        match self
            .exchange(member, name, qtype, Asking::Cache, deadline)
            .await
        {
            Ok(message) => {
                self.counters.sibling(SiblingEvent::PeekHit);
                Some(message)
            }
            Err(AskError::Unusable) => None,
            Err(_) => {
                self.failed(member);
                None
            }
        }
    }

    /// Asks `owner` for the zone cut at or above `zone` (a name one
    /// label below a cut we know), as a referral: its NS set in the
    /// authority section, addresses in the additional. None if it does
    /// not answer in time; an error of the member's counts against it.
    pub async fn ask_cut(
        &self,
        owner: SocketAddr,
        zone: &[u8],
        deadline: Instant,
    ) -> Option<Message> {
        self.counters.sibling(SiblingEvent::CutAsked);
        match self
            .exchange(owner, zone, rtype::NS, Asking::Cut, deadline)
            .await
        {
            Ok(message) => Some(message),
            Err(AskError::Unusable | AskError::Timeout) => None,
            Err(_) => {
                self.failed(owner);
                None
            }
        }
    }

    /// One signed question to `owner` over UDP, and over TCP when the
    /// answer comes back truncated.
    async fn exchange(
        &self,
        owner: SocketAddr,
        name: &[u8],
        qtype: u16,
        asking: Asking,
        deadline: Instant,
    ) -> Result<Message, AskError> {
        let (id, packet, mac) = self.signed_query(name, qtype, asking)?;
        let socket = crate::resolve::connected_socket(owner).await?;
        socket.send(&packet).await?;
        // The question goes out once more at half the hedge delay, so a
        // datagram lost either way is made good before the caller turns
        // to another member (which would resolve the name a second
        // time). It is signed afresh, under another ID: the member
        // refuses a replayed MAC.
        let resend_at = deadline.min(Instant::now() + self.hedge_delay() / 2);
        let mut again: Option<(u16, Vec<u8>)> = None;
        let mut buf = vec![0u8; usize::from(SIBLING_UDP_SIZE)];
        let message = loop {
            let wait_until = if again.is_none() { resend_at } else { deadline };
            let len = match timeout_at(wait_until, socket.recv(&mut buf)).await {
                Ok(Ok(len)) => len,
                Ok(Err(e)) => return Err(AskError::Network(e)),
                Err(_) if again.is_none() && wait_until < deadline => {
                    let (second, packet, second_mac) = loop {
                        let signed = self.signed_query(name, qtype, asking)?;
                        if signed.0 != id {
                            break signed;
                        }
                    };
                    self.counters.sibling(SiblingEvent::Retransmitted);
                    socket.send(&packet).await?;
                    again = Some((second, second_mac));
                    continue;
                }
                Err(_) => return Err(AskError::Timeout),
            };
            // Anything else arriving on this socket is not our answer.
            let answered = (len >= 12).then(|| u16::from_be_bytes([buf[0], buf[1]]));
            let mac = match &again {
                _ if answered == Some(id) => &mac,
                Some((second, second_mac)) if answered == Some(*second) => second_mac,
                _ => continue,
            };
            break self.accept(owner, &buf[..len], mac)?;
        };
        let message = if message.metadata.truncation {
            self.over_tcp(owner, name, qtype, asking, deadline).await?
        } else {
            message
        };
        usable(message, name, qtype)
    }

    /// The same question over TCP, signed afresh.
    async fn over_tcp(
        &self,
        owner: SocketAddr,
        name: &[u8],
        qtype: u16,
        asking: Asking,
        deadline: Instant,
    ) -> Result<Message, AskError> {
        let (id, packet, mac) = self.signed_query(name, qtype, asking)?;
        let exchange = async {
            let mut stream = tokio::net::TcpStream::connect(owner).await?;
            let mut framed = Vec::with_capacity(packet.len() + 2);
            framed.extend_from_slice(&(packet.len() as u16).to_be_bytes());
            framed.extend_from_slice(&packet);
            stream.write_all(&framed).await?;
            let mut prefix = [0u8; 2];
            stream.read_exact(&mut prefix).await?;
            let mut answer = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
            stream.read_exact(&mut answer).await?;
            Ok::<_, std::io::Error>(answer)
        };
        let answer = match timeout_at(deadline, exchange).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return Err(AskError::Network(e)),
            Err(_) => return Err(AskError::Timeout),
        };
        if answer.len() < 12 || u16::from_be_bytes([answer[0], answer[1]]) != id {
            return Err(AskError::Unusable);
        }
        self.accept(owner, &answer, &mac)
    }

    /// A query with a fresh random ID, signed: (ID, packet, its MAC).
    fn signed_query(
        &self,
        name: &[u8],
        qtype: u16,
        asking: Asking,
    ) -> Result<(u16, Vec<u8>, Vec<u8>), AskError> {
        let id: u16 = rand::random();
        let mut packet = query(id, name, qtype, asking);
        let mac = self.key.sign_query(&mut packet).ok_or(AskError::Unusable)?;
        Ok((id, packet, mac))
    }

    /// An answer signed with the cluster key for the query with `mac`.
    fn accept(&self, owner: SocketAddr, answer: &[u8], mac: &[u8]) -> Result<Message, AskError> {
        if let Err(rejection) = self.key.verify(answer, Some(mac)) {
            self.counters.sibling(SiblingEvent::Rejected);
            tracing::debug!(%owner, "sibling answer rejected: {rejection}");
            return Err(AskError::Unusable);
        }
        Message::from_vec(answer).map_err(|_| AskError::Unusable)
    }
}

/// The answer if it can be shared: a response to this question, NOERROR or
/// NXDOMAIN, complete.
fn usable(message: Message, name: &[u8], qtype: u16) -> Result<Message, AskError> {
    let mut echoed = Vec::with_capacity(name.len());
    if let Some(asked) = message.queries.first() {
        name_to_wire(asked.name(), &mut echoed);
    }
    let usable = message.metadata.message_type == MessageType::Response
        && !message.metadata.truncation
        && matches!(
            message.metadata.response_code,
            ResponseCode::NoError | ResponseCode::NXDomain
        )
        && message.queries.len() == 1
        && u16::from(message.queries[0].query_type()) == qtype
        && echoed.eq_ignore_ascii_case(name);
    if usable {
        Ok(message)
    } else {
        Err(AskError::Unusable)
    }
}

/// A sibling query: RD set (clear to ask for the cache's contents only),
/// AD set to learn whether the owner validated its answer (RFC 6840
/// section 5.7), EDNS with our sibling payload size and DO, for the
/// RRSIGs and proofs this member's DO clients get.
fn query(id: u16, name: &[u8], qtype: u16, asking: Asking) -> Vec<u8> {
    let mut packet = Vec::with_capacity(12 + name.len() + 4 + 11 + 100);
    packet.extend_from_slice(&id.to_be_bytes());
    let rd = if asking == Asking::Cache {
        0
    } else {
        flags::RD
    };
    packet.extend_from_slice(&(rd | flags::AD).to_be_bytes());
    packet.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]);
    packet.extend_from_slice(name);
    packet.extend_from_slice(&qtype.to_be_bytes());
    packet.extend_from_slice(&class::IN.to_be_bytes());
    packet.push(0);
    packet.extend_from_slice(&rtype::OPT.to_be_bytes());
    packet.extend_from_slice(&SIBLING_UDP_SIZE.to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0x80, 0]);
    if asking == Asking::Cut {
        packet.extend_from_slice(&4u16.to_be_bytes());
        packet.extend_from_slice(&crate::wire::edns::SIBLING_CUT.to_be_bytes());
        packet.extend_from_slice(&0u16.to_be_bytes());
    } else {
        packet.extend_from_slice(&0u16.to_be_bytes());
    }
    packet
}

/// What a question to a sibling asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Asking {
    /// The answer, resolved by the member if it has none (RD set).
    Answer,
    /// What its cache holds, nothing more (RD clear): a peek.
    Cache,
    /// The zone cut at or above the name, learned by the member if need
    /// be, as a referral (RD set, `edns::SIBLING_CUT`).
    Cut,
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::{Name, RData, Record, rdata::A};
    use tokio::net::UdpSocket;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn key() -> ClusterKey {
        ClusterKey::new(Name::from_ascii("cluster.").unwrap(), SECRET).unwrap()
    }

    fn asker() -> (Siblings, Arc<Counters>) {
        let counters = Arc::new(Counters::default());
        let settings = SiblingSettings {
            me: SocketAddr::from(([127, 0, 0, 1], 1)),
            key: key(),
            hedge_min: Duration::from_millis(60),
            hedge_max: Duration::from_millis(200),
        };
        (Siblings::new(settings, counters.clone()), counters)
    }

    /// The owner's signed answer to `packet`: one A record.
    fn signed_answer(packet: &[u8]) -> Vec<u8> {
        let key = key();
        let mac = key.verify(packet, None).expect("a signed question");
        let mut message = Message::from_vec(packet).unwrap();
        message.metadata.message_type = MessageType::Response;
        message.additionals.clear();
        message.signature = None;
        let name = message.queries[0].name().clone();
        message.add_answer(Record::from_rdata(name, 60, RData::A(A::new(192, 0, 2, 7))));
        let mut out = message.to_vec().unwrap();
        key.sign_answer(&mut out, &mac).unwrap();
        out
    }

    fn wire(name: &str) -> Vec<u8> {
        let mut out = Vec::new();
        name_to_wire(&Name::from_ascii(name).unwrap(), &mut out);
        out
    }

    /// The first question is lost on the way: the second, sent at half
    /// the hedge delay, is answered, and nobody else is asked.
    #[tokio::test]
    async fn a_lost_question_is_sent_again_before_the_hedge() {
        let owner = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let at = owner.local_addr().unwrap();
        let (siblings, counters) = asker();
        let serve = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let (_, _) = owner.recv_from(&mut buf).await.unwrap();
            let (len, from) = owner.recv_from(&mut buf).await.unwrap();
            owner
                .send_to(&signed_answer(&buf[..len]), from)
                .await
                .unwrap();
        });
        let started = Instant::now();
        let deadline = started + Duration::from_secs(2);
        let answer = siblings
            .ask(at, &wire("lost.cluster.test."), 1, deadline)
            .await
            .expect("the second question is answered");
        serve.await.unwrap();
        assert_eq!(answer.answers.len(), 1);
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(30), "answered after {took:?}");
        assert_eq!(counters.snapshot().sibling(SiblingEvent::Retransmitted), 1);
        assert_eq!(counters.snapshot().sibling(SiblingEvent::Answered), 1);
    }

    /// The answer to the first question comes back only after the
    /// question went out again: it is taken, checked against the first
    /// question's MAC.
    #[tokio::test]
    async fn a_late_answer_to_the_first_question_is_taken() {
        let owner = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let at = owner.local_addr().unwrap();
        let (siblings, counters) = asker();
        let serve = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let (len, from) = owner.recv_from(&mut buf).await.unwrap();
            let first = buf[..len].to_vec();
            let _ = owner.recv_from(&mut buf).await.unwrap();
            owner.send_to(&signed_answer(&first), from).await.unwrap();
        });
        let deadline = Instant::now() + Duration::from_secs(2);
        let answer = siblings
            .ask(at, &wire("late.cluster.test."), 1, deadline)
            .await
            .expect("the first question's answer is taken");
        serve.await.unwrap();
        assert_eq!(answer.answers.len(), 1);
        assert_eq!(counters.snapshot().sibling(SiblingEvent::Retransmitted), 1);
        assert_eq!(counters.snapshot().sibling(SiblingEvent::Rejected), 0);
    }

    /// A silent owner is asked twice, then the wait ends at the deadline.
    #[tokio::test]
    async fn a_silent_owner_is_asked_twice_and_no_more() {
        let owner = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let at = owner.local_addr().unwrap();
        let (siblings, counters) = asker();
        let deadline = Instant::now() + Duration::from_millis(300);
        let asked = siblings
            .ask(at, &wire("silent.cluster.test."), 1, deadline)
            .await;
        assert!(matches!(asked, Err(AskError::Timeout)));
        let mut buf = vec![0u8; 4096];
        let mut received = 0;
        while let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_millis(50), owner.recv_from(&mut buf)).await
        {
            received += 1;
        }
        assert_eq!(received, 2);
        assert_eq!(counters.snapshot().sibling(SiblingEvent::Retransmitted), 1);
        assert_eq!(counters.snapshot().sibling(SiblingEvent::Timeout), 1);
    }
}

//! Recursion: finding an answer by asking authoritative servers, from the
//! closest known zone cut down (RFC 1034 section 5.3.3), showing each server
//! no more of the question name than it needs (RFC 9156).
//!
//! The rules a response must pass live here:
//! - it must come from a server of the zone cut being asked (`exchange`
//!   checks source, ID and question);
//! - REFUSED, a referral upward or sideways, or a non-authoritative answer
//!   makes the server lame for that zone; SERVFAIL and timeouts count
//!   against the server (`Infra`);
//! - only records inside the zone the server was asked as authority for
//!   are used (`in_bailiwick`), and glue only inside the delegated zone
//!   (`referral`); everything else is dropped and counted.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::time::Instant;

use super::Resolver;
use super::delegation::{Delegation, Delegations, MIN_DELEGATION_TTL, NameServer, address_types};
use super::exchange::{Exchange, ExchangeError, Question, exchange};
use super::infra::Infra;
use super::response::{Reading, read_answer};
use crate::counters::{Counters, IterationEvent, UpstreamEvent};
use crate::wire::{NameKey, rtype};

/// Limits on the work one client question may cause, sub-queries for name
/// server addresses included. Unbounded work is what the NXNS attack
/// (CVE-2020-12662) used; Unbound's corresponding limits are of the same
/// order (max-sent-count 32, target fetches per query).
pub const MAX_QUERIES: u32 = 48;
pub const MAX_NS_LOOKUPS: u32 = 8;
pub const MAX_REFERRALS: u32 = 24;
/// Minimised queries before the whole name is shown (RFC 9156 section
/// 2.3, MAX_MINIMISE_COUNT).
const MAX_MINIMISE_STEPS: usize = 10;
/// Longest a delegation is kept, whatever its NS TTL.
const MAX_DELEGATION_TTL: Duration = Duration::from_secs(86_400);

/// Work left for one client question.
#[derive(Debug)]
pub struct Budget {
    pub queries: u32,
    pub ns_lookups: u32,
    pub referrals: u32,
    /// The sibling to ask first, for the client's question itself (not
    /// for the sub-queries it leads to); taken when used.
    pub sibling: Option<std::net::SocketAddr>,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            queries: MAX_QUERIES,
            ns_lookups: MAX_NS_LOOKUPS,
            referrals: MAX_REFERRALS,
            sibling: None,
        }
    }
}

/// Why iteration stopped without an answer.
#[derive(Debug, thiserror::Error)]
pub enum IterateError {
    #[error("{0} limit reached")]
    Limit(&'static str),
    #[error("no server of {0} could answer")]
    NoServers(Name),
    #[error("deadline passed")]
    Deadline,
}

/// What the recursor needs to know.
pub struct RecursorSettings {
    pub hints: Delegation,
    /// Port of the authoritative servers (53 but in tests).
    pub port: u16,
    /// RFC 9156.
    pub minimise: bool,
    /// Whether IPv6 servers can be reached from here.
    pub ipv6: bool,
}

pub struct Recursor {
    delegations: Delegations,
    infra: Arc<Infra>,
    exchange: Exchange,
    port: u16,
    minimise: bool,
    ipv6: bool,
    counters: Arc<Counters>,
}

/// How a usable response moves the iteration on.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// A referral to a zone below the cut.
    Referral(Name),
    Answer,
    NoData,
    NxDomain,
}

/// Whether a response can be used at all.
#[derive(Debug, PartialEq, Eq)]
enum Screen {
    Usable,
    /// The server does not serve the zone (properly): not asked about it
    /// again for a while.
    Lame,
    /// SERVFAIL and the like: counts against the server.
    Failed,
}

impl Recursor {
    pub fn new(
        settings: RecursorSettings,
        infra: Arc<Infra>,
        exchange: Exchange,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            delegations: Delegations::new(settings.hints),
            infra,
            exchange,
            port: settings.port,
            minimise: settings.minimise,
            ipv6: settings.ipv6,
            counters,
        }
    }

    /// Whether IPv6 name servers are asked.
    /// Authoritative servers known, and how many are held down.
    pub fn census(&self) -> (u64, u64) {
        self.infra.census()
    }

    /// Forgets the zone cuts learned at or below `suffix`.
    pub fn forget_below(&self, suffix: &[u8]) -> usize {
        self.delegations.forget_below(suffix)
    }

    pub fn ipv6(&self) -> bool {
        self.ipv6
    }

    /// Learns the current root servers from the hints (RFC 8109). Until it
    /// succeeds, the hints themselves are used. Returns how long the
    /// learned root NS set is kept.
    pub async fn prime(
        &self,
        resolver: &Resolver,
        deadline: Instant,
    ) -> Result<Duration, IterateError> {
        let hints = self.delegations.hints().clone();
        let mut budget = Budget::default();
        let message = self
            .ask_cut(
                resolver,
                &hints,
                b"\x00",
                rtype::NS,
                deadline,
                &mut budget,
                &mut Vec::new(),
            )
            .await?;
        let root = Name::root();
        let ns: Vec<&Record> = message
            .answers
            .iter()
            .filter(|r| r.name.is_root() && r.record_type() == RecordType::NS)
            .collect();
        if ns.is_empty() || !message.metadata.authoritative {
            return Err(IterateError::NoServers(root));
        }
        let servers = name_servers(ns.iter().copied(), &message.additionals, &root, self.ipv6);
        let ttl = delegation_ttl(ns.iter().map(|r| r.ttl).min().unwrap_or(0));
        self.delegations
            .insert(Delegation::new(root, servers, Some(ttl)));
        self.counters.iteration(IterationEvent::Primed);
        Ok(ttl)
    }

    /// Asks authoritative servers about (`name`, `qtype`), from the closest
    /// known cut down, and returns what the final server said inside its
    /// own zone.
    #[allow(clippy::too_many_arguments)]
    pub async fn answer(
        &self,
        resolver: &Resolver,
        name: &NameKey,
        qtype: u16,
        deadline: Instant,
        budget: &mut Budget,
        path: &mut Vec<Box<[u8]>>,
    ) -> Result<Reading, IterateError> {
        let total = name.label_count();
        // DS is answered by the parent side of a cut (RFC 4035 3.1.4.1).
        let start = match qtype == rtype::DS && total > 0 {
            true => NameKey::from_wire(name.suffix(1)).unwrap_or_else(NameKey::root),
            false => name.clone(),
        };
        let mut cut = self.delegations.closest(&start);
        let mut shown = self.first_shown(&cut, total);
        let mut minimised = 0;
        loop {
            let full = shown >= total;
            let ask = name.suffix(total - shown.min(total));
            // RFC 9156 section 3: A for the names on the way down.
            let ask_type = if full { qtype } else { rtype::A };
            let message = self
                .ask_cut(resolver, &cut, ask, ask_type, deadline, budget, path)
                .await?;
            match step(&message, &cut, ask) {
                Step::Referral(child) => {
                    budget.referrals = budget
                        .referrals
                        .checked_sub(1)
                        .ok_or(IterateError::Limit("referral"))?;
                    self.counters.iteration(IterationEvent::Referral);
                    cut = self.delegations.insert(self.referral(&message, child));
                    shown = self.first_shown(&cut, total);
                }
                // A minimised name exists (or is an empty non-terminal):
                // show one label more. NXDOMAIN for it might be a server
                // that gets empty non-terminals wrong, so ask the full
                // name instead of trusting it (RFC 9156 section 2.3).
                step if !full => {
                    minimised += 1;
                    shown = if step == Step::NxDomain || minimised >= MAX_MINIMISE_STEPS {
                        total
                    } else {
                        shown + 1
                    };
                }
                _ => {
                    let message = self.in_bailiwick(message, &cut.zone);
                    return Ok(read_answer(&message, name.as_bytes(), qtype));
                }
            }
        }
    }

    /// Labels of the question name the first query below `cut` shows.
    fn first_shown(&self, cut: &Delegation, total: usize) -> usize {
        if self.minimise {
            (cut.labels + 1).min(total)
        } else {
            total
        }
    }

    /// Asks the servers of `cut` until one gives a usable response. Name
    /// servers without a known address are looked up (sub-queries) only
    /// when every known address has been tried.
    #[allow(clippy::too_many_arguments)]
    async fn ask_cut(
        &self,
        resolver: &Resolver,
        cut: &Delegation,
        ask: &[u8],
        qtype: u16,
        deadline: Instant,
        budget: &mut Budget,
        path: &mut Vec<Box<[u8]>>,
    ) -> Result<Message, IterateError> {
        let mut tried: Vec<SocketAddr> = Vec::new();
        let mut looked_up: Vec<usize> = Vec::new();
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(IterateError::Deadline);
            }
            let candidates = self.addresses(resolver, cut);
            let Some(pick) = self.infra.pick(&candidates, &tried, &cut.key) else {
                // Every known address is tried: find another server's.
                let unknown = cut
                    .servers
                    .iter()
                    .enumerate()
                    .find(|(i, s)| !looked_up.contains(i) && !self.has_address(resolver, s));
                let Some((index, server)) = unknown else {
                    return Err(IterateError::NoServers(cut.zone.clone()));
                };
                budget.ns_lookups = budget
                    .ns_lookups
                    .checked_sub(1)
                    .ok_or(IterateError::Limit("name server lookup"))?;
                looked_up.push(index);
                resolver
                    .look_up_addresses(server, deadline, budget, path)
                    .await;
                continue;
            };
            tried.push(pick.addr);
            budget.queries = budget
                .queries
                .checked_sub(1)
                .ok_or(IterateError::Limit("query"))?;
            let attempt_deadline = deadline.min(now + pick.timeout);
            let question = Question { name: ask, qtype };
            let started = std::time::Instant::now();
            match exchange(
                pick.addr,
                question,
                &self.exchange,
                false,
                attempt_deadline,
                &self.infra,
                &self.counters,
            )
            .await
            {
                Ok(message) => match screen(&message, cut, ask) {
                    Screen::Usable => {
                        self.infra.success(pick.addr, started.elapsed());
                        return Ok(message);
                    }
                    Screen::Lame => {
                        self.counters.iteration(IterationEvent::Lame);
                        self.infra.lame(pick.addr, &cut.key);
                    }
                    Screen::Failed => {
                        self.counters.upstream(UpstreamEvent::Failed);
                        self.infra.failure(pick.addr);
                    }
                },
                Err(ExchangeError::Timeout) => {
                    self.counters.upstream(UpstreamEvent::Timeout);
                    self.infra.failure(pick.addr);
                }
                Err(ExchangeError::Network(_)) => {
                    self.counters.upstream(UpstreamEvent::Failed);
                    self.infra.failure(pick.addr);
                }
            }
        }
    }

    /// Every address known for the servers of `cut`: glue, then what the
    /// cache holds for their names.
    fn addresses(&self, resolver: &Resolver, cut: &Delegation) -> Vec<SocketAddr> {
        let mut addrs = Vec::new();
        for server in &cut.servers {
            addrs.extend(
                server
                    .addrs
                    .iter()
                    .filter(|a| self.ipv6 || a.is_ipv4())
                    .map(|&ip| SocketAddr::new(ip, self.port)),
            );
            for &t in address_types(self.ipv6) {
                resolver.cached_addresses(&server.key, t, &mut |ip| {
                    let addr = SocketAddr::new(ip, self.port);
                    if !addrs.contains(&addr) {
                        addrs.push(addr);
                    }
                });
            }
        }
        addrs
    }

    fn has_address(&self, resolver: &Resolver, server: &NameServer) -> bool {
        server.addrs.iter().any(|a| self.ipv6 || a.is_ipv4())
            || address_types(self.ipv6).iter().any(|&t| {
                let mut any = false;
                resolver.cached_addresses(&server.key, t, &mut |_| any = true);
                any
            })
    }

    /// The delegation a referral to `child` describes, with only the glue
    /// inside `child` (RFC 1034 section 4.2.1; anything else could be
    /// anyone's data).
    fn referral(&self, message: &Message, child: Name) -> Delegation {
        let ns: Vec<&Record> = message
            .authorities
            .iter()
            .filter(|r| r.record_type() == RecordType::NS && r.name == child)
            .collect();
        let servers = name_servers(ns.iter().copied(), &message.additionals, &child, self.ipv6);
        let dropped = message
            .additionals
            .iter()
            .filter(|r| r.record_type() != RecordType::OPT && !child.zone_of(&r.name))
            .count();
        self.counters.bailiwick_dropped(dropped);
        let ttl = ns.iter().map(|r| r.ttl).min().unwrap_or(0);
        Delegation::new(child, servers, Some(delegation_ttl(ttl)))
    }

    /// The response with every record outside `zone` removed (and counted).
    fn in_bailiwick(&self, mut message: Message, zone: &Name) -> Message {
        let before = message.answers.len() + message.authorities.len();
        message.answers.retain(|r| zone.zone_of(&r.name));
        message.authorities.retain(|r| zone.zone_of(&r.name));
        let outside_additional = message
            .additionals
            .iter()
            .filter(|r| !zone.zone_of(&r.name))
            .count();
        message.additionals.clear();
        let kept = message.answers.len() + message.authorities.len();
        self.counters
            .bailiwick_dropped(before - kept + outside_additional);
        message
    }
}

/// Name servers from NS records, with the glue for each that is inside
/// `zone`.
fn name_servers<'a>(
    ns: impl Iterator<Item = &'a Record>,
    additionals: &[Record],
    zone: &Name,
    ipv6: bool,
) -> Vec<NameServer> {
    let mut servers: Vec<NameServer> = Vec::new();
    for record in ns {
        let RData::NS(target) = &record.data else {
            continue;
        };
        let key: Box<[u8]> = NameKey::from_name(&target.0).as_bytes().into();
        if servers.iter().any(|s| s.key == key) {
            continue;
        }
        let addrs = additionals
            .iter()
            .filter(|r| r.name == target.0 && zone.zone_of(&r.name))
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(aaaa) if ipv6 => Some(IpAddr::V6(aaaa.0)),
                _ => None,
            })
            .collect();
        servers.push(NameServer {
            name: target.0.clone(),
            key,
            addrs,
        });
    }
    servers
}

fn delegation_ttl(ttl: u32) -> Duration {
    Duration::from_secs(ttl.into()).clamp(MIN_DELEGATION_TTL, MAX_DELEGATION_TTL)
}

/// The zone a referral in `message` delegates to, if it is one.
fn referral_child(message: &Message) -> Option<&Name> {
    message
        .authorities
        .iter()
        .find(|r| r.record_type() == RecordType::NS)
        .map(|r| &r.name)
}

/// Whether `message`, an answer from a server of `cut` to a question about
/// `ask`, can be used.
fn screen(message: &Message, cut: &Delegation, ask: &[u8]) -> Screen {
    match message.metadata.response_code {
        ResponseCode::NoError | ResponseCode::NXDomain => {}
        // The server does not serve this zone.
        ResponseCode::Refused => return Screen::Lame,
        _ => return Screen::Failed,
    }
    let authoritative = message.metadata.authoritative;
    if message.metadata.response_code == ResponseCode::NXDomain || !message.answers.is_empty() {
        // A non-authoritative answer is a cache talking, not the zone.
        return if authoritative {
            Screen::Usable
        } else {
            Screen::Lame
        };
    }
    let has_soa = message
        .authorities
        .iter()
        .any(|r| r.record_type() == RecordType::SOA);
    if authoritative && has_soa {
        return Screen::Usable;
    }
    match referral_child(message) {
        Some(child) if is_downward(child, cut, ask) => Screen::Usable,
        // A referral upward or sideways, or nothing at all.
        _ if authoritative => Screen::Usable,
        _ => Screen::Lame,
    }
}

/// A referral must lead strictly below the cut and towards the name asked.
fn is_downward(child: &Name, cut: &Delegation, ask: &[u8]) -> bool {
    let child_key = NameKey::from_name(child);
    let Some(ask) = NameKey::from_wire(ask) else {
        return false;
    };
    child_key.label_count() > cut.labels
        && cut.zone.zone_of(child)
        && ask.label_count() >= child_key.label_count()
        && ask.suffix(ask.label_count() - child_key.label_count()) == child_key.as_bytes()
}

/// How a usable response to a question about `ask` moves the iteration on.
fn step(message: &Message, cut: &Delegation, ask: &[u8]) -> Step {
    if message.metadata.response_code == ResponseCode::NXDomain {
        return Step::NxDomain;
    }
    if !message.answers.is_empty() {
        return Step::Answer;
    }
    let has_soa = message
        .authorities
        .iter()
        .any(|r| r.record_type() == RecordType::SOA);
    match referral_child(message) {
        Some(child)
            if !(message.metadata.authoritative && has_soa) && is_downward(child, cut, ask) =>
        {
            Step::Referral(child.clone())
        }
        _ => Step::NoData,
    }
}

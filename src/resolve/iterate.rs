//! Recursion: finding an answer by asking authoritative servers, from the
//! closest known zone cut down (RFC 1034 section 5.3.3), showing each server
//! no more of the question name than it needs (RFC 9156).
//!
//! How a response is judged, and which of its records are believed, is
//! `judge`'s business; this module walks: it picks the servers of a cut,
//! follows referrals, and decides how much of the name to show next.
//!
//! Minimisation is lenient where servers are broken and economical where
//! they are not. A minimised query that gets NXDOMAIN, REFUSED, SERVFAIL,
//! a timeout or an alias is answered by asking the full name instead
//! (RFC 9156 section 2.3), never by failing. A name a zone's server
//! answered for without a referral is remembered as inside that zone, so
//! the next question below it starts there: unique names under a wildcard
//! cost one query each, as in Unbound.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::time::Instant;

use super::Resolver;
use super::delegation::{
    Delegation, Delegations, MIN_DELEGATION_TTL, NameServer, NsSource, address_types,
};
use super::exchange::{Exchange, ExchangeError, Question, exchange};
use super::fetch_limit::{FetchCaps, FetchLimits, Refusal};
use super::infra::Infra;
use super::judge::{self, Verdict};
use super::rendezvous::Turn;
use super::response::{Reading, read_answer};
use super::shared::{Ended, Shared};
use super::trace::{Trace, note};
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
    /// For a question we own: the member that owned it before the member
    /// list changed, whose cache is looked in first; taken when used.
    pub previous_owner: Option<std::net::SocketAddr>,
    /// Where the steps go when an operator traces the question.
    pub trace: Option<Arc<Trace>>,
    /// Signature checks and NSEC3 hashes left for validation.
    pub dnssec: crate::dnssec::Budget,
    /// Why the last step that failed did, for the client's EDE.
    pub failure: super::ResolutionFailure,
    /// Whether a zone cut we lack may be asked of the sibling that owns
    /// it; not while answering a sibling's request for a cut (hop limit).
    pub cuts_from_siblings: bool,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            queries: MAX_QUERIES,
            ns_lookups: MAX_NS_LOOKUPS,
            referrals: MAX_REFERRALS,
            sibling: None,
            previous_owner: None,
            trace: None,
            dnssec: crate::dnssec::Budget::default(),
            failure: super::ResolutionFailure::default(),
            cuts_from_siblings: true,
        }
    }
}

impl Budget {
    /// Records a step of the resolution (see `trace::note`).
    pub fn note(&self, depth: usize, step: impl FnOnce() -> String) {
        note(self.trace.as_deref(), depth, step);
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
    #[error("too many queries outstanding to {0}")]
    FetchLimit(String),
}

/// How many labels of a name the next minimised query shows, after one
/// that found the name inside the zone: one more, or the whole name once
/// `MAX_MINIMISE_STEPS` were taken (RFC 9156 section 2.3).
fn one_label_more(minimised: &mut usize, shown: usize, total: usize) -> usize {
    *minimised += 1;
    if *minimised >= MAX_MINIMISE_STEPS {
        total
    } else {
        shown + 1
    }
}

/// What the sibling that owns a name on the way down said of the cut there.
enum SiblingCut {
    /// A cut below ours, now kept.
    Deeper(Arc<Delegation>),
    /// The name is inside our cut's zone: no cut there.
    Inside,
    /// Nothing to go on: the cut's parent servers are asked.
    Unknown,
}

/// Why asking the servers of a cut gave no usable response.
enum Unanswered {
    /// A minimised query failed: the full name is to be asked instead.
    Probe(String),
    Stop(IterateError),
}

impl From<IterateError> for Unanswered {
    fn from(e: IterateError) -> Self {
        Unanswered::Stop(e)
    }
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
    pub fetch_caps: FetchCaps,
}

pub struct Recursor {
    delegations: Delegations,
    shared: Shared,
    infra: Arc<Infra>,
    exchange: Exchange,
    port: u16,
    minimise: bool,
    ipv6: bool,
    /// Boxed: the maps would make every `Mode` as large as this.
    fetches: Box<FetchLimits>,
    counters: Arc<Counters>,
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
            shared: Shared::default(),
            infra,
            exchange,
            port: settings.port,
            minimise: settings.minimise,
            ipv6: settings.ipv6,
            fetches: Box::new(FetchLimits::new(settings.fetch_caps)),
            counters,
        }
    }

    /// Authoritative servers known, and how many are held down.
    pub fn census(&self) -> (u64, u64) {
        self.infra.census()
    }

    /// Queries sent to authoritative servers and not yet answered.
    pub fn outstanding(&self) -> u32 {
        self.fetches.outstanding()
    }

    /// Forgets the zone cuts learned at or below `suffix`.
    pub fn forget_below(&self, suffix: &[u8]) -> usize {
        self.delegations.forget_below(suffix)
    }

    /// Whether IPv6 name servers are asked.
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
        let root = Name::root();
        let asked = self
            .ask_cut(
                resolver,
                &hints,
                &NameKey::root(),
                rtype::NS,
                false,
                deadline,
                &mut budget,
                &mut Vec::new(),
            )
            .await;
        let (message, verdict) = match asked {
            Ok(response) => response,
            Err(Unanswered::Stop(e)) => return Err(e),
            Err(Unanswered::Probe(_)) => return Err(IterateError::NoServers(root)),
        };
        let Some((servers, ttl)) =
            judge::apex_servers(&message, &root).filter(|_| verdict == Verdict::Answer)
        else {
            return Err(IterateError::NoServers(root));
        };
        let mut servers = self.name_servers(servers);
        // A root server the answer gives no address for keeps the one
        // the hints have.
        for server in servers.iter_mut().filter(|s| s.addrs.is_empty()) {
            if let Some(hinted) = hints.servers.iter().find(|h| h.key == server.key) {
                server.addrs = hinted.addrs.clone();
            }
        }
        if !servers.iter().any(|s| !s.addrs.is_empty()) {
            return Err(IterateError::NoServers(root));
        }
        let ttl = delegation_ttl(ttl);
        self.delegations
            .insert(Delegation::new(root, servers, Some(ttl), NsSource::Priming));
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
        // Only a descent for a cut stops short of an answer.
        self.descend(resolver, name, qtype, false, deadline, budget, path)
            .await?
            .ok_or(IterateError::Limit("descent"))
    }

    /// The deepest zone cut at or above `zone`, learned from the
    /// authorities if need be: the descent of `answer` for (`zone`, NS),
    /// stopped at the referral to `zone` itself, so no question goes to
    /// the zone's own servers. What a sibling asks of the member that
    /// owns `zone`'s cut.
    pub async fn cut_for(
        &self,
        resolver: &Resolver,
        zone: &NameKey,
        deadline: Instant,
        budget: &mut Budget,
    ) -> Result<Arc<Delegation>, IterateError> {
        let known = self.delegations.closest(zone);
        // Already known to be a cut, or a name inside the cut's zone.
        if known.labels >= zone.label_count()
            || self.delegations.is_inside(zone.as_bytes(), &known.key)
        {
            return Ok(known);
        }
        let mut path = Vec::new();
        self.descend(resolver, zone, rtype::NS, true, deadline, budget, &mut path)
            .await?;
        Ok(self.delegations.closest(zone))
    }

    /// The deepest cut we know at or above `zone`.
    pub fn closest_cut(&self, zone: &NameKey) -> Arc<Delegation> {
        self.delegations.closest(zone)
    }

    /// What the sibling that owns `zone` (a name one step below `cut` on
    /// the way to `name`) knows of the cut there: a deeper cut is kept as
    /// a referral would be, so the authorities above it are not asked
    /// again by every member. Unknown if we own it, or it does not answer
    /// within the hedge delay (then the authorities are asked as usual).
    #[allow(clippy::too_many_arguments)]
    async fn cut_from_sibling(
        &self,
        resolver: &Resolver,
        cut: &Delegation,
        zone: &NameKey,
        name: &NameKey,
        deadline: Instant,
        budget: &Budget,
        depth: usize,
    ) -> SiblingCut {
        let Some(siblings) = resolver.siblings.as_ref() else {
            return SiblingCut::Unknown;
        };
        let Some(owner) = siblings.owner_of(zone.as_bytes(), rtype::NS) else {
            return SiblingCut::Unknown;
        };
        let until = deadline.min(Instant::now() + siblings.hedge_delay());
        // Resolutions here that lack the same cut at once send one
        // question for it; the rest wait for that one, then look again.
        let flight = super::cut_flight_key(zone.as_bytes(), super::CutFlight::FromSibling);
        let lead = match resolver.flights.arrive(flight) {
            super::Turn::Lead(lead) => lead,
            super::Turn::Join(joined) => {
                joined.wait(until).await;
                let kept = self.delegations.closest(name);
                return if kept.labels > cut.labels {
                    SiblingCut::Deeper(kept)
                } else if self.delegations.is_inside(zone.as_bytes(), &cut.key) {
                    SiblingCut::Inside
                } else {
                    SiblingCut::Unknown
                };
            }
            super::Turn::Full => return SiblingCut::Unknown,
        };
        let kept = self
            .ask_sibling_for_cut(siblings, owner, cut, zone, name, until, budget, depth)
            .await;
        lead.finish(|| Arc::new(super::Outcome::Failed(super::ResolutionFailure::default())));
        kept
    }

    /// The question of `cut_from_sibling`, and what is kept of the answer.
    #[allow(clippy::too_many_arguments)]
    async fn ask_sibling_for_cut(
        &self,
        siblings: &crate::siblings::Siblings,
        owner: std::net::SocketAddr,
        cut: &Delegation,
        zone: &NameKey,
        name: &NameKey,
        until: Instant,
        budget: &Budget,
        depth: usize,
    ) -> SiblingCut {
        let Some(message) = siblings.ask_cut(owner, zone.as_bytes(), until).await else {
            return SiblingCut::Unknown;
        };
        let Some(child) = message
            .authorities
            .iter()
            .find_map(|r| (r.record_type() == RecordType::NS).then(|| r.name.clone()))
        else {
            return SiblingCut::Unknown;
        };
        let child_key = NameKey::from_name(&child);
        let total = name.label_count();
        // The cut we stand at: `zone` is no cut, only a name in its zone.
        // Remembered as if its servers had shown it (for no longer than
        // the cut's NS set is good), so the next question below it starts
        // there without asking anyone.
        if *child_key.as_bytes() == *cut.key {
            let ttl = message.authorities.iter().map(|r| r.ttl).min().unwrap_or(0);
            self.delegations
                .note_inside(zone.as_bytes(), cut, Duration::from_secs(ttl.into()));
            budget.note(depth, || {
                format!("{zone:?} is inside {}, no cut (said {owner})", cut.zone)
            });
            return SiblingCut::Inside;
        }
        let below = child_key.label_count() > cut.labels
            && child_key.label_count() <= total
            && name.suffix(total - child_key.label_count()) == child_key.as_bytes();
        if !below {
            return SiblingCut::Unknown;
        }
        let (servers, ttl) = judge::referral_servers(&message, &child);
        let servers = self.name_servers(servers);
        if servers.is_empty() {
            return SiblingCut::Unknown;
        }
        self.counters.iteration(IterationEvent::SiblingCut);
        let kept = self.delegations.insert(Delegation::new(
            child,
            servers,
            Some(delegation_ttl(ttl)),
            NsSource::Sibling,
        ));
        budget.note(depth, || {
            format!(
                "kept {} ({} {owner}): {}",
                kept.zone,
                kept.source.label(),
                kept.describe_servers()
            )
        });
        SiblingCut::Deeper(kept)
    }

    #[allow(clippy::too_many_arguments)]
    async fn descend(
        &self,
        resolver: &Resolver,
        name: &NameKey,
        qtype: u16,
        cut_only: bool,
        deadline: Instant,
        budget: &mut Budget,
        path: &mut Vec<Box<[u8]>>,
    ) -> Result<Option<Reading>, IterateError> {
        let depth = path.len().saturating_sub(1);
        let total = name.label_count();
        // DS is answered by the parent side of a cut (RFC 4035 3.1.4.1).
        let start = match qtype == rtype::DS && total > 0 {
            true => NameKey::from_wire(name.suffix(1)).unwrap_or_else(NameKey::root),
            false => name.clone(),
        };
        let mut cut = self.delegations.closest(&start);
        budget.note(depth, || {
            format!(
                "{name:?} {}: starting at {} ({}{}): {}",
                RecordType::from(qtype),
                cut.zone,
                cut.source.label(),
                cut.remaining()
                    .map_or(String::new(), |s| format!(", {s} s left")),
                cut.describe_servers()
            )
        });
        let mut shown = self.first_shown(&cut, name);
        let mut minimised = 0;
        loop {
            if cut_only && cut.labels >= total {
                return Ok(None);
            }
            let full = shown >= total;
            let ask = match full {
                true => name.clone(),
                false => {
                    NameKey::from_wire(name.suffix(total - shown)).unwrap_or_else(|| name.clone())
                }
            };
            // A name on the way down may be a cut another member learned:
            // asked of the member that owns it before its parent's servers.
            if !full && budget.cuts_from_siblings {
                match self
                    .cut_from_sibling(resolver, &cut, &ask, name, deadline, budget, depth)
                    .await
                {
                    SiblingCut::Deeper(kept) => {
                        budget.referrals = budget
                            .referrals
                            .checked_sub(1)
                            .ok_or(IterateError::Limit("referral"))?;
                        cut = kept;
                        shown = self.first_shown(&cut, name);
                        continue;
                    }
                    // As if the cut's servers had answered the minimised
                    // question: one label more.
                    SiblingCut::Inside => {
                        shown = one_label_more(&mut minimised, shown, total);
                        continue;
                    }
                    SiblingCut::Unknown => {}
                }
            }
            // RFC 9156 section 3: A for the names on the way down, and
            // for the last step to a cut, which then meets a resolution
            // on its way down through the same servers in one exchange.
            let ask_type = if full && !cut_only { qtype } else { rtype::A };
            let asked = self
                .ask_cut(
                    resolver, &cut, &ask, ask_type, !full, deadline, budget, path,
                )
                .await;
            let (message, verdict) = match asked {
                Ok(response) => response,
                Err(Unanswered::Probe(why)) => {
                    self.fall_back(budget, depth, &why, name);
                    shown = total;
                    continue;
                }
                Err(Unanswered::Stop(e)) => return Err(e),
            };
            match verdict {
                Verdict::Referral(child) => {
                    budget.referrals = budget
                        .referrals
                        .checked_sub(1)
                        .ok_or(IterateError::Limit("referral"))?;
                    self.counters.iteration(IterationEvent::Referral);
                    cut = self.follow_referral(&message, &cut, child, budget, depth);
                    shown = self.first_shown(&cut, name);
                }
                // The minimised name exists (or is an empty non-terminal)
                // inside the zone: show one label more.
                Verdict::Answer | Verdict::NoData if !full => {
                    self.remember_inside(ask.as_bytes(), &cut, &message, budget, depth);
                    // The answer to the minimised question is an answer
                    // like any other: kept, as Unbound keeps it.
                    resolver.keep(&read_answer(&message, ask.as_bytes(), ask_type), ask_type);
                    shown = one_label_more(&mut minimised, shown, total);
                }
                // NXDOMAIN may be a server that gets empty non-terminals
                // wrong, an alias leads elsewhere, and an answer to another
                // question says nothing: the full name settles them all
                // (RFC 9156 section 2.3).
                Verdict::NxDomain | Verdict::Alias | Verdict::Unrelated if !full => {
                    self.fall_back(budget, depth, &verdict.to_string(), name);
                    shown = total;
                }
                _ => {
                    if total > cut.labels + 1 {
                        self.remember_inside(name.suffix(1), &cut, &message, budget, depth);
                    }
                    // Asked for the cut at `name`, the zone's servers
                    // answered for it: a name inside, the next sibling to
                    // ask is told without a query.
                    if cut_only && matches!(verdict, Verdict::Answer | Verdict::NoData) {
                        self.remember_inside(name.as_bytes(), &cut, &message, budget, depth);
                    }
                    self.adopt_apex(&message, &cut, budget, depth);
                    return Ok(Some(read_answer(&message, name.as_bytes(), qtype)));
                }
            }
        }
    }

    fn fall_back(&self, budget: &Budget, depth: usize, why: &str, name: &NameKey) {
        self.counters.iteration(IterationEvent::MinimiseFallback);
        budget.note(depth, || {
            format!("the minimised query got {why}: asking {name:?} in full (RFC 9156 section 2.3)")
        });
    }

    /// Labels of `name` the first query below `cut` shows: one more than
    /// the deepest name known to be inside the cut's zone.
    fn first_shown(&self, cut: &Delegation, name: &NameKey) -> usize {
        let total = name.label_count();
        if !self.minimise {
            return total;
        }
        for shown in (cut.labels + 1..total).rev() {
            if self
                .delegations
                .is_inside(name.suffix(total - shown), &cut.key)
            {
                return shown + 1;
            }
        }
        (cut.labels + 1).min(total)
    }

    /// Keeps the delegation a referral to `child` describes: the NS set,
    /// and the addresses given for names inside the zone `cut` (the
    /// parent's bailiwick, so sibling glue counts).
    fn follow_referral(
        &self,
        message: &Message,
        cut: &Delegation,
        child: Name,
        budget: &Budget,
        depth: usize,
    ) -> Arc<Delegation> {
        let (servers, ttl) = judge::referral_servers(message, &child);
        let servers = self.name_servers(servers);
        let sibling_glue: Vec<String> = servers
            .iter()
            .filter(|s| !s.addrs.is_empty() && !child.zone_of(&s.name))
            .map(|s| s.name.to_string())
            .collect();
        let kept = self.delegations.insert(Delegation::new(
            child,
            servers,
            Some(delegation_ttl(ttl)),
            NsSource::Parent,
        ));
        budget.note(depth, || {
            let mut line = format!(
                "kept {} ({}{}): {}",
                kept.zone,
                kept.source.label(),
                kept.remaining()
                    .map_or(String::new(), |s| format!(", for {s} s")),
                kept.describe_servers()
            );
            if !sibling_glue.is_empty() {
                line.push_str(&format!(
                    "; glue from {}'s bailiwick for {} (sibling glue)",
                    cut.zone,
                    sibling_glue.join(", ")
                ));
            }
            line
        });
        kept
    }

    /// Remembers that `name` is inside the zone of `cut`, for as long as
    /// the response that showed it may be kept.
    fn remember_inside(
        &self,
        name: &[u8],
        cut: &Delegation,
        message: &Message,
        budget: &Budget,
        depth: usize,
    ) {
        if self.delegations.is_inside(name, &cut.key) {
            return;
        }
        // A server may serve a zone below the cut as well, and answer
        // from it: then the name is inside that zone, not the cut's.
        let other_zone = message.authorities.iter().any(|r| {
            matches!(r.record_type(), RecordType::SOA | RecordType::NS) && r.name != cut.zone
        });
        if other_zone {
            return;
        }
        let ttl = message
            .answers
            .iter()
            .map(|r| r.ttl)
            .chain(message.authorities.iter().filter_map(|r| match &r.data {
                RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
                _ => None,
            }))
            .min()
            .unwrap_or(0);
        self.delegations
            .note_inside(name, cut, Duration::from_secs(ttl.into()));
        budget.note(depth, || {
            format!(
                "{} is inside {}, no cut: questions below it start there",
                crate::wire::name::wire_to_text(name),
                cut.zone
            )
        });
    }

    /// If an authoritative response carries the zone's own NS set, it
    /// replaces the parent's view of the zone (RFC 2181 section 5.4.1).
    fn adopt_apex(&self, message: &Message, cut: &Delegation, budget: &Budget, depth: usize) {
        if cut.source == NsSource::Apex || cut.expires.is_none() {
            return;
        }
        let Some((servers, ttl)) = judge::apex_servers(message, &cut.zone) else {
            return;
        };
        let servers = self.name_servers(servers);
        let adopted = self
            .delegations
            .adopt_apex(cut, servers, Duration::from_secs(ttl.into()));
        self.counters.iteration(IterationEvent::ApexNs);
        budget.note(depth, || {
            format!(
                "kept {} ({}, for {} s): {}",
                adopted.zone,
                adopted.source.label(),
                adopted.remaining().unwrap_or(0),
                adopted.describe_servers()
            )
        });
    }

    fn name_servers(&self, list: Vec<(Name, Vec<IpAddr>)>) -> Vec<NameServer> {
        list.into_iter()
            .map(|(name, addrs)| NameServer {
                key: NameKey::from_name(&name).as_bytes().into(),
                addrs: addrs
                    .into_iter()
                    .filter(|a| self.ipv6 || a.is_ipv4())
                    .collect(),
                name,
            })
            .collect()
    }

    /// Asks the servers of `cut` until one gives a usable response, and
    /// returns it scrubbed to the cut's bailiwick, with its verdict. Name
    /// servers without a known address are looked up (sub-queries) only
    /// when every known address has been tried. A `minimised` query stops
    /// at the first failure, for the full name to be asked instead.
    #[allow(clippy::too_many_arguments)]
    async fn ask_cut(
        &self,
        resolver: &Resolver,
        cut: &Delegation,
        ask: &NameKey,
        qtype: u16,
        minimised: bool,
        deadline: Instant,
        budget: &mut Budget,
        path: &mut Vec<Box<[u8]>>,
    ) -> Result<(Message, Verdict), Unanswered> {
        let depth = path.len().saturating_sub(1);
        let mut tried: Vec<SocketAddr> = Vec::new();
        let mut looked_up: Vec<usize> = Vec::new();
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(IterateError::Deadline.into());
            }
            let (candidates, owners) = self.addresses(resolver, cut);
            let Some(pick) = self.infra.pick(&candidates, &tried, &cut.key) else {
                // Every known address is tried: find another server's.
                let unknown = cut
                    .servers
                    .iter()
                    .enumerate()
                    .find(|(i, s)| !looked_up.contains(i) && !self.has_address(resolver, s));
                let Some((index, server)) = unknown else {
                    budget.note(depth, || {
                        format!("no server of {} is left to ask", cut.zone)
                    });
                    return Err(IterateError::NoServers(cut.zone.clone()).into());
                };
                budget.ns_lookups = budget
                    .ns_lookups
                    .checked_sub(1)
                    .ok_or(IterateError::Limit("name server lookup"))?;
                looked_up.push(index);
                budget.note(depth, || {
                    format!(
                        "no address to ask for {}: looking up {}",
                        cut.zone, server.name
                    )
                });
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
            let question = Question {
                name: ask.as_bytes(),
                qtype,
            };
            let started = std::time::Instant::now();
            // What the server is, or is not, is learned by whoever asked
            // it; a resolution that joined another's exchange just reads.
            let (result, led) = match self.shared.arrive(pick.addr, ask.as_bytes(), qtype) {
                Turn::Join(joined) => (Ended::outcome(joined.wait(attempt_deadline).await), false),
                turn => {
                    let _fetch = match self.fetches.start(&cut.key, pick.addr) {
                        Ok(fetch) => fetch,
                        Err(refusal) => {
                            // A leader dropped unfinished hands its joiners
                            // a failure.
                            drop(turn);
                            self.counters.iteration(IterationEvent::FetchLimited);
                            let what = match refusal {
                                Refusal::Zone => cut.zone.to_string(),
                                Refusal::Server => pick.addr.to_string(),
                            };
                            budget.note(depth, || {
                                format!("not asked: too many queries outstanding to {what}")
                            });
                            return Err(IterateError::FetchLimit(what).into());
                        }
                    };
                    let result = exchange(
                        pick.addr,
                        None,
                        question,
                        &self.exchange,
                        false,
                        attempt_deadline,
                        &self.infra,
                        &self.counters,
                    )
                    .await;
                    if let Turn::Lead(lead) = turn {
                        lead.finish(|| Arc::new(Ended::of(&result)));
                    }
                    (result, true)
                }
            };
            let took = started.elapsed();
            let asked = || {
                let server = candidates
                    .iter()
                    .position(|a| *a == pick.addr)
                    .and_then(|i| cut.servers.get(owners[i]))
                    .map_or(String::new(), |s| format!(" ({})", s.name));
                format!(
                    "{}{server} asked {ask:?} {}{}",
                    pick.addr,
                    RecordType::from(qtype),
                    if led {
                        ""
                    } else {
                        " (joined another resolution's query)"
                    }
                )
            };
            let failure = match result {
                Ok(mut message) => {
                    let dropped = judge::scrub(&mut message, &cut.zone);
                    self.counters.bailiwick_dropped(dropped);
                    let verdict = judge::judge(&message, cut.labels, ask, qtype);
                    budget.note(depth, || {
                        let mut line = format!(
                            "{}: {verdict} in {:.1} ms",
                            asked(),
                            took.as_secs_f64() * 1e3
                        );
                        if dropped > 0 {
                            line.push_str(&format!(
                                "; {dropped} records outside {} dropped",
                                cut.zone
                            ));
                        }
                        line
                    });
                    match verdict {
                        Verdict::Lame(why) => {
                            if led {
                                self.infra.success(pick.addr, took);
                            }
                            if minimised {
                                return Err(Unanswered::Probe(format!("a lame answer ({why})")));
                            }
                            self.counters.iteration(IterationEvent::Lame);
                            self.infra.lame(pick.addr, &cut.key);
                            continue;
                        }
                        Verdict::Failed(why) => {
                            if minimised {
                                if led {
                                    self.infra.success(pick.addr, took);
                                }
                                return Err(Unanswered::Probe(why.into()));
                            }
                            self.counters.upstream(UpstreamEvent::Failed);
                            why.to_string()
                        }
                        verdict => {
                            if led {
                                self.infra.success(pick.addr, took);
                            }
                            return Ok((message, verdict));
                        }
                    }
                }
                Err(ExchangeError::Timeout) => {
                    if led {
                        self.counters.upstream(UpstreamEvent::Timeout);
                    }
                    budget.note(depth, || {
                        format!(
                            "{}: no answer within {} ms",
                            asked(),
                            pick.timeout.as_millis()
                        )
                    });
                    "a timeout".to_string()
                }
                Err(ExchangeError::Network(e)) => {
                    if led {
                        self.counters.upstream(UpstreamEvent::Failed);
                    }
                    budget.note(depth, || format!("{}: unreachable ({e})", asked()));
                    format!("no answer ({e})")
                }
            };
            if led {
                self.infra.failure(pick.addr);
            }
            if minimised {
                return Err(Unanswered::Probe(failure));
            }
        }
    }

    /// Every address known for the servers of `cut` (glue, then what the
    /// cache holds for their names), and for each the index of its server.
    fn addresses(&self, resolver: &Resolver, cut: &Delegation) -> (Vec<SocketAddr>, Vec<usize>) {
        let mut addrs = Vec::new();
        let mut owners = Vec::new();
        for (index, server) in cut.servers.iter().enumerate() {
            let mut add = |ip: IpAddr| {
                let addr = SocketAddr::new(ip, self.port);
                if (self.ipv6 || ip.is_ipv4()) && !addrs.contains(&addr) {
                    addrs.push(addr);
                    owners.push(index);
                }
            };
            // Glue is enough to reach a server; only a server without
            // it is looked for in the cache and among other zones' cuts.
            if server.addrs.iter().any(|a| self.ipv6 || a.is_ipv4()) {
                server.addrs.iter().for_each(|&ip| add(ip));
                continue;
            }
            for &t in address_types(self.ipv6) {
                resolver.cached_addresses(&server.key, t, &mut add);
            }
            self.delegations
                .server_addresses(&server.key)
                .into_iter()
                .for_each(&mut add);
        }
        (addrs, owners)
    }

    fn has_address(&self, resolver: &Resolver, server: &NameServer) -> bool {
        let usable = |a: &IpAddr| self.ipv6 || a.is_ipv4();
        server.addrs.iter().any(usable)
            || address_types(self.ipv6).iter().any(|&t| {
                let mut any = false;
                resolver.cached_addresses(&server.key, t, &mut |_| any = true);
                any
            })
            || self
                .delegations
                .server_addresses(&server.key)
                .iter()
                .any(usable)
    }
}

fn delegation_ttl(ttl: u32) -> Duration {
    Duration::from_secs(ttl.into()).clamp(MIN_DELEGATION_TTL, MAX_DELEGATION_TTL)
}

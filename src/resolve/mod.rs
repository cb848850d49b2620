//! Resolving names outside local zones: one resolution per question however
//! many clients ask it at once, its records stored in the cache, and the
//! answer handed to every client waiting on it.
//!
//! Answers come from upstream resolvers (forward mode) or from the
//! authoritative servers themselves, iterating from the root (recursive
//! mode). Either way a response is read the same way (`read_answer`: the
//! answer chain and nothing else), CNAMEs that leave a response's zone are
//! chased from the top, and all the work for one client question shares one
//! `Budget`.

mod client_cookies;
mod delegation;
mod dot;
mod exchange;
mod fetch_limit;
mod forward;
mod infra;
mod iterate;
pub(crate) mod judge;
mod rendezvous;
pub(crate) mod response;
mod shared;
mod trace;
mod validate;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::Message;
use tokio::time::{Instant, timeout_at};
use tracing::{info, warn};

use crate::cache::{
    Cache, CacheEntry, Chain, EntryKind, MAX_PIECES, NegativeAnswer, NsecRanges, Origin, Provenance,
};
use crate::counters::{Counters, IterationEvent, SiblingEvent};
use crate::dnssec::Security;
use crate::siblings::Siblings;
use crate::wire::name::wire_to_text;
use crate::wire::{NameKey, rcode};

pub use delegation::{Delegation, NameServer, built_in_hints, read_hints};
pub use dot::DotUpstreams;
pub(crate) use exchange::connected_socket;
pub use exchange::{Exchange, Question};
pub use fetch_limit::FetchCaps;
pub use forward::{ForwardError, Forwarder};
pub use infra::{Infra, ServerHealth};
pub use iterate::{
    Budget, IterateError, MAX_NS_LOOKUPS, MAX_QUERIES, MAX_REFERRALS, Recursor, RecursorSettings,
};
use rendezvous::{Rendezvous, Turn};
pub use response::{End, Reading, read_answer};
pub use trace::Trace;
pub use validate::Validator;

/// The result of resolving one question.
#[derive(Debug)]
pub enum Outcome {
    /// The answer, as cache entries (some may have TTL 0 and not be in the
    /// cache itself).
    Answered(Chain),
    /// No usable answer in time, or a work limit was reached.
    Failed(ResolutionFailure),
}

/// Why a resolution failed, for the Extended DNS Error (RFC 8914) the
/// client gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResolutionFailure {
    /// No server gave a usable answer in time (EDE 22, No Reachable
    /// Authority).
    #[default]
    Unreachable,
    /// Every server asked failed at the network level: port unreachable,
    /// connection refused, a TLS handshake or certificate that failed
    /// (EDE 23, Network Error).
    Network,
    /// Not asked: too many resolutions under way, or queries outstanding
    /// to the zone or server (the fetch limits).
    Busy,
    /// The question needed more work than one resolution may do:
    /// queries, referrals, a CNAME chain.
    WorkLimit,
}

/// The servers a resolver asks, as `Resolver::servers` reports them.
pub enum Servers {
    Upstreams(Vec<ServerHealth>),
    Authorities {
        known: u64,
        held_down: u64,
        /// Queries sent and not yet answered.
        outstanding: u32,
    },
}

/// Where answers come from.
pub enum Mode {
    Forward(Forwarder),
    Recursive(Recursor),
}

/// A boxed future, for the resolver's own recursion (a name server's
/// address needs a resolution of its own).
type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub struct Resolver {
    cache: Arc<Cache>,
    mode: Mode,
    /// Resolutions under way, by question key (and whether they ask a
    /// sibling).
    flights: Rendezvous<Box<[u8]>, Outcome>,
    timeout: Duration,
    counters: Arc<Counters>,
    /// The cluster to ask before resolving, if any.
    siblings: Option<Arc<Siblings>>,
    /// Set when answers are validated (DNSSEC).
    validator: Option<Validator>,
    /// The NSEC ranges validation proved, answered from (RFC 8198).
    nsec_ranges: Option<NsecRanges>,
}

/// What the resolver needs to know besides its mode.
pub struct ResolverSettings {
    /// Time allowed for one resolution.
    pub timeout: Duration,
    /// Resolutions under way at once.
    pub max_flights: usize,
}

impl Resolver {
    pub fn new(
        settings: ResolverSettings,
        mode: Mode,
        cache: Arc<Cache>,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            cache,
            mode,
            flights: Rendezvous::new(settings.max_flights, || {
                Outcome::Failed(ResolutionFailure::Unreachable)
            }),
            timeout: settings.timeout,
            counters,
            siblings: None,
            validator: None,
            nsec_ranges: None,
        }
    }

    /// Validates answers with `validator`; with `aggressive_nsec`,
    /// answers names the NSEC ranges it proved cover without asking
    /// (RFC 8198).
    pub fn with_validator(mut self, validator: Validator, aggressive_nsec: bool) -> Self {
        self.validator = Some(validator);
        self.nsec_ranges = aggressive_nsec.then(NsecRanges::default);
        self
    }

    /// Whether answers are validated: then data not validated is not
    /// served from the cache to a client without being asked again.
    pub fn validates(&self) -> bool {
        self.validator.is_some()
    }

    /// Forgets what validation learned of zones' keys, and the NSEC
    /// ranges it proved.
    pub fn forget_keys(&self) {
        if let Some(validator) = &self.validator {
            validator.forget();
        }
        if let Some(ranges) = &self.nsec_ranges {
            ranges.clear();
        }
    }

    /// What the resolver knows of the servers it asks: each upstream
    /// (forward mode), or how many authoritative servers it knows and
    /// how many are held down (recursive mode).
    pub fn servers(&self) -> Servers {
        match &self.mode {
            Mode::Forward(forwarder) => Servers::Upstreams(forwarder.health()),
            Mode::Recursive(recursor) => {
                let (known, held_down) = recursor.census();
                Servers::Authorities {
                    known,
                    held_down,
                    outstanding: recursor.outstanding(),
                }
            }
        }
    }

    /// Forgets the zone cuts learned at or below `suffix` (recursive
    /// mode), so the next question there starts higher up.
    pub fn forget_delegations_below(&self, suffix: &[u8]) -> usize {
        match &self.mode {
            Mode::Recursive(recursor) => recursor.forget_below(suffix),
            Mode::Forward(_) => 0,
        }
    }

    /// Asks the question's owner in `siblings` before resolving.
    pub fn with_siblings(mut self, siblings: Arc<Siblings>) -> Self {
        self.siblings = Some(siblings);
        self
    }

    /// A forwarding resolver for `upstreams`; those among `tls` are
    /// reached over TLS.
    pub fn forwarding(
        settings: ResolverSettings,
        upstreams: &[SocketAddr],
        tls: Option<DotUpstreams>,
        exchange: Exchange,
        cache: Arc<Cache>,
        counters: Arc<Counters>,
    ) -> Self {
        let forwarder = Forwarder::new(
            upstreams,
            tls,
            Arc::new(Infra::new()),
            exchange,
            counters.clone(),
        );
        Self::new(settings, Mode::Forward(forwarder), cache, counters)
    }

    /// Learns the root servers, in recursive mode, and learns them again
    /// before what was learned expires (RFC 8109 section 3): a failure is
    /// retried with a growing pause, while the hints serve meanwhile.
    /// Runs until the server stops.
    pub async fn prime(self: Arc<Self>) {
        let Mode::Recursive(recursor) = &self.mode else {
            return;
        };
        let mut pause = Duration::from_secs(1);
        loop {
            match recursor.prime(&self, Instant::now() + self.timeout).await {
                Ok(kept_for) => {
                    info!(?kept_for, "root servers primed");
                    pause = Duration::from_secs(1);
                    // Again at nine tenths of the NS set's life.
                    tokio::time::sleep((kept_for * 9 / 10).max(Duration::from_secs(60))).await;
                    continue;
                }
                Err(e) => warn!(
                    "priming the root servers failed ({e}); using the hints, retrying in {pause:?}"
                ),
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(300));
        }
    }

    /// Resolves (`name`, `qtype`), joining a resolution of the same
    /// question if one is under way. Waits at most the resolver timeout.
    pub async fn resolve(self: &Arc<Self>, name: &[u8], qtype: u16) -> Arc<Outcome> {
        let owner = self.owner_of(name, qtype);
        self.resolve_via(name, qtype, owner).await
    }

    /// Resolves a question a sibling asked: never by asking another
    /// sibling (hop limit 1), so members that disagree on membership
    /// cannot send a question round in circles.
    pub async fn resolve_for_sibling(self: &Arc<Self>, name: &[u8], qtype: u16) -> Arc<Outcome> {
        self.resolve_via(name, qtype, None).await
    }

    /// The zone cut at or above `zone` a sibling asks of us, the member
    /// that owns it: from our delegations, learned from the authorities
    /// first if need be (never by asking another sibling: hop limit).
    /// Members asking for the same cut at once share one descent. None
    /// in forwarding mode, or if no server could be reached.
    pub async fn cut_for_sibling(self: &Arc<Self>, zone: &[u8]) -> Option<Arc<Delegation>> {
        let Mode::Recursive(recursor) = &self.mode else {
            return None;
        };
        let key = NameKey::from_wire(zone)?;
        let deadline = Instant::now() + self.timeout;
        match self
            .flights
            .arrive(cut_flight_key(zone, CutFlight::ForSibling))
        {
            Turn::Full => None,
            Turn::Lead(lead) => {
                let mut budget = Budget {
                    cuts_from_siblings: false,
                    ..Budget::default()
                };
                let cut = recursor.cut_for(self, &key, deadline, &mut budget).await;
                lead.finish(|| Arc::new(Outcome::Failed(budget.failure)));
                cut.ok()
            }
            Turn::Join(joined) => {
                joined.wait(deadline).await;
                Some(recursor.closest_cut(&key))
            }
        }
    }

    /// The sibling that owns a question, unless it is ours.
    fn owner_of(&self, name: &[u8], qtype: u16) -> Option<std::net::SocketAddr> {
        self.siblings.as_ref()?.owner_of(name, qtype)
    }

    async fn resolve_via(
        self: &Arc<Self>,
        name: &[u8],
        qtype: u16,
        owner: Option<std::net::SocketAddr>,
    ) -> Arc<Outcome> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let joined = match self.flights.arrive(flight_key(name, qtype, owner)) {
                Turn::Full => {
                    self.counters.resolution_refused();
                    return Arc::new(Outcome::Failed(ResolutionFailure::Busy));
                }
                // Resolved by this caller, in its own task: no task of its
                // own, no hand-over. Its deadline is the flight's, which
                // every wait inside keeps.
                Turn::Lead(lead) => {
                    // A flight that ended between this client's cache
                    // lookup and now left its answer in the cache.
                    let cached = NameKey::from_wire(name)
                        .and_then(|key| self.cache.peek(&key, qtype, self.cache.now_ms()))
                        .filter(|chain| !self.validates() || chain.validated());
                    let outcome = match cached {
                        Some(chain) => Arc::new(Outcome::Answered(chain)),
                        None => Arc::new(self.lead(name, qtype, owner).await),
                    };
                    // The cache holds the records before the flight ends,
                    // so a question asked from then on finds them there.
                    lead.finish(|| outcome.clone());
                    return outcome;
                }
                Turn::Join(joined) => joined,
            };
            self.counters.coalesced();
            let outcome = joined
                .wait(deadline)
                .await
                .unwrap_or_else(|| Arc::new(Outcome::Failed(ResolutionFailure::Unreachable)));
            // A flight joined late can fail at its own deadline, well before
            // ours: then this client deserves an attempt of its own.
            if !matches!(*outcome, Outcome::Failed(_)) || Instant::now() >= deadline {
                return outcome;
            }
        }
    }

    /// One resolution of a flight, within the resolver's timeout.
    async fn lead(&self, name: &[u8], qtype: u16, owner: Option<SocketAddr>) -> Outcome {
        let deadline = Instant::now() + self.timeout;
        // Not for a prefetch: what we hold is about as old as what the
        // previous owner would give.
        let held = || {
            NameKey::from_wire(name)
                .and_then(|key| self.cache.peek(&key, qtype, self.cache.now_ms()))
                .is_some()
        };
        let previous_owner = match (owner, &self.siblings) {
            (None, Some(siblings)) if !held() => siblings.previous_owner(name, qtype),
            _ => None,
        };
        let mut budget = Budget {
            sibling: owner,
            previous_owner,
            ..Budget::default()
        };
        self.fetch(name, qtype, deadline, &mut budget, &mut Vec::new())
            .await
    }

    /// Resolves (`name`, `qtype`) afresh, without the cache's answer to
    /// that question and without joining a resolution under way, and
    /// returns the outcome with every step taken (`hearsay ctl trace`).
    pub async fn trace(self: &Arc<Self>, name: &[u8], qtype: u16) -> (Arc<Outcome>, Vec<String>) {
        let trace = Arc::new(Trace::default());
        let mut budget = Budget {
            trace: Some(trace.clone()),
            ..Budget::default()
        };
        let deadline = Instant::now() + self.timeout;
        let outcome = self
            .fetch(name, qtype, deadline, &mut budget, &mut Vec::new())
            .await;
        (Arc::new(outcome), trace.lines())
    }

    /// Starts resolving (`name`, `qtype`) in the background unless that is
    /// already under way: a prefetch.
    pub fn refresh(self: &Arc<Self>, name: &[u8], qtype: u16) {
        self.counters.prefetch();
        self.in_background(name, qtype, self.owner_of(name, qtype));
    }

    /// A prefetch for a sibling's question: resolved here.
    pub fn refresh_here(self: &Arc<Self>, name: &[u8], qtype: u16) {
        self.counters.prefetch();
        self.in_background(name, qtype, None);
    }

    fn in_background(self: &Arc<Self>, name: &[u8], qtype: u16, owner: Option<SocketAddr>) {
        let this = self.clone();
        let name: Box<[u8]> = name.into();
        tokio::spawn(async move {
            if let Turn::Lead(lead) = this.flights.arrive(flight_key(&name, qtype, owner)) {
                let outcome = Arc::new(this.lead(&name, qtype, owner).await);
                lead.finish(|| outcome);
            }
        });
    }

    /// Resolves a question: asks, stores what comes back, and follows
    /// CNAMEs a response leaves dangling (to another zone, or not given).
    /// `path` holds the questions this one is a sub-query of, to stop
    /// cycles.
    fn fetch<'a>(
        &'a self,
        name: &'a [u8],
        qtype: u16,
        deadline: Instant,
        budget: &'a mut Budget,
        path: &'a mut Vec<Box<[u8]>>,
    ) -> Boxed<'a, Outcome> {
        Box::pin(async move {
            path.push(question_key(name, qtype));
            let outcome = self.follow_chain(name, qtype, deadline, budget, path).await;
            path.pop();
            if matches!(outcome, Outcome::Failed(_)) {
                self.counters.resolution_failed();
            }
            outcome
        })
    }

    async fn follow_chain(
        &self,
        name: &[u8],
        qtype: u16,
        deadline: Instant,
        budget: &mut Budget,
        path: &mut Vec<Box<[u8]>>,
    ) -> Outcome {
        let depth = path.len().saturating_sub(1);
        let mut chain = Chain::new();
        let mut target: Box<[u8]> = name.into();
        while chain.len() < MAX_PIECES {
            let key = NameKey::from_wire(&target);
            // A CNAME target resolved before needs no asking. The question
            // itself is asked even if cached: it missed, or it is a
            // refresh (prefetch) of a record still fresh.
            if !chain.is_empty()
                && let Some(key) = &key
                && let Some(cached) = self.cache.peek(key, qtype, self.cache.now_ms())
                && !(self.validates() && cached.security() == Security::Indeterminate)
            {
                for entry in cached.entries() {
                    if !chain.push(entry.clone()) {
                        return Outcome::Failed(budget.failure);
                    }
                }
                chain.set_rcode(cached.rcode());
                return Outcome::Answered(chain);
            }
            // Nothing exists below a name that does not exist (RFC 8020).
            if let Some(key) = &key
                && let Some(nxdomain) = self.cache.nxdomain_above(key, self.cache.now_ms())
                && !(self.validates() && nxdomain.security() == Security::Indeterminate)
            {
                self.counters.iteration(IterationEvent::BelowNxdomain);
                budget.note(depth, || {
                    format!(
                        "{key:?} is below a cached NXDOMAIN: NXDOMAIN without asking (RFC 8020)"
                    )
                });
                if !chain.push(nxdomain) {
                    return Outcome::Failed(budget.failure);
                }
                chain.set_rcode(rcode::NXDOMAIN);
                return Outcome::Answered(chain);
            }
            // Below a cached wildcard, inside a range a zone's NSEC chain
            // proved empty (RFC 8198 section 5.3).
            if let Some(entry) = self.expand_from_ranges(&target, qtype, depth, budget) {
                if !chain.push(entry) {
                    return Outcome::Failed(budget.failure);
                }
                return Outcome::Answered(chain);
            }
            // Inside a range a zone's NSEC chain proved empty (RFC 8198).
            if let Some(entry) = self.deny_from_ranges(&target, qtype, depth, budget) {
                if entry.kind() == EntryKind::NxDomain {
                    chain.set_rcode(rcode::NXDOMAIN);
                }
                if !chain.push(entry) {
                    return Outcome::Failed(budget.failure);
                }
                return Outcome::Answered(chain);
            }
            let peeked = match budget.previous_owner.take() {
                Some(previous) => self.peek(previous, &target, qtype, deadline).await,
                None => None,
            };
            let reading = match (peeked, budget.sibling.take()) {
                (Some(peeked), _) => Some(peeked),
                (None, Some(owner)) => {
                    self.read_hedged(owner, &target, qtype, deadline, budget, path)
                        .await
                }
                (None, None) => self
                    .read(&target, qtype, deadline, budget, path)
                    .await
                    .map(|reading| (reading, self.origin())),
            };
            let Some((reading, origin)) = reading else {
                return Outcome::Failed(budget.failure);
            };
            let Some(judged) = self
                .judge(&reading, qtype, origin, deadline, budget, path)
                .await
            else {
                return Outcome::Failed(budget.failure);
            };
            let now = self.cache.now_ms();
            let mut dname: Option<Arc<CacheEntry>> = None;
            for (i, rrset) in reading.rrsets.iter().enumerate() {
                let via = match rrset.rtype {
                    hickory_proto::rr::RecordType::CNAME => dname.take(),
                    _ => None,
                };
                let security = judged.rrsets.get(i).copied().unwrap_or(judged.denial);
                let provenance = reading.provenance(Some(i), origin, security);
                let Ok(entry) = self.cache.store_rrset_via(rrset, now, via, provenance) else {
                    return Outcome::Failed(budget.failure);
                };
                if security == Security::Secure {
                    self.keep_wildcard(rrset, provenance.rrsigs, &judged, entry.expires_ms());
                }
                budget.note(depth, || {
                    format!(
                        "cached {} {} ({} records, TTL {})",
                        rrset.name,
                        rrset.rtype,
                        rrset.rdatas.len(),
                        entry.ttl()
                    )
                });
                if rrset.rtype == hickory_proto::rr::RecordType::DNAME {
                    dname = Some(entry.clone());
                }
                if !chain.push(entry) {
                    return Outcome::Failed(budget.failure);
                }
            }
            let kind = match reading.end {
                End::Data => return Outcome::Answered(chain),
                End::Dangling => {
                    target = reading.last;
                    continue;
                }
                End::NxDomain => {
                    chain.set_rcode(rcode::NXDOMAIN);
                    EntryKind::NxDomain
                }
                End::NoData => EntryKind::NoData,
            };
            // Without an SOA a negative answer is passed on but not cached
            // (RFC 2308 section 5); its validation goes with it.
            if reading.soa.is_none() {
                chain.set_uncached_security(judged.denial);
            }
            if let Some((soa, minimum)) = &reading.soa {
                let answer = NegativeAnswer {
                    kind,
                    name: &reading.last,
                    qtype,
                    soa,
                    minimum: *minimum,
                };
                let provenance = reading.provenance(None, origin, judged.denial);
                let Ok(entry) = self.cache.store_negative(answer, now, provenance) else {
                    return Outcome::Failed(budget.failure);
                };
                if let (Some(ranges), Some(nsecs)) = (&self.nsec_ranges, &judged.nsecs) {
                    let soa = Some((soa, *minimum, &reading.proof[..]));
                    ranges.insert(&nsecs.zone, soa, &nsecs.records, entry.expires_ms());
                }
                budget.note(depth, || {
                    format!(
                        "cached {} for {} (SOA of {}, TTL {})",
                        if kind == EntryKind::NxDomain {
                            "NXDOMAIN"
                        } else {
                            "NODATA"
                        },
                        wire_to_text(&reading.last),
                        soa.name,
                        entry.ttl()
                    )
                });
                if !chain.push(entry) {
                    return Outcome::Failed(budget.failure);
                }
            }
            return Outcome::Answered(chain);
        }
        Outcome::Failed(ResolutionFailure::WorkLimit)
    }

    /// Keeps a secure RRset synthesised from a wildcard, and the NSEC
    /// records that proved it, for answers made from it (RFC 8198 5.3).
    fn keep_wildcard(
        &self,
        rrset: &crate::cache::Rrset,
        rrsigs: &[Box<[u8]>],
        judged: &validate::Judged,
        expires_ms: u64,
    ) {
        let (Some(ranges), Some(nsecs)) = (&self.nsec_ranges, &judged.nsecs) else {
            return;
        };
        let owner = NameKey::from_name(&rrset.name);
        let Some(wildcard) = crate::dnssec::records::expanded_from(owner.as_bytes(), rrsigs) else {
            return;
        };
        ranges.insert(&nsecs.zone, None, &nsecs.records, expires_ms);
        ranges.insert_wildcard(&nsecs.zone, &wildcard, rrset, rrsigs, expires_ms);
    }

    /// An answer synthesised from a cached wildcard, stored in the cache
    /// like one a server gave (RFC 8198 section 5.3).
    fn expand_from_ranges(
        &self,
        name: &[u8],
        qtype: u16,
        depth: usize,
        budget: &Budget,
    ) -> Option<Arc<CacheEntry>> {
        let now = self.cache.now_ms();
        let expanded = self.nsec_ranges.as_ref()?.expand(name, qtype, now)?;
        let provenance = Provenance::secure(self.origin(), &expanded.rrsigs, &expanded.proof);
        let entry = self
            .cache
            .store_rrset_via(&expanded.rrset, now, None, provenance)
            .ok()?;
        self.counters.aggressive_wildcard();
        budget.note(depth, || {
            format!(
                "{} {}: synthesised from a cached wildcard and NSEC range (RFC 8198), without asking",
                wire_to_text(name),
                hickory_proto::rr::RecordType::from(qtype),
            )
        });
        Some(entry)
    }

    /// A denial made from the NSEC ranges validation proved, stored in
    /// the cache like one a server gave (RFC 8198).
    fn deny_from_ranges(
        &self,
        name: &[u8],
        qtype: u16,
        depth: usize,
        budget: &Budget,
    ) -> Option<Arc<CacheEntry>> {
        let now = self.cache.now_ms();
        let denial = self.nsec_ranges.as_ref()?.deny(name, qtype, now)?;
        let answer = NegativeAnswer {
            kind: denial.kind,
            name,
            qtype,
            soa: &denial.soa,
            minimum: denial.minimum,
        };
        let provenance = Provenance::secure(self.origin(), &[], &denial.proof);
        let entry = self.cache.store_negative(answer, now, provenance).ok()?;
        self.counters
            .aggressive_nsec(denial.kind == EntryKind::NxDomain);
        budget.note(depth, || {
            format!(
                "{} {}: {} from cached NSEC ranges of {} (RFC 8198), without asking",
                wire_to_text(name),
                hickory_proto::rr::RecordType::from(qtype),
                if denial.kind == EntryKind::NxDomain {
                    "NXDOMAIN"
                } else {
                    "NODATA"
                },
                denial.soa.name
            )
        });
        Some(entry)
    }

    /// What validation makes of a reading, RRset by RRset and its denial;
    /// `None` when it cannot be judged (SERVFAIL). A sibling's answer
    /// says itself whether the owner validated it (AD, over the signed
    /// channel). Names looked up to find servers are not validated, as
    /// Unbound does not validate its target queries; they are kept as
    /// indeterminate, and a client asking them has them resolved again.
    async fn judge(
        &self,
        reading: &Reading,
        qtype: u16,
        origin: Origin,
        deadline: Instant,
        budget: &mut Budget,
        path: &mut Vec<Box<[u8]>>,
    ) -> Option<validate::Judged> {
        let unchecked = |security| validate::Judged {
            rrsets: vec![security; reading.rrsets.len()],
            denial: security,
            nsecs: None,
        };
        let Some(validator) = &self.validator else {
            return Some(unchecked(Security::Indeterminate));
        };
        if origin == Origin::Sibling {
            // The owner validates as this member does, and shares no
            // bogus data: without AD, its answer is insecure.
            return Some(unchecked(match reading.authentic {
                true => Security::Secure,
                false => Security::Insecure,
            }));
        }
        if path.len() > 1 {
            return Some(unchecked(Security::Indeterminate));
        }
        let depth = path.len().saturating_sub(1);
        let left = budget.dnssec.signatures_left();
        let judged = validator
            .judge(self, reading, qtype, deadline, budget, path)
            .await;
        self.counters
            .signatures_checked(left.saturating_sub(budget.dnssec.signatures_left()));
        match judged {
            Ok(judged) => {
                let whole = judged
                    .rrsets
                    .iter()
                    .fold(judged.denial, |all, s| all.and(*s));
                self.counters.validation(whole);
                budget.note(depth, || {
                    format!("validated {}: {whole:?}", wire_to_text(&reading.last))
                });
                Some(judged)
            }
            Err(why) => {
                self.counters.validation_failed();
                budget.note(depth, || {
                    format!(
                        "could not validate {}: {why:?}",
                        wire_to_text(&reading.last)
                    )
                });
                None
            }
        }
    }

    /// Asks the question's owner among the siblings, hedged: if it fails
    /// or is slower than the hedge delay, the next member in rendezvous
    /// order is asked the same way (and the one after it, if that fails
    /// too), and only then is the question resolved here. Every member that notices the same failed
    /// owner turns to the same successor, so their misses still meet in
    /// one flight instead of each reaching the authorities.
    async fn read_hedged(
        &self,
        owner: std::net::SocketAddr,
        name: &[u8],
        qtype: u16,
        deadline: Instant,
        budget: &mut Budget,
        path: &mut Vec<Box<[u8]>>,
    ) -> Option<(Reading, Origin)> {
        let Some(siblings) = &self.siblings else {
            return self
                .read(name, qtype, deadline, budget, path)
                .await
                .map(|reading| (reading, self.origin()));
        };
        let successors = siblings.successors_of(name, qtype, owner);
        self.read_from_member(
            siblings,
            owner,
            &successors,
            name,
            qtype,
            deadline,
            budget,
            path,
        )
        .await
    }

    /// One stage of `read_hedged`: asks `member`, and on its failure, or
    /// once the hedge delay passes, turns to the first of `next` (a stage
    /// of its own, with the rest after it) or, when none is left, to
    /// resolving here.
    #[allow(clippy::too_many_arguments)]
    fn read_from_member<'a>(
        &'a self,
        siblings: &'a Arc<Siblings>,
        member: std::net::SocketAddr,
        next: &'a [std::net::SocketAddr],
        name: &'a [u8],
        qtype: u16,
        deadline: Instant,
        budget: &'a mut Budget,
        path: &'a mut Vec<Box<[u8]>>,
    ) -> Boxed<'a, Option<(Reading, Origin)>> {
        Box::pin(async move {
            // The question to the member runs as its own task: if another
            // stage wins, the member's answer (or silence) still reaches
            // its health record, so a silent member is soon passed over.
            let mut asked = {
                let (siblings, name) = (siblings.clone(), name.to_vec());
                tokio::spawn(async move { siblings.ask(member, &name, qtype, deadline).await.ok() })
            };
            let hedge_at = deadline.min(Instant::now() + siblings.hedge_delay());
            let from_member =
                |message: Message| (read_answer(&message, name, qtype), Origin::Sibling);
            let fallback = async {
                match next.split_first() {
                    Some((first, rest)) => {
                        self.counters.sibling(SiblingEvent::Successor);
                        self.read_from_member(
                            siblings, *first, rest, name, qtype, deadline, budget, path,
                        )
                        .await
                    }
                    None => self
                        .read(name, qtype, deadline, budget, path)
                        .await
                        .map(|reading| (reading, self.origin())),
                }
            };
            match timeout_at(hedge_at, &mut asked).await {
                Ok(Ok(Some(message))) => return Some(from_member(message)),
                // The member failed outright: the next stage, at once.
                Ok(_) => return fallback.await,
                Err(_) => self.counters.sibling(SiblingEvent::Hedged),
            }
            tokio::pin!(fallback);
            tokio::select! {
                answer = &mut asked => match answer {
                    Ok(Some(message)) => Some(from_member(message)),
                    _ => fallback.await,
                },
                reading = &mut fallback => match reading {
                    Some(reading) => Some(reading),
                    None => asked.await.ok().flatten().map(from_member),
                },
            }
        })
    }

    /// What the previous owner of a question we own holds of it in its
    /// cache, waiting no longer than the hedge delay.
    async fn peek(
        &self,
        previous: std::net::SocketAddr,
        name: &[u8],
        qtype: u16,
        deadline: Instant,
    ) -> Option<(Reading, Origin)> {
        let siblings = self.siblings.as_ref()?;
        let until = deadline.min(Instant::now() + siblings.hedge_delay());
        let message = siblings.peek(previous, name, qtype, until).await?;
        Some((read_answer(&message, name, qtype), Origin::Sibling))
    }

    /// Where this resolver's own answers come from.
    fn origin(&self) -> Origin {
        match self.mode {
            Mode::Forward(_) => Origin::Upstream,
            Mode::Recursive(_) => Origin::Authority,
        }
    }

    /// One answer for (`name`, `qtype`) from the mode's source.
    async fn read(
        &self,
        name: &[u8],
        qtype: u16,
        deadline: Instant,
        budget: &mut Budget,
        path: &mut Vec<Box<[u8]>>,
    ) -> Option<Reading> {
        match &self.mode {
            Mode::Forward(forwarder) => {
                let asked = forwarder.ask(Question { name, qtype }, deadline).await;
                budget.note(path.len().saturating_sub(1), || match &asked {
                    Ok(message) => format!(
                        "{} {}: forwarded, {} with {} answer records",
                        wire_to_text(name),
                        hickory_proto::rr::RecordType::from(qtype),
                        message.metadata.response_code,
                        message.answers.len()
                    ),
                    Err(e) => format!("{}: no upstream answered ({e})", wire_to_text(name)),
                });
                if let Err(e) = &asked {
                    budget.failure = match e {
                        ForwardError::Deadline => ResolutionFailure::Unreachable,
                        ForwardError::Network => ResolutionFailure::Network,
                    };
                }
                Some(read_answer(&asked.ok()?, name, qtype))
            }
            Mode::Recursive(recursor) => {
                let key = NameKey::from_wire(name)?;
                match recursor
                    .answer(self, &key, qtype, deadline, budget, path)
                    .await
                {
                    Ok(reading) => Some(reading),
                    Err(e) => {
                        if let IterateError::Limit(_) = e {
                            self.counters.iteration(IterationEvent::LimitReached);
                        }
                        budget.failure = match e {
                            IterateError::Limit(_) => ResolutionFailure::WorkLimit,
                            IterateError::FetchLimit(_) => ResolutionFailure::Busy,
                            IterateError::NoServers(_) | IterateError::Deadline => {
                                ResolutionFailure::Unreachable
                            }
                        };
                        budget.note(path.len().saturating_sub(1), || {
                            format!("{key:?}: SERVFAIL, {e}")
                        });
                        None
                    }
                }
            }
        }
    }

    /// Resolves a name server's addresses into the cache, for the
    /// recursor: A first, and AAAA (where IPv6 is used) only if that gave
    /// none, since one address is enough to ask. Skips a lookup this
    /// resolution is already inside of.
    pub(crate) fn look_up_addresses<'a>(
        &'a self,
        server: &'a NameServer,
        deadline: Instant,
        budget: &'a mut Budget,
        path: &'a mut Vec<Box<[u8]>>,
    ) -> Boxed<'a, ()> {
        Box::pin(async move {
            let ipv6 = matches!(&self.mode, Mode::Recursive(r) if r.ipv6());
            for &rtype in delegation::address_types(ipv6) {
                let rtype = u16::from(rtype);
                if path.contains(&question_key(&server.key, rtype)) {
                    self.counters.iteration(IterationEvent::Cycle);
                    budget.note(path.len().saturating_sub(1), || {
                        format!("{} is needed to find itself: skipped", server.name)
                    });
                    continue;
                }
                // Known already, positively or not (an NXDOMAIN for the A
                // lookup answers the AAAA one too).
                let known = NameKey::from_wire(&server.key)
                    .is_some_and(|key| self.cache.peek(&key, rtype, self.cache.now_ms()).is_some());
                if !known {
                    self.fetch(&server.key, rtype, deadline, budget, path).await;
                }
                let mut found = false;
                self.cached_addresses(&server.key, rtype.into(), &mut |_| found = true);
                if found {
                    break;
                }
            }
        })
    }

    /// Stores what a reading holds, outside a resolution of its question:
    /// the recursor's answer to a minimised question.
    pub(crate) fn keep(&self, reading: &Reading, qtype: u16) {
        store_reading(
            &self.cache,
            reading,
            qtype,
            self.origin(),
            Security::Indeterminate,
        );
    }

    /// Calls `found` with each address the cache holds, fresh, for a name.
    pub(crate) fn cached_addresses(
        &self,
        name: &[u8],
        rtype: hickory_proto::rr::RecordType,
        found: &mut impl FnMut(IpAddr),
    ) {
        let Some(key) = NameKey::from_wire(name) else {
            return;
        };
        if let Some(chain) = self.cache.peek(&key, u16::from(rtype), self.cache.now_ms())
            && let Some(last) = chain.entries().last()
        {
            last.addresses(found);
        }
    }
}

/// Stores what a reading holds (its RRsets, or its negative answer with
/// the SOA) outside a resolution, as when a cache file is read. Returns
/// how many entries were stored.
pub fn store_reading(
    cache: &Cache,
    reading: &Reading,
    qtype: u16,
    origin: Origin,
    security: Security,
) -> usize {
    let now = cache.now_ms();
    let mut stored = reading
        .rrsets
        .iter()
        .enumerate()
        .filter(|(i, rrset)| {
            let provenance = reading.provenance(Some(*i), origin, security);
            cache.store_rrset_via(rrset, now, None, provenance).is_ok()
        })
        .count();
    let kind = match reading.end {
        End::NxDomain => EntryKind::NxDomain,
        End::NoData => EntryKind::NoData,
        End::Data | End::Dangling => return stored,
    };
    if let Some((soa, minimum)) = &reading.soa
        && cache
            .store_negative(
                NegativeAnswer {
                    kind,
                    name: &reading.last,
                    qtype,
                    soa,
                    minimum: *minimum,
                },
                now,
                reading.provenance(None, origin, security),
            )
            .is_ok()
    {
        stored += 1;
    }
    stored
}

/// The key of a flight: the question's, then whether it asks a sibling
/// `owner` first. Kept apart, a sibling's question never waits on a
/// flight that asks a sibling in turn; at the owner both are the same
/// flight, which is how the cluster's misses merge.
fn flight_key(name: &[u8], qtype: u16, owner: Option<SocketAddr>) -> Box<[u8]> {
    let mut key = Vec::with_capacity(name.len() + 3);
    key.extend_from_slice(name);
    key.extend_from_slice(&qtype.to_be_bytes());
    key.push(u8::from(owner.is_some()));
    key.into()
}

/// Which side of a zone cut's exchange between siblings a flight is.
#[derive(Clone, Copy)]
enum CutFlight {
    /// A sibling asked us for the cut: one descent for all who ask.
    ForSibling = 2,
    /// We ask the member that owns it: one question for our resolutions.
    FromSibling = 3,
}

/// The key of a zone cut's flight: the zone, then which side. Its last
/// octet (2 or 3) keeps it apart from every question's (0 or 1).
fn cut_flight_key(zone: &[u8], side: CutFlight) -> Box<[u8]> {
    let mut key = Vec::with_capacity(zone.len() + 1);
    key.extend_from_slice(zone);
    key.push(side as u8);
    key.into()
}

/// The key of a question: lowercase wire name, then type.
fn question_key(name: &[u8], qtype: u16) -> Box<[u8]> {
    let mut key = Vec::with_capacity(name.len() + 2);
    key.extend_from_slice(name);
    key.extend_from_slice(&qtype.to_be_bytes());
    key.into()
}

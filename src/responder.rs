//! The stage between decoding and sending: what each query gets.
//!
//! Order of decisions: a packet that does not decode gets FORMERR (or
//! nothing); then EDNS version, opcode, class and meta-types; then the most
//! specific local zone that holds the name (for clients allowed to
//! recurse, the special-use zones too); then, for those clients, the
//! cache, and on a miss the resolver. Everyone else is REFUSED.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::{ArcSwap, ArcSwapOption};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::access::RecursionAcl;
use crate::cache::Origin;
use crate::cache::{Cache, Chain, Lookup};
use crate::cookies::ServerCookies;
use crate::counters::{Counters, RateLimited, Source, Transport};
use crate::identity::Identity;
use crate::querylog::{QueryLine, QueryLog};
use crate::rate_limit::{RateLimits, ResponseKind, Verdict};
use crate::resolve::{Outcome, ResolutionFailure, Resolver};
use crate::wire::response::{
    ReplyOptions, udp_limit, write_error, write_header_only, write_reply, write_status,
    write_truncated,
};
use crate::wire::{
    Cookie, MAX_MESSAGE_SIZE, Query, class, decode, edns, flags, opcode, options, rcode, rtype,
};
use crate::zone::ZoneSet;

/// The cache and resolver, and who may use them.
pub struct Recursion {
    /// Swapped whole on reload.
    pub acl: Arc<ArcSwap<RecursionAcl>>,
    pub cache: Arc<Cache>,
    pub resolver: Arc<Resolver>,
    /// Client queries that may wait on the resolver at once.
    pub max_pending: usize,
    /// Names answered here and never resolved (`special_use.rs`).
    pub special_use: Arc<ZoneSet>,
}

/// What to do with a packet once `Responder::respond` has seen it.
pub enum Action {
    /// Send what was written to the output buffer.
    Reply,
    /// Send nothing: the packet is not a query we can answer.
    Drop,
    /// Send nothing: too many queries are waiting on the resolver.
    Busy,
    /// The answer needs resolving: await `Responder::resolve`, then send.
    Resolve(Pending),
}

/// A query waiting on the resolver.
pub struct Pending {
    query: Box<Query>,
    /// What the cache held past its TTL, served if resolution fails.
    stale: Option<Chain>,
    opts: ReplyOptions,
    transport: Transport,
    client: IpAddr,
    received_at: Instant,
    _slot: OwnedSemaphorePermit,
}

/// EDNS options a response gets once written.
#[derive(Clone, Copy)]
struct Extras {
    nsid: bool,
    pad: bool,
    cookie: Option<Cookie>,
}

impl Extras {
    fn of(query: &Query, transport: Transport) -> Self {
        Self {
            nsid: query.edns.is_some_and(|e| e.nsid),
            pad: transport.encrypted() && query.edns.is_some_and(|e| e.padded),
            cookie: query.edns.and_then(|e| e.cookie),
        }
    }
}

/// The most a UDP response may hold.
#[derive(Clone, Copy, Debug)]
pub struct UdpSizes {
    /// What we advertise, and send to clients with a valid server cookie.
    pub ours: u16,
    /// What clients without one get (BIND's `nocookie-udp-size`).
    pub nocookie: u16,
}

/// Answers queries. Shared by every listener.
pub struct Responder {
    zones: Arc<ArcSwap<ZoneSet>>,
    counters: Arc<Counters>,
    udp_sizes: UdpSizes,
    recursion: Option<Recursion>,
    pending: Arc<Semaphore>,
    /// Set when the query log is on; swapped on reload.
    query_log: Arc<ArcSwapOption<QueryLog>>,
    identity: Identity,
    cookies: ServerCookies,
    limits: RateLimits,
}

impl Responder {
    /// `udp_sizes.ours` is the EDNS payload size we advertise and the most we
    /// send over UDP.
    pub fn new(
        zones: Arc<ArcSwap<ZoneSet>>,
        counters: Arc<Counters>,
        udp_sizes: UdpSizes,
        recursion: Option<Recursion>,
        query_log: Arc<ArcSwapOption<QueryLog>>,
        identity: Identity,
        limits: RateLimits,
    ) -> Self {
        let slots = recursion.as_ref().map_or(0, |r| r.max_pending);
        Self {
            zones,
            counters,
            udp_sizes,
            recursion,
            pending: Arc::new(Semaphore::new(slots)),
            query_log,
            identity,
            cookies: ServerCookies::new(),
            limits,
        }
    }

    /// Whether a query's source address is unproven: UDP without a valid
    /// server cookie. Only those are rate limited and held to the
    /// no-cookie UDP size; when neither applies, no cookie is checked.
    fn unproven(&self, query: &Query, transport: Transport, client: IpAddr) -> bool {
        let matters = self.limits.enabled() || self.udp_sizes.nocookie < self.udp_sizes.ours;
        if transport != Transport::Udp || !matters {
            return false;
        }
        let now = crate::unix_seconds() as u32;
        let valid = query.edns.and_then(|e| e.cookie).is_some_and(|cookie| {
            self.cookies
                .age(&cookie.client, cookie.server(), client, now)
                .is_some()
        });
        !valid
    }

    /// Adds the EDNS options the client asked for to a written response:
    /// its cookie with ours (RFC 7873), our NSID if it fits, then padding
    /// to the block (RFC 8467).
    fn add_options(&self, out: &mut Vec<u8>, extras: Extras, client: IpAddr, max_len: usize) {
        if let Some(cookie) = extras.cookie {
            let now = crate::unix_seconds() as u32;
            let server = self
                .cookies
                .answer(&cookie.client, cookie.server(), client, now);
            options::append(out, edns::COOKIE, &[&cookie.client, &server], max_len);
        }
        if extras.nsid
            && let Some(nsid) = &self.identity.nsid
        {
            options::append(out, edns::NSID, &[nsid], max_len);
        }
        if extras.pad {
            options::pad(out, options::RESPONSE_BLOCK, max_len);
        }
    }

    /// Counts a response, and logs it when the query log is on.
    fn sent(
        &self,
        client: IpAddr,
        transport: Transport,
        query: Option<&Query>,
        rcode: u16,
        source: Option<Source>,
        received_at: Instant,
    ) {
        self.counters.response(transport, rcode, source);
        if let Some(log) = &*self.query_log.load() {
            log.record(&QueryLine {
                client,
                transport,
                name: query.map(|q| q.key.as_bytes()),
                qtype: query.map_or(0, |q| q.qtype),
                rcode,
                source,
                latency: received_at.elapsed(),
            });
        }
    }

    /// The cache and resolver, unless the resolver is off.
    pub fn recursion(&self) -> Option<&Recursion> {
        self.recursion.as_ref()
    }

    /// Answers `packet` from `client` into `out` (cleared first) when it
    /// can be answered at once.
    /// `received_at` is when the packet arrived, for the query log.
    pub fn respond(
        &self,
        packet: &[u8],
        client: IpAddr,
        transport: Transport,
        received_at: Instant,
        out: &mut Vec<u8>,
    ) -> Action {
        self.counters.query(transport);
        let query = match decode(packet) {
            Ok(query) => query,
            Err(error) => {
                self.counters.malformed(error.reason);
                let Some(header) = error.header.filter(|_| error.reason.answerable()) else {
                    return Action::Drop;
                };
                write_header_only(out, header, rcode::FORMERR);
                self.sent(client, transport, None, rcode::FORMERR, None, received_at);
                return Action::Reply;
            }
        };
        let recursion = self
            .recursion
            .as_ref()
            .filter(|r| r.acl.load().allows(client));
        let unproven = self.unproven(&query, transport, client);
        let udp_size = match unproven {
            true => self.udp_sizes.nocookie,
            false => self.udp_sizes.ours,
        };
        let opts = ReplyOptions {
            max_len: match transport {
                Transport::Udp => udp_limit(&query, udp_size),
                Transport::Tcp | Transport::Tls | Transport::Https => MAX_MESSAGE_SIZE,
            },
            our_udp_size: self.udp_sizes.ours,
            recursion_available: recursion.is_some(),
        };
        let extras = Extras::of(&query, transport);
        let limited = unproven && self.limits.enabled();
        let action = self.answer(
            query,
            recursion,
            opts,
            client,
            transport,
            received_at,
            limited,
            out,
        );
        if matches!(action, Action::Reply) {
            self.add_options(out, extras, client, opts.max_len);
        }
        action
    }

    /// `respond` for a query that decoded.
    #[allow(clippy::too_many_arguments)]
    fn answer(
        &self,
        query: Query,
        recursion: Option<&Recursion>,
        opts: ReplyOptions,
        client: IpAddr,
        transport: Transport,
        received_at: Instant,
        limited: bool,
        out: &mut Vec<u8>,
    ) -> Action {
        if query.qclass == class::CH && query.header.opcode() == opcode::QUERY {
            let code = self.identity.answer_chaos(out, &query, opts);
            self.sent(client, transport, Some(&query), code, None, received_at);
            return Action::Reply;
        }
        if let Some((code, why)) = refusal(&query) {
            match why {
                Some(error) => write_error(out, &query, code, opts, error),
                None => write_status(out, &query, code, opts),
            }
            self.sent(client, transport, Some(&query), code, None, received_at);
            return Action::Reply;
        }

        let zones = self.zones.load();
        let dnssec_ok = query.edns.is_some_and(|e| e.dnssec_ok);
        // A configured zone first, so one can replace a special-use zone.
        let zone = zones
            .find(&query.key)
            .or_else(|| recursion.and_then(|r| r.special_use.find(&query.key)));
        if let Some((zone, reply)) =
            zone.and_then(|zone| Some((zone, zone.lookup(&query.key, query.qtype, dnssec_ok)?)))
        {
            if limited {
                let kind = match reply.rcode() {
                    rcode::NXDOMAIN => ResponseKind::NxDomain {
                        zone: zone.apex().as_bytes(),
                    },
                    _ => ResponseKind::Name {
                        name: query.key.as_bytes(),
                        qtype: query.qtype,
                    },
                };
                match self
                    .limits
                    .response(client, kind, crate::unix_seconds() as u32)
                {
                    Verdict::Send => {}
                    Verdict::Slip => {
                        self.counters.rate_limited(RateLimited::ResponseSlipped);
                        let aa = reply.answer.authoritative();
                        write_truncated(out, &query, reply.rcode(), aa, opts);
                        let code = reply.rcode();
                        self.sent(client, transport, Some(&query), code, None, received_at);
                        return Action::Reply;
                    }
                    Verdict::Drop => {
                        self.counters.rate_limited(RateLimited::ResponseDropped);
                        return Action::Drop;
                    }
                }
            }
            if write_reply(out, &query, &reply, opts) {
                self.counters.truncated();
            }
            self.sent(
                client,
                transport,
                Some(&query),
                reply.rcode(),
                Some(Source::Zone),
                received_at,
            );
            return Action::Reply;
        }
        // Like Unbound's "allow": recursion only for queries that ask for
        // it, so the cache cannot be snooped with RD=0.
        let Some(recursion) = recursion.filter(|_| query.header.flags & flags::RD != 0) else {
            // RFC 8914: why, for the operator reading dig's output.
            let why = match (&self.recursion, recursion) {
                (None, _) => (ede::NOT_AUTHORITATIVE, "no zone here holds the name"),
                (Some(_), None) => (ede::PROHIBITED, "recursion is not allowed for this client"),
                (Some(_), Some(_)) => (
                    ede::NOT_AUTHORITATIVE,
                    "no zone here holds the name; recursion needs RD",
                ),
            };
            write_error(out, &query, rcode::REFUSED, opts, why);
            let refused = rcode::REFUSED;
            self.sent(client, transport, Some(&query), refused, None, received_at);
            return Action::Reply;
        };
        if limited && self.limits.recursion(client, crate::unix_seconds() as u32) == Verdict::Drop {
            self.counters.rate_limited(RateLimited::RecursionDropped);
            return Action::Drop;
        }

        let now = recursion.cache.now_ms();
        let validates = recursion.resolver.validates();
        let stale = match recursion.cache.lookup(&query.key, query.qtype, now) {
            // Looked up to find servers, never validated: asked again.
            Lookup::Hit { chain, .. } if validates && !chain.validated() => None,
            Lookup::Hit { chain, refresh } => {
                if refresh {
                    recursion
                        .resolver
                        .refresh(query.key.as_bytes(), query.qtype);
                }
                let (rcode, truncated) = chain.answer(out, &query, now, false, opts);
                if truncated {
                    self.counters.truncated();
                }
                self.sent(
                    client,
                    transport,
                    Some(&query),
                    rcode,
                    Some(Source::Cache),
                    received_at,
                );
                return Action::Reply;
            }
            Lookup::Stale(chain) => Some(chain).filter(|c| !validates || c.validated()),
            Lookup::Miss => None,
        };
        self.counters.cache_miss();
        let Ok(slot) = self.pending.clone().try_acquire_owned() else {
            self.counters.overload_dropped();
            return Action::Busy;
        };
        Action::Resolve(Pending {
            query: Box::new(query),
            stale,
            opts,
            transport,
            client,
            received_at,
            _slot: slot,
        })
    }

    /// Resolves a pending query and writes its response into `out`: the
    /// answer, or stale data if resolution failed and there is some, or
    /// SERVFAIL. Never nothing.
    pub async fn resolve(&self, pending: Pending, out: &mut Vec<u8>) {
        let Some(recursion) = &self.recursion else {
            return write_status(out, &pending.query, rcode::SERVFAIL, pending.opts);
        };
        let query = &pending.query;
        let outcome = recursion
            .resolver
            .resolve(query.key.as_bytes(), query.qtype)
            .await;
        let now = recursion.cache.now_ms();
        let (rcode, truncated, source) = match (&*outcome, &pending.stale) {
            (Outcome::Answered(chain), _) => {
                let via_sibling = chain
                    .entries()
                    .next()
                    .is_some_and(|e| e.origin() == Origin::Sibling);
                let source = if via_sibling {
                    Source::Sibling
                } else {
                    Source::Upstream
                };
                let (rcode, truncated) = chain.answer(out, query, now, false, pending.opts);
                (rcode, truncated, Some(source))
            }
            (Outcome::Failed(_), Some(stale)) => {
                let (rcode, truncated) = stale.answer(out, query, now, true, pending.opts);
                // RFC 8767 section 6: say it is stale.
                let info = ede::STALE_ANSWER.to_be_bytes();
                options::append(out, edns::EDE, &[&info], pending.opts.max_len);
                (rcode, truncated, Some(Source::Stale))
            }
            (Outcome::Failed(failure), None) => {
                write_error(
                    out,
                    query,
                    rcode::SERVFAIL,
                    pending.opts,
                    why_failed(*failure),
                );
                (rcode::SERVFAIL, false, None)
            }
        };
        if truncated {
            self.counters.truncated();
        }
        let extras = Extras::of(query, pending.transport);
        self.add_options(out, extras, pending.client, pending.opts.max_len);
        self.counters.latency(pending.received_at.elapsed(), 1);
        self.sent(
            pending.client,
            pending.transport,
            Some(query),
            rcode,
            source,
            pending.received_at,
        );
    }
}

/// Extended DNS Error codes (RFC 8914 section 4) the responder gives.
mod ede {
    pub const OTHER: u16 = 0;
    pub const STALE_ANSWER: u16 = 3;
    pub const PROHIBITED: u16 = 18;
    pub const NOT_AUTHORITATIVE: u16 = 20;
    pub const NOT_SUPPORTED: u16 = 21;
    pub const NO_REACHABLE_AUTHORITY: u16 = 22;
    pub const NETWORK_ERROR: u16 = 23;
}

/// The Extended DNS Error for a resolution that failed.
fn why_failed(failure: ResolutionFailure) -> (u16, &'static str) {
    match failure {
        ResolutionFailure::Unreachable => (
            ede::NO_REACHABLE_AUTHORITY,
            "no server gave a usable answer in time",
        ),
        ResolutionFailure::Network => (
            ede::NETWORK_ERROR,
            "every server asked was unreachable or refused the connection",
        ),
        // RFC 8914 has no code for these; Other with the reason.
        ResolutionFailure::Busy => (
            ede::OTHER,
            "not asked: too many queries outstanding to the servers, or resolutions under way",
        ),
        ResolutionFailure::WorkLimit => (
            ede::OTHER,
            "the question needs more queries, referrals or CNAMEs than one resolution may use",
        ),
    }
}

/// The rcode for a query that no zone or cache can answer, if any, and
/// the Extended DNS Error that says why.
fn refusal(query: &Query) -> Option<(u16, Option<(u16, &'static str)>)> {
    let not_supported = |text| Some((ede::NOT_SUPPORTED, text));
    if query.edns.is_some_and(|e| e.version > 0) {
        // RFC 6891 section 6.1.3: we speak version 0 only.
        return Some((rcode::BADVERS, None));
    }
    if query.header.opcode() != opcode::QUERY {
        return Some((rcode::NOTIMP, None));
    }
    if query.qclass != class::IN {
        return Some((rcode::REFUSED, not_supported("only class IN is served")));
    }
    match query.qtype {
        rtype::AXFR | rtype::IXFR => Some((
            rcode::REFUSED,
            not_supported("zone transfers are not offered"),
        )),
        // Types that exist only inside a message (RFC 6895 section 3.1).
        rtype::OPT | rtype::TSIG | rtype::TKEY => Some((rcode::FORMERR, None)),
        rtype::MAILA | rtype::MAILB => Some((rcode::NOTIMP, None)),
        _ => None,
    }
}

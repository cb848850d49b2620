//! Counters for everything the server does, in one place, for logs, tests
//! and the metrics endpoint.
//!
//! Plain relaxed atomics: a counter is read by a human or a scraper, never
//! used to make a decision, so no ordering is needed.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::wire::{Malformed, rcode};

/// The transport a query came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp = 0,
    Tcp = 1,
    /// DNS over TLS (RFC 7858).
    Tls = 2,
    /// DNS over HTTPS (RFC 8484).
    Https = 3,
}

impl Transport {
    pub const COUNT: usize = 4;
    pub const ALL: [Transport; Self::COUNT] = [
        Transport::Udp,
        Transport::Tcp,
        Transport::Tls,
        Transport::Https,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Https => "https",
        }
    }

    /// Whether the client's queries are private on the wire, so answers
    /// are padded when it asks (RFC 8467).
    pub fn encrypted(self) -> bool {
        matches!(self, Transport::Tls | Transport::Https)
    }
}

/// Response codes counted separately; anything else is "other".
const RCODES: [(u16, &str); 7] = [
    (rcode::NOERROR, "NOERROR"),
    (rcode::FORMERR, "FORMERR"),
    (rcode::SERVFAIL, "SERVFAIL"),
    (rcode::NXDOMAIN, "NXDOMAIN"),
    (rcode::NOTIMP, "NOTIMP"),
    (rcode::REFUSED, "REFUSED"),
    (rcode::BADVERS, "BADVERS"),
];
const RCODE_SLOTS: usize = RCODES.len() + 1;

/// The mnemonic of a response code, as dig prints it.
pub fn rcode_name(rcode: u16) -> String {
    match RCODES.iter().find(|(code, _)| *code == rcode) {
        Some((_, name)) => (*name).into(),
        None if rcode == crate::wire::rcode::NOTAUTH => "NOTAUTH".into(),
        None => format!("RCODE{rcode}"),
    }
}

/// The five sources, and one for responses without answer data.
const SOURCE_SLOTS: usize = 6;

fn source_slot(source: Option<Source>) -> usize {
    source.map_or(SOURCE_SLOTS - 1, |s| s as usize)
}

fn rcode_slot(rcode: u16) -> usize {
    RCODES
        .iter()
        .position(|(code, _)| *code == rcode)
        .unwrap_or(RCODES.len())
}

/// Where an answer came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A local authoritative zone.
    Zone = 0,
    /// The cache, fresh.
    Cache = 1,
    /// The cache, past its TTL, because no upstream answered (RFC 8767).
    Stale = 2,
    /// Resolved for this query (upstreams or authoritative servers).
    Upstream = 3,
    /// Resolved for this query by the sibling that owns it.
    Sibling = 4,
}

impl Source {
    pub const ALL: [Source; 5] = [
        Source::Zone,
        Source::Cache,
        Source::Stale,
        Source::Upstream,
        Source::Sibling,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Source::Zone => "zone",
            Source::Cache => "cache",
            Source::Stale => "stale",
            Source::Upstream => "upstream",
            Source::Sibling => "sibling",
        }
    }
}

/// Things that happen between us and upstream servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamEvent {
    /// A query sent (over UDP, or TLS to a DNS-over-TLS upstream).
    Sent = 0,
    /// A truncated answer retried over TCP.
    TcpRetry = 1,
    /// A datagram with the wrong ID or question: ignored (spoofing, or a
    /// late answer to an earlier query).
    Mismatched = 2,
    /// A datagram that is not a DNS message.
    Malformed = 3,
    /// No answer in time.
    Timeout = 4,
    /// SERVFAIL, REFUSED or a network error: the next server is tried.
    Failed = 5,
    /// A server lost the random case of the question name (0x20); the
    /// question was asked again in lowercase.
    CaseFallback = 6,
    /// A server rejected EDNS; it is asked without for a while.
    EdnsFallback = 7,
    /// A DNS-over-TLS connection to an upstream opened (handshake done).
    TlsConnected = 8,
    /// A DNS-over-TLS connection that could not be opened: no TCP
    /// connection, a failed handshake, or a certificate not valid for
    /// the configured name.
    TlsFailed = 9,
    /// A server answered BADCOOKIE (RFC 7873) and was asked again with
    /// the server cookie it gave.
    CookieRetry = 10,
}

impl UpstreamEvent {
    pub const ALL: [UpstreamEvent; 11] = [
        UpstreamEvent::Sent,
        UpstreamEvent::TcpRetry,
        UpstreamEvent::Mismatched,
        UpstreamEvent::Malformed,
        UpstreamEvent::Timeout,
        UpstreamEvent::Failed,
        UpstreamEvent::CaseFallback,
        UpstreamEvent::EdnsFallback,
        UpstreamEvent::TlsConnected,
        UpstreamEvent::TlsFailed,
        UpstreamEvent::CookieRetry,
    ];

    pub fn label(self) -> &'static str {
        match self {
            UpstreamEvent::Sent => "sent",
            UpstreamEvent::TcpRetry => "tcp_retry",
            UpstreamEvent::Mismatched => "mismatched",
            UpstreamEvent::Malformed => "malformed",
            UpstreamEvent::Timeout => "timeout",
            UpstreamEvent::Failed => "failed",
            UpstreamEvent::CaseFallback => "case_fallback",
            UpstreamEvent::EdnsFallback => "edns_fallback",
            UpstreamEvent::TlsConnected => "tls_connected",
            UpstreamEvent::TlsFailed => "tls_failed",
            UpstreamEvent::CookieRetry => "cookie_retry",
        }
    }
}

/// Things that happen while iterating from the root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IterationEvent {
    /// A referral followed down a zone cut.
    Referral = 0,
    /// A server answered lamely for a zone.
    Lame = 1,
    /// A question hit a work limit (queries, referrals, name server
    /// lookups) and got SERVFAIL.
    LimitReached = 2,
    /// A name server lookup that would have needed itself was skipped.
    Cycle = 3,
    /// The root servers were learned from the hints.
    Primed = 4,
    /// A minimised query (RFC 9156) got no usable answer, so the full
    /// name was asked instead.
    MinimiseFallback = 5,
    /// A question below a cached NXDOMAIN answered from the cache
    /// (RFC 8020).
    BelowNxdomain = 6,
    /// A zone's own NS set replaced its parent's view of it.
    ApexNs = 7,
    /// A query was not sent: its zone or server had as many outstanding
    /// as `fetches_per_zone` or `fetches_per_server` allow.
    FetchLimited = 8,
    /// A zone cut was taken from the sibling that owns it, instead of
    /// asking its parent's servers.
    SiblingCut = 9,
}

impl IterationEvent {
    pub const ALL: [IterationEvent; 10] = [
        IterationEvent::Referral,
        IterationEvent::Lame,
        IterationEvent::LimitReached,
        IterationEvent::Cycle,
        IterationEvent::Primed,
        IterationEvent::MinimiseFallback,
        IterationEvent::BelowNxdomain,
        IterationEvent::ApexNs,
        IterationEvent::FetchLimited,
        IterationEvent::SiblingCut,
    ];

    pub fn label(self) -> &'static str {
        match self {
            IterationEvent::Referral => "referral",
            IterationEvent::Lame => "lame",
            IterationEvent::LimitReached => "limit_reached",
            IterationEvent::Cycle => "cycle",
            IterationEvent::Primed => "primed",
            IterationEvent::MinimiseFallback => "minimise_fallback",
            IterationEvent::BelowNxdomain => "below_nxdomain",
            IterationEvent::ApexNs => "apex_ns",
            IterationEvent::FetchLimited => "fetch_limited",
            IterationEvent::SiblingCut => "sibling_cut",
        }
    }
}

/// Things that happen between siblings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SiblingEvent {
    /// A miss sent to the sibling that owns the name.
    QuerySent = 0,
    /// The owner's answer was used (a hit for the cluster).
    Answered = 1,
    /// The owner answered SERVFAIL, NOTAUTH, truncated, or garbage.
    Failed = 2,
    /// The owner did not answer in time.
    Timeout = 3,
    /// The owner was slow, so the name was resolved here as well.
    Hedged = 4,
    /// A signed query from a sibling.
    QueryReceived = 5,
    /// ... answered from the cache.
    ServedFromCache = 6,
    /// ... resolved first (a cluster-wide miss).
    ServedResolved = 7,
    /// Unsigned, badly signed or out-of-time sibling messages and gossip.
    Rejected = 8,
    /// The owner failed or was slow, so the next member in rendezvous
    /// order was asked (before resolving here).
    Successor = 9,
    /// A miss on a question we own, soon after the member list changed,
    /// asked of the member that owned it before, from its cache only.
    Peeked = 10,
    /// ... and that member had it.
    PeekHit = 11,
    /// A question to a sibling sent again, signed afresh, after half the
    /// hedge delay without an answer: one lost datagram should cost a
    /// retransmission, not a resolution somewhere else.
    Retransmitted = 12,
    /// A zone cut asked of the member that owns it.
    CutAsked = 13,
    /// ... and one asked of us.
    CutServed = 14,
}

impl SiblingEvent {
    pub const ALL: [SiblingEvent; 15] = [
        SiblingEvent::QuerySent,
        SiblingEvent::Answered,
        SiblingEvent::Failed,
        SiblingEvent::Timeout,
        SiblingEvent::Hedged,
        SiblingEvent::QueryReceived,
        SiblingEvent::ServedFromCache,
        SiblingEvent::ServedResolved,
        SiblingEvent::Rejected,
        SiblingEvent::Successor,
        SiblingEvent::Peeked,
        SiblingEvent::PeekHit,
        SiblingEvent::Retransmitted,
        SiblingEvent::CutAsked,
        SiblingEvent::CutServed,
    ];

    pub fn label(self) -> &'static str {
        match self {
            SiblingEvent::QuerySent => "query_sent",
            SiblingEvent::Answered => "answered",
            SiblingEvent::Failed => "failed",
            SiblingEvent::Timeout => "timeout",
            SiblingEvent::Hedged => "hedged",
            SiblingEvent::QueryReceived => "query_received",
            SiblingEvent::ServedFromCache => "served_from_cache",
            SiblingEvent::ServedResolved => "served_resolved",
            SiblingEvent::Rejected => "rejected",
            SiblingEvent::Successor => "successor",
            SiblingEvent::Peeked => "peeked",
            SiblingEvent::PeekHit => "peek_hit",
            SiblingEvent::Retransmitted => "retransmitted",
            SiblingEvent::CutAsked => "cut_asked",
            SiblingEvent::CutServed => "cut_served",
        }
    }
}

/// Upper bounds of the latency buckets, in microseconds: from a cache hit
/// on loopback to a slow resolution.
pub const LATENCY_BUCKETS_US: [u64; 16] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000,
];
const BUCKETS: usize = LATENCY_BUCKETS_US.len() + 1;

/// A histogram of durations in fixed buckets (the last one unbounded),
/// with their sum.
#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS],
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, took: Duration, n: u64) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let slot = LATENCY_BUCKETS_US.partition_point(|bound| *bound < us);
        self.buckets[slot].fetch_add(n, Relaxed);
        self.sum_us.fetch_add(us.saturating_mul(n), Relaxed);
    }

    fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: self.buckets.each_ref().map(|b| b.load(Relaxed)),
            sum_us: self.sum_us.load(Relaxed),
        }
    }
}

/// Histogram values at one moment: per-bucket (not cumulative) counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistogramSnapshot {
    pub buckets: [u64; BUCKETS],
    pub sum_us: u64,
}

impl HistogramSnapshot {
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

/// Why a TCP connection was closed by us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpClose {
    /// No complete query within the idle timeout.
    Idle,
    /// The client did not read its answers in time.
    WriteTimeout,
    /// A frame too short to hold a header.
    Garbage,
    /// A message begun and not finished within the message timeout.
    Stalled,
    /// Closed, idle longest, to admit a new connection over a cap, or to
    /// free a descriptor.
    Evicted,
}

impl TcpClose {
    pub const ALL: [TcpClose; 5] = [
        TcpClose::Idle,
        TcpClose::WriteTimeout,
        TcpClose::Garbage,
        TcpClose::Stalled,
        TcpClose::Evicted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TcpClose::Idle => "idle",
            TcpClose::WriteTimeout => "write_timeout",
            TcpClose::Garbage => "garbage",
            TcpClose::Stalled => "stalled",
            TcpClose::Evicted => "evicted",
        }
    }
}

/// What a rate limit (`rate_limit.rs`) did to a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimited {
    /// A query needing recursion dropped past the per-network limit.
    RecursionDropped,
    /// An authoritative answer dropped past the response rate limit.
    ResponseDropped,
    /// An authoritative answer sent truncated instead (a slip).
    ResponseSlipped,
}

impl RateLimited {
    pub const ALL: [RateLimited; 3] = [
        RateLimited::RecursionDropped,
        RateLimited::ResponseDropped,
        RateLimited::ResponseSlipped,
    ];

    pub fn label(self) -> &'static str {
        match self {
            RateLimited::RecursionDropped => "recursion_dropped",
            RateLimited::ResponseDropped => "response_dropped",
            RateLimited::ResponseSlipped => "response_slipped",
        }
    }
}

#[derive(Default)]
pub struct Counters {
    queries: [AtomicU64; Transport::COUNT],
    /// By transport, rcode and source (the last slot: no answer data).
    responses: [[[AtomicU64; SOURCE_SLOTS]; RCODE_SLOTS]; Transport::COUNT],
    malformed: [AtomicU64; Malformed::COUNT],
    truncated: AtomicU64,
    udp_send_dropped: AtomicU64,
    network_errors: AtomicU64,
    descriptor_shortages: AtomicU64,
    /// Unix seconds of the last log line about them, and the count then.
    descriptor_logged_at: AtomicU64,
    descriptor_shortages_logged: AtomicU64,
    tcp_connections: AtomicU64,
    tls_handshakes_failed: AtomicU64,
    tcp_closed: [AtomicU64; TcpClose::ALL.len()],
    rate_limited: [AtomicU64; RateLimited::ALL.len()],
    upstream: [AtomicU64; UpstreamEvent::ALL.len()],
    coalesced: AtomicU64,
    prefetches: AtomicU64,
    resolutions_failed: AtomicU64,
    resolutions_refused: AtomicU64,
    overload_dropped: AtomicU64,
    iteration: [AtomicU64; IterationEvent::ALL.len()],
    bailiwick_dropped: AtomicU64,
    sibling: [AtomicU64; SiblingEvent::ALL.len()],
    cache_misses: AtomicU64,
    /// Answers validated: secure, insecure, bogus; and those that could
    /// not be (budget spent, DS or DNSKEY unanswered).
    validated: [AtomicU64; 3],
    validation_failed: AtomicU64,
    signatures_checked: AtomicU64,
    /// NXDOMAIN and NODATA answers made from validated NSEC ranges, and
    /// answers synthesised from cached wildcards.
    aggressive_nsec: [AtomicU64; 3],
    latency: Histogram,
    upstream_rtt: Histogram,
}

impl Counters {
    /// A query the cache could not answer fresh, sent to the resolver.
    pub fn cache_miss(&self) {
        self.cache_misses.fetch_add(1, Relaxed);
    }

    /// `queries` answers sent `took` after their queries arrived.
    pub fn latency(&self, took: Duration, queries: u64) {
        self.latency.observe(took, queries);
    }

    /// One exchange with an upstream or authoritative server.
    pub fn upstream_rtt(&self, took: Duration) {
        self.upstream_rtt.observe(took, 1);
    }

    pub fn sibling(&self, event: SiblingEvent) {
        self.sibling[event as usize].fetch_add(1, Relaxed);
    }

    pub fn iteration(&self, event: IterationEvent) {
        self.iteration[event as usize].fetch_add(1, Relaxed);
    }

    /// Records outside the zone a server was asked about, dropped.
    pub fn bailiwick_dropped(&self, records: usize) {
        self.bailiwick_dropped.fetch_add(records as u64, Relaxed);
    }

    pub fn upstream(&self, event: UpstreamEvent) {
        self.upstream[event as usize].fetch_add(1, Relaxed);
    }

    /// A miss joined a resolution already under way.
    pub fn coalesced(&self) {
        self.coalesced.fetch_add(1, Relaxed);
    }

    /// A hit near expiry started a refresh.
    pub fn prefetch(&self) {
        self.prefetches.fetch_add(1, Relaxed);
    }

    /// An answer validated: secure, insecure or bogus.
    pub fn validation(&self, security: crate::dnssec::Security) {
        use crate::dnssec::Security;
        let slot = match security {
            Security::Secure => 0,
            Security::Insecure => 1,
            Security::Bogus(_) => 2,
            Security::Indeterminate => return,
        };
        self.validated[slot].fetch_add(1, Relaxed);
    }

    /// An answer that could not be validated: its budget was spent, or a
    /// DS or DNSKEY query went unanswered.
    pub fn validation_failed(&self) {
        self.validation_failed.fetch_add(1, Relaxed);
    }

    /// Signature checks validation made (each bounded per question by
    /// `dnssec::budget`).
    pub fn signatures_checked(&self, checks: u32) {
        self.signatures_checked
            .fetch_add(u64::from(checks), Relaxed);
    }

    /// An answer made from validated NSEC ranges (RFC 8198): NXDOMAIN, or
    /// NODATA.
    pub fn aggressive_nsec(&self, nxdomain: bool) {
        self.aggressive_nsec[usize::from(!nxdomain)].fetch_add(1, Relaxed);
    }

    /// An answer synthesised from a cached wildcard (RFC 8198 5.3).
    pub fn aggressive_wildcard(&self) {
        self.aggressive_nsec[2].fetch_add(1, Relaxed);
    }

    /// A resolution ended with no usable answer.
    pub fn resolution_failed(&self) {
        self.resolutions_failed.fetch_add(1, Relaxed);
    }

    /// A resolution was not started: too many under way.
    pub fn resolution_refused(&self) {
        self.resolutions_refused.fetch_add(1, Relaxed);
    }

    /// A query was dropped: too many waiting on resolution.
    pub fn overload_dropped(&self) {
        self.overload_dropped.fetch_add(1, Relaxed);
    }

    /// A packet arrived on `transport`.
    pub fn query(&self, transport: Transport) {
        self.queries[transport as usize].fetch_add(1, Relaxed);
    }

    /// A response went out with `rcode`, its answer from `source` (`None`:
    /// no answer data, as for REFUSED, FORMERR or SERVFAIL).
    pub fn response(&self, transport: Transport, rcode: u16, source: Option<Source>) {
        self.responses[transport as usize][rcode_slot(rcode)][source_slot(source)]
            .fetch_add(1, Relaxed);
    }

    pub fn malformed(&self, reason: Malformed) {
        self.malformed[reason as usize].fetch_add(1, Relaxed);
    }

    pub fn truncated(&self) {
        self.truncated.fetch_add(1, Relaxed);
    }

    /// A UDP response could not be sent in time and was dropped.
    pub fn udp_send_dropped(&self) {
        self.udp_send_dropped.fetch_add(1, Relaxed);
    }

    /// A socket operation failed.
    pub fn network_error(&self) {
        self.network_errors.fetch_add(1, Relaxed);
    }

    /// Counts `error` if it means the process (EMFILE) or the system
    /// (ENFILE) is out of file descriptors, and says so in the log at most
    /// once a minute, with how many failures there were since. Returns
    /// whether it was.
    pub fn descriptor_shortage(&self, error: &std::io::Error, what: &'static str) -> bool {
        if !matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
            return false;
        }
        let total = self.descriptor_shortages.fetch_add(1, Relaxed) + 1;
        let now = crate::unix_seconds();
        let last = self.descriptor_logged_at.load(Relaxed);
        if (last == 0 || now >= last + 60)
            && self
                .descriptor_logged_at
                .compare_exchange(last, now.max(1), Relaxed, Relaxed)
                .is_ok()
        {
            let since = total - self.descriptor_shortages_logged.swap(total, Relaxed);
            tracing::warn!(
                failures = since,
                "out of file descriptors ({what}: {error}); raise ulimit -n, \
                 or lower tcp_max_connections or max_pending"
            );
        }
        true
    }

    pub fn tcp_connection(&self) {
        self.tcp_connections.fetch_add(1, Relaxed);
    }

    /// A DoT or DoH client that did not finish its TLS handshake in time,
    /// or failed it.
    pub fn tls_handshake_failed(&self) {
        self.tls_handshakes_failed.fetch_add(1, Relaxed);
    }

    pub fn rate_limited(&self, what: RateLimited) {
        self.rate_limited[what as usize].fetch_add(1, Relaxed);
    }

    pub fn tcp_closed(&self, why: TcpClose) {
        self.tcp_closed[why as usize].fetch_add(1, Relaxed);
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> Snapshot {
        let load = |c: &AtomicU64| c.load(Relaxed);
        Snapshot {
            queries: self.queries.each_ref().map(load),
            responses: self
                .responses
                .each_ref()
                .map(|r| r.each_ref().map(|s| s.each_ref().map(load))),
            malformed: self.malformed.each_ref().map(load),
            truncated: load(&self.truncated),
            udp_send_dropped: load(&self.udp_send_dropped),
            network_errors: load(&self.network_errors),
            descriptor_shortages: load(&self.descriptor_shortages),
            tcp_connections: load(&self.tcp_connections),
            tls_handshakes_failed: load(&self.tls_handshakes_failed),
            tcp_closed: self.tcp_closed.each_ref().map(load),
            rate_limited: self.rate_limited.each_ref().map(load),
            upstream: self.upstream.each_ref().map(load),
            coalesced: load(&self.coalesced),
            prefetches: load(&self.prefetches),
            resolutions_failed: load(&self.resolutions_failed),
            resolutions_refused: load(&self.resolutions_refused),
            overload_dropped: load(&self.overload_dropped),
            iteration: self.iteration.each_ref().map(load),
            bailiwick_dropped: load(&self.bailiwick_dropped),
            sibling: self.sibling.each_ref().map(load),
            cache_misses: load(&self.cache_misses),
            validated: self.validated.each_ref().map(load),
            validation_failed: load(&self.validation_failed),
            signatures_checked: load(&self.signatures_checked),
            aggressive_nsec: self.aggressive_nsec.each_ref().map(load),
            latency: self.latency.snapshot(),
            upstream_rtt: self.upstream_rtt.snapshot(),
        }
    }
}

/// Counter values at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    queries: [u64; Transport::COUNT],
    responses: [[[u64; SOURCE_SLOTS]; RCODE_SLOTS]; Transport::COUNT],
    malformed: [u64; Malformed::COUNT],
    pub truncated: u64,
    pub udp_send_dropped: u64,
    pub network_errors: u64,
    pub descriptor_shortages: u64,
    pub tcp_connections: u64,
    pub tls_handshakes_failed: u64,
    tcp_closed: [u64; TcpClose::ALL.len()],
    rate_limited: [u64; RateLimited::ALL.len()],
    upstream: [u64; UpstreamEvent::ALL.len()],
    pub coalesced: u64,
    pub prefetches: u64,
    pub resolutions_failed: u64,
    pub resolutions_refused: u64,
    pub overload_dropped: u64,
    iteration: [u64; IterationEvent::ALL.len()],
    pub bailiwick_dropped: u64,
    sibling: [u64; SiblingEvent::ALL.len()],
    pub cache_misses: u64,
    /// Answers validated secure, insecure and bogus.
    pub validated: [u64; 3],
    pub validation_failed: u64,
    pub signatures_checked: u64,
    /// NXDOMAIN and NODATA answers made from validated NSEC ranges, and
    /// answers synthesised from cached wildcards.
    pub aggressive_nsec: [u64; 3],
    pub latency: HistogramSnapshot,
    pub upstream_rtt: HistogramSnapshot,
}

impl Snapshot {
    /// Packets received on `transport`.
    pub fn queries(&self, transport: Transport) -> u64 {
        self.queries[transport as usize]
    }

    /// Responses sent on `transport` with `rcode`.
    pub fn responses(&self, transport: Transport, rcode: u16) -> u64 {
        self.responses[transport as usize][rcode_slot(rcode)]
            .iter()
            .sum()
    }

    pub fn malformed(&self, reason: Malformed) -> u64 {
        self.malformed[reason as usize]
    }

    pub fn malformed_total(&self) -> u64 {
        self.malformed.iter().sum()
    }

    pub fn rate_limited(&self, what: RateLimited) -> u64 {
        self.rate_limited[what as usize]
    }

    pub fn tcp_closed(&self, why: TcpClose) -> u64 {
        self.tcp_closed[why as usize]
    }

    /// Answers given from `source`.
    pub fn answered(&self, source: Source) -> u64 {
        self.responses
            .iter()
            .flatten()
            .map(|by_source| by_source[source as usize])
            .sum()
    }

    pub fn upstream(&self, event: UpstreamEvent) -> u64 {
        self.upstream[event as usize]
    }

    pub fn iteration(&self, event: IterationEvent) -> u64 {
        self.iteration[event as usize]
    }

    pub fn sibling(&self, event: SiblingEvent) -> u64 {
        self.sibling[event as usize]
    }

    /// Every response counter with its labels, for export.
    pub fn responses_by_label(
        &self,
    ) -> impl Iterator<Item = (&'static str, &'static str, u64)> + '_ {
        Transport::ALL.into_iter().flat_map(move |t| {
            RCODES
                .iter()
                .map(|(_, name)| *name)
                .chain(["other"])
                .enumerate()
                .map(move |(slot, name)| {
                    (
                        t.label(),
                        name,
                        self.responses[t as usize][slot].iter().sum(),
                    )
                })
        })
    }

    /// Every (transport, rcode, source) response counter with its labels,
    /// for export; responses without answer data (REFUSED, FORMERR, SERVFAIL) have source "none".
    pub fn outcomes_by_label(
        &self,
    ) -> impl Iterator<Item = (&'static str, &'static str, &'static str, u64)> + '_ {
        Transport::ALL.into_iter().flat_map(move |t| {
            RCODES
                .iter()
                .map(|(_, name)| *name)
                .chain(["other"])
                .enumerate()
                .flat_map(move |(slot, rcode)| {
                    Source::ALL
                        .iter()
                        .map(|s| s.label())
                        .chain(["none"])
                        .enumerate()
                        .map(move |(source, label)| {
                            (
                                t.label(),
                                rcode,
                                label,
                                self.responses[t as usize][slot][source],
                            )
                        })
                })
        })
    }
}

//! Counters for everything the server does, in one place, for logs, tests
//! and the metrics endpoint.
//!
//! Plain relaxed atomics: a counter is read by a human or a scraper, never
//! used to make a decision, so no ordering is needed.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::wire::{Malformed, rcode};

/// The transport a query came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp = 0,
    Tcp = 1,
}

impl Transport {
    pub const ALL: [Transport; 2] = [Transport::Udp, Transport::Tcp];

    pub fn label(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
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

fn rcode_slot(rcode: u16) -> usize {
    RCODES
        .iter()
        .position(|(code, _)| *code == rcode)
        .unwrap_or(RCODES.len())
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
}

#[derive(Default)]
pub struct Counters {
    queries: [AtomicU64; 2],
    responses: [[AtomicU64; RCODE_SLOTS]; 2],
    malformed: [AtomicU64; Malformed::COUNT],
    truncated: AtomicU64,
    udp_send_dropped: AtomicU64,
    network_errors: AtomicU64,
    tcp_connections: AtomicU64,
    tcp_closed: [AtomicU64; 3],
}

impl Counters {
    /// A packet arrived on `transport`.
    pub fn query(&self, transport: Transport) {
        self.queries[transport as usize].fetch_add(1, Relaxed);
    }

    /// A response went out with `rcode`.
    pub fn response(&self, transport: Transport, rcode: u16) {
        self.responses[transport as usize][rcode_slot(rcode)].fetch_add(1, Relaxed);
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

    pub fn tcp_connection(&self) {
        self.tcp_connections.fetch_add(1, Relaxed);
    }

    pub fn tcp_closed(&self, why: TcpClose) {
        self.tcp_closed[why as usize].fetch_add(1, Relaxed);
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> Snapshot {
        let load = |c: &AtomicU64| c.load(Relaxed);
        Snapshot {
            queries: self.queries.each_ref().map(load),
            responses: self.responses.each_ref().map(|r| r.each_ref().map(load)),
            malformed: self.malformed.each_ref().map(load),
            truncated: load(&self.truncated),
            udp_send_dropped: load(&self.udp_send_dropped),
            network_errors: load(&self.network_errors),
            tcp_connections: load(&self.tcp_connections),
            tcp_closed: self.tcp_closed.each_ref().map(load),
        }
    }
}

/// Counter values at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    queries: [u64; 2],
    responses: [[u64; RCODE_SLOTS]; 2],
    malformed: [u64; Malformed::COUNT],
    pub truncated: u64,
    pub udp_send_dropped: u64,
    pub network_errors: u64,
    pub tcp_connections: u64,
    tcp_closed: [u64; 3],
}

impl Snapshot {
    /// Packets received on `transport`.
    pub fn queries(&self, transport: Transport) -> u64 {
        self.queries[transport as usize]
    }

    /// Responses sent on `transport` with `rcode`.
    pub fn responses(&self, transport: Transport, rcode: u16) -> u64 {
        self.responses[transport as usize][rcode_slot(rcode)]
    }

    pub fn malformed(&self, reason: Malformed) -> u64 {
        self.malformed[reason as usize]
    }

    pub fn malformed_total(&self) -> u64 {
        self.malformed.iter().sum()
    }

    pub fn tcp_closed(&self, why: TcpClose) -> u64 {
        self.tcp_closed[why as usize]
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
                .map(move |(slot, name)| (t.label(), name, self.responses[t as usize][slot]))
        })
    }
}

//! Resolving names outside local zones: one resolution per question however
//! many clients ask it at once, its records stored in the cache, and the
//! answer handed to every client waiting on it.

mod exchange;
mod forward;
mod response;
mod upstream;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use foldhash::fast::RandomState;
use tokio::sync::watch;
use tokio::time::{Instant, timeout_at};

use crate::cache::{Cache, Chain, EntryKind, MAX_PIECES};
use crate::counters::Counters;
use crate::wire::rcode;

pub use exchange::Question;
pub use forward::Forwarder;
pub use response::{End, Reading, read_answer};
pub use upstream::Upstreams;

/// The result of resolving one question.
#[derive(Debug)]
pub enum Outcome {
    /// The answer, as cache entries (some may have TTL 0 and not be in the
    /// cache itself).
    Answered(Chain),
    /// No upstream gave a usable answer in time.
    Failed,
}

type Flight = watch::Receiver<Option<Arc<Outcome>>>;

pub struct Resolver {
    cache: Arc<Cache>,
    forwarder: Forwarder,
    /// Resolutions under way, by question key.
    flights: Mutex<HashMap<Box<[u8]>, Flight, RandomState>>,
    max_flights: usize,
    timeout: Duration,
    counters: Arc<Counters>,
}

/// What the resolver needs to know.
pub struct ResolverSettings {
    pub upstreams: Vec<SocketAddr>,
    /// The EDNS payload size we ask upstreams for.
    pub edns_size: u16,
    /// Time allowed for one resolution.
    pub timeout: Duration,
    /// Resolutions under way at once.
    pub max_flights: usize,
}

impl Resolver {
    pub fn new(settings: ResolverSettings, cache: Arc<Cache>, counters: Arc<Counters>) -> Self {
        Self {
            forwarder: Forwarder::new(&settings.upstreams, settings.edns_size, counters.clone()),
            cache,
            flights: Mutex::new(HashMap::default()),
            max_flights: settings.max_flights,
            timeout: settings.timeout,
            counters,
        }
    }

    /// Resolves (`name`, `qtype`), joining a resolution of the same
    /// question if one is under way. Waits at most the resolver timeout.
    pub async fn resolve(self: &Arc<Self>, name: &[u8], qtype: u16) -> Arc<Outcome> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let Some((mut flight, started)) = self.join_or_start(name, qtype) else {
                return Arc::new(Outcome::Failed);
            };
            let outcome = match timeout_at(deadline, flight.wait_for(Option::is_some)).await {
                Ok(Ok(outcome)) => outcome.clone().unwrap_or_else(|| Arc::new(Outcome::Failed)),
                _ => return Arc::new(Outcome::Failed),
            };
            // A flight joined late can fail at its own deadline, well before
            // ours: then this client deserves an attempt of its own.
            if started || !matches!(*outcome, Outcome::Failed) || Instant::now() >= deadline {
                return outcome;
            }
        }
    }

    /// Starts resolving (`name`, `qtype`) in the background unless that is
    /// already under way: a prefetch.
    pub fn refresh(self: &Arc<Self>, name: &[u8], qtype: u16) {
        self.counters.prefetch();
        let _ = self.join_or_start(name, qtype);
    }

    /// The flight for this question, started if there is none, and whether
    /// this call started it. `None` when too many are under way.
    fn join_or_start(self: &Arc<Self>, name: &[u8], qtype: u16) -> Option<(Flight, bool)> {
        let mut key = Vec::with_capacity(name.len() + 2);
        key.extend_from_slice(name);
        key.extend_from_slice(&qtype.to_be_bytes());
        let key: Box<[u8]> = key.into();
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(flight) = flights.get(&key) {
            self.counters.coalesced();
            return Some((flight.clone(), false));
        }
        if flights.len() >= self.max_flights {
            self.counters.resolution_refused();
            return None;
        }
        let (done, flight) = watch::channel(None);
        flights.insert(key.clone(), flight.clone());
        drop(flights);
        let this = self.clone();
        let name: Box<[u8]> = name.into();
        tokio::spawn(async move {
            let outcome = Arc::new(this.fetch(&name, qtype).await);
            // The cache holds the records before the flight ends, so a
            // question asked from now on finds them there.
            this.flights
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
            let _ = done.send(Some(outcome));
        });
        Some((flight, true))
    }

    /// Asks upstream, following CNAMEs the response leaves dangling, and
    /// stores what comes back.
    async fn fetch(&self, name: &[u8], qtype: u16) -> Outcome {
        let deadline = Instant::now() + self.timeout;
        let mut chain = Chain::new();
        let mut target: Box<[u8]> = name.into();
        while chain.len() < MAX_PIECES {
            let question = Question {
                name: &target,
                qtype,
            };
            let Ok(message) = self.forwarder.ask(question, deadline).await else {
                self.counters.resolution_failed();
                return Outcome::Failed;
            };
            let reading = read_answer(&message, &target, qtype);
            let now = self.cache.now_ms();
            for rrset in &reading.rrsets {
                let Ok(entry) = self.cache.store_rrset(rrset, now) else {
                    return Outcome::Failed;
                };
                if !chain.push(entry) {
                    return Outcome::Failed;
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
            // (RFC 2308 section 5).
            if let Some((soa, minimum)) = &reading.soa {
                let Ok(entry) =
                    self.cache
                        .store_negative(kind, &reading.last, qtype, soa, *minimum, now)
                else {
                    return Outcome::Failed;
                };
                if !chain.push(entry) {
                    return Outcome::Failed;
                }
            }
            return Outcome::Answered(chain);
        }
        Outcome::Failed
    }
}

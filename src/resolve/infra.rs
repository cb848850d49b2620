//! The infrastructure cache: what is known of each server address, and
//! which one to ask next.
//!
//! Each address keeps an RTT estimate (RFC 6298 smoothing) and a count of
//! failures in a row. Among the candidates for a question the fastest is
//! asked first; now and then another is asked instead, so a server that has
//! become faster is noticed, but never one that has just failed: a dead
//! address costs one deadline and is then passed over while others answer.
//! A server that keeps failing is held down for a while that doubles with
//! each failure, and asked again only when the hold ends or nobody else is
//! left. What is known of a server is forgotten after 15 minutes, as
//! Unbound's infra-host-ttl does, so it gets a fresh chance. Separately, a server that answered lamely
//! for a zone (REFUSED, a referral upward or sideways, no AA) is not asked
//! about that zone again for a while, without harming its standing for
//! other zones.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::hash::BuildHasher;

use foldhash::fast::RandomState;

use super::client_cookies::ClientCookies;

/// The RTT assumed for a server never heard from: Unbound's 376 ms, so a
/// known fast server is preferred and an unknown one is still tried before
/// a slow one.
const UNKNOWN_RTT: Duration = Duration::from_millis(376);
/// Bounds on the time one attempt waits.
const MIN_TIMEOUT: Duration = Duration::from_millis(50);
const MAX_TIMEOUT: Duration = Duration::from_millis(2_000);
/// Failures in a row before a server is held down.
const FAILURES_BEFORE_HOLD: u32 = 3;
const MAX_HOLD: Duration = Duration::from_secs(120);
/// One pick in this many explores a server other than the fastest.
const EXPLORE_ONE_IN: u32 = 20;
/// How long a lame server is not asked about its zone again.
const LAME_FOR: Duration = Duration::from_secs(600);
/// How long a server that rejected EDNS is asked without it (Unbound
/// keeps such host facts for 900 s too), after which EDNS is tried again.
const NO_EDNS_FOR: Duration = Duration::from_secs(900);
/// Servers and lame pairs remembered; the least used are forgotten first.
const MAX_SERVERS: u64 = 50_000;
/// How long what is known of a server is kept.
const HEALTH_FOR: Duration = Duration::from_secs(900);

#[derive(Clone, Copy, Debug, Default)]
struct Health {
    /// Smoothed RTT and its variation, in microseconds; 0 if unknown.
    srtt_us: u64,
    rttvar_us: u64,
    failures: u32,
    held_until: Option<Instant>,
}

impl Health {
    fn expected_rtt(&self) -> Duration {
        if self.srtt_us == 0 {
            UNKNOWN_RTT
        } else {
            Duration::from_micros(self.srtt_us)
        }
    }

    /// RFC 6298: SRTT + 4 * RTTVAR, within bounds.
    fn timeout(&self) -> Duration {
        let rto = if self.srtt_us == 0 {
            UNKNOWN_RTT
        } else {
            Duration::from_micros(self.srtt_us + 4 * self.rttvar_us)
        };
        rto.clamp(MIN_TIMEOUT, MAX_TIMEOUT)
    }

    fn held(&self, now: Instant) -> bool {
        self.held_until.is_some_and(|until| now < until)
    }
}

/// The server to ask, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pick {
    pub addr: SocketAddr,
    /// How long to wait for this server before trying another.
    pub timeout: Duration,
}

/// What is known of one server, for operators.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServerHealth {
    pub addr: SocketAddr,
    /// Smoothed RTT; `None` until it has answered.
    pub srtt: Option<Duration>,
    /// Failures in a row.
    pub failures: u32,
    /// Passed over for now.
    pub held_down: bool,
}

/// Per-address health, shared by every resolution.
pub struct Infra {
    health: moka::sync::Cache<SocketAddr, Arc<Mutex<Health>>, RandomState>,
    /// (server, hash of the lowercase zone) pairs that answered lamely;
    /// hashed so a pick's lookups allocate nothing.
    lame: moka::sync::Cache<(SocketAddr, u64), (), RandomState>,
    zone_hasher: RandomState,
    /// Servers that rejected EDNS.
    no_edns: moka::sync::Cache<SocketAddr, (), RandomState>,
    /// Our client cookie for each server, and the server cookie it gave.
    pub cookies: ClientCookies,
}

impl Default for Infra {
    fn default() -> Self {
        Self::new()
    }
}

impl Infra {
    pub fn new() -> Self {
        Self {
            health: moka::sync::Cache::builder()
                .max_capacity(MAX_SERVERS)
                .time_to_live(HEALTH_FOR)
                .build_with_hasher(RandomState::default()),
            zone_hasher: RandomState::default(),
            lame: moka::sync::Cache::builder()
                .max_capacity(MAX_SERVERS)
                .time_to_live(LAME_FOR)
                .build_with_hasher(RandomState::default()),
            no_edns: moka::sync::Cache::builder()
                .max_capacity(MAX_SERVERS)
                .time_to_live(NO_EDNS_FOR)
                .build_with_hasher(RandomState::default()),
            cookies: ClientCookies::new(),
        }
    }

    /// Whether to send OPT to `addr`: yes, unless it recently rejected it.
    pub fn speaks_edns(&self, addr: SocketAddr) -> bool {
        !self.no_edns.contains_key(&addr)
    }

    /// `addr` answered FORMERR or NOTIMP to OPT: ask it without for a while.
    pub fn rejected_edns(&self, addr: SocketAddr) {
        self.no_edns.insert(addr, ());
    }

    fn get(&self, addr: SocketAddr) -> Health {
        self.health
            .get(&addr)
            .map(|h| *h.lock().unwrap_or_else(|e| e.into_inner()))
            .unwrap_or_default()
    }

    fn update(&self, addr: SocketAddr, f: impl FnOnce(&mut Health)) {
        let entry = self
            .health
            .get_with(addr, || Arc::new(Mutex::new(Health::default())));
        f(&mut entry.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// What is known of each of `addrs`.
    pub fn health_of(&self, addrs: &[SocketAddr]) -> Vec<ServerHealth> {
        let now = Instant::now();
        addrs
            .iter()
            .map(|&addr| {
                let h = self.get(addr);
                ServerHealth {
                    addr,
                    srtt: (h.srtt_us > 0).then(|| Duration::from_micros(h.srtt_us)),
                    failures: h.failures,
                    held_down: h.held(now),
                }
            })
            .collect()
    }

    /// Servers known, and how many of them are held down now.
    pub fn census(&self) -> (u64, u64) {
        let now = Instant::now();
        let mut held = 0;
        let mut known = 0;
        for (_, health) in self.health.iter() {
            known += 1;
            if health.lock().unwrap_or_else(|e| e.into_inner()).held(now) {
                held += 1;
            }
        }
        (known, held)
    }

    /// The server to ask next among `candidates`, skipping those `tried`
    /// and those lame for `zone` (lowercase wire form, or empty for
    /// none). Held-down servers come last, soonest-released first.
    pub fn pick(
        &self,
        candidates: &[SocketAddr],
        tried: &[SocketAddr],
        zone: &[u8],
    ) -> Option<Pick> {
        let now = Instant::now();
        let zone = (!zone.is_empty()).then(|| self.zone_hasher.hash_one(zone));
        let usable: Vec<(SocketAddr, Health)> = candidates
            .iter()
            .filter(|a| !tried.contains(a))
            .filter(|a| zone.is_none_or(|z| !self.lame.contains_key(&(**a, z))))
            .map(|&a| (a, self.get(a)))
            .collect();
        let live = || usable.iter().filter(|(_, h)| !h.held(now));
        let healthy = || live().filter(|(_, h)| h.failures == 0);
        let explore = healthy().count() > 1 && rand::random::<u32>().is_multiple_of(EXPLORE_ONE_IN);
        let (addr, health) = if live().next().is_none() {
            *usable.iter().min_by_key(|(_, h)| h.held_until)?
        } else if explore {
            let n = healthy().count();
            *healthy().nth(rand::random::<u32>() as usize % n)?
        } else {
            *live().min_by_key(|(_, h)| h.expected_rtt())?
        };
        Some(Pick {
            addr,
            timeout: health.timeout(),
        })
    }

    /// `addr` answered after `rtt`.
    pub fn success(&self, addr: SocketAddr, rtt: Duration) {
        self.update(addr, |h| {
            let r = rtt.as_micros().min(u128::from(u32::MAX)) as u64;
            // A first sample, or the first after failures inflated the
            // estimate, replaces it (RFC 6298 section 5, after backoff).
            if h.srtt_us == 0 || h.failures > 0 {
                h.srtt_us = r.max(1);
                h.rttvar_us = r / 2;
            } else {
                let delta = h.srtt_us.abs_diff(r);
                h.rttvar_us = (3 * h.rttvar_us + delta) / 4;
                h.srtt_us = ((7 * h.srtt_us + r) / 8).max(1);
            }
            h.failures = 0;
            h.held_until = None;
        });
    }

    /// `addr` timed out, failed, or gave an unusable answer.
    pub fn failure(&self, addr: SocketAddr) {
        self.update(addr, |h| {
            h.failures = h.failures.saturating_add(1);
            // Back off the estimate too, so a server that went slow is not
            // first in line at its old speed.
            let floor = UNKNOWN_RTT.as_micros() as u64 / 2;
            h.srtt_us = (h.srtt_us.max(floor) * 2).min(MAX_TIMEOUT.as_micros() as u64);
            if h.failures >= FAILURES_BEFORE_HOLD {
                let doublings = (h.failures - FAILURES_BEFORE_HOLD).min(7);
                let hold = (Duration::from_secs(1) * (1 << doublings)).min(MAX_HOLD);
                h.held_until = Some(Instant::now() + hold);
            }
        });
    }

    /// `addr` answered lamely for `zone`.
    pub fn lame(&self, addr: SocketAddr, zone: &[u8]) {
        self.lame
            .insert((addr, self.zone_hasher.hash_one(zone)), ());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(n: u16) -> Vec<SocketAddr> {
        (0..n)
            .map(|i| SocketAddr::from(([192, 0, 2, 1], 5300 + i)))
            .collect()
    }

    #[test]
    fn the_fastest_is_picked_most_of_the_time() {
        let infra = Infra::new();
        let a = addrs(3);
        infra.success(a[0], Duration::from_millis(50));
        infra.success(a[1], Duration::from_millis(5));
        infra.success(a[2], Duration::from_millis(20));
        let fastest = (0..1000)
            .filter(|_| infra.pick(&a, &[], b"").unwrap().addr == a[1])
            .count();
        assert!(fastest > 850, "{fastest}");
        assert!(fastest < 1000, "others are explored now and then");
    }

    #[test]
    fn every_server_is_tried_once_before_giving_up() {
        let infra = Infra::new();
        let a = addrs(3);
        let mut tried = Vec::new();
        for _ in 0..3 {
            tried.push(infra.pick(&a, &tried, b"").unwrap().addr);
        }
        tried.sort();
        assert_eq!(tried, a);
        assert_eq!(infra.pick(&a, &tried, b""), None);
    }

    #[test]
    fn failing_servers_are_held_down_and_come_back() {
        let infra = Infra::new();
        let a = addrs(2);
        infra.success(a[0], Duration::from_millis(1));
        infra.success(a[1], Duration::from_millis(30));
        for _ in 0..FAILURES_BEFORE_HOLD {
            infra.failure(a[0]);
        }
        for _ in 0..100 {
            assert_eq!(infra.pick(&a, &[], b"").unwrap().addr, a[1], "held down");
        }
        // With the other one tried, the held one is still offered.
        assert_eq!(infra.pick(&a, &[a[1]], b"").unwrap().addr, a[0]);
        infra.success(a[0], Duration::from_millis(1));
        assert!(
            (0..100)
                .filter(|_| infra.pick(&a, &[], b"").unwrap().addr == a[0])
                .count()
                > 80
        );
    }

    #[test]
    fn lame_servers_are_skipped_for_their_zone_only() {
        let infra = Infra::new();
        let a = addrs(2);
        infra.success(a[0], Duration::from_millis(1));
        infra.success(a[1], Duration::from_millis(30));
        infra.lame(a[0], b"\x04lame\x00");
        for _ in 0..50 {
            assert_eq!(infra.pick(&a, &[], b"\x04lame\x00").unwrap().addr, a[1]);
        }
        assert!(
            (0..100)
                .filter(|_| infra.pick(&a, &[], b"\x02ok\x00").unwrap().addr == a[0])
                .count()
                > 80
        );
    }

    #[test]
    fn a_server_that_failed_is_not_explored() {
        let infra = Infra::new();
        let a = addrs(2);
        infra.success(a[0], Duration::from_millis(1));
        infra.failure(a[1]);
        assert!((0..2000).all(|_| infra.pick(&a, &[], b"").unwrap().addr == a[0]));
        assert_eq!(
            infra.pick(&a, &[a[0]], b"").unwrap().addr,
            a[1],
            "still the last resort"
        );
    }

    #[test]
    fn timeouts_follow_the_rtt() {
        let infra = Infra::new();
        let a = addrs(1);
        assert_eq!(infra.pick(&a, &[], b"").unwrap().timeout, UNKNOWN_RTT);
        for _ in 0..20 {
            infra.success(a[0], Duration::from_millis(10));
        }
        let timeout = infra.pick(&a, &[], b"").unwrap().timeout;
        assert!(
            timeout >= MIN_TIMEOUT && timeout < Duration::from_millis(100),
            "{timeout:?}"
        );
    }
}

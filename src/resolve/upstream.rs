//! Choosing among upstream servers by smoothed round-trip time.
//!
//! Each server keeps an RTT estimate (RFC 6298 smoothing) and a count of
//! failures in a row. The fastest is asked first; now and then another is
//! asked instead, so a server that has become faster is noticed. A server
//! that keeps failing is held down for a while that doubles with each
//! failure, and asked again only when the hold ends or nobody else is left.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// What a caller learns from `Upstreams::pick`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pick {
    pub index: usize,
    pub addr: SocketAddr,
    /// How long to wait for this server before trying another.
    pub timeout: Duration,
}

/// The configured upstream servers and what is known of each.
pub struct Upstreams {
    addrs: Box<[SocketAddr]>,
    health: Mutex<Vec<Health>>,
}

impl Upstreams {
    pub fn new(addrs: &[SocketAddr]) -> Self {
        Self {
            addrs: addrs.into(),
            health: Mutex::new(vec![Health::default(); addrs.len()]),
        }
    }

    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }

    /// The server to ask next, among those not yet `tried` (bit i set:
    /// server i tried). Servers held down come last, soonest-released
    /// first.
    pub fn pick(&self, tried: u64) -> Option<Pick> {
        let now = Instant::now();
        let health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        let untried = || (0..self.addrs.len()).filter(|i| *i < 64 && tried & (1 << i) == 0);
        let live: Vec<usize> = untried().filter(|&i| !health[i].held(now)).collect();
        let index = if live.is_empty() {
            untried().min_by_key(|&i| health[i].held_until)?
        } else if live.len() > 1 && rand::random::<u32>().is_multiple_of(EXPLORE_ONE_IN) {
            live[rand::random::<u32>() as usize % live.len()]
        } else {
            *live.iter().min_by_key(|&&i| health[i].expected_rtt())?
        };
        Some(Pick {
            index,
            addr: self.addrs[index],
            timeout: health[index].timeout(),
        })
    }

    /// Server `index` answered after `rtt`.
    pub fn success(&self, index: usize, rtt: Duration) {
        let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        let h = &mut health[index];
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
    }

    /// Server `index` timed out or gave an unusable answer.
    pub fn failure(&self, index: usize) {
        let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        let h = &mut health[index];
        h.failures = h.failures.saturating_add(1);
        // Back off the estimate too, so a server that went slow is not
        // first in line at its old speed.
        h.srtt_us = (h.srtt_us.max(UNKNOWN_RTT.as_micros() as u64 / 2) * 2)
            .min(MAX_TIMEOUT.as_micros() as u64);
        if h.failures >= FAILURES_BEFORE_HOLD {
            let doublings = (h.failures - FAILURES_BEFORE_HOLD).min(7);
            let hold = (Duration::from_secs(1) * (1 << doublings)).min(MAX_HOLD);
            h.held_until = Some(Instant::now() + hold);
        }
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
        let upstreams = Upstreams::new(&addrs(3));
        upstreams.success(0, Duration::from_millis(50));
        upstreams.success(1, Duration::from_millis(5));
        upstreams.success(2, Duration::from_millis(20));
        let fastest = (0..1000)
            .filter(|_| upstreams.pick(0).unwrap().index == 1)
            .count();
        assert!(fastest > 850, "{fastest}");
        assert!(fastest < 1000, "others are explored now and then");
    }

    #[test]
    fn every_server_is_tried_once_before_giving_up() {
        let upstreams = Upstreams::new(&addrs(3));
        let mut tried = 0u64;
        for _ in 0..3 {
            tried |= 1 << upstreams.pick(tried).unwrap().index;
        }
        assert_eq!(tried, 0b111);
        assert_eq!(upstreams.pick(tried), None);
    }

    #[test]
    fn failing_servers_are_held_down_and_come_back() {
        let upstreams = Upstreams::new(&addrs(2));
        upstreams.success(0, Duration::from_millis(1));
        upstreams.success(1, Duration::from_millis(30));
        for _ in 0..FAILURES_BEFORE_HOLD {
            upstreams.failure(0);
        }
        for _ in 0..100 {
            assert_eq!(upstreams.pick(0).unwrap().index, 1, "held down");
        }
        // With the other one tried, the held one is still offered.
        assert_eq!(upstreams.pick(0b10).unwrap().index, 0);
        upstreams.success(0, Duration::from_millis(1));
        assert!(
            (0..100)
                .filter(|_| upstreams.pick(0).unwrap().index == 0)
                .count()
                > 80
        );
    }

    #[test]
    fn timeouts_follow_the_rtt() {
        let upstreams = Upstreams::new(&addrs(1));
        assert_eq!(upstreams.pick(0).unwrap().timeout, UNKNOWN_RTT);
        for _ in 0..20 {
            upstreams.success(0, Duration::from_millis(10));
        }
        let timeout = upstreams.pick(0).unwrap().timeout;
        assert!(
            timeout >= MIN_TIMEOUT && timeout < Duration::from_millis(100),
            "{timeout:?}"
        );
    }
}

//! Rate limits against floods from spoofed sources, both off by default:
//!
//! - **Recursion** (as Unbound's `ip-ratelimit`): queries a second from one
//!   client network that need the cache or the resolver. Past the limit a
//!   query is dropped, but one in `recursion_factor` still goes through
//!   (`ip-ratelimit-factor`), so a real client behind a flooded network
//!   gets some answers.
//! - **Authoritative responses** (response rate limiting, as NSD's and
//!   BIND's RRL): answers a second of one kind to one client network. One
//!   kind is one name and type, or for NXDOMAIN the whole zone, so a flood
//!   of random names counts as one. Past the limit every `slip`-th answer
//!   goes out truncated, empty and small, so a real client retries over
//!   TCP; the rest are dropped, and the victim of a reflection gets little.
//!
//! Only UDP queries without a valid server cookie count: TCP, TLS and a
//! cookie prove the source address, which is what spoofing takes away.
//!
//! The counts live in a fixed table of buckets indexed by a keyed hash, as
//! NSD's `rrl-size`: memory is bounded whatever the traffic, and two keys
//! that share a bucket share a limit (a false positive, never a miss).

use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use foldhash::fast::RandomState;

use crate::config::RateLimitConfig;

/// Buckets per table: 512 KiB each.
const BUCKETS: usize = 1 << 16;

/// What to do with a response past a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within the limit, or let through anyway.
    Send,
    /// A truncated empty response instead (RRL's slip).
    Slip,
    Drop,
}

/// Counts per key in one-second windows.
struct Table {
    /// The window's second (high 32 bits) and the count in it.
    buckets: Box<[AtomicU64]>,
    hasher: RandomState,
}

impl Table {
    fn new() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            hasher: RandomState::default(),
        }
    }

    /// Counts one event for `key` in second `now`; the count so far in
    /// this second, this one included.
    fn count(&self, key: impl Hash, now: u32) -> u32 {
        let index = self.hasher.hash_one(key) as usize % BUCKETS;
        let bucket = &self.buckets[index];
        let mut seen = bucket.load(Relaxed);
        loop {
            let count = if (seen >> 32) as u32 == now {
                (seen as u32).saturating_add(1)
            } else {
                1
            };
            let next = (u64::from(now) << 32) | u64::from(count);
            match bucket.compare_exchange_weak(seen, next, Relaxed, Relaxed) {
                Ok(_) => return count,
                Err(actual) => seen = actual,
            }
        }
    }
}

/// The client network a query counts against.
fn network(client: IpAddr, v4_bits: u8, v6_bits: u8) -> u128 {
    match client {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let mask = u32::MAX.checked_shl(32 - u32::from(v4_bits)).unwrap_or(0);
            u128::from(bits & mask)
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = u128::MAX.checked_shl(128 - u32::from(v6_bits)).unwrap_or(0);
            // Apart from every IPv4 network.
            (bits & mask) | 1
        }
    }
}

/// The kind of an authoritative response, for RRL.
#[derive(Hash)]
pub enum ResponseKind<'a> {
    /// An answer, NODATA or referral for this name and type.
    Name { name: &'a [u8], qtype: u16 },
    /// NXDOMAIN anywhere in this zone.
    NxDomain { zone: &'a [u8] },
}

pub struct RateLimits {
    config: RateLimitConfig,
    recursion: Option<Table>,
    responses: Option<Table>,
}

impl RateLimits {
    pub fn new(config: &RateLimitConfig) -> Self {
        Self {
            config: config.clone(),
            recursion: (config.recursion > 0).then(Table::new),
            responses: (config.responses > 0).then(Table::new),
        }
    }

    /// Whether any limit is on.
    pub fn enabled(&self) -> bool {
        self.recursion.is_some() || self.responses.is_some()
    }

    fn network(&self, client: IpAddr) -> u128 {
        network(client, self.config.ipv4_prefix, self.config.ipv6_prefix)
    }

    /// Whether a query from `client` that needs recursion may go on.
    pub fn recursion(&self, client: IpAddr, now: u32) -> Verdict {
        let Some(table) = &self.recursion else {
            return Verdict::Send;
        };
        let count = table.count(self.network(client), now);
        let over = count.saturating_sub(self.config.recursion);
        let factor = self.config.recursion_factor;
        if over == 0 || (factor > 0 && over % factor == 0) {
            Verdict::Send
        } else {
            Verdict::Drop
        }
    }

    /// What to do with an authoritative response of `kind` to `client`.
    pub fn response(&self, client: IpAddr, kind: ResponseKind<'_>, now: u32) -> Verdict {
        let Some(table) = &self.responses else {
            return Verdict::Send;
        };
        let count = table.count((self.network(client), kind), now);
        let over = count.saturating_sub(self.config.responses);
        let slip = self.config.slip;
        if over == 0 {
            Verdict::Send
        } else if slip > 0 && over % slip == 0 {
            Verdict::Slip
        } else {
            Verdict::Drop
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(recursion: u32, factor: u32, responses: u32, slip: u32) -> RateLimits {
        RateLimits::new(&RateLimitConfig {
            recursion,
            recursion_factor: factor,
            responses,
            slip,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
        })
    }

    #[test]
    fn a_network_gets_its_limit_a_second_then_one_in_factor() {
        let limits = limits(3, 4, 0, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let same_net: IpAddr = "192.0.2.200".parse().unwrap();
        let other: IpAddr = "198.51.100.1".parse().unwrap();
        let verdicts: Vec<Verdict> = (0..11)
            .map(|i| limits.recursion(if i % 2 == 0 { a } else { same_net }, 100))
            .collect();
        use Verdict::*;
        assert_eq!(
            verdicts,
            [
                Send, Send, Send, Drop, Drop, Drop, Send, Drop, Drop, Drop, Send
            ]
        );
        assert_eq!(limits.recursion(other, 100), Send);
        // A new second starts a new count.
        assert_eq!(limits.recursion(a, 101), Send);
        // Off: everything goes.
        let off = super::tests::limits(0, 4, 0, 2);
        assert!((0..100).all(|_| off.recursion(a, 100) == Send));
    }

    #[test]
    fn responses_past_the_limit_slip_one_in_slip_and_nxdomain_counts_per_zone() {
        let limits = limits(0, 0, 2, 2);
        let client: IpAddr = "2001:db8::1".parse().unwrap();
        let neighbour: IpAddr = "2001:db8:0:ff::1".parse().unwrap();
        let nx = |_| ResponseKind::NxDomain {
            zone: b"\x07example\x00",
        };
        let verdicts: Vec<Verdict> = (0..6)
            .map(|i| limits.response(if i % 2 == 0 { client } else { neighbour }, nx(i), 7))
            .collect();
        use Verdict::*;
        assert_eq!(verdicts, [Send, Send, Drop, Slip, Drop, Slip]);
        // Another kind has its own count.
        let www = ResponseKind::Name {
            name: b"\x03www\x07example\x00",
            qtype: 1,
        };
        assert_eq!(limits.response(client, www, 7), Send);
        let no_slip = super::tests::limits(0, 0, 1, 0);
        let kind = || ResponseKind::Name {
            name: b"\x00",
            qtype: 1,
        };
        assert_eq!(no_slip.response(client, kind(), 7), Send);
        assert!((0..10).all(|_| no_slip.response(client, kind(), 7) == Drop));
    }

    #[test]
    fn networks_are_masked_to_the_prefix() {
        let v4 = |s: &str| network(s.parse().unwrap(), 24, 56);
        assert_eq!(v4("192.0.2.1"), v4("192.0.2.254"));
        assert_ne!(v4("192.0.2.1"), v4("192.0.3.1"));
        assert_eq!(v4("2001:db8:0:1::1"), v4("2001:db8:0:ff::2"));
        assert_ne!(v4("2001:db8:0:100::1"), v4("2001:db8::1"));
        assert_eq!(network("192.0.2.1".parse().unwrap(), 0, 0), 0);
        assert_eq!(network("192.0.2.1".parse().unwrap(), 32, 128), 0xc000_0201);
    }
}

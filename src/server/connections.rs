//! Which TCP connections stay open when clients ask for more than we hold.
//!
//! A listener that waits for a free slot before accepting lets a few
//! thousand silent connections lock everyone out: the slots fill, then the
//! kernel's accept queue, and a real client's connect times out. Instead
//! every connection is accepted, and admitting one beyond a cap closes the
//! one idle longest: of the same network when that network is at its own
//! cap, otherwise of all. A client that sends a query at once is never the
//! idlest, so it is served however many connections sit idle; a flood of
//! connections mostly evicts itself. Connections with queries unanswered
//! are passed over while an idle one remains.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

/// The caps a table enforces.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnectionCaps {
    pub total: usize,
    /// Per IPv4 address or IPv6 /64: one host's share.
    pub per_network: usize,
}

/// The open connections of one listener.
pub(crate) struct ConnectionTable {
    caps: ConnectionCaps,
    epoch: Instant,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    next_id: u64,
    by_id: HashMap<u64, Member>,
    per_network: HashMap<Network, usize>,
}

struct Member {
    network: Network,
    activity: Arc<Activity>,
}

/// What a connection's tasks report, read when choosing whom to evict.
pub(crate) struct Activity {
    /// Milliseconds since the table's epoch of the last message read or
    /// answer written.
    last_ms: AtomicU64,
    /// Queries read and not yet answered.
    unanswered: AtomicU32,
    /// Cancelled when the connection is evicted.
    pub evicted: CancellationToken,
}

/// IPv4 addresses count one by one; IPv6 by /64, the smallest block a
/// host is normally given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Network(u128);

impl Network {
    fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(u32::from(v4) as u128),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(u32::from(v4) as u128),
                None => Self(u128::from(v6) & !((1u128 << 64) - 1) | 1 << 32),
            },
        }
    }
}

/// A place in the table, given up when dropped.
pub(crate) struct Admission {
    table: Arc<ConnectionTable>,
    id: u64,
    pub activity: Arc<Activity>,
}

impl ConnectionTable {
    pub(crate) fn new(caps: ConnectionCaps) -> Self {
        Self {
            caps: ConnectionCaps {
                total: caps.total.max(1),
                per_network: caps.per_network.max(1),
            },
            epoch: Instant::now(),
            open: Mutex::new(Open::default()),
        }
    }

    /// Admits a connection from `client`, and says whether another was
    /// evicted to make room.
    pub(crate) fn admit(self: &Arc<Self>, client: IpAddr) -> (Admission, bool) {
        let network = Network::of(client);
        let activity = Arc::new(Activity {
            last_ms: AtomicU64::new(self.now_ms()),
            unanswered: AtomicU32::new(0),
            evicted: CancellationToken::new(),
        });
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let mut evicted = false;
        let network_full =
            open.per_network.get(&network).copied().unwrap_or(0) >= self.caps.per_network;
        if network_full || open.by_id.len() >= self.caps.total {
            let only = network_full.then_some(network);
            if let Some(id) = open.idlest(only) {
                open.remove(id);
                evicted = true;
            }
        }
        let id = open.next_id;
        open.next_id += 1;
        open.by_id.insert(
            id,
            Member {
                network,
                activity: activity.clone(),
            },
        );
        *open.per_network.entry(network).or_insert(0) += 1;
        drop(open);
        (
            Admission {
                table: self.clone(),
                id,
                activity,
            },
            evicted,
        )
    }

    /// Open connections.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_id
            .len()
    }

    /// Closes the connection idle longest, to free its descriptor.
    pub(crate) fn evict_idlest(&self) -> bool {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        match open.idlest(None) {
            Some(id) => {
                open.remove(id);
                true
            }
            None => false,
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }
}

impl Open {
    /// The connection to evict: one with nothing unanswered before one
    /// waiting for answers, then the one whose last message is oldest.
    fn idlest(&self, within: Option<Network>) -> Option<u64> {
        self.by_id
            .iter()
            .filter(|(_, m)| within.is_none_or(|n| m.network == n))
            .min_by_key(|(_, m)| {
                (
                    m.activity.unanswered.load(Relaxed) > 0,
                    m.activity.last_ms.load(Relaxed),
                )
            })
            .map(|(&id, _)| id)
    }

    fn remove(&mut self, id: u64) {
        let Some(member) = self.by_id.remove(&id) else {
            return;
        };
        member.activity.evicted.cancel();
        if let Entry::Occupied(mut count) = self.per_network.entry(member.network) {
            *count.get_mut() -= 1;
            if *count.get() == 0 {
                count.remove();
            }
        }
    }
}

impl Admission {
    /// A message was read: the connection is busy until it is answered.
    pub(crate) fn query_read(&self) {
        self.touch();
        self.activity.unanswered.fetch_add(1, Relaxed);
    }

    /// An answer was written.
    pub(crate) fn answer_written(&self) {
        self.touch();
        let _ = self
            .activity
            .unanswered
            .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1));
    }

    fn touch(&self) {
        self.activity.last_ms.store(self.table.now_ms(), Relaxed);
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.by_id.contains_key(&self.id) {
            open.remove(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(total: usize, per_network: usize) -> Arc<ConnectionTable> {
        Arc::new(ConnectionTable::new(ConnectionCaps { total, per_network }))
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn a_network_at_its_cap_evicts_its_own_idlest() {
        let table = table(10, 2);
        let (a1, _) = table.admit(A);
        let (b1, _) = table.admit(B);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let (a2, _) = table.admit(A);
        a2.query_read();
        let (a3, evicted) = table.admit(A);
        assert!(evicted);
        assert!(a1.activity.evicted.is_cancelled(), "A's idlest goes");
        assert!(!b1.activity.evicted.is_cancelled(), "B is not A's to evict");
        assert!(!a2.activity.evicted.is_cancelled());
        assert_eq!(table.len(), 3);
        drop((a1, a3));
        assert_eq!(table.len(), 2, "an evicted admission is not removed twice");
    }

    #[test]
    fn the_table_at_its_cap_evicts_the_idlest_not_the_busy() {
        let table = table(2, 10);
        let (a, _) = table.admit(A);
        let (b, _) = table.admit(B);
        a.query_read();
        b.query_read();
        b.answer_written();
        let (_c, evicted) = table.admit(A);
        assert!(evicted);
        assert!(!a.activity.evicted.is_cancelled(), "awaiting an answer");
        assert!(b.activity.evicted.is_cancelled());
    }

    #[test]
    fn ipv6_hosts_share_their_64() {
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let two: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(Network::of(one), Network::of(two));
        assert_ne!(Network::of(one), Network::of(other));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(Network::of(mapped), Network::of(A));
    }
}

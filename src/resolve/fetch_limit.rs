//! Caps on queries outstanding to one zone and to one server, as BIND's
//! fetches-per-zone and fetches-per-server: a flood of unique names under
//! one zone, or a server that answers after seconds, may hold only so
//! many of the resolver's queries. Past a cap the resolution fails at
//! once (SERVFAIL, or stale data), instead of waiting in a queue that
//! would starve questions for every other zone.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::SocketAddr;
use std::sync::Mutex;

/// The caps; 0 turns one off.
#[derive(Clone, Copy, Debug)]
pub struct FetchCaps {
    pub per_zone: u32,
    pub per_server: u32,
}

/// Queries outstanding, by zone cut (its key) and by server.
pub struct FetchLimits {
    caps: FetchCaps,
    zones: Counts<Box<[u8]>>,
    servers: Counts<SocketAddr>,
}

/// Which cap refused a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Zone,
    Server,
}

/// One outstanding query, counted until dropped.
pub struct Fetch<'a> {
    limits: &'a FetchLimits,
    zone: Box<[u8]>,
    server: SocketAddr,
}

/// Counts by key; a key whose count falls to 0 is removed, so the map
/// holds at most as many keys as there are queries outstanding.
struct Counts<K>(Mutex<HashMap<K, u32>>);

impl<K: Eq + Hash> Counts<K> {
    fn new() -> Self {
        Self(Mutex::new(HashMap::new()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, u32>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn release<K: Eq + Hash>(counts: &mut HashMap<K, u32>, key: &K) {
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}

impl FetchLimits {
    pub fn new(caps: FetchCaps) -> Self {
        Self {
            caps,
            zones: Counts::new(),
            servers: Counts::new(),
        }
    }

    /// Counts a query to `server` for the zone `zone`, unless either is at
    /// its cap.
    pub fn start(&self, zone: &[u8], server: SocketAddr) -> Result<Fetch<'_>, Refusal> {
        let mut zones = self.zones.lock();
        let in_zone = zones.get(zone).copied().unwrap_or(0);
        if self.caps.per_zone != 0 && in_zone >= self.caps.per_zone {
            return Err(Refusal::Zone);
        }
        {
            let mut servers = self.servers.lock();
            let at_server = servers.get(&server).copied().unwrap_or(0);
            if self.caps.per_server != 0 && at_server >= self.caps.per_server {
                return Err(Refusal::Server);
            }
            servers.insert(server, at_server + 1);
        }
        *zones.entry(zone.into()).or_insert(0) += 1;
        Ok(Fetch {
            limits: self,
            zone: zone.into(),
            server,
        })
    }

    /// Queries outstanding in all.
    pub fn outstanding(&self) -> u32 {
        self.servers.lock().values().sum()
    }
}

impl Drop for Fetch<'_> {
    fn drop(&mut self) {
        release(&mut self.limits.zones.lock(), &self.zone);
        release(&mut self.limits.servers.lock(), &self.server);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 1);
    const TWO: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 2);

    #[test]
    fn a_zone_at_its_cap_refuses_and_others_go_on() {
        let limits = FetchLimits::new(FetchCaps {
            per_zone: 2,
            per_server: 0,
        });
        let a = limits.start(b"\x01a\x00", ONE).unwrap();
        let _b = limits.start(b"\x01a\x00", TWO).unwrap();
        assert_eq!(limits.start(b"\x01a\x00", ONE).err(), Some(Refusal::Zone));
        let _other = limits.start(b"\x01b\x00", ONE).unwrap();
        drop(a);
        let _again = limits.start(b"\x01a\x00", ONE).unwrap();
        assert_eq!(limits.outstanding(), 3);
    }

    #[test]
    fn a_server_at_its_cap_refuses_for_every_zone() {
        let limits = FetchLimits::new(FetchCaps {
            per_zone: 0,
            per_server: 1,
        });
        let held = limits.start(b"\x01a\x00", ONE).unwrap();
        assert_eq!(limits.start(b"\x01b\x00", ONE).err(), Some(Refusal::Server));
        let _elsewhere = limits.start(b"\x01b\x00", TWO).unwrap();
        drop(held);
        assert_eq!(limits.outstanding(), 1);
        assert!(limits.zones.lock().get(b"\x01a\x00".as_slice()).is_none());
    }
}

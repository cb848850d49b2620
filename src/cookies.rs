//! Server cookies (RFC 7873, in the interoperable form of RFC 9018): a
//! client that sends a cookie gets back its own with a server cookie bound
//! to its address, which it returns on later queries and which proves it
//! saw our answers (no spoofed source). Version 1, a timestamp and a
//! SipHash-2-4 over the client cookie, version, timestamp and client
//! address, keyed with a secret made at start.

use std::hash::Hasher;
use std::net::IpAddr;

/// Version of the server cookie layout (RFC 9018 section 4.2).
const VERSION: u8 = 1;
/// A server cookie older than this is not valid (RFC 9018 4.3: one
/// hour), nor one from more than 5 minutes ahead.
const LIFETIME: u32 = 3600;
const AHEAD: u32 = 300;

/// A valid server cookie younger than this is returned as it is; an
/// older one is replaced (RFC 9018 section 4.3).
const REUSE_FOR: u32 = 1800;

pub struct ServerCookies {
    key: (u64, u64),
}

impl ServerCookies {
    pub fn new() -> Self {
        Self {
            key: (rand::random(), rand::random()),
        }
    }

    /// A server cookie for `client_cookie` from `client` at `now` (Unix
    /// seconds): version, three reserved octets, time, hash.
    pub fn make(&self, client_cookie: &[u8; 8], client: IpAddr, now: u32) -> [u8; 16] {
        let mut cookie = [0u8; 16];
        cookie[0] = VERSION;
        cookie[4..8].copy_from_slice(&now.to_be_bytes());
        let hash = self.hash(client_cookie, &cookie[..8], client);
        cookie[8..].copy_from_slice(&hash.to_be_bytes());
        cookie
    }

    /// The server cookie to send back: the client's own when it is one we
    /// made for it less than half an hour ago, else a new one.
    pub fn answer(
        &self,
        client_cookie: &[u8; 8],
        server_cookie: &[u8],
        client: IpAddr,
        now: u32,
    ) -> [u8; 16] {
        match self.age(client_cookie, server_cookie, client, now) {
            Some(age) if age < REUSE_FOR => {
                let mut same = [0u8; 16];
                same.copy_from_slice(server_cookie);
                same
            }
            _ => self.make(client_cookie, client, now),
        }
    }

    /// How old `server_cookie` is, if it is one we made for this client
    /// and still valid.
    pub fn age(
        &self,
        client_cookie: &[u8; 8],
        server_cookie: &[u8],
        client: IpAddr,
        now: u32,
    ) -> Option<u32> {
        let cookie = <&[u8; 16]>::try_from(server_cookie).ok()?;
        let made = u32::from_be_bytes([cookie[4], cookie[5], cookie[6], cookie[7]]);
        // Serial-number arithmetic (RFC 1982), as RFC 9018 asks.
        let age = now.wrapping_sub(made);
        let fresh = age <= LIFETIME || made.wrapping_sub(now) <= AHEAD;
        let hash = self.hash(client_cookie, &cookie[..8], client).to_be_bytes();
        (cookie[0] == VERSION && fresh && constant_time_eq(&hash, &cookie[8..]))
            .then_some(if age <= LIFETIME { age } else { 0 })
    }

    fn hash(&self, client_cookie: &[u8; 8], head: &[u8], client: IpAddr) -> u64 {
        #[allow(deprecated)]
        let mut hasher = std::hash::SipHasher::new_with_keys(self.key.0, self.key.1);
        hasher.write(client_cookie);
        hasher.write(head);
        match client {
            IpAddr::V4(v4) => hasher.write(&v4.octets()),
            IpAddr::V6(v6) => hasher.write(&v6.octets()),
        }
        hasher.finish()
    }
}

impl Default for ServerCookies {
    fn default() -> Self {
        Self::new()
    }
}

/// Compares without stopping at the first difference, so the time taken
/// does not tell a forger how much of a hash was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() != b.len()) as u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_we_made_is_valid_for_its_client_and_an_hour() {
        let cookies = ServerCookies::new();
        let client = IpAddr::from([192, 0, 2, 1]);
        let other = IpAddr::from([192, 0, 2, 2]);
        let now = 1_800_000_000;
        let made = cookies.make(&[7; 8], client, now);
        assert_eq!(made[0], 1);
        assert_eq!(cookies.age(&[7; 8], &made, client, now + 10), Some(10));
        assert_eq!(cookies.age(&[7; 8], &made, other, now), None);
        assert_eq!(cookies.age(&[8; 8], &made, client, now), None);
        assert_eq!(cookies.age(&[7; 8], &made, client, now + 3601), None);
        assert_eq!(cookies.age(&[7; 8], &made[..8], client, now), None);
        let mut forged = made;
        forged[15] ^= 1;
        assert_eq!(cookies.age(&[7; 8], &forged, client, now), None);
        // Another server's secret: not ours.
        assert_eq!(ServerCookies::new().age(&[7; 8], &made, client, now), None);
        // Reused for half an hour, then replaced.
        assert_eq!(cookies.answer(&[7; 8], &made, client, now + 1799), made);
        let renewed = cookies.answer(&[7; 8], &made, client, now + 1800);
        assert_ne!(renewed, made);
        assert_eq!(cookies.age(&[7; 8], &renewed, client, now + 1800), Some(0));
    }
}

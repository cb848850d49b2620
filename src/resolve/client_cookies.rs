//! Client cookies towards the servers we ask (RFC 7873 section 5.1): each
//! query carries a client cookie, and the server cookie the server last
//! gave us. An answer whose COOKIE option holds another client cookie
//! was not sent by the server we asked and is dropped; so an off-path
//! forger must guess 64 more bits than the ID and port, as BIND's
//! `send-cookie` gives it.
//!
//! The client cookie is a SipHash-2-4 of the server's address under a
//! secret made at start (RFC 7873 section 4.1): stable per server, so
//! its server cookie stays valid, and different for every server, so
//! servers cannot link our queries to each other.

use std::hash::Hasher;
use std::net::IpAddr;
use std::time::Duration;

use foldhash::fast::RandomState;

/// The longest a server cookie may be (RFC 7873 section 4.2: 8 to 32).
pub const MAX_SERVER_COOKIE: usize = 32;
const MIN_SERVER_COOKIE: usize = 8;

/// Servers whose cookie is remembered; the least used are forgotten.
const MAX_SERVERS: u64 = 50_000;
/// A server cookie is forgotten after this, as RFC 9018 servers stop
/// accepting theirs after an hour.
const KEEP_FOR: Duration = Duration::from_secs(3600);

/// A server cookie as the server gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerCookie {
    bytes: [u8; MAX_SERVER_COOKIE],
    len: u8,
}

impl ServerCookie {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// What a response's COOKIE option says about it.
#[derive(Debug, PartialEq, Eq)]
pub enum CookieCheck {
    /// No COOKIE option: a server that does not do cookies.
    Absent,
    /// Our client cookie, and the server's, now remembered.
    Ours,
    /// Another client cookie, or a malformed option: not an answer from
    /// the server we asked.
    Forged,
}

pub struct ClientCookies {
    key: (u64, u64),
    servers: moka::sync::Cache<IpAddr, ServerCookie, RandomState>,
}

impl Default for ClientCookies {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientCookies {
    pub fn new() -> Self {
        Self {
            key: (rand::random(), rand::random()),
            servers: moka::sync::Cache::builder()
                .max_capacity(MAX_SERVERS)
                .time_to_live(KEEP_FOR)
                .build_with_hasher(RandomState::default()),
        }
    }

    /// Our client cookie for `server`.
    pub fn client_cookie(&self, server: IpAddr) -> [u8; 8] {
        #[allow(deprecated)]
        let mut hasher = std::hash::SipHasher::new_with_keys(self.key.0, self.key.1);
        match server {
            IpAddr::V4(v4) => hasher.write(&v4.octets()),
            IpAddr::V6(v6) => hasher.write(&v6.octets()),
        }
        hasher.finish().to_be_bytes()
    }

    /// The server cookie `server` last gave us.
    pub fn server_cookie(&self, server: IpAddr) -> Option<ServerCookie> {
        self.servers.get(&server)
    }

    /// Forgets the cookie of `server`, which answered over TCP without
    /// one: it no longer does cookies.
    pub fn forget(&self, server: IpAddr) {
        self.servers.invalidate(&server);
    }

    /// Checks the COOKIE option `option` of a response from `server`
    /// (its data, if the response has one) against what we sent, and
    /// remembers the server cookie in it.
    pub fn check(&self, server: IpAddr, sent: &[u8; 8], option: Option<&[u8]>) -> CookieCheck {
        let Some(option) = option else {
            return CookieCheck::Absent;
        };
        let server_part = option.len().saturating_sub(8);
        if option.get(..8) != Some(sent.as_slice())
            || !(MIN_SERVER_COOKIE..=MAX_SERVER_COOKIE).contains(&server_part)
        {
            return CookieCheck::Forged;
        }
        let mut cookie = ServerCookie {
            bytes: [0; MAX_SERVER_COOKIE],
            len: server_part as u8,
        };
        cookie.bytes[..server_part].copy_from_slice(&option[8..]);
        if self.servers.get(&server) != Some(cookie) {
            self.servers.insert(server, cookie);
        }
        CookieCheck::Ours
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_cookie_is_remembered_only_with_our_client_cookie() {
        let cookies = ClientCookies::new();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let ours = cookies.client_cookie(a);
        assert_eq!(ours, cookies.client_cookie(a));
        assert_ne!(ours, cookies.client_cookie(b));
        assert_eq!(cookies.check(a, &ours, None), CookieCheck::Absent);
        assert_eq!(cookies.server_cookie(a), None);

        let mut option = ours.to_vec();
        option.extend_from_slice(&[9; 16]);
        assert_eq!(cookies.check(a, &ours, Some(&option)), CookieCheck::Ours);
        assert_eq!(cookies.server_cookie(a).unwrap().as_bytes(), &[9; 16]);

        // Another client cookie, or a server cookie of a size RFC 7873
        // does not allow: forged, and nothing learned.
        let mut other = cookies.client_cookie(b).to_vec();
        other.extend_from_slice(&[7; 16]);
        assert_eq!(cookies.check(a, &ours, Some(&other)), CookieCheck::Forged);
        for len in [0, 7, 33] {
            let mut odd = ours.to_vec();
            odd.extend(std::iter::repeat_n(1, len));
            assert_eq!(cookies.check(a, &ours, Some(&odd)), CookieCheck::Forged);
        }
        assert_eq!(cookies.server_cookie(a).unwrap().as_bytes(), &[9; 16]);
    }
}

//! hearsay: a caching recursive DNS resolver and authoritative server whose
//! instances share their caches as peers.
//!
//! The query pipeline, in module order: [`server`] receives, [`wire`]
//! decodes, [`responder`] decides, [`zone`] or [`cache`] answers, and on a
//! miss [`resolve`] asks the owning sibling ([`siblings`]), upstreams or
//! authoritative servers; [`wire`] encodes, [`server`] sends. Off that
//! path: [`control`], [`metrics`], [`persist`], [`querylog`].
//! ARCHITECTURE.md has the map.

pub mod access;
pub mod cache;
pub mod config;
pub mod control;
pub mod cookies;
pub mod counters;
pub mod dnssec;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod identity;
pub mod metrics;
pub mod persist;
pub mod querylog;
pub mod rate_limit;
pub mod resolve;
pub mod responder;
pub mod server;
pub mod siblings;
pub mod special_use;
pub mod wire;
pub mod zone;

pub use config::Config;
pub use server::Server;

/// Seconds since the Unix epoch (0 if the clock is before it): for
/// signature times and file stamps that other hosts and later runs read.
pub(crate) fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub(crate) fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

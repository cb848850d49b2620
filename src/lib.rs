//! hearsay: a caching recursive DNS resolver and authoritative server whose
//! instances share their caches as peers.
//!
//! The query pipeline, in module order: [`server`] receives, [`wire`]
//! decodes, [`responder`] decides, [`zone`] answers, [`wire`] encodes,
//! [`server`] sends. ARCHITECTURE.md has the map.

pub mod access;
pub mod cache;
pub mod config;
pub mod control;
pub mod counters;
pub mod metrics;
pub mod persist;
pub mod querylog;
pub mod resolve;
pub mod responder;
pub mod server;
pub mod siblings;
pub mod wire;
pub mod zone;

pub use config::Config;
pub use server::Server;

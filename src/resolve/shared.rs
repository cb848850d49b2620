//! Identical questions to one authoritative server, asked by different
//! resolutions at once, share one exchange, as Unbound's serviced queries
//! do: a burst of cold questions under one zone costs the servers above it
//! one referral each, not one per question. The first asker leads; the
//! others get a copy of its response, or how it failed (`Rendezvous`).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::Message;

use super::exchange::ExchangeError;
use super::rendezvous::{Rendezvous, Turn};

/// Most exchanges in flight that others may join; past it, askers ask
/// on their own.
const MAX_SHARED: usize = 10_000;

/// A server, and a question in wire form (name, then type).
type Key = (SocketAddr, Box<[u8]>);

/// How a shared exchange ended.
#[derive(Debug)]
pub enum Ended {
    Answered(Message),
    TimedOut,
    Failed(io::ErrorKind),
}

impl Ended {
    pub fn of(outcome: &Result<Message, ExchangeError>) -> Ended {
        match outcome {
            Ok(message) => Ended::Answered(message.clone()),
            Err(ExchangeError::Timeout) => Ended::TimedOut,
            Err(ExchangeError::Network(e)) => Ended::Failed(e.kind()),
        }
    }

    /// The outcome for a joiner; no outcome in time is a timeout.
    pub fn outcome(ended: Option<Arc<Ended>>) -> Result<Message, ExchangeError> {
        match ended.as_deref() {
            Some(Ended::Answered(message)) => Ok(message.clone()),
            Some(Ended::Failed(kind)) => Err(ExchangeError::Network(io::Error::from(*kind))),
            Some(Ended::TimedOut) | None => Err(ExchangeError::Timeout),
        }
    }
}

/// The exchanges under way that others may join.
pub struct Shared(Rendezvous<Key, Ended>);

impl Default for Shared {
    fn default() -> Self {
        Self(Rendezvous::new(MAX_SHARED, || Ended::TimedOut))
    }
}

impl Shared {
    /// Leads or joins the exchange of (`name`, `qtype`) with `server`.
    pub fn arrive(&self, server: SocketAddr, name: &[u8], qtype: u16) -> Turn<'_, Key, Ended> {
        let mut question = Vec::with_capacity(name.len() + 2);
        question.extend_from_slice(name);
        question.extend_from_slice(&qtype.to_be_bytes());
        self.0.arrive((server, question.into_boxed_slice()))
    }
}

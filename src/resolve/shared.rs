//! Identical questions to one authoritative server, asked by different
//! resolutions at once, share one exchange, as Unbound's serviced queries
//! do: a burst of cold questions under one zone costs the servers above it
//! one referral each, not one per question.
//!
//! The first asker leads: it asks, and hands a copy of the response (or
//! how it failed) to every asker that joined while it waited. A leader
//! whose future is dropped tells the others it failed, so nobody waits for
//! nothing; each waits no longer than its own deadline anyway.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use foldhash::fast::RandomState;
use hickory_proto::op::Message;
use tokio::sync::watch;
use tokio::time::{Instant, timeout_at};

use super::exchange::ExchangeError;

/// Most exchanges in flight that others may join; past it, askers ask
/// on their own.
const MAX_SHARED: usize = 10_000;

type Key = (SocketAddr, Box<[u8]>);

/// How a shared exchange ended.
#[derive(Debug)]
enum Ended {
    Answered(Message),
    TimedOut,
    Failed(io::ErrorKind),
}

type Slot = watch::Receiver<Option<Arc<Ended>>>;
/// Made when the first asker joins, so an exchange nobody joins costs
/// no channel.
type Listeners = Option<watch::Sender<Option<Arc<Ended>>>>;

/// An exchange joined, to wait for.
pub struct Joined(Slot);

/// The exchanges under way that others may join.
#[derive(Default)]
pub struct Shared {
    under_way: Mutex<HashMap<Key, Listeners, RandomState>>,
}

/// An asker's part in one exchange.
pub enum Turn<'a> {
    /// Ask, then `finish` with the outcome.
    Lead(Lead<'a>),
    /// Another asker is asking: wait for its outcome.
    Join(Joined),
}

/// The duty to ask for everyone who joins.
pub struct Lead<'a> {
    shared: &'a Shared,
    /// `None` when not shared (too many under way), or once ended.
    key: Option<Key>,
}

impl Shared {
    /// Leads or joins the exchange of `question` (wire name and type) with
    /// `server`.
    pub fn turn(&self, server: SocketAddr, name: &[u8], qtype: u16) -> Turn<'_> {
        let mut question = Vec::with_capacity(name.len() + 2);
        question.extend_from_slice(name);
        question.extend_from_slice(&qtype.to_be_bytes());
        let key = (server, question.into_boxed_slice());
        let mut under_way = self.under_way.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(listeners) = under_way.get_mut(&key) {
            let sender = listeners.get_or_insert_with(|| watch::channel(None).0);
            return Turn::Join(Joined(sender.subscribe()));
        }
        if under_way.len() >= MAX_SHARED {
            return Turn::Lead(Lead {
                shared: self,
                key: None,
            });
        }
        under_way.insert(key.clone(), None);
        Turn::Lead(Lead {
            shared: self,
            key: Some(key),
        })
    }

    /// Ends the exchange under `key`, telling whoever joined.
    fn end(&self, key: &Key, ended: impl FnOnce() -> Ended) {
        let listeners = self
            .under_way
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key)
            .flatten();
        if let Some(sender) = listeners {
            let _ = sender.send(Some(Arc::new(ended())));
        }
    }
}

impl Lead<'_> {
    /// Hands the outcome to everyone who joined, and returns it.
    pub fn finish(
        mut self,
        outcome: Result<Message, ExchangeError>,
    ) -> Result<Message, ExchangeError> {
        // The response is copied only if somebody joined.
        if let Some(key) = self.key.take() {
            self.shared.end(&key, || match &outcome {
                Ok(message) => Ended::Answered(message.clone()),
                Err(ExchangeError::Timeout) => Ended::TimedOut,
                Err(ExchangeError::Network(e)) => Ended::Failed(e.kind()),
            });
        }
        outcome
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.shared.end(&key, || Ended::TimedOut);
        }
    }
}

impl Joined {
    /// Waits, until `deadline` at most, for the exchange joined.
    pub async fn wait(mut self, deadline: Instant) -> Result<Message, ExchangeError> {
        let ended = match timeout_at(deadline, self.0.wait_for(Option::is_some)).await {
            Ok(Ok(ended)) => ended.clone(),
            _ => None,
        };
        match ended.as_deref() {
            Some(Ended::Answered(message)) => Ok(message.clone()),
            Some(Ended::Failed(kind)) => Err(ExchangeError::Network(io::Error::from(*kind))),
            Some(Ended::TimedOut) | None => Err(ExchangeError::Timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> SocketAddr {
        "192.0.2.1:53".parse().unwrap()
    }

    #[tokio::test]
    async fn joiners_get_the_leaders_response() {
        let shared = Shared::default();
        let Turn::Lead(lead) = shared.turn(server(), b"\x03com\x00", 1) else {
            panic!("the first asker leads");
        };
        let Turn::Join(slot) = shared.turn(server(), b"\x03com\x00", 1) else {
            panic!("the second joins");
        };
        assert!(matches!(
            shared.turn(server(), b"\x03net\x00", 1),
            Turn::Lead(_)
        ));
        let message = Message::query();
        let id = message.metadata.id;
        assert!(lead.finish(Ok(message)).is_ok());
        let got = slot
            .wait(Instant::now() + std::time::Duration::from_secs(1))
            .await;
        assert_eq!(got.unwrap().metadata.id, id);
        assert!(
            matches!(shared.turn(server(), b"\x03com\x00", 1), Turn::Lead(_)),
            "ended"
        );
    }

    #[tokio::test]
    async fn a_dropped_leader_fails_its_joiners_at_once() {
        let shared = Shared::default();
        let lead = shared.turn(server(), b"\x00", 2);
        let Turn::Join(slot) = shared.turn(server(), b"\x00", 2) else {
            panic!("joins");
        };
        drop(lead);
        let started = Instant::now();
        let got = slot
            .wait(Instant::now() + std::time::Duration::from_secs(5))
            .await;
        assert!(matches!(got, Err(ExchangeError::Timeout)));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
}

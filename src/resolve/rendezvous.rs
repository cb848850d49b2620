//! Meeting points for work asked for twice at once: the first to arrive
//! for a key leads (does the work), whoever arrives while it works joins,
//! and gets what the leader found. Resolutions of one question meet here
//! (one flight per question), and so do identical questions to one server
//! (one exchange each).
//!
//! Nothing is paid for company that never comes: the channel that tells
//! joiners is made when the first one joins. A leader dropped before it
//! finishes (its future cancelled) hands its joiners `gave_up()`, so nobody
//! waits for nothing; and each joiner waits until its own deadline at most.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use foldhash::fast::RandomState;
use tokio::sync::watch;
use tokio::time::{Instant, timeout_at};

type Listeners<V> = Option<watch::Sender<Option<Arc<V>>>>;

/// The meeting points under way, by key; at most `max` of them.
pub struct Rendezvous<K, V> {
    under_way: Mutex<HashMap<K, Listeners<V>, RandomState>>,
    max: usize,
    /// What the joiners of a leader that gave up are handed.
    gave_up: fn() -> V,
}

/// An arrival's part.
pub enum Turn<'a, K: Hash + Eq, V> {
    /// Do the work, then `finish` with what was found.
    Lead(Lead<'a, K, V>),
    /// Another is at it: `wait` for what it finds.
    Join(Joined<V>),
    /// Too much is under way to take on more.
    Full,
}

/// The duty to do the work for whoever joins.
pub struct Lead<'a, K: Hash + Eq, V> {
    rendezvous: &'a Rendezvous<K, V>,
    /// Taken when finished.
    key: Option<K>,
}

/// A place taken beside a leader, to wait for what it finds.
pub struct Joined<V>(watch::Receiver<Option<Arc<V>>>);

impl<K: Hash + Eq, V> Rendezvous<K, V> {
    /// Ends the work for `key`: whoever joined is handed `found()`.
    fn end(&self, key: &K, found: impl FnOnce() -> Arc<V>) {
        let listeners = self
            .under_way
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key)
            .flatten();
        if let Some(sender) = listeners {
            let _ = sender.send(Some(found()));
        }
    }
}

impl<K: Hash + Eq + Clone, V> Rendezvous<K, V> {
    pub fn new(max: usize, gave_up: fn() -> V) -> Self {
        Self {
            under_way: Mutex::new(HashMap::default()),
            max,
            gave_up,
        }
    }

    /// Leads or joins the work for `key`.
    pub fn arrive(&self, key: K) -> Turn<'_, K, V> {
        let mut under_way = self.under_way.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(listeners) = under_way.get_mut(&key) {
            let sender = listeners.get_or_insert_with(|| watch::channel(None).0);
            return Turn::Join(Joined(sender.subscribe()));
        }
        if under_way.len() >= self.max {
            return Turn::Full;
        }
        under_way.insert(key.clone(), None);
        Turn::Lead(Lead {
            rendezvous: self,
            key: Some(key),
        })
    }
}

impl<K: Hash + Eq, V> Lead<'_, K, V> {
    /// Hands what was found to whoever joined (made by `found`, only if
    /// somebody did).
    pub fn finish(mut self, found: impl FnOnce() -> Arc<V>) {
        if let Some(key) = self.key.take() {
            self.rendezvous.end(&key, found);
        }
    }
}

impl<K: Hash + Eq, V> Drop for Lead<'_, K, V> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let gave_up = self.rendezvous.gave_up;
            self.rendezvous.end(&key, || Arc::new(gave_up()));
        }
    }
}

impl<V> Joined<V> {
    /// Waits, until `deadline` at most, for what the leader finds; `None`
    /// if the deadline comes first.
    pub async fn wait(mut self, deadline: Instant) -> Option<Arc<V>> {
        match timeout_at(deadline, self.0.wait_for(Option::is_some)).await {
            Ok(Ok(found)) => found.clone(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rendezvous(max: usize) -> Rendezvous<&'static str, u32> {
        Rendezvous::new(max, || 0)
    }

    #[tokio::test]
    async fn joiners_get_what_the_leader_found() {
        let meet = rendezvous(10);
        let Turn::Lead(lead) = meet.arrive("com") else {
            panic!("the first leads");
        };
        let Turn::Join(joined) = meet.arrive("com") else {
            panic!("the second joins");
        };
        assert!(matches!(meet.arrive("net"), Turn::Lead(_)));
        lead.finish(|| Arc::new(7));
        let found = joined.wait(Instant::now() + Duration::from_secs(1)).await;
        assert_eq!(found.as_deref(), Some(&7));
        assert!(matches!(meet.arrive("com"), Turn::Lead(_)), "ended");
    }

    #[tokio::test]
    async fn a_leader_that_gives_up_fails_its_joiners_at_once() {
        let meet = rendezvous(10);
        let lead = meet.arrive("com");
        let Turn::Join(joined) = meet.arrive("com") else {
            panic!("joins");
        };
        drop(lead);
        let started = Instant::now();
        let found = joined.wait(Instant::now() + Duration::from_secs(5)).await;
        assert_eq!(found.as_deref(), Some(&0));
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn it_is_bounded_and_unshared_work_costs_no_channel() {
        let meet = rendezvous(1);
        let lead = meet.arrive("com");
        assert!(matches!(meet.arrive("net"), Turn::Full));
        let Turn::Lead(lead) = lead else {
            panic!("leads");
        };
        let mut made = false;
        lead.finish(|| {
            made = true;
            Arc::new(1)
        });
        assert!(!made, "nobody joined, nothing handed over");
        let waiting = Turn::Join::<&str, u32>(Joined(watch::channel(None).1));
        let Turn::Join(joined) = waiting else {
            unreachable!()
        };
        assert_eq!(joined.wait(Instant::now()).await, None, "the deadline");
    }
}

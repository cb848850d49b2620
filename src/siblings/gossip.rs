//! Membership: who is in the cluster and alive, kept by foca, a SWIM
//! implementation (failure detection by direct and indirect probes,
//! updates piggybacked on probes), chosen because it is sans-IO — it
//! fits our own socket, key and timers — and small. Its packets travel
//! sealed with the cluster key on the sibling port.
//!
//! Seeds are announced to at start and again while they are not members,
//! so members that start in any order, or heal after a partition, find
//! each other without a config change.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;
use std::time::Duration;

use foca::{
    AccumulatingRuntime, Config, Foca, OwnedNotification, PeriodicParams, PostcardCodec, State,
    Timer,
};
use serde::{Deserialize, Serialize};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::time::DelayQueue;
use tracing::{debug, info};

use super::Siblings;

/// How often seeds that are not members are announced to.
const ANNOUNCE_EVERY: Duration = Duration::from_secs(2);
/// Timers foca may have pending at once; more are dropped (foca re-arms
/// its periodic ones, and a lost probe timer only delays a probe).
const MAX_TIMERS: usize = 4096;

/// A member as foca knows it: its sibling address, and an incarnation
/// that grows when it rejoins, so a restarted member wins over its ghost.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MemberId {
    addr: SocketAddr,
    incarnation: u64,
}

impl foca::Identity for MemberId {
    type Addr = SocketAddr;

    fn renew(&self) -> Option<Self> {
        Some(Self {
            addr: self.addr,
            incarnation: self.incarnation.wrapping_add(1),
        })
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.incarnation > adversary.incarnation
    }
}

/// Runs membership until `shutdown`, then says goodbye to the cluster.
/// `inbox` carries gossip payloads the listener has authenticated.
pub async fn run_gossip(
    siblings: Arc<Siblings>,
    socket: Arc<UdpSocket>,
    seeds: Vec<SocketAddr>,
    mut inbox: mpsc::Receiver<Vec<u8>>,
    shutdown: CancellationToken,
) {
    // The incarnation is when we started, which other members use to
    // tell who may have a warm cache.
    let me = MemberId {
        addr: siblings.me(),
        incarnation: siblings.started_ms(),
    };
    let mut foca = Foca::new(
        me,
        config_for(seeds.len() + 1),
        rand::make_rng::<rand::rngs::StdRng>(),
        PostcardCodec,
    );
    let mut runtime = AccumulatingRuntime::new();
    let mut timers: DelayQueue<Timer<MemberId>> = DelayQueue::new();
    let mut announce = tokio::time::interval(ANNOUNCE_EVERY);
    let seeds: Vec<SocketAddr> = seeds.into_iter().filter(|s| *s != siblings.me()).collect();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                let _ = foca.leave_cluster(&mut runtime);
                flush(&mut runtime, &mut timers, &siblings, &socket, &mut foca).await;
                return;
            }
            Some(payload) = inbox.recv() => {
                if let Err(e) = foca.handle_data(&payload, &mut runtime) {
                    debug!("gossip not understood: {e}");
                }
            }
            Some(expired) = std::future::poll_fn(|cx| timers.poll_expired(cx)), if !timers.is_empty() => {
                let _ = foca.handle_timer(expired.into_inner(), &mut runtime);
            }
            _ = announce.tick() => {
                let known: Vec<SocketAddr> = foca.iter_members().map(|m| m.id().addr).collect();
                for seed in seeds.iter().filter(|s| !known.contains(s)) {
                    let _ = foca.announce(MemberId { addr: *seed, incarnation: 0 }, &mut runtime);
                }
            }
        }
        flush(&mut runtime, &mut timers, &siblings, &socket, &mut foca).await;
    }
}

/// foca's LAN settings for a cluster of `members`: how many times an
/// update is passed on (4 log10(n + 1)) and how long a suspect has to
/// refute (4 log10(n) probe periods) both grow with it, so a suspicion
/// reaches every member before it expires. They are set again whenever
/// the member count changes, so 16 members started with 2 seeds are not
/// gossiped to as if they were 3.
fn config_for(members: usize) -> Config {
    let size = NonZeroU32::new(members.max(3) as u32).unwrap_or(NonZeroU32::MIN);
    let mut config = Config::new_lan(size);
    // Down members are forgotten soon, so a restarted one rejoins fast.
    config.remove_down_after = Some(Duration::from_secs(15));
    // Every second each member asks one other for its whole member list
    // (foca's Feed): a member an update never reached (updates are
    // passed on a bounded number of times) fills the gap within seconds
    // rather than waiting to be probed by the one it missed, which takes
    // up to a probe round over every member. It is what bounds how long
    // member lists take to agree after a partition heals.
    config.periodic_announce = Some(PeriodicParams {
        frequency: Duration::from_secs(1),
        num_members: NonZeroUsize::MIN,
    });
    config
}

/// Sends what foca wants sent, arms its timers, and publishes the member
/// list when it changed.
async fn flush(
    runtime: &mut AccumulatingRuntime<MemberId>,
    timers: &mut DelayQueue<Timer<MemberId>>,
    siblings: &Siblings,
    socket: &UdpSocket,
    foca: &mut Foca<MemberId, PostcardCodec, rand::rngs::StdRng, foca::NoCustomBroadcast>,
) {
    while let Some((to, payload)) = runtime.to_send() {
        let packet = siblings.key().seal(&payload);
        // Gossip is best effort: a full send buffer loses a packet, which
        // SWIM tolerates.
        let _ = socket.try_send_to(&packet, to.addr);
    }
    while let Some((delay, timer)) = runtime.to_schedule() {
        if timers.len() < MAX_TIMERS {
            timers.insert(timer, delay);
        }
    }
    let mut joined_or_left = false;
    while let Some(notification) = runtime.to_notify() {
        match notification {
            OwnedNotification::MemberUp(_)
            | OwnedNotification::MemberDown(_)
            | OwnedNotification::Rename(_, _) => joined_or_left = true,
            _ => {}
        }
    }
    if joined_or_left {
        let _ = foca.set_config(config_for(foca.num_members() + 1));
    }
    // Owners are chosen among members nobody suspects: a suspicion
    // spreads by gossip within a few hundred milliseconds, well before
    // it turns into a verdict, so every member moves a failing owner's
    // names to the same successor before its own queries time out.
    let alive: Vec<(SocketAddr, u64)> = foca
        .iter_members()
        .filter(|m| m.state() == State::Alive)
        .map(|m| (m.id().addr, m.id().incarnation))
        .collect();
    if siblings.set_members(alive) {
        info!(members = ?siblings.members(), "sibling members changed");
    }
}

/// Hands one authenticated gossip payload to a fresh member, as the
/// listener would, and drains what foca wants done: the fuzz target's
/// view of a member holding the cluster key.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn feed(payload: &[u8]) {
    let me = MemberId {
        addr: SocketAddr::from(([127, 0, 0, 1], 1)),
        incarnation: 1,
    };
    let config = Config::new_lan(NonZeroU32::MIN.saturating_add(2));
    let mut foca = Foca::new(
        me,
        config,
        <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1),
        PostcardCodec,
    );
    let mut runtime = AccumulatingRuntime::new();
    let _ = foca.handle_data(payload, &mut runtime);
    while runtime.to_send().is_some() {}
    while runtime.to_schedule().is_some() {}
    while runtime.to_notify().is_some() {}
    let _ = foca.iter_members().count();
}

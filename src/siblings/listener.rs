//! The sibling port: answers signed questions from siblings out of the
//! cache or by resolving them (never by asking another sibling), and hands
//! authenticated gossip packets to the membership task. Everything else
//! is refused and counted.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::key::is_gossip;
use super::{SIBLING_UDP_SIZE, Siblings, TSIG_ROOM};
use crate::cache::{Cache, Lookup};
use crate::counters::{Counters, SiblingEvent};
use crate::resolve::{Outcome, Resolver};
use crate::wire::response::{ReplyOptions, write_header_only, write_status};
use crate::wire::{class, decode, opcode, rcode};

/// Sibling questions answered at once; more are dropped (the asker hedges).
const MAX_IN_FLIGHT: usize = 1024;

pub struct SiblingListener {
    pub socket: Arc<UdpSocket>,
    pub siblings: Arc<Siblings>,
    pub resolver: Arc<Resolver>,
    pub cache: Arc<Cache>,
    pub gossip: mpsc::Sender<Vec<u8>>,
    pub counters: Arc<Counters>,
    pub shutdown: CancellationToken,
    pub tasks: TaskTracker,
}

pub async fn serve(listener: Arc<SiblingListener>) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut buf = vec![0u8; usize::from(SIBLING_UDP_SIZE)];
    loop {
        let (len, from) = tokio::select! {
            _ = listener.shutdown.cancelled() => return,
            received = listener.socket.recv_from(&mut buf) => match received {
                Ok(received) => received,
                Err(_) => {
                    listener.counters.network_error();
                    continue;
                }
            },
        };
        let packet = &buf[..len];
        if is_gossip(packet) {
            match listener.siblings.key().open(packet) {
                // A full queue drops gossip; SWIM copes with loss.
                Ok(payload) => drop(listener.gossip.try_send(payload.to_vec())),
                Err(rejection) => {
                    listener.counters.sibling(SiblingEvent::Rejected);
                    tracing::debug!(%from, "gossip rejected: {rejection}");
                }
            }
            continue;
        }
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            listener.counters.overload_dropped();
            continue;
        };
        let packet = packet.to_vec();
        let (socket, siblings, resolver, cache, counters) = (
            listener.socket.clone(),
            listener.siblings.clone(),
            listener.resolver.clone(),
            listener.cache.clone(),
            listener.counters.clone(),
        );
        listener.tasks.spawn(async move {
            let max_len = usize::from(SIBLING_UDP_SIZE);
            let answered = answer(
                &packet, from, max_len, &siblings, &resolver, &cache, &counters,
            );
            if let Some(answer) = answered.await {
                let _ = socket.send_to(&answer, from).await;
            }
            drop(slot);
        });
    }
}

/// Sibling TCP connections served at once; more wait in the kernel.
const MAX_TCP_CONNECTIONS: usize = 64;
/// A TCP connection idle this long, or an answer not read within it, ends.
const TCP_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// The sibling port over TCP, for answers too large for UDP: length-
/// prefixed questions, the same checks and answers as over UDP.
pub async fn serve_tcp(tcp: tokio::net::TcpListener, listener: Arc<SiblingListener>) {
    let slots = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
    while let Some(((stream, from), slot)) =
        crate::server::next_connection(&slots, &listener.shutdown, || tcp.accept()).await
    {
        let listener = listener.clone();
        listener.tasks.clone().spawn(async move {
            let _ = converse(stream, from, &listener).await;
            drop(slot);
        });
    }
}

async fn converse(
    mut stream: tokio::net::TcpStream,
    from: SocketAddr,
    listener: &SiblingListener,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::time::timeout;
    let expired = |_| std::io::Error::from(std::io::ErrorKind::TimedOut);
    loop {
        let mut prefix = [0u8; 2];
        match timeout(TCP_DEADLINE, stream.read_exact(&mut prefix)).await {
            Ok(Ok(_)) => {}
            // Closed between questions, or idle: done.
            _ => return Ok(()),
        }
        let mut packet = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
        timeout(TCP_DEADLINE, stream.read_exact(&mut packet))
            .await
            .map_err(expired)??;
        let Some(mut answer) = answer(
            &packet,
            from,
            crate::wire::MAX_MESSAGE_SIZE,
            &listener.siblings,
            &listener.resolver,
            &listener.cache,
            &listener.counters,
        )
        .await
        else {
            return Ok(());
        };
        let len = u16::try_from(answer.len()).unwrap_or(u16::MAX);
        answer.splice(0..0, len.to_be_bytes());
        timeout(TCP_DEADLINE, stream.write_all(&answer))
            .await
            .map_err(expired)??;
    }
}

/// The signed answer to a sibling's question, at most `max_len` bytes,
/// or a bare refusal.
async fn answer(
    packet: &[u8],
    from: SocketAddr,
    max_len: usize,
    siblings: &Siblings,
    resolver: &Arc<Resolver>,
    cache: &Cache,
    counters: &Counters,
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(512);
    let verified = siblings
        .key()
        .verify(packet, None)
        .and_then(|mac| siblings.first_sight(mac));
    let query_mac = match verified {
        Ok(mac) => mac,
        Err(rejection) => {
            counters.sibling(SiblingEvent::Rejected);
            tracing::debug!(%from, "sibling query rejected: {rejection}");
            // RFC 8945 section 5.2: NOTAUTH, unsigned; never to a
            // response, or two listeners could bounce refusals forever.
            let header = crate::wire::decode(packet).ok()?.header;
            if header.flags & crate::wire::flags::QR != 0 {
                return None;
            }
            write_header_only(&mut out, header, rcode::NOTAUTH);
            return Some(out);
        }
    };
    let query = match decode(packet) {
        Ok(query) => query,
        Err(error) => {
            counters.malformed(error.reason);
            return None;
        }
    };
    // Answers arrive on the asker's own socket, never here.
    if query.header.flags & crate::wire::flags::QR != 0 {
        return None;
    }
    let opts = ReplyOptions {
        max_len: max_len - TSIG_ROOM,
        our_udp_size: SIBLING_UDP_SIZE,
        recursion_available: true,
    };
    counters.sibling(SiblingEvent::QueryReceived);
    if query.header.opcode() != opcode::QUERY || query.qclass != class::IN {
        write_status(&mut out, &query, rcode::REFUSED, opts);
    } else {
        let now = cache.now_ms();
        let validates = resolver.validates();
        match cache.lookup(&query.key, query.qtype, now) {
            // What validation has not seen is not passed on unchecked.
            Lookup::Hit { chain, refresh } if !validates || chain.validated() => {
                if refresh {
                    resolver.refresh_here(query.key.as_bytes(), query.qtype);
                }
                counters.sibling(SiblingEvent::ServedFromCache);
                // AD says whether it validated; bogus data is SERVFAIL.
                chain.answer(&mut out, &query, now, false, opts);
            }
            // A peek (RD clear) asks for the cache only.
            Lookup::Hit { .. } | Lookup::Stale(_) | Lookup::Miss
                if query.header.flags & crate::wire::flags::RD == 0 =>
            {
                write_status(&mut out, &query, rcode::REFUSED, opts);
            }
            // Stale data is never passed on as fresh: resolve it.
            Lookup::Hit { .. } | Lookup::Stale(_) | Lookup::Miss => {
                counters.sibling(SiblingEvent::ServedResolved);
                let outcome = resolver
                    .resolve_for_sibling(query.key.as_bytes(), query.qtype)
                    .await;
                match &*outcome {
                    Outcome::Answered(chain) => {
                        chain.answer(&mut out, &query, cache.now_ms(), false, opts);
                    }
                    Outcome::Failed(_) => write_status(&mut out, &query, rcode::SERVFAIL, opts),
                }
            }
        }
    }
    siblings.key().sign_answer(&mut out, &query_mac)?;
    Some(out)
}

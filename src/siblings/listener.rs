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
use crate::wire::{class, decode, opcode, rcode, rtype};

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

/// A referral to `cut` for a sibling that asked for the cut above the
/// question's name: its NS set in the authority section with the TTL it
/// has left, the addresses we hold for its servers in the additional
/// section (dropped, with TC set, if they do not fit in `max_len`).
fn referral(
    query: &crate::wire::Query,
    cut: &crate::resolve::Delegation,
    max_len: usize,
) -> Option<Vec<u8>> {
    use hickory_proto::op::{Message, OpCode, Query};
    use hickory_proto::rr::rdata::{A, AAAA, NS};
    use hickory_proto::rr::{RData, Record, RecordType};
    let qname = crate::wire::name::wire_to_name(query.qname_wire())?;
    let ttl = cut
        .remaining()
        .map_or(0, |left| u32::try_from(left).unwrap_or(u32::MAX));
    let mut message = Message::response(query.header.id, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.metadata.recursion_available = true;
    message.add_query(Query::query(qname, RecordType::NS));
    for server in &cut.servers {
        message.add_authority(Record::from_rdata(
            cut.zone.clone(),
            ttl,
            RData::NS(NS(server.name.clone())),
        ));
        for addr in &server.addrs {
            let data = match addr {
                std::net::IpAddr::V4(v4) => RData::A(A(*v4)),
                std::net::IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
            };
            message.add_additional(Record::from_rdata(server.name.clone(), ttl, data));
        }
    }
    let bytes = message.to_vec().ok()?;
    if bytes.len() <= max_len {
        return Some(bytes);
    }
    message.additionals.clear();
    message.metadata.truncation = true;
    message.to_vec().ok()
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
    let wants_cut = query.edns.is_some_and(|edns| edns.sibling_cut);
    if query.header.opcode() != opcode::QUERY || query.qclass != class::IN {
        write_status(&mut out, &query, rcode::REFUSED, opts);
    } else if wants_cut {
        counters.sibling(SiblingEvent::CutServed);
        let asks_cut = query.qtype == rtype::NS && query.header.flags & crate::wire::flags::RD != 0;
        let cut = if asks_cut {
            resolver.cut_for_sibling(query.key.as_bytes()).await
        } else {
            None
        };
        match cut.and_then(|cut| referral(&query, &cut, opts.max_len)) {
            Some(referral) => out = referral,
            None => write_status(&mut out, &query, rcode::REFUSED, opts),
        }
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

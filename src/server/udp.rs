//! The UDP listener: the hot path. Each socket has a thread of its own,
//! which receives, answers into reused buffers, and sends; nothing is
//! allocated per query answered from a zone or the cache. On Linux queries
//! and answers move in batches (see `mmsg`). Queries that need resolving
//! get a task of their own on the resolution runtime, which sends its
//! answer when it has one. The thread is the point: however many
//! resolutions a flood of missing names has ready to run, a query for a
//! cached name never waits in their queue, only for the kernel to
//! schedule a thread that does little else.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ErrorLog;
use crate::counters::{Counters, Transport};
use crate::responder::{Action, Pending, Responder};

/// How long answers may wait for room in the socket's send buffer before
/// they are dropped; the clients will retry.
const SEND_DEADLINE: Duration = Duration::from_millis(200);

/// What a UDP socket task needs.
pub struct UdpListener {
    pub socket: Arc<UdpSocket>,
    pub responder: Arc<Responder>,
    pub counters: Arc<Counters>,
    pub shutdown: CancellationToken,
    pub tasks: TaskTracker,
    /// Where resolutions run.
    pub resolution: tokio::runtime::Handle,
}

/// Serves `socket` on a thread of its own until shutdown; resolutions go
/// to the runtime this is called from. The thread counts as one of
/// `tasks` until it ends.
pub fn spawn_thread(
    socket: std::net::UdpSocket,
    responder: Arc<Responder>,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let socket = {
        let _inside = runtime.enter();
        Arc::new(UdpSocket::from_std(socket)?)
    };
    let token = tasks.token();
    let listener = UdpListener {
        socket,
        responder,
        counters,
        shutdown,
        tasks,
        resolution: tokio::runtime::Handle::current(),
    };
    std::thread::Builder::new()
        .name("hearsay-udp".into())
        .spawn(move || {
            runtime.block_on(serve(listener));
            drop(token);
        })?;
    Ok(())
}

impl UdpListener {
    /// Resolves in a task of its own and sends the answer to `peer`.
    fn spawn_resolution(&self, pending: Pending, peer: SocketAddr) {
        let (socket, responder, counters) = (
            self.socket.clone(),
            self.responder.clone(),
            self.counters.clone(),
        );
        let resolution = async move {
            let mut out = Vec::with_capacity(crate::wire::PLAIN_UDP_SIZE);
            responder.resolve(pending, &mut out).await;
            let mut errors = ErrorLog::new("udp", counters.clone());
            send_one(&socket, &out, peer, &counters, &mut errors).await;
        };
        self.tasks.spawn_on(resolution, &self.resolution);
    }
}

/// Serves one UDP socket until shutdown.
#[cfg(target_os = "linux")]
pub async fn serve(listener: UdpListener) {
    use std::os::fd::AsRawFd;
    use tokio::io::Interest;

    use super::mmsg::{Received, Replies};

    let socket = &listener.socket;
    let fd = socket.as_raw_fd();
    let mut received = Received::new();
    let mut replies = Replies::new(crate::wire::PLAIN_UDP_SIZE * 8);
    let mut errors = ErrorLog::new("udp", listener.counters.clone());
    let cancelled = listener.shutdown.cancelled();
    tokio::pin!(cancelled);
    loop {
        let count = tokio::select! {
            biased;
            _ = &mut cancelled => break,
            count = socket.async_io(Interest::READABLE, || received.receive(fd)) => count,
        };
        let count = match count {
            Ok(count) => count,
            // ICMP errors from earlier sends surface here on Linux; they
            // concern some other client, never this socket.
            Err(e) => {
                errors.log(&e);
                continue;
            }
        };
        replies.clear();
        let received_at = std::time::Instant::now();
        for i in 0..count {
            let Some(peer) = received.peer(i) else {
                continue;
            };
            let packet = received.packet(i);
            match listener.responder.respond(
                packet,
                peer.ip(),
                Transport::Udp,
                received_at,
                replies.next_buffer(),
            ) {
                Action::Reply => replies.commit(&received, i),
                Action::Drop | Action::Busy => {}
                Action::Resolve(pending) => listener.spawn_resolution(pending, peer),
            }
        }
        let mut sent = 0;
        while sent < replies.len() {
            match socket.try_io(Interest::WRITABLE, || replies.send(fd, sent)) {
                Ok(n) => sent += n.max(1),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if tokio::time::timeout(SEND_DEADLINE, socket.writable())
                        .await
                        .is_err()
                    {
                        for _ in sent..replies.len() {
                            listener.counters.udp_send_dropped();
                        }
                        break;
                    }
                }
                // The first unsent reply's destination is unreachable or
                // the like: skip it, send the rest.
                Err(e) => {
                    errors.log(&e);
                    sent += 1;
                }
            }
        }
        if !replies.is_empty() {
            listener
                .counters
                .latency(received_at.elapsed(), replies.len() as u64);
        }
    }
}

/// Serves one UDP socket until shutdown.
#[cfg(not(target_os = "linux"))]
pub async fn serve(listener: UdpListener) {
    let socket = &listener.socket;
    let mut packet = vec![0u8; crate::wire::MAX_MESSAGE_SIZE];
    let mut out = Vec::with_capacity(crate::wire::MAX_MESSAGE_SIZE);
    let mut errors = ErrorLog::new("udp", listener.counters.clone());
    let cancelled = listener.shutdown.cancelled();
    tokio::pin!(cancelled);
    loop {
        let received = tokio::select! {
            biased;
            _ = &mut cancelled => break,
            received = socket.recv_from(&mut packet) => received,
        };
        let (len, peer) = match received {
            Ok(received) => received,
            Err(e) => {
                errors.log(&e);
                continue;
            }
        };
        let received_at = std::time::Instant::now();
        match listener.responder.respond(
            &packet[..len],
            peer.ip(),
            Transport::Udp,
            received_at,
            &mut out,
        ) {
            Action::Reply => {
                send_one(socket, &out, peer, &listener.counters, &mut errors).await;
                listener.counters.latency(received_at.elapsed(), 1);
            }
            Action::Drop | Action::Busy => {}
            Action::Resolve(pending) => listener.spawn_resolution(pending, peer),
        }
    }
}

/// Sends one answer without a timer when the socket has room, which is
/// nearly always; otherwise waits at most `SEND_DEADLINE`.
async fn send_one(
    socket: &UdpSocket,
    out: &[u8],
    peer: SocketAddr,
    counters: &Counters,
    errors: &mut ErrorLog,
) {
    match socket.try_send_to(out, peer) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            match tokio::time::timeout(SEND_DEADLINE, socket.send_to(out, peer)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => errors.log(&e),
                Err(_) => counters.udp_send_dropped(),
            }
        }
        Err(e) => errors.log(&e),
    }
}

//! The UDP listener: the hot path. One task per socket receives, answers
//! into reused buffers, and sends; nothing is allocated per query. On Linux
//! queries and answers move in batches (see `mmsg`).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::ErrorLog;
use crate::counters::{Counters, Transport};
use crate::responder::Responder;

/// How long answers may wait for room in the socket's send buffer before
/// they are dropped; the clients will retry.
const SEND_DEADLINE: Duration = Duration::from_millis(200);

/// Serves one UDP socket until `shutdown` is cancelled.
#[cfg(target_os = "linux")]
pub async fn serve(
    socket: UdpSocket,
    responder: Arc<Responder>,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
) {
    use std::os::fd::AsRawFd;
    use tokio::io::Interest;

    use super::mmsg::{Received, Replies};

    let fd = socket.as_raw_fd();
    let mut received = Received::new();
    let mut replies = Replies::new(crate::wire::PLAIN_UDP_SIZE * 8);
    let mut errors = ErrorLog::new("udp", counters.clone());
    let cancelled = shutdown.cancelled();
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
        for i in 0..count {
            if responder.respond(received.packet(i), Transport::Udp, replies.next_buffer()) {
                replies.commit(&received, i);
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
                            counters.udp_send_dropped();
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
    }
}

/// Serves one UDP socket until `shutdown` is cancelled.
#[cfg(not(target_os = "linux"))]
pub async fn serve(
    socket: UdpSocket,
    responder: Arc<Responder>,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
) {
    let mut packet = vec![0u8; crate::wire::MAX_MESSAGE_SIZE];
    let mut out = Vec::with_capacity(crate::wire::MAX_MESSAGE_SIZE);
    let mut errors = ErrorLog::new("udp", counters.clone());
    let cancelled = shutdown.cancelled();
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
        if !responder.respond(&packet[..len], Transport::Udp, &mut out) {
            continue;
        }
        match socket.try_send_to(&out, peer) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                match tokio::time::timeout(SEND_DEADLINE, socket.send_to(&out, peer)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => errors.log(&e),
                    Err(_) => counters.udp_send_dropped(),
                }
            }
            Err(e) => errors.log(&e),
        }
    }
}

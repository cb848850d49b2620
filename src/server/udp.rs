//! The UDP listener: the hot path. One task per socket receives into one
//! buffer, answers into another, and sends; nothing is allocated per query.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::ErrorLog;
use crate::counters::{Counters, Transport};
use crate::responder::Responder;
use crate::wire::MAX_MESSAGE_SIZE;

/// How long a response may wait for room in the socket's send buffer
/// before it is dropped; the client will retry.
const SEND_DEADLINE: Duration = Duration::from_millis(200);

/// Serves one UDP socket until `shutdown` is cancelled.
pub async fn serve(
    socket: UdpSocket,
    responder: Arc<Responder>,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
) {
    let mut packet = vec![0u8; MAX_MESSAGE_SIZE];
    let mut out = Vec::with_capacity(MAX_MESSAGE_SIZE);
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
            // ICMP errors from earlier sends surface here on Linux; they
            // concern some other client, never this socket.
            Err(e) => {
                errors.log(&e);
                continue;
            }
        };
        if responder.respond(&packet[..len], Transport::Udp, &mut out) {
            send(&socket, &out, peer, &counters, &mut errors).await;
        }
    }
}

/// Sends without a timer when the socket has room, which is nearly always;
/// otherwise waits at most `SEND_DEADLINE`.
async fn send(
    socket: &UdpSocket,
    out: &[u8],
    peer: SocketAddr,
    counters: &Counters,
    errors: &mut ErrorLog,
) {
    match socket.try_send_to(out, peer) {
        Ok(_) => return,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => {
            errors.log(&e);
            return;
        }
    }
    match tokio::time::timeout(SEND_DEADLINE, socket.send_to(out, peer)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => errors.log(&e),
        Err(_) => counters.udp_send_dropped(),
    }
}

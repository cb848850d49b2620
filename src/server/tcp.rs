//! The TCP listener (RFC 7766): length-prefixed messages, many queries per
//! connection, answers written as they complete.
//!
//! Limits: a semaphore caps connections (the rest wait in the accept
//! queue); each connection has a bound on unanswered queries; every read
//! and write has a deadline, so a slow or silent client costs a small task
//! and a socket for at most that long, never a worker thread.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ErrorLog;
use crate::counters::{Counters, TcpClose, Transport};
use crate::responder::{Action, Responder};

/// Limits for TCP clients.
#[derive(Clone, Copy, Debug)]
pub struct TcpLimits {
    /// No complete query for this long closes the connection; also the
    /// deadline for writing an answer.
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_in_flight: usize,
}

/// Accepts connections until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    responder: Arc<Responder>,
    counters: Arc<Counters>,
    limits: TcpLimits,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut errors = ErrorLog::new("tcp accept", counters.clone());
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    errors.log(&e);
                    // Out of file descriptors and the like: back off
                    // instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        counters.tcp_connection();
        let (responder, counters, shutdown) =
            (responder.clone(), counters.clone(), shutdown.clone());
        tasks.spawn(async move {
            connection(stream, peer.ip(), responder, counters, limits, shutdown).await;
            drop(permit);
        });
    }
}

/// Serves one connection: this task reads and answers, a second one writes,
/// so a client that reads slowly holds up only its own answers.
async fn connection(
    stream: TcpStream,
    client: IpAddr,
    responder: Arc<Responder>,
    counters: Arc<Counters>,
    limits: TcpLimits,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let (reader, writer) = stream.into_split();
    let (answers, queue) = mpsc::channel(limits.max_in_flight);
    let write_failed = CancellationToken::new();
    let writing = tokio::spawn(write_answers(
        writer,
        queue,
        limits.idle_timeout,
        counters.clone(),
        write_failed.clone(),
    ));
    let reading = Reading {
        client,
        responder,
        counters,
        idle: limits.idle_timeout,
        answers,
        in_flight: Arc::new(Semaphore::new(limits.max_in_flight)),
    };
    reading.run(reader, &shutdown, &write_failed).await;
    // The queue closes when the reader and every resolution still under
    // way are done with it; the writer then sends what is queued and
    // closes the connection.
    let _ = writing.await;
}

/// The reading side of a connection.
struct Reading {
    client: IpAddr,
    responder: Arc<Responder>,
    counters: Arc<Counters>,
    idle: Duration,
    answers: mpsc::Sender<Vec<u8>>,
    /// One permit per unanswered query: when they are all out, the
    /// connection is not read until an answer goes out.
    in_flight: Arc<Semaphore>,
}

impl Reading {
    async fn run(
        self,
        mut reader: OwnedReadHalf,
        shutdown: &CancellationToken,
        write_failed: &CancellationToken,
    ) {
        let mut packet = Vec::new();
        loop {
            let slot = tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = write_failed.cancelled() => return,
                slot = self.in_flight.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => return,
                },
            };
            let mut prefix = [0u8; 2];
            let read = tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = write_failed.cancelled() => return,
                read = timeout(self.idle, reader.read_exact(&mut prefix)) => read,
            };
            match read {
                Ok(Ok(_)) => {}
                // EOF or reset between messages: the client is done.
                Ok(Err(_)) => return,
                Err(_) => {
                    self.counters.tcp_closed(TcpClose::Idle);
                    return;
                }
            }
            packet.resize(u16::from_be_bytes(prefix) as usize, 0);
            match timeout(self.idle, reader.read_exact(&mut packet)).await {
                Ok(Ok(_)) => {}
                Ok(Err(_)) => return,
                Err(_) => {
                    self.counters.tcp_closed(TcpClose::Idle);
                    return;
                }
            }
            let mut answer = Vec::new();
            let received_at = std::time::Instant::now();
            match self.responder.respond(
                &packet,
                self.client,
                Transport::Tcp,
                received_at,
                &mut answer,
            ) {
                Action::Reply => {
                    self.counters.latency(received_at.elapsed(), 1);
                    // A full queue means the client is not reading; wait no
                    // longer than it would be allowed to stay idle.
                    if !matches!(
                        timeout(self.idle, self.answers.send(answer)).await,
                        Ok(Ok(()))
                    ) {
                        return;
                    }
                    drop(slot);
                }
                Action::Drop => {
                    // Not even a readable query header: not a DNS client.
                    self.counters.tcp_closed(TcpClose::Garbage);
                    return;
                }
                Action::Busy => return,
                Action::Resolve(pending) => {
                    let (responder, answers, idle) =
                        (self.responder.clone(), self.answers.clone(), self.idle);
                    tokio::spawn(async move {
                        responder.resolve(pending, &mut answer).await;
                        let _ = timeout(idle, answers.send(answer)).await;
                        drop(slot);
                    });
                }
            }
        }
    }
}

/// Writes answers with their length prefix, batching those that are ready
/// together into one send.
async fn write_answers(
    writer: OwnedWriteHalf,
    mut queue: mpsc::Receiver<Vec<u8>>,
    deadline: Duration,
    counters: Arc<Counters>,
    failed: CancellationToken,
) {
    let mut writer = BufWriter::new(writer);
    while let Some(answer) = queue.recv().await {
        let write = async {
            writer
                .write_all(&(answer.len() as u16).to_be_bytes())
                .await?;
            writer.write_all(&answer).await?;
            if queue.is_empty() {
                writer.flush().await?;
            }
            Ok::<_, io::Error>(())
        };
        match timeout(deadline, write).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                failed.cancel();
                return;
            }
            Err(_) => {
                counters.tcp_closed(TcpClose::WriteTimeout);
                failed.cancel();
                return;
            }
        }
    }
    let _ = timeout(deadline, writer.shutdown()).await;
}

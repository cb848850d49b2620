//! The TCP listener (RFC 7766): length-prefixed messages, many queries per
//! connection, answers written as they complete.
//!
//! Limits: every connection is accepted at once, and one beyond the caps
//! evicts the connection idle longest (`connections.rs`), so idle or
//! stalled clients cannot lock a new one out. Once a message's first byte
//! arrives the rest must follow within `message_timeout` (Knot's
//! tcp-io-timeout); between messages a connection may sit idle for
//! `idle_timeout`. Each connection has a bound on unanswered queries, and
//! every write a deadline, so a slow or silent client costs a small task
//! and a socket for a bounded time, never a worker thread.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connections::{Admission, ConnectionTable};
use super::{ErrorLog, doh, tls};
use crate::counters::{Counters, TcpClose, Transport};
use crate::responder::{Action, Responder};

/// Limits for TCP clients.
#[derive(Clone, Copy, Debug)]
pub struct TcpLimits {
    /// No query begun for this long closes the connection; also the
    /// deadline for writing an answer.
    pub idle_timeout: Duration,
    /// The rest of a message must arrive this soon after its first byte.
    pub message_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    pub max_in_flight: usize,
}

/// Connections accepted in a row before the accept loop lets other tasks
/// on its thread run.
const ACCEPTS_PER_TURN: u32 = 8;

/// What a TCP listener speaks. The three share the accept loop, the
/// connection caps and eviction.
#[derive(Clone)]
pub enum Protocol {
    /// DNS over TCP (RFC 7766).
    Dns,
    /// DNS over TLS (RFC 7858): the same framing inside TLS.
    Tls(Arc<ArcSwap<rustls::ServerConfig>>),
    /// DNS over HTTPS (RFC 8484), HTTP/2 or HTTP/1.1 inside TLS.
    Https(Arc<ArcSwap<rustls::ServerConfig>>),
}

/// Accepts connections until `shutdown` is cancelled.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    listener: TcpListener,
    protocol: Protocol,
    table: Arc<ConnectionTable>,
    responder: Arc<Responder>,
    counters: Arc<Counters>,
    limits: TcpLimits,
    shutdown: CancellationToken,
    tasks: TaskTracker,
) {
    let mut errors = ErrorLog::new("tcp accept", counters.clone());
    let mut accepted = 0u32;
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    if counters.descriptor_shortage(&e, "accepting a TCP connection") {
                        // Give up our idlest connection rather than leave
                        // a new client waiting in the accept queue.
                        if table.evict_idlest() {
                            counters.tcp_closed(TcpClose::Evicted);
                        }
                    } else {
                        errors.log(&e);
                    }
                    // Back off instead of spinning while the descriptor
                    // is being released (or on any other failure).
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        counters.tcp_connection();
        // A burst of connections (a flood, or a flood being evicted) must
        // not hold this worker thread from the connections and
        // resolutions it also runs.
        accepted = accepted.wrapping_add(1);
        if accepted.is_multiple_of(ACCEPTS_PER_TURN) {
            tokio::task::yield_now().await;
        }
        let (admission, evicted) = table.admit(peer.ip());
        if evicted {
            counters.tcp_closed(TcpClose::Evicted);
        }
        let _ = stream.set_nodelay(true);
        let client = peer.ip();
        let served = Served {
            client,
            admission,
            responder: responder.clone(),
            counters: counters.clone(),
            limits,
            shutdown: shutdown.clone(),
        };
        match protocol.clone() {
            Protocol::Dns => {
                let (reader, writer) = stream.into_split();
                tasks.spawn(connection(reader, writer, served, Transport::Tcp));
            }
            Protocol::Tls(config) => {
                tasks.spawn(async move {
                    if let Some(stream) = served.handshake(stream, &config).await {
                        let (reader, writer) = tokio::io::split(stream);
                        connection(reader, writer, served, Transport::Tls).await;
                    }
                });
            }
            Protocol::Https(config) => {
                tasks.spawn(async move {
                    if let Some(stream) = served.handshake(stream, &config).await {
                        doh::serve_connection(stream, served).await;
                    }
                });
            }
        }
    }
}

/// One accepted connection and what serving it needs.
pub(super) struct Served {
    pub client: IpAddr,
    pub admission: Admission,
    pub responder: Arc<Responder>,
    pub counters: Arc<Counters>,
    pub limits: TcpLimits,
    pub shutdown: CancellationToken,
}

impl Served {
    /// The TLS handshake, given up on shutdown or eviction.
    async fn handshake<S>(
        &self,
        stream: S,
        config: &ArcSwap<rustls::ServerConfig>,
    ) -> Option<tokio_rustls::server::TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let done = tokio::select! {
            _ = self.shutdown.cancelled() => return None,
            _ = self.admission.activity.evicted.cancelled() => return None,
            done = tls::accept(stream, config) => done,
        };
        if done.is_none() {
            self.counters.tls_handshake_failed();
        }
        done
    }
}

/// Serves one connection: this task reads and answers, a second one writes,
/// so a client that reads slowly holds up only its own answers.
async fn connection<R, W>(reader: R, writer: W, served: Served, transport: Transport)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let Served {
        client,
        admission,
        responder,
        counters,
        limits,
        shutdown,
    } = served;
    let (answers, queue) = mpsc::channel(limits.max_in_flight);
    let write_failed = CancellationToken::new();
    let admission = Arc::new(admission);
    let writing = tokio::spawn(write_answers(
        writer,
        queue,
        limits.idle_timeout,
        counters.clone(),
        write_failed.clone(),
        admission.clone(),
    ));
    let reading = Reading {
        client,
        transport,
        responder,
        counters,
        limits,
        answers,
        in_flight: Arc::new(Semaphore::new(limits.max_in_flight)),
        admission,
    };
    reading
        .run(
            BufReader::with_capacity(READ_BUFFER, reader),
            &shutdown,
            &write_failed,
        )
        .await;
    // The queue closes when the reader and every resolution still under
    // way are done with it; the writer then sends what is queued and
    // closes the connection.
    let _ = writing.await;
}

/// Enough for a few pipelined queries per read.
const READ_BUFFER: usize = 2048;

/// The reading side of a connection.
struct Reading {
    client: IpAddr,
    transport: Transport,
    responder: Arc<Responder>,
    counters: Arc<Counters>,
    limits: TcpLimits,
    answers: mpsc::Sender<Vec<u8>>,
    /// One permit per unanswered query: when they are all out, the
    /// connection is not read until an answer goes out.
    in_flight: Arc<Semaphore>,
    admission: Arc<Admission>,
}

impl Reading {
    async fn run<R: AsyncRead + Unpin>(
        self,
        mut reader: BufReader<R>,
        shutdown: &CancellationToken,
        write_failed: &CancellationToken,
    ) {
        let evicted = &self.admission.activity.evicted;
        let mut packet = Vec::new();
        loop {
            let slot = tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = write_failed.cancelled() => return,
                _ = evicted.cancelled() => return,
                slot = self.in_flight.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => return,
                },
            };
            let mut prefix = [0u8; 2];
            let first = tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = write_failed.cancelled() => return,
                _ = evicted.cancelled() => return,
                read = timeout(self.limits.idle_timeout, reader.read(&mut prefix[..1])) => read,
            };
            match first {
                Ok(Ok(1)) => {}
                // EOF or reset between messages: the client is done.
                Ok(_) => return,
                Err(_) => {
                    self.counters.tcp_closed(TcpClose::Idle);
                    return;
                }
            }
            let rest = async {
                reader.read_exact(&mut prefix[1..]).await?;
                packet.resize(u16::from_be_bytes(prefix) as usize, 0);
                reader.read_exact(&mut packet).await
            };
            let rest = tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = evicted.cancelled() => return,
                read = timeout(self.limits.message_timeout, rest) => read,
            };
            match rest {
                Ok(Ok(_)) => {}
                Ok(Err(_)) => return,
                Err(_) => {
                    self.counters.tcp_closed(TcpClose::Stalled);
                    return;
                }
            }
            self.admission.query_read();
            let mut answer = Vec::new();
            let received_at = std::time::Instant::now();
            match self.responder.respond(
                &packet,
                self.client,
                self.transport,
                received_at,
                &mut answer,
            ) {
                Action::Reply => {
                    self.counters.latency(received_at.elapsed(), 1);
                    // A full queue means the client is not reading; wait no
                    // longer than it would be allowed to stay idle.
                    if !matches!(
                        timeout(self.limits.idle_timeout, self.answers.send(answer)).await,
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
                    let (responder, answers, idle) = (
                        self.responder.clone(),
                        self.answers.clone(),
                        self.limits.idle_timeout,
                    );
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
async fn write_answers<W: AsyncWrite + Unpin>(
    writer: W,
    mut queue: mpsc::Receiver<Vec<u8>>,
    deadline: Duration,
    counters: Arc<Counters>,
    failed: CancellationToken,
    admission: Arc<Admission>,
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
            Ok(Ok(())) => admission.answer_written(),
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

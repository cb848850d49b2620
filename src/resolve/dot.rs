//! DNS over TLS to upstream resolvers (RFC 7858, RFC 8310's strict
//! profile): the certificate must be valid for the configured name, or
//! nothing is sent.
//!
//! Each upstream has one connection, opened on first use and kept: a
//! handshake costs round trips and CPU that a query should not pay.
//! Queries are pipelined on it (RFC 7766 section 6.2.1.1), each with an
//! ID no other query on the connection holds, and a reader task hands
//! each answer to the query with its ID, in whatever order they come.
//! The connection closes when the server closes it, when it stays silent
//! while a query times out, or when nothing is asked for `IDLE`.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::ClientConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::exchange::ExchangeError;
use crate::config::Upstream;
use crate::counters::{Counters, UpstreamEvent};

/// Queries in flight on one connection; past it, a query fails at once
/// and the forwarder tries another upstream.
const MAX_IN_FLIGHT: usize = 1024;

/// The most a TCP connection and TLS handshake may take, whatever the
/// query's own deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection with nothing asked of it this long is closed, politely
/// (close_notify), as Unbound's `tcp-reuse-timeout` does.
const IDLE: Duration = Duration::from_secs(30);

/// ALPN for DNS over TLS (RFC 7858 section 3.2).
const ALPN_DOT: &[u8] = b"dot";

type Stream = TlsStream<TcpStream>;

/// The DNS-over-TLS upstreams and their open connections.
pub struct DotUpstreams {
    connector: TlsConnector,
    upstreams: HashMap<SocketAddr, TlsUpstream>,
}

/// One upstream: the name its certificate must hold, and its connection.
struct TlsUpstream {
    name: ServerName<'static>,
    /// Held while a connection opens, so queries arriving meanwhile wait
    /// for that one instead of opening their own.
    connection: tokio::sync::Mutex<Option<Arc<Connection>>>,
}

struct Connection {
    writer: tokio::sync::Mutex<WriteHalf<Stream>>,
    /// Queries awaiting an answer, by ID.
    pending: Mutex<HashMap<u16, oneshot::Sender<Vec<u8>>>>,
    /// No more queries may be sent: the server closed it, it stopped
    /// answering, or a write broke off inside a frame.
    closed: AtomicBool,
    opened: Instant,
    /// Milliseconds after `opened` when a frame last arrived.
    last_heard: AtomicU64,
}

impl Connection {
    fn since_opened(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64
    }

    /// Takes a free ID for a query, or `None` when the connection is
    /// closed or full.
    fn register(&self, answer: oneshot::Sender<Vec<u8>>) -> Option<u16> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if self.closed.load(Relaxed) || pending.len() >= MAX_IN_FLIGHT {
            return None;
        }
        loop {
            let id: u16 = rand::random();
            if let std::collections::hash_map::Entry::Vacant(slot) = pending.entry(id) {
                slot.insert(answer);
                return Some(id);
            }
        }
    }

    fn forget(&self, id: u16) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }

    /// No more queries; those waiting learn it as their sender drops.
    fn close(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        self.closed.store(true, Relaxed);
        pending.clear();
    }
}

impl DotUpstreams {
    /// TLS settings for the DNS-over-TLS `upstreams` among all of them,
    /// trusting the roots in `ca_file`, or the system's. `None` when no
    /// upstream is reached over TLS. The error names what could not be
    /// read.
    pub fn new(upstreams: &[Upstream], ca_file: Option<&Path>) -> Result<Option<Self>, String> {
        let upstreams: HashMap<SocketAddr, TlsUpstream> = upstreams
            .iter()
            .filter_map(|u| {
                let name = ServerName::try_from(u.tls_name.as_deref()?).ok()?;
                Some((
                    u.addr,
                    TlsUpstream {
                        name: name.to_owned(),
                        connection: tokio::sync::Mutex::new(None),
                    },
                ))
            })
            .collect();
        if upstreams.is_empty() {
            return Ok(None);
        }
        let roots = trusted_roots(ca_file)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![ALPN_DOT.to_vec()];
        // rustls keeps sessions for resumption by default: a reconnect
        // skips the full handshake.
        Ok(Some(Self {
            connector: TlsConnector::from(Arc::new(config)),
            upstreams,
        }))
    }

    /// Whether `server` is reached over TLS.
    pub fn serves(&self, server: SocketAddr) -> bool {
        self.upstreams.contains_key(&server)
    }

    /// Sends `packet` to `server` and returns the frame that answers it,
    /// by `deadline`. The packet's ID is chosen here, free on the
    /// connection, and returned with the answer.
    pub async fn exchange(
        &self,
        server: SocketAddr,
        packet: &mut [u8],
        deadline: Instant,
        counters: &Counters,
    ) -> Result<(u16, Vec<u8>), ExchangeError> {
        let Some(upstream) = self.upstreams.get(&server) else {
            return Err(io::Error::other("not a DNS-over-TLS upstream").into());
        };
        // A kept connection the server closed a moment ago loses the
        // query; it is asked again once on a fresh one.
        for attempt in 0..2 {
            let (connection, fresh) = self
                .connection(server, upstream, deadline, counters)
                .await?;
            match ask(&connection, packet, deadline).await {
                Err(Asked::Closed) if !fresh && attempt == 0 => continue,
                Err(Asked::Closed) => {
                    return Err(io::Error::from(io::ErrorKind::ConnectionReset).into());
                }
                Err(Asked::Full) => {
                    return Err(io::Error::other("too many queries in flight").into());
                }
                Err(Asked::Timeout) => return Err(ExchangeError::Timeout),
                Err(Asked::Failed(e)) => return Err(e.into()),
                Ok(answer) => return Ok(answer),
            }
        }
        Err(ExchangeError::Timeout)
    }

    /// The open connection to `server`, or a new one; `true` with a new
    /// one.
    async fn connection(
        &self,
        server: SocketAddr,
        upstream: &TlsUpstream,
        deadline: Instant,
        counters: &Counters,
    ) -> Result<(Arc<Connection>, bool), ExchangeError> {
        let mut slot = timeout_at(deadline, upstream.connection.lock())
            .await
            .map_err(|_| ExchangeError::Timeout)?;
        if let Some(open) = slot.as_ref().filter(|c| !c.closed.load(Relaxed)) {
            return Ok((open.clone(), false));
        }
        let connect = async {
            let tcp = TcpStream::connect(server).await?;
            tcp.set_nodelay(true)?;
            self.connector.connect(upstream.name.clone(), tcp).await
        };
        let stream = match timeout_at(deadline.min(Instant::now() + CONNECT_TIMEOUT), connect).await
        {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                counters.upstream(UpstreamEvent::TlsFailed);
                tracing::debug!(%server, error = %e, "DNS over TLS connection failed");
                return Err(e.into());
            }
            Err(_) => {
                counters.upstream(UpstreamEvent::TlsFailed);
                return Err(ExchangeError::Timeout);
            }
        };
        counters.upstream(UpstreamEvent::TlsConnected);
        let (reader, writer) = tokio::io::split(stream);
        let connection = Arc::new(Connection {
            writer: tokio::sync::Mutex::new(writer),
            pending: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
            opened: Instant::now(),
            last_heard: AtomicU64::new(0),
        });
        tokio::spawn(read_answers(connection.clone(), reader));
        *slot = Some(connection.clone());
        Ok((connection, true))
    }
}

/// How one query on a connection went wrong.
enum Asked {
    /// The connection closed before the answer came.
    Closed,
    /// As many queries as a connection may carry are in flight.
    Full,
    Timeout,
    Failed(io::Error),
}

/// Sends one query on `connection` and waits for its answer.
async fn ask(
    connection: &Connection,
    packet: &mut [u8],
    deadline: Instant,
) -> Result<(u16, Vec<u8>), Asked> {
    let (answer, answered) = oneshot::channel();
    let id = match connection.register(answer) {
        Some(id) => id,
        None if connection.closed.load(Relaxed) => return Err(Asked::Closed),
        None => return Err(Asked::Full),
    };
    if let Some(head) = packet.get_mut(..2) {
        head.copy_from_slice(&id.to_be_bytes());
    }
    let mut frame = Vec::with_capacity(packet.len() + 2);
    frame.extend_from_slice(&(packet.len() as u16).to_be_bytes());
    frame.extend_from_slice(packet);
    let sent_at = connection.since_opened();
    let written = timeout_at(deadline, async {
        let mut writer = connection.writer.lock().await;
        writer.write_all(&frame).await?;
        writer.flush().await
    })
    .await;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            connection.close();
            return Err(Asked::Failed(e));
        }
        Err(_) => {
            // Half a frame may have gone out; nothing after it would
            // be read right.
            connection.close();
            return Err(Asked::Timeout);
        }
    }
    match timeout_at(deadline, answered).await {
        Ok(Ok(frame)) => Ok((id, frame)),
        Ok(Err(_)) => Err(Asked::Closed),
        Err(_) => {
            connection.forget(id);
            // Nothing at all since this query went out: the server or
            // the path is gone, and the next query should not wait on
            // it too.
            if connection.last_heard.load(Relaxed) < sent_at {
                connection.close();
            }
            Err(Asked::Timeout)
        }
    }
}

/// Reads answers off `connection` and hands each to its query until the
/// server closes it, it is closed for a failed query, or nothing comes
/// for `IDLE`.
async fn read_answers(connection: Arc<Connection>, mut reader: ReadHalf<Stream>) {
    loop {
        match timeout(IDLE, read_frame(&mut reader)).await {
            Ok(Ok(frame)) => {
                connection
                    .last_heard
                    .store(connection.since_opened(), Relaxed);
                let id = match frame.get(..2) {
                    Some(head) => u16::from_be_bytes([head[0], head[1]]),
                    None => continue,
                };
                let waiting = connection
                    .pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
                // No one waiting: a late answer to a query that gave up.
                if let Some(waiting) = waiting {
                    let _ = waiting.send(frame);
                }
            }
            // The server closed it, or nothing came for `IDLE`: unused,
            // or silent far past any query's deadline. A read cut off
            // inside a frame cannot be resumed either way.
            Ok(Err(_)) | Err(_) => break,
        }
        if connection.closed.load(Relaxed) {
            break;
        }
    }
    connection.close();
    // close_notify, if the writer is free soon; the connection is
    // dropped either way.
    let _ = timeout(Duration::from_secs(1), async {
        let mut writer = connection.writer.lock().await;
        writer.shutdown().await
    })
    .await;
}

/// One length-prefixed message (RFC 1035 section 4.2.2).
async fn read_frame(reader: &mut ReadHalf<Stream>) -> io::Result<Vec<u8>> {
    let mut prefix = [0u8; 2];
    reader.read_exact(&mut prefix).await?;
    let mut frame = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    reader.read_exact(&mut frame).await?;
    Ok(frame)
}

/// The certificate authorities to trust: those in `ca_file`, or the
/// system's.
fn trusted_roots(ca_file: Option<&Path>) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(file) => {
            let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file)
                .and_then(|certs| certs.collect::<Result<_, _>>())
                .map_err(|e| format!("{}: cannot read a PEM certificate: {e}", file.display()))?;
            let (added, _) = roots.add_parsable_certificates(certificates);
            if added == 0 {
                return Err(format!(
                    "{}: no usable certificate in the file",
                    file.display()
                ));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(format!(
                    "no system certificate authorities found ({}); set resolver.tls_ca_file",
                    found
                        .errors
                        .first()
                        .map(|e| e.to_string())
                        .unwrap_or_else(|| "the store is empty".into())
                ));
            }
        }
    }
    Ok(roots)
}

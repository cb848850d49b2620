//! DNS over HTTPS (RFC 8484): GET with `?dns=` (base64url) and POST with
//! an `application/dns-message` body, at `/dns-query`, over HTTP/2 or
//! HTTP/1.1 as ALPN chose.
//!
//! Bounds: HTTP/2 streams per connection are the TCP in-flight limit;
//! headers are capped; a body over 65,535 octets is refused (413) and
//! must arrive within the message deadline; a connection with no request
//! under way for the idle timeout is closed gracefully, as is one evicted
//! by the connection table or caught by shutdown.

use std::convert::Infallible;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::server::TlsStream;

use super::tcp::Served;
use super::tls::ALPN_H2;
use crate::counters::Transport;
use crate::responder::Action;
use crate::wire::MAX_MESSAGE_SIZE;

const PATH: &str = "/dns-query";
const MEDIA_TYPE: &str = "application/dns-message";
/// Request headers, all together (hyper's HTTP/2 default is 16 KiB too).
const MAX_HEADERS: usize = 16 << 10;
/// How often an idle connection is looked at.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Serves one connection whose TLS handshake is done.
pub(super) async fn serve_connection<S>(stream: TlsStream<S>, served: Served)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let h2 = stream.get_ref().1.alpn_protocol() == Some(ALPN_H2);
    let limits = served.limits;
    let connection = Arc::new(Connection {
        served,
        opened: Instant::now(),
        last_request_ms: AtomicU64::new(0),
        in_flight: AtomicU32::new(0),
    });
    let service = {
        let connection = connection.clone();
        service_fn(move |request| {
            let connection = connection.clone();
            async move { Ok::<_, Infallible>(connection.answer(request).await) }
        })
    };
    let io = TokioIo::new(OneRecord::new(stream));
    if h2 {
        let serving = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .max_concurrent_streams(limits.max_in_flight as u32)
            .max_header_list_size(MAX_HEADERS as u32)
            .keep_alive_interval(Some(limits.idle_timeout))
            .keep_alive_timeout(limits.idle_timeout)
            .serve_connection(io, service);
        let mut serving = pin!(serving);
        if connection.watch(serving.as_mut()).await {
            serving.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(limits.idle_timeout, serving).await;
        }
    } else {
        let serving = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.idle_timeout)
            .max_buf_size(MAX_HEADERS.max(8192))
            .serve_connection(io, service);
        let mut serving = pin!(serving);
        if connection.watch(serving.as_mut()).await {
            serving.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(limits.idle_timeout, serving).await;
        }
    }
}

struct Connection {
    served: Served,
    opened: Instant,
    /// Milliseconds after `opened` of the last request's end or start.
    last_request_ms: AtomicU64,
    in_flight: AtomicU32,
}

impl Connection {
    /// Drives `serving` until it ends (false) or should be shut down
    /// gracefully (true): shutdown, eviction, or idle too long.
    async fn watch<F: Future>(&self, mut serving: std::pin::Pin<&mut F>) -> bool {
        let served = &self.served;
        loop {
            tokio::select! {
                _ = serving.as_mut() => return false,
                _ = served.shutdown.cancelled() => return true,
                _ = served.admission.activity.evicted.cancelled() => return true,
                _ = tokio::time::sleep(IDLE_CHECK) => {
                    let idle = self.elapsed_ms() - self.last_request_ms.load(Relaxed);
                    if self.in_flight.load(Relaxed) == 0
                        && idle >= served.limits.idle_timeout.as_millis() as u64
                    {
                        served.counters.tcp_closed(crate::counters::TcpClose::Idle);
                        return true;
                    }
                }
            }
        }
    }

    fn elapsed_ms(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64
    }

    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let _in_flight = InFlight::start(self);
        match self.message(request).await {
            Ok(packet) => self.resolve(&packet).await,
            Err(status) => status_only(status),
        }
    }

    /// The DNS message a request carries, or the HTTP status refusing it.
    async fn message(&self, request: Request<Incoming>) -> Result<Vec<u8>, StatusCode> {
        if request.uri().path() != PATH {
            return Err(StatusCode::NOT_FOUND);
        }
        match *request.method() {
            Method::GET => {
                let query = request.uri().query().unwrap_or("");
                let encoded = query
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("dns="))
                    .ok_or(StatusCode::BAD_REQUEST)?;
                // RFC 8484 section 4.1: base64url without padding; some
                // clients pad anyway.
                let encoded = encoded.trim_end_matches('=');
                if encoded.len() > MAX_MESSAGE_SIZE.div_ceil(3) * 4 {
                    return Err(StatusCode::URI_TOO_LONG);
                }
                data_encoding::BASE64URL_NOPAD
                    .decode(encoded.as_bytes())
                    .map_err(|_| StatusCode::BAD_REQUEST)
            }
            Method::POST => {
                let media = request.headers().get(CONTENT_TYPE);
                let dns_message = media.and_then(|m| m.to_str().ok()) == Some(MEDIA_TYPE);
                // The body is read (within its bounds) even when the
                // type is wrong: an HTTP/2 stream answered before its body
                // is read is reset, and some clients then see no status.
                let body = Limited::new(request.into_body(), MAX_MESSAGE_SIZE);
                let deadline = self.served.limits.idle_timeout;
                match tokio::time::timeout(deadline, body.collect()).await {
                    Ok(Ok(_)) if !dns_message => Err(StatusCode::UNSUPPORTED_MEDIA_TYPE),
                    Ok(Ok(collected)) => Ok(collected.to_bytes().to_vec()),
                    Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                        Err(StatusCode::PAYLOAD_TOO_LARGE)
                    }
                    Ok(Err(_)) => Err(StatusCode::BAD_REQUEST),
                    Err(_) => Err(StatusCode::REQUEST_TIMEOUT),
                }
            }
            _ => Err(StatusCode::METHOD_NOT_ALLOWED),
        }
    }

    async fn resolve(&self, packet: &[u8]) -> Response<Full<Bytes>> {
        let served = &self.served;
        let mut out = Vec::new();
        match served.responder.respond(
            packet,
            served.client,
            Transport::Https,
            Instant::now(),
            &mut out,
        ) {
            Action::Reply => {}
            Action::Resolve(pending) => served.responder.resolve(pending, &mut out).await,
            // Not a DNS query at all.
            Action::Drop => return status_only(StatusCode::BAD_REQUEST),
            Action::Busy => return status_only(StatusCode::SERVICE_UNAVAILABLE),
        }
        let max_age = crate::wire::walk::min_ttl(&out);
        let mut response = Response::new(Full::new(Bytes::from(out)));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
        if let Some(ttl) = max_age
            && let Ok(value) = HeaderValue::from_str(&format!("max-age={ttl}"))
        {
            headers.insert(CACHE_CONTROL, value);
        }
        response
    }
}

/// A request under way. Its end is counted when it is dropped, so a
/// stream the client resets mid-answer still lets the connection go idle.
struct InFlight<'a>(&'a Connection);

impl<'a> InFlight<'a> {
    fn start(connection: &'a Connection) -> Self {
        connection.in_flight.fetch_add(1, Relaxed);
        connection
            .last_request_ms
            .store(connection.elapsed_ms(), Relaxed);
        connection.served.admission.query_read();
        Self(connection)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let connection = self.0;
        connection.served.admission.answer_written();
        connection
            .last_request_ms
            .store(connection.elapsed_ms(), Relaxed);
        connection.in_flight.fetch_sub(1, Relaxed);
    }
}

fn status_only(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    response
}

/// Writes each HTTP/2 response (its HEADERS and DATA frames, which h2
/// hands over as several slices, and several responses at once) as a TLS
/// record of its own, as Unbound's DoH does. rustls makes a record of each
/// slice it is given, and clients that take a record for a response
/// (dnsperf's DoH reads one record, then waits on its socket, and keeps
/// one response buffer per connection) stall or lose answers otherwise.
struct OneRecord<S> {
    inner: S,
    joined: Vec<u8>,
}

impl<S> OneRecord<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            joined: Vec::new(),
        }
    }
}

/// Writes larger than this are passed on as they are (a DNS message is at
/// most 64 KiB, so a response is under this).
const JOIN_UP_TO: usize = 72 << 10;

/// Where the first response in `frames` ends: after the first HEADERS or
/// DATA frame that ends its stream, or at the end when there is none or a
/// frame is cut short.
fn first_response_end(frames: &[u8]) -> usize {
    let mut at = 0;
    while let Some(header) = frames.get(at..at + 9) {
        let length =
            (usize::from(header[0]) << 16) | (usize::from(header[1]) << 8) | usize::from(header[2]);
        let (kind, flags) = (header[3], header[4]);
        at += 9 + length;
        const DATA: u8 = 0;
        const HEADERS: u8 = 1;
        const END_STREAM: u8 = 1;
        if at >= frames.len() {
            break;
        }
        if matches!(kind, DATA | HEADERS) && flags & END_STREAM != 0 {
            return at;
        }
    }
    frames.len()
}

impl<S: AsyncRead + Unpin> AsyncRead for OneRecord<S> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for OneRecord<S> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let end = first_response_end(buf);
        std::pin::Pin::new(&mut self.get_mut().inner).poll_write(cx, &buf[..end])
    }

    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total > JOIN_UP_TO {
            return std::pin::Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        }
        this.joined.clear();
        for buf in bufs {
            this.joined.extend_from_slice(buf);
        }
        // What is taken is a prefix of the slices, as a vectored write's
        // count is; h2 writes the rest next.
        let end = first_response_end(&this.joined);
        let written = std::pin::Pin::new(&mut this.inner).poll_write(cx, &this.joined[..end]);
        if this.joined.capacity() > 16 << 10 {
            this.joined = Vec::new();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::first_response_end;

    #[test]
    fn a_response_ends_at_the_frame_that_ends_its_stream() {
        // HEADERS (stream 1), DATA with END_STREAM, then HEADERS of stream 3.
        let mut frames = vec![0, 0, 2, 1, 4, 0, 0, 0, 1, 0x88, 0x5f];
        frames.extend_from_slice(&[0, 0, 3, 0, 1, 0, 0, 0, 1, 1, 2, 3]);
        let first = frames.len();
        frames.extend_from_slice(&[0, 0, 1, 1, 5, 0, 0, 0, 3, 0x88]);
        assert_eq!(first_response_end(&frames), first);
        assert_eq!(first_response_end(&frames[first..]), frames.len() - first);
        // A frame cut short: everything goes.
        assert_eq!(first_response_end(&frames[..5]), 5);
        assert_eq!(first_response_end(&[]), 0);
    }
}

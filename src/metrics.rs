//! Prometheus metrics: `GET /metrics` over HTTP/1.1 (hyper), in the
//! Prometheus text format written by prometheus-client. Values are read
//! from the counters at scrape time, so nothing on the query path knows
//! metrics exist.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::counters::{
    HistogramSnapshot, IterationEvent, LATENCY_BUCKETS_US, RateLimited, SiblingEvent, Source,
    TcpClose, Transport, UpstreamEvent,
};
use crate::resolve::Servers;
use crate::server::Handle;
use crate::wire::{Malformed, rcode};

/// Scrapes served at once; more wait in the accept queue.
const MAX_CONNECTIONS: usize = 16;
/// A connection that has not sent its request headers by then is closed.
const HEADER_DEADLINE: Duration = Duration::from_secs(5);
/// The most one connection may live.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(30);

pub async fn serve(listener: TcpListener, handle: Arc<Handle>, shutdown: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    while let Some(((stream, _), slot)) =
        crate::server::next_connection(&slots, &shutdown, || listener.accept()).await
    {
        let handle = handle.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let handle = handle.clone();
                async move { Ok::<_, Infallible>(respond(&request, &handle)) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_DEADLINE)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_DEADLINE, connection).await;
            drop(slot);
        });
    }
}

fn respond<B>(request: &Request<B>, handle: &Arc<Handle>) -> Response<Full<Bytes>> {
    let reply = |status, content_type: &str, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        if let Ok(value) = content_type.parse() {
            response.headers_mut().insert("content-type", value);
        }
        response
    };
    match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => match render(handle) {
            Ok(text) => reply(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                text,
            ),
            Err(_) => reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                "encoding failed\n".into(),
            ),
        },
        (_, "/metrics") => reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        ),
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "metrics are at /metrics\n".into(),
        ),
    }
}

/// The whole exposition, read from the server now.
pub fn render(handle: &Arc<Handle>) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("hearsay");
    registry.register_collector(Box::new(Scrape(handle.clone())));
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)?;
    Ok(text)
}

struct Scrape(Arc<Handle>);

impl std::fmt::Debug for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scrape")
    }
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    ConstCounter::new(value).encode(encoder.encode_descriptor(
        name,
        help,
        None,
        MetricType::Counter,
    )?)
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: f64,
) -> Result<(), std::fmt::Error> {
    ConstGauge::new(value).encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

/// A counter family with one label.
fn labelled(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &'static str,
    values: impl IntoIterator<Item = (&'static str, u64)>,
) -> Result<(), std::fmt::Error> {
    family(
        encoder,
        name,
        help,
        values
            .into_iter()
            .map(|(value, count)| ([(label, value)], count)),
    )
}

/// A counter family: each row's labels and count.
fn family<const N: usize>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = ([(&'static str, &'static str); N], u64)>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, count) in rows {
        ConstCounter::new(count).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn histogram(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    snapshot: &HistogramSnapshot,
) -> Result<(), std::fmt::Error> {
    let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS_US
        .iter()
        .map(|us| *us as f64 / 1e6)
        .chain([f64::MAX])
        .zip(snapshot.buckets)
        .collect();
    encoder
        .encode_descriptor(name, help, None, MetricType::Histogram)?
        .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            snapshot.sum_us as f64 / 1e6,
            snapshot.count(),
            &buckets,
            None,
        )
}

impl Collector for Scrape {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let handle = &self.0;
        let c = handle.counters();
        labelled(
            &mut e,
            "queries",
            "Queries received, by transport.",
            "transport",
            Transport::ALL.map(|t| (t.label(), c.queries(t))),
        )?;
        family(
            &mut e,
            "responses",
            "Responses sent, by transport and rcode.",
            c.responses_by_label().map(|(transport, rcode, count)| {
                ([("transport", transport), ("rcode", rcode)], count)
            }),
        )?;
        labelled(
            &mut e,
            "answers",
            "Answers by where they came from.",
            "source",
            Source::ALL.map(|s| (s.label(), c.answered(s))),
        )?;
        family(
            &mut e,
            "outcomes",
            "Responses by transport, rcode and answer source (none: REFUSED, FORMERR, SERVFAIL and the like).",
            c.outcomes_by_label()
                .map(|(transport, rcode, source, count)| {
                    (
                        [
                            ("transport", transport),
                            ("rcode", rcode),
                            ("source", source),
                        ],
                        count,
                    )
                }),
        )?;
        let refused: u64 = Transport::ALL
            .iter()
            .map(|t| c.responses(*t, rcode::REFUSED))
            .sum();
        counter(&mut e, "refused", "Queries answered REFUSED.", refused)?;
        labelled(
            &mut e,
            "malformed",
            "Packets that did not decode as a query, by reason.",
            "reason",
            Malformed::ALL.map(|m| (m.label(), c.malformed(m))),
        )?;
        let (entries, bytes) = handle.cache_size();
        gauge(
            &mut e,
            "cache_entries",
            "RRsets and negative answers cached.",
            entries as f64,
        )?;
        gauge(
            &mut e,
            "cache_bytes",
            "Bytes held by the cache, as its size bound counts them.",
            bytes as f64,
        )?;
        let hits = c.answered(Source::Cache);
        counter(
            &mut e,
            "cache_hits",
            "Queries answered fresh from the cache.",
            hits,
        )?;
        counter(
            &mut e,
            "cache_misses",
            "Queries the cache could not answer fresh.",
            c.cache_misses,
        )?;
        let lookups = hits + c.cache_misses;
        gauge(
            &mut e,
            "cache_hit_ratio",
            "Cache hits over cache lookups since start.",
            if lookups == 0 {
                0.0
            } else {
                hits as f64 / lookups as f64
            },
        )?;
        histogram(
            &mut e,
            "response_latency_seconds",
            "Time from a query's arrival to its answer being sent.",
            &c.latency,
        )?;
        histogram(
            &mut e,
            "upstream_rtt_seconds",
            "Round-trip times of answered queries to upstream and authoritative servers.",
            &c.upstream_rtt,
        )?;
        match handle.servers() {
            Some(Servers::Upstreams(upstreams)) => {
                let names: Vec<String> = upstreams.iter().map(|u| u.addr.to_string()).collect();
                {
                    let mut srtt = e.encode_descriptor(
                        "upstream_srtt_seconds",
                        "Smoothed round-trip time of each upstream (absent until it has answered).",
                        None,
                        MetricType::Gauge,
                    )?;
                    for (upstream, name) in upstreams.iter().zip(&names) {
                        if let Some(rtt) = upstream.srtt {
                            let labels = [("server", name.as_str())];
                            ConstGauge::new(rtt.as_secs_f64())
                                .encode(srtt.encode_family(&labels)?)?;
                        }
                    }
                }
                let mut held = e.encode_descriptor(
                    "upstream_held_down",
                    "1 while an upstream is passed over after failing repeatedly.",
                    None,
                    MetricType::Gauge,
                )?;
                for (upstream, name) in upstreams.iter().zip(&names) {
                    let labels = [("server", name.as_str())];
                    ConstGauge::new(i64::from(upstream.held_down))
                        .encode(held.encode_family(&labels)?)?;
                }
            }
            Some(Servers::Authorities {
                known,
                held_down,
                outstanding,
            }) => {
                gauge(
                    &mut e,
                    "authority_queries_outstanding",
                    "Queries sent to authoritative servers and not yet answered.",
                    f64::from(outstanding),
                )?;
                gauge(
                    &mut e,
                    "authorities_known",
                    "Authoritative servers with an RTT record.",
                    known as f64,
                )?;
                gauge(
                    &mut e,
                    "authorities_held_down",
                    "Authoritative servers passed over after failing repeatedly.",
                    held_down as f64,
                )?;
            }
            None => {}
        }
        labelled(
            &mut e,
            "upstream_events",
            "Exchanges with upstream and authoritative servers: sent, timeouts, failures, mismatches, DNS-over-TLS connections.",
            "event",
            UpstreamEvent::ALL.map(|u| (u.label(), c.upstream(u))),
        )?;
        labelled(
            &mut e,
            "iteration_events",
            "Recursion from the root: referrals, lame servers, limits reached.",
            "event",
            IterationEvent::ALL.map(|i| (i.label(), c.iteration(i))),
        )?;
        labelled(
            &mut e,
            "sibling_events",
            "Sibling queries sent and received, hits, misses, hedges, timeouts, rejected messages.",
            "event",
            SiblingEvent::ALL.map(|s| (s.label(), c.sibling(s))),
        )?;
        gauge(
            &mut e,
            "sibling_members",
            "Live sibling members, this one included (0 without siblings).",
            handle.members().len() as f64,
        )?;
        counter(
            &mut e,
            "coalesced",
            "Misses that joined a resolution already under way.",
            c.coalesced,
        )?;
        counter(
            &mut e,
            "prefetches",
            "Refreshes started before expiry.",
            c.prefetches,
        )?;
        counter(
            &mut e,
            "resolutions_failed",
            "Resolutions that gave no answer.",
            c.resolutions_failed,
        )?;
        for (i, status) in ["secure", "insecure", "bogus"].iter().enumerate() {
            counter(
                &mut e,
                &format!("validated_{status}"),
                "Answers DNSSEC validation found so.",
                c.validated[i],
            )?;
        }
        for (i, kind) in ["nxdomain", "nodata", "wildcard"].iter().enumerate() {
            counter(
                &mut e,
                &format!("aggressive_nsec_{kind}"),
                "Answers made from validated NSEC ranges (and cached wildcards) without asking (RFC 8198).",
                c.aggressive_nsec[i],
            )?;
        }
        counter(
            &mut e,
            "signatures_checked",
            "DNSSEC signature checks made.",
            c.signatures_checked,
        )?;
        counter(
            &mut e,
            "validation_failed",
            "Answers that could not be validated (budget spent, keys unanswered): SERVFAIL.",
            c.validation_failed,
        )?;
        counter(
            &mut e,
            "overload_dropped",
            "Queries dropped because too many waited on the resolver.",
            c.overload_dropped,
        )?;
        counter(
            &mut e,
            "bailiwick_dropped",
            "Out-of-bailiwick records dropped from authoritative answers.",
            c.bailiwick_dropped,
        )?;
        counter(
            &mut e,
            "truncated",
            "Answers truncated (TC) to fit.",
            c.truncated,
        )?;
        counter(
            &mut e,
            "tcp_connections",
            "TCP connections accepted (DNS over TCP, TLS and HTTPS).",
            c.tcp_connections,
        )?;
        counter(
            &mut e,
            "tls_handshakes_failed",
            "DoT and DoH connections whose TLS handshake failed or timed out.",
            c.tls_handshakes_failed,
        )?;
        labelled(
            &mut e,
            "rate_limited",
            "UDP queries past a rate limit: recursion dropped, authoritative answers dropped or slipped (TC).",
            "action",
            RateLimited::ALL.map(|r| (r.label(), c.rate_limited(r))),
        )?;
        for why in TcpClose::ALL {
            counter(
                &mut e,
                &format!("tcp_closed_{}", why.as_str()),
                "TCP connections we closed, by reason.",
                c.tcp_closed(why),
            )?;
        }
        counter(
            &mut e,
            "descriptor_shortages",
            "Sockets not opened or accepted for want of file descriptors.",
            c.descriptor_shortages,
        )?;
        counter(
            &mut e,
            "network_errors",
            "Failed socket operations (accept, receive, send).",
            c.network_errors,
        )?;
        counter(
            &mut e,
            "udp_send_dropped",
            "UDP answers dropped for lack of send buffer.",
            c.udp_send_dropped,
        )?;
        counter(
            &mut e,
            "query_log_dropped",
            "Query log lines dropped by its rate bound.",
            handle.query_log_dropped(),
        )?;
        gauge(
            &mut e,
            "uptime_seconds",
            "Seconds since start.",
            handle.uptime().as_secs_f64(),
        )?;
        Ok(())
    }
}

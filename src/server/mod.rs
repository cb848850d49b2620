//! Starting, reloading and stopping the server: binds the listeners, loads
//! the zones, and owns the tasks.

mod connections;
mod doh;
mod handle;
#[cfg(target_os = "linux")]
mod mmsg;
mod tcp;
mod tls;
mod udp;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};
use socket2::{Domain, Protocol, Socket, Type};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::access::RecursionAcl;
use crate::cache::{Cache, CacheSettings};
use crate::config::{Config, ResolverMode};
use crate::counters::{Counters, Snapshot};
use crate::dnssec::TrustAnchor;
use crate::dnssec::rollover::Rollover;
use crate::querylog::QueryLog;
use crate::resolve::{
    DotUpstreams, Exchange, FetchCaps, Infra, Mode, Recursor, RecursorSettings, Resolver,
    ResolverSettings, Validator, built_in_hints, read_hints,
};
use crate::responder::{Recursion, Responder};
use crate::siblings::{ClusterKey, SiblingListener, SiblingSettings, Siblings, run_gossip};
use crate::zone::{ZoneError, ZoneOutcome, ZoneSet};

pub use handle::{Flush, Handle, ReloadReport};
pub use tcp::TcpLimits;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Zone(#[from] ZoneError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("no address to listen on could be bound")]
    NoListeners,
    #[error("siblings: {0}")]
    Siblings(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{0}")]
    Ops(String),
}

/// A running server. Dropping it does not stop it; call `shutdown`.
pub struct Server {
    udp_addrs: Vec<SocketAddr>,
    tcp_addrs: Vec<SocketAddr>,
    tls_addrs: Vec<SocketAddr>,
    https_addrs: Vec<SocketAddr>,
    handle: Arc<Handle>,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    grace: Duration,
    metrics_addr: Option<SocketAddr>,
}

impl Server {
    /// Loads the zones, binds every listen address (UDP and TCP on the same
    /// port) and starts serving. Must run inside a tokio runtime.
    pub async fn start(config: &Config) -> Result<Server, StartError> {
        let zone_sources = config.zone_sources();
        let (zones, outcomes) = ZoneSet::load(&zone_sources, None);
        for outcome in outcomes {
            if let ZoneOutcome::Failed { error, .. } = outcome {
                return Err(StartError::Zone(error));
            }
        }
        for zone in zones.iter() {
            let stats = zone.stats();
            info!(zone = %zone.origin(), serial = stats.serial, records = stats.records, "zone loaded");
        }
        let zones = Arc::new(ArcSwap::from_pointee(zones));
        let counters = Arc::new(Counters::default());
        let query_log = Arc::new(ArcSwapOption::empty());
        if let Some(file) = &config.log.query_log {
            let log = QueryLog::start(file.clone(), config.log.query_log_rate).map_err(|e| {
                StartError::Ops(format!(
                    "{}: cannot open the query log: {e}",
                    file.display()
                ))
            })?;
            query_log.store(Some(Arc::new(log)));
        }
        let mut handle = Handle::new(config, zones.clone(), query_log.clone(), counters.clone());
        let siblings = match &config.siblings {
            Some(settings) => Some(Arc::new(Siblings::new(
                SiblingSettings {
                    me: settings.listen,
                    key: sibling_key(settings)?,
                    hedge_min: settings.hedge_min,
                    hedge_max: settings.hedge_max,
                },
                counters.clone(),
            ))),
            None => None,
        };
        // Bound before the resolver is built: resolver.arpa names the
        // ports they got.
        let encrypted = EncryptedListeners::bind(config)?;
        let designation = match &config.server.resolver_name {
            Some(name) => {
                crate::special_use::designation(name, &encrypted.tls_addrs, &encrypted.https_addrs)
            }
            None => String::new(),
        };
        let recursion = recursion(
            config,
            &counters,
            siblings.clone(),
            handle.acl.clone(),
            &designation,
        )?;
        let resolver = recursion.as_ref().map(|r| r.resolver.clone());
        handle.cache = recursion.as_ref().map(|r| r.cache.clone());
        handle.resolver = resolver.clone();
        handle.siblings = siblings.clone();
        if let (Some(certificate), Some(key)) =
            (&config.server.tls_certificate, &config.server.tls_key)
            && !(config.server.tls_listen.is_empty() && config.server.https_listen.is_empty())
        {
            handle.tls = Some(Arc::new(
                tls::TlsIdentity::load(certificate, key).map_err(StartError::Tls)?,
            ));
        }
        let handle = Arc::new(handle);
        if let (Some(cache), Some(file)) = (&handle.cache, &config.cache.persist_file)
            && file.exists()
        {
            // A file that cannot be read is not worth failing the start
            // for: the cache just starts cold.
            match crate::persist::load(cache, file) {
                Ok(loaded) => info!(
                    file = %file.display(),
                    stored = loaded.stored,
                    expired = loaded.expired,
                    "cache restored"
                ),
                Err(e) => warn!("cache not restored: {e}"),
            }
        }
        let responder = Arc::new(Responder::new(
            zones.clone(),
            counters.clone(),
            crate::responder::UdpSizes {
                ours: config.server.udp_payload_size,
                nocookie: config
                    .server
                    .nocookie_udp_payload_size
                    .unwrap_or(config.server.udp_payload_size),
            },
            recursion,
            query_log,
            crate::identity::Identity {
                nsid: config.server.nsid.clone().map(Vec::into_boxed_slice),
                identity: config.server.identity.clone(),
                version: config.server.version.clone(),
            },
            crate::rate_limit::RateLimits::new(&config.rate_limit),
        ));
        let limits = TcpLimits {
            idle_timeout: config.server.tcp_idle_timeout,
            message_timeout: config.server.tcp_message_timeout,
            max_connections: tcp_connection_cap(config.server.tcp_max_connections),
            max_connections_per_address: config.server.tcp_max_connections_per_address,
            max_in_flight: config.server.tcp_max_in_flight,
        };
        let mut server = Server {
            udp_addrs: Vec::new(),
            tcp_addrs: Vec::new(),
            tls_addrs: Vec::new(),
            https_addrs: Vec::new(),
            handle,
            counters,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            grace: config.server.shutdown_grace,
            metrics_addr: None,
        };
        if let Err(error) = server.listen(config, &responder, limits, encrypted) {
            // Stop whatever was started before the failure.
            server.shutdown.cancel();
            return Err(error);
        }
        if let (Some(siblings), Some(settings), Some(recursion)) =
            (siblings, &config.siblings, responder.recursion())
            && let Err(error) = server
                .join_siblings(siblings, &settings.seeds, recursion)
                .await
        {
            server.shutdown.cancel();
            return Err(error);
        }
        if let Err(error) = server.operate(config).await {
            server.shutdown.cancel();
            return Err(error);
        }
        if let Some(resolver) = resolver {
            let shutdown = server.shutdown.clone();
            server.tasks.spawn(async move {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = resolver.prime() => {}
                }
            });
        }
        Ok(server)
    }

    /// Starts the control socket and the metrics endpoint, if configured.
    async fn operate(&mut self, config: &Config) -> Result<(), StartError> {
        if let Some(path) = &config.control.socket {
            let listener = crate::control::bind(path, config.control.mode)
                .map_err(|e| StartError::Ops(format!("{}: {e}", path.display())))?;
            info!(socket = %path.display(), "control socket ready");
            self.tasks.spawn(crate::control::serve(
                listener,
                path.clone(),
                self.handle.clone(),
                self.shutdown.clone(),
            ));
        }
        if let Some(addr) = config.metrics.listen {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Bind { addr, source })?;
            let bound = listener
                .local_addr()
                .map_err(|source| StartError::Bind { addr, source })?;
            info!(addr = %bound, "metrics at http://{bound}/metrics");
            self.metrics_addr = Some(bound);
            self.tasks.spawn(crate::metrics::serve(
                listener,
                self.handle.clone(),
                self.shutdown.clone(),
            ));
        }
        Ok(())
    }

    /// What the operator can do with the running server.
    pub fn handle(&self) -> &Arc<Handle> {
        &self.handle
    }

    /// The metrics endpoint's address, if there is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Binds the sibling port and starts answering siblings and gossiping.
    async fn join_siblings(
        &mut self,
        siblings: Arc<Siblings>,
        seeds: &[SocketAddr],
        recursion: &Recursion,
    ) -> Result<(), StartError> {
        let addr = siblings.me();
        let socket = tokio::net::UdpSocket::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let socket = Arc::new(socket);
        let tcp = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        info!(%addr, seeds = ?seeds, "listening for siblings (UDP and TCP)");
        let (gossip, inbox) = tokio::sync::mpsc::channel(1024);
        let listener = Arc::new(SiblingListener {
            socket: socket.clone(),
            siblings: siblings.clone(),
            resolver: recursion.resolver.clone(),
            cache: recursion.cache.clone(),
            gossip,
            counters: self.counters.clone(),
            shutdown: self.shutdown.clone(),
            tasks: self.tasks.clone(),
        });
        self.tasks.spawn(crate::siblings::serve(listener.clone()));
        self.tasks.spawn(crate::siblings::serve_tcp(tcp, listener));
        self.tasks.spawn(run_gossip(
            siblings,
            socket,
            seeds.to_vec(),
            inbox,
            self.shutdown.clone(),
        ));
        Ok(())
    }

    /// This member's sibling address, with `[siblings]`.
    pub fn sibling_addr(&self) -> Option<SocketAddr> {
        self.handle.siblings.as_ref().map(|s| s.me())
    }

    /// The live sibling members, this one included; empty without
    /// `[siblings]`.
    pub fn sibling_members(&self) -> Vec<SocketAddr> {
        self.handle.members()
    }

    /// Binds every listen address and starts its tasks, and those of the
    /// DoT and DoH listeners bound already.
    fn listen(
        &mut self,
        config: &Config,
        responder: &Arc<Responder>,
        limits: TcpLimits,
        encrypted: EncryptedListeners,
    ) -> Result<(), StartError> {
        let sockets_per_addr = config.server.worker_threads();
        // One table for every TCP listener: the caps are the server's.
        let connections = Arc::new(connections::ConnectionTable::new(
            connections::ConnectionCaps {
                total: limits.max_connections,
                per_network: limits.max_connections_per_address,
            },
        ));
        for listen in config.server.listen_addrs() {
            let (udp_sockets, listener) = match bind(listen.addr, sockets_per_addr) {
                Ok(bound) => bound,
                Err(source) if listen.optional => {
                    info!(addr = %listen.addr, error = %source, "skipping optional listen address");
                    continue;
                }
                Err(source) => {
                    return Err(StartError::Bind {
                        addr: listen.addr,
                        source,
                    });
                }
            };
            let bind_err = |source| StartError::Bind {
                addr: listen.addr,
                source,
            };
            for socket in udp_sockets {
                self.udp_addrs.push(socket.local_addr().map_err(bind_err)?);
                udp::spawn_thread(
                    socket,
                    responder.clone(),
                    self.counters.clone(),
                    self.shutdown.clone(),
                    self.tasks.clone(),
                )
                .map_err(bind_err)?;
            }
            let listener = tokio::net::TcpListener::from_std(listener).map_err(bind_err)?;
            let tcp_addr = listener.local_addr().map_err(bind_err)?;
            info!(addr = %tcp_addr, "listening on UDP and TCP");
            self.tcp_addrs.push(tcp_addr);
            self.serve_tcp(
                listener,
                tcp::Protocol::Dns,
                &connections,
                responder,
                limits,
            );
        }
        self.udp_addrs.dedup();
        if self.tcp_addrs.is_empty() {
            return Err(StartError::NoListeners);
        }
        if let Some(identity) = self.handle.tls.clone() {
            let encrypted = [
                (
                    encrypted.tls.into_iter().zip(encrypted.tls_addrs),
                    tcp::Protocol::Tls(identity.dot.clone()),
                ),
                (
                    encrypted.https.into_iter().zip(encrypted.https_addrs),
                    tcp::Protocol::Https(identity.doh.clone()),
                ),
            ];
            for (listeners, protocol) in encrypted {
                for (listener, bound) in listeners {
                    let bind_err = |source| StartError::Bind {
                        addr: bound,
                        source,
                    };
                    let listener = tokio::net::TcpListener::from_std(listener).map_err(bind_err)?;
                    match protocol {
                        tcp::Protocol::Https(_) => {
                            info!(addr = %bound, "listening for DNS over HTTPS");
                            self.https_addrs.push(bound);
                        }
                        _ => {
                            info!(addr = %bound, "listening for DNS over TLS");
                            self.tls_addrs.push(bound);
                        }
                    }
                    self.serve_tcp(listener, protocol.clone(), &connections, responder, limits);
                }
            }
        }
        Ok(())
    }

    /// Starts the accept loop of a TCP, DoT or DoH listener.
    fn serve_tcp(
        &self,
        listener: tokio::net::TcpListener,
        protocol: tcp::Protocol,
        connections: &Arc<connections::ConnectionTable>,
        responder: &Arc<Responder>,
        limits: TcpLimits,
    ) {
        self.tasks.spawn(tcp::serve(
            listener,
            protocol,
            connections.clone(),
            responder.clone(),
            self.counters.clone(),
            limits,
            self.shutdown.clone(),
            self.tasks.clone(),
        ));
    }

    /// DNS over TLS addresses being served.
    pub fn tls_addrs(&self) -> &[SocketAddr] {
        &self.tls_addrs
    }

    /// DNS over HTTPS addresses being served.
    pub fn https_addrs(&self) -> &[SocketAddr] {
        &self.https_addrs
    }

    /// UDP addresses being served (one per listen address).
    pub fn udp_addrs(&self) -> &[SocketAddr] {
        &self.udp_addrs
    }

    /// TCP addresses being served.
    pub fn tcp_addrs(&self) -> &[SocketAddr] {
        &self.tcp_addrs
    }

    /// The first listen address (UDP and TCP share the port).
    pub fn local_addr(&self) -> SocketAddr {
        self.tcp_addrs[0]
    }

    /// Current counter values.
    pub fn counters(&self) -> Snapshot {
        self.counters.snapshot()
    }

    /// Re-reads every zone file. A zone that fails to load keeps serving
    /// its previous version; the outcome of each is logged and returned.
    pub fn reload_zones(&self) -> Vec<ZoneOutcome> {
        self.handle.reload_zones()
    }

    /// Re-reads the configuration file and the zones (SIGHUP, `ctl
    /// reload`).
    pub fn reload(&self) -> Result<ReloadReport, String> {
        self.handle.reload()
    }

    /// Stops accepting queries, lets those in flight finish for up to the
    /// configured grace period, and returns.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tasks.close();
        if tokio::time::timeout(self.grace, self.tasks.wait())
            .await
            .is_err()
        {
            warn!(
                tasks = self.tasks.len(),
                "shutdown grace period over; dropping what is left"
            );
        }
        if let Some(file) = &self.handle.config().cache.persist_file {
            match self.handle.dump_cache(file) {
                Ok(count) => info!(file = %file.display(), entries = count, "cache saved"),
                Err(e) => warn!("cache not saved: {e}"),
            }
        }
    }
}

/// A server dropped without `shutdown` stops serving too: its UDP
/// threads are not tasks of the runtime, and would otherwise go on
/// answering (and holding the responder) after it is gone.
impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The cluster key from `[siblings] key`.
fn sibling_key(settings: &crate::config::SiblingsConfig) -> Result<ClusterKey, StartError> {
    if settings.key.secret.is_empty() {
        return Err(StartError::Siblings(format!(
            "the secret in {} was not read",
            settings.key.secret_file.display()
        )));
    }
    ClusterKey::new(settings.key.name.clone(), &settings.key.secret).map_err(StartError::Siblings)
}

/// The cache and resolver, unless the resolver is off.
/// The cache, resolver and special-use zones; resolver.arpa holds
/// `designation` (RFC 9462).
fn recursion(
    config: &Config,
    counters: &Arc<Counters>,
    siblings: Option<Arc<Siblings>>,
    acl: Arc<ArcSwap<RecursionAcl>>,
    designation: &str,
) -> Result<Option<Recursion>, StartError> {
    let mode = config.resolver.effective_mode();
    if mode == ResolverMode::Off {
        return Ok(None);
    }
    let cache = Arc::new(Cache::new(CacheSettings {
        max_size: config.cache.max_size,
        min_ttl: config.cache.min_ttl,
        max_ttl: config.cache.max_ttl,
        max_negative_ttl: config.cache.max_negative_ttl,
        serve_stale: config.cache.serve_stale,
        prefetch: config.cache.prefetch,
    }));
    let settings = ResolverSettings {
        timeout: config.resolver.timeout,
        max_flights: config.resolver.max_pending,
    };
    let dnssec = config.resolver.dnssec;
    let exchange = Exchange {
        edns_size: config.server.udp_payload_size,
        randomise_case: config.resolver.case_randomisation,
        dnssec_ok: dnssec,
        // An upstream resolver hands over what it found bogus, so that
        // it is judged (and the reason given) here.
        checking_disabled: dnssec && mode == ResolverMode::Forward,
        cookies: config.resolver.send_cookies,
    };
    let resolver = match mode {
        ResolverMode::Forward => {
            let upstreams = &config.resolver.upstreams;
            let listed: Vec<String> = upstreams.iter().map(|u| u.to_string()).collect();
            info!(upstreams = ?listed, "forwarding to upstream resolvers");
            let tls = DotUpstreams::new(upstreams, config.resolver.tls_ca_file.as_deref())
                .map_err(|e| StartError::Tls(format!("resolver.upstreams: {e}")))?;
            let addresses: Vec<SocketAddr> = upstreams.iter().map(|u| u.addr).collect();
            Resolver::forwarding(
                settings,
                &addresses,
                tls,
                exchange,
                cache.clone(),
                counters.clone(),
            )
        }
        _ => {
            let hints = match &config.resolver.root_hints {
                Some(path) => {
                    let text = std::fs::read_to_string(path).map_err(|e| {
                        StartError::Zone(ZoneError::in_file(path, format!("cannot read: {e}")))
                    })?;
                    read_hints(&text, path)?
                }
                None => built_in_hints(),
            };
            let ipv6 = ipv6_reachable();
            info!(
                root_servers = hints.servers.len(),
                ipv6, "resolving recursively from the root"
            );
            let recursor = Recursor::new(
                RecursorSettings {
                    hints,
                    port: config.resolver.authority_port,
                    minimise: config.resolver.qname_minimisation,
                    ipv6,
                    fetch_caps: FetchCaps {
                        per_zone: config.resolver.fetches_per_zone,
                        per_server: config.resolver.fetches_per_server,
                    },
                },
                Arc::new(Infra::new()),
                exchange,
                counters.clone(),
            );
            Resolver::new(
                settings,
                Mode::Recursive(recursor),
                cache.clone(),
                counters.clone(),
            )
        }
    };
    let resolver = match siblings {
        Some(siblings) => resolver.with_siblings(siblings),
        None => resolver,
    };
    let resolver = match dnssec {
        true => {
            let anchor = config
                .resolver
                .trust_anchor
                .clone()
                .unwrap_or_else(TrustAnchor::root);
            info!(
                anchor = %crate::wire::name::wire_to_text(&anchor.zone),
                "validating answers with DNSSEC"
            );
            let insecure = config
                .resolver
                .domain_insecure
                .iter()
                .map(|name| crate::wire::NameKey::from_name(name).as_bytes().into())
                .collect();
            let mut validator = Validator::new(anchor.clone(), insecure);
            if let Some(path) = &config.resolver.trust_anchor_state {
                let hold_down = config.resolver.trust_anchor_add_hold_down.as_secs();
                let rollover = Rollover::open(path, &anchor, hold_down)
                    .map_err(|e| StartError::Ops(format!("resolver.trust_anchor_state: {e}")))?;
                info!(state = %path.display(), "following trust anchor key rolls (RFC 5011)");
                validator = validator.with_rollover(rollover);
            }
            resolver.with_validator(validator, config.resolver.aggressive_nsec)
        }
        false => resolver,
    };
    Ok(Some(Recursion {
        acl,
        cache,
        resolver: Arc::new(resolver),
        max_pending: config.resolver.max_pending,
        special_use: Arc::new(match config.special_use.enabled {
            true => crate::special_use::zone_set(&config.special_use.nodefault, designation),
            false => ZoneSet::new([]),
        }),
    }))
}

/// Whether this host has a route to IPv6 name servers: connecting a UDP
/// socket sends nothing, but fails without a route.
fn ipv6_reachable() -> bool {
    std::net::UdpSocket::bind("[::]:0")
        .and_then(|socket| socket.connect("[2001:500:2::c]:53"))
        .is_ok()
}

/// Binds `sockets` UDP sockets and one TCP listener to the same address.
/// With port 0 the kernel picks the UDP port and TCP takes the same one,
/// retrying if another program holds it for TCP.
fn bind(
    addr: SocketAddr,
    sockets: usize,
) -> io::Result<(Vec<std::net::UdpSocket>, std::net::TcpListener)> {
    let attempts = if addr.port() == 0 { 20 } else { 1 };
    let mut last_error = None;
    for _ in 0..attempts {
        let first = udp_socket(addr, sockets > 1)?;
        let bound = first.local_addr()?;
        match tcp_listener(bound) {
            Ok(listener) => {
                let mut udp = vec![first];
                for _ in 1..sockets {
                    udp.push(udp_socket(bound, true)?);
                }
                return Ok((udp, listener));
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)))
}

fn udp_socket(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    if reuse_port {
        // One socket per worker thread; the kernel spreads clients over them.
        socket.set_reuse_port(true)?;
    }
    // Room for bursts. The kernel caps this at net.core.[rw]mem_max, which
    // is fine, so a refusal is not an error.
    let _ = socket.set_recv_buffer_size(1 << 20);
    let _ = socket.set_send_buffer_size(1 << 20);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// The DoT and DoH listeners, bound, and the addresses they got.
struct EncryptedListeners {
    tls: Vec<std::net::TcpListener>,
    tls_addrs: Vec<SocketAddr>,
    https: Vec<std::net::TcpListener>,
    https_addrs: Vec<SocketAddr>,
}

impl EncryptedListeners {
    fn bind(config: &Config) -> Result<Self, StartError> {
        let bind_all = |addrs: &[SocketAddr]| {
            let mut listeners = Vec::new();
            let mut bound = Vec::new();
            for &addr in addrs {
                let bind_err = |source| StartError::Bind { addr, source };
                let listener = tcp_listener(addr).map_err(bind_err)?;
                bound.push(listener.local_addr().map_err(bind_err)?);
                listeners.push(listener);
            }
            Ok::<_, StartError>((listeners, bound))
        };
        let (tls, tls_addrs) = bind_all(&config.server.tls_listen)?;
        let (https, https_addrs) = bind_all(&config.server.https_listen)?;
        Ok(Self {
            tls,
            tls_addrs,
            https,
            https_addrs,
        })
    }
}

fn tcp_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(TCP_BACKLOG)?;
    Ok(socket.into())
}

/// The kernel's queue of connections not yet accepted. The accept loop
/// never waits for a free slot (a connection over the caps evicts the
/// idlest), so this only has to hold what arrives between two of its
/// turns: a burst of a few thousand SYNs within milliseconds. Linux caps it
/// at net.core.somaxconn (4096 by default since 5.4).
const TCP_BACKLOG: i32 = 4096;

/// Descriptors each TCP connection may hold at most (its socket), against
/// the process's limit: the other half is left for UDP sockets towards
/// servers, zone files and the rest. Raises the soft limit to the hard one
/// first, as NSD and Unbound do.
fn tcp_connection_cap(configured: usize) -> usize {
    let limit = raise_descriptor_limit();
    let cap = usize::try_from(limit / 2).unwrap_or(usize::MAX).max(1);
    if configured > cap {
        warn!(
            configured,
            cap, "tcp_max_connections lowered to half the descriptor limit (ulimit -n)"
        );
        return cap;
    }
    configured
}

/// The soft RLIMIT_NOFILE, raised to the hard limit where allowed.
fn raise_descriptor_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct we pass and nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max.min(1 << 20),
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return raised.rlim_cur;
        }
    }
    limit.rlim_cur
}

/// The next connection for a listener with at most as many connections as
/// `slots` has permits: waits for a free slot, then for a connection,
/// either way giving up at `shutdown`. Failed accepts (a client that left
/// at once, no file descriptors) are skipped.
pub(crate) async fn next_connection<T, F>(
    slots: &Arc<tokio::sync::Semaphore>,
    shutdown: &CancellationToken,
    mut accept: impl FnMut() -> F,
) -> Option<(T, tokio::sync::OwnedSemaphorePermit)>
where
    F: std::future::Future<Output = io::Result<T>>,
{
    let slot = tokio::select! {
        _ = shutdown.cancelled() => return None,
        slot = slots.clone().acquire_owned() => slot.ok()?,
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            accepted = accept() => if let Ok(connection) = accepted {
                return Some((connection, slot));
            },
        }
    }
}

/// Logs network errors at most once a second, with how many were not
/// logged in between, and counts them all.
pub(crate) struct ErrorLog {
    what: &'static str,
    counters: Arc<Counters>,
    last: Option<Instant>,
    suppressed: u64,
}

impl ErrorLog {
    pub(crate) fn new(what: &'static str, counters: Arc<Counters>) -> Self {
        Self {
            what,
            counters,
            last: None,
            suppressed: 0,
        }
    }

    pub(crate) fn log(&mut self, error: &io::Error) {
        self.counters.network_error();
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < Duration::from_secs(1))
        {
            self.suppressed += 1;
            return;
        }
        warn!(
            listener = self.what,
            suppressed = self.suppressed,
            "network error: {error}"
        );
        self.last = Some(now);
        self.suppressed = 0;
    }
}

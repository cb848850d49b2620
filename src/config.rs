//! The configuration file: typed, unknown keys rejected, every value checked
//! when it is read, and errors that name the file, line and key.
//!
//! Relative paths in the file are taken from the file's own directory, so
//! the server finds its zones whatever directory it was started from.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use hickory_proto::rr::Name;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Deserializer, de};

use crate::dnssec::TrustAnchor;
use crate::zone::ZoneSource;

/// The port we listen on when the config names none.
pub const DEFAULT_PORT: u16 = 5353;

/// A configuration that cannot be used, in one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}{}: {key}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        file: PathBuf,
        line: Option<usize>,
        key: String,
        message: String,
    },
}

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub access: AccessConfig,
    #[serde(default)]
    pub cache: CacheConfig,
    #[serde(default)]
    pub resolver: ResolverConfig,
    #[serde(default, rename = "zone")]
    pub zones: Vec<ZoneConfig>,
    /// Without this section hearsay runs alone.
    pub siblings: Option<SiblingsConfig>,
    #[serde(default)]
    pub control: ControlConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub special_use: SpecialUseConfig,
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// The file this was read from, if any (for reloads).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// `[siblings]`: the cluster this instance shares its cache with.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiblingsConfig {
    /// Address for sibling queries and membership gossip (UDP). Others
    /// reach this member at this address, so it must not be a wildcard.
    #[serde(deserialize_with = "sibling_listen")]
    pub listen: SocketAddr,
    /// Members to join through (their `siblings.listen`); may be empty
    /// for the first one.
    #[serde(deserialize_with = "sibling_seeds")]
    pub seeds: Vec<SocketAddr>,
    pub key: SiblingKeyConfig,
    /// The shortest and longest wait for the owner of a name before
    /// resolving it here as well; in between, it follows the measured
    /// round-trip time of sibling queries.
    #[serde(default = "default_hedge_min", deserialize_with = "duration")]
    pub hedge_min: Duration,
    #[serde(default = "default_hedge_max", deserialize_with = "duration")]
    pub hedge_max: Duration,
}

fn default_hedge_min() -> Duration {
    Duration::from_millis(30)
}

fn default_hedge_max() -> Duration {
    Duration::from_millis(300)
}

/// The cluster's TSIG key (RFC 8945).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiblingKeyConfig {
    #[serde(deserialize_with = "key_name")]
    pub name: Name,
    #[serde(deserialize_with = "key_algorithm")]
    pub algorithm: String,
    /// A file holding the secret in base64, as `tsig-keygen` prints it.
    pub secret_file: PathBuf,
    /// The decoded secret, read by `Config::load`.
    #[serde(skip)]
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for SiblingKeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiblingKeyConfig")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret_file", &self.secret_file)
            .finish_non_exhaustive()
    }
}

/// The shortest secret accepted: RFC 8945 section 6 asks for keys at
/// least as long as the hash output; half of it is the floor we enforce.
const MIN_SECRET_LEN: usize = 16;

/// Reads a base64 secret file; the error is for `siblings.key.secret_file`.
fn read_secret(path: &Path) -> Result<Vec<u8>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    // Accept a bare secret, or the `secret "...";` line of a BIND key file.
    let text = text
        .lines()
        .map(str::trim)
        .find_map(|line| line.strip_prefix("secret"))
        .map(|rest| {
            rest.trim()
                .trim_end_matches(';')
                .trim_matches('"')
                .to_string()
        })
        .unwrap_or_else(|| text.split_whitespace().collect());
    let secret = data_encoding::BASE64
        .decode(text.as_bytes())
        .map_err(|e| format!("{}: the secret is not base64: {e}", path.display()))?;
    if secret.len() < MIN_SECRET_LEN {
        return Err(format!(
            "{}: the secret is {} bytes; at least {MIN_SECRET_LEN} are needed (tsig-keygen -a hmac-sha256 makes 32)",
            path.display(),
            secret.len()
        ));
    }
    Ok(secret)
}

/// `[access]`: who may use the cache and resolver.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessConfig {
    /// Networks whose clients may recurse. Everyone else gets answers from
    /// local zones only, and REFUSED for other names.
    #[serde(deserialize_with = "networks")]
    pub recursion: Vec<IpNet>,
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self {
            recursion: vec![
                IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8)),
                IpNet::V6(Ipv6Net::new_assert(Ipv6Addr::LOCALHOST, 128)),
            ],
        }
    }
}

/// `[cache]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Memory for cached records, in bytes ("256 MiB").
    #[serde(deserialize_with = "size")]
    pub max_size: u64,
    /// TTLs are raised to at least this, in seconds.
    #[serde(deserialize_with = "ttl")]
    pub min_ttl: u32,
    /// TTLs are lowered to at most this.
    #[serde(deserialize_with = "ttl")]
    pub max_ttl: u32,
    /// Negative answers are kept at most this long.
    #[serde(deserialize_with = "ttl")]
    pub max_negative_ttl: u32,
    /// How long past expiry a record may still be served when no upstream
    /// answers (RFC 8767); 0 turns serve-stale off.
    #[serde(deserialize_with = "duration")]
    pub serve_stale: Duration,
    /// Refresh a popular record before it expires.
    pub prefetch: bool,
    /// Written on clean shutdown, read at start: the cache survives
    /// restarts.
    pub persist_file: Option<PathBuf>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_size: 256 << 20,
            min_ttl: 0,
            max_ttl: 86400,
            max_negative_ttl: 3600,
            serve_stale: Duration::from_secs(86400),
            prefetch: true,
            persist_file: None,
        }
    }
}

/// How names outside local zones are resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResolverMode {
    /// Ask the configured upstream resolvers.
    Forward,
    /// Ask authoritative servers, from the root down.
    Recursive,
    /// No resolver: answer from local zones only.
    Off,
}

/// An upstream resolver (forward mode).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    pub addr: SocketAddr,
    /// DNS over TLS (RFC 7858): the name, or address, the server's
    /// certificate must be valid for. `None`: plain DNS.
    pub tls_name: Option<String>,
}

impl Upstream {
    /// Plain DNS to `addr`.
    pub fn plain(addr: SocketAddr) -> Self {
        Self {
            addr,
            tls_name: None,
        }
    }
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.tls_name {
            Some(name) => write!(f, "tls://{}#{name}", self.addr),
            None => write!(f, "{}", self.addr),
        }
    }
}

impl FromStr for Upstream {
    type Err = String;

    /// "192.0.2.1", "192.0.2.1:5353", "[2001:db8::1]:53",
    /// "tls://192.0.2.1#dns.example", "tls://[2001:db8::1]:853".
    fn from_str(text: &str) -> Result<Self, String> {
        let Some(rest) = text.strip_prefix("tls://") else {
            return address(text, 53).map(Upstream::plain).ok_or_else(|| {
                format!("{text:?} is not an address, address:port or tls://address#name")
            });
        };
        let (at, name) = match rest.split_once('#') {
            Some((at, name)) => (at, Some(name)),
            None => (rest, None),
        };
        let addr = address(at, 853)
            .ok_or_else(|| format!("{text:?}: {at:?} is not an address or address:port"))?;
        let name = match name {
            Some(name) => name.trim_end_matches('.').to_string(),
            None => addr.ip().to_string(),
        };
        if rustls::pki_types::ServerName::try_from(name.as_str()).is_err() {
            return Err(format!(
                "{text:?}: {name:?} is not a host name to check a certificate against"
            ));
        }
        Ok(Upstream {
            addr,
            tls_name: Some(name),
        })
    }
}

/// "address" (with `port`) or "address:port".
fn address(text: &str, port: u16) -> Option<SocketAddr> {
    SocketAddr::from_str(text)
        .ok()
        .or_else(|| {
            IpAddr::from_str(text)
                .ok()
                .map(|ip| SocketAddr::new(ip, port))
        })
        .or_else(|| {
            // "[2001:db8::1]" without a port.
            let inner = text.strip_prefix('[')?.strip_suffix(']')?;
            Some(SocketAddr::new(IpAddr::from_str(inner).ok()?, port))
        })
}

/// `[resolver]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResolverConfig {
    /// Without a mode: forward when upstreams are given, recursive
    /// otherwise.
    pub mode: Option<ResolverMode>,
    /// Upstream resolvers (forward mode): "address" or "address:port"
    /// for plain DNS; "tls://address[:port][#name]" for DNS over TLS,
    /// the certificate checked for name (or else for the address).
    #[serde(deserialize_with = "upstreams")]
    pub upstreams: Vec<Upstream>,
    /// PEM file of the certificate authorities that DNS-over-TLS
    /// upstreams are checked against, as Unbound's `tls-cert-bundle`;
    /// the system's roots without it. Relative paths are taken from the
    /// config file's directory.
    pub tls_ca_file: Option<PathBuf>,
    /// The most a client waits for a name to be resolved before it gets
    /// stale data or SERVFAIL.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// Client queries that may wait on resolution at once; more are
    /// dropped.
    #[serde(deserialize_with = "positive")]
    pub max_pending: usize,
    /// Queries outstanding to the servers of one zone (recursive mode), as
    /// BIND's fetches-per-zone; a resolution past it fails at once. 0: no
    /// cap.
    pub fetches_per_zone: u32,
    /// Queries outstanding to one authoritative server, as BIND's
    /// fetches-per-server. 0: no cap.
    pub fetches_per_server: u32,
    /// Root hints file (recursive mode); the IANA hints are built in.
    /// Relative paths are taken from the config file's directory.
    pub root_hints: Option<PathBuf>,
    /// Port of authoritative servers (recursive mode).
    #[serde(deserialize_with = "port")]
    pub authority_port: u16,
    /// Show each server only the labels it needs (RFC 9156).
    pub qname_minimisation: bool,
    /// Randomise the case of names in queries and check the echo (0x20).
    pub case_randomisation: bool,
    /// Send DNS cookies (RFC 7873) to upstreams and authoritative
    /// servers and drop answers that do not echo ours, as BIND's
    /// `send-cookie`.
    pub send_cookies: bool,
    /// Validate answers with DNSSEC (RFC 4035), as Unbound's
    /// `validator iterator` does.
    pub dnssec: bool,
    /// DS or DNSKEY records of one zone, in zone-file format, to start
    /// chains of trust from instead of the built-in root anchors.
    pub trust_anchor_file: Option<PathBuf>,
    /// Answer names inside NSEC ranges validation proved empty without
    /// asking (RFC 8198), as Unbound's `aggressive-nsec`.
    pub aggressive_nsec: bool,
    /// Names at and below which answers are not validated, as Unbound's
    /// `domain-insecure`: private names the real root denies.
    #[serde(deserialize_with = "domain_names")]
    pub domain_insecure: Vec<Name>,
    /// The anchor that file holds, read when the configuration loads.
    #[serde(skip)]
    pub trust_anchor: Option<TrustAnchor>,
    /// Where the anchor zone's keys are tracked through key rolls (RFC
    /// 5011), as Unbound's `auto-trust-anchor-file`; seeded from the
    /// anchor when it does not exist yet.
    pub trust_anchor_state: Option<PathBuf>,
    /// How long a new key of the anchor zone must be seen before it is
    /// trusted (RFC 5011's add hold-down: 30 days; Unbound's
    /// `add-holddown`).
    #[serde(deserialize_with = "duration")]
    pub trust_anchor_add_hold_down: Duration,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        Self {
            mode: None,
            upstreams: Vec::new(),
            tls_ca_file: None,
            timeout: Duration::from_secs(3),
            max_pending: 10_000,
            fetches_per_zone: 1_000,
            fetches_per_server: 2_000,
            root_hints: None,
            authority_port: 53,
            qname_minimisation: true,
            case_randomisation: true,
            send_cookies: true,
            dnssec: true,
            trust_anchor_file: None,
            trust_anchor_state: None,
            trust_anchor_add_hold_down: Duration::from_secs(30 * 86_400),
            aggressive_nsec: true,
            domain_insecure: Vec::new(),
            trust_anchor: None,
        }
    }
}

impl ResolverConfig {
    /// The mode in effect.
    pub fn effective_mode(&self) -> ResolverMode {
        match self.mode {
            Some(mode) => mode,
            None if !self.upstreams.is_empty() => ResolverMode::Forward,
            None => ResolverMode::Recursive,
        }
    }
}

/// `[server]`: listeners and their limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Addresses for UDP and TCP. `None`: loopback on port 5353, IPv6 only
    /// where the host has it.
    pub listen: Option<Vec<SocketAddr>>,
    /// Addresses for DNS over TLS (RFC 7858; 853 is its port).
    pub tls_listen: Vec<SocketAddr>,
    /// Addresses for DNS over HTTPS (RFC 8484; 443 is its port).
    pub https_listen: Vec<SocketAddr>,
    /// PEM certificate chain for DoT and DoH, re-read on reload.
    pub tls_certificate: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1), re-read on reload.
    pub tls_key: Option<PathBuf>,
    /// Worker threads; 0 means one per CPU.
    #[serde(deserialize_with = "threads")]
    pub threads: usize,
    /// EDNS payload size we advertise and the largest UDP response we send.
    #[serde(deserialize_with = "udp_payload_size")]
    pub udp_payload_size: u16,
    /// The largest UDP response to a client without a valid server cookie
    /// (RFC 7873), as BIND's `nocookie-udp-size`; `udp_payload_size` when
    /// unset. Below it, only clients that proved their address get large
    /// UDP answers.
    #[serde(deserialize_with = "some_udp_payload_size")]
    pub nocookie_udp_payload_size: Option<u16>,
    /// A TCP connection with no query begun for this long is closed.
    #[serde(deserialize_with = "duration")]
    pub tcp_idle_timeout: Duration,
    /// Once a TCP message's first byte arrives, the rest must arrive
    /// within this (Knot's tcp-io-timeout).
    #[serde(deserialize_with = "duration")]
    pub tcp_message_timeout: Duration,
    /// Open TCP connections; a new one beyond this closes the one idle
    /// longest.
    #[serde(deserialize_with = "positive")]
    pub tcp_max_connections: usize,
    /// Open TCP connections from one IPv4 address or IPv6 /64; a new one
    /// beyond this closes that network's connection idle longest.
    #[serde(deserialize_with = "positive")]
    pub tcp_max_connections_per_address: usize,
    /// Queries one TCP connection may have unanswered at once.
    #[serde(deserialize_with = "positive")]
    pub tcp_max_in_flight: usize,
    /// How long a shutdown waits for queries in flight.
    #[serde(deserialize_with = "duration")]
    pub shutdown_grace: Duration,
    /// The NSID option's value for clients that ask (RFC 5001); text, or
    /// hex after "0x". None: not sent.
    #[serde(deserialize_with = "nsid")]
    pub nsid: Option<Vec<u8>>,
    /// Answered for CH TXT id.server. and hostname.bind. None: REFUSED.
    #[serde(deserialize_with = "chaos_text")]
    pub identity: Option<String>,
    /// Answered for CH TXT version.bind. and version.server. None:
    /// REFUSED.
    #[serde(deserialize_with = "chaos_text")]
    pub version: Option<String>,
    /// The name the TLS certificate is for, advertised to clients that
    /// ask _dns.resolver.arpa SVCB (RFC 9462, discovery of designated
    /// resolvers), with the DoT and DoH addresses. None: not advertised.
    #[serde(deserialize_with = "some_domain_name")]
    pub resolver_name: Option<Name>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            resolver_name: None,
            listen: None,
            tls_listen: Vec::new(),
            https_listen: Vec::new(),
            tls_certificate: None,
            tls_key: None,
            threads: 0,
            udp_payload_size: 1232,
            nocookie_udp_payload_size: None,
            tcp_idle_timeout: Duration::from_secs(10),
            tcp_message_timeout: Duration::from_millis(500),
            tcp_max_connections: 256,
            tcp_max_connections_per_address: 64,
            tcp_max_in_flight: 32,
            shutdown_grace: Duration::from_secs(5),
            nsid: None,
            identity: None,
            version: None,
        }
    }
}

/// An address to listen on, and whether failing to bind it is fatal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenAddr {
    pub addr: SocketAddr,
    /// Built-in IPv6 default: skipped where the host has no IPv6.
    pub optional: bool,
}

impl ServerConfig {
    /// The addresses to bind.
    pub fn listen_addrs(&self) -> Vec<ListenAddr> {
        match &self.listen {
            Some(addrs) => addrs
                .iter()
                .map(|&addr| ListenAddr {
                    addr,
                    optional: false,
                })
                .collect(),
            None => vec![
                ListenAddr {
                    addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_PORT),
                    optional: false,
                },
                ListenAddr {
                    addr: SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), DEFAULT_PORT),
                    optional: true,
                },
            ],
        }
    }

    /// Worker threads to run, resolving 0 to the number of CPUs.
    pub fn worker_threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

/// `[log]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Used when RUST_LOG is not set.
    pub level: LogLevel,
    /// One line per query to this file ("-": standard error). Off without.
    pub query_log: Option<PathBuf>,
    /// Query log lines per second at most; the rest are counted.
    #[serde(deserialize_with = "positive")]
    pub query_log_rate: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: LogLevel::Info,
            query_log: None,
            query_log_rate: 1000,
        }
    }
}

/// `[control]`: the socket `hearsay ctl` talks to.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ControlConfig {
    /// Unix socket path. Without it there is no control socket.
    pub socket: Option<PathBuf>,
    /// Permissions of the socket file, octal ("0600": the server's user
    /// only; "0660" lets its group in too).
    #[serde(default = "default_socket_mode", deserialize_with = "file_mode")]
    pub mode: u32,
}

fn default_socket_mode() -> u32 {
    0o600
}

/// `[metrics]`: Prometheus metrics over HTTP.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address for `GET /metrics`. Without it, no endpoint.
    pub listen: Option<SocketAddr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// `[special_use]`: names the resolver answers itself (`special_use.rs`),
/// as Unbound's default local zones.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpecialUseConfig {
    /// Off: every name goes to the resolver.
    pub enabled: bool,
    /// Built-in zones not to serve, as Unbound's `local-zone: NAME
    /// nodefault` (a lab whose root delegates test., say).
    #[serde(deserialize_with = "special_use_zones")]
    pub nodefault: Vec<Name>,
}

/// `[rate_limit]`: limits on UDP queries without a valid server cookie,
/// per client network (`rate_limit.rs`). Both are off by default.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Queries a second from one network that need the cache or the
    /// resolver, as Unbound's `ip-ratelimit`; 0: no limit.
    pub recursion: u32,
    /// Past that limit, one query in this many is still answered, as
    /// Unbound's `ip-ratelimit-factor`; 0: none.
    pub recursion_factor: u32,
    /// Authoritative answers a second of one kind to one network, as
    /// NSD's `rrl-ratelimit`; 0: no limit.
    pub responses: u32,
    /// Past that limit, every slip-th answer goes out truncated so real
    /// clients retry over TCP, as NSD's `rrl-slip`; 0: all dropped.
    pub slip: u32,
    /// The network a client counts in: its address cut to this many bits.
    #[serde(deserialize_with = "prefix_v4")]
    pub ipv4_prefix: u8,
    #[serde(deserialize_with = "prefix_v6")]
    pub ipv6_prefix: u8,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            recursion: 0,
            recursion_factor: 10,
            responses: 0,
            slip: 2,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
        }
    }
}

fn prefix_v4<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    prefix_length(d, 32)
}

fn prefix_v6<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    prefix_length(d, 128)
}

fn prefix_length<'de, D: Deserializer<'de>>(d: D, most: u8) -> Result<u8, D::Error> {
    let bits = u8::deserialize(d)?;
    if bits > most {
        return Err(de::Error::custom(format!(
            "{bits} bits is longer than an address ({most})"
        )));
    }
    Ok(bits)
}

impl Default for SpecialUseConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            nodefault: Vec::new(),
        }
    }
}

fn nsid<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    let text = String::deserialize(d)?;
    let bytes = match text.strip_prefix("0x") {
        Some(hex) => data_encoding::HEXLOWER_PERMISSIVE
            .decode(hex.as_bytes())
            .map_err(|e| de::Error::custom(format!("{text:?} is not hex after 0x: {e}")))?,
        None => text.into_bytes(),
    };
    if bytes.is_empty() || bytes.len() > 256 {
        return Err(de::Error::custom("an NSID is 1 to 256 octets"));
    }
    Ok(Some(bytes))
}

fn chaos_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    if text.is_empty() || text.len() > 1024 {
        return Err(de::Error::custom("1 to 1024 octets of text"));
    }
    Ok(Some(text))
}

fn special_use_zones<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Name>, D::Error> {
    let mut names = Vec::new();
    for text in Vec::<String>::deserialize(d)? {
        let mut name = Name::from_ascii(&text)
            .map_err(|e| de::Error::custom(format!("{text:?} is not a domain name: {e}")))?;
        name.set_fqdn(true);
        if !crate::special_use::is_special_use_zone(&name) {
            return Err(de::Error::custom(format!(
                "{name} is not one of the special-use zones"
            )));
        }
        names.push(name);
    }
    Ok(names)
}

/// `[[zone]]`: a zone served authoritatively.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    #[serde(deserialize_with = "zone_origin")]
    pub origin: Name,
    /// Master file; relative paths are taken from the config file's
    /// directory.
    pub file: PathBuf,
}

impl Config {
    /// Reads and checks the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        let mut config = Self::parse(&text, path)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        for zone in &mut config.zones {
            if zone.file.is_relative() {
                zone.file = dir.join(&zone.file);
            }
        }
        if let Some(hints) = config
            .resolver
            .root_hints
            .as_mut()
            .filter(|h| h.is_relative())
        {
            *hints = dir.join(&*hints);
        }
        if let Some(file) = &mut config.resolver.trust_anchor_file {
            if file.is_relative() {
                *file = dir.join(&*file);
            }
            let anchor = TrustAnchor::from_file(file).map_err(|message| ConfigError::Invalid {
                file: path.to_path_buf(),
                line: None,
                key: "resolver.trust_anchor_file".into(),
                message,
            })?;
            config.resolver.trust_anchor = Some(anchor);
        }
        if let Some(state) = &mut config.resolver.trust_anchor_state
            && state.is_relative()
        {
            *state = dir.join(&*state);
        }
        config.source = Some(path.to_path_buf());
        let relative = |p: &mut PathBuf| {
            if p.is_relative() && p.as_os_str() != "-" {
                *p = dir.join(&*p);
            }
        };
        config.cache.persist_file.as_mut().map(relative);
        config.resolver.tls_ca_file.as_mut().map(relative);
        config.server.tls_certificate.as_mut().map(relative);
        config.server.tls_key.as_mut().map(relative);
        config.control.socket.as_mut().map(relative);
        config.log.query_log.as_mut().map(relative);
        if let Some(siblings) = &mut config.siblings {
            let key = &mut siblings.key;
            if key.secret_file.is_relative() {
                key.secret_file = dir.join(&key.secret_file);
            }
            key.secret = read_secret(&key.secret_file).map_err(|message| ConfigError::Invalid {
                file: path.to_path_buf(),
                line: None,
                key: "siblings.key.secret_file".into(),
                message,
            })?;
        }
        Ok(config)
    }

    /// Parses configuration text; `path` is used in errors only.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let invalid = |line, key: String, message: String| ConfigError::Invalid {
            file: path.to_path_buf(),
            line,
            key,
            message,
        };
        let deserializer = toml::Deserializer::parse(text).map_err(|e| {
            invalid(
                line_of(text, e.span()),
                "syntax".into(),
                e.message().to_string(),
            )
        })?;
        let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            invalid(
                line_of(text, inner.span()),
                key,
                inner.message().to_string(),
            )
        })?;

        for (i, zone) in config.zones.iter().enumerate() {
            if let Some(first) = config.zones[..i]
                .iter()
                .position(|z| z.origin == zone.origin)
            {
                return Err(invalid(
                    None,
                    format!("zone[{i}].origin"),
                    format!(
                        "zone {} is already configured as zone[{first}]",
                        zone.origin
                    ),
                ));
            }
        }
        let encrypted =
            !config.server.tls_listen.is_empty() || !config.server.https_listen.is_empty();
        if config.server.resolver_name.is_some() && !encrypted {
            return Err(invalid(
                None,
                "server.resolver_name".into(),
                "advertises DoT and DoH, and neither tls_listen nor https_listen is set".into(),
            ));
        }
        for (key, file) in [
            ("server.tls_certificate", &config.server.tls_certificate),
            ("server.tls_key", &config.server.tls_key),
        ] {
            if encrypted && file.is_none() {
                return Err(invalid(
                    None,
                    key.into(),
                    "tls_listen and https_listen need a certificate and its key".into(),
                ));
            }
        }
        if let Some(size) = config.server.nocookie_udp_payload_size
            && size > config.server.udp_payload_size
        {
            return Err(invalid(
                None,
                "server.nocookie_udp_payload_size".into(),
                format!(
                    "{size} is above server.udp_payload_size ({})",
                    config.server.udp_payload_size
                ),
            ));
        }
        if config.cache.min_ttl > config.cache.max_ttl {
            return Err(invalid(
                None,
                "cache.min_ttl".into(),
                format!(
                    "{} is above cache.max_ttl ({})",
                    config.cache.min_ttl, config.cache.max_ttl
                ),
            ));
        }
        let upstreams = !config.resolver.upstreams.is_empty();
        match config.resolver.mode {
            Some(ResolverMode::Forward) if !upstreams => {
                return Err(invalid(
                    None,
                    "resolver.upstreams".into(),
                    "forward mode needs at least one upstream".into(),
                ));
            }
            Some(mode @ (ResolverMode::Recursive | ResolverMode::Off)) if upstreams => {
                return Err(invalid(
                    None,
                    "resolver.upstreams".into(),
                    format!("upstreams are for forward mode, not {mode:?} mode").to_lowercase(),
                ));
            }
            _ => {}
        }
        if config.resolver.upstreams.len() > 64 {
            return Err(invalid(
                None,
                "resolver.upstreams".into(),
                "more than 64 upstreams".into(),
            ));
        }
        if let Some(siblings) = &config.siblings {
            if config.resolver.effective_mode() == ResolverMode::Off {
                return Err(invalid(
                    None,
                    "siblings".into(),
                    "siblings share a cache, and resolver.mode = \"off\" has none".into(),
                ));
            }
            if siblings.hedge_min > siblings.hedge_max {
                return Err(invalid(
                    None,
                    "siblings.hedge_min".into(),
                    "is above siblings.hedge_max".into(),
                ));
            }
            if siblings.seeds.len() > 64 {
                return Err(invalid(
                    None,
                    "siblings.seeds".into(),
                    "more than 64 seeds".into(),
                ));
            }
            let listen = config.server.listen.as_deref().unwrap_or_default();
            if listen.contains(&siblings.listen) {
                return Err(invalid(
                    None,
                    "siblings.listen".into(),
                    format!("{} is also a client listen address", siblings.listen),
                ));
            }
        }
        if let Some(addrs) = &config.server.listen {
            if addrs.is_empty() {
                return Err(invalid(
                    None,
                    "server.listen".into(),
                    "needs at least one address".into(),
                ));
            }
            for (i, addr) in addrs.iter().enumerate() {
                if addrs[..i].contains(addr) {
                    return Err(invalid(
                        None,
                        format!("server.listen[{i}]"),
                        format!("{addr} is listed twice"),
                    ));
                }
            }
        }
        Ok(config)
    }

    /// The zones to load.
    pub fn zone_sources(&self) -> Vec<ZoneSource> {
        self.zones
            .iter()
            .map(|z| ZoneSource {
                origin: z.origin.clone(),
                file: z.file.clone(),
            })
            .collect()
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> Option<usize> {
    let start = span?.start.min(text.len());
    Some(text[..start].matches('\n').count() + 1)
}

fn file_mode<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let text = String::deserialize(d)?;
    match u32::from_str_radix(text.trim_start_matches("0o"), 8) {
        Ok(mode) if mode <= 0o777 => Ok(mode),
        _ => Err(de::Error::custom(format!(
            "{text:?} is not a file mode (octal, like \"0600\")"
        ))),
    }
}

fn sibling_listen<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    let addr = SocketAddr::from_str(&text)
        .map_err(|_| de::Error::custom(format!("{text:?} is not an address:port")))?;
    if addr.ip().is_unspecified() || addr.port() == 0 {
        return Err(de::Error::custom(format!(
            "{addr}: siblings reach this member here, so it needs a real address and port"
        )));
    }
    Ok(addr)
}

fn sibling_seeds<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SocketAddr>, D::Error> {
    Vec::<String>::deserialize(d)?
        .into_iter()
        .map(|text| {
            SocketAddr::from_str(&text).map_err(|_| {
                de::Error::custom(format!(
                    "{text:?} is not an address:port (a sibling's siblings.listen)"
                ))
            })
        })
        .collect()
}

fn key_name<'de, D: Deserializer<'de>>(d: D) -> Result<Name, D::Error> {
    let text = String::deserialize(d)?;
    let mut name = Name::from_ascii(&text)
        .map_err(|e| de::Error::custom(format!("{text:?} is not a key name: {e}")))?;
    name.set_fqdn(true);
    Ok(name.to_lowercase())
}

fn key_algorithm<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    if !text.eq_ignore_ascii_case("hmac-sha256") {
        return Err(de::Error::custom(format!(
            "{text:?} is not supported; use \"hmac-sha256\""
        )));
    }
    Ok("hmac-sha256".into())
}

fn threads<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = usize::deserialize(d)?;
    if n > 1024 {
        return Err(de::Error::custom(format!(
            "{n} threads is more than 1024; use 0 for one per CPU"
        )));
    }
    Ok(n)
}

fn port<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let n = u16::deserialize(d)?;
    if n == 0 {
        return Err(de::Error::custom("port 0 is not a port to send to"));
    }
    Ok(n)
}

fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = usize::deserialize(d)?;
    if n == 0 {
        return Err(de::Error::custom("must be at least 1"));
    }
    Ok(n)
}

fn some_udp_payload_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    udp_payload_size(d).map(Some)
}

fn udp_payload_size<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let n = u64::deserialize(d)?;
    if !(512..=4096).contains(&n) {
        return Err(de::Error::custom(format!(
            "{n} is outside 512..4096 (1232 avoids IP fragmentation)"
        )));
    }
    Ok(n as u16)
}

/// A duration written as a number of seconds or as "500ms", "10s", "5m",
/// "1h", "1d".
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }
    let text = match Raw::deserialize(d)? {
        Raw::Seconds(s) => return Ok(Duration::from_secs(s)),
        Raw::Text(text) => text,
    };
    parse_duration(&text).ok_or_else(|| {
        de::Error::custom(format!(
            "{text:?} is not a duration (examples: 500ms, 10s, 5m, 1h, 1d)"
        ))
    })
}

/// Parses "500ms", "10s", "5m", "1h", "1d" or a bare number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let ms = match unit.trim() {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    Some(Duration::from_millis(n.checked_mul(ms)?))
}

/// Networks in CIDR form; a bare address is a /32 or /128.
fn networks<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    struct Network(IpNet);
    impl<'de> Deserialize<'de> for Network {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let text = String::deserialize(d)?;
            IpNet::from_str(&text)
                .or_else(|_| IpAddr::from_str(&text).map(IpNet::from))
                .map(|net| Network(net.trunc()))
                .map_err(|_| {
                    de::Error::custom(format!("{text:?} is not an address or network (CIDR)"))
                })
        }
    }
    Ok(Vec::<Network>::deserialize(d)?
        .into_iter()
        .map(|n| n.0)
        .collect())
}

/// Upstream resolvers; the port defaults to 53, or 853 for tls://.
fn upstreams<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Upstream>, D::Error> {
    struct Parsed(Upstream);
    impl<'de> Deserialize<'de> for Parsed {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let text = String::deserialize(d)?;
            Upstream::from_str(&text)
                .map(Parsed)
                .map_err(de::Error::custom)
        }
    }
    Ok(Vec::<Parsed>::deserialize(d)?
        .into_iter()
        .map(|u| u.0)
        .collect())
}

/// A size in bytes: a number, or "64 KiB", "256 MiB", "1 GiB" (also KB,
/// MB, GB as powers of 1024, as operators mean them in resolver configs).
fn size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bytes(u64),
        Text(String),
    }
    let bytes = match Raw::deserialize(d)? {
        Raw::Bytes(n) => Some(n),
        Raw::Text(text) => parse_size(&text),
    };
    match bytes {
        Some(n) if n >= 1 << 20 => Ok(n),
        Some(n) => Err(de::Error::custom(format!(
            "{n} bytes is below the minimum of 1 MiB"
        ))),
        None => Err(de::Error::custom(
            "not a size (examples: 64 MiB, 1 GiB, 1048576)",
        )),
    }
}

/// Parses "256 MiB" and the like.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return None,
    };
    n.checked_mul(1 << shift)
}

/// A TTL in seconds, written as a number or a duration ("1h").
fn ttl<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let duration = duration(d)?;
    u32::try_from(duration.as_secs()).map_err(|_| de::Error::custom("longer than a TTL can be"))
}

fn domain_names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Name>, D::Error> {
    Vec::<String>::deserialize(d)?
        .into_iter()
        .map(|text| {
            let mut name = Name::from_ascii(&text)
                .map_err(|e| de::Error::custom(format!("{text:?} is not a domain name: {e}")))?;
            name.set_fqdn(true);
            Ok(name)
        })
        .collect()
}

fn some_domain_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Name>, D::Error> {
    zone_origin(d).map(Some)
}

fn zone_origin<'de, D: Deserializer<'de>>(d: D) -> Result<Name, D::Error> {
    let text = String::deserialize(d)?;
    let mut name = Name::from_ascii(&text)
        .map_err(|e| de::Error::custom(format!("{text:?} is not a domain name: {e}")))?;
    name.set_fqdn(true);
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("h.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn nodefault_names_only_special_use_zones() {
        let config =
            parse("[special_use]\nnodefault = [\"Test\", \"10.in-addr.arpa.\"]\n").unwrap();
        assert_eq!(config.special_use.nodefault.len(), 2);
        assert!(config.special_use.enabled);
        let error = parse("[special_use]\nnodefault = [\"example.\"]\n").unwrap_err();
        assert!(
            error.contains("h.toml:2: special_use.nodefault")
                && error.contains("example. is not one of the special-use zones"),
            "{error}"
        );
    }

    #[test]
    fn empty_file_gives_the_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config.server.listen_addrs().len(), 2);
        assert_eq!(config.server.udp_payload_size, 1232);
        assert!(config.zones.is_empty());
    }

    #[test]
    fn a_trust_anchor_file_is_read_with_the_config_and_errors_name_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("h.toml");
        std::fs::write(&config, "[resolver]\ntrust_anchor_file = \"root.anchor\"\n").unwrap();
        let anchor = dir.path().join("root.anchor");
        std::fs::write(
            &anchor,
            ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n",
        )
        .unwrap();
        let loaded = Config::load(&config).unwrap();
        assert!(loaded.resolver.dnssec, "on by default");
        let read = loaded.resolver.trust_anchor.unwrap();
        assert_eq!((read.zone.as_slice(), read.ds.len()), (&b"\0"[..], 1));

        std::fs::write(&anchor, "; the root\n. IN A 192.0.2.1\n").unwrap();
        let error = Config::load(&config).unwrap_err().to_string();
        assert!(
            error.contains("h.toml: resolver.trust_anchor_file:")
                && error.contains("root.anchor:2")
                && error.contains("DS or DNSKEY records only"),
            "{error}"
        );
        std::fs::remove_file(&anchor).unwrap();
        let error = Config::load(&config).unwrap_err().to_string();
        assert!(error.contains("resolver.trust_anchor_file"), "{error}");
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases = [
            (
                "[server]\nlisten = [\"nope\"]\n",
                "h.toml:2: server.listen[0]:",
            ),
            (
                "[server]\n\nbogus = 1\n",
                "h.toml:3: server.bogus: unknown field `bogus`",
            ),
            (
                "[server]\nudp_payload_size = 100\n",
                "h.toml:2: server.udp_payload_size: 100 is outside",
            ),
            (
                "[server]\ntcp_idle_timeout = \"10 parsecs\"\n",
                "h.toml:2: server.tcp_idle_timeout:",
            ),
            (
                "[log]\nlevel = \"loud\"\n",
                "h.toml:2: log.level: unknown variant `loud`",
            ),
            (
                "[[zone]]\norigin = \"a..b\"\nfile = \"x\"\n",
                "h.toml:2: zone[0].origin:",
            ),
            (
                "[[zone]]\norigin = \"a.\"\n",
                "h.toml:1: zone[0]: missing field `file`",
            ),
            ("[server\n", "h.toml:1: syntax:"),
            (
                "[[zone]]\norigin = \"a\"\nfile = \"x\"\n[[zone]]\norigin = \"A.\"\nfile = \"y\"\n",
                "h.toml: zone[1].origin: zone A. is already configured as zone[0]",
            ),
            (
                "[resolver]\nmode = \"forward\"\n",
                "h.toml: resolver.upstreams: forward mode needs",
            ),
            (
                "[resolver]\nupstreams = [\"resolver.example\"]\n",
                "h.toml:2: resolver.upstreams[0]:",
            ),
            (
                "[resolver]\nmode = \"recursive\"\nupstreams = [\"192.0.2.1\"]\n",
                "h.toml: resolver.upstreams: upstreams are for forward mode, not recursive mode",
            ),
            (
                "[resolver]\nauthority_port = 0\n",
                "h.toml:2: resolver.authority_port: port 0",
            ),
            (
                "[cache]\nmax_size = \"12 parsecs\"\n",
                "h.toml:2: cache.max_size: not a size",
            ),
            (
                "[cache]\nmax_size = 1000\n",
                "h.toml:2: cache.max_size: 1000 bytes is below",
            ),
            (
                "[cache]\nmin_ttl = 100\nmax_ttl = 10\n",
                "h.toml: cache.min_ttl: 100 is above",
            ),
            (
                "[access]\nrecursion = [\"10.0.0.0/33\"]\n",
                "h.toml:2: access.recursion[0]:",
            ),
            (
                "[siblings]\nlisten = \"127.0.0.1:5400\"\nseeds = []\n",
                "h.toml:1: siblings: missing field `key`",
            ),
            (
                "[siblings]\nseeds = []\nkey = { name = \"k\", algorithm = \"hmac-sha256\", secret_file = \"k\" }\n",
                "h.toml:1: siblings: missing field `listen`",
            ),
            (
                "[siblings]\nlisten = \"0.0.0.0:5400\"\nseeds = []\nkey = { name = \"k\", algorithm = \"hmac-sha256\", secret_file = \"k\" }\n",
                "h.toml:2: siblings.listen: 0.0.0.0:5400: siblings reach this member here",
            ),
            (
                "[siblings]\nlisten = \"127.0.0.1:5400\"\nseeds = [\"127.0.0.2\"]\nkey = { name = \"k\", algorithm = \"hmac-sha256\", secret_file = \"k\" }\n",
                "h.toml:3: siblings.seeds: \"127.0.0.2\" is not an address:port",
            ),
            (
                "[siblings]\nlisten = \"127.0.0.1:5400\"\nseeds = []\nkey = { name = \"k\", algorithm = \"hmac-md5\", secret_file = \"k\" }\n",
                "h.toml:4: siblings.key.algorithm: \"hmac-md5\" is not supported",
            ),
            (
                "[siblings]\nlisten = \"127.0.0.1:5400\"\nseeds = []\nkey = { name = \"k\", algorithm = \"hmac-sha256\" }\n",
                "h.toml:4: siblings.key: missing field `secret_file`",
            ),
            (
                "[resolver]\nmode = \"off\"\n[siblings]\nlisten = \"127.0.0.1:5400\"\nseeds = []\nkey = { name = \"k\", algorithm = \"hmac-sha256\", secret_file = \"k\" }\n",
                "h.toml: siblings: siblings share a cache",
            ),
        ];
        for (text, want) in cases {
            let err = parse(text)
                .err()
                .unwrap_or_else(|| panic!("{text:?} parsed"));
            assert!(
                err.starts_with(want),
                "{text:?}: got {err:?}, want {want:?}"
            );
            assert!(!err.contains('\n'), "{text:?}: not one line: {err:?}");
        }
    }

    #[test]
    fn the_sibling_secret_is_read_from_its_file_or_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("h.toml");
        let write = |secret: &str| {
            std::fs::write(dir.path().join("cluster.key"), secret).unwrap();
            std::fs::write(
                &config,
                "[siblings]\nlisten = \"127.0.0.1:5400\"\nseeds = [\"127.0.0.2:5400\"]\nkey = { name = \"Cluster\", algorithm = \"HMAC-SHA256\", secret_file = \"cluster.key\" }\n",
            )
            .unwrap();
        };
        write(
            "key \"cluster\" {\n\talgorithm hmac-sha256;\n\tsecret \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\";\n};\n",
        );
        let loaded = Config::load(&config).unwrap();
        let siblings = loaded.siblings.unwrap();
        assert_eq!(siblings.key.secret, b"0123456789abcdef0123456789abcdef");
        assert_eq!(siblings.key.name.to_string(), "cluster.");
        assert_eq!(siblings.hedge_max, Duration::from_millis(300));

        for (secret, want) in [
            ("not base64!", "the secret is not base64"),
            ("c2hvcnQ=", "the secret is 5 bytes; at least 16"),
        ] {
            write(secret);
            let err = Config::load(&config).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("{}: siblings.key.secret_file: ", config.display()))
                    && err.contains(want),
                "{err}"
            );
        }
        std::fs::remove_file(dir.path().join("cluster.key")).unwrap();
        let err = Config::load(&config).unwrap_err().to_string();
        assert!(err.contains("cluster.key: cannot read"), "{err}");
    }

    #[test]
    fn resolver_and_cache_settings() {
        let config = parse(
            "[resolver]\nupstreams = [\"192.0.2.1\", \"[2001:db8::1]:5353\"]\n[cache]\nmax_size = \"64 MiB\"\nmin_ttl = \"1m\"\n[access]\nrecursion = [\"10.0.0.0/8\", \"192.0.2.7\"]\n",
        )
        .unwrap();
        assert_eq!(config.resolver.effective_mode(), ResolverMode::Forward);
        assert_eq!(
            Config::default().resolver.effective_mode(),
            ResolverMode::Recursive
        );
        assert_eq!(config.resolver.upstreams[0].addr.port(), 53);
        assert_eq!(config.resolver.upstreams[1].addr.port(), 5353);
        assert_eq!(config.resolver.upstreams[1].tls_name, None);
        assert_eq!(config.cache.max_size, 64 << 20);
        assert_eq!(config.cache.min_ttl, 60);
        assert_eq!(config.access.recursion[1].to_string(), "192.0.2.7/32");
        assert!(
            Config::default().access.recursion[0]
                .contains(&IpAddr::V4(Ipv4Addr::new(127, 1, 2, 3)))
        );
    }

    #[test]
    fn tls_upstreams_take_port_853_and_a_name_or_the_address() {
        let config = parse(
            "[resolver]\nupstreams = [\"tls://192.0.2.1#dns.example.\", \"tls://[2001:db8::1]\", \"tls://192.0.2.2:8853#a.example\", \"[2001:db8::2]\"]\ntls_ca_file = \"ca.pem\"\n",
        )
        .unwrap();
        let shown: Vec<String> = config
            .resolver
            .upstreams
            .iter()
            .map(|u| u.to_string())
            .collect();
        assert_eq!(
            shown,
            [
                "tls://192.0.2.1:853#dns.example",
                "tls://[2001:db8::1]:853#2001:db8::1",
                "tls://192.0.2.2:8853#a.example",
                "[2001:db8::2]:53",
            ]
        );
        for (text, wanted) in [
            (
                "tls://dns.example#dns.example",
                "\"dns.example\" is not an address or address:port",
            ),
            ("tls://192.0.2.1#bad name!", "is not a host name"),
            (
                "udp://192.0.2.1",
                "is not an address, address:port or tls://",
            ),
        ] {
            let err = parse(&format!("[resolver]\nupstreams = [\"{text}\"]\n"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("resolver.upstreams[0]") && err.contains(wanted),
                "{err}"
            );
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86400)));
        assert_eq!(parse_duration("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("5 fortnights"), None);
    }
}

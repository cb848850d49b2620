//! The configuration file: typed, unknown keys rejected, every value checked
//! when it is read, and errors that name the file, line and key.
//!
//! Relative paths in the file are taken from the file's own directory, so
//! the server finds its zones whatever directory it was started from.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hickory_proto::rr::Name;
use serde::{Deserialize, Deserializer, de};

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
    #[serde(default, rename = "zone")]
    pub zones: Vec<ZoneConfig>,
}

/// `[server]`: listeners and their limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Addresses for UDP and TCP. `None`: loopback on port 5353, IPv6 only
    /// where the host has it.
    pub listen: Option<Vec<SocketAddr>>,
    /// Worker threads; 0 means one per CPU.
    #[serde(deserialize_with = "threads")]
    pub threads: usize,
    /// EDNS payload size we advertise and the largest UDP response we send.
    #[serde(deserialize_with = "udp_payload_size")]
    pub udp_payload_size: u16,
    /// A TCP connection with no complete query for this long is closed.
    #[serde(deserialize_with = "duration")]
    pub tcp_idle_timeout: Duration,
    /// Connections beyond this wait in the kernel's accept queue.
    #[serde(deserialize_with = "positive")]
    pub tcp_max_connections: usize,
    /// Queries one TCP connection may have unanswered at once.
    #[serde(deserialize_with = "positive")]
    pub tcp_max_in_flight: usize,
    /// How long a shutdown waits for queries in flight.
    #[serde(deserialize_with = "duration")]
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: None,
            threads: 0,
            udp_payload_size: 1232,
            tcp_idle_timeout: Duration::from_secs(10),
            tcp_max_connections: 256,
            tcp_max_in_flight: 32,
            shutdown_grace: Duration::from_secs(5),
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
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: LogLevel::Info,
        }
    }
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

fn threads<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = usize::deserialize(d)?;
    if n > 1024 {
        return Err(de::Error::custom(format!(
            "{n} threads is more than 1024; use 0 for one per CPU"
        )));
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
    fn empty_file_gives_the_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config.server.listen_addrs().len(), 2);
        assert_eq!(config.server.udp_payload_size, 1232);
        assert!(config.zones.is_empty());
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
    fn durations() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86400)));
        assert_eq!(parse_duration("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("5 fortnights"), None);
    }
}

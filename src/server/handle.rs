//! What a running server lets its operator do: reload, inspect and flush
//! the cache, dump and load it, read the counters. Shared by SIGHUP, the
//! control socket and the metrics endpoint, so each does the same thing.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::{ArcSwap, ArcSwapOption};
use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RecordType};
use tracing::{info, warn};

use crate::access::RecursionAcl;
use crate::cache::Cache;
use crate::config::Config;
use crate::counters::{Counters, Snapshot};
use crate::persist::{self, Loaded};
use crate::querylog::QueryLog;
use crate::resolve::{Outcome, Resolver};
use crate::siblings::Siblings;
use crate::wire::name::NameKey;
use crate::zone::{ZoneOutcome, ZoneSet};

pub struct Handle {
    /// The configuration in effect: what was started with, plus what
    /// reloads changed (zones, access, query log).
    running: Mutex<Config>,
    /// Held for a whole reload, so a SIGHUP and a `ctl reload` at once
    /// run one after the other.
    reloading: Mutex<()>,
    pub(crate) zones: Arc<ArcSwap<ZoneSet>>,
    pub(crate) acl: Arc<ArcSwap<RecursionAcl>>,
    pub(crate) query_log: Arc<ArcSwapOption<QueryLog>>,
    pub(crate) cache: Option<Arc<Cache>>,
    pub(crate) resolver: Option<Arc<Resolver>>,
    pub(crate) siblings: Option<Arc<Siblings>>,
    /// DoT and DoH certificate, re-read on reload.
    pub(crate) tls: Option<Arc<super::tls::TlsIdentity>>,
    pub(crate) counters: Arc<Counters>,
    started: Instant,
}

/// What a reload did.
#[derive(Debug)]
pub struct ReloadReport {
    pub zones: Vec<ZoneOutcome>,
    /// Sections that changed but take effect only after a restart.
    pub needs_restart: Vec<&'static str>,
    /// Why the TLS certificate and key could not be re-read, if they
    /// could not: the running pair stays.
    pub tls_error: Option<String>,
}

/// What `flush` removes.
pub enum Flush<'a> {
    Name(&'a str),
    Zone(&'a str),
    All,
}

impl Handle {
    pub(crate) fn new(
        config: &Config,
        zones: Arc<ArcSwap<ZoneSet>>,
        query_log: Arc<ArcSwapOption<QueryLog>>,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            running: Mutex::new(config.clone()),
            reloading: Mutex::new(()),
            zones,
            acl: Arc::new(ArcSwap::from_pointee(RecursionAcl::new(
                &config.access.recursion,
            ))),
            query_log,
            cache: None,
            resolver: None,
            siblings: None,
            tls: None,
            counters,
            started: Instant::now(),
        }
    }

    pub(crate) fn config(&self) -> Config {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Re-reads every zone file of the running configuration. A zone that
    /// fails keeps its previous version serving.
    pub fn reload_zones(&self) -> Vec<ZoneOutcome> {
        let sources = self.config().zone_sources();
        self.swap_zones(&sources)
    }

    fn swap_zones(&self, sources: &[crate::zone::ZoneSource]) -> Vec<ZoneOutcome> {
        let previous = self.zones.load();
        let (zones, outcomes) = ZoneSet::load(sources, Some(&previous));
        self.zones.store(Arc::new(zones));
        for outcome in &outcomes {
            match outcome {
                ZoneOutcome::Loaded { origin, warnings } => {
                    for warning in warnings {
                        warn!(zone = %origin, "{warning}");
                    }
                    info!(zone = %origin, "zone reloaded");
                }
                ZoneOutcome::Failed {
                    origin,
                    error,
                    kept_old,
                } => warn!(zone = %origin, kept_old, "zone reload failed: {error}"),
            }
        }
        outcomes
    }

    /// Re-reads the configuration file and the zones. A configuration that
    /// does not load changes nothing; sections that cannot change while
    /// running are reported, and keep their running values.
    pub fn reload(&self) -> Result<ReloadReport, String> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let running = self.config();
        let Some(path) = running.source.clone() else {
            return Err("started without a configuration file; nothing to re-read".into());
        };
        let new =
            Config::load(&path).map_err(|e| format!("{e}; the running configuration stays"))?;
        let mut needs_restart = Vec::new();
        let differ =
            |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| format!("{a:?}") != format!("{b:?}");
        for (section, changed) in [
            ("server", differ(&running.server, &new.server)),
            ("cache", differ(&running.cache, &new.cache)),
            ("resolver", differ(&running.resolver, &new.resolver)),
            ("siblings", differ(&running.siblings, &new.siblings)),
            ("control", differ(&running.control, &new.control)),
            ("metrics", differ(&running.metrics, &new.metrics)),
            (
                "special_use",
                differ(&running.special_use, &new.special_use),
            ),
            ("rate_limit", differ(&running.rate_limit, &new.rate_limit)),
            ("log.level", running.log.level != new.log.level),
        ] {
            if changed {
                needs_restart.push(section);
            }
        }
        // The one step that can fail comes first, so a failure changes
        // nothing. The log is reopened on every reload, so log rotation
        // can move the file away and reload (logrotate's postrotate).
        let query_log = match &new.log.query_log {
            Some(file) => Some(Arc::new(
                QueryLog::start(file.clone(), new.log.query_log_rate).map_err(|e| {
                    format!(
                        "{}: cannot open the query log: {e}; the running configuration stays",
                        file.display()
                    )
                })?,
            )),
            None => None,
        };
        let zones = self.swap_zones(&new.zone_sources());
        let tls_error = self.tls.as_ref().and_then(|tls| tls.reload().err());
        match &tls_error {
            Some(error) => warn!("reload: {error}; the running certificate stays"),
            None if self.tls.is_some() => info!("TLS certificate and key reloaded"),
            None => {}
        }
        self.acl
            .store(Arc::new(RecursionAcl::new(&new.access.recursion)));
        self.query_log.store(query_log);
        let mut applied = running;
        applied.zones = new.zones;
        applied.access = new.access;
        applied.log.query_log = new.log.query_log;
        applied.log.query_log_rate = new.log.query_log_rate;
        *self.running.lock().unwrap_or_else(|e| e.into_inner()) = applied;
        for section in &needs_restart {
            warn!("reload: [{section}] changed; it takes effect at the next restart");
        }
        Ok(ReloadReport {
            zones,
            needs_restart,
            tls_error,
        })
    }

    pub fn counters(&self) -> Snapshot {
        self.counters.snapshot()
    }

    pub fn uptime(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// Entries and bytes in the cache (zero without one).
    pub fn cache_size(&self) -> (u64, u64) {
        match &self.cache {
            Some(cache) => {
                cache.run_pending_tasks();
                (cache.entry_count(), cache.weighted_size())
            }
            None => (0, 0),
        }
    }

    /// Live sibling members, this one included.
    pub fn members(&self) -> Vec<SocketAddr> {
        self.siblings
            .as_ref()
            .map_or_else(Vec::new, |s| s.members())
    }

    /// The servers the resolver asks, if there is a resolver.
    pub fn servers(&self) -> Option<crate::resolve::Servers> {
        self.resolver.as_ref().map(|r| r.servers())
    }

    /// Query log lines dropped by its rate bound.
    pub fn query_log_dropped(&self) -> u64 {
        self.query_log
            .load()
            .as_ref()
            .map_or(0, |log| log.dropped())
    }

    fn cache(&self) -> Result<&Arc<Cache>, String> {
        self.cache
            .as_ref()
            .ok_or_else(|| "no cache: the resolver is off".to_string())
    }

    /// Removes cached records (and, for a zone, the zone cuts learned at
    /// or below it, and what validation knew of every zone's keys, so a
    /// zone fixed after a bad key roll is believed at once). Returns how
    /// many entries went.
    pub fn flush(&self, what: Flush<'_>) -> Result<usize, String> {
        let cache = self.cache()?;
        Ok(match what {
            Flush::Name(name) => cache.flush_name(parse_name(name)?.as_bytes()),
            Flush::Zone(suffix) => {
                let suffix = parse_name(suffix)?;
                if let Some(resolver) = &self.resolver {
                    resolver.forget_delegations_below(suffix.as_bytes());
                    resolver.forget_keys();
                }
                cache.flush_below(suffix.as_bytes())
            }
            Flush::All => {
                if let Some(resolver) = &self.resolver {
                    resolver.forget_delegations_below(&[0]);
                    resolver.forget_keys();
                }
                cache.flush_all()
            }
        })
    }

    pub fn dump_cache(&self, path: &Path) -> Result<usize, String> {
        persist::dump(self.cache()?, path)
    }

    pub fn load_cache(&self, path: &Path) -> Result<Loaded, String> {
        persist::load(self.cache()?, path)
    }

    /// What the cache holds for (`name`, `rtype`), in master file form with
    /// remaining TTLs, kind and origin.
    pub fn lookup(&self, name: &str, rtype: &str) -> Result<String, String> {
        let cache = self.cache()?;
        let key = parse_name(name)?;
        let qtype = parse_type(rtype)?;
        let now = cache.now_ms();
        let mut out = String::new();
        for (kept_as, entry) in cache.held(key.as_bytes(), u16::from(qtype)) {
            let state = if entry.expired(now) {
                "stale".to_string()
            } else {
                format!("ttl {}", entry.remaining(now))
            };
            out.push_str(&format!(
                "; {:?} {}, from {}, {state}\n",
                entry.kind(),
                kept_as.map_or("NXDOMAIN (any type)".into(), |t| RecordType::from(t)
                    .to_string()),
                entry.origin().label()
            ));
            let message = persist::entry_message(key.as_bytes(), kept_as, &entry, now)
                .and_then(|bytes| Message::from_vec(&bytes).ok());
            if let Some(message) = message {
                for record in message.answers.iter().chain(&message.authorities) {
                    out.push_str(&format!("{record}\n"));
                }
            }
        }
        if out.is_empty() {
            out = format!("; nothing cached for {name} {qtype}\n");
        }
        Ok(out)
    }
}

impl Handle {
    /// Resolves `name` (`rtype`, A when not given) afresh, past the
    /// cache's answer to it, and shows every step and the answer
    /// (`hearsay ctl trace`). Called off the runtime's threads.
    pub fn trace(&self, name: &str, rtype: Option<&str>) -> Result<String, String> {
        let resolver = self
            .resolver
            .as_ref()
            .ok_or_else(|| "no resolver: it is off in this configuration".to_string())?;
        let cache = self.cache()?;
        let key = parse_name(name)?;
        let qtype = parse_type(rtype.unwrap_or("A"))?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "no runtime to resolve on".to_string())?;
        let started = Instant::now();
        let (outcome, steps) = runtime.block_on(resolver.trace(key.as_bytes(), u16::from(qtype)));
        let mut out = format!(";; tracing {key:?} {qtype} (the cache's answer to it not used)\n");
        for step in &steps {
            out.push_str(step);
            out.push('\n');
        }
        let took = started.elapsed().as_secs_f64() * 1e3;
        let chain = match &*outcome {
            Outcome::Answered(chain) => chain,
            Outcome::Failed(_) => {
                out.push_str(&format!(";; SERVFAIL after {took:.1} ms\n"));
                return Ok(out);
            }
        };
        let message =
            persist::chain_message(key.as_bytes(), u16::from(qtype), chain, cache.now_ms())
                .and_then(|bytes| Message::from_vec(&bytes).ok());
        let Some(message) = message else {
            out.push_str(&format!(
                ";; an answer that does not fit a message, after {took:.1} ms\n"
            ));
            return Ok(out);
        };
        out.push_str(&format!(
            ";; {} after {took:.1} ms\n",
            crate::counters::rcode_name(chain.rcode())
        ));
        for record in message.answers.iter().chain(&message.authorities) {
            out.push_str(&format!("{record}\n"));
        }
        Ok(out)
    }
}

fn parse_type(text: &str) -> Result<RecordType, String> {
    text.to_uppercase()
        .parse()
        .map_err(|_| format!("{text:?} is not a record type"))
}

fn parse_name(text: &str) -> Result<NameKey, String> {
    let mut name =
        Name::from_ascii(text).map_err(|e| format!("{text:?} is not a domain name: {e}"))?;
    name.set_fqdn(true);
    Ok(NameKey::from_name(&name))
}

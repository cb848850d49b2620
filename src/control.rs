//! The control socket: `hearsay ctl` talks to the running server over a
//! Unix socket (`[control] socket`, mode 0600 by default, so only the
//! server's user may use it).
//!
//! One request per connection: a JSON array of strings on one line (the
//! command and its arguments, so paths may hold spaces). The answer is
//! `ok` or `error` on the first line, then text, then the connection
//! closes.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::counters::{
    IterationEvent, RateLimited, SiblingEvent, Source, Transport, UpstreamEvent,
};
use crate::server::{Flush, Handle};
use crate::wire::rcode;

/// Longest request line.
const MAX_REQUEST: u64 = 8192;
/// Requests handled at once; more wait.
const MAX_CONNECTIONS: usize = 8;
/// For reading the request and writing the answer; dumps and loads of a
/// large cache may take a while in between.
const IO_DEADLINE: Duration = Duration::from_secs(10);

/// The commands, for help texts.
pub const COMMANDS: &str = "stats [--json] | flush NAME | flush-zone SUFFIX | flush-all | \
dump-cache FILE | load-cache FILE | reload | members | lookup NAME TYPE | trace NAME [TYPE]";

/// Binds the socket, replacing a stale one, with file mode `mode`.
pub fn bind(path: &Path, mode: u32) -> io::Result<UnixListener> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                "another server is answering on this control socket",
            ));
        }
        // Left behind by a server that did not stop cleanly.
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(listener)
}

pub async fn serve(
    listener: UnixListener,
    path: PathBuf,
    handle: Arc<Handle>,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    while let Some(((stream, _), slot)) =
        crate::server::next_connection(&slots, &shutdown, || listener.accept()).await
    {
        let handle = handle.clone();
        tokio::spawn(async move {
            let _ = converse(stream, &handle).await;
            drop(slot);
        });
    }
    let _ = std::fs::remove_file(&path);
}

async fn converse(stream: UnixStream, handle: &Arc<Handle>) -> io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(tokio::io::AsyncReadExt::take(reader, MAX_REQUEST));
    tokio::time::timeout(IO_DEADLINE, reader.read_line(&mut line))
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
    let answer = match serde_json::from_str::<Vec<String>>(&line) {
        Ok(words) => {
            let handle = handle.clone();
            // Dumps, loads and reloads read and write files: off the
            // runtime's threads.
            tokio::task::spawn_blocking(move || execute(&handle, &words))
                .await
                .unwrap_or_else(|_| Err("the command failed".into()))
        }
        Err(_) => Err("a request is a JSON array of strings on one line".into()),
    };
    let text = match answer {
        Ok(body) => format!("ok\n{body}"),
        Err(message) => format!("error\n{message}\n"),
    };
    tokio::time::timeout(IO_DEADLINE, writer.write_all(text.as_bytes()))
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
    writer.shutdown().await
}

/// Runs one command; the text to show, or why it failed.
pub fn execute(handle: &Handle, words: &[String]) -> Result<String, String> {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words[..] {
        ["stats"] => Ok(stats_text(handle)),
        ["stats", "--json"] => Ok(format!("{}\n", stats_json(handle))),
        ["flush", name] => {
            let n = handle.flush(Flush::Name(name))?;
            Ok(format!("flushed {n} entries for {name}\n"))
        }
        ["flush-zone", suffix] => {
            let n = handle.flush(Flush::Zone(suffix))?;
            Ok(format!("flushed {n} entries at or below {suffix}\n"))
        }
        ["flush-all"] => {
            let n = handle.flush(Flush::All)?;
            Ok(format!("flushed {n} entries\n"))
        }
        ["dump-cache", file] => {
            let n = handle.dump_cache(Path::new(file))?;
            info!(file, entries = n, "cache dumped");
            Ok(format!("wrote {n} entries to {file}\n"))
        }
        ["load-cache", file] => {
            let loaded = handle.load_cache(Path::new(file))?;
            info!(file, stored = loaded.stored, "cache loaded");
            Ok(format!(
                "loaded {} entries from {file} ({} expired since it was written)\n",
                loaded.stored, loaded.expired
            ))
        }
        ["reload"] => {
            let report = handle.reload()?;
            let mut text = String::new();
            for outcome in &report.zones {
                text.push_str(&match outcome {
                    crate::zone::ZoneOutcome::Loaded { origin, .. } => {
                        format!("zone {origin}: loaded\n")
                    }
                    crate::zone::ZoneOutcome::Failed {
                        origin,
                        error,
                        kept_old,
                    } => format!(
                        "zone {origin}: failed ({error}){}\n",
                        if *kept_old {
                            "; the previous version keeps serving"
                        } else {
                            ""
                        }
                    ),
                });
            }
            for section in &report.needs_restart {
                text.push_str(&format!(
                    "[{section}] changed: takes effect at the next restart\n"
                ));
            }
            if let Some(error) = &report.tls_error {
                text.push_str(&format!(
                    "TLS certificate: failed ({error}); the running one keeps serving\n"
                ));
            }
            text.push_str("configuration reloaded\n");
            Ok(text)
        }
        ["members"] => {
            let members = handle.members();
            if members.is_empty() {
                return Ok("no [siblings] configured\n".into());
            }
            Ok(members.iter().map(|m| format!("{m}\n")).collect())
        }
        ["lookup", name, rtype] => handle.lookup(name, rtype),
        ["trace", name] => handle.trace(name, None),
        ["trace", name, rtype] => handle.trace(name, Some(rtype)),
        _ => Err(format!("unknown command; commands: {COMMANDS}")),
    }
}

fn stats_json(handle: &Handle) -> serde_json::Value {
    let c = handle.counters();
    let (entries, bytes) = handle.cache_size();
    let hits = c.answered(Source::Cache);
    let lookups = hits + c.cache_misses;
    let map = |pairs: Vec<(&str, u64)>| {
        serde_json::Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), serde_json::Value::from(v)))
                .collect(),
        )
    };
    serde_json::json!({
        "uptime_seconds": handle.uptime().as_secs(),
        "queries": map(Transport::ALL.iter().map(|t| (t.label(), c.queries(*t))).collect()),
        "responses": c.responses_by_label()
            .map(|(t, r, n)| (format!("{t}/{r}"), n))
            .filter(|(_, n)| *n > 0)
            .collect::<std::collections::BTreeMap<_, _>>(),
        "answers": map(Source::ALL.iter().map(|s| (s.label(), c.answered(*s))).collect()),
        "cache": {
            "entries": entries,
            "bytes": bytes,
            "hits": hits,
            "misses": c.cache_misses,
            "hit_ratio": if lookups == 0 { 0.0 } else { hits as f64 / lookups as f64 },
        },
        "malformed": c.malformed_total(),
        "refused": Transport::ALL.iter().map(|t| c.responses(*t, rcode::REFUSED)).sum::<u64>(),
        "upstream": map(UpstreamEvent::ALL.iter().map(|u| (u.label(), c.upstream(*u))).collect()),
        "rate_limited": map(RateLimited::ALL.iter().map(|r| (r.label(), c.rate_limited(*r))).collect()),
        "iteration": map(IterationEvent::ALL.iter().map(|i| (i.label(), c.iteration(*i))).collect()),
        "siblings": map(SiblingEvent::ALL.iter().map(|s| (s.label(), c.sibling(*s))).collect()),
        "members": handle.members().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "servers": match handle.servers() {
            Some(crate::resolve::Servers::Upstreams(upstreams)) => serde_json::Value::Object(
                upstreams
                    .iter()
                    .map(|u| {
                        (
                            u.addr.to_string(),
                            serde_json::json!({
                                "srtt_ms": u.srtt.map(|d| d.as_secs_f64() * 1000.0),
                                "failures": u.failures,
                                "held_down": u.held_down,
                            }),
                        )
                    })
                    .collect(),
            ),
            Some(crate::resolve::Servers::Authorities {
                known, held_down, ..
            }) => {
                serde_json::json!({ "authorities_known": known, "authorities_held_down": held_down })
            }
            None => serde_json::Value::Null,
        },
        "latency_ms_mean": if c.latency.count() == 0 { 0.0 } else { c.latency.sum_us as f64 / c.latency.count() as f64 / 1000.0 },
        "query_log_dropped": handle.query_log_dropped(),
    })
}

/// `stats` for people: one `key value` per line, nested keys dotted.
fn stats_text(handle: &Handle) -> String {
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut String) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    let key = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    walk(&key, value, out);
                }
            }
            serde_json::Value::Array(items) => {
                let items: Vec<String> = items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                    .collect();
                out.push_str(&format!("{prefix} {}\n", items.join(" ")));
            }
            other => out.push_str(&format!("{prefix} {other}\n")),
        }
    }
    let mut out = String::new();
    walk("", &stats_json(handle), &mut out);
    out
}

/// The client side: sends one command to the server at `socket` and
/// returns its text, or its error.
pub fn request(socket: &Path, words: &[String]) -> Result<String, String> {
    let mut stream = std::os::unix::net::UnixStream::connect(socket).map_err(|e| {
        format!(
            "{}: cannot connect ({e}); is hearsay running with [control] socket set?",
            socket.display()
        )
    })?;
    let deadline = Some(Duration::from_secs(120));
    let _ = stream.set_read_timeout(deadline);
    let _ = stream.set_write_timeout(deadline);
    let line = serde_json::to_string(words).map_err(|e| e.to_string())? + "\n";
    stream
        .write_all(line.as_bytes())
        .map_err(|e| format!("{}: {e}", socket.display()))?;
    let mut reader = BufReader::new(stream.take(64 << 20));
    let mut status = String::new();
    reader
        .read_line(&mut status)
        .map_err(|e| format!("{}: {e}", socket.display()))?;
    let mut body = String::new();
    reader
        .read_to_string(&mut body)
        .map_err(|e| format!("{}: {e}", socket.display()))?;
    match status.trim_end() {
        "ok" => Ok(body),
        "error" => Err(body.trim_end().to_string()),
        _ => Err(format!(
            "{}: not a hearsay control socket",
            socket.display()
        )),
    }
}

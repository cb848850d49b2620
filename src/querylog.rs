//! The query log: one line per query (time, client, transport, name, type,
//! rcode, answer source, latency), off by default.
//!
//! A flood must not fill the disk or slow answers: lines pass a token
//! bucket (`[log] query_log_rate` per second), go through a bounded queue
//! to a writer task, and whatever does not fit is counted and summed up in
//! one line when logging resumes.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hickory_proto::rr::RecordType;
use tokio::sync::mpsc;

use crate::counters::{Source, Transport};
use crate::wire::name::wire_to_text;

/// Lines waiting for the writer; beyond this they are dropped.
const QUEUE: usize = 4096;

/// What one line says.
pub struct QueryLine<'a> {
    pub client: IpAddr,
    pub transport: Transport,
    /// Lowercase wire form; `None` when the query could not be read.
    pub name: Option<&'a [u8]>,
    pub qtype: u16,
    pub rcode: u16,
    /// `None` for responses without answer data (REFUSED, FORMERR, SERVFAIL).
    pub source: Option<Source>,
    pub latency: Duration,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

pub struct QueryLog {
    rate: f64,
    bucket: Mutex<Bucket>,
    queue: mpsc::Sender<String>,
    /// Lines not logged since the last one that was.
    skipped: AtomicU64,
    /// Lines not logged, ever.
    dropped: AtomicU64,
}

impl QueryLog {
    /// Starts the writer task for `file` ("-" is standard error). Must run
    /// inside a tokio runtime.
    pub fn start(file: PathBuf, rate: usize) -> std::io::Result<QueryLog> {
        let mut out: Box<dyn std::io::Write + Send> = if file.as_os_str() == "-" {
            Box::new(std::io::stderr())
        } else {
            Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&file)?,
            )
        };
        let (queue, mut lines) = mpsc::channel::<String>(QUEUE);
        tokio::task::spawn_blocking(move || {
            while let Some(line) = lines.blocking_recv() {
                let mut batch = line;
                while let Ok(more) = lines.try_recv() {
                    batch.push_str(&more);
                }
                if out
                    .write_all(batch.as_bytes())
                    .and_then(|()| out.flush())
                    .is_err()
                {
                    // A full disk or a closed pipe: stop logging, keep serving.
                    tracing::warn!("query log write failed; query logging stops");
                    return;
                }
            }
        });
        Ok(QueryLog {
            rate: rate as f64,
            bucket: Mutex::new(Bucket {
                tokens: rate as f64,
                last: Instant::now(),
            }),
            queue,
            skipped: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        })
    }

    /// Lines dropped by the rate bound or a full queue.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    pub fn record(&self, line: &QueryLine<'_>) {
        if !self.take_token() {
            self.skip();
            return;
        }
        let mut text = String::with_capacity(160);
        let skipped = self.skipped.swap(0, Relaxed);
        if skipped > 0 {
            let _ = writeln!(text, "{} skipped={skipped} reason=rate_limit", timestamp());
        }
        let _ = write!(
            text,
            "{} client={} transport={}",
            timestamp(),
            line.client,
            line.transport.label()
        );
        match line.name {
            Some(name) => {
                let _ = write!(
                    text,
                    " name={} type={}",
                    wire_to_text(name),
                    RecordType::from(line.qtype)
                );
            }
            None => text.push_str(" name=- type=-"),
        }
        let _ = writeln!(
            text,
            " rcode={} source={} latency_us={}",
            crate::counters::rcode_name(line.rcode),
            line.source.map_or("none", Source::label),
            line.latency.as_micros()
        );
        if self.queue.try_send(text).is_err() {
            self.skip();
        }
    }

    fn skip(&self) {
        self.skipped.fetch_add(1, Relaxed);
        self.dropped.fetch_add(1, Relaxed);
    }

    fn take_token(&self) -> bool {
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(bucket.last).as_secs_f64() * self.rate;
        bucket.tokens = (bucket.tokens + refill).min(self.rate);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Seconds since the epoch with milliseconds: sortable, parseable, and
/// free of time zone questions.
fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("ts={}.{:03}", now.as_secs(), now.subsec_millis())
}

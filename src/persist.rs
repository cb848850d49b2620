//! Cache files: the cache written out with remaining TTLs, and read back
//! (at start with `[cache] persist_file`, or by `hearsay ctl
//! dump-cache`/`load-cache`).
//!
//! Format, version 1, one text line per entry:
//!
//! ```text
//! hearsay-cache 1 <unix time written>
//! <owner> <type or NXDOMAIN> <origin> <base64 DNS response holding the entry>
//! ...
//! end <entries> <sha256 of every line above, hex>
//! ```
//!
//! Each entry travels as the DNS response the cache would give for it,
//! and is read back through `read_answer`, the same path an upstream
//! answer takes: a file can only hold what an upstream could have sent.
//! A file is checked whole (version, count, digest, every message) before
//! anything is stored, so a corrupt or truncated file loads nothing. It is
//! written to a temporary file and renamed, so a crash mid-write leaves
//! the previous file.

use std::io::Write;
use std::path::Path;
use std::str::FromStr;

use data_encoding::{BASE64, HEXLOWER};
use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RecordType};
use ring::digest::{SHA256, digest};

use crate::cache::{Cache, CacheEntry, Chain, EntryKind, Origin};
use crate::dnssec::Security;
use crate::resolve::{read_answer, store_reading};
use crate::wire::name::{NameKey, wire_to_text};
use crate::wire::response::ReplyOptions;
use crate::wire::{decode, rcode, rtype};

const MAGIC: &str = "hearsay-cache";
const VERSION: u32 = 1;

/// Writes every fresh entry of `cache` to `path`. Returns how many.
pub fn dump(cache: &Cache, path: &Path) -> Result<usize, String> {
    let now_ms = cache.now_ms();
    let mut text = format!("{MAGIC} {VERSION} {}\n", crate::unix_seconds());
    let mut count = 0;
    for held in cache.entries(now_ms) {
        let (owner, entry) = (&held.owner, &held.entry);
        let Some(message) = entry_message(owner, held.kept_as, entry, now_ms) else {
            continue;
        };
        let type_text = match held.kept_as {
            Some(t) => RecordType::from(t).to_string(),
            None => "NXDOMAIN".into(),
        };
        text.push_str(&format!(
            "{} {type_text} {} {}\n",
            wire_to_text(owner),
            entry.origin().label(),
            BASE64.encode(&message)
        ));
        count += 1;
    }
    let sum = HEXLOWER.encode(digest(&SHA256, text.as_bytes()).as_ref());
    text.push_str(&format!("end {count} {sum}\n"));
    write_atomically(path, text.as_bytes())
        .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    Ok(count)
}

/// What `load` did.
#[derive(Debug, PartialEq, Eq)]
pub struct Loaded {
    pub stored: usize,
    /// Entries whose TTL ran out since the file was written.
    pub expired: usize,
}

/// Reads a cache file into `cache`, TTLs reduced by the time since it was
/// written; expired entries are skipped. All or nothing: an error names
/// the file and line, and nothing is stored.
pub fn load(cache: &Cache, path: &Path) -> Result<Loaded, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    load_text(cache, &text, path)
}

/// As `load`, for a file already read; `path` names it in errors.
pub fn load_text(cache: &Cache, text: &str, path: &Path) -> Result<Loaded, String> {
    let at = |line: usize, what: String| format!("{}:{line}: {what}", path.display());
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(last) = lines.pop() else {
        return Err(at(1, "empty file".into()));
    };
    let end: Vec<&str> = last.split_whitespace().collect();
    let [end_word, count, sum] = end[..] else {
        return Err(at(
            lines.len() + 1,
            "no end line: the file is truncated".into(),
        ));
    };
    if end_word != "end" {
        return Err(at(
            lines.len() + 1,
            "no end line: the file is truncated".into(),
        ));
    }
    let body_len = text.len() - last.len();
    let want = HEXLOWER.encode(digest(&SHA256, &text.as_bytes()[..body_len]).as_ref());
    if sum != want {
        return Err(at(
            lines.len() + 1,
            "checksum mismatch: the file is corrupt".into(),
        ));
    }
    let header: Vec<&str> = lines
        .first()
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    let written: u64 = match header[..] {
        [MAGIC, version, written] => {
            if version.parse::<u32>() != Ok(VERSION) {
                return Err(at(1, format!("version {version} is not {VERSION}")));
            }
            written
                .parse()
                .map_err(|_| at(1, format!("{written:?} is not a time")))?
        }
        _ => {
            return Err(at(
                1,
                format!("not a hearsay cache file (no {MAGIC} header)"),
            ));
        }
    };
    if count.parse::<usize>() != Ok(lines.len() - 1) {
        return Err(at(
            lines.len() + 1,
            format!("{count} entries announced, {} found", lines.len() - 1),
        ));
    }
    let elapsed = u32::try_from(crate::unix_seconds().saturating_sub(written)).unwrap_or(u32::MAX);

    let mut parsed = Vec::with_capacity(lines.len());
    let mut expired = 0;
    for (i, line) in lines.iter().enumerate().skip(1) {
        let number = i + 1;
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [owner, type_text, _origin, message] = fields[..] else {
            return Err(at(number, "expected: owner type origin message".into()));
        };
        let owner = Name::from_ascii(owner)
            .map_err(|e| at(number, format!("{owner:?} is not a name: {e}")))?;
        let owner = NameKey::from_name(&owner);
        let qtype = match type_text {
            "NXDOMAIN" => rtype::A,
            t => RecordType::from_str(t)
                .map(u16::from)
                .map_err(|_| at(number, format!("{t:?} is not a type")))?,
        };
        let bytes = BASE64
            .decode(message.as_bytes())
            .map_err(|e| at(number, format!("message is not base64: {e}")))?;
        let mut message = Message::from_vec(&bytes)
            .map_err(|e| at(number, format!("message does not decode: {e}")))?;
        let asked = message
            .queries
            .first()
            .map(|q| NameKey::from_name(q.name()));
        if asked.as_ref() != Some(&owner) {
            return Err(at(number, "the message is for another name".into()));
        }
        let records = message
            .answers
            .iter_mut()
            .chain(message.authorities.iter_mut());
        let mut alive = true;
        for record in records {
            alive &= record.ttl > elapsed;
            record.ttl = record.ttl.saturating_sub(elapsed);
        }
        if !alive {
            expired += 1;
            continue;
        }
        parsed.push((owner, qtype, message));
    }
    let stored = parsed
        .iter()
        .map(|(owner, qtype, message)| {
            let reading = read_answer(message, owner.as_bytes(), *qtype);
            // AD was written for data validation found secure; anything
            // else is validated again before a validating server serves it.
            let security = match reading.authentic {
                true => Security::Secure,
                false => Security::Indeterminate,
            };
            store_reading(cache, &reading, *qtype, Origin::Restored, security)
        })
        .sum();
    Ok(Loaded { stored, expired })
}

/// The response the cache would give for one entry, TTLs remaining.
pub fn entry_message(
    owner: &[u8],
    rtype: Option<u16>,
    entry: &std::sync::Arc<CacheEntry>,
    now_ms: u64,
) -> Option<Vec<u8>> {
    let mut chain = Chain::new();
    if !chain.push(entry.clone()) {
        return None;
    }
    if entry.kind() == EntryKind::NxDomain {
        chain.set_rcode(rcode::NXDOMAIN);
    }
    chain_message(owner, rtype.unwrap_or(rtype::A), &chain, now_ms)
}

/// The response the cache would give to (`qname`, `qtype`) from `chain`,
/// with its DNSSEC records, and AD if validation found it secure.
pub fn chain_message(qname: &[u8], qtype: u16, chain: &Chain, now_ms: u64) -> Option<Vec<u8>> {
    // RD and AD: the question asks whether the data is authentic; DO,
    // for its RRSIGs and proofs.
    let mut packet = vec![0, 0, 1, 0x20, 0, 1, 0, 0, 0, 0, 0, 1];
    packet.extend_from_slice(qname);
    packet.extend_from_slice(&qtype.to_be_bytes());
    packet.extend_from_slice(&1u16.to_be_bytes());
    packet.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0x80, 0, 0, 0]);
    let query = decode(&packet).ok()?;
    let mut out = Vec::with_capacity(512);
    let opts = ReplyOptions {
        max_len: crate::wire::MAX_MESSAGE_SIZE,
        our_udp_size: 4096,
        recursion_available: true,
    };
    chain.write(&mut out, &query, now_ms, false, opts);
    Some(out)
}

/// Writes `bytes` to a temporary file beside `path`, flushes it to disk,
/// and renames it over `path`.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp{}", std::process::id()));
    let temporary = std::path::PathBuf::from(temporary);
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode_private()
            .open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// Cache files show what clients asked: owner-only where the platform
/// allows.
trait PrivateMode {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateMode for std::fs::OpenOptions {
    #[cfg(unix)]
    fn mode_private(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
    #[cfg(not(unix))]
    fn mode_private(&mut self) -> &mut Self {
        self
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hickory_proto::rr::RData;
    use hickory_proto::rr::rdata::A;

    use super::*;
    use crate::cache::{CacheSettings, Rrset};

    fn cache() -> Cache {
        Cache::new(CacheSettings {
            max_size: 1 << 20,
            min_ttl: 0,
            max_ttl: 86400,
            max_negative_ttl: 3600,
            serve_stale: Duration::ZERO,
            prefetch: false,
        })
    }

    fn filled() -> Cache {
        let cache = cache();
        for i in 0..3u8 {
            let rrset = Rrset {
                name: Name::from_ascii(format!("h{i}.example.")).unwrap(),
                rtype: RecordType::A,
                ttl: 600,
                rdatas: vec![RData::A(A::new(192, 0, 2, i))],
            };
            cache
                .store_rrset(&rrset, cache.now_ms(), Origin::Upstream)
                .unwrap();
        }
        cache
    }

    #[test]
    fn a_file_round_trips_and_any_damage_loads_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cache.state");
        assert_eq!(dump(&filled(), &file).unwrap(), 3);
        let fresh = cache();
        assert_eq!(
            load(&fresh, &file).unwrap(),
            Loaded {
                stored: 3,
                expired: 0
            }
        );
        fresh.run_pending_tasks();
        assert_eq!(fresh.entry_count(), 3);

        let good = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = good.lines().collect();
        let damaged = [
            ("truncated", lines[..3].join("\n") + "\n", "truncated"),
            ("version", good.replacen(" 1 ", " 2 ", 1), "checksum"),
            ("empty", String::new(), "empty file"),
            ("one bit", good.replacen("h1", "h2", 1), "checksum mismatch"),
        ];
        for (what, text, want) in damaged {
            std::fs::write(&file, &text).unwrap();
            let empty = cache();
            let err = load(&empty, &file).unwrap_err();
            assert!(err.contains(want), "{what}: {err}");
            assert!(
                err.starts_with(&file.display().to_string()),
                "{what}: {err}"
            );
            empty.run_pending_tasks();
            assert_eq!(empty.entry_count(), 0, "{what}: something loaded");
        }
    }

    #[test]
    fn entries_that_expired_since_the_dump_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cache.state");
        dump(&filled(), &file).unwrap();
        // Pretend the file was written 700 s ago (TTLs were 600).
        let text = std::fs::read_to_string(&file).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let written: u64 = lines[0].rsplit(' ').next().unwrap().parse().unwrap();
        lines[0] = format!("{MAGIC} {VERSION} {}", written - 700);
        let body = lines[..lines.len() - 1].join("\n") + "\n";
        let sum = HEXLOWER.encode(digest(&SHA256, body.as_bytes()).as_ref());
        std::fs::write(&file, format!("{body}end 3 {sum}\n")).unwrap();
        assert_eq!(
            load(&cache(), &file).unwrap(),
            Loaded {
                stored: 0,
                expired: 3
            }
        );
    }
}

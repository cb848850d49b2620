//! The zone files of NSD's and Knot's own test suites
//! (`../shared/corpus/zones`, with `index.tsv` saying whether NSD 4.6 and
//! BIND 9.18 load each): every file NSD or BIND loads loads here, and
//! reads as BIND reads it, record by record and byte by byte; files both
//! refuse are refused here, with the line of a cause.
//!
//! The reference data is BIND's own reading: `named-checkzone -D` (NSD's
//! `nsd-checkzone -p` for files only NSD loads), turned into RFC 3597 wire
//! form by `ldns-read-zone`, a third implementation. TTLs are compared
//! where BIND loads the file (NSD gives records without one another
//! default); names compare without case.
//!
//! Needs the corpus beside the repository (it skips without), and
//! named-checkzone, nsd-checkzone and ldns-read-zone (apt: bind9-utils, nsd,
//! ldnsutils): it skips without them unless HEARSAY_REQUIRE_LAB is set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use hearsay::zone::{Zone, read_master_file};
use hickory_proto::rr::Name;
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};

const RELAXED: &[&str] = &[
    "-i", "none", "-k", "ignore", "-m", "ignore", "-M", "ignore", "-n", "ignore", "-r", "ignore",
    "-S", "ignore", "-T", "ignore", "-W", "ignore",
];

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/zones");
    dir.join("index.tsv").is_file().then_some(dir)
}

/// Why the corpus test cannot run here, if it cannot (the corpus itself
/// being there).
fn unavailable() -> Option<String> {
    for tool in ["named-checkzone", "nsd-checkzone", "ldns-read-zone"] {
        if Command::new(tool).arg("-h").output().is_err() {
            return Some(format!(
                "{tool} is not installed (apt-get install bind9-utils nsd ldnsutils)"
            ));
        }
    }
    None
}

/// An RRset by owner (lowercase wire form, in hex), type, and for RRSIG the
/// type covered (BIND keeps a signature set per type, each with its TTL):
/// the TTL, and its records' RDATA in hex, sorted.
type Rrsets = BTreeMap<(String, u16, u16), (u32, Vec<String>)>;

/// A name in presentation form (`\DDD` and `\X` escapes) as lowercase wire
/// form in hex.
fn owner_key(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut wire = Vec::new();
    let mut label = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if i + 3 < bytes.len() && bytes[i + 1..i + 4].iter().all(u8::is_ascii_digit) => {
                label.push(
                    std::str::from_utf8(&bytes[i + 1..i + 4])
                        .unwrap()
                        .parse::<u8>()
                        .unwrap(),
                );
                i += 4;
            }
            b'\\' if i + 1 < bytes.len() => {
                label.push(bytes[i + 1]);
                i += 2;
            }
            b'.' => {
                if !label.is_empty() {
                    wire.push(label.len() as u8);
                    wire.append(&mut label);
                }
                i += 1;
            }
            byte => {
                label.push(byte);
                i += 1;
            }
        }
    }
    if !label.is_empty() {
        wire.push(label.len() as u8);
        wire.append(&mut label);
    }
    wire.push(0);
    hex(&wire.to_ascii_lowercase())
}

/// Types whose RDATA holds domain names (RFC 4034 section 6.2's list and
/// the like): their names compare without case, and records that differ
/// only in a name's case are one record, as BIND has them.
const NAMES_IN_RDATA: &[u16] = &[
    2, 3, 4, 5, 6, 7, 8, 9, 12, 14, 15, 17, 18, 21, 26, 33, 35, 36, 39, 47, 58, 107,
];

/// RDATA in hex, lowercased where it holds names.
fn rdata_key(code: u16, data: String) -> String {
    if !NAMES_IN_RDATA.contains(&code) {
        return data;
    }
    let bytes: Vec<u8> = (0..data.len() / 2)
        .map(|i| u8::from_str_radix(&data[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect();
    hex(&bytes.to_ascii_lowercase())
}

/// Records the reference conversion is known to get wrong, so they are
/// left out of it: ldns-read-zone 1.8.3 reads NSAP-PTR as a string (RFC 1706
/// and BIND make it a domain name), and misreads backslashes in SVCB's
/// alpn lists (RFC 9460 appendix A.1: BIND's own text and hearsay agree on
/// the RFC's test vectors, as the files that give them in \# form show).
fn conversion_wrong(line: &str) -> bool {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let has = |t: &str| fields.iter().take(5).any(|f| f.eq_ignore_ascii_case(t));
    has("NSAP-PTR")
        || ((has("SVCB") || has("HTTPS")) && line.contains("alpn=") && line.contains('\\'))
}

/// The type covered, for an RRSIG's RDATA in hex.
fn covered(code: u16, data: &str) -> u16 {
    if code != 46 || data.len() < 4 {
        return 0;
    }
    u16::from_str_radix(&data[..4], 16).unwrap_or(0)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What BIND (or NSD) reads from `file`, in wire form, by RRset.
fn reference(
    file: &Path,
    origin: &str,
    bind_loads: bool,
    scratch: &Path,
    skipped: &mut Vec<String>,
) -> Result<Rrsets, String> {
    let text = if bind_loads {
        let out = Command::new("named-checkzone")
            .args(RELAXED)
            .args(["-D", "-o", "-", origin])
            .arg(file)
            .output()
            .map_err(|e| e.to_string())?;
        out.stdout
    } else {
        let out = Command::new("nsd-checkzone")
            .args(["-p", origin])
            .arg(file)
            .output()
            .map_err(|e| e.to_string())?;
        out.stdout
    };
    // ldns cannot read every record BIND writes: those are taken out (and
    // counted in `skipped`), the rest converted.
    let mut lines: Vec<String> = Vec::new();
    for line in String::from_utf8_lossy(&text).lines() {
        if conversion_wrong(line) {
            skipped.push(line.to_string());
        } else {
            lines.push(line.to_string());
        }
    }
    let canonical = scratch.join("canonical.zone");
    let generic = loop {
        std::fs::write(&canonical, lines.join("\n") + "\n").map_err(|e| e.to_string())?;
        let mut generic = Vec::new();
        let mut failed_at = None;
        for args in [&["-U", "SOA"][..], &["-E", "SOA", "-u", "SOA"][..]] {
            let out = Command::new("ldns-read-zone")
                .args(args)
                .arg(&canonical)
                .output()
                .map_err(|e| e.to_string())?;
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr).into_owned();
                failed_at = Some(
                    err.rsplit("at line ")
                        .next()
                        .and_then(|n| n.trim().parse::<usize>().ok())
                        .filter(|&n| n >= 1 && n <= lines.len())
                        .ok_or_else(|| format!("ldns-read-zone: {err}"))?,
                );
                break;
            }
            generic.extend_from_slice(&out.stdout);
        }
        match failed_at {
            None => break generic,
            Some(line) => {
                skipped.push(lines.remove(line - 1));
            }
        }
    };
    let mut rrsets = Rrsets::new();
    for line in String::from_utf8_lossy(&generic).lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() < 5 || line.starts_with(';') {
            continue;
        }
        let Some(code) = fields[3]
            .strip_prefix("TYPE")
            .and_then(|n| n.parse::<u16>().ok())
        else {
            continue; // The SOA of the first pass, in presentation form.
        };
        let data: String = fields[4]
            .split_whitespace()
            .skip(2)
            .collect::<Vec<_>>()
            .concat()
            .to_lowercase();
        let owner = owner_key(fields[0]);
        let ttl: u32 = fields[1]
            .parse()
            .map_err(|_| format!("bad TTL in {line}"))?;
        let entry = rrsets
            .entry((owner, code, covered(code, &data)))
            .or_insert((ttl, Vec::new()));
        let data = rdata_key(code, data);
        if !entry.1.contains(&data) {
            entry.1.push(data);
        }
    }
    for (_, data) in rrsets.values_mut() {
        data.sort();
    }
    Ok(rrsets)
}

/// What hearsay reads from `file`, the same way: out-of-zone records left
/// out (both servers ignore or refuse them), duplicates once, the first
/// TTL of an RRset standing for it.
fn ours(file: &Path, origin: &Name) -> Result<Rrsets, String> {
    let (records, _) = read_master_file(file, origin, None).map_err(|e| e.to_string())?;
    let mut rrsets = Rrsets::new();
    for source in records {
        let record = source.record;
        if !origin.zone_of(&record.name) {
            continue;
        }
        let mut wire = Vec::new();
        let mut encoder = BinEncoder::new(&mut wire);
        encoder.set_name_encoding(NameEncoding::Uncompressed);
        record.data.emit(&mut encoder).map_err(|e| e.to_string())?;
        let mut owner = Vec::new();
        hearsay::wire::name::name_to_wire(&record.name, &mut owner);
        let owner = hex(&owner.to_ascii_lowercase());
        let data = hex(&wire);
        let code = u16::from(record.record_type());
        let entry = rrsets
            .entry((owner, code, covered(code, &data)))
            .or_insert((record.ttl, Vec::new()));
        let data = rdata_key(code, data);
        if !entry.1.contains(&data) {
            entry.1.push(data);
        }
    }
    for (_, data) in rrsets.values_mut() {
        data.sort();
    }
    Ok(rrsets)
}

/// An owner key shown as text, for messages.
fn show(key: &str) -> String {
    let bytes: Vec<u8> = (0..key.len() / 2)
        .map(|i| u8::from_str_radix(&key[2 * i..2 * i + 2], 16).unwrap_or(b'?'))
        .collect();
    hearsay::wire::name::wire_to_text(&bytes)
}

#[test]
fn the_corpus_loads_as_nsd_and_bind_load_it() {
    // The corpus is the workplace's data, beside the repository, not in it.
    if corpus().is_none() {
        eprintln!("skipping: ../shared/corpus/zones is not there");
        return;
    }
    if let Some(why) = unavailable() {
        if std::env::var_os("HEARSAY_REQUIRE_LAB").is_some() {
            panic!("HEARSAY_REQUIRE_LAB is set but the corpus test cannot run: {why}");
        }
        eprintln!("skipping: {why}");
        return;
    }
    let dir = corpus().unwrap();
    let index = std::fs::read_to_string(dir.join("index.tsv")).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let mut problems = Vec::new();
    let (mut loadable, mut loaded, mut refusable, mut refused, mut rrsets_compared) =
        (0, 0, 0, 0, 0);
    let mut unreadable_reference = 0;
    for line in index.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let [file, origin, nsd, bind] = fields[..] else {
            continue;
        };
        let path = dir.join(file);
        let name = Name::from_ascii(origin).unwrap();
        let (nsd_loads, bind_loads) = (nsd == "1", bind == "1");
        let result = Zone::load(&name, &path);
        if !(nsd_loads || bind_loads) {
            refusable += 1;
            match result {
                Ok(_) => problems.push(format!("{file}: NSD and BIND refuse it, hearsay loads it")),
                Err(e) if e.line.is_none() && e.also.iter().all(|e| e.line.is_none()) => {
                    problems.push(format!("{file}: refused without a line: {e}"))
                }
                Err(_) => refused += 1,
            }
            continue;
        }
        loadable += 1;
        if let Err(e) = result {
            problems.push(format!("{file}: refused: {e}"));
            continue;
        }
        loaded += 1;
        let mut skipped = Vec::new();
        let want = match reference(&path, origin, bind_loads, scratch.path(), &mut skipped) {
            Ok(want) => want,
            Err(e) => {
                problems.push(format!("{file}: the reference tools fail: {e}"));
                continue;
            }
        };
        for record in &skipped {
            eprintln!(
                "{file}: ldns-read-zone cannot convert {record:?}: its owner is not compared"
            );
        }
        unreadable_reference += skipped.len();
        let got = match ours(&path, &name) {
            Ok(got) => got,
            Err(e) => {
                problems.push(format!("{file}: {e}"));
                continue;
            }
        };
        let skipped_owners: Vec<String> = skipped
            .iter()
            .filter_map(|line| line.split_whitespace().next())
            .map(|owner| {
                let absolute = if owner.ends_with('.') {
                    owner.to_string()
                } else {
                    format!("{owner}.{origin}")
                };
                owner_key(&absolute)
            })
            .collect();
        for (key, (ttl, data)) in &want {
            if skipped_owners.contains(&key.0) {
                continue;
            }
            rrsets_compared += 1;
            match got.get(key) {
                None => problems.push(format!("{file}: {} type {} missing", show(&key.0), key.1)),
                Some((_, ours)) if ours != data => problems.push(format!(
                    "{file}: {} type {}: {ours:?}, BIND {data:?}",
                    show(&key.0),
                    key.1
                )),
                Some((our_ttl, _)) if bind_loads && our_ttl != ttl => problems.push(format!(
                    "{file}: {} type {}: TTL {our_ttl}, BIND {ttl}",
                    show(&key.0),
                    key.1
                )),
                Some(_) => {}
            }
        }
        for key in got
            .keys()
            .filter(|k| !want.contains_key(k) && !skipped_owners.contains(&k.0))
        {
            problems.push(format!(
                "{file}: {} type {} read here, not by the reference",
                show(&key.0),
                key.1
            ));
        }
    }
    eprintln!(
        "corpus: {loaded} of {loadable} files that NSD or BIND loads loaded, {rrsets_compared} RRsets compared \
         ({unreadable_reference} records ldns-read-zone cannot convert left out); {refused} of {refusable} files both refuse refused"
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

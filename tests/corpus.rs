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
        add(&mut rrsets, owner, code, ttl, data);
    }
    Ok(sorted(rrsets))
}

/// Adds one record to its RRset; the first TTL stands, a duplicate is kept
/// once.
fn add(rrsets: &mut Rrsets, owner: String, code: u16, ttl: u32, data: String) {
    let entry = rrsets
        .entry((owner, code, covered(code, &data)))
        .or_insert((ttl, Vec::new()));
    let data = rdata_key(code, data);
    if !entry.1.contains(&data) {
        entry.1.push(data);
    }
}

fn sorted(mut rrsets: Rrsets) -> Rrsets {
    for (_, data) in rrsets.values_mut() {
        data.sort();
    }
    rrsets
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
        add(&mut rrsets, owner, code, record.ttl, data);
    }
    Ok(sorted(rrsets))
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect()
}

/// An uncompressed name read from `msg` at `pos` (following pointers), and
/// the position after it.
fn read_name(msg: &[u8], mut pos: usize) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut end = None;
    for _ in 0..128 {
        let len = *msg.get(pos)? as usize;
        if len & 0xC0 == 0xC0 {
            end.get_or_insert(pos + 2);
            pos = ((len & 0x3F) << 8) | *msg.get(pos + 1)? as usize;
            continue;
        }
        out.extend_from_slice(msg.get(pos..pos + 1 + len)?);
        pos += 1 + len;
        if len == 0 {
            return Some((out, end.unwrap_or(pos)));
        }
    }
    None
}

/// The answer and authority records of a response: owner (lowercase wire,
/// hex), type, TTL, and RDATA in hex with the names the server may
/// compress (RFC 3597 section 4) written out.
fn served_records(msg: &[u8]) -> Option<Vec<(String, u16, u32, String)>> {
    let count = |i: usize| u16::from_be_bytes([msg[4 + 2 * i], msg[5 + 2 * i]]) as usize;
    let records = count(1) + count(2);
    let (_, mut pos) = read_name(msg, 12)?;
    pos += 4;
    let mut out = Vec::new();
    for _ in 0..records {
        let (owner, after) = read_name(msg, pos)?;
        let field = |at: usize| Some(u16::from_be_bytes([*msg.get(at)?, *msg.get(at + 1)?]));
        let rtype = field(after)?;
        let ttl = u32::from_be_bytes(msg.get(after + 4..after + 8)?.try_into().ok()?);
        let len = field(after + 8)? as usize;
        let start = after + 10;
        let rdata = msg.get(start..start + len)?;
        let data = match rtype {
            2 | 5 | 12 => read_name(msg, start)?.0,
            15 => [&rdata[..2], &read_name(msg, start + 2)?.0].concat(),
            6 => {
                let (mname, next) = read_name(msg, start)?;
                let (rname, next) = read_name(msg, next)?;
                [mname, rname, msg.get(next..next + 20)?.to_vec()].concat()
            }
            _ => rdata.to_vec(),
        };
        out.push((hex(&owner.to_ascii_lowercase()), rtype, ttl, hex(&data)));
        pos = start + len;
    }
    Some(out)
}

/// Asks the loaded zone for every RRset of the reference, as a client
/// would, and compares what the response carries. RRsets no server
/// answers at their own name are left out and counted: what a delegation
/// or DNAME hides, glue, and NSEC3 records (RFC 5155 section 7.2.8).
fn check_served(
    zone: &Zone,
    file: &str,
    want: &Rrsets,
    skipped_owners: &[String],
    bind_loads: bool,
    problems: &mut Vec<String>,
) -> (usize, usize) {
    use hearsay::wire::response::{ReplyOptions, write_reply};
    let apex = hex(zone.apex().as_bytes());
    let cuts: Vec<&String> = want
        .keys()
        .filter(|k| k.1 == 2 && k.0 != apex)
        .map(|k| &k.0)
        .collect();
    let dnames: Vec<&String> = want.keys().filter(|k| k.1 == 39).map(|k| &k.0).collect();
    let (mut compared, mut hidden) = (0, 0);
    let mut out = Vec::new();
    for (key, (ttl, data)) in want {
        let (owner, rtype, cover) = (&key.0, key.1, key.2);
        if skipped_owners.contains(owner) {
            continue;
        }
        // Label boundaries matter: compare suffixes on whole labels.
        let wire = unhex(owner);
        let name = hearsay::wire::NameKey::from_wire(&wire).unwrap();
        let ancestors: Vec<String> = (1..name.label_count())
            .map(|skip| hex(name.suffix(skip)))
            .collect();
        let under = |set: &[&String]| ancestors.iter().any(|a| set.contains(&a));
        let at_cut = cuts.contains(&owner);
        if under(&cuts)
            || under(&dnames)
            || (at_cut && !matches!(rtype, 2 | 43))
            || rtype == 50
            || cover == 50
        {
            hidden += 1;
            continue;
        }
        let mut packet = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        packet.extend_from_slice(&wire);
        packet.extend_from_slice(&rtype.to_be_bytes());
        packet.extend_from_slice(&[0, 1]);
        let query = hearsay::wire::decode(&packet).unwrap();
        let Some(reply) = zone.lookup(&query.key, rtype, false) else {
            problems.push(format!(
                "{file}: {} type {rtype}: not in the zone",
                show(owner)
            ));
            continue;
        };
        let opts = ReplyOptions {
            max_len: 65535,
            our_udp_size: 1232,
            recursion_available: false,
        };
        write_reply(&mut out, &query, &reply, opts);
        let Some(records) = served_records(&out) else {
            problems.push(format!(
                "{file}: {} type {rtype}: the response does not parse",
                show(owner)
            ));
            continue;
        };
        let mut got: Vec<String> = Vec::new();
        let mut ttls = Vec::new();
        for (o, t, record_ttl, d) in records {
            if o != *owner || t != rtype || covered(t, &d) != cover {
                continue;
            }
            let d = rdata_key(t, d);
            if !got.contains(&d) {
                got.push(d);
            }
            ttls.push(record_ttl);
        }
        got.sort();
        compared += 1;
        if got != *data {
            problems.push(format!(
                "{file}: {} type {rtype} is served as {got:?}, BIND has {data:?}",
                show(owner)
            ));
        } else if bind_loads && ttls.iter().any(|t| t != ttl) {
            problems.push(format!(
                "{file}: {} type {rtype} is served with TTLs {ttls:?}, BIND has {ttl}",
                show(owner)
            ));
        }
    }
    (compared, hidden)
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
    let (mut rrsets_served, mut rrsets_hidden) = (0, 0);
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
        let zone = match result {
            Ok((zone, _)) => zone,
            Err(e) => {
                problems.push(format!("{file}: refused: {e}"));
                continue;
            }
        };
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
        let (served, hidden) = check_served(
            &zone,
            file,
            &want,
            &skipped_owners,
            bind_loads,
            &mut problems,
        );
        rrsets_served += served;
        rrsets_hidden += hidden;
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
         ({unreadable_reference} records ldns-read-zone cannot convert left out), {rrsets_served} of them asked for \
         and served as read ({rrsets_hidden} hidden by a cut or DNAME, or NSEC3); {refused} of {refusable} files both refuse refused"
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

//! Reading RFC 1035 master files as NSD and BIND read them, with the line of
//! every record and every error.
//!
//! The text is split into entries and tokens (`token`), each record's RDATA
//! goes to wire form field by field (`rdata`: every type NSD knows, and
//! RFC 3597's generic syntax for any), and the `$` directives are handled
//! here: `$ORIGIN`, `$TTL`, `$INCLUDE` (with an origin; relative paths from
//! the including file's directory, then from a fallback directory) and
//! BIND's `$GENERATE`. A record without a TTL takes the one BIND gives it:
//! `$TTL`, else the last TTL written (RFC 1035), else the SOA's MINIMUM
//! for the SOA and all after it (RFC 2308 section 4); where BIND knows
//! none, NSD's 3600. Errors do not stop the reading: every one is reported,
//! each with its file, line and record.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hickory_proto::rr::rdata::NULL;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, Restrict};

use super::findings::{Findings, Peer};
use super::generate;
use super::rdata::{self, types};
use super::token::{Entry, Lexer, Token};

/// `$INCLUDE` nesting deeper than this is taken for a loop.
const MAX_INCLUDE_DEPTH: usize = 16;
/// Errors reported for one zone before the rest are left out.
const MAX_ERRORS: usize = 100;
/// NSD's TTL for a record where neither `$TTL` nor any TTL before it says.
const NSD_DEFAULT_TTL: u32 = 3600;

/// Where a record or an error comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: Arc<Path>,
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// A zone that cannot be loaded: a line naming the file, the line when
/// there is one, and what is wrong; then the other errors found, one a
/// line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
    /// Further errors in the same zone, in the order found.
    pub also: Vec<ZoneError>,
}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}", self.message)?;
        for more in &self.also {
            write!(f, "\n{more}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ZoneError {}

impl ZoneError {
    /// An error at a known line.
    pub fn at(location: &Location, message: impl Into<String>) -> Self {
        Self {
            file: location.file.to_path_buf(),
            line: Some(location.line),
            message: message.into(),
            also: Vec::new(),
        }
    }

    /// An error about the file as a whole.
    pub fn in_file(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: None,
            message: message.into(),
            also: Vec::new(),
        }
    }

    /// One error for a list of them, or `None` for none.
    pub fn gather(mut errors: Vec<ZoneError>) -> Option<ZoneError> {
        if errors.is_empty() {
            return None;
        }
        let mut first = errors.remove(0);
        first.also.extend(errors);
        Some(first)
    }

    /// Every error, the first included.
    pub fn count(&self) -> usize {
        1 + self.also.len()
    }
}

/// One record read from a master file.
#[derive(Clone, Debug)]
pub struct SourceRecord {
    pub record: Record,
    pub location: Location,
}

/// One record as the reader makes it: owner and RDATA in wire form, names
/// uncompressed and in the case written, the RDATA at most 65535 octets.
#[derive(Clone, Copy, Debug)]
pub struct RawRecord<'a> {
    pub owner: &'a [u8],
    pub rtype: u16,
    pub ttl: u32,
    pub rdata: &'a [u8],
}

impl RawRecord<'_> {
    /// The record as hickory-proto's type, for callers that want one.
    fn to_record(self) -> Result<Record, String> {
        let name = name_of(self.owner).ok_or("the owner name cannot be used")?;
        let data = rdata_of(self.rtype, self.rdata)?;
        let mut record = Record::from_rdata(name, self.ttl, data);
        record.dns_class = DNSClass::IN;
        Ok(record)
    }
}

/// The records of a file, and what was found short of an error.
pub type Read = (Vec<SourceRecord>, Findings);

/// Reads the master file at `path` for the zone `origin`, following
/// `$INCLUDE`s, which are looked for beside the including file, then in
/// `fallback_dir`.
pub fn read_master_file(
    path: &Path,
    origin: &Name,
    fallback_dir: Option<&Path>,
) -> Result<Read, ZoneError> {
    let mut records = Vec::new();
    let findings =
        read_master_file_into(path, origin, fallback_dir, &mut |record, location, _| {
            records.push(SourceRecord {
                record: record.to_record()?,
                location: location.clone(),
            });
            Ok(())
        })?;
    Ok((records, findings))
}

/// What takes each record as it is read, with its location and the
/// findings so far; an error it returns is reported at the record.
pub type Sink<'s> = dyn FnMut(RawRecord<'_>, &Location, &mut Findings) -> Result<(), String> + 's;

/// Like [`read_master_file`], handing each record to `sink` as it is read
/// rather than keeping them all: a zone of millions of records is grouped
/// as it streams in.
pub fn read_master_file_into(
    path: &Path,
    origin: &Name,
    fallback_dir: Option<&Path>,
    sink: &mut Sink<'_>,
) -> Result<Findings, ZoneError> {
    let mut reader = Reader::new(fallback_dir, sink);
    reader.read_file(path, wire_of(origin), None, 0, None);
    reader.finish()
}

/// Reads master file text that is not on disk (built-in data); `source`
/// names it in errors and anchors relative `$INCLUDE`s.
pub fn read_master_text(text: &str, source: &Path, origin: &Name) -> Result<Read, ZoneError> {
    let mut records = Vec::new();
    let mut sink = |record: RawRecord<'_>, location: &Location, _: &mut Findings| {
        records.push(SourceRecord {
            record: record.to_record()?,
            location: location.clone(),
        });
        Ok(())
    };
    let findings = read_master_text_into(text.as_bytes(), source, origin, &mut sink)?;
    Ok((records, findings))
}

/// Like [`read_master_file_into`], for master file text already in
/// memory; `source` names it in errors and anchors relative `$INCLUDE`s.
pub fn read_master_text_into(
    text: &[u8],
    source: &Path,
    origin: &Name,
    sink: &mut Sink<'_>,
) -> Result<Findings, ZoneError> {
    let mut reader = Reader::new(None, sink);
    reader.read_text(text, source, wire_of(origin), None, 0);
    reader.finish()
}

/// State that carries from one entry to the next.
struct Reader<'a> {
    sink: &'a mut Sink<'a>,
    errors: Vec<ZoneError>,
    findings: Findings,
    fallback_dir: Option<&'a Path>,
    /// From `$TTL`, or from the SOA's MINIMUM when no TTL was known.
    default_ttl: Option<u32>,
    /// The last TTL written on a record (RFC 1035 section 5.1).
    last_ttl: Option<u32>,
    /// Buffers for the next record's owner and RDATA, reused so that a
    /// record read costs no allocation.
    spare_owner: Vec<u8>,
    spare_rdata: Vec<u8>,
}

/// What an entry of a record inherits: the origin and the previous owner,
/// both in wire form.
struct Context {
    origin: Vec<u8>,
    owner: Option<Vec<u8>>,
}

impl<'a> Reader<'a> {
    fn new(fallback_dir: Option<&'a Path>, sink: &'a mut Sink<'a>) -> Self {
        Self {
            sink,
            errors: Vec::new(),
            findings: Findings::default(),
            fallback_dir,
            default_ttl: None,
            last_ttl: None,
            spare_owner: Vec::new(),
            spare_rdata: Vec::new(),
        }
    }

    fn finish(self) -> Result<Findings, ZoneError> {
        match ZoneError::gather(self.errors) {
            None => Ok(self.findings),
            Some(e) => Err(e),
        }
    }

    fn error(&mut self, location: &Location, message: impl Into<String>) {
        match self.errors.len() {
            n if n < MAX_ERRORS => self.errors.push(ZoneError::at(location, message)),
            MAX_ERRORS => self.errors.push(ZoneError::at(
                location,
                format!("more than {MAX_ERRORS} errors: the rest are not listed"),
            )),
            _ => {}
        }
    }

    fn read_file(
        &mut self,
        path: &Path,
        origin: Vec<u8>,
        owner: Option<Vec<u8>>,
        depth: usize,
        from: Option<&Location>,
    ) {
        match std::fs::read(path) {
            Ok(text) => self.read_text(&text, path, origin, owner, depth),
            Err(e) => {
                let message = format!("cannot read {}: {e}", path.display());
                match from {
                    Some(location) => self.error(location, message),
                    None => self
                        .errors
                        .push(ZoneError::in_file(path, format!("cannot read: {e}"))),
                }
            }
        }
    }

    fn read_text(
        &mut self,
        text: &[u8],
        path: &Path,
        origin: Vec<u8>,
        owner: Option<Vec<u8>>,
        depth: usize,
    ) {
        let file: Arc<Path> = Arc::from(path);
        let mut context = Context { origin, owner };
        let mut lexer = Lexer::new(text);
        while let Some(entry) = lexer.next() {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    let location = Location {
                        file: file.clone(),
                        line: e.line,
                    };
                    self.error(&location, e.message);
                    continue;
                }
            };
            let location = Location {
                file: file.clone(),
                line: entry.line,
            };
            if let Some(warning) = &entry.warning {
                self.findings
                    .refused_by(Peer::Bind, Some(&location), warning.clone());
            }
            let first = entry.tokens[0];
            let taken = if !entry.blank_owner && !first.quoted && first.text.first() == Some(&b'$')
            {
                self.directive(&entry, &location, &mut context, depth)
            } else {
                self.take_record(&entry, &location, &mut context)
            };
            if let Err(message) = taken {
                self.error(&location, format!("{message}, in \"{}\"", excerpt(&entry)));
            }
            lexer.recycle(entry.tokens);
        }
    }

    /// Reads the record of `entry` and hands it to the sink.
    fn take_record(
        &mut self,
        entry: &Entry<'_>,
        location: &Location,
        context: &mut Context,
    ) -> Result<(), String> {
        let record = self.record(&entry.tokens, entry.blank_owner, context, location)?;
        let raw = record.raw(context.owner.as_deref());
        let taken = (self.sink)(raw, location, &mut self.findings);
        if let Some(owner) = record.owner
            && let Some(old) = context.owner.replace(owner)
        {
            self.spare_owner = old;
        }
        self.spare_rdata = record.rdata;
        taken
    }

    fn directive(
        &mut self,
        entry: &Entry<'_>,
        location: &Location,
        context: &mut Context,
        depth: usize,
    ) -> Result<(), String> {
        let (keyword, args) = entry.tokens.split_first().ok_or("an empty directive")?;
        let word = String::from_utf8_lossy(&keyword.text[1..]).to_ascii_uppercase();
        match (word.as_str(), args) {
            ("ORIGIN", [name]) => {
                context.origin = rdata::name(name, &context.origin)
                    .map_err(|e| format!("bad $ORIGIN {}: {e}", name.show()))?;
            }
            ("TTL", [ttl]) => {
                let ttl = rdata::ttl(ttl.text).ok_or_else(|| format!("bad $TTL {}", ttl.show()))?;
                self.default_ttl = Some(ttl);
            }
            ("INCLUDE", [file, rest @ ..]) if rest.len() <= 1 => {
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(format!(
                        "$INCLUDE nested more than {MAX_INCLUDE_DEPTH} deep"
                    ));
                }
                let included_origin = match rest.first() {
                    Some(name) => rdata::name(name, &context.origin)
                        .map_err(|e| format!("bad $INCLUDE origin {}: {e}", name.show()))?,
                    None => context.origin.clone(),
                };
                let target = self.include_path(&location.file, file.text)?;
                // The included file cannot change this file's origin or
                // owner (RFC 1035 section 5.1).
                self.read_file(
                    &target,
                    included_origin,
                    context.owner.clone(),
                    depth + 1,
                    Some(location),
                );
            }
            ("GENERATE", args) => self.generate(args, context, location)?,
            ("ORIGIN" | "TTL" | "INCLUDE", _) => {
                return Err(format!("wrong number of arguments to ${word}"));
            }
            (other, _) => return Err(format!("unknown directive ${other}")),
        }
        Ok(())
    }

    /// Where an `$INCLUDE` of `file` from `including` is.
    fn include_path(&self, including: &Path, file: &[u8]) -> Result<PathBuf, String> {
        let file = PathBuf::from(String::from_utf8_lossy(file).into_owned());
        if file.is_absolute() {
            return Ok(file);
        }
        let beside = including
            .parent()
            .map_or_else(|| file.clone(), |dir| dir.join(&file));
        if beside.is_file() {
            return Ok(beside);
        }
        if let Some(dir) = self.fallback_dir
            && dir.join(&file).is_file()
        {
            return Ok(dir.join(&file));
        }
        Err(format!("$INCLUDE file {} does not exist", beside.display()))
    }

    /// `$GENERATE range lhs [ttl] [class] type rhs`: the records, each
    /// read as if written out.
    fn generate(
        &mut self,
        args: &[Token<'_>],
        context: &Context,
        location: &Location,
    ) -> Result<(), String> {
        let [range, lhs, rest @ ..] = args else {
            return Err("$GENERATE needs a range, an owner, a type and RDATA".into());
        };
        let (start, stop, step) = generate::range(range.text)?;
        // The RDATA template is the rest after the type: one token, or
        // several written out together.
        let type_at = rest
            .iter()
            .position(|t| {
                !t.quoted && types::code(t.text).is_some() && rdata::ttl(t.text).is_none()
            })
            .ok_or("$GENERATE needs a type")?;
        let head: Vec<&Token<'_>> = rest[..=type_at].iter().collect();
        let template: Vec<u8> = rest[type_at + 1..]
            .iter()
            .map(|t| {
                if t.quoted {
                    quote(t.text)
                } else {
                    t.text.to_vec()
                }
            })
            .collect::<Vec<_>>()
            .join(&b' ');
        let mut value = start;
        while value <= stop {
            let owner = generate::expand(lhs.text, value)?;
            let rdata_text = generate::expand(&template, value)?;
            let mut line: Vec<u8> = owner;
            for token in &head {
                line.push(b' ');
                line.extend_from_slice(token.text);
            }
            line.push(b' ');
            line.extend_from_slice(&rdata_text);
            let mut lexer = Lexer::new(&line);
            let tokens = match lexer.next() {
                Some(Ok(entry)) => entry.tokens,
                Some(Err(e)) => {
                    return Err(format!(
                        "$GENERATE makes {}: {}",
                        String::from_utf8_lossy(&line),
                        e.message
                    ));
                }
                None => return Err("$GENERATE makes an empty record".into()),
            };
            self.record(&tokens, false, context, location)
                .and_then(|record| (self.sink)(record.raw(None), location, &mut self.findings))
                .map_err(|e| {
                    format!(
                        "$GENERATE makes \"{}\": {e}",
                        String::from_utf8_lossy(&line)
                    )
                })?;
            value = match value.checked_add(step) {
                Some(next) => next,
                None => break,
            };
        }
        Ok(())
    }

    /// One record: `[owner] [ttl] [class] type rdata`, TTL and class in
    /// either order.
    fn record(
        &mut self,
        tokens: &[Token<'_>],
        blank_owner: bool,
        context: &Context,
        location: &Location,
    ) -> Result<ReadRecord, String> {
        let mut rest = tokens;
        let owner = if blank_owner {
            if context.owner.is_none() {
                return Err(
                    "the record has no owner name and there is no previous one to repeat".into(),
                );
            }
            None
        } else {
            let (token, after) = rest.split_first().ok_or("an empty record")?;
            rest = after;
            let mut owner = std::mem::take(&mut self.spare_owner);
            owner.clear();
            rdata::name_into(token, &context.origin, &mut owner)
                .map_err(|e| format!("bad owner name {}: {e}", token.show()))?;
            Some(owner)
        };
        let mut ttl: Option<u32> = None;
        let mut class: Option<u16> = None;
        let rtype = loop {
            let (token, after) = rest.split_first().ok_or("the record has no type")?;
            rest = after;
            if token.quoted {
                return Err(format!(
                    "expected a TTL, class or type, not {}",
                    token.show()
                ));
            }
            if ttl.is_none() && token.text.first().is_some_and(u8::is_ascii_digit) {
                ttl = Some(
                    rdata::ttl(token.text).ok_or_else(|| format!("bad TTL {}", token.show()))?,
                );
                continue;
            }
            if class.is_none()
                && let Some(c) = types::class(token.text)
            {
                class = Some(c);
                continue;
            }
            break types::code(token.text)
                .ok_or_else(|| format!("unknown type {}", token.show()))?;
        };
        if let Some(c) = class.filter(|&c| c != 1) {
            return Err(format!(
                "class {} is not served: zones here are class IN",
                types::class_mnemonic(c)
            ));
        }
        let buffer = std::mem::take(&mut self.spare_rdata);
        let rdata::Encoded { wire, warning } = rdata::encode(rtype, rest, &context.origin, buffer)?;
        if wire.len() > usize::from(u16::MAX) {
            return Err("RDATA over 65535 octets".into());
        }
        if let Some(warning) = warning {
            self.findings
                .refused_by(Peer::Bind, Some(location), warning);
        }
        let ttl = match ttl {
            Some(ttl) => {
                self.last_ttl = Some(ttl);
                ttl
            }
            None => self.inherited_ttl(rtype, &wire, location),
        };
        Ok(ReadRecord {
            owner,
            rtype,
            ttl,
            rdata: wire,
        })
    }

    /// The TTL of a record written without one, by BIND's rules.
    fn inherited_ttl(&mut self, rtype: u16, wire: &[u8], location: &Location) -> u32 {
        if let Some(ttl) = self.default_ttl.or(self.last_ttl) {
            return ttl;
        }
        if rtype == u16::from(RecordType::SOA)
            && let Some(minimum) = wire
                .get(wire.len().saturating_sub(4)..)
                .and_then(|m| <[u8; 4]>::try_from(m).ok())
        {
            let minimum = u32::from_be_bytes(minimum);
            self.default_ttl = Some(minimum);
            return minimum;
        }
        self.findings.refused_by(
            Peer::Bind,
            Some(location),
            format!("no TTL is given or known before this record: {NSD_DEFAULT_TTL}, as NSD uses"),
        );
        NSD_DEFAULT_TTL
    }
}

/// A record the reader made, owning its parts.
struct ReadRecord {
    /// `None` when the owner is the previous record's.
    owner: Option<Vec<u8>>,
    rtype: u16,
    ttl: u32,
    rdata: Vec<u8>,
}

impl ReadRecord {
    /// The record as the sink takes it; `previous` is the owner a blank
    /// owner repeats.
    fn raw<'r>(&'r self, previous: Option<&'r [u8]>) -> RawRecord<'r> {
        RawRecord {
            owner: self.owner.as_deref().or(previous).unwrap_or_default(),
            rtype: self.rtype,
            ttl: self.ttl,
            rdata: &self.rdata,
        }
    }
}

/// A name in wire form.
fn wire_of(name: &Name) -> Vec<u8> {
    let mut wire = Vec::with_capacity(name.len() + 2);
    crate::wire::name::name_to_wire(name, &mut wire);
    wire
}

/// A hickory name from wire form.
fn name_of(wire: &[u8]) -> Option<Name> {
    Name::read(&mut BinDecoder::new(wire)).ok()
}

/// Record data as hickory-proto holds it: decoded for the types whose
/// fields callers use (addresses, the names of delegations and mail), the
/// wire bytes as they are for every other type, so nothing is changed on
/// its way through.
fn rdata_of(rtype: u16, wire: &[u8]) -> Result<RData, String> {
    let kind = RecordType::from(rtype);
    if matches!(
        kind,
        RecordType::A
            | RecordType::AAAA
            | RecordType::NS
            | RecordType::CNAME
            | RecordType::SOA
            | RecordType::MX
            | RecordType::SRV
            | RecordType::PTR
    ) {
        let length =
            u16::try_from(wire.len()).map_err(|_| "RDATA over 65535 octets".to_string())?;
        let mut decoder = BinDecoder::new(wire);
        return RData::read(&mut decoder, kind, Restrict::new(length))
            .map_err(|e| format!("RDATA that does not decode: {e}"));
    }
    if wire.len() > usize::from(u16::MAX) {
        return Err("RDATA over 65535 octets".into());
    }
    Ok(RData::Unknown {
        code: kind,
        rdata: if wire.is_empty() {
            NULL::new()
        } else {
            NULL::with(wire.to_vec())
        },
    })
}

/// A quoted token's text with its quotes back on.
fn quote(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 2);
    out.push(b'"');
    out.extend_from_slice(text);
    out.push(b'"');
    out
}

/// An entry on one line, shortened for an error message.
fn excerpt(entry: &Entry<'_>) -> String {
    let words: Vec<String> = entry.tokens.iter().map(Token::show).collect();
    let joined = words.join(" ");
    match joined.char_indices().nth(80) {
        Some((cut, _)) => format!("{}...", &joined[..cut]),
        None => joined,
    }
}

#[cfg(test)]
mod tests;

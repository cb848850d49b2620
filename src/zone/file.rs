//! Reading RFC 1035 master files, with the line of every record.
//!
//! hickory's zone parser reads a whole file and reports errors without a
//! position. So this reader splits the file into entries itself (a line, or
//! several joined by parentheses), handles the `$` directives, and hands each
//! record entry to hickory's parser on its own, with the origin, owner and
//! TTL that the entry inherits. Every record and every error then carries
//! its file and line.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hickory_proto::rr::{DNSClass, Name, Record};
use hickory_proto::serialize::txt::{Parser, parse_ttl};

/// `$INCLUDE` nesting deeper than this is taken for a loop.
const MAX_INCLUDE_DEPTH: usize = 16;

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

/// A zone that cannot be loaded: one line naming the file, the line when
/// there is one, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ZoneError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl ZoneError {
    /// An error at a known line.
    pub fn at(location: &Location, message: impl Into<String>) -> Self {
        Self {
            file: location.file.to_path_buf(),
            line: Some(location.line),
            message: message.into(),
        }
    }

    /// An error about the file as a whole.
    pub fn in_file(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: None,
            message: message.into(),
        }
    }
}

/// One record read from a master file.
#[derive(Clone, Debug)]
pub struct SourceRecord {
    pub record: Record,
    pub location: Location,
}

/// Reads the master file at `path` for the zone `origin`, following
/// `$INCLUDE`s. Relative `$INCLUDE` paths are taken from the including
/// file's directory.
pub fn read_master_file(path: &Path, origin: &Name) -> Result<Vec<SourceRecord>, ZoneError> {
    let mut reader = Reader {
        records: Vec::new(),
        default_ttl: None,
        last_ttl: None,
    };
    reader.read_file(path, origin.clone(), None, 0)?;
    Ok(reader.records)
}

/// Reads master file text that is not on disk (built-in data); `source`
/// names it in errors and anchors relative `$INCLUDE`s.
pub fn read_master_text(
    text: &str,
    source: &Path,
    origin: &Name,
) -> Result<Vec<SourceRecord>, ZoneError> {
    let mut reader = Reader {
        records: Vec::new(),
        default_ttl: None,
        last_ttl: None,
    };
    reader.read_text(text, source, origin.clone(), None, 0)?;
    Ok(reader.records)
}

/// State that carries from one entry to the next.
struct Reader {
    records: Vec<SourceRecord>,
    /// Set by `$TTL` (RFC 2308 section 4).
    default_ttl: Option<u32>,
    /// The last TTL written on a record, used when there is no `$TTL`
    /// (RFC 1035 section 5.1).
    last_ttl: Option<u32>,
}

/// One entry of a master file: a line, or lines joined by parentheses.
struct Entry<'a> {
    line: usize,
    text: &'a str,
}

impl Reader {
    fn read_file(
        &mut self,
        path: &Path,
        origin: Name,
        owner: Option<Name>,
        depth: usize,
    ) -> Result<(), ZoneError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ZoneError::in_file(path, format!("cannot read: {e}")))?;
        self.read_text(&text, path, origin, owner, depth)
    }

    fn read_text(
        &mut self,
        text: &str,
        path: &Path,
        mut origin: Name,
        mut owner: Option<Name>,
        depth: usize,
    ) -> Result<(), ZoneError> {
        let file: Arc<Path> = Arc::from(path);
        for entry in split_entries(text, &file)? {
            let location = Location {
                file: file.clone(),
                line: entry.line,
            };
            if let Some(directive) = entry.text.strip_prefix('$') {
                self.directive(directive, &location, &mut origin, &owner, depth)?;
                continue;
            }
            let record = self.record(&entry, &location, &origin, owner.as_ref())?;
            owner = Some(record.name.clone());
            self.records.push(SourceRecord { record, location });
        }
        Ok(())
    }

    fn directive(
        &mut self,
        text: &str,
        location: &Location,
        origin: &mut Name,
        owner: &Option<Name>,
        depth: usize,
    ) -> Result<(), ZoneError> {
        let words = directive_words(text);
        let (keyword, args) = words.split_first().unwrap_or((&"", &[]));
        match (keyword.to_ascii_uppercase().as_str(), args) {
            ("ORIGIN", [name]) => {
                *origin = Name::parse(name, Some(origin)).map_err(|e| {
                    ZoneError::at(location, format!("bad $ORIGIN name {name:?}: {e}"))
                })?;
            }
            ("TTL", [ttl]) => {
                let ttl = parse_ttl(ttl)
                    .map_err(|_| ZoneError::at(location, format!("bad $TTL value {ttl:?}")))?;
                self.default_ttl = Some(ttl);
            }
            ("INCLUDE", [file, rest @ ..]) if rest.len() <= 1 => {
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(ZoneError::at(
                        location,
                        format!("$INCLUDE nested more than {MAX_INCLUDE_DEPTH} deep"),
                    ));
                }
                let included_origin = match rest.first() {
                    Some(name) => Name::parse(name, Some(origin)).map_err(|e| {
                        ZoneError::at(location, format!("bad $INCLUDE origin {name:?}: {e}"))
                    })?,
                    None => origin.clone(),
                };
                let target = match location.file.parent() {
                    Some(dir) => dir.join(file),
                    None => PathBuf::from(file),
                };
                if !target.is_file() {
                    return Err(ZoneError::at(
                        location,
                        format!("$INCLUDE file {} does not exist", target.display()),
                    ));
                }
                // The included file cannot change this file's origin or
                // owner (RFC 1035 section 5.1).
                self.read_file(&target, included_origin, owner.clone(), depth + 1)?;
            }
            ("ORIGIN" | "TTL" | "INCLUDE", _) => {
                return Err(ZoneError::at(
                    location,
                    format!("wrong number of arguments to ${keyword}"),
                ));
            }
            (other, _) => {
                return Err(ZoneError::at(
                    location,
                    format!("unsupported directive ${other}"),
                ));
            }
        }
        Ok(())
    }

    /// Parses one record entry with hickory, giving it the state it
    /// inherits from the entries before it.
    fn record(
        &mut self,
        entry: &Entry<'_>,
        location: &Location,
        origin: &Name,
        owner: Option<&Name>,
    ) -> Result<Record, ZoneError> {
        let inherited_ttl = self.default_ttl.or(self.last_ttl);
        let mut doc = String::with_capacity(entry.text.len() + 64);
        if let Some(ttl) = inherited_ttl {
            doc.push_str(&format!("$TTL {ttl}\n"));
        }
        if entry.text.starts_with([' ', '\t']) {
            let Some(owner) = owner else {
                return Err(ZoneError::at(
                    location,
                    "record has no owner name and there is no previous one to repeat",
                ));
            };
            doc.push_str(&owner.to_string());
        }
        doc.push_str(entry.text);
        doc.push('\n');

        let parsed = Parser::new(doc, None, Some(origin.clone()))
            .parse()
            .map_err(|e| {
                ZoneError::at(
                    location,
                    format!(
                        "{} in \"{}\"",
                        describe_parse_error(&e.to_string()),
                        excerpt(entry.text)
                    ),
                )
            })?;
        let mut records = parsed
            .1
            .into_values()
            .flat_map(|set| set.into_parts().records);
        let (Some(record), None) = (records.next(), records.next()) else {
            return Err(ZoneError::at(location, "expected exactly one record"));
        };
        if record.dns_class != DNSClass::IN {
            return Err(ZoneError::at(
                location,
                format!(
                    "class {} is not supported: zones are class IN",
                    record.dns_class
                ),
            ));
        }
        // A TTL that differs from the inherited one was written on the
        // record; one that is equal changes nothing either way.
        if inherited_ttl != Some(record.ttl) {
            self.last_ttl = Some(record.ttl);
        }
        Ok(record)
    }
}

/// Rewords hickory's messages where they would puzzle an operator.
fn describe_parse_error(message: &str) -> String {
    if message.contains("record ttl not specified") {
        return "record has no TTL and there is no $TTL before it".into();
    }
    message.to_string()
}

/// An entry on one line, comments dropped, shortened for an error message.
fn excerpt(text: &str) -> String {
    let words: Vec<&str> = text
        .lines()
        .map(|line| line.split(';').next().unwrap_or(""))
        .flat_map(str::split_whitespace)
        .collect();
    let joined = words.join(" ");
    match joined.char_indices().nth(80) {
        Some((cut, _)) => format!("{}...", &joined[..cut]),
        None => joined,
    }
}

/// The words of a directive line, comment removed, quotes stripped.
fn directive_words(text: &str) -> Vec<&str> {
    let text = text.split(';').next().unwrap_or("");
    text.split_whitespace()
        .map(|w| w.trim_matches('"'))
        .collect()
}

/// Splits master file text into entries, keeping each one's first line.
/// Blank and comment-only lines are skipped.
fn split_entries<'a>(text: &'a str, file: &Arc<Path>) -> Result<Vec<Entry<'a>>, ZoneError> {
    let bytes = text.as_bytes();
    let mut entries = Vec::new();
    let mut line = 1;
    let mut start = 0;
    let mut start_line = 1;
    let mut depth = 0usize;
    let mut in_quote = false;
    let mut has_content = false;
    let mut i = 0;
    let error = |line, message: &str| {
        ZoneError::at(
            &Location {
                file: file.clone(),
                line,
            },
            message,
        )
    };
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                has_content = true;
                if bytes.get(i + 1) == Some(&b'\n') {
                    line += 1;
                }
                i += 1;
            }
            b'"' => {
                has_content = true;
                in_quote = !in_quote;
            }
            b';' if !in_quote => {
                while i + 1 < bytes.len() && bytes[i + 1] != b'\n' {
                    i += 1;
                }
            }
            b'(' if !in_quote => {
                has_content = true;
                depth += 1;
            }
            b')' if !in_quote => {
                if depth == 0 {
                    return Err(error(line, "')' without a matching '('"));
                }
                depth -= 1;
            }
            b'\n' => {
                if depth == 0 && !in_quote {
                    if has_content {
                        entries.push(Entry {
                            line: start_line,
                            text: text[start..i].trim_end_matches('\r'),
                        });
                    }
                    start = i + 1;
                    start_line = line + 1;
                    has_content = false;
                }
                line += 1;
            }
            b' ' | b'\t' | b'\r' => {}
            _ => has_content = true,
        }
        i += 1;
    }
    if in_quote {
        return Err(error(start_line, "quoted string is not closed"));
    }
    if depth > 0 {
        return Err(error(start_line, "'(' is not closed"));
    }
    if has_content {
        entries.push(Entry {
            line: start_line,
            text: &text[start..],
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<(usize, String)> {
        let file: Arc<Path> = Arc::from(Path::new("z"));
        split_entries(text, &file)
            .unwrap()
            .into_iter()
            .map(|e| (e.line, e.text.to_string()))
            .collect()
    }

    #[test]
    fn entries_keep_their_first_line() {
        let text = "; comment\n\n@ SOA a b (\n 1 ; serial\n 2 3 4 5 )\nwww A 1.2.3.4 ; (\n  TXT \"a ; (b\"\n";
        let got = split(text);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].0, 3);
        assert!(got[0].1.ends_with("5 )"));
        assert_eq!(got[1], (6, "www A 1.2.3.4 ; (".to_string()));
        assert_eq!(got[2], (7, "  TXT \"a ; (b\"".to_string()));
    }

    #[test]
    fn unbalanced_parentheses_name_the_entry_line() {
        let file: Arc<Path> = Arc::from(Path::new("z"));
        let err = split_entries("a A 1.2.3.4\nb SOA ( 1 2\n", &file)
            .err()
            .unwrap();
        assert_eq!(err.line, Some(2));
        let err = split_entries("a A 1.2.3.4 )\n", &file).err().unwrap();
        assert_eq!(err.line, Some(1));
    }
}

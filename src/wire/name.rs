//! Domain names as lookup keys: lowercase wire form with label offsets, so
//! that every suffix of a name is a slice and a closest-encloser walk never
//! allocates.

use hickory_proto::rr::Name;

/// Longest name in wire form (RFC 1035 section 2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// Most labels a 255-octet name can hold, the root label included.
pub const MAX_LABELS: usize = 128;

/// A domain name in lowercase wire form, with where each label starts.
///
/// Zone and cache maps are keyed by the bytes of this form; the offsets let
/// a lookup try each enclosing name (`suffix(1)`, `suffix(2)`, ...) without
/// copying. Only ASCII letters are folded, as DNS matching requires
/// (RFC 4343).
#[derive(Clone)]
pub struct NameKey {
    bytes: [u8; MAX_NAME_LEN],
    len: u8,
    starts: [u8; MAX_LABELS],
    /// Labels not counting the root label.
    labels: u8,
}

impl NameKey {
    /// The root name.
    pub const fn root() -> Self {
        Self {
            bytes: [0; MAX_NAME_LEN],
            len: 1,
            starts: [0; MAX_LABELS],
            labels: 0,
        }
    }

    /// An empty key for `push_label`/`finish` to fill.
    pub(crate) const fn building() -> Self {
        Self {
            bytes: [0; MAX_NAME_LEN],
            len: 0,
            starts: [0; MAX_LABELS],
            labels: 0,
        }
    }

    /// Builds a key from uncompressed wire bytes.
    /// Returns `None` if they are not a well-formed name.
    pub fn from_wire(wire: &[u8]) -> Option<Self> {
        let mut key = Self::building();
        let mut pos = 0usize;
        loop {
            let len = *wire.get(pos)? as usize;
            if len == 0 {
                break;
            }
            if len > 63 || key.building_len() + 1 + len >= MAX_NAME_LEN {
                return None;
            }
            let label = wire.get(pos + 1..pos + 1 + len)?;
            key.push_label(label);
            pos += 1 + len;
        }
        key.finish();
        Some(key)
    }

    /// Builds a key from a hickory name. Names in zone files are already
    /// limited to 255 octets by hickory's parser.
    pub fn from_name(name: &Name) -> Self {
        let mut key = Self::building();
        for label in name.iter() {
            if key.building_len() + 1 + label.len() >= MAX_NAME_LEN {
                break;
            }
            key.push_label(label);
        }
        key.finish();
        key
    }

    /// Appends one label during parsing. The caller has checked that it fits
    /// (`len + 1 + label.len() < MAX_NAME_LEN`).
    pub(crate) fn push_label(&mut self, label: &[u8]) {
        let at = self.len as usize;
        self.starts[self.labels as usize] = at as u8;
        self.bytes[at] = label.len() as u8;
        for (dst, src) in self.bytes[at + 1..at + 1 + label.len()]
            .iter_mut()
            .zip(label)
        {
            *dst = src.to_ascii_lowercase();
        }
        self.labels += 1;
        self.len = (at + 1 + label.len()) as u8;
    }

    /// Writes the root label. Called once, after the last `push_label`.
    pub(crate) fn finish(&mut self) {
        self.bytes[self.len as usize] = 0;
        self.len += 1;
    }

    /// Bytes written so far by `push_label`, before `finish`.
    pub(crate) fn building_len(&self) -> usize {
        self.len as usize
    }

    /// The whole name in lowercase wire form, root label included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Length in wire form.
    pub fn wire_len(&self) -> usize {
        self.len as usize
    }

    /// Number of labels, not counting the root.
    pub fn label_count(&self) -> usize {
        self.labels as usize
    }

    /// The name with its first `skip` labels removed; `suffix(label_count())`
    /// is the root.
    pub fn suffix(&self, skip: usize) -> &[u8] {
        if skip >= self.labels as usize {
            return &self.bytes[self.len as usize - 1..self.len as usize];
        }
        &self.bytes[self.starts[skip] as usize..self.len as usize]
    }

    /// Whether `name` is this name (ASCII case aside), compared label by
    /// label without building a key for it.
    pub fn matches(&self, name: &Name) -> bool {
        let mut at = 0;
        for label in name.iter() {
            let Some(&len) = self.bytes[..self.len as usize].get(at) else {
                return false;
            };
            let len = usize::from(len);
            if len == 0
                || len != label.len()
                || !self.bytes[at + 1..at + 1 + len].eq_ignore_ascii_case(label)
            {
                return false;
            }
            at += 1 + len;
        }
        self.bytes.get(at) == Some(&0) && at + 1 == self.len as usize
    }

    /// True if the first label is `*`.
    pub fn is_wildcard(&self) -> bool {
        self.labels > 0 && self.bytes[0] == 1 && self.bytes[1] == b'*'
    }
}

impl PartialEq for NameKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for NameKey {}

impl std::fmt::Debug for NameKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&wire_to_text(self.as_bytes()))
    }
}

/// Presentation form of an uncompressed wire name, for logs and errors.
pub fn wire_to_text(wire: &[u8]) -> String {
    let mut out = String::new();
    let mut pos = 0;
    while let Some(&len) = wire.get(pos) {
        if len == 0 {
            break;
        }
        let Some(label) = wire.get(pos + 1..pos + 1 + len as usize) else {
            break;
        };
        for &b in label {
            match b {
                b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                    out.push('\\');
                    out.push(b as char);
                }
                0x21..=0x7e => out.push(b as char),
                _ => out.push_str(&format!("\\{b:03}")),
            }
        }
        out.push('.');
        pos += 1 + len as usize;
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

/// Uncompressed wire form of a hickory name, case kept.
pub fn name_to_wire(name: &Name, out: &mut Vec<u8>) {
    for label in name.iter() {
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
}

/// The hickory `Name` of a name in wire form (uncompressed), or `None`
/// if it is cut short.
pub fn wire_to_name(wire: &[u8]) -> Option<Name> {
    Name::from_labels(labels_of(wire)?).ok()
}

/// The labels of a name in wire form (uncompressed), from the left, or
/// `None` if it is cut short.
pub fn labels_of(wire: &[u8]) -> Option<Vec<&[u8]>> {
    let mut labels = Vec::new();
    let mut at = 0;
    loop {
        let len = usize::from(*wire.get(at)?);
        if len == 0 {
            return Some(labels);
        }
        labels.push(wire.get(at + 1..at + 1 + len)?);
        at += 1 + len;
    }
}

/// The length of the uncompressed wire name at the start of `wire`, or
/// `None` if none is there whole (a compression pointer, a label running
/// past the end, more than 255 octets).
pub fn name_len(wire: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let len = usize::from(*wire.get(at)?);
        if len > 63 {
            return None;
        }
        at += 1 + len;
        if at > MAX_NAME_LEN {
            return None;
        }
        if len == 0 {
            return Some(at);
        }
    }
}

/// Whether wire name `name` equals `suffix` or lies below it: `suffix`
/// must match whole labels at the end.
pub fn is_at_or_below(name: &[u8], suffix: &[u8]) -> bool {
    let mut at = 0;
    loop {
        if name[at..].eq_ignore_ascii_case(suffix) {
            return true;
        }
        match name.get(at) {
            Some(&len) if len > 0 => at += 1 + usize::from(len),
            _ => return false,
        }
        if at >= name.len() {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn suffixes_walk_towards_the_root() {
        let key = NameKey::from_name(&Name::from_str("WWW.Example.TEST.").unwrap());
        assert_eq!(key.as_bytes(), b"\x03www\x07example\x04test\x00");
        assert_eq!(key.label_count(), 3);
        assert_eq!(key.suffix(1), b"\x07example\x04test\x00");
        assert_eq!(key.suffix(2), b"\x04test\x00");
        assert_eq!(key.suffix(3), b"\x00");
        assert_eq!(key.suffix(9), b"\x00");
    }

    #[test]
    fn root_and_wildcard() {
        let root = NameKey::from_name(&Name::root());
        assert_eq!(root.as_bytes(), b"\x00");
        assert_eq!(root.label_count(), 0);
        let wild = NameKey::from_name(&Name::from_str("*.example.").unwrap());
        assert!(wild.is_wildcard());
        assert_eq!(format!("{wild:?}"), "*.example.");
    }

    #[test]
    fn keys_match_names_whatever_their_case() {
        let key = NameKey::from_name(&Name::from_str("www.example.test.").unwrap());
        for (text, same) in [
            ("WWW.Example.TEST.", true),
            ("www.example.test.", true),
            ("www.example.", false),
            ("ww.example.test.", false),
            ("www.example.test.x.", false),
            ("a.www.example.test.", false),
            (".", false),
        ] {
            assert_eq!(key.matches(&Name::from_str(text).unwrap()), same, "{text}");
        }
        assert!(NameKey::root().matches(&Name::root()));
    }

    #[test]
    fn from_wire_rejects_bad_lengths() {
        assert!(NameKey::from_wire(b"\x03www\x00").is_some());
        assert!(NameKey::from_wire(b"\x05www\x00").is_none());
        assert!(NameKey::from_wire(b"\x40").is_none());
    }
}

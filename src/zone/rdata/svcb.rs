//! SVCB and HTTPS (RFC 9460 sections 2.1 and 7): priority, target, and
//! SvcParams. Parameters may be written in any order; on the wire they go
//! in increasing key order, each key once.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::fields::Fields;
use crate::zone::token::{Token, unescape};

/// Keys by name (RFC 9460 section 14.3.2, RFC 9461, RFC 9540), and the
/// draft name `echconfig` for `ech` that older zones use.
const KEYS: &[(&str, u16)] = &[
    ("mandatory", 0),
    ("alpn", 1),
    ("no-default-alpn", 2),
    ("port", 3),
    ("ipv4hint", 4),
    ("ech", 5),
    ("echconfig", 5),
    ("ipv6hint", 6),
    ("dohpath", 7),
    ("ohttp", 8),
    ("tls-supported-groups", 9),
];

fn key(name: &[u8]) -> Option<u16> {
    if let Some((_, k)) = KEYS
        .iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
    {
        return Some(*k);
    }
    let digits = name.strip_prefix(b"key")?;
    if digits.is_empty() || digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

pub fn svcb(f: &mut Fields<'_, '_>) -> Result<(), String> {
    f.u16("priority")?;
    f.name("target")?;
    let tokens: Vec<Token<'_>> = f.rest().to_vec();
    let mut params: Vec<(u16, Vec<u8>)> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i];
        i += 1;
        if token.quoted {
            return Err(format!(
                "a SvcParam must start with its key, not {}",
                token.show()
            ));
        }
        let (name, value): (&[u8], Option<Vec<u8>>) =
            match token.text.iter().position(|&c| c == b'=') {
                None => (token.text, None),
                Some(eq) => {
                    let (name, rest) = (&token.text[..eq], &token.text[eq + 1..]);
                    if rest.is_empty() {
                        // `key="value"`: the value is the quoted token glued on.
                        match tokens.get(i) {
                            Some(next) if next.glued && next.quoted => {
                                i += 1;
                                (name, Some(next.text.to_vec()))
                            }
                            _ => (name, Some(Vec::new())),
                        }
                    } else {
                        (name, Some(rest.to_vec()))
                    }
                }
            };
        let k = key(name)
            .ok_or_else(|| format!("unknown SvcParam key {}", String::from_utf8_lossy(name)))?;
        if params.iter().any(|(existing, _)| *existing == k) {
            return Err(format!(
                "SvcParam key {} appears twice",
                String::from_utf8_lossy(name)
            ));
        }
        let wire = value_wire(k, value.as_deref())
            .map_err(|e| format!("SvcParam {}: {e}", String::from_utf8_lossy(name)))?;
        params.push((k, wire));
    }
    params.sort_by_key(|(k, _)| *k);
    for (k, value) in params {
        let len = u16::try_from(value.len())
            .map_err(|_| "a SvcParam value over 65535 octets".to_string())?;
        f.out.extend_from_slice(&k.to_be_bytes());
        f.out.extend_from_slice(&len.to_be_bytes());
        f.out.extend_from_slice(&value);
    }
    Ok(())
}

/// A SvcParam's value in wire form, from its text (escapes not undone).
fn value_wire(key: u16, value: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let need = || {
        value
            .filter(|v| !v.is_empty())
            .ok_or_else(|| "needs a value".to_string())
    };
    let mut out = Vec::new();
    match key {
        0 => {
            let mut keys = Vec::new();
            for item in split_list(need()?)? {
                keys.push(
                    self::key(&item)
                        .ok_or_else(|| format!("unknown key {}", String::from_utf8_lossy(&item)))?,
                );
            }
            keys.sort_unstable();
            if keys.windows(2).any(|w| w[0] == w[1]) {
                return Err("a key listed twice".into());
            }
            for k in keys {
                out.extend_from_slice(&k.to_be_bytes());
            }
        }
        1 => {
            for id in split_list(need()?)? {
                let len = u8::try_from(id.len())
                    .ok()
                    .filter(|&l| l > 0)
                    .ok_or("an ALPN ID of 0 or over 255 octets")?;
                out.push(len);
                out.extend_from_slice(&id);
            }
        }
        2 | 8 => {
            if value.is_some_and(|v| !v.is_empty()) {
                return Err("takes no value".into());
            }
        }
        3 => {
            let port = std::str::from_utf8(need()?)
                .ok()
                .and_then(|t| t.parse::<u16>().ok())
                .ok_or("not a port")?;
            out.extend_from_slice(&port.to_be_bytes());
        }
        4 => {
            for item in split_list(need()?)? {
                let addr: Ipv4Addr = std::str::from_utf8(&item)
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .ok_or("not an IPv4 address")?;
                out.extend_from_slice(&addr.octets());
            }
        }
        6 => {
            for item in split_list(need()?)? {
                let addr: Ipv6Addr = std::str::from_utf8(&item)
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .ok_or("not an IPv6 address")?;
                out.extend_from_slice(&addr.octets());
            }
        }
        // ECH may be empty, as NSD lets it be.
        5 => {
            let text = unescape(value.unwrap_or_default())?;
            let bytes = data_encoding::BASE64
                .decode(&text)
                .map_err(|_| "not base64")?;
            out.extend_from_slice(&bytes);
        }
        9 => {
            for item in split_list(need()?)? {
                let group = std::str::from_utf8(&item)
                    .ok()
                    .and_then(|t| t.parse::<u16>().ok())
                    .ok_or("not a group number")?;
                out.extend_from_slice(&group.to_be_bytes());
            }
        }
        // dohpath and keys without a known format: the bytes as written.
        _ => out.extend_from_slice(&unescape(value.unwrap_or_default())?),
    }
    Ok(out)
}

/// A comma-separated list (RFC 9460 appendix A.1): the value is first a
/// character string (its escapes undone), then split on the commas that
/// are not escaped once more (`\\,` in the file is a comma in an item).
fn split_list(text: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let text = unescape(text)?;
    let mut items = vec![Vec::new()];
    let mut i = 0;
    while i < text.len() {
        match (text[i], text.get(i + 1)) {
            (b',', _) => {
                items.push(Vec::new());
                i += 1;
            }
            (b'\\', Some(&next @ (b',' | b'\\'))) => {
                if let Some(item) = items.last_mut() {
                    item.push(next);
                }
                i += 2;
            }
            (byte, _) => {
                if let Some(item) = items.last_mut() {
                    item.push(byte);
                }
                i += 1;
            }
        }
    }
    if items.iter().any(Vec::is_empty) {
        return Err("an empty item in a list".into());
    }
    Ok(items)
}

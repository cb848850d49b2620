//! Reading RDATA fields from tokens into wire form: the field kinds the
//! presentation formats of RFC 1035 and its successors are made of.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::super::token::{Token, escape, unescape};
use super::types;

/// The tokens of one record's RDATA, read field by field into `out`.
pub struct Fields<'t, 'a> {
    tokens: &'t [Token<'a>],
    at: usize,
    /// The origin, in wire form, that relative names are completed with.
    pub origin: &'t [u8],
    pub out: Vec<u8>,
}

impl<'t, 'a> Fields<'t, 'a> {
    /// Fields read into `out`, which is cleared first (a buffer the caller
    /// reuses from record to record).
    pub fn new(tokens: &'t [Token<'a>], origin: &'t [u8], mut out: Vec<u8>) -> Self {
        out.clear();
        Self {
            tokens,
            at: 0,
            origin,
            out,
        }
    }

    /// The next token, for the field `what`.
    pub fn next(&mut self, what: &str) -> Result<Token<'a>, String> {
        let token = self
            .tokens
            .get(self.at)
            .copied()
            .ok_or_else(|| format!("{what} is missing"))?;
        self.at += 1;
        Ok(token)
    }

    /// Every token not read yet.
    pub fn rest(&mut self) -> &'t [Token<'a>] {
        let rest = &self.tokens[self.at.min(self.tokens.len())..];
        self.at = self.tokens.len();
        rest
    }

    pub fn at_end(&self) -> bool {
        self.at >= self.tokens.len()
    }

    /// Fails if tokens are left over: surplus RDATA is an error, never
    /// silently dropped.
    pub fn done(&self) -> Result<(), String> {
        match self.tokens.get(self.at..) {
            Some(rest) if !rest.is_empty() => {
                let shown: Vec<String> = rest.iter().map(Token::show).collect();
                Err(format!("surplus data after the RDATA: {}", shown.join(" ")))
            }
            _ => Ok(()),
        }
    }

    /// An unsigned decimal number below `max`, as the field `what`.
    pub fn number(&mut self, what: &str, max: u64) -> Result<u64, String> {
        let token = self.next(what)?;
        number(&token, what, max)
    }

    pub fn u8(&mut self, what: &str) -> Result<u8, String> {
        let n = self.number(what, u8::MAX.into())? as u8;
        self.out.push(n);
        Ok(n)
    }

    pub fn u16(&mut self, what: &str) -> Result<u16, String> {
        let n = self.number(what, u16::MAX.into())? as u16;
        self.out.extend_from_slice(&n.to_be_bytes());
        Ok(n)
    }

    pub fn u32(&mut self, what: &str) -> Result<u32, String> {
        let n = self.number(what, u32::MAX.into())? as u32;
        self.out.extend_from_slice(&n.to_be_bytes());
        Ok(n)
    }

    /// A period in seconds, in decimal or BIND's units (`1h30m`), as the
    /// SOA's timers may be written.
    pub fn period(&mut self, what: &str) -> Result<(), String> {
        let token = self.next(what)?;
        let n = ttl(token.text).ok_or_else(|| format!("bad {what} {}", token.show()))?;
        self.out.extend_from_slice(&n.to_be_bytes());
        Ok(())
    }

    /// A domain name, completed with the origin if relative.
    pub fn name(&mut self, what: &str) -> Result<(), String> {
        let token = self.next(what)?;
        name_into(&token, self.origin, &mut self.out)
            .map_err(|e| format!("bad {what} {}: {e}", token.show()))
    }

    pub fn ipv4(&mut self, what: &str) -> Result<(), String> {
        let token = self.next(what)?;
        let addr = ipv4(&token).ok_or_else(|| format!("bad {what} {}", token.show()))?;
        self.out.extend_from_slice(&addr.octets());
        Ok(())
    }

    pub fn ipv6(&mut self, what: &str) -> Result<(), String> {
        let token = self.next(what)?;
        let addr = ipv6(&token).ok_or_else(|| format!("bad {what} {}", token.show()))?;
        self.out.extend_from_slice(&addr.octets());
        Ok(())
    }

    /// One character string: a length byte, then at most 255 bytes.
    pub fn string(&mut self, what: &str) -> Result<(), String> {
        let token = self.next(what)?;
        let bytes = unescape(token.text)?;
        let len = u8::try_from(bytes.len())
            .map_err(|_| format!("{what} is {} bytes long, over 255", bytes.len()))?;
        self.out.push(len);
        self.out.extend_from_slice(&bytes);
        Ok(())
    }

    /// One or more character strings, to the end.
    pub fn strings(&mut self, what: &str) -> Result<(), String> {
        self.string(what)?;
        while !self.at_end() {
            self.string(what)?;
        }
        Ok(())
    }

    /// Bytes written out to the end without a length (URI's target, CAA's
    /// value): one token, escapes undone.
    pub fn raw_string(&mut self, what: &str) -> Result<(), String> {
        let token = self.next(what)?;
        self.out.extend_from_slice(&unescape(token.text)?);
        Ok(())
    }

    /// Base64 to the end, blanks allowed between its pieces.
    pub fn base64_rest(&mut self, what: &str) -> Result<(), String> {
        let text = join(self.rest());
        if text.is_empty() {
            return Err(format!("{what} is missing"));
        }
        let bytes = data_encoding::BASE64
            .decode(&text)
            .map_err(|e| format!("bad base64 in {what}: {e}"))?;
        self.out.extend_from_slice(&bytes);
        Ok(())
    }

    /// Hexadecimal to the end, blanks allowed between its pieces; empty
    /// only where `may_be_empty`.
    pub fn hex_rest(&mut self, what: &str, may_be_empty: bool) -> Result<(), String> {
        let text = join(self.rest());
        if text.is_empty() && !may_be_empty {
            return Err(format!("{what} is missing"));
        }
        let bytes = hex(&text).ok_or_else(|| format!("bad hexadecimal in {what}"))?;
        self.out.extend_from_slice(&bytes);
        Ok(())
    }

    /// A record type, by mnemonic or as TYPEnnn.
    pub fn rtype(&mut self, what: &str) -> Result<u16, String> {
        let token = self.next(what)?;
        let code = types::code(token.text).ok_or_else(|| format!("bad {what} {}", token.show()))?;
        self.out.extend_from_slice(&code.to_be_bytes());
        Ok(code)
    }

    /// A DNSSEC algorithm, by number or mnemonic (RFC 4034 appendix A.1).
    pub fn algorithm(&mut self, what: &str) -> Result<(), String> {
        let token = self.next(what)?;
        let n = match number(&token, what, u8::MAX.into()) {
            Ok(n) => n as u8,
            Err(e) => types::algorithm(token.text).ok_or(e)?,
        };
        self.out.push(n);
        Ok(())
    }

    /// An RRSIG time: YYYYMMDDHHmmSS, or seconds since 1970.
    pub fn time(&mut self, what: &str) -> Result<(), String> {
        let token = self.next(what)?;
        let t = time(token.text).ok_or_else(|| format!("bad {what} {}", token.show()))?;
        self.out.extend_from_slice(&t.to_be_bytes());
        Ok(())
    }

    /// The type bitmap of NSEC, NSEC3 and CSYNC (RFC 4034 section 4.1.2):
    /// the types to the end.
    pub fn bitmap_rest(&mut self) -> Result<(), String> {
        let mut codes = Vec::new();
        for token in self.rest() {
            codes
                .push(types::code(token.text).ok_or_else(|| format!("bad type {}", token.show()))?);
        }
        codes.sort_unstable();
        codes.dedup();
        let mut window: Option<(u8, [u8; 32], usize)> = None;
        for code in codes {
            let (number, bit) = ((code >> 8) as u8, (code & 0xff) as usize);
            if window.is_some_and(|(w, _, _)| w != number) {
                self.flush_window(window.take());
            }
            let (_, bits, used) = window.get_or_insert((number, [0; 32], 0));
            bits[bit / 8] |= 0x80 >> (bit % 8);
            *used = (*used).max(bit / 8 + 1);
        }
        self.flush_window(window);
        Ok(())
    }

    fn flush_window(&mut self, window: Option<(u8, [u8; 32], usize)>) {
        if let Some((number, bits, used)) = window {
            self.out.push(number);
            self.out.push(used as u8);
            self.out.extend_from_slice(&bits[..used]);
        }
    }
}

/// A decimal number no larger than `max`.
pub fn number(token: &Token<'_>, what: &str, max: u64) -> Result<u64, String> {
    let text = token.text;
    if token.quoted || text.is_empty() || text.len() > 20 || !text.iter().all(u8::is_ascii_digit) {
        return Err(format!("bad {what} {}: not a number", token.show()));
    }
    let n = text.iter().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    if n > max {
        return Err(format!("{what} {n} is over {max}"));
    }
    Ok(n)
}

/// A TTL or period: seconds, or BIND's units (`1w2d3h4m5s`, any case).
pub fn ttl(text: &[u8]) -> Option<u32> {
    if text.is_empty() {
        return None;
    }
    if text.iter().all(u8::is_ascii_digit) {
        return std::str::from_utf8(text).ok()?.parse().ok();
    }
    let mut total: u64 = 0;
    let mut n: Option<u64> = None;
    for &c in text {
        if c.is_ascii_digit() {
            n = Some(
                n.unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(u64::from(c - b'0'))?,
            );
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            b'w' => 604_800,
            b'd' => 86_400,
            b'h' => 3_600,
            b'm' => 60,
            b's' => 1,
            _ => return None,
        };
        total = total.checked_add(n.take()?.checked_mul(unit)?)?;
    }
    if let Some(n) = n {
        total = total.checked_add(n)?;
    }
    u32::try_from(total).ok()
}

/// A domain name in wire form; `@` is the origin, and a name without a
/// final dot is completed with it.
pub fn name(token: &Token<'_>, origin: &[u8]) -> Result<Vec<u8>, String> {
    let mut wire = Vec::with_capacity(token.text.len() + origin.len() + 1);
    name_into(token, origin, &mut wire)?;
    Ok(wire)
}

/// Like [`name`], appending the name to `out`; on an error, what was
/// appended is left for the caller to drop.
pub fn name_into(token: &Token<'_>, origin: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let text = token.text;
    if token.quoted {
        return Err("a name cannot be quoted".into());
    }
    let start = out.len();
    if text == b"@" {
        out.extend_from_slice(origin);
        return Ok(());
    }
    if text == b"." {
        out.push(0);
        return Ok(());
    }
    // Each label is written after a placeholder for its length, set once
    // the label ends.
    let mut label_at = out.len();
    out.push(0);
    let mut absolute = false;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'.' => {
                end_label(out, label_at)?;
                i += 1;
                if i == text.len() {
                    absolute = true;
                } else {
                    label_at = out.len();
                    out.push(0);
                }
            }
            b'\\' => {
                let (byte, used) = escape(&text[i..])?;
                out.push(byte);
                i += used;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    if !absolute {
        if out.len() > label_at + 1 {
            end_label(out, label_at)?;
        } else {
            // `text` was empty: no label was started.
            out.truncate(label_at);
        }
        out.extend_from_slice(origin);
    } else {
        out.push(0);
    }
    let len = out.len() - start;
    if len > 255 {
        return Err(format!("longer than 255 octets ({len})"));
    }
    Ok(())
}

/// Sets the length of the label whose length octet is at `at`.
fn end_label(out: &mut [u8], at: usize) -> Result<(), String> {
    let len = out.len() - at - 1;
    if len == 0 {
        return Err("empty label".into());
    }
    out[at] = u8::try_from(len)
        .ok()
        .filter(|&l| l <= 63)
        .ok_or_else(|| format!("a label of {len} octets, over 63"))?;
    Ok(())
}

pub fn ipv4(token: &Token<'_>) -> Option<Ipv4Addr> {
    if token.quoted {
        return None;
    }
    std::str::from_utf8(token.text).ok()?.parse().ok()
}

pub fn ipv6(token: &Token<'_>) -> Option<Ipv6Addr> {
    if token.quoted {
        return None;
    }
    std::str::from_utf8(token.text).ok()?.parse().ok()
}

/// The tokens' texts run together, for encodings that allow blanks.
pub fn join(tokens: &[Token<'_>]) -> Vec<u8> {
    tokens.iter().flat_map(|t| t.text.iter().copied()).collect()
}

/// Hexadecimal, any case; an even number of digits.
pub fn hex(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks(2)
        .map(|pair| {
            let digit = |c: u8| (c as char).to_digit(16);
            Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
        })
        .collect()
}

/// An RRSIG time (RFC 4034 section 3.2).
pub fn time(text: &[u8]) -> Option<u32> {
    if !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if text.len() != 14 {
        // Seconds since the epoch.
        return std::str::from_utf8(text).ok()?.parse().ok();
    }
    let part = |from: usize, to: usize| -> i64 {
        text[from..to]
            .iter()
            .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'))
    };
    let (year, month, day) = (part(0, 4), part(4, 6), part(6, 8));
    let (hour, minute, second) = (part(8, 10), part(10, 12), part(12, 14));
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), then the
    // value modulo 2^32, as RFC 4034 serial arithmetic wants.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
    Some(seconds.rem_euclid(1 << 32) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(text: &str) -> Token<'_> {
        Token {
            text: text.as_bytes(),
            quoted: false,
            line: 1,
            glued: false,
        }
    }

    const ORIGIN: &[u8] = b"\x07example\x00";

    #[test]
    fn names_relative_absolute_and_escaped() {
        assert_eq!(
            name(&token("www"), ORIGIN).unwrap(),
            b"\x03www\x07example\x00"
        );
        assert_eq!(
            name(&token("www.test."), ORIGIN).unwrap(),
            b"\x03www\x04test\x00"
        );
        assert_eq!(name(&token("@"), ORIGIN).unwrap(), ORIGIN);
        assert_eq!(name(&token("."), ORIGIN).unwrap(), b"\x00");
        assert_eq!(
            name(&token("a\\.b.c."), ORIGIN).unwrap(),
            b"\x03a.b\x01c\x00"
        );
        assert_eq!(name(&token("x\\065y."), ORIGIN).unwrap(), b"\x03xAy\x00");
        assert!(name(&token("a..b"), ORIGIN).is_err());
        assert!(name(&token(&format!("{}.", "a".repeat(64))), ORIGIN).is_err());
        let long = format!("{}.", vec!["a".repeat(63); 4].join("."));
        assert!(name(&token(&long), ORIGIN).is_err(), "over 255 octets");
    }

    #[test]
    fn ttls_in_bind_units() {
        assert_eq!(ttl(b"3600"), Some(3600));
        assert_eq!(ttl(b"1h30m"), Some(5400));
        assert_eq!(ttl(b"1W2D"), Some(777_600));
        assert_eq!(ttl(b"2h5"), Some(7205));
        assert_eq!(ttl(b"1x"), None);
        assert_eq!(ttl(b"h"), None);
        assert_eq!(ttl(b"99999999999"), None);
    }

    #[test]
    fn rrsig_times() {
        assert_eq!(time(b"20260101000000"), Some(1_767_225_600));
        assert_eq!(time(b"19700101000000"), Some(0));
        assert_eq!(time(b"1767225600"), Some(1_767_225_600));
        assert_eq!(time(b"20261301000000"), None);
    }

    #[test]
    fn bitmaps_in_windows() {
        let tokens = [
            token("A"),
            token("MX"),
            token("RRSIG"),
            token("NSEC"),
            token("TYPE1234"),
        ];
        let mut fields = Fields::new(&tokens, ORIGIN, Vec::new());
        fields.bitmap_rest().unwrap();
        // Window 0: A (1), MX (15), RRSIG (46), NSEC (47); window 4: 1234 = 4*256+210.
        let mut want = vec![0, 6, 0x40, 0x01, 0, 0, 0, 0x03];
        want.extend_from_slice(&[4, 27]);
        let mut bits = [0u8; 27];
        bits[26] = 0x20;
        want.extend_from_slice(&bits);
        assert_eq!(fields.out, want);
    }
}

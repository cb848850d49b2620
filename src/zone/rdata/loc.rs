//! LOC (RFC 1876 section 3):
//! `d1 [m1 [s1]] {N|S} d2 [m2 [s2]] {E|W} alt[m] [siz[m] [hp[m] [vp[m]]]]`.

use super::fields::Fields;

/// The equator and prime meridian, in thousandths of an arc second.
const EQUATOR: u32 = 1 << 31;
/// Altitudes are kept as centimetres above 100,000 m below the WGS 84
/// reference spheroid.
const ALTITUDE_BASE_CM: i64 = 10_000_000;

pub fn loc(f: &mut Fields<'_, '_>) -> Result<(), String> {
    let latitude = angle(f, b'N', b'S', 90, "latitude")?;
    let longitude = angle(f, b'E', b'W', 180, "longitude")?;
    let altitude = meters(f.next("altitude")?.text, true).ok_or("bad altitude")?;
    let altitude = altitude
        .checked_add(ALTITUDE_BASE_CM)
        .and_then(|cm| u32::try_from(cm).ok())
        .ok_or("altitude out of range")?;
    let mut precision = [100i64, 1_000_000, 1_000]; // size 1 m, hp 10 km, vp 10 m
    for (slot, what) in
        precision
            .iter_mut()
            .zip(["size", "horizontal precision", "vertical precision"])
    {
        if f.at_end() {
            break;
        }
        *slot = meters(f.next(what)?.text, false).ok_or_else(|| format!("bad {what}"))?;
    }
    f.out.push(0);
    for cm in precision {
        f.out
            .push(exponent_form(cm).ok_or("a precision over 90,000 km")?);
    }
    f.out.extend_from_slice(&latitude.to_be_bytes());
    f.out.extend_from_slice(&longitude.to_be_bytes());
    f.out.extend_from_slice(&altitude.to_be_bytes());
    Ok(())
}

/// Degrees, optional minutes and seconds, then the hemisphere letter.
fn angle(f: &mut Fields<'_, '_>, plus: u8, minus: u8, max: u32, what: &str) -> Result<u32, String> {
    let mut parts: Vec<&[u8]> = Vec::new();
    let hemisphere = loop {
        let token = f.next(what)?;
        match token.text {
            [c] if c.eq_ignore_ascii_case(&plus) => break 1i64,
            [c] if c.eq_ignore_ascii_case(&minus) => break -1i64,
            text if parts.len() < 3 => parts.push(text),
            _ => return Err(format!("bad {what}")),
        }
    };
    let bad = || format!("bad {what}");
    let degrees: u32 = std::str::from_utf8(parts.first().ok_or_else(bad)?)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or_else(bad)?;
    let minutes: u32 = match parts.get(1) {
        Some(m) => std::str::from_utf8(m)
            .ok()
            .and_then(|t| t.parse().ok())
            .filter(|&m| m < 60)
            .ok_or_else(bad)?,
        None => 0,
    };
    let millis = match parts.get(2) {
        Some(s) => thousandths(s).filter(|&ms| ms < 60_000).ok_or_else(bad)?,
        None => 0,
    };
    if degrees > max || (degrees == max && (minutes > 0 || millis > 0)) {
        return Err(bad());
    }
    let offset =
        (i64::from(degrees) * 3_600_000 + i64::from(minutes) * 60_000 + millis) * hemisphere;
    Ok((i64::from(EQUATOR) + offset) as u32)
}

/// A decimal number with up to three places, in thousandths.
fn thousandths(text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?;
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || fraction.len() > 3
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !fraction.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    // Checked: a number of seconds too large for the field is refused,
    // not wrapped into some other location.
    let mut value: i64 = whole.parse().ok()?;
    for i in 0..3 {
        let digit = fraction
            .as_bytes()
            .get(i)
            .map_or(0, |d| i64::from(d - b'0'));
        value = value.checked_mul(10)?.checked_add(digit)?;
    }
    Some(value)
}

/// Metres (an optional `m`, up to two places) in centimetres.
fn meters(text: &[u8], signed: bool) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?;
    let text = text.strip_suffix(['m', 'M']).unwrap_or(text);
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) if signed => (true, rest),
        _ => (false, text),
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || fraction.len() > 2
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !fraction.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let mut cm: i64 = whole.parse::<i64>().ok()?.checked_mul(100)?;
    for (i, d) in fraction.bytes().enumerate() {
        cm = cm.checked_add(i64::from(d - b'0') * if i == 0 { 10 } else { 1 })?;
    }
    Some(if negative { -cm } else { cm })
}

/// A size in centimetres as RFC 1876 writes it: mantissa (high nibble)
/// times ten to the exponent (low nibble), the digits past the first cut
/// off, as BIND and NSD do.
fn exponent_form(cm: i64) -> Option<u8> {
    let mut exponent = 0u32;
    while exponent < 9 && cm >= 10i64.pow(exponent + 1) {
        exponent += 1;
    }
    let mantissa = cm / 10i64.pow(exponent);
    (mantissa <= 9).then_some((mantissa as u8) << 4 | exponent as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::token::Token;

    fn encode(text: &str) -> Result<Vec<u8>, String> {
        let tokens: Vec<Token<'_>> = text
            .split_whitespace()
            .map(|w| Token {
                text: w.as_bytes(),
                quoted: false,
                line: 1,
                glued: false,
            })
            .collect();
        let mut f = Fields::new(&tokens, b"\x00", Vec::new());
        loc(&mut f)?;
        f.done()?;
        Ok(f.out)
    }

    #[test]
    fn rfc_1876_examples() {
        // cambridge-net.kei.com from RFC 1876 section 4.
        let wire = encode("42 21 54 N 71 06 18 W -24m 30m").unwrap();
        assert_eq!(&wire[..4], [0, 0x33, 0x16, 0x13]);
        let latitude = u32::from_be_bytes(wire[4..8].try_into().unwrap());
        assert_eq!(latitude, EQUATOR + (42 * 3600 + 21 * 60 + 54) * 1000);
        let longitude = u32::from_be_bytes(wire[8..12].try_into().unwrap());
        assert_eq!(longitude, EQUATOR - (71 * 3600 + 6 * 60 + 18) * 1000);
        let altitude = u32::from_be_bytes(wire[12..16].try_into().unwrap());
        assert_eq!(altitude, 10_000_000 - 2_400);
        // Seconds with decimals, defaults for the precisions.
        let wire = encode("52 22 23.000 N 4 53 32.000 E -2.00m").unwrap();
        assert_eq!(&wire[..4], [0, 0x12, 0x16, 0x13]);
        assert!(encode("91 N 0 E 0m").is_err());
        assert!(encode("42 N 71 W 0m 1m 1m 1m 1m").is_err(), "surplus");
    }

    /// Found by fuzz/fuzz_targets/zone_file.rs: seconds of 19 digits
    /// overflowed into thousandths.
    #[test]
    fn numbers_too_large_for_their_field_are_refused() {
        assert!(encode("40 32 9999999999999999999 N 105 04 25 W 1m").is_err());
        assert!(encode("40 32 922337203685477580 N 105 04 25 W 1m").is_err());
        assert!(encode("40 N 105 W 92233720368547758.07m").is_err());
    }
}

//! The presentation formats that are more than a list of plain fields.

use super::fields::{Fields, hex, join, number};
use super::types;
use crate::zone::token::Token;

/// WKS (RFC 1035 section 3.4.2): address, protocol, services as a bitmap
/// of ports.
pub fn wks(f: &mut Fields<'_, '_>) -> Result<(), String> {
    f.ipv4("address")?;
    let protocol = f.next("protocol")?;
    let proto = match protocol.text.to_ascii_lowercase().as_slice() {
        b"tcp" => 6,
        b"udp" => 17,
        _ => number(&protocol, "protocol", u8::MAX.into())? as u8,
    };
    f.out.push(proto);
    let mut bits: Vec<u8> = Vec::new();
    for token in f.rest() {
        let port = match service(token.text) {
            Some(port) => port,
            None => number(token, "service", u16::MAX.into())? as u16,
        };
        let byte = usize::from(port / 8);
        if bits.len() <= byte {
            bits.resize(byte + 1, 0);
        }
        bits[byte] |= 0x80 >> (port % 8);
    }
    f.out.extend_from_slice(&bits);
    Ok(())
}

/// Well-known service names (getservbyname's common part).
fn service(text: &[u8]) -> Option<u16> {
    const SERVICES: &[(&str, u16)] = &[
        ("tcpmux", 1),
        ("echo", 7),
        ("discard", 9),
        ("daytime", 13),
        ("ftp-data", 20),
        ("ftp", 21),
        ("ssh", 22),
        ("telnet", 23),
        ("smtp", 25),
        ("time", 37),
        ("whois", 43),
        ("domain", 53),
        ("gopher", 70),
        ("finger", 79),
        ("http", 80),
        ("www", 80),
        ("kerberos", 88),
        ("pop3", 110),
        ("sunrpc", 111),
        ("auth", 113),
        ("nntp", 119),
        ("ntp", 123),
        ("imap", 143),
        ("snmp", 161),
        ("bgp", 179),
        ("ldap", 389),
        ("https", 443),
        ("submission", 587),
    ];
    SERVICES
        .iter()
        .find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(text))
        .map(|(_, port)| *port)
}

/// NSAP (RFC 1706 section 5): `0x` then hexadecimal, dots allowed.
pub fn nsap(f: &mut Fields<'_, '_>) -> Result<(), String> {
    let token = f.next("address")?;
    let digits: Vec<u8> = token
        .text
        .strip_prefix(b"0x")
        .or_else(|| token.text.strip_prefix(b"0X"))
        .ok_or_else(|| format!("NSAP address {} does not start with 0x", token.show()))?
        .iter()
        .copied()
        .filter(|&c| c != b'.')
        .collect();
    let bytes = hex(&digits).ok_or_else(|| format!("bad NSAP address {}", token.show()))?;
    f.out.extend_from_slice(&bytes);
    Ok(())
}

/// NXT (RFC 2535 section 5.2): next name, then a bitmap of types 1-127.
pub fn nxt(f: &mut Fields<'_, '_>) -> Result<(), String> {
    f.name("next name")?;
    let mut bits = [0u8; 16];
    let mut used = 0;
    for token in f.rest() {
        let code = types::code(token.text).ok_or_else(|| format!("bad type {}", token.show()))?;
        if code > 127 {
            return Err(format!(
                "NXT cannot list type {code}: its bitmap ends at 127"
            ));
        }
        let code = usize::from(code);
        bits[code / 8] |= 0x80 >> (code % 8);
        used = used.max(code / 8 + 1);
    }
    f.out.extend_from_slice(&bits[..used]);
    Ok(())
}

/// ATMA: an E.164 address (`+` and digits) or an AESA in hexadecimal.
pub fn atma(f: &mut Fields<'_, '_>) -> Result<(), String> {
    let token = f.next("address")?;
    if let Some(digits) = token.text.strip_prefix(b"+") {
        if digits.is_empty() || !digits.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
            return Err(format!("bad E.164 address {}", token.show()));
        }
        f.out.push(1);
        f.out.extend(digits.iter().filter(|c| c.is_ascii_digit()));
    } else {
        let digits: Vec<u8> = token.text.iter().copied().filter(|&c| c != b'.').collect();
        let bytes = hex(&digits).ok_or_else(|| format!("bad ATM address {}", token.show()))?;
        f.out.push(0);
        f.out.extend_from_slice(&bytes);
    }
    Ok(())
}

/// CERT (RFC 4398 section 2.2): type, key tag, algorithm, certificate.
pub fn cert(f: &mut Fields<'_, '_>) -> Result<(), String> {
    let token = f.next("certificate type")?;
    let kind = match types::cert_type(token.text) {
        Some(kind) => kind,
        None => number(&token, "certificate type", u16::MAX.into())? as u16,
    };
    f.out.extend_from_slice(&kind.to_be_bytes());
    f.u16("key tag")?;
    f.algorithm("algorithm")?;
    f.base64_rest("certificate")
}

/// A6 (RFC 2874 section 3.1.1): prefix length, the address bits past it,
/// and the prefix's name.
pub fn a6(f: &mut Fields<'_, '_>) -> Result<(), String> {
    let prefix = f.u8("prefix length")?;
    if prefix > 128 {
        return Err(format!("A6 prefix length {prefix} is over 128"));
    }
    if prefix < 128 {
        let token = f.next("address suffix")?;
        let addr = super::fields::ipv6(&token)
            .ok_or_else(|| format!("bad address suffix {}", token.show()))?;
        let keep = (128 - usize::from(prefix)).div_ceil(8);
        f.out.extend_from_slice(&addr.octets()[16 - keep..]);
    }
    if prefix > 0 {
        f.name("prefix name")?;
    }
    Ok(())
}

/// APL (RFC 3123 section 5): `[!]afi:address/prefix` items.
pub fn apl(f: &mut Fields<'_, '_>) -> Result<(), String> {
    for token in f.rest().to_vec() {
        let bad = || format!("bad APL item {}", token.show());
        let (negated, text) = match token.text.strip_prefix(b"!") {
            Some(rest) => (true, rest),
            None => (false, token.text),
        };
        let text = std::str::from_utf8(text).map_err(|_| bad())?;
        let (afi, rest) = text.split_once(':').ok_or_else(bad)?;
        let (address, prefix) = rest.split_once('/').ok_or_else(bad)?;
        let afi: u16 = afi.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let mut bytes = match afi {
            1 if prefix <= 32 => address
                .parse::<std::net::Ipv4Addr>()
                .map_err(|_| bad())?
                .octets()
                .to_vec(),
            2 if prefix <= 128 => address
                .parse::<std::net::Ipv6Addr>()
                .map_err(|_| bad())?
                .octets()
                .to_vec(),
            _ => return Err(bad()),
        };
        while bytes.last() == Some(&0) {
            bytes.pop();
        }
        f.out.extend_from_slice(&afi.to_be_bytes());
        f.out.push(prefix);
        f.out.push((u8::from(negated) << 7) | bytes.len() as u8);
        f.out.extend_from_slice(&bytes);
    }
    Ok(())
}

/// IPSECKEY (RFC 4025 section 3.1): precedence, gateway type, algorithm,
/// gateway, and an optional public key.
pub fn ipseckey(f: &mut Fields<'_, '_>) -> Result<(), String> {
    f.u8("precedence")?;
    let kind = f.u8("gateway type")?;
    f.u8("algorithm")?;
    gateway(f, kind, "gateway")?;
    if !f.at_end() {
        f.base64_rest("public key")?;
    }
    Ok(())
}

/// A relay or gateway by its type: 0 none (`.`), 1 IPv4, 2 IPv6, 3 a
/// name (RFC 4025, RFC 8777).
fn gateway(f: &mut Fields<'_, '_>, kind: u8, what: &str) -> Result<(), String> {
    match kind {
        0 => {
            let token = f.next(what)?;
            if token.text != b"." {
                return Err(format!(
                    "{what} of type 0 must be \".\", not {}",
                    token.show()
                ));
            }
            Ok(())
        }
        1 => f.ipv4(what),
        2 => f.ipv6(what),
        3 => f.name(what),
        _ => Err(format!("{what} type {kind} is not 0-3")),
    }
}

/// AMTRELAY (RFC 8777 section 4.2): precedence, discovery bit, type,
/// relay.
pub fn amtrelay(f: &mut Fields<'_, '_>) -> Result<(), String> {
    f.u8("precedence")?;
    let discovery = f.number("discovery optional", 1)? as u8;
    let kind = f.number("relay type", 127)? as u8;
    f.out.push(discovery << 7 | kind);
    gateway(f, kind, "relay")
}

/// NSEC3's and NSEC3PARAM's salt: `-` for none, else hexadecimal, after
/// its length.
pub fn salt(f: &mut Fields<'_, '_>) -> Result<(), String> {
    let token = f.next("salt")?;
    if token.text == b"-" {
        f.out.push(0);
        return Ok(());
    }
    let bytes = hex(token.text).ok_or_else(|| format!("bad salt {}", token.show()))?;
    let len = u8::try_from(bytes.len()).map_err(|_| "salt over 255 octets".to_string())?;
    f.out.push(len);
    f.out.extend_from_slice(&bytes);
    Ok(())
}

/// NSEC3's next hashed owner: base32hex without padding, after its
/// length.
pub fn next_hashed(f: &mut Fields<'_, '_>) -> Result<(), String> {
    let token = f.next("next hashed owner")?;
    let upper = token.text.to_ascii_uppercase();
    let bytes = data_encoding::BASE32HEX_NOPAD
        .decode(&upper)
        .map_err(|_| format!("bad next hashed owner {}", token.show()))?;
    let len =
        u8::try_from(bytes.len()).map_err(|_| "next hashed owner over 255 octets".to_string())?;
    f.out.push(len);
    f.out.extend_from_slice(&bytes);
    Ok(())
}

/// HIP (RFC 8005 section 6): algorithm, HIT, public key, rendezvous
/// servers.
pub fn hip(f: &mut Fields<'_, '_>) -> Result<(), String> {
    let algorithm = f.number("public key algorithm", u8::MAX.into())? as u8;
    let hit_token = f.next("HIT")?;
    let hit = hex(hit_token.text).ok_or_else(|| format!("bad HIT {}", hit_token.show()))?;
    let key_token = f.next("public key")?;
    let key = data_encoding::BASE64
        .decode(key_token.text)
        .map_err(|_| format!("bad public key {}", key_token.show()))?;
    let hit_len = u8::try_from(hit.len()).map_err(|_| "HIT over 255 octets".to_string())?;
    let key_len = u16::try_from(key.len()).map_err(|_| "public key too long".to_string())?;
    f.out.push(hit_len);
    f.out.push(algorithm);
    f.out.extend_from_slice(&key_len.to_be_bytes());
    f.out.extend_from_slice(&hit);
    f.out.extend_from_slice(&key);
    while !f.at_end() {
        f.name("rendezvous server")?;
    }
    Ok(())
}

/// L64's and NID's 64 bits: four groups of up to four hexadecimal digits.
pub fn locator64(f: &mut Fields<'_, '_>) -> Result<(), String> {
    let token = f.next("locator")?;
    let bad = || format!("bad 64-bit locator {}", token.show());
    let groups: Vec<&[u8]> = token.text.split(|&c| c == b':').collect();
    if groups.len() != 4 {
        return Err(bad());
    }
    for group in groups {
        if group.is_empty() || group.len() > 4 {
            return Err(bad());
        }
        let value = u16::from_str_radix(std::str::from_utf8(group).map_err(|_| bad())?, 16)
            .map_err(|_| bad())?;
        f.out.extend_from_slice(&value.to_be_bytes());
    }
    Ok(())
}

/// EUI48 and EUI64 (RFC 7043): hexadecimal pairs joined by `-`.
pub fn eui(f: &mut Fields<'_, '_>, octets: usize) -> Result<(), String> {
    let token = f.next("address")?;
    let parts: Vec<&[u8]> = token.text.split(|&c| c == b'-').collect();
    if parts.len() != octets || parts.iter().any(|p| p.len() != 2) {
        return Err(format!("bad EUI-{} address {}", octets * 8, token.show()));
    }
    for part in parts {
        f.out
            .extend(hex(part).ok_or_else(|| format!("bad address {}", token.show()))?);
    }
    Ok(())
}

/// CAA (RFC 8659 section 4.1.1): flags, tag, value (without a length).
pub fn caa(f: &mut Fields<'_, '_>) -> Result<(), String> {
    f.u8("flags")?;
    let tag = f.next("tag")?;
    if tag.text.is_empty()
        || tag.text.len() > 255
        || !tag.text.iter().all(u8::is_ascii_alphanumeric)
    {
        return Err(format!("bad CAA tag {}", tag.show()));
    }
    f.out.push(tag.text.len() as u8);
    f.out.extend_from_slice(tag.text);
    f.raw_string("value")
}

/// DOA: enterprise, type, location, media type, data (base64, or `-`).
pub fn doa(f: &mut Fields<'_, '_>) -> Result<(), String> {
    f.u32("enterprise")?;
    f.u32("type")?;
    f.u8("location")?;
    f.string("media type")?;
    let rest: Vec<Token<'_>> = f.rest().to_vec();
    if rest.len() == 1 && rest[0].text == b"-" {
        return Ok(());
    }
    let bytes = data_encoding::BASE64
        .decode(&join(&rest))
        .map_err(|e| format!("bad base64 in data: {e}"))?;
    f.out.extend_from_slice(&bytes);
    Ok(())
}

/// DSYNC's scheme (RFC 9859 section 2.1): a number, or `NOTIFY` for 1.
pub fn dsync_scheme(f: &mut Fields<'_, '_>) -> Result<(), String> {
    let token = f.next("scheme")?;
    let scheme = if token.text.eq_ignore_ascii_case(b"NOTIFY") {
        1
    } else {
        number(&token, "scheme", u8::MAX.into())? as u8
    };
    f.out.push(scheme);
    Ok(())
}

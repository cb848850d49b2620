//! RDATA from its presentation format to wire form, for every type NSD
//! knows, and RFC 3597's generic `\# length hex` for any type.
//!
//! The result is the exact bytes a server sends: names uncompressed, as
//! written (case kept), numbers big-endian. Each field is read by its kind
//! (`fields`); missing or surplus fields are errors, never guessed at.

mod fields;
mod loc;
mod special;
mod svcb;
pub mod types;

use fields::{Fields, hex, join};
pub use fields::{name, name_into, ttl};

use super::token::Token;

/// RDATA in wire form, and what a lenient reading of it let by.
pub struct Encoded {
    pub wire: Vec<u8>,
    pub warning: Option<String>,
}

/// The RDATA of a record of type `rtype` from its tokens; relative names
/// are completed with `origin` (wire form). `out` is a buffer to write it
/// in, which the caller may reuse from record to record.
pub fn encode(
    rtype: u16,
    tokens: &[Token<'_>],
    origin: &[u8],
    out: Vec<u8>,
) -> Result<Encoded, String> {
    if tokens
        .first()
        .is_some_and(|t| !t.quoted && t.text == b"\\#")
    {
        return generic(rtype, &tokens[1..]);
    }
    if types::is_meta(rtype) {
        return Err(format!(
            "{} is not a type of data a zone holds",
            types::mnemonic(rtype)
        ));
    }
    let mut f = Fields::new(tokens, origin, out);
    known(rtype, &mut f)?;
    f.done()?;
    Ok(Encoded {
        wire: f.out,
        warning: None,
    })
}

/// RFC 3597 section 5: `\# length hex`, the length in octets. A length
/// that does not match the data is a warning, as NSD takes the data.
fn generic(rtype: u16, tokens: &[Token<'_>]) -> Result<Encoded, String> {
    let (length, data) = tokens.split_first().ok_or("\\# needs the RDATA length")?;
    let length = fields::number(length, "RDATA length", u16::MAX.into())? as usize;
    let wire = hex(&join(data)).ok_or("bad hexadecimal after \\# length")?;
    wire_fits(rtype, &wire)
        .map_err(|e| format!("the \\# data is no {}: {e}", types::mnemonic(rtype)))?;
    let warning = (wire.len() != length).then(|| {
        format!(
            "\\# says {length} octets of RDATA but {} follow: the {} are kept, as NSD keeps them",
            wire.len(),
            wire.len()
        )
    });
    Ok(Encoded { wire, warning })
}

/// Whether generic RDATA has the shape its type's wire format demands,
/// for the types whose shape is checked (the others are taken as given).
fn wire_fits(rtype: u16, wire: &[u8]) -> Result<(), String> {
    let exact_name = |data: &[u8]| {
        crate::wire::NameKey::from_wire(data)
            .filter(|n| n.wire_len() == data.len())
            .map(drop)
            .ok_or_else(|| "not one uncompressed name".to_string())
    };
    // Fixed fields around names, for the types whose names the zone
    // compiler reads: `before` octets, the names, then `after` octets.
    let names_between = |before: usize, names: usize, after: usize| {
        let mut at = before;
        for _ in 0..names {
            at += wire
                .get(at..)
                .and_then(crate::wire::name::name_len)
                .ok_or("not the uncompressed names the type holds")?;
        }
        if wire.len() == at + after {
            Ok(())
        } else {
            Err(format!(
                "{} octets, not the {} the type's fields take",
                wire.len(),
                at + after
            ))
        }
    };
    let at_least = |n: usize| {
        if wire.len() >= n {
            Ok(())
        } else {
            Err(format!("{} octets, fewer than {n}", wire.len()))
        }
    };
    match rtype {
        1 if wire.len() != 4 => Err(format!("{} octets, not 4", wire.len())),
        28 if wire.len() != 16 => Err(format!("{} octets, not 16", wire.len())),
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 39 => exact_name(wire),
        6 => names_between(0, 2, 20),
        15 => names_between(2, 1, 0),
        33 => names_between(6, 1, 0),
        16 | 99 => {
            let mut at = 0;
            while at < wire.len() {
                at += 1 + usize::from(wire[at]);
            }
            if at == wire.len() {
                Ok(())
            } else {
                Err("a character string runs past the end".into())
            }
        }
        43 | 59 | 48 | 60 => at_least(4),
        44 => at_least(2),
        52 | 53 => at_least(3),
        55 => {
            at_least(4)?;
            let hit = usize::from(wire[0]);
            let key = usize::from(u16::from_be_bytes([wire[2], wire[3]]));
            at_least(4 + hit + key)
        }
        _ => Ok(()),
    }
}

/// The presentation format of each known type.
fn known(rtype: u16, f: &mut Fields<'_, '_>) -> Result<(), String> {
    match rtype {
        1 => f.ipv4("address"),
        28 => f.ipv6("address"),
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 23 | 39 => f.name("name"),
        6 => {
            f.name("primary server")?;
            f.name("mailbox")?;
            f.u32("serial")?;
            f.period("refresh")?;
            f.period("retry")?;
            f.period("expire")?;
            f.period("minimum")
        }
        10 => Err("NULL has no text form; write it as \\# length hex".into()),
        11 => special::wks(f),
        13 => {
            f.string("CPU")?;
            f.string("OS")
        }
        14 | 17 => {
            f.name("mailbox")?;
            f.name("mailbox")
        }
        15 | 18 | 21 | 36 | 107 => {
            f.u16("preference")?;
            f.name("name")
        }
        16 | 56 | 99 | 258 | 261 | 262 => f.strings("text"),
        19 => f.string("PSDN address"),
        20 => {
            f.string("ISDN address")?;
            if !f.at_end() {
                f.string("subaddress")?;
            }
            Ok(())
        }
        22 => special::nsap(f),
        24 | 46 => {
            f.rtype("type covered")?;
            f.algorithm("algorithm")?;
            f.u8("labels")?;
            f.u32("original TTL")?;
            f.time("expiration")?;
            f.time("inception")?;
            f.u16("key tag")?;
            f.name("signer")?;
            f.base64_rest("signature")
        }
        25 | 48 | 57 | 60 => {
            f.u16("flags")?;
            f.u8("protocol")?;
            f.algorithm("algorithm")?;
            f.base64_rest("public key")
        }
        26 => {
            f.u16("preference")?;
            f.name("map822")?;
            f.name("mapx400")
        }
        27 => {
            f.string("longitude")?;
            f.string("latitude")?;
            f.string("altitude")
        }
        29 => loc::loc(f),
        30 => special::nxt(f),
        31 | 32 => f.hex_rest("data", false),
        33 => {
            f.u16("priority")?;
            f.u16("weight")?;
            f.u16("port")?;
            f.name("target")
        }
        34 => special::atma(f),
        35 => {
            f.u16("order")?;
            f.u16("preference")?;
            f.string("flags")?;
            f.string("services")?;
            f.string("regexp")?;
            f.name("replacement")
        }
        37 => special::cert(f),
        38 => special::a6(f),
        42 => special::apl(f),
        43 | 59 | 32768 | 32769 => {
            f.u16("key tag")?;
            f.algorithm("algorithm")?;
            f.u8("digest type")?;
            f.hex_rest("digest", false)
        }
        44 => {
            f.u8("algorithm")?;
            f.u8("fingerprint type")?;
            f.hex_rest("fingerprint", false)
        }
        45 => special::ipseckey(f),
        47 => {
            f.name("next name")?;
            f.bitmap_rest()
        }
        49 | 61 => f.base64_rest("data"),
        50 => {
            f.u8("hash algorithm")?;
            f.u8("flags")?;
            f.u16("iterations")?;
            special::salt(f)?;
            special::next_hashed(f)?;
            f.bitmap_rest()
        }
        51 => {
            f.u8("hash algorithm")?;
            f.u8("flags")?;
            f.u16("iterations")?;
            special::salt(f)
        }
        52 | 53 => {
            f.u8("usage")?;
            f.u8("selector")?;
            f.u8("matching type")?;
            f.hex_rest("association data", false)
        }
        55 => special::hip(f),
        58 => {
            f.name("previous name")?;
            f.name("next name")
        }
        62 => {
            f.u32("SOA serial")?;
            f.u16("flags")?;
            f.bitmap_rest()
        }
        63 => {
            f.u32("serial")?;
            f.u8("scheme")?;
            f.u8("hash algorithm")?;
            f.hex_rest("digest", false)
        }
        64 | 65 => svcb::svcb(f),
        66 => {
            f.rtype("type")?;
            special::dsync_scheme(f)?;
            f.u16("port")?;
            f.name("target")
        }
        100 => f.string("user information"),
        101 | 102 => f.u32("identifier").map(drop),
        104 | 106 => {
            f.u16("preference")?;
            special::locator64(f)
        }
        105 => {
            f.u16("preference")?;
            f.ipv4("locator")
        }
        108 => special::eui(f, 6),
        109 => special::eui(f, 8),
        256 => {
            f.u16("priority")?;
            f.u16("weight")?;
            f.raw_string("target")
        }
        257 => special::caa(f),
        259 => special::doa(f),
        260 => special::amtrelay(f),
        _ => Err(format!(
            "no text format is known for {}: write it as \\# length hex (RFC 3597)",
            types::mnemonic(rtype)
        )),
    }
    .map(drop)
}

#[cfg(test)]
mod tests;

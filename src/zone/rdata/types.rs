//! Record types by mnemonic: every type NSD knows, and RFC 3597's TYPEnnn.

/// Mnemonic and code of every type with a presentation format here, and of
/// the meta types a zone may not hold.
pub const TYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("MD", 3),
    ("MF", 4),
    ("CNAME", 5),
    ("SOA", 6),
    ("MB", 7),
    ("MG", 8),
    ("MR", 9),
    ("NULL", 10),
    ("WKS", 11),
    ("PTR", 12),
    ("HINFO", 13),
    ("MINFO", 14),
    ("MX", 15),
    ("TXT", 16),
    ("RP", 17),
    ("AFSDB", 18),
    ("X25", 19),
    ("ISDN", 20),
    ("RT", 21),
    ("NSAP", 22),
    ("NSAP-PTR", 23),
    ("SIG", 24),
    ("KEY", 25),
    ("PX", 26),
    ("GPOS", 27),
    ("AAAA", 28),
    ("LOC", 29),
    ("NXT", 30),
    ("EID", 31),
    ("NIMLOC", 32),
    ("SRV", 33),
    ("ATMA", 34),
    ("NAPTR", 35),
    ("KX", 36),
    ("CERT", 37),
    ("A6", 38),
    ("DNAME", 39),
    ("SINK", 40),
    ("OPT", 41),
    ("APL", 42),
    ("DS", 43),
    ("SSHFP", 44),
    ("IPSECKEY", 45),
    ("RRSIG", 46),
    ("NSEC", 47),
    ("DNSKEY", 48),
    ("DHCID", 49),
    ("NSEC3", 50),
    ("NSEC3PARAM", 51),
    ("TLSA", 52),
    ("SMIMEA", 53),
    ("HIP", 55),
    ("NINFO", 56),
    ("RKEY", 57),
    ("TALINK", 58),
    ("CDS", 59),
    ("CDNSKEY", 60),
    ("OPENPGPKEY", 61),
    ("CSYNC", 62),
    ("ZONEMD", 63),
    ("SVCB", 64),
    ("HTTPS", 65),
    ("DSYNC", 66),
    ("SPF", 99),
    ("UINFO", 100),
    ("UID", 101),
    ("GID", 102),
    ("UNSPEC", 103),
    ("NID", 104),
    ("L32", 105),
    ("L64", 106),
    ("LP", 107),
    ("EUI48", 108),
    ("EUI64", 109),
    ("TKEY", 249),
    ("TSIG", 250),
    ("IXFR", 251),
    ("AXFR", 252),
    ("MAILB", 253),
    ("MAILA", 254),
    ("ANY", 255),
    ("URI", 256),
    ("CAA", 257),
    ("AVC", 258),
    ("DOA", 259),
    ("AMTRELAY", 260),
    ("RESINFO", 261),
    ("WALLET", 262),
    ("TA", 32768),
    ("DLV", 32769),
];

/// The code of a type written as a mnemonic (any case) or TYPEnnn.
pub fn code(text: &[u8]) -> Option<u16> {
    if let Some((_, code)) = TYPES
        .iter()
        .find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(text))
    {
        return Some(*code);
    }
    generic_number(text, b"TYPE")
}

/// The mnemonic of a type, or TYPEnnn.
pub fn mnemonic(code: u16) -> String {
    TYPES
        .iter()
        .find(|(_, c)| *c == code)
        .map_or_else(|| format!("TYPE{code}"), |(name, _)| (*name).to_string())
}

/// Types that describe queries or transfers, never data in a zone.
pub fn is_meta(code: u16) -> bool {
    matches!(code, 41 | 128..=255)
}

const CLASSES: &[(&str, u16)] = &[("IN", 1), ("CS", 2), ("CH", 3), ("HS", 4)];

/// The class of a zone file record, written as a mnemonic or CLASSnnn.
pub fn class(text: &[u8]) -> Option<u16> {
    if let Some((_, code)) = CLASSES
        .iter()
        .find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(text))
    {
        return Some(*code);
    }
    generic_number(text, b"CLASS")
}

/// A class's mnemonic, or CLASSnnn.
pub fn class_mnemonic(code: u16) -> String {
    CLASSES
        .iter()
        .find(|(_, c)| *c == code)
        .map_or_else(|| format!("CLASS{code}"), |(name, _)| (*name).to_string())
}

/// `PREFIXnnn` (any case) as a 16-bit number.
fn generic_number(text: &[u8], prefix: &[u8]) -> Option<u16> {
    let digits = text
        .get(..prefix.len())
        .filter(|p| p.eq_ignore_ascii_case(prefix))
        .map(|_| &text[prefix.len()..])?;
    if digits.is_empty() || digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// DNSSEC algorithm mnemonics (RFC 4034 appendix A.1 and the IANA
/// registry).
pub fn algorithm(text: &[u8]) -> Option<u8> {
    const ALGORITHMS: &[(&str, u8)] = &[
        ("RSAMD5", 1),
        ("DH", 2),
        ("DSA", 3),
        ("ECC", 4),
        ("RSASHA1", 5),
        ("DSA-NSEC3-SHA1", 6),
        ("RSASHA1-NSEC3-SHA1", 7),
        ("RSASHA256", 8),
        ("RSASHA512", 10),
        ("ECC-GOST", 12),
        ("ECDSAP256SHA256", 13),
        ("ECDSAP384SHA384", 14),
        ("ED25519", 15),
        ("ED448", 16),
        ("INDIRECT", 252),
        ("PRIVATEDNS", 253),
        ("PRIVATEOID", 254),
    ];
    ALGORITHMS
        .iter()
        .find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(text))
        .map(|(_, n)| *n)
}

/// CERT type mnemonics (RFC 4398 section 2.1).
pub fn cert_type(text: &[u8]) -> Option<u16> {
    const CERT_TYPES: &[(&str, u16)] = &[
        ("PKIX", 1),
        ("SPKI", 2),
        ("PGP", 3),
        ("IPKIX", 4),
        ("ISPKI", 5),
        ("IPGP", 6),
        ("ACPKIX", 7),
        ("IACPKIX", 8),
        ("URI", 253),
        ("OID", 254),
    ];
    CERT_TYPES
        .iter()
        .find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(text))
        .map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mnemonics_and_generic_forms() {
        assert_eq!(code(b"a"), Some(1));
        assert_eq!(code(b"NSAP-PTR"), Some(23));
        assert_eq!(code(b"TYPE65534"), Some(65534));
        assert_eq!(code(b"type1"), Some(1));
        assert_eq!(code(b"TYPE65536"), None);
        assert_eq!(code(b"TYPE"), None);
        assert_eq!(code(b"BOGUS"), None);
        assert_eq!(mnemonic(16), "TXT");
        assert_eq!(mnemonic(65534), "TYPE65534");
        assert_eq!(class(b"CLASS1"), Some(1));
        assert_eq!(class(b"in"), Some(1));
        assert!(is_meta(255) && is_meta(41) && !is_meta(46));
        assert_eq!(algorithm(b"rsasha256"), Some(8));
    }
}

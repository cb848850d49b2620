//! The DNS wire format on the query path: decoding queries, answers encoded
//! once and copied into each response, and writing responses.
//!
//! hickory-proto stays the model for record data (zone parsing, RDATA
//! encoding, and later decoding upstream responses); this module is the thin
//! fast layer around it that never allocates per query.

pub mod answer;
pub mod name;
pub mod options;
pub mod query;
pub mod response;
pub mod walk;

pub use answer::{Answer, AnswerBuilder, Owner, Piece, Section};
pub use name::NameKey;
pub use query::{Cookie, DecodeError, Edns, Malformed, Query, RequestHeader, decode};

/// Header flag bits (RFC 1035 section 4.1.1, RFC 4035 section 3.2).
pub mod flags {
    pub const QR: u16 = 0x8000;
    pub const OPCODE_MASK: u16 = 0x7800;
    pub const AA: u16 = 0x0400;
    pub const TC: u16 = 0x0200;
    pub const RD: u16 = 0x0100;
    pub const RA: u16 = 0x0080;
    pub const AD: u16 = 0x0020;
    pub const CD: u16 = 0x0010;
}

/// Opcodes (RFC 1035, RFC 1996, RFC 2136).
pub mod opcode {
    pub const QUERY: u8 = 0;
}

/// Response codes, including the EDNS extended ones (RFC 6891).
pub mod rcode {
    pub const NOERROR: u16 = 0;
    pub const FORMERR: u16 = 1;
    pub const SERVFAIL: u16 = 2;
    pub const NXDOMAIN: u16 = 3;
    pub const NOTIMP: u16 = 4;
    pub const REFUSED: u16 = 5;
    pub const YXDOMAIN: u16 = 6;
    pub const NOTAUTH: u16 = 9;
    pub const BADVERS: u16 = 16;
}

/// Record types the query path treats specially.
pub mod rtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const CNAME: u16 = 5;
    pub const SOA: u16 = 6;
    pub const MX: u16 = 15;
    pub const AAAA: u16 = 28;
    pub const SRV: u16 = 33;
    pub const OPT: u16 = 41;
    pub const DNAME: u16 = 39;
    pub const DS: u16 = 43;
    pub const RRSIG: u16 = 46;
    pub const NSEC: u16 = 47;
    pub const DNSKEY: u16 = 48;
    pub const NSEC3: u16 = 50;
    pub const TKEY: u16 = 249;
    pub const TSIG: u16 = 250;
    pub const IXFR: u16 = 251;
    pub const AXFR: u16 = 252;
    pub const MAILB: u16 = 253;
    pub const MAILA: u16 = 254;
    pub const ANY: u16 = 255;
}

/// Classes.
pub mod class {
    pub const IN: u16 = 1;
    /// CHAOS (RFC 1035), where servers name themselves.
    pub const CH: u16 = 3;
}

/// EDNS option codes (RFC 6891 registry).
pub mod edns {
    /// RFC 5001.
    pub const NSID: u16 = 3;
    /// DNS cookies, RFC 7873.
    pub const COOKIE: u16 = 10;
    /// RFC 7830.
    pub const PADDING: u16 = 12;
    /// Extended DNS Errors, RFC 8914.
    pub const EDE: u16 = 15;
    /// A sibling asks the member that owns a zone cut for it (hearsay's
    /// own, from RFC 6891's range for local use; only the sibling port
    /// acts on it).
    pub const SIBLING_CUT: u16 = 65_301;
}

/// Largest message over UDP without EDNS (RFC 1035 section 4.2.1).
pub const PLAIN_UDP_SIZE: usize = 512;
/// Largest message over TCP (two-octet length prefix).
pub const MAX_MESSAGE_SIZE: usize = 65535;
/// Size of the header.
pub const HEADER_LEN: usize = 12;

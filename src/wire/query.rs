//! Decoding a query from the network, without allocating.
//!
//! hickory's `Message` decoder builds a heap object per record; on the hot
//! path we only need the header, the question and the OPT record, so this
//! reads them straight off the packet and validates the rest of the message
//! by walking it. Everything that arrives here is hostile: every read is
//! bounds-checked and compression pointers must strictly move backwards.

use super::name::{MAX_NAME_LEN, NameKey};
use super::{flags, rtype};

/// The request header fields a reply needs, even when the rest is garbage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHeader {
    pub id: u16,
    /// The raw flags word as the client sent it.
    pub flags: u16,
}

impl RequestHeader {
    /// The OPCODE field (RFC 1035 section 4.1.1).
    pub fn opcode(&self) -> u8 {
        ((self.flags & flags::OPCODE_MASK) >> 11) as u8
    }
}

/// The client's EDNS(0) OPT record (RFC 6891).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edns {
    /// Largest UDP payload the client can take.
    pub udp_size: u16,
    pub version: u8,
    /// The DO bit (RFC 3225), echoed in the reply.
    pub dnssec_ok: bool,
    /// The client sent a Padding option (RFC 7830): over an encrypted
    /// transport the answer is padded too (RFC 8467).
    pub padded: bool,
    /// The client asked for our NSID (RFC 5001).
    pub nsid: bool,
    /// A sibling asks for the zone cut of the question's name, not its
    /// records (`edns::SIBLING_CUT`).
    pub sibling_cut: bool,
    /// The client's DNS cookie (RFC 7873), and the server cookie it
    /// returned, if any.
    pub cookie: Option<Cookie>,
}

/// A COOKIE option as a client sends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cookie {
    pub client: [u8; 8],
    server: [u8; 32],
    server_len: u8,
}

impl Cookie {
    /// The server cookie the client returned (8 to 32 octets), if any.
    pub fn server(&self) -> &[u8] {
        &self.server[..usize::from(self.server_len)]
    }
}

/// A decoded query: header, the one question, and EDNS.
#[derive(Clone)]
pub struct Query {
    pub header: RequestHeader,
    /// The question name uncompressed, in the client's case, to echo back.
    qname: [u8; MAX_NAME_LEN],
    qname_len: u8,
    /// The question name folded to lowercase, for lookups.
    pub key: NameKey,
    pub qtype: u16,
    pub qclass: u16,
    pub edns: Option<Edns>,
}

impl Query {
    /// The question name in wire form, as the client wrote it.
    pub fn qname_wire(&self) -> &[u8] {
        &self.qname[..self.qname_len as usize]
    }
}

/// Why a packet could not be decoded. The variants' order is the order of
/// the counters that count them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than a header: nothing to reply to.
    ShortHeader,
    /// QR=1: a response, never answered, so two servers cannot ping-pong.
    NotAQuery,
    /// QDCOUNT other than 1.
    QuestionCount,
    /// A name with a bad label length, label type or total length.
    BadName,
    /// A compression pointer that does not point strictly backwards.
    BadPointer,
    /// A section claims more data than the packet holds.
    Truncated,
    /// An OPT record not owned by the root, repeated, or with bad options.
    BadOpt,
    /// Bytes left over after the last record.
    TrailingData,
}

impl Malformed {
    /// Number of variants, for counter arrays.
    pub const COUNT: usize = 8;

    pub const ALL: [Malformed; Self::COUNT] = [
        Malformed::ShortHeader,
        Malformed::NotAQuery,
        Malformed::QuestionCount,
        Malformed::BadName,
        Malformed::BadPointer,
        Malformed::Truncated,
        Malformed::BadOpt,
        Malformed::TrailingData,
    ];

    /// True when the header could be read and a FORMERR can be sent.
    pub fn answerable(self) -> bool {
        !matches!(self, Malformed::ShortHeader | Malformed::NotAQuery)
    }

    /// Short lowercase name for logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            Malformed::ShortHeader => "short_header",
            Malformed::NotAQuery => "not_a_query",
            Malformed::QuestionCount => "question_count",
            Malformed::BadName => "bad_name",
            Malformed::BadPointer => "bad_pointer",
            Malformed::Truncated => "truncated",
            Malformed::BadOpt => "bad_opt",
            Malformed::TrailingData => "trailing_data",
        }
    }
}

/// A packet that failed to decode, with the header when one could be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    pub reason: Malformed,
    pub header: Option<RequestHeader>,
}

/// Reads a big-endian u16 at `pos`.
fn read_u16(packet: &[u8], pos: usize) -> Option<u16> {
    let bytes = packet.get(pos..pos + 2)?;
    Some(u16::from_be_bytes([bytes[0], bytes[1]]))
}

fn read_u32(packet: &[u8], pos: usize) -> Option<u32> {
    let bytes = packet.get(pos..pos + 4)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// Decodes a query packet.
pub fn decode(packet: &[u8]) -> Result<Query, DecodeError> {
    let (Some(id), Some(flag_bits)) = (read_u16(packet, 0), read_u16(packet, 2)) else {
        return Err(DecodeError {
            reason: Malformed::ShortHeader,
            header: None,
        });
    };
    let Some(counts) = packet.get(4..12) else {
        return Err(DecodeError {
            reason: Malformed::ShortHeader,
            header: None,
        });
    };
    let header = RequestHeader {
        id,
        flags: flag_bits,
    };
    let fail = |reason| DecodeError {
        reason,
        header: Some(header),
    };
    if flag_bits & flags::QR != 0 {
        return Err(fail(Malformed::NotAQuery));
    }
    let count = |i: usize| u16::from_be_bytes([counts[i], counts[i + 1]]) as usize;
    let (qdcount, ancount, nscount, arcount) = (count(0), count(2), count(4), count(6));
    if qdcount != 1 {
        return Err(fail(Malformed::QuestionCount));
    }

    let mut query = Query {
        header,
        qname: [0; MAX_NAME_LEN],
        qname_len: 0,
        key: NameKey::building(),
        qtype: 0,
        qclass: 0,
        edns: None,
    };
    let mut pos = read_qname(packet, 12, &mut query).map_err(fail)?;
    let (Some(qtype), Some(qclass)) = (read_u16(packet, pos), read_u16(packet, pos + 2)) else {
        return Err(fail(Malformed::Truncated));
    };
    query.qtype = qtype;
    query.qclass = qclass;
    pos += 4;

    let additional_from = ancount + nscount;
    for index in 0..additional_from + arcount {
        let owner = pos;
        pos = skip_name(packet, pos).map_err(fail)?;
        let (Some(rr_type), Some(class), Some(ttl), Some(rdlen)) = (
            read_u16(packet, pos),
            read_u16(packet, pos + 2),
            read_u32(packet, pos + 4),
            read_u16(packet, pos + 8),
        ) else {
            return Err(fail(Malformed::Truncated));
        };
        let rdata_start = pos + 10;
        let rdata_end = rdata_start + rdlen as usize;
        let Some(rdata) = packet.get(rdata_start..rdata_end) else {
            return Err(fail(Malformed::Truncated));
        };
        if rr_type == rtype::OPT {
            if index < additional_from || query.edns.is_some() || pos - owner != 1 {
                return Err(fail(Malformed::BadOpt));
            }
            let options = read_options(rdata).map_err(fail)?;
            query.edns = Some(Edns {
                udp_size: class,
                version: (ttl >> 16) as u8,
                dnssec_ok: ttl & 0x8000 != 0,
                padded: options.padded,
                nsid: options.nsid,
                sibling_cut: options.sibling_cut,
                cookie: options.cookie,
            });
        }
        pos = rdata_end;
    }
    if pos != packet.len() {
        return Err(fail(Malformed::TrailingData));
    }
    Ok(query)
}

/// Reads the question name into `query`, following compression pointers,
/// and returns the position after it in the packet.
fn read_qname(packet: &[u8], start: usize, query: &mut Query) -> Result<usize, Malformed> {
    let mut pos = start;
    // Where reading resumes after the first pointer.
    let mut resume = None;
    // Every pointer must land before the previous one's target, so a
    // malicious loop ends after at most `start` jumps.
    let mut limit = start;
    let mut written = 0usize;
    loop {
        let Some(&len) = packet.get(pos) else {
            return Err(Malformed::Truncated);
        };
        match len & 0xC0 {
            0x00 => {
                if len == 0 {
                    query.qname[written] = 0;
                    written += 1;
                    break;
                }
                let len = len as usize;
                if written + 1 + len >= MAX_NAME_LEN {
                    return Err(Malformed::BadName);
                }
                let Some(label) = packet.get(pos + 1..pos + 1 + len) else {
                    return Err(Malformed::Truncated);
                };
                query.qname[written] = len as u8;
                query.qname[written + 1..written + 1 + len].copy_from_slice(label);
                query.key.push_label(label);
                written += 1 + len;
                pos += 1 + len;
            }
            0xC0 => {
                let Some(low) = packet.get(pos + 1) else {
                    return Err(Malformed::Truncated);
                };
                let target = (((len & 0x3F) as usize) << 8) | *low as usize;
                if target >= limit {
                    return Err(Malformed::BadPointer);
                }
                resume.get_or_insert(pos + 2);
                limit = target;
                pos = target;
            }
            // 0x40 and 0x80 are the extended and reserved label types
            // (RFC 6891 section 5); nobody uses them in a question.
            _ => return Err(Malformed::BadName),
        }
    }
    query.qname_len = written as u8;
    query.key.finish();
    Ok(resume.unwrap_or(pos + 1))
}

/// Steps over a record's owner name without decoding it: a pointer ends the
/// name, so nothing is followed and nothing can loop.
fn skip_name(packet: &[u8], mut pos: usize) -> Result<usize, Malformed> {
    let mut total = 0usize;
    loop {
        let Some(&len) = packet.get(pos) else {
            return Err(Malformed::Truncated);
        };
        match len & 0xC0 {
            0x00 if len == 0 => return Ok(pos + 1),
            0x00 => {
                total += 1 + len as usize;
                if total >= MAX_NAME_LEN {
                    return Err(Malformed::BadName);
                }
                pos += 1 + len as usize;
            }
            0xC0 => {
                if pos + 2 > packet.len() {
                    return Err(Malformed::Truncated);
                }
                return Ok(pos + 2);
            }
            _ => return Err(Malformed::BadName),
        }
    }
}

/// The EDNS options a reply depends on.
#[derive(Default)]
struct Options {
    padded: bool,
    nsid: bool,
    sibling_cut: bool,
    cookie: Option<Cookie>,
}

/// Reads the OPT RDATA, which must be a whole number of {code, length,
/// value} options (RFC 6891 section 6.1.2).
fn read_options(mut rdata: &[u8]) -> Result<Options, Malformed> {
    let mut options = Options::default();
    while !rdata.is_empty() {
        let (Some(code), Some(len)) = (read_u16(rdata, 0), read_u16(rdata, 2)) else {
            return Err(Malformed::BadOpt);
        };
        let Some(rest) = rdata.get(4 + len as usize..) else {
            return Err(Malformed::BadOpt);
        };
        match code {
            super::edns::COOKIE => {
                // RFC 7873 section 5.2.2: a client cookie alone, or with a
                // server cookie of 8 to 32 octets; anything else, FORMERR.
                let value = &rdata[4..4 + len as usize];
                if options.cookie.is_some()
                    || !(value.len() == 8 || (16..=40).contains(&value.len()))
                {
                    return Err(Malformed::BadOpt);
                }
                let mut cookie = Cookie {
                    client: [0; 8],
                    server: [0; 32],
                    server_len: (value.len() - 8) as u8,
                };
                cookie.client.copy_from_slice(&value[..8]);
                cookie.server[..value.len() - 8].copy_from_slice(&value[8..]);
                options.cookie = Some(cookie);
            }
            super::edns::NSID => options.nsid = true,
            super::edns::PADDING => options.padded = true,
            super::edns::SIBLING_CUT => options.sibling_cut = true,
            _ => {}
        }
        rdata = rest;
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query_bytes(name: &[u8], qtype: u16, opt: Option<&[u8]>) -> Vec<u8> {
        let mut p = vec![
            0x12,
            0x34,
            0x01,
            0x00,
            0,
            1,
            0,
            0,
            0,
            0,
            0,
            opt.is_some() as u8,
        ];
        p.extend_from_slice(name);
        p.extend_from_slice(&qtype.to_be_bytes());
        p.extend_from_slice(&1u16.to_be_bytes());
        if let Some(opt) = opt {
            p.extend_from_slice(opt);
        }
        p
    }

    const OPT_DO: &[u8] = &[0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0];

    #[test]
    fn decodes_question_and_edns() {
        let q = decode(&query_bytes(b"\x03WwW\x07example\x00", 1, Some(OPT_DO))).unwrap();
        assert_eq!(q.header.id, 0x1234);
        assert_eq!(q.qname_wire(), b"\x03WwW\x07example\x00");
        assert_eq!(q.key.as_bytes(), b"\x03www\x07example\x00");
        assert_eq!(q.qtype, 1);
        assert_eq!(
            q.edns,
            Some(Edns {
                udp_size: 1232,
                version: 0,
                dnssec_ok: true,
                padded: false,
                nsid: false,
                sibling_cut: false,
                cookie: None,
            })
        );
        // NSID and Padding (RFC 5001, RFC 7830) among other options.
        let opt = [
            0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 20, 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0, 3, 0, 0,
            0, 12, 0, 0,
        ];
        let q = decode(&query_bytes(b"\x03www\x00", 1, Some(&opt[..]))).unwrap();
        let edns = q.edns.unwrap();
        assert!(edns.nsid && edns.padded && !edns.dnssec_ok);
        let cookie = edns.cookie.unwrap();
        assert_eq!(
            (cookie.client, cookie.server()),
            ([1, 2, 3, 4, 5, 6, 7, 8], &[][..])
        );
        // A cookie of 9 octets is malformed (RFC 7873 section 5.2.2).
        let opt = [
            0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 13, 0, 10, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9,
        ];
        let decoded = decode(&query_bytes(b"\x03www\x00", 1, Some(&opt[..])));
        assert!(matches!(decoded, Err(e) if e.reason == Malformed::BadOpt));
    }

    #[test]
    fn rejects_malformed_packets() {
        let cases: &[(&str, Vec<u8>, Malformed)] = &[
            ("empty", vec![], Malformed::ShortHeader),
            ("eleven bytes", vec![0; 11], Malformed::ShortHeader),
            (
                "response",
                {
                    let mut p = query_bytes(b"\x00", 1, None);
                    p[2] |= 0x80;
                    p
                },
                Malformed::NotAQuery,
            ),
            (
                "two questions",
                {
                    let mut p = query_bytes(b"\x00", 1, None);
                    p[5] = 2;
                    p
                },
                Malformed::QuestionCount,
            ),
            (
                "label runs off the end",
                vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 9, b'a'],
                Malformed::Truncated,
            ),
            (
                "pointer to itself",
                query_bytes(b"\xc0\x0c", 1, None),
                Malformed::BadPointer,
            ),
            (
                "pointer forward",
                query_bytes(b"\x01a\xc0\x20", 1, None),
                Malformed::BadPointer,
            ),
            (
                "extended label type",
                query_bytes(b"\x41a\x00", 1, None),
                Malformed::BadName,
            ),
            (
                "name over 255 octets",
                query_bytes(&[[63u8; 64].as_slice(); 5].concat(), 1, None),
                Malformed::BadName,
            ),
            (
                "no qtype",
                vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
                Malformed::Truncated,
            ),
            (
                "trailing bytes",
                {
                    let mut p = query_bytes(b"\x00", 1, None);
                    p.push(0);
                    p
                },
                Malformed::TrailingData,
            ),
            (
                "two OPT records",
                {
                    let mut p = query_bytes(b"\x00", 1, Some(OPT_DO));
                    p.extend_from_slice(OPT_DO);
                    p[11] = 2;
                    p
                },
                Malformed::BadOpt,
            ),
            (
                "OPT option longer than its RDATA",
                query_bytes(
                    b"\x00",
                    1,
                    Some(&[0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 4, 0, 10, 0, 9]),
                ),
                Malformed::BadOpt,
            ),
            (
                "OPT not owned by root",
                query_bytes(
                    b"\x00",
                    1,
                    Some(&[1, b'a', 0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0]),
                ),
                Malformed::BadOpt,
            ),
        ];
        for (what, packet, want) in cases {
            let err = decode(packet)
                .err()
                .unwrap_or_else(|| panic!("{what}: decoded"));
            assert_eq!(err.reason, *want, "{what}");
            assert_eq!(
                err.header.is_some(),
                *want != Malformed::ShortHeader,
                "{what}"
            );
        }
    }
}

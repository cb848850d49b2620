//! Writing responses into a reused buffer: header, the client's question,
//! the prebuilt sections, and OPT.

use super::answer::Answer;
use super::query::{Query, RequestHeader};
use super::{HEADER_LEN, PLAIN_UDP_SIZE, flags, rtype};

/// Size of the OPT record we add (root owner, no options).
const OPT_LEN: usize = 11;

/// The largest response a query may get over UDP: the client's EDNS size,
/// at least 512 and at most ours (RFC 6891 section 6.2.5).
pub fn udp_limit(query: &Query, our_udp_size: u16) -> usize {
    match query.edns {
        Some(edns) => (edns.udp_size.min(our_udp_size) as usize).max(PLAIN_UDP_SIZE),
        None => PLAIN_UDP_SIZE,
    }
}

/// How a response is to be written.
#[derive(Clone, Copy, Debug)]
pub struct ReplyOptions {
    /// Largest response allowed on this transport.
    pub max_len: usize,
    /// The UDP payload size we advertise in OPT.
    pub our_udp_size: u16,
    /// Whether RA is set (the client may recurse).
    pub recursion_available: bool,
}

/// A prebuilt answer and what one question adds to it.
pub struct Reply<'a> {
    pub answer: &'a Answer,
    /// Records inserted at the answer's splice point.
    pub extra: [&'a [u8]; 4],
    pub extra_parts: usize,
    pub extra_records: u16,
    /// A record made for this question (the CNAME of a DNAME
    /// substitution), inserted before `extra`.
    pub synthesized: Option<Box<[u8]>>,
    /// Replaces the answer's response code (YXDOMAIN for a DNAME
    /// substitution that makes too long a name).
    pub rcode: Option<u16>,
}

impl<'a> Reply<'a> {
    pub fn of(answer: &'a Answer) -> Self {
        Reply {
            answer,
            extra: [&[]; 4],
            extra_parts: 0,
            extra_records: 0,
            synthesized: None,
            rcode: None,
        }
    }

    /// Adds records to insert; the first four parts only.
    pub fn add(&mut self, bytes: &'a [u8], records: u16) {
        if let Some(slot) = self.extra.get_mut(self.extra_parts) {
            *slot = bytes;
            self.extra_parts += 1;
            self.extra_records += records;
        }
    }

    pub fn rcode(&self) -> u16 {
        self.rcode.unwrap_or(self.answer.rcode())
    }
}

/// Writes the response for `reply` into `out`. Returns whether it was
/// truncated (TC set).
pub fn write_reply(
    out: &mut Vec<u8>,
    query: &Query,
    reply: &Reply<'_>,
    opts: ReplyOptions,
) -> bool {
    let answer = reply.answer;
    let mut parts: [&[u8]; 5] = [&[]; 5];
    let mut n = 0;
    let mut records = reply.extra_records;
    if let Some(record) = &reply.synthesized {
        parts[0] = record;
        n = 1;
        records += 1;
    }
    for part in &reply.extra[..reply.extra_parts] {
        parts[n] = part;
        n += 1;
    }
    let extra = &parts[..n];
    begin(out, query);
    let room = opts.max_len.saturating_sub(out.len() + opt_len(query));
    let extra_len = extra.iter().map(|e| e.len()).sum();
    let fit = answer.fit_with(room, extra_len, records);
    let shift = query.key.wire_len().saturating_sub(answer.frame_len());
    answer.write_spliced(out, fit.len, shift, extra);
    let mut bits = 0;
    if answer.authoritative() {
        bits |= flags::AA;
    }
    if fit.truncated {
        bits |= flags::TC;
    }
    finish(out, query, reply.rcode(), bits, fit.counts, opts);
    fit.truncated
}

/// Writes a response with no records: header, question, OPT. For REFUSED,
/// NOTIMP, SERVFAIL and BADVERS.
pub fn write_status(out: &mut Vec<u8>, query: &Query, rcode: u16, opts: ReplyOptions) {
    begin(out, query);
    finish(out, query, rcode, 0, [0; 3], opts);
}

/// Writes an empty response with TC set, so the client asks again over
/// TCP: a response rate limit's slip. The rcode and AA are the answer's.
pub fn write_truncated(
    out: &mut Vec<u8>,
    query: &Query,
    rcode: u16,
    authoritative: bool,
    opts: ReplyOptions,
) {
    begin(out, query);
    let aa = if authoritative { flags::AA } else { 0 };
    finish(out, query, rcode, flags::TC | aa, [0; 3], opts);
}

/// Writes a response with no records that says why in an Extended DNS
/// Error (RFC 8914: INFO-CODE and EXTRA-TEXT), when the client sent OPT.
pub fn write_error(
    out: &mut Vec<u8>,
    query: &Query,
    rcode: u16,
    opts: ReplyOptions,
    (info_code, text): (u16, &str),
) {
    write_status(out, query, rcode, opts);
    let text = &text.as_bytes()[..text.len().min(200)];
    let parts: [&[u8]; 2] = [&info_code.to_be_bytes(), text];
    super::options::append(out, super::edns::EDE, &parts, super::MAX_MESSAGE_SIZE);
}

/// Starts a response: header placeholder and the client's question.
pub(crate) fn begin(out: &mut Vec<u8>, query: &Query) {
    out.clear();
    out.extend_from_slice(&[0; HEADER_LEN]);
    write_question(out, query);
}

/// Bytes the OPT record will take in the reply to `query`.
pub(crate) fn opt_len(query: &Query) -> usize {
    if query.edns.is_some() { OPT_LEN } else { 0 }
}

/// Ends a response begun with `begin`: appends OPT and fills in the
/// header. `bits` are AA and TC; `counts` are the answer, authority and
/// additional record counts, without OPT.
pub(crate) fn finish(
    out: &mut Vec<u8>,
    query: &Query,
    rcode: u16,
    bits: u16,
    counts: [u16; 3],
    opts: ReplyOptions,
) {
    write_opt(out, query, rcode, opts.our_udp_size);
    let counts = [
        1,
        counts[0],
        counts[1],
        counts[2] + (query.edns.is_some() as u16),
    ];
    write_header(
        out,
        query.header,
        (rcode & 0xF) | bits,
        opts.recursion_available,
        counts,
    );
}

/// Writes a bare header-only reply: FORMERR for a query that could not be
/// decoded, where the question cannot be trusted.
pub fn write_header_only(out: &mut Vec<u8>, header: RequestHeader, rcode: u16) {
    out.clear();
    out.extend_from_slice(&[0; HEADER_LEN]);
    write_header(out, header, rcode & 0xF, false, [0; 4]);
}

fn write_question(out: &mut Vec<u8>, query: &Query) {
    out.extend_from_slice(query.qname_wire());
    out.extend_from_slice(&query.qtype.to_be_bytes());
    out.extend_from_slice(&query.qclass.to_be_bytes());
}

fn write_opt(out: &mut Vec<u8>, query: &Query, rcode: u16, our_udp_size: u16) {
    let Some(edns) = query.edns else {
        return;
    };
    out.push(0);
    out.extend_from_slice(&rtype::OPT.to_be_bytes());
    out.extend_from_slice(&our_udp_size.to_be_bytes());
    // TTL: extended rcode, version 0, DO echoed (RFC 3225 section 3).
    out.push((rcode >> 4) as u8);
    out.push(0);
    out.extend_from_slice(&(if edns.dnssec_ok { 0x8000u16 } else { 0 }).to_be_bytes());
    out.extend_from_slice(&[0, 0]);
}

fn write_header(out: &mut [u8], request: RequestHeader, bits: u16, ra: bool, counts: [u16; 4]) {
    let mut flag_word = flags::QR | bits;
    flag_word |= request.flags & (flags::OPCODE_MASK | flags::RD | flags::CD);
    if ra {
        flag_word |= flags::RA;
    }
    out[0..2].copy_from_slice(&request.id.to_be_bytes());
    out[2..4].copy_from_slice(&flag_word.to_be_bytes());
    for (i, count) in counts.iter().enumerate() {
        out[4 + 2 * i..6 + 2 * i].copy_from_slice(&count.to_be_bytes());
    }
}

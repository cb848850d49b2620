//! EDNS options added to a response once it is written: the response ends
//! in our OPT record (`response::finish` writes it last), so an option is
//! appended to its RDATA.

use super::{MAX_MESSAGE_SIZE, edns, rtype};

/// Where the OPT record's RDLENGTH is, if the response ends in OPT.
fn opt_rdlength(message: &[u8]) -> Option<usize> {
    let mut last = None;
    super::walk::records(message, |record| last = Some(record.start))?;
    let opt = last?;
    let header = message.get(opt..opt + 3)?;
    (header == [0, (rtype::OPT >> 8) as u8, rtype::OPT as u8]).then_some(opt + 9)
}

/// Appends option `code` with the concatenation of `parts` as its value.
/// Returns false, changing nothing, when the response has no OPT record
/// (the client sent none) or would grow past `max_len`.
pub fn append(out: &mut Vec<u8>, code: u16, parts: &[&[u8]], max_len: usize) -> bool {
    let value_len: usize = parts.iter().map(|p| p.len()).sum();
    let Some(rdlen_at) = opt_rdlength(out) else {
        return false;
    };
    let rdlen = usize::from(u16::from_be_bytes([out[rdlen_at], out[rdlen_at + 1]]));
    let grown = rdlen + 4 + value_len;
    if grown > usize::from(u16::MAX) || out.len() + 4 + value_len > max_len.min(MAX_MESSAGE_SIZE) {
        return false;
    }
    out[rdlen_at..rdlen_at + 2].copy_from_slice(&(grown as u16).to_be_bytes());
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&(value_len as u16).to_be_bytes());
    for part in parts {
        out.extend_from_slice(part);
    }
    true
}

/// The block queries over TLS are padded to (RFC 8467 section 4.1).
pub const QUERY_BLOCK: usize = 128;

/// The block responses are padded to (RFC 8467 section 4.1, the
/// Block-Length Padding it recommends).
pub const RESPONSE_BLOCK: usize = 468;

/// Pads a response to a multiple of `block` octets with a Padding option
/// (RFC 7830), when it has an OPT record and the padding fits in
/// `max_len`.
pub fn pad(out: &mut Vec<u8>, block: usize, max_len: usize) -> bool {
    const ZEROS: [u8; RESPONSE_BLOCK] = [0; RESPONSE_BLOCK];
    let with_option = out.len() + 4;
    let padding = with_option.next_multiple_of(block) - with_option;
    let mut rest = padding;
    let mut parts: [&[u8]; 2] = [&[], &[]];
    for part in &mut parts {
        let take = rest.min(ZEROS.len());
        *part = &ZEROS[..take];
        rest -= take;
    }
    rest == 0 && append(out, edns::PADDING, &parts, max_len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::response::{ReplyOptions, write_status};

    fn status(opt: bool) -> Vec<u8> {
        let mut packet = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, opt as u8];
        packet.extend_from_slice(b"\x03www\x07example\x00\x00\x01\x00\x01");
        if opt {
            packet.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 4, 0, 12, 0, 0]);
        }
        let query = crate::wire::decode(&packet).unwrap();
        let mut out = Vec::new();
        let opts = ReplyOptions {
            max_len: 65535,
            our_udp_size: 1232,
            recursion_available: true,
        };
        write_status(&mut out, &query, 2, opts);
        out
    }

    #[test]
    fn options_go_into_the_opt_record_and_padding_fills_the_block() {
        let mut out = status(true);
        assert!(
            !append(&mut out, edns::NSID, &[b"ns1", b"-a"], 40),
            "past max_len"
        );
        assert!(append(&mut out, edns::NSID, &[b"ns1", b"-a"], 512));
        assert!(pad(&mut out, RESPONSE_BLOCK, MAX_MESSAGE_SIZE));
        assert_eq!(out.len(), RESPONSE_BLOCK);
        let message = hickory_proto::op::Message::from_vec(&out).unwrap();
        let edns = message.edns.unwrap();
        let codes: Vec<u16> = edns
            .options()
            .as_ref()
            .iter()
            .map(|(c, _)| u16::from(*c))
            .collect();
        assert_eq!(codes, [edns::NSID, edns::PADDING]);
    }

    #[test]
    fn nothing_is_added_without_an_opt_record() {
        let mut out = status(false);
        let before = out.clone();
        assert!(!append(&mut out, edns::NSID, &[b"ns1"], MAX_MESSAGE_SIZE));
        assert!(!pad(&mut out, RESPONSE_BLOCK, MAX_MESSAGE_SIZE));
        assert_eq!(out, before);
    }
}

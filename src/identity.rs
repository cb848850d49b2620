//! What the server says about itself, only when the operator configures
//! it (as NSD's and Unbound's hide-identity/hide-version): the NSID option
//! (RFC 5001), and the CHAOS-class TXT names version.bind,
//! version.server, id.server and hostname.bind (RFC 4892).

use crate::wire::response::{ReplyOptions, begin, finish};
use crate::wire::{Query, flags, rcode};

/// TXT in class CH.
const TXT: u16 = 16;
const CH: u16 = crate::wire::class::CH;

#[derive(Clone, Debug, Default)]
pub struct Identity {
    /// The NSID option's value.
    pub nsid: Option<Box<[u8]>>,
    /// Answered for id.server. and hostname.bind.
    pub identity: Option<String>,
    /// Answered for version.bind. and version.server.
    pub version: Option<String>,
}

impl Identity {
    /// Answers a CHAOS-class query: the configured text for the names
    /// above, REFUSED for anything else or when it is not configured.
    /// Returns the rcode.
    pub fn answer_chaos(&self, out: &mut Vec<u8>, query: &Query, opts: ReplyOptions) -> u16 {
        let text = match query.key.as_bytes() {
            b"\x07version\x04bind\x00" | b"\x07version\x06server\x00" => self.version.as_deref(),
            b"\x02id\x06server\x00" | b"\x08hostname\x04bind\x00" => self.identity.as_deref(),
            _ => None,
        };
        let (Some(text), TXT | crate::wire::rtype::ANY) = (text, query.qtype) else {
            begin(out, query);
            finish(out, query, rcode::REFUSED, 0, [0; 3], opts);
            return rcode::REFUSED;
        };
        begin(out, query);
        // The owner is the question name, at offset 12.
        out.extend_from_slice(&[0xc0, 0x0c]);
        out.extend_from_slice(&TXT.to_be_bytes());
        out.extend_from_slice(&CH.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        let rdata = character_strings(text.as_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
        finish(out, query, rcode::NOERROR, flags::AA, [1, 0, 0], opts);
        rcode::NOERROR
    }
}

/// TXT RDATA: the text in strings of up to 255 octets (at least one).
fn character_strings(text: &[u8]) -> Vec<u8> {
    let mut rdata = Vec::with_capacity(text.len() + text.len() / 255 + 1);
    let mut chunks = text.chunks(255).peekable();
    if chunks.peek().is_none() {
        rdata.push(0);
    }
    for chunk in chunks {
        rdata.push(chunk.len() as u8);
        rdata.extend_from_slice(chunk);
    }
    rdata
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_split_into_character_strings() {
        assert_eq!(character_strings(b""), [0]);
        let long = vec![b'a'; 300];
        let rdata = character_strings(&long);
        assert_eq!(rdata.len(), 302);
        assert_eq!((rdata[0], rdata[256]), (255, 45));
    }
}

//! The stage between decoding and sending: what each query gets.
//!
//! Order of decisions: a packet that does not decode gets FORMERR (or
//! nothing); then EDNS version, opcode, class and meta-types; then the most
//! specific zone that holds the name. Names in no zone are REFUSED (there is
//! no cache or resolver yet).

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::counters::{Counters, Transport};
use crate::wire::response::{
    ReplyOptions, udp_limit, write_answer, write_header_only, write_status,
};
use crate::wire::{MAX_MESSAGE_SIZE, class, decode, opcode, rcode, rtype};
use crate::zone::ZoneSet;

/// Answers queries from the loaded zones. Shared by every listener.
pub struct Responder {
    zones: Arc<ArcSwap<ZoneSet>>,
    counters: Arc<Counters>,
    our_udp_size: u16,
}

impl Responder {
    /// `our_udp_size` is the EDNS payload size we advertise and the most we
    /// send over UDP.
    pub fn new(zones: Arc<ArcSwap<ZoneSet>>, counters: Arc<Counters>, our_udp_size: u16) -> Self {
        Self {
            zones,
            counters,
            our_udp_size,
        }
    }

    /// Writes the response to `packet` into `out` (cleared first). Returns
    /// false when nothing should be sent back.
    pub fn respond(&self, packet: &[u8], transport: Transport, out: &mut Vec<u8>) -> bool {
        self.counters.query(transport);
        let query = match decode(packet) {
            Ok(query) => query,
            Err(error) => {
                self.counters.malformed(error.reason);
                let Some(header) = error.header.filter(|_| error.reason.answerable()) else {
                    return false;
                };
                write_header_only(out, header, rcode::FORMERR);
                self.counters.response(transport, rcode::FORMERR);
                return true;
            }
        };
        let opts = ReplyOptions {
            max_len: match transport {
                Transport::Udp => udp_limit(&query, self.our_udp_size),
                Transport::Tcp => MAX_MESSAGE_SIZE,
            },
            our_udp_size: self.our_udp_size,
            recursion_available: false,
        };
        let refusal = if query.edns.is_some_and(|e| e.version > 0) {
            // RFC 6891 section 6.1.3: we speak version 0 only.
            Some(rcode::BADVERS)
        } else if query.header.opcode() != opcode::QUERY {
            Some(rcode::NOTIMP)
        } else if query.qclass != class::IN {
            Some(rcode::REFUSED)
        } else {
            match query.qtype {
                // Zone transfers are not offered.
                rtype::AXFR | rtype::IXFR => Some(rcode::REFUSED),
                // Types that exist only inside a message (RFC 6895 section 3.1).
                rtype::OPT | rtype::TSIG | rtype::TKEY => Some(rcode::FORMERR),
                rtype::MAILA | rtype::MAILB => Some(rcode::NOTIMP),
                _ => None,
            }
        };
        if let Some(code) = refusal {
            write_status(out, &query, code, opts);
            self.counters.response(transport, code);
            return true;
        }

        let zones = self.zones.load();
        let answer = zones
            .find(&query.key)
            .and_then(|zone| zone.lookup(&query.key, query.qtype));
        let Some(answer) = answer else {
            write_status(out, &query, rcode::REFUSED, opts);
            self.counters.response(transport, rcode::REFUSED);
            return true;
        };
        if write_answer(out, &query, answer, opts) {
            self.counters.truncated();
        }
        self.counters.response(transport, answer.rcode());
        true
    }
}

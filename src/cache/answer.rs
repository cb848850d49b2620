//! Responses written from cached pieces: a CNAME chain, the RRset it ends
//! in or the negative entry, copied and given their remaining TTLs.

use std::sync::Arc;

use super::entry::{CacheEntry, EntryKind};
use crate::dnssec::Security;
use crate::wire::response::{ReplyOptions, begin, finish, opt_len, write_error};
use crate::wire::{HEADER_LEN, Query, flags, rcode};

/// Most entries one answer is made of: CNAMEs, then an RRset or negative
/// entry. Longer chains are not answered from the cache.
pub const MAX_PIECES: usize = 12;

/// TTL of stale records when they are served (RFC 8767 section 4).
pub const STALE_TTL: u32 = 30;

/// The cache entries that answer one question, in answer order.
#[derive(Clone, Debug)]
pub struct Chain {
    rcode: u16,
    pieces: [Option<Arc<CacheEntry>>; MAX_PIECES],
    len: usize,
    /// What validation made of a part that is not a piece: a denial
    /// without an SOA, passed on but not cached.
    uncached: Security,
}

impl Default for Chain {
    fn default() -> Self {
        Self::new()
    }
}

impl Chain {
    pub fn new() -> Self {
        Self {
            rcode: rcode::NOERROR,
            pieces: Default::default(),
            len: 0,
            uncached: Security::Secure,
        }
    }

    /// Appends an entry; false when the chain is full.
    pub fn push(&mut self, entry: Arc<CacheEntry>) -> bool {
        if self.len == MAX_PIECES {
            return false;
        }
        self.pieces[self.len] = Some(entry);
        self.len += 1;
        true
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn rcode(&self) -> u16 {
        self.rcode
    }

    pub fn set_rcode(&mut self, rcode: u16) {
        self.rcode = rcode;
    }

    pub fn entries(&self) -> impl Iterator<Item = &Arc<CacheEntry>> {
        self.pieces[..self.len].iter().flatten()
    }

    /// Whether validation has seen every piece (whatever it found).
    pub fn validated(&self) -> bool {
        self.entries()
            .all(|e| e.security() != Security::Indeterminate)
    }

    /// What validation made of the answer: the weakest of its pieces.
    pub fn security(&self) -> Security {
        self.entries()
            .fold(self.uncached, |s, e| s.and(e.security()))
    }

    /// Notes what validation made of a part of the answer kept in no
    /// piece.
    pub fn set_uncached_security(&mut self, security: Security) {
        self.uncached = security;
    }

    /// Writes the answer this chain makes, and returns its rcode and
    /// whether it was truncated. Bogus data is SERVFAIL with the reason
    /// as an Extended DNS Error, unless the client set CD (RFC 4035
    /// section 3.2.2): then it gets the data, without AD.
    pub fn answer(
        &self,
        out: &mut Vec<u8>,
        query: &Query,
        now_ms: u64,
        stale: bool,
        opts: ReplyOptions,
    ) -> (u16, bool) {
        let checking_disabled = query.header.flags & flags::CD != 0;
        if let Some(error) = self.security().extended_error()
            && !checking_disabled
        {
            write_error(out, query, rcode::SERVFAIL, opts, error);
            return (rcode::SERVFAIL, false);
        }
        (self.rcode, self.write(out, query, now_ms, stale, opts))
    }

    /// Writes the response into `out`: RRsets in the answer section, a
    /// negative entry's SOA in authority, each record with its remaining
    /// TTL (or `STALE_TTL`). Returns whether it was truncated.
    pub fn write(
        &self,
        out: &mut Vec<u8>,
        query: &Query,
        now_ms: u64,
        stale: bool,
        opts: ReplyOptions,
    ) -> bool {
        begin(out, query);
        let sections_start = out.len();
        let mut counts = [0u16; 3];
        // Each RRset's owner is the question name, or the target of the
        // CNAME before it, which sits uncompressed in that CNAME's RDATA.
        // A DNAME's owner is written out and leaves the current name be.
        let mut owner = HEADER_LEN as u16;
        let dnssec_ok = query.edns.is_some_and(|e| e.dnssec_ok);
        let ttl_of = |entry: &CacheEntry| match stale {
            true => STALE_TTL,
            false => entry.remaining(now_ms),
        };
        for entry in self.entries() {
            let base = out.len();
            let parts = entry.parts(dnssec_ok);
            out.extend_from_slice(parts.main);
            let ttl = ttl_of(entry);
            for (i, &at) in parts.main_ttls.iter().enumerate() {
                let at = base + at as usize;
                out[at..at + 4].copy_from_slice(&ttl.to_be_bytes());
                if i < parts.placeholders {
                    out[at - 6..at - 4].copy_from_slice(&(0xC000 | owner).to_be_bytes());
                }
            }
            let positive = entry.kind() == EntryKind::Rrset;
            counts[if positive { 0 } else { 1 }] += parts.main_ttls.len() as u16;
            if let Some((_, target_at)) = entry.cname() {
                let target_at = base + target_at as usize;
                if target_at >= 0x3FFF {
                    break;
                }
                owner = target_at as u16;
            }
        }
        // The proofs of wildcard answers, after every answer record: they
        // belong to the authority section (RFC 4035 section 3.1.3.3).
        if dnssec_ok {
            for entry in self.entries() {
                let parts = entry.parts(true);
                if parts.proof_ttls.is_empty() {
                    continue;
                }
                let base = out.len();
                out.extend_from_slice(parts.proof);
                let ttl = ttl_of(entry);
                for &at in parts.proof_ttls {
                    let at = base + usize::from(at - parts.proof_at);
                    out[at..at + 4].copy_from_slice(&ttl.to_be_bytes());
                }
                counts[1] += parts.proof_ttls.len() as u16;
            }
        }
        let truncated = out.len() + opt_len(query) > opts.max_len;
        if truncated {
            out.truncate(sections_start);
            counts = [0; 3];
        }
        let mut bits = if truncated { flags::TC } else { 0 };
        // RFC 6840 section 5.7: AD for secure data, to clients that show
        // they understand it with DO or AD.
        let asks_ad =
            query.header.flags & flags::AD != 0 || query.edns.is_some_and(|e| e.dnssec_ok);
        if !stale && asks_ad && self.security() == Security::Secure {
            bits |= flags::AD;
        }
        finish(out, query, self.rcode, bits, counts, opts);
        truncated
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{Name, RData, RecordType};

    use super::*;
    use crate::cache::{Origin, Rrset};
    use crate::dnssec::Failure;
    use crate::wire::decode;

    fn query(flag_bits: u16, dnssec_ok: Option<bool>) -> Query {
        let mut packet = vec![0, 7];
        packet.extend_from_slice(&(flags::RD | flag_bits).to_be_bytes());
        let additional = u8::from(dnssec_ok.is_some());
        packet.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, additional]);
        packet.extend_from_slice(b"\x03www\x04test\x00\x00\x01\x00\x01");
        if let Some(dnssec_ok) = dnssec_ok {
            let do_bit: u8 = if dnssec_ok { 0x80 } else { 0 };
            packet.extend_from_slice(&[0, 0, 41, 4, 0xD0, 0, 0, do_bit, 0, 0, 0]);
        }
        decode(&packet).unwrap()
    }

    fn chain(security: Security) -> Chain {
        let rrset = Rrset {
            name: Name::from_ascii("www.test.").unwrap(),
            rtype: RecordType::A,
            ttl: 300,
            rdatas: vec![RData::A(A::new(192, 0, 2, 1))],
        };
        let mut entry = CacheEntry::rrset(&rrset, 300, 0, Origin::Authority, None).unwrap();
        entry.set_security(security);
        let mut chain = Chain::new();
        chain.push(Arc::new(entry));
        chain
    }

    fn opts() -> ReplyOptions {
        ReplyOptions {
            max_len: 1232,
            our_udp_size: 1232,
            recursion_available: true,
        }
    }

    /// (rcode, AD, answer count, EDE info code) of a written response.
    fn written(chain: &Chain, query: &Query) -> (u16, bool, u16, Option<u16>) {
        let mut out = Vec::new();
        let (rcode, _) = chain.answer(&mut out, query, 0, false, opts());
        let message = hickory_proto::op::Message::from_vec(&out).unwrap();
        let ede = message.edns.as_ref().and_then(|e| {
            use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
            match e.option(EdnsCode::Unknown(15)) {
                Some(EdnsOption::Unknown(_, data)) => Some(u16::from_be_bytes([data[0], data[1]])),
                _ => None,
            }
        });
        (
            rcode,
            message.metadata.authentic_data,
            message.answers.len() as u16,
            ede,
        )
    }

    #[test]
    fn ad_goes_to_secure_answers_for_clients_that_set_do_or_ad() {
        let secure = chain(Security::Secure);
        assert_eq!(written(&secure, &query(0, Some(true))), (0, true, 1, None));
        assert_eq!(
            written(&secure, &query(flags::AD, None)),
            (0, true, 1, None)
        );
        assert_eq!(
            written(&secure, &query(0, Some(false))),
            (0, false, 1, None)
        );
        let insecure = chain(Security::Insecure);
        assert_eq!(
            written(&insecure, &query(0, Some(true))),
            (0, false, 1, None)
        );
        let unchecked = chain(Security::Indeterminate);
        assert_eq!(
            written(&unchecked, &query(flags::AD, None)),
            (0, false, 1, None)
        );
    }

    #[test]
    fn rrsigs_and_proofs_go_only_to_clients_that_set_do() {
        use crate::cache::ProofRecord;
        let rrset = Rrset {
            name: Name::from_ascii("www.test.").unwrap(),
            rtype: RecordType::A,
            ttl: 300,
            rdatas: vec![RData::A(A::new(192, 0, 2, 1))],
        };
        // An RRSIG (type covered A, algorithm 13, 1 label: a wildcard
        // expansion) and an NSEC proving no closer match.
        let mut rrsig = vec![0, 1, 13, 1, 0, 0, 1, 44, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 9];
        rrsig.extend(b"\x04test\x00");
        rrsig.extend([7; 64]);
        let nsec = ProofRecord {
            owner: b"\x01*\x04test\x00"[..].into(),
            rtype: crate::wire::rtype::NSEC,
            rdata: b"\x03zzz\x04test\x00\x00\x01\x40"[..].into(),
        };
        let entry = CacheEntry::rrset(&rrset, 300, 0, Origin::Authority, None)
            .unwrap()
            .with_dnssec(b"\x03www\x04test\x00", &[rrsig.into()], &[nsec])
            .unwrap();
        let mut chain = Chain::new();
        chain.push(Arc::new(entry));
        let sections = |query: &Query| {
            let mut out = Vec::new();
            chain.write(&mut out, query, 0, false, opts());
            let message = hickory_proto::op::Message::from_vec(&out).unwrap();
            let types = |records: &[hickory_proto::rr::Record]| {
                records
                    .iter()
                    .map(|r| (r.name.to_ascii(), r.record_type(), r.ttl))
                    .collect::<Vec<_>>()
            };
            (types(&message.answers), types(&message.authorities))
        };
        let www = || "www.test.".to_string();
        assert_eq!(
            sections(&query(0, Some(false))),
            (vec![(www(), RecordType::A, 300)], vec![])
        );
        assert_eq!(
            sections(&query(0, Some(true))),
            (
                vec![(www(), RecordType::A, 300), (www(), RecordType::RRSIG, 300)],
                vec![("*.test.".to_string(), RecordType::NSEC, 300)]
            )
        );
    }

    #[test]
    fn bogus_answers_are_servfail_with_the_reason_unless_checking_is_disabled() {
        let bogus = chain(Security::Bogus(Failure::SignatureExpired));
        assert_eq!(
            written(&bogus, &query(0, Some(true))),
            (rcode::SERVFAIL, false, 0, Some(7))
        );
        // Without EDNS there is nowhere to put the reason.
        assert_eq!(
            written(&bogus, &query(0, None)),
            (rcode::SERVFAIL, false, 0, None)
        );
        assert_eq!(
            written(&bogus, &query(flags::CD, Some(true))),
            (0, false, 1, None)
        );
        // A denial kept in no piece counts as much as a piece.
        let mut chain = chain(Security::Secure);
        chain.set_uncached_security(Security::Bogus(Failure::NsecMissing));
        assert_eq!(
            written(&chain, &query(0, Some(true))),
            (rcode::SERVFAIL, false, 0, Some(12))
        );
    }
}

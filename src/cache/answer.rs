//! Responses written from cached pieces: a CNAME chain, the RRset it ends
//! in or the negative entry, copied and given their remaining TTLs.

use std::sync::Arc;

use super::entry::{CacheEntry, EntryKind};
use crate::wire::response::{ReplyOptions, begin, finish, opt_len};
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
        for entry in self.entries() {
            let base = out.len();
            out.extend_from_slice(entry.wire());
            let ttl = if stale {
                STALE_TTL
            } else {
                entry.remaining(now_ms)
            };
            let positive = entry.kind() == EntryKind::Rrset;
            let pointer = !entry.owner_inline();
            for &at in entry.ttl_offsets() {
                let at = base + at as usize;
                out[at..at + 4].copy_from_slice(&ttl.to_be_bytes());
                if pointer {
                    out[at - 6..at - 4].copy_from_slice(&(0xC000 | owner).to_be_bytes());
                }
            }
            counts[if positive { 0 } else { 1 }] += entry.records();
            if let Some((_, target_at)) = entry.cname() {
                let target_at = base + target_at as usize;
                if target_at >= 0x3FFF {
                    break;
                }
                owner = target_at as u16;
            }
        }
        let truncated = out.len() + opt_len(query) > opts.max_len;
        if truncated {
            out.truncate(sections_start);
            counts = [0; 3];
        }
        let bits = if truncated { flags::TC } else { 0 };
        finish(out, query, self.rcode, bits, counts, opts);
        truncated
    }
}

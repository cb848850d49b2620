//! Finding the NSEC or NSEC3 records that prove a name or type absent
//! (RFC 4035 section 3.1.3, RFC 5155 section 7.2) in a pre-signed zone.
//!
//! The signer wrote the chain; the server only picks links from it. NSEC
//! owners are kept in canonical order (RFC 4034 section 6.1) and NSEC3
//! owners by their hash, so a covering link is a binary search. NSEC3
//! hashes of names the client made up are computed per query, as NSD does.

use std::cmp::Ordering;

pub(super) use crate::dnssec::canonical::canonical_cmp;
pub(super) use crate::dnssec::nsec3::{base32hex, nsec3_hash};

/// The zone's chain of denial: which node owns which link.
pub(super) enum Chain {
    /// The zone has no NSEC or NSEC3 records.
    None,
    /// NSEC owners in canonical order, with their node.
    Nsec(Vec<(Box<[u8]>, u32)>),
    Nsec3(Nsec3Chain),
}

pub(super) struct Nsec3Chain {
    pub salt: Box<[u8]>,
    pub iterations: u16,
    /// Owner hashes, sorted, with their node.
    pub hashes: Vec<(Box<[u8]>, u32)>,
}

impl Chain {
    /// The node whose NSEC or NSEC3 link proves nothing exists at `name`
    /// (lowercase wire form): the last owner before it, wrapping around.
    /// For NSEC3 `name` is hashed first. `None` when the name has a link
    /// of its own (it exists) or the zone has no chain.
    pub fn cover(&self, name: &[u8]) -> Option<u32> {
        match self {
            Chain::None => None,
            Chain::Nsec(owners) => {
                let after =
                    owners.partition_point(|(o, _)| canonical_cmp(o, name) != Ordering::Greater);
                if after > 0 && &*owners[after - 1].0 == name {
                    return None;
                }
                owners
                    .get(after.checked_sub(1).unwrap_or(owners.len().wrapping_sub(1)))
                    .map(|(_, node)| *node)
            }
            Chain::Nsec3(chain) => {
                let hash = chain.hash(name);
                let after = chain.hashes.partition_point(|(h, _)| **h <= hash[..]);
                if after > 0 && *chain.hashes[after - 1].0 == hash[..] {
                    return None;
                }
                chain
                    .hashes
                    .get(
                        after
                            .checked_sub(1)
                            .unwrap_or(chain.hashes.len().wrapping_sub(1)),
                    )
                    .map(|(_, node)| *node)
            }
        }
    }

    /// The node whose NSEC3 record matches `name` (RFC 5155 section 7.2.1).
    pub fn nsec3_match(&self, name: &[u8]) -> Option<u32> {
        let Chain::Nsec3(chain) = self else {
            return None;
        };
        let hash = chain.hash(name);
        chain
            .hashes
            .binary_search_by(|(h, _)| (**h).cmp(&hash[..]))
            .ok()
            .map(|i| chain.hashes[i].1)
    }
}

impl Nsec3Chain {
    fn hash(&self, name: &[u8]) -> [u8; 20] {
        nsec3_hash(name, &self.salt, self.iterations)
    }
}

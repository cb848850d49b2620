//! Finding the NSEC or NSEC3 records that prove a name or type absent
//! (RFC 4035 section 3.1.3, RFC 5155 section 7.2) in a pre-signed zone.
//!
//! The signer wrote the chain; the server only picks links from it. NSEC
//! owners are kept in canonical order (RFC 4034 section 6.1) and NSEC3
//! owners by their hash, so a covering link is a binary search. NSEC3
//! hashes of names the client made up are computed per query, as NSD does.

use std::cmp::Ordering;

pub(super) use crate::dnssec::canonical::canonical_cmp;

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

/// RFC 5155 section 5: SHA-1 of the lowercase wire name and the salt,
/// repeated `iterations` more times.
pub(super) fn nsec3_hash(name: &[u8], salt: &[u8], iterations: u16) -> [u8; 20] {
    use ring::digest::{Context, SHA1_FOR_LEGACY_USE_ONLY};
    let mut digest = [0u8; 20];
    let mut ctx = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(name);
    ctx.update(salt);
    digest.copy_from_slice(ctx.finish().as_ref());
    for _ in 0..iterations {
        let mut ctx = Context::new(&SHA1_FOR_LEGACY_USE_ONLY);
        ctx.update(&digest);
        ctx.update(salt);
        digest.copy_from_slice(ctx.finish().as_ref());
    }
    digest
}

/// Decodes base32hex without padding (RFC 4648 section 7), either case:
/// an NSEC3 owner's first label.
pub(super) fn base32hex(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut bits, mut acc) = (0u32, 0u64);
    for &c in text {
        let v = match c.to_ascii_uppercase() {
            b'0'..=b'9' => c - b'0',
            c @ b'A'..=b'V' => c - b'A' + 10,
            _ => return None,
        };
        acc = (acc << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lowercase wire form of a dotted name; `\DDD` is one octet.
    fn wire(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for label in s.trim_end_matches('.').split('.') {
            let bytes: Vec<u8> = match label.strip_prefix('\\') {
                Some(code) => vec![code.parse().unwrap()],
                None => label.to_ascii_lowercase().into_bytes(),
            };
            out.push(bytes.len() as u8);
            out.extend(bytes);
        }
        out.push(0);
        out
    }

    #[test]
    fn nsec3_hash_matches_rfc_5155_appendix_a() {
        // RFC 5155 appendix A: salt aabbccdd, 12 iterations.
        let salt = [0xaa, 0xbb, 0xcc, 0xdd];
        let cases = [
            ("example.", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"),
            ("a.example.", "35mthgpgcu1qg68fab165klnsnk3dpvl"),
            ("*.w.example.", "r53bq7cc2uvmubfu5ocmm6pers9tk9en"),
        ];
        for (name, hash) in cases {
            let expected = base32hex(hash.as_bytes()).unwrap();
            assert_eq!(
                nsec3_hash(&wire(name), &salt, 12).to_vec(),
                expected,
                "{name}"
            );
        }
    }
}

//! NSEC3 (RFC 5155): hashed owner names, and the proofs of section 8 that
//! a name or a type does not exist, from NSEC3 records whose signatures
//! were checked. Every hash is taken from the question's budget, and a
//! chain with more iterations than Unbound accepts (150) proves nothing:
//! the answer is insecure (RFC 9276 section 3.2).

use super::budget::{Budget, Exhausted};
use super::denial::{Denial, bitmap_has};
use super::verify::Failure;
use crate::wire::name::is_at_or_below;
use crate::wire::rtype::{CNAME, DNAME, DS, NS, SOA};

/// More iterations than this make a chain's proofs insecure.
pub const MAX_ITERATIONS: u16 = 150;

/// An NSEC3 record.
#[derive(Clone, Debug)]
pub struct Nsec3<'a> {
    /// The owner's first label, decoded: the hash it stands for.
    pub hash: Vec<u8>,
    /// The rest of the owner: the zone.
    pub zone: &'a [u8],
    pub algorithm: u8,
    pub flags: u8,
    pub iterations: u16,
    pub salt: &'a [u8],
    pub next: &'a [u8],
    bitmap: &'a [u8],
}

/// What NSEC3 records prove of a question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nsec3Proof {
    NxDomain,
    Denied(Denial),
    /// The chain cannot be judged (unknown hash algorithm, too many
    /// iterations), or an opt-out span leaves the name unsigned: the
    /// answer is insecure, not bogus.
    Insecure,
}

impl<'a> Nsec3<'a> {
    pub fn parse(owner: &'a [u8], rdata: &'a [u8]) -> Option<Self> {
        let label_len = usize::from(*owner.first()?);
        let hash = base32hex(owner.get(1..1 + label_len)?)?;
        let zone = owner.get(1 + label_len..)?;
        let (fixed, rest) = rdata.split_at_checked(5)?;
        let salt_len = usize::from(fixed[4]);
        let (salt, rest) = rest.split_at_checked(salt_len)?;
        let (&hash_len, rest) = rest.split_first()?;
        let (next, bitmap) = rest.split_at_checked(usize::from(hash_len))?;
        Some(Nsec3 {
            hash,
            zone,
            algorithm: fixed[0],
            flags: fixed[1],
            iterations: u16::from_be_bytes([fixed[2], fixed[3]]),
            salt,
            next,
            bitmap,
        })
    }

    pub fn opt_out(&self) -> bool {
        self.flags & 1 != 0
    }

    pub fn has_type(&self, rtype: u16) -> bool {
        bitmap_has(self.bitmap, rtype)
    }

    /// Whether `hash` falls strictly between this owner's hash and the
    /// next; the last link wraps around to the first.
    pub fn covers(&self, hash: &[u8]) -> bool {
        let (owner, next) = (self.hash.as_slice(), self.next);
        if owner < next {
            owner < hash && hash < next
        } else {
            owner < hash || hash < next
        }
    }

    fn same_chain(&self, other: &Nsec3<'_>) -> bool {
        self.algorithm == other.algorithm
            && self.iterations == other.iterations
            && self.salt == other.salt
            && self.zone.eq_ignore_ascii_case(other.zone)
    }
}

/// Hashes names for one chain, each hash paid for from the budget.
struct Hasher<'c, 'b> {
    chain: &'c Nsec3<'c>,
    budget: &'b mut Budget,
}

impl Hasher<'_, '_> {
    fn hash(&mut self, name: &[u8]) -> Result<[u8; 20], Exhausted> {
        self.budget.nsec3_hash(self.chain.iterations)?;
        Ok(nsec3_hash(
            &name.to_ascii_lowercase(),
            self.chain.salt,
            self.chain.iterations,
        ))
    }
}

/// The closest encloser proof (RFC 5155 section 8.3): the closest
/// ancestor of `qname` (itself included) whose hash an NSEC3 matches, and
/// the NSEC3 covering the next closer name. A match at a delegation or
/// DNAME cannot be the closest encloser.
#[allow(clippy::type_complexity)]
fn closest_encloser<'n, 'q>(
    qname: &'q [u8],
    links: &'n [Nsec3<'n>],
    hasher: &mut Hasher<'_, '_>,
) -> Result<Option<(&'q [u8], &'n Nsec3<'n>, &'n Nsec3<'n>)>, Exhausted> {
    let zone = hasher.chain.zone;
    // Ancestors from the name up to the zone apex.
    let mut starts = Vec::new();
    let mut at = 0;
    while let Some(rest) = qname.get(at..)
        && is_at_or_below(rest, zone)
    {
        starts.push(at);
        match rest.first() {
            Some(&len) if len > 0 && !rest.eq_ignore_ascii_case(zone) => at += 1 + usize::from(len),
            _ => break,
        }
    }
    for (i, &start) in starts.iter().enumerate() {
        let candidate = &qname[start..];
        let hash = hasher.hash(candidate)?;
        let Some(matching) = links.iter().find(|l| l.hash == hash) else {
            continue;
        };
        if (matching.has_type(NS) && !matching.has_type(SOA)) || matching.has_type(DNAME) {
            return Ok(None);
        }
        // The name itself matches: there is no next closer name.
        let Some(&closer) = i.checked_sub(1).and_then(|j| starts.get(j)) else {
            return Ok(None);
        };
        let next_closer = hasher.hash(&qname[closer..])?;
        return Ok(links
            .iter()
            .find(|l| l.covers(&next_closer))
            .map(|cover| (candidate, matching, cover)));
    }
    Ok(None)
}

/// The links of one chain: those sharing the first link's parameters.
fn chain_of<'n>(nsec3s: &[Nsec3<'n>]) -> Vec<Nsec3<'n>> {
    match nsec3s.first() {
        Some(first) => nsec3s
            .iter()
            .filter(|l| l.same_chain(first))
            .cloned()
            .collect(),
        None => Vec::new(),
    }
}

/// Runs `prove` over the chain of `nsec3s` (the links sharing the first
/// one's parameters) if it can be judged at all: SHA-1, and few enough
/// iterations. A chain that cannot be judged is insecure.
fn with_chain(
    nsec3s: &[Nsec3<'_>],
    budget: &mut Budget,
    prove: impl FnOnce(
        &[Nsec3<'_>],
        &mut Hasher<'_, '_>,
    ) -> Result<Result<Nsec3Proof, Failure>, Exhausted>,
) -> Result<Result<Nsec3Proof, Failure>, Exhausted> {
    let links = chain_of(nsec3s);
    let Some(first) = links.first() else {
        return Ok(Err(Failure::NsecMissing));
    };
    if first.algorithm != 1 || first.iterations > MAX_ITERATIONS {
        return Ok(Ok(Nsec3Proof::Insecure));
    }
    let mut hasher = Hasher {
        chain: first,
        budget,
    };
    prove(&links, &mut hasher)
}

/// Proves `qname` does not exist (RFC 5155 section 8.4): the closest
/// encloser proof, and the wildcard at the closest encloser covered.
pub fn prove_nxdomain(
    qname: &[u8],
    nsec3s: &[Nsec3<'_>],
    budget: &mut Budget,
) -> Result<Result<Nsec3Proof, Failure>, Exhausted> {
    with_chain(nsec3s, budget, |links, hasher| {
        nxdomain(qname, links, hasher)
    })
}

fn nxdomain(
    qname: &[u8],
    links: &[Nsec3<'_>],
    hasher: &mut Hasher<'_, '_>,
) -> Result<Result<Nsec3Proof, Failure>, Exhausted> {
    let Some((ce, _, cover)) = closest_encloser(qname, links, hasher)? else {
        return Ok(Err(Failure::NsecMissing));
    };
    if ce.len() == qname.len() {
        return Ok(Err(Failure::NsecMissing));
    }
    let wildcard = hasher.hash(&[b"\x01*", ce].concat())?;
    if !links.iter().any(|l| l.covers(&wildcard)) {
        return Ok(Err(Failure::NsecMissing));
    }
    // An opt-out span may hide an unsigned delegation the name is under.
    Ok(Ok(if cover.opt_out() {
        Nsec3Proof::Insecure
    } else {
        Nsec3Proof::NxDomain
    }))
}

/// Proves `qname` has no `qtype` RRset (RFC 5155 sections 8.5 to 8.7):
/// the NSEC3 matching the name without the type (or CNAME); for DS, an
/// opt-out span covering the next closer name; or the wildcard at the
/// closest encloser matched without the type.
pub fn prove_nodata(
    qname: &[u8],
    qtype: u16,
    nsec3s: &[Nsec3<'_>],
    budget: &mut Budget,
) -> Result<Result<Nsec3Proof, Failure>, Exhausted> {
    with_chain(nsec3s, budget, |links, hasher| {
        nodata(qname, qtype, links, hasher)
    })
}

fn nodata(
    qname: &[u8],
    qtype: u16,
    links: &[Nsec3<'_>],
    hasher: &mut Hasher<'_, '_>,
) -> Result<Result<Nsec3Proof, Failure>, Exhausted> {
    let hash = hasher.hash(qname)?;
    if let Some(matching) = links.iter().find(|l| l.hash == hash) {
        if matching.has_type(qtype) || matching.has_type(CNAME) {
            return Ok(Err(Failure::NsecMissing));
        }
        let delegation = matching.has_type(NS) && !matching.has_type(SOA);
        return Ok(match (delegation, qtype) {
            (true, DS) => Ok(Nsec3Proof::Denied(Denial::InsecureDelegation)),
            // The parent's NSEC3 at a cut says nothing of the child's data.
            (true, _) => Err(Failure::NsecMissing),
            (false, _) => Ok(Nsec3Proof::Denied(Denial::NoData)),
        });
    }
    let Some((ce, _, cover)) = closest_encloser(qname, links, hasher)? else {
        return Ok(Err(Failure::NsecMissing));
    };
    // RFC 5155 sections 8.6 and 9.2: no DS below an opt-out span, which
    // proves the delegation unsigned but not the answer secure.
    if qtype == DS && cover.opt_out() {
        return Ok(Ok(Nsec3Proof::Insecure));
    }
    let wildcard = hasher.hash(&[b"\x01*", ce].concat())?;
    Ok(match links.iter().find(|l| l.hash == wildcard) {
        Some(w) if !w.has_type(qtype) && !w.has_type(CNAME) => {
            Ok(Nsec3Proof::Denied(Denial::NoData))
        }
        _ => Err(Failure::NsecMissing),
    })
}

/// Proves that an answer synthesised from the wildcard whose closest
/// encloser is `encloser` had no closer match (RFC 5155 section 8.8): an
/// NSEC3 covers the next closer name.
pub fn prove_wildcard_answer(
    qname: &[u8],
    encloser: &[u8],
    nsec3s: &[Nsec3<'_>],
    budget: &mut Budget,
) -> Result<Result<Nsec3Proof, Failure>, Exhausted> {
    with_chain(nsec3s, budget, |links, hasher| {
        // The next closer name: the encloser and one label more.
        let mut at = 0;
        let closer = loop {
            let Some(rest) = qname.get(at..) else {
                return Ok(Err(Failure::NsecMissing));
            };
            let next = match rest.first() {
                Some(&len) if len > 0 => at + 1 + usize::from(len),
                _ => return Ok(Err(Failure::NsecMissing)),
            };
            if qname
                .get(next..)
                .is_some_and(|up| up.eq_ignore_ascii_case(encloser))
            {
                break rest;
            }
            at = next;
        };
        let hash = hasher.hash(closer)?;
        Ok(match links.iter().any(|l| l.covers(&hash)) {
            true => Ok(Nsec3Proof::NxDomain),
            false => Err(Failure::NsecMissing),
        })
    })
}

/// RFC 5155 section 5: SHA-1 of the lowercase wire name and the salt,
/// repeated `iterations` more times.
pub fn nsec3_hash(name: &[u8], salt: &[u8], iterations: u16) -> [u8; 20] {
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
pub fn base32hex(text: &[u8]) -> Option<Vec<u8>> {
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

    /// Lowercase wire form of a dotted name.
    fn wire(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for label in s.trim_end_matches('.').split('.') {
            out.push(label.len() as u8);
            out.extend(label.to_ascii_lowercase().into_bytes());
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

    #[test]
    fn names_cut_short_prove_nothing_and_do_not_panic() {
        let owner = [
            &b"\x200p9mhaveqvm6t7vbl5lop2u3t2rp3tom"[..],
            &wire("example."),
        ]
        .concat();
        let mut rdata = vec![1, 0, 0, 0, 0, 20];
        rdata.extend([0xFF; 20]);
        let link = Nsec3::parse(&owner, &rdata).unwrap();
        for qname in [&b"\x05ab\x07example\x00"[..], b"\x3Fa", b""] {
            let mut budget = Budget::default();
            let links = [link.clone()];
            assert!(matches!(
                prove_nxdomain(qname, &links, &mut budget),
                Ok(Err(_))
            ));
            assert!(matches!(
                prove_nodata(qname, 1, &links, &mut budget),
                Ok(Err(_))
            ));
        }
    }

    #[test]
    fn chains_past_150_iterations_or_of_unknown_hashes_prove_nothing_and_cost_nothing() {
        let owner = [
            &b"\x200p9mhaveqvm6t7vbl5lop2u3t2rp3tom"[..],
            &wire("example."),
        ]
        .concat();
        for (algorithm, iterations) in [(1u8, 151u16), (2, 0)] {
            let mut rdata = vec![algorithm, 0];
            rdata.extend(iterations.to_be_bytes());
            rdata.extend([0, 20]);
            rdata.extend([0xFF; 20]);
            let link = Nsec3::parse(&owner, &rdata).unwrap();
            let mut budget = Budget::default();
            let before = budget.clone();
            let verdict = prove_nxdomain(&wire("a.example."), &[link], &mut budget);
            assert_eq!(verdict, Ok(Ok(Nsec3Proof::Insecure)));
            assert_eq!(format!("{budget:?}"), format!("{before:?}"));
        }
    }
}

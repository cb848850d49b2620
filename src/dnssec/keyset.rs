//! Chains of trust, one link at a time (RFC 4035 section 5): a zone's
//! DNSKEY RRset proven by its DS RRset or a trust anchor, then the zone's
//! RRsets proven by those keys. Each signature check is taken from the
//! question's [`Budget`], and only a bounded number of RRSIGs and of keys
//! sharing a tag are tried.

use super::budget::{Budget, Exhausted, KEYS_PER_TAG, RRSIGS_PER_RRSET};
use super::records::{DigestCheck, Dnskey, Ds, Rrsig};
use super::verify::{Failure, is_supported, verify_rrset};
use crate::wire::rtype::DNSKEY;

/// The keys that sign a zone, once its DNSKEY RRset is proven.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneKeys {
    /// The zone, wire form, lowercase.
    pub zone: Vec<u8>,
    /// DNSKEY RDATA: zone keys, not revoked, of supported algorithms.
    pub keys: Vec<Vec<u8>>,
}

/// A proven RRset: how long it may be kept as proven (RFC 4035 section
/// 5.3.3: no longer than the RRSIG's original TTL, nor past its
/// expiration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Secure {
    pub ttl: u32,
}

/// What a zone's DNSKEY RRset turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyVerdict {
    Secure(ZoneKeys, Secure),
    /// Nothing vouches for the zone with an algorithm and digest type this
    /// validator implements: the zone is insecure, not bogus (RFC 4035
    /// section 5.2, RFC 6840 section 5.2).
    Insecure,
    Bogus(Failure),
}

/// Proves the DNSKEY RRset (`dnskeys`, with its `rrsigs`) of `zone` with
/// the DS RDATA `ds` of its parent, or with anchor DNSKEYs
/// `anchor_keys` (RDATA) configured for it.
#[allow(clippy::too_many_arguments)]
pub fn prove_keys(
    zone: &[u8],
    dnskeys: &[&[u8]],
    rrsigs: &[&[u8]],
    ds: &[&[u8]],
    anchor_keys: &[&[u8]],
    now: u32,
    budget: &mut Budget,
    scratch: &mut Vec<u8>,
) -> Result<KeyVerdict, Exhausted> {
    let usable_ds: Vec<Ds<'_>> = ds
        .iter()
        .filter_map(|d| Ds::parse(d))
        .filter(|d| matches!(d.digest_type, 1 | 2 | 4) && is_supported(d.algorithm))
        .collect();
    let usable_anchors: Vec<&[u8]> = anchor_keys
        .iter()
        .copied()
        .filter(|k| Dnskey::parse(k).is_some_and(|k| is_supported(k.algorithm)))
        .collect();
    if usable_ds.is_empty() && usable_anchors.is_empty() {
        return Ok(KeyVerdict::Insecure);
    }
    // The keys the parent (or the anchor) vouches for.
    let mut entry_keys: Vec<&[u8]> = Vec::new();
    for ds in &usable_ds {
        let candidates = dnskeys
            .iter()
            .copied()
            .filter(|k| {
                Dnskey::parse(k)
                    .is_some_and(|k| k.key_tag() == ds.key_tag && k.algorithm == ds.algorithm)
            })
            .take(KEYS_PER_TAG);
        for key in candidates {
            if Dnskey::parse(key).is_some_and(|k| ds.matches(zone, &k) == DigestCheck::Match)
                && !entry_keys.contains(&key)
            {
                entry_keys.push(key);
            }
        }
    }
    for key in &usable_anchors {
        if dnskeys.contains(key) && !entry_keys.contains(key) {
            entry_keys.push(key);
        }
    }
    if entry_keys.is_empty() {
        return Ok(KeyVerdict::Bogus(Failure::DnskeyMissing));
    }
    let keys = ZoneKeys {
        zone: zone.to_ascii_lowercase(),
        keys: entry_keys.iter().map(|k| k.to_vec()).collect(),
    };
    // The DNSKEY RRset must be signed by a key the parent vouches for.
    Ok(
        match prove_rrset(&keys, zone, DNSKEY, dnskeys, rrsigs, now, budget, scratch)? {
            Ok(secure) => {
                let signing = ZoneKeys {
                    zone: keys.zone,
                    keys: dnskeys
                        .iter()
                        .filter(|k| {
                            Dnskey::parse(k).is_some_and(|k| {
                                k.is_zone_key() && !k.is_revoked() && is_supported(k.algorithm)
                            })
                        })
                        .map(|k| k.to_vec())
                        .collect(),
                };
                KeyVerdict::Secure(signing, secure)
            }
            Err(failure) => KeyVerdict::Bogus(failure),
        },
    )
}

/// Proves the RRset of `rtype` at `owner` (`rdatas`, with its `rrsigs`)
/// with the zone's keys. The outer error is the budget running out; the
/// inner one why the RRset is bogus.
#[allow(clippy::too_many_arguments)]
pub fn prove_rrset(
    keys: &ZoneKeys,
    owner: &[u8],
    rtype: u16,
    rdatas: &[&[u8]],
    rrsigs: &[&[u8]],
    now: u32,
    budget: &mut Budget,
    scratch: &mut Vec<u8>,
) -> Result<Result<Secure, Failure>, Exhausted> {
    let mut last = Failure::RrsigsMissing;
    let mut tried = 0;
    for rrsig in rrsigs {
        let Some(fields) = Rrsig::parse(rrsig) else {
            last = Failure::Malformed;
            continue;
        };
        if fields.type_covered != rtype || !fields.signer.eq_ignore_ascii_case(&keys.zone) {
            continue;
        }
        let mut matching = keys
            .keys
            .iter()
            .filter(|k| {
                Dnskey::parse(k).is_some_and(|k| {
                    k.key_tag() == fields.key_tag && k.algorithm == fields.algorithm
                })
            })
            .take(KEYS_PER_TAG)
            .peekable();
        if matching.peek().is_none() {
            if last == Failure::RrsigsMissing {
                last = if is_supported(fields.algorithm) {
                    Failure::DnskeyMissing
                } else {
                    Failure::UnsupportedAlgorithm
                };
            }
            continue;
        }
        if tried == RRSIGS_PER_RRSET {
            break;
        }
        tried += 1;
        for key in matching {
            budget.signature()?;
            match verify_rrset(rrsig, owner, rtype, rdatas, &keys.zone, key, now, scratch) {
                Ok(()) => {
                    let left = fields.expiration.wrapping_sub(now);
                    let ttl = fields
                        .original_ttl
                        .min(if left < 1 << 31 { left } else { 0 });
                    return Ok(Ok(Secure { ttl }));
                }
                Err(failure) => last = failure,
            }
        }
    }
    Ok(Err(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ECDSA P-256 DNSKEY (flags 256) with a 64-octet key of `fill`,
    /// then with two key octets swapped so its tag stays the same.
    fn colliding_keys(count: usize) -> Vec<Vec<u8>> {
        (0..count)
            .map(|i| {
                let mut key = vec![1, 0, 3, 13];
                key.extend((0..64u8).map(|b| b.wrapping_mul(7)));
                // Swapping two octets that both sit at even offsets keeps
                // the key tag's sum.
                key.swap(4, 6 + 2 * i);
                key
            })
            .collect()
    }

    fn rrsig_for(key: &[u8], n: u8) -> Vec<u8> {
        let tag = crate::dnssec::key_tag(key);
        let mut rrsig = vec![0, 1, 13, 1, 0, 0, 0, 60, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0];
        rrsig.extend(tag.to_be_bytes());
        rrsig.extend(b"\x04test\x00");
        rrsig.extend([n; 64]);
        rrsig
    }

    #[test]
    fn colliding_key_tags_and_piles_of_rrsigs_cost_a_bounded_number_of_checks() {
        let keys = colliding_keys(20);
        let tag = crate::dnssec::key_tag(&keys[0]);
        assert!(keys.iter().all(|k| crate::dnssec::key_tag(k) == tag));
        let zone = ZoneKeys {
            zone: b"\x04test\x00".to_vec(),
            keys: keys.clone(),
        };
        let rrsigs: Vec<Vec<u8>> = (0..50).map(|n| rrsig_for(&keys[0], n)).collect();
        let rrsigs: Vec<&[u8]> = rrsigs.iter().map(Vec::as_slice).collect();
        let mut budget = Budget::default();
        let mut scratch = Vec::new();
        let verdict = prove_rrset(
            &zone,
            b"\x01a\x04test\x00",
            1,
            &[&[192, 0, 2, 1]],
            &rrsigs,
            1000,
            &mut budget,
            &mut scratch,
        );
        assert!(matches!(verdict, Ok(Err(_))), "{verdict:?}");
        let spent = crate::dnssec::budget::SIGNATURES_PER_QUESTION - budget.signatures_left();
        assert_eq!(spent as usize, RRSIGS_PER_RRSET * KEYS_PER_TAG);
    }

    #[test]
    fn an_rrset_without_rrsigs_or_with_unknown_keys_is_bogus_and_costs_nothing() {
        let zone = ZoneKeys {
            zone: b"\x04test\x00".to_vec(),
            keys: colliding_keys(1),
        };
        let mut budget = Budget::default();
        let mut scratch = Vec::new();
        let prove = |rrsigs: &[&[u8]], budget: &mut Budget, scratch: &mut Vec<u8>| {
            prove_rrset(
                &zone,
                b"\x04test\x00",
                1,
                &[&[1, 2, 3, 4]],
                rrsigs,
                1000,
                budget,
                scratch,
            )
        };
        assert_eq!(
            prove(&[], &mut budget, &mut scratch),
            Ok(Err(Failure::RrsigsMissing))
        );
        let mut other = rrsig_for(&zone.keys[0], 1);
        other[16] ^= 0xFF;
        assert_eq!(
            prove(&[&other], &mut budget, &mut scratch),
            Ok(Err(Failure::DnskeyMissing))
        );
        assert_eq!(
            budget.signatures_left(),
            crate::dnssec::budget::SIGNATURES_PER_QUESTION
        );
    }

    #[test]
    fn a_zone_vouched_for_only_with_unsupported_digests_is_insecure() {
        let keys = colliding_keys(1);
        let key_refs: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        let mut gost = crate::dnssec::key_tag(&keys[0]).to_be_bytes().to_vec();
        gost.extend([13, 3]);
        gost.extend([0; 32]);
        let mut budget = Budget::default();
        let mut scratch = Vec::new();
        let verdict = prove_keys(
            b"\x04test\x00",
            &key_refs,
            &[],
            &[&gost],
            &[],
            1000,
            &mut budget,
            &mut scratch,
        );
        assert_eq!(verdict, Ok(KeyVerdict::Insecure));
        let mut sha256 = gost.clone();
        sha256[3] = 2;
        let verdict = prove_keys(
            b"\x04test\x00",
            &key_refs,
            &[],
            &[&sha256],
            &[],
            1000,
            &mut budget,
            &mut scratch,
        );
        assert_eq!(verdict, Ok(KeyVerdict::Bogus(Failure::DnskeyMissing)));
    }
}

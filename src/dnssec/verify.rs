//! One RRSIG checked with one DNSKEY (RFC 4035 section 5.3).

use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};

use super::canonical::{self, Mismatch};
use super::records::{Dnskey, Rrsig};
use crate::wire::name::is_at_or_below;
use crate::wire::rtype::DNSKEY;

/// Why an RRSIG does not validate an RRset; each maps to an Extended DNS
/// Error (RFC 8914) when it decides an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Not an RRSIG's RDATA, or not a DNSKEY's.
    Malformed,
    /// An algorithm this validator does not implement (RFC 6840 section
    /// 5.2: a zone signed only so is insecure, not bogus).
    UnsupportedAlgorithm,
    /// The RRSIG is not for this RRset or this key: covered type, signer,
    /// algorithm, key tag or label count disagree.
    NotForThis,
    /// The key lacks the zone key flag (RFC 4035 section 5.3.1).
    NoZoneKeyBit,
    /// Revoked by its owner (RFC 5011).
    Revoked,
    /// The public key cannot be used (bad encoding, or RSA shorter than
    /// 1024 bits).
    BadKey,
    SignatureExpired,
    SignatureNotYetValid,
    /// The signature does not match the data.
    BadSignature,
    /// No key of the zone's DNSKEY set matches the DS RRset (or the trust
    /// anchor), or none matches an RRSIG.
    DnskeyMissing,
    /// The RRset comes without the RRSIGs a secure zone must give it.
    RrsigsMissing,
    /// A negative answer without the NSEC records that prove it.
    NsecMissing,
}

/// The algorithms checked here (RFC 8624 section 3.1: MUST for validation).
pub fn is_supported(algorithm: u8) -> bool {
    matches!(algorithm, 8 | 10 | 13 | 14 | 15)
}

/// Clock skew allowed around a signature's validity period: a tenth of
/// the period, between an hour and a day, as Unbound allows
/// (`val-sig-skew-min`, `val-sig-skew-max`).
const SKEW_MIN: u32 = 3600;
const SKEW_MAX: u32 = 86400;

/// Checks that `rrsig_rdata` is a valid signature by the DNSKEY
/// (`key_owner`, `key_rdata`) over the RRset of `rtype` at `owner` with
/// `rdatas`, at time `now` (seconds since the epoch, taken modulo 2^32 as
/// RFC 4034 section 3.1.5 does). `scratch` holds the signed data.
#[allow(clippy::too_many_arguments)]
pub fn verify_rrset(
    rrsig_rdata: &[u8],
    owner: &[u8],
    rtype: u16,
    rdatas: &[&[u8]],
    key_owner: &[u8],
    key_rdata: &[u8],
    now: u32,
    scratch: &mut Vec<u8>,
) -> Result<(), Failure> {
    let rrsig = Rrsig::parse(rrsig_rdata).ok_or(Failure::Malformed)?;
    let key = Dnskey::parse(key_rdata).ok_or(Failure::Malformed)?;
    if rrsig.type_covered != rtype
        || rrsig.algorithm != key.algorithm
        || rrsig.key_tag != key.key_tag()
        || !rrsig.signer.eq_ignore_ascii_case(key_owner)
        || !is_at_or_below(owner, rrsig.signer)
    {
        return Err(Failure::NotForThis);
    }
    if key.protocol != 3 {
        return Err(Failure::Malformed);
    }
    if !key.is_zone_key() {
        return Err(Failure::NoZoneKeyBit);
    }
    if key.is_revoked() && rtype != DNSKEY {
        return Err(Failure::Revoked);
    }
    if !is_supported(key.algorithm) {
        return Err(Failure::UnsupportedAlgorithm);
    }
    check_window(&rrsig, now)?;
    scratch.clear();
    canonical::signed_data(&rrsig, owner, rtype, IN, rdatas, scratch).map_err(|e| match e {
        Mismatch::Labels => Failure::NotForThis,
        Mismatch::Owner => Failure::Malformed,
    })?;
    verify_signature(key.algorithm, key.public_key, scratch, rrsig.signature)
}

const IN: u16 = 1;

/// RFC 4034 section 3.1.5: the signature is valid from inception to
/// expiration, both compared in serial number arithmetic (RFC 1982).
fn check_window(rrsig: &Rrsig<'_>, now: u32) -> Result<(), Failure> {
    let (inception, expiration) = (rrsig.inception, rrsig.expiration);
    // `a` is after `b`, modulo 2^32.
    let after = |a: u32, b: u32| a != b && a.wrapping_sub(b) < 1 << 31;
    if after(inception, expiration) {
        return Err(Failure::SignatureExpired);
    }
    let skew = (expiration.wrapping_sub(inception) / 10).clamp(SKEW_MIN, SKEW_MAX);
    if after(inception, now) && inception.wrapping_sub(now) > skew {
        return Err(Failure::SignatureNotYetValid);
    }
    if after(now, expiration) && now.wrapping_sub(expiration) > skew {
        return Err(Failure::SignatureExpired);
    }
    Ok(())
}

/// Checks `signature` over `data` with a DNSKEY's public key field.
pub fn verify_signature(
    algorithm: u8,
    public_key: &[u8],
    data: &[u8],
    signature: &[u8],
) -> Result<(), Failure> {
    let bad = |_| Failure::BadSignature;
    match algorithm {
        8 | 10 => {
            let (e, n) = rsa_parts(public_key).ok_or(Failure::BadKey)?;
            // RFC 8624 section 3.1 keeps RSA keys of 1024 bits valid for
            // validation; ring calls those legacy, and refuses fewer.
            if n.len() < 128 {
                return Err(Failure::BadKey);
            }
            let params = if algorithm == 8 {
                &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
            } else {
                &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY
            };
            RsaPublicKeyComponents { n, e }
                .verify(params, data, signature)
                .map_err(bad)
        }
        13 | 14 => {
            let (size, params) = if algorithm == 13 {
                (64, &signature::ECDSA_P256_SHA256_FIXED)
            } else {
                (96, &signature::ECDSA_P384_SHA384_FIXED)
            };
            if public_key.len() != size {
                return Err(Failure::BadKey);
            }
            // RFC 6605 section 4: the point without SEC 1's 0x04 prefix.
            let mut point = Vec::with_capacity(1 + size);
            point.push(4);
            point.extend_from_slice(public_key);
            UnparsedPublicKey::new(params, point)
                .verify(data, signature)
                .map_err(bad)
        }
        15 => {
            if public_key.len() != 32 {
                return Err(Failure::BadKey);
            }
            UnparsedPublicKey::new(&signature::ED25519, public_key)
                .verify(data, signature)
                .map_err(bad)
        }
        _ => Err(Failure::UnsupportedAlgorithm),
    }
}

/// RFC 3110 section 2: exponent length (one octet, or zero and two), the
/// exponent, the modulus; each without leading zeros, as ring wants them.
fn rsa_parts(key: &[u8]) -> Option<(&[u8], &[u8])> {
    let (e_len, rest) = match key.split_first()? {
        (0, rest) => {
            let (len, rest) = rest.split_at_checked(2)?;
            (usize::from(u16::from_be_bytes([len[0], len[1]])), rest)
        }
        (&len, rest) => (usize::from(len), rest),
    };
    let (e, n) = rest.split_at_checked(e_len)?;
    let (e, n) = (without_leading_zeros(e), without_leading_zeros(n));
    (!e.is_empty() && !n.is_empty()).then_some((e, n))
}

fn without_leading_zeros(bytes: &[u8]) -> &[u8] {
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    &bytes[zeros..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair};

    fn rrsig(algorithm: u8, labels: u8, window: (u32, u32), tag: u16, signer: &[u8]) -> Vec<u8> {
        let mut rdata = vec![0, 1, algorithm, labels, 0, 0, 0x0E, 0x10];
        rdata.extend(window.1.to_be_bytes());
        rdata.extend(window.0.to_be_bytes());
        rdata.extend(tag.to_be_bytes());
        rdata.extend_from_slice(signer);
        rdata
    }

    /// Signs the A RRset of `www.example.test.` with a fresh key made by
    /// ring, and checks it, then checks it with each thing changed.
    fn sign_and_check(algorithm: u8, public: &[u8], sign: &dyn Fn(&[u8]) -> Vec<u8>) {
        let mut key = vec![0x01, 0x00, 3, algorithm];
        key.extend_from_slice(public);
        let tag = super::super::key_tag(&key);
        let signer = b"\x07example\x04test\x00";
        let owner = b"\x03WWW\x07example\x04test\x00";
        let records: [&[u8]; 2] = [&[192, 0, 2, 2], &[192, 0, 2, 1]];
        let now = 1_800_000_000u32;
        let mut fields = rrsig(algorithm, 3, (now - 86400, now + 86400), tag, signer);
        let mut data = Vec::new();
        // The fields with a placeholder signature, to make the signed data.
        let unsigned = [&fields[..], &[0]].concat();
        let parsed = Rrsig::parse(&unsigned).unwrap();
        canonical::signed_data(&parsed, owner, 1, 1, &records, &mut data).unwrap();
        fields.extend(sign(&data));
        let mut scratch = Vec::new();
        let check = |sig: &[u8], records: &[&[u8]], key: &[u8], now: u32, scratch: &mut Vec<u8>| {
            verify_rrset(sig, owner, 1, records, signer, key, now, scratch)
        };
        assert_eq!(check(&fields, &records, &key, now, &mut scratch), Ok(()));
        let reversed: [&[u8]; 2] = [records[1], records[0]];
        assert_eq!(
            check(&fields, &reversed, &key, now, &mut scratch),
            Ok(()),
            "any order"
        );
        let changed: [&[u8]; 2] = [&[192, 0, 2, 3], records[1]];
        assert_eq!(
            check(&fields, &changed, &key, now, &mut scratch),
            Err(Failure::BadSignature)
        );
        assert_eq!(
            check(&fields, &records, &key, now + 86400 * 3, &mut scratch),
            Err(Failure::SignatureExpired)
        );
        assert_eq!(
            check(&fields, &records, &key, now - 86400 * 3, &mut scratch),
            Err(Failure::SignatureNotYetValid)
        );
        let mut no_zone_bit = key.clone();
        no_zone_bit[0] = 0;
        assert_eq!(
            check(&fields, &records, &no_zone_bit, now, &mut scratch),
            Err(Failure::NotForThis),
            "the key tag covers the flags"
        );
    }

    #[test]
    fn ecdsa_p256_p384_and_ed25519_signatures_check() {
        let rng = SystemRandom::new();
        for (algorithm, alg) in [
            (13, &signature::ECDSA_P256_SHA256_FIXED_SIGNING),
            (14, &signature::ECDSA_P384_SHA384_FIXED_SIGNING),
        ] {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
            let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
            let public = &pair.public_key().as_ref()[1..];
            sign_and_check(algorithm, public, &|data| {
                pair.sign(&rng, data).unwrap().as_ref().to_vec()
            });
        }
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        sign_and_check(15, pair.public_key().as_ref(), &|data| {
            pair.sign(data).as_ref().to_vec()
        });
    }

    #[test]
    fn rsa_keys_split_into_exponent_and_modulus() {
        let mut key = vec![3, 1, 0, 1];
        key.extend([0u8, 0xC1, 0xC2]);
        assert_eq!(rsa_parts(&key), Some((&[1, 0, 1][..], &[0xC1, 0xC2][..])));
        let mut long = vec![0, 0, 3, 1, 0, 1];
        long.extend([0xC1]);
        assert_eq!(rsa_parts(&long), Some((&[1, 0, 1][..], &[0xC1][..])));
        assert_eq!(rsa_parts(&[5, 1, 0]), None);
        assert_eq!(
            verify_signature(8, &key, b"data", &[0; 128]),
            Err(Failure::BadKey),
            "a 16-bit modulus"
        );
        assert_eq!(
            verify_signature(5, &key, b"data", &[0; 128]),
            Err(Failure::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn the_validity_window_allows_some_skew_and_wraps() {
        let sig = |inception: u32, expiration: u32| Rrsig {
            type_covered: 1,
            algorithm: 13,
            labels: 1,
            original_ttl: 60,
            expiration,
            inception,
            key_tag: 0,
            signer: b"\x00",
            signature: b"\x00",
            signed_fields: &[],
        };
        let week = 7 * 86400;
        assert_eq!(check_window(&sig(1000, 1000 + week), 2000), Ok(()));
        // A tenth of a week (60,480 s) of skew either side.
        assert_eq!(check_window(&sig(100_000, 100_000 + week), 50_000), Ok(()));
        assert_eq!(
            check_window(&sig(100_000, 100_000 + week), 30_000),
            Err(Failure::SignatureNotYetValid)
        );
        assert_eq!(
            check_window(&sig(100_000, 100_000 + week), 100_000 + week + 70_000),
            Err(Failure::SignatureExpired)
        );
        // Serial arithmetic: a window across 2^32 (the year 2106).
        assert_eq!(check_window(&sig(u32::MAX - 10, 20), 5), Ok(()));
        assert_eq!(
            check_window(&sig(2000, 1000), 1500),
            Err(Failure::SignatureExpired),
            "inception after expiration"
        );
    }
}

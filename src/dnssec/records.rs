//! The DNSSEC record types a validator reads (RFC 4034 sections 2, 3
//! and 5), parsed from their wire RDATA without copying.

use ring::digest;

use crate::wire::name::name_len;

/// DNSKEY flags (RFC 4034 section 2.1.1, RFC 5011 section 3).
const ZONE_KEY: u16 = 0x0100;
const REVOKED: u16 = 0x0080;
const SECURE_ENTRY_POINT: u16 = 0x0001;

/// The fields of an RRSIG (RFC 4034 section 3.1).
#[derive(Clone, Copy, Debug)]
pub struct Rrsig<'a> {
    pub type_covered: u16,
    pub algorithm: u8,
    /// Labels of the owner name, not counting the root or a leading `*`.
    pub labels: u8,
    pub original_ttl: u32,
    pub expiration: u32,
    pub inception: u32,
    pub key_tag: u16,
    /// The signer's name, wire form as received.
    pub signer: &'a [u8],
    pub signature: &'a [u8],
    /// The RDATA up to the signature: what the signed data starts with.
    pub signed_fields: &'a [u8],
}

impl<'a> Rrsig<'a> {
    /// `None` if the RDATA is too short, the signer is not a whole
    /// uncompressed name, or there is no signature.
    pub fn parse(rdata: &'a [u8]) -> Option<Self> {
        let fixed = rdata.get(..18)?;
        let signer_len = name_len(&rdata[18..])?;
        let (signed_fields, signature) = rdata.split_at(18 + signer_len);
        if signature.is_empty() {
            return None;
        }
        let u16_at = |at: usize| u16::from_be_bytes([fixed[at], fixed[at + 1]]);
        let u32_at = |at: usize| {
            u32::from_be_bytes([fixed[at], fixed[at + 1], fixed[at + 2], fixed[at + 3]])
        };
        Some(Rrsig {
            type_covered: u16_at(0),
            algorithm: fixed[2],
            labels: fixed[3],
            original_ttl: u32_at(4),
            expiration: u32_at(8),
            inception: u32_at(12),
            key_tag: u16_at(16),
            signer: &signed_fields[18..],
            signature,
            signed_fields,
        })
    }
}

/// Whether RRSIGs (RDATA) over an RRset at `owner` (wire form) show it
/// synthesised from a wildcard: signed with fewer labels than the owner
/// has (RFC 4035 section 5.3.4).
pub fn expands_wildcard(owner: &[u8], rrsigs: &[Box<[u8]>]) -> bool {
    expanded_from(owner, rrsigs).is_some()
}

/// The wildcard an RRset at `owner` was synthesised from, as its RRSIGs
/// show (`*` and the owner's last `labels` labels), if it was.
pub fn expanded_from(owner: &[u8], rrsigs: &[Box<[u8]>]) -> Option<Vec<u8>> {
    let own = super::canonical::signature_labels(owner)?;
    let labels = rrsigs
        .iter()
        .filter_map(|r| Rrsig::parse(r))
        .map(|r| r.labels)
        .min()
        .filter(|&labels| labels < own)?;
    let mut encloser = owner;
    for _ in labels..own {
        let len = usize::from(*encloser.first()?);
        encloser = encloser.get(1 + len..)?;
    }
    Some([b"\x01*", encloser].concat())
}

/// The fields of a DNSKEY (RFC 4034 section 2.1).
#[derive(Clone, Copy, Debug)]
pub struct Dnskey<'a> {
    pub flags: u16,
    pub protocol: u8,
    pub algorithm: u8,
    pub public_key: &'a [u8],
    /// The whole RDATA, which the key tag and DS digests are taken over.
    pub rdata: &'a [u8],
}

impl<'a> Dnskey<'a> {
    /// `None` if the RDATA has no room for a key.
    pub fn parse(rdata: &'a [u8]) -> Option<Self> {
        let (fixed, public_key) = rdata.split_at_checked(4)?;
        if public_key.is_empty() {
            return None;
        }
        Some(Dnskey {
            flags: u16::from_be_bytes([fixed[0], fixed[1]]),
            protocol: fixed[2],
            algorithm: fixed[3],
            public_key,
            rdata,
        })
    }

    /// Only zone keys may sign zone data (RFC 4035 section 5.3.1).
    pub fn is_zone_key(&self) -> bool {
        self.flags & ZONE_KEY != 0
    }

    /// Revoked by its owner (RFC 5011 section 2.1): it signs nothing more.
    pub fn is_revoked(&self) -> bool {
        self.flags & REVOKED != 0
    }

    pub fn is_secure_entry_point(&self) -> bool {
        self.flags & SECURE_ENTRY_POINT != 0
    }

    pub fn key_tag(&self) -> u16 {
        key_tag(self.rdata)
    }
}

/// The key tag of a DNSKEY's RDATA (RFC 4034 appendix B), for every
/// algorithm but the retired RSA/MD5 (1), whose tag is figured otherwise
/// and which no validator accepts now.
pub fn key_tag(rdata: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for (i, &byte) in rdata.iter().enumerate() {
        sum += if i % 2 == 0 {
            u32::from(byte) << 8
        } else {
            u32::from(byte)
        };
    }
    sum += (sum >> 16) & 0xFFFF;
    (sum & 0xFFFF) as u16
}

/// The fields of a DS (RFC 4034 section 5.1).
#[derive(Clone, Copy, Debug)]
pub struct Ds<'a> {
    pub key_tag: u16,
    pub algorithm: u8,
    pub digest_type: u8,
    pub digest: &'a [u8],
}

/// Whether a DS stands for a DNSKEY.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestCheck {
    Match,
    Mismatch,
    /// A digest type this validator cannot compute (RFC 6840 section 5.2:
    /// such a DS is as if absent).
    Unsupported,
}

impl<'a> Ds<'a> {
    pub fn parse(rdata: &'a [u8]) -> Option<Self> {
        let (fixed, digest) = rdata.split_at_checked(4)?;
        Some(Ds {
            key_tag: u16::from_be_bytes([fixed[0], fixed[1]]),
            algorithm: fixed[2],
            digest_type: fixed[3],
            digest,
        })
    }

    /// Whether this DS is the digest of `key`, owned by `owner` (RFC 4034
    /// section 5.1.4: the digest covers the owner in canonical form, then
    /// the DNSKEY RDATA). Digest types: SHA-1 (1), SHA-256 (2), SHA-384 (4).
    pub fn matches(&self, owner: &[u8], key: &Dnskey<'_>) -> DigestCheck {
        let algorithm = match self.digest_type {
            1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            2 => &digest::SHA256,
            4 => &digest::SHA384,
            _ => return DigestCheck::Unsupported,
        };
        if self.key_tag != key.key_tag() || self.algorithm != key.algorithm {
            return DigestCheck::Mismatch;
        }
        let mut context = digest::Context::new(algorithm);
        context.update(&owner.to_ascii_lowercase());
        context.update(key.rdata);
        if context.finish().as_ref() == self.digest {
            DigestCheck::Match
        } else {
            DigestCheck::Mismatch
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The root zone's KSK-2017, and its DS as IANA publishes it.
    const ROOT_KSK_2017: &str = "AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU=";

    fn root_ksk() -> Vec<u8> {
        let mut rdata = vec![0x01, 0x01, 3, 8];
        rdata.extend(
            data_encoding::BASE64
                .decode(ROOT_KSK_2017.as_bytes())
                .unwrap(),
        );
        rdata
    }

    #[test]
    fn the_root_ksk_has_the_tag_and_digest_iana_publishes() {
        let rdata = root_ksk();
        let key = Dnskey::parse(&rdata).unwrap();
        assert_eq!(key.key_tag(), 20326);
        assert!(key.is_zone_key() && key.is_secure_entry_point() && !key.is_revoked());
        let digest = data_encoding::HEXUPPER
            .decode(b"E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D")
            .unwrap();
        let mut ds = vec![0x4F, 0x66, 8, 2];
        ds.extend(&digest);
        let ds = Ds::parse(&ds).unwrap();
        assert_eq!(ds.matches(b"\x00", &key), DigestCheck::Match);
        let mut other = digest.clone();
        other[0] ^= 1;
        let mut wrong = vec![0x4F, 0x66, 8, 2];
        wrong.extend(&other);
        assert_eq!(
            Ds::parse(&wrong).unwrap().matches(b"\x00", &key),
            DigestCheck::Mismatch
        );
        let gost = [0x4F, 0x66, 8, 3, 0, 0];
        assert_eq!(
            Ds::parse(&gost).unwrap().matches(b"\x00", &key),
            DigestCheck::Unsupported
        );
    }

    #[test]
    fn short_records_do_not_parse() {
        assert!(Rrsig::parse(&[0; 17]).is_none());
        // Fixed fields, the root as signer, and no signature.
        assert!(Rrsig::parse(&[0; 19]).is_none());
        let sig = Rrsig::parse(&[
            0, 1, 13, 2, 0, 0, 0, 60, 0, 0, 0, 2, 0, 0, 0, 1, 0x12, 0x34, 0, 0xAA,
        ])
        .unwrap();
        assert_eq!((sig.type_covered, sig.algorithm, sig.labels), (1, 13, 2));
        assert_eq!((sig.original_ttl, sig.key_tag), (60, 0x1234));
        assert_eq!((sig.signer, sig.signature), (&b"\x00"[..], &b"\xAA"[..]));
        assert!(Dnskey::parse(&[1, 1, 3, 8]).is_none());
        assert!(Ds::parse(&[0, 1, 8]).is_none());
    }
}

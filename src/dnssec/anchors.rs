//! Trust anchors: where chains of trust start (RFC 4035 section 4.3).

use std::path::Path;

use hickory_proto::rr::Name;

use crate::zone::read_master_file_into;

/// The root zone's key-signing keys as IANA publishes them
/// (https://data.iana.org/root-anchors/root-anchors.xml): KSK-2017 and
/// KSK-2024, which signs the root's DNSKEY set from 11 October 2026.
const ROOT_DS: [(u16, &str); 2] = [
    (
        20326,
        "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
    ),
    (
        38696,
        "683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",
    ),
];

/// The keys one zone's DNSKEY set must be vouched for by: DS RDATA (a
/// key whose digest is among them) or DNSKEY RDATA (that very key).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustAnchor {
    /// The zone, wire form, lowercase.
    pub zone: Vec<u8>,
    pub ds: Vec<Vec<u8>>,
    pub dnskeys: Vec<Vec<u8>>,
}

impl TrustAnchor {
    /// The built-in anchor: the root's KSKs by their SHA-256 DS.
    pub fn root() -> Self {
        let ds = ROOT_DS
            .iter()
            .map(|(tag, digest)| {
                let mut rdata = tag.to_be_bytes().to_vec();
                rdata.extend([8, 2]);
                // The digests above are constant hexadecimal.
                rdata.extend(
                    data_encoding::HEXUPPER
                        .decode(digest.as_bytes())
                        .unwrap_or_default(),
                );
                rdata
            })
            .collect();
        TrustAnchor {
            zone: vec![0],
            ds,
            dnskeys: Vec::new(),
        }
    }

    /// Anchors from a file of DS or DNSKEY records in zone-file format
    /// (as Unbound's `trust-anchor-file` takes them). All must belong to
    /// one zone; other record types are an error naming the line.
    pub fn from_file(path: &Path) -> Result<TrustAnchor, String> {
        let mut anchor = TrustAnchor::default();
        let mut wrong: Option<String> = None;
        read_master_file_into(path, &Name::root(), None, &mut |record, location, _| {
            let owner = record.owner.to_ascii_lowercase();
            if anchor.ds.is_empty() && anchor.dnskeys.is_empty() {
                anchor.zone = owner.clone();
            } else if owner != anchor.zone {
                return Err(format!(
                    "a trust anchor file holds one zone's anchors: {} is not {}",
                    crate::wire::name::wire_to_text(&owner),
                    crate::wire::name::wire_to_text(&anchor.zone)
                ));
            }
            match record.rtype {
                43 => anchor.ds.push(record.rdata.to_vec()),
                48 => anchor.dnskeys.push(record.rdata.to_vec()),
                other => {
                    wrong.get_or_insert_with(|| {
                        format!(
                            "{location}: type {other} is no trust anchor: DS or DNSKEY records only"
                        )
                    });
                }
            }
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        if let Some(wrong) = wrong {
            return Err(wrong);
        }
        if anchor.ds.is_empty() && anchor.dnskeys.is_empty() {
            return Err(format!("{}: no DS or DNSKEY records", path.display()));
        }
        Ok(anchor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dnssec::Ds;

    #[test]
    fn the_built_in_anchor_is_the_root_ksks() {
        let root = TrustAnchor::root();
        assert_eq!(root.zone, b"\x00");
        let tags: Vec<u16> = root
            .ds
            .iter()
            .map(|d| Ds::parse(d).unwrap().key_tag)
            .collect();
        assert_eq!(tags, [20326, 38696]);
        assert!(root.ds.iter().all(|d| d.len() == 4 + 32));
    }

    #[test]
    fn anchor_files_take_ds_or_dnskey_of_one_zone() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good");
        std::fs::write(
            &good,
            "example.test. 3600 IN DS 12345 13 2 AABBCCDDEEFF00112233445566778899AABBCCDDEEFF00112233445566778899\n\
             example.test. 3600 IN DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==\n",
        )
        .unwrap();
        let anchor = TrustAnchor::from_file(&good).unwrap();
        assert_eq!(anchor.zone, b"\x07example\x04test\x00");
        assert_eq!((anchor.ds.len(), anchor.dnskeys.len()), (1, 1));

        let mixed = dir.path().join("mixed");
        std::fs::write(
            &mixed,
            "a.test. 60 IN DS 1 13 2 00\nb.test. 60 IN DS 1 13 2 00\n",
        )
        .unwrap();
        assert!(
            TrustAnchor::from_file(&mixed)
                .unwrap_err()
                .contains("one zone")
        );

        let other = dir.path().join("other");
        std::fs::write(&other, "a.test. 60 IN A 192.0.2.1\n").unwrap();
        let error = TrustAnchor::from_file(&other).unwrap_err();
        assert!(
            error.contains(":1:") && error.contains("DS or DNSKEY"),
            "{error}"
        );
    }
}

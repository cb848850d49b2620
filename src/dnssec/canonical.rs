//! What an RRSIG signs (RFC 4034 section 3.1.8.1): the RRSIG's RDATA
//! before the signature, then every record of the RRset in canonical form
//! (section 6.2) and canonical order (section 6.3); and the canonical
//! order of names (section 6.1), which NSEC chains follow.

use std::cmp::Ordering;

use super::records::Rrsig;
use crate::wire::name::{MAX_LABELS, name_len};

/// Why a signature cannot cover an RRset, whatever the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// The RRSIG claims more labels than the owner has.
    Labels,
    /// The owner is not a well-formed name.
    Owner,
}

/// Labels of a wire name, not counting the root, nor a leading `*`
/// (RFC 4034 section 3.1.3).
pub fn signature_labels(name: &[u8]) -> Option<u8> {
    let mut labels = 0u8;
    let mut at = 0;
    loop {
        let len = usize::from(*name.get(at)?);
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        labels = labels.checked_add(1)?;
        at += 1 + len;
    }
    if name.starts_with(b"\x01*") {
        labels -= 1;
    }
    Some(labels)
}

/// Appends to `out` the data `rrsig` signs over the RRset of `rtype` at
/// `owner` with these RDATAs. An owner with more labels than the RRSIG
/// says was made from a wildcard, and is signed as `*` and the labels the
/// RRSIG counts (RFC 4035 section 5.3.2).
pub fn signed_data(
    rrsig: &Rrsig<'_>,
    owner: &[u8],
    rtype: u16,
    class: u16,
    rdatas: &[&[u8]],
    out: &mut Vec<u8>,
) -> Result<(), Mismatch> {
    let owner_labels = signature_labels(owner).ok_or(Mismatch::Owner)?;
    if rrsig.labels > owner_labels {
        return Err(Mismatch::Labels);
    }
    let mut signed_owner = Vec::with_capacity(owner.len() + 2);
    if rrsig.labels < owner_labels {
        signed_owner.extend_from_slice(b"\x01*");
        signed_owner.extend_from_slice(suffix_labels(owner, rrsig.labels).ok_or(Mismatch::Owner)?);
    } else {
        signed_owner.extend_from_slice(owner);
    }
    signed_owner.make_ascii_lowercase();

    out.extend_from_slice(&rrsig.signed_fields[..18]);
    out.extend(rrsig.signer.iter().map(u8::to_ascii_lowercase));
    let mut records: Vec<Vec<u8>> = rdatas.iter().map(|r| canonical_rdata(rtype, r)).collect();
    records.sort();
    records.dedup();
    for rdata in &records {
        out.extend_from_slice(&signed_owner);
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&class.to_be_bytes());
        out.extend_from_slice(&rrsig.original_ttl.to_be_bytes());
        // A message cannot hold RDATA past 65535 octets.
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(rdata);
    }
    Ok(())
}

/// The rightmost `labels` labels of a wire name (and the root).
fn suffix_labels(name: &[u8], labels: u8) -> Option<&[u8]> {
    let total = signature_labels(name)? + u8::from(name.starts_with(b"\x01*"));
    let mut at = 0;
    for _ in 0..total.checked_sub(labels)? {
        at += 1 + usize::from(*name.get(at)?);
    }
    name.get(at..)
}

/// RDATA in canonical form (RFC 4034 section 6.2, as RFC 6840 section 5.1
/// and the signers deployed read it): names in the RDATA of the RFC 1035
/// era types, and of RRSIG, SRV, NAPTR, KX, DNAME, lowercased; NSEC's next
/// name and every other type's data as they are.
pub fn canonical_rdata(rtype: u16, rdata: &[u8]) -> Vec<u8> {
    let mut out = rdata.to_vec();
    // Where the names start, and how many follow one another.
    let (mut at, names) = match rtype {
        // NS, MD, MF, CNAME, MB, MG, MR, PTR, NXT, DNAME
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 30 | 39 => (0, 1),
        // SOA, MINFO, RP
        6 | 14 | 17 => (0, 2),
        // MX, AFSDB, RT, KX
        15 | 18 | 21 | 36 => (2, 1),
        // PX
        26 => (2, 2),
        // SRV
        33 => (6, 1),
        // SIG, RRSIG: the signer
        24 | 46 => (18, 1),
        // NAPTR: order, preference, three strings, then the replacement.
        35 => {
            let mut at = 4;
            for _ in 0..3 {
                match out.get(at) {
                    Some(&len) => at += 1 + usize::from(len),
                    None => return out,
                }
            }
            (at, 1)
        }
        _ => return out,
    };
    for _ in 0..names {
        let Some(len) = out.get(at..).and_then(name_len) else {
            break;
        };
        out[at..at + len].make_ascii_lowercase();
        at += len;
    }
    out
}

/// Start offsets of each label of a wire name, the root excluded.
fn label_starts(name: &[u8], starts: &mut [u8; MAX_LABELS]) -> usize {
    let (mut at, mut n) = (0usize, 0usize);
    while let Some(&len) = name.get(at) {
        if len == 0 || n == MAX_LABELS {
            break;
        }
        starts[n] = at as u8;
        n += 1;
        at += 1 + len as usize;
    }
    n
}

/// RFC 4034 section 6.1: names compared label by label from the root,
/// each label as lowercase octets, a shorter label first when it is a
/// prefix. Both names are lowercase wire form.
pub fn canonical_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut sa, mut sb) = ([0u8; MAX_LABELS], [0u8; MAX_LABELS]);
    let (na, nb) = (label_starts(a, &mut sa), label_starts(b, &mut sb));
    fn label(name: &[u8], at: u8) -> &[u8] {
        let at = at as usize;
        let len = name[at] as usize;
        &name[at + 1..(at + 1 + len).min(name.len())]
    }
    for i in 1..=na.min(nb) {
        let order = label(a, sa[na - i]).cmp(label(b, sb[nb - i]));
        if order != Ordering::Equal {
            return order;
        }
    }
    na.cmp(&nb)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lowercase wire form of a dotted name; `\\DDD` is one octet.
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
    fn canonical_order_is_rfc_4034s_example() {
        // RFC 4034 section 6.1, in order.
        let names = [
            "example.",
            "a.example.",
            "yljkjljk.a.example.",
            "z.a.example.",
            "zabc.a.example.",
            "z.example.",
            "\\001.z.example.",
            "*.z.example.",
            "\\200.z.example.",
        ];
        for pair in names.windows(2) {
            assert_eq!(
                canonical_cmp(&wire(pair[0]), &wire(pair[1])),
                Ordering::Less,
                "{} < {}",
                pair[0],
                pair[1]
            );
        }
    }

    #[test]
    fn labels_leave_out_the_root_and_a_wildcard() {
        assert_eq!(signature_labels(b"\x00"), Some(0));
        assert_eq!(signature_labels(b"\x03www\x07example\x00"), Some(2));
        assert_eq!(signature_labels(b"\x01*\x07example\x00"), Some(1));
        assert_eq!(signature_labels(b"\x03www\x07exa"), None);
    }

    #[test]
    fn names_in_rdata_are_lowercased_only_where_rfc_4034_says() {
        assert_eq!(
            canonical_rdata(2, b"\x02NS\x04Test\x00"),
            b"\x02ns\x04test\x00"
        );
        assert_eq!(
            canonical_rdata(15, b"\x00\x0A\x04Mail\x00"),
            b"\x00\x0A\x04mail\x00",
            "the preference is left alone"
        );
        // "A" as a preference of 0x41 must not be folded.
        assert_eq!(
            canonical_rdata(15, b"\x00\x41\x01M\x00"),
            b"\x00\x41\x01m\x00"
        );
        assert_eq!(
            canonical_rdata(47, b"\x04Next\x00\x00\x01\x40"),
            b"\x04Next\x00\x00\x01\x40"
        );
        assert_eq!(canonical_rdata(16, b"\x03ABC"), b"\x03ABC");
        let naptr = b"\x00\x01\x00\x02\x01U\x07E2U+sip\x00\x04Host\x00";
        assert_eq!(
            canonical_rdata(35, naptr),
            b"\x00\x01\x00\x02\x01U\x07E2U+sip\x00\x04host\x00"
        );
    }

    #[test]
    fn a_wildcard_expansion_is_signed_as_the_wildcard() {
        let rdata: Vec<u8> = [
            &[0, 1, 13, 2, 0, 0, 0, 60, 0, 0, 0, 2, 0, 0, 0, 1, 0, 7][..],
            b"\x07Example\x04test\x00",
            b"\xAA",
        ]
        .concat();
        let sig = Rrsig::parse(&rdata).unwrap();
        let mut out = Vec::new();
        let owner = b"\x01A\x01B\x07example\x04test\x00";
        signed_data(&sig, owner, 1, 1, &[b"\x01\x02\x03\x04"], &mut out).unwrap();
        let signer_end = 18 + 14;
        assert_eq!(&out[18..signer_end], b"\x07example\x04test\x00");
        assert_eq!(
            &out[signer_end..signer_end + 16],
            b"\x01*\x07example\x04test\x00"
        );
        let mut out = Vec::new();
        assert_eq!(
            signed_data(&sig, b"\x04test\x00", 1, 1, &[], &mut out),
            Err(Mismatch::Labels)
        );
    }

    #[test]
    fn records_are_sorted_and_duplicates_signed_once() {
        let rdata: Vec<u8> = [
            &[0, 2, 13, 1, 0, 0, 0, 60, 0, 0, 0, 2, 0, 0, 0, 1, 0, 7][..],
            b"\x00",
            b"\xAA",
        ]
        .concat();
        let sig = Rrsig::parse(&rdata).unwrap();
        let mut out = Vec::new();
        let b: &[u8] = b"\x01b\x00";
        let a_upper: &[u8] = b"\x01A\x00";
        let a: &[u8] = b"\x01a\x00";
        signed_data(&sig, b"\x04test\x00", 2, 1, &[b, a_upper, a], &mut out).unwrap();
        let records = &out[19..];
        // owner (6) type class ttl (8) length (2) rdata (3): 19 octets each.
        assert_eq!(records.len(), 2 * 19);
        assert_eq!(&records[16..19], b"\x01a\x00");
        assert_eq!(&records[19 + 16..], b"\x01b\x00");
    }
}

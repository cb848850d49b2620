//! Proofs that a name or a type does not exist, from NSEC records whose
//! signatures were checked (RFC 4035 section 5.4, RFC 6840 sections 4.1
//! and 4.3). NSEC3 proofs are in `nsec3`.

use std::cmp::Ordering;

use super::canonical::canonical_cmp;
use super::verify::Failure;
use crate::wire::name::{is_at_or_below, name_len};
use crate::wire::rtype::{CNAME, DNAME, DS, NS, SOA};

/// An NSEC record: its owner, the next owner in the zone, and the types
/// at its owner.
#[derive(Clone, Copy, Debug)]
pub struct Nsec<'a> {
    pub owner: &'a [u8],
    pub next: &'a [u8],
    bitmap: &'a [u8],
}

/// What a negative answer proved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    NoData,
    /// A delegation without DS (RFC 4035 section 5.2): the child zone is
    /// insecure.
    InsecureDelegation,
}

impl<'a> Nsec<'a> {
    pub fn parse(owner: &'a [u8], rdata: &'a [u8]) -> Option<Self> {
        let next_len = name_len(rdata)?;
        Some(Nsec {
            owner,
            next: &rdata[..next_len],
            bitmap: &rdata[next_len..],
        })
    }

    pub fn has_type(&self, rtype: u16) -> bool {
        bitmap_has(self.bitmap, rtype)
    }

    fn matches(&self, name: &[u8]) -> bool {
        self.owner.eq_ignore_ascii_case(name)
    }

    /// Whether `name` falls strictly between the owner and the next name;
    /// the last NSEC of a zone, whose next name is the apex, covers every
    /// name after its owner.
    pub fn covers(&self, name: &[u8]) -> bool {
        let (owner, next, name) = (
            self.owner.to_ascii_lowercase(),
            self.next.to_ascii_lowercase(),
            name.to_ascii_lowercase(),
        );
        let after_owner = canonical_cmp(&owner, &name) == Ordering::Less;
        let before_next = canonical_cmp(&name, &next) == Ordering::Less;
        if canonical_cmp(&owner, &next) == Ordering::Less {
            after_owner && before_next
        } else {
            after_owner
        }
    }

    /// An NSEC at a delegation (NS but no SOA) or at a DNAME says nothing
    /// about names below its owner (RFC 6840 section 4.1).
    fn may_deny_below(&self, name: &[u8]) -> bool {
        let below = is_at_or_below(name, self.owner) && !self.matches(name);
        !(below && ((self.has_type(NS) && !self.has_type(SOA)) || self.has_type(DNAME)))
    }
}

/// Whether a type bitmap (RFC 4034 section 4.1.2, RFC 5155 section 3.2.1)
/// lists `rtype`.
pub(super) fn bitmap_has(bitmap: &[u8], rtype: u16) -> bool {
    let [window, low] = rtype.to_be_bytes();
    let mut rest = bitmap;
    while let [number, len, more @ ..] = rest {
        let len = usize::from(*len);
        let Some(bits) = more.get(..len) else {
            return false;
        };
        if *number == window {
            let byte = usize::from(low / 8);
            return bits.get(byte).is_some_and(|b| b & (0x80 >> (low % 8)) != 0);
        }
        rest = &more[len..];
    }
    false
}

/// The NSEC among `nsecs` covering `name`, fit to deny names there.
fn covering<'n, 'a>(nsecs: &'n [Nsec<'a>], name: &[u8]) -> Option<&'n Nsec<'a>> {
    nsecs
        .iter()
        .find(|n| n.covers(name) && n.may_deny_below(name))
}

/// The closest encloser of a name an NSEC covers: the longer of the
/// names it shares with the NSEC's owner and next name.
fn closest_encloser<'q>(qname: &'q [u8], nsec: &Nsec<'_>) -> &'q [u8] {
    let shared = |other: &[u8]| {
        let mut at = 0;
        loop {
            // A name cut short ends the walk where it breaks.
            let Some(rest) = qname.get(at..) else {
                return qname.len();
            };
            if is_at_or_below(other, rest) {
                return at;
            }
            match qname.get(at) {
                Some(&len) if len > 0 => at += 1 + usize::from(len),
                _ => return at,
            }
        }
    };
    let at = shared(nsec.owner).min(shared(nsec.next));
    qname.get(at..).unwrap_or_default()
}

/// The wildcard that would stand for `qname`, which `cover` covers: `*`
/// at the closest encloser the NSEC implies.
pub fn wildcard_for(qname: &[u8], cover: &Nsec<'_>) -> Vec<u8> {
    wildcard_of(closest_encloser(qname, cover))
}

/// `*` and `name`.
fn wildcard_of(name: &[u8]) -> Vec<u8> {
    [b"\x01*", name].concat()
}

/// Proves `qname` does not exist: an NSEC covers it, and another (or the
/// same) covers the wildcard at its closest encloser.
pub fn prove_nxdomain(qname: &[u8], nsecs: &[Nsec<'_>]) -> Result<(), Failure> {
    let cover = covering(nsecs, qname).ok_or(Failure::NsecMissing)?;
    // A next name below the name makes it an empty non-terminal: it
    // exists.
    if is_at_or_below(cover.next, qname) {
        return Err(Failure::NsecMissing);
    }
    let wildcard = wildcard_of(closest_encloser(qname, cover));
    if nsecs.iter().any(|n| n.matches(&wildcard)) {
        // The wildcard exists: the name would have been synthesised.
        return Err(Failure::NsecMissing);
    }
    covering(nsecs, &wildcard)
        .map(drop)
        .ok_or(Failure::NsecMissing)
}

/// Proves `qname` has no `qtype` RRset: the NSEC at the name lists
/// neither the type nor CNAME; or the name is an empty non-terminal; or
/// it does not exist and the wildcard that would stand for it lacks the
/// type. For DS at a delegation, the proof may instead show an insecure
/// delegation.
pub fn prove_nodata(qname: &[u8], qtype: u16, nsecs: &[Nsec<'_>]) -> Result<Denial, Failure> {
    if let Some(nsec) = nsecs.iter().find(|n| n.matches(qname)) {
        if nsec.has_type(qtype) || nsec.has_type(CNAME) {
            return Err(Failure::NsecMissing);
        }
        let delegation = nsec.has_type(NS) && !nsec.has_type(SOA);
        return match (delegation, qtype) {
            (true, DS) => Ok(Denial::InsecureDelegation),
            // The parent's NSEC at a cut says nothing of the child's data.
            (true, _) => Err(Failure::NsecMissing),
            (false, _) => Ok(Denial::NoData),
        };
    }
    let cover = covering(nsecs, qname).ok_or(Failure::NsecMissing)?;
    // An empty non-terminal: the next name lies below it.
    if is_at_or_below(cover.next, qname) {
        return Ok(Denial::NoData);
    }
    let wildcard = wildcard_of(closest_encloser(qname, cover));
    match nsecs.iter().find(|n| n.matches(&wildcard)) {
        Some(w) if !w.has_type(qtype) && !w.has_type(CNAME) => Ok(Denial::NoData),
        _ => Err(Failure::NsecMissing),
    }
}

/// Proves that an answer synthesised from the wildcard whose closest
/// encloser is `encloser` had no closer match (RFC 4035 section 5.3.4):
/// an NSEC covers `qname`, and the closest encloser it implies is the
/// wildcard's.
pub fn prove_wildcard_answer(
    qname: &[u8],
    encloser: &[u8],
    nsecs: &[Nsec<'_>],
) -> Result<(), Failure> {
    let cover = covering(nsecs, qname).ok_or(Failure::NsecMissing)?;
    if is_at_or_below(cover.next, qname)
        || !closest_encloser(qname, cover).eq_ignore_ascii_case(encloser)
    {
        return Err(Failure::NsecMissing);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_bitmaps_are_read_by_window() {
        // Window 0: A (1), NS (2), SOA (6); window 1: 256 + 3.
        let rdata = b"\x01b\x04test\x00\x00\x01\x62\x01\x01\x10";
        let nsec = Nsec::parse(b"\x01a\x04test\x00", rdata).unwrap();
        for (rtype, has) in [
            (1, true),
            (2, true),
            (6, true),
            (5, false),
            (259, true),
            (260, false),
            (28, false),
        ] {
            assert_eq!(nsec.has_type(rtype), has, "{rtype}");
        }
    }

    #[test]
    fn names_cut_short_prove_nothing_and_do_not_panic() {
        let nsec = Nsec::parse(b"\x01a\x04test\x00", b"\x01z\x04test\x00\x00\x01\x40").unwrap();
        for qname in [&b"\x05ab\x04test\x00"[..], b"\x3Fa", b""] {
            assert!(prove_nxdomain(qname, &[nsec]).is_err());
            assert!(prove_nodata(qname, 1, &[nsec]).is_err());
        }
    }

    #[test]
    fn the_last_nsec_covers_every_name_after_its_owner() {
        let last = Nsec::parse(b"\x01z\x04test\x00", b"\x04test\x00\x00\x01\x40").unwrap();
        assert!(last.covers(b"\x02zz\x04test\x00"));
        assert!(last.covers(b"\x01a\x01z\x04test\x00"));
        assert!(!last.covers(b"\x01m\x04test\x00"));
        let middle = Nsec::parse(b"\x01b\x04test\x00", b"\x01d\x04test\x00\x00\x01\x40").unwrap();
        assert!(middle.covers(b"\x01C\x04test\x00"));
        assert!(!middle.covers(b"\x01b\x04test\x00") && !middle.covers(b"\x01d\x04test\x00"));
    }
}

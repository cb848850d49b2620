//! Answers encoded once, when a zone is loaded, and copied into every
//! response that needs them.
//!
//! An [`Answer`] is the answer, authority and additional sections of a
//! response in wire form, built as if the question were a particular name
//! (its *frame*). Each response is then a copy: header, the client's question,
//! these bytes, OPT. Compression pointers into the question or the sections
//! are recorded, so an answer built for a frame name `F` can serve any
//! question name that ends in `F` (wildcards, referrals below a cut, NXDOMAIN
//! anywhere in a zone) by shifting them by the difference in length.

use hickory_proto::rr::{DNSClass, RecordType};

use super::name::{MAX_NAME_LEN, NameKey, name_len};
use super::{HEADER_LEN, MAX_MESSAGE_SIZE};

/// The three record sections of a response, in the order they are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    Answer = 0,
    Authority = 1,
    Additional = 2,
}

/// Where one RRset ends in the encoded sections: the points at which a
/// response may be cut to fit (RFC 2181 section 9: never split an RRset).
#[derive(Clone, Copy, Debug)]
struct RrsetEnd {
    end: u16,
    records: u16,
    section: Section,
    /// Glue that a referral cannot do without (RFC 9471): dropping it sets TC.
    required: bool,
}

/// The owner name of an RRset being added to an answer.
#[derive(Clone, Copy)]
pub enum Owner<'a> {
    /// Whatever name the client asked: a pointer to the question.
    Qname,
    /// A fixed name in uncompressed wire form, compressed against what
    /// came before.
    Name(&'a [u8]),
}

/// A prebuilt response body. See the module documentation.
///
/// Kept small, as a zone holds one per RRset: one allocation holds the
/// RRset ends (`RRSET_END_LEN` octets each), then the relocations (two
/// octets each), then the encoded sections.
#[derive(Clone, Debug)]
pub struct Answer {
    data: Box<[u8]>,
    /// Records per section, all RRsets in.
    counts: [u16; 3],
    rrsets: u16,
    relocations: u16,
    /// Where records made for one question (DNSSEC denial proofs, a
    /// synthesised CNAME) go: an offset in the sections at the end of
    /// `splice_section`. Nothing after it points at a name after it, so
    /// the bytes that follow move as one block.
    splice: u16,
    rcode: u8,
    authoritative: bool,
    /// Wire length of the frame name.
    frame_len: u8,
    splice_section: Section,
}

/// An RRset end in `Answer::data`: end (u16), records (u16), section,
/// required.
const RRSET_END_LEN: usize = 6;

impl RrsetEnd {
    fn read(bytes: &[u8]) -> RrsetEnd {
        RrsetEnd {
            end: u16::from_ne_bytes([bytes[0], bytes[1]]),
            records: u16::from_ne_bytes([bytes[2], bytes[3]]),
            section: match bytes[4] {
                0 => Section::Answer,
                1 => Section::Authority,
                _ => Section::Additional,
            },
            required: bytes[5] != 0,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.end.to_ne_bytes());
        out.extend_from_slice(&self.records.to_ne_bytes());
        out.push(self.section as u8);
        out.push(u8::from(self.required));
    }
}

/// Records made or chosen for one question, inserted into an [`Answer`] at
/// its splice point. Self-contained: no compression pointers.
#[derive(Clone, Debug, Default)]
pub struct Piece {
    pub bytes: Box<[u8]>,
    pub records: u16,
}

/// How much of an [`Answer`] fits in a response of a given size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fit {
    /// Bytes of the encoded sections to copy.
    pub len: usize,
    /// Records per section in those bytes.
    pub counts: [u16; 3],
    /// Whether the client must retry over TCP.
    pub truncated: bool,
}

impl Answer {
    /// The response code (NOERROR, NXDOMAIN, ...).
    pub fn rcode(&self) -> u16 {
        u16::from(self.rcode)
    }

    /// Whether the answer carries AA.
    pub fn authoritative(&self) -> bool {
        self.authoritative
    }

    fn sections_start(&self) -> usize {
        self.rrsets as usize * RRSET_END_LEN + self.relocations as usize * 2
    }

    /// The encoded sections.
    pub fn bytes(&self) -> &[u8] {
        &self.data[self.sections_start()..]
    }

    fn rrset_ends(&self) -> impl Iterator<Item = RrsetEnd> + '_ {
        self.data[..self.rrsets as usize * RRSET_END_LEN]
            .chunks_exact(RRSET_END_LEN)
            .map(RrsetEnd::read)
    }

    fn relocations(&self) -> impl Iterator<Item = u16> + '_ {
        let start = self.rrsets as usize * RRSET_END_LEN;
        self.data[start..start + self.relocations as usize * 2]
            .chunks_exact(2)
            .map(|b| u16::from_ne_bytes([b[0], b[1]]))
    }

    /// Records per section.
    pub fn counts(&self) -> [u16; 3] {
        self.counts
    }

    /// Wire length of the name this answer was built for; a question name
    /// must be at least this long and end in that name.
    pub fn frame_len(&self) -> usize {
        self.frame_len as usize
    }

    /// What fits in `room` bytes. When the answer or authority section does
    /// not fit, nothing is sent and TC is set; optional additional RRsets are
    /// dropped from the end without TC (RFC 1035 section 7.1 leaves them to
    /// the server's judgement), required glue sets TC (RFC 9471).
    /// `extra_len` bytes holding `extra_records` records are spliced in and
    /// never dropped; `len` and `counts` include them.
    pub fn fit_with(&self, room: usize, extra_len: usize, extra_records: u16) -> Fit {
        let splice = self.splice as usize;
        let mut counts = self.counts();
        counts[self.splice_section as usize] += extra_records;
        let bytes = self.bytes();
        if bytes.len() + extra_len <= room {
            return Fit {
                len: bytes.len() + extra_len,
                counts,
                truncated: false,
            };
        }
        let none = Fit {
            len: 0,
            counts: [0; 3],
            truncated: true,
        };
        let mut fit = Fit {
            len: 0,
            counts: [0; 3],
            truncated: false,
        };
        let mut spliced = extra_len == 0 && extra_records == 0;
        for (i, rrset) in self.rrset_ends().enumerate() {
            let end = rrset.end as usize;
            if !spliced && end > splice {
                if splice + extra_len > room {
                    return none;
                }
                fit.len = splice + extra_len;
                fit.counts[self.splice_section as usize] += extra_records;
                spliced = true;
            }
            let end = if end > splice { end + extra_len } else { end };
            if end > room {
                if rrset.section != Section::Additional {
                    return none;
                }
                fit.truncated = self.rrset_ends().skip(i).any(|r| r.required);
                return fit;
            }
            fit.len = end;
            fit.counts[rrset.section as usize] += rrset.records;
        }
        if !spliced {
            if splice + extra_len > room {
                return none;
            }
            fit.len = splice + extra_len;
            fit.counts[self.splice_section as usize] += extra_records;
        }
        fit
    }

    /// Copies the first `len` bytes (from [`Answer::fit_with`], which
    /// counts the extra bytes) into `out` with `extra` written at the
    /// splice point, shifting compression pointers for a question name
    /// `shift` bytes longer than the frame.
    pub fn write_spliced(&self, out: &mut Vec<u8>, len: usize, shift: usize, extra: &[&[u8]]) {
        let start = out.len();
        let extra_len: usize = extra.iter().map(|e| e.len()).sum();
        let splice = self.splice as usize;
        // Without its extra records an answer is cut whole or not at all.
        let own_len = if len >= splice + extra_len && len > 0 {
            len - extra_len
        } else {
            len.min(splice)
        };
        let first = own_len.min(splice);
        let bytes = self.bytes();
        out.extend_from_slice(&bytes[..first]);
        if own_len >= splice && len > 0 {
            for part in extra {
                out.extend_from_slice(part);
            }
            out.extend_from_slice(&bytes[splice..own_len]);
        }
        if shift == 0 {
            return;
        }
        for at in self.relocations() {
            let at = at as usize;
            if at + 2 > own_len {
                continue;
            }
            let pos = start + at + if at >= splice { extra_len } else { 0 };
            let target = u16::from_be_bytes([out[pos], out[pos + 1]]) & 0x3FFF;
            // The builder keeps targets below POINTER_LIMIT, so this fits.
            let moved = (target as usize + shift) as u16 | 0xC000;
            out[pos..pos + 2].copy_from_slice(&moved.to_be_bytes());
        }
    }
}

/// Pointers may only target offsets below this, so that shifting them for a
/// question up to 255 octets longer than the frame still fits in 14 bits.
const POINTER_LIMIT: usize = 0x3FFF - 255;

/// Room kept for the header, a 255-octet question and an OPT record, so that
/// any answer fits in a 64 KiB message.
const MAX_SECTIONS_LEN: usize = MAX_MESSAGE_SIZE - HEADER_LEN - 255 - 4 - 11;

/// An RRset would not fit in any DNS message.
#[derive(Debug, thiserror::Error)]
#[error("{0} RRset is too large for a DNS message")]
pub struct TooLarge(pub RecordType);

/// The records of one RRset as a zone keeps them: each RDATA after its
/// two-octet length, as in a message less the owner, type, class and TTL.
#[derive(Clone, Copy, Debug)]
pub struct RdataSet<'a> {
    pub rtype: u16,
    pub ttl: u32,
    pub packed: &'a [u8],
}

impl<'a> RdataSet<'a> {
    /// Each record's RDATA.
    pub fn iter(self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut rest = self.packed;
        std::iter::from_fn(move || {
            let (len, after) = rest.split_first_chunk::<2>()?;
            let len = usize::from(u16::from_be_bytes(*len));
            let rdata = after.get(..len)?;
            rest = &after[len..];
            Some(rdata)
        })
    }

    pub fn is_empty(self) -> bool {
        self.packed.is_empty()
    }
}

/// Encodes RRsets into an [`Answer`], compressing names. One builder can
/// make any number of answers in turn, reusing its buffers.
#[derive(Default)]
pub struct AnswerBuilder {
    /// The whole framed message: header placeholder, question, sections.
    message: Vec<u8>,
    sections_start: usize,
    frame_len: usize,
    /// Names already written, for compression: where each suffix is in the
    /// message, and where its lowercase form is in `lower`.
    names: Vec<(u16, u32, u8)>,
    lower: Vec<u8>,
    rrsets: Vec<RrsetEnd>,
    relocations: Vec<u16>,
    /// Set by [`AnswerBuilder::splice_here`]: names written later are not
    /// offered for compression.
    splice: Option<(usize, Section)>,
}

impl AnswerBuilder {
    /// Starts an answer for questions whose name ends in `frame`.
    pub fn new(frame: &NameKey) -> Self {
        let mut builder = Self::default();
        builder.reset(frame);
        builder
    }

    /// Starts over, for questions whose name ends in `frame`.
    pub fn reset(&mut self, frame: &NameKey) {
        self.message.clear();
        self.message.resize(HEADER_LEN, 0);
        self.message.extend_from_slice(frame.as_bytes());
        self.message.extend_from_slice(&[0; 4]);
        self.names.clear();
        self.lower.clear();
        self.lower.extend_from_slice(frame.as_bytes());
        for skip in 0..frame.label_count() {
            let from = frame.wire_len() - frame.suffix(skip).len();
            self.names.push((
                (HEADER_LEN + from) as u16,
                from as u32,
                (frame.wire_len() - from) as u8,
            ));
        }
        self.sections_start = self.message.len();
        self.frame_len = frame.wire_len();
        self.rrsets.clear();
        self.relocations.clear();
        self.splice = None;
    }

    /// Marks the point where per-question records will be inserted, at the
    /// end of `section` (the RRsets added so far must all be in it or
    /// before). What follows never points after this point, so inserted
    /// bytes only move it.
    pub fn splice_here(&mut self, section: Section) {
        self.splice = Some((self.message.len() - self.sections_start, section));
    }

    /// The section the last RRset went to; RRsets must be added in section
    /// order.
    fn current_section(&self) -> Section {
        self.rrsets
            .last()
            .map(|r| r.section)
            .unwrap_or(Section::Answer)
    }

    /// Appends one RRset. Returns `Ok(false)`, leaving the answer as it was,
    /// if it is additional data that would make the message too large.
    pub fn push_rrset(
        &mut self,
        section: Section,
        owner: Owner<'_>,
        set: RdataSet<'_>,
        required: bool,
    ) -> Result<bool, TooLarge> {
        self.push_signed_rrset(section, owner, set, None, required)
    }

    /// Appends one RRset and its RRSIGs as one unit, which truncation keeps
    /// or drops whole.
    pub fn push_signed_rrset(
        &mut self,
        section: Section,
        owner: Owner<'_>,
        set: RdataSet<'_>,
        sigs: Option<RdataSet<'_>>,
        required: bool,
    ) -> Result<bool, TooLarge> {
        debug_assert!(section >= self.current_section());
        if set.is_empty() {
            return Ok(true);
        }
        let mark = (
            self.message.len(),
            self.names.len(),
            self.lower.len(),
            self.relocations.len(),
        );
        let mut written = Ok(());
        let mut records = 0usize;
        for set in std::iter::once(set).chain(sigs) {
            for rdata in set.iter() {
                written = self.write_record(owner, set.rtype, set.ttl, rdata);
                records += 1;
                if written.is_err() {
                    break;
                }
            }
        }
        if written.is_err()
            || records > usize::from(u16::MAX)
            || self.message.len() - self.sections_start > MAX_SECTIONS_LEN
        {
            self.message.truncate(mark.0);
            self.names.truncate(mark.1);
            self.lower.truncate(mark.2);
            self.relocations.truncate(mark.3);
            return match section {
                Section::Additional => Ok(false),
                _ => Err(TooLarge(RecordType::from(set.rtype))),
            };
        }
        self.rrsets.push(RrsetEnd {
            end: (self.message.len() - self.sections_start) as u16,
            records: records as u16,
            section,
            required,
        });
        Ok(true)
    }

    /// Encodes records on their own, every name in full, for insertion at
    /// any splice point.
    pub fn piece(owner: &[u8], sets: &[RdataSet<'_>]) -> Result<Piece, TooLarge> {
        let mut builder = AnswerBuilder::new(&NameKey::root());
        builder.splice_here(Section::Answer);
        let mut records = 0;
        for set in sets {
            for rdata in set.iter() {
                builder
                    .write_record(Owner::Name(owner), set.rtype, set.ttl, rdata)
                    .map_err(|_| TooLarge(RecordType::from(set.rtype)))?;
                records += 1;
            }
        }
        let bytes = &builder.message[builder.sections_start..];
        if bytes.len() > MAX_SECTIONS_LEN {
            return Err(TooLarge(RecordType::NSEC));
        }
        Ok(Piece {
            bytes: bytes.into(),
            records,
        })
    }

    fn write_record(
        &mut self,
        owner: Owner<'_>,
        rtype: u16,
        ttl: u32,
        rdata: &[u8],
    ) -> Result<(), ()> {
        match owner {
            Owner::Qname => self
                .message
                .extend_from_slice(&(0xC000u16 | HEADER_LEN as u16).to_be_bytes()),
            Owner::Name(name) => self.write_name(name),
        }
        self.message.extend_from_slice(&rtype.to_be_bytes());
        self.message
            .extend_from_slice(&u16::from(DNSClass::IN).to_be_bytes());
        self.message.extend_from_slice(&ttl.to_be_bytes());
        let rdlength_at = self.message.len();
        self.message.extend_from_slice(&[0, 0]);
        match compressible(rtype, rdata) {
            Some(shape) => {
                self.message.extend_from_slice(shape.before);
                for name in shape.names.into_iter().flatten() {
                    self.write_name(name);
                }
                self.message.extend_from_slice(shape.after);
            }
            None => self.message.extend_from_slice(rdata),
        }
        let rdlength = u16::try_from(self.message.len() - rdlength_at - 2).map_err(|_| ())?;
        self.message[rdlength_at..rdlength_at + 2].copy_from_slice(&rdlength.to_be_bytes());
        Ok(())
    }

    /// Writes an uncompressed wire name, case kept, pointing at the longest
    /// suffix already in the message.
    fn write_name(&mut self, wire: &[u8]) {
        let mut lower = [0u8; MAX_NAME_LEN];
        let wire = &wire[..wire.len().min(MAX_NAME_LEN)];
        let len = wire.len();
        for (dst, src) in lower[..len].iter_mut().zip(wire) {
            *dst = src.to_ascii_lowercase();
        }
        let lower = &lower[..len];
        let lower_at = self.lower.len();
        let mut offered = false;
        let mut pos = 0;
        while let Some(&label) = wire.get(pos) {
            if label == 0 {
                break;
            }
            let suffix = &lower[pos..];
            let found = self.names.iter().find(|&&(_, from, len)| {
                let from = from as usize;
                self.lower.get(from..from + usize::from(len)) == Some(suffix)
            });
            if let Some(&(at, _, _)) = found {
                self.relocations
                    .push((self.message.len() - self.sections_start) as u16);
                self.message.extend_from_slice(&(0xC000 | at).to_be_bytes());
                return;
            }
            if self.message.len() < POINTER_LIMIT && self.splice.is_none() {
                if !offered {
                    self.lower.extend_from_slice(lower);
                    offered = true;
                }
                self.names.push((
                    self.message.len() as u16,
                    (lower_at + pos) as u32,
                    suffix.len() as u8,
                ));
            }
            let end = (pos + 1 + usize::from(label)).min(wire.len());
            self.message.extend_from_slice(&wire[pos..end]);
            pos = end;
        }
        self.message.push(0);
    }

    /// Finishes the answer with its response code and AA flag; the builder
    /// is left ready for [`AnswerBuilder::reset`].
    pub fn finish(&mut self, rcode: u16, authoritative: bool) -> Answer {
        let sections = &self.message[self.sections_start..];
        let end = sections.len();
        let (splice, splice_section) = self.splice.unwrap_or((end, Section::Authority));
        let mut data = Vec::with_capacity(
            self.rrsets.len() * RRSET_END_LEN + self.relocations.len() * 2 + end,
        );
        let mut counts = [0u16; 3];
        for rrset in &self.rrsets {
            rrset.write(&mut data);
            counts[rrset.section as usize] += rrset.records;
        }
        for at in &self.relocations {
            data.extend_from_slice(&at.to_ne_bytes());
        }
        data.extend_from_slice(sections);
        Answer {
            data: data.into_boxed_slice(),
            counts,
            rrsets: self.rrsets.len() as u16,
            relocations: self.relocations.len() as u16,
            splice: splice as u16,
            // Zones answer NOERROR, NXDOMAIN or YXDOMAIN: no extended codes.
            rcode: rcode as u8,
            authoritative,
            frame_len: self.frame_len as u8,
            splice_section,
        }
    }
}

/// The RDATA of an RFC 1035 type whose names may be compressed (RFC 3597
/// section 4): the octets before its names, the names, the octets after.
/// `None` for every other type, and for RDATA that does not have the
/// type's shape, which is then copied as it is.
fn compressible(rtype: u16, rdata: &[u8]) -> Option<Compressible<'_>> {
    let (before, names) = match rtype {
        2 | 5 | 12 => (0, 1),
        15 => (2, 1),
        6 => (0, 2),
        _ => return None,
    };
    let mut found = [None; 2];
    let mut at = before;
    for slot in found.iter_mut().take(names) {
        let len = name_len(rdata.get(at..)?)?;
        *slot = Some(&rdata[at..at + len]);
        at += len;
    }
    Some(Compressible {
        before: &rdata[..before],
        names: found,
        after: &rdata[at..],
    })
}

/// RDATA split around the names it may compress.
struct Compressible<'a> {
    before: &'a [u8],
    names: [Option<&'a [u8]>; 2],
    after: &'a [u8],
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::name::name_to_wire;
    use hickory_proto::op::Message;
    use hickory_proto::rr::rdata::{A, MX};
    use hickory_proto::rr::{Name, RData};
    use std::str::FromStr;

    fn name(s: &str) -> Name {
        Name::from_str(s).unwrap()
    }

    /// Wire form, case kept (`from_str` would fold it, as IDNA does).
    fn wire(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        name_to_wire(&Name::from_ascii(s).unwrap(), &mut out);
        out
    }

    /// One record's RDATA packed as a zone keeps it.
    fn packed(rdata: &[u8]) -> Vec<u8> {
        let mut out = (rdata.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(rdata);
        out
    }

    /// Puts an answer behind a question for `qname` and decodes it with
    /// hickory, which checks every pointer.
    fn decode_with(answer: &Answer, qname: &str) -> Message {
        let key = NameKey::from_name(&name(qname));
        let mut out = vec![0, 1, 0x84, 0, 0, 1];
        for count in answer.counts() {
            out.extend_from_slice(&count.to_be_bytes());
        }
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(&[0, 1, 0, 1]);
        let shift = key.wire_len() - answer.frame_len();
        answer.write_spliced(&mut out, answer.bytes().len(), shift, &[]);
        Message::from_vec(&out).unwrap()
    }

    #[test]
    fn compressed_answer_decodes_for_longer_question_names() {
        let frame = NameKey::from_name(&name("example.test."));
        let mut b = AnswerBuilder::new(&frame);
        let target = wire("Mail.Example.Test.");
        let mut mx = vec![0, 10];
        mx.extend_from_slice(&target);
        let mx = packed(&mx);
        let a = packed(&[192, 0, 2, 1]);
        b.push_rrset(
            Section::Answer,
            Owner::Qname,
            RdataSet {
                rtype: 15,
                ttl: 300,
                packed: &mx,
            },
            false,
        )
        .unwrap();
        b.push_rrset(
            Section::Additional,
            Owner::Name(&target),
            RdataSet {
                rtype: 1,
                ttl: 300,
                packed: &a,
            },
            false,
        )
        .unwrap();
        let answer = b.finish(0, true);
        let target = name("Mail.Example.Test.");
        for qname in ["example.test.", "a.b.example.test."] {
            let msg = decode_with(&answer, qname);
            assert_eq!(msg.answers[0].name, name(qname));
            assert_eq!(msg.answers[0].data, RData::MX(MX::new(10, target.clone())));
            assert_eq!(msg.additionals[0].name, target);
            assert_eq!(msg.additionals[0].data, RData::A(A::new(192, 0, 2, 1)));
        }
        // The exchange is compressed against the frame, its case kept.
        let bytes = answer.bytes();
        assert!(bytes.windows(5).any(|w| w == b"\x04Mail"));
        assert!(!bytes.windows(8).any(|w| w == b"\x07Example"));
    }

    #[test]
    fn a_reset_builder_forgets_the_names_of_its_last_answer() {
        let mut b = AnswerBuilder::new(&NameKey::from_name(&name("one.test.")));
        let ns = packed(&wire("ns.one.test."));
        let set = RdataSet {
            rtype: 2,
            ttl: 60,
            packed: &ns,
        };
        b.push_rrset(Section::Answer, Owner::Qname, set, false)
            .unwrap();
        let first = b.finish(0, true);
        b.reset(&NameKey::from_name(&name("two.test.")));
        b.push_rrset(Section::Answer, Owner::Qname, set, false)
            .unwrap();
        let second = b.finish(0, true);
        let msg = decode_with(&second, "two.test.");
        assert_eq!(
            msg.answers[0].data,
            RData::NS(hickory_proto::rr::rdata::NS(name("ns.one.test.")))
        );
        assert_eq!(decode_with(&first, "one.test.").answers.len(), 1);
    }

    #[test]
    fn fit_drops_optional_additional_and_truncates_answers() {
        let frame = NameKey::from_name(&name("x.test."));
        let mut b = AnswerBuilder::new(&frame);
        let y = wire("y.test.");
        let cname = packed(&y);
        let a = packed(&[192, 0, 2, 1]);
        b.push_rrset(
            Section::Answer,
            Owner::Qname,
            RdataSet {
                rtype: 5,
                ttl: 60,
                packed: &cname,
            },
            false,
        )
        .unwrap();
        let answer_len = b.message.len() - b.sections_start;
        b.push_rrset(
            Section::Additional,
            Owner::Name(&y),
            RdataSet {
                rtype: 1,
                ttl: 60,
                packed: &a,
            },
            false,
        )
        .unwrap();
        let answer = b.finish(0, true);
        let full = answer.fit_with(1000, 0, 0);
        assert_eq!((full.counts, full.truncated), ([1, 0, 1], false));
        let partial = answer.fit_with(answer_len + 3, 0, 0);
        assert_eq!(
            (partial.len, partial.counts, partial.truncated),
            (answer_len, [1, 0, 0], false)
        );
        let none = answer.fit_with(answer_len - 1, 0, 0);
        assert_eq!(
            (none.len, none.counts, none.truncated),
            (0, [0, 0, 0], true)
        );
    }
}

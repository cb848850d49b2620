//! Authoritative zones: loaded from master files, checked, and compiled into
//! answers that are ready to copy.
//!
//! Every answer the zone can give is encoded when the zone loads
//! ([`build`]), so a query costs one hash lookup per label between the
//! question name and its closest encloser, and no encoding. `Zone::lookup`
//! applies RFC 1034 section 4.3.2 with RFC 4592 wildcards.

mod build;
mod data;
mod denial;
mod file;
mod findings;
mod generate;
mod rdata;
mod set;
mod token;

use std::collections::HashMap;
use std::path::Path;

use foldhash::fast::RandomState;
use hickory_proto::rr::Name;

use crate::wire::response::Reply;
use crate::wire::{Answer, NameKey, Piece, rcode, rtype};

use denial::Chain;

pub use file::{
    Location, RawRecord, SourceRecord, ZoneError, read_master_file, read_master_file_into,
    read_master_text,
};
pub use set::{ZoneOutcome, ZoneSet, ZoneSource};

/// Where a name falls in a zone's tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Found {
    /// The name exists and is authoritative data (or an empty non-terminal).
    Exact(u32),
    /// The name does not exist; `wildcard` is its source of synthesis
    /// (RFC 4592 section 3.3.1), the child of its closest encloser `ce`,
    /// which is `skip` labels above the name.
    Wildcard { wildcard: u32, ce: u32, skip: usize },
    /// The name is at (`exact`) or below the delegation at `cut`.
    Delegated { cut: u32, exact: bool },
    /// The name is below the DNAME owned by this node (RFC 6672).
    Dname(u32),
    /// The name does not exist and no wildcard covers it; `ce` is its
    /// closest encloser, `skip` labels above it.
    NxDomain { ce: u32, skip: usize },
    /// The name is not in this zone.
    Outside,
}

/// What a node of the tree is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NodeKind {
    /// Authoritative data, the apex included.
    Authoritative,
    /// A zone cut: NS records below the apex.
    Delegation,
    /// Below a cut: only glue lives here.
    Glue { cut: u32 },
    /// Authoritative data with a DNAME, which redirects the names below.
    Dname,
    /// Below a DNAME: kept, never served.
    Occluded { dname: u32 },
}

/// Names of a zone and how they relate, without the answers.
struct Tree {
    apex: NameKey,
    /// Lowercase wire name to node index.
    index: HashMap<Box<[u8]>, u32, RandomState>,
    kinds: Vec<NodeKind>,
    /// The `*` child of each node, or `NONE`.
    wildcards: Vec<u32>,
}

impl Tree {
    /// RFC 1034 section 4.3.2 step 3: the longest existing name that
    /// encloses `name` decides between an exact match, a referral, a
    /// wildcard and NXDOMAIN. Empty non-terminals exist as nodes, so the
    /// first hit walking up is the closest encloser.
    fn find(&self, name: &NameKey) -> Found {
        let below_apex = match name.label_count().checked_sub(self.apex.label_count()) {
            Some(n) if name.suffix(n) == self.apex.as_bytes() => n,
            _ => return Found::Outside,
        };
        for skip in 0..=below_apex {
            let Some(&node) = self.index.get(name.suffix(skip)) else {
                continue;
            };
            return match self.kinds[node as usize] {
                NodeKind::Delegation => Found::Delegated {
                    cut: node,
                    exact: skip == 0,
                },
                NodeKind::Glue { cut } => Found::Delegated { cut, exact: false },
                NodeKind::Occluded { dname } => Found::Dname(dname),
                NodeKind::Authoritative | NodeKind::Dname if skip == 0 => Found::Exact(node),
                NodeKind::Dname => Found::Dname(node),
                NodeKind::Authoritative => match self.wildcards[node as usize] {
                    NONE => Found::NxDomain { ce: node, skip },
                    wildcard => Found::Wildcard {
                        wildcard,
                        ce: node,
                        skip,
                    },
                },
            };
        }
        // The apex is always a node, so this is unreachable for names in
        // the zone.
        Found::Outside
    }
}

/// The answers a node gives, by query type.
#[derive(Default)]
struct NodeAnswers {
    /// Sorted by type.
    by_type: Box<[(u16, Answer)]>,
    /// Index in `by_type` of the one RRset an ANY query gets (RFC 8482).
    any: Option<u16>,
    /// What few nodes have, behind one pointer: a zone can have millions
    /// of nodes, and most have none of it.
    rare: Option<Box<RareAnswers>>,
}

#[derive(Default)]
struct RareAnswers {
    /// For types not in `by_type`: the CNAME chain at a CNAME node.
    /// `None` means the zone's NODATA answer.
    other: Option<Answer>,
    /// At a delegation: the referral for every name at or below it.
    referral: Option<Answer>,
    /// At a DNAME: the answer for every name below it.
    dname: Option<DnameAnswer>,
}

/// The answer for names below a DNAME: the DNAME RRset, and room at the
/// end of the answer section for the CNAME made for each name.
struct DnameAnswer {
    answer: Answer,
    /// The DNAME's target, wire form as written.
    target: Box<[u8]>,
    ttl: u32,
}

impl NodeAnswers {
    fn new(by_type: Vec<(u16, Answer)>, any: Option<u16>, rare: RareAnswers) -> Self {
        let some = rare.other.is_some() || rare.referral.is_some() || rare.dname.is_some();
        NodeAnswers {
            by_type: by_type.into(),
            any,
            rare: some.then(|| Box::new(rare)),
        }
    }

    fn other(&self) -> Option<&Answer> {
        self.rare.as_ref()?.other.as_ref()
    }

    fn referral(&self) -> Option<&Answer> {
        self.rare.as_ref()?.referral.as_ref()
    }

    fn dname(&self) -> Option<&DnameAnswer> {
        self.rare.as_ref()?.dname.as_ref()
    }

    fn get(&self, qtype: u16) -> Option<&Answer> {
        if qtype == rtype::ANY {
            return self.any.map(|i| &self.by_type[i as usize].1);
        }
        match self.by_type.binary_search_by_key(&qtype, |(t, _)| *t) {
            Ok(i) => Some(&self.by_type[i].1),
            Err(_) => self.other(),
        }
    }
}

/// Figures about a loaded zone, for logs and `check-zone`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZoneStats {
    pub serial: u32,
    pub records: usize,
    pub rrsets: usize,
    pub names: usize,
    pub delegations: usize,
}

/// One authoritative zone, compiled.
pub struct Zone {
    origin: Name,
    tree: Tree,
    answers: Vec<NodeAnswers>,
    nxdomain: Answer,
    nodata: Answer,
    /// DO=1 answers of a zone with DNSSEC records.
    signed: Option<Box<Signed>>,
    stats: ZoneStats,
}

/// What a signed zone answers to DO=1 queries: every answer again with
/// RRSIGs, and the NSEC or NSEC3 links that negative and wildcard answers
/// carry, each encoded once as a [`Piece`].
struct Signed {
    answers: Vec<NodeAnswers>,
    nxdomain: Answer,
    nodata: Answer,
    denial: Denial,
    pieces: Vec<Piece>,
}

/// A signed zone's chain of denial and each node's links in it.
struct Denial {
    chain: Chain,
    proofs: Vec<NodeProof>,
}

/// No node, no piece.
const NONE: u32 = u32::MAX;

/// The links that prove absence at one node, as node indices.
#[derive(Clone, Copy, Debug)]
struct NodeProof {
    /// The piece of this node's own NSEC or NSEC3 RRset.
    piece: u32,
    /// That the name has no RRset of the asked type: its NSEC (or for an
    /// empty non-terminal, the one covering it); its matching NSEC3, or the
    /// closest provable encloser's and the opt-out link covering the next
    /// closer name.
    nodata: [u32; 2],
    /// With this node as closest encloser of a missing name: NSEC3's
    /// matching link, and the link covering the wildcard below it.
    closest: [u32; 2],
}

/// Node indices of the links one answer carries, without repeats.
#[derive(Default)]
struct Links {
    nodes: [u32; 4],
    len: usize,
}

impl Links {
    fn add(&mut self, node: u32) {
        if node == NONE || self.nodes[..self.len].contains(&node) || self.len == 4 {
            return;
        }
        self.nodes[self.len] = node;
        self.len += 1;
    }

    fn extend(&mut self, other: &Links) {
        for &node in other.nodes() {
            self.add(node);
        }
    }

    fn nodes(&self) -> &[u32] {
        &self.nodes[..self.len]
    }
}

impl Denial {
    /// The links denying the name `qname`, `skip` labels below its closest
    /// encloser `ce`, exists (RFC 4035 section 3.1.3.2, RFC 5155 section
    /// 7.2.2): for NSEC the one covering the name; for NSEC3 the one
    /// covering the next closer name, and the closest encloser's match.
    fn deny_name(&self, links: &mut Links, qname: &NameKey, ce: u32, skip: usize) {
        match self.chain {
            Chain::Nsec(_) => links.add(self.chain.cover(qname.as_bytes()).unwrap_or(NONE)),
            Chain::Nsec3(_) => {
                links.add(self.proofs[ce as usize].closest[0]);
                let next_closer = qname.suffix(skip.saturating_sub(1));
                links.add(self.chain.cover(next_closer).unwrap_or(NONE));
            }
            Chain::None => {}
        }
    }

    /// The links a negative or wildcard answer to `qname` needs.
    fn links(&self, found: Found, qname: &NameKey, positive: bool) -> Links {
        let mut links = Links::default();
        match found {
            Found::Exact(node) | Found::Delegated { cut: node, .. } if !positive => {
                for link in self.proofs[node as usize].nodata {
                    links.add(link);
                }
            }
            // RFC 5155 section 7.2.6: a wildcard answer needs only the
            // link covering the next closer name.
            Found::Wildcard { skip, .. } if positive => match self.chain {
                Chain::Nsec3(_) => {
                    let next_closer = qname.suffix(skip.saturating_sub(1));
                    links.add(self.chain.cover(next_closer).unwrap_or(NONE));
                }
                _ => links.add(self.chain.cover(qname.as_bytes()).unwrap_or(NONE)),
            },
            Found::Wildcard { wildcard, ce, skip } => {
                self.deny_name(&mut links, qname, ce, skip);
                {
                    for link in self.proofs[wildcard as usize].nodata {
                        links.add(link);
                    }
                }
            }
            Found::NxDomain { ce, skip } => {
                self.deny_name(&mut links, qname, ce, skip);
                links.add(self.proofs[ce as usize].closest[1]);
            }
            _ => {}
        }
        links
    }
}

impl Zone {
    /// Loads and compiles the zone `origin` from the master file at `path`.
    /// Warnings (tolerated oddities) are returned beside the zone.
    pub fn load(origin: &Name, path: &Path) -> Result<(Zone, Vec<String>), ZoneError> {
        // A record takes 20 octets of a master file at the least, so this
        // bounds the names (before $INCLUDE and $GENERATE, which grow it).
        let file_len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        Self::compile(origin, path, file_len, |sink| {
            file::read_master_file_into(path, origin, None, sink)
        })
    }

    /// As `load`, for master file text already in memory; `source` names
    /// it in errors.
    pub fn from_text(
        origin: &Name,
        text: &[u8],
        source: &Path,
    ) -> Result<(Zone, Vec<String>), ZoneError> {
        Self::compile(origin, source, text.len() as u64, |sink| {
            file::read_master_text_into(text, source, origin, sink)
        })
    }

    /// Groups what `read` hands its sink, and compiles the zone.
    fn compile(
        origin: &Name,
        path: &Path,
        text_len: u64,
        read: impl FnOnce(&mut file::Sink<'_>) -> Result<findings::Findings, ZoneError>,
    ) -> Result<(Zone, Vec<String>), ZoneError> {
        let expected = usize::try_from(text_len / 20).unwrap_or(0).min(1 << 24);
        let mut origin_wire = Vec::with_capacity(256);
        crate::wire::name::name_to_wire(origin, &mut origin_wire);
        let mut grouper = data::Grouper::new(&origin_wire, expected);
        let mut findings =
            read(&mut |record, location, findings| grouper.add(record, location, findings))?;
        let zone = build::build(origin, path, grouper, &mut findings)?;
        Ok((zone, findings.settle(path)?))
    }

    /// The zone's apex name.
    pub fn origin(&self) -> &Name {
        &self.origin
    }

    /// The apex in lowercase wire form.
    pub fn apex(&self) -> &NameKey {
        &self.tree.apex
    }

    /// Counts for logs.
    pub fn stats(&self) -> ZoneStats {
        self.stats
    }

    /// The answer for a question about `qname`, which must be at or below
    /// the apex; with `dnssec_ok`, signed zones add RRSIGs and proofs.
    /// Returns `None` only for names outside the zone.
    pub fn lookup(&self, qname: &NameKey, qtype: u16, dnssec_ok: bool) -> Option<Reply<'_>> {
        let signed = self.signed.as_deref().filter(|_| dnssec_ok);
        let (answers, nxdomain, nodata) = match signed {
            Some(s) => (&s.answers, &s.nxdomain, &s.nodata),
            None => (&self.answers, &self.nxdomain, &self.nodata),
        };
        let found = self.tree.find(qname);
        let (answer, positive) = match found {
            Found::Exact(node) | Found::Wildcard { wildcard: node, .. } => {
                match answers[node as usize].get(qtype) {
                    Some(answer) => (answer, true),
                    None => (nodata, false),
                }
            }
            // DS lives on the parent side of a cut (RFC 4035 section 3.1.4.1).
            Found::Delegated { exact: true, cut } if qtype == rtype::DS => {
                match answers[cut as usize].get(qtype) {
                    Some(answer) => (answer, true),
                    None => (nodata, false),
                }
            }
            Found::Delegated { cut, .. } => {
                return answers[cut as usize].referral().map(Reply::of);
            }
            Found::Dname(node) => {
                return answers[node as usize].dname().map(|d| substitute(d, qname));
            }
            Found::NxDomain { .. } => (nxdomain, false),
            Found::Outside => return None,
        };
        let mut reply = Reply::of(answer);
        if let Some(signed) = signed {
            for &node in signed.denial.links(found, qname, positive).nodes() {
                let piece = signed.denial.proofs[node as usize].piece;
                if let Some(piece) = signed.pieces.get(piece as usize) {
                    reply.add(&piece.bytes, piece.records);
                }
            }
        }
        Some(reply)
    }
}

/// RFC 6672 section 3.3: the DNAME, and a CNAME from `qname` to its name
/// with the DNAME's owner replaced by its target; YXDOMAIN when that name
/// would be longer than 255 octets.
fn substitute<'a>(dname: &'a DnameAnswer, qname: &NameKey) -> Reply<'a> {
    let mut reply = Reply::of(&dname.answer);
    let owner_len = dname.answer.frame_len();
    // The tree sends only names below the DNAME's owner here, so the
    // prefix is never empty; a name that is not gets the DNAME alone.
    let Some(prefix) = qname
        .wire_len()
        .checked_sub(owner_len)
        .and_then(|n| qname.as_bytes().get(..n))
    else {
        return reply;
    };
    if prefix.len() + dname.target.len() > crate::wire::name::MAX_NAME_LEN {
        reply.rcode = Some(rcode::YXDOMAIN);
        return reply;
    }
    let rdlength = (prefix.len() + dname.target.len()) as u16;
    let mut cname = Vec::with_capacity(12 + rdlength as usize);
    // The owner points at the question, always at offset 12.
    cname.extend_from_slice(&0xC00Cu16.to_be_bytes());
    cname.extend_from_slice(&rtype::CNAME.to_be_bytes());
    cname.extend_from_slice(&1u16.to_be_bytes());
    cname.extend_from_slice(&dname.ttl.to_be_bytes());
    cname.extend_from_slice(&rdlength.to_be_bytes());
    cname.extend_from_slice(prefix);
    cname.extend_from_slice(&dname.target);
    reply.synthesized = Some(cname.into());
    reply
}

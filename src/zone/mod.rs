//! Authoritative zones: loaded from master files, checked, and compiled into
//! answers that are ready to copy.
//!
//! Every answer the zone can give is encoded when the zone loads
//! ([`build`]), so a query costs one hash lookup per label between the
//! question name and its closest encloser, and no encoding. `Zone::lookup`
//! applies RFC 1034 section 4.3.2 with RFC 4592 wildcards.

mod build;
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

use crate::wire::{Answer, NameKey, rtype};

pub use file::{Location, SourceRecord, ZoneError, read_master_file, read_master_text};
pub use set::{ZoneOutcome, ZoneSet, ZoneSource};

/// Where a name falls in a zone's tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Found {
    /// The name exists and is authoritative data (or an empty non-terminal).
    Exact(u32),
    /// The name does not exist; this wildcard node is its source of
    /// synthesis (RFC 4592 section 3.3.1).
    Wildcard(u32),
    /// The name is at (`exact`) or below the delegation at `cut`.
    Delegated { cut: u32, exact: bool },
    /// The name does not exist and no wildcard covers it.
    NxDomain,
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
}

/// Names of a zone and how they relate, without the answers.
struct Tree {
    apex: NameKey,
    /// Lowercase wire name to node index.
    index: HashMap<Box<[u8]>, u32, RandomState>,
    kinds: Vec<NodeKind>,
    /// The `*` child of each node, if any.
    wildcards: Vec<Option<u32>>,
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
                NodeKind::Authoritative if skip == 0 => Found::Exact(node),
                NodeKind::Authoritative => match self.wildcards[node as usize] {
                    Some(wildcard) => Found::Wildcard(wildcard),
                    None => Found::NxDomain,
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
    /// For types not in `by_type`: the CNAME chain at a CNAME node.
    /// `None` means the zone's NODATA answer.
    other: Option<Box<Answer>>,
    /// Index in `by_type` of the one RRset an ANY query gets (RFC 8482).
    any: Option<u16>,
    /// At a delegation: the referral for every name at or below it.
    referral: Option<Box<Answer>>,
}

impl NodeAnswers {
    fn get(&self, qtype: u16) -> Option<&Answer> {
        if qtype == rtype::ANY {
            return self.any.map(|i| &self.by_type[i as usize].1);
        }
        match self.by_type.binary_search_by_key(&qtype, |(t, _)| *t) {
            Ok(i) => Some(&self.by_type[i].1),
            Err(_) => self.other.as_deref(),
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
    stats: ZoneStats,
}

impl Zone {
    /// Loads and compiles the zone `origin` from the master file at `path`.
    /// Warnings (tolerated oddities) are returned beside the zone.
    pub fn load(origin: &Name, path: &Path) -> Result<(Zone, Vec<String>), ZoneError> {
        let (records, mut findings) = read_master_file(path, origin, None)?;
        let zone = build::build(origin, path, records, &mut findings)?;
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
    /// the apex. Returns `None` only for names outside the zone.
    pub fn lookup(&self, qname: &NameKey, qtype: u16) -> Option<&Answer> {
        Some(match self.tree.find(qname) {
            Found::Exact(node) | Found::Wildcard(node) => self.answers[node as usize]
                .get(qtype)
                .unwrap_or(&self.nodata),
            // DS lives on the parent side of a cut (RFC 4035 section 3.1.4.1).
            Found::Delegated { exact: true, .. } if qtype == rtype::DS => &self.nodata,
            Found::Delegated { cut, .. } => self.answers[cut as usize].referral.as_deref()?,
            Found::NxDomain => &self.nxdomain,
            Found::Outside => return None,
        })
    }
}

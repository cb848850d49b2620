//! A zone's records as read, in wire form, grouped by owner name and type.
//!
//! A zone can hold millions of records, and loading time goes mostly to
//! touching memory, so records are not kept one allocation each. While
//! the file is read ([`Grouper`]), each record is a fixed-size entry
//! pointing into one arena of names and RDATA, and each new owner name
//! gets a node. When reading ends, the entries are sorted by node and type
//! (stably: the file's order stands within an RRset) and each RRset's
//! RDATA is laid out end to end ([`ZoneData`]), ready to be copied into
//! answers.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use foldhash::fast::RandomState;
use hickory_proto::rr::RecordType;

use super::file::{Location, RawRecord};
use super::findings::{Findings, Peer};
use crate::wire::NameKey;
use crate::wire::answer::RdataSet;
use crate::wire::name::{MAX_NAME_LEN, is_at_or_below, name_len, wire_to_text};

/// Lowercase wire name to node.
pub(super) type NodeIndex = HashMap<Box<[u8]>, u32, RandomState>;

/// A record as read, before grouping.
struct Entry {
    node: u32,
    rtype: u16,
    /// For RRSIG: the type covered, as each covered type's signatures are
    /// a set of their own, with their own TTL.
    covered: u16,
    ttl: u32,
    /// RDATA in `Grouper::bytes`.
    at: u32,
    len: u16,
    line: Line,
}

/// Where a record is: a file of `ZoneData::files`, and a line in it.
#[derive(Clone, Copy)]
struct Line {
    file: u32,
    line: u32,
}

/// Groups records by owner name as they are read.
pub(super) struct Grouper {
    origin: Vec<u8>,
    /// Owner names and RDATA, as read.
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    /// Each node's name in `bytes`.
    names: Vec<u32>,
    index: NodeIndex,
    /// The last record's node and owner name in `bytes`: records of one
    /// name mostly come together, and then need no lookup.
    last: Option<(u32, std::ops::Range<usize>)>,
    files: Vec<Arc<Path>>,
    pub(super) first: Option<Location>,
}

impl Grouper {
    /// `expected` records: room is reserved up front, as growing a vector
    /// of a million entries by doubling copies it and touches twice the
    /// memory. Memory reserved and never written costs nothing resident.
    /// The index is sized for half as many names, as most zones have more
    /// than one record a name: growing a map of a million names rehashes
    /// every one of them at each doubling.
    pub(super) fn new(origin: &[u8], expected: usize) -> Self {
        Self {
            origin: origin.to_vec(),
            bytes: Vec::with_capacity(expected.saturating_mul(24)),
            entries: Vec::with_capacity(expected),
            names: Vec::with_capacity(expected),
            index: NodeIndex::with_capacity_and_hasher(expected / 2, Default::default()),
            last: None,
            files: Vec::new(),
            first: None,
        }
    }

    pub(super) fn add(
        &mut self,
        record: RawRecord<'_>,
        location: &Location,
        findings: &mut Findings,
    ) -> Result<(), String> {
        if self.first.is_none() {
            self.first = Some(location.clone());
        }
        if !is_at_or_below(record.owner, &self.origin) {
            findings.refused_by(
                Peer::Nsd,
                Some(location),
                format!(
                    "{} is outside the zone {}: ignored",
                    wire_to_text(record.owner),
                    wire_to_text(&self.origin)
                ),
            );
            return Ok(());
        }
        let too_large = || "the zone is too large: more than 4 GiB of names and RDATA".to_string();
        let node = match &self.last {
            Some((node, name)) if self.bytes[name.clone()] == *record.owner => *node,
            _ => {
                let mut lower = [0u8; MAX_NAME_LEN];
                let lower = lower
                    .get_mut(..record.owner.len())
                    .ok_or("the owner name is longer than 255 octets")?;
                for (dst, src) in lower.iter_mut().zip(record.owner) {
                    *dst = src.to_ascii_lowercase();
                }
                let node = match self.index.get(&*lower) {
                    Some(&node) => node,
                    None => {
                        let node = u32::try_from(self.names.len()).map_err(|_| too_large())?;
                        let at = u32::try_from(self.bytes.len()).map_err(|_| too_large())?;
                        self.bytes.extend_from_slice(record.owner);
                        self.names.push(at);
                        self.index.insert((*lower).into(), node);
                        node
                    }
                };
                let at = self.names[node as usize] as usize;
                self.last = Some((node, at..at + record.owner.len()));
                node
            }
        };
        let covered = match (record.rtype, record.rdata) {
            (46, [hi, lo, ..]) => u16::from_be_bytes([*hi, *lo]),
            _ => 0,
        };
        let at = u32::try_from(self.bytes.len()).map_err(|_| too_large())?;
        self.bytes.extend_from_slice(record.rdata);
        let file = match self
            .files
            .iter()
            .rposition(|f| Arc::ptr_eq(f, &location.file))
        {
            Some(file) => file,
            None => {
                self.files.push(location.file.clone());
                self.files.len() - 1
            }
        };
        self.entries.push(Entry {
            node,
            rtype: record.rtype,
            covered,
            ttl: record.ttl,
            at,
            // The reader refuses RDATA over 65535 octets.
            len: record.rdata.len() as u16,
            line: Line {
                file: file as u32,
                line: u32::try_from(location.line).unwrap_or(u32::MAX),
            },
        });
        Ok(())
    }

    /// Groups what was read into RRsets, dropping duplicate records and
    /// reporting them and RRsets whose TTLs differ (the first TTL stands,
    /// as RFC 2181 section 5.2 has it and BIND and NSD do).
    pub(super) fn finish(self, findings: &mut Findings) -> (ZoneData, NodeIndex) {
        let Grouper {
            bytes,
            entries,
            names: name_at,
            index,
            files,
            ..
        } = self;
        // Entries by node, in the order read: a counting sort.
        let mut starts = vec![0u32; name_at.len() + 1];
        for entry in &entries {
            starts[entry.node as usize + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut order = vec![0u32; entries.len()];
        let mut fill = starts.clone();
        for (i, entry) in entries.iter().enumerate() {
            let slot = &mut fill[entry.node as usize];
            order[*slot as usize] = i as u32;
            *slot += 1;
        }
        drop(fill);

        let mut data = ZoneData {
            names: Vec::with_capacity(name_at.len() * 16),
            rdata: Vec::with_capacity(bytes.len()),
            nodes: Vec::with_capacity(name_at.len()),
            rrsets: Vec::with_capacity(entries.len()),
            lines: Vec::with_capacity(entries.len()),
            files,
        };
        for (node, &at) in name_at.iter().enumerate() {
            let name = &bytes[at as usize..];
            let name = &name[..name_len(name).unwrap_or(name.len())];
            let name_at = data.names.len() as u32;
            data.names.extend_from_slice(name);
            let group = &mut order[starts[node] as usize..starts[node + 1] as usize];
            // Stable: within an RRset, the order of the file.
            group.sort_by_key(|&i| {
                let entry = &entries[i as usize];
                (entry.rtype, entry.covered)
            });
            let first_rrset = data.rrsets.len() as u32;
            let mut rest = &group[..];
            while let Some(&head) = rest.first() {
                let head = &entries[head as usize];
                let same = rest
                    .iter()
                    .take_while(|&&i| {
                        let e = &entries[i as usize];
                        (e.rtype, e.covered) == (head.rtype, head.covered)
                    })
                    .count();
                let (set, after) = rest.split_at(same);
                rest = after;
                data.push_rrset(name, &bytes, &entries, set, findings);
            }
            data.nodes.push(NodeData {
                name: name_at,
                name_len: name.len() as u8,
                rrsets: first_rrset,
                count: data.rrsets.len() as u32 - first_rrset,
            });
        }
        (data, index)
    }
}

/// A name of the zone and where its RRsets are.
#[derive(Clone, Copy)]
pub(super) struct NodeData {
    name: u32,
    name_len: u8,
    rrsets: u32,
    /// A name may own more RRsets than 16 bits count: an RRSIG set per
    /// covered type beside each type.
    count: u32,
}

/// One RRset: its type, TTL, and where its RDATA and lines are.
pub(super) struct Rrset {
    pub rtype: RecordType,
    /// For RRSIG: the type the signatures cover.
    pub covered: u16,
    pub ttl: u32,
    /// RDATA, each after its length, in `ZoneData::rdata`.
    at: u32,
    len: u32,
    /// The first record's line in `ZoneData::lines`, the others after it.
    lines: u32,
    count: u32,
}

/// A zone's records grouped into nodes and RRsets (see the module
/// documentation).
pub(super) struct ZoneData {
    /// Owner names, wire form as written.
    names: Vec<u8>,
    rdata: Vec<u8>,
    nodes: Vec<NodeData>,
    /// Each node's, sorted by type.
    rrsets: Vec<Rrset>,
    lines: Vec<Line>,
    files: Vec<Arc<Path>>,
}

impl ZoneData {
    /// Adds the records `set` (entries of one type at `owner`, in the
    /// file's order) as an RRset.
    fn push_rrset(
        &mut self,
        owner: &[u8],
        bytes: &[u8],
        entries: &[Entry],
        set: &[u32],
        findings: &mut Findings,
    ) {
        let head = &entries[set[0] as usize];
        let rtype = RecordType::from(head.rtype);
        let at = self.rdata.len();
        let lines = self.lines.len() as u32;
        let rdata_of = |e: &Entry| &bytes[e.at as usize..e.at as usize + usize::from(e.len)];
        for (k, &i) in set.iter().enumerate() {
            let entry = &entries[i as usize];
            let rdata = rdata_of(entry);
            let location = || self.location_of(entry.line);
            if set[..k]
                .iter()
                .any(|&j| same_rdata(head.rtype, rdata_of(&entries[j as usize]), rdata))
            {
                let message = format!(
                    "duplicate {rtype} record for {} ignored",
                    wire_to_text(owner)
                );
                match rtype {
                    RecordType::SOA => findings.refused_by(Peer::Nsd, Some(&location()), message),
                    _ => findings.warn(Some(&location()), message),
                }
                continue;
            }
            if entry.ttl != head.ttl {
                findings.warn(
                    Some(&location()),
                    format!(
                        "TTL {} differs from {} in the {rtype} RRset of {}; using {}",
                        entry.ttl,
                        head.ttl,
                        wire_to_text(owner),
                        head.ttl
                    ),
                );
            }
            self.rdata.extend_from_slice(&entry.len.to_be_bytes());
            self.rdata.extend_from_slice(rdata);
            self.lines.push(entry.line);
        }
        self.rrsets.push(Rrset {
            rtype,
            covered: head.covered,
            ttl: head.ttl,
            at: at as u32,
            len: (self.rdata.len() - at) as u32,
            lines,
            count: self.lines.len() as u32 - lines,
        });
    }

    fn location_of(&self, line: Line) -> Location {
        Location {
            file: self.files[line.file as usize].clone(),
            line: line.line as usize,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.nodes.len()
    }

    pub(super) fn node(&self, i: u32) -> Node<'_> {
        Node {
            data: self,
            node: self.nodes[i as usize],
        }
    }

    pub(super) fn nodes(&self) -> impl Iterator<Item = Node<'_>> {
        self.nodes.iter().map(|&node| Node { data: self, node })
    }

    /// Adds a node without records for `name`, which must be a suffix of
    /// node `of`'s name (an empty non-terminal above it). Returns its index.
    pub(super) fn add_ancestor(&mut self, of: u32, skip_octets: usize) -> u32 {
        let child = self.nodes[of as usize];
        self.nodes.push(NodeData {
            name: child.name + skip_octets as u32,
            name_len: child.name_len - skip_octets as u8,
            rrsets: 0,
            count: 0,
        });
        (self.nodes.len() - 1) as u32
    }

    /// The RRset's records, ready for an answer.
    pub(super) fn set(&self, rrset: &Rrset) -> RdataSet<'_> {
        RdataSet {
            rtype: u16::from(rrset.rtype),
            ttl: rrset.ttl,
            packed: &self.rdata[rrset.at as usize..(rrset.at + rrset.len) as usize],
        }
    }

    /// The same records with another TTL.
    pub(super) fn set_with_ttl(&self, rrset: &Rrset, ttl: u32) -> RdataSet<'_> {
        RdataSet {
            ttl,
            ..self.set(rrset)
        }
    }

    /// Each record's RDATA.
    pub(super) fn rdatas<'a>(&'a self, rrset: &Rrset) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.set(rrset).iter()
    }

    /// The first record's RDATA.
    pub(super) fn first_rdata(&self, rrset: &Rrset) -> &[u8] {
        self.rdatas(rrset).next().unwrap_or_default()
    }

    /// Where the RRset's first record was read; every RRset has one.
    pub(super) fn first_location(&self, rrset: &Rrset) -> Location {
        self.location_of(self.lines[rrset.lines as usize])
    }

    /// Where the RRset's `k`th record (in the file's order) was read.
    pub(super) fn location(&self, rrset: &Rrset, k: usize) -> Option<Location> {
        if k >= rrset.count as usize {
            return None;
        }
        let line = *self.lines.get(rrset.lines as usize + k)?;
        Some(self.location_of(line))
    }

    /// Records in all.
    pub(super) fn records(&self) -> usize {
        self.lines.len()
    }

    pub(super) fn rrset_count(&self) -> usize {
        self.rrsets.len()
    }
}

/// One node, and the zone it is in.
#[derive(Clone, Copy)]
pub(super) struct Node<'a> {
    data: &'a ZoneData,
    node: NodeData,
}

impl<'a> Node<'a> {
    /// The owner name, wire form as written.
    pub(super) fn name(&self) -> &'a [u8] {
        let at = self.node.name as usize;
        &self.data.names[at..at + usize::from(self.node.name_len)]
    }

    /// The owner name, for messages.
    pub(super) fn text(&self) -> String {
        wire_to_text(self.name())
    }

    /// The name as a lookup key; made when needed rather than kept, as a
    /// key is 385 octets and a zone can have millions of names.
    pub(super) fn key(&self) -> NameKey {
        NameKey::from_wire(self.name()).unwrap_or_else(NameKey::root)
    }

    pub(super) fn rrsets(&self) -> &'a [Rrset] {
        let first = self.node.rrsets as usize;
        &self.data.rrsets[first..first + self.node.count as usize]
    }

    pub(super) fn rrset(&self, rtype: RecordType) -> Option<&'a Rrset> {
        self.rrsets().iter().find(|r| r.rtype == rtype)
    }

    /// The RRSIGs covering this node's `rtype` RRset.
    pub(super) fn sigs(&self, rtype: RecordType) -> Option<&'a Rrset> {
        let covered = u16::from(rtype);
        self.rrsets()
            .iter()
            .find(|r| r.rtype == RecordType::RRSIG && r.covered == covered)
    }
}

/// Whether two records of type `rtype` are the same record. For the RFC
/// 1035 types whose names hickory-proto compared without case before, names
/// compare without ASCII case (RFC 4343); other RDATA compares octet for
/// octet.
fn same_rdata(rtype: u16, a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    // Octets before the names, and how many names follow.
    let (before, names) = match rtype {
        2 | 5 | 12 => (0, 1),
        15 => (2, 1),
        33 => (6, 1),
        6 => (0, 2),
        _ => return a == b,
    };
    if a[..before.min(a.len())] != b[..before.min(b.len())] {
        return false;
    }
    let (mut at_a, mut at_b) = (before, before);
    for _ in 0..names {
        let (Some(la), Some(lb)) = (
            a.get(at_a..).and_then(name_len),
            b.get(at_b..).and_then(name_len),
        ) else {
            return a == b;
        };
        if !a[at_a..at_a + la].eq_ignore_ascii_case(&b[at_b..at_b + lb]) {
            return false;
        }
        at_a += la;
        at_b += lb;
    }
    a[at_a..] == b[at_b..]
}

//! Turning a zone's records into a checked tree and its prebuilt answers.
//!
//! The checks are those of named-checkzone and NSD, no stricter than the
//! more lenient of the two, so a zone either loads also loads here: one SOA
//! at the apex, a CNAME alone at its name (but for its DNSSEC records), no
//! CNAME beside a DNAME. What they load with a warning loads here with one:
//! records outside the zone (ignored), no NS at the apex, data a
//! delegation or DNAME hides (kept, never served), TTLs that differ within
//! an RRset (the first one stands). Then every answer the zone can give is
//! encoded once: each RRset with its additional data, each CNAME chain
//! followed to its end, each referral, NXDOMAIN and NODATA.

use std::collections::HashMap;
use std::path::Path;

use foldhash::fast::RandomState;
use hickory_proto::rr::{Name, RData, RecordType};

use super::denial::{self, Chain};
use super::file::{Location, SourceRecord, ZoneError};
use super::findings::{Findings, Peer};
use super::{
    Denial, DnameAnswer, Found, NONE, NodeAnswers, NodeKind, NodeProof, RareAnswers, Signed, Tree,
    Zone, ZoneStats,
};
use crate::wire::{Answer, AnswerBuilder, NameKey, Owner, Piece, Section, rcode};

/// Longest CNAME chain followed inside a zone; longer ones (or loops) are
/// answered as far as this and reported when the zone loads.
const MAX_CHAIN: usize = 8;

/// One RRset as read, with the line of each record.
struct Rrset {
    rtype: RecordType,
    /// For RRSIG: the type the signatures cover; each covered type is its
    /// own set, with its own TTL.
    covered: u16,
    ttl: u32,
    rdatas: Vec<RData>,
    locations: Vec<Location>,
}

/// A name and its RRsets, sorted by type once all records are in.
struct NodeData {
    name: Name,
    rrsets: Vec<Rrset>,
}

impl NodeData {
    /// The name as a lookup key; made when needed rather than kept, as a
    /// key is 385 octets and a zone can have millions of names.
    fn key(&self) -> NameKey {
        NameKey::from_name(&self.name)
    }

    fn rrset(&self, rtype: RecordType) -> Option<&Rrset> {
        self.rrsets.iter().find(|r| r.rtype == rtype)
    }

    /// The RRSIGs covering this node's `rtype` RRset.
    fn sigs(&self, rtype: RecordType) -> Option<&Rrset> {
        let covered = u16::from(rtype);
        self.rrsets
            .iter()
            .find(|r| r.rtype == RecordType::RRSIG && r.covered == covered)
    }
}

/// The wire bytes of RDATA kept as read (every type the compiler does not
/// decode).
fn raw(rdata: &RData) -> &[u8] {
    match rdata {
        RData::Unknown { rdata, .. } => &rdata.anything,
        _ => &[],
    }
}

pub(super) fn build(
    origin: &Name,
    path: &Path,
    grouped: Grouper,
    findings: &mut Findings,
) -> Result<Zone, ZoneError> {
    // A missing SOA is reported at the zone's first record, where an
    // operator would put it.
    let first = grouped.first.clone();
    let no_soa = || match &first {
        Some(location) => ZoneError::at(
            location,
            format!("no SOA record at the zone apex {origin}: a zone starts with one"),
        ),
        None => ZoneError::at(
            &Location {
                file: std::sync::Arc::from(path),
                line: 1,
            },
            format!("the file holds no records: no SOA record at the zone apex {origin}"),
        ),
    };
    let (mut nodes, mut index) = grouped.finish();
    let apex = NameKey::from_name(origin);
    let Some(&apex_node) = index.get(apex.as_bytes()) else {
        return Err(no_soa());
    };
    if nodes[apex_node as usize].rrset(RecordType::SOA).is_none() {
        return Err(no_soa());
    }
    check_apex(&nodes[apex_node as usize], origin)?;
    if nodes[apex_node as usize].rrset(RecordType::NS).is_none() {
        findings.refused_by(
            Peer::Bind,
            None,
            format!("no NS records at the zone apex {origin}"),
        );
    }
    let errors: Vec<ZoneError> = nodes
        .iter()
        .enumerate()
        .filter_map(|(i, node)| check_node(node, i as u32 == apex_node, origin).err())
        .collect();
    if let Some(error) = ZoneError::gather(errors) {
        return Err(error);
    }
    add_empty_non_terminals(&mut nodes, &mut index, &apex);
    let mut tree = link_tree(&nodes, index, apex, findings);
    // RFC 5155 section 7.2.8: an NSEC3 owner name is no name of the zone;
    // a query for it is answered as for any name that does not exist.
    tree.index.retain(|_, node| {
        !nodes[*node as usize].rrsets.iter().all(|r| {
            r.rtype == RecordType::NSEC3
                || (r.rtype == RecordType::RRSIG && r.covered == u16::from(RecordType::NSEC3))
        }) || nodes[*node as usize].rrsets.is_empty()
    });

    let soa_set = nodes[apex_node as usize]
        .rrset(RecordType::SOA)
        .ok_or_else(|| ZoneError::in_file(path, "no SOA record at the zone apex"))?;
    let Some(RData::SOA(soa)) = soa_set.rdatas.first() else {
        return Err(ZoneError::in_file(path, "no SOA record at the zone apex"));
    };
    let compiler = Compiler {
        origin,
        tree: &tree,
        nodes: &nodes,
        soa: soa_set,
        // RFC 2308 section 3: the lesser of the SOA's TTL and MINIMUM.
        negative_ttl: soa_set.ttl.min(soa.minimum),
        signed: None,
    };
    let (nxdomain, nodata, answers) = compiler.all_answers(findings)?;

    // A zone with signatures is served signed to DO=1 queries.
    let signed = if nodes.iter().any(|n| n.rrset(RecordType::RRSIG).is_some()) {
        let chain = denial_chain(&nodes, &tree, apex_node);
        let mut proofs = node_proofs(&nodes, &tree, &chain);
        let pieces = encode_pieces(&nodes, &chain, &mut proofs)?;
        let denial = Denial { chain, proofs };
        let (nxdomain, nodata, answers) = Compiler {
            signed: Some(&denial),
            ..compiler
        }
        .all_answers(findings)?;
        Some(Box::new(Signed {
            answers,
            nxdomain,
            nodata,
            denial,
            pieces,
        }))
    } else {
        None
    };

    let stats = ZoneStats {
        serial: soa.serial,
        records: nodes
            .iter()
            .flat_map(|n| &n.rrsets)
            .map(|r| r.rdatas.len())
            .sum(),
        rrsets: nodes.iter().map(|n| n.rrsets.len()).sum(),
        names: nodes.iter().filter(|n| !n.rrsets.is_empty()).count(),
        delegations: tree
            .kinds
            .iter()
            .filter(|k| **k == NodeKind::Delegation)
            .count(),
    };
    let zone = Zone {
        origin: origin.clone(),
        tree,
        answers,
        nxdomain,
        nodata,
        signed,
        stats,
    };
    Ok(zone)
}

type NodeIndex = HashMap<Box<[u8]>, u32, RandomState>;

/// Groups records into RRsets by owner name and type as they are read.
pub(super) struct Grouper {
    origin: Name,
    nodes: Vec<NodeData>,
    index: NodeIndex,
    first: Option<Location>,
}

impl Grouper {
    /// `expected` names: room is reserved up front, as growing a vector of
    /// a million nodes by doubling copies it and touches twice the memory.
    /// Memory reserved and never written costs nothing resident.
    pub(super) fn new(origin: &Name, expected: usize) -> Self {
        Self {
            origin: origin.clone(),
            nodes: Vec::with_capacity(expected),
            index: NodeIndex::default(),
            first: None,
        }
    }

    pub(super) fn add(&mut self, source: SourceRecord, findings: &mut Findings) {
        let SourceRecord { record, location } = source;
        if self.first.is_none() {
            self.first = Some(location.clone());
        }
        let origin = &self.origin;
        if !origin.zone_of(&record.name) {
            findings.refused_by(
                Peer::Nsd,
                Some(&location),
                format!("{} is outside the zone {origin}: ignored", record.name),
            );
            return;
        }
        let key = NameKey::from_name(&record.name);
        let at = match self.index.get(key.as_bytes()) {
            Some(&at) => at,
            None => {
                let at = self.nodes.len() as u32;
                self.index.insert(key.as_bytes().into(), at);
                // Most names own one RRset; a Vec's first growth would
                // make room for four.
                self.nodes.push(NodeData {
                    name: record.name.clone(),
                    rrsets: Vec::with_capacity(1),
                });
                at
            }
        };
        let node = &mut self.nodes[at as usize];
        let rtype = record.record_type();
        let covered = match rtype {
            RecordType::RRSIG => match raw(&record.data) {
                [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
                _ => 0,
            },
            _ => 0,
        };
        match node
            .rrsets
            .iter_mut()
            .find(|r| r.rtype == rtype && r.covered == covered)
        {
            Some(rrset) => {
                if rrset.rdatas.contains(&record.data) {
                    let message = format!("duplicate {rtype} record for {} ignored", record.name);
                    match rtype {
                        RecordType::SOA => findings.refused_by(Peer::Nsd, Some(&location), message),
                        _ => findings.warn(Some(&location), message),
                    }
                    return;
                }
                if rrset.ttl != record.ttl {
                    // RFC 2181 section 5.2: one TTL per RRset; BIND and NSD
                    // keep the first.
                    findings.warn(
                        Some(&location),
                        format!(
                            "TTL {} differs from {} in the {rtype} RRset of {}; using {}",
                            record.ttl, rrset.ttl, record.name, rrset.ttl
                        ),
                    );
                }
                rrset.rdatas.push(record.data);
                rrset.locations.push(location);
            }
            None => node.rrsets.push(Rrset {
                rtype,
                covered,
                ttl: record.ttl,
                rdatas: vec![record.data],
                locations: vec![location],
            }),
        }
    }

    fn finish(mut self) -> (Vec<NodeData>, NodeIndex) {
        for node in &mut self.nodes {
            node.rrsets.sort_by_key(|r| (u16::from(r.rtype), r.covered));
        }
        (self.nodes, self.index)
    }
}

fn check_apex(apex: &NodeData, origin: &Name) -> Result<(), ZoneError> {
    let Some(soa) = apex.rrset(RecordType::SOA) else {
        return Ok(());
    };
    if let Some(second) = soa.locations.get(1) {
        return Err(ZoneError::at(
            second,
            format!(
                "second SOA record for {origin} (the first is at line {})",
                soa.locations[0].line
            ),
        ));
    }
    Ok(())
}

/// Checks that need only the node itself.
fn check_node(node: &NodeData, is_apex: bool, origin: &Name) -> Result<(), ZoneError> {
    if let (Some(soa), false) = (node.rrset(RecordType::SOA), is_apex) {
        return Err(ZoneError::at(
            &soa.locations[0],
            format!(
                "SOA record for {} is not at the zone apex {origin}",
                node.name
            ),
        ));
    }
    if let Some(dname) = node.rrset(RecordType::DNAME)
        && let Some(second) = dname.locations.get(1)
    {
        return Err(ZoneError::at(
            second,
            format!(
                "second DNAME record for {} (the first is at line {}): a name has one DNAME at most",
                node.name, dname.locations[0].line
            ),
        ));
    }
    let Some(cname) = node.rrset(RecordType::CNAME) else {
        return Ok(());
    };
    if let Some(dname) = node.rrset(RecordType::DNAME) {
        return Err(ZoneError::at(
            &dname.locations[0],
            format!(
                "{} has a CNAME and a DNAME (line {})",
                node.name, cname.locations[0].line
            ),
        ));
    }
    if let Some(second) = cname.locations.get(1) {
        return Err(ZoneError::at(
            second,
            format!(
                "second CNAME record for {} (the first is at line {})",
                node.name, cname.locations[0].line
            ),
        ));
    }
    // A CNAME's own signature and NSEC record live beside it (RFC 4035
    // section 2.5); anything else is an error to BIND and NSD alike.
    let beside =
        |t: RecordType| matches!(t, RecordType::CNAME | RecordType::RRSIG | RecordType::NSEC);
    if let Some(other) = node.rrsets.iter().find(|r| !beside(r.rtype)) {
        // Report whichever of the two comes later in the file.
        let (later, earlier) = if other.locations[0].line > cname.locations[0].line {
            (&other.locations[0], &cname.locations[0])
        } else {
            (&cname.locations[0], &other.locations[0])
        };
        return Err(ZoneError::at(
            later,
            format!(
                "{} has a CNAME and other data ({} record); a CNAME must be alone at its name (see line {})",
                node.name, other.rtype, earlier.line
            ),
        ));
    }
    Ok(())
}

/// Adds a node with no data for every name between the apex and an
/// existing name (RFC 4592 section 2.2.2): such names answer NODATA, not
/// NXDOMAIN.
fn add_empty_non_terminals(nodes: &mut Vec<NodeData>, index: &mut NodeIndex, apex: &NameKey) {
    let mut i = 0;
    while i < nodes.len() {
        let (name, key) = (nodes[i].name.clone(), nodes[i].key());
        i += 1;
        if key.label_count() <= apex.label_count() {
            continue;
        }
        let parent_key = key.suffix(1);
        if index.contains_key(parent_key) {
            continue;
        }
        let parent = name.base_name();
        index.insert(parent_key.into(), nodes.len() as u32);
        nodes.push(NodeData {
            name: parent,
            rrsets: Vec::new(),
        });
    }
}

/// Finds each node's kind and each wildcard's parent. What a delegation
/// hides (anything at the cut but its NS, DS and their DNSSEC records, and
/// anything below it but glue) is kept and never served, as BIND and NSD
/// do, with a warning.
fn link_tree(nodes: &[NodeData], index: NodeIndex, apex: NameKey, findings: &mut Findings) -> Tree {
    let mut kinds = vec![NodeKind::Authoritative; nodes.len()];
    let mut wildcards = vec![NONE; nodes.len()];
    // Most zones have no DNAME, and many no cut: then no name needs its
    // ancestors looked up.
    let owns = |rtype: RecordType, below: usize| {
        nodes
            .iter()
            .any(|n| n.rrset(rtype).is_some() && n.key().label_count() + below > apex.label_count())
    };
    let (any_cut, any_dname) = (owns(RecordType::NS, 0), owns(RecordType::DNAME, 1));
    for (i, node) in nodes.iter().enumerate() {
        let key = node.key();
        let below_apex = key.label_count() - apex.label_count();
        let cut_levels = if any_cut { below_apex } else { 0 };
        let dname_levels = if any_dname { below_apex } else { 0 };
        // The highest cut above a name decides: nothing under it is ours.
        let cut = (0..cut_levels).rev().find_map(|skip| {
            let at = *index.get(key.suffix(skip))?;
            nodes[at as usize].rrset(RecordType::NS).map(|_| at)
        });
        if let Some(cut) = cut {
            let cut_node = &nodes[cut as usize];
            let at_cut = cut as usize == i;
            if at_cut && key.is_wildcard() {
                findings.refused_by(
                    Peer::Bind,
                    Some(&node.rrsets[0].locations[0]),
                    format!("{} is a wildcard with NS records: a delegation of that name only, never a synthesised one", node.name),
                );
            }
            let served = |t: RecordType| {
                matches!(t, RecordType::A | RecordType::AAAA)
                    || (at_cut
                        && matches!(
                            t,
                            RecordType::NS | RecordType::DS | RecordType::RRSIG | RecordType::NSEC
                        ))
            };
            for hidden in node.rrsets.iter().filter(|r| !served(r.rtype)) {
                findings.warn(
                    Some(&hidden.locations[0]),
                    format!(
                        "{} {} record is inside the delegation to {}: kept, never served",
                        node.name, hidden.rtype, cut_node.name
                    ),
                );
            }
            kinds[i] = if at_cut {
                NodeKind::Delegation
            } else {
                NodeKind::Glue { cut }
            };
        }
        // RFC 6672 section 2.4: a DNAME hides the names below it; the
        // highest one decides, as resolution meets it first.
        let dname = (1..=dname_levels).rev().find_map(|skip| {
            let at = *index.get(key.suffix(skip))?;
            nodes[at as usize].rrset(RecordType::DNAME).map(|_| at)
        });
        if kinds[i] == NodeKind::Authoritative {
            if let Some(owner) = dname {
                kinds[i] = NodeKind::Occluded { dname: owner };
            } else if node.rrset(RecordType::DNAME).is_some() {
                kinds[i] = NodeKind::Dname;
            }
        }
        if let Some(owner) = dname
            && let Some(first) = node.rrsets.first()
        {
            findings.refused_by(
                Peer::Nsd,
                Some(&first.locations[0]),
                format!(
                    "{} is below the DNAME at {}: kept, never served",
                    node.name, nodes[owner as usize].name
                ),
            );
        }
        if key.is_wildcard()
            && kinds[i] == NodeKind::Authoritative
            && let Some(&parent) = index.get(key.suffix(1))
        {
            wildcards[parent as usize] = i as u32;
        }
    }
    Tree {
        apex,
        index,
        kinds,
        wildcards,
    }
}

/// How a CNAME chain inside the zone ends.
enum ChainEnd {
    /// At a name with data (or none): `node`, reached as `owner`.
    Node {
        owner: Name,
        node: u32,
    },
    /// At a name that does not exist, with how the tree found it.
    NxDomain {
        key: Box<NameKey>,
        found: Found,
    },
    Delegated {
        cut: u32,
    },
    /// Leaves the zone, or meets a DNAME: the client's resolver goes on
    /// from here.
    Outside,
    /// Too long, or a loop.
    TooLong,
}

/// What follows the answer section of an answer.
enum Tail<'a> {
    /// Additional A/AAAA for NS, MX and SRV targets in the zone; in a
    /// signed answer, the links proving the wildcard expansions of a CNAME
    /// chain in authority.
    Additional(&'a [u32]),
    /// Negative answer: the SOA in authority, and in a signed answer the
    /// NSEC or NSEC3 links of these nodes.
    Negative(u16, &'a [u32]),
    /// The NS of a cut in authority, glue in additional.
    Referral(u32),
    Nothing,
}

/// One RRset of an answer: its owner, and its RRSIGs when signed.
type Part<'a> = (Owner<'a>, &'a Rrset, Option<&'a Rrset>);

struct Compiler<'a> {
    origin: &'a Name,
    tree: &'a Tree,
    nodes: &'a [NodeData],
    soa: &'a Rrset,
    negative_ttl: u32,
    /// Building the DO=1 answers of a signed zone.
    signed: Option<&'a Denial>,
}

impl<'a> Compiler<'a> {
    /// NXDOMAIN, NODATA, and every node's answers.
    fn all_answers(
        &self,
        findings: &mut Findings,
    ) -> Result<(Answer, Answer, Vec<NodeAnswers>), ZoneError> {
        let nxdomain = self.negative(rcode::NXDOMAIN)?;
        let nodata = self.negative(rcode::NOERROR)?;
        let mut answers = Vec::with_capacity(self.nodes.len());
        for i in 0..self.nodes.len() {
            answers.push(self.node_answers(i as u32, findings)?);
        }
        Ok((nxdomain, nodata, answers))
    }

    fn negative(&self, rcode: u16) -> Result<Answer, ZoneError> {
        self.compose(&self.tree.apex, &[], Tail::Negative(rcode, &[]))
    }

    /// `rrset` of `node` as an answer part, with its RRSIGs if signed.
    fn part(&self, owner: Owner<'a>, node: &'a NodeData, rrset: &'a Rrset) -> Part<'a> {
        let sigs = match (self.signed, rrset.rtype) {
            (None, _) | (_, RecordType::RRSIG) => None,
            (Some(_), rtype) => node.sigs(rtype),
        };
        (owner, rrset, sigs)
    }

    fn node_answers(&self, i: u32, findings: &mut Findings) -> Result<NodeAnswers, ZoneError> {
        let node = &self.nodes[i as usize];
        match self.tree.kinds[i as usize] {
            NodeKind::Glue { .. } | NodeKind::Occluded { .. } => {
                return Ok(NodeAnswers::default());
            }
            NodeKind::Delegation => {
                // The DS RRset is the parent's, answered here (RFC 4035
                // section 3.1.4.1).
                let by_type = match node.rrset(RecordType::DS) {
                    Some(ds) => {
                        let part = self.part(Owner::Qname, node, ds);
                        vec![(
                            u16::from(RecordType::DS),
                            self.compose(&node.key(), &[part], Tail::Nothing)?,
                        )]
                    }
                    None => Vec::new(),
                };
                let referral = self.compose(&node.key(), &[], Tail::Referral(i))?;
                let rare = RareAnswers {
                    referral: Some(referral),
                    ..RareAnswers::default()
                };
                return Ok(NodeAnswers::new(by_type, None, rare));
            }
            NodeKind::Authoritative | NodeKind::Dname => {}
        }
        let dname = match node.rrset(RecordType::DNAME) {
            Some(rrset) if self.tree.kinds[i as usize] == NodeKind::Dname => {
                Some(self.dname_answer(node, rrset)?)
            }
            _ => None,
        };
        // A wildcard's answers serve every name it synthesises, so they are
        // framed on its parent, the part those names share.
        let key = node.key();
        let frame = if key.is_wildcard() {
            NameKey::from_wire(key.suffix(1)).unwrap_or_else(|| self.tree.apex.clone())
        } else {
            key.clone()
        };
        let Some(cname) = node.rrset(RecordType::CNAME) else {
            let mut by_type: Vec<(u16, Answer)> = Vec::with_capacity(node.rrsets.len());
            for (at, rrset) in node.rrsets.iter().enumerate() {
                let answer = if rrset.rtype == RecordType::RRSIG {
                    if at > 0 && node.rrsets[at - 1].rtype == RecordType::RRSIG {
                        continue;
                    }
                    self.rrsig_answer(&frame, node)?
                } else {
                    let part = self.part(Owner::Qname, node, rrset);
                    self.compose(&frame, &[part], Tail::Additional(&[]))?
                };
                by_type.push((u16::from(rrset.rtype), answer));
            }
            let any = (!by_type.is_empty()).then_some(0);
            let rare = RareAnswers {
                dname,
                ..RareAnswers::default()
            };
            return Ok(NodeAnswers::new(by_type, any, rare));
        };

        let first = self.part(Owner::Qname, node, cname);
        let mut by_type = vec![(
            u16::from(RecordType::CNAME),
            self.compose(&frame, &[first], Tail::Nothing)?,
        )];
        // The CNAME's own DNSSEC records answer for themselves.
        for rrset in node.rrsets.iter().filter(|r| r.rtype != RecordType::CNAME) {
            if rrset.rtype == RecordType::RRSIG {
                if !by_type
                    .iter()
                    .any(|(t, _)| *t == u16::from(RecordType::RRSIG))
                {
                    let answer = self.rrsig_answer(&frame, node)?;
                    by_type.push((u16::from(RecordType::RRSIG), answer));
                }
                continue;
            }
            let part = self.part(Owner::Qname, node, rrset);
            by_type.push((
                u16::from(rrset.rtype),
                self.compose(&frame, &[part], Tail::Nothing)?,
            ));
        }
        let (links, end, expanded) = self.follow_chain(&key, cname);
        let mut chain: Vec<Part<'_>> = vec![first];
        chain.extend(links.iter().map(|(owner, at, rrset)| {
            self.part(Owner::Name(owner), &self.nodes[*at as usize], rrset)
        }));
        let other = match end {
            ChainEnd::Node {
                ref owner,
                node: end,
            } => {
                let end_node = &self.nodes[end as usize];
                for rrset in &end_node.rrsets {
                    if rrset.rtype == RecordType::RRSIG
                        || by_type.iter().any(|(t, _)| *t == u16::from(rrset.rtype))
                    {
                        continue;
                    }
                    let mut full = chain.clone();
                    full.push(self.part(Owner::Name(owner), end_node, rrset));
                    let answer = self.compose(&frame, &full, Tail::Additional(expanded.nodes()))?;
                    by_type.push((u16::from(rrset.rtype), answer));
                }
                let links = self.proof_links(Found::Exact(end), &NameKey::from_name(owner));
                self.compose(
                    &frame,
                    &chain,
                    Tail::Negative(rcode::NOERROR, links.nodes()),
                )?
            }
            // RFC 6604: the rcode is that of the last name in the chain.
            ChainEnd::NxDomain { ref key, found } => {
                let links = self.proof_links(found, key);
                self.compose(
                    &frame,
                    &chain,
                    Tail::Negative(rcode::NXDOMAIN, links.nodes()),
                )?
            }
            ChainEnd::Delegated { cut } => self.compose(&frame, &chain, Tail::Referral(cut))?,
            ChainEnd::Outside => self.compose(&frame, &chain, Tail::Nothing)?,
            ChainEnd::TooLong => {
                if self.signed.is_none() {
                    findings.warn(
                        Some(&cname.locations[0]),
                        format!(
                            "the CNAME chain from {} loops or is longer than {MAX_CHAIN}",
                            node.name
                        ),
                    );
                }
                self.compose(&frame, &chain, Tail::Nothing)?
            }
        };
        by_type.sort_by_key(|(t, _)| *t);
        let any = by_type
            .iter()
            .position(|(t, _)| *t == u16::from(RecordType::CNAME))
            .map(|i| i as u16);
        let rare = RareAnswers {
            other: Some(other),
            referral: None,
            dname,
        };
        Ok(NodeAnswers::new(by_type, any, rare))
    }

    /// An RRSIG query gets every signature at the name, each covered
    /// type's set with its own TTL.
    fn rrsig_answer(&self, frame: &NameKey, node: &NodeData) -> Result<Answer, ZoneError> {
        let parts: Vec<Part<'_>> = node
            .rrsets
            .iter()
            .filter(|r| r.rtype == RecordType::RRSIG)
            .map(|r| (Owner::Qname, r, None))
            .collect();
        self.compose(frame, &parts, Tail::Nothing)
    }

    /// The links a negative answer about `key` carries, in a signed zone.
    fn proof_links(&self, found: Found, key: &NameKey) -> super::Links {
        match self.signed {
            Some(signed) => signed.links(found, key, false),
            None => super::Links::default(),
        }
    }

    /// The DNAME RRset, with room after it for the synthesised CNAME.
    fn dname_answer(&self, node: &NodeData, rrset: &Rrset) -> Result<DnameAnswer, ZoneError> {
        let mut builder = AnswerBuilder::new(&node.key());
        // The DNAME's owner is the frame: written as a name, it points at
        // the question's tail, where `Qname` would name the whole question.
        let (owner, rrset, sigs) = self.part(Owner::Name(&node.name), node, rrset);
        self.push(&mut builder, Section::Answer, owner, rrset, sigs, false)?;
        builder.splice_here(Section::Answer);
        let target = rrset.rdatas.first().map(raw).unwrap_or_default();
        Ok(DnameAnswer {
            answer: builder.finish(rcode::NOERROR, true),
            target: target.into(),
            ttl: rrset.ttl,
        })
    }

    /// Follows CNAMEs after the first one (owned by `start`), inside the
    /// zone, stopping where a name repeats. Also returns, for a signed
    /// zone, the links proving the names reached through wildcards do not
    /// exist themselves (RFC 4035 section 3.1.3.3).
    #[allow(clippy::type_complexity)]
    fn follow_chain(
        &self,
        start: &NameKey,
        first: &'a Rrset,
    ) -> (Vec<(Name, u32, &'a Rrset)>, ChainEnd, super::Links) {
        let mut links: Vec<(Name, u32, &Rrset)> = Vec::new();
        let mut expanded = super::Links::default();
        let mut rrset = first;
        loop {
            let Some(RData::CNAME(target)) = rrset.rdatas.first() else {
                return (links, ChainEnd::Outside, expanded);
            };
            let target = target.0.clone();
            let key = NameKey::from_name(&target);
            if key == *start
                || links
                    .iter()
                    .any(|(owner, _, _)| NameKey::from_name(owner) == key)
            {
                return (links, ChainEnd::TooLong, expanded);
            }
            let found = self.tree.find(&key);
            let node = match found {
                Found::Exact(node) => node,
                Found::Wildcard { wildcard, .. } => {
                    if let Some(signed) = self.signed {
                        expanded.extend(&signed.links(found, &key, true));
                    }
                    wildcard
                }
                Found::Delegated { cut, .. } => {
                    return (links, ChainEnd::Delegated { cut }, expanded);
                }
                Found::NxDomain { .. } => {
                    return (
                        links,
                        ChainEnd::NxDomain {
                            key: Box::new(key),
                            found,
                        },
                        expanded,
                    );
                }
                Found::Dname(_) | Found::Outside => return (links, ChainEnd::Outside, expanded),
            };
            match self.nodes[node as usize].rrset(RecordType::CNAME) {
                Some(next) if links.len() < MAX_CHAIN => {
                    links.push((target, node, next));
                    rrset = next;
                }
                Some(_) => return (links, ChainEnd::TooLong, expanded),
                None => {
                    let end = ChainEnd::Node {
                        owner: target,
                        node,
                    };
                    return (links, end, expanded);
                }
            }
        }
    }

    /// Encodes an answer: `answer` RRsets, then whatever `tail` adds. In a
    /// signed answer, what a query adds (denial links) goes at the end of
    /// the authority section, before the additional data.
    fn compose(
        &self,
        frame: &NameKey,
        answer: &[Part<'_>],
        tail: Tail<'_>,
    ) -> Result<Answer, ZoneError> {
        let mut builder = AnswerBuilder::new(frame);
        for (owner, rrset, sigs) in answer {
            self.push(&mut builder, Section::Answer, *owner, rrset, *sigs, false)?;
        }
        let mut seen: Vec<(NameKey, RecordType)> = Vec::new();
        let (rcode, authoritative) = match tail {
            Tail::Additional(links) => {
                self.push_links(&mut builder, links)?;
                self.splice(&mut builder);
                for (_, rrset, _) in answer {
                    for target in rrset.rdatas.iter().filter_map(additional_target) {
                        self.push_addresses(&mut builder, target, false, &mut seen)?;
                    }
                }
                (rcode::NOERROR, true)
            }
            Tail::Negative(rcode, links) => {
                let apex = &self.nodes[self.tree.index[self.tree.apex.as_bytes()] as usize];
                let sigs = self.signed.and_then(|_| apex.sigs(RecordType::SOA));
                builder
                    .push_signed_rrset(
                        Section::Authority,
                        Owner::Name(self.origin),
                        (self.negative_ttl, &self.soa.rdatas),
                        // NSD and BIND give the SOA's RRSIG the negative TTL too.
                        sigs.map(|s| (self.negative_ttl, s.rdatas.as_slice())),
                        false,
                    )
                    .map_err(|e| ZoneError::at(&self.soa.locations[0], e.to_string()))?;
                self.push_links(&mut builder, links)?;
                self.splice(&mut builder);
                (rcode, true)
            }
            Tail::Referral(cut) => {
                let cut = &self.nodes[cut as usize];
                // A node is a delegation because it has NS records.
                let ns_rdatas = match cut.rrset(RecordType::NS) {
                    Some(ns) => {
                        self.push(
                            &mut builder,
                            Section::Authority,
                            Owner::Name(&cut.name),
                            ns,
                            None,
                            false,
                        )?;
                        ns.rdatas.as_slice()
                    }
                    None => &[],
                };
                if let Some(signed) = self.signed {
                    // RFC 4035 section 3.1.4: the DS RRset, or the proof
                    // that there is none.
                    match cut.rrset(RecordType::DS) {
                        Some(ds) => {
                            let part = self.part(Owner::Name(&cut.name), cut, ds);
                            self.push(
                                &mut builder,
                                Section::Authority,
                                part.0,
                                part.1,
                                part.2,
                                false,
                            )?;
                        }
                        None => {
                            let cut_key = cut.key();
                            let at = self.tree.index[cut_key.as_bytes()];
                            let links = signed.links(
                                Found::Delegated {
                                    cut: at,
                                    exact: true,
                                },
                                &cut_key,
                                false,
                            );
                            self.push_links(&mut builder, links.nodes())?;
                        }
                    }
                }
                self.splice(&mut builder);
                for rdata in ns_rdatas {
                    if let RData::NS(target) = rdata {
                        // Glue for a name server inside the delegated zone is
                        // needed to reach it at all (RFC 9471).
                        let required = cut.name.zone_of(&target.0);
                        self.push_addresses(&mut builder, &target.0, required, &mut seen)?;
                    }
                }
                (rcode::NOERROR, !answer.is_empty())
            }
            Tail::Nothing => {
                self.splice(&mut builder);
                (rcode::NOERROR, true)
            }
        };
        Ok(builder.finish(rcode, authoritative))
    }

    /// Marks where a signed answer's per-question links go.
    fn splice(&self, builder: &mut AnswerBuilder) {
        if self.signed.is_some() {
            builder.splice_here(Section::Authority);
        }
    }

    /// The NSEC or NSEC3 RRsets, signed, of these nodes.
    fn push_links(&self, builder: &mut AnswerBuilder, links: &[u32]) -> Result<(), ZoneError> {
        for &link in links {
            let node = &self.nodes[link as usize];
            for rtype in [RecordType::NSEC, RecordType::NSEC3] {
                if let Some(rrset) = node.rrset(rtype) {
                    let part = self.part(Owner::Name(&node.name), node, rrset);
                    self.push(builder, Section::Authority, part.0, part.1, part.2, false)?;
                }
            }
        }
        Ok(())
    }

    fn push(
        &self,
        builder: &mut AnswerBuilder,
        section: Section,
        owner: Owner<'_>,
        rrset: &Rrset,
        sigs: Option<&Rrset>,
        required: bool,
    ) -> Result<bool, ZoneError> {
        builder
            .push_signed_rrset(
                section,
                owner,
                (rrset.ttl, &rrset.rdatas),
                sigs.map(|s| (s.ttl, s.rdatas.as_slice())),
                required,
            )
            .map_err(|e| ZoneError::at(&rrset.locations[0], e.to_string()))
    }

    /// Adds the A and AAAA RRsets of `target` to the additional section if
    /// the zone holds them (as data or glue) and they are not there yet.
    fn push_addresses(
        &self,
        builder: &mut AnswerBuilder,
        target: &Name,
        required: bool,
        seen: &mut Vec<(NameKey, RecordType)>,
    ) -> Result<(), ZoneError> {
        let key = NameKey::from_name(target);
        let Some(&node) = self.tree.index.get(key.as_bytes()) else {
            return Ok(());
        };
        let node = &self.nodes[node as usize];
        for rtype in [RecordType::A, RecordType::AAAA] {
            let Some(rrset) = node.rrset(rtype) else {
                continue;
            };
            if seen.iter().any(|(k, t)| *k == key && *t == rtype) {
                continue;
            }
            seen.push((key.clone(), rtype));
            let part = self.part(Owner::Name(&node.name), node, rrset);
            self.push(
                builder,
                Section::Additional,
                part.0,
                part.1,
                part.2,
                required,
            )?;
        }
        Ok(())
    }
}

/// The name whose addresses belong in the additional section for this
/// RDATA (RFC 1035 section 3.3, RFC 2782).
fn additional_target(rdata: &RData) -> Option<&Name> {
    match rdata {
        RData::NS(ns) => Some(&ns.0),
        RData::MX(mx) => Some(&mx.exchange),
        RData::SRV(srv) => Some(&srv.target),
        _ => None,
    }
}

/// The chain of denial the signer wrote: NSEC3 if the zone has NSEC3
/// records (with the parameters NSEC3PARAM names, else the first NSEC3's),
/// else NSEC.
fn denial_chain(nodes: &[NodeData], tree: &Tree, apex: u32) -> Chain {
    let authoritative = |i: usize| {
        matches!(
            tree.kinds[i],
            NodeKind::Authoritative | NodeKind::Dname | NodeKind::Delegation
        )
    };
    let nsec3_params = |wire: &[u8]| -> Option<(u16, Box<[u8]>)> {
        let iterations = u16::from_be_bytes([*wire.get(2)?, *wire.get(3)?]);
        let salt_len = *wire.get(4)? as usize;
        Some((iterations, wire.get(5..5 + salt_len)?.into()))
    };
    let first_nsec3 = nodes
        .iter()
        .find_map(|n| n.rrset(RecordType::NSEC3).and_then(|r| r.rdatas.first()));
    let params = nodes[apex as usize]
        .rrset(RecordType::NSEC3PARAM)
        .and_then(|r| r.rdatas.first())
        .or(first_nsec3)
        .and_then(|r| nsec3_params(raw(r)));
    if let (Some((iterations, salt)), Some(_)) = (params, first_nsec3) {
        let mut hashes = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            let Some(nsec3) = node.rrset(RecordType::NSEC3) else {
                continue;
            };
            let same_chain = nsec3
                .rdatas
                .first()
                .and_then(|r| nsec3_params(raw(r)))
                .is_some_and(|(it, s)| it == iterations && s == salt);
            let key = node.key();
            let label = &key.as_bytes()[1..=key.as_bytes()[0] as usize];
            if let (true, Some(hash)) = (same_chain, denial::base32hex(label)) {
                hashes.push((hash.into_boxed_slice(), i as u32));
            }
        }
        hashes.sort();
        return Chain::Nsec3(denial::Nsec3Chain {
            salt,
            iterations,
            hashes,
        });
    }
    let mut owners: Vec<(Box<[u8]>, u32)> = nodes
        .iter()
        .enumerate()
        .filter(|(i, n)| authoritative(*i) && n.rrset(RecordType::NSEC).is_some())
        .map(|(i, n)| (Box::from(n.key().as_bytes()), i as u32))
        .collect();
    if owners.is_empty() {
        return Chain::None;
    }
    owners.sort_by(|a, b| denial::canonical_cmp(&a.0, &b.0));
    Chain::Nsec(owners)
}

/// Each node's links (see [`NodeProof`]).
fn node_proofs(nodes: &[NodeData], tree: &Tree, chain: &Chain) -> Vec<NodeProof> {
    let none = NodeProof {
        piece: NONE,
        nodata: [NONE; 2],
        closest: [NONE; 2],
    };
    let opt = |n: Option<u32>| n.unwrap_or(NONE);
    let apex_labels = tree.apex.label_count();
    nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            if !matches!(
                tree.kinds[i],
                NodeKind::Authoritative | NodeKind::Dname | NodeKind::Delegation
            ) {
                return none;
            }
            let node_key = node.key();
            let key = node_key.as_bytes();
            let mut wildcard = vec![1, b'*'];
            wildcard.extend_from_slice(key);
            let wildcard_cover = if wildcard.len() <= crate::wire::name::MAX_NAME_LEN {
                chain.cover(&wildcard)
            } else {
                None
            };
            match chain {
                Chain::None => none,
                Chain::Nsec(_) => NodeProof {
                    piece: NONE,
                    nodata: match node.rrset(RecordType::NSEC) {
                        Some(_) => [i as u32, NONE],
                        None => [opt(chain.cover(key)), NONE],
                    },
                    closest: [NONE, opt(wildcard_cover)],
                },
                Chain::Nsec3(_) => {
                    let own = chain.nsec3_match(key);
                    // RFC 5155 section 7.2.4: without a match (below an
                    // opt-out), the closest provable encloser's match and
                    // the link covering the next closer name.
                    let nodata = match own {
                        Some(own) => [own, NONE],
                        None => (1..=node_key.label_count() - apex_labels)
                            .find_map(|skip| {
                                let ancestor = chain.nsec3_match(node_key.suffix(skip))?;
                                Some([ancestor, opt(chain.cover(node_key.suffix(skip - 1)))])
                            })
                            .unwrap_or([NONE; 2]),
                    };
                    NodeProof {
                        piece: NONE,
                        nodata,
                        closest: [opt(own), opt(wildcard_cover)],
                    }
                }
            }
        })
        .collect()
}

/// Each NSEC or NSEC3 RRset with its RRSIGs, encoded on its own; sets
/// `piece` in the proofs of their owners.
fn encode_pieces(
    nodes: &[NodeData],
    chain: &Chain,
    proofs: &mut [NodeProof],
) -> Result<Vec<Piece>, ZoneError> {
    let owners: Vec<u32> = match chain {
        Chain::None => Vec::new(),
        Chain::Nsec(owners) => owners.iter().map(|(_, n)| *n).collect(),
        Chain::Nsec3(chain) => chain.hashes.iter().map(|(_, n)| *n).collect(),
    };
    let mut pieces = Vec::with_capacity(owners.len());
    for owner in owners {
        let node = &nodes[owner as usize];
        let Some(rrset) = node
            .rrset(RecordType::NSEC)
            .or(node.rrset(RecordType::NSEC3))
        else {
            continue;
        };
        let mut sets: Vec<(u32, &[RData])> = vec![(rrset.ttl, &rrset.rdatas)];
        if let Some(sigs) = node.sigs(rrset.rtype) {
            sets.push((sigs.ttl, &sigs.rdatas));
        }
        let piece = AnswerBuilder::piece(&node.name, &sets)
            .map_err(|e| ZoneError::at(&rrset.locations[0], e.to_string()))?;
        proofs[owner as usize].piece = pieces.len() as u32;
        pieces.push(piece);
    }
    Ok(pieces)
}

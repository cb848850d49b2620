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

use super::file::{Location, SourceRecord, ZoneError};
use super::findings::{Findings, Peer};
use super::{Found, NodeAnswers, NodeKind, Tree, Zone, ZoneStats};
use crate::wire::{Answer, AnswerBuilder, NameKey, Owner, Section, rcode};

/// Longest CNAME chain followed inside a zone; longer ones (or loops) are
/// answered as far as this and reported when the zone loads.
const MAX_CHAIN: usize = 8;

/// One RRset as read, with the line of each record.
struct Rrset {
    rtype: RecordType,
    ttl: u32,
    rdatas: Vec<RData>,
    locations: Vec<Location>,
}

/// A name and its RRsets, sorted by type once all records are in.
struct NodeData {
    name: Name,
    key: NameKey,
    rrsets: Vec<Rrset>,
}

impl NodeData {
    fn rrset(&self, rtype: RecordType) -> Option<&Rrset> {
        self.rrsets.iter().find(|r| r.rtype == rtype)
    }
}

pub(super) fn build(
    origin: &Name,
    path: &Path,
    records: Vec<SourceRecord>,
    findings: &mut Findings,
) -> Result<Zone, ZoneError> {
    // A missing SOA is reported at the zone's first record, where an
    // operator would put it.
    let first = records.first().map(|r| r.location.clone());
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
    let (mut nodes, mut index) = group(origin, records, findings)?;
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
    let tree = link_tree(&nodes, index, apex, findings);

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
    };
    let nxdomain = compiler.negative(rcode::NXDOMAIN)?;
    let nodata = compiler.negative(rcode::NOERROR)?;
    let mut answers = Vec::with_capacity(nodes.len());
    for i in 0..nodes.len() {
        answers.push(compiler.node_answers(i as u32, findings)?);
    }

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
        stats,
    };
    Ok(zone)
}

type NodeIndex = HashMap<Box<[u8]>, u32, RandomState>;

/// Groups records into RRsets by owner name and type.
fn group(
    origin: &Name,
    records: Vec<SourceRecord>,
    findings: &mut Findings,
) -> Result<(Vec<NodeData>, NodeIndex), ZoneError> {
    let mut nodes: Vec<NodeData> = Vec::new();
    let mut index = NodeIndex::default();
    for SourceRecord { record, location } in records {
        if !origin.zone_of(&record.name) {
            findings.refused_by(
                Peer::Nsd,
                Some(&location),
                format!("{} is outside the zone {origin}: ignored", record.name),
            );
            continue;
        }
        let key = NameKey::from_name(&record.name);
        let at = *index.entry(key.as_bytes().into()).or_insert_with(|| {
            nodes.push(NodeData {
                name: record.name.clone(),
                key: key.clone(),
                rrsets: Vec::new(),
            });
            (nodes.len() - 1) as u32
        });
        let node = &mut nodes[at as usize];
        let rtype = record.record_type();
        match node.rrsets.iter_mut().find(|r| r.rtype == rtype) {
            Some(rrset) => {
                if rrset.rdatas.contains(&record.data) {
                    let message = format!("duplicate {rtype} record for {} ignored", record.name);
                    match rtype {
                        RecordType::SOA => findings.refused_by(Peer::Nsd, Some(&location), message),
                        _ => findings.warn(Some(&location), message),
                    }
                    continue;
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
                ttl: record.ttl,
                rdatas: vec![record.data],
                locations: vec![location],
            }),
        }
    }
    for node in &mut nodes {
        node.rrsets.sort_by_key(|r| u16::from(r.rtype));
    }
    Ok((nodes, index))
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
        let (name, key) = (nodes[i].name.clone(), nodes[i].key.clone());
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
            key: NameKey::from_name(&parent),
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
    let mut wildcards = vec![None; nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        let below_apex = node.key.label_count() - apex.label_count();
        // The highest cut above a name decides: nothing under it is ours.
        let cut = (0..below_apex).rev().find_map(|skip| {
            let at = *index.get(node.key.suffix(skip))?;
            nodes[at as usize].rrset(RecordType::NS).map(|_| at)
        });
        if let Some(cut) = cut {
            let cut_node = &nodes[cut as usize];
            let at_cut = cut as usize == i;
            if at_cut && node.key.is_wildcard() {
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
        // RFC 6672 section 2.4: a DNAME hides the names below it.
        let dname = (1..=below_apex).find_map(|skip| {
            let at = *index.get(node.key.suffix(skip))?;
            nodes[at as usize].rrset(RecordType::DNAME).map(|_| at)
        });
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
        if node.key.is_wildcard()
            && kinds[i] == NodeKind::Authoritative
            && let Some(&parent) = index.get(node.key.suffix(1))
        {
            wildcards[parent as usize] = Some(i as u32);
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
    NxDomain,
    Delegated {
        cut: u32,
    },
    /// Leaves the zone: the client's resolver goes on from here.
    Outside,
    /// Too long, or a loop.
    TooLong,
}

/// What follows the answer section of an answer.
enum Tail {
    /// Additional A/AAAA for NS, MX and SRV targets in the zone.
    Additional,
    /// Negative answer: the SOA in authority.
    Negative(u16),
    /// The NS of a cut in authority, glue in additional.
    Referral(u32),
    Nothing,
}

struct Compiler<'a> {
    origin: &'a Name,
    tree: &'a Tree,
    nodes: &'a [NodeData],
    soa: &'a Rrset,
    negative_ttl: u32,
}

impl Compiler<'_> {
    fn negative(&self, rcode: u16) -> Result<Answer, ZoneError> {
        self.compose(&self.tree.apex, &[], Tail::Negative(rcode))
    }

    fn node_answers(&self, i: u32, findings: &mut Findings) -> Result<NodeAnswers, ZoneError> {
        let node = &self.nodes[i as usize];
        match self.tree.kinds[i as usize] {
            NodeKind::Glue { .. } => return Ok(NodeAnswers::default()),
            NodeKind::Delegation => {
                return Ok(NodeAnswers {
                    referral: Some(Box::new(self.compose(&node.key, &[], Tail::Referral(i))?)),
                    ..NodeAnswers::default()
                });
            }
            NodeKind::Authoritative => {}
        }
        // A wildcard's answers serve every name it synthesises, so they are
        // framed on its parent, the part those names share.
        let frame = if node.key.is_wildcard() {
            NameKey::from_wire(node.key.suffix(1)).unwrap_or_else(|| self.tree.apex.clone())
        } else {
            node.key.clone()
        };
        let Some(cname) = node.rrset(RecordType::CNAME) else {
            let mut by_type = Vec::with_capacity(node.rrsets.len());
            for rrset in &node.rrsets {
                let answer = self.compose(&frame, &[(Owner::Qname, rrset)], Tail::Additional)?;
                by_type.push((u16::from(rrset.rtype), answer));
            }
            return Ok(NodeAnswers {
                any: (!by_type.is_empty()).then_some(0),
                by_type: by_type.into(),
                ..NodeAnswers::default()
            });
        };

        let first = (Owner::Qname, cname);
        let mut by_type = vec![(
            u16::from(RecordType::CNAME),
            self.compose(&frame, &[first], Tail::Nothing)?,
        )];
        let (links, end) = self.follow_chain(&node.key, cname);
        let mut chain: Vec<(Owner<'_>, &Rrset)> = vec![first];
        chain.extend(
            links
                .iter()
                .map(|(owner, rrset)| (Owner::Name(owner), *rrset)),
        );
        let other = match end {
            ChainEnd::Node { ref owner, node } => {
                for rrset in &self.nodes[node as usize].rrsets {
                    let mut full = chain.clone();
                    full.push((Owner::Name(owner), rrset));
                    let answer = self.compose(&frame, &full, Tail::Additional)?;
                    by_type.push((u16::from(rrset.rtype), answer));
                }
                self.compose(&frame, &chain, Tail::Negative(rcode::NOERROR))?
            }
            // RFC 6604: the rcode is that of the last name in the chain.
            ChainEnd::NxDomain => self.compose(&frame, &chain, Tail::Negative(rcode::NXDOMAIN))?,
            ChainEnd::Delegated { cut } => self.compose(&frame, &chain, Tail::Referral(cut))?,
            ChainEnd::Outside => self.compose(&frame, &chain, Tail::Nothing)?,
            ChainEnd::TooLong => {
                findings.warn(
                    Some(&cname.locations[0]),
                    format!(
                        "the CNAME chain from {} loops or is longer than {MAX_CHAIN}",
                        node.name
                    ),
                );
                self.compose(&frame, &chain, Tail::Nothing)?
            }
        };
        by_type.sort_by_key(|(t, _)| *t);
        let any = by_type
            .iter()
            .position(|(t, _)| *t == u16::from(RecordType::CNAME))
            .map(|i| i as u16);
        Ok(NodeAnswers {
            by_type: by_type.into(),
            other: Some(Box::new(other)),
            any,
            referral: None,
        })
    }

    /// Follows CNAMEs after the first one (owned by `start`), inside the
    /// zone, stopping where a name repeats.
    fn follow_chain(&self, start: &NameKey, first: &'_ Rrset) -> (Vec<(Name, &Rrset)>, ChainEnd) {
        let mut links: Vec<(Name, &Rrset)> = Vec::new();
        let mut rrset = first;
        loop {
            let Some(RData::CNAME(target)) = rrset.rdatas.first() else {
                return (links, ChainEnd::Outside);
            };
            let target = target.0.clone();
            let key = NameKey::from_name(&target);
            if key == *start
                || links
                    .iter()
                    .any(|(owner, _)| NameKey::from_name(owner) == key)
            {
                return (links, ChainEnd::TooLong);
            }
            let node = match self.tree.find(&key) {
                Found::Exact(node) | Found::Wildcard(node) => node,
                Found::Delegated { cut, .. } => return (links, ChainEnd::Delegated { cut }),
                Found::NxDomain => return (links, ChainEnd::NxDomain),
                Found::Outside => return (links, ChainEnd::Outside),
            };
            match self.nodes[node as usize].rrset(RecordType::CNAME) {
                Some(next) if links.len() < MAX_CHAIN => {
                    links.push((target, next));
                    rrset = next;
                }
                Some(_) => return (links, ChainEnd::TooLong),
                None => {
                    return (
                        links,
                        ChainEnd::Node {
                            owner: target,
                            node,
                        },
                    );
                }
            }
        }
    }

    /// Encodes an answer: `answer` RRsets, then whatever `tail` adds.
    fn compose(
        &self,
        frame: &NameKey,
        answer: &[(Owner<'_>, &Rrset)],
        tail: Tail,
    ) -> Result<Answer, ZoneError> {
        let mut builder = AnswerBuilder::new(frame);
        for (owner, rrset) in answer {
            self.push(&mut builder, Section::Answer, *owner, rrset, false)?;
        }
        let mut seen: Vec<(NameKey, RecordType)> = Vec::new();
        let (rcode, authoritative) = match tail {
            Tail::Additional => {
                for (_, rrset) in answer {
                    for target in rrset.rdatas.iter().filter_map(additional_target) {
                        self.push_addresses(&mut builder, target, false, &mut seen)?;
                    }
                }
                (rcode::NOERROR, true)
            }
            Tail::Negative(rcode) => {
                builder
                    .push_rrset(
                        Section::Authority,
                        Owner::Name(self.origin),
                        self.negative_ttl,
                        &self.soa.rdatas,
                        false,
                    )
                    .map_err(|e| ZoneError::at(&self.soa.locations[0], e.to_string()))?;
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
                            false,
                        )?;
                        ns.rdatas.as_slice()
                    }
                    None => &[],
                };
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
            Tail::Nothing => (rcode::NOERROR, true),
        };
        Ok(builder.finish(rcode, authoritative))
    }

    fn push(
        &self,
        builder: &mut AnswerBuilder,
        section: Section,
        owner: Owner<'_>,
        rrset: &Rrset,
        required: bool,
    ) -> Result<bool, ZoneError> {
        builder
            .push_rrset(section, owner, rrset.ttl, &rrset.rdatas, required)
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
            self.push(
                builder,
                Section::Additional,
                Owner::Name(&node.name),
                rrset,
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

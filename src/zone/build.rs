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

use std::cell::RefCell;
use std::path::Path;

use hickory_proto::rr::{Name, RecordType};

use super::data::{Grouper, Node, NodeIndex, Rrset, ZoneData};
use super::denial::{self, Chain};
use super::file::{Location, ZoneError};
use super::findings::{Findings, Peer};
use super::{
    Denial, DnameAnswer, Found, NONE, NodeAnswers, NodeKind, NodeProof, RareAnswers, Signed, Tree,
    Zone, ZoneStats,
};
use crate::wire::answer::RdataSet;
use crate::wire::name::{is_at_or_below, name_len, name_to_wire};
use crate::wire::{Answer, AnswerBuilder, NameKey, Owner, Piece, Section, rcode};

/// Zones with this many names or more compile their answers on two
/// threads; for fewer, starting a thread costs more than it saves.
const PARALLEL_NODES: u32 = 50_000;

/// Longest CNAME chain followed inside a zone; longer ones (or loops) are
/// answered as far as this and reported when the zone loads.
const MAX_CHAIN: usize = 8;

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
    let (mut data, mut index) = grouped.finish(findings);
    let apex = NameKey::from_name(origin);
    let Some(&apex_node) = index.get(apex.as_bytes()) else {
        return Err(no_soa());
    };
    if data.node(apex_node).rrset(RecordType::SOA).is_none() {
        return Err(no_soa());
    }
    check_apex(&data, data.node(apex_node), origin)?;
    if data.node(apex_node).rrset(RecordType::NS).is_none() {
        findings.refused_by(
            Peer::Bind,
            None,
            format!("no NS records at the zone apex {origin}"),
        );
    }
    let errors: Vec<ZoneError> = data
        .nodes()
        .enumerate()
        .filter_map(|(i, node)| check_node(&data, node, i as u32 == apex_node, origin).err())
        .collect();
    if let Some(error) = ZoneError::gather(errors) {
        return Err(error);
    }
    add_empty_non_terminals(&mut data, &mut index, &apex);
    let mut tree = link_tree(&data, index, apex, findings);
    // RFC 5155 section 7.2.8: an NSEC3 owner name is no name of the zone;
    // a query for it is answered as for any name that does not exist.
    if data.nodes().any(|n| n.rrset(RecordType::NSEC3).is_some()) {
        tree.index.retain(|_, node| {
            let rrsets = data.node(*node).rrsets();
            !rrsets.iter().all(|r| {
                r.rtype == RecordType::NSEC3
                    || (r.rtype == RecordType::RRSIG && r.covered == u16::from(RecordType::NSEC3))
            }) || rrsets.is_empty()
        });
    }

    let soa_set = data
        .node(apex_node)
        .rrset(RecordType::SOA)
        .ok_or_else(|| ZoneError::in_file(path, "no SOA record at the zone apex"))?;
    // The reader checks that an SOA's RDATA ends in its five numbers.
    let soa_number = |from_end: usize| {
        let rdata = data.first_rdata(soa_set);
        rdata
            .len()
            .checked_sub(from_end)
            .and_then(|at| rdata.get(at..at + 4))
            .and_then(|n| <[u8; 4]>::try_from(n).ok())
            .map(u32::from_be_bytes)
            .ok_or_else(|| {
                ZoneError::at(&data.first_location(soa_set), "the SOA record is cut short")
            })
    };
    let (serial, minimum) = (soa_number(20)?, soa_number(4)?);
    let mut origin_wire = Vec::with_capacity(256);
    name_to_wire(origin, &mut origin_wire);
    let compiler = Compiler {
        origin: &origin_wire,
        tree: &tree,
        data: &data,
        soa: soa_set,
        // RFC 2308 section 3: the lesser of the SOA's TTL and MINIMUM.
        negative_ttl: soa_set.ttl.min(minimum),
        signed: None,
        builder: RefCell::default(),
    };
    let (nxdomain, nodata, answers) = compiler.all_answers(findings)?;

    // A zone with signatures is served signed to DO=1 queries.
    let signed = if data.nodes().any(|n| n.rrset(RecordType::RRSIG).is_some()) {
        let chain = denial_chain(&data, &tree, apex_node);
        let mut proofs = node_proofs(&data, &tree, &chain);
        let pieces = encode_pieces(&data, &chain, &mut proofs)?;
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
        serial,
        records: data.records(),
        rrsets: data.rrset_count(),
        names: data.nodes().filter(|n| !n.rrsets().is_empty()).count(),
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

fn check_apex(data: &ZoneData, apex: Node<'_>, origin: &Name) -> Result<(), ZoneError> {
    let Some(soa) = apex.rrset(RecordType::SOA) else {
        return Ok(());
    };
    if let Some(second) = data.location(soa, 1) {
        return Err(ZoneError::at(
            &second,
            format!(
                "second SOA record for {origin} (the first is at line {})",
                data.first_location(soa).line
            ),
        ));
    }
    Ok(())
}

/// Checks that need only the node itself.
fn check_node(
    data: &ZoneData,
    node: Node<'_>,
    is_apex: bool,
    origin: &Name,
) -> Result<(), ZoneError> {
    let first = |rrset: &Rrset| data.first_location(rrset);
    if let (Some(soa), false) = (node.rrset(RecordType::SOA), is_apex) {
        return Err(ZoneError::at(
            &first(soa),
            format!(
                "SOA record for {} is not at the zone apex {origin}",
                node.text()
            ),
        ));
    }
    if let Some(dname) = node.rrset(RecordType::DNAME)
        && let Some(second) = data.location(dname, 1)
    {
        return Err(ZoneError::at(
            &second,
            format!(
                "second DNAME record for {} (the first is at line {}): a name has one DNAME at most",
                node.text(),
                first(dname).line
            ),
        ));
    }
    let Some(cname) = node.rrset(RecordType::CNAME) else {
        return Ok(());
    };
    if let Some(dname) = node.rrset(RecordType::DNAME) {
        return Err(ZoneError::at(
            &first(dname),
            format!(
                "{} has a CNAME and a DNAME (line {})",
                node.text(),
                first(cname).line
            ),
        ));
    }
    if let Some(second) = data.location(cname, 1) {
        return Err(ZoneError::at(
            &second,
            format!(
                "second CNAME record for {} (the first is at line {})",
                node.text(),
                first(cname).line
            ),
        ));
    }
    // A CNAME's own signature and NSEC record live beside it (RFC 4035
    // section 2.5); anything else is an error to BIND and NSD alike.
    let beside =
        |t: RecordType| matches!(t, RecordType::CNAME | RecordType::RRSIG | RecordType::NSEC);
    if let Some(other) = node.rrsets().iter().find(|r| !beside(r.rtype)) {
        // Report whichever of the two comes later in the file.
        let (other_at, cname_at) = (first(other), first(cname));
        let (later, earlier) = if other_at.line > cname_at.line {
            (other_at, cname_at)
        } else {
            (cname_at, other_at)
        };
        return Err(ZoneError::at(
            &later,
            format!(
                "{} has a CNAME and other data ({} record); a CNAME must be alone at its name (see line {})",
                node.text(),
                other.rtype,
                earlier.line
            ),
        ));
    }
    Ok(())
}

/// Adds a node with no data for every name between the apex and an
/// existing name (RFC 4592 section 2.2.2): such names answer NODATA, not
/// NXDOMAIN.
fn add_empty_non_terminals(data: &mut ZoneData, index: &mut NodeIndex, apex: &NameKey) {
    // Names of a zone come mostly grouped under a few parents; a parent
    // just found to exist needs no second lookup.
    let mut known_parent: Vec<u8> = Vec::with_capacity(256);
    let mut i = 0;
    while i < data.len() {
        let key = data.node(i as u32).key();
        i += 1;
        if key.label_count() <= apex.label_count() {
            continue;
        }
        let parent_key = key.suffix(1);
        if *known_parent == *parent_key {
            continue;
        }
        if index.contains_key(parent_key) {
            known_parent.clear();
            known_parent.extend_from_slice(parent_key);
            continue;
        }
        let first_label = key.wire_len() - parent_key.len();
        let parent = data.add_ancestor(i as u32 - 1, first_label);
        index.insert(parent_key.into(), parent);
    }
}

/// Finds each node's kind and each wildcard's parent. What a delegation
/// hides (anything at the cut but its NS, DS and their DNSSEC records, and
/// anything below it but glue) is kept and never served, as BIND and NSD
/// do, with a warning.
fn link_tree(data: &ZoneData, index: NodeIndex, apex: NameKey, findings: &mut Findings) -> Tree {
    let mut kinds = vec![NodeKind::Authoritative; data.len()];
    let mut wildcards = vec![NONE; data.len()];
    // Most zones have no DNAME, and many no cut: then no name needs its
    // ancestors looked up.
    let owns = |rtype: RecordType, below: usize| {
        data.nodes()
            .any(|n| n.rrset(rtype).is_some() && n.key().label_count() + below > apex.label_count())
    };
    let (any_cut, any_dname) = (owns(RecordType::NS, 0), owns(RecordType::DNAME, 1));
    for (i, node) in data.nodes().enumerate() {
        if !any_cut && !any_dname && !node.name().starts_with(b"\x01*") {
            continue;
        }
        let key = node.key();
        let below_apex = key.label_count() - apex.label_count();
        let cut_levels = if any_cut { below_apex } else { 0 };
        let dname_levels = if any_dname { below_apex } else { 0 };
        // The highest cut above a name decides: nothing under it is ours.
        let cut = (0..cut_levels).rev().find_map(|skip| {
            let at = *index.get(key.suffix(skip))?;
            data.node(at).rrset(RecordType::NS).map(|_| at)
        });
        if let Some(cut) = cut {
            let cut_node = data.node(cut);
            let at_cut = cut as usize == i;
            if at_cut && key.is_wildcard() {
                findings.refused_by(
                    Peer::Bind,
                    node.rrsets().first().map(|r| data.first_location(r)).as_ref(),
                    format!("{} is a wildcard with NS records: a delegation of that name only, never a synthesised one", node.text()),
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
            for hidden in node.rrsets().iter().filter(|r| !served(r.rtype)) {
                findings.warn(
                    Some(&data.first_location(hidden)),
                    format!(
                        "{} {} record is inside the delegation to {}: kept, never served",
                        node.text(),
                        hidden.rtype,
                        cut_node.text()
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
            data.node(at).rrset(RecordType::DNAME).map(|_| at)
        });
        if kinds[i] == NodeKind::Authoritative {
            if let Some(owner) = dname {
                kinds[i] = NodeKind::Occluded { dname: owner };
            } else if node.rrset(RecordType::DNAME).is_some() {
                kinds[i] = NodeKind::Dname;
            }
        }
        if let Some(owner) = dname
            && let Some(first) = node.rrsets().first()
        {
            findings.refused_by(
                Peer::Nsd,
                Some(&data.first_location(first)),
                format!(
                    "{} is below the DNAME at {}: kept, never served",
                    node.text(),
                    data.node(owner).text()
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
enum ChainEnd<'a> {
    /// At a name with data (or none): `node`, reached as `owner`.
    Node {
        owner: &'a [u8],
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
    /// The apex, wire form.
    origin: &'a [u8],
    tree: &'a Tree,
    data: &'a ZoneData,
    soa: &'a Rrset,
    negative_ttl: u32,
    /// Building the DO=1 answers of a signed zone.
    signed: Option<&'a Denial>,
    /// One builder for every answer in turn, so its buffers are reused.
    builder: RefCell<AnswerBuilder>,
}

impl<'a> Compiler<'a> {
    /// NXDOMAIN, NODATA, and every node's answers.
    fn all_answers(
        &self,
        findings: &mut Findings,
    ) -> Result<(Answer, Answer, Vec<NodeAnswers>), ZoneError> {
        let nxdomain = self.negative(rcode::NXDOMAIN)?;
        let nodata = self.negative(rcode::NOERROR)?;
        let nodes = self.data.len() as u32;
        if nodes < PARALLEL_NODES {
            let answers = self.node_range(0..nodes, findings)?;
            return Ok((nxdomain, nodata, answers));
        }
        // Each node's answers depend only on the zone, so the second half
        // is compiled on another core, with its own builder and findings.
        let mid = nodes / 2;
        let second_half = Compiler {
            builder: RefCell::default(),
            ..*self
        };
        let (first, second) = std::thread::scope(|scope| {
            let second = scope.spawn(move || {
                let mut findings = Findings::default();
                second_half
                    .node_range(mid..nodes, &mut findings)
                    .map(|answers| (answers, findings))
            });
            let first = self.node_range(0..mid, findings);
            let second = second
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (first, second)
        });
        let mut answers = first?;
        let (second, second_findings) = second?;
        answers.extend(second);
        findings.append(second_findings);
        Ok((nxdomain, nodata, answers))
    }

    fn node_range(
        &self,
        nodes: std::ops::Range<u32>,
        findings: &mut Findings,
    ) -> Result<Vec<NodeAnswers>, ZoneError> {
        let mut answers = Vec::with_capacity(nodes.len());
        for i in nodes {
            answers.push(self.node_answers(i, findings)?);
        }
        Ok(answers)
    }

    fn negative(&self, rcode: u16) -> Result<Answer, ZoneError> {
        self.compose(&self.tree.apex, &[], Tail::Negative(rcode, &[]))
    }

    /// `rrset` of `node` as an answer part, with its RRSIGs if signed.
    fn part(&self, owner: Owner<'a>, node: Node<'a>, rrset: &'a Rrset) -> Part<'a> {
        let sigs = match (self.signed, rrset.rtype) {
            (None, _) | (_, RecordType::RRSIG) => None,
            (Some(_), rtype) => node.sigs(rtype),
        };
        (owner, rrset, sigs)
    }

    fn node_answers(&self, i: u32, findings: &mut Findings) -> Result<NodeAnswers, ZoneError> {
        let node = self.data.node(i);
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
        let parent;
        let frame = if key.is_wildcard() {
            parent = NameKey::from_wire(key.suffix(1)).unwrap_or_else(|| self.tree.apex.clone());
            &parent
        } else {
            &key
        };
        let Some(cname) = node.rrset(RecordType::CNAME) else {
            let rrsets = node.rrsets();
            let mut by_type: Vec<(u16, Answer)> = Vec::with_capacity(rrsets.len());
            for (at, rrset) in rrsets.iter().enumerate() {
                let answer = if rrset.rtype == RecordType::RRSIG {
                    if at > 0 && rrsets[at - 1].rtype == RecordType::RRSIG {
                        continue;
                    }
                    self.rrsig_answer(frame, node)?
                } else {
                    let part = self.part(Owner::Qname, node, rrset);
                    self.compose(frame, &[part], Tail::Additional(&[]))?
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
            self.compose(frame, &[first], Tail::Nothing)?,
        )];
        // The CNAME's own DNSSEC records answer for themselves.
        for rrset in node
            .rrsets()
            .iter()
            .filter(|r| r.rtype != RecordType::CNAME)
        {
            if rrset.rtype == RecordType::RRSIG {
                if !by_type
                    .iter()
                    .any(|(t, _)| *t == u16::from(RecordType::RRSIG))
                {
                    let answer = self.rrsig_answer(frame, node)?;
                    by_type.push((u16::from(RecordType::RRSIG), answer));
                }
                continue;
            }
            let part = self.part(Owner::Qname, node, rrset);
            by_type.push((
                u16::from(rrset.rtype),
                self.compose(frame, &[part], Tail::Nothing)?,
            ));
        }
        let (links, end, expanded) = self.follow_chain(&key, cname);
        let mut chain: Vec<Part<'_>> = vec![first];
        chain.extend(
            links.iter().map(|&(owner, at, rrset)| {
                self.part(Owner::Name(owner), self.data.node(at), rrset)
            }),
        );
        let other = match end {
            ChainEnd::Node { owner, node: end } => {
                let end_node = self.data.node(end);
                for rrset in end_node.rrsets() {
                    if rrset.rtype == RecordType::RRSIG
                        || by_type.iter().any(|(t, _)| *t == u16::from(rrset.rtype))
                    {
                        continue;
                    }
                    let mut full = chain.clone();
                    full.push(self.part(Owner::Name(owner), end_node, rrset));
                    let answer = self.compose(frame, &full, Tail::Additional(expanded.nodes()))?;
                    by_type.push((u16::from(rrset.rtype), answer));
                }
                let owner_key = NameKey::from_wire(owner).unwrap_or_else(NameKey::root);
                let links = self.proof_links(Found::Exact(end), &owner_key);
                self.compose(frame, &chain, Tail::Negative(rcode::NOERROR, links.nodes()))?
            }
            // RFC 6604: the rcode is that of the last name in the chain.
            ChainEnd::NxDomain { ref key, found } => {
                let links = self.proof_links(found, key);
                self.compose(
                    frame,
                    &chain,
                    Tail::Negative(rcode::NXDOMAIN, links.nodes()),
                )?
            }
            ChainEnd::Delegated { cut } => self.compose(frame, &chain, Tail::Referral(cut))?,
            ChainEnd::Outside => self.compose(frame, &chain, Tail::Nothing)?,
            ChainEnd::TooLong => {
                if self.signed.is_none() {
                    findings.warn(
                        Some(&self.data.first_location(cname)),
                        format!(
                            "the CNAME chain from {} loops or is longer than {MAX_CHAIN}",
                            node.text()
                        ),
                    );
                }
                self.compose(frame, &chain, Tail::Nothing)?
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
    fn rrsig_answer(&self, frame: &NameKey, node: Node<'a>) -> Result<Answer, ZoneError> {
        let parts: Vec<Part<'_>> = node
            .rrsets()
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
    fn dname_answer(&self, node: Node<'a>, rrset: &'a Rrset) -> Result<DnameAnswer, ZoneError> {
        let mut builder = AnswerBuilder::new(&node.key());
        // The DNAME's owner is the frame: written as a name, it points at
        // the question's tail, where `Qname` would name the whole question.
        let (owner, rrset, sigs) = self.part(Owner::Name(node.name()), node, rrset);
        self.push(&mut builder, Section::Answer, owner, rrset, sigs, false)?;
        builder.splice_here(Section::Answer);
        let target = self.data.first_rdata(rrset);
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
    ) -> (Vec<(&'a [u8], u32, &'a Rrset)>, ChainEnd<'a>, super::Links) {
        let mut links: Vec<(&'a [u8], u32, &'a Rrset)> = Vec::new();
        let mut expanded = super::Links::default();
        let mut rrset = first;
        loop {
            let target = self.data.first_rdata(rrset);
            let Some(key) = NameKey::from_wire(target) else {
                return (links, ChainEnd::Outside, expanded);
            };
            if key == *start
                || links
                    .iter()
                    .any(|(owner, _, _)| owner.eq_ignore_ascii_case(key.as_bytes()))
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
            match self.data.node(node).rrset(RecordType::CNAME) {
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
        let mut builder = self.builder.borrow_mut();
        let builder = &mut *builder;
        builder.reset(frame);
        for (owner, rrset, sigs) in answer {
            self.push(builder, Section::Answer, *owner, rrset, *sigs, false)?;
        }
        let mut seen = Seen::default();
        let (rcode, authoritative) = match tail {
            Tail::Additional(links) => {
                self.push_links(builder, links)?;
                self.splice(builder);
                for (_, rrset, _) in answer {
                    let rtype = u16::from(rrset.rtype);
                    for rdata in self.data.rdatas(rrset) {
                        if let Some(target) = additional_target(rtype, rdata) {
                            self.push_addresses(builder, target, false, &mut seen)?;
                        }
                    }
                }
                (rcode::NOERROR, true)
            }
            Tail::Negative(rcode, links) => {
                let apex = self.data.node(self.tree.index[self.tree.apex.as_bytes()]);
                let sigs = self.signed.and_then(|_| apex.sigs(RecordType::SOA));
                builder
                    .push_signed_rrset(
                        Section::Authority,
                        Owner::Name(self.origin),
                        self.data.set_with_ttl(self.soa, self.negative_ttl),
                        // NSD and BIND give the SOA's RRSIG the negative TTL too.
                        sigs.map(|s| self.data.set_with_ttl(s, self.negative_ttl)),
                        false,
                    )
                    .map_err(|e| {
                        ZoneError::at(&self.data.first_location(self.soa), e.to_string())
                    })?;
                self.push_links(builder, links)?;
                self.splice(builder);
                (rcode, true)
            }
            Tail::Referral(at) => {
                let cut = self.data.node(at);
                // A node is a delegation because it has NS records.
                let ns = cut.rrset(RecordType::NS);
                if let Some(ns) = ns {
                    self.push(
                        builder,
                        Section::Authority,
                        Owner::Name(cut.name()),
                        ns,
                        None,
                        false,
                    )?;
                }
                if let Some(signed) = self.signed {
                    // RFC 4035 section 3.1.4: the DS RRset, or the proof
                    // that there is none.
                    match cut.rrset(RecordType::DS) {
                        Some(ds) => {
                            let part = self.part(Owner::Name(cut.name()), cut, ds);
                            self.push(builder, Section::Authority, part.0, part.1, part.2, false)?;
                        }
                        None => {
                            let links = signed.links(
                                Found::Delegated {
                                    cut: at,
                                    exact: true,
                                },
                                &cut.key(),
                                false,
                            );
                            self.push_links(builder, links.nodes())?;
                        }
                    }
                }
                self.splice(builder);
                for target in ns.into_iter().flat_map(|ns| self.data.rdatas(ns)) {
                    // Glue for a name server inside the delegated zone is
                    // needed to reach it at all (RFC 9471).
                    let required = is_at_or_below(target, cut.name());
                    self.push_addresses(builder, target, required, &mut seen)?;
                }
                (rcode::NOERROR, !answer.is_empty())
            }
            Tail::Nothing => {
                self.splice(builder);
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
            let node = self.data.node(link);
            for rtype in [RecordType::NSEC, RecordType::NSEC3] {
                if let Some(rrset) = node.rrset(rtype) {
                    let part = self.part(Owner::Name(node.name()), node, rrset);
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
                self.data.set(rrset),
                sigs.map(|s| self.data.set(s)),
                required,
            )
            .map_err(|e| ZoneError::at(&self.data.first_location(rrset), e.to_string()))
    }

    /// Adds the A and AAAA RRsets of `target` to the additional section if
    /// the zone holds them (as data or glue) and they are not there yet.
    fn push_addresses(
        &self,
        builder: &mut AnswerBuilder,
        target: &[u8],
        required: bool,
        seen: &mut Seen,
    ) -> Result<(), ZoneError> {
        let Some(key) = NameKey::from_wire(target) else {
            return Ok(());
        };
        let Some(&at) = self.tree.index.get(key.as_bytes()) else {
            return Ok(());
        };
        let node = self.data.node(at);
        for rtype in [RecordType::A, RecordType::AAAA] {
            let Some(rrset) = node.rrset(rtype) else {
                continue;
            };
            if !seen.first_time(at, rtype) {
                continue;
            }
            let part = self.part(Owner::Name(node.name()), node, rrset);
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

/// The address RRsets already in an answer's additional section.
#[derive(Default)]
struct Seen(Vec<(u32, RecordType)>);

impl Seen {
    fn first_time(&mut self, node: u32, rtype: RecordType) -> bool {
        if self.0.contains(&(node, rtype)) {
            return false;
        }
        self.0.push((node, rtype));
        true
    }
}

/// The name whose addresses belong in the additional section for this
/// RDATA of type `rtype` (RFC 1035 section 3.3, RFC 2782): NS, MX, SRV.
fn additional_target(rtype: u16, rdata: &[u8]) -> Option<&[u8]> {
    let at = match rtype {
        2 => 0,
        15 => 2,
        33 => 6,
        _ => return None,
    };
    let name = rdata.get(at..)?;
    Some(&name[..name_len(name)?])
}

/// The chain of denial the signer wrote: NSEC3 if the zone has NSEC3
/// records (with the parameters NSEC3PARAM names, else the first NSEC3's),
/// else NSEC.
fn denial_chain(data: &ZoneData, tree: &Tree, apex: u32) -> Chain {
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
    let first_nsec3 = data
        .nodes()
        .find_map(|n| n.rrset(RecordType::NSEC3).map(|r| data.first_rdata(r)));
    let params = data
        .node(apex)
        .rrset(RecordType::NSEC3PARAM)
        .map(|r| data.first_rdata(r))
        .or(first_nsec3)
        .and_then(nsec3_params);
    if let (Some((iterations, salt)), Some(_)) = (params, first_nsec3) {
        let mut hashes = Vec::new();
        for (i, node) in data.nodes().enumerate() {
            let Some(nsec3) = node.rrset(RecordType::NSEC3) else {
                continue;
            };
            let same_chain = nsec3_params(data.first_rdata(nsec3))
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
    let mut owners: Vec<(Box<[u8]>, u32)> = data
        .nodes()
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
fn node_proofs(data: &ZoneData, tree: &Tree, chain: &Chain) -> Vec<NodeProof> {
    let none = NodeProof {
        piece: NONE,
        nodata: [NONE; 2],
        closest: [NONE; 2],
    };
    let opt = |n: Option<u32>| n.unwrap_or(NONE);
    let apex_labels = tree.apex.label_count();
    data.nodes()
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
    data: &ZoneData,
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
        let node = data.node(owner);
        let Some(rrset) = node
            .rrset(RecordType::NSEC)
            .or(node.rrset(RecordType::NSEC3))
        else {
            continue;
        };
        let mut sets: Vec<RdataSet<'_>> = vec![data.set(rrset)];
        if let Some(sigs) = node.sigs(rrset.rtype) {
            sets.push(data.set(sigs));
        }
        let piece = AnswerBuilder::piece(node.name(), &sets)
            .map_err(|e| ZoneError::at(&data.first_location(rrset), e.to_string()))?;
        proofs[owner as usize].piece = pieces.len() as u32;
        pieces.push(piece);
    }
    Ok(pieces)
}

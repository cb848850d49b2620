//! What a response from an authoritative server says, and what of it may be
//! believed: the bailiwick rules and the response classification of
//! recursion, in one place.
//!
//! Strict where it matters: a server asked as an authority for a zone (the
//! cut) is believed only about names in that zone. Answer and authority
//! records outside it are dropped, and of the additional section only
//! addresses inside it are kept, as glue. At the root that is everything,
//! so the root's addresses for a.gtld-servers.net reach the com.
//! delegation (sibling glue, RFC 9471), as they do in every resolver in
//! the field.
//!
//! Lenient where Unbound is (its `response_type_from_server`): AA is not
//! required of an answer that matches the question, and a referral is
//! recognised by its content (an NS set below the cut, towards the name,
//! no SOA). A server is lame for a zone when it refuses it, refers upward
//! or sideways, or answers like a recursive resolver (RA without AA).

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::cache::MAX_PIECES;
use crate::wire::{NameKey, rtype};

/// What a response says about the question asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Records of the asked type at the asked name.
    Answer,
    /// A CNAME or DNAME chain leading away from the asked name.
    Alias,
    /// A delegation to this zone, below the cut and towards the name.
    Referral(Name),
    /// The name exists without records of the asked type (or the server
    /// said nothing more useful).
    NoData,
    /// Records in the answer section, but none that answer the question
    /// (another type, another name): NODATA to Unbound, and no sign that
    /// a minimised name is inside the zone.
    Unrelated,
    NxDomain,
    /// The server does not serve the zone (properly): passed over for it.
    Lame(&'static str),
    /// SERVFAIL and the like: counts against the server.
    Failed(&'static str),
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Answer => f.write_str("an answer"),
            Verdict::Alias => f.write_str("a CNAME/DNAME chain"),
            Verdict::Referral(zone) => write!(f, "a referral to {zone}"),
            Verdict::NoData => f.write_str("NODATA"),
            Verdict::Unrelated => f.write_str("an answer to another question"),
            Verdict::NxDomain => f.write_str("NXDOMAIN"),
            Verdict::Lame(why) => write!(f, "lame ({why})"),
            Verdict::Failed(why) => write!(f, "failed ({why})"),
        }
    }
}

/// Removes from `message` every record a server of `zone` is not an
/// authority for, and returns how many went: answer and authority records
/// outside the zone, and additional records that are not addresses inside
/// it.
pub fn scrub(message: &mut Message, zone: &Name) -> usize {
    let before = message.answers.len() + message.authorities.len() + message.additionals.len();
    message.answers.retain(|r| zone.zone_of(&r.name));
    message.authorities.retain(|r| zone.zone_of(&r.name));
    message.additionals.retain(|r| {
        matches!(r.record_type(), RecordType::A | RecordType::AAAA) && zone.zone_of(&r.name)
    });
    before - (message.answers.len() + message.authorities.len() + message.additionals.len())
}

/// Judges `message`, scrubbed for a cut `zone_labels` labels deep, as the
/// response to (`ask`, `qtype`).
pub fn judge(message: &Message, zone_labels: usize, ask: &NameKey, qtype: u16) -> Verdict {
    match message.metadata.response_code {
        ResponseCode::NoError | ResponseCode::NXDomain => {}
        ResponseCode::Refused => return Verdict::Lame("REFUSED: it does not serve the zone"),
        ResponseCode::ServFail => return Verdict::Failed("SERVFAIL"),
        ResponseCode::FormErr => return Verdict::Failed("FORMERR"),
        ResponseCode::NotImp => return Verdict::Failed("NOTIMP"),
        _ => return Verdict::Failed("an unexpected rcode"),
    }
    // A resolver answering from its cache, not the zone.
    let recursive = message.metadata.recursion_available && !message.metadata.authoritative;
    let from_resolver = || Verdict::Lame("a recursive answer (RA without AA)");
    if message.metadata.response_code == ResponseCode::NXDomain {
        return if recursive {
            from_resolver()
        } else {
            Verdict::NxDomain
        };
    }
    if let Some(verdict) = answer_kind(&message.answers, ask, qtype) {
        return if recursive { from_resolver() } else { verdict };
    }
    let covers_ask = |owner: &Name| {
        let owner = NameKey::from_name(owner);
        is_at_or_below(ask, &owner)
    };
    if message
        .authorities
        .iter()
        .any(|r| r.record_type() == RecordType::SOA && covers_ask(&r.name))
    {
        return if recursive {
            from_resolver()
        } else {
            Verdict::NoData
        };
    }
    for record in &message.authorities {
        if record.record_type() != RecordType::NS {
            continue;
        }
        let owner = NameKey::from_name(&record.name);
        if owner.label_count() <= zone_labels {
            // Scrubbed, so at or below the zone: this is the zone itself.
            if message.answers.is_empty() {
                return Verdict::Lame("a referral upward, to the zone asked about");
            }
        } else if is_at_or_below(ask, &owner) && !(qtype == rtype::DS && owner == *ask) {
            // (DS is the parent's to answer: the child's referral to
            // itself is no answer to it.)
            return Verdict::Referral(record.name.clone());
        }
        // Sideways: an NS set for another part of the zone, irrelevant.
    }
    if recursive {
        return from_resolver();
    }
    if message.answers.is_empty() {
        Verdict::NoData
    } else {
        Verdict::Unrelated
    }
}

/// Whether the answer section answers (`ask`, `qtype`): with records of
/// the type at the name, or with a CNAME or DNAME chain from it.
fn answer_kind(answers: &[Record], ask: &NameKey, qtype: u16) -> Option<Verdict> {
    if answers.is_empty() {
        return None;
    }
    let mut name = ask.clone();
    let mut aliased = false;
    for _ in 0..MAX_PIECES {
        let at_name = |r: &&Record| name.matches(&r.name);
        if answers
            .iter()
            .filter(at_name)
            .any(|r| qtype == rtype::ANY || u16::from(r.record_type()) == qtype)
        {
            return Some(Verdict::Answer);
        }
        let next = answers.iter().filter(at_name).find_map(|r| match &r.data {
            RData::CNAME(target) => Some(NameKey::from_name(&target.0)),
            _ => None,
        });
        let next = next.or_else(|| {
            answers.iter().find_map(|r| {
                dname_target(&name, &NameKey::from_name(&r.name), &dname_of(&r.data)?)
            })
        });
        match next {
            Some(target) => {
                aliased = true;
                name = target;
            }
            None => break,
        }
    }
    aliased.then_some(Verdict::Alias)
}

/// The target of a DNAME record. hickory-proto reads DNAME as an unknown
/// type; its RDATA is one uncompressed name (RFC 6672 section 2.5), and
/// anything else is not a DNAME to follow.
pub fn dname_of(data: &RData) -> Option<NameKey> {
    let RData::Unknown { code, rdata } = data else {
        return None;
    };
    if *code != RecordType::DNAME {
        return None;
    }
    NameKey::from_wire(&rdata.anything).filter(|target| target.wire_len() == rdata.anything.len())
}

/// The name a DNAME at `owner` pointing to `target` makes of `name`
/// (RFC 6672 section 2.2), if `name` is strictly below `owner` and the
/// result is a legal name.
pub fn dname_target(name: &NameKey, owner: &NameKey, target: &NameKey) -> Option<NameKey> {
    if name.label_count() <= owner.label_count() || !is_at_or_below(name, owner) {
        return None;
    }
    let keep = name.wire_len() - owner.wire_len();
    let mut wire = name.as_bytes()[..keep].to_vec();
    wire.extend_from_slice(target.as_bytes());
    NameKey::from_wire(&wire)
}

/// Whether `name` is `suffix` or below it.
fn is_at_or_below(name: &NameKey, suffix: &NameKey) -> bool {
    crate::wire::name::is_at_or_below(name.as_bytes(), suffix.as_bytes())
}

/// An NS set: each server's name with the addresses given for it, and
/// the lowest TTL of the NS records.
pub type NsSet = (Vec<(Name, Vec<std::net::IpAddr>)>, u32);

/// The NS set and glue of a referral to `child`: the NS records owned by
/// it, and for each name server the addresses the (scrubbed) additional
/// section gives.
pub fn referral_servers(message: &Message, child: &Name) -> NsSet {
    ns_set(message.authorities.iter(), &message.additionals, child)
}

/// The zone's own NS set, if an authoritative response carries it: in
/// the authority section beside an answer, or as the answer to an NS
/// question at the apex. With each server's addresses from the
/// additional section.
pub fn apex_servers(message: &Message, zone: &Name) -> Option<NsSet> {
    if !message.metadata.authoritative {
        return None;
    }
    let (servers, ttl) = ns_set(
        message.answers.iter().chain(&message.authorities),
        &message.additionals,
        zone,
    );
    (!servers.is_empty()).then_some((servers, ttl))
}

fn ns_set<'a>(
    records: impl Iterator<Item = &'a Record>,
    additionals: &[Record],
    owner: &Name,
) -> NsSet {
    let mut servers: Vec<(Name, Vec<std::net::IpAddr>)> = Vec::new();
    let mut ttl = u32::MAX;
    for record in records.filter(|r| r.name == *owner) {
        let RData::NS(target) = &record.data else {
            continue;
        };
        ttl = ttl.min(record.ttl);
        if servers.iter().any(|(name, _)| *name == target.0) {
            continue;
        }
        let addrs = additionals
            .iter()
            .filter(|r| r.name == target.0)
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(std::net::IpAddr::V4(a.0)),
                RData::AAAA(aaaa) => Some(std::net::IpAddr::V6(aaaa.0)),
                _ => None,
            })
            .collect();
        servers.push((target.0.clone(), addrs));
    }
    (servers, if ttl == u32::MAX { 0 } else { ttl })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::OpCode;
    use hickory_proto::rr::rdata::{A, CNAME, NS, NULL, SOA};

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn key(s: &str) -> NameKey {
        NameKey::from_name(&name(s))
    }

    fn record(owner: &str, data: RData) -> Record {
        Record::from_rdata(name(owner), 300, data)
    }

    fn ns(owner: &str, target: &str) -> Record {
        record(owner, RData::NS(NS(name(target))))
    }

    fn a(owner: &str) -> Record {
        record(owner, RData::A(A::new(192, 0, 2, 1)))
    }

    fn soa(owner: &str) -> Record {
        record(
            owner,
            RData::SOA(SOA::new(name("ns."), name("h."), 1, 2, 3, 4, 60)),
        )
    }

    pub(crate) fn dname(target: &str) -> RData {
        RData::Unknown {
            code: RecordType::DNAME,
            rdata: NULL::with(key(target).as_bytes().to_vec()),
        }
    }

    fn response(aa: bool) -> Message {
        let mut m = Message::response(1, OpCode::Query);
        m.metadata.authoritative = aa;
        m
    }

    fn verdict(m: &Message, zone: &str, ask: &str, qtype: RecordType) -> Verdict {
        let zone_key = key(zone);
        judge(m, zone_key.label_count(), &key(ask), u16::from(qtype))
    }

    #[test]
    fn answers_are_taken_with_or_without_aa() {
        for aa in [true, false] {
            let mut m = response(aa);
            m.answers = vec![a("www.example.com.")];
            assert_eq!(
                verdict(&m, "example.com.", "www.example.com.", RecordType::A),
                Verdict::Answer
            );
        }
        let mut m = response(false);
        m.metadata.recursion_available = true;
        m.answers = vec![a("www.example.com.")];
        assert!(matches!(
            verdict(&m, "example.com.", "www.example.com.", RecordType::A),
            Verdict::Lame(_)
        ));
    }

    #[test]
    fn referrals_are_recognised_by_content() {
        let mut m = response(false);
        m.authorities = vec![ns("example.com.", "ns1.example.com.")];
        assert_eq!(
            verdict(&m, "com.", "www.example.com.", RecordType::A),
            Verdict::Referral(name("example.com."))
        );
        // Upward, or sideways with nothing else: lame, or no answer.
        assert!(matches!(
            verdict(&m, "example.com.", "www.example.com.", RecordType::A),
            Verdict::Lame(_)
        ));
        assert_eq!(
            verdict(&m, "com.", "www.other.com.", RecordType::A),
            Verdict::NoData
        );
    }

    #[test]
    fn negative_answers_and_chains() {
        let mut m = response(true);
        m.authorities = vec![soa("example.com.")];
        assert_eq!(
            verdict(&m, "example.com.", "www.example.com.", RecordType::A),
            Verdict::NoData
        );
        m.metadata.response_code = ResponseCode::NXDomain;
        assert_eq!(
            verdict(&m, "example.com.", "www.example.com.", RecordType::A),
            Verdict::NxDomain
        );

        let mut m = response(true);
        m.answers = vec![record(
            "www.example.com.",
            RData::CNAME(CNAME(name("web.example.net."))),
        )];
        assert_eq!(
            verdict(&m, "example.com.", "www.example.com.", RecordType::A),
            Verdict::Alias
        );
        assert_eq!(
            verdict(&m, "example.com.", "www.example.com.", RecordType::CNAME),
            Verdict::Answer
        );
        let mut m = response(true);
        m.answers = vec![record("d.example.com.", dname("example.org."))];
        assert_eq!(
            verdict(&m, "example.com.", "x.d.example.com.", RecordType::A),
            Verdict::Alias
        );
        // A record of another type is no answer to the question.
        let mut m = response(true);
        m.answers = vec![a("www.example.com.")];
        assert_eq!(
            verdict(&m, "example.com.", "www.example.com.", RecordType::MX),
            Verdict::Unrelated
        );
    }

    #[test]
    fn rcodes() {
        for (rcode, lame) in [
            (ResponseCode::Refused, true),
            (ResponseCode::ServFail, false),
            (ResponseCode::NotImp, false),
        ] {
            let mut m = response(true);
            m.metadata.response_code = rcode;
            let v = verdict(&m, "com.", "com.", RecordType::A);
            assert_eq!(matches!(v, Verdict::Lame(_)), lame, "{rcode:?}");
            assert_eq!(matches!(v, Verdict::Failed(_)), !lame, "{rcode:?}");
        }
    }

    #[test]
    fn scrubbing_keeps_the_zone_and_its_addresses() {
        let mut m = response(false);
        m.answers = vec![a("www.example.com."), a("www.example.net.")];
        m.authorities = vec![
            ns("example.com.", "a.gtld-servers.net."),
            ns("evil.", "x.evil."),
        ];
        m.additionals = vec![
            a("a.gtld-servers.net."),
            record("x.com.", RData::NS(NS(name("y.")))),
        ];
        // At the root everything is in bailiwick but for non-addresses in
        // the additional section.
        let mut root = m.clone();
        assert_eq!(scrub(&mut root, &Name::root()), 1);
        assert_eq!(root.additionals.len(), 1, "sibling glue kept");
        assert_eq!(scrub(&mut m, &name("com.")), 4);
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.authorities.len(), 1);
        assert!(m.additionals.is_empty(), "glue outside com. dropped");
    }

    #[test]
    fn dname_targets() {
        let t = dname_target(
            &key("a.b.d.example.com."),
            &key("d.example.com."),
            &key("example.org."),
        );
        assert_eq!(t, Some(key("a.b.example.org.")));
        assert_eq!(
            dname_target(&key("d.example.com."), &key("d.example.com."), &key("x.")),
            None
        );
        assert_eq!(
            dname_target(&key("a.other.com."), &key("d.example.com."), &key("x.")),
            None
        );
        // Too long a result is no name.
        let long = format!("{}.d.", vec!["a".repeat(63); 3].join("."));
        let target = format!("{}.", vec!["b".repeat(63); 2].join("."));
        assert_eq!(dname_target(&key(&long), &key("d."), &key(&target)), None);
        // The RDATA is one name and nothing more.
        assert_eq!(dname_of(&dname("example.org.")), Some(key("example.org.")));
        let trailing = RData::Unknown {
            code: RecordType::DNAME,
            rdata: NULL::with(b"\x01x\x00\x00".to_vec()),
        };
        assert_eq!(dname_of(&trailing), None);
        let compressed = RData::Unknown {
            code: RecordType::DNAME,
            rdata: NULL::with(b"\x01x\xc0\x0c".to_vec()),
        };
        assert_eq!(dname_of(&compressed), None);
    }
}

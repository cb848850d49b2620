//! Zone cuts the resolver knows: the root from its hints (then from
//! priming), and below it what referrals taught. A resolution starts at the
//! closest enclosing cut.
//!
//! Delegations are kept apart from the record cache on purpose: NS sets and
//! glue from a referral are the parent's view, good enough to find servers
//! but not to be served to clients as answers (RFC 2181 section 5.4.1).
//! Once the zone's own servers have shown its NS set (beside an
//! authoritative answer), that set replaces the parent's: it ranks higher.
//! It never outlives the parent's delegation, so a zone the parent has
//! removed cannot live on through its own NS TTLs (the "ghost domain"
//! attack, CVE-2022-30698).
//!
//! Beside the cuts, the names known not to be cuts: a name a zone's server
//! answered for without a referral is inside that zone, so a question
//! below it can show the zone's servers that much of the name at once
//! (RFC 9156 section 2.3 asks resolvers to remember what they learn).

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use foldhash::fast::RandomState;
use hickory_proto::rr::{Name, RData, RecordType};

use crate::wire::NameKey;
use crate::zone::{ZoneError, read_master_text};

/// The IANA root hints, also in `config/root.hints`.
const BUILT_IN_HINTS: &str = include_str!("../../config/root.hints");

/// Delegations remembered; the least used are forgotten first.
const MAX_DELEGATIONS: u64 = 100_000;

/// A name server of a zone cut, with the addresses known for it there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameServer {
    pub name: Name,
    /// Lowercase wire form.
    pub key: Box<[u8]>,
    /// Glue (or, for the root, hints and priming).
    pub addrs: Vec<IpAddr>,
}

/// Where the NS set of a delegation comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NsSource {
    /// The root hints.
    Hints,
    /// The root servers' own answer to priming.
    Priming,
    /// The parent's referral.
    Parent,
    /// The zone's own servers.
    Apex,
    /// The sibling that owns the cut, from its own delegation cache.
    Sibling,
}

impl NsSource {
    pub fn label(self) -> &'static str {
        match self {
            NsSource::Hints => "root hints",
            NsSource::Priming => "primed",
            NsSource::Parent => "from the parent's referral",
            NsSource::Apex => "from the zone itself",
            NsSource::Sibling => "from a sibling",
        }
    }
}

/// The servers of one zone.
#[derive(Debug)]
pub struct Delegation {
    pub zone: Name,
    /// Lowercase wire form.
    pub key: Box<[u8]>,
    pub labels: usize,
    pub servers: Vec<NameServer>,
    /// `None` for the hints, which never expire.
    pub expires: Option<Instant>,
    pub source: NsSource,
}

impl Delegation {
    pub fn new(
        zone: Name,
        servers: Vec<NameServer>,
        ttl: Option<Duration>,
        source: NsSource,
    ) -> Self {
        let key = NameKey::from_name(&zone);
        Self {
            key: key.as_bytes().into(),
            labels: key.label_count(),
            zone,
            servers,
            expires: ttl.map(|ttl| Instant::now() + ttl),
            source,
        }
    }

    fn fresh(&self, now: Instant) -> bool {
        self.expires.is_none_or(|expires| now < expires)
    }

    /// Seconds until it expires; `None` for the hints.
    pub fn remaining(&self) -> Option<u64> {
        self.expires
            .map(|e| e.saturating_duration_since(Instant::now()).as_secs())
    }

    /// The servers as a trace shows them: names, with their addresses.
    pub fn describe_servers(&self) -> String {
        let list: Vec<String> = self
            .servers
            .iter()
            .map(|s| match s.addrs.as_slice() {
                [] => format!("{} (no address)", s.name),
                addrs => {
                    let addrs: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                    format!("{} ({})", s.name, addrs.join(" "))
                }
            })
            .collect();
        list.join(", ")
    }
}

/// Reads root hints: NS records for the root and the addresses of the
/// servers they name.
pub fn read_hints(text: &str, source: &Path) -> Result<Delegation, ZoneError> {
    let (records, _) = read_master_text(text, source, &Name::root())?;
    let mut servers: Vec<NameServer> = Vec::new();
    for record in &records {
        if let (true, RData::NS(ns)) = (record.record.name.is_root(), &record.record.data) {
            servers.push(NameServer {
                key: NameKey::from_name(&ns.0).as_bytes().into(),
                name: ns.0.clone(),
                addrs: Vec::new(),
            });
        }
    }
    for record in &records {
        let addr = match &record.record.data {
            RData::A(a) => IpAddr::V4(a.0),
            RData::AAAA(aaaa) => IpAddr::V6(aaaa.0),
            _ => continue,
        };
        let owner = NameKey::from_name(&record.record.name);
        match servers.iter_mut().find(|s| *s.key == *owner.as_bytes()) {
            Some(server) => server.addrs.push(addr),
            None => {
                return Err(ZoneError::at(
                    &record.location,
                    format!(
                        "{} is not a root server named by an NS record",
                        record.record.name
                    ),
                ));
            }
        }
    }
    if !servers.iter().any(|s| !s.addrs.is_empty()) {
        return Err(ZoneError::in_file(source, "no root server with an address"));
    }
    Ok(Delegation::new(
        Name::root(),
        servers,
        None,
        NsSource::Hints,
    ))
}

/// The built-in root hints.
pub fn built_in_hints() -> Delegation {
    // The text is ours and tested (`built_in_hints_parse`); an error here
    // would be a build defect, so fall back to an empty root rather than
    // panic at run time.
    read_hints(BUILT_IN_HINTS, Path::new("built-in root hints"))
        .unwrap_or_else(|_| Delegation::new(Name::root(), Vec::new(), None, NsSource::Hints))
}

/// A name that is not a zone cut: it lies inside the zone of `cut`.
struct InsideZone {
    /// The zone, lowercase wire form.
    cut: Box<[u8]>,
    expires: Instant,
}

/// Known zone cuts, and names known not to be cuts.
pub struct Delegations {
    map: moka::sync::Cache<Box<[u8]>, Arc<Delegation>, RandomState>,
    hints: Arc<Delegation>,
    inside: moka::sync::Cache<Box<[u8]>, Arc<InsideZone>, RandomState>,
}

impl Delegations {
    pub fn new(hints: Delegation) -> Self {
        Self {
            map: moka::sync::Cache::builder()
                .max_capacity(MAX_DELEGATIONS)
                .build_with_hasher(RandomState::default()),
            hints: Arc::new(hints),
            inside: moka::sync::Cache::builder()
                .max_capacity(MAX_DELEGATIONS)
                .build_with_hasher(RandomState::default()),
        }
    }

    /// Forgets every zone cut at or below `suffix` (lowercase wire form),
    /// and what is known of names there; returns how many cuts.
    pub fn forget_below(&self, suffix: &[u8]) -> usize {
        let below = |key: &Arc<Box<[u8]>>| crate::wire::name::is_at_or_below(key, suffix);
        let names: Vec<_> = self
            .inside
            .iter()
            .map(|(key, _)| key)
            .filter(below)
            .collect();
        for key in &names {
            self.inside.invalidate(key.as_ref());
        }
        let doomed: Vec<_> = self.map.iter().map(|(key, _)| key).filter(below).collect();
        for key in &doomed {
            self.map.invalidate(key.as_ref());
        }
        doomed.len()
    }

    /// Remembers that `name` (lowercase wire form) is inside the zone of
    /// `cut`, for `ttl`.
    pub fn note_inside(&self, name: &[u8], cut: &Delegation, ttl: Duration) {
        if self.is_inside(name, &cut.key) {
            return;
        }
        let ttl = ttl.clamp(MIN_DELEGATION_TTL, MAX_INSIDE_TTL);
        self.inside.insert(
            name.into(),
            Arc::new(InsideZone {
                cut: cut.key.clone(),
                expires: Instant::now() + ttl,
            }),
        );
    }

    /// Whether `name` is known to be inside the zone `cut` (both
    /// lowercase wire form), so not a cut of its own.
    pub fn is_inside(&self, name: &[u8], cut: &[u8]) -> bool {
        self.inside.contains_key(name)
            && self
                .inside
                .get(name)
                .is_some_and(|n| *n.cut == *cut && Instant::now() < n.expires)
    }

    pub fn hints(&self) -> &Arc<Delegation> {
        &self.hints
    }

    /// The deepest known, unexpired cut at or above `name`; the root (as
    /// primed, or the hints) when nothing else is known.
    pub fn closest(&self, name: &NameKey) -> Arc<Delegation> {
        let now = Instant::now();
        // Most names tried are not cuts: a moka miss that is not recorded
        // as one (contains_key) is the cheaper lookup.
        (0..=name.label_count())
            .filter(|&skip| self.map.contains_key(name.suffix(skip)))
            .find_map(|skip| self.map.get(name.suffix(skip)).filter(|d| d.fresh(now)))
            .unwrap_or_else(|| self.hints.clone())
    }

    /// Addresses known for the name server `name` (lowercase wire form) as
    /// a server of the zone it lies in: that zone's glue, or what its own
    /// servers gave beside its NS set. Never served as answers; good for
    /// reaching a server of another zone that the same host serves.
    pub fn server_addresses(&self, name: &[u8]) -> Vec<IpAddr> {
        let Some(key) = NameKey::from_wire(name) else {
            return Vec::new();
        };
        let zone = self.closest(&key);
        zone.servers
            .iter()
            .find(|s| *s.key == *name)
            .map_or_else(Vec::new, |s| s.addrs.clone())
    }

    /// Keeps a delegation learned from a referral or priming, unless the
    /// zone's own NS set is known and fresh: that ranks higher
    /// (RFC 2181 section 5.4.1). Returns the delegation to use.
    pub fn insert(&self, delegation: Delegation) -> Arc<Delegation> {
        if let Some(known) = self.map.get(&delegation.key)
            && known.source == NsSource::Apex
            && known.fresh(Instant::now())
        {
            return known;
        }
        let delegation = Arc::new(delegation);
        self.map.insert(delegation.key.clone(), delegation.clone());
        delegation
    }

    /// Replaces the parent's view of `cut` with the zone's own NS set
    /// (names and the addresses its servers gave), for at most `ttl` and
    /// never past the parent's delegation. Addresses the parent gave for
    /// the same names are kept beside the zone's.
    pub fn adopt_apex(
        &self,
        cut: &Delegation,
        mut servers: Vec<NameServer>,
        ttl: Duration,
    ) -> Arc<Delegation> {
        for server in &mut servers {
            if let Some(parent) = cut.servers.iter().find(|s| s.key == server.key) {
                for addr in &parent.addrs {
                    if !server.addrs.contains(addr) {
                        server.addrs.push(*addr);
                    }
                }
            }
        }
        let now = Instant::now();
        let expires = cut
            .expires
            .map(|parent| parent.min(now + ttl.max(MIN_DELEGATION_TTL)));
        let delegation = Arc::new(Delegation {
            zone: cut.zone.clone(),
            key: cut.key.clone(),
            labels: cut.labels,
            servers,
            expires,
            source: NsSource::Apex,
        });
        self.map.insert(delegation.key.clone(), delegation.clone());
        delegation
    }
}

/// Longest a name is remembered to be inside a zone.
const MAX_INSIDE_TTL: Duration = Duration::from_secs(86_400);

/// Lower bound on how long a delegation is kept, so a zero NS TTL does not
/// make every question start again at the root.
pub const MIN_DELEGATION_TTL: Duration = Duration::from_secs(5);

/// Record types the resolver looks up for a name server's addresses.
pub fn address_types(ipv6: bool) -> &'static [RecordType] {
    if ipv6 {
        &[RecordType::A, RecordType::AAAA]
    } else {
        &[RecordType::A]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_hints_parse() {
        let hints = read_hints(BUILT_IN_HINTS, Path::new("root.hints")).unwrap();
        assert_eq!(hints.servers.len(), 13);
        assert!(hints.servers.iter().all(|s| s.addrs.len() == 2));
        assert_eq!(built_in_hints().servers.len(), 13);
    }

    #[test]
    fn hints_errors_name_the_line() {
        let err =
            read_hints(". 60 NS a.root.\nb.root. 60 A 192.0.2.1\n", Path::new("h")).unwrap_err();
        assert_eq!(err.line, Some(2));
        let err = read_hints(". 60 NS a.root.\n", Path::new("h")).unwrap_err();
        assert!(err.to_string().contains("no root server with an address"));
    }

    #[test]
    fn the_closest_cut_encloses_the_name() {
        let delegations = Delegations::new(built_in_hints());
        let name = |s: &str| Name::from_ascii(s).unwrap();
        delegations.insert(Delegation::new(
            name("test."),
            Vec::new(),
            Some(Duration::from_secs(60)),
            NsSource::Parent,
        ));
        delegations.insert(Delegation::new(
            name("a.test."),
            Vec::new(),
            Some(Duration::ZERO),
            NsSource::Parent,
        ));
        let key = |s: &str| NameKey::from_name(&name(s));
        assert_eq!(
            delegations.closest(&key("x.a.test.")).zone,
            name("test."),
            "expired cut skipped"
        );
        assert_eq!(delegations.closest(&key("test.")).zone, name("test."));
        assert!(delegations.closest(&key("example.")).zone.is_root());
    }

    fn server(n: &str, addrs: &[[u8; 4]]) -> NameServer {
        let name = Name::from_ascii(n).unwrap();
        NameServer {
            key: NameKey::from_name(&name).as_bytes().into(),
            name,
            addrs: addrs.iter().map(|a| IpAddr::from(*a)).collect(),
        }
    }

    #[test]
    fn the_zones_own_ns_set_ranks_above_the_parents_and_never_outlives_it() {
        let delegations = Delegations::new(built_in_hints());
        let zone = Name::from_ascii("diff.com.").unwrap();
        let parent = delegations.insert(Delegation::new(
            zone.clone(),
            vec![server("old.diff.com.", &[[192, 0, 2, 1]])],
            Some(Duration::from_secs(60)),
            NsSource::Parent,
        ));
        let apex = delegations.adopt_apex(
            &parent,
            vec![
                server("new.diff.com.", &[[192, 0, 2, 2]]),
                server("old.diff.com.", &[]),
            ],
            Duration::from_secs(86_400),
        );
        assert_eq!(apex.source, NsSource::Apex);
        assert_eq!(
            apex.servers[1].addrs,
            [IpAddr::from([192, 0, 2, 1])],
            "parent glue kept"
        );
        assert!(
            apex.expires <= parent.expires,
            "no longer than the parent's delegation"
        );
        // A later referral does not undo it while it is fresh.
        let again = delegations.insert(Delegation::new(
            zone.clone(),
            vec![server("old.diff.com.", &[[192, 0, 2, 1]])],
            Some(Duration::from_secs(60)),
            NsSource::Parent,
        ));
        assert_eq!(again.source, NsSource::Apex);
        let key = NameKey::from_name(&Name::from_ascii("www.diff.com.").unwrap());
        assert_eq!(delegations.closest(&key).servers.len(), 2);
    }

    #[test]
    fn names_inside_a_zone_are_remembered_for_that_zone_only() {
        let delegations = Delegations::new(built_in_hints());
        let cut = Delegation::new(
            Name::from_ascii("example.").unwrap(),
            Vec::new(),
            Some(Duration::from_secs(60)),
            NsSource::Parent,
        );
        let name = b"\x04wild\x07example\x00";
        assert!(!delegations.is_inside(name, &cut.key));
        delegations.note_inside(name, &cut, Duration::from_secs(300));
        assert!(delegations.is_inside(name, &cut.key));
        assert!(!delegations.is_inside(name, b"\x00"), "another cut");
        delegations.forget_below(b"\x07example\x00");
        assert!(!delegations.is_inside(name, &cut.key));
    }
}

//! Zone cuts the resolver knows: the root from its hints (then from
//! priming), and below it what referrals taught. A resolution starts at the
//! closest enclosing cut.
//!
//! Delegations are kept apart from the record cache on purpose: NS sets and
//! glue from a referral are the parent's view, good enough to find servers
//! but not to be served to clients as answers (RFC 2181 section 5.4.1).

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

/// The servers of one zone, as its parent named them.
#[derive(Debug)]
pub struct Delegation {
    pub zone: Name,
    /// Lowercase wire form.
    pub key: Box<[u8]>,
    pub labels: usize,
    pub servers: Vec<NameServer>,
    /// `None` for the hints, which never expire.
    pub expires: Option<Instant>,
}

impl Delegation {
    pub fn new(zone: Name, servers: Vec<NameServer>, ttl: Option<Duration>) -> Self {
        let key = NameKey::from_name(&zone);
        Self {
            key: key.as_bytes().into(),
            labels: key.label_count(),
            zone,
            servers,
            expires: ttl.map(|ttl| Instant::now() + ttl),
        }
    }

    fn fresh(&self, now: Instant) -> bool {
        self.expires.is_none_or(|expires| now < expires)
    }
}

/// Reads root hints: NS records for the root and the addresses of the
/// servers they name.
pub fn read_hints(text: &str, source: &Path) -> Result<Delegation, ZoneError> {
    let records = read_master_text(text, source, &Name::root())?;
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
    Ok(Delegation::new(Name::root(), servers, None))
}

/// The built-in root hints.
pub fn built_in_hints() -> Delegation {
    // The text is ours and tested (`built_in_hints_parse`); an error here
    // would be a build defect, so fall back to an empty root rather than
    // panic at run time.
    read_hints(BUILT_IN_HINTS, Path::new("built-in root hints"))
        .unwrap_or_else(|_| Delegation::new(Name::root(), Vec::new(), None))
}

/// Known zone cuts.
pub struct Delegations {
    map: moka::sync::Cache<Box<[u8]>, Arc<Delegation>, RandomState>,
    hints: Arc<Delegation>,
}

impl Delegations {
    pub fn new(hints: Delegation) -> Self {
        Self {
            map: moka::sync::Cache::builder()
                .max_capacity(MAX_DELEGATIONS)
                .build_with_hasher(RandomState::default()),
            hints: Arc::new(hints),
        }
    }

    /// The root hints, for priming.
    /// Forgets every zone cut at or below `suffix` (lowercase wire form);
    /// returns how many.
    pub fn forget_below(&self, suffix: &[u8]) -> usize {
        let doomed: Vec<_> = self
            .map
            .iter()
            .map(|(key, _)| key)
            .filter(|key| crate::wire::name::is_at_or_below(key, suffix))
            .collect();
        for key in &doomed {
            self.map.invalidate(key.as_ref());
        }
        doomed.len()
    }

    pub fn hints(&self) -> &Arc<Delegation> {
        &self.hints
    }

    /// The deepest known, unexpired cut at or above `name`; the root (as
    /// primed, or the hints) when nothing else is known.
    pub fn closest(&self, name: &NameKey) -> Arc<Delegation> {
        let now = Instant::now();
        (0..=name.label_count())
            .find_map(|skip| self.map.get(name.suffix(skip)).filter(|d| d.fresh(now)))
            .unwrap_or_else(|| self.hints.clone())
    }

    pub fn insert(&self, delegation: Delegation) -> Arc<Delegation> {
        let delegation = Arc::new(delegation);
        self.map.insert(delegation.key.clone(), delegation.clone());
        delegation
    }
}

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
        ));
        delegations.insert(Delegation::new(
            name("a.test."),
            Vec::new(),
            Some(Duration::ZERO),
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
}

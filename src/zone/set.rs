//! The set of zones a server is authoritative for, and loading it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use foldhash::fast::RandomState;
use hickory_proto::rr::Name;

use super::{Zone, ZoneError};
use crate::wire::NameKey;

/// A zone to load: its origin and master file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneSource {
    pub origin: Name,
    pub file: PathBuf,
}

/// Zones keyed by apex. Immutable once built: a reload builds a new set and
/// swaps it in whole, so a query sees either the old zones or the new.
#[derive(Default)]
pub struct ZoneSet {
    zones: HashMap<Box<[u8]>, Arc<Zone>, RandomState>,
    /// Most labels of any apex, to skip suffixes no zone can match.
    max_labels: usize,
}

/// What one zone did during a load.
#[derive(Debug)]
pub enum ZoneOutcome {
    Loaded {
        origin: Name,
        warnings: Vec<String>,
    },
    /// Failed; the previous version (if there was one) keeps serving.
    Failed {
        origin: Name,
        error: ZoneError,
        kept_old: bool,
    },
}

impl ZoneSet {
    /// Builds a set from loaded zones.
    pub fn new(zones: impl IntoIterator<Item = Arc<Zone>>) -> Self {
        let mut set = ZoneSet::default();
        for zone in zones {
            set.max_labels = set.max_labels.max(zone.apex().label_count());
            set.zones.insert(zone.apex().as_bytes().into(), zone);
        }
        set
    }

    /// Loads every zone in `sources`. A zone that fails keeps its version
    /// from `previous`, if any.
    pub fn load(sources: &[ZoneSource], previous: Option<&ZoneSet>) -> (ZoneSet, Vec<ZoneOutcome>) {
        let mut zones = Vec::with_capacity(sources.len());
        let mut outcomes = Vec::with_capacity(sources.len());
        for source in sources {
            match Zone::load(&source.origin, &source.file) {
                Ok((zone, warnings)) => {
                    zones.push(Arc::new(zone));
                    outcomes.push(ZoneOutcome::Loaded {
                        origin: source.origin.clone(),
                        warnings,
                    });
                }
                Err(error) => {
                    let old = previous.and_then(|p| p.get(&NameKey::from_name(&source.origin)));
                    if let Some(old) = old {
                        zones.push(old.clone());
                    }
                    outcomes.push(ZoneOutcome::Failed {
                        origin: source.origin.clone(),
                        error,
                        kept_old: old.is_some(),
                    });
                }
            }
        }
        release_freed_memory();
        (ZoneSet::new(zones), outcomes)
    }

    /// The zone with exactly this apex.
    pub fn get(&self, apex: &NameKey) -> Option<&Arc<Zone>> {
        self.zones.get(apex.as_bytes())
    }

    /// The most specific zone containing `name`.
    pub fn find(&self, name: &NameKey) -> Option<&Zone> {
        let first = name.label_count().saturating_sub(self.max_labels);
        (first..=name.label_count())
            .find_map(|skip| self.zones.get(name.suffix(skip)))
            .map(|zone| zone.as_ref())
    }

    /// Number of zones.
    pub fn len(&self) -> usize {
        self.zones.len()
    }

    /// True when no zones are loaded.
    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }

    /// All zones, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Zone>> {
        self.zones.values()
    }
}

/// Hands the memory that compiling zones used and freed back to the OS.
/// A zone of a million records passes through several times its compiled
/// size while it loads; without this the allocator keeps those pages and
/// the server's resident size stays at the peak.
fn release_freed_memory() {
    // SAFETY: mi_collect has no preconditions; it only walks mimalloc's
    // own free lists (and is a no-op for memory another allocator owns).
    unsafe { libmimalloc_sys::mi_collect(true) };
}

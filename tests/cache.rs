//! The cache's memory bound, with a million distinct names passing
//! through, measured by its own weigher and by the process's resident
//! memory.

use std::time::Duration;

use hearsay::cache::{Cache, CacheSettings, Rrset};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, RecordType};

/// Resident memory of this process, in bytes.
fn resident() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn rrset(i: u32) -> Rrset {
    Rrset {
        name: Name::from_ascii(format!("host{i}.zone{}.example.", i % 1000)).unwrap(),
        rtype: RecordType::A,
        ttl: 3600,
        rdatas: vec![RData::A(A::from(std::net::Ipv4Addr::from(i)))],
    }
}

#[test]
fn memory_stays_under_max_size_while_a_million_names_pass_through() {
    const MAX: u64 = 32 << 20;
    let cache = Cache::new(CacheSettings {
        max_size: MAX,
        min_ttl: 0,
        max_ttl: 86400,
        max_negative_ttl: 3600,
        serve_stale: Duration::ZERO,
        prefetch: false,
    });
    let before = resident();
    for i in 0..1_000_000u32 {
        cache
            .store_rrset(&rrset(i), cache.now_ms(), hearsay::cache::Origin::Upstream)
            .unwrap();
        if i % 100_000 == 99_999 {
            cache.run_pending_tasks();
            assert!(
                cache.weighted_size() <= MAX,
                "{} > {MAX} after {i}",
                cache.weighted_size()
            );
        }
    }
    cache.run_pending_tasks();
    let held = cache.entry_count();
    assert!(cache.weighted_size() <= MAX);
    assert!(
        held > 50_000,
        "the cache still holds a working set ({held})"
    );
    // The weigher's estimate must cover what entries really cost: resident
    // memory may not grow past the bound (plus allocator slack).
    let grown = resident().saturating_sub(before);
    eprintln!(
        "held {held} entries, weighed {} bytes, resident grew {grown} bytes ({} per entry)",
        cache.weighted_size(),
        grown / held.max(1)
    );
    if before > 0 {
        assert!(
            grown < MAX + MAX / 2,
            "resident memory grew {grown} bytes for a {MAX}-byte cache"
        );
    }
}

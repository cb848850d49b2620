//! Names a resolver answers itself and never asks the Internet about: the
//! zones Unbound serves by default. RFC 6761 (localhost, invalid, test),
//! RFC 6303 (reverse zones of private, loopback, link-local and
//! documentation addresses, which the AS112 servers would only answer
//! NXDOMAIN for), RFC 8375 (home.arpa), RFC 7686 (onion), and RFC 9462
//! (resolver.arpa).
//!
//! Each is a zone compiled from master-file text, so it answers as a zone
//! does: its SOA in negative answers, NXDOMAIN below the apex unless a
//! record is there. localhost answers 127.0.0.1 and ::1 at every name
//! (RFC 6761 6.3), the loopback reverse names answer PTR localhost.
//! Configured zones are looked up first, so one of the same name, or one
//! above or below, takes precedence, as a `local-zone` does in Unbound.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use hickory_proto::rr::Name;

use crate::zone::{Zone, ZoneSet};

/// Unbound's SOA and NS for its default local zones, with its TTL.
const APEX: &str = "$TTL 10800\n\
    @ SOA localhost. nobody.invalid. 1 3600 1200 604800 10800\n\
    @ NS localhost.\n";

/// Every special-use zone: its name and the records beyond the apex SOA
/// and NS.
pub fn zones() -> Vec<(String, &'static str)> {
    let mut zones: Vec<(String, &'static str)> = vec![
        (
            "localhost.".into(),
            "@ A 127.0.0.1\n@ AAAA ::1\n* A 127.0.0.1\n* AAAA ::1\n",
        ),
        ("127.in-addr.arpa.".into(), "1.0.0 PTR localhost.\n"),
        (
            format!("1.{}ip6.arpa.", "0.".repeat(31)),
            "@ PTR localhost.\n",
        ),
        ("invalid.".into(), ""),
        ("test.".into(), ""),
        ("onion.".into(), ""),
        ("home.arpa.".into(), ""),
        ("resolver.arpa.".into(), ""),
        // RFC 6303 4.1-4.3 and RFC 5737: private, "this network",
        // link-local, documentation and broadcast.
        ("10.in-addr.arpa.".into(), ""),
        ("168.192.in-addr.arpa.".into(), ""),
        ("0.in-addr.arpa.".into(), ""),
        ("254.169.in-addr.arpa.".into(), ""),
        ("2.0.192.in-addr.arpa.".into(), ""),
        ("100.51.198.in-addr.arpa.".into(), ""),
        ("113.0.203.in-addr.arpa.".into(), ""),
        ("255.255.255.255.in-addr.arpa.".into(), ""),
        // RFC 6303 4.4-4.6: the unspecified address, unique local,
        // link-local and deprecated site-local, documentation.
        (format!("{}ip6.arpa.", "0.".repeat(32)), ""),
        ("d.f.ip6.arpa.".into(), ""),
        ("8.e.f.ip6.arpa.".into(), ""),
        ("9.e.f.ip6.arpa.".into(), ""),
        ("a.e.f.ip6.arpa.".into(), ""),
        ("b.e.f.ip6.arpa.".into(), ""),
        ("8.b.d.0.1.0.0.2.ip6.arpa.".into(), ""),
    ];
    for octet in 16..32 {
        zones.push((format!("{octet}.172.in-addr.arpa."), ""));
    }
    // RFC 6598 shared address space (100.64.0.0/10), as RFC 7793 adds.
    for octet in 64..128 {
        zones.push((format!("{octet}.100.in-addr.arpa."), ""));
    }
    zones
}

/// The SVCB records of _dns.resolver.arpa that designate this resolver's
/// encrypted endpoints (RFC 9462 section 4): one per DoT and DoH port,
/// for `name` (the name its certificate holds), with the listen
/// addresses as hints (RFC 9461: ALPN "dot" or "h2", dohpath).
pub fn designation(name: &Name, tls: &[SocketAddr], https: &[SocketAddr]) -> String {
    let mut records = String::new();
    let mut priority = 1;
    for (addrs, alpn, default_port, extra) in [
        (tls, "dot", 853, ""),
        (https, "h2", 443, " dohpath=/dns-query{?dns}"),
    ] {
        let mut ports: Vec<u16> = addrs.iter().map(|a| a.port()).collect();
        ports.sort_unstable();
        ports.dedup();
        for port in ports {
            records.push_str(&format!("_dns 300 SVCB {priority} {name} alpn={alpn}"));
            if port != default_port {
                records.push_str(&format!(" port={port}"));
            }
            for (family, key) in [(true, "ipv4hint"), (false, "ipv6hint")] {
                let mut hints: Vec<String> = addrs
                    .iter()
                    .filter(|a| a.port() == port && a.is_ipv4() == family)
                    .filter(|a| !a.ip().is_unspecified())
                    .map(|a| a.ip().to_string())
                    .collect();
                hints.dedup();
                if !hints.is_empty() {
                    records.push_str(&format!(" {key}={}", hints.join(",")));
                }
            }
            records.push_str(extra);
            records.push('\n');
            priority += 1;
        }
    }
    records
}

/// The special-use zones, less those named in `nodefault` (as Unbound's
/// `local-zone: NAME nodefault`); resolver.arpa holds `designation`.
pub fn zone_set(nodefault: &[Name], designation: &str) -> ZoneSet {
    let mut built = Vec::new();
    for (origin, records) in zones() {
        let records = match origin.as_str() {
            "resolver.arpa." => designation,
            _ => records,
        };
        let Ok(name) = Name::from_ascii(&origin) else {
            continue;
        };
        if nodefault.contains(&name) {
            continue;
        }
        let text = format!("{APEX}{records}");
        match Zone::from_text(&name, text.as_bytes(), Path::new("special-use zones")) {
            Ok((zone, _)) => built.push(Arc::new(zone)),
            // The text is ours and fixed; a test loads every zone.
            Err(e) => tracing::error!(zone = %origin, "special-use zone not built: {e}"),
        }
    }
    ZoneSet::new(built)
}

/// Whether `name` is one of the special-use zones, for checking
/// `nodefault` in the configuration.
pub fn is_special_use_zone(name: &Name) -> bool {
    zones()
        .iter()
        .any(|(origin, _)| Name::from_ascii(origin).is_ok_and(|o| o == *name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DoT on two ports (one on the wildcard address), DoH on one.
    fn example_designation() -> String {
        let addrs = |list: &[&str]| -> Vec<SocketAddr> {
            list.iter().map(|a| a.parse().unwrap()).collect()
        };
        designation(
            &Name::from_ascii("dns.example.").unwrap(),
            &addrs(&["192.0.2.1:853", "[2001:db8::1]:853", "0.0.0.0:8853"]),
            &addrs(&["192.0.2.1:443"]),
        )
    }

    #[test]
    fn every_special_use_zone_compiles() {
        let set = zone_set(&[], &example_designation());
        assert_eq!(set.len(), zones().len());
        let without_test = zone_set(&[Name::from_ascii("test.").unwrap()], "");
        assert_eq!(without_test.len(), zones().len() - 1);
    }

    #[test]
    fn the_designation_names_each_port_with_its_addresses_as_hints() {
        assert_eq!(
            example_designation(),
            "_dns 300 SVCB 1 dns.example. alpn=dot ipv4hint=192.0.2.1 ipv6hint=2001:db8::1\n\
             _dns 300 SVCB 2 dns.example. alpn=dot port=8853\n\
             _dns 300 SVCB 3 dns.example. alpn=h2 ipv4hint=192.0.2.1 dohpath=/dns-query{?dns}\n"
        );
        let name = Name::from_ascii("dns.example.").unwrap();
        assert_eq!(designation(&name, &[], &[]), "");
    }
}

//! Who may use the cache and resolver.

use std::net::IpAddr;

use ipnet::IpNet;

/// The networks whose clients may recurse.
#[derive(Clone, Debug)]
pub struct RecursionAcl {
    networks: Box<[IpNet]>,
}

impl RecursionAcl {
    pub fn new(networks: &[IpNet]) -> Self {
        Self {
            networks: networks.into(),
        }
    }

    /// Whether `client` may recurse. An IPv4 client seen through an
    /// IPv4-mapped IPv6 address counts as its IPv4 address.
    pub fn allows(&self, client: IpAddr) -> bool {
        let client = client.to_canonical();
        self.networks.iter().any(|net| net.contains(&client))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_and_mapped_addresses() {
        let acl = RecursionAcl::new(&[
            "127.0.0.0/8".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ]);
        for (client, allowed) in [
            ("127.0.0.1", true),
            ("127.255.0.9", true),
            ("::ffff:127.0.0.1", true),
            ("2001:db8::53", true),
            ("192.0.2.1", false),
            ("::1", false),
        ] {
            assert_eq!(acl.allows(client.parse().unwrap()), allowed, "{client}");
        }
    }
}

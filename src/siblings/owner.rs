//! Which member owns a question: rendezvous (highest random weight)
//! hashing. Every member scores every (member, key) pair with the same
//! fixed hash and picks the highest, so all members agree on owners
//! without talking, and when a member leaves only its own keys move (to
//! each key's runner-up).

use std::net::{IpAddr, SocketAddr};

/// The bytes that decide a question's owner: everything that changes the
/// answer. The DO bit is part of it for when DNSSEC answers are cached;
/// today it is always clear.
pub fn owner_key(name: &[u8], qtype: u16, qclass: u16, dnssec_ok: bool) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + 5);
    key.extend(name.iter().map(u8::to_ascii_lowercase));
    key.extend_from_slice(&qtype.to_be_bytes());
    key.extend_from_slice(&qclass.to_be_bytes());
    key.push(u8::from(dnssec_ok));
    key
}

/// The member with the highest score for `key`, if any.
pub fn owner<'a>(
    members: impl IntoIterator<Item = &'a SocketAddr>,
    key: &[u8],
) -> Option<SocketAddr> {
    members
        .into_iter()
        .map(|member| (score(member, key), *member))
        .max()
        .map(|(_, member)| member)
}

/// A 64-bit hash of (member, key) that is the same on every machine and
/// every run: FNV-1a over the bytes, then a SplitMix64 finalizer so that
/// similar inputs spread over the whole range.
fn score(member: &SocketAddr, key: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    match member.ip() {
        IpAddr::V4(ip) => eat(&ip.octets()),
        IpAddr::V6(ip) => eat(&ip.octets()),
    }
    eat(&member.port().to_be_bytes());
    eat(key);
    let mut z = hash.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(n: u8) -> Vec<SocketAddr> {
        (1..=n)
            .map(|i| SocketAddr::from(([127, 0, 0, i], 5400)))
            .collect()
    }

    fn key(i: u32) -> Vec<u8> {
        let name = format!("\x04n{i:03}\x07example\x00");
        owner_key(name.as_bytes(), 1, 1, false)
    }

    #[test]
    fn keys_spread_evenly_and_only_a_leaving_members_keys_move() {
        let three = members(3);
        let mut share = [0u32; 3];
        for i in 0..3000 {
            let owner = owner(&three, &key(i)).unwrap();
            share[three.iter().position(|m| *m == owner).unwrap()] += 1;
        }
        for n in share {
            assert!((800..1200).contains(&n), "uneven shares {share:?}");
        }
        let two = &three[..2];
        for i in 0..3000 {
            let before = owner(&three, &key(i)).unwrap();
            let after = owner(two, &key(i)).unwrap();
            if before != three[2] {
                assert_eq!(before, after, "a key moved though its owner stayed");
            }
        }
    }

    #[test]
    fn the_owner_does_not_depend_on_member_order_or_name_case() {
        let mut list = members(4);
        let a = owner(&list, &owner_key(b"\x03WwW\x00", 1, 1, false));
        list.reverse();
        let b = owner(&list, &owner_key(b"\x03www\x00", 1, 1, false));
        assert_eq!(a, b);
        assert_ne!(
            owner_key(b"\x03www\x00", 1, 1, false),
            owner_key(b"\x03www\x00", 28, 1, false)
        );
    }
}

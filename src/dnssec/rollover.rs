//! Automated updates of a trust anchor (RFC 5011), so a KSK roll at the
//! anchor's zone (the root's, in practice) needs no new configuration.
//!
//! Each time the anchor zone's DNSKEY set is validated, the keys with the
//! SEP flag in it are compared with those known: a new one is pending
//! (AddPend) until it has been seen for the add hold-down (30 days); then
//! it is trusted (Valid). A trusted key that is gone is Missing, and still
//! trusted; one published with the REVOKE flag and signing the set itself
//! is Revoked, and trusted no more. What is trusted is written to the
//! state file after every change (atomically), and read back at start, so
//! a restart keeps what was learned. The configured anchor (DS or DNSKEY)
//! only seeds a state file that does not exist yet.

use std::path::{Path, PathBuf};

use super::anchors::TrustAnchor;
use super::records::Dnskey;
use crate::wire::name::wire_to_text;

/// RFC 5011 section 2.4.1: 30 days.
pub const ADD_HOLD_DOWN: u64 = 30 * 86_400;

/// Where a key is in RFC 5011's state table (section 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    AddPend,
    Valid,
    Missing,
    Revoked,
}

impl KeyState {
    fn label(self) -> &'static str {
        match self {
            KeyState::AddPend => "addpend",
            KeyState::Valid => "valid",
            KeyState::Missing => "missing",
            KeyState::Revoked => "revoked",
        }
    }

    fn from_label(label: &str) -> Option<Self> {
        Some(match label {
            "addpend" => KeyState::AddPend,
            "valid" => KeyState::Valid,
            "missing" => KeyState::Missing,
            "revoked" => KeyState::Revoked,
            _ => return None,
        })
    }

    /// Whether a key in this state is a trust anchor.
    fn trusted(self) -> bool {
        matches!(self, KeyState::Valid | KeyState::Missing)
    }
}

/// One tracked key.
#[derive(Clone, Debug, PartialEq, Eq)]
struct TrackedKey {
    /// DNSKEY RDATA, with the REVOKE flag as last seen.
    rdata: Vec<u8>,
    state: KeyState,
    /// When it was first seen (AddPend) or last changed state, seconds
    /// since the epoch.
    since: u64,
}

/// The anchor zone's keys as RFC 5011 tracks them, and the file they are
/// kept in.
#[derive(Debug)]
pub struct Rollover {
    path: PathBuf,
    zone: Vec<u8>,
    /// The configured DS anchors, used until a key they vouch for is
    /// tracked as valid.
    seed_ds: Vec<Vec<u8>>,
    keys: Vec<TrackedKey>,
    add_hold_down: u64,
}

/// Keys tracked at most: a zone publishing more is not followed further.
const MAX_TRACKED: usize = 16;

/// The key with the REVOKE flag cleared: the same key as before revocation.
fn unrevoked(rdata: &[u8]) -> Vec<u8> {
    let mut key = rdata.to_vec();
    if let Some(flags) = key.get_mut(1) {
        *flags &= !0x80;
    }
    key
}

impl Rollover {
    /// The state kept at `path`, or, if there is no such file, a new one
    /// seeded with `anchor`.
    pub fn open(path: &Path, anchor: &TrustAnchor, add_hold_down: u64) -> Result<Self, String> {
        let mut rollover = Rollover {
            path: path.to_path_buf(),
            zone: anchor.zone.clone(),
            seed_ds: anchor.ds.clone(),
            keys: anchor
                .dnskeys
                .iter()
                .map(|rdata| TrackedKey {
                    rdata: rdata.clone(),
                    state: KeyState::Valid,
                    since: 0,
                })
                .collect(),
            add_hold_down,
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(rollover),
            Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
        };
        rollover
            .read(&text)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(rollover)
    }

    /// Reads the state file's lines: `zone NAME`, `ds HEX`, and
    /// `dnskey STATE SINCE BASE64`.
    fn read(&mut self, text: &str) -> Result<(), String> {
        let mut zone = None;
        let mut ds = Vec::new();
        let mut keys = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let at = |what: &str| format!("line {}: {what}", number + 1);
            // A comment runs from `;` to the end of the line.
            let data = line.split(';').next().unwrap_or_default();
            let fields: Vec<&str> = data.split_whitespace().collect();
            match fields.as_slice() {
                [] => {}
                ["zone", name] => {
                    let name = hickory_proto::rr::Name::from_ascii(name)
                        .map_err(|e| at(&format!("{name:?} is not a name: {e}")))?;
                    zone = Some(crate::wire::NameKey::from_name(&name).as_bytes().to_vec());
                }
                ["ds", hex] => ds.push(
                    data_encoding::HEXUPPER_PERMISSIVE
                        .decode(hex.as_bytes())
                        .map_err(|e| at(&format!("DS is not hexadecimal: {e}")))?,
                ),
                ["dnskey", state, since, key] => {
                    let state = KeyState::from_label(state)
                        .ok_or_else(|| at(&format!("{state:?} is not a key state")))?;
                    let since = since
                        .parse()
                        .map_err(|_| at(&format!("{since:?} is not a time")))?;
                    let rdata = data_encoding::BASE64
                        .decode(key.as_bytes())
                        .map_err(|e| at(&format!("key is not base64: {e}")))?;
                    if Dnskey::parse(&rdata).is_none() {
                        return Err(at("not a DNSKEY"));
                    }
                    keys.push(TrackedKey {
                        rdata,
                        state,
                        since,
                    });
                }
                _ => return Err(at(&format!("cannot read {line:?}"))),
            }
        }
        let zone = zone.ok_or("no zone line")?;
        if zone != self.zone.to_ascii_lowercase() {
            return Err(format!(
                "the state is for {}, the anchor for {}",
                wire_to_text(&zone),
                wire_to_text(&self.zone)
            ));
        }
        if keys.iter().all(|k| !k.state.trusted()) && ds.is_empty() {
            return Err("no trusted key and no DS".into());
        }
        self.seed_ds = ds;
        self.keys = keys;
        Ok(())
    }

    /// The anchor to validate the zone's DNSKEY set with: the trusted
    /// keys, and the seed DS while no key is trusted yet.
    pub fn anchor(&self) -> TrustAnchor {
        TrustAnchor {
            zone: self.zone.clone(),
            ds: self.seed_ds.clone(),
            dnskeys: self
                .keys
                .iter()
                .filter(|k| k.state.trusted())
                .map(|k| k.rdata.clone())
                .collect(),
        }
    }

    /// Takes in the zone's DNSKEY set, just validated: `keys` (RDATA),
    /// `self_signed` those of them that sign the set (their RRSIG
    /// verified), at `now` (seconds since the epoch). Returns whether
    /// anything changed (and so was written).
    pub fn observe(
        &mut self,
        keys: &[&[u8]],
        self_signed: &[&[u8]],
        now: u64,
    ) -> Result<bool, String> {
        let before = self.keys.clone();
        let sep: Vec<&[u8]> = keys
            .iter()
            .copied()
            .filter(|k| Dnskey::parse(k).is_some_and(|d| d.is_secure_entry_point()))
            .collect();
        for key in &sep {
            let revoked = Dnskey::parse(key).is_some_and(|d| d.is_revoked());
            let plain = unrevoked(key);
            let tracked = self.keys.len();
            let seeded = self.seeded(key);
            let known = self.keys.iter_mut().find(|k| unrevoked(&k.rdata) == plain);
            match (known, revoked) {
                // RFC 5011 section 2.1: a revocation counts only if the
                // revoked key signs the set itself.
                (Some(tracked), true) => {
                    if tracked.state != KeyState::Revoked && self_signed.contains(key) {
                        *tracked = TrackedKey {
                            rdata: key.to_vec(),
                            state: KeyState::Revoked,
                            since: now,
                        };
                    }
                }
                (Some(tracked), false) => match tracked.state {
                    KeyState::AddPend if now >= tracked.since + self.add_hold_down => {
                        tracked.state = KeyState::Valid;
                        tracked.since = now;
                    }
                    KeyState::Missing => {
                        tracked.state = KeyState::Valid;
                        tracked.since = now;
                    }
                    _ => {}
                },
                // A key new and already revoked is of no use.
                (None, true) => {}
                (None, false) if tracked < MAX_TRACKED => {
                    // Keys the seed DS vouch for were trusted from the
                    // start; others wait out the hold-down.
                    let state = if seeded {
                        KeyState::Valid
                    } else {
                        KeyState::AddPend
                    };
                    self.keys.push(TrackedKey {
                        rdata: key.to_vec(),
                        state,
                        since: now,
                    });
                }
                (None, false) => {}
            }
        }
        let present = |tracked: &TrackedKey| {
            sep.iter()
                .any(|k| unrevoked(k) == unrevoked(&tracked.rdata))
        };
        // RFC 5011 section 4: a pending key that goes away starts over; a
        // trusted one is missing, and still trusted.
        self.keys
            .retain(|k| k.state != KeyState::AddPend || present(k));
        for tracked in &mut self.keys {
            if tracked.state == KeyState::Valid && !present(tracked) {
                tracked.state = KeyState::Missing;
                tracked.since = now;
            }
        }
        if self.keys.iter().any(|k| k.state == KeyState::Valid) {
            // The DS did their job: keys are tracked from now on.
            self.seed_ds.clear();
        }
        let changed = self.keys != before;
        if changed {
            self.write()?;
        }
        Ok(changed)
    }

    /// Whether a seed DS vouches for `key`.
    fn seeded(&self, key: &[u8]) -> bool {
        let Some(dnskey) = Dnskey::parse(key) else {
            return false;
        };
        self.seed_ds.iter().any(|ds| {
            super::records::Ds::parse(ds).is_some_and(|ds| {
                ds.matches(&self.zone, &dnskey) == super::records::DigestCheck::Match
            })
        })
    }

    fn write(&self) -> Result<(), String> {
        let mut text = format!(
            "; RFC 5011 state of the trust anchor, kept by hearsay: do not edit while it runs\n\
             zone {}\n",
            wire_to_text(&self.zone)
        );
        for ds in &self.seed_ds {
            text.push_str(&format!("ds {}\n", data_encoding::HEXUPPER.encode(ds)));
        }
        for key in &self.keys {
            text.push_str(&format!(
                "dnskey {} {} {} ; key tag {}\n",
                key.state.label(),
                key.since,
                data_encoding::BASE64.encode(&key.rdata),
                super::records::key_tag(&key.rdata)
            ));
        }
        crate::persist::write_atomically(&self.path, text.as_bytes())
            .map_err(|e| format!("{}: cannot write: {e}", self.path.display()))
    }

    /// How each tracked key stands: (key tag, state), for logs and tests.
    pub fn states(&self) -> Vec<(u16, KeyState)> {
        self.keys
            .iter()
            .map(|k| (super::records::key_tag(&k.rdata), k.state))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A KSK (flags 257) of algorithm 13 with a 64-octet key of `fill`.
    fn ksk(fill: u8) -> Vec<u8> {
        let mut key = vec![1, 1, 3, 13];
        key.extend([fill; 64]);
        key
    }

    fn revoked(key: &[u8]) -> Vec<u8> {
        let mut key = key.to_vec();
        key[1] |= 0x80;
        key
    }

    fn rollover(dir: &Path) -> Rollover {
        let anchor = TrustAnchor {
            zone: vec![0],
            ds: Vec::new(),
            dnskeys: vec![ksk(1)],
        };
        Rollover::open(&dir.join("root.state"), &anchor, 100).unwrap()
    }

    #[test]
    fn a_new_key_is_trusted_after_the_hold_down_and_a_revoked_one_no_more() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = rollover(dir.path());
        let (old, new) = (ksk(1), ksk(2));
        assert!(state.observe(&[&old, &new], &[&old], 1000).unwrap());
        assert_eq!(
            state.states(),
            [
                (key_tag_of(&old), KeyState::Valid),
                (key_tag_of(&new), KeyState::AddPend)
            ]
        );
        assert_eq!(
            state.anchor().dnskeys,
            std::slice::from_ref(&old),
            "not trusted yet"
        );
        // Before the hold-down ends, nothing changes.
        assert!(!state.observe(&[&old, &new], &[&old], 1099).unwrap());
        assert!(state.observe(&[&old, &new], &[&old], 1100).unwrap());
        assert_eq!(state.anchor().dnskeys, [old.clone(), new.clone()]);

        // A restart reads what was learned.
        let reread = rollover(dir.path());
        assert_eq!(reread.anchor().dnskeys, [old.clone(), new.clone()]);

        // The old key revoked, but not signing the set: not believed.
        let gone = revoked(&old);
        assert!(!state.observe(&[&gone, &new], &[&new], 1200).unwrap());
        assert!(state.observe(&[&gone, &new], &[&gone, &new], 1201).unwrap());
        assert_eq!(state.anchor().dnskeys, std::slice::from_ref(&new));

        // A trusted key that disappears is missing, and still trusted; a
        // pending one that disappears starts over.
        let third = ksk(3);
        state.observe(&[&new, &third], &[&new], 1300).unwrap();
        state.observe(&[], &[], 1301).unwrap();
        assert_eq!(
            state.states(),
            [
                (key_tag_of(&gone), KeyState::Revoked),
                (key_tag_of(&new), KeyState::Missing)
            ]
        );
        assert_eq!(state.anchor().dnskeys, [new]);
    }

    #[test]
    fn a_state_file_that_cannot_be_read_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.state");
        std::fs::write(&path, "zone .\ndnskey soon 0 AAAA\n").unwrap();
        let anchor = TrustAnchor::root();
        let error = Rollover::open(&path, &anchor, 100).unwrap_err();
        assert!(
            error.contains("line 2") && error.contains("\"soon\""),
            "{error}"
        );
        std::fs::write(&path, "zone example.\nds 00\n").unwrap();
        let error = Rollover::open(&path, &anchor, 100).unwrap_err();
        assert!(error.contains("the state is for example."), "{error}");
    }

    fn key_tag_of(key: &[u8]) -> u16 {
        super::super::records::key_tag(key)
    }
}

//! The cluster key: TSIG (RFC 8945, hmac-sha256) on every sibling query
//! and answer, and an HMAC on every gossip packet. A member without the
//! key can neither ask, answer, nor join.

use hickory_proto::rr::rdata::tsig::{TSIG, TsigAlgorithm, make_tsig_record};
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::rr::{TSigResponseContext, TSigner};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use ring::hmac;

/// How far a signature's time may be from ours (RFC 8945 recommends 300
/// seconds). Also the window for gossip packets.
pub const FUDGE: u16 = 300;

/// The first bytes of a gossip packet. Read as a DNS header, the third
/// byte holds opcode 15, which is unassigned, so no sibling query or
/// answer ever starts this way.
pub const GOSSIP_MAGIC: [u8; 4] = [b'h', b's', 0x78, 1];

const GOSSIP_HEADER: usize = GOSSIP_MAGIC.len() + 8 + 32;

/// Why a signed message was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    #[error("not signed with the cluster key: {0}")]
    BadSignature(String),
    #[error("signed {0} s away from our clock (more than {FUDGE} s)")]
    BadTime(i64),
    #[error("a replay of a query already answered")]
    Replay,
}

pub struct ClusterKey {
    signer: TSigner,
    gossip: hmac::Key,
}

impl ClusterKey {
    pub fn new(name: Name, secret: &[u8]) -> Result<Self, String> {
        let signer = TSigner::new(secret.to_vec(), TsigAlgorithm::HmacSha256, name, FUDGE)
            .map_err(|e| e.to_string())?;
        // A key of its own for gossip, derived from the secret, so a MAC
        // from one protocol can never be replayed into the other.
        let derived = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, secret),
            b"hearsay sibling gossip v1",
        );
        Ok(Self {
            signer,
            gossip: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
        })
    }

    /// Signs a query in place (appends the TSIG record) and returns its
    /// MAC, which the answer's signature must cover.
    pub fn sign_query(&self, packet: &mut Vec<u8>) -> Option<Vec<u8>> {
        let id = u16::from_be_bytes([*packet.first()?, *packet.get(1)?]);
        let stub = TSIG::new(
            TsigAlgorithm::HmacSha256,
            crate::unix_seconds(),
            FUDGE,
            Vec::new(),
            id,
            None,
            Vec::new(),
        );
        let mut variables = Vec::with_capacity(64);
        stub.emit_tsig_for_mac(
            &mut BinEncoder::new(&mut variables),
            self.signer.signer_name(),
        )
        .ok()?;
        let mut tbs = Vec::with_capacity(packet.len() + variables.len());
        tbs.extend_from_slice(packet);
        tbs.extend_from_slice(&variables);
        let mac = self.signer.sign(&tbs).ok()?;
        let record = make_tsig_record(self.signer.signer_name().clone(), stub.set_mac(mac.clone()));
        append_record(packet, &record.to_bytes().ok()?)?;
        Some(mac)
    }

    /// Signs an answer in place, covering the query's MAC.
    pub fn sign_answer(&self, packet: &mut Vec<u8>, query_mac: &[u8]) -> Option<()> {
        let id = u16::from_be_bytes([*packet.first()?, *packet.get(1)?]);
        let context = TSigResponseContext::new(
            id,
            crate::unix_seconds(),
            self.signer.clone(),
            query_mac.to_vec(),
            None,
        );
        let record = context.sign(packet).ok()?;
        append_record(packet, &record.to_bytes().ok()?)
    }

    /// Checks a signed message: a query (`query_mac` None) or the answer
    /// to the query with that MAC. Returns the message's own MAC.
    pub fn verify(&self, packet: &[u8], query_mac: Option<&[u8]>) -> Result<Vec<u8>, Rejection> {
        if !one_tsig_last(packet) {
            return Err(Rejection::BadSignature(
                "not a whole message ending in its only TSIG record".into(),
            ));
        }
        let (mac, time, _) = self
            .signer
            .verify_message_byte(packet, query_mac, true)
            .map_err(|e| Rejection::BadSignature(e.to_string()))?;
        let skew = time as i64 - crate::unix_seconds() as i64;
        if skew.abs() > i64::from(FUDGE) {
            return Err(Rejection::BadTime(skew));
        }
        Ok(mac)
    }

    /// A gossip payload, framed and authenticated: magic, time, HMAC over
    /// time and payload, payload.
    pub fn seal(&self, payload: &[u8]) -> Vec<u8> {
        let time = crate::unix_seconds().to_be_bytes();
        let mut context = hmac::Context::with_key(&self.gossip);
        context.update(&time);
        context.update(payload);
        let tag = context.sign();
        let mut packet = Vec::with_capacity(GOSSIP_HEADER + payload.len());
        packet.extend_from_slice(&GOSSIP_MAGIC);
        packet.extend_from_slice(&time);
        packet.extend_from_slice(tag.as_ref());
        packet.extend_from_slice(payload);
        packet
    }

    /// The payload of a gossip packet, if it carries the cluster's HMAC
    /// and a time within the window.
    pub fn open<'a>(&self, packet: &'a [u8]) -> Result<&'a [u8], Rejection> {
        if packet.len() < GOSSIP_HEADER || packet[..4] != GOSSIP_MAGIC {
            return Err(Rejection::BadSignature("not a gossip packet".into()));
        }
        let time = &packet[4..12];
        let tag = &packet[12..GOSSIP_HEADER];
        let payload = &packet[GOSSIP_HEADER..];
        let mut signed = Vec::with_capacity(8 + payload.len());
        signed.extend_from_slice(time);
        signed.extend_from_slice(payload);
        hmac::verify(&self.gossip, &signed, tag)
            .map_err(|_| Rejection::BadSignature("gossip HMAC does not match".into()))?;
        let mut t = [0u8; 8];
        t.copy_from_slice(time);
        let skew = u64::from_be_bytes(t) as i64 - crate::unix_seconds() as i64;
        if skew.abs() > i64::from(FUDGE) {
            return Err(Rejection::BadTime(skew));
        }
        Ok(payload)
    }
}

/// Whether the message holds every record its header counts, and a TSIG
/// record is the last of them and the only one (RFC 8945 section 5.1).
/// hickory's TSIG check assumes both: it adds the answer and authority
/// counts as u16 (an overflow, fatal where overflow is checked), and a
/// TSIG record before the last trips a debug assertion. So a message that
/// breaks either never reaches it.
fn one_tsig_last(packet: &[u8]) -> bool {
    let (mut tsigs, mut last_is_tsig) = (0usize, false);
    let whole = crate::wire::walk::records(packet, |record| {
        last_is_tsig = record.rtype == u16::from(RecordType::TSIG);
        tsigs += usize::from(last_is_tsig);
    });
    whole.is_some() && tsigs == 1 && last_is_tsig
}

pub fn is_gossip(packet: &[u8]) -> bool {
    packet.starts_with(&GOSSIP_MAGIC)
}

/// Appends an encoded record to the additional section.
fn append_record(packet: &mut Vec<u8>, record: &[u8]) -> Option<()> {
    let count = u16::from_be_bytes([*packet.get(10)?, *packet.get(11)?]);
    let count = count.checked_add(1)?;
    packet[10..12].copy_from_slice(&count.to_be_bytes());
    packet.extend_from_slice(record);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(secret: &[u8]) -> ClusterKey {
        ClusterKey::new(Name::from_ascii("siblings.").unwrap(), secret).unwrap()
    }

    fn query() -> Vec<u8> {
        let mut packet = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        packet.extend_from_slice(b"\x03www\x07example\x00\x00\x01\x00\x01");
        packet
    }

    /// Found by fuzz/fuzz_targets/sibling_packet.rs: hickory's TSIG check
    /// added 0xffff answers and 0xffff authorities in a u16.
    #[test]
    fn section_counts_past_the_message_are_rejected_before_hickory() {
        let packet = b"\x10\x28\x01\x00\x00\x00\xff\xff\xff\xff\xff\xff\x29\x42\x42\x42\x42\x00";
        let ours = key(b"0123456789abcdef0123456789abcdef");
        assert!(matches!(
            ours.verify(packet, None),
            Err(Rejection::BadSignature(_))
        ));
        let mut signed = query();
        ours.sign_query(&mut signed).unwrap();
        assert!(one_tsig_last(&signed));
    }

    /// Found by fuzz/fuzz_targets/sibling_packet.rs: a TSIG record before
    /// the last one tripped a debug assertion in hickory.
    #[test]
    fn a_tsig_record_anywhere_but_last_is_rejected_before_hickory() {
        let ours = key(b"0123456789abcdef0123456789abcdef");
        let mut signed = query();
        ours.sign_query(&mut signed).unwrap();
        let tsig = signed[query().len()..].to_vec();
        let mut twice = signed.clone();
        twice[11] += 1;
        twice.extend_from_slice(&tsig);
        assert!(!one_tsig_last(&twice));
        assert!(matches!(
            ours.verify(&twice, None),
            Err(Rejection::BadSignature(_))
        ));
        let mut trailing = signed.clone();
        trailing.push(0);
        assert!(!one_tsig_last(&trailing), "octets after the TSIG record");
    }

    #[test]
    fn a_signed_query_and_its_signed_answer_verify_and_nothing_else_does() {
        let ours = key(b"0123456789abcdef0123456789abcdef");
        let theirs = key(b"another secret of thirty-two b..");
        let mut packet = query();
        let mac = ours.sign_query(&mut packet).unwrap();
        let seen = ours.verify(&packet, None).unwrap();
        assert_eq!(seen, mac);
        assert!(theirs.verify(&packet, None).is_err(), "wrong key accepted");
        assert!(ours.verify(&query(), None).is_err(), "unsigned accepted");
        let mut tampered = packet.clone();
        tampered[14] ^= 0x20;
        assert!(ours.verify(&tampered, None).is_err(), "tampered accepted");

        let mut answer = query();
        answer[2] |= 0x80;
        ours.sign_answer(&mut answer, &mac).unwrap();
        assert!(ours.verify(&answer, Some(&mac)).is_ok());
        // An answer signed for another query does not verify.
        assert!(ours.verify(&answer, Some(&[0; 32])).is_err());
    }

    #[test]
    fn gossip_is_sealed_with_the_key() {
        let ours = key(b"0123456789abcdef0123456789abcdef");
        let theirs = key(b"another secret of thirty-two b..");
        let packet = ours.seal(b"members");
        assert!(is_gossip(&packet));
        assert_eq!(ours.open(&packet).unwrap(), b"members");
        assert!(theirs.open(&packet).is_err());
        let mut tampered = packet.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(ours.open(&tampered).is_err());
    }
}

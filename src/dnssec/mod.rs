//! DNSSEC signatures checked as RFC 4034 and RFC 4035 have them, on
//! records in wire form.
//!
//! This is the part of validation that needs no network: the fields of
//! RRSIG, DNSKEY and DS records (`records`), the data an RRSIG signs
//! (`canonical`), and the check of one signature with one key
//! (`verify`), for the algorithms RFC 8624 says a validator must
//! support: RSA/SHA-256 (8), RSA/SHA-512 (10), ECDSA P-256 (13) and P-384
//! (14), and Ed25519 (15). On those: trust anchors (`anchors`), the
//! cost bounds of one client question (`budget`), and the links of a
//! chain of trust, DS to DNSKEY to RRset (`keyset`).

pub mod anchors;
pub mod budget;
pub mod canonical;
pub mod denial;
pub mod keyset;
pub mod nsec3;
pub mod records;
pub mod rollover;
pub mod security;
pub mod verify;

pub use anchors::TrustAnchor;
pub use budget::{Budget, Exhausted};
pub use keyset::{KeyVerdict, Secure, ZoneKeys, prove_keys, prove_rrset};
pub use records::{Dnskey, Ds, Rrsig, key_tag};
pub use security::Security;
pub use verify::{Failure, verify_rrset};

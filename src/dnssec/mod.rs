//! DNSSEC signatures checked as RFC 4034 and RFC 4035 have them, on
//! records in wire form.
//!
//! This is the part of validation that needs no network: the fields of
//! RRSIG, DNSKEY and DS records (`records`), the data an RRSIG signs
//! (`canonical`), and the check of one signature with one key
//! (`verify`), for the algorithms RFC 8624 says a validator must
//! support: RSA/SHA-256 (8), RSA/SHA-512 (10), ECDSA P-256 (13) and P-384
//! (14), and Ed25519 (15). Building chains of trust and judging denial
//! proofs use it.

pub mod canonical;
pub mod records;
pub mod verify;

pub use records::{Dnskey, Ds, Rrsig, key_tag};
pub use verify::{Failure, verify_rrset};

//! What validation made of a piece of data (RFC 4035 section 4.3), and
//! the Extended DNS Error (RFC 8914) a bogus answer is refused with.

use super::verify::Failure;

/// The security status of cached data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// Proven by a chain of trust from an anchor.
    Secure,
    /// Proven to have no chain of trust: under an insecure delegation, an
    /// opt-out span, or signed only with what this validator does not
    /// implement.
    Insecure,
    /// A chain of trust says it should be signed, and it is not validly.
    Bogus(Failure),
    /// Not validated: validation is off, or the data was looked up to
    /// find servers, not to answer a client.
    Indeterminate,
}

impl Security {
    /// The weaker of two: an answer is only as secure as its weakest
    /// part.
    pub fn and(self, other: Security) -> Security {
        let rank = |s: &Security| match s {
            Security::Bogus(_) => 0,
            Security::Indeterminate => 1,
            Security::Insecure => 2,
            Security::Secure => 3,
        };
        if rank(&other) < rank(&self) {
            other
        } else {
            self
        }
    }

    /// The Extended DNS Error for bogus data: its INFO-CODE and text.
    pub fn extended_error(self) -> Option<(u16, &'static str)> {
        let Security::Bogus(failure) = self else {
            return None;
        };
        Some(match failure {
            Failure::SignatureExpired => (7, "signature expired"),
            Failure::SignatureNotYetValid => (8, "signature not yet valid"),
            Failure::DnskeyMissing => (9, "no DNSKEY matches the DS or the signatures"),
            Failure::RrsigsMissing => (10, "RRSIGs missing"),
            Failure::NoZoneKeyBit => (11, "no zone key bit set"),
            Failure::NsecMissing => (12, "no NSEC or NSEC3 proof of the denial"),
            Failure::Malformed => (6, "malformed DNSSEC records"),
            Failure::UnsupportedAlgorithm => (1, "unsupported DNSKEY algorithm"),
            Failure::NotForThis => (6, "no signature for this RRset"),
            Failure::Revoked => (6, "the signing key is revoked"),
            Failure::BadKey => (6, "unusable DNSKEY"),
            Failure::BadSignature => (6, "signature does not verify"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weakest_part_decides() {
        let bogus = Security::Bogus(Failure::BadSignature);
        assert_eq!(Security::Secure.and(Security::Insecure), Security::Insecure);
        assert_eq!(Security::Insecure.and(bogus), bogus);
        assert_eq!(bogus.and(Security::Secure), bogus);
        assert_eq!(
            Security::Secure.and(Security::Indeterminate),
            Security::Indeterminate
        );
        assert_eq!(Security::Secure.and(Security::Secure), Security::Secure);
    }

    #[test]
    fn bogus_data_names_its_reason() {
        assert_eq!(
            Security::Bogus(Failure::SignatureExpired).extended_error(),
            Some((7, "signature expired"))
        );
        assert_eq!(Security::Secure.extended_error(), None);
    }
}

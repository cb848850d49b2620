//! What validating the answer to one client question may cost.
//!
//! A zone can make a validator do unbounded work: DNSKEY sets with many
//! keys sharing a key tag and many RRSIGs per RRset (KeyTrap,
//! CVE-2023-50387), or NSEC3 chains with costly hashes (CVE-2023-50868).
//! Every signature check and NSEC3 hash is taken from a budget made per
//! client question; once it is spent the answer is SERVFAIL and the event
//! is counted. The limits are those PowerDNS Recursor chose after
//! KeyTrap (`max_signature_validations_per_query`,
//! `max_rrsigs_per_record`, `max_nsec3_hash_computations_per_query`), with
//! room for two keys per tag as BIND allows.

/// Signature checks for one client question.
pub const SIGNATURES_PER_QUESTION: u32 = 30;
/// RRSIGs of one RRset tried before it is judged.
pub const RRSIGS_PER_RRSET: usize = 4;
/// DNSKEYs tried for one key tag (and algorithm): tags collide by design.
pub const KEYS_PER_TAG: usize = 2;
/// NSEC3 hashes for one client question.
pub const NSEC3_HASHES_PER_QUESTION: u32 = 600;

/// The work left for one client question.
#[derive(Clone, Debug)]
pub struct Budget {
    signatures: u32,
    nsec3_hashes: u32,
}

/// The budget is spent: the question is answered SERVFAIL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exhausted;

impl Default for Budget {
    fn default() -> Self {
        Budget {
            signatures: SIGNATURES_PER_QUESTION,
            nsec3_hashes: NSEC3_HASHES_PER_QUESTION,
        }
    }
}

impl Budget {
    /// Takes one signature check from the budget.
    pub fn signature(&mut self) -> Result<(), Exhausted> {
        self.signatures = self.signatures.checked_sub(1).ok_or(Exhausted)?;
        Ok(())
    }

    /// Takes the hashes of one NSEC3 name (1 + iterations) from the budget.
    pub fn nsec3_hash(&mut self, iterations: u16) -> Result<(), Exhausted> {
        let cost = 1 + u32::from(iterations);
        self.nsec3_hashes = self.nsec3_hashes.checked_sub(cost).ok_or(Exhausted)?;
        Ok(())
    }

    pub fn signatures_left(&self) -> u32 {
        self.signatures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_runs_out_and_stays_out() {
        let mut budget = Budget::default();
        for _ in 0..SIGNATURES_PER_QUESTION {
            budget.signature().unwrap();
        }
        assert_eq!(budget.signature(), Err(Exhausted));
        assert_eq!(budget.signature(), Err(Exhausted));
        // 600 hashes: 40 names at 14 iterations, not a 41st.
        for _ in 0..40 {
            budget.nsec3_hash(14).unwrap();
        }
        assert_eq!(budget.nsec3_hash(14), Err(Exhausted));
    }
}

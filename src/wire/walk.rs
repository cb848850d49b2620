//! Walking the records of a whole message without decoding them: where
//! each starts, its type and TTL. For the few places that look at a
//! response after it is written (EDNS options, DoH's Cache-Control).

/// A record's place in a message.
#[derive(Clone, Copy, Debug)]
pub struct RecordAt {
    pub start: usize,
    pub rtype: u16,
    pub ttl: u32,
}

/// Calls `each` for every record after the question, in order. `None`
/// when the message does not hold exactly what its header counts.
pub fn records(message: &[u8], mut each: impl FnMut(RecordAt)) -> Option<()> {
    let u16_at = |at: usize| {
        Some(u16::from_be_bytes([
            *message.get(at)?,
            *message.get(at + 1)?,
        ]))
    };
    let count = |at: usize| u16_at(at).map(usize::from);
    let records = count(6)? + count(8)? + count(10)?;
    let mut at = 12;
    for _ in 0..count(4)? {
        at = skip_name(message, at)? + 4;
    }
    for _ in 0..records {
        let fixed = skip_name(message, at)?;
        let ttl = message.get(fixed + 4..fixed + 8)?;
        each(RecordAt {
            start: at,
            rtype: u16_at(fixed)?,
            ttl: u32::from_be_bytes([ttl[0], ttl[1], ttl[2], ttl[3]]),
        });
        at = fixed + 10 + usize::from(u16_at(fixed + 8)?);
    }
    (at == message.len()).then_some(())
}

/// Where the possibly compressed name at `at` ends.
fn skip_name(message: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *message.get(at)?;
        match len {
            0 => return Some(at + 1),
            1..=63 => at += 1 + usize::from(len),
            0xc0..=0xff => return message.get(at + 1).map(|_| at + 2),
            _ => return None,
        }
    }
}

/// The smallest TTL of the records in a response, OPT aside: how long
/// an HTTP cache may keep it (RFC 8484 section 5.1).
pub fn min_ttl(message: &[u8]) -> Option<u32> {
    let mut least: Option<u32> = None;
    records(message, |record| {
        if record.rtype != super::rtype::OPT {
            least = Some(least.map_or(record.ttl, |l| l.min(record.ttl)));
        }
    })?;
    least
}

//! What reading a zone finds short of an error, and the rule that decides
//! between loading and refusing when BIND and NSD disagree.
//!
//! A zone loads here if BIND or NSD loads it: operators bring files that
//! one of them accepts. Some things only one refuses (BIND a zone without
//! NS records, NSD records outside the zone, ...): each is a warning, and
//! the zone is refused only if both would refuse it, with every reason
//! named.

use std::path::Path;

use super::file::{Location, ZoneError};

/// The server that refuses a zone for some finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    Bind,
    Nsd,
}

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::Bind => "BIND",
            Peer::Nsd => "NSD",
        }
    }
}

/// One finding: where, what, and who refuses a zone for it.
#[derive(Clone, Debug)]
struct Finding {
    location: Option<Location>,
    message: String,
    refused_by: Option<Peer>,
}

/// Everything found while reading and building one zone.
#[derive(Clone, Debug, Default)]
pub struct Findings {
    found: Vec<Finding>,
}

impl Findings {
    /// Something to tell the operator; neither peer refuses the zone for it.
    pub fn warn(&mut self, location: Option<&Location>, message: impl Into<String>) {
        self.push(location, message.into(), None);
    }

    /// Something `peer` refuses a zone for, and the other loads it with.
    pub fn refused_by(
        &mut self,
        peer: Peer,
        location: Option<&Location>,
        message: impl Into<String>,
    ) {
        self.push(location, message.into(), Some(peer));
    }

    /// Adds what `later` found, after what this found.
    pub fn append(&mut self, mut later: Findings) {
        self.found.append(&mut later.found);
    }

    fn push(&mut self, location: Option<&Location>, message: String, refused_by: Option<Peer>) {
        self.found.push(Finding {
            location: location.cloned(),
            message,
            refused_by,
        });
    }

    /// The zone's fate: refused (every finding either peer refuses it for)
    /// if both would refuse it, else loaded with these warnings.
    pub fn settle(self, file: &Path) -> Result<Vec<String>, ZoneError> {
        let refuses = |peer| self.found.iter().any(|f| f.refused_by == Some(peer));
        if refuses(Peer::Bind) && refuses(Peer::Nsd) {
            let errors = self
                .found
                .into_iter()
                .filter_map(|f| {
                    let peer = f.refused_by?;
                    let message = format!("{} (which {} refuses)", f.message, peer.name());
                    Some(match &f.location {
                        Some(location) => ZoneError::at(location, message),
                        None => ZoneError::in_file(file, message),
                    })
                })
                .collect();
            return Err(
                ZoneError::gather(errors).unwrap_or_else(|| ZoneError::in_file(file, "refused"))
            );
        }
        Ok(self
            .found
            .into_iter()
            .map(|f| {
                let place = match &f.location {
                    Some(location) => location.to_string(),
                    None => file.display().to_string(),
                };
                match f.refused_by {
                    Some(peer) => format!(
                        "{place}: {} ({} refuses this; loaded as {} loads it)",
                        f.message,
                        peer.name(),
                        match peer {
                            Peer::Bind => "NSD",
                            Peer::Nsd => "BIND",
                        }
                    ),
                    None => format!("{place}: {}", f.message),
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn at(line: usize) -> Location {
        Location {
            file: Arc::from(Path::new("z")),
            line,
        }
    }

    #[test]
    fn refused_only_if_both_would_refuse() {
        let mut findings = Findings::default();
        findings.warn(Some(&at(1)), "duplicate record");
        findings.refused_by(Peer::Bind, None, "no NS records");
        let warnings = findings.clone().settle(Path::new("z")).unwrap();
        assert_eq!(warnings[0], "z:1: duplicate record");
        assert_eq!(
            warnings[1],
            "z: no NS records (BIND refuses this; loaded as NSD loads it)"
        );
        findings.refused_by(Peer::Nsd, Some(&at(4)), "a second SOA");
        let err = findings.settle(Path::new("z")).unwrap_err();
        assert_eq!(err.count(), 2);
        assert_eq!(err.line, None);
        assert_eq!(err.also[0].line, Some(4));
        assert!(err.to_string().contains("a second SOA (which NSD refuses)"));
    }
}

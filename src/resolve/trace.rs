//! The steps of a resolution, as an operator reads them: which server was
//! asked what, how long it took, how its response was judged and why, and
//! what was kept. `hearsay ctl trace` collects them for one question; at
//! debug level every resolution writes them to the log.
//!
//! A step's text is formatted only when someone will read it.

use std::sync::Mutex;

/// Most lines one trace keeps; a resolution that would write more (it is
/// bounded by its `Budget`, but sub-queries add up) ends with a marker.
const MAX_LINES: usize = 2000;

/// The lines of one traced resolution.
#[derive(Debug, Default)]
pub struct Trace {
    lines: Mutex<Vec<String>>,
}

impl Trace {
    fn push(&self, line: String) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        match lines.len() {
            n if n < MAX_LINES => lines.push(line),
            MAX_LINES => lines.push("... (trace cut short)".into()),
            _ => {}
        }
    }

    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Records one step, indented by `depth` (sub-queries for name server
/// addresses are one deeper than the question that needed them): in
/// `trace` if there is one, and in the log at debug level.
pub fn note(trace: Option<&Trace>, depth: usize, step: impl FnOnce() -> String) {
    let debug = tracing::enabled!(target: "hearsay::trace", tracing::Level::DEBUG);
    if trace.is_none() && !debug {
        return;
    }
    let line = format!("{}{}", "  ".repeat(depth.min(8)), step());
    if debug {
        tracing::debug!(target: "hearsay::trace", "{line}");
    }
    if let Some(trace) = trace {
        trace.push(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_indented_and_bounded() {
        let trace = Trace::default();
        note(Some(&trace), 1, || "asked".into());
        assert_eq!(trace.lines(), ["  asked"]);
        for _ in 0..MAX_LINES + 10 {
            note(Some(&trace), 0, || "x".into());
        }
        let lines = trace.lines();
        assert_eq!(lines.len(), MAX_LINES + 1);
        assert_eq!(lines.last().unwrap(), "... (trace cut short)");
    }

    #[test]
    fn nothing_is_formatted_without_a_reader() {
        note(None, 0, || unreachable!("no trace and no debug log"));
    }
}

//! What a check says: the monitoring-plugin status, the result kept as JSON, and the one-line
//! status with its performance data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::findings::{Episode, Link};
use crate::units::short_number;

/// The four states of the monitoring-plugin convention, in rising order of trouble.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl Status {
    /// The exit code: 0, 1, 2, 3.
    pub fn code(self) -> u8 {
        self as u8
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }
}

/// The result of a check: `--json` prints it, `status.json` and `last.json` keep it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub status: Status,
    /// The exit code of `status`.
    pub code: u8,
    /// What the status line says after `ROOTLINE <STATUS> - `.
    pub summary: String,
    /// The window judged, `[start, end)` RFC 3339 UTC, and its name in the state directory;
    /// absent when the check stopped before it knew the window.
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    pub night: Option<String>,
    /// Episodes that overlap the window, as in findings.json (they cite source lines by file
    /// and number; no log text).
    pub surges: Vec<Episode>,
    pub exhaustions: Vec<Episode>,
    pub failures: Vec<Episode>,
    pub changes: Vec<Episode>,
    /// Links of the chain that end in the window.
    pub chain: Vec<Link>,
    /// Lines read and rejected over all sources.
    pub lines: u64,
    pub rejected: u64,
    /// Hours of history before the window the baseline stood on, and the stored runs in it.
    pub history_h: f64,
    pub stored_runs: usize,
    /// Performance data for the status line: name -> value.
    pub perfdata: BTreeMap<String, f64>,
    /// The run's directory in the state, when it was written.
    pub report: Option<String>,
}

impl CheckResult {
    /// An UNKNOWN result with its reason.
    pub fn unknown(summary: impl Into<String>) -> CheckResult {
        CheckResult {
            status: Status::Unknown,
            code: Status::Unknown.code(),
            summary: summary.into(),
            window_start: None,
            window_end: None,
            night: None,
            surges: vec![],
            exhaustions: vec![],
            failures: vec![],
            changes: vec![],
            chain: vec![],
            lines: 0,
            rejected: 0,
            history_h: 0.0,
            stored_runs: 0,
            perfdata: BTreeMap::new(),
            report: None,
        }
    }

    /// The plugin status line: `ROOTLINE CRITICAL - login surge 12.4x at 03:14Z, ... | k=v ...`.
    /// Text from logs (a file name, a series) can hold `|` or a newline, which would start
    /// fake perfdata or a second status line: the summary has neither, and labels are words.
    pub fn status_line(&self) -> String {
        let summary: String = self
            .summary
            .chars()
            .map(|c| match c {
                '|' => '/',
                c if c.is_control() => ' ',
                c => c,
            })
            .collect();
        let mut s = format!("ROOTLINE {} - {summary}", self.status.as_str());
        if !self.perfdata.is_empty() {
            s.push_str(" |");
            for (k, v) in &self.perfdata {
                let label: String =
                    k.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
                s.push_str(&format!(" {label}={}", short_number(*v, 3)));
            }
        }
        s
    }
}

pub(crate) fn json(r: &CheckResult) -> Vec<u8> {
    (serde_json::to_string_pretty(r).unwrap_or_default() + "\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_text_cannot_forge_perfdata_or_a_second_status_line() {
        let r = CheckResult::unknown("app|surges=0 lines=0\nROOTLINE OK - fine.log is bad");
        let line = r.status_line();
        assert_eq!(line.matches('|').count(), 0, "{line}");
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(line.starts_with("ROOTLINE UNKNOWN - app/surges=0"), "{line}");
    }

    #[test]
    fn the_status_line_has_perfdata() {
        let mut r = CheckResult::unknown("x");
        r.perfdata.insert("attempts_ratio".into(), 12.4);
        r.perfdata.insert("lines".into(), 10.0);
        assert_eq!(r.status_line(), "ROOTLINE UNKNOWN - x | attempts_ratio=12.4 lines=10");
    }
}

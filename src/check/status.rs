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

/// The performance data a check reports: its label, unit of measure and range
/// (`label=value[uom];warn;crit;min;max` in the monitoring-plugin format).
pub struct Metric {
    pub label: &'static str,
    pub uom: &'static str,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub help: &'static str,
}

/// Every metric a check can report, in the order of the status line.
pub const METRICS: &[Metric] = &[
    Metric {
        label: "attempts_ratio",
        uom: "",
        min: Some(0.0),
        max: None,
        help: "the worst login surge in the window, as a multiple of its baseline",
    },
    Metric {
        label: "nodes_online_drop",
        uom: "%",
        min: Some(0.0),
        max: Some(100.0),
        help: "the deepest fall of nodes online in the window, in percent of its baseline",
    },
    Metric {
        label: "utilisation",
        uom: "",
        min: Some(0.0),
        max: None,
        help: "the highest utilisation (load over capacity) in an exhaustion in the window",
    },
    Metric {
        label: "failed_logins_peak",
        uom: "",
        min: Some(0.0),
        max: None,
        help: "failed logins per bucket at the peak of the worst failure episode",
    },
    Metric { label: "surges", uom: "", min: Some(0.0), max: None, help: "surges in the window" },
    Metric {
        label: "exhaustions",
        uom: "",
        min: Some(0.0),
        max: None,
        help: "exhaustions in the window",
    },
    Metric {
        label: "failure_episodes",
        uom: "",
        min: Some(0.0),
        max: None,
        help: "failure episodes in the window",
    },
    Metric {
        label: "change_waves",
        uom: "",
        min: Some(0.0),
        max: None,
        help: "change waves in the window (named, never raising the status)",
    },
    Metric { label: "lines", uom: "", min: Some(0.0), max: None, help: "log lines read" },
    Metric { label: "rejected", uom: "", min: Some(0.0), max: None, help: "log lines rejected" },
];

/// The thresholds that decide WARNING and CRITICAL: a metric at or above its warning value
/// is WARNING, at or above its critical value CRITICAL; a surge and an exhaustion together
/// are CRITICAL too. The defaults give the documented rules (a surge or an exhaustion alone
/// WARNING, a failure episode CRITICAL); `--warning`/`--critical` change them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub warning: BTreeMap<String, f64>,
    pub critical: BTreeMap<String, f64>,
}

impl Default for Thresholds {
    fn default() -> Self {
        // A detected surge is at least 3x its baseline, an exhaustion at least 20% down (see
        // DetectOptions): any of them is a warning.
        let warning = [("attempts_ratio", 3.0), ("nodes_online_drop", 20.0), ("utilisation", 0.95)];
        Thresholds {
            warning: warning.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            critical: [("failure_episodes".to_string(), 1.0)].into(),
        }
    }
}

impl Thresholds {
    /// Sets thresholds from `KEY=VALUE[,KEY=VALUE...]` (a flag's text); `critical` says which.
    pub fn set(&mut self, text: &str, critical: bool) -> Result<(), String> {
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| {
                format!("\"{part}\" should be METRIC=VALUE, e.g. attempts_ratio=6")
            })?;
            if !METRICS.iter().any(|m| m.label == k) {
                return Err(crate::error::unknown_value(
                    "metric",
                    k,
                    METRICS.iter().map(|m| m.label),
                ));
            }
            let v: f64 = v.parse().map_err(|_| format!("\"{v}\" in \"{part}\" is not a number"))?;
            let map = if critical { &mut self.critical } else { &mut self.warning };
            map.insert(k.to_string(), v);
        }
        Ok(())
    }

    /// The status one metric's value gives.
    pub fn status_of(&self, label: &str, v: f64) -> Status {
        if self.critical.get(label).is_some_and(|c| v >= *c) {
            Status::Critical
        } else if self.warning.get(label).is_some_and(|w| v >= *w) {
            Status::Warning
        } else {
            Status::Ok
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
    /// Performance data for the status line: name -> value (see [`METRICS`]).
    pub perfdata: BTreeMap<String, f64>,
    /// The thresholds the status was decided with.
    #[serde(default)]
    pub thresholds: Thresholds,
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
            thresholds: Thresholds::default(),
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
            for (label, v) in self.ordered_perfdata() {
                let (uom, min, max) = METRICS
                    .iter()
                    .find(|m| m.label == label)
                    .map_or(("", None, None), |m| (m.uom, m.min, m.max));
                let num = |x: Option<f64>| x.map(|x| short_number(x, 3)).unwrap_or_default();
                let (w, c) =
                    (self.thresholds.warning.get(&label), self.thresholds.critical.get(&label));
                s.push_str(&format!(
                    " {label}={}{uom};{};{};{};{}",
                    short_number(v, 3),
                    num(w.copied()),
                    num(c.copied()),
                    num(min),
                    num(max)
                ));
            }
        }
        s
    }

    /// The performance data in the order of [`METRICS`], labels made of word characters only.
    pub fn ordered_perfdata(&self) -> Vec<(String, f64)> {
        let clean = |k: &str| -> String {
            k.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
        };
        let rank = |k: &str| METRICS.iter().position(|m| m.label == k).unwrap_or(METRICS.len());
        let mut v: Vec<(String, f64)> = self.perfdata.iter().map(|(k, v)| (clean(k), *v)).collect();
        v.sort_by(|a, b| (rank(&a.0), &a.0).cmp(&(rank(&b.0), &b.0)));
        v
    }

    /// The result in Prometheus' text exposition format (for node_exporter's textfile
    /// collector): the status and every metric, labelled with the check's `name`.
    pub fn prometheus(&self, name: &str) -> String {
        let label: String = name
            .chars()
            .flat_map(|c| match c {
                '\\' => vec!['\\', '\\'],
                '"' => vec!['\\', '"'],
                '\n' => vec!['\\', 'n'],
                c => vec![c],
            })
            .collect();
        let mut out = String::new();
        let mut gauge = |metric: &str, help: &str, v: f64| {
            out += &format!("# HELP rootline_{metric} {help}\n# TYPE rootline_{metric} gauge\n");
            out += &format!("rootline_{metric}{{check=\"{label}\"}} {v}\n");
        };
        gauge(
            "check_status",
            "The last check's status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
            f64::from(self.code),
        );
        if let Some(end) = &self.window_end {
            let secs = crate::units::rfc3339_ms(end) / 1000;
            gauge(
                "check_window_end_timestamp_seconds",
                "The end of the window judged.",
                secs as f64,
            );
        }
        for (k, v) in self.ordered_perfdata() {
            let help = METRICS.iter().find(|m| m.label == k).map_or("", |m| m.help);
            gauge(&k, help, v);
        }
        out
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
        r.perfdata.insert("nodes_online_drop".into(), 45.3);
        assert_eq!(
            r.status_line(),
            "ROOTLINE UNKNOWN - x | attempts_ratio=12.4;3;;0; nodes_online_drop=45.3%;20;;0;100 \
             lines=10;;;0;"
        );
    }
}

//! The nightly check: one window of logs judged against what earlier runs learned, as a
//! monitoring-plugin status (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), with the window's report
//! and the learned baseline kept in a state directory.
//!
//! - OK: no surge, no capacity exhaustion, no failure episode in the window.
//! - WARNING: an anomaly on one signal: a surge alone, or an exhaustion alone.
//! - CRITICAL: a surge together with an exhaustion, or a failure episode.
//! - UNKNOWN: the check cannot decide (unreadable input, too many rejected lines, too little
//!   history, no lines in the window, a lock held by another run), with the reason.
//!
//! Change waves never raise the status (patch nights are planned); they are named in the text.
//!
//! State layout. Every file and directory appears whole: it is written under a `.tmp-` name and
//! renamed into place; a killed run leaves at most `.tmp-` leftovers, removed by the next run.
//! ```text
//! STATE/lock                            held (an OS file lock) while a run is going
//! STATE/runs/<night>/                   the report as `rootline report` makes it, status.json
//!                                       and rejects.jsonl (only these two when too many lines
//!                                       were rejected to judge)
//! STATE/baseline/<bucket>/<night>.parquet  the window's series: the history later runs learn from
//! STATE/last.json                       the status of the latest run
//! ```
//! `<night>` is the window's UTC date (`2007-08-16`) when the window is that whole day, else the
//! window's end (`2007-08-16T1200Z`). Re-running a night replaces its files, so it never counts
//! twice in the baseline. Where stored history and the files cover the same bucket, the files win;
//! buckets no run stored and no file covers are zeros.

mod judge;
mod state;
mod status;
mod window;

use std::fs;
use std::path::PathBuf;

use polars::prelude::PolarsError;

pub use judge::within;
pub use status::{CheckResult, METRICS, Metric, Status, Thresholds};
pub use window::{Window, window};

use crate::correlate::AnalyzeOptions;
use crate::ingest::SourceSpec;
use crate::pipeline::{Incident, Input, LoadOptions, PipelineError};
use crate::tables;
use crate::units::{DAY_MS, HOUR_MS, rfc3339_secs as rfc3339};

/// What can stop a check before it judges; [`check`] turns each into an UNKNOWN with its text.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Config(#[from] crate::error::ConfigError),
    #[error(transparent)]
    Polars(#[from] PolarsError),
    /// A file or directory of the state that could not be read or written.
    #[error("{}: {message}", .path.display())]
    State { path: PathBuf, message: String },
}

impl CheckError {
    pub(crate) fn state(path: &std::path::Path, e: impl std::fmt::Display) -> CheckError {
        CheckError::State { path: path.to_path_buf(), message: e.to_string() }
    }
}

/// How to run a check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Shown on the report.
    pub title: String,
    /// The end of the window: a bare date means that whole UTC day (the window ends at the next
    /// midnight); an RFC 3339 time ends the window there. Default: the last complete UTC day in
    /// the data.
    pub as_of: Option<String>,
    /// The span judged (default 24 h).
    pub window_ms: i64,
    pub state: PathBuf,
    /// Largest share of rejected lines before the check gives UNKNOWN (default 0.05).
    pub max_rejected: f64,
    /// Least history before the window, from files and state together (default 6 h).
    pub min_history_ms: i64,
    pub bucket_ms: i64,
    /// Stored nights older than this before the window are not loaded (default 28 days).
    pub history_ms: i64,
    /// What decides WARNING and CRITICAL.
    pub thresholds: Thresholds,
}

impl CheckOptions {
    pub fn new(state: PathBuf) -> CheckOptions {
        CheckOptions {
            title: "rootline check".into(),
            as_of: None,
            window_ms: DAY_MS,
            state,
            max_rejected: 0.05,
            min_history_ms: 6 * HOUR_MS,
            bucket_ms: 60_000,
            history_ms: 28 * DAY_MS,
            thresholds: Thresholds::default(),
        }
    }
}

/// Runs a check over the sources. Never fails: what goes wrong is an UNKNOWN with the reason.
pub fn check(specs: &[SourceSpec], o: &CheckOptions) -> CheckResult {
    if let Err(e) = fs::create_dir_all(&o.state) {
        return CheckResult::unknown(format!(
            "cannot create the state directory {}: {e}",
            o.state.display()
        ));
    }
    let lock = match state::lock(&o.state) {
        Ok(l) => l,
        Err(why) => return CheckResult::unknown(why),
    };
    state::clean_leftovers(&o.state);
    let result = match judge(specs, o) {
        Ok(r) => r,
        Err(e) => CheckResult::unknown(format!("{e:#}")),
    };
    // The latest status, whatever it was; a failure to keep it is itself an UNKNOWN.
    let result = match crate::atomic::write(&o.state.join("last.json"), &status::json(&result)) {
        Ok(()) => result,
        Err(e) => CheckResult::unknown(format!("cannot write {}: {e}", o.state.display())),
    };
    drop(lock);
    result
}

fn judge(specs: &[SourceSpec], o: &CheckOptions) -> Result<CheckResult, CheckError> {
    if o.bucket_ms * 10 > o.window_ms {
        // A bucket that wide averages an incident night into its neighbours.
        return Err(crate::error::ConfigError::Invalid(format!(
            "a bucket of {} over a window of {} is too coarse to judge it: give a bucket of at \
             most a tenth of the window (--bucket, --window)",
            crate::units::duration_text(o.bucket_ms),
            crate::units::duration_text(o.window_ms)
        ))
        .into());
    }
    let incident = Incident::load(&Input::Specs(specs.to_vec()), &LoadOptions::default())?;
    let lines: u64 = incident.inputs.iter().map(|s| s.lines).sum();
    let rejected: u64 = incident.inputs.iter().map(|s| s.rejected).sum();
    let mut result = CheckResult::unknown("");
    result.lines = lines;
    result.rejected = rejected;
    result.perfdata.insert("lines".into(), lines as f64);
    result.perfdata.insert("rejected".into(), rejected as f64);
    let runs = o.state.join("runs");
    let rejects = crate::ingest::sink::rejects_jsonl(&incident.rejects);
    let Some((_, last)) = tables::span(&incident.tables) else {
        if rejected == 0 {
            result.summary = "no rows in the logs; nothing to judge".into();
            return Ok(result);
        }
        // Not one line understood: keep them all, under the night asked for (or `undated`).
        let night = match o.as_of.as_deref() {
            Some(a) => {
                let w = window(Some(a), o.window_ms, 0, o.bucket_ms)?;
                result.window_start = Some(rfc3339(w.start));
                result.window_end = Some(rfc3339(w.end));
                w.night
            }
            None => "undated".to_string(),
        };
        result.night = Some(night.clone());
        let what = format!("no rows in the logs: {rejected} of {lines} lines rejected");
        state::keep_rejects(&runs, &night, &mut result, &incident.inputs, &rejects, &what)?;
        return Ok(result);
    };
    let Window { start, end, night } = window(o.as_of.as_deref(), o.window_ms, last, o.bucket_ms)?;
    result.window_start = Some(rfc3339(start));
    result.window_end = Some(rfc3339(end));
    result.night = Some(night.clone());
    if lines > 0 && rejected as f64 > o.max_rejected * lines as f64 {
        let what = format!(
            "{rejected} of {lines} lines rejected ({:.1}%, more than {:.1}%)",
            100.0 * rejected as f64 / lines as f64,
            100.0 * o.max_rejected,
        );
        state::keep_rejects(&runs, &night, &mut result, &incident.inputs, &rejects, &what)?;
        return Ok(result);
    }
    let mut incident = incident;
    tables::keep_range(&mut incident.tables, None, Some(end))?;
    let span = tables::span(&incident.tables);
    if span.is_none_or(|(_, hi)| hi < start) {
        result.summary = format!(
            "no log lines in the window {}..{} (last line at {}); are the logs current?",
            rfc3339(start),
            rfc3339(end),
            rfc3339(last)
        );
        return Ok(result);
    }
    let files = incident.series(o.bucket_ms)?;
    let baseline_dir = o.state.join("baseline").join(format!("{}s", o.bucket_ms / 1000));
    let (history, stored_runs) = state::load_history(&baseline_dir, start, o.history_ms, &night)?;
    let series = state::merge(&history, files);
    let history_ms = start - series.start_ms;
    result.history_h = history_ms.max(0) as f64 / HOUR_MS as f64;
    result.stored_runs = stored_runs;
    if history_ms < o.min_history_ms {
        result.summary = format!(
            "too little history to learn what normal is: {:.1} h before the window, {} h needed; \
             give logs that start earlier, or let earlier nights run first",
            result.history_h,
            o.min_history_ms / HOUR_MS
        );
        return Ok(result);
    }
    let opts = AnalyzeOptions { bucket_ms: o.bucket_ms, ..Default::default() };
    let findings = incident.analyze_series(&series, &opts)?;
    let tonight = within(&findings, start, end);
    judge::classify(&mut result, &tonight, start, end, o.bucket_ms, &o.thresholds);

    // The night's report and its series, each put in place whole.
    let shown = series.slice(end - 3 * o.window_ms.max(DAY_MS), end);
    state::keep_run(&runs, &night, &mut result, |dir| {
        crate::report::write(&tonight, &shown, &o.title, dir)
            .map_err(|e| CheckError::state(dir, e))?;
        if !incident.rejects.is_empty() {
            let path = dir.join("rejects.jsonl");
            fs::write(&path, &rejects).map_err(|e| CheckError::state(&path, e))?;
        }
        Ok(())
    })?;
    state::store_series(&baseline_dir, &night, &series.slice(start, end))?;
    Ok(result)
}

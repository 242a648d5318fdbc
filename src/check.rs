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

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use polars::prelude::{ParquetReader, ParquetWriter, SerReader};
use serde::{Deserialize, Serialize};

use crate::correlate::{self, AnalyzeOptions};
use crate::detect::{Episode, SeriesSet, rfc3339, rfc3339_ms, round_to, short_number};
use crate::findings::{Findings, Link};
use crate::ingest::SourceSpec;
use crate::tables;

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

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

/// Runs a check over the sources. Never fails: what goes wrong is an UNKNOWN with the reason.
pub fn check(specs: &[SourceSpec], o: &CheckOptions) -> CheckResult {
    if let Err(e) = fs::create_dir_all(&o.state) {
        return CheckResult::unknown(format!(
            "cannot create the state directory {}: {e}",
            o.state.display()
        ));
    }
    let lock = match lock(&o.state) {
        Ok(l) => l,
        Err(why) => return CheckResult::unknown(why),
    };
    clean_leftovers(&o.state);
    let result = match judge(specs, o) {
        Ok(r) => r,
        Err(e) => CheckResult::unknown(format!("{e:#}")),
    };
    // The latest status, whatever it was; a failure to keep it is itself an UNKNOWN.
    let result = match crate::atomic::write(&o.state.join("last.json"), &json(&result)) {
        Ok(()) => result,
        Err(e) => CheckResult::unknown(format!("cannot write {}: {e}", o.state.display())),
    };
    drop(lock);
    result
}

fn json(r: &CheckResult) -> Vec<u8> {
    (serde_json::to_string_pretty(r).unwrap_or_default() + "\n").into_bytes()
}

/// Takes STATE/lock; says who holds it when another run does.
fn lock(state: &Path) -> Result<File, String> {
    let path = state.join("lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let pid_path = state.join("lock.pid");
    match file.try_lock() {
        Ok(()) => {
            // Who holds it, for the message the next run may give: written whole, so a reader
            // never sees it empty.
            let _ = crate::atomic::write(&pid_path, format!("{}\n", std::process::id()).as_bytes());
            Ok(file)
        }
        Err(fs::TryLockError::WouldBlock) => {
            // The holder writes its pid just after it takes the lock: until then the file may
            // name an earlier run, long gone. Wait a little for a live one.
            let mut holder = None;
            for _ in 0..50 {
                let pid = fs::read_to_string(&pid_path).ok().and_then(|t| t.trim().parse().ok());
                if let Some(pid) = pid.filter(|p| crate::atomic::process_alive(*p)) {
                    holder = Some(pid);
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let who = holder.map_or("pid unknown".to_string(), |p| format!("pid {p}"));
            Err(format!(
                "another rootline check is running ({who}) and holds {}; runs must not overlap",
                path.display()
            ))
        }
        Err(fs::TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
    }
}

/// Removes `.tmp-` and `.old-` entries a killed run left behind.
fn clean_leftovers(state: &Path) {
    let mut dirs = vec![state.to_path_buf(), state.join("runs")];
    if let Ok(rd) = fs::read_dir(state.join("baseline")) {
        dirs.extend(rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()));
    }
    for dir in dirs {
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for e in rd.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") || name.starts_with(".old-") {
                let p = e.path();
                let _ = if p.is_dir() { fs::remove_dir_all(&p) } else { fs::remove_file(&p) };
            }
        }
    }
}

/// Where the window ends and what it is called.
pub fn window(
    as_of: Option<&str>,
    window_ms: i64,
    last_ts: i64,
    bucket_ms: i64,
) -> Result<(i64, i64, String), String> {
    let end = match as_of {
        Some(a) if chrono::NaiveDate::parse_from_str(a, "%Y-%m-%d").is_ok() => {
            crate::ingest::time::parse_instant(a)? + DAY_MS
        }
        Some(a) => crate::ingest::time::parse_instant(a).map_err(|e| format!("--as-of {e}"))?,
        // The last complete UTC day: the day holding the last row counts when the rows reach
        // its last bucket.
        None => (last_ts + bucket_ms).div_euclid(DAY_MS) * DAY_MS,
    };
    let start = end - window_ms;
    let night = if window_ms == DAY_MS && end.rem_euclid(DAY_MS) == 0 {
        rfc3339(start)[..10].to_string()
    } else {
        let t = rfc3339(end);
        format!("{}T{}{}Z", &t[..10], &t[11..13], &t[14..16])
    };
    Ok((start, end, night))
}

fn judge(specs: &[SourceSpec], o: &CheckOptions) -> anyhow::Result<CheckResult> {
    let got = tables::ingest_for_analysis(specs)?;
    let lines: u64 = got.report.sources.iter().map(|s| s.lines).sum();
    let rejected = got.report.rejected();
    let mut result = CheckResult::unknown("");
    result.lines = lines;
    result.rejected = rejected;
    result.perfdata.insert("lines".into(), lines as f64);
    result.perfdata.insert("rejected".into(), rejected as f64);
    let mut tables = got.tables;
    let mut inputs = got.report.sources.clone();
    let outliers = tables::set_aside_outliers(&mut tables)?;
    tables::note_outliers(&outliers, &mut inputs);
    let runs = o.state.join("runs");
    let rejects = rejects_jsonl(&got.rejects)?;
    let Some((_, last)) = tables::span(&tables) else {
        if rejected == 0 {
            result.summary = "no rows in the logs; nothing to judge".into();
            return Ok(result);
        }
        // Not one line understood: keep them all, under the night asked for (or `undated`).
        let night = match o.as_of.as_deref() {
            Some(a) => {
                let (start, end, night) =
                    window(Some(a), o.window_ms, 0, o.bucket_ms).map_err(anyhow::Error::msg)?;
                result.window_start = Some(rfc3339(start));
                result.window_end = Some(rfc3339(end));
                night
            }
            None => "undated".to_string(),
        };
        result.night = Some(night.clone());
        let what = format!("no rows in the logs: {rejected} of {lines} lines rejected");
        keep_rejects(&runs, &night, &mut result, &got.report, &rejects, &what)?;
        return Ok(result);
    };
    let (start, end, night) =
        window(o.as_of.as_deref(), o.window_ms, last, o.bucket_ms).map_err(anyhow::Error::msg)?;
    result.window_start = Some(rfc3339(start));
    result.window_end = Some(rfc3339(end));
    result.night = Some(night.clone());
    if lines > 0 && rejected as f64 > o.max_rejected * lines as f64 {
        let what = format!(
            "{rejected} of {lines} lines rejected ({:.1}%, more than {:.1}%)",
            100.0 * rejected as f64 / lines as f64,
            100.0 * o.max_rejected,
        );
        keep_rejects(&runs, &night, &mut result, &got.report, &rejects, &what)?;
        return Ok(result);
    }
    tables::cut_before(&mut tables, end)?;
    let span = tables::span(&tables);
    if span.is_none_or(|(_, hi)| hi < start) {
        result.summary = format!(
            "no log lines in the window {}..{} (last line at {}); are the logs current?",
            rfc3339(start),
            rfc3339(end),
            rfc3339(last)
        );
        return Ok(result);
    }
    let files = crate::detect::series::build(&tables, o.bucket_ms)?;
    let baseline_dir = o.state.join("baseline").join(format!("{}s", o.bucket_ms / 1000));
    let (history, stored_runs) = load_history(&baseline_dir, start, o, &night)?;
    let series = merge(&history, files);
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
    let findings = correlate::analyze_series(&series, &tables, inputs, &opts)?;
    let tonight = within(&findings, start, end);
    classify(&mut result, &tonight, start, end, o.bucket_ms);

    // The night's report and its series, each put in place whole.
    let shown = series.slice(end - 3 * o.window_ms.max(DAY_MS), end);
    keep_run(&runs, &night, &mut result, |dir| {
        crate::report::write(&tonight, &shown, &o.title, dir)?;
        if !got.rejects.is_empty() {
            fs::write(dir.join("rejects.jsonl"), &rejects)?;
        }
        Ok(())
    })?;
    let mut window_series = series.slice(start, end).to_frame()?;
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes).finish(&mut window_series)?;
    crate::atomic::write(&baseline_dir.join(format!("{night}.parquet")), &bytes)?;
    Ok(result)
}

/// The rejected lines as `rootline ingest` writes them: one JSON object per line.
fn rejects_jsonl(rejects: &[crate::ingest::Reject]) -> serde_json::Result<String> {
    let mut text = String::new();
    for r in rejects {
        text += &(serde_json::to_string(r)? + "\n");
    }
    Ok(text)
}

/// An UNKNOWN for rejected lines: the summary names the file with the most, and the lines are
/// kept in `runs/<night>/rejects.jsonl` (there is no report to go with them).
fn keep_rejects(
    runs: &Path,
    night: &str,
    result: &mut CheckResult,
    report: &crate::ingest::IngestReport,
    rejects: &str,
    what: &str,
) -> anyhow::Result<()> {
    let worst = report.sources.iter().max_by_key(|s| s.rejected).expect("a source");
    result.summary = format!(
        "{what}; the most in {} ({}): is its format right? They are in {}",
        worst.path,
        worst.rejected,
        runs.join(night).join("rejects.jsonl").display()
    );
    keep_run(runs, night, result, |dir| Ok(fs::write(dir.join("rejects.jsonl"), rejects)?))
}

/// Puts RUNS/<night>/ in place whole: `fill` writes the files into a temporary directory,
/// status.json (naming the directory) goes in last, and the directory replaces the night's:
/// the old one moves aside, the new one takes its name, then the old one goes.
fn keep_run(
    runs: &Path,
    night: &str,
    result: &mut CheckResult,
    fill: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let final_dir = runs.join(night);
    let tmp = runs.join(format!(".tmp-{}-{night}", std::process::id()));
    fs::create_dir_all(&tmp)?;
    fill(&tmp)?;
    result.report = Some(final_dir.to_string_lossy().into_owned());
    fs::write(tmp.join("status.json"), json(result))?;
    if final_dir.exists() {
        let old = runs.join(format!(".old-{}-{night}", std::process::id()));
        fs::rename(&final_dir, &old)?;
        fs::rename(&tmp, &final_dir)?;
        fs::remove_dir_all(&old)?;
    } else {
        fs::rename(&tmp, &final_dir)?;
    }
    Ok(())
}

/// Stored series of earlier runs whose window ends by `start` (and not long before it), as
/// (bucket start, column -> value); later runs win where windows overlap. This run's own
/// night is left out, so re-running it never counts it twice.
type History = BTreeMap<i64, BTreeMap<String, f64>>;

fn load_history(
    dir: &Path,
    start: i64,
    o: &CheckOptions,
    night: &str,
) -> anyhow::Result<(History, usize)> {
    let mut files: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
                name.is_some_and(|n| {
                    n.ends_with(".parquet")
                        && !n.starts_with('.')
                        && n != format!("{night}.parquet")
                })
            })
            .collect(),
        Err(_) => vec![],
    };
    files.sort();
    let mut out = History::new();
    let mut used = 0;
    for path in files {
        let df = ParquetReader::new(File::open(&path)?).finish().map_err(|e| {
            anyhow::anyhow!("{} is not a stored series ({e}); remove it", path.display())
        })?;
        let not_stored = |e: polars::prelude::PolarsError| {
            anyhow::anyhow!(
                "{} is not a series this version of rootline stored ({e}); remove it and the \
                 next runs store it anew",
                path.display()
            )
        };
        let ts: Vec<i64> = df
            .column(crate::schema::TS)
            .and_then(|c| c.datetime().cloned())
            .map_err(not_stored)?
            .physical()
            .into_no_null_iter()
            .collect();
        let keep: Vec<usize> =
            (0..ts.len()).filter(|&i| ts[i] < start && ts[i] >= start - o.history_ms).collect();
        if keep.is_empty() {
            continue;
        }
        used += 1;
        for c in df.columns() {
            if c.name().as_str() == crate::schema::TS {
                continue;
            }
            let v = c.f64().map_err(not_stored)?;
            for &i in &keep {
                out.entry(ts[i]).or_default().insert(c.name().to_string(), v.get(i).unwrap_or(0.0));
            }
        }
    }
    Ok((out, used))
}

/// The stored history followed by the files' series on one grid; the files win where both
/// have a bucket.
fn merge(history: &History, files: SeriesSet) -> SeriesSet {
    let Some((&first, _)) = history.iter().next() else { return files };
    if first >= files.start_ms {
        return files;
    }
    let b = files.bucket_ms;
    let start = first - (first - files.start_ms).rem_euclid(b);
    let end = files.at(files.len);
    let len = ((end - start) / b) as usize;
    let offset = ((files.start_ms - start) / b) as usize;
    let mut names: std::collections::BTreeSet<String> = files.cols.keys().cloned().collect();
    for row in history.values() {
        names.extend(row.keys().cloned());
    }
    let mut cols: BTreeMap<String, Vec<f64>> =
        names.into_iter().map(|n| (n, vec![0.0; len])).collect();
    for (&t, row) in history.range(..files.start_ms) {
        let i = ((t - start) / b) as usize;
        for (name, v) in row {
            if let Some(c) = cols.get_mut(name) {
                c[i] = *v;
            }
        }
    }
    for (name, v) in &files.cols {
        cols.get_mut(name).expect("a file column")[offset..offset + v.len()].copy_from_slice(v);
    }
    SeriesSet { start_ms: start, bucket_ms: b, len, cols }
}

/// The findings about the window: episodes that overlap it, links that end in it, phases that
/// touch it. Inputs, params, coupling, feedback and impact stay as the analysis made them.
pub fn within(f: &Findings, start: i64, end: i64) -> Findings {
    let keep = |v: &[Episode]| -> Vec<Episode> {
        v.iter().filter(|e| e.overlaps(start, end - 1)).cloned().collect()
    };
    let in_window = |t: &str| (start..end).contains(&rfc3339_ms(t));
    let mut out = f.clone();
    out.surges = keep(&f.surges);
    out.exhaustions = keep(&f.exhaustions);
    out.failures = keep(&f.failures);
    out.changes = keep(&f.changes);
    out.chain = f.chain.iter().filter(|l: &&Link| in_window(&l.to_at)).cloned().collect();
    out.phases = f
        .phases
        .iter()
        .filter(|p| rfc3339_ms(&p.start) < end && rfc3339_ms(&p.end) >= start)
        .cloned()
        .collect();
    out.recovery = f.recovery.clone().filter(|r| in_window(r));
    out
}

/// Sets status, summary and perfdata from the window's findings.
fn classify(r: &mut CheckResult, f: &Findings, start: i64, end: i64, bucket_ms: i64) {
    let at = |t: &str| {
        let ms = rfc3339_ms(t).clamp(start, end);
        let full = rfc3339(ms);
        if full[..10] == rfc3339(start)[..10] {
            format!("{}Z", &full[11..16])
        } else {
            format!("{}Z", &full[..16])
        }
    };
    let top = |v: &[Episode]| v.iter().max_by(|a, b| a.score.total_cmp(&b.score)).cloned();
    let mut parts = Vec::new();
    if let Some(s) = top(&f.surges) {
        let what = if s.series == "attempts" { "login".to_string() } else { s.series.clone() };
        parts.push(format!("{what} surge {:.1}x at {}", s.ratio, at(&s.peak)));
        r.perfdata.insert(format!("{}_ratio", s.series), round_to(s.ratio, 2));
    }
    if let Some(x) = top(&f.exhaustions) {
        if x.series == "utilisation" {
            parts.push(format!("utilisation {:.0}% at {}", 100.0 * x.peak_value, at(&x.peak)));
            r.perfdata.insert("utilisation".into(), round_to(x.peak_value, 3));
        } else {
            let drop =
                if x.baseline > 0.0 { 100.0 * (1.0 - x.peak_value / x.baseline) } else { 0.0 };
            let what = x.series.replace('_', " ");
            parts.push(format!("{what} -{drop:.0}% at {}", at(&x.peak)));
            r.perfdata.insert(format!("{}_drop_pct", x.series), round_to(drop, 1));
        }
    }
    if let Some(x) = top(&f.failures) {
        let per =
            if bucket_ms == 60_000 { "min".to_string() } else { format!("{}s", bucket_ms / 1000) };
        parts.push(format!(
            "failed logins {}/{per} at {} (usually {})",
            short_number(round_to(x.peak_value, 1), 3),
            at(&x.peak),
            short_number(round_to(x.baseline, 1), 3)
        ));
        r.perfdata.insert("failed_logins_peak".into(), round_to(x.peak_value, 2));
    }
    r.status = if !f.failures.is_empty() || (!f.surges.is_empty() && !f.exhaustions.is_empty()) {
        Status::Critical
    } else if !f.surges.is_empty() || !f.exhaustions.is_empty() {
        Status::Warning
    } else {
        Status::Ok
    };
    r.code = r.status.code();
    if let Some(w) = top(&f.changes) {
        let kind = w.series.trim_start_matches("change_");
        let kind = if kind == "changes" { "change" } else { kind };
        parts.push(format!("{kind} wave at {}", at(&w.peak)));
    }
    for (k, v) in [
        ("surges", f.surges.len()),
        ("exhaustions", f.exhaustions.len()),
        ("failure_episodes", f.failures.len()),
        ("change_waves", f.changes.len()),
    ] {
        r.perfdata.insert(k.into(), v as f64);
    }
    if r.status == Status::Ok {
        let quiet = format!(
            "no surge, exhaustion or failures in {}",
            r.night.clone().unwrap_or_else(|| rfc3339(start))
        );
        parts.insert(0, quiet);
    }
    if !f.chain.is_empty() {
        let chain: Vec<String> = f.chain.iter().map(|l| format!("{}->{}", l.from, l.to)).collect();
        parts.push(format!("chain {}", chain.join(", ")));
    }
    r.summary = parts.join(", ");
    r.surges = f.surges.clone();
    r.exhaustions = f.exhaustions.clone();
    r.failures = f.failures.clone();
    r.changes = f.changes.clone();
    r.chain = f.chain.clone();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_their_names() {
        let day = |d: &str| crate::ingest::time::parse_instant(d).unwrap();
        let (s, e, n) = window(Some("2007-08-16"), DAY_MS, 0, 60_000).unwrap();
        assert_eq!((s, e, n.as_str()), (day("2007-08-16"), day("2007-08-17"), "2007-08-16"));
        let (s, e, n) = window(Some("2007-08-16T12:00:00Z"), 6 * HOUR_MS, 0, 60_000).unwrap();
        assert_eq!((e - s, n.as_str()), (6 * HOUR_MS, "2007-08-16T1200Z"));
        // Rows up to 23:59:30 make the day complete; rows up to noon do not.
        let last = day("2007-08-16") + DAY_MS - 30_000;
        assert_eq!(window(None, DAY_MS, last, 60_000).unwrap().2, "2007-08-16");
        let noon = day("2007-08-16") + 12 * HOUR_MS;
        assert_eq!(window(None, DAY_MS, noon, 60_000).unwrap().2, "2007-08-15");
        assert!(window(Some("yesterday"), DAY_MS, 0, 60_000).is_err());
    }

    #[test]
    fn history_comes_first_and_files_win_where_both_are() {
        let files = SeriesSet {
            start_ms: 10 * 60_000,
            bucket_ms: 60_000,
            len: 3,
            cols: [("attempts".to_string(), vec![5.0, 6.0, 7.0])].into(),
        };
        let mut h = History::new();
        for m in [7, 9, 10] {
            h.insert(m * 60_000, [("attempts".to_string(), 1.0)].into());
        }
        let s = merge(&h, files);
        assert_eq!(s.start_ms, 7 * 60_000);
        assert_eq!(s.get("attempts").unwrap(), [1.0, 0.0, 1.0, 5.0, 6.0, 7.0]);
    }

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

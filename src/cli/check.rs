//! `rootline check`: the nightly run for cron and monitoring systems. Exit codes follow the
//! monitoring-plugin convention: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.

use std::path::PathBuf;
use std::process::ExitCode;

use super::analyze::parse_duration;
use crate::check::{self, CheckOptions, CheckResult};
use crate::config::IncidentConfig;

/// Judge the last day of logs against what earlier nights learned; exit 0 OK, 1 WARNING,
/// 2 CRITICAL, 3 UNKNOWN, with one status line (or --json) on stdout.
///
/// WARNING: a surge or a capacity exhaustion alone. CRITICAL: a surge with exhaustion, or a
/// failure episode. UNKNOWN: cannot decide (bad config, unreadable or stale input, too many
/// rejected lines, too little history, another run holding the lock), with the reason.
/// Each run keeps its report in STATE/runs/<night>/ and its series in STATE/baseline/, which
/// later nights learn from; re-running a night replaces it.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  rootline check --config nightly.toml
  rootline check --config nightly.toml --as-of 2007-08-16 --state /var/lib/rootline
  rootline check --config nightly.toml --as-of 2007-08-16T06:00:00Z --window 6h --json

nightly.toml is an incident.toml; an optional [check] table sets window, state,
max-rejected, min-history and bucket (the command line wins). Status line:
  ROOTLINE CRITICAL - login surge 12.7x at 02:15Z, nodes online -45% at 19:24Z | ...")]
pub struct CheckArgs {
    /// The sources to check, as an incident.toml (with an optional [check] table).
    #[arg(long, short)]
    pub config: PathBuf,
    /// The window's end: a date means that whole UTC day; an RFC 3339 time ends it there.
    /// Default: the last complete UTC day in the logs.
    #[arg(long)]
    pub as_of: Option<String>,
    /// The span judged: 24h, 6h, 30m... [default: 24h]
    #[arg(long)]
    pub window: Option<String>,
    /// Where runs and the learned baseline are kept [default: rootline-state beside the
    /// config].
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Print the result as one JSON object instead of the status line.
    #[arg(long)]
    pub json: bool,
    /// Largest share of rejected lines before UNKNOWN [default: 0.05].
    #[arg(long)]
    pub max_rejected: Option<f64>,
    /// Least history before the window, from logs and state together [default: 6h].
    #[arg(long)]
    pub min_history: Option<String>,
    /// Bucket size of the series [default: 1m].
    #[arg(long)]
    pub bucket: Option<String>,
}

/// Every way this can go wrong ends as an UNKNOWN status, never as an error exit.
pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let result = match options(&args) {
        Ok((specs, opts)) => check::check(&specs, &opts),
        Err(e) => CheckResult::unknown(format!("{e:#}")),
    };
    if args.json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        println!("{}", result.status_line());
    }
    Ok(ExitCode::from(result.code))
}

fn options(args: &CheckArgs) -> anyhow::Result<(Vec<crate::ingest::SourceSpec>, CheckOptions)> {
    let cfg = IncidentConfig::load(&args.config)?;
    let base = args.config.parent().unwrap_or(std::path::Path::new(""));
    let specs = cfg.specs(base)?;
    let c = cfg.check.clone().unwrap_or_default();
    let state = match (&args.state, &c.state) {
        (Some(s), _) => s.clone(),
        (None, Some(s)) => base.join(s),
        (None, None) => base.join("rootline-state"),
    };
    let mut o = CheckOptions::new(state);
    o.title = cfg.title.clone().unwrap_or_else(|| args.config.display().to_string());
    o.as_of = args.as_of.clone();
    if let Some(w) = args.window.as_ref().or(c.window.as_ref()) {
        o.window_ms = parse_duration(w)?;
    }
    if let Some(m) = args.min_history.as_ref().or(c.min_history.as_ref()) {
        o.min_history_ms = parse_duration(m)?;
    }
    if let Some(b) = args.bucket.as_ref().or(c.bucket.as_ref()) {
        o.bucket_ms = parse_duration(b)?;
    }
    if let Some(r) = args.max_rejected.or(c.max_rejected) {
        anyhow::ensure!(
            (0.0..=1.0).contains(&r),
            "--max-rejected {r} is not a share; use 0.0 to 1.0"
        );
        o.max_rejected = r;
    }
    Ok((specs, o))
}

//! `rootline check`: the nightly run for cron and monitoring systems. Exit codes follow the
//! monitoring-plugin convention: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::args::duration;
use crate::check::{self, CheckOptions, CheckResult};
use crate::config::{IncidentConfig, check_share};

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
    /// Where runs and the learned baseline are kept [default: $XDG_STATE_HOME/rootline/<config
    /// name>, else ~/.local/state/rootline/<config name>].
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
    let specs = cfg.specs(args.config.parent().unwrap_or(Path::new("")))?;
    let c = &cfg.check;
    let state = match (&args.state, &c.state) {
        (Some(s), _) => s.clone(),
        (None, Some(s)) => s.clone(),
        (None, None) => default_state(&args.config)?,
    };
    let mut o = CheckOptions::new(state);
    o.title = cfg.title.clone().unwrap_or_else(|| args.config.display().to_string());
    o.as_of = args.as_of.clone();
    let flag = |name: &str, v: &Option<String>| v.as_deref().map(|v| duration(name, v)).transpose();
    if let Some(w) = flag("window", &args.window)?.or(c.window_ms) {
        o.window_ms = w;
    }
    if let Some(m) = flag("min-history", &args.min_history)?.or(c.min_history_ms) {
        o.min_history_ms = m;
    }
    if let Some(b) = flag("bucket", &args.bucket)?.or(c.bucket_ms) {
        o.bucket_ms = b;
    }
    if let Some(r) = args.max_rejected {
        o.max_rejected = check_share(r).map_err(|e| anyhow::anyhow!("--max-rejected {e}"))?;
    } else if let Some(r) = c.max_rejected {
        o.max_rejected = r;
    }
    Ok((specs, o))
}

/// The user's state directory for this config: `$XDG_STATE_HOME/rootline/<config name>`, else
/// `~/.local/state/rootline/<config name>`; never beside the config, inside a source tree.
fn default_state(config: &Path) -> anyhow::Result<PathBuf> {
    let name = config.file_stem().map_or("rootline".into(), |s| s.to_string_lossy().into_owned());
    let home = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from);
    let root = home("XDG_STATE_HOME")
        .or_else(|| home("HOME").map(|h| h.join(".local").join("state")))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no state directory: neither XDG_STATE_HOME nor HOME is set; give --state DIR \
                 or state = \"...\" in [check]"
            )
        })?;
    Ok(root.join("rootline").join(name))
}

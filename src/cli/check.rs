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
/// By default WARNING is a surge or a capacity exhaustion alone, CRITICAL a surge with an
/// exhaustion, or a failure episode; --warning and --critical set thresholds on the metrics
/// of the performance data instead. UNKNOWN: cannot decide (bad config, unreadable or stale
/// input, too many rejected lines, too little history, another run holding the lock), with
/// the reason.
/// Each run keeps its report in STATE/runs/<night>/ and its series in STATE/baseline/, which
/// later nights learn from; re-running a night replaces it.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  rootline check --config sample-data/skype-2007/incident.toml --as-of 2007-08-16 --state st/
  rootline check --config nightly.toml --state /var/lib/rootline
  rootline check --config nightly.toml -w attempts_ratio=5 -c attempts_ratio=10,nodes_online_drop=30
  rootline check --config nightly.toml --prometheus /var/lib/node_exporter/rootline.prom
  rootline check --config nightly.toml --as-of 2007-08-16T06:00:00Z --window 6h --json

nightly.toml is an incident.toml; an optional [check] table sets window, state,
max-rejected, min-history and bucket (the command line wins). Metrics for -w and -c:
attempts_ratio, nodes_online_drop (%), utilisation, failed_logins_peak, surges,
exhaustions, failure_episodes, change_waves, lines, rejected. Status line:
  ROOTLINE CRITICAL - login surge 14.1x at 02:10Z, ... | attempts_ratio=14.14;3;;0; ...")]
pub struct CheckArgs {
    /// The sources to check, as an incident.toml (with an optional [check] table). (Here -c is
    /// --critical, as monitoring plugins have it.)
    #[arg(long)]
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
    /// Bucket size of the series, at most a tenth of the window [default: 1m].
    #[arg(long)]
    pub bucket: Option<String>,
    /// WARNING thresholds, METRIC=VALUE[,METRIC=VALUE] (repeatable) [default:
    /// attempts_ratio=3,nodes_online_drop=20,utilisation=0.95].
    #[arg(long, short, value_name = "METRIC=VALUE")]
    pub warning: Vec<String>,
    /// CRITICAL thresholds, METRIC=VALUE[,METRIC=VALUE] (repeatable) [default:
    /// failure_episodes=1; and a surge with an exhaustion].
    #[arg(long, short, value_name = "METRIC=VALUE")]
    pub critical: Vec<String>,
    /// Also write the result for Prometheus (node_exporter's textfile collector) to FILE,
    /// whole (written under a temporary name, then renamed).
    #[arg(long, value_name = "FILE")]
    pub prometheus: Option<PathBuf>,
}

/// Every way this can go wrong ends as an UNKNOWN status, never as an error exit.
pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let result = match options(&args) {
        Ok((specs, opts)) => check::check(&specs, &opts),
        Err(e) => CheckResult::unknown(format!("{e:#}")),
    };
    let mut result = result;
    if let Some(path) = &args.prometheus {
        let name = args.config.file_stem().map_or("rootline".into(), |s| s.to_string_lossy());
        if let Err(e) = crate::atomic::write(path, result.prometheus(&name).as_bytes()) {
            result = CheckResult::unknown(format!("cannot write {}: {e}", path.display()));
        }
    }
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
    for w in &args.warning {
        o.thresholds.set(w, false).map_err(|e| anyhow::anyhow!("--warning {e}"))?;
    }
    for c in &args.critical {
        o.thresholds.set(c, true).map_err(|e| anyhow::anyhow!("--critical {e}"))?;
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

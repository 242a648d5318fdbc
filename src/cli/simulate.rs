//! `rootline simulate`: write a simulated incident's logs, its truth and its incident.toml.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::simulate::{self, Policy, Scenario, SimFormat, SimOutput, SimParams};

/// Simulate an outage (or a normal week) and write its logs with the truth behind them.
///
/// Writes DIR/login, DIR/supernodes and DIR/patches logs, DIR/truth.json (what happened, when)
/// and DIR/incident.toml (the config `rootline ingest` reads to load DIR). Same seed and
/// arguments give byte-identical files.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  rootline simulate --scenario skype-2007 --out sim/ --seed 7
  rootline simulate --scenario skype-2007 --clients 1000000 --format jsonl --gzip --out big/
  rootline simulate --scenario quiet --start 2024-03-04 --out quiet/
  rootline simulate --seed 7 --policy backoff-jitter --out sim-jitter/   # the counterfactual
  rootline ingest --config sim/incident.toml --out sim-tables/")]
pub struct SimulateArgs {
    /// The story: skype-2007, quiet, bad-deploy or flash-crowd.
    #[arg(long, default_value = "skype-2007")]
    pub scenario: Scenario,
    /// Output directory.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Client PCs to model (1e3 to 1e7; log lines grow with it).
    #[arg(long, default_value_t = 20_000)]
    pub clients: usize,
    /// First simulated day (YYYY-MM-DD or RFC 3339); the story keeps its timing relative to it.
    #[arg(long)]
    pub start: Option<String>,
    /// Log layout: text (key=value), jsonl or csv.
    #[arg(long, default_value = "text")]
    pub format: SimFormat,
    /// Gzip the logs.
    #[arg(long)]
    pub gzip: bool,
    /// The clients' retry jitter, 0 to 1: 0 retries after the same delay every time
    /// (synchronised retries), 1 spreads each delay over 0 to twice its value (full jitter).
    /// [default: the scenario's, 0.2 for skype-2007]
    #[arg(long, value_name = "0..1")]
    pub retry_jitter: Option<f64>,
    /// What the service does differently: observed (as it was), backoff-jitter, retry-budget,
    /// admission-queue, stagger-rollout or shield-capacity. Same population, seed and release.
    #[arg(long, default_value = "observed")]
    pub policy: Policy,
    #[command(flatten)]
    pub knobs: super::args::KnobArgs,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let mut params = SimParams::new(args.scenario).with_seed(args.seed).with_clients(args.clients);
    if let Some(j) = args.retry_jitter {
        anyhow::ensure!(
            (0.0..=1.0).contains(&j),
            "--retry-jitter {j} is outside 0..1: give 0 for none, 1 for full jitter"
        );
        params = params.with_retry_jitter(j);
    }
    params = params.with_knobs(args.knobs.knobs()?).with_policy(args.policy);
    if let Some(s) = &args.start {
        let start = crate::units::parse_instant(s).map_err(|e| anyhow::anyhow!("--start {e}"))?;
        params = params.with_start(start);
    }
    let out = SimOutput { dir: args.out.clone(), format: args.format, gzip: args.gzip };
    let tty = std::io::stderr().is_terminal() && !args.quiet;
    let progress = |t: i64| {
        if tty {
            let when = chrono::DateTime::from_timestamp_millis(t).unwrap_or_default();
            eprint!("\r\x1b[2Ksimulate: {}", when.format("%Y-%m-%d %H:%M"));
        }
    };
    let summary = simulate::simulate(&params, &out, &progress)
        .with_context(|| format!("failed to write the simulation to {}", args.out.display()))?;
    if tty {
        eprint!("\r\x1b[2K");
    }
    if !args.quiet {
        for (path, lines) in &summary.files {
            eprintln!("{}: {lines} lines", path.display());
        }
        eprintln!("truth.json and incident.toml written to {}", args.out.display());
    }
    Ok(ExitCode::SUCCESS)
}

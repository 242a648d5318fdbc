//! `rootline whatif`: the incident's model fitted from its logs, replayed as it was and under
//! other policies; `whatif.json` out (see [`crate::whatif`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::analyze::AnalyzeArgs;
use super::args::{DataArgs, RangeArgs};
use crate::pipeline::{Analysis, Incident};
use crate::simulate::Policy;
use crate::whatif::{self, Whatif, WhatifOptions};

/// What would have helped: fit a model of the incident to its logs, replay it as it was (the
/// check of the model) and under other policies, and say what each would have changed.
///
/// The model is the simulator's 2007 model (clients that are also the capacity, a change wave
/// that restarts them, retries, overload, self-healing slowed by a bug). What the logs show
/// is measured (clients, the trigger, whom the change restarted, the retry schedule, when
/// capacity grew back); the rest is the model's and listed as assumed in whatif.json. When
/// the replay of what happened misses the incident by more than 15% on peak demand, lowest
/// capacity, failed logins or time to recover, whatif says so and gives no counterfactuals.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  rootline whatif --config sample-data/skype-2007/incident.toml --out whatif/
  rootline whatif --tables tables/ --policy shield-capacity --policy stagger-rollout --out whatif/

Policies: observed (the replay), backoff-jitter, retry-budget, admission-queue,
stagger-rollout, shield-capacity (see rootline simulate --help for each one's knobs).")]
pub struct WhatifArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Output directory: whatif.json, and whatif.png and whatif.svg (the incident, its replay
    /// and each policy: nodes online and logins a minute).
    #[arg(long, short)]
    pub out: PathBuf,
    /// Policies to replay (repeat the flag); all of them when none is given.
    #[arg(long = "policy", value_name = "NAME")]
    pub policies: Vec<Policy>,
    /// The replays' seed (the first of them).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Replays of each policy, seeds SEED, SEED+1, ...; each outcome is their median (one
    /// replay's busiest hour moves by about 15% from seed to seed at a few thousand clients).
    #[arg(long, default_value_t = whatif::REPLAYS, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=99))]
    pub replays: usize,
    #[command(flatten)]
    pub knobs: super::args::KnobArgs,
    /// Print nothing on stderr but errors (the table still goes to stdout).
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(args: WhatifArgs) -> anyhow::Result<ExitCode> {
    let analyze = AnalyzeArgs {
        data: args.data,
        range: args.range,
        out: args.out.clone(),
        bucket: "1m".into(),
        series: None,
        quiet: args.quiet,
    };
    let (incident, analysis) = super::analyze::analysis(&analyze)?;
    let policies =
        if args.policies.is_empty() { Policy::ALL.to_vec() } else { args.policies.clone() };
    let o = WhatifOptions {
        policies,
        knobs: args.knobs.knobs()?,
        seed: args.seed,
        replays: args.replays,
        work: PathBuf::new(),
    };
    let (w, files) = run_into(&incident, &analysis, o, &args.out, args.quiet)?;
    // The table is the answer: on stdout, as `rootline query` prints its rows.
    print!("{}", whatif::table(&w));
    if !args.quiet {
        for f in files {
            eprintln!("wrote {}", f.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs whatif with its scratch runs in a directory of `out` (set as `o.work`, removed after
/// whatever happens) and writes its files into `out`: `rootline whatif` and `report --whatif`.
pub(super) fn run_into(
    incident: &Incident,
    analysis: &Analysis,
    mut o: WhatifOptions,
    out: &Path,
    quiet: bool,
) -> anyhow::Result<(Whatif, Vec<PathBuf>)> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    o.work = out.join(format!(".whatif-work-{}", std::process::id()));
    let n = o.replays;
    let progress = |p: &str| {
        if !quiet {
            eprintln!("whatif: replaying {p} ({n} runs)");
        }
    };
    let result = whatif::run(incident, analysis, &o, &progress);
    let _ = std::fs::remove_dir_all(&o.work);
    let w = result?;
    let files = whatif::write(&w, out)
        .with_context(|| format!("cannot write whatif's files to {}", out.display()))?;
    Ok((w, files))
}

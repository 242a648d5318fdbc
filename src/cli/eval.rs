//! `rootline eval`: score the detector on labelled data.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::detect::shape::ShapeOptions;
use crate::eval::sim::{self, RunScore, SimEvalOptions};
use crate::eval::whatif::{WhatifEvalOptions, WhatifRun};
use crate::eval::{self, NabDetector, NabOptions};
use crate::simulate::{Policy, Scenario, SimFormat};

/// Score the detector on labelled data.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  rootline eval nab ../shared/data/nab
  rootline eval nab ../shared/data/nab --json
  rootline eval nab ../shared/data/nab --detector band --z 8
  rootline eval sim
  rootline eval sim --scenarios skype-2007 --seeds 1,2,3 --formats text,jsonl --clients 5000,20000
  rootline eval whatif --seeds 1,2,3 --clients 5000,20000")]
pub struct EvalArgs {
    #[command(subcommand)]
    pub what: EvalWhat,
}

#[derive(Debug, clap::Subcommand)]
pub enum EvalWhat {
    /// NAB's corpus (DIR/data/**.csv and DIR/labels/combined_windows.json), scored as NAB does.
    Nab {
        dir: PathBuf,
        /// One JSON object instead of tables.
        #[arg(long)]
        json: bool,
        /// The detector to score.
        #[arg(long, value_enum, default_value = "shape")]
        detector: NabDetector,
        /// shape: bins the value range is cut into.
        #[arg(long, default_value_t = NabOptions::default().shape.bins)]
        bins: usize,
        /// shape: points per window.
        #[arg(long, default_value_t = NabOptions::default().shape.window)]
        window: usize,
        /// band: robust z a value must reach to fire.
        #[arg(long, default_value_t = NabOptions::default().z)]
        z: f64,
        /// band: rows to stay quiet after firing.
        #[arg(long, default_value_t = NabOptions::default().quiet)]
        quiet: usize,
        /// band: rows of trailing history before two days exist.
        #[arg(long, default_value_t = NabOptions::default().trailing)]
        trailing: usize,
    },
    /// Simulated incidents scored against their truth.json: onset error per episode kind,
    /// false and missed episodes, wrong and missed links.
    Sim {
        /// Scenarios to run.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "skype-2007,quiet,bad-deploy,flash-crowd"
        )]
        scenarios: Vec<Scenario>,
        /// Seeds to run each scenario with.
        #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
        seeds: Vec<u64>,
        /// Log formats to write and read back.
        #[arg(long, value_delimiter = ',', default_value = "text,jsonl")]
        formats: Vec<SimFormat>,
        /// Scales (simulated clients).
        #[arg(long, value_delimiter = ',', default_value = "5000,20000")]
        clients: Vec<usize>,
        /// Where the simulated logs go while a run lasts [default: the system's temp dir].
        #[arg(long)]
        work: Option<PathBuf>,
        /// One JSON object instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// `rootline whatif`'s predictions against the true counterfactuals: skype-2007 simulated
    /// at each seed and scale, whatif run on its logs, each policy simulated with the same
    /// population, seed and release, both measured by rootline's analysis.
    Whatif {
        /// Seeds of the incidents.
        #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
        seeds: Vec<u64>,
        /// Scales (simulated clients).
        #[arg(long, value_delimiter = ',', default_value = "5000,20000")]
        clients: Vec<usize>,
        /// Policies to predict and simulate [default: all but observed].
        #[arg(long, value_delimiter = ',')]
        policies: Vec<Policy>,
        /// Where the simulated logs go while a run lasts [default: the system's temp dir].
        #[arg(long)]
        work: Option<PathBuf>,
        /// One JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    match args.what {
        EvalWhat::Sim { scenarios, seeds, formats, clients, work, json } => {
            let work = work.unwrap_or_else(|| {
                std::env::temp_dir().join(format!("rootline-eval-sim-{}", std::process::id()))
            });
            let o = SimEvalOptions { scenarios, seeds, formats, clients, work: work.clone() };
            let total = o.scenarios.len() * o.seeds.len() * o.formats.len() * o.clients.len();
            let done = std::cell::Cell::new(0);
            let r = sim::run(&o, &|s: &RunScore| {
                done.set(done.get() + 1);
                eprintln!(
                    "[{}/{total}] {} seed {} {} {} clients",
                    done.get(),
                    s.scenario,
                    s.seed,
                    s.format,
                    s.clients
                );
            });
            let _ = std::fs::remove_dir_all(&work);
            let r = r?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
                return Ok(ExitCode::SUCCESS);
            }
            print!("{}", sim_table(&r));
            Ok(ExitCode::SUCCESS)
        }
        EvalWhat::Whatif { seeds, clients, policies, work, json } => {
            let work = work.unwrap_or_else(|| {
                std::env::temp_dir().join(format!("rootline-eval-whatif-{}", std::process::id()))
            });
            let policies = if policies.is_empty() { Policy::ALL.to_vec() } else { policies };
            let o = WhatifEvalOptions { seeds, clients, policies, work: work.clone() };
            let total = o.seeds.len() * o.clients.len();
            let done = std::cell::Cell::new(0);
            let r = crate::eval::whatif::run(&o, &|w: &WhatifRun| {
                done.set(done.get() + 1);
                eprintln!("[{}/{total}] seed {} {} clients", done.get(), w.seed, w.clients);
            });
            let _ = std::fs::remove_dir_all(&work);
            let r = r?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
            } else {
                print!("{}", crate::eval::whatif::table(&r));
            }
            Ok(ExitCode::SUCCESS)
        }
        EvalWhat::Nab { dir, json, detector, bins, window, z, quiet, trailing } => {
            let shape = ShapeOptions { bins, window, ..Default::default() };
            let r = eval::nab(&dir, &NabOptions { detector, shape, z, quiet, trailing })
                .with_context(|| format!("failed to score {}", dir.display()))?;
            if json {
                println!("{}", serde_json::to_string(&r)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!("{:<60} {:>6} {:>4} {:>5} {:>9}", "file", "rows", "win", "det", "raw(std)");
            for f in &r.files {
                println!(
                    "{:<60} {:>6} {:>4} {:>5} {:>9.2}",
                    f.file, f.rows, f.windows, f.detections, f.raw["standard"]
                );
            }
            println!(
                "\n{:<24} {:>9} {:>14} {:>14}",
                "category", "standard", "reward_low_fp", "reward_low_fn"
            );
            for (c, n) in &r.categories {
                println!(
                    "{:<24} {:>9.1} {:>14.1} {:>14.1}",
                    c, n.standard, n.reward_low_fp, n.reward_low_fn
                );
            }
            let o = &r.overall;
            println!(
                "{:<24} {:>9.1} {:>14.1} {:>14.1}",
                "overall", o.standard, o.reward_low_fp, o.reward_low_fn
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn sim_table(r: &sim::SimEval) -> String {
    let mut s = format!(
        "{:<12} {:>5} {:>7} {:<6} {:<12} {:>9} {:>9} {:<22} {:<22} {:<22}\n",
        "scenario",
        "seed",
        "clients",
        "format",
        "kind",
        "onset err",
        "ratio err",
        "false episodes",
        "during the incident",
        "wrong / missed links"
    );
    let fmt =
        |v: Option<f64>, unit: &str| v.map_or("missed".to_string(), |x| format!("{x:+.0}{unit}"));
    let counts = |m: &std::collections::BTreeMap<String, usize>| {
        m.iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for run in &r.runs {
        let (falses, during) = (counts(&run.false_episodes), counts(&run.during_episodes));
        let links = format!("{} / {}", run.wrong_links.join(" "), run.missed_links.join(" "));
        let head =
            format!("{:<12} {:>5} {:>7} {:<6}", run.scenario, run.seed, run.clients, run.format);
        if run.matches.is_empty() {
            s += &format!(
                "{head} {:<12} {:>9} {:>9} {falses:<22} {during:<22} {links}\n",
                "-", "", ""
            );
        }
        for (i, m) in run.matches.iter().enumerate() {
            let ratio = m.peak_ratio_err_pct.map_or(String::new(), |p| format!("{p:+.0}%"));
            let (f, d, l) = if i == 0 {
                (falses.as_str(), during.as_str(), links.as_str())
            } else {
                ("", "", "")
            };
            s += &format!(
                "{head} {:<12} {:>9} {:>9} {f:<22} {d:<22} {l}\n",
                m.kind,
                fmt(m.onset_err_min, " min"),
                ratio,
            );
        }
    }
    s += &format!(
        "\n{:<12} {:>6} {:>6} {:>10} {:>12} {:>11} {:>7} {:>7}\n",
        "kind", "truth", "found", "within 5m", "mean |err|", "max |err|", "false", "during"
    );
    for (k, v) in &r.kinds {
        s += &format!(
            "{:<12} {:>6} {:>6} {:>10} {:>10.1} m {:>9.1} m {:>7} {:>7}\n",
            k,
            v.truth,
            v.found,
            v.onset_within_5_min,
            v.mean_abs_onset_err_min,
            v.max_abs_onset_err_min,
            v.false_episodes,
            v.during_episodes
        );
    }
    s += &format!(
        "\nsurge peak ratio within 10%: {}/{}; restart wave linked before the surge: {}/{}; surges or exhaustions before their trigger: {}; wrong links: {}; missed links: {}; kind of incident right: {}/{}\n",
        r.peak_ratio_within_10pct,
        r.surges_scored,
        r.wave_before_surge,
        r.wave_runs,
        r.before_trigger,
        r.wrong_links,
        r.missed_links,
        r.archetype_right,
        r.runs.len()
    );
    for run in r.runs.iter().filter(|x| x.archetypes.first() != x.expected_archetype.as_ref()) {
        s += &format!(
            "  {} seed {} {} {}: kinds {:?}, expected {:?}\n",
            run.scenario, run.seed, run.format, run.clients, run.archetypes, run.expected_archetype
        );
    }
    s
}

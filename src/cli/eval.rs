//! `rootline eval`: score the detector on labelled data.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::eval::{self, NabOptions};

/// Score the detector on labelled data.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  rootline eval nab ../shared/data/nab
  rootline eval nab ../shared/data/nab --json")]
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
        /// Robust z a value must reach to fire.
        #[arg(long, default_value_t = NabOptions::default().z)]
        z: f64,
        /// Rows to stay quiet after firing.
        #[arg(long, default_value_t = NabOptions::default().quiet)]
        quiet: usize,
        /// Rows of trailing history before two days exist.
        #[arg(long, default_value_t = NabOptions::default().trailing)]
        trailing: usize,
    },
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    match args.what {
        EvalWhat::Nab { dir, json, z, quiet, trailing } => {
            let r = eval::nab(&dir, &NabOptions { z, quiet, trailing })
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

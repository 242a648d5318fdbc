//! `rootline analyze`: logs (or an ingest directory) in, `findings.json` out.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::ingest::{SourceArgs, specs};
use crate::correlate::{self, AnalyzeOptions};
use crate::detect::SeriesSet;
use crate::findings::Findings;
use crate::ingest::{self, time::parse_instant};
use crate::tables::{self, Tables};

/// Find surges, capacity exhaustion, change waves and failures, and the chain between them.
///
/// Reads logs (like `rootline ingest`) or an ingest directory (--tables), computes per-bucket
/// series and writes DIR/findings.json.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  rootline analyze --config sample-data/skype-2007/incident.toml --out out/
  rootline analyze /var/log/auth.log --year 2024 --out out/
  rootline analyze --tables tables/ --bucket 5m --as-of 2007-08-18T00:00:00Z --out out/")]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub sources: SourceArgs,
    /// Read the tables `rootline ingest` wrote instead of logs.
    #[arg(long, conflicts_with_all = ["files", "config"])]
    pub tables: Option<PathBuf>,
    /// Output directory.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Bucket size: 30s, 1m, 5m, 1h...
    #[arg(long, default_value = "1m")]
    pub bucket: String,
    /// Analyze as of this time (RFC 3339 or a date): later rows are left out.
    #[arg(long)]
    pub as_of: Option<String>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `30s`, `1m`, `5m`, `1h` -> milliseconds.
pub fn parse_duration(s: &str) -> anyhow::Result<i64> {
    crate::config::parse_duration(s).map_err(anyhow::Error::msg)
}

/// Loads the tables (from logs or an ingest directory), cut at `as_of`, with rows far from
/// the rest of the data set aside (and said so in the sources' notes); `all_columns` keeps
/// what analysis does not read (for SQL).
pub fn load(
    sources: &SourceArgs,
    tables_dir: Option<&Path>,
    as_of: Option<&str>,
    all_columns: bool,
) -> anyhow::Result<(Tables, Vec<ingest::SourceReport>)> {
    let (mut tables, mut inputs) = match tables_dir {
        Some(dir) => {
            let tables = if all_columns {
                tables::read_dir(dir)?
            } else {
                tables::read_dir_for_analysis(dir)?
            };
            let inputs =
                ingest::output::Manifest::read(dir)?.map(|m| m.report.sources).unwrap_or_default();
            (tables, inputs)
        }
        None => {
            let specs = specs(sources)?;
            let got = if all_columns {
                tables::ingest(&specs)?
            } else {
                tables::ingest_for_analysis(&specs)?
            };
            (got.tables, got.report.sources)
        }
    };
    if let Some(a) = as_of {
        let cut = parse_instant(a).map_err(|e| anyhow::anyhow!("--as-of {e}"))?;
        tables::cut(&mut tables, cut)?;
    }
    let outliers = tables::set_aside_outliers(&mut tables)?;
    tables::note_outliers(&outliers, &mut inputs);
    Ok((tables, inputs))
}

/// Loads, builds series and analyzes.
pub fn findings(args: &AnalyzeArgs) -> anyhow::Result<(Findings, SeriesSet)> {
    let bucket_ms = parse_duration(&args.bucket)?;
    let (tables, inputs) =
        load(&args.sources, args.tables.as_deref(), args.as_of.as_deref(), false)?;
    let opts = AnalyzeOptions { bucket_ms, ..Default::default() };
    let series = crate::detect::series::build(&tables, bucket_ms)?;
    let findings = correlate::analyze_series(&series, &tables, inputs, &opts)?;
    Ok((findings, series))
}

pub fn run(args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let (findings, _) = findings(&args)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let path = args.out.join("findings.json");
    std::fs::write(&path, serde_json::to_string_pretty(&findings)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    if !args.quiet {
        let metrics = match findings.metrics.len() {
            0 => String::new(),
            n => format!(", {n} metric shift(s)"),
        };
        eprintln!(
            "{} surge(s), {} exhaustion(s), {} change wave(s), {} failure episode(s){metrics}, {} link(s); wrote {}",
            findings.surges.len(),
            findings.exhaustions.len(),
            findings.changes.len(),
            findings.failures.len(),
            findings.chain.len(),
            path.display()
        );
        for l in &findings.chain {
            eprintln!("  {} -> {} after {:.0} min", l.from, l.to, l.lag_min);
        }
    }
    Ok(ExitCode::SUCCESS)
}

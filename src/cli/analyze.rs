//! `rootline analyze`: logs (or an ingest directory) in, `findings.json` out.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::args::{DataArgs, RangeArgs, duration};
use crate::correlate::AnalyzeOptions;
use crate::pipeline::{Analysis, Columns, Incident};

/// Find surges, capacity exhaustion, change waves and failures, and the chain between them.
///
/// Reads logs (like `rootline ingest`) or an ingest directory (--tables), computes per-bucket
/// series and writes DIR/findings.json.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  rootline analyze --config sample-data/skype-2007/incident.toml --out out/
  rootline analyze /var/log/auth.log --year 2024 --out out/
  rootline analyze --tables tables/ --bucket 5m --as-of 2007-08-18T00:00:00Z --out out/
  rootline analyze --series tables/series.parquet --tables tables/ --out out/
  spark-submit queries/spark.py tables/ queries/series.sql --out series/
  rootline analyze --series series/ --tables tables/ --out out/   # the series from Spark")]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Output directory.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Bucket size: 30s, 1m, 5m, 1h... (with --series, the series table's own).
    #[arg(long, default_value = "1m")]
    pub bucket: String,
    /// Analyze this series table (the contract `rootline ingest --series` writes, or
    /// `queries/series.sql`'s output from another engine) instead of computing the series:
    /// a Parquet file, or a directory of Parquet parts as Spark writes them. With --tables
    /// (or logs), evidence lines come from them; without, there are none.
    #[arg(long, value_name = "PARQUET|DIR")]
    pub series: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Loads the incident and analyzes it, as `analyze` and `report` do.
pub fn analysis(args: &AnalyzeArgs) -> anyhow::Result<(Incident, Analysis)> {
    if let Some(path) = &args.series {
        return series_analysis(args, path);
    }
    let bucket_ms = duration("bucket", &args.bucket)?;
    let started = std::time::Instant::now();
    let incident =
        Incident::load(&args.data.input()?, &args.range.load_options(Columns::Analysis)?)?;
    let loaded = started.elapsed();
    // The lines not understood, kept beside the findings (and named in the summary).
    let rejects = if incident.rejects.is_empty() {
        None
    } else {
        let path = args.out.join("rejects.jsonl");
        std::fs::create_dir_all(&args.out)
            .with_context(|| format!("cannot create {}", args.out.display()))?;
        crate::atomic::write(&path, &crate::ingest::sink::rejects_jsonl(&incident.rejects))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Some(path)
    };
    if incident.tables.is_empty() {
        let why = super::ingest::summary(&incident.inputs, rejects.as_deref());
        anyhow::bail!(
            "no rows to analyze: every source gave none. Per source:\n{why}Say what the files are \
             with --role, --preset or --format (or in the config), or see `rootline formats`"
        );
    }
    if !args.quiet {
        eprint!("{}", super::ingest::summary(&incident.inputs, rejects.as_deref()));
    } else {
        // Warnings are printed even when quiet: a report must not stand on a guess in silence.
        for r in &incident.inputs {
            for w in r.warnings() {
                eprintln!("warning: {}: {w}", r.path);
            }
        }
    }
    let analysis = incident.analyze(&AnalyzeOptions { bucket_ms, ..Default::default() })?;
    if std::env::var_os("ROOTLINE_PHASES").is_some() {
        // For benchmarks: where the time went, loading (the parse an ingest does too) and
        // the analysis after it.
        let analyzed = started.elapsed() - loaded;
        eprintln!(
            "rootline: loaded in {:.3} s, analyzed in {:.3} s",
            loaded.as_secs_f64(),
            analyzed.as_secs_f64()
        );
    }
    Ok((incident, analysis))
}

/// `--series`: the series from a table, the evidence from the tables or logs when given.
fn series_analysis(
    args: &AnalyzeArgs,
    path: &std::path::Path,
) -> anyhow::Result<(Incident, Analysis)> {
    let load = args.range.load_options(Columns::Analysis)?;
    let mut series = crate::pipeline::read_series(path)?;
    if load.since.is_some() || load.until.is_some() {
        series = series.slice(load.since.unwrap_or(i64::MIN), load.until.unwrap_or(i64::MAX));
    }
    let has_data = args.data.tables.is_some()
        || args.data.sources.config.is_some()
        || !args.data.sources.files.is_empty();
    let incident = if has_data {
        Incident::load(&args.data.input()?, &load)?
    } else {
        Incident::without_tables()
    };
    if !args.quiet {
        eprintln!(
            "{}: {} buckets of {} s from {}{}",
            path.display(),
            series.len,
            series.bucket_ms / 1000,
            crate::units::rfc3339_secs(series.start_ms),
            if has_data {
                ""
            } else {
                "; no tables or logs given: evidence lines are not available"
            }
        );
    }
    let o = AnalyzeOptions { bucket_ms: series.bucket_ms, ..Default::default() };
    let findings = incident.analyze_series(&series, &o)?;
    Ok((incident, Analysis { series, findings }))
}

pub fn run(args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let (incident, Analysis { findings, series }) = analysis(&args)?;
    crate::alloc::free_aside((incident, series));
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let path = args.out.join("findings.json");
    std::fs::write(&path, findings.to_json())
        .with_context(|| format!("cannot write {}", path.display()))?;
    if !args.quiet {
        use crate::units::plural;
        let n = |v: usize, what: &str| plural(v as u64, what);
        let metrics = match findings.metrics.len() {
            0 => String::new(),
            m => format!(", {}", n(m, "metric shift")),
        };
        eprintln!(
            "{}, {}, {}, {}{metrics}, {}; wrote {}",
            n(findings.surges.len(), "surge"),
            n(findings.exhaustions.len(), "exhaustion"),
            n(findings.changes.len(), "change wave"),
            n(findings.failures.len(), "failure episode"),
            n(findings.chain.len(), "link"),
            path.display()
        );
        for l in &findings.chain {
            eprintln!("  {} -> {} after {:.0} min", l.from, l.to, l.lag_min);
        }
    }
    Ok(ExitCode::SUCCESS)
}

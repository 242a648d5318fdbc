//! `rootline analyze`: logs (or an ingest directory) in, `findings.json` out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use polars::prelude::{ChunkCompareIneq, DataFrame, ParquetReader, SerReader, SortMultipleOptions};

use super::ingest::{SourceArgs, specs};
use crate::correlate::{self, AnalyzeOptions};
use crate::detect::SeriesSet;
use crate::findings::Findings;
use crate::ingest::{self, IngestOptions, MemorySink, Registry};
use crate::schema::{self, Role};

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
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 =
        num.parse().with_context(|| format!("bad duration \"{s}\"; use e.g. 30s, 1m, 5m, 1h"))?;
    let ms = match unit {
        "s" => 1_000,
        "m" | "" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => bail!("bad duration unit in \"{s}\"; use s, m, h or d"),
    };
    if n <= 0 {
        bail!("duration \"{s}\" must be positive");
    }
    Ok(n * ms)
}

/// Reads DIR/<role>/**/*.parquet into one frame per role.
pub fn read_tables(dir: &Path) -> anyhow::Result<BTreeMap<Role, DataFrame>> {
    let mut out = BTreeMap::new();
    for role in Role::ALL {
        let pattern = dir.join(role.as_str()).join("**").join("*.parquet");
        let mut paths: Vec<PathBuf> =
            glob::glob(&pattern.to_string_lossy())?.filter_map(Result::ok).collect();
        paths.sort();
        let mut frame: Option<DataFrame> = None;
        for p in paths {
            let file =
                std::fs::File::open(&p).with_context(|| format!("cannot read {}", p.display()))?;
            let df = ParquetReader::new(file)
                .finish()
                .with_context(|| format!("cannot read {}", p.display()))?;
            match frame.as_mut() {
                Some(f) => {
                    f.vstack_mut_owned(df)?;
                }
                None => frame = Some(df),
            }
        }
        if let Some(df) = frame {
            let df = df
                .sort([schema::TS, schema::SOURCE, schema::LINE], SortMultipleOptions::default())?;
            out.insert(role, df);
        }
    }
    if out.is_empty() {
        bail!(
            "no tables under {}; make them with rootline ingest --out {}",
            dir.display(),
            dir.display()
        );
    }
    Ok(out)
}

/// Loads the tables (from logs or an ingest directory), cut at `--as-of`.
fn load(
    args: &AnalyzeArgs,
) -> anyhow::Result<(BTreeMap<Role, DataFrame>, Vec<ingest::SourceReport>)> {
    let (mut tables, inputs) = match &args.tables {
        Some(dir) => (read_tables(dir)?, vec![]),
        None => {
            let specs = specs(&args.sources)?;
            let mut sink = MemorySink::default();
            let report = ingest::ingest(
                &specs,
                &IngestOptions::default(),
                &Registry::builtin(),
                &mut sink,
                &|_, _| {},
            )
            .with_context(|| format!("failed to ingest {} source(s)", specs.len()))?;
            (sink.tables, report.sources)
        }
    };
    if let Some(a) = &args.as_of {
        let cut =
            crate::ingest::time::parse_instant(a).map_err(|e| anyhow::anyhow!("--as-of {e}"))?;
        for df in tables.values_mut() {
            let keep = df.column(schema::TS)?.datetime()?.physical().lt_eq(cut);
            *df = df.filter(&keep)?;
        }
    }
    Ok((tables, inputs))
}

/// Loads, builds series and analyzes.
pub fn findings(args: &AnalyzeArgs) -> anyhow::Result<(Findings, SeriesSet)> {
    let bucket_ms = parse_duration(&args.bucket)?;
    let (tables, inputs) = load(args)?;
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
        eprintln!(
            "{} surge(s), {} exhaustion(s), {} change wave(s), {} failure episode(s), {} link(s); wrote {}",
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

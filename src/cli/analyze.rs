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
  rootline analyze --tables tables/ --bucket 5m --as-of 2007-08-18T00:00:00Z --out out/")]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub range: RangeArgs,
    /// Output directory.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Bucket size: 30s, 1m, 5m, 1h...
    #[arg(long, default_value = "1m")]
    pub bucket: String,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Loads the incident and analyzes it, as `analyze` and `report` do.
pub fn analysis(args: &AnalyzeArgs) -> anyhow::Result<(Incident, Analysis)> {
    let bucket_ms = duration("bucket", &args.bucket)?;
    let incident =
        Incident::load(&args.data.input()?, &args.range.load_options(Columns::Analysis)?)?;
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
    Ok((incident, analysis))
}

pub fn run(args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let (_, Analysis { findings, .. }) = analysis(&args)?;
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

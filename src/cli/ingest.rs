//! `rootline ingest`: sources in, Parquet tables + `rejects.jsonl` + `ingest.json` out.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::args::SourceArgs;
use crate::ingest::{IngestOptions, SourceReport};

/// Read exported logs into typed tables (Parquet), keeping every line accounted for.
///
/// Each file's format, timestamp layout and role are detected from its first lines unless
/// given. Writes DIR/<role>/date=YYYY-MM-DD/part-N.parquet, DIR/rejects.jsonl (lines not
/// understood, with file, line number and reason) and DIR/ingest.json (per-source counts).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  rootline ingest --config sample-data/skype-2007/incident.toml --out tables/
  rootline ingest /var/log/auth.log --preset sshd --year 2024 --tz Europe/Berlin --out tables/
  rootline ingest logins.csv --role login --field username=user --field when=ts --out tables/
  rootline ingest cpu.csv.gz --preset metric-csv --strict --out tables/
  rootline ingest access.log --since 2025-03-03 --until 2025-03-04 --out tables/
  rootline ingest --config incident.toml --series --bucket 1m --out tables/   # + series.parquet
  ls logs/*.log.gz | xargs -P 4 -I{} sh -c 'rootline ingest {} --preset sshd --out tree/ --shard $(basename {})'
  zcat auth.log.gz | rootline ingest - --preset sshd --year 2024 --out tables/")]
pub struct IngestArgs {
    #[command(flatten)]
    pub sources: SourceArgs,
    /// Output directory.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Fail (exit 2) when any line is rejected.
    #[arg(long)]
    pub strict: bool,
    /// Also write DIR/login_per_minute.csv: login attempts and failures per minute.
    #[arg(long)]
    pub per_minute: bool,
    /// Also write DIR/series.parquet: the per-bucket series analysis reads (the contract
    /// `rootline analyze --series` takes from any engine; see docs/SCALE.md).
    #[arg(long)]
    pub series: bool,
    /// The series' bucket: 30s, 1m, 5m, 1h...
    #[arg(long, default_value = "1m", requires = "series")]
    pub bucket: String,
    /// Write one shard of a tree that other ingests (of other files or hosts) write too, at
    /// once or later: parts named after NAME, this run's ingest.json and rejects under
    /// DIR/shards/NAME/, DIR/ingest.json the index of every shard. A rerun of NAME replaces
    /// only its own files. See docs/SCALE.md.
    #[arg(long, value_name = "NAME", conflicts_with = "series")]
    pub shard: Option<String>,
    /// Keep only rows at or after this time (RFC 3339, or a date meaning its midnight UTC).
    #[arg(long)]
    pub since: Option<String>,
    /// Keep only rows before this time.
    #[arg(long)]
    pub until: Option<String>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(args: IngestArgs) -> anyhow::Result<ExitCode> {
    let specs = args.sources.input()?.specs()?.unwrap_or_default();
    let at = |flag: &str, v: &Option<String>| -> anyhow::Result<Option<i64>> {
        v.as_deref()
            .map(crate::units::parse_instant)
            .transpose()
            .map_err(|e| anyhow::anyhow!("--{flag} {e}"))
    };
    let opts = IngestOptions::default()
        .with_strict(args.strict)
        .with_range(at("since", &args.since)?, at("until", &args.until)?);
    let tty = std::io::stderr().is_terminal() && !args.quiet;
    let progress = |source: &str, lines: u64| {
        if tty {
            eprint!("\r\x1b[2Kingest: {source}: {lines} lines");
        }
    };
    let series_bucket =
        if args.series { Some(super::args::duration("bucket", &args.bucket)?) } else { None };
    let result = match &args.shard {
        Some(name) => crate::pipeline::ingest_shard(
            &specs,
            &opts,
            &args.out,
            name,
            args.per_minute,
            &progress,
        ),
        None => crate::pipeline::ingest_to_dir(
            &specs,
            &opts,
            &args.out,
            args.per_minute,
            series_bucket,
            &progress,
        ),
    };
    if tty {
        eprint!("\r\x1b[2K");
    }
    let written = result.with_context(|| {
        format!("failed to ingest {}", crate::units::plural(specs.len() as u64, "source"))
    })?;
    if !args.quiet {
        let own = match &args.shard {
            Some(name) => args.out.join(crate::ingest::output::SHARDS).join(name),
            None => args.out.clone(),
        };
        eprint!("{}", summary(&written.report.sources, Some(&own.join("rejects.jsonl"))));
        eprintln!(
            "wrote {} and ingest.json to {}{}",
            crate::units::plural(written.tables.len() as u64, "table file"),
            own.display(),
            if args.shard.is_some() {
                format!("; {} indexes every shard", args.out.join("ingest.json").display())
            } else {
                String::new()
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per source: what it was read as and where its lines went, with its notes, and
/// where the rejected lines are (`rejects`: the rejects.jsonl written, if one was).
pub fn summary(sources: &[SourceReport], rejects: Option<&std::path::Path>) -> String {
    let mut s = String::new();
    for r in sources {
        if r.lines == 0 {
            s += &format!("{}: empty (0 lines)\n", r.path);
            continue;
        }
        let role = r.role.map_or("-".to_string(), |r| r.to_string());
        s += &format!(
            "{}: {} as {}{}: {} lines -> {} rows, {} skipped, {} rejected\n",
            r.path,
            role,
            r.format.as_deref().unwrap_or("?"),
            r.preset.as_deref().map(|p| format!("/{p}")).unwrap_or_default(),
            r.lines,
            r.rows,
            r.skipped,
            r.rejected
        );
        for w in r.warnings() {
            s += &format!("  warning: {w}\n");
        }
        for n in &r.notes {
            s += &format!("  note: {n}\n");
        }
    }
    if sources.iter().any(|r| r.rejected > 0) {
        match rejects {
            Some(p) => {
                s += &format!(
                    "rejected lines are in {} (file, line number, reason, raw text)\n",
                    p.display()
                )
            }
            None => {
                s += "rejected lines were not kept; `rootline ingest --out DIR` keeps them in DIR/rejects.jsonl\n"
            }
        }
    }
    s
}

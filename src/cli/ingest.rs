//! `rootline ingest`: sources in, Parquet tables + `rejects.jsonl` + `ingest.json` out.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::config::IncidentConfig;
use crate::ingest::{IngestOptions, IngestReport, Registry, SourceSpec, output};
use crate::schema::Role;

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
  rootline ingest cpu.csv.gz --preset metric-csv --strict --out tables/")]
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
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Where the logs are and how to read them: a config, or FILEs with flags.
#[derive(Debug, clap::Args)]
pub struct SourceArgs {
    /// Log files (plain, gzip or zstd); use --config for many sources with different settings.
    pub files: Vec<PathBuf>,
    /// An incident.toml with [[source]] entries.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Role of the FILEs: login, node, change or metric.
    #[arg(long)]
    pub role: Option<Role>,
    /// Format of the FILEs (see `rootline formats`); auto detects it from the first lines.
    #[arg(long, default_value = "auto")]
    pub format: Option<String>,
    /// Preset for the FILEs (see `rootline formats`); auto picks one that fits, if any.
    #[arg(long, default_value = "auto")]
    pub preset: Option<String>,
    /// Zone of local timestamps: UTC, an offset (+02:00) or an IANA name (Europe/Berlin).
    #[arg(long)]
    pub tz: Option<String>,
    /// Year of yearless timestamps (classic syslog); rolls over on Dec -> Jan.
    #[arg(long)]
    pub year: Option<i32>,
    /// A regex with named groups (one named ts) for a layout no format knows.
    #[arg(long)]
    pub pattern: Option<String>,
    /// How timestamps are written: iso, syslog, epoch, epoch_ms, or a strftime pattern.
    #[arg(long)]
    pub ts_format: Option<String>,
    /// Map a raw field to a table column, RAW=COLUMN (repeatable).
    #[arg(long = "field", value_name = "RAW=COLUMN")]
    pub fields: Vec<String>,
}

impl SourceArgs {
    /// Sources from a config alone, for commands that take no FILEs.
    pub fn config_only(config: Option<PathBuf>) -> SourceArgs {
        SourceArgs {
            files: vec![],
            config,
            role: None,
            format: None,
            preset: None,
            tz: None,
            year: None,
            pattern: None,
            ts_format: None,
            fields: vec![],
        }
    }
}

/// Builds the source list from a config or from FILEs plus flags.
pub fn specs(args: &SourceArgs) -> anyhow::Result<Vec<SourceSpec>> {
    if let Some(cfg_path) = &args.config {
        if !args.files.is_empty() {
            bail!("give either --config or FILEs, not both");
        }
        let cfg = IncidentConfig::load(cfg_path)?;
        let base = cfg_path.parent().unwrap_or(Path::new(""));
        return Ok(cfg.specs(base)?);
    }
    if args.files.is_empty() {
        bail!("no input: give FILEs or --config incident.toml (see rootline ingest --help)");
    }
    let tz = args.tz.as_deref().map(str::parse).transpose().map_err(anyhow::Error::msg)?;
    let mut fields = BTreeMap::new();
    for f in &args.fields {
        let (raw, col) = f
            .split_once('=')
            .with_context(|| format!("--field \"{f}\" should be RAW=COLUMN, e.g. username=user"))?;
        fields.insert(raw.to_string(), col.to_string());
    }
    Ok(args
        .files
        .iter()
        .map(|p| SourceSpec {
            path: p.clone(),
            role: args.role,
            format: args.format.clone(),
            preset: args.preset.clone(),
            tz,
            year: args.year,
            pattern: args.pattern.clone(),
            ts_format: args.ts_format.clone(),
            fields: fields.clone(),
            origin: None,
        })
        .collect())
}

pub fn run(args: IngestArgs) -> anyhow::Result<ExitCode> {
    let specs = specs(&args.sources)?;
    let registry = Registry::builtin();
    let opts = IngestOptions::default().with_strict(args.strict);
    let tty = std::io::stderr().is_terminal() && !args.quiet;
    let progress = |source: &str, lines: u64| {
        if tty {
            eprint!("\r\x1b[2Kingest: {source}: {lines} lines");
        }
    };
    let result =
        output::ingest_to_dir(&specs, &opts, &registry, &args.out, args.per_minute, &progress);
    if tty {
        eprint!("\r\x1b[2K");
    }
    let written = result.with_context(|| format!("failed to ingest {} source(s)", specs.len()))?;
    if !args.quiet {
        eprint!("{}", summary(&written.report));
        eprintln!(
            "wrote {} table file(s) and ingest.json to {}",
            written.tables.len(),
            args.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per source: what it was read as and where its lines went.
pub fn summary(report: &IngestReport) -> String {
    let mut s = String::new();
    for r in &report.sources {
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
        for n in &r.notes {
            s += &format!("  note: {n}\n");
        }
    }
    if report.rejected() > 0 {
        s += "rejected lines are in rejects.jsonl (file, line number, reason, raw text)\n";
    }
    s
}

//! `rootline query`: SQL over the tables (and the series) of an incident.

use std::process::ExitCode;

use anyhow::Context;

use super::analyze::{load, parse_duration};
use super::ingest::SourceArgs;
use crate::query::{self, OutputFormat, Query};

/// Ask your own questions in SQL: over `login`, `node`, `change`, `metric` and `series`.
///
/// QUERY is SQL itself (SELECT ... or WITH ...), a .sql file or the name of a shipped query
/// (`--list` shows them; their text is in the repo's queries/ folder). Polars' SQL engine runs
/// it; the shipped queries are portable SQL that also runs on DuckDB over the Parquet tables
/// `rootline ingest` writes.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  rootline query --list
  rootline query --config sample-data/skype-2007/incident.toml patches_per_hour
  rootline query --tables tables/ my-question.sql --format csv > answer.csv
  rootline query --config incident.toml restarted_vs_rest --format json
  rootline query --config incident.toml \"SELECT outcome, COUNT(*) AS n FROM login GROUP BY outcome\"

Tables: login(ts, outcome, user, host, client, reason, latency_ms, source, line),
  node(ts, node, event, load, capacity, cpu, mem, source, line),
  change(ts, kind, target, item, status, source, line), metric(ts, series, value, source, line),
  series(ts, attempts, failures, failure_ratio, users, per_user, nodes_online, ...): one row per
  bucket (--bucket, 1m by default). Every ts is UTC.")]
pub struct QueryArgs {
    /// SQL (SELECT ... / WITH ...), a .sql file, or the name of a shipped query.
    #[arg(required_unless_present = "list")]
    pub query: Option<String>,
    /// An incident.toml with [[source]] entries.
    #[arg(long, short, conflicts_with = "tables")]
    pub config: Option<std::path::PathBuf>,
    /// Read the tables `rootline ingest` wrote instead of logs.
    #[arg(long)]
    pub tables: Option<std::path::PathBuf>,
    /// How to print the result.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
    /// Rows shown by --format table.
    #[arg(long, default_value_t = 100)]
    pub max_rows: usize,
    /// Bucket of the `series` table: 30s, 1m, 5m, 1h...
    #[arg(long, default_value = "1m")]
    pub bucket: String,
    /// Leave out rows after this time (RFC 3339 or a date).
    #[arg(long)]
    pub as_of: Option<String>,
    /// List the shipped queries with what each answers.
    #[arg(long)]
    pub list: bool,
}

pub fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    if args.list {
        for q in Query::shipped() {
            println!("{:<28} {}  [{}]", q.name, q.purpose, q.tables.join(", "));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let arg = args.query.as_deref().unwrap_or_default();
    let q = Query::resolve(arg)?;
    if args.config.is_none() && args.tables.is_none() {
        anyhow::bail!(
            "no data: give --config incident.toml or --tables DIR (see rootline query --help)"
        );
    }
    let sources = SourceArgs::config_only(args.config.clone());
    let (tables, _) = load(&sources, args.tables.as_deref(), args.as_of.as_deref(), true)?;
    let series = if query::reads_series(&q.sql) {
        Some(crate::detect::series::build(&tables, parse_duration(&args.bucket)?)?)
    } else {
        None
    };
    let frames = query::frames(&tables, series.as_ref())?;
    let df = query::run(&q, &frames)?;
    let out = query::render(&df, args.format, args.max_rows);
    use std::io::Write;
    std::io::stdout().lock().write_all(out.as_bytes()).context("cannot write the result")?;
    Ok(ExitCode::SUCCESS)
}

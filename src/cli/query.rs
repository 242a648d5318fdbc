//! `rootline query`: SQL over the tables (and the series) of an incident.

use std::process::ExitCode;

use anyhow::Context;

use super::args::{QueryDataArgs, RangeArgs, duration};
use crate::pipeline::{Columns, Incident};
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
  rootline query --tables tables/ queries/patches_per_hour.sql --format csv > answer.csv
  rootline query \"SELECT COUNT(*) AS n FROM login\" logins.jsonl
  rootline query --config incident.toml restarted_vs_rest --format json
  rootline query --config incident.toml \"SELECT outcome, COUNT(*) AS n FROM login GROUP BY outcome\"

Tables: login(ts, outcome, user, host, client, reason, latency_ms, source, line),
  node(ts, node, event, load, capacity, cpu, mem, reason, source, line),
  change(ts, kind, target, item, status, source, line), metric(ts, series, value, source, line),
  series(ts, attempts, failures, failure_ratio, users, per_user, nodes_online, ...): one row per
  bucket (--bucket, 1m by default). Every ts is UTC.")]
pub struct QueryArgs {
    /// SQL (SELECT ... / WITH ...), a .sql file, or the name of a shipped query.
    #[arg(required_unless_present = "list")]
    pub query: Option<String>,
    #[command(flatten)]
    pub data: QueryDataArgs,
    #[command(flatten)]
    pub range: RangeArgs,
    /// How to print the result.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
    /// Rows shown by --format table.
    #[arg(long, default_value_t = 100)]
    pub max_rows: usize,
    /// Bucket of the `series` table: 30s, 1m, 5m, 1h...
    #[arg(long, default_value = "1m")]
    pub bucket: String,
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
    // `rootline query logins.jsonl "SELECT ..."`: the SQL went after the files.
    if let Some(sql) = args.data.files.iter().find(|f| {
        let t = f.to_string_lossy().trim_start().to_ascii_uppercase();
        !f.exists() && (t.starts_with("SELECT") || t.starts_with("WITH"))
    }) {
        anyhow::bail!(
            "{:?} looks like SQL given after the files: the query comes first, as in \
             rootline query \"SELECT COUNT(*) FROM login\" FILE...",
            sql.to_string_lossy()
        );
    }
    let arg = args.query.as_deref().unwrap_or_default();
    let q = Query::resolve(arg)?;
    let incident = Incident::load(&args.data.input()?, &args.range.load_options(Columns::All)?)?;
    let series = if query::reads_series(&q.sql) {
        Some(incident.series(duration("bucket", &args.bucket)?)?)
    } else {
        None
    };
    let frames = query::frames(&incident.tables, series.as_ref())?;
    let df = query::run(&q, &frames)?;
    let out = query::render(&df, args.format, args.max_rows);
    use std::io::Write;
    std::io::stdout().lock().write_all(out.as_bytes()).context("cannot write the result")?;
    Ok(ExitCode::SUCCESS)
}

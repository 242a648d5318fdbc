//! SQL over the tables with Polars' SQL engine: `login`, `node`, `change`, `metric` (the role
//! tables) and `series` (the per-bucket series the analysis looks at), plus the library of
//! shipped questions in `queries/*.sql` and the three ways a result is printed.
//!
//! A shipped query starts with header comments that say what it is:
//! ```sql
//! -- name: patches_per_hour
//! -- purpose: Patch installs and restarts per hour.
//! -- tables: change
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use polars::prelude::{
    AnyValue, DataFrame, DataType, DslPlan, Expr, IntoLazy, JoinArgs, JoinType, LazyFrame,
    TimeUnit, col, len,
};
use polars::sql::SQLContext;

use crate::detect::SeriesSet;
use crate::schema::Role;
use crate::tables::Tables;
use crate::units::short_number;

/// The queries that ship with rootline, from the repo's `queries/` folder.
pub const SHIPPED: &[(&str, &str)] = &[
    ("attempts_per_user", include_str!("../queries/attempts_per_user.sql")),
    ("failure_reasons_per_hour", include_str!("../queries/failure_reasons_per_hour.sql")),
    ("logins_vs_day_before", include_str!("../queries/logins_vs_day_before.sql")),
    ("patches_per_hour", include_str!("../queries/patches_per_hour.sql")),
    ("restart_wave_by_region", include_str!("../queries/restart_wave_by_region.sql")),
    ("restarted_vs_rest", include_str!("../queries/restarted_vs_rest.sql")),
    ("series", include_str!("../queries/series.sql")),
    ("supernode_churn_per_hour", include_str!("../queries/supernode_churn_per_hour.sql")),
    ("time_to_recover_per_region", include_str!("../queries/time_to_recover_per_region.sql")),
];

/// The name of the table of series.
pub const SERIES: &str = "series";

/// What went wrong with a query; every message says where and what to do.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("no query named \"{name}\": give SQL (SELECT ...), a .sql file or one of: {}", .known.join(", "))]
    Unknown { name: String, known: Vec<String> },
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: {message}\nhint: {hint}")]
    Sql { origin: String, message: String, hint: String },
}

/// One SQL query and what its header says of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// `-- name:`; else the file's stem.
    pub name: String,
    /// `-- purpose:`, the question it answers.
    pub purpose: String,
    /// `-- tables:`, the tables it reads.
    pub tables: Vec<String>,
    pub sql: String,
    /// Where it came from, for messages: a path, or `queries/NAME.sql`.
    pub origin: String,
}

impl Query {
    /// Reads the header comments (`-- key: value` lines before the first statement line).
    pub fn parse(sql: &str, origin: &str) -> Query {
        let stem = Path::new(origin)
            .file_stem()
            .map_or(origin.to_string(), |s| s.to_string_lossy().into_owned());
        let mut q = Query {
            name: stem,
            purpose: String::new(),
            tables: vec![],
            sql: sql.to_string(),
            origin: origin.to_string(),
        };
        for line in sql.lines().map(str::trim) {
            let Some(comment) = line.strip_prefix("--") else {
                if line.is_empty() {
                    continue;
                }
                break;
            };
            let Some((key, value)) = comment.split_once(':') else { continue };
            let value = value.trim();
            match key.trim() {
                "name" => q.name = value.to_string(),
                "purpose" => {
                    q.purpose = if q.purpose.is_empty() {
                        value.to_string()
                    } else {
                        format!("{} {value}", q.purpose)
                    }
                }
                "tables" => {
                    q.tables = value.split(',').map(|t| t.trim().to_string()).collect();
                }
                _ => {}
            }
        }
        q
    }

    /// The shipped queries, sorted by name.
    pub fn shipped() -> Vec<Query> {
        SHIPPED
            .iter()
            .map(|(name, sql)| Query::parse(sql, &format!("queries/{name}.sql")))
            .collect()
    }

    /// `arg` is SQL itself (`SELECT ...`, `WITH ...`), a path to a `.sql` file, or the name of a
    /// shipped query (with or without `.sql`).
    pub fn resolve(arg: &str) -> Result<Query, QueryError> {
        if is_inline_sql(arg) {
            return Ok(Query::parse(arg, "the command line"));
        }
        let path = Path::new(arg);
        if path.is_file() {
            let sql = std::fs::read_to_string(path)
                .map_err(|source| QueryError::Read { path: arg.to_string(), source })?;
            return Ok(Query::parse(&sql, arg));
        }
        let name = path.file_stem().map_or(arg.to_string(), |s| s.to_string_lossy().into_owned());
        let shipped = Query::shipped();
        if let Some(q) = shipped.iter().find(|q| q.name == name) {
            return Ok(q.clone());
        }
        Err(QueryError::Unknown {
            name: arg.to_string(),
            known: shipped.into_iter().map(|q| q.name).collect(),
        })
    }
}

/// Whether a QUERY argument is SQL itself (`SELECT ...`, `WITH ...`) rather than a file or
/// a shipped query's name.
fn is_inline_sql(arg: &str) -> bool {
    let t = arg.trim_start();
    ["select", "with"].iter().any(|k| {
        t.get(..k.len()).is_some_and(|w| w.eq_ignore_ascii_case(k))
            && t[k.len()..].starts_with(|c: char| c.is_whitespace())
    })
}

/// The tables a query can name: every role (empty, with its columns, when there are no rows)
/// and `series` when it is given.
pub fn frames(
    tables: &Tables,
    series: Option<&SeriesSet>,
) -> polars::prelude::PolarsResult<BTreeMap<String, DataFrame>> {
    let mut out = BTreeMap::new();
    for role in Role::ALL {
        let df = match tables.get(&role) {
            Some(df) => df.clone(),
            None => DataFrame::empty_with_schema(&role.schema()),
        };
        out.insert(role.as_str().to_string(), naive_utc(df)?);
    }
    if let Some(series) = series {
        out.insert(SERIES.to_string(), naive_utc(series.to_frame()?)?);
    }
    Ok(out)
}

/// Every time is UTC; SQL sees it without a zone so that `ts >= TIMESTAMP '2007-08-16
/// 02:00:00'` and `ts >= '2007-08-16'` compare as people expect.
fn naive_utc(mut df: DataFrame) -> polars::prelude::PolarsResult<DataFrame> {
    let naive = DataType::Datetime(TimeUnit::Milliseconds, None);
    let zoned: Vec<String> = df
        .columns()
        .iter()
        .filter(|c| matches!(c.dtype(), DataType::Datetime(_, Some(_))))
        .map(|c| c.name().to_string())
        .collect();
    for name in zoned {
        let c = df.column(&name)?.cast(&naive)?;
        df.with_column(c)?;
    }
    Ok(df)
}

/// A join that would make more rows than this is refused before it runs: a cross join of
/// two tables of a few thousand rows, or an equi-join on a column with few values, asks for
/// more memory than a machine has, and a failed allocation aborts the process.
pub const MAX_JOIN_ROWS: f64 = 20_000_000.0;

/// Runs a query over the frames. Joins are bounded first ([`MAX_JOIN_ROWS`]); a query Polars
/// cannot run is an error that says so, never a crash or a backtrace.
pub fn run(q: &Query, frames: &BTreeMap<String, DataFrame>) -> Result<DataFrame, QueryError> {
    let mut ctx = SQLContext::new();
    for (name, df) in frames {
        ctx.register(name, df.clone().lazy());
    }
    let sql_error = |message: String| QueryError::Sql {
        origin: q.origin.clone(),
        hint: hint(&message, frames),
        message,
    };
    // Polars' SQL front end is young: a query it cannot plan must be an error, never a crash.
    // Its panic message is kept for the error instead of being printed with a backtrace.
    let panic_text = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
    let seen = panic_text.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned());
        if let Ok(mut slot) = seen.lock() {
            slot.get_or_insert(text.unwrap_or_else(|| "an internal error".into()));
        }
    }));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let lf = ctx.execute(&q.sql).map_err(|e| e.to_string())?;
        bound_joins(&lf.logical_plan)?;
        lf.collect().map_err(|e| e.to_string())
    }));
    std::panic::set_hook(previous);
    match result {
        Ok(Ok(df)) => Ok(df),
        Ok(Err(message)) => Err(sql_error(message)),
        Err(_) => {
            let why = panic_text.lock().ok().and_then(|t| t.clone()).unwrap_or_default();
            Err(sql_error(format!("Polars failed on this query: {why}")))
        }
    }
}

/// Whether the SQL names the `series` table (it is built only then: it is the one table whose
/// size follows the span of the data rather than its rows).
pub fn reads_series(sql: &str) -> bool {
    // Not in `--` comments: queries/series.sql speaks of the series it makes from the tables.
    sql.lines().map(|l| l.split("--").next().unwrap_or_default()).any(|l| {
        l.split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .any(|w| w.eq_ignore_ascii_case(SERIES))
    })
}

/// Refuses a plan with a join that would make more than [`MAX_JOIN_ROWS`] rows: the rows of
/// an equi-join are counted from its keys' counts on each side, a cross or inequality join's
/// are the product of its inputs. Inner joins are checked before the joins over them.
fn bound_joins(plan: &DslPlan) -> Result<(), String> {
    let joins: Vec<&DslPlan> =
        plan.into_iter().filter(|p| matches!(p, DslPlan::Join { .. })).collect();
    for join in joins.into_iter().rev() {
        let DslPlan::Join { input_left, input_right, left_on, right_on, options, .. } = join else {
            continue;
        };
        let how = options.args.how.to_string();
        let frame = |p: &std::sync::Arc<DslPlan>| LazyFrame::from((**p).clone());
        let height = |p: &std::sync::Arc<DslPlan>| -> Result<f64, String> {
            let df = frame(p).select([len()]).collect().map_err(|e| e.to_string())?;
            let n = df.column("len").and_then(|c| c.get(0));
            Ok(n.ok().and_then(|v| v.extract::<f64>()).unwrap_or(0.0))
        };
        let rows = match how.as_str() {
            "INNER" | "LEFT" | "RIGHT" | "FULL" if !left_on.is_empty() => {
                let keys = |on: &[Expr], p, count: &str| {
                    let named: Vec<Expr> = on
                        .iter()
                        .enumerate()
                        .map(|(i, e)| e.clone().alias(format!("__k{i}")))
                        .collect();
                    let names: Vec<Expr> = (0..on.len()).map(|i| col(format!("__k{i}"))).collect();
                    frame(p).select(named).group_by(names).agg([len().alias(count)])
                };
                let names: Vec<Expr> = (0..left_on.len()).map(|i| col(format!("__k{i}"))).collect();
                let pairs = keys(left_on, input_left, "__n")
                    .join(
                        keys(right_on, input_right, "__m"),
                        names.clone(),
                        names,
                        JoinArgs::new(JoinType::Inner),
                    )
                    .select([(col("__n").cast(DataType::Float64)
                        * col("__m").cast(DataType::Float64))
                    .sum()
                    .alias("rows")])
                    .collect()
                    .map_err(|e| e.to_string())?;
                let matched = pairs
                    .column("rows")
                    .ok()
                    .and_then(|c| c.get(0).ok())
                    .and_then(|v| v.extract::<f64>())
                    .unwrap_or(0.0);
                matched + height(input_left)? + height(input_right)?
            }
            "INNER" | "LEFT" | "RIGHT" | "FULL" | "CROSS" | "IEJOIN" | "RANGE" => {
                height(input_left)? * height(input_right)?
            }
            _ => continue,
        };
        if rows > MAX_JOIN_ROWS {
            return Err(format!(
                "this query's {how} join would make about {rows:.0} rows, more than rootline \
                 runs ({MAX_JOIN_ROWS:.0}): join on a column that tells rows apart, filter the \
                 tables first, or aggregate before joining"
            ));
        }
    }
    Ok(())
}

/// A hint for a failed query: quoting a column that is also an SQL word, the tables there
/// are, or the columns of the tables.
fn hint(message: &str, frames: &BTreeMap<String, DataFrame>) -> String {
    let names: Vec<&str> = frames.keys().map(String::as_str).collect();
    // `user` (and the like) parse as SQL functions or keywords: "unsupported function 'user'".
    let quoted =
        |c: &str| message.contains(&format!("'{c}'")) || message.contains(&format!("\"{c}\""));
    let column = frames
        .values()
        .flat_map(|df| df.get_column_names())
        .map(|c| c.as_str())
        .find(|c| quoted(c) && !message.contains("not found"));
    if let Some(c) = column {
        return format!(
            "{c} is a column here and also a word of SQL: write it in double quotes, \
             e.g. SELECT \"{c}\" FROM ..."
        );
    }
    if message.contains("relation") && message.contains("not found") {
        return format!("the tables are: {}", names.join(", "));
    }
    if message.contains("column") || message.contains("not found") {
        let mut s = "the columns are:".to_string();
        for (name, df) in frames {
            let cols: Vec<&str> = df.get_column_names().into_iter().map(|c| c.as_str()).collect();
            let _ = write!(s, " {name}({})", cols.join(", "));
        }
        return s;
    }
    "the query runs on Polars' SQL engine; `rootline query --list` shows working examples, and \
     `queries/*.sql` their text"
        .to_string()
}

/// How a result is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for reading.
    Table,
    /// RFC 4180 CSV with a header.
    Csv,
    /// One JSON array of objects.
    Json,
}

/// One value of a result, as printed: times as RFC 3339 UTC, whole floats without a fraction.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl Cell {
    fn of(v: AnyValue<'_>) -> Cell {
        let ms = |v: i64, tu: TimeUnit| match tu {
            TimeUnit::Nanoseconds => v.div_euclid(1_000_000),
            TimeUnit::Microseconds => v.div_euclid(1_000),
            TimeUnit::Milliseconds => v,
        };
        match v {
            AnyValue::Null => Cell::Null,
            AnyValue::Boolean(b) => Cell::Bool(b),
            AnyValue::String(s) => Cell::Text(s.to_string()),
            AnyValue::StringOwned(s) => Cell::Text(s.to_string()),
            AnyValue::Int8(x) => Cell::Int(x.into()),
            AnyValue::Int16(x) => Cell::Int(x.into()),
            AnyValue::Int32(x) => Cell::Int(x.into()),
            AnyValue::Int64(x) => Cell::Int(x),
            AnyValue::UInt8(x) => Cell::Int(x.into()),
            AnyValue::UInt16(x) => Cell::Int(x.into()),
            AnyValue::UInt32(x) => Cell::Int(x.into()),
            AnyValue::UInt64(x) => i64::try_from(x).map_or(Cell::Float(x as f64), Cell::Int),
            AnyValue::Float32(x) => Cell::Float(x.into()),
            AnyValue::Float64(x) => Cell::Float(x),
            AnyValue::Datetime(v, tu, _) | AnyValue::DatetimeOwned(v, tu, _) => {
                let ms = ms(v, tu);
                let precision = if ms % 1000 == 0 {
                    chrono::SecondsFormat::Secs
                } else {
                    chrono::SecondsFormat::Millis
                };
                Cell::Text(
                    chrono::DateTime::from_timestamp_millis(ms)
                        .map_or(ms.to_string(), |d| d.to_rfc3339_opts(precision, true)),
                )
            }
            AnyValue::Date(d) => Cell::Text(
                chrono::DateTime::from_timestamp(i64::from(d) * 86_400, 0)
                    .map_or(d.to_string(), |t| t.format("%Y-%m-%d").to_string()),
            ),
            AnyValue::Duration(v, tu) => Cell::Float(ms(v, tu) as f64 / 60_000.0),
            other => Cell::Text(other.to_string()),
        }
    }

    /// The cell as text (empty for null).
    pub fn text(&self) -> String {
        match self {
            Cell::Null => String::new(),
            Cell::Bool(b) => b.to_string(),
            Cell::Int(i) => i.to_string(),
            Cell::Float(f) => short_number(*f, 4),
            Cell::Text(s) => s.clone(),
        }
    }

    /// The cell as text with every digit a float has (for CSV, as JSON keeps them).
    pub fn exact(&self) -> String {
        match self {
            Cell::Float(f) => f.to_string(),
            other => other.text(),
        }
    }

    fn json(&self) -> serde_json::Value {
        match self {
            Cell::Null => serde_json::Value::Null,
            Cell::Bool(b) => (*b).into(),
            Cell::Int(i) => (*i).into(),
            Cell::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
            }
            Cell::Text(s) => s.clone().into(),
        }
    }
}

/// The result as header and rows of cells.
pub fn cells(df: &DataFrame) -> (Vec<String>, Vec<Vec<Cell>>) {
    let header: Vec<String> = df.get_column_names().iter().map(|c| c.to_string()).collect();
    let cols: Vec<_> = df.columns().iter().map(|c| c.as_materialized_series().rechunk()).collect();
    let rows = (0..df.height())
        .map(|i| cols.iter().map(|c| c.get(i).map_or(Cell::Null, Cell::of)).collect())
        .collect();
    (header, rows)
}

/// Renders a result; `max_rows` limits the table format (the others print everything).
pub fn render(df: &DataFrame, format: OutputFormat, max_rows: usize) -> String {
    let (header, rows) = cells(df);
    match format {
        OutputFormat::Table => table(&header, &rows, max_rows),
        OutputFormat::Csv => {
            let mut s = String::new();
            let line = |fields: Vec<String>| {
                fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",") + "\n"
            };
            s += &line(header);
            for r in &rows {
                s += &line(r.iter().map(Cell::exact).collect());
            }
            s
        }
        OutputFormat::Json => {
            let objects: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    let map: serde_json::Map<String, serde_json::Value> =
                        header.iter().cloned().zip(r.iter().map(Cell::json)).collect();
                    serde_json::Value::Object(map)
                })
                .collect();
            serde_json::to_string_pretty(&objects).unwrap_or_default() + "\n"
        }
    }
}

fn csv_field(f: &str) -> String {
    if f.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.to_string()
    }
}

fn table(header: &[String], rows: &[Vec<Cell>], max_rows: usize) -> String {
    let shown = &rows[..rows.len().min(max_rows)];
    // Control characters from a log never reach the terminal as such.
    let clean = |s: String| {
        s.chars().map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect::<String>()
    };
    let texts: Vec<Vec<String>> =
        shown.iter().map(|r| r.iter().map(|c| clean(c.text())).collect()).collect();
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &texts {
        for (w, t) in width.iter_mut().zip(r) {
            *w = (*w).max(t.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..header.len())
        .map(|j| shown.iter().all(|r| matches!(r[j], Cell::Int(_) | Cell::Float(_) | Cell::Null)))
        .collect();
    let mut s = String::new();
    let mut line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(j, c)| {
                if numeric[j] {
                    format!("{c:>w$}", w = width[j])
                } else {
                    format!("{c:<w$}", w = width[j])
                }
            })
            .collect();
        s += parts.join("  ").trim_end();
        s.push('\n');
    };
    line(header);
    line(&width.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>());
    for r in &texts {
        line(r);
    }
    if rows.len() > shown.len() {
        let _ = writeln!(
            s,
            "... {} more {}; --max-rows or --format csv shows them",
            rows.len() - shown.len(),
            if rows.len() - shown.len() == 1 { "row" } else { "rows" }
        );
    }
    let _ = writeln!(s, "({})", crate::units::plural(rows.len() as u64, "row"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_comments_are_read() {
        let q = Query::parse(
            "-- name: x\n-- purpose: one\n-- purpose: two\n-- tables: login, change\nSELECT 1 -- name: no\n",
            "queries/y.sql",
        );
        assert_eq!(q.name, "x");
        assert_eq!(q.purpose, "one two");
        assert_eq!(q.tables, ["login", "change"]);
    }

    #[test]
    fn every_shipped_query_says_what_it_is() {
        for q in Query::shipped() {
            assert!(!q.purpose.is_empty(), "{}: no purpose", q.origin);
            assert!(!q.tables.is_empty(), "{}: no tables", q.origin);
            assert_eq!(q.origin, format!("queries/{}.sql", q.name), "name and file differ");
            for t in &q.tables {
                assert!(
                    Role::ALL.iter().any(|r| r.as_str() == t) || t == SERIES,
                    "{}: unknown table {t}",
                    q.origin
                );
            }
        }
    }

    #[test]
    fn floats_print_short_and_csv_quotes() {
        assert_eq!(short_number(3.0, 4), "3");
        assert_eq!(short_number(0.125, 4), "0.125");
        assert_eq!(short_number(1.0 / 3.0, 4), "0.3333");
        assert_eq!(csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
    }
}

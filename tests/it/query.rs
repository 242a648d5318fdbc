//! The shipped queries, each run against the sample incident and checked against the same
//! answer computed here in plain Rust from the tables (and against the simulator's truth).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::OnceLock;

use polars::prelude::DataFrame;
use rootline::config::IncidentConfig;
use rootline::detect::SeriesSet;
use rootline::query::{self, Cell, OutputFormat, Query, QueryError};
use rootline::schema::Role;
use rootline::simulate::Truth;
use rootline::tables::{self, Tables};

use crate::common::str_col;

struct Sample {
    tables: Tables,
    series: SeriesSet,
    frames: BTreeMap<String, DataFrame>,
    truth: Truth,
}

fn sample() -> &'static Sample {
    static SAMPLE: OnceLock<Sample> = OnceLock::new();
    SAMPLE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/skype-2007");
        let cfg = IncidentConfig::load(&dir.join("incident.toml")).unwrap();
        let tables = tables::ingest(&cfg.specs(&dir).unwrap()).unwrap().tables;
        let series = rootline::detect::series::build(&tables, 60_000).unwrap();
        let frames = query::frames(&tables, Some(&series)).unwrap();
        let truth: Truth =
            serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap())
                .unwrap();
        Sample { tables, series, frames, truth }
    })
}

/// Runs a shipped query; returns its rows as column name -> cell maps.
fn rows(name: &str) -> Vec<HashMap<String, Cell>> {
    let s = sample();
    let q = Query::resolve(name).unwrap();
    let df = query::run(&q, &s.frames).unwrap_or_else(|e| panic!("{e}"));
    let (header, rows) = query::cells(&df);
    rows.into_iter().map(|r| header.iter().cloned().zip(r).collect()).collect()
}

fn int(r: &HashMap<String, Cell>, k: &str) -> i64 {
    match &r[k] {
        Cell::Int(i) => *i,
        Cell::Float(f) if f.fract() == 0.0 => *f as i64,
        other => panic!("{k} is {other:?}, not an integer"),
    }
}

fn float(r: &HashMap<String, Cell>, k: &str) -> f64 {
    match &r[k] {
        Cell::Int(i) => *i as f64,
        Cell::Float(f) => *f,
        other => panic!("{k} is {other:?}, not a number"),
    }
}

fn text(r: &HashMap<String, Cell>, k: &str) -> String {
    r[k].text()
}

fn ms(df: &DataFrame) -> Vec<i64> {
    df.column("ts").unwrap().datetime().unwrap().physical().into_no_null_iter().collect()
}

/// (day, hour) of an instant, as the queries print them.
fn day_hour(ms: i64) -> (String, i64) {
    let t = chrono::DateTime::from_timestamp_millis(ms).unwrap();
    (t.format("%Y-%m-%d").to_string(), i64::from(chrono::Timelike::hour(&t)))
}

fn key(r: &HashMap<String, Cell>) -> (String, i64) {
    (text(r, "day"), int(r, "hour"))
}

fn table(role: Role) -> &'static DataFrame {
    &sample().tables[&role]
}

/// Login rows: (ts, user, host, client, failed).
fn logins() -> Vec<(i64, String, String, String, bool)> {
    let df = table(Role::Login);
    let (ts, user, host, client, outcome) = (
        ms(df),
        str_col(df, "user"),
        str_col(df, "host"),
        str_col(df, "client"),
        str_col(df, "outcome"),
    );
    (0..ts.len())
        .map(|i| {
            (
                ts[i],
                user[i].clone().unwrap(),
                host[i].clone().unwrap(),
                client[i].clone().unwrap(),
                outcome[i].as_deref() == Some("fail"),
            )
        })
        .collect()
}

fn region(host: &str) -> String {
    host.split('-').nth(1).unwrap().to_string()
}

#[test]
fn logins_vs_day_before_pairs_each_minute_with_yesterdays() {
    let s = sample();
    let rows = rows("logins_vs_day_before");
    let a = s.series.get("attempts").unwrap();
    assert_eq!(rows.len(), s.series.len - 1440, "every minute that has a day before it");
    let peak = rootline::units::rfc3339_ms(&s.truth.surge.as_ref().unwrap().peak);
    let i = s.series.index(peak).unwrap();
    let r = rows.iter().find(|r| text(r, "ts") == rootline::units::rfc3339_secs(peak)).unwrap();
    assert_eq!(float(r, "attempts"), a[i]);
    assert_eq!(float(r, "attempts_day_before"), a[i - 1440]);
    assert!(float(r, "ratio") > 5.0, "the flood's peak is many times yesterday's: {r:?}");
    for r in &rows {
        let i = s.series.index(rootline::units::rfc3339_ms(&text(r, "ts"))).unwrap();
        assert_eq!(float(r, "attempts_day_before"), a[i - 1440]);
    }
}

#[test]
fn failure_reasons_per_hour_count_every_failed_login() {
    let s = sample();
    let rows = rows("failure_reasons_per_hour");
    let mut want: BTreeMap<((String, i64), String), i64> = BTreeMap::new();
    let df = table(Role::Login);
    let reasons = str_col(df, "reason");
    for (i, l) in logins().iter().enumerate() {
        if l.4 {
            *want.entry((day_hour(l.0), reasons[i].clone().unwrap())).or_default() += 1;
        }
    }
    let got: BTreeMap<((String, i64), String), i64> =
        rows.iter().map(|r| ((key(r), text(r, "reason")), int(r, "failures"))).collect();
    assert_eq!(got, want);
    assert_eq!(got.values().sum::<i64>() as u64, s.truth.failed);
    // The most common reason of each hour comes first.
    for w in rows.windows(2) {
        if key(&w[0]) == key(&w[1]) {
            assert!(int(&w[0], "failures") >= int(&w[1], "failures"));
        }
    }
}

#[test]
fn supernode_churn_per_hour_peaks_at_the_fix() {
    let s = sample();
    let rows = rows("supernode_churn_per_hour");
    let df = table(Role::Node);
    let (ts, event, load) = (ms(df), str_col(df, "event"), df.column("load").unwrap());
    let load = load.f64().unwrap();
    let mut want: BTreeMap<(String, i64), (i64, i64, i64)> = BTreeMap::new();
    for i in 0..ts.len() {
        let e = want.entry(day_hour(ts[i])).or_default();
        match event[i].as_deref() {
            Some("join") => e.0 += 1,
            Some("leave") => {
                e.1 += 1;
                e.2 += i64::from(load.get(i).unwrap_or(0.0) > 0.0);
            }
            _ => {}
        }
    }
    want.retain(|_, v| v.0 + v.1 > 0);
    let got: BTreeMap<(String, i64), (i64, i64, i64)> = rows
        .iter()
        .map(|r| (key(r), (int(r, "joined"), int(r, "left_total"), int(r, "left_serving"))))
        .collect();
    assert_eq!(got, want);
    for r in &rows {
        assert_eq!(int(r, "net"), int(r, "joined") - int(r, "left_total"));
    }
    let busiest = rows.iter().max_by_key(|r| int(r, "joined")).unwrap();
    let fixed = rootline::units::rfc3339_ms(s.truth.bug_fixed.as_deref().unwrap());
    assert_eq!(key(busiest), day_hour(fixed), "the stalled capacity comes back once fixed");
}

#[test]
fn patches_per_hour_show_the_restart_wave() {
    let s = sample();
    let rows = rows("patches_per_hour");
    let df = table(Role::Change);
    let (ts, kind, target) = (ms(df), str_col(df, "kind"), str_col(df, "target"));
    let mut want: BTreeMap<(String, i64), (i64, i64, HashSet<String>)> = BTreeMap::new();
    for i in 0..ts.len() {
        let k = kind[i].as_deref().unwrap();
        if k == "install" || k == "reboot" {
            let e = want.entry(day_hour(ts[i])).or_default();
            if k == "install" {
                e.0 += 1
            } else {
                e.1 += 1
            }
            e.2.insert(target[i].clone().unwrap());
        }
    }
    let want: BTreeMap<_, _> =
        want.into_iter().map(|(k, (a, b, m))| (k, (a, b, m.len() as i64))).collect();
    let got: BTreeMap<_, _> = rows
        .iter()
        .map(|r| (key(r), (int(r, "installs"), int(r, "restarts"), int(r, "machines"))))
        .collect();
    assert_eq!(got, want);
    let peak = rows.iter().max_by_key(|r| int(r, "restarts")).unwrap();
    let wave = rootline::units::rfc3339_ms(&s.truth.restart_wave.as_ref().unwrap().peak);
    assert_eq!(key(peak), day_hour(wave), "the busiest restart hour holds the wave's peak");
}

#[test]
fn restart_wave_by_region_follows_the_night() {
    let rows = rows("restart_wave_by_region");
    let mut region_of: HashMap<String, String> = HashMap::new();
    for l in logins() {
        let r = region(&l.2);
        region_of.entry(l.3).and_modify(|x| *x = x.clone().min(r.clone())).or_insert(r);
    }
    let df = table(Role::Change);
    let (ts, kind, target) = (ms(df), str_col(df, "kind"), str_col(df, "target"));
    let mut want: BTreeMap<((String, i64), String), i64> = BTreeMap::new();
    for i in 0..ts.len() {
        if kind[i].as_deref() == Some("reboot") {
            let r = region_of
                .get(target[i].as_deref().unwrap())
                .cloned()
                .unwrap_or_else(|| "(unknown)".into());
            *want.entry((day_hour(ts[i]), r)).or_default() += 1;
        }
    }
    let got: BTreeMap<_, _> =
        rows.iter().map(|r| ((key(r), text(r, "region")), int(r, "restarts"))).collect();
    assert_eq!(got, want);
    // Each region restarts in its own night: the busiest UTC hours differ by region.
    let mut peak: BTreeMap<String, ((String, i64), i64)> = BTreeMap::new();
    for ((dh, r), n) in &got {
        let e = peak.entry(r.clone()).or_insert((dh.clone(), 0));
        if *n > e.1 {
            *e = (dh.clone(), *n);
        }
    }
    let hours: HashSet<i64> = peak.values().map(|(dh, _)| dh.1).collect();
    assert!(peak.len() >= 3 && hours.len() == peak.len(), "{peak:?}");
}

#[test]
fn restarted_vs_rest_splits_attempts_by_a_restart_in_the_hour_before() {
    let s = sample();
    let rows = rows("restarted_vs_rest");
    let df = table(Role::Change);
    let (ts, kind, target) = (ms(df), str_col(df, "kind"), str_col(df, "target"));
    let mut reboots: HashMap<String, Vec<i64>> = HashMap::new();
    for i in 0..ts.len() {
        if kind[i].as_deref() == Some("reboot") {
            reboots.entry(target[i].clone().unwrap()).or_default().push(ts[i]);
        }
    }
    let mut want: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for (t, _, _, client, failed) in logins() {
        let recent =
            reboots.get(&client).is_some_and(|rs| rs.iter().any(|&r| t >= r && t < r + 3_600_000));
        let e = want.entry(if recent { "restarted within 1h" } else { "rest" }).or_default();
        e.0 += 1;
        e.1 += i64::from(failed);
    }
    let got: BTreeMap<&str, (i64, i64)> = rows
        .iter()
        .map(|r| {
            let c = if text(r, "cohort") == "rest" { "rest" } else { "restarted within 1h" };
            (c, (int(r, "attempts"), int(r, "failures")))
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(got.values().map(|v| v.0).sum::<i64>() as u64, s.truth.attempts);
    for r in &rows {
        let share = int(r, "failures") as f64 / int(r, "attempts") as f64;
        assert!((float(r, "failure_share") - share).abs() < 1e-9);
    }
}

#[test]
fn attempts_per_user_matches_a_count_by_hand() {
    let rows = rows("attempts_per_user");
    let mut per: BTreeMap<(String, i64), HashMap<String, (i64, i64)>> = BTreeMap::new();
    for (t, user, _, _, failed) in logins() {
        let e = per.entry(day_hour(t)).or_default().entry(user).or_default();
        e.0 += 1;
        e.1 += i64::from(failed);
    }
    assert_eq!(rows.len(), per.len());
    for r in &rows {
        let users = &per[&key(r)];
        let attempts: i64 = users.values().map(|v| v.0).sum();
        assert_eq!(int(r, "attempts"), attempts);
        assert_eq!(int(r, "failures"), users.values().map(|v| v.1).sum::<i64>());
        assert_eq!(int(r, "users"), users.len() as i64);
        assert_eq!(int(r, "max_by_one_user"), users.values().map(|v| v.0).max().unwrap());
        assert!(
            (float(r, "attempts_per_user") - attempts as f64 / users.len() as f64).abs() < 1e-9
        );
    }
}

#[test]
fn time_to_recover_per_region_spans_the_bad_hours() {
    let s = sample();
    let rows = rows("time_to_recover_per_region");
    let mut hours: HashMap<(String, (String, i64)), (i64, i64)> = HashMap::new();
    let all = logins();
    for (t, _, host, _, failed) in &all {
        let e = hours.entry((region(host), day_hour(*t))).or_default();
        e.0 += 1;
        e.1 += i64::from(*failed);
    }
    let mut want: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    for (t, _, host, _, failed) in &all {
        let h = hours[&(region(host), day_hour(*t))];
        if *failed && h.1 >= 10 && h.1 as f64 >= 0.05 * h.0 as f64 {
            let e = want.entry(region(host)).or_insert((0, i64::MAX, i64::MIN));
            *e = (e.0 + 1, e.1.min(*t), e.2.max(*t));
        }
    }
    assert_eq!(rows.len(), want.len());
    for r in &rows {
        let (n, first, last) = want[&text(r, "region")];
        assert_eq!(int(r, "failures_in_bad_hours"), n);
        assert_eq!(rootline::units::rfc3339_ms(&text(r, "first_failure")), first);
        assert_eq!(rootline::units::rfc3339_ms(&text(r, "last_failure")), last);
        // Whole seconds (the portable epoch of the query): within one second.
        let minutes = (last - first) as f64 / 60_000.0;
        assert!((float(r, "minutes_to_recover") - minutes).abs() <= 1.0 / 60.0 + 1e-9);
    }
    // The bad hours sit around the simulated failure episode, and the service recovered.
    let fail = rootline::units::rfc3339_ms(&s.truth.failures.as_ref().unwrap().onset);
    for (_, first, last) in want.values() {
        assert!((first - fail).abs() < 3 * 3_600_000 && last > first);
        assert!(*last < rootline::units::rfc3339_ms(s.truth.recovery.as_deref().unwrap()));
    }
}

#[test]
fn bad_queries_say_where_and_what_there_is() {
    let s = sample();
    let bad = Query::parse("SELECT * FROM logins", "mine.sql");
    let e = query::run(&bad, &s.frames).unwrap_err().to_string();
    assert!(e.starts_with("mine.sql: "), "{e}");
    assert!(e.contains("the tables are: change, login, metric, node, series"), "{e}");
    let bad = Query::parse("SELECT nope FROM login", "q2.sql");
    let e = query::run(&bad, &s.frames).unwrap_err().to_string();
    assert!(e.contains("q2.sql") && e.contains("nope") && e.contains("login(ts, outcome"), "{e}");
    let bad = Query::parse("SELEC 1", "q3.sql");
    assert!(matches!(query::run(&bad, &s.frames), Err(QueryError::Sql { .. })));
    let e = Query::resolve("no_such_query").unwrap_err().to_string();
    assert!(e.contains("patches_per_hour"), "{e}");
}

#[test]
fn sql_on_the_command_line_runs_as_it_is() {
    let s = sample();
    let q = Query::resolve("  select count(*) AS n\nFROM change WHERE kind = 'release'").unwrap();
    assert_eq!(q.origin, "the command line");
    let (_, rows) = query::cells(&query::run(&q, &s.frames).unwrap());
    assert_eq!(rows[0][0], Cell::Int(1));
    let q = Query::resolve("WITH r AS (SELECT * FROM change) SELECT COUNT(*) AS n FROM r").unwrap();
    let (_, rows) = query::cells(&query::run(&q, &s.frames).unwrap());
    assert_eq!(rows[0][0], Cell::Int(table(Role::Change).height() as i64));
    // A shipped name that merely starts like a keyword is still a name.
    assert!(Query::resolve("selected_hours").is_err());
}

#[test]
fn results_print_as_table_csv_and_json() {
    let s = sample();
    let q = Query::parse(
        "SELECT kind, COUNT(*) AS n, MIN(ts) AS first FROM change GROUP BY kind ORDER BY kind",
        "k.sql",
    );
    let df = query::run(&q, &s.frames).unwrap();
    let csv = query::render(&df, OutputFormat::Csv, 0);
    assert_eq!(csv.lines().next(), Some("kind,n,first"));
    assert!(csv.contains("\nrelease,1,2007-08-14T17:00:00Z\n"), "{csv}");
    let json: serde_json::Value =
        serde_json::from_str(&query::render(&df, OutputFormat::Json, 0)).unwrap();
    assert_eq!(json[2]["kind"], "release");
    assert_eq!(json[2]["n"], 1);
    let table = query::render(&df, OutputFormat::Table, 1);
    assert!(table.starts_with("kind        n  first\n-------  ----  ---"), "{table}");
    assert!(table.contains("install  3044  2007-08-15T14:22:10.294Z\n"), "{table}");
    assert!(table.contains("... 2 more rows;") && table.ends_with("(3 rows)\n"), "{table}");
}

#[test]
fn times_compare_with_plain_literals() {
    let s = sample();
    let q = Query::parse(
        "SELECT COUNT(*) AS n FROM change WHERE ts >= TIMESTAMP '2007-08-16 02:00:00' \
         AND ts < '2007-08-16 03:00:00'",
        "t.sql",
    );
    let df = query::run(&q, &s.frames).unwrap();
    let (_, rows) = query::cells(&df);
    let lo = rootline::units::rfc3339_ms("2007-08-16T02:00:00Z");
    let want = ms(table(Role::Change)).iter().filter(|t| (lo..lo + 3_600_000).contains(*t)).count();
    assert!(want > 0);
    assert_eq!(rows[0][0], Cell::Int(want as i64));
}

#[test]
fn r12_joins_that_would_exhaust_memory_are_refused_before_they_run() {
    let s = sample();
    for sql in [
        "SELECT SUM(a.line + b.line) AS n FROM change a CROSS JOIN change b",
        "SELECT COUNT(*) AS n FROM node a JOIN node b ON a.event = b.event",
    ] {
        let e = query::run(&Query::parse(sql, "j.sql"), &s.frames).unwrap_err().to_string();
        assert!(e.contains("join would make about") && e.contains("filter"), "{sql}: {e}");
    }
    // A join on a key that tells rows apart runs.
    let q = Query::parse(
        "SELECT COUNT(*) AS n FROM change a JOIN change b ON a.source = b.source AND a.line = b.line",
        "k.sql",
    );
    let (_, rows) = query::cells(&query::run(&q, &s.frames).unwrap());
    assert_eq!(rows[0][0], Cell::Int(table(Role::Change).height() as i64));
}

#[test]
fn r12_a_query_polars_panics_on_is_a_quiet_error() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_rootline"))
        .args(["query", "--config"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/skype-2007/incident.toml"))
        .arg("SELECT ts + INTERVAL '300000 years' AS t FROM change LIMIT 1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
}

/// Writes, for each SQL file given after the directory, `<file>.<engine>.jsonl`: the rows
/// the engine returns (timestamps and dates as rootline prints them), over the Parquet tables
/// and series.parquet of `rootline ingest --series` in the directory.
const CELL_PY: &str = r#"
import datetime, decimal, json, os, sys
os.environ["TZ"] = "UTC"
def cell(v):
    if isinstance(v, datetime.datetime):
        ms = v.microsecond // 1000
        return v.strftime("%Y-%m-%dT%H:%M:%S") + (f".{ms:03d}" if ms else "") + "Z"
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, (int, float, decimal.Decimal)) and not isinstance(v, bool):
        return float(v)
    return v
def write(sql_file, engine, run):
    try:
        rows = run(open(sql_file).read())
    except Exception as e:
        with open(f"{sql_file}.{engine}.error", "w") as out:
            out.write(str(e))
        return
    with open(f"{sql_file}.{engine}.jsonl", "w") as out:
        for row in rows:
            out.write(json.dumps([cell(v) for v in row]) + "\n")
dir, sql_files = sys.argv[1], sys.argv[2:]
"#;

const DUCKDB_PY: &str = r#"
import duckdb
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
for role in ["login", "node", "change"]:
    con.execute(f"CREATE VIEW \"{role}\" AS SELECT * REPLACE (CAST(ts AS TIMESTAMP) AS ts) "
                f"FROM read_parquet('{dir}/{role}/**/*.parquet', hive_partitioning = false)")
con.execute(f"CREATE VIEW series AS SELECT * EXCLUDE (bucket_s, series_version) "
            f"REPLACE (CAST(ts AS TIMESTAMP) AS ts) FROM read_parquet('{dir}/series.parquet')")
for f in sql_files:
    write(f, "duckdb", lambda sql: con.execute(sql).fetchall())
"#;

/// Spark `local[2]` through the repo's own runner, queries/spark.py: its session (double-quoted
/// identifiers, UTC), its views over the tables and its spelling of Spark's dialect.
const SPARK_PY: &str = r#"
import spark as runner
spark = runner.session("local[2]", "rootline-queries")
runner.register(spark, dir)
for f in sql_files:
    write(f, "spark", lambda sql: spark.sql(runner.spark_sql(sql)).collect())
spark.stop()
"#;

/// Shipped queries an engine cannot run, and why. The test checks that they still fail there:
/// make one portable and the test says to take it off this list. Empty: all run everywhere.
const NOT_PORTABLE: &[(&str, &str, &str)] = &[];

/// Whether python3 can import `module`; when not, the reason to skip, or a failure when
/// `require` is set to 1 (as `.ci/run` does).
fn engine_ready(module: &str, require: &str) -> bool {
    let probe =
        std::process::Command::new("python3").args(["-c", &format!("import {module}")]).output();
    if probe.is_ok_and(|o| o.status.success()) {
        return true;
    }
    let why = format!("python3 cannot import {module} (pip install {module})");
    assert!(std::env::var(require).as_deref() != Ok("1"), "{why} and {require}=1");
    eprintln!("skipped: {why}");
    false
}

/// Whether a Java runtime runs (for Spark); as [`engine_ready`] otherwise.
fn java_ready(require: &str) -> bool {
    let probe = std::process::Command::new("java").arg("-version").output();
    if probe.is_ok_and(|o| o.status.success()) {
        return true;
    }
    let why = "no Java runtime for Spark (apt-get install openjdk-17-jre-headless)";
    assert!(std::env::var(require).as_deref() != Ok("1"), "{why} and {require}=1");
    eprintln!("skipped: {why}");
    false
}

/// Rows as text to compare across engines: numbers to 6 significant digits, in any order.
fn normalised(rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    let mut rows = rows;
    rows.sort();
    rows
}

/// Every shipped query runs on DuckDB and on Spark (`local[2]`) over the files `rootline
/// ingest --series` writes, with the rows `rootline query` gives (#18). Each engine needs
/// python3 with its module (`.ci/run` installs them, and a JRE for Spark); without, the
/// engine is skipped with the reason, or the test fails when `ROOTLINE_REQUIRE_DUCKDB=1` or
/// `ROOTLINE_REQUIRE_SPARK=1`.
#[test]
fn r18_shipped_queries_give_the_same_rows_on_duckdb_and_spark() {
    let engines: Vec<(&str, &str)> = [
        ("duckdb", DUCKDB_PY, "ROOTLINE_REQUIRE_DUCKDB"),
        ("spark", SPARK_PY, "ROOTLINE_REQUIRE_SPARK"),
    ]
    .into_iter()
    .filter(|(module, _, require)| match *module {
        // Spark also needs a Java runtime.
        "spark" => engine_ready("pyspark", require) && java_ready(require),
        m => engine_ready(m, require),
    })
    .map(|(m, py, _)| (m, py))
    .collect();
    if engines.is_empty() {
        return;
    }
    let s = sample();
    let dir = crate::common::temp_dir("engine-queries");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/skype-2007/incident.toml");
    let specs = IncidentConfig::load(&config).unwrap().specs(config.parent().unwrap()).unwrap();
    let opts = rootline::ingest::IngestOptions::default();
    rootline::pipeline::ingest_to_dir(&specs, &opts, &dir, false, Some(60_000), &|_, _| {})
        .unwrap();
    let sql_files: Vec<std::path::PathBuf> = query::SHIPPED
        .iter()
        .map(|(name, sql)| {
            let f = dir.join(format!("{name}.sql"));
            std::fs::write(&f, sql).unwrap();
            f
        })
        .collect();
    let num = |x: f64| format!("{x:.6e}");
    for (engine, py) in &engines {
        // Not `{engine}.py`: the script would import itself instead of the engine.
        let script = dir.join(format!("run-{engine}.py"));
        let queries = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
        let path = format!("import sys\nsys.path.insert(0, {:?})\n", queries.display().to_string());
        std::fs::write(&script, format!("{path}{CELL_PY}{py}")).unwrap();
        let out = std::process::Command::new("python3")
            .arg(&script)
            .arg(&dir)
            .args(&sql_files)
            .output()
            .unwrap();
        assert!(out.status.success(), "{engine}: {}", String::from_utf8_lossy(&out.stderr));
        let mut same = 0;
        for ((name, _), sql_file) in query::SHIPPED.iter().zip(&sql_files) {
            let error = std::fs::read_to_string(format!("{}.{engine}.error", sql_file.display()));
            if let Some((_, _, why)) =
                NOT_PORTABLE.iter().find(|(e, q, _)| e == engine && q == name)
            {
                assert!(
                    error.is_ok(),
                    "{name} now runs on {engine}: take it off NOT_PORTABLE ({why})"
                );
                eprintln!("{engine}: {name} not run: {why}");
                continue;
            }
            if let Ok(e) = error {
                panic!("{name} fails on {engine}: {e}");
            }
            same += 1;
            let q = Query::resolve(name).unwrap();
            let df = query::run(&q, &s.frames).unwrap_or_else(|e| panic!("{name}: {e}"));
            let ours = normalised(
                query::cells(&df)
                    .1
                    .into_iter()
                    .map(|r| {
                        r.into_iter()
                            .map(|c| match c {
                                Cell::Null => "null".into(),
                                Cell::Bool(b) => b.to_string(),
                                Cell::Int(i) => num(i as f64),
                                Cell::Float(f) => num(f),
                                Cell::Text(t) => t,
                            })
                            .collect()
                    })
                    .collect(),
            );
            let text =
                std::fs::read_to_string(format!("{}.{engine}.jsonl", sql_file.display())).unwrap();
            let theirs = normalised(
                text.lines()
                    .map(|l| {
                        let row: Vec<serde_json::Value> = serde_json::from_str(l).unwrap();
                        row.into_iter()
                            .map(|v| match v {
                                serde_json::Value::Number(n) => num(n.as_f64().unwrap()),
                                serde_json::Value::Null => "null".into(),
                                serde_json::Value::String(s) => s,
                                other => other.to_string(),
                            })
                            .collect()
                    })
                    .collect(),
            );
            assert!(!ours.is_empty(), "{name} gives no rows on the sample");
            assert_eq!(ours.len(), theirs.len(), "{name}: rows from rootline and from {engine}");
            for (a, b) in ours.iter().zip(&theirs) {
                assert_eq!(a, b, "{name}: rootline's row against {engine}'s");
            }
        }
        eprintln!(
            "{engine}: {same} of {} queries, the same rows as rootline query",
            sql_files.len()
        );
    }
}

/// Writes the rows of queries/series.sql on DuckDB to `{out}` as Parquet.
const DUCKDB_SERIES_PY: &str = r#"
import duckdb, sys
dir, sql_file, out = sys.argv[1:]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
for role in ["login", "node", "change"]:
    con.execute(f"CREATE VIEW \"{role}\" AS SELECT * REPLACE (CAST(ts AS TIMESTAMP) AS ts) "
                f"FROM read_parquet('{dir}/{role}/**/*.parquet', hive_partitioning = false)")
sql = open(sql_file).read().strip().rstrip(";")
con.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet)")
"#;

/// queries/series.sql is the series contract made by whatever engine holds the tables (#18):
/// run on Polars (`rootline query series`), DuckDB and Spark `local[2]` (through the repo's
/// runner, queries/spark.py, writing Parquet parts as on a cluster), its output read back by
/// `analyze --series` gives the findings `analyze --tables` gives, whole (surges, exhaustions,
/// change waves, failures, the chain, the kinds), on the sample. The engines are skipped as in
/// the test above when missing, or required by `ROOTLINE_REQUIRE_DUCKDB=1` and
/// `ROOTLINE_REQUIRE_SPARK=1`.
#[test]
fn r18_series_sql_on_any_engine_gives_the_findings_of_the_tables() {
    use rootline::correlate::AnalyzeOptions;
    use rootline::pipeline::{Incident, Input, LoadOptions};
    let dir = crate::common::temp_dir("series-sql");
    let tables_dir = dir.join("tables");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/skype-2007/incident.toml");
    let specs = IncidentConfig::load(&config).unwrap().specs(config.parent().unwrap()).unwrap();
    let opts = rootline::ingest::IngestOptions::default();
    rootline::pipeline::ingest_to_dir(&specs, &opts, &tables_dir, false, None, &|_, _| {}).unwrap();
    let incident =
        Incident::load(&Input::Tables(tables_dir.clone()), &LoadOptions::default()).unwrap();
    let own = incident.analyze(&AnalyzeOptions::default()).unwrap();
    assert!(!own.findings.surges.is_empty() && !own.findings.chain.is_empty());
    let same_findings = |engine: &str, series: &SeriesSet| {
        assert_eq!(series.len, own.series.len, "{engine}: the grid");
        assert_eq!(series.start_ms, own.series.start_ms, "{engine}: the grid");
        for (name, want) in &own.series.cols {
            let got = series.get(name).unwrap_or_else(|| panic!("{engine}: no {name} series"));
            let off =
                want.iter().zip(got).position(|(a, b)| (a - b).abs() > 1e-9 * a.abs().max(1.0));
            assert!(off.is_none(), "{engine}: {name} differs at bucket {off:?}");
        }
        let f = incident.analyze_series(series, &AnalyzeOptions::default()).unwrap();
        assert_eq!(f, own.findings, "{engine}: the findings of its series");
        eprintln!("{engine}: queries/series.sql gives the findings of the tables");
    };

    // Polars, in process: what `rootline query series` prints.
    let q = Query::resolve("series").unwrap();
    let df = query::run(&q, &query::frames(&incident.tables, None).unwrap()).unwrap();
    same_findings("polars", &SeriesSet::from_contract_frame(&df).unwrap());

    let sql_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries/series.sql");
    if engine_ready("duckdb", "ROOTLINE_REQUIRE_DUCKDB") {
        let script = dir.join("run-duckdb.py");
        std::fs::write(&script, DUCKDB_SERIES_PY).unwrap();
        let out_file = dir.join("duckdb-series.parquet");
        let out = std::process::Command::new("python3")
            .arg(&script)
            .args([&tables_dir, &sql_file, &out_file])
            .output()
            .unwrap();
        assert!(out.status.success(), "duckdb: {}", String::from_utf8_lossy(&out.stderr));
        same_findings("duckdb", &rootline::pipeline::read_series(&out_file).unwrap());
    }
    if engine_ready("pyspark", "ROOTLINE_REQUIRE_SPARK") && java_ready("ROOTLINE_REQUIRE_SPARK") {
        let runner = Path::new(env!("CARGO_MANIFEST_DIR")).join("queries/spark.py");
        let out_dir = dir.join("spark-series");
        let out = std::process::Command::new("python3")
            .arg(&runner)
            .arg(&tables_dir)
            .arg(&sql_file)
            .args(["--out".as_ref(), out_dir.as_os_str(), "--parts".as_ref(), "2".as_ref()])
            .output()
            .unwrap();
        assert!(out.status.success(), "spark: {}", String::from_utf8_lossy(&out.stderr));
        same_findings("spark", &rootline::pipeline::read_series(&out_dir).unwrap());
    }
}

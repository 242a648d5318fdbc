//! Tables -> series: one value per bucket (1 minute by default) for every signal detection
//! looks at. Empty buckets are zeros, never gaps, from the first row of any table to the last.
//!
//! Demand (login): `attempts`, `failures`, `failure_ratio`, `users` (distinct), `per_user`
//! (attempts per distinct user, the retry signal), `latency_p50`, `latency_p99`.
//! Capacity (node): `nodes_online`, `capacity`, `load`, `utilisation`, `node_churn`.
//! Changes (change): `changes` and one `change_<kind>` per kind seen. Metrics: `metric:<name>`.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashMapExt};

use polars::prelude::*;

use crate::schema::{self, Role, Tables, signal};

/// Series on a common bucket grid.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesSet {
    /// The first bucket's start, ms since the epoch (UTC).
    pub start_ms: i64,
    pub bucket_ms: i64,
    pub len: usize,
    pub cols: BTreeMap<String, Vec<f64>>,
}

impl SeriesSet {
    pub fn get(&self, name: &str) -> Option<&[f64]> {
        self.cols.get(name).map(Vec::as_slice)
    }

    /// The start of bucket `i`, ms since the epoch.
    pub fn at(&self, i: usize) -> i64 {
        self.start_ms + i as i64 * self.bucket_ms
    }

    /// The bucket that holds `ms`, if inside the grid.
    pub fn index(&self, ms: i64) -> Option<usize> {
        let i = (ms - self.start_ms).div_euclid(self.bucket_ms);
        (0..self.len as i64).contains(&i).then_some(i as usize)
    }

    /// The buckets in `[from_ms, to_ms)`, as a set of their own.
    pub fn slice(&self, from_ms: i64, to_ms: i64) -> SeriesSet {
        // Saturating: an open end is i64::MIN or i64::MAX.
        let at = |ms: i64| ms.saturating_sub(self.start_ms).div_euclid(self.bucket_ms);
        let lo = at(from_ms).clamp(0, self.len as i64) as usize;
        let hi = at(to_ms).clamp(lo as i64, self.len as i64) as usize;
        SeriesSet {
            start_ms: self.at(lo),
            bucket_ms: self.bucket_ms,
            len: hi - lo,
            cols: self.cols.iter().map(|(k, v)| (k.clone(), v[lo..hi].to_vec())).collect(),
        }
    }

    /// The series as a DataFrame (`ts`, the bucket's start, then one column per series), for SQL
    /// and files.
    pub fn to_frame(&self) -> PolarsResult<DataFrame> {
        let buckets: Vec<i64> = (0..self.len).map(|i| self.at(i)).collect();
        let mut columns = vec![
            Int64Chunked::from_vec(schema::TS.into(), buckets)
                .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
                .into_column(),
        ];
        for (name, v) in &self.cols {
            columns.push(Float64Chunked::from_vec(name.as_str().into(), v.clone()).into_column());
        }
        DataFrame::new(self.len, columns)
    }
}

/// The series contract: a Parquet table any engine can write (`rootline ingest --series`,
/// `queries/series.sql` on Spark or DuckDB) and `rootline analyze --series` reads.
///
/// | column | type | what |
/// |---|---|---|
/// | `ts` | timestamp (UTC; any unit) | the bucket's start |
/// | `epoch_s` | number | instead of `ts`: the bucket's start in seconds since the epoch |
/// | `bucket_s` | integer | the bucket's width in seconds, the same on every row |
/// | `series_version` | integer | [`SERIES_VERSION`]; a reader refuses a newer one |
/// | `attempts`, `failures` | number | login attempts and failed ones in the bucket |
/// | `failure_ratio` | number | failures / attempts (0 without attempts) |
/// | `users`, `per_user` | number | distinct users; attempts per distinct user |
/// | `latency_p50`, `latency_p99` | number | login latency percentiles (ms; 0 without logins) |
/// | `nodes_online`, `capacity`, `load`, `utilisation` | number | capacity at the bucket's end |
/// | `node_churn` | number | node joins and leaves in the bucket |
/// | `changes`, `change_<kind>` | number | change events, all and per kind (lower case) |
/// | `metric:<name>` | number | a plain metric's mean in the bucket |
///
/// Every column but `ts` (or `epoch_s`), `bucket_s` and `series_version` is optional. Rows may
/// be missing for buckets where nothing happened (a GROUP BY makes none), and values may be
/// null: a reader fills counts with 0 and carries the levels (`nodes_online`, `capacity`,
/// `load`, `utilisation`) forward.
pub const SERIES_VERSION: i32 = 1;

/// The series that are levels, carried into buckets a series table has no row for.
const LEVELS: [&str; 4] =
    [signal::NODES_ONLINE, signal::CAPACITY, signal::LOAD, signal::UTILISATION];

impl SeriesSet {
    /// The series as a table of the contract ([`SERIES_VERSION`]).
    pub fn to_contract_frame(&self) -> PolarsResult<DataFrame> {
        let mut df = self.to_frame()?;
        let n = df.height();
        df.with_column(Column::new_scalar(
            "bucket_s".into(),
            Scalar::from(self.bucket_ms / 1000),
            n,
        ))?;
        df.with_column(Column::new_scalar(
            "series_version".into(),
            Scalar::from(SERIES_VERSION),
            n,
        ))?;
        Ok(df)
    }

    /// Reads a table of the contract, whatever engine wrote it: sorts it, puts it on a grid
    /// and fills the buckets it has no row for. The error says what is wrong and how to fix it.
    pub fn from_contract_frame(df: &DataFrame) -> PolarsResult<SeriesSet> {
        let col = |name: &str| {
            df.column(name).map_err(|_| {
                polars_err!(ColumnNotFound:
                    "the series table has no `{name}` column; a series table has `ts` (or `epoch_s`), `bucket_s`, \
                     `series_version` and one column per series (see `SeriesSet` in src/detect/series.rs)")
            })
        };
        if let Ok(v) = df.column("series_version") {
            let v = v.cast(&DataType::Int64)?;
            let newest = v.i64()?.max().unwrap_or(0);
            polars_ensure!(newest <= i64::from(SERIES_VERSION), ComputeError:
                "the series table is version {newest}; this rootline reads version {SERIES_VERSION} \
                 and older: upgrade rootline");
        }
        // `ts` (a timestamp), or `epoch_s` (seconds since the epoch) from an engine that
        // cannot make a timestamp out of a number portably, as queries/series.sql does.
        let ts: Vec<Option<i64>> = match (df.column(schema::TS), df.column("epoch_s")) {
            (Err(_), Ok(e)) => {
                let e = e.cast(&DataType::Float64).map_err(|_| {
                    polars_err!(ComputeError: "the series table's `epoch_s` column is not numbers ({})", e.dtype())
                })?;
                e.f64()?.iter().map(|v| v.map(|s| (s * 1000.0).round() as i64)).collect()
            }
            _ => {
                let ts =
                    col(schema::TS)?.cast(&DataType::Datetime(TimeUnit::Milliseconds, None))?;
                ts.datetime()?.physical().iter().collect()
            }
        };
        let widths = col("bucket_s")?.cast(&DataType::Int64)?;
        let widths: Vec<i64> = widths.i64()?.iter().flatten().collect();
        let bucket_s = widths.first().copied().unwrap_or(60);
        polars_ensure!(bucket_s > 0 && widths.iter().all(|w| *w == bucket_s), ComputeError:
            "the series table's `bucket_s` must be one width (seconds) on every row; it holds {:?}",
            widths.iter().min().zip(widths.iter().max()));
        let bucket_ms = bucket_s * 1000;
        let mut rows: Vec<(i64, usize)> =
            ts.iter().enumerate().filter_map(|(i, t)| t.map(|t| (t, i))).collect();
        rows.sort_unstable();
        let (Some(lo), Some(hi)) = (rows.first().map(|r| r.0), rows.last().map(|r| r.0)) else {
            return Ok(SeriesSet { start_ms: 0, bucket_ms, len: 0, cols: BTreeMap::new() });
        };
        let start_ms = lo.div_euclid(bucket_ms) * bucket_ms;
        let buckets = (hi - start_ms) / bucket_ms + 1;
        polars_ensure!(buckets <= MAX_BUCKETS, ComputeError:
            "the series table spans {buckets} buckets, more than {MAX_BUCKETS}");
        let len = buckets as usize;
        let mut set = SeriesSet { start_ms, bucket_ms, len, cols: BTreeMap::new() };
        for c in df.columns() {
            let name = c.name().as_str();
            if [schema::TS, "epoch_s", "bucket_s", "series_version"].contains(&name) {
                continue;
            }
            let v = c.cast(&DataType::Float64).map_err(|_| {
                polars_err!(ComputeError: "the series table's `{name}` column is not numbers ({})", c.dtype())
            })?;
            let v = v.f64()?;
            let level = LEVELS.contains(&name);
            let mut out = vec![f64::NAN; len];
            for &(t, i) in &rows {
                let b = set.index(t).expect("inside the grid by construction");
                // A null is a bucket the engine had nothing for (an outer join's gap).
                out[b] = v.get(i).unwrap_or(f64::NAN);
            }
            let mut last = 0.0;
            for x in &mut out {
                if x.is_nan() {
                    *x = if level { last } else { 0.0 };
                }
                last = *x;
            }
            set.cols.insert(name.to_string(), out);
        }
        Ok(set)
    }
}

fn strs(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<String>>> {
    Ok(df.column(name)?.str()?.iter().map(|v| v.map(str::to_string)).collect())
}

fn nums(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<f64>>> {
    Ok(df.column(name)?.f64()?.iter().collect())
}

/// The most buckets a series set may have: 2 years of minutes. Memory grows with the grid,
/// not the rows, so a span this long must come with a coarser bucket (or a shorter span).
pub const MAX_BUCKETS: i64 = 1_051_200;

/// Builds every series from the role tables on a grid of `bucket_ms`; an error when the data
/// spans more than [`MAX_BUCKETS`] buckets.
pub fn build(tables: &Tables, bucket_ms: i64) -> PolarsResult<SeriesSet> {
    let mut lo = i64::MAX;
    let mut hi = i64::MIN;
    for df in tables.values() {
        let ts = df.column(schema::TS)?.datetime()?.physical();
        if let (Some(a), Some(b)) = (ts.min(), ts.max()) {
            lo = lo.min(a);
            hi = hi.max(b);
        }
    }
    let bucket_ms = bucket_ms.max(1);
    if lo > hi {
        return Ok(SeriesSet { start_ms: 0, bucket_ms, len: 0, cols: BTreeMap::new() });
    }
    let start_ms = lo.div_euclid(bucket_ms) * bucket_ms;
    let buckets = (hi - start_ms) / bucket_ms + 1;
    if buckets > MAX_BUCKETS {
        let days = (hi - lo) as f64 / 86_400_000.0;
        polars_bail!(ComputeError:
            "the data spans {days:.0} days ({} to {}): {buckets} buckets of {} s, more than {MAX_BUCKETS}; \
             give a coarser --bucket (e.g. {}) or keep a shorter span (--as-of, or fewer files)",
            crate::units::rfc3339_secs(lo), crate::units::rfc3339_secs(hi), bucket_ms / 1000,
            suggest_bucket(hi - lo)
        );
    }
    let len = buckets as usize;
    let mut set = SeriesSet { start_ms, bucket_ms, len, cols: BTreeMap::new() };
    if let Some(df) = tables.get(&Role::Login) {
        login_series(df, &mut set)?;
    }
    if let Some(df) = tables.get(&Role::Node) {
        node_series(df, &mut set)?;
    }
    if let Some(df) = tables.get(&Role::Change) {
        let kinds = strs(df, "kind")?;
        let mut total = vec![0.0; len];
        for (t, k) in schema::ts_ms(df)?.iter().copied().zip(kinds) {
            let i = set.index(t).expect("inside the grid by construction");
            total[i] += 1.0;
            let name = format!("change_{}", k.unwrap_or_default().to_lowercase());
            set.cols.entry(name).or_insert_with(|| vec![0.0; len])[i] += 1.0;
        }
        set.cols.insert(signal::CHANGES.into(), total);
    }
    if let Some(df) = tables.get(&Role::Metric) {
        let series = strs(df, "series")?;
        let values = nums(df, "value")?;
        let mut sums: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
        for ((t, s), v) in schema::ts_ms(df)?.iter().copied().zip(series).zip(values) {
            let (Some(s), Some(v)) = (s, v) else { continue };
            let i = set.index(t).expect("inside the grid by construction");
            let e = sums
                .entry(format!("metric:{s}"))
                .or_insert_with(|| (vec![0.0; len], vec![0.0; len]));
            e.0[i] += v;
            e.1[i] += 1.0;
        }
        // A metric's bucket holds the mean of its samples; buckets without one carry the last.
        for (name, (sum, n)) in sums {
            let mut out = vec![0.0; len];
            let mut last = f64::NAN;
            for i in 0..len {
                if n[i] > 0.0 {
                    last = sum[i] / n[i];
                }
                out[i] = if last.is_nan() { 0.0 } else { last };
            }
            set.cols.insert(name, out);
        }
    }
    Ok(set)
}

/// A bucket that fits `span_ms` into the grid limit.
fn suggest_bucket(span_ms: i64) -> &'static str {
    [("5m", 300_000), ("1h", 3_600_000), ("1d", 86_400_000)]
        .into_iter()
        .find(|(_, ms)| span_ms / ms < MAX_BUCKETS)
        .map_or("1d", |(name, _)| name)
}

/// Attempts, failures, distinct users and the latency's median and 99th percentile per
/// bucket, in a pass over the rows in time order: no grouping by bucket, so nothing the size
/// of the table is made. The quantiles are Polars' linear ones (`quantile`), value for value.
/// The rows are cut in two at a bucket's start and the halves passed on two threads; their
/// buckets are disjoint, so nothing is merged.
fn login_series(df: &DataFrame, set: &mut SeriesSet) -> PolarsResult<()> {
    // The times in place (a loaded table's are one piece without nulls); an iterator of
    // options per row was a fifth of the pass on 10M rows.
    let ts = schema::ts_ms(df)?;
    if !schema::ts_sorted(df, &ts)? {
        let sorted =
            df.sort([schema::TS], SortMultipleOptions::default().with_maintain_order(true))?;
        return login_series(&sorted, set);
    }
    let rows = LoginRows {
        ts: &ts,
        outcome: &schema::outcomes(df)?,
        latency: df.column(schema::LATENCY_MS)?.f64()?,
        users: &crate::ids::Ids::of_frame(df, schema::USER)?,
    };
    let mut cols = BucketCols::new(set.len);
    // The first row of the bucket the middle row is in.
    let middle = ts.get(ts.len() / 2).map_or(0, |&t| set.index(t).expect("inside the grid"));
    let cut = ts.partition_point(|&t| t < set.start_ms + middle as i64 * set.bucket_ms);
    let (early, late) = cols.split_at_mut(middle);
    let grid = &*set;
    rayon::join(
        || rows.pass(grid, 0..cut, 0, early),
        || rows.pass(grid, cut..ts.len(), middle, late),
    );
    let BucketCols { attempts, failures, distinct, p50, p99 } = cols;
    for (name, v) in [
        (signal::ATTEMPTS, attempts),
        (signal::FAILURES, failures),
        (signal::USERS, distinct),
        (signal::LATENCY_P50, p50),
        (signal::LATENCY_P99, p99),
    ] {
        set.cols.insert(name.into(), v);
    }
    let att = set.cols[signal::ATTEMPTS].clone();
    let fail = &set.cols[signal::FAILURES];
    let users = &set.cols[signal::USERS];
    let ratio = att.iter().zip(fail).map(|(a, f)| if *a > 0.0 { f / a } else { 0.0 }).collect();
    let per_user = att.iter().zip(users).map(|(a, u)| if *u > 0.0 { a / u } else { 0.0 }).collect();
    set.cols.insert(signal::FAILURE_RATIO.into(), ratio);
    set.cols.insert(signal::PER_USER.into(), per_user);
    Ok(())
}

/// The columns of a login table that the login series read.
struct LoginRows<'a> {
    ts: &'a [i64],
    outcome: &'a [schema::Outcome],
    latency: &'a Float64Chunked,
    users: &'a crate::ids::Ids,
}

/// The login series per bucket, or a run of buckets' share of them.
struct BucketCols<V> {
    attempts: V,
    failures: V,
    distinct: V,
    p50: V,
    p99: V,
}

impl BucketCols<Vec<f64>> {
    fn new(len: usize) -> Self {
        let zeros = || vec![0.0; len];
        BucketCols {
            attempts: zeros(),
            failures: zeros(),
            distinct: zeros(),
            p50: zeros(),
            p99: zeros(),
        }
    }

    /// The buckets before `at`, and those from `at` on.
    fn split_at_mut(&mut self, at: usize) -> (BucketCols<&mut [f64]>, BucketCols<&mut [f64]>) {
        let (a0, a1) = self.attempts.split_at_mut(at);
        let (f0, f1) = self.failures.split_at_mut(at);
        let (d0, d1) = self.distinct.split_at_mut(at);
        let (m0, m1) = self.p50.split_at_mut(at);
        let (q0, q1) = self.p99.split_at_mut(at);
        (
            BucketCols { attempts: a0, failures: f0, distinct: d0, p50: m0, p99: q0 },
            BucketCols { attempts: a1, failures: f1, distinct: d1, p50: m1, p99: q1 },
        )
    }
}

impl LoginRows<'_> {
    /// Counts `rows` into `out`, which holds the buckets from `base` on; every row must fall
    /// in them.
    fn pass(
        &self,
        set: &SeriesSet,
        rows: std::ops::Range<usize>,
        base: usize,
        out: BucketCols<&mut [f64]>,
    ) {
        let latency = self.latency.slice(rows.start as i64, rows.len());
        // The latencies in place when they have no nulls (W1's, the simulator's).
        match (latency.null_count(), latency.cont_slice()) {
            (0, Ok(l)) => self.pass_with(set, rows, base, out, l.iter().map(|&l| Some(l))),
            _ => self.pass_with(set, rows, base, out, latency.iter()),
        }
    }

    fn pass_with(
        &self,
        set: &SeriesSet,
        rows: std::ops::Range<usize>,
        base: usize,
        out: BucketCols<&mut [f64]>,
        latency: impl Iterator<Item = Option<f64>>,
    ) {
        let BucketCols { attempts, failures, distinct, p50, p99 } = out;
        // The users counted in the current bucket (a bucket number per user instead took 8 MB
        // at W1 10M, read at random), emptied at the bucket's end through the list of them.
        let (mut counted, mut marked) = (crate::ids::IdSet::new(self.users.names), Vec::new());
        // The bucket's latencies, and how many rows had none.
        let (mut bucket, mut nulls): (Vec<f64>, usize) = (Vec::new(), 0);
        let mut close = |i: usize, bucket: &mut Vec<f64>, nulls: &mut usize| {
            p50[i] = quantile(bucket, *nulls, 0.5).unwrap_or(0.0);
            p99[i] = quantile(bucket, *nulls, 0.99).unwrap_or(0.0);
            bucket.clear();
            *nulls = 0;
        };
        // The current bucket and its times (none yet while empty): a row in them (the rows are
        // in time order) needs no division to find its bucket.
        let (mut i, mut span) = (0, 0..0);
        let users = self.users.iter().skip(rows.start);
        let rows = self.ts[rows.clone()].iter().zip(&self.outcome[rows]);
        for (((&t, &o), l), u) in rows.zip(latency).zip(users) {
            if !span.contains(&t) {
                if !span.is_empty() {
                    close(i, &mut bucket, &mut nulls);
                    counted.clear_only(&marked);
                    marked.clear();
                }
                i = set.index(t).expect("inside the grid by construction") - base;
                let start = set.at(i + base);
                span = start..start + set.bucket_ms;
            }
            attempts[i] += 1.0;
            if o == schema::Outcome::Fail {
                failures[i] += 1.0;
            }
            if u != crate::ids::NONE && counted.insert(u) {
                marked.push(u);
                distinct[i] += 1.0;
            }
            match l {
                Some(l) => bucket.push(l),
                None => nulls += 1,
            }
        }
        if !span.is_empty() {
            close(i, &mut bucket, &mut nulls);
        }
    }
}

/// The `q` quantile of `v` (reordered) as Polars computes it with linear interpolation over
/// `v` and `nulls` missing values: the order statistic at `(n - 1) * q` rounded down, moved
/// toward the next one by the fraction. Polars counts that position from the start of the
/// sorted column, nulls first, so the fraction is taken after adding `nulls`: it can differ
/// in the last bit. NaN orders above every number. `None` for no values.
fn quantile(v: &mut [f64], nulls: usize, q: f64) -> Option<f64> {
    let order = |a: &f64, b: &f64| match (a.is_nan(), b.is_nan()) {
        (false, false) => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
        (a, b) => a.cmp(&b),
    };
    match v.len() {
        0 => return None,
        1 => return Some(v[0]),
        _ => {}
    }
    let float_idx = (v.len() - 1) as f64 * q + nulls as f64;
    let idx = (float_idx as usize).min(v.len() + nulls - 1);
    let top = float_idx.ceil() as usize;
    let (_, &mut lower, rest) = v.select_nth_unstable_by(idx - nulls, order);
    if idx == top {
        return Some(lower);
    }
    let upper = rest.iter().copied().min_by(order)?;
    Some(if lower == upper { lower } else { (float_idx - idx as f64) * (upper - lower) + lower })
}

/// Nodes online per bucket: a node is online from its `join` or any sample until its
/// `leave`/`crash`, or until it has been silent for three times its usual sample interval.
fn node_series(df: &DataFrame, set: &mut SeriesSet) -> PolarsResult<()> {
    // Millions of sample rows are streamed from the columns, never copied out of them.
    let ts = df.column(schema::TS)?.datetime()?.physical();
    let (node_col, event_col) = (df.column(schema::NODE)?, df.column(schema::EVENT)?);
    let (load, cap) = (df.column(schema::LOAD)?.f64()?, df.column(schema::CAPACITY)?.f64()?);
    // The usual gap between two rows of one node, for staleness.
    let mut last_seen: HashMap<&str, i64> = HashMap::new();
    let mut gaps = Vec::new();
    for (t, n) in ts.iter().zip(schema::texts(node_col)?) {
        if let (Some(t), Some(n)) = (t, n)
            && let Some(prev) = last_seen.insert(n, t)
        {
            gaps.push(t - prev);
        }
    }
    drop(last_seen);
    gaps.sort_unstable();
    let stale_ms =
        gaps.get(gaps.len() / 2).copied().unwrap_or(set.bucket_ms).max(set.bucket_ms) * 3;
    drop(gaps);

    struct NodeState {
        last: i64,
        load: f64,
        cap: f64,
    }
    let mut online: HashMap<&str, NodeState> = HashMap::new();
    let len = set.len;
    let (mut n_online, mut cap_sum, mut load_sum, mut churn) =
        (vec![0.0; len], vec![0.0; len], vec![0.0; len], vec![0.0; len]);
    let mut rows = ts
        .iter()
        .zip(schema::texts(node_col)?)
        .zip(schema::texts(event_col)?)
        .zip(load.iter().zip(cap.iter()))
        .map(|(((t, n), e), (l, c))| (t.unwrap_or(i64::MIN), n, e, l, c))
        .peekable();
    for i in 0..len {
        let end = set.at(i) + set.bucket_ms;
        while let Some(&(t, n, ev, l, c)) = rows.peek() {
            if t >= end {
                break;
            }
            rows.next();
            let Some(n) = n else { continue };
            if matches!(ev, Some("leave" | "crash")) {
                if online.remove(n).is_some() {
                    churn[i] += 1.0;
                }
                continue;
            }
            let st = online.entry(n).or_insert_with(|| {
                churn[i] += f64::from(u8::from(ev == Some("join")));
                NodeState { last: t, load: 0.0, cap: 0.0 }
            });
            st.last = t;
            if let Some(l) = l {
                st.load = l;
            }
            if let Some(c) = c {
                st.cap = c;
            }
        }
        online.retain(|_, s| end - s.last <= stale_ms);
        n_online[i] = online.len() as f64;
        cap_sum[i] = online.values().map(|s| s.cap).sum();
        load_sum[i] = online.values().map(|s| s.load).sum();
    }
    let util =
        cap_sum.iter().zip(&load_sum).map(|(c, l)| if *c > 0.0 { l / c } else { 0.0 }).collect();
    set.cols.insert(signal::NODES_ONLINE.into(), n_online);
    set.cols.insert("capacity".into(), cap_sum);
    set.cols.insert("load".into(), load_sum);
    set.cols.insert(signal::UTILISATION.into(), util);
    set.cols.insert(signal::NODE_CHURN.into(), churn);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::rng::Rng;

    /// A login table in no order: repeated and null latencies, null users and outcomes, a
    /// bucket whose latencies are all null, and empty buckets.
    fn logins(seed: u64) -> DataFrame {
        let mut r = Rng::new(seed);
        let n = 6000;
        let (mut ts, mut outcome, mut user, mut latency) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 0..n {
            // Minutes 0-39, none in 20-24; minute 30 has no latency at all.
            let mut minute = r.below(40) as i64;
            if (20..25).contains(&minute) {
                minute += 10;
            }
            ts.push(1_000_000_020_000 + minute * 60_000 + r.below(60_000) as i64);
            outcome.push(match r.below(10) {
                0 => None,
                1..=3 => Some("fail"),
                _ => Some("ok"),
            });
            user.push((r.below(12) != 0).then(|| format!("u{}", r.below(300))));
            let l = match r.below(8) {
                0 => None,
                1 => Some(100.0),
                _ => Some((r.f64() * 1000.0).round() / 4.0),
            };
            latency.push(if minute == 30 || i == 7 { None } else { l });
        }
        let ts = Series::new(schema::TS.into(), ts)
            .cast(&DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC)))
            .unwrap();
        DataFrame::new(
            n,
            vec![
                ts.into_column(),
                Column::new(schema::OUTCOME.into(), outcome),
                Column::new(schema::USER.into(), user),
                Column::new(schema::LATENCY_MS.into(), latency),
            ],
        )
        .unwrap()
    }

    /// The series as Polars' group-by computes them: what `login_series` must match.
    fn by_polars(df: &DataFrame, set: &SeriesSet) -> BTreeMap<String, Vec<f64>> {
        let agg = df
            .clone()
            .lazy()
            .with_column(
                ((col(schema::TS).cast(DataType::Int64) - lit(set.start_ms)) / lit(set.bucket_ms))
                    .alias("i"),
            )
            .group_by([col("i")])
            .agg([
                len().cast(DataType::Float64).alias(signal::ATTEMPTS),
                col(schema::OUTCOME)
                    .eq(lit("fail"))
                    .sum()
                    .cast(DataType::Float64)
                    .alias(signal::FAILURES),
                col(schema::USER)
                    .drop_nulls()
                    .n_unique()
                    .cast(DataType::Float64)
                    .alias(signal::USERS),
                col(schema::LATENCY_MS).median().alias(signal::LATENCY_P50),
                col(schema::LATENCY_MS)
                    .quantile(lit(0.99), QuantileMethod::Linear)
                    .alias(signal::LATENCY_P99),
            ])
            .collect()
            .unwrap();
        let idx: Vec<i64> = agg
            .column("i")
            .unwrap()
            .cast(&DataType::Int64)
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        let mut out = BTreeMap::new();
        for name in [
            signal::ATTEMPTS,
            signal::FAILURES,
            signal::USERS,
            signal::LATENCY_P50,
            signal::LATENCY_P99,
        ] {
            let mut v = vec![0.0; set.len];
            for (i, x) in idx.iter().zip(agg.column(name).unwrap().f64().unwrap().iter()) {
                v[*i as usize] = x.unwrap_or(0.0);
            }
            out.insert(name.to_string(), v);
        }
        out
    }

    /// A bucket's median and 99th percentile are Polars' linear quantiles of the column,
    /// nulls and NaN included.
    #[test]
    fn bucket_quantiles_are_polars_linear_quantiles() {
        let mut r = Rng::new(9);
        for case in 0..300 {
            let n = 1 + r.below(80);
            let values: Vec<Option<f64>> = (0..n)
                .map(|_| match r.below(12) {
                    0 => None,
                    1 if case % 2 == 0 => Some(f64::NAN),
                    k => Some(r.below(40) as f64 / 2.0 + k as f64),
                })
                .collect();
            let column = Float64Chunked::from_iter_options("x".into(), values.iter().copied());
            let mut v: Vec<f64> = values.iter().flatten().copied().collect();
            let nulls = n - v.len();
            for q in [0.5, 0.99] {
                let got = quantile(&mut v, nulls, q);
                let want = column.quantile(q, QuantileMethod::Linear).unwrap();
                let same = match (got, want) {
                    (Some(a), Some(b)) => a == b || (a.is_nan() && b.is_nan()),
                    (a, b) => a.is_none() && b.is_none(),
                };
                assert!(same, "case {case}, q {q}: {got:?}, Polars {want:?} of {values:?}");
            }
        }
    }

    #[test]
    fn login_series_are_polars_group_by_value_for_value() {
        for seed in 1..=4 {
            let df = logins(seed);
            let tables = Tables::from([(Role::Login, df.clone())]);
            let set = build(&tables, 60_000).unwrap();
            let want = by_polars(&df, &set);
            assert_eq!(
                set.get(signal::LATENCY_P50).unwrap()[30],
                0.0,
                "a bucket without latencies"
            );
            assert!(set.get(signal::ATTEMPTS).unwrap()[20..25].iter().all(|&a| a == 0.0));
            // Users held as the ids an analysis load gives them count the same.
            let mut ids = df.clone();
            let mut intern = crate::ids::Interner::default();
            let c = crate::ids::id_column(ids.column(schema::USER).unwrap(), &mut intern).unwrap();
            ids.with_column(c).unwrap();
            let with_ids = build(&Tables::from([(Role::Login, ids)]), 60_000).unwrap();
            for (name, w) in &want {
                let got = set.get(name).unwrap();
                // Bit for bit: findings and reports must not move.
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(got), bits(w), "{name}, seed {seed}");
                assert_eq!(
                    bits(with_ids.get(name).unwrap()),
                    bits(w),
                    "{name} from ids, seed {seed}"
                );
            }
            // Latencies without nulls are read in place: the same group-by values.
            let mut full = df.clone();
            let filled = full.column(schema::LATENCY_MS).unwrap().fill_null(FillNullStrategy::Zero);
            full.with_column(filled.unwrap()).unwrap();
            assert_eq!(full.column(schema::LATENCY_MS).unwrap().null_count(), 0);
            let set = build(&Tables::from([(Role::Login, full.clone())]), 60_000).unwrap();
            for (name, w) in by_polars(&full, &set) {
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(set.get(&name).unwrap()), bits(&w), "{name} without nulls");
            }
        }
    }
}

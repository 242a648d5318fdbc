//! The normalised tables: roles, their columns and the Polars schema of each.
//!
//! Every role table has `ts` (Datetime ms, UTC), the role's own columns as DESIGN.md lists them,
//! and `source` + `line` so that every row points back at the line that proves it. Column names
//! live here as constants; nowhere else spells them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use polars::prelude::{
    ChunkAgg, DataFrame, DataType, Field, PolarsResult, Schema, TimeUnit, TimeZone,
};
use polars::series::IsSorted;
use serde::{Deserialize, Serialize};

pub const TS: &str = "ts";
pub const SOURCE: &str = "source";
pub const LINE: &str = "line";

// Role columns (see the tables below for their types and aliases).
pub const OUTCOME: &str = "outcome";
pub const USER: &str = "user";
pub const HOST: &str = "host";
pub const CLIENT: &str = "client";
pub const REASON: &str = "reason";
pub const LATENCY_MS: &str = "latency_ms";
pub const NODE: &str = "node";
pub const EVENT: &str = "event";
pub const LOAD: &str = "load";
pub const CAPACITY: &str = "capacity";
pub const CPU: &str = "cpu";
pub const MEM: &str = "mem";
pub const KIND: &str = "kind";
pub const TARGET: &str = "target";
pub const ITEM: &str = "item";
pub const STATUS: &str = "status";
pub const SERIES: &str = "series";
pub const VALUE: &str = "value";

/// The names of the per-bucket series (the signals detection reads; see
/// [`crate::detect::series`]), spelled here and nowhere else.
pub mod signal {
    // Demand, from the login table.
    pub const ATTEMPTS: &str = "attempts";
    pub const FAILURES: &str = "failures";
    pub const FAILURE_RATIO: &str = "failure_ratio";
    pub const USERS: &str = "users";
    pub const PER_USER: &str = "per_user";
    pub const LATENCY_P50: &str = "latency_p50";
    pub const LATENCY_P99: &str = "latency_p99";
    // Capacity, from the node table.
    pub const NODES_ONLINE: &str = "nodes_online";
    pub const CAPACITY: &str = "capacity";
    pub const LOAD: &str = "load";
    pub const UTILISATION: &str = "utilisation";
    pub const NODE_CHURN: &str = "node_churn";
    // Changes: all of them, and one series per kind (`change_reboot`).
    pub const CHANGES: &str = "changes";
    pub const CHANGE_PREFIX: &str = "change_";
    // Plain metrics: one series per metric (`metric:cpu`).
    pub const METRIC_PREFIX: &str = "metric:";

    /// `change_<kind>`: the series of one kind of change.
    pub fn change(kind: &str) -> String {
        format!("{CHANGE_PREFIX}{}", kind.to_lowercase())
    }
}

/// Tables by role; a role with no rows has no entry.
pub type Tables = BTreeMap<Role, DataFrame>;

/// Role columns to keep (besides `ts`, `source` and `line`); roles not listed keep all.
pub type Columns = &'static [(Role, &'static [&'static str])];

/// The role columns series building, correlation and whatif's fit read: in-memory analysis
/// keeps only these (change and metric tables are small and kept whole).
pub const ANALYSIS_COLUMNS: Columns = &[
    (Role::Login, &[OUTCOME, USER, CLIENT, REASON, LATENCY_MS]),
    (Role::Node, &[NODE, EVENT, LOAD, CAPACITY, CPU, REASON]),
];

/// A role table's `ts` column as milliseconds since the epoch, row by row: the column's own
/// values when they lie in one piece (a loaded table's do), a copy otherwise.
pub fn ts_ms(df: &DataFrame) -> PolarsResult<std::borrow::Cow<'_, [i64]>> {
    let ts = df.column(TS)?.datetime()?.physical();
    Ok(match ts.cont_slice() {
        Ok(values) => values.into(),
        Err(_) => ts.into_no_null_iter().collect::<Vec<_>>().into(),
    })
}

/// Marks a table's `ts` as in ascending order (Polars' sorted flag), when it has no nulls: for
/// a table that is (a finished one, or one filtered from it). Then [`ts_sorted`] needs no pass
/// over it, and Polars' min and max of it are its ends.
pub fn mark_ts_sorted(df: &mut DataFrame) -> PolarsResult<()> {
    let ts = df.column(TS)?;
    if ts.null_count() == 0 && ts.is_sorted_flag() != IsSorted::Ascending {
        let mut ts = ts.clone();
        ts.set_sorted_flag(IsSorted::Ascending);
        df.with_column(ts)?;
    }
    Ok(())
}

/// Whether a table's `ts` is in ascending order: the sorted flag ([`mark_ts_sorted`]) when it
/// is set, else a pass over `ts` (its values as [`ts_ms`] gives them).
pub fn ts_sorted(df: &DataFrame, ts: &[i64]) -> PolarsResult<bool> {
    Ok(df.column(TS)?.is_sorted_flag() == IsSorted::Ascending || ts.is_sorted())
}

/// The rows of `df` (whose `ts` is `ts`, as [`ts_ms`] gives it) whose times may lie in
/// `lo..hi`: exactly those when `ts` is in order ([`ts_sorted`]: a loaded table's is), else
/// all of them. A pass over an episode's rows then reads those rows, not the whole table (and
/// still tests each row's time).
pub fn rows_within(
    df: &DataFrame,
    ts: &[i64],
    lo: i64,
    hi: i64,
) -> PolarsResult<std::ops::Range<usize>> {
    if !ts_sorted(df, ts)? {
        return Ok(0..ts.len());
    }
    let start = ts.partition_point(|&t| t < lo);
    Ok(start..ts.partition_point(|&t| t < hi).max(start))
}

/// The values of a text column row by row, whether it is held as strings or as categories
/// (analysis keeps few-valued columns as categoricals: `ingest::sink::keep_columns`).
pub fn texts(
    c: &polars::prelude::Column,
) -> PolarsResult<Box<dyn Iterator<Item = Option<&str>> + '_>> {
    match c.dtype() {
        DataType::Categorical(..) => Ok(Box::new(c.cat32()?.iter_str())),
        _ => Ok(Box::new(c.str()?.iter())),
    }
}

/// What a login row's `outcome` says, one byte a row ([`outcomes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    None,
    Ok,
    Fail,
    Other,
}

/// The `outcome` of each row of a login table. A pass over logins compares a byte per row,
/// not a string: see [`classes`].
pub fn outcomes(df: &DataFrame) -> PolarsResult<Vec<Outcome>> {
    classes(df.column(OUTCOME)?, |o| match o {
        None => Outcome::None,
        Some("ok") => Outcome::Ok,
        Some("fail") => Outcome::Fail,
        Some(_) => Outcome::Other,
    })
}

/// Each row of a text column as `class_of` its value (`None` for a null). For categories,
/// `class_of` runs once per category, not once per row: [`texts`] looks each row's string up
/// in the global mapping, a call and a compare per row that took a third of `analyze`'s
/// serial passes over 2M logins.
pub fn classes<T: Copy>(
    c: &polars::prelude::Column,
    class_of: impl Fn(Option<&str>) -> T,
) -> PolarsResult<Vec<T>> {
    if !matches!(c.dtype(), DataType::Categorical(..)) {
        return Ok(c.str()?.iter().map(class_of).collect());
    }
    let cats = c.cat32()?;
    let mapping = cats.get_mapping();
    // A table by category id, sized by the mapping (every category of the global mapping,
    // not just this column's: the column's own greatest id is a pass over it, a bit at a time
    // through the validity when it has nulls). A process that has seen very many categories
    // (long `eval` runs) sizes it by the column's greatest id after all; with too many even
    // then, each row is looked up.
    let phys = cats.physical();
    let bound = match mapping.num_cats_upper_bound() {
        b if b <= 1 << 16 => b,
        _ => phys.max().map_or(0, |m| m as usize + 1),
    };
    if bound == 0 || bound > 1 << 16 {
        return Ok(cats.iter_str().map(class_of).collect());
    }
    let table: Vec<T> = (0..bound as u32).map(|id| class_of(mapping.cat_to_str(id))).collect();
    let null = class_of(None);
    // A null row holds some id too (0, or any category's): every row's id is read in the table
    // (clamped into it), and a null's class chosen by its validity bit without a branch, 64 rows
    // a word. (The null rows set afterwards, by the validity's clear bits one at a time, were
    // most of the pass on a column null on half its rows.)
    let at = |id: u32| table[(id as usize).min(bound - 1)];
    let pick = |word: u64, ids: &[u32], out: &mut Vec<T>| {
        let class = |(k, &id): (usize, &u32)| {
            std::hint::select_unpredictable(word >> k & 1 != 0, at(id), null)
        };
        out.extend(ids.iter().enumerate().map(class));
    };
    let mut out = Vec::with_capacity(c.len());
    for arr in phys.downcast_iter() {
        let ids = arr.values().as_slice();
        let Some(valid) = arr.validity().filter(|v| v.unset_bits() > 0) else {
            out.extend(ids.iter().map(|&id| at(id)));
            continue;
        };
        let words = valid.chunks::<u64>();
        let last = words.remainder();
        let mut rows = ids.chunks_exact(64);
        for (word, ids) in words.zip(rows.by_ref()) {
            pick(word, ids, &mut out);
        }
        pick(last, rows.remainder(), &mut out);
    }
    Ok(out)
}

/// The values of a `line` column row by row, whether it is held as Int64 or, in a table
/// loaded for analysis, as UInt32 (`ingest::sink::keep_columns`).
pub fn lines(
    c: &polars::prelude::Column,
) -> PolarsResult<Box<dyn Iterator<Item = Option<i64>> + '_>> {
    match c.dtype() {
        DataType::UInt32 => Ok(Box::new(c.u32()?.iter().map(|l| l.map(i64::from)))),
        _ => Ok(Box::new(c.i64()?.iter())),
    }
}

/// The role a source plays in the story: who asked (login), who served (node), what changed
/// (change), or any plain numeric series (metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Login,
    Node,
    Change,
    Metric,
}

/// The type of one role column besides `ts`, `source` and `line`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColKind {
    Str,
    Num,
}

/// One role column: its name, its type, whether a row without it is rejected, and other names
/// that raw fields commonly carry for it (used when no field map says otherwise).
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: ColKind,
    pub required: bool,
    pub aliases: &'static [&'static str],
}

const fn col(
    name: &'static str,
    kind: ColKind,
    required: bool,
    aliases: &'static [&'static str],
) -> Column {
    Column { name, kind, required, aliases }
}

use ColKind::{Num, Str};

const LOGIN_COLUMNS: &[Column] = &[
    col(OUTCOME, Str, true, &["result", "status", "success"]),
    col(USER, Str, false, &["username", "user_name", "account", "uid"]),
    // Not `region`: a region is not a host (and not `message`: a free-text remainder is no
    // reason). A field map (`fields = { region = "host" }`) says so when it is meant.
    col(HOST, Str, false, &["server", "hostname"]),
    col(CLIENT, Str, false, &["ip", "client_ip", "src", "peer", "remote_addr", "addr"]),
    col(REASON, Str, false, &["error", "cause", "error_code"]),
    col(LATENCY_MS, Num, false, &["latency", "duration_ms", "elapsed_ms"]),
];
const NODE_COLUMNS: &[Column] = &[
    col(NODE, Str, true, &["supernode", "node_id", "instance"]),
    col(EVENT, Str, false, &["action", "type", "state"]),
    col(LOAD, Num, false, &["clients", "connections"]),
    col(CAPACITY, Num, false, &["max_clients", "limit"]),
    col(CPU, Num, false, &["cpu_pct"]),
    col(MEM, Num, false, &["mem_pct", "memory"]),
    // Why a node left (overload, reboot, shutdown): whatif counts the capacity overload took.
    col(REASON, Str, false, &["cause"]),
];
const CHANGE_COLUMNS: &[Column] = &[
    col(KIND, Str, true, &["action", "type", "event"]),
    col(TARGET, Str, false, &["host", "cohort", "node", "hostname"]),
    col(ITEM, Str, false, &["package", "kb", "version", "release"]),
    col(STATUS, Str, false, &["result", "state"]),
];
const METRIC_COLUMNS: &[Column] =
    &[col(SERIES, Str, true, &["metric", "name"]), col(VALUE, Num, true, &["val", "v"])];

/// No role has more columns than this (checked when compiling), so a row fits in an array.
pub const MAX_COLUMNS: usize = 16;
const _: () = assert!(
    LOGIN_COLUMNS.len() <= MAX_COLUMNS
        && NODE_COLUMNS.len() <= MAX_COLUMNS
        && CHANGE_COLUMNS.len() <= MAX_COLUMNS
        && METRIC_COLUMNS.len() <= MAX_COLUMNS
);

/// Raw field names tried, in order, for the timestamp when a source names none.
pub const TS_ALIASES: &[&str] =
    &["ts", "timestamp", "time", "@timestamp", "datetime", "date", "t", "__REALTIME_TIMESTAMP"];

impl Role {
    pub const ALL: [Role; 4] = [Role::Login, Role::Node, Role::Change, Role::Metric];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Login => "login",
            Role::Node => "node",
            Role::Change => "change",
            Role::Metric => "metric",
        }
    }

    /// The role's own columns, in table order (after `ts`).
    pub fn columns(self) -> &'static [Column] {
        match self {
            Role::Login => LOGIN_COLUMNS,
            Role::Node => NODE_COLUMNS,
            Role::Change => CHANGE_COLUMNS,
            Role::Metric => METRIC_COLUMNS,
        }
    }

    /// The full Polars schema of the role's table: `ts`, the role columns, `source`, `line`.
    pub fn schema(self) -> Schema {
        let mut fields = vec![Field::new(TS.into(), ts_dtype())];
        for c in self.columns() {
            let dt = match c.kind {
                Str => DataType::String,
                Num => DataType::Float64,
            };
            fields.push(Field::new(c.name.into(), dt));
        }
        fields.push(Field::new(SOURCE.into(), DataType::String));
        fields.push(Field::new(LINE.into(), DataType::Int64));
        Schema::from_iter(fields)
    }
}

/// The one timestamp type of every table: milliseconds, UTC.
pub fn ts_dtype() -> DataType {
    DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| crate::error::unknown_value("role", s, Role::ALL.map(Role::as_str)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::{Categories, Column, IntoColumn, NamedFrom, Series};

    /// A frame of `ts` (ms) as a loaded table holds it.
    fn times(ms: &[i64]) -> DataFrame {
        let ts = Series::new(TS.into(), ms).cast(&DataType::Datetime(TimeUnit::Milliseconds, None));
        DataFrame::new(ms.len(), vec![ts.unwrap().into_column()]).unwrap()
    }

    #[test]
    fn ts_is_sorted_by_its_flag_or_else_by_its_values() {
        let unsorted = times(&[3, 1, 2]);
        assert!(!ts_sorted(&unsorted, &ts_ms(&unsorted).unwrap()).unwrap());
        let mut sorted = times(&[1, 2, 2, 3]);
        assert_eq!(sorted.column(TS).unwrap().is_sorted_flag(), IsSorted::Not);
        assert!(ts_sorted(&sorted, &ts_ms(&sorted).unwrap()).unwrap(), "by a pass");
        mark_ts_sorted(&mut sorted).unwrap();
        assert_eq!(sorted.column(TS).unwrap().is_sorted_flag(), IsSorted::Ascending);
        let ts = ts_ms(&sorted).unwrap();
        assert_eq!(rows_within(&sorted, &ts, 2, 3).unwrap(), 1..3);
        // Unsorted: every row may be within.
        let ts = ts_ms(&unsorted).unwrap();
        assert_eq!(rows_within(&unsorted, &ts, 2, 3).unwrap(), 0..3);
    }

    /// `classes` of a column held as categories, in more than one chunk and with nulls, is
    /// `class_of` of each row's text, as it is for the same column held as strings: also past
    /// 64 rows (the validity is read a word at a time) and on slices that start inside a word
    /// and a byte of it.
    #[test]
    fn classes_of_categories_are_those_of_their_texts() {
        let rows = |k: usize| -> Vec<Option<&str>> {
            (0..k)
                .map(|i| match i % 5 {
                    0 => None,
                    1 | 3 => Some("fail"),
                    2 => Some("ok"),
                    _ => Some("lockout (invalid user)"),
                })
                .collect()
        };
        let cat = DataType::from_categories(Categories::global());
        let text = Series::new("outcome".into(), rows(23));
        let mut cats = text.cast(&cat).unwrap();
        cats.append(&Series::new("outcome".into(), rows(7)).cast(&cat).unwrap()).unwrap();
        let mut text = text;
        text.append(&Series::new("outcome".into(), rows(7))).unwrap();
        assert!(cats.n_chunks() > 1, "the test needs more than one chunk");
        let class_of = |o: Option<&str>| match o {
            None => 0u8,
            Some(t) if t.contains("invalid") => 3,
            Some("fail") => 2,
            Some(_) => 1,
        };
        let want: Vec<u8> = texts(&text.clone().into_column()).unwrap().map(class_of).collect();
        assert_eq!(want.len(), 30);
        assert_eq!(&want[..5], [0, 2, 1, 2, 3]);
        let cats: Column = cats.into_column();
        assert!(matches!(cats.dtype(), DataType::Categorical(..)));
        assert_eq!(classes(&cats, class_of).unwrap(), want);
        assert_eq!(classes(&text.into_column(), class_of).unwrap(), want);

        // Chunks of 270 and 77 rows, null on every fifth and then (the first's last 70) on
        // every row; cut at offsets inside a byte and a word of the validity.
        let mut long = rows(200);
        long.extend((0..70).map(|_| None));
        let text = Series::new("outcome".into(), long);
        let mut cats = text.cast(&cat).unwrap();
        cats.append(&Series::new("outcome".into(), rows(77)).cast(&cat).unwrap()).unwrap();
        let mut text = text;
        text.append(&Series::new("outcome".into(), rows(77))).unwrap();
        for (from, len) in [(0, 347), (13, 300), (67, 150), (130, 217), (270, 77)] {
            let (cats, text) = (cats.slice(from, len).into_column(), text.slice(from, len));
            let want: Vec<u8> = texts(&text.into_column()).unwrap().map(class_of).collect();
            assert_eq!(classes(&cats, class_of).unwrap(), want, "rows {from}..+{len}");
        }
    }
}

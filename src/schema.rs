//! The normalised tables: roles, their columns and the Polars schema of each.
//!
//! Every role table has `ts` (Datetime ms, UTC), the role's own columns as DESIGN.md lists them,
//! and `source` + `line` so that every row points back at the line that proves it. Column names
//! live here as constants; nowhere else spells them.

use std::fmt;
use std::str::FromStr;

use polars::prelude::{DataType, Field, PolarsResult, Schema, TimeUnit, TimeZone};
use serde::{Deserialize, Serialize};

pub const TS: &str = "ts";
pub const SOURCE: &str = "source";
pub const LINE: &str = "line";

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

const LOGIN: &[Column] = &[
    col("outcome", Str, true, &["result", "status", "success"]),
    col("user", Str, false, &["username", "user_name", "account", "uid"]),
    col("host", Str, false, &["server", "region", "hostname"]),
    col("client", Str, false, &["ip", "client_ip", "src", "peer", "remote_addr", "addr"]),
    col("reason", Str, false, &["error", "cause", "message", "msg"]),
    col("latency_ms", Num, false, &["latency", "duration_ms", "elapsed_ms"]),
];
const NODE: &[Column] = &[
    col("node", Str, true, &["supernode", "node_id", "instance"]),
    col("event", Str, false, &["action", "type", "state"]),
    col("load", Num, false, &["clients", "connections"]),
    col("capacity", Num, false, &["max_clients", "limit"]),
    col("cpu", Num, false, &["cpu_pct"]),
    col("mem", Num, false, &["mem_pct", "memory"]),
];
const CHANGE: &[Column] = &[
    col("kind", Str, true, &["action", "type", "event"]),
    col("target", Str, false, &["host", "cohort", "node", "hostname"]),
    col("item", Str, false, &["package", "kb", "version", "release"]),
    col("status", Str, false, &["result", "state"]),
];
const METRIC: &[Column] =
    &[col("series", Str, true, &["metric", "name"]), col("value", Num, true, &["val", "v"])];

/// No role has more columns than this (checked when compiling), so a row fits in an array.
pub const MAX_COLUMNS: usize = 16;
const _: () = assert!(
    LOGIN.len() <= MAX_COLUMNS
        && NODE.len() <= MAX_COLUMNS
        && CHANGE.len() <= MAX_COLUMNS
        && METRIC.len() <= MAX_COLUMNS
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
            Role::Login => LOGIN,
            Role::Node => NODE,
            Role::Change => CHANGE,
            Role::Metric => METRIC,
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

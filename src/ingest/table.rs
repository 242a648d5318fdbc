//! Rows -> a role table: typed column builders that check each row before taking it.
//!
//! A row is taken whole or not at all: a missing required column, a number that is not a
//! number, or a login outcome that is neither ok nor fail rejects the line with a reason.

use std::borrow::Cow;

use polars::prelude::*;

use crate::schema::{self, ColKind, MAX_COLUMNS, Role};

enum ColBuf {
    Str(StringChunkedBuilder),
    /// Values (0 where null) and the rows that are null: a column without nulls (nearly
    /// all) becomes a Polars column without a copy.
    Num(Vec<f64>, Vec<usize>),
    /// A column the sink does not keep: checked, not built (a null column of the row count).
    /// `true` for a number column.
    Unkept(bool),
}

/// Collects the rows of one role for one chunk of one source.
pub struct TableBuilder {
    role: Role,
    ts: Vec<i64>,
    line: Vec<i64>,
    cols: Vec<ColBuf>,
    nums: Vec<Option<f64>>,
    /// The login `outcome` column, whose values are normalised to ok/fail.
    outcome: Option<usize>,
}

/// `success`, `Accepted`, `true` -> ok; `failure`, `denied`, `false` -> fail.
pub fn normalise_outcome(v: &str) -> Option<&'static str> {
    const OK: &[&str] = &[
        "ok",
        "success",
        "succeeded",
        "accepted",
        "true",
        "1",
        "pass",
        "passed",
        "allowed",
        "allow",
    ];
    const FAIL: &[&str] = &[
        "fail", "failed", "failure", "error", "denied", "deny", "rejected", "reject", "false", "0",
        "timeout",
    ];
    let v = v.trim();
    // The spellings nearly every log uses, before the lists.
    match v {
        "ok" | "OK" => return Some("ok"),
        "fail" | "FAIL" => return Some("fail"),
        _ => {}
    }
    if OK.iter().any(|o| o.eq_ignore_ascii_case(v)) {
        Some("ok")
    } else if FAIL.iter().any(|o| o.eq_ignore_ascii_case(v)) {
        Some("fail")
    } else {
        None
    }
}

impl TableBuilder {
    pub fn new(role: Role, capacity: usize) -> TableBuilder {
        let cols = role
            .columns()
            .iter()
            .map(|c| match c.kind {
                ColKind::Str => ColBuf::Str(StringChunkedBuilder::new(c.name.into(), capacity)),
                ColKind::Num => ColBuf::Num(Vec::with_capacity(capacity), Vec::new()),
            })
            .collect();
        let outcome = (role == Role::Login)
            .then(|| role.columns().iter().position(|c| c.name == "outcome"))
            .flatten();
        TableBuilder {
            role,
            outcome,
            ts: Vec::with_capacity(capacity),
            line: Vec::with_capacity(capacity),
            cols,
            nums: Vec::new(),
        }
    }

    /// Builds only the columns `columns` keeps for this role (all with `None`): a load for
    /// analysis does not build the columns it drops (a login's `host`). Every value is still
    /// checked, so the same lines are rejected.
    pub fn building(mut self, columns: Option<crate::schema::Columns>) -> TableBuilder {
        let Some(kept) = super::sink::kept_columns(columns, self.role) else { return self };
        for (buf, c) in self.cols.iter_mut().zip(self.role.columns()) {
            if !kept.contains(&c.name) {
                *buf = ColBuf::Unkept(c.kind == ColKind::Num);
            }
        }
        self
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn len(&self) -> usize {
        self.ts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Adds `count` copies of a row, or says why the row is not valid.
    pub fn push(
        &mut self,
        ts: i64,
        line: i64,
        values: &[Option<Cow<'_, str>>],
        count: usize,
    ) -> Result<(), String> {
        let columns = self.role.columns();
        // Each value is checked (and trimmed, parsed, normalised) once, then taken.
        let mut checked: [Option<&str>; MAX_COLUMNS] = [None; MAX_COLUMNS];
        self.nums.clear();
        for (i, c) in columns.iter().enumerate() {
            let v = values.get(i).and_then(|v| v.as_deref()).map(trim).filter(|v| !v.is_empty());
            match (v, c.kind) {
                (None, _) if c.required => return Err(format!("no {} (required)", c.name)),
                (Some(v), ColKind::Num) => match number(v) {
                    Ok(n) if n.is_finite() => self.nums.push(Some(n)),
                    _ => return Err(format!("{} \"{}\" is not a number", c.name, clip(v))),
                },
                (None, ColKind::Num) => self.nums.push(None),
                (Some(v), ColKind::Str) if Some(i) == self.outcome => match normalise_outcome(v) {
                    Some(o) => checked[i] = Some(o),
                    None => return Err(format!("outcome \"{}\" is neither ok nor fail", clip(v))),
                },
                (v, ColKind::Str) => checked[i] = v,
            }
        }
        for _ in 0..count {
            self.ts.push(ts);
            self.line.push(line);
            let mut nums = self.nums.iter();
            for (buf, v) in self.cols.iter_mut().zip(checked) {
                match buf {
                    ColBuf::Num(b, nulls) => {
                        let v = nums.next().copied().flatten();
                        if v.is_none() {
                            nulls.push(b.len());
                        }
                        b.push(v.unwrap_or(0.0));
                    }
                    ColBuf::Str(b) => b.append_option(v),
                    ColBuf::Unkept(num) => {
                        if *num {
                            nums.next();
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The rows as a DataFrame with the role's schema, `source` filled in.
    pub fn finish(self, source: &str) -> PolarsResult<DataFrame> {
        let n = self.ts.len();
        let mut columns: Vec<Column> = Vec::with_capacity(self.cols.len() + 3);
        columns.push(
            Int64Chunked::from_vec(schema::TS.into(), self.ts)
                .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
                .into_column(),
        );
        for (buf, c) in self.cols.into_iter().zip(self.role.columns()) {
            columns.push(match buf {
                ColBuf::Str(b) => b.finish().into_column(),
                ColBuf::Unkept(num) => {
                    let dtype = if num { DataType::Float64 } else { DataType::String };
                    Column::new_scalar(c.name.into(), Scalar::null(dtype), n)
                }
                ColBuf::Num(v, nulls) => {
                    let name = c.name.into();
                    if nulls.is_empty() {
                        Float64Chunked::from_vec(name, v).into_column()
                    } else {
                        let mut null = nulls.iter().peekable();
                        let cells = v.into_iter().enumerate().map(|(i, x)| {
                            let is_null = null.next_if_eq(&&i).is_some();
                            (!is_null).then_some(x)
                        });
                        Float64Chunked::from_iter_options(name, cells).into_column()
                    }
                }
            });
        }
        columns.push(Column::new_scalar(
            schema::SOURCE.into(),
            Scalar::new(DataType::String, AnyValue::StringOwned(source.into())),
            n,
        ));
        columns.push(Int64Chunked::from_vec(schema::LINE.into(), self.line).into_column());
        DataFrame::new(n, columns)
    }
}

/// A number cell's value: whole numbers of up to 15 digits (most log numbers: latencies,
/// counts, ports) read directly, exactly as `f64`'s own parser reads them; the rest by it.
fn number(v: &str) -> Result<f64, std::num::ParseFloatError> {
    let (neg, digits) = match v.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        b => (false, b),
    };
    if !digits.is_empty() && digits.len() <= 15 && digits.iter().all(u8::is_ascii_digit) {
        let n = digits.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')) as f64;
        return Ok(if neg { -n } else { n });
    }
    v.parse::<f64>()
}

/// ASCII-whitespace trim, with a fast path for values that need none (nearly all).
fn trim(v: &str) -> &str {
    let b = v.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) if !f.is_ascii_whitespace() && !l.is_ascii_whitespace() => v,
        _ => v.trim(),
    }
}

/// Cuts a value for an error message.
pub fn clip(v: &str) -> &str {
    match v.char_indices().nth(60) {
        Some((i, _)) => &v[..i],
        None => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_read_as_the_float_parser_reads_them() {
        for v in ["0", "78", "-12", "007", "999999999999999", "-0", "1234567890123456", "1.5"] {
            assert_eq!(number(v).ok(), v.parse::<f64>().ok(), "{v}");
            assert_eq!(number(v).unwrap().to_bits(), v.parse::<f64>().unwrap().to_bits(), "{v}");
        }
        for v in ["", "-", "1x", "--1", "+", "1e", " 1"] {
            assert_eq!(number(v).ok(), v.parse::<f64>().ok(), "{v:?}");
        }
    }

    #[test]
    fn rows_are_checked_before_they_are_taken() {
        let mut t = TableBuilder::new(Role::Login, 4);
        let ok =
            [Some(Cow::from("Accepted")), Some("bob".into()), None, None, None, Some("12".into())];
        t.push(1000, 1, &ok, 2).unwrap();
        let bad = [Some(Cow::from("maybe")), None, None, None, None, None];
        assert!(t.push(1000, 2, &bad, 1).unwrap_err().contains("neither ok nor fail"));
        let nan = [Some(Cow::from("ok")), None, None, None, None, Some("fast".into())];
        assert!(t.push(1000, 3, &nan, 1).unwrap_err().contains("not a number"));
        let df = t.finish("x.log").unwrap();
        assert_eq!(df.height(), 2);
        assert_eq!(df.schema().as_ref(), &Role::Login.schema());
        let outcome = df.column("outcome").unwrap().str().unwrap().get(0);
        assert_eq!(outcome, Some("ok"));
    }

    #[test]
    fn columns_not_kept_are_checked_but_not_built() {
        let keep: crate::schema::Columns = &[(Role::Login, &["outcome", "latency_ms"])];
        let row = |ms: &'static str| {
            [
                Some(Cow::from("ok")),
                Some("bob".into()),
                Some("h1".into()),
                None,
                None,
                Some(ms.into()),
            ]
        };
        let mut all = TableBuilder::new(Role::Login, 4);
        let mut some = TableBuilder::new(Role::Login, 4).building(Some(keep));
        for t in [&mut all, &mut some] {
            t.push(1000, 1, &row("5"), 1).unwrap();
            assert!(t.push(1000, 2, &row("fast"), 1).unwrap_err().contains("not a number"));
            t.push(2000, 3, &row("7"), 2).unwrap();
        }
        let (all, some) = (all.finish("x.log").unwrap(), some.finish("x.log").unwrap());
        assert_eq!(some.schema().as_ref(), &Role::Login.schema());
        for name in ["ts", "outcome", "latency_ms", "source", "line"] {
            assert_eq!(all.column(name).unwrap(), some.column(name).unwrap(), "{name}");
        }
        assert_eq!(all.column("user").unwrap().null_count(), 0);
        assert_eq!(some.column("user").unwrap().null_count(), 3);
        // The numbers after an unkept text column are still read into their own column.
        let latency: Vec<Option<f64>> =
            some.column("latency_ms").unwrap().f64().unwrap().iter().collect();
        assert_eq!(latency, [Some(5.0), Some(7.0), Some(7.0)]);
    }

    #[test]
    fn number_cells_keep_their_nulls_in_place() {
        let row = |ms: Option<&'static str>| {
            [Some(Cow::from("ok")), None, None, None, None, ms.map(Cow::from)]
        };
        let mut t = TableBuilder::new(Role::Login, 4);
        for (i, ms) in
            [None, Some("5"), None, None, Some("-7"), Some("1.5"), None].iter().enumerate()
        {
            t.push(1000, i as i64 + 1, &row(*ms), if i == 2 { 2 } else { 1 }).unwrap();
        }
        let df = t.finish("x.log").unwrap();
        let got: Vec<Option<f64>> =
            df.column("latency_ms").unwrap().f64().unwrap().iter().collect();
        assert_eq!(got, [None, Some(5.0), None, None, None, Some(-7.0), Some(1.5), None]);
        let mut t = TableBuilder::new(Role::Login, 4);
        t.push(1000, 1, &row(Some("3")), 1).unwrap();
        let df = t.finish("x.log").unwrap();
        assert_eq!(df.column("latency_ms").unwrap().null_count(), 0);
        assert_eq!(df.schema().as_ref(), &Role::Login.schema());
    }
}

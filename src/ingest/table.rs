//! Rows -> a role table: typed column builders that check each row before taking it.
//!
//! A row is taken whole or not at all: a missing required column, a number that is not a
//! number, or a login outcome that is neither ok nor fail rejects the line with a reason.

use std::borrow::Cow;

use polars::prelude::*;
use polars_arrow::array::View;

use crate::schema::{self, ColKind, MAX_COLUMNS, Role};

enum ColBuf {
    Str(TextCol),
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
    // The spellings nearly every log uses, before the trim and the lists (which hold them too).
    match v {
        "ok" | "OK" => return Some("ok"),
        "fail" | "FAIL" => return Some("fail"),
        _ => {}
    }
    let v = v.trim();
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
                ColKind::Str => ColBuf::Str(TextCol::new(capacity)),
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
                    ColBuf::Str(b) => b.push(v),
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
                ColBuf::Str(b) => b.finish(c.name).into_column(),
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

/// A text column built as Arrow's string views directly. Polars' builder made each view in a
/// function that returned it through memory, written four bytes at a time and read back as
/// sixteen: a store-forwarding stall per cell, a quarter of `push`'s time in a W1 ingest.
/// Here a short value's view (up to 12 bytes, nearly all: outcomes, users, hosts) is made in
/// registers; a longer one's bytes go to a buffer its view points into.
struct TextCol {
    views: Vec<View>,
    /// The bytes of the values over 12 bytes; a new buffer starts before one would pass
    /// `u32::MAX`, the largest offset a view holds.
    buffers: Vec<Vec<u8>>,
    /// Rows that are null.
    nulls: Vec<usize>,
    /// The bytes of all values, inline or not.
    bytes: usize,
}

impl TextCol {
    fn new(capacity: usize) -> TextCol {
        TextCol { views: Vec::with_capacity(capacity), buffers: vec![], nulls: vec![], bytes: 0 }
    }

    fn push(&mut self, v: Option<&str>) {
        let view = match v {
            None => {
                self.nulls.push(self.views.len());
                View::default()
            }
            Some(v) if v.len() <= View::MAX_INLINE_SIZE as usize => {
                self.bytes += v.len();
                View::from(inline_view(v.as_bytes()))
            }
            Some(v) => {
                self.bytes += v.len();
                let fits = |b: &Vec<u8>| b.len() + v.len() <= u32::MAX as usize;
                if !self.buffers.last().is_some_and(fits) {
                    self.buffers.push(Vec::new());
                }
                let index = self.buffers.len() - 1;
                let buffer = &mut self.buffers[index];
                let view = View::new_from_bytes(v.as_bytes(), index as u32, buffer.len() as u32);
                buffer.extend_from_slice(v.as_bytes());
                view
            }
        };
        self.views.push(view);
    }

    fn finish(self, name: &str) -> StringChunked {
        use polars_arrow::array::Utf8ViewArray;
        use polars_arrow::bitmap::Bitmap;
        let n = self.views.len();
        let validity = (!self.nulls.is_empty()).then(|| {
            let mut valid = vec![true; n];
            self.nulls.iter().for_each(|&i| valid[i] = false);
            Bitmap::from_iter(valid)
        });
        let total = self.buffers.iter().map(Vec::len).sum();
        let buffers = self.buffers.into_iter().map(Into::into);
        // SAFETY: every view is of a `&str` (UTF-8): inline ones hold its bytes and length as
        // `View::new_inline` would (see `inline_views_are_the_ones_arrow_makes`), the others
        // come from `View::new_from_bytes` with the index of the buffer their bytes were
        // appended to and the offset they start at; null rows have the validity bit unset;
        // `bytes` and `total` are the lengths of the values and the buffers.
        let array = unsafe {
            Utf8ViewArray::new_unchecked(
                polars_arrow::datatypes::ArrowDataType::Utf8View,
                self.views.into(),
                buffers.collect(),
                validity,
                Some(self.bytes),
                total,
            )
        };
        StringChunked::with_chunk(name.into(), array)
    }
}

/// The view of a value of up to 12 bytes (its length, then its bytes, zero-padded), made from
/// whole-word loads so that it stays in registers. Two loads that overlap put the same bytes
/// in the same places, so or-ing them is exact.
fn inline_view(b: &[u8]) -> u128 {
    let n = b.len();
    let word = |at: usize| u128::from(u32::from_le_bytes(b[at..at + 4].try_into().expect("4")));
    let data = if n >= 8 {
        let lo = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
        u128::from(lo) | (word(n - 4) << ((n - 4) * 8))
    } else if n >= 4 {
        word(0) | (word(n - 4) << ((n - 4) * 8))
    } else {
        b.iter().enumerate().fold(0, |x, (i, &c)| x | (u128::from(c) << (8 * i)))
    };
    n as u128 | (data << 32)
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
    fn inline_views_are_the_ones_arrow_makes() {
        let text = b"abcdefghijkl\xff\x01";
        for start in 0..2 {
            for n in 0..=12 {
                let b = &text[start..start + n];
                assert_eq!(inline_view(b), View::new_inline(b).as_u128(), "{b:?}");
            }
        }
    }

    /// Text columns read back as Polars' own builder gives them: short and long values,
    /// empty ones, nulls, and a value that lands after a long one.
    #[test]
    fn text_columns_are_the_strings_pushed() {
        let long = "a value longer than twelve bytes";
        let values = [
            Some("ok"),
            None,
            Some(long),
            Some(""),
            Some("exactly12byt"),
            Some("thirteen byte"),
            None,
            Some("é ünïcödé"),
            Some(long),
            Some("u0021653"),
        ];
        let mut col = TextCol::new(2);
        values.iter().for_each(|v| col.push(*v));
        let got = col.finish("c");
        let want = StringChunked::from_iter_options("c".into(), values.iter().copied());
        assert!(got.equal_missing(&want).all());
        assert_eq!(got.null_count(), 2);
        assert_eq!(got.name().as_str(), "c");
        let mut col = TextCol::new(0);
        col.push(Some("x"));
        assert_eq!(col.finish("c").null_count(), 0);
    }

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
    fn outcomes_are_read_with_or_without_spaces_around_them() {
        for (v, want) in [
            ("OK", Some("ok")),
            ("fail", Some("fail")),
            (" ok ", Some("ok")),
            ("FAIL\u{a0}", Some("fail")),
            ("\tSuccess", Some("ok")),
            ("Denied", Some("fail")),
            ("maybe", None),
            ("", None),
        ] {
            assert_eq!(normalise_outcome(v), want, "{v:?}");
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

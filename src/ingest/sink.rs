//! Where ingested rows and rejects go: Parquet files partitioned by role and day (for
//! `rootline ingest` and other engines), or memory (for analysis and tests).
//!
//! Layout: `DIR/<role>/date=YYYY-MM-DD/part-<source>.parquet`, one file per source and day,
//! rows sorted by `ts` then `line`; `DIR/rejects.jsonl` holds one JSON object per rejected line.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use polars::io::parquet::write::{BatchedWriter, get_encodings};
use polars::prelude::*;
use polars_parquet::write as pq;
use rayon::prelude::*;
use serde::Serialize;

use super::dictionary::Dictionary;
use crate::error::IngestError;
use crate::schema::{self, Columns, Role, Tables};

/// A line that was not understood, with everything needed to find and fix it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reject {
    pub source: String,
    pub line: u64,
    pub reason: String,
    /// The raw line, its first [`REJECT_RAW_BYTES`] bytes when longer; invalid UTF-8 is shown
    /// with U+FFFD here and kept exactly in `raw_hex`.
    pub raw: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_hex: Option<String>,
    /// The line's whole length in bytes, when `raw` holds only its start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_len: Option<u64>,
}

/// Bytes of a rejected line kept in the rejects: real log lines fit whole, and a hostile one
/// (a gigabyte without a newline) cannot fill the disk with copies of itself.
pub const REJECT_RAW_BYTES: usize = 64 * 1024;

impl Reject {
    pub fn new(source: &str, line: u64, reason: impl Into<String>, raw: &[u8]) -> Reject {
        Reject::clipped(source, line, reason, raw, raw.len() as u64)
    }

    /// A reject of a line `len` bytes long of which `raw` is the start (or all).
    pub fn clipped(
        source: &str,
        line: u64,
        reason: impl Into<String>,
        raw: &[u8],
        len: u64,
    ) -> Reject {
        let mut keep = raw.len().min(REJECT_RAW_BYTES);
        // Cut on a character boundary when the text is UTF-8 up to the cut.
        while keep < raw.len() && keep > 0 && (raw[keep] & 0xc0) == 0x80 {
            keep -= 1;
        }
        let raw = &raw[..keep];
        let (raw, raw_hex) = match std::str::from_utf8(raw) {
            Ok(s) => (s.to_string(), None),
            Err(_) => (
                String::from_utf8_lossy(raw).into_owned(),
                Some(raw.iter().map(|b| format!("{b:02x}")).collect()),
            ),
        };
        let raw_len = (len > keep as u64).then_some(len);
        Reject { source: source.to_string(), line, reason: reason.into(), raw, raw_hex, raw_len }
    }
}

/// Writes one reject as a line of `rejects.jsonl`: the one writer of that format.
pub fn write_reject(w: &mut impl Write, r: &Reject) -> std::io::Result<()> {
    serde_json::to_writer(&mut *w, r)?;
    w.write_all(b"\n")
}

/// Rejects as the text of a `rejects.jsonl`.
pub fn rejects_jsonl(rejects: &[Reject]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in rejects {
        write_reject(&mut out, r).expect("writing to memory");
    }
    out
}

/// Receives what ingest produces. `rows` gets sorted frames of one role from one source.
pub trait Sink: Send {
    fn rows(&mut self, role: Role, source: usize, df: DataFrame) -> Result<(), IngestError>;
    fn reject(&mut self, reject: Reject) -> Result<(), IngestError>;
    /// Source `source` has given all its rows (a sink may close what it keeps open for it).
    fn end_source(&mut self, _source: usize) -> Result<(), IngestError> {
        Ok(())
    }
    /// All sources have given all their rows: the sink takes no more.
    fn finish(&mut self) -> Result<(), IngestError>;
}

/// Keeps everything in memory: one frame per role, and the rejects.
#[derive(Default)]
pub struct MemorySink {
    pub tables: Tables,
    pub rejects: Vec<Reject>,
    /// When set, only these columns are kept: memory for what a caller reads
    /// ([`MemorySink::keeping`]).
    keep: Option<Columns>,
    names: NameIds,
}

/// The columns of `role` a [`Columns`] list keeps, `ts`, `source` and `line` included; `None`
/// when it keeps them all.
pub fn kept_columns(keep: Option<Columns>, role: Role) -> Option<Vec<&'static str>> {
    let (_, cols) = keep?.iter().find(|(r, _)| *r == role)?;
    let names = [schema::TS].iter().chain(cols.iter()).chain(&[schema::SOURCE, schema::LINE]);
    Some(names.copied().collect())
}

/// Text columns with a few values over millions of rows (a file name, an outcome, a node
/// event, a node's name): held as categoricals when only some columns are kept, 4 bytes a
/// row instead of a 16-byte string view. Read them with [`schema::texts`].
/// (`user` and `client`, hundreds of thousands of names at scale, where a categorical costs
/// more to build than the text it replaces, become ids: [`MANY_VALUES`].)
const FEW_VALUES: [&str; 5] =
    [schema::SOURCE, schema::OUTCOME, schema::EVENT, schema::NODE, schema::REASON];

impl MemorySink {
    /// A sink that keeps only the columns `keep` lists (all of them with `None`).
    pub fn keeping(keep: Option<Columns>) -> MemorySink {
        MemorySink { keep, ..Default::default() }
    }
}

/// Text columns with a name per user or client, hundreds of thousands of them at scale: held
/// as ids of first sight when only some columns are kept ([`crate::ids::id_column`]).
const MANY_VALUES: [&str; 2] = [schema::USER, schema::CLIENT];

/// The interners of one load's `user` and `client` columns, so that an id stands for one name
/// in every frame of the load.
#[derive(Default)]
pub struct NameIds([crate::ids::Interner; MANY_VALUES.len()]);

/// `df` with only the columns of `role` that `keep` lists (all when it lists none for the
/// role); those kept for analysis hold their few-valued text columns as categoricals and
/// their user and client names as ids (`ids` gives them, over every frame of one load), or as
/// one null (a UInt32 scalar column) when the frame has no name at all.
pub fn keep_columns(
    df: DataFrame,
    keep: Option<Columns>,
    role: Role,
    ids: &mut NameIds,
) -> PolarsResult<DataFrame> {
    let Some(names) = kept_columns(keep, role) else { return Ok(df) };
    let mut df = df.select(names)?;
    // Line numbers in 4 bytes: a file of more than 4 billion lines keeps 8 (see `append`).
    let line = df.column(schema::LINE)?;
    let fits = |(lo, hi): (i64, i64)| lo >= 0 && hi <= i64::from(u32::MAX);
    if line.dtype() == &DataType::Int64 && line.i64()?.min_max().is_none_or(fits) {
        let narrow = line.cast(&DataType::UInt32)?;
        df.with_column(narrow)?;
    }
    for (name, intern) in MANY_VALUES.iter().zip(&mut ids.0) {
        let Ok(c) = df.column(name) else { continue };
        if c.dtype() == &DataType::String {
            let c = match c.null_count() == c.len() {
                // No names at all (W1's clients): one null for the frame, not an id per row
                // (which then took a per-row extend of the table, nulls being involved).
                true => Column::full_null(c.name().clone(), c.len(), &DataType::UInt32),
                false => crate::ids::id_column(c, intern)?,
            };
            df.with_column(c)?;
        }
    }
    let cat = DataType::from_categories(Categories::global());
    for name in FEW_VALUES {
        let Ok(c) = df.column(name) else { continue };
        // A frame comes from one source: its `source` is one value (a scalar column, which
        // `str()` would make a view per row), put in categories once.
        let one = match c {
            Column::Scalar(s) => s.scalar().dtype() == &DataType::String,
            _ => {
                let Ok(text) = c.str() else { continue };
                text.get(0).is_some_and(|v| text.null_count() == 0 && text.equal(v).all())
            }
        };
        let c = match one {
            true => c.head(Some(1)).cast(&cat)?.new_from_index(0, c.len()),
            false => few_values_categorical(c, &cat)?,
        };
        df.with_column(c)?;
    }
    Ok(df)
}

/// A small table of recently seen string views (their 16 bytes: a short text's bytes, a long
/// one's place) and a number for each (a dictionary key, a category), found by a hash of the
/// view's bits. For a column of few values, nearly every row's number is here: one compare
/// instead of a probe of a map or of Polars' categories.
struct RecentViews([(u128, u32); 64]);

impl Default for RecentViews {
    fn default() -> RecentViews {
        RecentViews([(0, 0); 64])
    }
}

impl RecentViews {
    fn slot(&mut self, v: u128) -> &mut (u128, u32) {
        const FIB: u64 = 0x9E37_79B9_7F4A_7C15;
        &mut self.0[((v as u64 ^ (v >> 64) as u64).wrapping_mul(FIB) >> 58) as usize]
    }

    /// The number last put for view `v`, if it is still held.
    #[inline(always)]
    fn get(&mut self, v: u128) -> Option<u32> {
        let &mut (view, n) = self.slot(v);
        // Numbers are held + 1: 0 is an empty slot.
        (n != 0 && view == v).then(|| n - 1)
    }

    #[inline(always)]
    fn put(&mut self, v: u128, n: u32) {
        *self.slot(v) = (v, n + 1);
    }
}

/// A text column of few values as the categorical `cat` (Polars' global categories) that
/// `c.cast(cat)` makes: each value's category from the categories' mapping, in order of first
/// sight, so the same numbers. The cast asks the mapping for every row (a hash and a compare
/// in its table, 5% of a W1 analysis load); here a row whose string view (its bytes, for a
/// text of up to 12) is in a 64-slot table of recent views takes that view's category.
fn few_values_categorical(c: &Column, cat: &DataType) -> PolarsResult<Column> {
    use polars_arrow::array::Array;
    let (Ok(text), DataType::Categorical(_, mapping)) = (c.str(), cat) else {
        return c.cast(cat);
    };
    if cat.cat_physical()? != CategoricalPhysical::U32 {
        return c.cast(cat);
    }
    let mut ids: Vec<u32> = Vec::with_capacity(c.len());
    let mut recent = RecentViews::default();
    for arr in text.downcast_iter() {
        for (i, view) in arr.views().iter().enumerate() {
            if arr.is_null(i) {
                ids.push(0);
                continue;
            }
            let v = view.as_u128();
            let id = match recent.get(v) {
                Some(id) => id,
                None => {
                    let id = mapping.insert_cat(arr.value(i))?;
                    recent.put(v, id);
                    id
                }
            };
            ids.push(id);
        }
    }
    let phys = UInt32Chunked::from_vec_validity(c.name().clone(), ids, c.rechunk_validity());
    // SAFETY: every id of a valid row is one `mapping` (the dtype's) gave for the row's text,
    // and the physical type is the dtype's (U32, checked above); null rows hold 0 and are
    // null in the validity.
    let ca = unsafe {
        CategoricalChunked::<Categorical32Type>::from_cats_and_dtype_unchecked(phys, cat.clone())
    };
    Ok(ca.into_series().into_column())
}

impl Sink for MemorySink {
    fn rows(&mut self, role: Role, _source: usize, df: DataFrame) -> Result<(), IngestError> {
        let df = keep_columns(df, self.keep, role, &mut self.names)?;
        append(&mut self.tables, role, df)?;
        Ok(())
    }
    fn reject(&mut self, reject: Reject) -> Result<(), IngestError> {
        self.rejects.push(reject);
        Ok(())
    }
    fn finish(&mut self) -> Result<(), IngestError> {
        crate::alloc::free_aside(std::mem::take(&mut self.names));
        for df in self.tables.values_mut() {
            *df = finish_table(std::mem::take(df), self.keep)?;
        }
        Ok(())
    }
}

/// Adds a frame to its role's table, the columns extended in place. A `line` held in 4 bytes
/// on one side and 8 on the other (a file past 4 billion lines) becomes 8 on both.
pub fn append(tables: &mut Tables, role: Role, mut df: DataFrame) -> PolarsResult<()> {
    let Some(t) = tables.get_mut(&role) else {
        tables.insert(role, df);
        return Ok(());
    };
    if let (Ok(a), Ok(b)) = (t.column(schema::LINE), df.column(schema::LINE))
        && a.dtype() != b.dtype()
    {
        let (a, b) = (a.cast(&DataType::Int64)?, b.cast(&DataType::Int64)?);
        t.with_column(a)?;
        df.with_column(b)?;
    }
    stack(t, df, true)
}

/// `df`'s rows after `t`'s: copied into `t`'s buffers (`copy`, for a table that grows by
/// many small frames) or as chunks of their own. A column of one value in both (a source's
/// `source`) stays one value; Polars' `extend` and `vstack` would make it a value per row (a
/// 16-byte view per row, a tenth of an analysis load's page faults).
pub fn stack(t: &mut DataFrame, df: DataFrame, copy: bool) -> PolarsResult<()> {
    if t.width() == 0 {
        *t = df;
        return Ok(());
    }
    polars_ensure!(
        t.width() == df.width(),
        ShapeMismatch: "a frame of {} columns cannot extend one of {}", df.width(), t.width()
    );
    let height = t.height() + df.height();
    let mut columns = std::mem::take(t).into_columns();
    for (a, b) in columns.iter_mut().zip(df.into_columns()) {
        polars_ensure!(
            a.name() == b.name() && a.dtype() == b.dtype(),
            SchemaMismatch: "{} ({}) cannot extend {} ({})", b.name(), b.dtype(), a.name(), a.dtype()
        );
        match (&*a, &b) {
            (Column::Scalar(x), Column::Scalar(y)) if x.scalar() == y.scalar() => {
                *a = x.resize(height).into()
            }
            _ if copy => {
                a.extend(&b)?;
            }
            _ => {
                a.append_owned(b)?;
            }
        }
    }
    *t = DataFrame::new(height, columns)?;
    Ok(())
}

/// A role's table once all its frames are in: in order, in one piece, and, when only some
/// columns are kept (for analysis), its `source` held as one value when one file gave every
/// row (4 bytes a row less; after loading, `source` is only read at the rows cited).
pub fn finish_table(df: DataFrame, keep: Option<Columns>) -> PolarsResult<DataFrame> {
    let mut df = in_order(df)?;
    df.rechunk_mut();
    schema::mark_ts_sorted(&mut df)?;
    if keep.is_some()
        && let Ok(c) = df.column(schema::SOURCE)
        && c.len() > 1
        && one_value(c)
    {
        let one = c.new_from_index(0, c.len());
        df.with_column(one)?;
    }
    Ok(df)
}

/// Whether a categorical column holds one value in every row (no nulls).
fn one_value(c: &Column) -> bool {
    match c {
        Column::Scalar(s) => !s.has_nulls(),
        _ => c.cat32().is_ok_and(|cats| {
            c.null_count() == 0 && cats.physical().min() == cats.physical().max()
        }),
    }
}

/// `df` in (`ts`, `source`, `line`) order. Most logs arrive in order, and Parquet from
/// `rootline ingest` is: sorting a copy of millions of rows would double the memory for
/// nothing, so it sorts only when they are not.
fn in_order(df: DataFrame) -> PolarsResult<DataFrame> {
    if is_sorted(&df)? {
        return Ok(df);
    }
    df.sort(
        [schema::TS, schema::SOURCE, schema::LINE],
        SortMultipleOptions::default().with_maintain_order(true),
    )
}

/// Whether rows are already in (`ts`, `source`, `line`) order.
fn is_sorted(df: &DataFrame) -> PolarsResult<bool> {
    let ts = df.column(schema::TS)?.datetime()?.physical();
    let line = schema::lines(df.column(schema::LINE)?)?;
    if one_value(df.column(schema::SOURCE)?) {
        // One source (the usual table): its names need not be read row by row, and without
        // nulls the pairs are compared in place (an iterator of options per column was most
        // of the check's time on 10M rows).
        let c = df.column(schema::LINE)?;
        if let (Ok(t), 0) = (ts.cont_slice(), c.null_count()) {
            match (c.u32().map(|l| l.cont_slice()), c.i64().map(|l| l.cont_slice())) {
                (Ok(Ok(l)), _) => return Ok(t.iter().zip(l).is_sorted()),
                (_, Ok(Ok(l))) => return Ok(t.iter().zip(l).is_sorted()),
                _ => {}
            }
        }
        let mut prev: Option<(Option<i64>, Option<i64>)> = None;
        for (t, l) in ts.iter().zip(line) {
            if prev.is_some_and(|p| (t, l) < p) {
                return Ok(false);
            }
            prev = Some((t, l));
        }
        return Ok(true);
    }
    let source = schema::texts(df.column(schema::SOURCE)?)?;
    let mut prev: Option<(i64, Option<&str>, Option<i64>)> = None;
    for ((t, s), l) in ts.iter().zip(source).zip(line) {
        let t = t.unwrap_or(i64::MIN);
        if let Some((pt, ps, pl)) = prev
            && (t < pt || (t == pt && (s < ps || (s == ps && l < pl))))
        {
            return Ok(false);
        }
        prev = Some((t, s, l));
    }
    Ok(true)
}

struct Part {
    path: PathBuf,
    writer: BatchedWriter<BufWriter<File>>,
    /// The Parquet columns and encodings of the role's schema, as the writer has them.
    fields: Vec<pq::ParquetType>,
    encodings: Vec<Vec<pq::Encoding>>,
    last_ts: i64,
    sorted: bool,
    last_used: u64,
}

/// A part whose writer is closed, and whether its rows came in time order.
struct Closed {
    path: PathBuf,
    sorted: bool,
}

/// Parquet writers kept open at once. A source spanning many days, or many sources, never
/// hold more file handles than this: the least recently used part is closed, and rows of its
/// (role, day, source) that come later go to a new part beside it.
const MAX_OPEN_PARTS: usize = 64;

/// Streams rows to partitioned Parquet and rejects to `rejects.jsonl`.
pub struct ParquetSink {
    dir: PathBuf,
    parts: BTreeMap<(Role, i64, usize), Part>,
    /// Parts made so far per (role, day, source): the next one's number.
    made: BTreeMap<(Role, i64, usize), usize>,
    closed: Vec<Closed>,
    tick: u64,
    rejects: BufWriter<File>,
    rejects_path: PathBuf,
    /// Put before a part's number: a shard's name and `-`, or nothing.
    prefix: String,
    /// Every Parquet file written, relative to the output directory, sorted.
    pub files: Vec<PathBuf>,
}

const DAY_MS: i64 = 86_400_000;

/// How every part is written. Snappy: read by every engine, and several times faster to write
/// than zstd. Buffered: the writer emits each page header and page as its own small write
/// (about 10000 a block); the footer's flush writes out the rest.
fn parquet_writer(file: File) -> ParquetWriter<BufWriter<File>> {
    ParquetWriter::new(BufWriter::with_capacity(1 << 20, file)).with_compression(COMPRESSION)
}

const COMPRESSION: ParquetCompression = ParquetCompression::Snappy;

/// The options [`parquet_writer`] gives its pages (Polars' defaults and [`COMPRESSION`]),
/// for the pages [`write_parallel`] makes.
fn page_options() -> pq::WriteOptions {
    pq::WriteOptions {
        statistics: pq::StatisticsOptions::default(),
        version: pq::Version::V1,
        compression: COMPRESSION.into(),
        data_page_size: None,
    }
}

/// How a column is written.
enum Encode {
    /// As this dictionary of its values ([`Dictionary::pages`]).
    Dictionary(Dictionary),
    /// Without a dictionary.
    Plain,
    /// As the differences of neighbours, bit-packed (`DELTA_BINARY_PACKED`).
    Delta,
    /// As Polars' writer chooses.
    AsPolars,
}

/// The distinct values a text column's exact count reaches before [`column_encoding`] asks
/// Polars' estimate whether a dictionary is worth it.
const EXACT_UNTIL: usize = 4096;

/// How a column is encoded. The 64-bit integer columns (`ts` and `line`: times in order and
/// consecutive line numbers) as deltas: a few bits a row instead of 8 bytes, so that there is
/// next to nothing left to compress (Polars' writer estimates their distinct values, finds
/// too many for a dictionary and writes 8 bytes a row that Snappy then works through). Float
/// columns of whole numbers near each other as a dictionary ([`whole_number_dictionary`]).
///
/// Text columns choose their encoding as Polars' writer would, faster: it estimates the
/// distinct values (a hash of every value), writes the column plain when they are over 3/4
/// of its rows, else builds a dictionary (a hash of every value again). Here one pass over
/// the valid rows (a null row is skipped with its validity's word) counts them exactly,
/// hashing the 16 bytes of each value's view for short texts (nearly all: outcomes, hosts,
/// reasons) and the text for the rest; a long constant (a file's path in `source`) is one
/// view repeated. Where the count is near 3/4 (0.65-0.85), within the reach of the estimate's
/// error, Polars decides. The dictionary's values come in order of first sight, as Polars'
/// own.
///
/// Past [`EXACT_UNTIL`] distinct values the pass asks Polars' own estimate once, which then
/// decides as it decides in Polars' writer: a column of user names, nearly all distinct, is
/// written plain after a few thousand values counted instead of after 85% of its rows went
/// through a map that outgrows the cache (8% of a W1 CSV ingest's CPU); one whose names
/// repeat across the chunk (the simulator's users) is counted on into its dictionary.
fn column_encoding(array: &dyn polars_arrow::array::Array) -> Encode {
    use polars_arrow::array::{Array, PrimitiveArray, Utf8ViewArray};
    use polars_arrow::datatypes::PhysicalType;
    if array.dtype().to_physical_type()
        == PhysicalType::Primitive(polars_arrow::types::PrimitiveType::Int64)
    {
        return Encode::Delta;
    }
    if let Some(a) = array.as_any().downcast_ref::<PrimitiveArray<f64>>() {
        return whole_number_dictionary(a).map_or(Encode::AsPolars, Encode::Dictionary);
    }
    let Some(a) = array.as_any().downcast_ref::<Utf8ViewArray>() else {
        return Encode::AsPolars;
    };
    if a.len() <= 128 {
        return Encode::AsPolars;
    }
    match a.validity().filter(|v| v.unset_bits() > 0) {
        Some(valid) => text_dictionary(a, valid.true_idx_iter()),
        None => text_dictionary(a, 0..a.len()),
    }
}

/// [`column_encoding`] of a text column, over its valid rows `rows` (in order).
fn text_dictionary(
    a: &polars_arrow::array::Utf8ViewArray,
    rows: impl Iterator<Item = usize>,
) -> Encode {
    use polars_arrow::array::Array;
    let n = a.len();
    let mut by_view: foldhash::HashMap<u128, u32> = Default::default();
    let mut by_text: foldhash::HashMap<&str, u32> = Default::default();
    let mut values: Vec<&str> = Vec::new();
    let mut keys: Vec<u32> = Vec::with_capacity(n - a.null_count());
    let most = n * 85 / 100;
    let mut estimated = false;
    let mut recent = RecentViews::default();
    let views = a.views();
    for i in rows {
        let view = views[i];
        // A few-valued column (hosts, outcomes, reasons, a file's path) finds nearly every
        // row's key in a small table of recent views, one compare instead of a map's probe.
        let v = view.as_u128();
        if let Some(key) = recent.get(v) {
            keys.push(key);
            continue;
        }
        // A short text is all in its view; a long one may sit in other views too.
        let key = match by_view.get(&v) {
            Some(&k) => k,
            None => {
                let text: &str = a.value(i);
                let seen = if view.is_inline() { None } else { by_text.get(text).copied() };
                let k = seen.unwrap_or_else(|| {
                    values.push(text);
                    let k = values.len() as u32 - 1;
                    if !view.is_inline() {
                        by_text.insert(text, k);
                    }
                    k
                });
                by_view.insert(v, k);
                k
            }
        };
        recent.put(v, key);
        keys.push(key);
        if estimated {
            continue;
        }
        if values.len() > most {
            return Encode::Plain;
        }
        if values.len() > EXACT_UNTIL {
            if polars_compute::cardinality::estimate_cardinality(a) as f64 / n as f64 > 0.75 {
                return Encode::Plain;
            }
            estimated = true;
        }
    }
    if !estimated && values.len() * 100 >= n * 65 {
        return Encode::AsPolars;
    }
    Encode::Dictionary(Dictionary::of_texts(keys, &values))
}

/// A number column whose values are whole and within 65,536 of each other (latencies in
/// milliseconds, counts, status codes) as a dictionary of its distinct values in ascending
/// order, built as Polars' writer builds one for an integer column (a bitmap of the values
/// seen between the least and the greatest). Polars' writer writes every float column plain:
/// 8 bytes a row, which Snappy then works through (W1's `latency_ms`: 830 KB a part, 290 KB
/// compressed). `None` when a value is not such a number (a fraction, -0.0, NaN, infinite),
/// or when a dictionary does not pay (Polars' rule: over 3/4 of the rows distinct), or for
/// short columns.
fn whole_number_dictionary(a: &polars_arrow::array::PrimitiveArray<f64>) -> Option<Dictionary> {
    const SPAN: i64 = 1 << 16;
    let n = a.len();
    if n <= 128 {
        return None;
    }
    let whole = |v: f64| (v as i64) as f64 == v && v.to_bits() != (-0.0f64).to_bits();
    let valid = |i: usize| a.validity().is_none_or(|m| m.get_bit(i));
    let (mut min, mut max) = (i64::MAX, i64::MIN);
    for (i, &v) in a.values().iter().enumerate() {
        if valid(i) {
            if !whole(v) {
                return None;
            }
            min = min.min(v as i64);
            max = max.max(v as i64);
        }
    }
    if min > max || max - min >= SPAN {
        return None;
    }
    // Per value in the span, its key + 1 (0: not seen), then keys in ascending order.
    let mut key = vec![0u32; (max - min + 1) as usize];
    for (i, &v) in a.values().iter().enumerate() {
        if valid(i) {
            key[(v as i64 - min) as usize] = 1;
        }
    }
    let mut values = Vec::new();
    for (offset, k) in key.iter_mut().enumerate() {
        if *k != 0 {
            values.push((min + offset as i64) as f64);
            *k = values.len() as u32;
        }
    }
    if values.len() * 4 >= n * 3 {
        return None;
    }
    let keys: Vec<u32> = a
        .values()
        .iter()
        .enumerate()
        .filter(|&(i, _)| valid(i))
        .map(|(_, &v)| key[(v as i64 - min) as usize] - 1)
        .collect();
    Some(Dictionary::of_ascending_numbers(keys, &values))
}

/// Appends `df` to a part as Polars' `write_batch` does (a row group per chunk), but with
/// every column of every chunk encoded and compressed at once on rayon's threads: the writer
/// compresses page by page on the calling thread, and that one thread was the slowest stage
/// of an ingest (the parsing threads waited for it at each block).
fn write_parallel(part: &mut Part, df: &DataFrame) -> PolarsResult<()> {
    let options = page_options();
    let batches: Vec<_> = df.iter_chunks(CompatLevel::newest(), false).collect();
    let jobs: Vec<(usize, usize)> =
        (0..batches.len()).flat_map(|b| (0..part.fields.len()).map(move |c| (b, c))).collect();
    let encoded = jobs
        .par_iter()
        .map(|&(b, c)| -> PolarsResult<Vec<Vec<pq::CompressedPage>>> {
            let array = &batches[b].columns()[c];
            let encodings: &[pq::Encoding] = match column_encoding(array.as_ref()) {
                Encode::Dictionary(d) => match &part.fields[c] {
                    pq::ParquetType::PrimitiveType(t) => {
                        let pages = d.pages(array.validity(), array.len(), t, options);
                        return Ok(vec![compress(pages.into_iter().map(Ok), options)?]);
                    }
                    pq::ParquetType::GroupType { .. } => &part.encodings[c],
                },
                Encode::Plain => &[pq::Encoding::Plain],
                Encode::Delta => &[pq::Encoding::DeltaBinaryPacked],
                Encode::AsPolars => &part.encodings[c],
            };
            let leaves = pq::array_to_columns(array, part.fields[c].clone(), options, encodings)?;
            leaves.into_iter().map(|pages| compress(pages, options)).collect()
        })
        .collect::<PolarsResult<Vec<_>>>()?;
    let mut encoded = encoded.into_iter();
    for batch in &batches {
        let columns: Vec<Vec<pq::CompressedPage>> =
            encoded.by_ref().take(part.fields.len()).flatten().collect();
        if !batch.is_empty() {
            part.writer.write_row_group(batch.len() as u64, &columns)?;
        }
    }
    Ok(())
}

/// One column chunk's pages, compressed.
fn compress(
    pages: impl Iterator<Item = PolarsResult<pq::Page>>,
    options: pq::WriteOptions,
) -> PolarsResult<Vec<pq::CompressedPage>> {
    let pages = pages.map(|p| {
        p.map_err(|e| {
            polars_parquet::parquet::error::ParquetError::FeatureNotSupported(e.to_string())
        })
    });
    pq::Compressor::new(pages, options.compression, Vec::new())
        .map(|p| p.map_err(PolarsError::from))
        .collect()
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> IngestError + '_ {
    move |source| IngestError::Write { path: path.to_path_buf(), source }
}

impl ParquetSink {
    /// Writes into `dir` (created if missing), which must not hold role tables already: this
    /// sink never removes anything (see [`super::output`] for replacing an earlier run's).
    pub fn create(dir: &Path) -> Result<ParquetSink, IngestError> {
        Self::create_shard(dir, None)
    }

    /// [`ParquetSink::create`] for one shard of a tree (see [`super::output`]): its parts are
    /// `part-<shard>-<n>.parquet` and its rejects `shards/<shard>/rejects.jsonl`.
    pub fn create_shard(dir: &Path, shard: Option<&str>) -> Result<ParquetSink, IngestError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        for role in Role::ALL {
            let p = dir.join(role.as_str());
            if p.exists() {
                return Err(IngestError::Source {
                    path: p,
                    message: "is already there; tables are written into a new directory".into(),
                });
            }
        }
        let own = match shard {
            Some(name) => dir.join(super::output::SHARDS).join(name),
            None => dir.to_path_buf(),
        };
        fs::create_dir_all(&own).map_err(io_err(&own))?;
        let rejects_path = own.join(super::output::REJECTS);
        let file = File::create(&rejects_path).map_err(io_err(&rejects_path))?;
        Ok(ParquetSink {
            dir: dir.to_path_buf(),
            parts: BTreeMap::new(),
            made: BTreeMap::new(),
            closed: Vec::new(),
            tick: 0,
            rejects: BufWriter::new(file),
            rejects_path,
            prefix: shard.map_or(String::new(), |s| format!("{s}-")),
            files: Vec::new(),
        })
    }

    fn part(&mut self, role: Role, day: i64, source: usize) -> Result<&mut Part, IngestError> {
        let key = (role, day, source);
        self.tick += 1;
        if !self.parts.contains_key(&key) {
            if self.parts.len() >= MAX_OPEN_PARTS {
                let oldest = self
                    .parts
                    .iter()
                    .min_by_key(|(_, p)| p.last_used)
                    .map(|(k, _)| *k)
                    .expect("parts is full");
                self.close(oldest)?;
            }
            let date = chrono::DateTime::from_timestamp_millis(day * DAY_MS)
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_else(|| format!("day{day}"));
            let n = self.made.entry(key).or_insert(0);
            let p = &self.prefix;
            let name = match *n {
                0 => format!("part-{p}{source}.parquet"),
                k => format!("part-{p}{source}-{k}.parquet"),
            };
            *n += 1;
            let rel = PathBuf::from(role.as_str()).join(format!("date={date}")).join(name);
            let path = self.dir.join(&rel);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(io_err(parent))?;
            }
            let file = File::create(&path).map_err(io_err(&path))?;
            let schema = role.schema();
            let mut writer = parquet_writer(file).batched(&schema)?;
            let fields = writer.parquet_schema().fields().to_vec();
            let encodings = get_encodings(&schema.to_arrow(CompatLevel::newest())).to_vec();
            self.files.push(rel);
            self.parts.insert(
                key,
                Part {
                    path,
                    writer,
                    fields,
                    encodings,
                    last_ts: i64::MIN,
                    sorted: true,
                    last_used: self.tick,
                },
            );
        }
        let part = self.parts.get_mut(&key).expect("inserted above");
        part.last_used = self.tick;
        Ok(part)
    }

    /// Finishes one part's file (its footer) and closes it.
    fn close(&mut self, key: (Role, i64, usize)) -> Result<(), IngestError> {
        if let Some(part) = self.parts.remove(&key) {
            part.writer.finish()?;
            self.closed.push(Closed { path: part.path, sorted: part.sorted });
        }
        Ok(())
    }
}

/// `df` with each column of one value ([`stack`] keeps them so) made a value per row in the
/// chunks the other columns have: a row group is written per chunk.
fn chunked_alike(df: DataFrame) -> PolarsResult<DataFrame> {
    let lengths: Vec<usize> = match df.columns().iter().find_map(Column::as_series) {
        Some(s) => s.chunk_lengths().collect(),
        None => return Ok(df),
    };
    if lengths.len() < 2 || !df.columns().iter().any(|c| matches!(c, Column::Scalar(_))) {
        return Ok(df);
    }
    let height = df.height();
    let columns = df.into_columns().into_iter().map(|c| match c {
        Column::Scalar(one) => {
            let mut chunks = lengths.iter().map(|&n| one.resize(n).take_materialized_series());
            let mut s = chunks.next().expect("two lengths or more");
            for chunk in chunks {
                s.append_owned(chunk)?;
            }
            Ok(s.into_column())
        }
        c => Ok(c),
    });
    DataFrame::new(height, columns.collect::<PolarsResult<_>>()?)
}

impl Sink for ParquetSink {
    fn rows(&mut self, role: Role, source: usize, df: DataFrame) -> Result<(), IngestError> {
        let df = chunked_alike(df)?;
        let ts = df.column(schema::TS)?.datetime()?.physical().clone();
        let values: Vec<i64> = ts.into_no_null_iter().collect();
        let mut start = 0;
        while start < values.len() {
            let day = values[start].div_euclid(DAY_MS);
            let mut end = start;
            while end < values.len() && values[end].div_euclid(DAY_MS) == day {
                end += 1;
            }
            let slice = df.slice(start as i64, end - start);
            let part = self.part(role, day, source)?;
            if values[start] < part.last_ts {
                part.sorted = false;
            }
            part.last_ts = part.last_ts.max(values[end - 1]);
            write_parallel(part, &slice)?;
            start = end;
        }
        Ok(())
    }

    fn reject(&mut self, reject: Reject) -> Result<(), IngestError> {
        write_reject(&mut self.rejects, &reject).map_err(io_err(&self.rejects_path))
    }

    fn end_source(&mut self, source: usize) -> Result<(), IngestError> {
        let done: Vec<_> = self.parts.keys().filter(|k| k.2 == source).copied().collect();
        for key in done {
            self.close(key)?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), IngestError> {
        self.rejects.flush().map_err(io_err(&self.rejects_path))?;
        let open: Vec<_> = self.parts.keys().copied().collect();
        for key in open {
            self.close(key)?;
        }
        for part in std::mem::take(&mut self.closed) {
            if !part.sorted {
                // Lines arrived out of order across blocks: rewrite this part in ts order.
                let file = File::open(&part.path)
                    .map_err(|source| IngestError::Read { path: part.path.clone(), source })?;
                let df = ParquetReader::new(file).finish()?;
                let mut df = df.sort(
                    [schema::TS, schema::LINE],
                    SortMultipleOptions::default().with_maintain_order(true),
                )?;
                let file = File::create(&part.path).map_err(io_err(&part.path))?;
                parquet_writer(file).finish(&mut df)?;
            }
        }
        self.files.sort();
        Ok(())
    }
}

/// Wraps a sink and counts login attempts and failures per minute as rows stream by, so a
/// first look at demand needs no second pass over the tables.
pub struct PerMinute<'s> {
    pub inner: &'s mut dyn Sink,
    /// Minute (ms since the epoch, floored) -> (attempts, failures).
    pub counts: BTreeMap<i64, (u64, u64)>,
}

impl<'s> PerMinute<'s> {
    pub fn new(inner: &'s mut dyn Sink) -> Self {
        PerMinute { inner, counts: BTreeMap::new() }
    }

    fn count(&mut self, df: &DataFrame) -> Result<(), IngestError> {
        let ts = df.column(schema::TS)?.datetime()?.physical().clone();
        let outcome = df.column("outcome")?.str()?.clone();
        // Rows come sorted by time: count runs of one minute, then touch the map once per run.
        let mut run: Option<(i64, u64, u64)> = None;
        for (t, o) in ts.iter().zip(outcome.iter()) {
            let Some(t) = t else { continue };
            let minute = t.div_euclid(60_000) * 60_000;
            let fail = u64::from(o == Some("fail"));
            match &mut run {
                Some((m, a, f)) if *m == minute => {
                    *a += 1;
                    *f += fail;
                }
                _ => {
                    self.flush_run(run.take());
                    run = Some((minute, 1, fail));
                }
            }
        }
        self.flush_run(run);
        Ok(())
    }

    fn flush_run(&mut self, run: Option<(i64, u64, u64)>) {
        if let Some((m, a, f)) = run {
            let e = self.counts.entry(m).or_insert((0, 0));
            e.0 += a;
            e.1 += f;
        }
    }

    /// `minute,attempts,failures` CSV, one line per minute from the first to the last, empty
    /// minutes as zeros.
    pub fn to_csv(&self) -> String {
        let mut s = String::from("minute,attempts,failures\n");
        if let (Some((&first, _)), Some((&last, _))) =
            (self.counts.first_key_value(), self.counts.last_key_value())
        {
            let mut m = first;
            while m <= last {
                let (a, f) = self.counts.get(&m).copied().unwrap_or((0, 0));
                let when = chrono::DateTime::from_timestamp_millis(m)
                    .map(|d| d.format("%Y-%m-%dT%H:%MZ").to_string())
                    .unwrap_or_default();
                s += &format!("{when},{a},{f}\n");
                m += 60_000;
            }
        }
        s
    }
}

impl Sink for PerMinute<'_> {
    fn rows(&mut self, role: Role, source: usize, df: DataFrame) -> Result<(), IngestError> {
        if role == Role::Login {
            self.count(&df)?;
        }
        self.inner.rows(role, source, df)
    }
    fn reject(&mut self, reject: Reject) -> Result<(), IngestError> {
        self.inner.reject(reject)
    }
    fn end_source(&mut self, source: usize) -> Result<(), IngestError> {
        self.inner.end_source(source)
    }
    fn finish(&mut self) -> Result<(), IngestError> {
        self.inner.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::{Column, IntoColumn, NamedFrom, Series};

    fn frame(ts: &[i64], source: &[&str], line: &[i64]) -> DataFrame {
        let cols: Vec<Column> = vec![
            Series::new(schema::TS.into(), ts).cast(&schema::ts_dtype()).unwrap().into_column(),
            Series::new(schema::SOURCE.into(), source).into_column(),
            Series::new(schema::LINE.into(), line).into_column(),
        ];
        DataFrame::new(ts.len(), cols).unwrap()
    }

    /// A frame whose `source` is one value, as a parsed piece's is.
    fn piece(ts: &[i64], source: &str) -> DataFrame {
        let mut df = frame(ts, &vec![source; ts.len()], ts);
        let one = Column::new_scalar(
            schema::SOURCE.into(),
            Scalar::new(DataType::String, AnyValue::StringOwned(source.into())),
            ts.len(),
        );
        df.with_column(one).unwrap();
        df
    }

    /// Stacking keeps a column of one value in both as one value, makes it a value per row
    /// when the values differ, and gives the rows `vstack` gives, by chunks or copied. The
    /// Parquet sink gets back a value per row in the other columns' chunks.
    #[test]
    fn stacked_frames_keep_one_value_columns() {
        let want = |parts: &[(&[i64], &str)]| {
            let mut all = DataFrame::empty();
            for (ts, src) in parts {
                all.vstack_mut_owned(piece(ts, src)).unwrap();
            }
            all
        };
        for copy in [false, true] {
            let mut t = piece(&[1, 2], "a.log");
            stack(&mut t, piece(&[3], "a.log"), copy).unwrap();
            stack(&mut t, piece(&[4, 5], "a.log"), copy).unwrap();
            assert!(matches!(t.column(schema::SOURCE).unwrap(), Column::Scalar(_)), "copy {copy}");
            let parts: [(&[i64], &str); 3] =
                [(&[1, 2], "a.log"), (&[3], "a.log"), (&[4, 5], "a.log")];
            assert!(t.equals_missing(&want(&parts)), "copy {copy}");
            let n = if copy { 1 } else { 3 };
            assert_eq!(t.column(schema::TS).unwrap().n_chunks(), n, "copy {copy}");
            let alike = chunked_alike(t.clone()).unwrap();
            let lengths =
                |c: &Column| c.as_materialized_series().chunk_lengths().collect::<Vec<_>>();
            assert_eq!(
                lengths(alike.column(schema::SOURCE).unwrap()),
                lengths(alike.column(schema::TS).unwrap())
            );
            assert!(alike.equals_missing(&t));
            // Another source's rows: a value per row.
            stack(&mut t, piece(&[6], "b.log"), copy).unwrap();
            assert!(!matches!(t.column(schema::SOURCE).unwrap(), Column::Scalar(_)));
            let mut parts = parts.to_vec();
            parts.push((&[6], "b.log"));
            assert!(t.equals_missing(&want(&parts)));
        }
        let mut t = piece(&[1], "a.log");
        let wrong = frame(&[2], &["a.log"], &[2]).select([schema::TS, schema::LINE]).unwrap();
        assert!(stack(&mut t, wrong, true).is_err(), "a frame of other columns");
    }

    /// A login frame of `n` rows: few outcomes, hosts and long reasons, with nulls; distinct
    /// users; no clients; one source.
    fn logins(n: usize, from: usize) -> DataFrame {
        let pick = |i: usize, k: usize| (i * 7919 + from) % k;
        let rows = from..from + n;
        let outcome: Vec<Option<&str>> =
            rows.clone().map(|i| [Some("ok"), Some("fail"), None][pick(i, 3)]).collect();
        let user: Vec<String> = rows.clone().map(|i| format!("u{i:07}")).collect();
        let host: Vec<String> = rows.clone().map(|i| format!("login-{}", pick(i, 20))).collect();
        let client: Vec<Option<&str>> = vec![None; n];
        let reason: Vec<Option<String>> = rows
            .clone()
            .map(|i| {
                (pick(i, 4) != 0).then(|| format!("a reason longer than twelve {}", pick(i, 5)))
            })
            .collect();
        let latency: Vec<Option<f64>> =
            rows.clone().map(|i| (pick(i, 9) != 0).then_some((i % 300) as f64)).collect();
        let ts: Vec<i64> = rows.clone().map(|i| 1_187_000_000_000 + i as i64 * 100).collect();
        let line: Vec<i64> = rows.map(|i| i as i64 + 1).collect();
        let cols: Vec<Column> = vec![
            Series::new(schema::TS.into(), ts).cast(&schema::ts_dtype()).unwrap().into_column(),
            Series::new("outcome".into(), outcome).into_column(),
            Series::new("user".into(), user).into_column(),
            Series::new("host".into(), host).into_column(),
            Series::new("client".into(), client).cast(&DataType::String).unwrap().into_column(),
            Series::new("reason".into(), reason).into_column(),
            Series::new("latency_ms".into(), latency).into_column(),
            Column::new_scalar(
                schema::SOURCE.into(),
                Scalar::new(
                    DataType::String,
                    AnyValue::StringOwned("/var/log/a/long/path.log".into()),
                ),
                n,
            ),
            Series::new(schema::LINE.into(), line).into_column(),
        ];
        DataFrame::new(n, cols).unwrap()
    }

    /// The parallel writer, its own dictionaries and its deltas give a file that reads back as
    /// the one Polars' writer gives: the same frame, one row group per chunk; smaller, as `ts`
    /// and `line` are deltas.
    #[test]
    fn parts_read_back_as_what_polars_writes() {
        // Stacked as ingest stacks a block's pieces: chunks, and `source` one value.
        let mut df = logins(3000, 0);
        stack(&mut df, logins(200, 3000), false).unwrap();
        stack(&mut df, logins(100, 3200), false).unwrap();
        // A chunk of more rows than a page holds (a dictionary's second page starts within a
        // byte of its validity).
        stack(&mut df, logins(210_000, 3300), false).unwrap();
        assert!(matches!(df.column(schema::SOURCE).unwrap(), Column::Scalar(_)));
        assert_eq!(df.schema().as_ref(), &Role::Login.schema());
        let dir = std::env::temp_dir().join(format!("rootline-sink-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut sink = ParquetSink::create(&dir).unwrap();
        sink.rows(Role::Login, 0, df.clone()).unwrap();
        sink.finish().unwrap();
        assert_eq!(sink.files.len(), 1, "one day");
        let ours = fs::read(dir.join(&sink.files[0])).unwrap();
        let path = dir.join("polars.parquet");
        let mut w =
            parquet_writer(File::create(&path).unwrap()).batched(&Role::Login.schema()).unwrap();
        w.write_batch(&chunked_alike(df.clone()).unwrap()).unwrap();
        w.finish().unwrap();
        let theirs = fs::read(&path).unwrap();
        let read = |bytes: Vec<u8>| {
            let mut r = ParquetReader::new(std::io::Cursor::new(bytes));
            let groups = r.num_rows().unwrap();
            let meta = r.get_metadata().unwrap().clone();
            (r.finish().unwrap(), groups, meta)
        };
        let (our_df, our_rows, our_meta) = read(ours.clone());
        let (their_df, their_rows, their_meta) = read(theirs.clone());
        fs::remove_dir_all(&dir).unwrap();
        assert!(our_df.equals_missing(&their_df));
        assert!(our_df.equals_missing(&df));
        assert_eq!(our_rows, their_rows);
        assert_eq!(our_meta.row_groups.len(), 4, "a row group per chunk");
        assert_eq!(our_meta.row_groups.len(), their_meta.row_groups.len());
        // Each column chunk states Polars' least and greatest values, and its nulls. (Polars'
        // own dictionary pages each state the nulls of the whole chunk, so that a chunk of two
        // pages states twice as many.)
        let mut offset = 0;
        for (ours, theirs) in our_meta.row_groups.iter().zip(&their_meta.row_groups) {
            let chunk = df.slice(offset, ours.num_rows());
            offset += ours.num_rows() as i64;
            let columns = ours.parquet_columns().iter().zip(theirs.parquet_columns());
            for (a, b) in columns {
                let name = a.descriptor().path_in_schema[0].clone();
                let stats = |c: &polars_parquet::parquet::metadata::ColumnChunkMetadata,
                             footer: &[u8]| {
                    c.statistics(footer).expect("statistics").unwrap().serialize()
                };
                let (a, b) = (stats(a, &our_meta.footer_buf), stats(b, &their_meta.footer_buf));
                assert_eq!((&a.min_value, &a.max_value), (&b.min_value, &b.max_value), "{name}");
                let nulls = chunk.column(&name).unwrap().null_count() as i64;
                assert_eq!(a.null_count, Some(nulls), "{name}");
            }
        }
        assert!(ours.len() < theirs.len(), "{} bytes against Polars' {}", ours.len(), theirs.len());
    }

    #[test]
    fn text_columns_get_the_encoding_polars_would_choose() {
        use polars_arrow::array::Utf8ViewArray;
        let texts = |v: Vec<Option<String>>| Utf8ViewArray::from_slice(&v);
        // Few values, short and long, with nulls: a dictionary in order of first sight.
        let few: Vec<Option<String>> = (0..1000)
            .map(|i| match i % 4 {
                0 => None,
                1 => Some("ok".to_string()),
                2 => Some(format!("a long text, {} and more", i % 3)),
                _ => Some("fail".to_string()),
            })
            .collect();
        // The dictionary's values (PLAIN: a 4-byte length, then the text) and each row's.
        type Decoded<'a> = (Vec<&'a str>, Vec<Option<(u32, &'a str)>>);
        fn decode<'a>(d: &'a Dictionary, rows: &[Option<String>]) -> Decoded<'a> {
            let (mut values, mut at) = (Vec::new(), 0);
            while at < d.plain.len() {
                let len = u32::from_le_bytes(d.plain[at..at + 4].try_into().unwrap()) as usize;
                values.push(std::str::from_utf8(&d.plain[at + 4..at + 4 + len]).unwrap());
                at += 4 + len;
            }
            assert_eq!(values.len(), d.len);
            assert_eq!(d.min.as_deref(), values.iter().min().map(|v| v.as_bytes()));
            assert_eq!(d.max.as_deref(), values.iter().max().map(|v| v.as_bytes()));
            let mut keys = d.keys.iter();
            let got: Vec<Option<(u32, &str)>> = rows
                .iter()
                .map(|r| r.as_ref().map(|_| keys.next().unwrap()).map(|&k| (k, values[k as usize])))
                .collect();
            assert!(keys.next().is_none(), "a key per valid row");
            (values, got)
        }
        let Encode::Dictionary(d) = column_encoding(&texts(few.clone())) else { panic!("few") };
        let (seen, got) = decode(&d, &few);
        assert_eq!(seen[..3], ["ok", "a long text, 2 and more", "fail"]);
        assert_eq!(seen.len(), 5);
        for (i, want) in few.iter().enumerate() {
            assert_eq!(got[i].map(|g| g.1), want.as_deref(), "row {i}");
        }
        // Mostly distinct: plain; near the line the estimate draws, and short columns: Polars'.
        let distinct: Vec<Option<String>> = (0..1000).map(|i| Some(format!("u{i}"))).collect();
        assert!(matches!(column_encoding(&texts(distinct)), Encode::Plain));
        let near: Vec<Option<String>> = (0..1000).map(|i| Some(format!("u{}", i % 750))).collect();
        assert!(matches!(column_encoding(&texts(near)), Encode::AsPolars));
        let short: Vec<Option<String>> = (0..100).map(|_| Some("ok".into())).collect();
        assert!(matches!(column_encoding(&texts(short)), Encode::AsPolars));
        // Past the exact count's reach, Polars' estimate decides: names that each come twice
        // (the second time after all the others) make a dictionary, distinct ones are plain.
        let twice: Vec<Option<String>> =
            (0..20_000).map(|i| Some(format!("u{}", i % 10_000))).collect();
        let Encode::Dictionary(d) = column_encoding(&texts(twice.clone())) else { panic!("twice") };
        let (values, got) = decode(&d, &twice);
        assert_eq!(values.len(), 10_000);
        for (i, want) in twice.iter().enumerate() {
            let (key, value) = got[i].unwrap();
            assert_eq!((key as usize, Some(value)), (i % 10_000, want.as_deref()), "row {i}");
        }
        let once: Vec<Option<String>> = (0..20_000).map(|i| Some(format!("u{i}"))).collect();
        assert!(matches!(column_encoding(&texts(once)), Encode::Plain));
        // Times and line numbers (64-bit integers) as deltas; other numbers as Polars would.
        use polars_arrow::array::PrimitiveArray;
        use polars_arrow::datatypes::{ArrowDataType, TimeUnit};
        let lines = PrimitiveArray::<i64>::from_vec((1..1000).collect());
        assert!(matches!(column_encoding(&lines), Encode::Delta));
        let ts = lines.to(ArrowDataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())));
        assert!(matches!(column_encoding(&ts), Encode::Delta));
        let floats = PrimitiveArray::<f64>::from_vec(vec![1.5; 1000]);
        assert!(matches!(column_encoding(&floats), Encode::AsPolars));
        // Whole numbers near each other (latencies), with nulls: a dictionary of the values
        // in ascending order, each row's key giving its value back.
        let latencies: Vec<Option<f64>> = (0..1000)
            .map(|i| (i % 7 != 0).then_some(((i * 31) % 97) as f64 * 5.0 - 40.0))
            .collect();
        let a = PrimitiveArray::<f64>::from(latencies.clone());
        let Encode::Dictionary(d) = column_encoding(&a) else { panic!("latencies") };
        let values: Vec<f64> =
            d.plain.chunks(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect();
        assert_eq!((values.len(), d.len), (97, 97));
        assert!(values.windows(2).all(|w| w[0] < w[1]), "ascending");
        assert_eq!(d.min, Some(values[0].to_le_bytes().to_vec()));
        assert_eq!(d.max, Some(values[96].to_le_bytes().to_vec()));
        let mut keys = d.keys.iter();
        for (i, want) in latencies.iter().enumerate() {
            let got = want.map(|_| values[*keys.next().unwrap() as usize]);
            assert_eq!(got, *want, "row {i}");
        }
        assert!(keys.next().is_none(), "a key per valid row");
        // Not whole, not near, mostly distinct, or a -0.0 (a dictionary would lose its sign):
        // Polars' way (plain).
        let cases: [Vec<f64>; 4] = [
            (0..1000).map(|i| (i % 10) as f64 + 0.25).collect(),
            (0..1000).map(|i| (i % 10) as f64 * 100_000.0).collect(),
            (0..1000).map(|i| i as f64).collect(),
            (0..1000).map(|i| if i == 500 { -0.0 } else { (i % 10) as f64 }).collect(),
        ];
        for v in cases {
            let a = PrimitiveArray::<f64>::from_vec(v);
            assert!(matches!(column_encoding(&a), Encode::AsPolars));
        }
    }

    /// Per-minute counts are those counted from the values, however the columns are chunked:
    /// only "fail" is a failure (not a longer text that starts with it), a null outcome is an
    /// attempt, and minutes before 1970 floor as after.
    #[test]
    fn per_minute_counts_attempts_and_failures_of_each_minute() {
        struct Nothing;
        impl Sink for Nothing {
            fn rows(&mut self, _: Role, _: usize, _: DataFrame) -> Result<(), IngestError> {
                Ok(())
            }
            fn reject(&mut self, _: Reject) -> Result<(), IngestError> {
                Ok(())
            }
            fn finish(&mut self) -> Result<(), IngestError> {
                Ok(())
            }
        }
        let outcomes = [Some("ok"), Some("fail"), None, Some("failure"), Some("fail")];
        let rows: Vec<(i64, Option<&str>)> = (0..3000i64)
            .map(|i| (-90_000 + i * 7_919 % 400_000, outcomes[i as usize % 5]))
            .collect();
        let mut rows = rows;
        rows.sort_by_key(|r| r.0);
        let mut want: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
        for &(t, o) in &rows {
            let e = want.entry(t.div_euclid(60_000) * 60_000).or_default();
            e.0 += 1;
            e.1 += u64::from(o == Some("fail"));
        }
        let frame = |rows: &[(i64, Option<&str>)]| {
            let ts: Vec<i64> = rows.iter().map(|r| r.0).collect();
            let outcome: Vec<Option<&str>> = rows.iter().map(|r| r.1).collect();
            let ts = Series::new(schema::TS.into(), ts).cast(&schema::ts_dtype()).unwrap();
            DataFrame::new(
                rows.len(),
                vec![ts.into_column(), Series::new("outcome".into(), outcome).into_column()],
            )
            .unwrap()
        };
        // Chunked alike (two frames stacked as chunks), then chunked apart.
        let mut alike = frame(&rows[..1000]);
        stack(&mut alike, frame(&rows[1000..]), false).unwrap();
        let mut apart = alike.clone();
        apart.apply("outcome", |c| c.rechunk()).unwrap();
        assert_ne!(
            apart.column(schema::TS).unwrap().n_chunks(),
            apart.column("outcome").unwrap().n_chunks()
        );
        for df in [alike, apart] {
            let mut nothing = Nothing;
            let mut counter = PerMinute::new(&mut nothing);
            counter.rows(Role::Login, 0, df.slice(0, 1500)).unwrap();
            counter.rows(Role::Login, 0, df.slice(1500, 1500)).unwrap();
            assert_eq!(counter.counts, want);
        }
    }

    #[test]
    fn memory_tables_come_out_sorted_whether_or_not_they_came_in_sorted() {
        let mut sink = MemorySink::default();
        sink.rows(Role::Login, 0, frame(&[5, 9], &["b", "b"], &[1, 2])).unwrap();
        sink.rows(Role::Login, 1, frame(&[5, 7], &["a", "a"], &[1, 2])).unwrap();
        sink.rows(Role::Node, 0, frame(&[1, 2, 2], &["n", "n", "n"], &[1, 2, 3])).unwrap();
        assert!(!is_sorted(&sink.tables[&Role::Login]).unwrap());
        assert!(is_sorted(&sink.tables[&Role::Node]).unwrap());
        sink.finish().unwrap();
        let login = &sink.tables[&Role::Login];
        let order: Vec<(Option<&str>, Option<i64>)> = login
            .column(schema::SOURCE)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .zip(login.column(schema::LINE).unwrap().i64().unwrap().iter())
            .collect();
        assert_eq!(
            order,
            [
                (Some("a"), Some(1)),
                (Some("b"), Some(1)),
                (Some("a"), Some(2)),
                (Some("b"), Some(2))
            ]
        );
        assert!(is_sorted(login).unwrap());
        // Both finished tables say so in `ts`'s sorted flag, which analysis reads instead of
        // a pass over the column, and Polars' min and max read as the ends.
        for df in sink.tables.values() {
            let ts = df.column(schema::TS).unwrap();
            assert_eq!(ts.is_sorted_flag(), polars::series::IsSorted::Ascending);
            assert!(schema::ts_sorted(df, &schema::ts_ms(df).unwrap()).unwrap());
        }
        let ts = login.column(schema::TS).unwrap().datetime().unwrap().physical();
        assert_eq!((ts.min(), ts.max()), (Some(5), Some(9)));
    }

    #[test]
    fn kept_text_columns_become_categories_that_read_and_sort_as_text() {
        // Sources arrive "b" first, so a sort by category number would put "b" before "a".
        let with_outcome = |ts: &[i64], source: &[&str], line: &[i64], outcome: &[&str]| {
            let mut df = frame(ts, source, line);
            df.with_column(Series::new("outcome".into(), outcome).into_column()).unwrap();
            df
        };
        let keep: Columns = &[(Role::Login, &["outcome"])];
        let mut sink = MemorySink::keeping(Some(keep));
        sink.rows(Role::Login, 0, with_outcome(&[5, 9], &["b", "b"], &[1, 2], &["ok", "fail"]))
            .unwrap();
        sink.rows(Role::Login, 1, with_outcome(&[5, 7], &["a", "a"], &[1, 2], &["fail", "ok"]))
            .unwrap();
        sink.finish().unwrap();
        let login = &sink.tables[&Role::Login];
        for name in [schema::SOURCE, "outcome"] {
            assert!(login.column(name).unwrap().dtype().is_categorical(), "{name}");
        }
        let col = |name| schema::texts(login.column(name).unwrap()).unwrap().collect::<Vec<_>>();
        assert_eq!(col(schema::SOURCE), [Some("a"), Some("b"), Some("a"), Some("b")]);
        assert_eq!(col("outcome"), [Some("fail"), Some("ok"), Some("ok"), Some("fail")]);
        assert!(is_sorted(login).unwrap());
        let lines = schema::lines(login.column(schema::LINE).unwrap()).unwrap();
        assert_eq!(lines.collect::<Vec<_>>(), [Some(1), Some(1), Some(2), Some(2)]);
        assert_eq!(login.column(schema::LINE).unwrap().dtype(), &DataType::UInt32);
        let fails = login.column("outcome").unwrap().as_materialized_series().equal("fail");
        assert_eq!(fails.unwrap().sum(), Some(2));
    }

    /// The categories of a few-valued column are those Polars' cast gives, row for row,
    /// nulls, long texts and a text between repeats of another included.
    #[test]
    fn few_valued_columns_become_the_categories_a_cast_makes() {
        let cat = DataType::from_categories(Categories::global());
        let values: Vec<Option<String>> = (0..3000)
            .map(|i| match i % 7 {
                0 => None,
                1 | 2 => Some("ok".to_string()),
                3 => Some(format!("a reason longer than twelve bytes {}", i % 3)),
                4 => Some(format!("r{}", i % 97)),
                _ => Some(format!("few-values-test-{}", i % 2)),
            })
            .collect();
        let c = Series::new("reason".into(), values).into_column();
        let ours = few_values_categorical(&c, &cat).unwrap();
        let theirs = c.cast(&cat).unwrap();
        assert_eq!(ours.dtype(), theirs.dtype());
        assert!(ours.as_materialized_series().equals_missing(theirs.as_materialized_series()));
        let phys = |c: &Column| c.to_physical_repr().u32().unwrap().iter().collect::<Vec<_>>();
        assert_eq!(phys(&ours), phys(&theirs), "the same category numbers");
        assert_eq!(ours.null_count(), c.null_count());
    }

    /// A name column without any name in a frame (W1's clients) is kept as one null, not an
    /// id per row; frames with names later still get their ids, and the table's names read as
    /// the same ids as the text would give.
    #[test]
    fn a_frame_without_names_keeps_one_null_for_them() {
        let keep = schema::ANALYSIS_COLUMNS;
        let mut ids = NameIds::default();
        let mut kept = |df| keep_columns(df, Some(keep), Role::Login, &mut ids).unwrap();
        let (a, b) = (kept(logins(300, 0)), kept(logins(200, 300)));
        for df in [&a, &b] {
            let client = df.column(schema::CLIENT).unwrap();
            assert!(matches!(client, Column::Scalar(_)), "{client:?}");
            assert_eq!((client.dtype(), client.null_count()), (&DataType::UInt32, df.height()));
        }
        let mut tables = Tables::new();
        append(&mut tables, Role::Login, a).unwrap();
        append(&mut tables, Role::Login, b).unwrap();
        let none = tables[&Role::Login].column(schema::CLIENT).unwrap();
        assert!(matches!(none, Column::Scalar(_)), "stacked, still one null");
        let clients = crate::ids::Ids::of(&tables, schema::CLIENT).unwrap();
        assert_eq!(clients.names, 0);
        assert!(clients.iter().take(500).all(|id| id == crate::ids::NONE));

        // Clients named in a later frame: the rows before read as nulls, the rest as ids.
        let mut named = logins(4, 500);
        let who = Series::new(schema::CLIENT.into(), [Some("c1"), None, Some("c2"), Some("c1")]);
        named.with_column(who.into_column()).unwrap();
        let named = kept(named);
        append(&mut tables, Role::Login, named).unwrap();
        let clients = crate::ids::Ids::of(&tables, schema::CLIENT).unwrap();
        let tail: Vec<u32> = clients.iter().skip(500).take(4).collect();
        assert_eq!((clients.names, tail), (2, vec![0, crate::ids::NONE, 1, 0]));
        assert!(clients.rows()[..500].iter().all(|&id| id == crate::ids::NONE));
    }

    #[test]
    fn analysis_lines_take_four_bytes_and_widen_for_a_file_past_four_billion() {
        let keep: Columns = &[(Role::Login, &[])];
        let mut ids = NameIds::default();
        let mut kept = |df| keep_columns(df, Some(keep), Role::Login, &mut ids).unwrap();
        let near = kept(frame(&[1, 2], &["a", "a"], &[1, 2]));
        assert_eq!(near.column(schema::LINE).unwrap().dtype(), &DataType::UInt32);
        let far = 5_000_000_000;
        let past = kept(frame(&[3], &["a"], &[far]));
        assert_eq!(past.column(schema::LINE).unwrap().dtype(), &DataType::Int64);
        let mut tables = Tables::new();
        append(&mut tables, Role::Login, near).unwrap();
        append(&mut tables, Role::Login, past).unwrap();
        let login = finish_table(tables.remove(&Role::Login).unwrap(), Some(keep)).unwrap();
        let lines: Vec<_> = schema::lines(login.column(schema::LINE).unwrap()).unwrap().collect();
        assert_eq!(lines, [Some(1), Some(2), Some(far)]);
        assert!(is_sorted(&login).unwrap());
        // One source, its rows out of order: by time, then by line at one time.
        let unsorted = kept(frame(&[2, 1], &["a", "a"], &[1, 2]));
        assert!(one_value(unsorted.column(schema::SOURCE).unwrap()));
        assert!(!is_sorted(&unsorted).unwrap());
        assert!(!is_sorted(&kept(frame(&[1, 1], &["a", "a"], &[2, 1]))).unwrap());
        assert!(is_sorted(&kept(frame(&[1, 1, 2], &["a", "a", "a"], &[1, 2, 1]))).unwrap());
        // One source throughout: held once, read as before.
        let source = login.column(schema::SOURCE).unwrap();
        assert!(matches!(source, Column::Scalar(_)));
        assert_eq!(schema::texts(source).unwrap().collect::<Vec<_>>(), [Some("a"); 3]);
    }
}

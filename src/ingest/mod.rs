//! Ingest: exported log files in, typed role tables out, losing no line.
//!
//! For each source: open it (gzip/zstd by magic), plan it ([`plan`]: format, timestamp,
//! preset or role, detected where not given), then read it in newline-aligned blocks, parse
//! each block's pieces in parallel (rayon) and hand sorted frames to a [`Sink`]. Every line
//! ends as exactly one of: *parsed* (it gave one or more rows), *skipped* (understood, but no
//! event of the role, or blank) or *rejected* (not understood; kept with its line number and
//! reason). So `lines = parsed + skipped + rejected`, and `rows = parsed + repeats` where one
//! line stands for several events (syslog's `message repeated N times`).

pub mod format;
pub mod plan;
pub mod preset;
pub mod read;
pub mod record;
pub mod sink;
pub mod table;
pub mod time;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::path::Path;

use polars::prelude::*;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use plan::{Registry, SourcePlan, SourceSpec};
pub use sink::{MemorySink, ParquetSink, PerMinute, Reject, Sink};

use crate::error::IngestError;
use crate::schema::{self, Role};
use plan::recycle;
use preset::Mapped;
use read::{Block, BlockReader, Opened};
use record::Record;
use table::TableBuilder;
use time::TimeState;

/// Lines longer than this are rejected whole (and kept in the rejects).
pub const MAX_LINE_BYTES: usize = 4 << 20;
/// Lines looked at to detect a format and preset.
const SAMPLE_LINES: usize = 200;

/// Knobs of one ingest run.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Any rejected line is an error.
    pub strict: bool,
    /// Bytes read and parsed at a time per source.
    pub block_size: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions { strict: false, block_size: 16 << 20 }
    }
}

impl IngestOptions {
    pub fn with_strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }
    pub fn with_block_size(mut self, bytes: usize) -> Self {
        self.block_size = bytes.max(1024);
        self
    }
}

/// What happened to one source (one entry of `ingest.json`'s `sources`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceReport {
    /// The path as given; also the `source` column of its rows.
    pub path: String,
    pub role: Option<Role>,
    pub format: Option<String>,
    pub preset: Option<String>,
    /// `gzip` or `zstd` when the file was compressed.
    pub compression: Option<String>,
    /// Lines read (rows, for Parquet and Arrow inputs).
    pub lines: u64,
    /// Lines that gave at least one row.
    pub parsed: u64,
    /// Table rows (more than `parsed` when a line stands for repeated events).
    pub rows: u64,
    /// Lines understood but carrying no event of the role (and blank lines, headers).
    pub skipped: u64,
    /// Lines not understood; each is in `rejects.jsonl`.
    pub rejected: u64,
    /// Earliest and latest row time, RFC 3339 UTC.
    pub first_ts: Option<String>,
    pub last_ts: Option<String>,
    /// Choices rootline made for this source (detections, assumed year) and problems.
    pub notes: Vec<String>,
}

/// The result of ingesting several sources.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IngestReport {
    pub sources: Vec<SourceReport>,
}

impl IngestReport {
    pub fn rejected(&self) -> u64 {
        self.sources.iter().map(|s| s.rejected).sum()
    }
}

#[derive(Default)]
struct Counts {
    lines: u64,
    parsed: u64,
    rows: u64,
    skipped: u64,
    min_ts: Option<i64>,
    max_ts: Option<i64>,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.lines += o.lines;
        self.parsed += o.parsed;
        self.rows += o.rows;
        self.skipped += o.skipped;
        self.min_ts = opt(self.min_ts, o.min_ts, i64::min);
        self.max_ts = opt(self.max_ts, o.max_ts, i64::max);
    }
}

fn opt(a: Option<i64>, b: Option<i64>, f: fn(i64, i64) -> i64) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(f(x, y)),
        (x, None) => x,
        (None, y) => y,
    }
}

struct ChunkOut {
    table: Option<TableBuilder>,
    rejects: Vec<Reject>,
    counts: Counts,
    sorted: bool,
}

/// Parses the lines of one piece of a block in file order.
fn parse_lines(
    plan: &SourcePlan,
    source: &str,
    data: &[u8],
    first_line: u64,
    state: &mut TimeState,
) -> ChunkOut {
    let role = plan.role();
    let mut table = role.map(|r| TableBuilder::new(r, data.len() / 100));
    let mut out =
        ChunkOut { table: None, rejects: Vec::new(), counts: Counts::default(), sorted: true };
    let mut locs = plan.parser.locations();
    let mut fields_buf: Vec<(&str, Cow<str>)> = Vec::new();
    let mut vals_buf: Vec<Option<Cow<str>>> = Vec::new();
    let mut last_ts = i64::MIN;
    // One UTF-8 check for the whole piece instead of one per line (nearly every log is valid).
    let valid = std::str::from_utf8(data).ok();
    for (i, range) in read::line_ranges(data).enumerate() {
        let raw = &data[range.clone()];
        let line_no = first_line + i as u64;
        out.counts.lines += 1;
        if (line_no == 1 && plan.parser.has_header) || raw.iter().all(u8::is_ascii_whitespace) {
            out.counts.skipped += 1;
            continue;
        }
        let mut reject =
            |reason: String| out.rejects.push(Reject::new(source, line_no, reason, raw));
        if raw.len() > MAX_LINE_BYTES {
            reject(format!(
                "line is {} bytes, over the {} MiB limit",
                raw.len(),
                MAX_LINE_BYTES >> 20
            ));
            continue;
        }
        let text = match valid {
            Some(s) => Cow::Borrowed(&s[range]),
            None => String::from_utf8_lossy(raw),
        };
        let mut rec = Record { fields: recycle(std::mem::take(&mut fields_buf)) };
        let mut vals = recycle(std::mem::take(&mut vals_buf));
        match plan.parser.parse(&text, &mut locs, &mut rec) {
            Err(reason) => reject(reason),
            Ok(()) => match (plan.mapper.map(&rec, &mut vals), table.as_mut()) {
                (Mapped::Skip | Mapped::NotMine, _)
                | (Mapped::Rows { count: 0, .. }, _)
                | (_, None) => out.counts.skipped += 1,
                (Mapped::Reject(reason), _) => reject(reason),
                (Mapped::Rows { ts: None, .. }, _) => reject("no timestamp".into()),
                (Mapped::Rows { ts: Some(ts), count }, Some(t)) => {
                    match plan.ts.parse(&ts, state) {
                        Err(e) => reject(format!("{e}: \"{}\"", table::clip(&ts))),
                        Ok(ms) => match t.push(ms, line_no as i64, &vals, count) {
                            Err(reason) => reject(reason),
                            Ok(()) => {
                                out.counts.parsed += 1;
                                out.counts.rows += count as u64;
                                out.sorted &= ms >= last_ts;
                                last_ts = last_ts.max(ms);
                                out.counts.min_ts = opt(out.counts.min_ts, Some(ms), i64::min);
                                out.counts.max_ts = opt(out.counts.max_ts, Some(ms), i64::max);
                            }
                        },
                    }
                }
            },
        }
        vals_buf = recycle(vals);
        fields_buf = recycle(rec.fields);
    }
    out.table = table;
    out
}

/// Parses one block: in parallel pieces when the plan allows, else in order.
fn parse_block(
    plan: &SourcePlan,
    source: &str,
    block: &Block,
    state: &mut TimeState,
) -> Vec<ChunkOut> {
    if plan.is_stateful() {
        return vec![parse_lines(plan, source, &block.data, block.first_line, state)];
    }
    let pieces = read::split_block(block, rayon::current_num_threads() * 4);
    let base = state.clone();
    pieces
        .into_par_iter()
        .map(|(range, first)| {
            let mut st = base.clone();
            parse_lines(plan, source, &block.data[range], first, &mut st)
        })
        .collect()
}

/// Hands the outputs of one block to the sink: rows as one sorted frame, rejects in order.
fn drain(
    outs: Vec<ChunkOut>,
    source: &str,
    index: usize,
    sink: &mut dyn Sink,
    counts: &mut Counts,
    rejected: &mut u64,
) -> Result<(), IngestError> {
    let mut frame: Option<DataFrame> = None;
    let mut sorted = true;
    let mut last_max: Option<i64> = None;
    let mut role = None;
    for out in outs {
        counts.add(&out.counts);
        *rejected += out.rejects.len() as u64;
        for r in out.rejects {
            sink.reject(r)?;
        }
        sorted &= out.sorted && last_max.is_none_or(|m| out.counts.min_ts.is_none_or(|t| t >= m));
        last_max = opt(last_max, out.counts.max_ts, i64::max);
        if let Some(t) = out.table.filter(|t| !t.is_empty()) {
            role = Some(t.role());
            let df = t.finish(source)?;
            match frame.as_mut() {
                Some(f) => {
                    f.vstack_mut_owned(df)?;
                }
                None => frame = Some(df),
            }
        }
    }
    if let (Some(mut df), Some(role)) = (frame, role) {
        if !sorted {
            df = df.sort(
                [schema::TS, schema::LINE],
                SortMultipleOptions::default().with_maintain_order(true),
            )?;
        }
        sink.rows(role, index, df)?;
    }
    Ok(())
}

fn rfc3339(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// The year for yearless stamps when none is given: the year of the file's last change.
fn default_year(path: &Path) -> (i32, bool) {
    use chrono::Datelike;
    let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    match mtime {
        Some(t) => (chrono::DateTime::<chrono::Utc>::from(t).year(), true),
        None => (1970, false),
    }
}

/// Ingests `specs` into `sink`, one source after another, calling `progress` with the source
/// and the lines read so far after each block.
///
/// ```no_run
/// use rootline::ingest::{self, IngestOptions, MemorySink, Registry, SourceSpec};
/// let spec = SourceSpec { path: "auth.log".into(), year: Some(2024), ..Default::default() };
/// let mut sink = MemorySink::default();
/// let report = ingest::ingest(&[spec], &IngestOptions::default(), &Registry::builtin(), &mut sink, &|_, _| {})?;
/// println!("{} rows of login", sink.tables[&rootline::schema::Role::Login].height());
/// # Ok::<(), rootline::error::IngestError>(())
/// ```
pub fn ingest(
    specs: &[SourceSpec],
    opts: &IngestOptions,
    registry: &Registry,
    sink: &mut dyn Sink,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<IngestReport, IngestError> {
    let mut report = IngestReport::default();
    let mut strict_failure = None;
    for (index, spec) in specs.iter().enumerate() {
        let r = ingest_source(index, spec, opts, registry, sink, progress)?;
        if opts.strict && r.rejected > 0 && strict_failure.is_none() {
            strict_failure = Some((spec.path.clone(), r.rejected));
        }
        report.sources.push(r);
    }
    sink.finish()?;
    if let Some((path, count)) = strict_failure {
        return Err(IngestError::Strict { path, count });
    }
    Ok(report)
}

fn ingest_source(
    index: usize,
    spec: &SourceSpec,
    opts: &IngestOptions,
    registry: &Registry,
    sink: &mut dyn Sink,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<SourceReport, IngestError> {
    let source = spec.path.to_string_lossy().into_owned();
    let read_err = |e| IngestError::Read { path: spec.path.clone(), source: e };
    let mut report = SourceReport { path: source.clone(), ..Default::default() };
    let opened = read::open(&spec.path).map_err(read_err)?;
    let mut reader = match opened {
        Opened::Parquet | Opened::Ipc => {
            let is_parquet = matches!(opened, Opened::Parquet);
            report.format = Some(if is_parquet { "parquet" } else { "ipc" }.into());
            let text = binary_as_jsonl(&spec.path, is_parquet)?;
            BlockReader::new(Box::new(std::io::Cursor::new(text)), opts.block_size)
        }
        Opened::Text { reader, compression } => {
            report.compression = compression.map(str::to_string);
            BlockReader::new(reader, opts.block_size)
        }
    };
    let Some(first) = reader.next_block() else {
        report.notes.push("empty file".into());
        if let Some(e) = reader.error.take() {
            return Err(read_err(e));
        }
        return Ok(report);
    };
    let sample: Vec<Cow<str>> = read::lines(&first.data)
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .take(SAMPLE_LINES)
        .map(String::from_utf8_lossy)
        .collect();
    let sample: Vec<&str> = sample.iter().map(|s| s.as_ref()).collect();
    let (year, from_mtime) = default_year(&spec.path);
    let stem = spec.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut spec = spec.clone();
    if report.format.is_some() {
        spec.format = Some("jsonl".into());
    }
    let plan = match plan::plan_text(&spec, registry, &sample, year, &stem) {
        Ok(p) => p,
        Err(crate::error::ConfigError::NoFormat(msg)) => {
            // Nothing fits: keep going so every line is accounted for as a reject.
            report.notes.push(msg.clone());
            let mut counts = Counts::default();
            let mut rejected = 0;
            let mut block = Some(first);
            while let Some(b) = block {
                for (i, raw) in read::lines(&b.data).enumerate() {
                    counts.lines += 1;
                    if raw.iter().all(u8::is_ascii_whitespace) {
                        counts.skipped += 1;
                    } else {
                        rejected += 1;
                        sink.reject(Reject::new(&source, b.first_line + i as u64, &msg, raw))?;
                    }
                }
                block = reader.next_block();
            }
            finish_report(&mut report, &counts, rejected, &mut reader, sink, &source)?;
            return Ok(report);
        }
        Err(e) => return Err(e.into()),
    };
    if spec.year.is_none()
        && plan.is_stateful()
        && from_mtime
        && matches!(plan.ts.format, time::TsFormat::Syslog | time::TsFormat::Strftime(_))
    {
        report.notes.push(format!("year {year} assumed for yearless timestamps (the file's modification year); pass --year"));
    }
    report.format.get_or_insert_with(|| plan.format.clone());
    report.role = plan.role();
    report.preset = plan.preset().map(str::to_string);
    report.notes.extend(plan.notes.iter().cloned());
    let mut state = TimeState::new(plan.year);
    let mut counts = Counts::default();
    let mut rejected = 0;
    // A two-stage pipeline: while one block's rows are written, the next is read and parsed.
    let mut parsed = Some(parse_block(&plan, &source, &first, &mut state));
    drop(first);
    while let Some(outs) = parsed.take() {
        let (next, written) = rayon::join(
            || reader.next_block().map(|b| parse_block(&plan, &source, &b, &mut state)),
            || drain(outs, &source, index, &mut *sink, &mut counts, &mut rejected),
        );
        written?;
        progress(&source, counts.lines);
        parsed = next;
    }
    finish_report(&mut report, &counts, rejected, &mut reader, sink, &source)?;
    Ok(report)
}

fn finish_report(
    report: &mut SourceReport,
    counts: &Counts,
    mut rejected: u64,
    reader: &mut BlockReader,
    sink: &mut dyn Sink,
    source: &str,
) -> Result<(), IngestError> {
    let mut lines = counts.lines;
    if let Some(e) = reader.error.take() {
        // A truncated or corrupt stream: what could not be read is one rejected "line".
        let reason = format!("the file ends early or is corrupt after this point: {e}");
        report.notes.push(reason.clone());
        sink.reject(Reject::new(source, reader.next_line(), reason, b""))?;
        rejected += 1;
        lines += 1;
    }
    report.lines = lines;
    report.parsed = counts.parsed;
    report.rows = counts.rows;
    report.skipped = counts.skipped;
    report.rejected = rejected;
    report.first_ts = counts.min_ts.and_then(rfc3339);
    report.last_ts = counts.max_ts.and_then(rfc3339);
    Ok(())
}

/// Reads a Parquet or Arrow IPC file and writes its rows as JSON lines, times as epoch ms,
/// so that they go through the same mapping and accounting as text.
fn binary_as_jsonl(path: &Path, parquet: bool) -> Result<Vec<u8>, IngestError> {
    let read_err = |e| IngestError::Read { path: path.to_path_buf(), source: e };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut df =
        if parquet { ParquetReader::new(file).finish()? } else { IpcReader::new(file).finish()? };
    let casts: Vec<Column> = df
        .columns()
        .iter()
        .filter(|c| matches!(c.dtype(), DataType::Datetime(..) | DataType::Date))
        .map(|c| {
            c.cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
                .and_then(|c| c.cast(&DataType::Int64))
        })
        .collect::<PolarsResult<_>>()?;
    for c in casts {
        df.with_column(c)?;
    }
    let mut out = Vec::new();
    JsonWriter::new(&mut out).with_json_format(JsonFormat::JsonLines).finish(&mut df)?;
    Ok(out)
}

//! Ingest: exported log files in, typed role tables out, losing no line.
//!
//! For each source: open it (gzip/zstd by magic), plan it ([`plan`]: format, timestamp,
//! preset or role, detected where not given), then read it in newline-aligned blocks, parse
//! each block's pieces in parallel (rayon) and hand sorted frames to a [`Sink`]. Every line
//! ends as exactly one of: *parsed* (it gave one or more rows), *skipped* (understood, but no
//! event of the role, or blank) or *rejected* (not understood; kept with its line number and
//! reason). So `lines = parsed + skipped + rejected`, and `rows = parsed + repeats` where one
//! line stands for several events (syslog's `message repeated N times`).

mod binary;
mod dictionary;
pub mod format;
pub mod output;
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
use std::sync::atomic::{AtomicI64, Ordering};

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
/// A line that says it stands for more events than this ('message repeated N times') counts
/// this many; and a source's repeats add at most [`MAX_REPEAT_ROWS`] rows in all. Memory then
/// follows the input's size, not what its lines claim.
pub const MAX_REPEAT: usize = 1000;
pub const MAX_REPEAT_ROWS: i64 = 1_000_000;

/// Knobs of one ingest run.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Any rejected line is an error.
    pub strict: bool,
    /// Bytes read and parsed at a time per source.
    pub block_size: usize,
    /// Rows at or after `since` and before `until` (ms since the epoch) are kept; the rest are
    /// skipped with a note.
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// The columns the sink keeps (as [`MemorySink::keeping`] is told); the others are checked
    /// but not built. `None`: every column.
    pub columns: Option<crate::schema::Columns>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            strict: false,
            block_size: 16 << 20,
            since: None,
            until: None,
            columns: None,
        }
    }
}

impl IngestOptions {
    pub fn with_strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }
    pub fn with_range(mut self, since: Option<i64>, until: Option<i64>) -> Self {
        self.since = since;
        self.until = until;
        self
    }
    /// Builds only the columns a sink that keeps `columns` keeps.
    pub fn with_columns(mut self, columns: Option<crate::schema::Columns>) -> Self {
        self.columns = columns;
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
    /// Table column -> the raw field it was read from, when columns were mapped directly
    /// (a preset's rules say it themselves).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub fields: std::collections::BTreeMap<String, String>,
}

impl SourceReport {
    /// What a reader of the report must not miss about this source: it gave no rows, or its
    /// role was guessed from field names.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.lines > 0 && self.rows == 0 {
            out.push(format!(
                "no rows from {} ({} rejected, {} skipped): pass --role, --preset or \
                 --format (or set them in the config), and see rejects.jsonl",
                crate::units::plural(self.lines, "line"),
                self.rejected,
                self.skipped
            ));
        }
        if let Some(n) =
            self.notes.iter().find(|n| n.starts_with("role ") && n.ends_with("(detected)"))
        {
            out.push(format!(
                "the {} was guessed from the field names; pass --role (or role = ...) if it is not",
                n.trim_end_matches(" (detected)")
            ));
        }
        out
    }
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
    /// Lines whose repeat count was cut, and the events they claimed beyond what was counted.
    repeats_cut: u64,
    repeats_dropped: u64,
    /// Lines skipped for a time outside the range asked for.
    out_of_range: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.lines += o.lines;
        self.parsed += o.parsed;
        self.rows += o.rows;
        self.skipped += o.skipped;
        self.repeats_cut += o.repeats_cut;
        self.repeats_dropped += o.repeats_dropped;
        self.out_of_range += o.out_of_range;
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

/// Parses the lines of one piece of a block in file order. `lines` is how many it holds (the
/// most rows its table can take without repeats, so that the columns are never copied to
/// grow). `repeat_budget` is what is left of the source's [`MAX_REPEAT_ROWS`].
fn parse_lines(
    plan: &SourcePlan,
    source: &str,
    data: &[u8],
    (first_line, lines): (u64, usize),
    state: &mut TimeState,
    repeat_budget: &AtomicI64,
) -> ChunkOut {
    let role = plan.role();
    let mut table = role.map(|r| TableBuilder::new(r, lines).building(plan.columns));
    let mut out =
        ChunkOut { table: None, rejects: Vec::new(), counts: Counts::default(), sorted: true };
    let mut locs = plan.parser.locations();
    let mut fields_buf: Vec<(Cow<str>, Cow<str>)> = Vec::new();
    let mut vals_buf: Vec<Option<Cow<str>>> = Vec::new();
    let mut last_ts = i64::MIN;
    // One UTF-8 check for the whole piece instead of one per line (nearly every log is valid).
    let valid = std::str::from_utf8(data).ok();
    // Likewise one search for a carriage return (lines with one are rejected below).
    let has_cr = memchr::memchr(b'\r', data).is_some();
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
            reject(too_long(raw.len() as u64));
            continue;
        }
        if has_cr && memchr::memchr(b'\r', raw).is_some() {
            // A lone CR inside a file with newlines: two records may sit on this line.
            reject("a carriage return inside the line (lone CR line ends?): not read, so that no two events are merged; convert them with tr '\\r' '\\n'".into());
            continue;
        }
        let text = match valid {
            Some(s) => Cow::Borrowed(&s[range]),
            None => String::from_utf8_lossy(raw),
        };
        if plan.parser.skips(&text) {
            // A line the format knows carries no event (journalctl's `-- Boot ... --`).
            out.counts.skipped += 1;
            continue;
        }
        let mut rec = Record { fields: recycle(std::mem::take(&mut fields_buf)), unbound: false };
        let mut vals = recycle(std::mem::take(&mut vals_buf));
        let parsed = plan.parser.parse(&text, &mut locs, &mut rec);
        let kept = parsed.is_err() || plan.keeps(&rec);
        match parsed {
            Err(reason) => reject(reason),
            Ok(()) if !kept => out.counts.skipped += 1,
            Ok(()) => {
                match (plan.mapper.map_with(&rec, &mut vals, &mut state.memo), table.as_mut()) {
                    (Mapped::Skip | Mapped::NotMine, _)
                    | (Mapped::Rows { count: 0, .. }, _)
                    | (_, None) => out.counts.skipped += 1,
                    (Mapped::Reject(reason), _) => reject(reason),
                    (Mapped::Rows { ts: None, .. }, _) => reject("no timestamp".into()),
                    (Mapped::Rows { ts: Some(ts), count }, Some(t)) => {
                        let count = capped_repeats(count, repeat_budget, &mut out.counts);
                        match plan.ts.parse(&ts, state) {
                            Err(e) => reject(format!("{e}: \"{}\"", table::clip(&ts))),
                            Ok(ms) if !plan.in_range(ms) => {
                                out.counts.skipped += 1;
                                out.counts.out_of_range += 1;
                            }
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
                }
            }
        }
        vals_buf = recycle(vals);
        fields_buf = recycle(rec.fields);
    }
    out.table = table;
    out
}

/// The reason an over-long line is rejected.
fn too_long(len: u64) -> String {
    format!("line is {len} bytes, over the {} MiB limit", MAX_LINE_BYTES >> 20)
}

/// The rows a line that stands for `count` events gives: at most [`MAX_REPEAT`], and its
/// repeats only while the source's budget lasts; what is cut is counted for a note.
fn capped_repeats(count: usize, budget: &AtomicI64, counts: &mut Counts) -> usize {
    if count <= 1 {
        return count;
    }
    let want = count.min(MAX_REPEAT);
    let extra = (want - 1) as i64;
    let left = budget.fetch_sub(extra, Ordering::Relaxed);
    let granted = extra.min(left.max(0)) as usize;
    let rows = 1 + granted;
    if rows < count {
        counts.repeats_cut += 1;
        counts.repeats_dropped += (count - rows) as u64;
    }
    rows
}

/// Parses one block: in parallel pieces when the plan allows, else in order.
fn parse_block(
    plan: &SourcePlan,
    source: &str,
    block: &Block,
    state: &mut TimeState,
    repeat_budget: &AtomicI64,
) -> Vec<ChunkOut> {
    if let Some(len) = block.oversized {
        return vec![oversized(source, block, len)];
    }
    if plan.is_stateful() {
        let lines = memchr::memchr_iter(b'\n', &block.data).count() + 1;
        let at = (block.first_line, lines);
        return vec![parse_lines(plan, source, &block.data, at, state, repeat_budget)];
    }
    let pieces = read::split_block(block, rayon::current_num_threads() * 4);
    let base = state.clone();
    pieces
        .into_par_iter()
        .map(|p| {
            let mut st = base.clone();
            let data = &block.data[p.range];
            parse_lines(plan, source, data, (p.first_line, p.lines), &mut st, repeat_budget)
        })
        .collect()
}

/// The one line of an oversized block, rejected with its start and length.
fn oversized(source: &str, block: &Block, len: u64) -> ChunkOut {
    let reject = Reject::clipped(source, block.first_line, too_long(len), &block.data, len);
    let counts = Counts { lines: 1, ..Counts::default() };
    ChunkOut { table: None, rejects: vec![reject], counts, sorted: true }
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
                Some(f) => sink::stack(f, df, false)?,
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

/// The year for yearless stamps when none is given, and what it was read from: the year of
/// the file's last change, or the year before when the first line is dated later in the year.
fn default_year(path: &Path, first_line: Option<&str>) -> (i32, Option<String>) {
    use chrono::Datelike;
    let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    match mtime {
        Some(t) => {
            let t = chrono::DateTime::<chrono::Utc>::from(t);
            let (year, back) = time::year_of_log((t.year(), t.month(), t.day()), first_line);
            let why = if back {
                format!(
                    "the file was last changed on {}, before the date of its first line",
                    t.format("%Y-%m-%d")
                )
            } else {
                "the file's modification year".to_string()
            };
            (year, Some(why))
        }
        None => (1970, None),
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
    let (report, strict_failure) = ingest_all(specs, opts, registry, sink, progress)?;
    match strict_failure {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// [`ingest`], with the `--strict` failure apart from the report, so that a caller that
/// writes files can keep the rejects the failure points at.
pub(crate) fn ingest_all(
    specs: &[SourceSpec],
    opts: &IngestOptions,
    registry: &Registry,
    sink: &mut dyn Sink,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<(IngestReport, Option<IngestError>), IngestError> {
    for spec in specs {
        plan::check_spec(spec, registry)?;
    }
    let mut report = IngestReport::default();
    let mut strict_failure = None;
    for (index, spec) in specs.iter().enumerate() {
        let r = ingest_source(index, spec, opts, registry, sink, progress)
            .and_then(|r| sink.end_source(index).map(|()| r))
            .map_err(|e| e.in_source(&spec.path))?;
        if opts.strict && r.rejected > 0 && strict_failure.is_none() {
            strict_failure =
                Some(IngestError::Strict { path: spec.path.clone(), count: r.rejected });
        }
        report.sources.push(r);
    }
    sink.finish()?;
    Ok((report, strict_failure))
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
    // Parquet and IPC times are written out as epoch milliseconds; what their columns became
    // is noted as their rows are read, and reported at the end.
    let mut times_in_ms = false;
    let mut binary_notes: Option<binary::Notes> = None;
    let reader = match opened {
        Opened::Parquet | Opened::Ipc => {
            let is_parquet = matches!(opened, Opened::Parquet);
            report.format = Some(if is_parquet { "parquet" } else { "ipc" }.into());
            let (lines, times, notes) = binary::BinaryLines::open(&spec.path, is_parquet)?;
            binary_notes = Some(notes);
            times_in_ms = times;
            BlockReader::new(Box::new(lines), opts.block_size)
        }
        Opened::Text { reader, compression } => {
            report.compression = compression.map(str::to_string);
            BlockReader::new(reader, opts.block_size)
        }
    };
    // Lines over the limit come as blocks of their own; the sample comes from the first block
    // of ordinary lines, and the long lines before it wait for the plan.
    let mut blocks = Blocks { pending: std::collections::VecDeque::new(), reader };
    // (The sample block is read ahead below; a JSON document is turned into lines first.)
    while let Some(b) = blocks.reader.next_block() {
        let ordinary = b.oversized.is_none();
        blocks.pending.push_back(b);
        if ordinary {
            break;
        }
    }
    if blocks.pending.is_empty() {
        report.notes.push("empty file".into());
        if let Some(e) = blocks.reader.error.take() {
            return Err(read_err(e));
        }
        return Ok(report);
    }
    if let Some(items) = json_document(&mut blocks, &source)? {
        report.notes.push(format!(
            "a JSON document: its {} read as lines (line N is item N)",
            crate::units::plural(items.1 as u64, "item")
        ));
        blocks = Blocks {
            pending: std::collections::VecDeque::new(),
            reader: BlockReader::new(Box::new(std::io::Cursor::new(items.0)), opts.block_size),
        };
        blocks.pending.extend(blocks.reader.next_block());
    }
    if blocks.reader.cr_line_ends {
        report
            .notes
            .push("lines end in a lone CR (classic Mac OS): each CR is read as a line end".into());
    }
    let sample: Vec<Cow<str>> = match blocks.pending.back() {
        Some(b) if b.oversized.is_none() => read::lines(&b.data)
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .take(SAMPLE_LINES)
            .map(String::from_utf8_lossy)
            .collect(),
        _ => Vec::new(),
    };
    let sample: Vec<&str> = sample.iter().map(|s| s.as_ref()).collect();
    let (year, year_from) = default_year(&spec.path, sample.first().copied());
    let stem = spec.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let mut spec = spec.clone();
    if report.format.is_some() {
        spec.format = Some("jsonl".into());
        if times_in_ms && spec.ts_format.is_none() {
            spec.ts_format = Some("epoch_ms".into());
        }
    }
    let plan = match plan::plan_text(&spec, registry, &sample, year, &stem) {
        Ok(p) => p.with_range(opts.since, opts.until).with_columns(opts.columns),
        Err(crate::error::ConfigError::NoFormat(msg)) => {
            // Nothing fits: keep going so every line is accounted for as a reject.
            report.notes.push(msg.clone());
            let mut counts = Counts::default();
            let mut rejected = 0;
            while let Some(b) = blocks.next() {
                if let Some(len) = b.oversized {
                    let r = Reject::clipped(&source, b.first_line, too_long(len), &b.data, len);
                    counts.lines += 1;
                    rejected += 1;
                    sink.reject(r)?;
                    continue;
                }
                for (i, raw) in read::lines(&b.data).enumerate() {
                    counts.lines += 1;
                    if raw.iter().all(u8::is_ascii_whitespace) {
                        counts.skipped += 1;
                    } else {
                        rejected += 1;
                        sink.reject(Reject::new(&source, b.first_line + i as u64, &msg, raw))?;
                    }
                }
            }
            report.notes.extend(binary::take(binary_notes));
            finish_report(&mut report, &counts, rejected, &mut blocks.reader, sink, &source)?;
            return Ok(report);
        }
        Err(e) => return Err(e.into()),
    };
    if spec.year.is_none()
        && plan.is_stateful()
        && let Some(from) = &year_from
        && matches!(plan.ts.format, time::TsFormat::Syslog | time::TsFormat::Strftime(_))
    {
        report
            .notes
            .push(format!("year {year} assumed for yearless timestamps ({from}); pass --year"));
    }
    report.format.get_or_insert_with(|| plan.format.clone());
    report.role = plan.role();
    report.preset = plan.preset().map(str::to_string);
    report.notes.extend(plan.notes.iter().cloned());
    report.fields = plan.mapping.clone();
    let mut state = TimeState::new(plan.year);
    let mut counts = Counts::default();
    let mut rejected = 0;
    let budget = AtomicI64::new(MAX_REPEAT_ROWS);
    // A two-stage pipeline: while one block's rows are written, the next is read and parsed.
    let mut parsed = blocks.parse_next(&plan, &source, &mut state, &budget);
    while let Some(outs) = parsed.take() {
        let (next, written) = rayon::join(
            || blocks.parse_next(&plan, &source, &mut state, &budget),
            || drain(outs, &source, index, &mut *sink, &mut counts, &mut rejected),
        );
        written?;
        progress(&source, counts.lines);
        parsed = next;
    }
    if counts.out_of_range > 0 {
        report.notes.push(format!(
            "{} outside the time range asked for (--since/--until) skipped",
            crate::units::plural(counts.out_of_range, "line")
        ));
    }
    if counts.rows > counts.parsed {
        report.notes.push(format!(
            "{} more than lines read: a line that says 'message repeated N times' stands for N \
             events",
            crate::units::plural(counts.rows - counts.parsed, "row")
        ));
    }
    if counts.repeats_cut > 0 {
        report.notes.push(format!(
            "{} more events than rootline counts ('message repeated N times'): a line \
             counts at most {MAX_REPEAT} times and a source's repeats at most {MAX_REPEAT_ROWS}; \
             {} were not counted",
            if counts.repeats_cut == 1 {
                "1 line claims".to_string()
            } else {
                format!("{} lines claim", counts.repeats_cut)
            },
            crate::units::plural(counts.repeats_dropped, "claimed event")
        ));
    }
    report.notes.extend(binary::take(binary_notes));
    finish_report(&mut report, &counts, rejected, &mut blocks.reader, sink, &source)?;
    Ok(report)
}

/// The largest JSON document (`kubectl get events -o json`) read whole to split its items.
const MAX_JSON_DOCUMENT: usize = 512 << 20;

/// When a source is one pretty-printed JSON document (its first line is `{` or `[`), its
/// items (`items` of an object, or the elements of an array) as JSON lines, and how many.
fn json_document(
    blocks: &mut Blocks,
    source: &str,
) -> Result<Option<(Vec<u8>, usize)>, IngestError> {
    let Some(first) = blocks.pending.front().filter(|b| b.oversized.is_none()) else {
        return Ok(None);
    };
    let head = read::lines(&first.data).find(|l| !l.iter().all(u8::is_ascii_whitespace));
    if !head.is_some_and(|l| matches!(l.trim_ascii(), b"{" | b"[")) {
        return Ok(None);
    }
    let mut read: Vec<Block> = Vec::new();
    let mut size = 0;
    while let Some(b) = blocks.next() {
        size += b.data.len();
        let too_big = b.oversized.is_some() || size > MAX_JSON_DOCUMENT;
        read.push(b);
        if too_big {
            // Not a document rootline reads whole: the lines go on as lines.
            for b in read.into_iter().rev() {
                blocks.pending.push_front(b);
            }
            return Ok(None);
        }
    }
    let text: Vec<u8> = read.iter().flat_map(|b| b.data.iter().copied()).collect();
    let bad = |m: String| IngestError::Source { path: source.into(), message: m };
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&text) else {
        // Not one JSON document after all: its lines are read (and rejected) as lines.
        for b in read.into_iter().rev() {
            blocks.pending.push_front(b);
        }
        return Ok(None);
    };
    let items = match doc {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Object(mut o) => match o.remove("items") {
            Some(serde_json::Value::Array(items)) => items,
            _ => vec![serde_json::Value::Object(o)],
        },
        other => vec![other],
    };
    let mut out = Vec::new();
    for item in &items {
        serde_json::to_writer(&mut out, item).map_err(|e| bad(e.to_string()))?;
        out.push(b'\n');
    }
    Ok(Some((out, items.len())))
}

/// The blocks of a source: those read ahead for the sample first, then the rest.
struct Blocks {
    pending: std::collections::VecDeque<Block>,
    reader: BlockReader,
}

impl Blocks {
    fn next(&mut self) -> Option<Block> {
        self.pending.pop_front().or_else(|| self.reader.next_block())
    }

    /// The next block parsed, its buffer then handed back for the one after.
    fn parse_next(
        &mut self,
        plan: &SourcePlan,
        source: &str,
        state: &mut TimeState,
        budget: &AtomicI64,
    ) -> Option<Vec<ChunkOut>> {
        let b = self.next()?;
        let outs = parse_block(plan, source, &b, state, budget);
        self.reader.give_back(b.data);
        Some(outs)
    }
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
    report.first_ts = counts.min_ts.map(crate::units::rfc3339_millis);
    report.last_ts = counts.max_ts.map(crate::units::rfc3339_millis);
    Ok(())
}

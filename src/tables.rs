//! The role tables in memory: read back from an ingest directory, or ingested straight from
//! logs, cut to a time range, with rows far from the rest set aside. One frame per role,
//! sorted by `ts`, `source`, `line`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polars::prelude::{
    BooleanChunked, ChunkAgg, ChunkCompareIneq, ParquetReader, PolarsResult, SerReader,
};

use crate::error::IngestError;
use crate::ingest::{self, IngestOptions, IngestReport, MemorySink, Registry, Reject, SourceSpec};
pub use crate::schema::Tables;
use crate::schema::{self, Columns, Role};

/// Reads DIR/<role>/**/*.parquet (as `rootline ingest` writes them) into one frame per role.
pub fn read_dir(dir: &Path) -> Result<Tables, IngestError> {
    read_dir_keeping(dir, None)
}

/// [`read_dir`] with only the columns analysis reads ([`schema::ANALYSIS_COLUMNS`]).
pub fn read_dir_for_analysis(dir: &Path) -> Result<Tables, IngestError> {
    read_dir_keeping(dir, Some(schema::ANALYSIS_COLUMNS))
}

/// Rows read from a Parquet file at a time: what its text columns cost before they become ids
/// and categories for analysis is bounded by this, not by the file.
const READ_ROWS: usize = 1 << 20;

fn read_dir_keeping(dir: &Path, keep: Option<Columns>) -> Result<Tables, IngestError> {
    let mut out = BTreeMap::new();
    let mut ids = ingest::sink::NameIds::default();
    let unreadable = |p: &Path, e: &dyn std::fmt::Display| IngestError::Source {
        path: p.to_path_buf(),
        message: format!("cannot be read as a table: {e}"),
    };
    for role in Role::ALL {
        // The directory is a path, not a pattern: `tables[1]/` is read as it is written.
        let root = glob::Pattern::escape(&dir.join(role.as_str()).to_string_lossy());
        let pattern = format!("{root}/**/*.parquet");
        let mut paths: Vec<PathBuf> =
            glob::glob(&pattern).map_err(|e| unreadable(dir, &e))?.filter_map(Result::ok).collect();
        paths.sort();
        for p in paths {
            let open = || {
                std::fs::File::open(&p)
                    .map(ParquetReader::new)
                    .map_err(|source| IngestError::Read { path: p.clone(), source })
            };
            let mut reader = open()?;
            let rows = reader.num_rows().map_err(|e| unreadable(&p, &e))?;
            let metadata = reader.get_metadata().map_err(|e| unreadable(&p, &e))?.clone();
            let columns: Option<Vec<String>> = ingest::sink::kept_columns(keep, role)
                .map(|names| names.into_iter().map(str::to_string).collect());
            // A slice at a time: its text columns become ids and categories before the next.
            let mut start = 0;
            loop {
                let len = READ_ROWS.min(rows - start);
                let mut reader = open()?;
                reader.set_metadata(metadata.clone());
                let df = reader
                    .with_columns(columns.clone())
                    .with_slice(Some((start, len)))
                    .finish()
                    .map_err(|e| unreadable(&p, &e))?;
                let df = ingest::sink::keep_columns(df, keep, role, &mut ids)
                    .map_err(|e| unreadable(&p, &e))?;
                ingest::sink::append(&mut out, role, df).map_err(|e| unreadable(&p, &e))?;
                start += len;
                if start >= rows {
                    break;
                }
            }
        }
    }
    crate::alloc::free_aside(ids);
    for df in out.values_mut() {
        *df = ingest::sink::finish_table(std::mem::take(df), keep)?;
    }
    if out.is_empty() {
        return Err(IngestError::Source {
            path: dir.to_path_buf(),
            message: format!(
                "holds no tables; make them with rootline ingest --out {}",
                dir.display()
            ),
        });
    }
    Ok(out)
}

/// Sources ingested into memory.
pub struct Ingested {
    pub tables: Tables,
    /// What became of every line, per source.
    pub report: IngestReport,
    /// The lines not understood, with file, line number and reason.
    pub rejects: Vec<Reject>,
}

/// Ingests sources into memory, every column.
pub fn ingest(specs: &[SourceSpec]) -> Result<Ingested, IngestError> {
    ingest_keeping(specs, None)
}

/// Ingests sources into memory with only the columns analysis reads
/// ([`schema::ANALYSIS_COLUMNS`]).
pub fn ingest_for_analysis(specs: &[SourceSpec]) -> Result<Ingested, IngestError> {
    ingest_keeping(specs, Some(schema::ANALYSIS_COLUMNS))
}

fn ingest_keeping(specs: &[SourceSpec], keep: Option<Columns>) -> Result<Ingested, IngestError> {
    crate::alloc::serve_piece_buffers_from_heap();
    let mut sink = MemorySink::keeping(keep);
    let opts = IngestOptions::default().with_columns(keep);
    let report = ingest::ingest(specs, &opts, &Registry::builtin(), &mut sink, &|_, _| {})?;
    Ok(Ingested { tables: sink.tables, report, rejects: sink.rejects })
}

/// Keeps the rows in `[since, until)` (ms since the epoch, UTC; either end open).
pub fn keep_range(tables: &mut Tables, since: Option<i64>, until: Option<i64>) -> PolarsResult<()> {
    if since.is_none() && until.is_none() {
        return Ok(());
    }
    for df in tables.values_mut() {
        let ts = df.column(schema::TS)?.datetime()?.physical().clone();
        let keep: BooleanChunked = ts
            .iter()
            .map(|t| {
                Some(t.is_some_and(|t| since.is_none_or(|s| t >= s) && until.is_none_or(|u| t < u)))
            })
            .collect();
        *df = df.filter(&keep)?;
    }
    tables.retain(|_, df| df.height() > 0);
    Ok(())
}

/// Keeps the rows at or before `cut_ms` (ms since the epoch, UTC).
pub fn cut(tables: &mut Tables, cut_ms: i64) -> PolarsResult<()> {
    for df in tables.values_mut() {
        let keep = df.column(schema::TS)?.datetime()?.physical().lt_eq(cut_ms);
        *df = df.filter(&keep)?;
    }
    Ok(())
}

/// Keeps the rows before `end_ms` (exclusive), for windows that end at a bucket boundary.
pub fn cut_before(tables: &mut Tables, end_ms: i64) -> PolarsResult<()> {
    cut(tables, end_ms - 1)
}

/// The earliest and latest `ts` over all tables, ms since the epoch.
pub fn span(tables: &Tables) -> Option<(i64, i64)> {
    let mut span: Option<(i64, i64)> = None;
    for df in tables.values() {
        let Ok(ts) = df.column(schema::TS).and_then(|c| c.datetime().cloned()) else { continue };
        if let (Some(lo), Some(hi)) = (ts.physical().min(), ts.physical().max()) {
            span = Some(span.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
        }
    }
    span
}

/// Rows set aside because their time lies far from the rest of the data: a device without a
/// clock (1970), a typo'd year (2030), a corrupt field. One such row would otherwise stretch
/// the series over decades, and put the nightly window in the wrong year.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outliers {
    /// Rows set aside, per source (`source` column value).
    pub by_source: BTreeMap<String, u64>,
    /// `source:line at time` of the first of them (at most [`OUTLIER_LINES`]).
    pub lines: Vec<String>,
    /// The span kept, ms since the epoch.
    pub kept: Option<(i64, i64)>,
}

impl Outliers {
    pub fn rows(&self) -> u64 {
        self.by_source.values().sum()
    }

    /// One line for people: `n` rows set aside, which, and why.
    pub fn note(&self, n: u64) -> Option<String> {
        let (lo, hi) = self.kept?;
        (n > 0).then(|| {
            format!(
                "{} set aside: their times lie {} days or more from the rest of the data \
                 ({} to {}); first: {}",
                crate::units::plural(n, "row"),
                OUTLIER_GAP_MS / 86_400_000,
                crate::units::rfc3339_secs(lo),
                crate::units::rfc3339_secs(hi),
                self.lines.join(", ")
            )
        })
    }
}

/// Adds the outliers' note to the sources they came from (as a source of its own, `(tables)`,
/// when none of them is known by that name, as with tables read back without ingest.json).
pub fn note_outliers(o: &Outliers, inputs: &mut Vec<crate::ingest::SourceReport>) {
    let mut placed = false;
    for r in inputs.iter_mut() {
        if let Some(note) = o.by_source.get(&r.path).and_then(|n| o.note(*n)) {
            r.notes.push(note);
            placed = true;
        }
    }
    if let (false, Some(note)) = (placed, o.note(o.rows())) {
        inputs.push(crate::ingest::SourceReport {
            path: "(tables)".into(),
            notes: vec![note],
            ..Default::default()
        });
    }
}

/// A stretch of rows this far from all others is a cluster of its own...
pub const OUTLIER_GAP_MS: i64 = 30 * 86_400_000;
/// ...and is set aside when it holds less than this share of all rows.
pub const OUTLIER_SHARE: f64 = 0.01;
/// Set-aside rows named in the note.
pub const OUTLIER_LINES: usize = 5;

/// Finds the dense span of the data and sets aside rows outside it (see [`Outliers`]). Rows
/// form clusters where they are less than [`OUTLIER_GAP_MS`] apart (over all tables); a
/// cluster with less than [`OUTLIER_SHARE`] of the rows is set aside, unless it is the largest.
pub fn set_aside_outliers(tables: &mut Tables) -> PolarsResult<Outliers> {
    // Clusters of each table (sorted by ts), then merged over tables.
    let mut spans: Vec<(i64, i64, u64)> = Vec::new();
    for df in tables.values() {
        let mut cur: Option<(i64, i64, u64)> = None;
        for &t in schema::ts_ms(df)?.iter() {
            cur = match cur {
                Some((lo, hi, n)) if t - hi < OUTLIER_GAP_MS => Some((lo, hi.max(t), n + 1)),
                Some(c) => {
                    spans.push(c);
                    Some((t, t, 1))
                }
                None => Some((t, t, 1)),
            };
        }
        spans.extend(cur);
    }
    spans.sort_unstable();
    let mut clusters: Vec<(i64, i64, u64)> = Vec::new();
    for (lo, hi, n) in spans {
        match clusters.last_mut() {
            Some(c) if lo - c.1 < OUTLIER_GAP_MS => {
                c.1 = c.1.max(hi);
                c.2 += n;
            }
            _ => clusters.push((lo, hi, n)),
        }
    }
    let total: u64 = clusters.iter().map(|c| c.2).sum();
    let largest = clusters.iter().map(|c| c.2).max().unwrap_or(0);
    let keep: Vec<(i64, i64)> = clusters
        .iter()
        .filter(|c| c.2 == largest || c.2 as f64 >= OUTLIER_SHARE * total as f64)
        .map(|c| (c.0, c.1))
        .collect();
    let mut out = Outliers {
        kept: keep.first().zip(keep.last()).map(|(a, b)| (a.0, b.1)),
        ..Default::default()
    };
    if keep.len() == clusters.len() {
        return Ok(out);
    }
    let inside = |t: i64| keep.iter().any(|(lo, hi)| (*lo..=*hi).contains(&t));
    let mut aside: Vec<(i64, String, i64)> = Vec::new();
    for df in tables.values_mut() {
        let ts = df.column(schema::TS)?.datetime()?.physical().clone();
        let mask: BooleanChunked = ts.iter().map(|t| Some(t.is_some_and(inside))).collect();
        if mask.all() {
            continue;
        }
        let source = schema::texts(df.column(schema::SOURCE)?)?;
        let line = schema::lines(df.column(schema::LINE)?)?;
        for ((t, s), l) in ts.iter().zip(source).zip(line) {
            if let Some(t) = t.filter(|t| !inside(*t)) {
                let s = s.unwrap_or("?").to_string();
                *out.by_source.entry(s.clone()).or_default() += 1;
                aside.push((t, s, l.unwrap_or(0)));
            }
        }
        *df = df.filter(&mask)?;
    }
    aside.sort_by(|a, b| (&a.1, a.2).cmp(&(&b.1, b.2)));
    out.lines = aside
        .iter()
        .take(OUTLIER_LINES)
        .map(|(t, s, l)| format!("{s}:{l} at {}", crate::units::rfc3339_secs(*t)))
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::{DataFrame, DataType, IntoColumn, NamedFrom, Series, TimeUnit};
    use polars::series::IsSorted;

    /// Analysis reads a finished table's sorted flag (`schema::mark_ts_sorted`) after the
    /// range is cut and outliers are set aside: Polars' filter keeps it.
    #[test]
    fn cutting_a_sorted_table_keeps_its_sorted_flag() {
        let ms: Vec<i64> = (0..10).map(|i| i * 60_000).collect();
        let ts = Series::new(schema::TS.into(), ms)
            .cast(&DataType::Datetime(TimeUnit::Milliseconds, None));
        let mut df = DataFrame::new(10, vec![ts.unwrap().into_column()]).unwrap();
        schema::mark_ts_sorted(&mut df).unwrap();
        let mut tables = Tables::from([(Role::Login, df)]);
        keep_range(&mut tables, Some(120_000), Some(480_000)).unwrap();
        cut(&mut tables, 300_000).unwrap();
        let df = &tables[&Role::Login];
        assert_eq!(schema::ts_ms(df).unwrap().as_ref(), [120_000, 180_000, 240_000, 300_000]);
        assert_eq!(df.column(schema::TS).unwrap().is_sorted_flag(), IsSorted::Ascending);
        // Rows taken out of the middle (outliers set aside) as well.
        let every_other: BooleanChunked = (0..4).map(|i| Some(i % 2 == 0)).collect();
        let df = df.filter(&every_other).unwrap();
        assert_eq!(schema::ts_ms(&df).unwrap().as_ref(), [120_000, 240_000]);
        assert_eq!(df.column(schema::TS).unwrap().is_sorted_flag(), IsSorted::Ascending);
    }
}

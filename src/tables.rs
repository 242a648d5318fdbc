//! The role tables in memory: read back from an ingest directory, or ingested straight from
//! logs, and cut at an instant. One frame per role, sorted by `ts`, `source`, `line`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use polars::prelude::{
    ChunkAgg, ChunkCompareIneq, DataFrame, ParquetReader, PolarsResult, SerReader,
};

use crate::ingest::sink::Columns;
use crate::ingest::{self, IngestOptions, IngestReport, MemorySink, Registry, Reject, SourceSpec};
use crate::schema::{self, Role};

/// Tables by role; a role with no rows has no entry.
pub type Tables = BTreeMap<Role, DataFrame>;

/// Reads DIR/<role>/**/*.parquet (as `rootline ingest` writes them) into one frame per role.
pub fn read_dir(dir: &Path) -> anyhow::Result<Tables> {
    read_dir_keeping(dir, None)
}

/// [`read_dir`] with only the columns analysis reads ([`crate::correlate::COLUMNS_READ`]).
pub fn read_dir_for_analysis(dir: &Path) -> anyhow::Result<Tables> {
    read_dir_keeping(dir, Some(crate::correlate::COLUMNS_READ))
}

fn read_dir_keeping(dir: &Path, keep: Option<Columns>) -> anyhow::Result<Tables> {
    let mut out = BTreeMap::new();
    for role in Role::ALL {
        let pattern = dir.join(role.as_str()).join("**").join("*.parquet");
        let mut paths: Vec<PathBuf> =
            glob::glob(&pattern.to_string_lossy())?.filter_map(Result::ok).collect();
        paths.sort();
        let mut frame: Option<DataFrame> = None;
        for p in paths {
            let file =
                std::fs::File::open(&p).with_context(|| format!("cannot read {}", p.display()))?;
            let columns = ingest::sink::kept_columns(keep, role)
                .map(|names| names.into_iter().map(str::to_string).collect());
            let df = ParquetReader::new(file)
                .with_columns(columns)
                .finish()
                .with_context(|| format!("cannot read {}", p.display()))?;
            let df = ingest::sink::keep_columns(df, keep, role)?;
            match frame.as_mut() {
                Some(f) => {
                    f.vstack_mut_owned(df)?;
                }
                None => frame = Some(df),
            }
        }
        if let Some(df) = frame {
            out.insert(role, ingest::sink::in_order(df)?);
        }
    }
    if out.is_empty() {
        bail!(
            "no tables under {}; make them with rootline ingest --out {}",
            dir.display(),
            dir.display()
        );
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
pub fn ingest(specs: &[SourceSpec]) -> anyhow::Result<Ingested> {
    ingest_keeping(specs, None)
}

/// Ingests sources into memory with only the columns analysis reads
/// ([`crate::correlate::COLUMNS_READ`]).
pub fn ingest_for_analysis(specs: &[SourceSpec]) -> anyhow::Result<Ingested> {
    ingest_keeping(specs, Some(crate::correlate::COLUMNS_READ))
}

fn ingest_keeping(specs: &[SourceSpec], keep: Option<Columns>) -> anyhow::Result<Ingested> {
    let mut sink = MemorySink { keep, ..Default::default() };
    let report = ingest::ingest(
        specs,
        &IngestOptions::default(),
        &Registry::builtin(),
        &mut sink,
        &|_, _| {},
    )
    .with_context(|| format!("failed to ingest {} source(s)", specs.len()))?;
    Ok(Ingested { tables: sink.tables, report, rejects: sink.rejects })
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

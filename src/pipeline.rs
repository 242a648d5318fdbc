//! The one flow from logs to findings, for every command that analyzes:
//!
//! ```text
//! Input (incident.toml | files + settings | ingest directory)
//!   --Incident::load-->    role tables, cut to the range asked for, far-off rows set aside,
//!                          with what ingest made of each source (inputs) and its rejects
//!   --Incident::analyze--> series (detect::series) -> episodes (detect) -> chain (correlate)
//!                          = Analysis { series, findings }
//! ```
//! `cli` (analyze, report, query), `check` and `eval` call these; nothing else wires the
//! stages. No clock and no printing: the range is passed in, and what was assumed or set aside
//! is in the inputs' notes.
//!
//! ```no_run
//! use rootline::pipeline::{Incident, Input, LoadOptions};
//! use rootline::correlate::AnalyzeOptions;
//! let input = Input::Config("sample-data/skype-2007/incident.toml".into());
//! let incident = Incident::load(&input, &LoadOptions::default())?;
//! let analysis = incident.analyze(&AnalyzeOptions::default())?;
//! println!("{} surges", analysis.findings.surges.len());
//! # Ok::<(), rootline::pipeline::PipelineError>(())
//! ```

use std::path::{Path, PathBuf};

use polars::prelude::PolarsError;

use crate::config::IncidentConfig;
use crate::correlate::{self, AnalyzeOptions};
use crate::detect::{self, SeriesSet};
use crate::error::{ConfigError, IngestError};
use crate::findings::Findings;
use crate::ingest::{Reject, SourceReport, SourceSpec, output::Manifest};
use crate::schema::Tables;
use crate::tables;

/// Where an incident's data comes from.
#[derive(Debug, Clone)]
pub enum Input {
    /// An incident.toml: its sources (relative to it) and its title.
    Config(PathBuf),
    /// Files with their settings, as the command line gives them.
    Specs(Vec<SourceSpec>),
    /// The directory `rootline ingest --out` wrote: its tables and its ingest.json.
    Tables(PathBuf),
}

impl Input {
    /// The sources to ingest, with a config's globs expanded; `None` for an ingest directory
    /// (its tables are read back, not ingested).
    pub fn specs(&self) -> Result<Option<Vec<SourceSpec>>, PipelineError> {
        match self {
            Input::Config(path) => {
                let cfg = IncidentConfig::load(path)?;
                Ok(Some(cfg.specs(path.parent().unwrap_or(Path::new("")))?))
            }
            Input::Specs(specs) => Ok(Some(specs.clone())),
            Input::Tables(_) => Ok(None),
        }
    }
}

/// Which columns to load: what analysis reads (the default, and far less memory), or all of
/// them (for SQL).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Columns {
    #[default]
    Analysis,
    All,
}

/// How to load an incident.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub columns: Columns,
    /// Rows at or after this instant (ms since the epoch, UTC) are kept...
    pub since: Option<i64>,
    /// ...and rows before this one.
    pub until: Option<i64>,
}

impl LoadOptions {
    pub fn with_columns(mut self, columns: Columns) -> Self {
        self.columns = columns;
        self
    }
    /// Keeps rows in `[since, until)`; either end may be open.
    pub fn with_range(mut self, since: Option<i64>, until: Option<i64>) -> Self {
        self.since = since;
        self.until = until;
        self
    }
}

/// What can stop the pipeline. Bad lines never do: they are rejects.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Polars(#[from] PolarsError),
}

/// An incident's data, loaded.
#[derive(Debug, Clone)]
pub struct Incident {
    /// The config's title, when the input was a config that has one.
    pub title: Option<String>,
    pub tables: Tables,
    /// What ingest made of each source (read back from ingest.json for an ingest directory),
    /// with notes of what was assumed or set aside.
    pub inputs: Vec<SourceReport>,
    /// Lines not understood (empty when read from an ingest directory: they are in its
    /// rejects.jsonl).
    pub rejects: Vec<Reject>,
}

/// The result of analyzing: the series detection looked at, and the findings.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub series: SeriesSet,
    pub findings: Findings,
}

impl Incident {
    /// Loads an incident: ingests its sources (or reads an ingest directory back), keeps the
    /// rows in the range asked for, and sets aside rows far from the rest of the data.
    pub fn load(input: &Input, o: &LoadOptions) -> Result<Incident, PipelineError> {
        let (title, mut incident) = match input {
            Input::Config(path) => {
                let cfg = IncidentConfig::load(path)?;
                let base = path.parent().unwrap_or(Path::new(""));
                (cfg.title.clone(), Self::ingest(&cfg.specs(base)?, o)?)
            }
            Input::Specs(specs) => (None, Self::ingest(specs, o)?),
            Input::Tables(dir) => (None, Self::read_back(dir, o)?),
        };
        incident.title = title;
        tables::keep_range(&mut incident.tables, o.since, o.until)?;
        let outliers = tables::set_aside_outliers(&mut incident.tables)?;
        tables::note_outliers(&outliers, &mut incident.inputs);
        Ok(incident)
    }

    fn ingest(specs: &[SourceSpec], o: &LoadOptions) -> Result<Incident, PipelineError> {
        let got = match o.columns {
            Columns::All => tables::ingest(specs)?,
            Columns::Analysis => tables::ingest_for_analysis(specs)?,
        };
        Ok(Incident {
            title: None,
            tables: got.tables,
            inputs: got.report.sources,
            rejects: got.rejects,
        })
    }

    fn read_back(dir: &Path, o: &LoadOptions) -> Result<Incident, PipelineError> {
        let tables = match o.columns {
            Columns::All => tables::read_dir(dir)?,
            Columns::Analysis => tables::read_dir_for_analysis(dir)?,
        };
        let inputs = Manifest::read(dir)?.map(|m| m.report.sources).unwrap_or_default();
        Ok(Incident { title: None, tables, inputs, rejects: Vec::new() })
    }

    /// The per-bucket series of the tables.
    pub fn series(&self, bucket_ms: i64) -> Result<SeriesSet, PipelineError> {
        Ok(detect::series::build(&self.tables, bucket_ms)?)
    }

    /// Series, episodes and the chain, with the options given.
    pub fn analyze(&self, o: &AnalyzeOptions) -> Result<Analysis, PipelineError> {
        let series = self.series(o.bucket_ms)?;
        let findings = self.analyze_series(&series, o)?;
        Ok(Analysis { series, findings })
    }

    /// Episodes and the chain over series built elsewhere (the nightly check's, which carry
    /// stored history before the logs).
    pub fn analyze_series(
        &self,
        series: &SeriesSet,
        o: &AnalyzeOptions,
    ) -> Result<Findings, PipelineError> {
        Ok(correlate::analyze_series(series, &self.tables, self.inputs.clone(), o)?)
    }
}

/// The file `rootline ingest --series` writes beside the role tables.
pub const SERIES_FILE: &str = "series.parquet";

/// Ingests `specs` into `dir` as `rootline ingest` does and, with `series_bucket_ms`, also
/// writes the per-bucket series of what was ingested to DIR/[`SERIES_FILE`] (the contract in
/// [`SeriesSet`]'s `to_contract_frame`): the file another engine's `queries/series.sql` makes
/// at scale.
pub fn ingest_to_dir(
    specs: &[SourceSpec],
    opts: &crate::ingest::IngestOptions,
    dir: &Path,
    per_minute: bool,
    series_bucket_ms: Option<i64>,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<crate::ingest::output::Written, PipelineError> {
    let registry = crate::ingest::Registry::builtin();
    let then = |staging: &Path| -> Result<(), IngestError> {
        let Some(bucket_ms) = series_bucket_ms else { return Ok(()) };
        let path = staging.join(SERIES_FILE);
        let err = |e: &dyn std::fmt::Display| IngestError::Source {
            path: path.clone(),
            message: format!("cannot write the series: {e}"),
        };
        let tables = tables::read_dir_for_analysis(staging)?;
        let mut df = detect::series::build(&tables, bucket_ms)
            .and_then(|s| s.to_contract_frame())
            .map_err(|e| err(&e))?;
        let file = std::fs::File::create(&path)
            .map_err(|source| IngestError::Write { path: path.clone(), source })?;
        polars::prelude::ParquetWriter::new(file).finish(&mut df).map_err(|e| err(&e))?;
        Ok(())
    };
    Ok(crate::ingest::output::ingest_to_dir_then(
        specs, opts, &registry, dir, None, per_minute, &then, progress,
    )?)
}

/// Ingests `specs` as one shard of the tree in `dir`, beside other runs that write it too, at
/// once or one after another (see [`crate::ingest::output`]): the library side of
/// `rootline ingest --shard NAME`. The tree reads as one ingest directory; its series come
/// from the whole tree (`analyze --tables`, or queries/series.sql on any engine).
pub fn ingest_shard(
    specs: &[SourceSpec],
    opts: &crate::ingest::IngestOptions,
    dir: &Path,
    shard: &str,
    per_minute: bool,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<crate::ingest::output::Written, PipelineError> {
    let registry = crate::ingest::Registry::builtin();
    Ok(crate::ingest::output::ingest_to_dir_then(
        specs,
        opts,
        &registry,
        dir,
        Some(shard),
        per_minute,
        &|_| Ok(()),
        progress,
    )?)
}

/// Reads a series table of the contract (made by `rootline ingest --series`, or by any engine
/// running `queries/series.sql`): one Parquet file, or a directory of them (Spark writes
/// `part-*.parquet` files; hidden and `_`-prefixed files such as `_SUCCESS` are not parts).
pub fn read_series(path: &Path) -> Result<SeriesSet, PipelineError> {
    use polars::prelude::{ParquetReader, SerReader};
    let bad = |path: &Path, message: String| {
        PipelineError::Ingest(IngestError::Source { path: path.to_path_buf(), message })
    };
    let read_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PipelineError::Ingest(IngestError::Read { path, source })
    };
    let parts: Vec<std::path::PathBuf> = if path.is_dir() {
        let mut parts: Vec<_> = std::fs::read_dir(path)
            .map_err(read_err(path))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                let name = p.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
                p.is_file()
                    && name.ends_with(".parquet")
                    && !name.starts_with('.')
                    && !name.starts_with('_')
            })
            .collect();
        parts.sort();
        if parts.is_empty() {
            return Err(bad(path, "is a directory with no .parquet file in it".into()));
        }
        parts
    } else {
        vec![path.to_path_buf()]
    };
    let mut df: Option<polars::prelude::DataFrame> = None;
    for part in &parts {
        let file = std::fs::File::open(part).map_err(read_err(part))?;
        let one = ParquetReader::new(file)
            .finish()
            .map_err(|e| bad(part, format!("cannot be read as a Parquet table: {e}")))?;
        match &mut df {
            None => df = Some(one),
            Some(df) => {
                df.vstack_mut(&one).map_err(|e| {
                    bad(part, format!("does not have the columns of {}: {e}", parts[0].display()))
                })?;
            }
        }
    }
    let df = df.expect("at least one part");
    SeriesSet::from_contract_frame(&df).map_err(|e| bad(path, e.to_string()))
}

impl Incident {
    /// No data but the series: an incident whose evidence lines are not available.
    pub fn without_tables() -> Incident {
        Incident { title: None, tables: Tables::new(), inputs: Vec::new(), rejects: Vec::new() }
    }
}

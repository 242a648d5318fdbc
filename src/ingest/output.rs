//! Ingest into a directory (`rootline ingest --out DIR`): the role tables, `rejects.jsonl`,
//! `ingest.json` and, when asked, `login_per_minute.csv`, put in place only when the run
//! succeeds, and replacing only what an earlier rootline run wrote there.
//!
//! A run writes everything under `DIR/.rootline-staging-<pid>/`. On success it removes the
//! files the previous run's `ingest.json` lists (its manifest), moves the new ones in, and
//! writes `ingest.json` last; on failure the staging directory goes and DIR is as it was.
//! Before reading any input it refuses a DIR holding a role directory or one of its file
//! names that no `ingest.json` there lists, and an input that is among the files it would
//! replace. It never removes anything else: a user's `DIR/change/q3/notes.txt` stays.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{IngestOptions, IngestReport, ParquetSink, PerMinute, Registry, Sink, SourceSpec};
use crate::error::IngestError;
use crate::schema::Role;

/// The manifest: per-source counts and every file the run wrote.
pub const MANIFEST: &str = "ingest.json";
pub const REJECTS: &str = "rejects.jsonl";
pub const PER_MINUTE: &str = "login_per_minute.csv";
const STAGING: &str = ".rootline-staging-";

/// `ingest.json`: what became of every source, and the files the run wrote (relative to the
/// output directory, `/`-separated): `files` the tables, `outputs` everything besides.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(flatten)]
    pub report: IngestReport,
    pub files: Vec<String>,
    #[serde(default)]
    pub outputs: Vec<String>,
}

impl Manifest {
    /// Reads DIR/ingest.json; `Ok(None)` when there is none.
    pub fn read(dir: &Path) -> Result<Option<Manifest>, IngestError> {
        let path = dir.join(MANIFEST);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(IngestError::Read { path, source }),
        };
        serde_json::from_str(&text).map(Some).map_err(|e| IngestError::Source {
            path,
            message: format!(
                "is not an ingest.json rootline wrote ({e}); give --out a new directory"
            ),
        })
    }
}

/// An output directory being written: see the module doc.
pub struct OutputDir {
    dir: PathBuf,
    staging: PathBuf,
    /// Files of the earlier run to replace, relative to `dir`.
    old: BTreeSet<PathBuf>,
    committed: bool,
}

/// Names rootline writes at the top of an output directory.
fn own_names() -> Vec<String> {
    let mut names: Vec<String> = Role::ALL.iter().map(|r| r.as_str().to_string()).collect();
    names.extend([REJECTS, PER_MINUTE, MANIFEST].map(String::from));
    names
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

impl OutputDir {
    /// Checks `dir` and the inputs, then makes the staging directory.
    pub fn prepare(dir: &Path, inputs: &[&Path]) -> Result<OutputDir, IngestError> {
        let refuse = |path: PathBuf, message: String| IngestError::Source { path, message };
        let mut old = BTreeSet::new();
        if dir.exists() && !dir.is_dir() {
            return Err(refuse(dir.to_path_buf(), "is a file, not a directory".into()));
        }
        match Manifest::read(dir)? {
            Some(m) => {
                for f in m.files.iter().chain(&m.outputs) {
                    old.insert(PathBuf::from(f));
                }
                for name in [REJECTS, PER_MINUTE, MANIFEST] {
                    if dir.join(name).is_file() {
                        old.insert(PathBuf::from(name));
                    }
                }
            }
            None => {
                for name in own_names() {
                    let p = dir.join(&name);
                    if p.exists() {
                        return Err(refuse(
                            p,
                            format!(
                                "is already there and no {MANIFEST} says rootline wrote it; \
                                 give --out a new or empty directory, or one an earlier \
                                 `rootline ingest` made"
                            ),
                        ));
                    }
                }
            }
        }
        for input in inputs {
            if let Some(f) = old.iter().find(|f| same_file(input, &dir.join(f))) {
                return Err(refuse(
                    input.to_path_buf(),
                    format!(
                        "is {} of the earlier ingest in {}, which this run would replace; \
                         ingest into another directory",
                        f.display(),
                        dir.display()
                    ),
                ));
            }
        }
        fs::create_dir_all(dir)
            .map_err(|source| IngestError::Write { path: dir.to_path_buf(), source })?;
        remove_stale_staging(dir);
        let staging = dir.join(format!("{STAGING}{}", std::process::id()));
        if staging.exists() {
            let _ = fs::remove_dir_all(&staging);
        }
        fs::create_dir_all(&staging)
            .map_err(|source| IngestError::Write { path: staging.clone(), source })?;
        Ok(OutputDir { dir: dir.to_path_buf(), staging, old, committed: false })
    }

    /// Where the run writes until it commits.
    pub fn staging(&self) -> &Path {
        &self.staging
    }

    /// Puts the staged files in place: the earlier run's go, the new ones move in, and the
    /// manifest is written last. `tables` are the table files, relative to the directory.
    pub fn commit(mut self, report: &IngestReport, tables: &[PathBuf]) -> Result<(), IngestError> {
        let staged = files_under(&self.staging)?;
        // Nothing is removed until every new file is known to land where nothing of the user's is.
        for rel in &staged {
            let target = self.dir.join(rel);
            if target.exists() && !self.old.contains(rel) {
                return Err(IngestError::Source {
                    path: target,
                    message: "is in the way and rootline did not write it; nothing was changed"
                        .into(),
                });
            }
        }
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| IngestError::Write { path, source }
        };
        let manifest_path = self.dir.join(MANIFEST);
        if manifest_path.exists() {
            fs::remove_file(&manifest_path).map_err(write_err(&manifest_path))?;
        }
        for rel in &self.old {
            let p = self.dir.join(rel);
            if p.is_file() {
                fs::remove_file(&p).map_err(write_err(&p))?;
            }
            remove_empty_parents(&self.dir, &p);
        }
        for rel in &staged {
            let (from, to) = (self.staging.join(rel), self.dir.join(rel));
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent).map_err(write_err(parent))?;
            }
            fs::rename(&from, &to).map_err(write_err(&to))?;
        }
        let _ = fs::remove_dir_all(&self.staging);
        let slash = |p: &PathBuf| p.to_string_lossy().replace('\\', "/");
        let manifest = Manifest {
            report: report.clone(),
            files: tables.iter().map(slash).collect(),
            outputs: staged.iter().filter(|p| !tables.contains(p)).map(slash).collect(),
        };
        let json = serde_json::to_string_pretty(&manifest).map_err(|e| IngestError::Source {
            path: manifest_path.clone(),
            message: e.to_string(),
        })?;
        crate::atomic::write(&manifest_path, (json + "\n").as_bytes())
            .map_err(write_err(&manifest_path))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// Staging directories of runs that were killed (their process is gone).
fn remove_stale_staging(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(STAGING).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !crate::atomic::process_alive(pid) {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// Every file under `root`, relative to it, sorted.
fn files_under(root: &Path) -> Result<Vec<PathBuf>, IngestError> {
    let mut out = Vec::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        let dir = root.join(&rel);
        let rd = fs::read_dir(&dir).map_err(|source| IngestError::Read { path: dir, source })?;
        for e in rd.filter_map(Result::ok) {
            let child = rel.join(e.file_name());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(child);
            } else {
                out.push(child);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Removes the directories between `file` and `root` that are left empty.
fn remove_empty_parents(root: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

/// What [`ingest_to_dir`] made.
pub struct Written {
    pub report: IngestReport,
    /// The table files, relative to the directory, sorted.
    pub tables: Vec<PathBuf>,
}

/// Ingests `specs` into `dir` (see the module doc): the library side of `rootline ingest`.
pub fn ingest_to_dir(
    specs: &[SourceSpec],
    opts: &IngestOptions,
    registry: &Registry,
    dir: &Path,
    per_minute: bool,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<Written, IngestError> {
    ingest_to_dir_then(specs, opts, registry, dir, per_minute, &|_| Ok(()), progress)
}

/// [`ingest_to_dir`], with `then` run over the staging directory once the tables are written
/// and before they land: whatever it writes there lands with them (as `outputs` in the
/// manifest), and if it fails nothing lands.
pub fn ingest_to_dir_then(
    specs: &[SourceSpec],
    opts: &IngestOptions,
    registry: &Registry,
    dir: &Path,
    per_minute: bool,
    then: &dyn Fn(&Path) -> Result<(), IngestError>,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<Written, IngestError> {
    for spec in specs {
        super::plan::check_spec(spec, registry)?;
    }
    // With --strict, a reject fails the run, but the files (the rejects above all) still land.
    let inputs: Vec<&Path> = specs.iter().map(|s| s.path.as_path()).collect();
    let out = OutputDir::prepare(dir, &inputs)?;
    let mut sink = ParquetSink::create(out.staging())?;
    let mut counter = PerMinute::new(&mut sink);
    let target: &mut dyn Sink = if per_minute { &mut counter } else { counter.inner };
    let (report, strict_failure) = super::ingest_all(specs, opts, registry, target, progress)?;
    if per_minute {
        let path = out.staging().join(PER_MINUTE);
        fs::write(&path, counter.to_csv())
            .map_err(|source| IngestError::Write { path: path.clone(), source })?;
    }
    let tables = sink.files.clone();
    then(out.staging())?;
    out.commit(&report, &tables)?;
    match strict_failure {
        Some(e) => Err(e),
        None => Ok(Written { report, tables }),
    }
}

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
//!
//! Shards (`--shard NAME`): many runs, one per file or host, may write one tree, each at its
//! own pace or at once (`xargs -P`, Spark tasks). A shard's parts are named
//! `part-<NAME>-<n>.parquet`, so they never clash; its manifest, rejects and per-minute counts
//! are under `DIR/shards/<NAME>/`; a rerun of a shard replaces only that shard's files. After
//! each shard lands, `DIR/ingest.json` is rebuilt, under a lock, as the index of the tree:
//! the union of every shard's manifest, with the shards' names, so everything that reads an
//! ingest directory reads a tree of shards the same way.

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
    /// In a tree of shards' index: the shards' names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<String>,
}

/// Where a shard's own files go: `shards/<NAME>/`.
pub const SHARDS: &str = "shards";

/// Checks a shard's name: letters, digits, `.`, `_` and `-`, at most 64, not starting with
/// `.`; it goes into file names.
pub fn check_shard(name: &str) -> Result<(), IngestError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(IngestError::Source {
            path: PathBuf::from(name),
            message: "is not a shard name: use letters, digits, '.', '_' and '-' (at most 64, \
                      not starting with '.'), e.g. --shard host-a"
                .into(),
        })
    }
}

impl Manifest {
    /// Every file the manifest says its run wrote, relative to the directory.
    fn claimed(&self) -> impl Iterator<Item = PathBuf> + '_ {
        self.files.iter().chain(&self.outputs).map(PathBuf::from)
    }

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
    /// The shard this run writes, if it is one.
    shard: Option<String>,
    committed: bool,
}

/// Names rootline writes at the top of an output directory.
fn own_names() -> Vec<String> {
    let mut names: Vec<String> = Role::ALL.iter().map(|r| r.as_str().to_string()).collect();
    names.extend([REJECTS, PER_MINUTE, MANIFEST].map(String::from));
    names
}

/// Refuses a directory holding one of rootline's names that no manifest claims; `made` says
/// which directories are fine to give instead.
fn refuse_unclaimed(dir: &Path, made: &str) -> Result<(), IngestError> {
    match own_names().into_iter().map(|n| dir.join(n)).find(|p| p.exists()) {
        Some(path) => Err(IngestError::Source {
            path,
            message: format!(
                "is already there and no {MANIFEST} says rootline wrote it; give --out a new or \
                 empty directory, or one {made}"
            ),
        }),
        None => Ok(()),
    }
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
        Self::prepare_shard(dir, inputs, None)
    }

    /// [`OutputDir::prepare`] for one shard of a tree (see the module doc), or for the whole
    /// directory when `shard` is `None`.
    pub fn prepare_shard(
        dir: &Path,
        inputs: &[&Path],
        shard: Option<&str>,
    ) -> Result<OutputDir, IngestError> {
        let refuse = |path: PathBuf, message: String| IngestError::Source { path, message };
        let mut old = BTreeSet::new();
        if dir.exists() && !dir.is_dir() {
            return Err(refuse(dir.to_path_buf(), "is a file, not a directory".into()));
        }
        let index = Manifest::read(dir)?;
        if let Some(name) = shard {
            check_shard(name)?;
            if index.as_ref().is_some_and(|m| m.shards.is_empty()) {
                return Err(refuse(
                    dir.join(MANIFEST),
                    "is the manifest of one whole ingest, not of shards; give --shard runs a \
                     new directory (or ingest here without --shard to replace that run)"
                        .into(),
                ));
            }
            // A tree of shards is known by its shards/ directory, made before any shard lands.
            if index.is_none() && !dir.join(SHARDS).is_dir() {
                refuse_unclaimed(dir, "that earlier `rootline ingest --shard` runs made")?;
            }
            if let Some(m) = Manifest::read(&dir.join(SHARDS).join(name))? {
                old.extend(m.claimed());
            }
        }
        match index.filter(|_| shard.is_none()) {
            Some(m) => {
                old.extend(m.claimed());
                for name in [REJECTS, PER_MINUTE, MANIFEST] {
                    if dir.join(name).is_file() {
                        old.insert(PathBuf::from(name));
                    }
                }
            }
            None if shard.is_some() => {}
            None => refuse_unclaimed(dir, "an earlier `rootline ingest` made")?,
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
        if shard.is_some() {
            let shards = dir.join(SHARDS);
            fs::create_dir_all(&shards)
                .map_err(|source| IngestError::Write { path: shards, source })?;
        }
        remove_stale_staging(dir);
        // Shards of one process (threads, as in the tests) each have their own.
        let staging = dir.join(match shard {
            Some(name) => format!("{STAGING}{}-{name}", std::process::id()),
            None => format!("{STAGING}{}", std::process::id()),
        });
        if staging.exists() {
            let _ = fs::remove_dir_all(&staging);
        }
        fs::create_dir_all(&staging)
            .map_err(|source| IngestError::Write { path: staging.clone(), source })?;
        Ok(OutputDir {
            dir: dir.to_path_buf(),
            staging,
            old,
            shard: shard.map(str::to_string),
            committed: false,
        })
    }

    /// Where, relative to the directory, this run's manifest, rejects and per-minute counts go.
    pub fn own_dir(&self) -> PathBuf {
        match &self.shard {
            Some(name) => Path::new(SHARDS).join(name),
            None => PathBuf::new(),
        }
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
        let manifest_path = self.dir.join(self.own_dir()).join(MANIFEST);
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
            let parent = to.parent().unwrap_or(&self.dir);
            fs::create_dir_all(parent).map_err(write_err(parent))?;
            if let Err(e) = fs::rename(&from, &to) {
                // A shard landing at once may have just removed the day's directory it left
                // empty: make it again, once.
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(write_err(&to)(e));
                }
                fs::create_dir_all(parent).map_err(write_err(parent))?;
                fs::rename(&from, &to).map_err(write_err(&to))?;
            }
        }
        let _ = fs::remove_dir_all(&self.staging);
        let slash = |p: &PathBuf| p.to_string_lossy().replace('\\', "/");
        let manifest = Manifest {
            report: report.clone(),
            files: tables.iter().map(slash).collect(),
            outputs: staged.iter().filter(|p| !tables.contains(p)).map(slash).collect(),
            shards: Vec::new(),
        };
        write_manifest(&manifest_path, &manifest)?;
        self.committed = true;
        if self.shard.is_some() {
            update_index(&self.dir)?;
        }
        Ok(())
    }
}

fn write_manifest(path: &Path, m: &Manifest) -> Result<(), IngestError> {
    let json = serde_json::to_string_pretty(m)
        .map_err(|e| IngestError::Source { path: path.to_path_buf(), message: e.to_string() })?;
    crate::atomic::write(path, (json + "\n").as_bytes())
        .map_err(|source| IngestError::Write { path: path.to_path_buf(), source })
}

/// Rebuilds DIR/ingest.json, the index of a tree of shards, from every shard's manifest, under
/// a lock (DIR/shards/.lock) so that shards landing at once never lose one another.
fn update_index(dir: &Path) -> Result<(), IngestError> {
    let shards = dir.join(SHARDS);
    let lock_path = shards.join(".lock");
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| IngestError::Write { path: lock_path.clone(), source })?;
    lock.lock().map_err(|source| IngestError::Write { path: lock_path.clone(), source })?;
    let mut names: Vec<String> = fs::read_dir(&shards)
        .map_err(|source| IngestError::Read { path: shards.clone(), source })?
        .filter_map(Result::ok)
        .filter(|e| e.path().join(MANIFEST).is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut index = Manifest::default();
    for name in &names {
        let Some(m) = Manifest::read(&shards.join(name))? else { continue };
        index.report.sources.extend(m.report.sources);
        index.files.extend(m.files);
        index.outputs.extend(m.outputs);
        index.outputs.push(format!("{SHARDS}/{name}/{MANIFEST}"));
    }
    index.files.sort();
    index.outputs.sort();
    index.shards = names;
    let written = write_manifest(&dir.join(MANIFEST), &index);
    drop(lock);
    written
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
        let pid = name.strip_prefix(STAGING).and_then(|p| p.split('-').next());
        let Some(pid) = pid.and_then(|p| p.parse::<u32>().ok()) else {
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
#[derive(Debug)]
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
    ingest_to_dir_then(specs, opts, registry, dir, None, per_minute, &|_| Ok(()), progress)
}

/// [`ingest_to_dir`], with `then` run over the staging directory once the tables are written
/// and before they land: whatever it writes there lands with them (as `outputs` in the
/// manifest), and if it fails nothing lands. With `shard`, the run is that shard of the tree
/// in `dir` (see the module doc).
#[allow(clippy::too_many_arguments)]
pub fn ingest_to_dir_then(
    specs: &[SourceSpec],
    opts: &IngestOptions,
    registry: &Registry,
    dir: &Path,
    shard: Option<&str>,
    per_minute: bool,
    then: &dyn Fn(&Path) -> Result<(), IngestError>,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<Written, IngestError> {
    for spec in specs {
        super::plan::check_spec(spec, registry)?;
    }
    // With --strict, a reject fails the run, but the files (the rejects above all) still land.
    let inputs: Vec<&Path> = specs.iter().map(|s| s.path.as_path()).collect();
    let out = OutputDir::prepare_shard(dir, &inputs, shard)?;
    let mut sink = ParquetSink::create_shard(out.staging(), shard)?;
    let mut counter = PerMinute::new(&mut sink);
    let target: &mut dyn Sink = if per_minute { &mut counter } else { counter.inner };
    let (report, strict_failure) = super::ingest_all(specs, opts, registry, target, progress)?;
    if per_minute {
        let path = out.staging().join(out.own_dir()).join(PER_MINUTE);
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

//! The state directory: its lock, the runs kept whole, and the stored series of earlier nights
//! that later ones learn from (see the layout in [`super`]).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use polars::prelude::{ParquetReader, ParquetWriter, SerReader};

use super::CheckError;
use super::status::{CheckResult, json};
use crate::detect::SeriesSet;

/// Takes STATE/lock; says who holds it when another run does.
pub(crate) fn lock(state: &Path) -> Result<File, String> {
    let path = state.join("lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let pid_path = state.join("lock.pid");
    match file.try_lock() {
        Ok(()) => {
            // Who holds it, for the message the next run may give: written whole, so a reader
            // never sees it empty.
            let _ = crate::atomic::write(&pid_path, format!("{}\n", std::process::id()).as_bytes());
            Ok(file)
        }
        Err(fs::TryLockError::WouldBlock) => {
            // The holder writes its pid just after it takes the lock: until then the file may
            // name an earlier run, long gone. Wait a little for a live one.
            let mut holder = None;
            for _ in 0..50 {
                let pid = fs::read_to_string(&pid_path).ok().and_then(|t| t.trim().parse().ok());
                if let Some(pid) = pid.filter(|p| crate::atomic::process_alive(*p)) {
                    holder = Some(pid);
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let who = holder.map_or("pid unknown".to_string(), |p| format!("pid {p}"));
            Err(format!(
                "another rootline check is running ({who}) and holds {}; runs must not overlap",
                path.display()
            ))
        }
        Err(fs::TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
    }
}

/// Removes `.tmp-` and `.old-` entries a killed run left behind.
pub(crate) fn clean_leftovers(state: &Path) {
    let mut dirs = vec![state.to_path_buf(), state.join("runs")];
    if let Ok(rd) = fs::read_dir(state.join("baseline")) {
        dirs.extend(rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()));
    }
    for dir in dirs {
        let Ok(rd) = fs::read_dir(&dir) else { continue };
        for e in rd.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") || name.starts_with(".old-") {
                let p = e.path();
                let _ = if p.is_dir() { fs::remove_dir_all(&p) } else { fs::remove_file(&p) };
            }
        }
    }
}

/// An UNKNOWN for rejected lines: the summary names the file with the most, and the lines are
/// kept in `runs/<night>/rejects.jsonl` (there is no report to go with them).
pub(crate) fn keep_rejects(
    runs: &Path,
    night: &str,
    result: &mut CheckResult,
    report: &[crate::ingest::SourceReport],
    rejects: &[u8],
    what: &str,
) -> Result<(), CheckError> {
    let worst = report.iter().max_by_key(|s| s.rejected).expect("a source");
    result.summary = format!(
        "{what}; the most in {} ({}): is its format right? They are in {}",
        worst.path,
        worst.rejected,
        runs.join(night).join("rejects.jsonl").display()
    );
    keep_run(runs, night, result, |dir| {
        let path = dir.join("rejects.jsonl");
        fs::write(&path, rejects).map_err(|e| CheckError::state(&path, e))
    })
}

/// Puts RUNS/<night>/ in place whole: `fill` writes the files into a temporary directory,
/// status.json (naming the directory) goes in last, and the directory replaces the night's:
/// the old one moves aside, the new one takes its name, then the old one goes.
pub(crate) fn keep_run(
    runs: &Path,
    night: &str,
    result: &mut CheckResult,
    fill: impl FnOnce(&Path) -> Result<(), CheckError>,
) -> Result<(), CheckError> {
    let final_dir = runs.join(night);
    let tmp = runs.join(format!(".tmp-{}-{night}", std::process::id()));
    let at = |p: &Path| {
        let p = p.to_path_buf();
        move |e: std::io::Error| CheckError::state(&p, e)
    };
    fs::create_dir_all(&tmp).map_err(at(&tmp))?;
    fill(&tmp)?;
    result.report = Some(final_dir.to_string_lossy().into_owned());
    fs::write(tmp.join("status.json"), json(result)).map_err(at(&tmp))?;
    if final_dir.exists() {
        let old = runs.join(format!(".old-{}-{night}", std::process::id()));
        fs::rename(&final_dir, &old).map_err(at(&final_dir))?;
        fs::rename(&tmp, &final_dir).map_err(at(&final_dir))?;
        fs::remove_dir_all(&old).map_err(at(&old))?;
    } else {
        fs::rename(&tmp, &final_dir).map_err(at(&final_dir))?;
    }
    Ok(())
}

/// Stored series of earlier runs whose window ends by `start` (and not long before it), as
/// (bucket start, column -> value); later runs win where windows overlap. This run's own
/// night is left out, so re-running it never counts it twice.
pub(crate) type History = BTreeMap<i64, BTreeMap<String, f64>>;

pub(crate) fn load_history(
    dir: &Path,
    start: i64,
    history_ms: i64,
    night: &str,
) -> Result<(History, usize), CheckError> {
    let mut files: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
                name.is_some_and(|n| {
                    n.ends_with(".parquet")
                        && !n.starts_with('.')
                        && n != format!("{night}.parquet")
                })
            })
            .collect(),
        Err(_) => vec![],
    };
    files.sort();
    let mut out = History::new();
    let mut used = 0;
    for path in files {
        let not_stored = |e: &dyn std::fmt::Display| {
            CheckError::state(
                &path,
                format!(
                    "is not a series this version of rootline stored ({e}); remove it and the \
                     next runs store it anew"
                ),
            )
        };
        let file = File::open(&path).map_err(|e| CheckError::state(&path, e))?;
        let df = ParquetReader::new(file).finish().map_err(|e| not_stored(&e))?;
        let ts: Vec<i64> = df
            .column(crate::schema::TS)
            .and_then(|c| c.datetime().cloned())
            .map_err(|e| not_stored(&e))?
            .physical()
            .into_no_null_iter()
            .collect();
        let keep: Vec<usize> =
            (0..ts.len()).filter(|&i| ts[i] < start && ts[i] >= start - history_ms).collect();
        if keep.is_empty() {
            continue;
        }
        used += 1;
        for c in df.columns() {
            if c.name().as_str() == crate::schema::TS {
                continue;
            }
            let v = c.f64().map_err(|e| not_stored(&e))?;
            for &i in &keep {
                out.entry(ts[i]).or_default().insert(c.name().to_string(), v.get(i).unwrap_or(0.0));
            }
        }
    }
    Ok((out, used))
}

/// The stored history followed by the files' series on one grid; the files win where both
/// have a bucket.
pub(crate) fn merge(history: &History, files: SeriesSet) -> SeriesSet {
    let Some((&first, _)) = history.iter().next() else { return files };
    if first >= files.start_ms {
        return files;
    }
    let b = files.bucket_ms;
    let start = first - (first - files.start_ms).rem_euclid(b);
    let end = files.at(files.len);
    let len = ((end - start) / b) as usize;
    let offset = ((files.start_ms - start) / b) as usize;
    let mut names: std::collections::BTreeSet<String> = files.cols.keys().cloned().collect();
    for row in history.values() {
        names.extend(row.keys().cloned());
    }
    let mut cols: BTreeMap<String, Vec<f64>> =
        names.into_iter().map(|n| (n, vec![0.0; len])).collect();
    for (&t, row) in history.range(..files.start_ms) {
        let i = ((t - start) / b) as usize;
        for (name, v) in row {
            if let Some(c) = cols.get_mut(name) {
                c[i] = *v;
            }
        }
    }
    for (name, v) in &files.cols {
        cols.get_mut(name).expect("a file column")[offset..offset + v.len()].copy_from_slice(v);
    }
    SeriesSet { start_ms: start, bucket_ms: b, len, cols }
}

/// Keeps the window's series as STATE/baseline/<bucket>/<night>.parquet, for later nights.
pub(crate) fn store_series(dir: &Path, night: &str, window: &SeriesSet) -> Result<(), CheckError> {
    let mut frame = window.to_frame()?;
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes).finish(&mut frame)?;
    let path = dir.join(format!("{night}.parquet"));
    crate::atomic::write(&path, &bytes).map_err(|e| CheckError::state(&path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_comes_first_and_files_win_where_both_are() {
        let files = SeriesSet {
            start_ms: 10 * 60_000,
            bucket_ms: 60_000,
            len: 3,
            cols: [("attempts".to_string(), vec![5.0, 6.0, 7.0])].into(),
        };
        let mut h = History::new();
        for m in [7, 9, 10] {
            h.insert(m * 60_000, [("attempts".to_string(), 1.0)].into());
        }
        let s = merge(&h, files);
        assert_eq!(s.start_ms, 7 * 60_000);
        assert_eq!(s.get("attempts").unwrap(), [1.0, 0.0, 1.0, 5.0, 6.0, 7.0]);
    }
}

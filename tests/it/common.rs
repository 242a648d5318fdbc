//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use rootline::ingest::{self, IngestOptions, IngestReport, MemorySink, Registry, SourceSpec};

/// A file under `../shared/data`, or `None` (with the reason printed) when that folder is not
/// beside the project. With `ROOTLINE_REQUIRE_SHARED=1` (as in CI) its absence fails the test.
pub fn shared(rel: &str) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    let path = root.join(rel);
    if path.exists() {
        return Some(path);
    }
    if std::env::var("ROOTLINE_REQUIRE_SHARED").as_deref() == Ok("1") {
        panic!("{} is missing and ROOTLINE_REQUIRE_SHARED=1", path.display());
    }
    eprintln!(
        "skipped: {} is not there (shared data is beside the project only in CI and dev)",
        path.display()
    );
    None
}

/// A fresh temporary directory for one test. The first call also removes what earlier runs
/// of the tests left there (their process is gone): simulated incidents are large, and runs
/// that each left a few GB filled the disk.
pub fn temp_dir(name: &str) -> PathBuf {
    static CLEAN: std::sync::Once = std::sync::Once::new();
    CLEAN.call_once(remove_stale_temp_dirs);
    let dir = std::env::temp_dir().join(format!("rootline-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Ingests one spec into memory.
pub fn ingest_one(spec: SourceSpec) -> (IngestReport, MemorySink) {
    let mut sink = MemorySink::default();
    let report = ingest::ingest(
        &[spec],
        &IngestOptions::default(),
        &Registry::builtin(),
        &mut sink,
        &|_, _| {},
    )
    .expect("ingest");
    (report, sink)
}

/// Lines as `wc -l` would count them, plus a last line without a newline; in text whose
/// first 4 KiB hold no newline but a CR, lone CRs end lines (the rule ingest documents).
pub fn count_lines(bytes: &[u8]) -> u64 {
    let head = &bytes[..bytes.len().min(rootline::ingest::read::CR_WINDOW)];
    let end = if !head.contains(&b'\n') && rootline::ingest::read::lone_cr_text(head) {
        b'\r'
    } else {
        b'\n'
    };
    let n = bytes.iter().filter(|b| **b == end).count() as u64;
    n + u64::from(!bytes.is_empty() && bytes.last() != Some(&end))
}

/// Every line is accounted for exactly once.
pub fn assert_accounted(r: &rootline::ingest::SourceReport) {
    assert_eq!(r.lines, r.parsed + r.skipped + r.rejected, "{}: {r:?}", r.path);
    assert!(r.rows >= r.parsed, "{r:?}");
}

/// The `ts` column of a table as RFC 3339 strings, in table order.
pub fn ts_strings(df: &polars::prelude::DataFrame) -> Vec<String> {
    let ts = df.column("ts").unwrap().datetime().unwrap().physical().clone();
    ts.into_no_null_iter()
        .map(|ms| {
            chrono::DateTime::from_timestamp_millis(ms)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        })
        .collect()
}

/// A string column as owned values, in table order.
pub fn str_col(df: &polars::prelude::DataFrame, name: &str) -> Vec<Option<String>> {
    let c = df.column(name).unwrap().str().unwrap().clone();
    c.iter().map(|v| v.map(str::to_string)).collect()
}

/// Removes `rootline-it-<pid>-*` directories of test processes that no longer run (Linux,
/// where /proc says which do; elsewhere nothing is removed).
fn remove_stale_temp_dirs() {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("rootline-it-") else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

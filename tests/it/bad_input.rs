//! Bad input gets a clear message or a reject, never a panic and never a lost line.

use std::io::Write;

use proptest::prelude::*;
use rootline::config::IncidentConfig;
use rootline::ingest::{self, IngestOptions, MemorySink, Registry, SourceSpec};
use rootline::schema::Role;

use crate::common::{assert_accounted, count_lines, ingest_one, shared, temp_dir};

fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn empty_file_gives_no_rows_and_says_so() {
    let dir = temp_dir("empty");
    let (report, sink) =
        ingest_one(SourceSpec { path: write(&dir, "e.log", b""), ..Default::default() });
    assert_eq!(report.sources[0].lines, 0);
    assert!(report.sources[0].notes.iter().any(|n| n.contains("empty")));
    assert!(sink.tables.is_empty());
}

#[test]
fn random_bytes_are_all_rejected_or_skipped() {
    let dir = temp_dir("random");
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let bytes: Vec<u8> = (0..200_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let (report, sink) =
        ingest_one(SourceSpec { path: write(&dir, "r.bin", &bytes), ..Default::default() });
    let r = &report.sources[0];
    assert_accounted(r);
    assert_eq!(r.lines, count_lines(&bytes));
    assert_eq!(r.rows, 0);
    assert_eq!(sink.rejects.len() as u64, r.rejected);
    assert!(r.rejected > 0);
}

#[test]
fn truncated_gzip_keeps_what_was_read_and_rejects_the_rest() {
    let dir = temp_dir("gzip");
    let mut text = String::new();
    for i in 0..20_000 {
        text += &format!(
            "{{\"ts\":\"2007-08-16T03:{:02}:{:02}Z\",\"outcome\":\"fail\",\"user\":\"u{i}\"}}\n",
            (i / 60) % 60,
            i % 60
        );
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    let full = gz.finish().unwrap();
    let whole = write(&dir, "whole.log", &full);
    let cut = write(&dir, "cut.log", &full[..full.len() / 2]);

    let (report, _) = ingest_one(SourceSpec { path: whole, ..Default::default() });
    assert_eq!(report.sources[0].compression.as_deref(), Some("gzip"));
    assert_eq!((report.sources[0].rows, report.sources[0].rejected), (20_000, 0));

    let (report, sink) = ingest_one(SourceSpec { path: cut, ..Default::default() });
    let r = &report.sources[0];
    assert_accounted(r);
    assert!(r.rows > 1000 && r.rows < 20_000, "{r:?}");
    let last = sink.rejects.last().expect("a reject for the cut");
    assert!(last.reason.contains("ends early"), "{}", last.reason);
    assert_eq!(sink.tables[&Role::Login].height() as u64, r.rows);
}

#[test]
fn zstd_is_found_by_its_magic_bytes() {
    let dir = temp_dir("zstd");
    let text =
        "ts=2007-08-16T03:00:00Z outcome=ok user=a\nts=2007-08-16T03:00:01Z outcome=fail user=b\n";
    let z = zstd::encode_all(text.as_bytes(), 3).unwrap();
    let (report, _) =
        ingest_one(SourceSpec { path: write(&dir, "logins.txt", &z), ..Default::default() });
    let r = &report.sources[0];
    assert_eq!(
        (r.compression.as_deref(), r.format.as_deref(), r.role, r.rows),
        (Some("zstd"), Some("logfmt"), Some(Role::Login), 2)
    );
}

#[test]
fn invalid_utf8_is_kept_exactly_in_the_rejects() {
    let dir = temp_dir("utf8");
    let bytes = b"ts=2007-08-16T03:00:00Z outcome=ok user=a\n\xff\xfe not text \xc3\x28\nts=2007-08-16T03:00:02Z outcome=ok user=c\n";
    let (report, sink) =
        ingest_one(SourceSpec { path: write(&dir, "u.log", bytes), ..Default::default() });
    assert_accounted(&report.sources[0]);
    let rej = &sink.rejects[0];
    assert_eq!(rej.line, 2);
    assert_eq!(rej.raw_hex.as_deref(), Some("fffe206e6f74207465787420c328"));
}

#[test]
fn lnav_invalid_utf8_file_is_accounted_for() {
    let Some(path) = shared("lnav_testlogs/logfile_invalid_utf8.0") else { return };
    let bytes = std::fs::read(&path).unwrap();
    let (report, _) = ingest_one(SourceSpec { path, ..Default::default() });
    assert_accounted(&report.sources[0]);
    assert_eq!(report.sources[0].lines, count_lines(&bytes));
}

#[test]
fn a_ten_megabyte_line_is_rejected_whole_and_the_rest_is_read() {
    let dir = temp_dir("longline");
    let mut bytes = b"ts=2007-08-16T03:00:00Z outcome=ok user=a\n".to_vec();
    bytes.extend(std::iter::repeat_n(b'x', 10 << 20));
    bytes.extend(b"\nts=2007-08-16T03:00:02Z outcome=fail user=c\n");
    let path = write(&dir, "long.log", &bytes);
    let mut sink = MemorySink::default();
    let opts = IngestOptions::default().with_block_size(1 << 20);
    let spec = SourceSpec { path, ..Default::default() };
    let report =
        ingest::ingest(&[spec], &opts, &Registry::builtin(), &mut sink, &|_, _| {}).unwrap();
    let r = &report.sources[0];
    assert_eq!((r.lines, r.rows, r.rejected), (3, 2, 1));
    assert_eq!(sink.rejects[0].line, 2);
    assert_eq!(sink.rejects[0].raw_len, Some(10 << 20), "the reject keeps the length");
    assert!(sink.rejects[0].raw.len() <= 64 * 1024, "and only the start of the text");
    assert!(sink.rejects[0].reason.contains("over the"));
}

#[test]
fn strict_turns_a_reject_into_an_error() {
    let dir = temp_dir("strict");
    let path = write(&dir, "s.log", b"ts=2007-08-16T03:00:00Z outcome=ok user=a\ngarbage\n");
    let mut sink = MemorySink::default();
    let opts = IngestOptions::default().with_strict(true);
    let spec = SourceSpec { path, ..Default::default() };
    let err =
        ingest::ingest(&[spec], &opts, &Registry::builtin(), &mut sink, &|_, _| {}).unwrap_err();
    assert!(err.to_string().contains("1 line rejected"), "{err}");
    assert_eq!(sink.rejects.len(), 1);
}

#[test]
fn config_typos_name_the_key_and_the_fix() {
    let err = IncidentConfig::parse(
        "[[source]]\npath = \"x\"\npreset = \"sshd\"\nyaer = 2007\n",
        "incident.toml".as_ref(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("yaer") && err.contains("year"), "{err}");
    let dir = temp_dir("preset-typo");
    let path = write(
        &dir,
        "a.log",
        b"Dec 10 06:55:48 LabSZ sshd[1]: Failed password for root from 1.2.3.4 port 1 ssh2\n",
    );
    let spec = SourceSpec { path, preset: Some("ssh".into()), ..Default::default() };
    let err = ingest::ingest(
        &[spec],
        &IngestOptions::default(),
        &Registry::builtin(),
        &mut MemorySink::default(),
        &|_, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown preset \"ssh\"; did you mean \"sshd\"?"), "{err}");
}

#[test]
fn out_of_order_lines_come_out_sorted() {
    let dir = temp_dir("order");
    let text = "ts=2007-08-16T03:00:05Z outcome=ok user=a\nts=2007-08-16T03:00:01Z outcome=ok user=b\nts=2007-08-16T03:00:03Z outcome=ok user=c\n";
    let (_, sink) = ingest_one(SourceSpec {
        path: write(&dir, "o.log", text.as_bytes()),
        ..Default::default()
    });
    let df = &sink.tables[&Role::Login];
    let lines: Vec<i64> = df.column("line").unwrap().i64().unwrap().into_no_null_iter().collect();
    assert_eq!(lines, [2, 3, 1]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Whatever the bytes, ingest does not panic and every line lands in exactly one bin.
    #[test]
    fn any_bytes_are_accounted_for(bytes in proptest::collection::vec(any::<u8>(), 0..4000), prefix in 0usize..3) {
        let dir = temp_dir("prop");
        let heads: [&[u8]; 3] = [b"", b"ts=2007-08-16T03:00:00Z outcome=ok user=a\n", b"timestamp,value\n2014-01-01 00:00:00,1\n"];
        let mut all = heads[prefix].to_vec();
        all.extend(&bytes);
        let path = write(&dir, "p.log", &all);
        let (report, sink) = ingest_one(SourceSpec { path, ..Default::default() });
        let r = &report.sources[0];
        prop_assert_eq!(r.lines, count_lines(&all));
        prop_assert_eq!(r.lines, r.parsed + r.skipped + r.rejected);
        prop_assert_eq!(sink.rejects.len() as u64, r.rejected);
        let rows: u64 = sink.tables.values().map(|t| t.height() as u64).sum();
        prop_assert_eq!(rows, r.rows);
    }
}

// ---- issue 12: hostile input and operator mistakes ----

fn rootline() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_rootline"))
}

fn run_ok(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let o = rootline().args(args).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    o
}

fn logins_jsonl(dir: &std::path::Path, name: &str, day: u32) -> std::path::PathBuf {
    let mut text = String::new();
    for m in 0..30 {
        text += &format!(
            "{{\"ts\":\"2007-08-{day:02}T03:{m:02}:00Z\",\"outcome\":\"ok\",\"user\":\"u{m}\"}}\n"
        );
    }
    write(dir, name, text.as_bytes())
}

fn ingest_to(
    specs: &[SourceSpec],
    out: &std::path::Path,
) -> Result<ingest::output::Written, rootline::error::IngestError> {
    ingest::output::ingest_to_dir(
        specs,
        &IngestOptions::default(),
        &Registry::builtin(),
        out,
        false,
        &|_, _| {},
    )
}

fn spec(path: std::path::PathBuf) -> SourceSpec {
    SourceSpec { path, ..Default::default() }
}

#[test]
fn r12_out_never_removes_what_rootline_did_not_write() {
    let dir = temp_dir("r12-out-foreign");
    let src = logins_jsonl(&dir, "f.jsonl", 16);
    let out = dir.join("d");
    std::fs::create_dir_all(out.join("change/q3")).unwrap();
    std::fs::write(out.join("change/q3/notes.txt"), "x").unwrap();
    let err = ingest_to(&[spec(src.clone())], &out)
        .expect_err("a foreign change/ is refused")
        .to_string();
    assert!(err.contains("change") && err.contains("ingest.json"), "{err}");
    assert_eq!(std::fs::read_to_string(out.join("change/q3/notes.txt")).unwrap(), "x");

    // In a directory rootline wrote, a user's file among the tables stays through a re-ingest.
    let out = dir.join("e");
    ingest_to(&[spec(src.clone())], &out).unwrap();
    std::fs::create_dir_all(out.join("login/mine")).unwrap();
    std::fs::write(out.join("login/mine/notes.txt"), "y").unwrap();
    std::fs::write(out.join("keep.txt"), "z").unwrap();
    let w = ingest_to(&[spec(src)], &out).unwrap();
    assert_eq!(w.tables.len(), 1);
    assert_eq!(std::fs::read_to_string(out.join("login/mine/notes.txt")).unwrap(), "y");
    assert_eq!(std::fs::read_to_string(out.join("keep.txt")).unwrap(), "z");
    assert!(out.join(&w.tables[0]).is_file());
    let left: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "no staging left behind: {left:?}");
}

#[test]
fn r12_an_input_inside_the_output_it_would_replace_is_refused_and_kept() {
    let dir = temp_dir("r12-out-input");
    let tb = dir.join("tb");
    let w = ingest_to(&[spec(logins_jsonl(&dir, "f.jsonl", 16))], &tb).unwrap();
    let part = tb.join(&w.tables[0]);
    let before = std::fs::read(&part).unwrap();
    let err = ingest_to(&[spec(part.clone())], &tb).expect_err("refused").to_string();
    assert!(err.contains("would replace"), "{err}");
    assert_eq!(std::fs::read(&part).unwrap(), before, "the input is untouched");
}

#[test]
fn r12_a_failed_ingest_leaves_the_last_good_output_in_place() {
    let dir = temp_dir("r12-out-failed");
    let out = dir.join("d");
    let good = ingest_to(&[spec(logins_jsonl(&dir, "f.jsonl", 16))], &out).unwrap();
    // A second source that cannot be read at all (a Parquet file with a broken body).
    let broken = write(&dir, "broken.parquet", b"PAR1 this is not really parquet PAR1");
    let second = logins_jsonl(&dir, "g.jsonl", 17);
    assert!(ingest_to(&[spec(second), spec(broken)], &out).is_err());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("ingest.json")).unwrap()).unwrap();
    assert_eq!(manifest["files"][0], good.tables[0].to_string_lossy().as_ref());
    let t = rootline::tables::read_dir(&out).unwrap();
    assert_eq!(t[&Role::Login].height(), 30, "the earlier tables read back whole");
    assert!(!out.join("login/date=2007-08-17").exists(), "nothing of the failed run landed");
}

#[test]
fn r12_a_repeat_count_is_a_claim_not_an_allocation() {
    let dir = temp_dir("r12-repeat");
    let text = "Dec 10 07:13:56 LabSZ sshd[24227]: message repeated 1000000000 times: [ Failed password for root from 5.36.59.76 port 42393 ssh2]\n\
                Dec 10 07:13:57 LabSZ sshd[24227]: message repeated 20000000 times: [ Failed password for root from 5.36.59.76 port 42393 ssh2]\n";
    let (report, sink) = ingest_one(SourceSpec {
        path: write(&dir, "auth.log", text.as_bytes()),
        year: Some(2016),
        ..Default::default()
    });
    let r = &report.sources[0];
    assert_eq!(r.rows, 2 * ingest::MAX_REPEAT as u64);
    assert_eq!(sink.tables[&Role::Login].height(), 2 * ingest::MAX_REPEAT);
    assert!(r.notes.iter().any(|n| n.contains("not counted")), "{:?}", r.notes);
}

#[test]
fn r12_epoch_numbers_out_of_range_are_rejected_not_wrapped() {
    let dir = temp_dir("r12-epoch");
    let path =
        write(&dir, "e.csv", b"ts,outcome\n1187222400,ok\n9223372036854775.999,ok\n-3600,fail\n");
    let (report, sink) = ingest_one(SourceSpec {
        path,
        role: Some(Role::Login),
        ts_format: Some("epoch_s".into()),
        ..Default::default()
    });
    assert_eq!((report.sources[0].rows, report.sources[0].rejected), (2, 1));
    assert!(sink.rejects[0].reason.contains("epoch number out of range"), "{:?}", sink.rejects);
    let ts = crate::common::ts_strings(&sink.tables[&Role::Login]);
    assert_eq!(ts, ["1969-12-31T23:00:00.000Z", "2007-08-16T00:00:00.000Z"]);
}

#[test]
fn r12_outlier_times_are_set_aside_with_a_note_and_bounded() {
    let dir = temp_dir("r12-outliers");
    let mut text = String::new();
    for m in 0..1440 {
        text += &format!(
            "{{\"ts\":\"2007-08-16T{:02}:{:02}:00Z\",\"outcome\":\"ok\",\"user\":\"u\"}}\n",
            m / 60,
            m % 60
        );
    }
    text += "{\"ts\":\"1900-01-01T00:00:00Z\",\"outcome\":\"ok\",\"user\":\"clockless\"}\n";
    let path = write(&dir, "l.jsonl", text.as_bytes());
    let out = dir.join("a");
    run_ok(&[
        "analyze".as_ref(),
        "-q".as_ref(),
        path.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    let f: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("findings.json")).unwrap()).unwrap();
    let notes = f["inputs"][0]["notes"].to_string();
    assert!(notes.contains("1 row set aside") && notes.contains(":1441 at 1900-01-01"), "{notes}");

    // Two rows nine thousand years apart: no dense span; a clear error, not an abort.
    let wide = write(&dir, "w.jsonl", b"{\"ts\":\"0001-01-01T00:00:00Z\",\"outcome\":\"ok\"}\n{\"ts\":\"9999-12-31T23:59:59Z\",\"outcome\":\"ok\"}\n");
    let o = rootline()
        .args(["analyze", "-q"])
        .arg(&wide)
        .args(["--out"])
        .arg(dir.join("b"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("buckets") && err.contains("--bucket"), "{err}");
    // SQL that does not read the series still runs.
    let cfg = write(&dir, "w.toml", b"[[source]]\npath = \"w.jsonl\"\nrole = \"login\"\n");
    let o = run_ok(&[
        "query".as_ref(),
        "--config".as_ref(),
        cfg.as_os_str(),
        "SELECT COUNT(*) AS n FROM login".as_ref(),
        "--format".as_ref(),
        "csv".as_ref(),
    ]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "n\n2\n");
}

#[test]
fn r12_a_byte_order_mark_and_lone_carriage_returns_are_read_right() {
    let dir = temp_dir("r12-bom-cr");
    let bom = write(&dir, "b.jsonl", b"\xef\xbb\xbf{\"ts\":\"2007-08-16T03:00:00Z\",\"outcome\":\"ok\"}\n{\"ts\":\"2007-08-16T03:00:01Z\",\"outcome\":\"ok\"}\n");
    let (report, _) = ingest_one(spec(bom));
    assert_eq!((report.sources[0].rows, report.sources[0].rejected), (2, 0));
    let logfmt = write(&dir, "b.log", b"\xef\xbb\xbfts=2007-08-16T03:00:00Z outcome=ok user=a\n");
    let (report, _) = ingest_one(spec(logfmt));
    assert_eq!((report.sources[0].rows, report.sources[0].rejected), (1, 0));

    let cr = write(&dir, "c.log", b"ts=2007-08-16T03:00:00Z outcome=ok user=a\rts=2007-08-16T03:00:01Z outcome=ok user=b\rts=2007-08-16T03:00:02Z outcome=fail user=c\r");
    let (report, sink) = ingest_one(spec(cr));
    let r = &report.sources[0];
    assert_eq!((r.lines, r.rows), (3, 3));
    assert_eq!(
        crate::common::str_col(&sink.tables[&Role::Login], "user"),
        [Some("a".into()), Some("b".into()), Some("c".into())]
    );
    // A lone CR inside a file of newlines: the line is rejected with the reason, never merged.
    let mixed = write(&dir, "m.log", b"ts=2007-08-16T03:00:00Z outcome=ok user=a\nts=2007-08-16T03:00:01Z outcome=ok user=b\rts=2007-08-16T03:00:02Z outcome=ok user=c\n");
    let (report, sink) = ingest_one(spec(mixed));
    assert_eq!((report.sources[0].rows, report.sources[0].rejected), (1, 1));
    assert!(sink.rejects[0].reason.contains("carriage return"), "{:?}", sink.rejects);
}

#[test]
fn r12_paths_with_glob_characters_are_paths() {
    let dir = temp_dir("r12-brackets").join("brack[1]");
    std::fs::create_dir_all(&dir).unwrap();
    logins_jsonl(&dir, "app[1].jsonl", 16);
    let cfg =
        write(&dir, "incident.toml", b"[[source]]\npath = \"app[1].jsonl\"\nrole = \"login\"\n");
    let specs = IncidentConfig::load(&cfg).unwrap().specs(&dir).unwrap();
    assert_eq!(specs.len(), 1);
    let tables = dir.join("tables[1]");
    ingest_to(&specs, &tables).unwrap();
    assert_eq!(rootline::tables::read_dir(&tables).unwrap()[&Role::Login].height(), 30);
}

#[test]
fn r12_settings_are_checked_before_any_file_is_read_and_named() {
    let dir = temp_dir("r12-settings");
    logins_jsonl(&dir, "a.jsonl", 16);
    let cfg = write(
        &dir,
        "incident.toml",
        b"[[source]]\npath = \"a.jsonl\"\n[[source]]\npath = \"a.jsonl\"\nformat = \"logfnt\"\n",
    );
    let specs = IncidentConfig::load(&cfg).unwrap().specs(&dir).unwrap();
    let out = dir.join("out");
    let err = ingest_to(&specs, &out).err().unwrap().to_string();
    assert!(
        err.contains("incident.toml: source[1].format") && err.contains("did you mean \"logfmt\""),
        "{err}"
    );
    assert!(!out.exists(), "nothing was written before the check");

    let year = SourceSpec { year: Some(2147483647), ..spec(dir.join("a.jsonl")) };
    let err = ingest_to(&[year], &out).err().unwrap().to_string();
    assert!(err.contains("--year") && err.contains("2147483647"), "{err}");
}

#[test]
fn r12_parquet_with_binary_columns_and_times_before_1970_is_read() {
    use polars::prelude::*;
    let dir = temp_dir("r12-parquet-binary");
    let ts = Series::new("ts".into(), [-3_600_000i64, 1_187_222_400_000])
        .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
        .unwrap();
    let outcome = Series::new("outcome".into(), ["ok", "fail"]);
    let blob = Series::new("blob".into(), [&b"\xff\x00"[..], b"text"]);
    let mut df = DataFrame::new(2, vec![ts.into(), outcome.into(), blob.into()]).unwrap();
    let path = dir.join("b.parquet");
    ParquetWriter::new(std::fs::File::create(&path).unwrap()).finish(&mut df).unwrap();
    let (report, sink) = ingest_one(SourceSpec { role: Some(Role::Login), ..spec(path) });
    let r = &report.sources[0];
    assert_eq!((r.rows, r.rejected), (2, 0), "{r:?}");
    assert!(r.notes.iter().any(|n| n.contains("blob") && n.contains("hex")), "{:?}", r.notes);
    assert_eq!(
        crate::common::ts_strings(&sink.tables[&Role::Login])[0],
        "1969-12-31T23:00:00.000Z"
    );
}

#[test]
fn r12_a_thousand_files_behind_one_glob_do_not_run_out_of_file_handles() {
    let dir = temp_dir("r12-many-files");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    for i in 0..1100u32 {
        let day = 1 + i % 28;
        let month = 1 + (i / 28) % 12;
        let text = format!(
            "{{\"ts\":\"2007-{month:02}-{day:02}T03:00:00Z\",\"outcome\":\"ok\",\"user\":\"u{i}\"}}\n"
        );
        std::fs::write(logs.join(format!("l{i:04}.jsonl")), text).unwrap();
    }
    let cfg = write(&dir, "i.toml", b"[[source]]\npath = \"logs/*.jsonl\"\nrole = \"login\"\n");
    let specs = IncidentConfig::load(&cfg).unwrap().specs(&dir).unwrap();
    assert_eq!(specs.len(), 1100);
    let w = ingest_to(&specs, &dir.join("out")).unwrap();
    assert_eq!(w.report.sources.iter().map(|s| s.rows).sum::<u64>(), 1100);
    assert_eq!(w.tables.len(), 1100);
}

/// Peak RSS, in MiB, of `rootline COMMAND -q [EXTRA...] INPUT --out OUT` (Linux; `None`
/// elsewhere).
fn peak_rss_of(
    command: &str,
    extra: &[&str],
    input: &std::path::Path,
    out: &std::path::Path,
) -> Option<f64> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let mut args: Vec<&std::ffi::OsStr> = vec![command.as_ref(), "-q".as_ref()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    args.extend([input.as_os_str(), "--out".as_ref(), out.as_os_str()]);
    let o = rootline().env("ROOTLINE_PEAK_RSS", "1").args(&args).output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    let kib: f64 = err
        .lines()
        .find_map(|l| l.strip_prefix("rootline: peak RSS "))?
        .trim_end_matches(" KiB")
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

#[test]
fn r12_memory_stays_flat_for_one_line_of_any_length() {
    let dir = temp_dir("r12-one-line");
    let mut peaks = Vec::new();
    for mib in [8usize, 64, 256] {
        // A gzip of zeros with no newline: the bomb, at growing sizes.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..mib {
            gz.write_all(&zeros).unwrap();
        }
        let path = write(&dir, &format!("z{mib}.log"), &gz.finish().unwrap());
        let out = dir.join(format!("out{mib}"));
        let Some(peak) = peak_rss_of("ingest", &[], &path, &out) else { return };
        let rejects = std::fs::metadata(out.join("rejects.jsonl")).unwrap().len();
        assert!(rejects < 64 * 1024, "the reject is clipped: {rejects} bytes");
        peaks.push(peak);
    }
    assert!(peaks.iter().all(|p| *p < 150.0), "peak RSS (MiB) by size 8/64/256 MiB: {peaks:?}");
    assert!(peaks[2] < peaks[0] + 40.0, "memory does not grow with the line: {peaks:?}");
}

#[test]
fn r12_memory_stays_flat_for_a_parquet_file_of_any_size() {
    use polars::prelude::*;
    let dir = temp_dir("r12-parquet-mem");
    let mut peaks = Vec::new();
    for rows in [400_000usize, 1_600_000] {
        let ts = Series::new(
            "ts".into(),
            (0..rows as i64).map(|i| 1_187_222_400_000 + i * 50).collect::<Vec<_>>(),
        )
        .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
        .unwrap();
        let text = |name: &str, f: &dyn Fn(usize) -> String| {
            Column::new(name.into(), (0..rows).map(f).collect::<Vec<_>>())
        };
        let cols = vec![
            ts.into(),
            text("outcome", &|i| ["ok", "fail"][i % 2].to_string()),
            text("user", &|i| format!("user{:07}@example.com", (i * 7919) % 1_000_003)),
            text("reason", &|i| format!("a reason that takes some room, number {}", i % 97)),
        ];
        let mut df = DataFrame::new(rows, cols).unwrap();
        let path = dir.join(format!("l{rows}.parquet"));
        ParquetWriter::new(std::fs::File::create(&path).unwrap()).finish(&mut df).unwrap();
        let out = dir.join(format!("out{rows}"));
        let Some(peak) = peak_rss_of("ingest", &["--role", "login"], &path, &out) else { return };
        peaks.push(peak);
        eprintln!("parquet of {rows} rows: peak RSS {peak:.0} MiB");
    }
    // Read whole as JSON text, memory grew with the rows (release build, files like these:
    // 182 MiB for 400k rows, 363 MiB for 1.6M). A slice at a time the peak levels off past
    // the first blocks: 135 and 154 MiB.
    assert!(peaks[1] < peaks[0] + 100.0, "peak RSS (MiB) for 400k and 1.6M rows: {peaks:?}");
}

#[test]
fn r12_memory_stays_flat_with_an_outlier_timestamp() {
    let dir = temp_dir("r12-outlier-mem");
    let mut peaks = Vec::new();
    for days in [1usize, 4] {
        let mut text = String::from("{\"ts\":\"1970-01-01T00:00:00Z\",\"outcome\":\"ok\"}\n");
        for m in 0..days * 1440 {
            text += &format!(
                "{{\"ts\":\"2007-08-{:02}T{:02}:{:02}:00Z\",\"outcome\":\"ok\"}}\n",
                10 + m / 1440,
                (m / 60) % 24,
                m % 60
            );
        }
        let path = write(&dir, &format!("o{days}.jsonl"), text.as_bytes());
        let out = dir.join(format!("a{days}"));
        let Some(peak) = peak_rss_of("analyze", &[], &path, &out) else { return };
        peaks.push(peak);
    }
    // Without the outlier set aside the series would span 37 years of minutes (19.5M buckets).
    assert!(peaks.iter().all(|p| *p < 300.0), "peak RSS (MiB) for 1 and 4 days: {peaks:?}");
}

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
    assert_eq!(sink.rejects[0].raw.len(), 10 << 20);
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
    assert!(err.to_string().contains("1 line(s) rejected"), "{err}");
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

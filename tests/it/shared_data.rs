//! Real logs written by others (`../shared/data`): loghub, NAB and lnav's time traps.

use std::collections::BTreeMap;

use polars::prelude::*;
use rootline::ingest::SourceSpec;
use rootline::schema::Role;

use crate::common::{assert_accounted, count_lines, ingest_one, shared, str_col, ts_strings};

#[test]
fn every_loghub_log_ingests_with_every_line_accounted_for() {
    let Some(root) = shared("loghub") else { return };
    let mut dirs: Vec<_> =
        std::fs::read_dir(&root).unwrap().filter_map(Result::ok).map(|e| e.path()).collect();
    dirs.sort();
    let mut seen = 0;
    for dir in dirs.iter().filter(|d| d.is_dir()) {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let path = dir.join(format!("{name}_2k.log"));
        let bytes = std::fs::read(&path).unwrap();
        let (report, _) = ingest_one(SourceSpec { path: path.clone(), ..Default::default() });
        let r = &report.sources[0];
        assert_accounted(r);
        assert_eq!(r.lines, count_lines(&bytes), "{name}");
        seen += 1;
    }
    assert_eq!(seen, 16, "loghub has 16 systems");
}

/// OpenSSH's answer key: E8/E9/E10 are failed attempts, E14 `message repeated N times`
/// stands for N more, E1 is an accepted one.
#[test]
fn openssh_login_counts_match_the_answer_key() {
    let (Some(log), Some(key)) = (
        shared("loghub/OpenSSH/OpenSSH_2k.log"),
        shared("loghub/OpenSSH/OpenSSH_2k.log_structured.csv"),
    ) else {
        return;
    };
    let key = CsvReadOptions::default()
        .try_into_reader_with_file_path(Some(key))
        .unwrap()
        .finish()
        .unwrap();
    let ids = str_col(&key, "EventId");
    let content = str_col(&key, "Content");
    let (mut fail, mut ok) = (0u64, 0u64);
    for (id, text) in ids.into_iter().zip(content) {
        match id.unwrap().as_str() {
            "E8" | "E9" | "E10" => fail += 1,
            "E1" => ok += 1,
            "E14" => {
                let n: u64 = text.unwrap().split_whitespace().nth(2).unwrap().parse().unwrap();
                fail += n;
            }
            _ => {}
        }
    }
    let (report, sink) = ingest_one(SourceSpec {
        path: log,
        preset: Some("sshd".into()),
        year: Some(2016),
        ..Default::default()
    });
    assert_accounted(&report.sources[0]);
    assert_eq!(report.sources[0].rejected, 0);
    let login = &sink.tables[&Role::Login];
    let outcome = str_col(login, "outcome");
    let got_fail = outcome.iter().filter(|o| o.as_deref() == Some("fail")).count() as u64;
    let got_ok = outcome.iter().filter(|o| o.as_deref() == Some("ok")).count() as u64;
    assert_eq!((got_fail, got_ok), (fail, ok));
    assert!(fail > 500, "the key has hundreds of failures, got {fail}");
}

#[test]
fn openssh_preset_is_detected_without_being_named() {
    let Some(log) = shared("loghub/OpenSSH/OpenSSH_2k.log") else { return };
    let (report, _) = ingest_one(SourceSpec { path: log, year: Some(2016), ..Default::default() });
    let r = &report.sources[0];
    assert_eq!(
        (r.format.as_deref(), r.preset.as_deref(), r.role),
        (Some("syslog"), Some("sshd"), Some(Role::Login))
    );
    // Two `message repeated 5 times` lines: rows exceed lines by 8, and a note says why.
    assert_eq!(r.rows, r.lines - r.skipped - r.rejected + 8, "{r:?}");
    assert!(r.notes.iter().any(|n| n.starts_with("8 rows more than lines read")), "{:?}", r.notes);
}

#[test]
fn linux_kernel_boot_is_a_reboot_change() {
    let Some(log) = shared("loghub/Linux/Linux_2k.log") else { return };
    let (report, sink) = ingest_one(SourceSpec {
        path: log,
        preset: Some("boot".into()),
        year: Some(2005),
        ..Default::default()
    });
    assert_accounted(&report.sources[0]);
    let change = &sink.tables[&Role::Change];
    let ts = ts_strings(change);
    let kind = str_col(change, "kind");
    let target = str_col(change, "target");
    let hit =
        (0..change.height()).find(|&i| ts[i] == "2005-07-27T14:41:57.000Z").expect("boot row");
    assert_eq!((kind[hit].as_deref(), target[hit].as_deref()), (Some("reboot"), Some("combo")));
}

#[test]
fn linux_auth_failures_are_login_rows_via_pam() {
    let Some(log) = shared("loghub/Linux/Linux_2k.log") else { return };
    let (report, sink) =
        ingest_one(SourceSpec { path: log, year: Some(2005), ..Default::default() });
    assert_eq!(report.sources[0].preset.as_deref(), Some("pam"));
    let login = &sink.tables[&Role::Login];
    let ts = ts_strings(login);
    let burst = ts.iter().filter(|t| t.starts_with("2005-07-10T16:0")).count();
    assert!(burst >= 40, "Jul 10 16:0x burst has {burst} rows");
}

#[test]
fn windows_kb_packages_are_change_rows() {
    let Some(log) = shared("loghub/Windows/Windows_2k.log") else { return };
    let text = std::fs::read_to_string(&log).unwrap();
    let kb_lines = text.lines().filter(|l| l.contains("Package_for_KB")).count();
    let (report, sink) = ingest_one(SourceSpec { path: log, ..Default::default() });
    let r = &report.sources[0];
    assert_eq!(
        (r.format.as_deref(), r.preset.as_deref()),
        (Some("windows_cbs"), Some("windows-cbs"))
    );
    let change = &sink.tables[&Role::Change];
    assert_eq!(change.height(), kb_lines);
    let item = str_col(change, "item");
    assert!(item.iter().all(|i| {
        i.as_deref()
            .is_some_and(|i| i.starts_with("KB") && i[2..].chars().all(|c| c.is_ascii_digit()))
    }));
}

#[test]
fn every_nab_csv_loads_as_metric_rows() {
    let Some(root) = shared("nab/data") else { return };
    let mut files = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap().filter_map(Result::ok) {
        if dir.path().is_dir() {
            for f in std::fs::read_dir(dir.path()).unwrap().filter_map(Result::ok) {
                if f.path().extension().is_some_and(|e| e == "csv") {
                    files.push(f.path());
                }
            }
        }
    }
    files.sort();
    assert!(files.len() >= 50, "NAB has 58 series, found {}", files.len());
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let data_lines = String::from_utf8_lossy(&bytes)
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .count();
        let (report, sink) = ingest_one(SourceSpec { path: path.clone(), ..Default::default() });
        let r = &report.sources[0];
        assert_accounted(r);
        assert_eq!(r.preset.as_deref(), Some("metric-csv"), "{}", path.display());
        assert_eq!(r.rows as usize, data_lines, "{}", path.display());
        let metric = &sink.tables[&Role::Metric];
        let series = str_col(metric, "series")[0].clone().unwrap();
        assert_eq!(series, path.file_stem().unwrap().to_string_lossy());
    }
}

/// Each line of an lnav trap file as a `change` row whose kind is the message, so every
/// timestamp can be checked value by value.
fn lnav_times(file: &str, year: Option<i32>, tz: Option<&str>) -> Option<Vec<String>> {
    let path = shared(&format!("lnav_testlogs/{file}"))?;
    let fields = BTreeMap::from([("message".to_string(), "kind".to_string())]);
    let spec = SourceSpec {
        path,
        role: Some(Role::Change),
        year,
        tz: tz.map(|z| z.parse().unwrap()),
        fields,
        ..Default::default()
    };
    let (report, sink) = ingest_one(spec);
    assert_accounted(&report.sources[0]);
    assert_eq!(report.sources[0].rejected, 0, "{file}: {:?}", report.sources[0]);
    let df = sink.tables[&Role::Change].sort(["line"], Default::default()).unwrap();
    Some(ts_strings(&df))
}

#[test]
fn lnav_repeated_dst_hour_comes_out_in_order() {
    let Some(ts) = lnav_times("logfile_dst.0", Some(2013), Some("America/Los_Angeles")) else {
        return;
    };
    assert_eq!(
        ts,
        [
            "2013-11-03T08:01:03.000Z",
            "2013-11-03T08:13:04.000Z",
            "2013-11-03T08:23:29.000Z",
            "2013-11-03T08:41:30.000Z",
            "2013-11-03T08:59:14.000Z",
            "2013-11-03T09:24:56.000Z",
            "2013-11-03T09:38:13.000Z",
            "2013-11-03T09:50:16.000Z",
            "2013-11-03T10:08:19.000Z",
            "2013-11-03T10:25:02.000Z",
        ]
    );
}

#[test]
fn lnav_yearless_syslog_rolls_over_into_the_next_year() {
    let Some(ts) = lnav_times("logfile_syslog.1", Some(2006), None) else { return };
    assert_eq!(
        ts,
        [
            "2006-12-03T09:23:38.000Z",
            "2006-12-03T09:23:38.000Z",
            "2006-12-03T09:23:38.000Z",
            "2007-01-03T09:47:02.000Z"
        ]
    );
}

#[test]
fn lnav_mixed_zones_come_out_in_utc() {
    let Some(ts) = lnav_times("logfile_with_zones.0", None, None) else { return };
    assert_eq!(
        ts,
        ["2022-08-27T14:22:01.613Z", "2022-08-27T14:22:01.694Z", "2022-08-27T14:22:01.888Z"]
    );
}

#[test]
fn lnav_epoch_milliseconds() {
    let Some(ts) = lnav_times("logfile_epoch.0", None, None) else { return };
    assert_eq!(ts, ["2015-04-10T02:58:07.123Z", "2015-04-10T02:58:07.456Z"]);
}

#[test]
fn lnav_nine_digit_fractions() {
    let Some(ts) = lnav_times("logfile_generic_nanos.0", None, None) else { return };
    assert_eq!(ts, ["2025-01-01T00:00:00.123Z", "2025-01-01T01:00:00.987Z"]);
}

#[test]
fn lnav_journald_json_uses_microsecond_realtime() {
    let Some(path) = shared("lnav_testlogs/logfile_journald.json") else { return };
    let bytes = std::fs::read(&path).unwrap();
    let fields = BTreeMap::from([("MESSAGE".to_string(), "kind".to_string())]);
    let (report, sink) =
        ingest_one(SourceSpec { path, role: Some(Role::Change), fields, ..Default::default() });
    let r = &report.sources[0];
    assert_accounted(r);
    assert_eq!(r.lines, count_lines(&bytes));
    let ts = ts_strings(&sink.tables[&Role::Change]);
    assert_eq!(ts[0], "2018-08-21T14:04:21.221Z");
}

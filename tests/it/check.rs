//! The nightly check: a week of quiet nights then the incident, exit codes, the lock, and a
//! killed run that must leave no half-written state.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use polars::prelude::SerReader;
use rootline::check::{self, CheckOptions, CheckResult, Status};
use rootline::config::IncidentConfig;
use rootline::ingest::SourceSpec;
use rootline::simulate::{self, Scenario, SimFormat, SimOutput, SimParams};

use crate::common::temp_dir;

const DAY_MS: i64 = 86_400_000;
const LOGS: [&str; 3] = ["login.log", "supernodes.log", "patches.log"];
const REPORT_FILES: [&str; 6] =
    ["findings.json", "report.html", "status.json", "summary.md", "timeline.png", "timeline.svg"];

fn rootline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rootline"))
}

fn sample_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/skype-2007/incident.toml")
}

fn specs(config: &Path) -> Vec<SourceSpec> {
    IncidentConfig::load(config).unwrap().specs(config.parent().unwrap()).unwrap()
}

fn day(ms: i64) -> String {
    rootline::units::rfc3339_secs(ms)[..10].to_string()
}

/// Copies the lines of `days` from each simulated log into `dir`, as a nightly export would
/// leave yesterday's and today's logs there.
fn export_days(sim: &Path, dir: &Path, days: &[String]) {
    for name in LOGS {
        let text = fs::read_to_string(sim.join(name)).unwrap();
        let kept: String = text
            .lines()
            .filter(|l| days.iter().any(|d| l.starts_with(d.as_str())))
            .map(|l| format!("{l}\n"))
            .collect();
        fs::write(dir.join(name), kept).unwrap();
    }
}

/// Every run directory and stored series in the state is whole.
fn assert_state_whole(state: &Path) -> usize {
    let mut whole = 0;
    if let Ok(rd) = fs::read_dir(state.join("runs")) {
        for e in rd.map(Result::unwrap) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let status: CheckResult =
                serde_json::from_slice(&fs::read(e.path().join("status.json")).unwrap()).unwrap();
            let want: &[&str] =
                if status.status == Status::Unknown { &["rejects.jsonl"] } else { &REPORT_FILES };
            for f in want {
                let p = e.path().join(f);
                assert!(p.is_file(), "{} is missing: a run directory is half-written", p.display());
            }
            assert_eq!(status.night.as_deref(), Some(name.as_str()));
            whole += 1;
        }
    }
    for p in glob::glob(&format!("{}/baseline/*/*.parquet", state.display())).unwrap() {
        let p = p.unwrap();
        let f = fs::File::open(&p).unwrap();
        let df = polars::prelude::ParquetReader::new(f).finish();
        assert!(df.is_ok_and(|d| d.height() > 0), "{} does not read back", p.display());
    }
    if state.join("last.json").exists() {
        let _: CheckResult =
            serde_json::from_slice(&fs::read(state.join("last.json")).unwrap()).unwrap();
    }
    whole
}

fn leftovers(state: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for dir in [state.to_path_buf(), state.join("runs"), state.join("baseline/60s")] {
        if let Ok(rd) = fs::read_dir(dir) {
            out.extend(
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(".tmp-") || n.starts_with(".old-")),
            );
        }
    }
    out
}

#[test]
fn seven_quiet_nights_then_the_incident() {
    let dir = temp_dir("check-week");
    let sim = dir.join("sim");
    let mut params = SimParams::new(Scenario::Skype2007).with_clients(5000).with_seed(3);
    // A week more of ordinary days before Patch Tuesday (the release stays on 14 Aug).
    params.start_ms -= 6 * DAY_MS;
    params.days += 6;
    let truth = simulate::simulate(
        &params,
        &SimOutput { dir: sim.clone(), format: SimFormat::Text, gzip: false },
        &|_| {},
    )
    .unwrap()
    .truth;
    let logs = dir.join("logs");
    fs::create_dir_all(&logs).unwrap();
    fs::copy(sim.join("incident.toml"), logs.join("nightly.toml")).unwrap();
    let config = logs.join("nightly.toml");
    let state = dir.join("state");

    let first = params.start_ms + DAY_MS;
    let incident = rootline::units::rfc3339_ms(&truth.surge.as_ref().unwrap().onset);
    let mut nights: Vec<i64> = (0..7).map(|k| first + k * DAY_MS).collect();
    nights.push(incident.div_euclid(DAY_MS) * DAY_MS);
    let release = rootline::units::rfc3339_ms(truth.release.as_ref().unwrap());
    assert!(nights[6] + DAY_MS <= release, "the quiet nights end before the patch");
    let mut codes = Vec::new();
    let mut results = Vec::new();
    for &night in &nights {
        // Each night the export holds the day before and the day itself.
        export_days(&sim, &logs, &[day(night - DAY_MS), day(night)]);
        let mut o = CheckOptions::new(state.clone());
        o.as_of = Some(day(night));
        let r = check::check(&specs(&config), &o);
        eprintln!("{} -> {}", day(night), r.status_line());
        codes.push(r.code);
        results.push(r);
    }
    assert_eq!(codes, [0, 0, 0, 0, 0, 0, 0, 2], "seven quiet nights, then the incident");
    let last = results.last().unwrap();
    assert_eq!(last.status, Status::Critical);
    assert!(last.summary.contains("login surge"), "{}", last.summary);
    assert_eq!(last.stored_runs, 7, "the incident night learned from the seven before it");
    assert!(last.history_h >= 8.0 * 24.0, "{}", last.history_h);
    assert_eq!(results[0].stored_runs, 0, "the first night learns from its own files");
    assert_eq!(assert_state_whole(&state), 8);

    // Re-running a night replaces it: same answer, still eight nights, none counted twice.
    let mut o = CheckOptions::new(state.clone());
    o.as_of = Some(day(*nights.last().unwrap()));
    let again = check::check(&specs(&config), &o);
    assert_eq!((again.code, again.stored_runs), (2, 7));
    assert_eq!(again.summary, last.summary);
    let stored: BTreeSet<String> = fs::read_dir(state.join("baseline/60s"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(stored.len(), 8, "{stored:?}");
    assert!(leftovers(&state).is_empty());
}

#[test]
fn a_missing_log_file_is_unknown() {
    let dir = temp_dir("check-missing");
    fs::write(dir.join("nightly.toml"), "[[source]]\npath = \"gone.log\"\nrole = \"login\"\n")
        .unwrap();
    let o = rootline()
        .args(["check", "--config"])
        .arg(dir.join("nightly.toml"))
        .arg("--state")
        .arg(dir.join("state"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("ROOTLINE UNKNOWN - ") && out.contains("gone.log"), "{out}");
    assert_eq!(out.lines().count(), 1, "one status line: {out}");
}

#[test]
fn usage_errors_are_unknown_not_2() {
    let o = rootline().args(["check", "--config", "x.toml", "--windw", "6h"]).output().unwrap();
    assert_eq!(o.status.code(), Some(3));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("ROOTLINE UNKNOWN - usage: ") && out.contains("--windw"), "{out}");
    let o = rootline().args(["check", "--help"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "help is not an error");
    // With no arguments, the one status line names what is missing.
    let o = rootline().arg("check").output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(3));
    assert!(out.lines().count() == 1 && out.contains("--config <CONFIG>"), "{out}");
}

/// The status line as a monitoring system reads it: the plugin guidelines' grammar for
/// performance data (`'label'=value[UOM];[warn];[crit];[min];[max]`), every label known, and
/// thresholds from -w and -c deciding the status.
#[test]
fn r19_perfdata_follows_the_plugin_grammar_and_thresholds_decide() {
    let dir = temp_dir("check-perfdata");
    let run = |extra: &[&str]| {
        let o = rootline()
            .args(["check", "--as-of", "2007-08-16", "--config"])
            .arg(sample_config())
            .arg("--state")
            .arg(dir.join("state"))
            .args(extra)
            .output()
            .unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stdout).trim_end().to_string())
    };
    let (code, line) = run(&[]);
    assert_eq!(code, Some(2), "{line}");
    let (_, perf) = line.split_once(" | ").expect("perfdata");
    let value = r"-?[0-9]+(\.[0-9]+)?";
    let grammar = regex::Regex::new(&format!(
        r"^([A-Za-z0-9_]+|'[^'=]+')=({value})(s|us|ms|%|B|KB|MB|TB|c)?;({value})?;({value})?;({value})?;({value})?$"
    ))
    .unwrap();
    let mut labels = Vec::new();
    for item in perf.split(' ') {
        let c = grammar.captures(item).unwrap_or_else(|| panic!("not plugin perfdata: {item}"));
        labels.push(c[1].to_string());
    }
    for label in &labels {
        assert!(check::METRICS.iter().any(|m| m.label == label), "unknown label {label}");
    }
    assert!(perf.contains("attempts_ratio=376.16;3;;0;"), "{perf}");
    assert!(perf.contains("nodes_online_drop=100%;20;;0;100"), "{perf}");
    // Thresholds decide: a warning line the surge stays under, and a critical one it passes.
    let (code, line) = run(&["-w", "attempts_ratio=400", "-c", "failure_episodes=5"]);
    assert_eq!(code, Some(1), "the exhaustion alone warns: {line}");
    let (code, line) =
        run(&["-w", "attempts_ratio=400,nodes_online_drop=101", "-c", "failure_episodes=5"]);
    assert_eq!(code, Some(0), "below every threshold: {line}");
    assert!(line.starts_with("ROOTLINE OK - below the thresholds"), "{line}");
    let (code, line) = run(&["--warning", "attempts_ratio=x"]);
    assert_eq!(code, Some(3), "{line}");
    assert!(line.contains("--warning") && line.contains("not a number"), "{line}");
}

/// `--prometheus FILE`: the text exposition format, read back by a Prometheus parser.
#[test]
fn r19_the_prometheus_file_parses_back() {
    let dir = temp_dir("check-prom");
    let prom = dir.join("rootline.prom");
    let o = rootline()
        .args(["check", "--as-of", "2007-08-16", "--config"])
        .arg(sample_config())
        .arg("--state")
        .arg(dir.join("state"))
        .arg("--prometheus")
        .arg(&prom)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let text = fs::read_to_string(&prom).unwrap();
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    let get = |name: &str| {
        let s =
            scrape.samples.iter().find(|s| s.metric == name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(s.labels.get("check"), Some("incident"));
        match s.value {
            prometheus_parse::Value::Gauge(v) => v,
            ref other => panic!("{name} is not a gauge: {other:?}"),
        }
    };
    assert_eq!(get("rootline_check_status"), 2.0);
    assert_eq!(get("rootline_attempts_ratio"), 376.16);
    assert_eq!(get("rootline_nodes_online_drop"), 100.0);
    assert_eq!(get("rootline_check_window_end_timestamp_seconds"), 1_187_308_800.0);
    assert!(scrape.docs.contains_key("rootline_check_status"), "HELP lines are there");
    assert!(leftovers(&dir).is_empty(), "written whole: {:?}", leftovers(&dir));
}

#[test]
fn too_many_rejects_or_too_little_history_are_unknown() {
    let dir = temp_dir("check-unknown");
    let mut text = String::new();
    for m in 0..50 {
        text += &format!("2024-03-01T10:{m:02}:00Z user=u{m} outcome=ok\n");
    }
    text += "garbage\nmore garbage\nstill garbage\n";
    fs::write(dir.join("login.log"), &text).unwrap();
    fs::write(
        dir.join("nightly.toml"),
        "[[source]]\npath = \"login.log\"\nrole = \"login\"\nformat = \"logfmt\"\n",
    )
    .unwrap();
    let specs = specs(&dir.join("nightly.toml"));
    let r = check::check(&specs, &CheckOptions::new(dir.join("state")));
    assert_eq!(r.status, Status::Unknown);
    assert!(r.summary.contains("3 of 53 lines rejected"), "{}", r.summary);
    // Nothing is lost: the rejected lines are kept with their file and line number.
    let run = PathBuf::from(r.report.as_deref().expect("the run is kept"));
    assert!(r.summary.contains(&run.join("rejects.jsonl").display().to_string()));
    let kept = fs::read_to_string(run.join("rejects.jsonl")).unwrap();
    assert_eq!(kept.lines().count(), 3);
    assert!(kept.contains("\"line\":51") && kept.contains("garbage"), "{kept}");
    assert_state_whole(&dir.join("state"));
    let mut o = CheckOptions::new(dir.join("state"));
    o.max_rejected = 0.1;
    o.as_of = Some("2024-03-01".into());
    let r = check::check(&specs, &o);
    assert_eq!(r.status, Status::Unknown);
    assert!(r.summary.contains("too little history"), "{}", r.summary);
    o.as_of = Some("2024-04-01".into());
    let r = check::check(&specs, &o);
    assert!(r.summary.contains("no log lines in the window"), "{}", r.summary);
}

#[test]
fn a_log_of_nothing_but_garbage_keeps_every_line() {
    let dir = temp_dir("check-garbage");
    fs::write(dir.join("login.log"), "garbage\n\u{1}\u{2} more\nstill garbage\n").unwrap();
    fs::write(
        dir.join("nightly.toml"),
        "[[source]]\npath = \"login.log\"\nrole = \"login\"\nformat = \"logfmt\"\n",
    )
    .unwrap();
    let specs = specs(&dir.join("nightly.toml"));
    for (as_of, night) in [(None, "undated"), (Some("2024-03-02"), "2024-03-02")] {
        let mut o = CheckOptions::new(dir.join("state"));
        o.as_of = as_of.map(str::to_string);
        let r = check::check(&specs, &o);
        assert_eq!(r.status, Status::Unknown);
        assert!(r.summary.contains("3 of 3 lines rejected"), "{}", r.summary);
        let run = PathBuf::from(r.report.as_deref().expect("the rejects are kept"));
        assert!(run.ends_with(night), "{}", run.display());
        let kept = fs::read_to_string(run.join("rejects.jsonl")).unwrap();
        assert_eq!(kept.lines().count(), 3, "{kept}");
    }
    assert_state_whole(&dir.join("state"));
}

#[test]
fn a_second_run_while_one_holds_the_lock_is_unknown() {
    let dir = temp_dir("check-lock");
    let state = dir.join("state");
    fs::create_dir_all(&state).unwrap();
    let held = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(state.join("lock"))
        .unwrap();
    held.lock().unwrap();
    // The holder's pid, as a running check writes it beside the lock.
    fs::write(state.join("lock.pid"), format!("{}\n", std::process::id())).unwrap();
    let r = check::check(&specs(&sample_config()), &CheckOptions::new(state.clone()));
    assert_eq!(r.status, Status::Unknown);
    assert!(r.summary.contains("another rootline check is running"), "{}", r.summary);
    assert!(r.summary.contains(&format!("(pid {})", std::process::id())), "{}", r.summary);
    // A pid file left by a run long gone is not named as the holder.
    fs::write(state.join("lock.pid"), "999999999\n").unwrap();
    let r = check::check(&specs(&sample_config()), &CheckOptions::new(state.clone()));
    assert!(r.summary.contains("(pid unknown)"), "{}", r.summary);
    assert!(!state.join("last.json").exists(), "the blocked run wrote nothing");
    drop(held);
    let mut o = CheckOptions::new(state);
    o.as_of = Some("2007-08-13".into());
    assert_eq!(check::check(&specs(&sample_config()), &o).status, Status::Ok);
}

#[test]
fn json_is_one_object_without_log_lines() {
    let dir = temp_dir("check-json");
    let o = rootline()
        .args(["check", "--as-of", "2007-08-16", "--json", "--config"])
        .arg(sample_config())
        .arg("--state")
        .arg(dir.join("state"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stdout));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out.trim_end().lines().count(), 1);
    let r: CheckResult = serde_json::from_str(&out).unwrap();
    assert_eq!((r.status, r.night.as_deref()), (Status::Critical, Some("2007-08-16")));
    assert!(!r.surges.is_empty() && !r.exhaustions.is_empty());
    assert!(!out.contains("host=login") && !out.contains("outcome=ok"), "no raw lines: {out}");
    let text = rootline()
        .args(["check", "--as-of", "2007-08-16", "--config"])
        .arg(sample_config())
        .arg("--state")
        .arg(dir.join("state"))
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&text.stdout);
    assert!(line.starts_with("ROOTLINE CRITICAL - login surge "), "{line}");
    assert!(line.contains(" | ") && line.contains("attempts_ratio="), "{line}");
}

#[test]
fn a_killed_run_leaves_no_half_written_state() {
    let dir = temp_dir("check-kill");
    let state = dir.join("state");
    let run = || {
        rootline()
            .args(["check", "--as-of", "2007-08-16", "--config"])
            .arg(sample_config())
            .arg("--state")
            .arg(&state)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let t0 = Instant::now();
    assert_eq!(run().wait().unwrap().code(), Some(2));
    let full = t0.elapsed();
    let mut left = 0;
    // Kills spread over the run, most of them late, where the files are written.
    let kills = 16;
    for k in 0..kills {
        let mut child = run();
        std::thread::sleep(full.mul_f64(0.3 + 0.69 * f64::from(k) / f64::from(kills - 1)));
        let _ = child.kill();
        let _ = child.wait();
        left += usize::from(!leftovers(&state).is_empty());
        assert_state_whole(&state);
    }
    eprintln!("{kills} kills over a {full:?} run; {left} left .tmp-/.old- leftovers");
    // The next run takes the lock a killed one held, clears the leftovers and answers.
    assert_eq!(run().wait().unwrap().code(), Some(2));
    assert!(leftovers(&state).is_empty(), "{:?}", leftovers(&state));
    assert_eq!(assert_state_whole(&state), 1);
}

#[test]
fn r12_a_stored_series_from_another_version_is_named() {
    let dir = temp_dir("check-foreign-baseline");
    let state = dir.join("state");
    let stored = state.join("baseline/60s");
    fs::create_dir_all(&stored).unwrap();
    let mut df = polars::df!("ts" => ["2007-08-12"], "attempts" => ["many"]).unwrap();
    let path = stored.join("2007-08-12.parquet");
    polars::prelude::ParquetWriter::new(fs::File::create(&path).unwrap()).finish(&mut df).unwrap();
    let mut o = CheckOptions::new(state);
    o.as_of = Some("2007-08-13".into());
    let r = check::check(&specs(&sample_config()), &o);
    assert_eq!(r.status, Status::Unknown);
    assert!(
        r.summary.contains("2007-08-12.parquet") && r.summary.contains("remove it"),
        "{}",
        r.summary
    );
}

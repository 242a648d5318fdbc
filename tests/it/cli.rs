//! The binary: exit codes, error text, and the files `rootline ingest` writes.

use std::process::Command;

use crate::common::temp_dir;

fn rootline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rootline"))
}

#[test]
fn ingest_writes_tables_rejects_and_a_report() {
    let dir = temp_dir("cli-ingest");
    let src = dir.join("auth.log");
    std::fs::write(&src, "Dec 10 06:55:48 LabSZ sshd[24200]: Failed password for root from 1.2.3.4 port 22 ssh2\nnot a log line\n").unwrap();
    let out = dir.join("out");
    let o = rootline()
        .args(["ingest", "--year", "2016", "--out"])
        .arg(&out)
        .arg(&src)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("2 lines -> 1 rows, 0 skipped, 1 rejected"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("ingest.json")).unwrap()).unwrap();
    let s = &report["sources"][0];
    assert_eq!(
        (s["role"].as_str(), s["preset"].as_str(), s["rejected"].as_u64()),
        (Some("login"), Some("sshd"), Some(1))
    );
    assert_eq!(report["files"][0], "login/date=2016-12-10/part-0.parquet");
    let rejects = std::fs::read_to_string(out.join("rejects.jsonl")).unwrap();
    let rej: serde_json::Value = serde_json::from_str(rejects.lines().next().unwrap()).unwrap();
    assert_eq!((rej["line"].as_u64(), rej["raw"].as_str()), (Some(2), Some("not a log line")));
}

#[test]
fn strict_exits_2_and_names_the_file() {
    let dir = temp_dir("cli-strict");
    let src = dir.join("x.log");
    std::fs::write(&src, "ts=2007-08-16T03:00:00Z outcome=ok user=a\nnope\n").unwrap();
    let o = rootline()
        .args(["ingest", "--strict", "--out"])
        .arg(dir.join("out"))
        .arg(&src)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.starts_with("error: ") && stderr.contains("x.log: 1 line rejected"), "{stderr}");
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let dir = temp_dir("cli-missing");
    let o = rootline()
        .args(["ingest", "--out"])
        .arg(dir.join("out"))
        .arg(dir.join("nope.log"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("failed to read") && stderr.contains("nope.log"), "{stderr}");
}

#[test]
fn a_bad_role_flag_suggests_the_right_one() {
    let o = rootline().args(["ingest", "--role", "logins", "--out", "x", "y"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("did you mean \"login\""));
}

#[test]
fn help_shows_examples() {
    let o = rootline().args(["ingest", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("Examples:") && help.contains("rootline ingest --config"), "{help}");
}

/// Every query, format and preset file in the repo is built in: adding a file without
/// registering it (or the other way round) fails here.
#[test]
fn every_query_format_and_preset_file_is_registered() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = |dir: &str, ext: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(ext))
            .collect();
        v.sort();
        v
    };
    let sorted = |v: Vec<String>| {
        let mut v = v;
        v.sort();
        v
    };
    let formats =
        sorted(rootline::ingest::format::BUILTIN.iter().map(|(f, _)| f.to_string()).collect());
    assert_eq!(files("src/ingest/formats", ".toml"), formats);
    let presets =
        sorted(rootline::ingest::preset::BUILTIN.iter().map(|(f, _)| f.to_string()).collect());
    assert_eq!(files("src/ingest/presets", ".toml"), presets);
    let queries =
        sorted(rootline::query::SHIPPED.iter().map(|(n, _)| format!("{n}.sql")).collect());
    assert_eq!(files("queries", ".sql"), queries);
}

#[test]
fn r19_completions_for_every_shell_and_a_manual_page() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let o = rootline().args(["completions", shell]).output().unwrap();
        assert!(o.status.success(), "{shell}: {}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8_lossy(&o.stdout);
        for word in ["rootline", "report", "check", "config"] {
            assert!(text.contains(word), "{shell} completions lack {word}");
        }
    }
    let o = rootline().arg("man").output().unwrap();
    assert!(o.status.success());
    let page = String::from_utf8_lossy(&o.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH rootline"),
        "{}",
        &page[..200.min(page.len())]
    );
    assert!(page.contains("check") && page.contains("report"));
    let dir = temp_dir("man");
    let o = rootline().args(["man", "--out"]).arg(&dir).output().unwrap();
    assert!(o.status.success());
    for name in ["rootline.1", "rootline-check.1", "rootline-report.1"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|_| panic!("{name}"));
        assert!(text.contains(".TH"), "{name} is a roff page");
    }
}

#[test]
fn r19_query_csv_keeps_every_digit_and_keywords_get_a_hint() {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample-data/skype-2007/incident.toml");
    let o = rootline()
        .args(["query", "--config"])
        .arg(&config)
        .args(["SELECT 1.0 / 3.0 AS third", "--format", "csv"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "third\n0.3333333333333333\n");
    let o = rootline()
        .args(["query", "--config"])
        .arg(&config)
        .arg("SELECT user FROM login LIMIT 1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("double quotes") && err.contains("\"user\""), "{err}");
}

/// SQL given after the files (`rootline query f.jsonl "SELECT ..."`) is named as such, with
/// the order that works, instead of "failed to read SELECT ...".
#[test]
fn sql_after_the_files_gets_the_order_that_works() {
    let dir = temp_dir("query-order");
    let f = dir.join("logins.jsonl");
    std::fs::write(&f, "{\"ts\":\"2024-01-01T00:00:00Z\",\"outcome\":\"ok\",\"user\":\"a\"}\n")
        .unwrap();
    let o =
        rootline().arg("query").arg(&f).arg("SELECT COUNT(*) AS n FROM login").output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("looks like SQL given after the files")
            && err.contains("the query comes first"),
        "{err}"
    );
    let o =
        rootline().arg("query").arg("SELECT COUNT(*) AS n FROM login").arg(&f).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains('1'));
}

/// A CSV with a header and no rows is named as such, not as a format nobody could match.
#[test]
fn a_header_without_rows_is_called_that() {
    let dir = temp_dir("header-only");
    let f = dir.join("metric.csv");
    std::fs::write(&f, "timestamp,value\n").unwrap();
    let o = rootline().arg("report").arg("--out").arg(dir.join("out")).arg(&f).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("only line (\"timestamp,value\")") && err.contains("a header with no rows"),
        "{err}"
    );
}

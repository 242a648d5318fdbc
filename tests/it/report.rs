//! The report: the committed example is what the code makes, strings from logs are escaped,
//! and the PNG is a real picture.

use std::path::Path;
use std::process::Command;

use crate::common::temp_dir;

fn rootline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rootline"))
}

/// `reports/skype-2007/` is the report of `sample-data/skype-2007`, regenerated here and
/// compared file by file (findings.json as structure, the text files as text). When the code
/// changes the report on purpose, `UPDATE_GOLDEN=1 cargo test report` rewrites it; review
/// the diff like code.
/// The sample's report with what would have helped (`--whatif`), made fresh by this build
/// once per test run (tests of the PNG and of the HTML in a browser look at it, not at the
/// committed files).
fn fresh_report() -> &'static Path {
    static OUT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    OUT.get_or_init(|| {
        let out = temp_dir("report-fresh");
        let o = rootline()
            .args(["report", "--config", "sample-data/skype-2007/incident.toml", "--whatif"])
            .args(["-q", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    })
}

#[test]
fn committed_report_is_up_to_date() {
    let out = fresh_report();
    let golden = Path::new("reports/skype-2007");
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::create_dir_all(golden).unwrap();
        for f in [
            "findings.json",
            "summary.md",
            "timeline.svg",
            "report.html",
            "timeline.png",
            "whatif.json",
            "whatif.svg",
            "whatif.png",
        ] {
            std::fs::copy(out.join(f), golden.join(f)).unwrap();
        }
    }
    let read = |dir: &Path, f: &str| {
        std::fs::read_to_string(dir.join(f)).unwrap_or_else(|_| {
            panic!("{} missing: run UPDATE_GOLDEN=1 cargo test report", dir.join(f).display())
        })
    };
    let want: serde_json::Value = serde_json::from_str(&read(golden, "findings.json")).unwrap();
    let got: serde_json::Value = serde_json::from_str(&read(out, "findings.json")).unwrap();
    assert!(
        want == got,
        "findings.json differs from reports/skype-2007: run UPDATE_GOLDEN=1 cargo test report and review the diff"
    );
    for f in ["summary.md", "timeline.svg", "report.html", "whatif.json", "whatif.svg"] {
        assert!(
            read(golden, f) == read(out, f),
            "{f} differs from reports/skype-2007: run UPDATE_GOLDEN=1 cargo test report"
        );
    }
    let png = |dir: &Path| std::fs::read(dir.join("timeline.png")).expect("timeline.png");
    assert!(
        png(golden) == png(out),
        "timeline.png differs from reports/skype-2007: run UPDATE_GOLDEN=1 cargo test report"
    );
}

#[test]
fn the_png_is_a_picture_of_the_right_size() {
    let png = std::fs::read(fresh_report().join("timeline.png")).expect("a fresh PNG");
    assert_eq!(&png[1..4], b"PNG");
    let (w, h) = (
        u32::from_be_bytes(png[16..20].try_into().unwrap()),
        u32::from_be_bytes(png[20..24].try_into().unwrap()),
    );
    assert_eq!((w, h), (1600, 900));
    assert!(
        png.len() > 30_000,
        "a near-blank PNG compresses to almost nothing: {} bytes",
        png.len()
    );
}

#[test]
fn strings_from_logs_and_config_are_escaped() {
    let dir = temp_dir("report-escape");
    let mut logins = String::new();
    for m in 0..240 {
        // Steady demand; from 03:00 to 03:20 every login fails, 5 min after a deploy.
        for k in 0..10 {
            let outcome = if (180..200).contains(&m) { "fail" } else { "ok" };
            logins += &format!(
                "ts=2024-01-01T{:02}:{:02}:{:02}Z outcome={outcome} user=<script>alert({k})</script>\n",
                m / 60,
                m % 60,
                k
            );
        }
    }
    std::fs::write(dir.join("logins.log"), logins).unwrap();
    std::fs::write(
        dir.join("changes.log"),
        "ts=2024-01-01T02:55:00Z kind=deploy target=\"<img src=x onerror=alert(1)>\" item=\"<script>alert(2)</script>\"\n",
    )
    .unwrap();
    // A plain metric named by its file, which steps up at 03:00: its shift is in the timeline.
    let mut metric = String::from("timestamp,value\n");
    for m in 0..240 {
        let v = if m < 180 { 10 + m % 3 } else { 90 + m % 3 };
        metric += &format!("2024-01-01 {:02}:{:02}:00,{v}\n", m / 60, m % 60);
    }
    std::fs::write(dir.join("<i>queue.csv"), metric).unwrap();
    let out = dir.join("out");
    let o = rootline()
        .args(["report", "--title", "<b>bold</b> & co", "-q", "--out"])
        .arg(&out)
        .arg(dir.join("logins.log"))
        .arg(dir.join("changes.log"))
        .arg(dir.join("<i>queue.csv"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        !html.contains("<script") && !html.contains("<img") && !html.contains("<b>bold"),
        "unescaped markup in report.html"
    );
    assert!(
        html.contains("&lt;script&gt;alert(2)&lt;/script&gt;"),
        "the deploy's item should be shown as text"
    );
    assert!(html.contains("&lt;b&gt;bold&lt;/b&gt; &amp; co"));
    assert!(!html.contains("<i>queue"), "unescaped metric name in report.html");
    assert!(html.contains("&lt;i&gt;queue shifts"), "the metric's shift should be in the timeline");
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(!md.replace("\\<", "").contains("<script"), "an unescaped tag: {md}");
}

/// Headless Chromium opens the sample's report, as this build makes it, with every host unresolvable: no console
/// errors, and a screenshot that is not blank. Skips when Chromium is absent, unless
/// `ROOTLINE_REQUIRE_BROWSER=1` (as in CI, whose script installs it).
#[test]
fn report_renders_offline_in_headless_chromium() {
    let found = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()));
    let Some(browser) = found else {
        if std::env::var("ROOTLINE_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!("chromium is not installed and ROOTLINE_REQUIRE_BROWSER=1");
        }
        eprintln!("skipped: chromium is not installed");
        return;
    };
    let html = std::fs::canonicalize(fresh_report().join("report.html")).expect("a fresh report");
    let text = std::fs::read_to_string(&html).unwrap();
    for needle in ["src=\"http", "href=\"http", "@import", "url(http"] {
        assert!(!text.contains(needle), "report.html loads something from the network: {needle}");
    }
    let dir = temp_dir("chromium");
    let shot = dir.join("shot.png");
    let o = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1400,2400",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    let console: Vec<&str> =
        stderr.lines().filter(|l| l.contains("CONSOLE") || l.contains("Uncaught")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.len() > 50_000, "the screenshot looks blank: {} bytes", png.len());
}

/// A report of plain metrics alone draws them (on their own scale, below zero too) and marks
/// where they shifted; it was a blank chart.
#[test]
fn a_metrics_only_timeline_draws_the_metrics() {
    use rootline::correlate::AnalyzeOptions;
    use rootline::ingest::SourceSpec;
    use rootline::pipeline::{Incident, Input, LoadOptions};
    let dir = temp_dir("report-metrics");
    let mut csv = String::from("timestamp,value\n");
    for m in 0..600 {
        let v = if m < 400 { -20.0 + (m % 4) as f64 } else { 35.0 + (m % 4) as f64 };
        csv += &format!("2024-01-01 {:02}:{:02}:00,{v}\n", m / 60, m % 60);
    }
    std::fs::write(dir.join("queue_depth.csv"), csv).unwrap();
    let spec = SourceSpec { path: dir.join("queue_depth.csv"), ..Default::default() };
    let incident = Incident::load(&Input::Specs(vec![spec]), &LoadOptions::default()).unwrap();
    let a = incident.analyze(&AnalyzeOptions::default()).unwrap();
    let (f, s) = (a.findings, a.series);
    assert!(!f.metrics.is_empty(), "the step at 06:40 is a metric shift");
    let t = rootline::report::timeline(&s, &f, "metrics");
    assert_eq!(t.panels.len(), 1);
    assert_eq!(t.panels[0].title, "queue_depth");
    let ys: Vec<f64> = t.panels[0].lines[0].points.iter().map(|p| p.1).collect();
    assert!(ys.iter().any(|y| *y < -15.0) && ys.iter().any(|y| *y > 30.0), "{ys:?}");
    assert!(t.marks.iter().any(|(label, _)| label == "shift"), "{:?}", t.marks);
    let svg = rootline::report::chart::svg(&t).unwrap();
    assert!(svg.contains("queue_depth"));
    rootline::report::write(&f, &s, "metrics", &dir.join("out")).unwrap();
    let story = std::fs::read_to_string(dir.join("out/summary.md")).unwrap();
    assert!(story.contains("plain metrics only"), "{story}");
    assert!(!story.contains("Demand did not surge"), "{story}");
}

/// The sample's postmortem tells one story once: a timeline of at most ten rows (the other
/// moments in a details list), evidence cited as `[n]` with the source lines listed once, no
/// sentence with more than one `file:line`, and no "(s)" plurals.
#[test]
fn r15_the_sample_timeline_is_short_and_cites_its_evidence() {
    let md = std::fs::read_to_string(fresh_report().join("summary.md")).unwrap();
    let section = |name: &str| -> String {
        let from = md.find(&format!("## {name}")).unwrap_or_else(|| panic!("no {name} in {md}"));
        let rest = &md[from + 3..];
        rest[..rest.find("\n## ").unwrap_or(rest.len())].to_string()
    };
    let timeline = section("Timeline");
    let rows = timeline.lines().filter(|l| l.starts_with("| 20")).count();
    assert!((4..=10).contains(&rows), "{rows} timeline rows:\n{timeline}");
    assert!(timeline.contains("Other moments"), "the other moments go to a list:\n{timeline}");
    let file_line = regex::Regex::new(r"[\w.-]+\.(log|gz|csv|jsonl)(\\?\.gz)?:\d+").unwrap();
    for (name, text) in [("Summary", section("Summary")), ("Timeline", timeline.clone())] {
        for sentence in text.split(". ") {
            let n = file_line.find_iter(sentence).count();
            assert!(n <= 1, "{name}: a sentence with {n} file:line: {sentence}");
        }
    }
    assert!(md.contains(r"\[1\]") && section("Sources").contains("1. sample-data/"), "{md}");
    assert!(!md.contains("(s)"), "a plural left to the reader: {md}");
    assert!(
        md.contains("duration (first episode to recovery)")
            && md.contains("time to recover (change wave to recovery)"),
        "each duration says what it measures"
    );
}

/// `rootline report` of one yearless log in a fresh directory: its findings and summary.md.
fn report_of(log: &Path, year: &str, name: &str) -> (serde_json::Value, String) {
    let out = temp_dir(name);
    let o = rootline()
        .args(["report", "-q", "--year", year, "--out"])
        .arg(&out)
        .arg(log)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let f =
        serde_json::from_str(&std::fs::read_to_string(out.join("findings.json")).unwrap()).unwrap();
    (f, std::fs::read_to_string(out.join("summary.md")).unwrap())
}

/// OpenSSH's brute force (loghub) is told as one: `brute_force` first, advice to rate-limit
/// and block, and none of a retry storm's (client backoff, retry budgets, headroom).
#[test]
fn r15_a_brute_force_gets_a_brute_forces_lessons() {
    let Some(log) = crate::common::shared("loghub/OpenSSH/OpenSSH_2k.log") else { return };
    let (f, md) = report_of(&log, "2016", "report-brute");
    assert_eq!(f["archetypes"][0]["kind"], "brute_force", "{}", f["archetypes"]);
    let md = md.to_lowercase();
    for wrong in ["backoff", "retry budget", "retries fed", "headroom", "users affected"] {
        assert!(
            !md.contains(wrong),
            "a retry storm's words in a brute force's report: {wrong}\n{md}"
        );
    }
    assert!(md.contains("rate-limit") && md.contains("block"), "{md}");
    assert!(!md.contains("failures → surge"), "an attacker's failures are no retries: {md}");
}

/// What a first user found on real exports (#15): the busiest minute is the peak, a story told
/// from node logs alone counts no failed logins, local times are said to be read as UTC, the
/// rejected lines are kept beside the report, and an empty file is called empty.
#[test]
fn r15_a_report_says_what_the_data_holds_and_no_more() {
    if let Some(log) = crate::common::shared("loghub/Linux/Linux_2k.log") {
        let (f, md) = report_of(&log, "2005", "report-linux");
        // 16, 46 and 18 attempts at 16:01, 16:02 and 16:03: the peak is the 46.
        assert_eq!(f["surges"][0]["peak"], "2005-07-10T16:02:00Z", "{}", f["surges"]);
        assert!(md.contains("read as UTC; pass --tz"), "syslog times have no zone: {md}");
        assert!(!md.contains("many user names"), "one user name was tried: {md}");
    }
    let dir = temp_dir("report-nodes-only");
    let mut nodes = String::new();
    for m in 0..600 {
        let n = if (300..420).contains(&m) { 4 } else { 10 };
        for k in 0..n {
            nodes += &format!(
                "ts=2024-01-01T{:02}:{:02}:00Z node=sn{k} event=sample load=5 capacity=10\n",
                m / 60,
                m % 60
            );
        }
    }
    std::fs::write(dir.join("nodes.log"), nodes).unwrap();
    std::fs::write(dir.join("empty.log"), "").unwrap();
    std::fs::write(
        dir.join("m.csv"),
        "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:01:00,x\n",
    )
    .unwrap();
    let out = dir.join("out");
    let o = rootline()
        .args(["report", "--role", "node", "--out"])
        .arg(&out)
        .arg(dir.join("nodes.log"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.to_lowercase().contains("nodes online fell"), "{md}");
    assert!(!md.contains("logins failed") && !md.contains("failed logins"), "no login data: {md}");
    let out = dir.join("out2");
    let o = rootline()
        .args(["report", "--out"])
        .arg(&out)
        .arg(dir.join("empty.log"))
        .arg(dir.join("m.csv"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("empty.log: empty (0 lines)"), "{err}");
    let rejects = out.join("rejects.jsonl");
    assert!(err.contains(&format!("rejected lines are in {}", rejects.display())), "{err}");
    assert!(
        std::fs::read_to_string(&rejects).unwrap().contains("\"line\":3"),
        "the bad line, by number"
    );
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("empty.log: empty (0 lines)") && md.contains("3 lines: 1 row,"), "{md}");
}

/// The sample's report, made with `--whatif`, says what would have helped and its first
/// action item quotes the replay's numbers (#16); the advice the replays contradict is gone.
#[test]
fn r16_the_sample_report_quotes_what_would_have_helped() {
    let md = std::fs::read_to_string(fresh_report().join("summary.md")).unwrap();
    let helped = md.split("## What would have helped").nth(1).expect("the section");
    assert!(helped.contains("shield-capacity") && helped.contains("stagger-rollout"), "{md}");
    let actions = md.split("## Action items").nth(1).unwrap();
    let first = actions.lines().find(|l| l.starts_with("- [ ]")).unwrap();
    assert!(first.contains("in the replay (shield-capacity)") && first.contains("instead of"));
    assert!(!actions.contains("exponential backoff"), "{actions}");
    let html = std::fs::read_to_string(fresh_report().join("report.html")).unwrap();
    assert!(html.contains("<h2>What would have helped</h2>"));
    // The chart of the incident against each policy: a line per run in each panel.
    let svg = std::fs::read_to_string(fresh_report().join("whatif.svg")).unwrap();
    for run in ["incident", "replay", "backoff-jitter", "shield-capacity"] {
        assert!(svg.contains(run), "whatif.svg has no {run}");
    }
    let png = std::fs::read(fresh_report().join("whatif.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
}

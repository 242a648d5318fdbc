//! The exports responders have: user presets and formats as files, value maps, the built-in
//! presets on real and written lines, changes as events, and nothing guessed in silence.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use rootline::correlate::AnalyzeOptions;
use rootline::findings::{Findings, LinkEnd};
use rootline::ingest::SourceSpec;
use rootline::pipeline::{Incident, Input, LoadOptions};
use rootline::schema::Role;

use crate::common::{ingest_one, shared, str_col, temp_dir};

fn rootline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rootline"))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn analyze(paths: &[PathBuf]) -> Findings {
    let specs = paths.iter().map(|p| SourceSpec { path: p.clone(), ..Default::default() });
    let incident = Incident::load(&Input::Specs(specs.collect()), &LoadOptions::default()).unwrap();
    incident.analyze(&AnalyzeOptions::default()).unwrap().findings
}

/// The peers' benchmark log (../shared/bench/gen.py), read through incident.toml with the
/// user's own preset `w1-logins.toml`: per-minute counts equal the generator's truth.
#[test]
fn r14_the_w1_log_through_a_user_preset_counts_exactly() {
    let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bench");
    if !bench.join("gen.py").exists() {
        assert!(
            std::env::var("ROOTLINE_REQUIRE_SHARED").as_deref() != Ok("1"),
            "../shared/bench/gen.py is missing and ROOTLINE_REQUIRE_SHARED=1"
        );
        eprintln!("skipped: ../shared/bench is not beside the project");
        return;
    }
    let dir = temp_dir("w1");
    let o = Command::new("python3")
        .arg(bench.join("gen.py"))
        .args(["-n", "60000", "--tag", "w1", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::copy(bench.join("w1-logins.toml"), dir.join("w1-logins.toml")).unwrap();
    let pattern = r"^(?P<ts>\S+) (?P<host>\S+) \S+ (?P<event>\S+) user=(?P<user>\S*) result=(?P<result>\S*) reason=(?P<reason>\S*) latency_ms=(?P<latency_ms>\d*) region=(?P<region>\S*)$";
    // The truth lists the minutes with lines (at this size a few are empty): each must match,
    // and every other minute rootline writes must be empty.
    let want: std::collections::BTreeMap<String, String> =
        std::fs::read_to_string(dir.join("expected_w1.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                let (m, rest) = l.split_once(',').unwrap();
                (m[..16].to_string(), rest.to_string())
            })
            .collect();
    assert!(want.len() > 5000, "four days of minutes");
    for (ext, how) in [
        ("log", format!("pattern = '{pattern}'")),
        ("csv", "format = \"csv\"".into()),
        ("jsonl", "format = \"jsonl\"".into()),
    ] {
        let cfg = write(
            &dir,
            &format!("incident-{ext}.toml"),
            &format!(
                "[[source]]\npath = \"w1.{ext}\"\nrole = \"login\"\npreset = \"w1-logins.toml\"\n{how}\n"
            ),
        );
        let out = dir.join(format!("out-{ext}"));
        let o = rootline()
            .args(["ingest", "--per-minute", "-q", "--config"])
            .arg(&cfg)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{ext}: {}", String::from_utf8_lossy(&o.stderr));
        let got = std::fs::read_to_string(out.join("login_per_minute.csv")).unwrap();
        let got: std::collections::BTreeMap<String, String> = got
            .lines()
            .skip(1)
            .map(|l| {
                // `2007-08-14T00:00Z,3,0` -> the truth's minute `2007-08-14T00:00`
                let (m, rest) = l.split_once(',').unwrap();
                (m.trim_end_matches('Z').to_string(), rest.to_string())
            })
            .collect();
        let wrong: Vec<_> = want.iter().filter(|(m, v)| got.get(*m) != Some(v)).take(3).collect();
        assert!(wrong.is_empty(), "{ext}: minutes that differ from the truth: {wrong:?}");
        let extra: Vec<_> =
            got.iter().filter(|(m, v)| !want.contains_key(*m) && *v != "0,0").take(3).collect();
        assert!(extra.is_empty(), "{ext}: minutes the truth has no line in: {extra:?}");
    }
}

#[test]
fn r14_a_user_preset_whose_sample_fails_is_refused_naming_the_sample() {
    let dir = temp_dir("bad-preset");
    write(
        &dir,
        "mine.toml",
        "name = \"mine\"\ntitle = \"x\"\nrole = \"login\"\nformats = [\"logfmt\"]\n\
         [[rule]]\nmatch = { msg = '^login (?P<u>\\S+)' }\nemit = { outcome = \"ok\", user = \"{u}\" }\n\
         [[rule]]\nskip = true\n\
         [[sample]]\nline = \"ts=2024-01-01T00:00:00Z msg='login bob'\"\nemit = { user = \"alice\" }\n",
    );
    write(&dir, "a.log", "ts=2024-01-01T00:00:00Z msg=x\n");
    let cfg = write(&dir, "i.toml", "[[source]]\npath = \"a.log\"\npreset = \"mine.toml\"\n");
    let o = rootline()
        .args(["analyze", "-q", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(dir.join("o"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("mine.toml") && err.contains("sample") && err.contains("login bob"),
        "{err}"
    );
}

/// Every way sshd tells of a failed or refused authentication counts once, with the client
/// at the end of the line; lines of one connection count its tries, not its messages.
#[test]
fn r14_each_openssh_failure_counts_once_with_its_client() {
    let dir = temp_dir("sshd-all");
    let lines = [
        // (line, rows it gives)
        ("Mar  3 10:00:01 h sshd[101]: Failed password for root from 192.0.2.1 port 1 ssh2", 1),
        (
            "Mar  3 10:00:02 h sshd-session[102]: Failed password for root from 192.0.2.2 port 2 ssh2",
            1,
        ),
        ("Mar  3 10:00:03 h sshd[103]: Invalid user oracle from 192.0.2.3 port 3", 1),
        (
            "Mar  3 10:00:04 h sshd[104]: User root from 192.0.2.4 not allowed because not listed in AllowUsers",
            1,
        ),
        (
            "Mar  3 10:00:05 h sshd[105]: Connection closed by authenticating user root 192.0.2.5 port 5 [preauth]",
            1,
        ),
        (
            "Mar  3 10:00:06 h sshd[106]: Disconnected from invalid user admin 192.0.2.6 port 6 [preauth]",
            1,
        ),
        (
            "Mar  3 10:00:07 h sshd[107]: Disconnecting authenticating user root 192.0.2.7 port 7: Too many authentication failures [preauth]",
            1,
        ),
        (
            "Mar  3 10:00:08 h sshd[108]: error: maximum authentication attempts exceeded for root from 192.0.2.8 port 8 ssh2 [preauth]",
            1,
        ),
        (
            "Mar  3 10:00:09 h sshd[109]: [ID 800047 auth.info] Failed password for root from 192.0.2.9 port 9 ssh2",
            1,
        ),
        (
            "Mar  3 10:00:10 h sshd[110]: Failed password for invalid user x from 6.6.6.6 port 1 ssh2 from 192.0.2.10 port 10 ssh2",
            1,
        ),
        (
            "Mar  3 10:00:11 h sshd[111]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.11",
            0,
        ),
    ];
    let text: String = lines.iter().map(|(l, _)| format!("{l}\n")).collect();
    let (report, sink) = ingest_one(SourceSpec {
        path: write(&dir, "auth.log", &text),
        year: Some(2025),
        ..Default::default()
    });
    let r = &report.sources[0];
    assert_eq!(r.preset.as_deref(), Some("sshd"));
    assert_eq!(r.rows, lines.iter().map(|l| l.1).sum::<u64>(), "{r:?}");
    let clients = str_col(&sink.tables[&Role::Login], "client");
    let want: Vec<Option<String>> = (1..=10).map(|i| Some(format!("192.0.2.{i}"))).collect();
    assert_eq!(clients, want);

    // One connection: an invalid user tries three passwords, then disconnects: three tries.
    let conn = "Mar  3 11:00:00 h sshd[200]: Invalid user bob from 192.0.2.50 port 9\n\
        Mar  3 11:00:01 h sshd[200]: Failed password for invalid user bob from 192.0.2.50 port 9 ssh2\n\
        Mar  3 11:00:02 h sshd[200]: Failed password for invalid user bob from 192.0.2.50 port 9 ssh2\n\
        Mar  3 11:00:03 h sshd[200]: Failed password for invalid user bob from 192.0.2.50 port 9 ssh2\n\
        Mar  3 11:00:04 h sshd[200]: Disconnected from invalid user bob 192.0.2.50 port 9 [preauth]\n\
        Mar  3 11:00:05 h sshd[201]: Invalid user eve from 192.0.2.51 port 8\n\
        Mar  3 11:00:06 h sshd[201]: Connection closed by invalid user eve 192.0.2.51 port 8 [preauth]\n";
    let (report, _) = ingest_one(SourceSpec {
        path: write(&dir, "conn.log", conn),
        year: Some(2025),
        ..Default::default()
    });
    assert_eq!(report.sources[0].rows, 4, "three tries of bob, one probe of eve");
}

#[test]
fn r14_dropbear_pam_and_windows_security_read_their_logins() {
    let dir = temp_dir("logins-misc");
    let (r, _) = ingest_one(SourceSpec {
        path: write(
            &dir,
            "dropbear.log",
            "Mar  3 10:02:00 gw dropbear[1201]: Bad password attempt for 'root' from 198.51.100.7:51515\nMar  3 10:02:02 gw dropbear[1203]: Password auth succeeded for 'root' from 198.51.100.9:40001\n",
        ),
        year: Some(2025),
        ..Default::default()
    });
    assert_eq!((r.sources[0].preset.as_deref(), r.sources[0].rows), (Some("dropbear"), 2));
    let (r, sink) = ingest_one(SourceSpec {
        path: write(
            &dir,
            "vsftpd.log",
            "Mar  3 10:03:00 ftp1 vsftpd[3301]: pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0 tty=ftp ruser=anonymous rhost=198.51.100.20  user=alice\n",
        ),
        year: Some(2025),
        ..Default::default()
    });
    assert_eq!((r.sources[0].preset.as_deref(), r.sources[0].rows), (Some("pam"), 1));
    assert_eq!(str_col(&sink.tables[&Role::Login], "client"), [Some("198.51.100.20".into())]);
    let (r, sink) = ingest_one(SourceSpec {
        path: write(
            &dir,
            "security.csv",
            "TimeCreated,Id,MachineName,TargetUserName,IpAddress\n2025-03-03T10:10:00.0000000Z,4625,DC01,administrator,198.51.100.30\n2025-03-03T10:10:05.0000000Z,4624,DC01,bob,10.0.0.5\n2025-03-03T10:10:06.0000000Z,4672,DC01,bob,-\n",
        ),
        ..Default::default()
    });
    assert_eq!((r.sources[0].preset.as_deref(), r.sources[0].rows), (Some("windows-security"), 2));
    assert_eq!(
        str_col(&sink.tables[&Role::Login], "outcome"),
        [Some("fail".into()), Some("ok".into())]
    );
}

#[test]
fn r14_real_access_log_and_openssh_lines_read_with_their_presets() {
    if let Some(p) = shared("lnav_testlogs/logfile_access_log.0") {
        let (r, sink) = ingest_one(SourceSpec { path: p, ..Default::default() });
        let s = &r.sources[0];
        assert_eq!((s.format.as_deref(), s.preset.as_deref()), (Some("access_log"), Some("nginx")));
        assert_eq!(s.rows, s.lines, "{s:?}");
        let outcomes = str_col(&sink.tables[&Role::Login], "outcome");
        assert!(outcomes.contains(&Some("fail".into())) && outcomes.contains(&Some("ok".into())));
    }
    if let Some(p) = shared("loghub/OpenSSH/OpenSSH_2k.log") {
        let (r, _) = ingest_one(SourceSpec { path: p, year: Some(2016), ..Default::default() });
        let s = &r.sources[0];
        assert_eq!(s.preset.as_deref(), Some("sshd"));
        // 383 + 133 + 1 + 1 + 4 Failed tries, 10 repeated, 1 accepted, and invalid users whose
        // connection had no try counted yet: never fewer than the Failed and Accepted lines.
        assert!(s.rows >= 533, "{s:?}");
    }
}

/// `timestamp,count`: a metric series named after its column; all-rejected input: exit 2.
#[test]
fn r14_a_named_value_column_is_a_metric_and_nothing_read_is_an_error() {
    let dir = temp_dir("metric-named");
    let mut csv = String::from("timestamp,count\n");
    for m in 0..120 {
        let _ = writeln!(csv, "2024-01-01 {:02}:{:02}:00,{}", m / 60, m % 60, 10 + m % 3);
    }
    let (r, sink) =
        ingest_one(SourceSpec { path: write(&dir, "q.csv", &csv), ..Default::default() });
    assert_eq!(r.sources[0].rows, 120);
    assert_eq!(str_col(&sink.tables[&Role::Metric], "series")[0].as_deref(), Some("count"));

    let garbage = write(&dir, "g.log", "not a log\nstill not\n");
    let o = rootline()
        .args(["analyze", "-q"])
        .arg(&garbage)
        .arg("--out")
        .arg(dir.join("o"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no rows") && err.contains("--role"), "{err}");
}

/// A value map in incident.toml: HTTP status codes as outcomes of a JSON log.
#[test]
fn r14_a_source_value_map_turns_status_codes_into_outcomes() {
    let dir = temp_dir("values");
    write(
        &dir,
        "req.jsonl",
        "{\"ts\":\"2024-01-01T00:00:00Z\",\"status\":200}\n{\"ts\":\"2024-01-01T00:00:01Z\",\"status\":503}\n",
    );
    let cfg = write(
        &dir,
        "i.toml",
        "[[source]]\npath = \"req.jsonl\"\nrole = \"login\"\nvalues = { outcome = { \"2xx\" = \"ok\", \"5xx\" = \"fail\" } }\n",
    );
    let incident = Incident::load(&Input::Config(cfg), &LoadOptions::default()).unwrap();
    let t = &incident.tables[&Role::Login];
    assert_eq!(t.height(), 2);
    let outcomes: Vec<Option<&str>> =
        rootline::schema::texts(t.column("outcome").unwrap()).unwrap().collect();
    assert_eq!(outcomes, [Some("ok"), Some("fail")]);
}

/// Every file the simulator writes, in every format, is read with its role without a config.
#[test]
fn r14_the_simulators_files_are_detected_with_their_roles() {
    use rootline::simulate::{self, Scenario, SimFormat, SimOutput, SimParams};
    for format in [SimFormat::Text, SimFormat::Jsonl, SimFormat::Csv] {
        let dir = temp_dir(&format!("sim-roles-{}", format.as_str()));
        let params = SimParams::new(Scenario::Quiet).with_clients(1000).with_seed(2);
        let out = SimOutput { dir: dir.clone(), format, gzip: false };
        let summary = simulate::simulate(&params, &out, &|_| {}).unwrap();
        for (path, _) in &summary.files {
            let (r, _) = ingest_one(SourceSpec { path: path.clone(), ..Default::default() });
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let want = if name.starts_with("login") {
                Role::Login
            } else if name.starts_with("supernodes") {
                Role::Node
            } else {
                Role::Change
            };
            assert_eq!(r.sources[0].role, Some(want), "{name}: {:?}", r.sources[0].notes);
            assert_eq!(r.sources[0].rejected, 0, "{name}");
        }
    }
}

/// Minutes of a day as RFC 3339, from 00:00 of 2025-03-03.
fn at(minute: usize, second: usize) -> String {
    format!("2025-03-03T{:02}:{:02}:{:02}Z", minute / 60, minute % 60, second)
}

/// Logins (JSON lines) for a day: 20 a minute, `surge` times as many in [from, to).
fn logins(surge: usize, from: usize, to: usize) -> String {
    let mut s = String::new();
    for m in 0..1440 {
        let n = if (from..to).contains(&m) { 20 * surge } else { 20 };
        for k in 0..n {
            let fail = (from..to).contains(&m) && k % 3 == 0;
            let outcome = if fail { "fail" } else { "ok" };
            let _ = writeln!(
                s,
                "{{\"ts\":\"{}\",\"outcome\":\"{outcome}\",\"user\":\"u{}\"}}",
                at(m, k % 60),
                (m * 7 + k) % 900
            );
        }
    }
    s
}

/// A rolling restart of 24 pods, one every 2 minutes from 18:00, before a surge at 19:00 and
/// the loss of half the nodes at 19:10: the rollout is linked as the cause of both.
#[test]
fn r14_a_rolling_restart_before_a_surge_and_an_exhaustion_is_their_cause() {
    let dir = temp_dir("rollout");
    let l = write(&dir, "logins.jsonl", &logins(8, 19 * 60, 20 * 60));
    let mut nodes = String::new();
    for m in 0..1440 {
        for n in 0..24 {
            let down = (19 * 60 + 10..21 * 60).contains(&m) && n % 2 == 0;
            if !down {
                let _ = writeln!(
                    nodes,
                    "{{\"ts\":\"{}\",\"node\":\"web-{n}\",\"event\":\"sample\",\"load\":50,\"capacity\":100}}",
                    at(m, 30)
                );
            }
        }
    }
    let n = write(&dir, "nodes.jsonl", &nodes);
    let mut events = String::new();
    for k in 0..24 {
        let _ = writeln!(
            events,
            "{{\"kind\":\"Event\",\"reason\":\"Killing\",\"type\":\"Normal\",\"message\":\"Stopping container web\",\"involvedObject\":{{\"kind\":\"Pod\",\"name\":\"web-7d9f8c6b5-p{k:04}\"}},\"lastTimestamp\":\"{}\"}}",
            at(18 * 60 + 2 * k, 0)
        );
    }
    let e = write(&dir, "events.jsonl", &events);
    let f = analyze(&[l, n, e]);
    assert!(!f.surges.is_empty() && !f.exhaustions.is_empty(), "{f:?}");
    for to in [LinkEnd::Surge, LinkEnd::Exhaustion] {
        let link = f
            .chain
            .iter()
            .find(|x| x.from == LinkEnd::Change && x.to == to)
            .unwrap_or_else(|| panic!("no change -> {to}: {:?}", f.chain));
        let c = link.change.as_ref().unwrap();
        assert_eq!((c.kind.as_str(), c.item.as_deref()), ("restart", Some("web-7d9f8c6b5")));
        assert!(link.evidence[0].contains("24 events on 24 targets"), "{:?}", link.evidence);
    }

    // One deploy half an hour before a surge is linked too.
    let dir = temp_dir("single-deploy");
    let l = write(&dir, "logins.jsonl", &logins(8, 19 * 60, 20 * 60));
    let c = write(
        &dir,
        "changes.jsonl",
        &format!(
            "{{\"ts\":\"{}\",\"kind\":\"deploy\",\"target\":\"web\",\"item\":\"web:2.4.1\"}}\n",
            at(18 * 60 + 30, 0)
        ),
    );
    let f = analyze(&[l, c]);
    let link = f.chain.iter().find(|x| x.from == LinkEnd::Change && x.to == LinkEnd::Surge);
    assert!(link.is_some_and(|x| x.lag_min >= 25.0), "{:?}", f.chain);

    // Restarts scattered over a quiet day are nobody's cause.
    let dir = temp_dir("scattered");
    let l = write(&dir, "logins.jsonl", &logins(1, 0, 0));
    let mut changes = String::new();
    for k in 0..12 {
        let _ = writeln!(
            changes,
            "{{\"ts\":\"{}\",\"kind\":\"restart\",\"target\":\"web-{k}\"}}",
            at(k * 110 + 7, 0)
        );
    }
    let c = write(&dir, "changes.jsonl", &changes);
    let f = analyze(&[l, c]);
    assert!(f.surges.is_empty() && f.chain.is_empty(), "{:?}", f.chain);
}

/// Bare files of one incident, no config: an nginx access log, Prometheus-style samples and
/// Kubernetes events. The report finds the surge, the lost capacity and the rollout behind them.
#[test]
fn r14_bare_nginx_prometheus_and_kubernetes_files_tell_the_incident() {
    let dir = temp_dir("bare-web");
    let mut access = String::new();
    for m in 0..1440 {
        let surge = (19 * 60..20 * 60).contains(&m);
        let n = if surge { 150 } else { 25 };
        for k in 0..n {
            let status = if surge && k % 2 == 0 { 503 } else { 200 };
            let (h, mi, s) = (m / 60, m % 60, k % 60);
            let _ = writeln!(
                access,
                "203.0.113.{} - - [03/Mar/2025:{h:02}:{mi:02}:{s:02} +0000] \"POST /login HTTP/1.1\" {status} 17 \"-\" \"app/1.0\" 0.0{}",
                k % 250,
                10 + k % 80
            );
        }
    }
    let a = write(&dir, "access.log", &access);
    let mut prom = String::from("timestamp,instance,up,sessions,sessions_capacity,cpu\n");
    let t0 = 1_740_960_000_000i64; // 2025-03-03T00:00:00Z
    for m in 0..1440i64 {
        for i in 0..20 {
            let down = (19 * 60 + 5..21 * 60).contains(&m) && i % 5 != 0;
            let (up, cap) = if down { (0, 0) } else { (1, 500) };
            let _ = writeln!(
                prom,
                "{},node-{i:02}:9100,{up},{},{cap},40",
                t0 + m * 60_000,
                if down { 0 } else { 300 }
            );
        }
    }
    let p = write(&dir, "prom.csv", &prom);
    let mut events = String::new();
    for k in 0..20 {
        let _ = writeln!(
            events,
            "{{\"kind\":\"Event\",\"reason\":\"Killing\",\"type\":\"Normal\",\"message\":\"Stopping container web\",\"involvedObject\":{{\"kind\":\"Pod\",\"name\":\"web-5f6d7c8b9-q{k:04}\"}},\"lastTimestamp\":\"{}\"}}",
            at(18 * 60 + 20 + 2 * k, 0)
        );
    }
    let e = write(&dir, "events.jsonl", &events);
    let out = dir.join("report");
    let o = rootline().arg("report").args([&a, &p, &e]).arg("--out").arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let f: Findings =
        serde_json::from_str(&std::fs::read_to_string(out.join("findings.json")).unwrap()).unwrap();
    let roles: Vec<_> = f.inputs.iter().map(|i| (i.preset.clone(), i.role)).collect();
    assert_eq!(
        roles,
        [
            (Some("nginx".into()), Some(Role::Login)),
            (Some("prometheus".into()), Some(Role::Node)),
            (Some("k8s-events".into()), Some(Role::Change))
        ]
    );
    assert!(!f.surges.is_empty(), "a surge");
    assert!(!f.exhaustions.is_empty(), "the capacity lost");
    assert!(
        f.chain.iter().any(|l| l.from == LinkEnd::Change
            && l.change.as_ref().is_some_and(|c| c.item.as_deref() == Some("web-5f6d7c8b9"))),
        "the rollout as the cause: {:?}",
        f.chain
    );
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("restart"), "{md}");
}

/// A pattern that matches but a time it cannot read: the message says so, not "no format".
#[test]
fn r14_a_time_that_does_not_read_is_named_as_such() {
    let dir = temp_dir("ts-miss");
    let p = write(&dir, "a.log", "03/Mar/2025:10:00:00 +0000 bob ok\n");
    let (r, _) = ingest_one(SourceSpec {
        path: p,
        role: Some(Role::Login),
        pattern: Some(r"^(?P<ts>\S+ \S+) (?P<user>\S+) (?P<outcome>\S+)$".into()),
        ..Default::default()
    });
    let note = r.sources[0].notes.join(" ");
    assert!(note.contains("fit the format regex") && note.contains("--ts-format"), "{note}");
}

//! Detection and correlation, judged against the simulator's truth and real logs.

use rootline::config::IncidentConfig;
use rootline::correlate::AnalyzeOptions;
use rootline::findings::{Episode, Findings, LinkEnd};
use rootline::ingest::SourceSpec;
use rootline::pipeline::{Columns, Incident, Input, LoadOptions};
use rootline::simulate::{self, Scenario, SimFormat, SimOutput, SimParams, Truth};

use crate::common::{shared, temp_dir};

fn analyze_specs(specs: &[SourceSpec]) -> Findings {
    let input = Input::Specs(specs.to_vec());
    let incident = Incident::load(&input, &LoadOptions::default().with_columns(Columns::All));
    incident.unwrap().analyze(&AnalyzeOptions::default()).unwrap().findings
}

fn simulate_and_analyze(scenario: Scenario, clients: usize, name: &str) -> (Truth, Findings) {
    simulate_and_analyze_with(SimParams::new(scenario).with_clients(clients), name)
}

fn simulate_and_analyze_with(params: SimParams, name: &str) -> (Truth, Findings) {
    let dir = temp_dir(name);
    let out = SimOutput { dir: dir.clone(), format: SimFormat::Text, gzip: false };
    let truth = simulate::simulate(&params, &out, &|_| {}).unwrap().truth;
    let specs = IncidentConfig::load(&dir.join("incident.toml")).unwrap().specs(&dir).unwrap();
    (truth, analyze_specs(&specs))
}

fn ms(t: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp_millis()
}

fn covers(e: &Episode, t: &str) -> bool {
    e.covers(ms(t))
}

fn links(f: &Findings) -> Vec<(String, String)> {
    f.chain.iter().map(|l| (l.from.to_string(), l.to.to_string())).collect()
}

fn has(f: &Findings, from: &str, to: &str) -> bool {
    links(f).contains(&(from.to_string(), to.to_string()))
}

#[test]
fn skype_2007_is_told_as_the_skype_story() {
    let (truth, f) = simulate_and_analyze(Scenario::Skype2007, 5000, "an-skype");
    let surge = truth.surge.as_ref().unwrap();
    assert!(
        f.surges.iter().any(|e| covers(e, &surge.peak)),
        "no surge at {}: {:?}",
        surge.peak,
        f.surges
    );
    let exh = truth.exhaustion.as_ref().unwrap();
    assert!(
        f.exhaustions.iter().any(|e| covers(e, &exh.min_at)),
        "no exhaustion at {}",
        exh.min_at
    );
    let wave = truth.restart_wave.as_ref().unwrap();
    assert!(f.changes.iter().any(|e| covers(e, &wave.peak)), "no change wave at {}", wave.peak);
    assert!(has(&f, "change", "change_wave"), "{:?}", links(&f));
    let l = f
        .chain
        .iter()
        .find(|l| l.from == LinkEnd::ChangeWave && l.to == LinkEnd::Surge)
        .expect("wave -> surge");
    assert!(l.lag_min >= 0.0, "the wave comes before the surge: {l:?}");
    assert!(has(&f, "change_wave", "exhaustion"), "{:?}", links(&f));
    // The restarts took a third of the supernodes lost on the way down; overload took the
    // rest once the flood began (truth's coupling on this run: 0.37).
    let c = f.coupling.as_ref().unwrap();
    let t = truth.coupling.unwrap();
    assert!((c.share - t).abs() <= 0.1, "coupling {c:?} against truth's {t}");
    assert!(
        f.archetypes
            .iter()
            .any(|a| a.kind == rootline::findings::ArchetypeKind::RetryStorm && a.metastable)
    );
    let o = truth.outage.as_ref().expect("an outage");
    assert!(o.hours_majority_unable >= 24.0, "{o:?}");
    // The logs tell it too: hours in which most users who tried never got in.
    let l = f.impact.as_ref().and_then(|i| i.locked_out.clone()).expect("locked out");
    let (got, want) = (l.hours_majority as f64, o.hours_majority_unable);
    assert!((got - want).abs() <= 0.15 * want, "{got} h locked out against truth's {want} h");
    let (got, want) = (ms(f.recovery.as_deref().unwrap()), ms(truth.recovery.as_deref().unwrap()));
    assert!(
        (got - want).abs() <= 6 * 3_600_000,
        "recovery {} vs truth {}",
        f.recovery.as_deref().unwrap(),
        truth.recovery.as_deref().unwrap()
    );
}

#[test]
fn a_quiet_week_has_no_story() {
    // Seeds 2 and 3 hold three-minute blips of re-logins (12/min against 3) that once read
    // as surges.
    for seed in [1, 2, 3] {
        let params = SimParams::new(Scenario::Quiet).with_clients(5000).with_seed(seed);
        let (_, f) = simulate_and_analyze_with(params, &format!("an-quiet-{seed}"));
        assert!(
            f.surges.is_empty() && f.exhaustions.is_empty() && f.chain.is_empty(),
            "seed {seed}: {:?} {:?} {:?}",
            f.surges,
            f.exhaustions,
            links(&f)
        );
    }
}

#[test]
fn a_bad_deploy_is_blamed_for_failures_without_a_surge() {
    let (truth, f) = simulate_and_analyze(Scenario::BadDeploy, 20_000, "an-deploy");
    bad_deploy_told(&truth, &f);
    // Seed 2: a chance failure puts the refined onset 2 minutes before the deploy.
    let params = SimParams::new(Scenario::BadDeploy).with_clients(20_000).with_seed(2);
    let (truth, f) = simulate_and_analyze_with(params, "an-deploy-2");
    assert!(f.failures.iter().any(|e| ms(&e.onset) < ms(truth.deploy.as_ref().unwrap())));
    bad_deploy_told(&truth, &f);
}

fn bad_deploy_told(truth: &Truth, f: &Findings) {
    assert!(f.surges.is_empty(), "{:?}", f.surges);
    let fail = truth.failures.as_ref().unwrap();
    assert!(f.failures.iter().any(|e| covers(e, &fail.peak)), "{:?}", f.failures);
    let l = f
        .chain
        .iter()
        .find(|l| l.from == LinkEnd::Change && l.to == LinkEnd::Failures)
        .expect("deploy -> failures");
    assert_eq!(l.from_at, truth.deploy.clone().unwrap());
    assert!(l.evidence[0].starts_with("deploy of login-eu"), "{:?}", l.evidence);
}

#[test]
fn a_flash_crowd_blames_no_change() {
    let (truth, f) = simulate_and_analyze(Scenario::FlashCrowd, 5000, "an-crowd");
    let surge = truth.surge.as_ref().unwrap();
    assert!(f.surges.iter().any(|e| covers(e, &surge.peak)), "{:?}", f.surges);
    assert!(
        f.chain.iter().all(|l| l.from != LinkEnd::Change && l.from != LinkEnd::ChangeWave),
        "{:?}",
        links(&f)
    );
}

fn real(rel: &str, year: i32) -> Option<Findings> {
    let path = shared(rel)?;
    Some(analyze_specs(&[SourceSpec { path, year: Some(year), ..Default::default() }]))
}

#[test]
fn openssh_brute_force_bursts_are_found_and_nothing_else() {
    let Some(f) = real("loghub/OpenSSH/OpenSSH_2k.log", 2016) else { return };
    assert_eq!(f.surges.len(), 2, "{:?}", f.surges);
    assert!(covers(&f.surges[0], "2016-12-10T09:12:00Z"), "{:?}", f.surges[0]);
    let second = ms(&f.surges[1].onset);
    assert!(
        (ms("2016-12-10T10:50:00Z")..=ms("2016-12-10T11:00:00Z")).contains(&second),
        "{:?}",
        f.surges[1]
    );
    for e in f.failures.iter().chain(&f.exhaustions).chain(&f.changes) {
        assert!(f.surges.iter().any(|s| covers(s, &e.peak)), "claimed elsewhere: {e:?}");
    }
}

#[test]
fn linux_auth_failure_burst_is_found_and_nothing_else() {
    let Some(f) = real("loghub/Linux/Linux_2k.log", 2005) else { return };
    assert_eq!(f.surges.len(), 1, "{:?}", f.surges);
    let s = &f.surges[0];
    assert!(
        ms(&s.onset) >= ms("2005-07-10T16:00:00Z") && ms(&s.end) <= ms("2005-07-10T16:04:00Z"),
        "{s:?}"
    );
    for e in f.failures.iter().chain(&f.exhaustions).chain(&f.changes) {
        assert!(covers(s, &e.peak), "claimed elsewhere: {e:?}");
    }
}

#[test]
fn findings_json_parses_back_into_its_type() {
    let Some(f) = real("loghub/Linux/Linux_2k.log", 2005) else { return };
    let text = serde_json::to_string_pretty(&f).unwrap();
    let back: Findings = serde_json::from_str(&text).unwrap();
    assert_eq!(serde_json::to_value(&back).unwrap(), serde_json::to_value(&f).unwrap());
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "inputs",
        "surges",
        "exhaustions",
        "changes",
        "failures",
        "chain",
        "phases",
        "impact",
        "params",
    ] {
        assert!(keys.contains(&k), "{k} missing from {keys:?}");
    }
}

/// NAB's standard profile: the shape detector (what analyze runs on metric series) must beat
/// Twitter ADVec's published 47.1; it scored 55.6 when this was written (NAB's own run of the
/// same method published 54.6). The band detector behind surges is kept from regressing.
#[test]
fn nab_score_beats_twitter_advec() {
    use rootline::eval::{NabDetector, NabOptions};
    let Some(dir) = shared("nab") else { return };
    let r = rootline::eval::nab(&dir, &NabOptions::default()).unwrap();
    assert!(r.files.len() >= 50, "{} files scored", r.files.len());
    let s = &r.overall;
    assert!(s.standard > 47.1, "NAB standard score {} is not above ADVec's 47.1", s.standard);
    assert!(s.standard <= 100.0 && s.reward_low_fp <= s.standard && s.reward_low_fn >= s.standard);
    let band = NabOptions { detector: NabDetector::Band, ..Default::default() };
    let r = rootline::eval::nab(&dir, &band).unwrap();
    assert!(r.overall.standard >= 35.0, "band detector's NAB score fell to {}", r.overall.standard);
}

#[test]
fn eval_sim_scores_findings_against_truth() {
    use rootline::eval::sim::{self, SimEvalOptions};
    let o = SimEvalOptions {
        scenarios: vec![Scenario::Skype2007, Scenario::FlashCrowd],
        seeds: vec![5],
        formats: vec![SimFormat::Jsonl],
        clients: vec![5000],
        work: temp_dir("eval-sim"),
    };
    let r = sim::run(&o, &|_| {}).unwrap();
    assert_eq!(r.runs.len(), 2);
    let skype = &r.runs[0];
    let kinds: Vec<&str> = skype.matches.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(kinds[..3], ["change_wave", "surge", "exhaustion"]);
    // Onsets within 5 minutes of truth (`rootline eval sim`, seeds 1-3 at 5000 and 20000
    // clients, both formats: exhaustions 12/12, floods 8/12, the misses +14 and +50 min at
    // 5000 clients, seeds 2 and 3; seeds 11-13 at 60,000 and 120,000 clients: floods 6/6
    // within 3 min). This seed is not one of the misses.
    for kind in ["surge", "exhaustion"] {
        let m = skype.matches.iter().find(|m| m.kind == kind).unwrap();
        let err = m.onset_err_min.unwrap_or_else(|| panic!("no {kind} found"));
        assert!(err.abs() <= 5.0, "{kind} onset {err:+} min from truth");
    }
    let surge = skype.matches.iter().find(|m| m.kind == "surge").unwrap();
    let ratio_err = surge.peak_ratio_err_pct.expect("a peak ratio to compare");
    // A 350x flood over a baseline under two logins a minute: truth's baseline (the mean of
    // the minute of day over earlier days) and detection's (a robust centre) differ by 10%.
    assert!(ratio_err.abs() <= 15.0, "surge peak ratio {ratio_err:+.1}% from truth");
    let crowd_err = r.runs[1].matches[0].onset_err_min.expect("the crowd's surge is found");
    assert!(crowd_err.abs() <= 5.0, "crowd surge onset {crowd_err:+} min from truth");
    assert_eq!(skype.wave_before_surge, Some(true));
    assert_eq!((skype.before_trigger, r.runs[1].before_trigger), (0, 0), "{:?}", r.runs);
    // The skype incident has later surges than truth's largest one; they are "during" it,
    // and a flash crowd's run has no episode outside its truth.
    assert!(skype.during_episodes["surge"] >= 1, "{:?}", skype.during_episodes);
    assert!(r.runs[1].false_episodes.values().all(|n| *n == 0), "{:?}", r.runs[1]);
    assert!(skype.wrong_links.is_empty(), "{:?}", skype.wrong_links);
    let crowd = &r.runs[1];
    assert!(crowd.wrong_links.is_empty() && crowd.wave_before_surge.is_none(), "{crowd:?}");
    let surge = r.kinds["surge"].clone();
    assert_eq!((surge.truth, surge.found), (2, 2));
    // The summary adds up what the runs say.
    let within: usize = r
        .runs
        .iter()
        .flat_map(|x| &x.matches)
        .filter(|m| m.kind == "exhaustion" && m.onset_err_min.is_some_and(|e| e.abs() <= 5.0))
        .count();
    assert_eq!(r.kinds["exhaustion"].onset_within_5_min, within);
}

/// The kind of incident, over the simulator's scenarios and three seeds: a coupled shock for
/// the 2007 story, a bad deploy, a flash crowd, and none for a quiet week.
#[test]
fn r15_each_scenario_is_told_as_its_kind_of_incident() {
    use rootline::findings::ArchetypeKind;
    for seed in 1..=3 {
        for (scenario, want) in [
            (Scenario::Skype2007, Some(ArchetypeKind::CoupledShock)),
            (Scenario::BadDeploy, Some(ArchetypeKind::BadDeploy)),
            (Scenario::FlashCrowd, Some(ArchetypeKind::FlashCrowd)),
            (Scenario::Quiet, None),
        ] {
            let params = SimParams::new(scenario).with_clients(5000).with_seed(seed);
            let (_, f) = simulate_and_analyze_with(params, &format!("kind-{scenario}-{seed}"));
            let got = f.archetypes.first().map(|a| a.kind);
            assert_eq!(got, want, "{scenario} seed {seed}: {:?}", f.archetypes);
            // The 2007 story is also a retry storm, one that outlived its trigger.
            let storm = f.archetypes.iter().find(|a| a.kind == ArchetypeKind::RetryStorm);
            assert_eq!(
                storm.map(|a| a.metastable),
                (scenario == Scenario::Skype2007).then_some(true),
                "{scenario} seed {seed}: {:?}",
                f.archetypes
            );
            for a in &f.archetypes {
                assert!(a.confidence >= 0.5 && !a.evidence.is_empty(), "{a:?}");
            }
        }
    }
}

/// A metric that falls from about 80 to 2 for ten minutes in a week of minutes: its headline
/// names the fall, and the chart draws the minimum.
#[test]
fn r15_a_crash_is_told_by_its_lowest_value_and_drawn_there() {
    use std::fmt::Write as _;
    let dir = temp_dir("metric-crash");
    let mut csv = String::from("timestamp,value\n");
    let mut x: u64 = 7;
    for m in 0..7 * 1440 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let noise = (x >> 40) as f64 / (1u64 << 24) as f64; // 0..1
        let v = if (5000..5010).contains(&m) {
            2.0
        } else if (5010..5020).contains(&m) {
            99.0
        } else {
            78.0 + 4.0 * noise
        };
        let _ =
            writeln!(csv, "2024-01-{:02} {:02}:{:02}:00,{v}", 1 + m / 1440, (m / 60) % 24, m % 60);
    }
    let path = dir.join("temperature.csv");
    std::fs::write(&path, csv).unwrap();
    let incident = Incident::load(
        &Input::Specs(vec![SourceSpec { path, ..Default::default() }]),
        &LoadOptions::default(),
    )
    .unwrap();
    let a = incident.analyze(&AnalyzeOptions::default()).unwrap();
    let shift = a
        .findings
        .metrics
        .iter()
        .find(|e| e.onset.starts_with("2024-01-04"))
        .expect("the crash is a shift");
    assert!(shift.reason.contains("fell to 2"), "{}", shift.reason);
    assert_eq!(shift.peak_value, 2.0);
    let t = rootline::report::timeline(&a.series, &a.findings, "temperature");
    let ys: Vec<f64> = t.panels[0].lines[0].points.iter().map(|p| p.1).collect();
    let (lo, hi) = ys.iter().fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(*y), b.max(*y)));
    assert!(lo <= 2.0 && hi >= 99.0, "the chart draws the extremes: {lo} .. {hi}");
}

/// The sample at 5-minute buckets tells the 1-minute story: the flood's onset within 5
/// minutes of truth's, the recovery within an hour of it, the same kind of incident.
#[test]
fn r15_the_sample_at_five_minute_buckets_is_the_same_story() {
    let dir = std::path::Path::new("sample-data/skype-2007");
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap()).unwrap();
    let incident =
        Incident::load(&Input::Config(dir.join("incident.toml")), &LoadOptions::default()).unwrap();
    let o = AnalyzeOptions { bucket_ms: 300_000, ..Default::default() };
    let f = incident.analyze(&o).unwrap().findings;
    let onset = ms(truth["surge"]["onset"].as_str().unwrap());
    let flood = f
        .surges
        .iter()
        .min_by_key(|e| (ms(&e.onset) - onset).abs())
        .expect("a surge at 5-minute buckets");
    // The restart wave's logins already lift the 5-minute bucket from 00:00 (22 attempts
    // against 5 the day before) out of its band: an edge at 5 minutes is sqrt(5) times as many
    // spreads out as at 1 minute (DetectOptions::band_z), so that bucket is no onset.
    assert!((ms(&flood.onset) - onset).abs() <= 5 * 60_000, "flood at {}", flood.onset);
    let rec = ms(truth["recovery"].as_str().unwrap());
    let got = ms(f.recovery.as_deref().expect("a recovery at 5-minute buckets"));
    assert!((got - rec).abs() <= 60 * 60_000, "recovery at {:?}", f.recovery);
    assert!(f.surges.iter().all(|e| ms(&e.onset) >= ms("2007-08-15T18:00:00Z")), "{:?}", f.surges);
    assert_eq!(f.archetypes[0].kind, rootline::findings::ArchetypeKind::CoupledShock);
}

/// Metastability (#16): the 2007 story's overload outlives its trigger, a flash crowd's and a
/// bad deploy's do not (they have none); retries without jitter come back in step, and with
/// full jitter they do not.
#[test]
fn r16_metastability_is_found_where_the_overload_outlives_its_trigger() {
    for seed in 1..=3 {
        for (scenario, want) in [
            (Scenario::Skype2007, true),
            (Scenario::FlashCrowd, false),
            (Scenario::BadDeploy, false),
        ] {
            let params = SimParams::new(scenario).with_clients(5000).with_seed(seed);
            let (_, f) = simulate_and_analyze_with(params, &format!("meta-{scenario}-{seed}"));
            assert_eq!(
                f.metastability.is_some(),
                want,
                "{scenario} seed {seed}: {:?}",
                f.metastability
            );
            if let Some(m) = &f.metastability {
                assert!(m.outlived_min >= 360.0 && m.recovered, "{m:?}");
                assert!(!m.sustained_by.is_empty() && m.retry_delays > 0, "{m:?}");
            }
        }
    }
    for (jitter, synchronised) in [(0.0, true), (1.0, false)] {
        for seed in 1..=2 {
            let params = SimParams::new(Scenario::Skype2007)
                .with_clients(5000)
                .with_seed(seed)
                .with_retry_jitter(jitter);
            let (_, f) = simulate_and_analyze_with(params, &format!("jitter-{jitter}-{seed}"));
            let m = f.metastability.expect("a metastable failure");
            assert_eq!(
                m.synchronised_retries,
                Some(synchronised),
                "jitter {jitter} seed {seed}: {m:?}"
            );
        }
    }
}

/// The sample's reboots (about 40 a minute at most) and installs (about 700) are drawn in
/// panels of their own: on one axis the reboots are a flat line.
#[test]
fn r15_change_kinds_on_different_scales_get_their_own_panels() {
    let dir = std::path::Path::new("sample-data/skype-2007");
    let incident =
        Incident::load(&Input::Config(dir.join("incident.toml")), &LoadOptions::default()).unwrap();
    let a = incident.analyze(&AnalyzeOptions::default()).unwrap();
    let t = rootline::report::timeline(&a.series, &a.findings, "sample");
    let alone =
        |label: &str| t.panels.iter().any(|p| p.lines.len() == 1 && p.lines[0].label == label);
    assert!(
        alone("reboots") && alone("installs"),
        "{:?}",
        t.panels
            .iter()
            .map(|p| p.lines.iter().map(|l| &l.label).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    );
}

/// NAB's art_daily_jumpsup: the daily cycle jumps from about 80 to 165 at 09:00 on 11 April.
/// The shift begins at the jump (not hours before it, at a normal point), and the first day's
/// ordinary rise is not told as a shift (a several-day series has shown no day yet then).
#[test]
fn r15_a_metric_shift_begins_at_the_jump_and_the_first_day_is_not_news() {
    let Some(path) = shared("nab/data/artificialWithAnomaly/art_daily_jumpsup.csv") else { return };
    let f = analyze_specs(&[SourceSpec { path, ..Default::default() }]);
    let onsets: Vec<&str> = f.metrics.iter().map(|e| e.onset.as_str()).collect();
    assert_eq!(onsets.first(), Some(&"2014-04-11T09:00:00Z"), "{onsets:?}");
    assert!(onsets.iter().all(|o| !o.starts_with("2014-04-01")), "{onsets:?}");
}

/// The series table is the contract (#18): `ingest --series` writes it, and analysis of it
/// with the tables beside it finds what analysis of the tables finds; a table with no rows
/// for quiet buckets (what a GROUP BY makes) reads back as the same series.
#[test]
fn r18_analysis_of_the_series_table_is_analysis_of_the_tables() {
    use polars::prelude::*;
    use rootline::detect::SeriesSet;
    let config = std::path::Path::new("sample-data/skype-2007/incident.toml");
    let specs = IncidentConfig::load(config).unwrap().specs(config.parent().unwrap()).unwrap();
    let dir = temp_dir("series-contract");
    let opts = rootline::ingest::IngestOptions::default();
    rootline::pipeline::ingest_to_dir(&specs, &opts, &dir, false, Some(60_000), &|_, _| {})
        .unwrap();
    let incident = Incident::load(&Input::Tables(dir.clone()), &LoadOptions::default()).unwrap();
    let own = incident.analyze(&AnalyzeOptions::default()).unwrap();
    let series = rootline::pipeline::read_series(&dir.join("series.parquet")).unwrap();
    assert_eq!(series, own.series, "the file holds the series analysis computes");
    let f = incident.analyze_series(&series, &AnalyzeOptions::default()).unwrap();
    assert_eq!(f, own.findings);
    assert!(!f.surges.is_empty() && !f.chain.is_empty());

    // Leave out the buckets where nothing was counted and no level moved.
    let df = series.to_contract_frame().unwrap();
    let levels = ["nodes_online", "capacity", "load", "utilisation"];
    let mut keep = vec![true; df.height()];
    for (i, k) in keep.iter_mut().enumerate().skip(1) {
        let quiet = df.columns().iter().all(|c| {
            let name = c.name().as_str();
            let v = |j: usize| c.get(j).unwrap().try_extract::<f64>().unwrap_or(0.0);
            match name {
                "ts" | "bucket_s" | "series_version" => true,
                n if levels.contains(&n) => v(i) == v(i - 1),
                _ => v(i) == 0.0,
            }
        });
        *k = !quiet;
    }
    let dropped = keep.iter().filter(|k| !**k).count();
    assert!(dropped > 100, "only {dropped} quiet buckets to leave out");
    let sparse = df.filter(&BooleanChunked::from_slice("keep".into(), &keep)).unwrap();
    assert_eq!(SeriesSet::from_contract_frame(&sparse).unwrap(), series);

    // From the series alone: the same episodes, no evidence lines, and the report says so.
    let alone =
        Incident::without_tables().analyze_series(&series, &AnalyzeOptions::default()).unwrap();
    assert_eq!(alone.surges.len(), f.surges.len());
    assert_eq!(alone.exhaustions.len(), f.exhaustions.len());
    assert!(alone.surges.iter().all(|e| e.first_lines.is_empty()));
    let md = rootline::report::Story::tell(&alone, "series").markdown();
    assert!(md.contains("evidence lines are not available"), "{md}");
    let md = rootline::report::Story::tell(&f, "tables").markdown();
    assert!(!md.contains("evidence lines are not available"));

    // A newer contract is refused, with what to do.
    let mut newer = df.clone();
    newer
        .with_column(Column::new_scalar("series_version".into(), Scalar::from(2i32), df.height()))
        .unwrap();
    let e = SeriesSet::from_contract_frame(&newer).unwrap_err().to_string();
    assert!(e.contains("version 2") && e.contains("upgrade rootline"), "{e}");
}

/// Many ingests into one tree (#18): the sample's three logs ingested as three shards at once
/// (threads, as `xargs -P` runs processes) read back as the ingest of all three in one run:
/// the same tables and findings, an index that unions the shards. A rerun of one shard
/// replaces only its own files; shards refuse a whole run's directory and bad names; a file
/// of the user's in the tree stays.
#[test]
fn r18_shards_ingested_at_once_read_as_one_ingest() {
    use rootline::ingest::output::Manifest;
    let config = std::path::Path::new("sample-data/skype-2007/incident.toml");
    let specs = IncidentConfig::load(config).unwrap().specs(config.parent().unwrap()).unwrap();
    assert_eq!(specs.len(), 3);
    let dir = temp_dir("shards");
    let (whole, tree) = (dir.join("whole"), dir.join("tree"));
    let opts = rootline::ingest::IngestOptions::default();
    rootline::pipeline::ingest_to_dir(&specs, &opts, &whole, false, None, &|_, _| {}).unwrap();
    let shard = |i: usize| {
        let name = format!("s{i}");
        rootline::pipeline::ingest_shard(&specs[i..=i], &opts, &tree, &name, i == 0, &|_, _| {})
            .unwrap()
    };
    std::thread::scope(|s| {
        let runs: Vec<_> = (0..3).map(|i| s.spawn(move || shard(i))).collect();
        runs.into_iter().for_each(|r| drop(r.join().unwrap()));
    });
    let index = Manifest::read(&tree).unwrap().unwrap();
    assert_eq!(index.shards, ["s0", "s1", "s2"]);
    assert_eq!(index.report.sources.len(), 3);
    let files = |d: &std::path::Path| Manifest::read(d).unwrap().unwrap().files;
    let mut all: Vec<String> =
        (0..3).flat_map(|i| files(&tree.join(format!("shards/s{i}")))).collect();
    all.sort();
    assert_eq!(index.files, all);
    assert!(all.iter().all(|f| f.contains("/part-s")), "{all:?}");
    assert!(tree.join("shards/s0/rejects.jsonl").is_file());
    assert!(tree.join("shards/s0/login_per_minute.csv").is_file());
    assert!(!tree.join("rejects.jsonl").exists());

    let load = |d: &std::path::Path| {
        Incident::load(&Input::Tables(d.to_path_buf()), &LoadOptions::default()).unwrap()
    };
    let (a, b) = (load(&whole), load(&tree));
    assert_eq!(a.tables, b.tables, "the tree holds the rows of one whole ingest");
    let o = AnalyzeOptions::default();
    assert_eq!(a.analyze(&o).unwrap().findings, b.analyze(&o).unwrap().findings);

    // A rerun of s1 replaces s1's files and leaves the others' (and the user's) alone.
    let notes = tree.join("node/notes.txt");
    std::fs::write(&notes, "mine").unwrap();
    let others =
        |t: &std::path::Path| [0, 2].map(|i| files(&t.join(format!("shards/s{i}")))).concat();
    let before = others(&tree);
    let stamp = |f: &String| std::fs::metadata(tree.join(f)).unwrap().modified().unwrap();
    let stamps: Vec<_> = before.iter().map(stamp).collect();
    shard(1);
    assert_eq!(others(&tree), before);
    assert_eq!(before.iter().map(stamp).collect::<Vec<_>>(), stamps);
    assert_eq!(Manifest::read(&tree).unwrap().unwrap().files, all);
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "mine");
    assert_eq!(load(&tree).tables, a.tables);

    // Shards refuse a whole run's directory, and names that are not file names.
    let e = rootline::pipeline::ingest_shard(&specs[..1], &opts, &whole, "s0", false, &|_, _| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("not of shards"), "{e}");
    for bad in ["", "../x", "a/b", ".hidden", "a b"] {
        let e = rootline::pipeline::ingest_shard(&specs[..1], &opts, &tree, bad, false, &|_, _| {})
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not a shard name"), "{bad:?}: {e}");
    }
    // A whole run into the tree replaces every shard, and only what rootline wrote.
    rootline::pipeline::ingest_to_dir(&specs, &opts, &tree, false, None, &|_, _| {}).unwrap();
    assert!(!tree.join("shards/s0").exists());
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "mine");
    assert_eq!(load(&tree).tables, a.tables);
}

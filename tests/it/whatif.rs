//! `rootline whatif` (#16): the model fitted from the sample's logs is the model that made
//! them, its replay reproduces the incident, and an incident it cannot reproduce gets no
//! counterfactual numbers.

use rootline::correlate::AnalyzeOptions;
use rootline::pipeline::{Incident, Input, LoadOptions};
use rootline::simulate::{self, Policy, Scenario, SimFormat, SimOutput, SimParams};
use rootline::whatif::{self, WhatifOptions};

use crate::common::temp_dir;

fn whatif_of(config: &std::path::Path, policies: Vec<Policy>, name: &str) -> whatif::Whatif {
    let incident =
        Incident::load(&Input::Config(config.to_path_buf()), &LoadOptions::default()).unwrap();
    let analysis = incident.analyze(&AnalyzeOptions::default()).unwrap();
    let o = WhatifOptions {
        policies,
        knobs: Default::default(),
        seed: 1,
        replays: whatif::REPLAYS,
        work: temp_dir(name),
    };
    whatif::run(&incident, &analysis, &o, &|_| {}).unwrap()
}

/// The sample was made by `rootline simulate --scenario skype-2007 --seed 7 --clients 5000`:
/// what whatif measures in its logs is what that run was given, and the replay (another
/// seed) reproduces it within the tolerance; then every policy is replayed.
#[test]
fn r16_whatif_measures_the_sample_s_model_and_replays_it() {
    let config = std::path::Path::new("sample-data/skype-2007/incident.toml");
    let w = whatif_of(config, Policy::ALL.to_vec(), "whatif-sample");
    let truth = SimParams::new(Scenario::Skype2007).with_clients(5000);
    let m = &w.fit.measured;
    let num = |k: &str| m[k].value.as_f64().unwrap();
    assert!((num("clients") - 5000.0).abs() <= 50.0, "{:?}", m["clients"]);
    assert!((num("supernode_auto_update_share") - truth.supernode_auto_update_share).abs() <= 0.05);
    assert!((num("auto_update_share") - truth.auto_update_share).abs() <= 0.05);
    let retry = &m["retry"].value;
    assert_eq!(retry["base_s"].as_f64(), Some(truth.retry.base_s), "{retry}");
    assert!((retry["backoff"].as_f64().unwrap() - truth.retry.backoff).abs() <= 0.1, "{retry}");
    assert!((retry["max_s"].as_f64().unwrap() - truth.retry.max_s).abs() <= 15.0, "{retry}");
    assert!((retry["jitter"].as_f64().unwrap() - truth.retry.jitter).abs() <= 0.05, "{retry}");
    let fixed = rootline::units::rfc3339_ms(m["bug_fixed"].value.as_str().unwrap());
    assert!((fixed - truth.bug_fixed_ms.unwrap()).abs() <= 10 * 60_000, "{:?}", m["bug_fixed"]);
    assert_eq!(m["release"].value.as_str(), Some("2007-08-14T17:00:00Z"));
    // What a supernode holds, admits and loses to overload, and when clients give up.
    assert_eq!(num("supernode_capacity"), f64::from(truth.supernode_capacity));
    assert_eq!(num("admit_per_min"), f64::from(truth.admit_per_min));
    assert!((num("overload_factor") - truth.overload_factor).abs() <= 0.1, "{:?}", m);
    let drop = num("overload_drop_chance");
    assert!((drop - truth.overload_drop_chance).abs() <= 0.25 * truth.overload_drop_chance);
    assert!((num("give_up_after_min") - truth.give_up_after_min).abs() <= 3.0, "{:?}", m);
    for k in ["admit_per_min", "overload_factor", "overload_drop_chance", "give_up_after_min"] {
        assert!(!w.fit.assumed.iter().any(|a| a == k), "{k} measured and assumed");
    }
    assert!(w.fit.assumed.iter().any(|a| a == "bug_factor"), "{:?}", w.fit.assumed);

    assert!(w.reproduces, "{:?} against {:?}: {:?}", w.replay, w.observed, w.misses);
    assert!(w.misses.values().all(|m| m.abs() <= whatif::TOLERANCE));
    let names: Vec<Policy> = w.policies.iter().map(|p| p.policy).collect();
    assert_eq!(names, Policy::ALL[1..].to_vec());
    // In this model only keeping the supernodes out of the wave ends the outage early: the
    // users locked out for most of an hour fall from about 50 bad hours to a few.
    let shield = &w.policies.iter().find(|p| p.policy == Policy::ShieldCapacity).unwrap().outcome;
    assert!(w.observed.hours_majority_locked_out >= 40, "{:?}", w.observed);
    assert!(shield.hours_majority_locked_out * 5 <= w.observed.hours_majority_locked_out);
    let json = w.to_json();
    assert!(json.contains("\"reproduces\": true") && json.contains("shield-capacity"));

    // The report's lines: the policy that helped becomes the first action item, with its
    // numbers; the retry policies, which do not shorten the outage by a quarter here, are not
    // advised, and the general advice of a retry budget gives way to the replay's numbers.
    let h = whatif::story_lines(&w);
    let (lines, actions, superseded) = (h.lines, h.actions, h.superseded);
    assert!(h.svg.is_some_and(|svg| svg.contains("shield-capacity")));
    assert_eq!(lines.len(), 1 + w.policies.len());
    assert!(actions[0].contains("shield-capacity") && actions[0].contains("instead of"));
    assert!(actions.iter().all(|a| !a.contains("backoff") && !a.contains("budget")), "{actions:?}");
    assert!(superseded.iter().any(|s| s == "retry budget"), "{superseded:?}");
}

/// An incident the fitted model cannot reproduce: the logs of a run in which the supernodes
/// were kept out of the wave (which whatif cannot see) read as a 2007 incident whose replay
/// collapses; whatif says which outcomes miss and gives no policy's numbers.
#[test]
fn r16_whatif_gives_no_counterfactuals_when_the_replay_misses() {
    let dir = temp_dir("whatif-shielded");
    let params = SimParams::new(Scenario::Skype2007)
        .with_clients(5000)
        .with_seed(3)
        .with_policy(Policy::ShieldCapacity);
    let out = SimOutput { dir: dir.clone(), format: SimFormat::Text, gzip: false };
    simulate::simulate(&params, &out, &|_| {}).unwrap();
    let w = whatif_of(&dir.join("incident.toml"), Policy::ALL.to_vec(), "whatif-shielded-work");
    assert!(!w.reproduces, "{:?} against {:?}", w.replay, w.observed);
    assert!(w.policies.is_empty(), "{:?}", w.policies);
    assert!(w.misses.values().any(|m| m.abs() > whatif::TOLERANCE), "{:?}", w.misses);
    assert!(whatif::table(&w).contains("does not reproduce"), "{}", whatif::table(&w));
}

/// A node log without CPU or leave reasons cannot show overload: those knobs keep the
/// model's values and are listed as assumed, while what the load column shows is measured.
#[test]
fn r16_whatif_assumes_what_the_node_log_does_not_show() {
    let config = std::path::Path::new("sample-data/skype-2007/incident.toml");
    let mut incident =
        Incident::load(&Input::Config(config.to_path_buf()), &LoadOptions::default()).unwrap();
    let analysis = incident.analyze(&AnalyzeOptions::default()).unwrap();
    let node = incident.tables.get_mut(&rootline::schema::Role::Node).unwrap();
    *node = node.drop_many(["cpu", "reason"]);
    let fit = whatif::fit(&incident, &analysis.findings, &analysis.series).unwrap();
    for k in ["overload_factor", "overload_drop_chance"] {
        assert!(fit.assumed.iter().any(|a| a == k), "{k}: {:?}", fit.assumed);
        assert!(!fit.measured.contains_key(k), "{k} measured without its columns");
    }
    let truth = SimParams::new(Scenario::Skype2007);
    assert_eq!(fit.params.overload_factor, truth.overload_factor);
    assert!(fit.measured.contains_key("admit_per_min"), "{:?}", fit.measured.keys());
}

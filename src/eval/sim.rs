//! The detector against the simulator's truth (`rootline eval sim`): simulate scenarios over
//! several seeds, formats and scales, ingest and analyze what was written, and compare the
//! findings with `truth.json`.
//!
//! Per truth episode (restart wave, surge, exhaustion, failures) the matching finding is the
//! one that covers the truth's peak (the exhaustion's minimum); the onset error is its onset
//! minus the truth's, in minutes. A finding that overlaps no truth episode of its kind is
//! *during* the incident when it meets the span from the first truth episode's onset to the
//! recovery (truth states one episode per kind, the largest: a long incident has later
//! spells), and *false* otherwise; a missed one is a truth episode no finding covers. Links
//! are compared after naming them alike (release and deploy are `change`, the restart wave
//! `change_wave`): a wrong link is claimed where the truth says it is not real, a missed link
//! is real but not claimed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::correlate::AnalyzeOptions;
use crate::detect::Episode;
use crate::findings::{Findings, LinkEnd};
use crate::pipeline::{Incident, Input, LoadOptions};
use crate::simulate::{self, Scenario, SimFormat, SimOutput, SimParams, Truth};
use crate::units::rfc3339_ms;

/// Which runs to make.
#[derive(Debug, Clone)]
pub struct SimEvalOptions {
    pub scenarios: Vec<Scenario>,
    pub seeds: Vec<u64>,
    pub formats: Vec<SimFormat>,
    pub clients: Vec<usize>,
    /// Where the simulated logs go (one folder per run, removed after it).
    pub work: PathBuf,
}

/// One truth episode against the finding that matches it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Match {
    pub kind: String,
    pub truth_onset: String,
    pub truth_peak: String,
    /// The covering finding's onset, absent when none covers the truth's peak.
    pub found_onset: Option<String>,
    pub onset_err_min: Option<f64>,
    /// The finding's peak ratio against the truth's, in percent (surges only).
    pub peak_ratio_err_pct: Option<f64>,
}

/// One simulated run, scored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunScore {
    pub scenario: String,
    pub seed: u64,
    pub format: String,
    pub clients: usize,
    pub matches: Vec<Match>,
    /// Findings per kind that overlap no truth episode of their kind and fall outside the
    /// incident (from the first truth episode's onset to the recovery, or the run's end).
    pub false_episodes: BTreeMap<String, usize>,
    /// Findings per kind that overlap no truth episode of their kind but fall within the
    /// incident: its later spells, which truth does not state.
    pub during_episodes: BTreeMap<String, usize>,
    pub wrong_links: Vec<String>,
    pub missed_links: Vec<String>,
    /// The restart wave is linked to the surge, and starts before it.
    pub wave_before_surge: Option<bool>,
    /// Surges and exhaustions found before the trigger began (the restart wave's start, the
    /// deploy, the crowd): a story that puts the effect before its cause.
    pub before_trigger: usize,
    /// The kinds of incident the findings claim, most fitting first, and the kind the
    /// scenario is (none for a quiet week).
    pub archetypes: Vec<String>,
    pub expected_archetype: Option<String>,
}

/// Totals per episode kind over all runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KindSummary {
    pub truth: usize,
    pub found: usize,
    pub onset_within_5_min: usize,
    pub mean_abs_onset_err_min: f64,
    pub max_abs_onset_err_min: f64,
    pub false_episodes: usize,
    pub during_episodes: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimEval {
    pub runs: Vec<RunScore>,
    pub kinds: BTreeMap<String, KindSummary>,
    pub peak_ratio_within_10pct: usize,
    pub surges_scored: usize,
    pub wave_before_surge: usize,
    pub wave_runs: usize,
    /// Surges and exhaustions found before their run's trigger, over all runs.
    pub before_trigger: usize,
    pub wrong_links: usize,
    pub missed_links: usize,
    /// Runs whose most fitting kind is the scenario's (for quiet: no kind at all).
    pub archetype_right: usize,
}

/// The kind of incident each scenario is.
fn expected_archetype(scenario: &str) -> Option<&'static str> {
    match scenario {
        "skype-2007" => Some("coupled_shock"),
        "bad-deploy" => Some("bad_deploy"),
        "flash-crowd" => Some("flash_crowd"),
        _ => None,
    }
}

fn minutes(a: &str, b: &str) -> f64 {
    (rfc3339_ms(a) - rfc3339_ms(b)) as f64 / 60_000.0
}

/// One episode of the truth, with the findings of its kind.
struct TruthEpisode<'a> {
    kind: &'static str,
    onset: String,
    peak: String,
    end: String,
    found: &'a [Episode],
    /// The truth's peak ratio (surges).
    ratio: Option<f64>,
}

/// Scores one run's findings against its truth.
pub fn score(truth: &Truth, f: &Findings, format: &str) -> RunScore {
    let mut truths: Vec<TruthEpisode> = Vec::new();
    let mut add = |kind, onset: &str, peak: &str, end: &str, found, ratio| {
        truths.push(TruthEpisode {
            kind,
            onset: onset.to_string(),
            peak: peak.to_string(),
            end: end.to_string(),
            found,
            ratio,
        })
    };
    if let Some(w) = &truth.restart_wave {
        add("change_wave", &w.start, &w.peak, &w.end, &f.changes, None);
    }
    if let Some(x) = &truth.surge {
        add("surge", &x.onset, &x.peak, &x.end, &f.surges, Some(x.peak_ratio));
    }
    if let Some(x) = &truth.exhaustion {
        add(
            "exhaustion",
            &x.onset,
            &x.min_at,
            x.end.as_ref().unwrap_or(&truth.end),
            &f.exhaustions,
            None,
        );
    }
    if let Some(x) = &truth.failures {
        add("failures", &x.onset, &x.peak, x.end.as_ref().unwrap_or(&truth.end), &f.failures, None);
    }
    let matches = truths
        .iter()
        .map(|t| {
            // A restart wave is a wave of reboots; other kinds of change come second.
            let hit = t.found.iter().filter(|e| e.covers(rfc3339_ms(&t.peak))).min_by_key(|e| {
                (t.kind == "change_wave" && e.series != "change_reboot", e.onset_i)
            });
            Match {
                kind: t.kind.to_string(),
                truth_onset: t.onset.clone(),
                truth_peak: t.peak.clone(),
                found_onset: hit.map(|e| e.onset.clone()),
                onset_err_min: hit.map(|e| minutes(&e.onset, &t.onset)),
                peak_ratio_err_pct: match (hit, t.ratio) {
                    (Some(e), Some(r)) if r > 0.0 => Some(100.0 * (e.ratio - r) / r),
                    _ => None,
                },
            }
        })
        .collect();
    let incident = truths
        .iter()
        .map(|t| rfc3339_ms(&t.onset))
        .min()
        .map(|start| (start, rfc3339_ms(truth.recovery.as_ref().unwrap_or(&truth.end))));
    let mut false_episodes = BTreeMap::new();
    let mut during_episodes = BTreeMap::new();
    for (kind, found) in [
        ("change_wave", &f.changes),
        ("surge", &f.surges),
        ("exhaustion", &f.exhaustions),
        ("failures", &f.failures),
    ] {
        let spans: Vec<_> = truths.iter().filter(|t| t.kind == kind).collect();
        let unmatched: Vec<&Episode> = found
            .iter()
            .filter(|e| !spans.iter().any(|t| e.overlaps(rfc3339_ms(&t.onset), rfc3339_ms(&t.end))))
            .collect();
        let during =
            unmatched.iter().filter(|e| incident.is_some_and(|(a, b)| e.overlaps(a, b))).count();
        false_episodes.insert(kind.to_string(), unmatched.len() - during);
        during_episodes.insert(kind.to_string(), during);
    }
    let name = |n: &str| match n {
        "release" | "deploy" => "change".to_string(),
        "restart_wave" => "change_wave".to_string(),
        other => other.to_string(),
    };
    let claimed: Vec<(String, String)> =
        f.chain.iter().map(|l| (l.from.to_string(), l.to.to_string())).collect();
    let mut wrong_links = Vec::new();
    let mut missed_links = Vec::new();
    for l in &truth.links {
        let pair = (name(&l.from), name(&l.to));
        let is_claimed = claimed.contains(&pair);
        if l.from == "crowd" {
            // A crowd is no change: in a crowd's run, any change blamed for the surge is wrong.
            if l.real {
                for c in claimed.iter().filter(|c| c.1 == "surge" && c.0.starts_with("change")) {
                    wrong_links.push(format!("{}->{}", c.0, c.1));
                }
            }
            continue;
        }
        if l.real && !is_claimed {
            missed_links.push(format!("{}->{}", pair.0, pair.1));
        } else if !l.real && is_claimed {
            wrong_links.push(format!("{}->{}", pair.0, pair.1));
        }
    }
    let wave_before_surge = truth.restart_wave.as_ref().and(truth.surge.as_ref()).map(|_| {
        f.chain
            .iter()
            .any(|l| l.from == LinkEnd::ChangeWave && l.to == LinkEnd::Surge && l.lag_min >= 0.0)
    });
    let trigger = truth
        .restart_wave
        .as_ref()
        .map(|w| w.start.as_str())
        .or(truth.deploy.as_deref())
        .or(truth.crowd.as_deref())
        .map(rfc3339_ms);
    let before_trigger = trigger.map_or(0, |t| {
        f.surges.iter().chain(&f.exhaustions).filter(|e| rfc3339_ms(&e.onset) < t).count()
    });
    let archetypes: Vec<String> = f
        .archetypes
        .iter()
        .map(|a| {
            serde_json::to_value(a.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        })
        .collect();
    RunScore {
        expected_archetype: expected_archetype(&truth.scenario.to_string()).map(str::to_string),
        archetypes,
        scenario: truth.scenario.to_string(),
        seed: truth.seed,
        format: format.to_string(),
        clients: truth.clients,
        matches,
        false_episodes,
        during_episodes,
        wrong_links,
        missed_links,
        wave_before_surge,
        before_trigger,
    }
}

/// Adds up the runs.
pub fn summarise(runs: Vec<RunScore>) -> SimEval {
    let mut kinds: BTreeMap<String, KindSummary> = BTreeMap::new();
    let mut errs: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let (mut within10, mut scored) = (0, 0);
    for r in &runs {
        for m in &r.matches {
            let k = kinds.entry(m.kind.clone()).or_default();
            k.truth += 1;
            if let Some(e) = m.onset_err_min {
                k.found += 1;
                k.onset_within_5_min += usize::from(e.abs() <= 5.0);
                errs.entry(m.kind.clone()).or_default().push(e.abs());
            }
            if let Some(p) = m.peak_ratio_err_pct {
                scored += 1;
                within10 += usize::from(p.abs() <= 10.0);
            }
        }
        for (kind, n) in &r.false_episodes {
            kinds.entry(kind.clone()).or_default().false_episodes += n;
        }
        for (kind, n) in &r.during_episodes {
            kinds.entry(kind.clone()).or_default().during_episodes += n;
        }
    }
    for (kind, e) in errs {
        let k = kinds.get_mut(&kind).expect("kind seen");
        k.mean_abs_onset_err_min = e.iter().sum::<f64>() / e.len() as f64;
        k.max_abs_onset_err_min = e.iter().copied().fold(0.0, f64::max);
    }
    SimEval {
        kinds,
        peak_ratio_within_10pct: within10,
        surges_scored: scored,
        wave_before_surge: runs.iter().filter(|r| r.wave_before_surge == Some(true)).count(),
        wave_runs: runs.iter().filter(|r| r.wave_before_surge.is_some()).count(),
        before_trigger: runs.iter().map(|r| r.before_trigger).sum(),
        wrong_links: runs.iter().map(|r| r.wrong_links.len()).sum(),
        missed_links: runs.iter().map(|r| r.missed_links.len()).sum(),
        archetype_right: runs
            .iter()
            .filter(|r| r.archetypes.first() == r.expected_archetype.as_ref())
            .count(),
        runs,
    }
}

/// What can stop `eval sim`.
#[derive(Debug, thiserror::Error)]
pub enum SimEvalError {
    #[error("cannot write the simulation to {}", .dir.display())]
    Simulate {
        dir: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
}

/// Simulates, analyzes and scores every combination; `progress` hears of each run as it ends.
pub fn run(o: &SimEvalOptions, progress: &dyn Fn(&RunScore)) -> Result<SimEval, SimEvalError> {
    let mut runs = Vec::new();
    for &scenario in &o.scenarios {
        for &seed in &o.seeds {
            for &format in &o.formats {
                for &clients in &o.clients {
                    let dir = o.work.join(format!("{scenario}-{seed}-{format}-{clients}"));
                    let params = SimParams::new(scenario).with_seed(seed).with_clients(clients);
                    let out = SimOutput { dir: dir.clone(), format, gzip: false };
                    let truth = simulate::simulate(&params, &out, &|_| {})
                        .map_err(|source| SimEvalError::Simulate { dir: dir.clone(), source })?
                        .truth;
                    let input = Input::Config(dir.join("incident.toml"));
                    let incident = Incident::load(&input, &LoadOptions::default())?;
                    let f = incident.analyze(&AnalyzeOptions::default())?.findings;
                    let s = score(&truth, &f, format.as_str());
                    progress(&s);
                    runs.push(s);
                    let _ = std::fs::remove_dir_all(&dir);
                }
            }
        }
    }
    Ok(summarise(runs))
}

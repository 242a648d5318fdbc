//! `rootline eval whatif`: whatif's predictions against the true counterfactuals. For each seed
//! and scale, skype-2007 is simulated as it was; whatif, given only those logs, fits its model
//! and predicts each policy; the simulator then runs the same population, seed and release
//! under that policy (`rootline simulate --policy`). Both are measured by rootline's own
//! analysis ([`crate::whatif::Outcome::of`]) and compared.

use std::path::PathBuf;

use serde::Serialize;

use crate::simulate::{Policy, Scenario, SimParams};
use crate::units::round_to;
use crate::whatif::{self, Outcome, WhatifError, WhatifOptions};

/// How close a prediction must be to the simulated counterfactual: peak demand ratio (the
/// busiest hour over the day before, [`Outcome::peak_demand_ratio`]) and time to recover
/// within 25%, failed logins within 30% (or both under 1% of attempts).
pub const PEAK_AND_RECOVERY: f64 = 0.25;
pub const FAILED: f64 = 0.30;

#[derive(Debug, Clone)]
pub struct WhatifEvalOptions {
    pub seeds: Vec<u64>,
    pub clients: Vec<usize>,
    pub policies: Vec<Policy>,
    /// Where the simulated logs go while a run lasts.
    pub work: PathBuf,
}

/// One policy of one run: predicted, simulated, and whether they agree.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyScore {
    pub policy: Policy,
    pub predicted: Outcome,
    pub simulated: Outcome,
    /// (predicted - simulated) / simulated.
    pub peak_err: f64,
    pub recover_err: f64,
    pub failed_err: f64,
    pub within: bool,
}

/// One seed at one scale.
#[derive(Debug, Clone, Serialize)]
pub struct WhatifRun {
    pub seed: u64,
    pub clients: usize,
    /// The observed replay reproduced the incident (else no predictions to score).
    pub reproduces: bool,
    pub misses: std::collections::BTreeMap<String, f64>,
    pub policies: Vec<PolicyScore>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WhatifEval {
    pub runs: Vec<WhatifRun>,
    /// Runs whose replay reproduced the incident, of all runs.
    pub reproduced: usize,
    /// Policy predictions within the tolerances, of those scored.
    pub within: usize,
    pub scored: usize,
}

pub fn score(policy: Policy, predicted: Outcome, simulated: Outcome) -> PolicyScore {
    let peak_err = whatif::rel(predicted.peak_demand_ratio, simulated.peak_demand_ratio);
    let recover_err = whatif::rel(predicted.time_to_recover_h, simulated.time_to_recover_h);
    let failed_err = whatif::rel(predicted.failed_logins as f64, simulated.failed_logins as f64);
    let small = |o: &Outcome| (o.failed_logins as f64) < 0.01 * o.attempts.max(1) as f64;
    let failed_ok = failed_err.abs() <= FAILED || (small(&predicted) && small(&simulated));
    let within =
        peak_err.abs() <= PEAK_AND_RECOVERY && recover_err.abs() <= PEAK_AND_RECOVERY && failed_ok;
    PolicyScore {
        policy,
        predicted,
        simulated,
        peak_err: round_to(peak_err, 3),
        recover_err: round_to(recover_err, 3),
        failed_err: round_to(failed_err, 3),
        within,
    }
}

/// Runs every seed at every scale; `progress` hears of each run as it ends.
pub fn run(
    o: &WhatifEvalOptions,
    progress: &dyn Fn(&WhatifRun),
) -> Result<WhatifEval, WhatifError> {
    let mut runs = Vec::new();
    for &clients in &o.clients {
        for &seed in &o.seeds {
            let params = SimParams::new(Scenario::Skype2007).with_seed(seed).with_clients(clients);
            let dir = o.work.join(format!("observed-{seed}-{clients}"));
            let (incident, analysis) = whatif::simulate_and_analyze(&params, &dir)?;
            // The replays get another seed than the incident: whatif does not know it.
            let wo = WhatifOptions {
                policies: o.policies.clone(),
                knobs: Default::default(),
                seed: seed + 1000,
                replays: whatif::REPLAYS,
                work: o.work.join(format!("replays-{seed}-{clients}")),
            };
            let w = whatif::run(&incident, &analysis, &wo, &|_| {})?;
            let mut policies = Vec::new();
            for p in &w.policies {
                let truth = whatif::replay(&params.clone().with_policy(p.policy), &wo.work)?;
                policies.push(score(p.policy, p.outcome.clone(), truth));
            }
            let _ = std::fs::remove_dir_all(&wo.work);
            let r =
                WhatifRun { seed, clients, reproduces: w.reproduces, misses: w.misses, policies };
            progress(&r);
            runs.push(r);
        }
    }
    let scored = runs.iter().map(|r| r.policies.len()).sum();
    let within = runs.iter().flat_map(|r| &r.policies).filter(|p| p.within).count();
    let reproduced = runs.iter().filter(|r| r.reproduces).count();
    Ok(WhatifEval { runs, reproduced, within, scored })
}

/// The result as a table: one row per run and policy.
pub fn table(e: &WhatifEval) -> String {
    use std::fmt::Write as _;
    let mut s = format!(
        "{:>5} {:>7} {:<16} {:>17} {:>17} {:>21} {:>7}\n",
        "seed",
        "clients",
        "policy",
        "peak x pred/sim",
        "recover h p/s",
        "failed pred/sim",
        "within"
    );
    for r in &e.runs {
        if !r.reproduces {
            let _ = writeln!(
                s,
                "{:>5} {:>7} the replay does not reproduce the incident: {:?}",
                r.seed, r.clients, r.misses
            );
        }
        for p in &r.policies {
            let _ = writeln!(
                s,
                "{:>5} {:>7} {:<16} {:>8.0}/{:<8.0} {:>8.1}/{:<8.1} {:>10}/{:<10} {:>7}",
                r.seed,
                r.clients,
                p.policy.as_str(),
                p.predicted.peak_demand_ratio,
                p.simulated.peak_demand_ratio,
                p.predicted.time_to_recover_h,
                p.simulated.time_to_recover_h,
                p.predicted.failed_logins,
                p.simulated.failed_logins,
                if p.within { "yes" } else { "NO" }
            );
        }
    }
    let _ = writeln!(
        s,
        "replays that reproduce the incident: {}/{}; predictions within tolerance (peak and \
         recovery 25%, failed logins 30%): {}/{}",
        e.reproduced,
        e.runs.len(),
        e.within,
        e.scored
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(peak: f64, failed: u64, attempts: u64, hours: f64) -> Outcome {
        Outcome {
            peak_demand_ratio: peak,
            peak_demand_per_min: 0.0,
            surge_peak_ratio: 0.0,
            peak_load_over_capacity: 0.0,
            lowest_capacity_share: 0.0,
            failed_logins: failed,
            attempts,
            users_locked_out: 0,
            hours_majority_locked_out: 0,
            time_to_recover_h: hours,
            curve: Default::default(),
        }
    }

    #[test]
    fn a_prediction_is_within_when_every_outcome_is() {
        let sim = outcome(100.0, 1000, 100_000, 10.0);
        assert!(score(Policy::BackoffJitter, outcome(124.0, 1290, 1, 7.6), sim.clone()).within);
        // Peak 26% off, recovery 26% off, failed logins 31% off: each alone is enough.
        assert!(!score(Policy::BackoffJitter, outcome(126.0, 1000, 1, 10.0), sim.clone()).within);
        assert!(!score(Policy::BackoffJitter, outcome(100.0, 1000, 1, 12.6), sim.clone()).within);
        let off = score(Policy::BackoffJitter, outcome(100.0, 1310, 100_000, 10.0), sim.clone());
        assert!(!off.within && (off.failed_err - 0.31).abs() < 1e-9, "{off:?}");
        // Failed logins far apart but both under 1% of attempts: within.
        let few = outcome(100.0, 400, 100_000, 10.0);
        assert!(score(Policy::ShieldCapacity, outcome(100.0, 900, 100_000, 10.0), few).within);
    }
}

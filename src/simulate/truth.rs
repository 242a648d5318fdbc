//! `truth.json`: what the model knows about the story it told, derived from its per-minute
//! counters (which are exactly what the logs hold), so a detector can be scored against it.
//!
//! All times are RFC 3339 UTC, minute-aligned. Episodes follow the rules detection uses: a
//! run of minutes outside the normal band, grown to where the series re-enters it, and runs
//! less than [`MERGE_MIN`] minutes apart are one episode. The rules:
//! - **baseline**: for each minute of the day, the mean over the whole days before the
//!   trigger (the release, the deploy or the crowd; all days when there is none: they are
//!   normal by construction, and the median of a few small counts sits below their rate),
//!   smoothed over 15 minutes (centred); for the failure ratio and supernodes, the mean and
//!   median of the minutes before the trigger.
//! - **surge**: 5-minute mean attempts at least [`SURGE_RATIO`] times their baseline.
//!   `onset` and `end` bound the episode around the peak: runs where the 5-minute mean is
//!   above the band (baseline + 2 sqrt(baseline), a Poisson count's two standard deviations)
//!   and at least [`EDGE_RATIO`] times the baseline, that somewhere are far above it (at least [`SURGE_RATIO`] times and 6 standard
//!   deviations over baseline), merged across gaps under [`MERGE_MIN`] minutes;
//!   `peak_ratio` is the 5-minute ratio at `peak`.
//! - **exhaustion**: supernodes online below [`EXHAUSTION_SHARE`] of their baseline (the
//!   median before the trigger). `onset` is where they first fall below 95% on the way to the
//!   minimum; `end` is the first minute after the minimum back at 90%.
//! - **failures**: the failure ratio above 3x its baseline and 5 points over it, with at
//!   least one failure every two minutes; bounded
//!   where it is more than 2 points over baseline.
//! - **restart wave**: reboots per minute (5-minute means) around their peak: runs above 2 per
//!   minute (the band of a count that is normally 0) that reach 6 per minute somewhere, merged
//!   across gaps under [`MERGE_MIN`] minutes.
//! - **recovery**: the first minute after every episode's end from which, for an hour,
//!   attempts stay under 1.5x baseline, failures within 2 points of baseline and supernodes
//!   at 90% of baseline.

use serde::{Deserialize, Serialize};

use super::model::{MinuteStats, Stats};
use super::{Policy, Scenario, SimParams};
use crate::stats::{centred_means, median};
use crate::units::{rfc3339_ms, rfc3339_secs as rfc3339, round_to};

pub const SURGE_RATIO: f64 = 3.0;
/// A surge's edges: where its 5-minute mean falls under this multiple of the baseline (as
/// well as under the band). With many clients the band is a few percent over the baseline,
/// and the restart wave's own logins, 1.3-1.4x for hours, would start the flood hours before
/// it rose (at 120,000 clients, 2 h 13 min).
pub const EDGE_RATIO: f64 = 1.5;
/// Episodes less than this many minutes apart are one, as in detection's default.
pub const MERGE_MIN: usize = 60;
/// Half-width of the centred means the rules look at (5 minutes).
const HALF: usize = 2;
/// Half-width of the smoothing of the baseline by minute of day (15 minutes, detection's
/// time-of-day window): over 2 days of 2 logins a minute, 5 minutes moved it by 20-30%.
const TOD_HALF: usize = 7;
pub const EXHAUSTION_SHARE: f64 = 0.8;
/// Restart bursts less than this many minutes apart are one wave (detection's
/// `change_merge_min`): the restarts follow the night round the world.
const WAVE_MERGE_MIN: usize = 180;
const MIN_MS: i64 = 60_000;
const DAY_MIN: usize = 1440;

/// A burst of reboots (the restart wave).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Wave {
    pub start: String,
    pub peak: String,
    pub end: String,
    /// Reboots per minute at the peak (15-minute mean).
    pub peak_per_min: f64,
    /// Reboots in the wave.
    pub total: u64,
}

/// Demand far above its baseline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Surge {
    pub onset: String,
    pub peak: String,
    pub end: String,
    /// Attempts per minute expected at the peak's time of day, and seen there.
    pub baseline_per_min: f64,
    pub peak_per_min: f64,
    pub peak_ratio: f64,
}

/// Capacity far below its baseline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Exhaustion {
    pub onset: String,
    pub min_at: String,
    pub end: Option<String>,
    pub baseline_supernodes: f64,
    pub min_supernodes: u32,
}

/// Logins failing far more than usual.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Failures {
    pub onset: String,
    pub peak: String,
    pub end: Option<String>,
    pub baseline_ratio: f64,
    pub peak_ratio: f64,
}

/// Users unable to use the service: those who wanted to be online and were not.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Outage {
    /// The first and last minute when most users who wanted to be online could not be.
    pub start: String,
    pub end: String,
    /// Hours in which most of them could not be online (between `start` and `end`).
    pub hours_majority_unable: f64,
    /// The largest share unable in a minute, and the mean share from `start` to `end`.
    pub peak_unable_share: f64,
    pub mean_unable_share: f64,
}

/// One causal link of the story and whether the model made it happen.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Link {
    pub from: String,
    pub to: String,
    pub real: bool,
}

/// The truth of one simulated run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Truth {
    pub scenario: Scenario,
    /// The policy of the run (`observed` unless `simulate --policy` said otherwise).
    #[serde(default = "observed")]
    pub policy: Policy,
    pub seed: u64,
    pub clients: usize,
    pub start: String,
    pub end: String,
    /// The patch release, the deploy and its rollback, the crowd's arrival, when they exist.
    pub release: Option<String>,
    pub deploy: Option<String>,
    pub rollback: Option<String>,
    pub crowd: Option<String>,
    /// When the operator's fix of the allocation bug landed (skype-2007), when it did.
    pub bug_fixed: Option<String>,
    pub restart_wave: Option<Wave>,
    pub surge: Option<Surge>,
    pub exhaustion: Option<Exhaustion>,
    pub failures: Option<Failures>,
    pub recovery: Option<String>,
    /// When most users could not log in; `None` when at no minute most of them were unable.
    pub outage: Option<Outage>,
    /// Of supernodes lost between the wave's start and the exhaustion's minimum, the share
    /// lost because the PC itself restarted (the rest dropped out overloaded).
    pub coupling: Option<f64>,
    /// Login attempts and failures over the whole run (equal to the lines of login.log).
    pub attempts: u64,
    pub failed: u64,
    pub links: Vec<Link>,
}

fn ts(p: &SimParams, minute: usize) -> String {
    rfc3339(p.start_ms + minute as i64 * MIN_MS)
}

fn series(m: &[MinuteStats], f: impl Fn(&MinuteStats) -> f64) -> Vec<f64> {
    m.iter().map(f).collect()
}

/// The episode around `peak`: runs where `above` holds that reach `significant` somewhere (or
/// hold `peak`), merged across gaps under [`MERGE_MIN`] minutes.
fn episode_around(
    n: usize,
    peak: usize,
    above: impl Fn(usize) -> bool,
    significant: impl Fn(usize) -> bool,
    merge_min: usize,
) -> (usize, usize) {
    let mut merged: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < n {
        if !above(i) && i != peak {
            i += 1;
            continue;
        }
        let start = i;
        while i + 1 < n && above(i + 1) {
            i += 1;
        }
        if (start..=i).any(&significant) || (start..=i).contains(&peak) {
            match merged.last_mut() {
                Some(last) if start <= last.1 + 1 + merge_min => last.1 = i,
                _ => merged.push((start, i)),
            }
        }
        i += 1;
    }
    merged.into_iter().find(|r| (r.0..=r.1).contains(&peak)).unwrap_or((peak, peak))
}

/// The run around `peak` where `inside` holds.
fn run_around(n: usize, peak: usize, inside: impl Fn(usize) -> bool) -> (usize, usize) {
    let mut lo = peak;
    while lo > 0 && inside(lo - 1) {
        lo -= 1;
    }
    let mut hi = peak;
    while hi + 1 < n && inside(hi + 1) {
        hi += 1;
    }
    (lo, hi)
}

fn argmax(x: &[f64], from: usize) -> Option<usize> {
    (from..x.len()).max_by(|&a, &b| x[a].total_cmp(&x[b]).then(b.cmp(&a)))
}

fn observed() -> Policy {
    Policy::Observed
}

/// Derives the truth of a run from the model's counters.
pub fn derive(p: &SimParams, stats: &Stats) -> Truth {
    let m = &stats.minutes;
    let n = m.len();
    let trigger_ms = [p.release_ms, p.deploy_ms, p.crowd_ms].into_iter().flatten().min();
    let trigger = trigger_ms.map_or(n, |t| ((t - p.start_ms) / MIN_MS).clamp(0, n as i64) as usize);
    let base_days = (trigger / DAY_MIN).max(1).min(n / DAY_MIN.max(1)).max(1);
    let raw_attempts = series(m, |s| f64::from(s.attempts));
    let attempts = centred_means(&raw_attempts, HALF);
    let fails = centred_means(&series(m, |s| f64::from(s.failures)), 7);
    let sn = series(m, |s| f64::from(s.supernodes));
    let reboots = centred_means(&series(m, |s| f64::from(s.reboots)), HALF);
    let reboots15 = centred_means(&series(m, |s| f64::from(s.reboots)), 7);

    // Baseline attempts by minute of day, from whole days before the trigger.
    let by_minute: Vec<f64> = (0..DAY_MIN)
        .map(|k| {
            let days: Vec<f64> =
                (0..base_days).filter_map(|d| raw_attempts.get(d * DAY_MIN + k).copied()).collect();
            days.iter().sum::<f64>() / days.len().max(1) as f64
        })
        .collect();
    let by_minute = {
        let mut wrapped = by_minute.clone();
        wrapped.extend_from_slice(&by_minute);
        wrapped.extend_from_slice(&by_minute);
        centred_means(&wrapped, TOD_HALF)[DAY_MIN..2 * DAY_MIN].to_vec()
    };
    let base_at = |i: usize| by_minute[i % DAY_MIN].max(1.0);
    let ratio: Vec<f64> = (0..n).map(|i| attempts[i] / base_at(i)).collect();
    // The failure ratio over 15 minutes: failures are sparse.
    let attempts15 = centred_means(&raw_attempts, 7);
    let fr: Vec<f64> =
        (0..n).map(|i| if attempts15[i] > 0.0 { fails[i] / attempts15[i] } else { 0.0 }).collect();
    let base_end = (base_days * DAY_MIN).min(trigger.max(1)).min(n);
    let base_fr = fr[..base_end].iter().sum::<f64>() / base_end.max(1) as f64;
    let base_sn = median(&mut sn[..base_end].to_vec());
    let after = trigger.min(n.saturating_sub(1));

    let restart_wave = argmax(&reboots, 0).filter(|&pk| reboots15[pk] >= 1.5).map(|pk| {
        let (lo, hi) =
            episode_around(n, pk, |i| reboots15[i] >= 0.5, |i| reboots15[i] >= 1.5, WAVE_MERGE_MIN);
        Wave {
            start: ts(p, lo),
            peak: ts(p, pk),
            end: ts(p, hi),
            peak_per_min: round_to(reboots[pk], 2),
            total: m[lo..=hi].iter().map(|s| u64::from(s.reboots)).sum(),
        }
    });

    let band = |i: usize| base_at(i) + 2.0 * base_at(i).sqrt();
    let far =
        |i: usize| ratio[i] >= SURGE_RATIO && attempts[i] >= base_at(i) + 6.0 * base_at(i).sqrt();
    let surge = argmax(&ratio, after).filter(|&pk| far(pk)).map(|pk| {
        let above = |i: usize| attempts[i] > band(i).max(EDGE_RATIO * base_at(i));
        let (lo, hi) = episode_around(n, pk, above, far, MERGE_MIN);
        Surge {
            onset: ts(p, lo),
            peak: ts(p, pk),
            end: ts(p, hi),
            baseline_per_min: round_to(base_at(pk), 2),
            peak_per_min: round_to(attempts[pk], 2),
            peak_ratio: round_to(ratio[pk], 2),
        }
    });

    let neg_sn: Vec<f64> = sn.iter().map(|v| -v).collect();
    let exhaustion = argmax(&neg_sn, after)
        .filter(|&lo| base_sn > 0.0 && sn[lo] < EXHAUSTION_SHARE * base_sn)
        .map(|min_at| {
            let (lo, _) = run_around(n, min_at, |i| sn[i] < 0.95 * base_sn);
            let end = (min_at..n).find(|&i| sn[i] >= 0.9 * base_sn);
            Exhaustion {
                onset: ts(p, lo),
                min_at: ts(p, min_at),
                end: end.map(|e| ts(p, e)),
                baseline_supernodes: round_to(base_sn, 2),
                min_supernodes: sn[min_at] as u32,
            }
        });

    let failures = argmax(&fr, after)
        .filter(|&pk| fr[pk] > 3.0 * base_fr && fr[pk] > base_fr + 0.05 && fails[pk] >= 0.5)
        .map(|pk| {
            let (lo, hi) = run_around(n, pk, |i| fr[i] > base_fr + 0.02);
            Failures {
                onset: ts(p, lo),
                peak: ts(p, pk),
                end: (hi + 1 < n).then(|| ts(p, hi)),
                baseline_ratio: round_to(base_fr, 4),
                peak_ratio: round_to(fr[pk], 4),
            }
        });

    let index = |s: &str| ((rfc3339_ms(s) - p.start_ms) / MIN_MS).max(0) as usize;
    let last_end = [
        surge.as_ref().map(|s| index(&s.end)),
        exhaustion.as_ref().map(|e| e.end.as_deref().map_or(n, index)),
        failures.as_ref().map(|f| f.end.as_deref().map_or(n, index)),
    ]
    .into_iter()
    .flatten()
    .max();
    let healthy = |i: usize| ratio[i] < 1.5 && fr[i] <= base_fr + 0.02 && sn[i] >= 0.9 * base_sn;
    let recovery = last_end.and_then(|e| {
        (e.min(n)..n.saturating_sub(60)).find(|&i| (i..i + 60).all(healthy)).map(|i| ts(p, i))
    });

    let unable: Vec<f64> = m
        .iter()
        .map(|s| {
            let want = f64::from(s.wanting);
            if want > 0.0 { (want - f64::from(s.online)).max(0.0) / want } else { 0.0 }
        })
        .collect();
    let majority: Vec<usize> = (0..n).filter(|&i| unable[i] > 0.5).collect();
    let outage = majority.first().zip(majority.last()).map(|(&lo, &hi)| Outage {
        start: ts(p, lo),
        end: ts(p, hi),
        hours_majority_unable: round_to(majority.len() as f64 / 60.0, 1),
        peak_unable_share: round_to(unable.iter().copied().fold(0.0, f64::max), 3),
        mean_unable_share: round_to(unable[lo..=hi].iter().sum::<f64>() / (hi - lo + 1) as f64, 3),
    });

    let coupling = match (&restart_wave, &exhaustion) {
        (Some(w), Some(x)) => {
            let (a, b) = (index(&w.start), index(&x.min_at));
            let (lo, hi) = (a.min(b), a.max(b));
            let reboot: u32 = m[lo..=hi].iter().map(|s| s.sn_lost_reboot).sum();
            let over: u32 = m[lo..=hi].iter().map(|s| s.sn_lost_overload).sum();
            (reboot + over > 0).then(|| round_to(f64::from(reboot) / f64::from(reboot + over), 2))
        }
        _ => None,
    };

    let (has_wave, has_surge, has_exh, has_fail) =
        (restart_wave.is_some(), surge.is_some(), exhaustion.is_some(), failures.is_some());
    let skype = p.scenario == Scenario::Skype2007;
    let link = |from: &str, to: &str, real: bool| Link { from: from.into(), to: to.into(), real };
    let links = vec![
        // A release sets its installs off in any scenario: in a quiet week too, when they
        // are many enough to be a wave (at 20,000 clients they are).
        link("release", "restart_wave", p.release_ms.is_some() && has_wave),
        link("restart_wave", "surge", skype && has_wave && has_surge),
        link("restart_wave", "exhaustion", skype && has_wave && has_exh),
        link("surge", "exhaustion", skype && has_surge && has_exh),
        link("exhaustion", "failures", skype && has_exh && has_fail),
        link("failures", "surge", skype && has_fail && has_surge),
        link("deploy", "failures", p.scenario == Scenario::BadDeploy && has_fail),
        link("crowd", "surge", p.scenario == Scenario::FlashCrowd && has_surge),
    ];
    let iso = |t: Option<i64>| t.map(rfc3339);
    Truth {
        scenario: p.scenario,
        policy: p.policy,
        seed: p.seed,
        clients: p.clients,
        start: ts(p, 0),
        end: ts(p, n),
        release: iso(p.release_ms),
        deploy: iso(p.deploy_ms),
        rollback: iso(p.rollback_ms),
        crowd: iso(p.crowd_ms),
        bug_fixed: iso(p.bug_fixed_ms),
        restart_wave,
        surge,
        exhaustion,
        failures,
        recovery,
        outage,
        coupling,
        attempts: m.iter().map(|s| u64::from(s.attempts)).sum(),
        failed: m.iter().map(|s| u64::from(s.failures)).sum(),
        links,
    }
}

//! Metastability: whether the overload outlived its trigger (the main change wave), and what
//! kept it going. Retries: how many attempts each first attempt became in the surge's busiest
//! hour, and whether the retries came back at the same delays (synchronised) or spread
//! (jittered). Capacity churn: nodes leaving and joining after the trigger, against before it.
//! And the utilisation at which capacity kept falling.
//!
//! A retry is an attempt by a user whose previous attempt, at most an hour before, failed;
//! its delay is the time between the two.

use polars::prelude::PolarsResult;

use crate::detect::{Episode, SeriesSet};
use crate::findings::Metastability;
use crate::ids::{Ids, NONE};
use crate::schema::{self, Role, Tables, signal};
use crate::units::rfc3339_secs as rfc3339;

/// The overload must outlive its trigger by this long to be called metastable.
pub const OUTLIVED_MIN: f64 = 360.0;

/// Retries at most this long after the failure they follow.
const RETRY_WINDOW_MS: i64 = 3_600_000;

/// Synchronised: the [`TOP_DELAYS`] most common retry delays (to 100 ms) hold at least this
/// share of all retry delays. A client without jitter retries after the same few delays
/// (15 s, 19.5 s, 25.4 s, ...: nearly all retries); with ±20% jitter the first retry alone
/// spreads over 60 such bins (under a tenth of them in the top ten).
const SYNC_SHARE: f64 = 0.5;
const TOP_DELAYS: usize = 10;

/// Fewer retry delays than this say nothing about their spread.
const MIN_DELAYS: u64 = 50;

/// What the measures are taken on.
pub(crate) struct Overload<'a> {
    pub s: &'a SeriesSet,
    pub tables: &'a Tables,
    /// The main change wave.
    pub wave: Option<&'a Episode>,
    /// The surge whose busiest hour the retry amplification is read in.
    pub surge: Option<&'a Episode>,
    pub exhaustions: &'a [Episode],
    pub failures: &'a [Episode],
    pub recovery: Option<usize>,
    /// Dense ids of the login table's users.
    pub users: &'a Ids,
}

/// The metastability of the incident, or `None` when there is no trigger, no overload after
/// it, or the overload ended within [`OUTLIVED_MIN`] of it.
pub(crate) fn metastability(o: &Overload) -> PolarsResult<Option<Metastability>> {
    let s = o.s;
    let Some(w) = o.wave else { return Ok(None) };
    // Overload after the trigger: an exhaustion or failures still going when it ended.
    let last = o.exhaustions.iter().chain(o.failures).map(|e| e.end_i).max();
    let Some(last) = last.filter(|l| *l > w.end_i) else { return Ok(None) };
    let end = o.recovery.unwrap_or(last).max(last);
    let outlived_min = super::chain::minutes(s, w.end_i, end);
    if outlived_min < OUTLIVED_MIN {
        return Ok(None);
    }
    let retries = retries(o, s.at(w.onset_i), s.at(end) + s.bucket_ms)?;
    let amplification = if retries.peak_attempts > retries.peak_retries {
        retries.peak_attempts as f64 / (retries.peak_attempts - retries.peak_retries) as f64
    } else {
        0.0
    };
    let churn = churn_ratio(s, w, end);
    let by_retries = amplification >= 1.5;
    let by_churn = churn.is_some_and(|c| c >= 3.0);
    let sustained_by = match (by_retries, by_churn) {
        (true, true) => "retries and capacity churn",
        (true, false) => "retries",
        (false, true) => "capacity churn",
        (false, false) => "neither retries nor capacity churn rose: something the logs do not show",
    };
    let (delay, share) = retries.top_delays();
    Ok(Some(Metastability {
        trigger_end: rfc3339(s.at(w.end_i)),
        outlived_min: round(outlived_min, 0),
        recovered: o.recovery.is_some(),
        retry_amplification: round(amplification, 2),
        retry_delays: retries.delays,
        dominant_retry_delay_s: delay.map(|d| round(d, 1)),
        top_delays_share: round(share, 3),
        // Whole-second stamps blur a jitter of a few seconds into the same bins: no answer.
        synchronised_retries: (retries.delays >= MIN_DELAYS && retries.resolution_ms < 1000)
            .then_some(share >= SYNC_SHARE),
        churn_ratio: churn.map(|c| round(c, 2)),
        sustained_by: sustained_by.to_string(),
        falling_capacity_utilisation: falling_capacity_utilisation(o, end).map(|u| round(u, 3)),
    }))
}

fn round(v: f64, decimals: i32) -> f64 {
    let k = 10f64.powi(decimals);
    (v * k).round() / k
}

/// Retries and their delays over a span, and those in the surge's busiest hour.
struct Retries {
    /// How many retry delays there were...
    delays: u64,
    /// ...and how many fell in each 100 ms from 0 to [`RETRY_WINDOW_MS`] (a retry storm has
    /// millions: counted, not kept).
    per_100ms: Vec<u64>,
    /// The logs' time resolution: 1 s when every stamp is a whole second, else 100 ms.
    resolution_ms: i64,
    peak_attempts: u64,
    peak_retries: u64,
}

impl Retries {
    /// The most common delay in seconds (to the logs' resolution, rounded down),
    /// and the share of all delays in the [`TOP_DELAYS`] most common bins.
    fn top_delays(&self) -> (Option<f64>, f64) {
        let per_bin = (self.resolution_ms / 100).max(1) as usize;
        let mut bins: Vec<(i64, u64)> = (self.per_100ms.chunks(per_bin).enumerate())
            .map(|(bin, n)| (bin as i64, n.iter().sum()))
            .filter(|(_, n)| *n > 0)
            .collect();
        bins.sort_unstable_by_key(|(bin, n)| (std::cmp::Reverse(*n), *bin));
        let top: u64 = bins.iter().take(TOP_DELAYS).map(|b| b.1).sum();
        let share = if self.delays == 0 { 0.0 } else { top as f64 / self.delays as f64 };
        let first = bins.first().map(|(bin, _)| (bin * self.resolution_ms) as f64 / 1000.0);
        (first, share)
    }
}

fn retries(o: &Overload, from_ms: i64, to_ms: i64) -> PolarsResult<Retries> {
    let mut out = Retries {
        delays: 0,
        per_100ms: vec![0; (RETRY_WINDOW_MS / 100) as usize + 1],
        resolution_ms: 1000,
        peak_attempts: 0,
        peak_retries: 0,
    };
    let Some(df) = o.tables.get(&Role::Login) else { return Ok(out) };
    if df.column(schema::USER).is_err() {
        return Ok(out);
    }
    let ts = schema::ts_ms(df)?;
    let outcome = schema::outcomes(df)?;
    // The busiest hour of the surge: the hour around its peak.
    let peak = o.surge.map(|e| crate::units::rfc3339_ms(&e.peak));
    let (plo, phi) = peak.map_or((i64::MAX, i64::MAX), |p| (p - 1_800_000, p + 1_800_000));
    // Each user's last attempt: when, and whether it failed (`i64::MIN`: none yet).
    let mut last: Vec<(i64, bool)> = vec![(i64::MIN, false); o.users.names];
    let mut whole_seconds = true;
    for ((&t, u), oc) in ts.iter().zip(o.users.iter()).zip(outcome) {
        if u == NONE {
            continue;
        }
        if t >= to_ms {
            break;
        }
        let failed = oc == schema::Outcome::Fail;
        let prev =
            Some(std::mem::replace(&mut last[u as usize], (t, failed))).filter(|p| p.0 != i64::MIN);
        if t < from_ms {
            continue;
        }
        whole_seconds &= t % 1000 == 0;
        let retry = prev.is_some_and(|(pt, pf)| pf && t - pt <= RETRY_WINDOW_MS);
        if retry && let Some((pt, _)) = prev {
            // The table is in time order, so a delay is 0 to RETRY_WINDOW_MS.
            out.delays += 1;
            out.per_100ms[((t - pt).max(0) / 100) as usize] += 1;
        }
        if (plo..phi).contains(&t) {
            out.peak_attempts += 1;
            out.peak_retries += u64::from(retry);
        }
    }
    out.resolution_ms = if whole_seconds { 1000 } else { 100 };
    Ok(out)
}

/// Node churn per bucket from the trigger's end to `end`, over its mean in the day before the
/// trigger began; `None` without node churn before it to compare with.
fn churn_ratio(s: &SeriesSet, w: &Episode, end: usize) -> Option<f64> {
    let churn = s.get(signal::NODE_CHURN)?;
    let day = (86_400_000 / s.bucket_ms.max(1)) as usize;
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let before = mean(churn.get(w.onset_i.saturating_sub(day)..w.onset_i)?)?;
    let after = mean(churn.get(w.end_i..end.min(churn.len()))?)?;
    (before > 0.0).then(|| after / before)
}

/// The median utilisation of the hours in which nodes online fell by more than 1% over the
/// next hour, from the first exhaustion to `end`: the load at which capacity kept failing.
fn falling_capacity_utilisation(o: &Overload, end: usize) -> Option<f64> {
    let s = o.s;
    let (nodes, util) = (s.get(signal::NODES_ONLINE)?, s.get(signal::UTILISATION)?);
    let start = o.exhaustions.iter().map(|e| e.onset_i).min()?;
    let hour = (3_600_000 / s.bucket_ms.max(1)).max(1) as usize;
    let mean = |v: &[f64], a: usize| {
        let w = &v[a..(a + hour).min(v.len())];
        w.iter().sum::<f64>() / w.len().max(1) as f64
    };
    let mut falling: Vec<f64> = (start..end.min(s.len))
        .step_by(hour)
        .filter(|&a| a + 2 * hour <= s.len)
        .filter(|&a| mean(nodes, a + hour) < 0.99 * mean(nodes, a))
        .map(|a| mean(util, a))
        .collect();
    falling.sort_by(f64::total_cmp);
    falling.get(falling.len() / 2).copied()
}

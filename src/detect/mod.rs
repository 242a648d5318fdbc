//! Detect: series -> episodes. A *surge* is demand far above its baseline for several buckets
//! in a row; an *exhaustion* is capacity far below its baseline (or utilisation pinned near
//! its ceiling); a *change wave* is a burst of change events of one kind; a *failure*
//! episode is failed logins far above their baseline while attempts are not what surged; a
//! *metric shift* is a plain metric taking a shape it has not had before ([`shape`]).
//! Onsets are refined back to where the series left its band, ends to where it came back.
//!
//! No clock, no I/O: series and options in, episodes out.

pub mod baseline;
pub mod series;
pub mod shape;

use serde::{Deserialize, Serialize};

use crate::schema::signal;
use crate::stats::{centred_means, centred_sums};
use crate::units::{rfc3339_ms, rfc3339_secs as rfc3339, round_to, short_number};
use baseline::{Band, BaselineOptions, bands, same_bucket_medians};
pub use series::SeriesSet;

/// Thresholds, with the defaults `rootline analyze` uses. Nothing here is tuned to one data
/// set: the same numbers run on simulated incidents, loghub's real logs and NAB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DetectOptions {
    /// A bucket is anomalous this many spreads (robust z) from its baseline...
    pub z: f64,
    /// ...and, for surges and change waves, at least this multiple of the baseline median.
    pub ratio: f64,
    /// An episode needs this many minutes of anomalous buckets (at least one bucket; gaps of
    /// `gap` buckets allowed); a surge or change wave also needs as many buckets whose 5-minute
    /// mean is far out. In minutes, so that a 15-minute bucket is not asked for 45 minutes.
    pub min_len: usize,
    pub gap: usize,
    /// Onset and end are where the robust z crosses this (the edge of the normal band)...
    pub band_z: f64,
    /// ...or, for surges and change waves, where the 5-minute mean falls under this multiple
    /// of the baseline median. At large counts the band's edge sits a few percent over normal,
    /// and the restart wave's own logins (1.3-1.4x for hours) would start a flood hours before
    /// it rose; the simulator's truth bounds a surge the same way
    /// ([`crate::simulate::truth::EDGE_RATIO`]).
    pub edge_ratio: f64,
    /// Exhaustion: capacity at most this share of its baseline...
    pub capacity_share: f64,
    /// The spread of nodes online is at least this share of its baseline, so the band's edge
    /// (`band_z` spreads) sits a few percent below normal: losing a node or two is churn, not
    /// the onset of an exhaustion.
    pub capacity_rel_spread: f64,
    /// ...or utilisation at least this for `min_len` buckets.
    pub util_ceiling: f64,
    /// Failures: the failure ratio at least this many points over its baseline.
    pub failure_excess: f64,
    /// Episodes of one series less than this many minutes apart are one episode...
    pub merge_min: usize,
    /// ...and change waves less than this many minutes apart are one wave: restarts that
    /// follow the night round the world, a rollout region by region.
    pub change_merge_min: usize,
    /// Recovery: demand and failures back in band for this many minutes (at least one
    /// bucket), so that the recovery is found at the same time at any bucket width.
    pub recovery_len: usize,
    pub baseline_trailing: usize,
    pub baseline_min_history: usize,
    /// Metric series: the shape detector's knobs.
    pub shape: shape::ShapeOptions,
}

impl Default for DetectOptions {
    fn default() -> Self {
        DetectOptions {
            z: 6.0,
            ratio: 3.0,
            min_len: 3,
            gap: 2,
            band_z: 2.0,
            edge_ratio: crate::simulate::truth::EDGE_RATIO,
            capacity_share: 0.8,
            capacity_rel_spread: 0.025,
            util_ceiling: 0.95,
            failure_excess: 0.05,
            merge_min: 60,
            change_merge_min: 180,
            recovery_len: 30,
            baseline_trailing: 60,
            baseline_min_history: 10,
            shape: shape::ShapeOptions::default(),
        }
    }
}

/// What an episode is: the vocabulary of `findings.json`'s episodes (`kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EpisodeKind {
    /// Demand (login attempts) far above its baseline.
    Surge,
    /// Capacity (nodes online) far below its baseline, or utilisation pinned at its ceiling.
    Exhaustion,
    /// A burst of change events of one kind.
    ChangeWave,
    /// Failed logins far above their baseline.
    Failures,
    /// A plain metric taking a shape not seen before in it.
    MetricShift,
}

impl EpisodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EpisodeKind::Surge => "surge",
            EpisodeKind::Exhaustion => "exhaustion",
            EpisodeKind::ChangeWave => "change_wave",
            EpisodeKind::Failures => "failures",
            EpisodeKind::MetricShift => "metric_shift",
        }
    }
}

impl std::fmt::Display for EpisodeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One episode, with everything a reader needs to judge it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    pub kind: EpisodeKind,
    /// The series it was found in (`attempts`, `nodes_online`, `change_reboot`, ...).
    pub series: String,
    /// Where the series left its band, where it was furthest out, where it came back (RFC 3339).
    pub onset: String,
    pub peak: String,
    pub end: String,
    /// Baseline median at the peak, the value there, and their ratio. For high episodes in
    /// buckets under 5 minutes the value is the 5-minute centred mean, and the peak is where
    /// that mean is furthest above baseline: one noisy bucket does not make the headline.
    pub baseline: f64,
    pub peak_value: f64,
    pub ratio: f64,
    /// The largest robust z in the episode.
    pub score: f64,
    pub duration_min: f64,
    /// One line: "attempts 14.2x the median for this time of day for 37 min".
    pub reason: String,
    /// `source:line` of the first rows behind the episode (filled in by correlate).
    #[serde(default)]
    pub first_lines: Vec<String>,
    #[serde(skip)]
    pub onset_i: usize,
    #[serde(skip)]
    pub peak_i: usize,
    #[serde(skip)]
    pub end_i: usize,
}

impl Episode {
    /// Whether the episode (onset to end, both included) holds the instant `ms`.
    pub fn covers(&self, ms: i64) -> bool {
        (rfc3339_ms(&self.onset)..=rfc3339_ms(&self.end)).contains(&ms)
    }

    /// Whether the episode meets the span from `from_ms` to `to_ms` (both included).
    pub fn overlaps(&self, from_ms: i64, to_ms: i64) -> bool {
        rfc3339_ms(&self.onset) <= to_ms && rfc3339_ms(&self.end) >= from_ms
    }
}

/// The baseline options detection uses for count series of `s`.
pub fn baseline_options(s: &SeriesSet, o: &DetectOptions) -> BaselineOptions {
    base_opts(s, o, true, 1.0)
}

fn base_opts(s: &SeriesSet, o: &DetectOptions, counts: bool, min_scale: f64) -> BaselineOptions {
    let day = (86_400_000 / s.bucket_ms.max(1)) as usize;
    BaselineOptions {
        day,
        trailing: o.baseline_trailing,
        min_history: o.baseline_min_history,
        tod_halfwidth: (7 * 60_000 / s.bucket_ms.max(1)).max(1) as usize,
        min_scale,
        min_rel_scale: 0.0,
        counts,
        clean_z: o.band_z * 2.0,
        out_half: (150_000 / s.bucket_ms.max(1)) as usize,
        out_z: o.band_z,
    }
}

/// Runs of buckets where `flag` holds, `gap` apart at most, at least `min_len` long.
fn runs(n: usize, flag: impl Fn(usize) -> bool, gap: usize, min_len: usize) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize, usize)> = Vec::new();
    for i in (0..n).filter(|&i| flag(i)) {
        match out.last_mut() {
            Some((_, hi, count)) if i - *hi <= gap + 1 => {
                *hi = i;
                *count += 1;
            }
            _ => out.push((i, i, 1)),
        }
    }
    out.into_iter().filter(|r| r.2 >= min_len).map(|r| (r.0, r.1)).collect()
}

/// Grows a run out to where the series is back inside its band, and merges runs less than
/// `merge` buckets apart.
fn widen(
    cores: Vec<(usize, usize)>,
    inside: impl Fn(usize) -> bool,
    n: usize,
    merge: usize,
) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (mut lo, mut hi) in cores {
        while lo > 0 && !inside(lo - 1) {
            lo -= 1;
        }
        while hi + 1 < n && !inside(hi + 1) {
            hi += 1;
        }
        match out.last_mut() {
            Some(last) if lo <= last.1 + 1 + merge => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn episode(
    s: &SeriesSet,
    kind: EpisodeKind,
    series: &str,
    x: &[f64],
    b: &[Option<Band>],
    (lo, hi): (usize, usize),
    high: bool,
    what: &str,
) -> Episode {
    // High episodes are judged on 5-minute centred means (1 bucket for 5-minute buckets up).
    let half = if high { (150_000 / s.bucket_ms.max(1)) as usize } else { 0 };
    let v = centred_means(x, half);
    let value = |i: usize| v[i];
    // The peak is where the value is furthest from baseline as a ratio (the headline's
    // number): the excess over the baseline in units of the baseline, or of the spread where
    // the baseline is smaller than that (near 0, any ratio is huge and means nothing). Spreads
    // alone would move the peak to wherever history happened to be noisy.
    let far = |k: usize| -> (f64, f64) {
        let Some(band) = b[k] else { return (f64::NEG_INFINITY, 0.0) };
        let (excess, z) = if high {
            (value(k) - band.median, band.z(value(k)))
        } else {
            (band.median - value(k), -band.z(value(k)))
        };
        (excess / band.median.abs().max(band.scale).max(1e-12), z)
    };
    // Ties of the 5-minute means (a 3-minute burst has the same mean around each of its
    // minutes) go to the bucket that is itself the most extreme: the busiest minute.
    let raw = |k: usize| if high { x[k] } else { -x[k] };
    let pk = (lo..=hi)
        .max_by(|&i, &j| {
            let (a, c) = (far(i), far(j));
            a.0.total_cmp(&c.0)
                .then(a.1.total_cmp(&c.1))
                .then(raw(i).total_cmp(&raw(j)))
                .then(j.cmp(&i))
        })
        .unwrap_or(lo);
    let base = b[pk].map_or(0.0, |b| b.median);
    // Against a baseline within one spread of 0, a ratio is noise (8.6 failures against 0.05
    // is "172x"): the value and the baseline are the headline.
    let tiny_base = b[pk].is_none_or(|b| b.median.abs() < b.scale);
    let score = (lo..=hi).filter_map(|i| b[i].map(|b| b.z(x[i]).abs())).fold(0.0, f64::max);
    let ratio = if base > 0.0 { value(pk) / base } else { f64::INFINITY };
    let minutes = ((hi - lo + 1) as i64 * s.bucket_ms) as f64 / 60_000.0;
    let reason = if high {
        if ratio.is_finite() && !tiny_base {
            format!("{series} {ratio:.1}x the baseline ({base:.1}) for {minutes:.0} min; {what}")
        } else {
            format!(
                "{series} {:.1} against a baseline of {} for {minutes:.0} min; {what}",
                value(pk),
                short_number(round_to(base, 2), 2)
            )
        }
    } else {
        format!(
            "{series} down to {:.0}% of the baseline ({base:.1} to {:.1}) for {minutes:.0} min; {what}",
            100.0 * ratio,
            value(pk)
        )
    };
    Episode {
        kind,
        series: series.into(),
        onset: rfc3339(s.at(lo)),
        peak: rfc3339(s.at(pk)),
        end: rfc3339(s.at(hi)),
        baseline: round_to(base, 2),
        peak_value: round_to(value(pk), 2),
        ratio: if ratio.is_finite() { round_to(ratio, 2) } else { 0.0 },
        score: round_to(score, 2),
        duration_min: minutes,
        reason,
        first_lines: Vec::new(),
        onset_i: lo,
        peak_i: pk,
        end_i: hi,
    }
}

fn merge_buckets(s: &SeriesSet, o: &DetectOptions) -> usize {
    (o.merge_min as i64 * 60_000 / s.bucket_ms.max(1)) as usize
}

/// High-side episodes of a count series.
/// `clumps`: the events arrive in clumps (login retries), so 5-minute means far out also make
/// a core (see below).
fn highs(
    s: &SeriesSet,
    name: &str,
    kind: EpisodeKind,
    o: &DetectOptions,
    what: &str,
    clumps: bool,
) -> Vec<Episode> {
    let Some(x) = s.get(name) else { return vec![] };
    let opts = base_opts(s, o, true, 1.0);
    let b = bands(x, &opts);
    // A bucket as high as the same bucket usually is on earlier days (a daily job at 22:54)
    // is a pattern, however far it is above the minutes around it.
    let usual = same_bucket_medians(x, opts.day);
    let flag = |i: usize| {
        b[i].is_some_and(|b| b.z(x[i]) >= o.z && x[i] >= o.ratio * b.median && x[i] >= 3.0)
            && usual[i].is_none_or(|u| x[i] >= o.ratio * u)
    };
    // The edges are judged on 5-minute means, so one quiet bucket inside a flood does not end
    // it and one noisy bucket before it does not start it. (The core stays on single buckets:
    // a 5-minute mean would stretch a one-bucket blip into a run.)
    let m = centred_means(x, (150_000 / s.bucket_ms.max(1)) as usize);
    // The same edge at any bucket: at 1 minute an edge is a 5-minute mean `band_z` spreads of
    // a minute over the median. A bucket of k minutes sums k minutes of counts, whose spread
    // grows as sqrt(k), not k: the same rate above normal is sqrt(k) times as many of its
    // spreads out (Poisson counts). Without this a 5-minute bucket started a flood on the
    // restart wave's logins 8 minutes before the flood.
    let edge_z = o.band_z * (s.bucket_ms as f64 / 60_000.0).max(1.0).sqrt();
    let inside =
        |i: usize| b[i].is_none_or(|b| b.z(m[i]) < edge_z || m[i] < o.edge_ratio * b.median);
    // ...but an episode starts and ends on a bucket that is itself out of its band.
    let quiet =
        |i: usize| b[i].is_none_or(|b| b.z(x[i]) < edge_z || x[i] < o.edge_ratio * b.median);
    // The headline is read on 5-minute means: an episode whose 5-minute mean is far above
    // baseline in fewer than `min_len` buckets (a blip of a small count: one supernode's
    // clients logging in again) is not told.
    let far_mean = |i: usize| {
        b[i].is_some_and(|b| b.z(m[i]) >= o.z && m[i] >= o.ratio * b.median && m[i] >= 3.0)
    };
    // Cores: `min_len` single buckets far out (gaps allowed), or `min_len` 5-minute means far
    // out in a row holding at least two far single buckets: retries arrive in clumps, so a
    // flood can alternate far and ordinary minutes without three far ones close together.
    let min_len = min_buckets(s, o);
    let mut cores = runs(x.len(), flag, o.gap, min_len);
    if clumps {
        cores.extend(
            runs(x.len(), far_mean, 0, min_len)
                .into_iter()
                .filter(|&(lo, hi)| (lo..=hi).filter(|&i| flag(i)).count() >= 2),
        );
    }
    // Changes come one PC at a time: a restart wave of a few thousand PCs is one or two a
    // minute for hours, never three in a minute. A rate of at least one a minute over 15
    // minutes, far above its baseline, is a burst too.
    let steady = kind == EpisodeKind::ChangeWave;
    let half15 = buckets(s, 15) / 2;
    let m15 = if steady { centred_means(x, half15) } else { Vec::new() };
    let per_bucket = s.bucket_ms as f64 / 60_000.0;
    // The spread of a mean of k buckets is the buckets' spread over sqrt(k).
    let root_k = ((2 * half15 + 1) as f64).sqrt();
    let far_rate = |i: usize| {
        steady
            && b[i].is_some_and(|b| {
                b.z(m15[i]) * root_k >= o.z && m15[i] >= o.ratio * b.median && m15[i] >= per_bucket
            })
    };
    if steady {
        cores.extend(runs(x.len(), far_rate, 0, buckets(s, 15)));
    }
    cores.sort_unstable();
    let merge = if steady {
        (o.change_merge_min.max(o.merge_min) as i64 * 60_000 / s.bucket_ms.max(1)) as usize
    } else {
        merge_buckets(s, o)
    };
    widen(cores, inside, x.len(), merge)
        .into_iter()
        .filter(|&(lo, hi)| {
            (lo..=hi).filter(|&i| far_mean(i)).count() >= min_len
                || (lo..=hi).filter(|&i| far_rate(i)).count() >= buckets(s, 15)
        })
        .map(|(mut lo, mut hi)| {
            while lo < hi && quiet(lo) {
                lo += 1;
            }
            while hi > lo && quiet(hi) {
                hi -= 1;
            }
            episode(s, kind, name, x, &b, (lo, hi), true, what)
        })
        .collect()
}

/// Surges: login attempts far above their baseline.
pub fn surges(s: &SeriesSet, o: &DetectOptions) -> Vec<Episode> {
    highs(s, signal::ATTEMPTS, EpisodeKind::Surge, o, "demand far above normal", true)
}

/// Change waves: bursts of change events, per kind.
pub fn change_waves(s: &SeriesSet, o: &DetectOptions) -> Vec<Episode> {
    let kinds: Vec<String> =
        s.cols.keys().filter(|k| k.starts_with(signal::CHANGE_PREFIX)).cloned().collect();
    let mut out: Vec<Episode> = kinds
        .iter()
        .flat_map(|k| highs(s, k, EpisodeKind::ChangeWave, o, "a burst of changes", false))
        .collect();
    out.sort_by_key(|e| e.onset_i);
    out
}

/// Exhaustion: nodes online far below their baseline, or utilisation pinned at its ceiling.
pub fn exhaustions(s: &SeriesSet, o: &DetectOptions) -> Vec<Episode> {
    let mut out = lows(s, signal::NODES_ONLINE, o, "capacity lost");
    // The capacity the nodes report (sessions, connections) can fall while the nodes stay up
    // (shrunk limits, a config change): told where the nodes online tell nothing.
    if s.get(signal::CAPACITY).is_some_and(|c| c.iter().any(|v| *v > 0.0)) {
        let capacity = lows(s, signal::CAPACITY, o, "capacity lost");
        let nodes = out.clone();
        out.extend(
            capacity
                .into_iter()
                .filter(|c| !nodes.iter().any(|n| n.onset_i <= c.end_i && c.onset_i <= n.end_i)),
        );
    }
    if let Some(u) = s.get(signal::UTILISATION) {
        let flag = |i: usize| u[i] >= o.util_ceiling;
        let inside = |i: usize| u[i] < o.util_ceiling - 0.1;
        let b: Vec<Option<Band>> =
            vec![Some(Band { median: o.util_ceiling, scale: 0.05 }); u.len()];
        for r in widen(
            runs(u.len(), flag, o.gap, buckets(s, o.min_len.max(10))),
            inside,
            u.len(),
            merge_buckets(s, o),
        ) {
            out.push(episode(
                s,
                EpisodeKind::Exhaustion,
                signal::UTILISATION,
                u,
                &b,
                r,
                true,
                "capacity pinned at its ceiling",
            ));
        }
    }
    out.sort_by_key(|e| e.onset_i);
    out
}

/// Runs of a level series (nodes online, capacity) far below its baseline.
fn lows(s: &SeriesSet, name: &str, o: &DetectOptions, what: &str) -> Vec<Episode> {
    let Some(x) = s.get(name) else { return vec![] };
    let b = bands(
        x,
        &BaselineOptions { min_rel_scale: o.capacity_rel_spread, ..base_opts(s, o, false, 1.0) },
    );
    let flag =
        |i: usize| b[i].is_some_and(|b| b.z(x[i]) <= -o.z && x[i] <= o.capacity_share * b.median);
    let inside = |i: usize| b[i].is_none_or(|b| b.z(x[i]) > -o.band_z);
    widen(runs(x.len(), flag, o.gap, min_buckets(s, o)), inside, x.len(), merge_buckets(s, o))
        .into_iter()
        .map(|r| episode(s, EpisodeKind::Exhaustion, name, x, &b, r, false, what))
        .collect()
}

/// Failure episodes: failed logins far above their baseline, with the failure ratio well
/// above its own.
pub fn failures(s: &SeriesSet, o: &DetectOptions) -> Vec<Episode> {
    let (Some(a), Some(f), Some(r)) =
        (s.get(signal::ATTEMPTS), s.get(signal::FAILURES), s.get(signal::FAILURE_RATIO))
    else {
        return vec![];
    };
    let bf = bands(f, &base_opts(s, o, true, 1.0));
    let br = bands(r, &base_opts(s, o, false, 0.02));
    // Sparse failures (a few a minute) are also judged over 15-minute windows: the failure
    // ratio there against its baseline, with a binomial z for the evidence.
    let half = (450_000 / s.bucket_ms.max(1)) as usize;
    let (an, fk) = (centred_sums(a, half), centred_sums(f, half));
    let p0 = |i: usize| br[i].map_or(0.0, |b| b.median).max(0.005);
    // The 15-minute window around `i` holds at least `excess` more failures than its baseline
    // ratio, and `z` binomial spreads more.
    let window_over = |i: usize, excess: f64, z: f64| {
        let (n, k, p) = (an[i], fk[i], p0(i));
        br[i].is_some()
            && n > 0.0
            && k >= n * (p + excess)
            && (k - n * p) / (n * p * (1.0 - p)).sqrt() >= z
    };
    // At least 10 failures of 30 attempts: a sample, not a handful of lines.
    let window_out =
        |i: usize| fk[i] >= 10.0 && an[i] >= 30.0 && window_over(i, o.failure_excess, o.z);
    let flag = |i: usize| {
        (bf[i].is_some_and(|b| b.z(f[i]) >= o.z && f[i] >= 3.0)
            && br[i].is_some_and(|b| r[i] >= b.median + o.failure_excess))
            || (f[i] > 0.0 && window_out(i))
    };
    // The edges: where the 15-minute failure ratio is back within 40% of the excess over its
    // baseline (2 points at the default), or no longer `band_z` binomial spreads over it.
    let inside = |i: usize| !window_over(i, 0.4 * o.failure_excess, o.band_z);
    widen(runs(f.len(), flag, o.gap, min_buckets(s, o)), inside, f.len(), merge_buckets(s, o))
        .into_iter()
        // An episode starts and ends on a bucket with failures in it.
        .filter_map(|(mut lo, mut hi)| {
            while lo < hi && f[lo] == 0.0 {
                lo += 1;
            }
            while hi > lo && f[hi] == 0.0 {
                hi -= 1;
            }
            (f[lo] > 0.0).then_some((lo, hi))
        })
        .map(|rg| {
            episode(
                s,
                EpisodeKind::Failures,
                signal::FAILURES,
                f,
                &bf,
                rg,
                true,
                "logins failing far more than usual",
            )
        })
        .collect()
}

/// The first bucket after `after` from which attempts and failures stay in their bands for
/// `recovery_len` minutes.
pub fn recovery(s: &SeriesSet, o: &DetectOptions, after: usize) -> Option<usize> {
    let len = recovery_buckets(s, o);
    let a = s.get(signal::ATTEMPTS)?;
    let f = s.get(signal::FAILURES)?;
    let ba = bands(a, &base_opts(s, o, true, 1.0));
    let bf = bands(f, &base_opts(s, o, true, 1.0));
    let ok = |i: usize| {
        ba[i].is_some_and(|b| b.z(a[i]) < o.band_z) && bf[i].is_some_and(|b| b.z(f[i]) < o.band_z)
    };
    let n = a.len();
    (after + 1..n.saturating_sub(len)).find(|&i| (i..i + len).all(ok))
}

/// `recovery_len` minutes in buckets of `s`.
pub fn recovery_buckets(s: &SeriesSet, o: &DetectOptions) -> usize {
    buckets(s, o.recovery_len)
}

/// `min_len` minutes in buckets of `s`: how many buckets an episode needs.
pub fn min_buckets(s: &SeriesSet, o: &DetectOptions) -> usize {
    buckets(s, o.min_len).max(2)
}

/// `minutes` in buckets of `s`, rounded up, at least one.
fn buckets(s: &SeriesSet, minutes: usize) -> usize {
    let b = s.bucket_ms.max(1);
    (((minutes as i64 * 60_000 + b - 1) / b) as usize).max(1)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn set(attempts: Vec<f64>) -> SeriesSet {
        let len = attempts.len();
        let failures = vec![0.0; len];
        let cols = BTreeMap::from([
            ("attempts".to_string(), attempts),
            ("failures".to_string(), failures.clone()),
            ("failure_ratio".to_string(), failures),
        ]);
        SeriesSet { start_ms: 0, bucket_ms: 60_000, len, cols }
    }

    #[test]
    fn surge_ignores_single_spike() {
        let mut a = vec![10.0; 300];
        a[150] = 200.0;
        assert!(surges(&set(a), &DetectOptions::default()).is_empty());
    }

    #[test]
    fn surge_onset_is_where_the_series_leaves_its_band() {
        let mut a = vec![10.0; 300];
        // A ramp: leaves the band at 148, crosses 3x at 151.
        for (k, v) in
            [20.0, 25.0, 28.0, 40.0, 60.0, 80.0, 80.0, 80.0, 80.0, 80.0].iter().enumerate()
        {
            a[148 + k] = *v;
        }
        let e = surges(&set(a), &DetectOptions::default());
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!((e[0].onset_i, e[0].end_i), (148, 157));
        assert_eq!(e[0].ratio, 8.0);
        assert!(
            e[0].reason.starts_with("attempts 8.0x the baseline (10.0) for 10 min"),
            "{}",
            e[0].reason
        );
    }

    #[test]
    fn a_blip_far_out_on_its_5_minute_mean_twice_is_no_surge() {
        // A count of 2-3 a minute; one supernode's clients log in again: three single minutes
        // far out, and the 5-minute mean 6 spreads over baseline at two minutes only.
        let mut a: Vec<f64> = (0..300).map(|i| if i % 2 == 0 { 2.0 } else { 3.0 }).collect();
        a[150..154].copy_from_slice(&[16.0, 8.0, 24.0, 13.0]);
        assert!(surges(&set(a.clone()), &DetectOptions::default()).is_empty());
        // The same height held for six minutes is one.
        a[150..156].copy_from_slice(&[16.0, 12.0, 22.0, 13.0, 15.0, 14.0]);
        assert_eq!(surges(&set(a), &DetectOptions::default()).len(), 1);
    }

    #[test]
    fn a_daily_spike_is_a_pattern_not_a_surge() {
        // Every day at minute 1000: 40 logins (a clamp in session starts, a daily job); on
        // day 3 also 15 the minute after. Only one bucket is far out that is not usual.
        let mut a: Vec<f64> = (0..4 * 1440).map(|i| if i % 2 == 0 { 2.0 } else { 3.0 }).collect();
        for d in 0..4 {
            a[d * 1440 + 1000] = 40.0 + d as f64;
        }
        a[3 * 1440 + 1001] = 15.0;
        assert!(surges(&set(a.clone()), &DetectOptions::default()).is_empty());
        // The same minutes on a day without the pattern are a surge.
        for d in 0..3 {
            a[d * 1440 + 1000] = 2.0;
        }
        assert_eq!(surges(&set(a), &DetectOptions::default()).len(), 1);
    }

    #[test]
    fn recovery_waits_for_a_calm_stretch() {
        let mut a = vec![10.0; 400];
        for v in &mut a[150..200] {
            *v = 100.0;
        }
        let s = set(a);
        let o = DetectOptions::default();
        let r = recovery(&s, &o, 199).unwrap();
        assert_eq!(r, 200);
    }
}

//! Robust baselines: what each bucket of a series should look like, from its own history.
//!
//! With two days of history or more, bucket `i` is compared with the same time of day on up
//! to seven earlier days (a window of +-`tod_halfwidth` buckets around each); with less, with
//! the trailing `trailing` buckets. The centre is the median (for counts the interquartile
//! mean, which small counts do not round), the spread the MAD (scaled to a standard
//! deviation), floored so that sparse counts and flat series do not give a zero spread. In
//! the trailing window, buckets already judged anomalous are replaced by their
//! baseline, so a long episode does not become its own normal. In time-of-day history a day
//! whose window was mostly anomalous then is left out (the first days of an incident must not
//! raise the normal its peak is judged against), unless at least half the days were: then it
//! is a daily pattern, and it must be able to become normal.

/// Baseline of one bucket; `None` where history is too short to judge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    /// The centre: the median, or for counts the interquartile mean.
    pub median: f64,
    pub scale: f64,
}

impl Band {
    /// How many spreads `x` is from the median.
    pub fn z(&self, x: f64) -> f64 {
        (x - self.median) / self.scale
    }
}

/// Knobs of the baseline.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BaselineOptions {
    /// Buckets per day (1440 for one-minute buckets).
    pub day: usize,
    pub trailing: usize,
    /// Fewest history values needed to judge a bucket.
    pub min_history: usize,
    pub tod_halfwidth: usize,
    /// The spread is at least this, and at least `sqrt(median)` when `counts` is set...
    pub min_scale: f64,
    /// ...and at least this share of the median (0 for none): for levels such as nodes online,
    /// where a few percent of churn is normal even when the history is flat.
    pub min_rel_scale: f64,
    pub counts: bool,
    /// A bucket this many spreads from its baseline is kept out of later baselines.
    pub clean_z: f64,
}

/// The median of `v` (reordered in place); 0 for none.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    let m = *m;
    if v.len() % 2 == 1 {
        m
    } else {
        let lower = v[..mid].iter().copied().fold(f64::MIN, f64::max);
        (lower + m) / 2.0
    }
}

/// The mean of the middle half of `v` (sorted in place): a centre that, unlike the median,
/// is not stuck on whole numbers for small counts.
fn iq_mean(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable_by(f64::total_cmp);
    let (lo, hi) = (v.len() / 4, v.len() - v.len() / 4);
    v[lo..hi].iter().sum::<f64>() / (hi - lo) as f64
}

/// The baseline band of every bucket of `x`.
pub fn bands(x: &[f64], o: &BaselineOptions) -> Vec<Option<Band>> {
    let n = x.len();
    let mut clean = x.to_vec();
    let mut flagged = vec![false; n];
    let mut out = vec![None; n];
    let by_day = n >= 2 * o.day && o.day > 0;
    let mut hist = Vec::new();
    let mut days: Vec<(usize, usize, bool)> = Vec::with_capacity(7);
    for i in 0..n {
        hist.clear();
        if by_day {
            // The same time of day on earlier days; a day that was mostly anomalous then is
            // left out, unless at least half the days were (a pattern, becoming normal).
            days.clear();
            for k in 1..=7 {
                let Some(c) = i.checked_sub(k * o.day) else { break };
                let lo = c.saturating_sub(o.tod_halfwidth);
                let hi = (c + o.tod_halfwidth + 1).min(i);
                let out_of_band = flagged[lo..hi].iter().filter(|f| **f).count();
                days.push((lo, hi, 2 * out_of_band > hi - lo));
            }
            let keep_all = 2 * days.iter().filter(|d| d.2).count() >= days.len();
            for &(lo, hi, bad) in &days {
                if keep_all || !bad {
                    hist.extend_from_slice(&x[lo..hi]);
                }
            }
            if hist.len() < o.min_history {
                // The first day: fall back to the trailing window.
                hist.extend_from_slice(&clean[i.saturating_sub(o.trailing)..i]);
            }
        } else {
            hist.extend_from_slice(&clean[i.saturating_sub(o.trailing)..i]);
        }
        if hist.len() < o.min_history {
            continue;
        }
        // Counts take the interquartile mean: a median of counts of 2 or 3 a minute is stuck
        // on whole numbers (2.0 for a rate of 2.47), and every ratio read against it with it.
        let med = if o.counts { iq_mean(&mut hist) } else { median(&mut hist) };
        let mut dev: Vec<f64> = hist.iter().map(|v| (v - med).abs()).collect();
        let mad = median(&mut dev) * 1.4826;
        let floor = if o.counts { med.sqrt().max(o.min_scale) } else { o.min_scale };
        let floor = floor.max(o.min_rel_scale * med.abs());
        let band = Band { median: med, scale: mad.max(floor) };
        if band.z(x[i]).abs() >= o.clean_z {
            clean[i] = med;
            flagged[i] = true;
        }
        out[i] = Some(band);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> BaselineOptions {
        BaselineOptions {
            day: 1440,
            trailing: 30,
            min_history: 10,
            tod_halfwidth: 7,
            min_scale: 1.0,
            min_rel_scale: 0.0,
            counts: true,
            clean_z: 4.0,
        }
    }

    #[test]
    fn a_long_episode_does_not_become_normal() {
        let mut x = vec![10.0; 200];
        for v in &mut x[100..200] {
            *v = 100.0;
        }
        let b = bands(&x, &opts());
        assert!(b[5].is_none(), "too little history");
        assert_eq!(b[199].unwrap().median, 10.0);
        assert!(b[199].unwrap().z(100.0) > 20.0);
    }

    #[test]
    fn an_anomalous_day_is_left_out_of_later_days_history() {
        // Days 0-2 normal (day 2 a little busy), day 3 far out at minute 600: on day 4 the
        // centre there comes from days 0-2 (interquartile mean 10.9), not 12.5 (day 3 in).
        let mut x = vec![10.0; 5 * 1440];
        for v in &mut x[2 * 1440 + 590..2 * 1440 + 630] {
            *v = 15.0;
        }
        for v in &mut x[3 * 1440 + 590..3 * 1440 + 630] {
            *v = 30.0;
        }
        let b = bands(&x, &opts());
        assert!(b[3 * 1440 + 610].unwrap().z(30.0) >= 4.0, "day 3 is anomalous");
        let centre = b[4 * 1440 + 610].unwrap().median;
        assert!((centre - 250.0 / 23.0).abs() < 1e-9, "{centre}");
    }

    #[test]
    fn time_of_day_is_used_with_two_days_of_history() {
        // A daily bump at minute 600: on day three it is normal, not an anomaly.
        let mut x = vec![5.0; 3 * 1440];
        for d in 0..3 {
            for v in &mut x[d * 1440 + 600..d * 1440 + 620] {
                *v = 50.0;
            }
        }
        let b = bands(&x, &opts());
        let at = 2 * 1440 + 610;
        assert!(b[at].unwrap().z(50.0).abs() < 1.0, "{:?}", b[at]);
    }
}

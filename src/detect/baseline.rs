//! Robust baselines: what each bucket of a series should look like, from its own history.
//!
//! With two days of history or more, bucket `i` is compared with the same time of day on up
//! to seven earlier days (a window of +-`tod_halfwidth` buckets around each); with less, with
//! the trailing `trailing` buckets. The centre is the median (for counts the mean of the
//! history near the median: a rate, which small counts do not round to whole numbers), the
//! spread the MAD (scaled to a standard deviation), floored so that sparse counts and flat
//! series do not give a zero spread.
//!
//! History leaves out what was out of its band: in the trailing window such buckets are
//! replaced by their baseline, so a long episode does not become its own normal; in
//! time-of-day windows they are left out (the first hours of an incident must not raise the
//! normal its peak is judged against), unless at least half the days were mostly out then:
//! that is a daily pattern, and it must be able to become normal.

use crate::stats::{centred_means, median};

/// Baseline of one bucket; `None` where history is too short to judge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    /// The centre: the median, or for counts the mean of the history near the median.
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
    /// A bucket this many spreads from its baseline is kept out of later trailing windows.
    pub clean_z: f64,
    /// A bucket is out of its band when the mean of the `out_half` buckets either side of it
    /// is `out_z` spreads or more from its baseline (episodes' edges use the same test). It is
    /// kept out of later history: trailing windows and other days' time-of-day windows.
    pub out_half: usize,
    pub out_z: f64,
}

/// For each bucket with at least two earlier days, the median of the same bucket on up to
/// seven earlier days (`day` buckets apart); `None` before that.
pub fn same_bucket_medians(x: &[f64], day: usize) -> Vec<Option<f64>> {
    let mut v = Vec::with_capacity(7);
    (0..x.len())
        .map(|i| {
            v.clear();
            v.extend((1..=7).map_while(|k| i.checked_sub(k * day)).map(|j| x[j]));
            (day > 0 && v.len() >= 2).then(|| median(&mut v))
        })
        .collect()
}

/// The baseline band of every bucket of `x`.
pub fn bands(x: &[f64], o: &BaselineOptions) -> Vec<Option<Band>> {
    let n = x.len();
    let mut clean = x.to_vec();
    let mut out_of_band = vec![false; n];
    let means = centred_means(x, o.out_half);
    let mut out = vec![None; n];
    let by_day = n >= 2 * o.day && o.day > 0;
    let mut hist = Vec::new();
    let mut days: Vec<(usize, usize, bool)> = Vec::with_capacity(7);
    for i in 0..n {
        hist.clear();
        if by_day {
            // The same time of day on earlier days, less the buckets that were out of their
            // band then, unless at least half the days were mostly out (a pattern, becoming
            // normal).
            days.clear();
            for k in 1..=7 {
                let Some(c) = i.checked_sub(k * o.day) else { break };
                let lo = c.saturating_sub(o.tod_halfwidth);
                let hi = (c + o.tod_halfwidth + 1).min(i);
                let out = out_of_band[lo..hi].iter().filter(|f| **f).count();
                days.push((lo, hi, 2 * out > hi - lo));
            }
            let keep_all = 2 * days.iter().filter(|d| d.2).count() >= days.len();
            for &(lo, hi, _) in &days {
                if keep_all {
                    hist.extend_from_slice(&x[lo..hi]);
                } else {
                    hist.extend((lo..hi).filter(|&j| !out_of_band[j]).map(|j| x[j]));
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
        let med = median(&mut hist);
        let mut dev: Vec<f64> = hist.iter().map(|v| (v - med).abs()).collect();
        let mad = median(&mut dev) * 1.4826;
        let band = if o.counts {
            // Counts take the mean and standard deviation of the history within `clean_z`
            // spreads of its median: the median and MAD of counts of 2 or 3 a minute are
            // stuck on whole numbers (a centre of 2.0 for a rate of 2.47, a spread jumping
            // between 1.48 and 2.22 from one minute to the next), and any trimmed mean of a
            // skewed count sits below its rate. The spread is at least sqrt(centre), a
            // Poisson count's.
            let cut = o.clean_z * mad.max(med.sqrt()).max(o.min_scale);
            let (mut k, mut sum, mut sq) = (0usize, 0.0, 0.0);
            for v in hist.iter().filter(|v| (**v - med).abs() <= cut) {
                (k, sum, sq) = (k + 1, sum + v, sq + v * v);
            }
            let centre = if k > 0 { sum / k as f64 } else { med };
            let sd = if k > 1 {
                ((sq - k as f64 * centre * centre) / (k - 1) as f64).max(0.0).sqrt()
            } else {
                0.0
            };
            let scale = sd.max(centre.sqrt()).max(o.min_scale).max(o.min_rel_scale * centre.abs());
            Band { median: centre, scale }
        } else {
            Band { median: med, scale: mad.max(o.min_scale).max(o.min_rel_scale * med.abs()) }
        };
        out_of_band[i] = band.z(means[i]).abs() >= o.out_z;
        if out_of_band[i] || band.z(x[i]).abs() >= o.clean_z {
            clean[i] = band.median;
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
            out_half: 0,
            out_z: 4.0,
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
        // Days 0-2 normal (day 2 a little busy), day 3 out of its band at minute 600: on day 4
        // the centre there comes from days 0-2 (103.3), not 110 (day 3 in).
        let mut x = vec![100.0; 5 * 1440];
        for v in &mut x[2 * 1440 + 590..2 * 1440 + 630] {
            *v = 110.0;
        }
        for v in &mut x[3 * 1440 + 590..3 * 1440 + 630] {
            *v = 130.0;
        }
        let o = BaselineOptions { out_z: 2.0, ..opts() };
        let b = bands(&x, &o);
        assert!(b[3 * 1440 + 610].unwrap().z(130.0) >= 2.0, "day 3 is out of its band");
        let centre = b[4 * 1440 + 610].unwrap().median;
        assert!((centre - 310.0 / 3.0).abs() < 1e-9, "{centre}");
    }

    #[test]
    fn buckets_out_of_band_on_a_normal_day_are_left_out_too() {
        // Day 2's window around minute 600 holds 6 minutes out of band (the tail of an
        // episode): not most of the window, but they are not history either.
        let mut x = vec![100.0; 4 * 1440];
        for v in &mut x[2 * 1440 + 593..2 * 1440 + 599] {
            *v = 130.0;
        }
        let o = BaselineOptions { out_z: 2.0, ..opts() };
        let b = bands(&x, &o);
        assert_eq!(b[3 * 1440 + 600].unwrap().median, 100.0);
        // Without the rule the 130s are within 4 spreads of the median and raise the centre.
        let all = BaselineOptions { out_z: f64::INFINITY, ..opts() };
        let centre = bands(&x, &all)[3 * 1440 + 600].unwrap().median;
        assert!((centre - 104.0).abs() < 1e-9, "{centre}");
    }

    #[test]
    fn count_centres_are_unbiased_means_not_rounded_medians() {
        // Two days of a count alternating 2 and 3 (rate 2.5) with one stray 40: the centre
        // is 2.5 (a median would say 2 or 3), and the 40 is not in it.
        let mut x: Vec<f64> = (0..3 * 1440).map(|i| if i % 2 == 0 { 2.0 } else { 3.0 }).collect();
        x[1440 + 601] = 40.0;
        let b = bands(&x, &opts());
        let c = b[2 * 1440 + 600].unwrap().median;
        assert!((c - 2.5).abs() < 0.05, "{c}");
        // The spread is a Poisson count's, the same from one minute to the next.
        for band in b[2 * 1440 + 595..2 * 1440 + 605].iter().map(|b| b.unwrap()) {
            assert!((band.scale - band.median.sqrt()).abs() < 1e-9, "{band:?}");
        }
        // A count that varies more than a Poisson one gets its own spread.
        let wide: Vec<f64> = (0..3 * 1440).map(|i| if i % 2 == 0 { 0.0 } else { 10.0 }).collect();
        let s = bands(&wide, &opts())[2 * 1440 + 600].unwrap().scale;
        assert!((s - 5.0).abs() < 0.2, "{s}");
    }

    #[test]
    fn same_bucket_medians_need_two_earlier_days() {
        let mut x = vec![1.0; 4 * 10];
        for d in 0..4 {
            x[d * 10 + 3] = 40.0 + d as f64;
        }
        let m = same_bucket_medians(&x, 10);
        assert_eq!(m[13], None);
        assert_eq!(m[23], Some(40.5));
        assert_eq!(m[33], Some(41.0));
        assert_eq!(m[34], Some(1.0));
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

//! Shape: points where a plain metric starts to behave in a way it has not behaved before.
//!
//! The method is the multinomial goodness-of-fit test of Wang et al., "Statistical techniques
//! for online anomaly detection in data centers" (2011), as NAB runs it: the series' range is
//! cut into a few bins; each trailing window of `window` points becomes a histogram; a window
//! whose histogram matches none of the histograms seen so far (relative entropy test, chi-squared
//! at `confidence`) becomes a new hypothesis and its last point is anomalous, and so is a
//! window matching a hypothesis seen no more than `rare` times. It needs no seasonality and no
//! model of the level, so it suits metrics of any unit; it reads the whole series' range
//! first, which a postmortem tool can (the logs are already exported).
//!
//! [`episodes`] turns the anomalous points of one metric into `metric_shift` episodes for
//! findings. No clock, no I/O: values in, anomalous indices (or episodes) out.

use serde::Serialize;

use super::{Episode, SeriesSet, rfc3339, round_to, short_number};
use crate::stats::median;

/// Knobs of the shape detector, with the defaults of the method's authors.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ShapeOptions {
    /// Bins the series' range is cut into.
    pub bins: usize,
    /// Points in each window.
    pub window: usize,
    /// A hypothesis agreed with this many times or fewer is still news.
    pub rare: usize,
    /// The chi-squared quantile (with `bins - 1` degrees of freedom) a window's relative
    /// entropy must stay under to agree with a hypothesis.
    pub threshold: f64,
}

impl Default for ShapeOptions {
    fn default() -> Self {
        // 13.2767: the 0.99 quantile of chi-squared with 4 degrees of freedom.
        ShapeOptions { bins: 5, window: 52, rare: 1, threshold: 13.2767 }
    }
}

/// Indices of the points whose trailing window has a shape seen rarely or never before.
/// Non-finite values are ignored for the range and counted in the lowest bin.
pub fn anomalies(x: &[f64], o: &ShapeOptions) -> Vec<usize> {
    let (lo, hi) = range(x);
    let bins = o.bins.max(2);
    let window = o.window.max(2);
    if hi <= lo || x.len() < window {
        return Vec::new(); // a flat (or empty) series has no shape to change
    }
    let step = (hi - lo) / bins as f64;
    // Bin 0 holds the minimum itself, bin k (1..) the values in (lo + (k-1) step, lo + k step],
    // the top value joining the last bin: the quantisation of the method's reference code.
    let bin = |v: f64| -> usize {
        if !v.is_finite() {
            return 0;
        }
        (((v - lo) / step).ceil().max(0.0) as usize).min(bins - 1)
    };
    let mut counts = vec![0usize; bins];
    for &v in &x[..window] {
        counts[bin(v)] += 1;
    }
    let mut hypotheses: Vec<(Vec<f64>, usize)> = Vec::new();
    let mut out = Vec::new();
    for i in window - 1..x.len() {
        if i >= window {
            counts[bin(x[i - window])] -= 1;
            counts[bin(x[i])] += 1;
        }
        let p: Vec<f64> = counts.iter().map(|&c| c as f64 / window as f64).collect();
        if hypotheses.is_empty() {
            hypotheses.push((p, 1));
            continue;
        }
        let best = hypotheses
            .iter()
            .enumerate()
            .map(|(k, (q, _))| (k, 2.0 * window as f64 * relative_entropy(&p, q)))
            .filter(|(_, e)| *e < o.threshold)
            .min_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((k, _)) => {
                hypotheses[k].1 += 1;
                if hypotheses[k].1 <= o.rare {
                    out.push(i);
                }
            }
            None => {
                hypotheses.push((p, 1));
                out.push(i);
            }
        }
    }
    out
}

/// The `metric_shift` episodes of one metric series (`ts` in ms, ascending, one per value):
/// anomalous points less than a window apart are one episode. Its onset is the first point of
/// the triggering window outside the range of the window before it (where the metric left
/// what it had been doing), the baseline that earlier window's median, the peak the point
/// furthest from it.
pub fn episodes(
    name: &str,
    ts: &[i64],
    x: &[f64],
    grid: &SeriesSet,
    o: &ShapeOptions,
) -> Vec<Episode> {
    let window = o.window.max(2);
    let found = anomalies(x, o);
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for i in found {
        match runs.last_mut() {
            Some((_, last)) if i - *last < window => *last = i,
            _ => runs.push((i, i)),
        }
    }
    let bucket = |i: usize| {
        grid.index(ts[i]).unwrap_or(if ts[i] < grid.start_ms {
            0
        } else {
            grid.len.saturating_sub(1)
        })
    };
    // A series of several days has shown no day yet in its first one: a daily cycle's first
    // rise is not news (the shifts are judged from its second day on).
    let days = |a: i64, b: i64| (b - a) as f64 / 86_400_000.0;
    let span = ts.first().zip(ts.last()).map_or(0.0, |(a, b)| days(*a, *b));
    runs.retain(|(first, _)| span < 3.0 || days(ts[0], ts[*first]) >= 1.0);
    runs.into_iter()
        .map(|(first, last)| {
            // `first` >= window: the first window only seeds the hypotheses.
            let b = first + 1 - window;
            let mut prior: Vec<f64> =
                x[b.saturating_sub(window)..b].iter().copied().filter(|v| v.is_finite()).collect();
            let (lo, hi) = range(&prior);
            let med = median(&mut prior);
            let mut dev: Vec<f64> = prior.iter().map(|v| (v - med).abs()).collect();
            let mad = 1.4826 * median(&mut dev);
            // The onset: back from the first anomalous point through the run of points outside
            // the earlier range that ends there (not to the first stray point of the window,
            // which on a daily pattern is hours early and normal).
            let out = |i: usize| x[i] < lo || x[i] > hi;
            let onset = if out(first) {
                let mut i = first;
                while i > b && out(i - 1) {
                    i -= 1;
                }
                i
            } else {
                (b..=first).find(|&i| out(i)).unwrap_or(first)
            };
            let dist = |i: usize| if x[i].is_finite() { (x[i] - med).abs() } else { 0.0 };
            // The headline is the extreme in the direction the metric left its range: a crash
            // (80 down to 2) is told by its lowest value, not by the recovery above it.
            let down = x[onset] < lo || (x[onset] <= hi && x[onset] < med);
            let value = |i: usize| if x[i].is_finite() { x[i] } else { med };
            let peak = if down {
                (onset..=last).min_by(|&i, &j| value(i).total_cmp(&value(j)))
            } else {
                (onset..=last).max_by(|&i, &j| value(i).total_cmp(&value(j)))
            }
            .unwrap_or(first);
            let scale = mad.max(1e-9 * med.abs().max(1.0));
            // A ratio only means something between two positive values.
            let ratio = if med > 0.0 && x[peak] > 0.0 { x[peak] / med } else { 0.0 };
            let duration_min = (ts[last] - ts[onset]) as f64 / 60_000.0;
            let series = format!("metric:{name}");
            let reason = format!(
                "{name} {} {} against a median of {} before{}, a pattern not seen before in it{}",
                if x[peak] >= med { "rose to" } else { "fell to" },
                short(x[peak]),
                short(med),
                if ratio > 0.0 { format!(" ({ratio:.1}x)") } else { String::new() },
                match duration_min.round() {
                    d if d >= 1.0 => format!(", for {d} min"),
                    _ => String::new(),
                }
            );
            Episode {
                kind: super::EpisodeKind::MetricShift,
                series,
                onset: rfc3339(ts[onset]),
                peak: rfc3339(ts[peak]),
                end: rfc3339(ts[last]),
                baseline: round_to(med, 2),
                peak_value: round_to(x[peak], 2),
                ratio: round_to(ratio, 2),
                score: round_to((dist(peak) / scale).min(1e6), 1),
                duration_min: round_to(duration_min, 1),
                reason,
                first_lines: Vec::new(),
                onset_i: bucket(onset),
                peak_i: bucket(peak),
                end_i: bucket(last),
            }
        })
        .collect()
}

/// The smallest and largest finite values (infinite, the wrong way round, for none).
fn range(x: &[f64]) -> (f64, f64) {
    let finite = x.iter().copied().filter(|v| v.is_finite());
    finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)))
}

/// A value for a sentence: whole from 1000 on, else to at most 2 places.
fn short(v: f64) -> String {
    short_number(if v.abs() >= 1000.0 { v.round() } else { v }, 2)
}

/// Kullback-Leibler divergence D(p || q) in nats; infinite when p has mass where q has none.
fn relative_entropy(p: &[f64], q: &[f64]) -> f64 {
    p.iter()
        .zip(q)
        .filter(|(pi, _)| **pi > 0.0)
        .map(|(pi, qi)| if *qi > 0.0 { pi * (pi / qi).ln() } else { f64::INFINITY })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_level_is_news_once_and_a_repeating_pattern_is_not() {
        // A square wave of period 20 for 400 points, then a level never seen.
        let mut x: Vec<f64> = (0..400).map(|i| if (i / 10) % 2 == 0 { 1.0 } else { 2.0 }).collect();
        x.extend(std::iter::repeat_n(9.0, 100));
        let found = anomalies(&x, &ShapeOptions::default());
        assert!(!found.is_empty());
        assert!(found.iter().all(|&i| i >= 400), "{found:?}");
        assert!(found[0] < 420, "{found:?}");
    }

    #[test]
    fn an_episode_starts_where_the_metric_left_its_range() {
        let mut x: Vec<f64> = (0..300).map(|i| 10.0 + (i % 5) as f64).collect();
        x.extend((0..100).map(|i| 40.0 + (i % 5) as f64));
        let ts: Vec<i64> = (0..x.len() as i64).map(|i| i * 300_000).collect();
        let grid =
            SeriesSet { start_ms: 0, bucket_ms: 60_000, len: 2000, cols: Default::default() };
        let e = episodes("cpu", &ts, &x, &grid, &ShapeOptions::default());
        assert_eq!(e.len(), 1, "{e:?}");
        let e = &e[0];
        assert_eq!((e.kind.as_str(), e.series.as_str()), ("metric_shift", "metric:cpu"));
        assert_eq!(e.onset, rfc3339(300 * 300_000));
        assert_eq!(e.onset_i, 1500);
        assert_eq!(e.baseline, 12.0);
        assert!(e.peak_value >= 40.0 && e.ratio > 3.0, "{e:?}");
        assert!(e.reason.starts_with("cpu rose to 4"), "{}", e.reason);
    }

    #[test]
    fn flat_short_and_non_finite_series_give_nothing_and_do_not_panic() {
        let o = ShapeOptions::default();
        assert!(anomalies(&[3.0; 500], &o).is_empty());
        assert!(anomalies(&[1.0, 2.0], &o).is_empty());
        assert!(anomalies(&[], &o).is_empty());
        // NaNs sit in the lowest bin; the ramp still reads as ever-new windows, all in range.
        let x: Vec<f64> = (0..200).map(|i| if i % 7 == 0 { f64::NAN } else { i as f64 }).collect();
        let found = anomalies(&x, &o);
        assert!(!found.is_empty());
        assert!(found.iter().all(|&i| (o.window - 1..x.len()).contains(&i)), "{found:?}");
    }
}

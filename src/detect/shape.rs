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
//! No clock, no I/O: values in, anomalous indices out.

use serde::Serialize;

/// Knobs of the shape detector, with the defaults of the method's authors.
#[derive(Debug, Clone, Serialize)]
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
    let finite = x.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) =
        finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let bins = o.bins.max(2);
    let window = o.window.max(2);
    if !(hi > lo) || x.len() < window {
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
    fn flat_short_and_non_finite_series_give_nothing_and_do_not_panic() {
        let o = ShapeOptions::default();
        assert!(anomalies(&[3.0; 500], &o).is_empty());
        assert!(anomalies(&[1.0, 2.0], &o).is_empty());
        assert!(anomalies(&[], &o).is_empty());
        let x: Vec<f64> = (0..200).map(|i| if i % 7 == 0 { f64::NAN } else { i as f64 }).collect();
        let _ = anomalies(&x, &o);
    }
}

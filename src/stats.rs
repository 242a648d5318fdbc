//! Statistics every layer shares: medians, centred window means and sums, a fitted line. A
//! leaf: detection builds its baselines on it, and the simulator's truth uses the same
//! arithmetic without importing the detector it is meant to score.

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

/// The sum of `x` over `half` buckets either side of each bucket (fewer at the ends).
pub fn centred_sums(x: &[f64], half: usize) -> Vec<f64> {
    let mut prefix = vec![0.0; x.len() + 1];
    for (i, v) in x.iter().enumerate() {
        prefix[i + 1] = prefix[i] + v;
    }
    (0..x.len())
        .map(|i| prefix[(i + half + 1).min(x.len())] - prefix[i.saturating_sub(half)])
        .collect()
}

/// The mean of `x` over `half` buckets either side of each bucket (fewer at the ends).
pub fn centred_means(x: &[f64], half: usize) -> Vec<f64> {
    let sums = centred_sums(x, half);
    (0..x.len())
        .map(|i| sums[i] / ((i + half + 1).min(x.len()) - i.saturating_sub(half)) as f64)
        .collect()
}

/// The least-squares line `y = b0 + b1 x` through the points, as `(b0, b1)`; `None` when the
/// points do not spread in x.
pub fn line_fit(xy: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = xy.len() as f64;
    let (mx, my) = xy.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let sxx: f64 = xy.iter().map(|(x, _)| (x - mx).powi(2)).sum();
    let sxy: f64 = xy.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    (sxx > 0.0).then(|| (my - sxy / sxx * mx, sxy / sxx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_through_points_on_it_is_that_line() {
        let xy: Vec<(f64, f64)> =
            (0..10).map(|i| (f64::from(i), 6.5 + 30.0 * f64::from(i))).collect();
        let (b0, b1) = line_fit(&xy).unwrap();
        assert!((b0 - 6.5).abs() < 1e-9 && (b1 - 30.0).abs() < 1e-9, "{b0} {b1}");
        assert_eq!(line_fit(&[(1.0, 2.0), (1.0, 5.0)]), None, "no spread in x");
        assert_eq!(line_fit(&[]), None);
    }
}

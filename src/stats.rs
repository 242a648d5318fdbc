//! Statistics every layer shares: medians and centred window means and sums. A leaf: detection
//! builds its baselines on it, and the simulator's truth uses the same arithmetic without
//! importing the detector it is meant to score.

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

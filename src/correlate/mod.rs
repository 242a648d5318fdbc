//! Correlate: episodes -> the story. Orders episodes into a causal chain (change -> change
//! wave -> surge -> exhaustion -> failures -> recovery), each link with its lag, the lagged
//! cross-correlation of the two series and evidence that points at source lines; then
//! coupling, feedback, phases and impact. A link is claimed only when time order and the data
//! support it, so a bad deploy or a flash crowd is not told as the Skype story.

mod chain;
mod kinds;
mod metastable;

use chain::{ChangeRow, minutes, xcorr};

use std::collections::BTreeMap;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use polars::prelude::*;

use crate::detect::{self, Episode, SeriesSet};
pub use crate::findings::AnalyzeOptions;
use crate::findings::{Coupling, Feedback, Findings, Impact, LinkEnd, LockedOut, Phase};
use crate::ids::Ids;
use crate::ingest::SourceReport;
use crate::schema::{self, Outcome, Role, Tables, signal};
use crate::units::rfc3339_secs as rfc3339;

/// Episodes, the chain and the rest of [`Findings`] from series and the tables they were
/// built from (which the evidence cites). [`crate::pipeline::Incident::analyze`] calls this.
pub fn analyze_series(
    s: &SeriesSet,
    tables: &Tables,
    inputs: Vec<SourceReport>,
    o: &AnalyzeOptions,
) -> PolarsResult<Findings> {
    let d = &o.detect;
    // The episodes of each kind with their first lines. The four read the series and tables
    // only, so they are found two a core (each baseline is a median per bucket).
    let cited = |mut found: Vec<Episode>, role, column, value| -> PolarsResult<Vec<Episode>> {
        cite(tables, role, column, value, &mut found, s)?;
        Ok(found)
    };
    let ((surges, failures), (exhaustions, waves)) = rayon::join(
        || {
            rayon::join(
                || cited(detect::surges(s, d), Role::Login, schema::OUTCOME, None),
                || cited(detect::failures(s, d), Role::Login, schema::OUTCOME, Some("fail")),
            )
        },
        || {
            rayon::join(
                || cited(detect::exhaustions(s, d), Role::Node, schema::EVENT, Some("leave")),
                || -> PolarsResult<Vec<Episode>> {
                    let mut waves = detect::change_waves(s, d);
                    for w in &mut waves {
                        let kind = w.series.trim_start_matches(signal::CHANGE_PREFIX).to_string();
                        let one = std::slice::from_mut(w);
                        cite(tables, Role::Change, schema::KIND, Some(&kind), one, s)?;
                    }
                    Ok(waves)
                },
            )
        },
    );
    let (surges, failures, exhaustions, waves) = (surges?, failures?, exhaustions?, waves?);
    let metrics = metric_shifts(tables, s, d)?;
    let changes = chain::change_rows(tables)?;
    let coupling = coupling(tables, &exhaustions, &changes, s)?;
    let wave = chain::main_wave(&waves);
    let ctx = chain::Context {
        s,
        o,
        surges: &surges,
        exhaustions: &exhaustions,
        failures: &failures,
        changes: &changes,
        wave,
        coupling: coupling.as_ref(),
    };
    let (chain, rec) = chain::links(&ctx);
    let main_surge = surges.iter().max_by(|a, b| a.score.total_cmp(&b.score));
    let first_onset = surges.iter().chain(&exhaustions).chain(&failures).map(|e| e.onset_i).min();
    let feedback = main_surge.map(|e| feedback(s, e, wave, rec));
    let mut phases = Vec::new();
    let phase = |name: &str, a: usize, b: usize| Phase {
        name: name.into(),
        start: rfc3339(s.at(a)),
        end: rfc3339(s.at(b)),
    };
    if let Some(w) = wave.filter(|_| {
        chain.iter().any(|l| l.from == LinkEnd::ChangeWave || l.to == LinkEnd::ChangeWave)
    }) {
        phases.push(phase("trigger", w.onset_i, w.end_i));
    }
    for e in &surges {
        phases.push(phase("surge", e.onset_i, e.end_i));
    }
    for x in &exhaustions {
        phases.push(phase("exhaustion", x.onset_i, x.end_i));
    }
    for f in &failures {
        phases.push(phase("degraded", f.onset_i, f.end_i));
    }
    if let Some(r) = rec {
        phases.push(phase(
            "recovery",
            r,
            (r + crate::detect::recovery_buckets(s, d)).min(s.len.saturating_sub(1)),
        ));
    }
    let users = Ids::of(tables, schema::USER)?;
    // Impact and the kinds each take a pass over the logins, and neither reads the other:
    // one each core.
    let (impact, kinds) = rayon::join(
        || first_onset.map(|a| impact(tables, &users, s, a, rec, wave)).transpose(),
        || -> PolarsResult<_> {
            let metastability = metastable::metastability(&metastable::Overload {
                s,
                tables,
                wave,
                surge: main_surge,
                exhaustions: &exhaustions,
                failures: &failures,
                recovery: rec,
                users: &users,
            })?;
            let archetypes = kinds::kinds(&kinds::Evidence {
                s,
                tables,
                surges: &surges,
                exhaustions: &exhaustions,
                failures: &failures,
                chain: &chain,
                coupling: coupling.as_ref(),
                feedback: feedback.as_ref(),
                metastability: metastability.as_ref(),
                users: &users,
                clients: &Ids::of(tables, schema::CLIENT)?,
            })?;
            Ok((metastability, archetypes))
        },
    );
    let (impact, (metastability, archetypes)) = (impact?, kinds?);
    // An attacker's failed tries are the surge itself, not retries that fed it: a brute
    // force keeps no failures -> surge link.
    let mut chain = chain;
    if archetypes.first().is_some_and(|a| a.kind == crate::findings::ArchetypeKind::BruteForce) {
        chain.retain(|l| !(l.from == LinkEnd::Failures && l.to == LinkEnd::Surge));
    }
    let detection =
        detection(s, &surges, &exhaustions, &failures, crate::detect::min_buckets(s, d));
    Ok(Findings {
        inputs,
        surges,
        exhaustions,
        changes: waves,
        failures,
        metrics,
        recovery: rec.map(|r| rfc3339(s.at(r))),
        chain,
        archetypes,
        detection,
        coupling,
        feedback,
        metastability,
        phases,
        impact,
        params: o.clone(),
    })
}

/// When a check would first have alarmed (see [`crate::findings::Detection`]): a window is
/// WARNING with a surge or an exhaustion in it, CRITICAL with both or with failures.
fn detection(
    s: &SeriesSet,
    surges: &[Episode],
    exhaustions: &[Episode],
    failures: &[Episode],
    min_len: usize,
) -> Option<crate::findings::Detection> {
    // The instant each episode could first be seen: its onset plus its first `min_len` buckets.
    let seen = |e: &Episode| s.at(e.onset_i) + min_len as i64 * s.bucket_ms;
    let first = |v: &[Episode]| v.iter().map(seen).min();
    let (su, ex, fa) = (first(surges), first(exhaustions), first(failures));
    let warning = [su, ex].into_iter().flatten().min();
    // CRITICAL needs both a surge and an exhaustion seen, or failures.
    let both = su.zip(ex).map(|(a, b)| a.max(b));
    let critical = [both, fa].into_iter().flatten().min();
    warning?;
    let after = |t: Option<i64>, window: i64| {
        t.map(|t| crate::units::rfc3339_secs((t.div_euclid(window) + 1) * window))
    };
    let (day, hour) = (crate::units::DAY_MS, crate::units::HOUR_MS);
    Some(crate::findings::Detection {
        nightly_warning_at: after(warning, day),
        nightly_critical_at: after(critical, day),
        hourly_warning_at: after(warning, hour),
        hourly_critical_at: after(critical, hour),
    })
}

/// `metric_shift` episodes of every metric series, in onset order, with their first lines.
fn metric_shifts(
    tables: &Tables,
    s: &SeriesSet,
    d: &detect::DetectOptions,
) -> PolarsResult<Vec<Episode>> {
    let Some(df) = tables.get(&Role::Metric) else { return Ok(Vec::new()) };
    let ts = df.column(schema::TS)?.datetime()?.physical();
    let names = df.column(schema::SERIES)?.str()?;
    let values = df.column(schema::VALUE)?.f64()?;
    let mut by_series: BTreeMap<&str, (Vec<i64>, Vec<f64>)> = BTreeMap::new();
    for ((t, n), v) in ts.iter().zip(names.iter()).zip(values.iter()) {
        if let (Some(t), Some(n), Some(v)) = (t, n, v) {
            let e = by_series.entry(n).or_default();
            e.0.push(t);
            e.1.push(v);
        }
    }
    let mut out = Vec::new();
    for (name, (t, v)) in &by_series {
        let mut found = detect::shape::episodes(name, t, v, s, &d.shape);
        cite(tables, Role::Metric, schema::SERIES, Some(name), &mut found, s)?;
        out.extend(found);
    }
    out.sort_by(|a, b| (&a.onset, &a.series).cmp(&(&b.onset, &b.series)));
    Ok(out)
}

/// How many rows an episode cites.
const CITED: usize = 3;

/// The first [`CITED`] rows in `rows` whose value in `c` (text or categories) equals `v`.
/// Compared a stretch at a time, each twice the last, stopping once they are found: the whole
/// episode at once was a pass over millions of rows (W1 10M's failures) to cite the first few.
fn first_equal(c: &Column, v: &str, rows: std::ops::Range<usize>) -> PolarsResult<Vec<usize>> {
    let c = c.as_materialized_series();
    let (mut found, mut at, mut stretch) = (Vec::with_capacity(CITED), rows.start, 1024);
    while at < rows.end && found.len() < CITED {
        let n = stretch.min(rows.end - at);
        let equal = c.slice(at as i64, n).equal(v)?;
        let hits = equal.iter().enumerate().filter(|(_, e)| *e == Some(true));
        found.extend(hits.map(|(i, _)| at + i).take(CITED - found.len()));
        (at, stretch) = (at + n, stretch * 2);
    }
    Ok(found)
}

/// Fills each episode's `first_lines` with `source:line` of the first three rows of `role`
/// inside it whose `column` equals `value` (any row when `value` is `None`).
fn cite(
    tables: &Tables,
    role: Role,
    column: &str,
    value: Option<&str>,
    episodes: &mut [Episode],
    s: &SeriesSet,
) -> PolarsResult<()> {
    let Some(df) = tables.get(&role) else { return Ok(()) };
    if episodes.is_empty() {
        return Ok(());
    }
    let ts = schema::ts_ms(df)?;
    let (source, line) = (df.column(schema::SOURCE)?, df.column(schema::LINE)?);
    for e in episodes {
        let (lo, hi) = (s.at(e.onset_i), s.at(e.end_i) + s.bucket_ms);
        let start = ts.partition_point(|t| *t < lo);
        let end = start + ts[start..].partition_point(|t| *t < hi);
        let cited = match value {
            Some(v) => first_equal(df.column(column)?, v, start..end)?,
            None => (start..end).take(CITED).collect(),
        };
        e.first_lines = cited
            .into_iter()
            .map(|i| -> PolarsResult<String> {
                let src = source.get(i)?;
                let line: Option<i64> = line.get(i)?.extract();
                Ok(format!("{}:{}", src.get_str().unwrap_or("?"), line.unwrap_or(0)))
            })
            .collect::<PolarsResult<_>>()?;
    }
    Ok(())
}

/// Nodes that left during an exhaustion, and how many had their own reboot or install in the
/// hour before they left.
fn coupling(
    tables: &Tables,
    exhaustions: &[Episode],
    changes: &[ChangeRow],
    s: &SeriesSet,
) -> PolarsResult<Option<Coupling>> {
    let (Some(df), false) = (tables.get(&Role::Node), exhaustions.is_empty()) else {
        return Ok(None);
    };
    let ts = df.column(schema::TS)?.datetime()?.physical().clone();
    let (node, event) =
        (schema::texts(df.column(schema::NODE)?)?, schema::texts(df.column(schema::EVENT)?)?);
    let mut took: HashMap<&str, Vec<i64>> = HashMap::new();
    for c in changes.iter().filter(|c| c.kind == "reboot" || c.kind == "install") {
        if let Some(t) = c.target {
            took.entry(t).or_default().push(c.ts);
        }
    }
    // From the start of the first exhaustion's decline to the lowest point of the deepest: the
    // capacity lost on the way down. (Nodes promoted and lost again while it stayed down are
    // churn, not what the change took.)
    let lo = s.at(exhaustions.iter().map(|e| e.onset_i).min().unwrap_or(0));
    let deepest = exhaustions
        .iter()
        .min_by(|a, b| a.ratio.total_cmp(&b.ratio).then(a.onset_i.cmp(&b.onset_i)));
    let hi = s.at(deepest.map_or(0, |e| e.peak_i)) + s.bucket_ms;
    let (mut lost, mut to_change) = (HashSet::new(), HashSet::new());
    for ((t, n), e) in ts.iter().zip(node).zip(event) {
        let (Some(t), Some(n), Some(e)) = (t, n, e) else { continue };
        if t < lo || t >= hi || !matches!(e, "leave" | "crash") {
            continue;
        }
        lost.insert(n);
        if took.get(n).is_some_and(|v| v.iter().any(|c| *c <= t && t - c <= 3_600_000)) {
            to_change.insert(n);
        }
    }
    if lost.is_empty() {
        return Ok(None);
    }
    let share = to_change.len() as f64 / lost.len() as f64;
    Ok(Some(Coupling {
        nodes_lost: lost.len() as u64,
        nodes_lost_to_change: to_change.len() as u64,
        share: (share * 100.0).round() / 100.0,
    }))
}

fn feedback(
    s: &SeriesSet,
    surge: &Episode,
    wave: Option<&Episode>,
    rec: Option<usize>,
) -> Feedback {
    let pu = s.get(signal::PER_USER).unwrap_or(&[]);
    let fr = s.get(signal::FAILURE_RATIO).unwrap_or(&[]);
    let before: Vec<f64> = pu[surge.onset_i.saturating_sub(24 * 60)..surge.onset_i]
        .iter()
        .copied()
        .filter(|v| *v > 0.0)
        .collect();
    let base =
        if before.is_empty() { 0.0 } else { before.iter().sum::<f64>() / before.len() as f64 };
    let peak =
        pu.get(surge.onset_i..=surge.end_i).map_or(0.0, |w| w.iter().copied().fold(0.0, f64::max));
    let r = xcorr(pu, fr, surge.onset_i.saturating_sub(60)..(surge.end_i + 60).min(pu.len()), 0)
        .map_or(0.0, |b| b.0);
    Feedback {
        per_user_peak: (peak * 100.0).round() / 100.0,
        per_user_baseline: (base * 100.0).round() / 100.0,
        per_user_vs_failures: (r * 100.0).round() / 100.0,
        trigger_end_to_recovery_min: match (wave, rec) {
            (Some(w), Some(r)) if r > w.end_i => Some(minutes(s, w.end_i, r)),
            _ => None,
        },
    }
}

fn impact(
    tables: &Tables,
    users: &Ids,
    s: &SeriesSet,
    start: usize,
    rec: Option<usize>,
    wave: Option<&Episode>,
) -> PolarsResult<Impact> {
    let end = rec.unwrap_or(s.len);
    let (lo, hi) = (s.at(start), s.at(end));
    let (mut failed, mut in_logs) = (0u64, 0u64);
    let mut affected = crate::ids::IdSet::new(users.names);
    // Per clock hour from `lo`: the users who tried, and those who got in (bitsets by id).
    let first_hour = lo.div_euclid(3_600_000);
    let hours = (hi.div_euclid(3_600_000) - first_hour + 1).max(0) as usize;
    let words = users.names.div_ceil(64);
    // At most 64M bits a set (8 MB); beyond that the measure is left out.
    let measurable = hours.saturating_mul(words) <= 1 << 20;
    let mut tried: Vec<Vec<u64>> = vec![Vec::new(); if measurable { hours } else { 0 }];
    let mut got_in = tried.clone();
    if let Some(df) = tables.get(&Role::Login) {
        let ts = schema::ts_ms(df)?;
        let outcome = schema::outcomes(df)?;
        in_logs = outcome.iter().filter(|&&o| o == Outcome::Fail).count() as u64;
        let within = schema::rows_within(df, &ts, lo, hi)?;
        let rows = ts[within.clone()].iter().zip(&outcome[within.clone()]);
        for ((&t, &o), u) in rows.zip(users.iter().skip(within.start)) {
            let fail = o == Outcome::Fail;
            if !(lo..hi).contains(&t) {
                continue;
            }
            if fail {
                failed += 1;
                if u != crate::ids::NONE {
                    affected.insert(u);
                }
            }
            if measurable && u != crate::ids::NONE && o != Outcome::None {
                let h = (t.div_euclid(3_600_000) - first_hour) as usize;
                let (w, bit) = (u as usize / 64, 1u64 << (u % 64));
                for set in [&mut tried, &mut got_in] {
                    if set[h].is_empty() {
                        set[h] = vec![0; words];
                    }
                }
                tried[h][w] |= bit;
                if o == Outcome::Ok {
                    got_in[h][w] |= bit;
                }
            }
        }
    }
    let mut locked_users = vec![0u64; words];
    let mut majority = 0u64;
    let mut peak_share: f64 = 0.0;
    for (t, g) in tried.iter().zip(&got_in).filter(|(t, _)| !t.is_empty()) {
        let (mut n_tried, mut n_locked) = (0u64, 0u64);
        for ((tw, gw), lw) in t.iter().zip(g).zip(locked_users.iter_mut()) {
            let locked = tw & !gw;
            n_tried += u64::from(tw.count_ones());
            n_locked += u64::from(locked.count_ones());
            *lw |= locked;
        }
        if n_tried >= 10 {
            let share = n_locked as f64 / n_tried as f64;
            majority += u64::from(share > 0.5);
            peak_share = peak_share.max((share * 1000.0).round() / 1000.0);
        }
    }
    let locked_out = (measurable && tried.iter().any(|t| !t.is_empty())).then(|| LockedOut {
        users: locked_users.iter().map(|w| u64::from(w.count_ones())).sum(),
        hours_majority: majority,
        peak_share,
    });
    Ok(Impact {
        locked_out,
        failed_logins: failed,
        failed_logins_in_logs: in_logs,
        users_affected: affected.len() as u64,
        duration_min: minutes(s, start, end),
        time_to_recover_min: match (wave, rec) {
            (Some(w), Some(r)) => Some(minutes(s, w.onset_i.min(start), r)),
            _ => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows cited are the first three equal to the value in the range, whether the column
    /// holds text or categories, with nulls, and when they lie past the first stretches.
    #[test]
    fn an_episode_cites_its_first_rows_with_the_value() {
        let values: Vec<Option<&str>> = (0..20_000)
            .map(|i| match i {
                _ if i % 7 == 0 => None,
                1500 | 5000 | 9001 | 15_000 | 19_999 => Some("fail"),
                _ if i % 3 == 0 => Some("ok"),
                _ => Some("other"),
            })
            .collect();
        let text = Column::new("outcome".into(), &values);
        let cat = text.cast(&DataType::from_categories(Categories::global())).unwrap();
        for c in [&text, &cat] {
            let naive = |rows: std::ops::Range<usize>| -> Vec<usize> {
                rows.filter(|&i| values[i] == Some("fail")).take(CITED).collect()
            };
            for rows in [0..20_000, 1501..20_000, 9001..9002, 9002..15_000, 0..1500, 15_000..20_000]
            {
                let got = first_equal(c, "fail", rows.clone()).unwrap();
                assert_eq!(got, naive(rows.clone()), "{rows:?} of {}", c.dtype());
            }
            assert_eq!(first_equal(c, "absent", 0..20_000).unwrap(), Vec::<usize>::new());
            assert_eq!(first_equal(c, "ok", 0..20_000).unwrap(), [3, 6, 9]);
        }
    }
}

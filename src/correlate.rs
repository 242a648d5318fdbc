//! Correlate: episodes -> the story. Orders episodes into a causal chain (change -> change
//! wave -> surge -> exhaustion -> failures -> recovery), each link with its lag, the lagged
//! cross-correlation of the two series and evidence that points at source lines; then
//! coupling, feedback, phases and impact. A link is claimed only when time order and the data
//! support it, so a bad deploy or a flash crowd is not told as the Skype story.

use std::collections::{BTreeMap, HashMap, HashSet};

use polars::prelude::*;

use crate::detect::{self, Episode, SeriesSet};
pub use crate::findings::AnalyzeOptions;
use crate::findings::{Coupling, Feedback, Findings, Impact, Link, Phase};
use crate::ingest::SourceReport;
use crate::schema::{self, Role, Tables};
use crate::units::{rfc3339_ms, rfc3339_secs as rfc3339};

/// One change event.
struct ChangeRow {
    ts: i64,
    kind: String,
    target: Option<String>,
    item: Option<String>,
    at: String,
}

fn change_rows(tables: &Tables) -> PolarsResult<Vec<ChangeRow>> {
    let Some(df) = tables.get(&Role::Change) else { return Ok(vec![]) };
    let ts = df.column(schema::TS)?.datetime()?.physical().clone();
    let kind = df.column("kind")?.str()?.clone();
    let target = df.column("target")?.str()?.clone();
    let item = df.column("item")?.str()?.clone();
    let source = schema::texts(df.column(schema::SOURCE)?)?;
    let line = df.column(schema::LINE)?.i64()?.clone();
    // Zipped iterators walk the chunks once; `get(i)` would search them for every row.
    let rows = ts.iter().zip(kind.iter()).zip(target.iter()).zip(item.iter());
    Ok(rows
        .zip(source.zip(line.iter()))
        .map(|((((t, k), tg), it), (src, l))| ChangeRow {
            ts: t.unwrap_or(0),
            kind: k.unwrap_or("").to_lowercase(),
            target: tg.map(str::to_string),
            item: it.map(str::to_string),
            at: format!("{}:{}", src.unwrap_or("?"), l.unwrap_or(0)),
        })
        .collect())
}

/// Pearson correlation of `a[t]` with `b[t + lag]` over `range`, for lags `0..=max_lag`; the
/// best lag and its coefficient.
fn xcorr(
    a: &[f64],
    b: &[f64],
    range: std::ops::Range<usize>,
    max_lag: usize,
) -> Option<(f64, usize)> {
    let mut best: Option<(f64, usize)> = None;
    for lag in 0..=max_lag {
        let idx: Vec<usize> = range.clone().filter(|&t| t + lag < b.len()).collect();
        if idx.len() < 10 {
            break;
        }
        let n = idx.len() as f64;
        let ma = idx.iter().map(|&t| a[t]).sum::<f64>() / n;
        let mb = idx.iter().map(|&t| b[t + lag]).sum::<f64>() / n;
        let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
        for &t in &idx {
            let (x, y) = (a[t] - ma, b[t + lag] - mb);
            sab += x * y;
            saa += x * x;
            sbb += y * y;
        }
        if saa > 0.0 && sbb > 0.0 {
            let r = sab / (saa * sbb).sqrt();
            if best.is_none_or(|(br, _)| r > br) {
                best = Some((r, lag));
            }
        }
    }
    best
}

/// How far an episode's refined onset may come before the change blamed for it.
const ONSET_SLACK_MS: i64 = 5 * 60_000;

fn minutes(s: &SeriesSet, a: usize, b: usize) -> f64 {
    (b as f64 - a as f64) * s.bucket_ms as f64 / 60_000.0
}

fn link(s: &SeriesSet, from: &Episode, to: &Episode, evidence: Vec<String>) -> Link {
    let (fx, tx) = (s.get(&from.series), s.get(&to.series));
    let lo = from.onset_i.saturating_sub(60);
    let hi = to.end_i.max(from.end_i) + 1;
    let max_lag = (to.peak_i.saturating_sub(from.onset_i)).clamp(1, 24 * 60);
    let best = match (fx, tx) {
        (Some(a), Some(b)) => xcorr(a, b, lo..hi.min(a.len()), max_lag),
        _ => None,
    };
    Link {
        from: from.kind.clone(),
        to: to.kind.clone(),
        from_at: from.onset.clone(),
        to_at: to.onset.clone(),
        lag_min: minutes(s, from.onset_i, to.onset_i),
        xcorr: best.map(|b| (b.0 * 100.0).round() / 100.0),
        xcorr_lag_min: best.map(|b| b.1 as f64 * s.bucket_ms as f64 / 60_000.0),
        evidence,
    }
}

fn overlaps_after(a: &Episode, b: &Episode, slack: usize, max_lag: usize) -> bool {
    b.onset_i + slack >= a.onset_i && b.onset_i <= a.end_i + max_lag
}

/// Episodes, the chain and the rest of [`Findings`] from series and the tables they were
/// built from (which the evidence cites). [`crate::pipeline::Incident::analyze`] calls this.
pub fn analyze_series(
    s: &SeriesSet,
    tables: &Tables,
    inputs: Vec<SourceReport>,
    o: &AnalyzeOptions,
) -> PolarsResult<Findings> {
    let d = &o.detect;
    let mut surges = detect::surges(s, d);
    let mut exhaustions = detect::exhaustions(s, d);
    let mut waves = detect::change_waves(s, d);
    let mut failures = detect::failures(s, d);
    cite(tables, Role::Login, "outcome", None, &mut surges, s)?;
    cite(tables, Role::Login, "outcome", Some("fail"), &mut failures, s)?;
    cite(tables, Role::Node, "event", Some("leave"), &mut exhaustions, s)?;
    for w in &mut waves {
        let kind = w.series.trim_start_matches("change_").to_string();
        cite(tables, Role::Change, "kind", Some(&kind), std::slice::from_mut(w), s)?;
    }
    let metrics = metric_shifts(tables, s, d)?;
    let changes = change_rows(tables)?;
    let per_min = (60_000 / s.bucket_ms.max(1)).max(1) as usize;
    let max_lag = (o.max_lag_min as usize) * per_min;
    let mut chain = Vec::new();

    // The main wave: the strongest burst of reboots or installs (else of any kind).
    let wave = waves
        .iter()
        .filter(|w| w.series == "change_reboot" || w.series == "change_install")
        .max_by(|a, b| a.score.total_cmp(&b.score))
        .or_else(|| waves.iter().max_by(|a, b| a.score.total_cmp(&b.score)));
    let trigger_kinds = ["release", "deploy", "config", "rollout", "patch"];
    if let Some(w) = wave {
        let start = s.at(w.onset_i);
        let lookback = (o.trigger_lookback_h * 3_600_000.0) as i64;
        let trigger = changes
            .iter()
            .filter(|c| trigger_kinds.contains(&c.kind.as_str()))
            .filter(|c| c.ts <= start && start - c.ts <= lookback)
            .max_by_key(|c| c.ts);
        if let Some(c) = trigger {
            let ci = s.index(c.ts).unwrap_or(0);
            let kind = w.series.trim_start_matches("change_");
            let wave_rows: Vec<&ChangeRow> = changes
                .iter()
                .filter(|r| r.kind == kind || w.series == "changes")
                .filter(|r| s.index(r.ts).is_some_and(|i| i >= w.onset_i && i <= w.end_i))
                .collect();
            let first: Vec<&str> = wave_rows.iter().take(3).map(|r| r.at.as_str()).collect();
            chain.push(Link {
                from: "change".into(),
                to: "change_wave".into(),
                from_at: rfc3339(c.ts),
                to_at: w.onset.clone(),
                lag_min: minutes(s, ci, w.onset_i),
                xcorr: None,
                xcorr_lag_min: None,
                evidence: vec![
                    format!(
                        "{} {} at {} ({})",
                        c.kind,
                        c.item.as_deref().unwrap_or("-"),
                        rfc3339(c.ts),
                        c.at
                    ),
                    format!(
                        "{} {} events in the wave; first at {}",
                        wave_rows.len(),
                        w.series.trim_start_matches("change_"),
                        first.join(", ")
                    ),
                ],
            });
        }
    }

    // Change wave -> surge, and change wave -> exhaustion when nodes took the change.
    let coupling = coupling(tables, &exhaustions, &changes, s)?;
    let main_surge = surges.iter().max_by(|a, b| a.score.total_cmp(&b.score));
    let first_surge_after =
        |w: &Episode| surges.iter().find(|e| overlaps_after(w, e, 30 * per_min, max_lag));
    if let Some(w) = wave {
        if let Some(e) = first_surge_after(w) {
            chain.push(link(s, w, e, vec![format!("{}; {}", w.reason, e.reason)]));
        }
        if let (Some(x), Some(c)) = (
            exhaustions.iter().find(|x| overlaps_after(w, x, 60 * per_min, max_lag)),
            coupling.as_ref().filter(|c| c.share >= 0.2),
        ) {
            chain.push(link(
                s,
                w,
                x,
                vec![format!(
                    "{} of {} nodes lost in the exhaustion took the change themselves ({:.0}%)",
                    c.nodes_lost_to_change,
                    c.nodes_lost,
                    100.0 * c.share
                )],
            ));
        }
    }
    // Surge -> exhaustion: the demand came first and the capacity went during it.
    for e in surges.iter().take(3) {
        if let Some(x) = exhaustions
            .iter()
            .find(|x| x.onset_i >= e.onset_i && x.onset_i <= e.end_i + 60 * per_min)
        {
            chain.push(link(s, e, x, vec![format!("{}; {}", e.reason, x.reason)]));
            break;
        }
    }
    // Exhaustion -> failures.
    for x in &exhaustions {
        if let Some(f) =
            failures.iter().find(|f| f.onset_i + 30 * per_min >= x.onset_i && f.onset_i <= x.end_i)
        {
            chain.push(link(s, x, f, vec![format!("{}; {}", x.reason, f.reason)]));
            break;
        }
    }
    // Failures -> surge: retries feeding the load (attempts per user up with failures).
    for f in &failures {
        if let Some(e) = surges.iter().find(|e| e.onset_i > f.onset_i && e.onset_i <= f.end_i) {
            chain.push(link(
                s,
                f,
                e,
                vec![format!("the surge began while logins were failing: {}", f.reason)],
            ));
            break;
        }
    }
    // A deploy or config change shortly before failures that no surge explains. The onset is
    // read back to the band's edge, where a chance failure or two can put it a few minutes
    // before the change that set them off: those few minutes are allowed.
    for f in &failures {
        let start = s.at(f.onset_i) + ONSET_SLACK_MS;
        let window = (o.change_to_failure_min * 60_000.0) as i64;
        let explained =
            surges.iter().any(|e| e.onset_i <= f.onset_i && e.end_i + per_min >= f.onset_i);
        let culprit = changes
            .iter()
            .filter(|c| matches!(c.kind.as_str(), "deploy" | "config" | "release"))
            .filter(|c| c.ts <= start && start - c.ts <= window)
            .max_by_key(|c| c.ts);
        if let (Some(c), false) = (culprit, explained) {
            let ci = s.index(c.ts).unwrap_or(0);
            chain.push(Link {
                from: "change".into(),
                to: "failures".into(),
                from_at: rfc3339(c.ts),
                to_at: f.onset.clone(),
                lag_min: minutes(s, ci, f.onset_i),
                xcorr: None,
                xcorr_lag_min: None,
                evidence: vec![
                    format!(
                        "{} of {} ({}) at {} ({})",
                        c.kind,
                        c.target.as_deref().unwrap_or("-"),
                        c.item.as_deref().unwrap_or("-"),
                        rfc3339(c.ts),
                        c.at
                    ),
                    f.reason.clone(),
                ],
            });
        }
    }

    // Recovery after the last episode.
    let last_end = surges.iter().chain(&exhaustions).chain(&failures).map(|e| e.end_i).max();
    let rec = last_end.and_then(|e| detect::recovery(s, d, e));
    if let (Some(r), Some(last)) = (rec, chain.last().cloned()) {
        chain.push(Link {
            from: last.to.clone(),
            to: "recovery".into(),
            from_at: last.to_at.clone(),
            to_at: rfc3339(s.at(r)),
            lag_min: (s.at(r) - rfc3339_ms(&last.to_at)) as f64 / 60_000.0,
            xcorr: None,
            xcorr_lag_min: None,
            evidence: vec![format!(
                "attempts and failures back in their bands for {} min",
                d.recovery_len as i64 * s.bucket_ms / 60_000
            )],
        });
    }

    let first_onset = surges.iter().chain(&exhaustions).chain(&failures).map(|e| e.onset_i).min();
    let feedback = main_surge.map(|e| feedback(s, e, wave, rec));
    let mut phases = Vec::new();
    let phase = |name: &str, a: usize, b: usize| Phase {
        name: name.into(),
        start: rfc3339(s.at(a)),
        end: rfc3339(s.at(b)),
    };
    if let Some(w) =
        wave.filter(|_| chain.iter().any(|l| l.from == "change_wave" || l.to == "change_wave"))
    {
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
        phases.push(phase("recovery", r, (r + d.recovery_len).min(s.len.saturating_sub(1))));
    }
    let impact = first_onset.map(|a| impact(tables, s, a, rec, wave)).transpose()?;
    Ok(Findings {
        inputs,
        surges,
        exhaustions,
        changes: waves,
        failures,
        metrics,
        recovery: rec.map(|r| rfc3339(s.at(r))),
        chain,
        coupling,
        feedback,
        phases,
        impact,
        params: o.clone(),
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
    let names = df.column("series")?.str()?;
    let values = df.column("value")?.f64()?;
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
        cite(tables, Role::Metric, "series", Some(name), &mut found, s)?;
        out.extend(found);
    }
    out.sort_by(|a, b| (&a.onset, &a.series).cmp(&(&b.onset, &b.series)));
    Ok(out)
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
    let ts: Vec<i64> = df.column(schema::TS)?.datetime()?.physical().into_no_null_iter().collect();
    // Which rows may be cited, as one pass over the column (it may be text or categories).
    let wanted: Option<Vec<bool>> = match value {
        Some(v) => Some(
            df.column(column)?
                .as_materialized_series()
                .equal(v)?
                .iter()
                .map(|b| b.unwrap_or(false))
                .collect(),
        ),
        None => None,
    };
    let (source, line) = (df.column(schema::SOURCE)?, df.column(schema::LINE)?.i64()?);
    for e in episodes {
        let (lo, hi) = (s.at(e.onset_i), s.at(e.end_i) + s.bucket_ms);
        let start = ts.partition_point(|t| *t < lo);
        e.first_lines = (start..ts.len())
            .take_while(|&i| ts[i] < hi)
            .filter(|&i| wanted.as_ref().is_none_or(|w| w[i]))
            .take(3)
            .map(|i| -> PolarsResult<String> {
                let src = source.get(i)?;
                Ok(format!("{}:{}", src.get_str().unwrap_or("?"), line.get(i).unwrap_or(0)))
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
    let (node, event) = (schema::texts(df.column("node")?)?, schema::texts(df.column("event")?)?);
    let mut took: HashMap<&str, Vec<i64>> = HashMap::new();
    for c in changes.iter().filter(|c| c.kind == "reboot" || c.kind == "install") {
        if let Some(t) = c.target.as_deref() {
            took.entry(t).or_default().push(c.ts);
        }
    }
    // From the start of the first exhaustion's decline to the end of the last.
    let lo = s.at(exhaustions.iter().map(|e| e.onset_i).min().unwrap_or(0));
    let hi = s.at(exhaustions.iter().map(|e| e.end_i).max().unwrap_or(0)) + s.bucket_ms;
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
    let pu = s.get("per_user").unwrap_or(&[]);
    let fr = s.get("failure_ratio").unwrap_or(&[]);
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
    s: &SeriesSet,
    start: usize,
    rec: Option<usize>,
    wave: Option<&Episode>,
) -> PolarsResult<Impact> {
    let end = rec.unwrap_or(s.len);
    let (lo, hi) = (s.at(start), s.at(end));
    let (mut failed, mut users) = (0u64, HashSet::new());
    if let Some(df) = tables.get(&Role::Login) {
        let ts = df.column(schema::TS)?.datetime()?.physical().clone();
        let outcome = schema::texts(df.column("outcome")?)?;
        let user = schema::texts(df.column("user")?)?;
        for ((t, o), u) in ts.iter().zip(outcome).zip(user) {
            if let (Some(t), Some("fail")) = (t, o)
                && t >= lo
                && t < hi
            {
                failed += 1;
                if let Some(u) = u {
                    users.insert(u.to_string());
                }
            }
        }
    }
    Ok(Impact {
        failed_logins: failed,
        users_affected: users.len() as u64,
        duration_min: minutes(s, start, end),
        time_to_recover_min: match (wave, rec) {
            (Some(w), Some(r)) => Some(minutes(s, w.onset_i.min(start), r)),
            _ => None,
        },
    })
}

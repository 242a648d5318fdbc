//! The chain: one function per rule that links two ends, each saying when the data supports
//! the link (time order, overlap, coupling), with the lag, the lagged cross-correlation of the
//! two series and the evidence. [`links`] applies them in the order the story is told.

use std::borrow::Cow;

use polars::prelude::*;

use crate::detect::{self, Episode, EpisodeKind, SeriesSet};
use crate::findings::{AnalyzeOptions, ChangeRef, Coupling, Link, LinkEnd};
use crate::schema::{self, Role, Tables, signal};
use crate::units::{rfc3339_ms, rfc3339_secs as rfc3339};

/// One change event, its text borrowed from the change table (a patch wave is a hundred
/// thousand rows: four strings of each copied were 25 MB on the 10M incident).
pub(crate) struct ChangeRow<'a> {
    pub ts: i64,
    /// Lowercase.
    pub kind: Cow<'a, str>,
    pub target: Option<&'a str>,
    pub item: Option<&'a str>,
    source: Option<&'a str>,
    line: Option<i64>,
}

impl ChangeRow<'_> {
    /// Where it was logged: `source:line`.
    pub fn at(&self) -> String {
        format!("{}:{}", self.source.unwrap_or("?"), self.line.unwrap_or(0))
    }
}

pub(crate) fn change_rows(tables: &Tables) -> PolarsResult<Vec<ChangeRow<'_>>> {
    let Some(df) = tables.get(&Role::Change) else { return Ok(vec![]) };
    let ts = df.column(schema::TS)?.datetime()?.physical();
    let kind = df.column(schema::KIND)?.str()?;
    let target = df.column(schema::TARGET)?.str()?;
    let item = df.column(schema::ITEM)?.str()?;
    let source = schema::texts(df.column(schema::SOURCE)?)?;
    let line = schema::lines(df.column(schema::LINE)?)?;
    // Zipped iterators walk the chunks once; `get(i)` would search them for every row.
    let rows = ts.iter().zip(kind.iter()).zip(target.iter()).zip(item.iter());
    Ok(rows
        .zip(source.zip(line))
        .map(|((((t, k), target), item), (source, line))| {
            let k = k.unwrap_or("");
            let kind = match k.bytes().any(|b| b.is_ascii_uppercase()) || !k.is_ascii() {
                true => Cow::Owned(k.to_lowercase()),
                false => Cow::Borrowed(k),
            };
            ChangeRow { ts: t.unwrap_or(0), kind, target, item, source, line }
        })
        .collect())
}

/// Pearson correlation of `a[t]` with `b[t + lag]` over `range`, for lags `0..=max_lag`; the
/// best lag and its coefficient.
pub(crate) fn xcorr(
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

pub(crate) fn minutes(s: &SeriesSet, a: usize, b: usize) -> f64 {
    (b as f64 - a as f64) * s.bucket_ms as f64 / 60_000.0
}

fn link(s: &SeriesSet, from: &Episode, to: &Episode, evidence: Vec<String>) -> Link {
    let (fx, tx) = (s.get(&from.series), s.get(&to.series));
    let lo = from.onset_i.saturating_sub(60);
    let hi = to.end_i.max(from.end_i) + 1;
    let max_lag = (to.peak_i.saturating_sub(from.onset_i)).clamp(1, 24 * 60);
    // Capacity lost is nodes online going down: correlate what rose with what fell, turned
    // over, or a perfect inverse reads as no link at all.
    // Changes come one PC at a time: a wave is read on 15-minute rates (as detection reads
    // it), not on minutes of 0, 1 or 2.
    let oriented = |e: &Episode, x: &[f64]| -> Vec<f64> {
        let falls = e.kind == EpisodeKind::Exhaustion && e.series != signal::UTILISATION;
        let x = if e.kind == EpisodeKind::ChangeWave {
            let half = (7 * 60_000 / s.bucket_ms.max(1)) as usize;
            crate::stats::centred_means(x, half)
        } else {
            x.to_vec()
        };
        x.into_iter().map(|v| if falls { -v } else { v }).collect()
    };
    let best = match (fx, tx) {
        (Some(a), Some(b)) => {
            let (a, b) = (oriented(from, a), oriented(to, b));
            xcorr(&a, &b, lo..hi.min(a.len()), max_lag)
        }
        _ => None,
    };
    Link {
        from: LinkEnd::of(from.kind).expect("a chain episode"),
        to: LinkEnd::of(to.kind).expect("a chain episode"),
        from_at: from.onset.clone(),
        to_at: to.onset.clone(),
        lag_min: minutes(s, from.onset_i, to.onset_i),
        xcorr: best.map(|b| (b.0 * 100.0).round() / 100.0),
        xcorr_lag_min: best.map(|b| b.1 as f64 * s.bucket_ms as f64 / 60_000.0),
        evidence,
        change: None,
    }
}

fn overlaps_after(a: &Episode, b: &Episode, slack: usize, max_lag: usize) -> bool {
    b.onset_i + slack >= a.onset_i && b.onset_i <= a.end_i + max_lag
}

/// What every rule reads.
pub(crate) struct Context<'a> {
    pub s: &'a SeriesSet,
    pub o: &'a AnalyzeOptions,
    pub surges: &'a [Episode],
    pub exhaustions: &'a [Episode],
    pub failures: &'a [Episode],
    pub changes: &'a [ChangeRow<'a>],
    /// The main change wave ([`main_wave`]).
    pub wave: Option<&'a Episode>,
    pub coupling: Option<&'a Coupling>,
}

impl Context<'_> {
    fn per_min(&self) -> usize {
        (60_000 / self.s.bucket_ms.max(1)).max(1) as usize
    }
    fn max_lag(&self) -> usize {
        (self.o.max_lag_min as usize) * self.per_min()
    }
}

/// The main wave: the strongest burst of reboots or installs (else of any kind).
pub(crate) fn main_wave(waves: &[Episode]) -> Option<&Episode> {
    let reboot = signal::change("reboot");
    let install = signal::change("install");
    waves
        .iter()
        .filter(|w| w.series == reboot || w.series == install)
        .max_by(|a, b| a.score.total_cmp(&b.score))
        .or_else(|| waves.iter().max_by(|a, b| a.score.total_cmp(&b.score)))
}

/// Every link the data supports, in the order the story is told, and the recovery (the
/// bucket where demand and failures are back in their bands after the last episode).
pub(crate) fn links(c: &Context) -> (Vec<Link>, Option<usize>) {
    let rules: [fn(&Context) -> Option<Link>; 6] = [
        trigger_to_wave,
        wave_to_surge,
        wave_to_exhaustion,
        surge_to_exhaustion,
        exhaustion_to_failures,
        failures_to_surge,
    ];
    let mut chain: Vec<Link> = rules.iter().filter_map(|rule| rule(c)).collect();
    chain.extend(change_to_failures(c));
    chain.extend(rollout_to_effects(c));
    let last_end = c.surges.iter().chain(c.exhaustions).chain(c.failures).map(|e| e.end_i).max();
    let rec = last_end.and_then(|e| detect::recovery(c.s, &c.o.detect, e));
    if let Some(l) = rec.and_then(|r| to_recovery(c, r, chain.last())) {
        chain.push(l);
    }
    (chain, rec)
}

fn change_ref(c: &ChangeRow) -> ChangeRef {
    ChangeRef {
        kind: c.kind.to_string(),
        item: c.item.map(str::to_string),
        target: c.target.map(str::to_string),
        at: c.at(),
    }
}

/// A release, deploy, config change, rollout or patch before the main wave (within
/// `trigger_lookback_h`) started it.
fn trigger_to_wave(c: &Context) -> Option<Link> {
    const TRIGGERS: [&str; 5] = ["release", "deploy", "config", "rollout", "patch"];
    let (s, w) = (c.s, c.wave?);
    let start = s.at(w.onset_i);
    let lookback = (c.o.trigger_lookback_h * 3_600_000.0) as i64;
    let t = c
        .changes
        .iter()
        .filter(|r| TRIGGERS.contains(&r.kind.as_ref()))
        .filter(|r| r.ts <= start && start - r.ts <= lookback)
        .max_by_key(|r| r.ts)?;
    let ti = s.index(t.ts).unwrap_or(0);
    let kind = w.series.trim_start_matches(signal::CHANGE_PREFIX);
    let wave_rows: Vec<&ChangeRow> = c
        .changes
        .iter()
        .filter(|r| r.kind == kind || w.series == signal::CHANGES)
        .filter(|r| s.index(r.ts).is_some_and(|i| i >= w.onset_i && i <= w.end_i))
        .collect();
    let first: Vec<String> = wave_rows.iter().take(3).map(|r| r.at()).collect();
    Some(Link {
        from: LinkEnd::Change,
        to: LinkEnd::ChangeWave,
        from_at: rfc3339(t.ts),
        to_at: w.onset.clone(),
        lag_min: minutes(s, ti, w.onset_i),
        xcorr: None,
        xcorr_lag_min: None,
        evidence: vec![
            format!("{} {} at {} ({})", t.kind, t.item.unwrap_or("-"), rfc3339(t.ts), t.at()),
            format!(
                "{} {} events in the wave; first at {}",
                wave_rows.len(),
                w.series.trim_start_matches(signal::CHANGE_PREFIX),
                first.join(", ")
            ),
        ],
        change: Some(change_ref(t)),
    })
}

/// The first surge that starts during the main wave or after it (within `max_lag_min`).
fn wave_to_surge(c: &Context) -> Option<Link> {
    let w = c.wave?;
    let e = c.surges.iter().find(|e| overlaps_after(w, e, 30 * c.per_min(), c.max_lag()))?;
    Some(link(c.s, w, e, vec![format!("{}; {}", w.reason, e.reason)]))
}

/// An exhaustion during or after the main wave, when a fifth or more of the nodes lost had
/// taken the change themselves.
fn wave_to_exhaustion(c: &Context) -> Option<Link> {
    let w = c.wave?;
    let x = c.exhaustions.iter().find(|x| overlaps_after(w, x, 60 * c.per_min(), c.max_lag()))?;
    let k = c.coupling.filter(|k| k.share >= 0.2)?;
    Some(link(
        c.s,
        w,
        x,
        vec![format!(
            "{} of {} nodes lost in the exhaustion took the change themselves ({:.0}%)",
            k.nodes_lost_to_change,
            k.nodes_lost,
            100.0 * k.share
        )],
    ))
}

/// The demand came first and the capacity went during it (or within the hour after).
fn surge_to_exhaustion(c: &Context) -> Option<Link> {
    let per_min = c.per_min();
    c.surges.iter().take(3).find_map(|e| {
        let x = c
            .exhaustions
            .iter()
            .find(|x| x.onset_i >= e.onset_i && x.onset_i <= e.end_i + 60 * per_min)?;
        Some(link(c.s, e, x, vec![format!("{}; {}", e.reason, x.reason)]))
    })
}

/// Failures that began during an exhaustion (or up to 30 minutes before its onset).
fn exhaustion_to_failures(c: &Context) -> Option<Link> {
    let per_min = c.per_min();
    c.exhaustions.iter().find_map(|x| {
        let f = c
            .failures
            .iter()
            .find(|f| f.onset_i + 30 * per_min >= x.onset_i && f.onset_i <= x.end_i)?;
        Some(link(c.s, x, f, vec![format!("{}; {}", x.reason, f.reason)]))
    })
}

/// Retries feeding the load: a surge that began while logins were failing.
fn failures_to_surge(c: &Context) -> Option<Link> {
    c.failures.iter().find_map(|f| {
        let e = c.surges.iter().find(|e| e.onset_i > f.onset_i && e.onset_i <= f.end_i)?;
        Some(link(
            c.s,
            f,
            e,
            vec![format!("the surge began while logins were failing: {}", f.reason)],
        ))
    })
}

/// A deploy or config change shortly before failures that no surge explains. The onset is
/// read back to the band's edge, where a chance failure or two can put it a few minutes
/// before the change that set them off: those few minutes are allowed.
fn change_to_failures(c: &Context) -> Vec<Link> {
    let (s, per_min) = (c.s, c.per_min());
    let mut out = Vec::new();
    for f in c.failures {
        let start = s.at(f.onset_i) + ONSET_SLACK_MS;
        let window = (c.o.change_to_failure_min * 60_000.0) as i64;
        let explained =
            c.surges.iter().any(|e| e.onset_i <= f.onset_i && e.end_i + per_min >= f.onset_i);
        let culprit = c
            .changes
            .iter()
            .filter(|r| matches!(r.kind.as_ref(), "deploy" | "config" | "release"))
            .filter(|r| r.ts <= start && start - r.ts <= window)
            .max_by_key(|r| r.ts);
        if let (Some(r), false) = (culprit, explained) {
            let ri = s.index(r.ts).unwrap_or(0);
            out.push(Link {
                from: LinkEnd::Change,
                to: LinkEnd::Failures,
                from_at: rfc3339(r.ts),
                to_at: f.onset.clone(),
                lag_min: minutes(s, ri, f.onset_i),
                xcorr: None,
                xcorr_lag_min: None,
                evidence: vec![
                    format!(
                        "{} of {} ({}) at {} ({})",
                        r.kind,
                        r.target.unwrap_or("-"),
                        r.item.unwrap_or("-"),
                        rfc3339(r.ts),
                        r.at()
                    ),
                    f.reason.clone(),
                ],
                change: Some(change_ref(r)),
            });
        }
    }
    out
}

/// Kinds of change that roll something out, one event or many.
const ROLLOUT_KINDS: [&str; 6] = ["deploy", "restart", "config", "rollout", "rollback", "upgrade"];
/// Events of one rollout (the same item) more than this apart are two rollouts.
const ROLLOUT_GAP_MS: i64 = 6 * 3_600_000;

/// A deploy, a rolling restart or a config change: the change events of one item (image,
/// version, replica set), close together in time, at any rate.
struct Rollout<'a> {
    kind: &'a str,
    item: Option<&'a str>,
    rows: Vec<&'a ChangeRow<'a>>,
}

impl<'a> Rollout<'a> {
    fn first(&self) -> &'a ChangeRow<'a> {
        self.rows[0]
    }
    fn last(&self) -> &'a ChangeRow<'a> {
        self.rows[self.rows.len() - 1]
    }
    fn what(&self) -> String {
        let targets: std::collections::BTreeSet<&str> =
            self.rows.iter().filter_map(|r| r.target).collect();
        let item = self.item.map(|i| format!(" of {i}")).unwrap_or_default();
        // The first event's line is the link's `change.at`; the last one's is named here.
        if self.rows.len() == 1 {
            let r = self.first();
            let on = r.target.map(|t| format!(" on {t}")).unwrap_or_default();
            format!("{}{item}{on} at {}", r.kind, rfc3339(r.ts))
        } else {
            format!(
                "{} {}{item}: {} events on {} from {} to {}",
                if self.kind == "restart" { "rolling" } else { "staged" },
                self.kind,
                self.rows.len(),
                crate::units::plural(targets.len() as u64, "target"),
                rfc3339(self.first().ts),
                rfc3339(self.last().ts),
            )
        }
    }
}

/// The rollouts among the change events, in time order.
fn rollouts<'a>(changes: &'a [ChangeRow<'a>]) -> Vec<Rollout<'a>> {
    let mut by_item: std::collections::BTreeMap<(&str, Option<&str>), Vec<&ChangeRow>> =
        std::collections::BTreeMap::new();
    for r in changes.iter().filter(|r| ROLLOUT_KINDS.contains(&r.kind.as_ref())) {
        // Without an item, one target's events are its own rollout.
        let key = r.item.or(r.target);
        by_item.entry((r.kind.as_ref(), key)).or_default().push(r);
    }
    let mut out: Vec<Rollout> = Vec::new();
    for ((kind, _), mut rows) in by_item {
        rows.sort_by_key(|r| r.ts);
        let item = rows[0].item;
        let mut cur: Vec<&ChangeRow> = Vec::new();
        for r in rows {
            if cur.last().is_some_and(|l| r.ts - l.ts > ROLLOUT_GAP_MS) {
                out.push(Rollout { kind, item, rows: std::mem::take(&mut cur) });
            }
            cur.push(r);
        }
        out.push(Rollout { kind, item, rows: cur });
    }
    out.sort_by_key(|r| r.first().ts);
    out
}

/// A rollout that began shortly before (within `change_to_failure_min`) the first surge or
/// exhaustion is a candidate cause of each: the latest such rollout is linked. A burst of
/// restarts the detector found as a change wave is told by the wave's own links instead.
fn rollout_to_effects(c: &Context) -> Vec<Link> {
    let s = c.s;
    let window = (c.o.change_to_failure_min * 60_000.0) as i64;
    let all = rollouts(c.changes);
    let in_wave = |r: &Rollout| {
        c.wave.is_some_and(|w| {
            w.series == signal::change(r.kind) && w.covers(r.first().ts) && w.covers(r.last().ts)
        })
    };
    let mut out = Vec::new();
    for (to, e) in
        [(LinkEnd::Surge, c.surges.first()), (LinkEnd::Exhaustion, c.exhaustions.first())]
    {
        let Some(e) = e else { continue };
        let onset = s.at(e.onset_i);
        let Some(r) = all
            .iter()
            .filter(|r| !in_wave(r))
            .filter(|r| r.first().ts <= onset + ONSET_SLACK_MS && onset - r.first().ts <= window)
            .max_by_key(|r| r.first().ts)
        else {
            continue;
        };
        let first = r.first();
        let fi = s.index(first.ts).unwrap_or(0);
        out.push(Link {
            from: LinkEnd::Change,
            to,
            from_at: rfc3339(first.ts),
            to_at: e.onset.clone(),
            lag_min: minutes(s, fi, e.onset_i),
            xcorr: None,
            xcorr_lag_min: None,
            evidence: vec![r.what(), e.reason.clone()],
            change: Some(change_ref(first)),
        });
    }
    out
}

/// Recovery after the last link's end.
fn to_recovery(c: &Context, r: usize, last: Option<&Link>) -> Option<Link> {
    let (s, last) = (c.s, last?);
    Some(Link {
        from: last.to,
        to: LinkEnd::Recovery,
        from_at: last.to_at.clone(),
        to_at: rfc3339(s.at(r)),
        lag_min: (s.at(r) - rfc3339_ms(&last.to_at)) as f64 / 60_000.0,
        xcorr: None,
        xcorr_lag_min: None,
        evidence: vec![format!(
            "attempts and failures back in their bands for {} min",
            crate::detect::recovery_buckets(s, &c.o.detect) as i64 * s.bucket_ms / 60_000
        )],
        change: None,
    })
}

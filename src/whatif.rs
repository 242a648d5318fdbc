//! What would have helped: the incident's model fitted from its own logs, replayed as it was
//! (`observed`, which checks the model) and under other policies (`rootline whatif`).
//!
//! The model is the simulator's skype-2007 model (`src/simulate/`): clients that are also the
//! supernode pool, a change wave that restarts them, retries, overload, self-healing slowed by
//! a bug under stress. What the logs show is measured and set in it ([`Fit::measured`]); the
//! rest keeps the model's values and is listed as assumed ([`Fit::assumed`]). Each run (the
//! replay and every policy) is simulated into a scratch directory and analyzed by rootline's
//! own detection, so that the observed incident and every replay are measured by the same
//! code ([`Outcome::of`]).
//!
//! Honest by construction: when the `observed` replay misses the observed incident on any of
//! peak demand (the busiest hour), lowest capacity, failed logins or time to recover by more than
//! [`TOLERANCE`], the result says which and carries no counterfactual numbers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::correlate::AnalyzeOptions;
use crate::detect::SeriesSet;
use crate::findings::Findings;
use crate::pipeline::{Incident, Input, LoadOptions, PipelineError};
use crate::schema::{self, Role};
use crate::simulate::{self, Policy, RetryPolicy, Scenario, SimFormat, SimOutput, SimParams};
use crate::stats::{line_fit, median};
use crate::units::{rfc3339_ms, rfc3339_secs, round_to};

/// How far (relative) the `observed` replay may be from the incident on each outcome before
/// whatif refuses to give counterfactual numbers.
pub const TOLERANCE: f64 = 0.15;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// What an incident came to, from its findings: the same for the observed incident and for
/// every replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// Login attempts a minute in the busiest hour over their mean in the day before the
    /// trigger: the sustained load the flood put on the service. (Not the surge's busiest
    /// minute over its baseline, `surge_peak_ratio`: with a baseline of two logins a minute
    /// that moves by a quarter or more from one seed of the model to the next.)
    pub peak_demand_ratio: f64,
    /// Login attempts a minute in the busiest hour. The model is checked on this.
    pub peak_demand_per_min: f64,
    /// The largest surge's busiest minute over its baseline, as the findings tell it.
    pub surge_peak_ratio: f64,
    /// Load over capacity at its worst, against normal: the largest hourly logins a minute
    /// per node online (at least one) over the same in the day before the trigger.
    pub peak_load_over_capacity: f64,
    /// The lowest capacity (nodes online) as a share of its baseline; 1 without an exhaustion.
    pub lowest_capacity_share: f64,
    /// Failed logins in the incident...
    pub failed_logins: u64,
    /// ...and login attempts in all the logs.
    pub attempts: u64,
    /// Users unable to log in for a whole clock hour or more.
    pub users_locked_out: u64,
    /// Clock hours in which most users who tried could not log in.
    pub hours_majority_locked_out: u64,
    /// Hours from the trigger (the change wave's onset, else the first episode) to recovery,
    /// or to the end of the data when there is none.
    pub time_to_recover_h: f64,
    /// Hourly means for the chart (not in whatif.json).
    #[serde(skip)]
    pub curve: Curve,
}

/// An outcome's course, hour by hour: nodes online and logins a minute.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Curve {
    pub start_ms: i64,
    pub nodes: Vec<f64>,
    pub logins: Vec<f64>,
}

impl Curve {
    fn of(series: &SeriesSet) -> Curve {
        let hour = (HOUR_MS / series.bucket_ms.max(1)).max(1) as usize;
        let per_min = 60_000.0 / series.bucket_ms.max(1) as f64;
        let means = |name: &str, scale: f64| -> Vec<f64> {
            series.get(name).map_or(Vec::new(), |x| {
                x.chunks(hour).map(|c| c.iter().sum::<f64>() / c.len() as f64 * scale).collect()
            })
        };
        Curve {
            start_ms: series.start_ms,
            nodes: means(schema::signal::NODES_ONLINE, 1.0),
            logins: means(schema::signal::ATTEMPTS, per_min),
        }
    }
}

impl Outcome {
    pub fn of(f: &Findings, series: &SeriesSet, end_ms: i64) -> Outcome {
        let surge_peak = f.surges.iter().map(|e| e.ratio).fold(1.0, f64::max);
        let per_min = 60_000.0 / series.bucket_ms.max(1) as f64;
        let hour = (HOUR_MS / series.bucket_ms.max(1)).max(1) as usize;
        let peak_per_min = series.get(schema::signal::ATTEMPTS).map_or(0.0, |x| {
            let sums: Vec<f64> =
                x.windows(hour.min(x.len()).max(1)).map(|w| w.iter().sum()).collect();
            sums.iter().copied().fold(0.0, f64::max) / hour as f64 * per_min
        });
        let lowest = f
            .exhaustions
            .iter()
            .filter(|e| e.series == schema::signal::NODES_ONLINE && e.baseline > 0.0)
            .map(|e| e.peak_value / e.baseline)
            .fold(1.0, f64::min);
        let trigger = f
            .changes
            .first()
            .or_else(|| {
                f.surges.iter().chain(&f.exhaustions).chain(&f.failures).min_by_key(|e| e.onset_i)
            })
            .map(|e| rfc3339_ms(&e.onset));
        // The day before the trigger (what there is of it), logins a minute.
        let before = series.get(schema::signal::ATTEMPTS).and_then(|x| {
            let t = trigger.and_then(|t| series.index(t)).unwrap_or(x.len());
            let from = t.saturating_sub((DAY_MS / series.bucket_ms.max(1)) as usize);
            (t > from).then(|| x[from..t].iter().sum::<f64>() / (t - from) as f64 * per_min)
        });
        let peak = before.filter(|b| *b > 0.0).map_or(1.0, |b| peak_per_min / b);
        let curve = Curve::of(series);
        let per_node: Vec<f64> =
            curve.logins.iter().zip(&curve.nodes).map(|(l, n)| l / n.max(1.0)).collect();
        let t_hour = trigger
            .map_or(per_node.len(), |t| ((t - curve.start_ms).max(0) / HOUR_MS) as usize)
            .min(per_node.len());
        let normal = per_node[t_hour.saturating_sub(24)..t_hour].iter().sum::<f64>()
            / (t_hour - t_hour.saturating_sub(24)).max(1) as f64;
        let worst = per_node[t_hour..].iter().copied().fold(0.0, f64::max);
        let load_over = if normal > 0.0 { worst / normal } else { 1.0 };
        let recovered = f.recovery.as_deref().map_or(end_ms, rfc3339_ms);
        let hours = trigger.map_or(0.0, |t| (recovered - t).max(0) as f64 / HOUR_MS as f64);
        let impact = f.impact.as_ref();
        let locked = impact.and_then(|i| i.locked_out.as_ref());
        Outcome {
            peak_demand_ratio: round_to(peak, 2),
            peak_demand_per_min: round_to(peak_per_min, 2),
            surge_peak_ratio: round_to(surge_peak, 2),
            peak_load_over_capacity: round_to(load_over, 2),
            lowest_capacity_share: round_to(lowest, 2),
            failed_logins: impact.map_or(0, |i| i.failed_logins),
            attempts: series
                .get(schema::signal::ATTEMPTS)
                .map_or(0, |x| x.iter().sum::<f64>().round() as u64),
            users_locked_out: locked.map_or(0, |l| l.users),
            hours_majority_locked_out: locked.map_or(0, |l| l.hours_majority),
            time_to_recover_h: round_to(hours, 2),
            curve,
        }
    }

    /// The outcomes the replay must match, with their relative misses.
    fn misses(&self, replay: &Outcome) -> BTreeMap<String, f64> {
        BTreeMap::from([
            (
                "peak_demand_per_min".into(),
                rel(replay.peak_demand_per_min, self.peak_demand_per_min),
            ),
            (
                "lowest_capacity_share".into(),
                // A share near 0 has no relative error: compare in points of the baseline.
                replay.lowest_capacity_share - self.lowest_capacity_share,
            ),
            ("failed_logins".into(), rel(replay.failed_logins as f64, self.failed_logins as f64)),
            ("time_to_recover_h".into(), rel(replay.time_to_recover_h, self.time_to_recover_h)),
        ])
    }
}

/// How far `value` is from `of`, relative to it (the difference itself when `of` is 0).
pub(crate) fn rel(value: f64, of: f64) -> f64 {
    if of.abs() > 0.0 { (value - of) / of } else { value - of }
}

/// Buckets of `s` in `minutes`, at least one.
fn buckets_in(s: &SeriesSet, minutes: i64) -> usize {
    ((minutes * 60_000) / s.bucket_ms.max(1)).max(1) as usize
}

/// The model's knobs set from the logs, and those kept from the skype-2007 model.
#[derive(Debug, Clone, Serialize)]
pub struct Fit {
    /// Each measured knob: its value and how it was measured.
    pub measured: BTreeMap<String, Measured>,
    /// Knobs the logs cannot show, kept at the model's values.
    pub assumed: Vec<String>,
    #[serde(skip)]
    pub params: SimParams,
}

#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub value: serde_json::Value,
    pub how: String,
}

fn measured(fit: &mut BTreeMap<String, Measured>, k: &str, v: impl Serialize, how: &str) {
    let value = serde_json::to_value(v).unwrap_or(serde_json::Value::Null);
    fit.insert(k.to_string(), Measured { value, how: how.to_string() });
}

/// The whatif error: what is missing from the incident to fit the model.
#[derive(Debug, thiserror::Error)]
pub enum WhatifError {
    #[error("{0}")]
    Cannot(String),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error("cannot run the model in {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Fits the model to an incident: clients, span, the trigger, the share of supernodes and of
/// clients the change restarted, the retry schedule and when clients gave up, what a capacity
/// node holds, admits and loses to overload ([`fit_capacity`]), and when self-healing resumed
/// and how fast.
pub fn fit(incident: &Incident, f: &Findings, series: &SeriesSet) -> Result<Fit, WhatifError> {
    let cannot = |what: &str| {
        WhatifError::Cannot(format!(
            "whatif needs {what}; it fits a model of logins, capacity nodes and a change wave \
             (the 2007 kind of incident)"
        ))
    };
    let login = incident.tables.get(&Role::Login).ok_or_else(|| cannot("a login table"))?;
    let node = incident.tables.get(&Role::Node).ok_or_else(|| cannot("a node table"))?;
    let change = incident.tables.get(&Role::Change).ok_or_else(|| cannot("a change table"))?;
    let wave = f.changes.first().ok_or_else(|| cannot("a change wave"))?;
    let mut p = SimParams::new(Scenario::Skype2007);
    let mut m = BTreeMap::new();
    let pe = |e: polars::prelude::PolarsError| WhatifError::Cannot(e.to_string());

    // Who logs in, and over what span.
    let ts = |df| schema::ts_ms(df).map_err(pe);
    let login_ts = ts(login)?;
    // Who logs in: clients, or users when the logs name no client (the analysis' dense ids).
    use crate::ids::{Ids, NONE};
    let mut who = Ids::of(&incident.tables, schema::CLIENT).map_err(pe)?;
    if who.names == 0 {
        who = Ids::of(&incident.tables, schema::USER).map_err(pe)?;
    }
    if who.names < 100 {
        return Err(cannot("at least 100 clients (or users) in the login table"));
    }
    p.clients = who.names;
    measured(&mut m, "clients", p.clients, "distinct clients (or users) in the login table");
    let (lo, hi) =
        (login_ts.iter().copied().min().unwrap_or(0), login_ts.iter().copied().max().unwrap_or(0));
    p.start_ms = lo.div_euclid(DAY_MS) * DAY_MS;
    p.days = ((hi - p.start_ms) / DAY_MS + 1).clamp(1, 60) as u32;
    measured(&mut m, "start", rfc3339_secs(p.start_ms), "midnight UTC before the first login");
    measured(&mut m, "days", p.days, "whole days to the last login");

    // The trigger: a release row, else the change wave's onset.
    let kinds = texts(change, schema::KIND)?;
    let targets = texts(change, schema::TARGET)?;
    let change_ts = ts(change)?;
    let release = kinds
        .iter()
        .zip(change_ts.iter())
        .find(|(k, _)| k.is_some_and(|k| k.eq_ignore_ascii_case("release")))
        .map(|(_, t)| *t);
    let wave_onset = rfc3339_ms(&wave.onset);
    p.release_ms = Some(release.unwrap_or(wave_onset));
    measured(
        &mut m,
        "release",
        rfc3339_secs(p.release_ms.unwrap_or(0)),
        if release.is_some() {
            "the change table's release row"
        } else {
            "the change wave's onset"
        },
    );

    // Whom the change restarted: the clients, and the capacity nodes online at the release.
    let rebooted: std::collections::BTreeSet<&str> = kinds
        .iter()
        .zip(&targets)
        .filter(|(k, _)| k.is_some_and(|k| k.eq_ignore_ascii_case("reboot")))
        .filter_map(|(_, t)| *t)
        .collect();
    if rebooted.is_empty() {
        return Err(cannot("reboot rows in the change table (kind reboot, target the host)"));
    }
    let share = (rebooted.len() as f64 / p.clients as f64).min(1.0);
    p.auto_update_share = round_to(share, 2);
    measured(&mut m, "auto_update_share", p.auto_update_share, "distinct reboot targets / clients");
    let release_ms = p.release_ms.unwrap_or(0);
    let node_rows = NodeRows::of(node)?;
    let mut at_release: BTreeMap<&str, bool> = BTreeMap::new();
    for i in 0..node_rows.ts.len() {
        let t = node_rows.ts[i];
        let (Some(n), true) = (node_rows.names[i], t < release_ms && t >= release_ms - HOUR_MS)
        else {
            continue;
        };
        at_release.insert(n, !node_rows.left(i));
    }
    let pool: Vec<&str> = at_release.iter().filter(|(_, on)| **on).map(|(n, _)| *n).collect();
    if pool.is_empty() {
        return Err(cannot("capacity nodes reporting in the hour before the change"));
    }
    let hit = pool.iter().filter(|n| rebooted.contains(*n)).count();
    p.supernode_auto_update_share = round_to(hit as f64 / pool.len() as f64, 2);
    measured(
        &mut m,
        "supernode_auto_update_share",
        p.supernode_auto_update_share,
        "share of the nodes online in the hour before the release that the wave rebooted",
    );

    // Retries: per client, the gaps after each failed attempt, by their place in the streak.
    let outcomes = texts(login, schema::OUTCOME)?;
    let who = who.rows();
    let mut order: Vec<usize> = (0..login_ts.len()).filter(|&i| who[i] != NONE).collect();
    order.sort_by_key(|&i| (who[i], login_ts[i]));
    let mut gaps: Vec<Vec<f64>> = vec![Vec::new(); 12];
    // How long a client kept retrying before a wait of an hour or more (it gave up).
    let mut gave_up_after: Vec<f64> = Vec::new();
    let (mut streak, mut since) = (0usize, 0i64);
    for w in order.windows(2) {
        let (a, b) = (w[0], w[1]);
        let failed = outcomes[a] == Some("fail");
        if who[a] != who[b] || !failed {
            streak = 0;
            continue;
        }
        if streak == 0 {
            since = login_ts[a];
        }
        let gap_s = (login_ts[b] - login_ts[a]) as f64 / 1000.0;
        // A wait past an hour is a comeback, not a retry.
        if gap_s < 3600.0 {
            gaps[streak.min(11)].push(gap_s);
            streak += 1;
        } else {
            gave_up_after.push((login_ts[a] - since) as f64 / 60_000.0);
            streak = 0;
        }
    }
    let q = |v: &mut [f64], at: f64| -> Option<f64> {
        if v.len() < 20 {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(v[((v.len() - 1) as f64 * at).round() as usize])
    };
    if let (Some(first), Some(second)) = (q(&mut gaps[0], 0.5), q(&mut gaps[1], 0.5)) {
        let (p10, p90) =
            (q(&mut gaps[0], 0.1).unwrap_or(first), q(&mut gaps[0], 0.9).unwrap_or(first));
        let mut late: Vec<f64> = gaps[8..].iter().flatten().copied().collect();
        let max_s = q(&mut late, 0.5).unwrap_or(first * 20.0);
        p.retry = RetryPolicy {
            base_s: first.round(),
            backoff: round_to((second / first).clamp(1.0, 4.0), 2),
            max_s: max_s.round().max(first),
            jitter: round_to(((p90 - p10) / (1.6 * first)).clamp(0.0, 1.0), 2),
        };
        measured(
            &mut m,
            "retry",
            &p.retry,
            "gaps after a failed login by the same client: the first retry's median (base), the \
             second's over the first's (backoff), the ninth and later (cap), the first's 10-90% \
             spread (jitter)",
        );
    } else {
        return Err(cannot("retries to measure (20 or more clients retrying a failed login)"));
    }
    // The give-up limit is checked at each retry, a cap apart once retries reach it, so a
    // streak ends on average half a cap past the limit.
    if let Some(ran) = q(&mut gave_up_after, 0.5) {
        let limit = (ran - p.retry.max_s / 120.0).round().max(1.0);
        p.give_up_after_min = limit;
        measured(
            &mut m,
            "give_up_after_min",
            limit,
            "the median time a client kept retrying before a wait of an hour or more, less half \
             the retry cap",
        );
    }

    // When self-healing resumed: the last minute of the deepest trough of nodes online (within
    // 5% of the baseline of its lowest), before the exhaustion ends.
    let trough = f
        .exhaustions
        .iter()
        .filter(|e| e.series == schema::signal::NODES_ONLINE && e.baseline > 0.0)
        .min_by(|a, b| (a.peak_value / a.baseline).total_cmp(&(b.peak_value / b.baseline)));
    let nodes = series.get(schema::signal::NODES_ONLINE);
    if let (Some(e), Some(x)) = (trough, nodes) {
        let floor = e.peak_value + (0.05 * e.baseline).max(1.0);
        let (from, to) = (e.peak_i.min(x.len()), (e.end_i + 1).min(x.len()));
        let last = (from..to).rev().find(|&i| x[i] <= floor).unwrap_or(from);
        let at = series.at(last);
        p.bug_fixed_ms = Some(at);
        // The recovery rate: the share of the missing nodes that came back a minute over the
        // half hour after the trough (the model's promotion rate once the bug is fixed).
        let k = buckets_in(series, 30).min(x.len().saturating_sub(last + 1));
        let (d0, dk) =
            (e.baseline - x[last], e.baseline - x[last + k.max(1).min(x.len() - 1 - last)]);
        if k > 0 && d0 > 0.0 && dk > 0.0 && dk < d0 {
            let per_bucket = 1.0 - (dk / d0).powf(1.0 / k as f64);
            let per_min = 1.0 - (1.0 - per_bucket).powf(60_000.0 / series.bucket_ms as f64);
            p.promote_rate = (per_min * 1000.0).round().clamp(1.0, 1000.0) / 1000.0;
            measured(
                &mut m,
                "promote_rate",
                p.promote_rate,
                "the share of the missing nodes that came back a minute in the half hour after \
                 the trough",
            );
        }
        measured(
            &mut m,
            "bug_fixed",
            rfc3339_secs(at),
            "the last minute of the deepest trough of nodes online (within 5% of the baseline \
             of its lowest): capacity grew back from there",
        );
    } else {
        p.bug_fixed_ms = None;
        measured(&mut m, "bug_fixed", "never", "no exhaustion of nodes online: no stall to end");
    }
    fit_capacity(&mut p, &mut m, &node_rows, series)?;
    let assumed = [
        "always_on_share",
        "session_hour",
        "session_mean_h",
        "relogin_after_s",
        "give_up_after_min",
        "comeback_min",
        "supernode_capacity",
        "admit_per_min",
        "overload_factor",
        "overload_drop_chance",
        "target_util",
        "promote_rate",
        "bug_factor",
        "stress_util",
        "stress_fail_ratio",
        "stress_churn",
        "install_local_hour",
        "download_hours",
    ]
    .map(String::from)
    .to_vec();
    // What could be measured is not assumed (the recovery rate needs a trough to climb from).
    let assumed = assumed.into_iter().filter(|a| !m.contains_key(a)).collect();
    Ok(Fit { measured: m, assumed, params: p })
}

/// A text column's values, borrowed from the table; all null when the table has no such column.
fn texts<'a>(
    df: &'a polars::prelude::DataFrame,
    c: &str,
) -> Result<Vec<Option<&'a str>>, WhatifError> {
    let pe = |e: polars::prelude::PolarsError| WhatifError::Cannot(e.to_string());
    match df.column(c) {
        Ok(col) => Ok(schema::texts(col).map_err(pe)?.collect()),
        Err(_) => Ok(vec![None; df.height()]),
    }
}

/// The node table's columns the fit reads, read once.
struct NodeRows<'a> {
    ts: std::borrow::Cow<'a, [i64]>,
    names: Vec<Option<&'a str>>,
    events: Vec<Option<&'a str>>,
    reasons: Vec<Option<&'a str>>,
    /// Numeric columns, `None` when the table has none.
    load: Option<Vec<Option<f64>>>,
    cap: Option<Vec<Option<f64>>>,
    cpu: Option<Vec<Option<f64>>>,
}

impl<'a> NodeRows<'a> {
    fn of(node: &'a polars::prelude::DataFrame) -> Result<NodeRows<'a>, WhatifError> {
        let pe = |e: polars::prelude::PolarsError| WhatifError::Cannot(e.to_string());
        let num = |c: &str| -> Result<Option<Vec<Option<f64>>>, WhatifError> {
            let Ok(col) = node.column(c) else { return Ok(None) };
            let col = col.cast(&polars::prelude::DataType::Float64).map_err(pe)?;
            Ok(Some(col.f64().map_err(pe)?.iter().collect()))
        };
        Ok(NodeRows {
            ts: schema::ts_ms(node).map_err(pe)?,
            names: texts(node, schema::NODE)?,
            events: texts(node, schema::EVENT)?,
            reasons: texts(node, schema::REASON)?,
            load: num(schema::LOAD)?,
            cap: num(schema::CAPACITY)?,
            cpu: num(schema::CPU)?,
        })
    }

    /// Row `i` is a node leaving (or crashing).
    fn left(&self, i: usize) -> bool {
        self.events[i]
            .is_some_and(|e| e.eq_ignore_ascii_case("leave") || e.eq_ignore_ascii_case("crash"))
    }
}

/// CPU at or above which a node is saturated: asked for more than it can take.
pub const SATURATED_CPU: f64 = 95.0;

/// What one capacity node takes, measured in the node table: how many clients it holds
/// (`capacity`), how fast it admits them (the fastest its load grew), from how many logins a
/// minute it is overloaded (where its CPU line reaches [`SATURATED_CPU`]), and how often an
/// overloaded node drops out (leaves whose reason is overload, per node-minute saturated).
/// A knob whose columns the logs lack keeps the model's value and stays assumed.
fn fit_capacity(
    p: &mut SimParams,
    m: &mut BTreeMap<String, Measured>,
    nodes: &NodeRows,
    series: &SeriesSet,
) -> Result<(), WhatifError> {
    let NodeRows { ts, names, events, reasons, load, cap, cpu } = nodes;
    let n = ts.len();
    let col_or_none = |v: &Option<Vec<Option<f64>>>, i: usize| v.as_ref().and_then(|v| v[i]);

    // Clients a node holds: the median capacity the nodes report.
    let mut caps: Vec<f64> = (0..n).filter_map(|i| col_or_none(cap, i)).collect();
    if caps.len() >= 20 {
        p.supernode_capacity = median(&mut caps).round().clamp(1.0, 1e6) as u32;
        measured(m, "supernode_capacity", p.supernode_capacity, "the median capacity nodes report");
    }

    // Rows of each node in time order.
    let mut order: Vec<usize> = (0..n).filter(|&i| names[i].is_some()).collect();
    order.sort_by(|&a, &b| (&names[a], ts[a]).cmp(&(&names[b], ts[b])));
    let same = |a: usize, b: usize| names[a] == names[b];

    // Admissions a minute: the fastest a node's load grew between two of its rows at least 5
    // minutes apart, the later one below capacity (a full node cannot show its pace). Load
    // also falls as clients leave, so the fastest growth is a floor: rounded up to whole logins.
    let mut fastest: Option<f64> = None;
    let mut paces = 0usize;
    for w in order.windows(2) {
        let (a, b) = (w[0], w[1]);
        let (Some(l0), Some(l1)) = (col_or_none(load, a), col_or_none(load, b)) else {
            continue;
        };
        let minutes = (ts[b] - ts[a]) as f64 / 60_000.0;
        let full = col_or_none(cap, b).is_some_and(|c| l1 >= c);
        if !same(a, b) || minutes < 5.0 || full || l1 <= l0 {
            continue;
        }
        let pace = (l1 - l0) / minutes.ceil();
        paces += 1;
        fastest = Some(fastest.map_or(pace, |f: f64| f.max(pace)));
    }
    if let (Some(f), true) = (fastest, paces >= 20) {
        p.admit_per_min = (f - 1e-9).ceil().clamp(1.0, 1e6) as u32;
        measured(
            m,
            "admit_per_min",
            p.admit_per_min,
            "the fastest a node's load grew between two of its rows 5 minutes or more apart \
             (the later below capacity), rounded up to whole logins a minute",
        );
    }

    // Overload: a node's CPU against the logins a minute each node online was asked for
    // (attempts over nodes online in that minute), a straight line fitted where nodes were asked
    // for fewer than they admit; the logins at which the line reaches saturation, in whole
    // logins, over the admission rate.
    let (attempts, online) =
        (series.get(schema::signal::ATTEMPTS), series.get(schema::signal::NODES_ONLINE));
    let per_node = |t: i64| -> Option<f64> {
        let i = series.index(t)?;
        let (a, o) = (attempts?.get(i)?, online?.get(i)?);
        (*o > 0.0).then(|| a / o / (series.bucket_ms as f64 / 60_000.0))
    };
    let samples: Vec<(f64, f64)> = (0..n)
        .filter_map(|i| Some((per_node(ts[i])?, col_or_none(cpu, i)?)))
        .filter(|(x, _)| *x < f64::from(p.admit_per_min))
        .collect();
    let saturated_at = line_fit(&samples).and_then(|(b0, b1)| {
        (b1 > 0.0 && b0 < SATURATED_CPU).then(|| ((SATURATED_CPU - b0) / b1).round())
    });
    if let (Some(at), true) = (saturated_at, samples.len() >= 100) {
        p.overload_factor = round_to((at / f64::from(p.admit_per_min)).clamp(0.5, 100.0), 2);
        measured(
            m,
            "overload_factor",
            p.overload_factor,
            "node CPU against logins a minute per node online (a line fitted below the admission \
             rate): the logins at which it reaches 95% (saturated), over the admission rate",
        );
    }

    // Capacity lost to overload: leaves whose reason says overload, per node-minute spent
    // saturated (rows at 95% CPU or more, each standing for its node's usual gap between rows).
    let mut gaps: Vec<f64> = order
        .windows(2)
        .filter(|w| {
            same(w[0], w[1]) && events[w[1]].is_some_and(|e| e.eq_ignore_ascii_case("sample"))
        })
        .map(|w| (ts[w[1]] - ts[w[0]]) as f64)
        .filter(|g| *g > 0.0)
        .collect();
    let saturated =
        (0..n).filter(|&i| col_or_none(cpu, i).is_some_and(|c| c >= SATURATED_CPU)).count();
    let dropped = (0..n)
        .filter(|&i| {
            nodes.left(i) && reasons[i].is_some_and(|r| r.to_ascii_lowercase().contains("overload"))
        })
        .count();
    if gaps.len() >= 20 && saturated >= 10 && reasons.iter().any(Option::is_some) {
        let gap_min = median(&mut gaps) / 60_000.0;
        p.overload_drop_chance =
            round_to((dropped as f64 / (saturated as f64 * gap_min)).min(1.0), 3);
        measured(
            m,
            "overload_drop_chance",
            p.overload_drop_chance,
            "leaves whose reason is overload per node-minute saturated (rows at 95% CPU or more, \
             each the median gap between a node's rows)",
        );
    }
    Ok(())
}

/// One policy's replay.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyRun {
    pub policy: Policy,
    pub outcome: Outcome,
}

/// `whatif.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Whatif {
    pub fit: Fit,
    pub observed: Outcome,
    /// The `observed` policy's replay: the check of the model.
    pub replay: Outcome,
    /// Each outcome's miss of the replay against the incident (relative; the capacity share
    /// in points), and whether all are within [`TOLERANCE`].
    pub misses: BTreeMap<String, f64>,
    pub reproduces: bool,
    /// The policies' replays; empty when the model does not reproduce the incident.
    pub policies: Vec<PolicyRun>,
    pub seed: u64,
    /// Replays per policy; each outcome is their median.
    pub replays: usize,
    pub tolerance: f64,
}

impl Whatif {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// The outcomes the replay misses by more than the tolerance, with their misses.
    fn off(&self) -> impl Iterator<Item = (&String, f64)> + '_ {
        self.misses.iter().map(|(k, m)| (k, *m)).filter(|(_, m)| m.abs() > self.tolerance)
    }
}

/// What to replay and where the scratch runs go.
#[derive(Debug, Clone)]
pub struct WhatifOptions {
    pub policies: Vec<Policy>,
    /// The policies' knobs (backoff cap, retry budget, spread, shield).
    pub knobs: simulate::PolicyKnobs,
    pub seed: u64,
    /// Replays per policy (seeds `seed`, `seed + 1`, ...): each outcome is their median.
    pub replays: usize,
    /// Scratch directory for the replays' logs; each run's is removed after it.
    pub work: PathBuf,
}

/// Replays per policy unless told otherwise.
pub const REPLAYS: usize = 3;

/// Simulates `params` into `work` and analyzes it as rootline analyzes any incident: a
/// replay, or (in `rootline eval whatif`) the true counterfactual.
pub fn replay(params: &SimParams, work: &Path) -> Result<Outcome, WhatifError> {
    let dir = work.join(format!("replay-{}-{}", params.policy, params.seed));
    let (_, a) = simulate_and_analyze(params, &dir)?;
    Ok(Outcome::of(&a.findings, &a.series, params.end_ms()))
}

/// Simulates `params` into `dir` and analyzes the logs as rootline analyzes any incident; the
/// logs are removed afterwards (the tables stay in the returned incident).
pub fn simulate_and_analyze(
    params: &SimParams,
    dir: &Path,
) -> Result<(Incident, crate::pipeline::Analysis), WhatifError> {
    let io = |source| WhatifError::Io { path: dir.to_path_buf(), source };
    let out = SimOutput { dir: dir.to_path_buf(), format: SimFormat::Text, gzip: false };
    simulate::simulate(params, &out, &|_| {}).map_err(io)?;
    let incident =
        Incident::load(&Input::Config(dir.join("incident.toml")), &LoadOptions::default());
    let result = incident.and_then(|i| {
        let a = i.analyze(&AnalyzeOptions::default())?;
        Ok((i, a))
    });
    let _ = std::fs::remove_dir_all(dir);
    Ok(result?)
}

/// Replays `params` `n` times, with seeds `seed`, `seed + 1`, ... (in parallel), and takes each
/// outcome's median: the model's expected course rather than one draw of it (at a few
/// thousand clients one draw's busiest hour moves by 15% from seed to seed), and the chart's
/// hourly medians.
pub fn replay_median(params: &SimParams, work: &Path, n: usize) -> Result<Outcome, WhatifError> {
    use rayon::prelude::*;
    let runs = (0..n.max(1) as u64)
        .into_par_iter()
        .map(|k| replay(&params.clone().with_seed(params.seed.wrapping_add(k)), work))
        .collect::<Result<Vec<Outcome>, WhatifError>>()?;
    Ok(median_outcome(runs))
}

/// Each field's median over the runs.
fn median_outcome(runs: Vec<Outcome>) -> Outcome {
    let mid = |f: &dyn Fn(&Outcome) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
    let peak = mid(&|o| o.peak_demand_per_min);
    // The chart's course hour by hour is the median too: the runs of every policy share their
    // seeds, so before the policy acts all policies draw the same line.
    let hourly = |f: &dyn Fn(&Curve) -> &Vec<f64>| -> Vec<f64> {
        let len = runs.iter().map(|o| f(&o.curve).len()).min().unwrap_or(0);
        (0..len)
            .map(|i| median(&mut runs.iter().map(|o| f(&o.curve)[i]).collect::<Vec<_>>()))
            .collect()
    };
    let curve = Curve {
        start_ms: runs.first().map_or(0, |o| o.curve.start_ms),
        nodes: hourly(&|c| &c.nodes),
        logins: hourly(&|c| &c.logins),
    };
    Outcome {
        peak_demand_ratio: mid(&|o| o.peak_demand_ratio),
        peak_demand_per_min: peak,
        surge_peak_ratio: mid(&|o| o.surge_peak_ratio),
        peak_load_over_capacity: mid(&|o| o.peak_load_over_capacity),
        lowest_capacity_share: mid(&|o| o.lowest_capacity_share),
        failed_logins: mid(&|o| o.failed_logins as f64) as u64,
        attempts: mid(&|o| o.attempts as f64) as u64,
        users_locked_out: mid(&|o| o.users_locked_out as f64) as u64,
        hours_majority_locked_out: mid(&|o| o.hours_majority_locked_out as f64) as u64,
        time_to_recover_h: mid(&|o| o.time_to_recover_h),
        curve,
    }
}

/// Fits the model, replays the incident, and when the replay reproduces it, every policy.
pub fn run(
    incident: &Incident,
    analysis: &crate::pipeline::Analysis,
    o: &WhatifOptions,
    progress: &dyn Fn(&str),
) -> Result<Whatif, WhatifError> {
    let f = &analysis.findings;
    let mut fit = fit(incident, f, &analysis.series)?;
    fit.params = fit.params.with_knobs(o.knobs);
    let end = crate::tables::span(&incident.tables).map_or(0, |(_, hi)| hi);
    let observed = Outcome::of(f, &analysis.series, end);
    let base = fit.params.clone().with_seed(o.seed);
    progress("observed");
    let replayed = replay_median(&base.clone().with_policy(Policy::Observed), &o.work, o.replays)?;
    let misses = observed.misses(&replayed);
    let reproduces = misses.values().all(|m| m.abs() <= TOLERANCE);
    let mut policies = Vec::new();
    if reproduces {
        for &policy in o.policies.iter().filter(|p| **p != Policy::Observed) {
            progress(policy.as_str());
            let outcome = replay_median(&base.clone().with_policy(policy), &o.work, o.replays)?;
            policies.push(PolicyRun { policy, outcome });
        }
    }
    Ok(Whatif {
        fit,
        observed,
        replay: replayed,
        misses: misses.into_iter().map(|(k, v)| (k, round_to(v, 2))).collect(),
        reproduces,
        policies,
        seed: o.seed,
        replays: o.replays.max(1),
        tolerance: TOLERANCE,
    })
}

/// The result as a table for the terminal: the incident, the replay and each policy.
pub fn table(w: &Whatif) -> String {
    use std::fmt::Write as _;
    let mut s = format!(
        "{:<16} {:>7} {:>11} {:>13} {:>8} {:>11} {:>10} {:>10}\n",
        "", "peak x", "busy hour", "capacity low", "failed", "locked out", "bad hours", "recover h"
    );
    let mut row = |name: &str, o: &Outcome| {
        let _ = writeln!(
            s,
            "{name:<16} {:>7.0} {:>7.0}/min {:>12.0}% {:>8} {:>11} {:>10} {:>10.1}",
            o.peak_demand_ratio,
            o.peak_demand_per_min,
            100.0 * o.lowest_capacity_share,
            o.failed_logins,
            o.users_locked_out,
            o.hours_majority_locked_out,
            o.time_to_recover_h
        );
    };
    row("incident", &w.observed);
    row("replay", &w.replay);
    for p in &w.policies {
        row(p.policy.as_str(), &p.outcome);
    }
    let _ = if w.replays > 1 {
        writeln!(
            s,
            "replay and policy rows: medians of {} runs (seeds {}-{})",
            w.replays,
            w.seed,
            w.seed + w.replays as u64 - 1
        )
    } else {
        writeln!(s, "replay and policy rows: one run each (seed {})", w.seed)
    };
    if w.reproduces {
        let _ = writeln!(
            s,
            "the replay reproduces the incident within {:.0}% (busy hour, failed logins, time \
             to recover) and {:.0} points (capacity low)",
            100.0 * w.tolerance,
            100.0 * w.tolerance
        );
    } else {
        let off: Vec<String> = w.off().map(|(k, m)| format!("{k} {:+.0}%", 100.0 * m)).collect();
        let _ = writeln!(
            s,
            "the replay does not reproduce the incident ({}): no counterfactual numbers",
            off.join(", ")
        );
    }
    s
}

/// What a policy is, in a responder's words, and as an action item.
fn policy_words(p: Policy, params: &SimParams) -> (String, String) {
    match p {
        Policy::Observed => ("as it was".into(), String::new()),
        Policy::BackoffJitter => (
            format!(
                "clients backing off exponentially with full jitter, waiting at most {:.0} min",
                params.backoff_cap_s / 60.0
            ),
            format!(
                "Give clients exponential backoff with full jitter (at most {:.0} min)",
                params.backoff_cap_s / 60.0
            ),
        ),
        Policy::RetryBudget => (
            format!("a retry budget of {} per client per hour", params.retry_budget_per_h),
            format!("Give clients a retry budget of {} an hour", params.retry_budget_per_h),
        ),
        Policy::AdmissionQueue => (
            "supernodes queueing excess logins instead of failing them".into(),
            "Queue excess logins at the capacity nodes instead of failing them".into(),
        ),
        Policy::StaggerRollout => (
            format!("the patch's restarts spread over {:.0} h", params.stagger_hours),
            format!("Spread the change's restarts over {:.0} h", params.stagger_hours),
        ),
        Policy::ShieldCapacity => (
            format!(
                "supernodes putting their restart off by {:.0} h, out of the wave",
                params.shield_hours
            ),
            format!(
                "Keep the capacity nodes out of the restart wave (restart them {:.0} h later)",
                params.shield_hours
            ),
        ),
    }
}

/// Words of the story's general action items that a policy's replay speaks to: when the
/// replay says the policy would not have shortened the outage, an item that advises it (and
/// no policy that would have) gives way to the replay's numbers.
fn advice_words(p: Policy) -> &'static [&'static str] {
    match p {
        Policy::BackoffJitter => &["exponential backoff"],
        Policy::RetryBudget => &["retry budget"],
        _ => &[],
    }
}

/// The report's "What would have helped" lines, the action items that quote the replays'
/// numbers, and the words of general action items the replays contradict (`rootline report
/// --whatif`). Each policy is compared with the model's replay of what happened, not with
/// the incident: the same model on both sides.
pub fn story_lines(w: &Whatif) -> crate::report::Helped {
    let (lines, actions, superseded) = lines_actions(w);
    crate::report::Helped {
        lines,
        actions,
        superseded,
        svg: crate::report::chart::svg(&chart(w)).ok().filter(|_| w.reproduces),
    }
}

fn lines_actions(w: &Whatif) -> (Vec<String>, Vec<String>, Vec<String>) {
    if !w.reproduces {
        let off: Vec<String> =
            w.off().map(|(k, m)| format!("{} {:+.0}%", k.replace('_', " "), 100.0 * m)).collect();
        return (
            vec![format!(
                "rootline whatif fitted a model to these logs, but its replay of what happened \
                 does not reproduce the incident ({}), so no policy is judged by it.",
                off.join(", ")
            )],
            Vec::new(),
            Vec::new(),
        );
    }
    let r = &w.replay;
    let mut lines = vec![format!(
        "From rootline whatif: the model fitted to these logs replays the incident within {:.0}% \
         (most users unable to log in for {} hours, {} failed logins, recovered {:.0} h after the \
         change wave). Each policy below is that replay run again with one thing changed.",
        100.0 * w.tolerance,
        r.hours_majority_locked_out,
        r.failed_logins,
        r.time_to_recover_h
    )];
    let (mut actions, mut helping, mut not) = (Vec::new(), Vec::new(), Vec::new());
    let mut ranked: Vec<&PolicyRun> = w.policies.iter().collect();
    ranked.sort_by_key(|p| p.outcome.hours_majority_locked_out);
    for p in ranked {
        let o = &p.outcome;
        let (words, action) = policy_words(p.policy, &w.fit.params);
        let (h, rh) = (o.hours_majority_locked_out, r.hours_majority_locked_out);
        let hours = if h == rh {
            format!("{h} hours, as in the replay")
        } else {
            format!("{h} hours instead of {rh}")
        };
        let numbers = format!(
            "most users unable to log in for {hours}, {} failed logins instead of {}, the busiest \
             hour at {:.0}x the day before instead of {:.0}x",
            o.failed_logins, r.failed_logins, o.peak_demand_ratio, r.peak_demand_ratio
        );
        let share = o.hours_majority_locked_out as f64 / r.hours_majority_locked_out.max(1) as f64;
        let verdict = if share <= 0.75 {
            "it would have shortened the outage"
        } else if share <= 0.95 {
            "the outage would have been a little shorter"
        } else {
            "the outage would have lasted about as long"
        };
        lines.push(format!("{} ({words}): {numbers}; {verdict}.", p.policy));
        if share <= 0.75 {
            actions.push(format!("{action}: in the replay ({}), {numbers}.", p.policy));
            helping.extend(advice_words(p.policy));
        } else if share > 0.95 {
            not.extend(advice_words(p.policy));
        }
    }
    let superseded = not.into_iter().filter(|w| !helping.contains(w)).map(str::to_string).collect();
    (lines, actions, superseded)
}

/// The chart of the incident against the replay and each policy: nodes online, and logins a
/// minute (hourly means), one line each (`whatif.png`, `whatif.svg`).
pub fn chart(w: &Whatif) -> crate::report::chart::Timeline {
    use crate::report::chart::{Line, Panel, Timeline};
    use plotters::style::RGBColor;
    let palette = [
        RGBColor(230, 81, 0),
        RGBColor(94, 53, 177),
        RGBColor(0, 137, 123),
        RGBColor(30, 136, 229),
        RGBColor(216, 27, 96),
    ];
    let mut runs: Vec<(String, RGBColor, &Outcome)> = vec![
        ("incident".into(), RGBColor(33, 33, 33), &w.observed),
        ("replay".into(), RGBColor(158, 158, 158), &w.replay),
    ];
    for (i, p) in w.policies.iter().enumerate() {
        runs.push((p.policy.to_string(), palette[i % palette.len()], &p.outcome));
    }
    let origin = w.observed.curve.start_ms.div_euclid(DAY_MS) * DAY_MS;
    let x = |c: &Curve, i: usize| (c.start_ms + i as i64 * HOUR_MS - origin) as f64 / DAY_MS as f64;
    let panel = |title: &str, unit: &str, pick: fn(&Curve) -> &Vec<f64>| Panel {
        title: title.into(),
        unit: unit.into(),
        integer: true,
        lines: runs
            .iter()
            .map(|(label, color, o)| Line {
                label: label.clone(),
                color: *color,
                points: pick(&o.curve)
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (x(&o.curve, i), *v))
                    .collect(),
                bold: label == "incident",
            })
            .collect(),
    };
    let x_max = runs
        .iter()
        .map(|(_, _, o)| x(&o.curve, o.curve.nodes.len().max(o.curve.logins.len())))
        .fold(1.0, f64::max);
    Timeline {
        title: "What would have helped: the incident, its replay and each policy".into(),
        origin_ms: origin,
        unit_ms: DAY_MS,
        x_min: 0.0,
        x_max,
        panels: vec![
            panel("Capacity: nodes online (hourly mean)", "nodes", |c| &c.nodes),
            panel("Demand: logins a minute (hourly mean)", "logins/min", |c| &c.logins),
        ],
        phases: Vec::new(),
        marks: Vec::new(),
    }
}

/// Writes whatif.json, whatif.svg and whatif.png into `dir`; returns the paths.
pub fn write(w: &Whatif, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    use crate::report::chart;
    std::fs::create_dir_all(dir)?;
    let json = dir.join("whatif.json");
    crate::atomic::write(&json, w.to_json().as_bytes())?;
    let t = chart(w);
    let svg = dir.join("whatif.svg");
    crate::atomic::write(&svg, chart::svg(&t).map_err(std::io::Error::other)?.as_bytes())?;
    let png = dir.join("whatif.png");
    chart::png(&t, &png).map_err(std::io::Error::other)?;
    Ok(vec![json, svg, png])
}

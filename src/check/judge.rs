//! The judgement: from the findings about a window, the status, the summary and the
//! performance data.

use super::status::{CheckResult, Status, Thresholds};
use crate::findings::{Episode, Findings, Link};
use crate::schema::signal;
use crate::units::{rfc3339_ms, rfc3339_secs as rfc3339, round_to, short_number};

/// The findings about the window: episodes that overlap it, links that end in it, phases that
/// touch it. Inputs, params, coupling, feedback and impact stay as the analysis made them.
pub fn within(f: &Findings, start: i64, end: i64) -> Findings {
    let keep = |v: &[Episode]| -> Vec<Episode> {
        v.iter().filter(|e| e.overlaps(start, end - 1)).cloned().collect()
    };
    let in_window = |t: &str| (start..end).contains(&rfc3339_ms(t));
    let mut out = f.clone();
    out.surges = keep(&f.surges);
    out.exhaustions = keep(&f.exhaustions);
    out.failures = keep(&f.failures);
    out.changes = keep(&f.changes);
    out.chain = f.chain.iter().filter(|l: &&Link| in_window(&l.to_at)).cloned().collect();
    out.phases = f
        .phases
        .iter()
        .filter(|p| rfc3339_ms(&p.start) < end && rfc3339_ms(&p.end) >= start)
        .cloned()
        .collect();
    out.recovery = f.recovery.clone().filter(|r| in_window(r));
    out
}

/// Sets status, summary and perfdata from the window's findings.
pub(crate) fn classify(
    r: &mut CheckResult,
    f: &Findings,
    start: i64,
    end: i64,
    bucket_ms: i64,
    thresholds: &Thresholds,
) {
    let at = |t: &str| {
        let ms = rfc3339_ms(t).clamp(start, end);
        let full = rfc3339(ms);
        if full[..10] == rfc3339(start)[..10] {
            format!("{}Z", &full[11..16])
        } else {
            format!("{}Z", &full[..16])
        }
    };
    let top = |v: &[Episode]| v.iter().max_by(|a, b| a.score.total_cmp(&b.score)).cloned();
    let mut parts = Vec::new();
    if let Some(s) = top(&f.surges) {
        let what =
            if s.series == signal::ATTEMPTS { "login".to_string() } else { s.series.clone() };
        parts.push(format!("{what} surge {:.1}x at {}", s.ratio, at(&s.peak)));
        r.perfdata.insert(format!("{}_ratio", s.series), round_to(s.ratio, 2));
    }
    if let Some(x) = top(&f.exhaustions) {
        if x.series == signal::UTILISATION {
            parts.push(format!("utilisation {:.0}% at {}", 100.0 * x.peak_value, at(&x.peak)));
            r.perfdata.insert(signal::UTILISATION.into(), round_to(x.peak_value, 3));
        } else {
            let drop =
                if x.baseline > 0.0 { 100.0 * (1.0 - x.peak_value / x.baseline) } else { 0.0 };
            let what = x.series.replace('_', " ");
            parts.push(format!("{what} -{drop:.0}% at {}", at(&x.peak)));
            r.perfdata.insert(format!("{}_drop", x.series), round_to(drop, 1));
        }
    }
    if let Some(x) = top(&f.failures) {
        let per =
            if bucket_ms == 60_000 { "min".to_string() } else { format!("{}s", bucket_ms / 1000) };
        parts.push(format!(
            "failed logins {}/{per} at {} (usually {})",
            short_number(round_to(x.peak_value, 1), 3),
            at(&x.peak),
            short_number(round_to(x.baseline, 1), 3)
        ));
        r.perfdata.insert("failed_logins_peak".into(), round_to(x.peak_value, 2));
    }
    if let Some(w) = top(&f.changes) {
        let kind = w.series.trim_start_matches(signal::CHANGE_PREFIX);
        let kind = if kind == "changes" { "change" } else { kind };
        parts.push(format!("{kind} wave at {}", at(&w.peak)));
    }
    for (k, v) in [
        ("surges", f.surges.len()),
        ("exhaustions", f.exhaustions.len()),
        ("failure_episodes", f.failures.len()),
        ("change_waves", f.changes.len()),
    ] {
        r.perfdata.insert(k.into(), v as f64);
    }
    r.thresholds = thresholds.clone();
    let of =
        |label: &str| r.perfdata.get(label).map_or(Status::Ok, |v| thresholds.status_of(label, *v));
    let mut status = r.perfdata.keys().map(|k| of(k)).max().unwrap_or(Status::Ok);
    // Demand rising as capacity falls is the outage itself, whatever each is alone.
    let capacity = of("nodes_online_drop").max(of("utilisation"));
    if of("attempts_ratio") >= Status::Warning && capacity >= Status::Warning {
        status = Status::Critical;
    }
    r.status = status;
    r.code = status.code();
    if r.status == Status::Ok {
        let night = r.night.clone().unwrap_or_else(|| rfc3339(start));
        let episodes = f.surges.len() + f.exhaustions.len() + f.failures.len();
        let quiet = if episodes == 0 {
            format!("no surge, exhaustion or failures in {night}")
        } else {
            format!("below the thresholds in {night}")
        };
        parts.insert(0, quiet);
    }
    if !f.chain.is_empty() {
        let chain: Vec<String> = f.chain.iter().map(|l| format!("{}->{}", l.from, l.to)).collect();
        parts.push(format!("chain {}", chain.join(", ")));
    }
    r.summary = parts.join(", ");
    r.surges = f.surges.clone();
    r.exhaustions = f.exhaustions.clone();
    r.failures = f.failures.clone();
    r.changes = f.changes.clone();
    r.chain = f.chain.clone();
}

//! Report: findings -> what people read. Writes `report.html` (one self-contained file:
//! inline CSS and SVG, no network), `timeline.svg` and `timeline.png`, `summary.md` (the usual
//! postmortem template) and `findings.json`. Every string that came from a log or a config is
//! escaped where it is rendered; every lesson cites the numbers it stands on.

pub mod chart;
mod story;

use std::io;
use std::path::{Path, PathBuf};

use plotters::style::RGBColor;

use crate::detect::SeriesSet;
use crate::detect::baseline::bands;
use crate::findings::Findings;
use crate::schema::signal;
pub use story::{Helped, Story};

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Sums (or averages) a series into about `points` display buckets: (x, value per minute),
/// x in the timeline's units.
/// More buckets than this are drawn as each display bucket's lowest and highest value, so
/// that a spike or a crash shows at its real height.
fn display(s: &SeriesSet, x: &[f64], points: usize, mean: bool, axis: &Axis) -> Vec<(f64, f64)> {
    let step = (s.len / points.max(1)).max(1);
    let per_min = s.bucket_ms as f64 / 60_000.0;
    let scale = |v: f64| if mean { v } else { v / per_min };
    if step == 1 {
        return x.iter().enumerate().map(|(i, v)| (axis.x(s.at(i)), scale(*v))).collect();
    }
    let mut out = Vec::with_capacity(2 * x.len() / step + 2);
    for (k, c) in x.chunks(step).enumerate() {
        let at = |j: usize| axis.x(s.at(k * step + j));
        let (mut lo, mut hi) = (0, 0);
        for (j, v) in c.iter().enumerate() {
            if *v < c[lo] {
                lo = j;
            }
            if *v > c[hi] {
                hi = j;
            }
        }
        // In the order they happened, so the line goes down to a crash and back up.
        for j in if lo <= hi { [lo, hi] } else { [hi, lo] } {
            out.push((at(j), scale(c[j])));
        }
    }
    out
}

/// A smooth line (the mean of each display bucket), for baselines.
fn display_mean(s: &SeriesSet, x: &[f64], points: usize, axis: &Axis) -> Vec<(f64, f64)> {
    let step = (s.len / points.max(1)).max(1);
    let per_min = s.bucket_ms as f64 / 60_000.0;
    x.chunks(step)
        .enumerate()
        .map(|(k, c)| (axis.x(s.at(k * step)), c.iter().sum::<f64>() / c.len() as f64 / per_min))
        .collect()
}

/// Metric panels drawn at most (the metrics that shifted first).
const MAX_METRIC_PANELS: usize = 3;

/// The time axis: whole days for spans over three days, else hours.
struct Axis {
    origin_ms: i64,
    unit_ms: i64,
}

impl Axis {
    fn for_span(start_ms: i64, end_ms: i64) -> Axis {
        let unit_ms = if end_ms - start_ms > 3 * 86_400_000 { 86_400_000 } else { 3_600_000 };
        Axis { origin_ms: start_ms.div_euclid(unit_ms) * unit_ms, unit_ms }
    }
    fn x(&self, ms: i64) -> f64 {
        (ms - self.origin_ms) as f64 / self.unit_ms as f64
    }
}

/// Builds the timeline chart's data from the series and findings.
pub fn timeline(s: &SeriesSet, f: &Findings, title: &str) -> chart::Timeline {
    let end_ms = s.at(s.len);
    let axis = Axis::for_span(s.start_ms, end_ms);
    let hours_of = |t: &str| axis.x(crate::units::rfc3339_ms(t));
    let mut panels = Vec::new();
    if let (Some(a), Some(fl)) = (s.get(signal::ATTEMPTS), s.get(signal::FAILURES)) {
        let base: Vec<f64> = bands(a, &crate::detect::baseline_options(s, &f.params.detect))
            .iter()
            .zip(a)
            .map(|(b, v)| b.map_or(*v, |b| b.median))
            .collect();
        panels.push(chart::Panel {
            title: "demand".into(),
            unit: "logins / min".into(),
            integer: true,
            lines: vec![
                chart::Line {
                    label: "attempts".into(),
                    color: RGBColor(30, 100, 200),
                    points: display(s, a, 700, false, &axis),
                    bold: false,
                },
                chart::Line {
                    label: "baseline".into(),
                    color: RGBColor(120, 120, 120),
                    points: display_mean(s, &base, 700, &axis),
                    bold: true,
                },
            ],
        });
        // Failures on their own axis: a few a minute vanish under a flood's hundreds.
        panels.push(chart::Panel {
            title: "failures".into(),
            unit: "failed / min".into(),
            integer: true,
            lines: vec![chart::Line {
                label: "failed logins".into(),
                color: RGBColor(211, 47, 47),
                points: display(s, fl, 700, false, &axis),
                bold: false,
            }],
        });
    }
    if let Some(n) = s.get(signal::NODES_ONLINE) {
        panels.push(chart::Panel {
            title: "capacity".into(),
            unit: "nodes online".into(),
            integer: true,
            lines: vec![chart::Line {
                label: "nodes online".into(),
                color: RGBColor(46, 125, 50),
                points: display(s, n, 700, true, &axis),
                bold: false,
            }],
        });
    }
    let mut change_lines = Vec::new();
    for (name, color) in
        [("change_reboot", RGBColor(230, 81, 0)), ("change_install", RGBColor(94, 53, 177))]
    {
        if let Some(x) = s.get(name) {
            change_lines.push(chart::Line {
                label: name.trim_start_matches("change_").to_string() + "s",
                color,
                points: display(s, x, 700, false, &axis),
                bold: false,
            });
        }
    }
    if change_lines.is_empty()
        && let Some(x) = s.get(signal::CHANGES)
    {
        change_lines.push(chart::Line {
            label: "changes".into(),
            color: RGBColor(94, 53, 177),
            points: display(s, x, 700, false, &axis),
            bold: false,
        });
    }
    // Kinds on scales five times apart get a panel each: 40 reboots a minute drawn on the
    // axis of 700 installs a minute is a flat line nobody can read.
    let peak = |l: &chart::Line| l.points.iter().map(|p| p.1).fold(0.0, f64::max);
    let apart = change_lines.len() == 2 && {
        let (a, b) = (peak(&change_lines[0]), peak(&change_lines[1]));
        a.min(b) * 5.0 < a.max(b)
    };
    let groups: Vec<Vec<chart::Line>> = if apart {
        change_lines.into_iter().map(|l| vec![l]).collect()
    } else if change_lines.is_empty() {
        Vec::new()
    } else {
        vec![change_lines]
    };
    for lines in groups {
        panels.push(chart::Panel {
            title: "changes".into(),
            unit: "per min".into(),
            integer: true,
            lines,
        });
    }
    // Plain metrics: the ones that shifted first, a few at most, each on its own scale.
    let mut metrics: Vec<&String> =
        s.cols.keys().filter(|k| k.starts_with(signal::METRIC_PREFIX)).collect();
    metrics.sort_by_key(|n| (!f.metrics.iter().any(|e| &e.series == *n), *n));
    for name in metrics.into_iter().take(MAX_METRIC_PANELS) {
        let label = name.trim_start_matches(signal::METRIC_PREFIX).to_string();
        panels.push(chart::Panel {
            title: label.clone(),
            unit: "value".into(),
            integer: false,
            lines: vec![chart::Line {
                label,
                color: RGBColor(0, 131, 143),
                points: display(s, &s.cols[name], 700, true, &axis),
                bold: false,
            }],
        });
    }
    let phases =
        f.phases.iter().map(|p| (p.name.clone(), hours_of(&p.start), hours_of(&p.end))).collect();
    let mut marks: Vec<(String, f64)> = Vec::new();
    for l in &f.chain {
        if let Some(c) = &l.change {
            marks.push((c.kind.clone(), hours_of(&l.from_at)));
        }
    }
    // Every episode is marked; the main ones are labelled.
    let main_wave = f.changes.iter().max_by(|a, b| a.score.total_cmp(&b.score));
    for w in &f.changes {
        let main = main_wave.is_some_and(|m| std::ptr::eq(m, w));
        let kind = w.series.trim_start_matches(signal::CHANGE_PREFIX);
        marks.push((if main { format!("{kind} wave") } else { String::new() }, hours_of(&w.onset)));
    }
    let main_surge = f.surges.iter().max_by(|a, b| a.score.total_cmp(&b.score));
    for e in &f.surges {
        let main = main_surge.is_some_and(|m| std::ptr::eq(m, e));
        marks.push((if main { "surge".into() } else { String::new() }, hours_of(&e.onset)));
    }
    for (i, x) in f.exhaustions.iter().enumerate() {
        marks.push((if i == 0 { "exhaustion".into() } else { String::new() }, hours_of(&x.onset)));
    }
    for (i, x) in f.failures.iter().enumerate() {
        marks.push((if i == 0 { "failures".into() } else { String::new() }, hours_of(&x.onset)));
    }
    if let Some(r) = &f.recovery {
        marks.push(("recovery".into(), hours_of(r)));
    }
    for e in &f.metrics {
        marks.push(("shift".into(), hours_of(&e.onset)));
    }
    marks.sort_by(|a, b| a.1.total_cmp(&b.1));
    chart::Timeline {
        title: title.to_string(),
        origin_ms: axis.origin_ms,
        unit_ms: axis.unit_ms,
        x_min: axis.x(s.start_ms),
        x_max: axis.x(end_ms),
        panels,
        phases,
        marks,
    }
}

/// Writes every report file into `dir`; returns their paths.
pub fn write(f: &Findings, s: &SeriesSet, title: &str, dir: &Path) -> io::Result<Vec<PathBuf>> {
    write_with(f, s, title, dir, None)
}

/// [`write`], with what would have helped (lines, and action items that quote numbers), as
/// `rootline whatif` tells it (`report --whatif`).
pub fn write_with(
    f: &Findings,
    s: &SeriesSet,
    title: &str,
    dir: &Path,
    helped: Option<Helped>,
) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let t = timeline(s, f, title);
    let svg = chart::svg(&t).map_err(io::Error::other)?;
    let mut story = Story::tell(f, title);
    if let Some(h) = helped {
        story = story.with_helped(h);
    }
    let files = [
        ("findings.json", f.to_json()),
        ("timeline.svg", svg.clone()),
        ("summary.md", story.markdown()),
        ("report.html", story.html(&svg)),
    ];
    let mut out = Vec::new();
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::write(&p, text)?;
        out.push(p);
    }
    let png = dir.join("timeline.png");
    chart::png(&t, &png).map_err(io::Error::other)?;
    out.push(png);
    Ok(out)
}

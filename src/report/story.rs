//! The story in words: three sentences, key numbers, the timeline with evidence, the chain,
//! lessons and action items — each derived from the findings and citing their numbers; where
//! the data cannot support a section, it says so. Rendered as Markdown and as HTML.

use std::fmt::Write as _;

use super::escape;
use crate::findings::{Episode, Findings, Link, LinkEnd};

/// A report's text, before it is rendered.
pub struct Story {
    pub title: String,
    pub sentences: Vec<String>,
    pub numbers: Vec<(String, String)>,
    /// (time, what, evidence)
    pub timeline: Vec<(String, String, String)>,
    pub chain: Vec<String>,
    pub trigger: String,
    pub root_causes: Vec<String>,
    pub detection: String,
    pub resolution: String,
    pub went_well: Vec<String>,
    pub went_wrong: Vec<String>,
    pub lucky: Vec<String>,
    pub actions: Vec<String>,
    /// (source, role, format, lines, rows, skipped, rejected)
    pub quality: Vec<Quality>,
}

fn strongest(e: &[Episode]) -> Option<&Episode> {
    e.iter().max_by(|a, b| a.score.total_cmp(&b.score))
}

/// Text as Markdown shows it literally: every character that could start formatting, a link,
/// an HTML tag or a table cell is escaped, and line breaks become spaces, so that no string
/// from a log (a file name, a change kind, a title) can add a heading, a link or a column.
pub fn md_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '#' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    // At the start of a list item, `- `, `+ `, `=` or `1. ` would open a block of its own.
    let digits = out.bytes().take_while(u8::is_ascii_digit).count();
    let marker_at = |i: usize| matches!(out.as_bytes().get(i + 1), None | Some(b' ' | b'\t'));
    if out.starts_with('=') || (out.starts_with(['-', '+']) && marker_at(0)) {
        out.insert(0, '\\');
    } else if digits > 0 && out[digits..].starts_with(['.', ')']) && marker_at(digits) {
        out.insert(digits, '\\');
    }
    out
}

/// `2007-08-16T02:13:00Z` -> `2007-08-16 02:13Z`.
fn hm(t: &str) -> String {
    let t = t.trim_end_matches('Z');
    let t = t.strip_suffix(":00").unwrap_or(t);
    t.replace('T', " ") + "Z"
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn hours(min: f64) -> String {
    if min >= 120.0 { format!("{:.1} h", min / 60.0) } else { format!("{min:.0} min") }
}

fn link_text(l: &Link) -> String {
    let x = match (l.xcorr, l.xcorr_lag_min) {
        (Some(r), Some(lag)) => format!("; cross-correlation {r:.2} at {lag:.0} min"),
        _ => String::new(),
    };
    // A negative lag: the later end's onset, read back to its band's edge, came first.
    let when = if l.lag_min < 0.0 { "within" } else { "after" };
    format!(
        "{} → {}: {} {when} {}{x}",
        l.from.as_str().replace('_', " "),
        l.to.as_str().replace('_', " "),
        hours(l.lag_min.abs()),
        hm(&l.from_at)
    )
}

/// What the sections share: the links and episodes the story is about.
struct Facts<'a> {
    trigger_link: Option<&'a Link>,
    surge: Option<&'a Episode>,
    exh: Option<&'a Episode>,
    wave: Option<&'a Link>,
    metrics_only: bool,
}

impl<'a> Facts<'a> {
    fn of(f: &'a Findings) -> Facts<'a> {
        let trigger_link = f.chain.iter().find(|l| l.from == LinkEnd::Change);
        let surge = strongest(&f.surges);
        let exh =
            f.exhaustions.iter().find(|e| e.series == "nodes_online").or(f.exhaustions.first());
        let wave = f.chain.iter().find(|l| l.to == LinkEnd::ChangeWave);
        let metrics_only = !f.inputs.is_empty()
            && f.inputs.iter().all(|i| i.role.is_none_or(|r| r == crate::schema::Role::Metric));
        Facts { trigger_link, surge, exh, wave, metrics_only }
    }
}

/// The lessons: root causes, what went well and wrong, where luck helped, action items.
struct Lessons {
    root_causes: Vec<String>,
    went_well: Vec<String>,
    went_wrong: Vec<String>,
    lucky: Vec<String>,
    actions: Vec<String>,
}

/// What happened, in three sentences.
fn sentences(f: &Findings, k: &Facts) -> Vec<String> {
    let Facts { trigger_link, surge, exh, wave, metrics_only, .. } = *k;
    let mut sentences = Vec::new();
    match (trigger_link, wave) {
        _ if metrics_only => sentences.push(format!(
            "These logs hold plain metrics only (no logins, nodes or changes), so there is no outage story to tell; the metrics took a shape not seen before in them {} time(s), listed in the timeline.",
            f.metrics.len()
        )),
        (Some(t), Some(w)) => sentences.push(format!(
            "{} was followed {} later by a burst of changes: {}.",
            capitalise(&t.evidence.first().cloned().unwrap_or_default()),
            hours(w.lag_min),
            w.evidence.get(1).cloned().unwrap_or_default()
        )),
        (Some(t), None) => {
            let what = match t.to {
                LinkEnd::Surge => "demand surged",
                LinkEnd::Exhaustion => "capacity fell",
                _ => "logins began to fail",
            };
            sentences.push(format!(
                "{} came {} before {what}.",
                capitalise(&t.evidence.first().cloned().unwrap_or_default()),
                hours(t.lag_min.max(0.0))
            ))
        }
        _ => sentences.push("No change in the logs explains what followed.".to_string()),
    }
    let mut second = Vec::new();
    if let Some(e) = surge {
        let how = if e.baseline > 0.0 {
            // Under 5-minute buckets the peak is a 5-minute mean (see `Episode`).
            let bucket_ms = f.params.bucket_ms;
            let over = if bucket_ms < 300_000 { " over 5 minutes" } else { "" };
            format!(
                "{:.1}x their baseline ({:.0} against {:.0}/min{over})",
                e.ratio, e.peak_value, e.baseline
            )
        } else {
            format!("{:.0}/min from a baseline of none", e.peak_value)
        };
        second.push(format!(
            "login attempts rose to {how} between {} and {}",
            hm(&e.onset),
            hm(&e.end)
        ));
    }
    if let Some(x) = exh {
        second.push(format!(
            "{} fell to {:.0}% of baseline ({} to {}) from {}",
            x.series.replace('_', " "),
            100.0 * x.ratio,
            x.baseline,
            x.peak_value,
            hm(&x.onset)
        ));
    }
    match (metrics_only, second.is_empty()) {
        (true, _) => {}
        (false, true) => {
            sentences.push("Demand did not surge and capacity did not run out.".into())
        }
        (false, false) => {
            let s = second.join(", while ");
            sentences.push(format!("{}{}.", s[..1].to_uppercase(), &s[1..]));
        }
    }
    match (&f.impact, &f.recovery) {
        (Some(i), Some(r)) => sentences.push(format!(
            "{} logins failed for {} users; demand and failures were back in their bands at {}{}.",
            i.failed_logins,
            i.users_affected,
            hm(r),
            i.time_to_recover_min.map(|m| format!(", {} after it began", hours(m))).unwrap_or_default()
        )),
        (Some(i), None) => sentences.push(format!(
            "{} logins failed for {} users, and the logs end before demand and failures were back to normal.",
            i.failed_logins, i.users_affected
        )),
        _ if metrics_only => {}
        _ => sentences.push("No episode was found, so there is no impact to report.".into()),
    }

    sentences
}

/// The key numbers.
fn numbers(f: &Findings, k: &Facts) -> Vec<(String, String)> {
    let Facts { surge, exh, .. } = *k;
    let mut numbers = Vec::new();
    if let Some(e) = surge {
        let v = if e.baseline > 0.0 {
            format!("{:.1}x baseline", e.ratio)
        } else {
            format!("{:.0}/min", e.peak_value)
        };
        numbers.push(("peak demand".into(), v));
    }
    if let Some(x) = exh {
        numbers.push(("capacity lost".into(), format!("{:.0}%", 100.0 * (1.0 - x.ratio))));
    }
    if let Some(i) = &f.impact {
        numbers.push(("failed logins".into(), i.failed_logins.to_string()));
        numbers.push(("users affected".into(), i.users_affected.to_string()));
        numbers.push(("duration".into(), hours(i.duration_min)));
        if let Some(t) = i.time_to_recover_min {
            numbers.push(("time to recover".into(), hours(t)));
        }
    }

    numbers
}

/// The timeline: (time, what, evidence), in time order.
fn timeline(f: &Findings) -> Vec<(String, String, String)> {
    let mut timeline: Vec<(String, String, String)> = Vec::new();
    for l in &f.chain {
        if l.from == LinkEnd::Change {
            timeline.push((
                l.from_at.clone(),
                "change".into(),
                l.evidence.first().cloned().unwrap_or_default(),
            ));
        }
    }
    let episodes = f.changes.iter().chain(&f.surges).chain(&f.exhaustions).chain(&f.failures);
    for e in episodes.chain(&f.metrics) {
        let first = if e.first_lines.is_empty() {
            String::new()
        } else {
            format!("; first lines: {}", e.first_lines.join(", "))
        };
        timeline.push((
            e.onset.clone(),
            format!("{} begins ({})", e.kind.as_str().replace('_', " "), e.series),
            format!("{}{first}", e.reason),
        ));
    }
    if let Some(r) = &f.recovery {
        timeline.push((
            r.clone(),
            "recovery".into(),
            "attempts and failures back in their bands".into(),
        ));
    }
    timeline.sort();

    timeline
}

/// The lessons, each citing the numbers it stands on.
fn lessons(f: &Findings, k: &Facts) -> Lessons {
    let Facts { trigger_link, surge, exh, .. } = *k;
    let mut went_wrong = Vec::new();
    let mut actions = Vec::new();
    let mut root_causes = Vec::new();
    if let Some(c) = &f.coupling
        && c.share >= 0.5
    {
        let s = format!(
            "{:.0}% of the capacity nodes lost ({} of {}) had restarted for the change themselves: the change took capacity away as it created demand.",
            100.0 * c.share,
            c.nodes_lost_to_change,
            c.nodes_lost
        );
        root_causes.push(s.clone());
        went_wrong.push(s);
        actions.push(format!(
            "Keep capacity nodes out of the clients' restart wave: stagger their restarts, since {} of them went down with it.",
            c.nodes_lost_to_change
        ));
    }
    if let Some(fb) = &f.feedback {
        if fb.per_user_baseline > 0.0 && fb.per_user_peak >= 1.2 * fb.per_user_baseline {
            let s = format!(
                "Retries fed the load: attempts per user reached {:.2} against {:.2} before the surge (correlation with the failure ratio {:.2}).",
                fb.per_user_peak, fb.per_user_baseline, fb.per_user_vs_failures
            );
            root_causes.push(s.clone());
            went_wrong.push(s);
            actions.push(format!(
                "Give clients exponential backoff with jitter and a retry budget: each user tried {:.2} times per minute at the peak.",
                fb.per_user_peak
            ));
        }
        if let Some(m) = fb.trigger_end_to_recovery_min
            && m >= 360.0
        {
            let s = format!(
                "The overload outlived its trigger: recovery came {} after the burst of changes ended.",
                hours(m)
            );
            root_causes.push(s.clone());
            went_wrong.push(s);
            actions.push(format!(
                "Make self-healing (adding capacity) work under load; it stalled for {} here. Test it with rootline simulate at a larger restart wave.",
                hours(m)
            ));
        }
    }
    if let Some(l) = f.chain.iter().find(|l| l.from == LinkEnd::Change && l.to == LinkEnd::Failures)
    {
        let s = format!(
            "{}; logins began failing {} later.",
            l.evidence.first().cloned().unwrap_or_default(),
            hours(l.lag_min)
        );
        root_causes.push(s.clone());
        went_wrong.push(s);
        actions.push(format!(
            "Canary such changes and roll back automatically when the failure ratio leaves its band: it took {} to show here.",
            hours(l.lag_min)
        ));
    }
    if let (Some(e), None) = (surge, trigger_link) {
        went_wrong.push(format!(
            "Demand rose {:.1}x with no change in the logs behind it ({}).",
            e.ratio,
            hm(&e.onset)
        ));
        actions.push(format!(
            "Alert on demand itself and keep headroom for {:.1}x the usual load at this hour.",
            e.ratio
        ));
    }
    let mut went_well = Vec::new();
    if let (Some(r), Some(i)) = (&f.recovery, &f.impact) {
        went_well.push(format!(
            "The service recovered at {} and stayed in band afterwards ({} of disruption in all).",
            hm(r),
            hours(i.duration_min)
        ));
    }
    if let Some(e) = surge
        && exh.is_none()
        && f.failures.is_empty()
    {
        went_well
            .push(format!("Capacity absorbed a {:.1}x surge without failures piling up.", e.ratio));
    }
    let mut lucky = Vec::new();
    if let Some(x) = exh
        && x.ratio >= 0.3
    {
        lucky.push(format!("Capacity never fell below {:.0}% of its baseline, so logins degraded rather than stopped.", 100.0 * x.ratio));
    }
    for v in [&mut went_well, &mut went_wrong, &mut lucky, &mut actions, &mut root_causes] {
        if v.is_empty() {
            v.push("The data does not show anything to say here.".into());
        }
    }
    Lessons { root_causes, went_well, went_wrong, lucky, actions }
}

/// When the first episode began and what was found.
fn detection(f: &Findings) -> String {
    let found = match f
        .surges
        .iter()
        .chain(&f.exhaustions)
        .chain(&f.failures)
        .map(|e| e.onset.as_str())
        .min()
    {
        Some(t) => format!(
            "The first episode in the logs begins at {}; rootline found {} surge(s), {} exhaustion(s), {} failure episode(s) and {} change wave(s).",
            hm(t),
            f.surges.len(),
            f.exhaustions.len(),
            f.failures.len(),
            f.changes.len()
        ),
        None => "No surge, exhaustion or failure episode was found in the logs.".into(),
    };
    match f.metrics.len() {
        0 => found,
        n => {
            let series: std::collections::BTreeSet<&str> =
                f.metrics.iter().map(|e| e.series.trim_start_matches("metric:")).collect();
            let series: Vec<&str> = series.into_iter().collect();
            format!(
                "{found} Plain metrics changed shape {n} time(s) ({}); they are in the timeline but not in the chain.",
                series.join(", ")
            )
        }
    }
}

/// When the service was back.
fn resolution(f: &Findings) -> String {
    match &f.recovery {
        Some(r) => format!("Demand and failures were back in their bands from {} on.", hm(r)),
        None => "The logs do not show a recovery.".into(),
    }
}

/// The trigger, with its evidence.
fn trigger(k: &Facts) -> String {
    let Facts { trigger_link, .. } = *k;
    match trigger_link {
        Some(t) => t.evidence.join("; "),
        None => "No change in the logs comes before the episodes closely enough to be called their trigger.".into(),
    }
}

/// One source as the data-quality table shows it.
pub struct Quality {
    /// Source, role, format (with the preset), lines, rows, skipped, rejected.
    pub cells: [String; 7],
    /// Warnings first, then the notes: what was assumed, detected or set aside.
    pub notes: Vec<String>,
}

/// Data quality per source.
fn quality(f: &Findings) -> Vec<Quality> {
    f.inputs
        .iter()
        .map(|s| {
            let format = match (&s.format, &s.preset) {
                (Some(f), Some(p)) => format!("{f}/{p}"),
                (f, _) => f.clone().unwrap_or_default(),
            };
            let mut notes: Vec<String> =
                s.warnings().into_iter().map(|w| format!("warning: {w}")).collect();
            notes.extend(s.notes.iter().cloned());
            Quality {
                cells: [
                    s.path.clone(),
                    s.role.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
                    format,
                    s.lines.to_string(),
                    s.rows.to_string(),
                    s.skipped.to_string(),
                    s.rejected.to_string(),
                ],
                notes,
            }
        })
        .collect()
}

impl Story {
    /// The story of the findings, one section function each.
    pub fn tell(f: &Findings, title: &str) -> Story {
        let k = Facts::of(f);
        let Lessons { root_causes, went_well, went_wrong, lucky, actions } = lessons(f, &k);
        Story {
            title: title.to_string(),
            sentences: sentences(f, &k),
            numbers: numbers(f, &k),
            timeline: timeline(f),
            chain: f.chain.iter().map(link_text).collect(),
            trigger: trigger(&k),
            root_causes,
            detection: detection(f),
            resolution: resolution(f),
            went_well,
            went_wrong,
            lucky,
            actions,
            quality: quality(f),
        }
    }

    /// The postmortem template in Markdown. Log strings are kept as text in code spans or
    /// plain text; Markdown renderers escape HTML in them.
    pub fn markdown(&self) -> String {
        let md = md_text;
        let mut o = String::new();
        let _ = writeln!(o, "# Postmortem: {}\n", md(&self.title));
        let _ = writeln!(o, "## Summary\n\n{}\n", md(&self.sentences.join(" ")));
        let _ = writeln!(o, "## Impact\n");
        for (k, v) in &self.numbers {
            let _ = writeln!(o, "- {}: {}", md(k), md(v));
        }
        if self.numbers.is_empty() {
            let _ = writeln!(o, "The data shows no impact.");
        }
        let _ = writeln!(o, "\n## Trigger\n\n{}\n", md(&self.trigger));
        let _ = writeln!(o, "## Root causes\n");
        for r in &self.root_causes {
            let _ = writeln!(o, "- {}", md(r));
        }
        let _ = writeln!(o, "\n## Detection\n\n{}\n", md(&self.detection));
        let _ = writeln!(o, "## Resolution\n\n{}\n", md(&self.resolution));
        let _ = writeln!(o, "## Timeline (UTC)\n\n| time | what | evidence |\n|---|---|---|");
        for (t, w, e) in &self.timeline {
            let _ = writeln!(o, "| {} | {} | {} |", md(&hm(t)), md(w), md(e));
        }
        let _ = writeln!(o, "\n## Causal chain\n");
        for c in &self.chain {
            let _ = writeln!(o, "- {}", md(c));
        }
        if self.chain.is_empty() {
            let _ = writeln!(o, "The data supports no causal link.");
        }
        let _ = writeln!(o, "\n## Lessons learned\n\n### What went well\n");
        for l in &self.went_well {
            let _ = writeln!(o, "- {}", md(l));
        }
        let _ = writeln!(o, "\n### What went wrong\n");
        for l in &self.went_wrong {
            let _ = writeln!(o, "- {}", md(l));
        }
        let _ = writeln!(o, "\n### Where we got lucky\n");
        for l in &self.lucky {
            let _ = writeln!(o, "- {}", md(l));
        }
        let _ = writeln!(o, "\n## Action items\n");
        for a in &self.actions {
            let _ = writeln!(o, "- [ ] {}", md(a));
        }
        let _ = writeln!(o, "\n## Data quality\n");
        for q in &self.quality {
            let [source, role, format, lines, rows, skipped, rejected] = &q.cells;
            let _ = writeln!(
                o,
                "- {}: {} as {}, {} lines: {} rows, {} skipped, {} rejected",
                md(source),
                md(role),
                md(format),
                md(lines),
                md(rows),
                md(skipped),
                md(rejected)
            );
            for n in &q.notes {
                let _ = writeln!(o, "  - {}", md(n));
            }
        }
        if self.quality.is_empty() {
            let _ = writeln!(o, "Read from tables; see the ingest.json of that run.");
        }
        o
    }

    /// One self-contained HTML page: inline CSS, the inline SVG chart, no network.
    pub fn html(&self, svg: &str) -> String {
        let e = escape;
        let list =
            |v: &[String]| v.iter().map(|s| format!("<li>{}</li>", e(s))).collect::<String>();
        let mut o = String::new();
        let _ = write!(
            o,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{t}</title><style>{css}</style></head><body><main>\
<h1>{t}</h1><section class=\"story\"><p>{s}</p></section>",
            t = e(&self.title),
            css = CSS,
            s = self.sentences.iter().map(|s| e(s)).collect::<Vec<_>>().join(" ")
        );
        o += "<section class=\"numbers\">";
        for (k, v) in &self.numbers {
            let _ = write!(o, "<div class=\"num\"><b>{}</b><span>{}</span></div>", e(v), e(k));
        }
        o += "</section><section><h2>Timeline</h2><figure class=\"chart\">";
        // The SVG is plotters' output, which escapes its text itself.
        o += svg.trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        o += "</figure><table><thead><tr><th>time (UTC)</th><th>what</th><th>evidence</th></tr></thead><tbody>";
        for (t, w, ev) in &self.timeline {
            let _ = write!(o, "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", e(&hm(t)), e(w), e(ev));
        }
        o += "</tbody></table></section><section><h2>Causal chain</h2><ol>";
        o += &list(&self.chain);
        if self.chain.is_empty() {
            o += "<li>The data supports no causal link.</li>";
        }
        let _ = write!(
            o,
            "</ol></section><section><h2>Lessons learned</h2><h3>What went well</h3><ul>{}</ul>\
<h3>What went wrong</h3><ul>{}</ul><h3>Where we got lucky</h3><ul>{}</ul>\
<h2>Action items</h2><ul>{}</ul></section>",
            list(&self.went_well),
            list(&self.went_wrong),
            list(&self.lucky),
            list(&self.actions)
        );
        o += "<section><h2>Data quality</h2><table><thead><tr><th>source</th><th>role</th><th>format</th>\
<th>lines</th><th>rows</th><th>skipped</th><th>rejected</th><th>notes</th></tr></thead><tbody>";
        for row in &self.quality {
            o += "<tr>";
            for (i, c) in row.cells.iter().enumerate() {
                let class = if i >= 3 { " class=\"n\"" } else { "" };
                let _ = write!(o, "<td{class}>{}</td>", e(c));
            }
            let notes: Vec<String> = row.notes.iter().map(|n| e(n)).collect();
            let _ = write!(o, "<td>{}</td></tr>", notes.join("<br>"));
        }
        if self.quality.is_empty() {
            o += "<tr><td colspan=\"8\">read from tables; see ingest.json of that run</td></tr>";
        }
        o += "</tbody></table></section><footer>Made by rootline from the logs alone.</footer></main></body></html>\n";
        o
    }
}

const CSS: &str = "body{font:16px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;color:#222;margin:0;background:#fafafa}\
main{max-width:1200px;margin:0 auto;padding:24px 32px;background:#fff}\
h1{font-size:28px;margin:0 0 8px}h2{font-size:21px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}\
h3{font-size:17px;margin-bottom:4px}.story p{font-size:18px}\
.numbers{display:flex;flex-wrap:wrap;gap:12px}.num{border:1px solid #ddd;border-radius:6px;padding:10px 16px;min-width:140px}\
.num b{display:block;font-size:24px}.num span{color:#666;font-size:14px}\
figure.chart{margin:16px 0}figure.chart svg{width:100%;height:auto}\
table{border-collapse:collapse;width:100%;font-size:14px}th,td{border-bottom:1px solid #eee;padding:4px 8px;text-align:left;vertical-align:top}\
td.n{text-align:right;font-variant-numeric:tabular-nums}footer{color:#888;font-size:13px;margin-top:32px}\
@media print{body{background:#fff}main{padding:0}figure.chart{break-inside:avoid}}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_shows_log_text_as_text() {
        assert_eq!(md_text("[t](javascript:alert(1))"), "\\[t\\](javascript:alert(1))");
        assert_eq!(md_text("a|b"), "a\\|b");
        assert_eq!(md_text("x\n## Action items"), "x \\#\\# Action items");
        assert_eq!(md_text("- item"), "\\- item");
        assert_eq!(md_text("-5%"), "-5%");
        assert_eq!(md_text("14.1x"), "14.1x");
        assert_eq!(md_text("1. first"), "1\\. first");
        assert_eq!(md_text("<img src=x>"), "\\<img src=x\\>");
        assert_eq!(md_text("2007-08-16 02:13Z"), "2007-08-16 02:13Z");
    }

    #[test]
    fn a_hostile_title_adds_no_heading_link_or_column() {
        let f: Findings = serde_json::from_value(serde_json::json!({
            "inputs": [], "surges": [], "exhaustions": [], "changes": [], "failures": [],
            "recovery": null, "chain": [], "coupling": null, "feedback": null, "phases": [],
            "impact": null, "params": {}
        }))
        .unwrap();
        let md =
            Story::tell(&f, "t\n## Action items\n- [ ] [x](javascript:alert(1)) | y").markdown();
        assert_eq!(md.lines().filter(|l| l.starts_with("## Action items")).count(), 1, "{md}");
        assert!(!md.replace("\\]", "").contains("](javascript"), "an unescaped link: {md}");
        assert!(md.lines().next().unwrap().starts_with("# Postmortem: t \\#\\#"), "{md}");
    }
}

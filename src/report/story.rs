//! The story in words: three sentences, key numbers, the timeline with evidence, the chain,
//! lessons and action items — each derived from the findings and citing their numbers; where
//! the data cannot support a section, it says so. Rendered as Markdown and as HTML.

use std::fmt::Write as _;

use super::escape;
use crate::findings::{ArchetypeKind, Episode, Findings, Link, LinkEnd};
use crate::units::plural;

/// A report's text, before it is rendered.
pub struct Story {
    pub title: String,
    pub sentences: Vec<String>,
    pub numbers: Vec<(String, String)>,
    /// (time, what, evidence): one row per moment a reader needs (at most 10).
    pub timeline: Vec<(String, String, String)>,
    /// The other moments (each wave of a flood, later spells), below the timeline.
    pub details: Vec<(String, String, String)>,
    /// The source lines the text cites as `[1]`, `[2]`...: `file:line` each.
    pub sources: Vec<String>,
    pub chain: Vec<String>,
    pub trigger: String,
    pub root_causes: Vec<String>,
    pub detection: String,
    pub resolution: String,
    pub went_well: Vec<String>,
    pub went_wrong: Vec<String>,
    pub lucky: Vec<String>,
    pub actions: Vec<String>,
    /// "What would have helped": the replays of `rootline whatif`, one line per policy (empty
    /// when whatif was not run), and their chart (SVG) for the HTML.
    pub helped: Vec<String>,
    pub helped_svg: Option<String>,
    /// (source, role, format, lines, rows, skipped, rejected)
    pub quality: Vec<Quality>,
    /// Told from a series table alone: no source was read and no line can be cited.
    pub series_only: bool,
}

/// What would have helped, as `rootline whatif` tells it (`report --whatif`): lines, action
/// items that quote its numbers, words of general advice it contradicts, and its chart.
#[derive(Debug, Clone, Default)]
pub struct Helped {
    pub lines: Vec<String>,
    pub actions: Vec<String>,
    pub superseded: Vec<String>,
    pub svg: Option<String>,
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
    if min >= 7.0 * 1440.0 {
        format!("{:.0} days", min / 1440.0)
    } else if min >= 120.0 {
        format!("{:.1} h", min / 60.0)
    } else {
        format!("{min:.0} min")
    }
}

fn link_text(l: &Link) -> String {
    // How strongly the two series move together, in words from the correlation.
    let x = match (l.xcorr, l.xcorr_lag_min) {
        (Some(r), Some(lag)) => {
            let strength = match r {
                r if r >= 0.5 => "strong",
                r if r >= 0.3 => "moderate",
                _ => "weak",
            };
            format!("; {strength} (the series correlate at {r:.2}, {lag:.0} min apart)")
        }
        _ if l.from == LinkEnd::Change => "; by time order (a single change has no series)".into(),
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
    /// The headline surge: the largest the main change wave caused, else the strongest.
    surge: Option<&'a Episode>,
    exh: Option<&'a Episode>,
    wave: Option<&'a Link>,
    /// The main change wave's episode.
    wave_episode: Option<&'a Episode>,
    metrics_only: bool,
    /// Whether any source holds logins (an incident told from node logs alone has no failed
    /// logins to count).
    logins: bool,
}

impl<'a> Facts<'a> {
    fn of(f: &'a Findings) -> Facts<'a> {
        let trigger_link = f.chain.iter().find(|l| l.from == LinkEnd::Change);
        let wave = f.chain.iter().find(|l| l.to == LinkEnd::ChangeWave);
        let wave_episode = f
            .chain
            .iter()
            .find(|l| l.from == LinkEnd::ChangeWave)
            .and_then(|l| f.changes.iter().find(|w| w.onset == l.from_at));
        // The flood the wave caused: the largest surge during the wave (or just after it)
        // that began before logins failed; a surge that began while they were failing was
        // fed by retries. Largest by excess over time (ratio x minutes), not by peak: at
        // 300,000 clients the evening retry wave peaks higher than the 17-hour flood.
        let failing_from = f.failures.iter().map(|e| rfc(&e.onset)).min().unwrap_or(i64::MAX);
        let caused = wave_episode.and_then(|w| {
            let (lo, hi) = (rfc(&w.onset), rfc(&w.end) + 6 * 3_600_000);
            let during: Vec<&Episode> =
                f.surges.iter().filter(|e| (lo..=hi).contains(&rfc(&e.onset))).collect();
            let size = |e: &Episode| e.ratio * e.duration_min;
            let largest = |v: &mut dyn Iterator<Item = &&'a Episode>| {
                v.max_by(|a, b| size(a).total_cmp(&size(b)).then(a.score.total_cmp(&b.score)))
                    .copied()
            };
            largest(&mut during.iter().filter(|e| rfc(&e.onset) < failing_from))
                .or_else(|| largest(&mut during.iter()))
        });
        // Without a wave to blame, the headline is the largest wave of logins.
        let largest = f
            .surges
            .iter()
            .max_by(|a, b| a.peak_value.total_cmp(&b.peak_value).then(a.score.total_cmp(&b.score)));
        let surge = caused.or(largest);
        let exh = f
            .exhaustions
            .iter()
            .find(|e| e.series == crate::schema::signal::NODES_ONLINE)
            .or(f.exhaustions.first());
        let metrics_only = !f.inputs.is_empty()
            && f.inputs.iter().all(|i| i.role.is_none_or(|r| r == crate::schema::Role::Metric));
        let logins = f.inputs.is_empty()
            || f.inputs.iter().any(|i| i.role == Some(crate::schema::Role::Login));
        Facts { trigger_link, surge, exh, wave, wave_episode, metrics_only, logins }
    }
}

fn rfc(t: &str) -> i64 {
    crate::units::rfc3339_ms(t)
}

/// The numbered source lines a story cites: `[n]` for a `file:line`, each listed once.
#[derive(Default)]
struct Sources(Vec<String>);

impl Sources {
    fn cite(&mut self, at: &str) -> String {
        let n = match self.0.iter().position(|s| s == at) {
            Some(i) => i + 1,
            None => {
                self.0.push(at.to_string());
                self.0.len()
            }
        };
        format!("[{n}]")
    }

    /// ` [n]` for an episode's first line, or nothing.
    fn first_of(&mut self, e: &Episode) -> String {
        e.first_lines.first().map(|at| format!(" {}", self.cite(at))).unwrap_or_default()
    }
}

/// A change as a sentence says it: `release KB936782 at 2007-08-14 17:00Z [1]`.
fn change_phrase(l: &Link, src: &mut Sources) -> String {
    match &l.change {
        Some(c) => format!(
            "{}{} at {} {}",
            c.kind,
            c.item.as_deref().map(|i| format!(" {i}")).unwrap_or_default(),
            hm(&l.from_at),
            src.cite(&c.at)
        ),
        None => format!("a change at {}", hm(&l.from_at)),
    }
}

/// What the kinds of incident are, in words.
fn kind_sentence(f: &Findings) -> Option<String> {
    let gloss = |k: ArchetypeKind| match k {
        ArchetypeKind::CoupledShock => "one change added demand and removed capacity",
        ArchetypeKind::RetryStorm => "retries multiplied demand",
        ArchetypeKind::BadDeploy => "failures followed a change, with no rise in demand",
        ArchetypeKind::FlashCrowd => "demand rose with no change behind it, and capacity held",
        ArchetypeKind::CapacityLoss => "capacity fell with no rise in demand",
        ArchetypeKind::BruteForce => "a few clients sent login after login, nearly all failing",
    };
    let (first, rest) = f.archetypes.split_first()?;
    let mut s = format!("This was a {} ({})", first.kind.as_str(), gloss(first.kind));
    if first.metastable {
        s += ", and metastable: the overload outlived its trigger";
    }
    for a in rest {
        let _ = write!(s, ", with a {} ({})", a.kind.as_str(), gloss(a.kind));
        if a.metastable {
            s += " that outlived its trigger (metastable)";
        }
    }
    Some(s + ".")
}

/// The lessons: root causes, what went well and wrong, where luck helped, action items.
struct Lessons {
    root_causes: Vec<String>,
    went_well: Vec<String>,
    went_wrong: Vec<String>,
    lucky: Vec<String>,
    actions: Vec<String>,
}

/// What happened, in a few sentences: the kind, the trigger, demand and capacity, the impact.
fn sentences(f: &Findings, k: &Facts, src: &mut Sources) -> Vec<String> {
    let Facts { trigger_link, surge, exh, wave, wave_episode, metrics_only, logins } = *k;
    let mut sentences = Vec::new();
    if metrics_only {
        sentences.push(format!(
            "These logs hold plain metrics only (no logins, nodes or changes), so there is no outage story to tell; {}.",
            match f.metrics.len() {
                0 => "the metrics kept their usual shape".to_string(),
                n => format!(
                    "the metrics took a shape not seen before in them {}, listed in the timeline",
                    plural(n as u64, "time")
                ),
            }
        ));
        return sentences;
    }
    sentences.extend(kind_sentence(f));
    match (trigger_link, wave) {
        (Some(t), Some(w)) => {
            let change = capitalise(&change_phrase(t, src));
            let what = wave_episode
                .map(|e| {
                    let kind = e.series.trim_start_matches(crate::schema::signal::CHANGE_PREFIX);
                    format!("a wave of {kind} events from {}{}", hm(&e.onset), src.first_of(e))
                })
                .unwrap_or_else(|| "a burst of changes".into());
            sentences.push(format!("{change} was followed {} later by {what}.", hours(w.lag_min)))
        }
        (Some(t), None) => {
            let what = match t.to {
                LinkEnd::Surge => "demand surged",
                LinkEnd::Exhaustion => "capacity fell",
                _ => "logins began to fail",
            };
            sentences.push(format!(
                "{} came {} before {what}.",
                capitalise(&change_phrase(t, src)),
                hours(t.lag_min.max(0.0))
            ))
        }
        _ => sentences.push("No change in the logs explains what followed.".to_string()),
    }
    let mut second = Vec::new();
    if let Some(e) = surge {
        let per_min = |v: f64| {
            crate::units::short_number(
                v,
                if v < 1.0 {
                    2
                } else if v < 10.0 {
                    1
                } else {
                    0
                },
            )
        };
        let how = if e.baseline > 0.0 {
            // Under 5-minute buckets the peak is a 5-minute mean (see `Episode`).
            let over =
                if f.params.bucket_ms < 300_000 { " over its busiest 5 minutes" } else { "" };
            format!(
                "{:.1}x their baseline ({} a minute{over}, against {})",
                e.ratio,
                per_min(e.peak_value),
                per_min(e.baseline)
            )
        } else {
            let over =
                if f.params.bucket_ms < 300_000 { " over its busiest 5 minutes" } else { "" };
            format!("{} a minute{over} from a baseline of none", per_min(e.peak_value))
        };
        let waves = f.surges.len();
        let largest = f
            .surges
            .iter()
            .max_by(|a, b| a.peak_value.total_cmp(&b.peak_value))
            .filter(|l| !std::ptr::eq(*l, e) && l.peak_value > e.peak_value);
        let failing_from = f.failures.iter().map(|x| rfc(&x.onset)).min().unwrap_or(i64::MAX);
        let nth = match f.surges.iter().position(|x| std::ptr::eq(x, e)) {
            Some(0) => "the first".to_string(),
            Some(i) => format!("wave {}", i + 1),
            None => "one".to_string(),
        };
        let more = match largest {
            Some(l) if waves > 1 => format!(
                " ({nth} of {waves} waves of logins; the largest, {} a minute from {}, came {})",
                per_min(l.peak_value),
                hm(&l.onset),
                if rfc(&l.onset) >= failing_from
                    && !f.archetypes.iter().any(|a| a.kind == ArchetypeKind::BruteForce)
                {
                    "after logins began to fail, fed by their retries"
                } else if rfc(&l.onset) > rfc(&e.onset) {
                    "later"
                } else {
                    "earlier, before the change wave's flood"
                }
            ),
            None if waves > 1 => format!(" (the largest of {waves} waves of logins)"),
            _ => String::new(),
        };
        second.push(format!(
            "login attempts rose to {how} between {} and {}{more}",
            hm(&e.onset),
            hm(&e.end)
        ));
    }
    if let Some(x) = exh {
        second.push(format!(
            "{} fell to {:.0}% of baseline ({} to {}) from {}",
            x.series.replace('_', " "),
            100.0 * x.ratio,
            crate::units::short_number(x.baseline, 1),
            crate::units::short_number(x.peak_value, 1),
            hm(&x.onset)
        ));
    }
    if second.is_empty() {
        sentences.push("Demand did not surge and capacity did not run out.".into());
    } else {
        let s = second.join(", while ");
        sentences.push(format!("{}{}.", s[..1].to_uppercase(), &s[1..]));
    }
    let brute = f.archetypes.iter().any(|a| a.kind == ArchetypeKind::BruteForce);
    let who = |i: &crate::findings::Impact| {
        if brute {
            format!("trying {}", plural(i.users_affected, "user name"))
        } else {
            format!("for {}", plural(i.users_affected, "user"))
        }
    };
    // The incident's failures against all the logs hold, so that neither figure surprises.
    let of_all = |i: &crate::findings::Impact| {
        if i.failed_logins_in_logs > i.failed_logins {
            format!("; {} failed in all the logs", i.failed_logins_in_logs)
        } else {
            String::new()
        }
    };
    match (&f.impact, &f.recovery) {
        (Some(_), _) if !logins => {}
        (Some(i), Some(r)) => sentences.push(format!(
            "{} failed {} between the first episode and {}, when demand and failures were back in their bands{}{}.",
            capitalise(&plural(i.failed_logins, "login")),
            who(i),
            hm(r),
            i.time_to_recover_min
                .map(|m| format!(" ({} after the wave of changes began)", hours(m)))
                .unwrap_or_default(),
            of_all(i),
        )),
        (Some(i), None) => sentences.push(format!(
            "{} failed {} from the first episode on, and the logs end before demand and failures were back to normal{}.",
            capitalise(&plural(i.failed_logins, "login")),
            who(i),
            of_all(i)
        )),
        _ => sentences.push("No episode was found, so there is no impact to report.".into()),
    }
    sentences.extend(stretches(f));
    sentences
}

/// When the episodes fall in stretches a day or more apart (logs of several incidents), a
/// sentence that says so: the figures above span them all.
fn stretches(f: &Findings) -> Option<String> {
    let mut spans: Vec<(i64, i64)> = f
        .surges
        .iter()
        .chain(&f.exhaustions)
        .chain(&f.failures)
        .map(|e| (rfc(&e.onset), rfc(&e.end)))
        .collect();
    spans.sort_unstable();
    let mut starts = Vec::new();
    let mut end = i64::MIN;
    for (a, b) in spans {
        if a > end.saturating_add(86_400_000) {
            starts.push(a);
        }
        end = end.max(b);
    }
    (starts.len() > 1).then(|| {
        let day = |ms: i64| crate::units::rfc3339_secs(ms)[..10].to_string();
        format!(
            "The episodes fall in {} stretches a day or more apart (from {} to {}), which may be separate incidents; the figures above span them all: give --since and --until to tell one of them.",
            starts.len(),
            day(starts[0]),
            day(*starts.last().unwrap_or(&starts[0]))
        )
    })
}

/// The key numbers, each with what it counts.
fn numbers(f: &Findings, k: &Facts) -> Vec<(String, String)> {
    let Facts { surge, exh, .. } = *k;
    let mut numbers = Vec::new();
    if let Some(e) = surge {
        let v = if e.baseline > 0.0 {
            format!("{:.1}x baseline", e.ratio)
        } else {
            let over = if f.params.bucket_ms < 300_000 { " (5-minute mean)" } else { "" };
            format!("{}/min{over}", crate::units::short_number(e.peak_value, 1))
        };
        numbers.push(("peak demand".into(), v));
    }
    if let Some(x) = exh {
        numbers.push((
            "capacity lost (at its lowest)".into(),
            format!("{:.0}%", 100.0 * (1.0 - x.ratio)),
        ));
    }
    if let Some(i) = &f.impact {
        let brute = f.archetypes.iter().any(|a| a.kind == ArchetypeKind::BruteForce);
        let until = if f.recovery.is_some() { "recovery" } else { "the end of the logs" };
        if !k.logins {
            numbers.push((format!("duration (first episode to {until})"), hours(i.duration_min)));
            return numbers;
        }
        numbers.push((
            format!("failed logins (first episode to {until})"),
            i.failed_logins.to_string(),
        ));
        if i.failed_logins_in_logs > i.failed_logins {
            numbers.push((
                "failed logins in all the logs".into(),
                i.failed_logins_in_logs.to_string(),
            ));
        }
        let who = if brute { "user names tried" } else { "users with a failed login" };
        numbers.push((who.into(), i.users_affected.to_string()));
        // Locked out only means something for real users, not for an attacker's guesses.
        if let Some(l) = i.locked_out.as_ref().filter(|l| !brute && l.hours_majority > 0) {
            numbers.push((
                "users locked out for a whole hour (tried, never got in)".into(),
                l.users.to_string(),
            ));
            numbers.push((
                "hours in which most users trying were locked out".into(),
                format!("{} (at worst {:.0}% of them)", l.hours_majority, 100.0 * l.peak_share),
            ));
        }
        numbers.push((format!("duration (first episode to {until})"), hours(i.duration_min)));
        if let Some(t) = i.time_to_recover_min {
            numbers.push(("time to recover (change wave to recovery)".into(), hours(t)));
        }
    }
    numbers
}

/// The timeline: one row per moment a reader needs (the trigger, the wave, the flood, the
/// capacity lost, the failures, the recovery, the largest metric shifts), and the other
/// moments as details; evidence is cited, not pasted.
type Rows = Vec<(String, String, String)>;

fn timeline(f: &Findings, k: &Facts, src: &mut Sources) -> (Rows, Rows) {
    let mut rows: Rows = Vec::new();
    let mut details: Rows = Vec::new();
    let mut seen_changes = Vec::new();
    for l in f.chain.iter().filter(|l| l.from == LinkEnd::Change) {
        if seen_changes.contains(&l.from_at) || seen_changes.len() >= 2 {
            continue;
        }
        seen_changes.push(l.from_at.clone());
        let what = match &l.change {
            Some(c) if c.kind == "restart" || c.kind == "deploy" => format!("{} begins", c.kind),
            Some(c) => c.kind.clone(),
            None => "change".into(),
        };
        rows.push((l.from_at.clone(), what, capitalise(&change_phrase(l, src))));
    }
    let mut row = |e: &Episode, what: String, src: &mut Sources, into_rows: bool| {
        let r = (e.onset.clone(), what, format!("{}{}", e.reason, src.first_of(e)));
        if into_rows { rows.push(r) } else { details.push(r) }
    };
    for w in &f.changes {
        let main = k.wave_episode.is_some_and(|m| std::ptr::eq(m, w));
        let kind = w.series.trim_start_matches(crate::schema::signal::CHANGE_PREFIX);
        row(w, format!("{kind} wave begins"), src, main);
    }
    for e in &f.surges {
        let main = k.surge.is_some_and(|m| std::ptr::eq(m, e));
        let caused = k.wave_episode.is_some();
        let largest = f.surges.iter().all(|o| o.peak_value <= e.peak_value);
        let what = if main && caused && f.surges.len() > 1 && !largest {
            format!("the flood begins (one of {} waves)", f.surges.len())
        } else if main && caused && f.surges.len() > 1 {
            format!("the flood's largest wave begins (of {})", f.surges.len())
        } else if main && f.surges.len() > 1 {
            format!("the largest wave of logins begins (of {})", f.surges.len())
        } else if main {
            "surge begins".into()
        } else {
            "a wave of logins begins".into()
        };
        row(e, what, src, main);
    }
    // Exhaustions of another series inside the first one (utilisation pinned now and then
    // while the nodes were gone) are one moment of the details, not one each.
    let first = f.exhaustions.first();
    let inside = |x: &Episode| {
        first.is_some_and(|m| {
            !std::ptr::eq(m, x) && x.series != m.series && x.onset >= m.onset && x.end <= m.end
        })
    };
    for (i, x) in f.exhaustions.iter().enumerate() {
        if !inside(x) {
            row(x, format!("capacity lost ({})", x.series.replace('_', " ")), src, i == 0);
        }
    }
    let folded: Vec<&Episode> = f.exhaustions.iter().filter(|x| inside(x)).collect();
    let mut folded_row = None;
    if let Some(x) = folded.iter().max_by(|a, b| a.duration_min.total_cmp(&b.duration_min)) {
        let series = x.series.replace('_', " ");
        let what = if folded.len() == 1 {
            format!("{series} at its ceiling during the capacity lost")
        } else {
            format!("{series} at its ceiling {} times during the capacity lost", folded.len())
        };
        let ev = format!(
            "the longest for {:.0} min from {}{}",
            x.duration_min,
            hm(&x.onset),
            src.first_of(x)
        );
        folded_row = Some((folded[0].onset.clone(), what, ev));
    }
    for (i, x) in f.failures.iter().enumerate() {
        row(x, "logins failing".into(), src, i == 0);
    }
    let mut shifts: Vec<&Episode> = f.metrics.iter().collect();
    shifts.sort_by(|a, b| b.score.total_cmp(&a.score));
    for (i, m) in shifts.into_iter().enumerate() {
        let what =
            format!("{} shifts", m.series.trim_start_matches(crate::schema::signal::METRIC_PREFIX));
        row(m, what, src, i < 2);
    }
    details.extend(folded_row);
    if let Some(r) = &f.recovery {
        rows.push((
            r.clone(),
            "recovery".into(),
            "attempts and failures back in their bands".into(),
        ));
    }
    rows.sort();
    details.sort();
    (rows, details)
}

/// The lessons, each citing the numbers it stands on.
fn lessons(f: &Findings, k: &Facts) -> Lessons {
    let Facts { trigger_link, surge, exh, .. } = *k;
    let claimed = |kind: ArchetypeKind| f.archetypes.iter().find(|a| a.kind == kind);
    // (why it happened, what to do), in the order of the kinds; then further actions.
    let mut causes: Vec<(String, String)> = Vec::new();
    let mut more_actions: Vec<String> = Vec::new();
    let mut cause = |why: String, action: String| causes.push((why, action));
    // The lessons follow the kinds of incident; advice for one kind is never given to another
    // (a brute force gets rate limits and blocking, never client backoff).
    if claimed(ArchetypeKind::BruteForce).is_some() {
        let (clients, names) = brute_force_counts(f);
        cause(
            format!(
                "A brute force: {} in its episodes from {clients}, trying {names}.",
                plural(brute_force_failures(f), "failed login"),
            ),
            format!(
                "Rate-limit authentication per client and per user name, and block a client after a few failures (fail2ban or a firewall rule): {clients} sent them all."
            ),
        );
        more_actions.push(
            "Take passwords off the exposed login (keys or a second factor), and alert on failures per client.".into(),
        );
    }
    if claimed(ArchetypeKind::CoupledShock).is_some()
        && let Some(c) = f.coupling.as_ref().filter(|c| c.share >= 0.5)
    {
        cause(
            format!(
                "{:.0}% of the capacity nodes lost ({} of {}) had restarted for the change themselves: the change took capacity away as it created demand.",
                100.0 * c.share,
                c.nodes_lost_to_change,
                c.nodes_lost
            ),
            format!(
                "Keep capacity nodes out of the clients' restart wave: stagger their restarts, since {} went down with it.",
                plural(c.nodes_lost_to_change, "node")
            ),
        );
    } else if claimed(ArchetypeKind::CoupledShock).is_some()
        && let Some(l) = trigger_link
    {
        cause(
            format!(
                "{} came before both the surge and the capacity lost: one change added demand and removed capacity.",
                capitalise(l.evidence.first().map_or("A change", String::as_str))
            ),
            "Roll such changes out in stages that keep most capacity up, and hold the next stage while demand is out of its band.".into(),
        );
    }
    if let Some(a) = claimed(ArchetypeKind::RetryStorm) {
        cause(
            format!("Retries fed the load: {}.", a.evidence.first().cloned().unwrap_or_default()),
            "Give clients exponential backoff with full jitter and a retry budget, so failed logins do not come back all at once.".into(),
        );
    }
    if let Some(m) = &f.metastability
        && claimed(ArchetypeKind::BruteForce).is_none()
    {
        let until = if m.recovered { "recovery came" } else { "the overload was still on" };
        cause(
            format!(
                "The overload outlived its trigger: {until} {} after the burst of changes ended (a metastable failure: the trigger was gone and the system stayed down). {}",
                hours(m.outlived_min),
                metastable_loop(m)
            ),
            format!(
                "Make self-healing (adding capacity) work under load, and shed or queue excess logins so the system can leave the overload; it stalled for {} here.",
                hours(m.outlived_min)
            ),
        );
    }
    if let Some(l) = f.chain.iter().find(|l| l.from == LinkEnd::Change && l.to == LinkEnd::Failures)
    {
        cause(
            format!(
                "{}; logins began failing {} later.",
                capitalise(l.evidence.first().map_or("", String::as_str)),
                hours(l.lag_min.max(0.0))
            ),
            format!(
                "Canary such changes and roll back automatically when the failure ratio leaves its band: it took {} to show here.",
                hours(l.lag_min.max(0.0))
            ),
        );
    }
    if claimed(ArchetypeKind::FlashCrowd).is_some()
        && let Some(e) = surge
    {
        cause(
            format!(
                "Demand rose {:.1}x with no change in the logs behind it ({}).",
                e.ratio,
                hm(&e.onset)
            ),
            format!(
                "Alert on demand itself and keep headroom (or autoscaling) for {:.1}x the usual load at this hour.",
                e.ratio
            ),
        );
    }
    if claimed(ArchetypeKind::CapacityLoss).is_some()
        && let Some(x) = exh
    {
        cause(
            format!(
                "Capacity fell to {:.0}% of its baseline with no rise in demand ({}).",
                100.0 * x.ratio,
                hm(&x.onset)
            ),
            "Find what took the capacity away, and keep spare capacity for the largest loss seen here.".into(),
        );
    }
    let root_causes: Vec<String> = causes.iter().map(|c| c.0.clone()).collect();
    let mut went_wrong = root_causes.clone();
    let mut actions: Vec<String> = causes.into_iter().map(|c| c.1).collect();
    actions.extend(more_actions);
    let mut root_causes = root_causes;
    let mut went_well = Vec::new();
    if let (Some(r), Some(i)) = (&f.recovery, &f.impact) {
        went_well.push(format!(
            "The service recovered at {} and stayed in band afterwards ({} from the first episode to recovery).",
            hm(r),
            hours(i.duration_min)
        ));
    }
    if let Some(e) = surge
        && exh.is_none()
        && f.failures.is_empty()
        && claimed(ArchetypeKind::BruteForce).is_none()
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
    for v in [&mut went_well, &mut went_wrong, &mut lucky, &mut root_causes] {
        if v.is_empty() {
            v.push("The data does not show anything to say here.".into());
        }
    }
    Lessons { root_causes, went_well, went_wrong, lucky, actions }
}

/// The failed logins a brute force's episodes hold, from its measures (the window its
/// clients and user names were counted over).
fn brute_force_failures(f: &Findings) -> u64 {
    f.archetypes
        .iter()
        .find(|a| a.kind == ArchetypeKind::BruteForce)
        .and_then(|a| a.measures.get("failures"))
        .map_or(0, |v| *v as u64)
}

/// "13 clients" and "56 user names", from a brute force's measures.
fn brute_force_counts(f: &Findings) -> (String, String) {
    let a = f.archetypes.iter().find(|a| a.kind == ArchetypeKind::BruteForce);
    let n = |key: &str| a.and_then(|a| a.measures.get(key)).map(|v| *v as u64);
    let clients = n("clients").map_or("a few clients".into(), |n| plural(n, "client"));
    let names = n("user_names").map_or("many user names".into(), |n| plural(n, "user name"));
    (clients, names)
}

/// When the incident could have been detected: the first episode, and when a nightly and
/// an hourly check would first have raised WARNING and CRITICAL, against demand's peak and
/// the lowest capacity.
fn detection(f: &Findings, k: &Facts) -> String {
    let first =
        f.surges.iter().chain(&f.exhaustions).chain(&f.failures).map(|e| e.onset.as_str()).min();
    let Some(first) = first else {
        if k.metrics_only {
            return "Plain metrics only: rootline's check judges logins, nodes and changes, so it would not have alarmed; the metric shifts are in the timeline.".into();
        }
        return "No surge, exhaustion or failure episode was found in the logs.".into();
    };
    let mut out = format!("The first episode in the logs begins at {}.", hm(first));
    let lead = |at: &str, what: &str, to: Option<&str>| -> String {
        match to {
            Some(t) => {
                let m = (rfc(t) - rfc(at)) as f64 / 60_000.0;
                if m >= 0.0 {
                    format!(", {} before {what}", hours(m))
                } else {
                    format!(", {} after {what}", hours(-m))
                }
            }
            None => String::new(),
        }
    };
    if let Some(d) = &f.detection {
        let peak = k.surge.map(|e| e.peak.as_str());
        let low = k.exh.map(|e| e.peak.as_str());
        for (every, warn, crit) in [
            (
                "A nightly rootline check (24 h windows, run after midnight UTC)",
                &d.nightly_warning_at,
                &d.nightly_critical_at,
            ),
            ("An hourly one (--window 1h)", &d.hourly_warning_at, &d.hourly_critical_at),
        ] {
            let mut parts = Vec::new();
            if let Some(w) = warn {
                parts.push(format!("WARNING at {}{}", hm(w), lead(w, "demand's peak", peak)));
            }
            if let Some(c) = crit {
                parts.push(format!("CRITICAL at {}{}", hm(c), lead(c, "capacity's lowest", low)));
            }
            if !parts.is_empty() {
                let _ = write!(out, " {every} would have raised {}.", parts.join(", and "));
            }
        }
    }
    let found: Vec<String> = [
        (f.surges.len(), "surge"),
        (f.exhaustions.len(), "exhaustion"),
        (f.failures.len(), "failure episode"),
        (f.changes.len(), "change wave"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| plural(n as u64, what))
    .collect();
    let _ = write!(out, " In all rootline found {}.", and_list(&found));
    if !f.metrics.is_empty() {
        let series: std::collections::BTreeSet<&str> =
            f.metrics.iter().map(|e| e.series.trim_start_matches("metric:")).collect();
        let series: Vec<&str> = series.into_iter().collect();
        let _ = write!(
            out,
            " Plain metrics changed shape {} ({}); they are in the timeline but not in the chain.",
            plural(f.metrics.len() as u64, "time"),
            series.join(", ")
        );
    }
    out
}

/// When the service was back.
fn resolution(f: &Findings) -> String {
    let episodes = !(f.surges.is_empty() && f.exhaustions.is_empty() && f.failures.is_empty());
    match &f.recovery {
        Some(r) => format!("Demand and failures were back in their bands from {} on.", hm(r)),
        None if episodes => "The logs end before a recovery.".into(),
        None => "No outage episode, so no recovery to tell.".into(),
    }
}

/// The trigger, with its evidence.
fn trigger(k: &Facts, src: &mut Sources) -> String {
    let Facts { trigger_link, wave_episode, .. } = *k;
    let Some(t) = trigger_link else {
        if k.metrics_only {
            return "No changes in these logs (plain metrics only).".into();
        }
        return "No change in the logs comes before the episodes closely enough to be called their trigger.".into();
    };
    let mut parts = vec![capitalise(&change_phrase(t, src))];
    // A rollout's own account (how many events, over what span), when it is one.
    if let Some(e) = t.evidence.first().filter(|e| e.contains(" events on ")) {
        parts.push(e.clone());
    }
    if let (Some(w), true) = (wave_episode, t.to == LinkEnd::ChangeWave) {
        parts.push(format!("then {}{}", w.reason, src.first_of(w)));
    }
    parts.join("; ") + "."
}

/// One source as the data-quality table shows it.
pub struct Quality {
    /// Source, role, format (with the preset), lines, rows, skipped, rejected.
    pub cells: [String; 7],
    /// Warnings first, then the notes: what was assumed, detected or set aside.
    pub notes: Vec<String>,
}

/// The data quality section of a report made from a series table alone.
const NO_SOURCES: &str = "No logs or tables were read: the findings come from a series table \
alone (analyze --series without --tables), so evidence lines are not available, nor what needs \
rows (the trigger, the coupling of lost nodes to the change, who logged in).";

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
    /// Adds what `rootline whatif` found: its lines and chart under "What would have helped",
    /// its action items before the others (they carry the replays' numbers), and drops the
    /// general items that hold any of its `superseded` words (advice the replays say would
    /// not have helped).
    pub fn with_helped(mut self, h: Helped) -> Story {
        self.helped = h.lines;
        self.helped_svg = h.svg;
        self.actions.retain(|a| !h.superseded.iter().any(|w| a.contains(w.as_str())));
        self.actions.splice(0..0, h.actions);
        self
    }

    /// The story of the findings, one section function each.
    pub fn tell(f: &Findings, title: &str) -> Story {
        let k = Facts::of(f);
        let mut src = Sources::default();
        let Lessons { root_causes, went_well, went_wrong, lucky, actions } = lessons(f, &k);
        let sentences = sentences(f, &k, &mut src);
        let trigger = trigger(&k, &mut src);
        let (timeline, details) = timeline(f, &k, &mut src);
        Story {
            title: title.to_string(),
            sentences,
            numbers: numbers(f, &k),
            timeline,
            details,
            sources: src.0,
            chain: f.chain.iter().map(link_text).collect(),
            trigger,
            root_causes,
            detection: detection(f, &k),
            resolution: resolution(f),
            went_well,
            went_wrong,
            lucky,
            actions,
            helped: Vec::new(),
            helped_svg: None,
            quality: quality(f),
            series_only: f.inputs.is_empty()
                && f.surges
                    .iter()
                    .chain(&f.exhaustions)
                    .chain(&f.changes)
                    .chain(&f.failures)
                    .all(|e| e.first_lines.is_empty()),
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
        if !self.details.is_empty() {
            let _ = writeln!(o, "\nOther moments:\n");
            for (t, w, e) in &self.details {
                let _ = writeln!(o, "- {} {}: {}", md(&hm(t)), md(w), md(e));
            }
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
        if !self.helped.is_empty() {
            let _ = writeln!(o, "\n## What would have helped\n");
            for l in &self.helped {
                let _ = writeln!(o, "- {}", md(l));
            }
        }
        let _ = writeln!(o, "\n## Action items\n");
        if self.actions.is_empty() {
            let _ = writeln!(o, "None: the data shows nothing to act on.");
        }
        for a in &self.actions {
            let _ = writeln!(o, "- [ ] {}", md(a));
        }
        if !self.sources.is_empty() {
            let _ = writeln!(o, "\n## Sources\n\nThe lines the text cites as [n]:\n");
            for (i, at) in self.sources.iter().enumerate() {
                let _ = writeln!(o, "{}. {}", i + 1, md(at));
            }
        }
        let _ = writeln!(o, "\n## Data quality\n");
        if self.series_only {
            let _ = writeln!(o, "- {NO_SOURCES}");
        }
        for q in &self.quality {
            let [source, role, format, lines, rows, skipped, rejected] = &q.cells;
            if lines == "0" {
                let _ = writeln!(o, "- {}: empty (0 lines)", md(source));
                continue;
            }
            let _ = writeln!(
                o,
                "- {}: {} as {}, {} lines: {} {}, {} skipped, {} rejected",
                md(source),
                md(role),
                md(format),
                md(lines),
                md(rows),
                if rows == "1" { "row" } else { "rows" },
                md(skipped),
                md(rejected)
            );
            for n in &q.notes {
                let _ = writeln!(o, "  - {}", md(n));
            }
        }
        if self.quality.is_empty() && !self.series_only {
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
        o += "</tbody></table>";
        if !self.details.is_empty() {
            let _ =
                write!(o, "<details><summary>Other moments ({})</summary><ul>", self.details.len());
            for (t, w, ev) in &self.details {
                let _ = write!(o, "<li>{} <b>{}</b>: {}</li>", e(&hm(t)), e(w), e(ev));
            }
            o += "</ul></details>";
        }
        if !self.sources.is_empty() {
            let _ = write!(
                o,
                "<details><summary>Source lines cited as [n] ({})</summary><ol>",
                self.sources.len()
            );
            for at in &self.sources {
                let _ = write!(o, "<li><code>{}</code></li>", e(at));
            }
            o += "</ol></details>";
        }
        o += "</section><section><h2>Causal chain</h2><ol>";
        o += &list(&self.chain);
        if self.chain.is_empty() {
            o += "<li>The data supports no causal link.</li>";
        }
        let _ = write!(
            o,
            "</ol></section><section><h2>Lessons learned</h2><h3>What went well</h3><ul>{}</ul>\
<h3>What went wrong</h3><ul>{}</ul><h3>Where we got lucky</h3><ul>{}</ul>{}\
<h2>Action items</h2><ul>{}</ul></section>",
            list(&self.went_well),
            list(&self.went_wrong),
            list(&self.lucky),
            if self.helped.is_empty() {
                String::new()
            } else {
                // The SVG is plotters' output, which escapes its text itself.
                let chart = self.helped_svg.as_deref().map_or(String::new(), |svg| {
                    format!(
                        "<figure class=\"chart\">{}</figure>",
                        svg.trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
                    )
                });
                format!("<h2>What would have helped</h2><ul>{}</ul>{chart}", list(&self.helped))
            },
            if self.actions.is_empty() {
                "<li>None: the data shows nothing to act on.</li>".to_string()
            } else {
                list(&self.actions)
            }
        );
        if self.series_only {
            let _ = write!(o, "<section><h2>Data quality</h2><p>{}</p></section>", e(NO_SOURCES));
            o += "<footer>Made by rootline from a series table.</footer></main></body></html>\n";
            return o;
        }
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

/// What kept a metastable failure going, with the numbers behind it.
fn metastable_loop(m: &crate::findings::Metastability) -> String {
    let mut s = format!("What kept it going: {}", m.sustained_by);
    let mut facts = Vec::new();
    if m.retry_amplification >= 1.1 {
        facts.push(format!(
            "each first attempt became {:.1} attempts in the surge's busiest hour",
            m.retry_amplification
        ));
    } else if m.retry_amplification > 0.0 {
        facts.push("retries added little in the surge's busiest hour".to_string());
    }
    if let (Some(sync), Some(d)) = (m.synchronised_retries, m.dominant_retry_delay_s) {
        facts.push(if sync {
            format!(
                "retries came back in step ({:.0}% at ten delays, most often {d:.1} s), not jittered",
                100.0 * m.top_delays_share
            )
        } else {
            "retry delays were spread, as jitter spreads them".to_string()
        });
    }
    if let Some(c) = m.churn_ratio {
        facts.push(format!("nodes left and joined {c:.1}x as often as the day before"));
    }
    if let Some(u) = m.falling_capacity_utilisation {
        facts.push(format!("capacity kept falling at a utilisation of {:.0}%", 100.0 * u));
    }
    if !facts.is_empty() {
        s += &format!(" ({})", facts.join("; "));
    }
    s + "."
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Findings with nothing in them but what `parts` (JSON fields of [`Findings`]) sets.
    fn findings(parts: serde_json::Value) -> Findings {
        let mut f = serde_json::json!({
            "inputs": [], "surges": [], "exhaustions": [], "changes": [], "failures": [],
            "recovery": null, "chain": [], "coupling": null, "feedback": null, "phases": [],
            "impact": null, "params": {}
        });
        if let (Some(f), serde_json::Value::Object(parts)) = (f.as_object_mut(), parts) {
            f.extend(parts);
        }
        serde_json::from_value(f).unwrap()
    }

    /// An episode of `kind` on `series` from `onset` to `end`, peaking at `onset` with `value`
    /// against `baseline`.
    fn episode(
        kind: &str,
        series: &str,
        (onset, end): (&str, &str),
        value: f64,
        baseline: f64,
        score: f64,
        min: f64,
    ) -> serde_json::Value {
        let ratio = if baseline > 0.0 { value / baseline } else { 0.0 };
        serde_json::json!({"kind": kind, "series": series, "onset": onset, "peak": onset,
            "end": end, "baseline": baseline, "peak_value": value, "ratio": ratio,
            "score": score, "duration_min": min, "reason": "r"})
    }

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
        let f = findings(serde_json::json!({}));
        let md =
            Story::tell(&f, "t\n## Action items\n- [ ] [x](javascript:alert(1)) | y").markdown();
        assert_eq!(md.lines().filter(|l| l.starts_with("## Action items")).count(), 1, "{md}");
        assert!(!md.replace("\\]", "").contains("](javascript"), "an unescaped link: {md}");
        assert!(md.lines().next().unwrap().starts_with("# Postmortem: t \\#\\#"), "{md}");
    }

    /// A change wave's long flood and, later in the wave, a higher but shorter retry wave
    /// (the simulator at 300,000 clients): the flood is the headline, the later wave is named
    /// as the largest, and the timeline says the flood begins.
    #[test]
    fn the_headline_is_the_flood_the_wave_caused_not_the_highest_peak() {
        let ep = |kind: &str, series: &str, onset: &str, end: &str, ratio: f64, min: f64| {
            episode(kind, series, (onset, end), 100.0 * ratio, 100.0, 10.0, min)
        };
        let f = findings(serde_json::json!({
            "surges": [
                ep("surge", "attempts", "2007-08-15T18:43:00Z", "2007-08-16T12:16:00Z", 12.0, 1054.0),
                ep("surge", "attempts", "2007-08-16T17:36:00Z", "2007-08-17T00:39:00Z", 14.3, 424.0),
            ],
            "changes": [ep("change_wave", "change_install", "2007-08-15T13:51:00Z", "2007-08-17T01:00:00Z", 0.0, 2000.0)],
            "failures": [ep("failures", "failures", "2007-08-16T18:15:00Z", "2007-08-17T03:44:00Z", 5.0, 500.0)],
            "chain": [{"from": "change_wave", "to": "surge", "from_at": "2007-08-15T13:51:00Z",
                "to_at": "2007-08-15T18:43:00Z", "lag_min": 292.0, "xcorr": null,
                "xcorr_lag_min": null, "evidence": []}],
        }));
        let md = Story::tell(&f, "t").markdown();
        assert!(md.contains("12.0x their baseline"), "{md}");
        assert!(
            md.contains("the largest, 1430 a minute from 2007-08-16 17:36Z, came later"),
            "{md}"
        );
        assert!(md.contains("| 2007-08-15 18:43Z | the flood begins"), "{md}");
    }

    /// Logs of two incidents months apart: the headline is the larger wave, and the summary
    /// says the figures span both stretches and how to tell one.
    #[test]
    fn stretches_days_apart_are_said_to_be_maybe_separate_incidents() {
        let ep = |onset: &str, end: &str, v: f64, score: f64| {
            episode("surge", "attempts", (onset, end), v, 0.0, score, 3.0)
        };
        let f = findings(serde_json::json!({
            "surges": [
                ep("2005-07-10T16:01:00Z", "2005-07-10T16:03:00Z", 16.0, 46.0),
                ep("2005-12-10T10:54:00Z", "2005-12-10T11:04:00Z", 29.2, 30.0),
            ],
        }));
        let md = Story::tell(&f, "t").markdown();
        assert!(md.contains("rose to 29 a minute"), "{md}");
        assert!(
            md.contains("2 stretches a day or more apart (from 2005-07-10 to 2005-12-10)"),
            "{md}"
        );
    }
}

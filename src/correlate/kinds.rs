//! Kinds of incident: from the findings, which known shapes the incident has, each with the
//! evidence for it and against it, most fitting first. The story's lessons follow the kinds
//! (a brute force is answered with rate limits and blocking, never with client backoff).
//!
//! Each kind has a few tests; its confidence is the share it passes, and it is claimed when
//! its deciding test passes and the confidence is at least one half.

use polars::prelude::PolarsResult;

use crate::detect::{Episode, SeriesSet};
use crate::findings::{Archetype, ArchetypeKind, Coupling, Feedback, Link, LinkEnd, Metastability};
use crate::ids::{IdSet, Ids, NONE};
use crate::schema::{self, Role, Tables, signal};
use crate::units::plural;

/// What the kinds are judged on.
pub(crate) struct Evidence<'a> {
    pub s: &'a SeriesSet,
    pub tables: &'a Tables,
    pub surges: &'a [Episode],
    pub exhaustions: &'a [Episode],
    pub failures: &'a [Episode],
    pub chain: &'a [Link],
    pub coupling: Option<&'a Coupling>,
    pub feedback: Option<&'a Feedback>,
    /// Present when the overload outlived the main change wave (see `metastable`).
    pub metastability: Option<&'a Metastability>,
    /// Dense ids of the login table's users and clients.
    pub users: &'a Ids,
    pub clients: &'a Ids,
}

/// Who tried to log in during the incident: the brute-force signature.
#[derive(Debug, Default)]
struct Logins {
    attempts: u64,
    failures: u64,
    clients: usize,
    /// Share of the failures from the five clients with the most.
    top5_share: f64,
    users: usize,
    invalid_users: u64,
    /// Attempts by a user after one of that user's attempts failed: retries.
    retries: u64,
}

fn logins(e: &Evidence, from_ms: i64, to_ms: i64) -> PolarsResult<Logins> {
    let Some(df) = e.tables.get(&Role::Login) else { return Ok(Logins::default()) };
    let ts = schema::ts_ms(df)?;
    let within = schema::rows_within(df, &ts, from_ms, to_ms)?;
    let df = df.slice(within.start as i64, within.len());
    let outcome = schema::outcomes(&df)?;
    let invalid = |r: Option<&str>| r.is_some_and(|r| r.contains("invalid"));
    let reason = match df.column(schema::REASON) {
        Ok(c) => schema::classes(c, invalid)?,
        Err(_) => vec![false; df.height()],
    };
    let mut out = Logins::default();
    let mut per_client = vec![0u64; e.clients.names];
    // Users with a failed attempt so far: the retry test, and at the end the user names tried.
    let mut failed = IdSet::new(e.users.names);
    let (clients, users) = (e.clients.iter().skip(within.start), e.users.iter().skip(within.start));
    let rows = ts[within].iter().zip(outcome).zip(clients).zip(users).zip(reason);
    for ((((t, o), c), u), r) in rows {
        if !(from_ms..to_ms).contains(t) {
            continue;
        }
        out.attempts += 1;
        let u = (u != NONE).then_some(u);
        if u.is_some_and(|u| failed.contains(u)) {
            out.retries += 1;
        }
        if o != schema::Outcome::Fail {
            continue;
        }
        if let Some(u) = u {
            failed.insert(u);
        }
        out.failures += 1;
        if c != NONE {
            per_client[c as usize] += 1;
        }
        if r {
            out.invalid_users += 1;
        }
    }
    let mut counts: Vec<u64> = per_client.into_iter().filter(|n| *n > 0).collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let top: u64 = counts.iter().take(5).sum();
    out.clients = counts.len();
    out.top5_share = if out.failures > 0 { top as f64 / out.failures as f64 } else { 0.0 };
    out.users = failed.len();
    Ok(out)
}

/// A kind's tests: (passed, what it says), the first deciding.
struct Tests {
    kind: ArchetypeKind,
    tests: Vec<(bool, String)>,
    /// How many of the first tests must pass for the kind to be told at all.
    decisive: usize,
}

impl Tests {
    fn new(kind: ArchetypeKind) -> Tests {
        Tests { kind, tests: Vec::new(), decisive: 1 }
    }
    fn decisive(mut self, n: usize) -> Tests {
        self.decisive = n;
        self
    }
    fn test(mut self, passed: bool, what: String) -> Tests {
        self.tests.push((passed, what));
        self
    }
    fn judge(self) -> Option<Archetype> {
        let decides =
            self.tests.len() >= self.decisive && self.tests.iter().take(self.decisive).all(|t| t.0);
        let n = self.tests.len().max(1) as f64;
        let confidence = self.tests.iter().filter(|t| t.0).count() as f64 / n;
        let (evidence, against): (Vec<_>, Vec<_>) = self.tests.into_iter().partition(|t| t.0);
        (decides && confidence >= 0.5).then(|| Archetype {
            kind: self.kind,
            confidence: (confidence * 100.0).round() / 100.0,
            evidence: evidence.into_iter().map(|t| t.1).collect(),
            against: against.into_iter().map(|t| t.1).collect(),
            metastable: false,
            measures: Default::default(),
        })
    }
}

/// `99.8%` near the ends (so 452 of 453 is not "100%"), else `96%`.
fn percent(share: f64) -> String {
    let p = 100.0 * share;
    if (p > 99.0 && p < 100.0) || (p > 0.0 && p < 1.0) {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}

fn linked(chain: &[Link], from: LinkEnd, to: LinkEnd) -> bool {
    chain.iter().any(|l| l.from == from && l.to == to)
}

/// The kinds the incident is, most fitting first (none for a quiet stretch).
pub(crate) fn kinds(e: &Evidence) -> PolarsResult<Vec<Archetype>> {
    let mut out = Vec::new();
    let first = e.surges.iter().chain(e.exhaustions).chain(e.failures).map(|x| x.onset_i).min();
    let Some(first) = first else { return Ok(out) };
    let last = e.surges.iter().chain(e.exhaustions).chain(e.failures).map(|x| x.end_i).max();
    let (from_ms, to_ms) = (e.s.at(first), e.s.at(last.unwrap_or(first) + 1));
    let l = logins(e, from_ms, to_ms)?;
    let has_capacity =
        e.s.get(signal::NODES_ONLINE).is_some() || e.s.get(signal::CAPACITY).is_some();
    let fail_share = if l.attempts > 0 { l.failures as f64 / l.attempts as f64 } else { 0.0 };
    let cause =
        |to| linked(e.chain, LinkEnd::Change, to) || linked(e.chain, LinkEnd::ChangeWave, to);

    // A brute force: failures far above successes, from few clients, over many user names.
    // Both of the first two must hold: a whole population failing to log in is an outage.
    out.extend(
        Tests::new(ArchetypeKind::BruteForce)
            .decisive(2)
            .test(
                l.failures >= 20 && fail_share >= 0.7,
                format!(
                    "{} of {} login attempts failed ({})",
                    l.failures,
                    l.attempts,
                    percent(fail_share)
                ),
            )
            .test(
                l.clients > 0 && (l.clients <= 20 || l.top5_share >= 0.6),
                if l.clients <= 5 {
                    format!("{} sent the failures", plural(l.clients as u64, "client"))
                } else {
                    format!(
                        "{} sent the failures, the busiest five {} of them",
                        plural(l.clients as u64, "client"),
                        percent(l.top5_share)
                    )
                },
            )
            .test(
                l.users >= 10 || l.invalid_users * 5 >= l.failures,
                format!(
                    "{} tried, {} on names that do not exist",
                    plural(l.users as u64, "user name"),
                    plural(l.invalid_users, "attempt")
                ),
            )
            .test(
                e.exhaustions.is_empty(),
                if has_capacity {
                    "capacity held".into()
                } else {
                    "no capacity data: nothing ran out that the logs show".into()
                },
            )
            .judge()
            .map(|mut a| {
                a.measures = [
                    ("attempts", l.attempts as f64),
                    ("failures", l.failures as f64),
                    ("clients", l.clients as f64),
                    ("user_names", l.users as f64),
                    ("invalid_user_attempts", l.invalid_users as f64),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
                a
            }),
    );
    // A coupled shock: one change added demand and removed capacity.
    let wave_surge = linked(e.chain, LinkEnd::ChangeWave, LinkEnd::Surge);
    let wave_exh = linked(e.chain, LinkEnd::ChangeWave, LinkEnd::Exhaustion);
    out.extend(
        Tests::new(ArchetypeKind::CoupledShock)
            .test(
                (wave_surge || cause(LinkEnd::Surge)) && (wave_exh || cause(LinkEnd::Exhaustion)),
                "one change is linked to both the surge and the capacity lost".into(),
            )
            .test(
                e.coupling.is_some_and(|c| c.share >= 0.5),
                match e.coupling {
                    Some(c) => format!(
                        "{:.0}% of the nodes lost ({} of {}) took the change themselves",
                        100.0 * c.share,
                        c.nodes_lost_to_change,
                        c.nodes_lost
                    ),
                    None => "no node loss to weigh against the change".into(),
                },
            )
            .test(
                linked(e.chain, LinkEnd::Change, LinkEnd::ChangeWave),
                "a release set the change wave off".into(),
            )
            .judge(),
    );
    // A retry storm: retries multiplied demand (metastable when the overload outlived the trigger).
    let retry_share = if l.attempts > 0 { l.retries as f64 / l.attempts as f64 } else { 0.0 };
    let metastable = e.metastability.is_some();
    let retry = Tests::new(ArchetypeKind::RetryStorm)
        .test(
            retry_share >= 0.1,
            format!(
                "{} of {} attempts ({:.1}%) came from users whose earlier attempt had failed",
                l.retries,
                l.attempts,
                100.0 * retry_share
            ),
        )
        .test(
            e.feedback.is_some_and(|fb| fb.per_user_vs_failures >= 0.2),
            format!(
                "attempts per user rose with the failure ratio (correlation {:.2})",
                e.feedback.map_or(0.0, |fb| fb.per_user_vs_failures)
            ),
        )
        .test(
            metastable,
            match e.metastability {
                Some(m) => {
                    format!("the overload outlived its trigger by {:.1} h", m.outlived_min / 60.0)
                }
                None => "the overload did not outlive a trigger by six hours or more".into(),
            },
        )
        .judge();
    out.extend(retry.map(|mut a| {
        a.metastable = metastable;
        a.measures = [("retries", l.retries as f64), ("retry_share", retry_share)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        a
    }));
    // A bad deploy: failures after a deploy, with no rise in demand.
    out.extend(
        Tests::new(ArchetypeKind::BadDeploy)
            .test(
                linked(e.chain, LinkEnd::Change, LinkEnd::Failures),
                "a change came shortly before the failures".into(),
            )
            .test(e.surges.is_empty(), "demand did not surge".into())
            .test(e.exhaustions.is_empty(), "capacity held".into())
            .judge(),
    );
    // A flash crowd: demand rose with no change behind it, and capacity held.
    out.extend(
        Tests::new(ArchetypeKind::FlashCrowd)
            .test(
                !e.surges.is_empty() && !cause(LinkEnd::Surge) && fail_share < 0.5,
                format!(
                    "demand surged with no change in the logs before it ({:.0}% of attempts failed)",
                    100.0 * fail_share
                ),
            )
            .test(e.exhaustions.is_empty(), "capacity held".into())
            .test(e.failures.is_empty(), "logins did not fail far more than usual".into())
            .judge(),
    );
    // Capacity lost with no rise in demand.
    let surge_before = |x: &Episode| e.surges.iter().any(|s| s.onset_i <= x.onset_i + 60);
    out.extend(
        Tests::new(ArchetypeKind::CapacityLoss)
            .test(
                e.exhaustions.iter().any(|x| !surge_before(x)),
                "capacity fell with no surge before it".into(),
            )
            .test(e.surges.is_empty(), "demand did not surge".into())
            .judge(),
    );
    // Attackers do not back off: a brute force's repeated tries are no retry storm.
    if out.iter().any(|a| a.kind == ArchetypeKind::BruteForce) {
        out.retain(|a| a.kind != ArchetypeKind::RetryStorm);
    }
    out.sort_by(|a, b| b.confidence.total_cmp(&a.confidence).then(a.kind.cmp(&b.kind)));
    // A retry storm that a coupled shock set off is told after the shock: the shock is the
    // story's cause, the storm what kept it going.
    let shock = out.iter().position(|a| a.kind == ArchetypeKind::CoupledShock);
    let storm = out.iter().position(|a| a.kind == ArchetypeKind::RetryStorm);
    if let (Some(c), Some(r)) = (shock, storm)
        && r < c
    {
        let a = out.remove(c);
        out.insert(r, a);
    }
    Ok(out)
}

//! `findings.json`: the machine-readable result of `rootline analyze`, and its wire format.
//!
//! Every time is RFC 3339 UTC. Top level:
//! - `inputs`: per source, what ingest made of it (see [`crate::ingest::SourceReport`]).
//! - `surges`, `exhaustions`, `changes` (change waves), `failures`: [`Episode`]s in time order;
//!   `metrics`: `metric_shift` episodes of plain metrics.
//! - `chain`: [`Link`]s of the causal story, each with its lag, lagged cross-correlation and
//!   evidence; only links the data supports are there.
//! - `coupling`, `feedback`: see their types.
//! - `phases`: trigger, surge, exhaustion, degraded, recovery, with start and end.
//! - `impact`: failed logins, users affected, duration, time to recover.
//! - `params`: the bucket and thresholds used, so a run can be repeated.

use serde::{Deserialize, Serialize};

use crate::detect::DetectOptions;
pub use crate::detect::{Episode, EpisodeKind};
use crate::ingest::SourceReport;

/// Everything `analyze` needs besides the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnalyzeOptions {
    pub bucket_ms: i64,
    pub detect: DetectOptions,
    /// The longest lag between linked episodes, in minutes.
    pub max_lag_min: f64,
    /// How far before a change wave its trigger (a release, deploy, config change) may be.
    pub trigger_lookback_h: f64,
    /// How long before failures a deploy or config change may be to be blamed for them.
    pub change_to_failure_min: f64,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions {
            bucket_ms: 60_000,
            detect: DetectOptions::default(),
            max_lag_min: 24.0 * 60.0,
            trigger_lookback_h: 72.0,
            change_to_failure_min: 120.0,
        }
    }
}

/// An end of a causal link: a single change event, or an episode, or the recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkEnd {
    /// One change event (a release, a deploy, a config change).
    Change,
    ChangeWave,
    Surge,
    Exhaustion,
    Failures,
    Recovery,
}

impl LinkEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkEnd::Change => "change",
            LinkEnd::ChangeWave => "change_wave",
            LinkEnd::Surge => "surge",
            LinkEnd::Exhaustion => "exhaustion",
            LinkEnd::Failures => "failures",
            LinkEnd::Recovery => "recovery",
        }
    }

    /// The link end an episode is (metric shifts are never in the chain).
    pub fn of(kind: EpisodeKind) -> Option<LinkEnd> {
        match kind {
            EpisodeKind::Surge => Some(LinkEnd::Surge),
            EpisodeKind::Exhaustion => Some(LinkEnd::Exhaustion),
            EpisodeKind::ChangeWave => Some(LinkEnd::ChangeWave),
            EpisodeKind::Failures => Some(LinkEnd::Failures),
            EpisodeKind::MetricShift => None,
        }
    }
}

impl std::fmt::Display for LinkEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The change event a link starts from, as the change table has it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeRef {
    /// `release`, `deploy`, `config`, ...
    pub kind: String,
    pub item: Option<String>,
    pub target: Option<String>,
    /// `source:line` of the change's row.
    pub at: String,
}

/// A known kind of incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchetypeKind {
    /// One change added demand and removed capacity (the 2007 story).
    CoupledShock,
    /// Retries multiplied demand; metastable when the overload outlived its trigger.
    RetryStorm,
    /// Failures after a deploy, with no rise in demand.
    BadDeploy,
    /// Demand rose with no change behind it, and capacity held.
    FlashCrowd,
    /// Capacity fell with no rise in demand.
    CapacityLoss,
    /// Few clients, many user names or invalid users, failures far above successes.
    BruteForce,
}

impl ArchetypeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ArchetypeKind::CoupledShock => "coupled shock",
            ArchetypeKind::RetryStorm => "retry storm",
            ArchetypeKind::BadDeploy => "bad deploy",
            ArchetypeKind::FlashCrowd => "flash crowd",
            ArchetypeKind::CapacityLoss => "capacity loss",
            ArchetypeKind::BruteForce => "brute force",
        }
    }
}

/// One kind the incident is, with what speaks for it and against it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Archetype {
    pub kind: ArchetypeKind,
    /// The share of the kind's tests the findings pass (0.5 to 1).
    pub confidence: f64,
    pub evidence: Vec<String>,
    pub against: Vec<String>,
    /// For a retry storm: the overload outlived its trigger (a metastable failure).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub metastable: bool,
    /// The numbers the tests read, by name (`failures`, `clients`, `user_names`,
    /// `retry_share`...).
    #[serde(default)]
    pub measures: std::collections::BTreeMap<String, f64>,
}

/// When a `rootline check` run on these logs would first have raised WARNING and CRITICAL,
/// with its default thresholds: a nightly one (24 h windows ending at midnight UTC, run just
/// after) and an hourly one (`--window 1h`). An episode counts for a window once its first
/// `min_len` buckets are in it, as a check run then could have seen them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub nightly_warning_at: Option<String>,
    pub nightly_critical_at: Option<String>,
    pub hourly_warning_at: Option<String>,
    pub hourly_critical_at: Option<String>,
}

/// One causal link: `from` led to `to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub from: LinkEnd,
    pub to: LinkEnd,
    /// When each end started, and minutes from one to the other.
    pub from_at: String,
    pub to_at: String,
    /// Negative when `to`'s onset, read back to its band's edge, came a few minutes first.
    pub lag_min: f64,
    /// Pearson correlation of the two series at the best lag (in minutes, `to` after `from`);
    /// absent when one end is not a series (a single change event).
    pub xcorr: Option<f64>,
    pub xcorr_lag_min: Option<f64>,
    /// What supports the link, in words with counts and source lines.
    pub evidence: Vec<String>,
    /// The change event, when `from` is a single change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<ChangeRef>,
}

/// How much of the lost capacity was lost on nodes that took the change themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coupling {
    /// Nodes that left during the exhaustion, and of them those with a reboot or install of
    /// their own in the hour before.
    pub nodes_lost: u64,
    pub nodes_lost_to_change: u64,
    pub share: f64,
}

/// Signs of a feedback loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    /// Attempts per distinct user in the worst surge, against the baseline before it.
    pub per_user_peak: f64,
    pub per_user_baseline: f64,
    /// Correlation of attempts per user with the failure ratio over the incident.
    pub per_user_vs_failures: f64,
    /// Minutes from the end of the trigger (the last change wave) to recovery: the overload
    /// outliving its cause when this is long.
    pub trigger_end_to_recovery_min: Option<f64>,
}

/// A metastable failure: the overload outlived its trigger (the main change wave) by at least
/// six hours, and what kept it going (see `correlate::metastable`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metastability {
    /// When the trigger (the main change wave) ended.
    pub trigger_end: String,
    /// Minutes from the trigger's end to recovery, or to the last overload episode's end.
    pub outlived_min: f64,
    pub recovered: bool,
    /// Attempts over first attempts in the surge's busiest hour (a retry is an attempt by a
    /// user whose previous attempt, at most an hour before, failed); 0 when not measured.
    pub retry_amplification: f64,
    /// Retry delays measured from the trigger's start to the end of the overload.
    pub retry_delays: u64,
    /// The most common retry delay, in seconds.
    pub dominant_retry_delay_s: Option<f64>,
    /// The share of retry delays at the ten most common delays (to 100 ms, or to the second
    /// when every stamp is a whole second).
    pub top_delays_share: f64,
    /// Whether retries came back at the same few delays (no jitter); `None` with fewer than
    /// 50 retries or whole-second stamps, which cannot tell.
    pub synchronised_retries: Option<bool>,
    /// Node churn per bucket after the trigger over the day before it.
    pub churn_ratio: Option<f64>,
    /// What kept the overload going: `retries`, `capacity churn`, both, or neither.
    pub sustained_by: String,
    /// The median utilisation of the hours in which capacity kept falling.
    pub falling_capacity_utilisation: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    /// `trigger` (the main change wave), `surge`, `exhaustion` and `degraded` (one per
    /// episode) or `recovery`.
    pub name: String,
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Impact {
    /// Failed logins between the first episode's onset and recovery (or the data's end).
    pub failed_logins: u64,
    /// Failed logins in all the logs, in and out of the incident (the usual wrong passwords
    /// too): the figure a reader checks `failed_logins` against.
    #[serde(default)]
    pub failed_logins_in_logs: u64,
    /// Distinct users with at least one failed login then.
    pub users_affected: u64,
    /// Minutes from the first episode's onset to recovery (or the data's end).
    pub duration_min: f64,
    /// Minutes from the trigger's start to recovery, when there is both.
    pub time_to_recover_min: Option<f64>,
    /// Users locked out: those who tried to log in in a clock hour (between the first
    /// episode's onset and recovery) and never got in during it.
    #[serde(default)]
    pub locked_out: Option<LockedOut>,
}

/// Users who tried and never got in, per clock hour of the incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockedOut {
    /// Distinct users locked out for at least one whole clock hour.
    pub users: u64,
    /// Clock hours in which most of the users who tried (at least 10) were locked out.
    pub hours_majority: u64,
    /// The largest share of the users who tried in an hour that were locked out.
    pub peak_share: f64,
}

/// The whole `findings.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Findings {
    pub inputs: Vec<SourceReport>,
    pub surges: Vec<Episode>,
    pub exhaustions: Vec<Episode>,
    pub changes: Vec<Episode>,
    pub failures: Vec<Episode>,
    /// Plain metrics (role `metric`) that took a shape not seen before in them, per series
    /// (`metric:<name>`); told, never linked into the chain.
    #[serde(default)]
    pub metrics: Vec<Episode>,
    /// When demand and failures were back in their bands after the last episode.
    pub recovery: Option<String>,
    pub chain: Vec<Link>,
    /// The kinds of incident this is, most fitting first (empty when nothing happened).
    #[serde(default)]
    pub archetypes: Vec<Archetype>,
    /// When a check would first have raised the alarm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection: Option<Detection>,
    pub coupling: Option<Coupling>,
    pub feedback: Option<Feedback>,
    /// Present when the overload outlived its trigger (a metastable failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metastability: Option<Metastability>,
    pub phases: Vec<Phase>,
    pub impact: Option<Impact>,
    /// The bucket and thresholds used, so that a run can be repeated and a report drawn with
    /// the same baselines (written with sorted keys).
    #[serde(serialize_with = "sorted_keys")]
    pub params: AnalyzeOptions,
}

impl Findings {
    /// `findings.json` as rootline writes it, everywhere: pretty, with a final newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("findings serialize") + "\n"
    }
}

fn sorted_keys<S: serde::Serializer>(o: &AnalyzeOptions, s: S) -> Result<S::Ok, S::Error> {
    serde_json::to_value(o).map_err(serde::ser::Error::custom)?.serialize(s)
}

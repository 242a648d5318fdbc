//! Simulate: a model of the August 2007 Skype outage (and of stories that are not it) whose
//! output is logs, with the truth the model knows written beside them.
//!
//! The model is agent-based and event-driven: each client is a PC with a time zone, a daily
//! rhythm and maybe Automatic Updates; supernodes are clients with good uptime that admit a
//! bounded number of clients. Patch Tuesday's release makes updating PCs install and restart
//! in their local night; restarted clients log in again and failed logins are retried by the
//! client's retry policy; restarted supernodes leave; overloaded supernodes drop out and their
//! clients log in again; self-healing promotes clients to supernodes, slowed under stress by
//! the allocation bug. Every parameter is in [`SimParams`], so a what-if changes one and
//! re-runs. Same seed and parameters give byte-identical files.

mod model;
pub(crate) mod rng;
pub mod truth;
mod write;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{TimeZone, Utc};
use serde::Serialize;

use crate::error::unknown_value;
pub use truth::Truth;
pub use write::SimFormat;

/// The stories the simulator can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// Patch Tuesday's restart wave floods logins while it takes supernodes away.
    #[serde(rename = "skype-2007")]
    Skype2007,
    /// A normal week: patches installed, restarts spread out. No surge, no exhaustion.
    Quiet,
    /// A server-side deploy makes logins fail, without any demand surge; rolled back later.
    BadDeploy,
    /// Many new logins at once with no change behind them, and capacity enough to absorb them.
    FlashCrowd,
}

impl Scenario {
    pub const ALL: [Scenario; 4] =
        [Scenario::Skype2007, Scenario::Quiet, Scenario::BadDeploy, Scenario::FlashCrowd];

    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Skype2007 => "skype-2007",
            Scenario::Quiet => "quiet",
            Scenario::BadDeploy => "bad-deploy",
            Scenario::FlashCrowd => "flash-crowd",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scenario::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| unknown_value("scenario", s, Scenario::ALL.map(Scenario::as_str)))
    }
}

/// What the service does differently in a run: `observed` is what happened; the others are
/// the counterfactuals `rootline simulate --policy` runs on the same population and seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// As it was.
    Observed,
    /// Clients back off exponentially (x2 from 15 s, capped at `backoff_cap_s`) with full jitter.
    BackoffJitter,
    /// A client retries at most `retry_budget_per_h` times an hour, then waits for the hour.
    RetryBudget,
    /// A supernode that has admitted its quota for the minute queues further logins for the
    /// next minute instead of failing them; queued logins do not load it.
    AdmissionQueue,
    /// Installs (and restarts) spread at random over `stagger_hours` instead of each time
    /// zone's night.
    StaggerRollout,
    /// PCs serving as supernodes put their restart off by `shield_hours`, out of the wave.
    ShieldCapacity,
}

impl Policy {
    pub const ALL: [Policy; 6] = [
        Policy::Observed,
        Policy::BackoffJitter,
        Policy::RetryBudget,
        Policy::AdmissionQueue,
        Policy::StaggerRollout,
        Policy::ShieldCapacity,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Observed => "observed",
            Policy::BackoffJitter => "backoff-jitter",
            Policy::RetryBudget => "retry-budget",
            Policy::AdmissionQueue => "admission-queue",
            Policy::StaggerRollout => "stagger-rollout",
            Policy::ShieldCapacity => "shield-capacity",
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Policy::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| unknown_value("policy", s, Policy::ALL.map(Policy::as_str)))
    }
}

/// The knobs of the policies (`--backoff-cap`, `--retry-budget`, `--stagger-hours`,
/// `--shield-hours`), as `simulate --policy` and `whatif` take them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PolicyKnobs {
    /// backoff-jitter: the longest wait between retries, in seconds.
    pub backoff_cap_s: f64,
    /// retry-budget: retries a client may make in an hour.
    pub retry_budget_per_h: u32,
    /// stagger-rollout: the hours the installs are spread over.
    pub stagger_hours: f64,
    /// shield-capacity: how long a supernode's PC puts its restart off.
    pub shield_hours: f64,
}

impl Default for PolicyKnobs {
    fn default() -> Self {
        PolicyKnobs {
            backoff_cap_s: 1800.0,
            retry_budget_per_h: 10,
            stagger_hours: 24.0,
            shield_hours: 48.0,
        }
    }
}

/// How a client retries a failed login: wait `base_s * backoff^k`, capped at `max_s`, then
/// spread by `jitter` (0.5 means +-50%).
#[derive(Debug, Clone, Serialize)]
pub struct RetryPolicy {
    pub base_s: f64,
    pub backoff: f64,
    pub max_s: f64,
    pub jitter: f64,
}

/// Every knob of the model, with the defaults of the scenario that sets it.
#[derive(Debug, Clone, Serialize)]
pub struct SimParams {
    pub scenario: Scenario,
    pub seed: u64,
    /// Client PCs modelled (Skype had 5-6 million online, 9 million at peak).
    pub clients: usize,
    /// First simulated instant (UTC) and how many days follow.
    pub start_ms: i64,
    pub days: u32,
    /// Patch Tuesday's release (UTC); `None` means no patch this run.
    pub release_ms: Option<i64>,
    /// The KB id of the patch.
    pub patch_item: String,
    /// Share of PCs with Automatic Updates that install and restart on their own.
    pub auto_update_share: f64,
    /// The same share among the PCs that start as supernodes (well-kept always-on PCs).
    pub supernode_auto_update_share: f64,
    /// Hours after the release until an updating PC has downloaded the patch (uniform range).
    pub download_hours: (f64, f64),
    /// Local hour of the scheduled install (Windows Update's default is 03:00).
    pub install_local_hour: f64,
    /// Minutes between the install starting and the restart (uniform range).
    pub restart_after_min: (f64, f64),
    /// When true, installs happen at random hours over `spread_hours` instead of together in
    /// the local night (users choosing "restart later"): the quiet week.
    pub spread_installs: bool,
    pub spread_hours: f64,
    /// Share of PCs left on around the clock, Skype running.
    pub always_on_share: f64,
    /// Mean local hour an evening session starts, its spread (h), and mean length (h).
    pub session_hour: f64,
    pub session_spread_h: f64,
    pub session_mean_h: f64,
    /// Chance of a second, morning session, and its mean length (h).
    pub morning_share: f64,
    pub morning_mean_h: f64,
    /// Seconds from a restart to Skype logging in again (uniform range).
    pub relogin_after_s: (f64, f64),
    pub retry: RetryPolicy,
    /// After failing for this many minutes the user gives up; Skype on an always-on PC tries
    /// again after `comeback_min` (uniform range).
    pub give_up_after_min: f64,
    pub comeback_min: (f64, f64),
    /// Chance that an attempt fails on a mistyped password.
    pub auth_error_rate: f64,
    /// Supernodes at the start, as a multiple of what the network wants for the expected
    /// evening peak (`1.0`: just enough at `target_util`).
    pub supernode_headroom: f64,
    /// Clients one supernode holds at most.
    pub supernode_capacity: u32,
    /// Logins one supernode admits per minute at most.
    pub admit_per_min: u32,
    /// A supernode asked for more than this many times its admission rate in a minute is
    /// overloaded, and drops out with `overload_drop_chance` each such minute.
    pub overload_factor: f64,
    pub overload_drop_chance: f64,
    /// Self-healing: the network wants `online / (capacity * target_util)` supernodes and
    /// promotes this share of the deficit per minute.
    pub target_util: f64,
    pub promote_rate: f64,
    /// The allocation bug: under stress (supernode utilisation above `stress_util`, more
    /// than `stress_fail_ratio` of a minute's logins failing, or more than `stress_churn` of
    /// the supernodes lost in the last `churn_window_h` hours) promotion runs at this fraction.
    pub bug_factor: f64,
    pub stress_util: f64,
    pub stress_fail_ratio: f64,
    pub stress_churn: f64,
    pub churn_window_h: f64,
    /// When the operator's fix of the allocation bug lands (UTC); from then on promotion runs
    /// at its full rate under stress too. `None`: never fixed in this run.
    pub bug_fixed_ms: Option<i64>,
    /// Hours of uptime a PC needs before it can be promoted.
    pub promote_uptime_h: f64,
    /// Minutes between load samples of each supernode in supernodes.log.
    pub sample_every_min: u32,
    /// bad-deploy: when the deploy lands, when it is rolled back, the region it hits and the
    /// chance that an attempt there fails with `server_error` meanwhile.
    pub deploy_ms: Option<i64>,
    pub rollback_ms: Option<i64>,
    pub deploy_region: String,
    pub deploy_fail_rate: f64,
    /// flash-crowd: when the crowd arrives, the share of clients that join, and over how many
    /// minutes they arrive.
    pub crowd_ms: Option<i64>,
    pub crowd_share: f64,
    pub crowd_minutes: f64,
    /// The policy of this run ([`Policy`]) and its knobs.
    pub policy: Policy,
    pub backoff_cap_s: f64,
    pub retry_budget_per_h: u32,
    pub stagger_hours: f64,
    pub shield_hours: f64,
}

fn utc(y: i32, m: u32, d: u32, h: u32) -> i64 {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).single().expect("valid date").timestamp_millis()
}

const HOUR_MS: i64 = 3_600_000;

impl SimParams {
    /// The defaults of a scenario, starting on 2007-08-12 (two days before Patch Tuesday).
    pub fn new(scenario: Scenario) -> SimParams {
        let start = utc(2007, 8, 12, 0);
        let mut p = SimParams {
            scenario,
            seed: 1,
            clients: 20_000,
            start_ms: start,
            days: 8,
            release_ms: Some(utc(2007, 8, 14, 17)),
            patch_item: "KB936782".into(),
            auto_update_share: 0.6,
            supernode_auto_update_share: 0.6,
            download_hours: (20.0, 34.0),
            install_local_hour: 3.0,
            restart_after_min: (2.0, 25.0),
            spread_installs: false,
            spread_hours: 96.0,
            always_on_share: 0.35,
            session_hour: 19.0,
            session_spread_h: 3.0,
            session_mean_h: 4.0,
            morning_share: 0.4,
            morning_mean_h: 1.5,
            relogin_after_s: (60.0, 240.0),
            retry: RetryPolicy { base_s: 15.0, backoff: 1.3, max_s: 240.0, jitter: 0.2 },
            give_up_after_min: 45.0,
            comeback_min: (60.0, 180.0),
            auth_error_rate: 0.004,
            supernode_headroom: 1.0,
            supernode_capacity: 30,
            admit_per_min: 3,
            overload_factor: 3.0,
            overload_drop_chance: 0.1,
            target_util: 0.6,
            promote_rate: 0.05,
            bug_factor: 0.006,
            stress_util: 0.7,
            stress_fail_ratio: 0.05,
            stress_churn: 0.05,
            churn_window_h: 6.0,
            bug_fixed_ms: None,
            promote_uptime_h: 4.0,
            sample_every_min: 15,
            deploy_ms: None,
            rollback_ms: None,
            deploy_region: "eu".into(),
            deploy_fail_rate: 0.6,
            crowd_ms: None,
            crowd_share: 0.0,
            crowd_minutes: 20.0,
            policy: Policy::Observed,
            backoff_cap_s: PolicyKnobs::default().backoff_cap_s,
            retry_budget_per_h: PolicyKnobs::default().retry_budget_per_h,
            stagger_hours: PolicyKnobs::default().stagger_hours,
            shield_hours: PolicyKnobs::default().shield_hours,
        };
        match scenario {
            Scenario::Skype2007 => {
                // The network of August 2007 ran lean: supernodes sized to be 80% full at
                // the evening peak, each admitting 2 logins a minute and falling over when
                // asked for more than 3. Clients retried every 15 s growing to 5 min, gave up
                // after 30 min and tried again 2-6 h later. Skype's fix of the allocation bug
                // reached the network early on 18 August.
                p.supernode_auto_update_share = 0.9;
                p.target_util = 0.8;
                p.stress_util = 0.9;
                p.admit_per_min = 2;
                p.overload_factor = 1.5;
                p.overload_drop_chance = 0.05;
                p.retry = RetryPolicy { base_s: 15.0, backoff: 1.5, max_s: 300.0, jitter: 0.2 };
                p.give_up_after_min = 30.0;
                p.comeback_min = (120.0, 360.0);
                p.bug_fixed_ms = Some(utc(2007, 8, 18, 6));
            }
            Scenario::Quiet => {
                p.days = 7;
                p.spread_installs = true;
                p.bug_factor = 1.0;
            }
            Scenario::BadDeploy => {
                p.release_ms = None;
                p.deploy_ms = Some(utc(2007, 8, 16, 14));
                p.rollback_ms = Some(utc(2007, 8, 16, 16));
                p.retry = RetryPolicy { base_s: 120.0, backoff: 2.0, max_s: 900.0, jitter: 0.5 };
                p.deploy_fail_rate = 0.4;
                p.days = 6;
            }
            Scenario::FlashCrowd => {
                p.release_ms = None;
                p.crowd_ms = Some(utc(2007, 8, 16, 18));
                p.crowd_share = 0.45;
                p.supernode_headroom = 3.0;
                p.bug_factor = 1.0;
                p.days = 6;
            }
        }
        p
    }

    /// Moves every instant so the run starts at `start_ms`.
    pub fn with_start(mut self, start_ms: i64) -> SimParams {
        let shift = start_ms - self.start_ms;
        self.start_ms = start_ms;
        for t in [
            &mut self.release_ms,
            &mut self.deploy_ms,
            &mut self.rollback_ms,
            &mut self.crowd_ms,
            &mut self.bug_fixed_ms,
        ] {
            *t = t.map(|v| v + shift);
        }
        self
    }

    pub fn with_seed(mut self, seed: u64) -> SimParams {
        self.seed = seed;
        self
    }

    pub fn with_clients(mut self, clients: usize) -> SimParams {
        self.clients = clients.max(10);
        self
    }

    /// The clients' retry jitter: 0 retries after the same delay every time (synchronised),
    /// 1 spreads each delay over 0 to twice its value (full jitter); clamped to 0..=1.
    pub fn with_retry_jitter(mut self, jitter: f64) -> SimParams {
        self.retry.jitter = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 0.0 };
        self
    }

    /// The same run under `policy` (its knobs as set on `self`).
    /// The policies' knobs (they matter only under their policy).
    pub fn with_knobs(mut self, k: PolicyKnobs) -> SimParams {
        self.backoff_cap_s = k.backoff_cap_s;
        self.retry_budget_per_h = k.retry_budget_per_h;
        self.stagger_hours = k.stagger_hours;
        self.shield_hours = k.shield_hours;
        self
    }

    pub fn with_policy(mut self, policy: Policy) -> SimParams {
        self.policy = policy;
        match policy {
            Policy::BackoffJitter => {
                self.retry = RetryPolicy {
                    base_s: 15.0,
                    backoff: 2.0,
                    max_s: self.backoff_cap_s,
                    jitter: 1.0,
                };
            }
            Policy::StaggerRollout => {
                self.spread_installs = true;
                self.spread_hours = self.stagger_hours;
            }
            _ => {}
        }
        self
    }

    pub fn end_ms(&self) -> i64 {
        self.start_ms + i64::from(self.days) * 24 * HOUR_MS
    }
}

/// Where and how to write a simulation.
#[derive(Debug, Clone)]
pub struct SimOutput {
    pub dir: PathBuf,
    pub format: SimFormat,
    pub gzip: bool,
}

/// What a run wrote.
#[derive(Debug, Clone)]
pub struct SimSummary {
    pub files: Vec<(PathBuf, u64)>,
    pub truth: Truth,
}

/// Runs the model and writes `login`, `supernodes` and `patches` logs, `truth.json` and
/// `incident.toml` into `out.dir`. `progress` gets the simulated instant now and then.
pub fn simulate(
    params: &SimParams,
    out: &SimOutput,
    progress: &dyn Fn(i64),
) -> std::io::Result<SimSummary> {
    std::fs::create_dir_all(&out.dir)?;
    let mut writers = write::Writers::create(&out.dir, out.format, out.gzip)?;
    let stats = model::run(params, &mut writers, progress)?;
    let files = writers.finish()?;
    let truth = truth::derive(params, &stats);
    let truth_json = serde_json::to_string_pretty(&truth).map_err(std::io::Error::other)?;
    std::fs::write(out.dir.join("truth.json"), truth_json + "\n")?;
    std::fs::write(out.dir.join("incident.toml"), incident_toml(params, out, &files))?;
    Ok(SimSummary { files, truth })
}

fn incident_toml(params: &SimParams, out: &SimOutput, files: &[(PathBuf, u64)]) -> String {
    let gzip = if out.gzip { " --gzip" } else { "" };
    let (policy, policy_title) = match params.policy {
        Policy::Observed => (String::new(), String::new()),
        p => (format!(" --policy {p}"), format!(", policy {p}")),
    };
    let mut s = format!(
        "# Made by `rootline simulate --scenario {} --seed {} --clients {} --format {}{gzip}{policy}`.\n\
         title = \"{} (simulated, seed {}{policy_title})\"\n",
        params.scenario, params.seed, params.clients, out.format, params.scenario, params.seed
    );
    for ((path, _), role) in files.iter().zip(["login", "node", "change"]) {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        s += &format!(
            "\n[[source]]\npath = \"{name}\"\nrole = \"{role}\"\nformat = \"{}\"\n",
            out.format.ingest_format()
        );
    }
    s
}

/// The path a log of `name` gets in `dir` for this output.
pub fn log_path(dir: &Path, name: &str, format: SimFormat, gzip: bool) -> PathBuf {
    let mut file = format!("{name}.{}", format.extension());
    if gzip {
        file += ".gz";
    }
    dir.join(file)
}

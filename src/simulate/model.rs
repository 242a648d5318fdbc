//! The event-driven model: clients, supernodes, Windows Update, retries and self-healing.
//! It writes every event as a log line the moment it happens, so memory does not grow with
//! the number of lines, and it keeps per-minute counters from which `truth.json` is derived.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;

use super::rng::Rng;
use super::write::{V, Writers};
use super::{Policy, SimParams};

const MIN_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const NONE: u32 = u32::MAX;

/// What the model counted in one minute (index 0 is the run's first minute).
#[derive(Debug, Clone, Default)]
pub struct MinuteStats {
    pub attempts: u32,
    pub failures: u32,
    pub reboots: u32,
    pub installs: u32,
    /// Supernodes online at the end of the minute.
    pub supernodes: u32,
    /// Clients logged in at the end of the minute.
    pub online: u32,
    /// Clients whose users want Skype online at the end of the minute (always-on PCs and
    /// PCs in a session): `wanting - online` are the users unable to use it.
    pub wanting: u32,
    pub sn_lost_reboot: u32,
    pub sn_lost_overload: u32,
    pub promoted: u32,
}

/// Everything the model measured.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub minutes: Vec<MinuteStats>,
    /// First and last install and reboot of the patch.
    pub changes: Vec<(i64, u8)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Offline,
    Booting,
    Trying,
    Online,
}

struct Client {
    tz_h: i8,
    region: u8,
    always_on: bool,
    sessions: u8,
    st: St,
    sn_slot: u32,
    own_slot: u32,
    retries: u16,
    failing_since: i64,
    epoch: u32,
    up_since: i64,
    auto_update: bool,
    pending_install: bool,
    updated: bool,
    /// retry-budget: the start of the client's current hour of retries, and how many it used.
    budget_from: i64,
    budget_used: u16,
}

struct Supernode {
    client: u32,
    conns: Vec<u32>,
    minute: i64,
    admitted: u32,
    demand: u32,
    pos: u32,
    rolled: bool,
}

// Event kinds.
const DAY_PLAN: u8 = 0;
const SESSION_START: u8 = 1;
const SESSION_END: u8 = 2;
const LOGIN: u8 = 3;
const DOWNLOAD: u8 = 4;
const INSTALL: u8 = 5;
const REBOOT: u8 = 6;
const MINUTE: u8 = 7;
const DEPLOY: u8 = 8;
const ROLLBACK: u8 = 9;
const RELEASE: u8 = 10;

type Event = Reverse<(i64, u64, u8, u32, u32)>;

const REGIONS: [&str; 3] = ["na", "eu", "asia"];

struct Model<'a> {
    p: &'a SimParams,
    rng: Rng,
    queue: BinaryHeap<Event>,
    seq: u64,
    clients: Vec<Client>,
    sns: Vec<Supernode>,
    free_slots: Vec<u32>,
    online_sns: Vec<u32>,
    online: u32,
    wanting: u32,
    cur: MinuteStats,
    last_fail_ratio: f64,
    deploy_active: bool,
    sn_pool: usize,
    stats: Stats,
    writers: &'a mut Writers,
}

fn region_of(tz_h: i8) -> u8 {
    match tz_h {
        i8::MIN..=-3 => 0,
        -2..=3 => 1,
        _ => 2,
    }
}

impl<'a> Model<'a> {
    fn push(&mut self, t: i64, kind: u8, client: u32, aux: u32) {
        self.seq += 1;
        self.queue.push(Reverse((t, self.seq, kind, client, aux)));
    }

    /// The next instant at `hour` local time for a client, at or after `t`.
    fn next_local(&self, t: i64, tz_h: i8, hour: f64) -> i64 {
        let local = t + i64::from(tz_h) * HOUR_MS;
        let day = local.div_euclid(24 * HOUR_MS) * 24 * HOUR_MS;
        let mut at = day + (hour * HOUR_MS as f64) as i64;
        if at < local {
            at += 24 * HOUR_MS;
        }
        at - i64::from(tz_h) * HOUR_MS
    }

    fn init(&mut self) -> io::Result<()> {
        let p = self.p;
        let mut setup = self.rng.fork(1);
        // Time zones weighted like 2007's Skype users: Europe, then Asia, then the Americas.
        const ZONES: [(i8, f64); 12] = [
            (-8, 0.07),
            (-6, 0.05),
            (-5, 0.10),
            (-3, 0.05),
            (0, 0.10),
            (1, 0.20),
            (2, 0.08),
            (3, 0.07),
            (5, 0.06),
            (8, 0.12),
            (9, 0.06),
            (10, 0.04),
        ];
        for _ in 0..p.clients {
            let mut x = setup.f64();
            let tz_h = ZONES
                .iter()
                .find(|(_, w)| {
                    x -= w;
                    x < 0.0
                })
                .map_or(1, |z| z.0);
            let always_on = setup.chance(p.always_on_share);
            self.clients.push(Client {
                tz_h,
                region: region_of(tz_h),
                always_on,
                sessions: 0,
                st: St::Offline,
                sn_slot: NONE,
                own_slot: NONE,
                retries: 0,
                failing_since: i64::MAX,
                epoch: 0,
                up_since: p.start_ms - setup.uniform(0.0, 72.0) as i64 * HOUR_MS,
                auto_update: setup.chance(p.auto_update_share),
                pending_install: false,
                updated: false,
                budget_from: i64::MIN,
                budget_used: 0,
            });
        }
        // Initial supernodes: always-on PCs, as many as the expected evening peak needs.
        let peak = p.clients as f64 * (p.always_on_share + 0.3 * (1.0 - p.always_on_share));
        let want = (peak / (f64::from(p.supernode_capacity) * p.target_util)
            * p.supernode_headroom)
            .ceil();
        let always: Vec<u32> = (0..self.clients.len() as u32)
            .filter(|&c| self.clients[c as usize].always_on)
            .collect();
        let share = (want / always.len().max(1) as f64).min(1.0);
        let mut made = 0;
        for c in always {
            if setup.chance(share) {
                if p.supernode_auto_update_share != p.auto_update_share {
                    self.clients[c as usize].auto_update =
                        setup.chance(p.supernode_auto_update_share);
                }
                self.promote(c, p.start_ms, false)?;
                made += 1;
            }
        }
        if made == 0 && !self.clients.is_empty() {
            self.promote(0, p.start_ms, false)?;
        }
        // The network keeps at least the pool it started with.
        self.sn_pool = self.online_sns.len();
        // Always-on clients are online from the start; the rest plan their days.
        for c in 0..self.clients.len() as u32 {
            if self.clients[c as usize].always_on {
                self.wanting += 1;
                self.attach_warm(c, &mut setup);
            }
            let tz = self.clients[c as usize].tz_h;
            let first_midnight = self.next_local(p.start_ms, tz, 0.0) - 24 * HOUR_MS;
            self.push(first_midnight.max(p.start_ms), DAY_PLAN, c, 0);
        }
        let mut t = p.start_ms;
        while t < p.end_ms() {
            self.push(t + MIN_MS - 1, MINUTE, NONE, 0);
            t += MIN_MS;
        }
        if let Some(r) = p.release_ms {
            self.push(r, RELEASE, NONE, 0);
            let mut dl = self.rng.fork(2);
            for c in 0..self.clients.len() as u32 {
                if self.clients[c as usize].auto_update {
                    let h = dl.uniform(p.download_hours.0, p.download_hours.1);
                    self.push(r + (h * HOUR_MS as f64) as i64, DOWNLOAD, c, 0);
                }
            }
        }
        if let Some(d) = p.deploy_ms {
            self.push(d, DEPLOY, NONE, 0);
        }
        if let Some(r) = p.rollback_ms {
            self.push(r, ROLLBACK, NONE, 0);
        }
        if let Some(at) = p.crowd_ms {
            let mut cr = self.rng.fork(3);
            for c in 0..self.clients.len() as u32 {
                if cr.chance(p.crowd_share) {
                    let t = at + (cr.f64() * p.crowd_minutes * MIN_MS as f64) as i64;
                    let dur = (cr.exponential(1.5 * 60.0).max(20.0)) as u32;
                    self.push(t, SESSION_START, c, dur);
                }
            }
        }
        Ok(())
    }

    /// An always-on client that was already logged in when the run starts: no log line.
    fn attach_warm(&mut self, c: u32, rng: &mut Rng) {
        let cap = self.p.supernode_capacity as usize;
        let cl = &mut self.clients[c as usize];
        cl.st = St::Online;
        self.online += 1;
        if cl.own_slot != NONE || self.online_sns.is_empty() {
            return;
        }
        for _ in 0..4 {
            let slot = self.online_sns[rng.below(self.online_sns.len())];
            if self.sns[slot as usize].conns.len() < cap {
                self.sns[slot as usize].conns.push(c);
                self.clients[c as usize].sn_slot = slot;
                return;
            }
        }
    }

    fn wants_online(&self, c: u32) -> bool {
        let cl = &self.clients[c as usize];
        cl.always_on || cl.sessions > 0
    }

    fn begin_login(&mut self, c: u32, t: i64) {
        let cl = &mut self.clients[c as usize];
        cl.st = St::Trying;
        cl.epoch = cl.epoch.wrapping_add(1);
        let g = cl.epoch;
        self.push(t, LOGIN, c, g);
    }

    fn promote(&mut self, c: u32, t: i64, log: bool) -> io::Result<()> {
        let slot = match self.free_slots.pop() {
            Some(s) => s,
            None => {
                self.sns.push(Supernode {
                    client: c,
                    conns: Vec::new(),
                    minute: -1,
                    admitted: 0,
                    demand: 0,
                    pos: 0,
                    rolled: false,
                });
                (self.sns.len() - 1) as u32
            }
        };
        let sn = &mut self.sns[slot as usize];
        *sn = Supernode {
            client: c,
            conns: Vec::new(),
            minute: -1,
            admitted: 0,
            demand: 0,
            pos: self.online_sns.len() as u32,
            rolled: false,
        };
        self.online_sns.push(slot);
        self.clients[c as usize].own_slot = slot;
        if log {
            self.cur.promoted += 1;
            let name = format!("pc-{c}");
            self.node_line(t, &name, "join", Some(0), None, Some("promoted"))?;
        }
        Ok(())
    }

    fn node_line(
        &mut self,
        t: i64,
        name: &str,
        event: &str,
        load: Option<u32>,
        cpu: Option<f64>,
        reason: Option<&str>,
    ) -> io::Result<()> {
        let cap = self.p.supernode_capacity;
        let mem = load.map(|l| 20.0 + 60.0 * f64::from(l) / f64::from(cap.max(1)));
        let v = [
            V::S(name),
            V::S(event),
            load.map_or(V::None, |l| V::N(u64::from(l))),
            V::N(u64::from(cap)),
            cpu.map_or(V::None, V::F),
            mem.map_or(V::None, V::F),
            reason.map_or(V::None, V::S),
        ];
        self.w().node(t, &v)
    }

    fn w(&mut self) -> &mut Writers {
        self.writers
    }

    /// A supernode leaves: its clients are cut off and log in again.
    fn sn_leave(&mut self, slot: u32, t: i64, reason: &str) -> io::Result<()> {
        let pos = self.sns[slot as usize].pos as usize;
        self.online_sns.swap_remove(pos);
        if let Some(&moved) = self.online_sns.get(pos) {
            self.sns[moved as usize].pos = pos as u32;
        }
        let sn_client = self.sns[slot as usize].client;
        self.clients[sn_client as usize].own_slot = NONE;
        let conns = std::mem::take(&mut self.sns[slot as usize].conns);
        self.free_slots.push(slot);
        let name = format!("pc-{sn_client}");
        self.node_line(t, &name, "leave", Some(conns.len() as u32), None, Some(reason))?;
        for c in conns {
            let cl = &mut self.clients[c as usize];
            cl.sn_slot = NONE;
            if cl.st == St::Online {
                self.online -= 1;
                let delay = self.rng.uniform(5.0, 60.0) * 1000.0;
                self.begin_login(c, t + delay as i64);
            }
        }
        Ok(())
    }

    fn detach(&mut self, c: u32) {
        let cl = &mut self.clients[c as usize];
        if cl.st == St::Online {
            self.online -= 1;
        }
        let slot = std::mem::replace(&mut cl.sn_slot, NONE);
        if slot != NONE {
            let conns = &mut self.sns[slot as usize].conns;
            if let Some(i) = conns.iter().position(|&x| x == c) {
                conns.swap_remove(i);
            }
        }
    }

    fn login(&mut self, c: u32, t: i64) -> io::Result<()> {
        let p = self.p;
        self.cur.attempts += 1;
        let minute = t.div_euclid(MIN_MS);
        let region = self.clients[c as usize].region;
        let host = format!("login-{}-{}", REGIONS[region as usize], c % 4 + 1);
        let user = format!("u{c}");
        // The client is named after its PC, as Windows' logon events name the workstation: the
        // same name the patch log and (for supernodes) the node log use, so tables join on it.
        let pc = format!("pc-{c}");
        let (outcome, reason, latency): (&str, &str, f64) = if self.deploy_active
            && REGIONS[region as usize] == p.deploy_region
            && self.rng.chance(p.deploy_fail_rate)
        {
            ("fail", "server_error", self.rng.uniform(300.0, 800.0))
        } else if self.rng.chance(p.auth_error_rate) {
            ("fail", "auth_error", self.rng.uniform(150.0, 300.0))
        } else if self.online_sns.is_empty() {
            ("fail", "no_supernode", self.rng.uniform(30.0, 80.0))
        } else {
            // The client asks two supernodes it knows and goes to the less loaded one.
            let a = self.online_sns[self.rng.below(self.online_sns.len())];
            let b = self.online_sns[self.rng.below(self.online_sns.len())];
            let slot = if self.sns[b as usize].conns.len() < self.sns[a as usize].conns.len() {
                b
            } else {
                a
            };
            let (cap, admit) = (p.supernode_capacity, p.admit_per_min);
            let sn = &mut self.sns[slot as usize];
            if sn.minute != minute {
                sn.minute = minute;
                sn.admitted = 0;
                sn.demand = 0;
                sn.rolled = false;
            }
            if p.policy == Policy::AdmissionQueue && sn.admitted >= admit {
                // Queued for a later minute: not an attempt yet, no load, no line.
                self.cur.attempts -= 1;
                let g = self.clients[c as usize].epoch;
                let at = (minute + 1) * MIN_MS + (self.rng.f64() * MIN_MS as f64) as i64;
                self.push(at, LOGIN, c, g);
                return Ok(());
            }
            sn.demand += 1;
            let overloaded = f64::from(sn.demand) > p.overload_factor * f64::from(admit);
            if overloaded && !sn.rolled {
                sn.rolled = true;
                if self.rng.chance(p.overload_drop_chance) {
                    self.cur.sn_lost_overload += 1;
                    self.sn_leave(slot, t, "overload")?;
                    let v = [
                        V::S(&host),
                        V::S(&user),
                        V::S(&pc),
                        V::S("fail"),
                        V::S("timeout"),
                        V::N(10_000),
                    ];
                    self.cur.failures += 1;
                    self.w().login(t, &v)?;
                    return self.retry(c, t);
                }
            }
            let sn = &mut self.sns[slot as usize];
            if sn.admitted >= admit {
                ("fail", "timeout", 10_000.0)
            } else if sn.conns.len() as u32 >= cap {
                ("fail", "overloaded", self.rng.uniform(400.0, 1200.0))
            } else {
                sn.admitted += 1;
                sn.conns.push(c);
                let util = sn.conns.len() as f64 / f64::from(cap);
                let cl = &mut self.clients[c as usize];
                cl.sn_slot = slot;
                cl.st = St::Online;
                cl.retries = 0;
                cl.failing_since = i64::MAX;
                self.online += 1;
                ("ok", "ok", self.rng.lognormal(150.0 * (1.0 + 2.0 * util), 0.4))
            }
        };
        let v = [
            V::S(&host),
            V::S(&user),
            V::S(&pc),
            V::S(outcome),
            V::S(reason),
            V::N(latency.round() as u64),
        ];
        self.w().login(t, &v)?;
        if outcome == "fail" {
            self.cur.failures += 1;
            if reason == "auth_error" {
                let g = self.clients[c as usize].epoch;
                let d = self.rng.uniform(20.0, 60.0) * 1000.0;
                self.push(t + d as i64, LOGIN, c, g);
                return Ok(());
            }
            return self.retry(c, t);
        }
        Ok(())
    }

    fn retry(&mut self, c: u32, t: i64) -> io::Result<()> {
        let p = self.p;
        let r = &p.retry;
        let cl = &mut self.clients[c as usize];
        cl.failing_since = cl.failing_since.min(t);
        if (t - cl.failing_since) as f64 > p.give_up_after_min * MIN_MS as f64 {
            // The user gives up; an always-on PC's Skype tries again much later.
            cl.retries = 0;
            cl.failing_since = i64::MAX;
            cl.epoch = cl.epoch.wrapping_add(1);
            let e = cl.epoch;
            let back = self.rng.uniform(p.comeback_min.0, p.comeback_min.1) * MIN_MS as f64;
            self.push(t + back as i64, LOGIN, c, e);
            return Ok(());
        }
        if p.policy == Policy::RetryBudget {
            if t.saturating_sub(cl.budget_from) >= HOUR_MS {
                cl.budget_from = t;
                cl.budget_used = 0;
            }
            if u32::from(cl.budget_used) >= p.retry_budget_per_h {
                // Out of budget: the next try waits for the next hour.
                let (g, at) = (cl.epoch, cl.budget_from + HOUR_MS);
                self.push(at, LOGIN, c, g);
                return Ok(());
            }
            cl.budget_used += 1;
        }
        cl.retries = cl.retries.saturating_add(1);
        let wait = (r.base_s * r.backoff.powi(i32::from(cl.retries) - 1)).min(r.max_s);
        let g = cl.epoch;
        let wait = wait * self.rng.uniform(1.0 - r.jitter, 1.0 + r.jitter);
        self.push(t + (wait * 1000.0) as i64, LOGIN, c, g);
        Ok(())
    }

    fn schedule_install(&mut self, c: u32, t: i64, deferred: bool) {
        let p = self.p;
        if p.policy == Policy::ShieldCapacity
            && !deferred
            && self.clients[c as usize].own_slot != NONE
        {
            // A supernode's PC takes the patch after the wave.
            let at = t + (p.shield_hours * HOUR_MS as f64) as i64;
            self.push(at, DOWNLOAD, c, 1);
            return;
        }
        if p.spread_installs {
            let at = t + (self.rng.uniform(0.0, p.spread_hours) * HOUR_MS as f64) as i64;
            self.push(at, INSTALL, c, 0);
            return;
        }
        let cl = &self.clients[c as usize];
        let at = self.next_local(t, cl.tz_h, p.install_local_hour);
        if cl.always_on {
            self.push(at, INSTALL, c, 0);
        } else {
            self.clients[c as usize].pending_install = true;
        }
    }

    fn minute(&mut self, t: i64) -> io::Result<()> {
        let p = self.p;
        let minute_index = (t - p.start_ms).div_euclid(MIN_MS);
        // Self-healing, slowed by the allocation bug under stress.
        let cap_total = self.online_sns.len() as f64 * f64::from(p.supernode_capacity);
        let conns: usize = self.online_sns.iter().map(|&s| self.sns[s as usize].conns.len()).sum();
        let util = if cap_total > 0.0 { conns as f64 / cap_total } else { 1.0 };
        let window = (p.churn_window_h * 60.0) as usize;
        let lost: u32 = self
            .stats
            .minutes
            .iter()
            .rev()
            .take(window.saturating_sub(1))
            .chain(std::iter::once(&self.cur))
            .map(|m| m.sn_lost_reboot + m.sn_lost_overload)
            .sum();
        let churn = f64::from(lost) / (self.online_sns.len() as f64).max(1.0);
        let stressed = util > p.stress_util
            || self.last_fail_ratio > p.stress_fail_ratio
            || churn > p.stress_churn;
        // The network sizes itself for the busiest minute of the last day.
        let peak_online = self
            .stats
            .minutes
            .iter()
            .rev()
            .take(1439)
            .map(|m| m.online)
            .max()
            .unwrap_or(0)
            .max(self.online);
        let wanted = (f64::from(peak_online) / (f64::from(p.supernode_capacity) * p.target_util))
            .ceil()
            .max(self.sn_pool as f64);
        let deficit = wanted - self.online_sns.len() as f64;
        if deficit > 0.0 {
            let bugged = stressed && p.bug_fixed_ms.is_none_or(|f| t < f);
            let rate = p.promote_rate * if bugged { p.bug_factor } else { 1.0 };
            let expect = deficit * rate;
            let mut n = expect.floor() as usize + usize::from(self.rng.chance(expect.fract()));
            let mut tries = n * 40;
            while n > 0 && tries > 0 {
                tries -= 1;
                let c = self.rng.below(self.clients.len()) as u32;
                let cl = &self.clients[c as usize];
                // A PC running Skype can serve as a supernode whether or not its own login
                // got through: otherwise a network with no one logged in could never heal.
                if cl.always_on
                    && matches!(cl.st, St::Online | St::Trying)
                    && cl.own_slot == NONE
                    && t - cl.up_since >= (p.promote_uptime_h * HOUR_MS as f64) as i64
                {
                    self.promote(c, t, true)?;
                    n -= 1;
                }
            }
        }
        if minute_index % i64::from(p.sample_every_min.max(1)) == 0 {
            let slots = self.online_sns.clone();
            for s in slots {
                let sn = &self.sns[s as usize];
                let load = sn.conns.len() as u32;
                let busy =
                    if sn.minute == t.div_euclid(MIN_MS) { f64::from(sn.demand) } else { 0.0 };
                let cpu = (5.0
                    + 90.0
                        * (busy / f64::from(p.admit_per_min.max(1)) / p.overload_factor).min(1.0)
                    + self.rng.uniform(0.0, 3.0))
                .min(100.0);
                let name = format!("pc-{}", sn.client);
                self.node_line(t, &name, "sample", Some(load), Some(cpu), None)?;
            }
        }
        self.cur.supernodes = self.online_sns.len() as u32;
        self.cur.online = self.online;
        self.cur.wanting = self.wanting;
        self.last_fail_ratio = if self.cur.attempts >= 20 {
            f64::from(self.cur.failures) / f64::from(self.cur.attempts)
        } else {
            0.0
        };
        self.stats.minutes.push(std::mem::take(&mut self.cur));
        Ok(())
    }

    fn step(&mut self, (t, _, kind, c, aux): (i64, u64, u8, u32, u32)) -> io::Result<()> {
        let p = self.p;
        match kind {
            DAY_PLAN => {
                let mut local_day = self.rng.fork(u64::from(c) ^ t as u64);
                let (always_on, tz_h) =
                    (self.clients[c as usize].always_on, self.clients[c as usize].tz_h);
                if !always_on {
                    let start_h =
                        local_day.normal(p.session_hour, p.session_spread_h).clamp(6.0, 23.9);
                    let dur = local_day.exponential(p.session_mean_h * 60.0).max(15.0);
                    let at = self.next_local(t, tz_h, start_h);
                    self.push(at, SESSION_START, c, dur as u32);
                    if local_day.chance(p.morning_share) {
                        let h = local_day.normal(9.0, 1.5).clamp(5.0, 12.0);
                        let d = local_day.exponential(p.morning_mean_h * 60.0).max(10.0);
                        let at = self.next_local(t, tz_h, h);
                        self.push(at, SESSION_START, c, d as u32);
                    }
                }
                self.push(t + 24 * HOUR_MS, DAY_PLAN, c, 0);
            }
            SESSION_START => {
                let cl = &mut self.clients[c as usize];
                let was = cl.always_on || cl.sessions > 0;
                cl.sessions += 1;
                self.wanting += u32::from(!was);
                if !cl.always_on && cl.st == St::Offline {
                    cl.up_since = t;
                }
                if cl.pending_install {
                    cl.pending_install = false;
                    let d = self.rng.uniform(10.0, 60.0) * MIN_MS as f64;
                    self.push(t + d as i64, INSTALL, c, 0);
                }
                if !was && self.clients[c as usize].st == St::Offline {
                    self.begin_login(c, t);
                }
                self.push(t + i64::from(aux) * MIN_MS, SESSION_END, c, 0);
            }
            SESSION_END => {
                let cl = &mut self.clients[c as usize];
                cl.sessions = cl.sessions.saturating_sub(1);
                if !self.wants_online(c) {
                    self.wanting -= 1;
                    self.detach(c);
                    let own = self.clients[c as usize].own_slot;
                    if own != NONE {
                        self.sn_leave(own, t, "shutdown")?;
                    }
                    let cl = &mut self.clients[c as usize];
                    cl.st = St::Offline;
                    cl.epoch = cl.epoch.wrapping_add(1);
                }
            }
            LOGIN => {
                let cl = &self.clients[c as usize];
                if cl.epoch == aux && cl.st == St::Trying && self.wants_online(c) {
                    self.login(c, t)?;
                }
            }
            DOWNLOAD if !self.clients[c as usize].updated => self.schedule_install(c, t, aux == 1),
            INSTALL => {
                let item = p.patch_item.clone();
                let target = format!("pc-{c}");
                self.cur.installs += 1;
                self.stats.changes.push((t, INSTALL));
                self.w().change(t, &[V::S("install"), V::S(&target), V::S(&item), V::S("ok")])?;
                let d =
                    self.rng.uniform(p.restart_after_min.0, p.restart_after_min.1) * MIN_MS as f64;
                self.push(t + d as i64, REBOOT, c, 0);
            }
            REBOOT => {
                let target = format!("pc-{c}");
                self.cur.reboots += 1;
                self.stats.changes.push((t, REBOOT));
                let item = p.patch_item.clone();
                self.w().change(t, &[V::S("reboot"), V::S(&target), V::S(&item), V::S("ok")])?;
                self.detach(c);
                let own = self.clients[c as usize].own_slot;
                if own != NONE {
                    self.cur.sn_lost_reboot += 1;
                    self.sn_leave(own, t, "reboot")?;
                }
                let delay = self.rng.uniform(p.relogin_after_s.0, p.relogin_after_s.1) * 1000.0;
                let cl = &mut self.clients[c as usize];
                cl.updated = true;
                cl.up_since = t + delay as i64;
                cl.st = St::Booting;
                cl.epoch = cl.epoch.wrapping_add(1);
                if self.wants_online(c) {
                    self.begin_login(c, t + delay as i64);
                } else {
                    self.clients[c as usize].st = St::Offline;
                }
            }
            MINUTE => self.minute(t)?,
            RELEASE => {
                let item = p.patch_item.clone();
                self.w().change(
                    t,
                    &[V::S("release"), V::S("windows-update"), V::S(&item), V::S("published")],
                )?;
            }
            DEPLOY | ROLLBACK => {
                self.deploy_active = kind == DEPLOY;
                let target = format!("login-{}", p.deploy_region);
                let (k, item) = if kind == DEPLOY {
                    ("deploy", "login-server 2.4.0")
                } else {
                    ("rollback", "login-server 2.3.9")
                };
                self.w().change(t, &[V::S(k), V::S(&target), V::S(item), V::S("ok")])?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Runs the model from `p.start_ms` to the end, writing lines as events happen.
pub fn run(p: &SimParams, writers: &mut Writers, progress: &dyn Fn(i64)) -> io::Result<Stats> {
    let mut m = Model {
        p,
        rng: Rng::new(p.seed),
        queue: BinaryHeap::new(),
        seq: 0,
        clients: Vec::with_capacity(p.clients),
        sns: Vec::new(),
        free_slots: Vec::new(),
        online_sns: Vec::new(),
        online: 0,
        wanting: 0,
        cur: MinuteStats::default(),
        last_fail_ratio: 0.0,
        deploy_active: false,
        sn_pool: 0,
        stats: Stats::default(),
        writers,
    };
    m.init()?;
    let end = p.end_ms();
    let mut next_report = p.start_ms;
    while let Some(Reverse(ev)) = m.queue.pop() {
        if ev.0 >= end {
            break;
        }
        if ev.0 >= next_report {
            progress(ev.0);
            next_report = ev.0 + 6 * HOUR_MS;
        }
        m.step(ev)?;
    }
    Ok(m.stats)
}

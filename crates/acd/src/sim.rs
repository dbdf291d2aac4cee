//! A discrete-event simulator that drives [`Acd`] with synthetic traffic: Poisson arrivals
//! following a daily curve, lognormal handle times, impatient callers (exponential patience),
//! agents with shifts and skills shared between queues, ring-no-answer, callbacks. Time is
//! virtual (a `Duration` from zero); a run is a pure function of its [`SimConfig`], seed
//! included. It also scores the wait announcements against two references (see
//! [`EwtScores`]) and runs the regime matrix published in `docs/acd.md` ([`ewt_matrix`]).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};

use crate::config::{AgentConfig, Join, QueueConfig, SkillReq, Strategy};
use crate::engine::{Acd, AcdConfig, Audit, QueueStats};
use crate::ids::{AgentId, CallId, QueueId, TenantId};
use crate::output::{CallbackResult, Event, Outcome, Output};

mod regimes;
pub use regimes::{
    regime_config, regime_markdown, regime_matrix, regime_matrix_of, Regime, RegimeCell,
};

/// Traffic offered to one queue.
#[derive(Clone, Debug)]
pub struct SimQueue {
    /// Queue id.
    pub id: QueueId,
    /// Its configuration.
    pub config: QueueConfig,
    /// Mean arrival rate per hour (multiplied by the daily curve).
    pub calls_per_hour: f64,
    /// 24 hourly multipliers of the arrival rate; empty means flat.
    pub daily_curve: Vec<f64>,
    /// Mean handle time.
    pub handle_mean: Duration,
    /// Coefficient of variation of the lognormal handle time.
    pub handle_cv: f64,
    /// Mean of exponential patience; `None` = callers never hang up.
    pub patience_mean: Option<Duration>,
    /// Skills every call of this queue needs.
    pub skills: Vec<SkillReq>,
    /// Share of calls with priority 1 (the rest have 0).
    pub high_priority_share: f64,
    /// Skills a share of the calls need on top of `skills` ...
    pub extra_skills: Vec<SkillReq>,
    /// ... and that share.
    pub extra_skills_share: f64,
    /// Each call is of tenant `t` with probability `share` (`(t, share)`, shares summing
    /// to at most 1; the rest have no tenant).
    pub tenant_shares: Vec<(TenantId, f64)>,
    /// Share of callers who ask for a callback after `callback_after` of waiting.
    pub callback_share: f64,
    /// When those callers ask.
    pub callback_after: Duration,
    /// Share of abandoning callers who redial 10–50 s later from the same number.
    pub redial_share: f64,
}

impl SimQueue {
    /// Flat Poisson traffic with lognormal(180 s, CV 0.8) handle times and no abandonment.
    pub fn new(id: QueueId, config: QueueConfig, calls_per_hour: f64) -> Self {
        SimQueue {
            id,
            config,
            calls_per_hour,
            daily_curve: Vec::new(),
            handle_mean: Duration::from_secs(180),
            handle_cv: 0.8,
            patience_mean: None,
            skills: Vec::new(),
            high_priority_share: 0.0,
            extra_skills: Vec::new(),
            extra_skills_share: 0.0,
            tenant_shares: Vec::new(),
            callback_share: 0.0,
            callback_after: Duration::from_secs(60),
            redial_share: 0.0,
        }
    }
}

/// One simulated agent.
#[derive(Clone, Debug)]
pub struct SimAgent {
    /// Identity, skills, queues.
    pub config: AgentConfig,
    /// Logged in from..until; `None` = the whole run.
    pub shift: Option<(Duration, Duration)>,
}

/// A whole simulation.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Seed of the traffic; the engine has its own in `acd`.
    pub seed: u64,
    /// Simulated time.
    pub horizon: Duration,
    /// Calls joining before this are left out of [`SimReport::calls`].
    pub warmup: Duration,
    /// Engine settings.
    pub acd: AcdConfig,
    /// Queues and their traffic.
    pub queues: Vec<SimQueue>,
    /// Agents.
    pub agents: Vec<SimAgent>,
    /// Time an agent takes to pick up.
    pub answer_delay: Duration,
    /// Probability an agent lets an offer ring out (RONA).
    pub no_answer_prob: f64,
    /// A RONA-paused agent unpauses after this long.
    pub rona_unpause_after: Duration,
    /// Run [`Acd::audit`] every this many events (0 = only at the end).
    pub audit_every: u32,
    /// Agents' shifts repeat with this period (e.g. every 24 h); `None` = once.
    pub shift_period: Option<Duration>,
}

impl SimConfig {
    /// A run with no queues or agents yet.
    pub fn new(seed: u64, horizon: Duration) -> Self {
        SimConfig {
            seed,
            horizon,
            warmup: Duration::ZERO,
            acd: AcdConfig {
                seed: seed ^ 0xacd,
                ..AcdConfig::default()
            },
            queues: Vec::new(),
            agents: Vec::new(),
            answer_delay: Duration::ZERO,
            no_answer_prob: 0.0,
            rona_unpause_after: Duration::from_secs(30),
            audit_every: 0,
            shift_period: None,
        }
    }

    /// Add `n` identical agents (ids from `first`) serving `queues`.
    pub fn with_agents(mut self, first: u32, n: u32, queues: &[QueueId]) -> Self {
        for i in 0..n {
            self.agents.push(SimAgent {
                config: AgentConfig::new(AgentId(first + i), queues.to_vec()),
                shift: None,
            });
        }
        self
    }
}

/// How a simulated call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimOutcome {
    /// Still waiting at the end of the run.
    Open,
    /// Answered.
    Answered,
    /// Hung up.
    Abandoned,
    /// Left (max wait, exit key, no agents, callback failed, refused).
    Exited,
    /// Moved to another queue (its record continues there).
    Overflowed,
    /// Became a callback.
    Callback,
}

/// One caller's story.
#[derive(Clone, Debug)]
pub struct CallRecord {
    /// The call.
    pub call: CallId,
    /// The queue joined.
    pub queue: QueueId,
    /// Join time.
    pub joined: Duration,
    /// Position announced at join (0 if offered at once).
    pub position: usize,
    /// Bound announced at join.
    pub announced: Option<Duration>,
    /// Asterisk-style announcement at join: exponential average of hold times + 30 s.
    pub asterisk: Duration,
    /// Actual wait, when answered.
    pub waited: Option<Duration>,
    /// End of the story.
    pub outcome: SimOutcome,
    /// Priority.
    pub priority: u8,
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct SimReport {
    /// Calls that joined after the warm-up.
    pub calls: Vec<CallRecord>,
    /// Final counters per queue.
    pub stats: Vec<(QueueId, QueueStats)>,
    /// Offers to an agent already ringing or on a call, as seen from outside the engine.
    pub offers_to_engaged_agents: u64,
    /// Offers made.
    pub offers: u64,
    /// RONA events.
    pub ronas: u64,
    /// Callbacks placed.
    pub callbacks: u64,
    /// Engine audit failures found during the run (periodic audits).
    pub failed_audits: u64,
    /// Final audit.
    pub audit: Audit,
    /// Events processed.
    pub events: u64,
}

/// Announcement accuracy on answered callers who heard a join announcement.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EwtScores {
    /// Callers scored.
    pub n: usize,
    /// Share whose wait was within our bound.
    pub coverage: f64,
    /// Mean absolute error of our bound, seconds.
    pub mae: f64,
    /// Asterisk-style coverage.
    pub asterisk_coverage: f64,
    /// Asterisk-style MAE, seconds.
    pub asterisk_mae: f64,
    /// Coverage of the in-sample 80th percentile by join position (about 0.8 by design).
    pub position_coverage: f64,
    /// MAE of that position-only bound, seconds.
    pub position_mae: f64,
}

impl SimReport {
    /// Score the join announcements of `queue` (all queues if `None`).
    pub fn ewt_scores(&self, queue: Option<QueueId>) -> EwtScores {
        let scored: Vec<&CallRecord> = self
            .calls
            .iter()
            .filter(|c| queue.is_none_or(|q| c.queue == q))
            .filter(|c| c.announced.is_some() && c.waited.is_some() && c.position > 0)
            .collect();
        let n = scored.len();
        if n == 0 {
            return EwtScores::default();
        }
        let mut by_pos: HashMap<usize, Vec<f64>> = HashMap::new();
        for c in &scored {
            let w = c.waited.map(|d| d.as_secs_f64()).unwrap_or(0.0);
            by_pos.entry(c.position).or_default().push(w);
        }
        let mut pos_bound: HashMap<usize, f64> = HashMap::new();
        for (p, mut ws) in by_pos {
            ws.sort_by(f64::total_cmp);
            let k = ((ws.len() as f64 * 0.8).ceil() as usize).clamp(1, ws.len()) - 1;
            pos_bound.insert(p, ws[k]);
        }
        let mut s = EwtScores {
            n,
            ..EwtScores::default()
        };
        for c in &scored {
            let w = c.waited.map(|d| d.as_secs_f64()).unwrap_or(0.0);
            let ours = c.announced.map(|d| d.as_secs_f64()).unwrap_or(0.0);
            let ast = c.asterisk.as_secs_f64();
            let pos = pos_bound.get(&c.position).copied().unwrap_or(0.0);
            s.coverage += f64::from(u8::from(w <= ours));
            s.mae += (ours - w).abs();
            s.asterisk_coverage += f64::from(u8::from(w <= ast));
            s.asterisk_mae += (ast - w).abs();
            s.position_coverage += f64::from(u8::from(w <= pos));
            s.position_mae += (pos - w).abs();
        }
        let nf = n as f64;
        s.coverage /= nf;
        s.mae /= nf;
        s.asterisk_coverage /= nf;
        s.asterisk_mae /= nf;
        s.position_coverage /= nf;
        s.position_mae /= nf;
        s
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Arrival(usize),
    Abandon(CallId),
    Hangup(CallId),
    Answer(CallId, AgentId),
    Unpause(AgentId),
    Login(AgentId),
    Logout(AgentId),
    CallbackAsk(CallId),
    CallbackConnect(CallId),
    Redial(usize, u64),
}

struct LiveCall {
    queue_idx: usize,
    answered: bool,
    callback: bool,
    number: u64,
}

struct Runner {
    cfg: SimConfig,
    acd: Acd,
    rng: SmallRng,
    heap: BinaryHeap<Reverse<(Duration, u64, Ev)>>,
    seq: u64,
    next_call: u64,
    live: HashMap<CallId, LiveCall>,
    engaged: HashMap<AgentId, CallId>,
    records: Vec<CallRecord>,
    index: HashMap<CallId, usize>,
    asterisk_h: HashMap<QueueId, f64>,
    handle: Vec<LogNormal<f64>>,
    max_rate: Vec<f64>,
    report: SimReport,
}

/// Run a simulation to its horizon.
pub fn run(cfg: SimConfig) -> SimReport {
    let mut acd = Acd::new(cfg.acd);
    for q in &cfg.queues {
        // Queue ids are unique in a valid config; a duplicate is skipped.
        let _ = acd.add_queue(q.id, q.config.clone());
    }
    for a in &cfg.agents {
        let _ = acd.add_agent(a.config.clone());
    }
    let handle = cfg
        .queues
        .iter()
        .map(|q| {
            let m = q.handle_mean.as_secs_f64().max(1.0);
            let s2 = (1.0 + q.handle_cv * q.handle_cv).ln();
            LogNormal::new(m.ln() - s2 / 2.0, s2.sqrt())
                .unwrap_or_else(|_| LogNormal::new(m.ln(), 0.0).expect("sigma 0 is valid"))
        })
        .collect();
    let max_rate = cfg
        .queues
        .iter()
        .map(|q| {
            let peak = q.daily_curve.iter().cloned().fold(1.0f64, f64::max);
            let peak = if q.daily_curve.is_empty() { 1.0 } else { peak };
            q.calls_per_hour / 3600.0 * peak
        })
        .collect();
    let mut r = Runner {
        rng: SmallRng::seed_from_u64(cfg.seed),
        acd,
        heap: BinaryHeap::new(),
        seq: 0,
        next_call: 1,
        live: HashMap::new(),
        engaged: HashMap::new(),
        records: Vec::new(),
        index: HashMap::new(),
        asterisk_h: HashMap::new(),
        handle,
        max_rate,
        report: SimReport {
            calls: Vec::new(),
            stats: Vec::new(),
            offers_to_engaged_agents: 0,
            offers: 0,
            ronas: 0,
            callbacks: 0,
            failed_audits: 0,
            audit: Audit::default(),
            events: 0,
        },
        cfg,
    };
    r.start();
    r.run_loop();
    r.finish()
}

impl Runner {
    fn push(&mut self, at: Duration, ev: Ev) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, ev)));
    }

    fn exp(&mut self, mean: f64) -> Duration {
        let u: f64 = self.rng.gen_range(f64::EPSILON..1.0);
        Duration::from_secs_f64(-mean * u.ln())
    }

    fn start(&mut self) {
        let agents: Vec<(AgentId, Option<(Duration, Duration)>)> = self
            .cfg
            .agents
            .iter()
            .map(|a| (a.config.id, a.shift))
            .collect();
        for (id, shift) in agents {
            match shift {
                None => self.push(Duration::ZERO, Ev::Login(id)),
                Some((a, b)) => {
                    self.push(a, Ev::Login(id));
                    self.push(b, Ev::Logout(id));
                }
            }
        }
        for i in 0..self.cfg.queues.len() {
            self.schedule_arrival(i, Duration::ZERO);
        }
    }

    fn schedule_arrival(&mut self, i: usize, now: Duration) {
        let rate = self.max_rate[i];
        if rate <= 0.0 {
            return;
        }
        let gap = self.exp(1.0 / rate);
        self.push(now + gap, Ev::Arrival(i));
    }

    fn rate_factor(&self, i: usize, now: Duration) -> f64 {
        let curve = &self.cfg.queues[i].daily_curve;
        if curve.is_empty() {
            return 1.0;
        }
        let peak = curve.iter().cloned().fold(1.0f64, f64::max);
        let hour = (now.as_secs() / 3600 % 24) as usize;
        curve.get(hour % curve.len()).copied().unwrap_or(1.0) / peak
    }

    fn run_loop(&mut self) {
        loop {
            let next_ev = self.heap.peek().map(|Reverse((t, _, _))| *t);
            let next_acd = self.acd.poll_timeout();
            let now = match (next_ev, next_acd) {
                (None, None) => break,
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (Some(a), Some(b)) => a.min(b),
            };
            if now > self.cfg.horizon {
                break;
            }
            self.report.events += 1;
            if next_acd.is_some_and(|t| t <= now) {
                self.acd.handle_timeout(now);
            } else if let Some(Reverse((_, _, ev))) = self.heap.pop() {
                self.handle(now, ev);
            }
            self.drain(now);
            if self.cfg.audit_every > 0
                && self.report.events % u64::from(self.cfg.audit_every) == 0
                && !self.acd.audit().clean()
            {
                self.report.failed_audits += 1;
            }
        }
    }

    fn new_call(&mut self, now: Duration, i: usize, number: Option<u64>) {
        let call = CallId(self.next_call);
        self.next_call += 1;
        let q = &self.cfg.queues[i];
        let qid = q.id;
        let priority = u8::from(self.rng.gen_bool(q.high_priority_share.clamp(0.0, 1.0)));
        let patience = q.patience_mean.map(|p| p.as_secs_f64());
        let cb = q.callback_share;
        let cb_after = q.callback_after;
        let mut skills = q.skills.clone();
        // Drawn only when configured, so the other regimes' traffic is unchanged.
        if q.extra_skills_share > 0.0 && self.rng.gen_bool(q.extra_skills_share.clamp(0.0, 1.0)) {
            skills.extend(q.extra_skills.iter().copied());
        }
        let mut tenant = None;
        if !q.tenant_shares.is_empty() {
            let mut u: f64 = self.rng.gen();
            for (t, share) in &q.tenant_shares {
                if u < *share {
                    tenant = Some(*t);
                    break;
                }
                u -= share;
            }
        }
        let number = number.unwrap_or_else(|| self.rng.gen());
        if now >= self.cfg.warmup {
            self.records.push(CallRecord {
                call,
                queue: qid,
                joined: now,
                position: 0,
                announced: None,
                asterisk: Duration::from_secs_f64(
                    self.asterisk_h.get(&qid).copied().unwrap_or(0.0) + 30.0,
                ),
                waited: None,
                outcome: SimOutcome::Open,
                priority,
            });
            self.index.insert(call, self.records.len() - 1);
        }
        self.live.insert(
            call,
            LiveCall {
                queue_idx: i,
                answered: false,
                callback: false,
                number,
            },
        );
        if let Some(p) = patience {
            let t = self.exp(p);
            self.push(now + t, Ev::Abandon(call));
        }
        if cb > 0.0 && self.rng.gen_bool(cb.clamp(0.0, 1.0)) {
            self.push(now + cb_after, Ev::CallbackAsk(call));
        }
        let mut join = Join::new(call, qid);
        join.priority = priority;
        join.skills = skills;
        join.tenant = tenant;
        join.caller = Some(format!("+1555{number:07}").into());
        if self.acd.handle_join(now, join).is_err() {
            self.live.remove(&call);
        }
    }

    fn set_outcome(&mut self, call: CallId, o: SimOutcome) {
        if let Some(i) = self.index.get(&call) {
            if let Some(r) = self.records.get_mut(*i) {
                r.outcome = o;
            }
        }
    }

    fn handle(&mut self, now: Duration, ev: Ev) {
        match ev {
            Ev::Arrival(i) => {
                self.schedule_arrival(i, now);
                let f = self.rate_factor(i, now);
                if f >= 1.0 || self.rng.gen_bool(f.clamp(0.0, 1.0)) {
                    self.new_call(now, i, None);
                }
            }
            Ev::Redial(i, number) => self.new_call(now, i, Some(number)),
            Ev::Abandon(call) => {
                let Some(l) = self.live.get(&call) else {
                    return;
                };
                if l.answered || l.callback {
                    return;
                }
                let (i, number) = (l.queue_idx, l.number);
                self.live.remove(&call);
                if self.acd.handle_call_ended(now, call).is_ok() {
                    self.set_outcome(call, SimOutcome::Abandoned);
                    let share = self.cfg.queues[i].redial_share;
                    if share > 0.0 && self.rng.gen_bool(share.clamp(0.0, 1.0)) {
                        let later = Duration::from_secs(self.rng.gen_range(10..50));
                        self.push(now + later, Ev::Redial(i, number));
                    }
                }
            }
            Ev::Hangup(call) => {
                if self.live.remove(&call).is_some() {
                    let _ = self.acd.handle_call_ended(now, call);
                    self.engaged.retain(|_, c| *c != call);
                }
            }
            Ev::Answer(call, agent) => {
                if self.engaged.get(&agent) != Some(&call) {
                    return;
                }
                if self.acd.handle_offer_answered(now, call, agent).is_ok() {
                    let i = match self.live.get_mut(&call) {
                        Some(l) => {
                            l.answered = true;
                            l.queue_idx
                        }
                        None => return,
                    };
                    let h = self.handle_time(i);
                    self.push(now + h, Ev::Hangup(call));
                }
            }
            Ev::Unpause(agent) => {
                let _ = self.acd.handle_unpause(now, agent);
            }
            Ev::Login(agent) => {
                let _ = self.acd.handle_login(now, agent);
            }
            Ev::Logout(agent) => {
                let _ = self.acd.handle_logout(now, agent);
                let shift = self
                    .cfg
                    .agents
                    .iter()
                    .find(|a| a.config.id == agent)
                    .and_then(|a| a.shift);
                if let (Some(p), Some((a, b))) = (self.cfg.shift_period, shift) {
                    // Next period's shift: log in again at its start, out at its end.
                    let k = now.saturating_sub(b).as_secs_f64() / p.as_secs_f64();
                    let next = p * (k.floor() as u32 + 1);
                    self.push(a + next, Ev::Login(agent));
                    self.push(b + next, Ev::Logout(agent));
                }
            }
            Ev::CallbackAsk(call) => {
                let Some(l) = self.live.get_mut(&call) else {
                    return;
                };
                if l.answered {
                    return;
                }
                let number = format!("+1555{:07}", l.number);
                if self
                    .acd
                    .handle_callback_request(now, call, number.into())
                    .is_ok()
                {
                    l.callback = true;
                    self.set_outcome(call, SimOutcome::Callback);
                }
            }
            Ev::CallbackConnect(call) => {
                if self
                    .acd
                    .handle_callback_result(now, call, CallbackResult::Connected)
                    .is_ok()
                {
                    let i = match self.live.get_mut(&call) {
                        Some(l) => {
                            l.answered = true;
                            l.queue_idx
                        }
                        None => return,
                    };
                    let h = self.handle_time(i);
                    self.push(now + h, Ev::Hangup(call));
                }
            }
        }
    }

    fn handle_time(&mut self, i: usize) -> Duration {
        let s = self.handle[i].sample(&mut self.rng);
        Duration::from_secs_f64(s.clamp(1.0, 86_400.0))
    }

    fn drain(&mut self, now: Duration) {
        while let Some(o) = self.acd.poll_output() {
            match o {
                Output::Offer { call, agent, .. } => {
                    self.report.offers += 1;
                    if self.engaged.insert(agent, call).is_some() {
                        self.report.offers_to_engaged_agents += 1;
                    }
                    if self.cfg.no_answer_prob > 0.0
                        && self.rng.gen_bool(self.cfg.no_answer_prob.clamp(0.0, 1.0))
                    {
                        continue; // lets it ring out: the engine's RONA timer fires
                    }
                    self.push(now + self.cfg.answer_delay, Ev::Answer(call, agent));
                }
                Output::CancelOffer { call, agent } => {
                    if self.engaged.get(&agent) == Some(&call) {
                        self.engaged.remove(&agent);
                    }
                }
                Output::Announce {
                    call,
                    position,
                    ewt_bound,
                    ..
                } => {
                    if let Some(i) = self.index.get(&call) {
                        if let Some(r) = self.records.get_mut(*i) {
                            if r.joined == now && r.announced.is_none() {
                                r.announced = ewt_bound;
                                r.position = position;
                            }
                        }
                    }
                }
                Output::Exit { call, .. } => {
                    self.live.remove(&call);
                    self.set_outcome(call, SimOutcome::Exited);
                }
                Output::Overflow { call, .. } => {
                    self.set_outcome(call, SimOutcome::Overflowed);
                }
                Output::Callback { call, agent, .. } => {
                    self.report.callbacks += 1;
                    if self.engaged.insert(agent, call).is_some() {
                        self.report.offers_to_engaged_agents += 1;
                    }
                    self.push(now + Duration::from_secs(5), Ev::CallbackConnect(call));
                }
                Output::Log(Event::Waited {
                    call,
                    queue,
                    waited,
                    outcome: Outcome::Answered,
                }) => {
                    let h = self.asterisk_h.entry(queue).or_insert(0.0);
                    *h = (3.0 * *h + waited.as_secs_f64()) / 4.0;
                    if let Some(i) = self.index.get(&call) {
                        if let Some(r) = self.records.get_mut(*i) {
                            r.waited = Some(waited);
                            r.outcome = SimOutcome::Answered;
                        }
                    }
                }
                Output::Log(Event::Rona { agent, call }) => {
                    self.report.ronas += 1;
                    if self.engaged.get(&agent) == Some(&call) {
                        self.engaged.remove(&agent);
                    }
                    let later = now + self.cfg.rona_unpause_after;
                    self.push(later, Ev::Unpause(agent));
                }
                Output::Log(_) => {}
            }
        }
    }

    fn finish(mut self) -> SimReport {
        self.report.audit = self.acd.audit();
        self.report.stats = self
            .cfg
            .queues
            .iter()
            .filter_map(|q| self.acd.queue_stats(q.id).map(|s| (q.id, s)))
            .collect();
        self.report.calls = self.records;
        self.report
    }
}

/// One cell of the announced-wait matrix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatrixCell {
    /// Agents.
    pub agents: u32,
    /// Offered occupancy: arrival rate x (mean handle + wrap-up) / agents.
    pub occupancy: f64,
    /// Mean patience, seconds.
    pub patience: u32,
    /// Scores.
    pub scores: EwtScores,
}

/// The single-queue configuration of one matrix cell: `agents` agents, lognormal handle
/// times (mean 180 s, CV 0.8), 10 s wrap-up, exponential patience, flat Poisson arrivals at
/// the given offered occupancy.
pub fn matrix_config(
    agents: u32,
    occupancy: f64,
    patience: u32,
    horizon: Duration,
    seed: u64,
) -> SimConfig {
    let q = QueueId(1);
    let mut qc = QueueConfig::new(Strategy::LongestIdle);
    qc.wrap_up = Duration::from_secs(10);
    qc.announce_every = None;
    let rate = occupancy * f64::from(agents) / 190.0 * 3600.0;
    let mut sq = SimQueue::new(q, qc, rate);
    sq.patience_mean = Some(Duration::from_secs(u64::from(patience)));
    let mut cfg = SimConfig::new(seed, horizon).with_agents(1, agents, &[q]);
    cfg.warmup = Duration::from_secs(3600).min(horizon / 4);
    cfg.queues.push(sq);
    cfg
}

/// Run the 27-cell matrix (5/10/30 agents x 0.70/0.85/0.95 x 120/300/600 s patience).
pub fn ewt_matrix(horizon: Duration, seed: u64) -> Vec<MatrixCell> {
    ewt_matrix_with(horizon, seed, crate::ewt::EwtConfig::default())
}

/// [`ewt_matrix`] with a given estimator configuration (e.g. the coverage feedback off).
pub fn ewt_matrix_with(
    horizon: Duration,
    seed: u64,
    ewt: crate::ewt::EwtConfig,
) -> Vec<MatrixCell> {
    let mut cells = Vec::new();
    for agents in [5u32, 10, 30] {
        for occupancy in [0.70, 0.85, 0.95] {
            for patience in [120u32, 300, 600] {
                let s = seed
                    ^ (u64::from(agents) << 32)
                    ^ ((occupancy * 100.0) as u64) << 16
                    ^ u64::from(patience);
                let mut cfg = matrix_config(agents, occupancy, patience, horizon, s);
                cfg.acd.ewt = ewt;
                let report = run(cfg);
                cells.push(MatrixCell {
                    agents,
                    occupancy,
                    patience,
                    scores: report.ewt_scores(None),
                });
            }
        }
    }
    cells
}

/// The matrix as a Markdown table.
pub fn matrix_markdown(cells: &[MatrixCell]) -> String {
    let mut s = String::new();
    s.push_str("| agents | occ. | patience | n | ours cov. | ours MAE | Asterisk cov. | Asterisk MAE | position-only cov. | position-only MAE | MAE ours/pos | MAE Ast./pos |\n");
    s.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for c in cells {
        let e = &c.scores;
        let ratio = |x: f64| {
            if e.position_mae > 0.0 {
                x / e.position_mae
            } else {
                f64::NAN
            }
        };
        let _ = writeln!(
            s,
            "| {} | {:.2} | {} s | {} | {:.1}% | {:.1} s | {:.1}% | {:.1} s | {:.1}% | {:.1} s | {:.2} | {:.2} |",
            c.agents,
            c.occupancy,
            c.patience,
            e.n,
            e.coverage * 100.0,
            e.mae,
            e.asterisk_coverage * 100.0,
            e.asterisk_mae,
            e.position_coverage * 100.0,
            e.position_mae,
            ratio(e.mae),
            ratio(e.asterisk_mae),
        );
    }
    s
}

//! The engine: one value owning every queue, agent and waiting call.
//!
//! This module holds the engine's state (queues, agents, calls, timers), its construction,
//! queries and the driver interface. The inputs and the decisions they lead to are split by
//! concern: `calls` (the caller's side), `agents` (the agent's side), `routing` (eligibility,
//! strategies, offers, RONA), `announcements` (estimated wait) and `timers`.

mod agents;
mod announcements;
mod calls;
mod forecast;
mod group_forecast;
mod lanes;
mod overflow;
mod routing;
mod timers;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::config::{AgentConfig, Join, QueueConfig, Strategy};
use crate::ewt::{
    estimate_shared, AgentLoad, Estimate, EwtConfig, EwtModel, SharedAgent, SharedQueue,
};
use crate::ids::{AgentId, CallId, PhoneNumber, QueueId};
use crate::output::{
    AgentState, BusyKind, CallbackResult, Event, ExitReason, OfferFailure, Outcome, Output, Spoken,
};

/// Engine-wide settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AcdConfig {
    /// Seed of the engine's RNG (random strategy, wait estimates).
    pub seed: u64,
    /// Wait estimator tuning.
    pub ewt: EwtConfig,
    /// RONA recovery: an agent paused by ring-no-answer becomes available again after this
    /// long (a timer of the engine). `None`: it stays paused until unpaused by hand.
    pub rona_unpause_after: Option<Duration>,
}

impl Default for AcdConfig {
    fn default() -> Self {
        AcdConfig {
            seed: 0x5eed,
            ewt: EwtConfig::default(),
            rona_unpause_after: None,
        }
    }
}

/// Errors from feeding the engine something inconsistent with its state. The engine's state
/// is unchanged when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AcdError {
    /// No such queue.
    #[error("unknown queue {0}")]
    UnknownQueue(QueueId),
    /// No such agent.
    #[error("unknown agent {0}")]
    UnknownAgent(AgentId),
    /// No such call (already gone, or never joined).
    #[error("unknown call {0}")]
    UnknownCall(CallId),
    /// The queue id is taken.
    #[error("queue {0} already exists")]
    DuplicateQueue(QueueId),
    /// The agent id is taken.
    #[error("agent {0} already exists")]
    DuplicateAgent(AgentId),
    /// The call is already in the engine.
    #[error("call {0} is already in the engine")]
    DuplicateCall(CallId),
    /// The answer or failure does not match a live offer (answered elsewhere, cancelled).
    #[error("no live offer of {call} to {agent}")]
    StaleOffer {
        /// The call.
        call: CallId,
        /// The agent.
        agent: AgentId,
    },
    /// The request needs a waiting call.
    #[error("call {0} is not waiting")]
    NotWaiting(CallId),
    /// The callback is being placed now; it can no longer be cancelled.
    #[error("callback {0} is being placed")]
    CallbackInProgress(CallId),
    /// No callback is being placed for this call.
    #[error("no callback in progress for {0}")]
    NoCallback(CallId),
    /// The agent must be logged in for this.
    #[error("agent {0} is not logged in")]
    NotLoggedIn(AgentId),
    /// The agent is not a configured member of the queue.
    #[error("agent {agent} is not a member of queue {queue}")]
    NotMember {
        /// The agent.
        agent: AgentId,
        /// The queue.
        queue: QueueId,
    },
    /// The request needs the agent to be in wrap-up.
    #[error("agent {0} is not in wrap-up")]
    NotInWrapUp(AgentId),
    /// The request needs the agent to be available (not ringing, talking, in wrap-up or
    /// paused).
    #[error("agent {0} is not available")]
    NotAvailable(AgentId),
}

/// Per-queue counters. Every call that joined is in exactly one bucket, so
/// `joined == answered + abandoned + timed_out + overflowed + exited + left_empty
/// + callback_failed + callbacks_cancelled + waiting + callbacks_pending` at all times ([`QueueStats::balanced`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Calls that entered the queue (including by overflow and resume).
    pub joined: u64,
    /// Answered by an agent, callbacks connected included.
    pub answered: u64,
    /// Hung up while waiting or ringing.
    pub abandoned: u64,
    /// Sent out after the maximum wait.
    pub timed_out: u64,
    /// Moved to the reserve queue.
    pub overflowed: u64,
    /// Left with the exit key.
    pub exited: u64,
    /// Sent out because nobody was logged in.
    pub left_empty: u64,
    /// Callback entries dropped after the last failed attempt.
    pub callback_failed: u64,
    /// Callback entries cancelled before they were placed (the web API's cancel).
    pub callbacks_cancelled: u64,
    /// Callers on the line, waiting or ringing an agent.
    pub waiting: u64,
    /// Callback entries waiting or being dialled.
    pub callbacks_pending: u64,
    /// Joins refused (queue full, no agents); not counted in `joined`.
    pub refused: u64,
}

impl QueueStats {
    /// True when every joined call is accounted for.
    pub fn balanced(&self) -> bool {
        self.joined
            == self.answered
                + self.abandoned
                + self.timed_out
                + self.overflowed
                + self.exited
                + self.left_empty
                + self.callback_failed
                + self.callbacks_cancelled
                + self.waiting
                + self.callbacks_pending
    }
}

/// Result of [`Acd::audit`]: invariants the tests and the simulator check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Audit {
    /// Agents appearing in more than one live offer/callback, or whose state disagrees.
    pub double_booked: Vec<AgentId>,
    /// Offers made while an earlier (priority, FIFO) call in the same queue was waiting and
    /// the agent qualified for it. Counted in debug builds only.
    pub order_violations: u64,
    /// Queues whose counters do not balance.
    pub unbalanced: Vec<QueueId>,
}

impl Audit {
    /// True when nothing is wrong.
    pub fn clean(&self) -> bool {
        self.double_booked.is_empty() && self.order_violations == 0 && self.unbalanced.is_empty()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Offer(CallId),
    WrapEnd(AgentId),
    RonaEnd(AgentId),
    Announce(CallId),
    MaxWait(CallId),
    Overflow(CallId),
    Tier(CallId),
    CallbackRetry(CallId),
}

#[derive(Clone, Debug)]
enum CallState {
    Waiting,
    Offered {
        agents: Vec<AgentId>,
        deadline: Duration,
    },
    Connected {
        agent: AgentId,
    },
    CallbackWaiting {
        number: PhoneNumber,
        attempts: u32,
        eligible_at: Duration,
    },
    CallbackDialing {
        number: PhoneNumber,
        attempts: u32,
        agent: AgentId,
    },
}

#[derive(Debug)]
struct Call {
    queue: QueueId,
    key: u64,
    skills: Vec<crate::config::SkillReq>,
    tenant: Option<crate::ids::TenantId>,
    caller: Option<PhoneNumber>,
    data: Vec<(String, String)>,
    joined_at: Duration,
    state: CallState,
    declined: Vec<AgentId>,
    join_bound: Option<Duration>,
    next_announce: Option<Duration>,
    /// The caller's own announcement period (overrides the queue's).
    announce_every: Option<Duration>,
    max_wait_at: Option<Duration>,
    overflow_at: Option<Duration>,
    tier_at: Option<Duration>,
    /// Queues this call overflowed out of: their agents may still take it.
    origins: Vec<QueueId>,
}

impl Call {
    /// It needs something of its agent: skills, or a tenant.
    fn is_needy(&self) -> bool {
        !self.skills.is_empty() || self.tenant.is_some()
    }
    fn on_line(&self) -> bool {
        matches!(self.state, CallState::Waiting | CallState::Offered { .. })
    }
    fn is_callback(&self) -> bool {
        matches!(
            self.state,
            CallState::CallbackWaiting { .. } | CallState::CallbackDialing { .. }
        )
    }
    fn unassigned(&self, now: Duration) -> bool {
        match &self.state {
            CallState::Waiting => true,
            CallState::CallbackWaiting { eligible_at, .. } => *eligible_at <= now,
            _ => false,
        }
    }
}

#[derive(Debug)]
struct Agent {
    cfg: AgentConfig,
    state: AgentState,
    idle_since: Duration,
    call_started: Duration,
    pending_pause: Option<String>,
    /// A non-queue call the agent is on (direct, transfer, outbound), whatever the state.
    direct: Option<BusyKind>,
    /// The queue call or callback the agent is connected to, whatever the state says.
    current: Option<(CallId, BusyKind)>,
    /// Configured queues the agent has logged out of: not offered their calls.
    off_queues: Vec<QueueId>,
    /// When the current `rona` pause ends by itself (the RONA recovery timer).
    rona_until: Option<Duration>,
}

#[derive(Debug)]
struct Queue {
    cfg: QueueConfig,
    members: Vec<AgentId>,
    answered_by: Vec<u64>,
    order: VecDeque<(u64, CallId)>,
    /// Calls that overflowed out of this queue and still wait in a reserve queue, by key:
    /// this queue's agents may take them (see `overflow.rs`).
    away: VecDeque<(u64, CallId)>,
    rr_next: usize,
    model: EwtModel,
    stats: QueueStats,
    /// Counts the changes to the order that matter to the callers already in it (a caller
    /// left, was offered, became or stopped being a callback, was inserted ahead of others);
    /// a forecast made in another epoch no longer holds.
    epoch: u64,
    forecast: forecast::QueueForecast,
    /// Keys of the callers in `order` who need something of an agent (skills, a tenant):
    /// while there are some, wait estimates play who may take whom (`lanes.rs`).
    needy: std::collections::BTreeSet<u64>,
}

impl Queue {
    fn index_of(&self, key: u64) -> Option<usize> {
        self.order.binary_search_by(|(k, _)| k.cmp(&key)).ok()
    }
    /// Put `call` in the order; `needy` when it needs skills or a tenant of its agents.
    fn insert(&mut self, key: u64, call: CallId, needy: bool) {
        if needy {
            self.needy.insert(key);
        }
        let i = self.order.partition_point(|(k, _)| *k < key);
        if i < self.order.len() {
            self.epoch += 1;
        }
        self.order.insert(i, (key, call));
    }
    fn remove(&mut self, key: u64) {
        self.needy.remove(&key);
        if let Some(i) = self.index_of(key) {
            self.epoch += 1;
            self.order.remove(i);
        }
    }
}

#[derive(Debug)]
struct ResumeEntry {
    queue: QueueId,
    key: u64,
    expires: Duration,
}

/// The ACD engine. Owns all queues, agents and waiting calls; does no I/O and reads no clock.
/// Its `Debug` output is a summary (counts), never caller numbers.
///
/// Time is a [`Duration`] since an epoch the driver chooses (the server: its start
/// `Instant`; the simulator: zero). Feed inputs with the `handle_*` methods, then call
/// [`Acd::poll_output`] until it returns `None`, and wake up at [`Acd::poll_timeout`] to call
/// [`Acd::handle_timeout`].
pub struct Acd {
    cfg: AcdConfig,
    queues: HashMap<QueueId, Queue>,
    queue_ids: Vec<QueueId>,
    agents: HashMap<AgentId, Agent>,
    calls: HashMap<CallId, Call>,
    timers: BinaryHeap<Reverse<(Duration, u64, Timer)>>,
    timer_seq: u64,
    seq: u64,
    out: VecDeque<Output>,
    rng: SmallRng,
    resume: HashMap<PhoneNumber, ResumeEntry>,
    order_violations: u64,
    /// Agents in `Available`, so a saturated centre skips the member scan.
    available: usize,
    loads: Vec<AgentLoad>,
    ahead: Vec<bool>,
    /// The agents of `loads`, in the same order.
    load_ids: Vec<AgentId>,
    /// Queue-wide forecasts made (each serves many estimates).
    forecasts_made: u64,
    /// Forecasts of groups of queues sharing agents, by the group's queue ids (sorted).
    groups: HashMap<Vec<QueueId>, group_forecast::GroupState>,
}

impl std::fmt::Debug for Acd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acd")
            .field("queues", &self.queues.len())
            .field("agents", &self.agents.len())
            .field("calls", &self.calls.len())
            .field("available", &self.available)
            .field("timers", &self.timers.len())
            .finish()
    }
}

const SEQ_BITS: u32 = 56;

/// The pause reason of a ring-no-answer.
const RONA: &str = "rona";

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Whole milliseconds, rounded up, so float noise never puts an exact wait above the bound.
fn to_duration(e: Estimate) -> (Duration, f64) {
    let ms = (e.bound * 1000.0).ceil().clamp(0.0, 1e12) as u64;
    (Duration::from_millis(ms), e.p_answered_within)
}

impl Acd {
    /// An empty engine.
    pub fn new(cfg: AcdConfig) -> Self {
        Acd {
            cfg,
            queues: HashMap::new(),
            queue_ids: Vec::new(),
            agents: HashMap::new(),
            calls: HashMap::new(),
            timers: BinaryHeap::new(),
            timer_seq: 0,
            seq: 0,
            out: VecDeque::new(),
            rng: SmallRng::seed_from_u64(cfg.seed),
            resume: HashMap::new(),
            order_violations: 0,
            available: 0,
            loads: Vec::new(),
            ahead: Vec::new(),
            load_ids: Vec::new(),
            forecasts_made: 0,
            groups: HashMap::new(),
        }
    }

    /// Add a queue. Agents refer to it by id afterwards.
    pub fn add_queue(&mut self, id: QueueId, cfg: QueueConfig) -> Result<(), AcdError> {
        if self.queues.contains_key(&id) {
            return Err(AcdError::DuplicateQueue(id));
        }
        let mut model = EwtModel::new(self.cfg.ewt, secs(cfg.prior_handle_time));
        model.set_ring_policy(
            secs(cfg.ring_timeout),
            self.cfg.rona_unpause_after.map(secs),
        );
        self.queues.insert(
            id,
            Queue {
                cfg,
                members: Vec::new(),
                answered_by: Vec::new(),
                order: VecDeque::new(),
                away: VecDeque::new(),
                rr_next: 0,
                model,
                stats: QueueStats::default(),
                epoch: 0,
                forecast: forecast::QueueForecast::default(),
                needy: std::collections::BTreeSet::new(),
            },
        );
        self.queue_ids.push(id);
        Ok(())
    }

    /// Add an agent (logged out) and make them a member of their queues.
    pub fn add_agent(&mut self, cfg: AgentConfig) -> Result<(), AcdError> {
        if self.agents.contains_key(&cfg.id) {
            return Err(AcdError::DuplicateAgent(cfg.id));
        }
        if let Some(q) = cfg.queues.iter().find(|q| !self.queues.contains_key(q)) {
            return Err(AcdError::UnknownQueue(*q));
        }
        for q in &cfg.queues {
            if let Some(queue) = self.queues.get_mut(q) {
                if !queue.members.contains(&cfg.id) {
                    queue.members.push(cfg.id);
                    queue.answered_by.push(0);
                }
            }
        }
        let mut cfg = cfg;
        cfg.queues.dedup();
        self.agents.insert(
            cfg.id,
            Agent {
                cfg,
                state: AgentState::LoggedOut,
                idle_since: Duration::ZERO,
                call_started: Duration::ZERO,
                pending_pause: None,
                direct: None,
                current: None,
                off_queues: Vec::new(),
                rona_until: None,
            },
        );
        Ok(())
    }

    /// An agent's state.
    pub fn agent_state(&self, agent: AgentId) -> Option<&AgentState> {
        self.agents.get(&agent).map(|a| &a.state)
    }

    /// The configured queues the agent takes calls from now (not logged out of), in
    /// configuration order.
    pub fn agent_queues(&self, agent: AgentId) -> Option<Vec<QueueId>> {
        let a = self.agents.get(&agent)?;
        Some(
            a.cfg
                .queues
                .iter()
                .copied()
                .filter(|q| !a.off_queues.contains(q))
                .collect(),
        )
    }

    /// Whether the agent takes `queue`'s calls now: a configured member not logged out of
    /// it (its state aside).
    pub fn serves(&self, agent: AgentId, queue: QueueId) -> bool {
        self.agents
            .get(&agent)
            .is_some_and(|a| a.cfg.queues.contains(&queue) && !a.off_queues.contains(&queue))
    }

    /// A queue's counters, `waiting` and `callbacks_pending` filled in.
    pub fn queue_stats(&self, queue: QueueId) -> Option<QueueStats> {
        let q = self.queues.get(&queue)?;
        let mut s = q.stats;
        s.waiting = 0;
        s.callbacks_pending = 0;
        for (_, c) in &q.order {
            if let Some(call) = self.calls.get(c) {
                if call.is_callback() {
                    s.callbacks_pending += 1;
                } else {
                    s.waiting += 1;
                }
            }
        }
        Some(s)
    }

    /// 1-based position of a waiting call (or callback entry) in its queue.
    pub fn position(&self, call: CallId) -> Option<usize> {
        let c = self.calls.get(&call)?;
        self.queues.get(&c.queue)?.index_of(c.key).map(|i| i + 1)
    }

    /// The queue a call is in (or was answered from).
    pub fn call_queue(&self, call: CallId) -> Option<QueueId> {
        self.calls.get(&call).map(|c| c.queue)
    }

    /// The data the caller brought, for the agent's screen.
    pub fn call_data(&self, call: CallId) -> Option<&[(String, String)]> {
        self.calls.get(&call).map(|c| c.data.as_slice())
    }

    /// Number of calls known to the engine (waiting, ringing, connected, callbacks).
    pub fn live_calls(&self) -> usize {
        self.calls.len()
    }

    /// Check the invariants: nobody double-booked, order respected, counters balanced.
    pub fn audit(&self) -> Audit {
        let mut a = Audit {
            order_violations: self.order_violations,
            ..Audit::default()
        };
        let mut seen: HashMap<AgentId, CallId> = HashMap::new();
        let bad = |agent: AgentId, a: &mut Audit| {
            if !a.double_booked.contains(&agent) {
                a.double_booked.push(agent);
            }
        };
        for (id, call) in &self.calls {
            let mut claim = |agent: AgentId, ok: bool| {
                if !ok || seen.insert(agent, *id).is_some() {
                    bad(agent, &mut a);
                }
            };
            match &call.state {
                CallState::Offered { agents, .. } => {
                    for ag in agents {
                        let ok = self.agents.get(ag).map(|x| &x.state)
                            == Some(&AgentState::Ringing { call: *id });
                        claim(*ag, ok);
                    }
                }
                CallState::CallbackDialing { agent, .. } => {
                    let ok = self.agents.get(agent).map(|x| &x.state)
                        == Some(&AgentState::Reserved { call: *id });
                    claim(*agent, ok);
                }
                _ => {}
            }
        }
        for (id, ag) in &self.agents {
            if let AgentState::Ringing { call } | AgentState::Reserved { call } = ag.state {
                if seen.get(id) != Some(&call) {
                    bad(*id, &mut a);
                }
            }
        }
        for q in &self.queue_ids {
            if !self.queue_stats(*q).is_some_and(|s| s.balanced()) {
                a.unbalanced.push(*q);
            }
        }
        a.double_booked.sort();
        a
    }

    /// Bytes the engine's wait forecasts hold between two makes (all queues): a memory
    /// diagnostic.
    pub fn forecast_bytes(&self) -> usize {
        self.queues
            .values()
            .map(|q| q.forecast.heap_bytes())
            .chain(self.groups.values().map(|g| g.heap_bytes()))
            .sum()
    }

    /// How many queue-wide wait forecasts the engine has made (each serves the estimates
    /// of a queue's callers until the queue changes): a cost diagnostic.
    pub fn forecasts_made(&self) -> u64 {
        self.forecasts_made
    }

    /// A change to `call`'s state that matters to the callers behind it in its queue's
    /// order (it was offered, its offer lapsed, it became or stopped being a callback
    /// entry): the queue's forecast no longer holds.
    fn order_changed(&mut self, call: CallId) {
        let Some(qid) = self.calls.get(&call).map(|c| c.queue) else {
            return;
        };
        if let Some(q) = self.queues.get_mut(&qid) {
            q.epoch += 1;
        }
    }

    /// Next output for the server; call after every `handle_*` until `None`.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The next deadline (RONA, wrap-up end, announcement, max wait, overflow, skill tier,
    /// callback retry). Call [`Acd::handle_timeout`] when it passes. May be early, never late.
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.timers.peek().map(|Reverse((t, _, _))| *t)
    }

    /// Process every deadline at or before `now`.
    pub fn handle_timeout(&mut self, now: Duration) {
        while let Some(Reverse((at, _, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, _, timer))) = self.timers.pop() else {
                break;
            };
            self.fire(now, at, timer);
        }
    }
}

//! The engine: one value owning every queue, agent and waiting call.

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
}

impl Default for AcdConfig {
    fn default() -> Self {
        AcdConfig {
            seed: 0x5eed,
            ewt: EwtConfig::default(),
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
    /// No callback is being placed for this call.
    #[error("no callback in progress for {0}")]
    NoCallback(CallId),
    /// The agent must be logged in for this.
    #[error("agent {0} is not logged in")]
    NotLoggedIn(AgentId),
}

/// Per-queue counters. Every call that joined is in exactly one bucket, so
/// `joined == answered + abandoned + timed_out + overflowed + exited + left_empty
/// + callback_failed + waiting + callbacks_pending` at all times ([`QueueStats::balanced`]).
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
}

impl Call {
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
}

#[derive(Debug)]
struct Queue {
    cfg: QueueConfig,
    members: Vec<AgentId>,
    answered_by: Vec<u64>,
    order: VecDeque<(u64, CallId)>,
    rr_next: usize,
    model: EwtModel,
    stats: QueueStats,
}

impl Queue {
    fn index_of(&self, key: u64) -> Option<usize> {
        self.order.binary_search_by(|(k, _)| k.cmp(&key)).ok()
    }
    fn insert(&mut self, key: u64, call: CallId) {
        let i = self.order.partition_point(|(k, _)| *k < key);
        self.order.insert(i, (key, call));
    }
    fn remove(&mut self, key: u64) {
        if let Some(i) = self.index_of(key) {
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
        }
    }

    /// Add a queue. Agents refer to it by id afterwards.
    pub fn add_queue(&mut self, id: QueueId, cfg: QueueConfig) -> Result<(), AcdError> {
        if self.queues.contains_key(&id) {
            return Err(AcdError::DuplicateQueue(id));
        }
        let model = EwtModel::new(self.cfg.ewt, secs(cfg.prior_handle_time));
        self.queues.insert(
            id,
            Queue {
                cfg,
                members: Vec::new(),
                answered_by: Vec::new(),
                order: VecDeque::new(),
                rr_next: 0,
                model,
                stats: QueueStats::default(),
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
            },
        );
        Ok(())
    }

    // ---------------------------------------------------------------- queries

    /// An agent's state.
    pub fn agent_state(&self, agent: AgentId) -> Option<&AgentState> {
        self.agents.get(&agent).map(|a| &a.state)
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

    // ---------------------------------------------------------------- driver interface

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

    // ---------------------------------------------------------------- calls

    /// A caller joins a queue. Outputs: an `Offer` if an agent is free, else an `Announce`
    /// (if configured), or an `Exit`/`Overflow` if the queue refuses or overflows the call.
    pub fn handle_join(&mut self, now: Duration, join: Join) -> Result<(), AcdError> {
        let qid = join.queue;
        let q = self.queues.get(&qid).ok_or(AcdError::UnknownQueue(qid))?;
        if self.calls.contains_key(&join.call) {
            return Err(AcdError::DuplicateCall(join.call));
        }
        let refuse = if !q.cfg.join_when_empty && !self.staffed(qid) {
            Some(ExitReason::NoAgents)
        } else if q.cfg.max_len.is_some_and(|m| q.order.len() >= m) {
            Some(ExitReason::QueueFull)
        } else {
            None
        };
        if let Some(reason) = refuse {
            if let Some(q) = self.queues.get_mut(&qid) {
                q.stats.refused += 1;
            }
            self.out.push_back(Output::Exit {
                call: join.call,
                queue: qid,
                reason,
            });
            return Ok(());
        }
        let mut resumed = None;
        if let Some(num) = &join.caller {
            if let Some(r) = self.resume.remove(num) {
                if r.queue == qid && r.expires >= now {
                    resumed = Some(r.key);
                }
            }
        }
        let key = match resumed {
            Some(k) => k,
            None => {
                self.seq += 1;
                (u64::from(255 - join.priority) << SEQ_BITS) | self.seq
            }
        };
        let call = Call {
            queue: qid,
            key,
            skills: join.skills,
            tenant: join.tenant,
            caller: join.caller,
            data: join.data,
            joined_at: now,
            state: CallState::Waiting,
            declined: Vec::new(),
            join_bound: None,
            next_announce: None,
            announce_every: join.announce_every,
            max_wait_at: None,
            overflow_at: None,
            tier_at: None,
        };
        self.calls.insert(join.call, call);
        self.enter_queue(now, join.call, qid, resumed.is_some());
        Ok(())
    }

    /// The caller hung up (or the connected call ended). Waiting or ringing: counted as
    /// abandoned, offers cancelled, place remembered for resume. Connected: the agent goes to
    /// wrap-up. A callback entry ignores the end of the caller's original leg.
    pub fn handle_call_ended(&mut self, now: Duration, call: CallId) -> Result<(), AcdError> {
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        match &c.state {
            CallState::CallbackWaiting { .. } | CallState::CallbackDialing { .. } => Ok(()),
            CallState::Connected { agent } => {
                let agent = *agent;
                let qid = c.queue;
                let Some(c) = self.calls.remove(&call) else {
                    return Ok(());
                };
                let _ = c;
                let started = self.agents.get(&agent).map(|a| a.call_started);
                let wrap = self
                    .queues
                    .get(&qid)
                    .map(|q| q.cfg.wrap_up)
                    .unwrap_or_default();
                if let (Some(started), Some(q)) = (started, self.queues.get_mut(&qid)) {
                    q.model.record_handle(secs(now.saturating_sub(started)));
                }
                if let Some(a) = self.agents.get_mut(&agent) {
                    if a.current.is_some_and(|(c, _)| c == call) {
                        a.current = None;
                    }
                }
                let on_it = self.agents.get(&agent).is_some_and(
                    |a| matches!(a.state, AgentState::Busy { call: Some(x), .. } if x == call),
                );
                if on_it {
                    if wrap > Duration::ZERO {
                        let until = now + wrap;
                        self.set_state(agent, AgentState::WrapUp { until });
                        self.arm(until, Timer::WrapEnd(agent));
                    } else {
                        self.make_available(now, agent);
                    }
                }
                Ok(())
            }
            CallState::Waiting | CallState::Offered { .. } => {
                let qid = c.queue;
                let key = c.key;
                let window = self
                    .queues
                    .get(&qid)
                    .map(|q| q.cfg.resume_window)
                    .unwrap_or_default();
                if let Some(num) = c.caller.clone() {
                    if window > Duration::ZERO {
                        if self.resume.len() > 4096 {
                            self.resume.retain(|_, r| r.expires >= now);
                        }
                        self.resume.insert(
                            num,
                            ResumeEntry {
                                queue: qid,
                                key,
                                expires: now + window,
                            },
                        );
                    }
                }
                self.leave(now, call, Outcome::Abandoned);
                Ok(())
            }
        }
    }

    /// The caller left the queue for a reason decided outside the engine (the dialplan's
    /// own exit key or maximum wait for this call). Counted as that exit, not as an
    /// abandon; offers are cancelled. No `Exit` output follows: the caller of this
    /// function already knows.
    pub fn handle_exit(
        &mut self,
        now: Duration,
        call: CallId,
        reason: ExitReason,
    ) -> Result<(), AcdError> {
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        if !c.on_line() {
            return Err(AcdError::NotWaiting(call));
        }
        self.leave(now, call, Outcome::Exited(reason));
        // `leave` announces exits to the server; this one came from the server.
        self.out
            .retain(|o| !matches!(o, Output::Exit { call: c, .. } if *c == call));
        Ok(())
    }

    /// The caller pressed `key`. If it is the queue's exit key the call leaves with
    /// `Exit{ExitKey}`; other keys are ignored (the dialplan may use them, e.g. for callback).
    pub fn handle_key(&mut self, now: Duration, call: CallId, key: char) -> Result<(), AcdError> {
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        if !c.on_line() {
            return Err(AcdError::NotWaiting(call));
        }
        let exit = self
            .queues
            .get(&c.queue)
            .and_then(|q| q.cfg.exit_key)
            .is_some_and(|k| k == key);
        if exit {
            self.leave(now, call, Outcome::Exited(ExitReason::ExitKey { key }));
        }
        Ok(())
    }

    /// The caller asked to be called back at `number` and will hang up. The entry keeps its
    /// place; when it reaches an agent the engine emits `Callback`.
    pub fn handle_callback_request(
        &mut self,
        now: Duration,
        call: CallId,
        number: PhoneNumber,
    ) -> Result<(), AcdError> {
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        if !c.on_line() {
            return Err(AcdError::NotWaiting(call));
        }
        let ringing = self.take_offer_agents(call);
        let Some(c) = self.calls.get_mut(&call) else {
            return Ok(());
        };
        let waited = now.saturating_sub(c.joined_at);
        let qid = c.queue;
        c.state = CallState::CallbackWaiting {
            number,
            attempts: 0,
            eligible_at: now,
        };
        c.next_announce = None;
        c.max_wait_at = None;
        c.overflow_at = None;
        self.out.push_back(Output::Log(Event::Waited {
            call,
            queue: qid,
            waited,
            outcome: Outcome::CallbackRequested,
        }));
        for a in ringing {
            self.out.push_back(Output::CancelOffer { call, agent: a });
            self.release_agent(now, a);
        }
        self.dispatch_call(now, call);
        Ok(())
    }

    /// Outcome of a callback the engine asked for.
    pub fn handle_callback_result(
        &mut self,
        now: Duration,
        call: CallId,
        result: CallbackResult,
    ) -> Result<(), AcdError> {
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        let CallState::CallbackDialing {
            number,
            attempts,
            agent,
        } = &c.state
        else {
            return Err(AcdError::NoCallback(call));
        };
        let (number, attempts, agent) = (number.clone(), *attempts, *agent);
        let qid = c.queue;
        let key = c.key;
        let waited = now.saturating_sub(c.joined_at);
        match result {
            CallbackResult::Connected => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.state = CallState::Connected { agent };
                }
                if let Some(q) = self.queues.get_mut(&qid) {
                    q.remove(key);
                    q.stats.answered += 1;
                }
                if let Some(a) = self.agents.get_mut(&agent) {
                    a.call_started = now;
                    a.current = Some((call, BusyKind::Callback));
                }
                self.set_state(
                    agent,
                    AgentState::Busy {
                        call: Some(call),
                        kind: BusyKind::Callback,
                    },
                );
                self.out.push_back(Output::Log(Event::Waited {
                    call,
                    queue: qid,
                    waited,
                    outcome: Outcome::Answered,
                }));
            }
            CallbackResult::Failed => {
                let max = self
                    .queues
                    .get(&qid)
                    .map(|q| q.cfg.callback)
                    .map(|p| (p.max_attempts.max(1), p.retry_after))
                    .unwrap_or((1, Duration::ZERO));
                if attempts >= max.0 {
                    if let Some(q) = self.queues.get_mut(&qid) {
                        q.remove(key);
                        q.stats.callback_failed += 1;
                    }
                    self.calls.remove(&call);
                    self.out.push_back(Output::Exit {
                        call,
                        queue: qid,
                        reason: ExitReason::CallbackFailed,
                    });
                } else if let Some(c) = self.calls.get_mut(&call) {
                    let at = now + max.1;
                    c.state = CallState::CallbackWaiting {
                        number,
                        attempts,
                        eligible_at: at,
                    };
                    self.arm(at, Timer::CallbackRetry(call));
                }
                self.release_agent(now, agent);
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- offers

    /// The agent answered the offered call. Other agents ringing for it (ring-all) get a
    /// `CancelOffer`. A stale answer (someone else won) is an error: hang that leg up.
    pub fn handle_offer_answered(
        &mut self,
        now: Duration,
        call: CallId,
        agent: AgentId,
    ) -> Result<(), AcdError> {
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        let CallState::Offered { agents, .. } = &c.state else {
            return Err(AcdError::StaleOffer { call, agent });
        };
        if !agents.contains(&agent)
            || self.agents.get(&agent).map(|a| &a.state) != Some(&AgentState::Ringing { call })
        {
            return Err(AcdError::StaleOffer { call, agent });
        }
        let others: Vec<AgentId> = agents.iter().copied().filter(|a| *a != agent).collect();
        let qid = c.queue;
        let key = c.key;
        let waited = now.saturating_sub(c.joined_at);
        let join_bound = c.join_bound;
        if let Some(c) = self.calls.get_mut(&call) {
            c.state = CallState::Connected { agent };
            c.next_announce = None;
        }
        if let Some(q) = self.queues.get_mut(&qid) {
            q.remove(key);
            q.stats.answered += 1;
            q.model.record_departure(secs(waited), false);
            if let Some(b) = join_bound {
                q.model.record_coverage(waited <= b);
            }
            if let Some(i) = q.members.iter().position(|m| *m == agent) {
                q.answered_by[i] += 1;
            }
        }
        if let Some(a) = self.agents.get_mut(&agent) {
            a.call_started = now;
            a.current = Some((call, BusyKind::Queue));
        }
        self.set_state(
            agent,
            AgentState::Busy {
                call: Some(call),
                kind: BusyKind::Queue,
            },
        );
        self.out.push_back(Output::Log(Event::Waited {
            call,
            queue: qid,
            waited,
            outcome: Outcome::Answered,
        }));
        for o in others {
            self.out.push_back(Output::CancelOffer { call, agent: o });
            self.release_agent(now, o);
        }
        Ok(())
    }

    /// The offer to `agent` failed. `Rejected`: the agent stays available but is not offered
    /// this call again. `NoAnswer`: RONA, the agent is paused with reason `rona`.
    /// `Unreachable`: the agent becomes unreachable. The call is re-offered.
    pub fn handle_offer_failed(
        &mut self,
        now: Duration,
        call: CallId,
        agent: AgentId,
        failure: OfferFailure,
    ) -> Result<(), AcdError> {
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        let ringing = matches!(&c.state, CallState::Offered { agents, .. } if agents.contains(&agent))
            && self.agents.get(&agent).map(|a| &a.state) == Some(&AgentState::Ringing { call });
        if !ringing {
            return Err(AcdError::StaleOffer { call, agent });
        }
        self.drop_from_offer(call, agent);
        match failure {
            OfferFailure::Rejected => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.declined.push(agent);
                }
                self.redispatch_if_unoffered(now, call);
                self.make_available(now, agent);
            }
            OfferFailure::NoAnswer => {
                self.rona(agent, call);
                self.redispatch_if_unoffered(now, call);
            }
            OfferFailure::Unreachable => {
                self.set_state(agent, AgentState::Unreachable);
                self.redispatch_if_unoffered(now, call);
                self.check_empty(now, agent);
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- agents

    /// The agent logs in and becomes available.
    pub fn handle_login(&mut self, now: Duration, agent: AgentId) -> Result<(), AcdError> {
        let a = self
            .agents
            .get(&agent)
            .ok_or(AcdError::UnknownAgent(agent))?;
        if a.state == AgentState::LoggedOut {
            self.make_available(now, agent);
        }
        Ok(())
    }

    /// The agent logs out. A ringing offer is withdrawn and the call re-offered; a call in
    /// progress continues, but the agent is not offered anything afterwards.
    pub fn handle_logout(&mut self, now: Duration, agent: AgentId) -> Result<(), AcdError> {
        self.agents
            .get(&agent)
            .ok_or(AcdError::UnknownAgent(agent))?;
        self.take_out(now, agent, AgentState::LoggedOut);
        Ok(())
    }

    /// The agent's device became unreachable (registration lost, transport failure): never
    /// offered until [`Acd::handle_reachable`].
    pub fn handle_unreachable(&mut self, now: Duration, agent: AgentId) -> Result<(), AcdError> {
        self.agents
            .get(&agent)
            .ok_or(AcdError::UnknownAgent(agent))?;
        self.take_out(now, agent, AgentState::Unreachable);
        Ok(())
    }

    /// The agent's device is reachable again: the agent becomes available.
    pub fn handle_reachable(&mut self, now: Duration, agent: AgentId) -> Result<(), AcdError> {
        let a = self
            .agents
            .get(&agent)
            .ok_or(AcdError::UnknownAgent(agent))?;
        if a.state == AgentState::Unreachable {
            self.make_available(now, agent);
        }
        Ok(())
    }

    /// Pause with a reason. If the agent is on a call, ringing or reserved, the pause takes
    /// effect when that ends (a ringing offer is withdrawn at once).
    pub fn handle_pause(
        &mut self,
        now: Duration,
        agent: AgentId,
        reason: String,
    ) -> Result<(), AcdError> {
        let a = self
            .agents
            .get(&agent)
            .ok_or(AcdError::UnknownAgent(agent))?;
        match a.state.clone() {
            AgentState::LoggedOut | AgentState::Unreachable => {
                return Err(AcdError::NotLoggedIn(agent))
            }
            AgentState::Available | AgentState::WrapUp { .. } | AgentState::Paused { .. } => {
                self.set_state(agent, AgentState::Paused { reason });
            }
            AgentState::Ringing { call } => {
                self.drop_from_offer(call, agent);
                self.out.push_back(Output::CancelOffer { call, agent });
                self.set_state(agent, AgentState::Paused { reason });
                self.redispatch_if_unoffered(now, call);
            }
            AgentState::Busy { .. } | AgentState::Reserved { .. } => {
                if let Some(a) = self.agents.get_mut(&agent) {
                    a.pending_pause = Some(reason);
                }
            }
        }
        Ok(())
    }

    /// Unpause (also cancels a pending pause).
    pub fn handle_unpause(&mut self, now: Duration, agent: AgentId) -> Result<(), AcdError> {
        let a = self
            .agents
            .get_mut(&agent)
            .ok_or(AcdError::UnknownAgent(agent))?;
        a.pending_pause = None;
        if matches!(a.state, AgentState::Paused { .. }) {
            self.make_available(now, agent);
        }
        Ok(())
    }

    /// The agent finished wrap-up early.
    pub fn handle_wrap_up_done(&mut self, now: Duration, agent: AgentId) -> Result<(), AcdError> {
        let a = self
            .agents
            .get(&agent)
            .ok_or(AcdError::UnknownAgent(agent))?;
        if matches!(a.state, AgentState::WrapUp { .. }) {
            self.make_available(now, agent);
        }
        Ok(())
    }

    /// The agent is on a call that did not come from a queue (direct, transfer, outbound):
    /// busy everywhere. A ringing offer is withdrawn; a pause is kept for afterwards.
    pub fn handle_agent_busy(
        &mut self,
        now: Duration,
        agent: AgentId,
        kind: BusyKind,
    ) -> Result<(), AcdError> {
        let a = self
            .agents
            .get_mut(&agent)
            .ok_or(AcdError::UnknownAgent(agent))?;
        a.direct = Some(kind);
        let busy = AgentState::Busy { call: None, kind };
        match a.state.clone() {
            // Logged-out and unreachable agents stay so; they come back busy.
            AgentState::LoggedOut | AgentState::Unreachable | AgentState::Busy { .. } => {
                return Ok(())
            }
            AgentState::Available | AgentState::WrapUp { .. } => {}
            AgentState::Paused { reason } => {
                a.pending_pause = Some(reason);
            }
            AgentState::Ringing { call } => {
                self.drop_from_offer(call, agent);
                self.out.push_back(Output::CancelOffer { call, agent });
                self.set_state(agent, busy.clone());
                self.redispatch_if_unoffered(now, call);
            }
            AgentState::Reserved { call } => {
                self.set_state(agent, busy.clone());
                self.return_callback(now, call);
            }
        }
        if let Some(a) = self.agents.get_mut(&agent) {
            a.call_started = now;
        }
        self.set_state(agent, busy);
        Ok(())
    }

    /// The non-queue call ended: the agent becomes available (or paused, if a pause waits).
    pub fn handle_agent_idle(&mut self, now: Duration, agent: AgentId) -> Result<(), AcdError> {
        let a = self
            .agents
            .get_mut(&agent)
            .ok_or(AcdError::UnknownAgent(agent))?;
        a.direct = None;
        if matches!(a.state, AgentState::Busy { call: None, .. }) {
            self.make_available(now, agent);
        }
        Ok(())
    }

    // ---------------------------------------------------------------- internals

    fn arm(&mut self, at: Duration, t: Timer) {
        self.timer_seq += 1;
        self.timers.push(Reverse((at, self.timer_seq, t)));
    }

    fn set_state(&mut self, agent: AgentId, state: AgentState) {
        if let Some(a) = self.agents.get_mut(&agent) {
            if a.state == state {
                return;
            }
            if a.state == AgentState::Available {
                self.available -= 1;
            }
            if state == AgentState::Available {
                self.available += 1;
            }
            a.state = state.clone();
            self.out
                .push_back(Output::Log(Event::AgentState { agent, state }));
        }
    }

    fn staffed(&self, q: QueueId) -> bool {
        self.queues.get(&q).is_some_and(|q| {
            q.members.iter().any(|m| {
                self.agents.get(m).is_some_and(|a| {
                    !matches!(a.state, AgentState::LoggedOut | AgentState::Unreachable)
                })
            })
        })
    }

    /// Agent becomes available (or paused if a pause is pending) and takes the best call;
    /// its idle time starts now (longest-idle counts from the end of its last call).
    fn make_available(&mut self, now: Duration, agent: AgentId) {
        self.free_agent(now, agent, true);
    }

    /// An agent freed from an offer or reservation without having taken a call: same as
    /// [`make_available`](Self::make_available), but its idle time keeps running.
    fn release_agent(&mut self, now: Duration, agent: AgentId) {
        self.free_agent(now, agent, false);
    }

    /// The one place an agent leaves an offer, reservation or call: back to the busy state
    /// it still has elsewhere, to a pending pause, or to Available and the next call.
    fn free_agent(&mut self, now: Duration, agent: AgentId, restart_idle: bool) {
        let Some(a) = self.agents.get_mut(&agent) else {
            return;
        };
        if let Some((call, kind)) = a.current {
            self.set_state(
                agent,
                AgentState::Busy {
                    call: Some(call),
                    kind,
                },
            );
            return;
        }
        if let Some(kind) = a.direct {
            self.set_state(agent, AgentState::Busy { call: None, kind });
            return;
        }
        if let Some(reason) = a.pending_pause.take() {
            self.set_state(agent, AgentState::Paused { reason });
            return;
        }
        if restart_idle {
            a.idle_since = now;
        }
        self.set_state(agent, AgentState::Available);
        self.assign_agent(now, agent);
    }

    fn rona(&mut self, agent: AgentId, call: CallId) {
        self.set_state(
            agent,
            AgentState::Paused {
                reason: "rona".to_string(),
            },
        );
        self.out.push_back(Output::Log(Event::Rona { agent, call }));
    }

    fn take_out(&mut self, now: Duration, agent: AgentId, to: AgentState) {
        let Some(a) = self.agents.get_mut(&agent) else {
            return;
        };
        a.pending_pause = None;
        match a.state.clone() {
            AgentState::Ringing { call } => {
                self.drop_from_offer(call, agent);
                self.out.push_back(Output::CancelOffer { call, agent });
                self.set_state(agent, to);
                self.redispatch_if_unoffered(now, call);
            }
            AgentState::Reserved { call } => {
                self.set_state(agent, to);
                self.return_callback(now, call);
            }
            _ => self.set_state(agent, to),
        }
        self.check_empty(now, agent);
    }

    fn check_empty(&mut self, now: Duration, agent: AgentId) {
        let Some(queues) = self.agents.get(&agent).map(|a| a.cfg.queues.clone()) else {
            return;
        };
        for qid in queues {
            let leave = self
                .queues
                .get(&qid)
                .is_some_and(|q| q.cfg.leave_when_empty && !q.order.is_empty());
            if leave && !self.staffed(qid) {
                let calls: Vec<CallId> = self
                    .queues
                    .get(&qid)
                    .map(|q| q.order.iter().map(|(_, c)| *c).collect())
                    .unwrap_or_default();
                for c in calls {
                    self.leave(now, c, Outcome::Exited(ExitReason::NoAgents));
                }
            }
        }
    }

    /// A callback reservation fell through without an attempt (agent logged out etc.).
    fn return_callback(&mut self, now: Duration, call: CallId) {
        if let Some(c) = self.calls.get_mut(&call) {
            if let CallState::CallbackDialing {
                number,
                attempts,
                agent,
            } = &c.state
            {
                self.out.push_back(Output::CancelOffer {
                    call,
                    agent: *agent,
                });
                c.state = CallState::CallbackWaiting {
                    number: number.clone(),
                    attempts: attempts.saturating_sub(1),
                    eligible_at: now,
                };
                self.dispatch_call(now, call);
            }
        }
    }

    fn drop_from_offer(&mut self, call: CallId, agent: AgentId) {
        if let Some(c) = self.calls.get_mut(&call) {
            if let CallState::Offered { agents, .. } = &mut c.state {
                agents.retain(|a| *a != agent);
                if agents.is_empty() {
                    c.state = CallState::Waiting;
                }
            }
        }
    }

    fn redispatch_if_unoffered(&mut self, now: Duration, call: CallId) {
        if self
            .calls
            .get(&call)
            .is_some_and(|c| matches!(c.state, CallState::Waiting))
        {
            self.after_offer_lapsed(now, call);
        }
    }

    /// Turn an offered call back into a waiting one and return the agents that were ringing
    /// (still in `Ringing`; the caller cancels and releases them).
    fn take_offer_agents(&mut self, call: CallId) -> Vec<AgentId> {
        match self.calls.get_mut(&call) {
            Some(c) => match std::mem::replace(&mut c.state, CallState::Waiting) {
                CallState::Offered { agents, .. } => agents,
                other => {
                    c.state = other;
                    Vec::new()
                }
            },
            None => Vec::new(),
        }
    }

    /// Remove a call from its queue for `outcome` (not answered), cancelling offers.
    fn leave(&mut self, now: Duration, call: CallId, outcome: Outcome) {
        let Some(c) = self.calls.remove(&call) else {
            return;
        };
        let qid = c.queue;
        let waited = now.saturating_sub(c.joined_at);
        let was_callback = c.is_callback();
        if let Some(q) = self.queues.get_mut(&qid) {
            q.remove(c.key);
            match &outcome {
                Outcome::Abandoned => q.stats.abandoned += 1,
                Outcome::Exited(ExitReason::MaxWait { .. }) => q.stats.timed_out += 1,
                Outcome::Exited(ExitReason::ExitKey { .. }) => q.stats.exited += 1,
                Outcome::Exited(ExitReason::NoAgents) => q.stats.left_empty += 1,
                Outcome::Exited(_) => q.stats.callback_failed += 1,
                Outcome::Overflowed(_) => q.stats.overflowed += 1,
                Outcome::Answered | Outcome::CallbackRequested => {}
            }
            if !was_callback {
                q.model
                    .record_departure(secs(waited), outcome == Outcome::Abandoned);
            }
        }
        let mut freed = Vec::new();
        match c.state {
            CallState::Offered { agents, .. } => {
                for a in agents {
                    self.out.push_back(Output::CancelOffer { call, agent: a });
                    freed.push(a);
                }
            }
            CallState::CallbackDialing { agent, .. } => freed.push(agent),
            _ => {}
        }
        if !was_callback {
            self.out.push_back(Output::Log(Event::Waited {
                call,
                queue: qid,
                waited,
                outcome: outcome.clone(),
            }));
        }
        if let Outcome::Exited(reason) = outcome {
            self.out.push_back(Output::Exit {
                call,
                queue: qid,
                reason,
            });
        }
        for a in freed {
            let state_ok = self.agents.get(&a).is_some_and(|x| {
                matches!(x.state, AgentState::Ringing { call: c } | AgentState::Reserved { call: c } if c == call)
            });
            if state_ok {
                self.release_agent(now, a);
            }
        }
    }

    /// Put a call (already in `calls`, with `queue` set) into `qid`'s order and start its
    /// timers, offer it, announce it.
    fn enter_queue(&mut self, now: Duration, call: CallId, qid: QueueId, resumed: bool) {
        let Some(q) = self.queues.get_mut(&qid) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.queue = qid;
        c.joined_at = now;
        q.insert(c.key, call);
        q.stats.joined += 1;
        c.max_wait_at = q.cfg.max_wait.as_ref().map(|m| now + m.after);
        c.overflow_at = q.cfg.overflow.and_then(|o| o.after_wait).map(|w| now + w);
        c.tier_at = q.cfg.skill_tiers.first().map(|t| now + t.after);
        let position = q.index_of(c.key).map(|i| i + 1).unwrap_or(0);
        let timers: Vec<(Duration, Timer)> = [
            c.max_wait_at.map(|t| (t, Timer::MaxWait(call))),
            c.overflow_at.map(|t| (t, Timer::Overflow(call))),
            c.tier_at.map(|t| (t, Timer::Tier(call))),
        ]
        .into_iter()
        .flatten()
        .collect();
        let announce_at_join = q.cfg.announce_at_join;
        let every = c.announce_every.or(q.cfg.announce_every);
        let overflow = q.cfg.overflow;
        let sl = q.cfg.service_level;
        for (t, k) in timers {
            self.arm(t, k);
        }
        self.out.push_back(Output::Log(Event::Joined {
            call,
            queue: qid,
            position,
            resumed,
        }));
        self.dispatch_call(now, call);
        if !self
            .calls
            .get(&call)
            .is_some_and(|c| matches!(c.state, CallState::Waiting))
        {
            return;
        }
        let predict_sl = overflow.is_some_and(|o| {
            o.on_predicted_service_level && o.to != qid && self.queues.contains_key(&o.to)
        });
        if announce_at_join || predict_sl {
            let est = self.estimate(now, call, secs(sl.within));
            if predict_sl {
                if let (Some(o), Some((_, p))) = (overflow, est) {
                    if p < sl.share {
                        self.overflow(now, call, o.to);
                        return;
                    }
                }
            }
            if announce_at_join {
                let bound = est.map(|e| e.0);
                if let Some(c) = self.calls.get_mut(&call) {
                    c.join_bound = bound;
                }
                self.announce(now, call, bound);
            }
        }
        if let Some(every) = every.filter(|d| !d.is_zero()) {
            if let Some(c) = self.calls.get_mut(&call) {
                c.next_announce = Some(now + every);
            }
            self.arm(now + every, Timer::Announce(call));
        }
    }

    fn overflow(&mut self, now: Duration, call: CallId, to: QueueId) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if !matches!(c.state, CallState::Waiting) || !self.queues.contains_key(&to) {
            return;
        }
        let from = c.queue;
        let key = c.key;
        let waited = now.saturating_sub(c.joined_at);
        if let Some(q) = self.queues.get_mut(&from) {
            q.remove(key);
            q.stats.overflowed += 1;
            q.model.record_departure(secs(waited), false);
        }
        self.out.push_back(Output::Log(Event::Waited {
            call,
            queue: from,
            waited,
            outcome: Outcome::Overflowed(to),
        }));
        self.out.push_back(Output::Overflow { call, from, to });
        if let Some(c) = self.calls.get_mut(&call) {
            c.next_announce = None;
            c.join_bound = None;
            c.declined.clear();
        }
        self.enter_queue(now, call, to, false);
    }

    fn estimate(&mut self, now: Duration, call: CallId, within: f64) -> Option<(Duration, f64)> {
        let c = self.calls.get(&call)?;
        let q = self.queues.get(&c.queue)?;
        let idx = q.index_of(c.key)?;
        // Queues whose callers compete for this queue's agents.
        let mut related = vec![c.queue];
        for m in &q.members {
            if let Some(a) = self.agents.get(m) {
                for r in &a.cfg.queues {
                    if !related.contains(r) && related.len() < 64 {
                        related.push(*r);
                    }
                }
            }
        }
        if related.len() > 1 {
            let e = self.estimate_across(now, call, &related, within)?;
            return Some(to_duration(e));
        }
        self.ahead.clear();
        for (_, other) in q.order.iter().take(idx) {
            match self.calls.get(other).map(|o| &o.state) {
                Some(CallState::Waiting) => self.ahead.push(true),
                Some(CallState::CallbackWaiting { .. }) => self.ahead.push(false),
                _ => {}
            }
        }
        self.loads.clear();
        for m in &q.members {
            let Some(a) = self.agents.get(m) else {
                continue;
            };
            let load = match &a.state {
                AgentState::Ringing { .. } | AgentState::Reserved { .. } => AgentLoad::Starting,
                AgentState::Busy { .. } => AgentLoad::Busy {
                    age: secs(now.saturating_sub(a.call_started)),
                },
                AgentState::WrapUp { until } => AgentLoad::FreeIn(secs(until.saturating_sub(now))),
                _ => continue,
            };
            self.loads.push(load);
        }
        let wrap = secs(q.cfg.wrap_up);
        let qid = c.queue;
        let q = self.queues.get_mut(&qid)?;
        let e = q
            .model
            .estimate(&mut self.rng, &self.ahead, &self.loads, wrap, within)?;
        Some(to_duration(e))
    }

    /// The estimate when the queue's agents also serve other queues (`related[0]` is the
    /// caller's queue).
    fn estimate_across(
        &mut self,
        now: Duration,
        call: CallId,
        related: &[QueueId],
        within: f64,
    ) -> Option<Estimate> {
        let own_key = self.calls.get(&call)?.key;
        let mut aheads: Vec<Vec<(u64, bool)>> = Vec::with_capacity(related.len());
        for r in related {
            let mut v = Vec::new();
            if let Some(q) = self.queues.get(r) {
                for (k, other) in &q.order {
                    if *k >= own_key {
                        break;
                    }
                    match self.calls.get(other).map(|o| &o.state) {
                        Some(CallState::Waiting) => v.push((*k, true)),
                        Some(CallState::CallbackWaiting { .. }) => v.push((*k, false)),
                        _ => {}
                    }
                }
            }
            aheads.push(v);
        }
        let mut agents = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for r in related {
            let Some(q) = self.queues.get(r) else {
                continue;
            };
            for m in &q.members {
                if !seen.insert(*m) {
                    continue;
                }
                let Some(a) = self.agents.get(m) else {
                    continue;
                };
                let load = match &a.state {
                    AgentState::Ringing { .. } | AgentState::Reserved { .. } => AgentLoad::Starting,
                    AgentState::Busy { .. } => AgentLoad::Busy {
                        age: secs(now.saturating_sub(a.call_started)),
                    },
                    AgentState::WrapUp { until } => {
                        AgentLoad::FreeIn(secs(until.saturating_sub(now)))
                    }
                    _ => continue,
                };
                let on = match &a.state {
                    AgentState::Ringing { call } | AgentState::Reserved { call } => Some(*call),
                    _ => a.current.map(|x| x.0),
                };
                let current = on
                    .and_then(|c| self.calls.get(&c))
                    .and_then(|c| related.iter().position(|r| *r == c.queue))
                    .unwrap_or(0);
                let serves = a
                    .cfg
                    .queues
                    .iter()
                    .filter_map(|q| related.iter().position(|r| r == q))
                    .fold(0u64, |mask, i| mask | (1u64 << i));
                agents.push(SharedAgent {
                    load,
                    current,
                    serves,
                });
            }
        }
        let mut views = Vec::with_capacity(related.len());
        for (r, ahead) in related.iter().zip(&aheads) {
            let q = self.queues.get(r)?;
            views.push(SharedQueue {
                model: &q.model,
                wrap_up: secs(q.cfg.wrap_up),
                ahead,
            });
        }
        let level = views.first()?.model.level();
        estimate_shared(
            &mut self.rng,
            &self.cfg.ewt,
            &views,
            &agents,
            0,
            own_key,
            within,
            level,
        )
    }

    fn announce(&mut self, now: Duration, call: CallId, bound: Option<Duration>) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let qid = c.queue;
        let waited = now.saturating_sub(c.joined_at);
        let position = self.position(call).unwrap_or(0);
        self.out.push_back(Output::Announce {
            call,
            queue: qid,
            position,
            ewt_bound: bound,
            spoken: Spoken::from_bound(bound),
        });
        self.out.push_back(Output::Log(Event::Predicted {
            call,
            queue: qid,
            position,
            bound,
            waited,
        }));
    }

    fn fire(&mut self, now: Duration, at: Duration, timer: Timer) {
        match timer {
            Timer::Offer(call) => {
                let agents = match self.calls.get(&call).map(|c| &c.state) {
                    Some(CallState::Offered { agents, deadline }) if *deadline == at => {
                        agents.clone()
                    }
                    _ => return,
                };
                if let Some(c) = self.calls.get_mut(&call) {
                    c.state = CallState::Waiting;
                }
                for a in agents {
                    self.out.push_back(Output::CancelOffer { call, agent: a });
                    self.rona(a, call);
                }
                self.after_offer_lapsed(now, call);
            }
            Timer::WrapEnd(agent) => {
                if self.agents.get(&agent).map(|a| &a.state)
                    == Some(&AgentState::WrapUp { until: at })
                {
                    self.make_available(now, agent);
                }
            }
            Timer::Announce(call) => {
                let Some(c) = self.calls.get(&call) else {
                    return;
                };
                if c.next_announce != Some(at) {
                    return;
                }
                let every = c
                    .announce_every
                    .or_else(|| self.queues.get(&c.queue).and_then(|q| q.cfg.announce_every))
                    .filter(|d| !d.is_zero());
                let waiting = matches!(c.state, CallState::Waiting);
                if waiting {
                    let est = self.estimate(now, call, 0.0);
                    self.announce(now, call, est.map(|e| e.0));
                }
                if let (Some(every), Some(c)) = (every, self.calls.get_mut(&call)) {
                    c.next_announce = Some(now + every);
                    self.arm(now + every, Timer::Announce(call));
                }
            }
            Timer::MaxWait(call) => {
                let Some(c) = self.calls.get(&call) else {
                    return;
                };
                if c.max_wait_at != Some(at) {
                    return;
                }
                match &c.state {
                    CallState::Waiting => {
                        let target = self
                            .queues
                            .get(&c.queue)
                            .and_then(|q| q.cfg.max_wait.as_ref())
                            .map(|m| m.target.clone())
                            .unwrap_or_default();
                        self.leave(now, call, Outcome::Exited(ExitReason::MaxWait { target }));
                    }
                    CallState::Offered { .. } => {} // re-checked when the offer lapses
                    _ => {}
                }
            }
            Timer::Overflow(call) => {
                let Some(c) = self.calls.get(&call) else {
                    return;
                };
                if c.overflow_at != Some(at) {
                    return;
                }
                let to = self
                    .queues
                    .get(&c.queue)
                    .and_then(|q| q.cfg.overflow)
                    .map(|o| o.to);
                if let (Some(to), CallState::Waiting) = (to, &c.state) {
                    self.overflow(now, call, to);
                }
            }
            Timer::Tier(call) => {
                let Some(c) = self.calls.get(&call) else {
                    return;
                };
                if c.tier_at != Some(at) {
                    return;
                }
                let waited = now.saturating_sub(c.joined_at);
                let next = self.queues.get(&c.queue).and_then(|q| {
                    q.cfg
                        .skill_tiers
                        .iter()
                        .map(|t| t.after)
                        .find(|a| *a > waited)
                });
                let joined = c.joined_at;
                if let Some(c) = self.calls.get_mut(&call) {
                    c.tier_at = next.map(|n| joined + n);
                }
                if let Some(n) = next {
                    self.arm(joined + n, Timer::Tier(call));
                }
                if self.calls.get(&call).is_some_and(|c| c.unassigned(now)) {
                    self.dispatch_call(now, call);
                }
            }
            Timer::CallbackRetry(call) => {
                let ok = matches!(
                    self.calls.get(&call).map(|c| &c.state),
                    Some(CallState::CallbackWaiting { eligible_at, .. }) if *eligible_at == at
                );
                if ok {
                    self.dispatch_call(now, call);
                }
            }
        }
    }

    /// After every offer of a call lapsed: enforce a max wait or overflow that came due while
    /// it was ringing, else offer it again.
    fn after_offer_lapsed(&mut self, now: Duration, call: CallId) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let q = self.queues.get(&c.queue);
        if c.max_wait_at.is_some_and(|t| t <= now) {
            let target = q
                .and_then(|q| q.cfg.max_wait.as_ref())
                .map(|m| m.target.clone())
                .unwrap_or_default();
            self.leave(now, call, Outcome::Exited(ExitReason::MaxWait { target }));
            return;
        }
        if c.overflow_at.is_some_and(|t| t <= now) {
            if let Some(o) = q.and_then(|q| q.cfg.overflow) {
                self.overflow(now, call, o.to);
                return;
            }
        }
        self.dispatch_call(now, call);
    }

    /// Minimum proficiency relaxation for a call that has waited `waited` in `q`.
    fn eligible(&self, agent: &Agent, call: &Call, q: &Queue, now: Duration) -> Option<u32> {
        if agent.state != AgentState::Available || call.declined.contains(&agent.cfg.id) {
            return None;
        }
        let tenant_ok = |t: Option<crate::ids::TenantId>| match (t, agent.cfg.tenant) {
            (Some(x), Some(y)) => x == y,
            (Some(_), None) => false,
            _ => true,
        };
        if !tenant_ok(call.tenant) || !tenant_ok(q.cfg.tenant) {
            return None;
        }
        let waited = now.saturating_sub(call.joined_at);
        let relax = q
            .cfg
            .skill_tiers
            .iter()
            .filter(|t| t.after <= waited)
            .map(|t| t.relax)
            .max()
            .unwrap_or(0);
        let mut score = 0u32;
        for req in &call.skills {
            let need = req.min.saturating_sub(relax).max(1);
            let have = agent
                .cfg
                .skills
                .iter()
                .find(|(s, _)| *s == req.skill)
                .map(|(_, p)| *p)
                .unwrap_or(0);
            if have < need {
                return None;
            }
            score += u32::from(have);
        }
        Some(score)
    }

    /// Try to give `call` to one (or, for ring-all, every) qualified available agent.
    fn dispatch_call(&mut self, now: Duration, call: CallId) {
        loop {
            if self.available == 0 {
                return;
            }
            let Some(c) = self.calls.get(&call) else {
                return;
            };
            if !c.unassigned(now) {
                return;
            }
            let Some(q) = self.queues.get(&c.queue) else {
                return;
            };
            let mut cands: Vec<(usize, AgentId, u32)> = Vec::new();
            for (i, m) in q.members.iter().enumerate() {
                if let Some(a) = self.agents.get(m) {
                    if let Some(score) = self.eligible(a, c, q, now) {
                        cands.push((i, *m, score));
                    }
                }
            }
            if cands.is_empty() {
                return;
            }
            let idle = |a: AgentId| {
                self.agents
                    .get(&a)
                    .map(|x| x.idle_since)
                    .unwrap_or_default()
            };
            let strategy = q.cfg.strategy;
            let qid = c.queue;
            if strategy == Strategy::RingAll && matches!(c.state, CallState::Waiting) {
                // Ring everyone whose first call this is; agents who qualify for an earlier
                // call (e.g. both widened at the same instant) take that one first.
                let mut ring = Vec::new();
                let mut earlier: Vec<CallId> = Vec::new();
                for (_, a, _) in &cands {
                    match self.best_call_for(now, *a) {
                        Some(b) if b == call => ring.push(*a),
                        Some(b) if !earlier.contains(&b) => earlier.push(b),
                        _ => {}
                    }
                }
                if !ring.is_empty() {
                    self.offer(now, call, ring);
                    return;
                }
                if earlier.is_empty() {
                    return;
                }
                earlier.sort_by_key(|c| self.calls.get(c).map(|x| x.key));
                for e in earlier {
                    self.dispatch_call(now, e);
                }
                continue;
            }
            let pick = match strategy {
                Strategy::RingAll | Strategy::LongestIdle | Strategy::SkillsLongestIdle => {
                    cands.iter().min_by_key(|x| (idle(x.1), x.0)).map(|x| x.1)
                }
                Strategy::SkillsBest => cands
                    .iter()
                    .min_by_key(|x| (Reverse(x.2), idle(x.1), x.0))
                    .map(|x| x.1),
                Strategy::FewestCalls => cands
                    .iter()
                    .min_by_key(|x| (q.answered_by.get(x.0).copied().unwrap_or(0), idle(x.1), x.0))
                    .map(|x| x.1),
                Strategy::RoundRobin => {
                    let start = q.rr_next;
                    cands.iter().min_by_key(|x| (x.0 < start, x.0)).map(|x| x.1)
                }
                Strategy::Random => {
                    let i = self.rng.gen_range(0..cands.len());
                    cands.get(i).map(|x| x.1)
                }
            };
            let Some(agent) = pick else {
                return;
            };
            if strategy == Strategy::RoundRobin {
                if let Some(q) = self.queues.get_mut(&qid) {
                    if let Some(i) = q.members.iter().position(|m| *m == agent) {
                        q.rr_next = (i + 1) % q.members.len().max(1);
                    }
                }
            }
            // The agent takes the earliest call they qualify for: usually this one.
            if !self.assign_agent(now, agent) {
                return;
            }
        }
    }

    /// Give an available agent the first call (priority, then FIFO) they qualify for across
    /// their queues. Returns whether something was offered.
    fn assign_agent(&mut self, now: Duration, agent: AgentId) -> bool {
        let Some(call) = self.best_call_for(now, agent) else {
            return false;
        };
        self.offer(now, call, vec![agent]);
        true
    }

    /// The first call (priority, then FIFO) an available agent qualifies for across their
    /// queues.
    fn best_call_for(&self, now: Duration, agent: AgentId) -> Option<CallId> {
        let a = self.agents.get(&agent)?;
        if a.state != AgentState::Available {
            return None;
        }
        let mut best: Option<(u64, CallId)> = None;
        for qid in &a.cfg.queues {
            let Some(q) = self.queues.get(qid) else {
                continue;
            };
            for (key, cid) in &q.order {
                if best.is_some_and(|(k, _)| k <= *key) {
                    break;
                }
                let Some(c) = self.calls.get(cid) else {
                    continue;
                };
                if c.unassigned(now) && self.eligible(a, c, q, now).is_some() {
                    best = Some((*key, *cid));
                    break;
                }
            }
        }
        best.map(|(_, c)| c)
    }

    fn offer(&mut self, now: Duration, call: CallId, agents: Vec<AgentId>) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let qid = c.queue;
        let Some(q) = self.queues.get(&qid) else {
            return;
        };
        if cfg!(debug_assertions) {
            for ag in &agents {
                if let Some(a) = self.agents.get(ag) {
                    for (key, other) in &q.order {
                        if *key >= c.key {
                            break;
                        }
                        if let Some(o) = self.calls.get(other) {
                            if o.unassigned(now) && self.eligible(a, o, q, now).is_some() {
                                self.order_violations += 1;
                            }
                        }
                    }
                }
            }
        }
        let ring = q.cfg.ring_timeout;
        let policy = q.cfg.callback;
        match c.state.clone() {
            CallState::CallbackWaiting {
                number, attempts, ..
            } => {
                let Some(agent) = agents.first().copied() else {
                    return;
                };
                if let Some(c) = self.calls.get_mut(&call) {
                    c.state = CallState::CallbackDialing {
                        number: number.clone(),
                        attempts: attempts + 1,
                        agent,
                    };
                }
                self.set_state(agent, AgentState::Reserved { call });
                self.out.push_back(Output::Callback {
                    call,
                    queue: qid,
                    number,
                    agent,
                    order: policy.order,
                    attempt: attempts + 1,
                });
            }
            _ => {
                let deadline = now + ring;
                for a in &agents {
                    self.set_state(*a, AgentState::Ringing { call });
                    self.out.push_back(Output::Offer {
                        call,
                        agent: *a,
                        queue: qid,
                    });
                }
                if let Some(c) = self.calls.get_mut(&call) {
                    c.state = CallState::Offered { agents, deadline };
                }
                self.arm(deadline, Timer::Offer(call));
            }
        }
    }
}

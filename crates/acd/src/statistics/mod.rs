//! What a supervisor reads off a queue: offered, answered and abandoned calls, service
//! level, ASA, AHT, abandon rate, occupancy and the accuracy of the wait announcements, over
//! the current reporting interval and since local midnight; plus the live figures (callers
//! waiting, longest current wait, callbacks pending, agents by state).
//!
//! [`Statistics`] is fed by the engine's own outputs ([`Statistics::observe`]) stamped with
//! the time the driver drained them, so nothing is counted twice in the driver. It reads no
//! clock: the driver says where the current interval and day started
//! ([`Statistics::roll`]), in the engine's time; the time zone and the interval length are
//! the driver's business.
//!
//! Formulas (a call is counted in the window current when the event happens: offered at
//! join, answered at answer, abandoned at hang-up, handle time when wrap-up ends):
//!
//! - `offered`: calls that entered the queue (overflowed-in and resumed calls included).
//! - `short_abandoned`: abandons after a wait below the queue's `short_abandon`; they are
//!   left out of service level and abandon rate (a caller who hangs up at once was never
//!   really offered to the queue). `short_abandon = 0` keeps every abandon.
//! - `service_level = answered_within / (answered + abandoned - short_abandoned)`, where
//!   `answered_within` is the calls answered after a wait of at most the threshold. An abandon
//!   (other than a short one) counts against the service level whatever its wait. Calls that
//!   left otherwise (exit key, maximum wait, overflow, no agents) are not in it.
//! - `abandon_rate = (abandoned - short_abandoned) / (answered + abandoned - short_abandoned)`.
//! - `asa = sum(wait of answered calls) / answered` (wait from queue entry to answer).
//! - `aht = sum(talk + wrap-up) / handled`, `handled` = queue calls whose wrap-up ended.
//! - `occupancy = busy / (busy + idle)` summed over the queue's members, where busy is time
//!   on any call or in wrap-up and idle is time available, ringing or reserved (paused and
//!   logged-out time is in neither).
//! - EWT accuracy, over announcements with an estimate made to calls later answered:
//!   `coverage` = share whose remaining wait (answer time minus announcement time) was at
//!   most the announced bound; `mae` = mean of |remaining wait - bound|.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use crate::config::ServiceLevel;
use crate::engine::Acd;
use crate::ids::{AgentId, CallId, QueueId};
use crate::output::{AgentState, Event, Outcome, Output};

mod tally;
pub use tally::Tally;

/// How one queue's figures are computed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StatsConfig {
    /// Service-level threshold and target (e.g. 80% within 20 s).
    pub service_level: ServiceLevel,
    /// Abandons after a shorter wait are left out of service level and abandon rate.
    pub short_abandon: Duration,
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig {
            service_level: ServiceLevel {
                share: 0.8,
                within: Duration::from_secs(20),
            },
            short_abandon: Duration::ZERO,
        }
    }
}

/// Where the current windows start, in the engine's time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Windows {
    /// Start of the current reporting interval (e.g. 14:30 for a 30-minute interval).
    pub interval_start: Duration,
    /// Start of the current day (local midnight).
    pub day_start: Duration,
}

/// Agents of a queue per state, right now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AgentsByState {
    /// Logged out.
    pub logged_out: u32,
    /// Available.
    pub available: u32,
    /// Ringing with an offer.
    pub ringing: u32,
    /// Reserved for a callback.
    pub reserved: u32,
    /// On a call.
    pub busy: u32,
    /// In wrap-up.
    pub wrap_up: u32,
    /// Paused.
    pub paused: u32,
    /// Device unreachable.
    pub unreachable: u32,
}

/// Everything a supervisor reads off one queue.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueSnapshot {
    /// Service-level threshold and target of the queue.
    pub service_level: ServiceLevel,
    /// Short-abandon time of the queue.
    pub short_abandon: Duration,
    /// The current interval.
    pub interval: Tally,
    /// Since the start of the day.
    pub today: Tally,
    /// Callers on the line (waiting or ringing an agent).
    pub waiting: u64,
    /// How long the longest-waiting caller on the line has waited.
    pub longest_wait: Duration,
    /// Callback entries waiting or being dialled.
    pub callbacks_pending: u64,
    /// Members per state.
    pub agents: AgentsByState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Staffed {
    Busy,
    Idle,
    Off,
}

fn staffed(s: &AgentState) -> Staffed {
    match s {
        AgentState::Busy { .. } | AgentState::WrapUp { .. } => Staffed::Busy,
        AgentState::Available | AgentState::Ringing { .. } | AgentState::Reserved { .. } => {
            Staffed::Idle
        }
        AgentState::LoggedOut | AgentState::Paused { .. } | AgentState::Unreachable => Staffed::Off,
    }
}

#[derive(Clone, Copy, Debug)]
struct Handling {
    call: CallId,
    talk_from: Duration,
    wrap_from: Option<Duration>,
}

#[derive(Debug)]
struct AgentTrack {
    class: Staffed,
    /// Time up to which `class` has been credited.
    credited: Duration,
    interval: (Duration, Duration),
    today: (Duration, Duration),
    handling: Option<Handling>,
}

#[derive(Debug)]
struct QueueTrack {
    cfg: StatsConfig,
    interval: Tally,
    today: Tally,
    /// Callers on the line by join time.
    on_line: BTreeSet<(Duration, CallId)>,
    /// Agents serving the queue.
    members: Vec<AgentId>,
}

/// Most announcements remembered per call (a caller waiting hours with a 60 s period
/// would otherwise grow without bound); later ones are not scored.
const MAX_PREDICTIONS_PER_CALL: usize = 64;

/// Per-queue statistics fed by the engine's outputs. See the module documentation for the
/// formulas.
#[derive(Debug, Default)]
pub struct Statistics {
    queues: HashMap<QueueId, QueueTrack>,
    agents: HashMap<AgentId, AgentTrack>,
    /// The queue each live call is in (or was answered from), and when it joined it.
    calls: HashMap<CallId, (QueueId, Duration)>,
    /// Announced bounds per waiting call: (wait so far, bound).
    predictions: HashMap<CallId, Vec<(Duration, Duration)>>,
    windows: Option<Windows>,
}

impl Statistics {
    /// Empty statistics; add the queues and agents the engine has.
    pub fn new() -> Self {
        Statistics::default()
    }

    /// Track a queue.
    pub fn add_queue(&mut self, queue: QueueId, cfg: StatsConfig) {
        let w = self.windows.unwrap_or(Windows {
            interval_start: Duration::ZERO,
            day_start: Duration::ZERO,
        });
        self.queues.insert(
            queue,
            QueueTrack {
                cfg,
                interval: Tally::new(w.interval_start),
                today: Tally::new(w.day_start),
                on_line: BTreeSet::new(),
                members: Vec::new(),
            },
        );
    }

    /// Track an agent (logged out) serving `queues`, for occupancy and agents by state.
    pub fn add_agent(&mut self, agent: AgentId, queues: &[QueueId]) {
        for q in queues {
            if let Some(q) = self.queues.get_mut(q) {
                if !q.members.contains(&agent) {
                    q.members.push(agent);
                }
            }
        }
        self.agents.insert(
            agent,
            AgentTrack {
                class: Staffed::Off,
                credited: Duration::ZERO,
                interval: (Duration::ZERO, Duration::ZERO),
                today: (Duration::ZERO, Duration::ZERO),
                handling: None,
            },
        );
    }

    /// Say where the current interval and day start (engine time, at or before `now`).
    /// Call before [`Statistics::observe`] whenever the time moved; a window whose start
    /// changed is closed and a new one begins at the given start. Agent time before the
    /// boundary stays with the old window.
    pub fn roll(&mut self, now: Duration, windows: Windows) {
        let Some(old) = self.windows else {
            self.windows = Some(windows);
            for q in self.queues.values_mut() {
                q.interval = Tally::new(windows.interval_start);
                q.today = Tally::new(windows.day_start);
            }
            for a in self.agents.values_mut() {
                a.credited = a.credited.max(windows.interval_start.min(now));
            }
            return;
        };
        let new_interval = windows.interval_start != old.interval_start;
        let new_day = windows.day_start != old.day_start;
        if !new_interval && !new_day {
            return;
        }
        let cut = windows.interval_start.min(now);
        let ids: Vec<AgentId> = self.agents.keys().copied().collect();
        for a in &ids {
            self.credit(*a, cut);
        }
        self.windows = Some(windows);
        for q in self.queues.values_mut() {
            if new_interval {
                q.interval = Tally::new(windows.interval_start);
            }
            if new_day {
                q.today = Tally::new(windows.day_start);
            }
        }
        for a in self.agents.values_mut() {
            if new_interval {
                a.interval = (Duration::ZERO, Duration::ZERO);
            }
            if new_day {
                a.today = (Duration::ZERO, Duration::ZERO);
            }
        }
    }

    /// Like [`Statistics::observe`] for an entry restored after a restart (a callback
    /// accepted before it): its `Joined` puts it back on the line without a new offer, as
    /// it was offered when first scheduled.
    pub fn observe_restored(&mut self, now: Duration, out: &Output) {
        match out {
            Output::Log(Event::Joined { call, queue, .. }) => {
                self.joined(now, *call, *queue, false)
            }
            _ => self.observe(now, out),
        }
    }

    fn joined(&mut self, now: Duration, call: CallId, queue: QueueId, offered: bool) {
        if let Some((old, since)) = self.calls.insert(call, (queue, now)) {
            if let Some(q) = self.queues.get_mut(&old) {
                q.on_line.remove(&(since, call));
            }
        }
        if let Some(q) = self.queues.get_mut(&queue) {
            q.on_line.insert((now, call));
            if offered {
                q.interval.offered += 1;
                q.today.offered += 1;
            }
        }
    }

    /// Count one engine output drained at `now`. Log events carry almost everything; an
    /// `Exit` matters only for a callback entry, which leaves without a `Waited` event.
    pub fn observe(&mut self, now: Duration, out: &Output) {
        let ev = match out {
            Output::Log(ev) => ev,
            Output::Exit { call, queue, .. } => {
                // Calls that waited on the line were settled by their `Waited` event; one
                // still known here is a callback entry (failed, or sent out) leaving.
                if self.calls.remove(call).is_some() {
                    if let Some(q) = self.queues.get_mut(queue) {
                        q.interval.exited += 1;
                        q.today.exited += 1;
                    }
                }
                return;
            }
            _ => return,
        };
        match ev {
            Event::Joined { call, queue, .. } => self.joined(now, *call, *queue, true),
            Event::Predicted {
                call,
                bound,
                waited,
                ..
            } => {
                if let Some(b) = bound {
                    let v = self.predictions.entry(*call).or_default();
                    if v.len() < MAX_PREDICTIONS_PER_CALL {
                        v.push((*waited, *b));
                    }
                }
            }
            Event::Waited {
                call,
                queue,
                waited,
                outcome,
            } => self.waited(*call, *queue, *waited, outcome),
            Event::AgentState { agent, state } => self.agent_state(now, *agent, state),
            Event::Rona { .. } | Event::RonaUnpaused { .. } | Event::QueueMembership { .. } => {}
        }
    }

    fn waited(&mut self, call: CallId, queue: QueueId, waited: Duration, outcome: &Outcome) {
        let predictions = self.predictions.remove(&call).unwrap_or_default();
        if let Some((_, since)) = self.calls.get(&call).copied() {
            if let Some(q) = self.queues.get_mut(&queue) {
                q.on_line.remove(&(since, call));
            }
        }
        let keep_call = matches!(
            outcome,
            Outcome::Answered | Outcome::Overflowed(_) | Outcome::CallbackRequested
        );
        if !keep_call {
            self.calls.remove(&call);
        }
        let Some(q) = self.queues.get_mut(&queue) else {
            return;
        };
        let within = q.cfg.service_level.within;
        let short = q.cfg.short_abandon;
        for t in [&mut q.interval, &mut q.today] {
            if !matches!(outcome, Outcome::CallbackRequested) {
                t.max_wait = t.max_wait.max(waited);
            }
            match outcome {
                Outcome::Answered => {
                    t.answered += 1;
                    t.answered_within += u64::from(waited <= within);
                    t.answer_wait += waited;
                    for (at, bound) in &predictions {
                        let remaining = waited.saturating_sub(*at);
                        t.ewt_resolved += 1;
                        t.ewt_covered += u64::from(remaining <= *bound);
                        t.ewt_abs_error += remaining.abs_diff(*bound);
                    }
                }
                Outcome::Abandoned => {
                    t.abandoned += 1;
                    t.short_abandoned += u64::from(waited < short);
                }
                Outcome::Exited(_) => t.exited += 1,
                Outcome::Overflowed(_) => t.overflowed += 1,
                Outcome::CallbackRequested => {}
            }
        }
    }

    /// Credit the agent's current class up to `upto` in both windows.
    fn credit(&mut self, agent: AgentId, upto: Duration) {
        let Some(a) = self.agents.get_mut(&agent) else {
            return;
        };
        if upto <= a.credited {
            return;
        }
        let d = upto - a.credited;
        a.credited = upto;
        match a.class {
            Staffed::Busy => {
                a.interval.0 += d;
                a.today.0 += d;
            }
            Staffed::Idle => {
                a.interval.1 += d;
                a.today.1 += d;
            }
            Staffed::Off => {}
        }
    }

    fn agent_state(&mut self, now: Duration, agent: AgentId, state: &AgentState) {
        self.credit(agent, now);
        let Some(a) = self.agents.get_mut(&agent) else {
            return;
        };
        a.class = staffed(state);
        let finished = match (state, a.handling) {
            (AgentState::Busy { call: Some(c), .. }, Some(h)) if h.call == *c => None,
            (AgentState::Busy { call: Some(c), .. }, prev) => {
                a.handling = Some(Handling {
                    call: *c,
                    talk_from: now,
                    wrap_from: None,
                });
                prev
            }
            // A direct call on top of a queue call does not end the queue call.
            (AgentState::Busy { call: None, .. }, _) => None,
            (AgentState::WrapUp { .. }, Some(mut h)) => {
                if h.wrap_from.is_none() {
                    h.wrap_from = Some(now);
                }
                a.handling = Some(h);
                None
            }
            (_, prev) => {
                a.handling = None;
                prev
            }
        };
        if let Some(h) = finished {
            let talk_end = h.wrap_from.unwrap_or(now);
            let talk = talk_end.saturating_sub(h.talk_from);
            let wrap = now.saturating_sub(talk_end);
            if let Some((qid, _)) = self.calls.remove(&h.call) {
                if let Some(q) = self.queues.get_mut(&qid) {
                    for t in [&mut q.interval, &mut q.today] {
                        t.handled += 1;
                        t.talk += talk;
                        t.wrap_up += wrap;
                    }
                }
            }
        }
    }

    /// The figures of `queue` at `now` (at or after the last observed output); live figures
    /// come from `acd`. Costs O(members of the queue), never per waiting caller.
    pub fn snapshot(&self, queue: QueueId, now: Duration, acd: &Acd) -> Option<QueueSnapshot> {
        let q = self.queues.get(&queue)?;
        let live = acd.queue_stats(queue)?;
        let mut interval = q.interval;
        let mut today = q.today;
        let mut agents = AgentsByState::default();
        for id in &q.members {
            let Some(a) = self.agents.get(id) else {
                continue;
            };
            let open = now.saturating_sub(a.credited);
            let (busy, idle) = match a.class {
                Staffed::Busy => (open, Duration::ZERO),
                Staffed::Idle => (Duration::ZERO, open),
                Staffed::Off => (Duration::ZERO, Duration::ZERO),
            };
            interval.agent_busy += a.interval.0 + busy;
            interval.agent_idle += a.interval.1 + idle;
            today.agent_busy += a.today.0 + busy;
            today.agent_idle += a.today.1 + idle;
            let state = acd.agent_state(*id).filter(|_| acd.serves(*id, queue));
            let n = match state {
                // Logged out of the agent, or of this queue only.
                Some(AgentState::LoggedOut) | None => &mut agents.logged_out,
                Some(AgentState::Available) => &mut agents.available,
                Some(AgentState::Ringing { .. }) => &mut agents.ringing,
                Some(AgentState::Reserved { .. }) => &mut agents.reserved,
                Some(AgentState::Busy { .. }) => &mut agents.busy,
                Some(AgentState::WrapUp { .. }) => &mut agents.wrap_up,
                Some(AgentState::Paused { .. }) => &mut agents.paused,
                Some(AgentState::Unreachable) => &mut agents.unreachable,
            };
            *n += 1;
        }
        let longest_wait = q
            .on_line
            .first()
            .map(|(since, _)| now.saturating_sub(*since))
            .unwrap_or_default();
        Some(QueueSnapshot {
            service_level: q.cfg.service_level,
            short_abandon: q.cfg.short_abandon,
            interval,
            today,
            waiting: live.waiting,
            longest_wait,
            callbacks_pending: live.callbacks_pending,
            agents,
        })
    }
}

#[cfg(test)]
mod tests;

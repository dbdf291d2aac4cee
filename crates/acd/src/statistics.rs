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

/// Counters of one queue over one window. Derived figures are methods.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tally {
    /// When the window started (engine time).
    pub since: Duration,
    /// Calls that entered the queue.
    pub offered: u64,
    /// Calls answered (callbacks connected included).
    pub answered: u64,
    /// Answered after a wait of at most the threshold.
    pub answered_within: u64,
    /// Callers who hung up while waiting or ringing.
    pub abandoned: u64,
    /// Of `abandoned`, those below the short-abandon time.
    pub short_abandoned: u64,
    /// Left by exit key, maximum wait, no agents or a failed callback.
    pub exited: u64,
    /// Moved to another queue.
    pub overflowed: u64,
    /// Total wait of answered calls.
    pub answer_wait: Duration,
    /// Longest wait of a call that left the queue (answered or not) in this window.
    pub max_wait: Duration,
    /// Queue calls whose handling (talk and wrap-up) ended.
    pub handled: u64,
    /// Their total talk time.
    pub talk: Duration,
    /// Their total wrap-up time.
    pub wrap_up: Duration,
    /// Members' time on calls or in wrap-up.
    pub agent_busy: Duration,
    /// Members' time available, ringing or reserved.
    pub agent_idle: Duration,
    /// Announcements with an estimate whose call was later answered.
    pub ewt_resolved: u64,
    /// Of those, the ones whose remaining wait was within the bound.
    pub ewt_covered: u64,
    /// Sum of |remaining wait - bound| over `ewt_resolved`.
    pub ewt_abs_error: Duration,
}

fn ratio(n: f64, d: f64) -> Option<f64> {
    (d > 0.0).then(|| n / d)
}

impl Tally {
    fn new(since: Duration) -> Tally {
        Tally {
            since,
            ..Tally::default()
        }
    }

    /// Calls service level and abandon rate are computed over.
    pub fn sl_base(&self) -> u64 {
        self.answered + self.abandoned - self.short_abandoned
    }

    /// Share answered within the threshold; `None` before any call counted.
    pub fn service_level(&self) -> Option<f64> {
        ratio(self.answered_within as f64, self.sl_base() as f64)
    }

    /// Share abandoned (short abandons left out); `None` before any call counted.
    pub fn abandon_rate(&self) -> Option<f64> {
        ratio(
            (self.abandoned - self.short_abandoned) as f64,
            self.sl_base() as f64,
        )
    }

    /// Average speed of answer.
    pub fn asa(&self) -> Option<Duration> {
        ratio(self.answer_wait.as_secs_f64(), self.answered as f64).map(Duration::from_secs_f64)
    }

    /// Average handle time (talk + wrap-up).
    pub fn aht(&self) -> Option<Duration> {
        ratio(
            (self.talk + self.wrap_up).as_secs_f64(),
            self.handled as f64,
        )
        .map(Duration::from_secs_f64)
    }

    /// Share of the members' staffed time spent on calls and wrap-up.
    pub fn occupancy(&self) -> Option<f64> {
        ratio(
            self.agent_busy.as_secs_f64(),
            (self.agent_busy + self.agent_idle).as_secs_f64(),
        )
    }

    /// Share of resolved announcements whose bound held.
    pub fn ewt_coverage(&self) -> Option<f64> {
        ratio(self.ewt_covered as f64, self.ewt_resolved as f64)
    }

    /// Mean absolute error of resolved announcements.
    pub fn ewt_mae(&self) -> Option<Duration> {
        ratio(self.ewt_abs_error.as_secs_f64(), self.ewt_resolved as f64)
            .map(Duration::from_secs_f64)
    }
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
mod tests {
    use super::*;
    use crate::config::{AgentConfig, Join, QueueConfig, Strategy};
    use crate::engine::AcdConfig;

    const Q: QueueId = QueueId(0);
    const A1: AgentId = AgentId(1);
    const A2: AgentId = AgentId(2);

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// An engine and its statistics driven together, the way a driver does: every input
    /// at time `now`, then drain outputs into the statistics with the same `now`.
    struct Rig {
        acd: Acd,
        stats: Statistics,
        offers: Vec<(CallId, AgentId)>,
        announced: Vec<(CallId, Option<Duration>)>,
    }

    impl Rig {
        fn new(wrap: u64, short_abandon: u64, announce: bool) -> Rig {
            let mut acd = Acd::new(AcdConfig::default());
            let mut qc = QueueConfig::new(Strategy::LongestIdle);
            qc.wrap_up = s(wrap);
            qc.announce_at_join = announce;
            qc.announce_every = None;
            qc.ring_timeout = s(600);
            acd.add_queue(Q, qc.clone()).unwrap();
            let mut stats = Statistics::new();
            stats.add_queue(
                Q,
                StatsConfig {
                    service_level: qc.service_level,
                    short_abandon: s(short_abandon),
                },
            );
            for a in [A1, A2] {
                acd.add_agent(AgentConfig::new(a, vec![Q])).unwrap();
                stats.add_agent(a, &[Q]);
            }
            let mut rig = Rig {
                acd,
                stats,
                offers: Vec::new(),
                announced: Vec::new(),
            };
            rig.roll(s(0), 0, 0);
            rig
        }
        fn roll(&mut self, now: Duration, interval: u64, day: u64) {
            self.stats.roll(
                now,
                Windows {
                    interval_start: s(interval),
                    day_start: s(day),
                },
            );
        }
        fn drain(&mut self, now: Duration) {
            self.acd.handle_timeout(now);
            while let Some(o) = self.acd.poll_output() {
                self.stats.observe(now, &o);
                match o {
                    Output::Offer { call, agent, .. } => self.offers.push((call, agent)),
                    Output::Announce {
                        call, ewt_bound, ..
                    } => self.announced.push((call, ewt_bound)),
                    _ => {}
                }
            }
        }
        fn at(&mut self, t: u64, f: impl FnOnce(&mut Acd, Duration)) {
            f(&mut self.acd, s(t));
            self.drain(s(t));
        }
        fn join(&mut self, t: u64, call: u64) {
            self.at(t, |a, now| {
                a.handle_join(now, Join::new(CallId(call), Q)).unwrap()
            });
        }
        fn answer(&mut self, t: u64, call: u64, agent: AgentId) {
            assert!(self.offers.contains(&(CallId(call), agent)), "not offered");
            self.at(t, |a, now| {
                a.handle_offer_answered(now, CallId(call), agent).unwrap()
            });
        }
        fn end(&mut self, t: u64, call: u64) {
            self.at(t, |a, now| a.handle_call_ended(now, CallId(call)).unwrap());
        }
        fn snap(&self, t: u64) -> QueueSnapshot {
            self.stats.snapshot(Q, s(t), &self.acd).unwrap()
        }
    }

    /// Two agents, wrap-up 10 s, threshold 20 s, short abandon 5 s:
    ///
    /// ```text
    /// t=0   both agents log in
    /// t=0   c1 joins -> A1 rings; t=4 A1 answers (wait 4)   talk 4..64, wrap 64..74
    /// t=0   c2 joins -> A2 rings; t=6 A2 answers (wait 6)   talk 6..36, wrap 36..46
    /// t=10  c3 joins, waits; t=13 hangs up                 short abandon (3 < 5)
    /// t=20  c4 joins, waits; t=45 hangs up                 abandon (25)
    /// t=40  c5 joins, waits; A2 free at 46 -> rings; t=70 answers (wait 30 > 20)
    ///       talk 70..100, wrap 100..110
    /// ```
    ///
    /// At t=110: offered 5, answered 3 (2 within 20 s), abandoned 2 (1 short); SL base 4 ->
    /// SL 2/4 = 0.5, abandon rate 1/4; ASA (4+6+30)/3 = 13.33 s; AHT: c1 60+10, c2 30+10,
    /// c5 30+10 -> 150/3 = 50 s. Occupancy (ringing counts as idle): A1 idle 0..4 (4), busy
    /// 4..74 (70), idle 74..110 (36); A2 idle 0..6 (6) and 46..70 (24), busy 6..46 (40) and
    /// 70..110 (40) -> busy 150, idle 70 -> 150/220.
    #[test]
    fn a_hand_computed_scenario_gives_the_hand_computed_figures() {
        let mut r = Rig::new(10, 5, false);
        r.at(0, |a, now| {
            a.handle_login(now, A1).unwrap();
            a.handle_login(now, A2).unwrap();
        });
        r.join(0, 1);
        r.join(0, 2);
        let first = r.offers.clone();
        assert_eq!(first.len(), 2);
        let (c1_agent, c2_agent) = if first[0] == (CallId(1), A1) {
            (A1, A2)
        } else {
            (A2, A1)
        };
        assert_eq!((c1_agent, c2_agent), (A1, A2), "longest idle tie by id");
        r.answer(4, 1, A1);
        r.answer(6, 2, A2);
        r.join(10, 3);
        let mid = r.snap(12);
        assert_eq!((mid.waiting, mid.longest_wait), (1, s(2)));
        assert_eq!(mid.agents.busy, 2);
        r.end(13, 3);
        r.join(20, 4);
        r.end(36, 2); // A2 to wrap-up until 46
        r.join(40, 5);
        let mid = r.snap(41);
        assert_eq!((mid.waiting, mid.longest_wait), (2, s(21)));
        assert_eq!((mid.agents.busy, mid.agents.wrap_up), (1, 1));
        r.end(45, 4);
        r.drain(s(46)); // A2's wrap-up ends; c5 is offered to A2
        assert!(r.offers.contains(&(CallId(5), A2)));
        r.end(64, 1); // A1 to wrap-up until 74
        r.answer(70, 5, A2);
        r.drain(s(74));
        r.end(100, 5);
        r.drain(s(110));
        let snap = r.snap(110);
        for t in [snap.interval, snap.today] {
            assert_eq!(t.offered, 5);
            assert_eq!((t.answered, t.answered_within), (3, 2));
            assert_eq!((t.abandoned, t.short_abandoned), (2, 1));
            assert_eq!(t.sl_base(), 4);
            assert_eq!(t.service_level(), Some(0.5));
            assert_eq!(t.abandon_rate(), Some(0.25));
            assert_eq!(t.answer_wait, s(40));
            assert_eq!(t.max_wait, s(30));
            assert!((t.asa().unwrap().as_secs_f64() - 40.0 / 3.0).abs() < 1e-6);
            assert_eq!(t.handled, 3);
            assert_eq!((t.talk, t.wrap_up), (s(120), s(30)));
            assert_eq!(t.aht(), Some(s(50)));
            assert_eq!((t.agent_busy, t.agent_idle), (s(150), s(70)));
            assert!((t.occupancy().unwrap() - 150.0 / 220.0).abs() < 1e-9);
        }
        assert_eq!((snap.waiting, snap.longest_wait), (0, Duration::ZERO));
        assert_eq!(snap.agents.available, 2);
        assert!(r.acd.audit().clean());
    }

    /// The interval rolls at t=60 (a 1-minute interval for the test), the day does not:
    /// the interval keeps only what happened after 60, agent time is split at the boundary.
    #[test]
    fn a_new_interval_starts_empty_and_the_day_keeps_counting() {
        let mut r = Rig::new(0, 0, false);
        r.at(0, |a, now| a.handle_login(now, A1).unwrap());
        r.join(0, 1);
        r.answer(10, 1, A1);
        r.end(50, 1); // handled 40 s, A1 available (wrap 0)
        r.join(55, 2); // A1 rings at 55
        r.roll(s(65), 60, 0);
        r.answer(65, 2, A1);
        r.end(95, 2);
        let snap = r.snap(100);
        let (i, d) = (snap.interval, snap.today);
        assert_eq!(i.since, s(60));
        assert_eq!((i.offered, d.offered), (0, 2));
        assert_eq!((i.answered, d.answered), (1, 2));
        assert_eq!((i.answer_wait, d.answer_wait), (s(10), s(20)));
        assert_eq!((i.handled, d.handled), (1, 2));
        assert_eq!((i.aht(), d.aht()), (Some(s(30)), Some(s(35))));
        // A1: idle 0..10, busy 10..50, idle 50..65 (split at 60), busy 65..95, idle 95..100.
        assert_eq!((i.agent_busy, i.agent_idle), (s(30), s(10)));
        assert_eq!((d.agent_busy, d.agent_idle), (s(70), s(30)));
        assert_eq!(
            (i.service_level(), d.service_level()),
            (Some(1.0), Some(1.0))
        );
        // A2 never logged in: no time at all.
        assert_eq!(snap.agents.logged_out, 1);
    }

    /// Announced bounds are scored against the remaining wait of answered calls only.
    #[test]
    fn ewt_accuracy_scores_announcements_of_answered_calls() {
        let mut r = Rig::new(0, 0, true);
        r.at(0, |a, now| a.handle_login(now, A1).unwrap());
        r.join(0, 1);
        r.answer(1, 1, A1); // no announcement: offered at once
        r.join(5, 2); // waits behind A1's call: announced
        r.join(6, 3); // announced too, later abandons
        let b2 = r
            .announced
            .iter()
            .find(|(c, _)| *c == CallId(2))
            .and_then(|(_, b)| *b)
            .expect("call 2 announced with a bound");
        assert!(r.announced.iter().any(|(c, _)| *c == CallId(3)));
        r.end(30, 1); // A1 free: c2 offered
        r.answer(32, 2, A1); // c2 waited 27
        r.end(40, 3);
        let t = r.snap(40).today;
        assert_eq!(
            t.ewt_resolved, 1,
            "the abandoned call's announcement is not scored"
        );
        assert_eq!(t.ewt_covered, u64::from(s(27) <= b2));
        assert_eq!(t.ewt_abs_error, s(27).abs_diff(b2));
        assert_eq!(t.ewt_mae(), Some(s(27).abs_diff(b2)));
        assert_eq!(t.abandon_rate(), Some(1.0 / 3.0));
    }

    /// A callback entry whose only attempt fails leaves with an `Exit` and no `Waited`:
    /// counted as exited, and forgotten.
    #[test]
    fn a_failed_callback_is_counted_as_exited_and_forgotten() {
        let mut acd = Acd::new(AcdConfig::default());
        let mut qc = QueueConfig::new(Strategy::LongestIdle);
        qc.callback.max_attempts = 1;
        acd.add_queue(Q, qc.clone()).unwrap();
        acd.add_agent(AgentConfig::new(A1, vec![Q])).unwrap();
        let mut stats = Statistics::new();
        stats.add_queue(Q, StatsConfig::default());
        stats.add_agent(A1, &[Q]);
        stats.roll(
            s(0),
            Windows {
                interval_start: s(0),
                day_start: s(0),
            },
        );
        let drain = |acd: &mut Acd, stats: &mut Statistics, now: Duration| {
            let mut callbacks = Vec::new();
            while let Some(o) = acd.poll_output() {
                stats.observe(now, &o);
                if let Output::Callback { call, .. } = o {
                    callbacks.push(call);
                }
            }
            callbacks
        };
        acd.handle_join(s(0), Join::new(CallId(1), Q)).unwrap();
        acd.handle_callback_request(s(5), CallId(1), "+15550100".into())
            .unwrap();
        drain(&mut acd, &mut stats, s(5));
        acd.handle_login(s(10), A1).unwrap();
        assert_eq!(drain(&mut acd, &mut stats, s(10)), vec![CallId(1)]);
        acd.handle_callback_result(s(20), CallId(1), crate::output::CallbackResult::Failed)
            .unwrap();
        drain(&mut acd, &mut stats, s(20));
        let t = stats.snapshot(Q, s(20), &acd).unwrap().today;
        assert_eq!((t.offered, t.answered, t.abandoned, t.exited), (1, 0, 0, 1));
        assert!(stats.calls.is_empty() && stats.predictions.is_empty());
    }

    /// Random joins, answers, hang-ups and RONAs on a fake clock: the statistics' counts
    /// always equal the engine's own counters, the live figures its queue, and once every
    /// call is over and wrap-ups have ended, every answered call has been handled.
    #[test]
    fn random_traffic_keeps_the_statistics_equal_to_the_engines_counters() {
        use rand::{Rng, SeedableRng};
        let mut seen = (0, 0, 0);
        for seed in 0..6u64 {
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
            let mut r = Rig::new(3, 2, true);
            r.at(0, |a, now| {
                a.handle_login(now, A1).unwrap();
                a.handle_login(now, A2).unwrap();
            });
            let mut t = 0u64;
            let mut next_call = 1u64;
            let mut live: Vec<u64> = Vec::new();
            for _ in 0..300 {
                t += rng.gen_range(0..4u64);
                r.drain(s(t));
                match rng.gen_range(0..10u32) {
                    0..=1 => {
                        r.join(t, next_call);
                        live.push(next_call);
                        next_call += 1;
                    }
                    2..=4 => {
                        // Answer an offer still ringing.
                        let ringing: Vec<(CallId, AgentId)> = [A1, A2]
                            .into_iter()
                            .filter_map(|a| match r.acd.agent_state(a) {
                                Some(AgentState::Ringing { call }) => Some((*call, a)),
                                _ => None,
                            })
                            .collect();
                        if let Some((c, a)) = ringing.first().copied() {
                            r.at(t, |acd, now| acd.handle_offer_answered(now, c, a).unwrap());
                        }
                    }
                    5..=7 if !live.is_empty() => {
                        let c = live.swap_remove(rng.gen_range(0..live.len()));
                        r.end(t, c);
                    }
                    8 => {
                        // An agent back from a RONA pause.
                        for a in [A1, A2] {
                            if matches!(r.acd.agent_state(a), Some(AgentState::Paused { .. })) {
                                r.at(t, |acd, now| acd.handle_unpause(now, a).unwrap());
                            }
                        }
                    }
                    _ => {}
                }
                let snap = r.snap(t);
                let qs = r.acd.queue_stats(Q).unwrap();
                let d = snap.today;
                assert_eq!(
                    (d.offered, d.answered, d.abandoned),
                    (qs.joined, qs.answered, qs.abandoned),
                    "seed {seed} t {t}"
                );
                assert_eq!(snap.waiting, qs.waiting);
                let on_line = r.stats.queues[&Q].on_line.len() as u64;
                assert_eq!(on_line, qs.waiting, "seed {seed} t {t}");
                assert!(d.handled <= d.answered && d.answered_within <= d.answered);
                assert!(d.short_abandoned <= d.abandoned);
                // One window that never rolled: the interval is the day.
                assert_eq!(snap.interval, d);
            }
            // Everyone hangs up; answer what rings until nobody is left, then let wrap-ups end.
            for c in live.drain(..) {
                t += 1;
                r.end(t, c);
            }
            t += 100;
            r.drain(s(t));
            let d = r.snap(t).today;
            assert_eq!(d.handled, d.answered, "seed {seed}");
            seen = (
                seen.0 + d.answered,
                seen.1 + d.abandoned,
                seen.2 + d.ewt_resolved,
            );
            assert!(r.stats.calls.is_empty(), "seed {seed}: {:?}", r.stats.calls);
            assert!(r.stats.predictions.is_empty(), "seed {seed}");
            assert!(r.acd.audit().clean());
        }
        assert!(
            seen.0 > 50 && seen.1 > 10 && seen.2 > 10,
            "the traffic answered, abandoned and scored announcements: {seen:?}"
        );
    }

    #[test]
    fn empty_windows_have_no_ratios() {
        let r = Rig::new(0, 0, false);
        let t = r.snap(10).interval;
        assert_eq!(t.service_level(), None);
        assert_eq!(t.abandon_rate(), None);
        assert_eq!(t.asa(), None);
        assert_eq!(t.aht(), None);
        assert_eq!(t.occupancy(), None);
        assert_eq!(t.ewt_coverage(), None);
    }
}

//! Predictive pacing: how many numbers a campaign dials now so that agents stay busy
//! while the share of answered calls that find no free agent (abandoned) stays under a cap
//! over any sliding window (24 h by default, the regulators' common rule).
//!
//! The pacer only observes and decides; the campaign engine owns the calls. It is told
//! what happened (`on_dial`, `on_answer`, `on_no_answer`, `on_agent_connected`,
//! `on_abandon`, `on_handle_end`) and asked [`PredictivePacer::dials_to_place`]. Time is an
//! input: `now` is a [`Duration`] since any fixed origin the caller chooses (a campaign
//! start, a process start), never read from a clock here.
//!
//! The model (docs/outbound.md, docs/decisions/0025-predictive-pacing-and-amd.md): a
//! dial placed now ends after about `τ` (the mean dial time) and is answered with
//! probability `p`; over a horizon of `0.25·τ` each busy agent frees with probability
//! `0.25·τ / H` (H = mean handle time). The pacer keeps the expected answers of all `m`
//! dials in flight, plus a safety margin of `z` standard deviations, within the agents
//! expected to be free: `m·p + z·√(m·p·(1−p)) ≤ free + busy·0.25·τ/H`. `z` is the
//! feedback: every abandon raises it, every connected call lowers it a little, so the
//! long-run abandon rate settles at the target (a fraction of the cap) whatever the model
//! gets wrong. A hard guard on the window's own count limits over-dialling by the abandon
//! budget the window has left, and stops it (back to one dial per free agent, which cannot
//! abandon) when that budget is short; a new campaign starts that way.

use std::time::Duration;

pub mod sim;

/// The configuration of a [`PredictivePacer`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PacingConfig {
    /// The largest share of answered calls that may be abandoned over any `window`
    /// (0.03 = 3 %).
    pub abandon_cap: f64,
    /// The share of the cap the feedback aims at in the long run (the rest is the margin
    /// for the randomness of a window). 0.8 aims at 2.4 % under a 3 % cap.
    pub target_share_of_cap: f64,
    /// The sliding window the cap applies to.
    pub window: Duration,
    /// Call outcomes (answered or not) and handled calls observed before the pacer dials
    /// more than one number per free agent.
    pub min_samples: u32,
    /// How many recent outcomes the answer-rate estimate remembers (exponential decay
    /// with this mean age). Handle and dial times are averaged over the last ~30 minutes.
    pub estimate_memory: u32,
    /// At most this many dials in flight per agent expected to be free.
    pub max_dials_per_agent: f64,
    /// At most this many dials in flight in all.
    pub max_in_flight: u32,
}

impl Default for PacingConfig {
    fn default() -> PacingConfig {
        PacingConfig {
            abandon_cap: 0.03,
            target_share_of_cap: 0.9,
            window: Duration::from_secs(24 * 3600),
            min_samples: 30,
            estimate_memory: 300,
            max_dials_per_agent: 8.0,
            max_in_flight: 2000,
        }
    }
}

/// What the pacer currently believes, for the API, metrics and reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PacingSnapshot {
    /// Estimated share of dials answered by a person (None before any outcome).
    pub answer_rate: Option<f64>,
    /// Estimated mean handle time (talk + wrap-up; None before any handled call).
    pub mean_handle: Option<Duration>,
    /// The latest handle time reported.
    pub last_handle: Option<Duration>,
    /// Agents on a call or in wrap-up, as the pacer counts them.
    pub busy_agents: u64,
    /// Estimated mean time a dial stays in flight (Little's law over recent dials).
    pub mean_dial_time: Option<Duration>,
    /// Answered calls in the current window.
    pub window_answered: u64,
    /// Abandoned calls in the current window.
    pub window_abandoned: u64,
    /// `window_abandoned / window_answered` (0 when nothing was answered).
    pub window_abandon_rate: f64,
    /// The safety margin in standard deviations the feedback has settled on.
    pub safety: f64,
    /// Whether the pacer dials ahead of free agents now (false: one dial per free agent,
    /// while warming up or while the window's abandon budget is short).
    pub predictive: bool,
}

/// Buckets the window is counted in (the window's resolution is `window / BUCKETS`).
const BUCKETS: usize = 1440;
/// Abandons the window must still be able to absorb before the pacer over-dials.
const GUARD_BUDGET: f64 = 2.0;
/// The horizon over which busy agents count as soon free, as a share of the mean dial
/// time. Answered calls ring for less than the mean dial (no-answers ring longest), and
/// an agent freed early may be taken by another answer first; 0.25 is the value that
/// served small teams best in the simulated matrix (the feedback corrects the rest).
const SOON_FREE_HORIZON: f64 = 0.25;
/// The margin (standard deviations) of the budget bound.
const GUARD_SAFETY: f64 = 3.0;
/// The budget bound assumes the answer rate may be this much higher than estimated.
const GUARD_ANSWER_RATE_FACTOR: f64 = 1.2;
/// Feedback gain: how far one abandon moves the safety margin (in standard deviations).
const FEEDBACK_GAIN: f64 = 0.08;
/// Where the safety margin starts, and its bounds (below zero the pacer dials past the
/// expected answers: the model counts a dial that has rung long as likely to be answered
/// as a fresh one, which at high answer rates makes it too careful).
const SAFETY_START: f64 = 1.5;
const SAFETY_MIN: f64 = -4.0;
const SAFETY_MAX: f64 = 6.0;
/// Time constant of the dial-time and handle-time estimates (seconds).
const DIAL_TIME_DECAY_S: f64 = 1800.0;

/// Answered and abandoned calls in one slice of the window (or in all of it).
#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    answered: u64,
    abandoned: u64,
}

/// A predictive dialler's pacing decision, with an abandon-rate cap. One owner (the
/// campaign) holds it; see the module docs for the call protocol and the model.
///
/// Call protocol: `on_dial` for every number dialled; then exactly one of `on_answer`
/// (a person answered) or `on_no_answer` (busy, no answer, failure, or an answering
/// machine); after `on_answer` exactly one of `on_agent_connected` or `on_abandon`; after
/// `on_agent_connected`, `on_handle_end` when the agent is free again (talk + wrap-up).
#[derive(Debug, Clone)]
pub struct PredictivePacer {
    cfg: PacingConfig,
    /// Decayed counts of answered / not answered outcomes.
    answered_w: f64,
    unanswered_w: f64,
    outcomes: u64,
    /// Decayed integral of busy agents (agent-seconds) and of ended handles: the mean
    /// handle time is their ratio (total time on calls over calls ended, which counts
    /// the calls still going too: early on the short calls end first, and a mean of
    /// ended calls alone would be too short). `handles` counts ended handles.
    busy_seconds_w: f64,
    handles_w: f64,
    handles: u64,
    /// Own count of dials in flight, and the decayed integral of it (dial-seconds) and
    /// of finished dials, for Little's law.
    own_in_flight: u64,
    dial_seconds_w: f64,
    finished_w: f64,
    last_event: Option<Duration>,
    /// Agents on a call or in wrap-up (connected, handle not ended).
    busy: u64,
    last_handle: Option<Duration>,
    safety: f64,
    /// The window in `BUCKETS` slices (a ring indexed by period), the period of the
    /// newest slice, and the sums over the ring. The window covers between `window` minus
    /// one slice and `window`.
    buckets: Vec<Bucket>,
    head: u64,
    window: Bucket,
    predictive: bool,
}

impl PredictivePacer {
    /// A pacer with no observations: it starts progressive (one dial per free agent) and
    /// goes predictive after `min_samples` outcomes and handled calls.
    pub fn new(cfg: PacingConfig) -> PredictivePacer {
        PredictivePacer {
            cfg,
            answered_w: 0.0,
            unanswered_w: 0.0,
            outcomes: 0,
            busy_seconds_w: 0.0,
            handles_w: 0.0,
            handles: 0,
            own_in_flight: 0,
            dial_seconds_w: 0.0,
            finished_w: 0.0,
            last_event: None,
            busy: 0,
            last_handle: None,
            safety: SAFETY_START,
            buckets: vec![Bucket::default(); BUCKETS],
            head: 0,
            window: Bucket::default(),
            predictive: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PacingConfig {
        &self.cfg
    }

    /// A number was dialled.
    pub fn on_dial(&mut self, now: Duration) {
        self.advance(now);
        self.own_in_flight += 1;
    }

    /// A dial was answered by a person.
    pub fn on_answer(&mut self, now: Duration) {
        self.advance(now);
        self.finish_dial();
        self.outcome(true);
        self.count(now, 1, 0);
    }

    /// A dial ended without a person: busy, no answer, a failure, or an answering machine.
    pub fn on_no_answer(&mut self, now: Duration) {
        self.advance(now);
        self.finish_dial();
        self.outcome(false);
    }

    /// An answered call found no free agent and was abandoned (by us or the callee).
    pub fn on_abandon(&mut self, now: Duration) {
        self.advance(now);
        self.count(now, 0, 1);
        let target = self.target();
        self.safety = (self.safety + FEEDBACK_GAIN * (1.0 - target)).min(SAFETY_MAX);
    }

    /// An answered call was connected to an agent.
    pub fn on_agent_connected(&mut self, now: Duration) {
        self.advance(now);
        self.busy += 1;
        let target = self.target();
        self.safety = (self.safety - FEEDBACK_GAIN * target).max(SAFETY_MIN);
    }

    /// An agent's call and its wrap-up ended after `handle` in all; the agent is free.
    ///
    /// `handle` is reported in [`PacingSnapshot::last_handle`]; the estimate itself comes
    /// from the agents' busy time, which also counts calls that have not ended yet.
    pub fn on_handle_end(&mut self, now: Duration, handle: Duration) {
        self.advance(now);
        self.busy = self.busy.saturating_sub(1);
        self.handles_w += 1.0;
        self.handles += 1;
        self.last_handle = Some(handle);
    }

    /// How many numbers to dial now, given the agents free now (not reserved for a call)
    /// and the dials already in flight. Never fewer than one per free agent not covered by
    /// a dial in flight (the progressive floor, which cannot abandon a call).
    pub fn dials_to_place(&mut self, now: Duration, free_agents: u32, in_flight: u32) -> u32 {
        self.advance(now);
        self.roll(now);
        let room = self.cfg.max_in_flight.saturating_sub(in_flight);
        let floor = free_agents.saturating_sub(in_flight).min(room);
        self.predictive = self.may_predict();
        if !self.predictive {
            return floor;
        }
        let (Some(p), Some(h), Some(tau)) =
            (self.answer_rate(), self.mean_handle_s(), self.mean_dial_s())
        else {
            return floor;
        };
        let p = p.clamp(0.01, 1.0);
        let free = f64::from(free_agents);
        let horizon = SOON_FREE_HORIZON * tau;
        let soon = self.busy as f64 * (horizon / h.max(1.0)).min(1.0);
        let available = free + soon;
        if available <= 0.0 {
            return floor;
        }
        let mut total = max_dials(p, self.safety, available);
        total = total.min(available * self.cfg.max_dials_per_agent);
        // The window's abandon budget bounds the answers that would find no agent even if
        // no busy agent freed in time, with a wide margin (3 standard deviations): early
        // in a window (little budget) the pacer ramps up from progressive.
        let budget = (self.budget() - self.guard()).max(0.0);
        let p_high = (p * GUARD_ANSWER_RATE_FACTOR).min(1.0);
        total = total.min(max_dials(p_high, GUARD_SAFETY, free + budget));
        let total = if total.is_finite() && total > 0.0 {
            total.floor().min(f64::from(u32::MAX)) as u32
        } else {
            0
        };
        total.saturating_sub(in_flight).min(room).max(floor)
    }

    /// What the pacer believes, as of the latest input.
    pub fn snapshot(&self) -> PacingSnapshot {
        let Bucket {
            answered,
            abandoned,
        } = self.window;
        PacingSnapshot {
            answer_rate: self.answer_rate(),
            mean_handle: self
                .mean_handle_s()
                .and_then(|s| Duration::try_from_secs_f64(s).ok()),
            mean_dial_time: self
                .mean_dial_s()
                .and_then(|s| Duration::try_from_secs_f64(s).ok()),
            last_handle: self.last_handle,
            busy_agents: self.busy,
            window_answered: answered,
            window_abandoned: abandoned,
            window_abandon_rate: if answered == 0 {
                0.0
            } else {
                abandoned as f64 / answered as f64
            },
            safety: self.safety,
            predictive: self.predictive,
        }
    }

    fn target(&self) -> f64 {
        (self.cfg.abandon_cap * self.cfg.target_share_of_cap).clamp(0.0, 1.0)
    }

    fn may_predict(&self) -> bool {
        let min = u64::from(self.cfg.min_samples);
        if self.outcomes < min || self.handles < min.min(10) {
            return false;
        }
        self.budget() >= self.guard()
    }

    /// Abandons the window keeps in reserve: two, and a tenth of a percent of its
    /// answered calls (the calls in flight when the pacer stops over-dialling may still
    /// be answered together).
    fn guard(&self) -> f64 {
        GUARD_BUDGET + 0.001 * self.window.answered as f64
    }

    /// Abandons the window can still take under the cap.
    fn budget(&self) -> f64 {
        self.cfg.abandon_cap * self.window.answered as f64 - self.window.abandoned as f64
    }

    fn answer_rate(&self) -> Option<f64> {
        let total = self.answered_w + self.unanswered_w;
        (total > 0.0).then(|| self.answered_w / total)
    }

    fn mean_handle_s(&self) -> Option<f64> {
        (self.handles_w > 0.5).then(|| self.busy_seconds_w / self.handles_w)
    }

    fn mean_dial_s(&self) -> Option<f64> {
        (self.finished_w > 0.5).then(|| self.dial_seconds_w / self.finished_w)
    }

    fn outcome(&mut self, answered: bool) {
        let keep = 1.0 - 1.0 / f64::from(self.cfg.estimate_memory.max(1));
        self.answered_w *= keep;
        self.unanswered_w *= keep;
        if answered {
            self.answered_w += 1.0;
        } else {
            self.unanswered_w += 1.0;
        }
        self.outcomes += 1;
    }

    fn finish_dial(&mut self) {
        self.own_in_flight = self.own_in_flight.saturating_sub(1);
        self.finished_w += 1.0;
    }

    /// Moves the Little's-law integrals forward to `now` (time never goes back: an
    /// earlier `now` counts as no time passed).
    fn advance(&mut self, now: Duration) {
        let Some(last) = self.last_event else {
            self.last_event = Some(now);
            return;
        };
        if now <= last {
            return;
        }
        let dt = (now - last).as_secs_f64();
        let decay = (-dt / DIAL_TIME_DECAY_S).exp();
        self.dial_seconds_w = self.dial_seconds_w * decay + self.own_in_flight as f64 * dt;
        self.finished_w *= decay;
        self.busy_seconds_w = self.busy_seconds_w * decay + self.busy as f64 * dt;
        self.handles_w *= decay;
        self.last_event = Some(now);
    }

    /// Moves the window to the bucket holding `now`, dropping the buckets that left it.
    fn roll(&mut self, now: Duration) {
        let width = self.cfg.window.as_nanos() / BUCKETS as u128;
        let period = (now.as_nanos() / width.max(1)).min(u128::from(u64::MAX)) as u64;
        if period <= self.head {
            return;
        }
        if period - self.head >= BUCKETS as u64 {
            self.buckets.fill(Bucket::default());
            self.window = Bucket::default();
        } else {
            for p in self.head + 1..=period {
                let slot = &mut self.buckets[(p % BUCKETS as u64) as usize];
                self.window.answered -= slot.answered;
                self.window.abandoned -= slot.abandoned;
                *slot = Bucket::default();
            }
        }
        self.head = period;
    }

    fn count(&mut self, now: Duration, answered: u64, abandoned: u64) {
        self.roll(now);
        let slot = &mut self.buckets[(self.head % BUCKETS as u64) as usize];
        slot.answered += answered;
        slot.abandoned += abandoned;
        self.window.answered += answered;
        self.window.abandoned += abandoned;
    }
}

/// The most dials `m` whose answers, each with probability `p`, stay within `agents`
/// with a margin of `z` standard deviations: the largest `m` with
/// `m·p + z·√(m·p·(1−p)) ≤ agents`, a quadratic in `x = √(m·p)`.
fn max_dials(p: f64, z: f64, agents: f64) -> f64 {
    if agents <= 0.0 {
        return 0.0;
    }
    let c = z * (1.0 - p).max(0.0).sqrt();
    let x = (-c + (c * c + 4.0 * agents).sqrt()) / 2.0;
    x * x / p
}

#[cfg(test)]
mod tests;

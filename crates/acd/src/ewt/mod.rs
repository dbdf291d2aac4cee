//! The estimated-wait model behind every announcement.
//!
//! For one caller it simulates, a few hundred times, how the agents serving the queue free up:
//! each busy agent's remaining time is drawn from the queue's recent handle times *longer than
//! the call's current age* (so a call that has lasted 10 minutes is not assumed to end in the
//! mean time), agents in wrap-up free up when it ends, ringing and reserved agents start a full
//! call. Callers ahead may abandon (exponential patience, mean estimated from the queue's
//! recent departures), and the caller's own impatience tilts the distribution toward the waits
//! of callers who stay to be answered. The announced bound is the chosen quantile (0.8) of that
//! distribution.
//!
//! The engine does not run that simulation per announcement: a [`Forecast`] plays the
//! queue's future once for every position at once (same law) and the announcements read
//! their position from it until the queue changes (`forecast.rs`). Agents shared between
//! queues use [`estimate_shared`] (`shared.rs`) and one [`GroupForecast`] per group of
//! queues (`group.rs`). Where callers need skills or a tenant, or tiers widen their needs,
//! the group forecast plays who may take whom in [`Lanes`] (`lanes.rs`, decision 0051).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use rand::Rng;

mod forecast;
mod group;
mod lanes;
mod shared;
mod summary;

pub use forecast::{plays_for, Forecast};
pub use group::{GroupCaller, GroupForecast};
pub use lanes::{Lanes, MAX_LANES};
pub use shared::{estimate_shared, SharedAgent, SharedQueue};

/// Tuning of the estimator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EwtConfig {
    /// Quantile announced (0.8: four callers in five are answered within the bound).
    pub quantile: f64,
    /// Monte Carlo samples per estimate.
    pub samples: usize,
    /// Handle times remembered per queue.
    pub history: usize,
    /// Departures (answered or not) remembered per queue, for the patience estimate.
    pub departures: usize,
    /// Below this many handle times the model mixes the queue's prior handle time with what
    /// it has seen (see `prior_weight`); from this many on it uses only what it has seen.
    pub min_history: usize,
    /// Weight of the prior, in calls, while fewer than `min_history` handle times are known: a
    /// handle time is drawn from those seen with probability `n / (n + prior_weight)`, from
    /// the prior otherwise. A configured guess (180 s by default) that is far from the
    /// queue's real calls is outvoted after a few calls instead of for the first thirty.
    pub prior_weight: usize,
    /// Beyond this many callers ahead, fewer samples are drawn so one estimate costs about
    /// `samples * exact_ahead` steps.
    pub exact_ahead: usize,
    /// Step of the coverage feedback: after each answered caller the quantile level moves by
    /// `gain * (quantile - covered)`, so the realised coverage of join announcements tracks
    /// `quantile` even where the model is off (0 turns the feedback off).
    pub calibration_gain: f64,
    /// A queue-wide forecast (one simulation giving every waiting caller's estimate) is
    /// reused by later announcements for at most this many seconds, and only while
    /// nothing ahead of them and none of the agents changed (see `forecast.rs`); 0 reuses
    /// one only within the same instant.
    pub reuse_for: f64,
}

impl Default for EwtConfig {
    fn default() -> Self {
        EwtConfig {
            quantile: 0.8,
            samples: 256,
            history: 2000,
            departures: 1000,
            min_history: 30,
            prior_weight: 5,
            exact_ahead: 200,
            calibration_gain: 0.005,
            reuse_for: 5.0,
        }
    }
}

/// What one agent serving the queue is doing now, as the estimator sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AgentLoad {
    /// Free after this many seconds (wrap-up remaining).
    FreeIn(f64),
    /// On a call that has lasted `age` seconds (wrap-up still to come).
    Busy {
        /// Seconds since the call was answered.
        age: f64,
    },
    /// Ringing or reserved: a whole call and its wrap-up lie ahead.
    Starting,
}

/// One estimate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// The announced bound, seconds.
    pub bound: f64,
    /// Probability that the caller is answered within the queried threshold.
    pub p_answered_within: f64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Secs(f64);
impl Eq for Secs {}
impl PartialOrd for Secs {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Secs {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A queue's memory of handle times and departures, and the estimator that uses it.
#[derive(Clone, Debug)]
pub struct EwtModel {
    cfg: EwtConfig,
    prior_handle: f64,
    handle_fifo: VecDeque<f64>,
    handle_sorted: Vec<f64>,
    departures: VecDeque<(f64, bool)>,
    wait_sum: f64,
    abandons: usize,
    scratch: Vec<(f64, f64)>,
    ahead_abandon: Vec<f64>,
    level: f64,
    ringing: Ringing,
}

/// What the queue's offers look like: how long agents take to answer (offer to answer) and
/// how often an offer rings out, learned from the last [`RING_HISTORY`] offers; plus the
/// queue's ring timeout and how long a ring-out takes the agent away (the RONA pause).
#[derive(Clone, Debug, Default)]
struct Ringing {
    answers: VecDeque<f64>,
    offers: VecDeque<bool>,
    rang_out: usize,
    timeout: f64,
    pause: Option<f64>,
}

/// Offers (answer delays and ring-outs) remembered per queue.
pub const RING_HISTORY: usize = 500;

/// One offer as the estimator plays it: the agent answers after `Answer(delay)` or the
/// offer rings out.
enum Offer {
    Answer(f64),
    RingOut,
}

impl EwtModel {
    /// A model with no history; `prior_handle` seconds is assumed until enough calls end.
    pub fn new(cfg: EwtConfig, prior_handle: f64) -> Self {
        EwtModel {
            cfg,
            prior_handle: prior_handle.max(1.0),
            handle_fifo: VecDeque::new(),
            handle_sorted: Vec::new(),
            departures: VecDeque::new(),
            wait_sum: 0.0,
            abandons: 0,
            scratch: Vec::new(),
            ahead_abandon: Vec::new(),
            level: cfg.quantile,
            ringing: Ringing {
                timeout: 15.0,
                ..Ringing::default()
            },
        }
    }

    /// The queue's ring timeout and the RONA pause that follows a ring-out (`None`: the
    /// agent stays paused until unpaused by hand, i.e. for the rest of the estimate), seconds.
    pub fn set_ring_policy(&mut self, ring_timeout: f64, rona_pause: Option<f64>) {
        self.ringing.timeout = ring_timeout.max(0.0);
        self.ringing.pause = rona_pause.map(|p| p.max(0.0));
    }

    /// Remember one offer: answered after `answered_after` seconds of ringing, or (`None`)
    /// rang out.
    pub fn record_offer(&mut self, answered_after: Option<f64>) {
        let r = &mut self.ringing;
        if r.offers.len() >= RING_HISTORY && r.offers.pop_front() == Some(true) {
            r.rang_out -= 1;
        }
        r.offers.push_back(answered_after.is_none());
        match answered_after {
            None => r.rang_out += 1,
            Some(d) if d.is_finite() && d >= 0.0 => {
                if r.answers.len() >= RING_HISTORY {
                    r.answers.pop_front();
                }
                r.answers.push_back(d);
            }
            Some(_) => {}
        }
    }

    /// Share of the remembered offers that rang out.
    pub fn ring_out_share(&self) -> f64 {
        let r = &self.ringing;
        if r.offers.is_empty() {
            0.0
        } else {
            r.rang_out as f64 / r.offers.len() as f64
        }
    }

    /// How one offer goes in a simulated future: a ring-out with the learned share, else an
    /// answer after a learned delay (0 until an answer has been seen).
    fn play_offer<R: Rng>(&self, rng: &mut R) -> Offer {
        let r = &self.ringing;
        if r.rang_out > 0 && rng.gen_bool(self.ring_out_share().clamp(0.0, 1.0)) {
            return Offer::RingOut;
        }
        if r.answers.is_empty() {
            return Offer::Answer(0.0);
        }
        Offer::Answer(r.answers[rng.gen_range(0..r.answers.len())])
    }

    /// Remember a finished call's handle time (answer to hang-up), seconds.
    pub fn record_handle(&mut self, secs: f64) {
        if !secs.is_finite() || secs < 0.0 {
            return;
        }
        if self.handle_fifo.len() >= self.cfg.history.max(1) {
            if let Some(old) = self.handle_fifo.pop_front() {
                let i = self.handle_sorted.partition_point(|x| *x < old);
                if i < self.handle_sorted.len() {
                    self.handle_sorted.remove(i);
                }
            }
        }
        self.handle_fifo.push_back(secs);
        let i = self.handle_sorted.partition_point(|x| *x < secs);
        self.handle_sorted.insert(i, secs);
    }

    /// Remember a departure from the queue: how long the caller waited and whether they
    /// abandoned (every other way out censors the patience observation).
    pub fn record_departure(&mut self, waited: f64, abandoned: bool) {
        if !waited.is_finite() || waited < 0.0 {
            return;
        }
        if self.departures.len() >= self.cfg.departures.max(1) {
            if let Some((w, a)) = self.departures.pop_front() {
                self.wait_sum -= w;
                if a {
                    self.abandons -= 1;
                }
            }
        }
        self.departures.push_back((waited, abandoned));
        self.wait_sum += waited;
        if abandoned {
            self.abandons += 1;
        }
    }

    /// Mean patience (seconds) by maximum likelihood for exponential patience with censoring:
    /// total waiting time over abandonments. `None` when nobody abandoned recently.
    pub fn mean_patience(&self) -> Option<f64> {
        if self.abandons == 0 {
            None
        } else {
            Some((self.wait_sum.max(0.0) / self.abandons as f64).max(1.0))
        }
    }

    /// Number of handle times remembered.
    pub fn handle_samples(&self) -> usize {
        self.handle_sorted.len()
    }

    fn use_history(&self) -> bool {
        self.handle_sorted.len() >= self.cfg.min_history.max(1)
    }

    /// While history is short: should this draw come from the prior rather than from the
    /// handle times seen? (Always `false` once `min_history` calls are known.)
    fn draw_from_prior<R: Rng>(&self, rng: &mut R) -> bool {
        if self.use_history() {
            return false;
        }
        let n = self.handle_sorted.len();
        let k = self.cfg.prior_weight;
        n == 0 || rng.gen_range(0..n + k) >= n
    }

    /// A learned answer delay (offer to answer), 0 until an answer has been seen.
    fn answer_delay<R: Rng>(&self, rng: &mut R) -> f64 {
        let a = &self.ringing.answers;
        if a.is_empty() {
            0.0
        } else {
            a[rng.gen_range(0..a.len())]
        }
    }

    pub(crate) fn sample_handle<R: Rng>(&self, rng: &mut R) -> f64 {
        if self.draw_from_prior(rng) {
            exp_sample(rng, self.prior_handle)
        } else {
            let i = rng.gen_range(0..self.handle_sorted.len());
            self.handle_sorted[i]
        }
    }

    pub(crate) fn sample_residual<R: Rng>(&self, rng: &mut R, age: f64) -> f64 {
        self.sample_residual_from(rng, age, self.residual_start(age))
    }

    /// Where a call of `age` seconds falls among the handle times: compute once for many
    /// draws of its residual ([`EwtModel::sample_residual_from`]).
    pub(crate) fn residual_start(&self, age: f64) -> usize {
        self.handle_sorted.partition_point(|x| *x <= age)
    }

    /// [`EwtModel::sample_residual`] with `i = residual_start(age)` already known (the
    /// same draws).
    pub(crate) fn sample_residual_from<R: Rng>(&self, rng: &mut R, age: f64, i: usize) -> f64 {
        if self.draw_from_prior(rng) {
            return exp_sample(rng, self.prior_handle);
        }
        let n = self.handle_sorted.len();
        let i = i.min(n);
        if n - i >= 5 {
            let j = rng.gen_range(i..n);
            return self.handle_sorted[j] - age;
        }
        // Older than nearly everything seen: extrapolate with an exponential tail whose mean
        // grows with the age (long-tailed handle times have growing residual life).
        let top = &self.handle_sorted[n.saturating_sub(5)..];
        let excess: f64 =
            top.iter().map(|x| (x - age).max(0.0)).sum::<f64>() / top.len().max(1) as f64;
        exp_sample(rng, excess.max(0.3 * age).max(5.0))
    }

    /// Estimate the wait of a caller with `ahead` callers in front (`true` = may abandon,
    /// `false` = a callback entry that will not), served by `agents`, with `wrap_up` seconds
    /// after every call. `within` is the threshold for [`Estimate::p_answered_within`].
    /// `None` when no agent serves the queue.
    pub fn estimate<R: Rng>(
        &mut self,
        rng: &mut R,
        ahead: &[bool],
        agents: &[AgentLoad],
        wrap_up: f64,
        within: f64,
    ) -> Option<Estimate> {
        let q = self.level;
        self.estimate_at(rng, ahead, agents, wrap_up, within, q)
    }

    /// The quantile level currently announced (starts at [`EwtConfig::quantile`], then follows
    /// the coverage feedback).
    pub fn level(&self) -> f64 {
        self.level
    }

    /// Feed back one answered caller: was the wait within the bound announced at join?
    pub fn record_coverage(&mut self, covered: bool) {
        let g = self.cfg.calibration_gain;
        if g > 0.0 {
            let hit = if covered { 1.0 } else { 0.0 };
            self.level = (self.level + g * (self.cfg.quantile - hit)).clamp(0.5, 0.97);
        }
    }

    /// [`EwtModel::estimate`] at an explicit quantile level.
    pub fn estimate_at<R: Rng>(
        &mut self,
        rng: &mut R,
        ahead: &[bool],
        agents: &[AgentLoad],
        wrap_up: f64,
        within: f64,
        quantile: f64,
    ) -> Option<Estimate> {
        if agents.is_empty() {
            return None;
        }
        let patience = self.mean_patience();
        let mut samples = self.cfg.samples.max(8);
        if ahead.len() > self.cfg.exact_ahead {
            samples = (samples * self.cfg.exact_ahead / ahead.len()).max(16);
        }
        let mut out = std::mem::take(&mut self.scratch);
        let mut abandon = std::mem::take(&mut self.ahead_abandon);
        out.clear();
        let mut heap: BinaryHeap<Reverse<Secs>> = BinaryHeap::with_capacity(agents.len());
        let mut within_weight = 0.0;
        for _ in 0..samples {
            heap.clear();
            for a in agents {
                let t = match *a {
                    AgentLoad::FreeIn(s) => s.max(0.0),
                    AgentLoad::Busy { age } => self.sample_residual(rng, age.max(0.0)) + wrap_up,
                    AgentLoad::Starting => {
                        self.answer_delay(rng) + self.sample_handle(rng) + wrap_up
                    }
                };
                heap.push(Reverse(Secs(t)));
            }
            abandon.clear();
            abandon.extend(ahead.iter().map(|can| match (can, patience) {
                (true, Some(p)) => exp_sample(rng, p),
                _ => f64::INFINITY,
            }));
            let mut next = 0usize;
            // After a ring-out the caller at the front is offered again from this time on.
            let mut ready = 0.0f64;
            let mut ring_outs = 0usize;
            let wait = loop {
                let Some(Reverse(Secs(t))) = heap.pop() else {
                    break f64::INFINITY;
                };
                let t = t.max(ready);
                while next < abandon.len() && abandon[next] < t {
                    next += 1;
                }
                let ring = match self.play_offer(rng) {
                    Offer::RingOut if ring_outs >= 10_000 => break f64::INFINITY,
                    Offer::RingOut => {
                        ring_outs += 1;
                        ready = t + self.ringing.timeout;
                        if let Some(p) = self.ringing.pause {
                            heap.push(Reverse(Secs(ready + p)));
                        }
                        continue;
                    }
                    Offer::Answer(d) => d,
                };
                if next < abandon.len() {
                    next += 1;
                    heap.push(Reverse(Secs(t + ring + self.sample_handle(rng) + wrap_up)));
                } else {
                    break t + ring;
                }
            };
            let weight = match patience {
                Some(p) => (-wait / p).exp(),
                None => 1.0,
            };
            if wait <= within {
                within_weight += weight;
            }
            out.push((wait, weight));
        }
        let p_answered_within = within_weight / samples as f64;
        let bound = pick_bound(&mut out, quantile);
        self.scratch = out;
        self.ahead_abandon = abandon;
        Some(Estimate {
            bound: if bound.is_finite() { bound } else { 86_400.0 },
            p_answered_within,
        })
    }
}

/// The announced bound from weighted samples `(wait, weight)`: among the distinct sampled
/// waits, the one whose predicted coverage P(W <= b) is closest to `quantile`. Waits have
/// atoms (an agent whose wrap-up ends in 4 s answers at exactly 4 s), and always rounding up to
/// the atom would cover far more than the quantile.
fn pick_bound(out: &mut [(f64, f64)], quantile: f64) -> f64 {
    if out.is_empty() {
        return f64::INFINITY;
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = out.iter().map(|x| x.1).sum();
    if total <= 0.0 || !total.is_finite() {
        // Every sample abandons with certainty: fall back to the unweighted quantile.
        let k = ((out.len() as f64 * quantile) as usize).min(out.len() - 1);
        return out[k].0;
    }
    let mut acc = 0.0;
    let mut best = (f64::INFINITY, out[out.len() - 1].0);
    let mut i = 0;
    while i < out.len() {
        let v = out[i].0;
        while i < out.len() && out[i].0 <= v + 1e-9 {
            acc += out[i].1;
            i += 1;
        }
        let miss = (acc / total - quantile).abs();
        if miss < best.0 {
            best = (miss, v);
        }
        if acc / total >= quantile {
            break;
        }
    }
    best.1
}

fn exp_sample<R: Rng>(rng: &mut R, mean: f64) -> f64 {
    let u: f64 = rng.gen_range(f64::EPSILON..1.0);
    -mean * u.ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn longer_queue_longer_bound() {
        let mut m = EwtModel::new(EwtConfig::default(), 180.0);
        for i in 0..500 {
            m.record_handle(100.0 + (i % 160) as f64);
        }
        let mut rng = SmallRng::seed_from_u64(1);
        let agents = [AgentLoad::Busy { age: 10.0 }; 4];
        let a = m
            .estimate(&mut rng, &[true; 1], &agents, 10.0, 20.0)
            .unwrap();
        let b = m
            .estimate(&mut rng, &[true; 12], &agents, 10.0, 20.0)
            .unwrap();
        assert!(b.bound > a.bound, "{} vs {}", a.bound, b.bound);
        assert!(a.p_answered_within >= b.p_answered_within);
    }

    #[test]
    fn no_agents_no_estimate() {
        let mut m = EwtModel::new(EwtConfig::default(), 180.0);
        let mut rng = SmallRng::seed_from_u64(1);
        assert!(m.estimate(&mut rng, &[], &[], 10.0, 20.0).is_none());
    }

    #[test]
    fn wrap_up_ending_is_known_exactly() {
        let mut m = EwtModel::new(EwtConfig::default(), 180.0);
        let mut rng = SmallRng::seed_from_u64(3);
        let e = m
            .estimate(&mut rng, &[], &[AgentLoad::FreeIn(7.0)], 10.0, 20.0)
            .unwrap();
        assert_eq!(e.bound, 7.0);
        assert_eq!(e.p_answered_within, 1.0);
    }

    #[test]
    fn patience_is_waiting_time_over_abandons() {
        let mut m = EwtModel::new(EwtConfig::default(), 180.0);
        assert_eq!(m.mean_patience(), None);
        m.record_departure(100.0, true);
        m.record_departure(300.0, false);
        assert_eq!(m.mean_patience(), Some(400.0));
    }

    #[test]
    fn a_few_short_calls_outvote_a_long_prior() {
        // The configured guess is 180 s; the queue's calls really last about 4 s.
        let agents = [AgentLoad::Busy { age: 1.0 }];
        let ahead = [true, true, true];
        let mut fresh = EwtModel::new(EwtConfig::default(), 180.0);
        let mut rng = SmallRng::seed_from_u64(3);
        let before = fresh
            .estimate(&mut rng, &ahead, &agents, 0.0, 20.0)
            .unwrap();
        for i in 0..10 {
            fresh.record_handle(3.0 + (i % 3) as f64);
        }
        let after = fresh
            .estimate(&mut rng, &ahead, &agents, 0.0, 20.0)
            .unwrap();
        assert!(before.bound > 300.0, "prior only: {}", before.bound);
        assert!(
            after.bound < before.bound / 2.0,
            "10 calls of 3-5 s should pull the bound well down: {} -> {}",
            before.bound,
            after.bound
        );
        // With no weight on the prior, the first calls decide alone.
        let cfg = EwtConfig {
            prior_weight: 0,
            ..EwtConfig::default()
        };
        let mut learned = EwtModel::new(cfg, 180.0);
        for i in 0..10 {
            learned.record_handle(3.0 + (i % 3) as f64);
        }
        let only_seen = learned
            .estimate(&mut rng, &ahead, &agents, 0.0, 20.0)
            .unwrap();
        assert!(only_seen.bound < 60.0, "{}", only_seen.bound);
    }

    #[test]
    fn old_calls_have_long_residuals() {
        let mut m = EwtModel::new(EwtConfig::default(), 180.0);
        for i in 0..1000 {
            m.record_handle(i as f64);
        }
        let mut rng = SmallRng::seed_from_u64(9);
        let young = m
            .estimate(&mut rng, &[], &[AgentLoad::Busy { age: 0.0 }], 0.0, 20.0)
            .unwrap();
        let old = m
            .estimate(&mut rng, &[], &[AgentLoad::Busy { age: 900.0 }], 0.0, 20.0)
            .unwrap();
        assert!(
            old.bound < young.bound,
            "residual of a 900 s call in a 0..1000 s spread"
        );
        assert!(old.bound <= 100.0);
    }

    #[test]
    fn learned_answer_delays_and_ring_outs_lengthen_the_bound() {
        let mut m = EwtModel::new(EwtConfig::default(), 100.0);
        m.set_ring_policy(15.0, Some(30.0));
        for _ in 0..100 {
            m.record_handle(100.0);
        }
        let free = [AgentLoad::FreeIn(0.0)];
        let mut rng = SmallRng::seed_from_u64(4);
        let instant = m.estimate(&mut rng, &[], &free, 0.0, 20.0).unwrap();
        assert_eq!(instant.bound, 0.0, "nothing learned: answers are instant");
        for _ in 0..50 {
            m.record_offer(Some(6.0));
        }
        let delayed = m.estimate(&mut rng, &[], &free, 0.0, 20.0).unwrap();
        assert_eq!(delayed.bound, 6.0, "the agent picks up after 6 s");
        // Half the offers ring out: 15 s of ringing, then the caller is offered again to
        // the same agent after its 30 s RONA pause, or answered.
        for _ in 0..50 {
            m.record_offer(None);
        }
        assert_eq!(m.ring_out_share(), 0.5);
        let ringing_out = m.estimate(&mut rng, &[], &free, 0.0, 20.0).unwrap();
        assert!(ringing_out.bound >= 15.0 + 30.0 + 6.0, "{ringing_out:?}");
        // The window forgets: 500 answered offers later nothing rings out.
        for _ in 0..RING_HISTORY {
            m.record_offer(Some(6.0));
        }
        assert_eq!(m.ring_out_share(), 0.0);
        // A ringing agent has its answer delay ahead of the call (6 + 100 s), then our
        // caller's own ring (6 s).
        let starting = m
            .estimate(&mut rng, &[], &[AgentLoad::Starting], 0.0, 20.0)
            .unwrap();
        assert_eq!(starting.bound, 112.0, "{starting:?}");
    }
}

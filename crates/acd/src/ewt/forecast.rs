//! One simulation for a whole queue: the wait of every position at once.
//!
//! The per-caller estimate ([`EwtModel::estimate`]) plays the queue's future a few hundred
//! times up to the moment the caller is reached, so a queue of N callers announcing every
//! period costs N such simulations per period. But a caller's future does not depend on the
//! callers behind it: one play of the future, run to the end of the line, gives every
//! position its wait at once. A [`Forecast`] keeps those plays (with as many plays per
//! position as the per-caller estimate would draw) and each announcement reads its
//! position's quantile from them until the queue changes.
//!
//! Same law as the per-caller estimate: a caller ahead who abandons in a play is still given
//! the wait they would have had by staying (the per-caller estimate never lets its own
//! caller abandon; their impatience only weights the samples), by playing their offers on
//! from the moment they left, on a copy of the agents when an offer rings out. Nothing is
//! approximated beyond that; the approximation is in *reusing* a forecast: read `age`
//! seconds after it was made, every sampled wait is `age` shorter (exact for agents in
//! wrap-up and for exponential handle times; for other handle times the residual of a call
//! that has lasted `age` seconds longer differs a little) — and it is reused only while no
//! caller ahead left or changed and every agent is where the forecast left it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::Rng;

use super::summary::Summaries;
use super::{exp_sample, pick_bound, AgentLoad, Estimate, EwtConfig, EwtModel, Offer, Secs};

/// Ring-outs in a row after which a play gives up (every remembered offer rang out and
/// the agents come back from their pause forever): the waits left are unbounded.
const MAX_RING_OUTS: usize = 10_000;

/// The waits of every position of a queue, played from one moment.
#[derive(Clone, Debug, Default)]
pub struct Forecast {
    /// When it was made, seconds on the engine's clock.
    at: f64,
    /// The agents as they were then.
    loads: Vec<AgentLoad>,
    patience: Option<f64>,
    /// Positions 0..positions have waits.
    positions: usize,
    /// While playing: play `s` holds positions `0..lens[s]` at `offsets[s]` of `waits`
    /// (released once summarized).
    offsets: Vec<usize>,
    lens: Vec<usize>,
    waits: Vec<f64>,
    /// What is kept of each position's plays.
    kept: Summaries,
    column: Vec<f64>,
    cfg: Option<EwtConfig>,
    heap: BinaryHeap<Reverse<Secs>>,
    copy: BinaryHeap<Reverse<Secs>>,
    read: Vec<(f64, f64)>,
    /// Per agent while playing: where its call's age falls among the handle times.
    starts: Vec<usize>,
}

/// Plays the per-caller estimate draws for a caller with `k` callers ahead (fewer beyond
/// `exact_ahead`, never more for a later position).
pub fn plays_for(cfg: &EwtConfig, k: usize) -> usize {
    let s = cfg.samples.max(8);
    if k > cfg.exact_ahead {
        (s * cfg.exact_ahead / k).max(16).min(s)
    } else {
        s
    }
}

impl Forecast {
    /// Play the queue's future from `at` (seconds): `ahead` are the callers in line in
    /// order (`true` = may abandon, `false` = a callback entry), followed by `extra`
    /// callers who may abandon (those expected to join behind them before the forecast is
    /// replaced). Returns `false` (and holds nothing) when no agent serves the queue.
    #[allow(clippy::too_many_arguments)]
    pub fn make<R: Rng>(
        &mut self,
        model: &EwtModel,
        rng: &mut R,
        at: f64,
        ahead: &[bool],
        extra: usize,
        agents: &[AgentLoad],
        wrap_up: f64,
    ) -> bool {
        self.positions = 0;
        self.offsets.clear();
        self.lens.clear();
        self.waits.clear();
        self.kept.clear();
        self.loads.clear();
        if agents.is_empty() {
            self.cfg = None;
            return false;
        }
        let cfg = model.cfg;
        self.cfg = Some(cfg);
        self.at = at;
        self.loads.extend_from_slice(agents);
        self.patience = model.mean_patience();
        let positions = ahead.len() + extra + 1;
        self.positions = positions;
        self.starts.clear();
        self.starts.extend(agents.iter().map(|a| match *a {
            AgentLoad::Busy { age } => model.residual_start(age.max(0.0)),
            _ => 0,
        }));
        let plays = plays_for(&cfg, 0);
        for s in 0..plays {
            // Positions whose estimate draws more than `s` plays: a prefix, as the count
            // never grows with the position.
            let len = partition(positions, |k| plays_for(&cfg, k) > s);
            if len == 0 {
                break;
            }
            self.offsets.push(self.waits.len());
            self.lens.push(len);
            self.play(model, rng, ahead, len, wrap_up);
        }
        // Keep a bounded summary of each position's plays, not the plays.
        for k in 0..positions {
            let n = plays_for(&cfg, k).min(self.lens.len());
            self.column.clear();
            self.column
                .extend((0..n).map(|s| self.waits[self.offsets[s] + k]));
            self.kept.push(&mut self.column, self.patience);
        }
        self.waits = Vec::new();
        self.offsets = Vec::new();
        self.lens = Vec::new();
        self.kept.shrink();
        true
    }

    /// Bytes the forecast holds on the heap between two makes (its summaries and the
    /// agents it was made with; the plays themselves are released once summarized).
    pub fn heap_bytes(&self) -> usize {
        self.kept.heap_bytes()
            + self.loads.capacity() * std::mem::size_of::<AgentLoad>()
            + self.waits.capacity() * 8
            + (self.offsets.capacity() + self.lens.capacity()) * std::mem::size_of::<usize>()
            + self.column.capacity() * 8
            + self.read.capacity() * 16
            + (self.heap.capacity() + self.copy.capacity()) * 8
    }

    /// One play of the future up to position `len - 1`, appended to `waits`.
    fn play<R: Rng>(
        &mut self,
        model: &EwtModel,
        rng: &mut R,
        ahead: &[bool],
        len: usize,
        wrap_up: f64,
    ) {
        let base = self.waits.len();
        self.waits.resize(base + len, f64::INFINITY);
        let patience = self.patience;
        let leaves_at =
            |rng: &mut R, k: usize| match (ahead.get(k).copied().unwrap_or(true), patience) {
                (true, Some(p)) => exp_sample(rng, p),
                _ => f64::INFINITY,
            };
        self.heap.clear();
        for (a, start) in self.loads.iter().zip(&self.starts) {
            let t = match *a {
                AgentLoad::FreeIn(s) => s.max(0.0),
                AgentLoad::Busy { age } => {
                    model.sample_residual_from(rng, age.max(0.0), *start) + wrap_up
                }
                AgentLoad::Starting => model.answer_delay(rng) + model.sample_handle(rng) + wrap_up,
            };
            self.heap.push(Reverse(Secs(t)));
        }
        let mut ready = 0.0f64;
        let mut next = 0usize;
        let mut leaves = leaves_at(rng, 0);
        let mut ring_outs = 0usize;
        while next < len {
            let Some(Reverse(Secs(t))) = self.heap.pop() else {
                return; // no agent left: the rest wait forever
            };
            let t = t.max(ready);
            // Callers who left before this agent freed: each gets the wait it would have
            // had by staying, i.e. being offered now.
            while next < len && leaves < t {
                self.waits[base + next] = self.stay(model, rng, t);
                next += 1;
                leaves = leaves_at(rng, next);
            }
            if next == len {
                return;
            }
            match model.play_offer(rng) {
                Offer::RingOut => {
                    ring_outs += 1;
                    if ring_outs > MAX_RING_OUTS {
                        return;
                    }
                    ready = t + model.ringing.timeout;
                    if let Some(p) = model.ringing.pause {
                        self.heap.push(Reverse(Secs(ready + p)));
                    }
                }
                Offer::Answer(d) => {
                    ring_outs = 0;
                    self.waits[base + next] = t + d;
                    self.heap
                        .push(Reverse(Secs(t + d + model.sample_handle(rng) + wrap_up)));
                    next += 1;
                    leaves = leaves_at(rng, next);
                }
            }
        }
    }

    /// The wait of a caller offered at `t` who stays: offers ring out on a copy of the
    /// agents (the play itself goes on without them).
    fn stay<R: Rng>(&mut self, model: &EwtModel, rng: &mut R, t: f64) -> f64 {
        let mut t = t;
        let mut copied = false;
        for _ in 0..MAX_RING_OUTS {
            match model.play_offer(rng) {
                Offer::Answer(d) => return t + d,
                Offer::RingOut => {
                    if !copied {
                        self.copy.clear();
                        self.copy.extend(self.heap.iter().copied());
                        copied = true;
                    }
                    let ready = t + model.ringing.timeout;
                    if let Some(p) = model.ringing.pause {
                        self.copy.push(Reverse(Secs(ready + p)));
                    }
                    match self.copy.pop() {
                        Some(Reverse(Secs(x))) => t = x.max(ready),
                        None => return f64::INFINITY,
                    }
                }
            }
        }
        f64::INFINITY
    }

    /// Whether the forecast made at `self.at` still describes the queue at `now` with
    /// `agents` (each as the forecast left it, `now - at` seconds on) and no older than
    /// `max_age` seconds. The caller checks separately that nobody ahead left or changed.
    pub fn holds(&self, now: f64, agents: &[AgentLoad], max_age: f64) -> bool {
        let age = now - self.at;
        if self.cfg.is_none() || !(0.0..=max_age).contains(&age) || agents.len() != self.loads.len()
        {
            return false;
        }
        self.loads
            .iter()
            .zip(agents)
            .all(|(then, now)| load_aged_into(*then, *now, age))
    }

    /// Positions the forecast has waits for (`0..positions()` callers ahead).
    pub fn positions(&self) -> usize {
        self.positions
    }

    /// The estimate of a caller with `k` callers ahead, read at `now` (seconds): the
    /// weighted `quantile` of the position's plays, each `now - at` seconds shorter.
    /// `None` when the forecast holds nothing for `k`.
    pub fn estimate(&mut self, k: usize, now: f64, within: f64, quantile: f64) -> Option<Estimate> {
        self.cfg?;
        if k >= self.positions {
            return None;
        }
        let age = (now - self.at).max(0.0);
        self.read.clear();
        self.kept.read(k, age, self.patience, &mut self.read);
        let within_weight: f64 = self
            .read
            .iter()
            .filter(|(w, _)| *w <= within)
            .map(|(_, weight)| weight)
            .sum();
        if self.read.is_empty() {
            return None;
        }
        let bound = pick_bound(&mut self.read, quantile);
        Some(Estimate {
            bound: if bound.is_finite() { bound } else { 86_400.0 },
            p_answered_within: within_weight.min(1.0),
        })
    }
}

/// How many of `0..n` satisfy `pred`, given that those that do come first.
pub(super) fn partition(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Whether an agent's load as a forecast saw it, `age` seconds later, is the load seen now
/// (a free-in time counted down, a call's age counted up; 1 ms of rounding allowed): then
/// nothing about that agent changed since.
pub(super) fn load_aged_into(then: AgentLoad, now: AgentLoad, age: f64) -> bool {
    const EPS: f64 = 1e-3;
    match (then, now) {
        (AgentLoad::FreeIn(a), AgentLoad::FreeIn(b)) => ((a - age).max(0.0) - b).abs() < EPS,
        (AgentLoad::Busy { age: a }, AgentLoad::Busy { age: b }) => (a + age - b).abs() < EPS,
        (AgentLoad::Starting, AgentLoad::Starting) => true,
        _ => false,
    }
}

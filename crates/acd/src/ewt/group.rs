//! One simulation for a group of queues whose agents are shared: the wait of every caller
//! of every queue of the group at once.
//!
//! The per-caller shared estimate ([`super::estimate_shared`]) plays the group's future up
//! to the moment the caller is reached: a freed agent takes the earliest caller (order key:
//! priority, then join order) of any queue it serves. A caller's future does not depend on
//! the callers behind it in key order, whatever their queue: an agent that takes a later
//! caller had nobody earlier to take in its queues, and nobody earlier appears (no arrivals
//! are played); and a ring-out only delays the rang-out caller and those behind it. So one
//! play run to the end of the group's line gives every caller its wait, as
//! [`super::Forecast`] does for one queue.
//!
//! A caller who abandons in a play still gets the wait it would have had by staying (the
//! per-caller estimate never lets its own caller abandon): it becomes a *ghost*, offered by
//! the first agent serving its queue that pops with nobody earlier left to take in its
//! queues — exactly when its own play would have offered it. If that ghost offer rings out,
//! the agent is taken away in the ghost's play only (it returns after the RONA pause for the
//! ghost alone), and the ghost waits for the next agent. Nothing else is approximated: the
//! per-position law is the per-caller law (`tests/ewt_group_forecast.rs`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::Rng;

use super::forecast::{load_aged_into, partition};
use super::lanes::{Lanes, Stay};
use super::summary::Summaries;
use super::{exp_sample, pick_bound, plays_for, AgentLoad, Estimate, EwtConfig, Offer, Secs};
use super::{SharedAgent, SharedQueue};

/// Ring-outs in a row after which a play gives up: the waits left are unbounded.
const MAX_RING_OUTS: usize = 10_000;

/// A heap entry that is a real agent (others carry the ghost they return for).
const REAL: u32 = u32::MAX;

/// One caller of the group, in key order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupCaller {
    /// Index of its queue in the group.
    pub queue: usize,
    /// Its order key (priority, then join order; unique across queues).
    pub key: u64,
    /// `false` for a callback entry, which does not abandon.
    pub may_abandon: bool,
}

/// After a ring-out, the rang-out caller and every caller behind it (by key) are offered
/// no earlier than `until`: `(key, until)` with keys and untils both increasing.
#[derive(Clone, Debug, Default)]
pub(crate) struct ReadyByKey(Vec<(u64, f64)>);

impl ReadyByKey {
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    /// The earliest a caller with `key` can be offered.
    pub(crate) fn at(&self, key: u64) -> f64 {
        let i = self.0.partition_point(|(k, _)| *k <= key);
        if i == 0 {
            0.0
        } else {
            self.0[i - 1].1
        }
    }

    /// The caller with `key` rang out: it and those behind it wait until `until`.
    pub(crate) fn ring_out(&mut self, key: u64, until: f64) {
        if self.at(key) >= until {
            return;
        }
        let i = self.0.partition_point(|(k, _)| *k < key);
        let mut j = i;
        while j < self.0.len() && self.0[j].1 <= until {
            j += 1;
        }
        self.0.splice(i..j, [(key, until)]);
    }
}

/// A caller who abandoned in a play, still to be given the wait it had by staying.
#[derive(Clone, Debug)]
struct Ghost {
    pos: usize,
    /// Not offered before (its own ring-outs).
    not_before: f64,
    /// Agents its offers rang out on: gone from its own play (a phantom entry brings each
    /// back after the RONA pause).
    excluded: Vec<usize>,
    /// Its offers that rang out.
    rings: usize,
    done: bool,
}

/// The waits of every caller of a group of queues sharing agents, played from one moment.
#[derive(Clone, Debug, Default)]
pub struct GroupForecast {
    at: f64,
    agents: Vec<SharedAgent>,
    patience: Vec<Option<f64>>,
    positions: usize,
    kept: Summaries,
    cfg: Option<EwtConfig>,
    read: Vec<(f64, f64)>,
}

/// What one play needs, kept between plays of one make.
#[derive(Default)]
struct Scratch {
    /// Per lane: the stays of its callers, in key order.
    members: Vec<Vec<Stay>>,
    ptr: Vec<usize>,
    /// Per caller in this play: answered, or a ghost.
    gone: Vec<bool>,
    abandon: Vec<f64>,
    waits: Vec<f64>,
    offsets: Vec<usize>,
    lens: Vec<usize>,
    ready: ReadyByKey,
    ghosts: Vec<Ghost>,
    /// Per lane: ghosts that may be offered in it (index in `ghosts`, the ghost's stay).
    pending: Vec<Vec<(usize, Stay)>>,
    heap: BinaryHeap<Reverse<(Secs, usize, u32)>>,
    /// Per agent: where its call's age falls among its queue's handle times.
    starts: Vec<usize>,
}

impl Scratch {
    fn new(lanes: &Lanes, n: usize) -> Scratch {
        let mut sc = Scratch {
            members: vec![Vec::new(); lanes.count()],
            ptr: vec![0; lanes.count()],
            pending: vec![Vec::new(); lanes.count()],
            ..Scratch::default()
        };
        for g in 0..n {
            for st in lanes.stays(g) {
                sc.members[st.lane].push(st);
            }
        }
        sc
    }
}

impl GroupForecast {
    /// Play the group's future from `at` (seconds) for every caller in `callers` (sorted by
    /// key), with as many plays per caller as its per-caller estimate would draw for the
    /// callers ahead of it in the group. `queues[i].ahead` is not used. Returns `false`
    /// (and holds nothing) when no agent serves the group or it has more than 64 queues.
    /// Every agent takes every caller of the queues it serves ([`Lanes::by_queue`]).
    pub fn make<R: Rng>(
        &mut self,
        cfg: &EwtConfig,
        rng: &mut R,
        at: f64,
        queues: &[SharedQueue<'_>],
        callers: &[GroupCaller],
        agents: &[SharedAgent],
    ) -> bool {
        let lanes = Lanes::by_queue(callers, agents);
        self.make_in_lanes(cfg, rng, at, queues, callers, agents, &lanes)
    }

    /// [`GroupForecast::make`] where who may take which caller, and from when, is
    /// `lanes` (one entry per caller and per agent; the agents' `serves` are then used
    /// only by [`GroupForecast::holds`]). `false` (and nothing held) when `lanes` does not
    /// match the callers and agents.
    #[allow(clippy::too_many_arguments)]
    pub fn make_in_lanes<R: Rng>(
        &mut self,
        cfg: &EwtConfig,
        rng: &mut R,
        at: f64,
        queues: &[SharedQueue<'_>],
        callers: &[GroupCaller],
        agents: &[SharedAgent],
        lanes: &Lanes,
    ) -> bool {
        self.positions = 0;
        self.kept.clear();
        if !self.start(cfg, at, queues, callers, agents, lanes) {
            return false;
        }
        let n = callers.len();
        self.positions = n;
        let mut sc = self.scratch(queues, lanes, n);
        for s in 0..plays_for(cfg, 0) {
            let len = partition(n, |g| plays_for(cfg, g) > s);
            if len == 0 {
                break;
            }
            sc.offsets.push(sc.waits.len());
            sc.lens.push(len);
            self.play(rng, queues, callers, lanes, len, &mut sc);
        }
        let mut column = Vec::new();
        for (g, c) in callers.iter().enumerate() {
            let plays = plays_for(cfg, g).min(sc.lens.len());
            column.clear();
            column.extend((0..plays).map(|s| sc.waits[sc.offsets[s] + g]));
            let p = self.patience[c.queue];
            self.kept.push(&mut column, p);
        }
        self.kept.shrink();
        true
    }

    /// Set up a make (or a lone estimate): `false` when there is nothing to play.
    fn start(
        &mut self,
        cfg: &EwtConfig,
        at: f64,
        queues: &[SharedQueue<'_>],
        callers: &[GroupCaller],
        agents: &[SharedAgent],
        lanes: &Lanes,
    ) -> bool {
        self.agents.clear();
        self.patience.clear();
        if agents.is_empty()
            || queues.is_empty()
            || queues.len() > 64
            || lanes.callers() != callers.len()
            || lanes.agents() != agents.len()
            || callers.iter().any(|c| c.queue >= queues.len())
        {
            self.cfg = None;
            return false;
        }
        debug_assert!(callers.windows(2).all(|w| w[0].key < w[1].key));
        self.cfg = Some(*cfg);
        self.at = at;
        self.agents.extend_from_slice(agents);
        self.patience
            .extend(queues.iter().map(|q| q.model.mean_patience()));
        true
    }

    fn scratch(&self, queues: &[SharedQueue<'_>], lanes: &Lanes, n: usize) -> Scratch {
        let mut sc = Scratch::new(lanes, n);
        sc.starts.extend(self.agents.iter().map(|a| {
            match a.load {
                AgentLoad::Busy { age } => queues
                    .get(a.current)
                    .unwrap_or(&queues[0])
                    .model
                    .residual_start(age.max(0.0)),
                _ => 0,
            }
        }));
        sc
    }

    /// One play of the group's future up to the caller at `len - 1`, appended to
    /// `sc.waits`.
    fn play<R: Rng>(
        &self,
        rng: &mut R,
        queues: &[SharedQueue<'_>],
        callers: &[GroupCaller],
        lanes: &Lanes,
        len: usize,
        sc: &mut Scratch,
    ) {
        let base = sc.waits.len();
        sc.waits.resize(base + len, f64::NAN);
        sc.abandon.clear();
        sc.abandon.extend(callers[..len].iter().map(|c| {
            match (c.may_abandon, self.patience[c.queue]) {
                (true, Some(p)) => exp_sample(rng, p),
                _ => f64::INFINITY,
            }
        }));
        sc.gone.clear();
        sc.gone.resize(len, false);
        sc.ready.clear();
        sc.ghosts.clear();
        for p in &mut sc.pending {
            p.clear();
        }
        for p in &mut sc.ptr {
            *p = 0;
        }
        sc.heap.clear();
        let own = &queues[0];
        for (a, ag) in self.agents.iter().enumerate() {
            let q = queues.get(ag.current).unwrap_or(own);
            let t = match ag.load {
                AgentLoad::FreeIn(s) => s.max(0.0),
                AgentLoad::Busy { age } => {
                    q.model
                        .sample_residual_from(rng, age.max(0.0), sc.starts[a])
                        + q.wrap_up
                }
                AgentLoad::Starting => {
                    q.model.answer_delay(rng) + q.model.sample_handle(rng) + q.wrap_up
                }
            };
            sc.heap.push(Reverse((Secs(t), a, REAL)));
        }
        let mut left = len;
        let mut ring_outs = 0usize;
        while left > 0 {
            let Some(Reverse((Secs(p), a, tag))) = sc.heap.pop() else {
                break; // no agent left: the rest wait forever
            };
            if tag != REAL {
                // An agent back from a RONA pause in a ghost's own play: it takes the ghost.
                let gi = tag as usize;
                if !sc.ghosts[gi].done && self.offer_ghost(rng, queues, callers, sc, base, gi, a, p)
                {
                    left -= 1;
                }
                continue;
            }
            let serves = lanes.agent(a);
            // The earliest caller this agent may take now; callers who left before they
            // could be offered become ghosts; `wake`: when someone enters one of its lanes.
            let mut best: Option<(u64, usize)> = None;
            let mut wake = f64::INFINITY;
            let mut bits = serves;
            while bits != 0 {
                let i = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let Some(list) = sc.members.get(i) else {
                    continue;
                };
                while let Some(st) = list.get(sc.ptr[i]).copied() {
                    let g = st.g;
                    if g >= len {
                        break;
                    }
                    if sc.gone[g] {
                        sc.ptr[i] += 1;
                        continue;
                    }
                    let key = callers[g].key;
                    let t = p.max(sc.ready.at(key));
                    if sc.abandon[g] < t {
                        sc.gone[g] = true;
                        sc.ghosts.push(Ghost {
                            pos: g,
                            not_before: 0.0,
                            excluded: Vec::new(),
                            rings: 0,
                            done: false,
                        });
                        let gi = sc.ghosts.len() - 1;
                        for stay in lanes.stays(g) {
                            sc.pending[stay.lane].push((gi, stay));
                        }
                        sc.ptr[i] += 1;
                        continue;
                    }
                    if st.until <= t {
                        // Moved on to its next lane for good.
                        sc.ptr[i] += 1;
                        continue;
                    }
                    if st.from > t {
                        wake = wake.min(st.from);
                    } else if best.is_none_or(|(k, _)| key < k) {
                        best = Some((key, i));
                    }
                    break;
                }
            }
            // Ghosts with nobody earlier left in this agent's lanes: in their own play this
            // agent takes them now.
            let mut bits = serves;
            while bits != 0 {
                let i = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let mut j = 0;
                while j < sc.pending.get(i).map_or(0, Vec::len) {
                    let (gi, st) = sc.pending[i][j];
                    if sc.ghosts[gi].done || st.until <= p {
                        sc.pending[i].swap_remove(j);
                        continue;
                    }
                    let key = callers[st.g].key;
                    if st.from > p.max(sc.ready.at(key)) {
                        wake = wake.min(st.from);
                        j += 1;
                        continue;
                    }
                    let takes =
                        best.is_none_or(|(k, _)| key < k) && !sc.ghosts[gi].excluded.contains(&a);
                    if takes && self.offer_ghost(rng, queues, callers, sc, base, gi, a, p) {
                        left -= 1;
                        sc.pending[i].swap_remove(j);
                    } else {
                        j += 1;
                    }
                }
            }
            let Some((key, i)) = best else {
                // Nobody to take now: free until someone enters one of its lanes (a tier
                // widening), else idle for good.
                if wake.is_finite() {
                    sc.heap.push(Reverse((Secs(wake), a, REAL)));
                }
                continue;
            };
            let g = sc.members[i][sc.ptr[i]].g;
            let q = &queues[callers[g].queue];
            let t = p.max(sc.ready.at(key));
            match q.model.play_offer(rng) {
                Offer::RingOut => {
                    ring_outs += 1;
                    if ring_outs > MAX_RING_OUTS {
                        break;
                    }
                    let until = t + q.model.ringing.timeout;
                    sc.ready.ring_out(key, until);
                    if let Some(pause) = q.model.ringing.pause {
                        sc.heap.push(Reverse((Secs(until + pause), a, REAL)));
                    }
                }
                Offer::Answer(d) => {
                    ring_outs = 0;
                    sc.waits[base + g] = t + d;
                    left -= 1;
                    sc.gone[g] = true;
                    sc.ptr[i] += 1;
                    let free = t + d + q.model.sample_handle(rng) + q.wrap_up;
                    sc.heap.push(Reverse((Secs(free), a, REAL)));
                }
            }
        }
        // Whoever is left waits forever in this play.
        for w in &mut sc.waits[base..] {
            if w.is_nan() {
                *w = f64::INFINITY;
            }
        }
    }

    /// Agent `a`, popped at `p`, offers ghost `gi` in the ghost's own play: answered (its
    /// wait is set, `true`) or rang out (the agent is gone from that play until its RONA
    /// pause ends, `false`).
    #[allow(clippy::too_many_arguments)]
    fn offer_ghost<R: Rng>(
        &self,
        rng: &mut R,
        queues: &[SharedQueue<'_>],
        callers: &[GroupCaller],
        sc: &mut Scratch,
        base: usize,
        gi: usize,
        a: usize,
        p: f64,
    ) -> bool {
        let pos = sc.ghosts[gi].pos;
        let c = callers[pos];
        let q = &queues[c.queue];
        let t = p.max(sc.ready.at(c.key)).max(sc.ghosts[gi].not_before);
        match q.model.play_offer(rng) {
            Offer::Answer(d) => {
                sc.waits[base + pos] = t + d;
                sc.ghosts[gi].done = true;
                true
            }
            Offer::RingOut => {
                let until = t + q.model.ringing.timeout;
                let ghost = &mut sc.ghosts[gi];
                ghost.not_before = until;
                if !ghost.excluded.contains(&a) {
                    ghost.excluded.push(a);
                }
                ghost.rings += 1;
                if ghost.rings > MAX_RING_OUTS {
                    // Rings out forever: give up on it.
                    sc.waits[base + pos] = f64::INFINITY;
                    ghost.done = true;
                    return true;
                }
                if let Some(pause) = q.model.ringing.pause {
                    let tag = u32::try_from(gi).unwrap_or(REAL - 1);
                    sc.heap.push(Reverse((Secs(until + pause), a, tag)));
                }
                false
            }
        }
    }

    /// The per-caller estimate in lanes: the wait of the caller at `own` (the last of
    /// `callers`, those ahead of it in key order), played as many times as its own estimate
    /// draws for the callers ahead (the law of a forecast's position, without the callers
    /// behind it). `None` when nothing can be played.
    #[allow(clippy::too_many_arguments)]
    pub fn estimate_alone<R: Rng>(
        cfg: &EwtConfig,
        rng: &mut R,
        queues: &[SharedQueue<'_>],
        callers: &[GroupCaller],
        agents: &[SharedAgent],
        lanes: &Lanes,
        within: f64,
        quantile: f64,
    ) -> Option<Estimate> {
        let mut f = GroupForecast::default();
        if !f.start(cfg, 0.0, queues, callers, agents, lanes) {
            return None;
        }
        let own = callers.len().checked_sub(1)?;
        let patience = *f.patience.get(callers[own].queue)?;
        let mut sc = f.scratch(queues, lanes, callers.len());
        let plays = plays_for(cfg, own);
        let mut out = Vec::with_capacity(plays);
        let mut within_weight = 0.0;
        for _ in 0..plays {
            sc.waits.clear();
            f.play(rng, queues, callers, lanes, callers.len(), &mut sc);
            let wait = sc.waits[own];
            let weight = patience.map_or(1.0, |p| (-wait / p).exp());
            if wait <= within {
                within_weight += weight;
            }
            out.push((wait, weight));
        }
        let bound = pick_bound(&mut out, quantile);
        Some(Estimate {
            bound: if bound.is_finite() { bound } else { 86_400.0 },
            p_answered_within: within_weight / plays as f64,
        })
    }

    /// Whether the forecast made at `self.at` still describes the group at `now` with
    /// `agents` (each as the forecast left it, `now - at` seconds on, serving the same
    /// queues) and is no older than `max_age` seconds. The caller checks separately that
    /// no caller left, changed or joined ahead of any caller of the forecast.
    pub fn holds(&self, now: f64, agents: &[SharedAgent], max_age: f64) -> bool {
        let age = now - self.at;
        if self.cfg.is_none()
            || !(0.0..=max_age).contains(&age)
            || agents.len() != self.agents.len()
        {
            return false;
        }
        self.agents.iter().zip(agents).all(|(then, now)| {
            then.serves == now.serves
                && then.current == now.current
                && load_aged_into(then.load, now.load, age)
        })
    }

    /// When it was made, seconds on the engine's clock.
    pub fn made_at(&self) -> f64 {
        self.at
    }

    /// Callers the forecast has waits for.
    pub fn positions(&self) -> usize {
        self.positions
    }

    /// Bytes the forecast holds on the heap between two makes.
    pub fn heap_bytes(&self) -> usize {
        self.kept.heap_bytes()
            + self.agents.capacity() * std::mem::size_of::<SharedAgent>()
            + self.patience.capacity() * std::mem::size_of::<Option<f64>>()
            + self.read.capacity() * 16
    }

    /// The estimate of the caller at `pos` in the group's key order, of queue `queue`,
    /// read at `now` (seconds): the weighted `quantile` of its plays, each `now - at`
    /// seconds shorter. `None` when the forecast holds nothing for it.
    pub fn estimate(
        &mut self,
        pos: usize,
        queue: usize,
        now: f64,
        within: f64,
        quantile: f64,
    ) -> Option<Estimate> {
        self.cfg?;
        if pos >= self.positions {
            return None;
        }
        let patience = *self.patience.get(queue)?;
        let age = (now - self.at).max(0.0);
        self.read.clear();
        self.kept.read(pos, age, patience, &mut self.read);
        if self.read.is_empty() {
            return None;
        }
        let within_weight: f64 = self
            .read
            .iter()
            .filter(|(w, _)| *w <= within)
            .map(|(_, weight)| weight)
            .sum();
        let bound = pick_bound(&mut self.read, quantile);
        Some(Estimate {
            bound: if bound.is_finite() { bound } else { 86_400.0 },
            p_answered_within: within_weight.min(1.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_out_holds_back_the_caller_and_those_behind_only() {
        let mut r = ReadyByKey::default();
        assert_eq!(r.at(5), 0.0);
        r.ring_out(10, 100.0);
        assert_eq!(r.at(9), 0.0);
        assert_eq!(r.at(10), 100.0);
        assert_eq!(r.at(99), 100.0);
        // An earlier caller rings out later: it dominates everyone behind it.
        r.ring_out(5, 150.0);
        assert_eq!(r.at(5), 150.0);
        assert_eq!(r.at(10), 150.0);
        assert_eq!(r.0.len(), 1);
        // A later caller with an earlier end changes nothing.
        r.ring_out(20, 120.0);
        assert_eq!(r.at(20), 150.0);
        assert_eq!(r.0.len(), 1);
        r.ring_out(30, 200.0);
        assert_eq!(r.at(29), 150.0);
        assert_eq!(r.at(30), 200.0);
        assert_eq!(r.at(4), 0.0);
    }
}

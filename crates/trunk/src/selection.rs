//! Choosing a trunk for an outbound call: trunks in priority order, each with a cap on
//! concurrent calls and a calls-per-second token bucket; a trunk over a limit is skipped
//! (and the refusal counted) in favour of the next. Failover after a failed attempt is the
//! caller asking again with the trunks already tried excluded; [`fails_over`] says which
//! failures warrant it.

use std::time::Instant;

/// Index of a trunk in a [`TrunkSet`] (its position in the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrunkId(pub usize);

/// Per-trunk limits; `None` is unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TrunkLimits {
    /// Calls up at once through this trunk.
    pub max_calls: Option<u32>,
    /// New calls per second (burst: one second's worth, at least 1).
    pub calls_per_second: Option<f64>,
}

/// Why a trunk did not take a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum LimitRefusal {
    /// `max_calls` calls are up.
    #[error("max_calls reached")]
    MaxCalls,
    /// `calls_per_second` spent.
    #[error("calls_per_second exceeded")]
    CallsPerSecond,
}

impl LimitRefusal {
    /// snake_case name for metrics and events.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitRefusal::MaxCalls => "max_calls",
            LimitRefusal::CallsPerSecond => "calls_per_second",
        }
    }
}

/// The outcome of [`TrunkSet::acquire`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acquired {
    /// The trunk that took the call (a slot is held); None when none could.
    pub trunk: Option<TrunkId>,
    /// The trunks skipped for a limit on the way, in the order tried.
    pub refused: Vec<(TrunkId, LimitRefusal)>,
}

#[derive(Debug)]
struct Entry {
    priority: u32,
    limits: TrunkLimits,
    active: u32,
    tokens: f64,
    refilled: Option<Instant>,
    refusals: u64,
}

/// The trunks' live call counts and rate budgets.
#[derive(Debug)]
pub struct TrunkSet {
    entries: Vec<Entry>,
    /// Indices sorted by priority (lower first), then configuration order.
    order: Vec<usize>,
}

/// Whether a failed attempt should be retried on the next trunk: a timeout (408), a
/// transport failure or any 5xx (503 included) says the trunk, not the number, failed.
/// 4xx (404, 486, 403, ...) and 6xx are the number's answer and end the attempt.
pub fn fails_over(status: u16) -> bool {
    status == 408 || (500..600).contains(&status)
}

impl TrunkSet {
    /// Trunks with these `(priority, limits)`, in configuration order.
    pub fn new(trunks: impl IntoIterator<Item = (u32, TrunkLimits)>) -> TrunkSet {
        let entries: Vec<Entry> = trunks
            .into_iter()
            .map(|(priority, limits)| Entry {
                priority,
                limits,
                active: 0,
                tokens: burst(&limits),
                refilled: None,
                refusals: 0,
            })
            .collect();
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by_key(|&i| (entries[i].priority, i));
        TrunkSet { entries, order }
    }

    /// Number of trunks.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no trunk is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Takes a call slot on the first trunk by priority that is not in `exclude` and is
    /// within its limits. Release it with [`TrunkSet::release`] when the call ends.
    pub fn acquire(&mut self, now: Instant, exclude: &[TrunkId]) -> Acquired {
        let mut refused = Vec::new();
        for i in self.order.clone() {
            if exclude.contains(&TrunkId(i)) {
                continue;
            }
            match self.take(now, i) {
                Ok(()) => {
                    return Acquired {
                        trunk: Some(TrunkId(i)),
                        refused,
                    }
                }
                Err(why) => refused.push((TrunkId(i), why)),
            }
        }
        Acquired {
            trunk: None,
            refused,
        }
    }

    /// Takes a call slot on exactly `id` (a call the carrier sent us: its calls count
    /// against the same `max_calls` and `calls_per_second` as ours), or says which limit
    /// refused it. Release it with [`TrunkSet::release`] when the call ends.
    pub fn acquire_on(&mut self, now: Instant, id: TrunkId) -> Result<(), LimitRefusal> {
        if id.0 >= self.entries.len() {
            return Err(LimitRefusal::MaxCalls);
        }
        self.take(now, id.0)
    }

    fn take(&mut self, now: Instant, i: usize) -> Result<(), LimitRefusal> {
        let e = &mut self.entries[i];
        if e.limits.max_calls.is_some_and(|m| e.active >= m) {
            e.refusals += 1;
            return Err(LimitRefusal::MaxCalls);
        }
        if let Some(rate) = e.limits.calls_per_second {
            let elapsed = e
                .refilled
                .map(|t| now.saturating_duration_since(t).as_secs_f64())
                .unwrap_or(0.0);
            e.tokens = (e.tokens + elapsed * rate).min(burst(&e.limits));
            e.refilled = Some(now);
            if e.tokens < 1.0 {
                e.refusals += 1;
                return Err(LimitRefusal::CallsPerSecond);
            }
            e.tokens -= 1.0;
        }
        e.active += 1;
        Ok(())
    }

    /// Gives back a slot taken by [`TrunkSet::acquire`].
    pub fn release(&mut self, id: TrunkId) {
        if let Some(e) = self.entries.get_mut(id.0) {
            e.active = e.active.saturating_sub(1);
        }
    }

    /// Calls up through `id`.
    pub fn active(&self, id: TrunkId) -> u32 {
        self.entries.get(id.0).map_or(0, |e| e.active)
    }

    /// Attempts `id` refused for a limit so far.
    pub fn refusals(&self, id: TrunkId) -> u64 {
        self.entries.get(id.0).map_or(0, |e| e.refusals)
    }
}

fn burst(l: &TrunkLimits) -> f64 {
    l.calls_per_second.map_or(0.0, |r| r.max(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits(max_calls: Option<u32>, cps: Option<f64>) -> TrunkLimits {
        TrunkLimits {
            max_calls,
            calls_per_second: cps,
        }
    }

    #[test]
    fn priority_order_then_failover_by_exclusion() {
        let mut s = TrunkSet::new([(20, limits(None, None)), (10, limits(None, None))]);
        let t = Instant::now();
        let first = s.acquire(t, &[]).trunk.unwrap();
        assert_eq!(first, TrunkId(1), "lower priority value first");
        let second = s.acquire(t, &[first]).trunk.unwrap();
        assert_eq!(second, TrunkId(0));
        assert_eq!(
            s.acquire(t, &[first, second]),
            Acquired {
                trunk: None,
                refused: vec![]
            }
        );
        assert_eq!(s.active(first), 1);
        s.release(first);
        assert_eq!(s.active(first), 0);
    }

    #[test]
    fn max_calls_spills_to_the_next_trunk_and_counts() {
        let mut s = TrunkSet::new([(1, limits(Some(1), None)), (2, limits(Some(1), None))]);
        let t = Instant::now();
        assert_eq!(s.acquire(t, &[]).trunk, Some(TrunkId(0)));
        let spill = s.acquire(t, &[]);
        assert_eq!(spill.trunk, Some(TrunkId(1)));
        assert_eq!(spill.refused, vec![(TrunkId(0), LimitRefusal::MaxCalls)]);
        let err = s.acquire(t, &[]);
        assert_eq!(err.trunk, None);
        assert_eq!(
            err.refused,
            vec![
                (TrunkId(0), LimitRefusal::MaxCalls),
                (TrunkId(1), LimitRefusal::MaxCalls)
            ]
        );
        assert_eq!(
            s.refusals(TrunkId(0)),
            2,
            "second and third attempts skipped it"
        );
        s.release(TrunkId(0));
        assert_eq!(s.acquire(t, &[]).trunk, Some(TrunkId(0)));
    }

    #[test]
    fn calls_per_second_is_a_token_bucket_on_the_given_clock() {
        let mut s = TrunkSet::new([(1, limits(None, Some(2.0)))]);
        let t = Instant::now();
        let ok = |a: Acquired| a.trunk.is_some();
        assert!(ok(s.acquire(t, &[])));
        assert!(ok(s.acquire(t, &[])));
        assert_eq!(
            s.acquire(t, &[]).refused,
            vec![(TrunkId(0), LimitRefusal::CallsPerSecond)]
        );
        assert!(ok(s.acquire(t + Duration::from_millis(500), &[])));
        assert!(!ok(s.acquire(t + Duration::from_millis(500), &[])));
        // A long pause refills to the burst only.
        let later = t + Duration::from_secs(60);
        assert!(ok(s.acquire(later, &[])));
        assert!(ok(s.acquire(later, &[])));
        assert!(!ok(s.acquire(later, &[])));
    }

    #[test]
    fn which_failures_fail_over() {
        for s in [408, 500, 502, 503, 504] {
            assert!(fails_over(s), "{s}");
        }
        for s in [403, 404, 480, 486, 487, 603] {
            assert!(!fails_over(s), "{s}");
        }
    }

    #[test]
    fn inbound_calls_take_slots_on_their_own_trunk_and_push_outbound_dials_over() {
        let now = Instant::now();
        let mut set = TrunkSet::new([(1, limits(Some(1), None)), (2, limits(None, None))]);
        assert_eq!(set.acquire_on(now, TrunkId(0)), Ok(()));
        assert_eq!(
            set.acquire_on(now, TrunkId(0)),
            Err(LimitRefusal::MaxCalls),
            "a second inbound call on a max_calls = 1 trunk"
        );
        let got = set.acquire(now, &[]);
        assert_eq!(got.trunk, Some(TrunkId(1)), "the outbound dial fails over");
        assert_eq!(got.refused, vec![(TrunkId(0), LimitRefusal::MaxCalls)]);
        set.release(TrunkId(0));
        assert_eq!(set.acquire_on(now, TrunkId(0)), Ok(()));
        assert_eq!(set.refusals(TrunkId(0)), 2);
        assert_eq!(
            set.acquire_on(now, TrunkId(9)),
            Err(LimitRefusal::MaxCalls),
            "an unknown id takes nothing"
        );
    }
}

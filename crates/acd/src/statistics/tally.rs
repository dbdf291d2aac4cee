//! One queue's counters over one window (the current interval or the day) and the
//! figures derived from them; see the parent module for the formulas.

use std::time::Duration;

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
    pub(super) fn new(since: Duration) -> Tally {
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

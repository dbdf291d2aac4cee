//! The call's timers as data: one optional deadline per kind.

use std::time::Instant;

/// A timer of the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// The IVR waits for digits: when it passes (and the prompts have finished) the
    /// interpreter gets a timeout.
    Collect,
    /// The dialplan's `max_wait` for this call in its queue (the queue's own limit is the
    /// ACD's timer, not this one).
    MaxWait,
    /// An outbound call's leg rings too long (`outbound.rs`).
    Ring,
}

#[derive(Debug, Default)]
pub(crate) struct Timers {
    collect: Option<Instant>,
    max_wait: Option<Instant>,
    ring: Option<Instant>,
    /// The collect deadline passed while prompts still played: it fires on the first
    /// timeout after they stop, and is not reported by `next` meanwhile.
    pub(crate) collect_held: bool,
}

impl Timers {
    pub(crate) fn set(&mut self, t: Timer, at: Option<Instant>) {
        match t {
            Timer::Collect => {
                self.collect = at;
                self.collect_held = false;
            }
            Timer::MaxWait => self.max_wait = at,
            Timer::Ring => self.ring = at,
        }
    }

    pub(crate) fn get(&self, t: Timer) -> Option<Instant> {
        match t {
            Timer::Collect => self.collect,
            Timer::MaxWait => self.max_wait,
            Timer::Ring => self.ring,
        }
    }

    /// True (and cleared) when `t` is due at `now`.
    pub(crate) fn expire(&mut self, t: Timer, now: Instant) -> bool {
        let due = self.get(t).is_some_and(|d| now >= d);
        if due {
            self.set(t, None);
        }
        due
    }

    /// The earliest deadline the driver must wake for. `max_wait` only counts while the
    /// call is `queued` (while an agent rings it waits; it fires when the call is back).
    pub(crate) fn next(&self, queued: bool) -> Option<Instant> {
        let collect = self.collect.filter(|_| !self.collect_held);
        let max_wait = self.max_wait.filter(|_| queued);
        [collect, max_wait, self.ring].into_iter().flatten().min()
    }
}

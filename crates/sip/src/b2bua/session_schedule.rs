//! The schedule of the calls' RFC 4028 session-timer deadlines, kept like the transaction
//! layer's (`transaction/timers.rs`): an ordered set of (deadline, call) plus a list of
//! calls touched since it was last brought up to date. Every `call_mut` marks its call
//! touched; the end of every entry point re-files only those calls, so neither
//! `poll_timeout` nor `handle_timeout` walks the calls: the work per message does not grow
//! with the number of calls (issue #11).

use std::collections::BTreeSet;

use super::*;

/// Session-timer deadlines of the calls, earliest first.
#[derive(Debug, Default)]
pub(super) struct SessionSchedule {
    /// (earliest session-timer deadline of a call, the call); one entry per call at most.
    filed: BTreeSet<(Instant, CallKey)>,
    /// Calls whose timers may have changed since the last flush (each once: `Call::touched`).
    dirty: Vec<CallKey>,
    /// How many calls have been (re)examined so far: the schedule's work, for tests.
    examined: u64,
}

impl Call {
    /// The earliest deadline of this call's session timers (none once it ended).
    fn session_deadline(&self) -> Option<Instant> {
        if self.ended {
            return None;
        }
        let a = self.a.as_ref().and_then(|a| a.timer.as_ref());
        let b = self
            .b
            .as_ref()
            .and_then(|b| b.session.as_ref()?.timer.as_ref());
        [a, b]
            .into_iter()
            .flatten()
            .filter_map(|t| t.poll_timeout())
            .min()
    }
}

impl B2bua {
    /// The call behind `key`, to change: marked so that its session-timer deadline is
    /// re-filed at the end of this entry point.
    pub(super) fn call_mut(&mut self, key: CallKey) -> Option<&mut Call> {
        let c = self
            .calls
            .get_mut(key.index as usize)
            .filter(|c| c.generation == key.generation)?;
        if !c.touched {
            c.touched = true;
            self.sessions.dirty.push(key);
        }
        Some(c)
    }

    /// The earliest session-timer deadline of any call.
    pub(super) fn session_poll_timeout(&self) -> Option<Instant> {
        let filed = self.sessions.filed.first().map(|(t, _)| *t);
        // Empty after every entry point; folded in so the answer is right between.
        let dirty = self
            .sessions
            .dirty
            .iter()
            .filter_map(|k| self.call(*k)?.session_deadline())
            .min();
        match (filed, dirty) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Re-files every call touched since the last flush under its earliest deadline.
    pub(super) fn flush_session_schedule(&mut self) {
        let s = &mut self.sessions;
        for key in std::mem::take(&mut s.dirty) {
            let Some(c) = self
                .calls
                .get_mut(key.index as usize)
                .filter(|c| c.generation == key.generation)
            else {
                continue;
            };
            c.touched = false;
            s.examined += 1;
            let next = c.session_deadline();
            if next == c.timer_filed {
                continue;
            }
            if let Some(old) = c.timer_filed {
                s.filed.remove(&(old, key));
            }
            if let Some(new) = next {
                s.filed.insert((new, key));
            }
            c.timer_filed = next;
        }
    }

    /// Takes the calls whose session-timer deadline is not after `now` off the schedule,
    /// earliest first (marked touched: re-filed at the next flush).
    pub(super) fn due_session_calls(&mut self, now: Instant) -> Vec<CallKey> {
        self.flush_session_schedule();
        let mut due = Vec::new();
        while let Some(&(at, key)) = self.sessions.filed.first() {
            if at > now {
                break;
            }
            self.sessions.filed.pop_first();
            if let Some(c) = self.call_mut(key) {
                c.timer_filed = None;
            }
            due.push(key);
        }
        due
    }

    /// A removed call leaves the schedule.
    pub(super) fn unfile_session(&mut self, key: CallKey, filed: Option<Instant>) {
        if let Some(at) = filed {
            self.sessions.filed.remove(&(at, key));
        }
    }

    /// Calls with a session-timer deadline on the schedule.
    pub fn session_timer_calls(&self) -> usize {
        self.sessions.filed.len()
    }

    /// How many times a call's session timers have been examined to keep the schedule
    /// (a work counter: it grows with the calls touched, not with the calls held).
    pub fn session_timer_examined(&self) -> u64 {
        self.sessions.examined
    }
}

//! When the call task next wakes without a packet or a signal. A call that produces
//! audio itself (prompts, music on hold, the agent's whisper, a supervisor's mix) needs
//! the 20 ms frame cadence; a plain bridge does not: it relays on packet arrival and only
//! has timers as data (RTCP reports, the media-inactivity timeout, a DTMF event's end,
//! the queue's max wait, the IVR's collect timeout), so it sleeps until the earliest of
//! them. Issue 16 measured the 20 ms tick of every bridged call as pure overhead.

use super::*;

/// The frame cadence of the old tick: audio we produce is paced at this period, and no
/// timer is handled more often than this.
pub(super) const CADENCE: Duration = Duration::from_millis(20);

/// How long a call with no due timer sleeps before it looks again (a safety net: every
/// state change that adds a deadline happens inside the task, which recomputes it).
const IDLE: Duration = Duration::from_secs(3600);

/// The next wake-up after the task last woke at `last`. With `cadence` it is `last +
/// CADENCE`; otherwise the earliest of `deadlines`, but never sooner than `last +
/// CADENCE` (a deadline already due waits for that, exactly as the tick did, so a timer
/// that its handler cannot clear never spins the task).
pub(super) fn next_wake(
    cadence: bool,
    last: Instant,
    deadlines: impl IntoIterator<Item = Option<Instant>>,
) -> Instant {
    let floor = last + CADENCE;
    if cadence {
        return floor;
    }
    deadlines
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(last + IDLE)
        .max(floor)
}

impl CallTask {
    /// Whether this call produces audio on a clock (prompts, whisper, supervision) or
    /// only relays: see the module doc.
    fn needs_cadence(&self) -> bool {
        self.bridge.is_none() || self.b_player.is_some() || self.supervision.is_some()
    }

    /// The next wake-up after `last` (see [`next_wake`]).
    pub(super) fn next_wake(&self, last: Instant) -> Instant {
        next_wake(
            self.needs_cadence(),
            last,
            [
                self.a.session.poll_timeout(),
                self.b.as_ref().and_then(|b| b.session.poll_timeout()),
                self.a.dtmf.poll_timeout(),
                // The queue's max wait (only while queued) and the IVR's collect timeout.
                self.flow.poll_timeout(),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_that_plays_audio_wakes_every_frame() {
        let t = Instant::now();
        let soon = Some(t + Duration::from_millis(5));
        assert_eq!(next_wake(true, t, [soon]), t + CADENCE);
        assert_eq!(next_wake(true, t, []), t + CADENCE);
    }

    #[test]
    fn a_plain_bridge_sleeps_until_its_earliest_timer() {
        let t = Instant::now();
        let rtcp = Some(t + Duration::from_millis(4_700));
        let inactivity = Some(t + Duration::from_secs(30));
        assert_eq!(
            next_wake(false, t, [inactivity, None, rtcp]),
            t + Duration::from_millis(4_700)
        );
    }

    #[test]
    fn a_due_timer_waits_for_the_cadence_and_never_spins() {
        let t = Instant::now();
        let overdue = Some(t - Duration::from_secs(1));
        assert_eq!(next_wake(false, t, [overdue]), t + CADENCE);
        assert_eq!(
            next_wake(false, t, [Some(t + Duration::from_millis(3))]),
            t + CADENCE
        );
    }

    #[test]
    fn no_timer_at_all_sleeps_long_but_not_forever() {
        let t = Instant::now();
        let w = next_wake(false, t, [None, None]);
        assert!(w > t + Duration::from_secs(60));
        assert_eq!(w, t + IDLE);
    }
}

//! RFC 3261 transaction timers as data: an enum of timer kinds and a fixed table of deadlines.
//!
//! A transaction never reads a clock. It arms deadlines computed from the `now` it was given,
//! and the owner asks the table for the earliest one ([`TimerTable::earliest`]).

use std::time::{Duration, Instant};

/// The timers of RFC 3261 §17 (table 4) and RFC 6026, plus one for the UAS core's 2xx
/// retransmission (RFC 3261 §13.3.1.4), which this crate runs inside the INVITE server
/// transaction's Accepted state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// INVITE client: request retransmit interval (UDP only), starts at T1 and doubles.
    A = 0,
    /// INVITE client: transaction timeout, 64*T1.
    B,
    /// INVITE client: wait time for response retransmits in Completed (32 s UDP, 0 reliable).
    D,
    /// Non-INVITE client: request retransmit interval (UDP only), doubles up to T2.
    E,
    /// Non-INVITE client: transaction timeout, 64*T1.
    F,
    /// INVITE server: final (non-2xx) response retransmit interval, doubles up to T2.
    G,
    /// INVITE server: wait time for ACK receipt, 64*T1.
    H,
    /// INVITE server: wait time for ACK retransmits in Confirmed (T4 UDP, 0 reliable).
    I,
    /// Non-INVITE server: wait time for request retransmits in Completed (64*T1 UDP, 0 reliable).
    J,
    /// Non-INVITE client: wait time for response retransmits in Completed (T4 UDP, 0 reliable).
    K,
    /// INVITE server (RFC 6026): wait time in Accepted for INVITE and ACK retransmits, 64*T1.
    L,
    /// INVITE client (RFC 6026): wait time in Accepted for 2xx retransmits and forks, 64*T1.
    M,
    /// UAS core (RFC 3261 §13.3.1.4): 2xx retransmit interval until the ACK arrives (UDP only),
    /// starts at T1 and doubles up to T2. Gives up when timer L fires.
    Retransmit2xx,
}

impl Timer {
    /// Number of timer kinds (size of a [`TimerTable`]).
    pub const COUNT: usize = 13;
    /// Every timer kind, in table order.
    pub const ALL: [Timer; Timer::COUNT] = [
        Timer::A,
        Timer::B,
        Timer::D,
        Timer::E,
        Timer::F,
        Timer::G,
        Timer::H,
        Timer::I,
        Timer::J,
        Timer::K,
        Timer::L,
        Timer::M,
        Timer::Retransmit2xx,
    ];
}

/// One deadline per [`Timer`] kind; `None` means disarmed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimerTable {
    at: [Option<Instant>; Timer::COUNT],
}

impl TimerTable {
    /// Arms `t` to fire at `at` (replacing any earlier deadline of the same kind).
    pub fn arm(&mut self, t: Timer, at: Instant) {
        self.at[t as usize] = Some(at);
    }
    /// Disarms `t`.
    pub fn disarm(&mut self, t: Timer) {
        self.at[t as usize] = None;
    }
    /// Disarms every timer.
    pub fn clear(&mut self) {
        self.at = [None; Timer::COUNT];
    }
    /// The deadline of `t`, if armed.
    pub fn get(&self, t: Timer) -> Option<Instant> {
        self.at[t as usize]
    }
    /// True when `t` is armed and its deadline is not after `now`.
    pub fn is_expired(&self, t: Timer, now: Instant) -> bool {
        self.at[t as usize].is_some_and(|d| d <= now)
    }
    /// The earliest armed deadline.
    pub fn earliest(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }
    /// The expired timer with the earliest deadline, disarming it. Call repeatedly until `None`.
    pub fn take_expired(&mut self, now: Instant) -> Option<Timer> {
        let mut best: Option<(Timer, Instant)> = None;
        for t in Timer::ALL {
            if let Some(d) = self.at[t as usize] {
                if d <= now && best.is_none_or(|(_, b)| d < b) {
                    best = Some((t, d));
                }
            }
        }
        let (t, _) = best?;
        self.disarm(t);
        Some(t)
    }
}

/// The base intervals of RFC 3261 §17.1.1.1 and table 4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate, default 500 ms.
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses, default 4 s.
    pub t2: Duration,
    /// Maximum time a message remains in the network, default 5 s.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl TimerConfig {
    /// 64*T1: timers B, F, H, L, M and the J interval on UDP.
    pub fn timeout(&self) -> Duration {
        self.t1.saturating_mul(64)
    }
    /// Timer D on unreliable transports: at least 32 s (RFC 3261 table 4), or 64*T1 if larger.
    pub fn timer_d(&self) -> Duration {
        self.timeout().max(Duration::from_secs(32))
    }
    /// The retransmit interval after `current`: doubled, capped at T2.
    pub fn backoff_capped(&self, current: Duration) -> Duration {
        current.saturating_mul(2).min(self.t2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_and_take_expired_follow_deadlines() {
        let t0 = crate::test_epoch();
        let mut tt = TimerTable::default();
        assert_eq!(tt.earliest(), None);
        tt.arm(Timer::B, t0 + Duration::from_secs(32));
        tt.arm(Timer::A, t0 + Duration::from_millis(500));
        assert_eq!(tt.earliest(), Some(t0 + Duration::from_millis(500)));
        assert_eq!(tt.take_expired(t0), None);
        assert_eq!(
            tt.take_expired(t0 + Duration::from_secs(40)),
            Some(Timer::A)
        );
        assert_eq!(
            tt.take_expired(t0 + Duration::from_secs(40)),
            Some(Timer::B)
        );
        assert_eq!(tt.take_expired(t0 + Duration::from_secs(40)), None);
        assert_eq!(tt.earliest(), None);
    }

    #[test]
    fn backoff_caps_at_t2() {
        let c = TimerConfig::default();
        assert_eq!(
            c.backoff_capped(Duration::from_millis(500)),
            Duration::from_secs(1)
        );
        assert_eq!(
            c.backoff_capped(Duration::from_secs(4)),
            Duration::from_secs(4)
        );
        assert_eq!(c.timeout(), Duration::from_secs(32));
        assert_eq!(c.timer_d(), Duration::from_secs(32));
    }
}

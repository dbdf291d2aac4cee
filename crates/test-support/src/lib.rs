//! Test fixtures shared by the core crates' tests: the base instant of a simulated clock,
//! and a stopwatch for the few tests that measure real time. It is a dev-dependency only;
//! the cores themselves never read a clock (their `clippy.toml` forbids it), and their
//! tests take the one real instant they need from here.
#![warn(missing_docs)]

use std::time::{Duration, Instant};

/// A base instant for simulated time: tests add offsets to it and never wait on it.
pub fn epoch() -> Instant {
    Instant::now()
}

/// A simulated clock: starts at [`epoch`], moves only when told.
#[derive(Clone, Copy, Debug)]
pub struct SimClock {
    now: Instant,
}

impl SimClock {
    /// A clock at a fresh epoch.
    pub fn new() -> SimClock {
        SimClock { now: epoch() }
    }

    /// The current simulated time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Moves time forward by `d`; returns the new time.
    pub fn advance(&mut self, d: Duration) -> Instant {
        self.now += d;
        self.now
    }
}

impl Default for SimClock {
    fn default() -> Self {
        SimClock::new()
    }
}

/// Measures real elapsed time (for ignored measurement tests, never for assertions on
/// absolute speed).
pub struct Stopwatch(Instant);

impl Stopwatch {
    /// Starts measuring.
    pub fn start() -> Stopwatch {
        Stopwatch(Instant::now())
    }

    /// Time since [`Stopwatch::start`].
    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sim_clock_moves_only_when_told() {
        let mut c = SimClock::new();
        let t0 = c.now();
        assert_eq!(c.now(), t0);
        assert_eq!(
            c.advance(Duration::from_millis(20)) - t0,
            Duration::from_millis(20)
        );
    }
}

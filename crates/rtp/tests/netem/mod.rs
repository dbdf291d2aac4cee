//! A seeded, I/O-free network impairment model (netem-style) for simulation tests:
//! base latency, jitter, random and bursty (Gilbert-Elliott) loss, reordering through
//! extra delay, duplication.
#![allow(dead_code)]

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

/// Impairment profile.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Profile {
    /// Fixed one-way latency.
    pub(crate) latency: Duration,
    /// Extra delay drawn uniformly from `0..=jitter`.
    pub(crate) jitter: Duration,
    /// Probability of entering the "bad" (lossy) state per packet in the good state.
    pub(crate) p_good_to_bad: f64,
    /// Probability of leaving the bad state per packet.
    pub(crate) p_bad_to_good: f64,
    /// Loss probability in the good state.
    pub(crate) loss_good: f64,
    /// Loss probability in the bad state.
    pub(crate) loss_bad: f64,
    /// Probability a packet is held back an extra `reorder_delay`.
    pub(crate) reorder: f64,
    /// Extra delay for reordered packets.
    pub(crate) reorder_delay: Duration,
    /// Probability a packet is delivered twice.
    pub(crate) duplicate: f64,
}

impl Profile {
    /// No impairment besides latency.
    pub(crate) fn clean(latency: Duration) -> Self {
        Profile {
            latency,
            jitter: Duration::ZERO,
            p_good_to_bad: 0.0,
            p_bad_to_good: 1.0,
            loss_good: 0.0,
            loss_bad: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            duplicate: 0.0,
        }
    }
}

/// The emulator: decides, per sent packet, the delays after which copies arrive.
pub(crate) struct Netem {
    profile: Profile,
    rng: SmallRng,
    bad: bool,
    /// Packets lost so far.
    pub(crate) lost: u64,
    /// Packets offered so far.
    pub(crate) sent: u64,
}

impl Netem {
    /// A seeded emulator.
    pub(crate) fn new(profile: Profile, seed: u64) -> Self {
        Netem {
            profile,
            rng: SmallRng::seed_from_u64(seed),
            bad: false,
            lost: 0,
            sent: 0,
        }
    }

    /// Delays after which copies of one packet arrive (empty = lost).
    pub(crate) fn transit(&mut self) -> Vec<Duration> {
        let p = self.profile;
        self.sent += 1;
        self.bad = if self.bad {
            !self.rng.gen_bool(p.p_bad_to_good)
        } else {
            self.rng.gen_bool(p.p_good_to_bad)
        };
        let loss = if self.bad { p.loss_bad } else { p.loss_good };
        if self.rng.gen_bool(loss) {
            self.lost += 1;
            return vec![];
        }
        let copies = if self.rng.gen_bool(p.duplicate) { 2 } else { 1 };
        (0..copies)
            .map(|_| {
                let mut d = p.latency + p.jitter.mul_f64(self.rng.gen::<f64>());
                if self.rng.gen_bool(p.reorder) {
                    d += p.reorder_delay;
                }
                d
            })
            .collect()
    }
}

/// Base of the simulated clock (any instant; time then moves only by additions).
#[allow(clippy::disallowed_methods)]
pub(crate) fn epoch() -> std::time::Instant {
    switchboard_test_support::epoch()
}

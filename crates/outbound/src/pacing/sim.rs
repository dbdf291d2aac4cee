//! A discrete-event simulator of an agent campaign, to measure a pacing policy: agents,
//! dials with random outcomes and answer delays, calls with random handle times, and the
//! abandon rate over every sliding window. Deterministic: the same [`CampaignModel`] (seed
//! included) gives the same [`SimReport`]. No clock: time is simulated in milliseconds.
//!
//! The call model (the figures are the simulator's assumptions, see docs/outbound.md):
//! a dial is answered by a person with probability `answer_rate`, after a ring of 4–20 s
//! (uniform); otherwise a quarter of the dials are busy or fail after 1–5 s and the rest
//! ring out at 30 s. An answered call with a free agent is connected at once; with none it
//! is abandoned. A handled call lasts `mean_handle` on average: a talk part drawn from a
//! gamma distribution (shape 2, mean 85 % of it) and a fixed wrap-up (15 % of it).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use super::{PacingConfig, PredictivePacer};

/// One simulated campaign.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CampaignModel {
    /// Agents logged in for the whole campaign.
    pub agents: u32,
    /// Share of dials a person answers.
    pub answer_rate: f64,
    /// From this campaign time on, the share is the second figure instead (people come
    /// home in the evening): how the pacer copes with a change it must notice.
    pub answer_rate_change: Option<(Duration, f64)>,
    /// Mean handle time (talk + wrap-up).
    pub mean_handle: Duration,
    /// Simulated campaign time.
    pub duration: Duration,
    /// The random seed.
    pub seed: u64,
}

/// How the simulated campaign decides how many numbers to dial.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DialPolicy {
    /// One dial per free agent not already covered by a dial in flight.
    Progressive,
    /// A [`PredictivePacer`] with this configuration.
    Predictive(PacingConfig),
}

/// What a simulated campaign measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimReport {
    /// Numbers dialled.
    pub dials: u64,
    /// Dials a person answered.
    pub answered: u64,
    /// Answered calls that found no free agent.
    pub abandoned: u64,
    /// `abandoned / answered` over the whole campaign.
    pub abandon_rate: f64,
    /// The worst abandon rate of any sliding window of `window` ending at a whole minute
    /// (windows at the start of the campaign hold less than `window` of calls).
    pub worst_window_abandon_rate: f64,
    /// Where the worst window ends (campaign time) and the calls it holds.
    pub worst_window_end: Duration,
    /// Answered calls in the worst window.
    pub worst_window_answered: u64,
    /// Agents' talk time (without wrap-up) over their logged-in time.
    pub talk_share: f64,
    /// Agents' handle time (talk + wrap-up) over their logged-in time.
    pub occupancy: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Happening {
    /// A dial ends: answered by a person or not.
    DialEnds { answered: bool },
    /// An agent's call and wrap-up end after this many milliseconds in all.
    HandleEnds { handle_ms: u64 },
    /// The once-a-second decision tick.
    Tick,
}

/// SplitMix64: small, fast, and the same numbers on every platform and version.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }
}

const MINUTE_MS: u64 = 60_000;

/// Runs one campaign with `policy` and measures it against a `window` (24 h for the cap).
pub fn simulate(model: &CampaignModel, policy: DialPolicy, window: Duration) -> SimReport {
    let end_ms = model.duration.as_millis() as u64;
    let mut rng = Rng(model.seed);
    let mut pacer = match policy {
        DialPolicy::Progressive => None,
        DialPolicy::Predictive(cfg) => Some(PredictivePacer::new(cfg)),
    };
    let mut queue: BinaryHeap<Reverse<(u64, u64, Happening)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |queue: &mut BinaryHeap<_>, at: u64, what: Happening| {
        seq += 1;
        queue.push(Reverse((at, seq, what)));
    };
    push(&mut queue, 0, Happening::Tick);

    let minutes = (end_ms / MINUTE_MS + 1) as usize;
    let mut per_minute = vec![(0u64, 0u64); minutes];
    let mut free = model.agents;
    let mut in_flight = 0u32;
    let (mut dials, mut answered, mut abandoned) = (0u64, 0u64, 0u64);
    let (mut talk_ms, mut handle_ms_total) = (0u64, 0u64);
    let handle_mean_s = model.mean_handle.as_secs_f64();
    let wrap_s = 0.15 * handle_mean_s;

    while let Some(Reverse((now_ms, _, what))) = queue.pop() {
        if now_ms >= end_ms {
            break;
        }
        let now = Duration::from_millis(now_ms);
        let minute = (now_ms / MINUTE_MS) as usize;
        match what {
            Happening::Tick => push(&mut queue, now_ms + 1000, Happening::Tick),
            Happening::DialEnds { answered: false } => {
                in_flight -= 1;
                if let Some(p) = pacer.as_mut() {
                    p.on_no_answer(now);
                }
            }
            Happening::DialEnds { answered: true } => {
                in_flight -= 1;
                answered += 1;
                per_minute[minute].0 += 1;
                if let Some(p) = pacer.as_mut() {
                    p.on_answer(now);
                }
                if free > 0 {
                    free -= 1;
                    let talk_s = rng.exponential(0.425 * handle_mean_s)
                        + rng.exponential(0.425 * handle_mean_s);
                    let talk = (talk_s * 1000.0) as u64;
                    let handle = talk + (wrap_s * 1000.0) as u64;
                    talk_ms += talk.min(end_ms - now_ms);
                    handle_ms_total += handle.min(end_ms - now_ms);
                    push(
                        &mut queue,
                        now_ms + handle,
                        Happening::HandleEnds { handle_ms: handle },
                    );
                    if let Some(p) = pacer.as_mut() {
                        p.on_agent_connected(now);
                    }
                } else {
                    abandoned += 1;
                    per_minute[minute].1 += 1;
                    if let Some(p) = pacer.as_mut() {
                        p.on_abandon(now);
                    }
                }
            }
            Happening::HandleEnds { handle_ms } => {
                free += 1;
                if let Some(p) = pacer.as_mut() {
                    p.on_handle_end(now, Duration::from_millis(handle_ms));
                }
            }
        }
        let to_dial = match pacer.as_mut() {
            None => free.saturating_sub(in_flight),
            Some(p) => p.dials_to_place(now, free, in_flight),
        };
        for _ in 0..to_dial {
            dials += 1;
            in_flight += 1;
            if let Some(p) = pacer.as_mut() {
                p.on_dial(now);
            }
            let rate = match model.answer_rate_change {
                Some((at, rate)) if now >= at => rate,
                _ => model.answer_rate,
            };
            let (after_s, answered) = if rng.unit() < rate {
                (rng.uniform(4.0, 20.0), true)
            } else if rng.unit() < 0.25 {
                (rng.uniform(1.0, 5.0), false)
            } else {
                (30.0, false)
            };
            push(
                &mut queue,
                now_ms + (after_s * 1000.0) as u64,
                Happening::DialEnds { answered },
            );
        }
    }

    let window_minutes = (window.as_millis() as u64 / MINUTE_MS).max(1) as usize;
    let mut worst = 0.0f64;
    let (mut worst_end, mut worst_answered) = (0usize, 0u64);
    let (mut win_answered, mut win_abandoned) = (0u64, 0u64);
    for (i, &(a, x)) in per_minute.iter().enumerate() {
        win_answered += a;
        win_abandoned += x;
        if i >= window_minutes {
            win_answered -= per_minute[i - window_minutes].0;
            win_abandoned -= per_minute[i - window_minutes].1;
        }
        if win_answered > 0 && win_abandoned as f64 / win_answered as f64 > worst {
            worst = win_abandoned as f64 / win_answered as f64;
            (worst_end, worst_answered) = (i + 1, win_answered);
        }
    }
    let agent_ms = (u64::from(model.agents) * end_ms).max(1) as f64;
    SimReport {
        dials,
        answered,
        abandoned,
        abandon_rate: if answered == 0 {
            0.0
        } else {
            abandoned as f64 / answered as f64
        },
        worst_window_abandon_rate: worst,
        worst_window_end: Duration::from_secs(worst_end as u64 * 60),
        worst_window_answered: worst_answered,
        talk_share: talk_ms as f64 / agent_ms,
        occupancy: handle_ms_total as f64 / agent_ms,
    }
}

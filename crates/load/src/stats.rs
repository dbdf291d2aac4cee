//! Accounting of a run: outcomes by cause, latency samples and their percentiles, and the
//! per-direction media totals. Every call ends in exactly one [`Outcome`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Nearest-rank percentile (`p` in 0..=100) of unsorted samples; `None` when empty.
pub(crate) fn percentile(samples: &mut [f64], p: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    Some(samples[rank.clamp(1, samples.len()) - 1])
}

/// The whole seconds after `t0` in which most of `ends` fall: up to `top` of them as
/// (second, how many), most first (earlier first among equals). Streams whose longest
/// silences end in the same second were held up together (a stalled process), where
/// silences of each stream's own are spread over the run.
pub(crate) fn busiest_seconds(ends: &[Instant], t0: Instant, top: usize) -> Vec<(u64, usize)> {
    let mut per: BTreeMap<u64, usize> = BTreeMap::new();
    for e in ends {
        *per.entry(e.saturating_duration_since(t0).as_secs())
            .or_default() += 1;
    }
    let mut v: Vec<(u64, usize)> = per.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(top);
    v
}

/// Media totals of one direction, summed over the calls that measured it.
#[derive(Default, Clone, Debug)]
pub(crate) struct Direction {
    pub(crate) expected: u64,
    pub(crate) received: u64,
    pub(crate) lost: u64,
    /// Per-stream jitter at the call's end, ms.
    pub(crate) jitter_ms: Vec<f64>,
    /// Per-stream longest time between two arrivals, ms.
    pub(crate) max_interarrival_ms: Vec<f64>,
    /// Per stream: when its longest silence ended, and how far into the stream (ms).
    pub(crate) gap_ends: Vec<Instant>,
    pub(crate) gap_into_stream_ms: Vec<f64>,
    /// Answer to the first frame of the other side's tone, ms.
    pub(crate) answer_to_audio_ms: Vec<f64>,
    /// Sampled calls whose audio check ran, and those of them that failed it.
    pub(crate) sampled: u64,
    pub(crate) sampled_failed: u64,
    /// Longest tone gap of any sampled call, ms.
    pub(crate) worst_gap_ms: f64,
    /// Forward sequence-number jumps, and the largest jump (packets).
    pub(crate) seq_gaps: u64,
    pub(crate) max_seq_gap: u32,
    /// Streams whose sequence restarted (RFC 3550 A.1), and stray packets discarded.
    pub(crate) restarted_streams: u64,
    pub(crate) discarded: u64,
}

impl Direction {
    pub(crate) fn loss_pct(&self) -> f64 {
        if self.expected == 0 {
            0.0
        } else {
            100.0 * self.lost as f64 / self.expected as f64
        }
    }

    pub(crate) fn add_stream(&mut self, m: &StreamReport) {
        self.expected += m.expected;
        self.received += m.received;
        self.lost += m.lost;
        self.seq_gaps += m.seq_gaps;
        self.max_seq_gap = self.max_seq_gap.max(m.max_seq_gap);
        self.restarted_streams += u64::from(m.restarts > 0);
        self.discarded += m.discarded;
        self.jitter_ms.push(m.jitter_ms);
        self.max_interarrival_ms
            .push(m.max_interarrival.as_secs_f64() * 1000.0);
        if let Some((end, into)) = m.max_interarrival_end {
            self.gap_ends.push(end);
            self.gap_into_stream_ms.push(into.as_secs_f64() * 1000.0);
        }
        if let Some(a) = m.answer_to_audio {
            self.answer_to_audio_ms.push(a.as_secs_f64() * 1000.0);
        }
        if let Some(ok) = m.sampled_ok {
            self.sampled += 1;
            if !ok {
                self.sampled_failed += 1;
            }
            self.worst_gap_ms = self.worst_gap_ms.max(m.max_gap.as_secs_f64() * 1000.0);
        }
    }
}

/// What one leg measured of the stream it received.
#[derive(Default, Clone, Debug)]
pub(crate) struct StreamReport {
    pub(crate) expected: u64,
    pub(crate) received: u64,
    pub(crate) lost: u64,
    pub(crate) jitter_ms: f64,
    pub(crate) max_interarrival: Duration,
    /// When the longest silence ended, and how long after the stream's first packet.
    pub(crate) max_interarrival_end: Option<(Instant, Duration)>,
    pub(crate) answer_to_audio: Option<Duration>,
    /// `Some(verdict)` on sampled calls.
    pub(crate) sampled_ok: Option<bool>,
    pub(crate) max_gap: Duration,
    pub(crate) seq_gaps: u64,
    pub(crate) max_seq_gap: u32,
    pub(crate) restarts: u64,
    pub(crate) discarded: u64,
}

/// How a caller's call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Talked for the hold time and hung up with a 200 to its BYE.
    Completed,
    /// Failed, with a short cause (`invite_timeout`, `rejected_503`, `no_agent`, ...).
    Failed(String),
}

/// The whole run's accounting.
#[derive(Default)]
pub(crate) struct Accounting {
    pub(crate) completed: u64,
    pub(crate) failures: BTreeMap<String, u64>,
    pub(crate) post_dial_delay_ms: Vec<f64>,
    pub(crate) queue_wait_ms: Vec<f64>,
    /// Agent to caller, measured by callers.
    pub(crate) to_caller: Direction,
    /// Caller to agent, measured by agents.
    pub(crate) to_agent: Direction,
    /// Agent-side problems that are not a caller's outcome (e.g. an offer cancelled).
    pub(crate) agent_events: BTreeMap<String, u64>,
}

impl Accounting {
    pub(crate) fn record(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Completed => self.completed += 1,
            Outcome::Failed(cause) => *self.failures.entry(cause.clone()).or_default() += 1,
        }
    }

    pub(crate) fn failed(&self) -> u64 {
        self.failures.values().sum()
    }

    #[cfg(test)]
    pub(crate) fn finished(&self) -> u64 {
        self.completed + self.failed()
    }
}

/// `p50/p90/p99/max` of samples as a short string, or `-` when there are none.
pub(crate) fn summary(samples: &[f64]) -> String {
    let mut s = samples.to_vec();
    match (
        percentile(&mut s, 50.0),
        percentile(&mut s, 90.0),
        percentile(&mut s, 99.0),
        percentile(&mut s, 100.0),
    ) {
        (Some(a), Some(b), Some(c), Some(d)) => {
            format!(
                "p50 {a:.1} p90 {b:.1} p99 {c:.1} max {d:.1} (n={})",
                s.len()
            )
        }
        _ => "- (n=0)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(percentile(&mut v, 50.0), Some(50.0));
        assert_eq!(percentile(&mut v, 99.0), Some(99.0));
        assert_eq!(percentile(&mut v, 100.0), Some(100.0));
        assert_eq!(percentile(&mut v, 0.0), Some(1.0));
        let mut one = vec![7.0];
        assert_eq!(percentile(&mut one, 99.0), Some(7.0));
        assert_eq!(percentile(&mut [], 50.0), None);
        let mut five = vec![15.0, 20.0, 35.0, 40.0, 50.0];
        // The classic nearest-rank example: p30 = 20, p40 = 20, p50 = 35.
        assert_eq!(percentile(&mut five, 30.0), Some(20.0));
        assert_eq!(percentile(&mut five, 40.0), Some(20.0));
        assert_eq!(percentile(&mut five, 50.0), Some(35.0));
    }

    #[test]
    fn accounting_counts_each_call_once_by_cause() {
        let mut a = Accounting::default();
        a.record(&Outcome::Completed);
        a.record(&Outcome::Failed("no_agent".into()));
        a.record(&Outcome::Failed("rejected_503".into()));
        a.record(&Outcome::Failed("no_agent".into()));
        a.record(&Outcome::Completed);
        assert_eq!(a.completed, 2);
        assert_eq!(a.failed(), 3);
        assert_eq!(a.finished(), 5);
        assert_eq!(a.failures["no_agent"], 2);
    }

    #[test]
    fn direction_sums_streams_and_sampled_verdicts() {
        let mut d = Direction::default();
        d.add_stream(&StreamReport {
            expected: 100,
            received: 99,
            lost: 1,
            sampled_ok: Some(true),
            max_gap: Duration::from_millis(20),
            answer_to_audio: Some(Duration::from_millis(30)),
            ..StreamReport::default()
        });
        d.add_stream(&StreamReport {
            expected: 100,
            received: 100,
            sampled_ok: Some(false),
            max_gap: Duration::from_millis(120),
            ..StreamReport::default()
        });
        d.add_stream(&StreamReport {
            expected: 200,
            received: 200,
            ..StreamReport::default()
        });
        assert_eq!(d.expected, 400);
        assert_eq!(d.lost, 1);
        assert!((d.loss_pct() - 0.25).abs() < 1e-9);
        assert_eq!((d.sampled, d.sampled_failed), (2, 1));
        assert_eq!(d.worst_gap_ms, 120.0);
        assert_eq!(d.answer_to_audio_ms, vec![30.0]);
    }

    #[test]
    fn longest_silences_that_end_together_are_found_by_second() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let ends = [
            at(37_100),
            at(37_900),
            at(12_000),
            at(37_400),
            at(12_500),
            at(80_000),
        ];
        assert_eq!(busiest_seconds(&ends, t0, 2), vec![(37, 3), (12, 2)]);
        assert_eq!(busiest_seconds(&[], t0, 3), vec![]);
        let mut d = Direction::default();
        d.add_stream(&StreamReport {
            max_interarrival: Duration::from_millis(365),
            max_interarrival_end: Some((at(5_000), Duration::from_millis(1_500))),
            ..StreamReport::default()
        });
        assert_eq!(d.gap_ends, vec![at(5_000)]);
        assert_eq!(d.gap_into_stream_ms, vec![1_500.0]);
    }
}

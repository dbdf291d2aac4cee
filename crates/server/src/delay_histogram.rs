//! Delay histograms of the call path, as Prometheus histograms with fixed buckets in
//! atomics: observing is a few relaxed atomic adds, no lock, no allocation. Each is a
//! distribution, not a record of each case (the events are).
//!
//! - `switchboard_announcement_lateness_seconds`: from when the ACD engine's timer said
//!   a queue announcement was due (or the caller joined, for the one on joining) to when
//!   the call task starts playing it. Lateness adds up the ACD actor's backlog (every
//!   announcement computes a wait estimate), the queue signal's trip to the call task and
//!   the call task's own backlog, so it shows whether announcements stay on schedule
//!   under a queue storm.
//! - `switchboard_answer_to_audio_seconds`: from when a call task takes up the agent's
//!   answer (the 200's SDP) to when the first packet crosses the bridge to either party
//!   (a whisper to the agent first adds its length): the server's share of
//!   answer-to-audio. What a load
//!   generator measures beyond it (the 200's trip through the SIP driver, the packets'
//!   trip back) is outside the call task.
//! - `switchboard_sip_answer_to_audio_seconds`: the same end, but from when the agent's
//!   200 OK arrived at the SIP socket (the transport's receive time): adds the 200's wait
//!   in the inbound SIP queue, the SIP driver's handling and the signal lane to the call.
//! - `switchboard_sip_inbound_wait_seconds`: from a SIP message's receive to the SIP
//!   driver taking it up (the inbound queue's backlog and the driver's other work).
//! - `switchboard_runtime_lateness_seconds`: how late the main runtime runs a 10 ms timer
//!   (`runtime_lag`): the wait of any task on it for a worker.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bucket upper bounds in seconds; `+Inf` is implied by the count.
const BOUNDS_S: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 10.0,
];

/// Names of the histograms (`render`'s `name`).
pub(crate) const ANNOUNCEMENT_LATENESS: &str = "switchboard_announcement_lateness_seconds";
/// See [`ANNOUNCEMENT_LATENESS`].
pub(crate) const ANSWER_TO_AUDIO: &str = "switchboard_answer_to_audio_seconds";
/// See [`ANNOUNCEMENT_LATENESS`].
pub(crate) const SIP_ANSWER_TO_AUDIO: &str = "switchboard_sip_answer_to_audio_seconds";
/// See [`ANNOUNCEMENT_LATENESS`].
pub(crate) const SIP_INBOUND_WAIT: &str = "switchboard_sip_inbound_wait_seconds";
/// See [`ANNOUNCEMENT_LATENESS`].
pub(crate) const RUNTIME_LATENESS: &str = "switchboard_runtime_lateness_seconds";

/// One delay histogram (cumulative buckets are computed on render).
#[derive(Default)]
pub(crate) struct DelayHistogram {
    /// Observations per bucket (not cumulative); the last slot is over the last bound.
    buckets: [AtomicU64; BOUNDS_S.len() + 1],
    count: AtomicU64,
    /// Sum of the observations in microseconds.
    sum_us: AtomicU64,
}

impl DelayHistogram {
    /// Records one delay.
    pub(crate) fn observe(&self, late: Duration) {
        let s = late.as_secs_f64();
        let i = BOUNDS_S
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(BOUNDS_S.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(late.as_micros()).unwrap_or(u64::MAX);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of the histogram as `name`, with its `help` line.
    pub(crate) fn render(&self, name: &str, help: &str, out: &mut String) {
        let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} histogram\n");
        let mut cumulative = 0;
        for (bound, bucket) in BOUNDS_S.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = write!(
            out,
            "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {sum}\n{name}_count {count}\n"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_cumulative_buckets_with_sum_and_count() {
        let h = DelayHistogram::default();
        for ms in [0, 3, 40, 150, 150, 20_000] {
            h.observe(Duration::from_millis(ms));
        }
        let mut out = String::new();
        h.render(ANNOUNCEMENT_LATENESS, "help", &mut out);
        let n = "switchboard_announcement_lateness_seconds";
        assert!(out.contains(&format!("# TYPE {n} histogram\n")));
        assert!(
            out.contains(&format!("{n}_bucket{{le=\"0.005\"}} 2\n")),
            "{out}"
        );
        assert!(out.contains(&format!("{n}_bucket{{le=\"0.05\"}} 3\n")));
        assert!(out.contains(&format!("{n}_bucket{{le=\"0.1\"}} 3\n")));
        assert!(out.contains(&format!("{n}_bucket{{le=\"0.2\"}} 5\n")));
        assert!(out.contains(&format!("{n}_bucket{{le=\"10\"}} 5\n")));
        assert!(out.contains(&format!("{n}_bucket{{le=\"+Inf\"}} 6\n")));
        assert!(out.contains(&format!("{n}_count 6\n")));
        assert!(out.contains(&format!("{n}_sum 20.343\n")), "{out}");
    }

    #[test]
    fn an_exact_bound_counts_in_its_own_bucket() {
        let h = DelayHistogram::default();
        h.observe(Duration::from_millis(200));
        let mut out = String::new();
        h.render(ANNOUNCEMENT_LATENESS, "help", &mut out);
        let n = "switchboard_announcement_lateness_seconds";
        assert!(out.contains(&format!("{n}_bucket{{le=\"0.1\"}} 0\n")));
        assert!(out.contains(&format!("{n}_bucket{{le=\"0.2\"}} 1\n")));
    }
}

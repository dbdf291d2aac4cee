//! How late queue announcements start: the time from when the ACD engine's timer said an
//! announcement was due (or the caller joined, for the one on joining) to when the call
//! task starts playing it. Lateness adds up the ACD actor's backlog (every announcement
//! computes a wait estimate), the queue signal's trip to the call task and the call task's
//! own backlog, so it shows whether announcements stay on schedule under a queue storm.
//! It is a Prometheus histogram, `switchboard_announcement_lateness_seconds`, with fixed
//! buckets in atomics: observing is a few relaxed atomic adds, no lock, no allocation.
//! It is not a record of each announcement (the `queue.announce` events are).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bucket upper bounds in seconds; `+Inf` is implied by the count.
const BOUNDS_S: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 10.0];

/// The histogram of announcement lateness (cumulative buckets are computed on render).
#[derive(Default)]
pub(crate) struct AnnouncementLateness {
    /// Observations per bucket (not cumulative); the last slot is over the last bound.
    buckets: [AtomicU64; BOUNDS_S.len() + 1],
    count: AtomicU64,
    /// Sum of the observations in microseconds.
    sum_us: AtomicU64,
}

impl AnnouncementLateness {
    /// Records one announcement that started `late` after it was due.
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

    /// The Prometheus text exposition of the histogram.
    pub(crate) fn render(&self, out: &mut String) {
        const NAME: &str = "switchboard_announcement_lateness_seconds";
        let _ = write!(
            out,
            "# HELP {NAME} Time from when a queue announcement was due to when its call started playing it.\n\
             # TYPE {NAME} histogram\n"
        );
        let mut cumulative = 0;
        for (bound, bucket) in BOUNDS_S.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{NAME}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = write!(
            out,
            "{NAME}_bucket{{le=\"+Inf\"}} {count}\n{NAME}_sum {sum}\n{NAME}_count {count}\n"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_cumulative_buckets_with_sum_and_count() {
        let h = AnnouncementLateness::default();
        for ms in [0, 3, 40, 150, 150, 20_000] {
            h.observe(Duration::from_millis(ms));
        }
        let mut out = String::new();
        h.render(&mut out);
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
        let h = AnnouncementLateness::default();
        h.observe(Duration::from_millis(200));
        let mut out = String::new();
        h.render(&mut out);
        let n = "switchboard_announcement_lateness_seconds";
        assert!(out.contains(&format!("{n}_bucket{{le=\"0.1\"}} 0\n")));
        assert!(out.contains(&format!("{n}_bucket{{le=\"0.2\"}} 1\n")));
    }
}

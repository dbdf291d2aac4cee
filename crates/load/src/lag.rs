//! How late the tool's own runtime runs a 10 ms timer: a stall of the tool (its process not
//! scheduled, or its workers busy) delays its RTP sends and its receive timestamps alike,
//! and shows in the report as arrival gaps that are not the server's. The probe records
//! each time the timer fired more than [`LATE`] after it was due, with when (seconds into
//! the run), so the report can set the tool's stalls beside the seconds in which the
//! streams' longest gaps ended.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A timer this late counts as a stall of the tool.
pub(crate) const LATE: Duration = Duration::from_millis(50);
const PERIOD: Duration = Duration::from_millis(10);
/// Stalls kept (the first ones; the count goes on).
const KEEP: usize = 1_000;

/// The stalls seen so far.
#[derive(Default)]
pub(crate) struct Lag {
    /// (seconds after the run's start the timer fired, how late).
    stalls: Vec<(u64, Duration)>,
    count: u64,
    worst: Duration,
}

impl Lag {
    /// Notes that a timer due at `due` fired at `fired`; `t0` is the run's start.
    pub(crate) fn note(&mut self, t0: Instant, due: Instant, fired: Instant) {
        let late = fired.saturating_duration_since(due);
        if late < LATE {
            return;
        }
        self.count += 1;
        self.worst = self.worst.max(late);
        if self.stalls.len() < KEEP {
            self.stalls
                .push((fired.saturating_duration_since(t0).as_secs(), late));
        }
    }

    /// One line for the report.
    pub(crate) fn summary(&self) -> String {
        if self.count == 0 {
            return format!("never over {} ms late", LATE.as_millis());
        }
        let mut worst: Vec<&(u64, Duration)> = self.stalls.iter().collect();
        worst.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let top: Vec<String> = worst
            .iter()
            .take(5)
            .map(|(s, d)| format!("{} ms in second {s}", d.as_millis()))
            .collect();
        format!(
            "{} times over {} ms late, worst {} ms; the longest: {}",
            self.count,
            LATE.as_millis(),
            self.worst.as_millis(),
            top.join(", ")
        )
    }

    pub(crate) fn worst(&self) -> Duration {
        self.worst
    }
}

/// Runs the probe on the current runtime until the returned handle is aborted.
pub(crate) fn spawn(t0: Instant) -> (Arc<Mutex<Lag>>, tokio::task::JoinHandle<()>) {
    let lag = Arc::new(Mutex::new(Lag::default()));
    let l = lag.clone();
    let task = tokio::spawn(async move {
        loop {
            let due = Instant::now() + PERIOD;
            tokio::time::sleep_until(due.into()).await;
            let fired = Instant::now();
            if let Ok(mut g) = l.lock() {
                g.note(t0, due, fired);
            }
        }
    });
    (lag, task)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_timers_are_counted_with_their_second_and_the_worst_first() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut l = Lag::default();
        l.note(t0, at(1_000), at(1_020)); // 20 ms: not a stall
        assert_eq!(l.count, 0);
        assert!(l.summary().starts_with("never"));
        l.note(t0, at(5_000), at(5_360));
        l.note(t0, at(9_000), at(9_080));
        assert_eq!(l.count, 2);
        assert_eq!(l.worst(), Duration::from_millis(360));
        assert_eq!(
            l.summary(),
            "2 times over 50 ms late, worst 360 ms; the longest: 360 ms in second 5, 80 ms in second 9"
        );
    }
}

//! How late the main runtime (call tasks, the ACD, the HTTP API) runs a 10 ms timer:
//! `switchboard_runtime_lateness_seconds`. A call's media waits as long as its task waits
//! for a worker, so a stall of the runtime (the process not scheduled on a busy machine,
//! or a worker held by one task) shows here as lateness, where a load generator sees only
//! arrival gaps it cannot tell from its own stalls. The SIP path has its own thread and is
//! not measured by this (its wait is `switchboard_sip_inbound_wait_seconds`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use crate::metrics::Metrics;

/// The probe's period: 100 wake-ups per second.
const PERIOD: Duration = Duration::from_millis(10);

/// Observes the lateness of a `PERIOD` timer until `stop` fires.
pub(crate) async fn watch(metrics: Arc<Metrics>, mut stop: broadcast::Receiver<()>) {
    loop {
        let due = tokio::time::Instant::now() + PERIOD;
        tokio::select! {
            biased;
            _ = tokio::time::sleep_until(due) => {}
            _ = stop.recv() => return,
        }
        let late = tokio::time::Instant::now().saturating_duration_since(due);
        metrics.runtime_lateness.observe(late);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(metrics: &Metrics) -> u64 {
        let mut out = String::new();
        metrics.render(&mut out);
        out.lines()
            .find_map(|l| l.strip_prefix("switchboard_runtime_lateness_seconds_count "))
            .and_then(|v| v.parse().ok())
            .expect("the histogram is rendered")
    }

    #[tokio::test(flavor = "current_thread")]
    async fn periods_are_observed_until_the_probe_is_stopped() {
        let metrics = Arc::new(Metrics::default());
        let (stop, rx) = broadcast::channel(1);
        let probe = tokio::spawn(watch(metrics.clone(), rx));
        let waited = tokio::time::timeout(Duration::from_secs(30), async {
            while observed(&metrics) < 3 {
                tokio::time::sleep(PERIOD).await;
            }
        })
        .await;
        assert!(waited.is_ok(), "three periods observed");
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(30), probe)
            .await
            .expect("the probe stops when told")
            .expect("the probe did not panic");
        let n = observed(&metrics);
        // Nothing more once stopped.
        tokio::time::sleep(PERIOD * 3).await;
        assert_eq!(observed(&metrics), n);
    }
}

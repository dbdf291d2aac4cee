//! The transaction layer's admission counters, copied into the metrics after each turn of
//! the driver's loop, and a warning in the log when a carrier's address meets its own
//! transaction caps or requests of ours are not sent for the client budget: both mean a
//! limit sized too small for real traffic (raise `[[trunks]] max_transactions` /
//! `transaction_bytes`, or `limits.client_transaction_bytes`), unlike a stranger's 503s,
//! which are only counted. At most one warning per kind every 10 s, with the count since
//! the last one.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::SipDriver;

/// Least time between two warnings of one kind.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// What was last logged, per kind: the counter's value then, and when.
#[derive(Debug, Default)]
pub(super) struct Logged {
    own_caps: (u64, Option<Instant>),
    client: (u64, Option<Instant>),
}

/// The count since the last warning, if a warning of this kind is due now.
fn due(last: &mut (u64, Option<Instant>), now: Instant, total: u64) -> Option<u64> {
    if total <= last.0 || last.1.is_some_and(|at| now < at + WARN_EVERY) {
        return None;
    }
    let new = total - last.0;
    *last = (total, Some(now));
    Some(new)
}

impl SipDriver {
    /// Copies the transaction layer's admission counters into the metrics; warns when a
    /// trunk met its own caps or our requests were held back.
    pub(super) fn publish_tx_stats(&mut self) {
        let st = self.b2bua.transactions().stats();
        let g = &self.metrics.guard;
        g.tx_refused_full.store(st.refused_full, Ordering::Relaxed);
        g.tx_refused_source_share
            .store(st.refused_source_share, Ordering::Relaxed);
        g.tx_refused_own_caps
            .store(st.refused_own_caps, Ordering::Relaxed);
        g.tx_refused_memory
            .store(st.refused_memory, Ordering::Relaxed);
        g.tx_refused_client
            .store(st.refused_client, Ordering::Relaxed);
        g.tx_bytes.store(
            (st.server_bytes + st.client_bytes) as u64,
            Ordering::Relaxed,
        );
        g.tx_client_bytes
            .store(st.client_bytes as u64, Ordering::Relaxed);
        g.tx_trunk_bytes
            .store(st.own_caps_bytes as u64, Ordering::Relaxed);
        let stray = &self.metrics.invite_auth.stray_acks;
        stray.store(st.stray_acks, Ordering::Relaxed);
        let now = Instant::now();
        if let Some(n) = due(&mut self.tx_pressure.own_caps, now, st.refused_own_caps) {
            tracing::warn!(
                refused = n,
                held_bytes = st.own_caps_bytes,
                "a trunk address met its own transaction caps: its requests get 503; raise [[trunks]] max_transactions / transaction_bytes"
            );
        }
        if let Some(n) = due(&mut self.tx_pressure.client, now, st.refused_client) {
            tracing::warn!(
                refused = n,
                held_bytes = st.client_bytes,
                "requests of ours not sent: client transactions hold limits.client_transaction_bytes"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_per_kind_every_ten_seconds_with_the_count_since_the_last() {
        let t0 = Instant::now();
        let mut last = (0, None);
        assert_eq!(due(&mut last, t0, 0), None, "nothing refused");
        assert_eq!(due(&mut last, t0, 3), Some(3));
        assert_eq!(due(&mut last, t0 + Duration::from_secs(5), 10), None);
        assert_eq!(due(&mut last, t0 + Duration::from_secs(10), 12), Some(9));
        assert_eq!(
            due(&mut last, t0 + Duration::from_secs(30), 12),
            None,
            "no new refusal"
        );
    }
}

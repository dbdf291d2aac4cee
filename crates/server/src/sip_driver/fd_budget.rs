//! The descriptor check before a new call (`limits.call_fd_headroom`) without listing
//! `/proc/self/fd` for every INVITE. Listing it costs time in proportion to the descriptors
//! open (a kernel dentry per entry): at 3,000 calls up (6,000-15,000 descriptors) a
//! listing per call was a quarter of the server's CPU at 400 calls/s, all of it on the
//! SIP driver's one task, in front of every other SIP message.
//!
//! Now the driver counts at most every [`RECOUNT_EVERY`] and in between assumes that each
//! call it admitted since the last count opened [`FDS_PER_CALL`] descriptors (more than a
//! bridged, recorded call's two legs' RTP and RTCP sockets and its recording file) and that
//! no call ended: an estimate that only errs towards fewer free. A call is refused only on
//! a count: when the estimate falls under the headroom the driver counts again at once if
//! it admitted calls since the last count; a count that is itself under the headroom is
//! trusted until it is [`RECOUNT_EVERY`] old, so a flood of INVITEs at exhaustion costs one
//! listing per interval, not one per INVITE.

use std::time::{Duration, Instant};

/// The longest a count is used for.
pub(super) const RECOUNT_EVERY: Duration = Duration::from_millis(100);
/// Descriptors a call admitted since the last count is assumed to hold.
pub(super) const FDS_PER_CALL: u64 = 8;

/// The last count of free descriptors and the calls admitted since.
#[derive(Default)]
pub(super) struct FdBudget {
    last: Option<(Instant, u64)>,
    admitted_since: u64,
    /// Listings made (for the tests and the counter-based bench figures).
    pub(super) counts: u64,
}

impl FdBudget {
    /// Whether a new call may start at `now` with `headroom` descriptors to spare;
    /// `count_free` lists the free descriptors (`None`: not known here, admit). `Err`
    /// carries the free descriptors counted.
    pub(super) fn admit(
        &mut self,
        now: Instant,
        headroom: u64,
        count_free: impl FnOnce() -> Option<u64>,
    ) -> Result<(), u64> {
        let fresh = self
            .last
            .filter(|(at, _)| now.saturating_duration_since(*at) < RECOUNT_EVERY);
        let estimate = fresh
            .map(|(_, free)| free.saturating_sub(FDS_PER_CALL.saturating_mul(self.admitted_since)));
        let free = match estimate {
            Some(f) if f >= headroom => f,
            // The count itself was short and is recent: refuse without listing again.
            Some(f) if self.admitted_since == 0 => return Err(f),
            _ => {
                self.counts += 1;
                let Some(free) = count_free() else {
                    return Ok(());
                };
                self.last = Some((now, free));
                self.admitted_since = 0;
                if free < headroom {
                    return Err(free);
                }
                free
            }
        };
        debug_assert!(free >= headroom);
        self.admitted_since += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn counts_once_per_interval_while_far_from_the_headroom() {
        let t0 = Instant::now();
        let mut b = FdBudget::default();
        let listed = Cell::new(0);
        let count = || {
            listed.set(listed.get() + 1);
            Some(10_000)
        };
        // 1,000 calls in 50 ms: one listing.
        for i in 0..1_000u64 {
            assert_eq!(
                b.admit(t0 + Duration::from_micros(50 * i), 32, count),
                Ok(())
            );
        }
        assert_eq!(listed.get(), 1);
        // The next interval lists again.
        assert_eq!(b.admit(t0 + RECOUNT_EVERY, 32, count), Ok(()));
        assert_eq!(listed.get(), 2);
    }

    #[test]
    fn an_estimate_under_the_headroom_is_checked_by_a_count_before_refusing() {
        let t0 = Instant::now();
        let mut b = FdBudget::default();
        // Just under 32 + 2 calls' worth free: the second call passes on the estimate.
        assert_eq!(b.admit(t0, 32, || Some(32 + 2 * FDS_PER_CALL - 1)), Ok(()));
        assert_eq!(b.admit(t0, 32, || panic!("no listing")), Ok(()));
        // The third would go under: counted again. Calls ended meanwhile: admitted.
        assert_eq!(b.admit(t0, 32, || Some(100)), Ok(()));
        assert_eq!(b.counts, 2);
        // Later, really short: refused on a count, not on the estimate.
        let t1 = t0 + RECOUNT_EVERY;
        assert_eq!(b.admit(t1, 32, || Some(32 + FDS_PER_CALL)), Ok(()));
        assert_eq!(b.admit(t1, 32, || panic!("no listing")), Ok(()));
        assert_eq!(b.admit(t1, 32, || Some(20)), Err(20));
        assert_eq!(b.counts, 4);
    }

    #[test]
    fn a_short_count_is_trusted_until_it_is_old_so_a_flood_lists_once_per_interval() {
        let t0 = Instant::now();
        let mut b = FdBudget::default();
        assert_eq!(b.admit(t0, 32, || Some(10)), Err(10));
        for i in 1..1_000u64 {
            let now = t0 + Duration::from_micros(90 * i);
            assert_eq!(b.admit(now, 32, || panic!("no listing")), Err(10));
        }
        assert_eq!(b.counts, 1);
        // Once the count is old, a new one decides: room again.
        assert_eq!(b.admit(t0 + RECOUNT_EVERY, 32, || Some(500)), Ok(()));
        assert_eq!(b.counts, 2);
    }

    #[test]
    fn unknown_descriptor_counts_admit() {
        let mut b = FdBudget::default();
        assert_eq!(b.admit(Instant::now(), 32, || None), Ok(()));
    }
}

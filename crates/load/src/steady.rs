//! The server's CPU per delivered RTP packet in the steady bridged state: summed over the
//! progress intervals in which every call up was bridged to an agent at both ends and no
//! call started, ended or failed. The whole-run figure also carries registration, SIP,
//! the IVR and the queue; this one is (nearly) the relay alone, the figure to put next to
//! a bare relay's (decision 0047).

use std::time::Duration;

use crate::leg::Live;
use std::sync::atomic::Ordering;

/// The counters read at the end of one progress interval.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Snapshot {
    pub(crate) server_cpu: Option<Duration>,
    pub(crate) started: u64,
    pub(crate) active: u64,
    pub(crate) bridged: u64,
    pub(crate) finished: u64,
    pub(crate) failed: u64,
    pub(crate) received: u64,
}

impl Snapshot {
    pub(crate) fn read(live: &Live, server_cpu: Option<Duration>) -> Snapshot {
        let n = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            server_cpu,
            started: n(&live.started),
            active: n(&live.active),
            bridged: n(&live.bridged),
            finished: n(&live.finished),
            failed: n(&live.failed),
            received: n(&live.rtp_received_live),
        }
    }

    fn all_bridged(&self) -> bool {
        self.active > 0 && self.bridged == self.active
    }
}

/// The steady intervals summed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Steady {
    pub(crate) cpu: Duration,
    pub(crate) packets: u64,
    pub(crate) intervals: u32,
}

impl Steady {
    /// Adds the interval from `a` to `b` when it was steady (see the module doc).
    pub(crate) fn add(&mut self, a: &Snapshot, b: &Snapshot) {
        let (Some(c0), Some(c1)) = (a.server_cpu, b.server_cpu) else {
            return;
        };
        let unchanged = a.started == b.started
            && a.active == b.active
            && a.finished == b.finished
            && a.failed == b.failed;
        if unchanged && a.all_bridged() && b.all_bridged() && b.received > a.received {
            self.cpu += c1.saturating_sub(c0);
            self.packets += b.received - a.received;
            self.intervals += 1;
        }
    }

    /// Server CPU in microseconds per packet delivered in the steady intervals.
    pub(crate) fn us_per_packet(&self) -> Option<f64> {
        (self.packets > 0).then(|| 1e6 * self.cpu.as_secs_f64() / self.packets as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(cpu_ms: u64, started: u64, active: u64, bridged: u64, received: u64) -> Snapshot {
        Snapshot {
            server_cpu: Some(Duration::from_millis(cpu_ms)),
            started,
            active,
            bridged,
            finished: started - active,
            failed: 0,
            received,
        }
    }

    #[test]
    fn only_intervals_with_every_call_bridged_and_none_coming_or_going_count() {
        let mut s = Steady::default();
        // Calls still arriving: not steady.
        s.add(&snap(0, 10, 10, 8, 0), &snap(100, 20, 20, 20, 1_000));
        // All 20 bridged, nothing changes: steady.
        s.add(
            &snap(100, 20, 20, 20, 1_000),
            &snap(300, 20, 20, 20, 11_000),
        );
        // One call ends: not steady.
        s.add(
            &snap(300, 20, 20, 20, 11_000),
            &snap(400, 20, 19, 19, 15_000),
        );
        // A call in the IVR (up, not bridged): not steady.
        s.add(
            &snap(400, 21, 20, 19, 15_000),
            &snap(500, 21, 20, 19, 19_000),
        );
        assert_eq!(s.intervals, 1);
        assert_eq!(s.packets, 10_000);
        assert_eq!(s.cpu, Duration::from_millis(200));
        assert_eq!(s.us_per_packet(), Some(20.0));
    }

    #[test]
    fn without_the_server_cpu_or_a_steady_interval_there_is_no_figure() {
        let mut s = Steady::default();
        let mut a = snap(0, 5, 5, 5, 0);
        a.server_cpu = None;
        s.add(&a, &snap(10, 5, 5, 5, 100));
        assert_eq!(s.us_per_packet(), None);
    }
}

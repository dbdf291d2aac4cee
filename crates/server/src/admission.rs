//! Admission control for the SIP driver: per-source request rate limits and global call
//! caps. Pure decisions with the time as an input (the driver passes `Instant::now()`),
//! so they are tested on a fake clock. The transaction table's own per-source share and
//! byte budgets live in `switchboard-sip` (`TxConfig`); descriptor headroom in
//! `descriptors`.
//!
//! A request from an untrusted source spends a token of its source's bucket
//! (`requests_per_second`, burst `request_burst`). With none left it is answered with a
//! stateless 503 and `Retry-After`, paid from a second, smaller bucket
//! (`rejections_per_second`), and from one bucket shared by all sources
//! (`rejections_per_second_all`: a flood from many spoofed addresses would otherwise be
//! answered at the per-source rate times the addresses, reflected at whoever they name);
//! with none left there either, it is dropped unanswered and counted, so a flood costs
//! us no more than a bounded trickle of replies.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// A token bucket: `rate` tokens per second, at most `burst` saved up.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TokenBucket {
    tokens: f64,
    last: Instant,
    rate: f64,
    burst: f64,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn new(now: Instant, rate: f64, burst: f64) -> TokenBucket {
        let burst = burst.max(1.0);
        TokenBucket {
            tokens: burst,
            last: now,
            rate: rate.max(0.0),
            burst,
        }
    }

    /// Takes one token if there is one at `now`.
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now.max(self.last);
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether the bucket would be full at `now` (its entry carries no information).
    fn full_at(&self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + dt * self.rate >= self.burst
    }
}

/// Per-source rate limits.
#[derive(Clone, Debug)]
pub(crate) struct RateConfig {
    pub(crate) requests_per_second: f64,
    pub(crate) request_burst: f64,
    pub(crate) rejections_per_second: f64,
    /// Stateless rejections per second from all sources together.
    pub(crate) rejections_per_second_all: f64,
    /// Most sources tracked; when full, idle entries are dropped, and if none is idle, new
    /// sources share one overflow entry.
    pub(crate) capacity: usize,
}

/// What to do with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Process it.
    Admit,
    /// Answer 503 with `Retry-After` without processing it.
    Reject,
    /// Drop it unanswered (counted).
    Drop,
}

#[derive(Clone, Copy, Debug)]
struct SourceState {
    requests: TokenBucket,
    rejections: TokenBucket,
}

/// Request rate limits per source IP (IPv6 per /64), bounded.
#[derive(Debug)]
pub(crate) struct SourceLimiter {
    cfg: RateConfig,
    map: HashMap<IpAddr, SourceState>,
    overflow: Option<SourceState>,
    /// The rejections of all sources (made at the first check).
    all_rejections: Option<TokenBucket>,
}

impl SourceLimiter {
    pub(crate) fn new(cfg: RateConfig) -> SourceLimiter {
        SourceLimiter {
            cfg,
            map: HashMap::new(),
            overflow: None,
            all_rejections: None,
        }
    }

    fn fresh(&self, now: Instant) -> SourceState {
        SourceState {
            requests: TokenBucket::new(now, self.cfg.requests_per_second, self.cfg.request_burst),
            rejections: TokenBucket::new(
                now,
                self.cfg.rejections_per_second,
                self.cfg.rejections_per_second,
            ),
        }
    }

    /// The verdict for one request from `ip` at `now`.
    pub(crate) fn check(&mut self, ip: IpAddr, now: Instant) -> Verdict {
        let key = switchboard_registrar::source_key(ip);
        if !self.map.contains_key(&key) && self.map.len() >= self.cfg.capacity.max(1) {
            self.map.retain(|_, s| !s.requests.full_at(now));
        }
        let fresh = self.fresh(now);
        let state = if self.map.len() < self.cfg.capacity.max(1) || self.map.contains_key(&key) {
            self.map.entry(key).or_insert(fresh)
        } else {
            self.overflow.get_or_insert(fresh)
        };
        if state.requests.take(now) {
            return Verdict::Admit;
        }
        let rate = self.cfg.rejections_per_second_all;
        let all = self
            .all_rejections
            .get_or_insert_with(|| TokenBucket::new(now, rate, rate));
        // The source's own rejection token is spent even when the shared bucket then says
        // no: that source gets fewer replies, never more.
        if state.rejections.take(now) && all.take(now) {
            Verdict::Reject
        } else {
            Verdict::Drop
        }
    }

    /// Drops entries that carry no information (full buckets).
    pub(crate) fn prune(&mut self, now: Instant) {
        self.map.retain(|_, s| !s.requests.full_at(now));
        if self.overflow.is_some_and(|s| s.requests.full_at(now)) {
            self.overflow = None;
        }
    }

    /// Sources tracked.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

/// Global caps on new calls: concurrent and per second.
#[derive(Debug)]
pub(crate) struct CallGate {
    max_calls: usize,
    per_second: TokenBucket,
}

/// Why a new call was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CallRefusal {
    /// `max_calls` calls are up.
    Concurrent,
    /// More than `calls_per_second` new calls.
    Rate,
}

impl CallGate {
    pub(crate) fn new(now: Instant, max_calls: usize, calls_per_second: f64) -> CallGate {
        CallGate {
            max_calls,
            per_second: TokenBucket::new(now, calls_per_second, calls_per_second),
        }
    }

    /// Whether a new call may start at `now` with `live` calls up.
    pub(crate) fn admit(&mut self, now: Instant, live: usize) -> Result<(), CallRefusal> {
        if live >= self.max_calls {
            return Err(CallRefusal::Concurrent);
        }
        if !self.per_second.take(now) {
            return Err(CallRefusal::Rate);
        }
        Ok(())
    }
}

/// How often the driver prunes the limiter.
pub(crate) const PRUNE_EVERY: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(cap: usize) -> RateConfig {
        RateConfig {
            requests_per_second: 10.0,
            request_burst: 20.0,
            rejections_per_second: 2.0,
            rejections_per_second_all: 1_000.0,
            capacity: cap,
        }
    }

    fn ms(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn a_flood_is_admitted_at_the_rate_then_rejected_at_a_trickle_then_dropped() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::new(cfg(16));
        let flood: IpAddr = "203.0.113.9".parse().unwrap();
        let mut counts = [0usize; 3];
        // 10,000 requests in one second.
        for i in 0..10_000u64 {
            let v = l.check(flood, ms(t0, i / 10));
            counts[v as usize] += 1;
        }
        // Burst 20 + ~10/s admitted; 2 + ~2/s rejected; the rest dropped.
        assert!((20..=31).contains(&counts[0]), "{counts:?}");
        assert!((2..=5).contains(&counts[1]), "{counts:?}");
        assert_eq!(counts.iter().sum::<usize>(), 10_000);
        // Another source is unaffected.
        let phone: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(l.check(phone, ms(t0, 999)), Verdict::Admit);
        // The flooder is welcome again once it slows down.
        assert_eq!(l.check(flood, ms(t0, 3000)), Verdict::Admit);
    }

    #[test]
    fn the_table_is_bounded_and_overflow_sources_share_one_bucket() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::new(cfg(4));
        for i in 0..4u8 {
            let ip = IpAddr::from([10, 0, 0, i]);
            l.check(ip, t0);
        }
        assert_eq!(l.len(), 4);
        // New sources while the table is full of active ones share the overflow bucket.
        let mut admitted = 0;
        for i in 0..100u8 {
            let ip = IpAddr::from([10, 0, 1, i]);
            admitted += usize::from(l.check(ip, t0) == Verdict::Admit);
        }
        assert_eq!(l.len(), 4);
        assert_eq!(admitted, 20);
        // Once entries are idle (full again) they are pruned.
        l.prune(ms(t0, 10_000));
        assert_eq!(l.len(), 0);
    }

    #[test]
    fn ipv6_sources_share_their_64() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::new(cfg(16));
        let mut admitted = 0;
        for i in 0..100u16 {
            let ip = IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, i]);
            admitted += usize::from(l.check(ip, t0) == Verdict::Admit);
        }
        assert_eq!(admitted, 20);
    }

    #[test]
    fn call_gate_caps_concurrency_and_rate() {
        let t0 = Instant::now();
        let mut g = CallGate::new(t0, 3, 2.0);
        assert_eq!(g.admit(t0, 3), Err(CallRefusal::Concurrent));
        assert_eq!(g.admit(t0, 0), Ok(()));
        assert_eq!(g.admit(t0, 1), Ok(()));
        assert_eq!(g.admit(t0, 2), Err(CallRefusal::Rate));
        assert_eq!(g.admit(ms(t0, 500), 2), Ok(()));
    }

    #[test]
    fn rejections_of_many_sources_share_one_global_budget() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::new(RateConfig {
            rejections_per_second_all: 50.0,
            ..cfg(4096)
        });
        let mut counts = [0usize; 3];
        // 1,000 spoofed addresses, 30 requests each within 0.9 s: each is past its burst
        // (20, refilled at 10/s) and would get its own 2 or more rejections (2,000 in all);
        // all together get the shared 50 (and what it refills meanwhile).
        for round in 0..30u64 {
            for n in 0..1_000u32 {
                let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x7f01_0000 + n));
                let v = l.check(ip, ms(t0, round * 30));
                counts[v as usize] += 1;
            }
        }
        assert!(
            counts[0] >= 20_000,
            "each source's burst admitted: {counts:?}"
        );
        assert!(counts[2] > 1_000, "past both, dropped: {counts:?}");
        assert!((50..=100).contains(&counts[1]), "{counts:?}");
    }
}

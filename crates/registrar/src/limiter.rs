//! Brute-force protection that cannot be turned against legitimate users.
//!
//! Failures are counted per *source* (an IPv4 address, or an IPv6 /64), never per
//! username: locking a username would let anyone lock an agent out by guessing its
//! password badly. A source that trips the threshold is locked for a cooldown that
//! doubles with each repeat offence ([`LockoutConfig::cooldown`] up to
//! [`LockoutConfig::max_cooldown`]). Two kinds of request are never refused because of a
//! lock, since others' failures (a NAT neighbour, spoofed UDP) may have caused it: a
//! refresh from the exact source address of one of the user's live bindings, and any
//! request for a user that this source authenticated within [`LockoutConfig::trust_ttl`]
//! (the [`TrustTable`]). Every table here is bounded per source and globally.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, SystemTime};

/// Brute-force protection settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockoutConfig {
    /// Failures within `window` from one source that lock it (default 10).
    pub max_failures: u32,
    /// Length of the counting window, starting at the first failure (default 60 s).
    pub window: Duration,
    /// How long a source stays locked the first time (default 300 s); each further
    /// lockout within `trust_ttl` of the previous one doubles it.
    pub cooldown: Duration,
    /// Longest cooldown the doubling reaches (default 1 h).
    pub max_cooldown: Duration,
    /// Most sources tracked (default 4096); when full, the least useful entries go first,
    /// locked ones last.
    pub capacity: usize,
    /// How long a successful authentication exempts its (source, user) pair from the
    /// source's lockout (default 24 h). Also how long repeat offences are remembered.
    pub trust_ttl: Duration,
    /// Most users remembered as authenticated per source (default 16).
    pub trust_per_source: usize,
    /// Most (source, user) pairs remembered in all (default 65536).
    pub trust_capacity: usize,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        LockoutConfig {
            max_failures: 10,
            window: Duration::from_secs(60),
            cooldown: Duration::from_secs(300),
            max_cooldown: Duration::from_secs(3600),
            capacity: 4096,
            trust_ttl: Duration::from_secs(24 * 3600),
            trust_per_source: 16,
            trust_capacity: 65_536,
        }
    }
}

/// The key failures are counted under: the address itself for IPv4, its /64 for IPv6
/// (one host usually owns a whole /64, so per-address counting would be no limit).
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    window_start: SystemTime,
    failures: u32,
    locked_until: Option<SystemTime>,
    /// Lockouts so far (drives the doubling); forgotten `trust_ttl` after the last ended.
    strikes: u32,
}

impl Entry {
    fn locked(&self, now: SystemTime) -> bool {
        self.locked_until.is_some_and(|u| now < u)
    }
    /// Still carries information at `now` (locked, window running, or strikes remembered).
    fn live(&self, now: SystemTime, cfg: &LockoutConfig) -> bool {
        self.locked(now)
            || now < self.window_start + cfg.window
            || self
                .locked_until
                .is_some_and(|u| self.strikes > 0 && now < u + cfg.trust_ttl)
    }
}

/// A lockout that a failure just started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockoutStarted {
    /// The locked source key (see [`source_key`]).
    pub source: IpAddr,
    /// How long it is locked.
    pub cooldown: Duration,
    /// Which lockout of this source this is (1 for the first; the cooldown doubles).
    pub strike: u32,
}

/// Bounded failure counters with exponential-backoff lockouts, one entry per key.
#[derive(Debug)]
pub(crate) struct FailureTable<K> {
    map: HashMap<K, Entry>,
    cfg: LockoutConfig,
}

impl<K: Eq + Hash + Clone> FailureTable<K> {
    pub(crate) fn new(cfg: LockoutConfig) -> Self {
        FailureTable {
            map: HashMap::new(),
            cfg,
        }
    }

    /// Whether `key` is in its cooldown at `now`.
    pub(crate) fn is_locked(&self, key: &K, now: SystemTime) -> bool {
        self.map.get(key).is_some_and(|e| e.locked(now))
    }

    /// Counts one failure; returns the cooldown and strike number if this failure started
    /// a lockout. Failures while locked are not counted (the request was not evaluated
    /// as a guess, or was exempt).
    pub(crate) fn record_failure(&mut self, key: &K, now: SystemTime) -> Option<(Duration, u32)> {
        if !self.map.contains_key(key) && self.map.len() >= self.cfg.capacity.max(1) {
            self.make_room(now);
        }
        let cfg = &self.cfg;
        let e = self.map.entry(key.clone()).or_insert(Entry {
            window_start: now,
            failures: 0,
            locked_until: None,
            strikes: 0,
        });
        if e.locked(now) {
            return None;
        }
        if let Some(until) = e.locked_until {
            // A past lockout: forget it once it is old enough, else keep its strike count.
            if now >= until + cfg.trust_ttl {
                e.strikes = 0;
            }
        }
        if now >= e.window_start + cfg.window {
            e.window_start = now;
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        if e.failures < cfg.max_failures {
            return None;
        }
        e.strikes = e.strikes.saturating_add(1);
        let doublings = e.strikes.saturating_sub(1).min(30);
        let cooldown = cfg
            .cooldown
            .checked_mul(1u32 << doublings)
            .unwrap_or(cfg.max_cooldown)
            .min(cfg.max_cooldown.max(cfg.cooldown));
        e.locked_until = Some(now + cooldown);
        e.failures = 0;
        e.window_start = now + cooldown;
        Some((cooldown, e.strikes))
    }

    fn make_room(&mut self, now: SystemTime) {
        let cfg = self.cfg.clone();
        self.map.retain(|_, e| e.live(now, &cfg));
        if self.map.len() < cfg.capacity.max(1) {
            return;
        }
        // Drop the unlocked entry with the oldest window, else the lock ending soonest.
        let victim = self
            .map
            .iter()
            .min_by_key(|(_, e)| match e.locked_until.filter(|_| e.locked(now)) {
                None => (0, e.window_start),
                Some(until) => (1, until),
            })
            .map(|(k, _)| k.clone());
        if let Some(k) = victim {
            self.map.remove(&k);
        }
    }

    /// Keys locked at `now`.
    pub(crate) fn locked_count(&self, now: SystemTime) -> usize {
        self.map.values().filter(|e| e.locked(now)).count()
    }

    /// Keys tracked.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Drops entries that no longer carry information.
    pub(crate) fn prune(&mut self, now: SystemTime) {
        let cfg = self.cfg.clone();
        self.map.retain(|_, e| e.live(now, &cfg));
    }
}

/// Which users each source authenticated recently: such (source, user) pairs are exempt
/// from the source's lockout. Bounded per source and in total.
#[derive(Debug)]
pub(crate) struct TrustTable {
    map: HashMap<IpAddr, Vec<(String, SystemTime)>>,
    pairs: usize,
    cfg: LockoutConfig,
}

impl TrustTable {
    pub(crate) fn new(cfg: LockoutConfig) -> Self {
        TrustTable {
            map: HashMap::new(),
            pairs: 0,
            cfg,
        }
    }

    /// Remembers that `source` authenticated `user` at `now`.
    pub(crate) fn record(&mut self, source: IpAddr, user: &str, now: SystemTime) {
        if let Some(list) = self.map.get_mut(&source) {
            if let Some(slot) = list.iter_mut().find(|(u, _)| u == user) {
                slot.1 = now;
                return;
            }
        }
        if self.pairs >= self.cfg.trust_capacity.max(1) {
            self.prune(now);
            if self.pairs >= self.cfg.trust_capacity.max(1) {
                self.evict_oldest();
            }
        }
        let per_source = self.cfg.trust_per_source.max(1);
        let list = self.map.entry(source).or_default();
        if list.len() >= per_source {
            if let Some(i) = list
                .iter()
                .enumerate()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(i, _)| i)
            {
                list.swap_remove(i);
                self.pairs -= 1;
            }
        }
        list.push((user.to_owned(), now));
        self.pairs += 1;
    }

    /// Whether `source` authenticated `user` within the trust TTL before `now`.
    pub(crate) fn trusts(&self, source: IpAddr, user: &str, now: SystemTime) -> bool {
        self.map.get(&source).is_some_and(|list| {
            list.iter()
                .any(|(u, at)| u == user && now < *at + self.cfg.trust_ttl)
        })
    }

    fn evict_oldest(&mut self) {
        let victim = self
            .map
            .iter()
            .flat_map(|(ip, list)| list.iter().map(move |(u, at)| (*at, *ip, u.clone())))
            .min_by_key(|(at, _, _)| *at);
        if let Some((_, ip, user)) = victim {
            if let Some(list) = self.map.get_mut(&ip) {
                list.retain(|(u, _)| *u != user);
                self.pairs -= 1;
                if list.is_empty() {
                    self.map.remove(&ip);
                }
            }
        }
    }

    /// Forgets pairs older than the trust TTL.
    pub(crate) fn prune(&mut self, now: SystemTime) {
        let ttl = self.cfg.trust_ttl;
        let mut pairs = 0;
        self.map.retain(|_, list| {
            list.retain(|(_, at)| now < *at + ttl);
            pairs += list.len();
            !list.is_empty()
        });
        self.pairs = pairs;
    }

    /// (source, user) pairs remembered.
    pub(crate) fn len(&self) -> usize {
        self.pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn t(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_000_000 + s)
    }

    fn cfg(cap: usize) -> LockoutConfig {
        LockoutConfig {
            max_failures: 3,
            window: Duration::from_secs(60),
            cooldown: Duration::from_secs(120),
            max_cooldown: Duration::from_secs(400),
            capacity: cap,
            trust_ttl: Duration::from_secs(86_400),
            trust_per_source: 2,
            trust_capacity: 3,
        }
    }

    #[test]
    fn locks_after_n_failures_in_window_and_unlocks_after_cooldown() {
        let mut tab = FailureTable::new(cfg(8));
        assert_eq!(tab.record_failure(&"a", t(0)), None);
        assert_eq!(tab.record_failure(&"a", t(10)), None);
        assert!(!tab.is_locked(&"a", t(10)));
        assert_eq!(
            tab.record_failure(&"a", t(20)),
            Some((Duration::from_secs(120), 1))
        );
        assert!(tab.is_locked(&"a", t(21)));
        assert!(!tab.is_locked(&"b", t(21)));
        assert_eq!(tab.locked_count(t(21)), 1);
        // Failures while locked are not counted.
        assert_eq!(tab.record_failure(&"a", t(30)), None);
        assert!(tab.is_locked(&"a", t(139)));
        assert!(!tab.is_locked(&"a", t(140)));
        // counting restarts after the cooldown
        assert_eq!(tab.record_failure(&"a", t(141)), None);
        assert!(!tab.is_locked(&"a", t(141)));
    }

    #[test]
    fn repeat_offences_double_the_cooldown_up_to_the_cap_and_are_forgotten() {
        let mut tab = FailureTable::new(cfg(8));
        let mut now = 0;
        let mut cooldowns = Vec::new();
        for _ in 0..4 {
            let mut started = None;
            for _ in 0..3 {
                started = started.or(tab.record_failure(&"a", t(now)));
            }
            let (cd, _) = started.expect("third failure locks");
            cooldowns.push(cd.as_secs());
            now += cd.as_secs();
            assert!(!tab.is_locked(&"a", t(now)));
        }
        assert_eq!(cooldowns, vec![120, 240, 400, 400]);
        // A day after the last lockout ended, the strikes are forgotten.
        now += 86_400;
        for _ in 0..2 {
            assert_eq!(tab.record_failure(&"a", t(now)), None);
        }
        assert_eq!(
            tab.record_failure(&"a", t(now)),
            Some((Duration::from_secs(120), 1))
        );
    }

    #[test]
    fn failures_outside_window_do_not_accumulate() {
        let mut tab = FailureTable::new(cfg(8));
        tab.record_failure(&"a", t(0));
        tab.record_failure(&"a", t(30));
        assert_eq!(tab.record_failure(&"a", t(61)), None); // new window
        assert!(!tab.is_locked(&"a", t(62)));
    }

    #[test]
    fn bounded_and_keeps_locked_entries() {
        let mut tab: FailureTable<String> = FailureTable::new(cfg(2));
        let locked = "locked".to_owned();
        for s in 0..3 {
            tab.record_failure(&locked, t(s));
        }
        assert!(tab.is_locked(&locked, t(3)));
        for i in 0..100u32 {
            tab.record_failure(&format!("x{i}"), t(4));
            assert!(tab.len() <= 2);
        }
        assert!(tab.is_locked(&locked, t(5)));
        tab.prune(t(500 + 86_400));
        assert_eq!(tab.len(), 0);
    }

    #[test]
    fn ipv6_sources_are_counted_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(source_key(a), source_key(b));
        assert_ne!(source_key(a), source_key(c));
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(source_key(v4), v4);
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(source_key(mapped), v4);
    }

    #[test]
    fn trust_expires_and_is_bounded_per_source_and_in_total() {
        let mut tr = TrustTable::new(cfg(8));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        tr.record(a, "u1", t(0));
        assert!(tr.trusts(a, "u1", t(86_399)));
        assert!(!tr.trusts(a, "u1", t(86_400)));
        assert!(!tr.trusts(b, "u1", t(1)));
        assert!(!tr.trusts(a, "u2", t(1)));
        // Per source: at most 2; the oldest goes.
        tr.record(a, "u2", t(1));
        tr.record(a, "u3", t(2));
        assert_eq!(tr.len(), 2);
        assert!(!tr.trusts(a, "u1", t(3)));
        assert!(tr.trusts(a, "u2", t(3)) && tr.trusts(a, "u3", t(3)));
        // In total: at most 3; the oldest pair anywhere goes.
        tr.record(b, "u1", t(4));
        tr.record(b, "u4", t(5));
        assert_eq!(tr.len(), 3);
        assert!(!tr.trusts(a, "u2", t(6)));
        // Refreshing a pair does not grow the table.
        tr.record(b, "u4", t(7));
        assert_eq!(tr.len(), 3);
        tr.prune(t(7 + 86_400));
        assert_eq!(tr.len(), 0);
    }
}

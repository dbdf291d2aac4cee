//! Failed-authentication counting for brute-force protection: a bounded table of
//! fixed windows per key (source IP, or username).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, SystemTime};

/// Brute-force protection settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockoutConfig {
    /// Failures within `window` that trigger a lockout (per source IP and per username).
    pub max_failures: u32,
    /// Length of the counting window, starting at the first failure.
    pub window: Duration,
    /// How long a key stays locked once tripped.
    pub cooldown: Duration,
    /// Most keys tracked per table (IPs, usernames); the least useful entries are dropped
    /// first when full, locked ones last.
    pub capacity: usize,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        LockoutConfig {
            max_failures: 10,
            window: Duration::from_secs(60),
            cooldown: Duration::from_secs(300),
            capacity: 4096,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    window_start: SystemTime,
    failures: u32,
    locked_until: Option<SystemTime>,
}

impl Entry {
    fn locked(&self, now: SystemTime) -> bool {
        self.locked_until.is_some_and(|u| now < u)
    }
    /// Still carries information at `now` (locked, or window running).
    fn live(&self, now: SystemTime, cfg: &LockoutConfig) -> bool {
        self.locked(now) || now < self.window_start + cfg.window
    }
}

/// Bounded failure counters for one kind of key.
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

    /// Counts one failure; returns `true` if this failure started a lockout.
    pub(crate) fn record_failure(&mut self, key: &K, now: SystemTime) -> bool {
        if !self.map.contains_key(key) && self.map.len() >= self.cfg.capacity.max(1) {
            self.make_room(now);
        }
        let cfg = &self.cfg;
        let e = self.map.entry(key.clone()).or_insert(Entry {
            window_start: now,
            failures: 0,
            locked_until: None,
        });
        if e.locked(now) {
            return false;
        }
        if now >= e.window_start + cfg.window || e.locked_until.is_some() {
            *e = Entry {
                window_start: now,
                failures: 0,
                locked_until: None,
            };
        }
        e.failures = e.failures.saturating_add(1);
        if e.failures >= cfg.max_failures {
            e.locked_until = Some(now + cfg.cooldown);
            return true;
        }
        false
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
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Drops entries that no longer carry information.
    pub(crate) fn prune(&mut self, now: SystemTime) {
        let cfg = self.cfg.clone();
        self.map.retain(|_, e| e.live(now, &cfg));
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
            capacity: cap,
        }
    }

    #[test]
    fn locks_after_n_failures_in_window_and_unlocks_after_cooldown() {
        let mut tab = FailureTable::new(cfg(8));
        assert!(!tab.record_failure(&"a", t(0)));
        assert!(!tab.record_failure(&"a", t(10)));
        assert!(!tab.is_locked(&"a", t(10)));
        assert!(tab.record_failure(&"a", t(20)));
        assert!(tab.is_locked(&"a", t(21)));
        assert!(!tab.is_locked(&"b", t(21)));
        assert_eq!(tab.locked_count(t(21)), 1);
        assert!(tab.is_locked(&"a", t(139)));
        assert!(!tab.is_locked(&"a", t(140)));
        // counting restarts after the cooldown
        assert!(!tab.record_failure(&"a", t(141)));
        assert!(!tab.is_locked(&"a", t(141)));
    }

    #[test]
    fn failures_outside_window_do_not_accumulate() {
        let mut tab = FailureTable::new(cfg(8));
        tab.record_failure(&"a", t(0));
        tab.record_failure(&"a", t(30));
        assert!(!tab.record_failure(&"a", t(61))); // new window
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
        tab.prune(t(500));
        assert_eq!(tab.len(), 0);
    }
}

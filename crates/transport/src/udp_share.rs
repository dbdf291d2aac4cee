//! Each UDP source's share of the inbound queue.
//!
//! The SIP driver is one task: when it falls behind (a flood, or a machine whose cores are
//! busy elsewhere), received datagrams wait in the inbound channel. Without shares, the
//! first source to fill that channel decides who else is heard: a flood of INVITEs from
//! one address made every other source's REGISTER and OPTIONS fall off the full queue,
//! retransmissions included. Here, once the queue is more than half full, each source (an
//! IPv4 address, or an IPv6 /64, which one host can fill) may hold at most an eighth of the
//! queue's messages and of its bytes; a datagram past its source's share is dropped before
//! it is copied or parsed (counted in `udp_share_dropped`), so the reader stays cheap and
//! the rest of the queue stays open to everyone else. Below half full nothing changes: a
//! busy trunk may use the queue as before. Sources that spoof many addresses are not stopped by this; the driver's
//! per-source rate limits and the global budgets still apply to them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A source may hold at most `1 / SHARE_DIVISOR` of the queue's messages and bytes.
pub(crate) const SHARE_DIVISOR: usize = 8;

/// When the table holds more sources than this, sources with nothing queued are forgotten.
const FORGET_IDLE_ABOVE: usize = 4096;

/// What one source has waiting in the inbound queue now.
#[derive(Debug, Default)]
pub(crate) struct SourceBacklog {
    messages: AtomicUsize,
    bytes: AtomicUsize,
}

/// One queued message's place in its source's backlog; released on drop.
#[derive(Debug)]
pub(crate) struct BacklogEntry {
    source: Arc<SourceBacklog>,
    bytes: usize,
}

impl Drop for BacklogEntry {
    fn drop(&mut self) {
        self.source.messages.fetch_sub(1, Ordering::Relaxed);
        self.source.bytes.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// The backlogs of the sources one UDP reader has heard from; owned by that reader.
pub(crate) struct SourceShares {
    max_messages: usize,
    max_bytes: usize,
    sources: HashMap<IpAddr, Arc<SourceBacklog>>,
}

impl SourceShares {
    /// Shares of a queue of `queue_messages` messages and `queue_bytes` bytes.
    pub(crate) fn new(queue_messages: usize, queue_bytes: usize) -> SourceShares {
        SourceShares {
            max_messages: (queue_messages / SHARE_DIVISOR).max(1),
            max_bytes: (queue_bytes / SHARE_DIVISOR).max(1),
            sources: HashMap::new(),
        }
    }

    /// Counts a datagram of `bytes` from `ip` in its source's backlog, unless the queue is
    /// `crowded` (over half full) and the source already holds its share (then `None`:
    /// drop the datagram).
    pub(crate) fn admit(
        &mut self,
        ip: IpAddr,
        bytes: usize,
        crowded: bool,
    ) -> Option<BacklogEntry> {
        let key = source_key(ip);
        if !self.sources.contains_key(&key) && self.sources.len() >= FORGET_IDLE_ABOVE {
            // Entries still referenced by queued messages stay; they are bounded by the
            // queue's own capacity.
            self.sources.retain(|_, b| Arc::strong_count(b) > 1);
        }
        let source = self.sources.entry(key).or_default();
        let messages = source.messages.load(Ordering::Relaxed);
        let held = source.bytes.load(Ordering::Relaxed);
        if crowded && (messages >= self.max_messages || held.saturating_add(bytes) > self.max_bytes)
        {
            return None;
        }
        source.messages.fetch_add(1, Ordering::Relaxed);
        source.bytes.fetch_add(bytes, Ordering::Relaxed);
        Some(BacklogEntry {
            source: source.clone(),
            bytes,
        })
    }

    /// How many sources are tracked (bounded; for tests).
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.sources.len()
    }
}

/// An IPv4 address as is; an IPv6 address by its /64 (one host usually has a whole /64).
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_flooding_source_is_held_to_its_share_and_others_still_get_in() {
        let mut shares = SourceShares::new(80, 1 << 20);
        let mut queued = Vec::new();
        let mut refused = 0;
        // Not crowded: the queue's own limits alone apply.
        let early: Vec<_> = (0..20)
            .map(|_| shares.admit(ip("127.0.0.2"), 500, false))
            .collect();
        assert!(early.iter().all(Option::is_some));
        drop(early);
        for _ in 0..100 {
            match shares.admit(ip("127.0.0.2"), 500, true) {
                Some(e) => queued.push(e),
                None => refused += 1,
            }
        }
        assert_eq!(queued.len(), 10, "an eighth of 80 messages");
        assert_eq!(refused, 90);
        // Another source is untouched by the flood.
        let register = shares.admit(ip("127.0.0.3"), 600, true);
        assert!(register.is_some());
        // As the driver takes the flood's messages, the flood may queue again.
        queued.truncate(5);
        assert!(shares.admit(ip("127.0.0.2"), 500, true).is_some());
    }

    #[test]
    fn the_byte_share_bounds_large_datagrams() {
        let mut shares = SourceShares::new(8192, 8 * 64_000);
        let first = shares.admit(ip("10.0.0.1"), 60_000, true);
        assert!(first.is_some());
        assert!(
            shares.admit(ip("10.0.0.1"), 60_000, true).is_none(),
            "64 kB share"
        );
        drop(first);
        assert!(shares.admit(ip("10.0.0.1"), 60_000, true).is_some());
    }

    #[test]
    fn an_ipv6_slash_64_is_one_source() {
        let mut shares = SourceShares::new(16, 1 << 20);
        let a = shares.admit(ip("2001:db8::1"), 10, true);
        let b = shares.admit(ip("2001:db8::ffff:2"), 10, true);
        assert!(a.is_some() && b.is_some());
        assert!(
            shares.admit(ip("2001:db8::3"), 10, true).is_none(),
            "two of 16 is the share"
        );
        assert!(
            shares.admit(ip("2001:db8:0:1::1"), 10, true).is_some(),
            "another /64"
        );
        assert_eq!(source_key(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
    }

    #[test]
    fn idle_sources_are_forgotten_so_the_table_stays_bounded() {
        let mut shares = SourceShares::new(8192, 1 << 24);
        let held = shares.admit(ip("192.0.2.1"), 10, true);
        for n in 0..20_000u32 {
            let addr = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n));
            drop(shares.admit(addr, 10, true));
        }
        assert!(
            shares.tracked() <= FORGET_IDLE_ABOVE + 1,
            "{}",
            shares.tracked()
        );
        // A source with a message still queued keeps its count.
        assert!(held.is_some());
        assert_eq!(
            shares.sources[&ip("192.0.2.1")]
                .messages
                .load(Ordering::Relaxed),
            1
        );
    }
}

//! The RTP port pool: even ports from a configured range, each with the odd port above
//! it for RTCP (RFC 3550 §11), handed out in an order nobody outside can predict.
//!
//! Why random: with ports handed out in order, an attacker who sprays the next port
//! knows where the next call's media will arrive. Each allocation starts at a random pair
//! and walks the range with a random stride coprime to its size, so it visits every pair
//! once and the port a call gets says nothing about the next call's. A port in use (by a
//! live call, or by another program) fails to bind and is skipped: the OS guarantees a
//! pair is never handed out twice while its sockets live. Ports return to the pool when
//! the sockets drop.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;

use rand::Rng;
use tokio::net::UdpSocket;

/// An RTP socket and its RTCP companion (port + 1).
#[derive(Debug)]
pub struct RtpSocketPair {
    /// The RTP socket (even port).
    pub rtp: UdpSocket,
    /// The RTCP socket (RTP port + 1).
    pub rtcp: UdpSocket,
}

/// Hands out RTP/RTCP socket pairs from a port range in random order (see the module
/// docs), skipping ports the OS refuses (in use). Ports return to the pool when the
/// sockets drop.
#[derive(Clone, Debug)]
pub struct RtpPortPool {
    ip: IpAddr,
    first: u16,
    pairs: u32,
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A random walk over `0..pairs` that visits every index once: a random start and a
/// random stride coprime to `pairs`.
fn random_walk(rng: &mut impl Rng, pairs: u32) -> impl Iterator<Item = u32> {
    let start = rng.gen_range(0..pairs.max(1));
    let mut step = 1;
    if pairs > 2 {
        // Coprime strides are common (at least a fair share of 1..pairs): a few draws do.
        for _ in 0..64 {
            let s = rng.gen_range(1..pairs);
            if gcd(s, pairs) == 1 {
                step = s;
                break;
            }
        }
    }
    (0..pairs).map(move |k| {
        let i = u64::from(start) + u64::from(k) * u64::from(step);
        (i % u64::from(pairs.max(1))) as u32
    })
}

impl RtpPortPool {
    /// A pool over `range` (e.g. 20000..=29999) on `ip`.
    pub fn new(ip: IpAddr, range: RangeInclusive<u16>) -> RtpPortPool {
        let first = range.start().saturating_add(range.start() % 2);
        let last = *range.end();
        let pairs = if last > first {
            (u32::from(last) - u32::from(first)).div_ceil(2)
        } else {
            0
        };
        RtpPortPool { ip, first, pairs }
    }

    /// The IP the pool binds on.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// How many RTP/RTCP pairs the range holds.
    pub fn capacity(&self) -> u32 {
        self.pairs
    }

    /// Binds a free pair chosen at random; `None` when every port in the range is taken.
    pub async fn allocate(&self) -> Option<RtpSocketPair> {
        // Walked lazily: collecting the order first cost an allocation of the whole
        // range (40 kB for 10,000 pairs) per call, a visible share of call setup.
        let order = random_walk(&mut rand::thread_rng(), self.pairs);
        for i in order {
            let port = u32::from(self.first) + i * 2;
            let Ok(port) = u16::try_from(port) else {
                continue;
            };
            let Ok(rtp) = UdpSocket::bind(SocketAddr::new(self.ip, port)).await else {
                continue;
            };
            let Ok(rtcp) = UdpSocket::bind(SocketAddr::new(self.ip, port + 1)).await else {
                continue;
            };
            return Some(RtpSocketPair { rtp, rtcp });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block of `len` consecutive ports starting at an even port, all free for UDP on
    /// 127.0.0.1 right now, below the kernel's ephemeral range (where any socket of a test
    /// running beside this one, or another program, may take a port at any moment).
    fn free_block(len: u16) -> RangeInclusive<u16> {
        let mut rng = rand::thread_rng();
        for _ in 0..200 {
            let base = rng.gen_range(11_000u16..30_000) & !1;
            let held: Vec<_> = (base..base + len)
                .map_while(|p| std::net::UdpSocket::bind(("127.0.0.1", p)).ok())
                .collect();
            if held.len() == usize::from(len) {
                return base..=base + len - 1;
            }
        }
        panic!("no block of {len} free UDP ports below 30000 on 127.0.0.1");
    }

    #[tokio::test]
    async fn allocates_even_ports_with_rtcp_above() {
        let pool = RtpPortPool::new("127.0.0.1".parse().unwrap(), free_block(12));
        let a = pool.allocate().await.unwrap();
        let b = pool.allocate().await.unwrap();
        let pa = a.rtp.local_addr().unwrap().port();
        let pb = b.rtp.local_addr().unwrap().port();
        assert_eq!(pa % 2, 0);
        assert_eq!(a.rtcp.local_addr().unwrap().port(), pa + 1);
        assert_ne!(pa, pb);
    }

    #[tokio::test]
    async fn exhausted_pool_says_none() {
        let pool = RtpPortPool::new("127.0.0.1".parse().unwrap(), free_block(4));
        let _a = pool.allocate().await.unwrap();
        let _b = pool.allocate().await.unwrap();
        assert!(pool.allocate().await.is_none());
    }

    #[test]
    fn a_random_walk_visits_every_pair_once() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::SmallRng::seed_from_u64(5);
        for pairs in [1, 2, 3, 10, 64, 5000] {
            for _ in 0..20 {
                let mut seen: Vec<u32> = random_walk(&mut rng, pairs).collect();
                seen.sort_unstable();
                assert_eq!(seen, (0..pairs).collect::<Vec<_>>(), "pairs {pairs}");
            }
        }
        assert_eq!(random_walk(&mut rng, 0).count(), 0);
    }

    #[tokio::test]
    async fn every_pair_is_handed_out_once_in_no_predictable_order() {
        // 8 pairs: all distinct while held, then none; a released pair comes back.
        let pool = RtpPortPool::new("127.0.0.1".parse().unwrap(), free_block(16));
        assert_eq!(pool.capacity(), 8);
        let mut held = Vec::new();
        while let Some(p) = pool.allocate().await {
            held.push(p);
            assert!(held.len() <= 8, "more pairs than the range holds");
        }
        let mut ports: Vec<u16> = held
            .iter()
            .map(|p| p.rtp.local_addr().unwrap().port())
            .collect();
        let order = ports.clone();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 8, "a pair handed out twice: {order:?}");
        let released = order[3];
        held.remove(3);
        let again = pool.allocate().await.expect("the released pair");
        assert_eq!(again.rtp.local_addr().unwrap().port(), released);

        // 50 pairs: in allocation order, a port is rarely the one after the previous
        // (round-robin would make it so 49 times out of 49; random, about once).
        let pool = RtpPortPool::new("127.0.0.1".parse().unwrap(), free_block(100));
        let mut held = Vec::new();
        while let Some(p) = pool.allocate().await {
            held.push(p);
        }
        let order: Vec<u16> = held
            .iter()
            .map(|p| p.rtp.local_addr().unwrap().port())
            .collect();
        assert_eq!(order.len(), 50);
        let in_sequence = order.windows(2).filter(|w| w[1] == w[0] + 2).count();
        assert!(in_sequence < 15, "allocation looks sequential: {order:?}");
    }
}

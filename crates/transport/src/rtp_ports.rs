//! The RTP port pool: even ports from a configured range, each with the odd port above
//! it for RTCP (RFC 3550 §11).

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use tokio::net::UdpSocket;

/// An RTP socket and its RTCP companion (port + 1).
#[derive(Debug)]
pub struct RtpSocketPair {
    /// The RTP socket (even port).
    pub rtp: UdpSocket,
    /// The RTCP socket (RTP port + 1).
    pub rtcp: UdpSocket,
}

/// Hands out RTP/RTCP socket pairs from a port range, round-robin, skipping ports the
/// OS refuses (in use by someone else). Ports return to the pool when the sockets drop.
#[derive(Clone, Debug)]
pub struct RtpPortPool {
    ip: IpAddr,
    first: u16,
    pairs: u32,
    next: Arc<AtomicU32>,
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
        RtpPortPool {
            ip,
            first,
            pairs,
            next: Arc::new(AtomicU32::new(0)),
        }
    }

    /// The IP the pool binds on.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// Binds the next free pair; `None` when every port in the range is taken.
    pub async fn allocate(&self) -> Option<RtpSocketPair> {
        for _ in 0..self.pairs {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % self.pairs.max(1);
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

    #[tokio::test]
    async fn allocates_even_ports_with_rtcp_above() {
        let pool = RtpPortPool::new("127.0.0.1".parse().unwrap(), 41000..=41011);
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
        let pool = RtpPortPool::new("127.0.0.1".parse().unwrap(), 41100..=41103);
        let _a = pool.allocate().await.unwrap();
        let _b = pool.allocate().await.unwrap();
        assert!(pool.allocate().await.is_none());
    }
}

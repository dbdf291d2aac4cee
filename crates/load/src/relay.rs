//! The minimal loopback relay (`switchboard-load relay`): the physical floor a media
//! relay cannot go below on this machine. Two UDP sockets per call (ports `first + 2i`
//! for the caller's side and `first + 2i + 1` for the agent's side); each socket latches
//! the first source it hears from and forwards every datagram it receives to the other
//! side's latched source through the other socket. No parsing, no copying beyond the one
//! receive buffer, no timers: one tokio task per call, `recv_from` and `send_to` only.
//! A datagram that arrives before the other side has latched is dropped and counted.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::net::UdpSocket;

/// What a relay run counts.
#[derive(Default)]
pub(crate) struct RelayCounters {
    pub(crate) forwarded: AtomicU64,
    /// Dropped because the other side had not sent yet (nowhere to send to).
    pub(crate) unlatched: AtomicU64,
    pub(crate) send_errors: AtomicU64,
}

/// The ports of call `i` relative to `first`: (caller side, agent side).
pub(crate) fn call_ports(first: u16, i: u32) -> Option<(u16, u16)> {
    let a = u32::from(first) + 2 * i;
    let b = a + 1;
    Some((u16::try_from(a).ok()?, u16::try_from(b).ok()?))
}

/// Binds `calls` socket pairs from `first` and relays until `duration` has passed.
pub(crate) async fn run(calls: u32, first: u16, duration: Duration) -> anyhow::Result<()> {
    let counters = Arc::new(RelayCounters::default());
    let mut set = tokio::task::JoinSet::new();
    for i in 0..calls {
        let (pa, pb) = call_ports(first, i).context("--calls from --first-port passes 65535")?;
        let a = UdpSocket::bind(("127.0.0.1", pa))
            .await
            .with_context(|| format!("bind 127.0.0.1:{pa}"))?;
        let b = UdpSocket::bind(("127.0.0.1", pb))
            .await
            .with_context(|| format!("bind 127.0.0.1:{pb}"))?;
        set.spawn(relay_pair(a, b, counters.clone()));
    }
    println!("READY relay calls={calls} first_port={first}");
    let end = Instant::now() + duration;
    let mut last = counters.forwarded.load(Ordering::Relaxed);
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(5).min(end - Instant::now())).await;
        let now = counters.forwarded.load(Ordering::Relaxed);
        eprintln!(
            "relay: forwarded {now} (+{}), dropped before latching {}, send errors {}",
            now - last,
            counters.unlatched.load(Ordering::Relaxed),
            counters.send_errors.load(Ordering::Relaxed),
        );
        last = now;
    }
    set.abort_all();
    Ok(())
}

/// Relays between the caller-side socket `a` and the agent-side socket `b` of one call.
pub(crate) async fn relay_pair(a: UdpSocket, b: UdpSocket, c: Arc<RelayCounters>) {
    let mut peer_a: Option<SocketAddr> = None;
    let mut peer_b: Option<SocketAddr> = None;
    let (mut buf_a, mut buf_b) = ([0u8; 2048], [0u8; 2048]);
    loop {
        tokio::select! {
            r = a.recv_from(&mut buf_a) => {
                let Ok((n, from)) = r else { continue };
                peer_a = Some(from);
                forward(&b, peer_b, &buf_a[..n], &c).await;
            }
            r = b.recv_from(&mut buf_b) => {
                let Ok((n, from)) = r else { continue };
                peer_b = Some(from);
                forward(&a, peer_a, &buf_b[..n], &c).await;
            }
        }
    }
}

async fn forward(out: &UdpSocket, to: Option<SocketAddr>, data: &[u8], c: &RelayCounters) {
    match to {
        None => {
            c.unlatched.fetch_add(1, Ordering::Relaxed);
        }
        Some(to) => match out.send_to(data, to).await {
            Ok(_) => {
                c.forwarded.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                c.send_errors.fetch_add(1, Ordering::Relaxed);
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ports_are_consecutive_pairs_and_refuse_overflow() {
        assert_eq!(call_ports(30000, 0), Some((30000, 30001)));
        assert_eq!(call_ports(30000, 7), Some((30014, 30015)));
        assert_eq!(call_ports(65534, 0), Some((65534, 65535)));
        assert_eq!(call_ports(65534, 1), None);
    }

    #[tokio::test]
    async fn relays_both_ways_once_both_sides_latched_and_counts_what_it_could_not_send() {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (ra, rb) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let c = Arc::new(RelayCounters::default());
        let task = tokio::spawn(relay_pair(a, b, c.clone()));
        let caller = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let agent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        // Whichever the relay takes first has nowhere to go (dropped, counted); the other
        // then reaches its side.
        caller.send_to(b"c1", ra).await.unwrap();
        agent.send_to(b"a1", rb).await.unwrap();
        let (mut bc, mut ba) = ([0u8; 64], [0u8; 64]);
        tokio::select! {
            r = caller.recv_from(&mut bc) => {
                let (n, from) = r.unwrap();
                assert_eq!((&bc[..n], from), (&b"a1"[..], ra));
            }
            r = agent.recv_from(&mut ba) => {
                let (n, from) = r.unwrap();
                assert_eq!((&ba[..n], from), (&b"c1"[..], rb));
            }
        }
        // Both latched: everything crosses now.
        caller.send_to(b"c2", ra).await.unwrap();
        agent.send_to(b"a2", rb).await.unwrap();
        let (n, _) = agent.recv_from(&mut ba).await.unwrap();
        assert_eq!(&ba[..n], b"c2");
        let (n, _) = caller.recv_from(&mut bc).await.unwrap();
        assert_eq!(&bc[..n], b"a2");
        assert_eq!(c.forwarded.load(Ordering::Relaxed), 3);
        assert_eq!(c.unlatched.load(Ordering::Relaxed), 1);
        task.abort();
    }
}

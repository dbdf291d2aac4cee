//! The call task's media sockets (each leg's RTP and RTCP, a supervisor's RTP) as one
//! source of datagrams for the task's loop (decision 0047).
//!
//! Each socket is asked for readiness with `poll_recv_ready` (the socket's single reader
//! waker slot: no waker clone when the task's waker is already stored, nothing to undo
//! when the loop moves on) and read with `try_recv_buf_from` only when the reactor reported
//! it readable. Before this, five `recv_buf_from` futures were built on every pass of the
//! loop: each one that was not ready cloned the task's waker into the socket's waiter list
//! under its lock, and took the lock again to unlink it when the pass ended, on every
//! relayed packet.
//!
//! The source is polled first in the task's `select!` (packets are what the task mostly
//! does), starting after the socket served last (round robin, so a busy leg does not
//! starve the other). So that a flood cannot starve the signals behind it, after
//! [`STREAK`] datagrams in a row without the sockets running dry it stands back once: it
//! wakes the task and returns `Pending`, so every other branch is polled before the next
//! datagram.

use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use tokio::net::UdpSocket;

use crate::media_leg::RxBuf;

/// Which of the call's sockets a datagram came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Port {
    RtpA,
    RtpB,
    RtpSupervisor,
    RtcpA,
    RtcpB,
}

const PORTS: [Port; 5] = [
    Port::RtpA,
    Port::RtpB,
    Port::RtpSupervisor,
    Port::RtcpA,
    Port::RtcpB,
];

/// Datagrams taken in a row (the sockets never empty in between) before the source lets
/// the task's other branches go first once.
pub(super) const STREAK: u32 = 32;

/// The sockets to read, in [`Port`] order (`None`: the call has no such socket now).
pub(super) type Sockets<'a> = [Option<&'a UdpSocket>; 5];

/// One receive buffer per [`Port`]; a buffer allocates on its first datagram.
pub(super) struct RxBufs([RxBuf; 5]);

impl RxBufs {
    pub(super) fn new() -> RxBufs {
        RxBufs(std::array::from_fn(|_| RxBuf::new()))
    }

    pub(super) fn get(&mut self, port: Port) -> &mut RxBuf {
        &mut self.0[port as usize]
    }
}

/// Where the source resumes: the socket to try first, the datagrams taken in a row.
#[derive(Default)]
pub(super) struct Turn {
    first: usize,
    streak: u32,
}

/// The next datagram on any of `socks`, received into its buffer in `bufs`: which socket,
/// and its source address (or the socket's error). See the module doc for the order. (The
/// call task polls [`poll_datagram`] inside its own poll; tests await this.)
#[cfg(test)]
pub(super) async fn next_datagram(
    socks: &Sockets<'_>,
    bufs: &mut RxBufs,
    turn: &mut Turn,
) -> (Port, io::Result<SocketAddr>) {
    std::future::poll_fn(|cx| poll_datagram(cx, socks, bufs, turn)).await
}

/// [`next_datagram`] as a poll: `Pending` with the task's waker stored on every socket.
pub(super) fn poll_datagram(
    cx: &mut Context<'_>,
    socks: &Sockets<'_>,
    bufs: &mut RxBufs,
    turn: &mut Turn,
) -> Poll<(Port, io::Result<SocketAddr>)> {
    if turn.streak >= STREAK {
        turn.streak = 0;
        cx.waker().wake_by_ref();
        return Poll::Pending;
    }
    for k in 0..PORTS.len() {
        let i = (turn.first + k) % PORTS.len();
        let Some(sock) = socks[i] else { continue };
        loop {
            match sock.poll_recv_ready(cx) {
                // Not readable (the task's waker is stored), or the task's budget is
                // spent (tokio wakes it again).
                Poll::Pending => break,
                Poll::Ready(Err(e)) => return Poll::Ready(turn.took(i, Err(e))),
                Poll::Ready(Ok(())) => match sock.try_recv_buf_from(bufs.0[i].prepare()) {
                    Ok((_, from)) => return Poll::Ready(turn.took(i, Ok(from))),
                    // A stale readiness: cleared by the failed read; ask again so the
                    // waker is stored before the task sleeps.
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Poll::Ready(turn.took(i, Err(e))),
                },
            }
        }
    }
    // Every socket is dry: the other branches get their turn in this same pass.
    turn.streak = 0;
    Poll::Pending
}

impl Turn {
    fn took(&mut self, i: usize, r: io::Result<SocketAddr>) -> (Port, io::Result<SocketAddr>) {
        self.first = (i + 1) % PORTS.len();
        self.streak += 1;
        (PORTS[i], r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn bound() -> UdpSocket {
        UdpSocket::bind("127.0.0.1:0").await.expect("bind")
    }

    /// Both legs' sockets have datagrams waiting: they are served alternately, each from
    /// its own buffer, whichever socket has more queued.
    #[tokio::test(flavor = "current_thread")]
    async fn both_legs_are_served_in_turn() {
        let (a, b) = (bound().await, bound().await);
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").expect("peer");
        for _ in 0..3 {
            peer.send_to(b"to-a", a.local_addr().unwrap()).unwrap();
        }
        peer.send_to(b"to-b", b.local_addr().unwrap()).unwrap();
        let socks: Sockets = [Some(&a), Some(&b), None, None, None];
        let mut bufs = RxBufs::new();
        let mut turn = Turn::default();
        let mut order = Vec::new();
        for _ in 0..4 {
            let (port, from) = next_datagram(&socks, &mut bufs, &mut turn).await;
            assert_eq!(from.expect("datagram"), peer.local_addr().unwrap());
            let data = bufs.get(port).take();
            assert_eq!(
                &data[..],
                if port == Port::RtpA { b"to-a" } else { b"to-b" }
            );
            order.push(port);
        }
        assert_eq!(
            order,
            [Port::RtpA, Port::RtpB, Port::RtpA, Port::RtpA],
            "round robin while both have datagrams"
        );
    }

    /// After `STREAK` datagrams in a row the source stands back once (and wakes the task),
    /// so the loop's other branches are polled before it goes on.
    #[tokio::test(flavor = "current_thread")]
    async fn a_flood_lets_the_other_branches_in() {
        let a = bound().await;
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").expect("peer");
        for _ in 0..STREAK + 1 {
            peer.send_to(b"x", a.local_addr().unwrap()).unwrap();
        }
        let socks: Sockets = [Some(&a), None, None, None, None];
        let mut bufs = RxBufs::new();
        let mut turn = Turn::default();
        for _ in 0..STREAK {
            let (port, _) = next_datagram(&socks, &mut bufs, &mut turn).await;
            assert_eq!(port, Port::RtpA);
        }
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(poll_datagram(&mut cx, &socks, &mut bufs, &mut turn).is_pending());
        // The next pass takes the datagram still waiting.
        let (port, _) = next_datagram(&socks, &mut bufs, &mut turn).await;
        assert_eq!(port, Port::RtpA);
    }
}

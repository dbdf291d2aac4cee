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
//!
//! The sockets that rarely carry anything (each leg's RTCP socket: a report every few
//! seconds; a supervisor's RTP socket) are asked only when they can have something
//! (decision 0050): each is polled with a waker of its own ([`PortWakers`]) that marks it
//! due and wakes the task, and a socket found dry keeps that waker, so until it is marked
//! again it is not polled. A relayed packet then costs readiness checks of the two RTP
//! sockets, not of four or five (each check of a dry socket takes the lock of its waker
//! slot). The RTP sockets are polled with the task's own waker on every pass: a waker of
//! their own would put a second atomic and a second wake-up call on every packet's path.
//! Every marked socket is due again when the task's waker changes, when a socket in a slot
//! is replaced, and when the task [rescans](Turn::rescan) (after any handler but a plain
//! relay, where the gate of `wake_gate.rs` opens too).

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

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

/// The ports polled only when marked (see the module doc); the others are polled with the
/// task's waker on every pass.
const MARKED: u8 =
    (1 << Port::RtpSupervisor as u8) | (1 << Port::RtcpA as u8) | (1 << Port::RtcpB as u8);

/// The ports whose sockets woke the task since they were last found dry, and the task.
struct Marks {
    due: AtomicU8,
    task: Waker,
}

/// The waker port `bit` of a [`Marks`] polls its socket with.
struct PortWake {
    marks: Arc<Marks>,
    bit: u8,
}

impl Wake for PortWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.marks.due.fetch_or(self.bit, Ordering::Release);
        self.marks.task.wake_by_ref();
    }
}

/// One waker per port, all marking the same [`Marks`] (made for one task waker).
struct PortWakers {
    marks: Arc<Marks>,
    ports: [Waker; 5],
}

impl PortWakers {
    fn new(task: &Waker) -> PortWakers {
        let marks = Arc::new(Marks {
            due: AtomicU8::new(0),
            task: task.clone(),
        });
        let ports = std::array::from_fn(|i| {
            Waker::from(Arc::new(PortWake {
                marks: marks.clone(),
                bit: 1 << i,
            }))
        });
        PortWakers { marks, ports }
    }
}

/// Where the source resumes: the socket to try first, the datagrams taken in a row, which
/// sockets may have something (see the module doc).
pub(super) struct Turn {
    first: usize,
    streak: u32,
    /// Marked ports to poll: woken, not yet found dry since, or not yet polled with their
    /// waker (the other ports are always polled).
    due: u8,
    /// The socket each slot held when last looked at (its address: a new socket is due).
    seen: [usize; 5],
    wakers: Option<PortWakers>,
}

impl Default for Turn {
    fn default() -> Turn {
        Turn {
            first: 0,
            streak: 0,
            due: MARKED,
            seen: [0; 5],
            wakers: None,
        }
    }
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

/// [`next_datagram`] as a poll: `Pending` with each socket's waker stored on it.
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
    turn.mark_due(cx.waker(), socks);
    let Some(wakers) = turn.wakers.as_ref() else {
        return Poll::Pending;
    };
    let mut got = None;
    'ports: for k in 0..PORTS.len() {
        let i = (turn.first + k) % PORTS.len();
        let bit = 1u8 << i;
        let marked = MARKED & bit != 0;
        if marked && turn.due & bit == 0 {
            continue;
        }
        let Some(sock) = socks[i] else {
            turn.due &= !bit;
            continue;
        };
        let waker = if marked { &wakers.ports[i] } else { cx.waker() };
        let mut pcx = Context::from_waker(waker);
        loop {
            match sock.poll_recv_ready(&mut pcx) {
                // Not readable: the waker is stored (a marked socket is due again when its
                // own fires). Or the task's budget is spent: tokio wakes that same waker.
                Poll::Pending => {
                    turn.due &= !bit;
                    break;
                }
                Poll::Ready(Err(e)) => {
                    got = Some((i, Err(e)));
                    break 'ports;
                }
                Poll::Ready(Ok(())) => match sock.try_recv_buf_from(bufs.0[i].prepare()) {
                    // A marked socket stays due: another datagram may be waiting.
                    Ok((_, from)) => {
                        got = Some((i, Ok(from)));
                        break 'ports;
                    }
                    // A stale readiness: cleared by the failed read; ask again so the
                    // waker is stored before the task sleeps.
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => {
                        got = Some((i, Err(e)));
                        break 'ports;
                    }
                },
            }
        }
    }
    if let Some((i, r)) = got {
        return Poll::Ready(turn.took(i, r));
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

    /// Every socket is polled on the next pass (one may have been replaced, or not polled
    /// with its waker yet).
    pub(super) fn rescan(&mut self) {
        self.due = MARKED;
    }

    /// Adds to `due` the marked ports whose wakers fired, all of them when `task` is not
    /// the waker the port wakers were made for (fresh ones then), and the slots whose
    /// socket changed.
    fn mark_due(&mut self, task: &Waker, socks: &Sockets<'_>) {
        let current = self
            .wakers
            .as_ref()
            .is_some_and(|w| w.marks.task.will_wake(task));
        if !current {
            self.wakers = Some(PortWakers::new(task));
            self.due = MARKED;
        }
        if let Some(w) = self.wakers.as_ref() {
            // Lowered before the sockets are polled: a wake-up from now on marks again.
            self.due |= w.marks.due.swap(0, Ordering::AcqRel);
        }
        for (i, sock) in socks.iter().enumerate() {
            let at = sock.map_or(0, |s| std::ptr::from_ref(s) as usize);
            if self.seen[i] != at {
                self.seen[i] = at;
                self.due |= (1 << i) & MARKED;
            }
        }
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

    /// One pass over `socks` with the task's waker: whether it found every socket dry.
    async fn dry(socks: &Sockets<'_>, bufs: &mut RxBufs, turn: &mut Turn) -> bool {
        std::future::poll_fn(|cx| Poll::Ready(poll_datagram(cx, socks, bufs, turn).is_pending()))
            .await
    }

    /// Once found dry, an RTCP socket is not asked again until its own waker fires: RTP
    /// on either leg is received without polling it, and a report on the caller's RTCP
    /// socket marks only that socket (decision 0050).
    #[tokio::test(flavor = "current_thread")]
    async fn an_rtcp_socket_is_asked_only_when_its_waker_fired() {
        let (a, b) = (bound().await, bound().await);
        let (a_rtcp, b_rtcp) = (bound().await, bound().await);
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").expect("peer");
        let socks: Sockets = [Some(&a), Some(&b), None, Some(&a_rtcp), Some(&b_rtcp)];
        let mut bufs = RxBufs::new();
        let mut turn = Turn::default();
        assert_eq!(turn.due, MARKED, "every socket is asked on the first pass");
        // The task's own waker from here on: the port wakers are made for it.
        assert!(dry(&socks, &mut bufs, &mut turn).await);
        assert_eq!(
            turn.due, 0,
            "all dry, the RTCP sockets each with its waker stored"
        );
        peer.send_to(b"to-b", b.local_addr().unwrap()).unwrap();
        let (port, from) = next_datagram(&socks, &mut bufs, &mut turn).await;
        assert_eq!(port, Port::RtpB);
        assert_eq!(from.expect("datagram"), peer.local_addr().unwrap());
        assert_eq!(&bufs.get(port).take()[..], b"to-b");
        assert_eq!(turn.due, 0, "RTP marks no RTCP socket");
        peer.send_to(b"rtcp", a_rtcp.local_addr().unwrap()).unwrap();
        let (port, _) = next_datagram(&socks, &mut bufs, &mut turn).await;
        assert_eq!(port, Port::RtcpA);
        assert_eq!(&bufs.get(port).take()[..], b"rtcp");
        assert_eq!(
            turn.due,
            1 << Port::RtcpA as u8,
            "only the caller's RTCP socket was marked (due until found dry)"
        );
        assert!(dry(&socks, &mut bufs, &mut turn).await);
        assert_eq!(turn.due, 0);
    }

    /// An RTCP socket put into a slot (a new agent leg) is asked on the next pass without
    /// anything marking it, and `rescan` makes every marked socket due again.
    #[tokio::test(flavor = "current_thread")]
    async fn a_new_socket_in_a_slot_is_asked_at_once() {
        let (a, a_rtcp) = (bound().await, bound().await);
        let (b, b_rtcp1, b_rtcp2) = (bound().await, bound().await, bound().await);
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").expect("peer");
        let mut bufs = RxBufs::new();
        let mut turn = Turn::default();
        let first: Sockets = [Some(&a), Some(&b), None, Some(&a_rtcp), Some(&b_rtcp1)];
        assert!(dry(&first, &mut bufs, &mut turn).await);
        assert_eq!(turn.due, 0);
        // Leg B's RTCP socket replaced by one that already has a datagram waiting.
        peer.send_to(b"new-b", b_rtcp2.local_addr().unwrap())
            .unwrap();
        let second: Sockets = [Some(&a), Some(&b), None, Some(&a_rtcp), Some(&b_rtcp2)];
        let (port, _) = next_datagram(&second, &mut bufs, &mut turn).await;
        assert_eq!(port, Port::RtcpB);
        assert_eq!(&bufs.get(port).take()[..], b"new-b");
        assert!(dry(&second, &mut bufs, &mut turn).await);
        assert_eq!(turn.due, 0);
        turn.rescan();
        assert_eq!(turn.due, MARKED);
    }
}

//! The minimal relay in the shape of a relay worker (`switchboard-load relay --shape
//! worker`): the same sockets, ports, latching and forwarding as `relay.rs`, but instead of
//! one tokio task per call, `--threads` plain threads each own a share of the calls'
//! sockets and drain them from one `epoll` set: every readable socket is read until it is
//! dry (`recvfrom` until `EAGAIN`) and each datagram sent on at once. This is the design
//! decision 0047 listed as not tried (rtpengine's: a thread per core owning many calls'
//! sockets), measured on its own so its floor can be compared with the per-call task's
//! (decision 0050). It is a measurement, not a relay to deploy: no timers, no parsing.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::relay::{call_ports, RelayCounters};

/// One call's two sockets and what each side latched onto.
struct Pair {
    a: UdpSocket,
    b: UdpSocket,
    peer_a: Option<SocketAddr>,
    peer_b: Option<SocketAddr>,
}

/// Binds `calls` socket pairs from `first`, relays them on `threads` worker threads until
/// `duration` has passed; prints the same `READY` line and progress as `relay::run`.
pub(crate) fn run(
    calls: u32,
    first: u16,
    threads: usize,
    duration: Duration,
) -> anyhow::Result<()> {
    let threads = threads.max(1);
    let mut shares: Vec<Vec<Pair>> = (0..threads).map(|_| Vec::new()).collect();
    for i in 0..calls {
        let (pa, pb) = call_ports(first, i).context("--calls from --first-port passes 65535")?;
        let bind = |p: u16| -> anyhow::Result<UdpSocket> {
            let s =
                UdpSocket::bind(("127.0.0.1", p)).with_context(|| format!("bind 127.0.0.1:{p}"))?;
            s.set_nonblocking(true)?;
            Ok(s)
        };
        shares[i as usize % threads].push(Pair {
            a: bind(pa)?,
            b: bind(pb)?,
            peer_a: None,
            peer_b: None,
        });
    }
    let counters = Arc::new(RelayCounters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for share in shares {
        let (c, stop) = (counters.clone(), stop.clone());
        workers.push(std::thread::spawn(move || worker(share, &c, &stop)));
    }
    println!("READY relay calls={calls} first_port={first} shape=worker threads={threads}");
    let end = Instant::now() + duration;
    let mut last = counters.forwarded.load(Ordering::Relaxed);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_secs(5).min(end - Instant::now()));
        let now = counters.forwarded.load(Ordering::Relaxed);
        eprintln!(
            "relay: forwarded {now} (+{}), dropped before latching {}, send errors {}",
            now - last,
            counters.unlatched.load(Ordering::Relaxed),
            counters.send_errors.load(Ordering::Relaxed),
        );
        last = now;
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join()
            .map_err(|_| anyhow::anyhow!("a relay worker panicked"))??;
    }
    Ok(())
}

/// Relays `pairs` until `stop`: one epoll set, socket `2i` (caller side) and `2i + 1`
/// (agent side) of pair `i` registered with their index as the event's data.
fn worker(mut pairs: Vec<Pair>, c: &RelayCounters, stop: &AtomicBool) -> anyhow::Result<()> {
    // SAFETY: plain syscalls on descriptors this function owns (the epoll set) or borrows
    // for its whole run (the sockets in `pairs`, which outlive every use below).
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(std::io::Error::last_os_error()).context("epoll_create1");
    }
    for (i, p) in pairs.iter().enumerate() {
        for (k, s) in [&p.a, &p.b].into_iter().enumerate() {
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: (2 * i + k) as u64,
            };
            // SAFETY: see above.
            if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, s.as_raw_fd(), &mut ev) } != 0 {
                return Err(std::io::Error::last_os_error()).context("epoll_ctl");
            }
        }
    }
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: `events` is valid for its length.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, 200) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            // SAFETY: closes the set this function created.
            unsafe { libc::close(ep) };
            return Err(e).context("epoll_wait");
        }
        for ev in &events[..n as usize] {
            let slot = ev.u64 as usize;
            let p = &mut pairs[slot / 2];
            let from_a = slot % 2 == 0;
            loop {
                let (sock, other) = if from_a { (&p.a, &p.b) } else { (&p.b, &p.a) };
                let (n, from) = match sock.recv_from(&mut buf) {
                    Ok(r) => r,
                    Err(_) => break,
                };
                let to = if from_a {
                    p.peer_a = Some(from);
                    p.peer_b
                } else {
                    p.peer_b = Some(from);
                    p.peer_a
                };
                match to {
                    None => {
                        c.unlatched.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(to) => match other.send_to(&buf[..n], to) {
                        Ok(_) => {
                            c.forwarded.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {
                            c.send_errors.fetch_add(1, Ordering::Relaxed);
                        }
                    },
                }
            }
        }
    }
    // SAFETY: closes the set this function created.
    unsafe { libc::close(ep) };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two calls on one worker: once both sides of a call latched, datagrams cross each
    /// call's pair and never another call's.
    #[test]
    fn relays_each_call_between_its_own_sides() {
        let a0 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b0 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let a1 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b1 = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addrs: Vec<SocketAddr> = [&a0, &b0, &a1, &b1]
            .iter()
            .map(|s| s.local_addr().unwrap())
            .collect();
        let mut pairs = Vec::new();
        for (a, b) in [(a0, b0), (a1, b1)] {
            a.set_nonblocking(true).unwrap();
            b.set_nonblocking(true).unwrap();
            pairs.push(Pair {
                a,
                b,
                peer_a: None,
                peer_b: None,
            });
        }
        let c = Arc::new(RelayCounters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let w = {
            let (c, stop) = (c.clone(), stop.clone());
            std::thread::spawn(move || worker(pairs, &c, &stop))
        };
        let peers: Vec<UdpSocket> = (0..4)
            .map(|_| {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                s
            })
            .collect();
        // The agent sides latch first (their datagrams have nowhere to go yet)...
        peers[1].send_to(b"b0-latch", addrs[1]).unwrap();
        peers[3].send_to(b"b1-latch", addrs[3]).unwrap();
        while c.unlatched.load(Ordering::Relaxed) < 2 {
            std::thread::yield_now();
        }
        // ...then each caller's datagram reaches its own call's agent.
        peers[0].send_to(b"call0", addrs[0]).unwrap();
        peers[2].send_to(b"call1", addrs[2]).unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = peers[1].recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"call0"[..], addrs[1]));
        let (n, from) = peers[3].recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"call1"[..], addrs[3]));
        // And back.
        peers[1].send_to(b"back0", addrs[1]).unwrap();
        let (n, from) = peers[0].recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"back0"[..], addrs[0]));
        stop.store(true, Ordering::Relaxed);
        w.join().unwrap().unwrap();
        assert_eq!(c.forwarded.load(Ordering::Relaxed), 3);
        assert_eq!(c.unlatched.load(Ordering::Relaxed), 2);
    }
}

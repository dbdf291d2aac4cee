//! What peers RECEIVE from the server, captured on loopback with a raw IPv4/UDP socket the
//! test owns (needs root or CAP_NET_RAW): every UDP datagram the server sends from its RTP
//! port range is copied to us as it is delivered, whoever it goes to. The server's range
//! is configured apart from the peers' ports, so a source port in it means "sent by the
//! server". RTCP (odd ports, payload types 200-204) is left out.

use std::ops::RangeInclusive;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

/// One RTP packet as a peer received it.
#[derive(Debug, Clone)]
pub struct Captured {
    /// When the capture saw it.
    pub at: Instant,
    /// The server's port it came from.
    pub src_port: u16,
    /// The peer's port it went to.
    pub dst_port: u16,
    /// RTP header fields.
    pub ssrc: u32,
    /// Sequence number.
    pub seq: u16,
    /// Timestamp.
    pub ts: u32,
    /// Marker bit.
    pub marker: bool,
    /// Payload type.
    pub pt: u8,
    /// Payload length (clock ticks for G.711/G.722 at 8 kHz; on SRTP the auth tag too).
    pub payload_len: usize,
    /// The payload bytes as sent (ciphertext and tag on SRTP).
    pub payload: Vec<u8>,
}

/// A running capture; [`RtpCapture::stop`] returns what it saw.
pub struct RtpCapture {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<Captured>>,
}

impl RtpCapture {
    /// Starts capturing RTP sent from ports in `server_ports`. None when the raw socket
    /// cannot be opened (not root / no CAP_NET_RAW).
    pub fn start(server_ports: RangeInclusive<u16>) -> Option<RtpCapture> {
        // SAFETY: plain socket(2)/setsockopt(2) calls; the fd is owned right away.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_UDP) };
        if fd < 0 {
            return None;
        }
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let size: libc::c_int = 16 << 20;
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        };
        unsafe {
            // FORCE ignores rmem_max (we are root); fall back to the plain option.
            let opt = &size as *const libc::c_int as *const libc::c_void;
            let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            if libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                opt,
                len,
            ) != 0
            {
                libc::setsockopt(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, opt, len);
            }
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const libc::timeval as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            );
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            let mut got = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                // SAFETY: buf is valid for buf.len() bytes.
                let n = unsafe {
                    libc::recv(
                        fd.as_raw_fd(),
                        buf.as_mut_ptr() as *mut libc::c_void,
                        buf.len(),
                        0,
                    )
                };
                if n <= 0 {
                    continue;
                }
                if let Some(c) = parse(&buf[..n as usize], &server_ports) {
                    got.push(c);
                }
            }
            got
        });
        Some(RtpCapture { stop, handle })
    }

    /// Stops and returns every packet seen, in arrival order.
    pub fn stop(self) -> Vec<Captured> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

/// An IPv4 datagram (header included) -> the RTP packet in it, if it is UDP from one of
/// `ports` carrying RTP version 2 that is not RTCP.
fn parse(ip: &[u8], ports: &RangeInclusive<u16>) -> Option<Captured> {
    let ihl = usize::from(*ip.first()? & 0x0f) * 4;
    if ip.first()? >> 4 != 4 || ip.get(9) != Some(&17) {
        return None;
    }
    let udp = ip.get(ihl..)?;
    let src_port = u16::from_be_bytes([*udp.first()?, *udp.get(1)?]);
    let dst_port = u16::from_be_bytes([*udp.get(2)?, *udp.get(3)?]);
    if !ports.contains(&src_port) || src_port % 2 == 1 {
        return None;
    }
    let rtp = udp.get(8..)?;
    if rtp.len() < 12 || rtp[0] >> 6 != 2 || (200..=204).contains(&rtp[1]) {
        return None;
    }
    let cc = usize::from(rtp[0] & 0x0f);
    Some(Captured {
        at: Instant::now(),
        src_port,
        dst_port,
        marker: rtp[1] & 0x80 != 0,
        pt: rtp[1] & 0x7f,
        seq: u16::from_be_bytes([rtp[2], rtp[3]]),
        ts: u32::from_be_bytes([rtp[4], rtp[5], rtp[6], rtp[7]]),
        ssrc: u32::from_be_bytes([rtp[8], rtp[9], rtp[10], rtp[11]]),
        payload_len: rtp.len().saturating_sub(12 + 4 * cc),
        payload: rtp.get(12 + 4 * cc..).unwrap_or_default().to_vec(),
    })
}

/// One stream a peer received: the packets from one server port to one peer port.
#[derive(Debug, Clone)]
pub struct Flow {
    /// The server's port.
    pub src_port: u16,
    /// The peer's port.
    pub dst_port: u16,
    /// Its packets in arrival order.
    pub packets: Vec<Captured>,
}

/// Splits a capture into flows, ordered by their first packet.
pub fn flows(packets: &[Captured]) -> Vec<Flow> {
    let mut out: Vec<Flow> = Vec::new();
    for p in packets {
        match out
            .iter_mut()
            .find(|f| f.src_port == p.src_port && f.dst_port == p.dst_port)
        {
            Some(f) => f.packets.push(p.clone()),
            None => out.push(Flow {
                src_port: p.src_port,
                dst_port: p.dst_port,
                packets: vec![p.clone()],
            }),
        }
    }
    out
}

/// The continuity rule for a received stream, per SSRC: each next sequence number is the
/// previous + 1 (mod 2^16; nothing is lost on loopback), timestamps never go back, and an
/// audio packet's timestamp is at least the previous audio packet's plus its duration.
/// Returns one line per violation.
pub fn continuity_problems(flow: &Flow) -> Vec<String> {
    let mut problems = Vec::new();
    let mut last: std::collections::HashMap<u32, &Captured> = Default::default();
    for p in &flow.packets {
        if let Some(prev) = last.get(&p.ssrc) {
            if p.seq != prev.seq.wrapping_add(1) {
                problems.push(format!(
                    "ssrc {:08x}: seq {} after {} (ts {} after {})",
                    p.ssrc, p.seq, prev.seq, p.ts, prev.ts
                ));
            }
            let dts = p.ts.wrapping_sub(prev.ts) as i32;
            let audio = |c: &Captured| c.pt < 96;
            let min = if audio(p) && audio(prev) {
                prev.payload_len as i32
            } else {
                0
            };
            if dts < min {
                problems.push(format!(
                    "ssrc {:08x}: ts {} after {} (seq {} after {}): moved {dts}, at least {min}",
                    p.ssrc, p.ts, prev.ts, p.seq, prev.seq
                ));
            }
        }
        last.insert(p.ssrc, p);
    }
    problems
}

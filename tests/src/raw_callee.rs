//! A callee the test drives step by step: one UDP socket for SIP that plays a carrier
//! answering the server's outbound INVITE (ringing, answering when the test says so,
//! sending in-dialog requests of its own, answering BYE), and one for RTP that sends
//! prepared audio (PCMU, 20 ms packets) and records what the server sends back, with the
//! time each packet arrived. SIPp runs fixed scripts; this one waits for the test.

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::raw_sip::header;

/// G.711 μ-law to linear.
pub fn ulaw_decode(b: u8) -> i16 {
    let u = !b;
    let exp = (u >> 4) & 7;
    let mant = i32::from(u & 0x0f);
    let s = (((mant << 3) + 0x84) << exp) - 0x84;
    if u & 0x80 != 0 {
        (-s) as i16
    } else {
        s as i16
    }
}

/// Linear to G.711 μ-law.
pub fn ulaw_encode(s: i16) -> u8 {
    let sign = if s < 0 { 0x80 } else { 0 };
    let x = i32::from(s).abs().min(32635) + 0x84;
    let mut exp = 7;
    let mut mask = 0x4000;
    while exp > 0 && x & mask == 0 {
        exp -= 1;
        mask >>= 1;
    }
    let mant = (x >> (exp + 3)) & 0x0f;
    !((sign | (exp << 4) | mant) as u8)
}

/// The server's INVITE as received.
#[derive(Clone, Debug)]
pub struct Incoming {
    /// The whole message.
    pub text: String,
    /// Where it came from (where responses and our requests go).
    pub from: SocketAddr,
    /// Where the server wants our RTP (its SDP's c= and m= lines).
    pub media: SocketAddr,
}

impl Incoming {
    fn hdr(&self, name: &str) -> String {
        header(&self.text, name).unwrap_or_default()
    }
}

/// The SIP side of the callee.
pub struct RawCallee {
    sock: UdpSocket,
    /// The RTP socket (its port goes into our SDP).
    pub rtp: UdpSocket,
    cseq: u32,
    /// Requests received while waiting for something else.
    stash: VecDeque<(String, SocketAddr)>,
}

const TO_TAG: &str = "rawcallee";

impl RawCallee {
    /// Binds SIP and RTP sockets on 127.0.0.1.
    pub fn bind() -> RawCallee {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind SIP");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let rtp = UdpSocket::bind("127.0.0.1:0").expect("bind RTP");
        RawCallee {
            sock,
            rtp,
            cseq: 0,
            stash: VecDeque::new(),
        }
    }

    /// The SIP port (the trunk's address).
    pub fn port(&self) -> u16 {
        self.sock.local_addr().expect("addr").port()
    }

    fn recv(&self, until: Instant) -> Option<(String, SocketAddr)> {
        let mut buf = vec![0u8; 65536];
        while Instant::now() < until {
            if let Ok((n, from)) = self.sock.recv_from(&mut buf) {
                return Some((String::from_utf8_lossy(&buf[..n]).to_string(), from));
            }
        }
        None
    }

    /// The next request `method` (earlier stashed ones first), up to `secs`; responses and
    /// other requests are kept for later, INVITE retransmissions dropped.
    pub fn wait_request(&mut self, method: &str, secs: u64) -> Option<(String, SocketAddr)> {
        if let Some(i) = self
            .stash
            .iter()
            .position(|(t, _)| t.starts_with(&format!("{method} ")))
        {
            return self.stash.remove(i);
        }
        let until = Instant::now() + Duration::from_secs(secs);
        while let Some((text, from)) = self.recv(until) {
            if text.starts_with(&format!("{method} ")) {
                return Some((text, from));
            }
            if !text.starts_with("SIP/2.0 ") && !text.starts_with("INVITE ") {
                self.stash.push_back((text, from));
            }
        }
        None
    }

    /// Waits for the server's INVITE.
    pub fn wait_invite(&mut self, secs: u64) -> Option<Incoming> {
        let (text, from) = self.wait_request("INVITE", secs)?;
        let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
        let ip = body
            .lines()
            .find_map(|l| l.strip_prefix("c=IN IP4 "))
            .unwrap_or("127.0.0.1")
            .trim()
            .to_string();
        let port = body
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or(0);
        let media = format!("{ip}:{port}").parse().expect("media address");
        Some(Incoming { text, from, media })
    }

    /// Answers `inv` with `status` (`reason`), our SDP on a 200.
    pub fn respond(&self, inv: &Incoming, status: u16, reason: &str) {
        let vias: String = inv
            .text
            .split("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                l.split(':')
                    .next()
                    .is_some_and(|k| k.trim().eq_ignore_ascii_case("via"))
            })
            .map(|l| format!("{l}\r\n"))
            .collect();
        let local = self.sock.local_addr().expect("addr");
        let (extra, body) = if status == 200 {
            let port = self.rtp.local_addr().expect("rtp").port();
            (
                "Content-Type: application/sdp\r\n",
                format!(
                    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                     m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
                ),
            )
        } else {
            ("", String::new())
        };
        let msg = format!(
            "SIP/2.0 {status} {reason}\r\n{vias}From: {}\r\nTo: {};tag={TO_TAG}\r\n\
             Call-ID: {}\r\nCSeq: {}\r\nContact: <sip:callee@{local}>\r\n{extra}\
             Content-Length: {}\r\n\r\n{body}",
            inv.hdr("From"),
            inv.hdr("To"),
            inv.hdr("Call-ID"),
            inv.hdr("CSeq"),
            body.len()
        );
        self.sock.send_to(msg.as_bytes(), inv.from).expect("send");
    }

    /// Answers a request received in the dialog (e.g. the server's BYE) with 200.
    pub fn ok(&self, req: &str, to: SocketAddr) {
        let vias: String = req
            .split("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .lines()
            .filter(|l| l.to_ascii_lowercase().starts_with("via"))
            .map(|l| format!("{l}\r\n"))
            .collect();
        let msg = format!(
            "SIP/2.0 200 OK\r\n{vias}From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {}\r\n\
             Content-Length: 0\r\n\r\n",
            header(req, "From").unwrap_or_default(),
            header(req, "To").unwrap_or_default(),
            header(req, "Call-ID").unwrap_or_default(),
            header(req, "CSeq").unwrap_or_default(),
        );
        self.sock.send_to(msg.as_bytes(), to).expect("send");
    }

    /// Sends `method` in the dialog of `inv` (with an SDP `body` if given: a re-INVITE
    /// offers our media again) and returns the final status, up to `secs`. A 2xx to an
    /// INVITE is ACKed.
    pub fn request(
        &mut self,
        inv: &Incoming,
        method: &str,
        body: Option<&str>,
        secs: u64,
    ) -> Option<u16> {
        self.cseq += 1;
        let cseq = self.cseq;
        let local = self.sock.local_addr().expect("addr");
        let target = inv
            .hdr("Contact")
            .trim_start_matches('<')
            .split('>')
            .next()
            .unwrap_or_default()
            .to_string();
        let (extra, body) = match body {
            Some(b) => ("Content-Type: application/sdp\r\n", b.to_string()),
            None => ("", String::new()),
        };
        let send = |m: &str, n: u32, branch: &str, extra: &str, body: &str| {
            let msg = format!(
                "{m} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{branch}\r\n\
                 Max-Forwards: 70\r\nFrom: {};tag={TO_TAG}\r\nTo: {}\r\nCall-ID: {}\r\n\
                 CSeq: {n} {m}\r\nContact: <sip:callee@{local}>\r\n{extra}\
                 Content-Length: {}\r\n\r\n{body}",
                inv.hdr("To"),
                inv.hdr("From"),
                inv.hdr("Call-ID"),
                body.len()
            );
            self.sock.send_to(msg.as_bytes(), inv.from).expect("send");
        };
        let branch = format!("callee{cseq}");
        send(method, cseq, &branch, extra, &body);
        let until = Instant::now() + Duration::from_secs(secs);
        let mut resend = Instant::now() + Duration::from_millis(500);
        let want = format!("{cseq} {method}");
        loop {
            let now = Instant::now();
            if now >= until {
                return None;
            }
            if now >= resend {
                send(method, cseq, &branch, extra, &body);
                resend = now + Duration::from_secs(1);
            }
            let Some((text, from)) = self.recv(now + Duration::from_millis(200)) else {
                continue;
            };
            if !text.starts_with("SIP/2.0 ") {
                if !text.starts_with("INVITE ") {
                    self.stash.push_back((text, from));
                }
                continue;
            }
            if header(&text, "CSeq").as_deref() != Some(want.as_str()) {
                continue;
            }
            let status = text
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse::<u16>().ok())
                .unwrap_or(0);
            if status < 200 {
                resend = until;
                continue;
            }
            if method == "INVITE" && (200..300).contains(&status) {
                send("ACK", cseq, &format!("ack{cseq}"), "", "");
            }
            return Some(status);
        }
    }

    /// Our SDP for a re-INVITE.
    pub fn sdp(&self, version: u32) -> String {
        let port = self.rtp.local_addr().expect("rtp").port();
        format!(
            "v=0\r\no=- 1 {version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
        )
    }

    /// Waits for the server's BYE and answers it.
    pub fn wait_bye(&mut self, secs: u64) -> bool {
        match self.wait_request("BYE", secs) {
            Some((text, from)) => {
                self.ok(&text, from);
                true
            }
            None => false,
        }
    }
}

/// What the callee's RTP side received: decoded PCMU with each packet's arrival time.
#[derive(Default)]
pub struct Heard {
    /// (arrival, 160 samples) per packet, in arrival order.
    pub packets: Vec<(Instant, Vec<i16>)>,
}

impl Heard {
    /// All samples, in order.
    pub fn samples(&self) -> Vec<f64> {
        self.packets
            .iter()
            .flat_map(|(_, p)| p.iter().map(|&s| f64::from(s)))
            .collect()
    }

    /// Samples of packets that arrived in `[from, to)`.
    pub fn between(&self, from: Instant, to: Instant) -> Vec<f64> {
        self.packets
            .iter()
            .filter(|(at, _)| *at >= from && *at < to)
            .flat_map(|(_, p)| p.iter().map(|&s| f64::from(s)))
            .collect()
    }
}

/// The callee's RTP running in a thread: sends `talk` then silence, records what comes.
pub struct CalleeMedia {
    heard: Arc<Mutex<Heard>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl CalleeMedia {
    /// Starts sending `talk` (8 kHz samples) to `to` from `sock`, 20 ms a packet, then
    /// silence (μ-law 0xFF) until stopped; records every PCMU packet received.
    pub fn start(sock: &UdpSocket, to: SocketAddr, talk: Vec<i16>) -> CalleeMedia {
        let sock = sock.try_clone().expect("clone rtp socket");
        sock.set_read_timeout(Some(Duration::from_millis(5)))
            .expect("timeout");
        let heard: Arc<Mutex<Heard>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (heard.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            let mut buf = [0u8; 2048];
            let mut n_sent: u32 = 0;
            while !s.load(Ordering::Relaxed) {
                let due = start + Duration::from_millis(20 * u64::from(n_sent));
                if Instant::now() >= due {
                    let mut pkt = vec![0x80u8, 0];
                    pkt.extend_from_slice(&(n_sent as u16).to_be_bytes());
                    pkt.extend_from_slice(&(n_sent * 160).to_be_bytes());
                    pkt.extend_from_slice(&0x0CA1_1EE5u32.to_be_bytes());
                    let at = n_sent as usize * 160;
                    for i in 0..160 {
                        pkt.push(talk.get(at + i).map_or(0xFF, |&x| ulaw_encode(x)));
                    }
                    let _ = sock.send_to(&pkt, to);
                    n_sent += 1;
                }
                let Ok((n, _)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if n <= 12 || buf[1] & 0x7f != 0 {
                    continue;
                }
                let pcm = buf[12..n].iter().map(|&b| ulaw_decode(b)).collect();
                if let Ok(mut g) = h.lock() {
                    g.packets.push((Instant::now(), pcm));
                }
            }
        });
        CalleeMedia {
            heard,
            stop,
            thread: Some(thread),
        }
    }

    /// Packets received so far.
    pub fn count(&self) -> usize {
        self.heard.lock().map(|g| g.packets.len()).unwrap_or(0)
    }

    /// Stops the thread and returns what it heard.
    pub fn finish(mut self) -> Heard {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        std::mem::take(&mut *self.heard.lock().expect("lock"))
    }
}

impl Drop for CalleeMedia {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

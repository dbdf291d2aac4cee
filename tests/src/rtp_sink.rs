//! A stand-in for a callee's media behind a SIPp carrier (SIPp answers the SIP, its SDP
//! names this socket): it decodes the PCMU it receives per sender and can talk back with a
//! tone, paced by what it hears.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::raw_callee::{ulaw_decode, ulaw_encode};

/// Decoded audio per sender, in order of each sender's first packet.
type Flows = Arc<Mutex<Vec<(SocketAddr, Vec<i16>)>>>;

/// Receives the carrier side's RTP: decoded PCMU per sender, in order of first packet.
pub struct RtpSink {
    /// The port it listens on (the carrier's SDP names it).
    pub port: u16,
    flows: Flows,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RtpSink {
    /// Only listens.
    pub fn start() -> RtpSink {
        RtpSink::start_answering(None)
    }

    /// Also answers every packet with one of its own (same size, PCMU) carrying a sine at
    /// `tone_hz`: the callee talks back, paced by what it hears.
    pub fn start_answering(tone_hz: Option<f64>) -> RtpSink {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind rtp sink");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let port = sock.local_addr().expect("addr").port();
        let flows: Flows = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (f, s) = (flows.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let mut reply = [0u8; 2048];
            let (mut seq, mut n_sent) = (0u16, 0u64);
            while !s.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                // PCMU only (payload type 0), past the fixed 12-byte header.
                if n <= 12 || buf[1] & 0x7f != 0 {
                    continue;
                }
                let mut flows = f.lock().expect("lock");
                let i = match flows.iter().position(|(a, _)| *a == from) {
                    Some(i) => i,
                    None => {
                        flows.push((from, Vec::new()));
                        flows.len() - 1
                    }
                };
                flows[i]
                    .1
                    .extend(buf[12..n].iter().map(|&b| ulaw_decode(b)));
                drop(flows);
                if let Some(hz) = tone_hz {
                    let samples = n - 12;
                    let ts = n_sent as u32;
                    reply[0] = 0x80;
                    reply[1] = 0;
                    reply[2..4].copy_from_slice(&seq.to_be_bytes());
                    reply[4..8].copy_from_slice(&ts.to_be_bytes());
                    reply[8..12].copy_from_slice(&0x5eed_u32.to_be_bytes());
                    for (k, b) in reply[12..n].iter_mut().enumerate() {
                        let t = (n_sent + k as u64) as f64 / 8000.0;
                        let v = 8000.0 * (2.0 * std::f64::consts::PI * hz * t).sin();
                        *b = ulaw_encode(v as i16);
                    }
                    seq = seq.wrapping_add(1);
                    n_sent += samples as u64;
                    let _ = sock.send_to(&reply[..n], from);
                }
            }
        });
        RtpSink {
            port,
            flows,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops, and gives each sender's audio as samples.
    pub fn finish(mut self) -> Vec<Vec<f64>> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let flows = self.flows.lock().expect("lock");
        flows
            .iter()
            .map(|(_, pcm)| pcm.iter().map(|&s| f64::from(s)).collect())
            .collect()
    }
}

//! A simulated network for sans-IO SIP cores, shaped like quinn's `Pair` and str0m's
//! `progress`: nodes exchange real bytes (printed and parsed) over links with latency, jitter
//! (reordering), seeded loss and duplication, and a fake clock that jumps to the earliest of
//! every node deadline and every in-flight packet.
#![allow(dead_code, unreachable_pub)]

mod b2bua_node;
mod ua;

use std::any::Any;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use switchboard_sip::Transport;
use switchboard_sip_message::{parse_datagram, parse_stream, Limits, Message};

// Each test binary uses its own subset of the nodes.
#[allow(unused_imports)]
pub use b2bua_node::{net_with_session_timers, B2buaNode};
#[allow(unused_imports)]
pub use ua::{Script, Ua};

/// The origin of simulated time (the only real clock read, in tests only).
pub fn epoch() -> Instant {
    switchboard_test_support::epoch()
}

/// One outgoing datagram from a node.
pub struct Send {
    pub to: SocketAddr,
    pub transport: Transport,
    pub bytes: Bytes,
}

/// A participant in the simulation.
pub trait Node: Any {
    fn addr(&self) -> SocketAddr;
    fn receive(&mut self, now: Instant, from: SocketAddr, transport: Transport, msg: Message);
    fn timeout(&mut self, now: Instant);
    fn deadline(&self) -> Option<Instant>;
    fn drain(&mut self, now: Instant) -> Vec<Send>;
    fn as_any(&mut self) -> &mut dyn Any;
}

/// Link impairments (UDP only; TCP is lossless and ordered).
#[derive(Clone, Copy, Debug)]
pub struct NetConfig {
    pub latency: Duration,
    pub jitter: Duration,
    pub loss: f64,
    pub duplicate: f64,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            latency: Duration::from_millis(20),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

/// What happened to one packet.
#[derive(Clone, Debug)]
pub struct Wire {
    /// Time since the epoch the packet was sent.
    pub sent: Duration,
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub transport: Transport,
    /// First line of the message (`INVITE sip:...` / `SIP/2.0 200 OK`).
    pub line: String,
    /// CSeq method.
    pub cseq: String,
    pub dropped: bool,
    pub bytes: Bytes,
}

impl Wire {
    pub fn status(&self) -> Option<u16> {
        self.line
            .strip_prefix("SIP/2.0 ")
            .and_then(|r| r.get(..3))
            .and_then(|s| s.parse().ok())
    }
}

struct InFlight {
    at: Instant,
    seq: u64,
    from: SocketAddr,
    to: SocketAddr,
    transport: Transport,
    bytes: Bytes,
}

type DropFilter = Box<dyn FnMut(&Wire) -> bool>;

pub struct SimNet {
    pub epoch: Instant,
    pub now: Instant,
    pub nodes: Vec<Box<dyn Node>>,
    inflight: Vec<InFlight>,
    rng: ChaCha8Rng,
    pub cfg: NetConfig,
    pub wire: Vec<Wire>,
    seq: u64,
    drop_filter: Option<DropFilter>,
    /// Last delivery time per (from, to) for TCP ordering.
    tcp_last: HashMap<(SocketAddr, SocketAddr), Instant>,
}

fn first_line(b: &[u8]) -> String {
    let end = b
        .iter()
        .position(|&c| c == b'\r')
        .unwrap_or(b.len().min(80));
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn cseq_method(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    s.lines()
        .find(|l| l.to_ascii_lowercase().starts_with("cseq:"))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap_or("")
        .to_string()
}

impl SimNet {
    pub fn new(seed: u64, cfg: NetConfig) -> SimNet {
        let epoch = epoch();
        SimNet {
            epoch,
            now: epoch,
            nodes: Vec::new(),
            inflight: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            cfg,
            wire: Vec::new(),
            seq: 0,
            drop_filter: None,
            tcp_last: HashMap::new(),
        }
    }

    pub fn add(&mut self, n: Box<dyn Node>) -> usize {
        self.nodes.push(n);
        self.nodes.len() - 1
    }

    /// Drops every packet for which `f` returns true (deterministic loss of chosen messages).
    pub fn set_drop_filter(&mut self, f: impl FnMut(&Wire) -> bool + 'static) {
        self.drop_filter = Some(Box::new(f));
    }

    pub fn node<T: Node>(&mut self, i: usize) -> &mut T {
        self.nodes[i]
            .as_any()
            .downcast_mut::<T>()
            .expect("node type")
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.epoch
    }

    /// Injects raw bytes as if `from` had sent them to `to` now.
    pub fn inject(&mut self, from: SocketAddr, to: SocketAddr, transport: Transport, bytes: Bytes) {
        self.enqueue(
            from,
            Send {
                to,
                transport,
                bytes,
            },
            true,
        );
    }

    fn enqueue(&mut self, from: SocketAddr, s: Send, exempt: bool) {
        let mut w = Wire {
            sent: self.now - self.epoch,
            from,
            to: s.to,
            transport: s.transport,
            line: first_line(&s.bytes),
            cseq: cseq_method(&s.bytes),
            dropped: false,
            bytes: s.bytes.clone(),
        };
        let reliable = s.transport.is_reliable();
        if !exempt {
            if let Some(f) = self.drop_filter.as_mut() {
                w.dropped = f(&w);
            }
            if !reliable && !w.dropped && self.cfg.loss > 0.0 {
                w.dropped = self.rng.gen_bool(self.cfg.loss);
            }
        }
        let dup = !reliable
            && !w.dropped
            && self.cfg.duplicate > 0.0
            && self.rng.gen_bool(self.cfg.duplicate);
        self.wire.push(w.clone());
        if w.dropped {
            return;
        }
        let copies = if dup { 2 } else { 1 };
        for _ in 0..copies {
            let mut at = self.now + self.cfg.latency;
            if reliable {
                let last = self.tcp_last.entry((from, s.to)).or_insert(at);
                at = at.max(*last);
                *last = at;
            } else if !self.cfg.jitter.is_zero() {
                let j = self.rng.gen_range(0..=self.cfg.jitter.as_micros() as u64);
                at += Duration::from_micros(j);
            }
            self.seq += 1;
            self.inflight.push(InFlight {
                at,
                seq: self.seq,
                from,
                to: s.to,
                transport: s.transport,
                bytes: s.bytes.clone(),
            });
        }
    }

    fn drain_all(&mut self) {
        for i in 0..self.nodes.len() {
            let from = self.nodes[i].addr();
            let sends = self.nodes[i].drain(self.now);
            for s in sends {
                self.enqueue(from, s, false);
            }
        }
    }

    fn next_event(&self) -> Option<Instant> {
        let n = self.nodes.iter().filter_map(|n| n.deadline()).min();
        let p = self.inflight.iter().map(|p| p.at).min();
        match (n, p) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Delivers the next packet or fires the next deadline. False when nothing is pending.
    pub fn step(&mut self) -> bool {
        self.drain_all();
        let Some(next) = self.next_event() else {
            return false;
        };
        self.now = self.now.max(next);
        let now = self.now;
        // Deliver due packets in (time, seq) order.
        let mut due: Vec<InFlight> = Vec::new();
        let mut i = 0;
        while i < self.inflight.len() {
            if self.inflight[i].at <= now {
                due.push(self.inflight.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|p| (p.at, p.seq));
        for p in due {
            let msg = if p.transport.is_reliable() {
                parse_stream(&p.bytes, &Limits::default()).map(|(m, _)| m)
            } else {
                parse_datagram(&p.bytes, &Limits::default())
            };
            let msg = msg.unwrap_or_else(|e| {
                panic!(
                    "unparseable message on the wire: {e}\n{}",
                    String::from_utf8_lossy(&p.bytes)
                )
            });
            if let Some(n) = self.nodes.iter_mut().find(|n| n.addr() == p.to) {
                n.receive(now, p.from, p.transport, msg);
            }
        }
        for n in self.nodes.iter_mut() {
            if n.deadline().is_some_and(|d| d <= now) {
                n.timeout(now);
            }
        }
        self.drain_all();
        true
    }

    /// Runs until nothing is pending or `limit` of simulated time has passed.
    pub fn run_for(&mut self, limit: Duration) {
        let end = self.now + limit;
        while self.next_event_after_drain().is_some_and(|t| t <= end) {
            self.step();
        }
        self.now = self.now.max(end);
    }

    fn next_event_after_drain(&mut self) -> Option<Instant> {
        self.drain_all();
        self.next_event()
    }

    /// Runs until `pred` holds (checked after every step) or `limit` passes. Returns `pred`.
    pub fn run_until(
        &mut self,
        limit: Duration,
        mut pred: impl FnMut(&mut SimNet) -> bool,
    ) -> bool {
        let end = self.now + limit;
        loop {
            if pred(self) {
                return true;
            }
            match self.next_event_after_drain() {
                Some(t) if t <= end => {
                    self.step();
                }
                _ => return pred(self),
            }
        }
    }

    /// Packets whose first line starts with `prefix`, sent by `from`.
    pub fn sent_by(&self, from: SocketAddr, prefix: &str) -> Vec<&Wire> {
        self.wire
            .iter()
            .filter(|w| w.from == from && w.line.starts_with(prefix))
            .collect()
    }
}

pub fn addr(s: &str) -> SocketAddr {
    s.parse().expect("addr")
}

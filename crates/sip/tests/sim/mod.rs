//! A simulated network for sans-IO SIP cores, shaped like quinn's `Pair` and str0m's
//! `progress`: nodes exchange real bytes (printed and parsed) over links with latency, jitter
//! (reordering), seeded loss and duplication, and a fake clock that jumps to the earliest of
//! every node deadline and every in-flight packet.
#![allow(dead_code, unreachable_pub)]

use std::any::Any;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use switchboard_sip::{
    B2bua, B2buaConfig, B2buaOutput, CallEvent, Dialog, DialogKey, Dialogs, Output,
    TransactionLayer, Transport, TxConfig, TxEvent, TxKey, UasPolicy,
};
use switchboard_sip_message::{
    parse_datagram, parse_stream, HeaderName, Limits, Message, Method, NameAddr, Request, Response,
    StatusCode, Uri,
};

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

/// How a scripted user agent answers.
#[derive(Clone, Debug)]
pub struct Script {
    /// Answer INVITEs: send 180 at once (when `ring`), then this final after the delay.
    pub invite_final: Option<(u16, Duration)>,
    pub ring: bool,
    /// Answer non-INVITE requests outside dialogs with this status (None: never).
    pub non_invite: Option<u16>,
    /// ACK 2xx responses automatically.
    pub auto_ack: bool,
    /// Challenge INVITEs that carry no Proxy-Authorization with 407 (as a carrier does).
    pub challenge_invites: bool,
    /// Headers added to every 2xx to an INVITE or UPDATE (e.g. `Session-Expires`, `Allow`).
    pub answer_headers: Vec<(HeaderName, String)>,
    /// Answer a new INVITE whose `Session-Expires` is below this with 422 and this Min-SE.
    pub min_se: Option<u32>,
    /// Answer this many re-INVITEs with 491 Request Pending first (glare).
    pub glare_reinvites: u32,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            invite_final: Some((200, Duration::from_millis(100))),
            ring: true,
            non_invite: Some(200),
            auto_ack: true,
            challenge_invites: false,
            answer_headers: Vec::new(),
            min_se: None,
            glare_reinvites: 0,
        }
    }
}

/// A scripted user agent over one `TransactionLayer` and a `Dialogs` store.
pub struct Ua {
    pub addr: SocketAddr,
    pub transport: Transport,
    pub tl: TransactionLayer,
    pub dialogs: Dialogs,
    pub script: Script,
    pub events: Vec<(Duration, TxEvent)>,
    pub peers: HashMap<DialogKey, SocketAddr>,
    epoch: Instant,
    pending: Vec<(Instant, TxKey, u16)>,
    dests: HashMap<TxKey, SocketAddr>,
    tags: HashMap<TxKey, String>,
    out: Vec<Send>,
}

impl Ua {
    pub fn new(addr: SocketAddr, transport: Transport, seed: u64, epoch: Instant) -> Ua {
        Ua {
            addr,
            transport,
            tl: TransactionLayer::new(TxConfig::new(addr), seed),
            dialogs: Dialogs::new(),
            script: Script::default(),
            events: Vec::new(),
            peers: HashMap::new(),
            epoch,
            pending: Vec::new(),
            dests: HashMap::new(),
            tags: HashMap::new(),
            out: Vec::new(),
        }
    }

    pub fn contact(&self) -> NameAddr {
        NameAddr::parse(&format!("<sip:ua@{}>", self.addr)).expect("contact")
    }

    /// A new out-of-dialog request to `dest`.
    pub fn request(&mut self, method: Method, dest: SocketAddr) -> Request {
        let mut r = Request::new(
            method.clone(),
            Uri::parse(&format!("sip:svc@{dest}")).expect("uri"),
        );
        let tag = self.tl.new_tag();
        let call_id = self.tl.new_call_id();
        r.headers.push(
            HeaderName::From,
            format!("<sip:ua@{}>;tag={tag}", self.addr),
        );
        r.headers.push(HeaderName::To, format!("<sip:svc@{dest}>"));
        r.headers.push(HeaderName::CallId, call_id);
        r.headers
            .push(HeaderName::CSeq, format!("1 {}", method.as_str()));
        r.headers
            .push(HeaderName::Contact, self.contact().to_string());
        r
    }

    pub fn send(&mut self, now: Instant, dest: SocketAddr, req: Request) -> TxKey {
        let k = self
            .tl
            .send_request(now, dest, self.transport, req)
            .expect("send");
        self.dests.insert(k, dest);
        k
    }

    pub fn invite(&mut self, now: Instant, dest: SocketAddr) -> TxKey {
        let mut r = self.request(Method::Invite, dest);
        r.headers.push(HeaderName::ContentType, "application/sdp");
        r.body = Bytes::from_static(b"v=0\r\n");
        self.send(now, dest, r)
    }

    pub fn bye(&mut self, now: Instant, d: DialogKey) -> TxKey {
        let dest = self.peers[&d];
        let dl = self.dialogs.get_mut(d).expect("dialog");
        let req = dl.request(Method::Bye);
        dl.state = switchboard_sip::DialogState::Terminating;
        self.send(now, dest, req)
    }

    pub fn responses(&self, key: TxKey) -> Vec<u16> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                TxEvent::Response { key: k, resp } if *k == key => Some(resp.status.0),
                _ => None,
            })
            .collect()
    }

    pub fn has_event(&self, f: impl Fn(&TxEvent) -> bool) -> bool {
        self.events.iter().any(|(_, e)| f(e))
    }

    pub fn event_time(&self, f: impl Fn(&TxEvent) -> bool) -> Option<Duration> {
        self.events.iter().find(|(_, e)| f(e)).map(|(t, _)| *t)
    }

    fn respond(&mut self, now: Instant, key: TxKey, status: u16) {
        let Some(req) = self.tl.request(key).cloned() else {
            return;
        };
        let mut r = Response::for_request(&req, StatusCode(status));
        if (200..300).contains(&status) && matches!(req.method, Method::Invite | Method::Update) {
            for (name, value) in &self.script.answer_headers {
                r.headers.push(name.clone(), value.clone());
            }
        }
        if status == 422 {
            let min_se = self.script.min_se.unwrap_or(90);
            r.headers.push(HeaderName::MinSe, min_se.to_string());
        }
        if status == 407 {
            r.headers.push(
                HeaderName::ProxyAuthenticate,
                r#"Digest realm="carrier", nonce="n1", qop="auth""#,
            );
        }
        let in_dialog = req.headers.to().map(|t| t.tag().is_some()).unwrap_or(false);
        if req.method == Method::Invite && in_dialog {
            if status < 300 {
                r.headers
                    .push(HeaderName::Contact, self.contact().to_string());
            }
        } else if req.method == Method::Invite {
            let tag = self
                .tags
                .entry(key)
                .or_insert_with(|| format!("t{}", key_tag(key)))
                .clone();
            if let Ok(mut to) = r.headers.to() {
                to.set_tag(&tag);
                r.headers.set(HeaderName::To, to.to_string());
            }
            if status < 300 {
                r.headers
                    .push(HeaderName::Contact, self.contact().to_string());
            }
            if (200..300).contains(&status) {
                if let Ok(d) = Dialog::uas(&req, &tag, Some(self.contact()), 0) {
                    let from = self.dests.get(&key).copied();
                    let k = self.dialogs.insert(d);
                    if let Some(f) = from {
                        self.peers.insert(k, f);
                    }
                }
            }
        }
        let _ = self.tl.send_response(now, key, r);
    }

    fn on_event(&mut self, now: Instant, e: &TxEvent) {
        match e {
            TxEvent::NewRequest { key, req, from, .. } => {
                self.dests.insert(*key, *from);
                let in_dialog = req.headers.to().map(|t| t.tag().is_some()).unwrap_or(false);
                if in_dialog {
                    match self.dialogs.handle_request(req) {
                        Err(resp) => {
                            let _ = self.tl.send_response(now, *key, resp);
                        }
                        Ok(dk) => {
                            let glare =
                                req.method == Method::Invite && self.script.glare_reinvites > 0;
                            if glare {
                                self.script.glare_reinvites -= 1;
                            }
                            self.respond(now, *key, if glare { 491 } else { 200 });
                            // The re-INVITE is answered: the next one may come.
                            if let Some(d) = dk.and_then(|k| self.dialogs.get_mut(k)) {
                                if req.method == Method::Invite {
                                    d.invite_done(false);
                                }
                            }
                        }
                    }
                } else if req.method == Method::Invite
                    && self.script.min_se.is_some_and(|m| {
                        req.headers
                            .session_expires()
                            .ok()
                            .flatten()
                            .is_some_and(|se| se.delta < m)
                    })
                {
                    self.respond(now, *key, 422);
                } else if req.method == Method::Invite
                    && self.script.challenge_invites
                    && req.headers.get(&HeaderName::ProxyAuthorization).is_none()
                {
                    self.respond(now, *key, 407);
                } else if req.method == Method::Invite {
                    if self.script.ring {
                        self.respond(now, *key, 180);
                    }
                    if let Some((s, d)) = self.script.invite_final {
                        self.pending.push((now + d, *key, s));
                    }
                } else if let Some(s) = self.script.non_invite {
                    self.respond(now, *key, s);
                }
            }
            TxEvent::Response { key, resp } => {
                let is_invite = resp
                    .headers
                    .cseq()
                    .map(|c| c.method == Method::Invite)
                    .unwrap_or(false);
                if self.script.auto_ack && is_invite && resp.status.is_success() {
                    let Some(req) = self.tl.request(*key).cloned() else {
                        return;
                    };
                    let Ok(d) = Dialog::uac(&req, resp) else {
                        return;
                    };
                    let dest = self.dests[key];
                    let ack = d.ack(req.headers.cseq().map(|c| c.seq).unwrap_or(1));
                    let _ = self
                        .tl
                        .send_ack_for_2xx(now, *key, dest, self.transport, ack);
                    if self.dialogs.find(&d.id).is_none() {
                        let k = self.dialogs.insert(d);
                        self.peers.insert(k, dest);
                    }
                }
            }
            _ => {}
        }
    }
}

fn key_tag(k: TxKey) -> String {
    format!("{k:?}")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

impl Node for Ua {
    fn addr(&self) -> SocketAddr {
        self.addr
    }
    fn receive(&mut self, now: Instant, from: SocketAddr, transport: Transport, msg: Message) {
        self.tl.handle_message(now, from, transport, msg);
    }
    fn timeout(&mut self, now: Instant) {
        let due: Vec<_> = self
            .pending
            .iter()
            .filter(|p| p.0 <= now)
            .cloned()
            .collect();
        self.pending.retain(|p| p.0 > now);
        for (_, k, s) in due {
            self.respond(now, k, s);
        }
        self.tl.handle_timeout(now);
    }
    fn deadline(&self) -> Option<Instant> {
        let p = self.pending.iter().map(|p| p.0).min();
        match (p, self.tl.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
    fn drain(&mut self, now: Instant) -> Vec<Send> {
        while let Some(o) = self.tl.poll_output() {
            match o {
                Output::Transmit {
                    to,
                    transport,
                    bytes,
                    ..
                } => self.out.push(Send {
                    to,
                    transport,
                    bytes,
                }),
                Output::Event(e) => {
                    self.events.push((now - self.epoch, e.clone()));
                    self.on_event(now, &e);
                }
            }
        }
        std::mem::take(&mut self.out)
    }
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// A B2BUA node whose application routes every call to `b_target` and relays SDP unchanged
/// except for a marker (standing in for the media layer's rewrite).
pub struct B2buaNode {
    pub addr: SocketAddr,
    pub core: B2bua,
    pub b_target: SocketAddr,
    pub transport: Transport,
    pub events: Vec<(Duration, CallEvent)>,
    /// IVR style: answer A first, route to B once A is confirmed.
    pub answer_first: bool,
    /// Targets to try after `b_target` when B fails (with `relay_failures` off).
    pub fallback: Vec<SocketAddr>,
    epoch: Instant,
    out: Vec<Send>,
}

impl B2buaNode {
    /// An IVR-style node: answers A itself, then bridges to `targets` in turn.
    pub fn ivr(addr: SocketAddr, targets: &[SocketAddr], seed: u64, epoch: Instant) -> B2buaNode {
        let cfg = B2buaConfig {
            tx: TxConfig::new(addr),
            contact: NameAddr::parse(&format!("<sip:b2bua@{addr}>")).expect("contact"),
            policy: UasPolicy::default(),
            relay_failures: false,
            keep_a_when_b_hangs_up: true,
            session_timers: None,
        };
        let mut n = B2buaNode::new(addr, targets[0], seed, epoch);
        n.core = B2bua::new(cfg, seed);
        n.answer_first = true;
        n.fallback = targets[1..].to_vec();
        n
    }

    fn route_to(
        &mut self,
        now: Instant,
        call: switchboard_sip::CallKey,
        to: SocketAddr,
        sdp: Bytes,
    ) {
        let target = Uri::parse(&format!("sip:agent@{to}")).expect("uri");
        self.core
            .route(now, call, target, to, self.transport, sdp)
            .expect("route");
    }

    pub fn new(addr: SocketAddr, b_target: SocketAddr, seed: u64, epoch: Instant) -> B2buaNode {
        let cfg = B2buaConfig {
            tx: TxConfig::new(addr),
            contact: NameAddr::parse(&format!("<sip:b2bua@{addr}>")).expect("contact"),
            policy: UasPolicy::default(),
            relay_failures: true,
            keep_a_when_b_hangs_up: false,
            session_timers: None,
        };
        B2buaNode {
            addr,
            core: B2bua::new(cfg, seed),
            b_target,
            transport: Transport::Udp,
            events: Vec::new(),
            answer_first: false,
            fallback: Vec::new(),
            epoch,
            out: Vec::new(),
        }
    }

    fn on_event(&mut self, now: Instant, e: &CallEvent) {
        match e {
            CallEvent::Incoming { call, .. } if self.answer_first => {
                let _ = self
                    .core
                    .answer_a(now, *call, Bytes::from_static(b"v=0\r\na=ivr\r\n"));
            }
            CallEvent::LegConfirmed {
                call,
                leg: switchboard_sip::Leg::A,
            } if self.answer_first => {
                let t = self.b_target;
                self.route_to(now, *call, t, Bytes::from_static(b"v=0\r\na=to-agent\r\n"));
            }
            CallEvent::BFailed { call, .. } if !self.fallback.is_empty() => {
                let t = self.fallback.remove(0);
                self.route_to(now, *call, t, Bytes::from_static(b"v=0\r\na=to-agent\r\n"));
            }
            CallEvent::Incoming { call, invite, .. } => {
                let target = Uri::parse(&format!("sip:agent@{}", self.b_target)).expect("uri");
                let mut sdp = invite.body.to_vec();
                sdp.extend_from_slice(b"a=anchored-b\r\n");
                self.core
                    .route(
                        now,
                        *call,
                        target,
                        self.b_target,
                        self.transport,
                        Bytes::from(sdp),
                    )
                    .expect("route");
            }
            CallEvent::Reinvite { tx, sdp, .. } => {
                let mut a = sdp.to_vec();
                a.extend_from_slice(b"a=reanswer\r\n");
                let _ = self
                    .core
                    .respond(now, *tx, StatusCode::OK, Some(Bytes::from(a)));
            }
            CallEvent::AnswerFromB { call, sdp } => {
                let mut a = sdp.to_vec();
                a.extend_from_slice(b"a=anchored-a\r\n");
                let _ = self.core.answer_a(now, *call, Bytes::from(a));
            }
            _ => {}
        }
    }

    pub fn has_event(&self, f: impl Fn(&CallEvent) -> bool) -> bool {
        self.events.iter().any(|(_, e)| f(e))
    }
}

impl Node for B2buaNode {
    fn addr(&self) -> SocketAddr {
        self.addr
    }
    fn receive(&mut self, now: Instant, from: SocketAddr, transport: Transport, msg: Message) {
        self.core.handle_message(now, from, transport, msg);
    }
    fn timeout(&mut self, now: Instant) {
        self.core.handle_timeout(now);
    }
    fn deadline(&self) -> Option<Instant> {
        self.core.poll_timeout()
    }
    fn drain(&mut self, now: Instant) -> Vec<Send> {
        while let Some(o) = self.core.poll_output() {
            match o {
                B2buaOutput::Transmit {
                    to,
                    transport,
                    bytes,
                    ..
                } => self.out.push(Send {
                    to,
                    transport,
                    bytes,
                }),
                B2buaOutput::Event(e) => {
                    self.events.push((now - self.epoch, e.clone()));
                    self.on_event(now, &e);
                }
            }
        }
        std::mem::take(&mut self.out)
    }
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// Caller UA `a`, a B2BUA `x` with RFC 4028 session timers on (default settings) routing
/// to UA `b`, which answers 200 after 1 s. Returns the network and the indices of `a` and
/// `x` (the session-timer tests).
pub fn net_with_session_timers(seed: u64, a: &str, x: &str, b: &str) -> (SimNet, usize, usize) {
    let mut net = SimNet::new(seed, NetConfig::default());
    let e = net.epoch;
    let a = net.add(Box::new(Ua::new(addr(a), Transport::Udp, seed, e)));
    let mut node = B2buaNode::new(addr(x), addr(b), seed + 1, e);
    node.core = switchboard_sip::B2bua::new(
        switchboard_sip::B2buaConfig {
            tx: switchboard_sip::TxConfig::new(addr(x)),
            contact: NameAddr::parse(&format!("<sip:b2bua@{x}>")).expect("contact"),
            policy: switchboard_sip::UasPolicy::default(),
            relay_failures: true,
            keep_a_when_b_hangs_up: false,
            session_timers: Some(switchboard_sip::session_timer::SessionTimerConfig::default()),
        },
        seed + 1,
    );
    let x = net.add(Box::new(node));
    let b = net.add(Box::new(Ua::new(addr(b), Transport::Udp, seed + 2, e)));
    net.node::<Ua>(b).script.invite_final = Some((200, Duration::from_secs(1)));
    (net, a, x)
}

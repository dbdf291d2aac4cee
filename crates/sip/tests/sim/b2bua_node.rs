//! A B2BUA core as a simulation node, and a ready network with RFC 4028 session timers.

use std::any::Any;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchboard_sip::{B2bua, B2buaConfig, B2buaOutput, CallEvent, Transport, TxConfig, UasPolicy};
use switchboard_sip_message::{Message, NameAddr, StatusCode, Uri};

use super::{addr, NetConfig, Node, Send, SimNet, Ua};

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
    /// Leave re-INVITEs unanswered (the test answers them with `core.respond`).
    pub hold_reinvites: bool,
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
            hold_reinvites: false,
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
            CallEvent::Reinvite { tx, sdp, .. } if !self.hold_reinvites => {
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

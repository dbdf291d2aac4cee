//! The B2BUA's schedule of RFC 4028 session-timer deadlines at scale (fake clock, real
//! bytes): many calls' timers fire in deadline order (not call order), a call hung up
//! before its deadline leaves nothing behind, and the timer work a message costs does not
//! grow with the number of calls held (a work counter, no wall clock).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchboard_sip::session_timer::SessionTimerConfig;
use switchboard_sip::{
    B2bua, B2buaConfig, B2buaOutput, CallEvent, CallKey, Dialog, Output, TransactionLayer,
    Transport, TxConfig, TxEvent, UasPolicy,
};
use switchboard_sip_message::{
    parse_datagram, HeaderName, Limits, Method, NameAddr, Request, Response, StatusCode, Uri,
};

const A: &str = "10.0.0.1:5060";
const X: &str = "10.0.0.5:5060";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("addr")
}

/// Callers at A (one transaction layer standing in for many phones) and the B2BUA X, which
/// answers every call itself; A answers X's BYEs. Records X's session expiries.
struct Rig {
    now: Instant,
    start: Instant,
    a: TransactionLayer,
    x: B2bua,
    /// X's calls by the Call-ID A gave them.
    calls: HashMap<String, CallKey>,
    /// A's confirmed dialogs by Call-ID.
    dialogs: HashMap<String, Dialog>,
    expired: Vec<(Duration, CallKey)>,
}

impl Rig {
    fn new() -> Rig {
        let mut tx = TxConfig::new(addr(X));
        tx.max_server_per_source = 100_000;
        tx.max_bytes_per_source = usize::MAX / 4;
        let x = B2bua::new(
            B2buaConfig {
                tx,
                contact: NameAddr::parse(&format!("<sip:b2bua@{X}>")).expect("contact"),
                policy: UasPolicy::default(),
                relay_failures: true,
                keep_a_when_b_hangs_up: false,
                session_timers: Some(SessionTimerConfig::default()),
            },
            7,
        );
        let now = switchboard_test_support::epoch();
        Rig {
            now,
            start: now,
            a: TransactionLayer::new(TxConfig::new(addr(A)), 3),
            x,
            calls: HashMap::new(),
            dialogs: HashMap::new(),
            expired: Vec::new(),
        }
    }

    /// Moves every message until both sides are quiet.
    fn settle(&mut self) {
        loop {
            let mut any = false;
            while let Some(o) = self.x.poll_output() {
                any = true;
                match o {
                    B2buaOutput::Transmit { bytes, .. } => {
                        let m = parse_datagram(&bytes, &Limits::default()).expect("parse");
                        self.a.handle_message(self.now, addr(X), Transport::Udp, m);
                    }
                    B2buaOutput::Event(e) => self.on_x_event(e),
                }
            }
            while let Some(o) = self.a.poll_output() {
                any = true;
                match o {
                    Output::Transmit { bytes, .. } => {
                        let m = parse_datagram(&bytes, &Limits::default()).expect("parse");
                        self.x.handle_message(self.now, addr(A), Transport::Udp, m);
                    }
                    Output::Event(e) => self.on_a_event(e),
                }
            }
            if !any {
                return;
            }
        }
    }

    fn on_x_event(&mut self, e: CallEvent) {
        match e {
            CallEvent::Incoming { call, invite, .. } => {
                let id = invite.headers.call_id().expect("call-id").to_string();
                self.calls.insert(id, call);
                self.x
                    .answer_a(self.now, call, Bytes::from_static(b"v=0\r\n"))
                    .expect("answer");
            }
            CallEvent::SessionExpired { call, .. } => {
                self.expired.push((self.now - self.start, call));
                let _ = self.x.hangup(self.now, call);
            }
            _ => {}
        }
    }

    fn on_a_event(&mut self, e: TxEvent) {
        match e {
            TxEvent::Response { key, resp } if resp.status.is_success() => {
                let Some(req) = self.a.request(key).cloned() else {
                    return;
                };
                if req.method != Method::Invite {
                    return;
                }
                let d = Dialog::uac(&req, &resp).expect("dialog");
                self.a
                    .send_ack_for_2xx(self.now, key, addr(X), Transport::Udp, d.ack(1))
                    .expect("ack");
                let id = req.headers.call_id().expect("call-id").to_string();
                self.dialogs.insert(id, d);
            }
            TxEvent::NewRequest { key, req, .. } => {
                let r = Response::for_request(&req, StatusCode::OK);
                self.a.send_response(self.now, key, r).expect("respond");
            }
            _ => {}
        }
    }

    /// A places call `n` offering `Session-Expires: secs;refresher=uac` (A refreshes; it
    /// never will, so X expires the session). Returns A's Call-ID.
    fn call(&mut self, n: usize, secs: u32) -> String {
        let mut inv = Request::new(
            Method::Invite,
            Uri::parse(&format!("sip:ivr@{X}")).expect("uri"),
        );
        let tag = self.a.new_tag();
        let id = self.a.new_call_id();
        inv.headers
            .push(HeaderName::From, format!("<sip:c{n}@{A}>;tag={tag}"));
        inv.headers.push(HeaderName::To, format!("<sip:ivr@{X}>"));
        inv.headers.push(HeaderName::CallId, id.clone());
        inv.headers.push(HeaderName::CSeq, "1 INVITE");
        inv.headers
            .push(HeaderName::Contact, format!("<sip:c{n}@{A}>"));
        inv.headers.push(HeaderName::Supported, "timer");
        inv.headers
            .push(HeaderName::SessionExpires, format!("{secs};refresher=uac"));
        self.a
            .send_request(self.now, addr(X), Transport::Udp, inv)
            .expect("send");
        self.settle();
        id
    }

    /// A hangs up the call with Call-ID `id`.
    fn bye(&mut self, id: &str) {
        let d = self.dialogs.get_mut(id).expect("dialog");
        let bye = d.request(Method::Bye);
        self.a
            .send_request(self.now, addr(X), Transport::Udp, bye)
            .expect("bye");
        self.settle();
    }

    /// Runs both sides' timers, deadline by deadline, until `until` after the start.
    fn run_until(&mut self, until: Duration) {
        let end = self.start + until;
        loop {
            let next = [self.x.poll_timeout(), self.a.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(t) = next.filter(|t| *t <= end) else {
                break;
            };
            self.now = self.now.max(t);
            self.x.handle_timeout(self.now);
            self.a.handle_timeout(self.now);
            self.settle();
        }
        self.now = end;
    }
}

/// The session of a call answered at `answered` with interval `secs` and the caller as
/// refresher expires at secs - min(32, secs/3) after it (RFC 4028 §10).
fn expiry(answered: Duration, secs: u32) -> Duration {
    let i = Duration::from_secs(u64::from(secs));
    answered + i - (i / 3).min(Duration::from_secs(32))
}

#[test]
fn many_calls_expire_in_deadline_order_and_hung_up_calls_leave_nothing() {
    let mut rig = Rig::new();
    let n = 300;
    let mut expected = Vec::new();
    let mut hung_up = Vec::new();
    for i in 0..n {
        // Later calls get shorter intervals: deadline order is not call order.
        let secs = 90 + (n - i) as u32;
        let answered = rig.now - rig.start;
        let id = rig.call(i, secs);
        let key = rig.calls[&id];
        if i % 3 == 0 {
            hung_up.push((id, key));
        } else {
            expected.push((expiry(answered, secs), key));
        }
        rig.now += Duration::from_millis(10);
    }
    assert_eq!(rig.x.live_len(), n);
    assert_eq!(
        rig.x.session_timer_calls(),
        n,
        "one schedule entry per call"
    );
    for (id, key) in &hung_up {
        rig.bye(id);
        assert!(rig.x.call(*key).is_none_or(|c| c.is_ended()));
    }
    assert_eq!(
        rig.x.session_timer_calls(),
        n - hung_up.len(),
        "a hung-up call leaves the schedule at once"
    );
    rig.run_until(Duration::from_secs(600));
    expected.sort();
    let keys: Vec<CallKey> = expected.iter().map(|(_, k)| *k).collect();
    let fired: Vec<CallKey> = rig.expired.iter().map(|(_, k)| *k).collect();
    assert_eq!(
        fired, keys,
        "every live call expired once, in deadline order"
    );
    for ((at, _), (due, _)) in rig.expired.iter().zip(&expected) {
        assert_eq!(at, due, "fired at its deadline, not before or after");
    }
    assert_eq!(
        rig.x.session_timer_calls(),
        0,
        "nothing left on the schedule"
    );
    assert!(rig.x.is_empty(), "every call and transaction is gone");
    assert_eq!(rig.x.poll_timeout(), None, "no deadline left to wake for");
}

/// Session-timer work (calls examined) for one INVITE/200/ACK then BYE/200 with `held`
/// answered calls already running timers.
fn work_of_one_call_with(held: usize) -> u64 {
    let mut rig = Rig::new();
    for i in 0..held {
        rig.call(i, 1800);
    }
    assert_eq!(rig.x.session_timer_calls(), held);
    let before = rig.x.session_timer_examined();
    let id = rig.call(held, 1800);
    rig.bye(&id);
    // Timers due now (none of the held calls is): what the driver loop does after.
    rig.x.handle_timeout(rig.now);
    let _ = rig.x.poll_timeout();
    rig.x.session_timer_examined() - before
}

#[test]
fn timer_work_per_message_does_not_grow_with_calls() {
    let few = work_of_one_call_with(10);
    let many = work_of_one_call_with(2000);
    assert!(few > 0, "the new call itself is examined");
    assert_eq!(
        few, many,
        "work per call is the same with 10 or 2,000 calls held"
    );
}

/// Wall time of one more call (INVITE/200/ACK, BYE/200, plus the driver loop's
/// `poll_timeout` after each message) with 10 to 10,000 answered calls held, each with a
/// session timer: `cargo test --release -p switchboard-sip --test session_schedule --
/// --ignored --nocapture` (figures in benches/README.md).
#[test]
#[ignore = "measurement; run in release"]
fn cost_of_a_call_with_many_calls_held() {
    for held in [10, 1000, 10_000] {
        let mut rig = Rig::new();
        for i in 0..held {
            rig.call(i, 1800);
        }
        let rounds = 2000;
        let wall = switchboard_test_support::Stopwatch::start();
        for i in 0..rounds {
            let id = rig.call(held + i, 1800);
            let _ = rig.x.poll_timeout();
            rig.bye(&id);
            let _ = rig.x.poll_timeout();
        }
        let per = wall.elapsed() / rounds as u32;
        println!("{held} calls held: {per:?} per call (INVITE/200/ACK, BYE/200)");
        assert_eq!(rig.x.live_len(), held);
    }
}

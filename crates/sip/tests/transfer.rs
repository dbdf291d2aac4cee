//! Attended transfer by an anchoring B2BUA (RFC 5589 with RFC 3891 Replaces), end to end on
//! the simulated network.
//!
//! Call X: customer C → switchboard → agent 1001. Call Y: 1001's consultation call into the
//! switchboard → agent 1004. 1001 sends REFER on X's leg B with a Replaces naming Y's leg A;
//! the application answers 202 + NOTIFY, releases X's B, finds Y with
//! `find_call_by_a_dialog`, and moves Y's B (1004) into X with `transplant_b`. C and 1004
//! stay up; 1001 gets BYE on both of its dialogs.

mod sim;

use std::time::Duration;

use bytes::Bytes;
use sim::{addr, B2buaNode, NetConfig, SimNet, Ua};
use switchboard_sip::{
    B2buaError, CallEvent, CallKey, DialogId, DialogKey, EndReason, Leg, Transport, TxEvent, TxKey,
};
use switchboard_sip_message::{
    parse_datagram, HeaderName, Limits, Message, Method, Replaces, Request, StatusCode,
};

const C: &str = "10.0.0.1:5060";
const SW: &str = "10.0.0.5:5060";
const A1001: &str = "10.0.0.11:5060";
const A1004: &str = "10.0.0.14:5060";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

struct Setup {
    net: SimNet,
    c: usize,
    sw: usize,
    a1001: usize,
    a1004: usize,
    x: CallKey,
    y: CallKey,
}

fn incoming(net: &mut SimNet, sw: usize, n: usize) -> Option<CallKey> {
    net.node::<B2buaNode>(sw)
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            CallEvent::Incoming { call, .. } => Some(*call),
            _ => None,
        })
        .nth(n)
}

fn confirmed_a(net: &mut SimNet, sw: usize, call: CallKey) -> bool {
    net.node::<B2buaNode>(sw)
        .has_event(|e| matches!(e, CallEvent::LegConfirmed { call: c, leg: Leg::A } if *c == call))
}

/// Calls X (C ↔ 1001) and Y (1001 ↔ 1004), both answered and confirmed on every leg.
fn setup(seed: u64) -> Setup {
    let cfg = NetConfig {
        latency: Duration::from_millis(20),
        ..NetConfig::default()
    };
    let mut net = SimNet::new(seed, cfg);
    let e = net.epoch;
    let c = net.add(Box::new(Ua::new(addr(C), Transport::Udp, seed, e)));
    let sw = net.add(Box::new(B2buaNode::new(addr(SW), addr(A1001), seed + 1, e)));
    let a1001 = net.add(Box::new(Ua::new(addr(A1001), Transport::Udp, seed + 2, e)));
    let a1004 = net.add(Box::new(Ua::new(addr(A1004), Transport::Udp, seed + 3, e)));

    let now = net.now;
    net.node::<Ua>(c).invite(now, addr(SW));
    assert!(net.run_until(secs(10), |n| incoming(n, sw, 0)
        .is_some_and(|x| confirmed_a(n, sw, x))));
    let x = incoming(&mut net, sw, 0).expect("call X");

    // 1001's consultation call is routed to 1004.
    net.node::<B2buaNode>(sw).b_target = addr(A1004);
    let now = net.now;
    net.node::<Ua>(a1001).invite(now, addr(SW));
    assert!(net.run_until(secs(10), |n| incoming(n, sw, 1)
        .is_some_and(|y| confirmed_a(n, sw, y))));
    let y = incoming(&mut net, sw, 1).expect("call Y");
    net.run_for(secs(1));
    let core = &net.node::<B2buaNode>(sw).core;
    for k in [x, y] {
        let call = core.call(k).expect("call");
        assert!(call.a_answered() && call.b_answered());
    }
    Setup {
        net,
        c,
        sw,
        a1001,
        a1004,
        x,
        y,
    }
}

/// The switchboard's id of a leg's dialog.
fn core_dialog(s: &mut Setup, call: CallKey, leg: Leg) -> DialogId {
    let sw = s.sw;
    let core = &s.net.node::<B2buaNode>(sw).core;
    let c = core.call(call).expect("call");
    let dk = match leg {
        Leg::A => c.a_dialog(),
        Leg::B => c.b_dialog(),
    }
    .expect("dialog");
    core.dialogs().get(dk).expect("dialog").id.clone()
}

/// Which simulated phone.
#[derive(Clone, Copy)]
enum Peer {
    Customer,
    A1001,
    A1004,
}

/// The peer's key for the dialog the switchboard knows as `id`.
fn peer_dialog(s: &mut Setup, ua: Peer, id: &DialogId) -> DialogKey {
    let ua = match ua {
        Peer::Customer => s.c,
        Peer::A1001 => s.a1001,
        Peer::A1004 => s.a1004,
    };
    let mirrored = DialogId {
        call_id: id.call_id.clone(),
        local_tag: id.remote_tag.clone(),
        remote_tag: id.local_tag.clone(),
    };
    s.net
        .node::<Ua>(ua)
        .dialogs
        .find(&mirrored)
        .expect("peer dialog")
}

/// %-escapes a URI header value (RFC 3261 `hvalue`).
fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.!~*'()[]/?:+$".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn call_id_of(bytes: &Bytes) -> String {
    match parse_datagram(bytes, &Limits::default()) {
        Ok(Message::Request(r)) => r.headers.call_id().unwrap_or("").to_string(),
        Ok(Message::Response(r)) => r.headers.call_id().unwrap_or("").to_string(),
        _ => String::new(),
    }
}

/// Requests the switchboard sent to `to` starting with `prefix`, as Call-IDs.
fn sent_to(net: &SimNet, to: &str, prefix: &str) -> Vec<String> {
    net.sent_by(addr(SW), prefix)
        .iter()
        .filter(|w| w.to == addr(to))
        .map(|w| call_id_of(&w.bytes))
        .collect()
}

/// 1001 REFERs X's leg B to 1004 replacing Y's leg A; returns the REFER as the switchboard
/// reported it.
fn refer(s: &mut Setup) -> (TxKey, Request) {
    let xb = core_dialog(s, s.x, Leg::B);
    let ya = core_dialog(s, s.y, Leg::A);
    let d = peer_dialog(s, Peer::A1001, &xb);
    // 1001 is the UAC of Y.A: to-tag = the switchboard's tag, from-tag = 1001's.
    let replaces = format!(
        "{};to-tag={};from-tag={}",
        ya.call_id, ya.local_tag, ya.remote_tag
    );
    let now = s.net.now;
    let ua = s.net.node::<Ua>(s.a1001);
    let mut req = ua
        .dialogs
        .get_mut(d)
        .expect("dialog")
        .request(Method::Refer);
    req.headers.push(
        HeaderName::ReferTo,
        format!("<sip:1004@{A1004}?Replaces={}>", escape(&replaces)),
    );
    req.headers
        .push(HeaderName::ReferredBy, format!("<sip:1001@{A1001}>"));
    ua.send(now, addr(SW), req);
    let sw = s.sw;
    assert!(s
        .net
        .run_until(secs(5), |n| n.node::<B2buaNode>(sw).has_event(
            |e| matches!(e, CallEvent::InDialogRequest { req, .. } if req.method == Method::Refer)
        )));
    s.net
        .node::<B2buaNode>(sw)
        .events
        .iter()
        .find_map(|(_, e)| match e {
            CallEvent::InDialogRequest {
                call,
                leg: Leg::B,
                tx,
                req,
            } if *call == s.x && req.method == Method::Refer => Some((*tx, req.clone())),
            _ => None,
        })
        .expect("REFER on X's leg B")
}

/// The application's side of the transfer: 202, NOTIFY 200, release X's B, find Y from the
/// Replaces, move Y's B into X. Returns the call found.
fn do_transfer(s: &mut Setup, tx: TxKey, req: &Request) -> CallKey {
    let refer_to = req
        .headers
        .refer_to()
        .expect("Refer-To")
        .expect("Refer-To parses");
    let sip = refer_to.uri.as_sip().expect("sip uri");
    let value = sip
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Replaces"))
        .map(|(_, v)| v.clone())
        .expect("Replaces in Refer-To");
    let r = Replaces::parse(&value).expect("Replaces parses");
    let now = s.net.now;
    let x = s.x;
    let core = &mut s.net.node::<B2buaNode>(s.sw).core;
    core.respond(now, tx, StatusCode(202), None).expect("202");
    core.send_refer_notify(now, x, Leg::B, StatusCode::OK, true)
        .expect("NOTIFY");
    let found = core
        .find_call_by_a_dialog(&r.call_id, &r.to_tag, &r.from_tag)
        .expect("Y found by its A dialog");
    // X still has its B: moving another one in is refused.
    assert!(matches!(
        core.transplant_b(now, found, x),
        Err(B2buaError::InvalidState(_))
    ));
    core.release_b(now, x).expect("release X's B");
    core.transplant_b(now, found, x).expect("transplant");
    found
}

/// Runs the whole transfer; returns the setup and the time (since epoch) it was done.
fn transferred(seed: u64) -> (Setup, Duration, DialogKey, DialogKey) {
    let mut s = setup(seed);
    let (x0, y0) = (s.x, s.y);
    let xa = core_dialog(&mut s, x0, Leg::A);
    let yb = core_dialog(&mut s, y0, Leg::B);
    let c_dialog = peer_dialog(&mut s, Peer::Customer, &xa);
    let d1004 = peer_dialog(&mut s, Peer::A1004, &yb);
    let (tx, req) = refer(&mut s);
    let found = do_transfer(&mut s, tx, &req);
    assert_eq!(found, s.y);
    let at = s.net.now - s.net.epoch;
    s.net.run_for(secs(5));
    (s, at, c_dialog, d1004)
}

#[test]
fn refer_with_replaces_moves_the_consulted_agent_to_the_customer() {
    let (mut s, at, _, _) = transferred(1);
    let x0 = s.x;
    let xa = core_dialog(&mut s, x0, Leg::A);
    let xb = core_dialog(&mut s, x0, Leg::B);
    let net = &s.net;

    // 1001 got BYE on both its dialogs (X.B and Y.A), and answered them.
    let byes_1001 = sent_to(net, A1001, "BYE");
    assert_eq!(byes_1001.len(), 2, "{byes_1001:?}");
    assert_ne!(byes_1001[0], byes_1001[1]);
    let ok_1001: Vec<_> = net
        .sent_by(addr(A1001), "SIP/2.0 200")
        .iter()
        .filter(|w| w.cseq == "BYE")
        .map(|w| call_id_of(&w.bytes))
        .collect();
    assert_eq!(ok_1001.len(), 2);
    // The customer and 1004 got nothing that ends or changes their dialogs.
    for peer in [C, A1004] {
        for m in ["BYE", "CANCEL", "INVITE"] {
            let late: Vec<_> = net
                .sent_by(addr(SW), m)
                .into_iter()
                .filter(|w| w.to == addr(peer) && w.sent >= at)
                .collect();
            assert!(late.is_empty(), "{m} to {peer} after transfer");
        }
    }
    // X is now customer ↔ 1004 on the legs' original dialogs; the B dialog is 1004's.
    assert_eq!(xb.call_id, core_dialog(&mut s, x0, Leg::B).call_id);
    assert_ne!(xa.call_id, xb.call_id);
    let yb_calls_1004: Vec<_> = s
        .net
        .sent_by(addr(SW), "INVITE")
        .iter()
        .filter(|w| w.to == addr(A1004))
        .map(|w| call_id_of(&w.bytes))
        .collect();
    assert_eq!(yb_calls_1004, vec![xb.call_id.clone()]);

    let sw = s.sw;
    let (x, y) = (s.x, s.y);
    let node = s.net.node::<B2buaNode>(sw);
    // The NOTIFY's answer is still reported, although its leg was released.
    assert!(node.has_event(|e| matches!(
        e,
        CallEvent::InDialogResponse { call, leg: Leg::B, resp, .. }
            if *call == x && resp.status == StatusCode::OK
    )));
    // No event for Y after the transplant; no `Ended` for anything.
    let late_y = node.events.iter().any(|(t, e)| {
        *t >= at
            && match e {
                CallEvent::Ended { call, .. }
                | CallEvent::LegConfirmed { call, .. }
                | CallEvent::BHungUp { call }
                | CallEvent::InDialogRequest { call, .. } => *call == y,
                _ => false,
            }
    });
    assert!(!late_y);
    assert!(!node.has_event(|e| matches!(e, CallEvent::Ended { .. })));
    let call = node.core.call(x).expect("X alive");
    assert!(call.a_answered() && call.b_answered() && !call.is_ended());
    // Y is gone once its transactions end; X stays.
    s.net.run_for(secs(40));
    let now = s.net.now;
    let node = s.net.node::<B2buaNode>(sw);
    assert!(node.core.call(y).is_none());
    assert_eq!(node.core.len(), 1);
    assert_eq!(node.core.dialogs().len(), 2);
    assert_eq!(
        node.core.transplant_b(now, y, x),
        Err(B2buaError::NoSuchCall)
    );
    assert!(node
        .core
        .find_call_by_a_dialog(&xa.call_id, &xa.local_tag, &xa.remote_tag)
        .is_some_and(|k| k == x));
}

#[test]
fn bye_from_the_moved_agent_ends_the_customer_call() {
    let (mut s, at, _, d1004) = transferred(2);
    let (sw, x, y) = (s.sw, s.x, s.y);
    // A re-INVITE from 1004 reaches call X's leg B and is answered there.
    let now = s.net.now;
    let ua = s.net.node::<Ua>(s.a1004);
    let mut re = ua
        .dialogs
        .get_mut(d1004)
        .expect("dialog")
        .request(Method::Invite);
    re.headers.set(HeaderName::ContentType, "application/sdp");
    re.body = Bytes::from_static(b"v=0\r\na=hold\r\n");
    let re_tx = ua.send(now, addr(SW), re);
    let a1004 = s.a1004;
    assert!(s.net.run_until(secs(5), |n| n
        .node::<Ua>(a1004)
        .responses(re_tx)
        .contains(&200)));
    assert!(s.net.node::<B2buaNode>(sw).has_event(|e| matches!(
        e,
        CallEvent::Reinvite { call, leg: Leg::B, .. } if *call == x
    )));
    s.net.run_for(secs(1));

    let now = s.net.now;
    let bye = s.net.node::<Ua>(a1004).bye(now, d1004);
    assert!(s.net.run_until(secs(5), |n| n
        .node::<Ua>(a1004)
        .responses(bye)
        .contains(&200)));
    s.net.run_for(secs(2));
    let node = s.net.node::<B2buaNode>(sw);
    assert!(node.has_event(|e| matches!(
        e,
        CallEvent::Ended { call, reason: EndReason::Bye(Leg::B) } if *call == x
    )));
    assert!(!node.has_event(|e| matches!(e, CallEvent::Ended { call, .. } if *call == y)));
    let byes_c: Vec<_> = s
        .net
        .sent_by(addr(SW), "BYE")
        .into_iter()
        .filter(|w| w.to == addr(C) && w.sent >= at)
        .collect();
    assert_eq!(byes_c.len(), 1);
    let c = s.c;
    assert!(s
        .net
        .node::<Ua>(c)
        .has_event(|e| matches!(e, TxEvent::NewRequest { req, .. } if req.method == Method::Bye)));
    s.net.run_for(secs(40));
    let node = s.net.node::<B2buaNode>(sw);
    assert!(node.core.is_empty());
    assert!(node.core.dialogs().is_empty());
    assert!(node.core.transactions().is_empty());
}

#[test]
fn hangup_after_transfer_byes_customer_and_moved_agent() {
    let (mut s, at, _, _) = transferred(3);
    let (sw, x) = (s.sw, s.x);
    let yb = core_dialog(&mut s, x, Leg::B);
    let xa = core_dialog(&mut s, x, Leg::A);
    let now = s.net.now;
    s.net
        .node::<B2buaNode>(sw)
        .core
        .hangup(now, x)
        .expect("hangup");
    s.net.run_for(secs(40));
    let late = |to: &str| -> Vec<String> {
        s.net
            .sent_by(addr(SW), "BYE")
            .into_iter()
            .filter(|w| w.to == addr(to) && w.sent >= at)
            .map(|w| call_id_of(&w.bytes))
            .collect()
    };
    assert_eq!(late(C), vec![xa.call_id.clone()]);
    assert_eq!(late(A1004), vec![yb.call_id.clone()]);
    let oks = s
        .net
        .sent_by(addr(A1004), "SIP/2.0 200")
        .iter()
        .filter(|w| w.cseq == "BYE")
        .count();
    assert_eq!(oks, 1);
    let node = s.net.node::<B2buaNode>(sw);
    assert!(!node.has_event(|e| matches!(e, CallEvent::Ended { .. })));
    assert!(node.core.is_empty());
    assert!(node.core.dialogs().is_empty());
}

#[test]
fn transplant_and_lookup_errors() {
    let mut s = setup(4);
    let (x, y) = (s.x, s.y);
    let ya = core_dialog(&mut s, y, Leg::A);
    let yb = core_dialog(&mut s, y, Leg::B);
    let now = s.net.now;
    let core = &mut s.net.node::<B2buaNode>(s.sw).core;

    // Lookup: either tag order, A legs only, exact tags.
    assert_eq!(
        core.find_call_by_a_dialog(&ya.call_id, &ya.local_tag, &ya.remote_tag),
        Some(y)
    );
    assert_eq!(
        core.find_call_by_a_dialog(&ya.call_id, &ya.remote_tag, &ya.local_tag),
        Some(y)
    );
    assert_eq!(
        core.find_call_by_a_dialog(&ya.call_id, &ya.local_tag, "nope"),
        None
    );
    assert_eq!(
        core.find_call_by_a_dialog("unknown@x", &ya.local_tag, &ya.remote_tag),
        None
    );
    assert_eq!(
        core.find_call_by_a_dialog(&yb.call_id, &yb.local_tag, &yb.remote_tag),
        None,
        "a B leg is not an A dialog"
    );
    assert_eq!(
        core.find_call_by_dialog(&yb.remote_tag, &yb.call_id, &yb.local_tag),
        None
    );
    assert_eq!(
        core.find_call_by_dialog(&yb.call_id, &yb.remote_tag, &yb.local_tag),
        Some((y, Leg::B))
    );
    assert_eq!(
        core.find_call_by_dialog(&ya.call_id, &ya.local_tag, &ya.remote_tag),
        Some((y, Leg::A))
    );

    // Same call, target with a B, nothing changed by refusals.
    assert!(matches!(
        core.transplant_b(now, x, x),
        Err(B2buaError::InvalidState(_))
    ));
    assert!(matches!(
        core.transplant_b(now, y, x),
        Err(B2buaError::InvalidState(_))
    ));
    assert!(core.call(x).is_some_and(|c| c.b_answered()));
    assert!(core
        .call(y)
        .is_some_and(|c| c.b_answered() && !c.is_ended()));

    // Source without a B leg.
    core.release_b(now, x).expect("release");
    assert!(matches!(
        core.transplant_b(now, x, y),
        Err(B2buaError::InvalidState(_))
    ));
    // Ended target.
    core.hangup(now, x).expect("hangup X");
    assert!(core.transplant_b(now, y, x).is_err());
    assert!(core
        .call(y)
        .is_some_and(|c| c.b_answered() && !c.is_ended()));
    // Dead keys.
    s.net.run_for(secs(40));
    let core = &mut s.net.node::<B2buaNode>(s.sw).core;
    assert!(core.call(x).is_none());
    assert_eq!(core.transplant_b(now, y, x), Err(B2buaError::NoSuchCall));
    assert_eq!(core.transplant_b(now, x, y), Err(B2buaError::NoSuchCall));
}

#[test]
fn released_leg_bye_timeout_does_not_end_the_transferred_call() {
    // 1001 never answers anything after the REFER: the BYEs to it time out (timer F). The
    // transferred call must survive.
    let mut s = setup(5);
    let (tx, req) = refer(&mut s);
    s.net.set_drop_filter(|w| w.from == addr(A1001));
    let found = do_transfer(&mut s, tx, &req);
    assert_eq!(found, s.y);
    s.net.run_for(secs(60));
    let x = s.x;
    let node = s.net.node::<B2buaNode>(s.sw);
    assert!(
        !node.has_event(|e| matches!(e, CallEvent::Ended { .. })),
        "{:?}",
        node.events
    );
    let call = node.core.call(x).expect("X alive");
    assert!(call.a_answered() && call.b_answered() && !call.is_ended());
    assert_eq!(node.core.len(), 1);
}

#[test]
fn split_off_b_moves_the_consulted_agent_into_a_call_of_its_own() {
    // The target has no B slot to take 1004 (a campaign call led by its callee): Y's B
    // becomes a call of its own, 1001's consultation leg gets BYE, X is left alone.
    let mut s = setup(6);
    let (sw, x, y) = (s.sw, s.x, s.y);
    let yb = core_dialog(&mut s, y, Leg::B);
    let d1004 = peer_dialog(&mut s, Peer::A1004, &yb);
    let at = s.net.now - s.net.epoch;
    let now = s.net.now;
    let core = &mut s.net.node::<B2buaNode>(sw).core;
    let n = core.split_off_b(now, y).expect("detached");
    assert!(n != x && n != y);
    assert!(core
        .call(n)
        .is_some_and(|c| c.is_originated() && c.b_answered() && !c.is_ended()));
    // Detaching again (Y has no B left) is refused and creates nothing.
    let calls = core.len();
    assert!(matches!(
        core.split_off_b(now, y),
        Err(B2buaError::InvalidState(_)) | Err(B2buaError::NoSuchCall)
    ));
    assert_eq!(core.len(), calls);
    s.net.run_for(secs(2));
    let byes_1001 = s
        .net
        .sent_by(addr(SW), "BYE")
        .into_iter()
        .filter(|w| w.to == addr(A1001) && w.sent >= at)
        .count();
    assert_eq!(byes_1001, 1, "1001's consultation leg is hung up");
    // 1004 hangs up: the new call ends (Bye(B)), not X nor Y.
    let now = s.net.now;
    let bye = s.net.node::<Ua>(s.a1004).bye(now, d1004);
    let a1004 = s.a1004;
    assert!(s.net.run_until(secs(5), |net| net
        .node::<Ua>(a1004)
        .responses(bye)
        .contains(&200)));
    s.net.run_for(secs(1));
    let node = s.net.node::<B2buaNode>(sw);
    assert!(node.has_event(|e| matches!(
        e,
        CallEvent::Ended { call, reason: EndReason::Bye(Leg::B) } if *call == n
    )));
    assert!(
        !node.has_event(|e| matches!(e, CallEvent::Ended { call, .. } if *call == x || *call == y))
    );
    assert!(node
        .core
        .call(x)
        .is_some_and(|c| c.b_answered() && !c.is_ended()));
}

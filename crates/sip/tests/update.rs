//! UPDATE from a peer (RFC 3311) at the B2BUA, on the simulated network (fake clock).
//! OPTIONS' `Allow` and our 2xx to an INVITE list it. On a confirmed dialog a bodiless
//! UPDATE with `Session-Expires` is a session refresh (RFC 4028 §7.4): 200 with our
//! `Session-Expires` and Contact, no event for the application, and the session lives a
//! full interval past it. An UPDATE with an offer reaches the application
//! (`InDialogRequest`) and is answered with its SDP like a re-INVITE; an offer crossing our
//! re-INVITE gets 491, one while the peer's re-INVITE is unanswered 500 with
//! `Retry-After`. In an early dialog (before our 2xx) there is no dialog yet: 481.

mod sim;

use std::time::Duration;

use bytes::Bytes;
use sim::{addr, B2buaNode, SimNet, Ua};
use switchboard_sip::{CallEvent, Dialog, DialogKey, TxEvent, TxKey};
use switchboard_sip_message::{HeaderName, Method, Response, StatusCode};

const A: &str = "10.0.0.1:5060";
const X: &str = "10.0.0.5:5060";
const B: &str = "10.0.0.2:5060";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A call from A through X to B with session timers (90 s, A refreshes), answered; A's
/// dialog and the time of X's 200.
fn answered_call(seed: u64) -> (SimNet, usize, usize, DialogKey, Duration) {
    let (mut net, a, x) = sim::net_with_session_timers(seed, A, X, B);
    let now = net.now;
    let ua = net.node::<Ua>(a);
    let mut inv = ua.request(Method::Invite, addr(X));
    inv.headers.push(HeaderName::Supported, "timer");
    inv.headers
        .push(HeaderName::SessionExpires, "90;refresher=uac");
    inv.headers.push(HeaderName::ContentType, "application/sdp");
    inv.body = Bytes::from_static(b"v=0\r\n");
    let k = ua.send(now, addr(X), inv);
    net.run_for(secs(5));
    assert_eq!(net.node::<Ua>(a).responses(k).last(), Some(&200));
    let ok = net.sent_by(addr(X), "SIP/2.0 200")[0];
    let (answered, text) = (ok.sent, String::from_utf8_lossy(&ok.bytes).to_string());
    assert!(
        text.lines()
            .any(|l| l.starts_with("Allow:") && l.contains("UPDATE")),
        "the 2xx lists UPDATE in Allow: {text}"
    );
    let d = *net.node::<Ua>(a).peers.keys().next().expect("A's dialog");
    (net, a, x, d, answered)
}

/// Sends an in-dialog `method` from A (with `body` as SDP, if any) and runs 5 s.
fn send_from_a(
    net: &mut SimNet,
    a: usize,
    d: DialogKey,
    method: Method,
    body: Option<&'static [u8]>,
    extra: &[(HeaderName, &str)],
) -> TxKey {
    let now = net.now;
    let ua = net.node::<Ua>(a);
    let dest = ua.peers[&d];
    let mut req = ua.dialogs.get_mut(d).expect("dialog").request(method);
    for (n, v) in extra {
        req.headers.push(n.clone(), *v);
    }
    if let Some(b) = body {
        req.headers.push(HeaderName::ContentType, "application/sdp");
        req.body = Bytes::from_static(b);
    }
    let k = ua.send(now, dest, req);
    net.run_for(secs(5));
    k
}

fn final_response(net: &mut SimNet, a: usize, k: TxKey) -> Option<Response> {
    net.node::<Ua>(a)
        .events
        .iter()
        .rev()
        .find_map(|(_, e)| match e {
            TxEvent::Response { key, resp } if *key == k && !resp.status.is_provisional() => {
                Some(resp.clone())
            }
            _ => None,
        })
}

fn expired_at(net: &mut SimNet, x: usize) -> Option<Duration> {
    net.node::<B2buaNode>(x)
        .events
        .iter()
        .find_map(|(t, e)| matches!(e, CallEvent::SessionExpired { .. }).then_some(*t))
}

#[test]
fn options_lists_update_in_allow() {
    let (mut net, a, _x) = sim::net_with_session_timers(80, A, X, B);
    let now = net.now;
    let ua = net.node::<Ua>(a);
    let req = ua.request(Method::Options, addr(X));
    let k = ua.send(now, addr(X), req);
    net.run_for(secs(2));
    let r = final_response(&mut net, a, k).expect("200");
    let allow = r.headers.get(&HeaderName::Allow).unwrap_or_default();
    assert!(allow.split(", ").any(|m| m == "UPDATE"), "Allow: {allow}");
}

#[test]
fn a_bodiless_update_refreshes_the_session_and_is_answered_by_the_core() {
    let (mut net, a, x, d, answered) = answered_call(81);
    net.run_for(secs(25));
    let refreshed = net.elapsed();
    let k = send_from_a(
        &mut net,
        a,
        d,
        Method::Update,
        None,
        &[(HeaderName::SessionExpires, "90;refresher=uac")],
    );
    let r = final_response(&mut net, a, k).expect("a final answer");
    assert_eq!(r.status, StatusCode::OK);
    let se = r
        .headers
        .get(&HeaderName::SessionExpires)
        .unwrap_or_default();
    assert!(se.starts_with("90"), "Session-Expires: {se}");
    assert!(
        r.headers.get(&HeaderName::Contact).is_some(),
        "the 2xx to a target refresh carries our Contact"
    );
    assert!(
        !net.node::<B2buaNode>(x)
            .has_event(|e| matches!(e, CallEvent::InDialogRequest { .. })),
        "a refresh is not the application's business"
    );
    // Without the refresh the session would have expired 60 s after the answer.
    net.run_for(answered + secs(61) - net.elapsed());
    assert_eq!(expired_at(&mut net, x), None, "refreshed by the UPDATE");
    net.run_for(secs(40));
    let at = expired_at(&mut net, x).expect("then silence expires it");
    assert!(at >= refreshed + secs(60), "expired at {at:?}");
}

#[test]
fn an_update_with_an_offer_is_answered_by_the_application_like_a_reinvite() {
    let (mut net, a, x, d, _) = answered_call(82);
    let k = send_from_a(
        &mut net,
        a,
        d,
        Method::Update,
        Some(b"v=0\r\na=moved\r\n"),
        &[],
    );
    let (tx, body) = net
        .node::<B2buaNode>(x)
        .events
        .iter()
        .find_map(|(_, e)| match e {
            CallEvent::InDialogRequest { tx, req, .. } if req.method == Method::Update => {
                Some((*tx, req.body.clone()))
            }
            _ => None,
        })
        .expect("the offer reaches the application");
    assert_eq!(&body[..], b"v=0\r\na=moved\r\n");
    assert_eq!(final_response(&mut net, a, k), None, "not answered yet");
    let now = net.now;
    net.node::<B2buaNode>(x)
        .core
        .respond(
            now,
            tx,
            StatusCode::OK,
            Some(Bytes::from_static(b"v=0\r\na=answer\r\n")),
        )
        .expect("respond");
    net.run_for(secs(2));
    let r = final_response(&mut net, a, k).expect("answered");
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], b"v=0\r\na=answer\r\n");
    assert!(r.headers.get(&HeaderName::Contact).is_some());
}

#[test]
fn an_offer_crossing_our_reinvite_gets_491() {
    let (mut net, a, x, d, _) = answered_call(83);
    let call = net
        .node::<B2buaNode>(x)
        .events
        .iter()
        .find_map(|(_, e)| match e {
            CallEvent::Incoming { call, .. } => Some(*call),
            _ => None,
        })
        .expect("the call");
    // X re-INVITEs A and, in the same instant, A sends an UPDATE with an offer: it reaches
    // X while X's offer is unanswered.
    let now = net.now;
    net.node::<B2buaNode>(x)
        .core
        .send_in_dialog(
            now,
            call,
            switchboard_sip::Leg::A,
            Method::Invite,
            Some(Bytes::from_static(b"v=0\r\na=ours\r\n")),
        )
        .expect("re-INVITE");
    let k = send_from_a(
        &mut net,
        a,
        d,
        Method::Update,
        Some(b"v=0\r\na=theirs\r\n"),
        &[],
    );
    let r = final_response(&mut net, a, k).expect("answered");
    assert_eq!(r.status.0, 491);
    assert!(
        !net.node::<B2buaNode>(x)
            .has_event(|e| matches!(e, CallEvent::InDialogRequest { .. })),
        "the crossing offer never reaches the application"
    );
}

#[test]
fn an_offer_while_the_peers_reinvite_is_unanswered_gets_500_with_retry_after() {
    let (mut net, a, x, d, _) = answered_call(85);
    net.node::<B2buaNode>(x).hold_reinvites = true;
    let kr = send_from_a(&mut net, a, d, Method::Invite, Some(b"v=0\r\n"), &[]);
    let tx = net
        .node::<B2buaNode>(x)
        .events
        .iter()
        .find_map(|(_, e)| match e {
            CallEvent::Reinvite { tx, .. } => Some(*tx),
            _ => None,
        })
        .expect("the re-INVITE reaches the application");
    let ku = send_from_a(
        &mut net,
        a,
        d,
        Method::Update,
        Some(b"v=0\r\na=second\r\n"),
        &[],
    );
    let r = final_response(&mut net, a, ku).expect("answered");
    assert_eq!(r.status, StatusCode::SERVER_INTERNAL_ERROR);
    let ra = r.headers.get(&HeaderName::RetryAfter).expect("Retry-After");
    let v: u32 = ra.trim().parse().expect("seconds");
    assert!(v <= 10, "Retry-After {v}");
    // Once the re-INVITE is answered, an offer is the application's again.
    let now = net.now;
    net.node::<B2buaNode>(x)
        .core
        .respond(
            now,
            tx,
            StatusCode::OK,
            Some(Bytes::from_static(b"v=0\r\n")),
        )
        .expect("respond");
    net.run_for(secs(2));
    assert_eq!(net.node::<Ua>(a).responses(kr).last(), Some(&200));
    send_from_a(
        &mut net,
        a,
        d,
        Method::Update,
        Some(b"v=0\r\na=third\r\n"),
        &[],
    );
    assert!(net
        .node::<B2buaNode>(x)
        .has_event(|e| matches!(e, CallEvent::InDialogRequest { .. })));
}

#[test]
fn an_update_in_an_early_dialog_finds_no_dialog() {
    let (mut net, a, _x) = sim::net_with_session_timers(84, A, X, B);
    net.node::<Ua>(2).script.invite_final = Some((200, secs(30)));
    let now = net.now;
    let ua = net.node::<Ua>(a);
    let inv = ua.request(Method::Invite, addr(X));
    let mut inv = inv;
    inv.headers.push(HeaderName::ContentType, "application/sdp");
    inv.body = Bytes::from_static(b"v=0\r\n");
    let k = ua.send(now, addr(X), inv.clone());
    net.run_for(secs(3));
    let ringing = net
        .node::<Ua>(a)
        .events
        .iter()
        .find_map(|(_, e)| match e {
            TxEvent::Response { key, resp } if *key == k && resp.status.0 == 180 => {
                Some(resp.clone())
            }
            _ => None,
        })
        .expect("180 relayed to A");
    let mut early = Dialog::uac(&inv, &ringing).expect("early dialog");
    let up = early.request(Method::Update);
    let now = net.now;
    let ku = net.node::<Ua>(a).send(now, addr(X), up);
    net.run_for(secs(2));
    let r = final_response(&mut net, a, ku).expect("answered");
    assert_eq!(r.status.0, 481);
}

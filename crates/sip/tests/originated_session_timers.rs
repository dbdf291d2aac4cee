//! RFC 4028 on the legs the B2BUA originates (leg B), on the simulated network (fake
//! clock). X routes A's call to B with session timers on: its INVITE offers
//! `Session-Expires: 1800`, `Min-SE: 90` and `Supported: timer`; B's 2xx decides who
//! refreshes. B as refresher that goes silent: X reports `SessionExpired { leg: B }` 60 s
//! (90 - min(32, 30)) after the answer. X as refresher: it refreshes at half the interval
//! (UPDATE when B allows it, else a re-INVITE with its last SDP) and the session lives on;
//! a 491 to its re-INVITE is retried after RFC 3261 §14.1's 2.1-4 s. A 422 gets the INVITE
//! re-sent with the interval B's Min-SE asks for. An originated call can go without.

mod sim;

use std::time::Duration;

use bytes::Bytes;
use sim::{addr, B2buaNode, SimNet, Ua};
use switchboard_sip::{CallEvent, Leg, OriginateOptions, Transport};
use switchboard_sip_message::{HeaderName, Method, NameAddr, Uri};

const A: &str = "10.0.0.1:5060";
const X: &str = "10.0.0.5:5060";
const B: &str = "10.0.0.2:5060";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A calls X, X routes to B, whose 2xx carries `answer_headers`. Returns the network,
/// the indices of X and B, and the time B's 200 went out.
fn call(seed: u64, answer_headers: &[(HeaderName, &str)]) -> (SimNet, usize, usize, Duration) {
    let (mut net, a, x) = sim::net_with_session_timers(seed, A, X, B);
    let b = x + 1;
    net.node::<Ua>(b).script.answer_headers = answer_headers
        .iter()
        .map(|(n, v)| (n.clone(), v.to_string()))
        .collect();
    let now = net.now;
    let k = net.node::<Ua>(a).invite(now, addr(X));
    net.run_for(secs(5));
    assert_eq!(net.node::<Ua>(a).responses(k).last(), Some(&200));
    let ok = net.sent_by(addr(B), "SIP/2.0 200")[0].sent;
    (net, x, b, ok)
}

fn expired(net: &mut SimNet, x: usize) -> Vec<(Duration, Leg)> {
    net.node::<B2buaNode>(x)
        .events
        .iter()
        .filter_map(|(t, e)| match e {
            CallEvent::SessionExpired { leg, .. } => Some((*t, *leg)),
            _ => None,
        })
        .collect()
}

/// X's requests to B with this method line prefix: (time, text).
fn to_b(net: &SimNet, method: &str) -> Vec<(Duration, String)> {
    net.sent_by(addr(X), method)
        .into_iter()
        .filter(|w| w.to == addr(B))
        .map(|w| (w.sent, String::from_utf8_lossy(&w.bytes).to_string()))
        .collect()
}

#[test]
fn our_invite_offers_a_timer_and_a_callee_refresher_that_goes_silent_expires() {
    let (mut net, x, _, answered) = call(
        91,
        &[
            (HeaderName::SessionExpires, "90;refresher=uas"),
            (HeaderName::Require, "timer"),
        ],
    );
    let invite = to_b(&net, "INVITE")[0].1.to_lowercase();
    assert!(invite.contains("session-expires: 1800\r\n"), "{invite}");
    assert!(invite.contains("min-se: 90\r\n"), "{invite}");
    assert!(invite.contains("supported: timer\r\n"), "{invite}");
    net.run_for(secs(120));
    let ex = expired(&mut net, x);
    assert_eq!(ex.len(), 1, "reported once: {ex:?}");
    assert_eq!(ex[0].1, Leg::B);
    assert!(
        ex[0].0 >= answered + secs(60) && ex[0].0 <= answered + secs(61),
        "{:?} answered {answered:?}",
        ex[0].0
    );
    assert!(to_b(&net, "UPDATE").is_empty(), "B refreshes, not X");
    assert_eq!(to_b(&net, "INVITE").len(), 1, "no refresh re-INVITE");
}

#[test]
fn a_callee_that_refreshes_keeps_its_leg() {
    let (mut net, x, b, _) = call(92, &[(HeaderName::SessionExpires, "90;refresher=uas")]);
    // B re-INVITEs X every 40 s, as its refresher role says; X's 200 confirms the timer.
    for _ in 0..4 {
        net.run_for(secs(40));
        let now = net.now;
        let ua = net.node::<Ua>(b);
        let d = *ua.peers.keys().next().expect("B's dialog");
        let dest = ua.peers[&d];
        let mut re = ua
            .dialogs
            .get_mut(d)
            .expect("dialog")
            .request(Method::Invite);
        re.headers
            .push(HeaderName::SessionExpires, "90;refresher=uac");
        re.headers.push(HeaderName::ContentType, "application/sdp");
        re.body = Bytes::from_static(b"v=0\r\n");
        ua.send(now, dest, re);
    }
    net.run_for(secs(5));
    assert!(expired(&mut net, x).is_empty(), "refreshed in time");
    let oks: Vec<_> = net
        .sent_by(addr(X), "SIP/2.0 200")
        .into_iter()
        .filter(|w| w.to == addr(B) && w.cseq == "INVITE")
        .map(|w| String::from_utf8_lossy(&w.bytes).to_lowercase())
        .collect();
    assert_eq!(oks.len(), 4, "each refresh answered");
    assert!(
        oks[0].contains("session-expires: 90;refresher=uac"),
        "{}",
        oks[0]
    );
    assert!(oks[0].contains("require: timer"), "{}", oks[0]);
    // Then silence: 60 s after the last refresh.
    net.run_for(secs(70));
    assert_eq!(expired(&mut net, x).len(), 1);
}

#[test]
fn as_refresher_we_send_update_at_half_the_interval_when_the_callee_allows_it() {
    let (mut net, x, _, answered) = call(
        93,
        &[
            (HeaderName::SessionExpires, "90;refresher=uac"),
            (HeaderName::Allow, "INVITE, ACK, BYE, CANCEL, UPDATE"),
        ],
    );
    net.run_for(secs(200));
    let ups = to_b(&net, "UPDATE");
    assert!(ups.len() >= 4, "one UPDATE per 45 s: {}", ups.len());
    assert!(ups[0].0 >= answered + secs(45) && ups[0].0 <= answered + secs(46));
    let text = ups[0].1.to_lowercase();
    assert!(text.contains("session-expires: 90;refresher=uac"), "{text}");
    assert!(!text.contains("content-type"), "UPDATE without SDP: {text}");
    assert_eq!(to_b(&net, "INVITE").len(), 1, "no re-INVITE");
    assert!(expired(&mut net, x).is_empty());
}

#[test]
fn without_update_we_refresh_with_a_reinvite_carrying_our_offer() {
    let (mut net, x, _, answered) = call(94, &[(HeaderName::SessionExpires, "90;refresher=uac")]);
    let offer = to_b(&net, "INVITE")[0].1.clone();
    let offer_sdp = offer[offer.find("\r\n\r\n").expect("body") + 4..].to_string();
    assert!(!offer_sdp.is_empty());
    net.run_for(secs(100));
    let invs = to_b(&net, "INVITE");
    assert_eq!(invs.len(), 3, "the INVITE and refreshes at 45 s and 90 s");
    assert!(invs[1].0 >= answered + secs(45) && invs[1].0 <= answered + secs(46));
    assert!(invs[1].1.ends_with(&offer_sdp), "same SDP: {}", invs[1].1);
    let acks = to_b(&net, "ACK").len();
    assert_eq!(acks, 3, "the answer and both refreshes ACKed");
    assert!(expired(&mut net, x).is_empty());
}

#[test]
fn a_callee_without_timers_still_gets_our_refreshes_at_half_what_we_asked() {
    let (mut net, x, _, answered) = call(95, &[]);
    net.run_for(secs(1000));
    let invs = to_b(&net, "INVITE");
    assert_eq!(invs.len(), 2, "one refresh in 1000 s");
    assert!(invs[1].0 >= answered + secs(900) && invs[1].0 <= answered + secs(901));
    assert!(invs[1]
        .1
        .to_lowercase()
        .contains("session-expires: 1800;refresher=uac"));
    assert!(expired(&mut net, x).is_empty());
}

#[test]
fn a_491_to_our_refresh_is_retried_after_the_glare_delay() {
    let (mut net, x, b, answered) = call(96, &[(HeaderName::SessionExpires, "90;refresher=uac")]);
    net.node::<Ua>(b).script.glare_reinvites = 1;
    net.run_for(secs(100));
    let invs = to_b(&net, "INVITE");
    assert!(
        !net.sent_by(addr(B), "SIP/2.0 491").is_empty(),
        "B answered the first refresh 491"
    );
    // The INVITE, the refresh at 45 s, its retry 2.1-4 s later, the next refresh 45 s after.
    assert_eq!(
        invs.len(),
        4,
        "{:?}",
        invs.iter().map(|i| i.0).collect::<Vec<_>>()
    );
    let gap = invs[2].0 - invs[1].0;
    assert!(
        gap >= Duration::from_millis(2100) && gap <= Duration::from_millis(4100),
        "retried after {gap:?}"
    );
    assert!(invs[1].0 >= answered + secs(45));
    assert!(invs[3].0 >= invs[2].0 + secs(45));
    assert!(expired(&mut net, x).is_empty(), "the retry refreshed it");
}

#[test]
fn a_422_gets_the_invite_again_with_the_larger_interval() {
    let (mut net, a, x) = sim::net_with_session_timers(97, A, X, B);
    let b = x + 1;
    net.node::<Ua>(b).script.min_se = Some(3000);
    let now = net.now;
    let k = net.node::<Ua>(a).invite(now, addr(X));
    net.run_for(secs(5));
    assert_eq!(net.node::<Ua>(a).responses(k).last(), Some(&200));
    let invs = to_b(&net, "INVITE");
    assert_eq!(invs.len(), 2, "the INVITE and its retry");
    let retry = invs[1].1.to_lowercase();
    assert!(retry.contains("session-expires: 3000\r\n"), "{retry}");
    assert!(retry.contains("min-se: 3000\r\n"), "{retry}");
    assert!(retry.contains("cseq: 2 invite"), "{retry}");
    let xn = net.node::<B2buaNode>(x);
    assert!(!xn.has_event(|e| matches!(e, CallEvent::BFailed { .. })));
    assert!(xn.has_event(|e| matches!(e, CallEvent::AnswerFromB { .. })));
}

#[test]
fn an_originated_leg_may_go_without_a_timer() {
    let (mut net, _, x) = sim::net_with_session_timers(98, A, X, B);
    let now = net.now;
    let from = NameAddr::parse("<sip:switchboard@10.0.0.5>").expect("from");
    let target = Uri::parse(&format!("sip:+74951234567@{B}")).expect("uri");
    let sdp = Bytes::from_static(b"v=0\r\n");
    let node = net.node::<B2buaNode>(x);
    node.core
        .originate(
            now,
            target.clone(),
            addr(B),
            Transport::Udp,
            from.clone(),
            sdp.clone(),
            &[],
        )
        .expect("originate");
    let options = OriginateOptions {
        without_session_timer: true,
        ..OriginateOptions::default()
    };
    node.core
        .originate_with_options(
            now,
            target,
            addr(B),
            Transport::Udp,
            from,
            sdp,
            &[],
            options,
        )
        .expect("originate");
    net.run_for(secs(5));
    let invs = to_b(&net, "INVITE");
    assert_eq!(invs.len(), 2);
    assert!(invs[0].1.contains("Session-Expires: 1800"), "{}", invs[0].1);
    assert!(!invs[1].1.contains("Session-Expires"), "{}", invs[1].1);
}

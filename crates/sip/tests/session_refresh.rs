//! RFC 4028 with the B2BUA as refresher, on the simulated network (fake clock): the caller
//! A offers `Session-Expires: 90;refresher=uas`; X confirms it in its 200 and sends its own
//! refresh at half the interval (45 s): an UPDATE without SDP when A's INVITE allowed
//! UPDATE, else a re-INVITE with the SDP of X's 200. While A answers, the session lives
//! on; when A stops answering (every refresh dropped), or answers 481, X reports
//! `SessionExpired`. A refresh answered 491 is sent again within 2 s (RFC 3261 §14.1: we did
//! not choose A's Call-ID). The application's own re-INVITE (hold) carries the session's
//! `Session-Expires` and its 2xx refreshes the session, so a refresh due meanwhile is not
//! sent at all.

mod sim;

use std::time::Duration;

use bytes::Bytes;
use sim::{addr, B2buaNode, SimNet, Ua};
use switchboard_sip::CallEvent;
use switchboard_sip_message::{HeaderName, Method};

const A: &str = "10.0.0.1:5060";
const X: &str = "10.0.0.5:5060";
const B: &str = "10.0.0.2:5060";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn net_with_timers(seed: u64) -> (SimNet, usize, usize) {
    sim::net_with_session_timers(seed, A, X, B)
}

/// A calls X asking X to refresh; `allow_update` puts UPDATE in its Allow. Returns when
/// the call is answered, with the time of X's 200.
fn call_with_uas_refresher(net: &mut SimNet, a: usize, allow_update: bool) -> Duration {
    let now = net.now;
    let ua = net.node::<Ua>(a);
    let mut inv = ua.request(Method::Invite, addr(X));
    inv.headers
        .push(HeaderName::SessionExpires, "90;refresher=uas");
    if allow_update {
        inv.headers
            .push(HeaderName::Allow, "INVITE, ACK, BYE, CANCEL, UPDATE");
    }
    inv.headers.push(HeaderName::ContentType, "application/sdp");
    inv.body = Bytes::from_static(b"v=0\r\n");
    let k = ua.send(now, addr(X), inv);
    net.run_for(secs(5));
    assert_eq!(net.node::<Ua>(a).responses(k).last(), Some(&200));
    let ok = net.sent_by(addr(X), "SIP/2.0 200")[0];
    let text = String::from_utf8_lossy(&ok.bytes).to_lowercase();
    assert!(text.contains("session-expires: 90;refresher=uas"), "{text}");
    assert!(!text.contains("require: timer"), "{text}");
    ok.sent
}

fn expired_at(net: &mut SimNet, x: usize) -> Option<Duration> {
    net.node::<B2buaNode>(x)
        .events
        .iter()
        .find_map(|(t, e)| matches!(e, CallEvent::SessionExpired { .. }).then_some(*t))
}

/// X's refresh requests to A: (time sent, method line).
fn refreshes(net: &SimNet, method: &str) -> Vec<(Duration, Bytes)> {
    net.sent_by(addr(X), method)
        .into_iter()
        .filter(|w| w.to == addr(A))
        .map(|w| (w.sent, w.bytes.clone()))
        .collect()
}

#[test]
fn we_refresh_with_update_at_half_the_interval_and_the_session_lives_on() {
    let (mut net, a, x) = net_with_timers(81);
    let answered = call_with_uas_refresher(&mut net, a, true);
    net.run_for(secs(200));
    let ups = refreshes(&net, "UPDATE");
    assert!(ups.len() >= 4, "one UPDATE per 45 s: {}", ups.len());
    // The first at 45 s after the answer (within the network's 20 ms hops).
    assert!(ups[0].0 >= answered + secs(45), "{:?}", ups[0].0);
    assert!(ups[0].0 <= answered + secs(46), "{:?}", ups[0].0);
    // Each following one 45 s after the previous one's 2xx.
    for w in ups.windows(2) {
        assert!(w[1].0 >= w[0].0 + secs(45), "{:?}", (w[0].0, w[1].0));
        assert!(w[1].0 <= w[0].0 + secs(46), "{:?}", (w[0].0, w[1].0));
    }
    let text = String::from_utf8_lossy(&ups[0].1).to_lowercase();
    assert!(text.contains("session-expires: 90;refresher=uac"), "{text}");
    assert!(!text.contains("content-type"), "UPDATE without SDP: {text}");
    assert!(refreshes(&net, "INVITE").is_empty(), "no re-INVITE");
    assert_eq!(expired_at(&mut net, x), None);
    let xn = net.node::<B2buaNode>(x);
    assert!(!xn.has_event(|e| matches!(e, CallEvent::Ended { .. })));
    assert!(
        !xn.has_event(|e| matches!(e, CallEvent::InDialogResponse { .. })),
        "the refresh's responses stay in the core"
    );
}

#[test]
fn without_update_we_refresh_with_a_reinvite_carrying_our_sdp_and_ack_it() {
    let (mut net, a, x) = net_with_timers(82);
    let answered = call_with_uas_refresher(&mut net, a, false);
    let ok = net.sent_by(addr(X), "SIP/2.0 200")[0].bytes.clone();
    let ok = String::from_utf8_lossy(&ok).to_string();
    let our_sdp = &ok[ok.find("\r\n\r\n").expect("body") + 4..];
    assert!(!our_sdp.is_empty(), "X answered A with SDP");
    net.run_for(secs(100));
    let invs = refreshes(&net, "INVITE");
    assert_eq!(invs.len(), 2, "re-INVITEs at 45 s and 90 s");
    assert!(invs[0].0 >= answered + secs(45) && invs[0].0 <= answered + secs(46));
    let text = String::from_utf8_lossy(&invs[0].1).to_string();
    assert!(text.ends_with(our_sdp), "same SDP as our 200: {text}");
    assert!(text
        .to_lowercase()
        .contains("session-expires: 90;refresher=uac"));
    let acks = net
        .sent_by(addr(X), "ACK")
        .into_iter()
        .filter(|w| w.to == addr(A))
        .count();
    assert_eq!(acks, 2, "each refresh's 2xx ACKed");
    assert_eq!(expired_at(&mut net, x), None);
}

#[test]
fn a_refresh_that_gets_no_answer_ends_the_session() {
    let (mut net, a, x) = net_with_timers(83);
    let answered = call_with_uas_refresher(&mut net, a, true);
    // From now on A hears nothing from X (it vanished, as far as X can tell).
    net.set_drop_filter(|w| w.to == addr(A) && w.cseq == "UPDATE");
    net.run_for(secs(120));
    let at = expired_at(&mut net, x).expect("SessionExpired");
    // The UPDATE went at 45 s and got no 2xx: the session ends at its deadline,
    // 90 - min(32, 30) = 60 s after the answer (before timer F would, at 45 + 32 s).
    assert!(at >= answered + secs(60), "{at:?} answered {answered:?}");
    assert!(at <= answered + secs(61), "{at:?} answered {answered:?}");
    assert_eq!(
        net.node::<B2buaNode>(x)
            .events
            .iter()
            .filter(|(_, e)| matches!(e, CallEvent::SessionExpired { .. }))
            .count(),
        1,
        "reported once"
    );
}

#[test]
fn a_481_to_our_refresh_ends_the_session_at_once() {
    let (mut net, a, x) = net_with_timers(84);
    let answered = call_with_uas_refresher(&mut net, a, true);
    // A forgets the dialog: its answer to the refresh is 481.
    let d = *net.node::<Ua>(a).peers.keys().next().expect("A's dialog");
    net.node::<Ua>(a).dialogs.remove(d);
    net.run_for(secs(50));
    assert!(
        !net.sent_by(addr(A), "SIP/2.0 481").is_empty(),
        "A said 481"
    );
    let at = expired_at(&mut net, x).expect("SessionExpired");
    assert!(
        at >= answered + secs(45) && at <= answered + secs(46),
        "{at:?}"
    );
}

#[test]
fn a_491_to_our_refresh_on_a_is_retried_within_two_seconds() {
    let (mut net, a, x) = net_with_timers(85);
    let answered = call_with_uas_refresher(&mut net, a, false);
    net.node::<Ua>(a).script.glare_reinvites = 1;
    net.run_for(secs(60));
    assert!(
        !net.sent_by(addr(A), "SIP/2.0 491").is_empty(),
        "A answered the first refresh 491"
    );
    let invs = refreshes(&net, "INVITE");
    assert_eq!(invs.len(), 2, "the refresh and its retry");
    assert!(invs[0].0 >= answered + secs(45));
    // We did not choose A's Call-ID: 0 to 2 s (RFC 3261 §14.1), after the 491's round trip.
    let gap = invs[1].0 - invs[0].0;
    assert!(gap <= Duration::from_millis(2100), "retried after {gap:?}");
    assert_eq!(expired_at(&mut net, x), None, "the retry refreshed it");
}

#[test]
fn the_applications_reinvite_is_a_refresh_so_the_one_due_meanwhile_is_not_sent() {
    let (mut net, a, x) = net_with_timers(86);
    let answered = call_with_uas_refresher(&mut net, a, false);
    let call = net
        .node::<B2buaNode>(x)
        .events
        .iter()
        .find_map(|(_, e)| match e {
            CallEvent::Incoming { call, .. } => Some(*call),
            _ => None,
        })
        .expect("the call");
    // The application re-INVITEs A (hold) 10 ms before the refresh is due; A answers it
    // 20 ms later, so the refresh falls due while that INVITE is in progress.
    net.run_for(answered + Duration::from_millis(44_990) - net.elapsed());
    let now = net.now;
    let hold = Bytes::from_static(b"v=0\r\na=sendonly\r\n");
    net.node::<B2buaNode>(x)
        .core
        .send_in_dialog(
            now,
            call,
            switchboard_sip::Leg::A,
            Method::Invite,
            Some(hold),
        )
        .expect("re-INVITE");
    net.run_for(secs(10));
    let invs = refreshes(&net, "INVITE");
    assert_eq!(invs.len(), 1, "the hold alone: it refreshed the session");
    let text = String::from_utf8_lossy(&invs[0].1);
    assert!(
        text.contains("Session-Expires: 90;refresher=uac") && text.contains("Supported: timer"),
        "the hold carries the session's interval and refresher: {text}"
    );
    assert!(
        net.sent_by(addr(A), "SIP/2.0 491").is_empty()
            && net.sent_by(addr(A), "SIP/2.0 500").is_empty(),
        "no collision"
    );
    // The next refresh comes half an interval after the hold, and carries the hold SDP,
    // the last we sent A.
    net.run_for(secs(45));
    let invs = refreshes(&net, "INVITE");
    assert_eq!(invs.len(), 2, "then our own refresh");
    assert!(
        invs[1].0 >= invs[0].0 + secs(45),
        "{:?}",
        (invs[0].0, invs[1].0)
    );
    assert!(
        invs[1].0 <= invs[0].0 + secs(46),
        "{:?}",
        (invs[0].0, invs[1].0)
    );
    assert!(String::from_utf8_lossy(&invs[1].1).ends_with("a=sendonly\r\n"));
    assert_eq!(expired_at(&mut net, x), None);
}

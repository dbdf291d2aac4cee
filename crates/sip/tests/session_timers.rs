//! RFC 4028 session timers in the B2BUA on the simulated network (fake clock): the caller
//! A offers `Session-Expires: 90;refresher=uac`; X confirms it in its 200 (with
//! `Require: timer`), a re-INVITE from A refreshes it, and when A stops refreshing X
//! reports `SessionExpired` 60 s (90 - min(32, 30)) after the last refresh, not before.
//! An interval below 90 s is answered 422 with `Min-SE: 90` and makes no call.

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

fn expired_at(net: &mut SimNet, x: usize) -> Option<Duration> {
    net.node::<B2buaNode>(x)
        .events
        .iter()
        .find_map(|(t, e)| matches!(e, CallEvent::SessionExpired { .. }).then_some(*t))
}

#[test]
fn a_refresh_keeps_the_session_and_silence_expires_it() {
    let (mut net, a, x) = net_with_timers(71);
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
    let ok = net.sent_by(addr(X), "SIP/2.0 200")[0].bytes.clone();
    let text = String::from_utf8_lossy(&ok).to_lowercase();
    assert!(text.contains("session-expires: 90;refresher=uac"), "{text}");
    assert!(text.contains("require: timer"), "{text}");
    let answered = net.sent_by(addr(X), "SIP/2.0 200")[0].sent;

    // A refreshes 30 s after the answer.
    net.run_for(secs(25));
    let now = net.now;
    let refreshed = net.elapsed();
    let ua = net.node::<Ua>(a);
    let d = *ua.peers.keys().next().expect("A's dialog");
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
    let kr = ua.send(now, dest, re);
    net.run_for(secs(5));
    assert_eq!(net.node::<Ua>(a).responses(kr).last(), Some(&200));
    // Without that refresh the session would have expired 60 s after the answer.
    net.run_for(answered + secs(61) - net.elapsed());
    assert_eq!(expired_at(&mut net, x), None, "refreshed in time");
    // Then silence: it expires 60 s after the refresh.
    net.run_for(secs(40));
    let at = expired_at(&mut net, x).expect("SessionExpired");
    assert!(
        at >= refreshed + secs(60),
        "expired at {at:?}, refreshed at {refreshed:?}"
    );
    assert!(
        at <= refreshed + secs(61),
        "expired at {at:?}, refreshed at {refreshed:?}"
    );
}

#[test]
fn an_interval_below_min_se_gets_422_and_no_call() {
    let (mut net, a, x) = net_with_timers(72);
    let now = net.now;
    let ua = net.node::<Ua>(a);
    let mut inv = ua.request(Method::Invite, addr(X));
    inv.headers.push(HeaderName::SessionExpires, "60");
    let k = ua.send(now, addr(X), inv);
    net.run_for(secs(5));
    assert_eq!(net.node::<Ua>(a).responses(k).last(), Some(&422));
    let r = net.sent_by(addr(X), "SIP/2.0 422")[0].bytes.clone();
    assert!(
        String::from_utf8_lossy(&r).contains("Min-SE: 90"),
        "{}",
        String::from_utf8_lossy(&r)
    );
    let xn = net.node::<B2buaNode>(x);
    assert!(!xn.has_event(|e| matches!(e, CallEvent::Incoming { .. })));
    assert!(xn.core.is_empty());
}

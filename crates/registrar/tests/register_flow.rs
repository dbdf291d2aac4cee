//! REGISTER flows through `Registrar::handle_register` on a fake clock: bindings (add,
//! refresh, expire, unregister, query), their limits and events, and malformed requests.

mod phone;

use phone::*;
use switchboard_registrar::{Algorithm, Disposition, LocationEvent, LogoutReason, RegistrarConfig};
use switchboard_sip_message::{HeaderName, StatusCode, Uri};

#[test]
fn challenge_then_200_lists_contact_and_emits_logged_in() {
    let mut r = registrar();
    let mut reg = Reg::new("alice");
    let (_, out) = login(&mut r, t(1), &mut reg, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
    assert_eq!(
        out.disposition,
        Disposition::Accepted {
            user: "alice".into()
        }
    );
    assert_eq!(
        out.events,
        vec![LocationEvent::LoggedIn {
            user: "alice".into()
        }]
    );
    let contacts = contact_values(&out.response);
    assert_eq!(contacts.len(), 1);
    assert!(
        contacts[0].contains("sip:alice@10.0.0.5:5060"),
        "{}",
        contacts[0]
    );
    assert!(contacts[0].contains("expires=600"), "{}", contacts[0]);
    assert!(out.response.headers.get(&HeaderName::Date).is_some());
    let b = r.location().lookup("alice");
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].source, src());
    assert_eq!(b[0].transport, "UDP");
    assert_eq!(b[0].expires_at, t(601));
    assert_eq!(b[0].user_agent.as_deref(), Some("TestPhone/1.0"));
    assert_eq!(b[0].cseq, 2);
    assert_eq!(r.poll_timeout(), Some(t(601)));
    assert_eq!(r.stats(t(1)).accepted, 1);
}

#[test]
fn short_expiry_gets_423_with_min_expires() {
    let mut r = registrar();
    let mut reg = Reg::new("alice");
    reg.expires = Some(30);
    let (_, out) = login(&mut r, t(1), &mut reg, "wonderland");
    assert_eq!(out.response.status, StatusCode::INTERVAL_TOO_BRIEF);
    assert_eq!(out.disposition, Disposition::IntervalTooBrief);
    assert_eq!(
        out.response.headers.get(&HeaderName::MinExpires),
        Some("60")
    );
    assert!(r.location().lookup("alice").is_empty());
    // Contact parameter overrides the header, and is capped at max_expires.
    reg.expires = Some(30);
    reg.contacts = vec!["<sip:alice@10.0.0.5:5060>;expires=7200".into()];
    let (_, out) = login(&mut r, t(2), &mut reg, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
    assert!(contact_values(&out.response)[0].contains("expires=3600"));
    assert_eq!(r.location().lookup("alice")[0].expires_at, t(3602));
    // The stored contact lost its expires param.
    assert!(r.location().lookup("alice")[0]
        .contact
        .param("expires")
        .is_none());
}

#[test]
fn star_unregisters_everything_only_with_expires_zero() {
    let mut r = registrar();
    let mut reg = Reg::new("alice");
    reg.contacts = vec![
        "<sip:alice@10.0.0.5:5060>".into(),
        "<sip:alice@10.0.0.6:5060>".into(),
    ];
    let (_, out) = login(&mut r, t(1), &mut reg, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
    assert_eq!(r.location().lookup("alice").len(), 2);

    reg.contacts = vec!["*".into()];
    reg.expires = Some(60);
    let (_, out) = login(&mut r, t(2), &mut reg, "wonderland");
    assert_eq!(out.response.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.location().lookup("alice").len(), 2);

    reg.expires = Some(0);
    let (_, out) = login(&mut r, t(3), &mut reg, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
    assert!(contact_values(&out.response).is_empty());
    assert_eq!(
        out.events,
        vec![LocationEvent::LoggedOut {
            user: "alice".into(),
            reason: LogoutReason::Unregistered
        }]
    );
    assert!(!r.location().is_registered("alice"));
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn two_contacts_one_user_and_event_order() {
    let mut r = registrar();
    let mut phone = Reg::new("alice");
    let (_, out) = login(&mut r, t(1), &mut phone, "wonderland");
    assert_eq!(out.events.len(), 1);

    // Second device, own Call-ID.
    let mut softphone = Reg::new("alice");
    softphone.call_id = "cid-2@10.0.0.9";
    softphone.contacts = vec!["<sip:alice@10.0.0.9:5070;transport=tcp>".into()];
    softphone.expires = Some(120);
    let (_, out) = login(&mut r, t(2), &mut softphone, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
    assert!(out.events.is_empty(), "second binding is not a new login");
    let contacts = contact_values(&out.response);
    assert_eq!(contacts.len(), 2, "200 lists all bindings: {contacts:?}");
    assert!(contacts
        .iter()
        .any(|c| c.contains("10.0.0.5") && c.contains("expires=599")));
    assert!(contacts
        .iter()
        .any(|c| c.contains("10.0.0.9") && c.contains("expires=120")));
    assert_eq!(r.poll_timeout(), Some(t(122)));

    // Softphone removes itself: no event, phone remains.
    softphone.expires = Some(0);
    let (_, out) = login(&mut r, t(3), &mut softphone, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
    assert!(out.events.is_empty());
    assert_eq!(contact_values(&out.response).len(), 1);

    // Phone lapses: LoggedOut{Expired} from the timer.
    assert!(r.handle_timeout(t(600)).is_empty());
    assert_eq!(
        r.handle_timeout(t(601)),
        vec![LocationEvent::LoggedOut {
            user: "alice".into(),
            reason: LogoutReason::Expired
        }]
    );
    assert!(r.location().lookup("alice").is_empty());
    assert!(r.handle_timeout(t(602)).is_empty());
}

#[test]
fn expiry_timer_for_several_users() {
    let mut r = registrar();
    let mut a = Reg::new("alice");
    a.expires = Some(100);
    let mut b = Reg::new("bob");
    b.expires = Some(200);
    login(&mut r, t(0), &mut a, "wonderland");
    login(&mut r, t(0), &mut b, "builder");
    assert_eq!(
        r.location().users(),
        vec!["alice".to_string(), "bob".to_string()]
    );
    assert_eq!(r.poll_timeout(), Some(t(100)));
    assert_eq!(r.location().lookup_active("alice", t(100)).len(), 0);
    assert_eq!(r.location().lookup("alice").len(), 1, "not swept yet");
    let ev = r.handle_timeout(t(100));
    assert_eq!(ev.len(), 1);
    assert_eq!(r.poll_timeout(), Some(t(200)));
    assert_eq!(r.location().binding_count(), 1);
}

#[test]
fn lapsed_binding_refreshed_before_sweep_logs_out_then_in() {
    let mut r = registrar();
    let mut reg = Reg::new("alice");
    reg.expires = Some(60);
    login(&mut r, t(0), &mut reg, "wonderland");
    let (_, out) = login(&mut r, t(100), &mut reg, "wonderland");
    assert_eq!(
        out.events,
        vec![
            LocationEvent::LoggedOut {
                user: "alice".into(),
                reason: LogoutReason::Expired
            },
            LocationEvent::LoggedIn {
                user: "alice".into()
            }
        ]
    );
}

#[test]
fn refresh_and_cseq_ordering() {
    let mut r = registrar();
    let mut reg = Reg::new("alice");
    let (n, out) = login(&mut r, t(1), &mut reg, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
    // Same Call-ID, lower CSeq: out of order.
    reg.cseq = 1;
    reg.auth = Some(auth("alice", "wonderland", &n, Algorithm::Sha256, 2));
    let out = send(&mut r, t(2), &reg.build());
    assert_eq!(out.response.status, StatusCode::BAD_REQUEST);
    // Higher CSeq refreshes.
    reg.cseq = 5;
    reg.expires = Some(900);
    reg.auth = Some(auth("alice", "wonderland", &n, Algorithm::Sha256, 3));
    let out = send(&mut r, t(3), &reg.build());
    assert_eq!(out.response.status, StatusCode::OK);
    let b = r.location().lookup("alice");
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].cseq, 5);
    assert_eq!(b[0].expires_at, t(903));
    // A different Call-ID may use any CSeq (phone rebooted).
    reg.call_id = "cid-rebooted";
    reg.cseq = 1;
    reg.auth = Some(auth("alice", "wonderland", &n, Algorithm::Sha256, 4));
    let out = send(&mut r, t(4), &reg.build());
    assert_eq!(out.response.status, StatusCode::OK);
    assert_eq!(r.location().lookup("alice")[0].call_id, "cid-rebooted");
}

#[test]
fn query_without_contact_lists_bindings() {
    let mut r = registrar();
    let mut reg = Reg::new("alice");
    login(&mut r, t(1), &mut reg, "wonderland");
    reg.contacts.clear();
    reg.expires = None;
    reg.call_id = "query";
    let (_, out) = login(&mut r, t(11), &mut reg, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
    let c = contact_values(&out.response);
    assert_eq!(c.len(), 1);
    assert!(c[0].contains("expires=590"), "{}", c[0]);
    assert!(out.events.is_empty());
}

#[test]
fn mark_unreachable_logs_out_last_binding() {
    let mut r = registrar();
    let mut reg = Reg::new("alice");
    reg.contacts = vec![
        "<sip:alice@10.0.0.5:5060>".into(),
        "<sip:alice@10.0.0.6:5060>".into(),
    ];
    login(&mut r, t(1), &mut reg, "wonderland");
    let loc = r.location();
    let u5 = Uri::parse("sip:alice@10.0.0.5:5060").expect("uri");
    let u6 = Uri::parse("sip:ALICE@10.0.0.6:5060").expect("uri");
    assert_eq!(loc.mark_unreachable("alice", &u5), None);
    assert_eq!(loc.lookup("alice").len(), 1);
    // User part is case-sensitive: no match.
    assert_eq!(loc.mark_unreachable("alice", &u6), None);
    let u6 = Uri::parse("sip:alice@10.0.0.6:5060").expect("uri");
    assert_eq!(
        loc.mark_unreachable("alice", &u6),
        Some(LocationEvent::LoggedOut {
            user: "alice".into(),
            reason: LogoutReason::Unreachable
        })
    );
    assert!(!loc.is_registered("alice"));
    assert_eq!(loc.mark_unreachable("alice", &u6), None);
}

#[test]
fn location_table_is_shared_between_clones() {
    let mut r = registrar();
    let reader = r.location();
    let handle = std::thread::spawn(move || reader);
    let reader = handle.join().expect("thread");
    let mut reg = Reg::new("bob");
    login(&mut r, t(1), &mut reg, "builder");
    assert_eq!(reader.lookup("bob").len(), 1);
    assert_eq!(reader.lookup_active("bob", t(2)).len(), 1);
}

#[test]
fn malformed_requests_get_400() {
    let mut r = registrar();
    let mut reg = Reg::new("alice");
    reg.contacts = vec!["<sip:alice@10.0.0.5>;expires=soon".into()];
    let (_, out) = login_expect_any(&mut r, &mut reg);
    assert_eq!(out.response.status, StatusCode::BAD_REQUEST);

    let mut reg = Reg::new("alice");
    reg.auth = Some("Digest username=\"alice\", realm=".into());
    let out = send(&mut r, t(1), &reg.build());
    assert_eq!(out.response.status, StatusCode::BAD_REQUEST);
}

#[test]
fn required_extensions_get_420_before_auth() {
    let mut r = registrar();
    let mut reg = Reg::new("alice");
    let req = reg.build();
    let mut with_require = req.clone();
    with_require
        .headers
        .push(HeaderName::Require, "path, outbound");
    let out = send(&mut r, t(1), &with_require);
    assert_eq!(out.response.status, StatusCode::BAD_EXTENSION);
    assert_eq!(out.disposition, Disposition::BadExtension);
    assert_eq!(
        out.response.headers.get(&HeaderName::Unsupported),
        Some("path, outbound")
    );
    assert!(challenges(&out.response).is_empty());
    reg.contacts = (0..40).map(|i| format!("<sip:alice@10.0.1.{i}>")).collect();
    let out = send(&mut r, t(2), &reg.build());
    assert_eq!(out.response.status, StatusCode::BAD_REQUEST);
}

#[test]
fn too_many_bindings_is_403_and_changes_nothing() {
    let mut cfg = RegistrarConfig::new(REALM);
    cfg.max_bindings_per_user = 2;
    let mut r = registrar_with(cfg);
    let mut reg = Reg::new("alice");
    reg.contacts = (0..2).map(|i| format!("<sip:alice@10.0.1.{i}>")).collect();
    let (_, out) = login(&mut r, t(1), &mut reg, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
    reg.contacts = vec!["<sip:alice@10.0.1.9>".into()];
    let (_, out) = login(&mut r, t(2), &mut reg, "wonderland");
    assert_eq!(out.response.status, StatusCode::FORBIDDEN);
    assert!(out.events.is_empty());
    assert_eq!(r.location().lookup("alice").len(), 2);
    // Replacing one (remove + add in one request) fits.
    reg.contacts = vec![
        "<sip:alice@10.0.1.0>;expires=0".into(),
        "<sip:alice@10.0.1.9>".into(),
    ];
    let (_, out) = login(&mut r, t(3), &mut reg, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
    assert_eq!(contact_values(&out.response).len(), 2);
}

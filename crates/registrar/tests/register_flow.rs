//! Full REGISTER flows through `Registrar::handle_register` on a fake clock.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use switchboard_registrar::digest::{compute_response, Qop, ResponseInput};
use switchboard_registrar::{
    Algorithm, Disposition, Ha1, HashKind, LocationEvent, LockoutConfig, LogoutReason,
    RegisterOutcome, Registrar, RegistrarConfig, UserDirectory,
};
use switchboard_sip_message::{
    parse_datagram, HeaderName, Limits, Message, Request, Response, StatusCode, Uri,
};

const REALM: &str = "sb.example";
const SECRET: [u8; 32] = [42; 32];

fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket addr")
}

fn registrar_with(cfg: RegistrarConfig) -> Registrar {
    let users: UserDirectory = [("alice", "wonderland"), ("bob", "builder")]
        .into_iter()
        .collect();
    Registrar::new(t(0), cfg, users, SECRET)
}

fn registrar() -> Registrar {
    registrar_with(RegistrarConfig::new(REALM))
}

/// A REGISTER as a phone would send it.
struct Reg<'a> {
    user: &'a str,
    call_id: &'a str,
    cseq: u32,
    contacts: Vec<String>,
    expires: Option<u32>,
    auth: Option<String>,
}

impl<'a> Reg<'a> {
    fn new(user: &'a str) -> Self {
        Reg {
            user,
            call_id: "cid-1@10.0.0.5",
            cseq: 1,
            contacts: vec![format!("<sip:{user}@10.0.0.5:5060>")],
            expires: Some(600),
            auth: None,
        }
    }

    fn build(&self) -> Request {
        let mut s = format!(
            "REGISTER sip:{REALM} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-{cseq}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{user}@{REALM}>;tag=ft1\r\n\
             To: <sip:{user}@{REALM}>\r\n\
             Call-ID: {cid}\r\n\
             CSeq: {cseq} REGISTER\r\n\
             User-Agent: TestPhone/1.0\r\n",
            user = self.user,
            cid = self.call_id,
            cseq = self.cseq
        );
        for c in &self.contacts {
            s.push_str(&format!("Contact: {c}\r\n"));
        }
        if let Some(e) = self.expires {
            s.push_str(&format!("Expires: {e}\r\n"));
        }
        if let Some(a) = &self.auth {
            s.push_str(&format!("Authorization: {a}\r\n"));
        }
        s.push_str("Content-Length: 0\r\n\r\n");
        match parse_datagram(s.as_bytes(), &Limits::default()) {
            Ok(Message::Request(r)) => r,
            other => panic!("test request did not parse: {other:?}\n{s}"),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn authorization(
    user: &str,
    password: &str,
    realm: &str,
    nonce: &str,
    alg: Algorithm,
    nc: u32,
    cnonce: &str,
    uri: &str,
) -> String {
    let ha1 = Ha1::from_password(alg.hash(), user, realm, password);
    let nc_text = format!("{nc:08x}");
    let response = compute_response(&ResponseInput {
        algorithm: alg,
        ha1: &ha1,
        nonce,
        qop: Some((&nc_text, cnonce, Qop::Auth)),
        method: "REGISTER",
        uri,
    });
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm={alg}, qop=auth, nc={nc_text}, cnonce=\"{cnonce}\""
    )
}

fn auth(user: &str, password: &str, nonce: &str, alg: Algorithm, nc: u32) -> String {
    authorization(
        user,
        password,
        REALM,
        nonce,
        alg,
        nc,
        "c0ffee",
        &format!("sip:{REALM}"),
    )
}

fn challenges(resp: &Response) -> Vec<String> {
    resp.headers
        .get_all(&HeaderName::WwwAuthenticate)
        .map(str::to_owned)
        .collect()
}

fn nonce_of(resp: &Response) -> String {
    let c = challenges(resp);
    let first = c.first().expect("a WWW-Authenticate header");
    let start = first.find("nonce=\"").expect("nonce param") + 7;
    let len = first[start..].find('"').expect("closing quote");
    first[start..start + len].to_owned()
}

fn src() -> SocketAddr {
    addr("192.0.2.10:5060")
}

fn send(r: &mut Registrar, now: SystemTime, req: &Request) -> RegisterOutcome {
    r.handle_register(now, src(), "UDP", req)
}

/// Challenge, then answer with `alg`; returns the nonce and the 200 outcome.
fn login(
    r: &mut Registrar,
    now: SystemTime,
    reg: &mut Reg<'_>,
    pw: &str,
) -> (String, RegisterOutcome) {
    reg.auth = None;
    let first = send(r, now, &reg.build());
    assert_eq!(first.response.status, StatusCode::UNAUTHORIZED);
    let nonce = nonce_of(&first.response);
    reg.cseq += 1;
    reg.auth = Some(auth(reg.user, pw, &nonce, Algorithm::Sha256, 1));
    let out = send(r, now, &reg.build());
    (nonce, out)
}

fn contact_values(resp: &Response) -> Vec<String> {
    resp.headers
        .get_all(&HeaderName::Contact)
        .map(str::to_owned)
        .collect()
}

#[test]
fn unauthenticated_register_gets_sha256_then_md5_challenge() {
    let mut r = registrar();
    let out = send(&mut r, t(1), &Reg::new("alice").build());
    assert_eq!(out.response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(out.disposition, Disposition::Challenged);
    let ch = challenges(&out.response);
    assert_eq!(ch.len(), 2);
    assert!(ch[0].contains("algorithm=SHA-256"), "{}", ch[0]);
    assert!(ch[1].contains("algorithm=MD5"), "{}", ch[1]);
    for c in &ch {
        assert!(c.starts_with("Digest realm=\"sb.example\""), "{c}");
        assert!(c.contains("qop=\"auth\""));
        assert!(!c.contains("stale"));
    }
    // Same nonce in both.
    let n0 = nonce_of(&out.response);
    assert!(ch[1].contains(&n0));
    // A To tag is added.
    let to = out.response.headers.to().expect("To");
    assert!(to.tag().is_some());
    assert!(out.events.is_empty());
    assert!(r.location().lookup("alice").is_empty());
}

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
fn md5_answer_is_accepted_too() {
    let mut r = registrar();
    let mut reg = Reg::new("bob");
    let n = nonce_of(&send(&mut r, t(1), &reg.build()).response);
    reg.cseq = 2;
    reg.auth = Some(auth("bob", "builder", &n, Algorithm::Md5, 1));
    let out = send(&mut r, t(1), &reg.build());
    assert_eq!(out.response.status, StatusCode::OK);
}

#[test]
fn sess_and_unoffered_algorithms() {
    // -sess is rejected unless offered.
    let mut r = registrar();
    let mut reg = Reg::new("bob");
    let n = nonce_of(&send(&mut r, t(1), &reg.build()).response);
    reg.cseq = 2;
    reg.auth = Some(auth("bob", "builder", &n, Algorithm::Sha256Sess, 1));
    let out = send(&mut r, t(1), &reg.build());
    assert_eq!(out.response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(out.disposition, Disposition::Challenged);

    let mut cfg = RegistrarConfig::new(REALM);
    cfg.algorithms = vec![Algorithm::Sha256Sess, Algorithm::Md5Sess];
    let mut r = registrar_with(cfg);
    reg.auth = None;
    let first = send(&mut r, t(1), &reg.build());
    assert!(challenges(&first.response)[0].contains("algorithm=SHA-256-sess"));
    let n = nonce_of(&first.response);
    reg.cseq = 3;
    reg.auth = Some(auth("bob", "builder", &n, Algorithm::Md5Sess, 1));
    assert_eq!(
        send(&mut r, t(1), &reg.build()).response.status,
        StatusCode::OK
    );
}

#[test]
fn wrong_password_is_never_200() {
    let mut r = registrar();
    let mut reg = Reg::new("alice");
    for i in 0..5u32 {
        reg.auth = None;
        let n = nonce_of(&send(&mut r, t(u64::from(i)), &reg.build()).response);
        reg.cseq += 1;
        for alg in [Algorithm::Sha256, Algorithm::Md5] {
            reg.auth = Some(auth("alice", "Wonderland", &n, alg, 1));
            let out = send(&mut r, t(u64::from(i)), &reg.build());
            assert_eq!(out.response.status, StatusCode::UNAUTHORIZED);
            assert_eq!(out.disposition, Disposition::AuthFailed);
            assert!(!challenges(&out.response)[0].contains("stale"));
            assert!(out.events.is_empty());
        }
    }
    assert!(r.location().lookup("alice").is_empty());
    assert_eq!(r.stats(t(5)).failures, 10);
}

#[test]
fn expired_nonce_with_right_response_gets_stale_true() {
    let mut r = registrar();
    let mut reg = Reg::new("alice");
    let n = nonce_of(&send(&mut r, t(0), &reg.build()).response);
    reg.cseq = 2;
    reg.auth = Some(auth("alice", "wonderland", &n, Algorithm::Sha256, 1));
    let out = send(&mut r, t(301), &reg.build());
    assert_eq!(out.response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(out.disposition, Disposition::Stale);
    let ch = challenges(&out.response);
    assert_eq!(ch.len(), 2);
    assert!(ch.iter().all(|c| c.contains("stale=true")));
    assert_ne!(nonce_of(&out.response), n);
    // The same stale nonce with a wrong password is a plain failure, not stale.
    reg.cseq = 3;
    reg.auth = Some(auth("alice", "nope", &n, Algorithm::Sha256, 2));
    let out = send(&mut r, t(301), &reg.build());
    assert_eq!(out.disposition, Disposition::AuthFailed);
    assert!(!challenges(&out.response)[0].contains("stale"));
    // Retrying with the fresh nonce works.
    let (_, out) = login(&mut r, t(302), &mut reg, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
}

#[test]
fn nonce_reuse_needs_increasing_nc() {
    let mut r = registrar();
    let mut reg = Reg::new("alice");
    let (n, out) = login(&mut r, t(1), &mut reg, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
    // Exact replay of the accepted request.
    let replay = send(&mut r, t(2), &reg.build());
    assert_eq!(replay.response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(replay.disposition, Disposition::Replay);
    assert!(challenges(&replay.response)[0].contains("stale=true"));
    // Refresh with nc=2 on the same nonce is fine; nc=2 again is not.
    reg.cseq += 1;
    reg.auth = Some(auth("alice", "wonderland", &n, Algorithm::Sha256, 2));
    assert_eq!(
        send(&mut r, t(3), &reg.build()).response.status,
        StatusCode::OK
    );
    reg.cseq += 1;
    let again = send(&mut r, t(4), &reg.build());
    assert_eq!(again.disposition, Disposition::Replay);
    assert_eq!(r.stats(t(4)).replays, 2);
}

#[test]
fn nonces_from_before_a_restart_are_stale() {
    let mut r = registrar();
    let mut reg = Reg::new("alice");
    let n = nonce_of(&send(&mut r, t(1), &reg.build()).response);
    let users: UserDirectory = [("alice", "wonderland")].into_iter().collect();
    let mut restarted = Registrar::new(t(2), RegistrarConfig::new(REALM), users, SECRET);
    reg.cseq = 2;
    reg.auth = Some(auth("alice", "wonderland", &n, Algorithm::Sha256, 1));
    let out = send(&mut restarted, t(3), &reg.build());
    assert_eq!(out.disposition, Disposition::Stale);
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
fn to_must_match_authenticated_user() {
    let mut r = registrar();
    let mut reg = Reg::new("alice");
    let n = nonce_of(&send(&mut r, t(1), &reg.build()).response);
    reg.cseq = 2;
    // bob's valid credentials on alice's AOR.
    reg.auth = Some(auth("bob", "builder", &n, Algorithm::Sha256, 1));
    let out = send(&mut r, t(1), &reg.build());
    assert_eq!(out.response.status, StatusCode::FORBIDDEN);
    assert!(matches!(out.disposition, Disposition::Forbidden(_)));
    assert!(r.location().lookup("alice").is_empty());
    assert!(r.location().lookup("bob").is_empty());
}

#[test]
fn digest_uri_and_realm_are_checked() {
    let mut r = registrar();
    let mut reg = Reg::new("alice");
    let n = nonce_of(&send(&mut r, t(1), &reg.build()).response);
    reg.cseq = 2;
    reg.auth = Some(authorization(
        "alice",
        "wonderland",
        REALM,
        &n,
        Algorithm::Sha256,
        1,
        "cn",
        "sip:elsewhere.example",
    ));
    assert_eq!(
        send(&mut r, t(1), &reg.build()).response.status,
        StatusCode::BAD_REQUEST
    );
    reg.auth = Some(authorization(
        "alice",
        "wonderland",
        "other.realm",
        &n,
        Algorithm::Sha256,
        1,
        "cn",
        &format!("sip:{REALM}"),
    ));
    let out = send(&mut r, t(1), &reg.build());
    assert_eq!(out.disposition, Disposition::Challenged);
}

#[test]
fn precomputed_ha1_users() {
    let mut users = UserDirectory::new();
    users.insert_ha1(
        "carol",
        Ha1::from_password(HashKind::Sha256, "carol", REALM, "s3cret"),
    );
    let mut r = Registrar::new(t(0), RegistrarConfig::new(REALM), users, SECRET);
    let mut reg = Reg::new("carol");
    let (n, out) = login(&mut r, t(1), &mut reg, "s3cret");
    assert_eq!(out.response.status, StatusCode::OK);
    // No MD5 HA1 configured: MD5 never authenticates.
    reg.cseq += 1;
    reg.auth = Some(auth("carol", "s3cret", &n, Algorithm::Md5, 2));
    assert_eq!(
        send(&mut r, t(2), &reg.build()).disposition,
        Disposition::AuthFailed
    );
}

#[test]
fn legacy_rfc2069_is_off_by_default_and_single_use_when_on() {
    fn legacy(user: &str, pw: &str, nonce: &str) -> String {
        let ha1 = Ha1::from_password(HashKind::Md5, user, REALM, pw);
        let uri = format!("sip:{REALM}");
        let resp = compute_response(&ResponseInput {
            algorithm: Algorithm::Md5,
            ha1: &ha1,
            nonce,
            qop: None,
            method: "REGISTER",
            uri: &uri,
        });
        format!(
            "Digest username=\"{user}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{resp}\""
        )
    }
    let mut r = registrar();
    let mut reg = Reg::new("alice");
    let n = nonce_of(&send(&mut r, t(1), &reg.build()).response);
    reg.cseq = 2;
    reg.auth = Some(legacy("alice", "wonderland", &n));
    assert_eq!(
        send(&mut r, t(1), &reg.build()).disposition,
        Disposition::Challenged
    );

    let mut cfg = RegistrarConfig::new(REALM);
    cfg.allow_rfc2069 = true;
    let mut r = registrar_with(cfg);
    reg.auth = None;
    let n = nonce_of(&send(&mut r, t(1), &reg.build()).response);
    reg.cseq = 3;
    reg.auth = Some(legacy("alice", "wonderland", &n));
    assert_eq!(
        send(&mut r, t(1), &reg.build()).response.status,
        StatusCode::OK
    );
    reg.cseq = 4;
    assert_eq!(
        send(&mut r, t(2), &reg.build()).disposition,
        Disposition::Replay
    );
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

fn login_expect_any(r: &mut Registrar, reg: &mut Reg<'_>) -> (String, RegisterOutcome) {
    let n = nonce_of(&send(r, t(1), &reg.build()).response);
    reg.cseq += 1;
    reg.auth = Some(auth(reg.user, "wonderland", &n, Algorithm::Sha256, 1));
    let out = send(r, t(1), &reg.build());
    (n, out)
}

/// Replaces the value of every `nonce="..."` with a placeholder.
fn mask_nonces(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes).into_owned();
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(i) = rest.find("nonce=\"") {
        out.push_str(&rest[..i + 7]);
        rest = &rest[i + 7..];
        let j = rest.find('"').unwrap_or(rest.len());
        out.push_str("NONCE");
        rest = &rest[j..];
    }
    out.push_str(rest);
    out
}

#[test]
fn unknown_user_and_wrong_password_look_identical() {
    let mut r = registrar();
    // Identical requests except the username inside Authorization.
    let mut base = Reg::new("alice");
    let n = nonce_of(&send(&mut r, t(1), &base.build()).response);
    base.cseq = 2;
    base.auth = Some(auth("alice", "guess", &n, Algorithm::Sha256, 1));
    let known = send(&mut r, t(1), &base.build());
    base.auth = Some(auth("mallory", "guess", &n, Algorithm::Sha256, 1));
    let unknown = send(&mut r, t(1), &base.build());
    assert_eq!(known.response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(known.disposition, unknown.disposition);
    assert_ne!(nonce_of(&known.response), nonce_of(&unknown.response));
    assert_eq!(
        mask_nonces(&known.response.to_bytes()),
        mask_nonces(&unknown.response.to_bytes())
    );
    // Also identical with MD5.
    base.auth = Some(auth("alice", "guess", &n, Algorithm::Md5, 1));
    let known = send(&mut r, t(1), &base.build());
    base.auth = Some(auth("mallory", "guess", &n, Algorithm::Md5, 1));
    let unknown = send(&mut r, t(1), &base.build());
    assert_eq!(
        mask_nonces(&known.response.to_bytes()),
        mask_nonces(&unknown.response.to_bytes())
    );
    // Unknown user's correct-looking answer for its own AOR is a failure too.
    let mut m = Reg::new("mallory");
    let (_, out) = login(&mut r, t(2), &mut m, "anything");
    assert_eq!(out.disposition, Disposition::AuthFailed);
}

fn lockout_cfg() -> RegistrarConfig {
    let mut cfg = RegistrarConfig::new(REALM);
    cfg.lockout = LockoutConfig {
        max_failures: 3,
        window: Duration::from_secs(60),
        cooldown: Duration::from_secs(300),
        capacity: 1024,
        ..LockoutConfig::default()
    };
    cfg
}

/// One failed digest attempt for `user` from `from` (challenge, then a wrong answer).
fn fail_from(r: &mut Registrar, now: SystemTime, from: SocketAddr, user: &str) -> RegisterOutcome {
    let mut reg = Reg::new(user);
    reg.call_id = "attacker";
    let first = r.handle_register(now, from, "UDP", &reg.build());
    if first.response.status != StatusCode::UNAUTHORIZED {
        return first;
    }
    let n = nonce_of(&first.response);
    reg.cseq += 1;
    reg.auth = Some(auth(user, "guess", &n, Algorithm::Sha256, 1));
    r.handle_register(now, from, "UDP", &reg.build())
}

/// A full login of `reg` from `from`: the challenge, then the right answer.
fn login_from(
    r: &mut Registrar,
    now: SystemTime,
    from: SocketAddr,
    reg: &mut Reg<'_>,
    pw: &str,
) -> RegisterOutcome {
    reg.auth = None;
    let first = r.handle_register(now, from, "UDP", &reg.build());
    if first.response.status != StatusCode::UNAUTHORIZED {
        return first;
    }
    let n = nonce_of(&first.response);
    reg.cseq += 1;
    reg.auth = Some(auth(reg.user, pw, &n, Algorithm::Sha256, 1));
    r.handle_register(now, from, "UDP", &reg.build())
}

#[test]
fn brute_force_from_one_ip_locks_that_ip() {
    let mut r = registrar_with(lockout_cfg());
    let mut reg = Reg::new("alice");
    let n = nonce_of(&send(&mut r, t(1), &reg.build()).response);
    for (i, user) in ["alice", "bob", "zed"].iter().enumerate() {
        reg.cseq += 1;
        reg.auth = Some(auth(user, "guess", &n, Algorithm::Sha256, i as u32 + 1));
        assert_eq!(
            send(&mut r, t(2), &reg.build()).disposition,
            Disposition::AuthFailed
        );
    }
    // Now even the right password from that IP is refused unevaluated, as is a bare
    // request.
    reg.cseq += 1;
    reg.auth = Some(auth("alice", "wonderland", &n, Algorithm::Sha256, 9));
    let out = send(&mut r, t(3), &reg.build());
    assert_eq!(out.response.status, StatusCode::FORBIDDEN);
    assert!(challenges(&out.response).is_empty());
    reg.auth = None;
    assert_eq!(
        send(&mut r, t(3), &reg.build()).disposition,
        Disposition::LockedOut
    );
    assert_eq!(out.disposition, Disposition::LockedOut);
    let st = r.stats(t(3));
    assert_eq!(st.failures, 3);
    assert_eq!(st.locked_ips, 1);
    assert_eq!(st.lockouts_started, 1);
    assert!(st.locked_rejections >= 1);
    // Another IP is unaffected.
    let other = addr("198.51.100.7:5060");
    reg.auth = None;
    let out = r.handle_register(t(3), other, "UDP", &reg.build());
    assert_eq!(out.response.status, StatusCode::UNAUTHORIZED);
    // After the cooldown the IP may try again.
    let (_, out) = login(&mut r, t(303), &mut reg, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
    assert_eq!(r.stats(t(303)).locked_ips, 0);
}

#[test]
fn guessing_from_many_sources_never_locks_the_user_out() {
    let mut r = registrar_with(lockout_cfg());
    let mut phone = Reg::new("alice");
    let (_, out) = login(&mut r, t(1), &mut phone, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
    // Attackers from three addresses guess alice's password; each address gets locked.
    let mut started = 0;
    for i in 0..3u8 {
        let from = addr(&format!("203.0.113.{}:5060", i + 1));
        for _ in 0..3 {
            let out = fail_from(&mut r, t(2), from, "alice");
            assert_eq!(out.disposition, Disposition::AuthFailed);
            if let Some(l) = out.lockout {
                assert_eq!(l.source, from.ip());
                assert_eq!(l.cooldown, Duration::from_secs(300));
                assert_eq!(l.strike, 1);
                started += 1;
            }
        }
        assert_eq!(
            fail_from(&mut r, t(2), from, "alice").disposition,
            Disposition::LockedOut
        );
    }
    assert_eq!(started, 3);
    let st = r.stats(t(2));
    assert_eq!(st.locked_ips, 3);
    assert_eq!(st.lockouts_started, 3);
    // alice from a fourth address (a new phone) with the right password: 200.
    let mut newphone = Reg::new("alice");
    newphone.call_id = "newphone";
    newphone.contacts = vec!["<sip:alice@10.0.0.77:5060>".into()];
    let out = login_from(
        &mut r,
        t(3),
        addr("198.51.100.77:5060"),
        &mut newphone,
        "wonderland",
    );
    assert_eq!(out.response.status, StatusCode::OK);
    // The registered phone keeps refreshing.
    let (_, out) = login(&mut r, t(4), &mut phone, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
}

#[test]
fn a_locked_source_gets_the_same_403_for_known_and_unknown_users() {
    let mut r = registrar_with(lockout_cfg());
    let from = addr("203.0.113.5:5060");
    for _ in 0..3 {
        fail_from(&mut r, t(1), from, "nobody");
    }
    let mut answers = Vec::new();
    for user in ["alice", "nobody"] {
        // A bare request and one with (even right) credentials: 403, no challenge.
        let reg = Reg::new(user);
        let out = r.handle_register(t(2), from, "UDP", &reg.build());
        assert_eq!(out.disposition, Disposition::LockedOut, "{user}");
        assert!(challenges(&out.response).is_empty());
        let mut with_auth = Reg::new(user);
        with_auth.auth = Some(auth(user, "wonderland", "0", Algorithm::Sha256, 1));
        let out2 = r.handle_register(t(2), from, "UDP", &with_auth.build());
        assert_eq!(out2.response.status, StatusCode::FORBIDDEN, "{user}");
        answers.push((out.response.status, out.response.reason.clone()));
    }
    assert_eq!(answers[0], answers[1]);
}

#[test]
fn spoofed_failures_from_a_devices_address_do_not_stop_its_refresh() {
    let mut r = registrar_with(lockout_cfg());
    let mut phone = Reg::new("alice");
    let out = login_from(&mut r, t(1), src(), &mut phone, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
    // Someone else at the phone's IP (another port: a NAT neighbour or spoofed UDP)
    // guesses bob's password and locks the IP.
    let other_port = addr("192.0.2.10:6000");
    let mut locked = false;
    for _ in 0..3 {
        locked |= fail_from(&mut r, t(2), other_port, "bob").lockout.is_some();
    }
    assert!(locked);
    // bob from that IP is refused (never authenticated there) ...
    let mut bob = Reg::new("bob");
    let out = login_from(&mut r, t(3), addr("192.0.2.10:7000"), &mut bob, "builder");
    assert_eq!(out.disposition, Disposition::LockedOut);
    // ... but alice's phone refreshes: the challenge and the 200.
    let out = login_from(&mut r, t(3), src(), &mut phone, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
    // Exempt for alice does not mean exempt for another digest username.
    phone.auth = Some(auth("bob", "builder", "0", Algorithm::Sha256, 1));
    phone.cseq += 1;
    let out = send(&mut r, t(3), &phone.build());
    assert_eq!(out.disposition, Disposition::LockedOut);
    assert!(r.stats(t(3)).lockout_exemptions >= 2);
}

#[test]
fn a_source_that_authenticated_the_user_today_stays_exempt_for_24_hours() {
    let mut cfg = lockout_cfg();
    cfg.lockout.max_cooldown = Duration::from_secs(48 * 3600);
    cfg.lockout.cooldown = Duration::from_secs(30 * 3600);
    let mut r = registrar_with(cfg);
    let mut phone = Reg::new("alice");
    phone.expires = Some(60);
    let out = login_from(&mut r, t(1), src(), &mut phone, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
    // The binding lapses (the phone rebooted), then the IP is locked for 30 h.
    r.handle_timeout(t(100));
    assert!(r.location().lookup("alice").is_empty());
    for _ in 0..3 {
        fail_from(&mut r, t(200), addr("192.0.2.10:6000"), "bob");
    }
    // From a new port, without a binding: still exempt (authenticated there at t(1)).
    let rebooted = addr("192.0.2.10:5999");
    let out = login_from(&mut r, t(300), rebooted, &mut phone, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
    // Its new binding keeps it exempt as long as it refreshes; a source whose trust ran
    // out is locked like any other.
    let mut other = Reg::new("alice");
    other.call_id = "other";
    other.contacts = vec!["<sip:alice@10.0.0.9:5060>".into()];
    let day = 24 * 3600;
    r.handle_timeout(t(300 + day + 60));
    let out = login_from(
        &mut r,
        t(300 + day + 60),
        addr("192.0.2.10:5000"),
        &mut other,
        "wonderland",
    );
    assert_eq!(out.disposition, Disposition::LockedOut);
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

/// Rough timing of the failure path for a known vs an unknown user. Ignored by default
/// (timing); run with `cargo test -p switchboard-registrar --release -- --ignored --nocapture`.
#[test]
#[ignore]
#[allow(clippy::disallowed_methods)] // measuring real time is the point here
fn timing_known_vs_unknown_user() {
    let mut cfg = RegistrarConfig::new(REALM);
    cfg.lockout.max_failures = u32::MAX;
    let mut r = registrar_with(cfg);
    let mut reg = Reg::new("alice");
    let n = nonce_of(&send(&mut r, t(1), &reg.build()).response);
    reg.cseq = 2;
    reg.auth = Some(auth("alice", "guess", &n, Algorithm::Sha256, 1));
    let known = reg.build();
    reg.auth = Some(auth("mallory", "guess", &n, Algorithm::Sha256, 1));
    let unknown = reg.build();
    let rounds = 20_000u32;
    let mut best = [u128::MAX; 2];
    for _ in 0..5 {
        for (i, req) in [&known, &unknown].into_iter().enumerate() {
            let start = switchboard_test_support::Stopwatch::start();
            for _ in 0..rounds {
                let out = send(&mut r, t(2), req);
                assert_eq!(out.disposition, Disposition::AuthFailed);
            }
            best[i] = best[i].min(start.elapsed().as_nanos() / u128::from(rounds));
        }
    }
    println!(
        "failure path ns/request: known={} unknown={}",
        best[0], best[1]
    );
    let (lo, hi) = (best[0].min(best[1]), best[0].max(best[1]));
    assert!(
        hi * 10 < lo * 13,
        "known/unknown differ by more than 30%: {best:?}"
    );
}

//! Property tests: hostile Authorization headers never panic or authenticate, and presence
//! events stay consistent with the location table under random operation sequences.

use proptest::prelude::*;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use switchboard_registrar::digest::{compute_response, Credentials, Qop, ResponseInput};
use switchboard_registrar::{
    Algorithm, Disposition, Ha1, LocationEvent, Registrar, RegistrarConfig, UserDirectory,
};
use switchboard_sip_message::{
    parse_datagram, HeaderName, Limits, Message, Request, Response, StatusCode,
};

const REALM: &str = "sb.example";

fn t(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000) + Duration::from_millis(ms)
}

fn registrar() -> Registrar {
    let users: UserDirectory = [("alice", "wonderland"), ("bob", "builder")]
        .into_iter()
        .collect();
    Registrar::new(t(0), RegistrarConfig::new(REALM), users, [3; 32])
}

fn request(user: &str, call_id: &str, cseq: u32, contact: &str, expires: u32) -> Request {
    let s = format!(
        "REGISTER sip:{REALM} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK-{cseq}\r\n\
         From: <sip:{user}@{REALM}>;tag=f\r\n\
         To: <sip:{user}@{REALM}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: {contact}\r\n\
         Expires: {expires}\r\n\
         Content-Length: 0\r\n\r\n"
    );
    match parse_datagram(s.as_bytes(), &Limits::default()) {
        Ok(Message::Request(r)) => r,
        other => panic!("bad test request: {other:?}"),
    }
}

fn nonce_of(resp: &Response) -> Option<String> {
    let c = resp.headers.get(&HeaderName::WwwAuthenticate)?;
    let start = c.find("nonce=\"")? + 7;
    let len = c.get(start..)?.find('"')?;
    c.get(start..start + len).map(str::to_owned)
}

fn src() -> SocketAddr {
    "192.0.2.1:5060".parse().expect("addr")
}

fn param_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("username".to_owned()),
        Just("realm".to_owned()),
        Just("nonce".to_owned()),
        Just("uri".to_owned()),
        Just("response".to_owned()),
        Just("algorithm".to_owned()),
        Just("qop".to_owned()),
        Just("nc".to_owned()),
        Just("cnonce".to_owned()),
        Just("userhash".to_owned()),
        "[a-zA-Z\\-]{0,8}",
    ]
}

fn param_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\"alice\"".to_owned()),
        Just(format!("\"{REALM}\"")),
        Just(format!("\"sip:{REALM}\"")),
        Just("SHA-256".to_owned()),
        Just("MD5-sess".to_owned()),
        Just("auth".to_owned()),
        Just("auth-int".to_owned()),
        Just("00000001".to_owned()),
        Just("\"NONCE\"".to_owned()),
        Just("ffffffff".to_owned()),
        "\"[0-9a-f]{64}\"",
        "\"[0-9a-f]{32}\"",
        "\"[^\"]{0,20}\"",
        "[^,\" ]{0,12}",
        "\"[\\\\\"a]{0,6}",
    ]
}

fn digest_header() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("Digest"), Just("digest"), Just("Basic"), Just("")],
        prop::collection::vec((param_name(), param_value()), 0..14),
        prop_oneof![Just(", "), Just(","), Just(" "), Just(",,")],
    )
        .prop_map(|(scheme, params, sep)| {
            let list: Vec<String> = params
                .into_iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            format!("{scheme} {}", list.join(sep))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn credentials_parser_is_total(s in "\\PC{0,300}") {
        let _ = Credentials::parse(&s);
    }

    #[test]
    fn arbitrary_authorization_never_panics_nor_authenticates(
        raw in prop_oneof!["\\PC{0,200}", any::<String>(), digest_header()],
        extra in prop::option::of(digest_header()),
    ) {
        let mut r = registrar();
        let req0 = request("alice", "c", 1, "<sip:alice@10.0.0.5>", 600);
        // Give it a real nonce to chew on too.
        let first = r.handle_register(t(1), src(), "UDP", &req0);
        let nonce = nonce_of(&first.response).unwrap_or_default();
        for value in [Some(raw.clone()), extra, Some(raw.replace("NONCE", &nonce))].into_iter().flatten() {
            let mut req = req0.clone();
            req.headers.push(HeaderName::Authorization, value);
            let out = r.handle_register(t(2), src(), "UDP", &req);
            prop_assert_ne!(out.response.status, StatusCode::OK);
            let accepted = matches!(out.disposition, Disposition::Accepted { .. });
            prop_assert!(!accepted);
            prop_assert!(out.events.is_empty());
        }
        prop_assert!(r.location().lookup("alice").is_empty());
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// Register `contact` (0..3) of user (0..2) for `secs`; 0 unregisters it.
    Register { user: usize, contact: u8, secs: u32 },
    /// Unregister all bindings of a user with `Contact: *`.
    Star { user: usize },
    /// Advance time and run the expiry timer.
    Tick { ms: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..2usize, 0..3u8, prop_oneof![Just(0u32), 60..200u32]).prop_map(
            |(user, contact, secs)| Op::Register {
                user,
                contact,
                secs
            }
        ),
        (0..2usize).prop_map(|user| Op::Star { user }),
        (1..120_000u64).prop_map(|ms| Op::Tick { ms }),
    ]
}

const USERS: [(&str, &str); 2] = [("alice", "wonderland"), ("bob", "builder")];

/// Sends `req` twice: bare (to get a nonce), then with valid credentials.
fn authed(
    r: &mut Registrar,
    now: SystemTime,
    mut req: Request,
    user: usize,
) -> switchboard_registrar::RegisterOutcome {
    let (name, pw) = USERS[user];
    let first = r.handle_register(now, src(), "UDP", &req);
    let nonce = nonce_of(&first.response).expect("challenge");
    let uri = format!("sip:{REALM}");
    let ha1 = Ha1::from_password(Algorithm::Sha256.hash(), name, REALM, pw);
    let response = compute_response(&ResponseInput {
        algorithm: Algorithm::Sha256,
        ha1: &ha1,
        nonce: &nonce,
        qop: Some(("00000001", "cn", Qop::Auth)),
        method: "REGISTER",
        uri: &uri,
    });
    req.headers.push(
        HeaderName::Authorization,
        format!(
            "Digest username=\"{name}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{uri}\", \
             response=\"{response}\", algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\"cn\""
        ),
    );
    r.handle_register(now, src(), "UDP", &req)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Per user, events alternate LoggedIn / LoggedOut starting with LoggedIn, and after
    /// each step "logged in" (per events) equals "has unexpired bindings" once swept.
    #[test]
    fn events_track_location_table(ops in prop::collection::vec(op(), 1..40)) {
        let mut r = registrar();
        let mut now_ms = 1_000u64;
        let mut cseq = 1u32;
        let mut online: HashMap<String, bool> = HashMap::new();
        for op in ops {
            let now = t(now_ms);
            let events = match op {
                Op::Register { user, contact, secs } => {
                    cseq += 2;
                    let name = USERS[user].0;
                    let req = request(name, &format!("{name}-{contact}"), cseq,
                        &format!("<sip:{name}@10.0.0.{contact}>"), secs);
                    let out = authed(&mut r, now, req, user);
                    prop_assert_eq!(out.response.status, StatusCode::OK);
                    out.events
                }
                Op::Star { user } => {
                    cseq += 2;
                    let name = USERS[user].0;
                    let req = request(name, "star", cseq, "*", 0);
                    let out = authed(&mut r, now, req, user);
                    prop_assert_eq!(out.response.status, StatusCode::OK);
                    out.events
                }
                Op::Tick { ms } => {
                    now_ms += ms;
                    let now = t(now_ms);
                    if let Some(due) = r.poll_timeout() {
                        prop_assert!(due > t(0));
                    }
                    r.handle_timeout(now)
                }
            };
            for ev in events {
                match ev {
                    LocationEvent::LoggedIn { user } => {
                        let was = online.insert(user, true).unwrap_or(false);
                        prop_assert!(!was, "LoggedIn while logged in");
                    }
                    LocationEvent::LoggedOut { user, .. } => {
                        let was = online.insert(user, false).unwrap_or(false);
                        prop_assert!(was, "LoggedOut while logged out");
                    }
                }
            }
            let now = t(now_ms);
            for (name, _) in USERS {
                let active = !r.location().lookup_active(name, now).is_empty();
                let listed = r.location().is_registered(name);
                let on = online.get(name).copied().unwrap_or(false);
                prop_assert_eq!(listed, on, "table vs events for {}", name);
                if active {
                    prop_assert!(on);
                }
            }
        }
    }
}

//! A simulated phone for the REGISTER flow tests: a registrar on a fake clock, a REGISTER
//! builder, digest answers and a full login (challenge, then the right answer).

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use switchboard_registrar::digest::{compute_response, Qop, ResponseInput};
use switchboard_registrar::{
    Algorithm, Ha1, RegisterOutcome, Registrar, RegistrarConfig, UserDirectory,
};
use switchboard_sip_message::{
    parse_datagram, HeaderName, Limits, Message, Request, Response, StatusCode,
};

pub(crate) const REALM: &str = "sb.example";

pub(crate) const SECRET: [u8; 32] = [42; 32];

pub(crate) fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
}

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket addr")
}

pub(crate) fn registrar_with(cfg: RegistrarConfig) -> Registrar {
    let users: UserDirectory = [("alice", "wonderland"), ("bob", "builder")]
        .into_iter()
        .collect();
    Registrar::new(t(0), cfg, users, SECRET)
}

pub(crate) fn registrar() -> Registrar {
    registrar_with(RegistrarConfig::new(REALM))
}

/// A REGISTER as a phone would send it.
pub(crate) struct Reg<'a> {
    pub user: &'a str,
    pub call_id: &'a str,
    pub cseq: u32,
    pub contacts: Vec<String>,
    pub expires: Option<u32>,
    pub auth: Option<String>,
}

impl<'a> Reg<'a> {
    pub(crate) fn new(user: &'a str) -> Self {
        Reg {
            user,
            call_id: "cid-1@10.0.0.5",
            cseq: 1,
            contacts: vec![format!("<sip:{user}@10.0.0.5:5060>")],
            expires: Some(600),
            auth: None,
        }
    }

    pub(crate) fn build(&self) -> Request {
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
pub(crate) fn authorization(
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

pub(crate) fn auth(user: &str, password: &str, nonce: &str, alg: Algorithm, nc: u32) -> String {
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

pub(crate) fn challenges(resp: &Response) -> Vec<String> {
    resp.headers
        .get_all(&HeaderName::WwwAuthenticate)
        .map(str::to_owned)
        .collect()
}

pub(crate) fn nonce_of(resp: &Response) -> String {
    let c = challenges(resp);
    let first = c.first().expect("a WWW-Authenticate header");
    let start = first.find("nonce=\"").expect("nonce param") + 7;
    let len = first[start..].find('"').expect("closing quote");
    first[start..start + len].to_owned()
}

pub(crate) fn src() -> SocketAddr {
    addr("192.0.2.10:5060")
}

pub(crate) fn send(r: &mut Registrar, now: SystemTime, req: &Request) -> RegisterOutcome {
    r.handle_register(now, src(), "UDP", req)
}

/// Challenge, then answer with `alg`; returns the nonce and the 200 outcome.
pub(crate) fn login(
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

pub(crate) fn contact_values(resp: &Response) -> Vec<String> {
    resp.headers
        .get_all(&HeaderName::Contact)
        .map(str::to_owned)
        .collect()
}

pub(crate) fn login_expect_any(r: &mut Registrar, reg: &mut Reg<'_>) -> (String, RegisterOutcome) {
    let n = nonce_of(&send(r, t(1), &reg.build()).response);
    reg.cseq += 1;
    reg.auth = Some(auth(reg.user, "wonderland", &n, Algorithm::Sha256, 1));
    let out = send(r, t(1), &reg.build());
    (n, out)
}

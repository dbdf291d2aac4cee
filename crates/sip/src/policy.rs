//! Request validation for a UAS (RFC 3261 §8.2): the checks every request passes before the
//! application sees it, and the OPTIONS answer (§11.2).
//!
//! Checks that need state live elsewhere: an in-dialog request for an unknown dialog (481) and
//! a lower CSeq (500) are decided by [`crate::dialog::Dialogs`]; merged requests (482) by the
//! transaction layer; authentication (401) and REGISTER processing by the registrar crate.

use switchboard_sip_message::{HeaderName, Method, Request, Response, StatusCode, Uri};

/// What this UAS supports. Drives [`check_request`] and [`options_response`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UasPolicy {
    /// Methods answered (listed in Allow). Others known to RFCs get 405, unknown ones 501.
    pub allow: Vec<Method>,
    /// Option tags we support (Supported; a Require outside this list gets 420).
    pub supported: Vec<String>,
    /// Body types we accept (Accept; a body of another type gets 415).
    pub accept: Vec<String>,
    /// Accept `tel:` Request-URIs (otherwise 416, like any non-SIP scheme).
    pub accept_tel: bool,
}

impl Default for UasPolicy {
    /// A contact-center endpoint: calls, OPTIONS, transfers, INFO DTMF, UPDATE (session
    /// refreshes and offers in a confirmed dialog); no registrar.
    fn default() -> Self {
        UasPolicy {
            allow: vec![
                Method::Invite,
                Method::Ack,
                Method::Bye,
                Method::Cancel,
                Method::Options,
                Method::Info,
                Method::Refer,
                Method::Notify,
                Method::Update,
            ],
            supported: vec!["replaces".to_string(), "norefersub".to_string()],
            // SDP for calls; DTMF relayed in SIP INFO (application/dtmf-relay, the
            // de-facto format, and application/dtmf); sipfrag in REFER NOTIFYs.
            accept: [
                "application/sdp",
                "application/dtmf-relay",
                "application/dtmf",
                "message/sipfrag",
            ]
            .map(String::from)
            .to_vec(),
            accept_tel: true,
        }
    }
}

impl UasPolicy {
    /// The default policy plus REGISTER (the endpoint is also the registrar).
    pub fn with_registrar() -> UasPolicy {
        let mut p = UasPolicy::default();
        p.allow.push(Method::Register);
        p
    }

    fn allows(&self, m: &Method) -> bool {
        self.allow.contains(m)
    }

    /// The `Allow` value: the methods answered, comma-separated.
    pub(crate) fn allow_header(&self) -> String {
        self.allow
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn accepts_type(&self, ct: &str) -> bool {
        let base = media_type(ct);
        self.accept.iter().any(|a| a.eq_ignore_ascii_case(&base))
    }
}

/// `type/subtype` of a Content-Type or Accept entry, lower-case, parameters dropped.
fn media_type(s: &str) -> String {
    s.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn reject(req: &Request, status: StatusCode) -> Response {
    Response::for_request(req, status)
}

const SINGLE_VALUED: [HeaderName; 5] = [
    HeaderName::CallId,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CSeq,
    HeaderName::MaxForwards,
];

/// Runs the UAS checks of RFC 3261 §8.2.1-§8.2.3 in the RFC's order and returns the error
/// response to send, or `Ok` if the request may go to the application. ACK is never rejected
/// (it cannot be answered); drop a bad ACK instead.
///
/// 1. SIP version other than `SIP/2.0` → 505.
/// 2. Missing or repeated Via/From/To/Call-ID/CSeq, a bad single-valued header → 400.
/// 3. Method: unknown → 501, known but not allowed → 405 (both with Allow).
/// 4. CSeq method differs from the request method → 400.
/// 5. Max-Forwards 0 → 483, except OPTIONS, which a UAS answers (RFC 3261 §16.3 step 2,
///    RFC 4475 §3.3.11).
/// 6. Request-URI scheme not sip/sips (or tel when allowed) → 416.
/// 7. REGISTER whose To is not a SIP/SIPS AOR → 400.
/// 8. Require with option tags we do not support → 420 with Unsupported (not for CANCEL).
/// 9. A body whose Content-Type we do not accept → 415 with Accept.
/// 10. INVITE whose Accept excludes every type we could answer with → 406.
pub fn check_request(req: &Request, policy: &UasPolicy) -> Result<(), Response> {
    if req.method == Method::Ack {
        return Ok(());
    }
    if req.version != "SIP/2.0" {
        return Err(reject(req, StatusCode::VERSION_NOT_SUPPORTED));
    }
    let h = &req.headers;
    let mut bad = h.get(&HeaderName::Via).is_none()
        || h.top_via().is_err()
        || h.from().is_err()
        || h.to().is_err()
        || h.call_id().is_err()
        || h.cseq().is_err()
        || h.max_forwards().is_err();
    for name in &SINGLE_VALUED {
        let n: usize = h
            .get_all(name)
            .map(|v| {
                if *name == HeaderName::CSeq || *name == HeaderName::MaxForwards {
                    v.split(',').count()
                } else {
                    1
                }
            })
            .sum();
        if n > 1 {
            bad = true;
        }
    }
    if bad {
        return Err(reject(req, StatusCode::BAD_REQUEST));
    }
    if !policy.allows(&req.method) {
        let status = if matches!(req.method, Method::Other(_)) {
            StatusCode::NOT_IMPLEMENTED
        } else {
            StatusCode::METHOD_NOT_ALLOWED
        };
        let mut r = reject(req, status);
        r.headers.push(HeaderName::Allow, policy.allow_header());
        return Err(r);
    }
    let cseq = h.cseq().map_err(|_| reject(req, StatusCode::BAD_REQUEST))?;
    if cseq.method != req.method {
        return Err(reject(req, StatusCode::BAD_REQUEST));
    }
    if let Ok(Some(0)) = h.max_forwards() {
        if req.method != Method::Options {
            return Err(reject(req, StatusCode::TOO_MANY_HOPS));
        }
    }
    let scheme_ok = match &req.uri {
        Uri::Sip(_) => true,
        Uri::Tel(_) => policy.accept_tel,
        Uri::Other(_) => false,
    };
    if !scheme_ok {
        return Err(reject(req, StatusCode(416)));
    }
    if req.method == Method::Register {
        let aor_ok = h
            .to()
            .map(|t| matches!(t.uri, Uri::Sip(_)))
            .unwrap_or(false);
        if !aor_ok {
            return Err(reject(req, StatusCode::BAD_REQUEST));
        }
    }
    if req.method != Method::Cancel {
        let unsupported: Vec<String> = h
            .tokens(&HeaderName::Require)
            .into_iter()
            .filter(|t| !policy.supported.iter().any(|s| s.eq_ignore_ascii_case(t)))
            .collect();
        if !unsupported.is_empty() {
            let mut r = reject(req, StatusCode::BAD_EXTENSION);
            r.headers
                .push(HeaderName::Unsupported, unsupported.join(", "));
            return Err(r);
        }
    }
    if !req.body.is_empty() {
        let ok = h.content_type().is_some_and(|ct| policy.accepts_type(ct));
        if !ok {
            let mut r = reject(req, StatusCode::UNSUPPORTED_MEDIA_TYPE);
            r.headers.push(HeaderName::Accept, policy.accept.join(", "));
            return Err(r);
        }
    }
    if req.method == Method::Invite {
        let accepts: Vec<String> = h
            .get_all(&HeaderName::Accept)
            .flat_map(|v| v.split(',').map(media_type).collect::<Vec<_>>())
            .filter(|s| !s.is_empty())
            .collect();
        let acceptable = accepts.is_empty()
            || accepts.iter().any(|a| {
                a == "*/*"
                    || policy.accept.iter().any(|ours| {
                        ours.eq_ignore_ascii_case(a)
                            || a.strip_suffix("/*").is_some_and(|ty| {
                                ours.split('/')
                                    .next()
                                    .is_some_and(|o| o.eq_ignore_ascii_case(ty))
                            })
                    })
            });
        if !acceptable {
            let mut r = reject(req, StatusCode(406));
            r.headers.push(
                HeaderName::Warning,
                "399 - \"no response can be formed in the offered formats\"",
            );
            return Err(r);
        }
    }
    Ok(())
}

/// The 200 answer to an OPTIONS request (RFC 3261 §11.2): Allow, Accept, Supported.
pub fn options_response(req: &Request, policy: &UasPolicy) -> Response {
    let mut r = Response::for_request(req, StatusCode::OK);
    r.headers.push(HeaderName::Allow, policy.allow_header());
    r.headers.push(HeaderName::Accept, policy.accept.join(", "));
    r.headers
        .push(HeaderName::Supported, policy.supported.join(", "));
    r
}

/// Longest input [`reject_malformed`] looks at.
const MAX_MALFORMED_SCAN: usize = 16 * 1024;

/// A best-effort stateless `400 Bad Request` for bytes the message parser rejected
/// (RFC 3261 §21.4.1, RFC 4475 "invalid" messages): copies the Via, From, To, Call-ID and CSeq
/// lines it can find (long or compact names) verbatim. `None` when the bytes are not a
/// request (responses are dropped, §18.1.2), are an ACK (never answered), or carry no Via (no
/// way to route an answer). The driver sends it to the datagram's source address. Total: any
/// input, no panic, bounded work.
pub fn reject_malformed(datagram: &[u8]) -> Option<bytes::Bytes> {
    let buf = datagram.get(..datagram.len().min(MAX_MALFORMED_SCAN))?;
    let text = String::from_utf8_lossy(buf);
    let mut lines = text.split("\r\n").flat_map(|l| l.split('\n'));
    let start = lines.find(|l| !l.trim().is_empty())?;
    let method = start.split(' ').next().unwrap_or("");
    let is_token = !method.is_empty()
        && method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b));
    if !is_token || method == "ACK" || start.starts_with("SIP/") || !start.contains("SIP/") {
        return None;
    }
    let mut out = String::from("SIP/2.0 400 Bad Request\r\n");
    let mut has_via = false;
    for line in lines.take_while(|l| !l.is_empty()).take(256) {
        let Some((name, _)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        let keep = matches!(
            name.as_str(),
            "via" | "v" | "from" | "f" | "to" | "t" | "call-id" | "i" | "cseq"
        );
        if keep && !line.contains('\0') {
            has_via |= name == "via" || name == "v";
            out.push_str(line.trim_end());
            out.push_str("\r\n");
        }
    }
    if !has_via {
        return None;
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    Some(bytes::Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: Method, cseq_method: &str) -> Request {
        let mut r = Request::new(method, Uri::parse("sip:ivr@example.com").expect("uri"));
        r.headers
            .push(HeaderName::Via, "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx");
        r.headers
            .push(HeaderName::From, "<sip:a@example.com>;tag=1");
        r.headers.push(HeaderName::To, "<sip:ivr@example.com>");
        r.headers.push(HeaderName::CallId, "c1");
        r.headers.push(HeaderName::CSeq, format!("1 {cseq_method}"));
        r.headers.push(HeaderName::MaxForwards, "70");
        r
    }

    fn status(r: Result<(), Response>) -> Option<u16> {
        r.err().map(|r| r.status.0)
    }

    #[test]
    fn good_invite_passes() {
        assert_eq!(
            status(check_request(
                &req(Method::Invite, "INVITE"),
                &UasPolicy::default()
            )),
            None
        );
    }

    #[test]
    fn max_forwards_zero_rejects_invite_but_not_options() {
        let p = UasPolicy::default();
        let mut r = req(Method::Invite, "INVITE");
        r.headers.set(HeaderName::MaxForwards, "0");
        assert_eq!(status(check_request(&r, &p)), Some(483));
        let mut o = req(Method::Options, "OPTIONS");
        o.headers.set(HeaderName::MaxForwards, "0");
        assert_eq!(status(check_request(&o, &p)), None);
    }

    #[test]
    fn register_is_405_without_registrar_and_unknown_is_501() {
        let p = UasPolicy::default();
        let e = check_request(&req(Method::Register, "REGISTER"), &p).expect_err("405");
        assert_eq!(e.status.0, 405);
        assert!(e
            .headers
            .get(&HeaderName::Allow)
            .is_some_and(|a| a.contains("INVITE")));
        let m = Method::from_token("FOO");
        assert_eq!(status(check_request(&req(m, "FOO"), &p)), Some(501));
        assert_eq!(
            status(check_request(
                &req(Method::Register, "REGISTER"),
                &UasPolicy::with_registrar()
            )),
            None
        );
    }

    #[test]
    fn malformed_requests_get_a_stateless_400_and_responses_nothing() {
        let bad = b"INVITE sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: c\r\nContent-Length: -5\r\n\r\n";
        let r = reject_malformed(bad).expect("400");
        assert!(r.starts_with(
            b"SIP/2.0 400 Bad Request\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: c\r\n"
        ));
        assert_eq!(reject_malformed(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n"), None);
        assert_eq!(
            reject_malformed(b"ACK sip:a@b SIP/2.0\r\nVia: x\r\n\r\n"),
            None
        );
        assert_eq!(
            reject_malformed(b"INVITE sip:a@b SIP/2.0\r\nTo: x\r\n\r\n"),
            None
        );
        assert_eq!(reject_malformed(b""), None);
        assert_eq!(reject_malformed(&[0xff; 40]), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            rng_seed: proptest::test_runner::RngSeed::Fixed(3),
            ..proptest::test_runner::Config::with_cases(256)
        })]
        #[test]
        fn reject_malformed_is_total(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            if let Some(r) = reject_malformed(&bytes) {
                proptest::prop_assert!(r.starts_with(b"SIP/2.0 400 Bad Request\r\n"));
                proptest::prop_assert!(r.ends_with(b"Content-Length: 0\r\n\r\n"));
            }
        }
    }

    #[test]
    fn cseq_method_mismatch_is_400() {
        let r = req(Method::Options, "INVITE");
        assert_eq!(status(check_request(&r, &UasPolicy::default())), Some(400));
    }

    #[test]
    fn unsupported_body_is_415_and_missing_call_id_is_400() {
        let p = UasPolicy::default();
        let mut r = req(Method::Invite, "INVITE");
        r.headers
            .push(HeaderName::ContentType, "application/unknownformat");
        r.body = bytes::Bytes::from_static(b"<x/>");
        assert_eq!(status(check_request(&r, &p)), Some(415));
        let mut r = req(Method::Invite, "INVITE");
        r.headers.remove(&HeaderName::CallId);
        assert_eq!(status(check_request(&r, &p)), Some(400));
        let mut r = req(Method::Invite, "INVITE");
        r.version = "SIP/3.0".to_string();
        assert_eq!(status(check_request(&r, &p)), Some(505));
    }

    #[test]
    fn info_dtmf_bodies_are_accepted_and_unknown_bodies_get_415() {
        let p = UasPolicy::default();
        let mut info = req(Method::Info, "INFO");
        info.headers
            .set(HeaderName::ContentType, "application/dtmf-relay");
        info.body = bytes::Bytes::from_static(b"Signal=5\r\nDuration=160\r\n");
        assert!(check_request(&info, &p).is_ok());
        info.headers
            .set(HeaderName::ContentType, "application/x-nobody-knows");
        let r = check_request(&info, &p).unwrap_err();
        assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn options_answer_lists_capabilities() {
        let p = UasPolicy::default();
        let r = options_response(&req(Method::Options, "OPTIONS"), &p);
        assert_eq!(r.status, StatusCode::OK);
        assert!(r
            .headers
            .get(&HeaderName::Allow)
            .is_some_and(|a| a.contains("OPTIONS")));
        let accept = r.headers.get(&HeaderName::Accept).unwrap_or("");
        assert!(
            accept.starts_with("application/sdp") && accept.contains("application/dtmf-relay"),
            "{accept}"
        );
        assert!(r.headers.get(&HeaderName::Supported).is_some());
    }

    #[test]
    fn accept_wildcards_are_honoured() {
        let p = UasPolicy::default();
        let mut r = req(Method::Invite, "INVITE");
        r.headers.push(HeaderName::Accept, "application/*");
        assert_eq!(status(check_request(&r, &p)), None);
        r.headers.set(HeaderName::Accept, "text/plain");
        assert_eq!(status(check_request(&r, &p)), Some(406));
    }
}

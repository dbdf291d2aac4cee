//! Framing, limits and typed-accessor behaviour through the public API.

use bytes::Bytes;
use switchboard_sip_message::*;

const OPTIONS: &str = "OPTIONS sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n\
To: <sip:bob@example.com>\r\n\
From: Alice <sip:alice@example.com>;tag=a1\r\n\
Call-ID: c1@192.0.2.1\r\n\
CSeq: 1 OPTIONS\r\n\
Max-Forwards: 70\r\n\
Content-Length: 5\r\n\
\r\n\
hello";

fn limits() -> Limits {
    Limits::default()
}

#[test]
fn compact_forms_map_to_long_names() {
    let table = [
        ("v", HeaderName::Via),
        ("f", HeaderName::From),
        ("t", HeaderName::To),
        ("i", HeaderName::CallId),
        ("m", HeaderName::Contact),
        ("l", HeaderName::ContentLength),
        ("c", HeaderName::ContentType),
        ("k", HeaderName::Supported),
        ("s", HeaderName::Subject),
        ("e", HeaderName::ContentEncoding),
        ("o", HeaderName::Event),
        ("r", HeaderName::ReferTo),
        ("u", HeaderName::AllowEvents),
        ("b", HeaderName::ReferredBy),
        ("x", HeaderName::SessionExpires),
        ("y", HeaderName::Identity),
        ("d", HeaderName::RequestDisposition),
        ("a", HeaderName::AcceptContact),
        ("j", HeaderName::RejectContact),
    ];
    for (compact, name) in table {
        assert_eq!(HeaderName::parse(compact), name, "{compact}");
        assert_eq!(
            HeaderName::parse(&compact.to_uppercase()),
            name,
            "{compact}"
        );
        assert_eq!(HeaderName::parse(name.as_str()), name);
    }
    assert_eq!(HeaderName::parse("q"), HeaderName::Other("q".into()));
}

#[test]
fn folding_and_bare_lf() {
    let msg = "OPTIONS sip:bob@example.com SIP/2.0\n\
Via: SIP/2.0/UDP 192.0.2.1\n ;branch=z9hG4bK1\n\
t: <sip:bob@example.com>\n\
f: <sip:alice@example.com>\n\t;tag=a1\n\
i: c1\n\
CSeq: 1\n  OPTIONS\n\
Subject: one\n two\n\t three\n\
l: 0\n\n";
    let m = parse_datagram(msg.as_bytes(), &limits()).unwrap();
    let h = m.headers();
    assert_eq!(h.top_via().unwrap().branch(), Some("z9hG4bK1"));
    assert_eq!(h.from().unwrap().tag(), Some("a1"));
    assert_eq!(h.get(&HeaderName::Subject), Some("one two three"));
    assert_eq!(
        h.cseq().unwrap(),
        CSeq {
            seq: 1,
            method: Method::Options
        }
    );
}

#[test]
fn datagram_framing_rules() {
    let m = parse_datagram(OPTIONS.as_bytes(), &limits()).unwrap();
    assert_eq!(m.body().as_ref(), b"hello");
    // Trailing octets after Content-Length are ignored.
    let longer = format!("{OPTIONS}garbage");
    assert_eq!(parse_datagram(longer.as_bytes(), &limits()).unwrap(), m);
    // Content-Length larger than the datagram is an error, not Incomplete.
    let short = &OPTIONS.as_bytes()[..OPTIONS.len() - 2];
    assert_eq!(
        parse_datagram(short, &limits()),
        Err(ParseError::ContentLength("larger than the datagram"))
    );
    // No Content-Length: the body is the rest of the datagram.
    let no_cl = OPTIONS.replace("Content-Length: 5\r\n", "");
    let m2 = parse_datagram(format!("{no_cl}!!").as_bytes(), &limits()).unwrap();
    assert_eq!(m2.body().as_ref(), b"hello!!");
    // Keep-alive datagrams and empty input are errors, not panics.
    assert!(matches!(
        parse_datagram(b"\r\n\r\n", &limits()),
        Err(ParseError::Malformed { .. })
    ));
    assert!(matches!(
        parse_datagram(b"", &limits()),
        Err(ParseError::Malformed { .. })
    ));
    assert_eq!(keepalive_prefix(b"\r\n\r\nINVITE"), 4);
}

#[test]
fn zero_copy_body() {
    let buf = Bytes::from(OPTIONS);
    let m = parse_datagram_bytes(&buf, &limits()).unwrap();
    let body = m.body();
    let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
    assert!(range.contains(&(body.as_ptr() as usize)));
    assert_eq!(m, parse_datagram(&buf, &limits()).unwrap());
    let (s, used) = parse_stream_bytes(&buf, &limits()).unwrap();
    assert_eq!((s, used), (m, buf.len()));
}

#[test]
fn stream_framing_rules() {
    let mut buf = b"\r\n\r\n".to_vec();
    buf.extend_from_slice(OPTIONS.as_bytes());
    buf.extend_from_slice(OPTIONS.as_bytes());
    let (first, used) = parse_stream(&buf, &limits()).unwrap();
    assert_eq!(used, 4 + OPTIONS.len());
    let (second, used2) = parse_stream(&buf[used..], &limits()).unwrap();
    assert_eq!((first, used2), (second, OPTIONS.len()));
    // Every strict prefix of one message is Incomplete.
    for cut in 0..OPTIONS.len() {
        assert_eq!(
            parse_stream(&OPTIONS.as_bytes()[..cut], &limits()),
            Err(ParseError::Incomplete),
            "cut at {cut}"
        );
    }
    // Content-Length is required on streams.
    let no_cl = OPTIONS.replace("Content-Length: 5\r\n", "");
    assert!(matches!(
        parse_stream(no_cl.as_bytes(), &limits()),
        Err(ParseError::ContentLength(_))
    ));
    // Conflicting or negative Content-Length is a framing error.
    let two = OPTIONS.replace("Content-Length: 5\r\n", "Content-Length: 5\r\nl: 6\r\n");
    assert_eq!(
        parse_stream(two.as_bytes(), &limits()),
        Err(ParseError::ContentLength("conflicting values"))
    );
    let neg = OPTIONS.replace("Content-Length: 5", "Content-Length: -5");
    assert!(matches!(
        parse_stream(neg.as_bytes(), &limits()),
        Err(ParseError::ContentLength(_))
    ));
    // A declared body beyond the size bound is refused before waiting for it.
    let huge = OPTIONS.replace("Content-Length: 5", "Content-Length: 99999999999999");
    assert!(matches!(
        parse_stream(huge.as_bytes(), &limits()),
        Err(ParseError::TooLarge { .. })
    ));
}

#[test]
fn size_bounds() {
    let small = Limits {
        max_message: 64,
        ..Limits::default()
    };
    assert_eq!(
        parse_datagram(OPTIONS.as_bytes(), &small),
        Err(ParseError::TooLarge {
            what: "message",
            max: 64
        })
    );
    assert_eq!(
        parse_stream(&[b'x'; 65], &small),
        Err(ParseError::TooLarge {
            what: "message",
            max: 64
        })
    );
    let few = Limits {
        max_headers: 3,
        ..Limits::default()
    };
    assert_eq!(
        parse_datagram(OPTIONS.as_bytes(), &few),
        Err(ParseError::TooLarge {
            what: "headers",
            max: 3
        })
    );
    let short_lines = Limits {
        max_line: 40,
        ..Limits::default()
    };
    assert_eq!(
        parse_datagram(OPTIONS.as_bytes(), &short_lines),
        Err(ParseError::TooLarge {
            what: "line",
            max: 40
        })
    );
    let many_vias = OPTIONS.replace(
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n",
        &"Via: SIP/2.0/UDP a.example.com, SIP/2.0/UDP b.example.com\r\n".repeat(3),
    );
    let two_vias = Limits {
        max_vias: 5,
        ..Limits::default()
    };
    assert_eq!(
        parse_datagram(many_vias.as_bytes(), &two_vias),
        Err(ParseError::TooLarge {
            what: "Via values",
            max: 5
        })
    );
    assert!(parse_datagram(many_vias.as_bytes(), &limits()).is_ok());
}

#[test]
fn malformed_inputs_are_typed_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1",
            "Via: SIP/2.0/UDP",
        ),
        ("CSeq: 1 OPTIONS", "CSeq: 1 INVITE"),
        ("CSeq: 1 OPTIONS", "CSeq: x OPTIONS"),
        ("Max-Forwards: 70", "Max-Forwards: seventy"),
        ("Call-ID: c1@192.0.2.1", "Call-ID: "),
        ("To: <sip:bob@example.com>", "To: <sip:bob@example.com"),
        (
            "From: Alice <sip:alice@example.com>;tag=a1",
            "From: \"Alice <sip:alice@example.com>",
        ),
    ];
    for (from, to) in cases {
        let bad = OPTIONS.replace(from, to);
        let err = parse_datagram(bad.as_bytes(), &limits()).unwrap_err();
        assert!(matches!(err, ParseError::BadHeader { .. }), "{to}: {err:?}");
    }
    let lines: &[&str] = &[
        "OPTIONS  sip:bob@example.com SIP/2.0",
        "OPTIONS sip:bob@example.com SIP/2.0 ",
        "OPTIONS <sip:bob@example.com> SIP/2.0",
        "OPTIONS sip:bob@example.com?Subject=x SIP/2.0",
        "OPTIONS sip:bob@example.com HTTP/1.1",
        "OPT\"IONS sip:bob@example.com SIP/2.0",
        "SIP/2.0 2000 OK",
        "SIP/2.0 099 Too small",
    ];
    for line in lines {
        let bad = OPTIONS.replace("OPTIONS sip:bob@example.com SIP/2.0", line);
        let err = parse_datagram(bad.as_bytes(), &limits()).unwrap_err();
        assert!(
            matches!(err, ParseError::Malformed { offset: 0, .. }),
            "{line}: {err:?}"
        );
    }
    let mut not_utf8 = OPTIONS.as_bytes().to_vec();
    not_utf8[40] = 0xff;
    assert!(matches!(
        parse_datagram(&not_utf8, &limits()),
        Err(ParseError::Malformed { .. })
    ));
    let no_colon = OPTIONS.replace("Max-Forwards: 70", "Max-Forwards 70");
    assert!(matches!(
        parse_datagram(no_colon.as_bytes(), &limits()),
        Err(ParseError::Malformed { .. })
    ));
}

#[test]
fn stateless_400_from_an_unvalidated_parse() {
    let bad = OPTIONS.replace("Max-Forwards: 70", "Max-Forwards: lots");
    assert!(matches!(
        parse_datagram(bad.as_bytes(), &limits()),
        Err(ParseError::BadHeader { .. })
    ));
    let Message::Request(req) = parse_datagram_unvalidated(bad.as_bytes(), &limits()).unwrap()
    else {
        panic!("request expected")
    };
    assert!(req.headers.max_forwards().is_err());
    let resp = Response::for_request(&req, StatusCode::BAD_REQUEST);
    assert_eq!(resp.headers.top_via().unwrap().branch(), Some("z9hG4bK1"));
    // Framing errors stay errors.
    let short = &OPTIONS.as_bytes()[..OPTIONS.len() - 1];
    assert!(matches!(
        parse_datagram_unvalidated(short, &limits()),
        Err(ParseError::ContentLength(_))
    ));
}

#[test]
fn printing_rewrites_content_length() {
    let mut m = parse_datagram(OPTIONS.as_bytes(), &limits()).unwrap();
    if let Message::Request(r) = &mut m {
        r.body = Bytes::from_static(b"longer body");
        r.headers.push(HeaderName::ContentLength, "5");
    }
    let wire = m.to_bytes();
    let text = String::from_utf8(wire.to_vec()).unwrap();
    assert_eq!(text.matches("Content-Length").count(), 1);
    assert!(text.ends_with("Content-Length: 11\r\n\r\nlonger body"));
    let again = parse_datagram(&wire, &limits()).unwrap();
    assert_eq!(again.body().as_ref(), b"longer body");
}

#[test]
fn printing_cannot_inject_header_lines() {
    let mut req = Request::new(Method::Options, Uri::parse("sip:bob@example.com").unwrap());
    req.headers.push(
        HeaderName::Subject,
        "hi\r\nVia: SIP/2.0/UDP evil.example.com",
    );
    let text = String::from_utf8(req.to_bytes().to_vec()).unwrap();
    assert_eq!(text.matches("\r\n").count(), 4, "{text:?}");
    assert!(text.contains("Subject: hi  Via: SIP/2.0/UDP evil.example.com\r\n"));
}

#[test]
fn response_for_request() {
    let Message::Request(req) = parse_datagram(OPTIONS.as_bytes(), &limits()).unwrap() else {
        panic!("request expected")
    };
    let mut resp = Response::for_request(&req, StatusCode::BUSY_HERE);
    assert_eq!(resp.reason, "Busy Here");
    let names: Vec<&str> = resp.headers.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["Via", "To", "From", "Call-ID", "CSeq"]);
    let mut to = resp.headers.to().unwrap();
    to.set_tag("b2");
    resp.headers.set(HeaderName::To, to.to_string());
    let wire = resp.to_bytes();
    assert!(wire.starts_with(
        b"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n"
    ));
    let Message::Response(back) = parse_datagram(&wire, &limits()).unwrap() else {
        panic!("response expected")
    };
    assert_eq!(back.headers.to().unwrap().tag(), Some("b2"));
    assert_eq!(back.status, StatusCode::BUSY_HERE);
}

#[test]
fn building_a_request() {
    let mut uri = SipUri::new(Host::Name("example.com".into()));
    uri.user = Some("bob".into());
    uri.set_param("transport", Some("tcp".into()));
    let mut req = Request::new(Method::Invite, Uri::Sip(uri));
    let via = Via::new(
        "tcp",
        Host::V6("2001:db8::1".parse().unwrap()),
        Some(5060),
        "z9hG4bKx",
    );
    req.headers.push(HeaderName::Via, via.to_string());
    req.headers
        .push(HeaderName::From, "<sip:alice@example.com>;tag=1");
    req.headers.push(HeaderName::To, "<sip:bob@example.com>");
    req.headers.push(HeaderName::CallId, "abc");
    req.headers.push(HeaderName::CSeq, "1 INVITE");
    let wire = req.to_bytes();
    assert!(wire.starts_with(b"INVITE sip:bob@example.com;transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bKx\r\n"));
    let back = parse_datagram(&wire, &limits()).unwrap();
    assert_eq!(back.headers().top_via().unwrap(), via);
    assert_eq!(
        back.as_request().unwrap().uri.as_sip().unwrap().transport(),
        Some("tcp")
    );
}

#[test]
fn extension_header_accessors() {
    let mut h = Headers::default();
    h.push(
        HeaderName::parse("Replaces"),
        "12345@192.0.2.1;to-tag=a;from-tag=b",
    );
    h.push(HeaderName::parse("x"), "1800;refresher=uac");
    h.push(HeaderName::parse("Min-SE"), "90");
    h.push(HeaderName::parse("Retry-After"), "120 (busy);duration=60");
    h.push(
        HeaderName::parse("r"),
        "<sip:carol@example.com?Replaces=12345%40192.0.2.1%3Bto-tag%3Da%3Bfrom-tag%3Db>",
    );
    h.push(HeaderName::parse("b"), "\"Alice\" <sip:alice@example.com>");
    h.push(
        HeaderName::parse("WWW-Authenticate"),
        "Digest realm=\"example.com\", nonce=\"n1\", qop=\"auth\", algorithm=MD5",
    );
    h.push(HeaderName::parse("Min-Expires"), "60");
    h.push(HeaderName::parse("Supported"), "replaces, timer");
    h.push(HeaderName::parse("X-Custom"), "kept as is");

    let r = h.replaces().unwrap().unwrap();
    assert_eq!(
        (r.call_id.as_str(), r.to_tag.as_str(), r.from_tag.as_str()),
        ("12345@192.0.2.1", "a", "b")
    );
    let se = h.session_expires().unwrap().unwrap();
    assert_eq!((se.delta, se.refresher), (1800, Some(Refresher::Uac)));
    assert_eq!(h.min_se().unwrap(), Some(90));
    let ra = h.retry_after().unwrap().unwrap();
    assert_eq!((ra.seconds, ra.duration), (120, Some(60)));
    let refer_to = h.refer_to().unwrap().unwrap();
    let embedded = &refer_to.uri.as_sip().unwrap().headers[0];
    assert_eq!(embedded.0, "Replaces");
    assert_eq!(Replaces::parse(&embedded.1).unwrap(), r);
    assert_eq!(
        h.referred_by().unwrap().unwrap().display.as_deref(),
        Some("Alice")
    );
    let ch = h.auth(&HeaderName::WwwAuthenticate).unwrap();
    assert_eq!(ch[0].get("nonce"), Some("n1"));
    assert_eq!(h.min_expires().unwrap(), Some(60));
    assert_eq!(h.tokens(&HeaderName::Supported), ["replaces", "timer"]);
    assert_eq!(
        h.get(&HeaderName::Other("x-custom".into())),
        Some("kept as is")
    );
    assert_eq!(h.max_forwards().unwrap(), None);
    assert_eq!(h.content_type(), None);

    let mut bad = Headers::default();
    bad.push(HeaderName::Via, "SIP/2.0/UDP");
    assert_eq!(
        bad.vias().unwrap_err().to_string(),
        "bad Via: missing sent-by"
    );
}

//! Property tests: arbitrary and mutated input never panics; generated messages survive
//! print -> parse with the same meaning; anything accepted re-parses after printing.

use bytes::Bytes;
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};

use switchboard_sip_message::{
    parse_datagram, parse_datagram_unvalidated, parse_stream, CSeq, Contacts, HeaderName, Headers,
    Host, Limits, Message, Method, NameAddr, Param, ParseError, Request, Response, SipUri,
    StatusCode, TelUri, Uri, Via,
};

fn corpus() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/sip-torture");
    let manifest = std::fs::read_to_string(format!("{dir}/manifest.tsv")).expect("manifest");
    manifest
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .map(|f| std::fs::read(format!("{dir}/{f}")).expect("corpus file"))
        .collect()
}

fn without_cl(m: &Message) -> Message {
    let mut m = m.clone();
    m.headers_mut().remove(&HeaderName::ContentLength);
    m
}

/// Feed in chunks; never panics, consumed counts stay in range.
fn stream_in_chunks(bytes: &[u8], chunk: usize) {
    let limits = Limits::default();
    let mut buf = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match parse_stream(&buf, &limits) {
                Ok((_, used)) => {
                    assert!(used > 0 && used <= buf.len());
                    buf.drain(..used);
                }
                Err(ParseError::Incomplete) => break,
                Err(_) => return,
            }
        }
    }
}

/// Whatever parse_datagram accepts, printing it and parsing again gives the same meaning.
fn accepted_round_trips(bytes: &[u8]) {
    let limits = Limits {
        max_message: 1 << 20,
        ..Limits::default()
    };
    if let Ok(m) = parse_datagram(bytes, &limits) {
        let printed = m.to_bytes();
        let again = parse_datagram(&printed, &limits).unwrap_or_else(|e| {
            panic!(
                "printed form rejected: {e}\n{}",
                String::from_utf8_lossy(&printed)
            )
        });
        assert_eq!(without_cl(&again), without_cl(&m));
        let (s, used) = parse_stream(&printed, &limits).expect("stream parse of printed form");
        assert_eq!(used, printed.len());
        assert_eq!(s, again);
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Duplicate(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop::sample::select(vec![
        b'\r', b'\n', b' ', b'\t', b':', b';', b',', b'"', b'\\', b'<', b'>', b'[', b']', b'%',
        b'@', b'=', b'0', b'9', 0, 0xff, 0xc3,
    ]);
    prop_oneof![
        (any::<usize>(), interesting).prop_map(|(p, b)| Mutation::Set(p, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Set(p, b)),
        (any::<usize>(), 1usize..16).prop_map(|(p, n)| Mutation::Delete(p, n)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(p, v)| Mutation::Insert(p, v)),
        (any::<usize>(), 1usize..64).prop_map(|(p, n)| Mutation::Duplicate(p, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(mut v: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let len = v.len().max(1);
        match m {
            Mutation::Set(p, b) => {
                if !v.is_empty() {
                    let i = p % v.len();
                    v[i] = *b;
                }
            }
            Mutation::Delete(p, n) => {
                let i = p % len;
                let end = (i + n).min(v.len());
                if i < end {
                    v.drain(i..end);
                }
            }
            Mutation::Insert(p, bytes) => {
                let i = (p % len).min(v.len());
                v.splice(i..i, bytes.iter().copied());
            }
            Mutation::Duplicate(p, n) => {
                let i = (p % len).min(v.len());
                let end = (i + n).min(v.len());
                let dup = v[i..end].to_vec();
                v.splice(end..end, dup);
            }
            Mutation::Truncate(p) => v.truncate(p % len),
        }
    }
    v
}

// ---- generators for well-formed messages ----

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9.!%*_+`'~-]{1,12}"
}

fn text() -> impl Strategy<Value = String> {
    // Any printable text, including quotes, backslashes, separators and non-ASCII.
    "[ -~\u{e9}\u{4e2d}\u{0}]{0,16}"
}

fn host() -> impl Strategy<Value = Host> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,8}(\\.[a-z][a-z0-9]{0,5}){0,2}".prop_map(Host::Name),
        any::<u32>().prop_map(|a| Host::V4(Ipv4Addr::from(a))),
        any::<u128>().prop_map(|a| Host::V6(Ipv6Addr::from(a))),
    ]
}

fn uri_params() -> impl Strategy<Value = Vec<Param>> {
    prop::collection::vec(
        ("[ -~\u{e9}]{1,8}", prop::option::of("[ -~\u{e9}]{1,8}"))
            .prop_map(|(n, v)| Param { name: n, value: v }),
        0..3,
    )
}

fn sip_uri() -> impl Strategy<Value = SipUri> {
    (
        any::<bool>(),
        prop::option::of(("[ -~\u{e9}\u{0}]{1,12}", prop::option::of("[ -~]{1,8}"))),
        host(),
        prop::option::of(any::<u16>()),
        uri_params(),
        prop::collection::vec(("[ -~]{1,6}", "[ -~]{0,8}"), 0..2),
    )
        .prop_map(|(secure, userinfo, host, port, params, headers)| {
            let (user, password) = match userinfo {
                Some((u, p)) => (Some(u), p),
                None => (None, None),
            };
            SipUri {
                secure,
                user,
                password,
                host,
                port,
                params,
                headers,
            }
        })
}

fn uri() -> impl Strategy<Value = Uri> {
    prop_oneof![
        4 => sip_uri().prop_map(Uri::Sip),
        1 => ("[0-9+().*#-]{1,12}", uri_params()).prop_map(|(number, params)| Uri::Tel(TelUri { number, params })),
        1 => "[a-z][a-z0-9+.-]{0,6}:[a-zA-Z0-9/._~!$&'()*+,;=:@-]{1,16}"
            .prop_filter("not a known scheme", |s| {
                let scheme = s.split(':').next().unwrap_or("");
                !["sip", "sips", "tel"].contains(&scheme)
            })
            .prop_map(Uri::Other),
    ]
}

fn header_params() -> impl Strategy<Value = Vec<Param>> {
    prop::collection::vec(
        (token(), prop::option::of(text())).prop_map(|(name, value)| Param { name, value }),
        0..3,
    )
}

fn name_addr() -> impl Strategy<Value = NameAddr> {
    (prop::option::of(text()), uri(), header_params()).prop_map(|(display, uri, params)| NameAddr {
        display,
        uri,
        params,
    })
}

fn via() -> impl Strategy<Value = Via> {
    (
        prop::sample::select(vec!["UDP", "TCP", "TLS", "SCTP", "WS", "WSS"]),
        host(),
        prop::option::of(any::<u16>()),
        token(),
        header_params(),
    )
        .prop_map(|(t, host, port, branch, extra)| {
            let mut v = Via::new(t, host, port, &format!("z9hG4bK{branch}"));
            v.params.extend(extra);
            v
        })
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        prop::sample::select(vec![
            Method::Invite,
            Method::Ack,
            Method::Bye,
            Method::Cancel,
            Method::Register,
            Method::Options,
            Method::Info,
            Method::Refer,
            Method::Update,
            Method::Prack,
            Method::Subscribe,
            Method::Notify,
            Method::Message,
            Method::Publish,
        ]),
        "X[A-Z]{1,8}".prop_map(Method::Other),
    ]
}

#[derive(Debug, Clone)]
struct Parts {
    vias: Vec<Via>,
    from: NameAddr,
    to: NameAddr,
    call_id: String,
    cseq: u32,
    contacts: Vec<NameAddr>,
    extra: Vec<(String, String)>,
    body: Vec<u8>,
}

fn parts() -> impl Strategy<Value = Parts> {
    (
        prop::collection::vec(via(), 1..4),
        name_addr(),
        name_addr(),
        "[A-Za-z0-9.@!%*_+`'~-]{1,24}",
        any::<u32>(),
        prop::collection::vec(name_addr(), 0..3),
        prop::collection::vec(
            ("X-[A-Za-z0-9-]{1,8}", "([!-~\u{e9}]([ -~]{0,12}[!-~])?)?"),
            0..3,
        ),
        prop::collection::vec(any::<u8>(), 0..80),
    )
        .prop_map(
            |(vias, from, to, call_id, cseq, contacts, extra, body)| Parts {
                vias,
                from,
                to,
                call_id,
                cseq,
                contacts,
                extra,
                body,
            },
        )
}

fn headers_for(p: &Parts, method: &Method) -> Headers {
    let mut h = Headers::default();
    // Two Vias on one line, the rest on their own lines.
    let mut vias = p.vias.iter();
    if let Some(first) = vias.next() {
        let mut line = first.to_string();
        if let Some(second) = vias.next() {
            line.push_str(", ");
            line.push_str(&second.to_string());
        }
        h.push(HeaderName::Via, line);
    }
    for v in vias {
        h.push(HeaderName::Via, v.to_string());
    }
    h.push(HeaderName::From, p.from.to_string());
    h.push(HeaderName::To, p.to.to_string());
    h.push(HeaderName::CallId, p.call_id.clone());
    h.push(
        HeaderName::CSeq,
        CSeq {
            seq: p.cseq,
            method: method.clone(),
        }
        .to_string(),
    );
    h.push(HeaderName::MaxForwards, "70");
    if !p.contacts.is_empty() {
        let list: Vec<String> = p.contacts.iter().map(|c| c.to_string()).collect();
        h.push(HeaderName::Contact, list.join(", "));
    }
    for (n, v) in &p.extra {
        h.push(HeaderName::parse(n), v.clone());
    }
    h
}

fn check_typed(m: &Message, p: &Parts) {
    let h = m.headers();
    assert_eq!(h.vias().expect("vias"), p.vias);
    assert_eq!(h.from().expect("from"), p.from);
    assert_eq!(h.to().expect("to"), p.to);
    assert_eq!(h.call_id().expect("call-id"), p.call_id);
    assert_eq!(h.cseq().expect("cseq").seq, p.cseq);
    assert_eq!(
        h.contacts().expect("contacts"),
        Contacts::List(p.contacts.clone())
    );
    assert_eq!(m.body().as_ref(), &p.body[..]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048), chunk in 1usize..300) {
        let _ = parse_datagram(&bytes, &Limits::default());
        let _ = parse_datagram_unvalidated(&bytes, &Limits::default());
        stream_in_chunks(&bytes, chunk);
        accepted_round_trips(&bytes);
    }

    #[test]
    fn sip_shaped_bytes_never_panic(
        lines in prop::collection::vec("[A-Za-z:;,<>\"@\\[\\] =./0-9%\\\\\t-]{0,40}", 0..12),
        first in prop::sample::select(vec!["INVITE sip:a@b SIP/2.0", "SIP/2.0 200 OK", "X y z", ""]),
        chunk in 1usize..64,
    ) {
        let text = format!("{first}\r\n{}\r\n\r\nbody", lines.join("\r\n"));
        let _ = parse_datagram(text.as_bytes(), &Limits::default());
        stream_in_chunks(text.as_bytes(), chunk);
        accepted_round_trips(text.as_bytes());
    }

    #[test]
    fn mutated_corpus_never_panics(
        idx in any::<prop::sample::Index>(),
        muts in prop::collection::vec(mutation(), 1..6),
        chunk in 1usize..200,
    ) {
        let corpus = corpus();
        let original = idx.get(&corpus).clone();
        let bytes = apply(original, &muts);
        let _ = parse_datagram(&bytes, &Limits::default());
        if let Ok(m) = parse_datagram_unvalidated(&bytes, &Limits::default()) {
            // Typed accessors on unvalidated input return errors, never panic.
            let h = m.headers();
            let _ = (h.vias(), h.from(), h.to(), h.call_id(), h.cseq(), h.contacts(), h.expires());
            let _ = (h.routes(), h.record_routes(), h.replaces(), h.session_expires(), h.retry_after());
            let _ = (h.auth(&HeaderName::Authorization), h.refer_to(), h.referred_by(), h.min_se());
        }
        stream_in_chunks(&bytes, chunk);
        accepted_round_trips(&bytes);
    }

    #[test]
    fn generated_requests_round_trip(m in method(), mut ruri in uri(), p in parts()) {
        // A Request-URI never carries ?headers (RFC 3261 §19.1.1); the parser rejects them.
        if let Uri::Sip(u) = &mut ruri {
            u.headers.clear();
        }
        let mut req = Request::new(m.clone(), ruri);
        req.headers = headers_for(&p, &m);
        req.body = Bytes::from(p.body.clone());
        let msg = Message::Request(req);
        let wire = msg.to_bytes();
        let parsed = parse_datagram(&wire, &Limits::default())
            .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&wire)));
        prop_assert_eq!(without_cl(&parsed), msg.clone());
        check_typed(&parsed, &p);
        let (streamed, used) = parse_stream(&wire, &Limits::default()).expect("stream");
        prop_assert_eq!(used, wire.len());
        prop_assert_eq!(streamed, parsed);
    }

    #[test]
    fn generated_responses_round_trip(code in 100u16..=699, reason in "[ -~\u{e9}]{0,20}", p in parts()) {
        let mut resp = Response::new(StatusCode(code));
        resp.reason = reason;
        resp.headers = headers_for(&p, &Method::Invite);
        resp.body = Bytes::from(p.body.clone());
        let msg = Message::Response(resp);
        let wire = msg.to_bytes();
        let parsed = parse_datagram(&wire, &Limits::default())
            .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&wire)));
        prop_assert_eq!(without_cl(&parsed), msg);
        check_typed(&parsed, &p);
    }

    #[test]
    fn uris_round_trip(u in uri()) {
        let printed = u.to_string();
        prop_assert_eq!(Uri::parse(&printed).expect("printed URI parses"), u);
    }

    #[test]
    fn name_addrs_round_trip(a in name_addr()) {
        prop_assert_eq!(NameAddr::parse(&a.to_string()).expect("printed name-addr parses"), a);
    }
}

//! Runs the RFC 4475 / RFC 5118 torture corpus (`shared/sip-torture`) through the parser
//! and checks every manifest verdict, plus chunked stream feeding of every file.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use switchboard_sip_message::{
    parse_datagram, parse_stream, Contacts, HeaderName, Host, Limits, Message, Method, ParseError,
    StatusCode, Uri,
};

fn corpus_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/sip-torture"
    ))
}

struct Entry {
    file: String,
    expect: String,
}

fn manifest() -> Vec<Entry> {
    let text = std::fs::read_to_string(corpus_dir().join("manifest.tsv")).expect("manifest.tsv");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            Entry {
                file: cols[0].to_owned(),
                expect: cols[2].to_owned(),
            }
        })
        .collect()
}

fn read(file: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join(file)).expect("corpus file")
}

/// The meaning of a message: everything but the Content-Length lines (which to_bytes rewrites).
fn normalised(m: &Message) -> Message {
    let mut m = m.clone();
    m.headers_mut().remove(&HeaderName::ContentLength);
    m
}

fn req(m: &Message) -> &switchboard_sip_message::Request {
    m.as_request().expect("request")
}

fn sip_host(u: &Uri) -> &Host {
    &u.as_sip().expect("sip uri").host
}

fn v6(s: &str) -> Host {
    Host::V6(s.parse::<Ipv6Addr>().unwrap())
}

/// The property named in the manifest note, where practical. Returns a description of what was checked.
fn check_property(name: &str, m: &Message) -> Option<&'static str> {
    let h = m.headers();
    match name {
        "wsinv" => {
            assert_eq!(
                h.get(&HeaderName::Other("UnknownHeaderWithUnusualValue".into())),
                Some(";;,,;;,;")
            );
            assert_eq!(h.max_forwards().unwrap(), Some(68));
            assert_eq!(h.cseq().unwrap().seq, 9);
            assert_eq!(h.vias().unwrap().len(), 3);
            assert_eq!(h.to().unwrap().tag(), Some("1918181833n"));
            assert_eq!(
                h.from().unwrap().display.as_deref(),
                Some("J Rosenberg \\\"")
            );
            assert_eq!(h.get(&HeaderName::Subject), Some(""));
            let Contacts::List(c) = h.contacts().unwrap() else {
                panic!()
            };
            assert_eq!(c[0].param("q"), Some(Some("0.33")));
            assert_eq!(
                req(m).uri.as_sip().unwrap().param("unknownparam"),
                Some(None)
            );
            Some("folded values, LWS, opaque unknown header, leading zeros")
        }
        "intmeth" => {
            assert_eq!(
                req(m).method,
                Method::Other("!interesting-Method0123456789_*+`.%indeed'~".into())
            );
            assert!(h.to().unwrap().display.unwrap().contains('\0'));
            Some("extension method kept, NUL in quoted display")
        }
        "esc01" => {
            assert_eq!(req(m).uri.user(), Some("sips:user@example.com"));
            assert_eq!(h.to().unwrap().uri.user(), Some("user"));
            assert_eq!(h.from().unwrap().uri.user(), Some("I have spaces"));
            let Contacts::List(c) = h.contacts().unwrap() else {
                panic!()
            };
            let u = c[0].uri.as_sip().unwrap();
            assert_eq!(u.user.as_deref(), Some("caller"));
            assert_eq!(u.param("lr"), Some(None));
            assert_eq!(u.param("name"), Some(Some("value%41")));
            Some("%-escapes decoded exactly once")
        }
        "escnull" => {
            assert_eq!(h.to().unwrap().uri.user(), Some("null-\0-null"));
            let Contacts::List(c) = h.contacts().unwrap() else {
                panic!()
            };
            assert_eq!(c.len(), 2);
            assert_eq!(c[0].uri.user(), Some("\0"));
            assert_eq!(c[1].uri.user(), Some("\0\0"));
            Some("%00 decodes to NUL without shortening; two distinct contacts")
        }
        "esc02" => {
            assert_eq!(req(m).method, Method::Other("RE%47IST%45R".into()));
            let Contacts::List(c) = h.contacts().unwrap() else {
                panic!()
            };
            assert_eq!(c.len(), 2);
            assert_eq!(h.to().unwrap().display.as_deref(), Some("%Z%45"));
            assert!(h.get(&HeaderName::Other("C%6Fntact".into())).is_some());
            Some("unknown method, 2 Contacts, literal % in display")
        }
        "lwsdisp" => {
            assert_eq!(h.from().unwrap().display.as_deref(), Some("caller"));
            Some("display name without LWS before <")
        }
        "longreq" => {
            assert_eq!(h.vias().unwrap().len(), 34);
            Some("34 Via values")
        }
        "dblreq" => {
            assert_eq!(req(m).method, Method::Register);
            assert!(m.body().is_empty());
            Some("trailing INVITE ignored")
        }
        "semiuri" => {
            assert_eq!(req(m).uri.user(), Some("user;par=u@example.net"));
            assert_eq!(sip_host(&req(m).uri), &Host::Name("example.com".into()));
            Some("user part user;par=u@example.net")
        }
        "transports" => {
            let t: Vec<String> = h.vias().unwrap().into_iter().map(|v| v.transport).collect();
            assert_eq!(t, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
            Some("five transports")
        }
        "mpart01" => {
            assert_eq!(Some(m.body().len()), h.content_length().unwrap());
            assert!(m.body().contains(&0));
            Some("binary body framed by Content-Length")
        }
        "unreason" => {
            let r = m.as_response().unwrap();
            assert!(r.reason.starts_with("= 2**3 * 5**2 "));
            assert!(!r.reason.is_ascii());
            Some("UTF-8 reason phrase")
        }
        "noreason" => {
            let r = m.as_response().unwrap();
            assert_eq!((r.status, r.reason.as_str()), (StatusCode::TRYING, ""));
            Some("empty reason phrase")
        }
        "badbranch" => {
            assert_eq!(h.top_via().unwrap().branch(), Some("z9hG4bK"));
            Some("bare magic cookie branch")
        }
        "bcast" => {
            assert_eq!(h.vias().unwrap()[1].host, Host::V4(Ipv4Addr::BROADCAST));
            Some("broadcast sent-by parsed")
        }
        "cparam01" => {
            let Contacts::List(c) = h.contacts().unwrap() else {
                panic!()
            };
            assert_eq!(c[0].param("unknownparam"), Some(None));
            assert_eq!(c[0].uri.as_sip().unwrap().param("unknownparam"), None);
            Some("unknownparam is a contact-param")
        }
        "cparam02" => {
            let Contacts::List(c) = h.contacts().unwrap() else {
                panic!()
            };
            assert_eq!(c[0].param("unknownparam"), None);
            assert_eq!(c[0].uri.as_sip().unwrap().param("unknownparam"), Some(None));
            Some("unknownparam is a url-parameter")
        }
        "regescrt" => {
            let Contacts::List(c) = h.contacts().unwrap() else {
                panic!()
            };
            let u = c[0].uri.as_sip().unwrap();
            assert_eq!(
                u.headers,
                vec![("Route".to_owned(), "<sip:sip.example.com>".to_owned())]
            );
            assert!(c[0]
                .to_string()
                .contains("?Route=%3Csip:sip.example.com%3E"));
            Some("escaped Route kept in contact URI")
        }
        "inv2543" => {
            assert_eq!(h.content_length().unwrap(), None);
            assert_eq!(m.body().len(), 105);
            assert_eq!(h.top_via().unwrap().branch(), None);
            Some("no Content-Length: body is the rest of the datagram")
        }
        "ipv6-good" => {
            assert_eq!(sip_host(&req(m).uri), &v6("2001:db8::10"));
            assert_eq!(h.top_via().unwrap().host, v6("2001:db8::9:1"));
            Some("IPv6 references in URI, Via, Contact")
        }
        "port-ambiguous" => {
            let u = req(m).uri.as_sip().unwrap();
            assert_eq!((&u.host, u.port), (&v6("2001:db8::10:5070"), None));
            Some("port stays inside the brackets")
        }
        "port-unambiguous" => {
            let u = req(m).uri.as_sip().unwrap();
            assert_eq!((&u.host, u.port), (&v6("2001:db8::10"), Some(5070)));
            Some("port after the brackets")
        }
        "via-received-param-with-delim" => {
            assert_eq!(h.top_via().unwrap().received(), Some("[2001:db8::9:255]"));
            Some("received=[...] accepted")
        }
        "via-received-param-no-delim" => {
            assert_eq!(h.top_via().unwrap().received(), Some("2001:db8::9:255"));
            Some("received=v6 accepted")
        }
        "mult-ip-in-header" => {
            let v = h.vias().unwrap();
            assert_eq!(v.len(), 3);
            assert_eq!((&v[0].host, v[0].port), (&v6("2001:db8::9:1"), Some(6050)));
            Some("mixed v4/v6 Vias")
        }
        "ipv4-mapped-ipv6" => {
            let v = h.top_via().unwrap();
            assert_eq!((v.host, v.port), (v6("::ffff:192.0.2.10"), Some(19823)));
            Some("IPv4-mapped IPv6")
        }
        "ipv6-bug-abnf-3-colons" => {
            assert_eq!(sip_host(&req(m).uri), &v6("2001:db8::192.0.2.1"));
            Some("three-colon form tolerated")
        }
        "ipv6-correct-abnf-2-colons" => {
            assert_eq!(sip_host(&req(m).uri), &v6("2001:db8::192.0.2.1"));
            Some("embedded IPv4")
        }
        _ => None,
    }
}

/// Feed `bytes` to parse_stream in chunks of `chunk`, draining complete messages. Returns the
/// messages parsed and the terminal error, if any. Must never panic or loop forever.
fn feed_stream(bytes: &[u8], chunk: usize) -> (Vec<Message>, Option<ParseError>) {
    let limits = Limits::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match parse_stream(&buf, &limits) {
                Ok((m, used)) => {
                    assert!(used > 0 && used <= buf.len());
                    buf.drain(..used);
                    out.push(m);
                }
                Err(ParseError::Incomplete) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

#[test]
fn torture_corpus_verdicts() {
    let limits = Limits::default();
    let entries = manifest();
    assert_eq!(entries.len(), 61, "manifest rows");
    let mut failures = Vec::new();
    let mut counts: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    let mut properties = 0usize;
    for e in &entries {
        let bytes = read(&e.file);
        let name = e
            .file
            .rsplit('/')
            .next()
            .unwrap()
            .trim_end_matches(".dat")
            .to_owned();
        let result = parse_datagram(&bytes, &limits);
        let ok = match (e.expect.as_str(), &result) {
            ("valid" | "valid-tricky", Ok(m)) => {
                let again = parse_datagram(&m.to_bytes(), &limits);
                match again {
                    Ok(m2) if normalised(&m2) == normalised(m) => {
                        if check_property(&name, m).is_some() {
                            properties += 1;
                        }
                        true
                    }
                    Ok(_) => {
                        failures.push(format!("{name}: round trip changed the meaning"));
                        false
                    }
                    Err(err) => {
                        failures.push(format!("{name}: printed form does not re-parse: {err}"));
                        false
                    }
                }
            }
            ("semantic", Ok(_)) => true,
            ("invalid", Err(err)) => {
                if err.is_incomplete() {
                    failures.push(format!("{name}: datagram said Incomplete"));
                    false
                } else {
                    println!("  invalid {name:<32} -> {err}");
                    true
                }
            }
            (expect, Ok(_)) => {
                failures.push(format!("{name}: expected {expect}, parsed Ok"));
                false
            }
            (expect, Err(err)) => {
                failures.push(format!("{name}: expected {expect}, got error {err}"));
                false
            }
        };
        let c = counts.entry(e.expect.clone()).or_default();
        c.1 += 1;
        if ok {
            c.0 += 1;
        }
    }
    println!("torture corpus summary (parse_datagram):");
    for (verdict, (pass, total)) in &counts {
        println!("  {verdict:<13} {pass}/{total}");
    }
    println!("  note properties checked: {properties}");
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
    assert_eq!(counts.values().map(|c| c.0).sum::<usize>(), 61);
}

#[test]
fn torture_corpus_in_stream_chunks_never_panics() {
    let limits = Limits::default();
    for e in manifest() {
        let bytes = read(&e.file);
        let whole = parse_stream(&bytes, &limits);
        for chunk in [1usize, 2, 3, 7, 16, 61, 512, 4096] {
            let (msgs, err) = feed_stream(&bytes, chunk);
            // Chunking never changes the outcome: same first message, same terminal error.
            match &whole {
                Ok((m, _)) => assert_eq!(msgs.first(), Some(m), "{} chunk {chunk}", e.file),
                Err(ParseError::Incomplete) => assert!(msgs.is_empty() && err.is_none()),
                Err(w) => assert_eq!(err.as_ref(), Some(w), "{} chunk {chunk}", e.file),
            }
        }
        // Where the datagram parse succeeds and the file is framed by Content-Length, the
        // stream parse must agree with it.
        if let (Ok(d), Ok((s, _))) = (parse_datagram(&bytes, &limits), &whole) {
            assert_eq!(&d, s, "{}", e.file);
        }
    }
}

#[test]
fn stream_rules_for_framing_cases() {
    let limits = Limits::default();
    // clerr: on a stream, wait for more data.
    assert_eq!(
        parse_stream(&read("rfc4475/clerr.dat"), &limits),
        Err(ParseError::Incomplete)
    );
    // ncl / mcl01: unrecoverable framing errors.
    assert!(matches!(
        parse_stream(&read("rfc4475/ncl.dat"), &limits),
        Err(ParseError::ContentLength(_))
    ));
    assert!(matches!(
        parse_stream(&read("rfc4475/mcl01.dat"), &limits),
        Err(ParseError::ContentLength(_))
    ));
    // inv2543 has no Content-Length: required on streams.
    assert!(matches!(
        parse_stream(&read("rfc4475/inv2543.dat"), &limits),
        Err(ParseError::ContentLength(_))
    ));
    // dblreq on a stream: two messages back to back.
    let bytes = read("rfc4475/dblreq.dat");
    let (first, used) = parse_stream(&bytes, &limits).unwrap();
    assert_eq!(first.as_request().unwrap().method, Method::Register);
    assert!(used < bytes.len());
}

//! Every `semantic` row of the RFC 4475/5118 torture manifest: the status our UAS policy gives
//! must be the one the manifest names for an endpoint (or a registrar, where the row is about
//! REGISTER processing).

use std::path::PathBuf;

use switchboard_sip::{check_request, options_response, UasPolicy};
use switchboard_sip_message::{parse_datagram, HeaderName, Limits, Message, StatusCode};

fn corpus() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/sip-torture"
    ))
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    Endpoint,
    Registrar,
}

/// (file, role whose verdict we check, expected status; None = processed normally, and the
/// text the manifest note must contain for that verdict).
const EXPECT: &[(&str, Role, Option<u16>, &str)] = &[
    (
        "rfc4475/badvers.dat",
        Role::Endpoint,
        Some(505),
        "status 505",
    ),
    (
        "rfc4475/mismatch02.dat",
        Role::Endpoint,
        Some(501),
        "status 501",
    ),
    ("rfc4475/insuf.dat", Role::Endpoint, Some(400), "status 400"),
    (
        "rfc4475/unkscm.dat",
        Role::Endpoint,
        Some(416),
        "status 416",
    ),
    (
        "rfc4475/novelsc.dat",
        Role::Endpoint,
        Some(416),
        "status 416",
    ),
    (
        "rfc4475/unksm2.dat",
        Role::Registrar,
        Some(400),
        "status 400 (registrar)",
    ),
    (
        "rfc4475/bext01.dat",
        Role::Endpoint,
        Some(420),
        "status 420",
    ),
    (
        "rfc4475/invut.dat",
        Role::Endpoint,
        Some(415),
        "status 415 (endpoint)",
    ),
    (
        "rfc4475/regaut01.dat",
        Role::Endpoint,
        Some(405),
        "endpoint not acting as registrar answers 405",
    ),
    // As registrar, the policy lets it through: 401 or a registration is the registrar's call.
    (
        "rfc4475/regaut01.dat",
        Role::Registrar,
        None,
        "registrar that does not ignores the header and registers",
    ),
    (
        "rfc4475/multi01.dat",
        Role::Endpoint,
        Some(400),
        "status 400",
    ),
    (
        "rfc4475/zeromf.dat",
        Role::Endpoint,
        None,
        "normal processing (endpoint)",
    ),
    (
        "rfc4475/sdp01.dat",
        Role::Endpoint,
        Some(406),
        "status 406 or 400",
    ),
    // Not semantic in the manifest: the message parser already rejects it (400); the policy's
    // own method/CSeq check is covered by a unit test.
    (
        "rfc4475/mismatch01.dat",
        Role::Endpoint,
        Some(400),
        "method/CSeq consistency check",
    ),
];

fn verdict(file: &str, role: Role) -> Option<u16> {
    let bytes = std::fs::read(corpus().join(file)).expect("corpus file");
    let req = match parse_datagram(&bytes, &Limits::default()) {
        Ok(Message::Request(r)) => r,
        Ok(Message::Response(_)) => panic!("{file}: expected a request"),
        // A request the parser rejects is answered 400 by the transport driver.
        Err(_) => return Some(400),
    };
    let policy = match role {
        Role::Endpoint => UasPolicy::default(),
        Role::Registrar => UasPolicy::with_registrar(),
    };
    match check_request(&req, &policy) {
        Ok(()) => {
            if req.method == switchboard_sip_message::Method::Options {
                let r = options_response(&req, &policy);
                assert_eq!(r.status, StatusCode::OK);
            }
            None
        }
        Err(resp) => {
            match resp.status.0 {
                420 => {
                    let u = resp
                        .headers
                        .get(&HeaderName::Unsupported)
                        .expect("Unsupported");
                    assert!(
                        u.contains("nothingSupportsThis")
                            && u.contains("nothingSupportsThisEither")
                    );
                    assert!(
                        !u.contains("noProxiesSupportThis"),
                        "Proxy-Require is a proxy's business"
                    );
                }
                405 | 501 => assert!(
                    resp.headers.get(&HeaderName::Allow).is_some(),
                    "{file}: Allow"
                ),
                415 => assert!(
                    resp.headers.get(&HeaderName::Accept).is_some(),
                    "{file}: Accept"
                ),
                _ => {}
            }
            Some(resp.status.0)
        }
    }
}

#[test]
fn every_semantic_row_gets_the_manifest_status() {
    let manifest = std::fs::read_to_string(corpus().join("manifest.tsv")).expect("manifest");
    let mut semantic = 0;
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, note) = (cols[0], cols[3]);
        let rows: Vec<_> = EXPECT.iter().filter(|e| e.0 == file).collect();
        if cols[2] == "semantic" {
            semantic += 1;
            assert!(
                !rows.is_empty(),
                "{file}: semantic row without an expectation"
            );
            assert!(note.starts_with("status"), "{file}");
        }
        for (f, role, want, quote) in rows {
            assert!(
                note.contains(quote),
                "{f}: manifest note no longer says {quote:?}"
            );
            if let Some(code) = want {
                assert!(note.contains(&code.to_string()), "{f}: note lacks {code}");
            }
            assert_eq!(verdict(f, *role), *want, "{f} as {role:?}");
        }
    }
    assert_eq!(semantic, 12);
}

#[test]
fn semantic_rows_reach_the_policy_at_all() {
    // The manifest says semantic messages parse at the message layer, so the verdicts above
    // come from the policy, not from a parse error turned into 400.
    for (file, ..) in EXPECT.iter().filter(|e| e.0 != "rfc4475/mismatch01.dat") {
        let bytes = std::fs::read(corpus().join(file)).expect("corpus file");
        assert!(
            parse_datagram(&bytes, &Limits::default()).is_ok(),
            "{file} does not parse"
        );
    }
}

/// Every `invalid` row: the parser (or, if it parses, the policy) rejects it; a request gets
/// a 400 (stateless from `reject_malformed` when it does not parse), a response nothing.
#[test]
fn every_invalid_row_is_answered_400_or_dropped() {
    let manifest = std::fs::read_to_string(corpus().join("manifest.tsv")).expect("manifest");
    let mut n = 0;
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols[2] != "invalid" {
            continue;
        }
        n += 1;
        let file = cols[0];
        let bytes = std::fs::read(corpus().join(file)).expect("corpus file");
        let is_response = bytes.starts_with(b"SIP/");
        match parse_datagram(&bytes, &Limits::default()) {
            Err(_) if is_response => {
                assert_eq!(switchboard_sip::reject_malformed(&bytes), None, "{file}")
            }
            Err(_) => {
                let r = switchboard_sip::reject_malformed(&bytes).expect(file);
                assert!(r.starts_with(b"SIP/2.0 400 Bad Request\r\n"), "{file}");
                assert!(
                    String::from_utf8_lossy(&r)
                        .to_ascii_lowercase()
                        .contains("\r\ncall-id:")
                        || !String::from_utf8_lossy(&bytes)
                            .to_ascii_lowercase()
                            .contains("\ncall-id:"),
                    "{file}: Call-ID copied"
                );
            }
            Ok(Message::Request(req)) => {
                let v = check_request(&req, &UasPolicy::with_registrar());
                assert_eq!(
                    v.err().map(|r| r.status.0),
                    Some(400),
                    "{file} parsed; policy must reject"
                );
            }
            Ok(Message::Response(_)) => panic!("{file}: an invalid response parsed"),
        }
    }
    assert_eq!(n, 19);
}

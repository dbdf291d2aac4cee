//! SDP parse/print: real-world bodies, typed errors, property tests.

use proptest::prelude::*;
use switchboard_sdp::{
    AddrType, Attribute, Connection, Direction, Fmtp, Limit, MediaDescription, MediaType, Origin,
    Rtpmap, SdpError, SessionDescription, Timing,
};

const OFFER: &str = "v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com\r\n\
s=-\r\n\
c=IN IP4 192.0.2.101\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8 97 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:97 iLBC/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:30\r\n\
a=sendrecv\r\n\
m=video 51372 RTP/AVP 31 32\r\n\
b=AS:512\r\n\
a=rtpmap:31 H261/90000\r\n\
a=rtpmap:32 MPV/90000\r\n";

#[test]
fn parses_rfc4317_style_offer() {
    let s = SessionDescription::parse(OFFER.as_bytes()).expect("valid");
    assert_eq!(s.origin.username, "alice");
    assert_eq!(s.origin.session_version, 2890844526);
    assert_eq!(
        s.connection.as_ref().and_then(Connection::ip),
        Some("192.0.2.101".parse().expect("ip"))
    );
    assert_eq!(s.timing, vec![Timing { start: 0, stop: 0 }]);
    assert_eq!(s.media.len(), 2);
    let a = &s.media[0];
    assert_eq!(a.media, MediaType::Audio);
    assert_eq!((a.port, a.protocol.as_str()), (49170, "RTP/AVP"));
    assert_eq!(a.formats, ["0", "8", "97", "101"]);
    assert_eq!(
        a.rtpmap(101).map(|r| r.encoding.as_str()),
        Some("telephone-event")
    );
    assert_eq!(a.fmtp("101"), Some("0-15"));
    assert_eq!(a.ptime(), Some(30));
    assert_eq!(a.direction_attr(), Some(Direction::SendRecv));
    assert_eq!(s.media[1].other_lines, vec![('b', "AS:512".to_owned())]);
    // Printing gives the same text back.
    assert_eq!(s.to_sdp_string(), OFFER);
}

#[test]
fn accepts_lf_only_and_ipv6() {
    let body = "v=0\no=- 1 2 IN IP6 2001:db8::1\ns=x\nc=IN IP6 2001:db8::2\nt=0 0\nm=audio 4000 RTP/AVP 0\na=inactive\nx=unknown\n";
    let s = SessionDescription::parse(body.as_bytes()).expect("valid");
    let c = s.connection.as_ref().expect("c");
    assert_eq!(c.addr_type, AddrType::Ip6);
    assert_eq!(c.ip(), Some("2001:db8::2".parse().expect("ip")));
    assert_eq!(s.direction(0), Direction::Inactive);
    assert!(s.is_hold());
    assert_eq!(s.media[0].other_lines, vec![('x', "unknown".to_owned())]);
}

#[test]
fn unknown_and_malformed_attributes_are_kept_verbatim() {
    let a = Attribute::parse("rtpmap:abc PCMU/8000");
    assert_eq!(
        a,
        Attribute::Other {
            name: "rtpmap".into(),
            value: Some("abc PCMU/8000".into())
        }
    );
    assert_eq!(a.to_text(), "rtpmap:abc PCMU/8000");
    let a = Attribute::parse("ice-ufrag:8hhY");
    assert_eq!(a.to_text(), "ice-ufrag:8hhY");
    assert_eq!(
        Attribute::parse("rtcp-mux"),
        Attribute::Other {
            name: "rtcp-mux".into(),
            value: None
        }
    );
    assert_eq!(
        Attribute::parse("rtpmap:9 G722/8000/1"),
        Attribute::Rtpmap(Rtpmap {
            payload_type: 9,
            encoding: "G722".into(),
            clock_rate: 8000,
            channels: Some(1)
        })
    );
    assert_eq!(
        Attribute::parse("ptime:020"),
        Attribute::Other {
            name: "ptime".into(),
            value: Some("020".into())
        }
    );
}

#[test]
fn typed_errors() {
    assert_eq!(SessionDescription::parse(b""), Err(SdpError::Missing('v')));
    assert_eq!(
        SessionDescription::parse(b"o=- 1 1 IN IP4 x\r\n"),
        Err(SdpError::Missing('v'))
    );
    assert_eq!(
        SessionDescription::parse(b"v=0\r\ns=-\r\n"),
        Err(SdpError::Missing('o'))
    );
    assert_eq!(
        SessionDescription::parse(b"v=1\r\n"),
        Err(SdpError::Malformed {
            line: 1,
            what: "v= must be 0"
        })
    );
    assert!(matches!(
        SessionDescription::parse(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 99999 RTP/AVP 0\r\n"),
        Err(SdpError::Malformed { line: 4, .. })
    ));
    assert!(matches!(
        SessionDescription::parse(b"v=0\r\no=- 1 1 IN IP4\r\n"),
        Err(SdpError::Malformed { line: 2, .. })
    ));
    assert_eq!(
        SessionDescription::parse(&[0xff, 0xfe]),
        Err(SdpError::NotText)
    );
    let big = vec![b'a'; 70_000];
    assert_eq!(
        SessionDescription::parse(&big),
        Err(SdpError::TooLarge {
            what: Limit::Size,
            max: 65536
        })
    );
    let mut many = String::from("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\n");
    for _ in 0..40 {
        many.push_str("m=audio 0 RTP/AVP 0\r\n");
    }
    assert_eq!(
        SessionDescription::parse(many.as_bytes()),
        Err(SdpError::TooLarge {
            what: Limit::Media,
            max: 32
        })
    );
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9.\\-]{1,12}"
}

fn arb_conn() -> impl Strategy<Value = Connection> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| Connection::new(std::net::IpAddr::from(b))),
        any::<[u16; 8]>().prop_map(|b| Connection::new(std::net::IpAddr::from(b))),
        token().prop_map(|h| Connection {
            net_type: "IN".into(),
            addr_type: AddrType::Other("X".into()),
            address: h
        }),
    ]
}

fn arb_attr() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        (
            0u8..128,
            token(),
            1u32..200_000,
            proptest::option::of(1u16..8)
        )
            .prop_map(|(pt, e, r, c)| {
                Attribute::Rtpmap(Rtpmap {
                    payload_type: pt,
                    encoding: e,
                    clock_rate: r,
                    channels: c,
                })
            }),
        (token(), "[ -~]{0,20}").prop_map(|(f, p)| Attribute::Fmtp(Fmtp {
            format: f,
            params: p
        })),
        (1u32..1000).prop_map(Attribute::Ptime),
        prop_oneof![
            Just(Direction::SendRecv),
            Just(Direction::SendOnly),
            Just(Direction::RecvOnly),
            Just(Direction::Inactive)
        ]
        .prop_map(Attribute::Direction),
        ("x-[a-z]{1,8}", proptest::option::of("[ -~]{0,20}"))
            .prop_map(|(name, value)| Attribute::Other { name, value }),
    ]
}

fn arb_media() -> impl Strategy<Value = MediaDescription> {
    (
        prop_oneof![
            Just(MediaType::Audio),
            Just(MediaType::Video),
            Just(MediaType::Other("application".into()))
        ],
        any::<u16>(),
        proptest::option::of(1u16..4),
        prop_oneof![
            Just("RTP/AVP".to_owned()),
            Just("RTP/SAVP".to_owned()),
            Just("udptl".to_owned())
        ],
        proptest::collection::vec("[0-9]{1,3}", 0..6),
        proptest::option::of(arb_conn()),
        proptest::collection::vec("AS:[0-9]{1,4}", 0..2),
        proptest::collection::vec(arb_attr(), 0..6),
    )
        .prop_map(
            |(media, port, port_count, protocol, formats, connection, b, attributes)| {
                MediaDescription {
                    media,
                    port,
                    port_count,
                    protocol,
                    formats,
                    connection,
                    other_lines: b.into_iter().map(|v| ('b', v)).collect(),
                    attributes,
                }
            },
        )
}

fn arb_sdp() -> impl Strategy<Value = SessionDescription> {
    (
        (token(), "[0-9]{1,10}", any::<u64>(), arb_conn()),
        "[ -~]{0,20}",
        proptest::option::of(arb_conn()),
        proptest::collection::vec((any::<u32>(), any::<u32>()), 0..2),
        proptest::collection::vec(arb_attr(), 0..4),
        proptest::collection::vec(arb_media(), 0..4),
    )
        .prop_map(
            |((user, id, version, oc), name, connection, t, attributes, media)| {
                SessionDescription {
                    origin: Origin {
                        username: user,
                        session_id: id,
                        session_version: version,
                        net_type: oc.net_type,
                        addr_type: oc.addr_type,
                        address: oc.address,
                    },
                    session_name: name,
                    connection,
                    timing: t
                        .into_iter()
                        .map(|(a, b)| Timing {
                            start: a.into(),
                            stop: b.into(),
                        })
                        .collect(),
                    other_lines: vec![],
                    attributes,
                    media,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = SessionDescription::parse(&b);
    }

    #[test]
    fn arbitrary_lines_never_panic(lines in proptest::collection::vec("[a-z]=[ -~]{0,40}", 0..20)) {
        let body = format!("v=0\r\n{}", lines.join("\r\n"));
        let _ = SessionDescription::parse(body.as_bytes());
    }

    #[test]
    fn roundtrip(s in arb_sdp()) {
        let text = s.to_sdp_string();
        prop_assert_eq!(SessionDescription::parse(text.as_bytes()), Ok(s));
    }
}

//! RFC 3264 offer/answer: codec choice, telephone-event, ptime, directions, rejected
//! streams, 488 on no common codec, our own offer and its answer, IPv6.

use switchboard_sdp::{
    answer, offer, process_answer, CodecPreference, Direction, LocalCaps, LocalMedia, MediaType,
    SdpError, SessionDescription,
};

fn local() -> LocalMedia {
    LocalMedia {
        address: "203.0.113.5".parse().expect("ip"),
        port: 30000,
        session_id: 42,
        session_version: 1,
        direction: Direction::SendRecv,
    }
}

fn remote_offer(m_lines: &str) -> SessionDescription {
    let body = format!(
        "v=0\r\no=bob 1 1 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n{m_lines}"
    );
    SessionDescription::parse(body.as_bytes()).expect("offer parses")
}

#[test]
fn first_common_codec_in_offerer_order_with_telephone_event_and_ptime() {
    let o = remote_offer(
        "m=audio 5004 RTP/AVP 18 8 0 96\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\na=ptime:30\r\n",
    );
    let (ans, neg) = answer(&o, &LocalCaps::default(), &local()).expect("negotiated");
    assert_eq!(
        (neg.codec.name.as_str(), neg.codec.payload_type),
        ("PCMA", 8)
    );
    assert_eq!(neg.telephone_event, Some(96));
    assert_eq!(neg.ptime, 30);
    assert_eq!(neg.direction, Direction::SendRecv);
    assert_eq!(neg.remote, Some("198.51.100.1:5004".parse().expect("addr")));
    let m = &ans.media[0];
    assert_eq!(m.formats, ["8", "96"]);
    assert_eq!(m.port, 30000);
    assert_eq!(m.fmtp("96"), Some("0-15"));
    assert_eq!(m.ptime(), Some(30));
    assert_eq!(
        m.rtpmap(96).map(|r| r.encoding.as_str()),
        Some("telephone-event")
    );
    assert_eq!(
        ans.connection.as_ref().map(|c| c.address.as_str()),
        Some("203.0.113.5")
    );
    // The answer is valid SDP that parses back to itself.
    assert_eq!(
        SessionDescription::parse(ans.to_sdp_string().as_bytes()),
        Ok(ans)
    );
}

#[test]
fn our_preference_when_configured() {
    let o = remote_offer("m=audio 5004 RTP/AVP 9 8 0\r\n");
    let caps = LocalCaps {
        preference: CodecPreference::Ours,
        ..LocalCaps::default()
    };
    let (_, neg) = answer(&o, &caps, &local()).expect("ok");
    assert_eq!(neg.codec.name, "PCMU");
    let (_, neg) = answer(&o, &LocalCaps::default(), &local()).expect("ok");
    assert_eq!(neg.codec.name, "G722", "offerer's order by default");
    assert_eq!(neg.telephone_event, None, "not offered");
}

#[test]
fn dynamic_pt_and_case_insensitive_names() {
    let o = remote_offer("m=audio 5004 RTP/AVP 112\r\na=rtpmap:112 pcmu/8000\r\n");
    let (ans, neg) = answer(&o, &LocalCaps::default(), &local()).expect("ok");
    assert_eq!(neg.codec.payload_type, 112, "answer uses the offer's PT");
    assert_eq!(ans.media[0].formats, ["112"]);
}

#[test]
fn directions_are_answered_and_hold_detected() {
    for (offered, answered, hold) in [
        ("sendrecv", Direction::SendRecv, false),
        ("sendonly", Direction::RecvOnly, true),
        ("recvonly", Direction::SendOnly, false),
        ("inactive", Direction::Inactive, true),
    ] {
        let o = remote_offer(&format!("m=audio 5004 RTP/AVP 0\r\na={offered}\r\n"));
        assert_eq!(o.is_hold(), hold, "{offered}");
        let (ans, neg) = answer(&o, &LocalCaps::default(), &local()).expect("ok");
        assert_eq!(neg.direction, answered, "{offered}");
        assert_eq!(ans.media[0].direction_attr(), Some(answered));
    }
    // RFC 2543 hold: c=0.0.0.0.
    let body = "v=0\r\no=- 1 2 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\n";
    let o = SessionDescription::parse(body.as_bytes()).expect("ok");
    assert!(o.is_hold());
    let (_, neg) = answer(&o, &LocalCaps::default(), &local()).expect("ok");
    assert_eq!(neg.remote, None);
    // Session-level direction applies to media without one.
    let body = "v=0\r\no=- 1 2 IN IP4 h\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\na=sendonly\r\nm=audio 5004 RTP/AVP 0\r\n";
    let o = SessionDescription::parse(body.as_bytes()).expect("ok");
    assert!(o.is_hold());
    // We put the peer on hold: we want sendonly, they offer sendrecv.
    let o = remote_offer("m=audio 5004 RTP/AVP 0\r\n");
    let l = LocalMedia {
        direction: Direction::SendOnly,
        ..local()
    };
    assert_eq!(
        answer(&o, &LocalCaps::default(), &l)
            .expect("ok")
            .1
            .direction,
        Direction::SendOnly
    );
}

#[test]
fn unsupported_streams_rejected_in_place() {
    let o = remote_offer(
        "m=video 6000 RTP/AVP 31\r\na=rtpmap:31 H261/90000\r\n\
         m=audio 5004 RTP/SAVP 0\r\n\
         m=audio 5006 RTP/AVP 97 0\r\na=rtpmap:97 opus/48000/2\r\n\
         m=audio 5008 RTP/AVP 0\r\n\
         m=image 7000 udptl t38\r\n",
    );
    let (ans, neg) = answer(&o, &LocalCaps::default(), &local()).expect("ok");
    assert_eq!(neg.media_index, 2);
    assert_eq!(neg.codec.name, "PCMU");
    let ports: Vec<_> = ans.media.iter().map(|m| m.port).collect();
    assert_eq!(ports, [0, 0, 30000, 0, 0]);
    let kinds: Vec<_> = ans.media.iter().map(|m| m.media.clone()).collect();
    assert_eq!(kinds[0], MediaType::Video);
    assert_eq!(kinds[4], MediaType::Other("image".into()));
    assert_eq!(ans.media[4].formats, ["t38"]);
    assert_eq!(ans.media[1].protocol, "RTP/SAVP");
}

#[test]
fn no_common_codec_is_488() {
    let o = remote_offer("m=audio 5004 RTP/AVP 18 97\r\na=rtpmap:97 opus/48000/2\r\n");
    assert_eq!(
        answer(&o, &LocalCaps::default(), &local()),
        Err(SdpError::NoCommonCodec)
    );
    let o = remote_offer("m=video 6000 RTP/AVP 31\r\n");
    assert_eq!(
        answer(&o, &LocalCaps::default(), &local()),
        Err(SdpError::NoCommonCodec)
    );
    // Telephone-event alone is not a codec.
    let o = remote_offer("m=audio 5004 RTP/AVP 101\r\na=rtpmap:101 telephone-event/8000\r\n");
    assert_eq!(
        answer(&o, &LocalCaps::default(), &local()),
        Err(SdpError::NoCommonCodec)
    );
}

#[test]
fn our_offer_and_the_answer_to_it() {
    let o = offer(&LocalCaps::default(), &local());
    let text = o.to_sdp_string();
    assert!(
        text.contains("m=audio 30000 RTP/AVP 0 8 9 101\r\n"),
        "{text}"
    );
    assert!(text.contains("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"));
    assert!(text.contains("a=ptime:20\r\na=sendrecv\r\n"));
    assert!(text.starts_with(
        "v=0\r\no=switchboard 42 1 IN IP4 203.0.113.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\n"
    ));

    // The remote answers with PCMA and its own telephone-event PT, on hold (recvonly).
    let ans = remote_offer(
        "m=audio 7078 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na=recvonly\r\n",
    );
    let neg = process_answer(&o, &ans, &LocalCaps::default()).expect("ok");
    assert_eq!(neg.codec.name, "PCMA");
    assert_eq!(neg.telephone_event, Some(101));
    assert_eq!(neg.direction, Direction::SendOnly);
    assert_eq!(neg.remote, Some("198.51.100.1:7078".parse().expect("addr")));

    // Rejected, or a different number of m= lines.
    let rej = remote_offer("m=audio 0 RTP/AVP 0\r\n");
    assert_eq!(
        process_answer(&o, &rej, &LocalCaps::default()),
        Err(SdpError::NoCommonCodec)
    );
    let two = remote_offer("m=audio 7078 RTP/AVP 0\r\nm=video 0 RTP/AVP 31\r\n");
    assert!(matches!(
        process_answer(&o, &two, &LocalCaps::default()),
        Err(SdpError::AnswerMismatch(_))
    ));

    // Our offer answered by our own answerer round-trips through text.
    let parsed = SessionDescription::parse(text.as_bytes()).expect("ok");
    let (a2, n2) = answer(&parsed, &LocalCaps::default(), &local()).expect("ok");
    assert_eq!(n2.codec.name, "PCMU");
    assert_eq!(n2.telephone_event, Some(101));
    assert_eq!(
        process_answer(&o, &a2, &LocalCaps::default())
            .expect("ok")
            .codec
            .name,
        "PCMU"
    );
}

#[test]
fn ipv6_connection_addresses() {
    let body = "v=0\r\no=- 1 1 IN IP6 2001:db8::9\r\ns=-\r\nc=IN IP6 2001:db8::9\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\n";
    let o = SessionDescription::parse(body.as_bytes()).expect("ok");
    let l = LocalMedia {
        address: "2001:db8::5".parse().expect("ip"),
        ..local()
    };
    let (ans, neg) = answer(&o, &LocalCaps::default(), &l).expect("ok");
    assert_eq!(
        neg.remote,
        Some("[2001:db8::9]:5004".parse().expect("addr"))
    );
    let text = ans.to_sdp_string();
    assert!(
        text.contains("o=switchboard 42 1 IN IP6 2001:db8::5\r\n"),
        "{text}"
    );
    assert!(text.contains("c=IN IP6 2001:db8::5\r\n"));
    // A mismatched address type gives no usable address.
    let body = "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 2001:db8::9\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\n";
    let o = SessionDescription::parse(body.as_bytes()).expect("ok");
    assert_eq!(
        answer(&o, &LocalCaps::default(), &local())
            .expect("ok")
            .1
            .remote,
        None
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn m_line() -> impl Strategy<Value = String> {
        (
            prop_oneof![Just("audio"), Just("video"), Just("image"), Just("text")],
            prop_oneof![Just(0u16), 1000u16..60000],
            prop_oneof![
                Just("RTP/AVP"),
                Just("RTP/SAVP"),
                Just("RTP/AVPF"),
                Just("udptl")
            ],
            proptest::collection::vec(
                prop_oneof![Just(0u8), Just(8), Just(9), Just(18), 96u8..128],
                1..5,
            ),
            proptest::collection::vec(
                prop_oneof![
                    (
                        96u8..128,
                        prop_oneof![
                            Just("PCMU/8000"),
                            Just("telephone-event/8000"),
                            Just("opus/48000/2"),
                            Just("G722/8000"),
                            Just("telephone-event/16000")
                        ]
                    )
                        .prop_map(|(pt, e)| format!("a=rtpmap:{pt} {e}")),
                    prop_oneof![
                        Just("a=sendonly"),
                        Just("a=recvonly"),
                        Just("a=inactive"),
                        Just("a=sendrecv"),
                        Just("a=ptime:30"),
                        Just("a=rtcp-mux")
                    ]
                    .prop_map(str::to_owned),
                ],
                0..5,
            ),
        )
            .prop_map(|(media, port, proto, fmts, attrs)| {
                let f: Vec<String> = fmts.iter().map(u8::to_string).collect();
                let mut s = format!("m={media} {port} {proto} {}\r\n", f.join(" "));
                for a in attrs {
                    s.push_str(&a);
                    s.push_str("\r\n");
                }
                s
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Any offer gets an answer with the same m= lines in the same order (exactly one
        /// accepted audio stream whose codec was offered), or NoCommonCodec/Srtp; the answer
        /// parses back to itself and `process_answer` agrees with the answerer.
        #[test]
        fn answers_are_consistent(lines in proptest::collection::vec(m_line(), 0..5)) {
            let o = remote_offer(&lines.concat());
            match answer(&o, &LocalCaps::default(), &local()) {
                Ok((a, neg)) => {
                    prop_assert_eq!(a.media.len(), o.media.len());
                    for (x, y) in a.media.iter().zip(&o.media) {
                        prop_assert_eq!(&x.media, &y.media);
                    }
                    prop_assert_eq!(a.media.iter().filter(|m| m.port != 0).count(), 1);
                    prop_assert!(o.media[neg.media_index].formats.contains(&neg.codec.payload_type.to_string()));
                    let text = a.to_sdp_string();
                    prop_assert_eq!(SessionDescription::parse(text.as_bytes()), Ok(a.clone()));
                    let back = process_answer(&o, &a, &LocalCaps::default()).expect("own answer is acceptable");
                    prop_assert_eq!(back.codec, neg.codec);
                    prop_assert_eq!(back.telephone_event, neg.telephone_event);
                }
                // An SAVP stream with a codec we have is an SRTP refusal (SRTP is off).
                Err(e) => prop_assert!(
                    e == SdpError::NoCommonCodec || matches!(e, SdpError::Srtp(_)),
                    "{e:?}"
                ),
            }
        }
    }
}

fn offer_with_c(c_line: &str, m_lines: &str) -> SessionDescription {
    let body = format!("v=0\r\no=bob 1 1 IN IP4 198.51.100.1\r\ns=-\r\n{c_line}t=0 0\r\n{m_lines}");
    SessionDescription::parse(body.as_bytes()).expect("offer parses")
}

#[test]
fn an_offer_needs_a_usable_connection_address() {
    use switchboard_sdp::check_connection;
    let m = "m=audio 5004 RTP/AVP 0\r\n";
    assert_eq!(
        check_connection(&offer_with_c("c=IN IP4 198.51.100.1\r\n", m), 0),
        Ok(())
    );
    // Media-level c= is enough; IPv6 too.
    assert_eq!(
        check_connection(
            &offer_with_c("", "m=audio 5004 RTP/AVP 0\r\nc=IN IP6 2001:db8::1\r\n"),
            0
        ),
        Ok(())
    );
    let refused = [
        ("", m),
        ("c=IN IP4 not-an-address\r\n", m),
        ("c=IN IP4 2001:db8::1\r\n", m),
        ("c=IN IP4 224.0.0.1\r\n", m),
        ("c=IN IP4 255.255.255.255\r\n", m),
        ("c=IN IP4 0.0.0.0\r\n", m),
        ("c=IN IP6 ::\r\n", m),
    ];
    for (c, m) in refused {
        assert!(
            matches!(
                check_connection(&offer_with_c(c, m), 0),
                Err(SdpError::NoConnectionAddress(_))
            ),
            "{c:?} accepted"
        );
    }
    // 0.0.0.0 on a stream offered on hold is fine.
    assert_eq!(
        check_connection(
            &offer_with_c(
                "c=IN IP4 0.0.0.0\r\n",
                "m=audio 5004 RTP/AVP 0\r\na=sendonly\r\n"
            ),
            0
        ),
        Ok(())
    );
    assert_eq!(
        check_connection(
            &offer_with_c(
                "c=IN IP4 0.0.0.0\r\n",
                "m=audio 5004 RTP/AVP 0\r\na=inactive\r\n"
            ),
            0
        ),
        Ok(())
    );
}

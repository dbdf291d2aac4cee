//! SDES offer/answer (RFC 4568) under each SRTP policy: SAVP offers answered with our own
//! key, refused when SRTP is off or no suite matches, plain offers refused when SRTP is
//! required, our own offers and the answers to them.

use switchboard_sdp::{
    answer, offer, process_answer, Direction, LocalCaps, LocalMedia, MasterKey, SdpError,
    SessionDescription, SrtpMode, Suite,
};

const THEIR_KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

fn local() -> LocalMedia {
    LocalMedia {
        address: "203.0.113.5".parse().expect("ip"),
        port: 30000,
        session_id: 42,
        session_version: 1,
        direction: Direction::SendRecv,
    }
}

fn our_key() -> MasterKey {
    MasterKey::new([0x11; 16], [0x22; 14])
}

fn caps(mode: fn(MasterKey) -> SrtpMode) -> LocalCaps {
    LocalCaps {
        srtp: mode(our_key()),
        ..LocalCaps::default()
    }
}

fn off(_: MasterKey) -> SrtpMode {
    SrtpMode::Off
}

fn remote(m_lines: &str) -> SessionDescription {
    let body = format!(
        "v=0\r\no=bob 1 1 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n{m_lines}"
    );
    SessionDescription::parse(body.as_bytes()).expect("parses")
}

fn savp_offer() -> SessionDescription {
    remote(&format!(
        "m=audio 5004 RTP/SAVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n\
         a=crypto:3 AES_256_CM_HMAC_SHA1_80 inline:{THEIR_KEY}{THEIR_KEY}\r\n\
         a=crypto:7 AES_CM_128_HMAC_SHA1_32 inline:{THEIR_KEY}|2^31\r\n"
    ))
}

#[test]
fn savp_offer_gets_savp_answer_with_our_fresh_key_under_optional_and_required() {
    for mode in [SrtpMode::Optional as fn(_) -> _, SrtpMode::Required] {
        let (ans, neg) = answer(&savp_offer(), &caps(mode), &local()).expect("negotiated");
        let m = &ans.media[0];
        assert_eq!(m.protocol, "RTP/SAVP");
        let lines: Vec<_> = m.crypto().collect();
        assert_eq!(lines.len(), 1, "exactly one crypto line in the answer");
        let c = lines[0].clone().expect("ours parses");
        assert_eq!((c.tag, c.suite), (7, Suite::AesCm128HmacSha1_32));
        assert_eq!(c.key, our_key(), "our key, not theirs");
        let keys = neg.srtp.expect("srtp negotiated");
        assert_eq!(keys.suite, Suite::AesCm128HmacSha1_32);
        assert_eq!(keys.send, our_key());
        assert_ne!(keys.receive, our_key());
        // The printed answer parses back to the same crypto line.
        let back = SessionDescription::parse(ans.to_sdp_string().as_bytes()).expect("parses");
        assert_eq!(back.media[0].first_supported_crypto(), Some(c));
        assert!(!ans.to_sdp_string().contains(THEIR_KEY));
    }
}

#[test]
fn savp_offer_is_refused_when_srtp_is_off_or_no_suite_matches() {
    assert!(matches!(
        answer(&savp_offer(), &caps(off), &local()),
        Err(SdpError::Srtp(_))
    ));
    let unsupported = remote(&format!(
        "m=audio 5004 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{THEIR_KEY}|2^20|1:4\r\n"
    ));
    assert!(matches!(
        answer(&unsupported, &caps(SrtpMode::Required), &local()),
        Err(SdpError::Srtp(_))
    ));
    let none = remote("m=audio 5004 RTP/SAVP 0\r\n");
    assert!(matches!(
        answer(&none, &caps(SrtpMode::Optional), &local()),
        Err(SdpError::Srtp(_))
    ));
}

#[test]
fn plain_offer_is_refused_only_when_srtp_is_required() {
    let plain = remote("m=audio 5004 RTP/AVP 0\r\n");
    assert_eq!(
        answer(&plain, &caps(SrtpMode::Required), &local()).map(|_| ()),
        Err(SdpError::Srtp("SRTP is required for this leg"))
    );
    for mode in [off as fn(_) -> _, SrtpMode::Optional] {
        let (ans, neg) = answer(&plain, &caps(mode), &local()).expect("plain ok");
        assert_eq!(neg.srtp, None);
        assert_eq!(ans.media[0].protocol, "RTP/AVP");
        assert_eq!(ans.media[0].crypto().count(), 0);
    }
    // A plain codec mismatch is still "no common codec", not an SRTP refusal.
    let g729 = remote("m=audio 5004 RTP/AVP 18\r\n");
    assert_eq!(
        answer(&g729, &caps(SrtpMode::Required), &local()).map(|_| ()),
        Err(SdpError::NoCommonCodec)
    );
}

#[test]
fn avp_offer_with_crypto_gets_srtp_unless_off() {
    let best_effort = remote(&format!(
        "m=audio 5004 RTP/AVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{THEIR_KEY}\r\n"
    ));
    let (ans, neg) = answer(&best_effort, &caps(SrtpMode::Required), &local()).expect("ok");
    assert_eq!(ans.media[0].protocol, "RTP/AVP");
    assert!(neg.srtp.is_some());
    let (ans, neg) = answer(&best_effort, &caps(off), &local()).expect("ok");
    assert_eq!(neg.srtp, None);
    assert_eq!(ans.media[0].crypto().count(), 0);
}

#[test]
fn our_offers_and_their_answers() {
    let o = offer(&caps(SrtpMode::Required), &local());
    assert_eq!(o.media[0].protocol, "RTP/SAVP");
    let c = o.media[0].first_supported_crypto().expect("crypto");
    assert_eq!(
        (c.tag, c.suite, &c.key),
        (1, Suite::AesCm128HmacSha1_80, &our_key())
    );
    let o_opt = offer(&caps(SrtpMode::Optional), &local());
    assert_eq!(o_opt.media[0].protocol, "RTP/AVP");
    assert!(o_opt.media[0].first_supported_crypto().is_some());
    let o_off = offer(&caps(off), &local());
    assert_eq!(o_off.media[0].crypto().count(), 0);

    let good = remote(&format!(
        "m=audio 6000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{THEIR_KEY}\r\n"
    ));
    let neg = process_answer(&o, &good, &caps(SrtpMode::Required)).expect("ok");
    let keys = neg.srtp.expect("srtp");
    assert_eq!(keys.send, our_key());
    assert_ne!(keys.receive, our_key());

    let plain = remote("m=audio 6000 RTP/AVP 0\r\n");
    assert!(matches!(
        process_answer(&o, &plain, &caps(SrtpMode::Required)),
        Err(SdpError::Srtp(_))
    ));
    assert_eq!(
        process_answer(&o_opt, &plain, &caps(SrtpMode::Optional))
            .expect("optional falls back")
            .srtp,
        None
    );
    let wrong_tag = remote(&format!(
        "m=audio 6000 RTP/SAVP 0\r\na=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{THEIR_KEY}\r\n"
    ));
    assert!(matches!(
        process_answer(&o, &wrong_tag, &caps(SrtpMode::Required)),
        Err(SdpError::Srtp(_))
    ));
}

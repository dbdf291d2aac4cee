//! Fuzz SDES in `switchboard-sdp`: the `a=crypto` attribute parser (`crypto.rs`) and
//! offer/answer with crypto lines under the SRTP policies `Optional` and `Required`.
//! A separate target from `sdp` (which answers with SRTP off, so it never reaches the
//! crypto negotiation). The first byte picks what the rest of the input is:
//!
//! - 0: one `a=crypto` value. Any text gives Ok or a typed error; an accepted value prints
//!   to text that parses to the same line.
//! - 1: a whole SDP offer, answered under both policies.
//! - 2+: lines of `a=crypto` values (and other attributes) inside a fixed audio offer whose
//!   profile the first byte picks (RTP/AVP or RTP/SAVP), answered under both policies.
//!
//! Answering checks: the answer prints and re-parses; it carries a crypto line exactly when
//! the stream is SRTP, echoing the offer's first supported line's tag and suite with our
//! key; the keys are ours (send) and the offer's (receive); `Required` never answers with
//! plain RTP. The input is also treated as the peer's answer to our own offer: no panic,
//! the keys we send with are ours, and `Required` never accepts plain RTP.
//!
//! Run: `./target/x86_64-unknown-linux-gnu/release/sdp_crypto -runs=10000000` from `fuzz/`
//! after `RUSTC_BOOTSTRAP=1 cargo fuzz build -O sdp_crypto`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_sdp::{
    answer, offer, process_answer, Crypto, Direction, LocalCaps, LocalMedia, MasterKey,
    SessionDescription, SrtpMode,
};

fn local() -> LocalMedia {
    LocalMedia {
        address: "127.0.0.1".parse().expect("ip"),
        port: 20000,
        session_id: 1,
        session_version: 1,
        direction: Direction::SendRecv,
    }
}

fn our_key() -> MasterKey {
    MasterKey::new(*b"switchboard-ours", *b"our-salt-01234")
}

fn modes() -> [SrtpMode; 2] {
    [SrtpMode::Optional(our_key()), SrtpMode::Required(our_key())]
}

fn caps(srtp: SrtpMode) -> LocalCaps {
    LocalCaps {
        srtp,
        ..LocalCaps::default()
    }
}

fn crypto_value(text: &str) {
    if let Ok(c) = Crypto::parse(text) {
        assert_eq!(Crypto::parse(&c.to_value()), Ok(c), "printed crypto parses");
    }
}

fn answer_offer(offer_sdp: &SessionDescription) {
    for mode in modes() {
        let required = mode.required();
        let ours = caps(mode);
        let Ok((ans, neg)) = answer(offer_sdp, &ours, &local()) else {
            continue;
        };
        let printed = ans.to_string();
        let reparsed =
            SessionDescription::parse(printed.as_bytes()).expect("printed answer parses");
        let m = &ans.media[neg.media_index];
        let offered = &offer_sdp.media[neg.media_index];
        let line = m.first_supported_crypto();
        assert_eq!(
            reparsed.media[neg.media_index].first_supported_crypto(),
            line,
            "crypto line survives printing"
        );
        match &neg.srtp {
            Some(keys) => {
                let line = line.expect("an SRTP answer carries a crypto line");
                let theirs = offered
                    .first_supported_crypto()
                    .expect("SRTP negotiated from an offered crypto line");
                assert_eq!(line.tag, theirs.tag, "answer echoes the tag");
                assert_eq!(line.suite, theirs.suite, "answer echoes the suite");
                assert_eq!(keys.suite, theirs.suite);
                assert_eq!(line.key, our_key(), "answer carries our key");
                assert_eq!(keys.send, our_key());
                assert_eq!(keys.receive, theirs.key);
            }
            None => {
                assert!(!required, "Required answered with plain RTP");
                assert!(line.is_none(), "a plain RTP answer carries a crypto line");
                assert!(!m.is_savp(), "a plain RTP answer on RTP/SAVP");
            }
        }
    }
}

/// The input as the peer's answer to our offer under each policy.
fn as_answer(ans: &SessionDescription) {
    for mode in modes() {
        let required = mode.required();
        let ours = caps(mode);
        let our_offer = offer(&ours, &local());
        if let Ok(neg) = process_answer(&our_offer, ans, &ours) {
            match neg.srtp {
                Some(keys) => assert_eq!(keys.send, our_key()),
                None => assert!(!required, "Required accepted a plain RTP answer"),
            }
        }
    }
}

fn template(savp: bool, lines: &str) -> String {
    let mut s =
        String::from("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n");
    s.push_str(if savp {
        "m=audio 4000 RTP/SAVP 0 8 101\r\n"
    } else {
        "m=audio 4000 RTP/AVP 0 8 101\r\n"
    });
    for line in lines.split('\n').take(16) {
        let line = line.trim_end_matches('\r');
        if line.starts_with("a=") {
            s.push_str(line);
        } else {
            s.push_str("a=crypto:");
            s.push_str(line);
        }
        s.push_str("\r\n");
    }
    s
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode {
        0 => {
            if let Ok(text) = std::str::from_utf8(rest) {
                crypto_value(text);
            }
        }
        1 => {
            if let Ok(sdp) = SessionDescription::parse(rest) {
                answer_offer(&sdp);
                as_answer(&sdp);
            }
        }
        _ => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            for line in text.split('\n') {
                crypto_value(line.trim_end_matches('\r'));
            }
            let sdp_text = template(mode & 1 == 1, text);
            if let Ok(sdp) = SessionDescription::parse(sdp_text.as_bytes()) {
                answer_offer(&sdp);
                as_answer(&sdp);
            }
        }
    }
});

//! Fuzz the SDP parser and offer/answer: any bytes give Ok or a typed error; an accepted
//! description prints to text that parses again, and answering it never panics.
//! Run: `cargo +nightly fuzz run sdp` from `fuzz/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_sdp::{Direction, LocalCaps, LocalMedia, SessionDescription};

fuzz_target!(|data: &[u8]| {
    if let Ok(sdp) = SessionDescription::parse(data) {
        let printed = sdp.to_string();
        SessionDescription::parse(printed.as_bytes()).expect("printed SDP parses");
        let local = LocalMedia {
            address: "127.0.0.1".parse().expect("ip"),
            port: 20000,
            session_id: 1,
            session_version: 1,
            direction: Direction::SendRecv,
        };
        let _ = switchboard_sdp::answer(&sdp, &LocalCaps::default(), &local);
    }
});

//! Fuzz the RTP, RTCP and RFC 4733 parsers: any bytes give Ok or a typed error, and an
//! accepted RTP packet serialises back to bytes that parse to the same packet.
//! Run: `cargo +nightly fuzz run rtp_packet` from `fuzz/`.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use switchboard_rtp::{parse_compound, RtpPacket, TelephoneEvent};

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    if let Ok(p) = RtpPacket::parse(bytes.clone()) {
        let again = RtpPacket::parse(p.to_bytes()).expect("serialised RTP parses");
        assert_eq!(again.header, p.header);
        assert_eq!(again.payload, p.payload);
    }
    let _ = parse_compound(&bytes);
    let _ = TelephoneEvent::parse(data);
});

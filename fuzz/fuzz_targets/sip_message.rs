//! Fuzz the SIP message parser: any bytes must give Ok or a typed error, and whatever is
//! accepted must print to bytes that parse again to the same message (Content-Length aside).
//! Run: `cargo +nightly fuzz run sip_message` from `fuzz/`. Seed with
//! `shared/sip-torture/rfc*/*.dat`. Minimised crashes become regression tests in
//! `crates/sip-message/tests/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_sip_message::{
    parse_datagram, parse_datagram_unvalidated, parse_stream, HeaderName, Limits, Message,
};

fn without_cl(m: &Message) -> Message {
    let mut m = m.clone();
    m.headers_mut().remove(&HeaderName::ContentLength);
    m
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(m) = parse_datagram(data, &limits) {
        let printed = m.to_bytes();
        let big = Limits {
            max_message: usize::MAX,
            ..Limits::default()
        };
        let again = parse_datagram(&printed, &big).expect("printed form parses");
        assert_eq!(without_cl(&again), without_cl(&m));
    }
    // Typed accessors over unvalidated headers: errors, never panics.
    if let Ok(m) = parse_datagram_unvalidated(data, &limits) {
        let h = m.headers();
        let _ = (
            h.vias(),
            h.from(),
            h.to(),
            h.call_id(),
            h.cseq(),
            h.contacts(),
        );
        let _ = (
            h.routes(),
            h.replaces(),
            h.session_expires(),
            h.retry_after(),
        );
        let _ = h.auth(&HeaderName::WwwAuthenticate);
    }
    // Stream framing: drain every complete message from the buffer.
    let mut rest = data;
    while let Ok((_, used)) = parse_stream(rest, &limits) {
        assert!(used > 0 && used <= rest.len());
        rest = &rest[used..];
    }
});

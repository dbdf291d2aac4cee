//! Protect/unprotect behaviour: a known-answer packet, round trips across a sequence
//! number wrap, replay, reordering and tamper rejection, SRTCP.

use switchboard_srtp::{MasterKey, SrtpContext, SrtpError, Suite};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).expect("hex")
}

fn master() -> MasterKey {
    MasterKey::from_concatenated(&h(
        "E1F97A0D3E018BE0D64FA32C06DE4139 0EC675AD498AFEEBB6960B3AABE6",
    ))
    .expect("30 bytes")
}

fn rtp(seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn protect(ctx: &mut SrtpContext, pkt: &[u8]) -> Vec<u8> {
    let mut buf = pkt.to_vec();
    buf.resize(pkt.len() + ctx.rtp_overhead(), 0);
    let n = ctx.protect_rtp(&mut buf, pkt.len()).expect("protect");
    buf.truncate(n);
    buf
}

fn unprotect(ctx: &mut SrtpContext, pkt: &[u8]) -> Result<Vec<u8>, SrtpError> {
    let mut buf = pkt.to_vec();
    let n = ctx.unprotect_rtp(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// A packet protected under the RFC 3711 B.3 master key, as other implementations
/// produce it (the well-known reference packet: header 800f1234 decafbad cafebabe,
/// sixteen 0xab payload bytes).
#[test]
fn known_answer_packet() {
    let plain = h("800f1234decafbadcafebabe abababababababababababababababab");
    let mut tx = SrtpContext::new(Suite::AesCm128HmacSha1_80, &master());
    let srtp = protect(&mut tx, &plain);
    assert_eq!(
        hex::encode(&srtp),
        "800f1234decafbadcafebabe4e55dc4ce79978d88ca4d215949d2402b78d6acc99ea179b8dbb"
    );
    let mut rx = SrtpContext::new(Suite::AesCm128HmacSha1_80, &master());
    assert_eq!(unprotect(&mut rx, &srtp).expect("unprotect"), plain);
    // The _32 suite: the same packet with the tag cut to 32 bits.
    let mut tx32 = SrtpContext::new(Suite::AesCm128HmacSha1_32, &master());
    assert_eq!(protect(&mut tx32, &plain)[..], srtp[..32]);
}

/// The SRTCP reference packet for the same master key (a sender report header, sixteen
/// 0xab bytes), with SRTCP index 1.
#[test]
fn known_answer_rtcp_packet() {
    let plain = h("81c8000bcafebabe abababababababababababababababab");
    let mut tx = SrtpContext::new(Suite::AesCm128HmacSha1_80, &master());
    let mut buf = plain.clone();
    buf.resize(plain.len() + tx.rtcp_overhead(), 0);
    tx.protect_rtcp(&mut buf, plain.len()).expect("index 0");
    let mut buf = plain.clone();
    buf.resize(plain.len() + tx.rtcp_overhead(), 0);
    let n = tx.protect_rtcp(&mut buf, plain.len()).expect("index 1");
    assert_eq!(
        hex::encode(&buf[..n]),
        "81c8000bcafebabe7128035be487b9bdbef89041f977a5a880000001993e08cd54d6c1230798"
    );
}

#[test]
fn round_trip_across_sequence_wrap_tracks_the_rollover_counter() {
    for suite in [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32] {
        let mut tx = SrtpContext::new(suite, &master());
        let mut rx = SrtpContext::new(suite, &master());
        let mut seq: u16 = 65_500;
        for i in 0..200u32 {
            let payload: Vec<u8> = (0..160).map(|b| (b as u32 + i) as u8).collect();
            let plain = rtp(seq, 0x1234_5678, &payload);
            let srtp = protect(&mut tx, &plain);
            assert_eq!(srtp.len(), plain.len() + suite.rtp_tag_len());
            assert_eq!(srtp[..12], plain[..12], "header stays in the clear");
            assert_ne!(srtp[12..172], plain[12..], "payload is encrypted");
            assert_eq!(unprotect(&mut rx, &srtp).expect("unprotect"), plain);
            seq = seq.wrapping_add(1);
        }
        // After the wrap the index includes ROC 1: a receiver that starts fresh (ROC 0)
        // at the same sequence number computes another keystream and fails to verify.
        let plain = rtp(seq, 0x1234_5678, &[1; 160]);
        let srtp = protect(&mut tx, &plain);
        let mut fresh = SrtpContext::new(suite, &master());
        assert_eq!(
            unprotect(&mut fresh, &srtp),
            Err(SrtpError::AuthenticationFailed)
        );
        assert_eq!(unprotect(&mut rx, &srtp).expect("in order"), plain);
    }
}

#[test]
fn reordering_across_the_wrap_is_accepted() {
    let mut tx = SrtpContext::new(Suite::AesCm128HmacSha1_80, &master());
    let mut rx = SrtpContext::new(Suite::AesCm128HmacSha1_80, &master());
    let pkts: Vec<Vec<u8>> = [65_534u16, 65_535, 0, 1]
        .iter()
        .map(|s| protect(&mut tx, &rtp(*s, 7, &[*s as u8; 20])))
        .collect();
    // 65534, 0 (ROC 1), then the late 65535 (ROC 0), then 1.
    for i in [0, 2, 1, 3] {
        unprotect(&mut rx, &pkts[i]).expect("accepted");
    }
}

#[test]
fn replays_and_stale_packets_are_refused() {
    let mut tx = SrtpContext::new(Suite::AesCm128HmacSha1_80, &master());
    let mut rx = SrtpContext::new(Suite::AesCm128HmacSha1_80, &master());
    let pkts: Vec<Vec<u8>> = (0..100u16)
        .map(|s| protect(&mut tx, &rtp(s, 9, &[0x55; 160])))
        .collect();
    unprotect(&mut rx, &pkts[0]).expect("first");
    assert_eq!(unprotect(&mut rx, &pkts[0]), Err(SrtpError::Replayed));
    for p in &pkts[1..100] {
        unprotect(&mut rx, p).expect("in order");
    }
    assert_eq!(unprotect(&mut rx, &pkts[99]), Err(SrtpError::Replayed));
    assert_eq!(unprotect(&mut rx, &pkts[10]), Err(SrtpError::TooOld));
    // A refused packet changes no state: the next new packet still goes through.
    let next = protect(&mut tx, &rtp(100, 9, &[0x55; 160]));
    unprotect(&mut rx, &next).expect("next");
}

#[test]
fn tampering_and_wrong_keys_fail_authentication_without_changing_state() {
    let mut tx = SrtpContext::new(Suite::AesCm128HmacSha1_32, &master());
    let mut rx = SrtpContext::new(Suite::AesCm128HmacSha1_32, &master());
    let good = protect(&mut tx, &rtp(5, 3, &[0x11; 160]));
    for at in [1usize, 3, 11, 12, 100, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        assert_eq!(
            unprotect(&mut rx, &bad),
            Err(SrtpError::AuthenticationFailed),
            "byte {at}"
        );
    }
    let mut other = SrtpContext::new(
        Suite::AesCm128HmacSha1_32,
        &MasterKey::new([7; 16], [9; 14]),
    );
    assert_eq!(
        unprotect(&mut other, &good),
        Err(SrtpError::AuthenticationFailed)
    );
    unprotect(&mut rx, &good).expect("the genuine packet still verifies");
}

#[test]
fn short_or_garbage_input_is_an_error_not_a_panic() {
    let mut rx = SrtpContext::new(Suite::AesCm128HmacSha1_80, &master());
    for len in 0..40 {
        let mut junk = vec![0x80u8; len];
        assert!(rx.unprotect_rtp(&mut junk).is_err());
        let mut junk = vec![0x90u8; len];
        assert!(rx.unprotect_rtp(&mut junk).is_err());
        let mut junk = vec![0x81u8; len];
        assert!(rx.unprotect_rtcp(&mut junk).is_err());
    }
    let mut tx = SrtpContext::new(Suite::AesCm128HmacSha1_80, &master());
    let mut small = rtp(1, 1, &[0; 10]);
    let len = small.len();
    assert_eq!(
        tx.protect_rtp(&mut small, len),
        Err(SrtpError::BufferTooSmall)
    );
}

fn rtcp_rr(ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x81, 201, 0x00, 0x07];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xab; 24]);
    p
}

#[test]
fn srtcp_round_trip_replay_and_tamper() {
    for suite in [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32] {
        let mut tx = SrtpContext::new(suite, &master());
        let mut rx = SrtpContext::new(suite, &master());
        let plain = rtcp_rr(0xcafe_babe);
        let mut sent = Vec::new();
        for _ in 0..3 {
            let mut buf = plain.clone();
            buf.resize(plain.len() + tx.rtcp_overhead(), 0);
            let n = tx.protect_rtcp(&mut buf, plain.len()).expect("protect");
            assert_eq!(
                n,
                plain.len() + 14,
                "E|index and an 80-bit tag for both suites"
            );
            assert_eq!(buf[..8], plain[..8]);
            assert_ne!(buf[8..plain.len()], plain[8..]);
            sent.push(buf);
        }
        // E flag set, indices 0, 1, 2.
        for (i, p) in sent.iter().enumerate() {
            let trailer = &p[plain.len()..plain.len() + 4];
            assert_eq!(trailer, &(0x8000_0000u32 | i as u32).to_be_bytes());
        }
        for p in &sent {
            let mut b = p.clone();
            let n = rx.unprotect_rtcp(&mut b).expect("unprotect");
            assert_eq!(b[..n], plain[..]);
        }
        let mut again = sent[1].clone();
        assert_eq!(rx.unprotect_rtcp(&mut again), Err(SrtpError::Replayed));
        let mut bad = plain.clone();
        bad.resize(plain.len() + tx.rtcp_overhead(), 0);
        tx.protect_rtcp(&mut bad, plain.len()).expect("protect");
        bad[10] ^= 0x80;
        assert_eq!(
            rx.unprotect_rtcp(&mut bad),
            Err(SrtpError::AuthenticationFailed)
        );
    }
}

proptest::proptest! {
    #[test]
    fn unprotect_is_total(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        let mut rx = SrtpContext::new(Suite::AesCm128HmacSha1_80, &master());
        let mut a = bytes.clone();
        let _ = rx.unprotect_rtp(&mut a);
        let mut b = bytes;
        let _ = rx.unprotect_rtcp(&mut b);
    }
}

/// A context keeps four streams; a fifth SSRC evicts the oldest, whose rollover counter and
/// replay window are then gone. Its packets are refused from then on: a captured one cannot
/// be replayed, and we never protect under an SSRC whose keystream indices restarted.
#[test]
fn an_evicted_ssrc_is_refused_not_replayed_nor_reused() {
    let mut tx = SrtpContext::new(Suite::AesCm128HmacSha1_80, &master());
    let mut rx = SrtpContext::new(Suite::AesCm128HmacSha1_80, &master());
    let first = protect(&mut tx, &rtp(1, 1, b"first stream"));
    assert!(unprotect(&mut rx, &first).is_ok());
    for ssrc in 2..=5 {
        let p = protect(&mut tx, &rtp(1, ssrc, b"another stream"));
        assert!(unprotect(&mut rx, &p).is_ok(), "ssrc {ssrc}");
    }
    // SSRC 1 was evicted on both sides by SSRC 5.
    assert_eq!(unprotect(&mut rx, &first), Err(SrtpError::RetiredStream));
    let mut buf = rtp(2, 1, b"again");
    let len = buf.len();
    buf.resize(len + tx.rtp_overhead(), 0);
    assert_eq!(tx.protect_rtp(&mut buf, len), Err(SrtpError::RetiredStream));
    // The live streams are untouched, and a new SSRC still gets a stream.
    let p = protect(&mut tx, &rtp(2, 5, b"live"));
    assert!(unprotect(&mut rx, &p).is_ok());
    let p = protect(&mut tx, &rtp(1, 6, b"new"));
    assert!(unprotect(&mut rx, &p).is_ok());
    // SRTCP of a retired SSRC is refused too.
    let mut c = rtcp_rr(2);
    let n = c.len();
    c.resize(n + tx.rtcp_overhead(), 0);
    assert_eq!(tx.protect_rtcp(&mut c, n), Err(SrtpError::RetiredStream));
}

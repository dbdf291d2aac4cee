//! Fuzz SRTP/SRTCP (`switchboard-srtp`) with a fixed master key. The first byte picks
//! what the rest of the input is:
//!
//! - 0–1: one SRTP packet (suite _80 or _32) unprotected as received. Arbitrary bytes give
//!   Ok or a typed error; an accepted packet is refused when it arrives again (replay).
//! - 2: one SRTCP packet, the same.
//! - 3: an RTP packet: if `switchboard-rtp` parses it, protect then unprotect (both suites)
//!   gives back the same bytes; the same for an RTCP compound packet.
//! - 4+: a script of packets sent over one sender/receiver pair: each step sends fresh
//!   packets (sequence jumps up to 2^15 − 1, so rollovers happen), delivers one of them
//!   (in order, late, or again), or delivers a tampered copy. Checked against a model of
//!   48-bit indices: a replay, a tampered or a too-old packet is never accepted; a fresh
//!   packet within the window is always accepted and decrypts to what was sent, across
//!   rollovers; SRTCP the same with its 31-bit index.
//!
//! Run: `./target/x86_64-unknown-linux-gnu/release/srtp_unprotect -runs=10000000` from
//! `fuzz/` after `RUSTC_BOOTSTRAP=1 cargo fuzz build -O srtp_unprotect`.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use switchboard_rtp::{parse_compound, RtpPacket};
use switchboard_srtp::{MasterKey, SrtpContext, SrtpError, Suite};

const KEY: [u8; 16] = *b"switchboard-fuzz";
const SALT: [u8; 14] = *b"srtp-salt-1234";

fn context(suite: Suite) -> SrtpContext {
    SrtpContext::new(suite, &MasterKey::new(KEY, SALT))
}

fn suite_of(b: u8) -> Suite {
    if b & 1 == 0 {
        Suite::AesCm128HmacSha1_80
    } else {
        Suite::AesCm128HmacSha1_32
    }
}

/// Arbitrary bytes as a received SRTP (or SRTCP) packet.
fn unprotect_once(data: &[u8], suite: Suite, rtcp: bool) {
    let mut rx = context(suite);
    let mut buf = data.to_vec();
    let got = if rtcp {
        rx.unprotect_rtcp(&mut buf)
    } else {
        rx.unprotect_rtp(&mut buf)
    };
    if let Ok(len) = got {
        let trailer = if rtcp {
            4 + suite.rtcp_tag_len()
        } else {
            suite.rtp_tag_len()
        };
        assert_eq!(len + trailer, data.len(), "plaintext length");
        let mut again = data.to_vec();
        let second = if rtcp {
            rx.unprotect_rtcp(&mut again)
        } else {
            rx.unprotect_rtp(&mut again)
        };
        assert_eq!(second, Err(SrtpError::Replayed), "a replay is refused");
    }
}

/// protect → unprotect gives back what `switchboard-rtp` accepts as RTP or RTCP.
fn round_trip(data: &[u8]) {
    let bytes = Bytes::copy_from_slice(data);
    let rtp = RtpPacket::parse(bytes.clone()).is_ok();
    // SRTCP needs the sender SSRC of the first packet (bytes 4..8) for its IV: a lone
    // 4-byte RTCP header (an empty BYE) is valid RTCP but cannot be protected.
    let rtcp = data.len() >= 8 && parse_compound(&bytes).is_ok();
    for suite in [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32] {
        for (ok, is_rtcp) in [(rtp, false), (rtcp, true)] {
            if !ok {
                continue;
            }
            let (mut tx, mut rx) = (context(suite), context(suite));
            let mut buf = data.to_vec();
            buf.resize(data.len() + 4 + suite.rtcp_tag_len(), 0);
            let sent = if is_rtcp {
                tx.protect_rtcp(&mut buf, data.len())
            } else {
                tx.protect_rtp(&mut buf, data.len())
            }
            .expect("a parsed packet protects");
            let wire = &mut buf[..sent];
            let got = if is_rtcp {
                rx.unprotect_rtcp(wire)
            } else {
                rx.unprotect_rtp(wire)
            }
            .expect("what we protected unprotects");
            assert_eq!(&wire[..got], data, "round trip (rtcp: {is_rtcp})");
        }
    }
}

/// A packet in flight: its SSRC slot, its model index, plaintext and SRTP bytes.
struct Sent {
    rtcp: bool,
    stream: usize,
    index: u64,
    plain: Vec<u8>,
    wire: Vec<u8>,
    delivered: bool,
}

/// Sender-side model of one SSRC.
struct Stream {
    ssrc: u32,
    seq: u16,
    /// Model index of the last RTP packet sent (`None` before the first).
    rtp_index: Option<u64>,
    rtcp_index: u64,
    /// Receiver-side: highest accepted RTP / RTCP index.
    rtp_top: Option<u64>,
    rtcp_top: Option<u64>,
}

/// How far back the receiver must still accept a fresh packet (RFC 3711 minimum).
const WINDOW: u64 = 64;
/// How many SSRCs the script uses: no more than the context follows, so no stream state
/// is evicted and the model stays exact.
const SSRCS: usize = 3;
/// Bounds the work per input.
const MAX_PACKETS: usize = 512;

fn script(data: &[u8]) {
    let Some((&head, mut rest)) = data.split_first() else {
        return;
    };
    let suite = suite_of(head >> 1);
    let (mut tx, mut rx) = (context(suite), context(suite));
    let mut streams: Vec<Stream> = (0..SSRCS)
        .map(|i| Stream {
            ssrc: 0x5157_0000 + i as u32,
            seq: u16::from(head)
                .wrapping_mul(257)
                .wrapping_add(i as u16 * 0x3000),
            rtp_index: None,
            rtcp_index: 0,
            rtp_top: None,
            rtcp_top: None,
        })
        .collect();
    let mut sent: Vec<Sent> = Vec::new();
    let mut take = |n: usize| -> Option<Vec<u8>> {
        let (a, b) = (rest.get(..n)?, rest.get(n..)?);
        rest = b;
        Some(a.to_vec())
    };
    while let Some(step) = take(3) {
        let (op, a, b) = (step[0], step[1], step[2]);
        let s = usize::from(op >> 4) % SSRCS;
        match op & 0x0f {
            // Send an RTP packet `delta` ahead (1..=2^15-1) with a payload of `b % 48` bytes.
            0..=5 if sent.len() < MAX_PACKETS => {
                let st = &mut streams[s];
                let delta = (u16::from(a) << 7 | u16::from(b)) % 0x7fff + 1;
                let delta = if op & 0x0f < 4 { delta % 4 + 1 } else { delta };
                let index = match st.rtp_index {
                    None => u64::from(st.seq),
                    Some(i) => {
                        st.seq = st.seq.wrapping_add(delta);
                        i + u64::from(delta)
                    }
                };
                st.rtp_index = Some(index);
                let mut plain = vec![0x80, 0x00];
                plain.extend_from_slice(&st.seq.to_be_bytes());
                plain.extend_from_slice(&(index as u32).wrapping_mul(160).to_be_bytes());
                plain.extend_from_slice(&st.ssrc.to_be_bytes());
                plain.extend((0..b % 48).map(|i| i ^ a));
                let mut wire = plain.clone();
                wire.resize(plain.len() + suite.rtp_tag_len(), 0);
                let n = tx.protect_rtp(&mut wire, plain.len()).expect("protect RTP");
                assert_eq!(n, wire.len());
                sent.push(Sent {
                    rtcp: false,
                    stream: s,
                    index,
                    plain,
                    wire,
                    delivered: false,
                });
            }
            // Send an SRTCP packet (a receiver report with no blocks, `b % 16` padding words).
            6 if sent.len() < MAX_PACKETS => {
                let st = &mut streams[s];
                let words = b % 16;
                let mut plain = vec![0x80, 201, 0, 1 + words];
                plain.extend_from_slice(&st.ssrc.to_be_bytes());
                plain.extend((0..4 * usize::from(words)).map(|i| i as u8 ^ a));
                let mut wire = plain.clone();
                wire.resize(plain.len() + 4 + suite.rtcp_tag_len(), 0);
                let n = tx
                    .protect_rtcp(&mut wire, plain.len())
                    .expect("protect RTCP");
                assert_eq!(n, wire.len());
                sent.push(Sent {
                    rtcp: true,
                    stream: s,
                    index: st.rtcp_index,
                    plain,
                    wire,
                    delivered: false,
                });
                st.rtcp_index += 1;
            }
            // Deliver packet number `a` (or the newest), possibly tampered with at byte `b`.
            7..=15 if !sent.is_empty() => {
                let pick = if op & 0x0f >= 12 {
                    sent.len() - 1
                } else {
                    usize::from(a) % sent.len()
                };
                let tamper = op & 0x0f == 11;
                deliver(&mut rx, suite, &mut sent[pick], &mut streams, tamper, b);
            }
            _ => {}
        }
    }
}

fn deliver(
    rx: &mut SrtpContext,
    suite: Suite,
    p: &mut Sent,
    streams: &mut [Stream],
    tamper: bool,
    at: u8,
) {
    let mut buf = p.wire.clone();
    if tamper {
        let i = usize::from(at) % buf.len();
        buf[i] ^= 0x01 | at;
    }
    let got = if p.rtcp {
        rx.unprotect_rtcp(&mut buf)
    } else {
        rx.unprotect_rtp(&mut buf)
    };
    let st = &mut streams[p.stream];
    let top = if p.rtcp { st.rtcp_top } else { st.rtp_top };
    if tamper {
        // A 32-bit tag is forged by chance once in 2^32 tries: too often for 10^7 runs
        // of many packets each, so only the 80-bit tags are held to "never".
        if p.rtcp || suite == Suite::AesCm128HmacSha1_80 {
            assert!(got.is_err(), "a tampered packet was accepted: {got:?}");
        }
        return;
    }
    if p.delivered {
        // Refused as a replay or too old, or (far behind the top, where the index
        // estimate picks another rollover counter) as failing authentication.
        assert!(
            got.is_err(),
            "a replay (index {}, rtcp {}) was accepted",
            p.index,
            p.rtcp
        );
        return;
    }
    // Fresh: it must be accepted when it is within the window (and, for RTP, within the
    // half sequence space that the index estimate of RFC 3711 §3.3.1 covers; the first
    // RTP packet must be of rollover counter 0).
    let must = match (p.rtcp, top) {
        (true, None) => true,
        (true, Some(t)) => p.index + WINDOW > t,
        (false, None) => p.index < 1 << 16,
        (false, Some(t)) => p.index + WINDOW > t && p.index <= t + 0x7fff,
    };
    match got {
        Ok(len) => {
            assert_eq!(&buf[..len], &p.plain[..], "decrypts to what was sent");
            p.delivered = true;
            let top = if p.rtcp {
                &mut st.rtcp_top
            } else {
                &mut st.rtp_top
            };
            *top = Some(top.map_or(p.index, |t| t.max(p.index)));
        }
        Err(e) => assert!(
            !must,
            "fresh packet (index {}, top {top:?}, rtcp {}) refused: {e:?}",
            p.index, p.rtcp
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode {
        0 | 1 => unprotect_once(rest, suite_of(mode), false),
        2 => {
            unprotect_once(rest, Suite::AesCm128HmacSha1_80, true);
            unprotect_once(rest, Suite::AesCm128HmacSha1_32, true);
        }
        3 => round_trip(rest),
        _ => script(rest),
    }
});

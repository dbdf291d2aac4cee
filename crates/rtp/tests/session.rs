//! RtpSession: strict sources and NAT latching, no sending before confirmation, SSRC change, timestamp jumps, inactivity,
//! outgoing numbering and RTCP (SR/RR, RTT, BYE), on a simulated clock.

mod netem;

use bytes::{Bytes, BytesMut};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use switchboard_rtp::{
    parse_compound, Channel, Latching, NtpClock, Rejected, RtcpPacket, RtpHeader, RtpPacket,
    RtpSession, RtpSessionConfig, SessionEvent, SessionOutput,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("addr")
}

fn config(t0: Instant) -> RtpSessionConfig {
    let mut c = RtpSessionConfig::new(
        NtpClock {
            at: t0,
            ntp: 0xE8000000_00000000,
        },
        Bytes::from_static(b"leg@switchboard"),
        0,
    );
    c.remote = Some(addr("192.0.2.10:40000"));
    c.confirmed = true;
    c
}

fn pkt(ssrc: u32, seq: u16, ts: u32) -> Bytes {
    RtpPacket::new(
        RtpHeader::new(0, seq, ts, ssrc),
        Bytes::from_static(&[0xff; 160]),
    )
    .to_bytes()
}

fn events(s: &mut RtpSession) -> Vec<SessionEvent> {
    let mut v = vec![];
    while let Some(o) = s.poll_output() {
        if let SessionOutput::Event(e) = o {
            v.push(e);
        }
    }
    v
}

#[test]
fn strict_by_default_only_the_sdp_address_is_accepted() {
    let t0 = netem::epoch();
    let mut s = RtpSession::new(t0, config(t0), &mut SmallRng::seed_from_u64(1));
    let sdp = addr("192.0.2.10:40000");
    // A sprayer is dropped and counted, even first and with a plausible SSRC.
    let evil = addr("203.0.113.66:5004");
    assert_eq!(
        s.handle_rtp(t0, evil, pkt(9, 1, 0)),
        Err(Rejected::ForeignSource)
    );
    // The SDP's IP on another port is foreign too.
    assert_eq!(
        s.handle_rtp(t0, addr("192.0.2.10:40002"), pkt(9, 1, 0)),
        Err(Rejected::ForeignSource)
    );
    assert_eq!(s.latched(), None);
    assert!(
        events(&mut s).is_empty(),
        "nothing reported for foreign packets"
    );
    assert!(s.handle_rtp(t0 + ms(20), sdp, pkt(9, 1, 0)).is_ok());
    assert_eq!(s.latched(), Some(sdp));
    let ev = events(&mut s);
    assert_eq!(ev[0], SessionEvent::Latched(sdp));
    assert_eq!(ev[1], SessionEvent::SsrcChanged { old: None, new: 9 });
    assert_eq!(
        s.handle_rtp(t0 + ms(40), evil, pkt(9, 2, 160)),
        Err(Rejected::ForeignSource)
    );
    assert!(s.handle_rtp(t0 + ms(40), sdp, pkt(9, 2, 160)).is_ok());
    assert_eq!(s.stats().foreign_dropped, 3);
    assert!(matches!(
        s.handle_rtp(t0, sdp, Bytes::from_static(b"junk")),
        Err(Rejected::Malformed(_))
    ));
    assert_eq!(s.stats().malformed, 1);
}

fn rtcp_rr(ssrc: u32) -> Bytes {
    let mut buf = BytesMut::new();
    switchboard_rtp::write_compound(
        &[RtcpPacket::ReceiverReport(
            switchboard_rtp::ReceiverReport {
                ssrc,
                reports: vec![],
                extension: Bytes::new(),
            },
        )],
        &mut buf,
    );
    buf.freeze()
}

#[test]
fn strict_rtcp_comes_from_the_sdp_ip_on_the_rtp_port_or_the_next() {
    let t0 = netem::epoch();
    let mut s = RtpSession::new(t0, config(t0), &mut SmallRng::seed_from_u64(1));
    assert_eq!(
        s.handle_rtcp(t0, addr("203.0.113.66:40001"), rtcp_rr(9)),
        Err(Rejected::ForeignSource)
    );
    assert_eq!(
        s.handle_rtcp(t0, addr("192.0.2.10:40005"), rtcp_rr(9)),
        Err(Rejected::ForeignSource)
    );
    assert!(s
        .handle_rtcp(t0, addr("192.0.2.10:40001"), rtcp_rr(9))
        .is_ok());
    assert!(s
        .handle_rtcp(t0, addr("192.0.2.10:40000"), rtcp_rr(9))
        .is_ok());
    assert_eq!(s.stats().foreign_dropped, 2);
}

fn nat_config(t0: Instant, signalling: &str) -> RtpSessionConfig {
    let mut c = config(t0);
    // Behind NAT: the SDP names a private address we cannot reach.
    c.remote = Some(addr("10.0.0.5:4000"));
    c.latching = Latching::Signalling {
        ip: signalling.parse().expect("ip"),
        window: switchboard_rtp::NAT_LATCH_WINDOW,
    };
    c
}

#[test]
fn nat_latches_only_the_signalling_ip_within_the_window() {
    let t0 = netem::epoch();
    let mut s = RtpSession::new(
        t0,
        nat_config(t0, "198.51.100.7"),
        &mut SmallRng::seed_from_u64(1),
    );
    let nat = addr("198.51.100.7:61000");
    // Another IP may not latch, even inside the window.
    assert_eq!(
        s.handle_rtp(t0 + ms(10), addr("203.0.113.66:5004"), pkt(9, 1, 0)),
        Err(Rejected::ForeignSource)
    );
    assert!(s.handle_rtp(t0 + ms(1500), nat, pkt(9, 1, 0)).is_ok());
    assert_eq!(s.latched(), Some(nat));
    assert_eq!(
        s.remote(),
        Some(nat),
        "symmetric RTP: answer where it came from"
    );
    assert_eq!(events(&mut s)[0], SessionEvent::Latched(nat));
    // Latched: the same IP on another port is foreign now.
    assert_eq!(
        s.handle_rtp(t0 + ms(1520), addr("198.51.100.7:61002"), pkt(9, 2, 160)),
        Err(Rejected::ForeignSource)
    );
    // RTCP from the latched IP, any port (NATs map it separately).
    assert!(s
        .handle_rtcp(t0 + ms(1520), addr("198.51.100.7:61999"), rtcp_rr(9))
        .is_ok());
    assert_eq!(
        s.handle_rtcp(t0 + ms(1520), addr("203.0.113.66:61001"), rtcp_rr(9)),
        Err(Rejected::ForeignSource)
    );
    assert_eq!(s.stats().foreign_dropped, 3);
}

#[test]
fn nat_window_closes_after_two_seconds() {
    let t0 = netem::epoch();
    let mut s = RtpSession::new(
        t0,
        nat_config(t0, "198.51.100.7"),
        &mut SmallRng::seed_from_u64(1),
    );
    assert_eq!(
        s.handle_rtp(t0 + ms(2001), addr("198.51.100.7:61000"), pkt(9, 1, 0)),
        Err(Rejected::ForeignSource)
    );
    // The SDP address itself is still accepted.
    assert!(s
        .handle_rtp(t0 + ms(2100), addr("10.0.0.5:4000"), pkt(9, 1, 0))
        .is_ok());
    // A re-INVITE's new address opens a new window.
    let mut s = RtpSession::new(
        t0,
        nat_config(t0, "198.51.100.7"),
        &mut SmallRng::seed_from_u64(1),
    );
    s.set_remote(t0 + ms(5000), Some(addr("10.0.0.5:4002")));
    assert!(s
        .handle_rtp(t0 + ms(6000), addr("198.51.100.7:61000"), pkt(9, 1, 0))
        .is_ok());
}

#[test]
fn nothing_is_sent_before_the_remote_is_confirmed() {
    let t0 = netem::epoch();
    let mut c = config(t0);
    c.confirmed = false;
    let mut s = RtpSession::new(t0, c, &mut SmallRng::seed_from_u64(1));
    let mut out = BytesMut::with_capacity(512);
    assert_eq!(s.write_rtp(t0, &[0xd5; 160], 160, &mut out), None);
    assert!(out.is_empty());
    // No RTCP either, however long we wait.
    for i in 1..=30 {
        s.handle_timeout(t0 + Duration::from_secs(i));
    }
    while let Some(o) = s.poll_output() {
        assert!(
            !matches!(o, SessionOutput::Transmit { .. }),
            "sent before confirmation: {o:?}"
        );
    }
    assert_eq!(s.stats().packets_sent, 0);
    s.confirm();
    assert_eq!(
        s.write_rtp(t0 + ms(31_000), &[0xd5; 160], 160, &mut out),
        Some(addr("192.0.2.10:40000"))
    );
}

#[test]
fn rtp_from_the_remote_confirms_it_but_foreign_rtp_does_not() {
    let t0 = netem::epoch();
    let mut c = config(t0);
    c.confirmed = false;
    let mut s = RtpSession::new(t0, c, &mut SmallRng::seed_from_u64(1));
    let mut out = BytesMut::with_capacity(512);
    let _ = s.handle_rtp(t0, addr("203.0.113.66:5004"), pkt(9, 1, 0));
    assert!(!s.is_confirmed());
    assert_eq!(s.write_rtp(t0, &[0xd5; 160], 160, &mut out), None);
    s.handle_rtp(t0 + ms(20), addr("192.0.2.10:40000"), pkt(9, 1, 0))
        .expect("from the SDP address");
    assert!(s.is_confirmed());
    assert!(s
        .write_rtp(t0 + ms(20), &[0xd5; 160], 160, &mut out)
        .is_some());
}

#[test]
fn ssrc_change_and_timestamp_jump_events() {
    let t0 = netem::epoch();
    let mut s = RtpSession::new(t0, config(t0), &mut SmallRng::seed_from_u64(1));
    let a = addr("192.0.2.10:40000");
    for i in 0..10u16 {
        s.handle_rtp(t0 + ms(20 * u64::from(i)), a, pkt(1, i, 160 * u32::from(i)))
            .expect("ok");
    }
    // Silence suppression: a 2 s gap with a matching timestamp gap is not a jump.
    s.handle_rtp(t0 + ms(2180), a, pkt(1, 10, 160 * 109))
        .expect("ok");
    let _ = events(&mut s);
    // Timestamp leaps 10 s ahead in 20 ms.
    s.handle_rtp(t0 + ms(2200), a, pkt(1, 11, 160 * 110 + 80_000))
        .expect("ok");
    assert_eq!(
        events(&mut s),
        vec![SessionEvent::TimestampJump {
            ssrc: 1,
            delta: 80_000
        }]
    );
    s.handle_rtp(t0 + ms(2220), a, pkt(2, 500, 7)).expect("ok");
    assert_eq!(
        events(&mut s),
        vec![SessionEvent::SsrcChanged {
            old: Some(1),
            new: 2
        }]
    );
    let st = s.stats();
    assert_eq!((st.ssrc_changes, st.timestamp_jumps), (1, 1));
    assert_eq!(st.receiver.expect("stats").ssrc, 2);
}

#[test]
fn inactivity_timeout_fires_once_and_rearms() {
    let t0 = netem::epoch();
    let mut c = config(t0);
    c.rtcp_interval = None;
    c.inactivity_timeout = Some(Duration::from_secs(10));
    let mut s = RtpSession::new(t0, c, &mut SmallRng::seed_from_u64(1));
    let a = addr("192.0.2.10:40000");
    s.handle_rtp(t0 + ms(100), a, pkt(1, 1, 0)).expect("ok");
    let _ = events(&mut s);
    assert_eq!(s.poll_timeout(), Some(t0 + ms(10_100)));
    s.handle_timeout(t0 + ms(10_099));
    assert!(events(&mut s).is_empty());
    s.handle_timeout(t0 + ms(10_100));
    assert_eq!(
        events(&mut s),
        vec![SessionEvent::Inactive {
            last_media: t0 + ms(100)
        }]
    );
    assert_eq!(s.poll_timeout(), None);
    s.handle_timeout(t0 + ms(20_000));
    assert!(events(&mut s).is_empty(), "reported once");
    // Media resumes: the timer is armed again.
    s.handle_rtp(t0 + ms(30_000), a, pkt(1, 2, 160))
        .expect("ok");
    assert_eq!(s.poll_timeout(), Some(t0 + ms(40_000)));
    // Hold: disabled.
    s.set_inactivity_timeout(t0 + ms(30_000), None);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn outgoing_numbering_is_seeded_and_marks_talkspurts() {
    let t0 = netem::epoch();
    let mut a = RtpSession::new(t0, config(t0), &mut SmallRng::seed_from_u64(42));
    let b = RtpSession::new(t0, config(t0), &mut SmallRng::seed_from_u64(42));
    assert_eq!(a.ssrc(), b.ssrc(), "same seed, same SSRC");
    let c = RtpSession::new(t0, config(t0), &mut SmallRng::seed_from_u64(43));
    assert_ne!(a.ssrc(), c.ssrc());
    let ts0 = a.next_timestamp();
    let mut out = BytesMut::with_capacity(1024);
    let mut sent = vec![];
    for i in 0..3 {
        out.clear();
        let to = a
            .write_rtp(t0 + ms(20 * i), &[0xd5; 160], 160, &mut out)
            .expect("remote");
        assert_eq!(to, addr("192.0.2.10:40000"));
        sent.push(RtpPacket::parse(out.clone().freeze()).expect("valid"));
    }
    a.skip(800); // 100 ms of silence
    out.clear();
    a.write_rtp(t0 + ms(160), &[0xd5; 160], 160, &mut out);
    sent.push(RtpPacket::parse(out.clone().freeze()).expect("valid"));
    let marks: Vec<_> = sent.iter().map(|p| p.header.marker).collect();
    assert_eq!(marks, [true, false, false, true]);
    let seqs: Vec<_> = sent
        .iter()
        .map(|p| p.header.sequence.wrapping_sub(sent[0].header.sequence))
        .collect();
    assert_eq!(seqs, [0, 1, 2, 3]);
    let tss: Vec<_> = sent
        .iter()
        .map(|p| p.header.timestamp.wrapping_sub(ts0))
        .collect();
    assert_eq!(tss, [0, 160, 320, 1280]);
    assert!(sent
        .iter()
        .all(|p| p.header.ssrc == a.ssrc() && p.header.payload_type == 0));
    assert_eq!(a.stats().packets_sent, 4);
    assert_eq!(a.stats().octets_sent, 640);
}

/// Two legs exchanging media over a 40 ms one-way path: SR/RR flow, RTT ≈ 80 ms, BYE.
#[test]
fn rtcp_reports_and_rtt_between_two_legs() {
    let t0 = netem::epoch();
    let a_addr = addr("192.0.2.1:10000");
    let b_addr = addr("192.0.2.2:20000");
    let mut ca = config(t0);
    ca.remote = Some(b_addr);
    let mut cb = config(t0);
    cb.remote = Some(a_addr);
    let mut a = RtpSession::new(t0, ca, &mut SmallRng::seed_from_u64(1));
    let mut b = RtpSession::new(t0, cb, &mut SmallRng::seed_from_u64(2));
    let one_way = ms(40);
    // (arrival, to_b, channel, datagram)
    let mut wire: Vec<(Instant, bool, Channel, Bytes)> = vec![];
    let mut buf = BytesMut::with_capacity(2048);
    let mut reports_a = vec![];
    let mut now = t0;
    let end = t0 + Duration::from_secs(30);
    let mut next_frame = t0;
    while now < end {
        if now >= next_frame {
            buf.clear();
            a.write_rtp(now, &[0xd5; 160], 160, &mut buf);
            wire.push((now + one_way, true, Channel::Rtp, buf.clone().freeze()));
            next_frame += ms(20);
        }
        for (s, to_b) in [(&mut a, true), (&mut b, false)] {
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.handle_timeout(now);
            }
            while let Some(o) = s.poll_output() {
                if let SessionOutput::Transmit {
                    channel,
                    to,
                    datagram,
                } = o
                {
                    assert_eq!(
                        to.port(),
                        if to_b { 20001 } else { 10001 },
                        "RTCP on port + 1"
                    );
                    if to_b {
                        reports_a.push(datagram.clone());
                    }
                    wire.push((now + one_way, to_b, channel, datagram));
                }
            }
        }
        let (due, rest): (Vec<_>, Vec<_>) = wire.into_iter().partition(|(t, ..)| *t <= now);
        wire = rest;
        for (_, to_b, ch, dg) in due {
            let (s, from) = if to_b {
                (&mut b, a_addr)
            } else {
                (&mut a, b_addr)
            };
            match ch {
                Channel::Rtp => {
                    s.handle_rtp(now, from, dg).expect("accepted");
                }
                Channel::Rtcp => {
                    let mut f = from;
                    f.set_port(from.port() + 1);
                    s.handle_rtcp(now, f, dg).expect("accepted");
                }
            }
        }
        now += ms(5);
    }
    // A sends media: its reports are SRs with CNAME; B only receives: RRs.
    assert!(
        reports_a.len() >= 3,
        "{} reports in 30 s at 5 s mean",
        reports_a.len()
    );
    let first = parse_compound(&reports_a[0]).expect("rtcp");
    assert!(matches!(first[0], RtcpPacket::SenderReport(_)));
    match &first[1] {
        RtcpPacket::SourceDescription(c) => {
            assert_eq!(c[0].cname().expect("cname"), "leg@switchboard")
        }
        other => panic!("{other:?}"),
    }
    let rtt = a.stats().rtt.expect("RTT measured from B's RR");
    assert!(rtt.abs_diff(ms(80)) <= ms(6), "rtt {rtt:?}");
    let rb = b.stats().receiver.expect("B receives");
    assert_eq!(rb.lost, 0);
    assert!(rb.received > 1400);
    // A closes: B sees BYE.
    a.close(now);
    let Some(SessionOutput::Transmit { datagram, .. }) = a.poll_output() else {
        panic!("bye")
    };
    b.handle_rtcp(now, addr("192.0.2.1:10001"), datagram)
        .expect("ok");
    assert!(events(&mut b).contains(&SessionEvent::Bye { ssrc: a.ssrc() }));
}

/// A digit sent through one session's `write_raw` arrives as one digit at the other end.
#[test]
fn dtmf_through_two_sessions() {
    use switchboard_rtp::{DigitEnd, DtmfReceiver, DtmfSender, TelephoneEvent};
    let t0 = netem::epoch();
    let mut a = RtpSession::new(t0, config(t0), &mut SmallRng::seed_from_u64(1));
    let mut b = RtpSession::new(t0, config(t0), &mut SmallRng::seed_from_u64(2));
    let from = addr("192.0.2.10:40000");
    let mut rx = DtmfReceiver::new(ms(300));
    let mut buf = BytesMut::with_capacity(64);
    let digit = switchboard_rtp::event_for_char('#').expect("digit");
    let start_ts = a.next_timestamp();
    let mut tx = DtmfSender::new(t0, digit, ms(120), start_ts, 8000);
    let mut now = t0;
    let mut markers = vec![];
    while let Some(at) = tx.poll_timeout() {
        now = now.max(at);
        while let Some(p) = tx.poll_packet(now) {
            buf.clear();
            a.write_raw(
                now,
                101,
                p.marker,
                p.rtp_timestamp,
                &p.event.to_bytes(),
                &mut buf,
            )
            .expect("remote");
            let got = b
                .handle_rtp(now + ms(30), from, buf.clone().freeze())
                .expect("accepted");
            markers.push(got.header.marker);
            assert_eq!(got.header.payload_type, 101);
            let ev = TelephoneEvent::parse(&got.payload).expect("event");
            rx.handle_packet(now + ms(30), got.header.timestamp, ev);
        }
    }
    // The audio clock skips the event's duration afterwards.
    a.skip(960);
    assert_eq!(a.next_timestamp(), start_ts.wrapping_add(960));
    assert_eq!(markers.iter().filter(|m| **m).count(), 1);
    let d = rx.poll_event().expect("one digit");
    assert_eq!(
        (d.event, d.duration, d.end, d.rtp_timestamp),
        (11, 960, DigitEnd::EndBit, start_ts)
    );
    assert_eq!(rx.poll_event(), None);
}

mod robustness {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Arbitrary datagrams from a few sources, on either port, never panic, and only
        /// the SDP address is ever accepted.
        #[test]
        fn arbitrary_datagrams_never_panic(
            input in proptest::collection::vec((0u8..3, any::<bool>(), proptest::collection::vec(any::<u8>(), 0..80), 0u64..2000), 0..40)
        ) {
            let t0 = netem::epoch();
            let mut s = RtpSession::new(t0, config(t0), &mut SmallRng::seed_from_u64(9));
            let sources = [addr("192.0.2.10:40000"), addr("192.0.2.2:4000"), addr("[2001:db8::1]:4000")];
            let mut now = t0;
            for (src, rtcp, mut bytes, dt) in input {
                now += ms(dt);
                let from = sources[usize::from(src)];
                if !rtcp && bytes.len() >= 12 {
                    bytes[0] = 0x80 | (bytes[0] & 0x3f); // make RTP parse often
                }
                if rtcp {
                    let _ = s.handle_rtcp(now, from, Bytes::from(bytes));
                } else if s.handle_rtp(now, from, Bytes::from(bytes)).is_ok() {
                    prop_assert_eq!(s.latched(), Some(from));
                    prop_assert_eq!(from, sources[0]);
                }
                s.handle_timeout(now);
                while s.poll_output().is_some() {}
            }
        }
    }
}

#[test]
fn peer_reports_about_our_stream_and_receive_counters_are_kept() {
    let t0 = netem::epoch();
    let mut s = RtpSession::new(t0, config(t0), &mut SmallRng::seed_from_u64(1));
    let from = addr("192.0.2.10:40000");
    for i in 0..10u16 {
        s.handle_rtp(
            t0 + ms(20 * u64::from(i)),
            from,
            pkt(9, 100 + i, 160 * u32::from(i)),
        )
        .expect("accepted");
    }
    let st = s.stats();
    assert_eq!(st.packets_received, 10, "probation packets count too");
    assert_eq!(st.octets_received, 10 * pkt(9, 0, 0).len() as u64);
    assert_eq!(st.peer_report, None);
    // A block about another SSRC is not about us.
    let block = |ssrc| switchboard_rtp::ReportBlock {
        ssrc,
        fraction_lost: 64,
        cumulative_lost: 12,
        highest_seq: 1000,
        jitter: 80,
        lsr: 0,
        dlsr: 0,
    };
    let rr = |b| {
        let mut buf = BytesMut::new();
        switchboard_rtp::write_compound(
            &[RtcpPacket::ReceiverReport(
                switchboard_rtp::ReceiverReport {
                    ssrc: 9,
                    reports: vec![b],
                    extension: Bytes::new(),
                },
            )],
            &mut buf,
        );
        buf.freeze()
    };
    s.handle_rtcp(t0, addr("192.0.2.10:40001"), rr(block(s.ssrc() ^ 1)))
        .unwrap();
    assert_eq!(s.stats().peer_report, None);
    s.handle_rtcp(t0, addr("192.0.2.10:40001"), rr(block(s.ssrc())))
        .unwrap();
    let p = s.stats().peer_report.expect("report about us");
    assert_eq!((p.fraction_lost, p.cumulative_lost, p.jitter), (64, 12, 80));
    assert!(
        (p.jitter_ms - 10.0).abs() < 1e-9,
        "80 units at 8 kHz = 10 ms"
    );
}

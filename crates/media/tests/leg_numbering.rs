//! The numbering of what each leg receives, with the real cores wired the way the server
//! wires them, on a virtual clock: music on hold (prompt player) to the caller and a
//! whisper to the agent, then the bridge (transcoding PCMU <-> G.722, relaying RFC 4733
//! events), the supervision mixer and back, a blind transfer (music on hold again) and a
//! second agent. Each leg's `RtpSession` numbers everything it sends (decision 0011):
//! one SSRC, sequence numbers +1, timestamps moving on by the clock, a marker at each
//! switch.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use switchboard_media::{
    Bridge, Codec, Leg, LegConfig, Mixer, PlayerConfig, Playlist, Prompt, PromptPlayer,
};
use switchboard_rtp::{NtpClock, RtpHeader, RtpPacket, RtpSession, RtpSessionConfig};

#[allow(clippy::disallowed_methods)] // a base instant only; tests never wait on real time
fn epoch() -> Instant {
    switchboard_test_support::epoch()
}

/// A leg: our session towards a phone, and what the phone received.
struct Leg2 {
    session: RtpSession,
    out: BytesMut,
    got: Vec<(Instant, RtpHeader, usize)>,
}

impl Leg2 {
    fn new(now: Instant, pt: u8, seed: u64) -> Leg2 {
        let mut cfg = RtpSessionConfig::new(NtpClock { at: now, ntp: 0 }, Bytes::new(), pt);
        cfg.remote = Some("192.0.2.7:4000".parse().expect("addr"));
        cfg.confirmed = true;
        Leg2 {
            session: RtpSession::new(now, cfg, &mut SmallRng::seed_from_u64(seed)),
            out: BytesMut::with_capacity(2048),
            got: vec![],
        }
    }

    fn received(&mut self, now: Instant) {
        let p = RtpPacket::parse(self.out.split().freeze()).expect("valid RTP");
        self.got.push((now, p.header, p.payload.len()));
    }

    /// A frame we generate (prompt, whisper, mix).
    fn frame(&mut self, now: Instant) {
        self.session
            .write_rtp(now, &[0xd5; 160], 160, &mut self.out)
            .expect("remote");
        self.received(now);
    }

    /// What the bridge forwards to this leg.
    fn relay(&mut self, now: Instant, br: &mut Bridge, from: Leg, pkt: &RtpPacket) {
        let f = br.handle_packet(from, pkt).expect("forwarded");
        self.session
            .write_relayed(now, f.packet, f.payload, &mut self.out)
            .expect("remote");
        self.received(now);
    }

    /// One SSRC; seq +1; timestamps never back, audio at least its duration apart.
    fn assert_continuous(&self, who: &str) {
        for w in self.got.windows(2) {
            let ((_, a, alen), (_, b, _)) = (&w[0], &w[1]);
            assert_eq!(a.ssrc, b.ssrc, "{who}: one SSRC");
            assert_eq!(
                b.sequence,
                a.sequence.wrapping_add(1),
                "{who}: {a:?} -> {b:?}"
            );
            let audio = |h: &RtpHeader| h.payload_type < 96;
            let min = if audio(a) && audio(b) {
                *alen as i32
            } else {
                0
            };
            assert!(
                b.timestamp.wrapping_sub(a.timestamp) as i32 >= min,
                "{who}: timestamps {a:?} -> {b:?}"
            );
        }
    }

    fn markers(&self) -> usize {
        self.got.iter().filter(|(_, h, _)| h.marker).count()
    }
}

/// A phone's stream: its own SSRC and numbering, audio every 20 ms.
struct Phone {
    pt: u8,
    ssrc: u32,
    seq: u16,
    ts: u32,
}

impl Phone {
    fn audio(&mut self) -> RtpPacket {
        let p = RtpPacket::new(
            RtpHeader::new(self.pt, self.seq, self.ts, self.ssrc),
            Bytes::from_static(&[0x55; 160]),
        );
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(160);
        p
    }

    /// One RFC 4733 packet of a key (the event's start timestamp, duration so far).
    fn key(&mut self, start_ts: u32, duration: u16, end: bool) -> RtpPacket {
        let payload = [
            5,
            if end { 0x8a } else { 0x0a },
            (duration >> 8) as u8,
            duration as u8,
        ];
        let p = RtpPacket::new(
            RtpHeader::new(101, self.seq, start_ts, self.ssrc),
            Bytes::copy_from_slice(&payload),
        );
        self.seq = self.seq.wrapping_add(1);
        p
    }
}

#[test]
fn each_leg_is_one_continuous_stream_through_every_switch() {
    let t0 = epoch();
    let mut now = t0;
    let tick = Duration::from_millis(20);
    let mut caller = Leg2::new(now, 0, 1);
    let mut caller_phone = Phone {
        pt: 0,
        ssrc: 0xCA11,
        seq: 65_500,
        ts: 4_000_000_000,
    };
    let mut a_cfg = LegConfig::new(Codec::Pcmu);
    a_cfg.telephone_event_pt = Some(101);
    let mut b_cfg = LegConfig::new(Codec::G722);
    b_cfg.telephone_event_pt = Some(96);

    // Music on hold to the caller for 1 s.
    let moh = Prompt::from_samples(vec![1000i16; 8000]);
    let mut player = PromptPlayer::new(PlayerConfig::default());
    player.play(now, Playlist::moh(moh.clone()));
    for _ in 0..50 {
        while player.poll_frame(now).is_some() {
            caller.frame(now);
        }
        now += tick;
    }
    // Agent 1 answers: a 0.5 s whisper to them while the caller keeps hearing MOH.
    let mut agent = Leg2::new(now, 9, 2);
    let mut agent_phone = Phone {
        pt: 9,
        ssrc: 0xA6E1,
        seq: 3,
        ts: 77,
    };
    for _ in 0..25 {
        while player.poll_frame(now).is_some() {
            caller.frame(now);
        }
        agent.frame(now);
        now += tick + Duration::from_millis(1); // a slightly late driver
    }
    // The bridge closes: 1 s both ways, transcoding, and a key from the caller.
    player.stop();
    let mut br = Bridge::new(a_cfg, b_cfg);
    for k in 0..50 {
        if (20..23).contains(&k) {
            let start = caller_phone.ts;
            let key = caller_phone.key(start, 160 * (k - 19), k == 22);
            agent.relay(now, &mut br, Leg::A, &key);
            if k == 22 {
                caller_phone.ts = caller_phone.ts.wrapping_add(480);
            }
        } else {
            let p = caller_phone.audio();
            agent.relay(now, &mut br, Leg::A, &p);
        }
        let q = agent_phone.audio();
        caller.relay(now, &mut br, Leg::B, &q);
        now += tick;
    }
    // A supervisor joins: 0.6 s of the mix to both (the phones' packets go to the mixer).
    let mut mixer = Mixer::new(4, 160);
    let ids = [
        mixer.add().expect("slot"),
        mixer.add().expect("slot"),
        mixer.add().expect("slot"),
    ];
    for _ in 0..30 {
        let _ = caller_phone.audio();
        let _ = agent_phone.audio();
        for id in ids {
            let _ = mixer.handle_frame(id, &[100i16; 160]);
        }
        mixer.mix();
        caller.frame(now);
        agent.frame(now);
        now += tick;
    }
    // The supervisor leaves: relayed again for 0.6 s.
    for _ in 0..30 {
        let p = caller_phone.audio();
        agent.relay(now, &mut br, Leg::A, &p);
        let q = agent_phone.audio();
        caller.relay(now, &mut br, Leg::B, &q);
        now += tick;
    }
    // Blind transfer: agent 1 is gone; 45 ms later the caller hears MOH for 0.4 s.
    drop(br);
    now += Duration::from_millis(45);
    player.play(now, Playlist::moh(moh));
    for _ in 0..20 {
        while player.poll_frame(now).is_some() {
            caller.frame(now);
        }
        now += tick;
    }
    // Agent 2 answers (no whisper after a transfer): bridged for 0.6 s.
    player.stop();
    let mut agent2 = Leg2::new(now, 9, 3);
    let mut agent2_phone = Phone {
        pt: 9,
        ssrc: 0xA6E2,
        seq: 40_000,
        ts: 123,
    };
    let mut br = Bridge::new(a_cfg, b_cfg);
    for _ in 0..30 {
        let p = caller_phone.audio();
        agent2.relay(now, &mut br, Leg::A, &p);
        let q = agent2_phone.audio();
        caller.relay(now, &mut br, Leg::B, &q);
        now += tick;
    }

    caller.assert_continuous("caller");
    agent.assert_continuous("agent 1");
    agent2.assert_continuous("agent 2");
    // Talkspurts: caller MOH, bridge, mix, bridge, MOH, bridge 2; agent 1 whisper, bridge,
    // mix, bridge; agent 2 bridge.
    assert_eq!(caller.markers(), 6, "caller: {:?}", caller.got);
    assert_eq!(agent.markers(), 4, "agent 1: {:?}", agent.got);
    assert_eq!(agent2.markers(), 1);
    // The key crossed as telephone-event 96, timestamps held for the event.
    let keys: Vec<_> = agent
        .got
        .iter()
        .filter(|(_, h, _)| h.payload_type == 96)
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(keys
        .iter()
        .all(|(_, h, _)| h.timestamp == keys[0].1.timestamp));
    // The MOH after the transfer starts on the media clock: 20 + 45 ms after the last
    // relayed packet (520 ticks), not next in sequence.
    let moh_start = caller
        .got
        .windows(2)
        .find(|w| w[1].0 - w[0].0 == Duration::from_millis(65))
        .expect("the transfer gap");
    assert_eq!(
        moh_start[1]
            .1
            .timestamp
            .wrapping_sub(moh_start[0].1.timestamp),
        520
    );
    assert!(moh_start[1].1.marker);
}

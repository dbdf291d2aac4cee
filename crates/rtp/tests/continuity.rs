//! Outgoing RTP continuity of one leg across every switch of what feeds it (prompts, music
//! on hold, whisper, the bridge, the supervision mixer, a new agent after a transfer, a
//! leg handed to another call), on a simulated clock: one SSRC, sequence numbers +1,
//! timestamps on the media clock including silences, marker bit after each switch.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::time::{Duration, Instant};
use switchboard_rtp::{
    NtpClock, Relayed, RtpHeader, RtpPacket, RtpSession, RtpSessionConfig, RELAY_MAX_JUMP,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// One leg's sender and everything it put on the wire, with send times.
struct Leg {
    s: RtpSession,
    now: Instant,
    out: BytesMut,
    sent: Vec<(Instant, RtpHeader, u32)>,
}

impl Leg {
    fn new(seed: u64) -> Leg {
        let t0 = switchboard_test_support::epoch();
        let mut cfg =
            RtpSessionConfig::new(NtpClock { at: t0, ntp: 0 }, Bytes::from_static(b"leg"), 0);
        cfg.remote = Some("192.0.2.10:40000".parse().expect("addr"));
        cfg.confirmed = true;
        Leg {
            s: RtpSession::new(t0, cfg, &mut SmallRng::seed_from_u64(seed)),
            now: t0,
            out: BytesMut::with_capacity(256),
            sent: vec![],
        }
    }

    fn record(&mut self, ticks: u32) {
        let p = RtpPacket::parse(self.out.split().freeze()).expect("valid RTP");
        self.sent.push((self.now, p.header, ticks));
    }

    /// `n` locally generated 20 ms frames (prompt, MOH, whisper, mixer), one per 20 ms.
    fn frames(&mut self, n: usize) {
        for _ in 0..n {
            self.s
                .write_rtp(self.now, &[0xd5; 160], 160, &mut self.out)
                .expect("remote");
            self.record(160);
            self.now += ms(20);
        }
    }

    /// `n` packets relayed from `src`, one per 20 ms.
    fn relay(&mut self, src: &mut Source, n: usize) {
        for _ in 0..n {
            let r = src.next();
            self.s
                .write_relayed(self.now, r, &[0x55; 160], &mut self.out)
                .expect("remote");
            self.record(r.ticks);
            self.now += ms(20);
        }
    }

    fn pause(&mut self, d: Duration) {
        self.now += d;
    }

    fn headers(&self) -> Vec<RtpHeader> {
        self.sent.iter().map(|(_, h, _)| h.clone()).collect()
    }
}

/// A phone's stream as received by the other leg: its own SSRC and numbering.
struct Source {
    ssrc: u32,
    seq: u16,
    ts: u32,
}

impl Source {
    fn new(ssrc: u32, seq: u16, ts: u32) -> Source {
        Source { ssrc, seq, ts }
    }

    fn next(&mut self) -> Relayed {
        let r = Relayed {
            ssrc: self.ssrc,
            sequence: self.seq,
            timestamp: self.ts,
            marker: false,
            payload_type: 0,
            ticks: 160,
        };
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(160);
        r
    }

    /// The phone keeps sending while its packets go elsewhere (e.g. into the mixer).
    fn advance(&mut self, packets: u16) {
        self.seq = self.seq.wrapping_add(packets);
        self.ts = self.ts.wrapping_add(160 * u32::from(packets));
    }
}

/// The continuity rule, checked on everything a leg sent: one SSRC; sequence numbers +1;
/// each timestamp at least the previous one plus its duration, and at most that plus the
/// time that passed in between (the clock never runs ahead of real time at a switch).
fn assert_continuous(leg: &Leg) {
    let ssrc = leg.s.ssrc();
    for w in leg.sent.windows(2) {
        let ((t0, a, ticks), (t1, b, _)) = (&w[0], &w[1]);
        assert_eq!((a.ssrc, b.ssrc), (ssrc, ssrc), "one SSRC per leg");
        assert_eq!(
            b.sequence,
            a.sequence.wrapping_add(1),
            "sequence continues by one: {a:?} -> {b:?}"
        );
        let dts = b.timestamp.wrapping_sub(a.timestamp) as i32;
        let elapsed = (t1.duration_since(*t0).as_micros() * 8 / 1000) as i32;
        assert!(
            dts >= *ticks as i32,
            "timestamp moves on by at least the previous packet: {a:?} -> {b:?}"
        );
        assert!(
            dts <= (*ticks as i32).max(elapsed),
            "timestamp does not run ahead of the clock: {a:?} -> {b:?} after {elapsed} ticks"
        );
    }
}

fn markers(leg: &Leg) -> Vec<usize> {
    leg.headers()
        .iter()
        .enumerate()
        .filter(|(_, h)| h.marker)
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn prompt_then_bridge_continues_the_numbering() {
    let mut leg = Leg::new(1);
    leg.frames(10); // IVR prompt / MOH
    leg.pause(ms(5)); // the agent answered between two ticks
    let mut agent = Source::new(0xA6E7, 40_000, 3_000_000_000);
    leg.relay(&mut agent, 20);
    assert_continuous(&leg);
    let h = leg.headers();
    assert_eq!(
        h[10].timestamp,
        h[9].timestamp.wrapping_add(200),
        "the media clock 25 ms after the last prompt frame"
    );
    assert_eq!(
        markers(&leg),
        [0, 10],
        "talkspurt at the start and at the switch"
    );
}

#[test]
fn bridge_then_music_on_hold_continues_the_numbering() {
    let mut leg = Leg::new(2);
    let mut agent = Source::new(7, 65_530, u32::MAX - 500); // both wrap on the way
    leg.relay(&mut agent, 20);
    leg.pause(ms(30)); // blind transfer: the agent is gone, MOH starts
    leg.frames(10);
    assert_continuous(&leg);
    let h = leg.headers();
    // The MOH frame starts where the media clock is: 20 + 30 ms after the last relayed one.
    assert_eq!(h[20].timestamp, h[19].timestamp.wrapping_add(400));
    assert_eq!(markers(&leg), [0, 20]);
}

#[test]
fn bridge_mixer_bridge_keeps_one_numbering() {
    let mut leg = Leg::new(3);
    let mut caller = Source::new(0xCA11, 100, 5000);
    leg.relay(&mut caller, 10);
    // A supervisor joins: the mixer feeds the leg; the caller's phone keeps sending.
    leg.frames(25);
    caller.advance(25);
    // The supervisor leaves: relaying the same source again (same SSRC).
    leg.relay(&mut caller, 10);
    assert_continuous(&leg);
    assert_eq!(markers(&leg), [0, 10, 35]);
}

#[test]
fn new_agent_after_a_transfer_and_a_leg_handed_to_another_call() {
    // The agent's leg: whisper, then the caller relayed, then (attended transfer) the same
    // leg, moved into another call, relays a different caller.
    let mut leg = Leg::new(4);
    leg.frames(15); // whisper
    let mut first = Source::new(1, 9, 90);
    leg.relay(&mut first, 10);
    leg.pause(ms(7));
    let mut second = Source::new(2, 60_000, 1_000_000);
    leg.relay(&mut second, 10);
    assert_continuous(&leg);
    assert_eq!(markers(&leg), [0, 15, 25]);
}

#[test]
fn silence_gaps_advance_the_timestamp_by_the_elapsed_time() {
    let mut leg = Leg::new(5);
    leg.frames(5);
    leg.pause(Duration::from_secs(2)); // between two IVR prompts
    leg.frames(5);
    let h = leg.headers();
    // Last frame at 80 ms, next at 100 ms + 2 s: 2020 ms of clock = 16160 ticks.
    assert_eq!(h[5].timestamp.wrapping_sub(h[4].timestamp), 16_160);
    assert_eq!(h[5].sequence, h[4].sequence.wrapping_add(1));
    assert!(h[5].marker);
    // A relayed stream that stopped (the agent put us on mute) and MOH afterwards.
    let mut agent = Source::new(3, 0, 0);
    leg.relay(&mut agent, 5);
    leg.pause(Duration::from_secs(3));
    leg.frames(3);
    assert_continuous(&leg);
    let h = leg.headers();
    assert_eq!(h[15].timestamp.wrapping_sub(h[14].timestamp), 8 * 3020);
}

#[test]
fn a_late_driver_catching_up_keeps_timestamps_in_sequence() {
    let mut leg = Leg::new(6);
    leg.frames(5);
    // The tick came 80 ms late: the prompt player sends the frames it owes at once.
    leg.pause(ms(80));
    for _ in 0..5 {
        leg.s
            .write_rtp(leg.now, &[0xd5; 160], 160, &mut leg.out)
            .expect("remote");
        leg.record(160);
    }
    let h = leg.headers();
    for w in h.windows(2) {
        assert_eq!(w[1].timestamp.wrapping_sub(w[0].timestamp), 160);
    }
    assert_eq!(markers(&leg), [0]);
}

#[test]
fn relayed_loss_and_silence_stay_visible_but_a_renumbered_source_does_not() {
    let mut leg = Leg::new(7);
    let mut phone = Source::new(9, 1000, 0);
    leg.relay(&mut phone, 3);
    phone.advance(2); // two packets lost on the way in
    leg.relay(&mut phone, 1);
    let h = leg.headers();
    assert_eq!(
        h[3].sequence,
        h[2].sequence.wrapping_add(3),
        "loss passes through"
    );
    assert_eq!(h[3].timestamp, h[2].timestamp.wrapping_add(480));
    // The phone restarts its numbering under the same SSRC: we do not jump with it.
    phone.seq = phone.seq.wrapping_add(RELAY_MAX_JUMP * 20);
    leg.relay(&mut phone, 3);
    let h = leg.headers();
    assert_eq!(h[4].sequence, h[3].sequence.wrapping_add(1));
    assert!(h[4].marker);
    assert_eq!(h[4].ssrc, leg.s.ssrc());
}

#[test]
fn a_new_source_with_nearby_numbering_is_still_a_new_source() {
    let mut leg = Leg::new(8);
    let mut first = Source::new(1, 500, 0);
    leg.relay(&mut first, 5);
    // Another phone whose sequence numbers happen to be close, its timestamps not.
    let mut second = Source::new(2, 508, 4_000_000);
    leg.relay(&mut second, 5);
    assert_continuous(&leg);
    assert_eq!(markers(&leg), [0, 5]);
}

#[derive(Debug, Clone)]
enum Step {
    Frames(usize),
    Relay { source: usize, packets: usize },
    Pause(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1usize..30).prop_map(Step::Frames),
        (0usize..3, 1usize..30).prop_map(|(source, packets)| Step::Relay { source, packets }),
        (0u64..3000).prop_map(Step::Pause),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any order of prompts, relayed sources (each with its own numbering, still running
    /// while not relayed) and pauses: the leg's stream stays continuous, and every switch
    /// of source starts a talkspurt.
    #[test]
    fn any_sequence_of_switches_is_continuous(
        seed in any::<u64>(),
        starts in proptest::array::uniform3((any::<u32>(), any::<u16>(), any::<u32>())),
        steps in proptest::collection::vec(step(), 1..25),
    ) {
        let mut leg = Leg::new(seed);
        let mut sources: Vec<Source> =
            starts.iter().map(|&(ssrc, seq, ts)| Source::new(ssrc, seq, ts)).collect();
        // Distinct SSRCs (a collision would be one source).
        for (i, s) in sources.iter_mut().enumerate() {
            s.ssrc = s.ssrc.wrapping_mul(3).wrapping_add(i as u32);
        }
        let mut switches = vec![0usize];
        let mut feeding: Option<Option<usize>> = None;
        for st in steps {
            let before = leg.sent.len();
            // Phones keep sending while their packets go elsewhere (mixer, another leg);
            // in a pause they are silent (timestamps run on, sequence numbers do not).
            let now_feeding = match st {
                Step::Frames(n) => {
                    leg.frames(n);
                    sources.iter_mut().for_each(|s| s.advance(n as u16));
                    Some(None)
                }
                Step::Relay { source, packets } => {
                    leg.relay(&mut sources[source], packets);
                    for (i, s) in sources.iter_mut().enumerate() {
                        if i != source {
                            s.advance(packets as u16);
                        }
                    }
                    Some(Some(source))
                }
                Step::Pause(m) => {
                    leg.pause(ms(m));
                    for s in sources.iter_mut() {
                        s.ts = s.ts.wrapping_add(8 * m as u32);
                    }
                    None
                }
            };
            if let Some(f) = now_feeding {
                if feeding.is_some() && feeding != Some(f) {
                    switches.push(before);
                }
                feeding = Some(f);
            }
        }
        assert_continuous(&leg);
        let marks = markers(&leg);
        for i in switches {
            prop_assert!(i >= leg.sent.len() || marks.contains(&i), "no marker at switch {}", i);
        }
    }
}

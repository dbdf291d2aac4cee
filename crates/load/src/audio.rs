//! The media side of a simulated phone: a tone source in 20 ms frames of PCMU, PCMA or
//! G.722 (encoded with `switchboard-media`'s codecs), RFC 4733 digit packets, and the
//! receive-side checks (RFC 3550 loss and interarrival jitter, and a Goertzel detector on
//! the decoded audio that says when the other side's tone arrives and whether it has gaps).
//! G.722 is sampled at 16 kHz but its RTP clock is 8000 Hz (RFC 3551 §4.5.2): a 20 ms
//! packet carries 320 samples in 160 octets and advances the timestamp by 160, like G.711.
//! No I/O: callers pass arrival times in and get packets out.

use std::time::{Duration, Instant};

use switchboard_media::{Codec, Decoder, Encoder};
use switchboard_rtp::{event_for_char, TelephoneEvent};

/// RTP clock ticks (8 kHz) per 20 ms frame, and payload octets per frame for all three
/// codecs (one octet per tick; G.722 packs two 16 kHz samples in each).
pub(crate) const FRAME: usize = 160;
/// Samples per 20 ms frame at 16 kHz (G.722's audio rate).
const WIDE_FRAME: usize = 2 * FRAME;
/// RTP header length we send (no CSRC, no extension).
pub(crate) const HEADER: usize = 12;
/// telephone-event payload type we offer and answer with.
pub(crate) const PT_EVENT: u8 = 101;
/// Tone the callers send (a multiple of the 50 Hz Goertzel bin spacing).
pub(crate) const CALLER_TONE_HZ: f64 = 1000.0;
/// Tone the agents send.
pub(crate) const AGENT_TONE_HZ: f64 = 1400.0;
/// A content gap longer than this (in media time) fails the audio check.
pub(crate) const MAX_GAP: Duration = Duration::from_millis(60);

/// A 20 ms frame of a sine tone at `hz` sampled at `rate`, about -10 dBFS. With the tones
/// on 50 Hz multiples every frame holds whole periods, so frames repeat exactly.
fn tone_pcm(hz: f64, rate: u32, pcm: &mut [i16]) {
    for (n, s) in pcm.iter_mut().enumerate() {
        let phase = 2.0 * std::f64::consts::PI * hz * n as f64 / f64::from(rate);
        *s = (phase.sin() * 10_000.0) as i16;
    }
}

/// The payload of every tone packet of one leg. G.711 is stateless, so one encoded frame
/// repeats; G.722's ADPCM state carries from frame to frame, so each frame is encoded
/// from the (repeating) 16 kHz PCM as it is sent.
enum TonePayload {
    Fixed([u8; FRAME]),
    Wide {
        enc: Box<Encoder>,
        pcm: Box<[i16; WIDE_FRAME]>,
        frame: [u8; FRAME],
    },
}

impl TonePayload {
    fn new(hz: f64, codec: Codec) -> TonePayload {
        match codec {
            Codec::G722 => {
                let mut pcm = Box::new([0i16; WIDE_FRAME]);
                tone_pcm(hz, 16_000, &mut pcm[..]);
                TonePayload::Wide {
                    enc: Box::new(Encoder::new(codec)),
                    pcm,
                    frame: [0; FRAME],
                }
            }
            _ => {
                let mut pcm = [0i16; FRAME];
                tone_pcm(hz, 8000, &mut pcm);
                let mut frame = [0u8; FRAME];
                Encoder::new(codec).encode(&pcm, &mut frame);
                TonePayload::Fixed(frame)
            }
        }
    }

    /// The next frame's payload.
    fn next(&mut self) -> &[u8; FRAME] {
        match self {
            TonePayload::Fixed(f) => f,
            TonePayload::Wide { enc, pcm, frame } => {
                enc.encode(&pcm[..], frame);
                frame
            }
        }
    }
}

/// The RTP sender of one leg: sequence, timestamp, SSRC, and the digits still to send.
pub(crate) struct RtpSource {
    seq: u16,
    ts: u32,
    ssrc: u32,
    pt: u8,
    tone: TonePayload,
    digits: Vec<char>,
    /// Packets left of the digit being sent (0 = none in progress).
    digit_step: u8,
    digit_ts: u32,
    first: bool,
}

/// Packets per RFC 4733 digit: 4 updates (80 ms of tone) and 3 end packets.
const DIGIT_UPDATES: u8 = 4;
const DIGIT_ENDS: u8 = 3;

impl RtpSource {
    /// A source of a `tone_hz` tone in `codec` (its static payload type).
    pub(crate) fn new(ssrc: u32, tone_hz: f64, codec: Codec) -> RtpSource {
        RtpSource {
            seq: (ssrc >> 16) as u16,
            ts: ssrc.rotate_left(7),
            ssrc,
            pt: codec.static_payload_type(),
            tone: TonePayload::new(tone_hz, codec),
            digits: Vec::new(),
            digit_step: 0,
            digit_ts: 0,
            first: true,
        }
    }

    /// Queues DTMF digits to send as RFC 4733 events, one after another.
    pub(crate) fn queue_digits(&mut self, digits: &str) {
        self.digits
            .extend(digits.chars().filter(|c| event_for_char(*c).is_some()));
        self.digits.reverse();
    }

    /// Writes the next 20 ms packet into `out` and returns its length: a tone frame, or
    /// a telephone-event packet while a digit is being sent.
    pub(crate) fn next_packet(&mut self, out: &mut [u8; HEADER + FRAME]) -> usize {
        if self.digit_step == 0 {
            if let Some(&d) = self.digits.last() {
                self.digit_step = DIGIT_UPDATES + DIGIT_ENDS;
                self.digit_ts = self.ts;
                let _ = d;
            }
        }
        let len = if self.digit_step > 0 {
            let d = *self.digits.last().unwrap_or(&'1');
            let done = DIGIT_UPDATES + DIGIT_ENDS - self.digit_step; // packets sent so far
            let end = done >= DIGIT_UPDATES;
            let duration = (u16::from(done.min(DIGIT_UPDATES - 1)) + 1) * FRAME as u16;
            let ev = TelephoneEvent {
                event: event_for_char(d).unwrap_or(1),
                end,
                volume: 10,
                duration,
            };
            write_header(out, done == 0, PT_EVENT, self.seq, self.digit_ts, self.ssrc);
            out[HEADER..HEADER + 4].copy_from_slice(&ev.to_bytes());
            self.digit_step -= 1;
            if self.digit_step == 0 {
                self.digits.pop();
            }
            HEADER + 4
        } else {
            write_header(out, self.first, self.pt, self.seq, self.ts, self.ssrc);
            out[HEADER..].copy_from_slice(self.tone.next());
            self.first = false;
            HEADER + FRAME
        };
        self.seq = self.seq.wrapping_add(1);
        // 160 ticks of the 8 kHz RTP clock per 20 ms, G.722 included.
        self.ts = self.ts.wrapping_add(FRAME as u32);
        len
    }

    /// Whether digits remain to be sent.
    #[cfg(test)]
    pub(crate) fn sending_digits(&self) -> bool {
        !self.digits.is_empty()
    }
}

fn write_header(out: &mut [u8], marker: bool, pt: u8, seq: u16, ts: u32, ssrc: u32) {
    out[0] = 0x80;
    out[1] = (u8::from(marker) << 7) | (pt & 0x7f);
    out[2..4].copy_from_slice(&seq.to_be_bytes());
    out[4..8].copy_from_slice(&ts.to_be_bytes());
    out[8..12].copy_from_slice(&ssrc.to_be_bytes());
}

/// The fixed RTP header fields the checks need; `None` for anything that is not RTP v2
/// with a 12-byte header (CSRCs are skipped).
pub(crate) struct RtpView<'a> {
    pub(crate) pt: u8,
    pub(crate) seq: u16,
    pub(crate) ts: u32,
    pub(crate) payload: &'a [u8],
}

pub(crate) fn parse_rtp(b: &[u8]) -> Option<RtpView<'_>> {
    if b.len() < HEADER || b[0] >> 6 != 2 {
        return None;
    }
    let cc = usize::from(b[0] & 0x0f);
    let mut start = HEADER + 4 * cc;
    if b[0] & 0x10 != 0 {
        let ext = b.get(start + 2..start + 4)?;
        start += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
    }
    let mut end = b.len();
    if b[0] & 0x20 != 0 {
        end = end.checked_sub(usize::from(*b.last()?))?;
    }
    Some(RtpView {
        pt: b[1] & 0x7f,
        seq: u16::from_be_bytes([b[2], b[3]]),
        ts: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        payload: b.get(start..end)?,
    })
}

/// RFC 3550 receive statistics of one stream: loss from extended sequence numbers,
/// interarrival jitter (A.8) in 8 kHz units, and the longest silence between arrivals.
#[derive(Default)]
pub(crate) struct ReceiveStats {
    base: Option<u32>,
    max_ext: u32,
    received: u64,
    transit: Option<i64>,
    /// Jitter estimate ×16 (RFC 3550 A.8 keeps it scaled), timestamp units.
    jitter16: i64,
    first_arrival: Option<Instant>,
    last_arrival: Option<Instant>,
    max_interarrival: Duration,
    /// The arrival that ended the longest silence (when, not only how long: a stall of a
    /// whole process ends every stream's longest gap at about the same instant).
    max_interarrival_end: Option<Instant>,
    /// Forward jumps of the sequence number (a gap of one or more packets), and the largest.
    seq_gaps: u64,
    max_seq_gap: u32,
    /// RFC 3550 A.1 restarts: packets expected before the last restart, the restarts, the
    /// sequence that would confirm a restart, and the
    /// packets discarded while waiting for that confirmation.
    expected_before: u64,
    restarts: u64,
    bad_seq: Option<u16>,
    discarded: u64,
}

/// RFC 3550 A.1 limits: a jump forward over this, or back over [`MAX_MISORDER`], is not
/// loss or reordering but a possible restart of the sequence.
const MAX_DROPOUT: i64 = 3000;
const MAX_MISORDER: i64 = 100;

impl ReceiveStats {
    /// Records one packet that arrived at `arrival` (`arrival_units` = the same time in
    /// 8 kHz units since any fixed origin).
    pub(crate) fn on_packet(&mut self, seq: u16, ts: u32, arrival: Instant, arrival_units: i64) {
        match self.base {
            None => {
                self.base = Some(u32::from(seq));
                self.max_ext = u32::from(seq);
            }
            Some(_) => {
                // Extend the 16-bit sequence against the highest one seen.
                let hi = self.max_ext & !0xffff;
                let mut ext = hi | u32::from(seq);
                let diff = ext as i64 - self.max_ext as i64;
                if diff < -0x8000 {
                    ext = ext.wrapping_add(0x1_0000);
                } else if diff > 0x8000 {
                    ext = ext.wrapping_sub(0x1_0000);
                }
                let jump = ext as i64 - self.max_ext as i64;
                if !(-MAX_MISORDER..=MAX_DROPOUT).contains(&jump) {
                    // RFC 3550 A.1: a very large jump is a restarted sequence if the next
                    // packet follows it; until then the packet is not counted.
                    if self.bad_seq == Some(seq) {
                        self.restarts += 1;
                        self.expected_before += self.expected();
                        self.base = Some(0x1_0000 + u32::from(seq) - 1);
                        self.max_ext = 0x1_0000 + u32::from(seq);
                        // The packet that announced the restart counts after all.
                        self.received += 1;
                        self.discarded -= 1;
                    } else {
                        self.bad_seq = Some(seq.wrapping_add(1));
                        self.discarded += 1;
                        return;
                    }
                } else if ext > self.max_ext {
                    if ext - self.max_ext > 1 {
                        self.seq_gaps += 1;
                        self.max_seq_gap = self.max_seq_gap.max(ext - self.max_ext - 1);
                    }
                    self.max_ext = ext;
                }
            }
        }
        self.bad_seq = None;
        self.received += 1;
        let transit = arrival_units - i64::from(ts);
        if let Some(prev) = self.transit {
            let d = (transit - prev).abs();
            // Wrapped timestamps (a new stream from a B2BUA) give absurd values: skip them.
            if d < 8000 * 10 {
                self.jitter16 += d - ((self.jitter16 + 8) >> 4);
            }
        }
        self.transit = Some(transit);
        if let Some(last) = self.last_arrival {
            let gap = arrival.saturating_duration_since(last);
            if gap > self.max_interarrival {
                self.max_interarrival = gap;
                self.max_interarrival_end = Some(arrival);
            }
        }
        self.first_arrival.get_or_insert(arrival);
        self.last_arrival = Some(arrival);
    }

    /// Packets the sequence numbers say were sent.
    pub(crate) fn expected(&self) -> u64 {
        self.expected_before
            + match self.base {
                Some(b) => u64::from(self.max_ext.wrapping_sub(b)) + 1,
                None => 0,
            }
    }

    /// Sequence restarts (RFC 3550 A.1 resynchronisations) seen.
    pub(crate) fn restarts(&self) -> u64 {
        self.restarts
    }

    /// Packets not counted: far off the sequence and not followed by a restart.
    pub(crate) fn discarded(&self) -> u64 {
        self.discarded
    }

    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    /// Packets lost (never negative: duplicates do not make up for losses here).
    pub(crate) fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }

    /// Interarrival jitter in milliseconds.
    pub(crate) fn jitter_ms(&self) -> f64 {
        (self.jitter16 as f64 / 16.0) / 8.0
    }

    /// Sequence gaps seen and the largest one, packets.
    pub(crate) fn seq_gaps(&self) -> (u64, u32) {
        (self.seq_gaps, self.max_seq_gap)
    }

    pub(crate) fn max_interarrival(&self) -> Duration {
        self.max_interarrival
    }

    /// When the longest silence ended, and how long after the stream's first packet.
    pub(crate) fn max_interarrival_end(&self) -> Option<(Instant, Duration)> {
        let end = self.max_interarrival_end?;
        Some((end, end.saturating_duration_since(self.first_arrival?)))
    }
}

/// Goertzel power of `hz` in one frame sampled at `rate`, relative to the frame's energy:
/// about 1 for a pure tone on a bin centre, near 0 for other sounds and silence.
pub(crate) fn tone_ratio(pcm: &[i16], hz: f64, rate: u32) -> f64 {
    let n = pcm.len() as f64;
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * hz / f64::from(rate)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut energy = 0.0f64;
    for &x in pcm {
        let x = f64::from(x);
        energy += x * x;
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    if energy < n * 100.0 * 100.0 {
        return 0.0; // below about -50 dBFS: silence
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * power / (n * energy)
}

/// Whether the other side's tone arrived, when, and the longest gap in it (media time,
/// from RTP timestamps: a lost packet or a frame of other sound is a gap).
pub(crate) struct ToneCheck {
    hz: f64,
    codec: Codec,
    /// The codec's decoder (G.722 keeps ADPCM state across frames).
    dec: Decoder,
    /// Whether every frame is checked (sampled call) or only until the tone is first found.
    full: bool,
    first_at: Option<Instant>,
    last_tone_ts: Option<u32>,
    max_gap_samples: u32,
    tone_frames: u64,
    pcm: Box<[i16; WIDE_FRAME]>,
}

impl ToneCheck {
    /// A check for a `hz` tone arriving in `codec`.
    pub(crate) fn new(hz: f64, full: bool, codec: Codec) -> ToneCheck {
        ToneCheck {
            hz,
            codec,
            dec: Decoder::new(codec),
            full,
            first_at: None,
            last_tone_ts: None,
            max_gap_samples: 0,
            tone_frames: 0,
            pcm: Box::new([0; WIDE_FRAME]),
        }
    }

    /// Feeds one payload of the check's codec (at most [`FRAME`] octets) with its RTP
    /// timestamp and arrival time.
    pub(crate) fn on_payload(&mut self, payload: &[u8], ts: u32, arrival: Instant) {
        if !self.full && self.first_at.is_some() {
            return;
        }
        // n = RTP clock ticks of this payload (one octet per tick for all three codecs).
        let n = payload.len().min(FRAME);
        let samples = self.dec.decode(&payload[..n], &mut self.pcm[..]);
        if tone_ratio(&self.pcm[..samples], self.hz, self.codec.sample_rate()) < 0.5 {
            return;
        }
        self.tone_frames += 1;
        if self.first_at.is_none() {
            self.first_at = Some(arrival);
        }
        if let Some(prev) = self.last_tone_ts {
            let delta = ts.wrapping_sub(prev);
            // Frames normally follow each other by one frame; the gap is the tone-less span.
            if delta < u32::MAX / 2 && delta > n as u32 {
                self.max_gap_samples = self.max_gap_samples.max(delta - n as u32);
            }
        }
        self.last_tone_ts = Some(ts);
    }

    pub(crate) fn first_at(&self) -> Option<Instant> {
        self.first_at
    }

    #[cfg(test)]
    pub(crate) fn tone_frames(&self) -> u64 {
        self.tone_frames
    }

    /// Longest gap in the tone, media time.
    pub(crate) fn max_gap(&self) -> Duration {
        Duration::from_micros(u64::from(self.max_gap_samples) * 125)
    }

    /// The sampled-call verdict: the tone arrived and never paused longer than [`MAX_GAP`].
    pub(crate) fn ok(&self) -> bool {
        self.first_at.is_some() && self.max_gap() <= MAX_GAP
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_media::g711::{ulaw_decode_slice, ulaw_encode_slice};

    /// One 20 ms PCMU frame of a sine tone at `hz`.
    fn tone_frame(hz: f64) -> [u8; FRAME] {
        let mut pcm = [0i16; FRAME];
        tone_pcm(hz, 8000, &mut pcm);
        let mut out = [0u8; FRAME];
        ulaw_encode_slice(&pcm, &mut out);
        out
    }

    fn pcm_of(frame: &[u8]) -> Vec<i16> {
        let mut pcm = vec![0i16; frame.len()];
        ulaw_decode_slice(frame, &mut pcm);
        pcm
    }

    #[test]
    fn goertzel_tells_the_two_tones_apart() {
        let caller = pcm_of(&tone_frame(CALLER_TONE_HZ));
        let agent = pcm_of(&tone_frame(AGENT_TONE_HZ));
        assert!(tone_ratio(&caller, CALLER_TONE_HZ, 8000) > 0.9);
        assert!(tone_ratio(&caller, AGENT_TONE_HZ, 8000) < 0.05);
        assert!(tone_ratio(&agent, AGENT_TONE_HZ, 8000) > 0.9);
        assert!(tone_ratio(&agent, CALLER_TONE_HZ, 8000) < 0.05);
        assert_eq!(tone_ratio(&[0; FRAME], CALLER_TONE_HZ, 8000), 0.0);
    }

    #[test]
    fn goertzel_rejects_a_mix_dominated_by_other_sound() {
        let mut pcm = [0i16; FRAME];
        for (n, s) in pcm.iter_mut().enumerate() {
            let t = n as f64 / 8000.0;
            *s = ((2.0 * std::f64::consts::PI * 1000.0 * t).sin() * 2000.0
                + (2.0 * std::f64::consts::PI * 600.0 * t).sin() * 9000.0) as i16;
        }
        assert!(tone_ratio(&pcm, CALLER_TONE_HZ, 8000) < 0.5);
    }

    fn feed(check: &mut ToneCheck, frames: &[(u32, bool)]) {
        let t0 = Instant::now();
        let tone = tone_frame(CALLER_TONE_HZ);
        let silence = [0xffu8; FRAME];
        for (i, &(ts, is_tone)) in frames.iter().enumerate() {
            let at = t0 + Duration::from_millis(20 * i as u64);
            check.on_payload(if is_tone { &tone } else { &silence }, ts, at);
        }
    }

    #[test]
    fn tone_check_passes_a_continuous_tone() {
        let mut c = ToneCheck::new(CALLER_TONE_HZ, true, Codec::Pcmu);
        let frames: Vec<_> = (0..50u32).map(|i| (i * 160, i >= 5)).collect();
        feed(&mut c, &frames);
        assert!(c.ok());
        assert_eq!(c.tone_frames(), 45);
        assert_eq!(c.max_gap(), Duration::ZERO);
    }

    #[test]
    fn tone_check_fails_on_a_gap_over_60_ms() {
        // 4 silent frames (80 ms) in the middle of the tone.
        let mut c = ToneCheck::new(CALLER_TONE_HZ, true, Codec::Pcmu);
        let frames: Vec<_> = (0..30u32)
            .map(|i| (i * 160, !(10..14).contains(&i)))
            .collect();
        feed(&mut c, &frames);
        assert_eq!(c.max_gap(), Duration::from_millis(80));
        assert!(!c.ok());
        // 3 missing packets (60 ms, lost, so their timestamps never arrive) still pass.
        let mut c = ToneCheck::new(CALLER_TONE_HZ, true, Codec::Pcmu);
        let frames: Vec<_> = (0..30u32)
            .filter(|i| !(10..13).contains(i))
            .map(|i| (i * 160, true))
            .collect();
        feed(&mut c, &frames);
        assert_eq!(c.max_gap(), Duration::from_millis(60));
        assert!(c.ok());
    }

    #[test]
    fn tone_check_fails_when_the_tone_never_comes() {
        let mut c = ToneCheck::new(AGENT_TONE_HZ, true, Codec::Pcmu);
        let frames: Vec<_> = (0..30u32).map(|i| (i * 160, true)).collect();
        feed(&mut c, &frames); // caller tone, not the agent's
        assert!(!c.ok());
        assert!(c.first_at().is_none());
    }

    #[test]
    fn receive_stats_count_loss_across_wrap_and_jitter() {
        let mut s = ReceiveStats::default();
        let t0 = Instant::now();
        let mut n = 0i64;
        for i in 0..200u32 {
            let seq = (65500u32 + i) as u16;
            if i % 50 == 7 {
                continue; // 4 lost
            }
            let at = t0 + Duration::from_millis(20 * u64::from(i));
            s.on_packet(seq, i * 160, at, i64::from(i) * 160);
            n += 1;
        }
        assert_eq!(s.expected(), 200);
        assert_eq!(s.received(), n as u64);
        assert_eq!(s.lost(), 4);
        assert_eq!(s.seq_gaps(), (4, 1));
        assert!(s.jitter_ms() < 0.001, "perfectly paced: {}", s.jitter_ms());
    }

    #[test]
    fn receive_stats_resync_on_a_restarted_sequence() {
        // 11 packets from 43774, then the stream restarts at 12 (seen from a B2BUA).
        let mut s = ReceiveStats::default();
        let t0 = Instant::now();
        for i in 0..11u16 {
            s.on_packet(43774 + i, u32::from(i) * 160, t0, i64::from(i) * 160);
        }
        for i in 0..100u16 {
            s.on_packet(12 + i, u32::from(i) * 160, t0, i64::from(i) * 160);
        }
        assert_eq!(s.restarts(), 1);
        assert_eq!(s.received(), 111);
        assert_eq!(s.expected(), 111);
        assert_eq!(s.lost(), 0);
        // A single wild packet is discarded, not counted as thousands lost.
        s.on_packet(40000, 0, t0, 0);
        s.on_packet(112, 100 * 160, t0, 100 * 160);
        assert_eq!((s.restarts(), s.lost()), (1, 0));
    }

    #[test]
    fn receive_stats_say_when_the_longest_silence_ended() {
        let mut s = ReceiveStats::default();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(s.max_interarrival_end(), None);
        for (i, ms) in [0u64, 20, 40, 400, 420, 500].into_iter().enumerate() {
            s.on_packet(i as u16, i as u32 * 160, at(ms), (ms * 8) as i64);
        }
        assert_eq!(s.max_interarrival(), Duration::from_millis(360));
        assert_eq!(
            s.max_interarrival_end(),
            Some((at(400), Duration::from_millis(400)))
        );
    }

    #[test]
    fn receive_stats_jitter_grows_with_uneven_arrivals() {
        let mut s = ReceiveStats::default();
        let t0 = Instant::now();
        for i in 0..500u32 {
            // Every other packet 10 ms late: |D| = 80 units each step.
            let late = if i % 2 == 1 { 80 } else { 0 };
            s.on_packet(i as u16, i * 160, t0, i64::from(i * 160 + late));
        }
        // RFC 3550's estimator converges to |D| = 80 units = 10 ms.
        assert!((s.jitter_ms() - 10.0).abs() < 0.5, "{}", s.jitter_ms());
    }

    #[test]
    fn source_sends_digits_as_rfc4733_then_tone() {
        let mut src = RtpSource::new(0x1234_5678, CALLER_TONE_HZ, Codec::Pcmu);
        src.queue_digits("12");
        let mut buf = [0u8; HEADER + FRAME];
        let mut events = Vec::new();
        let mut seqs = Vec::new();
        for _ in 0..16 {
            let len = src.next_packet(&mut buf);
            let v = parse_rtp(&buf[..len]).expect("rtp");
            seqs.push(v.seq);
            if v.pt == PT_EVENT {
                let ev = TelephoneEvent::parse(v.payload).expect("event");
                events.push((ev.event, ev.end, v.ts));
            } else {
                assert_eq!(v.payload.len(), FRAME);
            }
        }
        assert_eq!(events.len(), 14);
        assert!(events[..7].iter().all(|e| e.0 == 1 && e.2 == events[0].2));
        assert!(events[7..].iter().all(|e| e.0 == 2 && e.2 == events[7].2));
        assert_eq!(events.iter().filter(|e| e.1).count(), 6);
        assert!(!src.sending_digits());
        assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
    }

    /// Sends `frames` packets of `hz` in `codec` from an [`RtpSource`] into a [`ToneCheck`]
    /// expecting `expect_hz` in the same codec, dropping the packets `lost` says.
    fn round_trip(
        codec: Codec,
        hz: f64,
        expect_hz: f64,
        frames: usize,
        lost: impl Fn(usize) -> bool,
    ) -> (ToneCheck, Vec<(u8, u32, usize)>) {
        let mut src = RtpSource::new(0x0bad_cafe, hz, codec);
        let mut check = ToneCheck::new(expect_hz, true, codec);
        let mut buf = [0u8; HEADER + FRAME];
        let mut seen = Vec::new();
        let t0 = Instant::now();
        for i in 0..frames {
            let len = src.next_packet(&mut buf);
            let v = parse_rtp(&buf[..len]).expect("rtp");
            seen.push((v.pt, v.ts, v.payload.len()));
            if !lost(i) {
                let at = t0 + Duration::from_millis(20 * i as u64);
                check.on_payload(v.payload, v.ts, at);
            }
        }
        (check, seen)
    }

    #[test]
    fn every_codec_carries_the_tone_through_its_own_decoder() {
        for codec in [Codec::Pcmu, Codec::Pcma, Codec::G722] {
            let (c, seen) = round_trip(codec, CALLER_TONE_HZ, CALLER_TONE_HZ, 100, |_| false);
            assert!(c.ok(), "{codec:?}: gap {:?}", c.max_gap());
            // G.722's decoder needs a frame or two to adapt; G.711 finds every frame.
            assert!(c.tone_frames() >= 98, "{codec:?}: {}", c.tone_frames());
            assert_eq!(c.max_gap(), Duration::ZERO, "{codec:?}");
            assert!(seen.iter().all(|p| p.0 == codec.static_payload_type()));
            // The other side's tone is not mistaken for this one, in any codec.
            let (c, _) = round_trip(codec, AGENT_TONE_HZ, CALLER_TONE_HZ, 50, |_| false);
            assert!(!c.ok(), "{codec:?}");
            assert_eq!(c.tone_frames(), 0, "{codec:?}");
        }
    }

    #[test]
    fn g722_packets_are_160_octets_and_160_ticks_of_the_8_khz_clock() {
        let (_, seen) = round_trip(Codec::G722, AGENT_TONE_HZ, AGENT_TONE_HZ, 10, |_| false);
        assert!(seen.iter().all(|p| p.0 == 9 && p.2 == FRAME));
        assert!(seen.windows(2).all(|w| w[1].1.wrapping_sub(w[0].1) == 160));
    }

    #[test]
    fn g722_stream_is_not_frozen_and_decodes_to_16_khz() {
        // The encoder's state moves on, so successive frames are not all one cached frame,
        // and a decoded frame holds 320 samples of the tone at 16 kHz (at 8 kHz the 1,400
        // Hz tone would be read as 2,800 Hz and fail).
        let mut src = RtpSource::new(7, AGENT_TONE_HZ, Codec::G722);
        let mut buf = [0u8; HEADER + FRAME];
        let mut frames = Vec::new();
        for _ in 0..5 {
            let len = src.next_packet(&mut buf);
            frames.push(buf[HEADER..len].to_vec());
        }
        assert_ne!(frames[0], frames[1]);
        let mut dec = Decoder::new(Codec::G722);
        let mut pcm = [0i16; WIDE_FRAME];
        let mut n = 0;
        for f in &frames {
            n = dec.decode(f, &mut pcm);
        }
        assert_eq!(n, WIDE_FRAME);
        assert!(tone_ratio(&pcm, AGENT_TONE_HZ, 16_000) > 0.8);
        assert!(tone_ratio(&pcm, AGENT_TONE_HZ, 8000) < 0.2);
    }

    #[test]
    fn lost_g722_and_pcma_packets_show_as_a_tone_gap() {
        for codec in [Codec::Pcma, Codec::G722] {
            // 4 packets lost in a row: an 80 ms gap fails; 2 (40 ms) pass.
            let (c, _) = round_trip(codec, CALLER_TONE_HZ, CALLER_TONE_HZ, 60, |i| {
                (30..34).contains(&i)
            });
            assert_eq!(c.max_gap(), Duration::from_millis(80), "{codec:?}");
            assert!(!c.ok(), "{codec:?}");
            let (c, _) = round_trip(codec, CALLER_TONE_HZ, CALLER_TONE_HZ, 60, |i| {
                (30..32).contains(&i)
            });
            assert!(c.ok(), "{codec:?}: {:?}", c.max_gap());
        }
    }
}

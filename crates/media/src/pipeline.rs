//! The per-leg media pipeline: what turns one leg's received RTP into audio at the
//! internal rate, and audio at the internal rate into that leg's RTP payloads.
//!
//! ```text
//! receive: RTP packet -> jitter buffer -> decode -> resample to 8 kHz -> frame (DTMF,
//!          AMD, recorder, mixer read it: the hook is the caller's loop over frames)
//! send:    8 kHz frame -> resample to the codec rate -> encode -> payload
//! ```
//!
//! **Jitter buffer in every decoding path.** Audio packets go through the
//! [`switchboard_rtp::JitterBuffer`] before they are decoded, so whatever reads the
//! decoded audio (IVR input, the recorder, answering-machine detection, the supervision
//! mixer) gets frames in timestamp order, once each, with lost or late ones concealed
//! (the last frame repeated at half the level, then silence). When the buffer grows its
//! delay it pauses playout for a frame; that pause is not given out (the timeline stays
//! the stream's); when it shrinks, the skipped frame is a gap in the timestamps. Packets are copied into
//! the buffer's preallocated slots ([`MAX_HELD_PAYLOAD`] bytes each): the receive buffer
//! is not kept alive and nothing is allocated per packet. There is no playout timer: the
//! path's playout clock advances with the arrival times it is given ([`push`] and
//! [`poll_decoded`] take `now`), one frame per ptime, so a bridged call needs no tick.
//! Frames still buffered when packets stop (at most the playout delay, ≤ 140 ms) come
//! out with the next packet, or not at all at the end of the stream.
//! Pure same-codec relay does not come here: the bridge forwards the received packet as is.
//!
//! **Per-codec state is boxed.** A G.711 leg carries no G.722 state and no resampler;
//! a G.722 leg boxes its codec state, both resamplers and its wideband scratch. The
//! buffers are allocated on first use, so a leg that never decodes (a relayed call
//! without recording) or never encodes pays nothing for them.
//!
//! [`push`]: LegPipeline::push
//! [`poll_decoded`]: LegPipeline::poll_decoded

use std::time::{Duration, Instant};

use switchboard_rtp::{Buffered, JitterBuffer, JitterConfig, JitterStats, Playout, PushOutcome};

use crate::codec::Codec;
use crate::codec_registry::{StreamFormat, INTERNAL_RATE};
use crate::g711;
use crate::g722::{G722Decoder, G722Encoder};
use crate::resample::{Downsampler, Upsampler};

/// Largest payload the jitter buffer holds (60 ms of a 64 kbit/s codec). A larger one is
/// counted in [`PipelineStats::oversize`] and not decoded (a relay still forwards it).
pub const MAX_HELD_PAYLOAD: usize = 480;
/// Most samples one packet yields at the internal rate (120 ms, the longest ptime).
pub const MAX_FRAME: usize = 960;
/// The jitter buffer's playout delay bounds on decoding paths.
pub const MIN_DELAY: Duration = Duration::from_millis(20);
/// See [`MIN_DELAY`].
pub const MAX_DELAY: Duration = Duration::from_millis(140);
const REFRAME_MIN: Duration = Duration::from_millis(10);
const REFRAME_MAX: Duration = Duration::from_millis(120);
const REFRAME_AFTER: u32 = 5;
/// Concealment frames repeated (halving) before the concealment turns to silence.
const CONCEAL_REPEATS: u32 = 3;

/// A packet copied into a jitter buffer slot.
#[derive(Debug, Clone)]
struct Held {
    ssrc: u32,
    sequence: u16,
    timestamp: u32,
    len: u16,
    data: [u8; MAX_HELD_PAYLOAD],
}

impl Buffered for Held {
    fn ssrc(&self) -> u32 {
        self.ssrc
    }
    fn sequence(&self) -> u16 {
        self.sequence
    }
    fn timestamp(&self) -> u32 {
        self.timestamp
    }
}

/// Wideband codec state (G.722): codec state, resamplers, a 16 kHz scratch buffer.
#[derive(Debug)]
struct Wideband {
    enc: G722Encoder,
    dec: G722Decoder,
    up: Upsampler,
    down: Downsampler,
    wide: [i16; 2 * MAX_FRAME],
}

/// Per-codec state: only the tag inline; anything stateful is boxed.
#[derive(Debug)]
enum CodecState {
    Pcmu,
    Pcma,
    G722(Box<Wideband>),
}

impl CodecState {
    fn new(codec: Codec) -> CodecState {
        match codec {
            Codec::Pcmu => CodecState::Pcmu,
            Codec::Pcma => CodecState::Pcma,
            Codec::G722 => CodecState::G722(Box::new(Wideband {
                enc: G722Encoder::default(),
                dec: G722Decoder::default(),
                up: Upsampler::new(),
                down: Downsampler::new(),
                wide: [0; 2 * MAX_FRAME],
            })),
        }
    }

    /// Decodes `payload` into `out` at the internal rate; returns samples written.
    fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> usize {
        match self {
            CodecState::Pcmu => g711::ulaw_decode_slice(payload, out),
            CodecState::Pcma => g711::alaw_decode_slice(payload, out),
            CodecState::G722(w) => {
                let w = &mut **w;
                let max = payload.len().min(w.wide.len() / 2);
                let n = w.dec.decode(&payload[..max], &mut w.wide);
                w.down.process(&w.wide[..n], out)
            }
        }
    }

    /// Encodes internal-rate `pcm` into `out`; returns bytes written.
    fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> usize {
        match self {
            CodecState::Pcmu => g711::ulaw_encode_slice(pcm, out),
            CodecState::Pcma => g711::alaw_encode_slice(pcm, out),
            CodecState::G722(w) => {
                let w = &mut **w;
                let n = w.up.process(pcm, &mut w.wide);
                w.enc.encode(&w.wide[..n], out)
            }
        }
    }
}

/// The receive side's jitter buffer and playout clock.
#[derive(Debug)]
struct Playback {
    jb: JitterBuffer<Held>,
    frame: Duration,
    frame_ticks: u32,
    /// When the next frame is due on the arrival-driven playout clock.
    next_pop: Option<Instant>,
    /// RTP timestamp of the last frame given out (concealed frames extrapolate it).
    last_ts: Option<u32>,
    /// Samples in the last frame given out (what a concealment repeats).
    last_len: usize,
    conceal_run: u32,
    /// Another packetisation seen on consecutive packets, and how many in a row.
    other_frame: Option<(Duration, u32)>,
    /// Counters of the buffers this one replaced (reframed), so stats survive a rebuild.
    retired: JitterStats,
}

impl Playback {
    fn new(ptime: Duration, clock_rate: u32) -> Box<Playback> {
        let frame = ptime.max(Duration::from_millis(10));
        Box::new(Playback {
            jb: JitterBuffer::new(JitterConfig {
                clock_rate,
                frame,
                min_delay: MIN_DELAY,
                max_delay: MAX_DELAY,
                capacity: 16,
                idle_after: 10,
            }),
            frame,
            frame_ticks: (frame.as_micros() as u64 * u64::from(clock_rate) / 1_000_000) as u32,
            next_pop: None,
            last_ts: None,
            last_len: 0,
            conceal_run: 0,
            other_frame: None,
            retired: JitterStats::default(),
        })
    }
}

/// Counters of one leg's decoding path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PipelineStats {
    /// The jitter buffer's counters (late, duplicates, concealed, ...), summed over
    /// every rebuild.
    pub jitter: JitterStats,
    /// Packets larger than [`MAX_HELD_PAYLOAD`], not decoded.
    pub oversize: u64,
    /// Times the jitter buffer was rebuilt because the remote packetises with another
    /// ptime than negotiated.
    pub reframed: u64,
}

/// One frame of decoded audio at the internal rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodedFrame<'a> {
    /// RTP timestamp of the frame (extrapolated for a concealed one).
    pub timestamp: u32,
    /// The samples at [`INTERNAL_RATE`].
    pub samples: &'a [i16],
    /// The packet was missing (lost or late): these samples are a concealment.
    pub concealed: bool,
}

/// One leg's codec pipeline: jitter buffer and decoder on the way in, encoder on the way
/// out, both at [`INTERNAL_RATE`] on the application side.
#[derive(Debug)]
pub struct LegPipeline {
    format: StreamFormat,
    codec: CodecState,
    /// Decoded audio (allocated on first decode).
    pcm: Vec<i16>,
    /// Encoded payload (allocated on first encode).
    payload: Vec<u8>,
    playback: Option<Box<Playback>>,
    oversize: u64,
    reframed: u64,
}

impl LegPipeline {
    /// The pipeline of a negotiated stream.
    pub fn new(format: StreamFormat) -> LegPipeline {
        LegPipeline {
            format,
            codec: CodecState::new(format.codec()),
            pcm: Vec::new(),
            payload: Vec::new(),
            playback: None,
            oversize: 0,
            reframed: 0,
        }
    }

    /// The stream's format.
    pub fn format(&self) -> &StreamFormat {
        &self.format
    }

    /// RTP clock ticks that `samples` internal-rate samples span.
    pub fn ticks_for(&self, samples: usize) -> u32 {
        (samples as u64 * u64::from(self.format.spec.rtp_clock_rate) / u64::from(INTERNAL_RATE))
            as u32
    }

    /// Encodes one frame of internal-rate audio; the payload to send.
    pub fn encode(&mut self, pcm: &[i16]) -> &[u8] {
        if self.payload.is_empty() {
            self.payload = vec![0; 2 * MAX_FRAME];
        }
        let pcm = &pcm[..pcm.len().min(MAX_FRAME)];
        let n = self.codec.encode(pcm, &mut self.payload);
        &self.payload[..n]
    }

    /// Feeds a received packet of this leg's audio payload type (telephone-event and
    /// others are the caller's business) to the jitter buffer, at its arrival time.
    pub fn push(
        &mut self,
        now: Instant,
        header: &switchboard_rtp::RtpHeader,
        payload: &[u8],
    ) -> PushOutcome {
        if payload.len() > MAX_HELD_PAYLOAD {
            self.oversize += 1;
            return PushOutcome::Late;
        }
        let clock = self.format.spec.rtp_clock_rate;
        let ptime = Duration::from_millis(u64::from(self.format.ptime_ms));
        let pb = self
            .playback
            .get_or_insert_with(|| Playback::new(ptime, clock));
        let mut held = Held {
            ssrc: header.ssrc,
            sequence: header.sequence,
            timestamp: header.timestamp,
            len: payload.len() as u16,
            data: [0; MAX_HELD_PAYLOAD],
        };
        if let Some(d) = held.data.get_mut(..payload.len()) {
            d.copy_from_slice(payload);
        }
        pb.next_pop.get_or_insert(now);
        let outcome = pb.jb.push(now, held);
        // The remote packetises with another ptime than negotiated: once five packets in
        // a row say so (a silence gap changes one step, not five), rebuild on its ptime.
        let observed = pb
            .jb
            .observed_frame()
            .filter(|of| *of != pb.frame && (REFRAME_MIN..=REFRAME_MAX).contains(of));
        pb.other_frame = match (observed, pb.other_frame) {
            (Some(of), Some((prev, run))) if of == prev => Some((of, run + 1)),
            (Some(of), _) => Some((of, 1)),
            (None, _) => None,
        };
        if let Some((of, REFRAME_AFTER)) = pb.other_frame {
            self.reframed += 1;
            let mut fresh = Playback::new(of, clock);
            fresh.retired = pb.retired;
            add_stats(&mut fresh.retired, &pb.jb.stats());
            fresh.next_pop = Some(now);
            fresh.last_ts = pb.last_ts;
            fresh.last_len = pb.last_len;
            *pb = fresh;
        }
        outcome
    }

    /// The next decoded frame due at `now` on the playout clock, if any; call in a loop
    /// after each [`push`](Self::push) until `None`.
    pub fn poll_decoded(&mut self, now: Instant) -> Option<DecodedFrame<'_>> {
        let pb = self.playback.as_mut()?;
        loop {
            let mut due = pb.next_pop?;
            if due > now {
                return None;
            }
            // Far behind (a long silence without pops): jump to now; the buffer
            // resynchronises on the next packet.
            let cap = pb.frame * pb.jb.capacity() as u32;
            if now.saturating_duration_since(due) > cap {
                due = now;
            }
            pb.next_pop = Some(due + pb.frame);
            let inserted = pb.jb.stats().inserted;
            match pb.jb.pop(due) {
                Playout::Empty => {
                    if let Some(ts) = pb.last_ts.as_mut() {
                        *ts = ts.wrapping_add(pb.frame_ticks);
                    }
                }
                Playout::Frame(h) => {
                    pb.conceal_run = 0;
                    return Some(decode_held(&mut self.codec, &mut self.pcm, pb, &h));
                }
                Playout::Conceal if pb.jb.stats().inserted != inserted => {
                    // The buffer grows its delay: a pause in playout, not a frame of
                    // the stream (the next frame has the timestamp this one would).
                }
                Playout::Conceal => {
                    let Some(ts) = pb.last_ts else { continue };
                    let ts = ts.wrapping_add(pb.frame_ticks);
                    pb.last_ts = Some(ts);
                    if self.pcm.is_empty() {
                        self.pcm = vec![0; MAX_FRAME];
                    }
                    let n = if pb.last_len == 0 {
                        (pb.frame_ticks as usize).min(MAX_FRAME)
                    } else {
                        pb.last_len
                    };
                    pb.last_len = n;
                    pb.conceal_run += 1;
                    let frame = self.pcm.get_mut(..n).unwrap_or(&mut []);
                    if pb.conceal_run > CONCEAL_REPEATS {
                        frame.fill(0);
                    } else {
                        frame.iter_mut().for_each(|s| *s /= 2);
                    }
                    return Some(DecodedFrame {
                        timestamp: ts,
                        samples: frame,
                        concealed: true,
                    });
                }
            }
        }
    }

    /// At the end of the stream: the next frame still in the jitter buffer, decoded, in
    /// order and without waiting for the playout clock (nothing is concealed); call in a
    /// loop until `None`, e.g. before a recording is closed, so its last 20-140 ms are
    /// not lost.
    pub fn drain_decoded(&mut self) -> Option<DecodedFrame<'_>> {
        let pb = self.playback.as_mut()?;
        let h = pb.jb.drain_next()?;
        Some(decode_held(&mut self.codec, &mut self.pcm, pb, &h))
    }

    /// Decoding-path counters.
    pub fn stats(&self) -> PipelineStats {
        let mut jitter = JitterStats::default();
        if let Some(pb) = &self.playback {
            jitter = pb.retired;
            add_stats(&mut jitter, &pb.jb.stats());
        }
        PipelineStats {
            jitter,
            oversize: self.oversize,
            reframed: self.reframed,
        }
    }
}

fn add_stats(into: &mut JitterStats, s: &JitterStats) {
    into.pushed += s.pushed;
    into.played += s.played;
    into.concealed += s.concealed;
    into.inserted += s.inserted;
    into.dropped += s.dropped;
    into.late += s.late;
    into.duplicates += s.duplicates;
    into.resyncs += s.resyncs;
    into.empty += s.empty;
    into.misaligned += s.misaligned;
}

/// Decodes a held packet into `pcm` (allocated on first use) and notes it as the last
/// frame given out (what a concealment extrapolates from).
fn decode_held<'a>(
    codec: &mut CodecState,
    pcm: &'a mut Vec<i16>,
    pb: &mut Playback,
    h: &Held,
) -> DecodedFrame<'a> {
    if pcm.is_empty() {
        *pcm = vec![0; MAX_FRAME];
    }
    let payload = h.data.get(..usize::from(h.len)).unwrap_or(&[]);
    let n = codec.decode(payload, pcm);
    pb.last_ts = Some(h.timestamp);
    pb.last_len = n;
    DecodedFrame {
        timestamp: h.timestamp,
        samples: pcm.get(..n).unwrap_or(&[]),
        concealed: false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use switchboard_rtp::RtpHeader;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn g711_legs_carry_no_wideband_state_inline() {
        // The codec state is a tag plus a box; the whole pipeline stays small inline.
        assert!(std::mem::size_of::<CodecState>() <= 16);
        assert!(
            std::mem::size_of::<LegPipeline>() <= 112,
            "{}",
            std::mem::size_of::<LegPipeline>()
        );
    }

    #[test]
    fn in_order_packets_come_out_once_each_after_the_playout_delay() {
        let t0 = crate::test_epoch();
        let mut p = LegPipeline::new(StreamFormat::of(Codec::Pcmu));
        let mut got = vec![];
        for i in 0..10u32 {
            let now = t0 + ms(20 * u64::from(i));
            let h = RtpHeader::new(0, i as u16, 160 * i, 1);
            p.push(now, &h, &[0xff; 160]);
            while let Some(f) = p.poll_decoded(now) {
                assert_eq!(f.samples.len(), 160);
                got.push((f.timestamp, f.concealed));
            }
        }
        let want: Vec<_> = (0..9u32).map(|i| (160 * i, false)).collect();
        assert_eq!(got, want, "one frame of delay");
    }

    #[test]
    fn a_lost_packet_is_concealed_and_the_timeline_continues() {
        let t0 = crate::test_epoch();
        let mut p = LegPipeline::new(StreamFormat::of(Codec::Pcma));
        let mut got = vec![];
        for i in 0..8u32 {
            if i == 4 {
                continue;
            }
            let now = t0 + ms(20 * u64::from(i));
            p.push(now, &RtpHeader::new(8, i as u16, 160 * i, 1), &[0x55; 160]);
            while let Some(f) = p.poll_decoded(now) {
                got.push((f.timestamp, f.concealed));
            }
        }
        assert_eq!(got.len(), 7);
        assert!(got.contains(&(640, true)), "{got:?}");
        assert_eq!(p.stats().jitter.concealed, 1);
    }

    #[test]
    fn wideband_legs_decode_and_encode_at_the_internal_rate() {
        let t0 = crate::test_epoch();
        let mut p = LegPipeline::new(StreamFormat::of(Codec::G722));
        let tone: Vec<i16> = (0..160)
            .map(|i| ((i as f32 * 0.3).sin() * 8000.0) as i16)
            .collect();
        let payload = p.encode(&tone).to_vec();
        assert_eq!(payload.len(), 160, "64 kbit/s: one byte per 8 kHz tick");
        assert_eq!(p.ticks_for(160), 160);
        p.push(t0, &RtpHeader::new(9, 0, 0, 1), &payload);
        p.push(t0 + ms(20), &RtpHeader::new(9, 1, 160, 1), &payload);
        let f = p.poll_decoded(t0 + ms(20)).unwrap();
        assert_eq!(f.samples.len(), 160);
    }

    #[test]
    fn the_frames_still_held_at_the_end_are_drained_in_order() {
        let t0 = crate::test_epoch();
        let mut p = LegPipeline::new(StreamFormat::of(Codec::Pcmu));
        let mut got = vec![];
        // Ten packets, the eighth lost, all arriving at once (a burst the playout clock
        // has not reached when the stream ends).
        for i in (0..10u32).filter(|i| *i != 7) {
            p.push(t0, &RtpHeader::new(0, i as u16, 160 * i, 1), &[0xff; 160]);
            while let Some(f) = p.poll_decoded(t0) {
                got.push(f.timestamp);
            }
        }
        while let Some(f) = p.drain_decoded() {
            assert!(!f.concealed);
            assert_eq!(f.samples.len(), 160);
            got.push(f.timestamp);
        }
        let want: Vec<u32> = (0..10u32).filter(|i| *i != 7).map(|i| 160 * i).collect();
        assert_eq!(got, want, "every packet once, in order, the gap skipped");
        assert!(p.drain_decoded().is_none());
        // A leg that never received anything drains nothing.
        assert!(LegPipeline::new(StreamFormat::of(Codec::Pcma))
            .drain_decoded()
            .is_none());
    }

    #[test]
    fn oversize_payloads_are_counted_not_decoded() {
        let t0 = crate::test_epoch();
        let mut p = LegPipeline::new(StreamFormat::of(Codec::Pcmu));
        p.push(t0, &RtpHeader::new(0, 0, 0, 1), &[0; MAX_HELD_PAYLOAD + 1]);
        assert_eq!(p.stats().oversize, 1);
        assert!(p.poll_decoded(t0 + ms(100)).is_none());
    }
}

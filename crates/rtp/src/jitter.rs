//! Adaptive jitter buffer, sans-IO: `push(now, packet)` on arrival, `pop(now)` once per
//! frame (every ptime) from the playout clock.
//!
//! Playout is by RTP timestamp: frame `f` holds the packet whose timestamp is
//! `f * frame_ts` past the stream's base. Slots are preallocated (`capacity`, a power of
//! two) and indexed by `f % capacity`; once warm, a packet costs no allocation.
//!
//! **Delay model.** For each arrival the buffer records the offset `arrival - media time`.
//! Over a sliding window (128 packets) the lowest offset is the "fastest path" and
//! `max - min` the spread. The playout delay is how far behind the fastest path the
//! frame being played is; its target is `spread + frame/4`, bounded by
//! `[min_delay, max_delay]`. When the delay is below target, `pop` inserts a concealment
//! frame without advancing (the buffer grows); when above target by more than 1.5 frames
//! it drops one frame (preferring a missing one). Adjustments of present frames are at
//! least 5 frames apart. The same
//! mechanism absorbs clock skew between sender and receiver.
//!
//! **Resynchronisation.** An SSRC change, a timestamp jump of `capacity` frames or more
//! either way, or 8 late packets in a row flush the buffer and restart it on the new
//! packet (it primes again: `Empty` until the target delay is reached).

use std::time::{Duration, Instant};

use crate::packet::RtpPacket;

const WINDOW: usize = 128;
const LATE_RUN_RESYNC: u32 = 8;
const ADJUST_COOLDOWN: u32 = 5;

/// Jitter buffer settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// RTP clock rate (8000 for G.711; 8000 for G.722's RTP clock too).
    pub clock_rate: u32,
    /// Frame duration (the negotiated ptime); `pop` is called once per frame.
    pub frame: Duration,
    /// Lowest playout delay.
    pub min_delay: Duration,
    /// Highest playout delay.
    pub max_delay: Duration,
    /// Slots (rounded up to a power of two, at least 2 × max_delay/frame).
    pub capacity: usize,
    /// After this many frames with nothing to play and nothing buffered, `pop` returns
    /// `Empty` instead of `Conceal` (silence suppression, hold).
    pub idle_after: u32,
}

impl Default for JitterConfig {
    fn default() -> Self {
        JitterConfig {
            clock_rate: 8000,
            frame: Duration::from_millis(20),
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(300),
            capacity: 64,
            idle_after: 10,
        }
    }
}

/// What the buffer needs to know of what it holds: the RTP header fields it orders by.
/// [`RtpPacket`] is the usual item; a driver that must not keep the receive buffer
/// alive (the media pipeline copies payloads into fixed slots) stores its own type.
pub trait Buffered {
    /// Synchronisation source.
    fn ssrc(&self) -> u32;
    /// Sequence number.
    fn sequence(&self) -> u16;
    /// Media timestamp.
    fn timestamp(&self) -> u32;
}

impl Buffered for RtpPacket {
    fn ssrc(&self) -> u32 {
        self.header.ssrc
    }
    fn sequence(&self) -> u16 {
        self.header.sequence
    }
    fn timestamp(&self) -> u32 {
        self.header.timestamp
    }
}

/// What to play for one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout<T = RtpPacket> {
    /// The frame's packet.
    Frame(T),
    /// The frame is missing (lost, late, or inserted to grow the delay): conceal it.
    Conceal,
    /// Nothing to play: not primed yet, or the stream is idle.
    Empty,
}

/// What `push` did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Stored for playout.
    Buffered,
    /// Already buffered or played: dropped.
    Duplicate,
    /// Its frame was already played or concealed: dropped.
    Late,
    /// The buffer restarted on this packet (SSRC change, timestamp jump, late run).
    Resynced,
}

/// Counters and gauges for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JitterStats {
    /// Packets pushed.
    pub pushed: u64,
    /// Frames played from a packet.
    pub played: u64,
    /// Frames concealed because their packet was missing at playout (lost or late).
    pub concealed: u64,
    /// Concealment frames inserted to grow the delay.
    pub inserted: u64,
    /// Frames dropped to shrink the delay (missing ones included).
    pub dropped: u64,
    /// Packets dropped because they arrived after their playout time.
    pub late: u64,
    /// Duplicate packets dropped.
    pub duplicates: u64,
    /// Restarts (SSRC change, timestamp jump, run of late packets).
    pub resyncs: u64,
    /// Pops that returned `Empty`.
    pub empty: u64,
    /// Packets whose timestamp is not on a frame boundary (the remote packetises with a
    /// different ptime than configured; see [`JitterBuffer::observed_frame`]).
    pub misaligned: u64,
}

#[derive(Debug, Clone)]
struct Slot<T> {
    frame: i64,
    packet: Option<T>,
    played: bool,
}

/// The adaptive jitter buffer for one received stream, holding `T`s (RTP packets by
/// default).
#[derive(Debug)]
pub struct JitterBuffer<T = RtpPacket> {
    cfg: JitterConfig,
    frame_ts: i64,
    frame_us: i64,
    slots: Box<[Slot<T>]>,
    mask: usize,
    /// Epoch for arrival times, set by the first packet.
    epoch: Option<Instant>,
    ssrc: u32,
    /// Timestamp unwrapping reference: (last raw timestamp, its extended value).
    ts_ref: (u32, i64),
    /// Next frame to play.
    playout: i64,
    /// Highest frame buffered.
    newest: i64,
    primed: bool,
    offsets: Box<[i64; WINDOW]>,
    n_offsets: usize,
    next_offset: usize,
    late_run: u32,
    /// Last (sequence, timestamp) pushed, and the timestamp step between consecutive
    /// sequence numbers last seen.
    last_seq_ts: Option<(u16, u32)>,
    observed_step: Option<u32>,
    idle_run: u32,
    since_adjust: u32,
    stats: JitterStats,
}

impl<T: Buffered> JitterBuffer<T> {
    /// A buffer with every slot allocated up front.
    pub fn new(cfg: JitterConfig) -> Self {
        let frame_ts =
            (cfg.frame.as_micros() * u128::from(cfg.clock_rate) / 1_000_000).max(1) as i64;
        let frame_us = (cfg.frame.as_micros() as i64).max(1);
        let need = 2 * (cfg.max_delay.as_micros() as i64 / frame_us + 1) as usize;
        let cap = cfg.capacity.max(need).max(4).next_power_of_two();
        let slots = (0..cap)
            .map(|_| Slot {
                frame: i64::MIN,
                packet: None,
                played: false,
            })
            .collect();
        JitterBuffer {
            cfg,
            frame_ts,
            frame_us,
            slots,
            mask: cap - 1,
            epoch: None,
            ssrc: 0,
            ts_ref: (0, 0),
            playout: 0,
            newest: 0,
            primed: false,
            offsets: Box::new([0; WINDOW]),
            n_offsets: 0,
            next_offset: 0,
            late_run: 0,
            last_seq_ts: None,
            observed_step: None,
            idle_run: 0,
            since_adjust: 0,
            stats: JitterStats::default(),
        }
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Counters so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// The packet duration the remote actually uses, from the timestamp step between
    /// consecutive sequence numbers. When it differs from the configured frame, the
    /// driver should rebuild the buffer (and its playout tick) with that frame.
    pub fn observed_frame(&self) -> Option<Duration> {
        let step = self.observed_step?;
        Some(Duration::from_micros(
            u64::from(step) * 1_000_000 / u64::from(self.cfg.clock_rate.max(1)),
        ))
    }

    /// Whether playout has started.
    pub fn is_primed(&self) -> bool {
        self.primed
    }

    fn cap(&self) -> i64 {
        self.slots.len() as i64
    }

    fn slot_mut(&mut self, frame: i64) -> Option<&mut Slot<T>> {
        let i = (frame as usize) & self.mask;
        self.slots.get_mut(i)
    }

    fn extend_ts(&mut self, ts: u32) -> i64 {
        let (raw, ext) = self.ts_ref;
        let e = ext + i64::from(ts.wrapping_sub(raw) as i32);
        self.ts_ref = (ts, e);
        e
    }

    fn since_epoch_us(&self, now: Instant) -> i64 {
        self.epoch
            .map_or(0, |e| now.saturating_duration_since(e).as_micros() as i64)
    }

    fn reset(&mut self, now: Instant, packet: &T) {
        for s in self.slots.iter_mut() {
            s.frame = i64::MIN;
            s.packet = None;
            s.played = false;
        }
        self.epoch = Some(now);
        self.ssrc = packet.ssrc();
        self.ts_ref = (packet.timestamp(), 0);
        self.playout = 0;
        self.newest = 0;
        self.primed = false;
        self.n_offsets = 0;
        self.next_offset = 0;
        self.late_run = 0;
        self.idle_run = 0;
        self.since_adjust = 0;
    }

    /// Feeds a received packet (call on arrival, with the arrival time).
    pub fn push(&mut self, now: Instant, packet: T) -> PushOutcome {
        self.stats.pushed += 1;
        let (seq, ts) = (packet.sequence(), packet.timestamp());
        if let Some((ls, lt)) = self.last_seq_ts {
            let step = ts.wrapping_sub(lt);
            if seq == ls.wrapping_add(1) && (step as i32) > 0 {
                self.observed_step = Some(step);
            }
        }
        self.last_seq_ts = Some((seq, ts));
        let mut outcome = PushOutcome::Buffered;
        if self.epoch.is_none() {
            self.reset(now, &packet);
        } else if packet.ssrc() != self.ssrc {
            self.resync(now, &packet);
            outcome = PushOutcome::Resynced;
        }
        let mut ext = self.extend_ts(packet.timestamp());
        let mut frame = ext.div_euclid(self.frame_ts);
        let cap = self.cap();
        let ahead = frame - self.playout;
        if ahead >= cap || ahead <= -cap {
            self.resync(now, &packet);
            outcome = PushOutcome::Resynced;
            ext = self.extend_ts(packet.timestamp());
            frame = ext.div_euclid(self.frame_ts);
        }
        if ext.rem_euclid(self.frame_ts) != 0 {
            self.stats.misaligned += 1;
        }
        let offset =
            self.since_epoch_us(now) - ext * 1_000_000 / i64::from(self.cfg.clock_rate.max(1));
        if frame < self.playout {
            if !self.primed && self.playout - frame < cap / 2 {
                // Reordered before playout started: start earlier.
                self.playout = frame;
            } else {
                let dup = self
                    .slot_mut(frame)
                    .is_some_and(|s| s.frame == frame && s.played);
                if dup {
                    self.stats.duplicates += 1;
                    return PushOutcome::Duplicate;
                }
                self.record_offset(offset);
                self.stats.late += 1;
                self.late_run += 1;
                if self.late_run >= LATE_RUN_RESYNC {
                    self.resync(now, &packet);
                    return self.store(now, packet, PushOutcome::Resynced);
                }
                return PushOutcome::Late;
            }
        }
        self.late_run = 0;
        self.record_offset(offset);
        if let Some(s) = self.slot_mut(frame) {
            if s.frame == frame && s.packet.is_some() {
                self.stats.duplicates += 1;
                return PushOutcome::Duplicate;
            }
            s.frame = frame;
            s.packet = Some(packet);
            s.played = false;
        }
        self.newest = self.newest.max(frame);
        outcome
    }

    fn store(&mut self, now: Instant, packet: T, outcome: PushOutcome) -> PushOutcome {
        let ext = self.extend_ts(packet.timestamp());
        let frame = ext.div_euclid(self.frame_ts);
        let offset =
            self.since_epoch_us(now) - ext * 1_000_000 / i64::from(self.cfg.clock_rate.max(1));
        self.record_offset(offset);
        if let Some(s) = self.slot_mut(frame) {
            s.frame = frame;
            s.packet = Some(packet);
            s.played = false;
        }
        self.newest = frame;
        outcome
    }

    fn resync(&mut self, now: Instant, packet: &T) {
        self.stats.resyncs += 1;
        self.reset(now, packet);
    }

    fn record_offset(&mut self, offset: i64) {
        if let Some(o) = self.offsets.get_mut(self.next_offset) {
            *o = offset;
        }
        self.next_offset = (self.next_offset + 1) % WINDOW;
        self.n_offsets = (self.n_offsets + 1).min(WINDOW);
    }

    /// (lowest, highest) offset in the window, in one pass.
    fn window(&self) -> (i64, i64) {
        let w = self.offsets.get(..self.n_offsets).unwrap_or(&[]);
        if w.is_empty() {
            return (0, 0);
        }
        w.iter()
            .fold((i64::MAX, i64::MIN), |(lo, hi), &o| (lo.min(o), hi.max(o)))
    }

    fn target_us(&self, (lo, hi): (i64, i64)) -> i64 {
        let t = (hi - lo + self.frame_us / 4).max(0);
        let min = self.cfg.min_delay.as_micros() as i64;
        let max = (self.cfg.max_delay.as_micros() as i64).max(min);
        t.clamp(min, max)
    }

    /// The current target playout delay.
    pub fn target_delay(&self) -> Duration {
        Duration::from_micros(self.target_us(self.window()) as u64)
    }

    /// The playout delay of the next frame at `now`, relative to the fastest recent
    /// arrival path (what the buffer steers towards [`target_delay`](Self::target_delay)).
    pub fn current_delay(&self, now: Instant) -> Duration {
        Duration::from_micros(self.delay_us(now, self.window().0).max(0) as u64)
    }

    fn delay_us(&self, now: Instant, lowest: i64) -> i64 {
        self.since_epoch_us(now) - self.playout * self.frame_us - lowest
    }

    /// Frames buffered at or after the playout point.
    pub fn buffered(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.packet.is_some() && s.frame >= self.playout)
            .count()
    }

    /// At the end of a stream (the call or the recording ends): the next packet still
    /// held, in playout order, regardless of the playout clock; gaps are skipped, not
    /// concealed. `None` once nothing is left.
    pub fn drain_next(&mut self) -> Option<T> {
        self.epoch?;
        while self.playout <= self.newest {
            let frame = self.playout;
            self.playout += 1;
            if let Some(p) = self.take(frame) {
                self.stats.played += 1;
                return Some(p);
            }
        }
        None
    }

    fn take(&mut self, frame: i64) -> Option<T> {
        let s = self.slot_mut(frame)?;
        if s.frame != frame {
            s.frame = frame;
            s.packet = None;
            s.played = false;
            return None;
        }
        let p = s.packet.take();
        s.played = p.is_some();
        p
    }

    /// Call once per frame from the playout clock: what to play now.
    pub fn pop(&mut self, now: Instant) -> Playout<T> {
        if self.epoch.is_none() {
            self.stats.empty += 1;
            return Playout::Empty;
        }
        let window = self.window();
        let target = self.target_us(window);
        let delay = self.delay_us(now, window.0);
        if !self.primed {
            if delay < target {
                self.stats.empty += 1;
                return Playout::Empty;
            }
            self.primed = true;
        }
        self.since_adjust = self.since_adjust.saturating_add(1);
        if delay < target && self.since_adjust >= ADJUST_COOLDOWN {
            // Grow: play a concealment frame and keep the playout point.
            self.since_adjust = 0;
            self.stats.inserted += 1;
            return Playout::Conceal;
        }
        if delay > target + self.frame_us * 3 / 2 && self.playout < self.newest {
            let missing = self
                .slots
                .get((self.playout as usize) & self.mask)
                .is_none_or(|s| s.frame != self.playout || s.packet.is_none());
            if missing || self.since_adjust >= ADJUST_COOLDOWN {
                // Shrink: skip one frame, a missing one costs nothing.
                self.since_adjust = 0;
                let _ = self.take(self.playout);
                self.playout += 1;
                self.stats.dropped += 1;
            }
        }
        let frame = self.playout;
        self.playout += 1;
        match self.take(frame) {
            Some(p) => {
                self.idle_run = 0;
                self.stats.played += 1;
                Playout::Frame(p)
            }
            None => {
                self.idle_run += 1;
                if self.newest < self.playout && self.idle_run > self.cfg.idle_after {
                    self.stats.empty += 1;
                    Playout::Empty
                } else {
                    self.stats.concealed += 1;
                    Playout::Conceal
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::packet::RtpHeader;
    use bytes::Bytes;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn pkt(seq: u16, ts: u32) -> RtpPacket {
        RtpPacket::new(RtpHeader::new(0, seq, ts, 7), Bytes::from_static(&[1; 160]))
    }

    fn seq_of(p: Playout) -> Option<u16> {
        match p {
            Playout::Frame(p) => Some(p.header.sequence),
            _ => None,
        }
    }

    #[test]
    fn primes_then_plays_in_order_despite_reordering() {
        let t0 = crate::test_epoch();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        assert_eq!(jb.pop(t0), Playout::Empty, "nothing yet");
        // Packets 1 and 0 arrive swapped before playout starts.
        assert_eq!(jb.push(t0, pkt(1, 160)), PushOutcome::Buffered);
        assert_eq!(jb.push(t0 + ms(1), pkt(0, 0)), PushOutcome::Buffered);
        assert_eq!(jb.pop(t0 + ms(5)), Playout::Empty, "priming to min delay");
        jb.push(t0 + ms(20), pkt(2, 320));
        assert_eq!(seq_of(jb.pop(t0 + ms(25))), Some(0));
        assert!(jb.is_primed());
        jb.push(t0 + ms(40), pkt(3, 480));
        assert_eq!(seq_of(jb.pop(t0 + ms(45))), Some(1));
        assert_eq!(seq_of(jb.pop(t0 + ms(65))), Some(2));
        assert_eq!(jb.buffered(), 1);
    }

    #[test]
    fn duplicates_late_and_loss_are_counted() {
        let t0 = crate::test_epoch();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        let mut now = t0;
        for i in 0..10u16 {
            if i == 5 {
                continue; // lost... until it shows up late below
            }
            now = t0 + ms(20 * u64::from(i));
            jb.push(now, pkt(i, 160 * u32::from(i)));
            if i == 3 {
                assert_eq!(jb.push(now, pkt(3, 480)), PushOutcome::Duplicate);
            }
        }
        let mut out = vec![];
        for k in 0..8u64 {
            out.push(seq_of(jb.pop(now + ms(20 * k))));
        }
        assert!(out.contains(&None), "frame 5 concealed: {out:?}");
        assert_eq!(jb.push(now + ms(200), pkt(5, 800)), PushOutcome::Late);
        // A duplicate of a frame already played is a duplicate, not late.
        assert_eq!(jb.push(now + ms(200), pkt(4, 640)), PushOutcome::Duplicate);
        let st = jb.stats();
        assert_eq!((st.late, st.duplicates, st.concealed), (1, 2, 1));
    }

    #[test]
    fn idle_stream_goes_empty_and_resumes() {
        let t0 = crate::test_epoch();
        let cfg = JitterConfig {
            idle_after: 3,
            ..JitterConfig::default()
        };
        let mut jb = JitterBuffer::new(cfg);
        jb.push(t0, pkt(0, 0));
        let mut now = t0 + ms(25);
        assert!(seq_of(jb.pop(now)).is_some());
        let mut kinds = vec![];
        for _ in 0..5 {
            now += ms(20);
            kinds.push(jb.pop(now));
        }
        assert_eq!(
            kinds,
            [
                Playout::Conceal,
                Playout::Conceal,
                Playout::Conceal,
                Playout::Empty,
                Playout::Empty
            ]
        );
        // Talkspurt resumes after DTX: timestamps continued, so it plays on time.
        jb.push(now + ms(10), pkt(1, 160 * 7));
        assert_eq!(seq_of(jb.pop(now + ms(20))), None);
        assert_eq!(seq_of(jb.pop(now + ms(40))), Some(1));
    }

    #[test]
    fn capacity_covers_max_delay() {
        let jb: JitterBuffer = JitterBuffer::new(JitterConfig {
            max_delay: Duration::from_secs(1),
            capacity: 8,
            ..JitterConfig::default()
        });
        assert!(jb.capacity() >= 100 && jb.capacity().is_power_of_two());
    }

    #[test]
    fn reports_the_remote_packetisation() {
        let t0 = crate::test_epoch();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        assert_eq!(jb.observed_frame(), None);
        // The remote sends 30 ms packets although 20 ms was configured.
        for i in 0..4u16 {
            jb.push(t0 + ms(30 * u64::from(i)), pkt(i, 240 * u32::from(i)));
        }
        assert_eq!(jb.observed_frame(), Some(ms(30)));
        assert_eq!(
            jb.stats().misaligned,
            2,
            "ts 240 and 720 are off the 160 grid"
        );
    }
}

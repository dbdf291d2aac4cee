//! Reception statistics for one remote source (RFC 3550 A.1 sequence validation, A.3
//! expected/lost/fraction lost, A.8 interarrival jitter) and the NTP clock mapping used
//! for sender reports and RTT (RFC 3550 §6.4.1 LSR/DLSR).

use std::time::{Duration, Instant};

use crate::rtcp::ReportBlock;

const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;
const MIN_SEQUENTIAL: u32 = 2;
const RTP_SEQ_MOD: u32 = 1 << 16;

/// Statistics of one received stream, for metrics and RTCP.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ReceiverStats {
    /// Remote SSRC.
    pub ssrc: u32,
    /// Packets accepted (after RFC 3550 A.1 probation), including duplicates.
    pub received: u64,
    /// Packets expected from the extended sequence numbers (A.3).
    pub expected: u64,
    /// Cumulative lost = expected - received (negative with duplicates).
    pub lost: i64,
    /// Fraction lost in the last report interval, /256.
    pub fraction_lost: u8,
    /// Extended highest sequence number received.
    pub extended_highest_seq: u32,
    /// Interarrival jitter (A.8) in timestamp units.
    pub jitter: u32,
    /// Interarrival jitter in milliseconds.
    pub jitter_ms: f64,
    /// Packets rejected by sequence validation (large jumps not confirmed).
    pub bad_sequence: u64,
    /// Round-trip time from the remote's last report about us, if known.
    pub rtt: Option<Duration>,
}

/// What the remote's RTCP told us about the stream we send (its latest report block
/// about our SSRC, RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PeerReport {
    /// Fraction of our packets lost in the peer's last interval, fixed point /256.
    pub fraction_lost: u8,
    /// Cumulative packets of ours the peer counts as lost (negative with duplicates).
    pub cumulative_lost: i32,
    /// The peer's interarrival jitter of our stream, in timestamp units.
    pub jitter: u32,
    /// The same jitter in milliseconds (at the stream's clock rate).
    pub jitter_ms: f64,
}

impl PeerReport {
    /// The figures of `block`, with jitter converted at `clock_rate` Hz.
    pub fn from_block(block: &ReportBlock, clock_rate: u32) -> PeerReport {
        PeerReport {
            fraction_lost: block.fraction_lost,
            cumulative_lost: block.cumulative_lost,
            jitter: block.jitter,
            jitter_ms: f64::from(block.jitter) * 1000.0 / f64::from(clock_rate.max(1)),
        }
    }
}

/// Sequence-number verdict for a packet (RFC 3550 A.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqVerdict {
    /// In order or acceptable misorder/gap: counted.
    Valid,
    /// Still in probation (source not yet validated): not counted.
    Probation,
    /// A large jump; a second sequential packet will restart the sequence.
    Bad,
    /// The sequence restarted after a confirmed jump (statistics were reset).
    Restarted,
}

/// Maps the driver's monotonic clock to NTP time (64-bit, 32.32 fixed point since 1900),
/// so the core never reads the wall clock: the driver samples both once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NtpClock {
    /// A monotonic instant.
    pub at: Instant,
    /// The NTP time at `at`.
    pub ntp: u64,
}

impl NtpClock {
    /// NTP time at `now` (instants before `at` map to `ntp`).
    pub fn ntp(&self, now: Instant) -> u64 {
        let d = now.saturating_duration_since(self.at);
        let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
        self.ntp.wrapping_add(d.as_secs() << 32).wrapping_add(frac)
    }
}

/// The middle 32 bits of an NTP timestamp, as used in LSR.
pub fn ntp_middle32(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// Reception state of one source: RFC 3550 A.1 `source` plus jitter.
#[derive(Debug, Clone)]
pub struct ReceptionState {
    ssrc: u32,
    clock_rate: u32,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u32,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    fraction_lost: u8,
    bad_sequence: u64,
    epoch: Instant,
    transit: Option<i32>,
    jitter_q4: u32,
    last_sr: Option<(u32, Instant)>,
    rtt: Option<Duration>,
}

impl ReceptionState {
    /// State for a new source whose first packet has sequence `seq` and arrived at `now`.
    pub fn new(now: Instant, ssrc: u32, seq: u16, clock_rate: u32) -> Self {
        let mut s = ReceptionState {
            ssrc,
            clock_rate: clock_rate.max(1),
            max_seq: seq.wrapping_sub(1),
            cycles: 0,
            base_seq: 0,
            bad_seq: RTP_SEQ_MOD + 1,
            probation: MIN_SEQUENTIAL,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            fraction_lost: 0,
            bad_sequence: 0,
            epoch: now,
            transit: None,
            jitter_q4: 0,
            last_sr: None,
            rtt: None,
        };
        s.init_seq(seq);
        s.max_seq = seq.wrapping_sub(1);
        s.probation = MIN_SEQUENTIAL;
        s
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    /// Feeds one packet's sequence number and timestamp (RFC 3550 A.1 `update_seq`, then
    /// A.8 jitter for counted packets).
    pub fn update(&mut self, now: Instant, seq: u16, rtp_timestamp: u32) -> SeqVerdict {
        let udelta = seq.wrapping_sub(self.max_seq);
        let verdict = if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    SeqVerdict::Valid
                } else {
                    SeqVerdict::Probation
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
                SeqVerdict::Probation
            }
        } else if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(RTP_SEQ_MOD);
            }
            self.max_seq = seq;
            self.received += 1;
            SeqVerdict::Valid
        } else if u32::from(udelta) <= RTP_SEQ_MOD - u32::from(MAX_MISORDER) {
            if u32::from(seq) == self.bad_seq {
                self.init_seq(seq);
                self.received += 1;
                self.transit = None;
                SeqVerdict::Restarted
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (RTP_SEQ_MOD - 1);
                self.bad_sequence += 1;
                return SeqVerdict::Bad;
            }
        } else {
            // Duplicate or reordered packet.
            self.received += 1;
            SeqVerdict::Valid
        };
        if verdict != SeqVerdict::Probation {
            self.update_jitter(now, rtp_timestamp);
        }
        verdict
    }

    fn update_jitter(&mut self, now: Instant, rtp_timestamp: u32) {
        let el = now.saturating_duration_since(self.epoch);
        let arrival = (el.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000) as u32;
        let transit = arrival.wrapping_sub(rtp_timestamp) as i32;
        if let Some(prev) = self.transit {
            let d = transit.wrapping_sub(prev).unsigned_abs();
            // J += (|D| - J) / 16, kept scaled by 16 (A.8).
            let j = self.jitter_q4;
            self.jitter_q4 = j.wrapping_add(d).wrapping_sub((j + 8) >> 4);
        }
        self.transit = Some(transit);
    }

    /// Records a sender report from this source received at `now` (for LSR/DLSR).
    pub fn handle_sender_report(&mut self, now: Instant, ntp_timestamp: u64) {
        self.last_sr = Some((ntp_middle32(ntp_timestamp), now));
    }

    /// Records an RTT measured from the remote's report about us.
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = Some(rtt);
    }

    fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    fn expected(&self) -> u64 {
        if self.probation > 0 {
            return 0;
        }
        u64::from(self.cycles) + u64::from(self.max_seq) + 1 - u64::from(self.base_seq)
    }

    /// Builds the report block for this source at `now`, closing the interval used for
    /// the fraction lost (A.3).
    pub fn report_block(&mut self, now: Instant) -> ReportBlock {
        let expected = self.expected();
        let expected_interval = expected.saturating_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.saturating_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        self.fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        let (lsr, dlsr) = match self.last_sr {
            Some((mid, at)) => {
                let d = now.saturating_duration_since(at);
                let dlsr =
                    (d.as_secs() << 16) + ((u64::from(d.subsec_nanos()) << 16) / 1_000_000_000);
                (mid, dlsr.min(u64::from(u32::MAX)) as u32)
            }
            None => (0, 0),
        };
        ReportBlock {
            ssrc: self.ssrc,
            fraction_lost: self.fraction_lost,
            cumulative_lost: self.lost().clamp(-0x80_0000, 0x7f_ffff) as i32,
            highest_seq: self.extended_max(),
            jitter: self.jitter_q4 >> 4,
            lsr,
            dlsr,
        }
    }

    fn lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    /// The source's SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// A snapshot for metrics.
    pub fn stats(&self) -> ReceiverStats {
        let jitter = self.jitter_q4 >> 4;
        ReceiverStats {
            ssrc: self.ssrc,
            received: self.received,
            expected: self.expected(),
            lost: self.lost(),
            fraction_lost: self.fraction_lost,
            extended_highest_seq: self.extended_max(),
            jitter,
            jitter_ms: f64::from(jitter) * 1000.0 / f64::from(self.clock_rate),
            bad_sequence: self.bad_sequence,
            rtt: self.rtt,
        }
    }
}

/// RTT from a report block about us (RFC 3550 §6.4.1): `now - sent_at(LSR) - DLSR`, where
/// `sent` lists (middle-32 NTP, send time) of our recent sender reports.
pub fn rtt_from_report(
    now: Instant,
    block: &ReportBlock,
    sent: &[(u32, Instant)],
) -> Option<Duration> {
    if block.lsr == 0 {
        return None;
    }
    let (_, at) = sent.iter().find(|(mid, _)| *mid == block.lsr)?;
    let dlsr = Duration::from_nanos((u64::from(block.dlsr) * 1_000_000_000) >> 16);
    now.saturating_duration_since(*at).checked_sub(dlsr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn counts_loss_and_fraction() {
        let t0 = crate::test_epoch();
        let mut s = ReceptionState::new(t0, 7, 65530, 8000);
        // 100 packets with wrap-around; drop every 10th.
        for i in 0..100u16 {
            if i % 10 == 5 {
                continue;
            }
            let seq = 65530u16.wrapping_add(i);
            s.update(t0 + ms(20 * u64::from(i)), seq, 160 * u32::from(i));
        }
        let rb = s.report_block(t0 + ms(2000));
        let st = s.stats();
        // The first packet is probation, so base = 65531: expected 99, received 89.
        assert_eq!(st.expected, 99);
        assert_eq!(st.received, 89);
        assert_eq!(st.lost, 10);
        assert_eq!(rb.cumulative_lost, 10);
        assert_eq!(rb.fraction_lost, (10 * 256 / 99) as u8);
        assert_eq!(rb.highest_seq, 65536 + u32::from(65530u16.wrapping_add(99)));
        assert_eq!(st.jitter, 0, "perfectly paced stream has no jitter");
        // Next interval without loss: fraction 0, cumulative unchanged.
        for i in 100..150u16 {
            s.update(
                t0 + ms(20 * u64::from(i)),
                65530u16.wrapping_add(i),
                160 * u32::from(i),
            );
        }
        let rb = s.report_block(t0 + ms(3000));
        assert_eq!((rb.fraction_lost, rb.cumulative_lost), (0, 10));
    }

    #[test]
    fn jitter_converges_for_alternating_delay() {
        let t0 = crate::test_epoch();
        let mut s = ReceptionState::new(t0, 7, 0, 8000);
        // Arrival alternates 0 / 10 ms late: |D| = 80 units every packet -> J -> 80.
        for i in 0..2000u64 {
            let late = if i % 2 == 0 { 0 } else { 10 };
            s.update(t0 + ms(20 * i + late), i as u16, 160 * i as u32);
        }
        let st = s.stats();
        assert!((78..=80).contains(&st.jitter), "jitter {}", st.jitter);
        assert!((st.jitter_ms - 10.0).abs() < 0.5);
    }

    #[test]
    fn big_jump_needs_confirmation() {
        let t0 = crate::test_epoch();
        let mut s = ReceptionState::new(t0, 7, 100, 8000);
        assert_eq!(s.update(t0, 100, 0), SeqVerdict::Probation);
        assert_eq!(s.update(t0, 101, 160), SeqVerdict::Valid);
        assert_eq!(s.update(t0, 20000, 320), SeqVerdict::Bad);
        assert_eq!(s.update(t0, 20001, 480), SeqVerdict::Restarted);
        assert_eq!(s.update(t0, 20002, 640), SeqVerdict::Valid);
        assert_eq!(s.stats().bad_sequence, 1);
        assert_eq!(s.stats().expected, 2);
    }

    #[test]
    fn lsr_dlsr_and_rtt() {
        let t0 = crate::test_epoch();
        let clock = NtpClock {
            at: t0,
            ntp: 0xE000_0000_0000_0000,
        };
        assert_eq!(clock.ntp(t0 + ms(500)), 0xE000_0000_8000_0000);
        let mut s = ReceptionState::new(t0, 7, 0, 8000);
        s.handle_sender_report(t0, 0x1234_5678_9abc_def0);
        let rb = s.report_block(t0 + ms(250));
        assert_eq!(rb.lsr, 0x5678_9abc);
        assert_eq!(rb.dlsr, 16384);
        // The peer measured a 250 ms DLSR; the block arrives 330 ms after our SR: RTT 80.
        let sent = [(rb.lsr, t0 - ms(80)), (1, t0)];
        let rtt = rtt_from_report(t0 + ms(250), &rb, &sent).unwrap();
        assert!(rtt.abs_diff(ms(80)) < ms(1), "{rtt:?}");
    }

    /// Sends `seqs` (offsets from `first`) paced 20 ms apart by their sequence number,
    /// arriving in the given order; the first two are the A.1 probation.
    fn feed(s: &mut ReceptionState, t0: Instant, first: u16, seqs: &[u16]) {
        for &k in seqs {
            let seq = first.wrapping_add(k);
            s.update(t0 + ms(20 * u64::from(k)), seq, 160 * u32::from(k));
        }
    }

    #[test]
    fn reordering_is_not_loss() {
        let t0 = crate::test_epoch();
        let mut s = ReceptionState::new(t0, 7, 65534, 8000);
        // Across the wrap; 5 and 6 swapped, 9 and 10 swapped.
        feed(&mut s, t0, 65534, &[0, 1, 2, 3, 4, 6, 5, 7, 8, 10, 9, 11]);
        let st = s.stats();
        assert_eq!((st.expected, st.received, st.lost), (11, 11, 0));
        assert_eq!(st.extended_highest_seq, 65536 + 9);
    }

    #[test]
    fn skipped_sequence_numbers_are_lost_and_late_arrivals_repay_them() {
        let t0 = crate::test_epoch();
        let mut s = ReceptionState::new(t0, 7, 65500, 8000);
        // 0..100 across the wrap, 3 skipped (40, 41, 77).
        let seqs: Vec<u16> = (0..100).filter(|k| ![40, 41, 77].contains(k)).collect();
        feed(&mut s, t0, 65500, &seqs);
        assert_eq!(s.stats().lost, 3);
        // 77 turns up late: one fewer lost.
        feed(&mut s, t0, 65500, &[77]);
        assert_eq!(s.stats().lost, 2);
    }

    #[test]
    fn duplicates_count_as_received_so_loss_can_go_negative() {
        let t0 = crate::test_epoch();
        let mut s = ReceptionState::new(t0, 7, 10, 8000);
        feed(&mut s, t0, 10, &[0, 1, 2, 3, 3, 4, 4, 5]);
        let st = s.stats();
        assert_eq!((st.expected, st.received, st.lost), (5, 7, -2));
    }

    #[test]
    fn jitter_of_a_constant_delay_is_zero_and_of_one_late_packet_decays() {
        let t0 = crate::test_epoch();
        let mut s = ReceptionState::new(t0, 7, 0, 8000);
        // Every packet 30 ms late: constant transit, no jitter.
        for i in 0..50u64 {
            s.update(t0 + ms(30 + 20 * i), i as u16, 160 * i as u32);
        }
        assert_eq!(s.stats().jitter, 0);
        // One packet 16 ms later than the rest: |D| = 128 units twice (in and back).
        s.update(t0 + ms(30 + 20 * 50 + 16), 50, 160 * 50);
        assert_eq!(s.stats().jitter, 128 / 16);
        s.update(t0 + ms(30 + 20 * 51), 51, 160 * 51);
        let j = s.stats();
        // J = 8 + (128 - 8) / 16 = 15.5 -> 15 units (1.875 ms at 8 kHz).
        assert_eq!(j.jitter, 15);
        assert!((j.jitter_ms - 1.875).abs() < 1e-9);
        // It decays towards zero on a steady stream.
        for i in 52..400u64 {
            s.update(t0 + ms(30 + 20 * i), i as u16, 160 * i as u32);
        }
        assert_eq!(s.stats().jitter, 0);
    }
}

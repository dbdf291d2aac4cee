//! RFC 4733 telephone events (DTMF over RTP): the 4-byte payload, a receiver that turns
//! event packets into digits, and a sender that produces the packet sequence for a digit.
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use std::time::{Duration, Instant};

/// Why a payload is not a telephone event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DtmfError {
    /// Fewer than 4 bytes.
    #[error("telephone-event payload of {0} bytes, need 4")]
    TooShort(usize),
}

/// One RFC 4733 §2.3 event payload.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// |     event     |E|R| volume    |          duration             |
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0-9, 10 `*`, 11 `#`, 12-15 `A`-`D`, 16 flash).
    pub event: u8,
    /// End bit.
    pub end: bool,
    /// Volume in -dBm0, 6 bits (0..=63).
    pub volume: u8,
    /// Duration so far, in timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the first 4 bytes of a payload (the R bit is ignored, as §2.3 says).
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        match payload {
            [event, flags, d0, d1, ..] => Ok(TelephoneEvent {
                event: *event,
                end: flags & 0x80 != 0,
                volume: flags & 0x3f,
                duration: u16::from_be_bytes([*d0, *d1]),
            }),
            _ => Err(DtmfError::TooShort(payload.len())),
        }
    }

    /// The 4-byte wire form (R bit zero, volume masked to 6 bits).
    pub fn to_bytes(&self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3f),
            d[0],
            d[1],
        ]
    }
}

/// Event code for a DTMF character (`0-9 * # A-D`, case-insensitive), per RFC 4733 §3.2.
pub fn event_for_char(c: char) -> Option<u8> {
    Some(match c.to_ascii_uppercase() {
        d @ '0'..='9' => d as u8 - b'0',
        '*' => 10,
        '#' => 11,
        l @ 'A'..='D' => l as u8 - b'A' + 12,
        _ => return None,
    })
}

/// DTMF character for an event code (codes above 15 have none).
pub fn char_for_event(event: u8) -> Option<char> {
    Some(match event {
        0..=9 => char::from(b'0' + event),
        10 => '*',
        11 => '#',
        12..=15 => char::from(b'A' + event - 12),
        _ => return None,
    })
}

/// How a received digit came to an end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigitEnd {
    /// A packet with the E bit arrived.
    EndBit,
    /// A packet with a different timestamp (a new event) arrived first.
    Superseded,
    /// No packet for the event within the receiver's timeout.
    Timeout,
}

/// A complete digit reported by [`DtmfReceiver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigitEvent {
    /// Event code (see [`char_for_event`]).
    pub event: u8,
    /// RTP timestamp of the event (its start).
    pub rtp_timestamp: u32,
    /// Longest duration seen, in timestamp units.
    pub duration: u16,
    /// Arrival time of the first packet of the event.
    pub started_at: Instant,
    /// How the event ended.
    pub end: DigitEnd,
}

#[derive(Debug, Clone, Copy)]
struct Current {
    event: u8,
    ts: u32,
    duration: u16,
    started_at: Instant,
    last_seen: Instant,
}

/// Turns received telephone-event packets into digits.
///
/// Packets of one event share an RTP timestamp; the three redundant end packets are
/// collapsed into one digit; a packet with another timestamp starts a new event (closing
/// an open one as [`DigitEnd::Superseded`]); an event whose end packets are all lost is
/// closed [`DigitEnd::Timeout`] after `timeout` without packets. Packets for events older
/// than the last one (by RTP timestamp, serial arithmetic) are ignored.
#[derive(Debug)]
pub struct DtmfReceiver {
    timeout: Duration,
    current: Option<Current>,
    last_ts: Option<u32>,
    out: std::collections::VecDeque<DigitEvent>,
    duplicates: u64,
}

impl DtmfReceiver {
    /// A receiver closing unterminated events after `timeout` of silence (200-500 ms is
    /// sensible with 50 ms updates).
    pub fn new(timeout: Duration) -> Self {
        DtmfReceiver {
            timeout,
            current: None,
            last_ts: None,
            out: std::collections::VecDeque::with_capacity(4),
            duplicates: 0,
        }
    }

    /// Feeds one telephone-event packet: its RTP timestamp and decoded payload.
    pub fn handle_packet(&mut self, now: Instant, rtp_timestamp: u32, ev: TelephoneEvent) {
        if let Some(cur) = &mut self.current {
            if cur.ts == rtp_timestamp && cur.event == ev.event {
                cur.duration = cur.duration.max(ev.duration);
                cur.last_seen = now;
                if ev.end {
                    self.finish(DigitEnd::EndBit);
                }
                return;
            }
        }
        if let Some(last) = self.last_ts {
            // Same timestamp as an event already finished (redundant end packets, late
            // updates) or an older event: ignore.
            let older = (rtp_timestamp.wrapping_sub(last) as i32) < 0;
            if (rtp_timestamp == last && self.current.is_none()) || older {
                self.duplicates += 1;
                return;
            }
        }
        if self.current.is_some() {
            self.finish(DigitEnd::Superseded);
        }
        self.last_ts = Some(rtp_timestamp);
        self.current = Some(Current {
            event: ev.event,
            ts: rtp_timestamp,
            duration: ev.duration,
            started_at: now,
            last_seen: now,
        });
        if ev.end {
            self.finish(DigitEnd::EndBit);
        }
    }

    fn finish(&mut self, end: DigitEnd) {
        if let Some(c) = self.current.take() {
            self.out.push_back(DigitEvent {
                event: c.event,
                rtp_timestamp: c.ts,
                duration: c.duration,
                started_at: c.started_at,
                end,
            });
        }
    }

    /// Call when [`poll_timeout`](Self::poll_timeout) is reached: closes a stale event.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(c) = &self.current {
            if now >= c.last_seen + self.timeout {
                self.finish(DigitEnd::Timeout);
            }
        }
    }

    /// When to call [`handle_timeout`](Self::handle_timeout), if an event is open.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.current.as_ref().map(|c| c.last_seen + self.timeout)
    }

    /// Next finished digit, in order.
    pub fn poll_event(&mut self) -> Option<DigitEvent> {
        self.out.pop_front()
    }

    /// Packets ignored as redundant or stale so far.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }
}

/// One packet the [`DtmfSender`] wants sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    /// Marker bit (set on the first packet of the event only).
    pub marker: bool,
    /// RTP timestamp (the event's start, identical for all packets).
    pub rtp_timestamp: u32,
    /// Payload.
    pub event: TelephoneEvent,
}

/// Produces the RFC 4733 §2.5.1 packet sequence for one digit: a first packet with the
/// marker bit, an update every `interval` (50 ms by default) carrying the growing
/// duration, then the final packet with the E bit sent three times. All share the
/// event's RTP timestamp. Durations are capped at 65535 units (8.19 s at 8 kHz).
#[derive(Debug, Clone)]
pub struct DtmfSender {
    event: u8,
    volume: u8,
    rtp_timestamp: u32,
    total: u16,
    step: u32,
    interval: Duration,
    next_at: Instant,
    sent_updates: u32,
    ends_sent: u8,
}

impl DtmfSender {
    /// Number of times the end packet is sent.
    pub const END_REPEATS: u8 = 3;

    /// A sender for `event` lasting `duration`, starting at `now` with RTP timestamp
    /// `rtp_timestamp` at `clock_rate` Hz, updates every 50 ms, volume 10 dBm0 below.
    pub fn new(
        now: Instant,
        event: u8,
        duration: Duration,
        rtp_timestamp: u32,
        clock_rate: u32,
    ) -> Self {
        Self::with_interval(
            now,
            event,
            duration,
            rtp_timestamp,
            clock_rate,
            Duration::from_millis(50),
        )
    }

    /// Like [`new`](Self::new) with a chosen update interval.
    pub fn with_interval(
        now: Instant,
        event: u8,
        duration: Duration,
        rtp_timestamp: u32,
        clock_rate: u32,
        interval: Duration,
    ) -> Self {
        let units = |d: Duration| (d.as_micros() * u128::from(clock_rate) / 1_000_000) as u64;
        DtmfSender {
            event,
            volume: 10,
            rtp_timestamp,
            total: units(duration).min(u64::from(u16::MAX)) as u16,
            step: units(interval).clamp(1, u64::from(u16::MAX)) as u32,
            interval,
            next_at: now,
            sent_updates: 0,
            ends_sent: 0,
        }
    }

    /// Whether every packet has been produced.
    pub fn is_done(&self) -> bool {
        self.ends_sent >= Self::END_REPEATS
    }

    /// When the next packet is due (`None` when done).
    pub fn poll_timeout(&self) -> Option<Instant> {
        (!self.is_done()).then_some(self.next_at)
    }

    /// The next packet if it is due at `now`. Call until `None`.
    pub fn poll_packet(&mut self, now: Instant) -> Option<DtmfPacket> {
        if self.is_done() || now < self.next_at {
            return None;
        }
        let so_far = u64::from(self.sent_updates + 1) * u64::from(self.step);
        let (end, duration) = if so_far >= u64::from(self.total) {
            (true, self.total)
        } else {
            (false, so_far as u16)
        };
        let marker = self.sent_updates == 0 && self.ends_sent == 0;
        if end {
            self.ends_sent += 1;
            // Redundant end packets go out back to back with the first one: they share
            // its timestamp and duration, so a receiver collapses them.
        } else {
            self.sent_updates += 1;
            self.next_at += self.interval;
        }
        Some(DtmfPacket {
            marker,
            rtp_timestamp: self.rtp_timestamp,
            event: TelephoneEvent {
                event: self.event,
                end,
                volume: self.volume,
                duration,
            },
        })
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn payload_wire_form() {
        let e = TelephoneEvent {
            event: 11,
            end: true,
            volume: 10,
            duration: 1600,
        };
        assert_eq!(e.to_bytes(), [11, 0x8a, 0x06, 0x40]);
        assert_eq!(TelephoneEvent::parse(&e.to_bytes()), Ok(e));
        assert_eq!(TelephoneEvent::parse(&[1, 2]), Err(DtmfError::TooShort(2)));
        // The R bit is ignored.
        assert_eq!(TelephoneEvent::parse(&[5, 0x40, 0, 0]).unwrap().volume, 0);
    }

    #[test]
    fn char_mapping() {
        for (c, e) in [
            ('0', 0),
            ('9', 9),
            ('*', 10),
            ('#', 11),
            ('a', 12),
            ('D', 15),
        ] {
            assert_eq!(event_for_char(c), Some(e));
            assert_eq!(char_for_event(e), Some(c.to_ascii_uppercase()));
        }
        assert_eq!(event_for_char('x'), None);
        assert_eq!(char_for_event(16), None);
    }

    #[test]
    fn sender_sequence_then_receiver_gets_one_digit() {
        let t0 = crate::test_epoch();
        let mut s = DtmfSender::new(t0, 5, ms(200), 1000, 8000);
        let mut pkts = vec![];
        let mut now = t0;
        while let Some(at) = s.poll_timeout() {
            now = now.max(at);
            while let Some(p) = s.poll_packet(now) {
                pkts.push((now, p));
            }
        }
        // 200 ms at 50 ms updates: 3 updates (400, 800, 1200) then 3 end packets (1600).
        let durs: Vec<_> = pkts.iter().map(|(_, p)| p.event.duration).collect();
        assert_eq!(durs, [400, 800, 1200, 1600, 1600, 1600]);
        assert!(pkts[0].1.marker);
        assert!(pkts[1..].iter().all(|(_, p)| !p.marker));
        assert!(pkts.iter().all(|(_, p)| p.rtp_timestamp == 1000));
        assert_eq!(pkts.iter().filter(|(_, p)| p.event.end).count(), 3);
        assert_eq!(pkts[3].0 - t0, ms(150));

        let mut r = DtmfReceiver::new(ms(300));
        for (at, p) in &pkts {
            r.handle_packet(*at, p.rtp_timestamp, p.event);
        }
        let d = r.poll_event().unwrap();
        assert_eq!((d.event, d.duration, d.end), (5, 1600, DigitEnd::EndBit));
        assert_eq!(d.rtp_timestamp, 1000);
        assert_eq!(r.poll_event(), None);
        assert_eq!(r.duplicates(), 2);
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn receiver_handles_lost_end_and_new_event() {
        let t0 = crate::test_epoch();
        let ev = |event, end, duration| TelephoneEvent {
            event,
            end,
            volume: 10,
            duration,
        };
        let mut r = DtmfReceiver::new(ms(250));
        // Digit 1 without end packets, then digit 2 with a new timestamp.
        r.handle_packet(t0, 100, ev(1, false, 400));
        r.handle_packet(t0 + ms(50), 100, ev(1, false, 800));
        r.handle_packet(t0 + ms(200), 2000, ev(2, false, 400));
        let d = r.poll_event().unwrap();
        assert_eq!((d.event, d.end, d.duration), (1, DigitEnd::Superseded, 800));
        // Same digit twice in a row: different timestamps = two events.
        r.handle_packet(t0 + ms(250), 2000, ev(2, true, 800));
        r.handle_packet(t0 + ms(400), 3000, ev(2, false, 400));
        assert_eq!(r.poll_event().unwrap().end, DigitEnd::EndBit);
        assert_eq!(r.poll_timeout(), Some(t0 + ms(650)));
        r.handle_timeout(t0 + ms(600));
        assert_eq!(r.poll_event(), None);
        r.handle_timeout(t0 + ms(650));
        let d = r.poll_event().unwrap();
        assert_eq!(
            (d.event, d.end, d.rtp_timestamp),
            (2, DigitEnd::Timeout, 3000)
        );
        // A late packet of the finished event is ignored, as is an older event.
        r.handle_packet(t0 + ms(700), 3000, ev(2, true, 800));
        r.handle_packet(t0 + ms(700), 2000, ev(2, true, 800));
        assert_eq!(r.poll_event(), None);
    }

    #[test]
    fn start_packet_lost_still_detected() {
        let t0 = crate::test_epoch();
        let mut r = DtmfReceiver::new(ms(250));
        let ev = TelephoneEvent {
            event: 9,
            end: true,
            volume: 10,
            duration: 800,
        };
        r.handle_packet(t0, u32::MAX - 10, ev);
        r.handle_packet(t0, u32::MAX - 10, ev);
        assert_eq!(r.poll_event().unwrap().event, 9);
        assert_eq!(r.poll_event(), None);
        // Timestamp wrap: a later event after u32::MAX is newer.
        r.handle_packet(t0 + ms(100), 5, ev);
        assert_eq!(r.poll_event().unwrap().rtp_timestamp, 5);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn parse_total_and_roundtrip(b in proptest::collection::vec(any::<u8>(), 0..8)) {
            if let Ok(e) = TelephoneEvent::parse(&b) {
                prop_assert_eq!(TelephoneEvent::parse(&e.to_bytes()), Ok(e));
            } else {
                prop_assert!(b.len() < 4);
            }
        }
    }
}

//! Pieces both sides of a call share: the run-wide state the phones report into, the RTP
//! socket of a leg and its receive-side analysis, and SIP transaction timing constants.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::oneshot;

use switchboard_media::Codec;

use crate::audio::{parse_rtp, ReceiveStats, ToneCheck, FRAME, HEADER, PT_EVENT};
use crate::stats::{Accounting, StreamReport};

/// RFC 3261 T1 and T2 for our retransmissions.
pub(crate) const T1: Duration = Duration::from_millis(500);
pub(crate) const T2: Duration = Duration::from_secs(4);
/// 64·T1: how long a transaction waits for a final answer.
pub(crate) const TX_TIMEOUT: Duration = Duration::from_secs(32);

/// What one run asks of every call.
#[derive(Clone, Debug)]
pub(crate) struct CallPlan {
    /// Number the callers dial.
    pub(crate) number: String,
    /// Whether callers wait for an agent (queue scenario) or only walk the IVR.
    pub(crate) to_agent: bool,
    /// DTMF digits sent after `digit_delay`.
    pub(crate) digits: String,
    pub(crate) digit_delay: Duration,
    /// Talk time: after the agent answers (queue) or after the IVR answers (IVR only).
    pub(crate) hold: Duration,
    /// Longest wait for an agent before the caller gives up (`no_agent`).
    pub(crate) max_wait: Duration,
    /// Agents answer an offer after this long.
    pub(crate) answer_delay: Duration,
    /// Every n-th call gets the full audio check.
    pub(crate) sample_every: u64,
    /// The one codec callers offer (and send and expect); the server transcodes when
    /// it differs from the agents'.
    pub(crate) caller_codec: Codec,
    /// The codec agents answer with (an offer without it is refused with 488).
    pub(crate) agent_codec: Codec,
    /// Direct scenario: caller `k` dials agent `first + k % count` instead of `number`.
    pub(crate) direct_agents: Option<(u32, u32)>,
}

impl CallPlan {
    pub(crate) fn sampled(&self, idx: u64) -> bool {
        self.sample_every > 0 && idx % self.sample_every == 0
    }

    /// The number caller `idx` dials: an agent's own number in the direct scenario (round
    /// robin over the agents), else the one configured number.
    pub(crate) fn dialled(&self, idx: u64) -> String {
        match self.direct_agents {
            Some((first, count)) if count > 0 => {
                (u64::from(first) + idx % u64::from(count)).to_string()
            }
            _ => self.number.clone(),
        }
    }
}

/// Live counters for the progress line.
#[derive(Default)]
pub(crate) struct Live {
    pub(crate) started: AtomicU64,
    pub(crate) active: AtomicU64,
    pub(crate) peak_active: AtomicU64,
    pub(crate) bridged: AtomicU64,
    pub(crate) peak_bridged: AtomicU64,
    pub(crate) finished: AtomicU64,
    pub(crate) failed: AtomicU64,
    /// RTP packets the tool sent and received, all legs.
    pub(crate) rtp_sent: AtomicU64,
    pub(crate) rtp_received: AtomicU64,
    /// The same counted while the calls run, [`LIVE_BATCH`] at a time per leg (for the
    /// steady-state figure, `steady.rs`); `rtp_received` is the exact total at the end.
    pub(crate) rtp_received_live: AtomicU64,
    /// RTP datagrams that did not parse (counted, reported).
    pub(crate) rtp_bad: AtomicU64,
    /// RTP datagrams from an address other than the leg's peer (counted, not analysed).
    pub(crate) rtp_foreign: AtomicU64,
    /// RTP packets from the peer in a payload type other than the leg's codec and
    /// telephone-event (counted as received, not audio-checked).
    pub(crate) rtp_wrong_codec: AtomicU64,
}

impl Live {
    pub(crate) fn enter(counter: &AtomicU64, peak: &AtomicU64) {
        let now = counter.fetch_add(1, Ordering::Relaxed) + 1;
        peak.fetch_max(now, Ordering::Relaxed);
    }
}

/// An agent's answer, sent to the waiting caller (matched by the caller's number).
pub(crate) struct AgentAnswered {
    pub(crate) at: Instant,
}

/// The state all phones of a run share.
pub(crate) struct Shared {
    pub(crate) plan: CallPlan,
    pub(crate) live: Live,
    pub(crate) acct: Mutex<Accounting>,
    /// Callers waiting for an agent, by caller number.
    pub(crate) waiting: Mutex<HashMap<String, oneshot::Sender<AgentAnswered>>>,
}

impl Shared {
    pub(crate) fn new(plan: CallPlan) -> Shared {
        Shared {
            plan,
            live: Live::default(),
            acct: Mutex::new(Accounting::default()),
            waiting: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn agent_event(&self, what: &str) {
        *self
            .acct
            .lock()
            .expect("acct lock")
            .agent_events
            .entry(what.to_string())
            .or_default() += 1;
    }
}

/// The number caller `idx` calls from; agents map an offer back to its caller by it.
pub(crate) fn caller_number(idx: u64) -> String {
    format!("+7900{idx:07}")
}

/// The caller index of a number made by [`caller_number`].
pub(crate) fn caller_index(number: &str) -> Option<u64> {
    number.strip_prefix("+7900")?.parse().ok()
}

/// Received packets a leg counts before adding them to [`Live::rtp_received_live`].
pub(crate) const LIVE_BATCH: u32 = 10;

/// The RTP side of one leg: its socket, where to send, and what it measured.
pub(crate) struct MediaLeg {
    pub(crate) socket: UdpSocket,
    pub(crate) remote: Option<SocketAddr>,
    pub(crate) stats: ReceiveStats,
    pub(crate) tone: ToneCheck,
    /// The payload type of the leg's codec.
    pt: u8,
    origin: Instant,
    sent: u64,
    /// Received since the last batch went to `Live::rtp_received_live`.
    unbatched: u32,
    buf: [u8; 1500],
}

impl MediaLeg {
    /// A leg that receives `codec` and checks it for a tone at `expect_hz`.
    pub(crate) async fn bind(
        expect_hz: f64,
        full_check: bool,
        codec: Codec,
    ) -> std::io::Result<MediaLeg> {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        Ok(MediaLeg {
            socket,
            remote: None,
            stats: ReceiveStats::default(),
            tone: ToneCheck::new(expect_hz, full_check, codec),
            pt: codec.static_payload_type(),
            origin: Instant::now(),
            sent: 0,
            unbatched: 0,
            buf: [0; 1500],
        })
    }

    pub(crate) fn port(&self) -> u16 {
        self.socket.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub(crate) async fn send(&mut self, packet: &[u8]) {
        if let Some(to) = self.remote {
            if self.socket.send_to(packet, to).await.is_ok() {
                self.sent += 1;
            }
        }
    }

    /// Waits for one datagram and analyses it.
    pub(crate) async fn recv(&mut self, live: &Live) {
        let Ok((n, from)) = self.socket.recv_from(&mut self.buf).await else {
            return;
        };
        // Only the address the SDP named: an ephemeral port this leg reuses may still get
        // the tail of an earlier call's stream, which is not this call's media.
        if self.remote != Some(from) {
            live.rtp_foreign.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let now = Instant::now();
        match parse_rtp(&self.buf[..n]) {
            Some(v) => {
                let units = (now.duration_since(self.origin).as_micros() / 125) as i64;
                self.stats.on_packet(v.seq, v.ts, now, units);
                self.unbatched += 1;
                if self.unbatched == LIVE_BATCH {
                    self.unbatched = 0;
                    live.rtp_received_live
                        .fetch_add(u64::from(LIVE_BATCH), Ordering::Relaxed);
                }
                if v.pt == self.pt && v.payload.len() <= FRAME {
                    self.tone.on_payload(v.payload, v.ts, now);
                } else if v.pt != PT_EVENT && v.pt != 13 {
                    // Neither our codec, nor DTMF, nor comfort noise (RFC 3389).
                    live.rtp_wrong_codec.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => {
                live.rtp_bad.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// What this leg measured; `answered` is when the other side answered (for
    /// answer-to-audio), `sampled` whether the audio verdict counts.
    pub(crate) fn report(
        &self,
        answered: Option<Instant>,
        sampled: bool,
        live: &Live,
    ) -> StreamReport {
        live.rtp_sent.fetch_add(self.sent, Ordering::Relaxed);
        live.rtp_received
            .fetch_add(self.stats.received(), Ordering::Relaxed);
        StreamReport {
            expected: self.stats.expected(),
            received: self.stats.received(),
            lost: self.stats.lost(),
            jitter_ms: self.stats.jitter_ms(),
            max_interarrival: self.stats.max_interarrival(),
            max_interarrival_end: self.stats.max_interarrival_end(),
            answer_to_audio: match (answered, self.tone.first_at()) {
                (Some(a), Some(t)) => Some(t.saturating_duration_since(a)),
                _ => None,
            },
            sampled_ok: sampled.then(|| self.tone.ok()),
            max_gap: self.tone.max_gap(),
            seq_gaps: self.stats.seq_gaps().0,
            max_seq_gap: self.stats.seq_gaps().1,
            restarts: self.stats.restarts(),
            discarded: self.stats.discarded(),
        }
    }
}

/// A packet buffer for one outgoing RTP packet.
pub(crate) type PacketBuf = [u8; HEADER + FRAME];

/// A deadline far enough away to mean "never" in a `select!`.
pub(crate) fn never() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400)
}

#[cfg(test)]
mod dialled_tests {
    use super::*;

    fn plan(direct_agents: Option<(u32, u32)>) -> CallPlan {
        CallPlan {
            number: "500".into(),
            to_agent: true,
            digits: String::new(),
            digit_delay: Duration::ZERO,
            hold: Duration::ZERO,
            max_wait: Duration::ZERO,
            answer_delay: Duration::ZERO,
            sample_every: 0,
            caller_codec: Codec::Pcmu,
            agent_codec: Codec::Pcmu,
            direct_agents,
        }
    }

    #[test]
    fn direct_callers_go_round_robin_over_the_agents_numbers() {
        let p = plan(Some((1001, 3)));
        let dialled: Vec<String> = (0..7).map(|k| p.dialled(k)).collect();
        assert_eq!(
            dialled,
            ["1001", "1002", "1003", "1001", "1002", "1003", "1001"]
        );
    }

    #[test]
    fn other_scenarios_dial_the_configured_number() {
        assert_eq!(plan(None).dialled(5), "500");
        assert_eq!(plan(Some((1001, 0))).dialled(5), "500");
    }
}

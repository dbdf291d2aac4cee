//! Receive quality of a call's media legs, as `call.end` reports it.

use serde::{Deserialize, Serialize};

use crate::Party;

/// Receive quality of one media leg at the end of a call: what we measured on the RTP
/// the peer sent us, and what the peer's RTCP said about the RTP we sent it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LegQuality {
    /// Which leg: `caller` or `agent`.
    pub leg: Party,
    /// RTP packets accepted from the peer.
    pub packets: u64,
    /// Octets of those packets (RTP header and payload).
    pub bytes: u64,
    /// Packets lost (RFC 3550 A.3: expected from the extended highest sequence number
    /// minus received; negative with duplicates).
    pub lost: i64,
    /// Interarrival jitter (RFC 3550 A.8) in milliseconds.
    pub jitter_ms: f64,
    /// The peer's last RTCP report about our stream: cumulative packets it lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_reported_lost: Option<i64>,
    /// The same report: fraction lost in its last interval, 0..=1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_reported_fraction_lost: Option<f64>,
    /// The same report: its interarrival jitter of our stream, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_reported_jitter_ms: Option<f64>,
    /// Round-trip time from the peer's report (RFC 3550 §6.4.1), when it echoed one of
    /// our sender reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// The leg's media was SRTP (SDES keys in its SDP); absent when plain RTP.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub srtp: bool,
    /// SRTP/SRTCP packets from the peer refused (failed authentication, replayed, too
    /// old) and dropped; absent when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub srtp_rejected: u64,
    /// Packets that reached the leg's decoding path (IVR input, recording, AMD,
    /// supervision mixing) after their frame was played, not decoded; absent when none
    /// (and on legs that were only relayed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub decode_late: u64,
    /// Frames the decoding path concealed because their packet was lost or late; absent
    /// when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub decode_concealed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl LegQuality {
    /// Lost packets as a percentage of the expected ones (0 when nothing was expected).
    pub fn loss_pct(&self) -> f64 {
        let lost = self.lost.max(0) as f64;
        let expected = self.packets as f64 + lost;
        if expected > 0.0 {
            100.0 * lost / expected
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;
    use serde_json::json;

    #[test]
    fn call_end_quality_is_optional_and_typed() {
        // An event stored before `quality` existed still parses, with none.
        let old = Event::from_parts(
            "call.end",
            &json!({"end_reason": "caller_hangup", "disposition": "answered"}),
        )
        .unwrap();
        let Event::CallEnd(old) = old else {
            panic!("not a call.end")
        };
        assert!(old.quality.is_empty());
        let q: LegQuality = serde_json::from_value(
            json!({"leg": "agent", "packets": 97, "bytes": 16684, "lost": 3, "jitter_ms": 2.0}),
        )
        .unwrap();
        assert_eq!((q.leg, q.peer_reported_lost), (Party::Agent, None));
        assert!((q.loss_pct() - 3.0).abs() < 1e-9);
        assert!(serde_json::from_value::<LegQuality>(json!({"leg": "Agent"})).is_err());
    }
}

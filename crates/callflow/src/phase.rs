//! The phases of a call.

use std::time::Instant;

/// Where a call is. Transitions happen only inside [`crate::Call`]:
///
/// ```text
///            queue                offer               answer
///   Ivr ───────────────▶ Queued ─────────▶ Ringing ─────────▶ Bridged ──┐
///    ▲  ◀─ max_wait/exit ─┘  ▲ ◀─ RONA, reject, withdrawn ─┘     │  │     │ hand over
///    │                       └──────── blind transfer to a queue ─┘  │     ▼
///    │  transfer to a user/number        answered                    │  HandedOver
///    └──────────────▶ Transferring ──────────────────────────────────┘
///   Queued/Ringing ── callback key ──▶ CallbackLeaving
///   Bridged ── agent left, post-call survey ──▶ Ivr
///   (outbound) Dialing ── answered ──▶ Dialing (next leg) / Bridged / Ivr (campaign)
///   any ── end ──▶ Ended
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    /// Running the dialplan (also before leg A is confirmed).
    Ivr,
    /// Waiting in `queue`; `announcing` while a join prompt or an announcement plays
    /// instead of the music on hold.
    Queued { queue: String, announcing: bool },
    /// `agent`'s phone rings with this call (single offer; ring-all offers stay `Queued`).
    Ringing { queue: String, agent: String },
    /// Caller and `agent` (empty for a number) are connected. `answered_at` is when they
    /// could hear each other (talk time runs from it); `direct` when the agent was rung
    /// by the engine (a transfer to a user or number), not offered by the ACD.
    Bridged {
        queue: String,
        agent: String,
        answered_at: Instant,
        direct: bool,
    },
    /// The caller took a callback: the confirmation plays, then the call hangs up; the
    /// place stays in the queue.
    CallbackLeaving { queue: String },
    /// A transfer rings a user's phone or a number; `queue` is the call's last queue.
    Transferring { queue: String },
    /// This call's agent leg went to another call in an attended transfer.
    HandedOver { queue: String, agent: String },
    /// A call the engine places rings `to` (`outbound.rs`).
    Dialing { to: crate::outbound::Dial },
    /// The call is over.
    Ended,
}

impl Phase {
    /// The queue the call is (or last was) in, if any.
    pub fn queue(&self) -> Option<&str> {
        match self {
            Phase::Queued { queue, .. }
            | Phase::Ringing { queue, .. }
            | Phase::Bridged { queue, .. }
            | Phase::CallbackLeaving { queue }
            | Phase::Transferring { queue }
            | Phase::HandedOver { queue, .. } => Some(queue),
            Phase::Ivr | Phase::Dialing { .. } | Phase::Ended => None,
        }
    }

    /// The agent the call rings or is bridged to, if any.
    pub fn agent(&self) -> Option<&str> {
        match self {
            Phase::Ringing { agent, .. }
            | Phase::Bridged { agent, .. }
            | Phase::HandedOver { agent, .. } => Some(agent),
            _ => None,
        }
    }

    /// Waiting for an agent: queued or ringing one.
    pub fn is_waiting(&self) -> bool {
        matches!(self, Phase::Queued { .. } | Phase::Ringing { .. })
    }
}

//! The SIP path's share of answer-to-audio: the agent's 200 OK carries the instant the
//! transport received it (`CallSignal::BAnswered`), and the first packet across the
//! bridge after it observes `switchboard_sip_answer_to_audio_seconds` from that instant.
//! Against `switchboard_answer_to_audio_seconds` (from the call taking the answer up) it
//! shows what the 200 spent in the inbound SIP queue, the SIP driver and the signal lane.

use super::*;

impl CallTask {
    /// The agent's answer that this call is taking up reached the SIP socket at `arrived`.
    pub(super) fn note_answer_arrival(&mut self, arrived: Instant) {
        self.b_answer_arrived_at = Some(arrived);
    }

    /// The first packet crossed the bridge at `now` after an answer was taken up.
    pub(super) fn answer_crossed(&mut self, now: Instant) {
        if self.b_answered_at.is_none() {
            return;
        }
        if let Some(arrived) = self.b_answer_arrived_at.take() {
            let delay = now.saturating_duration_since(arrived);
            self.ctx.metrics.sip_answer_to_audio.observe(delay);
        }
    }
}

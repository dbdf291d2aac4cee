//! Ring-all offers: the caller's call rings several agents at once, each on its own leg.
//!
//! While the legs ring the caller stays `Queued` (music on hold goes on). The SIP driver
//! decides the race (`sip_driver/forking.rs`): the first leg to answer becomes this call's
//! leg B and is reported as `ForkAnswered`; the other legs are hung up there and forgotten
//! here. From then on the call is an ordinary answered queue call (`bridging.rs`). Legs
//! that fail on their own are reported to the ACD like a single offer's failure; offers the
//! ACD withdraws (ring timeout: RONA for each agent; someone else answered: back to
//! available) are cancelled here.

use super::*;

/// One agent leg of a ring-all offer: the media it would use if it wins.
pub(super) struct ForkLeg {
    pub(super) agent: String,
    pair: RtpSocketPair,
    caps: LocalCaps,
    offer: SessionDescription,
}

impl CallTask {
    /// True when `queue` rings all its qualified agents at once.
    pub(super) fn rings_all(&self, queue: &str) -> bool {
        self.ctx
            .queue_config(queue)
            .is_some_and(|q| q.strategy == switchboard_acd::Strategy::RingAll)
    }

    /// Rings `agent` as one more leg of this call's ring-all offer.
    pub(super) async fn fork_to_agent(&mut self, queue: String, agent: String) {
        let Some(pair) = self.ctx.rtp_pool.allocate().await else {
            self.flow.handle_ring_not_started(agent);
            self.drive_flow();
            return;
        };
        let (offer, caps, headers) = self.agent_offer(&queue, &agent, &pair);
        self.flow.handle_forked(agent.clone());
        self.drive_flow();
        self.screen_pop(&queue, &agent);
        self.sip(SipCommand::ForkToUser {
            call: self.sip_call,
            user: agent.clone(),
            sdp: Bytes::from(offer.to_string()),
            headers,
        })
        .await;
        self.forks.push(ForkLeg {
            agent,
            pair,
            caps,
            offer,
        });
    }

    /// `agent`'s leg won the race and is now leg B: bridge it as an answered offer.
    pub(super) async fn fork_answered(&mut self, agent: String, sdp: Bytes) {
        let Some(i) = self.forks.iter().position(|f| f.agent == agent) else {
            // We withdrew this offer as the agent answered: the leg is ours, hang it up.
            tracing::info!(agent = %agent, "ring-all answer after the offer was withdrawn; releasing it");
            self.flow.handle_fork_answered(&agent);
            self.drive_flow();
            return;
        };
        if self.flow.handle_fork_answered(&agent).is_none() {
            // The caller left the queue as the agent answered.
            tracing::info!(agent = %agent, "ring-all answer after the caller left; releasing it");
            self.drive_flow();
            return;
        }
        let won = self.forks.swap_remove(i);
        // The driver has hung up the other legs; their media is released here.
        self.forks.clear();
        self.b_pending = Some((won.pair, won.caps));
        self.b_offer = Some(won.offer);
        self.agent_answered(sdp).await;
    }

    /// `agent`'s leg failed on its own: tell the ACD, which may offer the call again.
    pub(super) fn fork_failed(&mut self, agent: String, status: StatusCode) {
        self.forks.retain(|f| f.agent != agent);
        self.flow.handle_fork_failed(&agent, status.0);
        self.drive_flow();
    }
}

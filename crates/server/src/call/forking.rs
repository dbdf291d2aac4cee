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
    agent: String,
    pair: RtpSocketPair,
    caps: LocalCaps,
    offer: SessionDescription,
}

/// How the ACD treats an agent leg's final failure status.
pub(super) fn offer_failure(status: StatusCode) -> OfferFailure {
    match status.0 {
        486 | 600 | 603 => OfferFailure::Rejected,
        480 | 404 | 503 => OfferFailure::Unreachable,
        _ => OfferFailure::NoAnswer,
    }
}

impl CallTask {
    /// True when `queue` rings all its qualified agents at once.
    pub(super) fn rings_all(&self, queue: &str) -> bool {
        self.ctx
            .queue_config(queue)
            .is_some_and(|q| q.strategy == switchboard_acd::Strategy::RingAll)
    }

    pub(super) fn is_forked_to(&self, agent: &str) -> bool {
        self.forks.iter().any(|f| f.agent == agent)
    }

    /// Rings `agent` as one more leg of this call's ring-all offer.
    pub(super) async fn fork_to_agent(&mut self, queue: String, agent: String) {
        let Some(pair) = self.ctx.rtp_pool.allocate().await else {
            let _ = self.ctx.acd.send(AcdCommand::OfferFailed {
                call: self.id,
                agent,
                failure: OfferFailure::Rejected,
            });
            return;
        };
        let (offer, caps, headers) = self.agent_offer(&queue, &agent, &pair);
        self.ctx
            .events
            .append(self.log(Event::AgentRing {}).queue(&queue).agent(&agent));
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

    /// Withdraws the leg ringing `agent` (the ACD cancelled that offer).
    pub(super) fn cancel_fork(&mut self, agent: &str) {
        self.forks.retain(|f| f.agent != agent);
        let _ = self.ctx.sip.commands.send(SipCommand::CancelFork {
            call: self.sip_call,
            user: agent.to_string(),
        });
    }

    /// Withdraws every leg still ringing (the caller leaves the queue or takes a callback).
    pub(super) fn cancel_forks(&mut self) {
        for f in std::mem::take(&mut self.forks) {
            let _ = self.ctx.sip.commands.send(SipCommand::CancelFork {
                call: self.sip_call,
                user: f.agent,
            });
        }
    }

    /// `agent`'s leg won the race and is now leg B: bridge it as an answered offer.
    pub(super) async fn fork_answered(&mut self, agent: String, sdp: Bytes) {
        let i = self.forks.iter().position(|f| f.agent == agent);
        let (Some(i), Phase::Queued { queue, .. }) = (i, &self.phase) else {
            // We withdrew this offer (or the caller left the queue) as the agent answered:
            // the leg is ours now, so hang it up.
            tracing::info!(agent = %agent, "ring-all answer after the offer was withdrawn; releasing it");
            self.sip(SipCommand::ReleaseB {
                call: self.sip_call,
            })
            .await;
            return;
        };
        let queue = queue.clone();
        let won = self.forks.swap_remove(i);
        // The driver has hung up the other legs; their media is released here.
        self.forks.clear();
        self.b_pending = Some((won.pair, won.caps));
        self.b_offer = Some(won.offer);
        self.phase = Phase::Ringing { queue, agent };
        self.agent_answered(sdp).await;
    }

    /// `agent`'s leg failed on its own: tell the ACD, which may offer the call again.
    pub(super) fn fork_failed(&mut self, agent: String, status: StatusCode) {
        let Some(i) = self.forks.iter().position(|f| f.agent == agent) else {
            return;
        };
        self.forks.swap_remove(i);
        if let Phase::Queued { queue, .. } = &self.phase {
            self.ctx.events.append(
                self.log(Event::AgentRingFailed { status: status.0 })
                    .queue(queue)
                    .agent(&agent),
            );
        }
        let _ = self.ctx.acd.send(AcdCommand::OfferFailed {
            call: self.id,
            agent,
            failure: offer_failure(status),
        });
    }
}

//! The post-call survey: the agent of a queue call hangs up first, the SIP core kept the
//! caller (the queue has a `post_call_survey` dialplan), and the call goes from `Bridged`
//! back to the dialplan for the survey. The agent's part ends there (the ACD hears the
//! call ended: the agent wraps up), but the call's end stays the agent's answered call:
//! its `call.end` says `answered`, with the queue, the agent and the talk time up to the
//! agent's hang-up, however long the survey then takes.

use std::time::Instant;

use switchboard_events::EndReason;

use crate::call::Call;
use crate::output::{AcdRequest, Output};
use crate::phase::Phase;

/// The agent's part of a call whose caller went on to a post-call survey.
#[derive(Clone, Debug, PartialEq)]
pub struct AfterAgent {
    pub queue: String,
    pub agent: String,
    /// Seconds caller and agent talked, up to the agent's hang-up.
    pub talk_s: f64,
}

impl Call {
    /// The agent hung up first and the caller is still there. `survey` says whether the
    /// queue has a post-call survey the driver can run. A call bridged to a queue's
    /// agent with a survey goes back to the dialplan (`Phase::Ivr`): the ACD hears the
    /// agent's call ended, and the queue is returned so the driver starts the survey
    /// dialplan entered with it. Anything else (no survey, a user or number the engine
    /// rang itself, not bridged) hangs up as an agent's hang-up.
    pub fn handle_agent_left(&mut self, now: Instant, survey: bool) -> Option<String> {
        match &self.phase {
            Phase::Bridged {
                queue,
                agent,
                answered_at,
                direct: false,
            } if survey => {
                let after = AfterAgent {
                    queue: queue.clone(),
                    agent: agent.clone(),
                    talk_s: now.saturating_duration_since(*answered_at).as_secs_f64(),
                };
                let queue = after.queue.clone();
                self.out.push_back(Output::Acd(AcdRequest::CallEnded));
                self.after_agent = Some(after);
                self.phase = Phase::Ivr;
                Some(queue)
            }
            _ => {
                self.out.push_back(Output::HangUp(EndReason::AgentHangup));
                None
            }
        }
    }

    /// The agent's part of a call now in its post-call survey, if it is in one.
    pub fn after_agent(&self) -> Option<&AfterAgent> {
        self.after_agent.as_ref()
    }
}

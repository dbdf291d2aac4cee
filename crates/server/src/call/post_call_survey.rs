//! Post-call surveys: a queue with `post_call_survey` keeps the caller when the agent hangs
//! up first (the SIP core is told at the bridge: `SipCommand::KeepCaller`), and the caller
//! is sent to that dialplan, entered with the queue's name as the dialled number. Its
//! answers (`survey_questions`) are `survey.answer` events with `campaign` = `queue:<name>`
//! and `row` 0, so `switchboard report campaigns` counts them per question. The flow
//! decides the transition and the end (`callflow::Call::handle_agent_left`: the call's
//! `call.end` still says `answered`, with the agent, the queue and the talk time up to the
//! agent's hang-up); this file carries it out.

use super::*;

impl CallTask {
    /// At the bridge: a queue with a survey keeps the caller when the agent hangs up. Not
    /// for campaign calls (their agent leg is a call of its own, `callee_calls.rs`).
    pub(super) fn keep_caller_for_survey(&self, queue: &str) {
        if !self.callee_leads
            && self
                .ctx
                .queue_config(queue)
                .is_some_and(|q| q.post_call_survey.is_some())
        {
            let _ = self.ctx.sip.commands.send(SipCommand::KeepCaller {
                call: self.sip_call,
            });
        }
    }

    /// The agent hung up and the caller stayed: run the queue's survey, or hang up when
    /// the flow decides there is none to run.
    pub(super) fn agent_left(&mut self) {
        let now = Instant::now();
        let survey = self
            .flow
            .phase()
            .queue()
            .and_then(|q| self.ctx.queue_config(q))
            .and_then(|q| Some((q.post_call_survey.clone()?, q.survey_questions.clone())));
        let program = self.ctx.dialplans.read().ok().and_then(|g| g.clone());
        let runnable = survey.is_some() && program.is_some();
        let agent = self.flow.phase().agent().unwrap_or_default().to_string();
        if runnable {
            // The supervisor's call was the agent's: it ends with the agent's part.
            self.stop_supervision(SupervisionEnd::CallEnded);
            if self.sup_rx.take().is_some() {
                self.ctx.supervisable.remove(&agent);
            }
        }
        let Some(queue) = self.flow.handle_agent_left(now, runnable) else {
            // The flow hangs the call up (an agent's hang-up).
            self.drive_flow();
            return;
        };
        let (Some((dialplan, questions)), Some(program)) = (survey, program) else {
            return;
        };
        tracing::info!(queue = %queue, "agent hung up; the caller goes to the post-call survey");
        // The agent's part is over (the ACD starts their wrap-up); the caller stays.
        self.drive_flow();
        self.flush_leg(now, switchboard_media::Leg::B);
        self.bridge = None;
        self.b_player = None;
        if let Some(b) = self.b.as_mut() {
            b.session.close(now);
            let _ = b.flush_session();
        }
        self.campaign = Some(campaign_leg::CampaignTag::post_call(&queue, questions));
        self.ivr = Interpreter::new(program);
        let at = self.ctx.cfg.ivr.call_start_time(Utc::now());
        self.ivr.start_in(at, queue, self.caller.clone(), &dialplan);
        self.log_ivr_start();
        self.drain_ivr();
    }
}

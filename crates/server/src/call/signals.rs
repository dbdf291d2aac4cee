//! What the SIP driver's signals mean for the call task (answers, failures, in-dialog
//! requests, REFERs, hand-overs, the end), and the two ways back to it (commands and
//! responses).

use super::*;

impl CallTask {
    pub(super) async fn on_signal(&mut self, s: CallSignal) {
        match s {
            CallSignal::AConfirmed => {
                self.a.session.confirm();
                self.start_when_confirmed();
            }
            CallSignal::BProgress => {}
            CallSignal::BAnswered(sdp, arrived) => {
                self.note_answer_arrival(arrived);
                self.agent_answered(sdp).await
            }
            CallSignal::ForkAnswered {
                agent,
                sdp,
                arrived,
            } => {
                self.note_answer_arrival(arrived);
                self.fork_answered(agent, sdp).await
            }
            CallSignal::ForkFailed { agent, status } => self.fork_failed(agent, status),
            CallSignal::BFailed(status) => {
                let again = self.flow.handle_agent_failed(Instant::now(), status.0);
                self.drive_flow();
                self.offer_again(again).await;
            }
            CallSignal::InDialog { leg, tx, req }
                if req.method == Method::Refer && leg == SipLeg::B =>
            {
                match refer_replaces(&req) {
                    Some(r) => self.attended_transfer(tx, r).await,
                    None => self.blind_transfer(tx, &req).await,
                }
            }
            CallSignal::HandOver(reply) => self.hand_over(reply),
            CallSignal::InDialog { leg, tx, req } => self.on_in_dialog(leg, tx, *req).await,
            CallSignal::Ended(hangup) => {
                // The flow decides what the end of that leg means now (`end_reason`).
                let reason = self.flow.hangup_reason(hangup);
                self.finish(reason)
            }
            CallSignal::AgentLeft => self.agent_left(),
        }
    }

    /// Sends a command to the SIP driver (it only fails when the server is stopping).
    pub(super) async fn sip(&self, cmd: SipCommand) {
        let _ = self.ctx.sip.commands.send(cmd);
    }

    pub(super) async fn respond(
        &self,
        tx: switchboard_sip::TxKey,
        status: StatusCode,
        sdp: Option<Bytes>,
    ) {
        self.sip(SipCommand::Respond {
            call: self.sip_call,
            tx,
            status,
            sdp,
        })
        .await;
    }
}

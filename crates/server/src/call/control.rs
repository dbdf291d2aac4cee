//! The HTTP API's requests to a live call (through `live_calls`): describe yourself,
//! hang up, blind-transfer to another queue. The call task answers from its own state.

use super::*;
use crate::live_calls::{
    CallControl, CallPhase, CallView, ControlRefusal, Direction, OutsideNumbers, TransferTarget,
};
use switchboard_callflow::{TransferDecision, TransferRefusal};
use switchboard_events::TransferFailure;

impl CallTask {
    pub(super) async fn on_control(&mut self, c: CallControl) {
        match c {
            CallControl::Describe(reply) => {
                let _ = reply.send(self.view(Instant::now()));
            }
            CallControl::Hangup { by, reply } => {
                if !self.flow.handle_api_hangup() {
                    let _ = reply.send(Err(ControlRefusal::Conflict(
                        "the call is already ending".into(),
                    )));
                    return;
                }
                tracing::info!(by = %by, "call hung up over the API");
                self.api_hangup_by = Some(by);
                self.drive_flow();
                let _ = reply.send(Ok(()));
            }
            CallControl::Transfer { to, by, reply } => {
                let _ = reply.send(self.api_transfer(to, by).await);
            }
        }
    }

    /// A transfer over the API: the target is resolved here, the flow decides (typed
    /// refusals become the API's 404/409).
    async fn api_transfer(&mut self, to: TransferTarget, by: String) -> Result<(), ControlRefusal> {
        let dest = match &to {
            TransferTarget::Queue(q) => self
                .ctx
                .cfg
                .queues
                .iter()
                .any(|c| &c.name == q)
                .then(|| Destination::Queue(q.clone()))
                .ok_or(TransferFailure::UnknownTarget),
            TransferTarget::Agent(a) => self
                .resolve_target(Asked::Agent, a)
                .map_err(|_| TransferFailure::UnknownTarget),
        };
        let name = agent_name(&to);
        let agent = self.flow.phase().agent().map(str::to_string);
        let decision = self
            .flow
            .handle_api_transfer(Instant::now(), dest, name, by.clone())
            .map_err(|r| refusal(r, &to))?;
        if let TransferDecision::MoveWaiting { from, queue } = decision {
            return self.move_waiting(from, queue, by).await;
        }
        tracing::info!(by = %by, to = ?to, "call transferred over the API");
        self.carry_out_transfer(decision, None, agent);
        Ok(())
    }

    /// A supervisor moves the waiting caller to queue `target`: the ACD moves the entry
    /// (`queue.overflow`), the call logs `call.transfer` with `by`; the caller keeps
    /// hearing the music.
    async fn move_waiting(
        &mut self,
        from: String,
        target: String,
        by: String,
    ) -> Result<(), ControlRefusal> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let asked = self
            .ctx
            .acd
            .send(crate::acd_actor::AcdCommand::MoveWaiting {
                call: self.id,
                queue: target.clone(),
                reply,
            });
        if asked.is_err() {
            return Err(ControlRefusal::Conflict("the ACD is not running".into()));
        }
        match answer.await {
            Ok(Ok(())) => {}
            Ok(Err(why)) => return Err(ControlRefusal::Conflict(why)),
            Err(_) => return Err(ControlRefusal::Conflict("the ACD is not running".into())),
        }
        tracing::info!(by = %by, from = %from, to = %target, "waiting caller moved over the API");
        self.flow.handle_waiting_moved(target.clone(), by);
        self.moved_at = Some(Instant::now());
        self.drive_flow();
        if let Some(req) = self.queue_req.as_mut() {
            req.queue = target;
        }
        Ok(())
    }

    fn view(&self, now: Instant) -> CallView {
        let secs = |from: Instant, to: Instant| to.saturating_duration_since(from).as_secs_f64();
        let (phase, queue, agent, answered) = match self.flow.phase() {
            Phase::Ivr if self.awaiting_confirmation.is_some() => {
                (CallPhase::Answering, None, None, None)
            }
            Phase::Ivr => (CallPhase::Ivr, None, None, None),
            Phase::Queued { queue, .. } => (CallPhase::Queued, Some(queue.clone()), None, None),
            Phase::Ringing { queue, agent } => (
                CallPhase::Ringing,
                Some(queue.clone()),
                Some(agent.clone()),
                None,
            ),
            Phase::Bridged {
                queue,
                agent,
                answered_at,
                ..
            } => (
                CallPhase::Bridged,
                Some(queue.clone()),
                Some(agent.clone()),
                Some(*answered_at),
            ),
            Phase::CallbackLeaving { queue } => {
                (CallPhase::CallbackLeaving, Some(queue.clone()), None, None)
            }
            Phase::HandedOver { queue, agent } => (
                CallPhase::Ending,
                Some(queue.clone()),
                Some(agent.clone()),
                None,
            ),
            Phase::Transferring { queue } => (
                CallPhase::Ringing,
                Some(queue.clone()).filter(|q| !q.is_empty()),
                self.flow
                    .transfer_ringing()
                    .filter(|(to, _)| *to == switchboard_events::TransferTo::User)
                    .map(|(_, target)| target.to_string()),
                None,
            ),
            Phase::Dialing { .. } => (CallPhase::Ringing, None, None, None),
            Phase::Ended => (CallPhase::Ending, None, None, None),
        };
        // `wait_s`: the caller's whole wait, from the first queue join (a supervisor's move
        // does not restart it); `queue_wait_s`: in the queue it is in now, from the move
        // (what that queue's tile and service level count).
        let waits = |from: Instant| match self.flow.phase() {
            Phase::Queued { .. } | Phase::Ringing { .. } => Some(secs(from, now)),
            Phase::Bridged { .. } => answered.map(|a| secs(from, a)),
            _ => None,
        };
        let queued_at = self.flow.queued_at();
        let wait_s = queued_at.and_then(waits);
        let queue_wait_s = queued_at
            .map(|q| self.moved_at.map_or(q, |m| m.max(q)))
            .and_then(waits);
        CallView {
            id: self.id_str(),
            phase,
            // A campaign's call, or a placed call its agent transferred: the far end we
            // called leads the task.
            direction: if self.callee_leads {
                Direction::Outbound
            } else {
                Direction::Inbound
            },
            // A placed call its agent transferred runs with the number dialled as both.
            numbers: OutsideNumbers {
                caller: true,
                dnis: self.callee_leads && self.dnis == self.caller,
            },
            caller: self.caller.clone(),
            dnis: self.dnis.clone(),
            queue,
            agent,
            tenant: self.queue_req.as_ref().and_then(|r| r.attrs.tenant.clone()),
            started: self
                .started_wall
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            duration_s: secs(self.flow.started(), now),
            wait_s,
            queue_wait_s,
            talk_s: answered.map(|a| secs(a, now)),
            supervisor: self.flow.supervisor().map(str::to_string),
        }
    }
}

fn agent_name(to: &TransferTarget) -> String {
    match to {
        TransferTarget::Queue(q) | TransferTarget::Agent(q) => q.clone(),
    }
}

/// The flow's refusal of an API transfer, in words for people.
fn refusal(r: TransferRefusal, to: &TransferTarget) -> ControlRefusal {
    match (r, to) {
        (TransferRefusal::UnknownTarget, TransferTarget::Queue(q)) => {
            ControlRefusal::NotFound(format!("no queue {q:?}"))
        }
        (TransferRefusal::UnknownTarget, TransferTarget::Agent(a)) => {
            ControlRefusal::NotFound(format!("no user {a:?}"))
        }
        (TransferRefusal::AlreadyWith(agent), _) => {
            ControlRefusal::Conflict(format!("the call is already with {agent}"))
        }
        (TransferRefusal::NumberRefused, _) => {
            ControlRefusal::Conflict("the dial policy refuses that number".into())
        }
        (TransferRefusal::NotTransferable | TransferRefusal::CannotMoveLeg, _) => {
            ControlRefusal::Conflict(
                "only a call bridged to an agent, or a caller waiting in a queue (to another \
                 queue), can be transferred"
                    .into(),
            )
        }
    }
}

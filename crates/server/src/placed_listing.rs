//! An agent's own outbound call, and a bridged callback, in the live-calls API
//! (`GET /api/v1/calls`, `live_calls.rs`): the call's driver (`agent_outbound.rs`,
//! `callback.rs`) registers it while it dials (an own call) and while it is bridged, and answers the API's requests from here: a description of itself (direction
//! `outbound`, the agent, the number dialled, masked for supervisors as callers' numbers
//! are), a hang-up (handed back to the driver, which ends the call `api_hangup` with `by`),
//! and a clear refusal (409) of what such a call cannot do over the API (a transfer: its
//! agent transfers it with a REFER). Supervision reaches the call by its agent, as for a
//! queue call (`placed_supervision.rs`). Once the agent transfers it, the call task that takes
//! it over lists it instead (under the same id).
//!
//! It holds no call state beyond what the view needs; the driver owns the call.

use std::time::Instant;

use tokio::sync::mpsc;

use crate::live_calls::{
    CallControl, CallPhase, CallView, ControlRefusal, Direction, LiveCallId, LiveCalls,
    OutsideNumbers,
};

/// The listing of one agent's own call; removed from the index when dropped.
pub(crate) struct PlacedListing<'a> {
    live: &'a LiveCalls,
    id: LiveCallId,
    control: mpsc::Receiver<CallControl>,
    /// Our entry's sender, to tell it from a call task's entry under the same id.
    entry: Option<mpsc::Sender<CallControl>>,
    agent: String,
    number: String,
    /// The queue a callback is for (none for an agent's own call).
    queue: Option<String>,
    tenant: Option<String>,
    started: Instant,
    started_wall: chrono::DateTime<chrono::Utc>,
    /// When the far end answered (the call is bridged from then on).
    answered: Option<Instant>,
    /// The supervisor joined, if any (the bridge says: `placed_call.rs`).
    supervisor: Option<String>,
}

impl<'a> PlacedListing<'a> {
    /// Lists call `id`, agent `agent`'s call to `number`, started `started`. Its tenant is
    /// the agent's when they serve exactly one (else none: only tokens without a tenant
    /// see it).
    pub(crate) fn new(
        live: &'a LiveCalls,
        id: u64,
        agent: &str,
        number: &str,
        agent_tenants: &[String],
        started: Instant,
    ) -> PlacedListing<'a> {
        let id = LiveCallId(id);
        let control = live.register(id);
        PlacedListing {
            control,
            entry: live.get(id),
            live,
            id,
            agent: agent.to_string(),
            number: number.to_string(),
            queue: None,
            tenant: match agent_tenants {
                [one] => Some(one.clone()),
                _ => None,
            },
            started,
            started_wall: chrono::Utc::now(),
            answered: None,
            supervisor: None,
        }
    }

    /// Lists callback `id` of `queue` (its tenant, if the queue has one): the agent
    /// `agent` and the customer's `number` are both answered, so it is listed bridged.
    pub(crate) fn callback(
        live: &'a LiveCalls,
        id: u64,
        agent: &str,
        number: &str,
        queue: &str,
        tenant: Option<&str>,
        started: Instant,
    ) -> PlacedListing<'a> {
        let mut listing = PlacedListing::new(live, id, agent, number, &[], started);
        listing.queue = Some(queue.to_string());
        listing.tenant = tenant.map(str::to_string);
        listing.answered = Some(Instant::now());
        listing
    }

    /// The supervisor on the call now, as the flow has it.
    pub(crate) fn set_supervisor(&mut self, supervisor: Option<&str>) {
        self.supervisor = supervisor.map(str::to_string);
    }

    /// The far end answered at `at`: the call is bridged.
    pub(crate) fn answered(&mut self, at: Instant) {
        self.answered = Some(at);
    }

    /// Waits for the API's next hang-up of this call (`by`: the token's name), answering
    /// every other request on the way. Never completes when the index let the call go.
    pub(crate) async fn hangup_asked(&mut self) -> String {
        loop {
            let Some(c) = self.control.recv().await else {
                return std::future::pending().await;
            };
            if let Some(by) = self.answer(c) {
                return by;
            }
        }
    }

    /// Answers one request; `Some(by)` for a hang-up, which the driver carries out.
    fn answer(&self, c: CallControl) -> Option<String> {
        match c {
            CallControl::Describe(reply) => {
                let _ = reply.send(self.view(Instant::now()));
                None
            }
            CallControl::Hangup { by, reply } => {
                tracing::info!(by = %by, "agent's own call hung up over the API");
                let _ = reply.send(Ok(()));
                Some(by)
            }
            CallControl::Transfer { reply, .. } => {
                let _ = reply.send(Err(ControlRefusal::Conflict(
                    "an agent's own outbound call or a callback is transferred by its agent (REFER), not over the API"
                        .into(),
                )));
                None
            }
        }
    }

    /// The call as the API shows it.
    pub(crate) fn view(&self, now: Instant) -> CallView {
        let secs = |from: Instant| now.saturating_duration_since(from).as_secs_f64();
        CallView {
            id: self.id.to_string(),
            phase: if self.answered.is_some() {
                CallPhase::Bridged
            } else {
                CallPhase::Dialing
            },
            direction: Direction::Outbound,
            numbers: OutsideNumbers {
                caller: false,
                dnis: true,
            },
            caller: self.agent.clone(),
            dnis: self.number.clone(),
            queue: self.queue.clone(),
            agent: Some(self.agent.clone()),
            tenant: self.tenant.clone(),
            started: self
                .started_wall
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            duration_s: secs(self.started),
            wait_s: None,
            queue_wait_s: None,
            talk_s: self.answered.map(secs),
            supervisor: self.supervisor.clone(),
        }
    }
}

impl Drop for PlacedListing<'_> {
    fn drop(&mut self) {
        // A call task that took the call over (a transfer) lists it under the same id and
        // removes it itself: only our own entry goes.
        let ours =
            |l: &mpsc::Sender<CallControl>| self.entry.as_ref().is_some_and(|e| e.same_channel(l));
        if self.live.get(self.id).is_some_and(|l| ours(&l)) {
            self.live.remove(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http_auth::Role;

    #[test]
    fn a_callback_is_listed_bridged_in_its_queue_and_tenant() {
        let live = LiveCalls::default();
        let listing = PlacedListing::callback(
            &live,
            9,
            "1001",
            "+74951234567",
            "sales",
            Some("acme"),
            Instant::now(),
        );
        let v = listing.view(Instant::now());
        assert_eq!(v.phase, CallPhase::Bridged);
        assert_eq!(v.direction, Direction::Outbound);
        assert_eq!(v.queue.as_deref(), Some("sales"));
        assert_eq!(v.tenant.as_deref(), Some("acme"));
        assert_eq!(v.dnis, "+74951234567");
        assert!(v.talk_s.is_some());
        drop(listing);
        assert!(live.get(LiveCallId(9)).is_none(), "unlisted when dropped");
    }

    #[tokio::test]
    async fn an_own_call_describes_itself_refuses_a_transfer_and_hands_back_a_hangup() {
        let live = LiveCalls::default();
        let t0 = Instant::now();
        let mut listing = PlacedListing::new(&live, 7, "1001", "+74951234567", &[], t0);
        let lane = live.get(LiveCallId(7)).expect("listed");
        let v = LiveCalls::describe(&lane, std::time::Duration::from_secs(1));
        let (v, _) = tokio::join!(v, async {
            tokio::select! {
                _ = listing.hangup_asked() => unreachable!("no hang-up asked"),
                () = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
            }
        });
        let v = v.expect("described");
        assert_eq!(v.phase, CallPhase::Dialing);
        assert_eq!(v.direction, Direction::Outbound);
        assert_eq!(v.agent.as_deref(), Some("1001"));
        assert_eq!(v.tenant, None);
        let sup = v.clone().for_principal(Role::Supervisor, None).unwrap();
        assert_eq!(sup.dnis, "+*******4567", "the number dialled is masked");
        assert_eq!(sup.caller, "1001", "the agent is not a number to mask");
        assert!(v.clone().for_principal(Role::Agent, Some("1001")).is_some());
        assert!(v.for_principal(Role::Agent, Some("1002")).is_none());

        listing.answered(t0);
        assert_eq!(listing.view(Instant::now()).phase, CallPhase::Bridged);

        let (tx, rx) = tokio::sync::oneshot::channel();
        lane.try_send(CallControl::Transfer {
            to: crate::live_calls::TransferTarget::Queue("sales".into()),
            by: "sup".into(),
            reply: tx,
        })
        .unwrap();
        let (tx2, rx2) = tokio::sync::oneshot::channel();
        lane.try_send(CallControl::Hangup {
            by: "sup".into(),
            reply: tx2,
        })
        .unwrap();
        assert_eq!(listing.hangup_asked().await, "sup");
        assert!(matches!(rx.await, Ok(Err(ControlRefusal::Conflict(_)))));
        assert_eq!(rx2.await, Ok(Ok(())));

        let tenants = ["acme".to_string()];
        let one = PlacedListing::new(&live, 8, "1003", "+74951234567", &tenants, t0);
        assert_eq!(one.view(t0).tenant.as_deref(), Some("acme"));
        drop(one);
        drop(listing);
        assert!(live.all().is_empty(), "both listings removed");
    }
}

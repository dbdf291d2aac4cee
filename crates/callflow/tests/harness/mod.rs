//! A simulated contact centre for the call-flow tests: calls (`callflow::Call`), the real
//! ACD engine (`switchboard_acd::Acd`, sans-IO too) and scripted agent phones, all on one
//! simulated clock. The world plays the server's part: it carries the flow's intents to the
//! ACD and the phones, and the ACD's offers, withdrawals, announcements and exits back to
//! the calls, the way `call/flow_io.rs` and the ACD actor do. Every event source (the
//! ACD's timers, each call's timers, the phones' answers) is visited in time order, so a
//! run is deterministic and takes microseconds.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use switchboard_acd::{
    Acd, AcdConfig, AcdError, AgentConfig, AgentId, AgentState, CallId, Join, QueueConfig, QueueId,
    QueueStats, Strategy,
};
use switchboard_callflow::{
    AcdRequest, AnswerDecision, Call, Ending, MediaCommand, OfferDecision, Output, QueueJoin,
    SipRequest, Transfer, TransferAnswered, TransferDecision, TransferRefusal,
};
use switchboard_events::{EndReason, TransferFailure};

/// How an agent's phone treats the next call that rings it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Pickup {
    /// Answered after this long.
    After(Duration),
    /// Rings until cancelled (the ACD's ring timeout: RONA).
    Never,
    /// Refused with this final status after this long.
    Reject(u16, Duration),
}

/// What a phone does at a moment: its answer or its final failure.
#[derive(Clone, Copy, Debug, PartialEq)]
enum PhoneAct {
    Answer,
    Fail(u16),
}

/// How long a CANCEL takes to come back as the ringing leg's 487.
pub(crate) const CANCEL_RTT: Duration = Duration::from_millis(40);

struct Agent {
    name: String,
    id: AgentId,
    /// One entry per ring, consumed in order; `After(2 s)` once it runs out.
    script: Vec<Pickup>,
}

/// One call as the world drives it.
pub(crate) struct SimCall {
    pub(crate) flow: Call,
    /// Whether the caller's prompt player is playing.
    pub(crate) playing: bool,
    /// The agent the call's agent leg rings or is connected to.
    pub(crate) leg: Option<String>,
    /// How the call ended, once it has.
    pub(crate) ending: Option<Ending>,
}

/// The simulated centre.
pub(crate) struct World {
    pub(crate) t0: Instant,
    pub(crate) now: Instant,
    pub(crate) acd: Acd,
    pub(crate) calls: BTreeMap<u64, SimCall>,
    queues: Vec<(String, QueueId)>,
    agents: Vec<Agent>,
    /// Phone acts due: (when, call, act), kept in time order of insertion per call.
    phones: Vec<(Instant, u64, PhoneAct)>,
    /// Every intent of every call: (second, call, intent).
    pub(crate) outputs: Vec<(f64, u64, Output)>,
    /// Every ACD output: (second, output).
    pub(crate) acd_outputs: Vec<(f64, switchboard_acd::Output)>,
    /// Inputs the ACD refused: the flow and the engine disagreed (a test bug or a flow bug).
    pub(crate) acd_errors: Vec<(f64, u64, AcdError)>,
}

impl World {
    pub(crate) fn new() -> World {
        let t0 = switchboard_test_support::epoch();
        World {
            t0,
            now: t0,
            acd: Acd::new(AcdConfig::default()),
            calls: BTreeMap::new(),
            queues: Vec::new(),
            agents: Vec::new(),
            phones: Vec::new(),
            outputs: Vec::new(),
            acd_outputs: Vec::new(),
            acd_errors: Vec::new(),
        }
    }

    /// Seconds since the start of the simulation.
    pub(crate) fn secs(&self) -> f64 {
        self.now.duration_since(self.t0).as_secs_f64()
    }

    fn acd_now(&self) -> Duration {
        self.now.duration_since(self.t0)
    }

    /// A longest-idle queue with `wrap_up` and `ring_timeout`, no announcements.
    pub(crate) fn add_queue(&mut self, name: &str, wrap_up: Duration, ring_timeout: Duration) {
        let mut cfg = QueueConfig::new(Strategy::LongestIdle);
        cfg.wrap_up = wrap_up;
        cfg.ring_timeout = ring_timeout;
        cfg.announce_at_join = false;
        cfg.announce_every = None;
        let id = QueueId(self.queues.len() as u16 + 1);
        self.acd.add_queue(id, cfg).unwrap();
        self.queues.push((name.to_string(), id));
    }

    /// An agent serving `queues`, logged in now, whose phone follows `script`.
    pub(crate) fn add_agent(&mut self, name: &str, queues: &[&str], script: Vec<Pickup>) {
        let id = AgentId(self.agents.len() as u32 + 1);
        let qs = queues.iter().map(|q| self.queue_id(q)).collect();
        self.acd.add_agent(AgentConfig::new(id, qs)).unwrap();
        self.agents.push(Agent {
            name: name.to_string(),
            id,
            script,
        });
        let now = self.acd_now();
        self.acd.handle_login(now, id).unwrap();
        self.settle();
    }

    pub(crate) fn queue_id(&self, name: &str) -> QueueId {
        self.queues.iter().find(|(n, _)| n == name).unwrap().1
    }

    fn queue_name(&self, id: QueueId) -> String {
        self.queues
            .iter()
            .find(|(_, q)| *q == id)
            .unwrap()
            .0
            .clone()
    }

    pub(crate) fn agent_id(&self, name: &str) -> AgentId {
        self.agents.iter().find(|a| a.name == name).unwrap().id
    }

    fn agent_name(&self, id: AgentId) -> String {
        self.agents
            .iter()
            .find(|a| a.id == id)
            .unwrap()
            .name
            .clone()
    }

    /// The ACD's state of agent `name`.
    pub(crate) fn agent_state(&self, name: &str) -> AgentState {
        self.acd.agent_state(self.agent_id(name)).unwrap().clone()
    }

    pub(crate) fn stats(&self, queue: &str) -> QueueStats {
        self.acd.queue_stats(self.queue_id(queue)).unwrap()
    }

    pub(crate) fn call(&self, id: u64) -> &SimCall {
        &self.calls[&id]
    }

    pub(crate) fn call_mut(&mut self, id: u64) -> &mut Call {
        &mut self.calls.get_mut(&id).unwrap().flow
    }

    /// A new call `id` arrives (in the dialplan).
    pub(crate) fn dial(&mut self, id: u64) {
        let call = SimCall {
            flow: Call::new(self.now),
            playing: false,
            leg: None,
            ending: None,
        };
        self.calls.insert(id, call);
    }

    /// The dialplan queues call `id` in `queue` (the driver's `join_queue`: the ACD hears
    /// the join, then the flow).
    pub(crate) fn queue(&mut self, id: u64, queue: &str, max_wait: Option<Duration>) {
        let mut join = Join::new(CallId(id), self.queue_id(queue));
        join.caller = None;
        let now = self.acd_now();
        if let Err(e) = self.acd.handle_join(now, join) {
            self.acd_errors.push((self.secs(), id, e));
        }
        let flow_join = QueueJoin {
            queue: queue.to_string(),
            max_wait,
            exit_key: Some('#'),
            callback_key: None,
            ring_all: false,
            join_prompt: None,
        };
        let at = self.now;
        self.call_mut(id).handle_queue_join(at, flow_join);
        self.settle();
    }

    /// Call `id` ends for `reason` (the caller or the agent hung up).
    pub(crate) fn hang_up(&mut self, id: u64, reason: EndReason) {
        let at = self.now;
        let c = self.calls.get_mut(&id).unwrap();
        if let Some(end) = c.flow.handle_end(at, reason) {
            c.ending = Some(end);
        }
        // A phone still ringing for this call is cancelled with it.
        self.phones.retain(|(_, call, _)| *call != id);
        self.settle();
    }

    /// A transfer of call `id` (the driver resolved the target). A queue decision is
    /// carried out at once (the ACD hears the join); a target to ring is left to the test,
    /// which reports [`World::transfer_answered`] or [`World::transfer_failed`].
    pub(crate) fn transfer(
        &mut self,
        id: u64,
        t: Transfer,
    ) -> Result<TransferDecision, TransferRefusal> {
        let (at, c) = (self.now, self.calls.get_mut(&id).unwrap());
        let d = c.flow.handle_transfer(at, t, c.playing);
        self.settle();
        if let Ok(TransferDecision::Queue { queue }) = &d {
            self.queue(id, &queue.clone(), None);
        }
        d
    }

    /// The ringing transfer target of call `id` answered.
    pub(crate) fn transfer_answered(&mut self, id: u64) -> Option<TransferAnswered> {
        let at = self.now;
        let a = self.call_mut(id).handle_transfer_answered(at);
        if a.is_some() {
            self.calls.get_mut(&id).unwrap().playing = false;
        }
        self.settle();
        a
    }

    /// The ringing transfer target of call `id` was not reached.
    pub(crate) fn transfer_failed(&mut self, id: u64, why: TransferFailure) -> TransferDecision {
        let at = self.now;
        let d = self.call_mut(id).handle_transfer_failed(at, why);
        self.settle();
        if let TransferDecision::Queue { queue } = &d {
            self.queue(id, &queue.clone(), None);
        }
        d
    }

    /// Runs the world for `d`, visiting every due event at its own time.
    pub(crate) fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        loop {
            let acd = self.acd.poll_timeout().map(|t| self.t0 + t);
            let calls = self
                .calls
                .values()
                .filter_map(|c| c.flow.poll_timeout())
                .min();
            let phones = self.phones.iter().map(|(at, _, _)| *at).min();
            let Some(next) = [acd, calls, phones].into_iter().flatten().min() else {
                break;
            };
            if next > until {
                break;
            }
            self.now = self.now.max(next);
            let now = self.acd_now();
            self.acd.handle_timeout(now);
            let ids: Vec<u64> = self.calls.keys().copied().collect();
            for id in ids {
                let (at, c) = (self.now, self.calls.get_mut(&id).unwrap());
                if c.flow.poll_timeout().is_some_and(|t| t <= at) {
                    c.flow.handle_timeout(at, c.playing);
                }
            }
            self.settle();
            let due: Vec<(u64, PhoneAct)> = self
                .phones
                .iter()
                .filter(|(at, _, _)| *at <= self.now)
                .map(|(_, c, a)| (*c, *a))
                .collect();
            self.phones.retain(|(at, _, _)| *at > self.now);
            for (call, act) in due {
                self.phone_act(call, act);
                self.settle();
            }
        }
        self.now = until;
    }

    /// Carries every pending intent of the ACD and the calls until nothing more happens.
    pub(crate) fn settle(&mut self) {
        loop {
            let mut busy = false;
            while let Some(o) = self.acd.poll_output() {
                busy = true;
                self.acd_outputs.push((self.secs(), o.clone()));
                self.carry_acd(o);
            }
            let ids: Vec<u64> = self.calls.keys().copied().collect();
            for id in ids {
                while let Some(o) = self.calls.get_mut(&id).unwrap().flow.poll_output() {
                    busy = true;
                    self.outputs.push((self.secs(), id, o.clone()));
                    self.carry_flow(id, o);
                }
            }
            if !busy {
                return;
            }
        }
    }

    fn carry_acd(&mut self, o: switchboard_acd::Output) {
        use switchboard_acd::Output as A;
        match o {
            A::Offer { call, agent, .. } => {
                let name = self.agent_name(agent);
                let Some(c) = self.calls.get_mut(&call.0) else {
                    return;
                };
                let d = c.flow.handle_offer(name);
                self.ring(call.0, d);
            }
            A::CancelOffer { call, agent } => {
                let name = self.agent_name(agent);
                if let Some(c) = self.calls.get_mut(&call.0) {
                    c.flow.handle_offer_withdrawn(&name);
                }
            }
            A::Announce { call, .. } => {
                if let Some(c) = self.calls.get_mut(&call.0) {
                    if c.flow.handle_announce().is_some() {
                        c.playing = true;
                    }
                }
            }
            A::Exit { call, reason, .. } => {
                if let Some(c) = self.calls.get_mut(&call.0) {
                    c.flow.handle_queue_exit(Some(&reason));
                }
            }
            A::Overflow { call, to, .. } => {
                let to = self.queue_name(to);
                if let Some(c) = self.calls.get_mut(&call.0) {
                    c.flow.handle_queue_moved(to);
                }
            }
            A::Callback { .. } | A::Log(_) => {}
        }
    }

    /// Rings what the flow decided for an offer (the driver's `ring`).
    fn ring(&mut self, id: u64, d: OfferDecision) {
        let OfferDecision::Ring { agent, .. } = d else {
            assert!(
                !matches!(d, OfferDecision::Fork { .. }),
                "ring-all is not simulated here"
            );
            return;
        };
        let a = self.agents.iter_mut().find(|a| a.name == agent).unwrap();
        let pickup = if a.script.is_empty() {
            Pickup::After(Duration::from_secs(2))
        } else {
            a.script.remove(0)
        };
        match pickup {
            Pickup::After(d) => self.phones.push((self.now + d, id, PhoneAct::Answer)),
            Pickup::Reject(status, d) => {
                self.phones.push((self.now + d, id, PhoneAct::Fail(status)))
            }
            Pickup::Never => {}
        }
        let c = self.calls.get_mut(&id).unwrap();
        c.leg = Some(agent.clone());
        c.flow.handle_ringing(agent);
    }

    fn phone_act(&mut self, id: u64, act: PhoneAct) {
        let at = self.now;
        let c = self.calls.get_mut(&id).unwrap();
        match act {
            PhoneAct::Answer => match c.flow.handle_agent_answered(at) {
                AnswerDecision::Connect { .. } => {
                    c.flow.handle_agent_connected(at);
                    c.flow.handle_bridge_connected(at);
                    c.playing = false;
                }
                AnswerDecision::Reoffer(agents) => self.offer_again(id, agents),
                AnswerDecision::Ignore => {}
            },
            PhoneAct::Fail(status) => {
                c.leg = None;
                let again = c.flow.handle_agent_failed(at, status);
                self.offer_again(id, again);
            }
        }
    }

    fn offer_again(&mut self, id: u64, agents: Vec<String>) {
        for agent in agents {
            let d = self.call_mut(id).handle_offer_again(agent);
            self.ring(id, d);
        }
    }

    fn carry_flow(&mut self, id: u64, o: Output) {
        let now = self.acd_now();
        let call = CallId(id);
        let acd_result = match o {
            Output::Acd(AcdRequest::OfferFailed { agent, failure }) => {
                let a = self.agent_id(&agent);
                self.acd.handle_offer_failed(now, call, a, failure)
            }
            Output::Acd(AcdRequest::OfferAnswered { agent }) => {
                let a = self.agent_id(&agent);
                self.acd.handle_offer_answered(now, call, a)
            }
            Output::Acd(AcdRequest::Exit(reason)) => self.acd.handle_exit(now, call, reason),
            Output::Acd(AcdRequest::CallEnded) => self.acd.handle_call_ended(now, call),
            Output::Acd(AcdRequest::Key(k)) => self.acd.handle_key(now, call, k),
            Output::Acd(AcdRequest::CallbackRequest) => Ok(()),
            Output::Sip(SipRequest::CancelAgent) => {
                // The phone stops ringing; its 487 comes back one round trip later.
                self.phones.retain(|(_, c, _)| *c != id);
                self.phones
                    .push((self.now + CANCEL_RTT, id, PhoneAct::Fail(487)));
                Ok(())
            }
            Output::Sip(SipRequest::ReleaseAgent) => {
                self.calls.get_mut(&id).unwrap().leg = None;
                Ok(())
            }
            Output::Media(MediaCommand::PlayMoh | MediaCommand::Play { .. }) => {
                self.calls.get_mut(&id).unwrap().playing = true;
                Ok(())
            }
            Output::Media(MediaCommand::StopPrompts) => {
                self.calls.get_mut(&id).unwrap().playing = false;
                Ok(())
            }
            Output::HangUp(reason) => {
                let at = self.now;
                let c = self.calls.get_mut(&id).unwrap();
                if let Some(end) = c.flow.handle_end(at, reason) {
                    c.ending = Some(end);
                }
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(e) = acd_result {
            self.acd_errors.push((self.secs(), id, e));
        }
    }

    /// The flow's intents for call `id`, in order.
    pub(crate) fn outputs_of(&self, id: u64) -> Vec<&Output> {
        self.outputs
            .iter()
            .filter(|(_, c, _)| *c == id)
            .map(|(_, _, o)| o)
            .collect()
    }

    /// Every event the flow logged for call `id`, with the second it came out at.
    pub(crate) fn events_of(&self, id: u64) -> Vec<(f64, switchboard_callflow::Logged)> {
        self.outputs
            .iter()
            .filter(|(_, c, _)| *c == id)
            .filter_map(|(t, _, o)| match o {
                Output::Event(l) => Some((*t, (**l).clone())),
                _ => None,
            })
            .collect()
    }

    /// The whole run as text (the ACD's and the calls' outputs, timed), for determinism.
    pub(crate) fn transcript(&self) -> String {
        let mut s = String::new();
        for (t, o) in &self.acd_outputs {
            s.push_str(&format!("{t:.3} acd {o:?}\n"));
        }
        for (t, c, o) in &self.outputs {
            s.push_str(&format!("{t:.3} call {c} {o:?}\n"));
        }
        s
    }
}

//! Property tests: random sequences of inputs never double-book an agent, never serve out of
//! priority/FIFO order, and always balance the books.

use std::collections::HashMap;
use std::time::Duration;

use proptest::prelude::*;
use switchboard_acd::Strategy as Routing;
use switchboard_acd::{
    Acd, AcdConfig, AgentConfig, AgentId, BusyKind, CallId, CallbackResult, Event, Join, MaxWait,
    OfferFailure, Output, OverflowRule, QueueConfig, QueueId, SkillId, SkillReq, SkillTier,
};

const QS: [QueueId; 2] = [QueueId(1), QueueId(2)];
const AGENTS: u32 = 5;

#[derive(Clone, Debug)]
enum Op {
    Join {
        q: usize,
        priority: u8,
        skill: Option<u8>,
        number: u8,
    },
    Answer(u32),
    Fail(u32, u8),
    End(u8),
    Key(u8, char),
    Callback(u8),
    CallbackResult(u8, bool),
    Login(u32),
    Logout(u32),
    Pause(u32),
    Unpause(u32),
    Busy(u32),
    Idle(u32),
    Unreachable(u32),
    Reachable(u32),
    WrapDone(u32),
    Advance(u16),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    let agent = 1..=AGENTS;
    prop_oneof![
        4 => (0..2usize, 0..3u8, proptest::option::of(1..=10u8), 0..6u8)
            .prop_map(|(q, priority, skill, number)| Op::Join { q, priority, skill, number }),
        4 => agent.clone().prop_map(Op::Answer),
        1 => (agent.clone(), 0..3u8).prop_map(|(a, f)| Op::Fail(a, f)),
        3 => any::<u8>().prop_map(Op::End),
        1 => (any::<u8>(), prop_oneof![Just('0'), Just('5')]).prop_map(|(c, k)| Op::Key(c, k)),
        1 => any::<u8>().prop_map(Op::Callback),
        2 => (any::<u8>(), any::<bool>()).prop_map(|(c, ok)| Op::CallbackResult(c, ok)),
        1 => agent.clone().prop_map(Op::Login),
        1 => agent.clone().prop_map(Op::Logout),
        1 => agent.clone().prop_map(Op::Pause),
        1 => agent.clone().prop_map(Op::Unpause),
        1 => agent.clone().prop_map(Op::Busy),
        1 => agent.clone().prop_map(Op::Idle),
        1 => agent.clone().prop_map(Op::Unreachable),
        1 => agent.clone().prop_map(Op::Reachable),
        1 => agent.clone().prop_map(Op::WrapDone),
        4 => (0..90u16).prop_map(Op::Advance),
    ]
}

const NO_CALL: CallId = CallId(u64::MAX);

struct World {
    acd: Acd,
    now: Duration,
    next_call: u64,
    calls: Vec<CallId>,
    /// Agent -> what the agent is engaged in (ringing, reserved, on a queue call, or NO_CALL
    /// for a direct call), as seen from outside the engine.
    engaged: HashMap<AgentId, CallId>,
    ringing: HashMap<AgentId, CallId>,
    callbacks: HashMap<CallId, AgentId>,
    violations: Vec<String>,
}

impl World {
    fn new(strategy: Routing) -> World {
        let mut acd = Acd::new(AcdConfig::default());
        let mut q1 = QueueConfig::new(strategy);
        q1.exit_key = Some('0');
        q1.skill_tiers = vec![SkillTier::relax(Duration::from_secs(40), 4)];
        q1.max_wait = Some(MaxWait {
            after: Duration::from_secs(400),
            target: "vm".into(),
        });
        q1.overflow = Some(OverflowRule {
            to: vec![QS[1]],
            after_wait: Some(Duration::from_secs(250)),
            predicted_sl_below: None,
        });
        q1.ring_timeout = Duration::from_secs(20);
        q1.max_len = Some(12);
        let mut q2 = QueueConfig::new(Routing::LongestIdle);
        q2.leave_when_empty = true;
        q2.wrap_up = Duration::from_secs(5);
        q2.callback.retry_after = Duration::from_secs(30);
        acd.add_queue(QS[0], q1).unwrap();
        acd.add_queue(QS[1], q2).unwrap();
        for i in 1..=AGENTS {
            let queues = match i {
                1 | 2 => vec![QS[0]],
                3 => vec![QS[0], QS[1]],
                _ => vec![QS[1]],
            };
            let mut a = AgentConfig::new(AgentId(i), queues);
            a.skills.push((SkillId(1), (i * 2) as u8));
            acd.add_agent(a).unwrap();
            acd.handle_login(Duration::ZERO, AgentId(i)).unwrap();
        }
        let mut w = World {
            acd,
            now: Duration::ZERO,
            next_call: 1,
            calls: Vec::new(),
            engaged: HashMap::new(),
            ringing: HashMap::new(),
            callbacks: HashMap::new(),
            violations: Vec::new(),
        };
        w.drain();
        w
    }

    fn pick(&self, i: u8) -> Option<CallId> {
        if self.calls.is_empty() {
            None
        } else {
            Some(self.calls[i as usize % self.calls.len()])
        }
    }

    fn free(&mut self, agent: AgentId, call: CallId) {
        if self.engaged.get(&agent) == Some(&call) {
            self.engaged.remove(&agent);
        }
        if self.ringing.get(&agent) == Some(&call) {
            self.ringing.remove(&agent);
        }
    }

    fn drain(&mut self) {
        while let Some(o) = self.acd.poll_output() {
            match o {
                Output::Offer { call, agent, .. } => {
                    if let Some(other) = self.engaged.insert(agent, call) {
                        self.violations
                            .push(format!("{agent} offered {call} while engaged in {other:?}"));
                    }
                    self.ringing.insert(agent, call);
                }
                Output::Callback { call, agent, .. } => {
                    if let Some(other) = self.engaged.insert(agent, call) {
                        self.violations.push(format!(
                            "{agent} reserved for {call} while engaged in {other:?}"
                        ));
                    }
                    self.callbacks.insert(call, agent);
                }
                Output::CancelOffer { call, agent } => self.free(agent, call),
                Output::Log(Event::Rona { agent, call }) => self.free(agent, call),
                Output::Exit { call, .. } => {
                    self.calls.retain(|c| *c != call);
                    self.callbacks.remove(&call);
                }
                _ => {}
            }
        }
        let audit = self.acd.audit();
        if !audit.clean() {
            self.violations.push(format!("audit: {audit:?}"));
        }
    }

    fn apply(&mut self, op: Op) {
        let now = self.now;
        match op {
            Op::Join {
                q,
                priority,
                skill,
                number,
            } => {
                let call = CallId(self.next_call);
                self.next_call += 1;
                let mut j = Join::new(call, QS[q]);
                j.priority = priority;
                j.caller = Some(format!("+1555000{number}").into());
                if let Some(min) = skill {
                    j.skills.push(SkillReq {
                        skill: SkillId(1),
                        min,
                    });
                }
                if self.acd.handle_join(now, j).is_ok() {
                    self.calls.push(call);
                }
            }
            Op::Answer(a) => {
                let agent = AgentId(a);
                if let Some(call) = self.ringing.get(&agent).copied() {
                    if self.acd.handle_offer_answered(now, call, agent).is_ok() {
                        self.ringing.remove(&agent);
                    }
                }
            }
            Op::Fail(a, f) => {
                let agent = AgentId(a);
                if let Some(call) = self.ringing.get(&agent).copied() {
                    let failure = [
                        OfferFailure::Rejected,
                        OfferFailure::NoAnswer,
                        OfferFailure::Unreachable,
                    ][f as usize % 3];
                    if self
                        .acd
                        .handle_offer_failed(now, call, agent, failure)
                        .is_ok()
                    {
                        self.free(agent, call);
                    }
                }
            }
            Op::End(i) => {
                if let Some(call) = self.pick(i) {
                    if self.acd.handle_call_ended(now, call).is_ok() {
                        // The call is gone unless it is a callback entry still waiting.
                        if self.acd.position(call).is_none() && self.acd.call_queue(call).is_none()
                        {
                            self.calls.retain(|c| *c != call);
                            let agents: Vec<AgentId> = self
                                .engaged
                                .iter()
                                .filter(|(_, c)| **c == call)
                                .map(|(a, _)| *a)
                                .collect();
                            for a in agents {
                                self.free(a, call);
                            }
                        }
                    }
                }
            }
            Op::Key(i, k) => {
                if let Some(call) = self.pick(i) {
                    let _ = self.acd.handle_key(now, call, k);
                }
            }
            Op::Callback(i) => {
                if let Some(call) = self.pick(i) {
                    let _ = self
                        .acd
                        .handle_callback_request(now, call, "+15559999".into());
                }
            }
            Op::CallbackResult(i, ok) => {
                if let Some(call) = self.pick(i) {
                    let r = if ok {
                        CallbackResult::Connected
                    } else {
                        CallbackResult::Failed
                    };
                    if self.acd.handle_callback_result(now, call, r).is_ok() && !ok {
                        if let Some(agent) = self.callbacks.remove(&call) {
                            self.free(agent, call);
                        }
                    }
                }
            }
            Op::Login(a) => {
                let _ = self.acd.handle_login(now, AgentId(a));
            }
            Op::Logout(a) => {
                let _ = self.acd.handle_logout(now, AgentId(a));
            }
            Op::Pause(a) => {
                let _ = self.acd.handle_pause(now, AgentId(a), "break".into());
            }
            Op::Unpause(a) => {
                let _ = self.acd.handle_unpause(now, AgentId(a));
            }
            Op::Busy(a) => {
                let agent = AgentId(a);
                if !self.engaged.contains_key(&agent)
                    && self
                        .acd
                        .handle_agent_busy(now, agent, BusyKind::Direct)
                        .is_ok()
                {
                    self.engaged.insert(agent, NO_CALL);
                }
            }
            Op::Idle(a) => {
                let agent = AgentId(a);
                if self.engaged.get(&agent) == Some(&NO_CALL)
                    && self.acd.handle_agent_idle(now, agent).is_ok()
                {
                    self.engaged.remove(&agent);
                }
            }
            Op::Unreachable(a) => {
                let _ = self.acd.handle_unreachable(now, AgentId(a));
            }
            Op::Reachable(a) => {
                let _ = self.acd.handle_reachable(now, AgentId(a));
            }
            Op::WrapDone(a) => {
                let _ = self.acd.handle_wrap_up_done(now, AgentId(a));
            }
            Op::Advance(s) => {
                self.now += Duration::from_secs(u64::from(s));
                while let Some(t) = self.acd.poll_timeout() {
                    if t > self.now {
                        break;
                    }
                    self.acd.handle_timeout(t);
                    self.drain();
                }
            }
        }
        self.drain();
    }
}

fn strategy() -> impl proptest::strategy::Strategy<Value = Routing> {
    prop_oneof![
        Just(Routing::RingAll),
        Just(Routing::LongestIdle),
        Just(Routing::RoundRobin),
        Just(Routing::FewestCalls),
        Just(Routing::Random),
        Just(Routing::SkillsBest),
        Just(Routing::SkillsLongestIdle),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn invariants_hold_for_any_input_sequence(s in strategy(), ops in proptest::collection::vec(op(), 1..120)) {
        let mut w = World::new(s);
        for op in ops {
            w.apply(op);
            prop_assert!(w.violations.is_empty(), "{:?}", w.violations);
        }
        for q in QS {
            prop_assert!(w.acd.queue_stats(q).unwrap().balanced());
        }
    }
}

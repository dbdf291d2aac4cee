//! The call flow driven through whole calls on a simulated clock: a scripted driver plays
//! the IVR interpreter, the ACD and the phones, feeds the call its inputs and collects its
//! intents. No sleeps, no sockets; a call of minutes runs in microseconds.

use std::time::{Duration, Instant};

use switchboard_acd::{ExitReason, OfferFailure};
use switchboard_callflow::{
    AcdRequest, AnswerDecision, Call, DigitRoute, IvrInput, Logged, MediaCommand, OfferDecision,
    Output, Phase, QueueJoin, SipRequest, Timer,
};
use switchboard_events::{
    Disposition, DtmfVia, EndReason, Event, QueueExitReason, SupervisionEnd, SupervisionMode,
};
use switchboard_ivr::interp::QueueOutcome;

/// The simulated driver: a clock, the call, and everything the call asked for so far.
struct Sim {
    t0: Instant,
    now: Instant,
    call: Call,
    /// Every intent, with the simulated second it came out at.
    outputs: Vec<(f64, Output)>,
    /// Whether the caller's prompt player is playing (the driver's media state).
    playing: bool,
}

impl Sim {
    fn new() -> Sim {
        let t0 = switchboard_test_support::epoch();
        Sim {
            t0,
            now: t0,
            call: Call::new(t0),
            outputs: Vec::new(),
            playing: false,
        }
    }

    fn secs(&self) -> f64 {
        self.now.duration_since(self.t0).as_secs_f64()
    }

    /// Moves the clock `d` forward, firing every timer due on the way at its own time.
    fn advance(&mut self, d: Duration) {
        let until = self.now + d;
        while let Some(at) = self.call.poll_timeout().filter(|at| *at <= until) {
            self.now = self.now.max(at);
            self.call.handle_timeout(self.now, self.playing);
            self.drain();
        }
        self.now = until;
    }

    /// Drains the call's intents, applying the media ones to the simulated player.
    fn drain(&mut self) -> Vec<Output> {
        let mut new = Vec::new();
        while let Some(o) = self.call.poll_output() {
            match &o {
                Output::Media(MediaCommand::PlayMoh | MediaCommand::Play { .. }) => {
                    self.playing = true
                }
                Output::Media(MediaCommand::StopPrompts) => self.playing = false,
                _ => {}
            }
            self.outputs.push((self.secs(), o.clone()));
            new.push(o);
        }
        new
    }

    /// The dialplan queues the call in `queue`.
    fn queue(&mut self, queue: &str, max_wait: Option<u64>) -> Vec<Output> {
        let join = QueueJoin {
            queue: queue.to_string(),
            max_wait: max_wait.map(Duration::from_secs),
            exit_key: Some('#'),
            callback_key: Some('9'),
            ring_all: false,
            join_prompt: None,
        };
        self.call.handle_queue_join(self.now, join);
        self.drain()
    }

    /// The ACD offers the call to `agent`; the driver rings as decided.
    fn offer(&mut self, agent: &str) -> OfferDecision {
        let d = self.call.handle_offer(agent.to_string());
        self.ring(&d);
        d
    }

    fn ring(&mut self, d: &OfferDecision) {
        match d {
            OfferDecision::Ring { agent, .. } => self.call.handle_ringing(agent.clone()),
            OfferDecision::Fork { agent, .. } => self.call.handle_forked(agent.clone()),
            OfferDecision::Wait | OfferDecision::Ignore => {}
        }
        self.drain();
    }

    /// The agent leg answers; the driver connects it and closes the bridge at once.
    fn answer(&mut self) -> AnswerDecision {
        let d = self.call.handle_agent_answered(self.now);
        match &d {
            AnswerDecision::Connect { .. } => {
                self.call.handle_agent_connected(self.now);
                self.call.handle_bridge_connected(self.now);
                self.playing = false;
            }
            AnswerDecision::Reoffer(agents) => {
                for a in agents.clone() {
                    let d = self.call.handle_offer_again(a);
                    self.ring(&d);
                }
            }
            AnswerDecision::Ignore => {}
        }
        d
    }

    fn events(&self) -> Vec<&Logged> {
        self.outputs
            .iter()
            .filter_map(|(_, o)| match o {
                Output::Event(l) => Some(&**l),
                _ => None,
            })
            .collect()
    }

    fn acd(&self) -> Vec<&AcdRequest> {
        self.outputs
            .iter()
            .filter_map(|(_, o)| match o {
                Output::Acd(r) => Some(r),
                _ => None,
            })
            .collect()
    }
}

fn collect_then_queue(sim: &mut Sim) {
    // The dialplan asks for a digit with a 5 s timeout; the caller presses 1 meanwhile.
    sim.playing = true;
    sim.call.handle_ivr_collect(sim.now, Duration::from_secs(5));
    sim.advance(Duration::from_secs(2));
    assert_eq!(
        sim.call.handle_digit(sim.now, '1', DtmfVia::Rfc4733, true),
        DigitRoute::Handled
    );
    let out = sim.drain();
    assert!(out.contains(&Output::Media(MediaCommand::PlayerKey('1'))));
    assert!(out.contains(&Output::Ivr(IvrInput::Digit('1'))));
    // The interpreter's next action: play, then queue.
    sim.call.handle_ivr_play();
    assert_eq!(
        sim.call.poll_timeout(),
        None,
        "the collect deadline is over"
    );
    sim.advance(Duration::from_secs(1));
    let out = sim.queue("support", Some(300));
    assert_eq!(out, vec![Output::Media(MediaCommand::PlayMoh)]);
}

#[test]
fn ivr_queue_rona_reoffer_answer_and_caller_hangup() {
    let mut sim = Sim::new();
    collect_then_queue(&mut sim);
    assert_eq!(
        sim.offer("alice"),
        OfferDecision::Ring {
            queue: "support".into(),
            agent: "alice".into()
        }
    );
    assert_eq!(sim.call.phase().agent(), Some("alice"));
    // alice does not answer: the ACD's ring timeout withdraws the offer (RONA) and at once
    // offers the call to bob, while our CANCEL to alice is still in flight.
    sim.advance(Duration::from_secs(15));
    sim.call.handle_offer_withdrawn("alice");
    let out = sim.drain();
    assert_eq!(
        out,
        vec![
            Output::Sip(SipRequest::CancelAgent),
            Output::Media(MediaCommand::PlayMoh)
        ]
    );
    assert_eq!(sim.offer("bob"), OfferDecision::Wait);
    // alice's 487 closes the CANCEL: bob's offer goes out now.
    let again = sim.call.handle_agent_failed(sim.now, 487);
    assert_eq!(again, vec!["bob".to_string()]);
    assert!(
        sim.drain().is_empty(),
        "a cancelled leg's 487 is no offer failure"
    );
    let d = sim.call.handle_offer_again("bob".into());
    sim.ring(&d);
    assert!(matches!(sim.call.phase(), Phase::Ringing { agent, .. } if agent == "bob"));
    sim.advance(Duration::from_secs(4));
    assert!(matches!(sim.answer(), AnswerDecision::Connect { .. }));
    let wait = sim.secs();
    let out = sim.drain();
    assert!(out.contains(&Output::Acd(AcdRequest::OfferAnswered {
        agent: "bob".into()
    })));
    assert!(matches!(
        sim.call.phase(),
        Phase::Bridged { direct: false, .. }
    ));
    // Talk, then the caller hangs up: answered, 60 s of talk, the ACD puts bob in wrap-up.
    sim.advance(Duration::from_secs(60));
    let end = sim
        .call
        .handle_end(sim.now, EndReason::CallerHangup)
        .unwrap();
    assert_eq!(end.disposition, Disposition::Answered);
    assert_eq!(end.talk_s, Some(60.0));
    assert_eq!((end.queue.as_str(), end.agent.as_str()), ("support", "bob"));
    assert_eq!(end.duration_s, wait + 60.0);
    assert_eq!(sim.drain(), vec![Output::Acd(AcdRequest::CallEnded)]);
    assert_eq!(sim.call.handle_end(sim.now, EndReason::CallerHangup), None);
    let bridge = sim
        .events()
        .into_iter()
        .find_map(|l| match l.event {
            Event::CallBridge { wait_s } => Some((wait_s, l.agent.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(bridge, (wait, "bob".to_string()));
    let rings: Vec<_> = sim
        .events()
        .into_iter()
        .filter(|l| l.event == Event::AgentRing {})
        .map(|l| l.agent.clone())
        .collect();
    assert_eq!(rings, ["alice", "bob"]);
}

#[test]
fn a_caller_who_hangs_up_while_queued_or_ringing_abandons() {
    for ringing in [false, true] {
        let mut sim = Sim::new();
        sim.queue("support", None);
        if ringing {
            sim.offer("alice");
        }
        sim.advance(Duration::from_secs(42));
        let end = sim
            .call
            .handle_end(sim.now, EndReason::CallerHangup)
            .unwrap();
        assert_eq!(end.disposition, Disposition::Abandoned);
        assert_eq!(end.talk_s, None);
        assert_eq!(end.queue, "support");
        assert_eq!(end.agent, "", "a ringing agent is not the call's agent");
        assert_eq!(sim.drain(), vec![Output::Acd(AcdRequest::CallEnded)]);
        assert_eq!(sim.call.phase(), &Phase::Ended);
        assert_eq!(sim.call.poll_timeout(), None);
    }
}

#[test]
fn max_wait_sends_the_caller_back_to_the_dialplan_fallback() {
    let mut sim = Sim::new();
    sim.queue("support", Some(30));
    assert_eq!(
        sim.call.timer(Timer::MaxWait),
        Some(sim.now + Duration::from_secs(30))
    );
    sim.advance(Duration::from_secs(29));
    assert!(matches!(sim.call.phase(), Phase::Queued { .. }));
    sim.advance(Duration::from_secs(2));
    let exits: Vec<_> = sim
        .outputs
        .iter()
        .filter(|(t, _)| *t == 30.0)
        .map(|(_, o)| o.clone())
        .collect();
    assert_eq!(
        exits,
        vec![
            Output::Event(Box::new(Logged {
                event: Event::QueueExit {
                    reason: QueueExitReason::MaxWait,
                    target: None,
                    key: None
                },
                queue: "support".into(),
                agent: String::new()
            })),
            Output::Acd(AcdRequest::Exit(ExitReason::MaxWait {
                target: String::new()
            })),
            Output::Media(MediaCommand::StopPrompts),
            Output::Ivr(IvrInput::QueueResult(QueueOutcome::MaxWait)),
        ]
    );
    assert_eq!(sim.call.phase(), &Phase::Ivr);
    // The dialplan's fallback: another queue, without a limit.
    sim.queue("overflow", None);
    assert_eq!(sim.call.phase().queue(), Some("overflow"));
    assert_eq!(sim.call.poll_timeout(), None);
}

#[test]
fn max_wait_waits_while_an_agent_rings() {
    let mut sim = Sim::new();
    sim.queue("support", Some(30));
    sim.advance(Duration::from_secs(25));
    sim.offer("alice");
    sim.advance(Duration::from_secs(10));
    assert!(matches!(sim.call.phase(), Phase::Ringing { .. }));
    // alice rejects: back in the queue, the overdue limit fires on the next timeout.
    sim.call.handle_agent_failed(sim.now, 486);
    sim.drain();
    assert!(sim.acd().contains(&&AcdRequest::OfferFailed {
        agent: "alice".into(),
        failure: OfferFailure::Rejected
    }));
    assert!(matches!(sim.call.phase(), Phase::Queued { .. }));
    sim.advance(Duration::ZERO);
    assert_eq!(sim.call.phase(), &Phase::Ivr);
}

#[test]
fn exit_key_and_callback_key_while_queued() {
    let mut sim = Sim::new();
    sim.queue("support", None);
    sim.call.handle_digit(sim.now, '5', DtmfVia::Inband, true);
    assert!(sim.drain().contains(&Output::Acd(AcdRequest::Key('5'))));
    sim.call.handle_digit(sim.now, '#', DtmfVia::SipInfo, true);
    let out = sim.drain();
    assert!(
        out.contains(&Output::Acd(AcdRequest::Exit(ExitReason::ExitKey {
            key: '#'
        })))
    );
    assert!(out.contains(&Output::Ivr(IvrInput::QueueResult(QueueOutcome::ExitKey))));

    // Callback while an agent rings: the ring is cancelled, the place kept, goodbye played.
    let mut sim = Sim::new();
    sim.queue("support", None);
    sim.offer("alice");
    assert_eq!(
        sim.call.handle_digit(sim.now, '9', DtmfVia::Rfc4733, true),
        DigitRoute::Callback
    );
    sim.call.handle_callback(true);
    let out = sim.drain();
    assert!(out.contains(&Output::Sip(SipRequest::CancelAgent)));
    assert!(out.contains(&Output::Acd(AcdRequest::CallbackRequest)));
    assert!(matches!(sim.call.phase(), Phase::CallbackLeaving { .. }));
    sim.call.handle_prompt_finished(sim.now);
    assert_eq!(
        sim.drain(),
        vec![Output::HangUp(EndReason::CallbackAccepted)]
    );
    let end = sim
        .call
        .handle_end(sim.now, EndReason::CallbackAccepted)
        .unwrap();
    assert_eq!(end.disposition, Disposition::Callback);

    // Without a dialable number the key is an ordinary key; refused, the caller waits on.
    let mut sim = Sim::new();
    sim.queue("support", None);
    assert_eq!(
        sim.call.handle_digit(sim.now, '9', DtmfVia::Rfc4733, false),
        DigitRoute::Handled
    );
    sim.call.handle_callback(false);
    assert!(matches!(
        sim.call.phase(),
        Phase::Queued {
            announcing: true,
            ..
        }
    ));
    sim.call.handle_prompt_finished(sim.now);
    assert!(matches!(
        sim.call.phase(),
        Phase::Queued {
            announcing: false,
            ..
        }
    ));
}

#[test]
fn blind_transfer_to_a_queue_and_transfer_to_a_user() {
    let mut sim = Sim::new();
    sim.queue("support", None);
    sim.offer("alice");
    sim.answer();
    sim.advance(Duration::from_secs(30));
    // alice REFERs the caller to "billing": her leg is released (she wraps up), the caller
    // queues again.
    sim.drain();
    sim.call.handle_agent_released();
    assert_eq!(
        sim.drain(),
        vec![
            Output::Sip(SipRequest::ReleaseAgent),
            Output::Acd(AcdRequest::CallEnded)
        ]
    );
    sim.queue("billing", None);
    assert!(matches!(sim.call.phase(), Phase::Queued { queue, .. } if queue == "billing"));
    sim.offer("carol");
    sim.answer();
    assert!(sim
        .drain()
        .contains(&Output::Acd(AcdRequest::OfferAnswered {
            agent: "carol".into()
        })));
    // carol transfers to user dave, whom the engine rings itself.
    sim.drain();
    let t = switchboard_callflow::Transfer {
        origin: switchboard_events::TransferOrigin::Refer,
        dest: Ok(switchboard_callflow::Destination::User("dave".into())),
        target: "dave".into(),
        by: None,
        fallback: None,
    };
    assert_eq!(
        sim.call.handle_transfer(sim.now, t, false),
        Ok(switchboard_callflow::TransferDecision::Dial {
            to: switchboard_events::TransferTo::User,
            target: "dave".into()
        })
    );
    let out = sim.drain();
    assert!(out.contains(&Output::Sip(SipRequest::ReleaseAgent)));
    assert!(out.contains(&Output::Media(MediaCommand::PlayMoh)));
    sim.advance(Duration::from_secs(5));
    let answered = sim.call.handle_transfer_answered(sim.now).unwrap();
    assert_eq!(
        (answered.queue.as_str(), answered.agent.as_str()),
        ("billing", "dave")
    );
    assert_eq!(answered.fallback.as_deref(), Some("billing"));
    sim.drain();
    sim.advance(Duration::from_secs(20));
    let end = sim
        .call
        .handle_end(sim.now, EndReason::AgentHangup)
        .unwrap();
    assert_eq!(end.disposition, Disposition::Answered);
    assert_eq!(end.talk_s, Some(20.0));
    assert_eq!(end.agent, "dave");
    assert!(
        sim.drain().is_empty(),
        "a directly rung user is no ACD call to end"
    );
}

#[test]
fn an_attended_transfer_hands_the_agent_leg_over() {
    let mut sim = Sim::new();
    sim.queue("support", None);
    sim.offer("alice");
    sim.answer();
    assert_eq!(
        sim.call.handle_handed_over(),
        Some(("support".into(), "alice".into()))
    );
    let end = sim
        .call
        .handle_end(sim.now, EndReason::TransferCompleted)
        .unwrap();
    assert_eq!(end.disposition, Disposition::Transferred);
    assert_eq!(end.agent, "alice");
}

#[test]
fn supervisors_join_and_leave_bridged_calls_only() {
    let mut sim = Sim::new();
    sim.queue("support", None);
    assert!(!sim
        .call
        .handle_supervisor_join("sam", SupervisionMode::Listen));
    sim.offer("alice");
    sim.answer();
    sim.drain();
    assert!(sim
        .call
        .handle_supervisor_join("sam", SupervisionMode::Whisper));
    assert!(!sim
        .call
        .handle_supervisor_join("sue", SupervisionMode::Barge));
    assert_eq!(sim.call.supervisor(), Some("sam"));
    let join = sim.drain();
    assert!(
        matches!(&join[..], [Output::Event(l)] if matches!(l.event, Event::SupervisorJoin { .. }) && l.agent == "alice")
    );
    assert!(sim
        .call
        .handle_supervisor_leave(SupervisionEnd::SupervisorHangup));
    assert!(!sim.call.handle_supervisor_leave(SupervisionEnd::CallEnded));
    assert_eq!(sim.drain().len(), 1);
    assert!(sim
        .call
        .handle_supervisor_join("sue", SupervisionMode::Barge));
}

#[test]
fn collect_timeout_waits_for_the_prompts_to_end() {
    let mut sim = Sim::new();
    sim.playing = true;
    sim.call.handle_ivr_collect(sim.now, Duration::from_secs(3));
    sim.advance(Duration::from_secs(10));
    assert!(sim.drain().is_empty(), "prompts still play");
    assert_eq!(
        sim.call.poll_timeout(),
        None,
        "a held timer does not wake the driver"
    );
    sim.playing = false;
    sim.call.handle_prompt_finished(sim.now);
    assert_eq!(sim.drain(), vec![Output::Ivr(IvrInput::Timeout)]);
    // Without digit collection a finished prompt moves the dialplan on.
    sim.call.handle_prompt_finished(sim.now);
    assert_eq!(sim.drain(), vec![Output::Ivr(IvrInput::PromptFinished)]);
}

#[test]
fn ring_all_forks_and_the_first_answer_wins() {
    let mut sim = Sim::new();
    let join = QueueJoin {
        queue: "sales".into(),
        ring_all: true,
        ..QueueJoin::default()
    };
    sim.call.handle_queue_join(sim.now, join);
    assert!(matches!(sim.offer("a1"), OfferDecision::Fork { .. }));
    assert!(matches!(sim.offer("a2"), OfferDecision::Fork { .. }));
    assert!(matches!(sim.offer("a3"), OfferDecision::Fork { .. }));
    sim.call.handle_fork_failed("a1", 480);
    sim.call.handle_offer_withdrawn("a3");
    let out = sim.drain();
    assert!(out.contains(&Output::Acd(AcdRequest::OfferFailed {
        agent: "a1".into(),
        failure: OfferFailure::Unreachable
    })));
    assert!(out.contains(&Output::Sip(SipRequest::CancelFork { agent: "a3".into() })));
    assert_eq!(
        sim.call.handle_fork_answered("a3"),
        None,
        "a withdrawn leg is released"
    );
    assert_eq!(sim.drain(), vec![Output::Sip(SipRequest::ReleaseAgent)]);
    assert_eq!(sim.call.handle_fork_answered("a2"), Some("sales".into()));
    assert!(matches!(sim.answer(), AnswerDecision::Connect { agent, .. } if agent == "a2"));
    assert!(!sim.call.is_forked_to("a2"));
}

#[test]
fn the_same_inputs_give_the_same_intents() {
    let run = || {
        let mut sim = Sim::new();
        collect_then_queue(&mut sim);
        sim.offer("alice");
        sim.advance(Duration::from_secs(15));
        sim.call.handle_agent_failed(sim.now, 408);
        sim.offer("bob");
        sim.answer();
        sim.advance(Duration::from_secs(90));
        sim.call.handle_end(sim.now, EndReason::CallerHangup);
        sim.drain();
        sim.outputs
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b);
    assert!(a.iter().any(|(_, o)| *o
        == Output::Acd(AcdRequest::OfferFailed {
            agent: "alice".into(),
            failure: OfferFailure::NoAnswer
        })));
}

#[test]
fn a_waiting_caller_moved_to_another_queue_abandons_there() {
    let mut sim = Sim::new();
    sim.queue("support", Some(60));
    sim.advance(Duration::from_secs(10));
    sim.call.handle_queue_moved("billing".into());
    assert!(matches!(sim.call.phase(), Phase::Queued { queue, .. } if queue == "billing"));
    assert_eq!(
        sim.call.timer(Timer::MaxWait),
        Some(sim.t0 + Duration::from_secs(60)),
        "the dialplan's max_wait still counts from the first join"
    );
    let end = sim
        .call
        .handle_end(sim.now, EndReason::CallerHangup)
        .unwrap();
    assert_eq!(
        (end.disposition, end.queue.as_str()),
        (Disposition::Abandoned, "billing")
    );
}

#[test]
fn an_api_hangup_ends_a_live_call_once_and_not_a_handed_over_one() {
    let mut sim = Sim::new();
    sim.queue("support", None);
    assert!(sim.call.handle_api_hangup());
    assert_eq!(sim.drain(), vec![Output::HangUp(EndReason::ApiHangup)]);
    let end = sim.call.handle_end(sim.now, EndReason::ApiHangup).unwrap();
    assert_eq!(end.disposition, Disposition::Abandoned);
    assert!(!sim.call.handle_api_hangup(), "an ended call refuses");

    let mut sim = Sim::new();
    sim.queue("support", None);
    sim.offer("alice");
    sim.answer();
    sim.call.handle_handed_over();
    assert!(
        !sim.call.handle_api_hangup(),
        "the agent leg went to another call"
    );
}

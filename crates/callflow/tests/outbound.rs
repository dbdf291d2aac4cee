//! Calls the engine places itself, driven on a simulated clock: a scripted driver plays
//! the phones and trunks (answer, busy, no answer), feeds the call its inputs and records
//! every intent with the simulated second it came out at.

use std::time::{Duration, Instant};

use switchboard_callflow::{
    AcdRequest, Call, Dial, DialFailure, Logged, Outbound, Output, Phase, Purpose, SipRequest,
};
use switchboard_events::{Disposition, EndReason, Event};

/// What a simulated far end does when dialled.
#[derive(Clone, Copy, Debug)]
enum Far {
    /// Answers after this many seconds.
    Answers(u64),
    /// Fails with this status after this many seconds.
    Fails(u16, u64),
    /// Rings forever.
    Rings,
}

struct Sim {
    t0: Instant,
    now: Instant,
    call: Call,
    outputs: Vec<(f64, Output)>,
    /// The ending, once the call hung up.
    end: Option<switchboard_callflow::Ending>,
}

impl Sim {
    fn secs(&self) -> f64 {
        self.now.duration_since(self.t0).as_secs_f64()
    }

    /// Places `call`, and plays `script` for its legs in order; talks `talk` seconds once
    /// bridged, then `hangs_up` ends it.
    fn run(call: Outbound, script: &[Far], talk: u64, hangs_up: EndReason) -> Sim {
        let t0 = switchboard_test_support::epoch();
        let mut sim = Sim {
            t0,
            now: t0,
            call: Call::outbound(t0, call),
            outputs: Vec::new(),
            end: None,
        };
        let mut legs = script.iter();
        loop {
            let dialled = sim.drain();
            if sim.end.is_some() {
                return sim;
            }
            if dialled {
                let far = legs.next().copied().unwrap_or(Far::Rings);
                let at = match far {
                    Far::Answers(s) | Far::Fails(_, s) => Some(sim.now + Duration::from_secs(s)),
                    Far::Rings => None,
                };
                // The flow's ring timeout or the far end, whichever comes first.
                let timeout = sim.call.poll_timeout();
                match (at, timeout) {
                    (Some(at), t) if t.is_none_or(|t| at < t) => {
                        sim.now = at;
                        match far {
                            Far::Answers(_) => sim.call.handle_dial_answered(sim.now),
                            Far::Fails(st, _) => sim
                                .call
                                .handle_dial_failed(sim.now, DialFailure::Status(st)),
                            Far::Rings => unreachable!(),
                        }
                    }
                    (_, Some(t)) => {
                        sim.now = t;
                        sim.call.handle_timeout(sim.now, false);
                    }
                    (_, None) => panic!("a ringing leg without a timer"),
                }
                continue;
            }
            // Nothing to dial: bridged (or handed to the dialplan). Talk, then hang up.
            sim.now += Duration::from_secs(talk);
            sim.end = sim.call.handle_end(sim.now, hangs_up);
            sim.drain();
            return sim;
        }
    }

    /// Drains the intents; true when a leg is to be dialled. A `HangUp` ends the call.
    fn drain(&mut self) -> bool {
        let mut dial = false;
        while let Some(o) = self.call.poll_output() {
            match &o {
                Output::Dial(_) => dial = true,
                Output::HangUp(reason) => {
                    let reason = *reason;
                    self.outputs.push((self.secs(), o));
                    self.end = self.call.handle_end(self.now, reason);
                    continue;
                }
                _ => {}
            }
            self.outputs.push((self.secs(), o));
        }
        dial
    }

    fn dials(&self) -> Vec<&Dial> {
        self.outputs
            .iter()
            .filter_map(|(_, o)| match o {
                Output::Dial(d) => Some(d),
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

    fn sip(&self) -> Vec<&SipRequest> {
        self.outputs
            .iter()
            .filter_map(|(_, o)| match o {
                Output::Sip(r) => Some(r),
                _ => None,
            })
            .collect()
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

    fn end(&self) -> &switchboard_callflow::Ending {
        self.end.as_ref().expect("the call ended")
    }
}

fn callback(agent_first: bool) -> Outbound {
    let agent = Dial::Agent("1001".into());
    let customer = Dial::Number("+74951112233".into());
    Outbound {
        purpose: Purpose::Callback {
            queue: "sales".into(),
            agent: "1001".into(),
        },
        legs: if agent_first {
            vec![agent, customer]
        } else {
            vec![customer, agent]
        },
        ring_timeout: Duration::from_secs(30),
    }
}

fn agent_call() -> Outbound {
    Outbound {
        purpose: Purpose::AgentCall {
            agent: "1001".into(),
        },
        legs: vec![Dial::Number("+74951234567".into())],
        ring_timeout: Duration::from_secs(45),
    }
}

#[test]
fn a_callback_rings_the_agent_then_the_customer_and_bridges_them() {
    let sim = Sim::run(
        callback(true),
        &[Far::Answers(3), Far::Answers(7)],
        120,
        EndReason::CustomerHangup,
    );
    assert_eq!(
        sim.dials(),
        [
            &Dial::Agent("1001".into()),
            &Dial::Number("+74951112233".into())
        ]
    );
    // The customer is dialled only once the agent answered.
    assert_eq!(sim.outputs[1].0, 3.0, "{:?}", sim.outputs);
    assert_eq!(
        sim.acd(),
        [
            &AcdRequest::CallbackResult { connected: true },
            &AcdRequest::CallEnded
        ]
    );
    let end = sim.end();
    assert_eq!(end.disposition, Disposition::Callback);
    assert_eq!(end.reason, EndReason::CustomerHangup);
    assert_eq!(end.talk_s, Some(120.0));
    assert_eq!(end.duration_s, 130.0);
    assert_eq!((end.queue.as_str(), end.agent.as_str()), ("sales", "1001"));
    let kinds: Vec<_> = sim.events().iter().map(|l| l.event.kind()).collect();
    assert_eq!(kinds, ["call.bridge", "call.connected"]);
    assert_eq!(sim.events()[0].event, Event::CallBridge { wait_s: 0.0 });
    assert!(sim.call.dial_failure().is_none());
}

#[test]
fn a_callback_whose_customer_does_not_answer_fails_after_the_ring_timeout() {
    let sim = Sim::run(
        callback(true),
        &[Far::Answers(2), Far::Rings],
        0,
        EndReason::CustomerHangup,
    );
    assert_eq!(sim.call.dial_failure(), Some(&DialFailure::RingTimeout));
    assert!(sim.sip().contains(&&SipRequest::CancelDial));
    let end = sim.end();
    assert_eq!(end.disposition, Disposition::CallbackFailed);
    assert_eq!(end.reason, EndReason::CallbackLegFailed);
    assert_eq!(
        end.duration_s, 32.0,
        "2 s for the agent, 30 s ringing the customer"
    );
    assert_eq!(end.talk_s, None);
    // The ACD retries the entry later; no wrap-up for an agent who talked to nobody.
    assert_eq!(
        sim.acd(),
        [&AcdRequest::CallbackResult { connected: false }]
    );
    assert!(sim.events().is_empty());
}

#[test]
fn a_busy_customer_or_an_agent_who_refuses_fails_the_callback_at_once() {
    let busy = Sim::run(
        callback(true),
        &[Far::Answers(2), Far::Fails(486, 1)],
        0,
        EndReason::CustomerHangup,
    );
    assert_eq!(busy.call.dial_failure(), Some(&DialFailure::Status(486)));
    assert_eq!(busy.end().disposition, Disposition::CallbackFailed);
    assert_eq!(busy.end().duration_s, 3.0);
    assert_eq!(busy.dials().len(), 2);
    // The agent declines: the customer is never dialled.
    let refused = Sim::run(
        callback(true),
        &[Far::Fails(603, 4)],
        0,
        EndReason::CustomerHangup,
    );
    assert_eq!(refused.dials(), [&Dial::Agent("1001".into())]);
    assert_eq!(
        refused.call.dial_failure().and_then(|f| f.status()),
        Some(603)
    );
    assert_eq!(refused.end().disposition, Disposition::CallbackFailed);
    assert_eq!(
        refused.acd(),
        [&AcdRequest::CallbackResult { connected: false }]
    );
}

#[test]
fn a_customer_first_callback_dials_the_agent_second() {
    let sim = Sim::run(
        callback(false),
        &[Far::Answers(5), Far::Answers(1)],
        10,
        EndReason::AgentHangup,
    );
    assert_eq!(sim.dials()[0], &Dial::Number("+74951112233".into()));
    assert_eq!(sim.dials()[1], &Dial::Agent("1001".into()));
    assert_eq!(sim.end().disposition, Disposition::Callback);
    assert_eq!(sim.end().talk_s, Some(10.0));
}

#[test]
fn an_agents_call_is_answered_when_the_far_end_answers() {
    let sim = Sim::run(agent_call(), &[Far::Answers(6)], 42, EndReason::AgentHangup);
    assert_eq!(sim.sip(), [&SipRequest::AnswerOriginator]);
    assert!(
        sim.acd().is_empty(),
        "the engagement, not the ACD's call, keeps the agent busy"
    );
    let end = sim.end();
    assert_eq!(end.disposition, Disposition::Outbound);
    assert_eq!(end.talk_s, Some(42.0));
    assert_eq!((end.queue.as_str(), end.agent.as_str()), ("", "1001"));
    assert_eq!(sim.events()[0].event, Event::CallBridge { wait_s: 6.0 });
    assert!(matches!(sim.call.phase(), Phase::Ended));
}

#[test]
fn an_agents_call_that_rings_too_long_is_refused_with_480() {
    let sim = Sim::run(agent_call(), &[Far::Rings], 0, EndReason::AgentHangup);
    assert_eq!(
        sim.sip(),
        [
            &SipRequest::CancelDial,
            &SipRequest::RejectOriginator { status: 480 }
        ]
    );
    let end = sim.end();
    assert_eq!(end.disposition, Disposition::OutboundFailed);
    // The phone hears 480; the far end did not answer (the server refused nothing).
    assert_eq!(end.reason, EndReason::NotAnswered);
    assert_eq!(end.duration_s, 45.0);
    assert_eq!(
        sim.call.dial_failure().map(DialFailure::detail),
        Some("ring_timeout".into())
    );
}

#[test]
fn an_agents_call_hears_the_far_ends_failure_or_a_policy_refusal() {
    for (st, heard) in [(486, 486), (404, 404), (407, 502), (503, 503)] {
        let sim = Sim::run(
            agent_call(),
            &[Far::Fails(st, 1)],
            0,
            EndReason::AgentHangup,
        );
        assert_eq!(
            sim.sip(),
            [&SipRequest::RejectOriginator { status: heard }],
            "{st}"
        );
        assert_eq!(sim.end().disposition, Disposition::OutboundFailed);
    }
    // The dial permissions refuse the number before anything is dialled.
    let t0 = switchboard_test_support::epoch();
    let mut call = Call::outbound(t0, agent_call());
    assert!(matches!(call.poll_output(), Some(Output::Dial(_))));
    call.handle_dial_failed(
        t0,
        DialFailure::Refused {
            status: 403,
            why: "dial permissions: denied_pattern".into(),
        },
    );
    assert_eq!(
        call.poll_output(),
        Some(Output::Sip(SipRequest::RejectOriginator { status: 403 }))
    );
    assert_eq!(call.poll_output(), Some(Output::HangUp(EndReason::Refused)));
    let end = call.handle_end(t0, EndReason::Refused).expect("ends");
    assert_eq!(end.disposition, Disposition::Refused);
    assert_eq!(call.poll_timeout(), None, "no ring timer left");
    // The agent hangs up while it rings: nothing to answer, outbound_failed.
    let mut call = Call::outbound(t0, agent_call());
    call.handle_dial_failed(t0 + Duration::from_secs(3), DialFailure::Aborted);
    while let Some(o) = call.poll_output() {
        assert!(
            !matches!(o, Output::Sip(SipRequest::RejectOriginator { .. })),
            "{o:?}"
        );
    }
    let end = call.handle_end(t0 + Duration::from_secs(3), EndReason::CallerCancelled);
    assert_eq!(
        end.map(|e| e.disposition),
        Some(Disposition::OutboundFailed)
    );
}

#[test]
fn a_campaign_call_answered_goes_to_the_dialplan_and_ends_like_an_inbound_call() {
    let t0 = switchboard_test_support::epoch();
    let o = Outbound {
        purpose: Purpose::Campaign {
            campaign: "notify".into(),
        },
        legs: vec![Dial::Number("+74951112233".into())],
        ring_timeout: Duration::from_secs(25),
    };
    let mut unanswered = Call::outbound(t0, o.clone());
    unanswered.handle_dial_failed(t0, DialFailure::Status(486));
    let end = unanswered
        .handle_end(t0, EndReason::NotAnswered)
        .expect("ends");
    assert_eq!(end.disposition, Disposition::NotAnswered);
    let mut answered = Call::outbound(t0, o);
    answered.handle_dial_answered(t0 + Duration::from_secs(4));
    assert_eq!(answered.phase(), &Phase::Ivr);
    assert_eq!(answered.poll_timeout(), None);
    let end = answered
        .handle_end(t0 + Duration::from_secs(30), EndReason::CallerHangup)
        .expect("ends");
    assert_eq!(end.disposition, Disposition::Ivr, "the dialplan ran it");
}

#[test]
fn the_same_script_gives_the_same_intents() {
    let run = || {
        Sim::run(
            callback(true),
            &[Far::Answers(3), Far::Fails(486, 2)],
            0,
            EndReason::CustomerHangup,
        )
        .outputs
    };
    let first = run();
    assert!(!first.is_empty());
    assert_eq!(first, run());
    let run = || Sim::run(agent_call(), &[Far::Answers(9)], 17, EndReason::AgentHangup).outputs;
    assert_eq!(run(), run());
}

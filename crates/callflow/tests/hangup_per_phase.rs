//! What a hang-up means in each phase (`hangup.rs`): a table of phase × side × how the
//! leg ended, each row a call driven into that phase on a simulated clock and then hung
//! up; the row checks the `end_reason`, the disposition and whether the ACD hears the
//! call ended (its agent wraps up), plus the phase's own consequences (a transfer target
//! cancelled, a supervisor leaving).

use std::time::{Duration, Instant};

use switchboard_callflow::{
    AcdRequest, Call, Destination, Dial, Hangup, LegEnd, Outbound, Output, Phase, Purpose,
    QueueJoin, SipRequest, Transfer,
};
use switchboard_events::{
    Disposition, EndReason, Event, Party, SupervisionEnd, SupervisionMode, TransferOrigin,
};

/// The phases a row starts from.
#[derive(Clone, Copy, Debug)]
enum At {
    Ivr,
    Queued,
    Ringing,
    Bridged,
    Supervised,
    Transferring,
    CallbackLeaving,
    HandedOver,
    Survey,
    /// Placed calls, answered.
    Callback,
    AgentCall,
    Campaign,
}

fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

fn join(queue: &str) -> QueueJoin {
    QueueJoin {
        queue: queue.into(),
        max_wait: None,
        exit_key: None,
        callback_key: Some('9'),
        ring_all: false,
        join_prompt: None,
    }
}

/// A call driven into `at` from `t0`; its outputs so far are drained.
fn call_at(t0: Instant, at: At) -> Call {
    let placed = |purpose, legs: Vec<Dial>| {
        let n = legs.len();
        let mut c = Call::outbound(
            t0,
            Outbound {
                purpose,
                legs,
                ring_timeout: s(30),
            },
        );
        for _ in 0..n {
            c.handle_dial_answered(t0 + s(5));
        }
        c
    };
    let mut c = match at {
        At::Callback => placed(
            Purpose::Callback {
                queue: "support".into(),
                agent: "1001".into(),
            },
            vec![
                Dial::Agent("1001".into()),
                Dial::Number("+74951234567".into()),
            ],
        ),
        At::AgentCall => placed(
            Purpose::AgentCall {
                agent: "1001".into(),
            },
            vec![Dial::Number("+74951234567".into())],
        ),
        At::Campaign => placed(
            Purpose::Campaign {
                campaign: "spring".into(),
            },
            vec![Dial::Number("+74951234567".into())],
        ),
        _ => Call::new(t0),
    };
    let queued = !matches!(
        at,
        At::Ivr | At::Transferring | At::Callback | At::AgentCall | At::Campaign
    );
    if queued {
        c.handle_queue_join(t0 + s(5), join("support"));
    }
    let ringing = queued && !matches!(at, At::Queued | At::CallbackLeaving);
    if ringing {
        c.handle_offer("1001".into());
        c.handle_ringing("1001".into());
    }
    if ringing && !matches!(at, At::Ringing) {
        c.handle_agent_connected(t0 + s(20));
    }
    match at {
        At::Supervised => {
            assert!(c.handle_supervisor_join("boss", SupervisionMode::Listen));
        }
        At::HandedOver => {
            assert!(c.handle_handed_over().is_some());
        }
        At::Survey => {
            assert_eq!(
                c.handle_agent_left(t0 + s(50), true),
                Some("support".into())
            );
        }
        At::CallbackLeaving => {
            let route = c.handle_digit(t0 + s(10), '9', switchboard_events::DtmfVia::Rfc4733, true);
            assert_eq!(route, switchboard_callflow::DigitRoute::Callback);
            c.handle_callback(true);
        }
        At::Transferring => {
            let t = Transfer {
                origin: TransferOrigin::Dialplan,
                dest: Ok(Destination::User("1002".into())),
                target: "1002".into(),
                by: None,
                fallback: Some("support".into()),
            };
            c.handle_transfer(t0 + s(5), t, false).expect("transfer");
        }
        _ => {}
    }
    while c.poll_output().is_some() {}
    c
}

/// Where each starting point must be before the hang-up.
fn phase_ok(at: At, p: &Phase) -> bool {
    match at {
        At::Ivr | At::Survey | At::Campaign => p == &Phase::Ivr,
        At::Queued => matches!(p, Phase::Queued { .. }),
        At::Ringing => matches!(p, Phase::Ringing { .. }),
        At::Bridged | At::Supervised | At::Callback | At::AgentCall => {
            matches!(p, Phase::Bridged { .. })
        }
        At::Transferring => matches!(p, Phase::Transferring { .. }),
        At::CallbackLeaving => matches!(p, Phase::CallbackLeaving { .. }),
        At::HandedOver => matches!(p, Phase::HandedOver { .. }),
    }
}

fn bye(party: Party) -> Hangup {
    Hangup::Leg {
        party,
        how: LegEnd::Bye,
    }
}

#[test]
fn every_phase_and_side_of_a_hang_up_gives_its_end_reason_disposition_and_acd_end() {
    use Disposition as D;
    use EndReason as R;
    use Party::{Agent, Caller};
    // (starting point, who hung up, end_reason, disposition, the ACD hears CallEnded)
    let table: Vec<(At, Hangup, R, D, bool)> = vec![
        (At::Ivr, bye(Caller), R::CallerHangup, D::Ivr, false),
        (At::Queued, bye(Caller), R::CallerHangup, D::Abandoned, true),
        (
            At::Ringing,
            bye(Caller),
            R::CallerHangup,
            D::Abandoned,
            true,
        ),
        (At::Bridged, bye(Caller), R::CallerHangup, D::Answered, true),
        (At::Bridged, bye(Agent), R::AgentHangup, D::Answered, true),
        (
            At::Supervised,
            bye(Caller),
            R::CallerHangup,
            D::Answered,
            true,
        ),
        (
            At::Supervised,
            bye(Agent),
            R::AgentHangup,
            D::Answered,
            true,
        ),
        (
            At::Transferring,
            bye(Caller),
            R::CallerHangup,
            D::Abandoned,
            false,
        ),
        (
            At::CallbackLeaving,
            bye(Caller),
            R::CallerHangup,
            D::Callback,
            false,
        ),
        (
            At::HandedOver,
            bye(Caller),
            R::TransferCompleted,
            D::Transferred,
            false,
        ),
        (
            At::HandedOver,
            bye(Agent),
            R::TransferCompleted,
            D::Transferred,
            false,
        ),
        // Post-call survey: the agent left already; the caller hangs up in the survey.
        (At::Survey, bye(Caller), R::CallerHangup, D::Answered, false),
        // Placed calls: the far end is the customer.
        (
            At::Callback,
            bye(Caller),
            R::CustomerHangup,
            D::Callback,
            true,
        ),
        (At::Callback, bye(Agent), R::AgentHangup, D::Callback, true),
        (
            At::AgentCall,
            bye(Caller),
            R::CustomerHangup,
            D::Outbound,
            false,
        ),
        (
            At::AgentCall,
            bye(Agent),
            R::AgentHangup,
            D::Outbound,
            false,
        ),
        // An answered campaign call's callee is the caller.
        (At::Campaign, bye(Caller), R::CallerHangup, D::Ivr, false),
        // How the leg ended, on either side.
        (
            At::Ivr,
            Hangup::Leg {
                party: Caller,
                how: LegEnd::Cancelled,
            },
            R::CallerCancelled,
            D::Ivr,
            false,
        ),
        (
            At::Bridged,
            Hangup::Leg {
                party: Caller,
                how: LegEnd::Timeout,
            },
            R::CallerTimeout,
            D::Answered,
            true,
        ),
        (
            At::Bridged,
            Hangup::Leg {
                party: Agent,
                how: LegEnd::TransportError,
            },
            R::AgentTransportError,
            D::Answered,
            true,
        ),
        (
            At::Bridged,
            Hangup::Leg {
                party: Agent,
                how: LegEnd::SessionExpired,
            },
            R::SessionExpired,
            D::Answered,
            true,
        ),
        (
            At::Ringing,
            Hangup::Leg {
                party: Agent,
                how: LegEnd::Rejected,
            },
            R::AgentRejected,
            D::Abandoned,
            true,
        ),
        // The server's own reasons pass through.
        (
            At::Bridged,
            Hangup::Local(R::Shutdown),
            R::Shutdown,
            D::Answered,
            true,
        ),
    ];
    let t0 = switchboard_test_support::epoch();
    for (at, hangup, reason, disposition, acd_told) in table {
        let row = format!("{at:?} {hangup:?}");
        let mut call = call_at(t0, at);
        assert!(phase_ok(at, call.phase()), "{row}: in {:?}", call.phase());
        let supervised = call.supervisor().is_some();
        assert_eq!(call.hangup_reason(hangup), reason, "{row}");
        let end = call
            .handle_hangup(t0 + s(60), hangup)
            .unwrap_or_else(|| panic!("{row}: ended"));
        assert_eq!(end.reason, reason, "{row}");
        assert_eq!(end.disposition, disposition, "{row}");
        let outs: Vec<Output> = std::iter::from_fn(|| call.poll_output()).collect();
        assert_eq!(
            outs.contains(&Output::Acd(AcdRequest::CallEnded)),
            acd_told,
            "{row}: {outs:?}"
        );
        // A transfer target still ringing is cancelled, and its failure logged first.
        if matches!(at, At::Transferring) {
            assert!(
                outs.contains(&Output::Sip(SipRequest::CancelTransfer)),
                "{row}"
            );
        }
        // Answered calls have their talk time; the rest none.
        assert_eq!(
            end.talk_s.is_some(),
            disposition == D::Answered || matches!(at, At::Callback | At::AgentCall),
            "{row}: {end:?}"
        );
        // A second end changes nothing.
        assert_eq!(call.handle_hangup(t0 + s(61), hangup), None, "{row}");
        assert_eq!(call.phase(), &Phase::Ended);
        // A supervisor leaves with the call (the driver stops its mixer).
        let left = outs.iter().any(|o| {
            matches!(o, Output::Event(l) if l.event == Event::SupervisorLeave {
                supervisor: "boss".into(),
                reason: SupervisionEnd::CallEnded,
            })
        });
        assert_eq!(left, supervised, "{row}: {outs:?}");
        assert_eq!(call.supervisor(), None, "{row}");
    }
}

#[test]
fn a_leg_end_seen_as_another_party_keeps_how_it_ended() {
    let h = Hangup::Leg {
        party: Party::Agent,
        how: LegEnd::Timeout,
    };
    assert_eq!(
        h.as_party(Party::Caller),
        Hangup::Leg {
            party: Party::Caller,
            how: LegEnd::Timeout
        }
    );
    let local = Hangup::Local(EndReason::LocalHangup);
    assert_eq!(local.as_party(Party::Caller), local);
}

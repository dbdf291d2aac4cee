use super::*;
use serde_json::json;

pub(super) fn samples() -> Vec<Event> {
    let mut end = CallEnd::new(EndReason::CallerHangup, Disposition::Answered);
    end.talk_s = Some(3.5);
    end.caller_rtp = Some(RtpStats {
        received: Some(10),
        lost: Some(-1),
        foreign_dropped: 0,
    });
    end.quality = vec![LegQuality {
        leg: Party::Caller,
        packets: 1500,
        bytes: 258_000,
        lost: 3,
        jitter_ms: 1.25,
        peer_reported_lost: Some(0),
        peer_reported_fraction_lost: Some(0.0),
        peer_reported_jitter_ms: Some(0.5),
        rtt_ms: None,
        srtp: false,
        srtp_rejected: 0,
        decode_late: 1,
        decode_concealed: 2,
    }];
    vec![
        Event::SystemStart {
            version: "0.1.0".into(),
        },
        Event::SystemStop { drained: true },
        Event::CallStart(CallStart {
            caller: "1001".into(),
            dnis: "100".into(),
            sip_call_id: Some("x@y".into()),
            ..CallStart::default()
        }),
        Event::CallEnd(end),
        Event::CampaignDial {
            campaign: "orders".into(),
            row: 2,
            attempt: 1,
        },
        Event::CampaignResult {
            campaign: "orders".into(),
            row: 2,
            attempt: 1,
            outcome: CampaignOutcome::Busy,
            status: Some(486),
            row_status: CampaignRowStatus::Pending,
            next_at: Some("2026-12-07T10:10:00Z".into()),
        },
        Event::CampaignStateChanged {
            campaign: "orders".into(),
            state: CampaignState::Running,
            by: None,
        },
        Event::SurveyAnswer {
            campaign: "csat".into(),
            row: 0,
            question: "q1".into(),
            answer: "5".into(),
        },
        Event::QueueOffer {},
        Event::QueueWaited {
            waited_s: 1.5,
            outcome: WaitOutcome::Exited,
            exit_reason: Some(QueueExitReason::MaxWait),
            overflow_to: None,
        },
        Event::AgentState {
            state: AgentStateName::Paused,
            pause_reason: Some("rona".into()),
            busy_kind: None,
            call: None,
        },
        Event::SupervisorJoin {
            supervisor: "boss".into(),
            mode: SupervisionMode::Whisper,
        },
        Event::CallbackScheduled {
            number: "+74951234567".into(),
            at: Some("2026-12-07T15:00:00+03:00".into()),
            name: None,
            data: Some(json!({"order": 42})),
            by: "web".into(),
        },
        Event::CallbackDone {
            outcome: CallbackOutcome::Cancelled,
            by: Some("web".into()),
        },
        Event::AgentQueueLogout {},
        Event::AgentRonaUnpaused { after_s: 60 },
        Event::CallDisposition {
            code: "sale".into(),
            notes: "two seats".into(),
            by: "demo-agent-1001".into(),
        },
    ]
}

#[test]
fn every_event_round_trips_through_its_stored_parts() {
    for ev in samples() {
        let back = Event::from_parts(ev.kind(), &ev.data()).unwrap();
        assert_eq!(back, ev);
        let whole = serde_json::to_value(&ev).unwrap();
        assert_eq!(whole["kind"], ev.kind());
    }
}

#[test]
fn wire_names_are_snake_case_words() {
    let end = CallEnd::new(EndReason::CallerHangup, Disposition::Answered);
    assert_eq!(
        Event::CallEnd(end).data(),
        json!({"end_reason": "caller_hangup", "disposition": "answered"})
    );
    for r in EndReason::ALL {
        let s = serde_json::to_value(r).unwrap();
        assert_eq!(s, r.as_str());
        assert!(r
            .as_str()
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_'));
    }
    for s in AgentStateName::ALL {
        assert!(s
            .as_str()
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_'));
    }
    assert_eq!(Event::QueueOffer {}.data(), json!({}));
}

#[test]
fn unknown_kinds_and_bad_fields_are_errors_not_panics() {
    assert!(Event::from_parts("call.teleport", &json!({})).is_err());
    assert!(Event::from_parts("call.end", &json!({"end_reason": "Bye(A)"})).is_err());
    assert!(Event::from_parts("queue.offer", &json!(null)).is_err());
}

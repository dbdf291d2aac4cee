//! Translations from the cores' types (ACD, registrar, SIP, IVR, mixer) to the event-log
//! schema of `switchboard-events`. This is the one place where a core's variant becomes a
//! word in the log, so renaming a Rust variant cannot change what exports say.

use switchboard_acd::{AgentState, ExitReason, Outcome};
use switchboard_events as ev;

/// A queue exit: the typed reason, the dialplan target of `max_wait`, the key of `exit_key`.
pub(crate) fn queue_exit(reason: &ExitReason) -> ev::Event {
    let (r, target, key) = match reason {
        // A queue's own `max_wait` (config) has no dialplan target.
        ExitReason::MaxWait { target } => (
            ev::QueueExitReason::MaxWait,
            (!target.is_empty()).then(|| target.clone()),
            None,
        ),
        ExitReason::ExitKey { key } => (ev::QueueExitReason::ExitKey, None, Some(key.to_string())),
        ExitReason::QueueFull => (ev::QueueExitReason::QueueFull, None, None),
        ExitReason::NoAgents => (ev::QueueExitReason::NoAgents, None, None),
        ExitReason::CallbackFailed => (ev::QueueExitReason::CallbackFailed, None, None),
    };
    ev::Event::QueueExit {
        reason: r,
        target,
        key,
    }
}

/// The typed word for an exit reason.
pub(crate) fn exit_reason(reason: &ExitReason) -> ev::QueueExitReason {
    match reason {
        ExitReason::MaxWait { .. } => ev::QueueExitReason::MaxWait,
        ExitReason::ExitKey { .. } => ev::QueueExitReason::ExitKey,
        ExitReason::QueueFull => ev::QueueExitReason::QueueFull,
        ExitReason::NoAgents => ev::QueueExitReason::NoAgents,
        ExitReason::CallbackFailed => ev::QueueExitReason::CallbackFailed,
    }
}

/// `queue.waited`; `queue_name` names the overflow target.
pub(crate) fn queue_waited(
    waited_s: f64,
    outcome: &Outcome,
    queue_name: impl Fn(switchboard_acd::QueueId) -> String,
) -> ev::Event {
    let (outcome, exit_reason, overflow_to) = match outcome {
        Outcome::Answered => (ev::WaitOutcome::Answered, None, None),
        Outcome::Abandoned => (ev::WaitOutcome::Abandoned, None, None),
        Outcome::Exited(r) => (ev::WaitOutcome::Exited, Some(self::exit_reason(r)), None),
        Outcome::Overflowed(q) => (ev::WaitOutcome::Overflowed, None, Some(queue_name(*q))),
        Outcome::CallbackRequested => (ev::WaitOutcome::CallbackRequested, None, None),
    };
    ev::Event::QueueWaited {
        waited_s,
        outcome,
        exit_reason,
        overflow_to,
    }
}

/// The state's word (for `agent.state`, the wallboard and the HTTP API).
pub(crate) fn agent_state_name(state: &AgentState) -> ev::AgentStateName {
    match state {
        AgentState::LoggedOut => ev::AgentStateName::LoggedOut,
        AgentState::Available => ev::AgentStateName::Available,
        AgentState::Reserved { .. } => ev::AgentStateName::Reserved,
        AgentState::Ringing { .. } => ev::AgentStateName::Ringing,
        AgentState::Busy { .. } => ev::AgentStateName::Busy,
        AgentState::WrapUp { .. } => ev::AgentStateName::WrapUp,
        AgentState::Paused { .. } => ev::AgentStateName::Paused,
        AgentState::Unreachable => ev::AgentStateName::Unreachable,
    }
}

/// `agent.state`.
pub(crate) fn agent_state(state: &AgentState) -> ev::Event {
    let (pause_reason, busy_kind, call) = match state {
        AgentState::Paused { reason } => (Some(reason.clone()), None, None),
        AgentState::Reserved { call } | AgentState::Ringing { call } => {
            (None, None, Some(call.0.to_string()))
        }
        AgentState::Busy { call, kind } => {
            (None, Some(busy_kind(*kind)), call.map(|c| c.0.to_string()))
        }
        _ => (None, None, None),
    };
    ev::Event::AgentState {
        state: agent_state_name(state),
        pause_reason,
        busy_kind,
        call,
    }
}

fn busy_kind(k: switchboard_acd::BusyKind) -> ev::BusyKind {
    use switchboard_acd::BusyKind as B;
    match k {
        B::Queue => ev::BusyKind::Queue,
        B::Callback => ev::BusyKind::Callback,
        B::Direct => ev::BusyKind::Direct,
        B::Transfer => ev::BusyKind::Transfer,
        B::Outbound => ev::BusyKind::Outbound,
    }
}

/// Why a registration went away.
pub(crate) fn logout_reason(r: switchboard_registrar::LogoutReason) -> ev::LogoutReason {
    use switchboard_registrar::LogoutReason as L;
    match r {
        L::Unregistered => ev::LogoutReason::Unregistered,
        L::Expired => ev::LogoutReason::Expired,
        L::Unreachable => ev::LogoutReason::Unreachable,
    }
}

/// Whose leg ended a call on the SIP side, and how (leg A is the caller, leg B the
/// agent); the call flow decides what it means (`Call::hangup_reason`).
pub(crate) fn hangup(r: &switchboard_sip::b2bua::EndReason) -> switchboard_callflow::Hangup {
    use switchboard_callflow::{Hangup, LegEnd};
    use switchboard_sip::b2bua::{EndReason as E, Leg};
    let party = |leg: &Leg| match leg {
        Leg::A => ev::Party::Caller,
        Leg::B => ev::Party::Agent,
    };
    let (party, how) = match r {
        E::Cancelled => (ev::Party::Caller, LegEnd::Cancelled),
        E::Bye(l) => (party(l), LegEnd::Bye),
        E::Rejected(_) => (ev::Party::Agent, LegEnd::Rejected),
        E::Timeout(l) => (party(l), LegEnd::Timeout),
        E::TransportError(l) => (party(l), LegEnd::TransportError),
        _ => return Hangup::Local(ev::EndReason::LocalHangup),
    };
    Hangup::Leg { party, how }
}

/// A supervisor's mode.
pub(crate) fn supervision_mode(m: switchboard_media::SupervisorMode) -> ev::SupervisionMode {
    use switchboard_media::SupervisorMode as M;
    match m {
        M::Listen => ev::SupervisionMode::Listen,
        M::Whisper => ev::SupervisionMode::Whisper,
        M::Barge => ev::SupervisionMode::Barge,
    }
}

/// What a dialplan transfer named.
pub(crate) fn ivr_transfer_kind(k: switchboard_ivr::ast::TransferKind) -> ev::IvrTransferKind {
    use switchboard_ivr::ast::TransferKind as K;
    match k {
        K::Extension => ev::IvrTransferKind::Extension,
        K::Agent => ev::IvrTransferKind::Agent,
        K::External => ev::IvrTransferKind::External,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paused_agents_carry_the_reason_as_a_field() {
        let e = agent_state(&AgentState::Paused {
            reason: "rona".into(),
        });
        assert_eq!(
            e.data(),
            serde_json::json!({"state": "paused", "pause_reason": "rona"})
        );
    }

    #[test]
    fn exits_are_words_with_their_details_in_fields() {
        let e = queue_exit(&ExitReason::ExitKey { key: '0' });
        assert_eq!(
            e.data(),
            serde_json::json!({"reason": "exit_key", "key": "0"})
        );
    }
}

//! One agent state everywhere: the agent's own calls outside the queues (internal calls,
//! consultations, supervision) reach the ACD actor as `Engaged`/`Released`, held by an
//! [`Engagement`] guard for as long as the call lasts; the actor counts them per agent and
//! the engine hears "busy" on the first and "idle" after the last.

use std::time::Duration;

use switchboard_acd::{AcdError, AgentId, AgentState, BusyKind};
use tokio::sync::mpsc;

use super::{AcdActor, AcdCommand};

/// An agent's non-queue call, held for as long as the call lasts: tells the ACD actor the
/// agent is engaged when made and released when dropped (whatever way the call ends).
pub(crate) struct Engagement {
    acd: mpsc::UnboundedSender<AcdCommand>,
    agent: String,
}

impl Engagement {
    pub(crate) fn start(
        acd: &mpsc::UnboundedSender<AcdCommand>,
        agent: &str,
        kind: BusyKind,
    ) -> Engagement {
        let _ = acd.send(AcdCommand::Engaged {
            agent: agent.to_string(),
            kind,
        });
        Engagement {
            acd: acd.clone(),
            agent: agent.to_string(),
        }
    }
}

impl Engagement {
    /// Engages `agent` unless they are on a call already: None when busy. A user who is
    /// no ACD agent is always free (nothing to track).
    pub(crate) async fn start_if_free(
        acd: &mpsc::UnboundedSender<AcdCommand>,
        agent: &str,
        kind: BusyKind,
    ) -> Option<Engagement> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        acd.send(AcdCommand::EngageIfFree {
            agent: agent.to_string(),
            kind,
            reply,
        })
        .ok()?;
        answer.await.ok()?.then(|| Engagement {
            acd: acd.clone(),
            agent: agent.to_string(),
        })
    }
}

impl Drop for Engagement {
    fn drop(&mut self) {
        let _ = self.acd.send(AcdCommand::Released {
            agent: std::mem::take(&mut self.agent),
        });
    }
}

/// A callback's agent whose call went on in a call task (the agent transferred it): the
/// agent is busy in the ACD under the callback's call, and that call ends when this is
/// dropped (the agent's leg released, or the call over): the agent wraps up, once.
pub(crate) struct CallbackAgent {
    acd: mpsc::UnboundedSender<AcdCommand>,
    call: u64,
    armed: bool,
}

impl CallbackAgent {
    /// The agent of the ACD's callback `call`, released when dropped.
    pub(crate) fn new(acd: &mpsc::UnboundedSender<AcdCommand>, call: u64) -> CallbackAgent {
        CallbackAgent {
            acd: acd.clone(),
            call,
            armed: true,
        }
    }

    /// Gives the hold up without ending the ACD call (the callback's own driver still
    /// ends it).
    pub(crate) fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for CallbackAgent {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.acd.send(AcdCommand::CallEnded { call: self.call });
        }
    }
}

/// What keeps the agent of a call the engine placed busy in the ACD, released when
/// dropped.
pub(crate) enum AgentHold {
    /// An agent's own call: their engagement.
    Engaged(Engagement),
    /// A callback's agent: busy under the callback's ACD call.
    Callback(CallbackAgent),
}

impl AcdActor {
    /// One more non-queue call for `agent`; the first makes them busy for every queue.
    pub(super) fn engage(
        &mut self,
        now: Duration,
        agent: AgentId,
        kind: BusyKind,
    ) -> Result<(), AcdError> {
        let n = self.engaged.entry(agent).or_insert(0);
        *n += 1;
        if *n == 1 {
            self.acd.handle_agent_busy(now, agent, kind)
        } else {
            Ok(())
        }
    }

    /// `engage`, unless `agent` is on a call (ringing, reserved or busy): (free, result).
    pub(super) fn engage_if_free(
        &mut self,
        now: Duration,
        agent: &str,
        kind: BusyKind,
    ) -> (bool, Result<(), AcdError>) {
        let Some(a) = self.dir.agent_id(agent) else {
            return (true, Ok(()));
        };
        let on_a_call = matches!(
            self.acd.agent_state(a),
            Some(
                AgentState::Ringing { .. } | AgentState::Reserved { .. } | AgentState::Busy { .. }
            )
        );
        if on_a_call {
            (false, Ok(()))
        } else {
            (true, self.engage(now, a, kind))
        }
    }

    /// One non-queue call of `agent` ended; after the last the agent is free again.
    pub(super) fn release(&mut self, now: Duration, agent: AgentId) -> Result<(), AcdError> {
        match self.engaged.get_mut(&agent) {
            Some(n) if *n > 1 => {
                *n -= 1;
                Ok(())
            }
            Some(_) => {
                self.engaged.remove(&agent);
                self.acd.handle_agent_idle(now, agent)
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use switchboard_acd::{AgentState, BusyKind};

    use crate::acd_actor::AcdActor;

    /// Two overlapping non-queue calls (say a consultation and a supervision call): the agent
    /// is busy from the first until the last ends, then available again.
    #[test]
    fn an_agent_stays_busy_until_the_last_of_two_overlapping_calls_ends() {
        let (mut actor, _cfg, dir) = AcdActor::for_test("engage");
        let a = actor.dir.agent_id("1001").unwrap();
        let t = Duration::from_secs;
        actor.acd.handle_login(t(1), a).unwrap();
        let state = |actor: &AcdActor| actor.acd.agent_state(a).cloned();
        assert_eq!(state(&actor), Some(AgentState::Available));
        actor.engage(t(2), a, BusyKind::Direct).unwrap();
        actor.engage(t(3), a, BusyKind::Direct).unwrap();
        assert!(matches!(
            state(&actor),
            Some(AgentState::Busy { call: None, .. })
        ));
        actor.release(t(4), a).unwrap();
        assert!(
            matches!(state(&actor), Some(AgentState::Busy { call: None, .. })),
            "one call still up"
        );
        actor.release(t(5), a).unwrap();
        assert_eq!(state(&actor), Some(AgentState::Available));
        // Busy agents are not engaged again by a transfer; free ones are.
        actor.engage(t(5), a, BusyKind::Direct).unwrap();
        assert!(!actor.engage_if_free(t(5), "1001", BusyKind::Transfer).0);
        actor.release(t(5), a).unwrap();
        assert!(actor.engage_if_free(t(5), "1001", BusyKind::Transfer).0);
        assert!(matches!(
            state(&actor),
            Some(AgentState::Busy { call: None, .. })
        ));
        actor.release(t(5), a).unwrap();
        assert!(
            actor
                .engage_if_free(t(5), "no-such-agent", BusyKind::Transfer)
                .0
        );
        // A stray release (no call up) changes nothing.
        actor.release(t(6), a).unwrap();
        assert_eq!(state(&actor), Some(AgentState::Available));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A transferred callback's agent hold ends the callback's ACD call exactly once,
    /// when dropped; a hold given back unused (the REFER refused) ends nothing.
    #[test]
    fn a_callback_hold_ends_the_callbacks_acd_call_once() {
        use super::{AcdCommand, CallbackAgent};
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let hold = CallbackAgent::new(&tx, 42);
        assert!(rx.try_recv().is_err(), "nothing until released");
        drop(hold);
        assert!(matches!(
            rx.try_recv(),
            Ok(AcdCommand::CallEnded { call: 42 })
        ));
        assert!(rx.try_recv().is_err(), "once");
        CallbackAgent::new(&tx, 43).disarm();
        assert!(rx.try_recv().is_err(), "a disarmed hold ends nothing");
    }
}

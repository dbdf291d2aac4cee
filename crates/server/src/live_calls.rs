//! The live-call index: every call task (inbound, or a campaign's or transferred placed
//! call it runs) and every agent's own outbound call (`placed_listing.rs`) registers here
//! under its typed id with a control lane, and the HTTP API reaches calls only through it.
//! The index holds no call state: a call's task owns its phase, queue and agent and
//! answers questions about them ([`CallControl::Describe`]), so there is one owner and no
//! lock held across an await.

use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::http_auth::Role;

/// Our id of a call, as the event log writes it (`call`), typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct LiveCallId(pub(crate) u64);

impl std::fmt::Display for LiveCallId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for LiveCallId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<LiveCallId, Self::Err> {
        s.parse().map(LiveCallId)
    }
}

/// Where a live call is, as the API shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CallPhase {
    /// Answered, waiting for the caller's ACK before anything starts.
    Answering,
    /// An agent's own call: the far end is being dialled (it rings).
    Dialing,
    /// In the dialplan (menus, prompts, lookups).
    Ivr,
    /// Waiting in a queue.
    Queued,
    /// An agent's phone is ringing.
    Ringing,
    /// Talking to an agent.
    Bridged,
    /// Took a callback; hearing the confirmation before the hang-up.
    CallbackLeaving,
    /// Handed to another call by an attended transfer; ending.
    Ending,
}

/// Who placed a live call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Direction {
    /// A caller called us.
    Inbound,
    /// We called out: an agent's own call, a campaign's call (the callee is `caller`).
    Outbound,
}

/// Which fields of a [`CallView`] hold an outside party's number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OutsideNumbers {
    pub(crate) caller: bool,
    pub(crate) dnis: bool,
}

/// A call's own description of itself.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct CallView {
    pub(crate) id: String,
    pub(crate) phase: CallPhase,
    pub(crate) direction: Direction,
    /// Which of `caller` and `dnis` are outside parties' numbers (masked for
    /// supervisors): the caller of an inbound call; for an agent's own call the number
    /// dialled (its `caller` is the agent); both for a placed call its agent transferred.
    #[serde(skip)]
    pub(crate) numbers: OutsideNumbers,
    pub(crate) caller: String,
    pub(crate) dnis: String,
    pub(crate) queue: Option<String>,
    pub(crate) agent: Option<String>,
    /// The call's tenant (client), from the dialplan.
    pub(crate) tenant: Option<String>,
    /// When the call started (RFC 3339, UTC).
    pub(crate) started: String,
    /// Seconds since the call started.
    pub(crate) duration_s: f64,
    /// Seconds waiting since the caller first joined a queue (until an agent answered,
    /// or until now); a supervisor's move to another queue does not restart it.
    pub(crate) wait_s: Option<f64>,
    /// Seconds in the queue the call is in now: since the move, for a call a supervisor
    /// moved; else the same as `wait_s`.
    pub(crate) queue_wait_s: Option<f64>,
    /// Seconds talking to the agent.
    pub(crate) talk_s: Option<f64>,
    /// The supervisor on the call and how, if any.
    pub(crate) supervisor: Option<String>,
}

impl CallView {
    /// The view a token of `role` may see: agents only their own calls (with the caller's
    /// full number: they are talking to that caller), supervisors every call with the
    /// outside party's number masked (the caller's; the number dialled of an agent's own
    /// call), admins everything. `None`: not visible to this principal.
    pub(crate) fn for_principal(mut self, role: Role, agent: Option<&str>) -> Option<CallView> {
        match role {
            Role::Admin => Some(self),
            Role::Supervisor => {
                if self.numbers.caller {
                    self.caller = mask_number(&self.caller);
                }
                if self.numbers.dnis {
                    self.dnis = mask_number(&self.dnis);
                }
                Some(self)
            }
            Role::Agent => (self.agent.is_some() && self.agent.as_deref() == agent).then_some(self),
        }
    }
}

/// A phone number with all but its last four digits replaced by `*` (`+7*******4567`);
/// a leading `+` stays. Numbers of four digits or fewer are fully masked.
pub(crate) fn mask_number(n: &str) -> String {
    let digits = n.chars().filter(char::is_ascii_digit).count();
    let keep_from = if digits > 4 { digits - 4 } else { digits };
    let mut seen = 0;
    n.chars()
        .map(|c| {
            if c.is_ascii_digit() {
                seen += 1;
                if seen > keep_from {
                    c
                } else {
                    '*'
                }
            } else if c == '+' {
                c
            } else {
                '*'
            }
        })
        .collect()
}

/// Why a call refused a control request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ControlRefusal {
    /// The call is not in a phase where this makes sense (words for people).
    Conflict(String),
    /// The target does not exist.
    NotFound(String),
}

/// Where an API transfer sends the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TransferTarget {
    Queue(String),
    /// A configured user: their phone rings (back to the call's queue if not reached).
    Agent(String),
}

/// What the API asks of a live call.
#[derive(Debug)]
pub(crate) enum CallControl {
    Describe(oneshot::Sender<CallView>),
    /// Hang both legs up; `by` is the API token's name.
    Hangup {
        by: String,
        reply: oneshot::Sender<Result<(), ControlRefusal>>,
    },
    /// Blind transfer of a bridged call.
    Transfer {
        to: TransferTarget,
        by: String,
        reply: oneshot::Sender<Result<(), ControlRefusal>>,
    },
}

/// Control requests one call may have waiting; past that the API answers 503.
pub(crate) const CONTROL_LANE: usize = 8;

/// The index of live inbound calls.
#[derive(Default)]
pub(crate) struct LiveCalls {
    calls: dashmap::DashMap<LiveCallId, mpsc::Sender<CallControl>>,
    /// Supervisors the API is calling or has joined to a call, and to which.
    supervising: dashmap::DashMap<String, LiveCallId>,
}

impl LiveCalls {
    /// Registers a call; its task keeps the receiver and drops it when it ends.
    pub(crate) fn register(&self, id: LiveCallId) -> mpsc::Receiver<CallControl> {
        let (tx, rx) = mpsc::channel(CONTROL_LANE);
        self.calls.insert(id, tx);
        rx
    }

    pub(crate) fn remove(&self, id: LiveCallId) {
        self.calls.remove(&id);
    }

    /// Marks `supervisor` as joining `call` over the API; false if already at it.
    pub(crate) fn start_supervising(&self, supervisor: &str, call: LiveCallId) -> bool {
        match self.supervising.entry(supervisor.to_string()) {
            dashmap::mapref::entry::Entry::Occupied(_) => false,
            dashmap::mapref::entry::Entry::Vacant(v) => {
                v.insert(call);
                true
            }
        }
    }

    pub(crate) fn stop_supervising(&self, supervisor: &str) {
        self.supervising.remove(supervisor);
    }

    /// The control lane of one call.
    pub(crate) fn get(&self, id: LiveCallId) -> Option<mpsc::Sender<CallControl>> {
        self.calls.get(&id).map(|r| r.clone())
    }

    /// Every call's id and lane (a snapshot; the map's shard locks are released on return).
    pub(crate) fn all(&self) -> Vec<(LiveCallId, mpsc::Sender<CallControl>)> {
        let mut v: Vec<_> = self
            .calls
            .iter()
            .map(|r| (*r.key(), r.value().clone()))
            .collect();
        v.sort_by_key(|(id, _)| *id);
        v
    }

    /// One call's view; `None` when it ended (or is too busy to answer within `limit`).
    pub(crate) async fn describe(
        lane: &mpsc::Sender<CallControl>,
        limit: Duration,
    ) -> Option<CallView> {
        let (tx, rx) = oneshot::channel();
        lane.try_send(CallControl::Describe(tx)).ok()?;
        tokio::time::timeout(limit, rx).await.ok()?.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_last_four_digits() {
        assert_eq!(mask_number("+74951234567"), "+*******4567");
        assert_eq!(mask_number("1001"), "****");
        assert_eq!(mask_number(""), "");
        assert_eq!(mask_number("anonymous"), "*********");
    }

    fn view(agent: Option<&str>) -> CallView {
        CallView {
            id: "1".into(),
            phase: CallPhase::Bridged,
            direction: Direction::Inbound,
            numbers: OutsideNumbers {
                caller: true,
                dnis: false,
            },
            caller: "+74951234567".into(),
            dnis: "100".into(),
            queue: Some("sales".into()),
            agent: agent.map(str::to_string),
            tenant: None,
            started: String::new(),
            duration_s: 1.0,
            wait_s: None,
            queue_wait_s: None,
            talk_s: None,
            supervisor: None,
        }
    }

    #[test]
    fn roles_see_what_they_may() {
        let admin = view(Some("1001")).for_principal(Role::Admin, None).unwrap();
        assert_eq!(admin.caller, "+74951234567");
        let sup = view(Some("1001"))
            .for_principal(Role::Supervisor, None)
            .unwrap();
        assert_eq!(sup.caller, "+*******4567");
        let own = view(Some("1001"))
            .for_principal(Role::Agent, Some("1001"))
            .unwrap();
        assert_eq!(own.caller, "+74951234567");
        assert!(view(Some("1001"))
            .for_principal(Role::Agent, Some("1002"))
            .is_none());
        assert!(view(None)
            .for_principal(Role::Agent, Some("1002"))
            .is_none());
    }
}

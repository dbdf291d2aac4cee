//! Requests inside a confirmed dialog, decided for the call: an INFO carrying a key
//! (accepted from the caller and routed like any key, refused when it carries none), a
//! re-INVITE (answered when its offer can be answered; a change of hold is logged with how
//! long the hold lasted), NOTIFY, an OPTIONS keepalive and the rest. Calls the engine
//! places (callbacks, agents' own calls) get the same answers as inbound calls. The
//! driver parses the request and the SDP, builds the SDP answer, and sends the status
//! decided here.

use std::time::Instant;

use switchboard_events::{DtmfVia, Event, Party};

use crate::call::Call;
use crate::output::{Logged, Output};
use crate::phase::Phase;
use crate::queue::DigitRoute;

/// A re-INVITE's offer, as the driver read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReOffer {
    /// That party has no media in this call (no agent leg now): nothing to answer with.
    NoMedia,
    /// The offer parsed and the driver can answer it; `held`: it puts the party's audio on
    /// hold (`sendonly`, `inactive` or a `0.0.0.0` address).
    Answerable { held: bool },
    /// The offer parsed but cannot be answered (no common codec, unusable crypto).
    Unanswerable { held: bool },
    /// The body is no SDP we can read.
    Unparsable,
}

/// An in-dialog request from one party of the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InDialog {
    /// An INFO; `digit` is the key its body carries (`application/dtmf-relay` or
    /// `application/dtmf`), `None` when it carries none the driver can read.
    Info { digit: Option<char> },
    /// A re-INVITE (hold, resume, a media change).
    ReInvite(ReOffer),
    /// A NOTIFY (of a REFER's progress).
    Notify,
    /// An OPTIONS inside the dialog: a keepalive (RFC 3261 §11), the dialog is alive.
    Options,
    /// Any other method (REFERs are transfers: `handle_transfer`).
    Other,
}

/// What to answer, and for an INFO key, what it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InDialogAnswer {
    /// The final status to send.
    pub status: u16,
    /// A key the caller pressed: the driver checks a callback key's number when it is
    /// [`DigitRoute::Callback`].
    pub route: Option<DigitRoute>,
}

/// Since when each party has the call on hold.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Holds {
    caller: Option<Instant>,
    agent: Option<Instant>,
}

impl Call {
    /// `party` sent an in-dialog request at `now`. `callback_possible` as for
    /// [`Call::handle_digit`].
    pub fn handle_in_dialog(
        &mut self,
        now: Instant,
        party: Party,
        req: InDialog,
        callback_possible: bool,
    ) -> InDialogAnswer {
        let status = |status| InDialogAnswer {
            status,
            route: None,
        };
        match (req, party) {
            // Only the caller's keys mean something to the call (the agent's phone talks
            // to the agent, not to the dialplan or the queue).
            (InDialog::Info { digit: Some(d) }, Party::Caller) => InDialogAnswer {
                status: 200,
                route: Some(self.handle_digit(now, d, DtmfVia::SipInfo, callback_possible)),
            },
            (InDialog::Info { digit: None }, Party::Caller) => status(415),
            (InDialog::Info { .. }, _) => status(501),
            (InDialog::ReInvite(offer), _) => {
                let (answer, held) = match offer {
                    ReOffer::NoMedia => (200, None),
                    ReOffer::Answerable { held } => (200, Some(held)),
                    ReOffer::Unanswerable { held } => (488, Some(held)),
                    ReOffer::Unparsable => (488, None),
                };
                if let Some(held) = held {
                    self.note_hold(now, party, held);
                }
                status(answer)
            }
            (InDialog::Notify | InDialog::Options, _) => status(200),
            (InDialog::Other, _) => status(501),
        }
    }

    /// Logs a change of `party`'s hold (`call.hold`, or `call.resume` with how long it
    /// lasted), filed under the queue and agent of a bridged call.
    fn note_hold(&mut self, now: Instant, party: Party, held: bool) {
        let since = match party {
            Party::Caller => &mut self.holds.caller,
            _ => &mut self.holds.agent,
        };
        let event = match (held, *since) {
            (true, None) => {
                *since = Some(now);
                Event::CallHold { party }
            }
            (false, Some(t)) => {
                *since = None;
                Event::CallResume {
                    party,
                    held_s: now.saturating_duration_since(t).as_secs_f64(),
                }
            }
            _ => return,
        };
        let (queue, agent) = match &self.phase {
            Phase::Bridged { queue, agent, .. } => (queue.clone(), agent.clone()),
            _ => (String::new(), String::new()),
        };
        self.out.push_back(Output::Event(Box::new(Logged {
            event,
            queue,
            agent,
        })));
    }
}

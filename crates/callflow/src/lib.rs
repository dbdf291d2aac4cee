//! The call flow of one call as a value that does no I/O: the phase the call is in (IVR,
//! queued, ringing an agent, bridged, ringing a transfer target, handed over, ended), the
//! timers of those phases (the IVR's digit-collect deadline, the dialplan's queue
//! `max_wait`) kept as data, and the decisions taken when a signal arrives: what an ACD
//! offer, a withdrawn offer, an agent's failure or answer, a key pressed while queued, a
//! finished prompt or an expired timer mean for this call; where a transfer sends the
//! caller and what its ringing target's outcome means (`transfer.rs`); the status of an
//! in-dialog request and the parties' holds (`in_dialog.rs`); what the end of a party's
//! SIP leg means in each phase (`hangup.rs`: the `end_reason`); and how the call ends
//! (disposition, talk time, whether the ACD must be told).
//!
//! Time is an input: every `handle_*` takes `now`, [`Call::poll_timeout`] says when the
//! next timer is due and [`Call::handle_timeout`] fires it. The call never reads a clock,
//! so the simulation in `tests/simulation.rs` walks a whole call through IVR, queue, RONA,
//! re-offer, answer, transfer and hang-up in microseconds. What the call decides comes out
//! of [`Call::poll_output`] as typed intents ([`Output`]): requests to the ACD, SIP
//! commands, media commands, inputs for the IVR interpreter and events for the log. The
//! few decisions whose execution is asynchronous in the server (ringing an agent needs an
//! RTP port first) are returned by the `handle_*` call instead.
//!
//! Calls the engine places itself (callbacks, agents' own calls, campaign calls) are
//! instances of the same `Call`, started with [`Call::outbound`] in [`Phase::Dialing`]
//! (`outbound.rs`); a queue call whose agent hangs up first can go back to the dialplan
//! for a post-call survey (`survey.rs`). Decision record 0042.
//!
//! It is not a call task: it owns no socket, no RTP session, no prompt player, no IVR
//! interpreter and no SIP dialog; it does not know the configuration (the server passes
//! what a decision needs, e.g. whether a queue rings all its agents). Decision record 0034
//! lists what the server's call task still decides itself.

mod call;
mod hangup;
mod in_dialog;
mod outbound;
mod output;
mod phase;
mod queue;
mod survey;
mod timers;
mod transfer;

pub use call::{Call, Ending};
pub use hangup::{Hangup, LegEnd};
pub use in_dialog::{InDialog, InDialogAnswer, ReOffer};
pub use outbound::{Dial, DialFailure, Outbound, Purpose};
pub use output::{AcdRequest, IvrInput, Logged, MediaCommand, Output, SipRequest};
pub use phase::Phase;
pub use queue::{AnswerDecision, DigitRoute, OfferDecision, QueueJoin};
pub use survey::AfterAgent;
pub use timers::Timer;
pub use transfer::{
    Destination, HandedLeg, Transfer, TransferAnswered, TransferDecision, TransferRefusal,
};

/// How the ACD treats an agent leg's final SIP failure status (RONA for anything else).
pub fn offer_failure(status: u16) -> switchboard_acd::OfferFailure {
    use switchboard_acd::OfferFailure;
    match status {
        486 | 600 | 603 => OfferFailure::Rejected,
        480 | 404 | 503 => OfferFailure::Unreachable,
        _ => OfferFailure::NoAnswer,
    }
}

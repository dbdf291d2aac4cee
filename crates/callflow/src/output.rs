//! What the call asks its driver to do.

use switchboard_acd::{ExitReason, OfferFailure};
use switchboard_events::{EndReason, Event};
use switchboard_ivr::interp::QueueOutcome;

/// One intent, drained with [`crate::Call::poll_output`] in the order decided.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Feed this to the call's IVR interpreter (and run what it then asks for).
    Ivr(IvrInput),
    /// Tell the ACD (the call's own ACD call).
    Acd(AcdRequest),
    /// A SIP command for the call's dialog(s).
    Sip(SipRequest),
    /// A command for the caller's prompt player / the bridge.
    Media(MediaCommand),
    /// Append this to the event log (boxed: events are rare and large).
    Event(Box<Logged>),
    /// Hang up every leg of the call and end it for this reason.
    HangUp(EndReason),
    /// Dial this leg of a call the engine places (`outbound.rs`), then report
    /// [`crate::Call::handle_dial_answered`] or [`crate::Call::handle_dial_failed`].
    Dial(crate::outbound::Dial),
}

/// An input for the IVR interpreter, decided by the call.
#[derive(Clone, Debug, PartialEq)]
pub enum IvrInput {
    /// The digit-collect deadline passed with the prompts finished.
    Timeout,
    /// The prompts the dialplan asked for have finished (no digit collection running).
    PromptFinished,
    /// The queue the dialplan put the call in gave it back.
    QueueResult(QueueOutcome),
    /// A key the caller pressed while in the dialplan.
    Digit(char),
}

/// A request to the ACD about this call.
#[derive(Clone, Debug, PartialEq)]
pub enum AcdRequest {
    /// The offer to `agent` failed.
    OfferFailed {
        agent: String,
        failure: OfferFailure,
    },
    /// `agent` answered the offer.
    OfferAnswered { agent: String },
    /// The call leaves its queue.
    Exit(ExitReason),
    /// The call ended (the agent, if any, goes to wrap-up).
    CallEnded,
    /// A key pressed while queued that the call does not handle itself.
    Key(char),
    /// The caller asked to be called back at the number they called from.
    CallbackRequest,
    /// A callback call's legs connected (or did not): the ACD keeps or retries the entry.
    CallbackResult { connected: bool },
}

/// A SIP command for this call.
#[derive(Clone, Debug, PartialEq)]
pub enum SipRequest {
    /// CANCEL the agent leg that rings (and forget its offered media).
    CancelAgent,
    /// CANCEL the ring-all leg ringing `agent`.
    CancelFork { agent: String },
    /// Hang up the agent leg that answered after we had cancelled it.
    ReleaseAgent,
    /// Forget the offered media of an agent leg that failed (nothing to send).
    ForgetAgentOffer,
    /// Stop ringing the transfer's target (the call ends while it rings); a target that
    /// answered meanwhile is hung up.
    CancelTransfer,
    /// Cancel the outbound leg that rings (its ring timeout passed).
    CancelDial,
    /// Answer the originator's INVITE (an agent's own call: the far end answered).
    AnswerOriginator,
    /// Refuse the originator's INVITE with this status (an agent's own call that did
    /// not reach the far end).
    RejectOriginator { status: u16 },
}

/// A command for the caller's media.
#[derive(Clone, Debug, PartialEq)]
pub enum MediaCommand {
    /// Loop the music on hold of the call's queue.
    PlayMoh,
    /// Play these prompts (not interruptible by keys).
    Play { prompts: Vec<String> },
    /// Stop whatever the caller hears from the player.
    StopPrompts,
    /// Pass a key to the player (it may interrupt an interruptible prompt).
    PlayerKey(char),
}

/// An event for the log, with the queue and agent columns it is filed under (empty when
/// none).
#[derive(Clone, Debug, PartialEq)]
pub struct Logged {
    pub event: Event,
    pub queue: String,
    pub agent: String,
}

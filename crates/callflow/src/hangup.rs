//! What the end of the call's SIP side means. The B2BUA core ends a call when either leg
//! ends (a BYE, a CANCEL, a timeout, a transport error, a session that was not
//! refreshed) and hangs up the other one; the driver reports which party's leg it was and
//! how ([`Hangup`]), and the call decides the `end_reason` written for it from the party,
//! the phase and what the call was placed for: the caller (or a placed call's customer)
//! hanging up in the dialplan, queued, ringing an agent, bridged, ringing a transfer
//! target, in a post-call survey or under supervision; the agent (or the colleague an
//! attended transfer brought in) hanging up; a leg that hangs up after this call's part
//! was handed over. The disposition, talk time and the ACD's `CallEnded` then follow from
//! the phase in [`Call::handle_end`].

use std::time::Instant;

use switchboard_events::{EndReason, Party};

use crate::call::{Call, Ending};
use crate::outbound::Purpose;
use crate::phase::Phase;

/// How one party's SIP leg ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegEnd {
    /// It sent BYE.
    Bye,
    /// It cancelled its INVITE before we answered.
    Cancelled,
    /// A transaction with it timed out.
    Timeout,
    /// The transport to it failed.
    TransportError,
    /// It stopped refreshing its RFC 4028 session (or our refresh to it failed).
    SessionExpired,
    /// It refused our INVITE and the failure was relayed to the other leg.
    Rejected,
}

/// Why the call's SIP side ended, as the driver saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hangup {
    /// `party`'s leg ended (`how`); the B2BUA ended the other one.
    Leg { party: Party, how: LegEnd },
    /// The server ended the call itself (shutdown, a command, a lost dialog).
    Local(EndReason),
}

impl Hangup {
    /// The same end, seen as `party`'s: a driver that knows which side a SIP call plays
    /// (a placed call's customer or agent, a campaign's callee) says so.
    pub fn as_party(self, party: Party) -> Hangup {
        match self {
            Hangup::Leg { how, .. } => Hangup::Leg { party, how },
            local => local,
        }
    }
}

impl Call {
    /// The `end_reason` of this call if its SIP side ended with `hangup` now.
    pub fn hangup_reason(&self, hangup: Hangup) -> EndReason {
        let (party, how) = match hangup {
            Hangup::Local(reason) => return reason,
            Hangup::Leg { party, how } => (party, how),
        };
        // This call's part was handed over (attended transfer): whatever ends after
        // that ends a call that is already transferred.
        if matches!(self.phase, Phase::HandedOver { .. }) {
            return EndReason::TransferCompleted;
        }
        // A callback's or an agent's own call: the far end is the customer.
        let placed_customer = matches!(
            self.purpose(),
            Some(Purpose::Callback { .. } | Purpose::AgentCall { .. })
        );
        match (party, how) {
            (_, LegEnd::SessionExpired) => EndReason::SessionExpired,
            (Party::Caller, LegEnd::Bye) if placed_customer => EndReason::CustomerHangup,
            (Party::Caller, LegEnd::Bye) => EndReason::CallerHangup,
            (Party::Caller, LegEnd::Cancelled) => EndReason::CallerCancelled,
            (Party::Caller, LegEnd::Timeout) => EndReason::CallerTimeout,
            (Party::Caller, LegEnd::TransportError) => EndReason::CallerTransportError,
            (Party::Agent, LegEnd::Bye) => EndReason::AgentHangup,
            (Party::Agent, LegEnd::Rejected) => EndReason::AgentRejected,
            (Party::Agent, LegEnd::Timeout) => EndReason::AgentTimeout,
            (Party::Agent, LegEnd::TransportError) => EndReason::AgentTransportError,
            // We never relay a caller's refusal, and an agent leg is cancelled by us.
            (Party::Caller, LegEnd::Rejected) | (Party::Agent, LegEnd::Cancelled) => {
                EndReason::LocalHangup
            }
        }
    }

    /// The call's SIP side ended with `hangup` at `now` (the driver has hung up what it
    /// had to): decides the end reason ([`Call::hangup_reason`]), then ends the call as
    /// [`Call::handle_end`] does. `None` when the call had already ended.
    pub fn handle_hangup(&mut self, now: Instant, hangup: Hangup) -> Option<Ending> {
        let reason = self.hangup_reason(hangup);
        self.handle_end(now, reason)
    }
}

//! Placing a call to a phone number through the carrier trunks: the one entry point for
//! every call we originate to the outside (queue callbacks today; web callbacks, agents'
//! outbound calls and campaigns reuse it). It asks the SIP driver for a trunk
//! (`SipCommand::DialTrunk`), waits for the answer, and on a 408/5xx fails over to the next
//! trunk by priority (a call hung up on our side while it rings, by a shutdown or a
//! hang-up, ends the dial with its own reason instead: the carrier did not fail); trunks
//! skipped for their limits and failovers are logged as typed events on the call. The number must already have passed the dial policy.

use std::time::Duration;

use bytes::Bytes;
use switchboard_callflow::Hangup;
use switchboard_events::{EndReason, Event, TrunkLimit};
use switchboard_sip::CallKey;
use switchboard_sip_message::StatusCode;
use switchboard_trunk::{LimitRefusal, TrunkId};
use tokio::sync::oneshot;

use crate::call::CallContext;
use crate::call_signals::{CallSignal, SignalReceiver};
use crate::event_log::NewEvent;
use crate::sip_driver::{SipCommand, TrunkDial};

/// An answered call to a number.
pub(crate) struct Answered {
    pub(crate) call: CallKey,
    /// The trunk it went through (index into `cfg.trunk_specs`).
    pub(crate) trunk: TrunkId,
    /// The far end's SDP answer.
    pub(crate) sdp: Bytes,
    pub(crate) signals: SignalReceiver,
}

/// Why a call to a number was not answered.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NotAnswered {
    /// No trunk is configured, or every remaining one is at its limits.
    NoTrunk,
    /// The far end (or the last trunk) answered with this failure.
    Failed(StatusCode),
    /// It rang longer than the limit; we hung up.
    RingTimeout,
    /// The SIP driver is gone (shutdown).
    Gone,
    /// The dial's reply or signal lane closed while the SIP driver still runs: a lost
    /// internal channel, not the server stopping.
    Lost,
    /// The originator gave up while it rang (an agent hung up their outbound call); the
    /// ringing attempt was cancelled.
    Aborted,
    /// The ringing call was ended on our side (the SIP driver or another task hung it up;
    /// the reason says why): the far end did not fail, so no other trunk is tried.
    Ended(EndReason),
}

impl NotAnswered {
    /// The words `call.end`'s `detail` records for it (snake_case, never Rust Debug text).
    pub(crate) fn detail(&self) -> String {
        match self {
            NotAnswered::NoTrunk => "no_trunk".to_string(),
            NotAnswered::Failed(s) => format!("failed {}", s.0),
            NotAnswered::RingTimeout => "ring_timeout".to_string(),
            NotAnswered::Gone => "shutdown".to_string(),
            NotAnswered::Lost => "internal_error".to_string(),
            NotAnswered::Aborted => "aborted".to_string(),
            NotAnswered::Ended(reason) => format!("ended {reason}"),
        }
    }

    /// A dial's reply or signal lane closed: `Gone` when the SIP driver no longer takes
    /// commands (the server is stopping), else `Lost` (logged: a bug to look into).
    pub(crate) fn lane_closed(sip: &crate::sip_driver::SipHandle) -> NotAnswered {
        if sip.commands.is_closed() {
            NotAnswered::Gone
        } else {
            tracing::error!("a dial lost its channel to the SIP driver while it still runs");
            NotAnswered::Lost
        }
    }
}

/// Dials `number` (canonical, admitted by the dial policy) offering `offer` (one SDP per
/// trunk, indexed like `trunk_specs`: see `trunk_offer.rs`), presenting
/// `caller_id` where the trunk's policy lets the call choose, and waits up to `ring_limit`
/// per attempt. `event_call` is the call id events are logged under. Given up (the
/// ringing attempt cancelled) as soon as `abort` completes: callers pass their call
/// flow's ring deadline (`placed_call::deadline`) or the originator's hang-up.
pub(crate) async fn dial_number_until(
    ctx: &CallContext,
    event_call: u64,
    number: &str,
    caller_id: Option<&str>,
    offer: Vec<Bytes>,
    ring_limit: Duration,
    abort: impl std::future::Future<Output = ()>,
) -> Result<Answered, NotAnswered> {
    tokio::pin!(abort);
    let mut exclude: Vec<TrunkId> = Vec::new();
    let mut last_failure = None;
    let log = |e: Event| {
        ctx.events
            .append(NewEvent::call(&event_call.to_string(), e))
    };
    loop {
        let (signals_tx, mut signals) = crate::call_signals::lane();
        let (reply_tx, reply_rx) = oneshot::channel();
        ctx.sip
            .commands
            .send(SipCommand::DialTrunk(TrunkDial {
                number: number.to_owned(),
                caller_id: caller_id.map(str::to_owned),
                exclude: exclude.clone(),
                sdp: offer.clone(),
                signals: signals_tx,
                reply: reply_tx,
            }))
            .map_err(|_| NotAnswered::Gone)?;
        let dialed = reply_rx
            .await
            .map_err(|_| NotAnswered::lane_closed(&ctx.sip))?;
        for (trunk, why) in dialed.skipped {
            tracing::warn!(trunk = %trunk, reason = why.as_str(), "trunk skipped: at its limit");
            log(Event::TrunkRefused {
                trunk,
                reason: match why {
                    LimitRefusal::MaxCalls => TrunkLimit::MaxCalls,
                    LimitRefusal::CallsPerSecond => TrunkLimit::CallsPerSecond,
                },
            });
        }
        let Some((call, trunk)) = dialed.placed else {
            return Err(last_failure.map_or(NotAnswered::NoTrunk, NotAnswered::Failed));
        };
        let deadline = tokio::time::Instant::now() + ring_limit;
        let failed = loop {
            let next = tokio::select! {
                r = tokio::time::timeout_at(deadline, signals.recv()) => r,
                () = &mut abort => {
                    let _ = ctx.sip.commands.send(SipCommand::Hangup { call });
                    return Err(NotAnswered::Aborted);
                }
            };
            let signal = match next {
                Ok(Some(signal)) => signal,
                Ok(None) => return Err(NotAnswered::lane_closed(&ctx.sip)),
                Err(_) => {
                    let _ = ctx.sip.commands.send(SipCommand::Hangup { call });
                    return Err(NotAnswered::RingTimeout);
                }
            };
            match ringing(signal) {
                Ringing::Answered(sdp) => {
                    return Ok(Answered {
                        call,
                        trunk,
                        sdp,
                        signals,
                    })
                }
                Ringing::Failed(status) => break status,
                Ringing::Over(why) => return Err(why),
                Ringing::Waiting => continue,
            }
        };
        if !switchboard_trunk::fails_over(failed.0) {
            return Err(NotAnswered::Failed(failed));
        }
        let name = ctx
            .cfg
            .trunk_specs
            .get(trunk.0)
            .map_or_else(String::new, |t| t.name.clone());
        tracing::info!(trunk = %name, status = failed.0, "outbound call failed on a trunk; failing over");
        log(Event::TrunkFailover {
            trunk: name,
            status: failed.0,
        });
        exclude.push(trunk);
        last_failure = Some(failed);
    }
}

/// What a signal on a ringing trunk call means for the dial.
#[derive(Debug, PartialEq, Eq)]
enum Ringing {
    /// The far end answered with this SDP.
    Answered(Bytes),
    /// The far end (the carrier) failed the call: another trunk may take it.
    Failed(StatusCode),
    /// The dial is over without an answer and without failing over.
    Over(NotAnswered),
    /// Still ringing.
    Waiting,
}

fn ringing(signal: CallSignal) -> Ringing {
    match signal {
        CallSignal::BAnswered(sdp, _) => Ringing::Answered(sdp),
        CallSignal::BFailed(status) => Ringing::Failed(status),
        // Not the far end's failure: the call was ended here (a shutdown, a hang-up):
        // the dial ends with it, no other carrier is dialled.
        CallSignal::Ended(h) => Ringing::Over(ended_while_ringing(h)),
        _ => Ringing::Waiting,
    }
}

/// A trunk call that ended before any answer without a final failure from the carrier
/// (the B2BUA reports a carrier's failure as `BFailed` first, which fails over): the
/// server stopping (`Gone`), or the call hung up on our side with its own reason. A leg's
/// own end (which the B2BUA never reports before an answer without `BFailed`) counts as
/// the signalling lost.
fn ended_while_ringing(h: Hangup) -> NotAnswered {
    match h {
        Hangup::Local(EndReason::Shutdown) => NotAnswered::Gone,
        Hangup::Local(reason) => NotAnswered::Ended(reason),
        Hangup::Leg { .. } => NotAnswered::Ended(EndReason::SignallingLost),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip_driver::SipHandle;

    #[test]
    fn a_dial_ended_here_does_not_fail_over() {
        use switchboard_callflow::{DialFailure, LegEnd};
        // A carrier's failure fails over (503, 408, ...) ...
        let failed = ringing(CallSignal::BFailed(StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(failed, Ringing::Failed(StatusCode::SERVICE_UNAVAILABLE));
        // ... the call ended on our side does not: the dial ends with its own reason.
        let hung_up = ringing(CallSignal::Ended(Hangup::Local(EndReason::ApiHangup)));
        assert_eq!(
            hung_up,
            Ringing::Over(NotAnswered::Ended(EndReason::ApiHangup))
        );
        let Ringing::Over(why) = hung_up else {
            unreachable!()
        };
        assert_eq!(why.detail(), "ended api_hangup");
        assert_eq!(
            crate::placed_call::failure_of(why),
            DialFailure::Ended(EndReason::ApiHangup)
        );
        let stopping = ringing(CallSignal::Ended(Hangup::Local(EndReason::Shutdown)));
        assert_eq!(stopping, Ringing::Over(NotAnswered::Gone));
        let leg = Hangup::Leg {
            party: switchboard_events::Party::Agent,
            how: LegEnd::Bye,
        };
        assert_eq!(
            ringing(CallSignal::Ended(leg)),
            Ringing::Over(NotAnswered::Ended(EndReason::SignallingLost))
        );
        assert_eq!(ringing(CallSignal::BProgress), Ringing::Waiting);
    }

    #[test]
    fn a_closed_lane_is_shutdown_only_once_the_driver_takes_no_commands() {
        let (commands, rx) = tokio::sync::mpsc::unbounded_channel();
        let sip = SipHandle {
            commands,
            location: switchboard_registrar::LocationTable::new(),
        };
        let lost = NotAnswered::lane_closed(&sip);
        assert_eq!(lost, NotAnswered::Lost);
        assert_eq!(lost.detail(), "internal_error");
        assert_eq!(
            crate::placed_call::failure_of(lost),
            switchboard_callflow::DialFailure::InternalError
        );
        drop(rx);
        let gone = NotAnswered::lane_closed(&sip);
        assert_eq!(gone, NotAnswered::Gone);
        assert_eq!(gone.detail(), "shutdown");
        assert_eq!(
            crate::placed_call::failure_of(gone),
            switchboard_callflow::DialFailure::Shutdown
        );
    }
}

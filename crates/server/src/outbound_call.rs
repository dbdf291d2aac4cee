//! Placing a call to a phone number through the carrier trunks: the one entry point for
//! every call we originate to the outside (queue callbacks today; web callbacks, agents'
//! outbound calls and campaigns reuse it). It asks the SIP driver for a trunk
//! (`SipCommand::DialTrunk`), waits for the answer, and on a 408/5xx fails over to the next
//! trunk by priority; trunks skipped for their limits and failovers are logged as typed
//! events on the call. The number must already have passed the dial policy.

use std::time::Duration;

use bytes::Bytes;
use switchboard_events::{Event, TrunkLimit};
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
            match next {
                Ok(Some(CallSignal::BAnswered(sdp))) => {
                    return Ok(Answered {
                        call,
                        trunk,
                        sdp,
                        signals,
                    })
                }
                Ok(Some(CallSignal::BFailed(status))) => break status,
                Ok(Some(CallSignal::Ended(_))) => break StatusCode::SERVER_INTERNAL_ERROR,
                Ok(None) => return Err(NotAnswered::lane_closed(&ctx.sip)),
                Ok(Some(_)) => continue,
                Err(_) => {
                    let _ = ctx.sip.commands.send(SipCommand::Hangup { call });
                    return Err(NotAnswered::RingTimeout);
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip_driver::SipHandle;

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

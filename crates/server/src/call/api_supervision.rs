//! Supervision started from the HTTP API (`POST /api/v1/calls/{id}/listen|whisper|barge`):
//! the engine calls the supervisor's registered phone and, once it answers, hands the leg
//! to the supervised call exactly as a supervisor's own `listen-1001` call does
//! (`supervision.rs`); this task then only relays hang-ups between the two.

use super::*;

/// Calls `supervisor` and joins them to the call behind `target` in `mode`. `by` is the
/// API token's name (in the supervisor call's `call.end`).
pub(crate) async fn run_api_supervision(
    ctx: Arc<CallContext>,
    id: u64,
    mode: SupervisorMode,
    target: mpsc::Sender<SuperviseRequest>,
    supervisor: String,
    by: String,
) {
    let _active = crate::metrics::ActiveCall::new(ctx.metrics.clone());
    // The supervisor is on a call from the moment their phone is rung: no queue offers.
    let _engaged = crate::acd_actor::Engagement::start(
        &ctx.acd,
        &supervisor,
        switchboard_acd::BusyKind::Direct,
    );
    let started = Instant::now();
    let log = |event: Event| NewEvent::call(&id.to_string(), event).agent(&supervisor);
    ctx.events.append(log(Event::CallStart(CallStart {
        caller: String::new(),
        dnis: supervisor.clone(),
        ..CallStart::default()
    })));
    let end = |reason: EndReason, detail: Option<&str>| {
        let mut end = CallEnd::new(reason, Disposition::Supervision);
        end.mode = Some(core_events::supervision_mode(mode));
        end.duration_s = Some(started.elapsed().as_secs_f64());
        end.detail = detail.map(str::to_string);
        end.by = Some(by.clone());
        ctx.events.append(log(Event::CallEnd(end)));
    };
    let leg = crate::callback::dial(
        &ctx,
        id,
        crate::callback::Party::Agent {
            user: supervisor.clone(),
            caller: None,
        },
    )
    .await;
    let Some(mut leg) = leg else {
        end(
            EndReason::CallbackLegFailed,
            Some("the supervisor's phone did not answer"),
        );
        return;
    };
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let req = SuperviseRequest {
        mode,
        media: Box::new(leg.media),
        supervisor: supervisor.clone(),
        done: done_tx,
        stop: stop_rx,
    };
    let reason = if target.send(req).await.is_err() {
        let _ = ctx.sip.commands.send(SipCommand::Hangup { call: leg.call });
        EndReason::SupervisedCallEnded
    } else {
        loop {
            tokio::select! {
                _ = &mut done_rx => {
                    let _ = ctx.sip.commands.send(SipCommand::Hangup { call: leg.call });
                    break EndReason::SupervisedCallEnded;
                }
                sig = leg.signals.recv() => match sig {
                    None | Some(CallSignal::Ended(_)) => {
                        let _ = stop_tx.send(());
                        break EndReason::SupervisorHangup;
                    }
                    Some(CallSignal::InDialog { tx, .. }) => {
                        let _ = ctx.sip.commands.send(SipCommand::Respond {
                            call: leg.call,
                            tx,
                            status: StatusCode::OK,
                            sdp: None,
                        });
                    }
                    Some(_) => {}
                },
            }
        }
    };
    end(reason, None);
}

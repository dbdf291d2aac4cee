//! A dialplan's `callback` statement in the live engine: the number passes the
//! `[dial_policy]` number rules (refused: a `call.refused` event with purpose
//! `dialplan_callback` on this call, and the metric), then it becomes a callback entry in
//! the queue's line exactly like one asked for over the API (`web_callbacks.rs`: logged
//! as `callback.scheduled` with `by` = `dialplan`, placed agent first at or after its
//! time, rebuilt from the event log after a restart). The answer goes back to the
//! interpreter, whose `fallback` runs when it was not taken.

use super::*;
use switchboard_ivr::interp::CallbackTime;

use crate::web_callbacks::WebCallback;

impl CallTask {
    /// Asks for the dialplan's callback off the call's task; the answer comes back as a
    /// `QueueSignal::CallbackScheduled` on the call's queue lane.
    pub(super) fn schedule_callback(
        &mut self,
        id: u64,
        number: String,
        queue: String,
        at: Option<CallbackTime>,
    ) {
        let ctx = self.ctx.clone();
        let tx = self.queue_tx.clone();
        let call = self.id;
        tokio::spawn(async move {
            let scheduled = schedule(&ctx, call, &number, queue, at).await;
            let _ = tx
                .send(QueueSignal::CallbackScheduled { id, scheduled })
                .await;
        });
    }
}

/// Whether the callback was taken.
async fn schedule(
    ctx: &CallContext,
    call: u64,
    raw: &str,
    queue: String,
    at: Option<CallbackTime>,
) -> bool {
    if ctx.queue_config(&queue).is_none() || ctx.cfg.trunk_specs.is_empty() {
        tracing::warn!(%queue, "dialplan callback not taken: unknown queue or no outbound trunk");
        return false;
    }
    let number = match ctx.number_rules.check(raw) {
        Ok(n) => n,
        Err(r) => {
            tracing::warn!(
                reason = r.as_str(),
                "dialplan callback refused by the dial policy"
            );
            ctx.metrics.dial_refused.count(r);
            ctx.events.append(
                crate::dial_policy::refused_event(
                    call,
                    switchboard_events::OriginatePurpose::DialplanCallback,
                    raw,
                    r,
                )
                .queue(&queue),
            );
            return false;
        }
    };
    let at = match at {
        None => None,
        Some(CallbackTime::At(t)) => Some(t),
        Some(CallbackTime::After(d)) => {
            let d = chrono::Duration::from_std(d).unwrap_or_default();
            Some((Utc::now() + d).fixed_offset())
        }
    };
    let cb = WebCallback {
        id: ctx.next_call_id(),
        queue,
        number,
        at,
        name: None,
        data: Some(json!({ "for_call": call.to_string() })),
        by: "dialplan".into(),
        created_ms: crate::event_store::now_ms(),
    };
    let (reply_tx, reply_rx) = tokio::sync::oneshot::channel();
    let asked = ctx.acd.send(AcdCommand::WebCallback(
        crate::acd_actor::WebCallbackCommand::Schedule {
            cb,
            restored: false,
            reply: Some(reply_tx),
        },
    ));
    match (asked, reply_rx.await) {
        (Ok(()), Ok(Ok(()))) => true,
        (_, r) => {
            tracing::warn!(result = ?r, "dialplan callback not taken by the ACD");
            false
        }
    }
}

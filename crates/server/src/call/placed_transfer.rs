//! An agent's own call that its agent transfers (a blind REFER, or an attended one with
//! `Replaces` naming the agent's consultation call; issue 14 item 2): the
//! placed call's bridge (`placed_call.rs`) has no transfer path, so the call becomes a
//! call task, as an answered campaign call does (decision 0035): the far end's call (one
//! we originated) leads, as the task's leg A, and the agent's call is its agent leg (the
//! SIP driver routes it: `sip_driver/callee_calls.rs`). The task then carries the REFER
//! out like a queue call's (`transfer.rs`: blind to a queue, a user, a number through the
//! dial policy and the trunks; attended: the colleague's leg joins the far end), and the flow, which decided the transfer, ends the call like an
//! inbound one (callflow `outbound_transferred`). The agent stays busy (their engagement
//! goes with the task) until their leg is released.
//!
//! A callback (agent then customer, `callback.rs`) is transferred by its agent the same
//! way: the customer's call leads, the agent's call (one we originated to their phone) is
//! the agent leg, and the agent's busy state is the ACD's callback call, which ends when
//! their leg is released (they wrap up once; the flow, whose bridge was the engine's own,
//! asks nothing more of the ACD for it).

use super::*;

use crate::acd_actor::AgentHold;
use crate::call_signals::SignalReceiver;
use crate::placed_call::Leg;

/// A bridged placed call whose agent sent a REFER, not yet answered.
pub(crate) struct ReferredPlacedCall {
    pub(crate) id: u64,
    pub(crate) flow: switchboard_callflow::Call,
    /// The far end (a call we originated): the task's leg A.
    pub(crate) far: Leg,
    pub(crate) far_signals: SignalReceiver,
    /// The agent's own call: the task's agent leg.
    pub(crate) near: Leg,
    pub(crate) recorder: Option<Recorder>,
    /// When the recording started.
    pub(crate) rec_origin: Instant,
    /// The agent's busy state, held until their leg is released.
    pub(crate) held: AgentHold,
    /// The far end's number (the one the agent dialled, the callback's customer).
    pub(crate) number: String,
    pub(crate) tx: switchboard_sip::TxKey,
    pub(crate) refer: switchboard_sip_message::Request,
}

/// A referred call given back: there was no dialplan to build a call task with, so the
/// REFER was answered 501 and the call stays with its driver as it was.
pub(crate) struct RefusedReferral {
    pub(crate) flow: switchboard_callflow::Call,
    pub(crate) far: Leg,
    pub(crate) far_signals: SignalReceiver,
    pub(crate) near: Leg,
    pub(crate) recorder: Option<Recorder>,
    /// The agent's busy state, unused: the driver keeps (or lets go of) it.
    pub(crate) held: AgentHold,
}

/// Runs the referred call as a call task until it ends; `Err` gives it back when there is
/// no dialplan to build a task with (the REFER is answered 501 here then).
pub(crate) async fn transfer_placed_call(
    ctx: &Arc<CallContext>,
    call: ReferredPlacedCall,
) -> Result<(), Box<RefusedReferral>> {
    let program = ctx.dialplans.read().ok().and_then(|g| g.clone());
    let Some(program) = program else {
        let _ = ctx.sip.commands.send(SipCommand::Respond {
            call: call.near.call,
            tx: call.tx,
            status: StatusCode::NOT_IMPLEMENTED,
            sdp: None,
        });
        return Err(Box::new(RefusedReferral {
            flow: call.flow,
            far: call.far,
            far_signals: call.far_signals,
            near: call.near,
            recorder: call.recorder,
            held: call.held,
        }));
    };
    let ReferredPlacedCall {
        id,
        flow,
        far,
        mut far_signals,
        near,
        recorder,
        rec_origin,
        held,
        number,
        tx,
        refer,
    } = call;
    let _ = ctx.sip.commands.send(SipCommand::AdoptAgentLeg {
        callee: far.call,
        agent: near.call,
    });
    let now = Instant::now();
    let local_ip = ctx.rtp_pool.ip();
    let mut task = CallTask::new(
        ctx,
        id,
        far.call,
        number.clone(),
        number,
        far.media,
        program,
        now,
        local_ip,
    );
    task.callee_leads = true;
    task.bridge = Some(Bridge::new(
        task.a.bridge_config(),
        near.media.bridge_config(),
    ));
    task.b = Some(near.media);
    task.recorder = recorder;
    task.rec_origin = Some(rec_origin);
    task.direct = Some(match held {
        AgentHold::Engaged(e) => direct::DirectCall {
            engaged: Some(e),
            callback: None,
        },
        AgentHold::Callback(c) => direct::DirectCall {
            engaged: None,
            callback: Some(c),
        },
    });
    task.flow = flow;
    tracing::info!("the agent transfers their own call: it continues as a call task");
    match transfer::refer_replaces(&refer) {
        Some(replaces) => task.attended_transfer(tx, replaces).await,
        None => task.blind_transfer(tx, &refer).await,
    }
    task.run(&mut far_signals).await;
    ctx.live.remove(crate::live_calls::LiveCallId(id));
    Ok(())
}

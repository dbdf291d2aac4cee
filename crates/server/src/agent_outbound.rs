//! An agent's own call to an outside number: the agent's phone (a digest-authenticated
//! INVITE, see `invite_auth.rs`) dials a number, the user's dial permissions
//! (`agent_dial.rs`) admit it or refuse it (403, a `call.refused` event and
//! `switchboard_dial_refused_total`), and the call goes out through the trunks
//! (`outbound_call::dial_number_until`, with failover) presenting the user's caller ID.
//! The agent's INVITE is answered only when the far end answers, so the phone hears the
//! far end's failure (busy, not found, ...) as its own. Then the two legs are bridged,
//! recorded when the user's `record_outbound` says so, and logged as one call
//! (`call.outbound`, `call.end` with disposition `outbound` and the agent on the
//! envelope). The agent is busy for every queue while it lasts.
//!
//! Such a call can be the consultation of an attended transfer: when the agent REFERs its
//! other call with a Replaces naming this one, the far end's leg and media are handed over
//! to that call (`CallSignal::HandOver`, the far end's originated call named in
//! `HandOver::leg_call`), the agent's leg here is hung up, and this call ends
//! `transfer_completed`.
//!
//! The decisions (the ring timeout, the status the agent's phone hears, `outbound`,
//! `outbound_failed` or `refused`) are the call-flow core's (`Call::outbound`, purpose
//! `AgentCall`, decision 0042); the bridge is `placed_call.rs`'s, shared with callbacks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchboard_callflow::{Call, Dial, DialFailure, Outbound, Purpose};
use switchboard_events::{EndReason, Event, OriginatePurpose, Party};
use switchboard_sdp::{Direction, LocalCaps, LocalMedia, SessionDescription};
use switchboard_sip::CallKey;
use switchboard_sip_message::StatusCode;

use crate::call::CallContext;
use crate::call_signals::{CallSignal, SignalReceiver};
use crate::event_log::NewEvent;
use crate::media_leg::{HandOver, MediaLeg};
use crate::outbound_call::NotAnswered;
use crate::pii::Pii;
use crate::placed_call::{self, BridgeEnd, Leg, Step};
use crate::placed_listing::PlacedListing;
use crate::recorder::Recorder;
use crate::sip_driver::{NewCall, SipCommand};

/// Runs agent `agent`'s call to `dialled` (call id `id`, whose `call.start` is logged).
/// The flow (`Call::outbound`, purpose `AgentCall`) decides the ring timeout, the status
/// the agent's phone hears and the end; this task checks, dials and relays.
pub(crate) async fn run(
    ctx: Arc<CallContext>,
    nc: NewCall,
    id: u64,
    agent: String,
    dialled: String,
) {
    let _active = crate::metrics::ActiveCall::new(ctx.metrics.clone());
    let log = |e: Event| NewEvent::call(&id.to_string(), e).agent(&agent);
    let ring = Duration::from_secs(ctx.cfg.dial_permissions.ring_timeout.max(1));
    let mut flow = Call::outbound(
        Instant::now(),
        Outbound {
            purpose: Purpose::AgentCall {
                agent: agent.clone(),
            },
            legs: vec![Dial::Number(dialled.clone())],
            ring_timeout: ring,
        },
    );
    // The number to dial; checked before it is.
    let Step::Dial(_) = placed_call::next_step(&ctx, &mut flow, None, &log) else {
        return;
    };
    let refuse = |flow: &mut Call, status: StatusCode, why: &str| {
        flow.handle_dial_failed(
            Instant::now(),
            DialFailure::Refused {
                status: status.0,
                why: why.to_string(),
            },
        );
        finish_unanswered(&ctx, flow, nc.call, &log, None);
    };
    if ctx.cfg.trunk_specs.is_empty() {
        refuse(
            &mut flow,
            StatusCode::SERVICE_UNAVAILABLE,
            "no outbound trunk is configured",
        );
        return;
    }
    let now_s = chrono::Utc::now().timestamp();
    let admitted = match ctx.agent_dial.lock() {
        Ok(mut gate) => gate.admit(now_s, &agent, &dialled),
        Err(_) => Err(switchboard_outbound::Refusal::NotAllowed),
    };
    let number = match admitted {
        Ok(n) => n,
        Err(r) => {
            tracing::warn!(agent = %agent, to = %Pii(&dialled), reason = r.as_str(), "agent's outbound call refused by the dial permissions");
            ctx.metrics.dial_refused.count(r);
            ctx.events.append(
                crate::dial_policy::refused_event(id, OriginatePurpose::AgentOutbound, &dialled, r)
                    .agent(&agent),
            );
            refuse(
                &mut flow,
                StatusCode::FORBIDDEN,
                &format!("dial permissions: {r}"),
            );
            return;
        }
    };
    let user = ctx.cfg.users.iter().find(|u| u.name == agent);
    let (caller_id, record) =
        crate::agent_dial::caller_id_and_recording(&ctx.cfg.dial_permissions, user);

    // The agent's offer, answered now (sent when the far end answers).
    let caps = LocalCaps {
        srtp: ctx.user_srtp(&agent).fresh_mode(),
        ..LocalCaps::default()
    };
    let Ok(agent_offer) = SessionDescription::parse(&nc.invite.body) else {
        refuse(
            &mut flow,
            StatusCode::NOT_ACCEPTABLE_HERE,
            "no usable SDP offer",
        );
        return;
    };
    let (Some(agent_pair), Some(trunk_pair)) =
        (ctx.rtp_pool.allocate().await, ctx.rtp_pool.allocate().await)
    else {
        refuse(
            &mut flow,
            StatusCode::SERVICE_UNAVAILABLE,
            "RTP ports exhausted",
        );
        return;
    };
    let local = |port: u16| LocalMedia {
        address: ctx.rtp_pool.ip(),
        port,
        session_id: id,
        session_version: 1,
        direction: Direction::SendRecv,
    };
    let agent_port = agent_pair.rtp.local_addr().map_or(0, |a| a.port());
    let trunk_port = trunk_pair.rtp.local_addr().map_or(0, |a| a.port());
    let (agent_answer, agent_neg) =
        match switchboard_sdp::answer(&agent_offer, &caps, &local(agent_port)) {
            Ok((answer, neg))
                if switchboard_sdp::check_connection(&agent_offer, neg.media_index).is_ok() =>
            {
                (answer, neg)
            }
            _ => {
                refuse(
                    &mut flow,
                    StatusCode::NOT_ACCEPTABLE_HERE,
                    "no common codec, SRTP policy not met or no usable connection address",
                );
                return;
            }
        };

    ctx.events.append(log(Event::CallOutbound {
        from_agent: agent.clone(),
        number: number.clone(),
    }));
    tracing::info!(agent = %agent, to = %Pii(&number), "agent's outbound call");
    // Busy for every queue until the call ends, however it ends.
    let engaged =
        crate::acd_actor::Engagement::start(&ctx.acd, &agent, switchboard_acd::BusyKind::Outbound);
    let trunk_offers =
        crate::trunk_offer::TrunkOffers::new(&ctx.cfg, &LocalCaps::default(), &local(trunk_port));
    let mut agent_signals = nc.signals;
    // Listed in the live-calls API from now on (until a call task takes it over).
    let tenants = user.map_or(&[][..], |u| u.tenants.as_slice());
    let mut listing = PlacedListing::new(&ctx.live, id, &agent, &number, tenants, flow.started());
    // Given up when the agent hangs up, at the flow's ring timeout, or when the API hangs
    // the call up (`api_by`: the token's name).
    let timed_out = AtomicBool::new(false);
    let mut api_by: Option<String> = None;
    let dialled_out = {
        let agent_gone = agent_hung_up(&ctx, nc.call, &mut agent_signals);
        let deadline = placed_call::deadline(&flow);
        let api_hangup = listing.hangup_asked();
        let abort = async {
            tokio::select! {
                () = agent_gone => {}
                () = deadline => timed_out.store(true, Ordering::Relaxed),
                by = api_hangup => api_by = Some(by),
            }
        };
        crate::outbound_call::dial_number_until(
            &ctx,
            id,
            &number,
            caller_id.as_deref(),
            trunk_offers.bodies(),
            ring,
            abort,
        )
        .await
    };
    let now = Instant::now();
    let answered = match dialled_out {
        Ok(a) => a,
        Err(NotAnswered::Aborted) if api_by.is_some() => {
            // Hung up over the API while it rang: the ringing leg is cancelled, the
            // agent's phone hears 503, and the call ends `api_hangup` with `by`.
            flow.handle_dial_failed(now, DialFailure::Ended(EndReason::ApiHangup));
            finish_unanswered(&ctx, &mut flow, nc.call, &log, api_by);
            return;
        }
        Err(NotAnswered::Aborted) if timed_out.load(Ordering::Relaxed) => {
            flow.handle_timeout(now, false);
            finish_unanswered(&ctx, &mut flow, nc.call, &log, None);
            return;
        }
        Err(why) => {
            tracing::info!(why = %why.detail(), "agent's outbound call not answered");
            flow.handle_dial_failed(now, placed_call::failure_of(why));
            finish_unanswered(&ctx, &mut flow, nc.call, &log, None);
            return;
        }
    };
    let trunk_media = trunk_offers
        .negotiate(answered.trunk.0, &answered.sdp)
        .and_then(|neg| {
            let peer = ctx.trunk_peer(answered.trunk.0);
            MediaLeg::new(&ctx.leg_settings(), trunk_pair, neg, Instant::now(), peer)
        });
    let peer = ctx.inbound_peer(Some(&agent), nc.source.ip());
    let agent_media = MediaLeg::new(
        &ctx.leg_settings(),
        agent_pair,
        agent_neg,
        Instant::now(),
        peer,
    );
    let (Some(trunk_media), Some(agent_media)) = (trunk_media, agent_media) else {
        // The far end's answer has no codec the media engine handles.
        let _ = ctx.sip.commands.send(SipCommand::Hangup {
            call: answered.call,
        });
        flow.handle_dial_failed(Instant::now(), DialFailure::Unusable);
        finish_unanswered(&ctx, &mut flow, nc.call, &log, None);
        return;
    };
    ctx.events.append(log(Event::CallAnswer {
        codec: agent_media.neg.codec.name.to_string(),
    }));
    flow.handle_dial_answered(Instant::now());
    listing.answered(Instant::now());
    // The flow answers the agent's INVITE (its events are logged on the way).
    while let Step::Originator(None) = placed_call::next_step(&ctx, &mut flow, None, &log) {
        let _ = ctx.sip.commands.send(SipCommand::AnswerA {
            call: nc.call,
            sdp: Bytes::from(agent_answer.to_string()),
        });
    }
    let mut recorder = if record {
        Recorder::for_call(&ctx.cfg, id)
    } else {
        None
    };
    if let Some(r) = &recorder {
        ctx.events.append(log(Event::RecordingStart {
            path: r.path.display().to_string(),
        }));
    }
    let mut far = Leg {
        call: answered.call,
        media: trunk_media,
    };
    let mut near = Leg {
        call: nc.call,
        media: agent_media,
    };
    let mut far_signals = answered.signals;
    let mut engaged = Some(engaged);
    let ended = loop {
        let mut placed = placed_call::Placed {
            ctx: &ctx,
            id,
            flow: &mut flow,
            acd_call: None,
            log: &log,
            transferable: engaged.is_some(),
            listing: Some(&mut listing),
        };
        let ended = placed_call::bridge(
            &mut placed,
            &mut far,
            &mut far_signals,
            &mut near,
            &mut agent_signals,
            &mut recorder,
            true,
        )
        .await;
        let BridgeEnd::Refer { tx, req, origin } = ended else {
            break ended;
        };
        // The agent transfers the call: it goes on as a call task (call/placed_transfer.rs).
        let Some(held) = engaged.take() else {
            continue;
        };
        let referred = crate::call::ReferredPlacedCall {
            id,
            flow,
            far,
            far_signals,
            near,
            recorder,
            rec_origin: origin,
            held: crate::acd_actor::AgentHold::Engaged(held),
            number: number.clone(),
            tx,
            refer: *req,
        };
        match crate::call::transfer_placed_call(&ctx, referred).await {
            Ok(()) => return,
            Err(back) => {
                // No dialplan to run a call task with: the REFER was refused, the call
                // stays as it is.
                let back = *back;
                (flow, far, far_signals, near, recorder) = (
                    back.flow,
                    back.far,
                    back.far_signals,
                    back.near,
                    back.recorder,
                );
                engaged = match back.held {
                    crate::acd_actor::AgentHold::Engaged(e) => Some(e),
                    crate::acd_actor::AgentHold::Callback(_) => None,
                };
            }
        }
    };
    let mut by = None;
    let (reason, far_quality) = match ended {
        // Taken by the loop above.
        BridgeEnd::Refer { .. } => return,
        BridgeEnd::ApiHangup(who) => {
            by = Some(who);
            (EndReason::ApiHangup, Some(far.media.quality(Party::Caller)))
        }
        // The flow decides what that side's hang-up means (`customer_hangup`, ...).
        BridgeEnd::Ended(h) => (
            flow.hangup_reason(h),
            Some(far.media.quality(Party::Caller)),
        ),
        BridgeEnd::HandOver(reply) => {
            // An attended transfer (REFER with Replaces naming this call): the far end's
            // leg and media go to the transferring agent's other call; the agent's leg
            // here is hung up and this call ends `transfer_completed`.
            tracing::info!(agent = %agent, "agent's outbound call handed over by an attended transfer");
            let _ = ctx
                .sip
                .commands
                .send(SipCommand::Hangup { call: near.call });
            let _ = reply.send(Some(HandOver {
                media: far.media,
                acd_call: id,
                queue: String::new(),
                agent: String::new(),
                engaged: None,
                leg_call: Some(far.call),
            }));
            (EndReason::TransferCompleted, None)
        }
    };
    let Some(end) = flow.handle_end(Instant::now(), reason) else {
        return;
    };
    let mut data = placed_call::call_end(&flow, &end);
    data.by = by;
    if let Some(rec) = recorder.take() {
        data.recording = Some(rec.path.display().to_string());
        data.recording_dropped_frames = Some(rec.dropped());
        crate::metrics::Metrics::add(&ctx.metrics.recordings, 1);
    }
    data.quality = far_quality
        .into_iter()
        .chain([near.media.quality(Party::Agent)])
        .collect();
    ctx.events.append(log(Event::CallEnd(data)));
}

/// Carries out the end the flow decided for a call that did not reach the far end: the
/// agent's phone hears the flow's status (nothing when the agent gave up), and the
/// `call.end` is logged.
fn finish_unanswered(
    ctx: &CallContext,
    flow: &mut Call,
    call: CallKey,
    log: &dyn Fn(Event) -> NewEvent,
    by: Option<String>,
) {
    loop {
        match placed_call::next_step(ctx, flow, None, log) {
            Step::Originator(Some(status)) => {
                let _ = ctx.sip.commands.send(SipCommand::Reject {
                    call,
                    status: StatusCode(status),
                });
            }
            Step::Ended(end) => {
                let mut data = placed_call::call_end(flow, &end);
                data.by = by;
                ctx.events.append(log(Event::CallEnd(data)));
                return;
            }
            Step::Originator(None) | Step::Dial(_) | Step::Idle => return,
        }
    }
}

/// Completes when the agent hangs up (CANCEL) before the far end answers; answers what
/// else arrives on the agent's call meanwhile.
async fn agent_hung_up(ctx: &CallContext, call: CallKey, signals: &mut SignalReceiver) {
    loop {
        match signals.recv().await {
            None | Some(CallSignal::Ended(_)) => return,
            Some(CallSignal::InDialog { tx, .. }) => {
                let _ = ctx.sip.commands.send(SipCommand::Respond {
                    call,
                    tx,
                    status: StatusCode(491),
                    sdp: None,
                });
            }
            Some(_) => {}
        }
    }
}

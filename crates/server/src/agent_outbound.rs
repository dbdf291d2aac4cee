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

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchboard_events::{CallEnd, Disposition, EndReason, Event, OriginatePurpose, Party};
use switchboard_media::{Bridge, Side};
use switchboard_sdp::{Direction, LocalCaps, LocalMedia, SessionDescription};
use switchboard_sip::CallKey;
use switchboard_sip_message::{Method, StatusCode};

use crate::call::CallContext;
use crate::call_signals::{CallSignal, SignalReceiver};
use crate::event_log::NewEvent;
use crate::media_leg::{arrival_position, HandOver, MediaLeg, RxBuf, Timeline};
use crate::outbound_call::NotAnswered;
use crate::pii::Pii;
use crate::recorder::Recorder;
use crate::sip_driver::{NewCall, SipCommand};

/// One leg of the bridge: its SIP call and its media.
struct Leg {
    call: CallKey,
    media: MediaLeg,
}

/// Runs agent `agent`'s call to `dialled` (call id `id`, whose `call.start` is logged).
pub(crate) async fn run(
    ctx: Arc<CallContext>,
    nc: NewCall,
    id: u64,
    agent: String,
    dialled: String,
) {
    let _active = crate::metrics::ActiveCall::new(ctx.metrics.clone());
    let log = |e: Event| NewEvent::call(&id.to_string(), e).agent(&agent);
    let reject = |status: StatusCode, disposition: Disposition, why: &str| {
        let _ = ctx.sip.commands.send(SipCommand::Reject {
            call: nc.call,
            status,
        });
        let mut end = CallEnd::new(EndReason::Refused, disposition);
        end.status = Some(status.0);
        end.detail = Some(why.to_string());
        ctx.events.append(log(Event::CallEnd(end)));
    };
    if ctx.cfg.trunk_specs.is_empty() {
        reject(
            StatusCode::SERVICE_UNAVAILABLE,
            Disposition::Refused,
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
            reject(
                StatusCode::FORBIDDEN,
                Disposition::Refused,
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
        reject(
            StatusCode::NOT_ACCEPTABLE_HERE,
            Disposition::Refused,
            "no usable SDP offer",
        );
        return;
    };
    let (Some(agent_pair), Some(trunk_pair)) =
        (ctx.rtp_pool.allocate().await, ctx.rtp_pool.allocate().await)
    else {
        reject(
            StatusCode::SERVICE_UNAVAILABLE,
            Disposition::Refused,
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
                reject(
                    StatusCode::NOT_ACCEPTABLE_HERE,
                    Disposition::Refused,
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
    let _engaged =
        crate::acd_actor::Engagement::start(&ctx.acd, &agent, switchboard_acd::BusyKind::Outbound);
    let started = Instant::now();
    let trunk_offers =
        crate::trunk_offer::TrunkOffers::new(&ctx.cfg, &LocalCaps::default(), &local(trunk_port));
    let mut agent_signals = nc.signals;
    let agent_gone = agent_hung_up(&ctx, nc.call, &mut agent_signals);
    let ring = Duration::from_secs(ctx.cfg.dial_permissions.ring_timeout.max(1));
    let dialled_out = crate::outbound_call::dial_number_until(
        &ctx,
        id,
        &number,
        caller_id.as_deref(),
        trunk_offers.bodies(),
        ring,
        agent_gone,
    )
    .await;
    let answered = match dialled_out {
        Ok(a) => a,
        Err(NotAnswered::Aborted) => {
            let mut end = CallEnd::new(EndReason::CallerCancelled, Disposition::OutboundFailed);
            end.duration_s = Some(started.elapsed().as_secs_f64());
            ctx.events.append(log(Event::CallEnd(end)));
            return;
        }
        Err(why) => {
            let status = status_for(&why);
            tracing::info!(?why, "agent's outbound call not answered");
            reject(status, Disposition::OutboundFailed, &why.detail());
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
        let _ = ctx.sip.commands.send(SipCommand::Hangup {
            call: answered.call,
        });
        reject(
            StatusCode::NOT_ACCEPTABLE_HERE,
            Disposition::OutboundFailed,
            "the far end's answer has no codec the media engine handles",
        );
        return;
    };
    let _ = ctx.sip.commands.send(SipCommand::AnswerA {
        call: nc.call,
        sdp: Bytes::from(agent_answer.to_string()),
    });
    ctx.events.append(log(Event::CallAnswer {
        codec: agent_media.neg.codec.name.to_string(),
    }));
    ctx.events.append(log(Event::CallBridge {
        wait_s: started.elapsed().as_secs_f64(),
    }));
    ctx.events.append(log(Event::CallConnected {}));
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
    let talk_from = Instant::now();
    let ended = bridge(
        &ctx,
        id,
        &mut far,
        &mut far_signals,
        &mut near,
        &mut agent_signals,
        &mut recorder,
    )
    .await;
    let talk = talk_from.elapsed().as_secs_f64();
    let (reason, far_quality) = match ended {
        BridgeEnd::Ended(reason) => (reason, Some(far.media.quality(Party::Caller))),
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
    let mut end = CallEnd::new(reason, Disposition::Outbound);
    end.talk_s = Some(talk);
    end.duration_s = Some(started.elapsed().as_secs_f64());
    if let Some(rec) = recorder.take() {
        end.recording = Some(rec.path.display().to_string());
        end.recording_dropped_frames = Some(rec.dropped());
        crate::metrics::Metrics::add(&ctx.metrics.recordings, 1);
    }
    end.quality = far_quality
        .into_iter()
        .chain([near.media.quality(Party::Agent)])
        .collect();
    ctx.events.append(log(Event::CallEnd(end)));
}

/// The status the agent's phone gets when the far end was not reached.
fn status_for(why: &NotAnswered) -> StatusCode {
    match why {
        // The far end's own failure, as it said it (busy, not found, declined, ...).
        NotAnswered::Failed(s) if (400..700).contains(&s.0) && !matches!(s.0, 401 | 407) => *s,
        NotAnswered::Failed(_) => StatusCode(502),
        NotAnswered::RingTimeout => StatusCode(480),
        NotAnswered::NoTrunk | NotAnswered::Gone | NotAnswered::Aborted => {
            StatusCode::SERVICE_UNAVAILABLE
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

/// Answers an in-dialog request on `leg`: a re-INVITE (hold, resume, a media move) gets
/// our SDP for the same port, INFO and NOTIFY get 200, anything else 501.
fn answer_in_dialog(
    ctx: &CallContext,
    id: u64,
    leg: &mut Leg,
    tx: switchboard_sip::TxKey,
    req: &switchboard_sip_message::Request,
) {
    let mut status = StatusCode::OK;
    let mut body = None;
    if req.method == Method::Invite {
        let local = LocalMedia {
            address: ctx.rtp_pool.ip(),
            port: leg.media.local_port(),
            session_id: id,
            session_version: 2,
            direction: Direction::SendRecv,
        };
        let caps = LocalCaps {
            srtp: leg.media.reinvite_srtp(),
            ..LocalCaps::default()
        };
        match SessionDescription::parse(&req.body)
            .and_then(|o| switchboard_sdp::answer(&o, &caps, &local))
        {
            Ok((ans, neg)) => {
                body = Some(Bytes::from(ans.to_string()));
                leg.media.update_srtp(neg.srtp.as_ref());
                if neg.remote.is_some() && neg.remote != leg.media.session.sdp_remote() {
                    leg.media.session.set_remote(Instant::now(), neg.remote);
                }
            }
            Err(_) => status = StatusCode::NOT_ACCEPTABLE_HERE,
        }
    } else if !matches!(req.method, Method::Info | Method::Notify) {
        status = StatusCode::NOT_IMPLEMENTED;
    }
    let _ = ctx.sip.commands.send(SipCommand::Respond {
        call: leg.call,
        tx,
        status,
        sdp: body,
    });
}

/// How [`bridge`] ended.
enum BridgeEnd {
    /// One side hung up (the other is hung up already).
    Ended(EndReason),
    /// An attended transfer asks for the far end's leg (nothing hung up yet).
    HandOver(tokio::sync::oneshot::Sender<Option<HandOver>>),
}

/// Relays media between the far end (`far`, recorded as the caller side) and the agent
/// (`near`) until one hangs up (then hangs up the other and says who ended it) or an
/// attended transfer asks for the far end.
async fn bridge(
    ctx: &CallContext,
    id: u64,
    far: &mut Leg,
    far_signals: &mut SignalReceiver,
    near: &mut Leg,
    near_signals: &mut SignalReceiver,
    recorder: &mut Option<Recorder>,
) -> BridgeEnd {
    let mut bridge = Bridge::new(far.media.bridge_config(), near.media.bridge_config());
    let origin = Instant::now();
    let (mut tl_far, mut tl_near) = (Timeline::default(), Timeline::default());
    let (mut buf_far, mut buf_near) = (RxBuf::new(), RxBuf::new());
    let (mut buf_rfar, mut buf_rnear) = (RxBuf::new(), RxBuf::new());
    let (rtcp_far, rtcp_near) = (far.media.rtcp.clone(), near.media.rtcp.clone());
    let (sock_far, sock_near) = (far.media.sock.clone(), near.media.sock.clone());
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            r = sock_far.recv_buf_from(buf_far.prepare()) => if let Ok((_, from)) = r {
                let t = Instant::now();
                if let Some(pkt) = far.media.open_rtp(&mut buf_far).and_then(|d| far.media.receive(t, from, d)) {
                    if let Ok(fwd) = bridge.handle_packet(switchboard_media::Leg::A, &pkt) {
                        near.media.send_relayed(t, &fwd);
                    }
                    if let Some(rec) = recorder.as_mut() {
                        if far.media.push_audio(t, &pkt) {
                            while let Some(f) = far.media.poll_decoded(t) {
                                let pos = tl_far.position(f.timestamp, arrival_position(origin, t, f.samples.len()));
                                rec.frame(Side::Caller, pos, t, f.samples);
                            }
                        }
                    }
                }
            },
            r = sock_near.recv_buf_from(buf_near.prepare()) => if let Ok((_, from)) = r {
                let t = Instant::now();
                if let Some(pkt) = near.media.open_rtp(&mut buf_near).and_then(|d| near.media.receive(t, from, d)) {
                    if let Ok(fwd) = bridge.handle_packet(switchboard_media::Leg::B, &pkt) {
                        far.media.send_relayed(t, &fwd);
                    }
                    if let Some(rec) = recorder.as_mut() {
                        if near.media.push_audio(t, &pkt) {
                            while let Some(f) = near.media.poll_decoded(t) {
                                let pos = tl_near.position(f.timestamp, arrival_position(origin, t, f.samples.len()));
                                rec.frame(Side::Agent, pos, t, f.samples);
                            }
                        }
                    }
                }
            },
            r = rtcp_far.recv_buf_from(buf_rfar.prepare()) => if let Ok((_, from)) = r {
                far.media.receive_rtcp(Instant::now(), from, &mut buf_rfar);
            },
            r = rtcp_near.recv_buf_from(buf_rnear.prepare()) => if let Ok((_, from)) = r {
                near.media.receive_rtcp(Instant::now(), from, &mut buf_rnear);
            },
            s = far_signals.recv() => match s {
                None | Some(CallSignal::Ended(_)) => {
                    let _ = ctx.sip.commands.send(SipCommand::Hangup { call: near.call });
                    return BridgeEnd::Ended(EndReason::CustomerHangup);
                }
                Some(CallSignal::InDialog { tx, req, .. }) => answer_in_dialog(ctx, id, far, tx, &req),
                Some(_) => {}
            },
            s = near_signals.recv() => match s {
                None | Some(CallSignal::Ended(_)) => {
                    let _ = ctx.sip.commands.send(SipCommand::Hangup { call: far.call });
                    return BridgeEnd::Ended(EndReason::AgentHangup);
                }
                Some(CallSignal::HandOver(reply)) => return BridgeEnd::HandOver(reply),
                Some(CallSignal::AConfirmed) => near.media.session.confirm(),
                Some(CallSignal::InDialog { tx, req, .. }) => answer_in_dialog(ctx, id, near, tx, &req),
                Some(_) => {}
            },
            _ = tick.tick() => {
                let t = Instant::now();
                for m in [&mut far.media, &mut near.media] {
                    m.session.handle_timeout(t);
                    let _ = m.flush_session();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_hears_the_far_ends_failure() {
        assert_eq!(status_for(&NotAnswered::Failed(StatusCode(486))).0, 486);
        assert_eq!(status_for(&NotAnswered::Failed(StatusCode(404))).0, 404);
        // Our trunk credentials failing is not the agent's business to answer.
        assert_eq!(status_for(&NotAnswered::Failed(StatusCode(407))).0, 502);
        assert_eq!(status_for(&NotAnswered::Failed(StatusCode(180))).0, 502);
        assert_eq!(status_for(&NotAnswered::RingTimeout).0, 480);
        assert_eq!(status_for(&NotAnswered::NoTrunk).0, 503);
    }
}

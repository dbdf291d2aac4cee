//! A new call's first moments: who is calling whom, the first media leg, the answer,
//! and what the call becomes (an IVR run, an agent's internal call to a queue, or a
//! supervisor joining a live call).

use super::*;

pub(super) fn caller_number(nc: &NewCall) -> String {
    nc.invite
        .headers
        .from()
        .ok()
        .and_then(|f| f.uri.user().map(str::to_string))
        .unwrap_or_default()
}

pub(super) fn dialled_number(nc: &NewCall) -> String {
    nc.invite.uri.user().map(str::to_string).unwrap_or_default()
}

/// Runs one inbound call from the INVITE to the end.
pub(crate) async fn run_call(ctx: Arc<CallContext>, nc: NewCall) {
    use tracing::Instrument;
    let id = ctx.next_call_id();
    let span = tracing::info_span!("call", call = id);
    run_call_in_span(ctx, nc, id).instrument(span).await
}

pub(super) async fn run_call_in_span(ctx: Arc<CallContext>, mut nc: NewCall, id: u64) {
    let caller = caller_number(&nc);
    let dnis = dialled_number(&nc);
    tracing::info!(from = %Pii(&caller), to = %dnis, "inbound call");
    // A user's own call (internal, supervision) enters no dialplan entry.
    let tenant = nc
        .agent
        .is_none()
        .then(|| super::tenant::entry_tenant(&ctx.dialplans, &dnis, &caller))
        .flatten();
    ctx.events.append(
        NewEvent::call(
            &id.to_string(),
            Event::CallStart(CallStart {
                caller: caller.clone(),
                dnis: dnis.clone(),
                sip_call_id: nc.invite.headers.call_id().ok().map(str::to_string),
                ..CallStart::default()
            }),
        )
        .tenant(tenant.as_deref()),
    );
    let reject = |status: StatusCode, why: &str| {
        let _ = ctx.sip.commands.send(SipCommand::Reject {
            call: nc.call,
            status,
        });
        let mut end = CallEnd::new(EndReason::Refused, Disposition::Refused);
        end.status = Some(status.0);
        end.detail = Some(why.to_string());
        ctx.events
            .append(NewEvent::call(&id.to_string(), Event::CallEnd(end)));
    };
    // An agent's internal call (a consultation) goes straight to the queue it dials; a
    // supervisor's call to listen-/whisper-/barge-<agent> joins that agent's call.
    let internal = nc.agent.clone();
    let supervise = match (&internal, supervise_target(&dnis)) {
        (Some(who), Some((mode, target))) => {
            if !ctx.cfg.users.iter().any(|u| &u.name == who && u.supervisor) {
                reject(
                    StatusCode::FORBIDDEN,
                    "supervision by a user who is not a supervisor",
                );
                return;
            }
            let Some(tx) = ctx.supervisable.get(&target).map(|r| r.clone()) else {
                reject(
                    StatusCode::NOT_FOUND,
                    "the agent to supervise is not on a call",
                );
                return;
            };
            Some((mode, tx, who.clone()))
        }
        _ => None,
    };
    // A colleague's user name is a consultation call (direct.rs), even when all digits:
    // names win over numbers (docs/decisions/0022).
    let to_name = ctx.cfg.queues.iter().any(|q| q.name == dnis)
        || (internal.is_some() && ctx.cfg.users.iter().any(|u| u.name == dnis));
    if let (None, Some(agent), false) = (&supervise, &internal, to_name) {
        if ctx.cfg.dial_permissions.enabled && crate::agent_dial::looks_like_number(&dnis) {
            // An agent's own call to an outside number (agent_outbound.rs).
            let agent = agent.clone();
            // Boxed: a rare kind of call whose future would size every call's task.
            Box::pin(crate::agent_outbound::run(ctx, nc, id, agent, dnis)).await;
            return;
        }
    }
    if supervise.is_none() && internal.is_some() && !to_name {
        reject(
            StatusCode::NOT_FOUND,
            "internal call to something that is not a queue or a user",
        );
        return;
    }
    let program = ctx.dialplans.read().ok().and_then(|g| g.clone());
    let Some(program) = program else {
        reject(StatusCode::TEMPORARILY_UNAVAILABLE, "no dialplan loaded");
        return;
    };
    let Ok(offer) = SessionDescription::parse(&nc.invite.body) else {
        reject(StatusCode::NOT_ACCEPTABLE_HERE, "no usable SDP offer");
        return;
    };
    let Some(pair) = ctx.rtp_pool.allocate().await else {
        reject(StatusCode::SERVICE_UNAVAILABLE, "RTP ports exhausted");
        return;
    };
    let local_ip = ctx.rtp_pool.ip();
    let port = pair.rtp.local_addr().map(|a| a.port()).unwrap_or(0);
    // SRTP as the calling user's or trunk's `srtp` says (srtp_leg.rs).
    let caps = LocalCaps {
        srtp: crate::srtp_leg::inbound_policy(&ctx.cfg, nc.agent.as_deref(), nc.source.ip())
            .fresh_mode(),
        ..LocalCaps::default()
    };
    let local = LocalMedia {
        address: local_ip,
        port,
        session_id: id,
        session_version: 1,
        direction: Direction::SendRecv,
    };
    let (answer, neg) = match switchboard_sdp::answer(&offer, &caps, &local) {
        Ok(v) => v,
        Err(e) => {
            tracing::info!(error = %e, "offer refused");
            let why = match e {
                switchboard_sdp::SdpError::Srtp(_) => "SRTP policy not met",
                _ => "no common codec",
            };
            reject(StatusCode::NOT_ACCEPTABLE_HERE, why);
            return;
        }
    };
    // Media must have somewhere legitimate to go: no c= line, a bad, multicast or (unless
    // on hold) unspecified address is 488, never a 200 that sends to who knows where.
    if let Err(e) = switchboard_sdp::check_connection(&offer, neg.media_index) {
        tracing::info!(error = %e, "offer refused");
        reject(
            StatusCode::NOT_ACCEPTABLE_HERE,
            "no usable connection address in the SDP offer",
        );
        return;
    }
    let now = Instant::now();
    let peer = ctx.inbound_peer(nc.agent.as_deref(), nc.source.ip());
    let Some(a) = MediaLeg::new(&ctx.leg_settings(), pair, neg, now, peer) else {
        reject(
            StatusCode::NOT_ACCEPTABLE_HERE,
            "codec not supported by the media engine",
        );
        return;
    };
    let _ = ctx.sip.commands.send(SipCommand::AnswerA {
        call: nc.call,
        sdp: Bytes::from(answer.to_string()),
    });
    ctx.events.append(NewEvent::call(
        &id.to_string(),
        Event::CallAnswer {
            codec: a.neg.codec.name.to_string(),
        },
    ));
    // An agent's own call (internal, consultation, supervision) makes them busy for every
    // queue until it ends, however it ends (the guard tells the ACD when dropped).
    let _engaged = internal.as_deref().map(|agent| {
        crate::acd_actor::Engagement::start(&ctx.acd, agent, switchboard_acd::BusyKind::Direct)
    });
    if let Some((mode, tx, who)) = supervise {
        Box::pin(supervise_call(&ctx, id, nc, a, mode, tx, who)).await;
        return;
    }

    let mut task = CallTask::new(&ctx, id, nc.call, caller, dnis, a, program, now, local_ip);
    crate::metrics::Metrics::add(&ctx.metrics.calls_total, 1);
    ctx.metrics
        .calls_active
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Prompts, music and queueing start once the caller's address is confirmed (the ACK,
    // or RTP from it): until then a spoofed INVITE gets no media (no amplification).
    task.awaiting_confirmation = Some(match internal {
        Some(agent) => Start::Internal(agent),
        None => Start::Ivr,
    });
    task.run(&mut nc.signals).await;
    ctx.live.remove(crate::live_calls::LiveCallId(id));
    ctx.metrics
        .calls_active
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}

impl CallTask {
    /// A call task over leg A `a` (answered), in the IVR phase, not started yet.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        ctx: &Arc<CallContext>,
        id: u64,
        sip_call: switchboard_sip::CallKey,
        caller: String,
        dnis: String,
        a: MediaLeg,
        program: Arc<Program>,
        now: Instant,
        local_ip: IpAddr,
    ) -> CallTask {
        let (queue_tx, queue_rx) = mpsc::channel(64);
        let (http_tx, http_rx) = mpsc::channel(8);
        CallTask {
            ivr: Interpreter::new(program),
            player: PromptPlayer::new(switchboard_media::PlayerConfig {
                ptime: Duration::from_millis(u64::from(ctx.cfg.media.ptime)),
                initial_timestamp: 0,
                max_lag: Duration::from_millis(100),
            }),
            inband: DtmfDetector::new(switchboard_media::DtmfConfig::default()),
            b_player: None,
            ctx: ctx.clone(),
            id,
            sip_call,
            caller,
            dnis,
            a,
            b: None,
            b_offer: None,
            b_pending: None,
            queue_req: None,
            moved_at: None,
            tl_a: Timeline::default(),
            tl_b: Timeline::default(),
            bridge: None,
            lang: Lang::En,
            flow: switchboard_callflow::Call::new(now),
            dialing: None,
            forks: Vec::new(),
            extra_acd_calls: Vec::new(),
            sup_rx: None,
            supervision: None,
            sup_stop: None,
            queue_tx,
            queue_rx,
            http_tx,
            http_rx,
            recorder: None,
            rec_origin: None,
            b_answered_at: None,
            b_answer_arrived_at: None,
            first_relay_at: None,
            relayed: 0,
            local_ip,
            awaiting_confirmation: None,
            control_rx: ctx.live.register(crate::live_calls::LiveCallId(id)),
            started_wall: Utc::now(),
            api_hangup_by: None,
            campaign: None,
            callee_leads: false,
            direct: None,
            reach_rx: None,
            digits_taken: 0,
        }
    }
}

//! Placing an ACD callback: when a callback entry reaches the head of its queue and an
//! agent is reserved, this task calls the agent and the customer (in the configured
//! order), bridges them, records the call and reports the outcome to the ACD, which
//! retries failed attempts later without losing the entry's place.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchboard_events::{CallEnd, CallStart, Disposition, EndReason, Event};
use switchboard_media::{Bridge, Side};
use switchboard_sdp::{Direction, LocalCaps, LocalMedia, SessionDescription};
use switchboard_sip::CallKey;
use tokio::sync::oneshot;

use crate::acd_actor::{AcdCommand, CallbackJob};
use crate::call::CallContext;
use crate::call_signals::CallSignal;
use crate::event_log::NewEvent;
use crate::media_leg::{arrival_position, MediaLeg, RxBuf, Timeline};
use crate::recorder::Recorder;
use crate::sip_driver::{OriginateTarget, SipCommand};

/// How long a leg may ring before the attempt counts as failed.
const RING_LIMIT: Duration = Duration::from_secs(30);

/// An originated leg that answered.
pub(crate) struct Dialled {
    pub(crate) call: CallKey,
    pub(crate) media: MediaLeg,
    pub(crate) signals: crate::call_signals::SignalReceiver,
}

/// Who a callback leg calls.
pub(crate) enum Party {
    /// The agent's registered phone.
    Agent(String),
    /// The customer, through the carrier trunks, presenting the queue's caller ID.
    Customer {
        number: String,
        caller_id: Option<String>,
    },
}

/// Dials one leg and waits for it to answer; None when it fails or rings too long.
pub(crate) async fn dial(ctx: &CallContext, id: u64, to: Party) -> Option<Dialled> {
    dial_until(ctx, id, to, std::future::pending()).await
}

/// [`dial`], given up as soon as `abort` completes: a ringing leg is cancelled (a
/// transfer whose caller hung up).
pub(crate) async fn dial_until(
    ctx: &CallContext,
    id: u64,
    to: Party,
    abort: impl std::future::Future<Output = ()>,
) -> Option<Dialled> {
    tokio::pin!(abort);
    let pair = ctx.rtp_pool.allocate().await?;
    let port = pair.rtp.local_addr().ok()?.port();
    let local = LocalMedia {
        address: ctx.rtp_pool.ip(),
        port,
        session_id: id,
        session_version: 1,
        direction: Direction::SendRecv,
    };
    let user = match to {
        Party::Agent(user) => user,
        Party::Customer { number, caller_id } => {
            let offers =
                crate::trunk_offer::TrunkOffers::new(&ctx.cfg, &LocalCaps::default(), &local);
            let sdp = offers.bodies();
            let answered = crate::outbound_call::dial_number_until(
                ctx,
                id,
                &number,
                caller_id.as_deref(),
                sdp,
                RING_LIMIT,
                abort,
            )
            .await;
            let a = match answered {
                Ok(a) => a,
                Err(why) => {
                    tracing::info!(?why, "callback: the customer's leg was not answered");
                    return None;
                }
            };
            let neg = offers.negotiate(a.trunk.0, &a.sdp);
            let peer = ctx.trunk_peer(a.trunk.0);
            let media =
                neg.and_then(|n| MediaLeg::new(&ctx.leg_settings(), pair, n, Instant::now(), peer));
            let Some(media) = media else {
                let _ = ctx.sip.commands.send(SipCommand::Hangup { call: a.call });
                return None;
            };
            return Some(Dialled {
                call: a.call,
                media,
                signals: a.signals,
            });
        }
    };
    let caps = LocalCaps {
        srtp: ctx.user_srtp(&user).fresh_mode(),
        ..LocalCaps::default()
    };
    let offer = switchboard_sdp::offer(&caps, &local);
    let to = OriginateTarget::User(user.clone());
    let (tx, mut signals) = crate::call_signals::lane();
    let (reply_tx, reply_rx) = oneshot::channel();
    ctx.sip
        .commands
        .send(SipCommand::Originate {
            to,
            sdp: Bytes::from(offer.to_string()),
            signals: tx,
            reply: reply_tx,
        })
        .ok()?;
    let call = reply_rx.await.ok()??;
    let deadline = tokio::time::Instant::now() + RING_LIMIT;
    loop {
        let next = tokio::select! {
            r = tokio::time::timeout_at(deadline, signals.recv()) => r,
            () = &mut abort => {
                let _ = ctx.sip.commands.send(SipCommand::Hangup { call });
                return None;
            }
        };
        match next {
            Ok(Some(CallSignal::BAnswered(sdp))) => {
                let neg = SessionDescription::parse(&sdp)
                    .ok()
                    .and_then(|a| switchboard_sdp::process_answer(&offer, &a, &caps).ok());
                let peer = ctx.user_peer(&user);
                let media = neg.and_then(|n| {
                    MediaLeg::new(&ctx.leg_settings(), pair, n, Instant::now(), peer)
                });
                return match media {
                    Some(media) => Some(Dialled {
                        call,
                        media,
                        signals,
                    }),
                    None => {
                        let _ = ctx.sip.commands.send(SipCommand::Hangup { call });
                        None
                    }
                };
            }
            Ok(Some(CallSignal::BFailed(_) | CallSignal::Ended(_))) | Ok(None) => return None,
            Ok(Some(_)) => continue,
            Err(_) => {
                let _ = ctx.sip.commands.send(SipCommand::Hangup { call });
                return None;
            }
        }
    }
}

/// Runs one callback attempt to the end.
pub(crate) async fn run_callback(ctx: Arc<CallContext>, job: CallbackJob) {
    // A call in progress until this task ends: shutdown waits for its events.
    let _active = crate::metrics::ActiveCall::new(ctx.metrics.clone());
    let id = ctx.next_call_id();
    let log = |event: Event| {
        NewEvent::call(&id.to_string(), event)
            .queue(&job.queue)
            .agent(&job.agent)
    };
    ctx.events.append(log(Event::CallStart(CallStart {
        caller: job.number.clone(),
        dnis: String::new(),
        sip_call_id: None,
        callback_for: Some(job.call.to_string()),
        attempt: Some(job.attempt),
        campaign: None,
    })));
    let agent = Party::Agent(job.agent.clone());
    let customer = Party::Customer {
        number: job.number.clone(),
        caller_id: ctx
            .cfg
            .queues
            .iter()
            .find(|q| q.name == job.queue)
            .and_then(|q| q.caller_id.clone()),
    };
    let (first, second) = if job.agent_first {
        (agent, customer)
    } else {
        (customer, agent)
    };
    let fail = |why: &str| {
        let _ = ctx.acd.send(AcdCommand::CallbackResult {
            call: job.call,
            connected: false,
        });
        let mut end = CallEnd::new(EndReason::CallbackLegFailed, Disposition::CallbackFailed);
        end.detail = Some(why.to_string());
        end.duration_s = Some(0.0);
        ctx.events.append(log(Event::CallEnd(end)));
    };
    let Some(mut one) = dial(&ctx, id, first).await else {
        fail("first leg did not answer");
        return;
    };
    let Some(mut two) = dial(&ctx, id, second).await else {
        let _ = ctx.sip.commands.send(SipCommand::Hangup { call: one.call });
        fail("second leg did not answer");
        return;
    };
    let _ = ctx.acd.send(AcdCommand::CallbackResult {
        call: job.call,
        connected: true,
    });
    // Leg A of the recording is the customer, leg B the agent, as for inbound calls.
    let (cust, agent) = if job.agent_first {
        (&mut two, &mut one)
    } else {
        (&mut one, &mut two)
    };
    let mut bridge = Bridge::new(cust.media.bridge_config(), agent.media.bridge_config());
    let now = Instant::now();
    ctx.events.append(log(Event::CallBridge { wait_s: 0.0 }));
    ctx.events.append(log(Event::CallConnected {}));
    let mut recorder = Recorder::for_queue_call(&ctx.cfg, id, &job.queue, None);
    if let Some(r) = &recorder {
        ctx.events.append(log(Event::RecordingStart {
            path: r.path.display().to_string(),
        }));
    }
    let (mut tl_c, mut tl_a) = (Timeline::default(), Timeline::default());
    let mut buf_c = RxBuf::new();
    let mut buf_a = RxBuf::new();
    let (mut buf_rc, mut buf_ra) = (RxBuf::new(), RxBuf::new());
    let (rtcp_c, rtcp_a) = (cust.media.rtcp.clone(), agent.media.rtcp.clone());
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let reason;
    loop {
        tokio::select! {
            r = cust.media.sock.recv_buf_from(buf_c.prepare()) => if let Ok((_, from)) = r {
                let t = Instant::now();
                if let Some(pkt) = cust.media.open_rtp(&mut buf_c).and_then(|d| cust.media.receive(t, from, d)) {
                    if let Ok(fwd) = bridge.handle_packet(switchboard_media::Leg::A, &pkt) {
                        agent.media.send_relayed(t, &fwd);
                    }
                    if let Some(rec) = recorder.as_mut() {
                        if cust.media.push_audio(t, &pkt) {
                            while let Some(f) = cust.media.poll_decoded(t) {
                                let pos = tl_c.position(f.timestamp, arrival_position(now, t, f.samples.len()));
                                rec.frame(Side::Caller, pos, t, f.samples);
                            }
                        }
                    }
                }
            },
            r = agent.media.sock.recv_buf_from(buf_a.prepare()) => if let Ok((_, from)) = r {
                let t = Instant::now();
                if let Some(pkt) = agent.media.open_rtp(&mut buf_a).and_then(|d| agent.media.receive(t, from, d)) {
                    if let Ok(fwd) = bridge.handle_packet(switchboard_media::Leg::B, &pkt) {
                        cust.media.send_relayed(t, &fwd);
                    }
                    if let Some(rec) = recorder.as_mut() {
                        if agent.media.push_audio(t, &pkt) {
                            while let Some(f) = agent.media.poll_decoded(t) {
                                let pos = tl_a.position(f.timestamp, arrival_position(now, t, f.samples.len()));
                                rec.frame(Side::Agent, pos, t, f.samples);
                            }
                        }
                    }
                }
            },
            r = rtcp_c.recv_buf_from(buf_rc.prepare()) => if let Ok((_, from)) = r {
                cust.media.receive_rtcp(Instant::now(), from, &mut buf_rc);
            },
            r = rtcp_a.recv_buf_from(buf_ra.prepare()) => if let Ok((_, from)) = r {
                agent.media.receive_rtcp(Instant::now(), from, &mut buf_ra);
            },
            s = cust.signals.recv() => if matches!(s, None | Some(CallSignal::Ended(_))) {
                reason = EndReason::CustomerHangup;
                let _ = ctx.sip.commands.send(SipCommand::Hangup { call: agent.call });
                break;
            },
            s = agent.signals.recv() => if matches!(s, None | Some(CallSignal::Ended(_))) {
                reason = EndReason::AgentHangup;
                let _ = ctx.sip.commands.send(SipCommand::Hangup { call: cust.call });
                break;
            },
            _ = tick.tick() => {
                let t = Instant::now();
                for m in [&mut cust.media, &mut agent.media] {
                    m.session.handle_timeout(t);
                    let _ = m.flush_session();
                }
            }
        }
    }
    let talk = now.elapsed().as_secs_f64();
    let _ = ctx.acd.send(AcdCommand::CallEnded { call: job.call });
    let mut data = CallEnd::new(reason, Disposition::Callback);
    data.talk_s = Some(talk);
    data.duration_s = Some(talk);
    if let Some(rec) = recorder.take() {
        data.recording = Some(rec.path.display().to_string());
    }
    data.quality = vec![
        cust.media.quality(switchboard_events::Party::Caller),
        agent.media.quality(switchboard_events::Party::Agent),
    ];
    ctx.events.append(log(Event::CallEnd(data)));
}

//! Placing an ACD callback: when a callback entry reaches the head of its queue and an
//! agent is reserved, this task calls the agent and the customer (in the configured
//! order), bridges them, records the call and reports the outcome to the ACD, which
//! retries failed attempts later without losing the entry's place. The decisions (the
//! legs' order, the ring timeout, the bridge, `callback` / `callback_failed`) are the
//! call-flow core's (`Call::outbound`, decision 0042); the bridge is `placed_call.rs`'s.
//! A REFER from the agent (blind, or attended with Replaces) turns the bridged callback
//! into a call task that carries the transfer out, as for an agent's own call
//! (`call/placed_transfer.rs`); the agent wraps up once their leg is released.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchboard_callflow::{Call, Dial, DialFailure, Outbound, Purpose};
use switchboard_events::{CallStart, EndReason, Event};
use switchboard_sdp::{Direction, LocalCaps, LocalMedia, SessionDescription};
use switchboard_sip::CallKey;
use tokio::sync::oneshot;

use crate::acd_actor::{AgentHold, CallbackAgent, CallbackJob};
use crate::call::CallContext;
use crate::call_signals::CallSignal;
use crate::event_log::NewEvent;
use crate::media_leg::MediaLeg;
use crate::outbound_call::NotAnswered;
use crate::placed_call::{self, BridgeEnd, Leg, Step};
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
    /// The agent's registered phone; it shows `caller` (the transferred caller, the
    /// customer of a callback) when there is one.
    Agent {
        user: String,
        caller: Option<String>,
    },
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
    dial_leg(ctx, id, to, abort).await.ok()
}

/// Dials one leg and waits for its answer, or says why it was not answered (`Aborted`
/// when `abort` completed first: the leg is cancelled).
pub(crate) async fn dial_leg(
    ctx: &CallContext,
    id: u64,
    to: Party,
    abort: impl std::future::Future<Output = ()>,
) -> Result<Dialled, DialFailure> {
    tokio::pin!(abort);
    let Some(pair) = ctx.rtp_pool.allocate().await else {
        return Err(DialFailure::Refused {
            status: 503,
            why: "rtp_ports_exhausted".to_string(),
        });
    };
    let port = pair
        .rtp
        .local_addr()
        .map_err(|_| DialFailure::Unusable)?
        .port();
    let local = LocalMedia {
        address: ctx.rtp_pool.ip(),
        port,
        session_id: id,
        session_version: 1,
        direction: Direction::SendRecv,
    };
    let (user, caller) = match to {
        Party::Agent { user, caller } => (user, caller),
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
                    tracing::info!(why = %why.detail(), "callback: the customer's leg was not answered");
                    return Err(crate::placed_call::failure_of(why));
                }
            };
            let neg = offers.negotiate(a.trunk.0, &a.sdp);
            let peer = ctx.trunk_peer(a.trunk.0);
            let media =
                neg.and_then(|n| MediaLeg::new(&ctx.leg_settings(), pair, n, Instant::now(), peer));
            let Some(media) = media else {
                let _ = ctx.sip.commands.send(SipCommand::Hangup { call: a.call });
                return Err(DialFailure::Unusable);
            };
            return Ok(Dialled {
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
    let to = OriginateTarget::User {
        user: user.clone(),
        caller,
    };
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
        .map_err(|_| DialFailure::Shutdown)?;
    // No reachable contact for the user: as a phone that is not there.
    let lost = || crate::placed_call::failure_of(NotAnswered::lane_closed(&ctx.sip));
    let call = reply_rx
        .await
        .map_err(|_| lost())?
        .ok_or(DialFailure::Status(480))?;
    let deadline = tokio::time::Instant::now() + RING_LIMIT;
    loop {
        let next = tokio::select! {
            r = tokio::time::timeout_at(deadline, signals.recv()) => r,
            () = &mut abort => {
                let _ = ctx.sip.commands.send(SipCommand::Hangup { call });
                return Err(DialFailure::Aborted);
            }
        };
        match next {
            Ok(Some(CallSignal::BAnswered(sdp, _))) => {
                let neg = SessionDescription::parse(&sdp)
                    .ok()
                    .and_then(|a| switchboard_sdp::process_answer(&offer, &a, &caps).ok());
                let peer = ctx.user_peer(&user);
                let media = neg.and_then(|n| {
                    MediaLeg::new(&ctx.leg_settings(), pair, n, Instant::now(), peer)
                });
                return match media {
                    Some(media) => Ok(Dialled {
                        call,
                        media,
                        signals,
                    }),
                    None => {
                        let _ = ctx.sip.commands.send(SipCommand::Hangup { call });
                        Err(DialFailure::Unusable)
                    }
                };
            }
            Ok(Some(CallSignal::BFailed(status))) => return Err(DialFailure::Status(status.0)),
            // Ended before any answer: the phone went away.
            Ok(Some(CallSignal::Ended(_))) => return Err(DialFailure::Status(480)),
            Ok(None) => return Err(lost()),
            Ok(Some(_)) => continue,
            Err(_) => {
                let _ = ctx.sip.commands.send(SipCommand::Hangup { call });
                return Err(DialFailure::RingTimeout);
            }
        }
    }
}

/// Runs one callback attempt to the end: the flow (`Call::outbound`, purpose `Callback`)
/// decides the order of the legs, the ring timeout, the bridge and the end; this task
/// dials and relays (`placed_call.rs`).
pub(crate) async fn run_callback(ctx: Arc<CallContext>, job: CallbackJob) {
    // A call in progress until this task ends: shutdown waits for its events.
    let _active = crate::metrics::ActiveCall::new(ctx.metrics.clone());
    let id = ctx.next_call_id();
    let log = |event: Event| NewEvent::call(&id.to_string(), event);
    ctx.events.append(
        log(Event::CallStart(CallStart {
            caller: job.number.clone(),
            dnis: String::new(),
            sip_call_id: None,
            callback_for: Some(job.call.to_string()),
            attempt: Some(job.attempt),
            campaign: None,
        }))
        .queue(&job.queue)
        .agent(&job.agent),
    );
    let caller_id = ctx
        .cfg
        .queues
        .iter()
        .find(|q| q.name == job.queue)
        .and_then(|q| q.caller_id.clone());
    let agent = Dial::Agent(job.agent.clone());
    let customer = Dial::Number(job.number.clone());
    let legs = if job.agent_first {
        vec![agent, customer]
    } else {
        vec![customer, agent]
    };
    let mut flow = Call::outbound(
        Instant::now(),
        Outbound {
            purpose: Purpose::Callback {
                queue: job.queue.clone(),
                agent: job.agent.clone(),
            },
            legs,
            ring_timeout: RING_LIMIT,
        },
    );
    // The answered legs: the customer's and the agent's.
    let (mut cust, mut agent): (Option<Dialled>, Option<Dialled>) = (None, None);
    let hang_up = |d: &Option<Dialled>| {
        if let Some(d) = d {
            let _ = ctx.sip.commands.send(SipCommand::Hangup { call: d.call });
        }
    };
    loop {
        match placed_call::next_step(&ctx, &mut flow, Some(job.call), &log) {
            Step::Dial(to) => {
                let is_agent = matches!(to, Dial::Agent(_));
                let party = match to {
                    Dial::Agent(user) => Party::Agent {
                        user,
                        caller: Some(job.number.clone()),
                    },
                    Dial::Number(number) => Party::Customer {
                        number,
                        caller_id: caller_id.clone(),
                    },
                };
                let dialled = dial_leg(&ctx, id, party, placed_call::deadline(&flow)).await;
                let now = Instant::now();
                match dialled {
                    Ok(d) => {
                        if is_agent {
                            agent = Some(d);
                        } else {
                            cust = Some(d);
                        }
                        flow.handle_dial_answered(now);
                    }
                    // The flow's ring timeout passed.
                    Err(DialFailure::Aborted) => flow.handle_timeout(now, false),
                    Err(f) => flow.handle_dial_failed(now, f),
                }
            }
            Step::Ended(end) => {
                hang_up(&cust);
                hang_up(&agent);
                ctx.events.append(
                    log(Event::CallEnd(placed_call::call_end(&flow, &end)))
                        .queue(&job.queue)
                        .agent(&job.agent),
                );
                return;
            }
            Step::Originator(_) | Step::Idle => break,
        }
    }
    let (Some(cust), Some(agent)) = (cust, agent) else {
        tracing::error!("callback: the flow bridged legs that did not answer");
        return;
    };
    // Leg A of the recording is the customer, leg B the agent, as for inbound calls.
    let mut recorder = Recorder::for_queue_call(&ctx.cfg, id, &job.queue, None);
    if let Some(r) = &recorder {
        ctx.events.append(
            log(Event::RecordingStart {
                path: r.path.display().to_string(),
            })
            .queue(&job.queue)
            .agent(&job.agent),
        );
    }
    let (mut cust_signals, mut agent_signals) = (cust.signals, agent.signals);
    let mut far = Leg {
        call: cust.call,
        media: cust.media,
    };
    let mut near = Leg {
        call: agent.call,
        media: agent.media,
    };
    // Listed in the live-calls API while bridged (until a call task takes it over).
    let tenant = ctx
        .cfg
        .queues
        .iter()
        .find(|q| q.name == job.queue)
        .and_then(|q| q.tenant.clone());
    let mut listing = crate::placed_listing::PlacedListing::callback(
        &ctx.live,
        id,
        &job.agent,
        &job.number,
        &job.queue,
        tenant.as_deref(),
        flow.started(),
    );
    let ended = loop {
        let mut placed = placed_call::Placed {
            ctx: &ctx,
            id,
            flow: &mut flow,
            acd_call: Some(job.call),
            log: &log,
            transferable: true,
            listing: Some(&mut listing),
        };
        let ended = placed_call::bridge(
            &mut placed,
            &mut far,
            &mut cust_signals,
            &mut near,
            &mut agent_signals,
            &mut recorder,
            false,
        )
        .await;
        let BridgeEnd::Refer { tx, req, origin } = ended else {
            break ended;
        };
        // The agent transfers the customer (blind, or attended to their consultation):
        // the call goes on as a call task (call/placed_transfer.rs), the agent busy under
        // the callback's ACD call until their leg is released.
        let referred = crate::call::ReferredPlacedCall {
            id,
            flow,
            far,
            far_signals: cust_signals,
            near,
            recorder,
            rec_origin: origin,
            held: AgentHold::Callback(CallbackAgent::new(&ctx.acd, job.call)),
            number: job.number.clone(),
            tx,
            refer: *req,
        };
        match crate::call::transfer_placed_call(&ctx, referred).await {
            Ok(()) => return,
            Err(back) => {
                // No dialplan to run a call task with: the REFER was refused, the call
                // stays as it is (the hold goes unused: the flow ends the ACD call).
                let back = *back;
                if let AgentHold::Callback(hold) = back.held {
                    hold.disarm();
                }
                (flow, far, cust_signals, near, recorder) = (
                    back.flow,
                    back.far,
                    back.far_signals,
                    back.near,
                    back.recorder,
                );
            }
        }
    };
    // The flow decides what that side's hang-up means (`customer_hangup`, ...); a hang-up
    // over the API (the bridge hung up both legs) ends it `api_hangup` with `by`.
    let mut by = None;
    let end = match ended {
        BridgeEnd::Ended(h) => flow.handle_hangup(Instant::now(), h),
        BridgeEnd::ApiHangup(who) => {
            by = Some(who);
            flow.handle_end(Instant::now(), EndReason::ApiHangup)
        }
        // Neither happens here (no handover; a REFER is taken by the loop above).
        BridgeEnd::HandOver(_) | BridgeEnd::Refer { .. } => flow.handle_hangup(
            Instant::now(),
            switchboard_callflow::Hangup::Local(EndReason::LocalHangup),
        ),
    };
    drop(listing);
    let Some(end) = end else {
        return;
    };
    // The ACD hears the end (the agent wraps up) before the log does.
    let _ = placed_call::next_step(&ctx, &mut flow, Some(job.call), &log);
    let mut data = placed_call::call_end(&flow, &end);
    data.by = by;
    if let Some(rec) = recorder.take() {
        data.recording = Some(rec.path.display().to_string());
    }
    data.quality = vec![
        far.media.quality(switchboard_events::Party::Caller),
        near.media.quality(switchboard_events::Party::Agent),
    ];
    ctx.events.append(
        log(Event::CallEnd(data))
            .queue(&job.queue)
            .agent(&job.agent),
    );
}

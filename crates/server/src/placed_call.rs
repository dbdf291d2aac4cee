//! The driver of a call the engine places itself (a callback, an agent's own call): a
//! `callflow::Call` started with `Call::outbound` decides what to dial, when a leg rang too
//! long, when the legs are bridged and how the call ends (decision 0042); this file carries
//! those intents out and relays the media of the two answered legs until one side hangs
//! up. `callback.rs` and `agent_outbound.rs` dial their legs (they differ: a user's phone,
//! a trunk, the agent's own INVITE) and share everything from here on. Campaign calls use
//! the same flow for their dialling (`call/campaign_leg.rs`) and then run as a call task.
//!
//! It is not a call task: there is no IVR, queue or prompt player here.

use std::time::{Duration, Instant};

use bytes::Bytes;
use switchboard_callflow::{
    AcdRequest, Call, Dial, DialFailure, Ending, Hangup, InDialog, LegEnd, Output, ReOffer,
    SipRequest,
};
use switchboard_events::{CallEnd, Event, Party, SupervisionEnd};
use switchboard_media::{Bridge, Leg as BridgeLeg, Side};
use switchboard_sdp::{Direction, LocalCaps, LocalMedia, SessionDescription};
use switchboard_sip::CallKey;
use switchboard_sip_message::{Method, StatusCode};

use crate::acd_actor::AcdCommand;
use crate::bridge_crossing::{cross, flush, Crossing, RecordedSide};
use crate::call::CallContext;
use crate::call_signals::{CallSignal, SignalReceiver};
use crate::event_log::NewEvent;
use crate::media_leg::{HandOver, MediaLeg, RxBuf, Timeline};
use crate::outbound_call::NotAnswered;
use crate::placed_supervision::{PlacedSupervision, Speaker, SupervisionStep};
use crate::recorder::Recorder;
use crate::sip_driver::SipCommand;

/// What the flow wants next.
pub(crate) enum Step {
    /// Dial this leg; report the answer or failure to the flow.
    Dial(Dial),
    /// Answer (`Some(status)`: refuse) the originator's INVITE (an agent's own call).
    Originator(Option<u16>),
    /// The call ended (the driver hangs up its legs and logs `call.end` from this).
    Ended(Box<Ending>),
    /// Nothing more to do now: the legs are bridged (or a campaign call answered).
    Idle,
}

/// Carries out the flow's intents up to the next one the driver must act on. ACD
/// requests go to the ACD as `acd_call`'s; events are logged with `log`.
pub(crate) fn next_step(
    ctx: &CallContext,
    flow: &mut Call,
    acd_call: Option<u64>,
    log: &dyn Fn(Event) -> NewEvent,
) -> Step {
    while let Some(out) = flow.poll_output() {
        match out {
            Output::Dial(d) => return Step::Dial(d),
            Output::Sip(SipRequest::AnswerOriginator) => return Step::Originator(None),
            Output::Sip(SipRequest::RejectOriginator { status }) => {
                return Step::Originator(Some(status))
            }
            // The dial in progress was given up with the flow's deadline already.
            Output::Sip(_) => {}
            Output::Acd(req) => {
                let Some(call) = acd_call else { continue };
                let cmd = match req {
                    AcdRequest::CallbackResult { connected } => {
                        AcdCommand::CallbackResult { call, connected }
                    }
                    AcdRequest::CallEnded => AcdCommand::CallEnded { call },
                    _ => continue,
                };
                let _ = ctx.acd.send(cmd);
            }
            Output::Event(l) => ctx
                .events
                .append(log(l.event).queue(&l.queue).agent(&l.agent)),
            Output::HangUp(reason) => {
                if let Some(end) = flow.handle_end(Instant::now(), reason) {
                    // The ACD hears the result before the driver logs the end.
                    let rest = next_step(ctx, flow, acd_call, log);
                    debug_assert!(matches!(rest, Step::Idle));
                    return Step::Ended(Box::new(end));
                }
            }
            Output::Ivr(_) | Output::Media(_) => {}
        }
    }
    Step::Idle
}

/// The `call.end` of an ending the flow decided: its reason, disposition, times, and for
/// an unanswered call the failure's status and words.
pub(crate) fn call_end(flow: &Call, end: &Ending) -> CallEnd {
    let mut data = CallEnd::new(end.reason, end.disposition);
    data.duration_s = Some(end.duration_s);
    data.talk_s = end.talk_s;
    if let Some(f) = flow.dial_failure() {
        data.status = f.status();
        data.detail = Some(f.detail());
    }
    data
}

/// The flow's words for a trunk call that was not answered.
pub(crate) fn failure_of(why: NotAnswered) -> DialFailure {
    match why {
        NotAnswered::NoTrunk => DialFailure::NoTrunk,
        NotAnswered::Failed(s) => DialFailure::Status(s.0),
        NotAnswered::RingTimeout => DialFailure::RingTimeout,
        NotAnswered::Gone => DialFailure::Shutdown,
        NotAnswered::Lost => DialFailure::InternalError,
        NotAnswered::Aborted => DialFailure::Aborted,
        NotAnswered::Ended(reason) => DialFailure::Ended(reason),
    }
}

/// Completes at the flow's next deadline (never when it has none).
pub(crate) async fn deadline(flow: &Call) {
    match flow.poll_timeout() {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// One leg of the bridge: its SIP call and its media.
pub(crate) struct Leg {
    pub(crate) call: CallKey,
    pub(crate) media: MediaLeg,
}

/// How [`bridge`] ended.
pub(crate) enum BridgeEnd {
    /// One side hung up (the other is hung up already): how, with the far end as the
    /// `caller` party and the near end as the `agent` (the flow decides the end reason:
    /// `Call::hangup_reason`).
    Ended(Hangup),
    /// An attended transfer asks for the far end's leg (nothing hung up yet).
    HandOver(tokio::sync::oneshot::Sender<Option<HandOver>>),
    /// The agent sent a REFER (blind, or attended with `Replaces`), unanswered yet: the
    /// call becomes a call task, which carries the transfer out
    /// (`call::transfer_placed_call`). The recording started at `origin`.
    Refer {
        tx: switchboard_sip::TxKey,
        req: Box<switchboard_sip_message::Request>,
        origin: Instant,
    },
    /// A supervisor or admin hung the call up over the API (`by`: the token's name);
    /// both legs are hung up already.
    ApiHangup(String),
}

/// The flow of a placed call, with what carrying out its intents needs.
pub(crate) struct Placed<'a, 'l> {
    pub(crate) ctx: &'a CallContext,
    /// The call's id (its SDP session id).
    pub(crate) id: u64,
    pub(crate) flow: &'a mut Call,
    /// The ACD's call of a callback (its requests go there).
    pub(crate) acd_call: Option<u64>,
    pub(crate) log: &'a (dyn Fn(Event) -> NewEvent + Sync),
    /// The agent's REFER ends the bridge as [`BridgeEnd::Refer`] (an agent's own call, a
    /// callback); otherwise the flow answers it 501.
    pub(crate) transferable: bool,
    /// The call's entry in the live-calls API (an agent's own call): its hang-up ends the
    /// bridge as [`BridgeEnd::ApiHangup`].
    pub(crate) listing: Option<&'a mut crate::placed_listing::PlacedListing<'l>>,
}

/// Completes when the API asks to hang the listed call up (never without a listing).
async fn api_hangup(listing: &mut Option<&mut crate::placed_listing::PlacedListing<'_>>) -> String {
    match listing {
        Some(l) => l.hangup_asked().await,
        None => std::future::pending().await,
    }
}

/// Relays media between the far end (`far`: the customer, recorded as the caller side)
/// and the near end (`near`: the agent) until one hangs up (then hangs up the other) or,
/// when `hand_over` allows it, an attended transfer asks for the far end (refused
/// otherwise). In-dialog requests on either leg are answered as the flow decides.
pub(crate) async fn bridge(
    placed: &mut Placed<'_, '_>,
    far: &mut Leg,
    far_signals: &mut SignalReceiver,
    near: &mut Leg,
    near_signals: &mut SignalReceiver,
    recorder: &mut Option<Recorder>,
    hand_over: bool,
) -> BridgeEnd {
    let ctx = placed.ctx;
    let mut bridge = Bridge::new(far.media.bridge_config(), near.media.bridge_config());
    let origin = Instant::now();
    let (mut tl_far, mut tl_near) = (Timeline::default(), Timeline::default());
    let (mut buf_far, mut buf_near) = (RxBuf::new(), RxBuf::new());
    let (mut buf_rfar, mut buf_rnear) = (RxBuf::new(), RxBuf::new());
    let (rtcp_far, rtcp_near) = (far.media.rtcp.clone(), near.media.rtcp.clone());
    let (sock_far, sock_near) = (far.media.sock.clone(), near.media.sock.clone());
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Supervisors find the call by its agent while it is bridged (`placed_supervision.rs`).
    let agent = placed.flow.phase().agent().filter(|a| !a.is_empty());
    let mut sup = agent.map(|a| PlacedSupervision::offer(ctx, a));
    let end = loop {
        tokio::select! {
            r = sock_far.recv_buf_from(buf_far.prepare()) => if let Ok((_, from)) = r {
                let t = Instant::now();
                if let Some(pkt) = far.media.open_rtp(&mut buf_far).and_then(|d| far.media.receive(t, from, d)) {
                    let way = Way { from: BridgeLeg::A, side: Side::Caller, tl: &mut tl_far, origin, speaker: Speaker::Far };
                    relay_packet(t, &mut bridge, way, &pkt, (&mut far.media, &mut near.media), recorder, &mut sup);
                }
            },
            r = sock_near.recv_buf_from(buf_near.prepare()) => if let Ok((_, from)) = r {
                let t = Instant::now();
                if let Some(pkt) = near.media.open_rtp(&mut buf_near).and_then(|d| near.media.receive(t, from, d)) {
                    let way = Way { from: BridgeLeg::B, side: Side::Agent, tl: &mut tl_near, origin, speaker: Speaker::Near };
                    relay_packet(t, &mut bridge, way, &pkt, (&mut near.media, &mut far.media), recorder, &mut sup);
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
                    flush_legs(&mut bridge, recorder, far, near, (&mut tl_far, &mut tl_near), origin);
                    let _ = ctx.sip.commands.send(SipCommand::Hangup { call: near.call });
                    break BridgeEnd::Ended(ended_as(s, Party::Caller));
                }
                Some(CallSignal::InDialog { tx, req, .. }) => answer_in_dialog(placed, Party::Caller, far, tx, &req),
                Some(_) => {}
            },
            s = near_signals.recv() => match s {
                None | Some(CallSignal::Ended(_)) => {
                    flush_legs(&mut bridge, recorder, far, near, (&mut tl_far, &mut tl_near), origin);
                    let _ = ctx.sip.commands.send(SipCommand::Hangup { call: far.call });
                    break BridgeEnd::Ended(ended_as(s, Party::Agent));
                }
                Some(CallSignal::HandOver(reply)) if hand_over => break BridgeEnd::HandOver(reply),
                Some(CallSignal::HandOver(reply)) => {
                    let _ = reply.send(None);
                }
                Some(CallSignal::AConfirmed) => near.media.session.confirm(),
                Some(CallSignal::InDialog { tx, req, .. })
                    if placed.transferable && req.method == Method::Refer =>
                {
                    break BridgeEnd::Refer { tx, req, origin };
                }
                Some(CallSignal::InDialog { tx, req, .. }) => answer_in_dialog(placed, Party::Agent, near, tx, &req),
                Some(_) => {}
            },
            by = api_hangup(&mut placed.listing) => {
                flush_legs(&mut bridge, recorder, far, near, (&mut tl_far, &mut tl_near), origin);
                let _ = ctx.sip.commands.send(SipCommand::Hangup { call: far.call });
                let _ = ctx.sip.commands.send(SipCommand::Hangup { call: near.call });
                break BridgeEnd::ApiHangup(by);
            }
            step = supervision_step(&mut sup) => {
                if let Some(s) = sup.as_mut() {
                    match step {
                        SupervisionStep::Join(req) => s.join(placed.flow, req),
                        SupervisionStep::Left => {
                            s.leave(placed.flow, SupervisionEnd::SupervisorHangup);
                        }
                    }
                }
                // `supervisor.join` / `supervisor.leave`, as the flow decided.
                let _ = next_step(ctx, placed.flow, placed.acd_call, placed.log);
                if let Some(l) = placed.listing.as_mut() {
                    l.set_supervisor(placed.flow.supervisor());
                }
            }
            _ = tick.tick() => {
                let t = Instant::now();
                if let Some(s) = sup.as_mut() {
                    s.mix(t, &mut far.media, &mut near.media);
                }
                for m in [&mut far.media, &mut near.media] {
                    m.session.handle_timeout(t);
                    let _ = m.flush_session();
                }
            }
        }
    };
    // A supervisor still joined is let go with the bridge (`supervisor.leave`).
    if let Some(mut s) = sup.take() {
        if s.leave(placed.flow, SupervisionEnd::CallEnded) {
            let _ = next_step(ctx, placed.flow, placed.acd_call, placed.log);
        }
    }
    end
}

/// The next step of the call's supervision (never without one).
async fn supervision_step(sup: &mut Option<PlacedSupervision<'_>>) -> SupervisionStep {
    match sup {
        Some(s) => s.step().await,
        None => std::future::pending().await,
    }
}

/// Which way a packet crosses the bridge: from leg `from`, recorded as `side` on `tl`,
/// mixed as `speaker`'s while a supervisor is joined.
struct Way<'a> {
    from: BridgeLeg,
    side: Side,
    tl: &'a mut Timeline,
    origin: Instant,
    speaker: Speaker,
}

/// One RTP packet received on `src`, crossing to `dst` (`bridge_crossing::cross`, the
/// call path's step): relayed as it is, or transcoded through `src`'s jitter buffer;
/// decoded frames also go to the recording's side. While a supervisor is joined nothing
/// crosses: the frames go to the mix (sent every tick).
fn relay_packet(
    t: Instant,
    bridge: &mut Bridge,
    way: Way<'_>,
    pkt: &switchboard_rtp::RtpPacket,
    (src, dst): (&mut MediaLeg, &mut MediaLeg),
    recorder: &mut Option<Recorder>,
    sup: &mut Option<PlacedSupervision<'_>>,
) {
    let mut mix = sup.as_mut().filter(|s| s.mixing());
    let crossing = mix.is_none().then_some(Crossing {
        bridge,
        from: way.from,
        to: dst,
    });
    let listened = recorder.is_some() || mix.is_some();
    let mut rec = recorder.as_mut().map(|rec| RecordedSide {
        rec,
        side: way.side,
        origin: way.origin,
        timeline: way.tl,
    });
    cross(t, pkt, src, crossing, listened, |f| {
        if let Some(m) = mix.as_mut() {
            m.frame(way.speaker, f.samples);
        }
        if let Some(rec) = rec.as_mut() {
            rec.frame(t, f);
        }
    });
}

/// How a leg's SIP call ended, seen as `party`'s leg of the placed call (its own call's
/// leg A or B says nothing about which side it plays here). A lane closed without a word
/// counts as that party's BYE.
fn ended_as(signal: Option<CallSignal>, party: Party) -> Hangup {
    match signal {
        Some(CallSignal::Ended(h)) => h.as_party(party),
        _ => Hangup::Leg {
            party,
            how: LegEnd::Bye,
        },
    }
}

/// The call is over (one side hung up): what both legs' jitter buffers still
/// hold (their last 20-140 ms) crosses a transcoding bridge and goes to the recording
/// before either leg goes away.
fn flush_legs(
    bridge: &mut Bridge,
    recorder: &mut Option<Recorder>,
    far: &mut Leg,
    near: &mut Leg,
    (tl_far, tl_near): (&mut Timeline, &mut Timeline),
    origin: Instant,
) {
    let now = Instant::now();
    let ways = [
        (BridgeLeg::A, Side::Caller, tl_far),
        (BridgeLeg::B, Side::Agent, tl_near),
    ];
    for (from, side, timeline) in ways {
        let (src, dst) = match from {
            BridgeLeg::A => (&mut far.media, &mut near.media),
            BridgeLeg::B => (&mut near.media, &mut far.media),
        };
        let crossing = Crossing {
            bridge: &mut *bridge,
            from,
            to: dst,
        };
        let mut rec = recorder.as_mut().map(|rec| RecordedSide {
            rec,
            side,
            origin,
            timeline,
        });
        flush(now, src, Some(crossing), |f| {
            if let Some(rec) = rec.as_mut() {
                rec.frame(now, f);
            }
        });
    }
}

/// Answers an in-dialog request from `party` on `leg`: the flow decides the status (the
/// same answers as an inbound call's: a caller's INFO key is logged, the agent's is 501, a
/// re-INVITE, or an UPDATE with an offer (the SIP layer answers a bodiless one), is
/// answered with our SDP for the same port or 488, a change of hold is
/// `call.hold`/`call.resume`, NOTIFY and OPTIONS 200, anything else 501); this reads the
/// request, builds the SDP answer and applies it to the leg's media.
fn answer_in_dialog(
    placed: &mut Placed<'_, '_>,
    party: Party,
    leg: &mut Leg,
    tx: switchboard_sip::TxKey,
    req: &switchboard_sip_message::Request,
) {
    let ctx = placed.ctx;
    let mut body = None;
    let asked = match req.method {
        Method::Info => InDialog::Info {
            digit: crate::call::info_dtmf_digit(&req.body),
        },
        Method::Invite | Method::Update => {
            let (offer, answer) = answer_reoffer(ctx, placed.id, leg, &req.body);
            body = answer;
            InDialog::ReInvite(offer)
        }
        Method::Notify => InDialog::Notify,
        Method::Options => InDialog::Options,
        _ => InDialog::Other,
    };
    let answer = placed
        .flow
        .handle_in_dialog(Instant::now(), party, asked, false);
    // What the flow decided on the way (a key's `dtmf`, `call.hold`) is logged now.
    let _ = next_step(ctx, placed.flow, placed.acd_call, placed.log);
    let _ = ctx.sip.commands.send(SipCommand::Respond {
        call: leg.call,
        tx,
        status: StatusCode(answer.status),
        sdp: body.filter(|_| answer.status == 200),
    });
}

/// A re-INVITE's offer on `leg`, read and answered with our media for the same port (the
/// leg's media follows a moved address or port).
fn answer_reoffer(
    ctx: &CallContext,
    id: u64,
    leg: &mut Leg,
    offer: &[u8],
) -> (ReOffer, Option<Bytes>) {
    let Ok(offer) = SessionDescription::parse(offer) else {
        return (ReOffer::Unparsable, None);
    };
    let held = offer.is_hold();
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
    match switchboard_sdp::answer(&offer, &caps, &local) {
        Ok((ans, neg)) => {
            leg.media.update_srtp(neg.srtp.as_ref());
            if neg.remote.is_some() && neg.remote != leg.media.session.sdp_remote() {
                leg.media.session.set_remote(Instant::now(), neg.remote);
            }
            (
                ReOffer::Answerable { held },
                Some(Bytes::from(ans.to_string())),
            )
        }
        Err(_) => (ReOffer::Unanswerable { held }, None),
    }
}

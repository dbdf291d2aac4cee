//! The end of a call: every leg hung up, supervision stopped, the flow's `Ending` (its
//! disposition, talk time, queue and agent) completed with what only the task knows
//! (RTP statistics and quality of both legs, the recording, who hung up over the API,
//! answer-to-audio time) into the `call.end` event, and the call metrics.

use super::*;

use crate::bridge_crossing::{flush, Crossing};
use switchboard_media::{Leg as BridgeLeg, Side};

impl CallTask {
    /// Hangs every leg up and ends the call for `reason`.
    pub(super) fn hangup_all(&mut self, reason: EndReason) {
        let _ = self.ctx.sip.commands.send(SipCommand::Hangup {
            call: self.sip_call,
        });
        self.finish(reason);
    }

    /// The call is over: the flow decides the disposition and talk time (and tells the
    /// ACD); this adds the media figures, metrics and the recording, and logs `call.end`.
    pub(super) fn finish(&mut self, reason: EndReason) {
        if self.flow.phase() == &Phase::Ended {
            return;
        }
        self.stop_supervision(SupervisionEnd::CallEnded);
        if let (Phase::Bridged { agent, .. } | Phase::HandedOver { agent, .. }, Some(_)) =
            (self.flow.phase(), self.sup_rx.take())
        {
            self.ctx.supervisable.remove(agent);
        }
        let now = Instant::now();
        let Some(end) = self.flow.handle_end(now, reason) else {
            return;
        };
        // The ACD hears of the end (its agent goes to wrap-up) before the log does.
        self.drive_flow();
        // A user the engine rang directly is free again.
        self.direct = None;
        let mut data = CallEnd::new(reason, end.disposition);
        data.by = self.api_hangup_by.take();
        data.duration_s = Some(end.duration_s);
        data.talk_s = end.talk_s;
        let (ev_queue, ev_agent) = (end.queue, end.agent);
        if let (Some(a), Some(r)) = (self.b_answered_at, self.first_relay_at) {
            // Agent's 200 to the first audio across the bridge (includes the whisper).
            data.answer_to_audio_ms = Some(r.saturating_duration_since(a).as_secs_f64() * 1000.0);
        }
        for c in self.extra_acd_calls.drain(..) {
            let _ = self.ctx.acd.send(AcdCommand::CallEnded { call: c });
        }
        // What both jitter buffers still hold crosses and is recorded before the end.
        self.flush_leg(now, BridgeLeg::A);
        self.flush_leg(now, BridgeLeg::B);
        self.a.session.close(now);
        let _ = self.a.flush_session();
        if let Some(b) = self.b.as_mut() {
            b.session.close(now);
            let _ = b.flush_session();
        }
        if let Some(rec) = self.recorder.take() {
            data.recording = Some(rec.path.display().to_string());
            data.recording_dropped_frames = Some(rec.dropped());
        }
        let stats = self.a.session.stats();
        {
            use crate::metrics::Metrics as M;
            let m = &self.ctx.metrics;
            match data.disposition {
                Disposition::Answered => M::add(&m.calls_answered, 1),
                Disposition::Abandoned => M::add(&m.calls_abandoned, 1),
                Disposition::Callback => M::add(&m.calls_callback, 1),
                _ => {}
            }
            if let Some(r) = stats.receiver {
                M::add(&m.rtp_received, r.received);
                M::add(&m.rtp_lost, r.lost.max(0) as u64);
            }
            M::add(&m.rtp_relayed, self.relayed);
            if data.recording.is_some() {
                M::add(&m.recordings, 1);
            }
        }
        data.caller_rtp = Some(RtpStats {
            received: stats.receiver.map(|r| r.received),
            lost: stats.receiver.map(|r| r.lost),
            foreign_dropped: stats.foreign_dropped,
        });
        data.quality.push(self.a.quality(Party::Caller));
        if let Some(b) = self.b.as_ref() {
            data.quality.push(b.quality(Party::Agent));
        }
        self.mark_abandoned_no_agent(&mut data);
        self.ctx.events.append(
            self.log(Event::CallEnd(data))
                .queue(&ev_queue)
                .agent(&ev_agent),
        );
        tracing::info!(%reason, "call ended");
    }

    /// Leg `which` leaves the bridge (the call ends, or the agent's leg is dropped or
    /// handed over): what its jitter buffer still holds (the last 20-140 ms of a decoded
    /// direction) crosses a transcoding bridge to the other leg (not while a supervisor's
    /// mix replaces the bridge) and goes to the recording, so the last words are neither
    /// lost for the listener nor missing from the file.
    pub(super) fn flush_leg(&mut self, now: Instant, which: BridgeLeg) {
        let Some(b) = self.b.as_mut() else {
            if which == BridgeLeg::A {
                let rec = relay::recorded(
                    &mut self.recorder,
                    self.rec_origin,
                    Side::Caller,
                    &mut self.tl_a,
                );
                flush_to(now, &mut self.a, None, rec);
            }
            return;
        };
        let (src, dst, side, timeline) = match which {
            BridgeLeg::A => (&mut self.a, b, Side::Caller, &mut self.tl_a),
            BridgeLeg::B => (b, &mut self.a, Side::Agent, &mut self.tl_b),
        };
        let crossing = match (&mut self.bridge, &self.supervision) {
            (Some(bridge), None) => Some(Crossing {
                bridge,
                from: which,
                to: dst,
            }),
            _ => None,
        };
        let rec = relay::recorded(&mut self.recorder, self.rec_origin, side, timeline);
        let sent = flush_to(now, src, crossing, rec);
        self.crossed(now, sent);
    }
}

/// Flushes `src` across `crossing` and into the recording's side `rec`.
fn flush_to(
    now: Instant,
    src: &mut MediaLeg,
    crossing: Option<Crossing<'_>>,
    mut rec: Option<crate::bridge_crossing::RecordedSide<'_>>,
) -> u64 {
    flush(now, src, crossing, |f| {
        if let Some(rec) = rec.as_mut() {
            rec.frame(now, f);
        }
    })
}

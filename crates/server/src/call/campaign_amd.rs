//! The answered predictive campaign call before anyone talks to it: answering-machine
//! detection on the callee's first seconds (`switchboard_media::AmdDetector`, greeting
//! cadence, decision record 0025), and for a machine that gets the campaign's message, the
//! wait for its greeting (and beep) to end (decision record 0041).
//!
//! Meanwhile the callee is not left on a dead line: they hear faint comfort noise
//! ([`ComfortNoise`], about -60 dBFS: no words or ringback a machine would record or a person
//! would answer), and in-dialog requests are answered as in any call (OPTIONS 200, a
//! re-INVITE or an UPDATE with an offer our SDP; a bodiless UPDATE is answered 200 by the
//! SIP layer),
//! INFO with 200 (a key pressed before anything asked for one is logged and dropped). No audio at all within
//! [`LISTEN_LIMIT`] counts as `no_speech` (treated as a person: the agent decides).

use switchboard_media::{AmdConfig, AmdDetector, AmdVerdict};

use super::*;
use crate::call_signals::SignalReceiver;
use crate::media_leg::RxBuf;

/// The longest we listen, whatever the detector says (its own limits end sooner).
const LISTEN_LIMIT: Duration = Duration::from_secs(5);

/// The longest we wait for a machine's greeting to end before leaving the message anyway.
pub(super) const GREETING_WAIT_LIMIT: Duration = Duration::from_secs(20);

/// What the first seconds told.
pub(super) enum Heard {
    /// The detector's verdict and the audio it took.
    Verdict(AmdVerdict, Duration),
    /// The callee hung up meanwhile.
    Gone,
}

/// How the wait for the end of a machine's greeting ended.
pub(super) enum GreetingEnd {
    /// Silence after the greeting (and its beep), after this much audio since the verdict;
    /// `limit` when [`GREETING_WAIT_LIMIT`] or the audio ran out first.
    Silence { after: Duration, limit: bool },
    /// The machine hung up.
    Gone,
}

/// A faint hiss for a line that would otherwise be silent: white noise from a fixed
/// linear congruential generator, 20 ms frames at 8 kHz, no allocation per frame.
pub(super) struct ComfortNoise {
    state: u32,
    frame: [i16; 160],
}

/// The noise's amplitude (peak, of 32768): about -60 dBFS RMS.
const NOISE_PEAK: i32 = 56;

impl ComfortNoise {
    pub(super) fn new() -> ComfortNoise {
        ComfortNoise {
            state: 0x2545_f491,
            frame: [0; 160],
        }
    }

    /// The next 20 ms.
    pub(super) fn next_frame(&mut self) -> &[i16] {
        for s in self.frame.iter_mut() {
            self.state = self
                .state
                .wrapping_mul(1_664_525)
                .wrapping_add(1_013_904_223);
            let r = (self.state >> 16) as i32; // 0..65535
            *s = ((r - 32768) * NOISE_PEAK / 32768) as i16;
        }
        &self.frame
    }
}

/// A detector that says when a greeting already known to be long has ended: the same
/// cadence rules with no length limit, so its "human" (a greeting followed by 800 ms of
/// silence) or "no speech" (silence from the start) is the end, and it gives up at
/// [`GREETING_WAIT_LIMIT`] of audio. A beep after the greeting is sound like the greeting:
/// the wait ends in the silence after it.
///
/// A fresh detector takes its first frame for the background; started in the middle of
/// a greeting that would be speech, and the greeting would pass for background. So it is
/// primed with one 10 ms frame at about -70 dBFS (alternating ±10: the high-pass filter
/// keeps it): the background starts low and rises only slowly toward steady line noise.
pub(super) fn greeting_end_detector() -> AmdDetector {
    let mut d = AmdDetector::new(AmdConfig {
        max_initial_silence: Duration::from_millis(800),
        max_human_greeting: GREETING_WAIT_LIMIT * 2,
        decision_limit: GREETING_WAIT_LIMIT,
        ..AmdConfig::default()
    });
    let quiet: [i16; 80] = std::array::from_fn(|i| if i % 2 == 0 { 10 } else { -10 });
    let _ = d.push(&quiet);
    d
}

/// What one step of the pre-agent wait got.
enum Step {
    /// A packet of the callee's audio went into the leg's pipeline: decoded frames may be
    /// ready (`poll_decoded`).
    Audio(Instant),
    /// Nothing to feed (a signal handled, a packet not for us, comfort noise sent).
    Nothing,
    Gone,
    Deadline,
}

/// Waits for the next thing on the callee's leg: audio, a signal (answered here), the
/// 20 ms comfort-noise tick or the deadline.
async fn step(
    task: &mut CallTask,
    signals: &mut SignalReceiver,
    buf: &mut RxBuf,
    noise: &mut ComfortNoise,
    tick: &mut tokio::time::Interval,
    deadline: tokio::time::Instant,
) -> Step {
    let sock = task.a.sock.clone();
    tokio::select! {
        r = sock.recv_buf_from(buf.prepare()) => {
            let Ok((_, from)) = r else { return Step::Nothing };
            let Some(data) = task.a.open_rtp(buf) else { return Step::Nothing };
            let now = Instant::now();
            let Some(pkt) = task.a.receive(now, from, data) else {
                return Step::Nothing;
            };
            if !task.a.push_audio(now, &pkt) {
                return Step::Nothing;
            }
            Step::Audio(now)
        }
        s = signals.recv() => match s {
            None | Some(CallSignal::Ended(_)) => Step::Gone,
            Some(CallSignal::InDialog { leg, tx, req }) => {
                answer_in_dialog(task, leg, tx, req).await;
                Step::Nothing
            }
            Some(other) => {
                tracing::debug!(signal = ?std::mem::discriminant(&other), "signal before the agent phase, ignored");
                Step::Nothing
            }
        },
        _ = tick.tick() => {
            let frame = noise.next_frame();
            task.a.send_pcm(Instant::now(), frame);
            Step::Nothing
        }
        _ = tokio::time::sleep_until(deadline) => Step::Deadline,
    }
}

/// Answers an in-dialog request that arrives before the call has a dialplan or an agent:
/// as any call does (`on_signal`: a re-INVITE gets our SDP, OPTIONS 200), except INFO,
/// answered 200 here because no dialplan is there to take a key yet.
async fn answer_in_dialog(
    task: &mut CallTask,
    leg: SipLeg,
    tx: switchboard_sip::TxKey,
    req: Box<switchboard_sip_message::Request>,
) {
    if req.method == Method::Info {
        if let Some(d) = info_dtmf_digit(&req.body) {
            tracing::info!(key = %d, "key pressed during answering-machine detection: nothing asked for one, dropped");
        }
        task.respond(tx, StatusCode::OK, None).await;
        return;
    }
    task.on_signal(CallSignal::InDialog { leg, tx, req }).await;
}

fn noise_tick() -> tokio::time::Interval {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

/// Listens to the callee (leg A of `task`) until the detector decides, the callee hangs up
/// or [`LISTEN_LIMIT`]; the callee hears comfort noise meanwhile.
pub(super) async fn listen(task: &mut CallTask, signals: &mut SignalReceiver) -> Heard {
    let mut amd = AmdDetector::new(AmdConfig::default());
    let mut buf = RxBuf::new();
    let mut noise = ComfortNoise::new();
    let mut tick = noise_tick();
    let deadline = tokio::time::Instant::now() + LISTEN_LIMIT;
    loop {
        match step(task, signals, &mut buf, &mut noise, &mut tick, deadline).await {
            Step::Audio(now) => {
                while let Some(f) = task.a.poll_decoded(now) {
                    if let Some(v) = amd.push(f.samples) {
                        return Heard::Verdict(v, amd.decided_after().unwrap_or_default());
                    }
                }
            }
            Step::Nothing => {}
            Step::Gone => return Heard::Gone,
            Step::Deadline => return Heard::Verdict(AmdVerdict::NoSpeech, amd.elapsed()),
        }
    }
}

/// After a `machine` verdict: waits until the greeting (and a beep) is followed by
/// silence, so that the message is recorded from its start; comfort noise meanwhile.
pub(super) async fn wait_greeting_end(
    task: &mut CallTask,
    signals: &mut SignalReceiver,
) -> GreetingEnd {
    let mut end = greeting_end_detector();
    let mut buf = RxBuf::new();
    let mut noise = ComfortNoise::new();
    let mut tick = noise_tick();
    // Audio may stop altogether (a machine that sends none in silence): wall time bounds it.
    let deadline = tokio::time::Instant::now() + GREETING_WAIT_LIMIT;
    loop {
        match step(task, signals, &mut buf, &mut noise, &mut tick, deadline).await {
            Step::Audio(now) => {
                while let Some(f) = task.a.poll_decoded(now) {
                    if let Some(v) = end.push(f.samples) {
                        let after = end.decided_after().unwrap_or_default();
                        let limit = after >= GREETING_WAIT_LIMIT || v == AmdVerdict::Machine;
                        return GreetingEnd::Silence { after, limit };
                    }
                }
            }
            Step::Nothing => {}
            Step::Gone => return GreetingEnd::Gone,
            Step::Deadline => {
                return GreetingEnd::Silence {
                    after: end.elapsed(),
                    limit: true,
                }
            }
        }
    }
}

/// `machine = "message"`: waits for the machine's greeting to end ([`wait_greeting_end`]).
/// False when the machine hung up first (its `call.end` logged): nothing left to play to.
pub(super) async fn greeting_ended(
    ctx: &CallContext,
    task: &mut CallTask,
    signals: &mut SignalReceiver,
) -> bool {
    match wait_greeting_end(task, signals).await {
        GreetingEnd::Silence { after, limit } => {
            tracing::info!(
                after_ms = after.as_millis() as u64,
                gave_up = limit,
                "the machine's greeting ended: leaving the message"
            );
            true
        }
        GreetingEnd::Gone => {
            tracing::info!("the machine hung up before its greeting ended: no message left");
            ctx.live.remove(crate::live_calls::LiveCallId(task.id));
            let mut end = CallEnd::new(EndReason::CallerHangup, Disposition::NotAnswered);
            end.detail = Some("the machine hung up before the message".into());
            ctx.events
                .append(NewEvent::call(&task.id.to_string(), Event::CallEnd(end)));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 8 kHz "speech": a 300 Hz tone switched on and off like syllables (150 ms on, 50 ms
    /// off), or silence.
    fn speech(ms: u64) -> Vec<i16> {
        (0..ms * 8)
            .map(|i| {
                let on = (i / 8) % 200 < 150;
                if on {
                    ((i as f64 * 2.0 * std::f64::consts::PI * 300.0 / 8000.0).sin() * 8000.0) as i16
                } else {
                    0
                }
            })
            .collect()
    }

    fn silence(ms: u64) -> Vec<i16> {
        vec![0; (ms * 8) as usize]
    }

    fn tone(ms: u64, hz: f64) -> Vec<i16> {
        (0..ms * 8)
            .map(|i| ((i as f64 * 2.0 * std::f64::consts::PI * hz / 8000.0).sin() * 6000.0) as i16)
            .collect()
    }

    /// Feeds `audio` in 20 ms packets; the audio time of the decision.
    fn end_of(audio: &[i16]) -> Option<Duration> {
        let mut d = greeting_end_detector();
        for chunk in audio.chunks(160) {
            if d.push(chunk).is_some() {
                return d.decided_after();
            }
        }
        None
    }

    #[test]
    fn the_wait_ends_in_the_silence_after_the_rest_of_the_greeting() {
        let mut a = speech(4000);
        a.extend(silence(2000));
        let at = end_of(&a).expect("decided");
        assert!(
            at >= Duration::from_millis(4000) && at <= Duration::from_millis(5000),
            "{at:?}"
        );
    }

    #[test]
    fn a_beep_after_the_greeting_is_waited_out_too() {
        let mut a = speech(2000);
        a.extend(silence(300));
        a.extend(tone(500, 1000.0));
        a.extend(silence(2000));
        let at = end_of(&a).expect("decided");
        assert!(at >= Duration::from_millis(2800), "after the beep: {at:?}");
        assert!(at <= Duration::from_millis(3800), "{at:?}");
    }

    #[test]
    fn a_greeting_already_over_ends_the_wait_within_a_second() {
        let at = end_of(&silence(3000)).expect("decided");
        assert!(at <= Duration::from_millis(1000), "{at:?}");
    }

    #[test]
    fn an_endless_greeting_gives_up_at_the_limit() {
        let at = end_of(&speech(30_000)).expect("decided");
        assert_eq!(at, GREETING_WAIT_LIMIT);
    }

    #[test]
    fn comfort_noise_is_faint_and_not_silent() {
        let mut n = ComfortNoise::new();
        let mut sum = 0f64;
        let mut count = 0f64;
        for _ in 0..50 {
            for &s in n.next_frame() {
                sum += f64::from(s) * f64::from(s);
                count += 1.0;
            }
        }
        let rms = (sum / count).sqrt();
        let dbfs = 20.0 * (rms / 32768.0).log10();
        assert!((-66.0..=-56.0).contains(&dbfs), "{dbfs:.1} dBFS");
    }
}

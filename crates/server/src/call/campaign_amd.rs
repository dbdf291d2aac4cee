//! Answering-machine detection on an answered predictive campaign call: the callee's first
//! seconds of audio go through `switchboard_media::AmdDetector` (greeting cadence, decision
//! record 0025) before the call is offered to an agent. The callee hears silence meanwhile,
//! as with any predictive dialler. No audio at all within [`LISTEN_LIMIT`] counts as
//! `no_speech` (treated as a person: the agent decides).

use switchboard_media::{AmdConfig, AmdDetector, AmdVerdict};

use super::*;
use crate::call_signals::SignalReceiver;
use crate::media_leg::RxBuf;

/// The longest we listen, whatever the detector says (its own limits end sooner).
const LISTEN_LIMIT: Duration = Duration::from_secs(5);

/// What the first seconds told.
pub(super) enum Heard {
    /// The detector's verdict and the audio it took.
    Verdict(AmdVerdict, Duration),
    /// The callee hung up meanwhile.
    Gone,
}

/// Listens to `leg` until the detector decides, the callee hangs up or [`LISTEN_LIMIT`].
pub(super) async fn listen(leg: &mut MediaLeg, signals: &mut SignalReceiver) -> Heard {
    let mut amd = AmdDetector::new(AmdConfig::default());
    let mut buf = RxBuf::new();
    let deadline = tokio::time::Instant::now() + LISTEN_LIMIT;
    let sock = leg.sock.clone();
    loop {
        tokio::select! {
            r = sock.recv_buf_from(buf.prepare()) => {
                let Ok((_, from)) = r else { continue };
                let Some(data) = leg.open_rtp(&mut buf) else { continue };
                let now = Instant::now();
                let Some(pkt) = leg.receive(now, from, data) else { continue };
                if !leg.push_audio(now, &pkt) {
                    continue;
                }
                while let Some(f) = leg.poll_decoded(now) {
                    if let Some(v) = amd.push(f.samples) {
                        return Heard::Verdict(v, amd.decided_after().unwrap_or_default());
                    }
                }
            }
            s = signals.recv() => {
                if matches!(s, None | Some(CallSignal::Ended(_))) {
                    return Heard::Gone;
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                return Heard::Verdict(AmdVerdict::NoSpeech, amd.elapsed());
            }
        }
    }
}

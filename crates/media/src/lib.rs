//! Media processing for switchboard as sans-IO cores: G.711 and G.722 codecs, 8/16 kHz
//! resampling, tone generation and in-band DTMF detection, answering-machine detection
//! ([`AmdDetector`]), the two-party [`Bridge`]
//! (relay or transcode), the N-party [`Mixer`] with supervisor listen/whisper/barge,
//! the prompt cache and paced [`PromptPlayer`], and the crash-safe stereo WAV
//! [`RecordingWriter`], the [codec registry](codec_registry) and the per-leg
//! [`LegPipeline`] (jitter buffer, decode, resample, encode). Time is always an input (`now: Instant` or sample positions);
//! nothing here reads a clock, opens a socket or spawns a task. Files are touched only by
//! the explicit helpers [`repair_wav`] and [`PromptCache::load_file`], which the server
//! calls at startup. Not RTP parsing or the jitter buffer itself (see `switchboard-rtp`; the pipeline
//! drives it), not SDP.
#![warn(missing_docs)]

pub mod amd;
pub mod bridge;
pub mod codec;
pub mod codec_registry;
pub mod dtmf;
pub mod g711;
pub mod g722;
pub mod mixer;
pub mod pipeline;
pub mod prompt;
pub mod recording;
pub mod resample;
pub mod tone;
pub mod wav;

pub use amd::{AmdConfig, AmdDetector, AmdVerdict};
pub use bridge::{Bridge, BridgeError, BridgeMode, BridgeStats, Forward, Leg, LegConfig};
pub use codec::{Codec, Decoder, Encoder};
pub use codec_registry::{CodecSpec, FormatError, StreamFormat, INTERNAL_RATE};
pub use dtmf::{DtmfConfig, DtmfDetector, DtmfEvent};
pub use g722::{G722Decoder, G722Encoder};
pub use mixer::{Mixer, MixerError, ParticipantId, SupervisorMode};
pub use pipeline::{DecodedFrame, LegPipeline, PipelineStats};
pub use prompt::{
    PlayerConfig, PlayerEvent, PlayerFrame, Playlist, Prompt, PromptCache, PromptError,
    PromptPlayer,
};
pub use recording::{
    plan_repair, recording_buffer_bytes, recording_path, repair_wav, RecordingConfig,
    RecordingError, RecordingWriter, RepairOutcome, RepairPlan, Side, SyncTarget,
};
pub use resample::{Downsampler, Upsampler};
pub use tone::ToneGenerator;
pub use wav::{WavError, WavInfo};

/// A fixed base instant for unit tests: only its identity matters, never the real time
/// passing after it (every later instant is `epoch + offset`).
#[cfg(test)]
#[allow(clippy::disallowed_methods)]
pub(crate) fn test_epoch() -> std::time::Instant {
    use std::sync::OnceLock;
    static EPOCH: OnceLock<std::time::Instant> = OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

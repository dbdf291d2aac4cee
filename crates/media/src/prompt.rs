//! Prompt cache and the paced prompt player.
//!
//! Prompts are decoded once into 8 kHz mono PCM and shared as `Arc<[i16]>`; playing one
//! never copies it. The [`PromptPlayer`] turns a [`Playlist`] (prompts in order, optionally
//! looping, like music on hold) into frames of `ptime` with RTP timestamps, paced by the
//! `now` the driver passes in: [`PromptPlayer::poll_frame`] returns a frame only when one
//! is due, and [`PromptPlayer::poll_timeout`] says when the next one will be.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::resample::Downsampler;
use crate::wav::{self, WavError};

/// Sample rate of cached prompts and of the player's output.
pub const PROMPT_RATE: u32 = 8000;

/// A decoded prompt: 8 kHz mono 16-bit PCM, shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt(Arc<[i16]>);

impl Prompt {
    /// Wraps samples that are already 8 kHz mono.
    pub fn from_samples(samples: impl Into<Arc<[i16]>>) -> Prompt {
        Prompt(samples.into())
    }

    /// The samples.
    pub fn samples(&self) -> &[i16] {
        &self.0
    }

    /// Playing time.
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.0.len() as u64 * 1_000_000 / u64::from(PROMPT_RATE))
    }
}

/// Why a prompt could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PromptError {
    /// Reading the file failed.
    #[error("reading prompt: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not a usable WAV file.
    #[error("prompt is not a 16-bit PCM WAV: {0}")]
    Wav(#[from] WavError),
    /// More than one channel.
    #[error("prompt has {0} channels, expected mono")]
    NotMono(u16),
    /// A rate other than 8 or 16 kHz.
    #[error("prompt sample rate {0} Hz, expected 8000 or 16000")]
    UnsupportedRate(u32),
}

/// Decodes a mono 8 or 16 kHz 16-bit WAV into 8 kHz samples (16 kHz is low-pass filtered
/// and decimated).
pub fn decode_prompt_wav(bytes: &[u8]) -> Result<Vec<i16>, PromptError> {
    let info = wav::parse_header(bytes)?;
    if info.channels != 1 {
        return Err(PromptError::NotMono(info.channels));
    }
    let samples = wav::decode_samples(bytes, &info);
    match info.sample_rate {
        8000 => Ok(samples),
        16000 => {
            let mut out = vec![0i16; samples.len() / 2];
            let mut down = Downsampler::new();
            let n = down.process(&samples, &mut out);
            out.truncate(n);
            Ok(out)
        }
        r => Err(PromptError::UnsupportedRate(r)),
    }
}

/// Prompts by name (for example `"en/num-7"` or `"moh"`), decoded once.
#[derive(Debug, Clone, Default)]
pub struct PromptCache {
    prompts: HashMap<String, Prompt>,
}

impl PromptCache {
    /// An empty cache.
    pub fn new() -> PromptCache {
        PromptCache::default()
    }

    /// Decodes WAV bytes and stores them under `name`, replacing any previous prompt.
    pub fn insert_wav(&mut self, name: &str, bytes: &[u8]) -> Result<Prompt, PromptError> {
        let p = Prompt::from_samples(decode_prompt_wav(bytes)?);
        self.prompts.insert(name.to_owned(), p.clone());
        Ok(p)
    }

    /// Stores already-decoded 8 kHz samples under `name`.
    pub fn insert(&mut self, name: &str, prompt: Prompt) {
        self.prompts.insert(name.to_owned(), prompt);
    }

    /// Reads and decodes one WAV file (startup I/O, not for the media path).
    pub fn load_file(&mut self, name: &str, path: &Path) -> Result<Prompt, PromptError> {
        let bytes = std::fs::read(path)?;
        self.insert_wav(name, &bytes)
    }

    /// Loads `root/*.wav` as `<stem>` and `root/<lang>/*.wav` as `<lang>/<stem>` (the
    /// layout `scripts/gen-prompts.sh` produces). Returns how many prompts were loaded.
    pub fn load_dir(&mut self, root: &Path) -> Result<usize, PromptError> {
        self.load_dir_as(root, "")
    }

    /// [`load_dir`](Self::load_dir) with every name prefixed by `prefix` (a tenant's own
    /// prompts beside the shared ones, e.g. `@acme/`).
    pub fn load_dir_as(&mut self, root: &Path, prefix: &str) -> Result<usize, PromptError> {
        let mut n = 0;
        let mut entries: Vec<_> = std::fs::read_dir(root)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.path());
        for e in entries {
            let path = e.path();
            if path.is_dir() {
                let Some(lang) = path.file_name().and_then(|s| s.to_str()).map(str::to_owned)
                else {
                    continue;
                };
                let mut files: Vec<_> = std::fs::read_dir(&path)?.collect::<Result<_, _>>()?;
                files.sort_by_key(|e| e.path());
                for f in files {
                    let p = f.path();
                    if let Some(stem) = wav_stem(&p) {
                        self.load_file(&format!("{prefix}{lang}/{stem}"), &p)?;
                        n += 1;
                    }
                }
            } else if let Some(stem) = wav_stem(&path) {
                self.load_file(&format!("{prefix}{stem}"), &path)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// The prompt named `name`.
    pub fn get(&self, name: &str) -> Option<Prompt> {
        self.prompts.get(name).cloned()
    }

    /// Whether `name` is cached.
    pub fn contains(&self, name: &str) -> bool {
        self.prompts.contains_key(name)
    }

    /// Number of cached prompts.
    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    /// `true` when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }
}

fn wav_stem(p: &Path) -> Option<String> {
    if p.extension().and_then(|e| e.to_str()) != Some("wav") {
        return None;
    }
    p.file_stem().and_then(|s| s.to_str()).map(str::to_owned)
}

/// Prompts to play in order.
#[derive(Debug, Clone, Default)]
pub struct Playlist {
    items: Vec<Prompt>,
    looped: bool,
    interruptible: bool,
}

impl Playlist {
    /// Plays `items` once; DTMF interrupts it (barge-in).
    pub fn new(items: Vec<Prompt>) -> Playlist {
        Playlist {
            items,
            looped: false,
            interruptible: true,
        }
    }

    /// Music on hold: `prompt` forever, not interrupted by DTMF.
    pub fn moh(prompt: Prompt) -> Playlist {
        Playlist {
            items: vec![prompt],
            looped: true,
            interruptible: false,
        }
    }

    /// Sets whether the playlist restarts at the end.
    pub fn looping(mut self, looped: bool) -> Playlist {
        self.looped = looped;
        self
    }

    /// Sets whether a DTMF digit stops playback (barge-in).
    pub fn interruptible(mut self, on: bool) -> Playlist {
        self.interruptible = on;
        self
    }

    fn total_len(&self) -> usize {
        self.items.iter().map(|p| p.samples().len()).sum()
    }
}

/// Player settings.
#[derive(Debug, Clone, Copy)]
pub struct PlayerConfig {
    /// Frame duration (packetisation time); a multiple of 0.125 ms, at least 1 ms.
    /// Default 20 ms.
    pub ptime: Duration,
    /// RTP timestamp that corresponds to the `now` of the first [`PromptPlayer::play`].
    pub initial_timestamp: u32,
    /// How far behind the driver may fall before the player skips ahead in time (the
    /// audio itself is never skipped). Default 100 ms.
    pub max_lag: Duration,
}

impl Default for PlayerConfig {
    fn default() -> Self {
        PlayerConfig {
            ptime: Duration::from_millis(20),
            initial_timestamp: 0,
            max_lag: Duration::from_millis(100),
        }
    }
}

/// One frame of audio to packetise and send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlayerFrame<'a> {
    /// `ptime` worth of 8 kHz samples.
    pub samples: &'a [i16],
    /// RTP timestamp of the first sample (8 kHz clock).
    pub timestamp: u32,
    /// First frame of a talkspurt (RTP marker bit).
    pub marker: bool,
    /// When this frame was due.
    pub due: Instant,
}

/// What happened to the current playlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayerEvent {
    /// The last frame of a non-looping playlist was emitted.
    Finished,
    /// A DTMF digit stopped an interruptible playlist.
    Interrupted {
        /// The digit.
        digit: char,
    },
    /// [`PromptPlayer::stop`] was called while playing.
    Stopped,
}

/// Paced playback of playlists; a sans-IO core.
///
/// ```text
/// play(now, list) --> poll_frame(now)* --> ... --> Finished
///                          |  handle_dtmf (interruptible) / stop
///                          v
///                        idle
/// ```
#[derive(Debug)]
pub struct PromptPlayer {
    cfg: PlayerConfig,
    frame_samples: usize,
    buf: Box<[i16]>,
    playlist: Option<Playlist>,
    item: usize,
    pos: usize,
    next_due: Option<Instant>,
    next_ts: u32,
    origin: Option<(Instant, u32)>,
    marker: bool,
    events: VecDeque<PlayerEvent>,
}

impl PromptPlayer {
    /// An idle player. A `ptime` below 1 ms is raised to 1 ms.
    pub fn new(mut cfg: PlayerConfig) -> PromptPlayer {
        cfg.ptime = cfg.ptime.max(Duration::from_millis(1));
        let frame_samples =
            ((cfg.ptime.as_micros() * u128::from(PROMPT_RATE)) / 1_000_000).max(1) as usize;
        PromptPlayer {
            cfg,
            frame_samples,
            buf: vec![0; frame_samples].into_boxed_slice(),
            playlist: None,
            item: 0,
            pos: 0,
            next_due: None,
            next_ts: cfg.initial_timestamp,
            origin: None,
            marker: false,
            events: VecDeque::with_capacity(8),
        }
    }

    /// Samples per frame.
    pub fn frame_samples(&self) -> usize {
        self.frame_samples
    }

    /// Whether a playlist is active.
    pub fn is_playing(&self) -> bool {
        self.playlist.is_some()
    }

    /// Starts `playlist` at `now`, replacing any current one. If something was playing
    /// the stream continues seamlessly; otherwise the first frame is due at `now` and
    /// starts a talkspurt.
    pub fn play(&mut self, now: Instant, playlist: Playlist) {
        let (origin, origin_ts) = *self.origin.get_or_insert((now, self.cfg.initial_timestamp));
        if playlist.total_len() == 0 && playlist.looped {
            // Nothing to loop over: behave as an empty one-shot playlist.
            self.start(now, origin, origin_ts, playlist.looping(false));
        } else {
            self.start(now, origin, origin_ts, playlist);
        }
    }

    fn start(&mut self, now: Instant, origin: Instant, origin_ts: u32, playlist: Playlist) {
        if self.playlist.is_none() || self.next_due.is_none() {
            self.next_due = Some(now);
            self.next_ts = origin_ts.wrapping_add(ticks(now.saturating_duration_since(origin)));
            self.marker = true;
        }
        self.playlist = Some(playlist);
        self.item = 0;
        self.pos = 0;
    }

    /// Stops playback (no further frames).
    pub fn stop(&mut self) {
        if self.playlist.take().is_some() {
            self.push_event(PlayerEvent::Stopped);
        }
        self.next_due = None;
    }

    /// Feeds a DTMF digit. Stops an interruptible playlist and returns `true`.
    pub fn handle_dtmf(&mut self, digit: char) -> bool {
        match &self.playlist {
            Some(p) if p.interruptible => {
                self.playlist = None;
                self.next_due = None;
                self.push_event(PlayerEvent::Interrupted { digit });
                true
            }
            _ => false,
        }
    }

    /// When the next frame is due, if playing. Wake up then and call `poll_frame`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.playlist.as_ref().and(self.next_due)
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<PlayerEvent> {
        self.events.pop_front()
    }

    /// The next frame if one is due at `now`. Call repeatedly until `None` (more than one
    /// frame is returned when the driver woke late). Does not allocate.
    pub fn poll_frame(&mut self, now: Instant) -> Option<PlayerFrame<'_>> {
        let ptime = self.cfg.ptime;
        let mut due = self.next_due?;
        self.playlist.as_ref()?;
        if due > now {
            return None;
        }
        if now.saturating_duration_since(due) > self.cfg.max_lag {
            // The driver stalled: move the clock forward, keep the audio, mark a new
            // talkspurt so the receiver resets its playout point.
            let skipped = now.saturating_duration_since(due);
            let frames = (skipped.as_micros() / ptime.as_micros().max(1)) as u32;
            due += ptime * frames;
            self.next_ts = self
                .next_ts
                .wrapping_add(frames.wrapping_mul(self.frame_samples as u32));
            self.marker = true;
        }
        let finished = self.fill();
        let ts = self.next_ts;
        let marker = std::mem::take(&mut self.marker);
        self.next_ts = self.next_ts.wrapping_add(self.frame_samples as u32);
        self.next_due = Some(due + ptime);
        if finished {
            self.playlist = None;
            self.next_due = None;
            self.push_event(PlayerEvent::Finished);
        }
        Some(PlayerFrame {
            samples: &self.buf,
            timestamp: ts,
            marker,
            due,
        })
    }

    /// Copies the next frame into `buf`; returns `true` if the playlist ended with it.
    fn fill(&mut self) -> bool {
        let Some(list) = self.playlist.as_ref() else {
            self.buf.fill(0);
            return true;
        };
        let mut filled = 0;
        while filled < self.buf.len() {
            let Some(prompt) = list.items.get(self.item) else {
                if list.looped && !list.items.is_empty() {
                    self.item = 0;
                    self.pos = 0;
                    continue;
                }
                self.buf[filled..].fill(0);
                return true;
            };
            let src = prompt.samples().get(self.pos..).unwrap_or(&[]);
            let n = src.len().min(self.buf.len() - filled);
            self.buf[filled..filled + n].copy_from_slice(&src[..n]);
            filled += n;
            self.pos += n;
            if self.pos >= prompt.samples().len() {
                self.item += 1;
                self.pos = 0;
            }
        }
        // Ended exactly on a frame boundary.
        !list.looped && self.item >= list.items.len()
    }

    fn push_event(&mut self, ev: PlayerEvent) {
        if self.events.len() == self.events.capacity() {
            self.events.pop_front();
        }
        self.events.push_back(ev);
    }
}

fn ticks(d: Duration) -> u32 {
    ((d.as_micros() * u128::from(PROMPT_RATE)) / 1_000_000) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: usize) -> Prompt {
        Prompt::from_samples((0..n).map(|i| i as i16 + 1).collect::<Vec<_>>())
    }

    #[test]
    fn paces_frames_and_numbers_timestamps() {
        let t0 = crate::test_epoch();
        let mut p = PromptPlayer::new(PlayerConfig {
            initial_timestamp: 1000,
            ..PlayerConfig::default()
        });
        p.play(t0, Playlist::new(vec![ramp(400)]));
        let f = p.poll_frame(t0).expect("first frame due now");
        assert_eq!((f.timestamp, f.marker, f.samples[0]), (1000, true, 1));
        assert!(p.poll_frame(t0).is_none());
        assert_eq!(p.poll_timeout(), Some(t0 + Duration::from_millis(20)));
        let f = p
            .poll_frame(t0 + Duration::from_millis(25))
            .expect("second");
        assert_eq!((f.timestamp, f.marker, f.samples[0]), (1160, false, 161));
        let f = p
            .poll_frame(t0 + Duration::from_millis(40))
            .expect("third, padded");
        assert_eq!(f.samples[79], 400);
        assert_eq!(f.samples[80], 0);
        assert_eq!(p.poll_event(), Some(PlayerEvent::Finished));
        assert_eq!(p.poll_timeout(), None);
        // Restart after 1 s idle: timestamp follows the clock, marker set.
        let t1 = t0 + Duration::from_secs(1);
        p.play(t1, Playlist::new(vec![ramp(10)]));
        let f = p.poll_frame(t1).expect("frame");
        assert_eq!((f.timestamp, f.marker), (1000 + 8000, true));
    }

    #[test]
    fn moh_loops_and_ignores_dtmf() {
        let t0 = crate::test_epoch();
        let mut p = PromptPlayer::new(PlayerConfig::default());
        p.play(t0, Playlist::moh(ramp(100)));
        let f = p.poll_frame(t0).expect("frame");
        assert_eq!(f.samples[99], 100);
        assert_eq!(f.samples[100], 1, "wraps to the start");
        assert!(!p.handle_dtmf('5'));
        for k in 1..100 {
            assert!(p.poll_frame(t0 + Duration::from_millis(20 * k)).is_some());
        }
        assert!(p.is_playing());
    }

    #[test]
    fn dtmf_interrupts_prompts() {
        let t0 = crate::test_epoch();
        let mut p = PromptPlayer::new(PlayerConfig::default());
        p.play(t0, Playlist::new(vec![ramp(8000)]));
        assert!(p.poll_frame(t0).is_some());
        assert!(p.handle_dtmf('1'));
        assert_eq!(
            p.poll_event(),
            Some(PlayerEvent::Interrupted { digit: '1' })
        );
        assert!(p.poll_frame(t0 + Duration::from_secs(1)).is_none());
    }

    #[test]
    fn late_driver_gets_backlog_then_skips_ahead() {
        let t0 = crate::test_epoch();
        let mut p = PromptPlayer::new(PlayerConfig::default());
        p.play(t0, Playlist::new(vec![ramp(8000)]));
        let at = t0 + Duration::from_millis(60);
        let mut n = 0;
        while p.poll_frame(at).is_some() {
            n += 1;
        }
        assert_eq!(n, 4, "frames due at 0, 20, 40, 60 ms");
        let at = t0 + Duration::from_millis(500);
        let f = p.poll_frame(at).expect("resync");
        assert!(f.marker);
        assert_eq!(f.timestamp, 4000, "timestamp jumps with the clock");
    }

    /// A mono 16-bit 8 kHz PCM WAV of `n` samples.
    fn wav(n: u32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&(36 + 2 * n).to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&8000u32.to_le_bytes());
        b.extend_from_slice(&16000u32.to_le_bytes());
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&16u16.to_le_bytes());
        b.extend_from_slice(b"data");
        b.extend_from_slice(&(2 * n).to_le_bytes());
        b.extend(std::iter::repeat_n([0x10u8, 0x00], n as usize).flatten());
        b
    }

    #[test]
    fn a_directory_loads_under_a_prefix_beside_the_shared_prompts() {
        let root = std::env::temp_dir().join(format!("sb-prompts-{}", std::process::id()));
        std::fs::create_dir_all(root.join("en")).unwrap();
        std::fs::write(root.join("moh.wav"), wav(80)).unwrap();
        std::fs::write(root.join("en").join("welcome.wav"), wav(160)).unwrap();
        let mut c = PromptCache::new();
        assert_eq!(c.load_dir(&root).unwrap(), 2);
        assert_eq!(c.load_dir_as(&root, "@acme/").unwrap(), 2);
        for name in ["moh", "en/welcome", "@acme/moh", "@acme/en/welcome"] {
            assert!(c.contains(name), "{name}");
        }
        assert!(!c.contains("@acme/welcome"));
        let _ = std::fs::remove_dir_all(&root);
    }
}

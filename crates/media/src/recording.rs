//! Crash-safe stereo call recording (left = caller, right = agent), 16-bit PCM WAV.
//!
//! A WAV file's header holds two size fields; a writer that fills them in only at close
//! leaves files no player opens after a crash. [`RecordingWriter`] instead:
//!
//! 1. writes a complete 44-byte header (sizes 0) when the file is created, and syncs it;
//! 2. appends audio, and after at least every second of audio rewrites both size fields to
//!    cover exactly the audio already written (data first, then header, so the header never
//!    claims bytes that are not in the file);
//! 3. calls `sync_data` at least every `sync_interval` (5 s) of wall time or audio.
//!
//! After `kill -9` the file therefore opens and plays up to the last header update (at
//! most a second short); after a power loss, up to the last sync. [`repair_wav`] then
//! recovers the tail on the next start by setting the sizes from the file's length.
//!
//! The two channels arrive as separate frame streams with sample positions on a common
//! timeline. The writer buffers a short window per side, writes the stereo frames once
//! both sides have reached a position (or one side is more than `max_skew` ahead, in which
//! case the missing side is silence), so the channels stay time-aligned across loss, hold
//! and late starts. The writer is a sans-IO policy over any `Write + Seek + SyncTarget`;
//! the server runs it on a blocking thread over a `std::fs::File`.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Cursor, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Datelike;

use crate::wav::{self, WavError, HEADER_LEN};

/// Something whose written data can be made durable (`fsync`-like).
pub trait SyncTarget {
    /// Flushes written data to stable storage.
    fn sync_data(&mut self) -> io::Result<()>;
}

impl SyncTarget for File {
    fn sync_data(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }
}

impl<W: Write + SyncTarget> SyncTarget for BufWriter<W> {
    fn sync_data(&mut self) -> io::Result<()> {
        self.flush()?;
        self.get_mut().sync_data()
    }
}

impl SyncTarget for Cursor<Vec<u8>> {
    fn sync_data(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<T: SyncTarget + ?Sized> SyncTarget for &mut T {
    fn sync_data(&mut self) -> io::Result<()> {
        (**self).sync_data()
    }
}

/// Which channel a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Left channel.
    Caller,
    /// Right channel.
    Agent,
}

impl Side {
    fn idx(self) -> usize {
        match self {
            Side::Caller => 0,
            Side::Agent => 1,
        }
    }
}

/// Recording errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordingError {
    /// The underlying file failed.
    #[error("recording I/O: {0}")]
    Io(#[from] io::Error),
    /// The file is not a WAV we can repair.
    #[error("not a repairable WAV: {0}")]
    Wav(#[from] WavError),
    /// A call id that is not safe as a file name.
    #[error("call id is not a safe file name")]
    InvalidCallId,
}

/// Writer policy knobs; `Default` is the documented crash-safety contract.
#[derive(Debug, Clone, Copy)]
pub struct RecordingConfig {
    /// Sample rate of both channels (default 8000).
    pub sample_rate: u32,
    /// Audio (per channel, in samples) between header size updates (default 1 s).
    pub header_interval: u64,
    /// Longest time between `sync_data` calls while audio is written (default 5 s).
    pub sync_interval: Duration,
    /// How far one side may run ahead before the other is written as silence
    /// (default 200 ms = 1600 samples).
    pub max_skew: u64,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            sample_rate: 8000,
            header_interval: 8000,
            sync_interval: Duration::from_secs(5),
            max_skew: 1600,
        }
    }
}

/// Samples each side's window holds: enough for `max_skew` plus a margin of frames
/// (2,624 = 328 ms at 8 kHz for the default 200 ms skew, 10.25 KiB for both sides; it
/// was a fixed 2 s, 64 KiB per recording, of which only `max_skew` was ever used: the
/// skew rule commits everything older than `max_skew` behind the leading side, so a
/// larger window holds nothing more, and a frame that runs past the window's end is
/// committed up to a point the skew rule commits anyway, so the file is the same).
fn window_len(cfg: &RecordingConfig) -> usize {
    let skew = usize::try_from(cfg.max_skew).unwrap_or(usize::MAX / 4);
    skew.saturating_add(1024).min(1 << 22)
}
/// Stereo frames converted and written per `write` call when committing (32 ms): the
/// scratch buffer is this small (1 KiB), not a whole window. The writer below buffers
/// (the server's pool wraps every file in a `BufWriter`), so a small chunk costs a
/// memory copy, not a system call.
const COMMIT_CHUNK: usize = 256;

/// Heap bytes a [`RecordingWriter`] holds for `cfg` besides its sink: both sides'
/// alignment windows and the commit scratch.
pub fn recording_buffer_bytes(cfg: &RecordingConfig) -> usize {
    2 * window_len(cfg) * std::mem::size_of::<i16>() + COMMIT_CHUNK * 4
}

/// Stereo WAV recording writer; a sans-IO policy driven by positions and `now`.
///
/// Feed [`handle_frame`](Self::handle_frame) with each side's decoded audio, call
/// [`handle_timeout`](Self::handle_timeout) at [`poll_timeout`](Self::poll_timeout), and
/// [`finish`](Self::finish) at the end of the call.
#[derive(Debug)]
pub struct RecordingWriter<W> {
    w: W,
    cfg: RecordingConfig,
    ring: [Box<[i16]>; 2],
    end: [u64; 2],
    committed: u64,
    header_at: u64,
    synced_at: u64,
    last_sync: Instant,
    scratch: Box<[u8]>,
    late_samples: u64,
    /// The write position is at the end of the audio (no seek needed before appending).
    at_end: bool,
}

impl<W: Write + Seek + SyncTarget> RecordingWriter<W> {
    /// Starts a recording: writes the header (sizes 0) at the start of `w` and syncs it.
    pub fn create(w: W, now: Instant, cfg: RecordingConfig) -> Result<Self, RecordingError> {
        Self::create_with_window(w, now, cfg, window_len(&cfg))
    }

    fn create_with_window(
        mut w: W,
        now: Instant,
        cfg: RecordingConfig,
        window: usize,
    ) -> Result<Self, RecordingError> {
        w.seek(SeekFrom::Start(0))?;
        w.write_all(&wav::header(2, cfg.sample_rate, 0))?;
        w.sync_data()?;
        Ok(RecordingWriter {
            w,
            cfg,
            ring: [
                vec![0; window].into_boxed_slice(),
                vec![0; window].into_boxed_slice(),
            ],
            end: [0; 2],
            committed: 0,
            header_at: 0,
            synced_at: 0,
            last_sync: now,
            scratch: vec![0; COMMIT_CHUNK * 4].into_boxed_slice(),
            late_samples: 0,
            at_end: true,
        })
    }

    /// Stereo frames written to the file so far.
    pub fn frames_written(&self) -> u64 {
        self.committed
    }

    /// Stereo frames the header currently claims (what survives a crash now).
    pub fn frames_in_header(&self) -> u64 {
        self.header_at
    }

    /// Samples dropped because they arrived for a position already written.
    pub fn late_samples(&self) -> u64 {
        self.late_samples
    }

    /// Adds `samples` for `side` starting at sample `position` of the recording's
    /// timeline (0 = start; derive it from RTP timestamps). Gaps become silence;
    /// audio for positions already written is dropped and counted.
    pub fn handle_frame(
        &mut self,
        now: Instant,
        side: Side,
        position: u64,
        samples: &[i16],
    ) -> Result<(), RecordingError> {
        let mut pos = position;
        let mut samples = samples;
        if pos < self.committed {
            let late = (self.committed - pos).min(samples.len() as u64) as usize;
            self.late_samples += late as u64;
            samples = samples.get(late..).unwrap_or(&[]);
            pos = self.committed;
        }
        while !samples.is_empty() {
            // Make room: the window holds positions [committed, committed + window).
            let window = self.ring[0].len() as u64;
            let limit = self.committed + window;
            if pos >= limit {
                // Room for as much of the frame as the window takes at once.
                let target = pos + (samples.len() as u64).min(window) - window;
                self.commit(target)?;
                continue;
            }
            let room = (limit - pos) as usize;
            let n = room.min(samples.len());
            let ring = &mut self.ring[side.idx()];
            for (k, s) in samples.iter().take(n).enumerate() {
                let i = ((pos + k as u64) % window) as usize;
                ring[i] = *s;
            }
            pos += n as u64;
            samples = samples.get(n..).unwrap_or(&[]);
            let e = &mut self.end[side.idx()];
            *e = (*e).max(pos);
        }
        let [a, b] = self.end;
        let target = a.min(b).max(a.max(b).saturating_sub(self.cfg.max_skew));
        if target > self.committed {
            self.commit(target)?;
        }
        self.maintain(now)
    }

    /// Timer work: updates the header and syncs when due. Call at
    /// [`poll_timeout`](Self::poll_timeout) even when no audio arrives.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), RecordingError> {
        self.maintain(now)
    }

    /// The next time [`handle_timeout`](Self::handle_timeout) has work to do.
    pub fn poll_timeout(&self) -> Instant {
        self.last_sync + self.cfg.sync_interval
    }

    /// Writes everything buffered (the shorter side padded with silence), updates the
    /// header, syncs, and returns the writer.
    pub fn finish(mut self) -> Result<W, RecordingError> {
        let target = self.end[0].max(self.end[1]);
        if target > self.committed {
            self.commit(target)?;
        }
        self.write_header()?;
        self.w.sync_data()?;
        Ok(self.w)
    }

    fn maintain(&mut self, now: Instant) -> Result<(), RecordingError> {
        if self.committed >= self.header_at.saturating_add(self.cfg.header_interval) {
            self.write_header()?;
        }
        let sync_audio =
            self.cfg.sync_interval.as_micros() as u64 * u64::from(self.cfg.sample_rate) / 1_000_000;
        let wall_due = now.saturating_duration_since(self.last_sync) >= self.cfg.sync_interval;
        let audio_due = self.committed >= self.synced_at.saturating_add(sync_audio.max(1));
        if (wall_due || audio_due) && self.committed > self.synced_at {
            if self.header_at < self.committed {
                self.write_header()?;
            }
            self.w.sync_data()?;
            self.synced_at = self.committed;
            self.last_sync = now;
        } else if wall_due {
            self.last_sync = now;
        }
        Ok(())
    }

    /// Writes stereo frames for positions [committed, target).
    fn commit(&mut self, target: u64) -> Result<(), RecordingError> {
        let window = self.ring[0].len() as u64;
        while self.committed < target {
            let n = ((target - self.committed) as usize).min(COMMIT_CHUNK);
            for k in 0..n {
                let i = ((self.committed + k as u64) % window) as usize;
                let l = std::mem::take(&mut self.ring[0][i]).to_le_bytes();
                let r = std::mem::take(&mut self.ring[1][i]).to_le_bytes();
                self.scratch[4 * k..4 * k + 4].copy_from_slice(&[l[0], l[1], r[0], r[1]]);
            }
            if !self.at_end {
                self.w
                    .seek(SeekFrom::Start(HEADER_LEN as u64 + self.committed * 4))?;
                self.at_end = true;
            }
            if let Err(e) = self.w.write_all(&self.scratch[..4 * n]) {
                // Part of the frames may be on disk: re-seek before the next attempt.
                self.at_end = false;
                return Err(e.into());
            }
            self.committed += n as u64;
        }
        Ok(())
    }

    /// Rewrites the RIFF and data sizes to cover exactly the frames written.
    fn write_header(&mut self) -> Result<(), RecordingError> {
        let data = u32::try_from(self.committed * 4).unwrap_or(u32::MAX - 36);
        self.w.flush()?;
        self.at_end = false;
        self.w.seek(SeekFrom::Start(4))?;
        self.w.write_all(&data.saturating_add(36).to_le_bytes())?;
        self.w.seek(SeekFrom::Start(40))?;
        self.w.write_all(&data.to_le_bytes())?;
        self.w.flush()?;
        self.header_at = self.committed;
        Ok(())
    }
}

/// What [`repair_wav`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepairOutcome {
    /// The header already matched the file.
    Unchanged,
    /// The size fields were rewritten (and a partial trailing frame cut off).
    Repaired {
        /// Audio bytes the header claimed before.
        claimed: u32,
        /// Audio bytes it claims now.
        data_len: u32,
    },
}

/// The header fix [`repair_wav`] applies, computed by [`plan_repair`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepairPlan {
    /// Audio bytes the `data` size field should say (whole frames only).
    pub data_len: u32,
    /// Value for the RIFF size field at offset 4.
    pub riff_size: u32,
    /// Offset of the `data` chunk's size field.
    pub data_size_offset: usize,
    /// File length after cutting a partial trailing frame.
    pub file_len: u64,
}

/// The header fix for a WAV whose first bytes are `head` and whose length is `file_len`,
/// or `None` if the header already matches. Pure; [`repair_wav`] applies it.
pub fn plan_repair(head: &[u8], file_len: u64) -> Result<Option<RepairPlan>, WavError> {
    let info = wav::parse_header(head)?;
    let align = u64::from(info.channels) * 2;
    let avail = file_len.saturating_sub(info.data_offset as u64);
    let data_len = (avail - avail % align).min(u64::from(u32::MAX - 64) / align * align);
    let riff = data_len + info.data_offset as u64 - 8;
    let current_riff = head
        .get(4..8)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes);
    let new_len = info.data_offset as u64 + data_len;
    if u64::from(info.data_len_claimed) == data_len
        && current_riff.map(u64::from) == Some(riff)
        && new_len == file_len
    {
        return Ok(None);
    }
    Ok(Some(RepairPlan {
        data_len: data_len as u32,
        riff_size: riff as u32,
        data_size_offset: info.data_size_offset,
        file_len: new_len,
    }))
}

/// Startup recovery for a recording left by a crash: sets the RIFF and data sizes from
/// the file's real length (dropping a partial trailing frame) and syncs.
pub fn repair_wav(path: &Path) -> Result<RepairOutcome, RecordingError> {
    let mut f = OpenOptions::new().read(true).write(true).open(path)?;
    let file_len = f.metadata()?.len();
    let mut head = Vec::with_capacity(4096);
    (&mut f).take(4096).read_to_end(&mut head)?;
    let claimed = wav::parse_header(&head)?.data_len_claimed;
    let Some(plan) = plan_repair(&head, file_len)? else {
        return Ok(RepairOutcome::Unchanged);
    };
    f.seek(SeekFrom::Start(4))?;
    f.write_all(&plan.riff_size.to_le_bytes())?;
    f.seek(SeekFrom::Start(plan.data_size_offset as u64))?;
    f.write_all(&plan.data_len.to_le_bytes())?;
    if plan.file_len < file_len {
        f.set_len(plan.file_len)?;
    }
    f.sync_data()?;
    Ok(RepairOutcome::Repaired {
        claimed,
        data_len: plan.data_len,
    })
}

/// `<data_dir>/recordings/YYYY/MM/DD/<call_id>.wav`. The call id must be a plain file
/// name: ASCII letters, digits, `-`, `_`, `.`, not starting with `.`, 1-128 chars.
pub fn recording_path(
    data_dir: &Path,
    date: chrono::NaiveDate,
    call_id: &str,
) -> Result<PathBuf, RecordingError> {
    let safe = !call_id.is_empty()
        && call_id.len() <= 128
        && !call_id.starts_with('.')
        && call_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !safe {
        return Err(RecordingError::InvalidCallId);
    }
    Ok(data_dir
        .join("recordings")
        .join(format!("{:04}", date.year()))
        .join(format!("{:02}", date.month()))
        .join(format!("{:02}", date.day()))
        .join(format!("{call_id}.wav")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_layout() {
        let d = chrono::NaiveDate::from_ymd_opt(2026, 3, 7).expect("date");
        let p = recording_path(Path::new("/var/lib/sb"), d, "c-42").expect("path");
        assert_eq!(p, Path::new("/var/lib/sb/recordings/2026/03/07/c-42.wav"));
        assert!(recording_path(Path::new("/x"), d, "../etc/passwd").is_err());
        assert!(recording_path(Path::new("/x"), d, "a/b").is_err());
        assert!(recording_path(Path::new("/x"), d, "").is_err());
        assert!(recording_path(Path::new("/x"), d, ".hidden").is_err());
    }

    #[test]
    fn plan_repair_sets_sizes_from_length() {
        let mut f = wav::header(2, 8000, 0).to_vec();
        f.extend_from_slice(&[0; 4 * 10 + 3]);
        let plan = plan_repair(&f, f.len() as u64)
            .expect("wav")
            .expect("needs repair");
        assert_eq!(
            plan,
            RepairPlan {
                data_len: 40,
                riff_size: 76,
                data_size_offset: 40,
                file_len: 84
            }
        );
        let fixed = wav::header(2, 8000, 40);
        assert_eq!(plan_repair(&fixed, 84).expect("wav"), None);
    }

    #[test]
    fn header_is_valid_from_the_first_byte() {
        let t0 = crate::test_epoch();
        let w = RecordingWriter::create(Cursor::new(Vec::new()), t0, RecordingConfig::default())
            .expect("create");
        let bytes = w.w.get_ref().clone();
        assert_eq!(bytes.len(), 44);
        let info = wav::parse_header(&bytes).expect("header");
        assert_eq!(
            (info.channels, info.sample_rate, info.data_len_claimed),
            (2, 8000, 0)
        );
    }

    #[test]
    fn aligns_sides_and_fills_gaps_with_silence() {
        let t0 = crate::test_epoch();
        let mut w =
            RecordingWriter::create(Cursor::new(Vec::new()), t0, RecordingConfig::default())
                .expect("create");
        w.handle_frame(t0, Side::Caller, 0, &[1; 160]).expect("c");
        assert_eq!(w.frames_written(), 0, "waits for the agent side");
        w.handle_frame(t0, Side::Agent, 0, &[2; 160]).expect("a");
        assert_eq!(w.frames_written(), 160);
        // Caller loses a packet (160..320) while the agent keeps talking.
        w.handle_frame(t0, Side::Agent, 160, &[3; 160]).expect("a");
        w.handle_frame(t0, Side::Caller, 320, &[4; 160]).expect("c");
        w.handle_frame(t0, Side::Agent, 320, &[5; 160]).expect("a");
        let cur = w.finish().expect("finish");
        let bytes = cur.into_inner();
        let info = wav::parse_header(&bytes).expect("hdr");
        let s = wav::decode_samples(&bytes, &info);
        assert_eq!(s.len(), 2 * 480);
        assert_eq!((s[0], s[1]), (1, 2));
        assert_eq!((s[2 * 200], s[2 * 200 + 1]), (0, 3));
        assert_eq!((s[2 * 400], s[2 * 400 + 1]), (4, 5));
    }

    #[test]
    fn the_small_window_writes_the_same_file_as_a_huge_one() {
        // Frames of both sides with loss, reordering, a big jump ahead, a long frame and
        // late audio: the default window (2,624 samples) and a 1 M-sample one agree.
        let t0 = crate::test_epoch();
        let cfg = RecordingConfig::default();
        assert_eq!(window_len(&cfg), 2624);
        assert_eq!(recording_buffer_bytes(&cfg), 2 * 2624 * 2 + 1024);
        let mut small = RecordingWriter::create(Cursor::new(Vec::new()), t0, cfg).expect("s");
        let mut huge =
            RecordingWriter::create_with_window(Cursor::new(Vec::new()), t0, cfg, 1 << 20)
                .expect("h");
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut pos = [0u64; 2];
        for step in 0..3000u64 {
            let side = if rnd(2) == 0 {
                Side::Caller
            } else {
                Side::Agent
            };
            let p = &mut pos[side.idx()];
            let len = match rnd(50) {
                0 => 6000, // a long frame
                1..=3 => 80,
                _ => 160,
            };
            match rnd(40) {
                0 => *p += 9000,                 // a jump past the window
                1 => *p += 160,                  // a lost frame
                2 => *p = p.saturating_sub(480), // late / reordered
                _ => {}
            }
            let samples: Vec<i16> = (0..len).map(|k| (step * 7 + k) as i16).collect();
            small.handle_frame(t0, side, *p, &samples).expect("s");
            huge.handle_frame(t0, side, *p, &samples).expect("h");
            *p += len;
        }
        assert_eq!(small.late_samples(), huge.late_samples());
        let (a, b) = (small.finish().expect("s"), huge.finish().expect("h"));
        assert!(a.get_ref().len() > 100_000);
        assert!(a.into_inner() == b.into_inner(), "the files differ");
    }

    #[test]
    fn one_silent_side_does_not_stall_the_other() {
        let t0 = crate::test_epoch();
        let mut w =
            RecordingWriter::create(Cursor::new(Vec::new()), t0, RecordingConfig::default())
                .expect("create");
        for k in 0..50u64 {
            w.handle_frame(t0, Side::Caller, k * 160, &[7; 160])
                .expect("c");
        }
        // 8000 samples from one side: all but max_skew are written, right channel silent.
        assert_eq!(w.frames_written(), 8000 - 1600);
        // Late agent audio for an already-written position is dropped and counted.
        w.handle_frame(t0, Side::Agent, 0, &[9; 160]).expect("a");
        assert_eq!(w.late_samples(), 160);
    }
}

//! Crash safety of the recording writer: a file cut anywhere after a header update opens
//! with an independent reader (hound) and holds all audio up to that update; repair_wav
//! recovers the rest.

use std::io::{Cursor, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use switchboard_media::{
    repair_wav, RecordingConfig, RecordingWriter, RepairOutcome, Side, SyncTarget,
};

#[allow(clippy::disallowed_methods)] // a base instant only; tests never wait on real time
fn epoch() -> Instant {
    switchboard_test_support::epoch()
}

/// A `Cursor` that snapshots the file at every header rewrite and counts syncs, so the
/// test can "kill -9" the writer right after any header update.
#[derive(Default)]
struct Disk {
    cur: Cursor<Vec<u8>>,
    syncs: u32,
    /// (file bytes, data bytes the header claims) after each write to offset 40.
    snapshots: Vec<(Vec<u8>, u32)>,
    pending_header: bool,
}

impl Write for Disk {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let at = self.cur.position();
        let n = self.cur.write(buf)?;
        if at == 40 && n == 4 {
            self.pending_header = true;
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if std::mem::take(&mut self.pending_header) {
            let bytes = self.cur.get_ref().clone();
            let claimed = u32::from_le_bytes([bytes[40], bytes[41], bytes[42], bytes[43]]);
            self.snapshots.push((bytes, claimed));
        }
        Ok(())
    }
}

impl Seek for Disk {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.cur.seek(pos)
    }
}

impl SyncTarget for Disk {
    fn sync_data(&mut self) -> std::io::Result<()> {
        self.syncs += 1;
        Ok(())
    }
}

/// Caller: sample value = position % 1000; agent: -(position % 1000).
fn caller(pos: u64, n: usize) -> Vec<i16> {
    (0..n as u64).map(|k| ((pos + k) % 1000) as i16).collect()
}

fn write_call(disk: &mut Disk, seconds: u64) {
    let t0 = epoch();
    let mut w =
        RecordingWriter::create(&mut *disk, t0, RecordingConfig::default()).expect("create");
    for k in 0..seconds * 50 {
        let pos = k * 160;
        let now = t0 + Duration::from_millis(20 * k);
        let c = caller(pos, 160);
        let a: Vec<i16> = c.iter().map(|s| -s).collect();
        w.handle_frame(now, Side::Caller, pos, &c).expect("caller");
        w.handle_frame(now, Side::Agent, pos, &a).expect("agent");
        w.handle_timeout(now).expect("timeout");
    }
    // No finish(): the process dies here.
}

fn check_readable(bytes: &[u8], claimed: u32) -> usize {
    let reader = hound::WavReader::new(Cursor::new(bytes)).expect("hound opens it");
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    let samples: Vec<i16> = reader
        .into_samples::<i16>()
        .collect::<Result<_, _>>()
        .expect("samples");
    assert_eq!(samples.len(), claimed as usize / 2);
    for (i, pair) in samples.chunks_exact(2).enumerate() {
        let want = (i as u64 % 1000) as i16;
        assert_eq!((pair[0], pair[1]), (want, -want), "frame {i}");
    }
    samples.len() / 2
}

#[test]
fn header_updates_at_least_every_second_and_syncs_every_five() {
    let mut disk = Disk::default();
    write_call(&mut disk, 12);
    let claims: Vec<u32> = disk.snapshots.iter().map(|s| s.1).collect();
    assert!(claims.len() >= 11, "{claims:?}");
    // Consecutive header updates never leave more than 1 s (8000 frames * 4 bytes) plus
    // the skew window uncovered.
    for w in claims.windows(2) {
        assert!(w[1] > w[0]);
        assert!(w[1] - w[0] <= 8000 * 4 + 160 * 4, "{w:?}");
    }
    // create() syncs once, then at least every 5 s of the 12.
    assert!(disk.syncs >= 3, "syncs {}", disk.syncs);
}

#[test]
fn killed_after_any_header_update_the_file_opens_and_holds_the_audio() {
    let mut disk = Disk::default();
    write_call(&mut disk, 4);
    let final_len = disk.cur.get_ref().len();
    for (bytes, claimed) in &disk.snapshots {
        // The header never claims bytes the file does not hold.
        assert!(44 + *claimed as usize <= bytes.len());
        // Cut the file anywhere between the claimed end and the data written so far.
        let lo = 44 + *claimed as usize;
        for cut in [lo, lo + 1, lo + 3, (lo + bytes.len()) / 2, bytes.len()] {
            let cut = cut.min(bytes.len());
            let frames = check_readable(&bytes[..cut], *claimed);
            assert_eq!(frames as u32, claimed / 4);
        }
    }
    assert!(final_len > 44 + 3 * 8000 * 4);
}

fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-media-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    dir.join(name)
}

#[test]
fn repair_fixes_a_header_that_says_zero_bytes() {
    let path = temp_path("zero.wav");
    {
        let f = std::fs::File::create(&path).expect("create");
        let t0 = epoch();
        let cfg = RecordingConfig {
            header_interval: u64::MAX,
            sync_interval: Duration::from_secs(3600),
            ..RecordingConfig::default()
        };
        let mut w = RecordingWriter::create(f, t0, cfg).expect("writer");
        for k in 0..100u64 {
            let c = caller(k * 160, 160);
            let a: Vec<i16> = c.iter().map(|s| -s).collect();
            w.handle_frame(t0, Side::Caller, k * 160, &c).expect("c");
            w.handle_frame(t0, Side::Agent, k * 160, &a).expect("a");
        }
        // Dropped without finish(): header still claims 0 bytes.
    }
    // Append half a stereo frame, as a crash mid-write would leave.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open")
        .write_all(&[1, 2])
        .expect("append");
    let before = std::fs::read(&path).expect("read");
    assert_eq!(
        u32::from_le_bytes([before[40], before[41], before[42], before[43]]),
        0
    );

    let outcome = repair_wav(&path).expect("repair");
    let frames = 16000; // both sides were level, so everything reached the file
    assert_eq!(
        outcome,
        RepairOutcome::Repaired {
            claimed: 0,
            data_len: frames * 4
        }
    );
    let bytes = std::fs::read(&path).expect("read");
    assert_eq!(
        bytes.len(),
        44 + frames as usize * 4,
        "partial frame cut off"
    );
    assert_eq!(check_readable(&bytes, frames * 4), frames as usize);
    assert_eq!(repair_wav(&path).expect("again"), RepairOutcome::Unchanged);
    std::fs::remove_file(&path).expect("cleanup");
}

#[test]
fn finished_recording_needs_no_repair() {
    let path = temp_path("done.wav");
    let f = std::fs::File::create(&path).expect("create");
    let t0 = epoch();
    let mut w = RecordingWriter::create(f, t0, RecordingConfig::default()).expect("writer");
    w.handle_frame(t0, Side::Caller, 0, &caller(0, 800))
        .expect("c");
    w.handle_frame(
        t0,
        Side::Agent,
        0,
        &caller(0, 800).iter().map(|s| -s).collect::<Vec<_>>(),
    )
    .expect("a");
    w.finish().expect("finish");
    assert_eq!(repair_wav(&path).expect("repair"), RepairOutcome::Unchanged);
    let bytes = std::fs::read(&path).expect("read");
    assert_eq!(check_readable(&bytes, 800 * 4), 800);
    std::fs::remove_file(&path).expect("cleanup");
}

#[test]
fn repair_rejects_non_wav() {
    let path = temp_path("junk.wav");
    std::fs::write(&path, b"not a wav file at all, sorry").expect("write");
    assert!(repair_wav(&path).is_err());
    std::fs::remove_file(&path).expect("cleanup");
}

//! The shared recording writer pool: a fixed number of blocking threads (`[data]
//! recording_writers`, default 2) write every recording of the process, instead of one
//! thread per recording.
//!
//! Each writer thread owns the files and crash-safe `RecordingWriter`s of the recordings
//! assigned to it (round robin) and is fed by one bounded queue of fixed-size frame
//! messages (the samples travel inline: no allocation per frame on the call's side) plus
//! an unbounded control channel (open, finish, shutdown) that never blocks a call. The
//! thread drives each writer's header/fsync timer itself (decision 0006: header rewritten
//! every second of audio, `sync_data` at least every 5 s), and writes go through a small
//! `BufWriter` so a recording costs a few `write` calls per second, not one per frame.
//!
//! A full queue never blocks the call: the frame is dropped, counted on the recording
//! (`call.end`'s `recording_dropped_frames`) and the first drop of a recording is logged.
//! The queue's bound is a count of messages in flight, not a preallocated ring, so its
//! memory follows the backlog (a few blocks while the writer keeps up) instead of every
//! slot of a 16,384-message ring becoming resident (decision 0036).
//!
//! The writer thread also creates each recording's file, writes its header and syncs it
//! (`WriterPool::start` only queues the request): a call task never touches the disk, so
//! a slow `fdatasync` cannot stall the runtime thread that relays other calls' packets
//! (decision 0045).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use switchboard_media::{RecordingConfig, RecordingWriter, Side, SyncTarget};

/// Samples carried inline by one queued message: one 20 ms frame at 8 kHz (it was 40 ms,
/// so every 20 ms frame carried 160 unused samples); longer frames are split over
/// several messages.
pub(crate) const CHUNK_SAMPLES: usize = 160;
/// Messages each writer thread's queue may hold in flight (about 360 bytes each: ≈5.6
/// MiB per writer at most, resident only while such a backlog exists). A recording sends
/// 100 messages a second (two sides, 20 ms frames), so with the default two writers this
/// is ≈1.1 s of the audio of 300 recordings and ≈0.33 s of 1,000: room to ride out an
/// fsync. The first measurement with 2,048 and one writer dropped frames at 300 calls
/// (benches/README.md).
pub(crate) const QUEUE_PER_WRITER: usize = 16_384;
/// Bytes buffered per recording before a `write` call (256 ms of stereo audio).
const FILE_BUFFER: usize = 8192;
/// Longest sleep of a writer thread that has open recordings (it checks its control
/// channel and timers at least this often).
const POLL: Duration = Duration::from_millis(50);

/// A seekable, syncable file a recording is written to (a `std::fs::File` in the
/// server; tests use in-memory or deliberately stalled files).
pub(crate) trait RecordingFile: Write + Seek + Send {
    /// Makes the written data durable (`fdatasync` for a file).
    fn sync(&mut self) -> io::Result<()>;
}

impl RecordingFile for File {
    fn sync(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }
}

/// Heap bytes one open recording holds on its writer thread: the file buffer, the
/// writer's windows and scratch, its slot (`call/footprint.rs` counts them per call).
#[cfg(test)]
pub(crate) fn heap_per_recording() -> usize {
    FILE_BUFFER
        + switchboard_media::recording_buffer_bytes(&RecordingConfig::default())
        + std::mem::size_of::<Writer>()
        + std::mem::size_of::<Slot>()
}

/// The boxed file behind a recording's `BufWriter`.
pub(crate) struct BoxedFile(Box<dyn RecordingFile>);

impl Write for BoxedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl Seek for BoxedFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.0.seek(pos)
    }
}

impl SyncTarget for BoxedFile {
    fn sync_data(&mut self) -> io::Result<()> {
        self.0.sync()
    }
}

type Writer = RecordingWriter<BufWriter<BoxedFile>>;

/// Identifies a recording inside the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct RecordingId(u64);

/// One queued piece of audio of one side of one recording.
struct FrameMsg {
    rec: RecordingId,
    side: Side,
    position: u64,
    now: Instant,
    len: u16,
    samples: [i16; CHUNK_SAMPLES],
}

/// Creates a recording's file (on the writer thread).
pub(crate) type OpenFile = Box<dyn FnOnce() -> io::Result<Box<dyn RecordingFile>> + Send>;

enum Control {
    /// Create the file, write the header (synced) and take the recording's frames.
    Open {
        rec: RecordingId,
        open: OpenFile,
        cfg: RecordingConfig,
        path: PathBuf,
    },
    /// The recording ends once `enqueued` frame messages of it have been taken.
    Finish {
        rec: RecordingId,
        enqueued: u64,
    },
    Shutdown,
}

/// The sending side of a writer thread's frame queue: an unbounded channel whose bound
/// is enforced by counting the messages in flight (the channel allocates a block per 31
/// messages and frees it once they are taken, so memory follows the backlog).
#[derive(Clone)]
struct FrameQueue {
    tx: mpsc::Sender<FrameMsg>,
    in_flight: Arc<AtomicUsize>,
    capacity: usize,
}

impl FrameQueue {
    /// Queues `msg` unless `capacity` messages are already in flight or the writer is
    /// gone; never blocks. `false`: dropped.
    fn try_send(&self, msg: FrameMsg) -> bool {
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        if self.tx.send(msg).is_err() {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }
}

/// The writer thread's side of its frame queue.
struct FrameInbox {
    rx: mpsc::Receiver<FrameMsg>,
    in_flight: Arc<AtomicUsize>,
}

impl FrameInbox {
    fn taken(&self, m: FrameMsg) -> FrameMsg {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        m
    }

    fn try_recv(&self) -> Result<FrameMsg, TryRecvError> {
        self.rx.try_recv().map(|m| self.taken(m))
    }

    fn recv_timeout(&self, d: Duration) -> Result<FrameMsg, RecvTimeoutError> {
        self.rx.recv_timeout(d).map(|m| self.taken(m))
    }
}

struct WriterThread {
    frames: FrameQueue,
    control: mpsc::Sender<Control>,
}

/// The fixed set of writer threads; dropping it finishes every open recording (frames
/// already queued are written first) and joins the threads.
pub(crate) struct WriterPool {
    threads: Vec<WriterThread>,
    joins: Vec<JoinHandle<()>>,
    next: AtomicU64,
}

impl WriterPool {
    /// Starts `writers` threads (at least 1), each with a queue of `queue` messages.
    pub(crate) fn new(writers: usize, queue: usize) -> io::Result<WriterPool> {
        let mut threads = Vec::new();
        let mut joins = Vec::new();
        for k in 0..writers.max(1) {
            let (frames_tx, frames_rx) = mpsc::channel();
            let in_flight = Arc::new(AtomicUsize::new(0));
            let inbox = FrameInbox {
                rx: frames_rx,
                in_flight: in_flight.clone(),
            };
            let (control_tx, control_rx) = mpsc::channel();
            let join = std::thread::Builder::new()
                .name(format!("recording-writer-{k}"))
                .spawn(move || run(inbox, control_rx))?;
            threads.push(WriterThread {
                frames: FrameQueue {
                    tx: frames_tx,
                    in_flight,
                    capacity: queue.max(1),
                },
                control: control_tx,
            });
            joins.push(join);
        }
        Ok(WriterPool {
            threads,
            joins,
            next: AtomicU64::new(0),
        })
    }

    /// Hands a recording to a writer thread, which creates its file with `open`, writes
    /// the WAV header and syncs it before it writes the recording's first frame. The
    /// caller (a call task on the async runtime) never waits for the disk: a new file's
    /// `fdatasync` on a busy disk took long enough to hold up every call of a runtime
    /// thread (decision 0045). A file that cannot be created is logged by the writer
    /// thread and the recording's frames are discarded. `path` names the recording in logs.
    pub(crate) fn start(
        &self,
        path: PathBuf,
        open: OpenFile,
        cfg: RecordingConfig,
    ) -> io::Result<PoolRecording> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let rec = RecordingId(n);
        let t = &self.threads[(n % self.threads.len() as u64) as usize];
        t.control
            .send(Control::Open {
                rec,
                open,
                cfg,
                path,
            })
            .map_err(|_| io::Error::other("recording writer thread is gone"))?;
        Ok(PoolRecording {
            rec,
            frames: t.frames.clone(),
            control: t.control.clone(),
            enqueued: 0,
            dropped: 0,
        })
    }
}

impl Drop for WriterPool {
    fn drop(&mut self) {
        for t in &self.threads {
            let _ = t.control.send(Control::Shutdown);
        }
        for j in self.joins.drain(..) {
            let _ = j.join();
        }
    }
}

/// The call's side of one recording; dropping it finishes the file (never blocks).
pub(crate) struct PoolRecording {
    rec: RecordingId,
    frames: FrameQueue,
    control: mpsc::Sender<Control>,
    enqueued: u64,
    dropped: u64,
}

impl PoolRecording {
    /// Queues `samples` of `side` at `position`; returns how many messages were dropped
    /// because the writer's queue was full (or the writer is gone).
    pub(crate) fn frame(
        &mut self,
        side: Side,
        position: u64,
        now: Instant,
        samples: &[i16],
    ) -> u64 {
        let mut dropped = 0;
        let mut pos = position;
        for chunk in samples.chunks(CHUNK_SAMPLES) {
            let mut msg = FrameMsg {
                rec: self.rec,
                side,
                position: pos,
                now,
                len: chunk.len() as u16,
                samples: [0; CHUNK_SAMPLES],
            };
            msg.samples[..chunk.len()].copy_from_slice(chunk);
            if self.frames.try_send(msg) {
                self.enqueued += 1;
            } else {
                dropped += 1;
            }
            pos += chunk.len() as u64;
        }
        self.dropped += dropped;
        dropped
    }

    /// Frame messages dropped so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl Drop for PoolRecording {
    fn drop(&mut self) {
        let _ = self.control.send(Control::Finish {
            rec: self.rec,
            enqueued: self.enqueued,
        });
    }
}

struct Slot {
    writer: Option<Writer>,
    path: PathBuf,
    received: u64,
    finish_after: Option<u64>,
}

impl Slot {
    fn done(&self) -> bool {
        self.finish_after.is_some_and(|n| self.received >= n)
    }

    fn close(self) {
        if let Some(w) = self.writer {
            if let Err(e) = w.finish() {
                tracing::warn!(error = %e, path = %self.path.display(), "recording finish failed");
            }
        }
    }
}

/// A writer thread's loop: control first (an `Open` always precedes its frames), then
/// frames until the next timer or `POLL`.
fn run(frames: FrameInbox, control: mpsc::Receiver<Control>) {
    let mut slots: HashMap<RecordingId, Slot> = HashMap::new();
    let mut shutdown = false;
    loop {
        loop {
            let c = if shutdown {
                Ok(Control::Shutdown)
            } else {
                control.try_recv()
            };
            match c {
                Ok(Control::Shutdown) | Err(TryRecvError::Disconnected) => {
                    while let Ok(f) = frames.try_recv() {
                        apply(&mut slots, &control, &mut shutdown, f);
                    }
                    for (_, s) in slots.drain() {
                        s.close();
                    }
                    return;
                }
                Ok(c) => on_control(&mut slots, c),
                Err(TryRecvError::Empty) => break,
            }
        }
        if slots.is_empty() {
            match control.recv() {
                Ok(Control::Shutdown) | Err(_) => return,
                Ok(c) => on_control(&mut slots, c),
            }
            continue;
        }
        let now = Instant::now();
        let due = slots
            .values()
            .filter_map(|s| s.writer.as_ref().map(|w| w.poll_timeout()))
            .min()
            .unwrap_or(now + POLL);
        match frames.recv_timeout(due.saturating_duration_since(now).min(POLL)) {
            Ok(f) => {
                apply(&mut slots, &control, &mut shutdown, f);
                // Take what else is queued before looking at timers again.
                while let Ok(f) = frames.try_recv() {
                    apply(&mut slots, &control, &mut shutdown, f);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {}
        }
        let now = Instant::now();
        for s in slots.values_mut() {
            if let Some(w) = s.writer.as_mut() {
                if now >= w.poll_timeout() {
                    if let Err(e) = w.handle_timeout(now) {
                        tracing::warn!(error = %e, path = %s.path.display(), "recording write failed");
                        s.writer = None;
                    }
                }
            }
        }
    }
}

fn on_control(slots: &mut HashMap<RecordingId, Slot>, c: Control) {
    match c {
        Control::Open {
            rec,
            open,
            cfg,
            path,
        } => {
            let writer = open()
                .and_then(|file| {
                    let sink = BufWriter::with_capacity(FILE_BUFFER, BoxedFile(file));
                    RecordingWriter::create(sink, Instant::now(), cfg)
                        .map_err(|e| io::Error::other(e.to_string()))
                })
                .map_err(|e| {
                    tracing::warn!(error = %e, path = %path.display(), "cannot start recording: its audio is discarded");
                })
                .ok();
            slots.insert(
                rec,
                Slot {
                    writer,
                    path,
                    received: 0,
                    finish_after: None,
                },
            );
        }
        Control::Finish { rec, enqueued } => {
            if let Some(s) = slots.get_mut(&rec) {
                s.finish_after = Some(enqueued);
                if s.done() {
                    if let Some(s) = slots.remove(&rec) {
                        s.close();
                    }
                }
            }
        }
        Control::Shutdown => {}
    }
}

/// Writes one frame. A frame can be taken before its recording's `Open` (sent earlier on
/// the control channel) has been read: the control channel is then read up to it.
fn apply(
    slots: &mut HashMap<RecordingId, Slot>,
    control: &mpsc::Receiver<Control>,
    shutdown: &mut bool,
    f: FrameMsg,
) {
    while !slots.contains_key(&f.rec) {
        match control.try_recv() {
            Ok(Control::Shutdown) => *shutdown = true,
            Ok(c) => on_control(slots, c),
            Err(_) => break,
        }
    }
    let Some(s) = slots.get_mut(&f.rec) else {
        return;
    };
    s.received += 1;
    if let Some(w) = s.writer.as_mut() {
        let samples = &f.samples[..usize::from(f.len).min(CHUNK_SAMPLES)];
        if let Err(e) = w.handle_frame(f.now, f.side, f.position, samples) {
            tracing::warn!(error = %e, path = %s.path.display(), "recording write failed");
            s.writer = None;
        }
    }
    if s.done() {
        if let Some(s) = slots.remove(&f.rec) {
            s.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::sync::{Arc, Condvar, Mutex};

    /// An in-memory file the test can read after the pool has finished with it.
    #[derive(Clone, Default)]
    struct MemFile(Arc<Mutex<Cursor<Vec<u8>>>>);

    impl MemFile {
        fn bytes(&self) -> Vec<u8> {
            self.0.lock().unwrap().get_ref().clone()
        }
    }

    impl Write for MemFile {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Seek for MemFile {
        fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
            self.0.lock().unwrap().seek(pos)
        }
    }

    impl RecordingFile for MemFile {
        fn sync(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The sizes in a WAV header: (RIFF size, data size).
    fn sizes(wav: &[u8]) -> (u32, u32) {
        let u = |o: usize| u32::from_le_bytes([wav[o], wav[o + 1], wav[o + 2], wav[o + 3]]);
        (u(4), u(40))
    }

    fn caller_sample(rec: usize, i: usize) -> i16 {
        (rec * 1000 + i % 997) as i16
    }

    fn agent_sample(rec: usize, i: usize) -> i16 {
        -((rec * 1000 + i % 991) as i16) - 1
    }

    fn msg(n: u64) -> FrameMsg {
        FrameMsg {
            rec: RecordingId(n),
            side: Side::Caller,
            position: 0,
            now: Instant::now(),
            len: 0,
            samples: [0; CHUNK_SAMPLES],
        }
    }

    /// The caller (a call task) never touches the disk: the file is created, its header
    /// written and synced on the writer thread; a file that cannot be created only
    /// discards that recording's audio.
    #[test]
    fn files_are_created_on_the_writer_thread_and_a_failed_one_discards_its_audio() {
        let pool = WriterPool::new(1, 64).unwrap();
        let caller = std::thread::current().id();
        let (opened_tx, opened) = mpsc::channel();
        let file = MemFile::default();
        let f = file.clone();
        let open: OpenFile = Box::new(move || {
            opened_tx.send(std::thread::current().id()).unwrap();
            Ok(Box::new(f) as Box<dyn RecordingFile>)
        });
        let mut rec = pool
            .start("ok.wav".into(), open, RecordingConfig::default())
            .unwrap();
        let failing: OpenFile = Box::new(|| Err(io::Error::other("disk full")));
        let mut lost = pool
            .start("lost.wav".into(), failing, RecordingConfig::default())
            .unwrap();
        let t0 = Instant::now();
        for k in 0..10u64 {
            let frame = [7i16; 160];
            assert_eq!(rec.frame(Side::Caller, 160 * k, t0, &frame), 0);
            assert_eq!(rec.frame(Side::Agent, 160 * k, t0, &frame), 0);
            assert_eq!(lost.frame(Side::Caller, 160 * k, t0, &frame), 0);
        }
        let on = opened.recv().expect("the file was opened");
        assert_ne!(on, caller, "opened on the writer thread");
        drop((rec, lost));
        drop(pool);
        let wav = file.bytes();
        assert_eq!(
            sizes(&wav).1,
            10 * 160 * 4,
            "every frame of the good recording"
        );
        assert_eq!(wav.len(), 44 + 10 * 160 * 4);
    }

    #[test]
    fn the_queue_bound_counts_messages_in_flight_and_frees_as_they_are_taken() {
        let (tx, rx) = mpsc::channel();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let q = FrameQueue {
            tx,
            in_flight: in_flight.clone(),
            capacity: 2,
        };
        let inbox = FrameInbox { rx, in_flight };
        assert!(q.try_send(msg(1)));
        assert!(q.clone().try_send(msg(2)));
        assert!(!q.try_send(msg(3)), "a full queue drops");
        assert_eq!(inbox.try_recv().map(|m| m.rec.0).ok(), Some(1));
        assert!(q.try_send(msg(4)), "taking one makes room for one");
        assert!(!q.try_send(msg(5)));
        assert_eq!(inbox.try_recv().map(|m| m.rec.0).ok(), Some(2));
        assert_eq!(inbox.try_recv().map(|m| m.rec.0).ok(), Some(4));
        assert!(inbox.try_recv().is_err());
        assert_eq!(inbox.in_flight.load(Ordering::Relaxed), 0);
        drop(inbox);
        assert!(!q.try_send(msg(6)), "a gone writer drops too");
        assert_eq!(q.in_flight.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn many_recordings_through_one_thread_are_complete_wavs() {
        const RECORDINGS: usize = 20;
        const FRAMES: usize = 100; // 2 s of 20 ms frames per side
        const FRAME: usize = 160;
        let pool = WriterPool::new(1, 2 * RECORDINGS * FRAMES).unwrap();
        let files: Vec<MemFile> = (0..RECORDINGS).map(|_| MemFile::default()).collect();
        let mut recs: Vec<PoolRecording> = files
            .iter()
            .enumerate()
            .map(|(r, f)| {
                let f = f.clone();
                pool.start(
                    PathBuf::from(format!("rec-{r}.wav")),
                    Box::new(move || Ok(Box::new(f) as Box<dyn RecordingFile>)),
                    RecordingConfig::default(),
                )
                .unwrap()
            })
            .collect();
        let now = Instant::now();
        let mut buf = [0i16; FRAME];
        for k in 0..FRAMES {
            for (r, rec) in recs.iter_mut().enumerate() {
                let pos = k * FRAME;
                for (j, s) in buf.iter_mut().enumerate() {
                    *s = caller_sample(r, pos + j);
                }
                assert_eq!(rec.frame(Side::Caller, pos as u64, now, &buf), 0);
                for (j, s) in buf.iter_mut().enumerate() {
                    *s = agent_sample(r, pos + j);
                }
                assert_eq!(rec.frame(Side::Agent, pos as u64, now, &buf), 0);
            }
        }
        drop(recs);
        drop(pool); // finishes every recording and joins the writer
        for (r, f) in files.iter().enumerate() {
            let wav = f.bytes();
            let frames = FRAMES * FRAME;
            assert_eq!(wav.len(), 44 + frames * 4, "recording {r}");
            assert_eq!(sizes(&wav), (36 + frames as u32 * 4, frames as u32 * 4));
            for i in 0..frames {
                let o = 44 + 4 * i;
                let l = i16::from_le_bytes([wav[o], wav[o + 1]]);
                let rt = i16::from_le_bytes([wav[o + 2], wav[o + 3]]);
                assert_eq!(
                    (l, rt),
                    (caller_sample(r, i), agent_sample(r, i)),
                    "rec {r} frame {i}"
                );
            }
        }
    }

    /// A file whose writes block while `stalled` is set (a disk that stopped answering);
    /// it reports the first blocked write on `entered`.
    struct StalledFile {
        inner: MemFile,
        gate: Arc<(Mutex<bool>, Condvar)>,
        entered: mpsc::Sender<()>,
    }

    impl Write for StalledFile {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (lock, cv) = &*self.gate;
            let mut stalled = lock.lock().unwrap();
            if *stalled {
                let _ = self.entered.send(());
            }
            while *stalled {
                stalled = cv.wait(stalled).unwrap();
            }
            drop(stalled);
            self.inner.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Seek for StalledFile {
        fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
            self.inner.seek(pos)
        }
    }

    impl RecordingFile for StalledFile {
        fn sync(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_disk_drops_and_counts_and_never_blocks_the_call() {
        const QUEUE: usize = 8;
        let pool = WriterPool::new(1, QUEUE).unwrap();
        let mem = MemFile::default();
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let (entered_tx, entered) = mpsc::channel();
        let file = StalledFile {
            inner: mem.clone(),
            gate: gate.clone(),
            entered: entered_tx,
        };
        let mut rec = pool
            .start(
                "stalled.wav".into(),
                Box::new(move || Ok(Box::new(file) as Box<dyn RecordingFile>)),
                RecordingConfig::default(),
            )
            .unwrap();
        *gate.0.lock().unwrap() = true;
        let now = Instant::now();
        let frame = [7i16; 160];
        // Feed audio until the writer is stuck in a write (its file buffer fills first).
        let mut sent = 0u64;
        let mut pos = 0u64;
        while entered.try_recv().is_err() {
            assert!(
                sent < 1_000_000,
                "the writer never reached the stalled file"
            );
            rec.frame(Side::Caller, pos, now, &frame);
            rec.frame(Side::Agent, pos, now, &frame);
            pos += 160;
            sent += 2;
        }
        // The writer is blocked: the queue takes at most QUEUE more, the rest is dropped
        // and counted, and every call returns.
        let before = rec.dropped();
        for _ in 0..500 {
            rec.frame(Side::Caller, pos, now, &frame);
            rec.frame(Side::Agent, pos, now, &frame);
            pos += 160;
            sent += 2;
        }
        assert!(
            rec.dropped() - before >= 1000 - QUEUE as u64,
            "dropped {} of 1000 while stalled",
            rec.dropped() - before
        );
        assert_eq!(rec.enqueued + rec.dropped(), sent);
        // Ending the recording does not wait for the disk either.
        drop(rec);
        {
            let (lock, cv) = &*gate;
            *lock.lock().unwrap() = false;
            cv.notify_all();
        }
        drop(pool);
        // What was queued is written; the file is a valid WAV whose header covers it.
        let wav = mem.bytes();
        let (riff, data) = sizes(&wav);
        assert!(data > 0);
        assert_eq!(data as usize, wav.len() - 44);
        assert_eq!(data % 4, 0);
        assert_eq!(riff, data + 36);
    }
}

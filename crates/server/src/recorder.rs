//! Call recording on a blocking thread: the call task hands decoded frames over a
//! bounded channel; the thread owns the file and the crash-safe `RecordingWriter`
//! (header rewritten every second of audio, fsync at least every 5 s).

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Instant;

use switchboard_media::{RecordingConfig, RecordingWriter, Side};

enum Msg {
    Frame {
        side: Side,
        position: u64,
        samples: Vec<i16>,
        now: Instant,
    },
    Tick(Instant),
    Finish,
}

/// Handle held by the call task; dropping it finishes the file.
pub(crate) struct Recorder {
    tx: mpsc::SyncSender<Msg>,
    pub(crate) path: PathBuf,
    dropped: u64,
}

impl Recorder {
    /// Starts the recording of call `call_id` if `queue` records its calls (the queue's
    /// `record` key), at `<data-dir>/recordings/YYYY/MM/DD/<call-id>.wav`. Failures are
    /// logged and give None: a call is never refused for its recording.
    pub(crate) fn for_queue_call(
        cfg: &crate::config::Config,
        call_id: u64,
        queue: &str,
    ) -> Option<Recorder> {
        if !cfg.queues.iter().any(|q| q.name == queue && q.record) {
            return None;
        }
        Recorder::for_call(cfg, call_id)
    }

    /// A recording of call `call_id` in the data dir's dated tree (None when the file
    /// cannot be created: logged).
    pub(crate) fn for_call(cfg: &crate::config::Config, call_id: u64) -> Option<Recorder> {
        let date = chrono::Utc::now().date_naive();
        let path = switchboard_media::recording_path(&cfg.data.dir, date, &call_id.to_string())
            .map_err(|e| tracing::warn!(error = %e, "bad recording path"))
            .ok()?;
        Recorder::start(path)
            .map_err(|e| tracing::warn!(error = %e, "cannot start recording"))
            .ok()
    }

    /// Creates the file (and its directories) and starts the writer thread.
    pub(crate) fn start(path: PathBuf) -> std::io::Result<Recorder> {
        if let Some(dir) = path.parent() {
            crate::private_files::create_private_dir_all(dir)?;
        }
        let file = crate::private_files::create_private_file(&path)?;
        let mut writer = RecordingWriter::create(file, Instant::now(), RecordingConfig::default())
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let (tx, rx) = mpsc::sync_channel::<Msg>(512);
        let p = path.clone();
        std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || {
                for m in rx {
                    let r = match m {
                        Msg::Frame {
                            side,
                            position,
                            samples,
                            now,
                        } => writer.handle_frame(now, side, position, &samples),
                        Msg::Tick(now) => {
                            if now >= writer.poll_timeout() {
                                writer.handle_timeout(now)
                            } else {
                                Ok(())
                            }
                        }
                        Msg::Finish => break,
                    };
                    if let Err(e) = r {
                        tracing::warn!(error = %e, path = %p.display(), "recording write failed");
                        return;
                    }
                }
                if let Err(e) = writer.finish() {
                    tracing::warn!(error = %e, "recording finish failed");
                }
            })?;
        Ok(Recorder {
            tx,
            path,
            dropped: 0,
        })
    }

    /// Adds one side's frame at `position` (in samples from the recording's start).
    pub(crate) fn frame(&mut self, side: Side, position: u64, now: Instant, samples: &[i16]) {
        let msg = Msg::Frame {
            side,
            position,
            samples: samples.to_vec(),
            now,
        };
        if self.tx.try_send(msg).is_err() {
            self.dropped += 1;
        }
    }

    /// Lets the writer update the header / fsync when due.
    pub(crate) fn tick(&mut self, now: Instant) {
        let _ = self.tx.try_send(Msg::Tick(now));
    }

    /// Frames lost because the writer fell behind.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Finish);
    }
}

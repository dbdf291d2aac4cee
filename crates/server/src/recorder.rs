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

/// Where call `call_id`'s recording of `date` goes: `<recordings_dir>/YYYY/MM/DD/<id>.wav`
/// for a tenant with its own directory, else `<data-dir>/recordings/YYYY/MM/DD/<id>.wav`.
pub(crate) fn recording_file(
    cfg: &crate::config::Config,
    tenant: Option<&str>,
    date: chrono::NaiveDate,
    call_id: u64,
) -> Result<PathBuf, switchboard_media::RecordingError> {
    let shared = switchboard_media::recording_path(&cfg.data.dir, date, &call_id.to_string())?;
    let own = tenant
        .and_then(|t| cfg.tenant(t))
        .and_then(|t| t.recordings_dir.as_deref());
    Ok(
        match (own, shared.strip_prefix(cfg.data.dir.join("recordings"))) {
            (Some(dir), Ok(rel)) => dir.join(rel),
            _ => shared,
        },
    )
}

/// Handle held by the call task; dropping it finishes the file.
pub(crate) struct Recorder {
    tx: mpsc::SyncSender<Msg>,
    pub(crate) path: PathBuf,
    dropped: u64,
}

impl Recorder {
    /// Starts the recording of call `call_id` if `queue` records its calls (the queue's
    /// `record` key), at `<data-dir>/recordings/YYYY/MM/DD/<call-id>.wav`, or under the
    /// `recordings_dir` of the call's tenant (else the queue's tenant) when it has one.
    /// Failures are logged and give None: a call is never refused for its recording.
    pub(crate) fn for_queue_call(
        cfg: &crate::config::Config,
        call_id: u64,
        queue: &str,
        tenant: Option<&str>,
    ) -> Option<Recorder> {
        let q = cfg.queues.iter().find(|q| q.name == queue && q.record)?;
        Recorder::for_tenant_call(cfg, call_id, tenant.or(q.tenant.as_deref()))
    }

    /// A recording of call `call_id` in the data dir's dated tree (None when the file
    /// cannot be created: logged).
    pub(crate) fn for_call(cfg: &crate::config::Config, call_id: u64) -> Option<Recorder> {
        Recorder::for_tenant_call(cfg, call_id, None)
    }

    /// A recording of call `call_id` in `tenant`'s `recordings_dir` when it has one, else
    /// in the data dir's dated tree.
    fn for_tenant_call(
        cfg: &crate::config::Config,
        call_id: u64,
        tenant: Option<&str>,
    ) -> Option<Recorder> {
        let date = chrono::Utc::now().date_naive();
        let path = recording_file(cfg, tenant, date, call_id)
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

//! Call recording: the call task's handle on a recording written by the shared writer
//! pool (`recorder::writer_pool`, decision 0032). The handle queues decoded frames
//! without blocking or allocating; a frame the pool cannot take is dropped, counted
//! (`dropped()`, reported in `call.end`) and the first such drop of a recording logged.

mod writer_pool;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use switchboard_media::{RecordingConfig, Side};

#[cfg(test)]
pub(crate) use writer_pool::heap_per_recording;
pub(crate) use writer_pool::WriterPool;
use writer_pool::{PoolRecording, QUEUE_PER_WRITER};

/// The process's writer pool, started with the first recording (`[data]
/// recording_writers` threads); None when its threads could not be started (logged).
fn shared_pool(writers: usize) -> Option<&'static WriterPool> {
    static POOL: OnceLock<Option<WriterPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        WriterPool::new(writers, QUEUE_PER_WRITER)
            .map_err(|e| tracing::warn!(error = %e, "cannot start the recording writers"))
            .ok()
    })
    .as_ref()
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
    rec: PoolRecording,
    pub(crate) path: PathBuf,
}

impl Recorder {
    /// Starts the recording of call `call_id` if `queue` records its calls (the queue's
    /// `record` key), at `<data-dir>/recordings/YYYY/MM/DD/<call-id>.wav`, or under the
    /// `recordings_dir` of the call's tenant (else the queue's tenant) when it has one.
    /// A bad path or a pool that cannot start is logged and gives None; a file the writer
    /// thread cannot create is logged there and the recording's audio discarded: a call
    /// is never refused or held up for its recording.
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
        let pool = shared_pool(cfg.data.recording_writers)?;
        Recorder::start(pool, path)
            .map_err(|e| tracing::warn!(error = %e, "cannot start recording"))
            .ok()
    }

    /// Hands the recording at `path` to `pool`, whose writer thread creates the file
    /// (and its directories): the call never waits for the disk.
    pub(crate) fn start(pool: &WriterPool, path: PathBuf) -> std::io::Result<Recorder> {
        let at = path.clone();
        let open: writer_pool::OpenFile = Box::new(move || {
            if let Some(dir) = at.parent() {
                crate::private_files::create_private_dir_all(dir)?;
            }
            let file = crate::private_files::create_private_file(&at)?;
            Ok(Box::new(file) as Box<dyn writer_pool::RecordingFile>)
        });
        let rec = pool.start(path.clone(), open, RecordingConfig::default())?;
        Ok(Recorder { rec, path })
    }

    /// Adds one side's frame at `position` (in samples from the recording's start).
    /// Never blocks: when the writers are behind the frame is dropped and counted.
    pub(crate) fn frame(&mut self, side: Side, position: u64, now: Instant, samples: &[i16]) {
        let before = self.rec.dropped();
        if self.rec.frame(side, position, now, samples) > 0 && before == 0 {
            tracing::warn!(
                path = %self.path.display(),
                "recording writers behind: dropping frames of this recording (counted in call.end)"
            );
        }
    }

    /// Frames lost because the writers fell behind.
    pub(crate) fn dropped(&self) -> u64 {
        self.rec.dropped()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if self.rec.dropped() > 0 {
            tracing::warn!(
                path = %self.path.display(),
                dropped_frames = self.rec.dropped(),
                "recording finished with dropped frames"
            );
        }
    }
}

//! The free-disk watermark (`[data] min_free_mb`): a task that measures the free space of
//! the data directory's file system every few seconds and sets the `switchboard_disk_low`
//! gauge, which the SIP driver reads to refuse new calls with 503 rather than take calls
//! the event log might not be able to record. Crossing the watermark is logged as an error
//! (and its recovery as info).

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::metrics::Metrics;

/// How often the free space is measured.
const EVERY: Duration = Duration::from_secs(2);

/// Bytes available to unprivileged users on the file system holding `dir`.
// f_bavail/f_frsize are u64 on some targets and narrower on others.
#[allow(clippy::useless_conversion)]
pub(crate) fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter
    // that statvfs fills completely on success; nothing is read from it on failure.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize)))
}

/// One measurement: updates the gauge and logs a crossing. Returns whether the disk is low.
pub(crate) fn check(dir: &Path, min_free_mb: u64, metrics: &Metrics) -> bool {
    if min_free_mb == 0 {
        metrics.disk_low.store(0, Ordering::Relaxed);
        return false;
    }
    let low = match free_bytes(dir) {
        Ok(b) => b / (1024 * 1024) < min_free_mb,
        Err(e) => {
            tracing::error!(error = %e, dir = %dir.display(), "cannot measure free disk space; treating it as low");
            true
        }
    };
    let was = metrics.disk_low.swap(i64::from(low), Ordering::Relaxed) != 0;
    if low && !was {
        tracing::error!(
            dir = %dir.display(),
            min_free_mb,
            "free disk space below [data] min_free_mb: new calls are refused with 503"
        );
    } else if !low && was {
        tracing::info!(dir = %dir.display(), "free disk space recovered; taking calls again");
    }
    low
}

/// Measures every few seconds until `stop` fires.
pub(crate) async fn watch(
    dir: PathBuf,
    min_free_mb: u64,
    metrics: Arc<Metrics>,
    mut stop: tokio::sync::broadcast::Receiver<()>,
) {
    if min_free_mb == 0 {
        return;
    }
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let (d, m) = (dir.clone(), metrics.clone());
                let _ = tokio::task::spawn_blocking(move || check(&d, min_free_mb, &m)).await;
            }
            _ = stop.recv() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watermark_sets_and_clears_the_gauge() {
        let dir = std::env::temp_dir();
        let m = Metrics::default();
        assert!(free_bytes(&dir).unwrap() > 0);
        assert!(check(&dir, u64::MAX / (2 << 20), &m));
        assert_eq!(m.disk_low.load(Ordering::Relaxed), 1);
        assert!(!check(&dir, 0, &m));
        assert_eq!(m.disk_low.load(Ordering::Relaxed), 0);
        assert!(check(Path::new("/nonexistent/sb"), 1, &m), "unknown is low");
    }
}

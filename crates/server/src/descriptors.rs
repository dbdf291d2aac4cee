//! The process's file-descriptor budget: `RLIMIT_NOFILE` is raised at start (soft limit up
//! to the hard limit, or to `limits.open_files`), and the SIP driver asks how many are
//! free before admitting a call, so calls are refused with 503 before RTP sockets or
//! recording files fail to open.

use std::io;

/// The soft `RLIMIT_NOFILE` after raising it to the hard limit, or to `cap` if that is
/// lower (`cap == 0`: no cap). A lower soft limit than `cap` is never raised past the hard
/// limit; a higher one is lowered to `cap` (operators use this to test small budgets).
pub(crate) fn set_open_files_limit(cap: u64) -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes a plain struct we own; RLIMIT_NOFILE is a valid resource.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let hard = lim.rlim_max;
    let want = if cap == 0 { hard } else { hard.min(cap) };
    if want != lim.rlim_cur {
        let new = libc::rlimit {
            rlim_cur: want,
            rlim_max: hard,
        };
        // SAFETY: setrlimit reads a plain struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(want)
}

/// The soft `RLIMIT_NOFILE` now.
pub(crate) fn soft_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes a plain struct we own.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0).then_some(lim.rlim_cur)
}

/// Descriptors free now (soft limit minus open), where both are known.
pub(crate) fn free() -> Option<u64> {
    Some(soft_limit()?.saturating_sub(open_count()?))
}

/// Descriptors open in this process now (Linux: entries of /proc/self/fd, minus the one
/// the listing itself uses); `None` where that is not available.
pub(crate) fn open_count() -> Option<u64> {
    let n = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    Some(n.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_raised_and_open_descriptors_are_counted() {
        let limit = set_open_files_limit(0).unwrap();
        assert!(limit >= 64);
        let files: Vec<std::fs::File> = (0..5)
            .map(|_| std::fs::File::open("/proc/self/status").unwrap())
            .collect();
        assert!(open_count().unwrap() >= 5);
        assert!(free().unwrap() < limit);
        drop(files);
    }
}

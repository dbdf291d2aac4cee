//! Files only the server's own user may read: the data directory (event log, recordings,
//! stored registrations) is created `0700` and every recording `0600`. Recordings hold
//! callers' voices and card digits read aloud; the event log holds their numbers.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` and its missing parents with mode `0700`.
pub(crate) fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Creates the data directory `0700`, or, when it exists with access for group or others,
/// takes that access away (and says so: an operator may have opened it on purpose).
pub(crate) fn secure_data_dir(dir: &Path) -> io::Result<()> {
    create_private_dir_all(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            dir = %dir.display(),
            mode = format_args!("{:o}", mode & 0o777),
            "data directory was readable by other users; setting it to 0700"
        );
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Creates (truncating) a file readable and writable only by the owner.
pub(crate) fn create_private_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .read(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn directories_and_files_are_owner_only() {
        let base = std::env::temp_dir().join(format!("sb-private-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let deep = base.join("recordings/2026/12/07");
        create_private_dir_all(&deep).unwrap();
        assert_eq!(mode(&deep), 0o700);
        assert_eq!(mode(&base.join("recordings")), 0o700);
        let f = deep.join("c-1.wav");
        create_private_file(&f).unwrap();
        assert_eq!(mode(&f), 0o600);

        let open = base.join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        secure_data_dir(&open).unwrap();
        assert_eq!(mode(&open), 0o700);
        std::fs::remove_dir_all(&base).unwrap();
    }
}

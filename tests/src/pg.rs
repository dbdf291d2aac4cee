//! A private PostgreSQL cluster for a test (via `scripts/pg-cluster`): initdb into a temp
//! directory, its own free port on 127.0.0.1, its unix socket in that directory, and
//! stopped when dropped (also when the test panics). No system service is involved.

use std::path::PathBuf;
use std::process::Command;

use crate::repo_root;

/// A running private cluster; stopped and removed on drop.
pub struct PgCluster {
    dir: PathBuf,
    /// `postgres://sb@127.0.0.1:PORT/switchboard`.
    pub url: String,
}

impl PgCluster {
    /// Starts a cluster, or returns `None` (with a message) when PostgreSQL is not
    /// installed; with `SWITCHBOARD_REQUIRE_PEERS=1` a missing PostgreSQL fails the test.
    pub fn start() -> Option<PgCluster> {
        let found = std::fs::read_dir("/usr/lib/postgresql")
            .map(|rd| {
                rd.flatten()
                    .any(|e| e.path().join("bin").join("initdb").exists())
            })
            .unwrap_or(false);
        if !found {
            if std::env::var("SWITCHBOARD_REQUIRE_PEERS").as_deref() == Ok("1") {
                panic!("PostgreSQL is required (scripts/test installs it)");
            }
            eprintln!("SKIPPED: PostgreSQL is not installed (run scripts/test to install it)");
            return None;
        }
        // Under /tmp, not target/: the server runs as user postgres when we are root and
        // must reach its directory.
        let dir = std::env::temp_dir().join(format!(
            "sb-pg-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let out = Command::new("timeout")
            .arg("120")
            .arg(repo_root().join("scripts").join("pg-cluster"))
            .arg("start")
            .arg(&dir)
            .output()
            .expect("run scripts/pg-cluster");
        let cluster = PgCluster {
            dir,
            url: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        };
        assert!(
            out.status.success() && cluster.url.starts_with("postgres://"),
            "starting PostgreSQL failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(cluster)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = Command::new("timeout")
            .arg("60")
            .arg(repo_root().join("scripts").join("pg-cluster"))
            .arg("stop")
            .arg(&self.dir)
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

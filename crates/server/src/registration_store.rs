//! Registrations that survive a restart: `<data-dir>/registrations.json` holds every
//! binding of the location table with its absolute expiry. It is rewritten (temp file,
//! fsync, rename: never half-written) whenever the table changes, and read at start, where
//! bindings that lapsed meanwhile are dropped and the rest log their agents back in.
//!
//! The registrar core only exports and imports its table (`LocationTable::export` /
//! `import`, times as inputs); the file and the writer task live here.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde_json::{json, Value};
use switchboard_registrar::{Binding, LocationTable};
use switchboard_sip_message::NameAddr;
use tokio::sync::watch;

/// The file's format version (`"version"`); a file of another version is ignored.
const VERSION: u64 = 1;

/// Where the registrations are kept in a data directory.
pub(crate) fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join("registrations.json")
}

/// The JSON document for `bindings`.
fn to_json(bindings: &[(String, Binding)]) -> Value {
    let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    json!({
        "version": VERSION,
        "bindings": bindings.iter().map(|(user, b)| json!({
            "user": user,
            "contact": b.contact.to_string(),
            "source": b.source.to_string(),
            "transport": b.transport,
            "expires_at": secs(b.expires_at),
            "call_id": b.call_id,
            "cseq": b.cseq,
            "user_agent": b.user_agent,
        })).collect::<Vec<_>>(),
    })
}

/// The bindings of a document; entries that do not parse are skipped and counted.
fn from_json(doc: &Value) -> anyhow::Result<(Vec<(String, Binding)>, usize)> {
    let version = doc["version"].as_u64().unwrap_or(0);
    anyhow::ensure!(
        version == VERSION,
        "format version {version}, this build reads {VERSION}"
    );
    let mut out = Vec::new();
    let mut bad = 0;
    for e in doc["bindings"].as_array().into_iter().flatten() {
        let parsed = (|| {
            let contact: NameAddr = e["contact"].as_str()?.parse().ok()?;
            Some((
                e["user"].as_str()?.to_string(),
                Binding {
                    contact,
                    source: e["source"].as_str()?.parse().ok()?,
                    transport: e["transport"].as_str()?.to_string(),
                    expires_at: UNIX_EPOCH + Duration::from_secs(e["expires_at"].as_u64()?),
                    call_id: e["call_id"].as_str()?.to_string(),
                    cseq: u32::try_from(e["cseq"].as_u64()?).ok()?,
                    user_agent: e["user_agent"].as_str().map(str::to_string),
                },
            ))
        })();
        match parsed {
            Some(b) => out.push(b),
            None => bad += 1,
        }
    }
    Ok((out, bad))
}

/// Reads the saved bindings (none if there is no file yet). A file that cannot be read
/// or parsed is an error for the caller to log; start goes on without it.
pub(crate) fn load(path: &Path) -> anyhow::Result<Vec<(String, Binding)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let doc: Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let (bindings, bad) = from_json(&doc).with_context(|| format!("{}", path.display()))?;
    if bad > 0 {
        tracing::warn!(
            skipped = bad,
            file = %path.display(),
            "saved registrations that do not parse were skipped"
        );
    }
    Ok(bindings)
}

/// Writes `bindings` atomically: a temp file next to `path`, fsynced, renamed over it.
pub(crate) fn save(path: &Path, bindings: &[(String, Binding)]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(to_json(bindings).to_string().as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// The writer task: saves the table each time `changed` reports a new generation (changes
/// that arrive while a save runs are coalesced into the next one), and once more when the
/// sender goes away, so the file matches the table at exit.
pub(crate) async fn run_writer(
    path: PathBuf,
    location: LocationTable,
    mut changed: watch::Receiver<u64>,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
) {
    let mut saved = None;
    loop {
        let gone = changed.changed().await.is_err();
        let generation = *changed.borrow_and_update();
        if saved != Some(generation) {
            let bindings = location.export();
            let p = path.clone();
            match tokio::task::spawn_blocking(move || save(&p, &bindings)).await {
                Ok(Ok(())) => saved = Some(generation),
                Ok(Err(e)) => {
                    crate::metrics::Metrics::add(&metrics.registrations_save_failures, 1);
                    tracing::error!(
                        error = %e,
                        file = %path.display(),
                        "saving registrations failed; a restart now would log agents out"
                    );
                }
                Err(e) => {
                    crate::metrics::Metrics::add(&metrics.registrations_save_failures, 1);
                    tracing::error!(error = %e, "registration writer panicked");
                }
            }
        }
        if gone {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(contact: &str, expires_at: u64) -> Binding {
        Binding {
            contact: contact.parse().unwrap(),
            source: "127.0.0.1:5062".parse().unwrap(),
            transport: "UDP".into(),
            expires_at: UNIX_EPOCH + Duration::from_secs(expires_at),
            call_id: "abc@host".into(),
            cseq: 7,
            user_agent: Some("baresip".into()),
        }
    }

    #[test]
    fn saved_bindings_load_back_unchanged() {
        let dir = std::env::temp_dir().join(format!("sb-regstore-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = path_in(&dir);
        assert!(load(&path).unwrap().is_empty(), "no file yet: nothing");
        let bs = vec![
            (
                "1001".to_string(),
                binding("<sip:1001@127.0.0.1:5062>", 2_000_000_100),
            ),
            (
                "1002".to_string(),
                binding("\"Bob\" <sip:1002@[::1]:5070;transport=tcp>", 2_000_000_200),
            ),
        ];
        save(&path, &bs).unwrap();
        assert!(
            !path.with_extension("json.tmp").exists(),
            "the temp file was renamed"
        );
        assert_eq!(load(&path).unwrap(), bs);
        std::fs::write(&path, "{not json").unwrap();
        assert!(load(&path).is_err());
        std::fs::write(&path, r#"{"version": 99, "bindings": []}"#).unwrap();
        assert!(format!("{:#}", load(&path).unwrap_err()).contains("version 99"));
        std::fs::write(&path, r#"{"version": 1, "bindings": [{"user": "x"}]}"#).unwrap();
        assert!(load(&path).unwrap().is_empty(), "a broken entry is skipped");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! Loading dialplans from disk into immutable, versioned snapshots for hot reload.
//!
//! The server watches the directory (and SIGHUP) and calls [`DialplanLoader::reload`]. A
//! directory with errors is rejected with rendered diagnostics and the previous snapshot
//! stays active. New calls take [`DialplanLoader::current`]; an [`crate::Interpreter`] keeps
//! its own `Arc<Program>`, so calls in progress finish on the version they started with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::check::{check_files, CheckContext};
use crate::diag::Diagnostic;
use crate::program::Program;

/// Most `.ivr` files read from one directory tree.
pub const MAX_FILES: usize = 1000;

/// Why a directory could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A file or directory could not be read.
    #[error("can't read {path}: {source}")]
    Io {
        /// Which.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The dialplans have errors; `rendered` holds the diagnostics.
    #[error("{errors} error(s) in the dialplans:\n{rendered}")]
    Invalid {
        /// Number of errors.
        errors: usize,
        /// Rendered diagnostics (errors and warnings).
        rendered: String,
    },
}

/// One loaded version of the dialplans.
#[derive(Debug, Clone)]
pub struct DialplanSet {
    /// The checked program, shared with every call started on this version.
    pub program: Arc<Program>,
    /// 1 for the first successful load, +1 for each later one.
    pub version: u64,
    /// Rendered warnings (empty if none).
    pub warnings: String,
}

/// Loads and reloads a dialplan directory, keeping the last good version.
#[derive(Debug)]
pub struct DialplanLoader {
    dir: PathBuf,
    ctx: CheckContext,
    current: Option<DialplanSet>,
    loads: u64,
}

fn key(parent: &str, rel: &str) -> String {
    if parent.is_empty() || parent == "." {
        crate::check::normalize_path(rel)
    } else {
        crate::check::normalize_path(&format!("{}/{rel}", parent.trim_end_matches('/')))
    }
}

/// Read every `.ivr` file under `root` (recursively) into `files`, keyed `root/rel/path.ivr`.
fn read_tree(root: &Path, files: &mut BTreeMap<String, String>) -> Result<(), LoadError> {
    let prefix = root.to_string_lossy().replace('\\', "/");
    let mut pending = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = pending.pop() {
        let rd = std::fs::read_dir(&dir).map_err(|source| LoadError::Io {
            path: dir.clone(),
            source,
        })?;
        let mut entries: Vec<_> = rd.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().to_string();
            let path = e.path();
            let rel_name = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if path.is_dir() {
                if !name.starts_with('.') && rel.matches('/').count() < 8 {
                    pending.push((path, rel_name));
                }
            } else if name.ends_with(".ivr") {
                if files.len() >= MAX_FILES {
                    return Ok(());
                }
                let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Io {
                    path: path.clone(),
                    source,
                })?;
                files.insert(key(&prefix, &rel_name), text);
            }
        }
    }
    Ok(())
}

/// Load and check every top-level `*.ivr` in `dir` (files in subdirectories can be included
/// but are not dialplans of their own). Returns the program and rendered warnings.
pub fn load_dir(dir: &Path, ctx: &CheckContext) -> Result<(Program, String), LoadError> {
    let mut files = BTreeMap::new();
    read_tree(dir, &mut files)?;
    let prefix = key(&dir.to_string_lossy().replace('\\', "/"), "");
    let prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    let mains: Vec<String> = files
        .keys()
        .filter(|k| {
            k.strip_prefix(prefix.as_str())
                .is_some_and(|rest| !rest.contains('/'))
        })
        .cloned()
        .collect();
    finish(check_files(&files, &mains, ctx))
}

fn finish(c: crate::check::Checked) -> Result<(Program, String), LoadError> {
    let rendered = c.render();
    let errors = c.diagnostics.iter().filter(|d| d.is_error()).count();
    match c.program {
        Some(p) if errors == 0 => Ok((p, rendered)),
        _ => Err(LoadError::Invalid {
            errors: errors.max(1),
            rendered,
        }),
    }
}

/// Result of checking files for `switchboard check`.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// Rendered diagnostics and summary, ready to print.
    pub text: String,
    /// Were there errors? (exit status 1)
    pub has_errors: bool,
    /// The diagnostics themselves.
    pub diagnostics: Vec<Diagnostic>,
}

/// Check the given dialplan files (their includes are looked up next to them).
pub fn check_paths(paths: &[PathBuf], ctx: &CheckContext) -> CheckReport {
    let mut files = BTreeMap::new();
    let mut mains = Vec::new();
    let mut diags = Vec::new();
    for p in paths {
        let parent = p
            .parent()
            .map(|x| x.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let root = if parent.is_empty() {
            PathBuf::from(".")
        } else {
            PathBuf::from(&parent)
        };
        let mut here = BTreeMap::new();
        if let Err(e) = read_tree(&root, &mut here) {
            diags.push(Diagnostic::global(e.to_string()));
            continue;
        }
        let k = key(&parent, &name);
        let fixed: BTreeMap<String, String> = here
            .into_iter()
            .map(|(k2, v)| {
                (
                    if parent.is_empty() {
                        k2.trim_start_matches("./").to_string()
                    } else {
                        k2
                    },
                    v,
                )
            })
            .collect();
        if !fixed.contains_key(&k) {
            match std::fs::read_to_string(p) {
                Ok(t) => {
                    files.insert(k.clone(), t);
                }
                Err(e) => {
                    diags.push(Diagnostic::global(format!(
                        "can't read {}: {e}",
                        p.display()
                    )));
                    continue;
                }
            }
        }
        files.extend(fixed);
        mains.push(k);
    }
    let c = check_files(&files, &mains, ctx);
    let mut all = diags;
    all.extend(c.diagnostics.iter().cloned());
    let text = crate::diag::render_all(&all, &c.sources);
    let has_errors = all.iter().any(Diagnostic::is_error);
    let text = if all.is_empty() {
        format!("ok: {} file(s) checked, no problems found\n", mains.len())
    } else {
        text
    };
    CheckReport {
        text,
        has_errors,
        diagnostics: all,
    }
}

impl DialplanLoader {
    /// A loader for `dir`, checking against `ctx`. Nothing is loaded yet.
    pub fn new(dir: impl Into<PathBuf>, ctx: CheckContext) -> DialplanLoader {
        DialplanLoader {
            dir: dir.into(),
            ctx,
            current: None,
            loads: 0,
        }
    }

    /// Replace the check context (e.g. after the queue configuration changed).
    pub fn set_context(&mut self, ctx: CheckContext) {
        self.ctx = ctx;
    }

    /// Load the directory again. On success the new version becomes current and is returned;
    /// on failure the previous version (if any) stays current and the error carries the
    /// diagnostics to log.
    pub fn reload(&mut self) -> Result<DialplanSet, LoadError> {
        let (program, warnings) = load_dir(&self.dir, &self.ctx)?;
        Ok(self.install(program, warnings))
    }

    /// Install an already-checked program as the new version (used by tests and embedders).
    pub fn install(&mut self, program: Program, warnings: String) -> DialplanSet {
        self.loads += 1;
        let set = DialplanSet {
            program: Arc::new(program),
            version: self.loads,
            warnings,
        };
        self.current = Some(set.clone());
        set
    }

    /// The active version, if any load succeeded.
    pub fn current(&self) -> Option<&DialplanSet> {
        self.current.as_ref()
    }

    /// The directory being loaded.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Load the given top-level files (with includes found next to them) as one program.
pub fn load_paths(paths: &[PathBuf], ctx: &CheckContext) -> Result<(Program, String), LoadError> {
    let mut files = BTreeMap::new();
    let mut mains = Vec::new();
    for p in paths {
        let parent = p
            .parent()
            .map(|x| x.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let root = if parent.is_empty() {
            PathBuf::from(".")
        } else {
            PathBuf::from(&parent)
        };
        let mut here = BTreeMap::new();
        read_tree(&root, &mut here)?;
        for (k, v) in here {
            files.insert(
                if parent.is_empty() {
                    k.trim_start_matches("./").to_string()
                } else {
                    k
                },
                v,
            );
        }
        let k = key(&parent, &name);
        if !files.contains_key(&k) {
            let t = std::fs::read_to_string(p).map_err(|source| LoadError::Io {
                path: p.clone(),
                source,
            })?;
            files.insert(k.clone(), t);
        }
        mains.push(k);
    }
    finish(check_files(&files, &mains, ctx))
}

//! `PolicyWatcher`: a plugins directory where dropping or replacing `NAME.wasm` uploads the
//! component to slot `NAME` and activates it once it validates.
//!
//! Events are debounced, and a file is only read once its size and modification time hold still,
//! so a half-written file is not taken for a component (writing to a temporary name and renaming
//! it into place is safer still; files starting with `.` are ignored). Only changes after start
//! count: at start the registry's active version stands.

use crate::dir_watch::{DirWatch, WatchError};
use reef_policy::slots::PolicySlots;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long a file must hold still before it is read.
const SETTLE: Duration = Duration::from_millis(100);

/// A running watcher; dropping it stops watching.
pub struct PolicyWatcher {
    _watch: DirWatch,
}

impl PolicyWatcher {
    /// Watches `dir` (created if missing), debouncing events by `debounce`.
    pub fn start(
        dir: &Path,
        debounce: Duration,
        slots: Arc<PolicySlots>,
    ) -> Result<Self, WatchError> {
        if let Err(error) = std::fs::create_dir_all(dir) {
            tracing::warn!(dir = %dir.display(), %error, "cannot create the policy directory");
        }
        let watch = DirWatch::start(dir, debounce, move |paths| {
            for path in paths {
                take(&path, &slots);
            }
        })?;
        tracing::info!(dir = %dir.display(), "watching for policy components");
        Ok(Self { _watch: watch })
    }
}

/// Size and modification time, to tell whether a file is still being written.
fn fingerprint(path: &Path) -> Option<(u64, std::time::SystemTime)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

fn take(path: &Path, slots: &PolicySlots) {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let Some(slot) = name.strip_suffix(".wasm") else {
        return;
    };
    if slot.is_empty() || name.starts_with('.') {
        return;
    }
    let Some(before) = fingerprint(path) else {
        return;
    }; // removed again
    std::thread::sleep(SETTLE);
    if fingerprint(path) != Some(before) {
        return; // still changing: its next event brings it back
    }
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) => {
            tracing::warn!(file = %path.display(), %error, "cannot read policy component");
            return;
        }
    };
    let label = format!("file:{name}");
    match slots
        .upload(slot, &bytes, &label, "watcher")
        .and_then(|v| slots.activate(slot, &v.digest, "watcher").map(|_| v))
    {
        Ok(version) => {
            tracing::info!(file = %path.display(), slot, digest = version.digest, "policy from the watched directory is active")
        }
        Err(error) => {
            tracing::warn!(file = %path.display(), slot, %error, "policy from the watched directory not activated")
        }
    }
}

//! What triggers a config reload besides the API: SIGHUP, and a change of the config file.
//!
//! The file's directory is watched, not the file: editors replace a file by renaming a new one
//! over it, and a mounted config (a Kubernetes ConfigMap) changes by swapping a symlink beside
//! it. Any change in the directory re-reads the file, and only different contents reload it, so
//! a save that writes in several steps, a touch, or a change to another file does nothing. An
//! invalid intermediate state is harmless: a reload validates first and changes nothing when
//! the file is wrong.

use crate::config_reload::{ConfigReloader, ReloadTrigger};
use crate::dir_watch::DirWatch;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::Signal;
use tokio::sync::mpsc;

/// Quiet time after the last change in the directory before the file is re-read.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// The running triggers; dropping this stops watching the file (SIGHUP stays handled).
pub struct ConfigWatch {
    _watch: Option<DirWatch>,
}

impl ConfigWatch {
    /// Reloads `reloader` on SIGHUP (`hangup`, registered by the caller as early as it could,
    /// so a SIGHUP during start-up does not end the process) and, with `watch_file` and when
    /// the host runs from a file, when the file's contents change.
    pub fn start(
        reloader: Arc<ConfigReloader>,
        mut hangup: Signal,
        watch_file: bool,
    ) -> std::io::Result<Self> {
        let (tx, mut rx) = mpsc::unbounded_channel::<ReloadTrigger>();
        let signals = tx.clone();
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                if signals.send(ReloadTrigger::Signal).is_err() {
                    break;
                }
            }
        });
        let file = reloader.file().map(std::path::absolute).transpose()?;
        let watch = match &file {
            Some(file) if watch_file => Some(watch(file, tx)?),
            _ => None,
        };
        tokio::spawn(async move {
            let mut last = file.as_deref().and_then(contents_hash);
            while let Some(trigger) = rx.recv().await {
                let now = file.as_deref().and_then(contents_hash);
                if trigger == ReloadTrigger::File && now == last {
                    continue;
                }
                last = now;
                // The reloader logs and counts the outcome; the report is for API callers.
                let _ = reloader.reload(trigger).await;
            }
        });
        Ok(Self { _watch: watch })
    }
}

/// The sha256 of the file's contents, following symlinks; `None` when it cannot be read.
fn contents_hash(file: &Path) -> Option<[u8; 32]> {
    std::fs::read(file)
        .ok()
        .map(|bytes| Sha256::digest(bytes).into())
}

fn watch(file: &Path, tx: mpsc::UnboundedSender<ReloadTrigger>) -> std::io::Result<DirWatch> {
    let dir = file
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("/"));
    let watch = DirWatch::start(&dir, DEBOUNCE, move |_| {
        let _ = tx.send(ReloadTrigger::File);
    })
    .map_err(std::io::Error::other)?;
    tracing::info!(file = %file.display(), "watching the config file; changes are applied live where possible");
    Ok(watch)
}

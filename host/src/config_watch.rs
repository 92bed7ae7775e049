//! What triggers a config reload besides the API: SIGHUP, and a change of the config file.
//!
//! The file's directory is watched (editors replace a file by renaming a new one over it, which
//! a watch on the file itself would lose) and events are debounced, so a save that writes in
//! several steps reloads once. An invalid intermediate state is harmless: a reload validates
//! first and changes nothing when the file is wrong.

use crate::config_reload::{ConfigReloader, ReloadTrigger};
use notify_debouncer_mini::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Quiet time after the last change to the file before it is re-read.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// The running triggers; dropping this stops watching the file (SIGHUP stays handled).
pub struct ConfigWatch {
    _debouncer: Option<Debouncer<RecommendedWatcher>>,
}

impl ConfigWatch {
    /// Reloads `reloader` on SIGHUP and, with `watch_file` and when the host runs from a file,
    /// when the file changes.
    pub fn start(reloader: Arc<ConfigReloader>, watch_file: bool) -> std::io::Result<Self> {
        let (tx, mut rx) = mpsc::unbounded_channel::<ReloadTrigger>();
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        let signals = tx.clone();
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                if signals.send(ReloadTrigger::Signal).is_err() {
                    break;
                }
            }
        });
        let debouncer = match reloader.file() {
            Some(file) if watch_file => Some(watch(file, tx)?),
            _ => None,
        };
        tokio::spawn(async move {
            while let Some(trigger) = rx.recv().await {
                // The reloader logs and counts the outcome; the report is for API callers.
                let _ = reloader.reload(trigger).await;
            }
        });
        Ok(Self {
            _debouncer: debouncer,
        })
    }
}

fn watch(
    file: &Path,
    tx: mpsc::UnboundedSender<ReloadTrigger>,
) -> std::io::Result<Debouncer<RecommendedWatcher>> {
    let file = std::path::absolute(file)?;
    let dir = file
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("/"));
    let name = file.file_name().map(ToOwned::to_owned);
    let mut debouncer = new_debouncer(DEBOUNCE, move |result: DebounceEventResult| match result {
        Ok(events) => {
            if events.iter().any(|e| e.path.file_name() == name.as_deref()) {
                let _ = tx.send(ReloadTrigger::File);
            }
        }
        Err(error) => tracing::warn!(%error, "config file watch error"),
    })
    .map_err(std::io::Error::other)?;
    debouncer
        .watcher()
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(std::io::Error::other)?;
    tracing::info!(file = %file.display(), "watching the config file; changes are applied live where possible");
    Ok(debouncer)
}

//! `DirWatch`: the files of one directory that were created, written, renamed or removed,
//! delivered in debounced batches.
//!
//! Reads are not changes: inotify also reports every open and close of a file, and a watcher
//! that reacted to those would see its own reads of the file it was told about, and go round
//! forever. Those events are dropped here, once, for every watcher of the host.

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// A running watch; dropping it stops watching (and its delivery thread ends).
pub struct DirWatch {
    _watcher: RecommendedWatcher,
}

/// Why a directory cannot be watched.
#[derive(Debug, thiserror::Error)]
#[error("watching {dir}: {error}")]
pub struct WatchError {
    dir: PathBuf,
    error: String,
}

impl DirWatch {
    /// Watches `dir` (not its subdirectories). `on_change` runs on a thread of the watch's own
    /// with the paths that changed, once `debounce` has passed without a further change.
    pub fn start(
        dir: &Path,
        debounce: Duration,
        on_change: impl Fn(Vec<PathBuf>) + Send + 'static,
    ) -> Result<Self, WatchError> {
        let fail = |error: String| WatchError {
            dir: dir.to_owned(),
            error,
        };
        let (tx, rx) = mpsc::channel::<Vec<PathBuf>>();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
                Ok(event) if !matches!(event.kind, EventKind::Access(_)) => {
                    let _ = tx.send(event.paths);
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "file watch error"),
            })
            .map_err(|e| fail(e.to_string()))?;
        watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(|e| fail(e.to_string()))?;
        std::thread::Builder::new()
            .name("reef-dir-watch".into())
            .spawn(move || deliver(&rx, debounce, on_change))
            .map_err(|e| fail(e.to_string()))?;
        Ok(Self { _watcher: watcher })
    }
}

/// Batches changes until `debounce` passes quietly, then hands them over; ends when the watcher
/// (the sending side) is dropped.
fn deliver(
    rx: &mpsc::Receiver<Vec<PathBuf>>,
    debounce: Duration,
    on_change: impl Fn(Vec<PathBuf>),
) {
    while let Ok(first) = rx.recv() {
        let mut paths = first;
        let open = loop {
            match rx.recv_timeout(debounce) {
                Ok(more) => paths.extend(more),
                Err(mpsc::RecvTimeoutError::Timeout) => break true,
                Err(mpsc::RecvTimeoutError::Disconnected) => break false,
            }
        };
        paths.sort();
        paths.dedup();
        on_change(paths);
        if !open {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    #[test]
    fn writes_are_reported_once_and_reads_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("reef.toml");
        std::fs::write(&file, "a").unwrap();
        let batches: Arc<Mutex<Vec<Vec<PathBuf>>>> = Arc::default();
        let seen = batches.clone();
        let _watch = DirWatch::start(dir.path(), Duration::from_millis(100), move |paths| {
            // Reading what changed must not count as a change.
            for path in &paths {
                let _ = std::fs::read(path);
            }
            seen.lock().unwrap().push(paths);
        })
        .unwrap();
        std::fs::write(&file, "b").unwrap();
        std::fs::write(&file, "c").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while batches.lock().unwrap().is_empty() {
            assert!(Instant::now() < deadline, "no change reported");
            std::thread::sleep(Duration::from_millis(20));
        }
        // Quiet for a while: neither the reads above nor anything else brings another batch.
        std::thread::sleep(Duration::from_millis(600));
        let batches = batches.lock().unwrap();
        assert_eq!(batches.len(), 1, "{batches:?}");
        assert!(batches[0].contains(&file), "{batches:?}");
    }
}

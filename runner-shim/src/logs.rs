//! Copies one of the runner's output pipes into a size-capped log file.
//!
//! A runner that floods its output must neither fill the disk nor block on a full pipe, and the
//! shim's memory must not grow with the output. So each pipe gets its own thread with one fixed
//! buffer: bytes go to the file until the cap, then a visible marker is written and everything
//! after it is read, counted and dropped.

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

/// Size of the copy buffer; large enough that 100 MB of output drains quickly.
const BUF_SIZE: usize = 64 * 1024;

/// What became of one output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogStats {
    /// Bytes the runner wrote to the stream, including those discarded past the cap.
    pub bytes: u64,
    /// Whether the cap was hit and a truncation marker written.
    pub truncated: bool,
}

/// The line appended to a log file once it reaches its cap of `cap` bytes.
pub fn truncation_marker(cap: u64) -> String {
    format!("\n[reef-shim: log truncated after {cap} bytes; further output discarded]\n")
}

/// Running totals, shared with the copier thread so a stuck copier can still be reported.
#[derive(Debug, Default)]
pub struct Progress {
    bytes: AtomicU64,
    truncated: AtomicBool,
}

impl Progress {
    fn snapshot(&self) -> LogStats {
        LogStats {
            bytes: self.bytes.load(Ordering::Relaxed),
            truncated: self.truncated.load(Ordering::Relaxed),
        }
    }
}

/// Copies `source` into `sink` until end of file, keeping at most `cap` bytes of output in
/// `sink` plus the truncation marker. Read errors end the copy; write errors (a full disk) stop
/// writing but not reading, so the runner is never blocked.
pub fn copy_capped(
    source: &mut impl Read,
    sink: &mut impl Write,
    cap: u64,
    progress: &Progress,
) -> LogStats {
    let mut buf = vec![0u8; BUF_SIZE];
    let mut written: u64 = 0;
    let mut sink_ok = true;
    let mut stats = LogStats::default();
    loop {
        let n = match source.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        stats.bytes += n as u64;
        progress.bytes.store(stats.bytes, Ordering::Relaxed);
        if stats.truncated || !sink_ok {
            continue;
        }
        let room = cap - written;
        let keep = usize::try_from(room).map_or(n, |room| room.min(n));
        if keep > 0 {
            sink_ok = sink.write_all(&buf[..keep]).is_ok();
            written += keep as u64;
        }
        if keep < n && sink_ok {
            stats.truncated = true;
            progress.truncated.store(true, Ordering::Relaxed);
            sink_ok = sink.write_all(truncation_marker(cap).as_bytes()).is_ok();
        }
    }
    let _ = sink.flush();
    stats
}

/// A copier thread for one stream.
pub struct Copier {
    done: mpsc::Receiver<LogStats>,
    progress: Arc<Progress>,
}

impl Copier {
    /// Starts copying `source` into `sink` on a new thread named after `stream`.
    pub fn start(
        stream: &str,
        mut source: impl Read + Send + 'static,
        mut sink: File,
        cap: u64,
    ) -> io::Result<Self> {
        let progress = Arc::new(Progress::default());
        let (tx, done) = mpsc::sync_channel(1);
        let shared = Arc::clone(&progress);
        thread::Builder::new()
            .name(format!("log-{stream}"))
            .spawn(move || {
                let stats = copy_capped(&mut source, &mut sink, cap, &shared);
                let _ = tx.send(stats);
            })?;
        Ok(Self { done, progress })
    }

    /// Waits until the stream ends (every holder of the pipe's write end is gone) or until
    /// `deadline`; in the latter case returns what was counted so far and leaves the thread.
    pub fn finish(self, deadline: Instant) -> LogStats {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.done.recv_timeout(left) {
            Ok(stats) => stats,
            Err(_) => self.progress.snapshot(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(input: &[u8], cap: u64) -> (Vec<u8>, LogStats) {
        let mut out = Vec::new();
        let stats = copy_capped(&mut &input[..], &mut out, cap, &Progress::default());
        (out, stats)
    }

    #[test]
    fn output_below_or_at_cap_is_kept_whole() {
        let (out, stats) = copy(b"hello", 5);
        assert_eq!(out, b"hello");
        assert_eq!(
            stats,
            LogStats {
                bytes: 5,
                truncated: false
            }
        );
    }

    #[test]
    fn output_past_cap_is_counted_and_marked() {
        let input = vec![b'x'; 3 * BUF_SIZE + 17];
        let (out, stats) = copy(&input, 1000);
        let marker = truncation_marker(1000);
        assert_eq!(out.len(), 1000 + marker.len());
        assert!(out.ends_with(marker.as_bytes()));
        assert_eq!(stats.bytes, input.len() as u64);
        assert!(stats.truncated);
    }

    #[test]
    fn zero_cap_keeps_only_the_marker() {
        let (out, stats) = copy(b"abc", 0);
        assert_eq!(out, truncation_marker(0).as_bytes());
        assert!(stats.truncated);
        assert_eq!(stats.bytes, 3);
    }
}

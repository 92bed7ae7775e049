//! Files exchanged between host and shim: the attempt spec (host → shim) and the exit record
//! (shim → host). Both are JSON and both are written atomically (temporary file, fsync, rename).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Version of the files in this module; bumped on incompatible changes.
pub const PROTOCOL_VERSION: u32 = 1;

/// Everything the shim needs to run one attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AttemptSpec {
    /// Must equal [`PROTOCOL_VERSION`].
    pub version: u32,
    /// The job this attempt belongs to (informational, for the shim's own log).
    pub job_id: String,
    /// 1-based attempt number.
    pub attempt: u32,
    /// Resolved program and arguments. `argv[0]` is an absolute path; never passed to a shell.
    pub argv: Vec<String>,
    /// The complete environment of the runner (the shim clears everything else).
    pub env: BTreeMap<String, String>,
    /// Working directory of the runner.
    pub workdir: PathBuf,
    /// Wall-clock budget of the runner in milliseconds; `None` means no deadline.
    pub timeout_ms: Option<u64>,
    /// Time between SIGTERM and SIGKILL when the runner is stopped.
    pub kill_grace_ms: u64,
    /// Where the runner's standard output goes.
    pub stdout_path: PathBuf,
    /// Where the runner's standard error goes.
    pub stderr_path: PathBuf,
    /// Each log file is capped at this many bytes; output beyond it is counted and discarded
    /// after a visible truncation marker.
    pub log_cap_bytes: u64,
    /// Where the shim writes its [`ExitRecord`].
    pub exit_record_path: PathBuf,
}

impl AttemptSpec {
    /// Reads and checks a spec file.
    pub fn read(path: &Path) -> Result<Self, ProtocolError> {
        let bytes = fs::read(path).map_err(|source| ProtocolError::Io {
            path: path.to_owned(),
            source,
        })?;
        let spec: AttemptSpec =
            serde_json::from_slice(&bytes).map_err(|source| ProtocolError::Json {
                path: path.to_owned(),
                source,
            })?;
        if spec.version != PROTOCOL_VERSION {
            return Err(ProtocolError::Version {
                found: spec.version,
                expected: PROTOCOL_VERSION,
            });
        }
        if spec.argv.is_empty() {
            return Err(ProtocolError::EmptyArgv);
        }
        Ok(spec)
    }

    /// Writes the spec atomically.
    pub fn write(&self, path: &Path) -> Result<(), ProtocolError> {
        write_json_atomically(path, self)
    }
}

/// How an attempt ended, as observed by the shim.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ExitRecord {
    /// Must equal [`PROTOCOL_VERSION`].
    pub version: u32,
    /// Exit code when the runner exited normally.
    pub exit_code: Option<i32>,
    /// Signal number when the runner was killed by a signal.
    pub signal: Option<i32>,
    /// The deadline passed and the shim stopped the runner.
    pub timed_out: bool,
    /// The shim was asked to cancel and stopped the runner.
    pub cancelled: bool,
    /// The runner could not be started; the message says why.
    pub spawn_error: Option<String>,
    /// Unix time in milliseconds when the runner was started.
    pub started_at_ms: u64,
    /// Unix time in milliseconds when the runner and all its descendants were gone.
    pub ended_at_ms: u64,
    /// Peak resident set size of the largest descendant, in KiB.
    pub peak_rss_kib: u64,
    /// User plus system CPU time of all descendants, in milliseconds.
    pub cpu_ms: u64,
    /// Bytes the runner wrote to standard output (including any discarded past the cap).
    pub stdout_bytes: u64,
    /// Bytes the runner wrote to standard error (including any discarded past the cap).
    pub stderr_bytes: u64,
    /// Whether either log hit its cap.
    pub log_truncated: bool,
    /// Number of leftover descendants the shim had to kill after the runner exited.
    pub leftovers_killed: u32,
}

impl ExitRecord {
    /// Reads an exit record; `Ok(None)` when the shim has not written one.
    pub fn read(path: &Path) -> Result<Option<Self>, ProtocolError> {
        let bytes = match fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(ProtocolError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| ProtocolError::Json {
                path: path.to_owned(),
                source,
            })
    }

    /// Writes the record atomically: a reader sees the whole record or none.
    pub fn write(&self, path: &Path) -> Result<(), ProtocolError> {
        write_json_atomically(path, self)
    }
}

/// Identifies a live shim process across host restarts: pids are reused, so the process start
/// time (from `/proc/<pid>/stat`, in clock ticks since boot) is recorded beside the pid.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ShimIdentity {
    /// Process id of the shim.
    pub pid: u32,
    /// Start time of that process in clock ticks since boot.
    pub start_ticks: u64,
}

impl ShimIdentity {
    /// Reads the identity of a running process, `None` if it no longer exists.
    pub fn of_pid(pid: u32) -> Option<Self> {
        let stat = crate::procs::stat(i32::try_from(pid).ok()?)?;
        Some(Self {
            pid,
            start_ticks: stat.start_ticks,
        })
    }

    /// True when a process with this pid exists and is the same process (same start time) and
    /// has not yet been reaped.
    pub fn is_alive(&self) -> bool {
        i32::try_from(self.pid)
            .ok()
            .and_then(crate::procs::stat)
            .is_some_and(|stat| stat.start_ticks == self.start_ticks && !stat.zombie)
    }
}

/// Errors reading or writing protocol files.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not valid JSON of the expected shape.
    #[error("{path}: invalid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// The spec was written for another protocol version.
    #[error("attempt spec has protocol version {found}, this shim speaks {expected}")]
    Version {
        /// Version in the file.
        found: u32,
        /// Version of this build.
        expected: u32,
    },
    /// The spec names no program.
    #[error("attempt spec has an empty argv")]
    EmptyArgv,
}

fn write_json_atomically<T: Serialize>(path: &Path, value: &T) -> Result<(), ProtocolError> {
    let io = |source| ProtocolError::Io {
        path: path.to_owned(),
        source,
    };
    let bytes = serde_json::to_vec_pretty(value).map_err(|source| ProtocolError::Json {
        path: path.to_owned(),
        source,
    })?;
    let tmp = path.with_extension("tmp");
    let mut file = fs::File::create(&tmp).map_err(io)?;
    file.write_all(&bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        // The rename is durable only once the directory entry is.
        fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_record_round_trips_and_missing_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exit.json");
        assert!(ExitRecord::read(&path).unwrap().is_none());
        let record = ExitRecord {
            version: PROTOCOL_VERSION,
            exit_code: Some(3),
            stdout_bytes: 42,
            ..Default::default()
        };
        record.write(&path).unwrap();
        assert_eq!(ExitRecord::read(&path).unwrap(), Some(record));
        assert!(!path.with_extension("tmp").exists());
    }

    #[test]
    fn own_identity_is_alive() {
        let me = ShimIdentity::of_pid(std::process::id()).unwrap();
        assert!(me.is_alive());
        let other = ShimIdentity {
            start_ticks: me.start_ticks + 1,
            ..me
        };
        assert!(!other.is_alive());
    }
}

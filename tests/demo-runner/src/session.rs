//! What the runner leaves behind: the session JSON and the optional `DEMO_MARKS` lines.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// The session file, shaped like `reev-runner`'s `logs/sessions/session_<id>.json`.
#[derive(Debug, Serialize)]
pub struct Session<'a> {
    /// The `--execution-id` argument.
    pub execution_id: &'a str,
    /// The benchmark's `id`.
    pub benchmark: &'a str,
    /// The `--agent` argument.
    pub agent: &'a str,
    /// The attempt number (from `REEF_ATTEMPT`).
    pub attempt: u32,
    /// The outcome.
    pub final_result: FinalResult,
}

/// The outcome part of a session.
#[derive(Debug, Serialize)]
pub struct FinalResult {
    /// Whether the benchmark passed.
    pub success: bool,
    /// The benchmark score.
    pub score: f64,
}

/// Where the session file goes, relative to the working directory.
pub fn session_path(execution_id: &str) -> PathBuf {
    Path::new("logs")
        .join("sessions")
        .join(format!("session_{execution_id}.json"))
}

/// Writes the session to `logs/sessions/session_<id>.json`, and also to `result_path` if given.
///
/// Each file is written to a temporary sibling and renamed, so a reader never sees half a file.
pub fn write(session: &Session<'_>, result_path: Option<&Path>) -> Result<(), String> {
    let mut json = serde_json::to_vec_pretty(session).map_err(|e| e.to_string())?;
    json.push(b'\n');
    write_atomic(&session_path(session.execution_id), &json)?;
    if let Some(path) = result_path {
        write_atomic(path, &json)?;
    }
    Ok(())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let fail = |what: &str, e: std::io::Error| format!("cannot {what} {}: {e}", path.display());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| fail("create the directory for", e))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, bytes).map_err(|e| fail("write", e))?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        fail("rename into", e)
    })
}

/// Appends `<kind> <execution-id> <attempt> <pid> <unix_nanos>` to the file named by
/// `$DEMO_MARKS`, if set. One `write` on an `O_APPEND` file, so concurrent runners don't
/// interleave. A failure is reported on stderr and otherwise ignored.
pub fn mark(kind: &str, execution_id: &str, attempt: u32) {
    let Some(path) = std::env::var_os("DEMO_MARKS") else {
        return;
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let line = format!(
        "{kind} {execution_id} {attempt} {} {nanos}\n",
        std::process::id()
    );
    let result = OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = result {
        eprintln!(
            "[demo-runner] warning: cannot append to DEMO_MARKS file {}: {e}",
            Path::new(&path).display()
        );
    }
}

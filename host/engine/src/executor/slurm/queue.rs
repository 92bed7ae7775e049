//! What Slurm says of its jobs: `squeue --json` read into [`SlurmJob`]s, and the phase each
//! state means to reef.
//!
//! `squeue --json` lists every job the controller still holds, finished ones included until
//! `MinJobAge`, whatever `-j`, `-n` or `-t` say (Slurm 22.05 ignores them with `--json`), so
//! one call answers for every attempt and reef filters on its side.

use serde_json::Value;

/// One Slurm job, as much of it as reef reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlurmJob {
    /// Slurm's job id (restarts from 1 on a fresh cluster: never a key on its own).
    pub id: u64,
    /// The job name: reef's attempt name.
    pub name: String,
    /// `PENDING`, `RUNNING`, `COMPLETED`, `NODE_FAIL`, ...
    pub state: String,
    /// Why it waits or how it ended (`Resources`, `Priority`, `NonZeroExitCode`, ...).
    pub reason: String,
    /// The node(s) it runs on, empty while pending.
    pub nodes: String,
}

/// What a Slurm state means for an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting in Slurm's queue.
    Pending,
    /// Placed on a node (running, or starting, ending, suspended there).
    Running,
    /// Over: nothing of it runs any more.
    Ended,
}

impl SlurmJob {
    /// What its state means.
    pub fn phase(&self) -> Phase {
        match self.state.as_str() {
            "PENDING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "RESV_DEL_HOLD" => {
                Phase::Pending
            }
            "RUNNING" | "CONFIGURING" | "COMPLETING" | "STAGE_OUT" | "SIGNALING" | "RESIZING"
            | "SUSPENDED" | "STOPPED" => Phase::Running,
            _ => Phase::Ended,
        }
    }

    /// Why it waits, as an attempt's `waiting` says it: `pending in Slurm: Resources`.
    pub fn pending_reason(&self) -> String {
        match self.reason.as_str() {
            "" | "None" => "pending in Slurm".to_owned(),
            reason => format!("pending in Slurm: {reason}"),
        }
    }

    /// Its state and reason as a person reads them: `NODE_FAIL (None)` reads `NODE_FAIL`.
    pub fn describe(&self) -> String {
        match self.reason.as_str() {
            "" | "None" => self.state.clone(),
            reason => format!("{} ({reason})", self.state),
        }
    }
}

/// Why `squeue --json` output could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable squeue --json output: {0}")]
pub struct QueueParseError(String);

/// Reads `squeue --json` output. Fields reef does not need are ignored; the state is read as
/// a string (data_parser v0.0.38) or as the first element of a list (later versions).
pub fn parse(json: &[u8]) -> Result<Vec<SlurmJob>, QueueParseError> {
    let value: Value = serde_json::from_slice(json).map_err(|e| QueueParseError(e.to_string()))?;
    let jobs = value
        .get("jobs")
        .and_then(Value::as_array)
        .ok_or_else(|| QueueParseError("no `jobs` list".into()))?;
    Ok(jobs.iter().filter_map(job).collect())
}

fn job(value: &Value) -> Option<SlurmJob> {
    let text = |key: &str| match value.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items
            .first()
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    };
    Some(SlurmJob {
        id: value.get("job_id")?.as_u64()?,
        name: text("name"),
        state: text("job_state"),
        reason: text("state_reason"),
        nodes: text("nodes"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from what Slurm 22.05's `squeue --json` printed for three jobs.
    const SQUEUE: &str = r#"{
      "meta": {"plugin": {"type": "openapi/v0.0.38"}},
      "errors": [],
      "jobs": [
        {"job_id": 1, "name": "reef-a-1", "job_state": "RUNNING", "state_reason": "None",
         "nodes": "n1", "comment": "x", "exit_code": 0},
        {"job_id": 2, "name": "reef-b-1", "job_state": "PENDING", "state_reason": "Resources",
         "nodes": "", "exit_code": 0},
        {"job_id": 3, "name": "reef-c-1", "job_state": "FAILED",
         "state_reason": "NonZeroExitCode", "nodes": "n1", "exit_code": 768},
        {"job_id": 4, "name": "later", "job_state": ["NODE_FAIL"], "state_reason": "None"}
      ]
    }"#;

    #[test]
    fn squeue_json_is_read_with_phases() {
        let jobs = parse(SQUEUE.as_bytes()).unwrap();
        let seen: Vec<(u64, &str, Phase, String)> = jobs
            .iter()
            .map(|j| (j.id, j.nodes.as_str(), j.phase(), j.describe()))
            .collect();
        assert_eq!(
            seen,
            [
                (1, "n1", Phase::Running, "RUNNING".into()),
                (2, "", Phase::Pending, "PENDING (Resources)".into()),
                (3, "n1", Phase::Ended, "FAILED (NonZeroExitCode)".into()),
                (4, "", Phase::Ended, "NODE_FAIL".into()),
            ]
        );
    }

    #[test]
    fn output_that_is_not_squeue_json_is_an_error() {
        assert!(parse(b"squeue: error: ...").is_err());
        assert!(parse(b"{\"errors\": []}").is_err());
    }
}

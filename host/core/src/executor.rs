//! Where attempts run: the records the engine and its executors share. The seam itself (launch,
//! observe, cancel, re-attach), which needs processes and a runtime, is the engine's
//! `executor` module; this is only what is stored and shown.

use crate::job_id::JobId;
use reef_shim::ExitRecord;
use serde::{Deserialize, Serialize};

/// The executor every host has: attempts as `reef-shim` processes on this machine.
pub const LOCAL: &str = "local";

/// Where an attempt runs, shown on the attempt (`attempts[].placement`), by the CLI and in
/// traces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Placement {
    /// The executor (`local`, or one configured).
    pub executor: String,
    /// The machine it runs on, when the executor knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The executor's own id of it (a process id, a batch job id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// What an executor needs to find an attempt again after a restart. The engine commits it with
/// the attempt once the launch has answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptHandle {
    /// The executor that runs it.
    pub executor: String,
    /// [`attempt_name`]: derived from the job and the attempt alone, so that an attempt launched
    /// just before a crash, whose handle was never committed, can still be found by it.
    pub name: String,
    /// Whatever else the executor keeps (a process identity, an external id).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
}

/// How an attempt ended, as its executor saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// It ran to an end and left its exit record.
    Exited(ExitRecord),
    /// It is gone without one: its supervisor died, its machine failed, it was never started.
    Lost {
        /// What the executor knows of why.
        reason: String,
    },
}

/// What an executor learns of a launched attempt before it ends.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// It waits in the executor's own queue, for this reason (Slurm's pending reason, or why
    /// the executor cannot be reached).
    Waiting {
        /// The executor's words.
        reason: String,
    },
    /// It runs, there.
    Placed(Placement),
}

/// The name of attempt `n` of `job_id` wherever it runs: unique across hosts and restarts,
/// since job ids are.
pub fn attempt_name(job_id: &JobId, n: u32) -> String {
    format!("reef-{job_id}-{n}")
}

//! The records the host keeps: jobs and their attempts. Their JSON form is both what redb stores
//! and what the API shows.

use crate::executor::{AttemptHandle, Placement};
use crate::job_id::JobId;
use crate::lifecycle::JobState;
use crate::time::Timestamp;
use reef_shim::ShimIdentity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A job: one request to run a runner until it succeeds, fails for good or is cancelled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Job {
    /// Unique, and ordered by submission.
    pub id: JobId,
    /// Runner name.
    pub runner: String,
    /// Validated parameters, defaults filled in.
    pub params: BTreeMap<String, String>,
    /// Free-form labels for filtering.
    pub labels: BTreeMap<String, String>,
    /// Higher runs sooner.
    pub priority: i32,
    /// Who the job is for (fair share, quotas).
    pub tenant: String,
    /// Current state.
    pub state: JobState,
    /// Why the job failed, was retried or was cancelled.
    pub reason: Option<String>,
    /// Submission time.
    pub created_at: Timestamp,
    /// Time of the last transition.
    pub updated_at: Timestamp,
    /// Attempts started so far.
    pub attempt_count: u32,
    /// When a job in `retry_wait` becomes runnable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run_at: Option<Timestamp>,
    /// Cancellation was asked for while an attempt runs.
    #[serde(default)]
    pub cancel_requested: bool,
    /// Attempts made before the last re-drive; the policy's budget counts only later ones.
    #[serde(default)]
    pub redriven_after: u32,
    /// Times the job was re-driven (each drive is its own `job` span in the job's trace).
    #[serde(default)]
    pub redrives: u32,
    /// Resource pools set by the policy at admission, instead of the runner's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
}

impl Job {
    /// A freshly submitted job of `runner`, queued at `now`, with default priority and tenant.
    pub fn queued(
        id: JobId,
        runner: &str,
        params: BTreeMap<String, String>,
        now: Timestamp,
    ) -> Self {
        Self {
            id,
            runner: runner.to_owned(),
            params,
            labels: BTreeMap::new(),
            priority: 0,
            tenant: "default".to_owned(),
            state: JobState::Queued,
            reason: None,
            created_at: now,
            updated_at: now,
            attempt_count: 0,
            next_run_at: None,
            cancel_requested: false,
            redriven_after: 0,
            redrives: 0,
            resources: None,
        }
    }
}

/// Where an attempt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptState {
    /// The shim runs it.
    Running,
    /// It succeeded.
    Succeeded,
    /// It failed; `reason` says how.
    Failed,
    /// It was stopped on request.
    Cancelled,
    /// Its shim vanished without an exit record.
    Lost,
}

impl AttemptState {
    /// The state's name, as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Lost => "lost",
        }
    }
}

/// One run of a job's runner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    /// 1-based number.
    pub n: u32,
    /// Current state.
    pub state: AttemptState,
    /// When the host launched it.
    pub started_at: Timestamp,
    /// When it ended.
    pub ended_at: Option<Timestamp>,
    /// Exit code of the runner.
    pub exit_code: Option<i32>,
    /// Signal that ended the runner.
    pub signal: Option<i32>,
    /// The deadline ended it.
    pub timed_out: bool,
    /// A cancel ended it.
    pub cancelled: bool,
    /// Why it failed, in the job's `reason` vocabulary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Deadline given to it, in milliseconds.
    pub timeout_ms: u64,
    /// Grace between SIGTERM and SIGKILL, in milliseconds.
    pub kill_grace_ms: u64,
    /// Peak RSS of its largest process, KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_kib: Option<u64>,
    /// CPU time of all its processes, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_ms: Option<u64>,
    /// Bytes written to stdout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout_bytes: Option<u64>,
    /// Bytes written to stderr.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr_bytes: Option<u64>,
    /// A log hit its cap.
    #[serde(default)]
    pub log_truncated: bool,
    /// Success as read from the result, when the runner declares a pointer for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    /// Score as read from the result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// The result JSON (size-capped).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// Why no result could be read, when one was expected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_error: Option<String>,
    /// The shim supervising it, for re-attaching after a host restart (the local executor's
    /// handle, as hosts before executors stored it).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub shim: Option<ShimIdentity>,
    /// Where it runs; set once its executor has launched it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// How its executor finds it again after a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub handle: Option<AttemptHandle>,
    /// Why it was lost, as its executor said (its `reason` is then `lost`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_reason: Option<String>,
    /// Set while it waits in its executor's queue (a Slurm job pending), with the executor's
    /// reason; unset once it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// When its executor started it on a node (for `local`, its launch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed_at: Option<Timestamp>,
}

impl Attempt {
    /// A freshly launched attempt.
    pub fn started(n: u32, now: Timestamp, timeout_ms: u64, kill_grace_ms: u64) -> Self {
        Self {
            n,
            state: AttemptState::Running,
            started_at: now,
            ended_at: None,
            exit_code: None,
            signal: None,
            timed_out: false,
            cancelled: false,
            reason: None,
            timeout_ms,
            kill_grace_ms,
            peak_rss_kib: None,
            cpu_ms: None,
            stdout_bytes: None,
            stderr_bytes: None,
            log_truncated: false,
            success: None,
            score: None,
            result: None,
            result_error: None,
            shim: None,
            placement: None,
            handle: None,
            lost_reason: None,
            waiting: None,
            placed_at: None,
        }
    }
}

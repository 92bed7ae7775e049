//! The job state machine. Every change of a job's state goes through [`Job::apply`], which
//! checks the transition, updates the record and returns the [`JobEvent`] to store beside it.
//!
//! ```text
//!            start                 retry(after)
//!  queued ─────────► running ─────────────────► retry_wait
//!    ▲                │  │  │                        │
//!    └────────────────┼──┼──┼──── requeue ◄──────────┘
//!                     │  │  └─ succeed ─► succeeded
//!                     │  └──── fail ────► failed
//!    queued / retry_wait / running ─ cancel ─► cancelled
//! ```
//! Terminal states accept no transition, except `redrive` of a `failed` or `cancelled` job back
//! to `queued` (with a fresh attempt budget). A running job becomes `cancelled` only once its
//! process is gone.

use crate::job_id::JobId;
use crate::model::Job;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a slot.
    Queued,
    /// An attempt is running.
    Running,
    /// The last attempt failed; the next one waits for its backoff.
    RetryWait,
    /// Done, successfully.
    Succeeded,
    /// Done, unsuccessfully; `reason` says why.
    Failed,
    /// Stopped on request.
    Cancelled,
}

impl JobState {
    /// All states, for parsing and listing.
    pub const ALL: [JobState; 6] = [
        JobState::Queued,
        JobState::Running,
        JobState::RetryWait,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
    ];

    /// True for states no attempt will follow.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }

    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::RetryWait => "retry_wait",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses an API name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A requested change of state.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// A slot was granted; attempt `attempt` starts.
    Start {
        /// Number of the attempt.
        attempt: u32,
    },
    /// The attempt failed and another one follows after a delay.
    Retry {
        /// Why the attempt failed.
        reason: String,
        /// When the job becomes runnable again.
        at: Timestamp,
    },
    /// The backoff elapsed.
    Requeue,
    /// The attempt succeeded.
    Succeed,
    /// The job gives up.
    Fail {
        /// Why.
        reason: String,
    },
    /// The job is cancelled (for a running job: its process is gone).
    Cancel,
    /// A failed or cancelled job is run again, with a fresh attempt budget.
    Redrive,
}

impl Transition {
    /// Short name for events and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Start { .. } => "start",
            Self::Retry { .. } => "retry",
            Self::Requeue => "requeue",
            Self::Succeed => "succeed",
            Self::Fail { .. } => "fail",
            Self::Cancel => "cancel",
            Self::Redrive => "redrive",
        }
    }

    fn target(&self, from: JobState) -> Option<JobState> {
        use JobState::*;
        match (from, self) {
            (Queued, Self::Start { .. }) => Some(Running),
            (Running, Self::Retry { .. }) => Some(RetryWait),
            (RetryWait, Self::Requeue) => Some(Queued),
            (Running, Self::Succeed) => Some(Succeeded),
            (Running, Self::Fail { .. }) => Some(Failed),
            (Queued | RetryWait | Running, Self::Cancel) => Some(Cancelled),
            (Failed | Cancelled, Self::Redrive) => Some(Queued),
            _ => None,
        }
    }
}

/// A transition that the current state does not allow.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("job {job_id}: cannot {transition} from {from}")]
pub struct InvalidTransition {
    /// The job.
    pub job_id: JobId,
    /// Its state.
    pub from: JobState,
    /// The refused transition's name.
    pub transition: &'static str,
}

/// The audit record of one transition, stored in the events table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobEvent {
    /// Sequence number, assigned by the store (0 until stored).
    pub seq: u64,
    /// The job.
    pub job_id: JobId,
    /// When.
    pub at: Timestamp,
    /// Transition name.
    pub transition: String,
    /// State before.
    pub from: Option<JobState>,
    /// State after.
    pub to: JobState,
    /// Attempt concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Why, for failures and retries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What made the decision behind this transition: a policy digest, or `native`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Where the attempt that just ended ran (on the transition that ends an attempt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<crate::executor::Placement>,
}

impl JobEvent {
    /// The event recorded when a job is created.
    pub fn created(job: &Job) -> Self {
        Self {
            seq: 0,
            job_id: job.id.clone(),
            at: job.created_at,
            transition: "submit".to_owned(),
            from: None,
            to: job.state,
            attempt: None,
            reason: None,
            policy: None,
            placement: None,
        }
    }
}

impl Job {
    /// Applies `transition` at `now`, returning the event to record with the new job state.
    pub fn apply(
        &mut self,
        transition: Transition,
        now: Timestamp,
    ) -> Result<JobEvent, InvalidTransition> {
        let from = self.state;
        let to = transition.target(from).ok_or_else(|| InvalidTransition {
            job_id: self.id.clone(),
            from,
            transition: transition.name(),
        })?;
        let mut event = JobEvent {
            seq: 0,
            job_id: self.id.clone(),
            at: now,
            transition: transition.name().to_owned(),
            from: Some(from),
            to,
            attempt: None,
            reason: None,
            policy: None,
            placement: None,
        };
        match transition {
            Transition::Start { attempt } => {
                self.attempt_count = attempt;
                self.next_run_at = None;
                event.attempt = Some(attempt);
            }
            Transition::Retry { reason, at } => {
                self.next_run_at = Some(at);
                event.attempt = Some(self.attempt_count);
                event.reason = Some(reason.clone());
                self.reason = Some(reason);
            }
            Transition::Requeue => self.next_run_at = None,
            Transition::Succeed => {
                self.reason = None;
                event.attempt = Some(self.attempt_count);
            }
            Transition::Fail { reason } => {
                event.attempt = Some(self.attempt_count);
                event.reason = Some(reason.clone());
                self.reason = Some(reason);
            }
            Transition::Redrive => {
                self.reason = None;
                self.next_run_at = None;
                self.cancel_requested = false;
                self.redriven_after = self.attempt_count;
                self.redrives += 1;
            }
            Transition::Cancel => {
                self.next_run_at = None;
                self.reason = Some("cancelled".to_owned());
                event.reason = self.reason.clone();
            }
        }
        self.state = to;
        self.updated_at = now;
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::job;

    #[test]
    fn a_retried_job_walks_the_whole_lifecycle() {
        let mut j = job();
        let t = Timestamp(10);
        j.apply(Transition::Start { attempt: 1 }, t).unwrap();
        let e = j
            .apply(
                Transition::Retry {
                    reason: "exit_code:3".into(),
                    at: Timestamp(20),
                },
                t,
            )
            .unwrap();
        assert_eq!(
            (e.from, e.to),
            (Some(JobState::Running), JobState::RetryWait)
        );
        assert_eq!(j.next_run_at, Some(Timestamp(20)));
        j.apply(Transition::Requeue, t).unwrap();
        j.apply(Transition::Start { attempt: 2 }, t).unwrap();
        j.apply(Transition::Succeed, t).unwrap();
        assert_eq!(j.state, JobState::Succeeded);
        assert_eq!(j.attempt_count, 2);
        assert_eq!(j.reason, None);
    }

    #[test]
    fn terminal_states_refuse_everything() {
        for terminal in [
            Transition::Succeed,
            Transition::Fail { reason: "x".into() },
            Transition::Cancel,
        ] {
            let mut j = job();
            j.apply(Transition::Start { attempt: 1 }, Timestamp(1))
                .unwrap();
            j.apply(terminal, Timestamp(1)).unwrap();
            for t in [
                Transition::Start { attempt: 2 },
                Transition::Cancel,
                Transition::Requeue,
                Transition::Succeed,
            ] {
                let before = j.clone();
                assert!(j.apply(t, Timestamp(2)).is_err());
                assert_eq!(j, before, "a refused transition must not change the job");
            }
        }
    }

    #[test]
    fn failed_and_cancelled_jobs_can_be_redriven_with_a_fresh_budget() {
        let mut j = job();
        j.apply(Transition::Start { attempt: 1 }, Timestamp(1))
            .unwrap();
        j.apply(
            Transition::Fail {
                reason: "exit_code:1".into(),
            },
            Timestamp(2),
        )
        .unwrap();
        let e = j.apply(Transition::Redrive, Timestamp(3)).unwrap();
        assert_eq!((e.from, e.to), (Some(JobState::Failed), JobState::Queued));
        assert_eq!((j.reason.as_deref(), j.redriven_after), (None, 1));
        j.apply(Transition::Cancel, Timestamp(4)).unwrap();
        assert!(j.apply(Transition::Redrive, Timestamp(5)).is_ok());
        let mut done = job();
        done.apply(Transition::Start { attempt: 1 }, Timestamp(1))
            .unwrap();
        done.apply(Transition::Succeed, Timestamp(2)).unwrap();
        assert!(
            done.apply(Transition::Redrive, Timestamp(3)).is_err(),
            "a success is final"
        );
    }

    #[test]
    fn queued_cannot_finish_without_running() {
        let mut j = job();
        assert!(j.apply(Transition::Succeed, Timestamp(1)).is_err());
        assert!(j.apply(Transition::Requeue, Timestamp(1)).is_err());
        j.apply(Transition::Cancel, Timestamp(1)).unwrap();
        assert_eq!(j.state, JobState::Cancelled);
    }

    #[test]
    fn names_round_trip() {
        for s in JobState::ALL {
            assert_eq!(JobState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}

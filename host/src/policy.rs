//! The policy seam: the four decisions the host delegates (admit, pick, plan, on-exit).
//!
//! [`NativePolicy`] is the built-in answer: accept every job, priority then FIFO, the runner's
//! configured timeout and kill grace, and retries up to `max_attempts` spaced by `backoff`. The
//! WebAssembly plugins implement the same [`Policy`] trait, and the native policy stays as the
//! fail-safe when a plugin faults.

use crate::model::Job;
use crate::outcome::Verdict;
use crate::runner::RunnerSpec;
use crate::scheduler::{Candidate, Pick, RunningView};
use std::time::Duration;

/// Limits of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptPlan {
    /// Wall-clock budget.
    pub timeout: Duration,
    /// SIGTERM → SIGKILL grace.
    pub kill_grace: Duration,
}

/// What follows a finished attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum ExitDecision {
    /// The job succeeded.
    Accept,
    /// Run another attempt after a delay.
    Retry {
        /// Delay before the next attempt.
        after: Duration,
        /// Why the last attempt failed.
        reason: String,
    },
    /// The job failed for good.
    GiveUp {
        /// Why.
        reason: String,
    },
}

/// The decisions a policy makes. Implementations must be cheap and must not block.
pub trait Policy: Pick + Send + Sync {
    /// Accepts or refuses a submitted job (the error is shown to the caller).
    fn admit(&self, _job: &Job, _runner: &RunnerSpec) -> Result<(), String> {
        Ok(())
    }

    /// Limits of attempt `attempt` of `job`.
    fn plan(&self, job: &Job, runner: &RunnerSpec, attempt: u32) -> AttemptPlan;

    /// What follows attempt `attempt`, which ended with `verdict`.
    fn on_exit(
        &self,
        job: &Job,
        runner: &RunnerSpec,
        attempt: u32,
        verdict: &Verdict,
    ) -> ExitDecision;
}

/// The built-in policy (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct NativePolicy;

impl Pick for NativePolicy {
    fn pick(&self, candidates: &[Candidate], _running: &RunningView) -> Vec<String> {
        // Candidates arrive in priority-then-FIFO order already.
        candidates.iter().map(|c| c.job_id.clone()).collect()
    }
}

impl Policy for NativePolicy {
    fn plan(&self, _job: &Job, runner: &RunnerSpec, _attempt: u32) -> AttemptPlan {
        AttemptPlan {
            timeout: runner.timeout,
            kill_grace: runner.kill_grace,
        }
    }

    fn on_exit(
        &self,
        _job: &Job,
        runner: &RunnerSpec,
        attempt: u32,
        verdict: &Verdict,
    ) -> ExitDecision {
        match verdict {
            Verdict::Succeeded => ExitDecision::Accept,
            // A cancel is handled by the host before the policy is asked.
            Verdict::Cancelled => ExitDecision::GiveUp {
                reason: "cancelled".into(),
            },
            Verdict::Failed { reason, retryable } => {
                if *retryable && attempt < runner.max_attempts {
                    ExitDecision::Retry {
                        after: runner.backoff,
                        reason: reason.clone(),
                    }
                } else {
                    ExitDecision::GiveUp {
                        reason: reason.clone(),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::model::tests::job;
    use crate::runner::RunnerSet;
    use std::path::Path;

    #[test]
    fn retries_until_max_attempts_then_gives_up() {
        let config =
            Config::from_toml("[runners.r]\ncommand=[\"x\"]\nmax_attempts = 3\nbackoff = \"2s\"")
                .unwrap();
        let set = RunnerSet::from_config(&config, Path::new("/")).unwrap();
        let r = set.get("r").unwrap();
        let failed = Verdict::Failed {
            reason: "exit_code:1".into(),
            retryable: true,
        };
        let p = NativePolicy;
        assert_eq!(
            p.on_exit(&job(), r, 2, &failed),
            ExitDecision::Retry {
                after: Duration::from_secs(2),
                reason: "exit_code:1".into()
            }
        );
        assert_eq!(
            p.on_exit(&job(), r, 3, &failed),
            ExitDecision::GiveUp {
                reason: "exit_code:1".into()
            }
        );
        let fatal = Verdict::Failed {
            reason: "spawn_error: x".into(),
            retryable: false,
        };
        assert!(matches!(
            p.on_exit(&job(), r, 1, &fatal),
            ExitDecision::GiveUp { .. }
        ));
        assert_eq!(
            p.on_exit(&job(), r, 1, &Verdict::Succeeded),
            ExitDecision::Accept
        );
    }
}

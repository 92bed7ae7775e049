//! The built-in decisions, for plugins to call and adjust. They match the host's native policy.

use crate::{
    Admission, AdmitDecision, AdmitInput, AttemptPlan, ExitDecision, ExitInput, ExitStatus,
    PickInput, PlanInput,
};

/// Accept the job unchanged.
pub fn admit(_input: &AdmitInput) -> AdmitDecision {
    AdmitDecision::Accept(Admission {
        priority: None,
        tenant: None,
        resources: None,
    })
}

/// Every candidate, in the order offered (priority, then submission).
pub fn pick(input: &PickInput) -> Vec<u32> {
    (0..input.candidates.len() as u32).collect()
}

/// The runner's configured timeout and kill grace.
pub fn plan(input: &PlanInput) -> AttemptPlan {
    AttemptPlan {
        timeout_ms: input.runner.timeout_ms,
        kill_grace_ms: input.runner.kill_grace_ms,
    }
}

/// Attempts that count against the retry budget: all but lost ones, including this one.
pub fn counted_attempts(input: &ExitInput) -> u32 {
    let lost = |s: &ExitStatus| matches!(s, ExitStatus::Lost);
    let earlier = input.history.iter().filter(|a| !lost(&a.status)).count() as u32;
    earlier + u32::from(!lost(&input.outcome.status))
}

/// True when another attempt could change the outcome: not cancelled, and not a spawn error (a
/// missing program stays missing).
pub fn retryable(status: &ExitStatus) -> bool {
    !matches!(status, ExitStatus::Cancelled | ExitStatus::SpawnError(_))
}

/// Accept a success; retry a retryable failure after the runner's backoff while the budget lasts;
/// accept otherwise (the job fails with the host's reason).
pub fn on_exit(input: &ExitInput) -> ExitDecision {
    if input.outcome.succeeded || !retryable(&input.outcome.status) {
        return ExitDecision::Accept;
    }
    if counted_attempts(input) < input.runner.max_attempts {
        ExitDecision::Retry(input.runner.backoff_ms)
    } else {
        ExitDecision::Accept
    }
}

//! `NativePolicy`: the built-in decisions, and the fail-safe behind every plugin.

use super::{
    Admission, AdmitDecision, AdmitInput, AttemptPlan, ExitDecision, ExitInput, ExitStatus,
    PickInput, PlanInput,
};

/// Accept every job; priority then FIFO; the runner's timeout and grace; retry failures after
/// the runner's backoff while `max_attempts` allows (lost attempts do not count; cancelled
/// attempts and spawn errors are not retried).
#[derive(Debug, Clone, Copy, Default)]
pub struct NativePolicy;

impl NativePolicy {
    /// Accept unchanged.
    pub fn admit(&self, _input: &AdmitInput) -> AdmitDecision {
        AdmitDecision::Accept(Admission {
            priority: None,
            tenant: None,
            resources: None,
        })
    }

    /// Every candidate, in the order offered (the scheduler offers priority, then submission).
    pub fn pick(&self, input: &PickInput) -> Vec<u32> {
        (0..input.candidates.len() as u32).collect()
    }

    /// The runner's configured limits.
    pub fn plan(&self, input: &PlanInput) -> AttemptPlan {
        AttemptPlan {
            timeout_ms: input.runner.timeout_ms,
            kill_grace_ms: input.runner.kill_grace_ms,
        }
    }

    /// Retry while the budget lasts; accept the outcome otherwise.
    pub fn on_exit(&self, input: &ExitInput) -> ExitDecision {
        let retryable = !matches!(
            input.outcome.status,
            ExitStatus::Cancelled | ExitStatus::SpawnError(_)
        );
        if input.outcome.succeeded || !retryable {
            return ExitDecision::Accept;
        }
        let lost = |s: &ExitStatus| matches!(s, ExitStatus::Lost);
        let counted = input.history.iter().filter(|a| !lost(&a.status)).count() as u32
            + u32::from(!lost(&input.outcome.status));
        if counted < input.runner.max_attempts {
            ExitDecision::Retry(input.runner.backoff_ms)
        } else {
            ExitDecision::Accept
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::inputs::tests::exit_input;
    use super::*;

    #[test]
    fn retries_until_the_budget_is_spent_and_lost_attempts_are_free() {
        let p = NativePolicy;
        let failed = ExitStatus::Exited(1);
        assert_eq!(
            p.on_exit(&exit_input(failed.clone(), false, &[])),
            ExitDecision::Retry(1000)
        );
        let spent = exit_input(
            failed.clone(),
            false,
            &[ExitStatus::Exited(1), ExitStatus::Exited(1)],
        );
        assert_eq!(p.on_exit(&spent), ExitDecision::Accept);
        let with_lost = exit_input(failed, false, &[ExitStatus::Lost, ExitStatus::Exited(1)]);
        assert_eq!(
            p.on_exit(&with_lost),
            ExitDecision::Retry(1000),
            "a lost attempt does not count"
        );
        let spawn = exit_input(ExitStatus::SpawnError("x".into()), false, &[]);
        assert_eq!(p.on_exit(&spawn), ExitDecision::Accept);
        assert_eq!(
            p.on_exit(&exit_input(ExitStatus::Exited(0), true, &[])),
            ExitDecision::Accept
        );
    }
}

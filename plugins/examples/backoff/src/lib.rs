//! Exponential backoff with jitter, and exit codes that are never retried (in the spirit of
//! Kubernetes' podFailurePolicy): the n-th retry waits `backoff * 2^(n-1)`, capped at five
//! minutes, plus up to 50% random jitter from the call's seed. Exit codes 2 (usage error), 126
//! and 127 (not executable, not found) fail the job at once.

use reef_policy_sdk::defaults::{counted_attempts, retryable};
use reef_policy_sdk::random::SeededRng;
use reef_policy_sdk::{ExitDecision, ExitInput, ExitStatus, Policy, export_policy};

const NON_RETRYABLE: &[i32] = &[2, 126, 127];
const MAX_DELAY_MS: u64 = 5 * 60 * 1000;

struct Backoff;

impl Policy for Backoff {
    fn on_exit(input: &ExitInput) -> ExitDecision {
        if input.outcome.succeeded || !retryable(&input.outcome.status) {
            return ExitDecision::Accept;
        }
        if let ExitStatus::Exited(code) = input.outcome.status
            && NON_RETRYABLE.contains(&code)
        {
            return ExitDecision::GiveUp(format!("exit_code:{code} (not retryable)"));
        }
        let attempts = counted_attempts(input);
        if attempts >= input.runner.max_attempts {
            return ExitDecision::Accept;
        }
        let exponent = attempts.saturating_sub(1).min(20);
        let base = input
            .runner
            .backoff_ms
            .saturating_mul(1 << exponent)
            .min(MAX_DELAY_MS);
        let jitter = SeededRng::new(input.seed).up_to(base / 2);
        ExitDecision::Retry(base + jitter)
    }
}

export_policy!(Backoff);

//! Retry while the score is low: a successful attempt whose result scores below 0.8 is run again
//! (after the runner's backoff) while attempts remain; when they run out, the job fails with the
//! best score in its reason. Failures are retried as by default.

use reef_policy_sdk::defaults::counted_attempts;
use reef_policy_sdk::{ExitDecision, ExitInput, Policy, defaults, export_policy};

const THRESHOLD: f64 = 0.8;

struct RetryLowScore;

impl Policy for RetryLowScore {
    fn on_exit(input: &ExitInput) -> ExitDecision {
        let Some(score) = input.outcome.score.filter(|_| input.outcome.succeeded) else {
            return defaults::on_exit(input);
        };
        if score >= THRESHOLD {
            return ExitDecision::Accept;
        }
        if counted_attempts(input) < input.runner.max_attempts {
            return ExitDecision::Retry(input.runner.backoff_ms);
        }
        let best = input
            .history
            .iter()
            .filter_map(|a| a.score)
            .fold(score, f64::max);
        ExitDecision::GiveUp(format!("score {best} below {THRESHOLD}"))
    }
}

export_policy!(RetryLowScore);

//! Timeouts that grow per attempt: attempt n gets n times the runner's timeout, at most four
//! times. Useful when a first attempt fails because a cold cache made it slow.

use reef_policy_sdk::{AttemptPlan, PlanInput, Policy, defaults, export_policy};

const MAX_FACTOR: u64 = 4;

struct GrowingTimeout;

impl Policy for GrowingTimeout {
    fn plan(input: &PlanInput) -> AttemptPlan {
        let mut plan = defaults::plan(input);
        let factor = u64::from(input.attempt.max(1)).min(MAX_FACTOR);
        plan.timeout_ms = plan.timeout_ms.saturating_mul(factor);
        plan
    }
}

export_policy!(GrowingTimeout);

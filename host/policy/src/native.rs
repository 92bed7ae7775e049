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

    /// The native policy is the fail-safe of every plugin and the SDK's defaults are what a
    /// plugin inherits: the two must decide alike, or a fault would change behaviour.
    #[test]
    fn the_native_policy_and_the_sdk_defaults_agree_over_the_corpus() {
        use crate::corpus::{self, Call};
        use crate::wasm::{CallLimits, PluginRuntime};
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../plugins/target/wasm32-wasip2/release")
            .join("reef_policy_fixture_sdk_defaults.wasm");
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{} (scripts/build-plugins.sh): {e}", path.display()));
        let runtime = PluginRuntime::new(CallLimits::default()).expect("a runtime");
        let plugin = runtime.load(&bytes).expect("the fixture loads");
        let native = NativePolicy;
        let cases = corpus::builtin();
        assert!(cases.len() >= 8, "the corpus covers every hook");
        for case in cases {
            let (ours, theirs) = match &case.call {
                Call::Admit(i) => (json(&native.admit(i)), json(&plugin.admit(i).unwrap())),
                Call::Pick(i) => (json(&native.pick(i)), json(&plugin.pick(i).unwrap())),
                Call::Plan(i) => (json(&native.plan(i)), json(&plugin.plan(i).unwrap())),
                Call::OnExit(i) => (json(&native.on_exit(i)), json(&plugin.on_exit(i).unwrap())),
            };
            assert_eq!(ours, theirs, "case {:?} ({})", case.name, case.call.hook());
        }
    }

    /// A decision as JSON, so the four hooks' answers compare through one type.
    fn json<T: serde::Serialize>(decision: &T) -> serde_json::Value {
        serde_json::to_value(decision).expect("decisions serialise")
    }
}

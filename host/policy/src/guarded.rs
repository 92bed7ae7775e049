//! `GuardedPolicy`: a plugin in front of the native policy. Every answer is validated; a fault
//! or an invalid answer is counted, logged with the plugin's digest, and that one decision is
//! taken by [`NativePolicy`] instead. A job is never failed or lost because a plugin misbehaved.

use super::timing::DecisionTimes;
use super::wasm::{CallFault, CallLimits, WasmPolicy};
use super::{
    AdmitDecision, AdmitInput, AttemptPlan, Decided, ExitDecision, ExitInput, NativePolicy,
    PickInput, PlanInput, Policy, WIT_PACKAGE,
};
pub use reef_core::api::policy::{LimitsInfo, PolicyInfo};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// The default policy component, built from `plugins/default` and embedded in the binary.
pub const EMBEDDED_DEFAULT: &[u8] = include_bytes!("../assets/default-policy.wasm");

/// Longest timeout a plugin may plan (30 days).
pub const MAX_TIMEOUT_MS: u64 = 30 * 24 * 3600 * 1000;
/// Longest kill grace a plugin may plan (1 hour).
pub const MAX_KILL_GRACE_MS: u64 = 3600 * 1000;
/// Longest retry delay a plugin may ask for (30 days).
pub const MAX_RETRY_DELAY_MS: u64 = 30 * 24 * 3600 * 1000;
/// Longest reason a plugin may give.
pub const MAX_REASON_LEN: usize = 1024;

impl From<CallLimits> for LimitsInfo {
    fn from(l: CallLimits) -> Self {
        Self {
            max_memory_bytes: l.max_memory,
            max_cpu_ms: l.max_cpu.as_millis() as u64,
            call_timeout_ms: l.call_timeout.as_millis() as u64,
        }
    }
}

/// A plugin with the native policy as its fail-safe.
pub struct GuardedPolicy {
    name: String,
    source: String,
    plugin: Option<WasmPolicy>,
    native: NativePolicy,
    pools: PoolNames,
    calls: AtomicU64,
    faults: AtomicU64,
    timings: Arc<DecisionTimes>,
    on_fault: Option<FaultHook>,
    observer: Option<Arc<dyn crate::PolicyObserver>>,
}

/// The resource pool names an admission may claim, shared by every version and replaced by a
/// config reload.
pub type PoolNames = Arc<arc_swap::ArcSwap<BTreeSet<String>>>;

/// Called with the plugin's digest after each fault (quarantine counts them).
pub type FaultHook = Arc<dyn Fn(&str) + Send + Sync>;

impl GuardedPolicy {
    /// The native policy alone.
    pub fn native() -> Self {
        Self {
            name: "default".into(),
            source: "native".into(),
            plugin: None,
            native: NativePolicy,
            pools: PoolNames::default(),
            calls: AtomicU64::new(0),
            faults: AtomicU64::new(0),
            timings: Arc::new(DecisionTimes::default()),
            on_fault: None,
            observer: None,
        }
    }

    /// Reports every call (its hook, result and duration) to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn crate::PolicyObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Records decision times into `timings` (shared across versions).
    pub fn with_timings(mut self, timings: Arc<DecisionTimes>) -> Self {
        self.timings = timings;
        self
    }

    /// Calls `hook` with the digest after every fault.
    pub fn on_fault(mut self, hook: FaultHook) -> Self {
        self.on_fault = Some(hook);
        self
    }

    /// `plugin` (from `source`) answering for slot `name`; `pools` are the configured resource
    /// pools an admission may claim (shared, so a config reload reaches every version).
    pub fn plugin(name: &str, source: &str, plugin: WasmPolicy, pools: PoolNames) -> Self {
        Self {
            name: name.into(),
            source: source.into(),
            plugin: Some(plugin),
            pools,
            ..Self::native()
        }
    }

    fn guard<T>(
        &self,
        hook: &'static str,
        call: impl FnOnce(&WasmPolicy) -> Result<T, CallFault>,
        validate: impl FnOnce(&T) -> Result<(), String>,
        fallback: impl FnOnce() -> T,
    ) -> Decided<T> {
        let Some(plugin) = &self.plugin else {
            return Decided {
                answer: fallback(),
                by: "native".into(),
            };
        };
        self.calls.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let answer =
            call(plugin).and_then(|a| validate(&a).map(|()| a).map_err(CallFault::Invalid));
        let took = started.elapsed();
        self.timings.record(took);
        if let Some(observer) = &self.observer {
            let result = answer.as_ref().map_or_else(CallFault::kind, |_| "ok");
            observer.call(hook, result, took);
        }
        match answer {
            Ok(answer) => Decided {
                answer,
                by: plugin.digest().to_owned(),
            },
            Err(fault) => {
                self.faults.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    policy = %self.name,
                    digest = %plugin.digest(),
                    hook,
                    fault = fault.kind(),
                    error = %fault,
                    "policy plugin fault; the built-in policy decides this call"
                );
                if let Some(hook) = &self.on_fault {
                    hook(plugin.digest());
                }
                Decided {
                    answer: fallback(),
                    by: format!("native:fallback:{}", fault.kind()),
                }
            }
        }
    }
}

impl Policy for GuardedPolicy {
    fn admit(&self, input: &AdmitInput) -> Decided<AdmitDecision> {
        self.guard(
            "admit",
            |p| p.admit(input),
            |d| validate_admit(d, &self.pools.load()),
            || self.native.admit(input),
        )
    }

    fn pick(&self, input: &PickInput) -> Decided<Vec<u32>> {
        let n = input.candidates.len();
        self.guard(
            "pick",
            |p| p.pick(input),
            |picks| validate_pick(picks, n),
            || self.native.pick(input),
        )
    }

    fn plan(&self, input: &PlanInput) -> Decided<AttemptPlan> {
        self.guard(
            "plan",
            |p| p.plan(input),
            validate_plan,
            || self.native.plan(input),
        )
    }

    fn on_exit(&self, input: &ExitInput) -> Decided<ExitDecision> {
        self.guard(
            "on-exit",
            |p| p.on_exit(input),
            validate_exit,
            || self.native.on_exit(input),
        )
    }

    fn info(&self) -> PolicyInfo {
        PolicyInfo {
            name: self.name.clone(),
            source: self.source.clone(),
            digest: self.plugin.as_ref().map(|p| p.digest().to_owned()),
            size: self.plugin.as_ref().map(WasmPolicy::size),
            compiled_from_cache: self.plugin.as_ref().map(WasmPolicy::from_cache),
            wit: WIT_PACKAGE.to_owned(),
            calls: self.calls.load(Ordering::Relaxed),
            faults: self.faults.load(Ordering::Relaxed),
            limits: self.plugin.as_ref().map(|p| LimitsInfo::from(p.limits())),
        }
    }
}

/// An admission may only claim configured pools and name a well-formed tenant.
pub fn validate_admit(decision: &AdmitDecision, pools: &BTreeSet<String>) -> Result<(), String> {
    match decision {
        AdmitDecision::Reject(reason) => validate_reason(reason),
        AdmitDecision::Accept(admission) => {
            if let Some(tenant) = &admission.tenant {
                let ok = !tenant.is_empty()
                    && tenant.len() <= 64
                    && tenant
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c));
                if !ok {
                    return Err(format!("admit set an invalid tenant {tenant:?}"));
                }
            }
            for resource in admission.resources.iter().flatten() {
                if !pools.contains(resource) {
                    return Err(format!(
                        "admit claimed resource {resource:?}, which is not a configured pool"
                    ));
                }
            }
            Ok(())
        }
    }
}

/// Picks must name candidates, each at most once.
pub fn validate_pick(picks: &[u32], candidates: usize) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for &i in picks {
        if i as usize >= candidates {
            return Err(format!(
                "pick named candidate {i}, but only {candidates} were offered"
            ));
        }
        if !seen.insert(i) {
            return Err(format!("pick named candidate {i} twice"));
        }
    }
    Ok(())
}

/// A plan needs a positive, bounded timeout and a bounded grace.
pub fn validate_plan(plan: &AttemptPlan) -> Result<(), String> {
    if plan.timeout_ms == 0 || plan.timeout_ms > MAX_TIMEOUT_MS {
        return Err(format!(
            "plan timeout {} ms is outside 1..={MAX_TIMEOUT_MS}",
            plan.timeout_ms
        ));
    }
    if plan.kill_grace_ms > MAX_KILL_GRACE_MS {
        return Err(format!(
            "plan kill grace {} ms is over {MAX_KILL_GRACE_MS}",
            plan.kill_grace_ms
        ));
    }
    Ok(())
}

/// Retry delays are bounded; reasons are short and not empty.
pub fn validate_exit(decision: &ExitDecision) -> Result<(), String> {
    match decision {
        ExitDecision::Accept => Ok(()),
        ExitDecision::Retry(ms) if *ms > MAX_RETRY_DELAY_MS => {
            Err(format!("retry delay {ms} ms is over {MAX_RETRY_DELAY_MS}"))
        }
        ExitDecision::Retry(_) => Ok(()),
        ExitDecision::GiveUp(reason) => validate_reason(reason),
    }
}

fn validate_reason(reason: &str) -> Result<(), String> {
    if reason.trim().is_empty() || reason.len() > MAX_REASON_LEN {
        return Err(format!("reason must be 1 to {MAX_REASON_LEN} bytes"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Admission;

    #[test]
    fn invalid_answers_are_caught() {
        assert!(validate_pick(&[0, 2, 1], 3).is_ok());
        assert!(validate_pick(&[3], 3).is_err());
        assert!(validate_pick(&[1, 1], 3).is_err());
        assert!(
            validate_plan(&AttemptPlan {
                timeout_ms: 0,
                kill_grace_ms: 0
            })
            .is_err()
        );
        assert!(
            validate_plan(&AttemptPlan {
                timeout_ms: 1,
                kill_grace_ms: MAX_KILL_GRACE_MS + 1
            })
            .is_err()
        );
        assert!(validate_exit(&ExitDecision::Retry(MAX_RETRY_DELAY_MS + 1)).is_err());
        assert!(validate_exit(&ExitDecision::GiveUp(" ".into())).is_err());
        let pools = BTreeSet::from(["gpu".to_string()]);
        let claim = |r: &str| {
            AdmitDecision::Accept(Admission {
                priority: None,
                tenant: None,
                resources: Some(vec![r.into()]),
            })
        };
        assert!(validate_admit(&claim("gpu"), &pools).is_ok());
        assert!(validate_admit(&claim("tpu"), &pools).is_err());
    }
}

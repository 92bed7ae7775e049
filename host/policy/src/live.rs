//! `SwappablePolicy`: the policy the engine and the API call. It holds the active version and,
//! optionally, a candidate version on trial:
//!
//! - **shadow**: the candidate decides beside the active version on live traffic; the answers
//!   are compared, disagreements counted and logged with both answers, and only the active
//!   version's answer is applied;
//! - **canary**: a share of jobs, chosen by a stable hash of the job id, is decided by the
//!   candidate (admit, plan, on-exit; `pick` spans many jobs and stays with the active version).
//!
//! Both are swapped atomically like the active version: a call holds its own references.

use super::{
    AdmitDecision, AdmitInput, AttemptPlan, Decided, ExitDecision, ExitInput, GuardedPolicy,
    PickInput, PlanInput, Policy, PolicyInfo,
};
use arc_swap::{ArcSwap, ArcSwapOption};
pub use reef_core::api::policy::{CandidateInfo, CandidateMode};
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A candidate version on trial, with its counters.
pub struct CandidateRun {
    policy: GuardedPolicy,
    mode: CandidateMode,
    compared: AtomicU64,
    disagreements: AtomicU64,
    decided: AtomicU64,
}

impl CandidateRun {
    /// `policy` on trial as `mode`.
    pub fn new(policy: GuardedPolicy, mode: CandidateMode) -> Self {
        Self {
            policy,
            mode,
            compared: AtomicU64::new(0),
            disagreements: AtomicU64::new(0),
            decided: AtomicU64::new(0),
        }
    }
}

/// Which of 100 buckets a job falls in: stable across restarts and hosts (FNV-1a of the id).
pub fn bucket(job_id: &str) -> u8 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in job_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % 100) as u8
}

/// The active version and an optional candidate (see the module docs).
pub struct SwappablePolicy {
    current: ArcSwap<GuardedPolicy>,
    candidate: ArcSwapOption<CandidateRun>,
}

impl SwappablePolicy {
    /// `policy` active, no candidate.
    pub fn new(policy: GuardedPolicy) -> Self {
        Self {
            current: ArcSwap::from_pointee(policy),
            candidate: ArcSwapOption::empty(),
        }
    }

    /// Swaps the active version.
    pub fn set_current(&self, policy: GuardedPolicy) {
        self.current.store(Arc::new(policy));
    }

    /// Starts, replaces or ends (`None`) a candidate's trial.
    pub fn set_candidate(&self, candidate: Option<CandidateRun>) {
        self.candidate.store(candidate.map(Arc::new));
    }

    /// The candidate on trial and its counters.
    pub fn candidate_info(&self) -> Option<CandidateInfo> {
        self.candidate.load_full().map(|c| CandidateInfo {
            digest: c.policy.info().digest,
            mode: c.mode,
            compared: c.compared.load(Ordering::Relaxed),
            disagreements: c.disagreements.load(Ordering::Relaxed),
            decided: c.decided.load(Ordering::Relaxed),
        })
    }

    fn decide<T: PartialEq + Debug>(
        &self,
        hook: &'static str,
        job_id: Option<&str>,
        call: impl Fn(&GuardedPolicy) -> Decided<T>,
    ) -> Decided<T> {
        let current = self.current.load();
        let Some(candidate) = self.candidate.load_full() else {
            return call(&current);
        };
        match candidate.mode {
            CandidateMode::Canary { percent } => match job_id {
                Some(id) if bucket(id) < percent => {
                    candidate.decided.fetch_add(1, Ordering::Relaxed);
                    call(&candidate.policy)
                }
                _ => call(&current),
            },
            CandidateMode::Shadow => {
                let applied = call(&current);
                let shadow = call(&candidate.policy);
                candidate.compared.fetch_add(1, Ordering::Relaxed);
                if shadow.answer != applied.answer {
                    candidate.disagreements.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        hook,
                        job_id = job_id.unwrap_or(""),
                        active = %applied.by,
                        shadow = %shadow.by,
                        active_answer = ?applied.answer,
                        shadow_answer = ?shadow.answer,
                        "shadow policy disagrees (not applied)"
                    );
                }
                applied
            }
        }
    }
}

impl Policy for SwappablePolicy {
    fn admit(&self, input: &AdmitInput) -> Decided<AdmitDecision> {
        self.decide("admit", Some(&input.job.id), |p| p.admit(input))
    }
    fn pick(&self, input: &PickInput) -> Decided<Vec<u32>> {
        self.decide("pick", None, |p| p.pick(input))
    }
    fn plan(&self, input: &PlanInput) -> Decided<AttemptPlan> {
        self.decide("plan", Some(&input.job.id), |p| p.plan(input))
    }
    fn on_exit(&self, input: &ExitInput) -> Decided<ExitDecision> {
        self.decide("on-exit", Some(&input.job.id), |p| p.on_exit(input))
    }
    fn info(&self) -> PolicyInfo {
        self.current.load().info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_stable_and_spread() {
        assert_eq!(bucket("01JABC"), bucket("01JABC"));
        let ids: Vec<String> = (0..10_000)
            .map(|i| {
                ulid::Ulid::from_parts(1_700_000_000_000 + i, u128::from(i as u32)).to_string()
            })
            .collect();
        let under_30 = ids.iter().filter(|id| bucket(id) < 30).count();
        assert!((2_700..3_300).contains(&under_30), "{under_30}");
    }
}

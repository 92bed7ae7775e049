//! Building policy inputs from the host's records.

use super::{ExitStatus, HostLoad, Load, Pair, PolicyAttempt, PolicyJob, PolicyRunner};
use reef_core::model::{Attempt, AttemptState, Job};
use reef_core::runner::RunnerSpec;
use reef_core::scheduler::RunningView;
use reef_core::time::Timestamp;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};

/// A fresh random seed for one decision.
pub fn seed() -> u64 {
    // Each `RandomState` is keyed differently, so this is a cheap source of varied seeds.
    RandomState::new().hash_one(Timestamp::now().0)
}

fn pairs(map: &BTreeMap<String, String>) -> Vec<Pair> {
    map.iter()
        .map(|(k, v)| Pair {
            key: k.clone(),
            value: v.clone(),
        })
        .collect()
}

/// The policy's view of a job.
pub fn job(job: &Job) -> PolicyJob {
    PolicyJob {
        id: job.id.to_string(),
        runner: job.runner.clone(),
        params: pairs(&job.params),
        labels: pairs(&job.labels),
        priority: job.priority,
        tenant: job.tenant.clone(),
        created_at_ms: job.created_at.0,
        attempts_started: job.attempt_count,
    }
}

/// The policy's view of a runner's configuration.
pub fn runner(spec: &RunnerSpec) -> PolicyRunner {
    PolicyRunner {
        name: spec.name.clone(),
        timeout_ms: spec.timeout.as_millis() as u64,
        kill_grace_ms: spec.kill_grace.as_millis() as u64,
        max_attempts: spec.max_attempts,
        backoff_ms: spec.backoff.as_millis() as u64,
        max_concurrency: spec.max_concurrency,
        resources: spec.resources.clone(),
    }
}

/// How a finished attempt ended, in the policy's terms.
pub fn exit_status(attempt: &Attempt) -> ExitStatus {
    if attempt.state == AttemptState::Lost {
        return ExitStatus::Lost;
    }
    if attempt.cancelled || attempt.state == AttemptState::Cancelled {
        return ExitStatus::Cancelled;
    }
    if attempt.timed_out {
        return ExitStatus::TimedOut;
    }
    if let Some(reason) = attempt
        .reason
        .as_deref()
        .and_then(|r| r.strip_prefix("spawn_error: "))
    {
        return ExitStatus::SpawnError(reason.to_owned());
    }
    match (attempt.signal, attempt.exit_code) {
        (Some(signal), _) => ExitStatus::Signaled(signal),
        (None, Some(code)) => ExitStatus::Exited(code),
        (None, None) => ExitStatus::Lost,
    }
}

/// The policy's view of a finished attempt.
pub fn attempt(attempt: &Attempt) -> PolicyAttempt {
    PolicyAttempt {
        number: attempt.n,
        status: exit_status(attempt),
        succeeded: attempt.state == AttemptState::Succeeded,
        reason: attempt.reason.clone(),
        duration_ms: attempt
            .ended_at
            .map(|e| e.since(attempt.started_at).as_millis() as u64)
            .unwrap_or(0),
        score: attempt.score,
    }
}

/// What runs and waits, from the scheduler's view.
pub fn host_load(view: &RunningView, max_concurrency: u32) -> HostLoad {
    let mut runners: BTreeMap<&str, Load> = BTreeMap::new();
    for (name, n) in &view.per_runner {
        runners.entry(name).or_insert_with(|| load(name)).running = *n;
    }
    for (name, n) in &view.queued_per_runner {
        runners.entry(name).or_insert_with(|| load(name)).queued = *n;
    }
    let mut tenants: BTreeMap<&str, Load> = BTreeMap::new();
    for (name, n) in &view.per_tenant {
        tenants.entry(name).or_insert_with(|| load(name)).running = *n;
    }
    for (name, n) in &view.queued_per_tenant {
        tenants.entry(name).or_insert_with(|| load(name)).queued = *n;
    }
    let mut resources: Vec<Load> = view
        .per_resource
        .iter()
        .map(|(name, n)| Load {
            key: name.clone(),
            running: *n,
            queued: 0,
        })
        .collect();
    resources.sort_by(|a, b| a.key.cmp(&b.key));
    HostLoad {
        running: view.total,
        queued: view.queued_per_runner.values().sum(),
        max_concurrency,
        runners: runners.into_values().collect(),
        tenants: tenants.into_values().collect(),
        resources,
    }
}

fn load(key: &str) -> Load {
    Load {
        key: key.to_owned(),
        running: 0,
        queued: 0,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::{ExitInput, PolicyAttempt};
    use super::*;

    /// A runner with 3 attempts and a 1 s backoff, for policy tests.
    pub(crate) fn runner_view() -> PolicyRunner {
        PolicyRunner {
            name: "demo".into(),
            timeout_ms: 60_000,
            kill_grace_ms: 5_000,
            max_attempts: 3,
            backoff_ms: 1000,
            max_concurrency: Some(2),
            resources: vec![],
        }
    }

    /// An on-exit input for `status`, after attempts that ended with `history`.
    pub(crate) fn exit_input(
        status: ExitStatus,
        succeeded: bool,
        history: &[ExitStatus],
    ) -> ExitInput {
        let past = |(i, s): (usize, &ExitStatus)| PolicyAttempt {
            number: i as u32 + 1,
            status: s.clone(),
            succeeded: false,
            reason: None,
            duration_ms: 10,
            score: None,
        };
        ExitInput {
            job: job(&reef_core::testing::job()),
            runner: runner_view(),
            outcome: PolicyAttempt {
                number: history.len() as u32 + 1,
                status,
                succeeded,
                reason: None,
                duration_ms: 10,
                score: None,
            },
            stderr_tail: String::new(),
            result_json: None,
            history: history.iter().enumerate().map(past).collect(),
            now_ms: 0,
            seed: 0,
        }
    }

    #[test]
    fn loads_merge_running_and_queued_counts() {
        let mut view = RunningView {
            total: 1,
            ..Default::default()
        };
        view.per_runner.insert("a".into(), 1);
        view.queued_per_runner.insert("a".into(), 4);
        view.queued_per_runner.insert("b".into(), 2);
        view.per_tenant.insert("t1".into(), 1);
        view.queued_per_tenant.insert("t2".into(), 6);
        let load = host_load(&view, 4);
        assert_eq!((load.running, load.queued, load.max_concurrency), (1, 6, 4));
        assert_eq!(
            load.runners[0],
            Load {
                key: "a".into(),
                running: 1,
                queued: 4
            }
        );
        assert_eq!(
            load.runners[1],
            Load {
                key: "b".into(),
                running: 0,
                queued: 2
            }
        );
        assert_eq!(load.tenants.len(), 2);
    }
}

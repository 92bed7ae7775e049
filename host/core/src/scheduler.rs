//! `Scheduler`: which runnable jobs start now.
//!
//! The scheduler is plain data (no I/O, no clock) so its rules are unit-tested directly. It keeps
//! runnable jobs in one queue per runner, ordered by priority then submission, and enforces the
//! host's hard limits: global concurrency, per-runner concurrency and resource pool capacities.
//! Among the jobs that fit those limits it offers a bounded window of candidates to a [`Pick`]
//! (the policy) and starts what the policy picks, re-checking the limits for each pick.

use crate::job_id::JobId;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};

/// A runnable job as the scheduler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Job id (a ULID, so ordering by id is ordering by submission).
    pub job_id: JobId,
    /// Runner name.
    pub runner: String,
    /// Higher runs sooner.
    pub priority: i32,
    /// Tenant, for fair-share policies.
    pub tenant: String,
    /// Resource pools the job holds one unit of while it runs.
    pub resources: Vec<String>,
}

/// What is running, offered to the policy beside the candidates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunningView {
    /// Attempts running in all.
    pub total: u32,
    /// Running attempts per runner.
    pub per_runner: HashMap<String, u32>,
    /// Running attempts per tenant.
    pub per_tenant: HashMap<String, u32>,
    /// Units in use per resource pool.
    pub per_resource: HashMap<String, u32>,
    /// Queued (runnable) jobs per runner.
    pub queued_per_runner: HashMap<String, u32>,
    /// Queued (runnable) jobs per tenant.
    pub queued_per_tenant: HashMap<String, u32>,
}

/// The policy's choice among candidates.
pub trait Pick {
    /// Returns the ids of the candidates to start now, in order. Ids that are not candidates are
    /// ignored; an empty answer starts nothing until the next scheduling pass.
    fn pick(&self, candidates: &[Candidate], running: &RunningView) -> Vec<JobId>;
}

/// The host's hard limits.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// Attempts running at once, across runners.
    pub global: u32,
    /// Per-runner caps; runners absent here are bounded by `global` only.
    pub per_runner: HashMap<String, u32>,
    /// Capacity of each resource pool.
    pub pools: HashMap<String, u32>,
}

type QueueKey = (Reverse<i32>, JobId);

#[derive(Debug, Clone)]
struct Claim {
    runner: String,
    tenant: String,
    resources: Vec<String>,
}

/// Runnable jobs and running claims.
#[derive(Debug, Default)]
pub struct Scheduler {
    limits: Limits,
    window: usize,
    queues: BTreeMap<String, BTreeMap<QueueKey, Candidate>>,
    queued: HashMap<JobId, (String, QueueKey)>,
    running: HashMap<JobId, Claim>,
    view: RunningView,
}

impl Scheduler {
    /// A scheduler enforcing `limits` that offers at most `window` candidates per decision.
    pub fn new(limits: Limits, window: usize) -> Self {
        Self {
            limits,
            window: window.max(1),
            ..Default::default()
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Replaces the limits (config reload); running claims are kept.
    pub fn set_limits(&mut self, limits: Limits, window: usize) {
        self.limits = limits;
        self.window = window.max(1);
    }

    /// Adds a runnable job. Adding a job already queued or running is a no-op.
    pub fn enqueue(&mut self, candidate: Candidate) {
        if self.queued.contains_key(&candidate.job_id)
            || self.running.contains_key(&candidate.job_id)
        {
            return;
        }
        let key = (Reverse(candidate.priority), candidate.job_id.clone());
        *self
            .view
            .queued_per_runner
            .entry(candidate.runner.clone())
            .or_default() += 1;
        *self
            .view
            .queued_per_tenant
            .entry(candidate.tenant.clone())
            .or_default() += 1;
        self.queued.insert(
            candidate.job_id.clone(),
            (candidate.runner.clone(), key.clone()),
        );
        self.queues
            .entry(candidate.runner.clone())
            .or_default()
            .insert(key, candidate);
    }

    /// The ids of the queued jobs.
    pub fn queued_ids(&self) -> Vec<JobId> {
        self.queued.keys().cloned().collect()
    }

    /// Removes a queued job (cancelled); false if it was not queued.
    pub fn remove_queued(&mut self, job_id: &JobId) -> bool {
        let Some((runner, key)) = self.queued.remove(job_id) else {
            return false;
        };
        if let Some(queue) = self.queues.get_mut(&runner) {
            if let Some(c) = queue.remove(&key) {
                decrement(&mut self.view.queued_per_tenant, &c.tenant);
            }
            if queue.is_empty() {
                self.queues.remove(&runner);
            }
        }
        decrement(&mut self.view.queued_per_runner, &runner);
        true
    }

    /// Records a job as running without going through the queue (re-attached at start-up).
    pub fn claim(&mut self, candidate: &Candidate) {
        self.remove_queued(&candidate.job_id);
        if self.running.contains_key(&candidate.job_id) {
            return;
        }
        let claim = Claim {
            runner: candidate.runner.clone(),
            tenant: candidate.tenant.clone(),
            resources: candidate.resources.clone(),
        };
        self.view.total += 1;
        *self
            .view
            .per_runner
            .entry(claim.runner.clone())
            .or_default() += 1;
        *self
            .view
            .per_tenant
            .entry(claim.tenant.clone())
            .or_default() += 1;
        for r in &claim.resources {
            *self.view.per_resource.entry(r.clone()).or_default() += 1;
        }
        self.running.insert(candidate.job_id.clone(), claim);
    }

    /// Frees what a running job held; false if it was not running.
    pub fn release(&mut self, job_id: &JobId) -> bool {
        let Some(claim) = self.running.remove(job_id) else {
            return false;
        };
        self.view.total -= 1;
        decrement(&mut self.view.per_runner, &claim.runner);
        decrement(&mut self.view.per_tenant, &claim.tenant);
        for r in &claim.resources {
            decrement(&mut self.view.per_resource, r);
        }
        true
    }

    /// True when the job is queued here.
    pub fn is_queued(&self, job_id: &JobId) -> bool {
        self.queued.contains_key(job_id)
    }

    /// Number of queued jobs.
    pub fn queued_len(&self) -> usize {
        self.queued.len()
    }

    /// Number of running jobs.
    pub fn running_len(&self) -> usize {
        self.running.len()
    }

    /// What runs now.
    pub fn view(&self) -> &RunningView {
        &self.view
    }

    fn fits(&self, c: &Candidate) -> bool {
        if self.view.total >= self.limits.global {
            return false;
        }
        if let Some(cap) = self.limits.per_runner.get(&c.runner)
            && self.view.per_runner.get(&c.runner).copied().unwrap_or(0) >= *cap
        {
            return false;
        }
        c.resources.iter().all(|r| {
            let cap = self.limits.pools.get(r).copied().unwrap_or(0);
            self.view.per_resource.get(r).copied().unwrap_or(0) < cap
        })
    }

    /// Up to `window` queued jobs that fit the limits now, in priority-then-FIFO order.
    fn candidates(&self) -> Vec<Candidate> {
        let mut out: Vec<Candidate> = Vec::new();
        for queue in self.queues.values() {
            // Within one runner, jobs share their limits, so the first misfit usually means the
            // rest do not fit either; scanning on is still bounded by the window.
            out.extend(
                queue
                    .values()
                    .filter(|c| self.fits(c))
                    .take(self.window)
                    .cloned(),
            );
        }
        out.sort_by(|a, b| (Reverse(a.priority), &a.job_id).cmp(&(Reverse(b.priority), &b.job_id)));
        out.truncate(self.window);
        out
    }

    /// Starts what the policy picks, as long as the limits allow; returns the started jobs,
    /// now counted as running.
    pub fn next(&mut self, policy: &dyn Pick) -> Vec<Candidate> {
        let mut started = Vec::new();
        while self.view.total < self.limits.global {
            let candidates = self.candidates();
            if candidates.is_empty() {
                break;
            }
            let picks = policy.pick(&candidates, &self.view);
            let mut progressed = false;
            for id in picks {
                let Some(c) = candidates.iter().find(|c| c.job_id == id.as_str()) else {
                    continue;
                };
                if !self.is_queued(&c.job_id) || !self.fits(c) {
                    continue;
                }
                self.claim(c);
                started.push(c.clone());
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        started
    }
}

fn decrement(map: &mut HashMap<String, u32>, key: &str) {
    if let Some(n) = map.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes candidates in the order offered.
    struct InOrder;
    impl Pick for InOrder {
        fn pick(&self, candidates: &[Candidate], _: &RunningView) -> Vec<JobId> {
            candidates.iter().map(|c| c.job_id.clone()).collect()
        }
    }

    fn c(id: &str, runner: &str, priority: i32, resources: &[&str]) -> Candidate {
        Candidate {
            job_id: JobId::named(id),
            runner: runner.into(),
            priority,
            tenant: "t".into(),
            resources: resources.iter().map(|r| r.to_string()).collect(),
        }
    }

    fn ids(v: &[Candidate]) -> Vec<&str> {
        v.iter().map(|c| c.job_id.as_str()).collect()
    }

    #[test]
    fn priority_then_fifo_within_the_global_limit() {
        let mut s = Scheduler::new(
            Limits {
                global: 2,
                ..Default::default()
            },
            8,
        );
        s.enqueue(c("a1", "r", 0, &[]));
        s.enqueue(c("a2", "r", 5, &[]));
        s.enqueue(c("a3", "r", 0, &[]));
        assert_eq!(ids(&s.next(&InOrder)), ["a2", "a1"]);
        assert!(s.next(&InOrder).is_empty(), "global limit reached");
        s.release(&JobId::named("a2"));
        assert_eq!(ids(&s.next(&InOrder)), ["a3"]);
    }

    #[test]
    fn per_runner_limits_and_pools_hold_but_do_not_block_others() {
        let limits = Limits {
            global: 10,
            per_runner: HashMap::from([("demo".to_string(), 2)]),
            pools: HashMap::from([("surfpool".to_string(), 1)]),
        };
        let mut s = Scheduler::new(limits, 8);
        for i in 0..3 {
            s.enqueue(c(&format!("d{i}"), "demo", 0, &[]));
            s.enqueue(c(&format!("p{i}"), "pool", 0, &["surfpool"]));
        }
        s.enqueue(c("x", "other", 0, &[]));
        let started = s.next(&InOrder);
        assert_eq!(ids(&started), ["d0", "d1", "p0", "x"]);
        assert_eq!(s.view().per_resource["surfpool"], 1);
        s.release(&JobId::named("p0"));
        assert_eq!(ids(&s.next(&InOrder)), ["p1"]);
    }

    #[test]
    fn the_policy_cannot_break_limits_or_invent_jobs() {
        struct Greedy;
        impl Pick for Greedy {
            fn pick(&self, candidates: &[Candidate], _: &RunningView) -> Vec<JobId> {
                let mut v: Vec<JobId> = candidates.iter().map(|c| c.job_id.clone()).collect();
                v.push(JobId::named("ghost"));
                v.push(v[0].clone());
                v
            }
        }
        let mut s = Scheduler::new(
            Limits {
                global: 1,
                ..Default::default()
            },
            8,
        );
        s.enqueue(c("a", "r", 0, &[]));
        s.enqueue(c("b", "r", 0, &[]));
        assert_eq!(ids(&s.next(&Greedy)), ["a"]);
        assert_eq!(s.running_len(), 1);
        assert_eq!(s.queued_len(), 1);
    }

    #[test]
    fn the_window_is_bounded_and_cancel_removes() {
        struct Spy(std::cell::Cell<usize>);
        impl Pick for Spy {
            fn pick(&self, candidates: &[Candidate], _: &RunningView) -> Vec<JobId> {
                self.0.set(self.0.get().max(candidates.len()));
                vec![]
            }
        }
        let mut s = Scheduler::new(
            Limits {
                global: 4,
                ..Default::default()
            },
            3,
        );
        for i in 0..100 {
            s.enqueue(c(&format!("j{i:03}"), "r", 0, &[]));
        }
        let spy = Spy(std::cell::Cell::new(0));
        assert!(s.next(&spy).is_empty());
        assert_eq!(spy.0.get(), 3);
        assert!(s.remove_queued(&JobId::named("j050")));
        assert!(!s.remove_queued(&JobId::named("j050")));
        assert_eq!(s.queued_len(), 99);
        assert_eq!(s.view().queued_per_runner["r"], 99);
    }
}

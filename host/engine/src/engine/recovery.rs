//! Start-up recovery: rebuilding the scheduler from the store and picking up attempts a
//! previous host left running.

use super::attempts::{Scene, executor_of};
use super::{Engine, EngineError, RunningAttempt, blocking};
use crate::executor::{Missing, Reattached};
use reef_core::lifecycle::JobState;
use reef_core::model::Attempt;
use std::collections::BTreeMap;

impl Engine {
    /// Queues what waits, arms the timers of what waits for a retry, and asks the executor
    /// about every attempt a previous host left running: one that still runs is observed again,
    /// one that ended meanwhile is finished from what it left, one that cannot be found is lost
    /// (and nothing of it survives). No attempt runs twice: a running job is never queued.
    pub(super) async fn recover(&mut self) -> Result<(), EngineError> {
        let jobs = blocking(|| self.store.unfinished_jobs())?;
        let mut running = Vec::new();
        for job in jobs {
            match job.state {
                JobState::Queued => self.enqueue(&job),
                JobState::RetryWait => self.arm_retry(&job),
                JobState::Running => {
                    if let Some(candidate) = self.candidate(&job) {
                        self.scheduler.claim(&candidate);
                    }
                    let n = job.attempt_count;
                    let attempt = blocking(|| self.store.attempt(&job.id, n))?
                        .unwrap_or_else(|| Attempt::started(n, job.updated_at, 0, 0));
                    running.push((job, attempt));
                }
                _ => {}
            }
        }
        let missing = running
            .iter()
            .map(|(job, attempt)| Missing {
                executor: executor_of(attempt),
                job_id: job.id.clone(),
                attempt: attempt.n,
                handle: attempt.handle.clone(),
            })
            .collect();
        let found = self.executors.reattach(missing).await;
        for ((job, mut attempt), found) in running.into_iter().zip(found) {
            match found {
                Reattached::Running(launched) => {
                    tracing::info!(
                        job_id = %job.id,
                        attempt = attempt.n,
                        "re-attached to a running attempt"
                    );
                    if attempt.handle.as_ref() != Some(&launched.handle) {
                        // Found by its name: its handle is durable from now on.
                        self.record_launch(&job, &mut attempt, &launched)?;
                    }
                    self.observe(&job, &attempt, launched.handle);
                }
                Reattached::Ended(ending) => {
                    tracing::info!(
                        job_id = %job.id,
                        attempt = attempt.n,
                        "an attempt ended while no host ran"
                    );
                    self.running.insert(
                        job.id.clone(),
                        RunningAttempt {
                            attempt: attempt.n,
                            executor: executor_of(&attempt),
                            handle: attempt.handle.clone(),
                        },
                    );
                    let scene = Scene {
                        layout: self.executors.layout(&executor_of(&attempt)).clone(),
                        runner: self.runners.get(&job.runner).cloned(),
                        job,
                        attempt: attempt.n,
                        started: attempt.started_at,
                    };
                    let tx = self.tx.clone();
                    tokio::spawn(async move { scene.report(ending, &tx).await });
                }
            }
        }
        Ok(())
    }

    /// Rebuilds the queue from the store after a reload: every queued job gets its candidate
    /// again from the runners now configured (their resource pools may have changed), and jobs
    /// of a runner that came back are offered again. Returns what the operator should know:
    /// jobs whose runner is gone, and jobs that claim a pool no longer declared.
    pub(super) fn requeue_all(&mut self) -> Result<Vec<String>, EngineError> {
        let jobs = blocking(|| self.store.unfinished_jobs())?;
        for id in self.scheduler.queued_ids() {
            self.scheduler.remove_queued(&id);
        }
        let mut orphaned: BTreeMap<String, usize> = BTreeMap::new();
        let mut stranded: BTreeMap<String, usize> = BTreeMap::new();
        for job in jobs.iter().filter(|j| j.state == JobState::Queued) {
            let Some(candidate) = self.candidate(job) else {
                *orphaned.entry(job.runner.clone()).or_default() += 1;
                continue;
            };
            for pool in &candidate.resources {
                if !self.scheduler.limits().pools.contains_key(pool) {
                    *stranded.entry(pool.clone()).or_default() += 1;
                }
            }
            self.scheduler.enqueue(candidate);
        }
        let mut warnings: Vec<String> = orphaned
            .into_iter()
            .map(|(runner, n)| {
                format!("runners.{runner}: not configured; {n} queued jobs of it wait until it is")
            })
            .collect();
        warnings.extend(stranded.into_iter().map(|(pool, n)| {
            format!("resources.{pool}: not declared; {n} queued jobs claim it and wait until it is")
        }));
        Ok(warnings)
    }
}

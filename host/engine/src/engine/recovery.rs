//! Start-up recovery: rebuilding the scheduler from the store and picking up attempts a
//! previous host left running.

use super::{Command, Engine, EngineError, REATTACH_POLL, RunningAttempt};
use reef_core::lifecycle::JobState;
use reef_core::model::Job;
use reef_shim::{ExitRecord, ShimIdentity};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

impl Engine {
    pub(super) fn recover(&mut self) -> Result<(), EngineError> {
        let jobs = self.store.unfinished_jobs()?;
        let live = if jobs.iter().any(|j| j.state == JobState::Running) {
            self.supervisor.live_shims()
        } else {
            HashMap::new()
        };
        for job in jobs {
            match job.state {
                JobState::Queued => self.enqueue(&job),
                JobState::RetryWait => self.arm_retry(&job),
                JobState::Running => self.reattach(&job, &live),
                _ => {}
            }
        }
        Ok(())
    }

    /// Rebuilds the queue from the store after a reload: every queued job gets its candidate
    /// again from the runners now configured (their resource pools may have changed), and jobs
    /// of a runner that came back are offered again. Returns what the operator should know:
    /// jobs whose runner is gone, and jobs that claim a pool no longer declared.
    pub(super) fn requeue_all(&mut self) -> Result<Vec<String>, EngineError> {
        let jobs = tokio::task::block_in_place(|| self.store.unfinished_jobs())?;
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

    /// A job found running at start-up: follow its shim if it lives, finish it from its exit
    /// record if the shim is gone, or declare the attempt lost. A live shim is found by the spec
    /// it runs (`live`), so one started just before the old host died is not missed.
    fn reattach(&mut self, job: &Job, live: &HashMap<PathBuf, ShimIdentity>) {
        let n = job.attempt_count;
        let paths = self.supervisor.layout().paths(&job.id, n);
        if let Some(candidate) = self.candidate(job) {
            self.scheduler.claim(&candidate);
        }
        let identity = live
            .get(&paths.spec)
            .copied()
            .or_else(|| self.supervisor.recorded_identity(&job.id, n));
        self.running.insert(
            job.id.clone(),
            RunningAttempt {
                attempt: n,
                shim: identity,
            },
        );
        let tx = self.tx.clone();
        let job_id = job.id.clone();
        let alive = identity.filter(|i| i.is_alive());
        tracing::info!(
            job_id,
            attempt = n,
            reattached = alive.is_some(),
            "recovering running attempt"
        );
        tokio::spawn(async move {
            if let Some(identity) = alive {
                while identity.is_alive() {
                    tokio::time::sleep(REATTACH_POLL).await;
                }
            }
            let record = ExitRecord::read(&paths.exit_record).ok().flatten();
            let _ = tx.send(Command::AttemptEnded {
                job_id,
                attempt: n,
                record,
            });
        });
    }
}

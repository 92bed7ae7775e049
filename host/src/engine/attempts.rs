//! Starting attempts (durable first, then the shim) and finishing them (judge, ask the policy,
//! commit the outcome).

use super::{Command, Engine, EngineError, RunningAttempt};
use crate::lifecycle::{JobState, Transition};
use crate::model::{Attempt, AttemptState, Job};
use crate::outcome::{self, Verdict};
use crate::policy::ExitDecision;
use crate::runner::RunnerSpec;
use crate::scheduler::Candidate;
use crate::store::Change;
use crate::supervisor::LaunchError;
use crate::time::Timestamp;
use reef_shim::ExitRecord;

impl Engine {
    pub(super) fn schedule(&mut self) {
        let policy = self.policy.clone();
        for candidate in self.scheduler.next(policy.as_ref()) {
            if let Err(error) = self.start_attempt(&candidate) {
                tracing::error!(job_id = candidate.job_id, %error, "could not start an attempt; it stays queued");
                self.scheduler.release(&candidate.job_id);
                self.scheduler.enqueue(candidate);
            }
        }
    }

    fn start_attempt(&mut self, candidate: &Candidate) -> Result<(), EngineError> {
        let mut job = self.load(&candidate.job_id)?;
        if job.state != JobState::Queued {
            self.scheduler.release(&job.id);
            return Ok(());
        }
        let Some(runner) = self.runners.get(&job.runner).cloned() else {
            self.scheduler.release(&job.id);
            return Ok(());
        };
        let n = job.attempt_count + 1;
        let plan = self.policy.plan(&job, &runner, n);
        let now = Timestamp::now();
        let event = job
            .apply(Transition::Start { attempt: n }, now)
            .expect("queued → running is allowed");
        let attempt = Attempt::started(
            n,
            now,
            plan.timeout.as_millis() as u64,
            plan.kill_grace.as_millis() as u64,
        );
        // Durable before the process exists: a crash after this point finds the attempt.
        self.commit(&[Change {
            job: job.clone(),
            attempt: Some(attempt),
            events: vec![event],
        }])?;
        let tx = self.tx.clone();
        let job_id = job.id.clone();
        match self.supervisor.launch(&job, &runner, n, plan) {
            Ok(mut launched) => {
                tracing::info!(
                    job_id,
                    attempt = n,
                    shim_pid = launched.identity.pid,
                    "attempt started"
                );
                self.running.insert(
                    job_id.clone(),
                    RunningAttempt {
                        attempt: n,
                        shim: Some(launched.identity),
                    },
                );
                let exit_record = self.supervisor.layout().paths(&job_id, n).exit_record;
                tokio::spawn(async move {
                    let _ = launched.child.wait().await;
                    let record = ExitRecord::read(&exit_record).ok().flatten();
                    let _ = tx.send(Command::AttemptEnded {
                        job_id,
                        attempt: n,
                        record,
                    });
                });
            }
            Err(error) => {
                tracing::warn!(job_id, attempt = n, %error, "attempt could not be launched");
                self.running.insert(
                    job_id.clone(),
                    RunningAttempt {
                        attempt: n,
                        shim: None,
                    },
                );
                let now = Timestamp::now().0;
                let record = ExitRecord {
                    version: reef_shim::protocol::PROTOCOL_VERSION,
                    spawn_error: Some(match error {
                        LaunchError::ProgramNotFound(_) => error.to_string(),
                        LaunchError::Io { .. } => format!("host: {error}"),
                    }),
                    started_at_ms: now,
                    ended_at_ms: now,
                    ..Default::default()
                };
                let _ = tx.send(Command::AttemptEnded {
                    job_id,
                    attempt: n,
                    record: Some(record),
                });
            }
        }
        Ok(())
    }

    pub(super) fn finish(
        &mut self,
        job_id: &str,
        n: u32,
        record: Option<ExitRecord>,
    ) -> Result<(), EngineError> {
        let mut job = self.load(job_id)?;
        if job.state != JobState::Running || job.attempt_count != n {
            // Already finished (a duplicate notice after recovery).
            self.release(job_id, n);
            return Ok(());
        }
        let mut attempt = tokio::task::block_in_place(|| self.store.attempt(job_id, n))?
            .unwrap_or_else(|| Attempt::started(n, job.updated_at, 0, 0));
        let runner = self.runners.get(&job.runner).cloned();
        let now = Timestamp::now();
        let verdict = match &record {
            Some(record) => {
                fill_from_record(&mut attempt, record);
                let read = runner
                    .as_ref()
                    .map(|r| self.read_result(r, &job, n, attempt.started_at))
                    .unwrap_or_default();
                attempt.success = read.success;
                attempt.score = read.score;
                attempt.result = read.value;
                attempt.result_error = read.error;
                outcome::judge(record, attempt.success)
            }
            None => {
                attempt.ended_at = Some(now);
                Verdict::Failed {
                    reason: "lost".into(),
                    retryable: true,
                }
            }
        };
        let transition = if job.cancel_requested && verdict != Verdict::Succeeded
            || verdict == Verdict::Cancelled
        {
            attempt.state = AttemptState::Cancelled;
            Transition::Cancel
        } else {
            attempt.state = match (&verdict, &record) {
                (Verdict::Succeeded, _) => AttemptState::Succeeded,
                (_, None) => AttemptState::Lost,
                _ => AttemptState::Failed,
            };
            if let Verdict::Failed { reason, .. } = &verdict {
                attempt.reason = Some(reason.clone());
            }
            let decision = match &runner {
                Some(runner) => self.policy.on_exit(&job, runner, n, &verdict),
                None => match &verdict {
                    Verdict::Succeeded => ExitDecision::Accept,
                    Verdict::Failed { reason, .. } => ExitDecision::GiveUp {
                        reason: reason.clone(),
                    },
                    Verdict::Cancelled => ExitDecision::GiveUp {
                        reason: "cancelled".into(),
                    },
                },
            };
            match decision {
                ExitDecision::Accept => Transition::Succeed,
                ExitDecision::Retry { after, reason } => Transition::Retry {
                    reason,
                    at: now.plus(after),
                },
                ExitDecision::GiveUp { reason } => Transition::Fail { reason },
            }
        };
        let event = job
            .apply(transition, now)
            .expect("a running job can end any way");
        self.commit(&[Change {
            job: job.clone(),
            attempt: Some(attempt),
            events: vec![event],
        }])?;
        tracing::info!(job_id, attempt = n, state = %job.state, reason = job.reason.as_deref().unwrap_or(""), "attempt ended");
        self.release(job_id, n);
        if job.state == JobState::RetryWait {
            self.arm_retry(&job);
        }
        Ok(())
    }

    fn release(&mut self, job_id: &str, n: u32) {
        if self.running.get(job_id).is_some_and(|r| r.attempt == n) {
            self.running.remove(job_id);
            self.scheduler.release(job_id);
        }
    }

    fn read_result(
        &self,
        runner: &RunnerSpec,
        job: &Job,
        n: u32,
        started: Timestamp,
    ) -> outcome::ResultRead {
        let paths = self.supervisor.layout().paths(&job.id, n);
        let configured = runner.result_file(&job.params, &job.id, n);
        // Millisecond timestamps: allow the file's mtime to fall within the start millisecond.
        let not_before =
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(started.0.saturating_sub(1));
        outcome::read_result(runner, &paths.result, configured.as_deref(), not_before)
    }
}

fn fill_from_record(attempt: &mut Attempt, record: &ExitRecord) {
    attempt.ended_at = Some(Timestamp(record.ended_at_ms.max(attempt.started_at.0)));
    attempt.exit_code = record.exit_code;
    attempt.signal = record.signal;
    attempt.timed_out = record.timed_out;
    attempt.cancelled = record.cancelled;
    attempt.peak_rss_kib = Some(record.peak_rss_kib);
    attempt.cpu_ms = Some(record.cpu_ms);
    attempt.stdout_bytes = Some(record.stdout_bytes);
    attempt.stderr_bytes = Some(record.stderr_bytes);
    attempt.log_truncated = record.log_truncated;
}

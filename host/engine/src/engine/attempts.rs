//! Starting attempts (durable first, then the executor's launch), following them, and finishing
//! them (judge, ask the policy, commit the outcome).

use super::{Command, Engine, EngineError, Evidence, RunningAttempt, blocking};
use crate::executor::{LaunchError, LaunchRequest, Launched, ProgressSink};
use crate::metrics::{FailureLabels, OutcomeLabels, RunnerLabel};
use crate::supervisor::AttemptLayout;
use crate::trace::PolicyCall;
use reef_core::executor::{AttemptHandle, Ending, Placement, Progress};
use reef_core::job_id::JobId;
use reef_core::lifecycle::{JobState, Transition};
use reef_core::model::{Attempt, AttemptState, Job};
use reef_core::outcome::{self, ResultRead, Verdict};
use reef_core::runner::RunnerSpec;
use reef_core::scheduler::{Candidate, Pick, RunningView};
use reef_core::time::Timestamp;
use reef_policy::{ExitDecision, ExitInput, PickInput, PlanInput, Policy};
use reef_shim::ExitRecord;
use reef_store::Change;
use std::cell::RefCell;
use tokio::sync::mpsc;

impl Engine {
    pub(super) fn schedule(&mut self) {
        let pick = PolicyPick {
            policy: self.policy.as_ref(),
            now: self.clock.now(),
            max_concurrency: self.scheduler.limits().global,
            calls: self.tracer.enabled().then(|| RefCell::new(Vec::new())),
        };
        let started = self.scheduler.next(&pick);
        let picks = pick.calls.map(RefCell::into_inner).unwrap_or_default();
        for candidate in started {
            let pick = picks
                .iter()
                .find(|(_, chosen)| chosen.contains(&candidate.job_id))
                .map(|(call, _)| call);
            if let Err(error) = self.start_attempt(&candidate, pick) {
                tracing::error!(job_id = %candidate.job_id, %error, "could not start an attempt; it stays queued");
                self.scheduler.release(&candidate.job_id);
                self.scheduler.enqueue(candidate);
            }
        }
    }

    fn start_attempt(
        &mut self,
        candidate: &Candidate,
        pick: Option<&PolicyCall>,
    ) -> Result<(), EngineError> {
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
        let history = self.history(&job)?;
        let now = self.clock.now();
        // Queued since its last transition (submit, or the end of a retry wait).
        self.metrics
            .queue_wait
            .get_or_create(&RunnerLabel {
                runner: job.runner.clone(),
            })
            .observe(now.since(job.updated_at).as_secs_f64());
        let (plan, plan_call) = PolicyCall::time("plan", || {
            let decided = self.policy.plan(&PlanInput {
                job: reef_policy::inputs::job(&job),
                runner: reef_policy::inputs::runner(&runner),
                attempt: n,
                history,
                now_ms: now.0,
                seed: reef_policy::inputs::seed(),
            });
            (decided.answer, decided.by)
        });
        let queued_since = job.updated_at;
        let mut event = job
            .apply(Transition::Start { attempt: n }, now)
            .expect("queued → running is allowed");
        event.policy = Some(plan_call.by.clone());
        let mut attempt = Attempt::started(n, now, plan.timeout_ms, plan.kill_grace_ms);
        // The executor is part of the durable record from the start: a restart asks it, by
        // this name, about an attempt whose launch never answered.
        attempt.placement = Some(Placement {
            executor: runner.executor.clone(),
            node: None,
            id: None,
        });
        // Durable before the process exists: a crash after this point finds the attempt.
        self.commit(&[Change {
            job: job.clone(),
            attempt: Some(attempt),
            events: vec![event],
        }])?;
        self.tracer.started(&job, queued_since, n, pick, &plan_call);
        let executor_name = runner.executor.clone();
        let request = LaunchRequest {
            traceparent: self.tracer.traceparent(&job, n),
            job: job.clone(),
            runner,
            attempt: n,
            timeout_ms: plan.timeout_ms,
            kill_grace_ms: plan.kill_grace_ms,
            progress: self.progress_sink(&job.id, n),
        };
        self.running.insert(
            job.id.clone(),
            RunningAttempt {
                attempt: n,
                executor: executor_name.clone(),
                handle: None,
            },
        );
        // The launch may take long (a remote executor): it runs on a task of its own and
        // answers with a `Launched` command.
        let launch = match self.executors.get(&executor_name) {
            Some(executor) => executor.launch(request),
            None => Box::pin(std::future::ready(Err(LaunchError::Host(format!(
                "executor {executor_name:?} is not running on this host (executors start with reef; restart it)"
            ))))),
        };
        let (tx, metrics, job_id) = (self.tx.clone(), self.metrics.clone(), job.id);
        tokio::spawn(async move {
            let launching = std::time::Instant::now();
            let outcome = launch.await;
            metrics
                .spawn_latency
                .observe(launching.elapsed().as_secs_f64());
            let _ = tx.send(Command::Launched {
                job_id,
                attempt: n,
                outcome,
            });
        });
        Ok(())
    }

    /// An executor answered the launch of attempt `n`: its handle and placement are committed
    /// and it is observed until it ends; a cancel that came meanwhile is passed on. A launch
    /// that failed ends the attempt at once, with the failure as its spawn error.
    pub(super) fn launched(
        &mut self,
        job_id: &JobId,
        n: u32,
        outcome: Result<Launched, LaunchError>,
    ) -> Result<(), EngineError> {
        if self.running.get(job_id).is_none_or(|r| r.attempt != n) {
            return Ok(());
        }
        let job = self.load(job_id)?;
        let launched = match outcome {
            Ok(launched) => launched,
            Err(error) => {
                tracing::warn!(%job_id, attempt = n, %error, "attempt could not be launched");
                let now = self.clock.now().0;
                let record = ExitRecord {
                    version: reef_shim::protocol::PROTOCOL_VERSION,
                    spawn_error: Some(error.to_string()),
                    started_at_ms: now,
                    ended_at_ms: now,
                    ..Default::default()
                };
                let _ = self.tx.send(Command::AttemptEnded {
                    job_id: job_id.to_owned(),
                    attempt: n,
                    ending: Ending::Exited(record),
                    evidence: Box::default(),
                });
                return Ok(());
            }
        };
        let mut attempt = blocking(|| self.store.attempt(job_id, n))?
            .unwrap_or_else(|| Attempt::started(n, job.updated_at, 0, 0));
        self.record_launch(&job, &mut attempt, &launched)?;
        tracing::info!(
            %job_id,
            attempt = n,
            executor = launched.placement.executor,
            node = launched.placement.node.as_deref().unwrap_or(""),
            id = launched.placement.id.as_deref().unwrap_or(""),
            "attempt started"
        );
        let executor = executor_of(&attempt);
        if job.cancel_requested
            && let Some(executor) = self.executors.get(&executor)
        {
            executor.cancel(&launched.handle);
        }
        self.observe(&job, &attempt, launched.handle);
        Ok(())
    }

    /// Where an executor reports the progress of attempt `n` of `job_id`: to this task.
    fn progress_sink(&self, job_id: &JobId, n: u32) -> ProgressSink {
        let (tx, job_id) = (self.tx.clone(), job_id.clone());
        ProgressSink::new(move |progress| {
            let _ = tx.send(Command::Progress {
                job_id: job_id.clone(),
                attempt: n,
                progress,
            });
        })
    }

    /// An executor said where attempt `n` waits or runs: recorded on the attempt (once per
    /// change), with the time it waited in the executor's queue once it is placed.
    pub(super) fn progressed(
        &mut self,
        job_id: &JobId,
        n: u32,
        progress: Progress,
    ) -> Result<(), EngineError> {
        if self.running.get(job_id).is_none_or(|r| r.attempt != n) {
            return Ok(());
        }
        let job = self.load(job_id)?;
        let Some(mut attempt) = blocking(|| self.store.attempt(job_id, n))? else {
            return Ok(());
        };
        if attempt.state != AttemptState::Running {
            return Ok(());
        }
        let now = self.clock.now();
        match progress {
            Progress::Waiting { reason } => {
                if attempt.waiting.as_ref() == Some(&reason) {
                    return Ok(());
                }
                attempt.waiting = Some(reason);
            }
            Progress::Placed(placement) => {
                if attempt.placed_at.is_some() {
                    return Ok(());
                }
                let executor = executor_of(&attempt);
                attempt.waiting = None;
                attempt.placed_at = Some(now);
                self.metrics
                    .executor_queue_wait
                    .get_or_create(&crate::metrics::ExecutorLabel {
                        executor: executor.clone(),
                    })
                    .observe(now.since(attempt.started_at).as_secs_f64());
                tracing::info!(
                    %job_id,
                    attempt = n,
                    executor,
                    node = placement.node.as_deref().unwrap_or(""),
                    id = placement.id.as_deref().unwrap_or(""),
                    "attempt placed"
                );
                attempt.placement = Some(Placement {
                    executor,
                    ..placement
                });
            }
        }
        self.commit(&[Change {
            job,
            attempt: Some(attempt),
            events: vec![],
        }])
    }

    /// Follows an attempt until it ends, then gathers what it left, all off the engine's task.
    pub(super) fn observe(&mut self, job: &Job, attempt: &Attempt, handle: AttemptHandle) {
        let executor = executor_of(attempt);
        self.running.insert(
            job.id.clone(),
            RunningAttempt {
                attempt: attempt.n,
                executor: executor.clone(),
                handle: Some(handle.clone()),
            },
        );
        let progress = self.progress_sink(&job.id, attempt.n);
        let ended = match self.executors.get(&executor) {
            Some(running) => running.observe(handle, progress),
            None => Box::pin(std::future::ready(Ending::Lost {
                reason: format!("executor {executor:?} is not configured on this host"),
            })),
        };
        let scene = Scene {
            layout: self.executors.layout(&executor).clone(),
            runner: self.runners.get(&job.runner).cloned(),
            job: job.clone(),
            attempt: attempt.n,
            started: attempt.started_at,
        };
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let ending = ended.await;
            scene.report(ending, &tx).await;
        });
    }

    pub(super) fn finish(
        &mut self,
        job_id: &JobId,
        n: u32,
        ending: Ending,
        evidence: &Evidence,
    ) -> Result<(), EngineError> {
        let mut job = self.load(job_id)?;
        if job.state != JobState::Running || job.attempt_count != n {
            // Already finished (a duplicate notice after recovery).
            self.release(job_id, n);
            return Ok(());
        }
        let mut attempt = blocking(|| self.store.attempt(job_id, n))?
            .unwrap_or_else(|| Attempt::started(n, job.updated_at, 0, 0));
        let runner = self.runners.get(&job.runner).cloned();
        let now = self.clock.now();
        let lost = matches!(ending, Ending::Lost { .. });
        let verdict = match &ending {
            Ending::Exited(record) => {
                fill_from_record(&mut attempt, record);
                let read = evidence.result.clone();
                attempt.success = read.success;
                attempt.score = read.score;
                attempt.result = read.value;
                attempt.result_error = read.error;
                outcome::judge(record, attempt.success)
            }
            Ending::Lost { reason } => {
                // Gone without a record: its executor has killed whatever it left running.
                attempt.ended_at = Some(now);
                attempt.lost_reason = Some(reason.clone());
                Verdict::Failed {
                    reason: "lost".into(),
                    retryable: true,
                }
            }
        };
        let mut on_exit = None;
        let transition = if job.cancel_requested && verdict != Verdict::Succeeded
            || verdict == Verdict::Cancelled
        {
            attempt.state = AttemptState::Cancelled;
            Transition::Cancel
        } else {
            attempt.state = match verdict {
                Verdict::Succeeded => AttemptState::Succeeded,
                _ if lost => AttemptState::Lost,
                _ => AttemptState::Failed,
            };
            if let Verdict::Failed { reason, .. } = &verdict {
                attempt.reason = Some(reason.clone());
            }
            let succeeded = verdict == Verdict::Succeeded;
            let decision = match &runner {
                Some(runner) => {
                    let input =
                        self.exit_input(&job, runner, &attempt, &evidence.stderr_tail, now)?;
                    let (answer, call) = PolicyCall::time("on_exit", || {
                        let decided = self.policy.on_exit(&input);
                        (decided.answer, decided.by)
                    });
                    on_exit = Some(call);
                    answer
                }
                None => ExitDecision::Accept,
            };
            let verdict_reason = match &verdict {
                Verdict::Failed { reason, .. } => reason.clone(),
                _ => "cancelled".to_owned(),
            };
            match decision {
                ExitDecision::Accept if succeeded => Transition::Succeed,
                ExitDecision::Accept => Transition::Fail {
                    reason: verdict_reason,
                },
                ExitDecision::Retry(after_ms) => Transition::Retry {
                    reason: if succeeded {
                        "policy:retry".to_owned()
                    } else {
                        verdict_reason
                    },
                    at: now.plus(std::time::Duration::from_millis(after_ms)),
                },
                ExitDecision::GiveUp(reason) => Transition::Fail { reason },
            }
        };
        let mut event = job
            .apply(transition, now)
            .expect("a running job can end any way");
        event.policy = on_exit.as_ref().map(|call| call.by.clone());
        event.placement = attempt.placement.clone();
        self.commit(&[Change {
            job: job.clone(),
            attempt: Some(attempt.clone()),
            events: vec![event],
        }])?;
        tracing::info!(%job_id, attempt = n, state = %job.state, reason = job.reason.as_deref().unwrap_or(""), "attempt ended");
        self.count_end(&job, &attempt);
        self.tracer.attempt_ended(&job, &attempt, on_exit.as_ref());
        self.release(job_id, n);
        if job.state == JobState::RetryWait {
            self.arm_retry(&job);
        }
        Ok(())
    }

    /// Finished attempts of a job since its last re-drive, oldest first, as the policy sees them.
    fn history(&self, job: &Job) -> Result<Vec<reef_policy::PolicyAttempt>, EngineError> {
        let attempts = blocking(|| self.store.attempts(&job.id))?;
        Ok(attempts
            .iter()
            .filter(|a| a.state != AttemptState::Running && a.n > job.redriven_after)
            .map(reef_policy::inputs::attempt)
            .collect())
    }

    fn exit_input(
        &self,
        job: &Job,
        runner: &RunnerSpec,
        attempt: &Attempt,
        stderr_tail: &str,
        now: Timestamp,
    ) -> Result<ExitInput, EngineError> {
        let history = self
            .history(job)?
            .into_iter()
            .filter(|a| a.number != attempt.n)
            .collect();
        let result_json = attempt
            .result
            .as_ref()
            .map(|r| r.to_string())
            .filter(|r| r.len() <= MAX_RESULT_JSON_FOR_POLICY);
        Ok(ExitInput {
            job: reef_policy::inputs::job(job),
            runner: reef_policy::inputs::runner(runner),
            outcome: reef_policy::inputs::attempt(attempt),
            stderr_tail: stderr_tail.to_owned(),
            result_json,
            history,
            now_ms: now.0,
            seed: reef_policy::inputs::seed(),
        })
    }

    /// Metrics of an attempt that ended, and of its job when that is now finished.
    fn count_end(&self, job: &Job, attempt: &Attempt) {
        let runner = job.runner.clone();
        let outcome = match attempt.state {
            AttemptState::Succeeded => "succeeded",
            AttemptState::Cancelled => "cancelled",
            AttemptState::Lost => "lost",
            AttemptState::Failed | AttemptState::Running => "failed",
        };
        let m = &self.metrics;
        m.attempts
            .get_or_create(&OutcomeLabels {
                runner: runner.clone(),
                outcome: outcome.into(),
            })
            .inc();
        if let Some(ended) = attempt.ended_at {
            m.attempt_duration
                .get_or_create(&RunnerLabel {
                    runner: runner.clone(),
                })
                .observe(ended.since(attempt.started_at).as_secs_f64());
        }
        if let Some(reason) = &attempt.reason {
            let reason = match reason.split(':').next().unwrap_or("") {
                "exit_code" | "result" => "exit",
                "signal" => "signal",
                "timeout" => "timeout",
                "lost" => "lost",
                "spawn_error" => "spawn_error",
                _ => "other",
            };
            m.process_failures
                .get_or_create(&FailureLabels {
                    runner: runner.clone(),
                    reason: reason.into(),
                })
                .inc();
        }
        if job.state.is_terminal() {
            m.jobs_finished
                .get_or_create(&OutcomeLabels {
                    runner: runner.clone(),
                    outcome: job.state.as_str().into(),
                })
                .inc();
            m.job_duration
                .get_or_create(&RunnerLabel { runner })
                .observe(job.updated_at.since(job.created_at).as_secs_f64());
        }
    }

    fn release(&mut self, job_id: &JobId, n: u32) {
        if self.running.get(job_id).is_some_and(|r| r.attempt == n) {
            self.running.remove(job_id);
            self.scheduler.release(job_id);
        }
    }
}

/// How far before an attempt's start its result file's mtime may fall (coarse file clocks).
const MTIME_SLACK_MS: u64 = 20;

/// Bytes of stderr handed to `on-exit`.
const STDERR_TAIL_BYTES: u64 = 2048;
/// Largest result (as JSON text) handed to `on-exit`; larger ones are left out.
const MAX_RESULT_JSON_FOR_POLICY: usize = 64 * 1024;

/// The last `n` bytes of a file as (lossy) text.
fn tail(path: &std::path::Path, n: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut bytes = Vec::new();
    if file.seek(SeekFrom::Start(len.saturating_sub(n))).is_ok() {
        let _ = file.take(n).read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// What gathering the evidence of an ended attempt needs, taken along by the task that
/// observes it.
pub(super) struct Scene {
    pub(super) layout: AttemptLayout,
    pub(super) runner: Option<RunnerSpec>,
    pub(super) job: Job,
    pub(super) attempt: u32,
    pub(super) started: Timestamp,
}

impl Scene {
    /// Reads what the attempt left (off the async workers) and reports its end to the engine.
    pub(super) async fn report(self, ending: Ending, tx: &mpsc::UnboundedSender<Command>) {
        let (job_id, attempt) = (self.job.id.clone(), self.attempt);
        let exited = matches!(ending, Ending::Exited(_));
        let evidence = tokio::task::spawn_blocking(move || self.gather(exited))
            .await
            .unwrap_or_default();
        let _ = tx.send(Command::AttemptEnded {
            job_id,
            attempt,
            ending,
            evidence: Box::new(evidence),
        });
    }

    fn gather(&self, exited: bool) -> Evidence {
        let paths = self.layout.paths(&self.job.id, self.attempt);
        let result = match (&self.runner, exited) {
            (Some(runner), true) => self.read_result(runner, &paths.result),
            _ => ResultRead::default(),
        };
        Evidence {
            result,
            stderr_tail: tail(&paths.stderr, STDERR_TAIL_BYTES),
        }
    }

    fn read_result(&self, runner: &RunnerSpec, result_path: &std::path::Path) -> ResultRead {
        let job = &self.job;
        let configured =
            match crate::workdir::result_file(runner, &job.params, &job.id, self.attempt) {
                Ok(configured) => configured,
                Err(error) => {
                    return ResultRead {
                        error: Some(error),
                        ..Default::default()
                    };
                }
            };
        // The kernel stamps files from a coarse clock (up to a scheduler tick, 4-10 ms, behind
        // the time the start was read from): a file written just after the start may carry an
        // earlier mtime, so the check allows that much.
        let not_before = std::time::UNIX_EPOCH
            + std::time::Duration::from_millis(self.started.0.saturating_sub(MTIME_SLACK_MS));
        crate::workdir::read_result(runner, result_path, configured.as_deref(), not_before)
    }
}

/// A timed pick and the jobs it chose.
type PickCall = (PolicyCall, Vec<JobId>);

/// The scheduler's [`Pick`] seam, answered by the policy. With tracing on, each call is kept,
/// timed and with the jobs it chose, for their traces.
struct PolicyPick<'a> {
    policy: &'a dyn Policy,
    now: Timestamp,
    max_concurrency: u32,
    calls: Option<RefCell<Vec<PickCall>>>,
}

impl Pick for PolicyPick<'_> {
    fn pick(&self, candidates: &[Candidate], running: &RunningView) -> Vec<JobId> {
        let input = PickInput {
            candidates: candidates
                .iter()
                .map(|c| reef_policy::PolicyCandidate {
                    job_id: c.job_id.to_string(),
                    runner: c.runner.clone(),
                    priority: c.priority,
                    tenant: c.tenant.clone(),
                    resources: c.resources.clone(),
                })
                .collect(),
            load: reef_policy::inputs::host_load(running, self.max_concurrency),
            now_ms: self.now.0,
            seed: reef_policy::inputs::seed(),
        };
        let (chosen, call) = PolicyCall::time("pick", || {
            let decided = self.policy.pick(&input);
            let chosen: Vec<JobId> = decided
                .answer
                .into_iter()
                .filter_map(|i| candidates.get(i as usize).map(|c| c.job_id.clone()))
                .collect();
            (chosen, decided.by)
        });
        if let Some(calls) = &self.calls {
            calls.borrow_mut().push((call, chosen.clone()));
        }
        chosen
    }
}

/// The configured executor an attempt was started on (`local` for attempts stored before
/// executors were recorded).
pub(super) fn executor_of(attempt: &Attempt) -> String {
    attempt
        .placement
        .as_ref()
        .map(|p| p.executor.clone())
        .unwrap_or_else(|| reef_core::executor::LOCAL.to_owned())
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

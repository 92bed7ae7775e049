//! `SlurmExecutor`: each attempt one Slurm batch job, whose script `exec`s `reef-shim` on the
//! node with the attempt's spec in the shared directory.
//!
//! The attempt is committed before `sbatch` runs (the engine does that); the batch job is named
//! after the attempt ([`attempt_name`]) and carries the job and attempt in its comment, so a
//! restarted host finds it by name even when its Slurm id was never recorded (and Slurm ids
//! restart from 1 on a fresh cluster, so an id alone is never trusted). It is submitted with
//! `--no-requeue` (a requeue after a node failure can run an attempt twice) and a Slurm time
//! limit beyond the plan's deadline as a backstop; the shim enforces the deadline itself.
//!
//! While Slurm cannot be reached, a launch waits (and says so) instead of failing, and looks
//! the attempt up by name before it submits again: one attempt never becomes two Slurm jobs.

mod batch;
mod check;
mod cli;
mod queue;
mod watch;

pub use check::config_warnings;
pub use cli::{SlurmCli, SlurmError};
pub use queue::{Phase, SlurmJob};

use super::Reattached;
use super::{BoxFuture, Executor, LaunchError, LaunchRequest, Launched, Missing, ProgressSink};
use crate::metrics::Metrics;
use crate::supervisor::{AttemptLayout, AttemptLimits, AttemptWriter, ProgramLookup};
use reef_core::config::executors::SlurmExecutorConfig;
use reef_core::executor::{AttemptHandle, Ending, Placement, Progress, attempt_name};
use reef_core::job_id::JobId;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use watch::SlurmWatch;

/// The longest wait between two submits while Slurm cannot be reached.
const MAX_SUBMIT_BACKOFF: Duration = Duration::from_secs(30);
/// `sbatch` calls of one executor at once: a burst of starts queues here rather than as
/// hundreds of clients at the controller.
const SUBMITS_AT_ONCE: usize = 8;
/// After a cancel's grace, this much longer before the whole Slurm job is cancelled.
const CANCEL_BACKSTOP: Duration = Duration::from_secs(15);

/// What a Slurm handle keeps beside the attempt's name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Detail {
    job_id: JobId,
    attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    slurm_id: Option<u64>,
    #[serde(default)]
    kill_grace_ms: u64,
}

/// Runs attempts as Slurm batch jobs. Cloning is cheap: a launch takes a clone to its task.
#[derive(Clone)]
pub struct SlurmExecutor {
    name: String,
    config: SlurmExecutorConfig,
    writer: AttemptWriter,
    cli: SlurmCli,
    watch: SlurmWatch,
    submits: Arc<tokio::sync::Semaphore>,
}

impl SlurmExecutor {
    /// Starts the executor `name` (and its watch over Slurm's queue). Attempt directories are
    /// written by `writer`, whose layout must be under the config's `shared_dir`.
    pub fn start(
        name: &str,
        config: SlurmExecutorConfig,
        writer: AttemptWriter,
        metrics: Arc<Metrics>,
    ) -> Self {
        let cli = SlurmCli::new(config.bin_dir.clone(), name, metrics);
        let watch = SlurmWatch::start(
            cli.clone(),
            writer.layout().clone(),
            name.to_owned(),
            config.poll_interval,
        );
        Self {
            name: name.to_owned(),
            config,
            writer,
            cli,
            watch,
            submits: Arc::new(tokio::sync::Semaphore::new(SUBMITS_AT_ONCE)),
        }
    }

    /// Where each executor's attempts live: `<shared_dir>/attempts`.
    pub fn layout_for(config: &SlurmExecutorConfig) -> AttemptLayout {
        AttemptLayout::new(&config.shared_dir)
    }
}

/// The handle of attempt `attempt` of `job_id` on executor `executor`.
fn handle(
    executor: &str,
    job_id: &JobId,
    attempt: u32,
    slurm_id: Option<u64>,
    kill_grace_ms: u64,
) -> AttemptHandle {
    let detail = Detail {
        job_id: job_id.clone(),
        attempt,
        slurm_id,
        kill_grace_ms,
    };
    AttemptHandle {
        executor: executor.to_owned(),
        name: attempt_name(job_id, attempt),
        detail: serde_json::to_value(detail).unwrap_or_default(),
    }
}

/// Where an attempt runs: its Slurm job's node and id, once known.
fn placement(executor: &str, job: Option<&SlurmJob>) -> Placement {
    Placement {
        executor: executor.to_owned(),
        node: job.map(|j| j.nodes.clone()).filter(|n| !n.is_empty()),
        id: job.map(|j| j.id.to_string()),
    }
}

fn detail(handle: &AttemptHandle) -> Option<Detail> {
    Detail::deserialize(&handle.detail).ok()
}

impl SlurmExecutor {
    /// Writes the attempt's files, then submits it, waiting while Slurm cannot be reached.
    async fn submit(self, request: LaunchRequest) -> Result<(u64, String), LaunchError> {
        let (job_id, n) = (request.job.id.clone(), request.attempt);
        let name = attempt_name(&job_id, n);
        let shim = self.config.shim_path.as_ref().map_or_else(
            || "reef-shim".to_owned(),
            |p| p.to_string_lossy().into_owned(),
        );
        let writer = self.writer.clone();
        let limits = AttemptLimits {
            timeout_ms: request.timeout_ms,
            kill_grace_ms: request.kill_grace_ms,
        };
        let (job, runner, traceparent) = (
            request.job.clone(),
            request.runner.clone(),
            request.traceparent.clone(),
        );
        let paths = tokio::task::spawn_blocking(move || {
            let paths =
                writer.prepare(&job, &runner, n, limits, traceparent, ProgramLookup::Node)?;
            let script = paths.dir.join("batch.sh");
            std::fs::write(&script, batch::script(&shim, &paths.spec)).map_err(|source| {
                crate::supervisor::LaunchError::Io {
                    what: "writing the batch script".into(),
                    source,
                }
            })?;
            Ok::<_, crate::supervisor::LaunchError>((paths, script))
        })
        .await
        .map_err(|e| LaunchError::Host(format!("the launch was interrupted: {e}")))?;
        let (paths, script) = paths.map_err(|e| LaunchError::Host(e.to_string()))?;
        let limit = Duration::from_millis(request.timeout_ms.saturating_add(request.kill_grace_ms))
            + self.config.time_margin;
        let args = batch::sbatch_args(
            &self.config,
            &batch::Submission {
                name: &name,
                comment: format!("reef job {job_id} attempt {n}"),
                dir: &paths.dir,
                script: &script,
                request: &request.runner.slurm,
                limit,
            },
        );
        let mut backoff = self.config.poll_interval;
        let mut unanswered = false;
        loop {
            if unanswered {
                // A submit that got no answer may still have reached the controller, and the
                // job may even have run since: any job of this name is this attempt's.
                match self.cli.jobs().await {
                    Ok(jobs) => {
                        self.watch.observed(&Ok(()));
                        if let Some(job) =
                            jobs.iter().filter(|j| j.name == name).max_by_key(|j| j.id)
                        {
                            return Ok((job.id, job.describe()));
                        }
                    }
                    Err(error) => {
                        self.wait(&request.progress, &error, &mut backoff).await;
                        continue;
                    }
                }
            }
            let submitted = {
                let _turn = self.submits.acquire().await;
                self.cli.sbatch(&args).await
            };
            match submitted {
                Ok(id) => {
                    self.watch.observed(&Ok(()));
                    return Ok((id, "PENDING".to_owned()));
                }
                Err(error) if error.is_unreachable() => {
                    unanswered = true;
                    self.wait(&request.progress, &error, &mut backoff).await;
                }
                Err(error) => {
                    return Err(LaunchError::Host(format!(
                        "Slurm refused the attempt ({}): {error}",
                        self.name
                    )));
                }
            }
        }
    }

    async fn wait(&self, progress: &ProgressSink, error: &SlurmError, backoff: &mut Duration) {
        self.watch.observed(&Err(error.clone()));
        progress.report(Progress::Waiting {
            reason: format!("Slurm cannot be reached ({error}); the submit is retried"),
        });
        tokio::time::sleep(*backoff).await;
        *backoff = (*backoff * 2).min(MAX_SUBMIT_BACKOFF);
    }
}

impl Executor for SlurmExecutor {
    fn name(&self) -> &str {
        &self.name
    }

    fn layout(&self) -> &AttemptLayout {
        self.writer.layout()
    }

    fn launch(&self, request: LaunchRequest) -> BoxFuture<Result<Launched, LaunchError>> {
        let this = self.clone();
        let (job_id, n, grace) = (
            request.job.id.clone(),
            request.attempt,
            request.kill_grace_ms,
        );
        let executor = self.name.clone();
        Box::pin(async move {
            let (id, state) = this.submit(request).await?;
            Ok(Launched {
                handle: handle(&executor, &job_id, n, Some(id), grace),
                placement: Placement {
                    id: Some(id.to_string()),
                    ..placement(&executor, None)
                },
                waiting: Some(format!("submitted to Slurm: {state}")),
            })
        })
    }

    fn observe(&self, handle: AttemptHandle, progress: ProgressSink) -> BoxFuture<Ending> {
        let Some(detail) = detail(&handle) else {
            return Box::pin(std::future::ready(Ending::Lost {
                reason: format!("unreadable Slurm handle {:?}", handle.detail),
            }));
        };
        let ended = self.watch.watch(
            handle.name,
            detail.job_id,
            detail.attempt,
            detail.slurm_id,
            progress,
        );
        self.watch.wake();
        Box::pin(async move {
            ended.await.unwrap_or_else(|_| Ending::Lost {
                reason: "the Slurm watch stopped".into(),
            })
        })
    }

    fn cancel(&self, handle: &AttemptHandle) {
        let Some(detail) = detail(handle) else { return };
        let seen = self.watch.seen(&handle.name);
        let id = seen.and_then(|s| s.slurm_id).or(detail.slurm_id);
        let pending = seen.is_some_and(|s| s.phase == Some(Phase::Pending));
        let target = match id {
            Some(id) => id.to_string(),
            None => format!("--name={}", handle.name),
        };
        let (cli, watch, name) = (self.cli.clone(), self.watch.clone(), handle.name.clone());
        let grace = Duration::from_millis(detail.kill_grace_ms);
        tokio::spawn(async move {
            // The shim escalates with the plan's grace; Slurm's own escalation (plain scancel,
            // KillWait) would cut it short. A pending job has no shim yet.
            let signalled = if pending {
                cli.scancel(std::slice::from_ref(&target)).await
            } else {
                let asked = [
                    "--batch".to_owned(),
                    "--signal=TERM".to_owned(),
                    target.clone(),
                ];
                match cli.scancel(&asked).await {
                    Ok(()) => Ok(()),
                    // Not started yet (no batch step): cancel the job itself.
                    Err(_) => cli.scancel(std::slice::from_ref(&target)).await,
                }
            };
            if let Err(error) = signalled {
                tracing::warn!(attempt = name, %error, "could not signal a Slurm attempt");
            }
            tokio::time::sleep(grace + CANCEL_BACKSTOP).await;
            if watch.seen(&name).is_some() {
                tracing::warn!(
                    attempt = name,
                    "a cancelled Slurm attempt outlived its grace; cancelling its job"
                );
                let _ = cli.scancel(std::slice::from_ref(&target)).await;
            }
        });
    }

    fn reattach(&self, attempts: Vec<Missing>) -> BoxFuture<Vec<Reattached>> {
        let cli = self.cli.clone();
        let watch = self.watch.clone();
        let layout = self.writer.layout().clone();
        let executor = self.name.clone();
        Box::pin(async move {
            let jobs = if attempts.is_empty() {
                Ok(Vec::new())
            } else {
                cli.jobs().await
            };
            watch.observed(&jobs.as_ref().map(drop).map_err(Clone::clone));
            let mut found = Vec::with_capacity(attempts.len());
            for missing in attempts {
                let name = attempt_name(&missing.job_id, missing.attempt);
                let known = missing.handle.as_ref().and_then(detail);
                let grace = known.as_ref().map_or(0, |d| d.kill_grace_ms);
                let jobs = match &jobs {
                    Ok(jobs) => jobs,
                    Err(error) => {
                        // Slurm cannot say now: watch it by name until it can.
                        found.push(Reattached::Running(Launched {
                            handle: handle(
                                &executor,
                                &missing.job_id,
                                missing.attempt,
                                known.and_then(|d| d.slurm_id),
                                grace,
                            ),
                            placement: placement(&executor, None),
                            waiting: Some(format!("Slurm cannot be reached ({error})")),
                        }));
                        continue;
                    }
                };
                let mut live: Vec<&SlurmJob> = jobs
                    .iter()
                    .filter(|j| j.name == name && j.phase() != Phase::Ended)
                    .collect();
                live.sort_by_key(|j| j.id);
                for extra in live.iter().skip(1) {
                    // Never two live jobs for one attempt: the first submitted stays.
                    tracing::warn!(
                        attempt = name,
                        slurm_id = extra.id,
                        "a second Slurm job for one attempt; cancelling it"
                    );
                    let _ = cli.scancel(&[extra.id.to_string()]).await;
                }
                let job = live
                    .first()
                    .copied()
                    .or_else(|| jobs.iter().filter(|j| j.name == name).max_by_key(|j| j.id));
                match job {
                    Some(job) if job.phase() != Phase::Ended => {
                        found.push(Reattached::Running(Launched {
                            handle: handle(
                                &executor,
                                &missing.job_id,
                                missing.attempt,
                                Some(job.id),
                                grace,
                            ),
                            placement: placement(&executor, Some(job)),
                            waiting: (job.phase() == Phase::Pending).then(|| job.pending_reason()),
                        }));
                    }
                    job => found.push(Reattached::Ended(
                        watch::ending_of(&layout, &missing.job_id, missing.attempt, job).await,
                    )),
                }
            }
            found
        })
    }

    fn health(&self) -> Result<(), String> {
        self.watch.health()
    }
}

//! `Engine`: the one task that moves jobs through their lifecycle.
//!
//! The engine owns the [`Scheduler`] and is the only writer of existing jobs, so there are no
//! races between a cancel, a start and a finish of the same job. The API creates jobs (the write
//! must be durable before the caller is answered) and then tells the engine; everything after
//! that happens here, in order:
//!
//! 1. `schedule`: the scheduler picks jobs within the hard limits; for each, the policy plans the
//!    attempt, the `start` transition and the attempt record are committed, and only then the
//!    executor is asked to launch it (nothing irreversible before the state is durable). The
//!    launch runs on a task of its own and answers with `Launched`: its handle and placement are
//!    committed, and a task observes the attempt.
//! 2. When the attempt ends, that task gathers what it left (result, stderr tail) off the
//!    engine's task and sends `AttemptEnded`.
//! 3. `finish`: the ending and the result are judged, the policy decides, and the outcome is
//!    committed (`succeeded`, `failed`, `retry_wait` with a timer, or `cancelled`).
//!
//! Nothing here waits on a process or a file; the store blocks, so its calls run under
//! [`blocking`]. Time comes from a [`Clock`], so tests can move it.

use reef_core::job_id::JobId;
use reef_core::lifecycle::{JobEvent, JobState, Transition};
use reef_core::model::{Attempt, Job};

use crate::clock::Clock;
use crate::executor::{ExecutorSet, LaunchError, Launched};
use crate::metrics::Metrics;
use crate::trace::JobTracer;
use reef_core::executor::{AttemptHandle, Ending, Progress};
use reef_core::outcome::ResultRead;
use reef_core::runner::RunnerSet;
use reef_core::scheduler::{Candidate, Limits, Scheduler};
use reef_core::time::Timestamp;
use reef_policy::{HostLoad, Policy};
use reef_store::{Change, JobStore, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

mod attempts;
mod recovery;

/// How often the engine wakes up with nothing to do (readiness heartbeat, retry of failed
/// writes).
const TICK: Duration = Duration::from_millis(500);

/// Runs `f`, which blocks (a store call), without stalling the runtime's other tasks: under
/// `block_in_place` on a multi-threaded runtime, directly on a single-threaded one (tests).
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) if runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Errors the engine reports to callers.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The job does not exist.
    #[error("job {0} does not exist")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The engine is not running (the host is stopping).
    #[error("the scheduler is not running")]
    Stopped,
    /// The job's state does not allow this.
    #[error(transparent)]
    NotAllowed(#[from] reef_core::lifecycle::InvalidTransition),
}

enum Command {
    Submitted(Box<Job>),
    Cancel {
        job_id: JobId,
        reply: oneshot::Sender<Result<Job, EngineError>>,
    },
    Redrive {
        job_id: JobId,
        reply: oneshot::Sender<Result<Job, EngineError>>,
    },
    /// An executor answered a launch.
    Launched {
        job_id: JobId,
        attempt: u32,
        outcome: Result<Launched, LaunchError>,
    },
    AttemptEnded {
        job_id: JobId,
        attempt: u32,
        ending: Ending,
        evidence: Box<Evidence>,
    },
    /// An executor said where a launched attempt waits or runs.
    Progress {
        job_id: JobId,
        attempt: u32,
        progress: Progress,
    },
    RetryDue {
        job_id: JobId,
    },
    /// Nothing to do but run a pass (e.g. after a stop was requested).
    Wake,
    /// A config reload changed the runners or the limits.
    Reconfigure {
        runners: Arc<RunnerSet>,
        limits: Limits,
        window: usize,
        reply: oneshot::Sender<Vec<String>>,
    },
}

/// Liveness facts the health checks read, and the load snapshot admission decisions see.
#[derive(Debug, Default)]
pub struct EngineStatus {
    stopping: std::sync::atomic::AtomicBool,
    last_tick_ms: AtomicU64,
    queued: AtomicU64,
    running: AtomicU64,
    load: std::sync::Mutex<Option<HostLoad>>,
    /// Woken when the host starts stopping, so that long waits (a synchronous invoke) end
    /// instead of holding up the graceful shutdown.
    stop_notify: tokio::sync::Notify,
}

impl EngineStatus {
    /// The host is stopping: no attempt starts, no job is accepted.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Resolves once the host is stopping.
    pub async fn stopped(&self) {
        let notified = self.stop_notify.notified();
        tokio::pin!(notified);
        // Registered before the flag is read, so a stop in between is not missed.
        notified.as_mut().enable();
        if self.stopping() {
            return;
        }
        notified.await;
    }

    /// When the engine loop last ran.
    pub fn last_tick(&self) -> Timestamp {
        Timestamp(self.last_tick_ms.load(Ordering::Relaxed))
    }
    /// Jobs waiting for a slot.
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }
    /// Attempts running.
    pub fn running(&self) -> u64 {
        self.running.load(Ordering::Relaxed)
    }
    /// What ran and waited at the end of the engine's last pass.
    pub fn load(&self) -> HostLoad {
        let snapshot = self.load.lock().map(|l| l.clone()).unwrap_or_default();
        snapshot.unwrap_or(HostLoad {
            running: 0,
            queued: 0,
            max_concurrency: 0,
            runners: vec![],
            tenants: vec![],
            resources: vec![],
        })
    }
}

/// The API's handle on the engine. Cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    tx: mpsc::UnboundedSender<Command>,
    status: Arc<EngineStatus>,
}

impl EngineHandle {
    /// Tells the engine about a job that was just committed.
    pub fn submitted(&self, job: Job) {
        let _ = self.tx.send(Command::Submitted(Box::new(job)));
    }

    /// Cancels a job: queued and waiting jobs at once, running ones by stopping their attempt.
    /// Returns the job as it is after the request.
    pub async fn cancel(&self, job_id: &JobId) -> Result<Job, EngineError> {
        let job_id = job_id.clone();
        self.ask(|reply| Command::Cancel { job_id, reply }).await
    }

    /// Stops starting attempts (the host is going down); running ones are left alone.
    pub fn stop(&self) {
        self.status.stopping.store(true, Ordering::Relaxed);
        self.status.stop_notify.notify_waiters();
        let _ = self.tx.send(Command::Wake);
    }

    /// Replaces the runners and the limits between two scheduling passes, and rebuilds the
    /// queue under them. Jobs of a runner that is no longer configured, or that claim a pool no
    /// longer declared, stay queued until it is configured again; the answer says so.
    pub async fn reconfigure(
        &self,
        runners: Arc<RunnerSet>,
        limits: Limits,
        window: usize,
    ) -> Result<Vec<String>, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Reconfigure {
                runners,
                limits,
                window,
                reply,
            })
            .map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)
    }

    /// Runs a failed or cancelled job again.
    pub async fn redrive(&self, job_id: &JobId) -> Result<Job, EngineError> {
        let job_id = job_id.clone();
        self.ask(|reply| Command::Redrive { job_id, reply }).await
    }

    /// Sends a command that answers with a job, and waits for the answer.
    async fn ask(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<Job, EngineError>>) -> Command,
    ) -> Result<Job, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(command(reply))
            .map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)?
    }

    /// Liveness facts.
    pub fn status(&self) -> &EngineStatus {
        &self.status
    }
}

/// What an ended attempt left, gathered off the engine's task.
#[derive(Debug, Clone, Default)]
pub(crate) struct Evidence {
    /// Its result, read through the runner's pointers.
    result: ResultRead,
    /// The end of its stderr, for the policy.
    stderr_tail: String,
}

struct RunningAttempt {
    attempt: u32,
    /// The executor it runs on, as configured.
    executor: String,
    /// `None` while its launch has not answered.
    handle: Option<AttemptHandle>,
}

/// The engine task's state.
pub struct Engine {
    store: JobStore,
    runners: Arc<RunnerSet>,
    policy: Arc<dyn Policy>,
    scheduler: Scheduler,
    executors: ExecutorSet,
    clock: Arc<dyn Clock>,
    running: HashMap<JobId, RunningAttempt>,
    tx: mpsc::UnboundedSender<Command>,
    status: Arc<EngineStatus>,
    metrics: Arc<Metrics>,
    tracer: JobTracer,
}

/// What the engine is made of.
pub struct EngineParts {
    /// The job store.
    pub store: JobStore,
    /// The configured runners.
    pub runners: Arc<RunnerSet>,
    /// The policy deciding plans, picks and exits.
    pub policy: Arc<dyn Policy>,
    /// Hard concurrency limits.
    pub limits: Limits,
    /// Candidates offered to the policy per decision.
    pub window: usize,
    /// Run attempts, by the names runners use.
    pub executors: ExecutorSet,
    /// Where time is read.
    pub clock: Arc<dyn Clock>,
    /// Counters and histograms.
    pub metrics: Arc<Metrics>,
    /// Job traces.
    pub tracer: JobTracer,
}

/// Limits the scheduler enforces for a runner set.
pub fn limits_for(
    runners: &RunnerSet,
    global: u32,
    pools: &std::collections::BTreeMap<String, u32>,
) -> Limits {
    Limits {
        global,
        per_runner: runners
            .iter()
            .filter_map(|r| r.max_concurrency.map(|c| (r.name.clone(), c)))
            .collect(),
        pools: pools.iter().map(|(k, v)| (k.clone(), *v)).collect(),
    }
}

impl Engine {
    /// Rebuilds the engine's view from the store, re-attaches or finishes attempts left running
    /// by a previous host, and starts the engine task.
    pub async fn start(parts: EngineParts) -> Result<EngineHandle, EngineError> {
        let EngineParts {
            store,
            runners,
            policy,
            limits,
            window,
            executors,
            clock,
            metrics,
            tracer,
        } = parts;
        let (tx, rx) = mpsc::unbounded_channel();
        let status = Arc::new(EngineStatus::default());
        status.last_tick_ms.store(clock.now().0, Ordering::Relaxed);
        let mut engine = Engine {
            store,
            runners,
            policy,
            scheduler: Scheduler::new(limits, window),
            executors,
            clock,
            running: HashMap::new(),
            tx: tx.clone(),
            status: status.clone(),
            metrics,
            tracer,
        };
        engine.recover().await?;
        tokio::spawn(engine.run(rx));
        Ok(EngineHandle { tx, status })
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                command = rx.recv() => match command {
                    Some(command) => self.handle(command),
                    None => break,
                },
                _ = tick.tick() => {}
            }
            // Drain what else is waiting before scheduling, so bursts are decided together.
            while let Ok(command) = rx.try_recv() {
                self.handle(command);
            }
            if !self.status.stopping() {
                self.schedule();
            }
            self.status
                .last_tick_ms
                .store(self.clock.now().0, Ordering::Relaxed);
            self.status
                .queued
                .store(self.scheduler.queued_len() as u64, Ordering::Relaxed);
            self.status
                .running
                .store(self.scheduler.running_len() as u64, Ordering::Relaxed);
            let load = reef_policy::inputs::host_load(
                self.scheduler.view(),
                self.scheduler.limits().global,
            );
            if let Ok(mut slot) = self.status.load.lock() {
                *slot = Some(load);
            }
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Submitted(job) => self.enqueue(&job),
            Command::Cancel { job_id, reply } => {
                let _ = reply.send(self.cancel(&job_id));
            }
            Command::Redrive { job_id, reply } => {
                let _ = reply.send(self.redrive(&job_id));
            }
            Command::Launched {
                job_id,
                attempt,
                outcome,
            } => {
                if let Err(error) = self.launched(&job_id, attempt, outcome.clone()) {
                    tracing::error!(%job_id, attempt, %error, "could not record a launch; retrying");
                    self.resend_later(Command::Launched {
                        job_id,
                        attempt,
                        outcome,
                    });
                }
            }
            Command::AttemptEnded {
                job_id,
                attempt,
                ending,
                evidence,
            } => {
                if let Err(error) = self.finish(&job_id, attempt, ending.clone(), &evidence) {
                    tracing::error!(%job_id, attempt, %error, "could not record the end of an attempt; retrying");
                    self.resend_later(Command::AttemptEnded {
                        job_id,
                        attempt,
                        ending,
                        evidence,
                    });
                }
            }
            Command::Progress {
                job_id,
                attempt,
                progress,
            } => {
                if let Err(error) = self.progressed(&job_id, attempt, progress) {
                    tracing::warn!(%job_id, attempt, %error, "could not record where an attempt is");
                }
            }
            Command::Wake => {}
            Command::Reconfigure {
                runners,
                limits,
                window,
                reply,
            } => {
                self.runners = runners;
                self.scheduler.set_limits(limits, window);
                let warnings = match self.requeue_all() {
                    Ok(warnings) => warnings,
                    Err(error) => {
                        tracing::error!(%error, "could not re-read queued jobs after a reload");
                        vec![format!(
                            "the queue could not be rebuilt: {error}; it is as before"
                        )]
                    }
                };
                let _ = reply.send(warnings);
            }
            Command::RetryDue { job_id } => {
                if let Err(error) = self.requeue(&job_id) {
                    tracing::error!(%job_id, %error, "could not requeue a job; retrying");
                    self.resend_later(Command::RetryDue { job_id });
                }
            }
        }
    }

    fn resend_later(&self, command: Command) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(TICK).await;
            let _ = tx.send(command);
        });
    }

    fn candidate(&self, job: &Job) -> Option<Candidate> {
        let runner = self.runners.get(&job.runner)?;
        Some(Candidate {
            job_id: job.id.clone(),
            runner: job.runner.clone(),
            priority: job.priority,
            tenant: job.tenant.clone(),
            resources: job
                .resources
                .clone()
                .unwrap_or_else(|| runner.resources.clone()),
        })
    }

    fn enqueue(&mut self, job: &Job) {
        match self.candidate(job) {
            Some(c) => self.scheduler.enqueue(c),
            None => tracing::warn!(
                job_id = %job.id,
                runner = job.runner,
                "queued job names an unknown runner; it waits until the runner is configured"
            ),
        }
    }

    fn arm_retry(&self, job: &Job) {
        let delay = job
            .next_run_at
            .map(|at| at.since(self.clock.now()))
            .unwrap_or_default();
        let tx = self.tx.clone();
        let job_id = job.id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(Command::RetryDue { job_id });
        });
    }

    fn load(&self, job_id: &JobId) -> Result<Job, EngineError> {
        blocking(|| self.store.job(job_id))?
            .ok_or_else(|| EngineError::NotFound(job_id.to_string()))
    }

    fn commit(&self, changes: &[Change]) -> Result<(), EngineError> {
        blocking(|| self.store.write(changes))?;
        Ok(())
    }

    /// Commits a job's new record with the events explaining it (no attempt change).
    fn commit_job(&self, job: &Job, events: Vec<JobEvent>) -> Result<(), EngineError> {
        self.commit(&[Change {
            job: job.clone(),
            attempt: None,
            events,
        }])
    }

    /// Records where a launched attempt runs (or waits) and how to find it again, durably.
    /// The placement keeps the executor's configured name, by which the attempt is routed.
    fn record_launch(
        &self,
        job: &Job,
        attempt: &mut Attempt,
        launched: &Launched,
    ) -> Result<(), EngineError> {
        let executor = attempts::executor_of(attempt);
        attempt.handle = Some(launched.handle.clone());
        attempt.placement = Some(reef_core::executor::Placement {
            executor,
            ..launched.placement.clone()
        });
        attempt.waiting = launched.waiting.clone();
        if launched.waiting.is_none() && attempt.placed_at.is_none() {
            let now = self.clock.now();
            attempt.placed_at = Some(now);
            self.metrics
                .executor_queue_wait
                .get_or_create(&crate::metrics::ExecutorLabel {
                    executor: attempts::executor_of(attempt),
                })
                .observe(now.since(attempt.started_at).as_secs_f64());
        }
        self.commit(&[Change {
            job: job.clone(),
            attempt: Some(attempt.clone()),
            events: vec![],
        }])
    }

    fn cancel(&mut self, job_id: &JobId) -> Result<Job, EngineError> {
        let mut job = self.load(job_id)?;
        match job.state {
            JobState::Queued | JobState::RetryWait => {
                let event = job
                    .apply(Transition::Cancel, self.clock.now())
                    .expect("queued and waiting jobs can be cancelled");
                self.commit_job(&job, vec![event])?;
                self.scheduler.remove_queued(job_id);
                self.tracer.job_ended(&job);
                tracing::info!(%job_id, "cancelled before running");
            }
            JobState::Running => {
                if !job.cancel_requested {
                    job.cancel_requested = true;
                    job.updated_at = self.clock.now();
                    self.commit_job(&job, vec![])?;
                }
                // A launch still under way is cancelled when it answers.
                if let Some(running) = self.running.get(job_id)
                    && let Some(handle) = &running.handle
                    && let Some(executor) = self.executors.get(&running.executor)
                {
                    executor.cancel(handle);
                }
                tracing::info!(%job_id, "cancel requested for a running attempt");
            }
            // Cancelling a finished job changes nothing.
            _ => {}
        }
        Ok(job)
    }

    fn redrive(&mut self, job_id: &JobId) -> Result<Job, EngineError> {
        let mut job = self.load(job_id)?;
        let event = job.apply(Transition::Redrive, self.clock.now())?;
        self.commit_job(&job, vec![event])?;
        self.enqueue(&job);
        tracing::info!(%job_id, "re-driven");
        Ok(job)
    }

    fn requeue(&mut self, job_id: &JobId) -> Result<(), EngineError> {
        let mut job = self.load(job_id)?;
        if job.state != JobState::RetryWait {
            return Ok(()); // cancelled meanwhile
        }
        let mut event = job
            .apply(Transition::Requeue, self.clock.now())
            .expect("retry_wait → queued is allowed");
        // A requeue carries out the retry that a policy decided: it names that policy too.
        event.policy = blocking(|| self.store.events_of(job_id))?
            .into_iter()
            .rev()
            .find(|e| e.transition == "retry")
            .and_then(|e| e.policy);
        self.commit_job(&job, vec![event])?;
        self.enqueue(&job);
        Ok(())
    }
}

//! The executor seam: the only way the engine launches, observes, cancels and re-attaches
//! attempts.
//!
//! An executor places an attempt somewhere and reports how it ended. The design is for the
//! hardest case, a remote scheduler: a launch may take seconds and may fail, an attempt outlives
//! the host, and only the executor knows where it runs. So:
//!
//! - the engine commits the attempt **before** it asks for a launch (durable before
//!   irreversible), and runs the launch off its own task;
//! - a launch answers with an [`AttemptHandle`], which the engine commits with the attempt, and
//!   a [`Placement`] (executor, node, external id) that the API, the CLI and traces show;
//! - every attempt also has a name derived from its job and number
//!   ([`reef_core::executor::attempt_name`]), so an attempt launched just before a crash, whose
//!   handle was never committed, is still found by [`Executor::reattach`];
//! - an attempt ends [`Ending::Exited`] with its exit record, or [`Ending::Lost`] with a reason,
//!   and the policy decides what follows either way.
//!
//! - while it waits in the executor's own queue or once it is placed on a node, the executor
//!   says so through the attempt's [`ProgressSink`].
//!
//! `local` ([`local::LocalExecutor`]) runs each attempt as a `reef-shim` process on this machine;
//! `slurm` ([`slurm::SlurmExecutor`]) as a Slurm batch job running `reef-shim` on a node. The
//! engine reaches them through an [`ExecutorSet`], by the name a runner configures.

pub mod local;
mod set;
pub mod slurm;

pub use set::ExecutorSet;

use crate::supervisor::AttemptLayout;
use reef_core::executor::{AttemptHandle, Ending, Placement, Progress};
use reef_core::job_id::JobId;
use reef_core::model::Job;
use reef_core::runner::RunnerSpec;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a host warns of, at start and in `reef config check`, for the configured executors.
pub fn config_warnings(config: &reef_core::config::Config) -> Vec<String> {
    config
        .executors
        .iter()
        .flat_map(|(name, executor)| match executor {
            reef_core::config::executors::ExecutorConfig::Slurm(slurm) => {
                slurm::config_warnings(name, slurm)
            }
        })
        .collect()
}

/// A future an executor hands back; `'static`, so the engine can run it on a task of its own.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Where an executor reports the [`Progress`] of one attempt.
#[derive(Clone)]
pub struct ProgressSink(Arc<dyn Fn(Progress) + Send + Sync>);

impl ProgressSink {
    /// A sink calling `report` for each piece of progress.
    pub fn new(report: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        Self(Arc::new(report))
    }

    /// A sink that drops everything (an executor whose attempts run as soon as launched).
    pub fn ignore() -> Self {
        Self::new(|_| {})
    }

    /// Reports `progress`.
    pub fn report(&self, progress: Progress) {
        (self.0)(progress)
    }
}

impl std::fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressSink")
    }
}

/// What a launch needs.
#[derive(Debug, Clone)]
pub struct LaunchRequest {
    /// The job, as committed with the attempt's start.
    pub job: Job,
    /// Its runner.
    pub runner: RunnerSpec,
    /// The attempt's number.
    pub attempt: u32,
    /// The attempt's deadline, in milliseconds.
    pub timeout_ms: u64,
    /// Grace between SIGTERM and SIGKILL, in milliseconds.
    pub kill_grace_ms: u64,
    /// `TRACEPARENT` for the runner, when traces are exported.
    pub traceparent: Option<String>,
    /// Where to say that the launch waits (an executor that cannot be reached).
    pub progress: ProgressSink,
}

/// A launched attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Launched {
    /// How to find it again.
    pub handle: AttemptHandle,
    /// Where it runs.
    pub placement: Placement,
    /// Set when it does not run yet but waits in the executor's queue, with the reason; its
    /// placement then names no node until [`Progress::Placed`] says where it runs.
    pub waiting: Option<String>,
}

/// Why an attempt was not launched.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LaunchError {
    /// The attempt itself cannot run (its program does not exist): its spawn error, which
    /// another attempt would not fix.
    #[error("{0}")]
    Spawn(String),
    /// The host or the executor could not launch it (a disk, a controller that does not
    /// answer); the attempt is failed with this reason and the policy decides.
    #[error("host: {0}")]
    Host(String),
}

/// An attempt a previous host left running, to be found again.
#[derive(Debug, Clone)]
pub struct Missing {
    /// The executor it was started on, as configured.
    pub executor: String,
    /// Its job.
    pub job_id: JobId,
    /// Its number.
    pub attempt: u32,
    /// Its handle, when the previous host committed one.
    pub handle: Option<AttemptHandle>,
}

/// What became of an attempt a previous host left running.
#[derive(Debug, Clone, PartialEq)]
pub enum Reattached {
    /// It still runs: observe it through this handle.
    Running(Launched),
    /// It ended meanwhile (or can never be found again: [`Ending::Lost`]).
    Ended(Ending),
}

/// A place where attempts run.
pub trait Executor: Send + Sync {
    /// Its name, as placements and handles carry it.
    fn name(&self) -> &str;

    /// Where the files of its attempts live (spec, logs, result, exit record).
    fn layout(&self) -> &AttemptLayout;

    /// Starts an attempt. May take long and may fail; the engine awaits it on a task of its own.
    fn launch(&self, request: LaunchRequest) -> BoxFuture<Result<Launched, LaunchError>>;

    /// Resolves when the attempt has ended; meanwhile reports where it waits or runs to
    /// `progress`. Nothing of a lost attempt survives when this answers [`Ending::Lost`]: the
    /// executor has killed what it could find of it.
    fn observe(&self, handle: AttemptHandle, progress: ProgressSink) -> BoxFuture<Ending>;

    /// Asks the attempt to stop: SIGTERM to the runner, SIGKILL after its grace.
    fn cancel(&self, handle: &AttemptHandle);

    /// After a restart: finds each attempt again, from its handle or, without one, its name.
    /// Answers in the order asked.
    fn reattach(&self, attempts: Vec<Missing>) -> BoxFuture<Vec<Reattached>>;

    /// Whether the executor can be reached now; `Err` says why not (a Slurm controller that
    /// does not answer). Readiness and metrics read it.
    fn health(&self) -> Result<(), String> {
        Ok(())
    }
}

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
//! `local` ([`local::LocalExecutor`]) runs each attempt as a `reef-shim` process on this machine.

pub mod local;

use crate::supervisor::AttemptLayout;
use reef_core::executor::{AttemptHandle, Ending, Placement};
use reef_core::job_id::JobId;
use reef_core::model::Job;
use reef_core::runner::RunnerSpec;
use std::future::Future;
use std::pin::Pin;

/// A future an executor hands back; `'static`, so the engine can run it on a task of its own.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

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
}

/// A launched attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Launched {
    /// How to find it again.
    pub handle: AttemptHandle,
    /// Where it runs.
    pub placement: Placement,
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

    /// Resolves when the attempt has ended. Nothing of a lost attempt survives when this
    /// answers [`Ending::Lost`]: the executor has killed what it could find of it.
    fn observe(&self, handle: AttemptHandle) -> BoxFuture<Ending>;

    /// Asks the attempt to stop: SIGTERM to the runner, SIGKILL after its grace.
    fn cancel(&self, handle: &AttemptHandle);

    /// After a restart: finds each attempt again, from its handle or, without one, its name.
    /// Answers in the order asked.
    fn reattach(&self, attempts: Vec<Missing>) -> BoxFuture<Vec<Reattached>>;
}

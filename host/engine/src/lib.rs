//! reef's engine: the task that moves jobs through their lifecycle, and the services around it.
//!
//! - [`engine`]: the one task that schedules, starts and finishes attempts, and the only writer
//!   of existing jobs;
//! - [`supervisor`]: attempt directories and the `reef-shim` processes that run attempts;
//! - [`service`]: `JobService`, the typed operations behind the API (submit, get, list, cancel,
//!   retry, logs, results), and [`wait`], waiting for a job to end;
//! - [`workdir`]: the filesystem checks of runners (programs, confined paths, result files);
//! - [`metrics`] and [`trace`]: what the engine counts and the traces of jobs.
//!
//! **The engine knows nothing of HTTP**: no axum, no status codes, no headers. Its callers (the
//! server, tests) speak to it through [`service::JobService`] and [`engine::EngineHandle`].
//! It depends on the core, the store and the policy crates.

pub mod clock;
pub mod engine;
pub mod executor;
pub mod metrics;
pub mod results;
pub mod service;
pub mod supervisor;
mod sweep_control;
mod sweeps;
pub mod trace;
pub mod wait;
pub mod workdir;

//! reef's core: what a job is and the rules it lives by.
//!
//! - the records of jobs, attempts and events ([`model`], [`job_id`], [`lifecycle`], with the job state
//!   machine: every change of a job's state goes through [`lifecycle`]'s `Job::apply`);
//! - the scheduling rules ([`scheduler`]): queues, hard limits, resource pools;
//! - runners as configured ([`config`], [`runner`]) with their parameters ([`params`]) and
//!   argument templates ([`template`]), and the paths they may name ([`confined_path`]);
//! - how an attempt's end is judged ([`outcome`]);
//! - the API's requests and answers ([`api`]), shared by the server and the client.
//!
//! **The core knows nothing of I/O, HTTP, storage or WebAssembly**: no file, socket, process,
//! clock of its own beyond reading the time, database or runtime. It depends on no tokio,
//! redb, wasmtime, axum or HTTP client, so it builds in seconds and its rules are tested without
//! any of them. What needs the filesystem (does a program exist, does a path lead out of a
//! workdir through a symlink) lives in the engine.

pub mod api;
pub mod config;
pub mod confined_path;
pub mod executor;
pub mod job_id;
pub mod json_integer;
pub mod lifecycle;
pub mod model;
pub mod outcome;
pub mod params;
pub mod runner;
pub mod scheduler;
pub mod sweep;
pub mod template;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;

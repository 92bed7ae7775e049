//! The reef host: the HTTP API, the scheduler, the job store and the supervision of attempts.
//! See `ARCHITECTURE.md` at the repository root for the map.

pub mod api;
pub mod auth;
pub mod cli;
pub mod client;
pub mod config;
pub mod config_reference;
pub mod config_reload;
pub mod config_watch;
pub mod confined_path;
pub mod dir_watch;
pub mod engine;
pub mod http_server;
pub mod json_integer;
pub mod lifecycle;
pub mod metrics;
pub mod model;
pub mod outcome;
pub mod params;
pub mod policy;
pub mod runner;
pub mod scheduler;
pub mod server;
pub mod service;
pub mod service_manager;
pub mod store;
pub mod supervisor;
pub mod telemetry;
pub mod template;
pub mod time;
pub mod wait;

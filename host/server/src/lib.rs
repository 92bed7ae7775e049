//! `reef serve`: the HTTP API and everything a running host needs around the engine.
//!
//! - [`api`]: axum routing, authentication by scope, the thin handlers over the engine's
//!   `JobService` and the policy slots, RFC 9457 problems, the OpenAPI document;
//! - [`http_server`]: the accept loop with its bounds; [`auth`]: tokens and scopes;
//! - [`config_load`], [`config_reload`], [`config_watch`], [`config_reference`]: the config file
//!   read in layers, applied again on change, and documented;
//! - [`dir_watch`], [`policy_watch`]: watched directories; [`telemetry`]: logs and span export;
//!   [`service_manager`]: readiness to systemd; [`server`]: the wiring of all of it.
//!
//! **The server is the only crate that knows HTTP.** It holds no job rules of its own: those
//! are the core's and the engine's, and a handler only parses, calls and formats.

pub mod api;
pub mod auth;
pub mod config_load;
pub mod config_reference;
pub mod config_reload;
pub mod config_watch;
pub mod dir_watch;
pub mod http_server;
pub mod policy_watch;
pub mod server;
pub mod service_manager;
pub mod telemetry;

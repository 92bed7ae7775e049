//! The contract between the reef host and `reef-shim`.
//!
//! The host writes an [`AttemptSpec`] as JSON into the attempt directory and starts
//! `reef-shim --spec <path>`. The shim runs the runner described there and, when it is done,
//! atomically writes an [`ExitRecord`] to [`AttemptSpec::exit_record_path`]. Everything the host
//! needs to re-attach to or finish an attempt lives in files, so the shim does not depend on the
//! host staying alive.

pub mod procs;
pub mod protocol;

pub use protocol::{AttemptSpec, ExitRecord, ProtocolError, ShimIdentity};

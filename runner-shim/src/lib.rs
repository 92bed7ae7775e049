//! The contract between the reef host and `reef-shim`.
//!
//! The host writes an [`AttemptSpec`] as JSON into the attempt directory and starts
//! `reef-shim --spec <path>`. The shim runs the runner described there and, when it is done,
//! atomically writes an [`ExitRecord`] to [`AttemptSpec::exit_record_path`]. Everything the host
//! needs to re-attach to or finish an attempt lives in files, so the shim does not depend on the
//! host staying alive.
//!
//! [`procs`] is the one reader of `/proc` for the shim, the host and the tests.
//!
//! **The shim knows nothing of the host**: no database, policy, scheduler or HTTP. It runs from
//! its spec file alone and answers in files.

pub mod procs;
pub mod protocol;

pub use protocol::{AttemptSpec, ExitRecord, ProtocolError, ShimIdentity};

//! `reef-shim --spec <spec.json>`: supervises one runner attempt for the reef host.
//!
//! The host starts one shim per attempt in its own process group; the shim outlives the host if need
//! be. It reads the [`AttemptSpec`], becomes a child subreaper, runs the runner and writes an
//! [`ExitRecord`] atomically. This file only parses arguments and wires the modules together.

/// Writes a diagnostic line to stderr, ignoring failures: the host that owned our stderr may be
/// gone, and the shim must finish its work regardless.
#[macro_export]
macro_rules! diag {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod logs;
mod reap;
mod signals;
mod supervise;

use reef_shim::protocol::{AttemptSpec, ExitRecord, PROTOCOL_VERSION, ProtocolError};
use signals::Signals;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str =
    "usage: reef-shim --spec <path-to-spec.json>\n       reef-shim --version | --help";

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Args {
    Run(PathBuf),
    Help,
    Version,
}

fn parse_args(mut args: impl Iterator<Item = OsString>) -> Result<Args, String> {
    let first = args.next().ok_or("missing --spec")?;
    let parsed = match first.to_str() {
        Some("--help" | "-h") => Args::Help,
        Some("--version" | "-V") => Args::Version,
        Some("--spec") => Args::Run(args.next().ok_or("--spec needs a path")?.into()),
        Some(s) if s.starts_with("--spec=") => Args::Run(PathBuf::from(&s["--spec=".len()..])),
        _ => return Err(format!("unexpected argument {first:?}")),
    };
    match args.next() {
        Some(extra) => Err(format!("unexpected argument {extra:?}")),
        None => Ok(parsed),
    }
}

fn main() -> ExitCode {
    let spec_path = match parse_args(std::env::args_os().skip(1)) {
        Ok(Args::Run(path)) => path,
        Ok(Args::Help) => {
            let _ = writeln!(std::io::stdout(), "{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Args::Version) => {
            let version = env!("CARGO_PKG_VERSION");
            let _ = writeln!(
                std::io::stdout(),
                "reef-shim {version} (protocol {PROTOCOL_VERSION})"
            );
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            diag!("reef-shim: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Handlers first, so an early cancel or SIGHUP cannot kill the shim before it has written
    // its exit record.
    let signals = Signals::install();
    let spec = match AttemptSpec::read(&spec_path) {
        Ok(spec) => spec,
        Err(e) => return reject_spec(&spec_path, &e),
    };
    let signals = match signals {
        Ok(signals) => signals,
        Err(e) => {
            let message = format!("reef-shim: cannot install signal handlers: {e}");
            return finish(&spec, &supervise::spawn_failure(message));
        }
    };
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        let message = format!("reef-shim: cannot become a child subreaper: {e}");
        return finish(&spec, &supervise::spawn_failure(message));
    }
    let record = supervise::run(&spec, &signals);
    finish(&spec, &record)
}

/// Handles a spec that could not be used. If it parsed far enough to name an exit record path
/// (wrong version, empty argv), a record with a spawn error is written there; otherwise the
/// error only goes to stderr and the shim exits with 2.
fn reject_spec(spec_path: &Path, error: &ProtocolError) -> ExitCode {
    diag!("reef-shim: {error}");
    if !matches!(
        error,
        ProtocolError::Version { .. } | ProtocolError::EmptyArgv
    ) {
        return ExitCode::from(2);
    }
    let Some(record_path) = exit_record_path(spec_path) else {
        return ExitCode::from(2);
    };
    let record = supervise::spawn_failure(error.to_string());
    write_record(&record_path, &record)
}

/// The `exit_record_path` of a spec file that parses as JSON but not as a usable spec.
fn exit_record_path(spec_path: &Path) -> Option<PathBuf> {
    let bytes = std::fs::read(spec_path).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("exit_record_path")?.as_str().map(PathBuf::from)
}

fn finish(spec: &AttemptSpec, record: &ExitRecord) -> ExitCode {
    if let Some(error) = &record.spawn_error {
        diag!(
            "reef-shim: job {} attempt {}: {error}",
            spec.job_id,
            spec.attempt
        );
    }
    write_record(&spec.exit_record_path, record)
}

/// Writes the exit record; exit 0 when it is on disk, 1 when it could not be written.
fn write_record(path: &Path, record: &ExitRecord) -> ExitCode {
    match record.write(path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            diag!("reef-shim: cannot write exit record: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(OsString::from))
    }

    #[test]
    fn arguments() {
        assert_eq!(parse(&["--spec", "a.json"]), Ok(Args::Run("a.json".into())));
        assert_eq!(parse(&["--spec=b.json"]), Ok(Args::Run("b.json".into())));
        assert_eq!(parse(&["--version"]), Ok(Args::Version));
        assert_eq!(parse(&["--help"]), Ok(Args::Help));
        assert!(parse(&[]).is_err());
        assert!(parse(&["--spec"]).is_err());
        assert!(parse(&["--spec", "a", "b"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
    }
}

//! The `reef` command: `reef serve` runs the host; `reef policy ...` manages policies.

use clap::Parser;
mod cli;
mod client;

use cli::Cli;
use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !cli.is_serve() {
        // A report piped into `head` should end quietly, not panic on a closed pipe.
        // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
        let _ = unsafe {
            nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGPIPE,
                nix::sys::signal::SigHandler::SigDfl,
            )
        };
    }
    if !cli.is_serve() {
        // `reef serve` sets up its logs (and traces) from its config; the client commands log
        // warnings to stderr, filtered by REEF_LOG.
        let filter = tracing_subscriber::EnvFilter::try_from_env("REEF_LOG")
            .unwrap_or_else(|_| "warn".into());
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .init();
    }
    match cli.run() {
        Ok(0) => ExitCode::SUCCESS,
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        // A user's error is one line with its causes, never a backtrace (whatever
        // RUST_BACKTRACE says): `{:#}`, not the `{:?}` that returning it from main would print.
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

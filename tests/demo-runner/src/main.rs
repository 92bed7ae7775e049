//! `demo-runner`: a stand-in benchmark runner for reef's quick start and tests.
//!
//! It behaves like `reev-runner` (reads a benchmark YAML, prints progress, writes a session JSON
//! with a score) and can be told by the benchmark to misbehave in the ways a supervisor must
//! survive.
//!
//! ```text
//! demo-runner <benchmark.yml> --agent <name> --execution-id <id>
//! demo-runner <benchmark.yml> --agent=<name> --execution-id=<id>
//! ```
//!
//! On a normal run it prints `[demo-runner] ...` progress lines on stdout and writes
//! `logs/sessions/session_<id>.json` (relative to the working directory, directories created):
//!
//! ```json
//! {"execution_id": "<id>", "benchmark": "<benchmark id>", "agent": "<name>", "attempt": 1,
//!  "final_result": {"success": true, "score": 1.0}}
//! ```
//!
//! It exits 0 whenever it ran the benchmark, even if the benchmark failed (success is in
//! `final_result.success`), unless the benchmark asks for an exit code.
//!
//! # Benchmark fields (YAML; all optional except `id`; unknown fields are an error)
//!
//! | field               | default       | meaning                                                  |
//! |---------------------|---------------|----------------------------------------------------------|
//! | `id`                | (required)    | benchmark id, copied into the session file               |
//! | `description`       | none          | free text, printed in the header line                    |
//! | `steps`             | 3             | number of progress lines `step i/N`                      |
//! | `step_ms`           | 20            | sleep after each step, milliseconds                      |
//! | `gate`              | none          | after the steps, wait until this file exists (a test's cue to end the run) |
//! | `behavior`          | `succeed`     | see below                                                |
//! | `exit_code`         | per behavior  | exit code for `fail` (0), `exit` (1), failing `flaky` (1); 0..=255 |
//! | `fail_attempts`     | 1             | `flaky`: attempts 1..=fail_attempts fail                 |
//! | `child_sleep_s`     | 300           | `grandchildren`: how long each child sleeps              |
//! | `then`              | `exit`        | `grandchildren`: `exit` (0, at once) or `hang`           |
//! | `flood_bytes`       | 100000000     | `flood`: bytes written to stdout                         |
//! | `score`             | 1.0 / 0.0     | reported score (default 1.0 on success, 0.0 on failure)  |
//! | `write_result_path` | false         | also write the session JSON to `$REEF_RESULT_PATH` if set|
//! | `stderr_lines`      | 1             | lines printed to stderr at start (`starting <id>` first) |
//!
//! Behaviours (all print the header and progress steps first):
//! - `succeed`: session with success true; exit 0.
//! - `fail`: session with success false; exit `exit_code` (default 0).
//! - `exit`: no session file; exit `exit_code` (default 1).
//! - `flaky`: attempt (`$REEF_ATTEMPT`, default 1) <= `fail_attempts` behaves like `fail` but
//!   exits `exit_code` (default 1); later attempts succeed. `--agent flaky` turns a `succeed`
//!   benchmark into `flaky`; `--agent deterministic` (or any other agent) changes nothing.
//! - `hang`: sleeps forever; SIGTERM (default disposition) ends it.
//! - `ignore_sigterm`: ignores SIGTERM and prints `ignoring SIGTERM` before the progress steps,
//!   then sleeps forever; only SIGKILL ends it.
//! - `grandchildren`: spawns two copies of itself in the hidden mode `--sleep-child <secs>` (one
//!   ordinary child, one that calls `setsid()` before exec), both inheriting stdout/stderr and
//!   sleeping `child_sleep_s`; prints their pids; then with `then: exit` writes a successful
//!   session and exits 0 at once, with `then: hang` sleeps forever.
//! - `crash`: `abort()`, so the process dies of SIGABRT.
//! - `flood`: writes `flood_bytes` of printable text (128-byte lines) to stdout in 64 KiB chunks
//!   as fast as it can, then succeeds.
//!
//! # Environment
//! - `REEF_ATTEMPT`: attempt number (default 1).
//! - `REEF_RESULT_PATH`: second session copy, with `write_result_path: true`.
//! - `DEMO_MARKS`: if set, a file to which the runner appends `start <execution-id> <attempt>
//!   <pid> <unix_nanos>` after parsing its arguments and `end ...` right before every normal
//!   exit (one `O_APPEND` write per line), for concurrency overlap checks.
//!
//! # Errors
//! Bad arguments, an unreadable or invalid benchmark, an invalid `REEF_ATTEMPT`, or a failure to
//! write the session file or spawn children: a message on stderr naming the problem, exit 2.
//! Signals keep their default dispositions except with `ignore_sigterm`.

mod args;
mod behave;
mod benchmark;
mod session;

use std::process::ExitCode;

use args::{Command, RunArgs, USAGE};
use behave::Run;
use benchmark::Benchmark;

/// Exit code for every error the runner itself hits.
const ERROR_EXIT: u8 = 2;

fn main() -> ExitCode {
    match args::parse(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::SleepChild(secs)) => {
            behave::sleep_child(secs);
            ExitCode::SUCCESS
        }
        Ok(Command::Run(run_args)) => match run(&run_args) {
            Ok(code) => ExitCode::from(code),
            Err(message) => error(&message),
        },
        Err(message) => {
            eprintln!("{USAGE}");
            error(&message)
        }
    }
}

/// Runs one benchmark; returns the exit code of a normal exit.
fn run(args: &RunArgs) -> Result<u8, String> {
    let attempt = attempt_from_env()?;
    session::mark("start", &args.execution_id, attempt);

    let bench = Benchmark::load(&args.benchmark)?;
    for line in 1..=bench.stderr_lines {
        if line == 1 {
            eprintln!("[demo-runner] starting {}", bench.id);
        } else {
            eprintln!("[demo-runner] stderr line {line}/{}", bench.stderr_lines);
        }
    }

    let exit = Run {
        args,
        bench: &bench,
        attempt,
    }
    .execute()?;
    session::mark("end", &args.execution_id, attempt);
    Ok(exit.code)
}

/// `$REEF_ATTEMPT` as a number; 1 when unset or empty.
fn attempt_from_env() -> Result<u32, String> {
    match std::env::var("REEF_ATTEMPT") {
        Ok(value) if !value.trim().is_empty() => value
            .trim()
            .parse()
            .map_err(|_| format!("REEF_ATTEMPT must be a whole number, got {value:?}")),
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(1),
        Err(std::env::VarError::NotUnicode(_)) => Err("REEF_ATTEMPT is not valid UTF-8".into()),
    }
}

fn error(message: &str) -> ExitCode {
    eprintln!("demo-runner: error: {message}");
    ExitCode::from(ERROR_EXIT)
}

//! Runs one attempt from spawn to exit record: starts the runner, enforces its deadline and
//! cancellation, reaps it and everything it left behind, and gathers the numbers the host needs.
//!
//! The loop is event driven: it sleeps in [`Signals::wait`] until a child exits, a cancel signal
//! arrives or the next deadline (the timeout, or the end of the kill grace) is due.

use crate::logs::{Copier, LogStats};
use crate::reap::{self, RunnerStatus};
use crate::signals::Signals;
use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::signal::Signal;
use nix::sys::time::TimeVal;
use nix::unistd::Pid;
use reef_shim::protocol::{AttemptSpec, ExitRecord, PROTOCOL_VERSION};
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long the shim keeps killing leftovers before it gives up and reports.
const LEFTOVER_LIMIT: Duration = Duration::from_secs(5);
/// How long the shim waits for the log pipes to close once no descendant is left.
const LOG_DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// Why the shim stopped the runner; only the first cause counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    Timeout,
    Cancel,
}

/// Where the shim is in stopping the runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not asked to stop.
    Running,
    /// SIGTERM sent; SIGKILL follows at `kill_at` if the runner is still alive.
    Terminating { kill_at: Instant },
    /// SIGKILL sent; only the runner's exit is awaited.
    Killed,
}

/// Unix time now, in milliseconds.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The exit record of an attempt whose runner never started.
pub fn spawn_failure(message: String) -> ExitRecord {
    let now = unix_ms();
    ExitRecord {
        version: PROTOCOL_VERSION,
        spawn_error: Some(message),
        started_at_ms: now,
        ended_at_ms: now,
        ..ExitRecord::default()
    }
}

/// Runs the attempt described by `spec` to the end and returns its exit record.
pub fn run(spec: &AttemptSpec, signals: &Signals) -> ExitRecord {
    let Some((program, args)) = spec.argv.split_first() else {
        return spawn_failure("attempt spec has an empty argv".to_owned());
    };
    match std::fs::metadata(&spec.workdir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return spawn_failure(format!(
                "workdir {}: not a directory",
                spec.workdir.display()
            ));
        }
        Err(e) => return spawn_failure(format!("workdir {}: {e}", spec.workdir.display())),
    }
    let open_log = |path: &std::path::Path| {
        File::create(path).map_err(|e| spawn_failure(format!("{}: {e}", path.display())))
    };
    let stdout_log = match open_log(&spec.stdout_path) {
        Ok(file) => file,
        Err(record) => return record,
    };
    let stderr_log = match open_log(&spec.stderr_path) {
        Ok(file) => file,
        Err(record) => return record,
    };

    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(&spec.env)
        .current_dir(&spec.workdir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let started_at_ms = unix_ms();
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return spawn_failure(format!("{program}: {e}")),
    };
    let started = Instant::now();
    let runner = Pid::from_raw(i32::try_from(child.id()).expect("a pid fits in pid_t"));
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    // The shim reaps with waitpid itself; dropping the handle neither waits nor kills.
    drop(child);
    let cap = spec.log_cap_bytes;
    let stdout_copier = start_copier("stdout", stdout, stdout_log, cap);
    let stderr_copier = start_copier("stderr", stderr, stderr_log, cap);

    let mut supervisor = Supervisor {
        runner,
        signals,
        deadline: spec
            .timeout_ms
            .map(|ms| started + Duration::from_millis(ms)),
        grace: Duration::from_millis(spec.kill_grace_ms),
        cause: None,
        phase: Phase::Running,
    };
    let status = supervisor.wait_for_runner();
    let leftovers_killed =
        reap::kill_leftovers(runner, LEFTOVER_LIMIT, |pause| signals.wait(Some(pause)));

    let drain_by = Instant::now() + LOG_DRAIN_LIMIT;
    let out = stdout_copier.map_or_else(LogStats::default, |c| c.finish(drain_by));
    let err = stderr_copier.map_or_else(LogStats::default, |c| c.finish(drain_by));
    let (peak_rss_kib, cpu_ms) = children_usage();
    ExitRecord {
        version: PROTOCOL_VERSION,
        exit_code: match status {
            Some(RunnerStatus::Exited(code)) => Some(code),
            _ => None,
        },
        signal: match status {
            Some(RunnerStatus::Signaled(signal)) => Some(signal),
            _ => None,
        },
        timed_out: supervisor.cause == Some(Cause::Timeout),
        cancelled: supervisor.cause == Some(Cause::Cancel),
        spawn_error: None,
        started_at_ms,
        ended_at_ms: unix_ms(),
        peak_rss_kib,
        cpu_ms,
        stdout_bytes: out.bytes,
        stderr_bytes: err.bytes,
        log_truncated: out.truncated || err.truncated,
        leftovers_killed,
    }
}

/// Starts a log copier; if no thread can be started the pipe is dropped (the runner then gets
/// EPIPE on that stream) rather than left to fill up.
fn start_copier(
    stream: &str,
    source: impl std::io::Read + Send + 'static,
    sink: File,
    cap: u64,
) -> Option<Copier> {
    Copier::start(stream, source, sink, cap)
        .inspect_err(|e| crate::diag!("reef-shim: cannot start {stream} copier: {e}"))
        .ok()
}

/// Peak RSS (KiB) and CPU time (ms) of all reaped descendants.
fn children_usage() -> (u64, u64) {
    let Ok(usage) = getrusage(UsageWho::RUSAGE_CHILDREN) else {
        return (0, 0);
    };
    let ms = |t: TimeVal| u64::try_from(t.tv_sec() * 1000 + t.tv_usec() / 1000).unwrap_or(0);
    (
        u64::try_from(usage.max_rss()).unwrap_or(0),
        ms(usage.user_time()) + ms(usage.system_time()),
    )
}

/// State of the wait for the runner: its deadline, and whether and why it is being stopped.
struct Supervisor<'a> {
    runner: Pid,
    signals: &'a Signals,
    deadline: Option<Instant>,
    grace: Duration,
    cause: Option<Cause>,
    phase: Phase,
}

impl Supervisor<'_> {
    /// Waits until the runner has been reaped, stopping it on timeout or cancel. `None` if it
    /// vanished without a status (someone else reaped it, which should not happen).
    fn wait_for_runner(&mut self) -> Option<RunnerStatus> {
        loop {
            let reaped = reap::reap_ready(self.runner);
            if let Some(status) = reaped.runner {
                return Some(status);
            }
            if reaped.none_left {
                crate::diag!(
                    "reef-shim: runner {} vanished without a status",
                    self.runner
                );
                return None;
            }
            let now = Instant::now();
            self.act(now);
            let wake_at = match self.phase {
                Phase::Running => self.deadline,
                Phase::Terminating { kill_at } => Some(kill_at),
                Phase::Killed => None,
            };
            self.signals
                .wait(wake_at.map(|t| t.saturating_duration_since(now)));
        }
    }

    /// Starts stopping the runner on the first cancel or timeout, and escalates to SIGKILL
    /// once the grace is over. The runner is not reaped yet, so its group id is still its own.
    fn act(&mut self, now: Instant) {
        if self.cause.is_none() {
            self.cause = if self.signals.cancel_requested() {
                Some(Cause::Cancel)
            } else if self.deadline.is_some_and(|deadline| now >= deadline) {
                Some(Cause::Timeout)
            } else {
                None
            };
            if self.cause.is_some() {
                reap::signal_all(self.runner, Signal::SIGTERM);
                self.phase = Phase::Terminating {
                    kill_at: now + self.grace,
                };
            }
        }
        if let Phase::Terminating { kill_at } = self.phase
            && now >= kill_at
        {
            reap::signal_all(self.runner, Signal::SIGKILL);
            self.phase = Phase::Killed;
        }
    }
}

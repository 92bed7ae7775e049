//! The behaviours a benchmark can ask for: progress steps, then succeed, fail, exit, hang,
//! ignore SIGTERM, spawn grandchildren, crash or flood stdout.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::thread;
use std::time::Duration;

use nix::sys::signal::{SigHandler, Signal, signal};

use crate::args::RunArgs;
use crate::benchmark::{Behavior, Benchmark, Then};
use crate::session::{self, FinalResult, Session};

/// Size of one `flood` write.
const FLOOD_CHUNK: usize = 64 * 1024;

/// Everything a run needs to know.
pub struct Run<'a> {
    /// The command line.
    pub args: &'a RunArgs,
    /// The benchmark file.
    pub bench: &'a Benchmark,
    /// Attempt number from `REEF_ATTEMPT`.
    pub attempt: u32,
}

/// How a run that returns wants the process to end.
#[derive(Debug, PartialEq, Eq)]
pub struct Exit {
    /// Process exit code.
    pub code: u8,
}

/// Prints one progress line on stdout. Errors are ignored: a runner whose output is gone keeps
/// running, like a real one that only logs.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "[demo-runner] {line}");
    let _ = out.flush();
}

impl Run<'_> {
    /// The behaviour to act out: `--agent flaky` turns a `succeed` benchmark flaky.
    pub fn behavior(&self) -> Behavior {
        match self.bench.behavior {
            Behavior::Succeed if self.args.agent == "flaky" => Behavior::Flaky,
            other => other,
        }
    }

    /// Acts out the benchmark. Returns only for behaviours that exit normally; `hang`,
    /// `ignore_sigterm` and `grandchildren` with `then: hang` sleep until killed, and `crash`
    /// aborts.
    pub fn execute(&self) -> Result<Exit, String> {
        let behavior = self.behavior();
        if behavior == Behavior::IgnoreSigterm {
            // SAFETY: installing SIG_IGN runs no handler code, so nothing can race with it.
            unsafe { signal(Signal::SIGTERM, SigHandler::SigIgn) }
                .map_err(|e| format!("cannot ignore SIGTERM: {e}"))?;
            say("ignoring SIGTERM");
        }
        self.progress(behavior);

        let bench = self.bench;
        match behavior {
            Behavior::Succeed => self.finish(true, 0),
            Behavior::Fail => self.finish(false, bench.exit_code.unwrap_or(0)),
            Behavior::Exit => {
                let code = bench.exit_code.unwrap_or(1);
                say(&format!("exiting with code {code} (no session file)"));
                Ok(exit(code))
            }
            Behavior::Flaky if self.attempt <= bench.fail_attempts => {
                say(&format!(
                    "flaky: attempt {} fails (fails through attempt {})",
                    self.attempt, bench.fail_attempts
                ));
                self.finish(false, bench.exit_code.unwrap_or(1))
            }
            Behavior::Flaky => self.finish(true, 0),
            Behavior::Hang | Behavior::IgnoreSigterm => {
                say("hanging");
                sleep_forever()
            }
            Behavior::Grandchildren => self.grandchildren(),
            Behavior::Crash => {
                say("crashing (abort)");
                std::process::abort()
            }
            Behavior::Flood => {
                flood(bench.flood_bytes)?;
                self.finish(true, 0)
            }
        }
    }

    /// Prints a header and `steps` progress lines, sleeping `step_ms` after each.
    fn progress(&self, behavior: Behavior) {
        let (bench, args) = (self.bench, self.args);
        let about = bench.description.as_deref().unwrap_or("no description");
        say(&format!(
            "benchmark {} ({about}) agent={} execution_id={} attempt={} behavior={behavior}",
            bench.id, args.agent, args.execution_id, self.attempt
        ));
        for step in 1..=bench.steps {
            say(&format!("step {step}/{} running {}", bench.steps, bench.id));
            thread::sleep(Duration::from_millis(bench.step_ms));
        }
        if let Some(gate) = &bench.gate {
            say(&format!("waiting for {}", gate.display()));
            while !gate.exists() {
                thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Writes the session file (and `$REEF_RESULT_PATH` when asked) and returns `code`.
    fn finish(&self, success: bool, code: i32) -> Result<Exit, String> {
        let score = self.bench.score_for(success);
        let result_path = if self.bench.write_result_path {
            std::env::var_os("REEF_RESULT_PATH").filter(|p| !p.is_empty())
        } else {
            None
        };
        let session = Session {
            execution_id: &self.args.execution_id,
            benchmark: &self.bench.id,
            agent: &self.args.agent,
            attempt: self.attempt,
            final_result: FinalResult { success, score },
        };
        session::write(&session, result_path.as_deref().map(std::path::Path::new))?;
        say(&format!(
            "done success={success} score={score} session={}",
            session::session_path(&self.args.execution_id).display()
        ));
        Ok(exit(code))
    }

    /// Spawns an ordinary child and a `setsid` child, both sleeping `child_sleep_s`, with
    /// stdout and stderr inherited; then exits 0 (writing a successful session) or hangs.
    fn grandchildren(&self) -> Result<Exit, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?;
        let secs = self.bench.child_sleep_s.to_string();

        let child = Command::new(&exe)
            .args(["--sleep-child", &secs])
            .spawn()
            .map_err(|e| format!("cannot spawn child: {e}"))?;
        say(&format!("spawned child pid {}", child.id()));

        let mut detached = Command::new(&exe);
        detached.args(["--sleep-child", &secs]);
        // SAFETY: the hook only calls setsid(2), which is async-signal-safe.
        unsafe {
            detached.pre_exec(|| {
                nix::unistd::setsid()
                    .map(drop)
                    .map_err(std::io::Error::from)
            });
        }
        let detached = detached
            .spawn()
            .map_err(|e| format!("cannot spawn detached child: {e}"))?;
        say(&format!(
            "spawned detached child pid {} (setsid)",
            detached.id()
        ));

        // Dropping a `Child` neither waits for nor kills it: both outlive us if we exit.
        match self.bench.then {
            Then::Exit => self.finish(true, 0),
            Then::Hang => {
                say("hanging with children");
                sleep_forever()
            }
        }
    }
}

/// Hidden `--sleep-child` mode: sleep, then exit 0.
pub fn sleep_child(secs: u64) {
    say(&format!(
        "child pid {} sleeping {secs}s",
        std::process::id()
    ));
    thread::sleep(Duration::from_secs(secs));
}

/// Writes `total` bytes of printable text (128-byte lines) to stdout in 64 KiB chunks.
fn flood(total: u64) -> Result<(), String> {
    say(&format!("flooding stdout with {total} bytes"));
    let chunk: Vec<u8> = (0..FLOOD_CHUNK)
        .map(|i| match i % 128 {
            127 => b'\n',
            col => b'a' + (col % 26) as u8,
        })
        .collect();
    let mut out = std::io::stdout().lock();
    let mut left = total;
    while left > 0 {
        let n = usize::try_from(left).map_or(FLOOD_CHUNK, |l| l.min(FLOOD_CHUNK));
        out.write_all(&chunk[..n])
            .map_err(|e| format!("flood: writing stdout failed: {e}"))?;
        left -= n as u64;
    }
    // End the last partial line so later progress lines start on their own.
    let tail: &[u8] = if total.is_multiple_of(128) {
        b""
    } else {
        b"\n"
    };
    out.write_all(tail)
        .and_then(|()| out.flush())
        .map_err(|e| format!("flood: writing stdout failed: {e}"))
}

fn exit(code: i32) -> Exit {
    // Benchmark validation keeps exit codes within 0..=255.
    Exit {
        code: u8::try_from(code).unwrap_or(2),
    }
}

fn sleep_forever() -> ! {
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}

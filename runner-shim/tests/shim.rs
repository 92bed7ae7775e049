//! Runs the built `reef-shim` binary against small `/bin/sh` runners and checks the exit
//! records it writes. Every runner carries a unique marker variable in its environment, so a
//! test can prove (by scanning `/proc`) that nothing it started survives, and clean up if not.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use reef_shim::protocol::{AttemptSpec, ExitRecord, PROTOCOL_VERSION};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const MARKER_VAR: &str = "REEF_SHIM_TEST_MARKER";
const SHIM: &str = env!("CARGO_BIN_EXE_reef-shim");

/// One attempt of a test: its directory, spec and marker; kills leftovers when dropped.
struct Attempt {
    dir: tempfile::TempDir,
    spec: AttemptSpec,
    marker: String,
    shim: Option<Child>,
}

/// Result of one shim run.
struct Finished {
    status: ExitStatus,
    elapsed: Duration,
    record: Option<ExitRecord>,
}

impl Attempt {
    /// An attempt running `/bin/sh -c script`.
    fn sh(script: &str) -> Self {
        Self::argv(&["/bin/sh", "-c", script])
    }

    fn argv(argv: &[&str]) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = tempfile::tempdir().expect("tempdir");
        let marker = format!(
            "{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let env = BTreeMap::from([
            ("PATH".to_owned(), "/usr/bin:/bin".to_owned()),
            (MARKER_VAR.to_owned(), marker.clone()),
        ]);
        let spec = AttemptSpec {
            version: PROTOCOL_VERSION,
            job_id: "job-test".to_owned(),
            attempt: 1,
            argv: argv.iter().map(|s| s.to_string()).collect(),
            env,
            workdir: dir.path().to_owned(),
            timeout_ms: None,
            kill_grace_ms: 2_000,
            stdout_path: dir.path().join("stdout.log"),
            stderr_path: dir.path().join("stderr.log"),
            log_cap_bytes: 1 << 20,
            exit_record_path: dir.path().join("exit.json"),
        };
        Self {
            dir,
            spec,
            marker,
            shim: None,
        }
    }

    fn spec_path(&self) -> PathBuf {
        self.dir.path().join("spec.json")
    }

    /// Writes the spec and starts the shim (in its own process group, like the host does).
    fn start(&mut self) {
        self.spec.write(&self.spec_path()).expect("write spec");
        self.start_with(Command::new(SHIM).arg("--spec").arg(self.spec_path()));
    }

    fn start_with(&mut self, command: &mut Command) {
        use std::os::unix::process::CommandExt;
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn reef-shim");
        self.shim = Some(child);
    }

    fn shim_pid(&self) -> Pid {
        let child = self.shim.as_ref().expect("shim started");
        Pid::from_raw(i32::try_from(child.id()).expect("pid"))
    }

    /// Waits (up to 30 s) for the shim to exit and reads its exit record.
    fn wait(&mut self, started: Instant) -> Finished {
        let child = self.shim.as_mut().expect("shim started");
        let status = wait_until(Duration::from_secs(30), || {
            child.try_wait().expect("try_wait")
        })
        .expect("reef-shim did not exit within 30 s");
        let elapsed = started.elapsed();
        self.shim = None;
        let record = ExitRecord::read(&self.spec.exit_record_path).expect("read exit record");
        Finished {
            status,
            elapsed,
            record,
        }
    }

    /// Runs the shim to the end; asserts it exited 0 and wrote a record.
    fn run(&mut self) -> (ExitRecord, Duration) {
        let started = Instant::now();
        self.start();
        let finished = self.wait(started);
        assert!(
            finished.status.success(),
            "shim failed: {:?}",
            finished.status
        );
        let record = finished.record.expect("exit record written");
        assert_eq!(record.version, PROTOCOL_VERSION);
        (record, finished.elapsed)
    }

    fn stdout_log(&self) -> Vec<u8> {
        std::fs::read(&self.spec.stdout_path).expect("read stdout log")
    }

    /// Processes (other than zombies) whose environment carries this attempt's marker.
    fn marked_processes(&self) -> Vec<i32> {
        reef_shim::procs::with_env(&[(MARKER_VAR, &self.marker)])
            .into_iter()
            .map(|p| p.pid)
            .collect()
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if let Some(mut child) = self.shim.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        for pid in self.marked_processes() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// Calls `check` every few milliseconds until it returns `Some` or `limit` passes.
fn wait_until<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn exit_code_is_recorded() {
    let mut attempt = Attempt::sh("exit 3");
    let (record, _) = attempt.run();
    assert_eq!(record.exit_code, Some(3));
    assert_eq!(record.signal, None);
    assert!(!record.timed_out && !record.cancelled);
    assert_eq!(record.spawn_error, None);
    assert!(record.started_at_ms <= record.ended_at_ms);
}

#[test]
fn success_logs_stdout_and_stderr() {
    let mut attempt = Attempt::sh("echo hello; echo oops >&2");
    let (record, _) = attempt.run();
    assert_eq!(record.exit_code, Some(0));
    assert_eq!(attempt.stdout_log(), b"hello\n");
    let stderr = std::fs::read(&attempt.spec.stderr_path).expect("read stderr log");
    assert_eq!(stderr, b"oops\n");
    assert_eq!((record.stdout_bytes, record.stderr_bytes), (6, 5));
    assert!(!record.log_truncated);
    assert_eq!(record.leftovers_killed, 0);
}

#[test]
fn trivial_runner_is_reaped_quickly() {
    let mut attempt = Attempt::argv(&["/bin/true"]);
    let (record, elapsed) = attempt.run();
    assert_eq!(record.exit_code, Some(0));
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
}

#[test]
fn environment_is_exactly_the_spec_env() {
    let mut attempt = Attempt::sh(r#"echo "secret=${REEF_TEST_SECRET-unset} spec=$SPEC_VAR""#);
    attempt
        .spec
        .env
        .insert("SPEC_VAR".to_owned(), "from-spec".to_owned());
    attempt
        .spec
        .write(&attempt.spec_path())
        .expect("write spec");
    let started = Instant::now();
    attempt.start_with(
        Command::new(SHIM)
            .arg("--spec")
            .arg(attempt.spec_path())
            .env("REEF_TEST_SECRET", "s3cret"),
    );
    let finished = attempt.wait(started);
    assert!(finished.status.success());
    assert_eq!(finished.record.expect("record").exit_code, Some(0));
    assert_eq!(attempt.stdout_log(), b"secret=unset spec=from-spec\n");
}

#[test]
fn workdir_is_the_spec_workdir() {
    let mut attempt = Attempt::argv(&["/bin/pwd"]);
    let sub = attempt.dir.path().join("work");
    std::fs::create_dir(&sub).expect("mkdir");
    attempt.spec.workdir = sub.clone();
    attempt.run();
    let expected = format!("{}\n", sub.display());
    assert_eq!(attempt.stdout_log(), expected.as_bytes());
}

#[test]
fn timeout_terminates_the_runner() {
    let mut attempt = Attempt::argv(&["/bin/sleep", "30"]);
    attempt.spec.timeout_ms = Some(300);
    let (record, elapsed) = attempt.run();
    assert!(record.timed_out);
    assert!(!record.cancelled);
    assert_eq!(record.signal, Some(15));
    assert_eq!(record.exit_code, None);
    assert!(elapsed >= Duration::from_millis(300), "took {elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    assert!(attempt.marked_processes().is_empty());
}

#[test]
fn runner_ignoring_sigterm_is_killed_after_the_grace() {
    let mut attempt = Attempt::sh("trap '' TERM; sleep 30");
    attempt.spec.timeout_ms = Some(200);
    attempt.spec.kill_grace_ms = 300;
    let (record, elapsed) = attempt.run();
    assert!(record.timed_out);
    assert_eq!(record.signal, Some(9));
    assert!(elapsed >= Duration::from_millis(500), "took {elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    assert!(attempt.marked_processes().is_empty());
}

#[test]
fn escaped_grandchild_is_killed() {
    let mut attempt = Attempt::sh("setsid sleep 300 & exit 0");
    let (record, elapsed) = attempt.run();
    assert_eq!(record.exit_code, Some(0));
    assert!(record.leftovers_killed >= 1, "{record:?}");
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    let left = attempt.marked_processes();
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

#[test]
fn escaped_grandchild_is_stopped_on_timeout() {
    // The grandchild ignores SIGTERM and left the runner's group; the runner waits for it.
    let mut attempt = Attempt::sh("setsid sh -c \"trap '' TERM; sleep 300\" & wait");
    attempt.spec.timeout_ms = Some(200);
    attempt.spec.kill_grace_ms = 200;
    let (record, elapsed) = attempt.run();
    assert!(record.timed_out);
    assert_eq!(record.signal, Some(15));
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    let left = attempt.marked_processes();
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

#[test]
fn sigterm_to_the_shim_cancels() {
    let mut attempt = Attempt::sh("echo started; exec sleep 30");
    let started = Instant::now();
    attempt.start();
    let running = wait_until(Duration::from_secs(10), || {
        let log = std::fs::read(&attempt.spec.stdout_path).ok()?;
        log.starts_with(b"started").then_some(())
    });
    assert!(running.is_some(), "runner did not start");
    kill(attempt.shim_pid(), Signal::SIGTERM).expect("signal shim");
    let finished = attempt.wait(started);
    assert!(finished.status.success());
    let record = finished.record.expect("record");
    assert!(record.cancelled);
    assert!(!record.timed_out);
    assert_eq!(record.signal, Some(15));
    assert!(finished.elapsed < Duration::from_secs(5));
    assert!(attempt.marked_processes().is_empty());
}

#[test]
fn log_is_capped_but_all_bytes_counted() {
    let mut attempt = Attempt::sh("head -c 20000000 /dev/zero; echo done >&2");
    attempt.spec.log_cap_bytes = 1 << 20;
    let (record, _) = attempt.run();
    assert_eq!(record.exit_code, Some(0));
    assert_eq!(record.stdout_bytes, 20_000_000);
    assert!(record.log_truncated);
    let marker = "[reef-shim: log truncated after 1048576 bytes; further output discarded]";
    let log = attempt.stdout_log();
    assert!(
        log.len() <= (1 << 20) + marker.len() + 2,
        "log is {} bytes",
        log.len()
    );
    assert!(log.ends_with(format!("{marker}\n").as_bytes()));
    assert_eq!(record.stderr_bytes, 5);
}

#[test]
fn missing_program_is_a_spawn_error() {
    let mut attempt = Attempt::argv(&["/nonexistent", "arg"]);
    let (record, _) = attempt.run();
    let error = record.spawn_error.expect("spawn_error set");
    assert!(error.starts_with("/nonexistent: "), "{error}");
    assert_eq!((record.exit_code, record.signal), (None, None));
}

#[test]
fn missing_workdir_is_a_spawn_error() {
    let mut attempt = Attempt::argv(&["/bin/true"]);
    attempt.spec.workdir = attempt.dir.path().join("missing");
    let (record, _) = attempt.run();
    let error = record.spawn_error.expect("spawn_error set");
    assert!(error.starts_with("workdir "), "{error}");
}

#[test]
fn spec_with_wrong_version_gets_a_record() {
    let mut attempt = Attempt::argv(&["/bin/true"]);
    attempt.spec.version = PROTOCOL_VERSION + 1;
    let (record, _) = attempt.run();
    let error = record.spawn_error.expect("spawn_error set");
    assert!(error.contains("protocol version"), "{error}");
}

#[test]
fn unreadable_spec_exits_2() {
    let mut attempt = Attempt::argv(&["/bin/true"]);
    let missing: &Path = &attempt.dir.path().join("no-such-spec.json");
    let started = Instant::now();
    attempt.start_with(Command::new(SHIM).arg("--spec").arg(missing));
    let finished = attempt.wait(started);
    assert_eq!(finished.status.code(), Some(2));
    assert!(finished.record.is_none());
}

//! Harness for the black-box tests: starts the real `reef` binary on loopback with a config of
//! the test's own, talks to it over HTTP, and inspects processes and files.
//!
//! Every helper that waits does so on a condition with a deadline, never on a fixed sleep.

pub mod bench;
pub mod openapi;
pub mod otlp;
pub mod slurm;

use reef_shim::procs;
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Directory holding the workspace's built binaries (`target/<profile>`), found from the test
/// executable's own location (`target/<profile>/deps/<test>`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    let dir = if deps.ends_with("deps") {
        deps.parent().expect("profile dir")
    } else {
        deps
    };
    dir.to_owned()
}

/// Path of a workspace binary; panics with a hint when it was not built.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` first",
        path.display()
    );
    path
}

/// Absolute path of a sample benchmark shipped in `tests/fixtures/benchmarks`.
pub fn benchmark(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/benchmarks")
        .join(name);
    std::fs::canonicalize(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_string_lossy()
        .into_owned()
}

/// Path of a policy component built by `scripts/build-plugins.sh` (e.g. `reef_policy_backoff`).
pub fn plugin(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../plugins/target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-plugins.sh first",
        path.display()
    );
    path
}

/// Polls `check` until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Pids of live (not zombie) processes whose environment contains `KEY=value`.
pub fn processes_with_env(key: &str, value: &str) -> Vec<u32> {
    live_pids(procs::with_env(&[(key, value)]))
}

fn live_pids(found: Vec<procs::ProcessStat>) -> Vec<u32> {
    found
        .into_iter()
        .filter(|p| !p.zombie)
        .map(|p| p.pid.unsigned_abs())
        .collect()
}

/// Resident set size of a process in KiB (0 when it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    i32::try_from(pid)
        .ok()
        .and_then(procs::rss_kib)
        .unwrap_or(0)
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: String,
    /// Raw body.
    pub text: String,
    /// `Location`, when the answer has one.
    pub location: Option<String>,
}

impl Answer {
    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// Asserts an RFC 9457 problem with `status` whose detail contains `needle`.
    pub fn assert_problem(&self, status: u16, needle: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.content_type, "application/problem+json",
            "{}",
            self.text
        );
        let body = self.json();
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(needle),
            "detail {detail:?} should mention {needle:?}"
        );
        assert_eq!(body["status"], status);
    }
}

/// A running `reef serve` with its own data dir, work dir and config.
pub struct Reef {
    child: Option<Child>,
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    /// Temporary directory holding `reef.toml`, `data/`, `work/` and `reef.log`.
    pub dir: tempfile::TempDir,
    agent: ureq::Agent,
    /// Bearer token sent with every request, if set.
    pub token: Option<String>,
}

impl Reef {
    /// Writes `config` (TOML; `@BIN@`, `@WORK@`, `@BENCH@` are replaced by the binaries
    /// directory, the work directory and the fixtures directory) and starts reef on a free
    /// loopback port.
    pub fn start(config: &str) -> Reef {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir, config, &[])
    }

    /// Like [`Reef::start`] in an existing directory (to restart on the same state), with extra
    /// environment variables (an empty value removes one).
    pub fn start_in(dir: tempfile::TempDir, config: &str, env: &[(&str, &str)]) -> Reef {
        match Self::try_start_in(dir, config, env, "127.0.0.1:0") {
            Ok(reef) => reef,
            Err(log) => panic!("reef did not start:\n{log}"),
        }
    }

    /// Starts reef and returns its log when it exits instead of serving.
    pub fn try_start_in(
        dir: tempfile::TempDir,
        config: &str,
        env: &[(&str, &str)],
        listen: &str,
    ) -> Result<Reef, String> {
        Self::try_start_with(dir, config, env, listen, &[])
    }

    /// Like [`Reef::try_start_in`] with extra `reef serve` arguments (e.g. `--drain 10s`).
    pub fn try_start_with(
        dir: tempfile::TempDir,
        config: &str,
        env: &[(&str, &str)],
        listen: &str,
        args: &[&str],
    ) -> Result<Reef, String> {
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).expect("work dir");
        let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/benchmarks");
        let config = config
            .replace("@BIN@", &bin_dir().to_string_lossy())
            .replace("@WORK@", &work.to_string_lossy())
            .replace("@BENCH@", &bench.to_string_lossy());
        let config_path = dir.path().join("reef.toml");
        std::fs::write(&config_path, config).expect("write config");
        Self::launch(dir, &config_path, env, listen, args)
    }

    /// Starts reef on a config file of its own (relative paths in it resolve against its
    /// directory), with state in `dir`.
    pub fn start_file(dir: tempfile::TempDir, config_path: &Path, env: &[(&str, &str)]) -> Reef {
        match Self::launch(dir, config_path, env, "127.0.0.1:0", &[]) {
            Ok(reef) => reef,
            Err(log) => panic!("reef did not start:\n{log}"),
        }
    }

    fn launch(
        dir: tempfile::TempDir,
        config_path: &Path,
        env: &[(&str, &str)],
        listen: &str,
        args: &[&str],
    ) -> Result<Reef, String> {
        let log_path = dir.path().join("reef.log");
        // A restart appends to the same log; only lines after this point count.
        let log_start = std::fs::metadata(&log_path)
            .map(|m| m.len() as usize)
            .unwrap_or(0);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("log");
        let mut command = Command::new(bin("reef"));
        command.arg("serve").arg("--config").arg(config_path);
        // An empty `listen` leaves the address to the config file.
        if !listen.is_empty() {
            command.arg("--listen").arg(listen);
        }
        command
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(args)
            .env("REEF_LOG", "info,reef=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        for (k, v) in env {
            // An empty value removes the variable (e.g. `REEF_LOG`, set by default).
            if v.is_empty() {
                command.env_remove(k);
            } else {
                command.env(k, v);
            }
        }
        let mut child = command.spawn().expect("spawn reef");
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = loop {
            let whole = std::fs::read_to_string(&log_path).unwrap_or_default();
            let text = whole.get(log_start..).unwrap_or_default().to_owned();
            let serving = text.lines().rev().find(|l| l.contains("reef is serving"));
            if let Some(addr) =
                serving.and_then(|l| l.split("listen=").nth(1)?.split_whitespace().next())
            {
                break addr.to_owned();
            }
            if let Ok(Some(_)) = child.try_wait() {
                return Err(text);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no 'reef is serving' line within 20 s\n{text}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .new_agent();
        // A host serving every address is reached over loopback.
        let addr = addr.replace("0.0.0.0:", "127.0.0.1:");
        Ok(Reef {
            child: Some(child),
            url: format!("http://{addr}"),
            dir,
            agent,
            token: None,
        })
    }

    /// Pid of the reef process.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// The work directory runners run in.
    pub fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// reef's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("reef.log")).unwrap_or_default()
    }

    /// Sends a request; `body` is sent as-is with a JSON content type when given.
    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> Answer {
        self.send(
            method,
            path,
            body.map(|b| (b.as_bytes().to_vec(), "application/json")),
            &[],
        )
    }

    /// `POST path` with a JSON body and extra headers.
    pub fn post_with(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Answer {
        let body = (body.to_string().into_bytes(), "application/json");
        self.send("POST", path, Some(body), headers)
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Answer {
        self.request("GET", path, None)
    }

    /// `GET path` with extra headers.
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.send("GET", path, None, headers)
    }

    /// The value of a series of `/metrics`, named with its labels exactly as exposed (e.g.
    /// `reef_http_connections` or `reef_config_reloads_total{result="failure"}`).
    pub fn metric(&self, series: &str) -> Option<f64> {
        let prefix = format!("{series} ");
        self.get("/metrics")
            .text
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse().ok())
    }

    /// The first page of `GET /v1/jobs`.
    pub fn jobs(&self) -> Vec<Value> {
        let page = self.get("/v1/jobs").json();
        page["jobs"].as_array().cloned().unwrap_or_default()
    }

    /// Path of the state database.
    pub fn database(&self) -> PathBuf {
        self.dir.path().join("data").join("reef.redb")
    }

    /// `PUT path` with raw bytes (e.g. a policy component).
    pub fn put_bytes(&self, path: &str, bytes: &[u8]) -> Answer {
        self.send("PUT", path, Some((bytes.to_vec(), "application/wasm")), &[])
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<(Vec<u8>, &str)>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let url = format!("{}{}", self.url, path);
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        if let Some(token) = &self.token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let (bytes, content_type) = body.unwrap_or_default();
        if !content_type.is_empty() {
            builder = builder.header("content-type", content_type);
        }
        let request = builder.body(bytes).expect("request");
        let mut result = self.agent.run(request.clone());
        if result.is_err() && method == "GET" {
            // A server that refused an earlier request before reading its body closes that
            // pooled connection; an idempotent request may simply go again.
            result = self.agent.run(request);
        }
        let mut response =
            result.unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.log()));
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut text = String::new();
        response
            .body_mut()
            .as_reader()
            .read_to_string(&mut text)
            .expect("read body");
        Answer {
            status,
            content_type,
            text,
            location,
        }
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Answer {
        self.request("POST", path, Some(&body.to_string()))
    }

    /// Submits a job and returns its id (asserting 201).
    pub fn submit(&self, runner: &str, params: Value) -> String {
        let answer = self.post(
            "/v1/jobs",
            &serde_json::json!({"runner": runner, "params": params}),
        );
        assert_eq!(answer.status, 201, "{}", answer.text);
        answer.json()["id"].as_str().expect("id").to_owned()
    }

    /// The job as `GET /v1/jobs/{id}` shows it.
    pub fn job(&self, id: &str) -> Value {
        let answer = self.get(&format!("/v1/jobs/{id}"));
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json()
    }

    /// Waits until the job is in `state`.
    pub fn wait_state(&self, id: &str, state: &str, timeout: Duration) -> Value {
        wait_for(&format!("job {id} to be {state}"), timeout, || {
            let job = self.job(id);
            (job["state"] == state).then_some(job)
        })
    }

    /// Waits until the job is terminal.
    pub fn wait_done(&self, id: &str, timeout: Duration) -> Value {
        wait_for(&format!("job {id} to finish"), timeout, || {
            let job = self.job(id);
            let s = job["state"].as_str().unwrap_or_default().to_owned();
            ["succeeded", "failed", "cancelled"]
                .contains(&s.as_str())
                .then_some(job)
        })
    }

    /// Runs the `reef` client with `args` against this host (`REEF_URL`, and `REEF_TOKEN` when
    /// [`Reef::token`] is set), killing it if it runs longer than `timeout`.
    pub fn cli_within(&self, args: &[&str], timeout: Duration) -> CliRun {
        let mut command = Command::new(bin("reef"));
        command.args(args).env("REEF_URL", &self.url);
        match &self.token {
            Some(token) => command.env("REEF_TOKEN", token),
            None => command.env_remove("REEF_TOKEN"),
        };
        run_cli(command, self.dir.path(), timeout)
    }

    /// [`Reef::cli_within`] with a one-minute limit.
    pub fn cli(&self, args: &[&str]) -> CliRun {
        self.cli_within(args, Duration::from_secs(60))
    }

    /// Kills reef with SIGKILL and waits for it; returns the directory for a restart.
    pub fn kill9(mut self) -> tempfile::TempDir {
        self.stop_child(libc::SIGKILL);
        let dir = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, dir)
    }

    /// Sends `signal` to reef without waiting.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet.
        unsafe { libc::kill(self.pid() as i32, signal) };
    }

    /// Waits up to `timeout` for reef to exit; true when it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let Some(child) = self.child.as_mut() else {
            return true;
        };
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Sends SIGTERM and waits for reef to exit.
    pub fn terminate(mut self) -> tempfile::TempDir {
        self.stop_child(libc::SIGTERM);
        let dir = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, dir)
    }

    fn stop_child(&mut self, signal: i32) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet.
            unsafe { libc::kill(child.id() as i32, signal) };
            let _ = child.wait();
        }
    }
}

impl Drop for Reef {
    fn drop(&mut self) {
        self.stop_child(libc::SIGKILL);
        // Runners of this instance carry its work dir in REEF_RESULT_PATH's prefix; kill any
        // leftovers so a failed test does not leak processes.
        let data = self.dir.path().join("data").to_string_lossy().into_owned();
        for pid in processes_with_env_prefix("REEF_RESULT_PATH", &data) {
            // SAFETY: plain kill(2); the pid was just read from /proc.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        let shims = find_shims(&data);
        for pid in shims {
            // SAFETY: as above.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
}

/// What a run of the `reef` client did.
#[derive(Debug)]
pub struct CliRun {
    /// Exit code (-1 when a signal ended it).
    pub code: i32,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl CliRun {
    /// Asserts exit code `code`, showing both outputs when it differs; returns `self`.
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Stdout as JSON (panics with it when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Runs `command` with its output in files under `dir` (a pipe could fill and stall it), and
/// kills it at `timeout`.
pub fn run_cli(mut command: Command, dir: &Path, timeout: Duration) -> CliRun {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out_path = dir.join(format!("cli-{n}.out"));
    let err_path = dir.join(format!("cli-{n}.err"));
    let out = std::fs::File::create(&out_path).expect("stdout file");
    let err = std::fs::File::create(&err_path).expect("stderr file");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn reef client");
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for reef client") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{command:?} did not finish within {timeout:?}\n--- stdout\n{}\n--- stderr\n{}",
                std::fs::read_to_string(&out_path).unwrap_or_default(),
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    CliRun {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

fn processes_with_env_prefix(key: &str, prefix: &str) -> Vec<u32> {
    live_pids(procs::with_env_where(|environ| {
        environ
            .get(std::ffi::OsStr::new(key))
            .and_then(|v| v.to_str())
            .is_some_and(|v| v.starts_with(prefix))
    }))
}

/// Pids of `reef-shim` processes whose spec lives under `data_dir`.
pub fn find_shims(data_dir: &str) -> Vec<u32> {
    procs::command_lines()
        .into_iter()
        .filter(|(_, argv)| {
            let text = argv.join(" ");
            text.contains("reef-shim") && text.contains(data_dir)
        })
        .map(|(pid, _)| pid.unsigned_abs())
        .collect()
}

/// A config with the demo runner pointed at the built binary and the test's work dir.
pub fn demo_config(extra: &str) -> String {
    format!(
        r#"
[scheduler]
max_concurrency = 4

[runners.demo]
command = ["@BIN@/demo-runner", "{{benchmark}}", "--agent", "{{agent}}", "--execution-id", "{{job_id}}"]
workdir = "@WORK@"
max_concurrency = 2
timeout = "30s"
kill_grace = "1s"
max_attempts = 3
backoff = "200ms"
env = {{ DEMO_MARKS = "@WORK@/marks" }}
[runners.demo.params]
benchmark = {{ required = true, pattern = "^[A-Za-z0-9_./-]+\\.ya?ml$" }}
agent = {{ default = "deterministic", values = ["deterministic", "flaky"] }}
[runners.demo.result]
file = "logs/sessions/session_{{job_id}}.json"
success = "/final_result/success"
score = "/final_result/score"
{extra}
"#
    )
}

/// Parses the demo runner's marks file into (kind, execution id, unix nanos) triples.
pub fn read_marks(path: &Path) -> Vec<(String, String, u128)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((
                f.first()?.to_string(),
                f.get(1)?.to_string(),
                f.get(4)?.parse().ok()?,
            ))
        })
        .collect()
}

/// Highest number of executions between a `start` and its `end` at any instant.
pub fn max_overlap(marks: &[(String, String, u128)]) -> usize {
    let mut events: Vec<(u128, i32)> = marks
        .iter()
        .map(|(kind, _, t)| (*t, if kind == "start" { 1 } else { -1 }))
        .collect();
    // Ends sort before starts at the same instant.
    events.sort();
    let (mut now, mut max) = (0i32, 0i32);
    for (_, delta) in events {
        now += delta;
        max = max.max(now);
    }
    max as usize
}

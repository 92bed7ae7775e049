//! `ShimSupervisor`: prepares an attempt's directory, starts `reef-shim` for it, and signals it.
//!
//! Each attempt has a directory `<data_dir>/attempts/<job_id>/<n>/` holding the spec the shim
//! reads, the runner's logs, the `REEF_RESULT_PATH` file, the shim's exit record and the shim's
//! identity (pid and start time). Everything needed to find or finish an attempt is in those
//! files, so a restarted host can pick attempts up again; the shim is started in its own process
//! group, never tied to the host's lifetime.

use crate::workdir::resolve_program;
use reef_core::model::Job;
use reef_core::runner::RunnerSpec;
use reef_shim::protocol::PROTOCOL_VERSION;
use reef_shim::{AttemptSpec, ShimIdentity};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Where the files of one attempt live.
#[derive(Debug, Clone)]
pub struct AttemptPaths {
    /// The attempt directory.
    pub dir: PathBuf,
    /// Spec read by the shim.
    pub spec: PathBuf,
    /// Runner stdout.
    pub stdout: PathBuf,
    /// Runner stderr.
    pub stderr: PathBuf,
    /// The shim's exit record.
    pub exit_record: PathBuf,
    /// `REEF_RESULT_PATH`.
    pub result: PathBuf,
    /// The shim's own diagnostics.
    pub shim_log: PathBuf,
    /// The shim's pid and start time.
    pub shim_identity: PathBuf,
}

/// The layout of attempt directories under the data dir.
#[derive(Debug, Clone)]
pub struct AttemptLayout {
    root: PathBuf,
}

impl AttemptLayout {
    /// Attempt directories under `<data_dir>/attempts`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            root: data_dir.join("attempts"),
        }
    }

    /// The directory holding every attempt directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory holding every attempt of `job_id`.
    pub fn job_dir(&self, job_id: &str) -> PathBuf {
        self.root.join(job_id)
    }

    /// Paths of attempt `n` of `job_id`.
    pub fn paths(&self, job_id: &str, n: u32) -> AttemptPaths {
        let dir = self.root.join(job_id).join(n.to_string());
        AttemptPaths {
            spec: dir.join("spec.json"),
            stdout: dir.join("stdout.log"),
            stderr: dir.join("stderr.log"),
            exit_record: dir.join("exit.json"),
            result: dir.join("result.json"),
            shim_log: dir.join("shim.log"),
            shim_identity: dir.join("shim.json"),
            dir,
        }
    }
}

/// Why an attempt could not be launched.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The runner's program was not found; this is the attempt's spawn error.
    #[error("{0}: not found or not executable (looked in PATH and next to reef)")]
    ProgramNotFound(String),
    /// The attempt directory or spec could not be written, or the shim not started.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

/// The deadline and grace of one attempt, as planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptLimits {
    /// Deadline, in milliseconds.
    pub timeout_ms: u64,
    /// Grace between SIGTERM and SIGKILL, in milliseconds.
    pub kill_grace_ms: u64,
}

/// A started shim.
pub struct LaunchedShim {
    /// Its identity, for signals and re-attaching.
    pub identity: ShimIdentity,
    /// The child handle, to await its exit.
    pub child: tokio::process::Child,
}

/// How an attempt's program is looked up when its spec is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgramLookup {
    /// It runs on this machine: a program not found here is the attempt's spawn error.
    ThisHost,
    /// It runs on another machine with the same paths (a cluster node): resolved here when
    /// found, else left as configured for the node's `PATH` (the shim there reports a spawn
    /// error if it is missing there too).
    Node,
}

/// Writes attempt directories: the spec a shim reads, with the runner's argv and environment.
#[derive(Debug, Clone)]
pub struct AttemptWriter {
    layout: AttemptLayout,
    log_cap: u64,
    fallback_dirs: Vec<PathBuf>,
}

impl AttemptWriter {
    /// A writer keeping attempts under `layout`, with logs capped at `log_cap` bytes per
    /// stream. Bare runner program names are looked up on `PATH`, then in `fallback_dirs`.
    pub fn new(layout: AttemptLayout, log_cap: u64, fallback_dirs: Vec<PathBuf>) -> Self {
        Self {
            layout,
            log_cap,
            fallback_dirs,
        }
    }

    /// The attempt layout.
    pub fn layout(&self) -> &AttemptLayout {
        &self.layout
    }

    /// Creates the attempt's directory and writes its spec. `traceparent`, when tracing is on,
    /// is handed to the runner as `TRACEPARENT` so its own spans join the job's trace.
    pub fn prepare(
        &self,
        job: &Job,
        runner: &RunnerSpec,
        attempt: u32,
        limits: AttemptLimits,
        traceparent: Option<String>,
        lookup: ProgramLookup,
    ) -> Result<AttemptPaths, LaunchError> {
        let paths = self.layout.paths(&job.id, attempt);
        if paths.dir.exists() {
            // Left by an attempt of the same number that this state no longer knows (the
            // database was restored from a backup): its exit record and logs are not this
            // attempt's, so they are kept aside rather than read.
            let aside = paths
                .dir
                .with_extension(format!("replaced-{}", reef_core::time::Timestamp::now().0));
            std::fs::rename(&paths.dir, &aside)
                .map_err(io("moving aside an earlier attempt directory"))?;
            tracing::warn!(
                job_id = %job.id,
                attempt,
                kept = %aside.display(),
                "an attempt directory of the same number existed; it is kept aside"
            );
        }
        std::fs::create_dir_all(&paths.dir).map_err(io("creating the attempt directory"))?;
        let mut argv = runner.argv(&job.params, &job.id, attempt);
        let host_path = std::env::var("PATH").ok();
        let program = resolve_program(
            &argv[0],
            &runner.workdir,
            host_path.as_deref(),
            &self.fallback_dirs,
        );
        match (program, lookup) {
            (Some(program), _) => argv[0] = program.to_string_lossy().into_owned(),
            (None, ProgramLookup::ThisHost) => {
                return Err(LaunchError::ProgramNotFound(argv[0].clone()));
            }
            (None, ProgramLookup::Node) => {}
        }
        let mut env =
            runner.environment(|k| std::env::var(k).ok(), &job.id, attempt, &paths.result);
        if let Some(traceparent) = traceparent {
            env.insert("TRACEPARENT".to_owned(), traceparent);
        }
        let spec = AttemptSpec {
            version: PROTOCOL_VERSION,
            job_id: job.id.to_string(),
            attempt,
            argv,
            env,
            workdir: runner.workdir.clone(),
            timeout_ms: Some(limits.timeout_ms),
            kill_grace_ms: limits.kill_grace_ms,
            stdout_path: paths.stdout.clone(),
            stderr_path: paths.stderr.clone(),
            log_cap_bytes: self.log_cap,
            exit_record_path: paths.exit_record.clone(),
        };
        // The spec needs no fsync: until the attempt's exit record exists, a crash leaves an
        // attempt the reconciler finds by its shim or declares lost.
        let bytes = serde_json::to_vec_pretty(&spec).map_err(|e| LaunchError::Io {
            what: "encoding the attempt spec".into(),
            source: std::io::Error::other(e),
        })?;
        std::fs::write(&paths.spec, bytes).map_err(io("writing the attempt spec"))?;
        Ok(paths)
    }
}

/// Maps an I/O error to a [`LaunchError`] saying what was being done.
fn io(what: &str) -> impl FnOnce(std::io::Error) -> LaunchError {
    let what = what.to_owned();
    move |source| LaunchError::Io { what, source }
}

/// Starts and signals shims.
#[derive(Debug, Clone)]
pub struct ShimSupervisor {
    shim: PathBuf,
    writer: AttemptWriter,
}

impl ShimSupervisor {
    /// A supervisor starting `shim` for the attempts `writer` prepares.
    pub fn new(shim: PathBuf, writer: AttemptWriter) -> Self {
        Self { shim, writer }
    }

    /// The attempt layout.
    pub fn layout(&self) -> &AttemptLayout {
        self.writer.layout()
    }

    /// Writes the attempt's spec and starts its shim.
    pub fn launch(
        &self,
        job: &Job,
        runner: &RunnerSpec,
        attempt: u32,
        limits: AttemptLimits,
        traceparent: Option<String>,
    ) -> Result<LaunchedShim, LaunchError> {
        let paths = self.writer.prepare(
            job,
            runner,
            attempt,
            limits,
            traceparent,
            ProgramLookup::ThisHost,
        )?;
        let shim_log =
            std::fs::File::create(&paths.shim_log).map_err(io("creating the shim log"))?;
        let shim_err = shim_log.try_clone().map_err(io("creating the shim log"))?;
        let child = tokio::process::Command::new(&self.shim)
            .arg("--spec")
            .arg(&paths.spec)
            .stdin(Stdio::null())
            .stdout(shim_log)
            .stderr(shim_err)
            // Own process group: a Ctrl-C or a signal to the host's group does not reach it.
            .process_group(0)
            .kill_on_drop(false)
            .spawn()
            .map_err(io(&format!("starting {}", self.shim.display())))?;
        let pid = child.id().unwrap_or(0);
        let identity = ShimIdentity::of_pid(pid).unwrap_or(ShimIdentity {
            pid,
            start_ticks: 0,
        });
        if let Ok(bytes) = serde_json::to_vec(&identity) {
            // Best effort: the identity only helps a restarted host re-attach sooner.
            let _ = std::fs::write(&paths.shim_identity, bytes);
        }
        Ok(LaunchedShim { identity, child })
    }

    /// Asks a shim to cancel its attempt (SIGTERM; the shim escalates to SIGKILL after the
    /// attempt's grace). Does nothing when the shim is already gone.
    pub fn cancel(&self, identity: &ShimIdentity) {
        if identity.is_alive() {
            let pid = nix::unistd::Pid::from_raw(identity.pid as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
    }

    /// Every live `reef-shim` process on this machine, by the spec file it was started with.
    /// Recovery uses this rather than the identity files alone: a host killed between starting
    /// a shim and recording its identity must still find it.
    pub fn live_shims(&self) -> HashMap<PathBuf, ShimIdentity> {
        let mut found = HashMap::new();
        for (pid, argv) in reef_shim::procs::command_lines() {
            let is_shim = argv.first().is_some_and(|a| a.ends_with("reef-shim"));
            let spec = argv
                .windows(2)
                .find(|w| w[0] == "--spec")
                .map(|w| PathBuf::from(&w[1]));
            if let (true, Some(spec)) = (is_shim, spec)
                && let Some(identity) =
                    ShimIdentity::of_pid(pid.unsigned_abs()).filter(|i| i.is_alive())
            {
                found.insert(spec, identity);
            }
        }
        found
    }

    /// Kills (SIGKILL) every process of attempt `n` of `job_id` that outlived its shim, found by
    /// the `REEF_JOB_ID` and `REEF_ATTEMPT` every runner and its descendants inherit; returns how
    /// many. Repeats until none is left (a dying parent can reveal children).
    pub fn kill_orphans(&self, job_id: &str, n: u32) -> usize {
        let attempt = n.to_string();
        let marks = [("REEF_JOB_ID", job_id), ("REEF_ATTEMPT", attempt.as_str())];
        let mut killed = std::collections::BTreeSet::new();
        for _ in 0..50 {
            let found: Vec<i32> = reef_shim::procs::with_env(&marks)
                .into_iter()
                // Zombies are already dead; their parent reaps them.
                .filter(|p| !p.zombie)
                .map(|p| p.pid)
                .collect();
            if found.is_empty() {
                break;
            }
            for pid in found {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                killed.insert(pid);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        killed.len()
    }

    /// The shim identity recorded in an attempt directory, if any.
    pub fn recorded_identity(&self, job_id: &str, n: u32) -> Option<ShimIdentity> {
        let bytes = std::fs::read(self.layout().paths(job_id, n).shim_identity).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Finds `reef-shim`: the configured path, else next to the running executable, else on `PATH`.
pub fn locate_shim(configured: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = configured {
        return Some(path.to_owned());
    }
    let exe_dir = std::env::current_exe().ok()?.parent()?.to_owned();
    let beside = exe_dir.join("reef-shim");
    if beside.exists() {
        return Some(beside);
    }
    let path = std::env::var("PATH").ok()?;
    std::env::split_paths(&path)
        .map(|d| d.join("reef-shim"))
        .find(|p| p.exists())
}

//! `SlurmCli`: Slurm's command-line tools, run with a deadline and counted. They need no
//! daemon of reef's own; whatever their environment says (`SLURM_CONF`) is the cluster.

use super::queue::{self, SlurmJob};
use crate::metrics::{ExecutorCommandLabels, Metrics};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

/// How long one command may take before the controller counts as unreachable.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// What a Slurm command's failure means.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlurmError {
    /// Slurm did not answer (controller down, command missing, timed out): try again later.
    #[error("{command}: Slurm cannot be reached: {detail}")]
    Unreachable {
        /// The command.
        command: String,
        /// What it said.
        detail: String,
    },
    /// Slurm answered no (an invalid partition, a request it can never satisfy).
    #[error("{command}: {detail}")]
    Refused {
        /// The command.
        command: String,
        /// What it said.
        detail: String,
    },
}

impl SlurmError {
    /// True when trying again later may succeed.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }
}

/// Words of a Slurm client that could not talk to the controller.
const UNREACHABLE: [&str; 6] = [
    "Unable to contact slurm controller",
    "Socket timed out",
    "Connection refused",
    "Zero Bytes were transmitted",
    "Communication connection failure",
    "Slurm controller not responding",
];

/// Runs `sbatch`, `squeue`, `scancel` and `scontrol` for one executor.
#[derive(Clone)]
pub struct SlurmCli {
    bin_dir: Option<PathBuf>,
    executor: String,
    metrics: Arc<Metrics>,
}

impl SlurmCli {
    /// Commands from `bin_dir` (else `PATH`), counted under `executor` in `metrics`.
    pub fn new(bin_dir: Option<PathBuf>, executor: &str, metrics: Arc<Metrics>) -> Self {
        Self {
            bin_dir,
            executor: executor.to_owned(),
            metrics,
        }
    }

    /// The path a command is run from.
    pub fn program(&self, name: &str) -> PathBuf {
        match &self.bin_dir {
            Some(dir) => dir.join(name),
            None => PathBuf::from(name),
        }
    }

    /// Submits a batch job; answers its Slurm id.
    pub async fn sbatch(&self, args: &[String]) -> Result<u64, SlurmError> {
        let out = self.run("sbatch", args, false).await?;
        // `--parsable` prints `id` or `id;cluster`.
        out.trim()
            .split(';')
            .next()
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| SlurmError::Refused {
                command: "sbatch".into(),
                detail: format!("answered {:?}, not a job id", out.trim()),
            })
    }

    /// Every job the controller holds.
    pub async fn jobs(&self) -> Result<Vec<SlurmJob>, SlurmError> {
        let out = self.run("squeue", &["--json".to_owned()], true).await?;
        queue::parse(out.as_bytes()).map_err(|e| SlurmError::Unreachable {
            command: "squeue".into(),
            detail: e.to_string(),
        })
    }

    /// Signals or cancels a job (`args` are `scancel`'s).
    pub async fn scancel(&self, args: &[String]) -> Result<(), SlurmError> {
        self.run("scancel", args, false).await.map(drop)
    }

    /// Whether the controller answers.
    pub async fn ping(&self) -> Result<(), SlurmError> {
        let out = self.run("scontrol", &["ping".to_owned()], true).await?;
        if out.contains("is UP") {
            Ok(())
        } else {
            Err(SlurmError::Unreachable {
                command: "scontrol ping".into(),
                detail: out.trim().to_owned(),
            })
        }
    }

    /// Runs `command`; any failure of a query (`unreachable_on_failure`) means Slurm cannot be
    /// reached, while a submit or cancel that Slurm answered with an error is refused.
    async fn run(
        &self,
        command: &str,
        args: &[String],
        unreachable_on_failure: bool,
    ) -> Result<String, SlurmError> {
        let result = self.output(command, args, unreachable_on_failure).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(SlurmError::Unreachable { .. }) => "unreachable",
            Err(SlurmError::Refused { .. }) => "refused",
        };
        self.metrics
            .executor_commands
            .get_or_create(&ExecutorCommandLabels {
                executor: self.executor.clone(),
                command: command.to_owned(),
                result: outcome.to_owned(),
            })
            .inc();
        result
    }

    async fn output(
        &self,
        command: &str,
        args: &[String],
        unreachable_on_failure: bool,
    ) -> Result<String, SlurmError> {
        let unreachable = |detail: String| SlurmError::Unreachable {
            command: command.to_owned(),
            detail,
        };
        let program = self.program(command);
        let child = tokio::process::Command::new(&program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output();
        let output = match tokio::time::timeout(COMMAND_TIMEOUT, child).await {
            Err(_) => return Err(unreachable(format!("no answer in {COMMAND_TIMEOUT:?}"))),
            Ok(Err(e)) => return Err(unreachable(format!("{}: {e}", program.display()))),
            Ok(Ok(output)) => output,
        };
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() {
            return Ok(stdout);
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let detail = stderr
            .lines()
            .chain(stdout.lines())
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        let detail = if detail.is_empty() {
            format!("exited with {}", output.status)
        } else {
            detail
        };
        if unreachable_on_failure || UNREACHABLE.iter().any(|w| detail.contains(w)) {
            Err(unreachable(detail))
        } else {
            Err(SlurmError::Refused {
                command: command.to_owned(),
                detail,
            })
        }
    }
}

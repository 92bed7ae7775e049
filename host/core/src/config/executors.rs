//! `[executors.NAME]` and what a runner asks of one: where attempts run besides this machine.
//!
//! `local` (attempts as `reef-shim` processes on the host) always exists and is the default; a
//! runner names another with `executor = "NAME"`. The engine's executors read these; the core
//! only checks that names resolve and that values are usable.

use super::ConfigError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

pub use crate::executor::LOCAL;

/// `[executors.NAME]`: a named executor, by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExecutorConfig {
    /// Attempts as Slurm batch jobs, one each, supervised by `reef-shim` on their node.
    Slurm(SlurmExecutorConfig),
}

/// `[executors.NAME]` with `kind = "slurm"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlurmExecutorConfig {
    /// Where attempt directories live: the same absolute path on the host and on every node.
    pub shared_dir: PathBuf,
    /// The partition attempts are submitted to; Slurm's default partition when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// The account attempts are charged to (`sbatch --account`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The quality of service attempts ask for (`sbatch --qos`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos: Option<String>,
    /// Further `sbatch` arguments, passed as they are, before reef's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sbatch_args: Vec<String>,
    /// Slurm's time limit of an attempt is its planned timeout plus kill grace plus this: a
    /// backstop only, since the shim enforces the plan's deadline itself.
    #[schemars(with = "String")]
    #[serde(default = "default_time_margin", with = "humantime_serde")]
    pub time_margin: Duration,
    /// How often Slurm is asked about the attempts it holds.
    #[schemars(with = "String")]
    #[serde(default = "default_poll_interval", with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Directory of `sbatch`, `squeue`, `scontrol` and `scancel`; `PATH` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bin_dir: Option<PathBuf>,
    /// Path of `reef-shim` on the nodes; `reef-shim` on the nodes' `PATH` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shim_path: Option<PathBuf>,
}

fn default_time_margin() -> Duration {
    Duration::from_secs(300)
}
fn default_poll_interval() -> Duration {
    Duration::from_secs(2)
}

/// `[runners.NAME.slurm]`: what one attempt asks Slurm for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlurmRequest {
    /// CPUs of the attempt (`--cpus-per-task`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<u32>,
    /// Memory of the attempt, in Slurm's notation (`--mem`, e.g. `4G`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<String>,
    /// Generic resources (`--gres`, e.g. `gpu:1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gres: Option<String>,
}

impl SlurmExecutorConfig {
    /// The checks of one executor's values, naming the field under `executors.NAME`.
    pub fn validate(&self, name: &str) -> Result<(), ConfigError> {
        let field = |key: &str| format!("executors.{name}.{key}");
        if !self.shared_dir.is_absolute() {
            return Err(ConfigError::invalid(
                field("shared_dir"),
                "must be an absolute path (the same on the host and on every node)",
            ));
        }
        for (key, path) in [("bin_dir", &self.bin_dir), ("shim_path", &self.shim_path)] {
            if path.as_ref().is_some_and(|p| !p.is_absolute()) {
                return Err(ConfigError::invalid(
                    field(key),
                    "must be an absolute path (it is used on the nodes, from the attempt's directory)",
                ));
            }
        }
        if self.poll_interval.is_zero() {
            return Err(ConfigError::invalid(
                field("poll_interval"),
                "must be longer than zero",
            ));
        }
        for (key, value) in [
            ("partition", &self.partition),
            ("account", &self.account),
            ("qos", &self.qos),
        ] {
            if value.as_deref().is_some_and(|v| !slurm_word(v)) {
                return Err(ConfigError::invalid(
                    field(key),
                    "must be a Slurm name: letters, digits, '_', '-', '.'",
                ));
            }
        }
        Ok(())
    }
}

impl SlurmRequest {
    /// True when it asks for nothing (the section is absent or empty).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The checks of a runner's request, naming the field under `runners.NAME.slurm`.
    pub fn validate(&self, runner: &str) -> Result<(), ConfigError> {
        let field = |key: &str| format!("runners.{runner}.slurm.{key}");
        if self.cpus == Some(0) {
            return Err(ConfigError::invalid(field("cpus"), "must be at least 1"));
        }
        if let Some(mem) = &self.mem
            && !slurm_memory(mem)
        {
            return Err(ConfigError::invalid(
                field("mem"),
                format!(
                    "{mem:?} is not a Slurm memory size (a number with an optional K, M, G or T)"
                ),
            ));
        }
        if let Some(gres) = &self.gres
            && (gres.is_empty()
                || !gres
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ":_-.,".contains(c)))
        {
            return Err(ConfigError::invalid(
                field("gres"),
                format!("{gres:?} is not a Slurm gres list (e.g. gpu:1)"),
            ));
        }
        Ok(())
    }
}

/// A name Slurm accepts as a partition, account or QOS, and that needs no quoting.
fn slurm_word(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

/// `--mem`'s notation: digits and an optional unit.
fn slurm_memory(text: &str) -> bool {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(end);
    !digits.is_empty() && matches!(unit, "" | "K" | "M" | "G" | "T" | "k" | "m" | "g" | "t")
}

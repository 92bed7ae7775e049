//! The configuration file: its shape, its defaults and how its layers are merged.
//!
//! Layers, lowest first: built-in defaults, the TOML file, `REEF_*` environment variables
//! (`REEF_SERVER__LISTEN=...`, nested keys split on `__`), then CLI flags applied by the caller.
//! Every section has defaults, so a file that only declares runners is valid. Unknown keys are
//! errors: a typo must not silently fall back to a default.
//!
//! These types are the raw, serialisable shape. [`crate::runner::RunnerSpec`] is the validated,
//! compiled form of a runner that the rest of the host uses.

mod exact_size;
pub mod executors;
mod validate;

pub use exact_size::text as size_text;
pub use validate::validate_endpoint;

use bytesize::ByteSize;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A layer could not be read or parsed, or a value has the wrong shape.
    #[error("{0}")]
    Load(String),
    /// The file named on the command line does not exist.
    #[error("config file {0} does not exist")]
    Missing(PathBuf),
    /// A value is well-formed but not acceptable.
    #[error("{field}: {problem}")]
    Invalid {
        /// Dotted path of the offending field.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl ConfigError {
    /// The dotted path of the offending field, when the error names one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }

    /// Shorthand for [`ConfigError::Invalid`].
    pub fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl Config {
    /// Parses a TOML text on top of the defaults (no environment, no file); for tests and
    /// tools. The host loads its layers with `reef_server::config_load`.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Load(e.to_string()))
    }
}

/// The whole configuration of a host.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The HTTP server.
    pub server: ServerConfig,
    /// Where state lives.
    pub storage: StorageConfig,
    /// Global scheduling limits.
    pub scheduler: SchedulerConfig,
    /// Runner output capture.
    pub logs: LogsConfig,
    /// Bearer tokens.
    pub auth: AuthConfig,
    /// How the per-attempt supervisor is found.
    pub shim: ShimConfig,
    /// Runners by name.
    pub runners: BTreeMap<String, RunnerConfig>,
    /// Executors by name, besides `local` (this machine), which always exists.
    pub executors: BTreeMap<String, executors::ExecutorConfig>,
    /// Named resource pools and their capacities.
    pub resources: BTreeMap<String, u32>,
    /// The active policy and its per-call limits.
    pub policy: PolicyConfig,
    /// How long finished jobs are kept.
    pub retention: RetentionConfig,
    /// Limits of sweeps (`POST /v1/sweeps`).
    pub sweeps: SweepsConfig,
    /// Logs and traces of the host itself.
    pub telemetry: TelemetryConfig,
}

/// `[telemetry]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Log filter in `tracing` directive syntax (`info`, `reef=debug,warn`). `REEF_LOG`
    /// overrides it. Changes apply on reload.
    pub log_level: String,
    /// `text` (human-readable) or `json` (one object per line, for log shippers).
    /// `REEF_LOG_FORMAT` overrides it.
    pub log_format: LogFormat,
    /// Base URL of an OTLP/HTTP collector (`http://127.0.0.1:4318`); spans go to
    /// `<url>/v1/traces` as protobuf. Unset: no traces are exported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported spans.
    pub service_name: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_level: "info".into(),
            log_format: LogFormat::Text,
            otlp_endpoint: None,
            service_name: "reef".into(),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[sweeps]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SweepsConfig {
    /// Most jobs one sweep may create (the product of its matrix); a larger matrix is refused
    /// with 422 before anything is written.
    pub max_cells: u64,
}

impl Default for SweepsConfig {
    fn default() -> Self {
        Self {
            max_cells: crate::sweep::DEFAULT_MAX_CELLS,
        }
    }
}

/// `[retention]`
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Finished jobs (with their attempts, events, logs and results) older than this are
    /// deleted. Unset: kept regardless of age.
    #[schemars(with = "Option<String>")]
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_age: Option<Duration>,
    /// At most this many finished jobs are kept; the oldest go first. Unset: no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_finished: Option<u64>,
    /// How often the sweep runs.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Jobs deleted per transaction (small, so the API never waits long).
    pub batch: usize,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            max_age: None,
            max_finished: None,
            interval: Duration::from_secs(60),
            batch: 100,
        }
    }
}

/// `[policy]`
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// A policy component (`.wasm`) to use instead of the embedded default, relative to the
    /// config file's directory. It is uploaded and activated at every start; without it the
    /// registry's active version (or, at first, the embedded default) is used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Linear memory a plugin call may use.
    #[schemars(with = "String")]
    #[serde(with = "exact_size")]
    pub max_memory: ByteSize,
    /// CPU time a plugin call may use.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub max_cpu: Duration,
    /// Wall-clock time a plugin call may take.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub call_timeout: Duration,
    /// Output a plugin call may print, per stream (kept for the host's debug log).
    #[schemars(with = "String")]
    #[serde(with = "exact_size")]
    pub max_output: ByteSize,
    /// Largest component accepted by `PUT /v1/policies/{name}`.
    #[schemars(with = "String")]
    #[serde(with = "exact_size")]
    pub max_upload: ByteSize,
    /// A version that faults more than this many times within `quarantine_window` is
    /// deactivated and the previous good version restored.
    pub quarantine_faults: u32,
    /// The window of `quarantine_faults`.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub quarantine_window: Duration,
    /// A directory watched for `NAME.wasm` files, uploaded to slot `NAME` and activated when
    /// valid; relative to the config file's directory. Unset: no watching.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch_dir: Option<PathBuf>,
    /// Quiet time after the last change to a watched file before it is taken.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub watch_debounce: Duration,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            file: None,
            max_memory: ByteSize::mib(16),
            max_cpu: Duration::from_millis(50),
            call_timeout: Duration::from_millis(200),
            max_output: ByteSize::kib(4),
            // Generous: a componentize-py build weighs tens of megabytes.
            max_upload: ByteSize::mib(64),
            quarantine_faults: 20,
            quarantine_window: Duration::from_secs(60),
            watch_dir: None,
            watch_debounce: Duration::from_millis(500),
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Largest accepted request body.
    #[schemars(with = "String")]
    #[serde(with = "exact_size")]
    pub max_body: ByteSize,
    /// How long an `Idempotency-Key` of `POST /v1/jobs` is remembered.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub idempotency_ttl: Duration,
    /// Reload the config file when its contents change on disk (SIGHUP and
    /// `POST /v1/config/reload` always reload).
    pub watch_config: bool,
    /// HTTP connections open at once; one more is answered 503 and closed.
    pub max_connections: u32,
    /// Time a client has to send a request's head, counted from the connection's accept or from
    /// the previous response: connections that send nothing, or sit idle between requests,
    /// are closed after it.
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
    /// Time a client has to send a request's whole body (a policy upload included).
    #[schemars(with = "String")]
    #[serde(with = "humantime_serde")]
    pub body_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7878)),
            max_body: ByteSize::mib(1),
            idempotency_ttl: Duration::from_secs(24 * 3600),
            watch_config: true,
            max_connections: 4096,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
        }
    }
}

/// `[storage]`
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Directory holding the redb database and the attempt directories.
    pub data_dir: PathBuf,
    /// Fold concurrent writes into shared transactions (each caller is still answered only once
    /// its own write is durable). Off: one transaction per write.
    pub group_commit: bool,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(".reef"),
            group_commit: true,
        }
    }
}

/// `[scheduler]`
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerConfig {
    /// Attempts running at once across all runners.
    pub max_concurrency: u32,
    /// How many runnable candidates are offered to the policy per decision.
    pub candidate_window: u32,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            max_concurrency: 4,
            candidate_window: 32,
        }
    }
}

/// `[logs]`
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LogsConfig {
    /// Cap of each of an attempt's stdout and stderr files.
    #[schemars(with = "String")]
    #[serde(with = "exact_size")]
    pub max_bytes_per_stream: ByteSize,
}

impl Default for LogsConfig {
    fn default() -> Self {
        Self {
            max_bytes_per_stream: ByteSize::mib(8),
        }
    }
}

/// `[auth]`
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Accepted bearer tokens. With none, every request is allowed and the host only listens on
    /// loopback.
    pub tokens: Vec<TokenConfig>,
}

/// One `[[auth.tokens]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Name of the token's holder, shown in logs (never the secret).
    pub name: String,
    /// The secret itself. Prefer `token_env` outside of tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Name of an environment variable holding the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    /// Granted scopes: `read`, `submit`, `admin`. Each includes the ones before it.
    pub scopes: Vec<String>,
}

/// `[shim]`
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ShimConfig {
    /// Path of `reef-shim`; by default the one next to the `reef` executable, else `PATH`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

/// `[runners.NAME]`
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunnerConfig {
    /// Argv template; `{param}`, `{job_id}` and `{attempt}` may appear anywhere in an element.
    pub command: Vec<String>,
    /// Working directory; relative paths are resolved against the config file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<PathBuf>,
    /// Attempts of this runner running at once; unset means only the global limit applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    /// Wall-clock budget of one attempt.
    #[schemars(with = "String")]
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Time between SIGTERM and SIGKILL when an attempt is stopped.
    #[schemars(with = "String")]
    #[serde(default = "default_kill_grace", with = "humantime_serde")]
    pub kill_grace: Duration,
    /// Attempts per job, the first included.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Delay before a failed attempt is retried.
    #[schemars(with = "String")]
    #[serde(default = "default_backoff", with = "humantime_serde")]
    pub backoff: Duration,
    /// Resource pools an attempt holds one unit of while it runs.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Extra environment of the runner.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Host environment variables passed through, beyond the built-in allow-list.
    #[serde(default)]
    pub pass_env: Vec<String>,
    /// Declared parameters.
    #[serde(default)]
    pub params: BTreeMap<String, ParamConfig>,
    /// How the result is read.
    #[serde(default)]
    pub result: ResultConfig,
    /// The executor its attempts run on: `local` (this machine, the default) or one of
    /// `[executors]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<String>,
    /// What one attempt asks Slurm for, when its executor is a Slurm one.
    #[serde(default, skip_serializing_if = "executors::SlurmRequest::is_empty")]
    pub slurm: executors::SlurmRequest,
}

fn default_timeout() -> Duration {
    Duration::from_secs(3600)
}
fn default_kill_grace() -> Duration {
    Duration::from_secs(5)
}
fn default_max_attempts() -> u32 {
    1
}
fn default_backoff() -> Duration {
    Duration::from_secs(1)
}

/// `[runners.NAME.params.PARAM]`
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ParamConfig {
    /// The caller must give a value (a default makes this moot).
    pub required: bool,
    /// Value used when the caller gives none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// The only accepted values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    /// A glob relative to the runner's workdir (`benchmarks/*.yml`): the only accepted values
    /// are the files it matches, listed again at every submit and shown by
    /// `GET /v1/runners/{name}`. Not with `values`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values_from: Option<String>,
    /// A regular expression the whole value must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Longest accepted value in bytes (default 256).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_len: Option<usize>,
    /// What the value is. `text` (the default): any string the other rules accept. `path`: a
    /// relative path inside the runner's workdir: not absolute, no `..`, normalised (`a//./b`
    /// is passed as `a/b`), and no symlink on the way leading out of the workdir.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<ParamKind>,
}

/// What a parameter's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ParamKind {
    /// Any string the parameter's other rules accept.
    #[default]
    Text,
    /// A relative path inside the runner's workdir.
    Path,
}

/// `[runners.NAME.result]`
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ResultConfig {
    /// File the runner writes its result to, relative to its workdir; placeholders allowed.
    /// `REEF_RESULT_PATH` takes precedence when the runner writes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// JSON pointer to a boolean that decides success (overrides the exit code when present).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success: Option<String>,
    /// JSON pointer to a number: the attempt's score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<String>,
    /// Let `file` point outside the runner's workdir (an absolute path, `..`, or a symlink
    /// leading out). Off: a result file that would be read from outside the workdir is refused,
    /// so a parameter in its template cannot make reef read another file (its own database,
    /// say) into a job's result.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_outside_workdir: bool,
    /// Largest result stored.
    #[schemars(with = "String")]
    #[serde(with = "exact_size")]
    pub max_bytes: ByteSize,
}

impl Default for ResultConfig {
    fn default() -> Self {
        Self {
            file: None,
            success: None,
            score: None,
            allow_outside_workdir: false,
            max_bytes: ByteSize::mib(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUE_SHAPE: &str = r#"
        [runners.demo]
        command = ["demo-runner", "{benchmark}", "--agent", "{agent}", "--execution-id", "{job_id}"]
        workdir = "."
        max_concurrency = 2
        timeout = "60s"
        kill_grace = "5s"
        max_attempts = 3
        backoff = "1s"
        resources = ["surfpool"]
        env = { RUST_LOG = "info" }
        [runners.demo.params]
        benchmark = { required = true, pattern = "^[a-z0-9_./-]+\\.ya?ml$" }
        agent = { default = "deterministic", values = ["deterministic", "flaky"] }
        [runners.demo.result]
        file = "logs/sessions/session_{job_id}.json"
        success = "/final_result/success"
        score = "/final_result/score"

        [resources]
        surfpool = 1
    "#;

    #[test]
    fn the_documented_runner_shape_loads() {
        let config = Config::from_toml(ISSUE_SHAPE).unwrap();
        let demo = &config.runners["demo"];
        assert_eq!(demo.timeout, Duration::from_secs(60));
        assert_eq!(demo.max_attempts, 3);
        assert_eq!(
            demo.params["agent"].default.as_deref(),
            Some("deterministic")
        );
        assert_eq!(config.resources["surfpool"], 1);
        // Untouched sections keep their defaults.
        assert_eq!(config.server.listen.port(), 7878);
        assert_eq!(config.scheduler.max_concurrency, 4);
    }
}

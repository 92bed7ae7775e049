//! The checks the types alone cannot express.

use super::executors::{ExecutorConfig, LOCAL};
use super::{Config, ConfigError};

impl Config {
    /// Checks what the types alone cannot: limits that must be positive, an exporter URL that
    /// is usable. Runners and resources are checked when they are compiled
    /// ([`crate::runner::RunnerSet`]); tokens and the log filter by the server, which knows
    /// how it reads them.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            (
                "scheduler.max_concurrency",
                u64::from(self.scheduler.max_concurrency),
            ),
            (
                "scheduler.candidate_window",
                u64::from(self.scheduler.candidate_window),
            ),
            ("retention.batch", self.retention.batch as u64),
            ("sweeps.max_cells", self.sweeps.max_cells),
            (
                "logs.max_bytes_per_stream",
                self.logs.max_bytes_per_stream.as_u64(),
            ),
            ("policy.max_memory", self.policy.max_memory.as_u64()),
            ("server.max_body", self.server.max_body.as_u64()),
            ("policy.max_upload", self.policy.max_upload.as_u64()),
            (
                "server.max_connections",
                u64::from(self.server.max_connections),
            ),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(ConfigError::invalid(*field, "must be at least 1"));
        }
        let durations = [
            ("policy.max_cpu", self.policy.max_cpu),
            ("policy.call_timeout", self.policy.call_timeout),
            ("policy.quarantine_window", self.policy.quarantine_window),
            ("retention.interval", self.retention.interval),
            ("server.header_timeout", self.server.header_timeout),
            ("server.body_timeout", self.server.body_timeout),
        ];
        if let Some((field, _)) = durations.iter().find(|(_, value)| value.is_zero()) {
            return Err(ConfigError::invalid(*field, "must be longer than zero"));
        }
        if self.retention.max_finished == Some(0) {
            return Err(ConfigError::invalid(
                "retention.max_finished",
                "must be at least 1 (leave it unset to keep every finished job)",
            ));
        }
        if let Some(endpoint) = &self.telemetry.otlp_endpoint {
            validate_endpoint(endpoint)
                .map_err(|problem| ConfigError::invalid("telemetry.otlp_endpoint", problem))?;
        }
        self.validate_executors()?;
        if self.telemetry.service_name.trim().is_empty() {
            return Err(ConfigError::invalid(
                "telemetry.service_name",
                "must not be empty",
            ));
        }
        Ok(())
    }
}

impl Config {
    /// Executors are well-formed, and every runner's executor exists and suits its request.
    fn validate_executors(&self) -> Result<(), ConfigError> {
        for (name, executor) in &self.executors {
            if name == LOCAL {
                return Err(ConfigError::invalid(
                    format!("executors.{name}"),
                    "`local` is this machine's executor and cannot be configured",
                ));
            }
            match executor {
                ExecutorConfig::Slurm(slurm) => slurm.validate(name)?,
            }
        }
        for (runner, config) in &self.runners {
            let executor = config.executor.as_deref().unwrap_or(LOCAL);
            let kind = match self.executors.get(executor) {
                None if executor == LOCAL => None,
                None => {
                    let known: Vec<&str> = std::iter::once(LOCAL)
                        .chain(self.executors.keys().map(String::as_str))
                        .collect();
                    return Err(ConfigError::invalid(
                        format!("runners.{runner}.executor"),
                        format!("no executor {executor:?} (known: {})", known.join(", ")),
                    ));
                }
                Some(found) => Some(found),
            };
            let request = &config.slurm;
            if !request.is_empty() {
                if !matches!(kind, Some(ExecutorConfig::Slurm(_))) {
                    return Err(ConfigError::invalid(
                        format!("runners.{runner}.slurm"),
                        format!("the runner's executor {executor:?} is not a Slurm executor"),
                    ));
                }
                request.validate(runner)?;
            }
        }
        Ok(())
    }
}

/// Checks `telemetry.otlp_endpoint` the way the exporter will use it.
pub fn validate_endpoint(endpoint: &str) -> Result<(), String> {
    match endpoint.split_once("://") {
        Some(("http", rest)) if !rest.is_empty() => Ok(()),
        Some(("https", _)) => {
            Err("https is not supported; send OTLP/HTTP to a local collector over http".into())
        }
        _ => Err(format!("`{endpoint}` is not an http:// URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_field_checks_name_the_field() {
        let cases = [
            (
                "[scheduler]\nmax_concurrency = 0\n",
                "scheduler.max_concurrency: must be at least 1",
            ),
            (
                "[policy]\ncall_timeout = \"0s\"\n",
                "policy.call_timeout: must be longer than zero",
            ),
            ("[retention]\nmax_finished = 0\n", "retention.max_finished"),
            (
                "[telemetry]\notlp_endpoint = \"collector:4318\"\n",
                "telemetry.otlp_endpoint",
            ),
        ];
        for (text, expected) in cases {
            let err = Config::from_toml(text).unwrap().validate().unwrap_err();
            assert!(err.to_string().starts_with(expected), "{text}: {err}");
        }
        assert!(Config::default().validate().is_ok());
    }

    const CLUSTER: &str = r#"
[executors.cluster]
kind = "slurm"
partition = "debug"
shared_dir = "/shared/reef"

[runners.eval]
command = ["eval-runner", "{benchmark}"]
executor = "cluster"
[runners.eval.slurm]
cpus = 2
mem = "4G"
gres = "gpu:1"
"#;

    #[test]
    fn a_slurm_executor_and_a_runner_on_it_load() {
        let config = Config::from_toml(CLUSTER).unwrap();
        config.validate().unwrap();
        let ExecutorConfig::Slurm(slurm) = &config.executors["cluster"];
        assert_eq!(slurm.partition.as_deref(), Some("debug"));
        assert_eq!(slurm.poll_interval, std::time::Duration::from_secs(2));
        let runner = &config.runners["eval"];
        assert_eq!(runner.executor.as_deref(), Some("cluster"));
        assert_eq!(runner.slurm.cpus, Some(2));
    }

    #[test]
    fn executor_mistakes_name_the_field() {
        let cases = [
            (
                CLUSTER.replace("executor = \"cluster\"", "executor = \"gpu\""),
                "runners.eval.executor: no executor \"gpu\" (known: local, cluster)",
            ),
            (
                CLUSTER.replace("/shared/reef", "shared"),
                "executors.cluster.shared_dir",
            ),
            (
                CLUSTER.replace("mem = \"4G\"", "mem = \"lots\""),
                "runners.eval.slurm.mem",
            ),
            (
                CLUSTER.replace("cpus = 2", "cpus = 0"),
                "runners.eval.slurm.cpus",
            ),
            (
                CLUSTER.replace("partition = \"debug\"", "partition = \"a b\""),
                "executors.cluster.partition",
            ),
            (
                CLUSTER.replace("partition = \"debug\"", "shim_path = \"bin/reef-shim\""),
                "executors.cluster.shim_path: must be an absolute path",
            ),
            (
                CLUSTER.replace("executor = \"cluster\"\n", ""),
                "runners.eval.slurm: the runner's executor \"local\"",
            ),
            (
                CLUSTER
                    .replace("[executors.cluster]", "[executors.local]")
                    .replace("\"cluster\"", "\"local\""),
                "executors.local",
            ),
        ];
        for (text, expected) in cases {
            let err = Config::from_toml(&text).unwrap().validate().unwrap_err();
            assert!(err.to_string().starts_with(expected), "{err}\n--- {text}");
        }
        let unknown = Config::from_toml(&CLUSTER.replace("partition", "partitoin")).unwrap_err();
        assert!(unknown.to_string().contains("partitoin"), "{unknown}");
        let kind = Config::from_toml(&CLUSTER.replace("\"slurm\"", "\"k8s\"")).unwrap_err();
        assert!(kind.to_string().contains("k8s"), "{kind}");
    }
}

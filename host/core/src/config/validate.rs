//! The checks the types alone cannot express.

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
        if self.telemetry.service_name.trim().is_empty() {
            return Err(ConfigError::invalid(
                "telemetry.service_name",
                "must not be empty",
            ));
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
}

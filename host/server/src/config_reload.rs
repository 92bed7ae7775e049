//! `ConfigReloader`: re-reads the config file of a running host and applies what can change
//! without a restart.
//!
//! A reload (on a change of the file, on SIGHUP, or on `POST /v1/config/reload`) is all or
//! nothing: the file is loaded and validated exactly as at start, and only a valid one is
//! applied. Runners and limits reach the engine in one command, between two scheduling passes;
//! tokens, the policy's call limits and quarantine rule, and the log level are swapped in place.
//! Everything else (the listen address, storage, the exporter, ...) is reported as needing a
//! restart and keeps its running value. An invalid file changes nothing; the error names the key.

use crate::auth::Authenticator;
use crate::server::{ServeOptions, call_limits, prepare, require_tokens_off_loopback};
use crate::telemetry::LogLevel;
use arc_swap::ArcSwap;
use reef_core::config::{Config, ConfigError};
use reef_engine::engine::{EngineHandle, limits_for};
use reef_engine::metrics::{Metrics, ReloadLabels};
use reef_engine::service::JobService;
use reef_policy::slots::{PolicySlots, QuarantineRule};
use serde::Serialize;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;

/// Keys (and every key under them) a reload applies to the running host.
const LIVE_KEYS: &[&str] = &[
    "runners",
    "resources",
    "scheduler.max_concurrency",
    "scheduler.candidate_window",
    "auth",
    "policy.max_cpu",
    "policy.call_timeout",
    "policy.max_output",
    "policy.quarantine_faults",
    "policy.quarantine_window",
    "telemetry.log_level",
];

/// What started a reload; shown in logs and in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReloadTrigger {
    /// `POST /v1/config/reload`.
    Api,
    /// SIGHUP.
    Signal,
    /// The config file changed on disk.
    File,
}

/// What a reload did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReloadReport {
    /// What started it.
    pub trigger: ReloadTrigger,
    /// The file read (absent when the host runs on built-in defaults).
    pub source: Option<String>,
    /// Keys whose new values are now in effect.
    pub applied: Vec<String>,
    /// Keys that differ from the running values but only take effect at the next start.
    pub restart_required: Vec<String>,
    /// Things worth knowing that did not stop the reload.
    pub warnings: Vec<String>,
}

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file does not load or does not validate; the message names the key.
    #[error("{message}")]
    Invalid {
        /// The offending key, when known.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// The host is stopping.
    #[error("the host is stopping")]
    Stopping,
}

/// The parts of a running host a reload changes.
pub struct LiveParts {
    /// The engine (runners and limits).
    pub engine: EngineHandle,
    /// The job service (runners new submits are checked against).
    pub jobs: Arc<JobService>,
    /// The API's token checks.
    pub auth: Arc<ArcSwap<Authenticator>>,
    /// Policy call limits and the quarantine rule.
    pub slots: Arc<PolicySlots>,
    /// The log filter.
    pub level: LogLevel,
    /// Where reloads are counted.
    pub metrics: Arc<Metrics>,
}

/// Reloads the config of a running host; see the module docs.
pub struct ConfigReloader {
    options: ServeOptions,
    /// The config the host started with: what restart-only keys still hold.
    started: Config,
    /// The config last applied. Its live keys are the ones in force; its restart-only keys are
    /// only what the file said (what is in force for those is `started`), and are never read.
    current: tokio::sync::Mutex<Config>,
    /// The address the API is bound to: what a reload's tokens must protect, whatever the
    /// file now says `server.listen` is.
    bound: SocketAddr,
    live: LiveParts,
}

impl ConfigReloader {
    /// A reloader for a host started with `options` and (effective) `config`, serving the API
    /// on `bound`.
    pub fn new(options: ServeOptions, config: Config, bound: SocketAddr, live: LiveParts) -> Self {
        Self {
            options,
            started: config.clone(),
            current: tokio::sync::Mutex::new(config),
            bound,
            live,
        }
    }

    /// The config file being watched, if any.
    pub fn file(&self) -> Option<&std::path::Path> {
        self.options.config.as_deref()
    }

    /// Re-reads the file and applies it; reloads run one at a time. The work runs in a task
    /// of its own, so a caller that goes away (an HTTP client hanging up) cannot stop a reload
    /// half way.
    pub async fn reload(
        self: &Arc<Self>,
        trigger: ReloadTrigger,
    ) -> Result<ReloadReport, ReloadError> {
        let this = self.clone();
        tokio::spawn(async move { this.reload_now(trigger).await })
            .await
            .map_err(|_| ReloadError::Stopping)?
    }

    async fn reload_now(&self, trigger: ReloadTrigger) -> Result<ReloadReport, ReloadError> {
        let mut current = self.current.lock().await;
        let outcome = self.apply(trigger, &mut current).await;
        let result = if outcome.is_ok() {
            "success"
        } else {
            "failure"
        };
        self.live
            .metrics
            .config_reloads
            .get_or_create(&ReloadLabels {
                result: result.into(),
            })
            .inc();
        match &outcome {
            Ok(report) => tracing::info!(
                trigger = ?trigger,
                applied = ?report.applied,
                restart_required = ?report.restart_required,
                warnings = ?report.warnings,
                "config reloaded"
            ),
            Err(error) => tracing::warn!(
                trigger = ?trigger,
                %error,
                "config reload rejected; the running config is unchanged"
            ),
        }
        outcome
    }

    async fn apply(
        &self,
        trigger: ReloadTrigger,
        current: &mut Config,
    ) -> Result<ReloadReport, ReloadError> {
        let (new, runners, auth, _) = prepare(&self.options).map_err(|e| ReloadError::Invalid {
            field: e
                .downcast_ref::<ConfigError>()
                .and_then(ConfigError::field)
                .map(str::to_owned),
            message: format!("{e:#}"),
        })?;
        // Executors start with the host: a runner cannot move to one it did not start.
        if let Some((runner, executor)) = runners
            .iter()
            .map(|r| (r.name.as_str(), r.executor.as_str()))
            .find(|(_, e)| {
                *e != reef_core::executor::LOCAL && !self.started.executors.contains_key(*e)
            })
        {
            return Err(ReloadError::Invalid {
                field: Some(format!("runners.{runner}.executor")),
                message: format!(
                    "runners.{runner}.executor: executor {executor:?} is not running on this host; executors start with reef, so restart it to use a new one"
                ),
            });
        }
        // The socket stays where it was bound until a restart: the new tokens must cover it.
        require_tokens_off_loopback(&auth, self.bound).map_err(|e| ReloadError::Invalid {
            field: e.field().map(str::to_owned),
            message: e.to_string(),
        })?;
        let runtime = self.live.slots.runtime();
        let new_memory = new.policy.max_memory.as_u64() as usize;
        let is_live =
            |key: &str| live_key(key) || (key == "policy.max_memory" && runtime.fits(new_memory));
        // What will be applied: the new file, but for a `max_memory` the pool cannot take.
        let mut effective = new.clone();
        if !runtime.fits(new_memory) {
            effective.policy.max_memory = current.policy.max_memory;
        }
        let applied: Vec<String> = changed_keys(current, &effective)
            .into_iter()
            .filter(|k| is_live(k))
            .collect();
        let restart_required: Vec<String> = changed_keys(&self.started, &new)
            .into_iter()
            .filter(|k| !is_live(k))
            .collect();
        let mut warnings = Vec::new();
        if !applied.is_empty() {
            if applied.iter().any(|k| k.starts_with("runners")) {
                warnings.extend(reef_engine::workdir::install_warnings(&runners));
            }
            let runners = Arc::new(runners);
            for removed in current.runners.keys().filter(|r| runners.get(r).is_none()) {
                warnings.push(format!("runners.{removed}: removed from the config"));
            }
            let limits = limits_for(
                &runners,
                effective.scheduler.max_concurrency,
                &effective.resources,
            );
            // The only step that can fail, so it goes first: the engine takes runners, limits
            // and the rebuilt queue in one command, or nothing changes.
            let queue_warnings = self
                .live
                .engine
                .reconfigure(
                    runners.clone(),
                    limits,
                    effective.scheduler.candidate_window as usize,
                )
                .await
                .map_err(|_| ReloadError::Stopping)?;
            warnings.extend(queue_warnings);
            self.live.jobs.set_runners(runners);
            self.live.auth.store(Arc::new(auth));
            runtime.set_limits(call_limits(&effective));
            self.live
                .slots
                .set_pools(effective.resources.keys().cloned().collect());
            self.live.slots.set_quarantine_rule(QuarantineRule {
                faults: effective.policy.quarantine_faults,
                window: effective.policy.quarantine_window,
            });
            match self.live.level.set(&effective.telemetry.log_level) {
                Ok(true) => {}
                Ok(false) if applied.iter().any(|k| k == "telemetry.log_level") => warnings
                    .push("telemetry.log_level: REEF_LOG is set and takes precedence".into()),
                Ok(false) => {}
                // Validated with the file, so not expected; the rest is applied already.
                Err(error) => warnings.push(format!("telemetry.log_level: not applied: {error}")),
            }
            *current = effective;
        }
        Ok(ReloadReport {
            trigger,
            source: self.file().map(|p| p.display().to_string()),
            applied,
            restart_required,
            warnings,
        })
    }
}

/// True for a key a reload applies live.
pub fn live_key(key: &str) -> bool {
    LIVE_KEYS.iter().any(|live| {
        key == *live
            || key
                .strip_prefix(live)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    })
}

/// Dotted paths of the leaves that differ between two configs (arrays count as one leaf).
pub fn changed_keys(old: &Config, new: &Config) -> Vec<String> {
    let (Ok(old), Ok(new)) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        return Vec::new();
    };
    let mut keys = Vec::new();
    diff("", &old, &new, &mut keys);
    keys
}

fn diff(path: &str, old: &Value, new: &Value, keys: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
            names.sort();
            names.dedup();
            for name in names {
                let child = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                diff(
                    &child,
                    a.get(name).unwrap_or(&Value::Null),
                    b.get(name).unwrap_or(&Value::Null),
                    keys,
                );
            }
        }
        (a, b) if a != b => keys.push(path.to_owned()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_keys_name_the_leaves() {
        let old = Config::from_toml("[runners.a]\ncommand = [\"true\"]\n").unwrap();
        let new = Config::from_toml(
            "[runners.a]\ncommand = [\"true\"]\ntimeout = \"5s\"\n[runners.b]\ncommand = [\"false\"]\n[server]\nlisten = \"127.0.0.1:1\"\n",
        )
        .unwrap();
        let keys = changed_keys(&old, &new);
        assert!(keys.contains(&"runners.a.timeout".to_owned()), "{keys:?}");
        assert!(keys.contains(&"runners.b".to_owned()), "{keys:?}");
        assert!(keys.contains(&"server.listen".to_owned()), "{keys:?}");
        assert_eq!(keys.len(), 3, "{keys:?}");
        assert!(changed_keys(&old, &old).is_empty());
        // Sizes compare exactly, not as rounded text.
        let a = Config::from_toml("[policy]\nmax_output = \"4000 B\"\n").unwrap();
        let b = Config::from_toml("[policy]\nmax_output = \"4020 B\"\n").unwrap();
        assert_eq!(changed_keys(&a, &b), ["policy.max_output"]);
    }

    #[test]
    fn live_keys_cover_their_subkeys_only() {
        assert!(live_key("runners.a.timeout"));
        assert!(live_key("auth.tokens"));
        assert!(live_key("scheduler.max_concurrency"));
        assert!(!live_key("server.listen"));
        assert!(!live_key("policy.max_upload"));
        assert!(!live_key("runnersx"));
        assert!(!live_key("telemetry.otlp_endpoint"));
    }
}

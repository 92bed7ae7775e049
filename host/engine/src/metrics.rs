//! `Metrics`: what `GET /metrics` exposes, in the OpenMetrics text format, through
//! `prometheus-client`. Label sets are bounded: runner names, outcomes, reasons, hooks, routes
//! and status codes, never a job id.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

/// `runner`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RunnerLabel {
    /// Runner name.
    pub runner: String,
}

/// `runner`, `outcome`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// Runner name.
    pub runner: String,
    /// `succeeded`, `failed`, `cancelled` (jobs) or also `lost` (attempts).
    pub outcome: String,
}

/// `runner`, `reason`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// Runner name.
    pub runner: String,
    /// `exit`, `signal`, `timeout`, `lost`, `spawn_error`.
    pub reason: String,
}

/// `hook`, `kind`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabels {
    /// `admit`, `pick`, `plan`, `on-exit`.
    pub hook: String,
    /// `ok`, or the fault: `trap`, `timeout`, `out_of_memory`, `invalid_answer`.
    pub result: String,
}

/// `result`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// `success` or `failure`.
    pub result: String,
}

/// `hook`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HookLabel {
    /// `admit`, `pick`, `plan`, `on-exit`.
    pub hook: String,
}

/// `route`, `method`, `status`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The matched route template, e.g. `/v1/jobs/{id}`.
    pub route: String,
    /// HTTP method.
    pub method: String,
    /// Status code.
    pub status: String,
}

/// `name`, `digest`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyInfoLabels {
    /// Slot name.
    pub slot: String,
    /// Digest of the active version.
    pub digest: String,
}

/// `version`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    /// Crate version.
    pub version: String,
}

fn seconds_buckets() -> impl Iterator<Item = f64> {
    // 1 ms to ~1 h.
    exponential_buckets(0.001, 4.0, 12)
}

/// Every metric of the host.
pub struct Metrics {
    registry: Registry,
    /// Jobs accepted by `POST /v1/jobs`.
    pub jobs_submitted: Family<RunnerLabel, Counter>,
    /// Jobs that reached a terminal state.
    pub jobs_finished: Family<OutcomeLabels, Counter>,
    /// Attempts that ended.
    pub attempts: Family<OutcomeLabels, Counter>,
    /// Attempts that failed, by reason.
    pub process_failures: Family<FailureLabels, Counter>,
    /// Jobs waiting for a slot.
    pub queue_depth: Gauge,
    /// Attempts running.
    pub running: Gauge,
    /// Time from submit (or requeue) to the attempt's start.
    pub queue_wait: Family<RunnerLabel, Histogram>,
    /// Time from submit to the terminal state.
    pub job_duration: Family<RunnerLabel, Histogram>,
    /// Time from an attempt's start to its end.
    pub attempt_duration: Family<RunnerLabel, Histogram>,
    /// Time to start a shim.
    pub spawn_latency: Histogram,
    /// Policy plugin calls, by hook and result.
    pub policy_calls: Family<PolicyLabels, Counter>,
    /// Policy plugin call duration, by hook.
    pub policy_call_duration: Family<HookLabel, Histogram>,
    /// The active policy version (value 1).
    pub policy_info: Family<PolicyInfoLabels, Gauge>,
    /// HTTP requests answered.
    pub http_requests: Family<HttpLabels, Counter>,
    /// Policy versions quarantined for faulting too often.
    pub policy_quarantines: Counter,
    /// Config reloads, by result.
    pub config_reloads: Family<ReloadLabels, Counter>,
    /// HTTP connections open.
    pub http_connections: Gauge,
    /// HTTP connections closed at once because `server.max_connections` were open.
    pub http_connections_refused: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// All metrics, registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("reef");
        let hist = || {
            Family::<RunnerLabel, Histogram>::new_with_constructor(|| {
                Histogram::new(seconds_buckets())
            })
        };
        let m = Self {
            jobs_submitted: Family::default(),
            jobs_finished: Family::default(),
            attempts: Family::default(),
            process_failures: Family::default(),
            queue_depth: Gauge::default(),
            running: Gauge::default(),
            queue_wait: hist(),
            job_duration: hist(),
            attempt_duration: hist(),
            spawn_latency: Histogram::new(exponential_buckets(0.0001, 4.0, 10)),
            policy_calls: Family::default(),
            policy_call_duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.00001, 4.0, 10))
            }),
            policy_info: Family::default(),
            http_requests: Family::default(),
            policy_quarantines: Counter::default(),
            config_reloads: Family::default(),
            http_connections: Gauge::default(),
            http_connections_refused: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "jobs_submitted",
            "Jobs accepted by the API",
            m.jobs_submitted.clone(),
        );
        registry.register(
            "jobs_finished",
            "Jobs that reached a terminal state",
            m.jobs_finished.clone(),
        );
        registry.register("attempts", "Attempts that ended", m.attempts.clone());
        registry.register(
            "process_failures",
            "Failed attempts by reason",
            m.process_failures.clone(),
        );
        registry.register(
            "queue_depth",
            "Jobs waiting for a slot",
            m.queue_depth.clone(),
        );
        registry.register("running", "Attempts running", m.running.clone());
        registry.register_with_unit(
            "queue_wait",
            "Time from queued to started",
            prometheus_client::registry::Unit::Seconds,
            m.queue_wait.clone(),
        );
        registry.register_with_unit(
            "job_duration",
            "Time from submit to the terminal state",
            prometheus_client::registry::Unit::Seconds,
            m.job_duration.clone(),
        );
        registry.register_with_unit(
            "attempt_duration",
            "Time from an attempt's start to its end",
            prometheus_client::registry::Unit::Seconds,
            m.attempt_duration.clone(),
        );
        registry.register_with_unit(
            "spawn_latency",
            "Time to start an attempt's shim",
            prometheus_client::registry::Unit::Seconds,
            m.spawn_latency.clone(),
        );
        registry.register(
            "policy_calls",
            "Policy plugin calls by hook and result",
            m.policy_calls.clone(),
        );
        registry.register_with_unit(
            "policy_call_duration",
            "Policy plugin call duration",
            prometheus_client::registry::Unit::Seconds,
            m.policy_call_duration.clone(),
        );
        registry.register(
            "policy_info",
            "The active policy version",
            m.policy_info.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            m.http_requests.clone(),
        );
        registry.register(
            "http_connections",
            "HTTP connections open",
            m.http_connections.clone(),
        );
        registry.register(
            "http_connections_refused",
            "HTTP connections closed at once because server.max_connections were open",
            m.http_connections_refused.clone(),
        );
        registry.register(
            "policy_quarantines",
            "Policy versions quarantined for faulting too often",
            m.policy_quarantines.clone(),
        );
        registry.register(
            "config_reloads",
            "Config reloads by result (a failure left the running config unchanged)",
            m.config_reloads.clone(),
        );
        // Both series exist from the start, so `increase()` sees the first failure.
        for result in ["success", "failure"] {
            let _ = m.config_reloads.get_or_create(&ReloadLabels {
                result: result.into(),
            });
        }
        let build: Family<BuildLabels, Gauge> = Family::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").into(),
            })
            .set(1);
        registry.register("build_info", "Version of this build", build);
        Self { registry, ..m }
    }

    /// Records a policy call.
    pub fn policy_call(&self, hook: &str, result: &str, took: Duration) {
        self.policy_calls
            .get_or_create(&PolicyLabels {
                hook: hook.into(),
                result: result.into(),
            })
            .inc();
        self.policy_call_duration
            .get_or_create(&HookLabel { hook: hook.into() })
            .observe(took.as_secs_f64());
    }

    /// The OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl reef_policy::PolicyObserver for Metrics {
    fn call(&self, hook: &str, result: &str, took: Duration) {
        self.policy_call(hook, result, took);
    }

    fn quarantined(&self) {
        self.policy_quarantines.inc();
    }
}

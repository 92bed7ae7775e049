//! `Metrics`: what `GET /metrics` exposes, in the OpenMetrics text format, through
//! `prometheus-client`. Label sets are bounded: runner names, outcomes, reasons, hooks, routes
//! and status codes, never a job id.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
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

/// `executor`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExecutorLabel {
    /// The executor's configured name (`local`, or one of `[executors]`).
    pub executor: String,
}

/// `executor`, `command`, `result`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ExecutorCommandLabels {
    /// The executor's configured name.
    pub executor: String,
    /// The command run: `sbatch`, `squeue`, `scancel`, `ping`.
    pub command: String,
    /// `ok`, `unreachable` (the scheduler did not answer) or `refused` (it answered no).
    pub result: String,
}

/// `version`
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    /// Crate version.
    pub version: String,
}

/// Declares every metric once: its field, how it is made, its help text and unit. The struct,
/// its constructor and the registration all come from this one list.
macro_rules! metrics {
    ($( $(#[$doc:meta])* $name:ident : $ty:ty = $init:expr, $help:literal $(, $unit:ident)? ;)*) => {
        /// Every metric of the host.
        pub struct Metrics {
            registry: Registry,
            $( $(#[$doc])* pub $name: $ty, )*
        }

        impl Metrics {
            /// Every declared metric, made and registered in declaration order.
            fn declared() -> Self {
                let mut registry = Registry::with_prefix("reef");
                $(
                    let $name: $ty = $init;
                    let unit = metrics!(@unit $($unit)?);
                    match unit {
                        Some(unit) => {
                            registry.register_with_unit(stringify!($name), $help, unit, $name.clone())
                        }
                        None => registry.register(stringify!($name), $help, $name.clone()),
                    }
                )*
                Self { registry, $($name,)* }
            }
        }
    };
    (@unit) => { None };
    (@unit seconds) => { Some(Unit::Seconds) };
}

/// Histograms per runner, of seconds from 1 ms to about an hour.
fn seconds_by_runner() -> Family<RunnerLabel, Histogram> {
    Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 4.0, 12)))
}

metrics! {
    /// Jobs accepted by `POST /v1/jobs`.
    jobs_submitted: Family<RunnerLabel, Counter> = Family::default(), "Jobs accepted by the API";
    /// Jobs that reached a terminal state.
    jobs_finished: Family<OutcomeLabels, Counter> = Family::default(),
        "Jobs that reached a terminal state";
    /// Attempts that ended.
    attempts: Family<OutcomeLabels, Counter> = Family::default(), "Attempts that ended";
    /// Attempts that failed, by reason.
    process_failures: Family<FailureLabels, Counter> = Family::default(),
        "Failed attempts by reason";
    /// Jobs waiting for a slot.
    queue_depth: Gauge = Gauge::default(), "Jobs waiting for a slot";
    /// Attempts running.
    running: Gauge = Gauge::default(), "Attempts running";
    /// Time from submit (or requeue) to the attempt's start: reef's own queue.
    queue_wait: Family<RunnerLabel, Histogram> = seconds_by_runner(),
        "Time from queued to started (reef's queue; an executor's own queue is executor_queue_wait)", seconds;
    /// Time from an attempt's start to its placement on a node by its executor (Slurm's
    /// queue; about zero for `local`).
    executor_queue_wait: Family<ExecutorLabel, Histogram> = Family::new_with_constructor(|| {
        Histogram::new(exponential_buckets(0.001, 4.0, 12))
    }), "Time from an attempt's start to its placement by its executor (its executor's queue)", seconds;
    /// 1 while an executor can be reached, 0 while it cannot (its controller is down).
    executor_up: Family<ExecutorLabel, Gauge> = Family::default(),
        "1 while the executor can be reached, 0 while it cannot";
    /// Commands run against an executor's scheduler, by command and result.
    executor_commands: Family<ExecutorCommandLabels, Counter> = Family::default(),
        "Commands run against an executor's scheduler (sbatch, squeue, scancel), by result";
    /// Time from submit to the terminal state.
    job_duration: Family<RunnerLabel, Histogram> = seconds_by_runner(),
        "Time from submit to the terminal state", seconds;
    /// Time from an attempt's start to its end.
    attempt_duration: Family<RunnerLabel, Histogram> = seconds_by_runner(),
        "Time from an attempt's start to its end", seconds;
    /// Time to start a shim.
    spawn_latency: Histogram = Histogram::new(exponential_buckets(0.0001, 4.0, 10)),
        "Time to start an attempt's shim", seconds;
    /// Policy plugin calls, by hook and result.
    policy_calls: Family<PolicyLabels, Counter> = Family::default(),
        "Policy plugin calls by hook and result";
    /// Policy plugin call duration, by hook.
    policy_call_duration: Family<HookLabel, Histogram> = Family::new_with_constructor(|| {
        Histogram::new(exponential_buckets(0.00001, 4.0, 10))
    }), "Policy plugin call duration", seconds;
    /// The active policy version (value 1).
    policy_info: Family<PolicyInfoLabels, Gauge> = Family::default(), "The active policy version";
    /// HTTP requests answered.
    http_requests: Family<HttpLabels, Counter> = Family::default(),
        "HTTP requests by route and status";
    /// HTTP connections open.
    http_connections: Gauge = Gauge::default(), "HTTP connections open";
    /// HTTP connections closed at once because `server.max_connections` were open.
    http_connections_refused: Counter = Counter::default(),
        "HTTP connections closed at once because server.max_connections were open";
    /// Policy versions quarantined for faulting too often.
    policy_quarantines: Counter = Counter::default(),
        "Policy versions quarantined for faulting too often";
    /// Config reloads, by result.
    config_reloads: Family<ReloadLabels, Counter> = Family::default(),
        "Config reloads by result (a failure left the running config unchanged)";
    /// This build's version (value 1).
    build_info: Family<BuildLabels, Gauge> = Family::default(), "Version of this build";
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// All metrics, registered.
    pub fn new() -> Self {
        let m = Self::declared();
        // Both series exist from the start, so `increase()` sees the first failure.
        for result in ["success", "failure"] {
            let _ = m.config_reloads.get_or_create(&ReloadLabels {
                result: result.into(),
            });
        }
        m.build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").into(),
            })
            .set(1);
        m
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

//! `/healthz` (the process answers) and `/readyz` (it can do its job), each with a JSON body
//! naming its checks.

use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use reef_core::time::Timestamp;
use serde::Serialize;
use std::time::Duration;

/// The scheduler loop ticks every 500 ms; five seconds without a tick means it is wedged.
const SCHEDULER_STALE_AFTER: Duration = Duration::from_secs(5);

/// The answer of `GET /healthz`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`: the process answers.
    pub status: &'static str,
}

/// The answer of `GET /readyz`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready`, `degraded` (ready, but an executor cannot be reached: jobs are still accepted
    /// and its attempts wait) or `not_ready`.
    pub status: &'static str,
    /// Each check and what it found.
    pub checks: ReadyChecks,
    /// Jobs waiting for a slot.
    pub queued: u64,
    /// Attempts running.
    pub running: u64,
}

/// The checks behind `/readyz`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReadyChecks {
    /// The state database answers.
    pub state_store: Check,
    /// The scheduler loop ticked recently.
    pub scheduler: SchedulerCheck,
    /// The host is not stopping.
    pub accepting: Check,
    /// A policy version is active.
    pub policy: PolicyCheck,
    /// Attempt files can be written.
    pub data_dir: ReasonedCheck,
    /// Each executor, by name: whether it can be reached.
    pub executors: std::collections::BTreeMap<String, ReasonedCheck>,
}

/// A check with nothing to add.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Check {
    /// Whether it passed.
    pub ok: bool,
}

/// The scheduler check.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SchedulerCheck {
    /// Whether it passed.
    pub ok: bool,
    /// Milliseconds since the scheduler loop last ran.
    pub last_tick_ms_ago: u64,
}

/// The policy check.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyCheck {
    /// Whether it passed.
    pub ok: bool,
    /// Digest of the active version.
    pub digest: Option<String>,
}

/// A check that says why it failed: the data directory, an executor.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReasonedCheck {
    /// Whether it passed.
    pub ok: bool,
    /// Why it failed (the probe file could not be written, the executor cannot be reached).
    pub error: Option<String>,
}

/// `GET /healthz`
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "health",
    responses((status = 200, description = "The process answers.", body = Health)),
)]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// `GET /readyz`
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "health",
    responses(
        (status = 200, description = "Ready: every check passed.", body = Readiness),
        (status = 503, description = "Not ready; the checks say why.", body = Readiness),
    ),
)]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let status = state.jobs.engine().status();
    let since_tick = Timestamp::now().since(status.last_tick());
    let scheduler_ok = since_tick < SCHEDULER_STALE_AFTER;
    let store_ok = state.jobs.store_ok().await;
    let accepting = !status.stopping();
    let policy = reef_policy::Policy::info(state.policies.policy().as_ref());
    let policy_ok = policy.digest.is_some();
    let writable = state.jobs.data_dir_writable().await;
    let ready = scheduler_ok && store_ok && accepting && policy_ok && writable.is_ok();
    let executors: std::collections::BTreeMap<String, ReasonedCheck> = state
        .jobs
        .executors()
        .iter()
        .map(|(name, executor)| {
            let health = executor.health();
            let check = ReasonedCheck {
                ok: health.is_ok(),
                error: health.err(),
            };
            (name.to_owned(), check)
        })
        .collect();
    let degraded = executors.values().any(|c| !c.ok);
    let body = Readiness {
        status: match (ready, degraded) {
            (false, _) => "not_ready",
            (true, true) => "degraded",
            (true, false) => "ready",
        },
        checks: ReadyChecks {
            state_store: Check { ok: store_ok },
            scheduler: SchedulerCheck {
                ok: scheduler_ok,
                last_tick_ms_ago: since_tick.as_millis() as u64,
            },
            accepting: Check { ok: accepting },
            policy: PolicyCheck {
                ok: policy_ok,
                digest: policy.digest,
            },
            data_dir: ReasonedCheck {
                ok: writable.is_ok(),
                error: writable.err(),
            },
            executors,
        },
        queued: status.queued(),
        running: status.running(),
    };
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}

/// `GET /metrics`: OpenMetrics text.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "health",
    responses((status = 200, description = "Prometheus metrics in OpenMetrics text.", body = String,
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")),
)]
pub async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    let status = state.jobs.engine().status();
    state.metrics.queue_depth.set(status.queued() as i64);
    state.metrics.running.set(status.running() as i64);
    for (name, executor) in state.jobs.executors().iter() {
        let label = reef_engine::metrics::ExecutorLabel {
            executor: name.to_owned(),
        };
        let up = i64::from(executor.health().is_ok());
        state.metrics.executor_up.get_or_create(&label).set(up);
    }
    let active = reef_policy::Policy::info(state.policies.policy().as_ref());
    state.metrics.policy_info.clear();
    if let Some(digest) = active.digest {
        let labels = reef_engine::metrics::PolicyInfoLabels {
            slot: active.name,
            digest,
        };
        state.metrics.policy_info.get_or_create(&labels).set(1);
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

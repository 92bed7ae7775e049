//! `/healthz` (the process answers) and `/readyz` (it can do its job), each with a JSON body
//! naming its checks.

use super::AppState;
use crate::time::Timestamp;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// The scheduler loop ticks every 500 ms; five seconds without a tick means it is wedged.
const SCHEDULER_STALE_AFTER: Duration = Duration::from_secs(5);

/// `GET /healthz`
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let status = state.jobs.engine().status();
    let since_tick = Timestamp::now().since(status.last_tick());
    let scheduler_ok = since_tick < SCHEDULER_STALE_AFTER;
    let store_ok = state.jobs.store_ok().await;
    let accepting = !status.stopping();
    let policy = crate::policy::Policy::info(state.policies.policy().as_ref());
    let policy_ok = policy.digest.is_some();
    let writable = state.jobs.data_dir_writable().await;
    let ready = scheduler_ok && store_ok && accepting && policy_ok && writable.is_ok();
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": {
            "state_store": {"ok": store_ok},
            "scheduler": {"ok": scheduler_ok, "last_tick_ms_ago": since_tick.as_millis() as u64},
            "accepting": {"ok": accepting},
            "policy": {"ok": policy_ok, "digest": policy.digest},
            "data_dir": {"ok": writable.is_ok(), "error": writable.err()},
        },
        "queued": status.queued(),
        "running": status.running(),
    });
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}

/// `GET /metrics`: OpenMetrics text.
pub async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    let status = state.jobs.engine().status();
    state.metrics.queue_depth.set(status.queued() as i64);
    state.metrics.running.set(status.running() as i64);
    let active = crate::policy::Policy::info(state.policies.policy().as_ref());
    state.metrics.policy_info.clear();
    if let Some(digest) = active.digest {
        let labels = crate::metrics::PolicyInfoLabels {
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

//! Policy registry handlers: upload, list, show, activate, roll back, delete.

use super::problem::Problem;
use super::{AppState, Principal};
use crate::policy::live::CandidateMode;
use crate::policy::registry::{PolicyVersion, SlotState};
use crate::policy::slots::{PolicySlots, SlotView};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use std::sync::Arc;

/// Runs a registry operation (which may compile) off the async workers.
async fn blocking<T: Send + 'static>(
    slots: &Arc<PolicySlots>,
    f: impl FnOnce(&PolicySlots) -> Result<T, crate::policy::slots::PolicyError> + Send + 'static,
) -> Result<T, Problem> {
    let slots = slots.clone();
    tokio::task::spawn_blocking(move || f(&slots))
        .await
        .map_err(|_| {
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "stopping",
                "the host is shutting down",
            )
        })?
        .map_err(Problem::from)
}

/// `GET /v1/policies`
pub async fn list(State(state): State<AppState>) -> Result<Json<serde_json::Value>, Problem> {
    let slots = blocking(&state.policies, |s| s.list()).await?;
    Ok(Json(serde_json::json!({ "policies": slots })))
}

/// `GET /v1/policies/{name}`
pub async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<SlotView>, Problem> {
    Ok(Json(
        blocking(&state.policies, move |s| s.show(&name)).await?,
    ))
}

/// Query of `PUT /v1/policies/{name}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadParams {
    /// Version label (default: the first 12 hex digits of the digest).
    label: Option<String>,
    /// Activate at once when valid.
    #[serde(default)]
    activate: bool,
}

/// `PUT /v1/policies/{name}`: the body is the component. Answers the stored version with its
/// validation report (201), or 422 with the report when validation failed.
pub async fn upload(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<UploadParams>,
    Extension(Principal(by)): Extension<Principal>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<PolicyVersion>), Problem> {
    let body = body?;
    if body.is_empty() {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "empty-body",
            "send the component's bytes as the request body",
        ));
    }
    let version = blocking(&state.policies, move |s| {
        let digest = crate::policy::wasm::digest_of(&body);
        let label = params
            .label
            .unwrap_or_else(|| digest.trim_start_matches("sha256:")[..12].to_owned());
        let version = s.upload(&name, &body, &label, &by)?;
        if params.activate {
            s.activate(&name, &version.digest, &by)?;
        }
        Ok(version)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(version)))
}

/// Body of `POST /v1/policies/{name}/activate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    /// Digest of a stored, valid version.
    digest: String,
}

/// `POST /v1/policies/{name}/activate`
pub async fn activate(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Extension(Principal(by)): Extension<Principal>,
    body: Result<Json<ActivateRequest>, JsonRejection>,
) -> Result<Json<SlotState>, Problem> {
    let Json(request) = body?;
    Ok(Json(
        blocking(&state.policies, move |s| {
            s.activate(&name, &request.digest, &by)
        })
        .await?,
    ))
}

/// `POST /v1/policies/{name}/rollback`
pub async fn rollback(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Extension(Principal(by)): Extension<Principal>,
) -> Result<Json<SlotState>, Problem> {
    Ok(Json(
        blocking(&state.policies, move |s| s.rollback(&name, &by)).await?,
    ))
}

/// `DELETE /v1/policies/{name}/versions/{digest}`
pub async fn delete(
    State(state): State<AppState>,
    Path((name, digest)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    blocking(&state.policies, move |s| s.delete(&name, &digest)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `POST /v1/policies/{name}/shadow`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowRequest {
    /// Digest of a stored, valid version.
    digest: String,
}

/// `POST /v1/policies/{name}/shadow`: the version decides beside the active one, never applied.
pub async fn shadow(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Extension(Principal(by)): Extension<Principal>,
    body: Result<Json<ShadowRequest>, JsonRejection>,
) -> Result<Json<SlotState>, Problem> {
    let Json(request) = body?;
    Ok(Json(
        blocking(&state.policies, move |s| {
            s.trial(&name, &request.digest, CandidateMode::Shadow, &by)
        })
        .await?,
    ))
}

/// Body of `POST /v1/policies/{name}/canary`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryRequest {
    /// Digest of a stored, valid version.
    digest: String,
    /// Share of jobs it decides, 0 to 100.
    percent: u8,
}

/// `POST /v1/policies/{name}/canary`: the version decides for a share of jobs.
pub async fn canary(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Extension(Principal(by)): Extension<Principal>,
    body: Result<Json<CanaryRequest>, JsonRejection>,
) -> Result<Json<SlotState>, Problem> {
    let Json(request) = body?;
    let mode = CandidateMode::Canary {
        percent: request.percent,
    };
    Ok(Json(
        blocking(&state.policies, move |s| {
            s.trial(&name, &request.digest, mode, &by)
        })
        .await?,
    ))
}

/// `POST /v1/policies/{name}/promote`: the candidate on trial becomes active.
pub async fn promote(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Extension(Principal(by)): Extension<Principal>,
) -> Result<Json<SlotState>, Problem> {
    Ok(Json(
        blocking(&state.policies, move |s| s.promote(&name, &by)).await?,
    ))
}

/// `POST /v1/policies/{name}/abort`: the trial ends; the active version is untouched.
pub async fn abort(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Extension(Principal(by)): Extension<Principal>,
) -> Result<Json<SlotState>, Problem> {
    Ok(Json(
        blocking(&state.policies, move |s| s.abort(&name, &by)).await?,
    ))
}

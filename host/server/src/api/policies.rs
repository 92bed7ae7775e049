//! Policy registry handlers: upload, list, show, activate, roll back, delete.

use super::extract::{ComponentBody, Json, Path, Query};
use super::problem::{
    InvalidBody, NoSuchPolicyVersion, NoSuchSlot, Problem, SlotStateConflict, UnreadableJson,
};
use super::{AppState, Principal};
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use reef_core::api::policy::{
    ActivateRequest, CanaryRequest, CandidateMode, PolicyList, PolicyVersion, ShadowRequest,
    SlotState, SlotView,
};
use reef_policy::slots::PolicySlots;
use serde::Deserialize;
use std::sync::Arc;

/// Runs a registry operation (which may compile) off the async workers.
async fn blocking<T: Send + 'static>(
    slots: &Arc<PolicySlots>,
    f: impl FnOnce(&PolicySlots) -> Result<T, reef_policy::slots::PolicyError> + Send + 'static,
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

/// What a call that changes a slot's state asks of the registry: the six such handlers differ
/// only in this.
enum SlotAction {
    Activate(String),
    Rollback,
    Trial(String, CandidateMode),
    Promote,
    Abort,
}

/// Applies `action` to slot `name` on behalf of `by`, and answers the slot's new state.
async fn act(
    state: &AppState,
    name: String,
    by: String,
    action: SlotAction,
) -> Result<Json<SlotState>, Problem> {
    blocking(&state.policies, move |s| match action {
        SlotAction::Activate(digest) => s.activate(&name, &digest, &by),
        SlotAction::Rollback => s.rollback(&name, &by),
        SlotAction::Trial(digest, mode) => s.trial(&name, &digest, mode, &by),
        SlotAction::Promote => s.promote(&name, &by),
        SlotAction::Abort => s.abort(&name, &by),
    })
    .await
    .map(Json)
}

/// `GET /v1/policies`
#[utoipa::path(
    get,
    path = "/v1/policies",
    operation_id = "list_policies",
    tag = "policies",
    responses((status = 200, description = "Every slot: active version, counters, decision times, trial, history and versions.", body = PolicyList)),
)]
pub async fn list(State(state): State<AppState>) -> Result<Json<PolicyList>, Problem> {
    let policies = blocking(&state.policies, |s| s.list()).await?;
    Ok(Json(PolicyList { policies }))
}

/// `GET /v1/policies/{name}`
#[utoipa::path(
    get,
    path = "/v1/policies/{name}",
    operation_id = "show_policy",
    tag = "policies",
    params(("name" = String, Path, description = "Policy slot (`default`).")),
    responses(
        (status = 200, description = "The slot: active version, counters, decision times, trial, history and every stored version with its validation report.", body = SlotView),
        NoSuchSlot,
    ),
)]
pub async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<SlotView>, Problem> {
    Ok(Json(
        blocking(&state.policies, move |s| s.show(&name)).await?,
    ))
}

/// Query of `PUT /v1/policies/{name}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
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
#[utoipa::path(
    put,
    path = "/v1/policies/{name}",
    operation_id = "upload_policy",
    tag = "policies",
    params(("name" = String, Path, description = "Policy slot (`default`)."), UploadParams),
    request_body(content = Component, content_type = "application/wasm",
        description = "The policy component's bytes."),
    responses(
        (status = 201, description = "Stored (by sha256) and valid; active when `activate=true`.", body = PolicyVersion),
        (status = 400, description = "Empty body.", body = Problem, content_type = "application/problem+json"),
        NoSuchSlot,
        (status = 413, description = "Larger than `policy.max_upload`.", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Validation failed; the problem's `version` member holds the stored version with its report.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn upload(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<UploadParams>,
    Extension(Principal(by)): Extension<Principal>,
    ComponentBody(body): ComponentBody,
) -> Result<(StatusCode, Json<PolicyVersion>), Problem> {
    if body.is_empty() {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "empty-body",
            "send the component's bytes as the request body",
        ));
    }
    let version = blocking(&state.policies, move |s| {
        let digest = reef_policy::wasm::digest_of(&body);
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

/// A policy component's bytes (`application/wasm`), as the upload's body.
pub struct Component;

impl utoipa::PartialSchema for Component {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .description(Some("A WebAssembly component implementing reef:policy"))
            .into()
    }
}

impl utoipa::ToSchema for Component {}

/// `POST /v1/policies/{name}/activate`
#[utoipa::path(
    post,
    path = "/v1/policies/{name}/activate",
    operation_id = "activate_policy",
    tag = "policies",
    params(("name" = String, Path, description = "Policy slot (`default`).")),
    request_body = ActivateRequest,
    responses(
        (status = 200, description = "The slot's state: the version is active.", body = SlotState),
        NoSuchPolicyVersion,
        SlotStateConflict,
        InvalidBody,
        UnreadableJson,
    ),
)]
pub async fn activate(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Extension(Principal(by)): Extension<Principal>,
    Json(request): Json<ActivateRequest>,
) -> Result<Json<SlotState>, Problem> {
    act(&state, name, by, SlotAction::Activate(request.digest)).await
}

/// `POST /v1/policies/{name}/rollback`
#[utoipa::path(
    post,
    path = "/v1/policies/{name}/rollback",
    operation_id = "rollback_policy",
    tag = "policies",
    params(("name" = String, Path, description = "Policy slot (`default`).")),
    responses(
        (status = 200, description = "The slot's state: the previous version is active again.", body = SlotState),
        NoSuchPolicyVersion,
        SlotStateConflict,
    ),
)]
pub async fn rollback(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Extension(Principal(by)): Extension<Principal>,
) -> Result<Json<SlotState>, Problem> {
    act(&state, name, by, SlotAction::Rollback).await
}

/// `DELETE /v1/policies/{name}/versions/{digest}`
#[utoipa::path(
    delete,
    path = "/v1/policies/{name}/versions/{digest}",
    operation_id = "delete_policy_version",
    tag = "policies",
    params(
        ("name" = String, Path, description = "Policy slot (`default`)."),
        ("digest" = String, Path, description = "`sha256:<hex>` of the version."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        NoSuchPolicyVersion,
        (status = 409, description = "The version is active.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    Path((name, digest)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    blocking(&state.policies, move |s| s.delete(&name, &digest)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/policies/{name}/shadow`: the version decides beside the active one, never applied.
#[utoipa::path(
    post,
    path = "/v1/policies/{name}/shadow",
    operation_id = "shadow_policy",
    tag = "policies",
    params(("name" = String, Path, description = "Policy slot (`default`).")),
    request_body = ShadowRequest,
    responses(
        (status = 200, description = "The slot's state, with the candidate on trial.", body = SlotState),
        NoSuchPolicyVersion,
        SlotStateConflict,
        InvalidBody,
        UnreadableJson,
    ),
)]
pub async fn shadow(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Extension(Principal(by)): Extension<Principal>,
    Json(request): Json<ShadowRequest>,
) -> Result<Json<SlotState>, Problem> {
    let trial = SlotAction::Trial(request.digest, CandidateMode::Shadow);
    act(&state, name, by, trial).await
}

/// `POST /v1/policies/{name}/canary`: the version decides for a share of jobs.
#[utoipa::path(
    post,
    path = "/v1/policies/{name}/canary",
    operation_id = "canary_policy",
    tag = "policies",
    params(("name" = String, Path, description = "Policy slot (`default`).")),
    request_body = CanaryRequest,
    responses(
        (status = 200, description = "The slot's state, with the candidate on trial.", body = SlotState),
        NoSuchPolicyVersion,
        SlotStateConflict,
        InvalidBody,
        UnreadableJson,
    ),
)]
pub async fn canary(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Extension(Principal(by)): Extension<Principal>,
    Json(request): Json<CanaryRequest>,
) -> Result<Json<SlotState>, Problem> {
    let mode = CandidateMode::Canary {
        percent: request.percent,
    };
    act(&state, name, by, SlotAction::Trial(request.digest, mode)).await
}

/// `POST /v1/policies/{name}/promote`: the candidate on trial becomes active.
#[utoipa::path(
    post,
    path = "/v1/policies/{name}/promote",
    operation_id = "promote_policy",
    tag = "policies",
    params(("name" = String, Path, description = "Policy slot (`default`).")),
    responses(
        (status = 200, description = "The slot's state: the candidate is active.", body = SlotState),
        NoSuchPolicyVersion,
        SlotStateConflict,
    ),
)]
pub async fn promote(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Extension(Principal(by)): Extension<Principal>,
) -> Result<Json<SlotState>, Problem> {
    act(&state, name, by, SlotAction::Promote).await
}

/// `POST /v1/policies/{name}/abort`: the trial ends; the active version is untouched.
#[utoipa::path(
    post,
    path = "/v1/policies/{name}/abort",
    operation_id = "abort_policy",
    tag = "policies",
    params(("name" = String, Path, description = "Policy slot (`default`).")),
    responses(
        (status = 200, description = "The slot's state, without a trial.", body = SlotState),
        NoSuchPolicyVersion,
        SlotStateConflict,
    ),
)]
pub async fn abort(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Extension(Principal(by)): Extension<Principal>,
) -> Result<Json<SlotState>, Problem> {
    act(&state, name, by, SlotAction::Abort).await
}

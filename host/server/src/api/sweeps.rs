//! Sweep handlers: parse, call [`reef_engine::service::JobService`], format.

use super::AppState;
use super::extract::{Json, Query, SweepPath};
use super::jobs::{IdempotencyHeader, idempotency_key_of};
use super::problem::{BodyTooLarge, NoSuchSweep, Problem, UnknownRunner};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use reef_core::api::sweep::{SweepAction, SweepGrid, SweepPage, SweepRequest, SweepView};
use reef_core::sweep::Sweep;
use serde::Deserialize;

/// `POST /v1/sweeps`
#[utoipa::path(
    post,
    path = "/v1/sweeps",
    operation_id = "submit_sweep",
    tag = "sweeps",
    request_body = SweepRequest,
    params(IdempotencyHeader),
    responses(
        (status = 201, description = "The sweep, once it and every job of it are durable.", body = Sweep,
            headers(
                ("location" = String, description = "`/v1/sweeps/{id}`"),
                ("idempotent-replayed" = String, description = "`true` when an earlier request with this key created the sweep"),
            )),
        (status = 400, description = "Malformed JSON or Idempotency-Key.", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body was not sent with `Content-Type: application/json`.", body = Problem, content_type = "application/problem+json"),
        UnknownRunner,
        BodyTooLarge,
        (status = 422, description = "The matrix (empty, repeated values, over the cell limit) or a cell (a parameter, label or tenant, or the policy) was refused, or the Idempotency-Key was used for another request; nothing was created.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(request): Json<SweepRequest>,
) -> Result<Response, Problem> {
    let key = idempotency_key_of(&headers, &request)?;
    let (sweep, replayed) = state.jobs.submit_sweep_once(request, key).await?;
    let location = format!("/v1/sweeps/{}", sweep.id);
    let mut response = (StatusCode::CREATED, Json(sweep)).into_response();
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// Query of `GET /v1/sweeps`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page (a sweep id).
    #[param(pattern = r"^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$")]
    cursor: Option<String>,
}

/// `GET /v1/sweeps`
#[utoipa::path(
    get,
    path = "/v1/sweeps",
    operation_id = "list_sweeps",
    tag = "sweeps",
    params(ListParams),
    responses(
        (status = 200, description = "A page of sweeps, newest first.", body = SweepPage),
        (status = 400, description = "An unknown query parameter, or a limit or cursor that does not parse or is out of range.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Json<SweepPage>, Problem> {
    Ok(Json(state.jobs.sweeps(p.limit, p.cursor).await?))
}

/// `GET /v1/sweeps/{id}`
#[utoipa::path(
    get,
    path = "/v1/sweeps/{id}",
    operation_id = "get_sweep",
    tag = "sweeps",
    params(("id" = String, Path, description = "Sweep id")),
    responses(
        (status = 200, description = "The sweep with its jobs counted by state.", body = SweepView),
        NoSuchSweep,
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    SweepPath(id): SweepPath,
) -> Result<Json<SweepView>, Problem> {
    Ok(Json(state.jobs.sweep(&id).await?))
}

/// `POST /v1/sweeps/{id}/cancel`
#[utoipa::path(
    post,
    path = "/v1/sweeps/{id}/cancel",
    operation_id = "cancel_sweep",
    tag = "sweeps",
    params(("id" = String, Path, description = "Sweep id")),
    responses(
        (status = 200, description = "Every job of the sweep that had not finished was asked to stop (queued ones are cancelled at once, running ones once their processes are gone); `jobs` lists them.", body = SweepAction),
        NoSuchSweep,
    ),
)]
pub async fn cancel(
    State(state): State<AppState>,
    SweepPath(id): SweepPath,
) -> Result<Json<SweepAction>, Problem> {
    Ok(Json(state.jobs.cancel_sweep(&id).await?))
}

/// `POST /v1/sweeps/{id}/retry`
#[utoipa::path(
    post,
    path = "/v1/sweeps/{id}/retry",
    operation_id = "retry_sweep",
    tag = "sweeps",
    params(("id" = String, Path, description = "Sweep id")),
    responses(
        (status = 200, description = "Every failed or cancelled job of the sweep runs again with a fresh attempt budget; `jobs` lists them (none when nothing failed).", body = SweepAction),
        NoSuchSweep,
    ),
)]
pub async fn retry(
    State(state): State<AppState>,
    SweepPath(id): SweepPath,
) -> Result<Json<SweepAction>, Problem> {
    Ok(Json(state.jobs.retry_sweep(&id).await?))
}

/// Query of `GET /v1/sweeps/{id}/grid`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GridParams {
    /// The parameter down the side (default: the matrix's first, in name order).
    rows: Option<String>,
    /// The parameter across the top (default: the matrix's other one, if any).
    cols: Option<String>,
    /// `json` (default) or `csv` (one line per cell).
    #[param(pattern = "^(json|csv)$")]
    format: Option<String>,
}

/// `GET /v1/sweeps/{id}/grid`
#[utoipa::path(
    get,
    path = "/v1/sweeps/{id}/grid",
    operation_id = "sweep_grid",
    tag = "sweeps",
    params(("id" = String, Path, description = "Sweep id"), GridParams),
    responses(
        (status = 200, description = "The sweep's cells by row and column, each its job's state and latest attempt.",
            content((SweepGrid = "application/json"), (String = "text/csv"))),
        (status = 400, description = "An unknown query parameter or format, or rows/cols that are not the matrix's parameters.", body = Problem, content_type = "application/problem+json"),
        NoSuchSweep,
    ),
)]
pub async fn grid(
    State(state): State<AppState>,
    SweepPath(id): SweepPath,
    Query(p): Query<GridParams>,
) -> Result<Response, Problem> {
    let csv = match p.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(reef_engine::service::ServiceError::InvalidQuery(format!(
                "format {other:?} is not json or csv"
            ))
            .into());
        }
    };
    let grid = state.jobs.sweep_grid(&id, p.rows, p.cols).await?;
    Ok(if csv {
        (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            grid.to_csv(),
        )
            .into_response()
    } else {
        Json(grid).into_response()
    })
}

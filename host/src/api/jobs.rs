//! Job and runner handlers: parse, call [`JobService`], format.

use super::AppState;
use super::problem::Problem;
use crate::model::Job;
use crate::service::{
    IdempotencyKey, JobPage, JobView, ListQuery, LogStream, RunnerView, SubmitRequest,
};
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// `POST /v1/jobs`
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<SubmitRequest>, JsonRejection>,
) -> Result<Response, Problem> {
    let Json(request) = body?;
    let key = match headers.get("idempotency-key") {
        Some(value) => Some(idempotency_key(value, &request)?),
        None => None,
    };
    let (job, replayed) = state.jobs.submit_once(request, key).await?;
    let location = format!("/v1/jobs/{}", job.id);
    let mut response = (StatusCode::CREATED, Json(job)).into_response();
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

/// Longest accepted `Idempotency-Key`.
const MAX_KEY_LEN: usize = 255;

fn idempotency_key(
    value: &HeaderValue,
    request: &SubmitRequest,
) -> Result<IdempotencyKey, Problem> {
    let key = value
        .to_str()
        .ok()
        .filter(|k| {
            !k.is_empty() && k.len() <= MAX_KEY_LEN && k.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid-idempotency-key",
                format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
            )
        })?;
    // The parsed request, re-serialised, so formatting differences do not count as a change.
    let canonical = serde_json::to_vec(request).unwrap_or_default();
    use sha2::Digest;
    Ok(IdempotencyKey {
        key: key.to_owned(),
        body_sha256: format!("{:x}", sha2::Sha256::digest(&canonical)),
    })
}

/// Query of `GET /v1/jobs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    state: Option<String>,
    runner: Option<String>,
    label: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /v1/jobs`
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<JobPage>, Problem> {
    let Query(p) = query?;
    let page = state
        .jobs
        .list(ListQuery {
            state: p.state,
            runner: p.runner,
            label: p.label,
            limit: p.limit,
            cursor: p.cursor,
        })
        .await?;
    Ok(Json(page))
}

/// `GET /v1/jobs/{id}`
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, Problem> {
    Ok(Json(state.jobs.get(&id).await?))
}

/// `POST /v1/jobs/{id}/cancel`
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Job>, Problem> {
    Ok(Json(state.jobs.cancel(&id).await?))
}

/// `POST /v1/jobs/{id}/retry`: runs a failed or cancelled job again (409 otherwise).
pub async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Job>, Problem> {
    Ok(Json(state.jobs.retry(&id).await?))
}

/// Query of `GET /v1/jobs/{id}/logs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogParams {
    stream: Option<LogStream>,
    offset: Option<u64>,
    attempt: Option<u32>,
}

/// `GET /v1/jobs/{id}/logs`: plain text from `offset`; `X-Reef-Log-Size` tells the file's size so
/// a follower knows where to continue.
pub async fn logs(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<LogParams>, QueryRejection>,
) -> Result<Response, Problem> {
    let Query(p) = query?;
    let (bytes, size) = state
        .jobs
        .logs(
            &id,
            p.stream.unwrap_or(LogStream::Stdout),
            p.offset.unwrap_or(0),
            p.attempt,
        )
        .await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert("x-reef-log-size", HeaderValue::from(size));
    Ok((headers, bytes).into_response())
}

/// `GET /v1/jobs/{id}/result`
pub async fn result(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, Problem> {
    Ok(Json(state.jobs.result(&id).await?))
}

/// `GET /v1/runners`
pub async fn runners(State(state): State<AppState>) -> Json<Vec<RunnerView>> {
    Json(state.jobs.runners())
}

/// `GET /v1/jobs/{id}/events`
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, Problem> {
    let events = state.jobs.events(&id).await?;
    Ok(Json(serde_json::json!({ "events": events })))
}

//! Job and runner handlers: parse, call [`JobService`], format.

use super::AppState;
use super::extract::{JobPath, Json, Query};
use super::problem::{BodyTooLarge, InvalidQuery, NoSuchJob, Problem, UnknownRunner};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use reef_core::api::{JobPage, JobView, LogStream, RunnerView, SubmitRequest};
use reef_core::lifecycle::JobEvent;
use reef_core::model::Job;
use reef_engine::service::{IdempotencyKey, ListQuery};
use serde::{Deserialize, Serialize};

/// `POST /v1/jobs`
#[utoipa::path(
    post,
    path = "/v1/jobs",
    operation_id = "submit_job",
    tag = "jobs",
    request_body = SubmitRequest,
    params(IdempotencyHeader),
    responses(
        (status = 201, description = "The job, once it is durable.", body = Job,
            headers(
                ("location" = String, description = "`/v1/jobs/{id}`"),
                ("idempotent-replayed" = String, description = "`true` when an earlier request with this key created the job"),
            )),
        (status = 400, description = "Malformed JSON or Idempotency-Key.", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body was not sent with `Content-Type: application/json`.", body = Problem, content_type = "application/problem+json"),
        UnknownRunner,
        BodyTooLarge,
        (status = 422, description = "A parameter, label or tenant was refused, the policy rejected the job, or the Idempotency-Key was used for another request.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(request): Json<SubmitRequest>,
) -> Result<Response, Problem> {
    let key = idempotency_key_of(&headers, &request)?;
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

/// The `Idempotency-Key` header, as documented for the calls that honour it.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // only its documentation is used; handlers read the header map
pub struct IdempotencyHeader {
    /// A replay with the same key and body returns what the first request created (the job, or
    /// the sweep); the same key with another body is refused (422). 1 to 255 visible ASCII characters (anything else is a 400).
    #[param(
        rename = "Idempotency-Key",
        pattern = r"^[\x21-\x7E]{1,255}$",
        min_length = 1,
        max_length = 255
    )]
    idempotency_key: Option<String>,
}

/// Reads an `Idempotency-Key` header, if any, for `request` (a job's or a sweep's).
pub(super) fn idempotency_key_of(
    headers: &HeaderMap,
    request: &impl Serialize,
) -> Result<Option<IdempotencyKey>, Problem> {
    headers
        .get("idempotency-key")
        .map(|value| idempotency_key(value, request))
        .transpose()
}

fn idempotency_key(
    value: &HeaderValue,
    request: &impl Serialize,
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
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only jobs in this state: `queued`, `running`, `retry_wait`, `succeeded`, `failed`,
    /// `cancelled`.
    #[param(inline, value_type = Option<reef_core::lifecycle::JobState>)]
    state: Option<String>,
    /// Only jobs of this runner.
    runner: Option<String>,
    /// Only jobs with this label, `key=value`.
    #[param(pattern = r"^[^=]*=[\s\S]*$")]
    label: Option<String>,
    /// Page size, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page (a job id).
    #[param(pattern = r"^[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$")]
    cursor: Option<String>,
}

/// `GET /v1/jobs`
#[utoipa::path(
    get,
    path = "/v1/jobs",
    operation_id = "list_jobs",
    tag = "jobs",
    params(ListParams),
    responses(
        (status = 200, description = "A page of jobs, newest first.", body = JobPage),
        (status = 400, description = "An unknown query parameter, or a filter, limit or cursor that does not parse or is out of range.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Json<JobPage>, Problem> {
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
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}",
    operation_id = "get_job",
    tag = "jobs",
    params(("id" = String, Path, description = "Job id (a ULID).")),
    responses(
        (status = 200, description = "The job with its attempts and latest result.", body = JobView),
        NoSuchJob,
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    JobPath(id): JobPath,
) -> Result<Json<JobView>, Problem> {
    Ok(Json(state.jobs.get(&id).await?))
}

/// `POST /v1/jobs/{id}/cancel`
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/cancel",
    operation_id = "cancel_job",
    tag = "jobs",
    params(("id" = String, Path, description = "Job id (a ULID).")),
    responses(
        (status = 200, description = "The job after the request: queued jobs are cancelled at once, running ones once their processes are gone (`cancel_requested` until then). Idempotent.", body = Job),
        NoSuchJob,
    ),
)]
pub async fn cancel(
    State(state): State<AppState>,
    JobPath(id): JobPath,
) -> Result<Json<Job>, Problem> {
    Ok(Json(state.jobs.cancel(&id).await?))
}

/// `POST /v1/jobs/{id}/retry`: runs a failed or cancelled job again (409 otherwise).
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/retry",
    operation_id = "retry_job",
    tag = "jobs",
    params(("id" = String, Path, description = "Job id (a ULID).")),
    responses(
        (status = 200, description = "The job, queued again with a fresh attempt budget.", body = Job),
        NoSuchJob,
        (status = 409, description = "The job is not failed or cancelled.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn retry(
    State(state): State<AppState>,
    JobPath(id): JobPath,
) -> Result<Json<Job>, Problem> {
    Ok(Json(state.jobs.retry(&id).await?))
}

/// Query of `GET /v1/jobs/{id}/logs`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogParams {
    /// `stdout` (default) or `stderr`.
    #[param(inline)]
    stream: Option<LogStream>,
    /// First byte to return (default 0).
    offset: Option<u64>,
    /// Attempt number (default: the latest).
    attempt: Option<u32>,
}

/// `GET /v1/jobs/{id}/logs`: plain text from `offset`; `X-Reef-Log-Size` tells the file's size so
/// a follower knows where to continue.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/logs",
    operation_id = "job_logs",
    tag = "jobs",
    params(("id" = String, Path, description = "Job id (a ULID)."), LogParams),
    responses(
        (status = 200, description = "Log bytes from `offset`, at most 4 MiB; continue from `offset` + their length.", body = String, content_type = "text/plain; charset=utf-8",
            headers(("x-reef-log-size" = u64, description = "Current size of the log file in bytes."))),
        InvalidQuery,
        (status = 404, description = "No such job, or it has no such attempt yet.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn logs(
    State(state): State<AppState>,
    JobPath(id): JobPath,
    Query(p): Query<LogParams>,
) -> Result<Response, Problem> {
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
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/result",
    operation_id = "job_result",
    tag = "jobs",
    params(("id" = String, Path, description = "Job id (a ULID).")),
    responses(
        (status = 200, description = "The result JSON of the latest attempt that produced one, as the runner wrote it.", body = Object),
        (status = 404, description = "No such job, or no result yet.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn result(
    State(state): State<AppState>,
    JobPath(id): JobPath,
) -> Result<Json<serde_json::Value>, Problem> {
    Ok(Json(state.jobs.result(&id).await?))
}

/// `GET /v1/runners`
#[utoipa::path(
    get,
    path = "/v1/runners",
    operation_id = "list_runners",
    tag = "runners",
    responses((status = 200, description = "The configured runners.", body = Vec<RunnerView>)),
)]
pub async fn runners(State(state): State<AppState>) -> Json<Vec<RunnerView>> {
    Json(state.jobs.runners())
}

/// The answer of `GET /v1/jobs/{id}/events`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JobEvents {
    /// The job's transitions, oldest first.
    pub events: Vec<JobEvent>,
}

/// `GET /v1/jobs/{id}/events`
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/events",
    operation_id = "job_events",
    tag = "jobs",
    params(("id" = String, Path, description = "Job id (a ULID).")),
    responses(
        (status = 200, description = "The job's transitions, each naming the policy digest (or `native`) that decided it.", body = JobEvents),
        NoSuchJob,
    ),
)]
pub async fn events(
    State(state): State<AppState>,
    JobPath(id): JobPath,
) -> Result<Json<JobEvents>, Problem> {
    let events = state.jobs.events(&id).await?;
    Ok(Json(JobEvents { events }))
}

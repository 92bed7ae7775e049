//! `POST /v1/runners/{name}/invoke?wait=30s`: a serverless-style synchronous call. The body is
//! the parameters; the host submits a job for the runner and answers with its result when it
//! finishes within `wait` (200), or with the job and its `Location` when it does not (202).

use super::AppState;
use super::extract::{Body, Json, Path, Query};
use super::jobs::{IdempotencyHeader, idempotency_key_of};
use super::problem::{BodyTooLarge, Problem, UnknownRunner};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use reef_core::api::{JobView, SubmitRequest};
use serde::Deserialize;
use std::time::Duration;

/// How long an invoke waits when the caller does not say.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);
/// The longest wait a caller may ask for: beyond it, a caller should follow the job instead of
/// holding a connection (and a server task) open.
pub const MAX_WAIT: Duration = Duration::from_secs(10 * 60);

/// The `wait` values accepted: one whole number of milliseconds, seconds or minutes, at most
/// [`MAX_WAIT`]. The OpenAPI document states the same pattern, so the two cannot disagree (a
/// test compares them).
pub const WAIT_PATTERN: &str =
    r"^(([0-9]{1,5}|[1-5][0-9]{5}|600000)ms|([0-9]{1,2}|[1-5][0-9]{2}|600)s|([0-9]|10)m)$";

static WAIT: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(WAIT_PATTERN).unwrap_or_else(|e| unreachable!("WAIT_PATTERN: {e}"))
});

/// Query of `POST /v1/runners/{name}/invoke`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InvokeParams {
    /// How long to wait for the job to finish: a whole number of `ms`, `s` or `m`, e.g. `30s`,
    /// `2m`, `1500ms` (default 30s, at most 10m; `0s` answers at once; anything else is a 400).
    #[param(
        pattern = r"^(([0-9]{1,5}|[1-5][0-9]{5}|600000)ms|([0-9]{1,2}|[1-5][0-9]{2}|600)s|([0-9]|10)m)$"
    )]
    wait: Option<String>,
}

/// Why a `wait` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    /// Not a duration of the accepted form.
    #[error("wait {given:?} is not a whole number of ms, s or m, like 30s, 2m or 1500ms")]
    Unparsable {
        /// The value as given.
        given: String,
    },
    /// Longer than [`MAX_WAIT`].
    #[error("wait {given:?} is longer than the maximum of {max}")]
    TooLong {
        /// The value as given.
        given: String,
        /// The maximum, formatted.
        max: String,
    },
}

/// Parses the `wait` query value ([`WAIT_PATTERN`]), [`DEFAULT_WAIT`] when absent.
pub fn parse_wait(given: Option<&str>) -> Result<Duration, WaitError> {
    let Some(given) = given else {
        return Ok(DEFAULT_WAIT);
    };
    let parsed = humantime::parse_duration(given);
    match parsed {
        Ok(wait) if WAIT.is_match(given) => Ok(wait),
        Ok(wait) if wait > MAX_WAIT => Err(WaitError::TooLong {
            given: given.to_owned(),
            max: humantime::format_duration(MAX_WAIT).to_string(),
        }),
        _ => Err(WaitError::Unparsable {
            given: given.to_owned(),
        }),
    }
}

impl From<WaitError> for Problem {
    fn from(e: WaitError) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "invalid-wait", e.to_string())
    }
}

/// The body: a JSON object of parameters, like `params` of a submit. An empty body means no
/// parameters. The content type is not checked, so `curl -d '{...}'` works as is.
fn params_of(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, Problem> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-request",
                format!("the body must be a JSON object of parameters: {e}"),
            )
        } else {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "malformed-json",
                format!("the body is not valid JSON: {e}"),
            )
        }
    })
}

/// `POST /v1/runners/{name}/invoke`
#[utoipa::path(
    post,
    path = "/v1/runners/{name}/invoke",
    operation_id = "invoke_runner",
    tag = "runners",
    params(
        ("name" = String, Path, description = "Runner name."),
        InvokeParams,
        IdempotencyHeader,
    ),
    request_body(
        content = BTreeMap<String, serde_json::Value>,
        description = "The parameters, as `params` of `POST /v1/jobs` (an empty body means none).",
    ),
    responses(
        (status = 200, description = "The job finished (succeeded, failed or cancelled) within `wait`: the job with its attempts and `result`.", body = JobView),
        (status = 202, description = "The job did not finish within `wait`; follow it at `Location`.", body = JobView,
            headers(("location" = String, description = "`/v1/jobs/{id}`"))),
        (status = 400, description = "Malformed JSON, Idempotency-Key or `wait` (not a duration, or longer than 10m).", body = Problem, content_type = "application/problem+json"),
        UnknownRunner,
        BodyTooLarge,
        (status = 422, description = "A parameter was refused, the policy rejected the job, or the Idempotency-Key was used for another request.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn invoke(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<InvokeParams>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, Problem> {
    let wait = parse_wait(query.wait.as_deref())?;
    let request = SubmitRequest {
        runner: name,
        params: params_of(&body)?,
        labels: Default::default(),
        priority: None,
        tenant: None,
    };
    let key = idempotency_key_of(&headers, &request)?;
    let (job, replayed) = state.jobs.submit_once(request, key).await?;
    let view = state.jobs.wait_finished(&job.id, wait).await?;
    let finished = view.job.state.is_terminal();
    let status = if finished {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let location = format!("/v1/jobs/{}", view.job.id);
    let mut response = (status, Json(view)).into_response();
    if !finished && let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_defaults_parses_and_is_capped() {
        assert_eq!(parse_wait(None), Ok(DEFAULT_WAIT));
        assert_eq!(parse_wait(Some("0s")), Ok(Duration::ZERO));
        assert_eq!(parse_wait(Some("1500ms")), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_wait(Some("150s")), Ok(Duration::from_secs(150)));
        assert_eq!(parse_wait(Some("10m")), Ok(MAX_WAIT));
        assert_eq!(parse_wait(Some("600000ms")), Ok(MAX_WAIT));
        for long in ["11m", "601s", "600001ms", "1h"] {
            assert!(
                matches!(parse_wait(Some(long)), Err(WaitError::TooLong { .. })),
                "{long}"
            );
        }
        for bad in [
            "",
            "soon",
            "30",
            "-1s",
            "1 fortnight",
            " 30s",
            "30s ",
            "2m 30s",
            "1.5s",
            "99999999999999999999999s",
        ] {
            assert!(
                matches!(
                    parse_wait(Some(bad)),
                    Err(WaitError::Unparsable { .. } | WaitError::TooLong { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_wait_problem_is_a_400_that_names_the_value() {
        let problem = Problem::from(parse_wait(Some("soon")).unwrap_err());
        assert_eq!(problem.status, 400);
        assert!(problem.detail.contains("\"soon\""), "{}", problem.detail);
    }

    #[test]
    fn the_body_is_an_object_of_parameters() {
        assert!(params_of(b"").unwrap().is_empty());
        assert!(params_of(b" \n").unwrap().is_empty());
        let params = params_of(br#"{"benchmark": "a.yml", "n": 3}"#).unwrap();
        assert_eq!(params["benchmark"], "a.yml");
        assert_eq!(params_of(b"[1]").unwrap_err().status, 422);
        assert_eq!(params_of(b"{\"a\": ").unwrap_err().status, 400);
    }
}

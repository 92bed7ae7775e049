//! RFC 9457 problem details: every error the API returns is `application/problem+json` with a
//! `detail` that names what is wrong.

use crate::auth::AuthError;
use axum::Json;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use reef_engine::service::ServiceError;
use reef_policy::slots::PolicyError;
use serde::Serialize;

/// An error response (RFC 9457 problem details), sent as `application/problem+json`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short, fixed summary of the kind.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What exactly went wrong.
    pub detail: String,
    /// Problem-specific members (RFC 9457 extensions), e.g. a validation report. They sit
    /// beside the standard members, so the schema leaves additional properties open.
    #[serde(flatten)]
    #[schema(ignore)]
    pub extensions: Box<serde_json::Map<String, serde_json::Value>>,
}

impl Problem {
    /// A problem with `status`, a kind slug and a detail.
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("https://reef.dev/problems/{kind}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            extensions: Box::default(),
        }
    }

    /// Adds an extension member.
    pub fn with(mut self, key: &str, value: impl serde::Serialize) -> Self {
        self.extensions.insert(
            key.to_owned(),
            serde_json::to_value(value).unwrap_or(serde_json::Value::Null),
        );
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let unauthorized = status == StatusCode::UNAUTHORIZED;
        let mut response = (status, Json(self)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if unauthorized {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

// The problem responses that several operations document alike: each is a type that
// `#[utoipa::path]` lists in `responses(...)` beside the operation's own responses. They only
// document; handlers answer with `Problem`.

/// 400 on a query that does not parse.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 400,
    description = "Invalid query.",
    content_type = "application/problem+json"
)]
pub struct InvalidQuery(pub Problem);

/// 404 on a job id that names no job.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 404,
    description = "No such job.",
    content_type = "application/problem+json"
)]
pub struct NoSuchJob(pub Problem);

/// 404 on a sweep id that names no sweep.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 404,
    description = "No such sweep.",
    content_type = "application/problem+json"
)]
pub struct NoSuchSweep(pub Problem);

/// 404 on a runner name that names no configured runner.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 404,
    description = "Unknown runner.",
    content_type = "application/problem+json"
)]
pub struct UnknownRunner(pub Problem);

/// 413 on a JSON body over `server.max_body`.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 413,
    description = "Body larger than `server.max_body`.",
    content_type = "application/problem+json"
)]
pub struct BodyTooLarge(pub Problem);

/// 422 on a JSON body that does not have the expected shape.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 422,
    description = "Invalid request body.",
    content_type = "application/problem+json"
)]
pub struct InvalidBody(pub Problem);

/// 400 and 415 on a JSON body that cannot be read: not JSON, or not sent as
/// `Content-Type: application/json`.
#[derive(utoipa::IntoResponses)]
pub enum UnreadableJson {
    /// Not JSON.
    #[response(
        status = 400,
        description = "The body is not JSON.",
        content_type = "application/problem+json"
    )]
    Malformed(Problem),
    /// Not sent as JSON.
    #[response(
        status = 415,
        description = "The body was not sent with `Content-Type: application/json`.",
        content_type = "application/problem+json"
    )]
    NotJson(Problem),
}

/// 404 on a policy slot name that names no slot.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 404,
    description = "No such slot.",
    content_type = "application/problem+json"
)]
pub struct NoSuchSlot(pub Problem);

/// 404 on a policy slot or version digest that names nothing stored.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 404,
    description = "No such slot or version.",
    content_type = "application/problem+json"
)]
pub struct NoSuchPolicyVersion(pub Problem);

/// 409 on a slot change that the slot's state does not allow.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 409,
    description = "The slot's state does not allow it (not valid, active, no history or no trial).",
    content_type = "application/problem+json"
)]
pub struct SlotStateConflict(pub Problem);

impl From<ServiceError> for Problem {
    fn from(e: ServiceError) -> Self {
        let (status, kind) = match &e {
            ServiceError::UnknownRunner(_) => (StatusCode::NOT_FOUND, "unknown-runner"),
            ServiceError::Param(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid-param"),
            ServiceError::InvalidQuery(_) => (StatusCode::BAD_REQUEST, "invalid-query"),
            ServiceError::Invalid(_) | ServiceError::InvalidField { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid-request")
            }
            ServiceError::Rejected(_) => (StatusCode::UNPROCESSABLE_ENTITY, "rejected"),
            ServiceError::InvalidMatrix { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid-matrix")
            }
            ServiceError::NoJob(_) => (StatusCode::NOT_FOUND, "no-such-job"),
            ServiceError::NoSweep(_) => (StatusCode::NOT_FOUND, "no-such-sweep"),
            ServiceError::NotAvailable(_) => (StatusCode::NOT_FOUND, "not-available"),
            ServiceError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "store-unavailable"),
            ServiceError::Stopping => (StatusCode::SERVICE_UNAVAILABLE, "stopping"),
            ServiceError::Conflict(_) => (StatusCode::CONFLICT, "state-conflict"),
            ServiceError::KeyReused(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused")
            }
        };
        if matches!(e, ServiceError::Store(_)) {
            tracing::error!(error = %e, "request failed in the state store");
        }
        let problem = Problem::new(status, kind, e.to_string());
        match e.field() {
            Some(field) => problem.with("field", field),
            None => problem,
        }
    }
}

impl From<PolicyError> for Problem {
    fn from(e: PolicyError) -> Self {
        let (status, kind) = match &e {
            PolicyError::NoSlot(_) | PolicyError::NoVersion { .. } => {
                (StatusCode::NOT_FOUND, "no-such-policy")
            }
            PolicyError::Rejected(_) => (StatusCode::UNPROCESSABLE_ENTITY, "policy-rejected"),
            PolicyError::BadPercent(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid-request"),
            PolicyError::NotValid(_)
            | PolicyError::Active(_)
            | PolicyError::NoHistory(_)
            | PolicyError::NoTrial(_) => (StatusCode::CONFLICT, "policy-conflict"),
            PolicyError::Load { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "policy-load"),
            PolicyError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "store-unavailable"),
        };
        let problem = Problem::new(status, kind, e.to_string());
        match e {
            PolicyError::Rejected(version) => problem.with("version", *version),
            _ => problem,
        }
    }
}

impl From<AuthError> for Problem {
    fn from(e: AuthError) -> Self {
        let status = match e {
            AuthError::Forbidden { .. } => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        };
        Problem::new(status, "unauthorized", e.to_string())
    }
}

impl From<JsonRejection> for Problem {
    fn from(r: JsonRejection) -> Self {
        let (kind, detail) = match &r {
            JsonRejection::JsonSyntaxError(_) => (
                "malformed-json",
                format!("the body is not valid JSON: {}", source_text(&r)),
            ),
            JsonRejection::JsonDataError(_) => (
                "invalid-request",
                format!(
                    "the body does not have the expected shape: {}",
                    source_text(&r)
                ),
            ),
            JsonRejection::MissingJsonContentType(_) => (
                "unsupported-media-type",
                "send the body with Content-Type: application/json".to_owned(),
            ),
            JsonRejection::BytesRejection(_) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => (
                "body-too-large",
                "the request body is larger than the configured server.max_body".to_owned(),
            ),
            _ => ("bad-request", r.body_text()),
        };
        Problem::new(r.status(), kind, detail)
    }
}

impl From<BytesRejection> for Problem {
    fn from(r: BytesRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(
                r.status(),
                "body-too-large",
                "the request body is larger than the configured server.max_body",
            )
        } else {
            Problem::new(r.status(), "bad-request", r.body_text())
        }
    }
}

impl From<QueryRejection> for Problem {
    fn from(r: QueryRejection) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "invalid-query", r.body_text())
    }
}

/// The innermost error message, which for serde names the field and position.
fn source_text(r: &JsonRejection) -> String {
    let mut err: &dyn std::error::Error = r;
    while let Some(source) = err.source() {
        err = source;
    }
    err.to_string()
}

//! The extractors the handlers use: axum's, with every rejection turned into a [`Problem`].
//!
//! axum answers a path, query or body it cannot extract with `text/plain`. Handlers take these
//! wrappers instead, so every such answer is `application/problem+json` with a `detail` that
//! names what is wrong (and [`super::problem_only`] catches anything that slips past).

use super::problem::Problem;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use reef_core::job_id::JobId;
use reef_engine::service::ServiceError;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::time::Duration;

/// `server.body_timeout`, put on every request by the router: how long reading a whole body
/// may take. hyper bounds the head; this bounds the body, however slowly it trickles in.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

/// Runs `read` (which reads the body) within `timeout`.
async fn with_timeout<T>(
    timeout: Option<BodyTimeout>,
    read: impl Future<Output = Result<T, Problem>>,
) -> Result<T, Problem> {
    let Some(BodyTimeout(limit)) = timeout else {
        return read.await;
    };
    tokio::time::timeout(limit, read).await.unwrap_or_else(|_| {
        Err(Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "body-timeout",
            format!(
                "the request body did not arrive within {} (server.body_timeout)",
                humantime::format_duration(limit)
            ),
        ))
    })
}

/// A JSON body (`Content-Type: application/json`); as an answer, JSON.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        let timeout = request.extensions().get::<BodyTimeout>().copied();
        let read = async move {
            let axum::Json(value) = axum::Json::<T>::from_request(request, state).await?;
            Ok(Self(value))
        };
        with_timeout(timeout, read).await
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// A query string, parsed into `T` (unknown parameters are refused where `T` says so).
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// Path parameters, parsed into `T`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(path_problem(&rejection)),
        }
    }
}

/// A job id from the path (`/v1/jobs/{id}/...`). Text that is not a job id names no job: 404,
/// as an id that was never issued.
#[derive(Debug, Clone)]
pub struct JobPath(pub JobId);

impl<S> FromRequestParts<S> for JobPath
where
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let Path(text) = Path::<String>::from_request_parts(parts, state).await?;
        JobId::parse(&text)
            .map(Self)
            .map_err(|_| ServiceError::NoJob(text).into())
    }
}

/// A sweep id from the path (`/v1/sweeps/{id}`). Text that is not a sweep id names no sweep:
/// 404, as an id that was never issued.
#[derive(Debug, Clone)]
pub struct SweepPath(pub reef_core::sweep::SweepId);

impl<S> FromRequestParts<S> for SweepPath
where
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let Path(text) = Path::<String>::from_request_parts(parts, state).await?;
        JobId::parse(&text)
            .map(Self)
            .map_err(|_| ServiceError::NoSweep(text).into())
    }
}

fn path_problem(rejection: &PathRejection) -> Problem {
    match rejection {
        PathRejection::FailedToDeserializePathParams(inner) => Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-path",
            format!("the path is not valid here: {}", inner.body_text()),
        ),
        // A route declared without the parameter its handler reads: a bug of the host.
        other => Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            other.body_text(),
        ),
    }
}

/// A raw body of at most `server.max_body` bytes (the route's body limit).
#[derive(Debug, Clone, Default)]
pub struct Body(pub axum::body::Bytes);

impl<S> FromRequest<S> for Body
where
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        let timeout = request.extensions().get::<BodyTimeout>().copied();
        let read = async move {
            let bytes = axum::body::Bytes::from_request(request, state).await?;
            Ok(Self(bytes))
        };
        with_timeout(timeout, read).await
    }
}

/// A policy component upload of at most `policy.max_upload` bytes.
#[derive(Debug, Clone, Default)]
pub struct ComponentBody(pub axum::body::Bytes);

impl<S> FromRequest<S> for ComponentBody
where
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        match Body::from_request(request, state).await {
            Ok(Body(bytes)) => Ok(Self(bytes)),
            // The upload route's own limit: say which one.
            Err(problem) if problem.status == StatusCode::PAYLOAD_TOO_LARGE.as_u16() => {
                Err(Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body-too-large",
                    "the component is larger than policy.max_upload",
                ))
            }
            Err(problem) => Err(problem),
        }
    }
}

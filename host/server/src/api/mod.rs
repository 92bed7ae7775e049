//! The HTTP API (v1): routing, authentication and the thin handlers over [`JobService`].

mod config;
mod console;
mod events;
pub mod extract;
mod health;
mod invoke;
mod jobs;
pub mod openapi;
mod openapi_finish;
mod policies;
pub mod problem;
mod results;
mod sweeps;
#[cfg(test)]
mod tests;
mod whoami;

use crate::auth::{Authenticator, Scope};
use crate::config_reload::ConfigReloader;
use arc_swap::ArcSwap;
use axum::Extension;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use problem::Problem;
use reef_engine::metrics::{HttpLabels, Metrics};
use reef_engine::service::JobService;
use reef_policy::slots::PolicySlots;
use std::sync::Arc;
use utoipa::openapi::security::SecurityRequirement;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The job operations.
    pub jobs: Arc<JobService>,
    /// Policy versions and activation.
    pub policies: Arc<PolicySlots>,
    /// Token checks (replaced by a config reload).
    pub auth: Arc<ArcSwap<Authenticator>>,
    /// What `/metrics` exposes.
    pub metrics: Arc<Metrics>,
    /// Applies the config file again.
    pub reloader: Arc<ConfigReloader>,
}

/// Who made a request: the token's name, or `anonymous` when no tokens are configured.
#[derive(Debug, Clone)]
pub struct Principal(pub String);

/// How large request bodies may be, and how long they may take to arrive.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Largest body of any request but a policy upload (`server.max_body`).
    pub max_body: usize,
    /// Largest policy upload (`policy.max_upload`).
    pub max_upload: usize,
    /// Time to receive a whole body (`server.body_timeout`).
    pub body_timeout: std::time::Duration,
}

/// The whole API, with its body limits.
pub fn router(state: AppState, limits: BodyLimits) -> Router {
    let BodyLimits {
        max_body,
        max_upload,
        body_timeout,
    } = limits;
    let (routes, _) = declared(max_upload).split_for_parts();
    routes
        .merge(console::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(Extension(extract::BodyTimeout(body_timeout)))
        .layer(Extension(state.auth.clone()))
        .layer(middleware::from_fn(problem_only))
        .layer(middleware::from_fn_with_state(state.clone(), count_request))
        .with_state(state)
}

/// Every route of the API, once: each handler with the scope it needs. The router and the
/// OpenAPI document ([`openapi::document`]) are both made from this, so neither can list a route
/// the other lacks, and an operation's documented security is the gate in front of it.
pub(crate) fn declared(max_upload: usize) -> OpenApiRouter<AppState> {
    let read = OpenApiRouter::default()
        .routes(routes!(jobs::list))
        .routes(routes!(jobs::get))
        .routes(routes!(jobs::logs))
        .routes(routes!(jobs::result))
        .routes(routes!(jobs::events))
        .routes(routes!(events::stream))
        .routes(routes!(jobs::runners))
        .routes(routes!(whoami::whoami))
        .routes(routes!(results::runner))
        .routes(routes!(results::results))
        .routes(routes!(sweeps::list))
        .routes(routes!(sweeps::get))
        .routes(routes!(sweeps::grid))
        .routes(routes!(policies::list))
        .routes(routes!(policies::show));
    let submit = OpenApiRouter::default()
        .routes(routes!(jobs::submit))
        .routes(routes!(sweeps::submit))
        .routes(routes!(sweeps::cancel))
        .routes(routes!(sweeps::retry))
        .routes(routes!(jobs::cancel))
        .routes(routes!(jobs::retry))
        .routes(routes!(invoke::invoke));
    let admin = OpenApiRouter::default()
        .routes(routes!(policies::upload).layer(DefaultBodyLimit::max(max_upload)))
        .routes(routes!(config::reload))
        .routes(routes!(policies::activate))
        .routes(routes!(policies::rollback))
        .routes(routes!(policies::shadow))
        .routes(routes!(policies::canary))
        .routes(routes!(policies::promote))
        .routes(routes!(policies::abort))
        .routes(routes!(policies::delete));
    let open = OpenApiRouter::default()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .routes(routes!(openapi::serve));
    gated(Scope::Read, read)
        .merge(gated(Scope::Submit, submit))
        .merge(gated(Scope::Admin, admin))
        .merge(open)
}

/// `routes` behind the gate of `scope`, and documented as needing it.
fn gated(scope: Scope, routes: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    let mut routes = routes.route_layer(middleware::from_fn_with_state(scope, gate));
    let requirement = SecurityRequirement::new("bearer", [scope.as_str()]);
    for item in routes.get_openapi_mut().paths.paths.values_mut() {
        for operation in openapi::operations_mut(item) {
            operation.security = Some(vec![requirement.clone()]);
        }
    }
    routes
}

/// Every error answer is a problem or a JSON document of its own (`/readyz`'s 503): one in plain
/// text or without a body (a rejection of a layer, or of an extractor a handler forgot to wrap)
/// becomes a problem, its text as the detail.
async fn problem_only(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    tracing::debug!(%status, text, "an error answer that was not a problem was made one");
    let detail = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    let mut problem = Problem::new(status, "http", detail).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().insert(name.clone(), value.clone());
        }
    }
    problem
}

/// The token check in front of the routes of one scope; the caller's name goes on the request.
async fn gate(
    State(scope): State<Scope>,
    Extension(auth): Extension<Arc<ArcSwap<Authenticator>>>,
    mut request: Request,
    next: Next,
) -> Response {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match auth.load().caller(header, scope) {
        Ok(caller) => {
            let name = caller
                .name
                .clone()
                .unwrap_or_else(|| "anonymous".to_owned());
            request.extensions_mut().insert(Principal(name));
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(e) => Problem::from(e).into_response(),
    }
}

/// Counts every answered request by route template, method and status.
async fn count_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let labels = HttpLabels {
        route,
        method,
        status: response.status().as_u16().to_string(),
    };
    state.metrics.http_requests.get_or_create(&labels).inc();
    response
}

async fn not_found(request: Request) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        format!("no route for {} {}", request.method(), request.uri().path()),
    )
}

async fn method_not_allowed(request: Request) -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
}

//! `POST /v1/config/reload`: apply the config file again.

use super::AppState;
use super::problem::Problem;
use crate::config_reload::{ReloadError, ReloadReport, ReloadTrigger};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

/// Re-reads the config file; 200 with what was applied and what needs a restart, 422 naming the
/// bad key when the file is invalid (nothing changes then).
#[utoipa::path(
    post,
    path = "/v1/config/reload",
    operation_id = "reload_config",
    tag = "config",
    responses(
        (status = 200, description = "The file was valid: the keys applied now, the keys that need a restart, and warnings.", body = ReloadReport),
        (status = 422, description = "The file is invalid; nothing changed. `detail` and `field` name the bad key.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn reload(State(state): State<AppState>) -> Result<Json<ReloadReport>, Problem> {
    state
        .reloader
        .reload(ReloadTrigger::Api)
        .await
        .map(Json)
        .map_err(|error| match error {
            ReloadError::Invalid { field, message } => {
                let problem =
                    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "config-invalid", message);
                match field {
                    Some(field) => problem.with("field", field),
                    None => problem,
                }
            }
            ReloadError::Stopping => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "stopping",
                error.to_string(),
            ),
        })
}

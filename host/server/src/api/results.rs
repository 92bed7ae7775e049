//! `GET /v1/runners/{name}` and `GET /v1/results`: a runner's declared parameters in full, and
//! how its jobs did, grouped.

use super::AppState;
use super::extract::Query;
use super::problem::{Problem, UnknownRunner};
use axum::Json;
use axum::extract::{Path, State};
use reef_core::api::results::ResultsView;
use reef_core::api::runner::RunnerDetail;
use reef_engine::results::ResultsQuery;
use serde::Deserialize;

/// `GET /v1/runners/{name}`
#[utoipa::path(
    get,
    path = "/v1/runners/{name}",
    operation_id = "get_runner",
    tag = "runners",
    params(("name" = String, Path, description = "Runner name.")),
    responses(
        (status = 200, description = "The runner with each declared parameter in full; a `values_from` parameter's `values` are the files its glob matches now.", body = RunnerDetail),
        UnknownRunner,
    ),
)]
pub async fn runner(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<RunnerDetail>, Problem> {
    Ok(Json(state.jobs.runner(&name).await?))
}

/// Query of `GET /v1/results`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ResultsParams {
    /// The runner whose jobs count.
    runner: String,
    /// What groups are made by: `param:NAME` or `label:NAME`, up to 4, comma-separated
    /// (`param:agent,param:benchmark`).
    #[param(pattern = r"^(param|label):[^,]+(,(param|label):[^,]+){0,3}$")]
    group_by: String,
    /// Only jobs with this label, `key=value`.
    #[param(pattern = r"^[^=]*=[\s\S]*$")]
    label: Option<String>,
    /// Only jobs created at or after this: an RFC 3339 time, or a whole number of seconds,
    /// minutes, hours or days back from now (`90s`, `30m`, `24h`, `7d`).
    #[param(
        pattern = r"^(?:([0-9]{1,6})(s|m|h|d)|([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9])(\.[0-9]{1,9})?(?:Z|([+-])([01][0-9]|2[0-3]):([0-5][0-9])))$"
    )]
    since: Option<String>,
}

/// `GET /v1/results`
#[utoipa::path(
    get,
    path = "/v1/results",
    operation_id = "results",
    tag = "results",
    params(ResultsParams),
    responses(
        (status = 200, description = "The runner's jobs grouped by the keys' values, each group with its jobs, success rate, scores and durations.", body = ResultsView),
        (status = 400, description = "An unknown or missing query parameter, a `group_by`, `label` or `since` that does not parse.", body = Problem, content_type = "application/problem+json"),
        UnknownRunner,
        (status = 422, description = "A `param:` key names a parameter the runner does not declare.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn results(
    State(state): State<AppState>,
    Query(p): Query<ResultsParams>,
) -> Result<Json<ResultsView>, Problem> {
    let query = ResultsQuery {
        runner: p.runner,
        group_by: p.group_by,
        label: p.label,
        since: p.since,
    };
    Ok(Json(state.jobs.results(query).await?))
}

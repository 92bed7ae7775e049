//! Sweeps in the API: the request that creates one and the view that shows it.

use crate::sweep::{Matrix, Sweep, SweepProgress};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /v1/sweeps` body: every combination of `matrix`, with `params`, as one job each.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SweepRequest {
    /// Runner name.
    pub runner: String,
    /// For each swept parameter, its values (strings, numbers or booleans).
    #[schema(value_type = Object)]
    pub matrix: Matrix,
    /// Parameters every job shares.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Labels every job carries, as for `POST /v1/jobs`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Priority of every job.
    #[serde(default, deserialize_with = "crate::json_integer::optional")]
    #[schema(minimum = -2147483648, maximum = 2147483647)]
    pub priority: Option<i32>,
    /// Tenant of every job.
    #[serde(default)]
    #[schema(pattern = r"^[A-Za-z0-9_./-]{1,64}$", max_length = 64)]
    pub tenant: Option<String>,
}

/// A sweep with how far its jobs have come, as `GET /v1/sweeps/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SweepView {
    /// The sweep.
    #[serde(flatten)]
    pub sweep: Sweep,
    /// Its jobs by state.
    pub progress: SweepProgress,
}

/// One page of `GET /v1/sweeps`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SweepPage {
    /// The sweeps, newest first.
    pub sweeps: Vec<Sweep>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<crate::sweep::SweepId>,
}

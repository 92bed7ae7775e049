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
    /// For each swept parameter, its distinct values (strings, numbers or booleans).
    #[schema(schema_with = super::matrix_schema)]
    pub matrix: Matrix,
    /// Parameters every job shares.
    #[serde(default)]
    #[schema(schema_with = super::params_schema)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Labels every job carries, as for `POST /v1/jobs`.
    #[serde(default)]
    #[schema(schema_with = super::labels_schema)]
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

/// The answer of `POST /v1/sweeps/{id}/cancel` and `/retry`: the jobs acted on, and the sweep
/// after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SweepAction {
    /// The sweep as it is now.
    pub sweep: SweepView,
    /// The jobs cancelled, or retried.
    #[schema(value_type = Vec<String>)]
    pub jobs: Vec<crate::job_id::JobId>,
}

/// One page of `GET /v1/sweeps`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SweepPage {
    /// The sweeps, newest first.
    pub sweeps: Vec<Sweep>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<crate::sweep::SweepId>,
}

/// One axis of a sweep's grid: a swept parameter and its values, in the matrix's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GridAxis {
    /// The parameter.
    pub param: String,
    /// Its values.
    #[schema(value_type = Vec<Object>)]
    pub values: Vec<serde_json::Value>,
}

/// One cell of a sweep's grid: its job and that job's latest attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GridCell {
    /// The job.
    pub job_id: crate::job_id::JobId,
    /// Its state (`deleted` once retention has removed it).
    pub state: String,
    /// Attempts started.
    pub attempts: u32,
    /// Duration of its latest attempt, once ended, in milliseconds.
    pub duration_ms: Option<u64>,
    /// Score of its latest attempt.
    pub score: Option<f64>,
    /// Success of its latest attempt, as its result says.
    pub success: Option<bool>,
}

/// `GET /v1/sweeps/{id}/grid`: cells by row and column (`cells[row][col]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SweepGrid {
    /// The sweep.
    pub sweep: crate::sweep::SweepId,
    /// The parameter down the side.
    pub rows: GridAxis,
    /// The parameter across the top; absent for a sweep of one parameter (one column).
    pub cols: Option<GridAxis>,
    /// `cells[row][col]`.
    pub cells: Vec<Vec<Option<GridCell>>>,
}

impl SweepGrid {
    /// The grid as CSV, one line per cell: the row's and column's values, then the cell.
    pub fn to_csv(&self) -> String {
        let col_param = self.cols.as_ref().map_or("", |c| c.param.as_str());
        let mut out = format!(
            "{},{},job_id,state,attempts,duration_ms,score,success\n",
            csv_field(&self.rows.param),
            csv_field(col_param)
        );
        for (r, row) in self.cells.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let Some(cell) = cell else { continue };
                let value = |axis: Option<&GridAxis>, i: usize| {
                    axis.and_then(|a| a.values.get(i))
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                        .unwrap_or_default()
                };
                let opt = |v: Option<String>| v.unwrap_or_default();
                out.push_str(&format!(
                    "{},{},{},{},{},{},{},{}\n",
                    csv_field(&value(Some(&self.rows), r)),
                    csv_field(&value(self.cols.as_ref(), c)),
                    cell.job_id,
                    cell.state,
                    cell.attempts,
                    opt(cell.duration_ms.map(|d| d.to_string())),
                    opt(cell.score.map(|s| s.to_string())),
                    opt(cell.success.map(|s| s.to_string())),
                ));
            }
        }
        out
    }
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job_id::JobId;
    use serde_json::json;

    #[test]
    fn a_grid_reads_as_csv_one_line_per_cell() {
        let cell = |n: u8, score: Option<f64>| {
            Some(GridCell {
                job_id: JobId::parse(&format!("01J00000000000000000000{n:03}")).unwrap(),
                state: "succeeded".into(),
                attempts: 1,
                duration_ms: Some(1200),
                score,
                success: score.map(|s| s > 0.5),
            })
        };
        let grid = SweepGrid {
            sweep: JobId::parse("01J0000000000000000000000S").unwrap(),
            rows: GridAxis {
                param: "benchmark".into(),
                values: vec![json!("a,1.yml"), json!("b.yml")],
            },
            cols: Some(GridAxis {
                param: "agent".into(),
                values: vec![json!("x"), json!(2)],
            }),
            cells: vec![
                vec![cell(1, Some(1.0)), None],
                vec![cell(2, None), cell(3, Some(0.25))],
            ],
        };
        assert_eq!(
            grid.to_csv(),
            "benchmark,agent,job_id,state,attempts,duration_ms,score,success\n\
             \"a,1.yml\",x,01J00000000000000000000001,succeeded,1,1200,1,true\n\
             b.yml,x,01J00000000000000000000002,succeeded,1,1200,,\n\
             b.yml,2,01J00000000000000000000003,succeeded,1,1200,0.25,false\n"
        );
    }
}

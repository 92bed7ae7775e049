//! Sweeps: one runner over the cartesian product of parameter values, each combination a job.
//!
//! This is only the arithmetic of a sweep: the matrix checked and expanded into the parameter
//! sets of its cells, in a stable order. Each cell is then validated against the runner's
//! parameters exactly as a single submit is, before anything is written.

use crate::job_id::JobId;
use crate::lifecycle::JobState;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Most cells of one sweep unless configured otherwise.
pub const DEFAULT_MAX_CELLS: u64 = 10_000;

/// A sweep's id: a ULID, like a job's (the same text form and ordering).
pub type SweepId = JobId;

/// A sweep as stored and shown: what was asked; its jobs are found through the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sweep {
    /// Its id (every job of it carries the label `reef.sweep` with this value).
    pub id: SweepId,
    /// The runner of every job.
    pub runner: String,
    /// The swept parameters and their values.
    #[schema(value_type = Object)]
    pub matrix: Matrix,
    /// Parameters every job shares.
    #[schema(value_type = Object)]
    pub params: Map<String, Value>,
    /// Labels every job carries (besides `reef.sweep`).
    pub labels: BTreeMap<String, String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// Its number of cells (jobs).
    pub cells: u32,
}

/// The label every job of a sweep carries, with the sweep's id as its value.
pub const SWEEP_LABEL: &str = "reef.sweep";

/// Jobs of a sweep by state, and how far it has come.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SweepProgress {
    /// Jobs in each state (states without jobs are left out).
    pub states: BTreeMap<String, u32>,
    /// Jobs in a terminal state.
    pub finished: u32,
    /// Every job.
    pub total: u32,
    /// When its first attempt started, if one has.
    pub started_at: Option<Timestamp>,
    /// When its last job finished, once every job has.
    pub finished_at: Option<Timestamp>,
}

impl SweepProgress {
    /// Counts one job, in state `state`, updated last at `updated_at`, first started at
    /// `started_at`.
    pub fn count(&mut self, state: JobState, updated_at: Timestamp, started_at: Option<Timestamp>) {
        *self.states.entry(state.as_str().to_owned()).or_default() += 1;
        self.total += 1;
        if state.is_terminal() {
            self.finished += 1;
            self.finished_at = self.finished_at.max(Some(updated_at));
        }
        if let Some(started) = started_at {
            self.started_at = Some(self.started_at.map_or(started, |s| s.min(started)));
        }
    }

    /// `finished_at` holds only once every job has finished.
    pub fn settle(mut self) -> Self {
        if self.finished < self.total {
            self.finished_at = None;
        }
        self
    }
}

/// A sweep's matrix: for each swept parameter, its values.
pub type Matrix = BTreeMap<String, Vec<Value>>;

/// Why a matrix cannot be expanded; each names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatrixError {
    /// Nothing to sweep.
    #[error("matrix: at least one parameter with at least one value is needed")]
    Empty,
    /// A parameter with no values would make no cells.
    #[error("matrix.{0}: has no values")]
    NoValues(String),
    /// The same value twice would run the same cell twice.
    #[error("matrix.{param}: the value {value} appears more than once")]
    Duplicate {
        /// The parameter.
        param: String,
        /// The repeated value, as JSON.
        value: String,
    },
    /// A parameter is either swept or fixed.
    #[error("matrix.{0}: also given in params; a parameter is either swept or fixed")]
    AlsoFixed(String),
    /// The product is over the configured limit.
    #[error("matrix: {cells} combinations, over the limit of {limit} (sweeps.max_cells)")]
    TooLarge {
        /// The number of combinations (saturating).
        cells: u64,
        /// The limit.
        limit: u64,
    },
}

/// The number of cells of `matrix` (saturating at `u64::MAX`).
pub fn cell_count(matrix: &Matrix) -> u64 {
    matrix
        .values()
        .fold(1u64, |n, values| n.saturating_mul(values.len() as u64))
}

/// The parameter sets of every cell: `fixed` plus one value of each swept parameter. The first
/// parameter (in name order) varies slowest, so cells of one row of a grid come together.
/// Checked before anything is built: at most `limit` cells, no empty or repeated values, no
/// parameter both swept and fixed.
pub fn cells(
    matrix: &Matrix,
    fixed: &Map<String, Value>,
    limit: u64,
) -> Result<Vec<Map<String, Value>>, MatrixError> {
    if matrix.is_empty() {
        return Err(MatrixError::Empty);
    }
    for (param, values) in matrix {
        if values.is_empty() {
            return Err(MatrixError::NoValues(param.clone()));
        }
        if fixed.contains_key(param) {
            return Err(MatrixError::AlsoFixed(param.clone()));
        }
        for (i, value) in values.iter().enumerate() {
            if values[..i].contains(value) {
                return Err(MatrixError::Duplicate {
                    param: param.clone(),
                    value: value.to_string(),
                });
            }
        }
    }
    let count = cell_count(matrix);
    if count > limit {
        return Err(MatrixError::TooLarge {
            cells: count,
            limit,
        });
    }
    let mut out = vec![fixed.clone()];
    for (param, values) in matrix {
        out = out
            .into_iter()
            .flat_map(|cell| {
                values.iter().map(move |value| {
                    let mut cell = cell.clone();
                    cell.insert(param.clone(), value.clone());
                    cell
                })
            })
            .collect();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn matrix(value: Value) -> Matrix {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn cells_are_the_product_in_a_stable_order_with_fixed_params() {
        let m = matrix(json!({"benchmark": ["a.yml", "b.yml", "c.yml"], "agent": ["x", "y"]}));
        let fixed = json!({"seed": 7}).as_object().cloned().unwrap();
        let cells = cells(&m, &fixed, 100).unwrap();
        let seen: Vec<(String, String)> = cells
            .iter()
            .map(|c| {
                assert_eq!(c["seed"], 7);
                (
                    c["agent"].as_str().unwrap().to_owned(),
                    c["benchmark"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        // `agent` sorts first, so it varies slowest.
        let expected: Vec<(String, String)> = ["x", "y"]
            .iter()
            .flat_map(|a| {
                ["a.yml", "b.yml", "c.yml"]
                    .iter()
                    .map(move |b| (a.to_string(), b.to_string()))
            })
            .collect();
        assert_eq!(seen, expected);
        assert_eq!(cell_count(&m), 6);
    }

    #[test]
    fn mistakes_are_refused_before_anything_is_built() {
        let none = Map::new();
        assert_eq!(cells(&Matrix::new(), &none, 10), Err(MatrixError::Empty));
        assert_eq!(
            cells(&matrix(json!({"agent": []})), &none, 10),
            Err(MatrixError::NoValues("agent".into()))
        );
        assert_eq!(
            cells(&matrix(json!({"agent": ["x", 1, "x"]})), &none, 10),
            Err(MatrixError::Duplicate {
                param: "agent".into(),
                value: "\"x\"".into()
            })
        );
        let fixed = json!({"agent": "x"}).as_object().cloned().unwrap();
        assert_eq!(
            cells(&matrix(json!({"agent": ["y"]})), &fixed, 10),
            Err(MatrixError::AlsoFixed("agent".into()))
        );
        // A product far beyond memory is refused by arithmetic, not by building it.
        let huge: Matrix = (0..20)
            .map(|i| (format!("p{i}"), (0..100).map(Value::from).collect()))
            .collect();
        assert_eq!(
            cells(&huge, &none, 10_000),
            Err(MatrixError::TooLarge {
                cells: u64::MAX,
                limit: 10_000
            })
        );
        let error = cells(&matrix(json!({"a": [1, 2, 3], "b": [1, 2]})), &none, 5).unwrap_err();
        assert_eq!(
            error.to_string(),
            "matrix: 6 combinations, over the limit of 5 (sweeps.max_cells)"
        );
    }
}

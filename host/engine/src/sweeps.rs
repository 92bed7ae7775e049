//! Sweeps in [`JobService`]: a matrix submitted as its jobs in one transaction, and a sweep
//! shown with how far its jobs have come.

use crate::service::{IdempotencyKey, JobService, ServiceError};
use reef_core::api::sweep::{GridAxis, GridCell, SweepGrid, SweepPage, SweepRequest, SweepView};
use reef_core::api::{DEFAULT_PAGE, MAX_PAGE};
use reef_core::sweep::{SWEEP_LABEL, Sweep, SweepId, SweepProgress};
use reef_core::time::Timestamp;
use reef_store::{JobStore, KeyedInsert};
use serde_json::{Map, Value};

impl JobService {
    /// Creates a job for every cell of `request`'s matrix, each checked and admitted as a
    /// single submit is, and stores them with the sweep in one durable transaction. Nothing is
    /// written when any cell is refused; the error names the cell.
    pub async fn submit_sweep(&self, request: SweepRequest) -> Result<Sweep, ServiceError> {
        self.submit_sweep_once(request, None)
            .await
            .map(|(sweep, _)| sweep)
    }

    /// Like [`JobService::submit_sweep`], under an optional idempotency key: a replay of the
    /// same request answers the sweep created the first time (`true` in the answer), the same
    /// key with a different request is refused, and concurrent duplicates create one sweep.
    pub async fn submit_sweep_once(
        &self,
        request: SweepRequest,
        key: Option<IdempotencyKey>,
    ) -> Result<(Sweep, bool), ServiceError> {
        if self.engine.status().stopping() {
            return Err(ServiceError::Stopping);
        }
        if let Some(key) = &key {
            let store = self.store.clone();
            let (name, hash) = (key.key.clone(), key.body_sha256.clone());
            let known = tokio::task::spawn_blocking(move || store.lookup_sweep_key(&name, &hash))
                .await
                .map_err(|_| ServiceError::Stopping)??;
            match known {
                Some(KeyedInsert::Replay(id)) => return Ok((self.find_sweep(&id).await?, true)),
                Some(KeyedInsert::Conflict(id)) => return Err(ServiceError::KeyReused(id)),
                _ => {}
            }
        }
        let started = std::time::SystemTime::now();
        let runners = self.runners.load_full();
        let runner = runners
            .get(&request.runner)
            .ok_or_else(|| ServiceError::UnknownRunner(request.runner.clone()))?;
        let cells = reef_core::sweep::cells(&request.matrix, &request.params, self.max_cells)
            .map_err(|e| ServiceError::InvalidMatrix {
                field: "matrix".into(),
                message: e.to_string(),
            })?;
        let id: SweepId = self.next_id()?;
        let mut labels = request.labels.clone();
        labels.insert(SWEEP_LABEL.to_owned(), id.to_string());
        let mut jobs = Vec::with_capacity(cells.len());
        let mut admissions = Vec::with_capacity(cells.len());
        for cell in &cells {
            let (job, admit) = self
                .admitted_job(
                    runner,
                    cell,
                    labels.clone(),
                    request.priority,
                    request.tenant.clone(),
                )
                .map_err(|error| in_cell(&request.matrix, cell, error))?;
            jobs.push((job, Some(admit.by.clone())));
            admissions.push(admit);
        }
        let sweep = Sweep {
            id,
            runner: runner.name.clone(),
            matrix: request.matrix,
            params: request.params,
            labels: request.labels,
            created_at: Timestamp::now(),
            cells: jobs.len() as u32,
        };
        let (store, stored, record) = (self.store.clone(), jobs.clone(), sweep.clone());
        let ttl = self.idempotency_ttl;
        let (outcome, _) = tokio::task::spawn_blocking(move || {
            let key = key
                .as_ref()
                .map(|k| (k.key.as_str(), k.body_sha256.as_str(), ttl));
            store.insert_sweep_keyed(&record, &stored, key)
        })
        .await
        .map_err(|_| ServiceError::Stopping)??;
        match outcome {
            KeyedInsert::Created => {}
            // A concurrent duplicate won the race: answer its sweep.
            KeyedInsert::Replay(id) => return Ok((self.find_sweep(&id).await?, true)),
            KeyedInsert::Conflict(id) => return Err(ServiceError::KeyReused(id)),
        }
        if let Some(metrics) = &self.metrics {
            metrics
                .jobs_submitted
                .get_or_create(&crate::metrics::RunnerLabel {
                    runner: sweep.runner.clone(),
                })
                .inc_by(jobs.len() as u64);
        }
        for ((job, _), admit) in jobs.into_iter().zip(&admissions) {
            self.tracer.submitted(&job, started, admit);
            self.engine.submitted(job);
        }
        Ok((sweep, false))
    }

    /// The sweep called `id`, or [`ServiceError::NoSweep`].
    async fn find_sweep(&self, id: &SweepId) -> Result<Sweep, ServiceError> {
        let store = self.store.clone();
        let id = id.clone();
        tokio::task::spawn_blocking(move || sweep_record(&store, &id))
            .await
            .map_err(|_| ServiceError::Stopping)?
    }

    /// Up to `limit` sweeps (default 50), newest first, after `cursor`.
    pub async fn sweeps(
        &self,
        limit: Option<usize>,
        cursor: Option<String>,
    ) -> Result<SweepPage, ServiceError> {
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if limit == 0 || limit > MAX_PAGE {
            return Err(ServiceError::InvalidQuery(format!(
                "limit must be between 1 and {MAX_PAGE}"
            )));
        }
        let cursor = match cursor {
            Some(cursor) => Some(SweepId::parse(&cursor).map_err(|_| {
                ServiceError::InvalidQuery(format!("cursor {cursor:?} is not a sweep id"))
            })?),
            None => None,
        };
        let store = self.store.clone();
        let (sweeps, next_cursor) =
            tokio::task::spawn_blocking(move || store.list_sweeps(limit, cursor.as_deref()))
                .await
                .map_err(|_| ServiceError::Stopping)??;
        Ok(SweepPage {
            sweeps,
            next_cursor,
        })
    }

    /// A sweep with its jobs counted by state.
    pub async fn sweep(&self, id: &SweepId) -> Result<SweepView, ServiceError> {
        let store = self.store.clone();
        let id = id.clone();
        tokio::task::spawn_blocking(move || {
            let sweep = sweep_record(&store, &id)?;
            let mut progress = SweepProgress::default();
            for cell in store.sweep_cells(&id)? {
                if let Some(job) = &cell.job {
                    let started = cell.first.as_ref().map(|a| a.started_at);
                    progress.count(job.state, job.updated_at, started);
                }
            }
            Ok(SweepView {
                sweep,
                progress: progress.settle(),
            })
        })
        .await
        .map_err(|_| ServiceError::Stopping)?
    }
}

impl JobService {
    /// Sweep `id` as a grid: `rows` down the side and `cols` across (by default its first and
    /// second parameters, in name order), each cell its job and that job's latest attempt.
    pub async fn sweep_grid(
        &self,
        id: &SweepId,
        rows: Option<String>,
        cols: Option<String>,
    ) -> Result<SweepGrid, ServiceError> {
        let store = self.store.clone();
        let id = id.clone();
        tokio::task::spawn_blocking(move || {
            let sweep = sweep_record(&store, &id)?;
            let (rows, cols) = grid_axes(&sweep, rows, cols)?;
            // The cells in the order they were created, each with its swept values.
            let combos = reef_core::sweep::cells(&sweep.matrix, &Map::new(), u64::MAX)
                .map_err(|e| ServiceError::Invalid(e.to_string()))?;
            let width = cols.as_ref().map_or(1, |c| c.values.len());
            let mut cells = vec![vec![None; width]; rows.values.len()];
            for (combo, cell) in combos.iter().zip(store.sweep_cells(&id)?) {
                let at = |axis: &GridAxis| {
                    combo
                        .get(&axis.param)
                        .and_then(|v| axis.values.iter().position(|a| a == v))
                };
                let (Some(r), Some(c)) = (at(&rows), cols.as_ref().map_or(Some(0), at)) else {
                    continue;
                };
                cells[r][c] = Some(grid_cell(cell));
            }
            Ok(SweepGrid {
                sweep: id,
                rows,
                cols,
                cells,
            })
        })
        .await
        .map_err(|_| ServiceError::Stopping)?
    }
}

/// The grid's axes: the parameters asked for (or the matrix's first two), each a parameter of
/// the matrix, and together all of them.
fn grid_axes(
    sweep: &Sweep,
    rows: Option<String>,
    cols: Option<String>,
) -> Result<(GridAxis, Option<GridAxis>), ServiceError> {
    let mut params = sweep.matrix.keys();
    let rows = rows.or_else(|| params.next().cloned());
    let cols = cols.or_else(|| params.find(|p| Some(*p) != rows.as_ref()).cloned());
    let axis = |param: &str| {
        sweep
            .matrix
            .get(param)
            .map(|values| GridAxis {
                param: param.to_owned(),
                values: values.clone(),
            })
            .ok_or_else(|| {
                let known: Vec<&str> = sweep.matrix.keys().map(String::as_str).collect();
                ServiceError::InvalidQuery(format!(
                    "{param:?} is not a parameter of this sweep's matrix ({})",
                    known.join(", ")
                ))
            })
    };
    let rows = axis(rows.as_deref().unwrap_or_default())?;
    let cols = cols.as_deref().map(axis).transpose()?;
    if cols.as_ref().is_some_and(|c| c.param == rows.param) {
        return Err(ServiceError::InvalidQuery(
            "rows and cols must be two different parameters".into(),
        ));
    }
    let shown = [Some(&rows.param), cols.as_ref().map(|c| &c.param)];
    if let Some(other) = sweep.matrix.keys().find(|p| !shown.contains(&Some(*p))) {
        return Err(ServiceError::InvalidQuery(format!(
            "the matrix also sweeps {other:?}; a grid shows two of its parameters"
        )));
    }
    Ok((rows, cols))
}

/// A cell as the grid shows it.
fn grid_cell(cell: reef_store::SweepCell) -> GridCell {
    let latest = cell.latest.as_ref();
    GridCell {
        job_id: cell.job_id,
        state: cell
            .job
            .as_ref()
            .map_or_else(|| "deleted".to_owned(), |j| j.state.as_str().to_owned()),
        attempts: cell.job.as_ref().map_or(0, |j| j.attempt_count),
        duration_ms: latest.and_then(|a| {
            a.ended_at
                .map(|end| end.since(a.started_at).as_millis() as u64)
        }),
        score: latest.and_then(|a| a.score),
        success: latest.and_then(|a| a.success),
    }
}

/// `error` of one cell, saying which cell (its swept values).
fn in_cell(
    matrix: &reef_core::sweep::Matrix,
    cell: &Map<String, Value>,
    error: ServiceError,
) -> ServiceError {
    let which: Vec<String> = matrix
        .keys()
        .filter_map(|param| cell.get(param).map(|v| format!("{param}={v}")))
        .collect();
    let which = which.join(", ");
    match error {
        ServiceError::Rejected(reason) => ServiceError::Rejected(format!("cell {which}: {reason}")),
        other => ServiceError::InvalidMatrix {
            field: other.field().unwrap_or_else(|| "matrix".into()),
            message: format!("cell {which}: {other}"),
        },
    }
}

/// The sweep called `id` in `store`, or [`ServiceError::NoSweep`].
pub(crate) fn sweep_record(store: &JobStore, id: &SweepId) -> Result<Sweep, ServiceError> {
    store
        .find_sweep(id)?
        .ok_or_else(|| ServiceError::NoSweep(id.to_string()))
}

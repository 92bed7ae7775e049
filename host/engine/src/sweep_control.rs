//! Acting on a whole sweep: cancelling what has not finished, and running its failed cells
//! again. Each job goes through the engine as a single cancel or retry would, so the job state
//! machine decides every transition.

use crate::engine::EngineError;
use crate::service::{JobService, ServiceError};
use reef_core::api::sweep::SweepAction;
use reef_core::job_id::JobId;
use reef_core::lifecycle::JobState;
use reef_core::sweep::SweepId;

impl JobService {
    /// Cancels every job of sweep `id` that has not finished: queued and waiting ones at once,
    /// running ones once their processes are gone. Answers the jobs asked to stop.
    pub async fn cancel_sweep(&self, id: &SweepId) -> Result<SweepAction, ServiceError> {
        let targets = self.sweep_jobs_in(id, |s| !s.is_terminal()).await?;
        let mut jobs = Vec::with_capacity(targets.len());
        for job_id in targets {
            if acted(self.engine.cancel(&job_id).await)? {
                jobs.push(job_id);
            }
        }
        Ok(SweepAction {
            sweep: self.sweep(id).await?,
            jobs,
        })
    }

    /// Runs every `failed` or `cancelled` job of sweep `id` again, each with a fresh attempt
    /// budget; succeeded cells keep their results. Answers the jobs retried.
    pub async fn retry_sweep(&self, id: &SweepId) -> Result<SweepAction, ServiceError> {
        let targets = self
            .sweep_jobs_in(id, |s| matches!(s, JobState::Failed | JobState::Cancelled))
            .await?;
        let mut jobs = Vec::with_capacity(targets.len());
        for job_id in targets {
            if acted(self.engine.redrive(&job_id).await)? {
                jobs.push(job_id);
            }
        }
        Ok(SweepAction {
            sweep: self.sweep(id).await?,
            jobs,
        })
    }

    /// The ids of sweep `id`'s jobs whose state passes `wanted`, in cell order.
    async fn sweep_jobs_in(
        &self,
        id: &SweepId,
        wanted: fn(JobState) -> bool,
    ) -> Result<Vec<JobId>, ServiceError> {
        if self.engine.status().stopping() {
            return Err(ServiceError::Stopping);
        }
        let store = self.store.clone();
        let id = id.clone();
        tokio::task::spawn_blocking(move || {
            crate::sweeps::sweep_record(&store, &id)?;
            Ok(store
                .sweep_cells(&id)?
                .into_iter()
                .filter_map(|cell| cell.job)
                .filter(|job| wanted(job.state))
                .map(|job| job.id)
                .collect())
        })
        .await
        .map_err(|_| ServiceError::Stopping)?
    }
}

/// Whether the engine acted on a job: a job that retention deleted, or that moved on meanwhile
/// (finished before its cancel, retried by someone else), was not acted on and is no error.
fn acted(answer: Result<reef_core::model::Job, EngineError>) -> Result<bool, ServiceError> {
    match answer {
        Ok(_) => Ok(true),
        Err(EngineError::NotFound(_) | EngineError::NotAllowed(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

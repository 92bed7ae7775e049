//! Waiting for a job to finish. The wait rides on the store's feed of committed transitions
//! rather than polling, so a synchronous caller (`POST /v1/runners/{name}/invoke`) is answered
//! as soon as the job's last transition is durable.

use crate::service::{JobService, ServiceError};
use reef_core::api::JobView;
use reef_core::job_id::JobId;
use reef_core::lifecycle::JobEvent;
use std::time::Duration;
use tokio::sync::broadcast::{Receiver, error::RecvError};

impl JobService {
    /// The job once it is terminal; or as it is when `timeout` passes or the host starts
    /// stopping (then its state is not terminal).
    pub async fn wait_finished(
        &self,
        id: &JobId,
        timeout: Duration,
    ) -> Result<JobView, ServiceError> {
        let deadline = tokio::time::Instant::now() + timeout;
        // Subscribe before reading the job, so a transition committed in between is not missed.
        let mut live = self.store().subscribe();
        loop {
            let view = self.get(id).await?;
            if view.job.state.is_terminal() {
                return Ok(view);
            }
            tokio::select! {
                () = ended(&mut live, id) => {}
                () = tokio::time::sleep_until(deadline) => return self.get(id).await,
                () = self.engine().status().stopped() => return self.get(id).await,
            }
        }
    }
}

/// Resolves when `id` may have reached a terminal state: a terminal transition of it was
/// published, or the receiver lagged and may have missed one (the caller reads the job again).
async fn ended(live: &mut Receiver<JobEvent>, id: &JobId) {
    loop {
        match live.recv().await {
            Ok(event) if event.job_id == *id && event.to.is_terminal() => return,
            Ok(_) => continue,
            Err(RecvError::Lagged(_)) => return,
            // The store is gone only when the host is going down; the deadline ends the wait.
            Err(RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

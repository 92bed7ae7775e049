//! `LocalExecutor`: attempts as `reef-shim` processes on this machine.
//!
//! The handle of a local attempt is its job, its number and its shim's identity (pid and start
//! time, so a reused pid is not mistaken for it). An attempt this host started is awaited as a
//! child process; one a previous host started is watched through `/proc` until its shim is gone.
//! Either way its exit record, in the attempt directory, says how it ended; a shim gone without
//! one means the attempt is lost, and whatever it left running is killed before that is said.

use super::{
    BoxFuture, Executor, LaunchError, LaunchRequest, Launched, Missing, ProgressSink, Reattached,
};
use crate::supervisor::{AttemptLayout, AttemptLimits, ShimSupervisor};
use reef_core::executor::{AttemptHandle, Ending, LOCAL, Placement, attempt_name};
use reef_core::job_id::JobId;
use reef_shim::{ExitRecord, ShimIdentity};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a shim that is not our child is checked for life.
const REATTACH_POLL: Duration = Duration::from_millis(100);

/// What a local handle keeps beside the attempt's name.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Detail<'a> {
    job_id: &'a str,
    attempt: u32,
    shim: Option<ShimIdentity>,
}

/// Runs attempts under `reef-shim` on this machine.
pub struct LocalExecutor {
    shims: ShimSupervisor,
    /// Shims this host started, by attempt name, until their end is observed (they must be
    /// awaited, or they would linger as zombies).
    children: Arc<Mutex<HashMap<String, tokio::process::Child>>>,
    node: Option<String>,
}

impl LocalExecutor {
    /// An executor starting shims with `shims`.
    pub fn new(shims: ShimSupervisor) -> Self {
        let node = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty());
        Self {
            shims,
            children: Arc::default(),
            node,
        }
    }

    fn launched(&self, job_id: &JobId, attempt: u32, shim: Option<ShimIdentity>) -> Launched {
        Launched {
            handle: handle(job_id, attempt, shim),
            placement: Placement {
                executor: LOCAL.into(),
                node: self.node.clone(),
                id: shim.map(|s| s.pid.to_string()),
            },
            waiting: None,
        }
    }
}

/// The handle of attempt `attempt` of `job_id`, run by `shim`.
pub fn handle(job_id: &JobId, attempt: u32, shim: Option<ShimIdentity>) -> AttemptHandle {
    AttemptHandle {
        executor: LOCAL.into(),
        name: attempt_name(job_id, attempt),
        detail: serde_json::to_value(Detail {
            job_id,
            attempt,
            shim,
        })
        .unwrap_or_default(),
    }
}

fn detail(handle: &AttemptHandle) -> Option<(JobId, u32, Option<ShimIdentity>)> {
    let detail: Detail<'_> = Detail::deserialize(&handle.detail).ok()?;
    let job_id = JobId::parse(detail.job_id).ok()?;
    Some((job_id, detail.attempt, detail.shim))
}

/// The end of an attempt whose shim is gone: its exit record, or, without one, lost, once
/// whatever it left behind is killed.
fn ending_of(shims: &ShimSupervisor, job_id: &JobId, attempt: u32) -> Ending {
    let paths = shims.layout().paths(job_id, attempt);
    if let Ok(Some(record)) = ExitRecord::read(&paths.exit_record) {
        return Ending::Exited(record);
    }
    let killed = shims.kill_orphans(job_id, attempt);
    if killed > 0 {
        tracing::warn!(
            %job_id,
            attempt,
            killed,
            "killed processes left by a lost attempt"
        );
    }
    Ending::Lost {
        reason: "its shim ended without an exit record".into(),
    }
}

impl Executor for LocalExecutor {
    fn name(&self) -> &str {
        LOCAL
    }

    fn layout(&self) -> &AttemptLayout {
        self.shims.layout()
    }

    fn launch(&self, request: LaunchRequest) -> BoxFuture<Result<Launched, LaunchError>> {
        let shims = self.shims.clone();
        let children = self.children.clone();
        let (job_id, attempt) = (request.job.id.clone(), request.attempt);
        let placement = self.launched(&job_id, attempt, None).placement;
        Box::pin(async move {
            // Files and a fork: off the async workers.
            let started = tokio::task::spawn_blocking(move || {
                shims.launch(
                    &request.job,
                    &request.runner,
                    request.attempt,
                    AttemptLimits {
                        timeout_ms: request.timeout_ms,
                        kill_grace_ms: request.kill_grace_ms,
                    },
                    request.traceparent,
                )
            })
            .await
            .map_err(|e| LaunchError::Host(format!("the launch was interrupted: {e}")))?;
            let shim = started.map_err(|error| match error {
                crate::supervisor::LaunchError::ProgramNotFound(_) => {
                    LaunchError::Spawn(error.to_string())
                }
                crate::supervisor::LaunchError::Io { .. } => LaunchError::Host(error.to_string()),
            })?;
            if let Ok(mut children) = children.lock() {
                children.insert(attempt_name(&job_id, attempt), shim.child);
            }
            Ok(Launched {
                handle: handle(&job_id, attempt, Some(shim.identity)),
                placement: Placement {
                    id: Some(shim.identity.pid.to_string()),
                    ..placement
                },
                waiting: None,
            })
        })
    }

    fn observe(&self, handle: AttemptHandle, _progress: ProgressSink) -> BoxFuture<Ending> {
        let shims = self.shims.clone();
        let child = self
            .children
            .lock()
            .ok()
            .and_then(|mut children| children.remove(&handle.name));
        Box::pin(async move {
            let Some((job_id, attempt, shim)) = detail(&handle) else {
                return Ending::Lost {
                    reason: format!("unreadable local handle {:?}", handle.detail),
                };
            };
            match (child, shim) {
                (Some(mut child), _) => {
                    let _ = child.wait().await;
                }
                (None, Some(shim)) => {
                    while shim.is_alive() {
                        tokio::time::sleep(REATTACH_POLL).await;
                    }
                }
                (None, None) => {}
            }
            tokio::task::spawn_blocking(move || ending_of(&shims, &job_id, attempt))
                .await
                .unwrap_or_else(|e| Ending::Lost {
                    reason: format!("its end could not be read: {e}"),
                })
        })
    }

    fn cancel(&self, handle: &AttemptHandle) {
        if let Some((_, _, Some(shim))) = detail(handle) {
            self.shims.cancel(&shim);
        }
    }

    fn reattach(&self, attempts: Vec<Missing>) -> BoxFuture<Vec<Reattached>> {
        let shims = self.shims.clone();
        let node = self.node.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                // Live shims by the spec they run: found even when the previous host died
                // between starting one and recording its identity.
                let live = if attempts.is_empty() {
                    HashMap::new()
                } else {
                    shims.live_shims()
                };
                attempts
                    .into_iter()
                    .map(|missing| {
                        let (job_id, n) = (&missing.job_id, missing.attempt);
                        let spec = shims.layout().paths(job_id, n).spec;
                        let shim = live
                            .get(&spec)
                            .copied()
                            .or_else(|| missing.handle.as_ref().and_then(detail).and_then(|d| d.2))
                            .or_else(|| shims.recorded_identity(job_id, n))
                            .filter(ShimIdentity::is_alive);
                        match shim {
                            Some(shim) => Reattached::Running(Launched {
                                handle: handle(job_id, n, Some(shim)),
                                placement: Placement {
                                    executor: LOCAL.into(),
                                    node: node.clone(),
                                    id: Some(shim.pid.to_string()),
                                },
                                waiting: None,
                            }),
                            None => Reattached::Ended(ending_of(&shims, job_id, n)),
                        }
                    })
                    .collect()
            })
            .await
            .unwrap_or_default()
        })
    }
}

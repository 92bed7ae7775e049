//! `SlurmWatch`: one poll of Slurm's queue for every attempt it holds, dispatched to the
//! attempts' observers: where each waits or runs, and how it ended.
//!
//! A single task asks `squeue --json` every `poll_interval` while attempts are watched (one
//! command however many attempts), and `scontrol ping` now and then while none are, so that
//! the executor's health is always known.

use super::cli::{SlurmCli, SlurmError};
use super::queue::{Phase, SlurmJob};
use crate::executor::ProgressSink;
use crate::supervisor::AttemptLayout;
use reef_core::executor::{Ending, Placement, Progress};
use reef_core::job_id::JobId;
use reef_shim::ExitRecord;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, oneshot};

/// The shortest time between two polls, however often new attempts ask for one: a burst of
/// launches is answered by one `squeue`, not one each.
const MIN_POLL_GAP: Duration = Duration::from_millis(250);
/// Polls without watched attempts happen once every this many intervals (a ping only).
const IDLE_PING_EVERY: u32 = 5;

/// One attempt being watched.
struct Watched {
    job_id: JobId,
    attempt: u32,
    slurm_id: Option<u64>,
    progress: ProgressSink,
    done: oneshot::Sender<Ending>,
    /// The last waiting reason reported, so each is said once.
    said: Option<String>,
    /// Its placement was reported.
    placed: bool,
    /// When the watch began: a poll that started earlier cannot know of a job submitted since,
    /// so its absence there means nothing.
    since: Instant,
    phase: Option<Phase>,
}

/// What an attempt's observer and its canceller know of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Its Slurm id, once known.
    pub slurm_id: Option<u64>,
    /// Its phase at the last poll.
    pub phase: Option<Phase>,
}

struct Shared {
    watched: Mutex<HashMap<String, Watched>>,
    health: Mutex<Result<(), String>>,
    wake: Notify,
}

/// The watch over one executor's attempts.
#[derive(Clone)]
pub struct SlurmWatch {
    shared: Arc<Shared>,
}

impl SlurmWatch {
    /// Starts the polling task.
    pub fn start(cli: SlurmCli, layout: AttemptLayout, executor: String, every: Duration) -> Self {
        let shared = Arc::new(Shared {
            watched: Mutex::default(),
            // Unknown until the first poll: assumed reachable, as a host starts ready.
            health: Mutex::new(Ok(())),
            wake: Notify::new(),
        });
        let poller = Poller {
            shared: shared.clone(),
            cli,
            layout,
            executor,
        };
        tokio::spawn(poller.run(every));
        Self { shared }
    }

    /// Watches attempt `attempt` of `job_id` (Slurm job `name`, id `slurm_id` when known);
    /// resolves with its ending.
    pub fn watch(
        &self,
        name: String,
        job_id: JobId,
        attempt: u32,
        slurm_id: Option<u64>,
        progress: ProgressSink,
    ) -> oneshot::Receiver<Ending> {
        let (done, ended) = oneshot::channel();
        let watched = Watched {
            job_id,
            attempt,
            slurm_id,
            progress,
            done,
            said: None,
            placed: false,
            since: Instant::now(),
            phase: None,
        };
        if let Ok(mut all) = self.shared.watched.lock() {
            all.insert(name, watched);
        }
        ended
    }

    /// What is known of a watched attempt; `None` once it has ended.
    pub fn seen(&self, name: &str) -> Option<Seen> {
        let all = self.shared.watched.lock().ok()?;
        all.get(name).map(|w| Seen {
            slurm_id: w.slurm_id,
            phase: w.phase,
        })
    }

    /// Whether Slurm answered the last poll.
    pub fn health(&self) -> Result<(), String> {
        self.shared
            .health
            .lock()
            .map(|h| h.clone())
            .unwrap_or_else(|_| Err("the Slurm watch failed".into()))
    }

    /// Records what a command other than the poll learnt of Slurm's reachability.
    pub fn observed(&self, result: &Result<(), SlurmError>) {
        if let Ok(mut health) = self.shared.health.lock() {
            *health = result.clone().map_err(|e| e.to_string());
        }
    }

    /// Asks for a poll now.
    pub fn wake(&self) {
        self.shared.wake.notify_one();
    }
}

struct Poller {
    shared: Arc<Shared>,
    cli: SlurmCli,
    layout: AttemptLayout,
    executor: String,
}

impl Poller {
    async fn run(self, every: Duration) {
        let mut idle = 0u32;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = self.shared.wake.notified() => {
                    tokio::time::sleep(MIN_POLL_GAP.min(every)).await;
                }
            }
            let watching = self.shared.watched.lock().is_ok_and(|w| !w.is_empty());
            if !watching {
                idle += 1;
                if idle % IDLE_PING_EVERY == 1 {
                    let pinged = self.cli.ping().await;
                    self.set_health(pinged.map_err(|e| e.to_string()));
                }
                continue;
            }
            idle = 0;
            let asked = Instant::now();
            match self.cli.jobs().await {
                Ok(jobs) => {
                    self.set_health(Ok(()));
                    self.dispatch(&jobs, asked);
                }
                Err(error) => {
                    let error = error.to_string();
                    self.set_health(Err(error.clone()));
                    self.unreachable(&error);
                }
            }
        }
    }

    fn set_health(&self, health: Result<(), String>) {
        if let Ok(mut slot) = self.shared.health.lock() {
            if *slot != health {
                match &health {
                    Ok(()) => tracing::info!(executor = self.executor, "Slurm answers again"),
                    Err(error) => {
                        tracing::warn!(executor = self.executor, %error, "Slurm cannot be reached")
                    }
                }
            }
            *slot = health;
        }
    }

    /// Attempts not placed yet wait, and say why.
    fn unreachable(&self, error: &str) {
        let Ok(mut all) = self.shared.watched.lock() else {
            return;
        };
        for watched in all.values_mut() {
            if watched.phase != Some(Phase::Running) {
                say(
                    watched,
                    format!("Slurm cannot be reached ({error}); waiting for it"),
                );
            }
        }
    }

    /// Hands each watched attempt what the poll asked at `asked` says of it.
    fn dispatch(&self, jobs: &[SlurmJob], asked: Instant) {
        let mut by_name: HashMap<&str, Vec<&SlurmJob>> = HashMap::new();
        for job in jobs {
            by_name.entry(job.name.as_str()).or_default().push(job);
        }
        let Ok(mut all) = self.shared.watched.lock() else {
            return;
        };
        let mut ended = Vec::new();
        for (name, watched) in all.iter_mut() {
            let mine = by_name.get(name.as_str()).map(Vec::as_slice).unwrap_or(&[]);
            let job = match watched.slurm_id {
                Some(id) => mine.iter().find(|j| j.id == id),
                // Found by name: the live one, else the latest.
                None => mine
                    .iter()
                    .find(|j| j.phase() != Phase::Ended)
                    .or_else(|| mine.iter().max_by_key(|j| j.id)),
            };
            let Some(job) = job else {
                if watched.since < asked {
                    ended.push((name.clone(), None));
                }
                continue;
            };
            watched.slurm_id = Some(job.id);
            watched.phase = Some(job.phase());
            let phase = job.phase();
            if phase == Phase::Pending {
                say(watched, job.pending_reason());
                continue;
            }
            // Running, or over before a poll saw it run (a short job): it was placed if it had a
            // node (a job cancelled while pending had none). Where is said once.
            if !watched.placed && (phase == Phase::Running || !job.nodes.is_empty()) {
                watched.placed = true;
                watched.progress.report(Progress::Placed(Placement {
                    executor: self.executor.clone(),
                    node: Some(job.nodes.clone()).filter(|n| !n.is_empty()),
                    id: Some(job.id.to_string()),
                }));
            }
            if phase == Phase::Ended {
                ended.push((name.clone(), Some((*job).clone())));
            }
        }
        for (name, job) in ended {
            if let Some(watched) = all.remove(&name) {
                let layout = self.layout.clone();
                tokio::spawn(async move {
                    let ending =
                        ending_of(&layout, &watched.job_id, watched.attempt, job.as_ref()).await;
                    let _ = watched.done.send(ending);
                });
            }
        }
    }
}

/// Reports that an attempt waits, once per reason.
fn say(watched: &mut Watched, reason: String) {
    if watched.said.as_ref() != Some(&reason) {
        watched.said = Some(reason.clone());
        watched.progress.report(Progress::Waiting { reason });
    }
}

/// How an attempt Slurm no longer runs ended: its exit record, else lost, with Slurm's word
/// for it. The record is read again for a moment first: a shared filesystem may show it a
/// little after Slurm has seen the shim exit.
pub async fn ending_of(
    layout: &AttemptLayout,
    job_id: &JobId,
    attempt: u32,
    job: Option<&SlurmJob>,
) -> Ending {
    let path = layout.paths(job_id, attempt).exit_record;
    for pass in 0..3 {
        let path = path.clone();
        let read = tokio::task::spawn_blocking(move || ExitRecord::read(&path)).await;
        if let Ok(Ok(Some(record))) = read {
            return Ending::Exited(record);
        }
        if pass < 2 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    Ending::Lost {
        reason: match job {
            Some(job) => format!(
                "Slurm job {} ended {} without an exit record",
                job.id,
                job.describe()
            ),
            None => "not in Slurm's queue and no exit record: never submitted, or gone from Slurm"
                .to_owned(),
        },
    }
}

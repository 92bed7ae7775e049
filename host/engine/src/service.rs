//! `JobService`: the typed core behind the HTTP handlers (and, later, any other front end).
//! Handlers parse and format; every rule about jobs lives here or below.

use crate::engine::{EngineError, EngineHandle};
use crate::executor::ExecutorSet;
use crate::trace::{JobTracer, PolicyCall};
use arc_swap::ArcSwap;
use reef_core::api::runner::RunnerDetail;
use reef_core::api::{
    DEFAULT_PAGE, JobPage, JobView, LogStream, MAX_LABEL_VALUE_LEN, MAX_LABELS, MAX_LOG_CHUNK,
    MAX_NAME_LEN, MAX_PAGE, NAME_PUNCTUATION, RunnerView, SubmitRequest,
};
use reef_core::job_id::JobId;
use reef_core::lifecycle::JobState;
use reef_core::model::Job;
use reef_core::params::ParamError;
use reef_core::runner::RunnerSet;
use reef_core::time::Timestamp;
use reef_policy::{AdmitDecision, AdmitInput, Policy};
use reef_store::{JobFilter, JobStore, KeyedInsert, StoreError};
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};

/// Listing parameters.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// State filter (API name).
    pub state: Option<String>,
    /// Runner filter.
    pub runner: Option<String>,
    /// Label filter, `key=value`.
    pub label: Option<String>,
    /// Page size.
    pub limit: Option<usize>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// Why a request could not be served; each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No runner by that name.
    #[error("runner '{0}' is not configured")]
    UnknownRunner(String),
    /// A parameter was refused.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// Another part of the request was refused.
    #[error("{0}")]
    Invalid(String),
    /// A query parameter was refused (a filter, page size or cursor).
    #[error("{0}")]
    InvalidQuery(String),
    /// A field of the request was refused.
    #[error("{message}")]
    InvalidField {
        /// Where it is, as a dotted path (`labels.team`, `tenant`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The policy refused the job.
    #[error("rejected by policy: {0}")]
    Rejected(String),
    /// No such job.
    #[error("job {0} does not exist")]
    NoJob(String),
    /// Nothing to return yet.
    #[error("{0}")]
    NotAvailable(String),
    /// The state store failed; the request had no effect.
    #[error("state store unavailable: {0}")]
    Store(#[from] StoreError),
    /// The host is stopping.
    #[error("the host is shutting down")]
    Stopping,
    /// The job's state does not allow the request.
    #[error("{0}")]
    Conflict(String),
    /// A sweep's matrix, or one of its cells, was refused for a reason no schema states (the
    /// cell limit, a parameter both swept and fixed, a value the runner refuses).
    #[error("{message}")]
    InvalidMatrix {
        /// Where it is (`matrix`, or the parameter a cell's value was refused for).
        field: String,
        /// What is wrong, naming the cell.
        message: String,
    },
    /// No such sweep.
    #[error("sweep {0} does not exist")]
    NoSweep(String),
    /// An idempotency key was reused with a different request.
    #[error("this Idempotency-Key was already used for a different request (which created {0})")]
    KeyReused(JobId),
}

impl ServiceError {
    /// The request field the error is about, as a dotted path, when it is about one.
    pub fn field(&self) -> Option<String> {
        match self {
            Self::Param(e) => Some(format!("params.{}", e.param())),
            Self::InvalidField { field, .. } | Self::InvalidMatrix { field, .. } => {
                Some(field.clone())
            }
            _ => None,
        }
    }

    fn field_error(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<EngineError> for ServiceError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound(id) => Self::NoJob(id),
            EngineError::Store(s) => Self::Store(s),
            EngineError::Stopped => Self::Stopping,
            EngineError::NotAllowed(e) => Self::Conflict(e.to_string()),
        }
    }
}

/// An `Idempotency-Key` and the digest of the request it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// The key as the caller sent it.
    pub key: String,
    /// SHA-256 of the request body.
    pub body_sha256: String,
}

/// The job operations of the API.
pub struct JobService {
    pub(crate) store: JobStore,
    pub(crate) engine: EngineHandle,
    pub(crate) runners: ArcSwap<RunnerSet>,
    policy: Arc<dyn Policy>,
    executors: ExecutorSet,
    pub(crate) tracer: JobTracer,
    ids: Mutex<ulid::Generator>,
    pub(crate) idempotency_ttl: std::time::Duration,
    /// Most cells (jobs) of one sweep.
    pub(crate) max_cells: u64,
    pub(crate) metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl JobService {
    /// A service over these parts.
    pub fn new(
        store: JobStore,
        engine: EngineHandle,
        runners: Arc<RunnerSet>,
        policy: Arc<dyn Policy>,
        executors: ExecutorSet,
    ) -> Self {
        Self {
            store,
            engine,
            runners: ArcSwap::new(runners),
            policy,
            executors,
            tracer: JobTracer::disabled(),
            ids: Mutex::new(ulid::Generator::new()),
            idempotency_ttl: std::time::Duration::from_secs(24 * 3600),
            max_cells: reef_core::sweep::DEFAULT_MAX_CELLS,
            metrics: None,
        }
    }

    /// Counts submits in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Writes the `submit` span of every job's trace through `tracer`.
    pub fn with_tracer(mut self, tracer: JobTracer) -> Self {
        self.tracer = tracer;
        self
    }

    /// Replaces the runners new submits are checked against (a config reload).
    pub fn set_runners(&self, runners: Arc<RunnerSet>) {
        self.runners.store(runners);
    }

    /// Most cells (jobs) one sweep may make.
    pub fn with_max_cells(mut self, max_cells: u64) -> Self {
        self.max_cells = max_cells;
        self
    }

    /// How long idempotency keys are remembered.
    pub fn with_idempotency_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.idempotency_ttl = ttl;
        self
    }

    /// The job store (for event streams).
    pub fn store(&self) -> &JobStore {
        &self.store
    }

    /// The engine handle (for health checks).
    pub fn engine(&self) -> &EngineHandle {
        &self.engine
    }

    /// Validates, admits and durably stores a job, then hands it to the scheduler.
    pub async fn submit(&self, request: SubmitRequest) -> Result<Job, ServiceError> {
        self.submit_once(request, None).await.map(|(job, _)| job)
    }

    /// Like [`JobService::submit`], under an optional idempotency key: a replay of the same
    /// request returns the job created the first time (`true` in the answer), the same key with
    /// a different request is refused, and concurrent duplicates create one job.
    pub async fn submit_once(
        &self,
        request: SubmitRequest,
        key: Option<IdempotencyKey>,
    ) -> Result<(Job, bool), ServiceError> {
        if self.engine.status().stopping() {
            return Err(ServiceError::Stopping);
        }
        if let Some(key) = &key
            && let Some(job) = self.replayed(key).await?
        {
            return Ok((job, true));
        }
        let started = std::time::SystemTime::now();
        let runners = self.runners.load_full();
        let runner = runners
            .get(&request.runner)
            .ok_or_else(|| ServiceError::UnknownRunner(request.runner.clone()))?;
        let (job, admit) = self.admitted_job(
            runner,
            &request.params,
            request.labels,
            request.priority,
            request.tenant,
        )?;
        let admitted_by = admit.by.clone();
        let store = self.store.clone();
        let stored = job.clone();
        let ttl = self.idempotency_ttl;
        let inserted = tokio::task::spawn_blocking(move || match &key {
            None => store
                .insert_job(&stored, Some(admitted_by))
                .map(|_| KeyedInsert::Created),
            Some(key) => {
                store.insert_job_keyed(&stored, Some(admitted_by), &key.key, &key.body_sha256, ttl)
            }
        })
        .await
        .map_err(|_| ServiceError::Stopping)??;
        match inserted {
            KeyedInsert::Created => {
                if let Some(metrics) = &self.metrics {
                    metrics
                        .jobs_submitted
                        .get_or_create(&crate::metrics::RunnerLabel {
                            runner: job.runner.clone(),
                        })
                        .inc();
                }
                self.tracer.submitted(&job, started, &admit);
                self.engine.submitted(job.clone());
                Ok((job, false))
            }
            // A concurrent duplicate won the race: answer its job.
            KeyedInsert::Replay(id) => Ok((self.get(&id).await?.job, true)),
            KeyedInsert::Conflict(id) => Err(ServiceError::KeyReused(id)),
        }
    }

    /// The job an earlier request with this key created, when the bodies match.
    async fn replayed(&self, key: &IdempotencyKey) -> Result<Option<Job>, ServiceError> {
        let store = self.store.clone();
        let (name, hash) = (key.key.clone(), key.body_sha256.clone());
        // Answers Replay/Conflict for a known key without writing.
        let known = tokio::task::spawn_blocking(move || store.lookup_key(&name, &hash))
            .await
            .map_err(|_| ServiceError::Stopping)??;
        match known {
            Some(KeyedInsert::Replay(id)) => Ok(Some(self.get(&id).await?.job)),
            Some(KeyedInsert::Conflict(id)) => Err(ServiceError::KeyReused(id)),
            _ => Ok(None),
        }
    }

    /// A new job of `runner`, checked and admitted as every submit is (its parameters resolved
    /// and validated, labels and tenant checked, the policy's `admit` applied), not yet stored;
    /// with the timed admission.
    pub(crate) fn admitted_job(
        &self,
        runner: &reef_core::runner::RunnerSpec,
        params: &serde_json::Map<String, serde_json::Value>,
        labels: BTreeMap<String, String>,
        priority: Option<i32>,
        tenant: Option<String>,
    ) -> Result<(Job, PolicyCall), ServiceError> {
        let params = crate::workdir::resolve_params(runner, params)?;
        validate_labels(&labels)?;
        let tenant = tenant.unwrap_or_else(|| "default".to_owned());
        validate_name("tenant", "tenant", &tenant)?;
        let now = Timestamp::now();
        let id = self.next_id()?;
        let mut job = Job::queued(id, &runner.name, params, now);
        job.labels = labels;
        job.priority = priority.unwrap_or(0);
        job.tenant = tenant;
        let (decision, admit) = PolicyCall::time("admit", || {
            let decided = self.policy.admit(&AdmitInput {
                job: reef_policy::inputs::job(&job),
                runner: reef_policy::inputs::runner(runner),
                load: self.engine.status().load(),
                now_ms: now.0,
                seed: reef_policy::inputs::seed(),
            });
            (decided.answer, decided.by)
        });
        match decision {
            AdmitDecision::Reject(reason) => return Err(ServiceError::Rejected(reason)),
            AdmitDecision::Accept(admission) => {
                if let Some(priority) = admission.priority {
                    job.priority = priority;
                }
                if let Some(tenant) = admission.tenant {
                    job.tenant = tenant;
                }
                job.resources = admission.resources;
            }
        }
        Ok((job, admit))
    }

    pub(crate) fn next_id(&self) -> Result<JobId, ServiceError> {
        let mut ids = self.ids.lock().map_err(|_| ServiceError::Stopping)?;
        // The generator is monotonic within a millisecond, so ids order jobs by submission.
        ids.generate().map(JobId::from).map_err(|_| {
            ServiceError::Invalid("too many jobs submitted within one millisecond".into())
        })
    }

    /// A job with its attempts.
    pub async fn get(&self, id: &JobId) -> Result<JobView, ServiceError> {
        let store = self.store.clone();
        let id = id.clone();
        tokio::task::spawn_blocking(move || {
            let job = store
                .job(&id)?
                .ok_or_else(|| ServiceError::NoJob(id.to_string()))?;
            let attempts = store.attempts(&id)?;
            let result = attempts.iter().rev().find_map(|a| a.result.clone());
            Ok(JobView {
                job,
                attempts,
                result,
            })
        })
        .await
        .map_err(|_| ServiceError::Stopping)?
    }

    /// The transitions of a job, oldest first, each naming the policy that decided it.
    pub async fn events(
        &self,
        id: &JobId,
    ) -> Result<Vec<reef_core::lifecycle::JobEvent>, ServiceError> {
        let store = self.store.clone();
        let id = id.clone();
        tokio::task::spawn_blocking(move || {
            let events = store.events_of(&id)?;
            if events.is_empty() {
                return Err(ServiceError::NoJob(id.to_string()));
            }
            Ok(events)
        })
        .await
        .map_err(|_| ServiceError::Stopping)?
    }

    /// A page of jobs.
    pub async fn list(&self, query: ListQuery) -> Result<JobPage, ServiceError> {
        let state = match query.state.as_deref() {
            Some(s) => Some(JobState::parse(s).ok_or_else(|| {
                let names: Vec<_> = JobState::ALL.iter().map(|s| s.as_str()).collect();
                ServiceError::InvalidQuery(format!(
                    "state {s:?} is not one of {}",
                    names.join(", ")
                ))
            })?),
            None => None,
        };
        let label = query.label.as_deref().map(label_filter).transpose()?;
        let limit = query.limit.unwrap_or(DEFAULT_PAGE);
        if limit == 0 || limit > MAX_PAGE {
            return Err(ServiceError::InvalidQuery(format!(
                "limit must be between 1 and {MAX_PAGE}"
            )));
        }
        let cursor = match &query.cursor {
            Some(cursor) => Some(JobId::parse(cursor).map_err(|_| {
                ServiceError::InvalidQuery(format!("cursor {cursor:?} is not a job id"))
            })?),
            None => None,
        };
        let filter = JobFilter {
            state,
            runner: query.runner,
            label,
        };
        let store = self.store.clone();
        let (jobs, next_cursor) =
            tokio::task::spawn_blocking(move || store.list(&filter, limit, cursor.as_deref()))
                .await
                .map_err(|_| ServiceError::Stopping)??;
        Ok(JobPage { jobs, next_cursor })
    }

    /// Cancels a job (idempotent).
    pub async fn cancel(&self, id: &JobId) -> Result<Job, ServiceError> {
        Ok(self.engine.cancel(id).await?)
    }

    /// Runs a failed or cancelled job again, with a fresh attempt budget.
    pub async fn retry(&self, id: &JobId) -> Result<Job, ServiceError> {
        Ok(self.engine.redrive(id).await?)
    }

    /// Log bytes of an attempt (the latest by default) from `offset`, at most
    /// [`MAX_LOG_CHUNK`]; also returns the file's current size.
    pub async fn logs(
        &self,
        id: &JobId,
        stream: LogStream,
        offset: u64,
        attempt: Option<u32>,
    ) -> Result<(Vec<u8>, u64), ServiceError> {
        let view = self.get(id).await?;
        let n = match attempt {
            Some(n) if view.attempts.iter().any(|a| a.n == n) => n,
            Some(n) => {
                return Err(ServiceError::NotAvailable(format!(
                    "job {id} has no attempt {n}"
                )));
            }
            None => view.attempts.last().map(|a| a.n).ok_or_else(|| {
                ServiceError::NotAvailable(format!("job {id} has not started yet"))
            })?,
        };
        // The attempt's files are where its executor keeps them (a Slurm executor's shared
        // directory).
        let executor = view
            .attempts
            .iter()
            .find(|a| a.n == n)
            .and_then(|a| a.placement.as_ref())
            .map_or(reef_core::executor::LOCAL, |p| p.executor.as_str());
        let paths = self.executors.layout(executor).paths(id, n);
        let path = match stream {
            LogStream::Stdout => paths.stdout,
            LogStream::Stderr => paths.stderr,
        };
        tokio::task::spawn_blocking(move || {
            let mut file = match std::fs::File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
                Err(e) => return Err(ServiceError::NotAvailable(format!("log unavailable: {e}"))),
            };
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            let mut bytes = Vec::new();
            if offset < size {
                file.seek(SeekFrom::Start(offset))
                    .and_then(|_| file.take(MAX_LOG_CHUNK).read_to_end(&mut bytes))
                    .map_err(|e| ServiceError::NotAvailable(format!("log unavailable: {e}")))?;
            }
            Ok((bytes, size))
        })
        .await
        .map_err(|_| ServiceError::Stopping)?
    }

    /// The latest result of a job.
    pub async fn result(&self, id: &JobId) -> Result<serde_json::Value, ServiceError> {
        let view = self.get(id).await?;
        view.result.ok_or_else(|| {
            ServiceError::NotAvailable(format!(
                "job {id} has no result yet (state {})",
                view.job.state
            ))
        })
    }

    /// The configured runners.
    pub fn runners(&self) -> Vec<RunnerView> {
        self.runners.load().iter().map(runner_view).collect()
    }

    /// Runner `name` with its parameters declared in full; a `values_from` parameter's values
    /// are the files its glob matches now.
    pub async fn runner(&self, name: &str) -> Result<RunnerDetail, ServiceError> {
        let runners = self.runners.load_full();
        let runner = runners
            .get(name)
            .ok_or_else(|| ServiceError::UnknownRunner(name.to_owned()))?;
        let view = runner_view(runner);
        let mut parameters = runner.params.views();
        let workdir = runner.workdir.clone();
        let globs: Vec<(String, String)> = runner
            .params
            .listed()
            .map(|(n, g)| (n.to_owned(), g.to_owned()))
            .collect();
        let listed = tokio::task::spawn_blocking(move || {
            globs
                .into_iter()
                .map(|(n, g)| {
                    (
                        n,
                        crate::workdir::listed_values(&workdir, &g).unwrap_or_default(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|_| ServiceError::Stopping)?;
        for (name, values) in listed {
            if let Some(param) = parameters.get_mut(&name) {
                param.values = Some(values);
            }
        }
        Ok(RunnerDetail {
            runner: view,
            parameters,
        })
    }

    /// Whether attempt files can be written (a probe file is created and removed).
    pub async fn data_dir_writable(&self) -> Result<(), String> {
        let root = self
            .executors
            .layout(reef_core::executor::LOCAL)
            .root()
            .to_owned();
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
            let probe = root.join(format!(".readyz-{}", std::process::id()));
            std::fs::write(&probe, b"ok").map_err(|e| format!("{}: {e}", probe.display()))?;
            std::fs::remove_file(&probe).map_err(|e| format!("{}: {e}", probe.display()))
        })
        .await
        .map_err(|_| "the host is shutting down".to_owned())?
    }

    /// The executors attempts run on.
    pub fn executors(&self) -> &ExecutorSet {
        &self.executors
    }

    /// True when the state store answers.
    pub async fn store_ok(&self) -> bool {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.job(&JobId::from(ulid::Ulid::nil())).is_ok())
            .await
            .unwrap_or(false)
    }
}

fn validate_name(field: &str, what: &str, name: &str) -> Result<(), ServiceError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || NAME_PUNCTUATION.contains(c));
    if !ok {
        return Err(ServiceError::field_error(
            field,
            format!(
                "{what} {name:?} must be 1 to {MAX_NAME_LEN} characters of letters, digits, '_', '.', '-', '/'"
            ),
        ));
    }
    Ok(())
}

fn validate_labels(labels: &BTreeMap<String, String>) -> Result<(), ServiceError> {
    if labels.len() > MAX_LABELS {
        return Err(ServiceError::field_error(
            "labels",
            format!("at most {MAX_LABELS} labels are allowed"),
        ));
    }
    for (k, v) in labels {
        let field = format!("labels.{k}");
        validate_name(&field, "label key", k)?;
        if v.len() > MAX_LABEL_VALUE_LEN {
            return Err(ServiceError::field_error(
                field,
                format!("label '{k}' is longer than {MAX_LABEL_VALUE_LEN} bytes"),
            ));
        }
        if v.contains('\0') {
            return Err(ServiceError::field_error(
                field,
                format!("label '{k}' contains a NUL byte"),
            ));
        }
    }
    Ok(())
}

/// A runner as `GET /v1/runners` shows it.
fn runner_view(r: &reef_core::runner::RunnerSpec) -> RunnerView {
    RunnerView {
        name: r.name.clone(),
        command: r.command_text.clone(),
        max_concurrency: r.max_concurrency,
        timeout: humantime::format_duration(r.timeout).to_string(),
        max_attempts: r.max_attempts,
        resources: r.resources.clone(),
        params: r.params.names().map(str::to_owned).collect(),
        executor: r.executor.clone(),
    }
}

/// A `key=value` label filter as its key and value.
pub(crate) fn label_filter(text: &str) -> Result<(String, String), ServiceError> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| {
            ServiceError::InvalidQuery(format!("label filter {text:?} must be key=value"))
        })
}

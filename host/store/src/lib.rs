//! `JobStore`: the durable state of the host in one redb file.
//!
//! Tables (values are JSON, so a database can be inspected and migrated with ordinary tools):
//! - `jobs`: job id → [`Job`]
//! - `attempts`: (job id, attempt number) → [`Attempt`]
//! - `events`: sequence number → [`JobEvent`], the audit trail of every transition
//! - `meta`: schema version
//! - `jobs_by_runner`, `jobs_by_label`, `jobs_by_state`: indexes of jobs (see [`job_index`])
//! - `sweeps`, `sweep_cells`: sweeps and their jobs by cell
//!
//! Every write is one redb write transaction with immediate durability: when a method returns
//! `Ok`, the change survives a crash. [`JobStore::write`] takes a batch of changes so that
//! several transitions can share one commit.
//!
//! All methods block; async callers run them on the blocking pool.
//!
//! **The store knows nothing of scheduling, policies or HTTP**: it keeps records and events
//! durably and hands out what it is asked for. It depends on the core only, for the records.

use redb::{ReadableTable, TableDefinition};
use reef_core::job_id::JobId;
use reef_core::lifecycle::{JobEvent, JobState};
use reef_core::model::{Attempt, Job};
use reef_core::time::Timestamp;
use std::path::Path;
use std::sync::Arc;

pub(crate) const JOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("jobs");
pub(crate) const ATTEMPTS: TableDefinition<(&str, u32), &[u8]> = TableDefinition::new("attempts");
pub(crate) const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const IDEMPOTENCY: TableDefinition<&str, &[u8]> = TableDefinition::new("idempotency_keys");
/// Index: (job id, event seq) of every event, so one job's events are found without a scan.
pub(crate) const JOB_EVENTS: TableDefinition<(&str, u64), ()> = TableDefinition::new("job_events");
/// Index: (time the job finished, job id) of finished jobs, oldest first, for retention. An entry
/// whose job has since been re-driven is stale and dropped by the sweep.
pub(crate) const FINISHED: TableDefinition<(u64, &str), ()> = TableDefinition::new("finished_jobs");

/// Events kept for live subscribers that fall behind (they then read the store).
const EVENT_BUFFER: usize = 4096;

/// What an `Idempotency-Key` remembers.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct KeyRecord {
    job_id: JobId,
    body_sha256: String,
    expires_at: Timestamp,
}

/// The outcome of inserting a job under an idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyedInsert {
    /// The job was created.
    Created,
    /// The key was used before with the same body: this is that job's id.
    Replay(JobId),
    /// The key was used before with a different body.
    Conflict(JobId),
}

mod group_commit;
mod handle;
mod job_index;
mod reads;
mod retention;
mod sweeps;

pub use handle::DbHandle;

pub use retention::RetentionRule;
pub use sweeps::SweepCell;

use group_commit::{GroupCommitter, Op};

/// Version of the table layout; a database of another version is refused, not misread.
pub const SCHEMA_VERSION: u64 = 1;

/// Failure of the state store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database latched an I/O failure (a shared transaction reports it as text).
    #[error("state database: {0}")]
    Io(String),
    /// redb failed (I/O, corruption, a full disk).
    #[error("state database: {0}")]
    Db(#[from] redb::Error),
    /// A stored record could not be decoded.
    #[error("state database record {key}: {source}")]
    Decode {
        /// Key of the record.
        key: String,
        /// The decoding error.
        source: serde_json::Error,
    },
    /// The database was written by an incompatible version.
    #[error("state database has schema version {found}, this build reads {expected}")]
    Schema {
        /// Version in the file.
        found: u64,
        /// Version of this build.
        expected: u64,
    },
    /// A job that should exist does not.
    #[error("job {0} does not exist")]
    NoSuchJob(JobId),
    /// A shared transaction failed; every write in it was rolled back.
    #[error("state database: {0}")]
    Batch(String),
}

macro_rules! db {
    ($e:expr) => {
        $e.map_err(|e| StoreError::Db(e.into()))
    };
}

/// One job's change: its new record, optionally an attempt record, and the events that explain
/// the change.
#[derive(Debug, Clone)]
pub struct Change {
    /// The job after the change.
    pub job: Job,
    /// An attempt to insert or replace.
    pub attempt: Option<Attempt>,
    /// Events to append (their `seq` is assigned here).
    pub events: Vec<JobEvent>,
}

/// Which jobs a listing returns.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only jobs in this state.
    pub state: Option<JobState>,
    /// Only jobs of this runner.
    pub runner: Option<String>,
    /// Only jobs carrying this label with this value.
    pub label: Option<(String, String)>,
}

impl JobFilter {
    fn matches(&self, job: &Job) -> bool {
        self.state.is_none_or(|s| job.state == s)
            && self.runner.as_ref().is_none_or(|r| &job.runner == r)
            && self
                .label
                .as_ref()
                .is_none_or(|(k, v)| job.labels.get(k) == Some(v))
    }
}

/// The durable job state. Cheap to clone.
#[derive(Clone)]
pub struct JobStore {
    db: Arc<DbHandle>,
    events: tokio::sync::broadcast::Sender<JobEvent>,
    committer: Option<Arc<GroupCommitter>>,
}

impl StoreError {
    /// True for failures of the storage itself (a full disk, an I/O error), after which the
    /// database must be opened again.
    pub fn is_io(&self) -> bool {
        matches!(
            self,
            Self::Db(redb::Error::Io(_) | redb::Error::PreviousIo) | Self::Io(_)
        )
    }
}

impl JobStore {
    /// Opens (or creates) the database file and checks its schema version.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, true)
    }

    /// Opens the database; with `group_commit`, concurrent writes share transactions (each
    /// caller still returns only once its own change is durable), otherwise every write is a
    /// transaction of its own.
    pub fn open_with(path: &Path, group_commit: bool) -> Result<Self, StoreError> {
        let handle = Arc::new(DbHandle::open(path)?);
        handle.write(|txn| {
            check_schema(txn)?;
            db!(txn.open_table(JOBS))?;
            db!(txn.open_table(ATTEMPTS))?;
            db!(txn.open_table(EVENTS))?;
            db!(txn.open_table(IDEMPOTENCY))?;
            db!(txn.open_table(JOB_EVENTS))?;
            db!(txn.open_table(FINISHED))?;
            db!(txn.open_table(sweeps::SWEEPS))?;
            db!(txn.open_table(sweeps::SWEEP_CELLS))?;
            job_index::build_if_missing(txn)?;
            Ok(())
        })?;
        let (events, _) = tokio::sync::broadcast::channel(EVENT_BUFFER);
        let committer = if group_commit {
            Some(Arc::new(GroupCommitter::start(
                handle.clone(),
                events.clone(),
            )?))
        } else {
            None
        };
        Ok(Self {
            db: handle,
            events,
            committer,
        })
    }

    /// The underlying database, for other tables kept in the same file (the policy registry).
    pub fn database(&self) -> Arc<DbHandle> {
        self.db.clone()
    }

    /// Stores a new job and its `submit` event (naming the policy that admitted it), durably.
    pub fn insert_job(
        &self,
        job: &Job,
        admitted_by: Option<String>,
    ) -> Result<JobEvent, StoreError> {
        let mut event = JobEvent::created(job);
        event.policy = admitted_by;
        let mut events = self.write(&[Change {
            job: job.clone(),
            attempt: None,
            events: vec![event],
        }])?;
        Ok(events.remove(0))
    }

    /// Applies a batch of changes in one durable transaction; returns the stored events with
    /// their sequence numbers (also published to subscribers, after the commit).
    pub fn write(&self, changes: &[Change]) -> Result<Vec<JobEvent>, StoreError> {
        let op = Op::Changes(changes.to_vec());
        match &self.committer {
            Some(committer) => committer.submit(op).map(|(_, events)| events),
            None => self.run_alone(op).map(|(_, events)| events),
        }
    }

    /// Runs one operation in a transaction of its own.
    fn run_alone(&self, op: Op) -> Result<(Option<KeyedInsert>, Vec<JobEvent>), StoreError> {
        let done = self.db.write(|txn| apply(txn, op))?;
        self.publish(&done.1);
        Ok(done)
    }

    /// Stores a new job under an idempotency key, atomically: a key seen before (and not expired)
    /// creates nothing and answers the earlier job, or a conflict when the body differed.
    pub fn insert_job_keyed(
        &self,
        job: &Job,
        admitted_by: Option<String>,
        key: &str,
        body_sha256: &str,
        ttl: std::time::Duration,
    ) -> Result<KeyedInsert, StoreError> {
        let op = Op::Keyed {
            job: Box::new(job.clone()),
            admitted_by,
            key: key.to_owned(),
            body_sha256: body_sha256.to_owned(),
            ttl,
        };
        let (outcome, _) = match &self.committer {
            Some(committer) => committer.submit(op)?,
            None => self.run_alone(op)?,
        };
        Ok(outcome.unwrap_or(KeyedInsert::Created))
    }

    /// Removes expired idempotency keys, at most `limit` per call; returns how many went.
    pub fn expire_keys(&self, limit: usize) -> Result<usize, StoreError> {
        let now = Timestamp::now();
        self.db.write(|txn| {
            let mut expired = Vec::new();
            let mut keys = db!(txn.open_table(IDEMPOTENCY))?;
            for entry in db!(keys.iter())? {
                let (key, value) = db!(entry)?;
                let record: KeyRecord = decode(key.value(), value.value())?;
                if record.expires_at <= now {
                    expired.push(key.value().to_owned());
                    if expired.len() == limit {
                        break;
                    }
                }
            }
            for key in &expired {
                db!(keys.remove(key.as_str()))?;
            }
            Ok(expired.len())
        })
    }

    /// Live events, as they are committed. A receiver that falls behind gets a `Lagged` error
    /// and should read the gap with [`JobStore::events_after`].
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<JobEvent> {
        self.events.subscribe()
    }

    pub(crate) fn publish(&self, events: &[JobEvent]) {
        for event in events {
            // No subscriber is fine.
            let _ = self.events.send(event.clone());
        }
    }
}

/// Applies one operation inside `txn`: the outcome of a keyed insert, and the events written.
pub(crate) fn apply(
    txn: &redb::WriteTransaction,
    op: Op,
) -> Result<(Option<KeyedInsert>, Vec<JobEvent>), StoreError> {
    match op {
        Op::Changes(changes) => Ok((None, write_changes(txn, &changes)?)),
        Op::Keyed {
            job,
            admitted_by,
            key,
            body_sha256,
            ttl,
        } => {
            if let Some(earlier) = claim_key(txn, &key, body_sha256, ttl, &job.id)? {
                return Ok((Some(earlier), Vec::new()));
            }
            let mut event = JobEvent::created(&job);
            event.policy = admitted_by;
            let change = Change {
                job: *job,
                attempt: None,
                events: vec![event],
            };
            Ok((Some(KeyedInsert::Created), write_changes(txn, &[change])?))
        }
    }
}

/// Stamps a new database with [`SCHEMA_VERSION`], or checks an existing one's.
fn check_schema(txn: &redb::WriteTransaction) -> Result<(), StoreError> {
    let mut meta = db!(txn.open_table(META))?;
    let found = db!(meta.get("schema_version"))?.map(|v| v.value());
    match found {
        None => {
            db!(meta.insert("schema_version", SCHEMA_VERSION))?;
            Ok(())
        }
        Some(v) if v == SCHEMA_VERSION => Ok(()),
        Some(found) => Err(StoreError::Schema {
            found,
            expected: SCHEMA_VERSION,
        }),
    }
}

/// Claims idempotency `key` for `id` inside `txn`: `None` when the key is new (or expired) and is
/// now `id`'s; otherwise what the earlier use says, `Replay` of its id when the body was the
/// same, `Conflict` when not, and nothing is written.
pub(crate) fn claim_key(
    txn: &redb::WriteTransaction,
    key: &str,
    body_sha256: String,
    ttl: std::time::Duration,
    id: &JobId,
) -> Result<Option<KeyedInsert>, StoreError> {
    let now = Timestamp::now();
    let mut keys = db!(txn.open_table(IDEMPOTENCY))?;
    let earlier: Option<KeyRecord> = db!(keys.get(key))?
        .map(|v| decode(key, v.value()))
        .transpose()?;
    if let Some(earlier) = earlier.filter(|r| r.expires_at > now) {
        return Ok(Some(if earlier.body_sha256 == body_sha256 {
            KeyedInsert::Replay(earlier.job_id)
        } else {
            KeyedInsert::Conflict(earlier.job_id)
        }));
    }
    let record = KeyRecord {
        job_id: id.clone(),
        body_sha256,
        expires_at: now.plus(ttl),
    };
    db!(keys.insert(key, encode(&record).as_slice()))?;
    Ok(None)
}

/// Writes `changes` into `txn`, numbering their events.
pub(crate) fn write_changes(
    txn: &redb::WriteTransaction,
    changes: &[Change],
) -> Result<Vec<JobEvent>, StoreError> {
    let mut stored = Vec::new();
    let mut jobs = db!(txn.open_table(JOBS))?;
    let mut attempts = db!(txn.open_table(ATTEMPTS))?;
    let mut events = db!(txn.open_table(EVENTS))?;
    let mut job_events = db!(txn.open_table(JOB_EVENTS))?;
    let mut finished = db!(txn.open_table(FINISHED))?;
    let mut index = job_index::JobIndex::open(txn)?;
    let mut seq = db!(events.last())?.map(|(k, _)| k.value()).unwrap_or(0);
    for change in changes {
        let id = change.job.id.as_str();
        let previous = db!(jobs.insert(id, encode(&change.job).as_slice()))?
            .map(|old| decode::<Job>(id, old.value()).map(|job| job.state))
            .transpose()?;
        index.record(&change.job, previous)?;
        if change.job.state.is_terminal() {
            db!(finished.insert((change.job.updated_at.0, change.job.id.as_str()), ()))?;
        }
        if let Some(attempt) = &change.attempt {
            db!(attempts.insert(
                (change.job.id.as_str(), attempt.n),
                encode(attempt).as_slice()
            ))?;
        }
        for event in &change.events {
            seq += 1;
            let mut event = event.clone();
            event.seq = seq;
            db!(events.insert(seq, encode(&event).as_slice()))?;
            db!(job_events.insert((change.job.id.as_str(), seq), ()))?;
            stored.push(event);
        }
    }
    Ok(stored)
}

pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain records cannot fail: no maps with non-string keys, no I/O.
    serde_json::to_vec(value).expect("records serialise to JSON")
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    key: &str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Decode {
        key: key.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reef_core::lifecycle::Transition;
    use reef_core::testing::job;
    use reef_core::time::Timestamp;

    fn store() -> (tempfile::TempDir, JobStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::open(&dir.path().join("reef.redb")).unwrap();
        (dir, store)
    }

    fn job_n(i: u32) -> Job {
        let mut j = job();
        j.id = JobId::named(&format!("01J{i:023}"));
        j.runner = if i.is_multiple_of(2) { "even" } else { "odd" }.into();
        j
    }

    #[test]
    fn jobs_attempts_and_events_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reef.redb");
        let mut j = job();
        {
            let store = JobStore::open(&path).unwrap();
            store.insert_job(&j, None).unwrap();
            let event = j
                .apply(Transition::Start { attempt: 1 }, Timestamp(5))
                .unwrap();
            let attempt = Attempt::started(1, Timestamp(5), 1000, 100);
            let stored = store
                .write(&[Change {
                    job: j.clone(),
                    attempt: Some(attempt),
                    events: vec![event],
                }])
                .unwrap();
            assert_eq!(stored[0].seq, 2);
        }
        let store = JobStore::open(&path).unwrap();
        assert_eq!(store.job(&j.id).unwrap(), Some(j.clone()));
        assert_eq!(store.attempts(&j.id).unwrap().len(), 1);
        let events = store.events_of(&j.id).unwrap();
        assert_eq!(
            events
                .iter()
                .map(|e| e.transition.as_str())
                .collect::<Vec<_>>(),
            ["submit", "start"]
        );
        assert_eq!(store.unfinished_jobs().unwrap().len(), 1);
    }

    #[test]
    fn concurrent_writes_share_transactions_and_lose_nothing() {
        let (_dir, store) = store();
        std::thread::scope(|s| {
            for t in 0..8 {
                let store = store.clone();
                s.spawn(move || {
                    for i in 0..25 {
                        store.insert_job(&job_n(t * 100 + i), None).unwrap();
                    }
                });
            }
        });
        let (all, _) = store.list(&JobFilter::default(), 1000, None).unwrap();
        assert_eq!(all.len(), 200);
        let events = store.events_after(0, 1000).unwrap();
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(
            seqs,
            (1..=200).collect::<Vec<_>>(),
            "one event each, numbered without gaps"
        );
        // A client's cursor past every event, the largest one included, replays nothing.
        assert_eq!(store.events_after(200, 10).unwrap().len(), 0);
        assert_eq!(store.events_after(u64::MAX, 10).unwrap().len(), 0);
        assert_eq!(store.events_after(u64::MAX - 1, 10).unwrap().len(), 0);
    }

    #[test]
    fn listing_pages_newest_first_with_filters() {
        let (_dir, store) = store();
        for i in 0..25 {
            store.insert_job(&job_n(i), None).unwrap();
        }
        let all = JobFilter::default();
        let (page, next) = store.list(&all, 10, None).unwrap();
        assert_eq!(page[0].id, job_n(24).id);
        let (page2, _) = store
            .list(&all, 10, next.as_ref().map(JobId::as_str))
            .unwrap();
        assert_eq!(page2[0].id, job_n(14).id);
        let (_, none) = store.list(&all, 25, None).unwrap();
        assert_eq!(none, None, "no cursor once everything was returned");

        let even = JobFilter {
            runner: Some("even".into()),
            ..Default::default()
        };
        let (mut seen, mut cursor) = (0, None);
        loop {
            let (page, next) = store
                .list(&even, 4, cursor.as_ref().map(JobId::as_str))
                .unwrap();
            assert!(page.iter().all(|j| j.runner == "even"));
            seen += page.len();
            cursor = next;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(seen, 13);
    }
}

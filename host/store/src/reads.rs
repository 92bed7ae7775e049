//! What the store answers: jobs, attempts, events and idempotency keys, each read in one redb
//! read transaction (a consistent snapshot, never blocked by a writer).

use super::{
    ATTEMPTS, EVENTS, IDEMPOTENCY, JOB_EVENTS, JOBS, JobFilter, JobStore, KeyRecord, KeyedInsert,
    StoreError, decode,
};
use crate::handle::db;
use redb::{Key, ReadOnlyTable, ReadTransaction, ReadableTable, TableDefinition, Value};
use reef_core::job_id::JobId;
use reef_core::lifecycle::JobEvent;
use reef_core::model::{Attempt, Job};
use reef_core::time::Timestamp;

/// One read transaction.
pub(crate) struct Snapshot<'a>(&'a ReadTransaction);

impl Snapshot<'_> {
    pub(crate) fn table<K: Key + 'static, V: Value + 'static>(
        &self,
        definition: TableDefinition<K, V>,
    ) -> Result<ReadOnlyTable<K, V>, StoreError> {
        self.0
            .open_table(definition)
            .map_err(|e| StoreError::Db(e.into()))
    }
}

impl JobStore {
    /// Runs `read` on a fresh snapshot of the database.
    fn read<T>(
        &self,
        read: impl FnOnce(&Snapshot) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.db.read(|txn| read(&Snapshot(txn)))
    }

    /// The job called `id`.
    pub fn job(&self, id: &JobId) -> Result<Option<Job>, StoreError> {
        self.read(|snapshot| {
            db(snapshot.table(JOBS)?.get(id.as_str()))?
                .map(|v| decode(id.as_str(), v.value()))
                .transpose()
        })
    }

    /// The attempts of job `id`, oldest first.
    pub fn attempts(&self, id: &JobId) -> Result<Vec<Attempt>, StoreError> {
        self.read(|snapshot| {
            let id = id.as_str();
            let table = snapshot.table(ATTEMPTS)?;
            db(table.range((id, 0)..=(id, u32::MAX)))?
                .map(|entry| {
                    let (key, value) = db(entry)?;
                    let (job, n) = key.value();
                    decode(&format!("{job}/{n}"), value.value())
                })
                .collect()
        })
    }

    /// One attempt.
    pub fn attempt(&self, id: &JobId, n: u32) -> Result<Option<Attempt>, StoreError> {
        self.read(|snapshot| {
            db(snapshot.table(ATTEMPTS)?.get((id.as_str(), n)))?
                .map(|v| decode(&format!("{id}/{n}"), v.value()))
                .transpose()
        })
    }

    /// Up to `limit` jobs matching `filter`, newest first, starting after `cursor` (the id of the
    /// last job of the previous page). Returns the page and the cursor of the next one.
    pub fn list(
        &self,
        filter: &JobFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<Job>, Option<JobId>), StoreError> {
        self.read(|snapshot| {
            let jobs = snapshot.table(JOBS)?;
            let mut page = Vec::new();
            for id in crate::job_index::candidate_ids(snapshot, filter, cursor)? {
                let id = id?;
                let Some(job) = job_at(&jobs, &id)? else {
                    continue;
                };
                if !filter.matches(&job) {
                    continue;
                }
                if page.len() == limit {
                    let next = page.last().map(|j: &Job| j.id.clone());
                    return Ok((page, next));
                }
                page.push(job);
            }
            Ok((page, None))
        })
    }

    /// Calls `visit` with every job matching `filter` that was created at or after `since`,
    /// newest first, and its latest attempt; read from the narrowest index the filter names.
    pub fn visit_jobs(
        &self,
        filter: &JobFilter,
        since: Option<Timestamp>,
        mut visit: impl FnMut(&Job, Option<&Attempt>),
    ) -> Result<(), StoreError> {
        self.read(|snapshot| {
            let jobs = snapshot.table(JOBS)?;
            let attempts = snapshot.table(ATTEMPTS)?;
            for id in crate::job_index::candidate_ids(snapshot, filter, None)? {
                let id = id?;
                let Some(job) = job_at(&jobs, &id)? else {
                    continue;
                };
                // Ids grow with creation time: every job after this one is older still.
                if since.is_some_and(|since| job.created_at < since) {
                    break;
                }
                if !filter.matches(&job) {
                    continue;
                }
                let latest: Option<Attempt> = match job.attempt_count {
                    0 => None,
                    n => db(attempts.get((id.as_str(), n)))?
                        .map(|v| decode(&format!("{id}/{n}"), v.value()))
                        .transpose()?,
                };
                visit(&job, latest.as_ref());
            }
            Ok(())
        })
    }

    /// Every job not in a terminal state, oldest first: what the scheduler rebuilds from.
    pub fn unfinished_jobs(&self) -> Result<Vec<Job>, StoreError> {
        self.read(|snapshot| {
            let mut out = Vec::new();
            for entry in db(snapshot.table(JOBS)?.iter())? {
                let (key, value) = db(entry)?;
                let job: Job = decode(key.value(), value.value())?;
                if !job.state.is_terminal() {
                    out.push(job);
                }
            }
            Ok(out)
        })
    }

    /// Events of job `id`, oldest first.
    pub fn events_of(&self, id: &JobId) -> Result<Vec<JobEvent>, StoreError> {
        self.read(|snapshot| {
            let id = id.as_str();
            let index = snapshot.table(JOB_EVENTS)?;
            let table = snapshot.table(EVENTS)?;
            let mut out = Vec::new();
            for entry in db(index.range((id, 0)..=(id, u64::MAX)))? {
                let (key, _) = db(entry)?;
                let (_, seq) = key.value();
                if let Some(value) = db(table.get(seq))? {
                    out.push(decode(&seq.to_string(), value.value())?);
                }
            }
            Ok(out)
        })
    }

    /// Up to `limit` events with a sequence number above `seq`, oldest first.
    pub fn events_after(&self, seq: u64, limit: usize) -> Result<Vec<JobEvent>, StoreError> {
        // `seq` comes from a client (`Last-Event-ID`); nothing comes after the largest.
        let Some(first) = seq.checked_add(1) else {
            return Ok(Vec::new());
        };
        self.read(|snapshot| {
            db(snapshot.table(EVENTS)?.range(first..))?
                .take(limit)
                .map(|entry| {
                    let (key, value) = db(entry)?;
                    decode(&key.value().to_string(), value.value())
                })
                .collect()
        })
    }

    /// What a key seen before says about a request with this body: `Replay` of its job,
    /// `Conflict`, or `None` when the key is unknown or expired.
    pub fn lookup_key(
        &self,
        key: &str,
        body_sha256: &str,
    ) -> Result<Option<KeyedInsert>, StoreError> {
        let now = Timestamp::now();
        let record: Option<KeyRecord> = self.read(|snapshot| {
            db(snapshot.table(IDEMPOTENCY)?.get(key))?
                .map(|v| decode(key, v.value()))
                .transpose()
        })?;
        Ok(record.filter(|r| r.expires_at > now).map(|r| {
            if r.body_sha256 == body_sha256 {
                KeyedInsert::Replay(r.job_id)
            } else {
                KeyedInsert::Conflict(r.job_id)
            }
        }))
    }
}

/// The job stored under `id` in `jobs` (an index may briefly name a job no longer there).
fn job_at(
    jobs: &ReadOnlyTable<&'static str, &'static [u8]>,
    id: &str,
) -> Result<Option<Job>, StoreError> {
    db(jobs.get(id))?.map(|v| decode(id, v.value())).transpose()
}

//! Sweeps: each sweep's record and its jobs by cell, written together with those jobs in one
//! durable transaction, so a sweep is there whole or not at all.

use super::{Change, JobStore, KeyedInsert, StoreError, claim_key, decode, encode, write_changes};
use crate::handle::db;
use redb::TableDefinition;
use reef_core::job_id::JobId;
use reef_core::lifecycle::JobEvent;
use reef_core::model::{Attempt, Job};
use reef_core::sweep::{Sweep, SweepId};

/// One cell of a sweep as stored now: its job (gone once retention deleted it) and the job's
/// first and latest attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepCell {
    /// The cell's job id.
    pub job_id: JobId,
    /// The job, unless retention has deleted it.
    pub job: Option<Job>,
    /// Its first attempt, if one started.
    pub first: Option<Attempt>,
    /// Its latest attempt, if one started.
    pub latest: Option<Attempt>,
}

/// Sweep id → the sweep (JSON).
pub(crate) const SWEEPS: TableDefinition<&str, &[u8]> = TableDefinition::new("sweeps");
/// (sweep id, cell) → the job of that cell.
pub(crate) const SWEEP_CELLS: TableDefinition<(&str, u32), &str> =
    TableDefinition::new("sweep_cells");

/// A sweep's idempotency key in the table it shares with job keys. A key sent by a client is
/// visible ASCII, never a space, so no job key can take this form.
fn sweep_key(key: &str) -> String {
    format!("sweep {key}")
}

impl JobStore {
    /// Stores `sweep` and its jobs, cell by cell in the order given, each with its `submit`
    /// event naming what admitted it, in one durable transaction; returns the stored events.
    pub fn insert_sweep(
        &self,
        sweep: &Sweep,
        jobs: &[(Job, Option<String>)],
    ) -> Result<Vec<JobEvent>, StoreError> {
        self.insert_sweep_keyed(sweep, jobs, None)
            .map(|(_, events)| events)
    }

    /// Like [`JobStore::insert_sweep`], under an idempotency key (key, SHA-256 of the request,
    /// how long it is remembered) when one is given: a key seen before creates nothing and
    /// answers the earlier sweep's id (`Replay`), or `Conflict` when the request differed. Sweep
    /// keys live apart from job keys: the same key may name a job and a sweep.
    pub fn insert_sweep_keyed(
        &self,
        sweep: &Sweep,
        jobs: &[(Job, Option<String>)],
        key: Option<(&str, &str, std::time::Duration)>,
    ) -> Result<(KeyedInsert, Vec<JobEvent>), StoreError> {
        let changes: Vec<Change> = jobs
            .iter()
            .map(|(job, admitted_by)| {
                let mut event = JobEvent::created(job);
                event.policy = admitted_by.clone();
                Change {
                    job: job.clone(),
                    attempt: None,
                    events: vec![event],
                }
            })
            .collect();
        let (outcome, events) = self.db.write(|txn| {
            if let Some((key, body_sha256, ttl)) = key
                && let Some(earlier) =
                    claim_key(txn, &sweep_key(key), body_sha256.to_owned(), ttl, &sweep.id)?
            {
                return Ok((earlier, Vec::new()));
            }
            {
                let mut sweeps = db(txn.open_table(SWEEPS))?;
                db(sweeps.insert(sweep.id.as_str(), encode(sweep).as_slice()))?;
                let mut cells = db(txn.open_table(SWEEP_CELLS))?;
                for (cell, (job, _)) in jobs.iter().enumerate() {
                    db(cells.insert((sweep.id.as_str(), cell as u32), job.id.as_str()))?;
                }
            }
            Ok((KeyedInsert::Created, write_changes(txn, &changes)?))
        })?;
        self.publish(&events);
        Ok((outcome, events))
    }

    /// What a sweep key seen before says about a request with this body (as
    /// [`JobStore::lookup_key`] for jobs).
    pub fn lookup_sweep_key(
        &self,
        key: &str,
        body_sha256: &str,
    ) -> Result<Option<KeyedInsert>, StoreError> {
        self.lookup_key(&sweep_key(key), body_sha256)
    }

    /// The sweep called `id`.
    pub fn find_sweep(&self, id: &SweepId) -> Result<Option<Sweep>, StoreError> {
        self.db.read(|txn| {
            db(db(txn.open_table(SWEEPS))?.get(id.as_str()))?
                .map(|v| decode(id.as_str(), v.value()))
                .transpose()
        })
    }

    /// The jobs of sweep `id`, by cell.
    pub fn sweep_jobs(&self, id: &SweepId) -> Result<Vec<JobId>, StoreError> {
        self.db.read(|txn| {
            let id = id.as_str();
            let cells = db(txn.open_table(SWEEP_CELLS))?;
            db(cells.range((id, 0)..=(id, u32::MAX)))?
                .map(|entry| {
                    let (_, job) = db(entry)?;
                    // Stored from a `JobId`: its text form, read back as one.
                    let text = serde_json::Value::String(job.value().to_owned());
                    serde_json::from_value(text).map_err(|source| StoreError::Decode {
                        key: format!("{id}/cells"),
                        source,
                    })
                })
                .collect()
        })
    }

    /// Every cell of sweep `id` with its job and attempts, in one snapshot.
    pub fn sweep_cells(&self, id: &SweepId) -> Result<Vec<SweepCell>, StoreError> {
        let ids = self.sweep_jobs(id)?;
        self.db.read(|txn| {
            let jobs = db(txn.open_table(super::JOBS))?;
            let attempts = db(txn.open_table(super::ATTEMPTS))?;
            let attempt = |job: &JobId, n: u32| -> Result<Option<Attempt>, StoreError> {
                db(attempts.get((job.as_str(), n)))?
                    .map(|v| decode(&format!("{job}/{n}"), v.value()))
                    .transpose()
            };
            ids.into_iter()
                .map(|job_id| {
                    let job: Option<Job> = db(jobs.get(job_id.as_str()))?
                        .map(|v| decode(job_id.as_str(), v.value()))
                        .transpose()?;
                    let count = job.as_ref().map_or(0, |j| j.attempt_count);
                    let first = if count > 0 {
                        attempt(&job_id, 1)?
                    } else {
                        None
                    };
                    let latest = if count > 1 {
                        attempt(&job_id, count)?
                    } else {
                        first.clone()
                    };
                    Ok(SweepCell {
                        job_id,
                        job,
                        first,
                        latest,
                    })
                })
                .collect()
        })
    }

    /// Up to `limit` sweeps, newest first, after `cursor` (the last id of the previous page);
    /// returns the page and the cursor of the next one.
    pub fn list_sweeps(
        &self,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<Sweep>, Option<SweepId>), StoreError> {
        self.db.read(|txn| {
            let sweeps = db(txn.open_table(SWEEPS))?;
            let range = match cursor {
                Some(c) => db(sweeps.range(..c))?,
                None => db(sweeps.range::<&str>(..))?,
            };
            let mut page: Vec<Sweep> = Vec::new();
            for entry in range.rev() {
                let (key, value) = db(entry)?;
                if page.len() == limit {
                    let next = page.last().map(|s| s.id.clone());
                    return Ok((page, next));
                }
                page.push(decode(key.value(), value.value())?);
            }
            Ok((page, None))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reef_core::time::Timestamp;
    use std::collections::BTreeMap;

    fn id(n: u8) -> JobId {
        JobId::parse(&format!("01J00000000000000000000{n:03}")).unwrap()
    }

    fn sweep(n: u8, cells: u32) -> Sweep {
        Sweep {
            id: id(n),
            runner: "demo".into(),
            matrix: BTreeMap::new(),
            params: serde_json::Map::new(),
            labels: BTreeMap::new(),
            created_at: Timestamp(1),
            cells,
        }
    }

    #[test]
    fn a_sweep_is_stored_whole_with_its_jobs_by_cell_and_listed_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::open(&dir.path().join("reef.redb")).unwrap();
        // Cells in an order that is not the order of their ids.
        let jobs: Vec<(Job, Option<String>)> = [105, 101, 103]
            .into_iter()
            .map(|n| {
                let job = Job::queued(id(n), "demo", BTreeMap::new(), Timestamp(1));
                (job, Some("native".to_owned()))
            })
            .collect();
        let events = store.insert_sweep(&sweep(1, 3), &jobs).unwrap();
        assert_eq!(events.len(), 3);
        assert!(events.iter().all(|e| e.transition == "submit" && e.seq > 0));
        assert_eq!(store.find_sweep(&id(1)).unwrap(), Some(sweep(1, 3)));
        assert_eq!(store.find_sweep(&id(2)).unwrap(), None);
        assert_eq!(
            store.sweep_jobs(&id(1)).unwrap(),
            [id(105), id(101), id(103)]
        );
        for (job, _) in &jobs {
            assert_eq!(store.job(&job.id).unwrap().as_ref(), Some(job));
        }
        store.insert_sweep(&sweep(2, 0), &[]).unwrap();
        store.insert_sweep(&sweep(3, 0), &[]).unwrap();
        let (page, next) = store.list_sweeps(2, None).unwrap();
        let ids: Vec<&JobId> = page.iter().map(|s| &s.id).collect();
        assert_eq!(ids, [&id(3), &id(2)]);
        let (rest, end) = store.list_sweeps(2, next.as_deref()).unwrap();
        assert_eq!(rest.iter().map(|s| &s.id).collect::<Vec<_>>(), [&id(1)]);
        assert_eq!(end, None);
    }
}

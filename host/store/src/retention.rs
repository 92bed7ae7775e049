//! Retention: finished jobs, their attempts and events are deleted once older than a maximum age
//! or beyond a maximum count, oldest first, a small batch per transaction so the API never waits
//! long behind a sweep. The attempt directories (logs, results) go with them.

use super::{ATTEMPTS, EVENTS, FINISHED, JOB_EVENTS, JOBS, Job, JobStore, StoreError, decode};
use redb::{ReadableTable, ReadableTableMetadata};
use reef_core::job_id::JobId;
use reef_core::time::Timestamp;
use std::time::Duration;

/// What is kept.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RetentionRule {
    /// Finished jobs older than this (since they finished) are deleted.
    pub max_age: Option<Duration>,
    /// At most this many finished jobs are kept (the oldest go first).
    pub max_finished: Option<u64>,
}

macro_rules! db {
    ($e:expr) => {
        $e.map_err(|e| StoreError::Db(e.into()))
    };
}

impl JobStore {
    /// Deletes up to `batch` finished jobs that `rule` no longer keeps, in one transaction;
    /// returns their ids (the caller removes their attempt directories).
    pub fn sweep(
        &self,
        rule: RetentionRule,
        now: Timestamp,
        batch: usize,
    ) -> Result<Vec<JobId>, StoreError> {
        if rule.max_age.is_none() && rule.max_finished.is_none() {
            return Ok(Vec::new());
        }
        let cutoff = rule
            .max_age
            .map(|age| now.0.saturating_sub(age.as_millis() as u64));
        self.db.write(|txn| {
            let mut deleted = Vec::new();
            let mut finished = db!(txn.open_table(FINISHED))?;
            let mut jobs = db!(txn.open_table(JOBS))?;
            let mut attempts = db!(txn.open_table(ATTEMPTS))?;
            let mut events = db!(txn.open_table(EVENTS))?;
            let mut job_events = db!(txn.open_table(JOB_EVENTS))?;
            let mut index = crate::job_index::JobIndex::open(txn)?;
            let mut excess = match rule.max_finished {
                Some(max) => db!(finished.len())?.saturating_sub(max),
                None => 0,
            };
            let mut visited = Vec::new();
            for entry in db!(finished.iter())? {
                let (key, _) = db!(entry)?;
                let (at, id) = key.value();
                let too_old = cutoff.is_some_and(|c| at < c);
                if !too_old && excess == 0 || visited.len() >= batch {
                    break;
                }
                visited.push((at, id.to_owned()));
                excess = excess.saturating_sub(1);
            }
            for (at, id) in visited {
                db!(finished.remove((at, id.as_str())))?;
                let job: Option<Job> = db!(jobs.get(id.as_str()))?
                    .map(|v| decode(&id, v.value()))
                    .transpose()?;
                // Re-driven since it finished (or already gone): only the index entry was stale.
                let Some(job) = job.filter(|j| j.state.is_terminal() && j.updated_at.0 == at)
                else {
                    continue;
                };
                db!(jobs.remove(job.id.as_str()))?;
                index.forget(&job)?;
                for n in 1..=job.attempt_count {
                    db!(attempts.remove((job.id.as_str(), n)))?;
                }
                let seqs: Vec<u64> =
                    db!(job_events.range((job.id.as_str(), 0)..=(job.id.as_str(), u64::MAX)))?
                        .filter_map(|e| e.ok().map(|(k, _)| k.value().1))
                        .collect();
                for seq in seqs {
                    db!(events.remove(seq))?;
                    db!(job_events.remove((job.id.as_str(), seq)))?;
                }
                deleted.push(job.id);
            }
            Ok(deleted)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Change;
    use reef_core::lifecycle::{JobState, Transition};
    use reef_core::testing::job;

    fn finished(store: &JobStore, i: u32, at: u64) -> JobId {
        let mut j = job();
        j.id = JobId::named(&format!("01J{i:023}"));
        store.insert_job(&j, None).unwrap();
        let start = j
            .apply(Transition::Start { attempt: 1 }, Timestamp(at))
            .unwrap();
        let end = j.apply(Transition::Succeed, Timestamp(at)).unwrap();
        store
            .write(&[Change {
                job: j.clone(),
                attempt: None,
                events: vec![start, end],
            }])
            .unwrap();
        j.id
    }

    #[test]
    fn old_jobs_go_in_batches_and_running_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::open(&dir.path().join("reef.redb")).unwrap();
        let old: Vec<JobId> = (0..5).map(|i| finished(&store, i, 1_000)).collect();
        let fresh = finished(&store, 9, 100_000);
        let mut running = job();
        running.id = JobId::named(&format!("01J{:023}", 20));
        store.insert_job(&running, None).unwrap();
        let rule = RetentionRule {
            max_age: Some(Duration::from_secs(10)),
            max_finished: None,
        };
        let now = Timestamp(50_000);
        assert_eq!(
            store.sweep(rule, now, 3).unwrap().len(),
            3,
            "a batch at a time"
        );
        assert_eq!(store.sweep(rule, now, 3).unwrap().len(), 2);
        assert!(store.sweep(rule, now, 3).unwrap().is_empty());
        for id in &old {
            assert!(store.job(id).unwrap().is_none());
            assert!(store.events_of(id).unwrap().is_empty());
        }
        assert!(store.job(&fresh).unwrap().is_some());
        assert_eq!(
            store.job(&running.id).unwrap().unwrap().state,
            JobState::Queued
        );
    }
}

//! Secondary indexes of jobs by runner, by label and by state, so that a filtered listing or an
//! aggregate over one runner's jobs reads those jobs only, not the whole `jobs` table.
//!
//! Each index key ends with the job id, so an index range read backwards yields the newest job
//! first, as the listing shows them. A job's runner and labels never change after it is stored;
//! its state does, and [`JobIndex::record`] moves the state entry with it. Retention removes all
//! of a job's entries with the job ([`JobIndex::forget`]). A database written before the indexes
//! existed gets them built once, when it is opened ([`build_if_missing`]).

use crate::handle::db;
use crate::{JOBS, JobFilter, StoreError, decode};
use redb::{ReadableTable, TableDefinition};
use reef_core::lifecycle::JobState;
use reef_core::model::Job;

/// (runner, job id)
pub(crate) const BY_RUNNER: TableDefinition<(&str, &str), ()> =
    TableDefinition::new("jobs_by_runner");
/// (label key, label value, job id)
pub(crate) const BY_LABEL: TableDefinition<(&str, &str, &str), ()> =
    TableDefinition::new("jobs_by_label");
/// (state, job id)
pub(crate) const BY_STATE: TableDefinition<(&str, &str), ()> =
    TableDefinition::new("jobs_by_state");

/// Above every job id: ULIDs are Crockford base32, and `~` sorts after all of its characters.
const AFTER_IDS: &str = "~";

/// The three index tables, open for writing in one transaction.
pub(crate) struct JobIndex<'txn> {
    by_runner: redb::Table<'txn, (&'static str, &'static str), ()>,
    by_label: redb::Table<'txn, (&'static str, &'static str, &'static str), ()>,
    by_state: redb::Table<'txn, (&'static str, &'static str), ()>,
}

impl<'txn> JobIndex<'txn> {
    /// Opens the index tables in `txn`.
    pub(crate) fn open(txn: &'txn redb::WriteTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            by_runner: db(txn.open_table(BY_RUNNER))?,
            by_label: db(txn.open_table(BY_LABEL))?,
            by_state: db(txn.open_table(BY_STATE))?,
        })
    }

    /// Indexes `job` as just written, `previous` being what the table held before (`None` for
    /// a new job).
    pub(crate) fn record(
        &mut self,
        job: &Job,
        previous: Option<JobState>,
    ) -> Result<(), StoreError> {
        let id = job.id.as_str();
        match previous {
            None => {
                db(self.by_runner.insert((job.runner.as_str(), id), ()))?;
                for (key, value) in &job.labels {
                    db(self.by_label.insert((key.as_str(), value.as_str(), id), ()))?;
                }
            }
            Some(old) if old == job.state => return Ok(()),
            Some(old) => {
                db(self.by_state.remove((state_name(old), id)))?;
            }
        }
        db(self.by_state.insert((state_name(job.state), id), ()))?;
        Ok(())
    }

    /// Removes every entry of `job` (deleted by retention).
    pub(crate) fn forget(&mut self, job: &Job) -> Result<(), StoreError> {
        let id = job.id.as_str();
        db(self.by_runner.remove((job.runner.as_str(), id)))?;
        for (key, value) in &job.labels {
            db(self.by_label.remove((key.as_str(), value.as_str(), id)))?;
        }
        db(self.by_state.remove((state_name(job.state), id)))?;
        Ok(())
    }
}

/// Builds the indexes of a database that predates them: every job is indexed once, and a mark
/// in `meta` says it was done.
pub(crate) fn build_if_missing(txn: &redb::WriteTransaction) -> Result<(), StoreError> {
    let mut meta = db(txn.open_table(crate::META))?;
    if db(meta.get(INDEXED_MARK))?.is_some() {
        return Ok(());
    }
    let jobs = db(txn.open_table(JOBS))?;
    let mut index = JobIndex::open(txn)?;
    for entry in db(jobs.iter())? {
        let (key, value) = db(entry)?;
        let job: Job = decode(key.value(), value.value())?;
        index.record(&job, None)?;
    }
    db(meta.insert(INDEXED_MARK, 1))?;
    Ok(())
}

/// The `meta` key that marks the job indexes as built.
const INDEXED_MARK: &str = "job_indexes";

/// The key of a state in `jobs_by_state`.
fn state_name(state: JobState) -> &'static str {
    state.as_str()
}

/// The ids of the jobs that may match `filter`, newest first, strictly before `cursor`: from the
/// narrowest index the filter names (a label, then the runner, then the state), or every job.
/// The caller still checks each job against the whole filter.
pub(crate) fn candidate_ids<'a>(
    snapshot: &'a crate::reads::Snapshot,
    filter: &'a JobFilter,
    cursor: Option<&'a str>,
) -> Result<Box<dyn Iterator<Item = Result<String, StoreError>> + 'a>, StoreError> {
    let upper = cursor.unwrap_or(AFTER_IDS);
    if let Some((key, value)) = &filter.label {
        let table = snapshot.table(BY_LABEL)?;
        let range =
            db(table
                .range((key.as_str(), value.as_str(), "")..(key.as_str(), value.as_str(), upper)))?;
        return Ok(Box::new(
            range
                .rev()
                .map(|e| db(e).map(|(k, _)| k.value().2.to_owned())),
        ));
    }
    let (table, first) = match (&filter.runner, filter.state) {
        (Some(runner), _) => (snapshot.table(BY_RUNNER)?, runner.as_str()),
        (None, Some(state)) => (snapshot.table(BY_STATE)?, state_name(state)),
        (None, None) => {
            let jobs = snapshot.table(JOBS)?;
            let range = db(jobs.range::<&str>(..upper))?;
            return Ok(Box::new(
                range
                    .rev()
                    .map(|e| db(e).map(|(k, _)| k.value().to_owned())),
            ));
        }
    };
    let range = db(table.range((first, "")..(first, upper)))?;
    Ok(Box::new(
        range
            .rev()
            .map(|e| db(e).map(|(k, _)| k.value().1.to_owned())),
    ))
}

#[cfg(test)]
mod tests {
    use crate::{Change, JobFilter, JobStore, RetentionRule};
    use reef_core::job_id::JobId;
    use reef_core::lifecycle::{JobState, Transition};
    use reef_core::model::Job;
    use reef_core::time::Timestamp;

    fn job(i: u32, runner: &str, team: &str) -> Job {
        let mut job = reef_core::testing::job();
        job.id = JobId::named(&format!("01J{i:023}"));
        job.runner = runner.into();
        job.labels.insert("team".into(), team.into());
        job
    }

    fn change(job: &mut Job, transition: Transition, at: u64) -> Change {
        let event = job.apply(transition, Timestamp(at)).unwrap();
        Change {
            job: job.clone(),
            attempt: None,
            events: vec![event],
        }
    }

    fn ids(store: &JobStore, filter: &JobFilter) -> Vec<String> {
        let (mut all, mut cursor) = (Vec::new(), None::<JobId>);
        loop {
            let (page, next) = store
                .list(filter, 2, cursor.as_ref().map(JobId::as_str))
                .unwrap();
            all.extend(page.into_iter().map(|j| j.id.to_string()));
            match next {
                Some(next) => cursor = Some(next),
                None => return all,
            }
        }
    }

    fn filter(runner: Option<&str>, state: Option<JobState>, team: Option<&str>) -> JobFilter {
        JobFilter {
            state,
            runner: runner.map(str::to_owned),
            label: team.map(|t| ("team".to_owned(), t.to_owned())),
        }
    }

    /// Entries in the three index tables.
    fn entries(store: &JobStore) -> usize {
        store
            .db
            .read(|txn| {
                let count = |n: Result<u64, redb::StorageError>| n.unwrap_or(0) as usize;
                use redb::ReadableTableMetadata;
                Ok(count(txn.open_table(super::BY_RUNNER).unwrap().len())
                    + count(txn.open_table(super::BY_LABEL).unwrap().len())
                    + count(txn.open_table(super::BY_STATE).unwrap().len()))
            })
            .unwrap()
    }

    #[test]
    fn filtered_listings_follow_state_changes_and_page_through_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::open(&dir.path().join("reef.redb")).unwrap();
        let mut jobs: Vec<Job> = (0..6)
            .map(|i| {
                job(
                    i,
                    if i < 4 { "a" } else { "b" },
                    if i % 2 == 0 { "x" } else { "y" },
                )
            })
            .collect();
        for job in &jobs {
            store.insert_job(job, None).unwrap();
        }
        let start = change(&mut jobs[1], Transition::Start { attempt: 1 }, 5);
        store.write(&[start]).unwrap();
        let names: Vec<String> = jobs.iter().map(|j| j.id.to_string()).collect();
        let name = |i: usize| names[i].clone();
        assert_eq!(
            ids(&store, &filter(Some("a"), None, None)),
            [name(3), name(2), name(1), name(0)]
        );
        assert_eq!(
            ids(&store, &filter(None, None, Some("x"))),
            [name(4), name(2), name(0)]
        );
        assert_eq!(
            ids(&store, &filter(None, Some(JobState::Running), None)),
            [name(1)]
        );
        assert_eq!(
            ids(&store, &filter(None, Some(JobState::Queued), None)),
            [name(5), name(4), name(3), name(2), name(0)]
        );
        assert_eq!(
            ids(
                &store,
                &filter(Some("a"), Some(JobState::Queued), Some("y"))
            ),
            [name(3)]
        );

        // The state entry moves with the job.
        let done = change(&mut jobs[1], Transition::Succeed, 6);
        store.write(&[done]).unwrap();
        assert!(ids(&store, &filter(None, Some(JobState::Running), None)).is_empty());
        assert_eq!(
            ids(&store, &filter(None, Some(JobState::Succeeded), None)),
            [name(1)]
        );
        // runner + label + state: one entry each per job.
        assert_eq!(entries(&store), 6 * 3);

        // Retention takes the job's entries with it.
        let rule = RetentionRule {
            max_age: None,
            max_finished: Some(0),
        };
        assert_eq!(
            store.sweep(rule, Timestamp(10), 100).unwrap(),
            [jobs[1].id.clone()]
        );
        assert_eq!(entries(&store), 5 * 3);
        assert_eq!(
            ids(&store, &filter(Some("a"), None, None)),
            [name(3), name(2), name(0)]
        );
    }

    #[test]
    fn a_database_from_before_the_indexes_gets_them_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reef.redb");
        {
            let store = JobStore::open(&path).unwrap();
            for i in 0..3 {
                store.insert_job(&job(i, "a", "x"), None).unwrap();
            }
            // As a database written before the indexes existed: no index tables, no mark.
            store
                .db
                .write(|txn| {
                    txn.delete_table(super::BY_RUNNER).unwrap();
                    txn.delete_table(super::BY_LABEL).unwrap();
                    txn.delete_table(super::BY_STATE).unwrap();
                    let mut meta = txn.open_table(crate::META).unwrap();
                    meta.remove(super::INDEXED_MARK).unwrap();
                    Ok(())
                })
                .unwrap();
        }
        let store = JobStore::open(&path).unwrap();
        assert_eq!(entries(&store), 3 * 3);
        assert_eq!(ids(&store, &filter(None, None, Some("x"))).len(), 3);
        assert_eq!(
            ids(&store, &filter(Some("a"), Some(JobState::Queued), None)).len(),
            3
        );
    }
}

//! Results in [`JobService`]: a runner's jobs grouped by parameter or label values, with how
//! each group did (jobs, success rate, scores, durations).

use crate::service::{JobService, ServiceError};
use reef_core::api::results::{DurationStats, GroupKey, ResultGroup, ResultsView, ScoreStats};
use reef_core::lifecycle::JobState;
use reef_core::model::{Attempt, Job};
use reef_core::params::ParamError;
use reef_core::time::Timestamp;
use reef_store::JobFilter;
use std::collections::BTreeMap;

/// What `GET /v1/results` asks for, as the API received it.
#[derive(Debug, Clone, Default)]
pub struct ResultsQuery {
    /// The runner whose jobs count.
    pub runner: String,
    /// `param:NAME` or `label:NAME` keys, comma-separated.
    pub group_by: String,
    /// Only jobs with this label, `key=value`.
    pub label: Option<String>,
    /// Only jobs created at or after this: an RFC 3339 time, or a duration back from now
    /// (`24h`, `7d`).
    pub since: Option<String>,
}

/// The running totals of one group.
#[derive(Default)]
struct Tally {
    jobs: u64,
    finished: u64,
    succeeded: u64,
    scores: Vec<f64>,
    durations: Vec<u64>,
}

impl Tally {
    fn add(&mut self, job: &Job, latest: Option<&Attempt>) {
        self.jobs += 1;
        if job.state.is_terminal() {
            self.finished += 1;
        }
        if job.state == JobState::Succeeded {
            self.succeeded += 1;
        }
        if let Some(attempt) = latest {
            if let Some(score) = attempt.score.filter(|s| s.is_finite()) {
                self.scores.push(score);
            }
            if let Some(ended) = attempt.ended_at {
                self.durations
                    .push(ended.0.saturating_sub(attempt.started_at.0));
            }
        }
    }

    fn into_group(self, key: BTreeMap<String, Option<String>>) -> ResultGroup {
        ResultGroup {
            key,
            jobs: self.jobs,
            finished: self.finished,
            succeeded: self.succeeded,
            success_rate: (self.finished > 0).then(|| self.succeeded as f64 / self.finished as f64),
            score: ScoreStats::of(&self.scores),
            duration_ms: DurationStats::of(self.durations),
        }
    }
}

impl JobService {
    /// The jobs of `query.runner` (filtered by label and creation time) grouped by the values of
    /// `query.group_by`, each group with how its jobs did. Reads that runner's jobs only (or the
    /// label's, when one is given), through the store's indexes.
    pub async fn results(&self, query: ResultsQuery) -> Result<ResultsView, ServiceError> {
        let keys = GroupKey::parse_list(&query.group_by).map_err(ServiceError::InvalidQuery)?;
        let runners = self.runners.load_full();
        let runner = runners
            .get(&query.runner)
            .ok_or_else(|| ServiceError::UnknownRunner(query.runner.clone()))?;
        // A parameter the runner does not declare is a typo, not a group of nobody.
        for key in &keys {
            if let GroupKey::Param(name) = key
                && !runner.params.declares(name)
            {
                let declared: Vec<&str> = runner.params.names().collect();
                return Err(ServiceError::Param(ParamError::Unknown {
                    name: name.clone(),
                    runner: query.runner.clone(),
                    declared: declared.join(", "),
                }));
            }
        }
        let label = query
            .label
            .as_deref()
            .map(crate::service::label_filter)
            .transpose()?;
        let since = query.since.as_deref().map(parse_since).transpose()?;
        let filter = JobFilter {
            state: None,
            runner: Some(query.runner.clone()),
            label,
        };
        let store = self.store.clone();
        let group_keys = keys.clone();
        let (jobs, tallies) = tokio::task::spawn_blocking(move || {
            let mut tallies: BTreeMap<Vec<Option<String>>, Tally> = BTreeMap::new();
            let mut jobs = 0u64;
            store.visit_jobs(&filter, since, |job, latest| {
                jobs += 1;
                let values = group_keys.iter().map(|k| value_of(job, k)).collect();
                tallies.entry(values).or_default().add(job, latest);
            })?;
            Ok::<_, ServiceError>((jobs, tallies))
        })
        .await
        .map_err(|_| ServiceError::Stopping)??;
        let names: Vec<String> = keys.iter().map(ToString::to_string).collect();
        let groups = tallies
            .into_iter()
            .map(|(values, tally)| tally.into_group(names.iter().cloned().zip(values).collect()))
            .collect();
        Ok(ResultsView {
            runner: query.runner,
            group_by: names,
            jobs,
            groups,
        })
    }
}

/// The value a job has for `key`.
fn value_of(job: &Job, key: &GroupKey) -> Option<String> {
    match key {
        GroupKey::Param(name) => job.params.get(name).cloned(),
        GroupKey::Label(name) => job.labels.get(name).cloned(),
    }
}

/// `since` as a time (see [`reef_core::time::SINCE_PATTERN`]).
fn parse_since(text: &str) -> Result<Timestamp, ServiceError> {
    reef_core::time::parse_since(text, Timestamp::now()).ok_or_else(|| {
        ServiceError::InvalidQuery(format!(
            "since {text:?} is neither an RFC 3339 time nor a duration such as 24h or 7d"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_time_or_a_duration() {
        assert_eq!(
            parse_since("2026-01-01T00:00:00Z").unwrap().0,
            1_767_225_600_000
        );
        let day_ago = parse_since("24h").unwrap().0;
        let expected = Timestamp::now().0 - 86_400_000;
        assert!(day_ago.abs_diff(expected) < 5_000);
        assert!(parse_since("yesterday").is_err());
    }
}

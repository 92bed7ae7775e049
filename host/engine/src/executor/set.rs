//! `ExecutorSet`: the executors of one host, by the names runners use.

use super::{Executor, Missing, Reattached};
use crate::supervisor::AttemptLayout;
use reef_core::executor::{Ending, LOCAL};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The executors a host runs attempts on, by configured name. `local` is always among them
/// (a set without it is refused), so an attempt whose executor is unknown still has a layout to
/// read its files from.
#[derive(Clone)]
pub struct ExecutorSet {
    by_name: Arc<BTreeMap<String, Arc<dyn Executor>>>,
}

/// Why an [`ExecutorSet`] cannot be built.
#[derive(Debug, thiserror::Error)]
#[error("the executor set has no `local` executor")]
pub struct NoLocalExecutor;

impl ExecutorSet {
    /// A set of `executors` under their configured names; one must be `local`.
    pub fn new(
        executors: impl IntoIterator<Item = (String, Arc<dyn Executor>)>,
    ) -> Result<Self, NoLocalExecutor> {
        let by_name: BTreeMap<_, _> = executors.into_iter().collect();
        if !by_name.contains_key(LOCAL) {
            return Err(NoLocalExecutor);
        }
        Ok(Self {
            by_name: Arc::new(by_name),
        })
    }

    /// A set of one executor, `local`.
    pub fn local(executor: Arc<dyn Executor>) -> Self {
        let by_name = BTreeMap::from([(LOCAL.to_owned(), executor)]);
        Self {
            by_name: Arc::new(by_name),
        }
    }

    /// The executor configured as `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Executor>> {
        self.by_name.get(name)
    }

    /// Where the files of attempts on `name` live; `local`'s for an unknown name.
    pub fn layout(&self, name: &str) -> &AttemptLayout {
        self.get(name)
            .or_else(|| self.get(LOCAL))
            .map(|e| e.layout())
            .expect("a set always holds `local`")
    }

    /// Every executor with its name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Arc<dyn Executor>)> {
        self.by_name.iter().map(|(name, e)| (name.as_str(), e))
    }

    /// Asks each executor about its own attempts; answers in the order asked. An attempt on an
    /// executor this host no longer has is lost (nothing here can reach it).
    pub async fn reattach(&self, missing: Vec<Missing>) -> Vec<Reattached> {
        let mut answers: Vec<Option<Reattached>> = vec![None; missing.len()];
        let mut by_executor: BTreeMap<String, Vec<(usize, Missing)>> = BTreeMap::new();
        for (i, m) in missing.into_iter().enumerate() {
            by_executor
                .entry(m.executor.clone())
                .or_default()
                .push((i, m));
        }
        for (name, asked) in by_executor {
            let (order, asked): (Vec<usize>, Vec<Missing>) = asked.into_iter().unzip();
            let found = match self.get(&name) {
                Some(executor) => executor.reattach(asked).await,
                None => Vec::new(),
            };
            let mut found = found.into_iter();
            for i in order {
                answers[i] = Some(found.next().unwrap_or_else(|| {
                    Reattached::Ended(Ending::Lost {
                        reason: format!("executor {name:?} is not configured on this host"),
                    })
                }));
            }
        }
        answers.into_iter().flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::{BoxFuture, LaunchError, LaunchRequest, Launched, ProgressSink};
    use reef_core::executor::{AttemptHandle, Placement};
    use reef_core::job_id::JobId;

    /// Finds every attempt it is asked about, placed on a node named after itself.
    struct Finder(String, AttemptLayout);

    impl Executor for Finder {
        fn name(&self) -> &str {
            &self.0
        }
        fn layout(&self) -> &AttemptLayout {
            &self.1
        }
        fn launch(&self, _: LaunchRequest) -> BoxFuture<Result<Launched, LaunchError>> {
            Box::pin(std::future::pending())
        }
        fn observe(&self, _: AttemptHandle, _: ProgressSink) -> BoxFuture<Ending> {
            Box::pin(std::future::pending())
        }
        fn cancel(&self, _: &AttemptHandle) {}
        fn reattach(&self, attempts: Vec<Missing>) -> BoxFuture<Vec<Reattached>> {
            let name = self.0.clone();
            Box::pin(async move {
                attempts
                    .into_iter()
                    .map(|m| {
                        Reattached::Running(Launched {
                            handle: AttemptHandle {
                                executor: name.clone(),
                                name: format!("{}-{}", m.job_id, m.attempt),
                                detail: serde_json::Value::Null,
                            },
                            placement: Placement {
                                executor: name.clone(),
                                node: Some(name.clone()),
                                id: None,
                            },
                            waiting: None,
                        })
                    })
                    .collect()
            })
        }
    }

    fn finder(name: &str) -> (String, Arc<dyn Executor>) {
        let layout = AttemptLayout::new(std::path::Path::new("/data").join(name).as_path());
        (name.to_owned(), Arc::new(Finder(name.to_owned(), layout)))
    }

    #[tokio::test]
    async fn reattach_asks_each_attempts_executor_and_answers_in_order() {
        let set = ExecutorSet::new([finder(LOCAL), finder("cluster")]).unwrap();
        let missing = |executor: &str, n: u32| Missing {
            executor: executor.to_owned(),
            job_id: JobId::from(ulid::Ulid::nil()),
            attempt: n,
            handle: None,
        };
        let found = set
            .reattach(vec![
                missing("cluster", 1),
                missing(LOCAL, 2),
                missing("gone", 3),
                missing("cluster", 4),
            ])
            .await;
        let seen: Vec<String> = found
            .iter()
            .map(|r| match r {
                Reattached::Running(l) => format!("{}:{}", l.placement.executor, l.handle.name),
                Reattached::Ended(Ending::Lost { reason }) => format!("lost:{reason}"),
                Reattached::Ended(Ending::Exited(_)) => "exited".into(),
            })
            .collect();
        let id = ulid::Ulid::nil();
        assert_eq!(
            seen,
            [
                format!("cluster:{id}-1"),
                format!("local:{id}-2"),
                "lost:executor \"gone\" is not configured on this host".to_owned(),
                format!("cluster:{id}-4"),
            ]
        );
        assert_eq!(set.layout("gone").root(), set.layout(LOCAL).root());
        assert!(
            ExecutorSet::new([finder("cluster")]).is_err(),
            "local is required"
        );
    }
}

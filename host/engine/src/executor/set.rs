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

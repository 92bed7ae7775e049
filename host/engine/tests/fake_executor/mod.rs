//! A fake executor for the engine's tests: every launch, end and re-attach is decided by the
//! test, and every cancel is recorded.

use reef_core::executor::{AttemptHandle, Ending, Placement, attempt_name};
use reef_engine::executor::{
    BoxFuture, Executor, LaunchError, LaunchRequest, Launched, Missing, ProgressSink, Reattached,
};
use reef_engine::supervisor::AttemptLayout;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// A launch the engine asked for, waiting for the test's answer.
pub struct PendingLaunch {
    /// What the engine asked.
    pub request: LaunchRequest,
    answer: oneshot::Sender<Result<Launched, LaunchError>>,
}

impl PendingLaunch {
    /// The attempt's name.
    pub fn name(&self) -> String {
        attempt_name(&self.request.job.id, self.request.attempt)
    }

    /// Answers that it runs, on node `n1`.
    pub fn start(self) -> String {
        let name = self.name();
        let _ = self.answer.send(Ok(launched(&name)));
        name
    }

    /// Answers that it could not be launched.
    pub fn fail(self, error: LaunchError) {
        let _ = self.answer.send(Err(error));
    }
}

/// What the fake answers for an attempt that runs.
pub fn launched(name: &str) -> Launched {
    Launched {
        handle: AttemptHandle {
            executor: "fake".into(),
            name: name.into(),
            detail: serde_json::Value::Null,
        },
        placement: Placement {
            executor: "fake".into(),
            node: Some("n1".into()),
            id: Some(format!("id-{name}")),
        },
        waiting: None,
    }
}

/// The executor the engine under test runs attempts on.
pub struct FakeExecutor {
    layout: AttemptLayout,
    launches: mpsc::UnboundedSender<PendingLaunch>,
    endings: Mutex<HashMap<String, oneshot::Sender<Ending>>>,
    cancels: Mutex<Vec<String>>,
    reattach: Mutex<Vec<Reattached>>,
    asked_to_find: Mutex<Vec<Missing>>,
}

impl FakeExecutor {
    /// A fake keeping attempt files under `dir`; the receiver yields every launch asked for.
    pub fn new(dir: &std::path::Path) -> (Arc<Self>, mpsc::UnboundedReceiver<PendingLaunch>) {
        let (launches, rx) = mpsc::unbounded_channel();
        let fake = Arc::new(Self {
            layout: AttemptLayout::new(dir),
            launches,
            endings: Mutex::default(),
            cancels: Mutex::default(),
            reattach: Mutex::default(),
            asked_to_find: Mutex::default(),
        });
        (fake, rx)
    }

    /// Ends the attempt called `name`; false when nothing observes it.
    pub fn end(&self, name: &str, ending: Ending) -> bool {
        let sender = self.endings.lock().unwrap().remove(name);
        sender.is_some_and(|s| s.send(ending).is_ok())
    }

    /// True once the engine observes the attempt called `name`.
    pub fn observed(&self, name: &str) -> bool {
        self.endings.lock().unwrap().contains_key(name)
    }

    /// Names of the attempts the engine asked to cancel, in order.
    pub fn cancels(&self) -> Vec<String> {
        self.cancels.lock().unwrap().clone()
    }

    /// What the next recovery's re-attach answers, in the order asked.
    pub fn will_find(&self, answers: Vec<Reattached>) {
        *self.reattach.lock().unwrap() = answers;
    }

    /// What the engine asked to find at its start.
    pub fn asked_to_find(&self) -> Vec<Missing> {
        self.asked_to_find.lock().unwrap().clone()
    }
}

impl Executor for FakeExecutor {
    fn name(&self) -> &str {
        "fake"
    }

    fn layout(&self) -> &AttemptLayout {
        &self.layout
    }

    fn launch(&self, request: LaunchRequest) -> BoxFuture<Result<Launched, LaunchError>> {
        let (answer, answered) = oneshot::channel();
        let _ = self.launches.send(PendingLaunch { request, answer });
        Box::pin(async move {
            answered
                .await
                .unwrap_or_else(|_| Err(LaunchError::Host("the test dropped the launch".into())))
        })
    }

    fn observe(&self, handle: AttemptHandle, _progress: ProgressSink) -> BoxFuture<Ending> {
        let (end, ended) = oneshot::channel();
        self.endings.lock().unwrap().insert(handle.name, end);
        Box::pin(async move {
            ended.await.unwrap_or(Ending::Lost {
                reason: "the test dropped the attempt".into(),
            })
        })
    }

    fn cancel(&self, handle: &AttemptHandle) {
        self.cancels.lock().unwrap().push(handle.name.clone());
    }

    fn reattach(&self, attempts: Vec<Missing>) -> BoxFuture<Vec<Reattached>> {
        let mut answers = std::mem::take(&mut *self.reattach.lock().unwrap());
        answers.truncate(attempts.len());
        *self.asked_to_find.lock().unwrap() = attempts;
        Box::pin(async move { answers })
    }
}

//! The engine in-process: a real store in a temporary directory, the native policy, a fake
//! executor whose launches and ends the test decides, and tokio's paused clock, so a retry's
//! backoff passes in no time. Each test drives one rule of the engine through its public seams.

mod fake_executor;

use fake_executor::{FakeExecutor, PendingLaunch, launched};
use reef_core::config::Config;
use reef_core::executor::{Ending, attempt_name};
use reef_core::job_id::JobId;
use reef_core::lifecycle::{JobState, Transition};
use reef_core::model::{Attempt, AttemptState, Job};
use reef_core::runner::RunnerSet;
use reef_core::time::Timestamp;
use reef_engine::clock::{Clock, TokioClock};
use reef_engine::engine::{Engine, EngineHandle, EngineParts, limits_for};
use reef_engine::executor::{ExecutorSet, LaunchError, Reattached};
use reef_engine::metrics::Metrics;
use reef_engine::trace::JobTracer;
use reef_policy::GuardedPolicy;
use reef_shim::ExitRecord;
use reef_store::{Change, JobStore};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const RUNNERS: &str = r#"
[scheduler]
max_concurrency = 4

[runners.demo]
command = ["demo"]
workdir = "/"
max_attempts = 2
backoff = "5s"

[runners.pooled]
command = ["pooled"]
workdir = "/"
resources = ["gpu"]

[resources]
gpu = 1
"#;

/// An engine under test, and what it was built from.
struct Harness {
    engine: EngineHandle,
    store: JobStore,
    fake: Arc<FakeExecutor>,
    launches: mpsc::UnboundedReceiver<PendingLaunch>,
    clock: Arc<TokioClock>,
    runners: Arc<RunnerSet>,
    ids: u32,
    _dir: tempfile::TempDir,
}

fn runners(config: &str) -> (Config, Arc<RunnerSet>) {
    let config = Config::from_toml(config).unwrap();
    let runners = RunnerSet::from_config(&config, Path::new("/")).unwrap();
    (config, Arc::new(runners))
}

impl Harness {
    async fn start(config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = JobStore::open(&dir.path().join("reef.redb")).unwrap();
        Self::start_on(dir, store, config, |_| {}).await
    }

    /// Starts an engine on an existing store, after `prepare` told the fake what to answer.
    async fn start_on(
        dir: tempfile::TempDir,
        store: JobStore,
        config: &str,
        prepare: impl FnOnce(&FakeExecutor),
    ) -> Self {
        let (config, runners) = runners(config);
        let (fake, launches) = FakeExecutor::new(dir.path());
        prepare(&fake);
        let clock = Arc::new(TokioClock::starting_at(Timestamp(1_700_000_000_000)));
        let engine = Engine::start(EngineParts {
            store: store.clone(),
            runners: runners.clone(),
            policy: Arc::new(GuardedPolicy::native()),
            limits: limits_for(
                &runners,
                config.scheduler.max_concurrency,
                &config.resources,
            ),
            window: 32,
            executors: ExecutorSet::local(fake.clone()),
            clock: clock.clone(),
            metrics: Arc::new(Metrics::new()),
            tracer: JobTracer::disabled(),
        })
        .await
        .unwrap();
        Self {
            engine,
            store,
            fake,
            launches,
            clock,
            runners,
            ids: 0,
            _dir: dir,
        }
    }

    /// Commits a job as the API would, and tells the engine.
    fn submit(&mut self, runner: &str) -> JobId {
        self.ids += 1;
        let id = JobId::parse(&format!("01J{:023}", self.ids)).expect("a ULID");
        let job = Job::queued(id.clone(), runner, BTreeMap::new(), self.clock.now());
        self.store.insert_job(&job, None).unwrap();
        self.engine.submitted(job);
        id
    }

    /// The next launch the engine asks for.
    async fn launch(&mut self) -> PendingLaunch {
        tokio::time::timeout(Duration::from_secs(60), self.launches.recv())
            .await
            .expect("a launch within a minute")
            .expect("the engine runs")
    }

    /// True when no launch is asked for within `within`.
    async fn no_launch(&mut self, within: Duration) -> bool {
        tokio::time::timeout(within, self.launches.recv())
            .await
            .is_err()
    }

    fn job(&self, id: &JobId) -> Job {
        self.store.job(id).unwrap().unwrap()
    }

    fn attempt(&self, id: &JobId, n: u32) -> Attempt {
        self.store.attempt(id, n).unwrap().unwrap()
    }

    /// Waits (in tokio's time) until `check` holds.
    async fn until(&self, what: &str, mut check: impl FnMut(&Self) -> bool) {
        for _ in 0..6000 {
            if check(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    }

    async fn until_state(&self, id: &JobId, state: JobState) -> Job {
        self.until(&format!("{id} to be {state}"), |h| h.job(id).state == state)
            .await;
        self.job(id)
    }

    async fn until_observed(&self, name: &str) {
        self.until(&format!("{name} to be observed"), |h| h.fake.observed(name))
            .await;
    }
}

fn exited(code: i32) -> Ending {
    Ending::Exited(ExitRecord {
        version: reef_shim::protocol::PROTOCOL_VERSION,
        exit_code: Some(code),
        started_at_ms: 1,
        ended_at_ms: 2,
        ..Default::default()
    })
}

fn cancelled() -> Ending {
    Ending::Exited(ExitRecord {
        version: reef_shim::protocol::PROTOCOL_VERSION,
        signal: Some(15),
        cancelled: true,
        ..Default::default()
    })
}

#[tokio::test(start_paused = true)]
async fn an_attempt_is_committed_before_its_launch_and_its_end_is_recorded() {
    let mut h = Harness::start(RUNNERS).await;
    let id = h.submit("demo");
    let launch = h.launch().await;
    // Durable before irreversible: the attempt exists before the executor is asked.
    assert_eq!(h.job(&id).state, JobState::Running);
    assert_eq!(h.attempt(&id, 1).state, AttemptState::Running);
    assert_eq!(launch.request.attempt, 1);
    let name = launch.start();
    h.until_observed(&name).await;
    let placement = h.attempt(&id, 1).placement.unwrap();
    assert_eq!(
        (placement.executor.as_str(), placement.node.as_deref()),
        ("local", Some("n1"))
    );
    assert_eq!(h.attempt(&id, 1).handle.unwrap().name, name);
    assert!(h.fake.end(&name, exited(0)));
    let job = h.until_state(&id, JobState::Succeeded).await;
    assert_eq!(job.attempt_count, 1);
    assert_eq!(h.attempt(&id, 1).state, AttemptState::Succeeded);
}

#[tokio::test(start_paused = true)]
async fn a_failed_attempt_is_retried_after_its_backoff_and_not_before() {
    let mut h = Harness::start(RUNNERS).await;
    let id = h.submit("demo");
    let name = h.launch().await.start();
    h.until_observed(&name).await;
    h.fake.end(&name, exited(3));
    let job = h.until_state(&id, JobState::RetryWait).await;
    assert_eq!(job.reason.as_deref(), Some("exit_code:3"));
    // The runner's backoff is 5 s: nothing starts before it has passed.
    assert!(h.no_launch(Duration::from_millis(4900)).await);
    let second = h.launch().await;
    assert_eq!(second.request.attempt, 2);
    let name = second.start();
    h.until_observed(&name).await;
    h.fake.end(&name, exited(3));
    let job = h.until_state(&id, JobState::Failed).await;
    assert_eq!(job.reason.as_deref(), Some("exit_code:3"));
    assert!(
        h.no_launch(Duration::from_secs(60)).await,
        "the budget is spent"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancel_while_the_launch_is_under_way_reaches_the_attempt_once_launched() {
    let mut h = Harness::start(RUNNERS).await;
    let id = h.submit("demo");
    let launch = h.launch().await;
    let job = h.engine.cancel(&id).await.unwrap();
    assert!(job.cancel_requested);
    assert_eq!(job.state, JobState::Running);
    assert!(h.fake.cancels().is_empty(), "nothing to signal yet");
    let name = launch.start();
    h.until("the cancel to be passed on", |h| {
        h.fake.cancels() == [name.clone()]
    })
    .await;
    h.fake.end(&name, cancelled());
    h.until_state(&id, JobState::Cancelled).await;
    assert_eq!(h.attempt(&id, 1).state, AttemptState::Cancelled);
}

#[tokio::test(start_paused = true)]
async fn a_cancel_while_running_signals_the_attempt_and_ends_the_job() {
    let mut h = Harness::start(RUNNERS).await;
    let id = h.submit("demo");
    let name = h.launch().await.start();
    h.until_observed(&name).await;
    h.engine.cancel(&id).await.unwrap();
    assert_eq!(h.fake.cancels(), std::slice::from_ref(&name));
    // A runner that exits 0 anyway after a cancel was asked still ends cancelled.
    h.fake.end(&name, exited(1));
    h.until_state(&id, JobState::Cancelled).await;
    // Cancelling a queued job needs no executor.
    let queued = h.submit("pooled");
    let other = h.submit("pooled");
    let pooled = h.launch().await.start();
    h.until_observed(&pooled).await;
    assert_eq!(
        h.engine.cancel(&other).await.unwrap().state,
        JobState::Cancelled
    );
    h.fake.end(&pooled, exited(0));
    h.until_state(&queued, JobState::Succeeded).await;
}

#[tokio::test(start_paused = true)]
async fn a_launch_that_fails_fails_the_attempt_with_the_reason() {
    let mut h = Harness::start(RUNNERS).await;
    let id = h.submit("demo");
    h.launch()
        .await
        .fail(LaunchError::Spawn("demo: not found".into()));
    let job = h.until_state(&id, JobState::Failed).await;
    assert!(
        job.reason.as_deref().unwrap().starts_with("spawn_error"),
        "{job:?}"
    );
    // A spawn error is not retried: another attempt finds the same missing program.
    assert!(h.no_launch(Duration::from_secs(60)).await);
    // So is a launch the host itself could not make (a full disk): its reason says so.
    let id = h.submit("demo");
    h.launch().await.fail(LaunchError::Host(
        "creating the attempt directory: disk full".into(),
    ));
    let job = h.until_state(&id, JobState::Failed).await;
    assert_eq!(
        job.reason.as_deref(),
        Some("spawn_error: host: creating the attempt directory: disk full")
    );
}

#[tokio::test(start_paused = true)]
async fn hard_limits_and_resource_pools_hold() {
    let config = RUNNERS.replace("max_concurrency = 4", "max_concurrency = 2");
    let mut h = Harness::start(&config).await;
    let first = h.submit("pooled");
    let second = h.submit("pooled");
    let demo = [h.submit("demo"), h.submit("demo")];
    // The pool holds one `pooled` attempt, the global limit two attempts in all.
    let mut started = vec![h.launch().await.start(), h.launch().await.start()];
    assert!(h.no_launch(Duration::from_secs(30)).await);
    assert!(started.contains(&attempt_name(&first, 1)), "{started:?}");
    assert!(!started.contains(&attempt_name(&second, 1)), "{started:?}");
    // Each end frees a slot for the next waiting job, the pool's claim last.
    while let Some(name) = started.pop() {
        h.until_observed(&name).await;
        h.fake.end(&name, exited(0));
        if let Ok(Some(next)) =
            tokio::time::timeout(Duration::from_secs(5), h.launches.recv()).await
        {
            started.insert(0, next.start());
        }
    }
    for id in demo.iter().chain([&first, &second]) {
        h.until_state(id, JobState::Succeeded).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_reconfigure_raises_the_limit_between_two_passes() {
    let config = RUNNERS.replace("max_concurrency = 4", "max_concurrency = 1");
    let mut h = Harness::start(&config).await;
    let ids: Vec<JobId> = (0..3).map(|_| h.submit("demo")).collect();
    let first = h.launch().await.start();
    assert!(h.no_launch(Duration::from_secs(10)).await);
    let (config, runners) = runners(&RUNNERS.replace("max_concurrency = 4", "max_concurrency = 3"));
    let warnings = h
        .engine
        .reconfigure(
            runners.clone(),
            limits_for(
                &runners,
                config.scheduler.max_concurrency,
                &config.resources,
            ),
            32,
        )
        .await
        .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    // Two more start at once, without any attempt ending.
    let others = [h.launch().await.start(), h.launch().await.start()];
    for name in others.iter().chain([&first]) {
        h.until_observed(name).await;
        h.fake.end(name, exited(0));
    }
    for id in &ids {
        h.until_state(id, JobState::Succeeded).await;
    }
    assert!(h.runners.get("demo").is_some());
}

/// A store holding job `id` running attempt 1, as a host that died would leave it; the handle
/// is committed or not.
fn left_running(store: &JobStore, id: &JobId, handle: bool) {
    let mut job = Job::queued(id.clone(), "demo", BTreeMap::new(), Timestamp(1));
    store.insert_job(&job, None).unwrap();
    let event = job
        .apply(Transition::Start { attempt: 1 }, Timestamp(2))
        .unwrap();
    let mut attempt = Attempt::started(1, Timestamp(2), 60_000, 5_000);
    if handle {
        let launched = launched(&attempt_name(id, 1));
        attempt.handle = Some(launched.handle);
        // Routed by the executor's configured name; the fake runs as `local`.
        attempt.placement = Some(reef_core::executor::Placement {
            executor: "local".into(),
            ..launched.placement
        });
    }
    store
        .write(&[Change {
            job,
            attempt: Some(attempt),
            events: vec![event],
        }])
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn after_a_restart_an_attempt_that_cannot_be_found_is_lost_and_retried_for_free() {
    let dir = tempfile::tempdir().unwrap();
    let store = JobStore::open(&dir.path().join("reef.redb")).unwrap();
    let id = &JobId::parse("01J0000000000000000000000E").expect("a ULID");
    left_running(&store, id, true);
    let mut h = Harness::start_on(dir, store, RUNNERS, |fake| {
        fake.will_find(vec![Reattached::Ended(Ending::Lost {
            reason: "node n1 failed".into(),
        })]);
    })
    .await;
    let asked = h.fake.asked_to_find();
    assert_eq!(asked.len(), 1);
    assert_eq!(&asked[0].job_id, id);
    assert!(asked[0].handle.is_some(), "the committed handle is offered");
    // Lost, retried; a lost attempt does not use the budget of two.
    let retry = h.launch().await;
    assert_eq!(retry.request.attempt, 2);
    let lost = h.attempt(id, 1);
    assert_eq!(lost.state, AttemptState::Lost);
    assert_eq!(lost.reason.as_deref(), Some("lost"));
    assert_eq!(lost.lost_reason.as_deref(), Some("node n1 failed"));
    let name = retry.start();
    h.until_observed(&name).await;
    h.fake.end(&name, exited(3));
    h.until_state(id, JobState::RetryWait).await;
    assert_eq!(h.launch().await.request.attempt, 3, "the lost one was free");
}

#[tokio::test(start_paused = true)]
async fn after_a_restart_a_running_attempt_is_followed_and_a_handle_found_by_name_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = JobStore::open(&dir.path().join("reef.redb")).unwrap();
    let id = &JobId::parse("01J0000000000000000000000R").expect("a ULID");
    // The host died between the launch and the commit of its handle.
    left_running(&store, id, false);
    let name = attempt_name(id, 1);
    let mut h = Harness::start_on(dir, store, RUNNERS, |fake| {
        fake.will_find(vec![Reattached::Running(launched(&attempt_name(id, 1)))]);
    })
    .await;
    assert!(h.fake.asked_to_find()[0].handle.is_none());
    h.until_observed(&name).await;
    assert_eq!(h.attempt(id, 1).handle.unwrap().name, name);
    // Never launched again while it runs.
    assert!(h.no_launch(Duration::from_secs(30)).await);
    h.fake.end(&name, exited(0));
    h.until_state(id, JobState::Succeeded).await;
}

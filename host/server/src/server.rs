//! `reef serve`: wires configuration, store, engine and API together and runs the server.

use crate::api::{self, AppState};
use crate::auth::Authenticator;
use crate::config_reload::{ConfigReloader, LiveParts};
use crate::config_watch::ConfigWatch;
use crate::http_server::{ConnectionLimits, HttpServer};
use crate::policy_watch::PolicyWatcher;
use crate::telemetry::Telemetry;
use anyhow::Context;
use arc_swap::ArcSwap;
use reef_core::config::executors::ExecutorConfig;
use reef_core::config::{Config, ConfigError};
use reef_core::runner::RunnerSet;
use reef_engine::clock::SystemClock;
use reef_engine::engine::{Engine, EngineHandle, EngineParts, limits_for};
use reef_engine::executor::local::LocalExecutor;
use reef_engine::executor::slurm::SlurmExecutor;
use reef_engine::executor::{Executor, ExecutorSet};
use reef_engine::metrics::Metrics;
use reef_engine::service::JobService;
use reef_engine::supervisor::{AttemptLayout, AttemptWriter, ShimSupervisor, locate_shim};
use reef_policy::Policy;
use reef_policy::registry::PolicyRegistry;
use reef_policy::slots::{PolicySlots, QuarantineRule, Seed};
use reef_policy::wasm::{CallLimits, PluginRuntime};
use reef_store::{JobStore, RetentionRule};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Name of the database file inside the data dir.
pub const DB_FILE: &str = "reef.redb";

/// Options of `reef serve` that override the configuration.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Config file; `None` means built-in defaults.
    pub config: Option<PathBuf>,
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--drain`: how long a stop waits for running attempts.
    pub drain: Option<std::time::Duration>,
}

/// Loads and validates everything `serve` needs before it touches the network or the disk.
pub fn prepare(
    options: &ServeOptions,
) -> anyhow::Result<(Config, RunnerSet, Authenticator, PathBuf)> {
    let loaded = crate::config_load::load(options.config.as_deref())?;
    let mut config = loaded.config;
    if let Some(listen) = options.listen {
        config.server.listen = listen;
    }
    if let Some(dir) = &options.data_dir {
        config.storage.data_dir = dir.clone();
    }
    config.validate()?;
    crate::telemetry::LogLevel::validate(&config.telemetry.log_level)
        .map_err(|e| ConfigError::invalid("telemetry.log_level", e.to_string()))?;
    let runners = RunnerSet::from_config(&config, &loaded.base_dir)?;
    let auth = Authenticator::from_config(&config.auth, |k| std::env::var(k).ok())?;
    require_tokens_off_loopback(&auth, config.server.listen)?;
    Ok((config, runners, auth, loaded.base_dir))
}

/// Refuses an API without tokens on a socket other than loopback. Judged at start against the
/// address to bind, and at every reload against the address actually bound (a reload cannot
/// move the socket, so a file that now says `127.0.0.1` does not make a public socket safe).
pub fn require_tokens_off_loopback(
    auth: &Authenticator,
    listening: SocketAddr,
) -> Result<(), ConfigError> {
    if auth.enabled() || listening.ip().is_loopback() {
        return Ok(());
    }
    Err(ConfigError::invalid(
        "auth.tokens",
        format!(
            "refusing to listen on {listening} without authentication: configure [[auth.tokens]] or listen on a loopback address"
        ),
    ))
}

/// Per-call plugin limits from `[policy]`.
pub fn call_limits(config: &Config) -> CallLimits {
    CallLimits {
        max_memory: config.policy.max_memory.as_u64() as usize,
        max_cpu: config.policy.max_cpu,
        call_timeout: config.policy.call_timeout,
        max_output: config.policy.max_output.as_u64() as usize,
    }
}

/// The policy a fresh host starts with: the config's `policy.file`, else the embedded default.
pub fn policy_seed(config: &Config, base_dir: &std::path::Path) -> anyhow::Result<Seed> {
    Ok(match &config.policy.file {
        Some(file) => {
            let path = base_dir.join(file);
            let bytes = std::fs::read(&path)
                .with_context(|| format!("policy.file: reading {}", path.display()))?;
            Seed {
                source: path.display().to_string(),
                bytes,
                configured: true,
            }
        }
        None => Seed {
            source: "embedded".into(),
            bytes: reef_policy::EMBEDDED_DEFAULT.to_vec(),
            configured: false,
        },
    })
}

/// Runs `reef serve` until SIGINT or SIGTERM: loads the config, sets up logs and traces, then
/// runs the server on a runtime of its own. Spans still buffered are sent before it returns.
pub fn run(options: ServeOptions) -> anyhow::Result<()> {
    swallow_hangups_until_handled();
    let prepared = prepare(&options)?;
    let telemetry = Telemetry::init(&prepared.0.telemetry)?;
    let served = tokio::runtime::Runtime::new()
        .context("starting the async runtime")
        // Boxed: the future holds the whole host while it starts, too large for the stack.
        .and_then(|runtime| runtime.block_on(Box::pin(serve(options, prepared, &telemetry))));
    if let Err(error) = &served {
        tracing::error!(error = format!("{error:#}"), "reef stopped on an error");
    }
    telemetry.shutdown();
    served
}

/// SIGHUP means "reload", but its default action ends the process, and a service manager sends
/// it whenever asked to reload, including while reef is still starting. Until the reload
/// trigger takes it over, a SIGHUP is caught and dropped: the config being loaded is the
/// current file anyway. A handler (not SIG_IGN) is used, because handlers are not inherited by
/// the shims and runners started meanwhile.
fn swallow_hangups_until_handled() {
    extern "C" fn ignore(_: nix::libc::c_int) {}
    let action = nix::sys::signal::SigAction::new(
        nix::sys::signal::SigHandler::Handler(ignore),
        nix::sys::signal::SaFlags::SA_RESTART,
        nix::sys::signal::SigSet::empty(),
    );
    // SAFETY: the handler does nothing, so it is async-signal-safe.
    if let Err(error) = unsafe { nix::sys::signal::sigaction(nix::sys::signal::SIGHUP, &action) } {
        tracing::warn!(%error, "cannot catch SIGHUP during start-up");
    }
}

/// Runs the server until SIGINT or SIGTERM.
async fn serve(
    options: ServeOptions,
    (config, runners, auth, base_dir): (Config, RunnerSet, Authenticator, PathBuf),
    telemetry: &Telemetry,
) -> anyhow::Result<()> {
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("handling SIGHUP")?;
    // Bound first: a port in use fails the start before anything else is opened, and the
    // bound address is what the loopback rule is judged against from now on.
    let listener = crate::http_server::listen(config.server.listen, config.server.max_connections)
        .with_context(|| format!("binding {}", config.server.listen))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let open_files = crate::http_server::raise_open_file_limit();
    if open_files != 0 && u64::from(config.server.max_connections) + 256 > open_files {
        tracing::warn!(
            max_connections = config.server.max_connections,
            open_files,
            "server.max_connections is close to the open-file limit; connections beyond it fail to be accepted"
        );
    }
    let data_dir = config.storage.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating data dir {}", data_dir.display()))?;
    let db_path = data_dir.join(DB_FILE);
    let store = JobStore::open_with(&db_path, config.storage.group_commit)
        .with_context(|| format!("opening {}", db_path.display()))?;
    let shim = locate_shim(config.shim.path.as_deref()).context(
        "reef-shim not found: install it next to reef, put it on PATH, or set shim.path",
    )?;
    let exe_dir: Vec<PathBuf> = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|p| p.to_owned()))
        .into_iter()
        .collect();
    let runners = Arc::new(runners);
    let metrics = Arc::new(Metrics::new());
    let executors = start_executors(&config, &data_dir, shim, exe_dir, &metrics)?;
    let runtime = PluginRuntime::new(call_limits(&config))?;
    let registry = PolicyRegistry::open(store.database())?;
    let pools = config.resources.keys().cloned().collect();
    let rule = QuarantineRule {
        faults: config.policy.quarantine_faults,
        window: config.policy.quarantine_window,
    };
    let slots = PolicySlots::start(
        runtime,
        registry,
        pools,
        policy_seed(&config, &base_dir)?,
        rule,
        metrics.clone(),
    )
    .context("policy.file")?;
    let policy: Arc<dyn Policy> = slots.policy();
    let _watcher = match &config.policy.watch_dir {
        Some(dir) => Some(PolicyWatcher::start(
            &base_dir.join(dir),
            config.policy.watch_debounce,
            slots.clone(),
        )?),
        None => None,
    };
    let limits = limits_for(
        &runners,
        config.scheduler.max_concurrency,
        &config.resources,
    );
    let engine = Engine::start(EngineParts {
        store: store.clone(),
        runners: runners.clone(),
        policy: policy.clone(),
        limits,
        window: config.scheduler.candidate_window as usize,
        executors: executors.clone(),
        clock: Arc::new(SystemClock),
        metrics: metrics.clone(),
        tracer: telemetry.jobs(),
    })
    .await?;
    spawn_key_expiry(store.clone());
    spawn_retention(store.clone(), executors.clone(), &config.retention);
    let engine_handle = engine.clone();
    let jobs = Arc::new(
        JobService::new(store, engine, runners.clone(), policy, executors)
            .with_idempotency_ttl(config.server.idempotency_ttl)
            .with_max_cells(config.sweeps.max_cells)
            .with_metrics(metrics.clone())
            .with_tracer(telemetry.jobs()),
    );
    let auth = Arc::new(ArcSwap::from_pointee(auth));
    let reloader = Arc::new(ConfigReloader::new(
        options.clone(),
        config.clone(),
        bound,
        LiveParts {
            engine: engine_handle.clone(),
            jobs: jobs.clone(),
            auth: auth.clone(),
            slots: slots.clone(),
            level: telemetry.level(),
            metrics: metrics.clone(),
        },
    ));
    let _config_watch = ConfigWatch::start(reloader.clone(), hangup, config.server.watch_config)
        .context("watching the config")?;
    let state = AppState {
        jobs,
        policies: slots,
        auth,
        metrics: metrics.clone(),
        reloader,
    };
    let app = api::router(
        state,
        api::BodyLimits {
            max_body: config.server.max_body.as_u64() as usize,
            max_upload: config.policy.max_upload.as_u64() as usize,
            body_timeout: config.server.body_timeout,
        },
    );
    for warning in reef_engine::workdir::install_warnings(&runners) {
        tracing::warn!("{warning}; its jobs will fail to start until that changes");
    }
    for warning in reef_engine::executor::config_warnings(&config) {
        tracing::warn!("{warning}");
    }
    let runner_names: Vec<_> = runners.iter().map(|r| r.name.as_str()).collect();
    crate::service_manager::notify_ready();
    tracing::info!(
        listen = %bound,
        data_dir = %data_dir.display(),
        runners = ?runner_names,
        console = %format!("http://{bound}/"),
        "reef is serving"
    );
    let limits = ConnectionLimits {
        max_connections: config.server.max_connections as usize,
        header_timeout: config.server.header_timeout,
    };
    HttpServer::new(listener, app, limits, metrics)
        .run(stop(engine_handle, options.drain))
        .await;
    tracing::info!("stopped; running attempts keep running under their shims");
    Ok(())
}

/// Resolves when the server should stop taking connections: at the first SIGTERM or SIGINT,
/// or, with `drain`, once no attempt runs any more (or the drain deadline passes). From the
/// first signal on, `/readyz` fails, submits get 503 and no attempt starts; a second signal
/// exits at once.
async fn stop(engine: EngineHandle, drain: Option<std::time::Duration>) {
    shutdown_signal().await;
    engine.stop();
    tokio::spawn(async {
        shutdown_signal().await;
        tracing::warn!(
            "second stop signal: exiting now; running attempts keep running under their shims"
        );
        std::process::exit(130);
    });
    let Some(drain) = drain else { return };
    tracing::info!(deadline = ?drain, running = engine.status().running(), "draining: waiting for running attempts");
    let deadline = tokio::time::Instant::now() + drain;
    while engine.status().running() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tracing::info!(left_running = engine.status().running(), "drain over");
}

/// `local`, on this machine, and every configured executor, each with its attempt layout.
fn start_executors(
    config: &Config,
    data_dir: &std::path::Path,
    shim: PathBuf,
    exe_dir: Vec<PathBuf>,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<ExecutorSet> {
    let log_cap = config.logs.max_bytes_per_stream.as_u64();
    let local = ShimSupervisor::new(
        shim,
        AttemptWriter::new(AttemptLayout::new(data_dir), log_cap, exe_dir.clone()),
    );
    let mut executors: Vec<(String, Arc<dyn Executor>)> = vec![(
        reef_core::executor::LOCAL.to_owned(),
        Arc::new(LocalExecutor::new(local)),
    )];
    for (name, executor) in &config.executors {
        match executor {
            ExecutorConfig::Slurm(slurm) => {
                let writer =
                    AttemptWriter::new(SlurmExecutor::layout_for(slurm), log_cap, exe_dir.clone());
                let started = SlurmExecutor::start(name, slurm.clone(), writer, metrics.clone());
                executors.push((name.clone(), Arc::new(started)));
            }
        }
    }
    Ok(ExecutorSet::new(executors)?)
}

/// Deletes finished jobs the retention rule no longer keeps, a batch per transaction, with their
/// attempt directories.
fn spawn_retention(
    store: JobStore,
    executors: ExecutorSet,
    config: &reef_core::config::RetentionConfig,
) {
    let rule = RetentionRule {
        max_age: config.max_age,
        max_finished: config.max_finished,
    };
    if rule == RetentionRule::default() {
        return;
    }
    let (interval, batch) = (config.interval, config.batch.max(1));
    tokio::spawn(async move {
        let mut every = tokio::time::interval(interval);
        loop {
            every.tick().await;
            loop {
                let (store, executors) = (store.clone(), executors.clone());
                let swept = tokio::task::spawn_blocking(move || {
                    let deleted = store.sweep(rule, reef_core::time::Timestamp::now(), batch)?;
                    for id in &deleted {
                        for (_, executor) in executors.iter() {
                            let _ = std::fs::remove_dir_all(executor.layout().job_dir(id));
                        }
                    }
                    Ok::<usize, reef_store::StoreError>(deleted.len())
                })
                .await;
                match swept {
                    Ok(Ok(n)) if n > 0 => {
                        tracing::debug!(deleted = n, "retention: finished jobs deleted");
                        if n < batch {
                            break;
                        }
                        // Let the API in between batches.
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "retention sweep failed");
                        break;
                    }
                    _ => break,
                }
            }
        }
    });
}

/// Drops expired idempotency keys now and then, in small batches.
fn spawn_key_expiry(store: JobStore) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            let store = store.clone();
            match tokio::task::spawn_blocking(move || store.expire_keys(1000)).await {
                Ok(Ok(n)) if n > 0 => tracing::debug!(expired = n, "idempotency keys expired"),
                Ok(Err(error)) => tracing::warn!(%error, "could not expire idempotency keys"),
                _ => {}
            }
        }
    });
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("stop signal received");
}

//! Running WebAssembly policy components.
//!
//! [`PluginRuntime`] owns the wasmtime engine (component model, pooling allocator, epoch
//! interruption driven by a ticker thread) and the restricted linker. [`PluginRuntime::load`]
//! compiles a component, refuses forbidden imports and incompatible interface versions, and
//! pre-instantiates it. Each [`WasmPolicy`] call then gets a fresh `Store` with its own memory
//! limit, CPU budget and wall-clock timeout, so calls share nothing and a misbehaving call
//! cannot outlive its budget.

mod sandbox;

use super::bindings::{Policy as PolicyWorld, PolicyPre};
use super::{
    AdmitDecision, AdmitInput, AttemptPlan, ExitDecision, ExitInput, PickInput, PlanInput,
};
use sandbox::CallState;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wasmtime::component::Component;
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline,
};

pub use sandbox::ALLOWED_IMPORTS;

/// How often the epoch advances: the granularity of CPU and wall-clock checks.
const TICK: Duration = Duration::from_millis(1);

/// Per-call limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallLimits {
    /// Linear memory per call, bytes.
    pub max_memory: usize,
    /// CPU time per call.
    pub max_cpu: Duration,
    /// Wall-clock time per call.
    pub call_timeout: Duration,
    /// Captured stdout/stderr per stream, bytes.
    pub max_output: usize,
}

impl Default for CallLimits {
    fn default() -> Self {
        Self {
            max_memory: 16 * 1024 * 1024,
            max_cpu: Duration::from_millis(50),
            call_timeout: Duration::from_millis(200),
            max_output: 4096,
        }
    }
}

/// Why a component could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Not a valid WebAssembly component.
    #[error("not a valid policy component: {0}")]
    Compile(String),
    /// It imports something outside the sandbox.
    #[error(
        "imports `{0}`, which policies may not use (allowed: wasi:io, wasi:cli, wasi:clocks, wasi:random)"
    )]
    ForbiddenImport(String),
    /// A memory that needs more than the per-call limit just to start.
    #[error(
        "needs {needed} of linear memory when it starts, more than policy.max_memory ({limit}): raise policy.max_memory to at least {needed}{restart}"
    )]
    MemoryTooSmall {
        /// What the largest memory declares as its initial size, rounded up to whole MiB, as
        /// the config writes sizes.
        needed: String,
        /// The limit in force, as the config writes sizes.
        limit: String,
        /// A note when the new value needs a restart (beyond the pool sized at start).
        restart: &'static str,
    },
    /// It was built against another major version of the interface.
    #[error("built for reef:policy@{found}, this host speaks {expected}")]
    WitVersion {
        /// Version the component imports.
        found: String,
        /// Version of this host.
        expected: &'static str,
    },
    /// It does not export the policy world's hooks, or cannot be instantiated.
    #[error("does not implement the reef:policy world: {0}")]
    Instantiate(String),
    /// The engine could not be set up.
    #[error("policy engine: {0}")]
    Engine(String),
}

/// Why one call did not produce an answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallFault {
    /// The plugin trapped (panic, unreachable, bad memory access...).
    #[error("trap: {0}")]
    Trap(String),
    /// The call ran past its CPU budget or wall-clock timeout.
    #[error("timeout: {0}")]
    Timeout(String),
    /// The call needed more memory than allowed.
    #[error("out of memory (limit {0} bytes)")]
    OutOfMemory(usize),
    /// The answer broke the interface's rules.
    #[error("invalid answer: {0}")]
    Invalid(String),
}

impl CallFault {
    /// Short name for logs and counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Trap(_) => "trap",
            Self::Timeout(_) => "timeout",
            Self::OutOfMemory(_) => "out_of_memory",
            Self::Invalid(_) => "invalid_answer",
        }
    }
}

/// The budget a call ran out of, raised from the epoch callback.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct BudgetExceeded(String);

struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Linear memory the instance pool allows: the configured limit, at least 1 MiB.
fn pool_memory_for(max_memory: usize) -> usize {
    max_memory.max(1 << 20)
}

/// The engine and linker shared by every loaded policy.
pub struct PluginRuntime {
    engine: Engine,
    linker: wasmtime::component::Linker<CallState>,
    limits: std::sync::RwLock<CallLimits>,
    /// The most linear memory the instance pool was sized for.
    pool_memory: usize,
    _ticker: Ticker,
}

impl PluginRuntime {
    /// An engine enforcing `limits` on every call.
    pub fn new(limits: CallLimits) -> Result<Arc<Self>, LoadError> {
        let engine_err = |e: wasmtime::Error| LoadError::Engine(format!("{e:#}"));
        let mut pool = PoolingAllocationConfig::default();
        // Calls are short and each holds one instance; this bounds concurrent calls, not plugins.
        pool.total_component_instances(64)
            .total_core_instances(256)
            .total_memories(256)
            .total_tables(256)
            .max_memory_size(pool_memory_for(limits.max_memory));
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(engine_err)?;
        let linker = sandbox::restricted_linker(&engine).map_err(engine_err)?;
        let stop = Arc::new(AtomicBool::new(false));
        let ticking = engine.clone();
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("reef-policy-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    ticking.increment_epoch();
                }
            })
            .map_err(|e| LoadError::Engine(format!("starting the epoch ticker: {e}")))?;
        Ok(Arc::new(Self {
            engine,
            linker,
            limits: std::sync::RwLock::new(limits),
            pool_memory: pool_memory_for(limits.max_memory),
            _ticker: Ticker { stop },
        }))
    }

    /// The per-call limits.
    pub fn limits(&self) -> CallLimits {
        match self.limits.read() {
            Ok(limits) => *limits,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    /// True when `max_memory` fits the instance pool, so it can change without a restart.
    pub fn fits(&self, max_memory: usize) -> bool {
        max_memory <= self.pool_memory
    }

    /// Changes the limits of the calls that start from now on. A `max_memory` beyond what the
    /// instance pool was sized for is capped at it (raising it needs a restart).
    pub fn set_limits(&self, mut limits: CallLimits) {
        limits.max_memory = limits.max_memory.min(self.pool_memory);
        match self.limits.write() {
            Ok(mut current) => *current = limits,
            Err(poisoned) => *poisoned.into_inner() = limits,
        }
    }

    /// What can be checked without compiling, in milliseconds even for a large component:
    /// that it is a component, that it imports nothing outside the sandbox, and that its
    /// memories fit the per-call limit when they start.
    pub fn inspect(&self, bytes: &[u8]) -> Result<(), LoadError> {
        let facts = sandbox::ComponentFacts::read(bytes).map_err(LoadError::Compile)?;
        if let Some(import) = facts.imports.iter().find(|i| !sandbox::allowed_import(i)) {
            return Err(LoadError::ForbiddenImport(import.clone()));
        }
        let limit = self.limits().max_memory as u64;
        if facts.initial_memory > limit {
            let size = |bytes: u64| reef_core::config::size_text(bytesize::ByteSize::b(bytes));
            return Err(LoadError::MemoryTooSmall {
                needed: size(facts.initial_memory.next_multiple_of(1 << 20)),
                limit: size(limit),
                restart: if facts.initial_memory > self.pool_memory as u64 {
                    " (and restart: the instance pool is sized when the host starts)"
                } else {
                    ""
                },
            });
        }
        Ok(())
    }

    /// Compiles and checks a component.
    pub fn load(self: &Arc<Self>, bytes: &[u8]) -> Result<WasmPolicy, LoadError> {
        let component = Component::new(&self.engine, bytes)
            .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        self.prepare(component, bytes, false)
    }

    /// Like [`PluginRuntime::load`], but takes compiled code from `cache` when it holds code for
    /// this digest and engine, and stores it there after compiling.
    pub fn load_cached(
        self: &Arc<Self>,
        bytes: &[u8],
        cache: &dyn CodeCache,
    ) -> Result<WasmPolicy, LoadError> {
        let digest = digest_of(bytes);
        let engine = self.engine_hash();
        if let Some(code) = cache.get(&digest, &engine) {
            // SAFETY: `code` was produced by `precompile_component` on an engine with the same
            // compatibility hash and kept in this host's own database; wasmtime also checks the
            // header before using it.
            match unsafe { Component::deserialize(&self.engine, &code) } {
                Ok(component) => return self.prepare(component, bytes, true),
                Err(e) => {
                    tracing::warn!(digest, error = %e, "cached policy code unusable; compiling again")
                }
            }
        }
        let code = self
            .engine
            .precompile_component(bytes)
            .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        cache.put(&digest, &engine, &code);
        // SAFETY: the code was just produced by this engine.
        let component = unsafe { Component::deserialize(&self.engine, &code) }
            .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        self.prepare(component, bytes, false)
    }

    /// A stable name for this engine's code compatibility (compiler, settings, version).
    pub fn engine_hash(&self) -> String {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }

    fn prepare(
        self: &Arc<Self>,
        component: Component,
        bytes: &[u8],
        from_cache: bool,
    ) -> Result<WasmPolicy, LoadError> {
        if let Some(import) = sandbox::forbidden_import(&self.engine, &component) {
            return Err(LoadError::ForbiddenImport(import));
        }
        let expected = super::WIT_PACKAGE.trim_start_matches("reef:policy@");
        let versions = sandbox::policy_type_versions(&self.engine, &component);
        for found in &versions {
            if !compatible(found, expected) {
                return Err(LoadError::WitVersion {
                    found: found.clone(),
                    expected: super::WIT_PACKAGE,
                });
            }
        }
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Instantiate(format!("{e:#}")))?;
        let pre =
            PolicyPre::new(instance_pre).map_err(|e| LoadError::Instantiate(format!("{e:#}")))?;
        Ok(WasmPolicy {
            pre,
            digest: digest_of(bytes),
            size: bytes.len(),
            wit: versions
                .into_iter()
                .next()
                .unwrap_or_else(|| expected.to_owned()),
            from_cache,
            runtime: self.clone(),
        })
    }
}

/// Where compiled policy code is kept between loads.
pub trait CodeCache {
    /// Code compiled for `digest` by an engine with hash `engine`.
    fn get(&self, digest: &str, engine: &str) -> Option<Vec<u8>>;
    /// Keeps code compiled for `digest` by engine `engine`.
    fn put(&self, digest: &str, engine: &str, code: &[u8]);
}

/// A cache that keeps nothing: every load compiles (`reef config check`, one-off checks).
pub struct NoCodeCache;

impl CodeCache for NoCodeCache {
    fn get(&self, _digest: &str, _engine: &str) -> Option<Vec<u8>> {
        None
    }
    fn put(&self, _digest: &str, _engine: &str, _code: &[u8]) {}
}

/// `sha256:<hex>` of a component.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// Semver compatibility of interface versions: the same major version, or for 0.x the same
/// minor version.
fn compatible(found: &str, expected: &str) -> bool {
    let parts = |v: &str| {
        v.split('.')
            .map(|p| p.parse::<u64>().ok())
            .collect::<Vec<_>>()
    };
    match (parts(found).as_slice(), parts(expected).as_slice()) {
        ([Some(0), Some(a), ..], [Some(0), Some(b), ..]) => a == b,
        ([Some(a), ..], [Some(b), ..]) => a == b,
        _ => false,
    }
}

/// A loaded, pre-instantiated policy component.
pub struct WasmPolicy {
    pre: PolicyPre<CallState>,
    digest: String,
    size: usize,
    wit: String,
    from_cache: bool,
    runtime: Arc<PluginRuntime>,
}

impl WasmPolicy {
    /// The per-call limits its calls run under now.
    pub fn limits(&self) -> CallLimits {
        self.runtime.limits()
    }

    /// `sha256:<hex>` of the component's bytes.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Size of the component in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Version of `reef:policy` the component was built for.
    pub fn wit(&self) -> &str {
        &self.wit
    }

    /// Whether its code came from the compile cache.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// Calls `admit`.
    pub fn admit(&self, input: &AdmitInput) -> Result<AdmitDecision, CallFault> {
        self.call(input.now_ms, input.seed, |p, s| p.call_admit(s, input))
    }

    /// Calls `pick`.
    pub fn pick(&self, input: &PickInput) -> Result<Vec<u32>, CallFault> {
        self.call(input.now_ms, input.seed, |p, s| p.call_pick(s, input))
    }

    /// Calls `plan`.
    pub fn plan(&self, input: &PlanInput) -> Result<AttemptPlan, CallFault> {
        self.call(input.now_ms, input.seed, |p, s| p.call_plan(s, input))
    }

    /// Calls `on-exit`.
    pub fn on_exit(&self, input: &ExitInput) -> Result<ExitDecision, CallFault> {
        self.call(input.now_ms, input.seed, |p, s| p.call_on_exit(s, input))
    }

    fn call<T>(
        &self,
        now_ms: u64,
        seed: u64,
        f: impl FnOnce(&PolicyWorld, &mut Store<CallState>) -> wasmtime::Result<T>,
    ) -> Result<T, CallFault> {
        // WASI's synchronous bindings (a plugin printing, say) block on the ambient tokio
        // runtime, which a runtime worker thread may not do; step out of the worker role first.
        match tokio::runtime::Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| self.call_in_store(now_ms, seed, f))
            }
            _ => self.call_in_store(now_ms, seed, f),
        }
    }

    fn call_in_store<T>(
        &self,
        now_ms: u64,
        seed: u64,
        f: impl FnOnce(&PolicyWorld, &mut Store<CallState>) -> wasmtime::Result<T>,
    ) -> Result<T, CallFault> {
        let limits = self.runtime.limits();
        let state = CallState::new(now_ms, seed, limits.max_memory, limits.max_output);
        let mut store = Store::new(&self.runtime.engine, state);
        store.limiter(|s| s);
        let started = Instant::now();
        let cpu_start = thread_cpu_time();
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if started.elapsed() > limits.call_timeout {
                return Err(BudgetExceeded(format!(
                    "wall-clock timeout of {:?}",
                    limits.call_timeout
                ))
                .into());
            }
            if thread_cpu_time().saturating_sub(cpu_start) > limits.max_cpu {
                return Err(BudgetExceeded(format!("CPU budget of {:?}", limits.max_cpu)).into());
            }
            Ok(UpdateDeadline::Continue(1))
        });
        let result = self
            .pre
            .instantiate(&mut store)
            .and_then(|instance| f(&instance, &mut store));
        let state = store.data();
        for (stream, pipe) in [("stdout", &state.stdout), ("stderr", &state.stderr)] {
            let bytes = pipe.contents();
            if !bytes.is_empty() {
                tracing::debug!(digest = %self.digest, stream, output = %String::from_utf8_lossy(&bytes), "policy output");
            }
        }
        result.map_err(|e| {
            if let Some(budget) = e.downcast_ref::<BudgetExceeded>() {
                CallFault::Timeout(budget.0.clone())
            } else if state.growth_denied {
                CallFault::OutOfMemory(limits.max_memory)
            } else {
                CallFault::Trap(format!("{e:#}"))
            }
        })
    }
}

/// CPU time of the calling thread.
fn thread_cpu_time() -> Duration {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(|t| Duration::new(t.tv_sec() as u64, t.tv_nsec() as u32))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_versions_follow_semver() {
        assert!(compatible("0.1.0", "0.1.0"));
        assert!(compatible("0.1.3", "0.1.0"));
        assert!(!compatible("0.2.0", "0.1.0"));
        assert!(compatible("1.4.0", "1.0.0"));
        assert!(!compatible("2.0.0", "1.0.0"));
        assert!(!compatible("x", "0.1.0"));
    }

    #[test]
    fn inspection_refuses_without_compiling() {
        let runtime = PluginRuntime::new(CallLimits::default()).unwrap();
        assert!(runtime.inspect(crate::guarded::EMBEDDED_DEFAULT).is_ok());
        let fixture = |name: &str| {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../plugins/target/wasm32-wasip2/release")
                .join(format!("{name}.wasm"));
            std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        };
        match runtime.inspect(&fixture("reef_policy_fixture_reads_files")) {
            Err(LoadError::ForbiddenImport(name)) => {
                assert!(name.starts_with("wasi:filesystem/"), "{name}")
            }
            other => panic!("{other:?}"),
        }
        let error = runtime
            .inspect(&fixture("reef_policy_fixture_big_memory"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("more than policy.max_memory (16 MiB)") && error.contains("and restart"),
            "{error}"
        );
        let core_module = b"\0asm\x01\0\0\0";
        assert!(
            matches!(runtime.inspect(core_module), Err(LoadError::Compile(e)) if e.contains("core WebAssembly module"))
        );
        assert!(matches!(
            runtime.inspect(b"not wasm at all"),
            Err(LoadError::Compile(_))
        ));
    }

    #[test]
    fn the_embedded_default_loads_and_answers() {
        let runtime = PluginRuntime::new(CallLimits::default()).unwrap();
        let policy = runtime.load(crate::guarded::EMBEDDED_DEFAULT).unwrap();
        assert!(policy.digest().starts_with("sha256:"));
        let input = crate::inputs::tests::exit_input(crate::ExitStatus::Exited(1), false, &[]);
        assert_eq!(policy.on_exit(&input), Ok(ExitDecision::Retry(1000)));
    }
}

//! The sandbox of one plugin call: which imports exist at all, and the per-call WASI context.
//!
//! Only interfaces a policy can need are linked: `wasi:io` and `wasi:cli` (every Rust
//! `wasm32-wasip2` component imports them), with an empty environment, no arguments, an empty
//! stdin and bounded in-memory stdout/stderr; `wasi:clocks` frozen at the input's `now`; and
//! `wasi:random` seeded from the input's `seed`, so a plugin stays deterministic even when it
//! uses a `HashMap`. Filesystem, sockets and HTTP are not linked: a component importing them is
//! refused at load with the import named.

use std::time::Duration;
use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime::{ResourceLimiter, StoreLimits};
use wasmtime_wasi::cli::{WasiCli, WasiCliView as _};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView as _};
use wasmtime_wasi::p2::bindings::{cli, clocks, random, sync};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::{
    HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView,
};

/// Import namespaces a plugin may use; anything else is refused at load time.
pub const ALLOWED_IMPORTS: &[&str] = &[
    "wasi:io/",
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:random/",
    "reef:policy/types@",
];

/// State of one call's store.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    /// A memory or table growth was refused (the call ran out of its memory budget).
    pub growth_denied: bool,
    /// What the plugin printed to stdout.
    pub stdout: MemoryOutputPipe,
    /// What the plugin printed to stderr.
    pub stderr: MemoryOutputPipe,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl ResourceLimiter for CallState {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = self.limits.memory_growing(current, desired, maximum)?;
        self.growth_denied |= !ok;
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = self.limits.table_growing(current, desired, maximum)?;
        self.growth_denied |= !ok;
        Ok(ok)
    }
}

/// A clock that always reads the same time.
struct FrozenWallClock(Duration);

impl HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }
    fn now(&self) -> Duration {
        self.0
    }
}

/// A monotonic clock that never moves.
struct FrozenMonotonicClock;

impl HostMonotonicClock for FrozenMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// 256 bytes of SplitMix64 output from `seed`; `wasi:random` cycles through them.
fn seeded_bytes(seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(256);
    for _ in 0..32 {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out
}

impl CallState {
    /// A fresh state for a call at `now_ms` with `seed`, limited to `max_memory` bytes of linear
    /// memory and `max_output` bytes of captured output per stream.
    pub fn new(now_ms: u64, seed: u64, max_memory: usize, max_output: usize) -> Self {
        let stdout = MemoryOutputPipe::new(max_output);
        let stderr = MemoryOutputPipe::new(max_output);
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(FrozenWallClock(Duration::from_millis(now_ms)))
            .monotonic_clock(FrozenMonotonicClock)
            .secure_random(wasmtime_wasi::Deterministic::new(seeded_bytes(seed)))
            .insecure_random(wasmtime_wasi::Deterministic::new(seeded_bytes(
                seed ^ 0x5EED,
            )))
            .insecure_random_seed(u128::from(seed))
            .build();
        let limits = wasmtime::StoreLimitsBuilder::new()
            .memory_size(max_memory)
            .instances(16)
            .tables(16)
            .memories(4)
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            limits,
            growth_denied: false,
            stdout,
            stderr,
        }
    }
}

struct HasIo;

impl HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

/// A linker with exactly the allowed interfaces.
pub fn restricted_linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<CallState>> {
    let mut linker = Linker::<CallState>::new(engine);
    let l = &mut linker;
    sync::io::error::add_to_linker::<CallState, HasIo>(l, |t| t.ctx().table)?;
    sync::io::poll::add_to_linker::<CallState, HasIo>(l, |t| t.ctx().table)?;
    sync::io::streams::add_to_linker::<CallState, HasIo>(l, |t| t.ctx().table)?;
    cli::exit::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::environment::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::stdin::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::stdout::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::stderr::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::terminal_input::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::terminal_output::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::terminal_stdin::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::terminal_stdout::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    cli::terminal_stderr::add_to_linker::<CallState, WasiCli>(l, CallState::cli)?;
    clocks::wall_clock::add_to_linker::<CallState, WasiClocks>(l, CallState::clocks)?;
    clocks::monotonic_clock::add_to_linker::<CallState, WasiClocks>(l, CallState::clocks)?;
    random::random::add_to_linker::<CallState, WasiRandom>(l, |t| t.wasi.random())?;
    random::insecure::add_to_linker::<CallState, WasiRandom>(l, |t| t.wasi.random())?;
    random::insecure_seed::add_to_linker::<CallState, WasiRandom>(l, |t| t.wasi.random())?;
    Ok(linker)
}

/// True for an import name inside [`ALLOWED_IMPORTS`].
pub fn allowed_import(name: &str) -> bool {
    ALLOWED_IMPORTS
        .iter()
        .any(|allowed| name.starts_with(allowed))
}

/// What a component's bytes say about it without compiling it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComponentFacts {
    /// The names the top-level component imports.
    pub imports: Vec<String>,
    /// The largest initial size of any core memory inside it, in bytes.
    pub initial_memory: u64,
}

impl ComponentFacts {
    /// Reads the facts off `bytes`; an error says why they are not a component.
    pub fn read(bytes: &[u8]) -> Result<Self, String> {
        use wasmparser::{Encoding, Parser, Payload};
        let mut facts = Self::default();
        // Nesting depth: 1 inside the top-level component, more inside what it embeds.
        let mut depth = 0usize;
        for payload in Parser::new(0).parse_all(bytes) {
            let payload = payload.map_err(|e| e.to_string())?;
            match payload {
                Payload::Version { encoding, .. } => {
                    if depth == 0 && encoding != Encoding::Component {
                        return Err("a core WebAssembly module, not a component (build it for                              wasm32-wasip2, or wrap it with `wasm-tools component new`)"
                            .into());
                    }
                    depth += 1;
                }
                Payload::End(_) => depth = depth.saturating_sub(1),
                Payload::ComponentImportSection(reader) if depth == 1 => {
                    for import in reader {
                        let import = import.map_err(|e| e.to_string())?;
                        // An imported type (how the world names `admit-input`, say) grants
                        // nothing; instances and functions are what a sandbox must allow.
                        if !matches!(import.ty, wasmparser::ComponentTypeRef::Type(_)) {
                            facts.imports.push(import.name.name.to_owned());
                        }
                    }
                }
                Payload::MemorySection(reader) => {
                    for memory in reader {
                        let memory = memory.map_err(|e| e.to_string())?;
                        let bytes = memory
                            .initial
                            .saturating_mul(1u64 << memory.page_size_log2());
                        facts.initial_memory = facts.initial_memory.max(bytes);
                    }
                }
                _ => {}
            }
        }
        Ok(facts)
    }
}

/// The first import of `component` outside [`ALLOWED_IMPORTS`], if any.
pub fn forbidden_import(
    engine: &wasmtime::Engine,
    component: &wasmtime::component::Component,
) -> Option<String> {
    component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_owned())
        .find(|name| !allowed_import(name))
}

/// Versions of `reef:policy/types` the component imports (`0.1.0` of `reef:policy/types@0.1.0`).
pub fn policy_type_versions(
    engine: &wasmtime::Engine,
    component: &wasmtime::component::Component,
) -> Vec<String> {
    component
        .component_type()
        .imports(engine)
        .filter_map(|(name, _)| name.strip_prefix("reef:policy/types@").map(str::to_owned))
        .collect()
}

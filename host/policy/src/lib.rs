//! The policy seam: the four decisions the host delegates (admit, pick, plan, on-exit).
//!
//! - [`Policy`] is what the engine and the API call. Its inputs and answers are the types of
//!   `wit/policy.wit` ([`bindings`]), shared by every kind of policy.
//! - [`NativePolicy`] is the built-in answer (priority + FIFO, the runner's timeout, retries with
//!   backoff). It is the fail-safe whenever a plugin cannot answer.
//! - [`wasm`] loads and runs WebAssembly policy components in a sandbox.
//! - [`GuardedPolicy`] puts a plugin in front of the native policy: it validates every answer and
//!   falls back, call by call, on a trap, a timeout, an out-of-memory or an invalid answer.
//! - [`registry`], [`slots`], [`validation`]: versions kept in the state database, validated on
//!   upload, activated by one pointer swap, tried in shadow or canary, quarantined.
//!
//! **The policy crate knows nothing of HTTP, the engine or metrics**: it decides and reports
//! what it did through [`PolicyObserver`]; who counts (the engine's metrics) plugs in there. It
//! depends on the core (for the jobs it reads) and the store (whose database holds versions).

pub mod bindings;
pub mod corpus;
mod guarded;
pub mod inputs;
pub mod live;
mod native;
pub mod registry;
pub mod slots;
pub mod timing;
pub mod validation;
pub mod wasm;

pub use bindings::reef::policy::types::{
    Admission, AdmitDecision, AdmitInput, Attempt as PolicyAttempt, AttemptPlan,
    Candidate as PolicyCandidate, ExitDecision, ExitInput, ExitStatus, HostLoad, Job as PolicyJob,
    Load, Pair, PickInput, PlanInput, Runner as PolicyRunner,
};
pub use guarded::{EMBEDDED_DEFAULT, GuardedPolicy, PolicyInfo};
pub use native::NativePolicy;

/// What a policy reports as it works, for whoever counts (the host's metrics). Every method
/// has a default that does nothing.
pub trait PolicyObserver: Send + Sync {
    /// A plugin call of `hook` ended with `result` (`ok`, or the fault's kind) after `took`.
    fn call(&self, hook: &str, result: &str, took: std::time::Duration) {
        let _ = (hook, result, took);
    }

    /// A version was quarantined for faulting too often.
    fn quarantined(&self) {}
}

/// An observer that counts nothing.
pub struct Unobserved;

impl PolicyObserver for Unobserved {}

/// The version of the policy interface this host speaks.
pub const WIT_PACKAGE: &str = "reef:policy@0.1.0";

/// A decision and what made it: the digest of the policy version, or `native` when the
/// built-in policy answered (a fault in the plugin adds the fault kind: `native:fallback:trap`).
#[derive(Debug, Clone, PartialEq)]
pub struct Decided<T> {
    /// The answer.
    pub answer: T,
    /// Who answered.
    pub by: String,
}

/// The decisions a policy makes. Implementations must be quick and must not block.
pub trait Policy: Send + Sync {
    /// Accept or refuse a submitted job, possibly changing its priority, tenant or resources.
    fn admit(&self, input: &AdmitInput) -> Decided<AdmitDecision>;

    /// Indexes into `input.candidates` of the jobs to start now, in order.
    fn pick(&self, input: &PickInput) -> Decided<Vec<u32>>;

    /// Limits of the next attempt.
    fn plan(&self, input: &PlanInput) -> Decided<AttemptPlan>;

    /// What follows a finished attempt.
    fn on_exit(&self, input: &ExitInput) -> Decided<ExitDecision>;

    /// What answers: name, digest and counters, for the API and logs.
    fn info(&self) -> PolicyInfo;
}

//! The policy seam: the four decisions the host delegates (admit, pick, plan, on-exit).
//!
//! - [`Policy`] is what the engine and the API call. Its inputs and answers are the types of
//!   `wit/policy.wit` ([`bindings`]), shared by every kind of policy.
//! - [`NativePolicy`] is the built-in answer (priority + FIFO, the runner's timeout, retries with
//!   backoff). It is the fail-safe whenever a plugin cannot answer.
//! - [`wasm`] loads and runs WebAssembly policy components in a sandbox.
//! - [`GuardedPolicy`] puts a plugin in front of the native policy: it validates every answer and
//!   falls back, call by call, on a trap, a timeout, an out-of-memory or an invalid answer.

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
pub mod watch;

pub use bindings::reef::policy::types::{
    Admission, AdmitDecision, AdmitInput, Attempt as PolicyAttempt, AttemptPlan,
    Candidate as PolicyCandidate, ExitDecision, ExitInput, ExitStatus, HostLoad, Job as PolicyJob,
    Load, Pair, PickInput, PlanInput, Runner as PolicyRunner,
};
pub use guarded::{EMBEDDED_DEFAULT, GuardedPolicy, PolicyInfo};
pub use native::NativePolicy;

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

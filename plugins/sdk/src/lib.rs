//! Write a reef policy plugin in Rust.
//!
//! A policy is a type implementing [`Policy`]; every hook has a default that behaves like the
//! host's built-in policy, so a plugin overrides only what it changes. [`export_policy!`] turns
//! the type into the component's exports:
//!
//! ```ignore
//! use reef_policy_sdk::{Policy, PlanInput, AttemptPlan, export_policy};
//!
//! struct GrowingTimeouts;
//!
//! impl Policy for GrowingTimeouts {
//!     fn plan(input: &PlanInput) -> AttemptPlan {
//!         let mut plan = reef_policy_sdk::defaults::plan(input);
//!         plan.timeout_ms *= u64::from(input.attempt);
//!         plan
//!     }
//! }
//!
//! export_policy!(GrowingTimeouts);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the `.wasm` file in
//! `target/wasm32-wasip2/release/` is the component to load into reef.

#![warn(missing_docs)]

/// Bindings generated from `wit/policy.wit` (the `reef:policy` package).
#[allow(missing_docs, clippy::too_many_arguments)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "policy",
        pub_export_macro: true,
        default_bindings_module: "reef_policy_sdk::bindings",
    });
}

pub use bindings::reef::policy::types::{
    Admission, AdmitDecision, AdmitInput, Attempt, AttemptPlan, Candidate, ExitDecision, ExitInput,
    ExitStatus, HostLoad, Job, Load, Pair, PickInput, PlanInput, Runner,
};

pub mod defaults;
pub mod random;

/// A policy. Every hook has a default matching reef's built-in policy; override what you need.
///
/// Hooks are associated functions: plugins keep no state between calls (each call runs in a
/// fresh instance), and everything a decision needs is in its input.
pub trait Policy {
    /// Accept or refuse a submitted job. Default: accept unchanged.
    fn admit(input: &AdmitInput) -> AdmitDecision {
        defaults::admit(input)
    }

    /// Indexes into `input.candidates` of the jobs to start now, in order. Default: all, in the
    /// order offered (priority, then submission).
    fn pick(input: &PickInput) -> Vec<u32> {
        defaults::pick(input)
    }

    /// Limits of the next attempt. Default: the runner's configured timeout and grace.
    fn plan(input: &PlanInput) -> AttemptPlan {
        defaults::plan(input)
    }

    /// What follows a finished attempt. Default: accept a success; retry a failure after the
    /// configured backoff while attempts remain (lost attempts do not count); else accept.
    fn on_exit(input: &ExitInput) -> ExitDecision {
        defaults::on_exit(input)
    }
}

/// Exports a [`Policy`] implementation as the component's `reef:policy` hooks.
#[macro_export]
macro_rules! export_policy {
    ($policy:ty) => {
        #[doc(hidden)]
        pub struct __ReefPolicyExports;

        impl $crate::bindings::Guest for __ReefPolicyExports {
            fn admit(input: $crate::AdmitInput) -> $crate::AdmitDecision {
                <$policy as $crate::Policy>::admit(&input)
            }
            fn pick(input: $crate::PickInput) -> ::std::vec::Vec<u32> {
                <$policy as $crate::Policy>::pick(&input)
            }
            fn plan(input: $crate::PlanInput) -> $crate::AttemptPlan {
                <$policy as $crate::Policy>::plan(&input)
            }
            fn on_exit(input: $crate::ExitInput) -> $crate::ExitDecision {
                <$policy as $crate::Policy>::on_exit(&input)
            }
        }

        $crate::bindings::export!(__ReefPolicyExports with_types_in $crate::bindings);
    };
}

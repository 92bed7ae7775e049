//! Validation of uploads and loading of stored versions.
//!
//! Every version passes the same checks before it can be activated: it compiles, instantiates
//! against the restricted linker, speaks a compatible interface version, and answers the built-in
//! corpus validly within the call budget. The outcome is stored with the version, valid or not.

use super::corpus;
use super::registry::{PolicyRegistry, PolicyVersion, SelfTestCase, ValidationReport};
use super::slots::PolicyError;
use super::wasm::{CodeCache, PluginRuntime, WasmPolicy, digest_of};
use reef_core::time::Timestamp;
use std::sync::Arc;

/// Loads a stored version (compiled code from the cache when possible).
pub(crate) fn load_stored(
    runtime: &Arc<PluginRuntime>,
    registry: &PolicyRegistry,
    digest: &str,
) -> Result<WasmPolicy, PolicyError> {
    let bytes = registry
        .artifact(digest)?
        .ok_or_else(|| PolicyError::Load {
            digest: digest.to_owned(),
            error: "component bytes missing".into(),
        })?;
    runtime
        .load_cached(&bytes, registry)
        .map_err(|e| PolicyError::Load {
            digest: digest.to_owned(),
            error: e.to_string(),
        })
}

/// Compiles, checks and self-tests `bytes`, then stores them with their report (valid or not).
pub(crate) fn validate_and_store(
    runtime: &Arc<PluginRuntime>,
    registry: &PolicyRegistry,
    slot: &str,
    bytes: &[u8],
    label: &str,
    uploader: &str,
) -> Result<PolicyVersion, PolicyError> {
    let digest = digest_of(bytes);
    // A valid version stays valid; a rejection is judged again, under the limits in force now
    // (one refused for want of memory may fit after `policy.max_memory` was raised).
    if let Some(existing) = registry.version(&digest)?
        && existing.report.valid
    {
        return Ok(existing);
    }
    let report = validate(runtime, registry, bytes);
    let version = PolicyVersion {
        digest,
        slot: slot.to_owned(),
        label: label.to_owned(),
        size: bytes.len() as u64,
        uploader: uploader.to_owned(),
        uploaded_at: Timestamp::now(),
        report,
    };
    if version.report.valid {
        registry.put_version(&version, bytes)?;
    } else {
        // The report is kept so the uploader can read it; the bytes are not (they can be large,
        // and nothing can ever activate them).
        registry.put_rejected(&version)?;
    }
    if version.report.valid {
        tracing::info!(
            slot,
            digest = version.digest,
            uploader,
            "policy version stored"
        );
        Ok(version)
    } else {
        tracing::warn!(slot, digest = version.digest, uploader, errors = ?version.report.errors, "policy version rejected");
        Err(PolicyError::Rejected(Box::new(version)))
    }
}

/// The checks every version passes before it can be activated: it compiles, instantiates
/// against the restricted linker, speaks a compatible interface version, and answers the
/// built-in corpus validly within the call budget.
pub fn validate(
    runtime: &Arc<PluginRuntime>,
    cache: &dyn CodeCache,
    bytes: &[u8],
) -> ValidationReport {
    let mut report = ValidationReport::default();
    // What can be read off the bytes is checked before the (long) compile: a forbidden import
    // or a memory that cannot fit is refused in milliseconds.
    if let Err(error) = runtime.inspect(bytes) {
        report.errors.push(bounded(error.to_string()));
        return report;
    }
    let plugin = match runtime.load_cached(bytes, cache) {
        Ok(plugin) => plugin,
        Err(error) => {
            report.errors.push(bounded(error.to_string()));
            return report;
        }
    };
    report.wit = Some(plugin.wit().to_owned());
    for case in corpus::builtin() {
        let outcome = corpus::run(&plugin, &case);
        let error = outcome
            .answer
            .as_ref()
            .err()
            .map(|f| bounded(f.to_string()));
        if let Some(error) = &error {
            report.errors.push(format!(
                "self-test '{}' ({}): {error}",
                case.name,
                case.call.hook()
            ));
        }
        report.self_test.push(SelfTestCase {
            case: case.name.clone(),
            hook: case.call.hook().to_owned(),
            ok: error.is_none(),
            micros: outcome.took.as_micros() as u64,
            error,
        });
    }
    report.valid = report.errors.is_empty();
    report
}

/// Longest message kept in a report: reports are stored, and a rejection's must stay small.
const MAX_MESSAGE: usize = 1024;

fn bounded(mut text: String) -> String {
    if text.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(" …");
    }
    text
}

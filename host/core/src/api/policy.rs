//! The policy API's requests and answers: slots, versions, validation reports, trials.
//!
//! The registry stores [`PolicyVersion`] and [`SlotState`] as they are shown, so these are also
//! its record types; a rename here is a stored-format change (see ARCHITECTURE.md).

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// One self-test call of a validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SelfTestCase {
    /// Corpus case name.
    pub case: String,
    /// Hook called.
    pub hook: String,
    /// Whether it answered validly within budget.
    pub ok: bool,
    /// Call time in microseconds.
    pub micros: u64,
    /// The fault, when not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What validation found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct ValidationReport {
    /// Every check passed: the version may be activated.
    pub valid: bool,
    /// Interface version the component was built for, when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wit: Option<String>,
    /// Why it is not valid (empty when valid).
    pub errors: Vec<String>,
    /// The self-test corpus run.
    pub self_test: Vec<SelfTestCase>,
}

/// One uploaded component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyVersion {
    /// `sha256:<hex>` of the bytes.
    pub digest: String,
    /// Slot it was uploaded to.
    pub slot: String,
    /// Free-form version label given at upload.
    pub label: String,
    /// Size in bytes.
    pub size: u64,
    /// Who uploaded it (a token name, `config`, `embedded`, `watcher`).
    pub uploader: String,
    /// When.
    pub uploaded_at: Timestamp,
    /// Validation outcome.
    pub report: ValidationReport,
}

/// A slot's activation state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct SlotState {
    /// Digest of the active version.
    pub active: Option<String>,
    /// Earlier active digests, most recent last (rollback pops from here).
    pub history: Vec<String>,
    /// When the active version was activated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<Timestamp>,
    /// Who activated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activated_by: Option<String>,
    /// Versions taken out of service for faulting too often, most recent last.
    #[serde(default)]
    pub quarantined: Vec<Quarantine>,
    /// A version on trial beside the active one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate: Option<CandidateState>,
}

/// A version on trial, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CandidateState {
    /// Its digest.
    pub digest: String,
    /// Shadow or canary.
    #[serde(flatten)]
    pub mode: CandidateMode,
    /// Who started the trial.
    pub by: String,
}

/// A version deactivated automatically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Quarantine {
    /// The faulting version.
    pub digest: String,
    /// When it was deactivated.
    pub at: Timestamp,
    /// Faults counted in the window.
    pub faults: u32,
    /// The version restored in its place.
    pub restored: String,
}

/// How a candidate takes part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum CandidateMode {
    /// Decides beside the active version; never applied.
    Shadow,
    /// Decides for `percent` of jobs.
    Canary {
        /// Share of jobs, 0 to 100.
        percent: u8,
    },
}

/// A candidate as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CandidateInfo {
    /// Its digest.
    pub digest: Option<String>,
    /// Shadow or canary (with its share).
    #[serde(flatten)]
    pub mode: CandidateMode,
    /// Shadow: decisions compared with the active version's.
    pub compared: u64,
    /// Shadow: how many of those differed.
    pub disagreements: u64,
    /// Canary: decisions the candidate made for its share of jobs.
    pub decided: u64,
}

/// A slot as `GET /v1/policies/{name}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlotView {
    /// Slot name.
    pub name: String,
    /// Active version and its counters.
    pub active: PolicyInfo,
    /// How long recent decisions took (across versions).
    pub decisions: TimingSummary,
    /// A candidate on trial (shadow or canary) and its counters.
    pub candidate: Option<CandidateInfo>,
    /// Activation state and history.
    pub state: SlotState,
    /// Every version uploaded to the slot, oldest first.
    pub versions: Vec<PolicyVersion>,
}

/// What answers the policy calls, as `GET /v1/policies` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyInfo {
    /// Slot name.
    pub name: String,
    /// `native`, `embedded` or the file the plugin came from.
    pub source: String,
    /// `sha256:<hex>` of the component, absent for the native policy.
    pub digest: Option<String>,
    /// Component size in bytes.
    pub size: Option<usize>,
    /// Whether its compiled code came from the cache rather than a fresh compile.
    pub compiled_from_cache: Option<bool>,
    /// Interface version.
    pub wit: String,
    /// Plugin calls made.
    pub calls: u64,
    /// Calls that fell back to the native policy.
    pub faults: u64,
    /// Per-call limits.
    pub limits: Option<LimitsInfo>,
}

/// Per-call limits, for display.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LimitsInfo {
    /// Memory, bytes.
    pub max_memory_bytes: usize,
    /// CPU, milliseconds.
    pub max_cpu_ms: u64,
    /// Wall clock, milliseconds.
    pub call_timeout_ms: u64,
}

/// Percentiles of recent decision times.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimingSummary {
    /// Decisions in the window.
    pub count: usize,
    /// Median, microseconds.
    pub p50_micros: u32,
    /// 99th percentile, microseconds.
    pub p99_micros: u32,
    /// Slowest, microseconds.
    pub max_micros: u32,
}

/// The answer of `GET /v1/policies`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyList {
    /// Every slot with its active version.
    pub policies: Vec<SlotView>,
}

/// Body of `POST /v1/policies/{name}/activate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    /// Digest of a stored, valid version.
    pub digest: String,
}

/// Body of `POST /v1/policies/{name}/shadow`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShadowRequest {
    /// Digest of a stored, valid version.
    pub digest: String,
}

/// Body of `POST /v1/policies/{name}/canary`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CanaryRequest {
    /// Digest of a stored, valid version.
    pub digest: String,
    /// Share of jobs it decides, 0 to 100.
    #[schema(minimum = 0, maximum = 100)]
    #[serde(deserialize_with = "crate::json_integer::exact")]
    pub percent: u8,
}

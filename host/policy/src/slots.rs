//! `PolicySlots`: uploading, validating, activating and rolling back policy versions, and the
//! atomically swappable policy the engine decides with.
//!
//! Activation builds the new version's [`GuardedPolicy`] first (compiled code comes from the
//! cache when it can) and then swaps one pointer: decisions never wait behind a compile or a
//! swap, and a call in flight finishes on the version it started with because it holds its own
//! reference.

use super::guarded::PoolNames;
use super::live::{CandidateMode, CandidateRun, SwappablePolicy};
use super::registry::{CandidateState, Quarantine};
use super::registry::{HISTORY_LEN, PolicyRegistry, PolicyVersion, SlotState};
use super::timing::DecisionTimes;
use super::validation::{load_stored, validate_and_store};
use super::wasm::{CodeCache, PluginRuntime, WasmPolicy};
use super::{GuardedPolicy, Policy};
use arc_swap::ArcSwap;
pub use reef_core::api::policy::SlotView;
use reef_core::time::Timestamp;
use reef_store::StoreError;
use std::collections::BTreeSet;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// The slot the engine decides with.
pub const DEFAULT_SLOT: &str = "default";

/// The policy a host starts with when its registry does not decide.
#[derive(Debug, Clone)]
pub struct Seed {
    /// Where it comes from (a file path, or `embedded`).
    pub source: String,
    /// The component.
    pub bytes: Vec<u8>,
    /// True for the config's `policy.file`, which is activated at every start.
    pub configured: bool,
}

/// Why a policy operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// No such slot.
    #[error("policy slot '{0}' does not exist (this host has: {DEFAULT_SLOT})")]
    NoSlot(String),
    /// No such version in the slot.
    #[error("policy version {digest} is not in slot '{slot}'")]
    NoVersion {
        /// Slot.
        slot: String,
        /// Digest asked for.
        digest: String,
    },
    /// The upload failed validation; the version is kept as rejected.
    #[error("policy rejected: {}", .0.report.errors.join("; "))]
    Rejected(Box<PolicyVersion>),
    /// The version was rejected at upload and cannot be activated.
    #[error("policy version {0} failed validation and cannot be activated")]
    NotValid(String),
    /// The active version cannot be deleted.
    #[error("policy version {0} is active; activate another version first")]
    Active(String),
    /// Nothing to roll back to.
    #[error("policy slot '{0}' has no earlier version to roll back to")]
    NoHistory(String),
    /// No trial is running.
    #[error("policy slot '{0}' has no shadow or canary trial running")]
    NoTrial(String),
    /// A canary share over 100%.
    #[error("canary percent must be 0 to 100, got {0}")]
    BadPercent(u8),
    /// Loading a stored, valid version failed (e.g. a changed engine that rejects it).
    #[error("loading policy {digest}: {error}")]
    Load {
        /// Digest.
        digest: String,
        /// Why.
        error: String,
    },
    /// The state database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CodeCache for PolicyRegistry {
    fn get(&self, digest: &str, engine: &str) -> Option<Vec<u8>> {
        self.compiled(digest, engine).ok().flatten()
    }
    fn put(&self, digest: &str, engine: &str, code: &[u8]) {
        if let Err(error) = self.put_compiled(digest, engine, code) {
            tracing::warn!(digest, %error, "could not cache compiled policy code");
        }
    }
}

/// When a version is quarantined: more than `faults` faults within `window`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuarantineRule {
    /// Faults tolerated within the window.
    pub faults: u32,
    /// The window.
    pub window: Duration,
}

/// Policy versions and activations.
pub struct PolicySlots {
    runtime: Arc<PluginRuntime>,
    registry: PolicyRegistry,
    pools: PoolNames,
    active: Arc<SwappablePolicy>,
    timings: Arc<DecisionTimes>,
    observer: Arc<dyn crate::PolicyObserver>,
    rule: std::sync::RwLock<QuarantineRule>,
    recent_faults: Mutex<HashMap<String, VecDeque<Instant>>>,
    this: Weak<PolicySlots>,
    /// Serialises uploads, activations and rollbacks (decisions never take it).
    changes: Mutex<()>,
}

impl PolicySlots {
    /// Makes the default slot's policy ready: a `seed` marked `configured` (the config's
    /// `policy.file`) is uploaded and activated at every start; otherwise the registry's active
    /// version is loaded, and on a fresh database the seed (the embedded default) is uploaded
    /// and activated.
    pub fn start(
        runtime: Arc<PluginRuntime>,
        registry: PolicyRegistry,
        pools: BTreeSet<String>,
        seed: Seed,
        rule: QuarantineRule,
        observer: Arc<dyn crate::PolicyObserver>,
    ) -> Result<Arc<Self>, PolicyError> {
        let pools: PoolNames = Arc::new(ArcSwap::from_pointee(pools));
        let state = registry.slot(DEFAULT_SLOT)?;
        let active = state.active.clone().filter(|_| !seed.configured);
        let (source, plugin) = match &active {
            Some(digest) => (
                format!(
                    "registry ({})",
                    state.activated_by.as_deref().unwrap_or("?")
                ),
                load_stored(&runtime, &registry, digest)?,
            ),
            None => {
                let Seed { source, bytes, .. } = seed;
                let version = validate_and_store(
                    &runtime,
                    &registry,
                    DEFAULT_SLOT,
                    &bytes,
                    &source,
                    &source,
                )?;
                let plugin = load_stored(&runtime, &registry, &version.digest)?;
                let mut next = state.clone();
                if let Some(previous) = next.active.take().filter(|d| *d != version.digest) {
                    next.history.push(previous);
                }
                next.active = Some(version.digest.clone());
                next.activated_at = Some(Timestamp::now());
                next.activated_by = Some(source.clone());
                registry.set_slot(DEFAULT_SLOT, &next)?;
                (source, plugin)
            }
        };
        tracing::info!(
            slot = DEFAULT_SLOT,
            digest = plugin.digest(),
            from_cache = plugin.from_cache(),
            source,
            "policy active"
        );
        let timings = Arc::new(DecisionTimes::default());
        let trial = state.candidate.clone();
        let slots = Arc::new_cyclic(|this: &Weak<Self>| {
            let first = guarded(
                Instruments {
                    this,
                    timings: &timings,
                    observer: &observer,
                },
                DEFAULT_SLOT,
                &source,
                plugin,
                pools.clone(),
            );
            Self {
                runtime,
                registry,
                pools,
                active: Arc::new(SwappablePolicy::new(first)),
                timings,
                observer,
                rule: std::sync::RwLock::new(rule),
                recent_faults: Mutex::new(HashMap::new()),
                this: this.clone(),
                changes: Mutex::new(()),
            }
        });
        if let Some(trial) = trial {
            match slots.guarded_version(
                DEFAULT_SLOT,
                &trial.digest,
                &format!("candidate ({})", trial.by),
            ) {
                Ok(policy) => slots
                    .active
                    .set_candidate(Some(CandidateRun::new(policy, trial.mode))),
                Err(error) => {
                    tracing::warn!(digest = trial.digest, %error, "policy trial not resumed")
                }
            }
        }
        Ok(slots)
    }

    /// Counts a fault of `digest`; past the rule's limit, quarantines it on a thread of its own
    /// (the decision that faulted has already been answered by the fail-safe).
    fn note_fault(&self, digest: &str) {
        let now = Instant::now();
        let rule = self.quarantine_rule();
        let tripped = {
            let Ok(mut recent) = self.recent_faults.lock() else {
                return;
            };
            let faults = recent.entry(digest.to_owned()).or_default();
            faults.push_back(now);
            while faults
                .front()
                .is_some_and(|t| now.duration_since(*t) > rule.window)
            {
                faults.pop_front();
            }
            if faults.len() as u32 > rule.faults {
                let count = faults.len() as u32;
                faults.clear();
                Some(count)
            } else {
                None
            }
        };
        if let (Some(faults), Some(slots)) = (tripped, self.this.upgrade()) {
            let digest = digest.to_owned();
            let spawned = std::thread::Builder::new()
                .name("reef-policy-quarantine".into())
                .spawn(move || {
                    if let Err(error) = slots.quarantine(DEFAULT_SLOT, &digest, faults) {
                        tracing::error!(digest, %error, "could not quarantine a faulting policy");
                    }
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "could not start the quarantine thread");
            }
        }
    }

    /// Deactivates `digest` if it is still active and restores the most recent earlier good
    /// version (the embedded default when there is none).
    fn quarantine(&self, slot: &str, digest: &str, faults: u32) -> Result<(), PolicyError> {
        let _guard = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let mut state = self.registry.slot(slot)?;
        if state.active.as_deref() != Some(digest) {
            return Ok(());
        }
        let mut restore = None;
        while let Some(candidate) = state.history.pop() {
            let good = candidate != digest
                && !state.quarantined.iter().any(|q| q.digest == candidate)
                && self
                    .registry
                    .version(&candidate)?
                    .is_some_and(|v| v.report.valid);
            if good {
                restore = Some(candidate);
                break;
            }
        }
        let restore = match restore {
            Some(d) => d,
            None => {
                let embedded = super::EMBEDDED_DEFAULT;
                validate_and_store(
                    &self.runtime,
                    &self.registry,
                    slot,
                    embedded,
                    "embedded",
                    "embedded",
                )?
                .digest
            }
        };
        self.swap_to(slot, &restore, "quarantine")?;
        self.observer.quarantined();
        tracing::error!(
            slot,
            digest,
            faults,
            window = ?self.quarantine_rule().window,
            restored = restore,
            "policy quarantined: it faulted too often; the previous good version is active again"
        );
        state.quarantined.push(Quarantine {
            digest: digest.to_owned(),
            at: Timestamp::now(),
            faults,
            restored: restore.clone(),
        });
        state.active = Some(restore);
        state.activated_at = Some(Timestamp::now());
        state.activated_by = Some("quarantine".into());
        self.registry.set_slot(slot, &state)?;
        Ok(())
    }

    /// When a version is quarantined.
    pub fn quarantine_rule(&self) -> QuarantineRule {
        match self.rule.read() {
            Ok(rule) => *rule,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    /// Changes the quarantine rule (a config reload).
    pub fn set_quarantine_rule(&self, rule: QuarantineRule) {
        match self.rule.write() {
            Ok(mut current) => *current = rule,
            Err(poisoned) => *poisoned.into_inner() = rule,
        }
    }

    /// Replaces the resource pools an admission may claim, for every version (a config reload).
    pub fn set_pools(&self, pools: BTreeSet<String>) {
        self.pools.store(Arc::new(pools));
    }

    /// The plugin runtime (its per-call limits change on reload).
    pub fn runtime(&self) -> &Arc<PluginRuntime> {
        &self.runtime
    }

    /// The policy the engine decides with.
    pub fn policy(&self) -> Arc<SwappablePolicy> {
        self.active.clone()
    }

    fn check_slot(slot: &str) -> Result<(), PolicyError> {
        if slot == DEFAULT_SLOT {
            Ok(())
        } else {
            Err(PolicyError::NoSlot(slot.to_owned()))
        }
    }

    /// Validates and stores an upload. A rejected upload is kept with its report and returned
    /// as [`PolicyError::Rejected`]; the active version is untouched either way.
    pub fn upload(
        &self,
        slot: &str,
        bytes: &[u8],
        label: &str,
        uploader: &str,
    ) -> Result<PolicyVersion, PolicyError> {
        Self::check_slot(slot)?;
        let _guard = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        validate_and_store(&self.runtime, &self.registry, slot, bytes, label, uploader)
    }

    /// Makes a stored, valid version active.
    pub fn activate(&self, slot: &str, digest: &str, by: &str) -> Result<SlotState, PolicyError> {
        Self::check_slot(slot)?;
        let _guard = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let mut state = self.registry.slot(slot)?;
        if state.active.as_deref() == Some(digest) {
            return Ok(state);
        }
        self.swap_to(slot, digest, by)?;
        if let Some(previous) = state.active.take() {
            state.history.push(previous);
            let excess = state.history.len().saturating_sub(HISTORY_LEN);
            state.history.drain(..excess);
        }
        state.active = Some(digest.to_owned());
        state.activated_at = Some(Timestamp::now());
        state.activated_by = Some(by.to_owned());
        self.registry.set_slot(slot, &state)?;
        Ok(state)
    }

    /// Re-activates the version active before the current one.
    pub fn rollback(&self, slot: &str, by: &str) -> Result<SlotState, PolicyError> {
        Self::check_slot(slot)?;
        let _guard = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let mut state = self.registry.slot(slot)?;
        let previous = state
            .history
            .pop()
            .ok_or_else(|| PolicyError::NoHistory(slot.to_owned()))?;
        self.swap_to(slot, &previous, by)?;
        state.active = Some(previous);
        state.activated_at = Some(Timestamp::now());
        state.activated_by = Some(format!("{by} (rollback)"));
        self.registry.set_slot(slot, &state)?;
        Ok(state)
    }

    /// Puts a stored, valid version on trial beside the active one (`Shadow`) or for a share
    /// of jobs (`Canary`). Replaces any trial already running.
    pub fn trial(
        &self,
        slot: &str,
        digest: &str,
        mode: CandidateMode,
        by: &str,
    ) -> Result<SlotState, PolicyError> {
        Self::check_slot(slot)?;
        if let CandidateMode::Canary { percent } = mode
            && percent > 100
        {
            return Err(PolicyError::BadPercent(percent));
        }
        let _guard = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let mut state = self.registry.slot(slot)?;
        let policy = self.guarded_version(slot, digest, &format!("candidate ({by})"))?;
        self.active
            .set_candidate(Some(CandidateRun::new(policy, mode)));
        state.candidate = Some(CandidateState {
            digest: digest.to_owned(),
            mode,
            by: by.to_owned(),
        });
        self.registry.set_slot(slot, &state)?;
        tracing::info!(slot, digest, ?mode, by, "policy trial started");
        Ok(state)
    }

    /// Makes the candidate on trial the active version and ends the trial.
    pub fn promote(&self, slot: &str, by: &str) -> Result<SlotState, PolicyError> {
        Self::check_slot(slot)?;
        let digest = self
            .registry
            .slot(slot)?
            .candidate
            .map(|c| c.digest)
            .ok_or_else(|| PolicyError::NoTrial(slot.to_owned()))?;
        self.activate(slot, &digest, by)?;
        self.abort(slot, by)
    }

    /// Ends the trial; the active version is untouched.
    pub fn abort(&self, slot: &str, by: &str) -> Result<SlotState, PolicyError> {
        Self::check_slot(slot)?;
        let _guard = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let mut state = self.registry.slot(slot)?;
        if state.candidate.take().is_none() {
            return Err(PolicyError::NoTrial(slot.to_owned()));
        }
        self.active.set_candidate(None);
        self.registry.set_slot(slot, &state)?;
        tracing::info!(slot, by, "policy trial ended");
        Ok(state)
    }

    /// Deletes a version that is not active.
    pub fn delete(&self, slot: &str, digest: &str) -> Result<(), PolicyError> {
        Self::check_slot(slot)?;
        let _guard = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let mut state = self.registry.slot(slot)?;
        if state.active.as_deref() == Some(digest)
            || state.candidate.as_ref().is_some_and(|c| c.digest == digest)
        {
            return Err(PolicyError::Active(digest.to_owned()));
        }
        let in_slot = self
            .registry
            .version(digest)?
            .is_some_and(|v| v.slot == slot);
        if !in_slot || !self.registry.delete_version(digest)? {
            return Err(PolicyError::NoVersion {
                slot: slot.to_owned(),
                digest: digest.to_owned(),
            });
        }
        state.history.retain(|d| d != digest);
        self.registry.set_slot(slot, &state)?;
        Ok(())
    }

    /// Every slot.
    pub fn list(&self) -> Result<Vec<SlotView>, PolicyError> {
        Ok(vec![self.show(DEFAULT_SLOT)?])
    }

    /// One slot with its versions.
    pub fn show(&self, slot: &str) -> Result<SlotView, PolicyError> {
        Self::check_slot(slot)?;
        Ok(SlotView {
            name: slot.to_owned(),
            active: self.active.info(),
            decisions: self.timings.summary(),
            candidate: self.active.candidate_info(),
            state: self.registry.slot(slot)?,
            versions: self.registry.versions(slot)?,
        })
    }

    /// A stored, valid version, loaded and guarded.
    fn guarded_version(
        &self,
        slot: &str,
        digest: &str,
        source: &str,
    ) -> Result<GuardedPolicy, PolicyError> {
        let version = self
            .registry
            .version(digest)?
            .filter(|v| v.slot == slot)
            .ok_or_else(|| PolicyError::NoVersion {
                slot: slot.to_owned(),
                digest: digest.to_owned(),
            })?;
        if !version.report.valid {
            return Err(PolicyError::NotValid(digest.to_owned()));
        }
        let plugin = load_stored(&self.runtime, &self.registry, digest)?;
        Ok(guarded(
            Instruments {
                this: &self.this,
                timings: &self.timings,
                observer: &self.observer,
            },
            slot,
            source,
            plugin,
            self.pools.clone(),
        ))
    }

    fn swap_to(&self, slot: &str, digest: &str, by: &str) -> Result<(), PolicyError> {
        let next = self.guarded_version(slot, digest, &format!("registry ({by})"))?;
        self.active.set_current(next);
        tracing::info!(slot, digest, by, "policy activated");
        Ok(())
    }
}

/// What every guarded version of the slots reports into.
struct Instruments<'a> {
    this: &'a Weak<PolicySlots>,
    timings: &'a Arc<DecisionTimes>,
    observer: &'a Arc<dyn crate::PolicyObserver>,
}

/// A guarded version wired to the shared decision timings, the observer and the quarantine
/// counter.
fn guarded(
    to: Instruments<'_>,
    slot: &str,
    source: &str,
    plugin: WasmPolicy,
    pools: PoolNames,
) -> GuardedPolicy {
    let this = to.this.clone();
    GuardedPolicy::plugin(slot, source, plugin, pools)
        .with_timings(to.timings.clone())
        .with_observer(to.observer.clone())
        .on_fault(Arc::new(move |digest: &str| {
            if let Some(slots) = this.upgrade() {
                slots.note_fault(digest);
            }
        }))
}

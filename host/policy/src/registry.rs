//! `PolicyRegistry`: policy components and their versions, kept in the state database.
//!
//! Tables (beside the job tables, in the same redb file):
//! - `policy_artifacts`: digest → component bytes (content-addressed: `sha256:<hex>`)
//! - `policy_versions`: digest → [`PolicyVersion`] (slot, label, size, interface version,
//!   uploader, time, validation report, valid or rejected)
//! - `policy_slots`: slot name → [`SlotState`] (the active digest and the activation history)
//! - `policy_compiled`: (digest, engine hash) → precompiled code, so a restart or a
//!   re-activation does not compile again

use redb::{ReadableTable, TableDefinition};
pub use reef_core::api::policy::{
    CandidateState, PolicyVersion, Quarantine, SelfTestCase, SlotState, ValidationReport,
};
use reef_store::{DbHandle, StoreError};
use serde::Serialize;
use std::sync::Arc;

const ARTIFACTS: TableDefinition<&str, &[u8]> = TableDefinition::new("policy_artifacts");
const VERSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("policy_versions");
const SLOTS: TableDefinition<&str, &[u8]> = TableDefinition::new("policy_slots");
const COMPILED: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("policy_compiled");

/// How many earlier activations a slot remembers for rollback.
pub const HISTORY_LEN: usize = 20;

/// How many rejected uploads a slot keeps the reports of; older ones are forgotten. Their bytes
/// are never kept.
pub const REJECTED_KEPT: usize = 20;

/// Durable policy state. Cheap to clone.
#[derive(Clone)]
pub struct PolicyRegistry {
    db: Arc<DbHandle>,
}

macro_rules! db {
    ($e:expr) => {
        $e.map_err(|e| StoreError::Db(e.into()))
    };
}

fn decode<T: serde::de::DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Decode {
        key: key.to_owned(),
        source,
    })
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("policy records serialise to JSON")
}

impl PolicyRegistry {
    /// The registry in `db`, creating its tables.
    pub fn open(handle: Arc<DbHandle>) -> Result<Self, StoreError> {
        handle.write(|txn| {
            db!(txn.open_table(ARTIFACTS))?;
            db!(txn.open_table(VERSIONS))?;
            db!(txn.open_table(SLOTS))?;
            db!(txn.open_table(COMPILED))?;
            Ok(())
        })?;
        Ok(Self { db: handle })
    }

    /// Stores a component and its version record (idempotent for the same digest).
    pub fn put_version(&self, version: &PolicyVersion, bytes: &[u8]) -> Result<(), StoreError> {
        self.db.write(|txn| {
            let mut artifacts = db!(txn.open_table(ARTIFACTS))?;
            db!(artifacts.insert(version.digest.as_str(), bytes))?;
            let mut versions = db!(txn.open_table(VERSIONS))?;
            db!(versions.insert(version.digest.as_str(), encode(version).as_slice()))?;
            Ok(())
        })
    }

    /// Stores the record of a rejected upload, without its bytes, and forgets the oldest
    /// rejected records of its slot beyond [`REJECTED_KEPT`].
    pub fn put_rejected(&self, version: &PolicyVersion) -> Result<(), StoreError> {
        self.db.write(|txn| {
            let mut versions = db!(txn.open_table(VERSIONS))?;
            db!(versions.insert(version.digest.as_str(), encode(version).as_slice()))?;
            let mut rejected = Vec::new();
            for entry in db!(versions.iter())? {
                let (key, value) = db!(entry)?;
                let stored: PolicyVersion = decode(key.value(), value.value())?;
                if stored.slot == version.slot && !stored.report.valid {
                    rejected.push((stored.uploaded_at, stored.digest));
                }
            }
            rejected.sort();
            let excess = rejected.len().saturating_sub(REJECTED_KEPT);
            for (_, digest) in rejected.into_iter().take(excess) {
                db!(versions.remove(digest.as_str()))?;
            }
            // A rejection replaces an earlier verdict on the same bytes: drop what was kept.
            let mut artifacts = db!(txn.open_table(ARTIFACTS))?;
            db!(artifacts.remove(version.digest.as_str()))?;
            Ok(())
        })
    }

    /// A version record.
    pub fn version(&self, digest: &str) -> Result<Option<PolicyVersion>, StoreError> {
        self.db.read_table(VERSIONS, |table| {
            db!(table.get(digest))?
                .map(|v| decode(digest, v.value()))
                .transpose()
        })
    }

    /// Every version uploaded to `slot`, oldest first.
    pub fn versions(&self, slot: &str) -> Result<Vec<PolicyVersion>, StoreError> {
        self.db.read_table(VERSIONS, |table| {
            let mut out = Vec::new();
            for entry in db!(table.iter())? {
                let (key, value) = db!(entry)?;
                let version: PolicyVersion = decode(key.value(), value.value())?;
                if version.slot == slot {
                    out.push(version);
                }
            }
            out.sort_by_key(|v| v.uploaded_at);
            Ok(out)
        })
    }

    /// A component's bytes.
    pub fn artifact(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.read_table(ARTIFACTS, |table| {
            Ok(db!(table.get(digest))?.map(|v| v.value().to_vec()))
        })
    }

    /// Removes a version, its bytes and its compiled code.
    pub fn delete_version(&self, digest: &str) -> Result<bool, StoreError> {
        self.db.write(|txn| {
            let mut versions = db!(txn.open_table(VERSIONS))?;
            let existed = db!(versions.remove(digest))?.is_some();
            let mut artifacts = db!(txn.open_table(ARTIFACTS))?;
            db!(artifacts.remove(digest))?;
            let mut compiled = db!(txn.open_table(COMPILED))?;
            let mut keys = Vec::new();
            for entry in db!(compiled.range((digest, "")..))? {
                let (key, _) = db!(entry)?;
                let (d, hash) = key.value();
                if d != digest {
                    break;
                }
                keys.push(hash.to_owned());
            }
            for hash in keys {
                db!(compiled.remove((digest, hash.as_str())))?;
            }
            Ok(existed)
        })
    }

    /// Names of every slot.
    pub fn slot_names(&self) -> Result<Vec<String>, StoreError> {
        self.db.read_table(SLOTS, |table| {
            let mut out = Vec::new();
            for entry in db!(table.iter())? {
                let (key, _) = db!(entry)?;
                out.push(key.value().to_owned());
            }
            Ok(out)
        })
    }

    /// A slot's state (default when never used).
    pub fn slot(&self, slot: &str) -> Result<SlotState, StoreError> {
        self.db.read_table(SLOTS, |table| {
            db!(table.get(slot))?
                .map(|v| decode(slot, v.value()))
                .transpose()
                .map(Option::unwrap_or_default)
        })
    }

    /// Replaces a slot's state, durably.
    pub fn set_slot(&self, slot: &str, state: &SlotState) -> Result<(), StoreError> {
        self.db.write(|txn| {
            let mut table = db!(txn.open_table(SLOTS))?;
            db!(table.insert(slot, encode(state).as_slice()))?;
            Ok(())
        })
    }

    /// Cached compiled code for a digest and engine.
    pub fn compiled(&self, digest: &str, engine: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.read_table(COMPILED, |table| {
            Ok(db!(table.get((digest, engine)))?.map(|v| v.value().to_vec()))
        })
    }

    /// Caches compiled code for a digest and engine.
    pub fn put_compiled(&self, digest: &str, engine: &str, code: &[u8]) -> Result<(), StoreError> {
        self.db.write(|txn| {
            let mut table = db!(txn.open_table(COMPILED))?;
            db!(table.insert((digest, engine), code))?;
            Ok(())
        })
    }
}

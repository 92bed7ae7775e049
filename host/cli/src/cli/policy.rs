//! `reef policy test|push|list|show|activate|rollback|shadow|canary|promote|abort|delete`.

use super::Remote;
use super::output::print_json;
use crate::client::{ClientError, encode};
use clap::Subcommand;
use reef_core::api::policy::{
    ActivateRequest, CanaryRequest, CandidateMode, PolicyList, PolicyVersion, ShadowRequest,
    SlotState, SlotView,
};
use serde_json::{Value, json};
use std::path::PathBuf;

/// Policy subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Run a plugin against sample decisions and show what it decided and how long each call
    /// took. Exits non-zero if any call faulted or answered invalidly. Needs no running host.
    Test {
        /// The policy component (.wasm).
        plugin: PathBuf,
        /// Directory of corpus files (*.json); default: the built-in corpus.
        #[arg(long)]
        corpus: Option<PathBuf>,
        /// Print one JSON object per case instead of a table.
        #[arg(long)]
        json: bool,
        /// Run each case this many times and report the median and 99th percentile call time.
        #[arg(long, default_value_t = 1)]
        repeat: u32,
    },
    /// Upload a component to a slot; the host validates it and keeps it by digest.
    Push {
        /// The policy component (.wasm).
        plugin: PathBuf,
        /// Slot.
        #[arg(long, default_value = "default")]
        slot: String,
        /// Version label (default: the start of the digest).
        #[arg(long)]
        label: Option<String>,
        /// Activate it at once when it is valid.
        #[arg(long)]
        activate: bool,
    },
    /// The slots with their active versions.
    List {
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// A slot: active version, history, every stored version and its validation.
    Show {
        /// Slot.
        #[arg(default_value = "default")]
        slot: String,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make a stored, valid version active.
    Activate {
        /// Digest (`sha256:...`, or a unique prefix of its hex).
        digest: String,
        /// Slot.
        #[arg(long, default_value = "default")]
        slot: String,
    },
    /// Re-activate the version active before the current one.
    Rollback {
        /// Slot.
        #[arg(default_value = "default")]
        slot: String,
    },
    /// Run a stored version beside the active one on live traffic: its answers are compared and
    /// counted, never applied.
    Shadow {
        /// Digest (`sha256:...`, or a unique prefix of its hex).
        digest: String,
        /// Slot.
        #[arg(long, default_value = "default")]
        slot: String,
    },
    /// Let a stored version decide for a share of jobs (chosen by a stable hash of the job id).
    Canary {
        /// Digest (`sha256:...`, or a unique prefix of its hex).
        digest: String,
        /// Share of jobs, 0 to 100.
        #[arg(long)]
        percent: u8,
        /// Slot.
        #[arg(long, default_value = "default")]
        slot: String,
    },
    /// Make the version on trial (shadow or canary) the active one.
    Promote {
        /// Slot.
        #[arg(default_value = "default")]
        slot: String,
    },
    /// End the trial; the active version is untouched.
    Abort {
        /// Slot.
        #[arg(default_value = "default")]
        slot: String,
    },
    /// Delete a stored version that is not active.
    Delete {
        /// Digest (`sha256:...`, or a unique prefix of its hex).
        digest: String,
        /// Slot.
        #[arg(long, default_value = "default")]
        slot: String,
    },
}

/// Runs a policy subcommand; returns the exit code.
pub fn run(command: PolicyCommand, remote: &Remote) -> anyhow::Result<i32> {
    let client = remote.client();
    let result = match command {
        PolicyCommand::Test {
            plugin,
            corpus,
            json,
            repeat,
        } => {
            let ok = super::policy_test::run(&plugin, corpus.as_deref(), json, repeat)?;
            return Ok(if ok { 0 } else { 1 });
        }
        PolicyCommand::Push {
            plugin,
            slot,
            label,
            activate,
        } => {
            let bytes =
                std::fs::read(&plugin).map_err(|e| anyhow::anyhow!("{}: {e}", plugin.display()))?;
            let mut query = vec![];
            if let Some(label) = label {
                query.push(format!("label={}", encode(&label)));
            }
            if activate {
                query.push("activate=true".to_owned());
            }
            let path = format!("/v1/policies/{}?{}", encode(&slot), query.join("&"));
            client.put_bytes(&path, bytes).map(|v: PolicyVersion| {
                println!(
                    "{} stored as {} ({} bytes, label {})",
                    plugin.display(),
                    v.digest,
                    v.size,
                    Value::String(v.label)
                );
                if activate {
                    println!("active in slot {slot}");
                }
            })
        }
        PolicyCommand::List { json } => client.get("/v1/policies").map(|v: PolicyList| {
            if json {
                print_json(&v);
                return;
            }
            for slot in &v.policies {
                println!(
                    "{:<12} {}  calls {}  faults {}  decisions p50 {} µs p99 {} µs",
                    slot.name,
                    slot.active.digest.as_deref().unwrap_or("native"),
                    slot.active.calls,
                    slot.active.faults,
                    slot.decisions.p50_micros,
                    slot.decisions.p99_micros,
                );
            }
        }),
        PolicyCommand::Show { slot, json } => client
            .get(&format!("/v1/policies/{}", encode(&slot)))
            .map(|v: SlotView| {
                if json {
                    print_json(&v);
                } else {
                    print!("{}", describe(&slot, &v));
                }
            }),
        PolicyCommand::Activate { digest, slot } => {
            resolve(&client, &slot, &digest).and_then(|digest| {
                client
                    .post(
                        &format!("/v1/policies/{}/activate", encode(&slot)),
                        &ActivateRequest {
                            digest: digest.clone(),
                        },
                    )
                    .map(|_: SlotState| println!("{digest} is active in slot {slot}"))
            })
        }
        PolicyCommand::Rollback { slot } => client
            .post(
                &format!("/v1/policies/{}/rollback", encode(&slot)),
                &json!({}),
            )
            .map(|v: SlotState| {
                println!(
                    "slot {slot}: {} is active again",
                    v.active.as_deref().unwrap_or("?")
                );
            }),
        PolicyCommand::Shadow { digest, slot } => {
            resolve(&client, &slot, &digest).and_then(|digest| {
                client
                    .post(
                        &format!("/v1/policies/{}/shadow", encode(&slot)),
                        &ShadowRequest {
                            digest: digest.clone(),
                        },
                    )
                    .map(|_: SlotState| println!("{digest} shadows slot {slot}"))
            })
        }
        PolicyCommand::Canary {
            digest,
            percent,
            slot,
        } => resolve(&client, &slot, &digest).and_then(|digest| {
            client
                .post(
                    &format!("/v1/policies/{}/canary", encode(&slot)),
                    &CanaryRequest {
                        digest: digest.clone(),
                        percent,
                    },
                )
                .map(|_: SlotState| println!("{digest} decides {percent}% of jobs in slot {slot}"))
        }),
        PolicyCommand::Promote { slot } => client
            .post(
                &format!("/v1/policies/{}/promote", encode(&slot)),
                &json!({}),
            )
            .map(|v: SlotState| {
                println!(
                    "slot {slot}: {} is active",
                    v.active.as_deref().unwrap_or("?")
                )
            }),
        PolicyCommand::Abort { slot } => client
            .post(&format!("/v1/policies/{}/abort", encode(&slot)), &json!({}))
            .map(|_: SlotState| println!("slot {slot}: trial ended")),
        PolicyCommand::Delete { digest, slot } => {
            resolve(&client, &slot, &digest).and_then(|digest| {
                client
                    .delete(&format!(
                        "/v1/policies/{}/versions/{}",
                        encode(&slot),
                        encode(&digest)
                    ))
                    .map(|_| println!("deleted {digest}"))
            })
        }
    };
    match result {
        Ok(()) => Ok(0),
        Err(error) => Ok(super::output::report(&error)),
    }
}

/// Expands a digest prefix to the full digest of a version in the slot.
fn resolve(
    client: &crate::client::ApiClient,
    slot: &str,
    given: &str,
) -> Result<String, ClientError> {
    let prefix = given.trim_start_matches("sha256:");
    let slot_view: SlotView = client.get(&format!("/v1/policies/{}", encode(slot)))?;
    let matches: Vec<String> = slot_view
        .versions
        .into_iter()
        .map(|v| v.digest)
        .filter(|d| d.trim_start_matches("sha256:").starts_with(prefix))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one.clone()),
        _ => Ok(format!("sha256:{prefix}")), // let the host say what is wrong
    }
}

/// A slot for people: its active version, every version with its status, a trial, and what
/// was quarantined.
fn describe(slot: &str, v: &SlotView) -> String {
    let mut out = String::new();
    let active = v.state.active.as_deref().unwrap_or("");
    out.push_str(&format!(
        "slot {slot}: active {active} (by {})\n",
        v.state.activated_by.as_deref().unwrap_or("?")
    ));
    for version in &v.versions {
        let mark = if version.digest == active { "*" } else { " " };
        let status = if version.report.valid {
            "valid".to_owned()
        } else {
            format!("rejected: {}", version.report.errors.join("; "))
        };
        out.push_str(&format!(
            "{mark} {}  {:<20} {:>8} B  by {:<10} {status}\n",
            version.digest, version.label, version.size, version.uploader
        ));
    }
    if let Some(c) = &v.candidate {
        let (mode, percent) = match c.mode {
            CandidateMode::Shadow => ("shadow", "null".to_owned()),
            CandidateMode::Canary { percent } => ("canary", percent.to_string()),
        };
        out.push_str(&format!(
            "trial: {} as {mode} (percent {percent}): compared {}, disagreements {}, decided {}\n",
            c.digest.as_deref().unwrap_or("?"),
            c.compared,
            c.disagreements,
            c.decided,
        ));
    }
    for q in &v.state.quarantined {
        out.push_str(&format!(
            "quarantined {} at {} after {} faults\n",
            q.digest, q.at, q.faults
        ));
    }
    out
}

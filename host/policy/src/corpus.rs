//! Sample decisions for trying a policy: the built-in corpus, and corpus files on disk.
//!
//! A corpus file is JSON: `{"name": "...", "hook": "admit" | "pick" | "plan" | "on-exit",
//! "input": {...}}`, where `input` is the hook's input type from `wit/policy.wit` in serde form
//! (records as objects with snake_case fields; variants by their Rust names, e.g.
//! `{"Exited": 3}`, `"TimedOut"`, `{"Retry": 1000}`, `"Accept"`).

use super::wasm::{CallFault, WasmPolicy};
use super::{
    AdmitInput, ExitInput, ExitStatus, HostLoad, Load, Pair, PickInput, PlanInput, PolicyAttempt,
    PolicyCandidate, PolicyJob, PolicyRunner, guarded,
};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, Instant};

/// One sample decision.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Case {
    /// Label shown in reports.
    #[serde(default)]
    pub name: String,
    /// The hook and its input.
    #[serde(flatten)]
    pub call: Call,
}

/// A hook and its input.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "hook", content = "input", rename_all = "kebab-case")]
pub enum Call {
    /// `admit`
    Admit(AdmitInput),
    /// `pick`
    Pick(PickInput),
    /// `plan`
    Plan(PlanInput),
    /// `on-exit`
    OnExit(ExitInput),
}

impl Call {
    /// The hook's WIT name.
    pub fn hook(&self) -> &'static str {
        match self {
            Self::Admit(_) => "admit",
            Self::Pick(_) => "pick",
            Self::Plan(_) => "plan",
            Self::OnExit(_) => "on-exit",
        }
    }
}

/// The outcome of running one case.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The answer as JSON, or the fault.
    pub answer: Result<serde_json::Value, CallFault>,
    /// Time the call took (fresh instance included).
    pub took: Duration,
}

/// Runs `case` against `policy`, validating the answer like the host does.
pub fn run(policy: &WasmPolicy, case: &Case) -> Outcome {
    let start = Instant::now();
    let answer = match &case.call {
        Call::Admit(i) => policy.admit(i).and_then(|d| {
            // Any pool name is acceptable here: the corpus does not know the host's pools.
            let pools = d_pools(&d);
            guarded::validate_admit(&d, &pools).map_err(CallFault::Invalid)?;
            Ok(to_json(&d))
        }),
        Call::Pick(i) => policy.pick(i).and_then(|d| {
            guarded::validate_pick(&d, i.candidates.len()).map_err(CallFault::Invalid)?;
            Ok(to_json(&d))
        }),
        Call::Plan(i) => policy.plan(i).and_then(|d| {
            guarded::validate_plan(&d).map_err(CallFault::Invalid)?;
            Ok(to_json(&d))
        }),
        Call::OnExit(i) => policy.on_exit(i).and_then(|d| {
            guarded::validate_exit(&d).map_err(CallFault::Invalid)?;
            Ok(to_json(&d))
        }),
    };
    Outcome {
        answer,
        took: start.elapsed(),
    }
}

fn d_pools(d: &super::AdmitDecision) -> std::collections::BTreeSet<String> {
    match d {
        super::AdmitDecision::Accept(a) => a.resources.iter().flatten().cloned().collect(),
        super::AdmitDecision::Reject(_) => Default::default(),
    }
}

fn to_json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// Reads every `*.json` file of `dir` (sorted by name) as a [`Case`].
pub fn load_dir(dir: &Path) -> Result<Vec<Case>, String> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut case: Case =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            if case.name.is_empty() {
                case.name = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
            }
            Ok(case)
        })
        .collect()
}

fn sample_job(tenant: &str, priority: i32, attempts: u32) -> PolicyJob {
    PolicyJob {
        id: "01JSAMPLE000000000000000000".into(),
        runner: "demo".into(),
        params: vec![Pair {
            key: "benchmark".into(),
            value: "success.yml".into(),
        }],
        labels: vec![],
        priority,
        tenant: tenant.into(),
        created_at_ms: 1_700_000_000_000,
        attempts_started: attempts,
    }
}

fn sample_runner() -> PolicyRunner {
    PolicyRunner {
        name: "demo".into(),
        timeout_ms: 60_000,
        kill_grace_ms: 5_000,
        max_attempts: 3,
        backoff_ms: 1_000,
        max_concurrency: Some(2),
        resources: vec![],
    }
}

fn sample_load() -> HostLoad {
    HostLoad {
        running: 1,
        queued: 3,
        max_concurrency: 4,
        runners: vec![Load {
            key: "demo".into(),
            running: 1,
            queued: 3,
        }],
        tenants: vec![
            Load {
                key: "a".into(),
                running: 1,
                queued: 1,
            },
            Load {
                key: "b".into(),
                running: 0,
                queued: 2,
            },
        ],
        resources: vec![],
    }
}

fn past(number: u32, status: ExitStatus, score: Option<f64>) -> PolicyAttempt {
    let succeeded = matches!(status, ExitStatus::Exited(0));
    PolicyAttempt {
        number,
        status,
        succeeded,
        reason: None,
        duration_ms: 1500,
        score,
    }
}

fn exit_case(
    status: ExitStatus,
    succeeded: bool,
    score: Option<f64>,
    history: Vec<PolicyAttempt>,
) -> Call {
    let n = history.len() as u32 + 1;
    Call::OnExit(ExitInput {
        job: sample_job("a", 0, n),
        runner: sample_runner(),
        outcome: PolicyAttempt {
            number: n,
            status,
            succeeded,
            reason: None,
            duration_ms: 1500,
            score,
        },
        stderr_tail: String::new(),
        result_json: None,
        history,
        now_ms: 1_700_000_100_000,
        seed: 42,
    })
}

/// The built-in corpus: one or more samples per hook, covering the common paths.
pub fn builtin() -> Vec<Case> {
    let candidate = |id: &str, tenant: &str, priority: i32| PolicyCandidate {
        job_id: id.into(),
        runner: "demo".into(),
        priority,
        tenant: tenant.into(),
        resources: vec![],
    };
    let case = |name: &str, call: Call| Case {
        name: name.into(),
        call,
    };
    vec![
        case(
            "admit a plain job",
            Call::Admit(AdmitInput {
                job: sample_job("a", 0, 0),
                runner: sample_runner(),
                load: sample_load(),
                now_ms: 1_700_000_000_000,
                seed: 1,
            }),
        ),
        case(
            "pick among three tenants' jobs",
            Call::Pick(PickInput {
                candidates: vec![
                    candidate("j1", "a", 0),
                    candidate("j2", "a", 0),
                    candidate("j3", "b", 5),
                ],
                load: sample_load(),
                now_ms: 1_700_000_000_000,
                seed: 2,
            }),
        ),
        case(
            "pick with no candidates",
            Call::Pick(PickInput {
                candidates: vec![],
                load: sample_load(),
                now_ms: 0,
                seed: 3,
            }),
        ),
        case(
            "plan a first attempt",
            Call::Plan(PlanInput {
                job: sample_job("a", 0, 0),
                runner: sample_runner(),
                attempt: 1,
                history: vec![],
                now_ms: 0,
                seed: 4,
            }),
        ),
        case(
            "plan a third attempt",
            Call::Plan(PlanInput {
                job: sample_job("a", 0, 2),
                runner: sample_runner(),
                attempt: 3,
                history: vec![
                    past(1, ExitStatus::TimedOut, None),
                    past(2, ExitStatus::Exited(1), None),
                ],
                now_ms: 0,
                seed: 5,
            }),
        ),
        case(
            "on-exit after a success",
            exit_case(ExitStatus::Exited(0), true, Some(1.0), vec![]),
        ),
        case(
            "on-exit after a first failure",
            exit_case(ExitStatus::Exited(3), false, None, vec![]),
        ),
        case(
            "on-exit after the last failure",
            exit_case(
                ExitStatus::Exited(3),
                false,
                None,
                vec![
                    past(1, ExitStatus::Exited(3), None),
                    past(2, ExitStatus::Exited(3), None),
                ],
            ),
        ),
        case(
            "on-exit after a timeout",
            exit_case(ExitStatus::TimedOut, false, None, vec![]),
        ),
        case(
            "on-exit after a lost attempt",
            exit_case(
                ExitStatus::Lost,
                false,
                None,
                vec![past(1, ExitStatus::Exited(1), None)],
            ),
        ),
        case(
            "on-exit after a low score",
            exit_case(ExitStatus::Exited(0), true, Some(0.3), vec![]),
        ),
        case(
            "on-exit after a spawn error",
            exit_case(
                ExitStatus::SpawnError("runner: not found".into()),
                false,
                None,
                vec![],
            ),
        ),
    ]
}

//! `reef policy test`, and the embedded default policy being current with its source.

use std::path::{Path, PathBuf};

use std::process::Command;

fn built(name: &str) -> PathBuf {
    reef_e2e::plugin(name)
}

fn policy_test(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_reef"))
        .args(["policy", "test"])
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_embedded_default_policy_is_built_from_the_current_source() {
    let embedded = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy/assets/default-policy.wasm"),
    )
    .unwrap();
    let fresh = std::fs::read(built("reef_default_policy")).unwrap();
    assert!(
        embedded == fresh,
        "host/policy/assets/default-policy.wasm is stale: run scripts/build-plugins.sh --update-embedded"
    );
}

#[test]
fn the_builtin_corpus_shows_each_decision_and_its_time() {
    let (ok, stdout, stderr) = policy_test(&[built("reef_policy_backoff").to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("sha256:"));
    for hook in ["admit", "pick", "plan", "on-exit"] {
        assert!(
            stdout.lines().any(|l| l.contains(hook) && l.contains("µs")),
            "{hook}: {stdout}"
        );
    }
    assert!(stdout.contains("{\"Retry\":"), "{stdout}");
}

#[test]
fn a_corpus_directory_and_json_output() {
    let dir = tempfile::tempdir().unwrap();
    let case = r#"{"name": "third attempt", "hook": "plan", "input": {
        "job": {"id": "j", "runner": "r", "params": [], "labels": [], "priority": 0, "tenant": "t",
                "created_at_ms": 0, "attempts_started": 2},
        "runner": {"name": "r", "timeout_ms": 1000, "kill_grace_ms": 10, "max_attempts": 3,
                   "backoff_ms": 5, "max_concurrency": null, "resources": []},
        "attempt": 3, "history": [], "now_ms": 0, "seed": 1}}"#;
    std::fs::write(dir.path().join("plan.json"), case).unwrap();
    let (ok, stdout, stderr) = policy_test(&[
        built("reef_policy_growing_timeout").to_str().unwrap(),
        "--corpus",
        dir.path().to_str().unwrap(),
        "--json",
    ]);
    assert!(ok, "{stderr}");
    let line: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(line["case"], "third attempt");
    assert_eq!(line["answer"]["timeout_ms"], 3000);
    assert!(line["micros"].as_f64().unwrap() > 0.0);
}

#[test]
fn refused_and_faulting_plugins_fail_the_command() {
    let (ok, _, stderr) =
        policy_test(&[built("reef_policy_fixture_reads_files").to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("wasi:filesystem"), "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let case = r#"{"hook": "pick", "input": {"candidates": [{"job_id": "j", "runner": "r", "priority": 0,
        "tenant": "chaos-trap", "resources": []}], "load": {"running": 0, "queued": 1,
        "max_concurrency": 1, "runners": [], "tenants": [], "resources": []}, "now_ms": 0, "seed": 0}}"#;
    std::fs::write(dir.path().join("trap.json"), case).unwrap();
    let (ok, stdout, _) = policy_test(&[
        built("reef_policy_fixture_chaos").to_str().unwrap(),
        "--corpus",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(stdout.contains("FAULT trap"), "{stdout}");
}

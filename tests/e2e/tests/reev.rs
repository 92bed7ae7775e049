//! `config/reev.toml`, unchanged, drives a `reev-runner` that keeps the real one's contract: it
//! is called as `reev-runner <benchmark.yml> --agent=<agent> --execution-id=<job_id>`, exits 0
//! even when the benchmark failed, writes `logs/sessions/session_<id>.json` under its checkout,
//! and binds fixed ports, so runs must never overlap.

use reef_e2e::{Reef, max_overlap, read_marks};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

/// A stand-in with the real runner's interface: the benchmark's `expect:` line decides the
/// session's `final_result`; the exit code is 0 either way.
const REEV_RUNNER: &str = r#"#!/bin/sh
set -eu
benchmark="$1"; agent=""; id=""
shift
for arg in "$@"; do
  case "$arg" in
    --agent=*) agent="${arg#--agent=}" ;;
    --execution-id=*) id="${arg#--execution-id=}" ;;
    *) echo "unexpected argument: $arg" >&2; exit 2 ;;
  esac
done
[ -n "$id" ] && [ -n "$agent" ] || { echo "missing --agent or --execution-id" >&2; exit 2; }
echo "start $id - - $(date +%s%N)" >> marks
echo "running $benchmark with agent $agent"
sleep 0.3
if grep -q '^expect: success' "$benchmark"; then ok=true; score=1.0; else ok=false; score=0.25; fi
mkdir -p logs/sessions
printf '{"execution_id":"%s","final_result":{"success":%s,"score":%s}}\n' "$id" "$ok" "$score" \
  > "logs/sessions/session_$id.json"
echo "end $id - - $(date +%s%N)" >> marks
exit 0
"#;

#[test]
fn the_reev_preset_drives_reev_runner_unchanged() {
    // A checkout: the preset at config/reev.toml (its workdir ".." is the checkout), benchmarks,
    // and the runner on PATH.
    let checkout = tempfile::tempdir().unwrap();
    let root = checkout.path();
    std::fs::create_dir_all(root.join("config")).unwrap();
    std::fs::create_dir_all(root.join("benchmarks")).unwrap();
    std::fs::create_dir_all(root.join("bin")).unwrap();
    let preset = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/reev.toml");
    std::fs::copy(&preset, root.join("config/reev.toml")).unwrap();
    std::fs::write(
        root.join("benchmarks/pass.yml"),
        "id: pass\nexpect: success\n",
    )
    .unwrap();
    std::fs::write(
        root.join("benchmarks/miss.yml"),
        "id: miss\nexpect: failure\n",
    )
    .unwrap();
    let runner = root.join("bin/reev-runner");
    std::fs::write(&runner, REEV_RUNNER).unwrap();
    std::fs::set_permissions(&runner, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        root.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let reef = Reef::start_file(
        tempfile::tempdir().unwrap(),
        &root.join("config/reev.toml"),
        &[("PATH", &path)],
    );
    let passing: Vec<String> = (0..2)
        .map(|_| reef.submit("reev", json!({"benchmark": "benchmarks/pass.yml"})))
        .collect();
    let missing = reef.submit(
        "reev",
        json!({"benchmark": "benchmarks/miss.yml", "agent": "gpt-4o"}),
    );
    for id in &passing {
        let job = reef.wait_done(id, Duration::from_secs(60));
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_eq!(job["result"]["final_result"]["score"], 1.0, "{job}");
    }
    // Exit 0, but the session says the benchmark failed: the job fails, and is retried once
    // (max_attempts = 2 in the preset).
    let job = reef.wait_done(&missing, Duration::from_secs(60));
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(job["attempt_count"], 2, "{job}");
    assert_eq!(job["attempts"][0]["exit_code"], 0, "{job}");
    let stdout = reef
        .get(&format!("/v1/jobs/{missing}/logs?stream=stdout"))
        .text;
    assert!(
        stdout.contains("running benchmarks/miss.yml with agent gpt-4o"),
        "{stdout}"
    );
    // The session files are where reev puts them, and no two runs overlapped (surfpool = 1).
    for id in passing.iter().chain([&missing]) {
        assert!(
            root.join(format!("logs/sessions/session_{id}.json"))
                .exists()
        );
    }
    let marks = read_marks(&root.join("marks"));
    assert_eq!(marks.len(), 2 * 4, "{marks:?}");
    assert_eq!(max_overlap(&marks), 1, "{marks:?}");
}

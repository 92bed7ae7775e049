//! Runs the built `demo-runner` binary on sample benchmarks in a scratch directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/benchmarks")
        .join(name)
}

/// Runs the runner in `dir` with a clean reef environment.
fn run_in(dir: &Path, benchmark: &str, extra_env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_demo-runner"));
    cmd.current_dir(dir)
        .arg(fixture(benchmark))
        .args(["--agent=deterministic", "--execution-id", "job-1"])
        .env_remove("REEF_ATTEMPT")
        .env_remove("REEF_RESULT_PATH")
        .env_remove("DEMO_MARKS");
    for (key, value) in extra_env {
        cmd.env(key, value);
    }
    cmd.output().expect("demo-runner runs")
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("session file exists");
    serde_json::from_str(&text).expect("session file is JSON")
}

#[test]
fn success_writes_a_passing_session_and_marks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marks = dir.path().join("marks");
    let marks_env = marks.to_str().expect("utf-8 temp path");
    let out = run_in(dir.path(), "success.yml", &[("DEMO_MARKS", marks_env)]);

    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("[demo-runner] step 1/3"), "{stdout}");
    assert!(stdout.contains("[demo-runner] step 3/3"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim(), "[demo-runner] starting demo-success");

    let session = read_json(&dir.path().join("logs/sessions/session_job-1.json"));
    assert_eq!(
        session,
        serde_json::json!({
            "execution_id": "job-1",
            "benchmark": "demo-success",
            "agent": "deterministic",
            "attempt": 1,
            "final_result": {"success": true, "score": 1.0},
        })
    );

    let marks = std::fs::read_to_string(&marks).expect("marks written");
    let kinds: Vec<_> = marks
        .lines()
        .map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(kinds, ["start job-1 1", "end job-1 1"]);
}

#[test]
fn exit3_exits_3_without_a_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_in(dir.path(), "exit3.yml", &[]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(!dir.path().join("logs/sessions/session_job-1.json").exists());
}

#[test]
fn flaky_fails_first_then_succeeds_and_writes_result_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = run_in(dir.path(), "flaky.yml", &[]);
    assert_eq!(first.status.code(), Some(1), "{first:?}");
    let session = read_json(&dir.path().join("logs/sessions/session_job-1.json"));
    assert_eq!(session["final_result"]["success"], false);

    let second = run_in(dir.path(), "flaky.yml", &[("REEF_ATTEMPT", "2")]);
    assert_eq!(second.status.code(), Some(0), "{second:?}");
    let session = read_json(&dir.path().join("logs/sessions/session_job-1.json"));
    assert_eq!(session["attempt"], 2);
    assert_eq!(session["final_result"]["success"], true);

    let result = dir.path().join("result.json");
    let result_env = result.to_str().expect("utf-8 temp path");
    let out = run_in(
        dir.path(),
        "result_path.yml",
        &[("REEF_RESULT_PATH", result_env)],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(read_json(&result)["final_result"]["score"], 0.75);
}

#[test]
fn errors_exit_2_and_name_the_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_in(dir.path(), "no-such-benchmark.yml", &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-benchmark.yml"));

    let out = Command::new(env!("CARGO_BIN_EXE_demo-runner"))
        .arg(fixture("success.yml"))
        .output()
        .expect("demo-runner runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--agent"));
}

//! Process control: timeouts, kill escalation, orphans, cancel and output floods, checked in
//! /proc and on disk.

use reef_e2e::{Reef, benchmark, demo_config, processes_with_env, rss_kib, wait_for};
use serde_json::json;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn timeout_config(timeout: &str, grace: &str) -> String {
    demo_config("")
        .replace("timeout = \"30s\"", &format!("timeout = \"{timeout}\""))
        .replace("kill_grace = \"1s\"", &format!("kill_grace = \"{grace}\""))
        .replace("max_attempts = 3", "max_attempts = 1")
}

#[test]
fn a_timeout_kills_the_whole_tree_including_a_setsid_grandchild() {
    let reef = Reef::start(&timeout_config("1s", "500ms"));
    let id = reef.submit("demo", json!({"benchmark": benchmark("grandchildren.yml")}));
    // While it runs, the runner and both grandchildren carry the job id in their environment.
    wait_for("runner and two grandchildren", T, || {
        (processes_with_env("REEF_JOB_ID", &id).len() >= 3).then_some(())
    });
    let job = reef.wait_done(&id, T);
    assert_eq!(job["state"], "failed");
    assert_eq!(job["reason"], "timeout", "{job}");
    assert_eq!(job["attempts"][0]["timed_out"], true);
    let left = processes_with_env("REEF_JOB_ID", &id);
    assert!(left.is_empty(), "processes of the job survived: {left:?}");
}

#[test]
fn orphans_left_behind_by_a_finished_runner_are_killed() {
    let reef = Reef::start(&demo_config(""));
    let id = reef.submit("demo", json!({"benchmark": benchmark("orphans.yml")}));
    let job = reef.wait_done(&id, T);
    assert_eq!(job["state"], "succeeded", "{job}");
    let left = processes_with_env("REEF_JOB_ID", &id);
    assert!(left.is_empty(), "orphans survived: {left:?}");
}

#[test]
fn a_runner_ignoring_sigterm_is_killed_after_the_grace() {
    let reef = Reef::start(&timeout_config("500ms", "700ms"));
    let id = reef.submit(
        "demo",
        json!({"benchmark": benchmark("ignore_sigterm.yml")}),
    );
    let job = reef.wait_done(&id, T);
    let a = &job["attempts"][0];
    assert_eq!(job["reason"], "timeout", "{job}");
    assert_eq!(a["signal"], 9, "SIGKILL after SIGTERM was ignored: {a}");
    let started = humantime::parse_rfc3339(a["started_at"].as_str().unwrap()).unwrap();
    let ended = humantime::parse_rfc3339(a["ended_at"].as_str().unwrap()).unwrap();
    let took = ended.duration_since(started).unwrap();
    assert!(
        took >= Duration::from_millis(1150),
        "timeout + grace = 1.2 s, took {took:?}"
    );
    assert!(processes_with_env("REEF_JOB_ID", &id).is_empty());
}

#[test]
fn cancel_stops_a_running_job_and_drops_a_queued_one() {
    let reef = Reef::start(&demo_config("").replace("max_concurrency = 2", "max_concurrency = 1"));
    let running = reef.submit("demo", json!({"benchmark": benchmark("hang.yml")}));
    let queued = reef.submit("demo", json!({"benchmark": benchmark("success.yml")}));
    reef.wait_state(&running, "running", T);
    wait_for("the runner process", T, || {
        (!processes_with_env("REEF_JOB_ID", &running).is_empty()).then_some(())
    });
    assert_eq!(
        reef.job(&queued)["state"],
        "queued",
        "per-runner limit of 1 holds it back"
    );

    let answer = reef.post(&format!("/v1/jobs/{queued}/cancel"), &json!({}));
    assert_eq!(answer.status, 200, "{}", answer.text);
    let job = reef.job(&queued);
    assert_eq!(job["state"], "cancelled");
    assert!(
        job["attempts"].as_array().unwrap().is_empty(),
        "a cancelled queued job never runs"
    );

    assert_eq!(
        reef.post(&format!("/v1/jobs/{running}/cancel"), &json!({}))
            .status,
        200
    );
    let job = reef.wait_done(&running, T);
    assert_eq!(job["state"], "cancelled", "{job}");
    assert_eq!(job["attempts"][0]["cancelled"], true);
    assert!(processes_with_env("REEF_JOB_ID", &running).is_empty());
    // Idempotent.
    let again = reef.post(&format!("/v1/jobs/{running}/cancel"), &json!({}));
    assert_eq!(
        (again.status, again.json()["state"].as_str()),
        (200, Some("cancelled"))
    );
    let missing = reef.post("/v1/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV/cancel", &json!({}));
    missing.assert_problem(404, "01ARZ3NDEKTSV4RRFFQ69G5FAV");
}

#[test]
fn a_hundred_megabytes_of_output_neither_grows_the_host_nor_the_log() {
    let reef = Reef::start(&demo_config("[logs]\nmax_bytes_per_stream = \"1 MiB\""));
    let warm = reef.submit("demo", json!({"benchmark": benchmark("success.yml")}));
    reef.wait_done(&warm, T);
    let before = rss_kib(reef.pid());
    let id = reef.submit("demo", json!({"benchmark": benchmark("flood.yml")}));
    let job = reef.wait_done(&id, T);
    assert_eq!(job["state"], "succeeded", "{job}");
    let after = rss_kib(reef.pid());
    let a = &job["attempts"][0];
    assert!(a["stdout_bytes"].as_u64().unwrap() >= 100_000_000, "{a}");
    assert_eq!(a["log_truncated"], true);
    let log = reef
        .dir
        .path()
        .join(format!("data/attempts/{id}/1/stdout.log"));
    let size = std::fs::metadata(&log).unwrap().len();
    assert!(size <= 1024 * 1024 + 200, "log is capped: {size} bytes");
    let tail = reef
        .get(&format!("/v1/jobs/{id}/logs?offset={}", size - 150))
        .text;
    assert!(
        tail.contains("truncated"),
        "a visible marker ends the log: {tail:?}"
    );
    assert!(
        after < before + 20 * 1024,
        "host RSS grew from {before} KiB to {after} KiB"
    );
}

#[test]
fn a_killed_shim_makes_its_attempt_lost_and_its_runner_is_cleaned_up() {
    let reef = Reef::start(&demo_config(""));
    let id = reef.submit("demo", json!({"benchmark": benchmark("slow.yml")}));
    wait_for("the runner", T, || {
        (!processes_with_env("REEF_JOB_ID", &id).is_empty()).then_some(())
    });
    let data = reef.dir.path().join("data").to_string_lossy().into_owned();
    let shims = reef_e2e::find_shims(&data);
    assert_eq!(shims.len(), 1, "{shims:?}");
    // SAFETY: kill(2) on a pid just read from /proc.
    unsafe { libc::kill(shims[0] as i32, libc::SIGKILL) };
    let job = reef.wait_done(&id, T);
    assert_eq!(
        job["state"], "succeeded",
        "a lost attempt is retried: {job}"
    );
    let attempts = job["attempts"].as_array().unwrap();
    assert_eq!(attempts[0]["state"], "lost", "{job}");
    assert_eq!(attempts[0]["reason"], "lost");
    let marks = reef_e2e::read_marks(&reef.work().join("marks"));
    let ends = marks
        .iter()
        .filter(|(kind, job, _)| kind == "end" && *job == id)
        .count();
    assert_eq!(
        ends, 1,
        "the orphaned first runner was killed before it could finish"
    );
    assert!(processes_with_env("REEF_JOB_ID", &id).is_empty());
}

#[test]
fn a_runner_killed_from_outside_is_a_signal_outcome() {
    let reef = Reef::start(&demo_config("").replace("max_attempts = 3", "max_attempts = 1"));
    let id = reef.submit("demo", json!({"benchmark": benchmark("hang.yml")}));
    let pids = wait_for("the runner", T, || {
        let pids = processes_with_env("REEF_JOB_ID", &id);
        (!pids.is_empty()).then_some(pids)
    });
    for pid in pids {
        // SAFETY: kill(2) on a pid just read from /proc.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    }
    let job = reef.wait_done(&id, T);
    assert_eq!(
        (job["state"].as_str(), job["reason"].as_str()),
        (Some("failed"), Some("signal:15")),
        "{job}"
    );
    assert_eq!(job["attempts"][0]["timed_out"], false);
}

//! A job's way from submit to a terminal state, through the real binaries.

use reef_e2e::{Reef, benchmark, demo_config};
use serde_json::json;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

#[test]
fn a_successful_job_has_its_result_logs_and_attempt_record() {
    let reef = Reef::start(&demo_config(""));
    let id = reef.submit("demo", json!({"benchmark": benchmark("success.yml")}));
    let job = reef.wait_done(&id, T);
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["reason"], serde_json::Value::Null);
    assert_eq!(
        job["params"]["agent"], "deterministic",
        "defaults are filled in"
    );
    let attempts = job["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    let a = &attempts[0];
    assert_eq!(
        (a["n"].as_u64(), a["exit_code"].as_i64()),
        (Some(1), Some(0))
    );
    assert_eq!(
        (a["timed_out"].as_bool(), a["cancelled"].as_bool()),
        (Some(false), Some(false))
    );
    assert!(a["started_at"].is_string() && a["ended_at"].is_string());
    assert_eq!(job["result"]["final_result"]["success"], true);
    assert_eq!(job["result"]["execution_id"], id.as_str());

    // The session file the runner wrote is where the config says.
    let session = reef.work().join(format!("logs/sessions/session_{id}.json"));
    assert!(session.exists());

    let result = reef.get(&format!("/v1/jobs/{id}/result"));
    assert_eq!(result.status, 200);
    assert_eq!(result.json()["final_result"]["score"], 1.0);

    let stdout = reef.get(&format!("/v1/jobs/{id}/logs?stream=stdout"));
    assert_eq!(stdout.status, 200);
    assert!(stdout.content_type.starts_with("text/plain"));
    assert!(stdout.text.contains("step 3/3"), "{}", stdout.text);
    let stderr = reef.get(&format!("/v1/jobs/{id}/logs?stream=stderr"));
    assert!(stderr.text.contains("starting"), "{}", stderr.text);
    let tail = reef.get(&format!("/v1/jobs/{id}/logs?stream=stdout&offset=10"));
    assert_eq!(tail.text, stdout.text[10..]);

    let listed = reef.get("/v1/jobs?state=succeeded&runner=demo").json();
    assert_eq!(listed["jobs"][0]["id"], id.as_str());
    assert!(
        reef.get("/v1/jobs?state=failed").json()["jobs"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_failing_runner_is_retried_with_backoff_then_fails_with_its_exit_code() {
    let reef = Reef::start(&demo_config(""));
    let id = reef.submit("demo", json!({"benchmark": benchmark("exit3.yml")}));
    let job = reef.wait_done(&id, T);
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(job["reason"], "exit_code:3");
    let attempts = job["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "max_attempts = 3");
    for pair in attempts.windows(2) {
        let ended = parse(&pair[0]["ended_at"]);
        let started = parse(&pair[1]["started_at"]);
        assert!(
            started.duration_since(ended).unwrap() >= Duration::from_millis(190),
            "backoff is 200ms: {pair:?}"
        );
    }
    assert!(
        attempts
            .iter()
            .all(|a| a["exit_code"] == 3 && a["state"] == "failed")
    );
}

#[test]
fn a_flaky_agent_succeeds_on_the_second_attempt() {
    let reef = Reef::start(&demo_config(""));
    let id = reef.submit(
        "demo",
        json!({"benchmark": benchmark("success.yml"), "agent": "flaky"}),
    );
    let job = reef.wait_done(&id, T);
    assert_eq!(job["state"], "succeeded", "{job}");
    let attempts = job["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["state"], "failed");
    assert_eq!(attempts[0]["reason"], "exit_code:1");
    assert_eq!(job["result"]["attempt"], 2);
}

#[test]
fn success_comes_from_the_result_pointer_when_the_runner_declares_one() {
    let reef = Reef::start(&demo_config(""));
    // fail.yml exits 0 but reports final_result.success = false.
    let id = reef.submit("demo", json!({"benchmark": benchmark("fail.yml")}));
    let job = reef.wait_done(&id, T);
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(job["reason"], "result:unsuccessful");
    assert_eq!(job["attempts"][0]["exit_code"], 0);
    assert_eq!(job["attempts"][0]["score"], 0.2);
}

#[test]
fn the_reef_result_path_file_wins_over_the_configured_file() {
    let reef = Reef::start(&demo_config(""));
    let id = reef.submit("demo", json!({"benchmark": benchmark("result_path.yml")}));
    let job = reef.wait_done(&id, T);
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["attempts"][0]["score"], 0.75);
    let path = reef
        .dir
        .path()
        .join(format!("data/attempts/{id}/1/result.json"));
    assert!(path.exists(), "written through REEF_RESULT_PATH");
}

#[test]
fn a_crash_is_a_signal_outcome_and_a_missing_program_a_spawn_error() {
    let reef = Reef::start(&demo_config(
        r#"
[runners.ghost]
command = ["no-such-runner-binary", "{job_id}"]
max_attempts = 3
"#,
    ));
    let crash = reef.submit("demo", json!({"benchmark": benchmark("crash.yml")}));
    let ghost = reef.submit("ghost", json!({}));
    let job = reef.wait_done(&crash, T);
    assert_eq!(job["state"], "failed");
    assert_eq!(job["reason"], "signal:6", "{job}");
    let job = reef.wait_done(&ghost, T);
    assert_eq!(job["state"], "failed");
    let reason = job["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("spawn_error: no-such-runner-binary"),
        "{reason}"
    );
    assert_eq!(
        job["attempts"].as_array().unwrap().len(),
        1,
        "a missing binary is not retried"
    );
}

#[test]
fn jobs_and_their_history_survive_a_restart() {
    let config = demo_config("");
    let reef = Reef::start(&config);
    let done = reef.submit("demo", json!({"benchmark": benchmark("success.yml")}));
    reef.wait_done(&done, T);
    let dir = reef.terminate();
    let reef = Reef::start_in(dir, &config, &[]);
    let job = reef.job(&done);
    assert_eq!(job["state"], "succeeded");
    assert_eq!(job["attempts"].as_array().unwrap().len(), 1);
    // And the restarted host still runs new jobs.
    let next = reef.submit("demo", json!({"benchmark": benchmark("success.yml")}));
    assert_eq!(reef.wait_done(&next, T)["state"], "succeeded");
}

fn parse(v: &serde_json::Value) -> std::time::SystemTime {
    humantime::parse_rfc3339(v.as_str().expect("timestamp")).expect("RFC 3339 timestamp")
}

#[test]
fn a_killed_host_reattaches_to_a_running_attempt_and_finishes_it_once() {
    let config = demo_config("");
    let reef = Reef::start(&config);
    let id = reef.submit("demo", json!({"benchmark": benchmark("slow.yml")}));
    reef.wait_state(&id, "running", T);
    // Kill only once the runner really runs: a host killed between committing an attempt and
    // starting its shim rightly declares that attempt lost and starts another.
    reef_e2e::wait_for("the runner process", T, || {
        (!reef_e2e::processes_with_env("REEF_JOB_ID", &id).is_empty()).then_some(())
    });
    let dir = reef.kill9();
    // The attempt keeps running under its shim while no host is there.
    let reef = Reef::start_in(dir, &config, &[]);
    let job = reef.wait_done(&id, T);
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(
        job["attempts"].as_array().unwrap().len(),
        1,
        "the attempt ran once: {job}"
    );
    let marks = reef_e2e::read_marks(&reef.work().join("marks"));
    assert_eq!(
        marks
            .iter()
            .filter(|(k, j, _)| k == "start" && j == &id)
            .count(),
        1
    );
}

#[test]
fn an_attempt_that_ended_while_the_host_was_down_is_finished_from_its_exit_record() {
    let config = demo_config("");
    let reef = Reef::start(&config);
    let id = reef.submit("demo", json!({"benchmark": benchmark("exit3.yml")}).clone());
    reef.wait_state(&id, "running", T);
    let exit_record = reef
        .dir
        .path()
        .join(format!("data/attempts/{id}/1/exit.json"));
    // Kill only once the shim was started (the host records its identity right after): a host
    // killed before that rightly declares the attempt lost instead.
    let identity = exit_record.with_file_name("shim.json");
    reef_e2e::wait_for("the shim to start", T, || identity.exists().then_some(()));
    let dir = reef.kill9();
    reef_e2e::wait_for("the orphaned shim's exit record", T, || {
        exit_record.exists().then_some(())
    });
    let reef = Reef::start_in(dir, &config, &[]);
    let job = reef.wait_done(&id, T);
    assert_eq!(job["reason"], "exit_code:3", "{job}");
    assert_eq!(
        job["attempts"][0]["exit_code"], 3,
        "attempt 1 was finished from its record: {job}"
    );
}

#[test]
fn a_failed_job_can_be_redriven_with_a_fresh_attempt_budget() {
    let reef = Reef::start(&demo_config(""));
    let id = reef.submit("demo", json!({"benchmark": benchmark("exit3.yml")}));
    assert_eq!(
        reef.wait_done(&id, T)["attempts"].as_array().unwrap().len(),
        3
    );
    let answer = reef.post(&format!("/v1/jobs/{id}/retry"), &json!({}));
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["reason"], serde_json::Value::Null);
    let job = reef_e2e::wait_for("three more attempts", T, || {
        let job = reef.job(&id);
        (job["state"] == "failed" && job["attempts"].as_array().unwrap().len() == 6).then_some(job)
    });
    assert_eq!(job["reason"], "exit_code:3");
    let transitions: Vec<String> = reef.get(&format!("/v1/jobs/{id}/events")).json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["transition"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        transitions.contains(&"redrive".to_owned()),
        "{transitions:?}"
    );
    let done = reef.submit("demo", json!({"benchmark": benchmark("success.yml")}));
    reef.wait_done(&done, T);
    reef.post(&format!("/v1/jobs/{done}/retry"), &json!({}))
        .assert_problem(409, "cannot redrive from succeeded");
    reef.post("/v1/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV/retry", &json!({}))
        .assert_problem(404, "does not exist");
}

#[test]
fn retention_deletes_the_oldest_finished_jobs_with_their_files() {
    let config = demo_config("[retention]\nmax_finished = 2\ninterval = \"100ms\"");
    let reef = Reef::start(&config);
    let ids: Vec<String> = (0..5)
        .map(|_| {
            let id = reef.submit("demo", json!({"benchmark": benchmark("success.yml")}));
            reef.wait_done(&id, T);
            id
        })
        .collect();
    reef_e2e::wait_for("retention to keep two jobs", T, || {
        (reef.get("/v1/jobs").json()["jobs"]
            .as_array()
            .unwrap()
            .len()
            == 2)
            .then_some(())
    });
    let kept: Vec<String> = reef.get("/v1/jobs").json()["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kept, [ids[4].clone(), ids[3].clone()], "the newest stay");
    for old in &ids[..3] {
        reef.get(&format!("/v1/jobs/{old}"))
            .assert_problem(404, old);
        reef.get(&format!("/v1/jobs/{old}/events"))
            .assert_problem(404, old);
        assert!(
            !reef
                .dir
                .path()
                .join(format!("data/attempts/{old}"))
                .exists(),
            "logs of {old} deleted"
        );
    }
    assert!(
        reef.dir
            .path()
            .join(format!("data/attempts/{}", ids[4]))
            .exists()
    );
}

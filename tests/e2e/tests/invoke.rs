//! `POST /v1/runners/{name}/invoke`: a synchronous call that answers with the result when the
//! job finishes within `wait`, and with the job's location when it does not.

use reef_e2e::{Reef, benchmark, demo_config};
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn a_job_that_finishes_within_the_wait_answers_200_with_its_result() {
    let reef = Reef::start(&demo_config(""));
    let params = json!({"benchmark": benchmark("success.yml")});
    let started = Instant::now();
    let answer = reef.post("/v1/runners/demo/invoke?wait=30s", &params);
    assert_eq!(answer.status, 200, "{}", answer.text);
    // Answered when the job ended, not at the end of the wait.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(answer.location, None);
    let job = answer.json();
    assert_eq!(job["state"], "succeeded");
    assert_eq!(job["result"]["final_result"]["success"], true, "{job}");
    assert_eq!(job["attempts"][0]["exit_code"], 0);
    assert_eq!(reef.job(job["id"].as_str().unwrap())["state"], "succeeded");

    // A job that fails is finished too: 200, and the state says how it ended.
    let params = json!({"benchmark": benchmark("fail.yml")});
    let answer = reef.post("/v1/runners/demo/invoke", &params);
    assert_eq!(answer.status, 200, "{}", answer.text);
    let job = answer.json();
    assert_eq!(job["state"], "failed");
    assert_eq!(job["result"]["final_result"]["success"], false);
}

#[test]
fn a_job_still_running_at_the_end_of_the_wait_answers_202_with_its_location() {
    let reef = Reef::start(&demo_config(""));
    let params = json!({"benchmark": benchmark("slow.yml")});
    let answer = reef.post("/v1/runners/demo/invoke?wait=100ms", &params);
    assert_eq!(answer.status, 202, "{}", answer.text);
    let job = answer.json();
    let id = job["id"].as_str().unwrap().to_owned();
    assert!(
        ["queued", "running"].contains(&job["state"].as_str().unwrap()),
        "{job}"
    );
    let location = answer.location.expect("a Location header");
    assert_eq!(location, format!("/v1/jobs/{id}"));
    // The job goes on, and its location shows how it ended.
    reef_e2e::wait_for("the job to succeed", Duration::from_secs(60), || {
        let job = reef.get(&location).json();
        (job["state"] == "succeeded").then_some(job)
    });
    // `wait=0s` answers at once.
    let answer = reef.post("/v1/runners/demo/invoke?wait=0s", &params);
    assert_eq!(answer.status, 202, "{}", answer.text);
}

#[test]
fn bad_invocations_get_problems_and_create_no_job() {
    let reef = Reef::start(&demo_config(""));
    let params = json!({"benchmark": benchmark("success.yml")});
    reef.post("/v1/runners/nope/invoke", &params)
        .assert_problem(404, "nope");
    reef.post("/v1/runners/demo/invoke?wait=soon", &params)
        .assert_problem(400, "soon");
    reef.post("/v1/runners/demo/invoke?wait=11m", &params)
        .assert_problem(400, "maximum");
    reef.post("/v1/runners/demo/invoke?timeout=1s", &params)
        .assert_problem(400, "timeout");
    reef.post("/v1/runners/demo/invoke", &json!({}))
        .assert_problem(422, "benchmark");
    reef.post("/v1/runners/demo/invoke", &json!({"benchmark": "a b.yml"}))
        .assert_problem(422, "pattern");
    reef.post("/v1/runners/demo/invoke", &json!(["not", "an", "object"]))
        .assert_problem(422, "object");
    reef.request("POST", "/v1/runners/demo/invoke", Some("{\"benchmark\": "))
        .assert_problem(400, "JSON");
    assert!(
        reef.get("/v1/jobs").json()["jobs"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn an_idempotency_key_replays_the_same_invocation() {
    let reef = Reef::start(&demo_config(""));
    let params = json!({"benchmark": benchmark("success.yml")});
    let call = |params: &serde_json::Value| {
        reef.post_with(
            "/v1/runners/demo/invoke?wait=30s",
            params,
            &[("idempotency-key", "invoke-7")],
        )
    };
    let first = call(&params);
    assert_eq!(first.status, 200, "{}", first.text);
    let again = call(&params);
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json()["id"], first.json()["id"]);
    let other = json!({"benchmark": benchmark("slow.yml")});
    call(&other).assert_problem(422, "Idempotency-Key");
    assert_eq!(
        reef.get("/v1/jobs").json()["jobs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn invoking_needs_the_submit_scope() {
    let mut reef = Reef::start(&demo_config(
        r#"
[[auth.tokens]]
name = "viewer"
token = "read-token-0123456789"
scopes = ["read"]
[[auth.tokens]]
name = "ci"
token = "submit-token-0123456789"
scopes = ["submit"]
"#,
    ));
    let params = json!({"benchmark": benchmark("success.yml")});
    reef.post("/v1/runners/demo/invoke", &params)
        .assert_problem(401, "bearer token");
    reef.token = Some("read-token-0123456789".into());
    reef.post("/v1/runners/demo/invoke", &params)
        .assert_problem(403, "submit");
    reef.token = Some("submit-token-0123456789".into());
    assert_eq!(reef.post("/v1/runners/demo/invoke", &params).status, 200);
}

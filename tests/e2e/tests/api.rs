//! The API's contract at its edges: problem details, limits, tokens, and arguments that stay
//! literal.

use reef_e2e::{Reef, benchmark, demo_config};
use serde_json::json;
use std::time::Duration;

#[test]
fn bad_requests_get_problem_details_that_name_the_problem() {
    let reef = Reef::start(&demo_config("[server]\nmax_body = \"64 KiB\""));
    let bench = benchmark("success.yml");
    reef.post("/v1/jobs", &json!({"runner": "nope", "params": {}}))
        .assert_problem(404, "nope");
    reef.post("/v1/jobs", &json!({"runner": "demo", "params": {}}))
        .assert_problem(422, "benchmark");
    reef.post(
        "/v1/jobs",
        &json!({"runner": "demo", "params": {"benchmark": bench, "agent": "evil"}}),
    )
    .assert_problem(422, "agent");
    reef.post(
        "/v1/jobs",
        &json!({"runner": "demo", "params": {"benchmark": bench, "extra": 1}}),
    )
    .assert_problem(422, "extra");
    reef.post(
        "/v1/jobs",
        &json!({"runner": "demo", "params": {"benchmark": "a b; rm -rf /"}}),
    )
    .assert_problem(422, "pattern");
    reef.post(
        "/v1/jobs",
        &json!({"runner": "demo", "params": {"benchmark": bench}, "colour": "red"}),
    )
    .assert_problem(422, "colour");
    reef.request("POST", "/v1/jobs", Some("{\"runner\": \"demo\", "))
        .assert_problem(400, "JSON");
    let big = json!({"runner": "demo", "params": {"benchmark": bench}, "labels": {"pad": "x".repeat(100_000)}});
    reef.post("/v1/jobs", &big).assert_problem(413, "max_body");
    reef.get("/v1/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .assert_problem(404, "01ARZ3NDEKTSV4RRFFQ69G5FAV");
    reef.get("/v1/jobs/not-an-id")
        .assert_problem(404, "not-an-id");
    // Every query problem is a 400, whether the value does not parse or is out of range.
    reef.get("/v1/jobs?state=sleeping")
        .assert_problem(400, "sleeping");
    reef.get("/v1/jobs?limit=0").assert_problem(400, "limit");
    reef.get("/v1/jobs?limit=-1").assert_problem(400, "limit");
    reef.get("/v1/jobs?cursor=nope")
        .assert_problem(400, "cursor");
    reef.get("/v1/nowhere").assert_problem(404, "/v1/nowhere");
    reef.request("DELETE", "/v1/jobs", None)
        .assert_problem(405, "DELETE");
    // Nothing was created by any of these.
    assert!(
        reef.get("/v1/jobs").json()["jobs"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_hostile_value_is_one_literal_argument() {
    let reef = Reef::start(
        r#"
[runners.echo]
command = ["printf", "[%s]\n", "{text}", "--id={job_id}"]
workdir = "@WORK@"
params.text = { required = true }
"#,
    );
    let id = reef.submit("echo", json!({"text": "a b; rm -rf / $(whoami) `id` > x"}));
    let job = reef.wait_done(&id, Duration::from_secs(30));
    assert_eq!(job["state"], "succeeded", "{job}");
    let out = reef.get(&format!("/v1/jobs/{id}/logs")).text;
    assert_eq!(
        out,
        format!("[a b; rm -rf / $(whoami) `id` > x]\n[--id={id}]\n")
    );
    assert!(
        !reef.work().join("x").exists(),
        "no shell ever saw the value"
    );
}

#[test]
fn tokens_gate_every_call_by_scope() {
    let config = demo_config(
        r#"
[[auth.tokens]]
name = "viewer"
token = "read-token-0123456789"
scopes = ["read"]
[[auth.tokens]]
name = "ci"
token_env = "CI_SUBMIT_TOKEN"
scopes = ["submit"]
"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let mut reef = Reef::start_in(
        dir,
        &config,
        &[("CI_SUBMIT_TOKEN", "submit-token-0123456789")],
    );
    let body = json!({"runner": "demo", "params": {"benchmark": benchmark("success.yml")}});
    reef.post("/v1/jobs", &body)
        .assert_problem(401, "bearer token");
    reef.get("/v1/jobs").assert_problem(401, "bearer token");
    reef.token = Some("wrong-token-0123456789".into());
    reef.post("/v1/jobs", &body)
        .assert_problem(401, "not valid");
    reef.token = Some("read-token-0123456789".into());
    assert_eq!(reef.get("/v1/jobs").status, 200);
    reef.post("/v1/jobs", &body).assert_problem(403, "submit");
    reef.token = Some("submit-token-0123456789".into());
    let answer = reef.post("/v1/jobs", &body);
    assert_eq!(answer.status, 201, "{}", answer.text);
    let id = answer.json()["id"].as_str().unwrap().to_owned();
    reef.token = None;
    reef.post(&format!("/v1/jobs/{id}/cancel"), &json!({}))
        .assert_problem(401, "bearer token");
    // Health stays open for probes.
    assert_eq!(reef.get("/healthz").status, 200);
    assert_eq!(reef.get("/readyz").status, 200);
}

#[test]
fn runners_health_and_pagination() {
    let reef = Reef::start(&demo_config("").replace("max_concurrency = 2", "max_concurrency = 1"));
    let runners = reef.get("/v1/runners").json();
    assert_eq!(runners[0]["name"], "demo");
    assert_eq!(runners[0]["params"], json!(["agent", "benchmark"]));
    let ready = reef.get("/readyz");
    assert_eq!(ready.status, 200);
    let checks = ready.json()["checks"].clone();
    for check in [
        "state_store",
        "scheduler",
        "accepting",
        "policy",
        "data_dir",
    ] {
        assert_eq!(checks[check]["ok"], true, "{check}: {checks}");
    }

    let mut ids: Vec<String> = (0..7)
        .map(|_| reef.submit("demo", json!({"benchmark": benchmark("success.yml")})))
        .collect();
    ids.reverse(); // newest first
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/jobs?limit=3&cursor={c}"),
            None => "/v1/jobs?limit=3".to_owned(),
        };
        let page = reef.get(&path).json();
        seen.extend(
            page["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids);
}

#[test]
fn idempotency_keys_make_a_submit_safe_to_repeat() {
    let reef = Reef::start(&demo_config("[server]\nidempotency_ttl = \"1h\""));
    let body = json!({"runner": "demo", "params": {"benchmark": benchmark("success.yml")}});
    let keyed = |key: &str, body: &serde_json::Value| {
        let answer = reef.post_with("/v1/jobs", body, &[("idempotency-key", key)]);
        let json = serde_json::from_str(&answer.text).unwrap_or(serde_json::Value::Null);
        (answer.status, json)
    };
    let (status, first) = keyed("order-42", &body);
    assert_eq!(status, 201, "{first}");
    let (status, again) = keyed("order-42", &body);
    assert_eq!(
        (status, &again["id"]),
        (201, &first["id"]),
        "a replay returns the same job"
    );
    let other = json!({"runner": "demo", "params": {"benchmark": benchmark("slow.yml")}});
    let (status, problem) = keyed("order-42", &other);
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key"),
        "{problem}"
    );
    // Concurrent duplicates create one job.
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| keyed("burst-7", &body).1["id"].as_str().unwrap().to_owned()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    let listed = reef.get("/v1/jobs?limit=100").json()["jobs"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(listed, 2, "one job per key");
    let (status, _) = keyed("bad key with spaces", &body);
    assert_eq!(status, 400);
}

#[test]
fn an_expired_idempotency_key_can_be_used_again() {
    let reef = Reef::start(&demo_config("[server]\nidempotency_ttl = \"300ms\""));
    let submit = |bench: &str| {
        let body = json!({"runner": "demo", "params": {"benchmark": benchmark(bench)}});
        reef.post_with("/v1/jobs", &body, &[("idempotency-key", "nightly")])
    };
    let first = submit("success.yml");
    assert_eq!(first.status, 201);
    assert_eq!(
        submit("slow.yml").status,
        422,
        "the key is still remembered"
    );
    let again = reef_e2e::wait_for("the key to expire", Duration::from_secs(10), || {
        let answer = submit("slow.yml");
        (answer.status == 201).then_some(answer)
    });
    assert_ne!(again.json()["id"], first.json()["id"]);
}

//! Sweeps cancelled, retried and submitted twice; a runner's parameters in full; results.

use super::TestApi;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};

/// Submits a sweep of `n` over `values`, with an optional idempotency key.
async fn sweep(api: &TestApi, values: Value, key: Option<&str>) -> super::Answer {
    let mut request = Request::post("/v1/sweeps").header(header::CONTENT_TYPE, "application/json");
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let body = json!({"runner": "demo", "matrix": {"n": values}});
    api.send(request.body(Body::from(body.to_string())).unwrap())
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sweep_is_cancelled_whole_and_its_cancelled_cells_retried() {
    // One attempt at a time, on an executor that never ends it: one cell runs, two queue.
    let api = TestApi::start("[scheduler]\nmax_concurrency = 1\n").await;
    let created = sweep(&api, json!(["1", "2", "3"]), None).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let running = format!("/v1/jobs?label=reef.sweep={id}&state=running");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while api.get(&running, None).await.body["jobs"]
        .as_array()
        .map(Vec::len)
        != Some(1)
    {
        assert!(std::time::Instant::now() < deadline, "no cell started");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let cancelled = api
        .post(&format!("/v1/sweeps/{id}/cancel"), json!({}), None)
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    // All three were asked; the queued two ended at once, the running one ends with its process.
    assert_eq!(cancelled.body["jobs"].as_array().map(Vec::len), Some(3));
    let progress = &cancelled.body["sweep"]["progress"];
    assert_eq!(progress["states"]["cancelled"], 2, "{progress}");
    assert_eq!(progress["states"]["running"], 1, "{progress}");
    let still = api.get(&running, None).await;
    assert_eq!(still.body["jobs"][0]["cancel_requested"], true);

    let retried = api
        .post(&format!("/v1/sweeps/{id}/retry"), json!({}), None)
        .await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
    assert_eq!(retried.body["jobs"].as_array().map(Vec::len), Some(2));
    let page = api
        .get(
            &format!("/v1/jobs?label=reef.sweep={id}&state=queued"),
            None,
        )
        .await;
    assert_eq!(page.body["jobs"].as_array().map(Vec::len), Some(2));
    // Nothing failed or was cancelled any more: a second retry retries nothing.
    let again = api
        .post(&format!("/v1/sweeps/{id}/retry"), json!({}), None)
        .await;
    assert_eq!(again.body["jobs"], json!([]));

    for action in ["cancel", "retry"] {
        api.post(
            &format!("/v1/sweeps/01J00000000000000000000000/{action}"),
            json!({}),
            None,
        )
        .await
        .problem(StatusCode::NOT_FOUND, "does not exist");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sweep_submitted_again_with_its_key_is_the_same_sweep() {
    let api = TestApi::start("").await;
    let first = sweep(&api, json!(["1", "2"]), Some("nightly-1")).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let replay = sweep(&api, json!(["1", "2"]), Some("nightly-1")).await;
    assert_eq!(replay.status, StatusCode::CREATED, "{}", replay.body);
    assert_eq!(replay.body["id"], first.body["id"]);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    let page = api.get("/v1/sweeps", None).await;
    assert_eq!(page.body["sweeps"].as_array().map(Vec::len), Some(1));
    let jobs = api.get("/v1/jobs", None).await;
    assert_eq!(jobs.body["jobs"].as_array().map(Vec::len), Some(2));

    sweep(&api, json!(["1", "2", "3"]), Some("nightly-1"))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "Idempotency-Key");
    // A job's key and a sweep's key live apart.
    let job = api
        .send(
            Request::post("/v1/jobs")
                .header(header::CONTENT_TYPE, "application/json")
                .header("idempotency-key", "nightly-1")
                .body(Body::from(json!({"runner": "demo"}).to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(job.status, StatusCode::CREATED, "{}", job.body);
    assert!(job.headers.get("idempotent-replayed").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runner_shows_its_parameters_in_full_and_results_group_its_jobs() {
    let api = TestApi::start("").await;
    let runner = api.get("/v1/runners/demo", None).await;
    assert_eq!(runner.status, StatusCode::OK, "{}", runner.body);
    assert_eq!(runner.body["name"], "demo");
    assert_eq!(
        runner.body["parameters"]["n"],
        json!({"required": false, "default": "1", "values": null, "values_from": null,
               "pattern": "[0-9]+", "max_len": 256, "kind": "text"})
    );
    api.get("/v1/runners/nope", None)
        .await
        .problem(StatusCode::NOT_FOUND, "nope");

    sweep(&api, json!(["1", "2"]), None).await;
    for n in ["1", "1", "3"] {
        let body = json!({"runner": "demo", "params": {"n": n}, "labels": {"team": "a"}});
        assert_eq!(
            api.post("/v1/jobs", body, None).await.status,
            StatusCode::CREATED
        );
    }
    let results = api
        .get("/v1/results?runner=demo&group_by=param:n,label:team", None)
        .await;
    assert_eq!(results.status, StatusCode::OK, "{}", results.body);
    assert_eq!(results.body["jobs"], 5);
    let groups = results.body["groups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let counts: Vec<(Value, Value, Value)> = groups
        .iter()
        .map(|g| {
            (
                g["key"]["param:n"].clone(),
                g["key"]["label:team"].clone(),
                g["jobs"].clone(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        vec![
            (json!("1"), json!(null), json!(1)),
            (json!("1"), json!("a"), json!(2)),
            (json!("2"), json!(null), json!(1)),
            (json!("3"), json!("a"), json!(1)),
        ]
    );
    // Nothing has finished here (the executor never launches): no rate, no scores.
    assert!(
        groups
            .iter()
            .all(|g| g["success_rate"].is_null() && g["score"].is_null())
    );
    let labelled = api
        .get(
            "/v1/results?runner=demo&group_by=param:n&label=team=a&since=1h",
            None,
        )
        .await;
    assert_eq!(labelled.body["jobs"], 3, "{}", labelled.body);
    let future = api
        .get(
            "/v1/results?runner=demo&group_by=param:n&since=2999-01-01T00:00:00Z",
            None,
        )
        .await;
    assert_eq!(future.body["jobs"], 0, "{}", future.body);

    api.get("/v1/results?runner=demo&group_by=agent", None)
        .await
        .problem(StatusCode::BAD_REQUEST, "");
    api.get("/v1/results?runner=demo&group_by=param:nope", None)
        .await
        .problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "'nope' is not declared by runner 'demo' (declared: n)",
        );
    api.get("/v1/results?runner=demo&group_by=param:n&since=soon", None)
        .await
        .problem(StatusCode::BAD_REQUEST, "since");
    api.get("/v1/results?runner=nope&group_by=param:n", None)
        .await
        .problem(StatusCode::NOT_FOUND, "nope");
}

//! Hard limits: per-runner concurrency and resource pools are never exceeded, observed through
//! the start/end marks the demo runner writes.

use reef_e2e::{Reef, benchmark, demo_config, max_overlap, read_marks};
use serde_json::json;
use std::time::Duration;

#[test]
fn per_runner_concurrency_and_a_pool_of_one_are_never_exceeded() {
    let extra = r#"
[runners.pooled]
command = ["@BIN@/demo-runner", "{benchmark}", "--agent", "deterministic", "--execution-id", "{job_id}"]
workdir = "@WORK@"
resources = ["surfpool"]
env = { DEMO_MARKS = "@WORK@/pool-marks" }
params.benchmark = { required = true }

[resources]
surfpool = 1
"#;
    let reef =
        Reef::start(&demo_config(extra).replace("max_concurrency = 4", "max_concurrency = 8"));
    let slow = benchmark("slow.yml");
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(reef.submit("demo", json!({"benchmark": slow})));
        ids.push(reef.submit("pooled", json!({"benchmark": slow})));
    }
    for id in &ids {
        let job = reef.wait_done(id, Duration::from_secs(60));
        assert_eq!(job["state"], "succeeded", "{job}");
    }
    let demo = read_marks(&reef.work().join("marks"));
    let pooled = read_marks(&reef.work().join("pool-marks"));
    assert_eq!(
        (demo.len(), pooled.len()),
        (12, 12),
        "a start and an end per job"
    );
    assert_eq!(max_overlap(&demo), 2, "demo runs two at a time, never more");
    assert_eq!(
        max_overlap(&pooled),
        1,
        "the surfpool resource has capacity 1"
    );
}

#[test]
fn higher_priority_runs_first() {
    let reef = Reef::start(&demo_config("").replace("max_concurrency = 2", "max_concurrency = 1"));
    let blocker = reef.submit("demo", json!({"benchmark": benchmark("slow.yml")}));
    reef.wait_state(&blocker, "running", Duration::from_secs(30));
    let submit = |priority: i32| {
        let answer = reef.post(
            "/v1/jobs",
            &json!({"runner": "demo", "params": {"benchmark": benchmark("success.yml")}, "priority": priority}),
        );
        assert_eq!(answer.status, 201, "{}", answer.text);
        answer.json()["id"].as_str().unwrap().to_owned()
    };
    let low = submit(0);
    let high = submit(10);
    let low2 = submit(0);
    for id in [&low, &high, &low2] {
        reef.wait_done(id, Duration::from_secs(60));
    }
    let marks = read_marks(&reef.work().join("marks"));
    let order: Vec<&str> = marks
        .iter()
        .filter(|(k, _, _)| k == "start")
        .map(|(_, id, _)| id.as_str())
        .collect();
    assert_eq!(
        order,
        [blocker.as_str(), high.as_str(), low.as_str(), low2.as_str()]
    );
}

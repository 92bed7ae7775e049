//! `GET /metrics`: OpenMetrics text that a strict parser accepts, with numbers that move as jobs
//! run, and bounded labels.

use reef_e2e::{Reef, benchmark, demo_config};
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

/// Parses OpenMetrics text with the Python `prometheus_client` strict parser; returns the
/// samples as `[name, labels, value]`.
fn parse_strictly(text: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.txt");
    std::fs::write(&path, text).unwrap();
    let script = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
samples = []
for family in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in family.samples:
        samples.append([s.name, s.labels, s.value])
print(json.dumps(samples))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

fn value(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s[0] == name && labels.iter().all(|(k, v)| s[1][*k] == *v))
        .map(|s| s[2].as_f64().unwrap())
        .sum()
}

#[test]
fn metrics_parse_strictly_and_count_what_happened() {
    let reef = Reef::start(&demo_config(""));
    let ok = reef.submit("demo", json!({"benchmark": benchmark("success.yml")}));
    let bad = reef.submit("demo", json!({"benchmark": benchmark("exit3.yml")}));
    reef.wait_done(&ok, Duration::from_secs(30));
    reef.wait_done(&bad, Duration::from_secs(30));
    let answer = reef.get("/metrics");
    assert_eq!(answer.status, 200);
    assert!(
        answer
            .content_type
            .starts_with("application/openmetrics-text"),
        "{}",
        answer.content_type
    );
    let samples = parse_strictly(&answer.text);
    let demo = ("runner", "demo");
    assert_eq!(value(&samples, "reef_jobs_submitted_total", &[demo]), 2.0);
    assert_eq!(
        value(
            &samples,
            "reef_jobs_finished_total",
            &[demo, ("outcome", "succeeded")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "reef_jobs_finished_total",
            &[demo, ("outcome", "failed")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "reef_attempts_total",
            &[demo, ("outcome", "failed")]
        ),
        3.0
    );
    assert_eq!(
        value(
            &samples,
            "reef_process_failures_total",
            &[demo, ("reason", "exit")]
        ),
        3.0
    );
    assert_eq!(
        value(&samples, "reef_attempt_duration_seconds_count", &[demo]),
        4.0
    );
    assert_eq!(
        value(&samples, "reef_job_duration_seconds_count", &[demo]),
        2.0
    );
    assert!(
        value(
            &samples,
            "reef_policy_calls_total",
            &[("hook", "plan"), ("result", "ok")]
        ) >= 4.0
    );
    assert!(
        value(
            &samples,
            "reef_policy_call_duration_seconds_count",
            &[("hook", "on-exit")]
        ) >= 4.0
    );
    assert_eq!(
        value(
            &samples,
            "reef_http_requests_total",
            &[("route", "/v1/jobs"), ("method", "POST"), ("status", "201")]
        ),
        2.0
    );
    assert_eq!(value(&samples, "reef_running", &[]), 0.0);
    assert_eq!(
        value(&samples, "reef_policy_info", &[("slot", "default")]),
        1.0
    );
    assert_eq!(value(&samples, "reef_build_info", &[]), 1.0);
    // Bounded labels: no job id anywhere.
    for id in [&ok, &bad] {
        assert!(
            !answer.text.contains(id.as_str()),
            "a job id leaked into a label"
        );
    }
}

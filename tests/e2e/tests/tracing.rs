//! Job traces over OTLP/HTTP: a collector on loopback (this test's own, decoding the protobuf
//! the exporter sends) receives one trace per job, with the spans parented as documented, and
//! the runner sees a `TRACEPARENT` of that trace.

use opentelemetry_proto::tonic::trace::v1::Span;
use reef_e2e::otlp::Collector;
use reef_e2e::{Reef, wait_for};
use serde_json::json;
use std::time::Duration;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref())
        .map(|v| match &v.value {
            Some(opentelemetry_proto::tonic::common::v1::any_value::Value::StringValue(s)) => {
                s.clone()
            }
            Some(opentelemetry_proto::tonic::common::v1::any_value::Value::IntValue(i)) => {
                i.to_string()
            }
            other => format!("{other:?}"),
        })
}

#[test]
fn one_trace_per_job_with_the_runner_inside_it() {
    let collector = Collector::start();
    let (collector_url, received) = (&collector.url, &collector.spans);
    let config = format!(
        r#"
[telemetry]
otlp_endpoint = "{collector_url}"
service_name = "reef-under-test"

[runners.traced]
command = ["/bin/sh", "-c", "echo traceparent=$TRACEPARENT; test $REEF_ATTEMPT -ge 2"]
workdir = "@WORK@"
max_attempts = 2
backoff = "100ms"
"#
    );
    // Spans are batched; a short delay keeps the test quick.
    let reef = Reef::start_in(
        tempfile::tempdir().unwrap(),
        &config,
        &[("OTEL_BSP_SCHEDULE_DELAY", "200")],
    );
    let id = reef.submit("traced", json!({}));
    let job = reef.wait_done(&id, Duration::from_secs(30));
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["attempt_count"], 2, "{job}");

    let trace = format!("{:032x}", u128::from_str_radix(&ulid_hex(&id), 16).unwrap());
    let spans = wait_for("the job's root span", Duration::from_secs(20), || {
        let spans: Vec<(String, Span)> = received
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, s)| hex(&s.trace_id) == trace)
            .cloned()
            .collect();
        spans.iter().any(|(_, s)| s.name == "job").then_some(spans)
    });
    let named = |name: &str| -> Vec<&Span> {
        spans
            .iter()
            .map(|(_, s)| s)
            .filter(|s| s.name == name)
            .collect()
    };
    assert!(
        spans
            .iter()
            .all(|(service, _)| service.contains("reef-under-test")),
        "service.name"
    );

    let root = named("job");
    assert_eq!(root.len(), 1);
    let root = root[0];
    assert!(root.parent_span_id.is_empty(), "the job span is the root");
    assert_eq!(attribute(root, "reef.job.id").as_deref(), Some(id.as_str()));
    assert_eq!(
        attribute(root, "reef.job.state").as_deref(),
        Some("succeeded")
    );

    let submit = named("submit");
    assert_eq!(submit.len(), 1);
    assert_eq!(submit[0].parent_span_id, root.span_id);
    let admit = named("policy.admit");
    assert_eq!(admit.len(), 1);
    assert_eq!(admit[0].parent_span_id, submit[0].span_id);

    let queued = named("queued");
    assert_eq!(queued.len(), 2, "one wait per attempt");
    assert!(queued.iter().all(|s| s.parent_span_id == root.span_id));
    assert!(
        named("policy.pick")
            .iter()
            .all(|s| s.parent_span_id == root.span_id)
    );

    let mut attempts = named("attempt");
    attempts.sort_by_key(|s| attribute(s, "reef.attempt"));
    assert_eq!(attempts.len(), 2);
    for (n, attempt) in attempts.iter().enumerate() {
        assert_eq!(attempt.parent_span_id, root.span_id);
        assert_eq!(
            attribute(attempt, "reef.attempt"),
            Some((n + 1).to_string())
        );
        assert!(attempt.start_time_unix_nano < attempt.end_time_unix_nano);
        for hook in ["policy.plan", "policy.on_exit"] {
            let children: Vec<_> = named(hook)
                .into_iter()
                .filter(|s| s.parent_span_id == attempt.span_id)
                .collect();
            assert_eq!(children.len(), 1, "{hook} under attempt {}", n + 1);
        }
        // The runner was handed this very span as its parent.
        let stdout = reef
            .get(&format!(
                "/v1/jobs/{id}/logs?stream=stdout&attempt={}",
                n + 1
            ))
            .text;
        let expected = format!("traceparent=00-{trace}-{}-01", hex(&attempt.span_id));
        assert!(stdout.contains(&expected), "{stdout:?} lacks {expected}");
    }
    assert_eq!(
        attribute(attempts[0], "process.exit.code").as_deref(),
        Some("1")
    );
    assert_eq!(
        attribute(attempts[1], "process.exit.code").as_deref(),
        Some("0")
    );
}

#[test]
fn without_an_endpoint_the_runner_gets_no_traceparent() {
    let reef = Reef::start(
        r#"
[runners.traced]
command = ["/bin/sh", "-c", "echo traceparent=[$TRACEPARENT]"]
workdir = "@WORK@"
"#,
    );
    let id = reef.submit("traced", json!({}));
    reef.wait_done(&id, Duration::from_secs(30));
    let stdout = reef.get(&format!("/v1/jobs/{id}/logs?stream=stdout")).text;
    assert!(stdout.contains("traceparent=[]"), "{stdout}");
}

/// A ULID in its 128-bit hexadecimal form.
fn ulid_hex(id: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut value: u128 = 0;
    for c in id.bytes() {
        let digit = ALPHABET
            .iter()
            .position(|a| *a == c.to_ascii_uppercase())
            .unwrap_or_else(|| panic!("{id} is not a ULID"));
        value = (value << 5) | digit as u128;
    }
    format!("{value:032x}")
}

//! What the derived OpenAPI document cannot say by itself, added to its JSON once, before it is
//! served: unsigned integers with their real ranges, the shape of one server-sent event, the
//! links between operations (what a client, or a stateful fuzzer, can do with an answer), and
//! example requests.

use serde_json::{Value, json};

/// Finishes the document built by utoipa.
pub fn finish(document: &mut Value) {
    unsigned_ranges(document);
    headers_are_never_null(document);
    event_stream_shape(document);
    links(document);
    examples(document);
}

/// utoipa writes `u64` as `int64` and `u32` as `int32` with `minimum: 0`; the formats bound them
/// at the signed maximum, which the server does not. The range is stated instead.
fn unsigned_ranges(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let unsigned = map.get("minimum").and_then(Value::as_u64) == Some(0);
            let maximum = match map.get("format").and_then(Value::as_str) {
                Some("int64") if unsigned => Some(json!(u64::MAX)),
                Some("int32") if unsigned => Some(json!(u32::MAX)),
                _ => None,
            };
            if let Some(maximum) = maximum {
                map.remove("format");
                map.entry("maximum").or_insert(maximum);
            }
            map.values_mut().for_each(unsigned_ranges);
        }
        Value::Array(items) => items.iter_mut().for_each(unsigned_ranges),
        _ => {}
    }
}

/// utoipa marks an optional header's schema nullable; a header is absent or has a value, and
/// `null` is no value of it.
fn headers_are_never_null(document: &mut Value) {
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let operations = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let parameters = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten();
        for parameter in parameters.filter(|p| p["in"] == "header") {
            if let Some(Value::Array(types)) = parameter.pointer_mut("/schema/type") {
                types.retain(|t| t != "null");
                if let [single] = types.as_slice() {
                    let single = single.clone();
                    parameter["schema"]["type"] = single;
                }
            }
        }
    }
}

/// A `text/event-stream` schema describes one event (OpenAPI 3.1): its `id`, `event` and the
/// `data` a `JobEvent` as JSON.
fn event_stream_shape(document: &mut Value) {
    let event = json!({
        "type": "object",
        "required": ["id", "event", "data"],
        "properties": {
            "id": {"type": "string", "pattern": "^[0-9]+$", "description": "The event's sequence number."},
            "event": {"type": "string", "description": "The transition (`submit`, `start`, `retry`, ...)."},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": {"$ref": "#/components/schemas/JobEvent"}
            }
        }
    });
    if let Some(content) =
        document.pointer_mut("/paths/~1v1~1events/get/responses/200/content/text~1event-stream")
    {
        content["schema"] = event;
    }
}

/// An OpenAPI link: `operation` called with `parameters` (and, where given, a body).
fn link(operation: &str, parameters: Value, body: Option<Value>) -> Value {
    let mut link = json!({"operationId": operation, "parameters": parameters});
    if let Some(body) = body {
        link["requestBody"] = body;
    }
    link
}

fn links(document: &mut Value) {
    let job = |operation| link(operation, json!({"id": "$response.body#/id"}), None);
    let job_links = json!({
        "GetJob": job("get_job"),
        "CancelJob": job("cancel_job"),
        "RetryJob": job("retry_job"),
        "JobLogs": job("job_logs"),
        "JobResult": job("job_result"),
        "JobEvents": job("job_events"),
        "EventStream": link("event_stream", json!({"job": "$response.body#/id", "after": 0}), None),
    });
    let slot = json!("$request.path.name");
    let digest = json!({"digest": "$response.body#/digest"});
    let version_links = json!({
        "Activate": link("activate_policy", json!({"name": slot}), Some(digest.clone())),
        "Shadow": link("shadow_policy", json!({"name": slot}), Some(digest.clone())),
        "Canary": link(
            "canary_policy",
            json!({"name": slot}),
            Some(json!({"digest": "$response.body#/digest", "percent": 10})),
        ),
        "DeleteVersion": link(
            "delete_policy_version",
            json!({"name": slot, "digest": "$response.body#/digest"}),
            None,
        ),
    });
    let runner_links = json!({
        "Invoke": link("invoke_runner", json!({"name": "$response.body#/0/name", "wait": "5s"}), None),
    });
    let add = |document: &mut Value, path: &str, links: &Value| {
        if let Some(response) = document.pointer_mut(path) {
            response["links"] = links.clone();
        }
    };
    add(document, "/paths/~1v1~1jobs/post/responses/201", &job_links);
    add(
        document,
        "/paths/~1v1~1runners~1{name}~1invoke/post/responses/202",
        &job_links,
    );
    add(
        document,
        "/paths/~1v1~1policies~1{name}/put/responses/201",
        &version_links,
    );
    add(
        document,
        "/paths/~1v1~1runners/get/responses/200",
        &runner_links,
    );
}

/// Example requests, as the development preset would take them.
fn examples(document: &mut Value) {
    let submit = json!({
        "runner": "demo",
        "params": {"benchmark": "tests/fixtures/benchmarks/success.yml"},
        "labels": {"team": "eval"}
    });
    if let Some(content) =
        document.pointer_mut("/paths/~1v1~1jobs/post/requestBody/content/application~1json")
    {
        content["example"] = submit;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_integers_get_their_range_and_lose_the_signed_format() {
        let mut schema = json!({
            "a": {"type": "integer", "format": "int64", "minimum": 0},
            "b": {"type": "integer", "format": "int32", "minimum": 0},
            "c": {"type": "integer", "format": "int32", "minimum": 0, "maximum": 100},
            "d": {"type": "integer", "format": "int32", "minimum": -5},
        });
        unsigned_ranges(&mut schema);
        assert_eq!(
            schema,
            json!({
                "a": {"type": "integer", "minimum": 0, "maximum": u64::MAX},
                "b": {"type": "integer", "minimum": 0, "maximum": u32::MAX},
                "c": {"type": "integer", "minimum": 0, "maximum": 100},
                "d": {"type": "integer", "format": "int32", "minimum": -5},
            })
        );
    }
}

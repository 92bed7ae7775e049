//! `GET /openapi.json` on a running host: open without a token, well-formed, and each route it
//! describes really served, with the scope it names.

use reef_e2e::openapi::{check_document, operations};
use reef_e2e::{Reef, demo_config};
use std::collections::BTreeSet;

const ADMIN: &str = "admin-token-0123456789";
const SUBMIT: &str = "submit-token-0123456789";
const READ: &str = "read-token-01234567890";

/// Sends the documented operation with placeholders filled in.
fn probe(reef: &Reef, method: &str, path: &str) -> reef_e2e::Answer {
    let concrete = path
        .replace("{id}", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
        .replace("{name}", "nope")
        .replace("{digest}", "sha256:00");
    match (method, concrete.as_str()) {
        // The event stream never ends; an unknown query parameter makes its handler answer.
        ("GET", "/v1/events") => reef.get("/v1/events?probe=1"),
        ("GET", p) => reef.get(p),
        ("PUT", p) => reef.put_bytes(p, b""),
        ("POST" | "DELETE", p) => reef.request(method, p, Some("{}")),
        (m, p) => panic!("no probe for {m} {p}"),
    }
}

#[test]
fn the_document_describes_every_route_and_every_described_route_is_served() {
    let mut reef = Reef::start(&demo_config(&format!(
        "[[auth.tokens]]\nname = \"ops\"\ntoken = \"{ADMIN}\"\nscopes = [\"admin\"]\n\
         [[auth.tokens]]\nname = \"ci\"\ntoken = \"{SUBMIT}\"\nscopes = [\"submit\"]\n\
         [[auth.tokens]]\nname = \"viewer\"\ntoken = \"{READ}\"\nscopes = [\"read\"]\n"
    )));
    // Open without a token, like the probes.
    let answer = reef.get("/openapi.json");
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.content_type, "application/json");
    let doc = answer.json();
    let problems = check_document(&doc);
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for schema in ["Problem", "Job", "JobView", "SubmitRequest", "RunnerView"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
    }

    let documented: BTreeSet<_> = operations(&doc).into_iter().collect();
    assert!(documented.len() > 20, "{documented:?}");

    for (method, path) in &documented {
        // The scope the document names is the one enforced: the scope below it is refused (no
        // token at all below `read`).
        let operation = &doc["paths"][path][method.to_lowercase()];
        let needed = operation["security"][0]["bearer"][0].as_str();
        let below = match needed {
            None => None,
            Some("read") => Some((None, 401)),
            Some("submit") => Some((Some(READ), 403)),
            Some("admin") => Some((Some(SUBMIT), 403)),
            Some(other) => panic!("{method} {path} names an unknown scope {other}"),
        };
        if let Some((token, status)) = below {
            reef.token = token.map(str::to_owned);
            let answer = probe(&reef, method, path);
            assert_eq!(
                answer.status, status,
                "{method} {path} needs {needed:?}: {}",
                answer.text
            );
        }
        // With every scope, it reaches a handler: whatever it answers, it is not the router's
        // own "no route" or "method not allowed".
        reef.token = Some(ADMIN.into());
        let answer = probe(&reef, method, path);
        let kind = serde_json::from_str::<serde_json::Value>(&answer.text)
            .ok()
            .and_then(|v| v["type"].as_str().map(str::to_owned))
            .unwrap_or_default();
        assert!(
            answer.status != 405 && !(answer.status == 404 && kind.ends_with("/not-found")),
            "{method} {path} is documented but not routed: {} {}",
            answer.status,
            answer.text
        );
    }
}

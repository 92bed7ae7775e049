//! `GET /openapi.json` on a running host: open without a token, well-formed, describing exactly
//! the routes the router declares, each of which the live router really serves.

use reef_e2e::openapi::{check_document, operations, routes_in_source};
use reef_e2e::{Reef, demo_config};
use std::collections::BTreeSet;
use std::path::Path;

const ADMIN: &str = "admin-token-0123456789";

#[test]
fn the_document_describes_every_route_and_every_described_route_is_served() {
    let mut reef = Reef::start(&demo_config(&format!(
        "[[auth.tokens]]\nname = \"ops\"\ntoken = \"{ADMIN}\"\nscopes = [\"admin\"]\n"
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

    let router = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../host/server/src/api/mod.rs");
    let source = std::fs::read_to_string(&router).expect("the router's source");
    let routed: BTreeSet<_> = routes_in_source(&source).into_iter().collect();
    let documented: BTreeSet<_> = operations(&doc).into_iter().collect();
    assert_eq!(
        routed, documented,
        "the router's routes and the document's operations differ"
    );

    // Each described operation reaches a handler: whatever it answers, it is not the router's
    // own "no route" or "method not allowed".
    reef.token = Some(ADMIN.into());
    for (method, path) in &documented {
        let concrete = path
            .replace("{id}", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
            .replace("{name}", "nope")
            .replace("{digest}", "sha256:00");
        let answer = match (method.as_str(), concrete.as_str()) {
            // The event stream never ends; an unknown query parameter makes its handler answer.
            ("GET", "/v1/events") => reef.get("/v1/events?probe=1"),
            ("GET", p) => reef.get(p),
            ("PUT", p) => reef.put_bytes(p, b""),
            ("POST" | "DELETE", p) => reef.request(method, p, Some("{}")),
            (m, p) => panic!("no probe for {m} {p}"),
        };
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

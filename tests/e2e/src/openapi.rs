//! Checks of reef's OpenAPI document: the operations it describes, and its own consistency.

use serde_json::Value;

/// The operations a path item can hold, as OpenAPI names them.
const METHODS: [&str; 8] = [
    "get", "post", "put", "delete", "patch", "head", "options", "trace",
];

/// `(METHOD, path)` of every operation in an OpenAPI document.
pub fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in METHODS {
            if item.get(method).is_some() {
                found.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    found
}

/// What is wrong with an OpenAPI 3 document (empty when nothing): the required members, every
/// operation's responses, path parameters declared for each `{name}` in a path, security
/// schemes that exist, and every `$ref` resolving within the document.
pub fn check_document(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    match doc["openapi"].as_str() {
        Some(v) if v.starts_with("3.") => {}
        other => problems.push(format!("`openapi` is {other:?}, not a 3.x version")),
    }
    for field in ["title", "version"] {
        if !doc["info"][field].is_string() {
            problems.push(format!("info.{field} is missing"));
        }
    }
    let Some(paths) = doc["paths"].as_object() else {
        problems.push("`paths` is not an object".to_owned());
        return problems;
    };
    let schemes = doc["components"]["securitySchemes"].as_object();
    let mut operation_ids = std::collections::BTreeSet::new();
    for (path, item) in paths {
        if !path.starts_with('/') {
            problems.push(format!("path {path:?} does not start with /"));
        }
        let templated: Vec<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|p| p.split_once('}').map(|(name, _)| name))
            .collect();
        for method in METHODS {
            let Some(op) = item.get(method) else {
                continue;
            };
            let at = format!("{} {path}", method.to_uppercase());
            match op["responses"].as_object() {
                Some(r) if !r.is_empty() => {
                    for (status, response) in r {
                        if !response["description"].is_string() && response.get("$ref").is_none() {
                            problems.push(format!("{at}: response {status} has no description"));
                        }
                    }
                }
                _ => problems.push(format!("{at}: no responses")),
            }
            if let Some(id) = op["operationId"].as_str()
                && !operation_ids.insert(id.to_owned())
            {
                problems.push(format!("{at}: operationId {id} is not unique"));
            }
            let params: Vec<&Value> = op["parameters"]
                .as_array()
                .into_iter()
                .chain(item["parameters"].as_array())
                .flatten()
                .collect();
            for name in &templated {
                let declared = params.iter().any(|p| {
                    p["in"] == "path" && p["name"] == *name && p["required"] == Value::Bool(true)
                });
                if !declared {
                    problems.push(format!("{at}: path parameter {name} is not declared"));
                }
            }
            for requirement in op["security"].as_array().into_iter().flatten() {
                for scheme in requirement
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k)
                {
                    if schemes.is_none_or(|s| !s.contains_key(scheme)) {
                        problems.push(format!("{at}: unknown security scheme {scheme}"));
                    }
                }
            }
        }
    }
    let mut refs = Vec::new();
    collect_refs(doc, &mut refs);
    for reference in refs {
        let resolves = reference
            .strip_prefix('#')
            .and_then(|pointer| doc.pointer(pointer))
            .is_some();
        if !resolves {
            problems.push(format!("$ref {reference} does not resolve"));
        }
    }
    problems
}

fn collect_refs(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => into.push(r.clone()),
                    _ => collect_refs(v, into),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, into)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_dangling_ref_or_undeclared_path_parameter_is_reported() {
        let doc = json!({
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1"},
            "paths": {"/a/{id}": {"get": {"responses": {"200": {
                "description": "ok",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Nope"}}}
            }}}}},
        });
        let problems = check_document(&doc);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("path parameter id"));
        assert!(problems[1].contains("#/components/schemas/Nope"));
        assert_eq!(operations(&doc), [("GET".to_owned(), "/a/{id}".to_owned())]);
    }
}

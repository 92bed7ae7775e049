//! The console's files and `GET /v1/whoami`.

use super::{ADMIN, READER, TestApi};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};

#[tokio::test(flavor = "multi_thread")]
async fn the_console_page_is_served_without_a_token_and_only_loads_from_the_host() {
    let api = TestApi::start(&format!(
        "[[auth.tokens]]\nname = \"op\"\ntoken = \"{ADMIN}\"\nscopes = [\"admin\"]\n"
    ))
    .await;
    let page = api.get("/", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.headers[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    assert!(page.text.contains("<html"), "{}", page.text);
    let policy = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(policy.contains("default-src 'self'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(page.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(api.get("/ui/", None).await.text, page.text);

    // A browser's copy that is current is answered 304, without the body.
    let etag = page.headers[header::ETAG].to_str().unwrap().to_owned();
    let again = api
        .send(
            Request::get("/")
                .header(header::IF_NONE_MATCH, &etag)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.text.is_empty());

    // Every file the console has is served with its own type; anything else is a problem.
    for path in reef_console::paths() {
        let file = api.get(&format!("/ui/{path}"), None).await;
        assert_eq!(file.status, StatusCode::OK, "{path}");
        let asset = reef_console::asset(&path).unwrap();
        assert_eq!(
            file.headers[header::CONTENT_TYPE],
            asset.content_type,
            "{path}"
        );
    }
    api.get("/ui/no-such-file.js", None)
        .await
        .problem(StatusCode::NOT_FOUND, "no-such-file.js");
    api.get("/ui/../Cargo.toml", None)
        .await
        .problem(StatusCode::NOT_FOUND, "");
}

#[tokio::test(flavor = "multi_thread")]
async fn whoami_names_the_token_and_its_scope() {
    let api = TestApi::start(&format!(
        "[[auth.tokens]]\nname = \"op\"\ntoken = \"{ADMIN}\"\nscopes = [\"admin\"]\n\
         [[auth.tokens]]\nname = \"viewer\"\ntoken = \"{READER}\"\nscopes = [\"read\"]\n"
    ))
    .await;
    let reader = api.get("/v1/whoami", Some(READER)).await;
    assert_eq!(reader.status, StatusCode::OK, "{}", reader.body);
    assert_eq!(
        reader.body,
        serde_json::json!({"name": "viewer", "scope": "read", "auth": true})
    );
    assert_eq!(
        api.get("/v1/whoami", Some(ADMIN)).await.body["scope"],
        "admin"
    );
    api.get("/v1/whoami", None)
        .await
        .problem(StatusCode::UNAUTHORIZED, "bearer token");

    let open = TestApi::start("").await;
    assert_eq!(
        open.get("/v1/whoami", None).await.body,
        serde_json::json!({"name": "anonymous", "scope": "admin", "auth": false})
    );
}

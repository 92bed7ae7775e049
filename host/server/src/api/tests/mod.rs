//! The router in-process: requests through `tower::ServiceExt::oneshot` to the real handlers,
//! over a real job service, store and engine whose executor never launches anything. They check
//! what a handler adds to the typed core: statuses, headers, problem documents, scopes.

use super::{AppState, BodyLimits, router};
use crate::auth::Authenticator;
use crate::config_reload::{ConfigReloader, LiveParts};
use crate::server::ServeOptions;
use crate::telemetry::LogLevel;
use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use reef_core::config::Config;
use reef_core::executor::Ending;
use reef_core::runner::RunnerSet;
use reef_engine::clock::SystemClock;
use reef_engine::engine::{Engine, EngineParts, limits_for};
use reef_engine::executor::{
    BoxFuture, Executor, ExecutorSet, LaunchError, LaunchRequest, Launched, Missing, ProgressSink,
    Reattached,
};
use reef_engine::metrics::Metrics;
use reef_engine::service::JobService;
use reef_engine::supervisor::AttemptLayout;
use reef_engine::trace::JobTracer;
use reef_policy::registry::PolicyRegistry;
use reef_policy::slots::{PolicySlots, QuarantineRule, Seed};
use reef_policy::wasm::{CallLimits, PluginRuntime};
use reef_store::JobStore;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

mod console;
mod sweep_actions;

const ADMIN: &str = "admin-secret-0123456789";
const READER: &str = "reader-secret-0123456789";

/// An executor whose launches never answer: jobs stay where the API put them.
struct Idle(AttemptLayout);

impl Executor for Idle {
    fn name(&self) -> &str {
        "idle"
    }
    fn layout(&self) -> &AttemptLayout {
        &self.0
    }
    fn launch(&self, _: LaunchRequest) -> BoxFuture<Result<Launched, LaunchError>> {
        Box::pin(std::future::pending())
    }
    fn observe(&self, _: reef_core::executor::AttemptHandle, _: ProgressSink) -> BoxFuture<Ending> {
        Box::pin(std::future::pending())
    }
    fn cancel(&self, _: &reef_core::executor::AttemptHandle) {}
    fn reattach(&self, _: Vec<Missing>) -> BoxFuture<Vec<Reattached>> {
        Box::pin(async { Vec::new() })
    }
}

struct TestApi {
    router: Router,
    _dir: tempfile::TempDir,
}

impl TestApi {
    /// The API of a host with runner `demo` (one `text` parameter) and `extra` config.
    async fn start(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::from_toml(&format!(
            "[runners.demo]\ncommand = [\"demo\", \"{{n}}\"]\nworkdir = \"/\"\n\
             params.n = {{ default = \"1\", pattern = \"[0-9]+\" }}\n{extra}"
        ))
        .unwrap();
        let runners = Arc::new(RunnerSet::from_config(&config, Path::new("/")).unwrap());
        let store = JobStore::open(&dir.path().join("reef.redb")).unwrap();
        let metrics = Arc::new(Metrics::new());
        let slots = PolicySlots::start(
            PluginRuntime::new(CallLimits::default()).unwrap(),
            PolicyRegistry::open(store.database()).unwrap(),
            Default::default(),
            Seed {
                source: "embedded".into(),
                bytes: reef_policy::EMBEDDED_DEFAULT.to_vec(),
                configured: false,
            },
            QuarantineRule {
                faults: 20,
                window: Duration::from_secs(60),
            },
            metrics.clone(),
        )
        .unwrap();
        let layout = AttemptLayout::new(dir.path());
        let executors = ExecutorSet::local(Arc::new(Idle(layout)));
        let engine = Engine::start(EngineParts {
            store: store.clone(),
            runners: runners.clone(),
            policy: slots.policy(),
            limits: limits_for(
                &runners,
                config.scheduler.max_concurrency,
                &config.resources,
            ),
            window: 32,
            executors: executors.clone(),
            clock: Arc::new(SystemClock),
            metrics: metrics.clone(),
            tracer: JobTracer::disabled(),
        })
        .await
        .unwrap();
        let jobs = Arc::new(
            JobService::new(store, engine.clone(), runners, slots.policy(), executors)
                .with_max_cells(config.sweeps.max_cells),
        );
        let auth = Arc::new(ArcSwap::from_pointee(
            Authenticator::from_config(&config.auth, |_| None).unwrap(),
        ));
        let reloader = Arc::new(ConfigReloader::new(
            ServeOptions::default(),
            config.clone(),
            "127.0.0.1:0".parse().unwrap(),
            LiveParts {
                engine,
                jobs: jobs.clone(),
                auth: auth.clone(),
                slots: slots.clone(),
                level: LogLevel::detached(),
                metrics: metrics.clone(),
            },
        ));
        let state = AppState {
            jobs,
            policies: slots,
            auth,
            metrics,
            reloader,
        };
        let limits = BodyLimits {
            max_body: 64 * 1024,
            max_upload: 1024 * 1024,
            body_timeout: Duration::from_secs(5),
        };
        Self {
            router: router(state, limits),
            _dir: dir,
        }
    }

    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        Answer {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut request = Request::get(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    async fn post(&self, path: &str, body: Value, token: Option<&str>) -> Answer {
        let mut request = Request::post(path).header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(request.body(Body::from(body.to_string())).unwrap())
            .await
    }
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
    /// The body as text (HTML, CSV).
    text: String,
}

impl Answer {
    /// Asserts a problem document of `status` whose detail mentions `needle`.
    fn problem(&self, status: StatusCode, needle: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(
            self.headers[header::CONTENT_TYPE],
            "application/problem+json",
            "{}",
            self.body
        );
        assert_eq!(self.body["status"], status.as_u16());
        let detail = self.body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(needle),
            "{detail:?} should mention {needle:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_submit_is_answered_with_the_durable_job_and_where_to_find_it() {
    let api = TestApi::start("").await;
    let answer = api
        .post(
            "/v1/jobs",
            json!({"runner": "demo", "labels": {"team": "eval"}}),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let id = answer.body["id"].as_str().unwrap().to_owned();
    assert_eq!(answer.headers[header::LOCATION], format!("/v1/jobs/{id}"));
    assert_eq!(answer.body["params"]["n"], "1", "the default is filled in");
    let job = api.get(&format!("/v1/jobs/{id}"), None).await;
    assert_eq!(job.status, StatusCode::OK);
    assert_eq!(job.body["labels"]["team"], "eval");
    assert!(job.body["attempts"].is_array());
    let page = api.get("/v1/jobs?label=team=eval", None).await;
    assert_eq!(page.body["jobs"][0]["id"], id.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_are_problems_with_the_status_the_document_gives() {
    let api = TestApi::start("").await;
    api.post("/v1/jobs", json!({"runner": "nope"}), None)
        .await
        .problem(StatusCode::NOT_FOUND, "nope");
    let refused = api
        .post(
            "/v1/jobs",
            json!({"runner": "demo", "params": {"n": "x"}}),
            None,
        )
        .await;
    refused.problem(StatusCode::UNPROCESSABLE_ENTITY, "pattern");
    assert_eq!(refused.body["field"], "params.n");
    api.get("/v1/jobs?limit=0", None)
        .await
        .problem(StatusCode::BAD_REQUEST, "limit");
    api.get("/v1/jobs/%ff", None)
        .await
        .problem(StatusCode::BAD_REQUEST, "UTF-8");
    api.get("/v1/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV", None)
        .await
        .problem(StatusCode::NOT_FOUND, "01ARZ3NDEKTSV4RRFFQ69G5FAV");
    api.get("/v1/nowhere", None)
        .await
        .problem(StatusCode::NOT_FOUND, "/v1/nowhere");
    let wrong_type = Request::post("/v1/jobs")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("{}"))
        .unwrap();
    api.send(wrong_type)
        .await
        .problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "application/json");
    let too_big = json!({"runner": "demo", "labels": {"pad": "x".repeat(100_000)}});
    api.post("/v1/jobs", too_big, None)
        .await
        .problem(StatusCode::PAYLOAD_TOO_LARGE, "server.max_body");
}

#[tokio::test(flavor = "multi_thread")]
async fn scopes_gate_every_route() {
    let api = TestApi::start(&format!(
        "[[auth.tokens]]\nname = \"op\"\ntoken = \"{ADMIN}\"\nscopes = [\"admin\"]\n\
         [[auth.tokens]]\nname = \"viewer\"\ntoken = \"{READER}\"\nscopes = [\"read\"]\n"
    ))
    .await;
    let missing = api.get("/v1/jobs", None).await;
    missing.problem(StatusCode::UNAUTHORIZED, "bearer token");
    assert_eq!(missing.headers[header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(
        api.get("/v1/jobs", Some(READER)).await.status,
        StatusCode::OK
    );
    api.post("/v1/jobs", json!({"runner": "demo"}), Some(READER))
        .await
        .problem(StatusCode::FORBIDDEN, "'submit'");
    api.post("/v1/config/reload", json!({}), Some(READER))
        .await
        .problem(StatusCode::FORBIDDEN, "'admin'");
    let submitted = api
        .post("/v1/jobs", json!({"runner": "demo"}), Some(ADMIN))
        .await;
    assert_eq!(submitted.status, StatusCode::CREATED);
    // Probes and the document need no token.
    assert_eq!(api.get("/healthz", None).await.status, StatusCode::OK);
    let document = api.get("/openapi.json", None).await;
    assert_eq!(document.status, StatusCode::OK);
    assert!(document.body["paths"]["/v1/jobs"].is_object());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sweep_is_created_whole_or_not_at_all_and_shown_with_its_progress() {
    let api = TestApi::start("").await;
    let answer = api
        .post(
            "/v1/sweeps",
            json!({"runner": "demo", "matrix": {"n": ["1", "2", 3]}, "labels": {"team": "eval"}}),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let id = answer.body["id"].as_str().unwrap().to_owned();
    assert_eq!(answer.headers[header::LOCATION], format!("/v1/sweeps/{id}"));
    assert_eq!(answer.body["cells"], 3);
    // Every job carries the sweep's label and the sweep's own labels.
    let page = api
        .get(&format!("/v1/jobs?label=reef.sweep={id}"), None)
        .await;
    let jobs = page.body["jobs"].as_array().cloned().unwrap_or_default();
    let mut ns: Vec<&str> = jobs
        .iter()
        .filter_map(|j| j["params"]["n"].as_str())
        .collect();
    ns.sort();
    assert_eq!(ns, ["1", "2", "3"]);
    assert!(jobs.iter().all(|j| j["labels"]["team"] == "eval"));
    let shown = api.get(&format!("/v1/sweeps/{id}"), None).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert_eq!(shown.body["progress"]["total"], 3);
    let counted: u64 = shown.body["progress"]["states"]
        .as_object()
        .map(|s| s.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    assert_eq!(counted, 3, "{}", shown.body);
    let listed = api.get("/v1/sweeps?limit=1", None).await;
    assert_eq!(
        listed.body["sweeps"][0]["id"],
        id.as_str(),
        "{}",
        listed.body
    );
    api.get("/v1/sweeps?cursor=nope", None)
        .await
        .problem(StatusCode::BAD_REQUEST, "not a sweep id");

    // One refused cell refuses the sweep, naming the cell; nothing is written.
    let before = api.get("/v1/jobs", None).await.body["jobs"]
        .as_array()
        .map_or(0, Vec::len);
    api.post(
        "/v1/sweeps",
        json!({"runner": "demo", "matrix": {"n": ["4", "x"]}}),
        None,
    )
    .await
    .problem(StatusCode::UNPROCESSABLE_ENTITY, "cell n=\"x\"");
    api.post(
        "/v1/sweeps",
        json!({"runner": "demo", "matrix": {"n": ["4", "4"]}}),
        None,
    )
    .await
    .problem(StatusCode::UNPROCESSABLE_ENTITY, "appears more than once");
    api.post("/v1/sweeps", json!({"runner": "demo", "matrix": {}}), None)
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "at least one parameter");
    let after = api.get("/v1/jobs", None).await.body["jobs"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(before, after);
    api.get("/v1/sweeps/01J0000000000000000000000Z", None)
        .await
        .problem(StatusCode::NOT_FOUND, "does not exist");
    api.get("/v1/sweeps/not-a-sweep", None)
        .await
        .problem(StatusCode::NOT_FOUND, "not-a-sweep");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_matrix_over_the_configured_cell_limit_is_refused_naming_it() {
    let api = TestApi::start("[sweeps]\nmax_cells = 2\n").await;
    api.post(
        "/v1/sweeps",
        json!({"runner": "demo", "matrix": {"n": ["1", "2", "3"]}}),
        None,
    )
    .await
    .problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "over the limit of 2 (sweeps.max_cells)",
    );
    let fits = api
        .post(
            "/v1/sweeps",
            json!({"runner": "demo", "matrix": {"n": ["1", "2"]}}),
            None,
        )
        .await;
    assert_eq!(fits.status, StatusCode::CREATED, "{}", fits.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sweep_grid_has_a_cell_per_combination_as_json_or_csv() {
    let api = TestApi::start("params.m = { default = \"a\" }\n").await;
    let created = api
        .post(
            "/v1/sweeps",
            json!({"runner": "demo", "matrix": {"n": ["1", "2", "3"], "m": ["a", "b"]}}),
            None,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let grid = api
        .get(&format!("/v1/sweeps/{id}/grid?rows=n&cols=m"), None)
        .await;
    assert_eq!(grid.status, StatusCode::OK, "{}", grid.body);
    assert_eq!(grid.body["rows"]["values"], json!(["1", "2", "3"]));
    assert_eq!(grid.body["cols"]["values"], json!(["a", "b"]));
    let cells = grid.body["cells"].as_array().cloned().unwrap_or_default();
    assert_eq!(cells.len(), 3);
    // Each cell is the job of its own combination.
    for (r, n) in ["1", "2", "3"].iter().enumerate() {
        for (c, m) in ["a", "b"].iter().enumerate() {
            let job_id = cells[r][c]["job_id"].as_str().expect("a cell");
            let job = api.get(&format!("/v1/jobs/{job_id}"), None).await;
            assert_eq!(job.body["params"], json!({"n": n, "m": m}), "{r},{c}");
        }
    }
    // By default the matrix's parameters in name order: `m` down, `n` across.
    let default = api.get(&format!("/v1/sweeps/{id}/grid"), None).await;
    assert_eq!(default.body["rows"]["param"], "m");
    assert_eq!(default.body["cols"]["param"], "n");
    let request = Request::get(format!("/v1/sweeps/{id}/grid?rows=n&cols=m&format=csv"))
        .body(Body::empty())
        .unwrap();
    let response = api.router.clone().oneshot(request).await.unwrap();
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/csv; charset=utf-8"
    );
    let csv = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let csv = String::from_utf8_lossy(&csv).into_owned();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 7, "{csv}");
    assert!(lines[0].starts_with("n,m,job_id,state"), "{csv}");
    assert!(lines[1].starts_with("1,a,"), "{csv}");
    for bad in ["rows=zzz", "rows=n&cols=n", "format=xml", "rows=n&colz=m"] {
        let answer = api.get(&format!("/v1/sweeps/{id}/grid?{bad}"), None).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            answer.body
        );
    }
}

//! What outside testing found, each checked against the real host: a reload that would switch
//! authentication off on a public socket, parameters and result files reaching outside the
//! workdir, values that can never run, rejected uploads kept whole, idle and slow connections,
//! and the API's rough edges (cursors that wrap, errors that were not problems).

use reef_e2e::{Reef, benchmark, demo_config, wait_for};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);
const ADMIN: &str = "admin-secret-0123456789";

fn rewrite(reef: &Reef, config: &str) {
    let config = config
        .replace("@BIN@", &reef_e2e::bin_dir().to_string_lossy())
        .replace("@WORK@", &reef.work().to_string_lossy());
    let next = reef.dir.path().join(".reef.toml.new");
    std::fs::write(&next, config).unwrap();
    std::fs::rename(next, reef.dir.path().join("reef.toml")).unwrap();
}

#[test]
fn a_reload_cannot_switch_authentication_off_on_a_public_socket() {
    let with_tokens = demo_config(&format!(
        "[server]\nlisten = \"0.0.0.0:0\"\nwatch_config = false\n\
         [[auth.tokens]]\nname = \"op\"\ntoken = \"{ADMIN}\"\nscopes = [\"admin\"]\n"
    ));
    // The address comes from the file (no --listen), as in the report.
    let dir = tempfile::tempdir().unwrap();
    let mut reef = Reef::try_start_in(dir, &with_tokens, &[], "")
        .unwrap_or_else(|log| panic!("reef did not start:\n{log}"));
    reef.get("/v1/jobs").assert_problem(401, "bearer token");
    reef.token = Some(ADMIN.into());
    assert_eq!(reef.get("/v1/jobs").status, 200);

    // Every token removed, and the file now says loopback: the socket is still public.
    rewrite(
        &reef,
        &demo_config("[server]\nlisten = \"127.0.0.1:0\"\nwatch_config = false\n"),
    );
    let refused = reef.post("/v1/config/reload", &json!({}));
    refused.assert_problem(422, "without authentication");
    assert_eq!(refused.json()["field"], "auth.tokens", "{}", refused.text);
    assert!(refused.text.contains("0.0.0.0"), "{}", refused.text);

    // Nothing changed: a call without a token is still refused, the admin token still works.
    reef.token = None;
    reef.get("/v1/jobs").assert_problem(401, "bearer token");
    reef.request("POST", "/v1/config/reload", Some("{}"))
        .assert_problem(401, "bearer token");
    reef.token = Some(ADMIN.into());
    assert_eq!(reef.get("/v1/jobs").status, 200);
    assert_eq!(
        reef.metric("reef_config_reloads_total{result=\"failure\"}"),
        Some(1.0)
    );

    // A SIGHUP reload of the same file is refused the same way.
    reef.signal(libc::SIGHUP);
    wait_for("the SIGHUP reload to be refused", T, || {
        (reef.metric("reef_config_reloads_total{result=\"failure\"}") == Some(2.0)).then_some(())
    });
    reef.token = None;
    reef.get("/v1/jobs").assert_problem(401, "bearer token");
}

/// A work dir with benchmarks inside, and ways out of it: a secret outside, a symlink to it, a
/// symlinked directory leading out.
fn escape_routes(reef: &Reef) -> tempfile::TempDir {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("secret.yml"),
        "name: secret\nsteps: 1\nsecret: hunter2\n",
    )
    .unwrap();
    let benchmarks = reef.work().join("benchmarks");
    std::fs::create_dir_all(&benchmarks).unwrap();
    std::fs::copy(benchmark("success.yml"), benchmarks.join("success.yml")).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.yml"),
        benchmarks.join("evil.yml"),
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.path(), reef.work().join("elsewhere")).unwrap();
    outside
}

const PATH_RUNNER: &str = r#"
[runners.bench]
command = ["@BIN@/demo-runner", "{benchmark}", "--agent", "deterministic", "--execution-id", "{job_id}"]
workdir = "@WORK@"
[runners.bench.params]
benchmark = { required = true, kind = "path", pattern = "^[A-Za-z0-9_./-]+\\.ya?ml$" }
[runners.bench.result]
file = "logs/sessions/session_{job_id}.json"
success = "/final_result/success"

[runners.report]
command = ["/bin/sh", "-c", "echo '{{\"ok\": true}}' > out.json"]
workdir = "@WORK@"
[runners.report.params]
out = { default = "out.json", pattern = "^[A-Za-z0-9_./-]+$" }
[runners.report.result]
file = "{out}"
"#;

#[test]
fn parameters_and_result_files_stay_inside_the_workdir() {
    let reef = Reef::start(PATH_RUNNER);
    let _outside = escape_routes(&reef);
    let refuse = |value: &str, needle: &str| {
        let answer = reef.post(
            "/v1/jobs",
            &json!({"runner": "bench", "params": {"benchmark": value}}),
        );
        answer.assert_problem(422, needle);
        assert_eq!(
            answer.json()["field"],
            "params.benchmark",
            "{}",
            answer.text
        );
    };
    let secret = _outside.path().join("secret.yml");
    refuse(&secret.to_string_lossy(), "absolute path");
    refuse("../x.yml", "'..'");
    refuse("benchmarks/../../x.yml", "'..'");
    refuse("benchmarks/evil.yml", "symlink benchmarks/evil.yml");
    refuse("elsewhere/secret.yml", "symlink elsewhere");
    assert!(reef.jobs().is_empty(), "nothing was created");

    // A path inside runs, and the runner gets it in its normal form.
    let id = reef.submit("bench", json!({"benchmark": "./benchmarks//success.yml"}));
    let job = reef.wait_done(&id, T);
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["params"]["benchmark"], "benchmarks/success.yml");

    // A result file named by a parameter cannot be pointed at the host's own database.
    let database = reef.database();
    let relative = pathdiff(&database, &reef.work());
    for out in [relative.as_str(), "elsewhere/secret.yml"] {
        let id = reef.submit("report", json!({"out": out}));
        let job = reef.wait_done(&id, T);
        assert!(job["result"].is_null(), "{job}");
        let note = job["attempts"][0]["result_error"].as_str().unwrap_or("");
        assert!(note.contains("refused"), "{out}: {job}");
    }
    // Inside the workdir the same runner's result is read.
    let id = reef.submit("report", json!({}));
    assert_eq!(reef.wait_done(&id, T)["result"], json!({"ok": true}));
}

/// `target` relative to `base` (both absolute), with `..` as needed.
fn pathdiff(target: &std::path::Path, base: &std::path::Path) -> String {
    let target: Vec<_> = target.components().collect();
    let base: Vec<_> = base.components().collect();
    let common = target.iter().zip(&base).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".into(); base.len() - common];
    parts.extend(
        target[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

#[test]
fn a_result_template_outside_the_workdir_is_a_config_error_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let config = "[runners.r]\ncommand = [\"true\"]\nresult.file = \"/var/tmp/{job_id}.json\"\n";
    let log = Reef::try_start_in(dir, config, &[], "127.0.0.1:0")
        .err()
        .expect("refused");
    assert!(
        log.contains("runners.r.result.file") && log.contains("allow_outside_workdir"),
        "{log}"
    );
    let allowed = format!("{config}result.allow_outside_workdir = true\n");
    let reef = Reef::start(&allowed);
    assert_eq!(reef.get("/v1/runners").status, 200);
}

#[test]
fn values_that_can_never_run_are_refused_at_submit() {
    let reef = Reef::start(&demo_config(""));
    let bench = benchmark("success.yml");
    let answer = reef.post(
        "/v1/jobs",
        &json!({"runner": "demo", "params": {"benchmark": bench, "agent": "determ\u{0}inistic"}}),
    );
    answer.assert_problem(422, "NUL");
    assert_eq!(answer.json()["field"], "params.agent");
    let answer = reef.post(
        "/v1/jobs",
        &json!({"runner": "demo", "params": {"benchmark": bench}, "labels": {"team": "a\u{0}b"}}),
    );
    answer.assert_problem(422, "NUL");
    assert_eq!(answer.json()["field"], "labels.team");
    // The same on the synchronous path.
    reef.post(
        "/v1/runners/demo/invoke?wait=0s",
        &json!({"benchmark": format!("{bench}\u{0}")}),
    )
    .assert_problem(422, "NUL");
    assert!(reef.jobs().is_empty(), "nothing was created");
}

#[test]
fn rejected_uploads_keep_their_report_not_their_bytes() {
    let reef = Reef::start(&demo_config(""));
    let size = || std::fs::metadata(reef.database()).unwrap().len();
    let before = size();
    // Ten distinct megabytes of garbage, each refused.
    for i in 0..10u8 {
        let mut garbage = vec![i; 1 << 20];
        garbage[..8].copy_from_slice(b"\0asm\x0d\0\x01\0");
        let answer = reef.put_bytes("/v1/policies/default", &garbage);
        answer.assert_problem(422, "rejected");
        assert_eq!(answer.json()["version"]["report"]["valid"], false);
    }
    let grown = size().saturating_sub(before);
    assert!(
        grown < 2 << 20,
        "10 MiB of refused uploads grew the database by {grown} bytes"
    );
    // Their reports are there to read, at most 20 of them kept.
    let versions = reef.get("/v1/policies/default").json()["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["report"]["valid"] == false)
        .count();
    assert_eq!(versions, 10);
    for i in 0..15u8 {
        let mut garbage = vec![100 + i; 1024];
        garbage[..8].copy_from_slice(b"\0asm\x0d\0\x01\0");
        reef.put_bytes("/v1/policies/default", &garbage)
            .assert_problem(422, "rejected");
    }
    let show = reef.get("/v1/policies/default").json();
    let rejected = show["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["report"]["valid"] == false)
        .count();
    assert_eq!(rejected, 20, "the oldest rejections are forgotten");
}

#[test]
fn a_component_too_big_for_the_memory_limit_is_told_how_much_and_judged_again() {
    let big = std::fs::read(reef_e2e::plugin("reef_policy_fixture_big_memory")).unwrap();
    // The pool is sized for 32 MiB at start; the limit in force is then lowered to 16 MiB.
    let config = |memory: &str| {
        demo_config(&format!(
            "[server]\nwatch_config = false\n[policy]\nmax_memory = \"{memory}\"\n"
        ))
    };
    let reef = Reef::start(&config("32 MiB"));
    rewrite(&reef, &config("16 MiB"));
    assert_eq!(reef.post("/v1/config/reload", &json!({})).status, 200);
    let started = Instant::now();
    let refused = reef.put_bytes("/v1/policies/default?label=big", &big);
    let took = started.elapsed();
    refused.assert_problem(
        422,
        "MiB of linear memory when it starts, more than policy.max_memory (16 MiB): raise policy.max_memory to at least",
    );
    assert!(
        !refused.text.contains("0x"),
        "sizes in the config's units: {}",
        refused.text
    );
    assert!(took < Duration::from_secs(5), "refused in {took:?}");
    // Raised again: the same bytes are judged under the new limit, not by the old verdict.
    rewrite(&reef, &config("32 MiB"));
    assert_eq!(reef.post("/v1/config/reload", &json!({})).status, 200);
    let accepted = reef.put_bytes("/v1/policies/default?label=big&activate=true", &big);
    assert_eq!(accepted.status, 201, "{}", accepted.text);
    let id = reef.submit("demo", json!({"benchmark": benchmark("success.yml")}));
    assert_eq!(reef.wait_done(&id, T)["state"], "succeeded");
}

#[test]
fn a_policy_file_once_refused_is_judged_again_at_the_next_start() {
    let big = reef_e2e::plugin("reef_policy_fixture_big_memory");
    let config = |memory: &str| {
        demo_config(&format!(
            "[policy]\nfile = \"{}\"\nmax_memory = \"{memory}\"\n",
            big.display()
        ))
    };
    // `reef config check` judges the file as a start would.
    let checked = tempfile::tempdir().unwrap();
    let check = |memory: &str| {
        let file = checked.path().join("reef.toml");
        std::fs::write(&file, config(memory).replace("@BIN@", "/usr/bin")).unwrap();
        std::process::Command::new(reef_e2e::bin("reef"))
            .args(["config", "check"])
            .arg(&file)
            .output()
            .unwrap()
    };
    let refused = check("16 MiB");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("policy.file") && stderr.contains("raise policy.max_memory"),
        "{stderr}"
    );
    let accepted = check("32 MiB");
    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );

    // Both starts share one state directory (each host's data dir links to it).
    let state = tempfile::tempdir().unwrap();
    let host_dir = || {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(state.path(), dir.path().join("data")).unwrap();
        dir
    };
    let log = match Reef::try_start_in(host_dir(), &config("16 MiB"), &[], "127.0.0.1:0") {
        Err(log) => log,
        Ok(_) => panic!("a policy.file that cannot fit must stop the start"),
    };
    assert!(log.contains("raise policy.max_memory"), "{log}");
    // The refusal is not remembered against the file: with the limit raised it starts on it.
    let reef = Reef::start_in(host_dir(), &config("32 MiB"), &[]);
    let active = reef.get("/v1/policies/default").json()["active"].to_string();
    assert!(
        active.contains("reef_policy_fixture_big_memory"),
        "{active}"
    );
    let id = reef.submit("demo", json!({"benchmark": benchmark("success.yml")}));
    assert_eq!(reef.wait_done(&id, T)["state"], "succeeded");
}

/// Sends `request` as is on a connection of its own and returns everything the host answers
/// until it closes the connection.
fn raw(reef: &Reef, request: &str) -> String {
    let mut stream = connect(reef);
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// Opens a raw connection to the host.
fn connect(reef: &Reef) -> TcpStream {
    let addr = reef.url.trim_start_matches("http://");
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    stream
}

/// True once the server closed `stream` (EOF or reset); false while it is still open. Never
/// waits.
fn closed(stream: &mut TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

#[test]
fn thousands_of_idle_connections_neither_keep_requests_out_nor_stay_open() {
    let reef = Reef::start(&demo_config(
        "[server]\nheader_timeout = \"5s\"\nbody_timeout = \"2s\"\n",
    ));
    // 2000 connections: half send nothing, half stop in the middle of a header.
    let mut idle: Vec<TcpStream> = (0..2000)
        .map(|i| {
            let mut stream = connect(&reef);
            if i % 2 == 1 {
                stream
                    .write_all(b"GET /v1/jobs HTTP/1.1\r\nHost: reef\r\nX-Half: ")
                    .unwrap();
            }
            stream
        })
        .collect();
    // Meanwhile, ordinary requests are answered, and a job runs.
    assert_eq!(reef.get("/healthz").status, 200);
    // The kernel completes connections before the host accepts them: wait until it has.
    wait_for("the host to accept all 2000 connections", T, || {
        let open = reef.metric("reef_http_connections")?;
        (open >= 2000.0).then_some(())
    });
    assert!(
        idle.iter_mut().all(|s| !closed(s)),
        "all still open within the header timeout"
    );
    let id = reef.submit("demo", json!({"benchmark": benchmark("success.yml")}));
    assert_eq!(reef.wait_done(&id, T)["state"], "succeeded");
    // Then the header timeout closes every one of them.
    wait_for("the idle connections to be closed", T, || {
        idle.retain_mut(|s| !closed(s));
        idle.is_empty().then_some(())
    });

    // A body that stops arriving is answered 408 once server.body_timeout has passed.
    let answer = raw(
        &reef,
        "POST /v1/jobs HTTP/1.1\r\nHost: reef\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"runner\":",
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("server.body_timeout"), "{answer}");
}

#[test]
fn connections_over_the_cap_are_answered_503_and_closed() {
    let reef = Reef::start(&demo_config("[server]\nmax_connections = 20\n"));
    let mut held: Vec<TcpStream> = (0..40).map(|_| connect(&reef)).collect();
    let mut refused = 0;
    for stream in &mut held {
        // Those over the cap get a 503 at once; those under it get nothing (they sent nothing).
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut first = [0u8; 12];
        if stream.read_exact(&mut first).is_ok() && &first == b"HTTP/1.1 503" {
            refused += 1;
        }
    }
    assert!(refused >= 19, "{refused} of 40 were refused with a 503");
    drop(held);
    wait_for("the host to answer again", T, || {
        (reef.get("/healthz").status == 200).then_some(())
    });
    let counted = reef.metric("reef_http_connections_refused_total").unwrap();
    assert!(counted >= f64::from(refused), "{counted}");
}

#[test]
fn the_api_rough_edges_answer_as_they_should() {
    let mut reef = Reef::start(&demo_config(&format!(
        "[server]\nmax_body = \"64 KiB\"\n\
         [[auth.tokens]]\nname = \"op\"\ntoken = \"{ADMIN}\"\nscopes = [\"admin\"]\n"
    )));
    // The Bearer scheme is case-insensitive.
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let answer = reef.get_with(
            "/v1/jobs",
            &[("authorization", &format!("{scheme} {ADMIN}"))],
        );
        assert_eq!(answer.status, 200, "{scheme}: {}", answer.text);
    }
    reef.token = Some(ADMIN.into());

    // Every rejection is a problem: a path that is not UTF-8, an unknown query parameter on an
    // upload, a body of the wrong type.
    reef.get("/v1/jobs/%ff").assert_problem(400, "UTF-8");
    reef.get("/v1/jobs/%ff/logs").assert_problem(400, "UTF-8");
    let upload = reef.put_bytes("/v1/policies/default?bogus=1", b"\0asm");
    upload.assert_problem(400, "bogus");
    let answer = raw(
        &reef,
        &format!(
            "POST /v1/jobs HTTP/1.1\r\nHost: reef\r\nConnection: close\r\nAuthorization: Bearer {ADMIN}\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\n{{}}"
        ),
    );
    assert!(answer.starts_with("HTTP/1.1 415"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");

    // A body over server.max_body on invoke names server.max_body, not the upload limit.
    let big = json!({"benchmark": "x".repeat(100_000)});
    reef.post("/v1/runners/demo/invoke?wait=0s", &big)
        .assert_problem(413, "server.max_body");

    // The event cursor does not wrap: after the largest id there is nothing to replay, and the
    // stream stays open for what comes.
    let id = reef.submit("demo", json!({"benchmark": benchmark("success.yml")}));
    reef.wait_done(&id, T);
    for request in [
        "GET /v1/events?after=18446744073709551615 HTTP/1.1\r\n".to_owned(),
        "GET /v1/events HTTP/1.1\r\nLast-Event-ID: 18446744073709551615\r\n".to_owned(),
    ] {
        let mut stream = connect(&reef);
        write!(
            stream,
            "{request}Host: reef\r\nAuthorization: Bearer {ADMIN}\r\n\r\n"
        )
        .unwrap();
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_millis(1500);
        let mut eof = false;
        while Instant::now() < deadline {
            let mut buf = [0u8; 4096];
            match stream.read(&mut buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => seen.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
        let text = String::from_utf8_lossy(&seen);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(!text.contains("\nid:"), "nothing is replayed: {text}");
        assert!(!eof, "the stream stays open: {text}");
    }

    // Lists answer 400 for any query problem, as documented.
    reef.get("/v1/jobs?limit=1001").assert_problem(400, "limit");
    let value: Value = reef.get("/v1/jobs?limit=1000").json();
    assert!(value["jobs"].is_array());
}

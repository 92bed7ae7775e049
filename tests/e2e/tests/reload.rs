//! Config hot reload: `POST /v1/config/reload`, SIGHUP and a change of the file apply runners,
//! limits, tokens and the log level to the running host; an invalid file changes nothing and
//! says why.

use reef_e2e::{Reef, benchmark, demo_config, wait_for};
use serde_json::{Value, json};
use std::time::Duration;

/// Rewrites the config reef was started with (placeholders filled in as at start).
fn rewrite(reef: &Reef, config: &str) {
    let config = config
        .replace("@BIN@", &reef_e2e::bin_dir().to_string_lossy())
        .replace("@WORK@", &reef.work().to_string_lossy());
    // A new file renamed over the old one, as editors save.
    let path = reef.dir.path().join("reef.toml");
    let next = reef.dir.path().join(".reef.toml.new");
    std::fs::write(&next, config).unwrap();
    std::fs::rename(next, path).unwrap();
}

const ECHO_RUNNER: &str = r#"
[runners.echo]
command = ["/bin/sh", "-c", "echo said {word}"]
workdir = "@WORK@"
[runners.echo.params]
word = { required = true, pattern = "^[a-z]+$" }
"#;

/// Turns off reloading on file changes (it ends with the `[server]` table open).
const UNWATCHED: &str = "[server]\nwatch_config = false\n";

fn runner_names(reef: &Reef) -> Vec<String> {
    reef.get("/v1/runners")
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

fn reload_count(reef: &Reef, result: &str) -> u64 {
    let text = reef.get("/metrics").text;
    let line = format!("reef_config_reloads_total{{result=\"{result}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {line} in /metrics"))
}

#[test]
fn api_reload_applies_runners_limits_and_tokens_and_names_what_needs_a_restart() {
    // The file is not watched here, so each reload below is the API call's own.
    let mut reef = Reef::start(&demo_config(UNWATCHED));
    assert_eq!(runner_names(&reef), ["demo"]);
    assert_eq!(reload_count(&reef, "success"), 0);

    let changed = demo_config(&format!("{ECHO_RUNNER}\n{UNWATCHED}max_body = \"2 MiB\"\n"))
        .replace("max_concurrency = 4", "max_concurrency = 6");
    rewrite(&reef, &changed);
    let answer = reef.post("/v1/config/reload", &json!({}));
    assert_eq!(answer.status, 200, "{}", answer.text);
    let report = answer.json();
    let applied: Vec<&str> = report["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert!(applied.contains(&"runners.echo"), "{report}");
    assert!(applied.contains(&"scheduler.max_concurrency"), "{report}");
    assert_eq!(report["restart_required"], json!(["server.max_body"]));
    assert_eq!(report["trigger"], "api");

    // The new runner takes jobs at once, and they run.
    assert_eq!(runner_names(&reef), ["demo", "echo"]);
    let id = reef.submit("echo", json!({"word": "hello"}));
    let job = reef.wait_done(&id, Duration::from_secs(30));
    assert_eq!(job["state"], "succeeded", "{job}");
    let logs = reef.get(&format!("/v1/jobs/{id}/logs?stream=stdout")).text;
    assert!(logs.contains("said hello"), "{logs}");
    assert!(reload_count(&reef, "success") >= 1);

    // Tokens: from now on requests need one.
    rewrite(
        &reef,
        &(changed.clone()
            + "\n[[auth.tokens]]\nname = \"op\"\ntoken = \"s3cret-token-value\"\nscopes = [\"admin\"]\n"),
    );
    let answer = reef.post("/v1/config/reload", &json!({}));
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(reef.get("/v1/jobs").status, 401);
    reef.token = Some("s3cret-token-value".into());
    assert_eq!(reef.get("/v1/jobs").status, 200);

    // Removing a runner: its queued jobs wait, and run once it is back.
    rewrite(
        &reef,
        &(demo_config(UNWATCHED)
            + "\n[[auth.tokens]]\nname = \"op\"\ntoken = \"s3cret-token-value\"\nscopes = [\"admin\"]\n"),
    );
    let report = reef.post("/v1/config/reload", &json!({})).json();
    assert!(
        report["warnings"][0]
            .as_str()
            .is_some_and(|w| w.starts_with("runners.echo: removed")),
        "{report}"
    );
    reef.post(
        "/v1/jobs",
        &json!({"runner": "echo", "params": {"word": "x"}}),
    )
    .assert_problem(404, "echo");
}

#[test]
fn an_invalid_file_changes_nothing_and_says_why() {
    let reef = Reef::start(&demo_config(UNWATCHED));
    rewrite(
        &reef,
        &demo_config(UNWATCHED).replace("max_concurrency = 4", "max_concurency = 9"),
    );
    let answer = reef.post("/v1/config/reload", &json!({}));
    answer.assert_problem(422, "scheduler.max_concurency");
    let problem = answer.json();
    assert_eq!(problem["field"], "scheduler.max_concurency", "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("did you mean `max_concurrency`?"),
        "{problem}"
    );
    assert_eq!(reload_count(&reef, "failure"), 1);
    assert!(
        reef.log().contains("config reload rejected"),
        "{}",
        reef.log()
    );

    // A value that parses but is not acceptable is refused too, naming the field.
    rewrite(
        &reef,
        &demo_config(UNWATCHED).replace("max_attempts = 3", "max_attempts = 0"),
    );
    reef.post("/v1/config/reload", &json!({}))
        .assert_problem(422, "runners.demo.max_attempts");

    // The host still runs on its old config.
    let id = reef.submit("demo", json!({"benchmark": benchmark("success.yml")}));
    let job = reef.wait_done(&id, Duration::from_secs(30));
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(runner_names(&reef), ["demo"]);
}

#[test]
fn a_file_change_and_sighup_reload_without_an_api_call() {
    let reef = Reef::start(&demo_config(""));
    rewrite(&reef, &demo_config(ECHO_RUNNER));
    wait_for(
        "the file change to add runner echo",
        Duration::from_secs(20),
        || {
            runner_names(&reef)
                .contains(&"echo".to_owned())
                .then_some(())
        },
    );
    assert!(reef.log().contains("trigger=File"), "{}", reef.log());
    // Reading the file (as the reload just did, or as an operator's `cat` does) and touching it
    // without changing it are not changes: the count holds still.
    let reloads = reload_count(&reef, "success");
    let file = reef.dir.path().join("reef.toml");
    let _ = std::fs::read(&file).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(reload_count(&reef, "success"), reloads, "{}", reef.log());

    reef.signal(libc::SIGHUP);
    wait_for("a reload by SIGHUP", Duration::from_secs(20), || {
        reef.log().contains("trigger=Signal").then_some(())
    });
    // SIGHUP is a reload, not a stop.
    assert_eq!(reef.get("/healthz").status, 200);
}

#[test]
fn changing_a_runners_pools_requeues_its_waiting_jobs() {
    // One slot of `gate` held by a job that waits for its gate file; two more queue behind it.
    let gate = tempfile::tempdir().unwrap();
    let held = gate.path().join("release");
    let bench = gate.path().join("held.yml");
    std::fs::write(
        &bench,
        format!("id: held\nsteps: 1\nstep_ms: 1\ngate: {}\n", held.display()),
    )
    .unwrap();
    let pooled = demo_config(&format!("{UNWATCHED}[resources]\ngate = 1\n")).replace(
        "max_attempts = 3",
        "max_attempts = 3\nresources = [\"gate\"]",
    );
    let reef = Reef::start(&pooled);
    let bench = bench.to_string_lossy().into_owned();
    let first = reef.submit("demo", json!({"benchmark": bench}));
    reef.wait_state(&first, "running", Duration::from_secs(30));
    let waiting: Vec<String> = (0..2)
        .map(|_| reef.submit("demo", json!({"benchmark": benchmark("success.yml")})))
        .collect();
    // Dropping the pool from the runner (and from [resources]) lets the queued jobs run now.
    rewrite(&reef, &demo_config(UNWATCHED));
    let report = reef.post("/v1/config/reload", &json!({})).json();
    assert!(
        report["applied"]
            .as_array()
            .unwrap()
            .contains(&json!("runners.demo.resources")),
        "{report}"
    );
    for id in &waiting {
        let job = reef.wait_done(id, Duration::from_secs(30));
        assert_eq!(job["state"], "succeeded", "{job}");
    }
    assert_eq!(reef.job(&first)["state"], "running");
    std::fs::write(&held, "").unwrap();
    assert_eq!(
        reef.wait_done(&first, Duration::from_secs(30))["state"],
        "succeeded"
    );
}

#[test]
fn the_log_level_changes_live() {
    let dir = tempfile::tempdir().unwrap();
    // Quiet but for the line that tells the harness where reef listens.
    let quiet = demo_config(&format!(
        "{UNWATCHED}[telemetry]\nlog_level = \"warn,reef_server::server=info\"\n"
    ));
    let reef = Reef::start_in(dir, &quiet, &[("REEF_LOG", "")]);
    let first = reef.submit("demo", json!({"benchmark": benchmark("success.yml")}));
    reef.wait_done(&first, Duration::from_secs(30));
    assert!(!reef.log().contains("attempt started"), "{}", reef.log());

    rewrite(
        &reef,
        &demo_config(&format!("{UNWATCHED}[telemetry]\nlog_level = \"info\"\n")),
    );
    let report: Value = reef.post("/v1/config/reload", &json!({})).json();
    assert_eq!(
        report["applied"],
        json!(["telemetry.log_level"]),
        "{report}"
    );
    let second = reef.submit("demo", json!({"benchmark": benchmark("success.yml")}));
    reef.wait_done(&second, Duration::from_secs(30));
    let log = reef.log();
    assert!(
        log.lines()
            .any(|l| l.contains("attempt started") && l.contains(&second)),
        "{log}"
    );
}

#[test]
fn policy_call_limits_change_live() {
    let reef = Reef::start(&demo_config(UNWATCHED));
    let limits = |reef: &Reef| reef.get("/v1/policies/default").json()["active"]["limits"].clone();
    assert_eq!(limits(&reef)["call_timeout_ms"], 200);
    rewrite(
        &reef,
        &demo_config(&format!(
            "{UNWATCHED}[policy]\ncall_timeout = \"350ms\"\nmax_cpu = \"80ms\"\n"
        )),
    );
    let report = reef.post("/v1/config/reload", &json!({})).json();
    assert_eq!(
        report["applied"],
        json!(["policy.call_timeout", "policy.max_cpu"]),
        "{report}"
    );
    assert_eq!(limits(&reef)["call_timeout_ms"], 350);
    assert_eq!(limits(&reef)["max_cpu_ms"], 80);
    // Decisions go on under the new limits.
    let id = reef.submit("demo", json!({"benchmark": benchmark("success.yml")}));
    assert_eq!(
        reef.wait_done(&id, Duration::from_secs(30))["state"],
        "succeeded"
    );
}

#[test]
fn sighup_while_starting_does_not_stop_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("reef.toml");
    std::fs::write(&config, "[runners.t]\ncommand = [\"/bin/true\"]\n").unwrap();
    let log = std::fs::File::create(dir.path().join("reef.log")).unwrap();
    let mut child = std::process::Command::new(reef_e2e::bin("reef"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    // A reload may come at any moment once reef runs (systemd's Type=notify holds reloads back
    // until reef says it is ready; a plain `kill -HUP` does not): from its first log line on.
    let started = std::time::Instant::now();
    while std::fs::read_to_string(dir.path().join("reef.log"))
        .unwrap_or_default()
        .is_empty()
    {
        assert!(started.elapsed() < Duration::from_secs(20), "no log line");
        std::thread::sleep(Duration::from_millis(1));
    }
    let serving = loop {
        // SAFETY: kill(2) on our own, not yet reaped, child.
        unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
        let text = std::fs::read_to_string(dir.path().join("reef.log")).unwrap_or_default();
        if text.contains("reef is serving") || child.try_wait().unwrap().is_some() {
            break text.contains("reef is serving");
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{text}");
        std::thread::sleep(Duration::from_millis(2));
    };
    let alive = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        serving && alive,
        "{}",
        std::fs::read_to_string(dir.path().join("reef.log")).unwrap_or_default()
    );
}

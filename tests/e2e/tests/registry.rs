//! The policy registry over HTTP: upload with validation, atomic activation, rollback, deletion,
//! refusals that leave the active policy deciding, persistence across restarts, and swaps under
//! a stream of jobs.

use reef_e2e::{Reef, benchmark, demo_config, plugin};
use serde_json::{Value, json};
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

fn upload(reef: &Reef, name: &str) -> reef_e2e::Answer {
    let bytes = std::fs::read(plugin(name)).unwrap();
    reef.put_bytes(&format!("/v1/policies/default?label={name}"), &bytes)
}

fn active_digest(reef: &Reef) -> String {
    reef.get("/v1/policies/default").json()["state"]["active"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn upload_activate_and_roll_back() {
    let reef = Reef::start(&demo_config(""));
    let embedded = active_digest(&reef);
    let answer = upload(&reef, "reef_policy_backoff");
    assert_eq!(answer.status, 201, "{}", answer.text);
    let version = answer.json();
    assert_eq!(version["report"]["valid"], true);
    assert_eq!(version["label"], "reef_policy_backoff");
    assert_eq!(version["uploader"], "anonymous");
    assert!(version["report"]["self_test"].as_array().unwrap().len() >= 10);
    let digest = version["digest"].as_str().unwrap().to_owned();
    assert_eq!(
        active_digest(&reef),
        embedded,
        "uploading does not activate"
    );

    let state = reef.post("/v1/policies/default/activate", &json!({"digest": digest}));
    assert_eq!(state.status, 200, "{}", state.text);
    assert_eq!(active_digest(&reef), digest);
    let show = reef.get("/v1/policies/default").json();
    assert_eq!(show["active"]["digest"], digest.as_str());
    assert_eq!(show["state"]["history"], json!([embedded]));
    // The new policy decides: usage errors are not retried under the backoff example.
    let id = reef.submit("demo", json!({"benchmark": benchmark("exit2.yml")}));
    assert_eq!(
        reef.wait_done(&id, T)["reason"],
        "exit_code:2 (not retryable)"
    );

    let state = reef.post("/v1/policies/default/rollback", &json!({}));
    assert_eq!(state.status, 200, "{}", state.text);
    assert_eq!(
        active_digest(&reef),
        embedded,
        "rollback restores the previous digest"
    );
    let id = reef.submit("demo", json!({"benchmark": benchmark("exit2.yml")}));
    let job = reef.wait_done(&id, T);
    assert_eq!(job["reason"], "exit_code:2");
    assert_eq!(
        job["attempts"].as_array().unwrap().len(),
        3,
        "the default retries again"
    );
    // Each retry, and the requeue that carries it out, names the policy that decided it.
    let events = reef.get(&format!("/v1/jobs/{id}/events")).json();
    let decided: Vec<(&str, &str)> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["transition"] == "retry" || e["transition"] == "requeue")
        .map(|e| {
            (
                e["transition"].as_str().unwrap(),
                e["policy"].as_str().unwrap_or("none"),
            )
        })
        .collect();
    assert_eq!(decided.len(), 4, "{events}");
    assert!(
        decided.iter().all(|(_, by)| *by == embedded),
        "{decided:?} should all name {embedded}"
    );
    reef.post("/v1/policies/default/rollback", &json!({}))
        .assert_problem(409, "no earlier version");

    // Deleting: not the active version; then the other one goes.
    let path = format!("/v1/policies/default/versions/{embedded}");
    reef.request("DELETE", &path, None)
        .assert_problem(409, "active");
    assert_eq!(
        reef.request(
            "DELETE",
            &format!("/v1/policies/default/versions/{digest}"),
            None
        )
        .status,
        204
    );
    let versions = reef.get("/v1/policies/default").json()["versions"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(versions, 1);
    reef.post("/v1/policies/default/activate", &json!({"digest": digest}))
        .assert_problem(404, &digest);
}

#[test]
fn bad_uploads_are_refused_with_reasons_and_the_active_policy_keeps_deciding() {
    let reef = Reef::start(&demo_config("[policy]\nmax_upload = \"512 KiB\""));
    let before = active_digest(&reef);
    let corrupt = reef.put_bytes("/v1/policies/default", b"\0asm this is not a component");
    corrupt.assert_problem(422, "not a valid policy component");
    upload(&reef, "reef_policy_fixture_future_wit").assert_problem(422, "reef:policy@0.2.0");
    upload(&reef, "reef_policy_fixture_reads_files").assert_problem(422, "wasi:filesystem");
    let failing = upload(&reef, "reef_policy_fixture_fails_selftest");
    failing.assert_problem(422, "self-test 'pick with no candidates'");
    let rejected = failing.json()["version"]["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    reef.post(
        "/v1/policies/default/activate",
        &json!({"digest": rejected}),
    )
    .assert_problem(409, "failed validation");
    reef.put_bytes("/v1/policies/default", &vec![0u8; 600 * 1024])
        .assert_problem(413, "max_upload");
    reef.put_bytes(
        "/v1/policies/other",
        &std::fs::read(plugin("reef_policy_backoff")).unwrap(),
    )
    .assert_problem(404, "slot 'other'");
    assert_eq!(
        active_digest(&reef),
        before,
        "the active policy is untouched"
    );
    let rejected_kept = reef.get("/v1/policies/default").json()["versions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["digest"] == rejected.as_str() && v["report"]["valid"] == false);
    assert!(rejected_kept, "rejected uploads are kept with their report");
    let id = reef.submit("demo", json!({"benchmark": benchmark("success.yml")}));
    assert_eq!(reef.wait_done(&id, T)["state"], "succeeded");
}

#[test]
fn policy_changes_need_the_admin_scope() {
    let config = demo_config(
        r#"
[[auth.tokens]]
name = "ci"
token = "submit-token-0123456789"
scopes = ["submit"]
[[auth.tokens]]
name = "ops"
token = "admin-token-0123456789"
scopes = ["admin"]
"#,
    );
    let mut reef = Reef::start(&config);
    reef.token = Some("submit-token-0123456789".into());
    upload(&reef, "reef_policy_backoff").assert_problem(403, "admin");
    assert_eq!(
        reef.get("/v1/policies").status,
        200,
        "reading needs only read"
    );
    reef.token = Some("admin-token-0123456789".into());
    let answer = upload(&reef, "reef_policy_backoff");
    assert_eq!(answer.status, 201, "{}", answer.text);
    assert_eq!(answer.json()["uploader"], "ops");
}

#[test]
fn the_registry_and_the_active_version_survive_a_restart_without_recompiling() {
    let config = demo_config("");
    let reef = Reef::start(&config);
    let digest = upload(&reef, "reef_policy_growing_timeout").json()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        reef.post("/v1/policies/default/activate", &json!({"digest": digest}))
            .status,
        200
    );
    let dir = reef.terminate();
    let reef = Reef::start_in(dir, &config, &[]);
    let show = reef.get("/v1/policies/default").json();
    assert_eq!(show["state"]["active"], digest.as_str());
    assert_eq!(show["active"]["digest"], digest.as_str());
    assert_eq!(show["active"]["compiled_from_cache"], true, "{show}");
    assert_eq!(show["versions"].as_array().unwrap().len(), 2);
}

#[test]
fn swapping_back_and_forth_under_load_fails_and_loses_nothing() {
    let reef = Reef::start(&demo_config("").replace("max_concurrency = 2", "max_concurrency = 4"));
    let a = active_digest(&reef);
    let b = upload(&reef, "reef_policy_strict_priority").json()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(reef.submit("demo", json!({"benchmark": benchmark("success.yml")})));
        let target = if i % 2 == 0 { &b } else { &a };
        let answer = reef.post("/v1/policies/default/activate", &json!({"digest": target}));
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    for id in &ids {
        let job: Value = reef.wait_done(id, T);
        assert_eq!(job["state"], "succeeded", "{job}");
    }
    let history = reef.get("/v1/policies/default").json()["state"]["history"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(history, 20, "history is bounded");
}

#[test]
fn a_version_that_keeps_faulting_is_quarantined_and_the_last_good_one_restored() {
    let config = demo_config("[policy]\nquarantine_faults = 3\nquarantine_window = \"1m\"");
    let reef = Reef::start(&config);
    let good = active_digest(&reef);
    let chaos = upload(&reef, "reef_policy_fixture_chaos").json()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        reef.post("/v1/policies/default/activate", &json!({"digest": chaos}))
            .status,
        200
    );
    let ids: Vec<String> = (0..3)
        .map(|_| {
            let body = json!({"runner": "demo", "params": {"benchmark": benchmark("success.yml")}, "labels": {"chaos": "trap"}});
            reef.post("/v1/jobs", &body).json()["id"].as_str().unwrap().to_owned()
        })
        .collect();
    reef_e2e::wait_for("the quarantine", T, || {
        (active_digest(&reef) == good).then_some(())
    });
    let state = reef.get("/v1/policies/default").json()["state"].clone();
    assert_eq!(state["quarantined"][0]["digest"], chaos.as_str(), "{state}");
    assert_eq!(state["quarantined"][0]["restored"], good.as_str());
    assert_eq!(state["activated_by"], "quarantine");
    assert!(reef.log().contains("policy quarantined"));
    for id in &ids {
        assert_eq!(reef.wait_done(id, T)["state"], "succeeded");
    }
}

#[test]
fn the_policy_cli_pushes_lists_shows_activates_and_rolls_back() {
    let reef = Reef::start(&demo_config(""));
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(reef_e2e::bin("reef"))
            .arg("policy")
            .args(args)
            .args(["--url", &reef.url])
            .env_remove("REEF_TOKEN")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let embedded = active_digest(&reef);
    let backoff = plugin("reef_policy_backoff");
    let (code, stdout, stderr) = cli(&["push", backoff.to_str().unwrap(), "--label", "backoff-v1"]);
    assert_eq!(code, Some(0), "{stderr}");
    let digest = stdout
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap()
        .to_owned();
    let (_, listed, _) = cli(&["list"]);
    assert!(listed.contains(&embedded), "{listed}");
    let prefix = &digest["sha256:".len()..][..10];
    let (code, _, stderr) = cli(&["activate", prefix]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(active_digest(&reef), digest);
    let (_, shown, _) = cli(&["show"]);
    assert!(
        shown.contains(&format!("* {digest}")) && shown.contains("backoff-v1"),
        "{shown}"
    );
    let (code, _, _) = cli(&["rollback"]);
    assert_eq!(code, Some(0));
    assert_eq!(active_digest(&reef), embedded);
    let (code, _, stderr) = cli(&[
        "push",
        plugin("reef_policy_fixture_reads_files").to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("wasi:filesystem"), "{stderr}");
    let out = std::process::Command::new(reef_e2e::bin("reef"))
        .args(["policy", "list", "--url", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "an unreachable host is its own exit code: {stderr}"
    );
    assert!(stderr.contains("cannot reach reef"), "{stderr}");
}

#[test]
fn a_component_dropped_into_the_watched_directory_becomes_active() {
    let reef = Reef::start(&demo_config(
        "[policy]\nwatch_dir = \"@WORK@/policies\"\nwatch_debounce = \"200ms\"",
    ));
    let dir = reef.work().join("policies");
    reef_e2e::wait_for("the watched directory", T, || dir.exists().then_some(()));
    let bytes = std::fs::read(plugin("reef_policy_growing_timeout")).unwrap();
    // Written in two halves with a pause shorter than the debounce: never taken half-written.
    let target = dir.join("default.wasm");
    std::fs::write(&target, &bytes[..bytes.len() / 2]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&target)
        .unwrap();
    std::io::Write::write_all(&mut file, &bytes[bytes.len() / 2..]).unwrap();
    drop(file);
    let expected = {
        let show = reef.get("/v1/policies/default").json();
        assert_ne!(show["state"]["active"], Value::Null);
        reef_e2e::wait_for("the dropped component to be active", T, || {
            let show = reef.get("/v1/policies/default").json();
            (show["state"]["activated_by"] == "watcher").then_some(show)
        })
    };
    let versions = expected["versions"].as_array().unwrap();
    assert!(
        versions.iter().all(|v| v["report"]["valid"] == true),
        "nothing half-written was taken: {versions:?}"
    );
    assert!(versions.iter().any(|v| v["label"] == "file:default.wasm"));
    // A file for a slot that does not exist is refused with a log line, nothing changes.
    std::fs::write(dir.join("nightly.wasm"), &bytes).unwrap();
    reef_e2e::wait_for("the refusal", T, || {
        reef.log()
            .contains("slot 'nightly' does not exist")
            .then_some(())
    });
}

#[test]
fn a_shadow_is_compared_but_never_applied_then_promoted() {
    let reef = Reef::start(&demo_config(""));
    let active = active_digest(&reef);
    let backoff = upload(&reef, "reef_policy_backoff").json()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let answer = reef.post("/v1/policies/default/shadow", &json!({"digest": backoff}));
    assert_eq!(answer.status, 200, "{}", answer.text);
    // The default retries a usage error; the backoff shadow would give up. Only the default applies.
    let id = reef.submit("demo", json!({"benchmark": benchmark("exit2.yml")}));
    let job = reef.wait_done(&id, T);
    assert_eq!(
        (
            job["reason"].as_str(),
            job["attempts"].as_array().unwrap().len()
        ),
        (Some("exit_code:2"), 3)
    );
    let show = reef.get("/v1/policies/default").json();
    assert_eq!(show["state"]["active"], active.as_str());
    let candidate = &show["candidate"];
    assert_eq!(
        (candidate["mode"].as_str(), candidate["digest"].as_str()),
        (Some("shadow"), Some(backoff.as_str()))
    );
    assert!(candidate["compared"].as_u64().unwrap() >= 4, "{candidate}");
    assert!(
        candidate["disagreements"].as_u64().unwrap() >= 1,
        "{candidate}"
    );
    assert!(reef.log().contains("shadow policy disagrees"));
    // One call promotes it.
    assert_eq!(
        reef.post("/v1/policies/default/promote", &json!({})).status,
        200
    );
    assert_eq!(active_digest(&reef), backoff);
    assert_eq!(
        reef.get("/v1/policies/default").json()["candidate"],
        Value::Null
    );
    reef.post("/v1/policies/default/abort", &json!({}))
        .assert_problem(409, "no shadow or canary");
}

#[test]
fn a_canary_decides_its_share_of_jobs_and_survives_a_restart() {
    let config = demo_config("").replace("max_concurrency = 2", "max_concurrency = 4");
    let reef = Reef::start(&config);
    let active = active_digest(&reef);
    let canary = upload(&reef, "reef_policy_growing_timeout").json()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    reef.post(
        "/v1/policies/default/canary",
        &json!({"digest": canary, "percent": 101}),
    )
    .assert_problem(422, "0 to 100");
    let answer = reef.post(
        "/v1/policies/default/canary",
        &json!({"digest": canary, "percent": 30}),
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    let ids: Vec<String> = (0..200)
        .map(|_| reef.submit("demo", json!({"benchmark": benchmark("success.yml")})))
        .collect();
    let by_canary = ids
        .iter()
        .filter(|id| {
            let events = reef.get(&format!("/v1/jobs/{id}/events")).json();
            let submit = &events["events"][0];
            assert!(
                submit["policy"] == active.as_str() || submit["policy"] == canary.as_str(),
                "{submit}"
            );
            submit["policy"] == canary.as_str()
        })
        .count();
    assert!(
        (35..=85).contains(&by_canary),
        "30% of 200 jobs decided by the canary, got {by_canary}"
    );
    let dir = reef.kill9();
    let reef = Reef::start_in(dir, &config, &[]);
    let candidate = reef.get("/v1/policies/default").json()["candidate"].clone();
    assert_eq!(
        (candidate["mode"].as_str(), candidate["percent"].as_u64()),
        (Some("canary"), Some(30)),
        "{candidate}"
    );
    assert_eq!(
        reef.post("/v1/policies/default/abort", &json!({})).status,
        200
    );
    assert_eq!(
        active_digest(&reef),
        active,
        "abort leaves the active version"
    );
}

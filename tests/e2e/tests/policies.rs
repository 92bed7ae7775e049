//! Policy plugins inside the real host: the embedded default, the fail-safe around a plugin that
//! misbehaves, refusals at load, and every example policy doing what it says.

use reef_e2e::{Reef, benchmark, demo_config, plugin};
use serde_json::{Value, json};
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

fn with_policy(name: &str, extra: &str) -> String {
    let path = plugin(name);
    // Quarantine would swap a deliberately faulting plugin out mid-test; these tests look at
    // the fail-safe itself.
    format!(
        "{}\n[policy]\nfile = \"{}\"\nquarantine_faults = 1000\n",
        demo_config(extra),
        path.display()
    )
}

fn submit_labelled(reef: &Reef, bench: &str, labels: Value, tenant: &str) -> String {
    let answer = reef.post(
        "/v1/jobs",
        &json!({"runner": "demo", "params": {"benchmark": benchmark(bench)}, "labels": labels, "tenant": tenant}),
    );
    assert_eq!(answer.status, 201, "{}", answer.text);
    answer.json()["id"].as_str().unwrap().to_owned()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    // A tiny independent SHA-256 would be overkill; ask coreutils instead.
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    let mut hex = String::new();
    write!(
        hex,
        "{}",
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
    )
    .unwrap();
    hex
}

#[test]
fn the_embedded_default_policy_is_active_and_named_by_digest() {
    let reef = Reef::start(&demo_config(""));
    let policies = reef.get("/v1/policies").json();
    let active = &policies["policies"][0]["active"];
    assert_eq!(active["source"], "embedded");
    assert_eq!(active["wit"], "reef:policy@0.1.0");
    let asset = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../host/policy/assets/default-policy.wasm"
    ))
    .unwrap();
    assert_eq!(active["digest"], format!("sha256:{}", sha256_hex(&asset)));
    let id = reef.submit("demo", json!({"benchmark": benchmark("success.yml")}));
    assert_eq!(reef.wait_done(&id, T)["state"], "succeeded");
    let after = reef.get("/v1/policies").json();
    assert!(
        after["policies"][0]["active"]["calls"].as_u64().unwrap() >= 4,
        "admit, pick, plan and on-exit ran in the plugin: {after}"
    );
    assert_eq!(after["policies"][0]["active"]["faults"], 0);
}

#[test]
fn a_misbehaving_plugin_never_fails_a_job() {
    let reef = Reef::start(
        &with_policy("reef_policy_fixture_chaos", "")
            .replace("max_concurrency = 2", "max_concurrency = 4"),
    );
    let mut ids = Vec::new();
    for mode in ["trap", "loop", "oom", "invalid"] {
        ids.push(submit_labelled(
            &reef,
            "success.yml",
            json!({"chaos": mode}),
            "default",
        ));
        ids.push(submit_labelled(
            &reef,
            "success.yml",
            json!({}),
            &format!("chaos-{mode}"),
        ));
    }
    for id in &ids {
        let job = reef.wait_done(id, T);
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_eq!(
            job["attempts"][0]["timeout_ms"], 30_000,
            "the fail-safe planned the runner's timeout"
        );
    }
    // The events say the built-in policy decided, and why.
    let events = reef.get(&format!("/v1/jobs/{}/events", ids[0])).json()["events"].clone();
    let start = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["transition"] == "start")
        .unwrap();
    assert_eq!(start["policy"], "native:fallback:trap", "{events}");
    let info = &reef.get("/v1/policies").json()["policies"][0]["active"];
    // admit, plan and on-exit for each labelled job, and at least one pick (one pick call may
    // see several chaos tenants at once).
    assert!(info["faults"].as_u64().unwrap() >= 13, "{info}");
    let log = reef.log();
    let digest = info["digest"].as_str().unwrap();
    for kind in ["trap", "timeout", "out_of_memory", "invalid_answer"] {
        assert!(
            log.lines().any(|l| l.contains("policy plugin fault")
                && l.contains(kind)
                && l.contains(digest)),
            "no {kind} fault logged with the digest"
        );
    }
}

#[test]
fn admission_can_refuse_a_job_or_change_it() {
    let reef = Reef::start(&with_policy("reef_policy_fixture_chaos", ""));
    let answer = reef.post(
        "/v1/jobs",
        &json!({"runner": "demo", "params": {"benchmark": benchmark("success.yml")}, "labels": {"chaos": "reject"}}),
    );
    answer.assert_problem(422, "chaos: rejected on purpose");
    assert!(
        reef.get("/v1/jobs").json()["jobs"]
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing stored"
    );
    let id = submit_labelled(&reef, "success.yml", json!({"chaos": "promote"}), "default");
    let job = reef.wait_done(&id, T);
    assert_eq!(
        (job["priority"].as_i64(), job["tenant"].as_str()),
        (Some(99), Some("vip")),
        "{job}"
    );
}

#[test]
fn plugins_outside_the_sandbox_or_interface_are_refused_at_start() {
    for (name, needle) in [
        ("reef_policy_fixture_reads_files", "wasi:filesystem"),
        ("reef_policy_fixture_future_wit", "reef:policy@0.2.0"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let log = Reef::try_start_in(dir, &with_policy(name, ""), &[], "127.0.0.1:0")
            .err()
            .expect("must refuse");
        assert!(log.contains(needle), "{name}: {log}");
    }
}

#[test]
fn backoff_grows_with_jitter_and_usage_errors_are_not_retried() {
    let reef = Reef::start(&with_policy("reef_policy_backoff", ""));
    let retried = reef.submit("demo", json!({"benchmark": benchmark("exit3.yml")}));
    let fatal = reef.submit("demo", json!({"benchmark": benchmark("exit2.yml")}));
    let job = reef.wait_done(&retried, T);
    assert_eq!(job["reason"], "exit_code:3", "{job}");
    let gaps = gaps_ms(&job);
    assert_eq!(gaps.len(), 2);
    // backoff 200 ms: the first wait is 200..=300 ms, the second 400..=600 ms, plus whatever
    // the machine adds to start an attempt (generous upper bounds for a loaded CI machine).
    assert!((190..=800).contains(&gaps[0]), "{gaps:?}");
    assert!((390..=1500).contains(&gaps[1]), "{gaps:?}");
    let job = reef.wait_done(&fatal, T);
    assert_eq!(job["state"], "failed");
    assert_eq!(job["reason"], "exit_code:2 (not retryable)", "{job}");
    assert_eq!(job["attempts"].as_array().unwrap().len(), 1);
}

#[test]
fn timeouts_grow_per_attempt() {
    let config = with_policy("reef_policy_growing_timeout", "")
        .replace("timeout = \"30s\"", "timeout = \"300ms\"");
    let reef = Reef::start(&config.replace("kill_grace = \"1s\"", "kill_grace = \"100ms\""));
    let id = reef.submit("demo", json!({"benchmark": benchmark("hang.yml")}));
    let job = reef.wait_done(&id, T);
    assert_eq!(job["reason"], "timeout", "{job}");
    let timeouts: Vec<u64> = job["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["timeout_ms"].as_u64().unwrap())
        .collect();
    assert_eq!(timeouts, [300, 600, 900]);
}

#[test]
fn a_low_score_is_retried_until_the_budget_is_spent() {
    let reef = Reef::start(&with_policy("reef_policy_retry_low_score", ""));
    let low = reef.submit("demo", json!({"benchmark": benchmark("lowscore.yml")}));
    let high = reef.submit("demo", json!({"benchmark": benchmark("success.yml")}));
    let job = reef.wait_done(&low, T);
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(job["reason"], "score 0.5 below 0.8");
    assert_eq!(job["attempts"].as_array().unwrap().len(), 3);
    assert!(
        job["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["state"] == "succeeded")
    );
    let job = reef.wait_done(&high, T);
    assert_eq!(
        (
            job["state"].as_str(),
            job["attempts"].as_array().unwrap().len()
        ),
        (Some("succeeded"), 1)
    );
}

/// Runs `queued` (tenant, count) jobs behind `blockers` slow jobs filling every slot, and returns
/// the tenants in the order their jobs started once the blockers were done.
fn start_order(config: &str, blockers: usize, queued: &[(&str, usize)]) -> Vec<String> {
    let reef = Reef::start(config);
    let blocking: Vec<String> = (0..blockers)
        .map(|_| submit_labelled(&reef, "slow.yml", json!({}), "z"))
        .collect();
    for id in &blocking {
        reef.wait_state(id, "running", T);
    }
    let mut tenant_of = std::collections::HashMap::new();
    let mut ids = Vec::new();
    for (tenant, n) in queued {
        for _ in 0..*n {
            let id = submit_labelled(&reef, "success.yml", json!({}), tenant);
            tenant_of.insert(id.clone(), tenant.to_string());
            ids.push(id);
        }
    }
    for id in blocking.iter().chain(&ids) {
        reef.wait_done(id, T);
    }
    // The order the scheduler started them in: the sequence numbers of their start events (the
    // runners' own start marks may race each other when two start in the same pass).
    let mut started: Vec<(u64, String)> = ids
        .iter()
        .map(|id| {
            let events = reef.get(&format!("/v1/jobs/{id}/events")).json();
            let start = events["events"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["transition"] == "start")
                .expect("a start event")["seq"]
                .as_u64()
                .unwrap();
            (start, tenant_of[id].clone())
        })
        .collect();
    started.sort();
    started.into_iter().map(|(_, tenant)| tenant).collect()
}

#[test]
fn the_default_shares_slots_across_tenants_and_strict_priority_does_not() {
    let default = demo_config("").replace("max_concurrency = 4", "max_concurrency = 2");
    let order = start_order(&default, 2, &[("a", 4), ("b", 1)]);
    assert_eq!(
        order[..2],
        ["a", "b"],
        "fair share: b does not wait behind all of a: {order:?}"
    );
    let strict = with_policy("reef_policy_strict_priority", "")
        .replace("max_concurrency = 4", "max_concurrency = 2");
    let order = start_order(&strict, 2, &[("a", 4), ("b", 1)]);
    assert_eq!(
        order,
        ["a", "a", "a", "a", "b"],
        "strict priority then FIFO: {order:?}"
    );
}

#[test]
fn weighted_fair_share_gives_gold_three_slots_to_bronzes_one() {
    let config = with_policy("reef_policy_fair_share", "")
        .replace("max_concurrency = 2", "max_concurrency = 4");
    let order = start_order(&config, 4, &[("gold", 6), ("bronze", 2)]);
    let first: Vec<&str> = order[..4].iter().map(String::as_str).collect();
    assert_eq!(
        first.iter().filter(|t| **t == "gold").count(),
        3,
        "{order:?}"
    );
    assert_eq!(
        first.iter().filter(|t| **t == "bronze").count(),
        1,
        "{order:?}"
    );
}

fn gaps_ms(job: &Value) -> Vec<u64> {
    let attempts = job["attempts"].as_array().unwrap();
    attempts
        .windows(2)
        .map(|w| {
            let ended = humantime::parse_rfc3339(w[0]["ended_at"].as_str().unwrap()).unwrap();
            let started = humantime::parse_rfc3339(w[1]["started_at"].as_str().unwrap()).unwrap();
            started.duration_since(ended).unwrap().as_millis() as u64
        })
        .collect()
}

#[test]
fn a_wedged_scheduler_fails_readiness_until_it_ticks_again() {
    // A pick that spins for 8 s holds the scheduler loop (the budget is raised on purpose).
    let config = with_policy("reef_policy_fixture_chaos", "").replace(
        "quarantine_faults = 1000",
        "quarantine_faults = 1000\nmax_cpu = \"8s\"\ncall_timeout = \"8s\"",
    );
    let reef = Reef::start(&config);
    assert_eq!(reef.get("/readyz").status, 200);
    submit_labelled(&reef, "success.yml", json!({}), "chaos-loop");
    let wedged = reef_e2e::wait_for("readiness to fail", T, || {
        let answer = reef.get("/readyz");
        (answer.status == 503).then_some(answer)
    });
    assert_eq!(
        wedged.json()["checks"]["scheduler"]["ok"],
        false,
        "{}",
        wedged.text
    );
    reef_e2e::wait_for("readiness to come back", T, || {
        (reef.get("/readyz").status == 200).then_some(())
    });
}

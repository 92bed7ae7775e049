//! Chaos: the host is killed with SIGKILL again and again while jobs are submitted, running and
//! finishing (including runners that hang or ignore SIGTERM). After each restart and at the end
//! the invariants must hold: every acknowledged job exists and reaches a terminal state; no job
//! ever has two attempts alive at once; nothing of a finished job keeps running.
//!
//! Bounded: a fixed number of rounds, a fixed seed for the kill timing, and deadlines on every
//! wait.

use reef_e2e::{Reef, benchmark, demo_config, processes_with_env, read_marks, wait_for};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

const ROUNDS: usize = 6;
const JOBS_PER_ROUND: usize = 6;
const BENCHMARKS: &[(&str, &str)] = &[
    ("success.yml", "deterministic"),
    ("slow.yml", "deterministic"),
    ("success.yml", "flaky"),
    ("hang.yml", "deterministic"),
    ("ignore_sigterm.yml", "deterministic"),
    ("exit3.yml", "deterministic"),
    ("orphans.yml", "deterministic"),
];

/// A small deterministic generator for the kill timing.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

fn parse(ts: &Value) -> SystemTime {
    humantime::parse_rfc3339(ts.as_str().expect("timestamp")).expect("RFC 3339")
}

#[test]
fn repeated_host_kills_lose_and_duplicate_nothing() {
    let config = demo_config("")
        .replace("max_concurrency = 2", "max_concurrency = 3")
        .replace("timeout = \"30s\"", "timeout = \"1500ms\"")
        .replace("kill_grace = \"1s\"", "kill_grace = \"300ms\"")
        .replace("backoff = \"200ms\"", "backoff = \"100ms\"");
    let mut rng = Lcg(0x5eed);
    let mut acknowledged: Vec<String> = Vec::new();
    let mut reef = Reef::start(&config);
    for round in 0..ROUNDS {
        for j in 0..JOBS_PER_ROUND {
            let (bench, agent) = BENCHMARKS[(round * JOBS_PER_ROUND + j) % BENCHMARKS.len()];
            let body = json!({"runner": "demo", "params": {"benchmark": benchmark(bench), "agent": agent}});
            let answer = reef.post("/v1/jobs", &body);
            assert_eq!(answer.status, 201, "{}", answer.text);
            acknowledged.push(answer.json()["id"].as_str().unwrap().to_owned());
        }
        // Let some attempts start, finish or time out, then pull the plug at an arbitrary moment.
        std::thread::sleep(Duration::from_millis(50 + rng.next(400)));
        let dir = reef.kill9();
        reef = Reef::start_in(dir, &config, &[]);
        for id in &acknowledged {
            assert_eq!(
                reef.get(&format!("/v1/jobs/{id}")).status,
                200,
                "acknowledged job {id} is gone"
            );
        }
    }
    let jobs: Vec<Value> = acknowledged
        .iter()
        .map(|id| reef.wait_done(id, Duration::from_secs(90)))
        .collect();
    let marks = read_marks(&reef.work().join("marks"));
    for job in &jobs {
        let id = job["id"].as_str().unwrap();
        let attempts = job["attempts"].as_array().unwrap();
        // Attempts never overlap: each one ended (all its processes gone) before the next began.
        for pair in attempts.windows(2) {
            assert!(
                parse(&pair[0]["ended_at"]) <= parse(&pair[1]["started_at"]),
                "overlapping attempts: {job}"
            );
        }
        // And the runners agree: no runner of this job started while an earlier attempt lived.
        for (kind, job_id, nanos) in &marks {
            if kind != "start" || job_id != id {
                continue;
            }
            let started = SystemTime::UNIX_EPOCH + Duration::from_nanos(*nanos as u64);
            let live_before = attempts.iter().filter(|a| {
                parse(&a["started_at"]) + Duration::from_millis(1) < started
                    && a["ended_at"]
                        .as_str()
                        .is_some_and(|_| parse(&a["ended_at"]) > started + Duration::from_millis(1))
            });
            assert!(
                live_before.count() <= 1,
                "two attempts of {id} alive at once: {job}"
            );
        }
        assert!(
            processes_with_env("REEF_JOB_ID", id).is_empty(),
            "a process of finished job {id} survived"
        );
    }
    let attempts: usize = jobs
        .iter()
        .map(|j| j["attempts"].as_array().unwrap().len())
        .sum();
    wait_for("the host to stay ready", Duration::from_secs(5), || {
        (reef.get("/readyz").status == 200).then_some(())
    });
    assert!(
        attempts >= acknowledged.len(),
        "{attempts} attempts for {} jobs",
        acknowledged.len()
    );
}

//! Filtered listings and results at 100 000 jobs: how long `GET /v1/jobs` with a label, runner
//! or state filter, and `GET /v1/results`, take when the filter matches few of many jobs (read
//! through the store's indexes) and when it matches them all. Beside it, the peer: the same rows
//! and queries in SQLite with the same indexes (`tests/e2e/bench/listing_sqlite.py`).
//!
//! ```text
//! cargo build --release --workspace --bins && target/release/listing --jobs 100000
//! ```

use anyhow::{Context, Result, ensure};
use reef_e2e::Reef;
use reef_e2e::bench::{machine, millis, percentile};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

/// Command-line options.
#[derive(Debug, Clone, Copy, clap::Parser)]
#[command(
    name = "listing",
    about = "Filtered listings and results over many jobs"
)]
struct Options {
    /// Jobs in the store (in sweeps of up to 10 000), besides the 100 of the small sweep.
    #[arg(long, default_value_t = 100_000)]
    jobs: usize,
    /// Times each query is asked.
    #[arg(long, default_value_t = 20)]
    rounds: usize,
}

/// The runners: `bench` holds almost every job; `other` holds the 100 of one small sweep. Each
/// attempt sleeps, and one runs at a time, so the jobs stay queued while they are listed.
const CONFIG: &str = r#"
[scheduler]
max_concurrency = 1
[sweeps]
max_cells = 10000
[runners.bench]
command = ["sleep", "600"]
kill_grace = "1s"
params.benchmark = { required = true, pattern = "b[0-9]+" }
params.agent = { required = true, values = ["a0", "a1", "a2", "a3", "a4"] }
[runners.other]
command = ["sleep", "600"]
kill_grace = "1s"
params.benchmark = { required = true, pattern = "b[0-9]+" }
params.agent = { required = true, values = ["a0", "a1", "a2", "a3", "a4"] }
"#;

fn sweep(reef: &Reef, runner: &str, benchmarks: usize) -> Result<String> {
    let values: Vec<String> = (0..benchmarks).map(|b| format!("b{b}")).collect();
    let body = json!({"runner": runner, "matrix": {"benchmark": values, "agent": ["a0", "a1", "a2", "a3", "a4"]}});
    let answer = reef.post("/v1/sweeps", &body);
    ensure!(
        answer.status == 201,
        "sweep answered {}: {}",
        answer.status,
        answer.text
    );
    answer.json()["id"]
        .as_str()
        .map(str::to_owned)
        .context("a sweep id")
}

/// What an answer to a query must hold.
type Check = Box<dyn Fn(&Value) -> bool>;

/// p50 and p95 of `rounds` asks of `path`, checking each answer with `check`.
fn time(
    reef: &Reef,
    path: &str,
    rounds: usize,
    check: impl Fn(&Value) -> bool,
) -> Result<(Duration, Duration)> {
    let mut took = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let answer = reef.get(path);
        took.push(started.elapsed());
        ensure!(
            answer.status == 200,
            "{path} answered {}: {}",
            answer.status,
            answer.text
        );
        ensure!(
            check(&answer.json()),
            "{path} answered something else: {}",
            answer.text
        );
    }
    took.sort();
    Ok((percentile(&took, 50.0), percentile(&took, 95.0)))
}

fn main() -> Result<()> {
    let options = <Options as clap::Parser>::parse();
    println!(
        "listing: {} jobs + a sweep of 100; {} rounds per query; {}",
        options.jobs,
        options.rounds,
        machine()
    );
    let reef = Reef::start(CONFIG);
    let started = Instant::now();
    let mut left = options.jobs;
    while left > 0 {
        let cells = left.min(10_000);
        sweep(&reef, "bench", cells / 5)?;
        left -= cells;
    }
    let small = sweep(&reef, "other", 20)?;
    let filled = started.elapsed();
    println!(
        "  filled: {} jobs in {:.1} s ({:.0} jobs/s, each sweep one transaction)",
        options.jobs + 100,
        filled.as_secs_f64(),
        (options.jobs + 100) as f64 / filled.as_secs_f64()
    );
    let count = |n: usize| move |v: &Value| v["jobs"].as_array().map(Vec::len) == Some(n);
    let total = options.jobs as u64 + 100;
    let queries: Vec<(&str, String, Check)> = vec![
        (
            "page of 50, no filter",
            "/v1/jobs?limit=50".into(),
            Box::new(count(50)),
        ),
        (
            "page of 50, label (100 of all)",
            format!("/v1/jobs?limit=50&label=reef.sweep={small}"),
            Box::new(count(50)),
        ),
        (
            "page of 50, runner (100 of all)",
            "/v1/jobs?limit=50&runner=other".into(),
            Box::new(count(50)),
        ),
        (
            "state running (1 of all)",
            "/v1/jobs?limit=50&state=running".into(),
            Box::new(count(1)),
        ),
        (
            "label + state, none match",
            format!("/v1/jobs?limit=50&label=reef.sweep={small}&state=failed"),
            Box::new(count(0)),
        ),
        (
            "results, runner of 100",
            "/v1/results?runner=other&group_by=param:agent".into(),
            Box::new(|v: &Value| v["jobs"] == 100),
        ),
        (
            "results, runner of all",
            "/v1/results?runner=bench&group_by=param:agent".into(),
            Box::new(move |v: &Value| v["jobs"] == total - 100),
        ),
    ];
    println!("  {:<34} {:>12} {:>12}", "reef (HTTP, JSON)", "p50", "p95");
    for (name, path, check) in &queries {
        let (p50, p95) = time(&reef, path, options.rounds, check)?;
        println!("  {name:<34} {:>12} {:>12}", millis(p50), millis(p95));
    }
    // The one running attempt is cancelled, so that nothing outlives the benchmark.
    for job in reef.get("/v1/jobs?state=running").json()["jobs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let id = job["id"].as_str().unwrap_or_default();
        reef.post(&format!("/v1/jobs/{id}/cancel"), &json!({}));
        reef.wait_done(id, Duration::from_secs(30));
    }
    drop(reef);

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/listing_sqlite.py");
    let peer = Command::new("python3")
        .args([
            script,
            &options.jobs.to_string(),
            &options.rounds.to_string(),
        ])
        .status()
        .context("running the SQLite peer (python3)")?;
    ensure!(peer.success(), "the SQLite peer failed");
    Ok(())
}

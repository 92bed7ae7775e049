//! Restart benchmark: how long a host killed with SIGKILL takes to serve again when its database
//! holds 100 running attempts and 10 000 queued jobs, and whether it lost any.
//!
//! A host with `max_concurrency = R` runs `R` attempts of a runner that sleeps, while `Q` more
//! jobs wait. The host is killed with SIGKILL and started again on the same data dir; the clock
//! runs from spawning the new process until `/readyz` answers 200 (recovery done: every running
//! attempt re-attached, the queue rebuilt). Then every job is counted by state.
//!
//! Usage: `restart [--running R] [--queued Q]` (defaults 100 and 10000). Run the release build.

use anyhow::{Result, ensure};
use reef_e2e::{Reef, find_shims, rss_kib, wait_for};
use serde_json::json;
use std::time::{Duration, Instant};

/// Command-line options.
#[derive(Debug, Clone, Copy, clap::Parser)]
#[command(
    name = "restart",
    about = "Restart time of a host holding running and queued jobs"
)]
struct Options {
    /// Attempts running when the host is killed.
    #[arg(long, default_value_t = 100)]
    running: usize,
    /// Jobs queued when the host is killed.
    #[arg(long, default_value_t = 10_000)]
    queued: usize,
}

fn main() -> Result<()> {
    let options = <Options as clap::Parser>::parse();
    let config = format!(
        r#"
[scheduler]
max_concurrency = {running}

[runners.sleeper]
command = ["/bin/sleep", "600"]
timeout = "1h"
"#,
        running = options.running
    );
    let reef = Reef::start(&config);
    let total = options.running + options.queued;
    let submit_start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..4 {
            let reef = &reef;
            s.spawn(move || {
                for _ in (t..total).step_by(4) {
                    let answer = reef.post("/v1/jobs", &json!({"runner": "sleeper", "params": {}}));
                    assert_eq!(answer.status, 201, "{}", answer.text);
                }
            });
        }
    });
    let submitted_in = submit_start.elapsed();
    wait_for("every slot to be running", Duration::from_secs(120), || {
        let ready = reef.get("/readyz").json();
        (ready["running"].as_u64() == Some(options.running as u64)).then_some(())
    });
    let data = reef.dir.path().join("data").to_string_lossy().into_owned();
    let shims_before = find_shims(&data).len();
    let rss_before = rss_kib(reef.pid());
    let dir = reef.kill9();

    let start = Instant::now();
    let reef = Reef::start_in(dir, &config, &[]);
    let serving = start.elapsed();
    wait_for("readiness", Duration::from_secs(120), || {
        (reef.get("/readyz").status == 200).then_some(())
    });
    let ready = start.elapsed();
    let readyz = reef.get("/readyz").json();
    let rss_after = rss_kib(reef.pid());
    let list_start = Instant::now();
    let page = reef.get("/v1/jobs?limit=50");
    let list_ms = list_start.elapsed().as_secs_f64() * 1000.0;
    ensure!(page.status == 200, "listing failed: {}", page.text);

    println!(
        "restart: {} running + {} queued jobs; submitted in {:.1} s",
        options.running,
        options.queued,
        submitted_in.as_secs_f64()
    );
    println!("{:<44} {:>10}", "measure", "value");
    println!(
        "{:<44} {:>9.0} ms",
        "spawn to 'serving' log line",
        serving.as_secs_f64() * 1000.0
    );
    println!(
        "{:<44} {:>9.0} ms",
        "spawn to /readyz 200",
        ready.as_secs_f64() * 1000.0
    );
    println!(
        "{:<44} {:>10}",
        "shims alive before / after the kill",
        format!("{shims_before} / {}", find_shims(&data).len())
    );
    println!(
        "{:<44} {:>10}",
        "running / queued after restart",
        format!("{} / {}", readyz["running"], readyz["queued"])
    );
    println!(
        "{:<44} {:>7} MiB",
        "host RSS before kill / after restart",
        format!("{} / {}", rss_before / 1024, rss_after / 1024)
    );
    println!(
        "{:<44} {:>9.1} ms",
        "first page of GET /v1/jobs (50 jobs)", list_ms
    );
    ensure!(
        readyz["running"].as_u64() == Some(options.running as u64),
        "running attempts were not all re-attached"
    );
    ensure!(
        readyz["queued"].as_u64() == Some(options.queued as u64),
        "queued jobs were lost"
    );
    println!("nothing lost: every running attempt re-attached, every queued job back in the queue");
    Ok(())
}

//! Latency of the serverless-style call, `POST /v1/runners/{name}/invoke?wait=30s`, for a
//! trivial runner (`/bin/true`), one call at a time: the round trip a caller waits for a durable,
//! supervised run and its result. Beside it, the peer: spawning `/bin/true` and waiting for it,
//! with nothing stored or supervised.
//!
//! ```text
//! cargo build --release --workspace --bins && target/release/invoke --calls 300
//! ```

use anyhow::{Result, ensure};
use reef_e2e::Reef;
use reef_e2e::bench::{machine, millis, percentile};
use std::process::Command;
use std::time::Instant;

/// Command-line options.
#[derive(Debug, Clone, Copy, clap::Parser)]
#[command(
    name = "invoke",
    about = "Round-trip latency of POST /v1/runners/{name}/invoke"
)]
struct Options {
    /// Calls to make, one after the other.
    #[arg(long, default_value_t = 300, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    calls: usize,
}

fn main() -> Result<()> {
    let options = <Options as clap::Parser>::parse();
    println!(
        "invoke: {} sequential calls of a /bin/true runner; {}",
        options.calls,
        machine()
    );
    let reef = Reef::start(
        r#"
[runners.noop]
command = ["/bin/true"]
timeout = "60s"
"#,
    );
    let mut invokes = Vec::with_capacity(options.calls);
    for _ in 0..options.calls {
        let started = Instant::now();
        let answer = reef.request("POST", "/v1/runners/noop/invoke?wait=30s", Some("{}"));
        invokes.push(started.elapsed());
        ensure!(
            answer.status == 200,
            "invoke answered {}: {}",
            answer.status,
            answer.text
        );
        ensure!(
            answer.json()["state"] == "succeeded",
            "the job did not succeed: {}",
            answer.text
        );
    }
    let mut spawns = Vec::with_capacity(options.calls);
    for _ in 0..options.calls {
        let started = Instant::now();
        let status = Command::new("/bin/true").status()?;
        spawns.push(started.elapsed());
        ensure!(status.success(), "/bin/true failed");
    }
    invokes.sort_unstable();
    spawns.sort_unstable();
    println!();
    println!("{:<40} {:>10} {:>10} {:>10}", "", "p50", "p99", "max");
    for (label, times) in [
        ("reef invoke (HTTP, durable, supervised)", &invokes),
        ("spawn /bin/true and wait", &spawns),
    ] {
        println!(
            "{label:<40} {:>10} {:>10} {:>10}",
            millis(percentile(times, 50.0)),
            millis(percentile(times, 99.0)),
            millis(times.last().copied().unwrap_or_default())
        );
    }
    reef.terminate();
    Ok(())
}

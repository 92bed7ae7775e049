//! Throughput benchmark: how many trivial jobs per second reef runs end to end, next to
//! `xargs -P C` spawning the same command directly.
//!
//! What is measured, and why:
//!
//! * **reef, end to end** — wall time from the first `POST /v1/jobs` until every job is terminal.
//!   Each job runs `/bin/true`, so the number is reef's own overhead per job: HTTP, parameter
//!   checks, the durable commit of the submit, scheduling, spawning through the shim, reaping and
//!   committing the outcome. DESIGN.md ("Numbers to design for") asks for at least half the rate
//!   of `xargs -P2` on the same machine.
//! * **submit rate and latency** — submits per second while the clients are submitting, and the
//!   p50/p99 HTTP round trip of one `POST /v1/jobs`, which includes the durable commit. This shows
//!   whether the front door or the execution side limits throughput.
//! * **xargs -P C** — the peer: the same number of `/bin/true` processes, `C` at a time, with no
//!   bookkeeping at all. It is the ceiling of what spawning processes costs on this host.
//!
//! Jobs are submitted from `K` client threads, each with its own keep-alive agent, so that the
//! client is not the bottleneck. Completion is detected by polling `/readyz` until its `queued`
//! and `running` counts are both zero, then confirmed by paging through `state=succeeded` and
//! `state=failed` listings.
//!
//! Usage: `throughput [--jobs N] [--concurrency C] [--clients K]` (defaults 2000, 2, 4). Run the
//! release build (`scripts/bench-throughput.sh`) for numbers worth quoting.

use anyhow::{Context, Result, ensure};
use reef_e2e::bench::{millis, percentile};
use reef_e2e::{Reef, wait_for};
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Name of the runner the benchmark declares.
const RUNNER: &str = "true";

/// Largest page `GET /v1/jobs` serves.
const PAGE: usize = 1000;

/// Longest the benchmark waits for all jobs to finish after the last submit.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(600);

/// Interval between `/readyz` polls while waiting for the queue to drain.
const POLL: Duration = Duration::from_millis(5);

/// Command-line options.
#[derive(Debug, Clone, Copy, clap::Parser)]
#[command(
    name = "throughput",
    about = "Trivial-job throughput of reef beside xargs -P"
)]
struct Options {
    /// Jobs to submit.
    #[arg(long, default_value_t = 2000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    jobs: usize,
    /// reef's `[scheduler] max_concurrency` and xargs' `-P`.
    #[arg(long, default_value_t = 2, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    concurrency: usize,
    /// Fold concurrent writes into shared transactions (`[storage] group_commit`); `false`
    /// commits every write on its own, for comparison.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    group_commit: bool,
    /// Submitting client threads.
    #[arg(long, default_value_t = 4, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    clients: usize,
    /// Export job traces to an OTLP collector on loopback (this binary's own), to measure what
    /// tracing costs.
    #[arg(long)]
    otlp: bool,
}

/// What the reef run measured.
struct ReefRun {
    /// First submit to last job terminal.
    end_to_end: Duration,
    /// First submit to last submit answered.
    submitting: Duration,
    /// Round trip of every `POST /v1/jobs`, sorted ascending.
    latencies: Vec<Duration>,
}

fn main() -> Result<()> {
    let options = <Options as clap::Parser>::parse();
    println!(
        "throughput: {} jobs of /bin/true, concurrency {}, {} client threads, group commit {}, traces {}; {}",
        options.jobs,
        options.concurrency,
        options.clients,
        options.group_commit,
        if options.otlp {
            "exported over OTLP"
        } else {
            "off"
        },
        reef_e2e::bench::machine()
    );

    let reef = run_reef(options)?;
    let xargs = run_xargs(options)?;

    let jobs = options.jobs as f64;
    let reef_rate = jobs / reef.end_to_end.as_secs_f64();
    let xargs_rate = jobs / xargs.as_secs_f64();
    let submit_rate = jobs / reef.submitting.as_secs_f64();
    let xargs_label = format!("xargs -P {} /bin/true", options.concurrency);
    println!();
    println!(
        "{:<28} {:>10} {:>10} {:>9}",
        "", "seconds", "jobs/s", "vs xargs"
    );
    println!(
        "{:<28} {:>10.3} {:>10.1} {:>9.2}",
        "reef (HTTP, durable)",
        reef.end_to_end.as_secs_f64(),
        reef_rate,
        reef_rate / xargs_rate
    );
    println!(
        "{:<28} {:>10.3} {:>10.1} {:>9.2}",
        xargs_label,
        xargs.as_secs_f64(),
        xargs_rate,
        1.0
    );
    println!();
    println!(
        "reef submit: {submit_rate:.1} submits/s over {:.3} s; POST /v1/jobs p50 {} p99 {} max {}",
        reef.submitting.as_secs_f64(),
        millis(percentile(&reef.latencies, 50.0)),
        millis(percentile(&reef.latencies, 99.0)),
        millis(reef.latencies.last().copied().unwrap_or_default()),
    );
    println!("machine: {}", reef_e2e::bench::machine());
    Ok(())
}

/// Starts reef, submits the jobs from `options.clients` threads and waits until all are done.
fn run_reef(options: Options) -> Result<ReefRun> {
    let collector = options.otlp.then(reef_e2e::otlp::Collector::start);
    let telemetry = collector
        .as_ref()
        .map(|c| format!("[telemetry]\notlp_endpoint = \"{}\"\n", c.url))
        .unwrap_or_default();
    let config = format!(
        r#"
[scheduler]
max_concurrency = {concurrency}

[storage]
group_commit = {group_commit}

{telemetry}
[runners."{RUNNER}"]
command = ["/bin/true"]
timeout = "60s"
"#,
        concurrency = options.concurrency,
        group_commit = options.group_commit
    );
    let reef = Reef::start(&config);
    wait_for("reef to be ready", Duration::from_secs(20), || {
        (reef.get("/readyz").status == 200).then_some(())
    });

    let start = Instant::now();
    let handles: Vec<_> = (0..options.clients)
        .map(|client| {
            // Spread the jobs evenly; the first `jobs % clients` threads take one more.
            let share = options.jobs / options.clients
                + usize::from(client < options.jobs % options.clients);
            let url = reef.url.clone();
            std::thread::spawn(move || submit_many(&url, share))
        })
        .collect();
    let mut latencies = Vec::with_capacity(options.jobs);
    for handle in handles {
        let thread = handle
            .join()
            .map_err(|_| anyhow::anyhow!("a client thread panicked"))?;
        latencies.extend(thread?);
    }
    let submitting = start.elapsed();

    // `/readyz` counts come from the engine loop, which learns of a submit through a channel
    // after the commit; a zero read in that gap would be early. So a zero is only taken as the
    // end once the listings confirm that every job is terminal.
    let agent = agent();
    let drain_deadline = Instant::now() + DRAIN_TIMEOUT;
    let (end_to_end, succeeded, failed) = loop {
        let ready = get_json(&agent, &format!("{}/readyz", reef.url))?;
        let queued = ready["queued"]
            .as_u64()
            .context("readyz has no queued count")?;
        let running = ready["running"]
            .as_u64()
            .context("readyz has no running count")?;
        if queued + running == 0 {
            let drained = start.elapsed();
            let succeeded = count_jobs(&agent, &reef.url, "succeeded")?;
            let failed = count_jobs(&agent, &reef.url, "failed")?;
            if succeeded + failed >= options.jobs {
                break (drained, succeeded, failed);
            }
        }
        ensure!(
            Instant::now() < drain_deadline,
            "jobs did not drain within {DRAIN_TIMEOUT:?}: {queued} queued, {running} running"
        );
        std::thread::sleep(POLL);
    };
    ensure!(
        failed == 0,
        "{failed} jobs failed; end of the reef log:\n{}",
        log_tail(&reef.log(), 40)
    );
    ensure!(
        succeeded == options.jobs,
        "{succeeded} of {} jobs succeeded",
        options.jobs
    );
    if let Some(collector) = &collector {
        // Spans leave in batches after the jobs end; wait until the count holds still.
        let mut last = usize::MAX;
        while collector.count() != last {
            last = collector.count();
            std::thread::sleep(Duration::from_secs(3));
        }
        println!(
            "traces: {last} spans received, {:.1} per job (8 for a job with one attempt)",
            last as f64 / options.jobs as f64
        );
    }

    latencies.sort_unstable();
    Ok(ReefRun {
        end_to_end,
        submitting,
        latencies,
    })
}

/// A keep-alive HTTP agent that returns error statuses as responses.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent()
}

/// Submits `count` jobs over one keep-alive connection; returns each round trip.
fn submit_many(base: &str, count: usize) -> Result<Vec<Duration>> {
    let agent = agent();
    let url = format!("{base}/v1/jobs");
    let body = json!({"runner": RUNNER, "params": {}});
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        let sent = Instant::now();
        let mut response = agent.post(&url).send_json(&body).context("POST /v1/jobs")?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .context("reading the POST /v1/jobs answer")?;
        latencies.push(sent.elapsed());
        ensure!(status == 201, "POST /v1/jobs answered {status}: {text}");
    }
    Ok(latencies)
}

/// `GET url` expecting 200 and a JSON body.
fn get_json(agent: &ureq::Agent, url: &str) -> Result<Value> {
    let mut response = agent
        .get(url)
        .call()
        .with_context(|| format!("GET {url}"))?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .with_context(|| format!("reading GET {url}"))?;
    ensure!(status == 200, "GET {url} answered {status}: {text}");
    serde_json::from_str(&text).with_context(|| format!("GET {url} is not JSON: {text}"))
}

/// Number of jobs in `state`, paging through `GET /v1/jobs` with the largest page.
fn count_jobs(agent: &ureq::Agent, base: &str, state: &str) -> Result<usize> {
    let mut total = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/v1/jobs?state={state}&runner={RUNNER}&limit={PAGE}");
        if let Some(cursor) = &cursor {
            url.push_str("&cursor=");
            url.push_str(cursor);
        }
        let page = get_json(agent, &url)?;
        total += page["jobs"]
            .as_array()
            .with_context(|| format!("GET {url} has no jobs array"))?
            .len();
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(total),
        }
    }
}

/// Runs `xargs -P C -I{} /bin/true` over `jobs` input lines and returns its wall time.
fn run_xargs(options: Options) -> Result<Duration> {
    let input = "x\n".repeat(options.jobs);
    let start = Instant::now();
    let mut child = Command::new("xargs")
        .arg("-P")
        .arg(options.concurrency.to_string())
        .arg("-I{}")
        .arg("/bin/true")
        .stdin(Stdio::piped())
        .spawn()
        .context("spawning xargs")?;
    {
        let mut stdin = child.stdin.take().context("xargs stdin")?;
        stdin.write_all(input.as_bytes()).context("feeding xargs")?;
        // Dropping stdin closes it, so xargs sees the end of its input.
    }
    let status = child.wait().context("waiting for xargs")?;
    let elapsed = start.elapsed();
    ensure!(status.success(), "xargs exited with {status}");
    Ok(elapsed)
}

/// The last `lines` lines of `log`.
fn log_tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

//! Policy swap benchmark: how long a new policy takes from upload to deciding, and whether
//! swapping the active policy under load slows decisions down or loses jobs.
//!
//! What is measured, and why:
//!
//! * **Upload to active** — wall time of `PUT /v1/policies/default` (which validates: compiles
//!   the component and runs the self-test corpus against it) plus
//!   `POST /v1/policies/default/activate`, for every example component that the fresh reef has
//!   not stored yet. An operator rolling out a policy waits exactly this long. The reef is
//!   started with `[policy] file` set to the strict-priority example, so the default policy's
//!   bytes (otherwise embedded and stored at start) are a first upload too and its number is
//!   reported on its own line. Uploading stored bytes again is idempotent and quick, so only
//!   first uploads are timed.
//! * **Re-activation** — `POST .../activate` alternating between two stored versions. Their
//!   compiled code is cached, so this is the cost of a rollback or a flip back.
//! * **Decisions with and without swaps** — two phases, each on a fresh reef (4 concurrent
//!   attempts, the default policy active, the strict-priority example stored as the other
//!   version). Phase A submits `M` jobs of `success.yml` from one thread as fast as the API takes
//!   them and waits for all of them; phase B does the same while the main thread swaps the active
//!   policy back and forth `N` times, 20 ms apart. After each phase `GET /v1/policies/default`
//!   gives the `decisions` summary: p50/p99/max of the most recent 4096 policy calls (admit,
//!   pick, plan, on-exit), across versions. A swap builds the new version before one pointer
//!   store, so the p99 of phase B should stay close to phase A's; this side-by-side is the
//!   comparison the swap design has to pass (there is no native-policy baseline: both phases run
//!   the plugin). Each phase gets its own reef so that its window holds only its own decisions;
//!   at about four decisions a job, `M` is capped at 1000 to stay within the window.
//! * **No lost work** — every job of both phases must end `succeeded` within a deadline; failed
//!   and stuck (not terminal) jobs are counted and make the benchmark fail.
//!
//! Usage: `policy_swap [--swaps N] [--jobs M]` (defaults 50 and 400). Build the workspace and the
//! plugins (`scripts/build-plugins.sh`) first, and run the release build for numbers worth
//! quoting.

use anyhow::{Context, Result, anyhow, ensure};
use reef_e2e::bench::percentile;
use reef_e2e::{Reef, benchmark, demo_config, plugin};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The policy slot the engine decides with.
const SLOT: &str = "/v1/policies/default";

/// The default policy's component.
const DEFAULT_POLICY: &str = "reef_default_policy";

/// The example that seeds the upload reef and is the other version in the swap phases.
const OTHER_POLICY: &str = "reef_policy_strict_priority";

/// Example components uploaded for the first time in the upload measurement, default first.
const FIRST_UPLOADS: [&str; 5] = [
    DEFAULT_POLICY,
    "reef_policy_backoff",
    "reef_policy_fair_share",
    "reef_policy_growing_timeout",
    "reef_policy_retry_low_score",
];

/// Activations in the re-activation measurement.
const REACTIVATIONS: usize = 20;

/// Pause between two swaps in phase B.
const SWAP_INTERVAL: Duration = Duration::from_millis(20);

/// Most jobs per phase: at about four decisions a job, the phase fits the 4096-decision window.
const MAX_JOBS: usize = 1000;

/// Size of reef's decision-timing window.
const WINDOW: u64 = 4096;

/// Longest a phase waits for its jobs after the last submit.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

/// Interval between polls of a job that is not terminal yet.
const POLL: Duration = Duration::from_millis(10);

/// Command-line options.
#[derive(Debug, Clone, Copy, clap::Parser)]
#[command(
    name = "policy_swap",
    about = "Policy upload-to-active and swap-under-load benchmark"
)]
struct Options {
    /// Swaps in phase B.
    #[arg(long, default_value_t = 50, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    swaps: usize,
    /// Jobs per phase (at most 1000, so a phase's decisions fit reef's 4096-decision window).
    #[arg(long, default_value_t = 400, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_JOBS as u64))]
    jobs: usize,
}

/// The `decisions` summary of `GET /v1/policies/default`.
#[derive(Debug, Clone, Copy)]
struct Decisions {
    /// Decisions in the window.
    count: u64,
    /// Median, microseconds.
    p50: u64,
    /// 99th percentile, microseconds.
    p99: u64,
    /// Slowest, microseconds.
    max: u64,
}

impl Decisions {
    /// Reads the summary out of a slot view.
    fn from_slot(slot: &Value) -> Result<Decisions> {
        let d = &slot["decisions"];
        let field = |name: &str| {
            d[name]
                .as_u64()
                .with_context(|| format!("decisions.{name} missing in {d}"))
        };
        Ok(Decisions {
            count: field("count")?,
            p50: field("p50_micros")?,
            p99: field("p99_micros")?,
            max: field("max_micros")?,
        })
    }
}

/// How the jobs of a phase ended.
#[derive(Debug, Clone, Copy, Default)]
struct Outcomes {
    /// Ended `succeeded`.
    succeeded: usize,
    /// Ended `failed` or `cancelled`.
    failed: usize,
    /// Not terminal by the deadline.
    stuck: usize,
    /// Took more than one attempt.
    retried: usize,
}

/// What one load phase measured.
struct Phase {
    /// Label for the table.
    name: String,
    /// Jobs submitted.
    jobs: usize,
    /// How the jobs ended.
    outcomes: Outcomes,
    /// Decision timings after the phase.
    decisions: Decisions,
    /// Faults counted by the version active at the end.
    faults: u64,
    /// First submit to last job terminal.
    wall: Duration,
    /// The swaps made during the phase.
    swaps: Swaps,
}

/// The swaps of a phase.
#[derive(Debug, Default)]
struct Swaps {
    /// Round trip of each swap's activation, sorted ascending.
    times: Vec<Duration>,
    /// Where the phase stood when the last swap was answered (none without swaps).
    last: Option<LastSwap>,
}

/// Where a phase stood when its last swap was answered.
#[derive(Debug, Clone, Copy)]
struct LastSwap {
    /// Time since the phase's first submit.
    at: Duration,
    /// Jobs submitted by then.
    submitted: usize,
    /// Jobs queued or running then.
    in_flight: u64,
}

fn main() -> Result<()> {
    let options = <Options as clap::Parser>::parse();
    println!(
        "policy_swap: {} jobs per phase, {} swaps; {}",
        options.jobs,
        options.swaps,
        reef_e2e::bench::machine()
    );

    upload_to_active()?;

    println!();
    println!(
        "Decisions under load ({} jobs of success.yml per phase, 4 concurrent attempts, fresh reef per phase)",
        options.jobs
    );
    let quiet = run_phase("A: no swaps", options.jobs, 0)?;
    let swapping = run_phase(
        &format!("B: {} swaps", options.swaps),
        options.jobs,
        options.swaps,
    )?;
    print_phases(&[&quiet, &swapping]);
    compare(&quiet, &swapping);

    for phase in [&quiet, &swapping] {
        let o = phase.outcomes;
        ensure!(
            o.failed == 0 && o.stuck == 0 && o.succeeded == phase.jobs,
            "phase {}: {} of {} jobs succeeded, {} failed, {} stuck",
            phase.name,
            o.succeeded,
            phase.jobs,
            o.failed,
            o.stuck
        );
    }
    println!();
    println!("all jobs of both phases succeeded");
    Ok(())
}

/// Part 1: first upload plus activation of each example not yet stored, then re-activation of
/// stored versions.
fn upload_to_active() -> Result<()> {
    let seed = plugin(OTHER_POLICY);
    let config = demo_config(&format!("[policy]\nfile = {:?}\n", seed.to_string_lossy()));
    let reef = Reef::start(&config);
    let slot = get_json(&reef, SLOT)?;
    let seed_digest = active_digest(&slot)?;
    let mut stored = stored_digests(&slot)?;

    println!();
    println!("Upload to active (fresh reef seeded with {OTHER_POLICY}; PUT = compile + self-test)");
    println!(
        "{:<30} {:>9} {:>9} {:>12} {:>9} {:>11}",
        "component", "size KiB", "PUT ms", "activate ms", "total ms", "from cache"
    );
    let mut default = None;
    for name in FIRST_UPLOADS {
        let bytes = std::fs::read(plugin(name)).with_context(|| format!("reading {name}"))?;
        let (digest, put) = upload(&reef, name, &bytes)?;
        if stored.contains(&digest) {
            println!("{name:<30} already stored (same bytes as an earlier component): skipped");
            continue;
        }
        stored.push(digest.clone());
        let activate_time = activate(&reef, &digest)?;
        let slot = get_json(&reef, SLOT)?;
        ensure!(
            active_digest(&slot)? == digest,
            "{name} is not active after activation"
        );
        let from_cache = slot["active"]["compiled_from_cache"]
            .as_bool()
            .map_or("?", |c| if c { "yes" } else { "no" });
        let total = put + activate_time;
        println!(
            "{:<30} {:>9.1} {:>9.1} {:>12.1} {:>9.1} {:>11}",
            name,
            bytes.len() as f64 / 1024.0,
            ms(put),
            ms(activate_time),
            ms(total),
            from_cache
        );
        if name == DEFAULT_POLICY {
            default = Some((digest, put, activate_time));
        }
    }
    let (default_digest, put, activate_time) =
        default.context("the default policy was already stored; nothing to measure")?;
    println!(
        "default policy ({DEFAULT_POLICY}): upload to active {:.1} ms (PUT {:.1} ms + activate {:.1} ms)",
        ms(put + activate_time),
        ms(put),
        ms(activate_time)
    );

    // Alternate between two stored versions; the active one is the last upload, so every
    // activation is a real change.
    let mut times = Vec::with_capacity(REACTIVATIONS);
    for i in 0..REACTIVATIONS {
        let target = if i % 2 == 0 {
            &seed_digest
        } else {
            &default_digest
        };
        times.push(activate(&reef, target)?);
    }
    times.sort_unstable();
    println!(
        "re-activation of stored versions ({REACTIVATIONS}x, {OTHER_POLICY} <-> {DEFAULT_POLICY}): p50 {:.2} ms, max {:.2} ms",
        ms(percentile(&times, 50.0)),
        ms(times.last().copied().unwrap_or_default())
    );
    Ok(())
}

/// Part 2: one load phase on a fresh reef: `jobs` submits from a thread of their own while the
/// calling thread makes `swaps` swaps, then waits for every job.
fn run_phase(name: &str, jobs: usize, swaps: usize) -> Result<Phase> {
    let config = demo_config("").replace("max_concurrency = 2", "max_concurrency = 4");
    let reef = Reef::start(&config);
    let default_digest = active_digest(&get_json(&reef, SLOT)?)?;
    let other = std::fs::read(plugin(OTHER_POLICY)).context("reading the other policy")?;
    let (other_digest, _) = upload(&reef, OTHER_POLICY, &other)?;
    let bench = benchmark("success.yml");

    let submitted = AtomicUsize::new(0);
    let started = Instant::now();
    let (ids, swaps) = std::thread::scope(|scope| {
        let submitter = scope.spawn(|| submit_jobs(&reef, &bench, jobs, &submitted));
        let swapping = swap_back_and_forth(
            &reef,
            [&other_digest, &default_digest],
            swaps,
            started,
            &submitted,
        );
        let ids = submitter
            .join()
            .map_err(|_| anyhow!("the submitting thread panicked"))?;
        Ok::<_, anyhow::Error>((ids?, swapping?))
    })?;

    let outcomes = wait_all(&reef, &ids, Instant::now() + DRAIN_TIMEOUT)?;
    let wall = started.elapsed();
    let slot = get_json(&reef, SLOT)?;
    let decisions = Decisions::from_slot(&slot)?;
    let faults = slot["active"]["faults"].as_u64().unwrap_or(0);
    Ok(Phase {
        name: name.to_owned(),
        jobs,
        outcomes,
        decisions,
        faults,
        wall,
        swaps,
    })
}

/// Activates `digests` in turn `count` times, [`SWAP_INTERVAL`] apart; `started` and `submitted`
/// are the phase's start and submit counter, read when the last swap is answered.
fn swap_back_and_forth(
    reef: &Reef,
    digests: [&str; 2],
    count: usize,
    started: Instant,
    submitted: &AtomicUsize,
) -> Result<Swaps> {
    let mut times = Vec::with_capacity(count);
    for i in 0..count {
        if i > 0 {
            std::thread::sleep(SWAP_INTERVAL);
        }
        times.push(activate(reef, digests[i % 2])?);
    }
    let last = if count > 0 {
        let at = started.elapsed();
        Some(LastSwap {
            at,
            submitted: submitted.load(Ordering::Relaxed),
            in_flight: in_flight(reef)?,
        })
    } else {
        None
    };
    times.sort_unstable();
    Ok(Swaps { times, last })
}

/// Prints the phase table and the swap details.
fn print_phases(phases: &[&Phase]) {
    println!(
        "{:<14} {:>5} {:>6} {:>10} {:>7} {:>6} {:>7} {:>7} {:>10} {:>7} {:>7} {:>7} {:>7}",
        "phase",
        "jobs",
        "swaps",
        "succeeded",
        "failed",
        "stuck",
        "retried",
        "faults",
        "decisions",
        "p50 µs",
        "p99 µs",
        "max µs",
        "wall s"
    );
    for p in phases {
        let (o, d) = (p.outcomes, p.decisions);
        println!(
            "{:<14} {:>5} {:>6} {:>10} {:>7} {:>6} {:>7} {:>7} {:>10} {:>7} {:>7} {:>7} {:>7.2}",
            p.name,
            p.jobs,
            p.swaps.times.len(),
            o.succeeded,
            o.failed,
            o.stuck,
            o.retried,
            p.faults,
            d.count,
            d.p50,
            d.p99,
            d.max,
            p.wall.as_secs_f64()
        );
    }
    for p in phases {
        if p.decisions.count >= WINDOW {
            println!(
                "note: phase {} filled the {WINDOW}-decision window; its earliest decisions are not in the summary",
                p.name
            );
        }
        if let Some(last) = p.swaps.last {
            let times = &p.swaps.times;
            println!(
                "phase {}: activate under load p50 {:.2} ms, max {:.2} ms; the swaps spanned the first {:.2} s of {:.2} s; at the last one {} of {} jobs were submitted and {} queued or running",
                p.name,
                ms(percentile(times, 50.0)),
                ms(times.last().copied().unwrap_or_default()),
                last.at.as_secs_f64(),
                p.wall.as_secs_f64(),
                last.submitted,
                p.jobs,
                last.in_flight
            );
        }
    }
}

/// Part 3: decision latency without swaps next to decision latency during swaps.
fn compare(quiet: &Phase, swapping: &Phase) {
    let (a, b) = (quiet.decisions, swapping.decisions);
    let ratio = |x: u64, y: u64| {
        if y == 0 {
            "n/a".to_owned()
        } else {
            format!("{:.2}x", x as f64 / y as f64)
        }
    };
    println!();
    println!("Decision latency, without swaps vs during swaps (plugin both times; µs)");
    println!(
        "{:<8} {:>14} {:>14} {:>8}",
        "", "no swaps (A)", "swapping (B)", "B / A"
    );
    for (label, x, y) in [
        ("p50", a.p50, b.p50),
        ("p99", a.p99, b.p99),
        ("max", a.max, b.max),
    ] {
        println!("{label:<8} {x:>14} {y:>14} {:>8}", ratio(y, x));
    }
}

/// Uploads `bytes` to the default slot; returns the digest and the round trip. The version must
/// be valid.
fn upload(reef: &Reef, name: &str, bytes: &[u8]) -> Result<(String, Duration)> {
    let sent = Instant::now();
    let answer = reef.put_bytes(&format!("{SLOT}?label={name}"), bytes);
    let took = sent.elapsed();
    ensure!(
        answer.status == 201,
        "uploading {name} answered {}: {}",
        answer.status,
        answer.text
    );
    let version: Value = serde_json::from_str(&answer.text)
        .with_context(|| format!("uploading {name}: not JSON: {}", answer.text))?;
    ensure!(
        version["report"]["valid"] == true,
        "{name} failed validation: {}",
        version["report"]
    );
    let digest = version["digest"]
        .as_str()
        .with_context(|| format!("uploading {name}: no digest in {version}"))?;
    Ok((digest.to_owned(), took))
}

/// Activates a stored version; returns the round trip.
fn activate(reef: &Reef, digest: &str) -> Result<Duration> {
    let sent = Instant::now();
    let answer = reef.post(&format!("{SLOT}/activate"), &json!({"digest": digest}));
    let took = sent.elapsed();
    ensure!(
        answer.status == 200,
        "activating {digest} answered {}: {}",
        answer.status,
        answer.text
    );
    Ok(took)
}

/// Submits `count` jobs of `bench` one after another, counting them in `submitted`.
fn submit_jobs(
    reef: &Reef,
    bench: &str,
    count: usize,
    submitted: &AtomicUsize,
) -> Result<Vec<String>> {
    let body = json!({"runner": "demo", "params": {"benchmark": bench}});
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        let answer = reef.post("/v1/jobs", &body);
        ensure!(
            answer.status == 201,
            "POST /v1/jobs answered {}: {}",
            answer.status,
            answer.text
        );
        let job: Value = serde_json::from_str(&answer.text)
            .with_context(|| format!("POST /v1/jobs: not JSON: {}", answer.text))?;
        let id = job["id"]
            .as_str()
            .with_context(|| format!("POST /v1/jobs: no id in {job}"))?;
        ids.push(id.to_owned());
        submitted.fetch_add(1, Ordering::Relaxed);
    }
    Ok(ids)
}

/// Waits until every job is terminal or `deadline` passes, and counts how they ended.
fn wait_all(reef: &Reef, ids: &[String], deadline: Instant) -> Result<Outcomes> {
    let mut outcomes = Outcomes::default();
    for id in ids {
        let job = loop {
            let job = get_json(reef, &format!("/v1/jobs/{id}"))?;
            let state = job["state"].as_str().unwrap_or_default();
            if ["succeeded", "failed", "cancelled"].contains(&state) || Instant::now() >= deadline {
                break job;
            }
            std::thread::sleep(POLL);
        };
        match job["state"].as_str().unwrap_or_default() {
            "succeeded" => outcomes.succeeded += 1,
            "failed" | "cancelled" => outcomes.failed += 1,
            _ => outcomes.stuck += 1,
        }
        if job["attempts"].as_array().is_some_and(|a| a.len() > 1) {
            outcomes.retried += 1;
        }
    }
    Ok(outcomes)
}

/// Jobs queued or running, from `/readyz`.
fn in_flight(reef: &Reef) -> Result<u64> {
    let ready = get_json(reef, "/readyz")?;
    let count = |name: &str| {
        ready[name]
            .as_u64()
            .with_context(|| format!("/readyz has no {name} count: {ready}"))
    };
    Ok(count("queued")? + count("running")?)
}

/// `GET path` expecting 200 and a JSON body.
fn get_json(reef: &Reef, path: &str) -> Result<Value> {
    let answer = reef.get(path);
    ensure!(
        answer.status == 200,
        "GET {path} answered {}: {}",
        answer.status,
        answer.text
    );
    serde_json::from_str(&answer.text)
        .with_context(|| format!("GET {path}: not JSON: {}", answer.text))
}

/// The active digest of a slot view.
fn active_digest(slot: &Value) -> Result<String> {
    slot["state"]["active"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no active digest in {}", slot["state"]))
}

/// Digests of every version stored in a slot view.
fn stored_digests(slot: &Value) -> Result<Vec<String>> {
    let versions = slot["versions"]
        .as_array()
        .with_context(|| format!("no versions in {slot}"))?;
    Ok(versions
        .iter()
        .filter_map(|v| v["digest"].as_str().map(str::to_owned))
        .collect())
}

/// A duration in milliseconds.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

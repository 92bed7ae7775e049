//! The Slurm executor against plain `sbatch`, on a three-node cluster of this machine
//! (`scripts/slurm-cluster`).
//!
//! 1. Makespan: N short jobs (`sleep 0.1`, one CPU each) submitted directly with an `sbatch`
//!    loop, then the same N commands submitted to reef (runner on the Slurm executor,
//!    `max_concurrency` above N so Slurm does the placing). Each job marks its start and end in
//!    a file; the clock runs from the first submit to the last end (and, for reef, to the last
//!    job recorded as finished). Submit-to-start latency p50 of both, from the same marks.
//! 2. Idle watching: M attempts held pending in Slurm (`--begin=now+1hour`); reef's CPU use and
//!    Slurm commands per second over a window.
//!
//! ```text
//! slurm_bench [--jobs 200] [--pending 1000] [--window 30]
//! ```

use reef_e2e::bench::{machine, millis, percentile};
use reef_e2e::slurm::SlurmCluster;
use reef_e2e::{Reef, wait_for};
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .find(|w| w[0] == name)
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(default)
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The job's command: marks its start and end (tag, ns) in `marks`, sleeps 0.1 s between.
fn command(marks: &Path, tag: &str) -> String {
    let m = marks.display();
    format!("echo start {tag} $(date +%s%N) >> {m}; sleep 0.1; echo end {tag} $(date +%s%N) >> {m}")
}

/// (kind, tag) → ns, from a marks file.
fn marks(path: &Path) -> HashMap<(String, String), u128> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((
                (f.first()?.to_string(), f.get(1)?.to_string()),
                f.get(2)?.parse().ok()?,
            ))
        })
        .collect()
}

/// Makespan (first submit → last end) and submit-to-start latencies of `submitted` tags.
fn measure(path: &Path, submitted: &[(String, u128)]) -> (Duration, Vec<Duration>) {
    let marks = marks(path);
    let first = submitted.iter().map(|s| s.1).min().unwrap_or(0);
    let last_end = submitted
        .iter()
        .filter_map(|(tag, _)| marks.get(&("end".into(), tag.clone())))
        .max()
        .copied()
        .unwrap_or(first);
    let mut latencies: Vec<Duration> = submitted
        .iter()
        .filter_map(|(tag, at)| {
            let start = marks.get(&("start".into(), tag.clone()))?;
            Some(Duration::from_nanos(start.saturating_sub(*at) as u64))
        })
        .collect();
    latencies.sort();
    (
        Duration::from_nanos(last_end.saturating_sub(first) as u64),
        latencies,
    )
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime: fields 14 and 15 of stat, 12 and 13 after the command name.
    field(11) + field(12)
}

fn commands(reef: &Reef) -> f64 {
    reef.get("/metrics")
        .text
        .lines()
        .filter(|l| l.starts_with("reef_executor_commands_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn main() {
    let jobs = arg("--jobs", 200) as usize;
    let pending = arg("--pending", 1000) as usize;
    let window = Duration::from_secs(arg("--window", 30));
    let cluster = SlurmCluster::start(3);
    let shared = cluster.dir().join("shared");
    std::fs::create_dir_all(&shared).expect("shared dir");
    let conf = cluster.dir().join("slurm.conf");
    let conf = conf.to_str().expect("UTF-8 path");
    // Nodes take jobs a few seconds after they answer; a first job waits for that.
    let warm = cluster.run(
        "sbatch",
        &["--parsable", "-o", "/dev/null", "--wrap", "true"],
    );
    wait_for("a first job ran", Duration::from_secs(60), || {
        let line = cluster.run("scontrol", &["show", "job", "-o", warm.trim()]);
        line.contains("JobState=COMPLETED").then_some(())
    });

    // 1a. Plain sbatch.
    let direct_marks = shared.join("direct.marks");
    let mut direct = Vec::new();
    for i in 0..jobs {
        let tag = format!("d{i}");
        let at = now_ns();
        cluster.run(
            "sbatch",
            &[
                "--parsable",
                "--no-requeue",
                "-o",
                "/dev/null",
                "--wrap",
                &command(&direct_marks, &tag),
            ],
        );
        direct.push((tag, at));
    }
    wait_for("every direct job ended", Duration::from_secs(600), || {
        let m = marks(&direct_marks);
        (direct
            .iter()
            .all(|(t, _)| m.contains_key(&("end".into(), t.clone()))))
        .then_some(())
    });
    let (direct_span, direct_lat) = measure(&direct_marks, &direct);

    // 1b. The same through reef.
    let reef_marks = shared.join("reef.marks");
    let config = format!(
        r#"
[scheduler]
max_concurrency = {limit}
[executors.cluster]
kind = "slurm"
shared_dir = "{shared}"
shim_path = "@BIN@/reef-shim"
[executors.later]
kind = "slurm"
shared_dir = "{shared}"
shim_path = "@BIN@/reef-shim"
sbatch_args = ["--begin=now+1hour"]
[runners.short]
command = ["/bin/sh", "-c", "{{script}}"]
executor = "cluster"
max_attempts = 1
[runners.short.params]
script = {{ required = true }}
[runners.short.slurm]
cpus = 1
[runners.held]
command = ["/bin/true"]
executor = "later"
[runners.held.slurm]
cpus = 1
"#,
        limit = jobs.max(pending) + 10,
        shared = shared.display(),
    );
    let reef = Reef::start_in(
        tempfile::tempdir().expect("tempdir"),
        &config,
        &[("SLURM_CONF", conf), ("REEF_LOG", "info")],
    );
    let started = Instant::now();
    let mut through = Vec::new();
    let mut ids = Vec::new();
    for i in 0..jobs {
        let tag = format!("r{i}");
        let at = now_ns();
        ids.push(reef.submit("short", json!({ "script": command(&reef_marks, &tag) })));
        through.push((tag, at));
    }
    for id in &ids {
        let job = reef.wait_done(id, Duration::from_secs(600));
        assert_eq!(job["state"], "succeeded", "{job:#}");
    }
    let recorded = started.elapsed();
    let (reef_span, reef_lat) = measure(&reef_marks, &through);

    println!("machine: {}", machine());
    println!("cluster: 3 nodes × 2 CPUs (one machine), {jobs} jobs of `sleep 0.1`, one CPU each");
    println!("| | makespan | submit→start p50 | p99 |");
    println!("|---|---|---|---|");
    println!(
        "| sbatch loop | {:.2} s | {} | {} |",
        direct_span.as_secs_f64(),
        millis(percentile(&direct_lat, 50.0)),
        millis(percentile(&direct_lat, 99.0))
    );
    println!(
        "| reef (poll 2s) | {:.2} s (all recorded finished: {:.2} s) | {} | {} |",
        reef_span.as_secs_f64(),
        recorded.as_secs_f64(),
        millis(percentile(&reef_lat, 50.0)),
        millis(percentile(&reef_lat, 99.0))
    );
    println!(
        "reef / sbatch makespan: {:.2} (recorded: {:.2})",
        reef_span.as_secs_f64() / direct_span.as_secs_f64(),
        recorded.as_secs_f64() / direct_span.as_secs_f64()
    );

    // 2. Idle watching of pending attempts.
    for _ in 0..pending {
        reef.submit("held", json!({}));
    }
    wait_for(
        "every held attempt pending in Slurm",
        Duration::from_secs(900),
        || {
            let reasons = cluster.run("squeue", &["-h", "-t", "PD", "-o", "%r"]);
            let held = reasons.lines().filter(|r| r.contains("BeginTime")).count();
            let watched = reef.get("/readyz").json()["running"].as_u64().unwrap_or(0);
            (held >= pending && watched >= pending as u64).then_some(())
        },
    );
    let ticks = cpu_ticks(reef.pid());
    let before = commands(&reef);
    std::thread::sleep(window);
    let cpu = (cpu_ticks(reef.pid()) - ticks) as f64 / 100.0;
    let per_second = (commands(&reef) - before) / window.as_secs_f64();
    println!(
        "idle, {pending} attempts pending in Slurm, over {} s: reef CPU {:.1}% of one core, {:.2} Slurm commands/s",
        window.as_secs(),
        100.0 * cpu / window.as_secs_f64(),
        per_second
    );
    cluster.run("scancel", &["--state=PENDING", "--full"]);
}

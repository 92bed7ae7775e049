//! The Slurm executor on a real three-node cluster (`scripts/slurm-cluster`): placement on
//! nodes, logs and results, timeout and cancel, a node failure, a host killed with attempts
//! running and pending in Slurm, the controller stopped and started, and limits across
//! executors. Each test has a cluster of its own; they run one at a time (two cores).

use reef_e2e::slurm::SlurmCluster;
use reef_e2e::{Reef, processes_with_env, read_marks, wait_for};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// One cluster at a time: the machine has two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A host with runner `eval` on executor `cluster` (one CPU per attempt unless `cpus` says
/// otherwise), runner `here` on `local`, both the demo runner with marks in the work dir.
fn config(cluster: &SlurmCluster, cpus: u32, extra: &str) -> String {
    let shared = cluster.dir().join("shared");
    std::fs::create_dir_all(&shared).expect("shared dir");
    format!(
        r#"
[scheduler]
max_concurrency = 16

[executors.cluster]
kind = "slurm"
shared_dir = "{shared}"
partition = "debug"
poll_interval = "250ms"
time_margin = "1m"
shim_path = "@BIN@/reef-shim"
{eval}
[runners.eval.slurm]
cpus = {cpus}
{here}
{extra}
"#,
        shared = shared.display(),
        eval = runner("eval", "cluster", "60s"),
        here = runner("here", "local", "60s"),
    )
}

/// Runner `name` on `executor`: the demo runner, marks in the work dir, one attempt.
fn runner(name: &str, executor: &str, timeout: &str) -> String {
    format!(
        r#"
[runners.{name}]
command = ["@BIN@/demo-runner", "{{benchmark}}", "--agent", "deterministic", "--execution-id", "{{job_id}}"]
workdir = "@WORK@"
executor = "{executor}"
timeout = "{timeout}"
kill_grace = "2s"
max_attempts = 1
env = {{ DEMO_MARKS = "@WORK@/marks" }}
[runners.{name}.params]
benchmark = {{ required = true }}
[runners.{name}.result]
file = "logs/sessions/session_{{job_id}}.json"
success = "/final_result/success"
score = "/final_result/score"
"#
    )
}

fn start(cluster: &SlurmCluster, cpus: u32, extra: &str) -> Reef {
    let conf = cluster.dir().join("slurm.conf");
    Reef::start_in(
        tempfile::tempdir().expect("tempdir"),
        &config(cluster, cpus, extra),
        &[("SLURM_CONF", conf.to_str().expect("UTF-8 path"))],
    )
}

/// A benchmark file in the host's work dir.
fn benchmark(reef: &Reef, name: &str, yaml: &str) -> String {
    let path = reef.work().join(name);
    std::fs::write(&path, yaml).expect("benchmark");
    path.to_string_lossy().into_owned()
}

/// A benchmark whose runs wait for the file `gate` (in the work dir) before they succeed.
fn gated(reef: &Reef) -> (std::path::PathBuf, String) {
    let gate = reef.work().join("gate");
    let yaml = format!(
        "id: gated\nsteps: 1\nstep_ms: 10\ngate: {}\n",
        gate.display()
    );
    (gate, benchmark(reef, "gated.yml", &yaml))
}

fn bench(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/benchmarks")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn submit(reef: &Reef, runner: &str, benchmark: &str) -> String {
    reef.submit(runner, json!({ "benchmark": benchmark }))
}

/// The last attempt of job `id`.
fn attempt(reef: &Reef, id: &str) -> Value {
    let job = reef.job(id);
    job["attempts"]
        .as_array()
        .and_then(|a| a.last().cloned())
        .unwrap_or(Value::Null)
}

/// The Slurm state of job `slurm_id`, as `scontrol` says.
fn slurm_state(cluster: &SlurmCluster, slurm_id: &str) -> String {
    let line = cluster.run("scontrol", &["show", "job", "-o", slurm_id]);
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix("JobState="))
        .unwrap_or("")
        .to_owned()
}

/// Slurm jobs by name, as `squeue --json` lists them (finished ones included).
fn slurm_jobs_named(cluster: &SlurmCluster) -> BTreeMap<String, Vec<String>> {
    let out = cluster.run("squeue", &["--json"]);
    let doc: Value = serde_json::from_str(&out).expect("squeue json");
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for job in doc["jobs"].as_array().into_iter().flatten() {
        by_name
            .entry(job["name"].as_str().unwrap_or("").to_owned())
            .or_default()
            .push(job["job_state"].as_str().unwrap_or("").to_owned());
    }
    by_name
}

/// Waits until job `id`'s attempt is placed on a node; answers (node, Slurm id).
fn placed(reef: &Reef, id: &str) -> (String, String) {
    wait_for("the attempt placed on a node", T, || {
        let a = attempt(reef, id);
        let node = a["placement"]["node"].as_str()?.to_owned();
        let slurm_id = a["placement"]["id"].as_str()?.to_owned();
        Some((node, slurm_id))
    })
}

#[test]
fn attempts_spread_over_nodes_with_logs_results_and_exit_codes() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cluster = SlurmCluster::start(3);
    let reef = start(&cluster, 1, "");
    // Twelve at once: more than the nodes take, submitted while the watch polls.
    let ids: Vec<String> = (0..12)
        .map(|_| submit(&reef, "eval", &bench("slow.yml")))
        .collect();
    let failing = submit(&reef, "eval", &bench("exit3.yml"));

    let mut nodes = BTreeSet::new();
    for id in &ids {
        let job = reef.wait_done(id, T);
        assert_eq!(job["state"], "succeeded", "{job:#}");
        assert_eq!(job["attempt_count"], 1, "{job:#}");
        let a = attempt(&reef, id);
        assert_eq!(a["placement"]["executor"], "cluster", "{a:#}");
        let node = a["placement"]["node"].as_str().expect("a node").to_owned();
        assert!(["n1", "n2", "n3"].contains(&node.as_str()), "{node}");
        let slurm_id = a["placement"]["id"].as_str().expect("a Slurm id");
        assert_eq!(slurm_state(&cluster, slurm_id), "COMPLETED");
        assert!(
            a["placed_at"].is_string() && a.get("waiting").is_none(),
            "{a:#}"
        );
        assert_eq!(a["score"], 1.0);
        nodes.insert(node);
        // Logs come from the shared directory the node wrote.
        let logs = reef.get(&format!("/v1/jobs/{id}/logs?stream=stdout"));
        assert!(logs.text.contains("[demo-runner]"), "{}", logs.text);
    }
    assert!(nodes.len() >= 2, "every attempt on one node: {nodes:?}");

    let job = reef.wait_done(&failing, T);
    assert_eq!(job["state"], "failed", "{job:#}");
    let a = attempt(&reef, &failing);
    assert_eq!(a["exit_code"], 3, "{a:#}");
    assert_eq!(a["reason"], "exit_code:3");

    // Slurm's queue and reef's are told apart; the executor is up.
    let waited = reef
        .metric(r#"reef_executor_queue_wait_seconds_count{executor="cluster"}"#)
        .unwrap_or(0.0);
    assert!(waited >= 13.0, "{waited}");
    assert_eq!(
        reef.metric(r#"reef_executor_up{executor="cluster"}"#),
        Some(1.0)
    );
    let shown = reef.cli(&["show", &ids[0]]).expect(0);
    assert!(shown.stdout.contains("cluster/n"), "{}", shown.stdout);
    // The event that ends the attempt says where it ran.
    let events = reef.get(&format!("/v1/jobs/{}/events", ids[0])).json();
    let ended = events
        .as_array()
        .or_else(|| events["events"].as_array())
        .and_then(|all| all.iter().find(|e| e["transition"] == "succeed").cloned())
        .unwrap_or(Value::Null);
    assert_eq!(ended["placement"]["executor"], "cluster", "{events:#}");
    assert!(ended["placement"]["node"].is_string(), "{events:#}");
}

#[test]
fn timeout_and_cancel_leave_nothing_on_the_node_and_a_pending_attempt_is_cancelled_in_slurm() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cluster = SlurmCluster::start(3);
    // Two CPUs an attempt: one attempt fills a node.
    let brief = runner("brief", "cluster", "1500ms") + "[runners.brief.slurm]\ncpus = 2\n";
    let reef = start(&cluster, 2, &brief);
    let hang = bench("hang.yml");

    // The shim enforces the plan's deadline on the node; nothing of the attempt is left.
    let timed = submit(&reef, "brief", &hang);
    let job = reef.wait_done(&timed, T);
    assert_eq!(job["state"], "failed", "{job:#}");
    assert_eq!(attempt(&reef, &timed)["reason"], "timeout");
    assert!(processes_with_env("REEF_JOB_ID", &timed).is_empty());

    let running: Vec<String> = (0..3).map(|_| submit(&reef, "eval", &hang)).collect();
    for id in &running {
        placed(&reef, id);
    }
    // The cluster is full: the next attempt waits in Slurm's queue, and says why.
    let waiting = submit(&reef, "eval", &hang);
    let reason = wait_for("the attempt pending in Slurm", T, || {
        attempt(&reef, &waiting)["waiting"]
            .as_str()
            .filter(|r| r.contains("pending in Slurm: "))
            .map(str::to_owned)
    });
    assert!(
        reason.contains("Resources") || reason.contains("Priority"),
        "{reason}"
    );
    let shown = reef.cli(&["show", &waiting]).expect(0);
    assert!(
        shown.stdout.contains("waiting: pending in Slurm"),
        "{}",
        shown.stdout
    );

    // Cancel the pending one: Slurm cancels the job, no process ever ran.
    let slurm_id = wait_for("the Slurm id", T, || {
        attempt(&reef, &waiting)["placement"]["id"]
            .as_str()
            .map(str::to_owned)
    });
    reef.post(&format!("/v1/jobs/{waiting}/cancel"), &json!({}));
    let job = reef.wait_done(&waiting, T);
    assert_eq!(job["state"], "cancelled", "{job:#}");
    assert_eq!(slurm_state(&cluster, &slurm_id), "CANCELLED");

    // Cancel the running ones: the shim ends them with its grace, nothing survives.
    for id in &running {
        let (_, slurm_id) = placed(&reef, id);
        // Slurm says RUNNING a moment before its batch script has become the shim.
        wait_for("the runner started", T, || {
            (!processes_with_env("REEF_JOB_ID", id).is_empty()).then_some(())
        });
        reef.post(&format!("/v1/jobs/{id}/cancel"), &json!({}));
        let job = reef.wait_done(id, T);
        assert_eq!(job["state"], "cancelled", "{job:#}");
        assert_eq!(attempt(&reef, id)["cancelled"], true);
        wait_for("no process of the attempt left", T, || {
            processes_with_env("REEF_JOB_ID", id)
                .is_empty()
                .then_some(())
        });
        wait_for("the Slurm job over", T, || {
            (slurm_state(&cluster, &slurm_id) == "COMPLETED").then_some(())
        });
    }
}

#[test]
fn a_host_killed_with_attempts_running_and_pending_in_slurm_runs_each_exactly_once() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cluster = SlurmCluster::start(3);
    let reef = start(&cluster, 2, "");
    let (gate, gated) = gated(&reef);
    let ids: Vec<String> = (0..5).map(|_| submit(&reef, "eval", &gated)).collect();
    // Three run (one per node), two wait in Slurm's queue.
    wait_for("three placed and two pending", T, || {
        let (mut running, mut pending) = (0, 0);
        for id in &ids {
            let a = attempt(&reef, id);
            if a["placement"]["node"].is_string() {
                running += 1;
            } else if a["waiting"].as_str().is_some_and(|w| w.contains("pending")) {
                pending += 1;
            }
        }
        (running == 3 && pending == 2).then_some(())
    });
    let work = reef.work();
    let dir = reef.kill9();
    // While no host runs: the running attempts end, the pending ones start and end.
    std::fs::write(&gate, b"go").expect("gate");
    wait_for("two of the five ended while no host ran", T, || {
        let marks = read_marks(&work.join("marks"));
        (marks.iter().filter(|m| m.0 == "end").count() >= 2).then_some(())
    });
    let conf = cluster.dir().join("slurm.conf");
    let reef = Reef::start_in(
        dir,
        &config(&cluster, 2, ""),
        &[("SLURM_CONF", conf.to_str().expect("UTF-8 path"))],
    );
    for id in &ids {
        let job = reef.wait_done(id, T);
        assert_eq!(job["state"], "succeeded", "{job:#}");
        assert_eq!(job["attempt_count"], 1, "{job:#}");
    }
    // Each attempt started once, and Slurm ran one job for each.
    let marks = read_marks(&reef.work().join("marks"));
    for id in &ids {
        let starts = marks
            .iter()
            .filter(|m| m.0 == "start" && &m.1 == id)
            .count();
        assert_eq!(starts, 1, "{id}: {marks:?}");
        let name = format!("reef-{id}-1");
        assert_eq!(slurm_jobs_named(&cluster)[&name], ["COMPLETED"], "{name}");
    }
}

#[test]
fn with_the_controller_down_submits_wait_and_say_why_then_run_when_it_is_back() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cluster = SlurmCluster::start(3);
    let reef = start(&cluster, 1, "");
    cluster.stop_controller();
    let ids: Vec<String> = (0..2)
        .map(|_| submit(&reef, "eval", &bench("success.yml")))
        .collect();
    for id in &ids {
        let reason = wait_for("the attempt waiting for Slurm", T, || {
            attempt(&reef, id)["waiting"]
                .as_str()
                .filter(|w| w.contains("cannot be reached"))
                .map(str::to_owned)
        });
        assert!(reason.contains("sbatch"), "{reason}");
    }
    let ready = wait_for("readyz saying the executor is down", T, || {
        let ready = reef.get("/readyz");
        (ready.json()["checks"]["executors"]["cluster"]["ok"] == false).then_some(ready)
    });
    assert_eq!(ready.status, 200, "jobs are still accepted");
    assert_eq!(ready.json()["status"], "degraded");
    assert_eq!(
        reef.metric(r#"reef_executor_up{executor="cluster"}"#),
        Some(0.0)
    );

    cluster.start_controller();
    for id in &ids {
        let job = reef.wait_done(id, T);
        assert_eq!(job["state"], "succeeded", "{job:#}");
    }
    wait_for("readyz ready again", T, || {
        (reef.get("/readyz").json()["status"] == "ready").then_some(())
    });
    assert_eq!(
        reef.metric(r#"reef_executor_up{executor="cluster"}"#),
        Some(1.0)
    );
    // One Slurm job per attempt, however often the submit was tried.
    let jobs = slurm_jobs_named(&cluster);
    for id in &ids {
        assert_eq!(jobs[&format!("reef-{id}-1")].len(), 1, "{jobs:?}");
    }
}

#[test]
fn local_and_slurm_attempts_share_one_global_limit() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cluster = SlurmCluster::start(3);
    let reef = start(&cluster, 1, "");
    drop(reef);
    let conf = cluster.dir().join("slurm.conf");
    let limited = config(&cluster, 1, "").replace("max_concurrency = 16", "max_concurrency = 2");
    let reef = Reef::start_in(
        tempfile::tempdir().expect("tempdir"),
        &limited,
        &[("SLURM_CONF", conf.to_str().expect("UTF-8 path"))],
    );
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(submit(&reef, "eval", &bench("slow.yml")));
        ids.push(submit(&reef, "here", &bench("slow.yml")));
    }
    for id in &ids {
        let job = reef.wait_done(id, T);
        assert_eq!(job["state"], "succeeded", "{job:#}");
    }
    let executors: BTreeSet<String> = ids
        .iter()
        .map(|id| {
            attempt(&reef, id)["placement"]["executor"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(
        executors,
        BTreeSet::from(["cluster".into(), "local".into()])
    );
    let marks = read_marks(&reef.work().join("marks"));
    assert_eq!(marks.len(), 12, "{marks:?}");
    assert!(reef_e2e::max_overlap(&marks) <= 2, "{marks:?}");
}

#[test]
fn a_node_that_dies_under_an_attempt_loses_it_and_the_policy_retries_it_elsewhere() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cluster = SlurmCluster::start(3);
    // `max_attempts = 1`: a lost attempt does not use the retry budget.
    let reef = start(&cluster, 1, "");
    let (gate, gated) = gated(&reef);
    let id = submit(&reef, "eval", &gated);
    let (node, slurm_id) = placed(&reef, &id);
    wait_for("the runner started", T, || {
        (!processes_with_env("REEF_JOB_ID", &id).is_empty()).then_some(())
    });
    // The node dies: its slurmd, and everything it ran.
    cluster.stop_node(&node);
    kill_job_processes(&slurm_id, &id);
    std::fs::write(&gate, b"go").expect("gate");

    let job = reef.wait_done(&id, Duration::from_secs(120));
    assert_eq!(job["state"], "succeeded", "{job:#}");
    let attempts = job["attempts"].as_array().cloned().unwrap_or_default();
    assert_eq!(attempts.len(), 2, "{job:#}");
    assert_eq!(attempts[0]["state"], "lost", "{job:#}");
    let lost = attempts[0]["lost_reason"].as_str().unwrap_or("");
    assert!(lost.contains("NODE_FAIL"), "{lost}");
    let second = attempts[1]["placement"]["node"].as_str().unwrap_or("");
    assert_ne!(second, node, "retried on the dead node");
    cluster.start_node(&node);
}

/// SIGKILL to Slurm's step daemon of job `slurm_id` and to every process of reef job `id`:
/// what a node's death does to them.
fn kill_job_processes(slurm_id: &str, id: &str) {
    let step = format!("[{slurm_id}.");
    let mut pids: Vec<u32> = reef_shim::procs::command_lines()
        .into_iter()
        .filter(|(_, argv)| argv.join(" ").contains(&step))
        .map(|(pid, _)| pid.unsigned_abs())
        .collect();
    pids.extend(processes_with_env("REEF_JOB_ID", id));
    pids.extend(shims_of(id));
    for pid in pids {
        // SAFETY: kill(2) with a pid just read from /proc.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
}

/// Pids of the shims running an attempt of job `id`.
fn shims_of(id: &str) -> Vec<u32> {
    reef_shim::procs::command_lines()
        .into_iter()
        .filter(|(_, argv)| {
            argv.first().is_some_and(|a| a.ends_with("reef-shim")) && argv.join(" ").contains(id)
        })
        .map(|(pid, _)| pid.unsigned_abs())
        .collect()
}

#[test]
fn after_a_host_kill_a_submitted_but_unrecorded_attempt_is_found_by_name_and_an_unsubmitted_one_is_lost()
 {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cluster = SlurmCluster::start(3);
    // Slurm's commands from a directory of the test's: `sbatch` submits, then hangs while the
    // file `hang` exists (a host killed then has submitted without hearing the id).
    let bin = cluster.dir().join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    let hang = cluster.dir().join("hang");
    for command in ["squeue", "scancel", "scontrol"] {
        std::os::unix::fs::symlink(format!("/usr/bin/{command}"), bin.join(command))
            .expect("symlink");
    }
    let sbatch = bin.join("sbatch");
    std::fs::write(
        &sbatch,
        format!(
            "#!/bin/sh\nout=$(/usr/bin/sbatch \"$@\") || exit $?\necho \"$out\"\nwhile [ -e {} ]; do sleep 0.1; done\n",
            hang.display()
        ),
    )
    .expect("sbatch wrapper");
    std::fs::set_permissions(&sbatch, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let config = config(&cluster, 1, "").replace(
        "poll_interval = \"250ms\"",
        &format!("poll_interval = \"250ms\"\nbin_dir = \"{}\"", bin.display()),
    );
    let conf = cluster.dir().join("slurm.conf");
    let env = [("SLURM_CONF", conf.to_str().expect("UTF-8 path"))];
    let reef = Reef::start_in(tempfile::tempdir().expect("tempdir"), &config, &env);
    let (gate, gated) = gated(&reef);

    // Submitted: Slurm has it, reef never heard its id.
    std::fs::write(&hang, b"").expect("hang");
    let heard_nothing = submit(&reef, "eval", &gated);
    let name = format!("reef-{heard_nothing}-1");
    wait_for("the submit in Slurm's queue", T, || {
        slurm_jobs_named(&cluster).contains_key(&name).then_some(())
    });
    assert!(attempt(&reef, &heard_nothing).get("handle").is_none());

    // Committed, never submitted: the controller is down while it is launched.
    cluster.stop_controller();
    let never = submit(&reef, "eval", &gated);
    wait_for("the launch waiting for Slurm", T, || {
        attempt(&reef, &never)["waiting"]
            .as_str()
            .filter(|w| w.contains("cannot be reached"))
            .map(drop)
    });

    let work = reef.work();
    let dir = reef.kill9();
    for pid in reef_shim::procs::command_lines()
        .into_iter()
        .filter(|(_, argv)| argv.iter().any(|a| a.contains(&*sbatch.to_string_lossy())))
        .map(|(pid, _)| pid)
    {
        // SAFETY: kill(2) with a pid just read from /proc: the hanging wrapper.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    std::fs::remove_file(&hang).expect("no more hanging");
    cluster.start_controller();
    std::fs::write(&gate, b"go").expect("gate");
    let reef = Reef::start_in(dir, &config, &env);

    let job = reef.wait_done(&heard_nothing, T);
    assert_eq!(job["state"], "succeeded", "{job:#}");
    assert_eq!(job["attempt_count"], 1, "found by its name: {job:#}");
    let job = reef.wait_done(&never, T);
    assert_eq!(job["state"], "succeeded", "{job:#}");
    let attempts = job["attempts"].as_array().cloned().unwrap_or_default();
    assert_eq!(attempts.len(), 2, "{job:#}");
    assert_eq!(attempts[0]["state"], "lost", "{job:#}");
    let lost = attempts[0]["lost_reason"].as_str().unwrap_or("");
    assert!(lost.contains("never submitted"), "{lost}");

    // Exactly once each: one Slurm job per attempt that ran, one start mark per job.
    let jobs = slurm_jobs_named(&cluster);
    assert_eq!(jobs[&name], ["COMPLETED"], "{jobs:?}");
    assert!(!jobs.contains_key(&format!("reef-{never}-1")), "{jobs:?}");
    assert_eq!(jobs[&format!("reef-{never}-2")], ["COMPLETED"], "{jobs:?}");
    let marks = read_marks(&work.join("marks"));
    for id in [&heard_nothing, &never] {
        let starts = marks
            .iter()
            .filter(|m| m.0 == "start" && &m.1 == id)
            .count();
        assert_eq!(starts, 1, "{id}: {marks:?}");
    }
}

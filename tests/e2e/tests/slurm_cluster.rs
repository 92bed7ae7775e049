//! The Slurm cluster the Slurm executor is tested on: three nodes on this machine that place
//! batch jobs on different nodes, keep a job's exit code, and outlive a controller restart.

use reef_e2e::slurm::SlurmCluster;
use reef_e2e::wait_for;
use std::collections::BTreeSet;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// The state and node of job `id` as `scontrol show job -o` tells them.
fn job(cluster: &SlurmCluster, id: &str) -> (String, String) {
    let line = cluster.run("scontrol", &["show", "job", "-o", id]);
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key))
            .unwrap_or("")
            .to_owned()
    };
    (field("JobState="), field("NodeList="))
}

fn submit(cluster: &SlurmCluster, script: &str) -> String {
    cluster
        .run(
            "sbatch",
            &[
                "--parsable",
                "--no-requeue",
                "-o",
                "/dev/null",
                "--wrap",
                script,
            ],
        )
        .trim()
        .to_owned()
}

#[test]
fn three_nodes_share_the_jobs_keep_exit_codes_and_survive_a_controller_restart() {
    let cluster = SlurmCluster::start(3);
    let nodes = cluster.run("sinfo", &["-h", "-N", "-o", "%N"]);
    assert_eq!(
        nodes.split_whitespace().collect::<Vec<_>>(),
        ["n1", "n2", "n3"]
    );

    // Six jobs that each hold a CPU for a second: the three nodes share them.
    let ids: Vec<String> = (0..6).map(|_| submit(&cluster, "sleep 1")).collect();
    let placed: BTreeSet<String> = wait_for("six jobs to complete", T, || {
        let ends: Vec<(String, String)> = ids.iter().map(|id| job(&cluster, id)).collect();
        ends.iter()
            .all(|(state, _)| state == "COMPLETED")
            .then(|| ends.into_iter().map(|(_, node)| node).collect())
    });
    assert!(placed.len() >= 2, "jobs ran on {placed:?}");

    // The exit code of the batch script is Slurm's verdict.
    let failing = submit(&cluster, "exit 3");
    let line = wait_for("the failing job to end", T, || {
        let line = cluster.run("scontrol", &["show", "job", "-o", &failing]);
        line.contains("JobState=FAILED").then_some(line)
    });
    assert!(line.contains("ExitCode=3:0"), "{line}");

    // With the controller down nothing is accepted; once it is back, work goes on.
    cluster.stop_controller();
    let refused = cluster
        .command("sbatch")
        .args(["--parsable", "--wrap", "true"])
        .output()
        .expect("sbatch runs");
    assert!(!refused.status.success(), "sbatch without a controller");
    cluster.start_controller();
    let after = wait_for("the controller to accept jobs again", T, || {
        let output = cluster
            .command("sbatch")
            .args([
                "--parsable",
                "--no-requeue",
                "-o",
                "/dev/null",
                "--wrap",
                "true",
            ])
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    });
    wait_for("the job after the restart to complete", T, || {
        (job(&cluster, &after).0 == "COMPLETED").then_some(())
    });
    assert!(
        cluster.dir().join("log/slurmctld.log").exists(),
        "the cluster keeps its logs in its directory"
    );
}

//! A real Slurm cluster for the tests: `scripts/slurm-cluster` starts one controller and a
//! `slurmd` per node on this machine, under a temporary directory; dropping the cluster stops
//! every daemon it started.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running cluster.
pub struct SlurmCluster {
    dir: tempfile::TempDir,
    conf: PathBuf,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/slurm-cluster")
}

fn run(args: &[&str]) -> Output {
    let output = Command::new("bash")
        .arg(script())
        .args(args)
        .output()
        .expect("bash runs scripts/slurm-cluster");
    assert!(
        output.status.success(),
        "slurm-cluster {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

impl SlurmCluster {
    /// Starts a cluster of `nodes` nodes (`n1`, `n2`, ...) in partition `debug`; returns once
    /// every node answers.
    pub fn start(nodes: usize) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir
            .path()
            .to_str()
            .expect("a UTF-8 temporary path")
            .to_owned();
        run(&["start", &path, &nodes.to_string()]);
        let conf = dir.path().join("slurm.conf");
        Self { dir, conf }
    }

    /// The directory holding its configuration, state and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A Slurm client command (`sbatch`, `squeue`, ...) pointed at this cluster.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("SLURM_CONF", &self.conf);
        command
    }

    /// Runs a client command and returns its stdout; panics with its stderr when it fails.
    pub fn run(&self, program: &str, args: &[&str]) -> String {
        let output = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Kills node `node`'s slurmd, as a node failure would (its jobs' processes run on).
    pub fn stop_node(&self, node: &str) {
        run(&["stop-node", self.path(), node]);
    }

    /// Starts node `node`'s slurmd again.
    pub fn start_node(&self, node: &str) {
        run(&["start-node", self.path(), node]);
    }

    /// Stops the controller.
    pub fn stop_controller(&self) {
        run(&["stop-controller", self.path()]);
    }

    /// Starts the controller again.
    pub fn start_controller(&self) {
        run(&["start-controller", self.path()]);
    }

    fn path(&self) -> &str {
        self.dir.path().to_str().expect("a UTF-8 temporary path")
    }
}

impl Drop for SlurmCluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", self.path()])
            .output();
    }
}

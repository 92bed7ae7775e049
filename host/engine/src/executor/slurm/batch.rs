//! One attempt as one Slurm batch job: the script and the `sbatch` arguments.

use reef_core::config::executors::{SlurmExecutorConfig, SlurmRequest};
use std::path::Path;
use std::time::Duration;

/// What one submission needs.
#[derive(Debug, Clone)]
pub struct Submission<'a> {
    /// The attempt's name, Slurm's job name (how reef finds the job again).
    pub name: &'a str,
    /// The comment Slurm shows with it.
    pub comment: String,
    /// The attempt directory (the batch job's working directory and its output).
    pub dir: &'a Path,
    /// The batch script.
    pub script: &'a Path,
    /// The runner's request.
    pub request: &'a SlurmRequest,
    /// Slurm's time limit: a backstop beyond the plan's deadline.
    pub limit: Duration,
}

/// The batch script: `exec`s the shim on the node, so that the shim is the process Slurm
/// signals (`scancel -b`) and its exit is the job's.
pub fn script(shim: &str, spec: &Path) -> String {
    format!(
        "#!/bin/sh\n# One reef attempt, supervised by reef-shim on this node.\nexec {} --spec {}\n",
        sh_quote(shim),
        sh_quote(&spec.to_string_lossy())
    )
}

/// `sbatch` arguments: the executor's extra ones first, then reef's own (which win where they
/// overlap). No requeue: after a node failure Slurm's requeue can run a job twice.
pub fn sbatch_args(config: &SlurmExecutorConfig, job: &Submission<'_>) -> Vec<String> {
    let mut args = config.sbatch_args.clone();
    let dir = job.dir.to_string_lossy();
    args.extend([
        "--parsable".to_owned(),
        format!("--job-name={}", job.name),
        format!("--comment={}", job.comment),
        "--no-requeue".to_owned(),
        "--nodes=1".to_owned(),
        "--ntasks=1".to_owned(),
        format!("--time={}", minutes(job.limit)),
        format!("--chdir={dir}"),
        format!("--output={dir}/shim.log"),
        "--open-mode=append".to_owned(),
    ]);
    let optional = [
        ("--partition", config.partition.clone()),
        ("--account", config.account.clone()),
        ("--qos", config.qos.clone()),
        ("--cpus-per-task", job.request.cpus.map(|c| c.to_string())),
        ("--mem", job.request.mem.clone()),
        ("--gres", job.request.gres.clone()),
    ];
    for (flag, value) in optional {
        if let Some(value) = value {
            args.push(format!("{flag}={value}"));
        }
    }
    args.push(job.script.to_string_lossy().into_owned());
    args
}

/// Slurm's time limit in whole minutes, rounded up (its finest unit that every version takes).
fn minutes(limit: Duration) -> u64 {
    limit.as_secs().div_ceil(60).max(1)
}

/// `text` quoted for `sh`.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn config() -> SlurmExecutorConfig {
        SlurmExecutorConfig {
            shared_dir: "/shared/reef".into(),
            partition: Some("debug".into()),
            account: None,
            qos: None,
            sbatch_args: vec!["--exclusive".into()],
            time_margin: Duration::from_secs(300),
            poll_interval: Duration::from_secs(2),
            bin_dir: None,
            shim_path: None,
        }
    }

    #[test]
    fn a_submission_names_limits_and_places_the_job() {
        let request = SlurmRequest {
            cpus: Some(2),
            mem: Some("4G".into()),
            gres: None,
        };
        let dir = PathBuf::from("/shared/reef/attempts/J/1");
        let script = dir.join("batch.sh");
        let args = sbatch_args(
            &config(),
            &Submission {
                name: "reef-J-1",
                comment: "reef job J attempt 1".into(),
                dir: &dir,
                script: &script,
                request: &request,
                limit: Duration::from_secs(61),
            },
        );
        assert_eq!(
            args,
            [
                "--exclusive",
                "--parsable",
                "--job-name=reef-J-1",
                "--comment=reef job J attempt 1",
                "--no-requeue",
                "--nodes=1",
                "--ntasks=1",
                "--time=2",
                "--chdir=/shared/reef/attempts/J/1",
                "--output=/shared/reef/attempts/J/1/shim.log",
                "--open-mode=append",
                "--partition=debug",
                "--cpus-per-task=2",
                "--mem=4G",
                "/shared/reef/attempts/J/1/batch.sh",
            ]
        );
    }

    #[test]
    fn the_script_execs_the_shim_with_quoted_paths() {
        let text = script("/opt/reef bin/reef-shim", Path::new("/x/it's/spec.json"));
        assert!(text.starts_with("#!/bin/sh\n"));
        assert!(text.ends_with("exec '/opt/reef bin/reef-shim' --spec '/x/it'\\''s/spec.json'\n"));
    }
}

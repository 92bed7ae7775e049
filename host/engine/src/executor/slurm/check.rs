//! What a host can check of a Slurm executor's configuration from where it runs.

use reef_core::config::executors::SlurmExecutorConfig;

/// What `reef config check` and a starting host warn of for executor `name`: a shared
/// directory missing or not writable here, Slurm commands not found.
pub fn config_warnings(name: &str, config: &SlurmExecutorConfig) -> Vec<String> {
    let mut warnings = Vec::new();
    let dir = &config.shared_dir;
    if !dir.is_dir() {
        warnings.push(format!(
            "executors.{name}.shared_dir: {} does not exist here; attempts on {name} fail to launch until it does",
            dir.display()
        ));
    } else {
        let probe = dir.join(format!(".reef-probe-{}", std::process::id()));
        match std::fs::write(&probe, b"") {
            Ok(()) => {
                let _ = std::fs::remove_file(&probe);
            }
            Err(error) => warnings.push(format!(
                "executors.{name}.shared_dir: {} is not writable here: {error}",
                dir.display()
            )),
        }
    }
    let path_var = std::env::var_os("PATH");
    for command in ["sbatch", "squeue", "scancel", "scontrol"] {
        let found = match &config.bin_dir {
            Some(dir) => dir.join(command).is_file(),
            None => path_var
                .as_ref()
                .is_some_and(|p| std::env::split_paths(p).any(|d| d.join(command).is_file())),
        };
        if !found {
            let place = config
                .bin_dir
                .as_ref()
                .map_or_else(|| "PATH".to_owned(), |d| d.display().to_string());
            warnings.push(format!(
                "executors.{name}: Slurm's {command} is not in {place}; attempts on {name} wait until it is"
            ));
        }
    }
    warnings
}

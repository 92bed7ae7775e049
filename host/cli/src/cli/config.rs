//! `reef config check|show`.

use clap::Subcommand;
use reef_core::config::Config;
use reef_policy::validation::validate;
use reef_policy::wasm::{NoCodeCache, PluginRuntime};
use reef_server::server::{ServeOptions, call_limits, prepare};
use std::path::{Path, PathBuf};

/// Config subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a config file as `reef serve` would (with the `REEF_*` environment applied).
    /// Exits 1 naming the bad field; warns about runner programs not installed here.
    Check {
        /// The config file.
        file: PathBuf,
    },
    /// Print the reference of every option, generated from the code (docs/configuration.md).
    Reference,
    /// Print the effective configuration (file, then environment) as TOML, secrets redacted.
    Show {
        /// Config file (default: config/dev.toml when present, else built-in defaults).
        #[arg(long, env = "REEF_CONFIG")]
        config: Option<PathBuf>,
    },
}

/// Runs a config subcommand; returns the exit code.
pub fn run(command: ConfigCommand) -> anyhow::Result<i32> {
    match command {
        ConfigCommand::Check { file } => Ok(check(&file)),
        ConfigCommand::Reference => {
            print!("{}", reef_server::config_reference::markdown());
            Ok(0)
        }
        ConfigCommand::Show { config } => {
            let config = config.or_else(|| {
                let default = PathBuf::from(super::DEFAULT_CONFIG);
                default.exists().then_some(default)
            });
            let mut loaded = reef_server::config_load::load(config.as_deref())?.config;
            for token in &mut loaded.auth.tokens {
                if token.token.is_some() {
                    token.token = Some("<redacted>".into());
                }
            }
            print!("{}", toml::to_string(&loaded)?);
            Ok(0)
        }
    }
}

fn check(file: &Path) -> i32 {
    let options = ServeOptions {
        config: Some(file.to_owned()),
        ..Default::default()
    };
    let (config, runners, _, base_dir) = match prepare(&options) {
        Ok(prepared) => prepared,
        Err(error) => {
            eprintln!("{}: invalid: {error:#}", file.display());
            return 1;
        }
    };
    let mut warnings = reef_engine::workdir::install_warnings(&runners);
    warnings.extend(reef_engine::executor::config_warnings(&config));
    if let Err(problem) = check_policy_file(&config, &base_dir) {
        eprintln!("{}: invalid: policy.file: {problem}", file.display());
        return 1;
    }
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    println!(
        "{}: ok ({} runner{}, {} resource pool{}, listen {})",
        file.display(),
        runners.iter().count(),
        if runners.iter().count() == 1 { "" } else { "s" },
        config.resources.len(),
        if config.resources.len() == 1 { "" } else { "s" },
        config.server.listen
    );
    0
}

/// The config's `policy.file`, judged as the host will judge it at start: read, compiled and
/// self-tested under the config's own call limits.
fn check_policy_file(config: &Config, base_dir: &Path) -> Result<(), String> {
    let Some(policy) = &config.policy.file else {
        return Ok(());
    };
    let path = base_dir.join(policy);
    let bytes =
        std::fs::read(&path).map_err(|e| format!("{}: cannot be read: {e}", path.display()))?;
    let runtime = PluginRuntime::new(call_limits(config)).map_err(|e| e.to_string())?;
    let report = validate(&runtime, &NoCodeCache, &bytes);
    if report.valid {
        Ok(())
    } else {
        Err(format!(
            "{} would be refused: {}",
            path.display(),
            report.errors.join("; ")
        ))
    }
}

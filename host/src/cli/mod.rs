//! The `reef` command line: `reef serve` runs the host; `reef policy ...` manages policies,
//! locally (`test`) or on a running host over its HTTP API.

mod config;
mod policy;
mod policy_test;

use crate::client::ApiClient;
use crate::server::{ServeOptions, run};
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The config used when `--config` is not given and this file exists.
const DEFAULT_CONFIG: &str = "config/dev.toml";

/// The `reef` command.
#[derive(Debug, Parser)]
#[command(
    name = "reef",
    version,
    about = "Host command-line runners behind an HTTP API"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where a running host is.
#[derive(Debug, Clone, Args)]
pub struct Remote {
    /// URL of the host.
    #[arg(
        long,
        env = "REEF_URL",
        default_value = "http://127.0.0.1:7878",
        global = true
    )]
    url: String,
    /// Bearer token.
    #[arg(long, env = "REEF_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
}

impl Remote {
    fn client(&self) -> ApiClient {
        ApiClient::new(&self.url, self.token.clone())
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the host: HTTP API, scheduler and attempt supervision.
    Serve {
        /// Config file (default: config/dev.toml when present, else built-in defaults).
        #[arg(long, env = "REEF_CONFIG")]
        config: Option<PathBuf>,
        /// Address to listen on (overrides server.listen).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Directory of the state database and attempt files (overrides storage.data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// On SIGTERM/SIGINT, wait up to this long for running attempts to finish (e.g. `5m`)
        /// instead of leaving them to their shims. A second signal stops at once.
        #[arg(long, value_parser = humantime::parse_duration)]
        drain: Option<std::time::Duration>,
    },
    /// Check or show configuration.
    Config {
        #[command(subcommand)]
        command: config::ConfigCommand,
    },
    /// Work with policy plugins.
    Policy {
        #[command(subcommand)]
        command: policy::PolicyCommand,
        #[command(flatten)]
        remote: Remote,
    },
}

impl Cli {
    /// True for `reef serve` (which logs to stderr and keeps SIGPIPE ignored).
    pub fn is_serve(&self) -> bool {
        matches!(self.command, Command::Serve { .. })
    }

    /// Runs the command; the exit code on success.
    pub fn run(self) -> anyhow::Result<i32> {
        match self.command {
            Command::Serve {
                config,
                listen,
                data_dir,
                drain,
            } => {
                let config = config.or_else(|| {
                    let default = PathBuf::from(DEFAULT_CONFIG);
                    default.exists().then_some(default)
                });
                run(ServeOptions {
                    config,
                    listen,
                    data_dir,
                    drain,
                })?;
                Ok(0)
            }
            Command::Policy { command, remote } => policy::run(command, &remote),
            Command::Config { command } => config::run(command),
        }
    }
}

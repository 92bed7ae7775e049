//! The `reef` command line: `reef serve` runs the host; the client commands (`submit`, `ls`,
//! `show`, `logs`, `cancel`, `retry`, `result`, `runners`) drive a running host over its HTTP
//! API; `reef policy ...` manages policies, locally (`test`) or on a running host.

mod completions;
mod config;
mod jobs;
mod listing;
mod logs;
mod output;
mod params;
mod policy;
mod policy_test;
mod progress;
mod results;
mod sweep;
mod table;

use crate::client::ApiClient;
use clap::{Args, Parser, Subcommand};
use reef_server::server::{ServeOptions, run};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The config used when `--config` is not given and this file exists.
const DEFAULT_CONFIG: &str = "config/dev.toml";

/// The `reef` command.
#[derive(Debug, Parser)]
#[command(
    name = "reef",
    version,
    about = "Host command-line runners behind an HTTP API",
    after_help = output::EXIT_CODES_HELP
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
        value_hint = clap::ValueHint::Url,
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
    /// Submit a job; print its id, or with --wait follow it and print its result.
    ///
    /// Example: reef submit demo benchmark=tests/fixtures/benchmarks/slow.yml --wait
    Submit(jobs::SubmitArgs),
    /// List jobs, newest first.
    Ls(listing::LsArgs),
    /// Show a job with its attempts and result.
    Show(jobs::JobArgs),
    /// Print a job's log.
    Logs(logs::LogsArgs),
    /// Cancel a job: queued jobs at once, running ones once their processes are gone.
    Cancel(jobs::JobArgs),
    /// Run a failed or cancelled job again, with a fresh attempt budget.
    Retry(jobs::JobArgs),
    /// Print a job's result JSON.
    Result(jobs::JobArgs),
    /// List the configured runners.
    Runners(listing::RunnersArgs),
    /// Run a runner over every combination of parameter values, and look at the grid.
    Sweep {
        #[command(subcommand)]
        command: sweep::SweepCommand,
    },
    /// How a runner's jobs did, grouped by parameter values: jobs, success rate, scores,
    /// durations.
    ///
    /// Example: reef results demo --by agent
    Results(results::ResultsArgs),
    /// Print a shell completion script.
    ///
    /// Example: reef completions bash > /etc/bash_completion.d/reef
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page of reef (roff), or write one per command into --dir.
    Man {
        /// Write `reef.1` and `reef-<command>.1` into this directory instead.
        #[arg(long, value_hint = clap::ValueHint::DirPath)]
        dir: Option<PathBuf>,
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
            Command::Submit(args) => Ok(jobs::submit(args)),
            Command::Ls(args) => Ok(listing::ls(args)),
            Command::Show(args) => Ok(jobs::show(args)),
            Command::Logs(args) => Ok(logs::run(args)),
            Command::Cancel(args) => Ok(jobs::cancel(args)),
            Command::Retry(args) => Ok(jobs::retry(args)),
            Command::Result(args) => Ok(jobs::result(args)),
            Command::Runners(args) => Ok(listing::runners(args)),
            Command::Sweep { command } => Ok(sweep::run(command)),
            Command::Results(args) => Ok(results::run(args)),
            Command::Completions { shell } => {
                completions::completions(shell, &mut std::io::stdout());
                Ok(0)
            }
            Command::Man { dir: Some(dir) } => {
                completions::man_pages(&dir)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
                Ok(0)
            }
            Command::Man { dir: None } => {
                completions::man(&mut std::io::stdout())?;
                Ok(0)
            }
        }
    }
}

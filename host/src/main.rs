//! The `reef` command: `reef serve` runs the host.

use clap::{Parser, Subcommand};
use reef::server::{ServeOptions, serve};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The config used when `--config` is not given and this file exists.
const DEFAULT_CONFIG: &str = "config/dev.toml";

#[derive(Debug, Parser)]
#[command(
    name = "reef",
    version,
    about = "Host command-line runners behind an HTTP API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("REEF_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match cli.command {
        Command::Serve {
            config,
            listen,
            data_dir,
        } => {
            let config = config.or_else(|| {
                let default = PathBuf::from(DEFAULT_CONFIG);
                default.exists().then_some(default)
            });
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(serve(ServeOptions {
                config,
                listen,
                data_dir,
            }))
        }
    }
}

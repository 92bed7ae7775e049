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
    /// Work with policy plugins.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
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

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Run a plugin against sample decisions and show what it decided and how long each call
    /// took. Exits non-zero if any call faulted or answered invalidly.
    Test {
        /// The policy component (.wasm).
        plugin: PathBuf,
        /// Directory of corpus files (*.json); default: the built-in corpus.
        #[arg(long)]
        corpus: Option<PathBuf>,
        /// Print one JSON object per case instead of a table.
        #[arg(long)]
        json: bool,
        /// Run each case this many times and report the median and 99th percentile call time.
        #[arg(long, default_value_t = 1)]
        repeat: u32,
    },
}

fn policy_test(
    plugin: &std::path::Path,
    corpus: Option<&std::path::Path>,
    json: bool,
    repeat: u32,
) -> anyhow::Result<bool> {
    use anyhow::Context;
    use reef::policy::{corpus as samples, wasm};
    let bytes = std::fs::read(plugin).with_context(|| format!("reading {}", plugin.display()))?;
    let runtime = wasm::PluginRuntime::new(wasm::CallLimits::default())?;
    let policy = runtime
        .load(&bytes)
        .with_context(|| format!("{} was refused", plugin.display()))?;
    let cases = match corpus {
        Some(dir) => samples::load_dir(dir).map_err(anyhow::Error::msg)?,
        None => samples::builtin(),
    };
    if !json {
        println!(
            "{} ({}, {} bytes)",
            plugin.display(),
            policy.digest(),
            policy.size()
        );
    }
    let mut ok = true;
    for case in &cases {
        let mut outcome = samples::run(&policy, case);
        let mut times = vec![outcome.took];
        for _ in 1..repeat.max(1) {
            outcome = samples::run(&policy, case);
            times.push(outcome.took);
        }
        times.sort();
        let micros = times[times.len() / 2].as_secs_f64() * 1e6;
        let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)].as_secs_f64() * 1e6;
        ok &= outcome.answer.is_ok();
        if json {
            let answer = match &outcome.answer {
                Ok(v) => serde_json::json!({"answer": v}),
                Err(f) => serde_json::json!({"fault": f.kind(), "error": f.to_string()}),
            };
            let mut line = serde_json::json!({
                "case": case.name, "hook": case.call.hook(), "micros": micros, "p99_micros": p99,
            });
            if let (Some(line), Some(answer)) = (line.as_object_mut(), answer.as_object()) {
                line.extend(answer.clone());
            }
            println!("{line}");
        } else {
            let shown = match &outcome.answer {
                Ok(v) => v.to_string(),
                Err(f) => format!("FAULT {f}"),
            };
            let hook = case.call.hook();
            let name = &case.name;
            if repeat > 1 {
                println!("{micros:>9.1} µs  p99 {p99:>9.1} µs  {hook:<8} {name:<40} {shown}");
            } else {
                println!("{micros:>9.1} µs  {hook:<8} {name:<40} {shown}");
            }
        }
    }
    Ok(ok)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve { .. }) {
        // A report piped into `head` should end quietly, not panic on a closed pipe.
        // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
        let _ = unsafe {
            nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGPIPE,
                nix::sys::signal::SigHandler::SigDfl,
            )
        };
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("REEF_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match cli.command {
        Command::Policy {
            command:
                PolicyCommand::Test {
                    plugin,
                    corpus,
                    json,
                    repeat,
                },
        } => {
            if !policy_test(&plugin, corpus.as_deref(), json, repeat)? {
                std::process::exit(1);
            }
            Ok(())
        }
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

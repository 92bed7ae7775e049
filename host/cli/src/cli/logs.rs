//! `reef logs ID [-f] [--stream stdout|stderr] [--attempt N]`: a job's log, copied as bytes to
//! stdout; with `-f`, followed through later attempts until the job is terminal.

use super::Remote;
use super::output::{self, EXIT_OK};
use super::progress::POLL;
use crate::client::{ApiClient, ClientError, FOLLOW_GRACE, encode};
use clap::{Args, ValueEnum};
use reef_core::api::JobView;
use std::io::Write;

/// A log stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Stream {
    /// The runner's standard output.
    Stdout,
    /// The runner's standard error.
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// `reef logs`
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Job id.
    pub id: String,
    /// Keep printing as the job logs, until it is terminal (through retries).
    #[arg(short, long)]
    pub follow: bool,
    /// Which stream.
    #[arg(long, value_enum, default_value_t = Stream::Stdout)]
    pub stream: Stream,
    /// Attempt number (default: the latest; with -f, each attempt in turn from the latest).
    #[arg(long)]
    pub attempt: Option<u32>,
    #[command(flatten)]
    pub remote: Remote,
}

/// Runs `reef logs`.
pub fn run(args: LogsArgs) -> i32 {
    let client = args.remote.client();
    let result = if args.follow {
        follow(&client, &args)
    } else {
        copy(&client, &args.id, args.stream, args.attempt, 0).map(|_| ())
    };
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => output::report(&e),
    }
}

/// Copies the log from `offset` to its current end onto stdout; returns the new offset.
fn copy(
    client: &ApiClient,
    id: &str,
    stream: Stream,
    attempt: Option<u32>,
    mut offset: u64,
) -> Result<u64, ClientError> {
    let mut out = std::io::stdout().lock();
    loop {
        let mut path = format!(
            "/v1/jobs/{}/logs?stream={}&offset={offset}",
            encode(id),
            stream.name()
        );
        if let Some(n) = attempt {
            path.push_str(&format!("&attempt={n}"));
        }
        let chunk = client.get_log(&path)?;
        if !chunk.bytes.is_empty() {
            // A closed stdout (`| head`) ends the process through SIGPIPE, as for `cat`.
            let _ = out.write_all(&chunk.bytes);
            let _ = out.flush();
            offset += chunk.bytes.len() as u64;
        }
        // One call returns at most a chunk; go on until the file's end as it was then.
        if chunk.bytes.is_empty() || offset >= chunk.size {
            return Ok(offset);
        }
    }
}

/// Follows the log until the job is terminal and the attempt's log is read to its end.
fn follow(client: &ApiClient, args: &LogsArgs) -> Result<(), ClientError> {
    let job_path = format!("/v1/jobs/{}", encode(&args.id));
    let mut current = args.attempt;
    let mut offset = 0;
    loop {
        // The state is read before the log: if the job was terminal then, everything it will
        // ever log is already in the file, so the copy below reads to the true end.
        let view: JobView = client.get_patiently(&job_path, FOLLOW_GRACE)?;
        let state = view.job.state;
        let latest = view.job.attempt_count;
        if current.is_none() && latest > 0 {
            current = Some(latest);
        }
        let Some(n) = current else {
            // Not started yet: nothing to read; a job cancelled while queued never logs.
            if state.is_terminal() {
                return Ok(());
            }
            std::thread::sleep(POLL);
            continue;
        };
        let before = offset;
        offset = match copy(client, &args.id, args.stream, Some(n), offset) {
            Ok(offset) => offset,
            // The host is away: the job read above waits for it to return.
            Err(e) if e.is_transient() => {
                std::thread::sleep(POLL);
                continue;
            }
            Err(e) => return Err(e),
        };
        let attempt_over = latest > n || state.is_terminal();
        if attempt_over && offset == before {
            let pinned = args.attempt.is_some();
            if pinned || latest <= n {
                return Ok(());
            }
            current = Some(n + 1);
            offset = 0;
            eprintln!("--- attempt {} ---", n + 1);
            continue;
        }
        if offset == before {
            std::thread::sleep(POLL);
        }
    }
}

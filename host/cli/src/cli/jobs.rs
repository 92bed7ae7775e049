//! `reef submit|show|cancel|retry|result`: one job at a time, over the HTTP API.

use super::Remote;
use super::output::{self, EXIT_OK, EXIT_USAGE, print_json};
use super::params::{collect, parse_pair};
use super::progress::{self, Display, elapsed_text};
use super::table::Table;
use crate::client::{ApiClient, ClientError, encode};
use clap::Args;
use reef_core::api::{JobView, SubmitRequest};
use reef_core::executor::Placement;
use reef_core::model::Job;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Instant;

/// `reef submit`
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Runner (see `reef runners`).
    pub runner: String,
    /// Parameters as key=value (everything after the first `=` is the value).
    #[arg(value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub params: Vec<(String, String)>,
    #[command(flatten)]
    pub submission: Submission,
    /// Follow the job until it ends, showing progress on stderr; print its result; exit 0 only
    /// if it succeeded (4 failed, 5 cancelled).
    #[arg(long)]
    pub wait: bool,
    /// Print the job as JSON (with --wait: the finished job with attempts and result).
    #[arg(long)]
    pub json: bool,
}

/// What a submit of a job and of a sweep share: the jobs' labels, priority and tenant, an
/// idempotency key, and the host.
#[derive(Debug, Args)]
pub struct Submission {
    /// A label, key=value; repeat for more (a sweep's go on each of its jobs).
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub labels: Vec<(String, String)>,
    /// Priority; higher runs sooner.
    #[arg(long, allow_negative_numbers = true)]
    pub priority: Option<i32>,
    /// Tenant the job (or the sweep's jobs) is for.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Makes the submit safe to repeat: the same key and request give the same job or sweep.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
    #[command(flatten)]
    pub remote: Remote,
}

impl Submission {
    /// The `Idempotency-Key` header, when a key was given.
    pub fn headers(&self) -> Vec<(&str, &str)> {
        match &self.idempotency_key {
            Some(key) => vec![("idempotency-key", key.as_str())],
            None => vec![],
        }
    }
}

/// A command on one job.
#[derive(Debug, Args)]
pub struct JobArgs {
    /// Job id.
    pub id: String,
    /// Print the raw JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub remote: Remote,
}

/// Runs `reef submit`; returns the exit code.
pub fn submit(args: SubmitArgs) -> i32 {
    let (params, labels) = match (collect(&args.params), collect(&args.submission.labels)) {
        (Ok(p), Ok(l)) => (p, l),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("reef: {e}");
            return EXIT_USAGE;
        }
    };
    let request = SubmitRequest {
        runner: args.runner.clone(),
        params: params
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
        labels,
        priority: args.submission.priority,
        tenant: args.submission.tenant.clone(),
    };
    let client = args.submission.remote.client();
    let headers = args.submission.headers();
    let job: Job = match client.post_with("/v1/jobs", &request, &headers) {
        Ok(job) => job,
        Err(e) => return output::report(&e),
    };
    if !args.wait {
        if args.json {
            print_json(&job);
        } else {
            println!("{}", job.id);
        }
        return EXIT_OK;
    }
    let started = Instant::now();
    let view = match progress::follow(&client, &job.id, &mut Display::stderr()) {
        Ok(view) => view,
        Err(e) => return output::report(&e),
    };
    eprintln!("{}", summary(&view.job, started.elapsed()));
    if args.json {
        print_json(&view);
    } else if let Some(result) = &view.result {
        print_json(result);
    }
    output::job_exit_code(view.job.state.as_str())
}

/// One line on how a job ended: `01J… succeeded after 1 attempt in 4.2s`.
fn summary(job: &Job, took: std::time::Duration) -> String {
    let attempts = job.attempt_count;
    let plural = if attempts == 1 { "" } else { "s" };
    let reason = match &job.reason {
        Some(reason) => format!(" ({})", output::one_line(reason)),
        None => String::new(),
    };
    format!(
        "{} {}{reason} after {attempts} attempt{plural} in {}",
        job.id,
        job.state,
        elapsed_text(took)
    )
}

/// Runs `reef show`.
pub fn show(args: JobArgs) -> i32 {
    let client = args.remote.client();
    let answer = client.get(&format!("/v1/jobs/{}", encode(&args.id)));
    print_answer(answer, args.json, |view: &JobView| {
        print!("{}", describe(view))
    })
}

/// A job for people: its fields, a table of attempts, and the result.
pub fn describe(view: &JobView) -> String {
    let pairs = |map: &BTreeMap<String, String>| -> String {
        let text: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if text.is_empty() {
            "-".to_owned()
        } else {
            text.join(" ")
        }
    };
    let job = &view.job;
    let mut out = String::new();
    let mut field = |name: &str, value: String| out.push_str(&format!("{name:<10}{value}\n"));
    field("id", job.id.to_string());
    field("runner", job.runner.clone());
    let mut state = job.state.to_string();
    if job.cancel_requested && !job.state.is_terminal() {
        state.push_str(" (cancel requested)");
    }
    field("state", state);
    if let Some(reason) = &job.reason {
        field("reason", output::one_line(reason));
    }
    field("params", pairs(&job.params));
    field("labels", pairs(&job.labels));
    field(
        "priority",
        format!("{}  tenant {}", job.priority, job.tenant),
    );
    field("created", job.created_at.to_string());
    field("updated", job.updated_at.to_string());
    if let Some(at) = job.next_run_at {
        field("next run", at.to_string());
    }
    let mut attempts = Table::new(&[
        "N",
        "STATE",
        "STARTED",
        "EXIT",
        "TIMED OUT",
        "PLACEMENT",
        "REASON",
    ]);
    for a in &view.attempts {
        let exit = match (a.exit_code, a.signal) {
            (Some(code), _) => code.to_string(),
            (None, Some(signal)) => format!("signal {signal}"),
            _ => "-".to_owned(),
        };
        attempts.row(vec![
            a.n.to_string(),
            a.state.as_str().to_owned(),
            a.started_at.to_string(),
            exit,
            if a.timed_out { "yes" } else { "no" }.to_owned(),
            a.placement
                .as_ref()
                .map_or_else(|| "-".to_owned(), placement),
            // A running attempt's reason is why it waits in its executor's queue, if it does.
            a.reason
                .clone()
                .or_else(|| a.waiting.as_ref().map(|w| format!("waiting: {w}")))
                .unwrap_or_default(),
        ]);
    }
    if !attempts.is_empty() {
        out.push_str("attempts\n");
        for line in attempts.render().lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    if let Some(result) = &view.result {
        out.push_str(&format!("result    {result}\n"));
    }
    out
}

/// Where an attempt ran: `executor/node/id`, leaving out what the executor did not say.
fn placement(p: &Placement) -> String {
    [Some(&p.executor), p.node.as_ref(), p.id.as_ref()]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("/")
}

/// Runs `reef cancel`.
pub fn cancel(args: JobArgs) -> i32 {
    let client = args.remote.client();
    act(&client, &args, "cancel", |job| {
        let (id, state) = (&job.id, job.state.as_str());
        match state {
            "cancelled" => format!("{id} cancelled"),
            // Cancelling a finished job is not an error (the call is idempotent), but it
            // changes nothing, and saying so beats implying it did.
            "succeeded" | "failed" => format!("{id} had already {state}; nothing to cancel"),
            _ => format!("{id} cancel requested; it stays {state} until its processes are gone"),
        }
    })
}

/// Runs `reef retry`.
pub fn retry(args: JobArgs) -> i32 {
    let client = args.remote.client();
    act(&client, &args, "retry", |job| {
        format!("{} is {} again", job.id, job.state)
    })
}

/// `POST /v1/jobs/{id}/{action}`, then a line about the job (or its JSON).
fn act(client: &ApiClient, args: &JobArgs, action: &str, say: impl Fn(&Job) -> String) -> i32 {
    let answer = client.post(
        &format!("/v1/jobs/{}/{action}", encode(&args.id)),
        &json!({}),
    );
    print_answer(answer, args.json, |job| println!("{}", say(job)))
}

/// Prints what a call answered: its JSON with `--json`, else what `human` prints. Returns the
/// exit code; a failed call is reported on stderr.
fn print_answer<T: Serialize>(
    answer: Result<T, ClientError>,
    json: bool,
    human: impl FnOnce(&T),
) -> i32 {
    match answer {
        Ok(value) if json => {
            print_json(&value);
            EXIT_OK
        }
        Ok(value) => {
            human(&value);
            EXIT_OK
        }
        Err(e) => output::report(&e),
    }
}

/// Runs `reef result`: the result JSON, pretty (or, with --json, as compact as it came).
pub fn result(args: JobArgs) -> i32 {
    let client = args.remote.client();
    match client.get::<Value>(&format!("/v1/jobs/{}/result", encode(&args.id))) {
        Ok(result) if args.json => {
            println!("{result}");
            EXIT_OK
        }
        Ok(result) => {
            print_json(&result);
            EXIT_OK
        }
        Err(e) => output::report(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> JobView {
        serde_json::from_value(json!({
            "id": "01JBQ8ZK3N7X5TQ4W2V9R6M1HC", "runner": "demo", "state": "failed", "reason": "exit code 1",
            "params": {"benchmark": "b.yml"}, "labels": {}, "priority": 0, "tenant": "default",
            "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:01.000Z",
            "attempt_count": 2, "cancel_requested": false,
            "attempts": [
                {"n": 1, "state": "failed", "started_at": "2026-01-01T00:00:00.100Z",
                 "exit_code": 1, "signal": null, "timed_out": false, "cancelled": false,
                 "reason": "exit code 1", "timeout_ms": 1000, "kill_grace_ms": 100,
                 "placement": {"executor": "local", "node": "vm1", "id": "4242"}},
                {"n": 2, "state": "failed", "started_at": "2026-01-01T00:00:00.200Z",
                 "exit_code": null, "signal": 9, "timed_out": true, "cancelled": false,
                 "timeout_ms": 1000, "kill_grace_ms": 100},
            ],
            "result": {"score": 0.5},
        }))
        .expect("a job as the API shows it")
    }

    #[test]
    fn a_job_is_described_with_its_attempts_and_result() {
        let text = describe(&job());
        assert!(text.contains("state     failed\n"), "{text}");
        assert!(text.contains("params    benchmark=b.yml\n"), "{text}");
        assert!(text.contains("labels    -\n"), "{text}");
        assert!(
            text.contains(
                "  1  failed  2026-01-01T00:00:00.100Z  1         no         local/vm1/4242  exit code 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("  2  failed  2026-01-01T00:00:00.200Z  signal 9  yes        -\n"),
            "{text}"
        );
        assert!(text.ends_with("result    {\"score\":0.5}\n"), "{text}");
    }

    #[test]
    fn the_summary_names_state_reason_and_attempts() {
        let line = summary(&job().job, std::time::Duration::from_secs(3));
        assert_eq!(
            line,
            "01JBQ8ZK3N7X5TQ4W2V9R6M1HC failed (exit code 1) after 2 attempts in 3.0s"
        );
    }
}

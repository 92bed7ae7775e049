//! `reef submit|show|cancel|retry|result`: one job at a time, over the HTTP API.

use super::Remote;
use super::output::{self, EXIT_OK, EXIT_USAGE, print_json, text};
use super::params::{collect, parse_pair};
use super::progress::{self, Display, elapsed_text};
use super::table::Table;
use crate::client::{ApiClient, ClientError, encode};
use clap::Args;
use serde_json::{Value, json};
use std::time::Instant;

/// `reef submit`
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Runner (see `reef runners`).
    pub runner: String,
    /// Parameters as key=value (everything after the first `=` is the value).
    #[arg(value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub params: Vec<(String, String)>,
    /// A label, key=value; repeat for more.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub labels: Vec<(String, String)>,
    /// Priority; higher runs sooner.
    #[arg(long, allow_negative_numbers = true)]
    pub priority: Option<i32>,
    /// Tenant the job is for.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Follow the job until it ends, showing progress on stderr; print its result; exit 0 only
    /// if it succeeded (4 failed, 5 cancelled).
    #[arg(long)]
    pub wait: bool,
    /// Makes the submit safe to repeat: the same key and request give the same job.
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
    /// Print the job as JSON (with --wait: the finished job with attempts and result).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub remote: Remote,
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
    let (params, labels) = match (collect(&args.params), collect(&args.labels)) {
        (Ok(p), Ok(l)) => (p, l),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("reef: {e}");
            return EXIT_USAGE;
        }
    };
    let mut body = json!({ "runner": args.runner, "params": params, "labels": labels });
    if let Some(priority) = args.priority {
        body["priority"] = json!(priority);
    }
    if let Some(tenant) = &args.tenant {
        body["tenant"] = json!(tenant);
    }
    let client = args.remote.client();
    let headers: Vec<(&str, &str)> = match &args.idempotency_key {
        Some(key) => vec![("idempotency-key", key.as_str())],
        None => vec![],
    };
    let job = match client.post_with("/v1/jobs", &body, &headers) {
        Ok(job) => job,
        Err(e) => return output::report(&e),
    };
    let id = text(&job, "id").to_owned();
    if !args.wait {
        if args.json {
            print_json(&job);
        } else {
            println!("{id}");
        }
        return EXIT_OK;
    }
    let started = Instant::now();
    let job = match progress::follow(&client, &id, &mut Display::stderr()) {
        Ok(job) => job,
        Err(e) => return output::report(&e),
    };
    let state = text(&job, "state");
    eprintln!("{}", summary(&job, started.elapsed()));
    if args.json {
        print_json(&job);
    } else if !job["result"].is_null() {
        print_json(&job["result"]);
    }
    output::job_exit_code(state)
}

/// One line on how a job ended: `01J… succeeded after 1 attempt in 4.2s`.
fn summary(job: &Value, took: std::time::Duration) -> String {
    let attempts = job["attempt_count"].as_u64().unwrap_or(0);
    let plural = if attempts == 1 { "" } else { "s" };
    let reason = match job["reason"].as_str() {
        Some(reason) => format!(" ({})", output::one_line(reason)),
        None => String::new(),
    };
    format!(
        "{} {}{reason} after {attempts} attempt{plural} in {}",
        text(job, "id"),
        text(job, "state"),
        elapsed_text(took)
    )
}

/// Runs `reef show`.
pub fn show(args: JobArgs) -> i32 {
    let client = args.remote.client();
    let answer = client.get(&format!("/v1/jobs/{}", encode(&args.id)));
    print_job(answer, args.json, |job| print!("{}", describe(job)))
}

/// A job for people: its fields, a table of attempts, and the result.
pub fn describe(job: &Value) -> String {
    let pairs = |v: &Value| -> String {
        let text: Vec<String> = v
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect();
        if text.is_empty() {
            "-".to_owned()
        } else {
            text.join(" ")
        }
    };
    let mut out = String::new();
    let mut field = |name: &str, value: String| out.push_str(&format!("{name:<10}{value}\n"));
    field("id", text(job, "id").to_owned());
    field("runner", text(job, "runner").to_owned());
    let mut state = text(job, "state").to_owned();
    if job["cancel_requested"] == true && !progress::is_terminal(&state) {
        state.push_str(" (cancel requested)");
    }
    field("state", state);
    if let Some(reason) = job["reason"].as_str() {
        field("reason", output::one_line(reason));
    }
    field("params", pairs(&job["params"]));
    field("labels", pairs(&job["labels"]));
    field(
        "priority",
        format!("{}  tenant {}", job["priority"], text(job, "tenant")),
    );
    field("created", text(job, "created_at").to_owned());
    field("updated", text(job, "updated_at").to_owned());
    if let Some(at) = job["next_run_at"].as_str() {
        field("next run", at.to_owned());
    }
    let mut attempts = Table::new(&["N", "STATE", "STARTED", "EXIT", "TIMED OUT", "REASON"]);
    for a in job["attempts"].as_array().into_iter().flatten() {
        let exit = match (a["exit_code"].as_i64(), a["signal"].as_i64()) {
            (Some(code), _) => code.to_string(),
            (None, Some(signal)) => format!("signal {signal}"),
            _ => "-".to_owned(),
        };
        attempts.row(vec![
            a["n"].to_string(),
            text(a, "state").to_owned(),
            text(a, "started_at").to_owned(),
            exit,
            if a["timed_out"] == true { "yes" } else { "no" }.to_owned(),
            a["reason"].as_str().unwrap_or("").to_owned(),
        ]);
    }
    if !attempts.is_empty() {
        out.push_str("attempts\n");
        for line in attempts.render().lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    if !job["result"].is_null() {
        out.push_str(&format!("result    {}\n", job["result"]));
    }
    out
}

/// Runs `reef cancel`.
pub fn cancel(args: JobArgs) -> i32 {
    let client = args.remote.client();
    act(&client, &args, "cancel", |job| {
        let (id, state) = (text(job, "id"), text(job, "state"));
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
        format!("{} is {} again", text(job, "id"), text(job, "state"))
    })
}

/// `POST /v1/jobs/{id}/{action}`, then a line about the job (or its JSON).
fn act(client: &ApiClient, args: &JobArgs, action: &str, say: impl Fn(&Value) -> String) -> i32 {
    let answer = client.post(
        &format!("/v1/jobs/{}/{action}", encode(&args.id)),
        &json!({}),
    );
    print_job(answer, args.json, |job| println!("{}", say(job)))
}

/// Prints the job a call answered: its JSON with `--json`, else what `human` prints. Returns
/// the exit code; a failed call is reported on stderr.
fn print_job(answer: Result<Value, ClientError>, json: bool, human: impl FnOnce(&Value)) -> i32 {
    match answer {
        Ok(job) if json => {
            print_json(&job);
            EXIT_OK
        }
        Ok(job) => {
            human(&job);
            EXIT_OK
        }
        Err(e) => output::report(&e),
    }
}

/// Runs `reef result`: the result JSON, pretty (or, with --json, as compact as it came).
pub fn result(args: JobArgs) -> i32 {
    let client = args.remote.client();
    match client.get(&format!("/v1/jobs/{}/result", encode(&args.id))) {
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

    fn job() -> Value {
        json!({
            "id": "01J", "runner": "demo", "state": "failed", "reason": "exit code 1",
            "params": {"benchmark": "b.yml"}, "labels": {}, "priority": 0, "tenant": "default",
            "created_at": "2026-01-01T00:00:00.000Z", "updated_at": "2026-01-01T00:00:01.000Z",
            "attempt_count": 2, "cancel_requested": false,
            "attempts": [
                {"n": 1, "state": "failed", "started_at": "t1", "exit_code": 1, "signal": null, "timed_out": false, "reason": "exit code 1"},
                {"n": 2, "state": "failed", "started_at": "t2", "exit_code": null, "signal": 9, "timed_out": true},
            ],
            "result": {"score": 0.5},
        })
    }

    #[test]
    fn a_job_is_described_with_its_attempts_and_result() {
        let text = describe(&job());
        assert!(text.contains("state     failed\n"), "{text}");
        assert!(text.contains("params    benchmark=b.yml\n"), "{text}");
        assert!(text.contains("labels    -\n"), "{text}");
        assert!(
            text.contains("  1  failed  t1       1         no         exit code 1\n"),
            "{text}"
        );
        assert!(
            text.contains("  2  failed  t2       signal 9  yes\n"),
            "{text}"
        );
        assert!(text.ends_with("result    {\"score\":0.5}\n"), "{text}");
    }

    #[test]
    fn the_summary_names_state_reason_and_attempts() {
        let line = summary(&job(), std::time::Duration::from_secs(3));
        assert_eq!(line, "01J failed (exit code 1) after 2 attempts in 3.0s");
    }
}

//! `reef ls` and `reef runners`: tables of jobs and runners.

use super::Remote;
use super::output::{self, EXIT_OK, print_json};
use super::params::parse_pair;
use super::table::Table;
use crate::client::encode;
use clap::Args;
use reef_core::api::{JobPage, RunnerView};
use std::time::{Duration, SystemTime};

/// The job states, as the API names them.
const STATES: [&str; 6] = [
    "queued",
    "running",
    "retry_wait",
    "succeeded",
    "failed",
    "cancelled",
];

/// Jobs per page of `reef ls` unless told otherwise.
const DEFAULT_LIMIT: usize = 50;

/// `reef ls`
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only jobs in this state.
    #[arg(long, value_parser = STATES)]
    pub state: Option<String>,
    /// Only jobs of this runner.
    #[arg(long)]
    pub runner: Option<String>,
    /// Only jobs with this label, key=value.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub label: Option<(String, String)>,
    /// Jobs per page (1 to 1000).
    #[arg(long, default_value_t = DEFAULT_LIMIT)]
    pub limit: usize,
    /// Continue after this cursor (printed on stderr when there are more jobs).
    #[arg(long)]
    pub cursor: Option<String>,
    /// Print the raw JSON page.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub remote: Remote,
}

/// `reef runners`
#[derive(Debug, Args)]
pub struct RunnersArgs {
    /// Print the raw JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub remote: Remote,
}

/// The query string of a listing.
pub fn query(args: &LsArgs) -> String {
    let mut query = vec![format!("limit={}", args.limit)];
    if let Some(state) = &args.state {
        query.push(format!("state={}", encode(state)));
    }
    if let Some(runner) = &args.runner {
        query.push(format!("runner={}", encode(runner)));
    }
    if let Some((k, v)) = &args.label {
        query.push(format!("label={}", encode(&format!("{k}={v}"))));
    }
    if let Some(cursor) = &args.cursor {
        query.push(format!("cursor={}", encode(cursor)));
    }
    query.join("&")
}

/// The filters of a listing as `reef ls` options, so that the next page keeps them.
fn filters(args: &LsArgs) -> String {
    let mut options = String::new();
    if let Some(state) = &args.state {
        options.push_str(&format!(" --state {state}"));
    }
    if let Some(runner) = &args.runner {
        options.push_str(&format!(" --runner {runner}"));
    }
    if let Some((k, v)) = &args.label {
        options.push_str(&format!(" --label {k}={v}"));
    }
    if args.limit != DEFAULT_LIMIT {
        options.push_str(&format!(" --limit {}", args.limit));
    }
    options
}

/// Runs `reef ls`.
pub fn ls(args: LsArgs) -> i32 {
    let client = args.remote.client();
    let page: JobPage = match client.get(&format!("/v1/jobs?{}", query(&args))) {
        Ok(page) => page,
        Err(e) => return output::report(&e),
    };
    if args.json {
        print_json(&page);
        return EXIT_OK;
    }
    print!("{}", jobs_table(&page, SystemTime::now()).render());
    if let Some(cursor) = &page.next_cursor {
        eprintln!("more jobs: reef ls{} --cursor {cursor}", filters(&args));
    }
    EXIT_OK
}

/// A page of jobs as a table, ages counted up to `now`.
pub fn jobs_table(page: &JobPage, now: SystemTime) -> Table {
    let mut table = Table::new(&["ID", "RUNNER", "STATE", "ATTEMPTS", "AGE", "REASON"]);
    for job in &page.jobs {
        table.row(vec![
            job.id.to_string(),
            job.runner.clone(),
            job.state.to_string(),
            job.attempt_count.to_string(),
            age(&job.created_at.to_string(), now),
            job.reason.clone().unwrap_or_default(),
        ]);
    }
    table
}

/// How long before `now` an RFC 3339 time was: `42s`, `5m`, `3h`, `2d`; `-` when unreadable.
pub fn age(rfc3339: &str, now: SystemTime) -> String {
    let Ok(then) = humantime::parse_rfc3339(rfc3339) else {
        return "-".to_owned();
    };
    let secs = now.duration_since(then).unwrap_or(Duration::ZERO).as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

/// Runs `reef runners`.
pub fn runners(args: RunnersArgs) -> i32 {
    let client = args.remote.client();
    let runners: Vec<RunnerView> = match client.get("/v1/runners") {
        Ok(runners) => runners,
        Err(e) => return output::report(&e),
    };
    if args.json {
        print_json(&runners);
        return EXIT_OK;
    }
    print!("{}", runners_table(&runners).render());
    EXIT_OK
}

/// The runners as a table.
pub fn runners_table(runners: &[RunnerView]) -> Table {
    let list = |items: &[String]| -> String {
        if items.is_empty() {
            "-".to_owned()
        } else {
            items.join(",")
        }
    };
    let mut table = Table::new(&[
        "NAME",
        "PARAMS",
        "TIMEOUT",
        "ATTEMPTS",
        "CONCURRENCY",
        "RESOURCES",
    ]);
    for r in runners {
        table.row(vec![
            r.name.clone(),
            list(&r.params),
            r.timeout.clone(),
            r.max_attempts.to_string(),
            match r.max_concurrency {
                Some(n) => n.to_string(),
                None => "-".to_owned(),
            },
            list(&r.resources),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn at(rfc3339: &str) -> SystemTime {
        humantime::parse_rfc3339(rfc3339).unwrap()
    }

    #[test]
    fn ages_are_short() {
        let now = at("2026-01-02T00:00:00Z");
        assert_eq!(age("2026-01-01T23:59:18.500Z", now), "41s");
        assert_eq!(age("2026-01-01T23:55:00Z", now), "5m");
        assert_eq!(age("2026-01-01T21:00:00Z", now), "3h");
        assert_eq!(age("2025-12-30T00:00:00Z", now), "3d");
        assert_eq!(
            age("2026-01-03T00:00:00Z", now),
            "0s",
            "a clock ahead is not negative"
        );
        assert_eq!(age("yesterday", now), "-");
    }

    #[test]
    fn a_page_becomes_a_table() {
        let job = |id: &str, state: &str, attempts: u32, created: &str, reason: Value| {
            json!({"id": id, "runner": "demo", "state": state, "attempt_count": attempts,
             "created_at": created, "updated_at": created, "reason": reason,
             "params": {}, "labels": {}, "priority": 0, "tenant": "default"})
        };
        let (b, a) = ("01JBQ8ZK3N7X5TQ4W2V9R6M1HB", "01JBQ8ZK3N7X5TQ4W2V9R6M1HA");
        let page: JobPage = serde_json::from_value(json!({"jobs": [
            job(b, "failed", 3, "2026-01-01T23:59:00Z", json!("exit code 1")),
            job(a, "queued", 0, "2026-01-01T23:00:00Z", Value::Null),
        ], "next_cursor": null}))
        .expect("a page as the API shows it");
        let text = jobs_table(&page, at("2026-01-02T00:00:00Z")).render();
        assert_eq!(
            text,
            format!(
                "ID                          RUNNER  STATE   ATTEMPTS  AGE  REASON\n\
                 {b}  demo    failed  3         1m   exit code 1\n\
                 {a}  demo    queued  0         1h\n"
            )
        );
    }

    #[test]
    fn filters_become_an_encoded_query() {
        let args = LsArgs {
            state: Some("failed".into()),
            runner: Some("demo".into()),
            label: Some(("team".into(), "eval ops".into())),
            limit: 10,
            cursor: None,
            json: false,
            remote: Remote {
                url: String::new(),
                token: None,
            },
        };
        assert_eq!(
            query(&args),
            "limit=10&state=failed&runner=demo&label=team%3Deval%20ops"
        );
    }

    #[test]
    fn runners_become_a_table() {
        let runners: Vec<RunnerView> = serde_json::from_value(json!([{"name": "demo",
            "params": ["agent", "benchmark"], "timeout": "1m", "max_attempts": 3,
            "max_concurrency": 2, "resources": ["surfpool"], "command": []}]))
        .expect("runners as the API shows them");
        assert_eq!(
            runners_table(&runners).render(),
            "NAME  PARAMS           TIMEOUT  ATTEMPTS  CONCURRENCY  RESOURCES\n\
             demo  agent,benchmark  1m       3         2            surfpool\n"
        );
    }
}

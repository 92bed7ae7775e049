//! `reef results RUNNER --by agent`: how a runner's jobs did, grouped by parameter values.

use super::Remote;
use super::output::{self, EXIT_OK, print_json};
use super::params::parse_pair;
use super::table::Table;
use crate::client::encode;
use clap::Args;
use reef_core::api::results::ResultsView;

/// `reef results`
#[derive(Debug, Args)]
pub struct ResultsArgs {
    /// Runner whose jobs count.
    pub runner: String,
    /// Group by this parameter; repeat for more (`--by agent --by benchmark`). `label:NAME`
    /// groups by a label instead.
    #[arg(long = "by", value_name = "PARAM", required = true)]
    pub by: Vec<String>,
    /// Only jobs with this label, key=value.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub label: Option<(String, String)>,
    /// Only jobs created since: an RFC 3339 time, or a duration back from now (`24h`, `7d`).
    #[arg(long)]
    pub since: Option<String>,
    /// Print the raw JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub remote: Remote,
}

/// Runs `reef results`; returns the exit code.
pub fn run(args: ResultsArgs) -> i32 {
    let keys: Vec<String> = args
        .by
        .iter()
        .map(|k| {
            if k.starts_with("param:") || k.starts_with("label:") {
                k.clone()
            } else {
                format!("param:{k}")
            }
        })
        .collect();
    let mut path = format!(
        "/v1/results?runner={}&group_by={}",
        encode(&args.runner),
        encode(&keys.join(","))
    );
    if let Some((key, value)) = &args.label {
        path.push_str(&format!("&label={}", encode(&format!("{key}={value}"))));
    }
    if let Some(since) = &args.since {
        path.push_str(&format!("&since={}", encode(since)));
    }
    let client = args.remote.client();
    match client.get::<ResultsView>(&path) {
        Ok(view) if args.json => {
            print_json(&view);
            EXIT_OK
        }
        Ok(view) => {
            print!("{}", table(&view));
            EXIT_OK
        }
        Err(e) => output::report(&e),
    }
}

/// One row per group: its key values, then jobs, success rate, scores and durations.
fn table(view: &ResultsView) -> String {
    let names: Vec<&str> = view
        .group_by
        .iter()
        .map(|k| k.split_once(':').map_or(k.as_str(), |(_, n)| n))
        .collect();
    let mut header: Vec<String> = names.iter().map(|n| n.to_uppercase()).collect();
    for column in ["JOBS", "SUCCESS", "MEAN", "MIN", "MAX", "P50", "P95"] {
        header.push(column.to_owned());
    }
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut table = Table::new(&header);
    let score = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |s| format!("{s:.3}"));
    let ms = |v: Option<u64>| {
        v.map_or_else(
            || "-".to_owned(),
            |ms| super::progress::elapsed_text(std::time::Duration::from_millis(ms)),
        )
    };
    for group in &view.groups {
        let mut row: Vec<String> = view
            .group_by
            .iter()
            .map(|k| {
                group
                    .key
                    .get(k)
                    .cloned()
                    .flatten()
                    .unwrap_or_else(|| "-".to_owned())
            })
            .collect();
        row.push(group.jobs.to_string());
        row.push(match group.success_rate {
            Some(rate) => format!("{:.0}% of {}", rate * 100.0, group.finished),
            None => "-".to_owned(),
        });
        row.push(score(group.score.as_ref().map(|s| s.mean)));
        row.push(score(group.score.as_ref().map(|s| s.min)));
        row.push(score(group.score.as_ref().map(|s| s.max)));
        row.push(ms(group.duration_ms.as_ref().map(|d| d.p50)));
        row.push(ms(group.duration_ms.as_ref().map(|d| d.p95)));
        table.row(row);
    }
    table.render()
}

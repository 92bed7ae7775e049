//! The `reef` client commands against a real host: exit codes, what they print, and what the
//! host's API says happened.

use reef_e2e::{Reef, benchmark, demo_config};
use serde_json::Value;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

fn submit(reef: &Reef, bench: &str) -> String {
    let run = reef
        .cli(&["submit", "demo", &format!("benchmark={}", benchmark(bench))])
        .expect(0);
    let id = run.stdout.trim().to_owned();
    assert_eq!(id.len(), 26, "a job id: {id:?}");
    id
}

#[test]
fn submit_wait_exits_zero_and_prints_the_result_only_when_the_job_succeeds() {
    let reef = Reef::start(&demo_config(""));
    let bench = format!("benchmark={}", benchmark("success.yml"));
    let run = reef.cli(&["submit", "demo", &bench, "--wait"]).expect(0);
    let result = run.json();
    assert_eq!(result["final_result"]["success"], true, "{result}");
    let id = result["execution_id"].as_str().unwrap().to_owned();
    // Progress went to stderr as plain lines (stderr is not a terminal here), then a summary.
    let progress = run.stderr.lines().next().unwrap_or_default();
    assert!(
        progress.starts_with(&format!("{id}  ")) && progress.contains("  attempt "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("{id} succeeded after 1 attempt")),
        "{}",
        run.stderr
    );
    assert_eq!(reef.job(&id)["state"], "succeeded");

    // A failing benchmark: every attempt fails (3 with the harness's backoff), exit 4.
    let bench = format!("benchmark={}", benchmark("fail.yml"));
    let run = reef.cli(&["submit", "demo", &bench, "--wait"]).expect(4);
    assert_eq!(run.json()["final_result"]["success"], false);
    assert!(run.stderr.contains("failed"), "{}", run.stderr);
    let id = run.json()["execution_id"].as_str().unwrap().to_owned();
    let job = reef.job(&id);
    assert_eq!(
        (job["state"].as_str(), job["attempt_count"].as_u64()),
        (Some("failed"), Some(3))
    );

    // --json prints the finished job itself.
    let bench = format!("benchmark={}", benchmark("success.yml"));
    let run = reef
        .cli(&[
            "submit",
            "demo",
            &bench,
            "agent=flaky",
            "--label",
            "team=eval",
            "--wait",
            "--json",
        ])
        .expect(0);
    let job = run.json();
    assert_eq!(job["state"], "succeeded");
    assert_eq!(job["attempt_count"], 2, "flaky fails its first attempt");
    assert_eq!(job["labels"]["team"], "eval");
    assert!(run.stderr.contains("attempt 2"), "{}", run.stderr);
}

#[test]
fn read_commands_print_tables_and_json() {
    let reef = Reef::start(&demo_config(""));
    let id = submit(&reef, "success.yml");
    reef.wait_done(&id, LONG);

    let ls = reef.cli(&["ls"]).expect(0);
    let header = ls.stdout.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("ID") && header.contains("STATE"),
        "{}",
        ls.stdout
    );
    assert!(
        ls.stdout.contains(&id) && ls.stdout.contains("succeeded"),
        "{}",
        ls.stdout
    );
    let page = reef
        .cli(&["ls", "--state", "succeeded", "--runner", "demo", "--json"])
        .expect(0)
        .json();
    assert_eq!(page["jobs"][0]["id"], id.as_str());
    let none = reef
        .cli(&["ls", "--state", "failed", "--json"])
        .expect(0)
        .json();
    assert_eq!(none["jobs"], Value::Array(vec![]));
    // A second job and a page of one: the cursor to the rest is on stderr.
    let second = submit(&reef, "success.yml");
    let one = reef.cli(&["ls", "--limit", "1"]).expect(0);
    assert!(
        one.stdout.contains(&second) && !one.stdout.contains(&id),
        "{}",
        one.stdout
    );
    // The hint for the next page keeps the options of this one.
    assert!(
        one.stderr
            .contains("more jobs: reef ls --limit 1 --cursor "),
        "{}",
        one.stderr
    );

    let show = reef.cli(&["show", &id]).expect(0);
    assert!(
        show.stdout.contains("state     succeeded"),
        "{}",
        show.stdout
    );
    assert!(
        show.stdout.contains("attempts") && show.stdout.contains("result "),
        "{}",
        show.stdout
    );
    assert!(
        show.stdout.contains("PLACEMENT") && show.stdout.contains(" local/"),
        "the attempt's placement is shown: {}",
        show.stdout
    );
    let view = reef.cli(&["show", &id, "--json"]).expect(0).json();
    assert_eq!(view["attempts"][0]["exit_code"], 0);

    let result = reef.cli(&["result", &id]).expect(0).json();
    assert_eq!(result["final_result"]["score"], 1.0);
    let compact = reef.cli(&["result", &id, "--json"]).expect(0);
    assert_eq!(compact.stdout.lines().count(), 1, "{}", compact.stdout);

    let stdout = reef.cli(&["logs", &id]).expect(0);
    assert!(
        stdout.stdout.contains("[demo-runner] done success=true"),
        "{}",
        stdout.stdout
    );
    let stderr = reef.cli(&["logs", &id, "--stream", "stderr"]).expect(0);
    assert!(stderr.stdout.contains("starting"), "{}", stderr.stdout);

    let runners = reef.cli(&["runners"]).expect(0);
    assert!(
        runners.stdout.lines().any(|l| l.starts_with("demo ")),
        "{}",
        runners.stdout
    );
    let runners = reef.cli(&["runners", "--json"]).expect(0).json();
    assert_eq!(runners[0]["name"], "demo");
}

#[test]
fn logs_follow_prints_until_the_job_ends_through_retries() {
    let reef = Reef::start(&demo_config(""));
    let id = submit(&reef, "slow.yml");
    let run = reef.cli(&["logs", "-f", &id]).expect(0);
    // It returned on its own: the job is over and the log was read to its end.
    assert_eq!(reef.job(&id)["state"], "succeeded");
    for step in 1..=5 {
        assert!(
            run.stdout.contains(&format!("step {step}/5")),
            "{}",
            run.stdout
        );
    }
    assert!(
        run.stdout.trim_end().ends_with(".json"),
        "the last line: {}",
        run.stdout
    );

    // A flaky job: attempt 1 fails, attempt 2 succeeds; -f goes from one to the next.
    let bench = format!("benchmark={}", benchmark("success.yml"));
    let id = reef
        .cli(&["submit", "demo", &bench, "agent=flaky"])
        .expect(0)
        .stdout;
    let run = reef.cli(&["logs", "-f", id.trim()]).expect(0);
    assert!(run.stderr.contains("--- attempt 2 ---"), "{}", run.stderr);
    assert_eq!(
        run.stdout.matches("done success=").count(),
        2,
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("done success=true"), "{}", run.stdout);
}

#[test]
fn cancel_and_retry_change_the_job() {
    let reef = Reef::start(&demo_config(""));
    let id = submit(&reef, "hang.yml");
    reef.wait_state(&id, "running", LONG);
    let run = reef.cli(&["cancel", &id]).expect(0);
    assert!(run.stdout.starts_with(&id), "{}", run.stdout);
    reef.wait_state(&id, "cancelled", LONG);

    let run = reef.cli(&["retry", &id, "--json"]).expect(0);
    assert_eq!(run.json()["id"], id.as_str());
    reef.wait_state(&id, "running", LONG);
    reef.cli(&["cancel", &id]).expect(0);
    let job = reef.wait_state(&id, "cancelled", LONG);
    assert_eq!(job["attempt_count"], 2);

    // Retrying a job that succeeded is refused by the host: its detail, exit 1.
    let done = submit(&reef, "success.yml");
    reef.wait_done(&done, LONG);
    let run = reef.cli(&["retry", &done]).expect(1);
    assert!(
        run.stderr.contains("cannot redrive from succeeded"),
        "{}",
        run.stderr
    );
    let run = reef.cli(&["cancel", &done]).expect(0);
    assert!(run.stdout.contains("nothing to cancel"), "{}", run.stdout);
}

#[test]
fn errors_are_one_line_with_documented_exit_codes() {
    let reef = Reef::start(&demo_config(""));
    let run = reef.cli(&["show", "01ARZ3NDEKTSV4RRFFQ69G5FAV"]).expect(1);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("does not exist (HTTP 404)"),
        "{}",
        run.stderr
    );
    let run = reef.cli(&["submit", "nope", "a=b"]).expect(1);
    assert!(
        run.stderr.contains("runner 'nope' is not configured"),
        "{}",
        run.stderr
    );
    let run = reef
        .cli(&["submit", "demo", "benchmark=no spaces.yml"])
        .expect(1);
    assert!(run.stderr.contains("pattern"), "{}", run.stderr);
    let run = reef
        .cli(&["result", "01ARZ3NDEKTSV4RRFFQ69G5FAV"])
        .expect(1);
    assert!(run.stderr.starts_with("reef: "), "{}", run.stderr);
    // Usage errors are clap's: 2, and nothing reaches the host.
    reef.cli(&["submit", "demo", "benchmark"]).expect(2);
    reef.cli(&["submit", "demo", "a=1", "a=2"]).expect(2);
    reef.cli(&["ls", "--state", "sleeping"]).expect(2);
    assert_eq!(reef.get("/v1/jobs").json()["jobs"], Value::Array(vec![]));

    let run = reef.cli(&["ls", "--url", "http://127.0.0.1:9"]).expect(3);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("reef: cannot reach reef at http://127.0.0.1:9"),
        "{}",
        run.stderr
    );
}

#[test]
fn tokens_come_from_the_environment_or_the_flag() {
    let mut reef = Reef::start(&demo_config(
        "[[auth.tokens]]\nname = \"ci\"\ntoken = \"submit-token-0123456789\"\nscopes = [\"submit\"]\n",
    ));
    let run = reef.cli(&["ls"]).expect(1);
    assert!(run.stderr.contains("HTTP 401"), "{}", run.stderr);
    reef.cli(&["ls", "--token", "submit-token-0123456789"])
        .expect(0);
    reef.token = Some("submit-token-0123456789".into());
    reef.cli(&["runners"]).expect(0);
}

#[test]
fn an_idempotency_key_makes_submit_safe_to_repeat() {
    let reef = Reef::start(&demo_config(""));
    let bench = format!("benchmark={}", benchmark("success.yml"));
    let args = [
        "submit",
        "demo",
        bench.as_str(),
        "--idempotency-key",
        "nightly-42",
    ];
    let first = reef.cli(&args).expect(0).stdout;
    let again = reef.cli(&args).expect(0).stdout;
    assert_eq!(first, again);
    assert_eq!(
        reef.get("/v1/jobs").json()["jobs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

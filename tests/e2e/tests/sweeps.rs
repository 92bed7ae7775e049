//! Sweeps and results through the real binaries: `reef sweep` and `reef results` against a host
//! running the demo runner, checked against what the API says each job did.

use reef_e2e::{Reef, benchmark, demo_config, processes_with_env};
use serde_json::{Value, json};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(90);

#[test]
fn a_sweep_runs_every_cell_and_its_grid_results_and_retry_agree_with_the_jobs() {
    let reef = Reef::start(&demo_config(""));
    let benchmarks = [
        benchmark("success.yml"),
        benchmark("lowscore.yml"),
        benchmark("exit3.yml"),
    ];
    let run = reef
        .cli_within(
            &[
                "sweep",
                "submit",
                "demo",
                "--matrix",
                &format!("benchmark={}", benchmarks.join(",")),
                "--matrix",
                "agent=deterministic,flaky",
                "--label",
                "team=eval",
                "--wait",
            ],
            LONG,
        )
        // exit3.yml fails in both columns: not every job succeeded.
        .expect(4);
    assert!(run.stderr.contains("6/6 finished"), "{}", run.stderr);
    let sweeps = reef.get("/v1/sweeps").json();
    let id = sweeps["sweeps"][0]["id"].as_str().unwrap().to_owned();
    // The grid: by default the parameters in name order, one row per agent and one column per
    // benchmark; exit3.yml fails in both rows, lowscore.yml scores 0.5.
    let table: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(table.len(), 3, "{}", run.stdout);
    assert!(
        table[0].starts_with("agent \\ benchmark") && table[0].contains("exit3.yml"),
        "{}",
        run.stdout
    );
    for row in &table[1..] {
        assert_eq!(row.matches("succeeded 0.50").count(), 1, "{row}");
        assert_eq!(row.matches("failed").count(), 1, "{row}");
    }

    // The jobs as the API has them: six, each labelled with the sweep and its own labels.
    let jobs = reef.get(&format!("/v1/jobs?label=reef.sweep={id}")).json()["jobs"]
        .as_array()
        .cloned()
        .unwrap();
    assert_eq!(jobs.len(), 6);
    assert!(jobs.iter().all(|j| j["labels"]["team"] == "eval"));

    // `show --csv`: a header and a line per cell, agreeing with each job.
    let csv = reef.cli(&["sweep", "show", &id, "--csv"]).expect(0).stdout;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 7, "{csv}");
    assert!(
        lines[0].starts_with("agent,benchmark,job_id,state"),
        "{csv}"
    );
    for job in &jobs {
        let line = lines
            .iter()
            .find(|l| l.contains(job["id"].as_str().unwrap()))
            .unwrap_or_else(|| panic!("no line for {job}"));
        assert!(
            line.contains(job["state"].as_str().unwrap()),
            "{line} vs {job}"
        );
    }
    let grid = reef
        .cli(&[
            "sweep",
            "show",
            &id,
            "--json",
            "--rows",
            "agent",
            "--cols",
            "benchmark",
        ])
        .expect(0)
        .json();
    assert_eq!(grid["rows"]["param"], "agent");
    assert_eq!(grid["cells"].as_array().map(Vec::len), Some(2));

    // Results by agent: three jobs each; the scores and success rate are the jobs' own.
    let results = reef
        .cli(&[
            "results",
            "demo",
            "--by",
            "agent",
            "--label",
            &format!("reef.sweep={id}"),
            "--json",
        ])
        .expect(0)
        .json();
    assert_eq!(results["jobs"], 6, "{results}");
    for group in results["groups"].as_array().unwrap() {
        let agent = group["key"]["param:agent"].as_str().unwrap();
        let mine: Vec<Value> = jobs
            .iter()
            .filter(|j| j["params"]["agent"] == agent)
            .map(|j| reef.job(j["id"].as_str().unwrap()))
            .collect();
        let scores: Vec<f64> = mine
            .iter()
            .filter_map(|j| j["attempts"].as_array()?.last()?["score"].as_f64())
            .collect();
        let succeeded = mine.iter().filter(|j| j["state"] == "succeeded").count();
        assert_eq!(group["jobs"], 3, "{group}");
        assert_eq!(group["succeeded"], succeeded as u64, "{group}");
        assert_eq!(
            group["success_rate"].as_f64(),
            Some(succeeded as f64 / 3.0),
            "{group}"
        );
        let mean = scores.iter().sum::<f64>() / scores.len() as f64;
        assert!(
            (group["score"]["mean"].as_f64().unwrap() - mean).abs() < 1e-9,
            "{group}"
        );
        assert!(
            group["duration_ms"]["p95"].as_u64().unwrap()
                >= group["duration_ms"]["p50"].as_u64().unwrap()
        );
    }
    let by_agent = reef
        .cli(&["results", "demo", "--by", "agent"])
        .expect(0)
        .stdout;
    assert!(
        by_agent
            .lines()
            .next()
            .unwrap_or_default()
            .starts_with("AGENT"),
        "{by_agent}"
    );

    // Retry runs the two failed cells again, and only those.
    let failed: Vec<String> = jobs
        .iter()
        .filter(|j| j["state"] == "failed")
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(failed.len(), 2);
    let retried = reef
        .cli(&["sweep", "retry", &id, "--json"])
        .expect(0)
        .json();
    let mut again: Vec<String> = retried["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    again.sort();
    let mut expected = failed.clone();
    expected.sort();
    assert_eq!(again, expected);
    for id in &failed {
        let job = reef.wait_done(id, LONG);
        assert_eq!(job["redrives"], 1, "{job}");
    }
}

#[test]
fn a_sweep_is_cancelled_from_the_cli_and_its_processes_end() {
    let reef = Reef::start(&demo_config(""));
    let run = reef
        .cli(&[
            "sweep",
            "submit",
            "demo",
            "--matrix",
            &format!("benchmark={}", benchmark("hang.yml")),
            "--matrix",
            "agent=deterministic,flaky",
        ])
        .expect(0);
    let id = run.stdout.trim().to_owned();
    let running = format!("/v1/jobs?label=reef.sweep={id}&state=running");
    let ids: Vec<String> = reef_e2e::wait_for("both cells running", LONG, || {
        let jobs = reef.get(&running).json()["jobs"].as_array()?.clone();
        let ids: Vec<String> = jobs
            .iter()
            .filter_map(|j| Some(j["id"].as_str()?.to_owned()))
            .collect();
        // Running, and the runner's process is there.
        (ids.len() == 2
            && ids
                .iter()
                .all(|id| !processes_with_env("REEF_JOB_ID", id).is_empty()))
        .then_some(ids)
    });
    let cancelled = reef
        .cli(&["sweep", "cancel", &id, "--json"])
        .expect(0)
        .json();
    assert_eq!(cancelled["jobs"].as_array().map(Vec::len), Some(2));
    for job in reef.get(&format!("/v1/jobs?label=reef.sweep={id}")).json()["jobs"]
        .as_array()
        .unwrap()
    {
        let done = reef.wait_done(job["id"].as_str().unwrap(), LONG);
        assert_eq!(done["state"], "cancelled", "{done}");
    }
    for job in &ids {
        assert!(
            processes_with_env("REEF_JOB_ID", job).is_empty(),
            "{job} left processes"
        );
    }
    let shown = reef.get(&format!("/v1/sweeps/{id}")).json();
    assert_eq!(shown["progress"]["states"], json!({"cancelled": 2}));
    assert!(shown["progress"]["finished_at"].is_string(), "{shown}");
}

#[test]
fn a_parameter_takes_its_values_from_the_files_a_glob_matches() {
    let config = demo_config("").replace(
        r#"benchmark = { required = true, pattern = "^[A-Za-z0-9_./-]+\\.ya?ml$" }"#,
        r#"benchmark = { required = true, kind = "path", values_from = "suite/*.yml" }"#,
    );
    assert!(
        config.contains("values_from"),
        "the demo config changed: {config}"
    );
    let reef = Reef::start(&config);
    let suite = reef.work().join("suite");
    std::fs::create_dir_all(&suite).unwrap();
    for name in ["success.yml", "lowscore.yml"] {
        std::fs::copy(benchmark(name), suite.join(name)).unwrap();
    }
    let runner = reef.get("/v1/runners/demo").json();
    assert_eq!(
        runner["parameters"]["benchmark"]["values"],
        json!(["suite/lowscore.yml", "suite/success.yml"]),
        "{runner}"
    );
    assert_eq!(
        runner["parameters"]["benchmark"]["values_from"],
        "suite/*.yml"
    );
    let id = reef.submit("demo", json!({"benchmark": "suite/success.yml"}));
    assert_eq!(reef.wait_done(&id, LONG)["state"], "succeeded");
    reef.post(
        "/v1/jobs",
        &json!({"runner": "demo", "params": {"benchmark": "suite/other.yml"}}),
    )
    .assert_problem(422, "suite/lowscore.yml, suite/success.yml");
    // A sweep over "every benchmark": the values the runner lists.
    let every = runner["parameters"]["benchmark"]["values"].clone();
    let sweep = reef.post(
        "/v1/sweeps",
        &json!({"runner": "demo", "matrix": {"benchmark": every}}),
    );
    assert_eq!(sweep.status, 201, "{}", sweep.text);
    assert_eq!(sweep.json()["cells"], 2);
}

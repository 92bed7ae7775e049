//! Stopping the host: by default running attempts are left to their shims (and re-attached at
//! the next start); with `--drain` the host waits for them while refusing new work.

use reef_e2e::{Reef, benchmark, demo_config, processes_with_env, wait_for};
use serde_json::json;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

#[test]
fn a_stopped_host_leaves_attempts_running_and_picks_them_up_again() {
    let config = demo_config("");
    let mut reef = Reef::start(&config);
    let id = reef.submit("demo", json!({"benchmark": benchmark("slow.yml")}));
    wait_for("the runner", T, || {
        (!processes_with_env("REEF_JOB_ID", &id).is_empty()).then_some(())
    });
    reef.signal(libc::SIGTERM);
    assert!(reef.wait_exit(T), "reef stops promptly without --drain");
    assert!(
        !processes_with_env("REEF_JOB_ID", &id).is_empty(),
        "the attempt survives the host"
    );
    let dir = reef.terminate();
    let reef = Reef::start_in(dir, &config, &[]);
    let job = reef.wait_done(&id, T);
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["attempts"].as_array().unwrap().len(), 1);
}

#[test]
fn draining_refuses_new_work_and_waits_for_running_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let mut reef = Reef::try_start_with(
        dir,
        &demo_config(""),
        &[],
        "127.0.0.1:0",
        &["--drain", "20s"],
    )
    .unwrap();
    let id = reef.submit("demo", json!({"benchmark": benchmark("slow.yml")}));
    let queued = reef.submit("demo", json!({"benchmark": benchmark("slow.yml")}));
    let waiting = reef.submit("demo", json!({"benchmark": benchmark("slow.yml")}));
    wait_for("two runners", T, || {
        (!processes_with_env("REEF_JOB_ID", &id).is_empty()
            && !processes_with_env("REEF_JOB_ID", &queued).is_empty())
        .then_some(())
    });
    reef.signal(libc::SIGTERM);
    wait_for("readiness to drop", T, || {
        (reef.get("/readyz").status == 503).then_some(())
    });
    let refused = reef.post(
        "/v1/jobs",
        &json!({"runner": "demo", "params": {"benchmark": benchmark("success.yml")}}),
    );
    refused.assert_problem(503, "shutting down");
    assert_eq!(
        reef.job(&waiting)["state"],
        "queued",
        "no attempt starts while draining"
    );
    assert!(
        reef.wait_exit(T),
        "reef exits once the running attempts are done"
    );
    let log = reef.log();
    assert!(
        log.contains("drain over") && log.contains("left_running=0"),
        "{log}"
    );
    assert!(processes_with_env("REEF_JOB_ID", &id).is_empty());
}

#[test]
fn a_second_signal_stops_at_once_even_while_draining() {
    let dir = tempfile::tempdir().unwrap();
    let mut reef = Reef::try_start_with(
        dir,
        &demo_config(""),
        &[],
        "127.0.0.1:0",
        &["--drain", "5m"],
    )
    .unwrap();
    let id = reef.submit("demo", json!({"benchmark": benchmark("hang.yml")}));
    wait_for("the runner", T, || {
        (!processes_with_env("REEF_JOB_ID", &id).is_empty()).then_some(())
    });
    reef.signal(libc::SIGTERM);
    wait_for("the drain to start", T, || {
        reef.log().contains("draining").then_some(())
    });
    assert!(
        !reef.wait_exit(Duration::from_millis(300)),
        "still draining"
    );
    reef.signal(libc::SIGINT);
    assert!(reef.wait_exit(T), "the second signal ends it");
    assert!(reef.log().contains("second stop signal"));
    assert!(
        !processes_with_env("REEF_JOB_ID", &id).is_empty(),
        "the attempt is left running"
    );
}

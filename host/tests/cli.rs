//! The `reef` command line: start-up refusals that must happen before anything is served.
//! (Having integration tests here also makes `cargo test --workspace` build the `reef` binary
//! that the end-to-end tests in `tests/e2e` drive.)

use std::process::Command;

fn reef() -> Command {
    Command::new(env!("CARGO_BIN_EXE_reef"))
}

fn serve_with(config: &str, listen: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reef.toml");
    std::fs::write(&path, config).unwrap();
    let out = reef()
        .args(["serve", "--config"])
        .arg(&path)
        .args(["--listen", listen, "--data-dir"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn version_and_help_answer() {
    let out = reef().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("reef "));
    let out = reef().args(["serve", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("--data-dir"));
}

#[test]
fn without_tokens_a_non_loopback_address_is_refused() {
    let (ok, log) = serve_with("[runners.t]\ncommand = [\"true\"]\n", "0.0.0.0:0");
    assert!(!ok);
    assert!(log.contains("refusing to listen on 0.0.0.0"), "{log}");
}

#[test]
fn an_invalid_config_is_refused_naming_the_field() {
    let cases = [
        (
            "[runners.t]\ncommand = [\"true\"]\nresources = [\"gpu\"]\n",
            "runners.t.resources",
        ),
        (
            "[runners.t]\ncommand = [\"true\"]\ntimeout = \"soon\"\n",
            "timeout",
        ),
        ("[server]\nlisten_on = \"127.0.0.1:1\"\n", "listen_on"),
        (
            "[scheduler]\nmax_concurrency = 0\n",
            "scheduler.max_concurrency",
        ),
    ];
    for (config, field) in cases {
        let (ok, log) = serve_with(config, "127.0.0.1:0");
        assert!(!ok, "{config}");
        assert!(log.contains(field), "{config}: {log}");
    }
}

#[test]
fn a_missing_config_file_is_an_error() {
    let out = reef()
        .args(["serve", "--config", "/nonexistent/reef.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/reef.toml"));
}

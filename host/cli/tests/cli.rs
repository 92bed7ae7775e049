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
fn a_config_error_is_one_line_even_with_backtraces_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reef.toml");
    std::fs::write(&path, "[scheduler]\nmax_concurrency = 0\n").unwrap();
    let out = reef()
        .args(["serve", "--config"])
        .arg(&path)
        .env("RUST_BACKTRACE", "full")
        .env("RUST_LIB_BACKTRACE", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains("scheduler.max_concurrency"),
        "{stderr}"
    );
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

fn config_check(file: &str, env: &[(&str, &str)]) -> (bool, String, String) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(file);
    let mut command = reef();
    command.args(["config", "check"]).arg(&path);
    for var in [
        "REEF_OPERATOR_TOKEN",
        "REEF_CI_TOKEN",
        "REEF_DASHBOARD_TOKEN",
    ] {
        command.env_remove(var);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_preset_loads_and_validates() {
    let (ok, stdout, stderr) = config_check("config/dev.toml", &[]);
    assert!(ok && stdout.contains("ok (1 runner"), "{stdout}{stderr}");
    // reev-runner is not installed here: a warning, not an error.
    let (ok, _, stderr) = config_check("config/reev.toml", &[]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("runners.reev.command[0]: 'reev-runner' is not installed"),
        "{stderr}"
    );
    // The production preset listens everywhere, so its tokens must be present.
    let (ok, _, stderr) = config_check("config/prod.toml", &[]);
    assert!(
        !ok && stderr.contains("auth.tokens[0].token_env"),
        "{stderr}"
    );
    let tokens = [
        ("REEF_OPERATOR_TOKEN", "operator-secret-0123456789"),
        ("REEF_CI_TOKEN", "ci-secret-0123456789abcdef"),
        ("REEF_DASHBOARD_TOKEN", "dashboard-secret-0123456789"),
    ];
    let (ok, stdout, stderr) = config_check("config/prod.toml", &tokens);
    assert!(
        ok && stdout.contains("listen 0.0.0.0:7878"),
        "{stdout}{stderr}"
    );
}

#[test]
fn config_check_names_the_bad_key_and_show_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[runners.x]\ncommand = [\"true\"]\nmax_attemps = 3\n").unwrap();
    let out = reef().args(["config", "check"]).arg(&bad).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_attemps"));
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[[auth.tokens]]\nname = \"x\"\ntoken = \"very-secret-token-123\"\nscopes = [\"read\"]\n",
    )
    .unwrap();
    let out = reef()
        .args(["config", "show", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && shown.contains("[server]"),
        "{shown}"
    );
    assert!(
        !shown.contains("very-secret-token-123") && shown.contains("<redacted>"),
        "{shown}"
    );
}

#[test]
fn the_committed_configuration_reference_is_current() {
    let out = reef().args(["config", "reference"]).output().unwrap();
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).unwrap();
    let committed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md"),
    )
    .unwrap();
    assert!(
        generated == committed,
        "docs/configuration.md is stale: run `reef config reference > docs/configuration.md`"
    );
    for section in [
        "[server]",
        "[runners.NAME]",
        "[runners.NAME.params.PARAM]",
        "[[auth.tokens]]",
        "[policy]",
        "[retention]",
    ] {
        assert!(
            generated.contains(&format!("`{section}`")),
            "{section} missing"
        );
    }
}

#[test]
fn reef_environment_variables_layer_over_the_file_and_typos_are_named() {
    let dev = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/dev.toml");
    let out = reef()
        .args(["config", "show", "--config"])
        .arg(&dev)
        .env("REEF_SERVER__LISTEN", "127.0.0.1:7999")
        .env("REEF_SCHEDULER__MAX_CONCURRENCY", "9")
        .env("REEF_URL", "http://client-side-only")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        shown.contains("listen = \"127.0.0.1:7999\"") && shown.contains("max_concurrency = 9"),
        "{shown}"
    );
    let out = reef()
        .args(["config", "check"])
        .arg(&dev)
        .env("REEF_SERVER__LISTN", "127.0.0.1:1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("server.listn: unknown key; did you mean `listen`?"),
        "{stderr}"
    );
}

#[test]
fn completions_and_the_man_page_name_the_client_commands() {
    let bash = reef().args(["completions", "bash"]).output().unwrap();
    let man = reef().arg("man").output().unwrap();
    assert!(bash.status.success() && man.status.success());
    let (bash, man) = (
        String::from_utf8_lossy(&bash.stdout),
        String::from_utf8_lossy(&man.stdout),
    );
    assert!(bash.contains("complete -F"), "{bash:.300}");
    assert!(man.contains(".TH reef"), "{man:.300}");
    for command in [
        "submit", "ls", "show", "logs", "cancel", "retry", "result", "runners", "serve",
    ] {
        assert!(bash.contains(command), "bash completions lack {command}");
        assert!(man.contains(command), "the man page lacks {command}");
    }
    let zsh = reef().args(["completions", "zsh"]).output().unwrap();
    assert!(zsh.status.success() && !zsh.stdout.is_empty());
}

#[test]
fn help_documents_the_exit_codes() {
    let out = reef().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("Exit codes"), "{help}");
    assert!(help.contains("4  submit --wait: the job failed"), "{help}");
}

#[test]
fn config_check_validates_slurm_executors_and_warns_of_what_the_host_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.toml");
    let config = |runner_executor: &str, shared: &str| {
        format!(
            "[executors.cluster]\nkind = \"slurm\"\nshared_dir = \"{shared}\"\nbin_dir = \"{bin}\"\n\
             [runners.eval]\ncommand = [\"/bin/true\"]\nexecutor = \"{runner_executor}\"\n\
             [runners.eval.slurm]\ncpus = 2\nmem = \"4G\"\n",
            bin = dir.path().join("no-slurm-here").display()
        )
    };
    let check = |text: &str| {
        std::fs::write(&file, text).unwrap();
        let out = reef()
            .args(["config", "check"])
            .arg(&file)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // An unknown executor is an error naming the key.
    let (ok, stderr) = check(&config("elsewhere", "/shared/reef"));
    assert!(!ok && stderr.contains("runners.eval.executor"), "{stderr}");
    // A shared directory missing here and Slurm's commands not found: warnings.
    let (ok, stderr) = check(&config("cluster", "/nonexistent/shared"));
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("executors.cluster.shared_dir: /nonexistent/shared does not exist here"),
        "{stderr}"
    );
    assert!(stderr.contains("Slurm's sbatch is not in"), "{stderr}");
    // A writable shared directory: no warning about it.
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let (ok, stderr) = check(&config("cluster", &shared.to_string_lossy()));
    assert!(ok && !stderr.contains("shared_dir"), "{stderr}");
}

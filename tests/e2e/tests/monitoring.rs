//! Monitoring kit: the alert rules pass `promtool check rules` and their unit tests; a real
//! Prometheus server scrapes a running reef and sees its numbers move; every metric the rules
//! and the Grafana dashboard use is one reef exposes.

use reef_e2e::{Reef, benchmark, demo_config, wait_for};
use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(path)
}

fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(deploy("prometheus"))
        .output()
        .expect("promtool (scripts/setup.sh installs Debian's prometheus package)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

/// The alerts `alerts.yml` declares.
fn alert_count() -> usize {
    let rules = std::fs::read_to_string(deploy("prometheus/alerts.yml")).unwrap();
    rules
        .lines()
        .filter(|l| l.trim_start().starts_with("- alert:"))
        .count()
}

#[test]
fn alert_rules_are_valid_and_their_unit_tests_pass() {
    // Every alert the issue names is there.
    let rules = std::fs::read_to_string(deploy("prometheus/alerts.yml")).unwrap();
    for alert in [
        "ReefHostDown",
        "ReefRunnerFailureRateHigh",
        "ReefJobsStuckInQueue",
        "ReefLostAttempts",
        "ReefPolicyFaults",
        "ReefPolicyQuarantined",
        "ReefConfigReloadFailed",
    ] {
        assert!(rules.contains(&format!("- alert: {alert}")), "{alert}");
    }
    let found = format!("SUCCESS: {} rules found", alert_count());
    assert!(promtool(&["check", "rules", "alerts.yml"]).contains(&found));
    assert!(promtool(&["test", "rules", "alerts_test.yml"]).contains("SUCCESS"));
}

/// A Prometheus server on loopback, killed on drop.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn scraping(target: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: reef\n    static_configs:\n      - targets: ['{target}']\n",
            deploy("prometheus/alerts.yml").display()
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
            .spawn()
            .expect("prometheus (scripts/setup.sh installs it)");
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    fn get(&self, path: &str) -> Option<Value> {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .new_agent();
        let mut response = agent.get(&format!("{}{path}", self.url)).call().ok()?;
        response.body_mut().read_json().ok()
    }

    /// The value of an instant query, if it returns exactly one series.
    fn query(&self, expr: &str) -> Option<f64> {
        let encoded: String = expr
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'_' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let answer = self.get(&format!("/api/v1/query?query={encoded}"))?;
        let result = answer["data"]["result"].as_array()?;
        match result.as_slice() {
            [one] => one["value"][1].as_str()?.parse().ok(),
            _ => None,
        }
    }
}

#[test]
fn a_real_prometheus_scrapes_reef_and_sees_jobs_move() {
    let reef = Reef::start(&demo_config(""));
    let target = reef.url.trim_start_matches("http://").to_owned();
    let prometheus = Prometheus::scraping(&target);
    wait_for("prometheus to be up", Duration::from_secs(30), || {
        prometheus.query("up{job=\"reef\"}").filter(|v| *v == 1.0)
    });
    let ids: Vec<String> = (0..3)
        .map(|_| reef.submit("demo", json!({"benchmark": benchmark("success.yml")})))
        .collect();
    for id in &ids {
        reef.wait_done(id, Duration::from_secs(30));
    }
    wait_for(
        "prometheus to see three finished jobs",
        Duration::from_secs(30),
        || {
            prometheus
                .query("sum(reef_jobs_finished_total{outcome=\"succeeded\"})")
                .filter(|v| *v == 3.0)
        },
    );
    let rules = prometheus.get("/api/v1/rules").unwrap();
    let loaded = rules["data"]["groups"][0]["rules"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(
        loaded,
        alert_count(),
        "the alert rules load into a real server: {rules}"
    );
}

#[test]
fn the_rules_and_the_dashboard_use_only_metrics_reef_exposes() {
    let reef = Reef::start(&demo_config(""));
    // A success and a failure, so that every labelled family has a series to show.
    for bench in ["success.yml", "exit3.yml"] {
        let id = reef.submit("demo", json!({"benchmark": benchmark(bench)}));
        reef.wait_done(&id, Duration::from_secs(30));
    }
    let exposed = reef.get("/metrics").text;
    let known: Vec<&str> = exposed
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let dashboard = std::fs::read_to_string(deploy("grafana/reef-dashboard.json")).unwrap();
    let parsed: Value = serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    assert!(parsed["panels"].as_array().unwrap().len() >= 10);
    let rules = std::fs::read_to_string(deploy("prometheus/alerts.yml")).unwrap();
    for text in [&dashboard, &rules] {
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if !word.starts_with("reef_") {
                continue;
            }
            let family = ["_bucket", "_count", "_sum", "_total"]
                .iter()
                .fold(word, |w, suffix| w.strip_suffix(suffix).unwrap_or(w));
            assert!(
                known.contains(&family),
                "{word} is used but reef exposes no {family} (has {known:?})"
            );
        }
    }
}

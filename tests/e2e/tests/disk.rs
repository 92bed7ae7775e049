//! A full disk: writes fail with clear errors (503 on submit, a log line), the database is not
//! corrupted, and the host carries on by itself once space returns.
//!
//! The data dir is a small tmpfs mounted by the test (the suite runs as root, as CI does here).

use reef_e2e::{Reef, benchmark, demo_config, wait_for};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

/// A tmpfs mounted for the test's lifetime.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    fn mount(path: &Path, size: &str) -> Self {
        std::fs::create_dir_all(path).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            path: path.to_owned(),
        }
    }

    /// Fills the disk with a ballast file until writes fail.
    fn fill(&self) -> PathBuf {
        let ballast = self.path.join("ballast");
        let mut file = std::fs::File::create(&ballast).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.sync_all();
        ballast
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

#[test]
fn a_full_disk_gives_clear_errors_and_the_host_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SmallDisk::mount(&dir.path().join("data"), "16m");
    let mut reef = Reef::try_start_with(dir, &demo_config(""), &[], "127.0.0.1:0", &[]).unwrap();
    let before = reef.submit("demo", json!({"benchmark": benchmark("success.yml")}));
    assert_eq!(reef.wait_done(&before, T)["state"], "succeeded");

    let ballast = disk.fill();
    let body = json!({"runner": "demo", "params": {"benchmark": benchmark("success.yml")}});
    let refused = wait_for("submits to be refused", T, || {
        let answer = reef.post("/v1/jobs", &body);
        (answer.status == 503).then_some(answer)
    });
    refused.assert_problem(503, "state database");
    assert!(
        reef.log().contains("state database I/O failure"),
        "a log line says why"
    );
    assert_eq!(reef.get("/healthz").status, 200, "the process stays up");
    let ready = reef.get("/readyz");
    assert_eq!(ready.status, 503, "{}", ready.text);
    assert_eq!(
        ready.json()["checks"]["data_dir"]["ok"],
        false,
        "{}",
        ready.text
    );

    std::fs::remove_file(&ballast).unwrap();
    let after = wait_for("submits to work again", T, || {
        let answer = reef.post("/v1/jobs", &body);
        (answer.status == 201).then(|| answer.json()["id"].as_str().unwrap().to_owned())
    });
    assert_eq!(reef.wait_done(&after, T)["state"], "succeeded");
    assert_eq!(
        reef.job(&before)["state"],
        "succeeded",
        "what was acknowledged before is intact"
    );
    // The database opens cleanly after a restart too.
    reef.signal(libc::SIGTERM);
    assert!(reef.wait_exit(T));
    let dir = reef.terminate();
    let reef = Reef::start_in(dir, &demo_config(""), &[]);
    assert_eq!(reef.job(&after)["state"], "succeeded");
    drop(reef);
    drop(disk);
}

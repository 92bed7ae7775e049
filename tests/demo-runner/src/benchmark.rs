//! The benchmark YAML model: which behaviour the demo runner should act out.
//!
//! Every field except `id` is optional; the defaults are applied by serde so the rest of the
//! program works with plain values. Unknown fields are rejected, so a typo in a fixture is an
//! error (exit 2) rather than a silently ignored setting. See `main.rs` or the README for the
//! meaning of each field.

use std::fmt;
use std::path::Path;

use serde::Deserialize;

/// What the runner does after its progress steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Behavior {
    /// Write a successful session file and exit 0.
    #[default]
    Succeed,
    /// Write a failed session file and exit with `exit_code` (default 0).
    Fail,
    /// Exit with `exit_code` (default 1) without writing a session file.
    Exit,
    /// Fail on attempts up to `fail_attempts`, succeed afterwards.
    Flaky,
    /// Sleep forever (until a signal ends the process).
    Hang,
    /// Ignore SIGTERM, then sleep forever.
    IgnoreSigterm,
    /// Spawn a child and a detached (setsid) child, then exit or hang per `then`.
    Grandchildren,
    /// Abort the process (SIGABRT).
    Crash,
    /// Write `flood_bytes` bytes to stdout, then succeed.
    Flood,
}

impl fmt::Display for Behavior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Behavior::Succeed => "succeed",
            Behavior::Fail => "fail",
            Behavior::Exit => "exit",
            Behavior::Flaky => "flaky",
            Behavior::Hang => "hang",
            Behavior::IgnoreSigterm => "ignore_sigterm",
            Behavior::Grandchildren => "grandchildren",
            Behavior::Crash => "crash",
            Behavior::Flood => "flood",
        };
        f.write_str(name)
    }
}

/// What a `grandchildren` runner does once its children are spawned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Then {
    /// Exit 0 right away, leaving the children behind.
    #[default]
    Exit,
    /// Sleep forever alongside the children.
    Hang,
}

/// One benchmark file, with defaults filled in.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Benchmark {
    /// Benchmark identifier, copied into the session file.
    pub id: String,
    /// Free text, printed with the first progress line.
    #[serde(default)]
    pub description: Option<String>,
    /// Number of progress steps.
    #[serde(default = "default_steps")]
    pub steps: u32,
    /// Sleep after each progress step, in milliseconds.
    #[serde(default = "default_step_ms")]
    pub step_ms: u64,
    /// A file whose appearance the progress waits for (relative to the working directory);
    /// lets a test decide when a run ends.
    #[serde(default)]
    pub gate: Option<std::path::PathBuf>,
    /// What to do after the progress steps.
    #[serde(default)]
    pub behavior: Behavior,
    /// Exit code for `fail`, `exit` and failing `flaky` attempts (each has its own default).
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// `flaky`: attempts `1..=fail_attempts` fail.
    #[serde(default = "default_fail_attempts")]
    pub fail_attempts: u32,
    /// `grandchildren`: how long each child sleeps, in seconds.
    #[serde(default = "default_child_sleep_s")]
    pub child_sleep_s: u64,
    /// `grandchildren`: exit or hang after spawning.
    #[serde(default)]
    pub then: Then,
    /// `flood`: how many bytes to write to stdout.
    #[serde(default = "default_flood_bytes")]
    pub flood_bytes: u64,
    /// Score to report; defaults to 1.0 on success and 0.0 on failure.
    #[serde(default)]
    pub score: Option<f64>,
    /// Also write the session JSON to `$REEF_RESULT_PATH` when that is set.
    #[serde(default)]
    pub write_result_path: bool,
    /// Number of lines printed to stderr at start.
    #[serde(default = "default_stderr_lines")]
    pub stderr_lines: u32,
}

fn default_steps() -> u32 {
    3
}
fn default_step_ms() -> u64 {
    20
}
fn default_fail_attempts() -> u32 {
    1
}
fn default_child_sleep_s() -> u64 {
    300
}
fn default_flood_bytes() -> u64 {
    100_000_000
}
fn default_stderr_lines() -> u32 {
    1
}

impl Benchmark {
    /// Reads and validates a benchmark file; the error names the file and the problem.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read benchmark {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("invalid benchmark {}: {e}", path.display()))
    }

    /// Parses and validates benchmark YAML text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bench: Benchmark = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        bench.validate()?;
        Ok(bench)
    }

    fn validate(&self) -> Result<(), String> {
        if self.id.trim().is_empty() {
            return Err("`id` must not be empty".into());
        }
        if let Some(code) = self.exit_code
            && !(0..=255).contains(&code)
        {
            return Err(format!("`exit_code` must be between 0 and 255, got {code}"));
        }
        if let Some(score) = self.score
            && !score.is_finite()
        {
            return Err(format!("`score` must be a finite number, got {score}"));
        }
        Ok(())
    }

    /// The score to report for an outcome: `score` if set, else 1.0 / 0.0.
    pub fn score_for(&self, success: bool) -> f64 {
        self.score.unwrap_or(if success { 1.0 } else { 0.0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_benchmark_gets_defaults() {
        let b = Benchmark::parse("id: only-id\n").expect("parses");
        assert_eq!(b.id, "only-id");
        assert_eq!(b.description, None);
        assert_eq!(b.steps, 3);
        assert_eq!(b.step_ms, 20);
        assert_eq!(b.behavior, Behavior::Succeed);
        assert_eq!(b.exit_code, None);
        assert_eq!(b.fail_attempts, 1);
        assert_eq!(b.child_sleep_s, 300);
        assert_eq!(b.then, Then::Exit);
        assert_eq!(b.flood_bytes, 100_000_000);
        assert_eq!(b.score, None);
        assert!(!b.write_result_path);
        assert_eq!(b.stderr_lines, 1);
        assert_eq!(b.score_for(true), 1.0);
        assert_eq!(b.score_for(false), 0.0);
    }

    #[test]
    fn all_fields_parse() {
        let yaml = "\
id: full
description: every field
steps: 5
step_ms: 200
behavior: grandchildren
exit_code: 3
fail_attempts: 2
child_sleep_s: 10
then: hang
flood_bytes: 1000
score: 0.75
write_result_path: true
stderr_lines: 4
";
        let b = Benchmark::parse(yaml).expect("parses");
        assert_eq!(b.description.as_deref(), Some("every field"));
        assert_eq!((b.steps, b.step_ms), (5, 200));
        assert_eq!(b.behavior, Behavior::Grandchildren);
        assert_eq!(b.exit_code, Some(3));
        assert_eq!(b.fail_attempts, 2);
        assert_eq!(b.child_sleep_s, 10);
        assert_eq!(b.then, Then::Hang);
        assert_eq!(b.flood_bytes, 1000);
        assert_eq!(b.score_for(false), 0.75);
        assert!(b.write_result_path);
        assert_eq!(b.stderr_lines, 4);
    }

    #[test]
    fn every_behavior_name_round_trips() {
        for name in [
            "succeed",
            "fail",
            "exit",
            "flaky",
            "hang",
            "ignore_sigterm",
            "grandchildren",
            "crash",
            "flood",
        ] {
            let b = Benchmark::parse(&format!("id: x\nbehavior: {name}\n")).expect(name);
            assert_eq!(b.behavior.to_string(), name);
        }
    }

    #[test]
    fn invalid_benchmarks_are_rejected() {
        for (yaml, needle) in [
            ("description: no id\n", "id"),
            ("id: ''\n", "id"),
            ("id: x\nbehavior: explode\n", "explode"),
            ("id: x\nexit_code: 300\n", "exit_code"),
            ("id: x\nstpes: 3\n", "stpes"),
            ("id: x\nsteps: -1\n", "steps"),
            ("- not a map\n", ""),
        ] {
            let err = Benchmark::parse(yaml).expect_err(yaml);
            assert!(err.contains(needle), "{yaml:?}: {err}");
        }
    }

    #[test]
    fn sample_fixtures_all_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/benchmarks");
        let entries = std::fs::read_dir(&dir).expect("fixtures dir");
        let mut count = 0;
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path.extension().is_some_and(|e| e == "yml") {
                let b = Benchmark::load(&path).expect("fixture parses");
                assert!(
                    b.description.is_some(),
                    "{} lacks a description",
                    path.display()
                );
                count += 1;
            }
        }
        assert!(
            count >= 12,
            "expected the 12 sample benchmarks, found {count}"
        );
    }
}

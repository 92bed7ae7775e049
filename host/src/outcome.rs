//! Judging a finished attempt: its exit record and its result become a [`Verdict`].

use crate::runner::RunnerSpec;
use reef_shim::ExitRecord;
use serde_json::Value;
use std::io::Read;
use std::path::Path;
use std::time::SystemTime;

/// What an attempt amounted to, before the policy decides what follows.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The runner succeeded.
    Succeeded,
    /// The runner failed; `reason` uses the job reason vocabulary (`exit_code:3`, `timeout`,
    /// `signal:9`, `spawn_error: ...`, `lost`, `result:unsuccessful`).
    Failed {
        /// Why.
        reason: String,
        /// Whether another attempt could help (a missing binary will stay missing).
        retryable: bool,
    },
    /// The attempt was stopped on request.
    Cancelled,
}

/// Judges an exit record; `success` is the result's success flag, when the runner has one.
pub fn judge(record: &ExitRecord, success: Option<bool>) -> Verdict {
    let failed = |reason: String| Verdict::Failed {
        reason,
        retryable: true,
    };
    if record.cancelled {
        return Verdict::Cancelled;
    }
    if let Some(error) = &record.spawn_error {
        return Verdict::Failed {
            reason: format!("spawn_error: {error}"),
            retryable: false,
        };
    }
    if record.timed_out {
        return failed("timeout".into());
    }
    if let Some(signal) = record.signal {
        return failed(format!("signal:{signal}"));
    }
    match (success, record.exit_code) {
        (Some(true), _) => Verdict::Succeeded,
        // A failing exit code says more than the result's flag.
        (Some(false), Some(code)) if code != 0 => failed(format!("exit_code:{code}")),
        (Some(false), _) => failed("result:unsuccessful".into()),
        (None, Some(0)) => Verdict::Succeeded,
        (None, Some(code)) => failed(format!("exit_code:{code}")),
        (None, None) => failed("lost".into()),
    }
}

/// The result of an attempt as read from disk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultRead {
    /// The JSON document.
    pub value: Option<Value>,
    /// Its success flag, via the runner's pointer.
    pub success: Option<bool>,
    /// Its score, via the runner's pointer.
    pub score: Option<f64>,
    /// Why a result that should exist could not be used.
    pub error: Option<String>,
}

/// Reads the result: `result_path` (the `REEF_RESULT_PATH` file) when the runner wrote it, else
/// the runner's configured file if it was written at or after `not_before` (the attempt's start:
/// a file left by an earlier attempt is not this attempt's result). Files over the cap,
/// unreadable files and invalid JSON give an `error` and no value.
pub fn read_result(
    spec: &RunnerSpec,
    result_path: &Path,
    configured: Option<&Path>,
    not_before: SystemTime,
) -> ResultRead {
    let fresh = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= not_before)
    };
    let path = if result_path.exists() {
        result_path
    } else {
        match configured {
            Some(p) if fresh(p) => p,
            Some(p) => {
                return ResultRead {
                    error: Some(format!("result file {} was not written", p.display())),
                    ..Default::default()
                };
            }
            None => return ResultRead::default(),
        }
    };
    let value = match read_capped(path, spec.result.max_bytes) {
        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(value) => value,
            Err(e) => {
                return ResultRead {
                    error: Some(format!("result file {} is not JSON: {e}", path.display())),
                    ..Default::default()
                };
            }
        },
        Err(error) => {
            return ResultRead {
                error: Some(error),
                ..Default::default()
            };
        }
    };
    let success = spec
        .result
        .success
        .as_deref()
        .and_then(|p| value.pointer(p))
        .and_then(Value::as_bool);
    let score = spec
        .result
        .score
        .as_deref()
        .and_then(|p| value.pointer(p))
        .and_then(Value::as_f64);
    ResultRead {
        value: Some(value),
        success,
        score,
        error: None,
    }
}

fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() as u64 > cap {
        return Err(format!(
            "result file {} is larger than the {cap}-byte cap",
            path.display()
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::runner::RunnerSet;

    fn exit(code: Option<i32>, signal: Option<i32>) -> ExitRecord {
        ExitRecord {
            exit_code: code,
            signal,
            ..Default::default()
        }
    }

    #[test]
    fn reasons_follow_the_documented_vocabulary() {
        assert_eq!(judge(&exit(Some(0), None), None), Verdict::Succeeded);
        let reason = |v: Verdict| match v {
            Verdict::Failed { reason, .. } => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(reason(judge(&exit(Some(3), None), None)), "exit_code:3");
        assert_eq!(reason(judge(&exit(None, Some(9)), None)), "signal:9");
        let timed_out = ExitRecord {
            timed_out: true,
            signal: Some(15),
            ..Default::default()
        };
        assert_eq!(reason(judge(&timed_out, Some(true))), "timeout");
        let spawn = ExitRecord {
            spawn_error: Some("x: not found".into()),
            ..Default::default()
        };
        assert!(matches!(
            judge(&spawn, None),
            Verdict::Failed {
                retryable: false,
                ..
            }
        ));
        let cancelled = ExitRecord {
            cancelled: true,
            signal: Some(15),
            ..Default::default()
        };
        assert_eq!(judge(&cancelled, None), Verdict::Cancelled);
    }

    #[test]
    fn the_success_pointer_overrides_the_exit_code() {
        assert_eq!(judge(&exit(Some(3), None), Some(true)), Verdict::Succeeded);
        assert!(matches!(
            judge(&exit(Some(0), None), Some(false)),
            Verdict::Failed { .. }
        ));
    }

    fn missing_path(dir: &tempfile::TempDir) -> std::path::PathBuf {
        dir.path().join("no-result-path.json")
    }

    #[test]
    fn results_are_read_capped_and_judged_by_pointer() {
        let config = Config::from_toml(
            "[runners.r]\ncommand=[\"x\"]\nresult = { success = \"/final_result/success\", score = \"/final_result/score\", max_bytes = 64 }",
        )
        .unwrap();
        let set = RunnerSet::from_config(&config, Path::new("/")).unwrap();
        let spec = set.get("r").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("result.json");
        std::fs::write(&path, r#"{"final_result":{"success":false,"score":0.25}}"#).unwrap();
        let read = read_result(spec, &path, None, SystemTime::UNIX_EPOCH);
        assert_eq!((read.success, read.score), (Some(false), Some(0.25)));
        std::fs::write(&path, "x".repeat(65)).unwrap();
        assert!(
            read_result(spec, &path, None, SystemTime::UNIX_EPOCH)
                .error
                .unwrap()
                .contains("cap")
        );
        std::fs::write(&path, "{not json").unwrap();
        assert!(
            read_result(spec, &path, None, SystemTime::UNIX_EPOCH)
                .error
                .unwrap()
                .contains("not JSON")
        );
        let stale = dir.path().join("stale.json");
        std::fs::write(&stale, "{}").unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        assert!(
            read_result(spec, &missing_path(&dir), Some(&stale), later)
                .error
                .unwrap()
                .contains("not written")
        );
        let missing = dir.path().join("none.json");
        assert!(
            read_result(spec, &missing, Some(&missing), SystemTime::UNIX_EPOCH)
                .error
                .unwrap()
                .contains("not written")
        );
    }
}

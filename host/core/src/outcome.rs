//! Judging a finished attempt: its exit record and its result become a [`Verdict`].

use crate::runner::ResultSpec;
use reef_shim::ExitRecord;
use serde_json::Value;

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

/// Reads a result document (`bytes`, from `source`) through the runner's success and score
/// pointers. Invalid JSON gives an `error` and no value.
pub fn interpret(spec: &ResultSpec, source: &str, bytes: &[u8]) -> ResultRead {
    let value = match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => value,
        Err(e) => {
            return ResultRead {
                error: Some(format!("result file {source} is not JSON: {e}")),
                ..Default::default()
            };
        }
    };
    let pointed = |pointer: &Option<String>| pointer.as_deref().and_then(|p| value.pointer(p));
    let success = pointed(&spec.success).and_then(Value::as_bool);
    let score = pointed(&spec.score).and_then(Value::as_f64);
    ResultRead {
        value: Some(value),
        success,
        score,
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

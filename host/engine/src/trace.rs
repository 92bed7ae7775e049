//! `JobTracer`: one OpenTelemetry trace per job.
//!
//! ```text
//! job                      submit .. the job ends (written when it ends)
//! ├── submit               the API call
//! │   └── policy.admit
//! ├── queued               submit (or a retry's requeue) .. the attempt starts
//! ├── policy.pick
//! └── attempt              start .. exit (written at exit); its context is the runner's TRACEPARENT
//!     ├── policy.plan
//!     └── policy.on_exit
//! ```
//!
//! Spans are written with explicit start and end times once both are known, because a job and
//! its attempts outlive the host process that started them. The trace id is the job's ULID and
//! the ids of the `job` and `attempt` spans are derived from the job id, so a host that restarts
//! mid-attempt writes the same ids it handed to the runner. A re-driven job starts a new `job`
//! span in the same trace.

pub mod ids;

use ids::with_ids;
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;
use reef_core::model::{Attempt, AttemptState, Job};
use reef_core::time::Timestamp;
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A policy call, timed by its caller, to be written as a child span.
#[derive(Debug, Clone)]
pub struct PolicyCall {
    /// `admit`, `pick`, `plan` or `on_exit`.
    pub hook: &'static str,
    /// When the call began.
    pub started: SystemTime,
    /// When it answered.
    pub ended: SystemTime,
    /// Who decided: a digest, or `native:fallback:<fault>`.
    pub by: String,
}

impl PolicyCall {
    /// Times `call`, which answers with its decision and who decided it.
    pub fn time<T>(hook: &'static str, call: impl FnOnce() -> (T, String)) -> (T, Self) {
        let started = SystemTime::now();
        let (answer, by) = call();
        let timed = Self {
            hook,
            started,
            ended: SystemTime::now(),
            by,
        };
        (answer, timed)
    }
}

/// Writes job traces; does nothing when no exporter is configured.
#[derive(Debug, Clone, Default)]
pub struct JobTracer {
    tracer: Option<SdkTracer>,
}

impl JobTracer {
    /// A tracer that writes through `tracer`.
    pub fn new(tracer: SdkTracer) -> Self {
        Self {
            tracer: Some(tracer),
        }
    }

    /// A tracer that writes nothing.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// True when spans are exported.
    pub fn enabled(&self) -> bool {
        self.tracer.is_some()
    }

    /// The W3C `traceparent` of attempt `n` of a job, handed to the runner as `TRACEPARENT`;
    /// `None` when tracing is off.
    pub fn traceparent(&self, job: &Job, n: u32) -> Option<String> {
        self.tracer.as_ref()?;
        Some(format!(
            "00-{}-{}-01",
            trace_id(&job.id),
            attempt_span_id(&job.id, n)
        ))
    }

    /// The API call that created `job`, with its admission decision.
    pub fn submitted(&self, job: &Job, started: SystemTime, admit: &PolicyCall) {
        let Some(tracer) = &self.tracer else { return };
        let parent = job_context(job);
        let mut submit = tracer.build_with_context(
            tracer
                .span_builder("submit")
                .with_kind(SpanKind::Server)
                .with_start_time(started)
                .with_attributes(job_attributes(job)),
            &parent,
        );
        let submit_cx = parent.with_remote_span_context(submit.span_context().clone());
        self.policy_call(&submit_cx, admit);
        submit.end_with_timestamp(SystemTime::now());
    }

    /// Attempt `n` of `job` has started after waiting since `since`: the wait, the pick that
    /// chose the job and the plan of the attempt.
    pub fn started(
        &self,
        job: &Job,
        since: Timestamp,
        n: u32,
        pick: Option<&PolicyCall>,
        plan: &PolicyCall,
    ) {
        let Some(tracer) = &self.tracer else { return };
        let parent = job_context(job);
        let mut attributes = job_attributes(job);
        attributes.push(KeyValue::new("reef.attempt", i64::from(n)));
        let mut queued = tracer.build_with_context(
            tracer
                .span_builder("queued")
                .with_start_time(system_time(since))
                .with_attributes(attributes),
            &parent,
        );
        queued.end_with_timestamp(plan.started);
        if let Some(pick) = pick {
            self.policy_call(&parent, pick);
        }
        self.policy_call(&attempt_context(job, n), plan);
    }

    /// Attempt `attempt` of `job` has ended, judged by `on_exit` (absent for a cancelled
    /// attempt). When the job has ended too, its `job` span is written.
    pub fn attempt_ended(&self, job: &Job, attempt: &Attempt, on_exit: Option<&PolicyCall>) {
        let Some(tracer) = &self.tracer else { return };
        let parent = job_context(job);
        let trace = trace_id(&job.id);
        let mut attributes = job_attributes(job);
        attributes.extend([
            KeyValue::new("reef.attempt", i64::from(attempt.n)),
            KeyValue::new("reef.attempt.state", format!("{:?}", attempt.state)),
        ]);
        if let Some(code) = attempt.exit_code {
            attributes.push(KeyValue::new("process.exit.code", i64::from(code)));
        }
        if let Some(signal) = attempt.signal {
            attributes.push(KeyValue::new("reef.attempt.signal", i64::from(signal)));
        }
        if let Some(reason) = &attempt.reason {
            attributes.push(KeyValue::new("reef.attempt.reason", reason.clone()));
        }
        if let Some(placement) = &attempt.placement {
            attributes.push(KeyValue::new(
                "reef.placement.executor",
                placement.executor.clone(),
            ));
            if let Some(node) = &placement.node {
                attributes.push(KeyValue::new("reef.placement.node", node.clone()));
            }
            if let Some(id) = &placement.id {
                attributes.push(KeyValue::new("reef.placement.id", id.clone()));
            }
        }
        let builder = tracer
            .span_builder("attempt")
            .with_kind(SpanKind::Internal)
            .with_start_time(system_time(attempt.started_at))
            .with_attributes(attributes);
        let mut span = with_ids(trace, attempt_span_id(&job.id, attempt.n), || {
            tracer.build_with_context(builder, &parent)
        });
        if let Some(call) = on_exit {
            let attempt_cx = parent.with_remote_span_context(span.span_context().clone());
            self.policy_call(&attempt_cx, call);
        }
        if !matches!(
            attempt.state,
            AttemptState::Succeeded | AttemptState::Running
        ) {
            span.set_status(Status::error(
                attempt
                    .reason
                    .clone()
                    .unwrap_or_else(|| format!("{:?}", attempt.state)),
            ));
        }
        let ended = attempt
            .ended_at
            .map(system_time)
            .unwrap_or_else(SystemTime::now);
        span.end_with_timestamp(ended);
        if job.state.is_terminal() {
            self.job_ended(job);
        }
    }

    /// `job` has reached a final state: its root span is written.
    pub fn job_ended(&self, job: &Job) {
        let Some(tracer) = &self.tracer else { return };
        let mut attributes = job_attributes(job);
        attributes.extend([
            KeyValue::new("reef.job.state", job.state.as_str()),
            KeyValue::new("reef.job.attempts", i64::from(job.attempt_count)),
        ]);
        if let Some(reason) = &job.reason {
            attributes.push(KeyValue::new("reef.job.reason", reason.clone()));
        }
        let builder = tracer
            .span_builder("job")
            .with_kind(SpanKind::Internal)
            .with_start_time(system_time(job.created_at))
            .with_attributes(attributes);
        let mut span = with_ids(trace_id(&job.id), job_span_id(job), || {
            tracer.build_with_context(builder, &Context::new())
        });
        if job.state.as_str() != "succeeded" {
            span.set_status(Status::error(
                job.reason.clone().unwrap_or_else(|| job.state.to_string()),
            ));
        }
        span.end_with_timestamp(system_time(job.updated_at));
    }

    fn policy_call(&self, parent: &Context, call: &PolicyCall) {
        let Some(tracer) = &self.tracer else { return };
        let mut span = tracer.build_with_context(
            tracer
                .span_builder(format!("policy.{}", call.hook))
                .with_start_time(call.started)
                .with_attributes([
                    KeyValue::new("reef.policy.hook", call.hook),
                    KeyValue::new("reef.policy", call.by.clone()),
                ]),
            parent,
        );
        if call.by.starts_with("native:fallback") {
            span.set_status(Status::error(call.by.clone()));
        }
        span.end_with_timestamp(call.ended);
    }
}

/// The context of a job's root span, as a parent for its children.
fn job_context(job: &Job) -> Context {
    Context::new().with_remote_span_context(SpanContext::new(
        trace_id(&job.id),
        job_span_id(job),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    ))
}

/// The context of an attempt's span, as a parent for its policy calls.
fn attempt_context(job: &Job, n: u32) -> Context {
    Context::new().with_remote_span_context(SpanContext::new(
        trace_id(&job.id),
        attempt_span_id(&job.id, n),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    ))
}

fn job_attributes(job: &Job) -> Vec<KeyValue> {
    vec![
        KeyValue::new("reef.job.id", job.id.to_string()),
        KeyValue::new("reef.runner", job.runner.clone()),
        KeyValue::new("reef.tenant", job.tenant.clone()),
    ]
}

/// The trace of a job: its ULID's 128 bits (a hash for ids that are not ULIDs).
pub fn trace_id(job_id: &str) -> TraceId {
    match ulid::Ulid::from_string(job_id) {
        Ok(ulid) if ulid.0 != 0 => TraceId::from(ulid.0),
        _ => {
            let digest = Sha256::digest(job_id.as_bytes());
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(&digest[..16]);
            TraceId::from_bytes(bytes)
        }
    }
}

/// The root span of a job's current drive (a re-drive starts a new one).
fn job_span_id(job: &Job) -> SpanId {
    derived_span_id(&format!("job:{}:{}", job.id, job.redrives))
}

/// The span of attempt `n` of a job.
pub fn attempt_span_id(job_id: &str, n: u32) -> SpanId {
    derived_span_id(&format!("attempt:{job_id}:{n}"))
}

fn derived_span_id(key: &str) -> SpanId {
    let digest = Sha256::digest(key.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    // An all-zero id is invalid; a digest that starts with eight zero bytes gets one bit set.
    if bytes == [0; 8] {
        bytes[7] = 1;
    }
    SpanId::from_bytes(bytes)
}

fn system_time(at: Timestamp) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(at.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let id = ulid::Ulid::new().to_string();
        assert_eq!(trace_id(&id), trace_id(&id));
        assert_eq!(
            trace_id(&id).to_string(),
            format!("{:032x}", ulid::Ulid::from_string(&id).unwrap().0)
        );
        assert_eq!(attempt_span_id(&id, 1), attempt_span_id(&id, 1));
        assert_ne!(attempt_span_id(&id, 1), attempt_span_id(&id, 2));
        assert_ne!(trace_id("not-a-ulid"), TraceId::INVALID);
    }

    #[test]
    fn traceparent_only_when_enabled() {
        let job = Job::queued(
            ulid::Ulid::new().into(),
            "demo",
            Default::default(),
            Timestamp::now(),
        );
        assert_eq!(JobTracer::disabled().traceparent(&job, 1), None);
    }
}

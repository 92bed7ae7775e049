//! `JobIds`: span and trace ids that can be fixed in advance.
//!
//! A job's trace outlives any one process: its root span is written when the job ends, and an
//! attempt's span when the attempt exits, possibly after a restart; yet the runner is handed the
//! attempt's `TRACEPARENT` when it starts. So those ids are derived from the job id and the
//! attempt number, and this generator hands them to the SDK when a span is built under
//! [`with_ids`]. Every other span gets random ids.

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use std::cell::Cell;

thread_local! {
    static FIXED: Cell<Option<(TraceId, SpanId)>> = const { Cell::new(None) };
}

/// The tracer provider's id generator: fixed ids inside [`with_ids`], random ones elsewhere.
#[derive(Debug, Default)]
pub struct JobIds(RandomIdGenerator);

impl IdGenerator for JobIds {
    fn new_trace_id(&self) -> TraceId {
        FIXED
            .with(Cell::get)
            .map(|(trace, _)| trace)
            .unwrap_or_else(|| self.0.new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        FIXED
            .with(Cell::get)
            .map(|(_, span)| span)
            .unwrap_or_else(|| self.0.new_span_id())
    }
}

/// Runs `build` (which builds one span) with the generator answering `trace` and `span`.
pub fn with_ids<T>(trace: TraceId, span: SpanId, build: impl FnOnce() -> T) -> T {
    /// Unpins the ids however `build` ends, a panic included, so no later span on this thread
    /// gets them.
    struct Unpin;
    impl Drop for Unpin {
        fn drop(&mut self) {
            FIXED.with(|f| f.set(None));
        }
    }
    FIXED.with(|f| f.set(Some((trace, span))));
    let _unpin = Unpin;
    build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_inside_random_outside() {
        let ids = JobIds::default();
        let (t, s) = (TraceId::from(7u128), SpanId::from(9u64));
        let inside = with_ids(t, s, || (ids.new_trace_id(), ids.new_span_id()));
        assert_eq!(inside, (t, s));
        assert_ne!(ids.new_span_id(), s);
        assert_ne!(ids.new_trace_id(), t);
    }

    #[test]
    fn a_panic_while_building_unpins_the_ids() {
        let ids = JobIds::default();
        let (t, s) = (TraceId::from(7u128), SpanId::from(9u64));
        let panicked = std::panic::catch_unwind(|| with_ids(t, s, || panic!("while building")));
        assert!(panicked.is_err());
        assert_ne!(ids.new_span_id(), s);
    }
}

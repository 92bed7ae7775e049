//! `Clock`: where the engine reads the time, so that tests can move it.

use reef_core::time::Timestamp;

/// The time, as the engine reads it (events, deadlines of retries, queue waits).
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that follows tokio's: frozen while tokio's time is paused, moved by
/// `tokio::time::advance`, so that timers and timestamps stay in step in tests.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    start: tokio::time::Instant,
    at_start: Timestamp,
}

impl TokioClock {
    /// A clock that reads `at_start` now.
    pub fn starting_at(at_start: Timestamp) -> Self {
        Self {
            start: tokio::time::Instant::now(),
            at_start,
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        self.at_start.plus(self.start.elapsed())
    }
}

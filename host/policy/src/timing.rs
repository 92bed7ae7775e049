//! `DecisionTimes`: how long recent policy decisions took, across versions (a swap does not reset
//! it), for `GET /v1/policies` and the swap benchmark.

pub use reef_core::api::policy::TimingSummary;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

/// How many recent decisions are kept.
pub const WINDOW: usize = 4096;

/// Durations of the most recent decisions.
#[derive(Debug, Default)]
pub struct DecisionTimes {
    recent: Mutex<VecDeque<u32>>,
}

impl DecisionTimes {
    /// Records one decision.
    pub fn record(&self, took: Duration) {
        let micros = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
        if let Ok(mut recent) = self.recent.lock() {
            if recent.len() == WINDOW {
                recent.pop_front();
            }
            recent.push_back(micros);
        }
    }

    /// Percentiles over the window.
    pub fn summary(&self) -> TimingSummary {
        let mut sorted: Vec<u32> = match self.recent.lock() {
            Ok(recent) => recent.iter().copied().collect(),
            Err(_) => return TimingSummary::default(),
        };
        if sorted.is_empty() {
            return TimingSummary::default();
        }
        sorted.sort_unstable();
        let at = |q: usize| sorted[(sorted.len() * q / 100).min(sorted.len() - 1)];
        TimingSummary {
            count: sorted.len(),
            p50_micros: at(50),
            p99_micros: at(99),
            max_micros: sorted[sorted.len() - 1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_over_a_bounded_window() {
        let times = DecisionTimes::default();
        assert_eq!(times.summary().count, 0);
        for us in 1..=100 {
            times.record(Duration::from_micros(us));
        }
        let s = times.summary();
        assert_eq!(
            (s.count, s.p50_micros, s.p99_micros, s.max_micros),
            (100, 51, 100, 100)
        );
        for _ in 0..WINDOW {
            times.record(Duration::from_micros(7));
        }
        assert_eq!(
            times.summary().max_micros,
            7,
            "old entries leave the window"
        );
    }
}

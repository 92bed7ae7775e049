//! Strict priority: while any runnable job has a higher priority, lower ones wait even if slots
//! are free. Among the highest priority, submission order.

use reef_policy_sdk::{PickInput, Policy, export_policy};

struct StrictPriority;

impl Policy for StrictPriority {
    fn pick(input: &PickInput) -> Vec<u32> {
        let Some(top) = input.candidates.iter().map(|c| c.priority).max() else {
            return Vec::new();
        };
        (0..input.candidates.len() as u32)
            .filter(|&i| input.candidates[i as usize].priority == top)
            .collect()
    }
}

export_policy!(StrictPriority);

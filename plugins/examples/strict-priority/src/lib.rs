//! Strict priority: higher priority first, then submission order, and nothing else. Unlike the
//! default policy there is no fair share: a tenant that queued many jobs first keeps the slots
//! until its jobs are done, whoever else is waiting at the same priority.

use reef_policy_sdk::{PickInput, Policy, export_policy};

struct StrictPriority;

impl Policy for StrictPriority {
    fn pick(input: &PickInput) -> Vec<u32> {
        let mut order: Vec<u32> = (0..input.candidates.len() as u32).collect();
        // The host offers candidates in this order already; sorting keeps the policy correct
        // even if that changes.
        order.sort_by_key(|&i| (std::cmp::Reverse(input.candidates[i as usize].priority), i));
        order
    }
}

export_policy!(StrictPriority);

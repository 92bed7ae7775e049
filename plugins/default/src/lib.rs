//! reef's default policy, embedded in the `reef` binary.
//!
//! - admit: accept every job unchanged.
//! - pick: priority first; among equal priorities, the tenant with the fewest running attempts
//!   goes first (fair share), then submission order.
//! - plan: the runner's configured timeout and kill grace.
//! - on-exit: retry failures after the runner's backoff while `max_attempts` allows (lost
//!   attempts do not count); cancelled attempts and spawn errors are not retried.

use reef_policy_sdk::{PickInput, Policy, export_policy};
use std::collections::BTreeMap;

struct DefaultPolicy;

impl Policy for DefaultPolicy {
    fn pick(input: &PickInput) -> Vec<u32> {
        let mut running: BTreeMap<&str, u32> = input
            .load
            .tenants
            .iter()
            .map(|t| (t.key.as_str(), t.running))
            .collect();
        let mut left: Vec<u32> = (0..input.candidates.len() as u32).collect();
        let mut order = Vec::with_capacity(left.len());
        // Repeatedly take the best candidate given what the picks so far would add, so one
        // tenant's burst does not fill every free slot.
        while !left.is_empty() {
            let (pos, &best) = left
                .iter()
                .enumerate()
                .min_by_key(|(_, i)| {
                    let c = &input.candidates[**i as usize];
                    let load = running.get(c.tenant.as_str()).copied().unwrap_or(0);
                    (std::cmp::Reverse(c.priority), load, **i)
                })
                .expect("left is not empty");
            left.remove(pos);
            let tenant = input.candidates[best as usize].tenant.as_str();
            *running.entry(tenant).or_default() += 1;
            order.push(best);
        }
        order
    }
}

export_policy!(DefaultPolicy);

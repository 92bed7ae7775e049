//! Weighted fair share: running slots are shared across tenants in proportion to their weights.
//! The next slot goes to the candidate whose tenant has the lowest running/weight ratio; priority
//! only breaks ties. Weights live in this file: a policy carries its own configuration.

use reef_policy_sdk::{PickInput, Policy, export_policy};
use std::collections::BTreeMap;

/// Weights by tenant; tenants not listed weigh 1.
const WEIGHTS: &[(&str, u32)] = &[("gold", 3), ("silver", 2)];

fn weight(tenant: &str) -> u64 {
    WEIGHTS
        .iter()
        .find(|(t, _)| *t == tenant)
        .map_or(1, |(_, w)| u64::from(*w))
}

struct WeightedFairShare;

impl Policy for WeightedFairShare {
    fn pick(input: &PickInput) -> Vec<u32> {
        let mut running: BTreeMap<&str, u64> = input
            .load
            .tenants
            .iter()
            .map(|t| (t.key.as_str(), u64::from(t.running)))
            .collect();
        let mut left: Vec<u32> = (0..input.candidates.len() as u32).collect();
        let mut order = Vec::new();
        while !left.is_empty() {
            // Compare running/weight ratios exactly: a/wa < b/wb  <=>  a*wb < b*wa.
            let (pos, &best) = left
                .iter()
                .enumerate()
                .min_by(|(_, a), (_, b)| {
                    let ca = &input.candidates[**a as usize];
                    let cb = &input.candidates[**b as usize];
                    let ra = running.get(ca.tenant.as_str()).copied().unwrap_or(0);
                    let rb = running.get(cb.tenant.as_str()).copied().unwrap_or(0);
                    (ra * weight(&cb.tenant))
                        .cmp(&(rb * weight(&ca.tenant)))
                        .then(cb.priority.cmp(&ca.priority))
                        .then(a.cmp(b))
                })
                .expect("left is not empty");
            left.remove(pos);
            *running
                .entry(input.candidates[best as usize].tenant.as_str())
                .or_default() += 1;
            order.push(best);
        }
        order
    }
}

export_policy!(WeightedFairShare);

//! `GET /v1/results`: jobs grouped by parameter or label values, with how they did (the "agent
//! performance" view), over any jobs, not only sweeps.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most keys in one `group_by`.
pub const MAX_GROUP_KEYS: usize = 4;

/// What a group is keyed by: a parameter's value or a label's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupKey {
    /// `param:NAME`
    Param(String),
    /// `label:NAME`
    Label(String),
}

impl GroupKey {
    /// Parses `param:NAME` or `label:NAME`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (kind, name) = text
            .split_once(':')
            .ok_or_else(|| format!("group key {text:?} is neither param:NAME nor label:NAME"))?;
        if name.is_empty() {
            return Err(format!("group key {text:?} names nothing after '{kind}:'"));
        }
        match kind {
            "param" => Ok(Self::Param(name.to_owned())),
            "label" => Ok(Self::Label(name.to_owned())),
            _ => Err(format!(
                "group key {text:?} is neither param:NAME nor label:NAME"
            )),
        }
    }

    /// Parses a comma-separated list of keys: at least one, at most [`MAX_GROUP_KEYS`]; a key
    /// named twice counts once.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, String> {
        let mut keys: Vec<Self> = Vec::new();
        for key in text.split(',').map(Self::parse) {
            let key = key?;
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        if keys.len() > MAX_GROUP_KEYS {
            return Err(format!(
                "group_by has {} keys; at most {MAX_GROUP_KEYS}",
                keys.len()
            ));
        }
        Ok(keys)
    }
}

impl std::fmt::Display for GroupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Param(name) => write!(f, "param:{name}"),
            Self::Label(name) => write!(f, "label:{name}"),
        }
    }
}

/// The answer of `GET /v1/results`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResultsView {
    /// The runner the jobs ran on.
    pub runner: String,
    /// The keys the groups are made by, as given (`param:agent`).
    pub group_by: Vec<String>,
    /// Jobs that matched the filters.
    pub jobs: u64,
    /// One entry per distinct combination of key values, in the keys' order.
    pub groups: Vec<ResultGroup>,
}

/// How the jobs of one group did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResultGroup {
    /// The group's value of each key (`{"param:agent": "x"}`); `null` for a job without it.
    pub key: BTreeMap<String, Option<String>>,
    /// Jobs in the group.
    pub jobs: u64,
    /// Of those, finished (succeeded, failed or cancelled).
    pub finished: u64,
    /// Of those, succeeded.
    pub succeeded: u64,
    /// `succeeded / finished`; absent while none has finished.
    pub success_rate: Option<f64>,
    /// The scores of the jobs' latest attempts that reported one.
    pub score: Option<ScoreStats>,
    /// The durations of the jobs' latest finished attempts, in milliseconds.
    pub duration_ms: Option<DurationStats>,
}

/// Mean, least and greatest of a group's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScoreStats {
    /// How many scores.
    pub count: u64,
    /// Their mean.
    pub mean: f64,
    /// The least.
    pub min: f64,
    /// The greatest.
    pub max: f64,
}

/// Percentiles of a group's attempt durations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DurationStats {
    /// How many durations.
    pub count: u64,
    /// The median (nearest rank).
    pub p50: u64,
    /// The 95th percentile (nearest rank).
    pub p95: u64,
}

impl DurationStats {
    /// The stats of `durations` (sorted here), or `None` for none.
    pub fn of(mut durations: Vec<u64>) -> Option<Self> {
        if durations.is_empty() {
            return None;
        }
        durations.sort_unstable();
        let rank = |p: f64| {
            let n = durations.len();
            let i = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            durations[i]
        };
        Some(Self {
            count: durations.len() as u64,
            p50: rank(0.50),
            p95: rank(0.95),
        })
    }
}

impl ScoreStats {
    /// The stats of `scores`, or `None` for none.
    pub fn of(scores: &[f64]) -> Option<Self> {
        let first = *scores.first()?;
        let (min, max, sum) = scores
            .iter()
            .fold((first, first, 0.0), |(lo, hi, sum), &s| {
                (lo.min(s), hi.max(s), sum + s)
            });
        Some(Self {
            count: scores.len() as u64,
            mean: sum / scores.len() as f64,
            min,
            max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_refuse() {
        assert_eq!(
            GroupKey::parse_list("param:agent,label:team").unwrap(),
            vec![
                GroupKey::Param("agent".into()),
                GroupKey::Label("team".into())
            ]
        );
        assert!(GroupKey::parse("agent").is_err());
        assert!(GroupKey::parse("param:").is_err());
        assert!(GroupKey::parse("tag:x").is_err());
        assert_eq!(GroupKey::parse_list("param:a,param:a").unwrap().len(), 1);
        assert!(GroupKey::parse_list("param:a,param:b,param:c,param:d,param:e").is_err());
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let d = DurationStats::of((1..=100).rev().collect()).unwrap();
        assert_eq!((d.count, d.p50, d.p95), (100, 50, 95));
        let one = DurationStats::of(vec![7]).unwrap();
        assert_eq!((one.p50, one.p95), (7, 7));
        assert!(DurationStats::of(vec![]).is_none());
    }

    #[test]
    fn score_stats() {
        let s = ScoreStats::of(&[0.5, 1.0, 0.0]).unwrap();
        assert_eq!((s.count, s.mean, s.min, s.max), (3, 0.5, 0.0, 1.0));
        assert!(ScoreStats::of(&[]).is_none());
    }
}

//! Builders for the tests of reef's crates (the `testing` feature; never in a build of the host).

use crate::job_id::JobId;
use crate::model::Job;
use crate::time::Timestamp;
use std::collections::BTreeMap;

/// A queued job of runner `demo`, with a fixed id.
pub fn job() -> Job {
    Job::queued(
        JobId::parse("01J0000000000000000000000A").expect("a ULID"),
        "demo",
        BTreeMap::new(),
        Timestamp(1),
    )
}

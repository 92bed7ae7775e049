//! Submit throughput of the state store with group commit vs one commit per job.
//!
//! `cargo run --release -p reef-store --example commit_throughput [threads] [jobs_per_thread]`
//!
//! Each thread stores jobs the way `POST /v1/jobs` does (a job and its `submit` event, durable
//! before the call returns), first with every write in its own transaction, then with
//! concurrent writes folded into shared transactions. The HTTP layer and the scheduler are left
//! out, so the numbers isolate what group commit changes.

use reef_core::job_id::JobId;
use reef_core::model::Job;
use reef_core::time::Timestamp;
use reef_store::JobStore;
use std::collections::BTreeMap;
use std::time::Instant;

fn job(id: JobId) -> Job {
    Job::queued(id, "bench", BTreeMap::new(), Timestamp::now())
}

fn run(group_commit: bool, threads: usize, per_thread: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = JobStore::open_with(&dir.path().join("reef.redb"), group_commit).expect("open");
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let store = store.clone();
            s.spawn(move || {
                for i in 0..per_thread {
                    let id = JobId::parse(&format!("01JBENCH{t:04}{i:014}")).expect("a ULID");
                    store.insert_job(&job(id), None).expect("insert");
                }
            });
        }
    });
    (threads * per_thread) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let threads: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(8);
    let per_thread: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(250);
    println!("{threads} threads x {per_thread} durable submits each");
    println!("{:<28} {:>12}", "mode", "submits/s");
    for (label, group) in [("one commit per job", false), ("group commit", true)] {
        let rate = run(group, threads, per_thread);
        println!("{label:<28} {rate:>12.0}");
    }
    let single = run(true, 1, per_thread * 2);
    println!("{:<28} {single:>12.0}", "group commit, 1 thread");
}

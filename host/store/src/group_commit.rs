//! `GroupCommitter`: one writer thread that folds concurrent writes into shared transactions.
//!
//! Each caller hands over its operation and blocks until the transaction holding it is durable,
//! so "answered only after commit" still holds per caller, while a burst of submits or
//! transitions pays for one fsync instead of one each. If a shared transaction fails, every
//! caller in it gets the error and nothing of it was written.

use super::DbHandle;
use super::{JobEvent, KeyedInsert, StoreError, apply};
use reef_core::model::Job;
use std::sync::Arc;
use std::sync::mpsc;

/// Operations per shared transaction, at most.
const MAX_BATCH: usize = 256;

/// A write to perform.
pub(crate) enum Op {
    /// Job changes.
    Changes(Vec<super::Change>),
    /// A new job under an idempotency key.
    Keyed {
        job: Box<Job>,
        admitted_by: Option<String>,
        key: String,
        body_sha256: String,
        ttl: std::time::Duration,
    },
}

type Outcome = Result<(Option<KeyedInsert>, Vec<JobEvent>), StoreError>;

struct Request {
    op: Op,
    reply: mpsc::SyncSender<Outcome>,
}

/// Handle on the writer thread. Dropping it ends the thread and waits for it, so the database
/// file is closed when the store is.
pub(crate) struct GroupCommitter {
    tx: Option<mpsc::Sender<Request>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for GroupCommitter {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl GroupCommitter {
    /// Starts the writer thread.
    pub(crate) fn start(
        db: Arc<DbHandle>,
        events: tokio::sync::broadcast::Sender<JobEvent>,
    ) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel::<Request>();
        let thread = std::thread::Builder::new()
            .name("reef-commit".into())
            .spawn(move || run(&db, &events, &rx))
            .map_err(|e| StoreError::Batch(format!("starting the commit thread: {e}")))?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Runs `op` in the next shared transaction; returns once it is durable.
    pub(crate) fn submit(&self, op: Op) -> Outcome {
        let (reply, answer) = mpsc::sync_channel(1);
        self.tx
            .as_ref()
            .ok_or_else(|| StoreError::Batch("the commit thread has stopped".into()))?
            .send(Request { op, reply })
            .map_err(|_| StoreError::Batch("the commit thread has stopped".into()))?;
        answer
            .recv()
            .map_err(|_| StoreError::Batch("the commit thread has stopped".into()))?
    }
}

fn run(
    db: &DbHandle,
    events: &tokio::sync::broadcast::Sender<JobEvent>,
    rx: &mpsc::Receiver<Request>,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let result = db.with(|db| commit(db, &mut batch));
        match result {
            Err(error) => {
                let io = error.is_io();
                let text = error.to_string();
                for request in batch {
                    let shared = if io {
                        StoreError::Io(text.clone())
                    } else {
                        StoreError::Batch(text.clone())
                    };
                    let _ = request.reply.send(Err(shared));
                }
            }
            Ok(outcomes) => {
                for (request, outcome) in batch.into_iter().zip(outcomes) {
                    if let Ok((_, written)) = &outcome {
                        for event in written {
                            let _ = events.send(event.clone());
                        }
                    }
                    let _ = request.reply.send(outcome);
                }
            }
        }
    }
}

/// Applies every request in one transaction. Returns each request's outcome, or the error that
/// rolled the whole transaction back.
fn commit(db: &redb::Database, batch: &mut [Request]) -> Result<Vec<Outcome>, StoreError> {
    let txn = db.begin_write().map_err(|e| StoreError::Db(e.into()))?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for request in batch.iter_mut() {
        let op = std::mem::replace(&mut request.op, Op::Changes(Vec::new()));
        outcomes.push(Ok(apply(&txn, op)?));
    }
    txn.commit().map_err(|e| StoreError::Db(e.into()))?;
    Ok(outcomes)
}

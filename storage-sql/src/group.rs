//! Group commit: single commits that arrive while others are under way are joined into one
//! batch transaction, each caller still getting its own result. What a commit costs the
//! database is mostly per statement and per transaction (planning, executor start-up, the
//! round trips, the WAL flush), not per row, so sixteen tasks committing at once cost a few
//! statements instead of sixteen times a few. A lone commit goes out at once; batches form
//! only while every lane is busy.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ticketcore::store::WriteStats;
use ticketcore::{Change, Receipt, StoreError, StoreResult};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::SqlStore;

/// The most changes joined into one transaction.
const MAX_GROUP: usize = 256;

type Reply = oneshot::Sender<StoreResult<Receipt>>;

/// The queue of single commits waiting to be joined.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    queue: mpsc::UnboundedSender<(Change, Reply)>,
    /// Transactions run and commits joined into them so far.
    counts: Arc<(AtomicU64, AtomicU64)>,
}

impl Group {
    /// Starts the task that joins commits for `store` (a clone without a group of its own),
    /// running at most `lanes` transactions at once. The task ends with the last clone of
    /// the group.
    pub(crate) fn start(store: SqlStore, lanes: usize) -> Group {
        let (queue, mut waiting) = mpsc::unbounded_channel::<(Change, Reply)>();
        let lanes = Arc::new(Semaphore::new(lanes.max(1)));
        let counts = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
        let counted = counts.clone();
        tokio::spawn(async move {
            while let Some(first) = waiting.recv().await {
                // Wait for a free lane first: whatever queues up meanwhile joins this group.
                let Ok(lane) = lanes.clone().acquire_owned().await else {
                    return;
                };
                let mut jobs = vec![first];
                while jobs.len() < MAX_GROUP {
                    match waiting.try_recv() {
                        Ok(job) => jobs.push(job),
                        Err(_) => break,
                    }
                }
                counted.0.fetch_add(1, Ordering::Relaxed);
                counted.1.fetch_add(jobs.len() as u64, Ordering::Relaxed);
                let store = store.clone();
                tokio::spawn(async move {
                    let (changes, replies): (Vec<Change>, Vec<Reply>) = jobs.into_iter().unzip();
                    match store.commit_changes(changes).await {
                        Ok(results) => {
                            for (result, reply) in results.into_iter().zip(replies) {
                                let _ = reply.send(result);
                            }
                        }
                        Err(e) => {
                            for reply in replies {
                                let _ = reply.send(Err(e.clone()));
                            }
                        }
                    }
                    drop(lane);
                });
            }
        });
        Group { queue, counts }
    }

    /// Transactions run and commits joined into them so far.
    pub(crate) fn stats(&self) -> WriteStats {
        let (transactions, jobs) = &*self.counts;
        WriteStats {
            transactions: transactions.load(Ordering::Relaxed),
            jobs: jobs.load(Ordering::Relaxed),
        }
    }

    /// Commits `change` with whatever else is waiting; `Err(change)` when the joining task
    /// is gone (its runtime shut down), so the caller commits it alone.
    pub(crate) async fn commit(&self, change: Change) -> Result<StoreResult<Receipt>, Change> {
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError((change, _))) = self.queue.send((change, reply)) {
            return Err(change);
        }
        Ok(answer.await.unwrap_or_else(|_| {
            Err(StoreError::Backend(
                "the commit was abandoned: its runtime shut down".into(),
            ))
        }))
    }
}

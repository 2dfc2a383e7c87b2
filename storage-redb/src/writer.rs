//! The writer thread: group commit. It takes every job that has queued up, runs them in one
//! redb write transaction and commits once (one fsync), then answers each caller with its own
//! result. A job whose checks fail writes nothing and fails alone; a redb failure fails the
//! group, and nothing of it is committed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use redb::Database;
use ticketcore::acl::CustomerUser;
use ticketcore::{StoreError, StoreResult};
use tokio::sync::oneshot;

use crate::snapshot::Snapshots;
use crate::tables::{Encoded, Writes, backend};

/// Most jobs merged into one transaction: bounds latency and transaction size.
const MAX_GROUP: usize = 4096;

/// A write for the writer thread.
pub enum Job {
    /// Commit changes, each independently.
    Commit {
        /// The changes, encoded.
        changes: Vec<Encoded>,
        /// Where the changes go back.
        reply: oneshot::Sender<StoreResult<Vec<Committed>>>,
    },
    /// Advance a counter.
    Counter {
        /// Counter name.
        key: String,
        /// How many values to reserve.
        count: u64,
        /// First reserved value.
        reply: oneshot::Sender<StoreResult<u64>>,
    },
    /// Replace the configuration (compare-and-swap).
    SaveConfig {
        /// The document.
        json: Vec<u8>,
        /// Expected current version.
        expected: u64,
        /// New version.
        reply: oneshot::Sender<StoreResult<u64>>,
    },
    /// Upsert a customer.
    PutCustomer {
        /// The customer.
        customer: CustomerUser,
        /// Done.
        reply: oneshot::Sender<StoreResult<()>>,
    },
    /// Save a consumer cursor.
    SaveCursor {
        /// Consumer name.
        consumer: String,
        /// Position.
        position: u64,
        /// Done.
        reply: oneshot::Sender<StoreResult<()>>,
    },
}

/// A change handed back, with the sequence number after which its events were stored, or
/// why it was refused.
pub type Committed = (Encoded, StoreResult<u64>);

/// A job's answer, held until the transaction's fate is known.
type Answer = Box<dyn FnOnce(Option<StoreError>) + Send>;

fn answer<T: Send + 'static>(
    reply: oneshot::Sender<StoreResult<T>>,
    result: StoreResult<T>,
) -> Answer {
    Box::new(move |failed| {
        // A caller that stopped waiting is no error of ours.
        let _ = reply.send(match failed {
            Some(e) => Err(e),
            None => result,
        });
    })
}

impl Job {
    /// Runs the job inside the group's transaction.
    fn run(self, w: &mut Writes<'_>) -> Result<Answer, redb::Error> {
        Ok(match self {
            Job::Commit { changes, reply } => {
                let mut results = Vec::with_capacity(changes.len());
                for change in changes {
                    let result = w.commit(&change)?;
                    results.push((change, result));
                }
                answer(reply, Ok(results))
            }
            Job::Counter { key, count, reply } => answer(reply, w.next_counter(&key, count)?),
            Job::SaveConfig {
                json,
                expected,
                reply,
            } => answer(reply, w.save_config(&json, expected)?),
            Job::PutCustomer { customer, reply } => answer(reply, w.put_customer(&customer)?),
            Job::SaveCursor {
                consumer,
                position,
                reply,
            } => answer(reply, w.save_cursor(&consumer, position)?),
        })
    }

    /// Answers without running (the group failed before this job ran).
    fn fail(self, error: StoreError) {
        let e = Some(error);
        match self {
            Job::Commit { reply, .. } => answer(reply, Ok(Vec::new()))(e),
            Job::Counter { reply, .. } => answer(reply, Ok(0))(e),
            Job::SaveConfig { reply, .. } => answer(reply, Ok(0))(e),
            Job::PutCustomer { reply, .. } => answer(reply, Ok(()))(e),
            Job::SaveCursor { reply, .. } => answer(reply, Ok(()))(e),
        }
    }
}

/// What the writer has done: how many jobs in how many transactions.
#[derive(Debug, Default)]
pub struct Counts {
    transactions: AtomicU64,
    jobs: AtomicU64,
}

/// The handle to the writer thread. When the last clone is dropped the queue closes, the
/// thread finishes what it has and ends, and the drop waits for it: the database file is
/// released when the store is gone, so it can be opened again at once.
#[derive(Debug, Clone)]
pub struct Writer {
    inner: Arc<Thread>,
}

#[derive(Debug)]
struct Thread {
    jobs: Option<mpsc::Sender<Job>>,
    handle: Option<std::thread::JoinHandle<()>>,
    counts: Arc<Counts>,
}

impl Drop for Thread {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl Writer {
    /// Starts the writer thread for `db`, which tells `snapshots` of every commit.
    pub fn start(db: Arc<Database>, snapshots: Arc<Snapshots>) -> Writer {
        let (jobs, queue) = mpsc::channel::<Job>();
        let counts = Arc::new(Counts::default());
        let counted = counts.clone();
        let handle = std::thread::Builder::new()
            .name("ticketcore-redb-writer".into())
            .spawn(move || {
                while let Ok(first) = queue.recv() {
                    let mut group = vec![first];
                    while group.len() < MAX_GROUP {
                        match queue.try_recv() {
                            Ok(job) => group.push(job),
                            Err(_) => break,
                        }
                    }
                    counted
                        .jobs
                        .fetch_add(group.len() as u64, Ordering::Relaxed);
                    counted.transactions.fetch_add(1, Ordering::Relaxed);
                    run_group(&db, &snapshots, group);
                }
            })
            .map_err(|e| tracing::error!("cannot start the redb writer thread: {e}"))
            .ok();
        Writer {
            inner: Arc::new(Thread {
                jobs: Some(jobs),
                handle,
                counts,
            }),
        }
    }

    /// (write transactions, jobs) so far.
    pub fn counts(&self) -> (u64, u64) {
        let counts = &self.inner.counts;
        (
            counts.transactions.load(Ordering::Relaxed),
            counts.jobs.load(Ordering::Relaxed),
        )
    }

    /// Queues a job.
    pub fn send(&self, job: Job) -> StoreResult<()> {
        self.inner
            .jobs
            .as_ref()
            .ok_or_else(|| StoreError::Backend("the redb writer stopped".into()))?
            .send(job)
            .map_err(|_| StoreError::Backend("the redb writer stopped".into()))
    }
}

fn run_group(db: &Database, snapshots: &Snapshots, group: Vec<Job>) {
    let txn = match db.begin_write() {
        Ok(txn) => txn,
        Err(e) => {
            let error = backend(e);
            group.into_iter().for_each(|j| j.fail(error.clone()));
            return;
        }
    };
    let mut answers = Vec::with_capacity(group.len());
    let mut jobs = group.into_iter();
    let broken: Option<redb::Error> = match Writes::open(&txn) {
        Ok(mut w) => jobs.by_ref().find_map(|job| match job.run(&mut w) {
            Ok(answer) => {
                answers.push(answer);
                None
            }
            Err(e) => Some(e),
        }),
        Err(e) => Some(e),
    };
    let failure = match broken {
        None => {
            let failure = txn.commit().err().map(backend);
            // Before anyone hears of the commit, so that their next read shows it.
            snapshots.committed();
            failure
        }
        Some(e) => {
            let _ = txn.abort();
            Some(backend(e))
        }
    };
    if let Some(e) = &failure {
        tracing::error!("redb group commit failed: {e}");
        jobs.for_each(|job| job.fail(e.clone()));
    }
    for answer in answers {
        answer(failure.clone());
    }
}

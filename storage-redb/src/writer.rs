//! The writer thread: group commit. It takes every job that has queued up, runs them in one
//! redb write transaction and commits once (one fsync), then answers each caller with its own
//! result. A job whose checks fail writes nothing and fails alone; a redb failure fails the
//! group, and nothing of it is committed.
//!
//! The fsync itself runs behind the writer (see `sync_behind`): a syncer thread waits for it,
//! publishes the group's snapshot to readers and only then answers the group's callers, while
//! the writer thread already works on the next group. Jobs that queue up meanwhile join that
//! next group, whose commit could not write before the sync anyway.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use redb::Database;
use ticketcore::acl::CustomerUser;
use ticketcore::{StoreError, StoreResult};
use tokio::sync::oneshot;

use crate::snapshot::Snapshots;
use crate::sync_behind::Disk;
use crate::tables::{Encoded, Writes, backend};

/// Most jobs merged into one transaction: bounds latency and transaction size.
const MAX_GROUP: usize = 4096;

/// How often a writer waiting for more jobs looks whether the last sync is done.
const POLL: std::time::Duration = std::time::Duration::from_micros(200);

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
        doc: Vec<u8>,
        /// Expected current version.
        expected: u64,
        /// New version.
        reply: oneshot::Sender<StoreResult<u64>>,
    },
    /// Store an account document (compare-and-swap).
    SaveAccount {
        /// Its login.
        login: String,
        /// The document.
        doc: Vec<u8>,
        /// Expected current version.
        expected: u64,
        /// New version.
        reply: oneshot::Sender<StoreResult<u64>>,
    },
    /// Store a new version of an FAQ entry (compare-and-swap).
    SaveFaq {
        /// The entry.
        entry: Box<ticketcore::FaqEntry>,
        /// Its new attachments' bytes.
        blobs: Vec<ticketcore::article::Blob>,
        /// Done.
        reply: oneshot::Sender<StoreResult<()>>,
    },
    /// Upsert a customer.
    PutCustomer {
        /// The customer.
        customer: CustomerUser,
        /// Done.
        reply: oneshot::Sender<StoreResult<()>>,
    },
    /// Save a consumer's document in the meta table.
    SaveMeta {
        /// Its key.
        key: String,
        /// The document.
        state: Vec<u8>,
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
                doc,
                expected,
                reply,
            } => answer(reply, w.save_config(&doc, expected)?),
            Job::SaveAccount {
                login,
                doc,
                expected,
                reply,
            } => answer(reply, w.save_account(&login, &doc, expected)?),
            Job::SaveFaq {
                entry,
                blobs,
                reply,
            } => answer(reply, w.save_faq(&entry, &blobs)?),
            Job::PutCustomer { customer, reply } => answer(reply, w.put_customer(&customer)?),
            Job::SaveCursor {
                consumer,
                position,
                reply,
            } => answer(reply, w.save_cursor(&consumer, position)?),
            Job::SaveMeta { key, state, reply } => answer(reply, w.save_meta(&key, &state)?),
        })
    }

    /// Answers without running (the group failed before this job ran).
    fn fail(self, error: StoreError) {
        let e = Some(error);
        match self {
            Job::Commit { reply, .. } => answer(reply, Ok(Vec::new()))(e),
            Job::Counter { reply, .. } => answer(reply, Ok(0))(e),
            Job::SaveConfig { reply, .. } => answer(reply, Ok(0))(e),
            Job::SaveAccount { reply, .. } => answer(reply, Ok(0))(e),
            Job::SaveFaq { reply, .. } => answer(reply, Ok(()))(e),
            Job::PutCustomer { reply, .. } => answer(reply, Ok(()))(e),
            Job::SaveCursor { reply, .. } => answer(reply, Ok(()))(e),
            Job::SaveMeta { reply, .. } => answer(reply, Ok(()))(e),
        }
    }
}

/// What the writer has done: how many jobs in how many transactions.
#[derive(Debug, Default)]
pub struct Counts {
    transactions: AtomicU64,
    jobs: AtomicU64,
}

/// A committed group on its way to the syncer thread.
struct Synced {
    /// Its number: 1, 2, ... in commit order.
    commit: u64,
    answers: Vec<Answer>,
    failure: Option<StoreError>,
    /// What readers see once it is on disk (none where they take fresh snapshots).
    snapshot: Option<StoreResult<Arc<crate::tables::Reader>>>,
}

/// The handle to the writer and syncer threads. When the last clone is dropped the queue
/// closes, the threads finish what they have and end, and the drop waits for them: the
/// database file is released when the store is gone, so it can be opened again at once.
#[derive(Debug, Clone)]
pub struct Writer {
    inner: Arc<Thread>,
}

#[derive(Debug)]
struct Thread {
    jobs: Option<mpsc::Sender<Job>>,
    /// The writer thread, then the syncer thread, which ends after it.
    handles: Vec<std::thread::JoinHandle<()>>,
    counts: Arc<Counts>,
}

impl Drop for Thread {
    fn drop(&mut self) {
        self.jobs.take();
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
    }
}

impl Writer {
    /// Starts the writer and syncer threads for `db`, whose syncs `disk` defers (`None` where
    /// redb syncs itself); the syncer publishes each durable group to `snapshots`.
    pub fn start(db: Arc<Database>, disk: Option<Arc<Disk>>, snapshots: Arc<Snapshots>) -> Writer {
        let (jobs, queue) = mpsc::channel::<Job>();
        let (to_sync, synced) = mpsc::channel::<Synced>();
        let counts = Arc::new(Counts::default());
        let counted = counts.clone();
        // The last group on disk.
        let durable = Arc::new(AtomicU64::new(0));
        let syncing = durable.clone();
        let taking = snapshots.clone();
        let writer = std::thread::Builder::new()
            .name("ticketcore-redb-writer".into())
            .spawn(move || {
                // The last group handed to the syncer.
                let mut last = 0;
                while let Ok(first) = queue.recv() {
                    let mut taken = 1;
                    let more = || {
                        while taken < MAX_GROUP {
                            let job = match queue.try_recv() {
                                Ok(job) => Some(job),
                                Err(_) if durable.load(Ordering::Acquire) >= last => None,
                                Err(_) => match queue.recv_timeout(POLL) {
                                    Ok(job) => Some(job),
                                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                                    Err(mpsc::RecvTimeoutError::Disconnected) => None,
                                },
                            };
                            taken += usize::from(job.is_some());
                            return job;
                        }
                        None
                    };
                    let done = run_group(&db, &taking, last + 1, first, more);
                    counted.jobs.fetch_add(taken as u64, Ordering::Relaxed);
                    counted.transactions.fetch_add(1, Ordering::Relaxed);
                    if let Some(done) = done {
                        last = done.commit;
                        // The syncer ends only after us.
                        let _ = to_sync.send(done);
                    }
                }
            });
        let syncer = std::thread::Builder::new()
            .name("ticketcore-redb-syncer".into())
            .spawn(move || {
                while let Ok(first) = synced.recv() {
                    let mut done = vec![first];
                    done.extend(synced.try_iter());
                    let unsynced = disk.as_ref().and_then(|d| d.settle().err()).map(|e| {
                        tracing::error!("redb sync failed: {e}");
                        backend(format!("the commit may be lost: {e}"))
                    });
                    for group in done {
                        let snapshot = match (group.snapshot, &unsynced) {
                            (Some(Ok(reader)), None) => {
                                snapshots.publish(reader);
                                None
                            }
                            (Some(Err(e)), None) => {
                                tracing::error!("redb: no snapshot after a commit: {e}");
                                Some(backend(format!(
                                    "committed, but the commit cannot be read back: {e}"
                                )))
                            }
                            _ => None,
                        };
                        syncing.store(group.commit, Ordering::Release);
                        let failure = group.failure.or_else(|| unsynced.clone()).or(snapshot);
                        for answer in group.answers {
                            answer(failure.clone());
                        }
                    }
                }
            });
        let handles = [writer, syncer]
            .into_iter()
            .filter_map(|started| {
                started
                    .map_err(|e| tracing::error!("cannot start a redb writer thread: {e}"))
                    .ok()
            })
            .collect();
        Writer {
            inner: Arc::new(Thread {
                jobs: Some(jobs),
                handles,
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

/// Runs `first` and whatever `more` hands over in one transaction and commits it as group
/// number `commit`; the answers wait for the sync. A redb failure fails the jobs run so far;
/// those still queued get the next transaction. `None` when no transaction began.
fn run_group(
    db: &Database,
    snapshots: &Snapshots,
    commit: u64,
    first: Job,
    mut more: impl FnMut() -> Option<Job>,
) -> Option<Synced> {
    let txn = match db.begin_write() {
        Ok(txn) => txn,
        Err(e) => {
            first.fail(backend(e));
            return None;
        }
    };
    let mut answers = Vec::new();
    let broken: Option<redb::Error> = match Writes::open(&txn) {
        Ok(mut w) => std::iter::once(first)
            .chain(std::iter::from_fn(&mut more))
            .find_map(|job| match job.run(&mut w) {
                Ok(answer) => {
                    answers.push(answer);
                    None
                }
                Err(e) => Some(e),
            })
            .or_else(|| w.finish().err()),
        Err(e) => {
            first.fail(backend(&e));
            Some(e)
        }
    };
    let (failure, snapshot) = match broken {
        None => match txn.commit() {
            // Before the next commit: the snapshot shows exactly this group and those before.
            Ok(()) => (None, snapshots.after_commit(db)),
            Err(e) => (Some(backend(e)), None),
        },
        Some(e) => {
            let _ = txn.abort();
            (Some(backend(e)), None)
        }
    };
    if let Some(e) = &failure {
        tracing::error!("redb group commit failed: {e}");
    }
    Some(Synced {
        commit,
        answers,
        failure,
        snapshot,
    })
}

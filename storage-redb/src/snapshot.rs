//! The read snapshot that reads share until the next commit. Beginning a read transaction
//! and opening its tables cost more than most point lookups themselves (about a tenth of
//! the mail pipeline's time on its one async thread), and between two commits every new
//! snapshot would show the same state anyway.
//!
//! Only this process's writer changes the file (a shared file is never cached: see
//! [`Snapshots::new`]), and it calls [`Snapshots::committed`] after each commit and before
//! answering anyone, so a caller whose commit has returned never reads a snapshot from
//! before it. Dropping the cached snapshot at each commit also keeps it from holding on to
//! pages that later commits free.

use std::sync::{Arc, Mutex};

use redb::{Database, ReadableDatabase};
use ticketcore::StoreResult;

use crate::tables::{Reader, backend};

/// The current snapshot, if one was taken since the last commit.
#[derive(Default)]
struct Current {
    /// Commits so far: a snapshot begun before a commit must not be kept after it.
    commits: u64,
    reader: Option<Arc<Reader>>,
}

/// Hands out read snapshots, the same one until the next commit.
pub struct Snapshots {
    db: Arc<Database>,
    /// `None` when other processes write to the file too: their commits would not clear it.
    current: Option<Mutex<Current>>,
}

impl std::fmt::Debug for Snapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshots")
            .field("shared", &self.current.is_none())
            .finish()
    }
}

impl Snapshots {
    /// Snapshots of `db`; with `shared`, a fresh one for every read.
    pub fn new(db: Arc<Database>, shared: bool) -> Snapshots {
        Snapshots {
            db,
            current: (!shared).then(|| Mutex::new(Current::default())),
        }
    }

    /// A snapshot showing every commit that has returned to its caller.
    pub fn reader(&self) -> StoreResult<Arc<Reader>> {
        let Some(current) = &self.current else {
            return self.begin();
        };
        let commits = {
            let current = current.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(reader) = &current.reader {
                return Ok(reader.clone());
            }
            current.commits
        };
        let reader = self.begin()?;
        self.keep(current, commits, &reader);
        Ok(reader)
    }

    /// Keeps `reader`, begun when `commits` commits had been made, for the reads after it,
    /// unless a commit has happened since: then it is good for the read it was begun for,
    /// which started before that commit returned, but not for later ones.
    fn keep(&self, current: &Mutex<Current>, commits: u64, reader: &Arc<Reader>) {
        let mut current = current.lock().unwrap_or_else(|e| e.into_inner());
        if current.commits == commits {
            current.reader = Some(reader.clone());
        }
    }

    /// Called by the writer after each commit, before it answers: later reads need a new
    /// snapshot.
    pub fn committed(&self) {
        if let Some(current) = &self.current {
            let old = {
                let mut current = current.lock().unwrap_or_else(|e| e.into_inner());
                current.commits += 1;
                current.reader.take()
            };
            // Ends the read transaction (unless a reader still uses it) outside the lock.
            drop(old);
        }
    }

    fn begin(&self) -> StoreResult<Arc<Reader>> {
        let txn = self.db.begin_read().map_err(backend)?;
        Ok(Arc::new(Reader::new(txn)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn database() -> Arc<Database> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .unwrap();
        Arc::new(db)
    }

    #[test]
    fn reads_share_a_snapshot_until_the_next_commit() {
        let snapshots = Snapshots::new(database(), false);
        let first = snapshots.reader().unwrap();
        assert!(Arc::ptr_eq(&first, &snapshots.reader().unwrap()));
        snapshots.committed();
        let after = snapshots.reader().unwrap();
        assert!(
            !Arc::ptr_eq(&first, &after),
            "a read after a commit saw the old snapshot"
        );
        assert!(Arc::ptr_eq(&after, &snapshots.reader().unwrap()));
    }

    #[test]
    fn a_snapshot_begun_before_a_commit_is_not_kept_after_it() {
        let snapshots = Snapshots::new(database(), false);
        let current = snapshots.current.as_ref().unwrap();
        // A read begins its snapshot; the writer commits before the read can keep it.
        let early = snapshots.begin().unwrap();
        snapshots.committed();
        snapshots.keep(current, 0, &early);
        assert!(!Arc::ptr_eq(&early, &snapshots.reader().unwrap()));
        // One begun after the last commit is kept.
        snapshots.committed();
        let fresh = snapshots.begin().unwrap();
        snapshots.keep(current, 2, &fresh);
        assert!(Arc::ptr_eq(&fresh, &snapshots.reader().unwrap()));
    }

    #[test]
    fn a_shared_file_gets_a_fresh_snapshot_for_every_read() {
        let snapshots = Snapshots::new(database(), true);
        let first = snapshots.reader().unwrap();
        assert!(!Arc::ptr_eq(&first, &snapshots.reader().unwrap()));
    }
}

//! The read snapshot reads are served from. A file this process alone writes has its syncs
//! run behind the writer (`sync_behind`), so redb's newest commit may not be on disk yet:
//! reads get the snapshot the writer took right after its last commit that *is* on disk,
//! published by the syncer before it answers that commit's callers. So nobody reads what a
//! crash could still take back, a caller whose commit has returned reads it back, and no
//! read waits for the disk.
//!
//! Sharing one snapshot between commits also saves beginning a read transaction and opening
//! its tables for every lookup, which had been about a tenth of the mail pipeline's time on
//! its one async thread. A file shared with other processes gets a fresh snapshot for every
//! read: their commits are durable when they land, and ours would not publish theirs.

use std::sync::{Arc, Mutex};

use redb::{Database, ReadableDatabase};
use ticketcore::StoreResult;

use crate::tables::{Reader, backend};

/// Hands out read snapshots.
pub enum Snapshots {
    /// The snapshot of the last durable commit (the file is ours alone).
    Published(Mutex<Arc<Reader>>),
    /// A new snapshot for every read (other processes write too).
    Fresh(Arc<Database>),
}

impl std::fmt::Debug for Snapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Snapshots::Published(_) => "Snapshots::Published",
            Snapshots::Fresh(_) => "Snapshots::Fresh",
        })
    }
}

impl Snapshots {
    /// Published snapshots of `db`, starting with its state now, which must be durable.
    pub fn published(db: &Database) -> StoreResult<Snapshots> {
        Ok(Snapshots::Published(Mutex::new(begin(db)?)))
    }

    /// A fresh snapshot of `db` for every read.
    pub fn fresh(db: Arc<Database>) -> Snapshots {
        Snapshots::Fresh(db)
    }

    /// A snapshot showing every commit that has returned to its caller, and none that is not
    /// on disk.
    pub fn reader(&self) -> StoreResult<Arc<Reader>> {
        match self {
            Snapshots::Published(current) => {
                Ok(current.lock().unwrap_or_else(|e| e.into_inner()).clone())
            }
            Snapshots::Fresh(db) => begin(db),
        }
    }

    /// Taken by the writer right after a commit, before the next one: what readers will see
    /// once the commit is on disk. `None` where reads take fresh snapshots.
    pub fn after_commit(&self, db: &Database) -> Option<StoreResult<Arc<Reader>>> {
        match self {
            Snapshots::Published(_) => Some(begin(db)),
            Snapshots::Fresh(_) => None,
        }
    }

    /// Called by the syncer once the commit `reader` was taken after is on disk, before it
    /// answers that commit's callers.
    pub fn publish(&self, reader: Arc<Reader>) {
        if let Snapshots::Published(current) = self {
            let old = std::mem::replace(
                &mut *current.lock().unwrap_or_else(|e| e.into_inner()),
                reader,
            );
            // Ends the old read transaction (unless a read still uses it) outside the lock.
            drop(old);
        }
    }
}

fn begin(db: &Database) -> StoreResult<Arc<Reader>> {
    let txn = db.begin_read().map_err(backend)?;
    Ok(Arc::new(Reader::new(txn)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use redb::TableDefinition;

    const T: TableDefinition<u64, u64> = TableDefinition::new("t");

    fn database() -> Database {
        Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .unwrap()
    }

    fn commit(db: &Database, value: u64) {
        let txn = db.begin_write().unwrap();
        txn.open_table(T).unwrap().insert(0, value).unwrap();
        txn.commit().unwrap();
    }

    fn value(reader: &Reader) -> Option<u64> {
        reader.probe(T)
    }

    #[test]
    fn reads_see_a_commit_only_once_it_is_published() {
        let db = database();
        commit(&db, 1);
        let snapshots = Snapshots::published(&db).unwrap();
        let first = snapshots.reader().unwrap();
        assert!(Arc::ptr_eq(&first, &snapshots.reader().unwrap()));
        commit(&db, 2);
        let after = snapshots.after_commit(&db).unwrap().unwrap();
        commit(&db, 3);
        assert_eq!(
            value(&snapshots.reader().unwrap()),
            Some(1),
            "not on disk yet"
        );
        snapshots.publish(after);
        assert_eq!(value(&snapshots.reader().unwrap()), Some(2));
    }

    #[test]
    fn a_shared_file_gets_a_fresh_snapshot_for_every_read() {
        let db = Arc::new(database());
        commit(&db, 1);
        let snapshots = Snapshots::fresh(db.clone());
        assert!(snapshots.after_commit(&db).is_none());
        let first = snapshots.reader().unwrap();
        commit(&db, 2);
        assert_eq!(value(&first), Some(1));
        assert_eq!(value(&snapshots.reader().unwrap()), Some(2));
    }
}

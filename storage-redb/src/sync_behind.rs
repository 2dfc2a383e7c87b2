//! Syncing behind the writer. redb ends every durable commit by asking the storage backend to
//! sync and waiting for the disk, so the writer thread, whose time bounds every store's write
//! throughput, sat idle for about half of each group commit. [`SyncBehind`] wraps the backend
//! so that redb's sync is only *requested*, and the next change to the file (the next
//! commit's pages) first waits until it is done. What reaches the disk, in what order, stays
//! exactly as before: a commit's writes, its sync, the next commit's writes. But the next
//! group's checks and B-tree work run while the disk syncs the last group.
//!
//! redb now takes a commit for durable before the disk has it, so nobody else may: the
//! writer's syncer thread answers a group's callers only after [`Disk::settle`], and readers
//! see the group only then (`snapshot::Snapshots::publish`).

use std::io;
use std::ops::Bound;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use redb::{BackendError, StorageBackend};

/// The wrapped backend and the syncs requested of it.
#[derive(Debug)]
pub struct Disk {
    backend: Box<dyn StorageBackend>,
    syncs: Mutex<Syncs>,
    synced: Condvar,
}

#[derive(Debug, Default)]
struct Syncs {
    /// Syncs redb asked for.
    requested: u64,
    /// Of these, how many are done (each sync covers all requested before it began).
    done: u64,
    /// A sync under way, by whichever thread got there first.
    running: bool,
    /// A failed sync: what the disk has is unknown, so every later change fails too.
    failed: Option<(io::ErrorKind, String)>,
}

impl Disk {
    /// Wraps `backend`.
    pub fn new(backend: impl StorageBackend) -> Arc<Disk> {
        Arc::new(Disk {
            backend: Box::new(backend),
            syncs: Mutex::new(Syncs::default()),
            synced: Condvar::new(),
        })
    }

    fn syncs(&self) -> MutexGuard<'_, Syncs> {
        self.syncs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Returns once every sync requested so far is on disk, doing it here unless another
    /// thread already is.
    pub fn settle(&self) -> io::Result<()> {
        let mut syncs = self.syncs();
        loop {
            if let Some((kind, why)) = &syncs.failed {
                return Err(io::Error::new(
                    *kind,
                    format!("an earlier sync failed: {why}"),
                ));
            }
            if syncs.done == syncs.requested {
                return Ok(());
            }
            if syncs.running {
                syncs = self
                    .synced
                    .wait(syncs)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            syncs.running = true;
            let covers = syncs.requested;
            drop(syncs);
            let result = self.backend.sync_data();
            syncs = self.syncs();
            syncs.running = false;
            match result {
                Ok(()) => syncs.done = covers,
                Err(e) => syncs.failed = Some((e.kind(), e.to_string())),
            }
            self.synced.notify_all();
        }
    }
}

/// The backend redb is given: see the module documentation.
#[derive(Debug)]
pub struct SyncBehind(pub Arc<Disk>);

impl StorageBackend for SyncBehind {
    fn len(&self) -> io::Result<u64> {
        self.0.backend.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        self.0.backend.read(offset, out)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.settle()?;
        self.0.backend.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut syncs = self.0.syncs();
        if let Some((kind, why)) = &syncs.failed {
            return Err(io::Error::new(
                *kind,
                format!("an earlier sync failed: {why}"),
            ));
        }
        syncs.requested += 1;
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.0.settle()?;
        self.0.backend.write(offset, data)
    }

    fn close(&self) -> io::Result<()> {
        let settled = self.0.settle();
        self.0.backend.close()?;
        settled
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.0.backend.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.0.backend.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.0.backend.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.0.backend.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.0.backend.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.0.backend.query_lock_range(start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::backends::InMemoryBackend;

    /// Records what reaches the disk, in order.
    #[derive(Debug, Default)]
    struct Recording {
        memory: InMemoryBackend,
        log: Mutex<Vec<&'static str>>,
        fail_sync: std::sync::atomic::AtomicBool,
    }

    #[derive(Debug)]
    struct Shared(Arc<Recording>);

    impl StorageBackend for Shared {
        fn len(&self) -> io::Result<u64> {
            self.0.memory.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
            self.0.memory.read(offset, out)
        }
        fn set_len(&self, len: u64) -> io::Result<()> {
            self.0
                .log
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push("set_len");
            self.0.memory.set_len(len)
        }
        fn sync_data(&self) -> io::Result<()> {
            if self.0.fail_sync.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(io::Error::other("disk on fire"));
            }
            self.0
                .log
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push("sync");
            Ok(())
        }
        fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
            self.0
                .log
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push("write");
            self.0.memory.write(offset, data)
        }
    }

    fn log(r: &Recording) -> Vec<&'static str> {
        r.log.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    #[test]
    fn a_requested_sync_happens_before_the_next_write_and_only_once() -> io::Result<()> {
        let recording = Arc::new(Recording::default());
        let disk = Disk::new(Shared(recording.clone()));
        let backend = SyncBehind(disk.clone());
        backend.set_len(8)?;
        backend.write(0, b"first")?;
        backend.sync_data()?;
        backend.sync_data()?;
        assert_eq!(
            log(&recording),
            ["set_len", "write"],
            "the sync is only requested"
        );
        backend.write(0, b"second")?;
        assert_eq!(log(&recording), ["set_len", "write", "sync", "write"]);
        disk.settle()?;
        assert_eq!(log(&recording).len(), 4, "nothing was left to sync");
        backend.sync_data()?;
        disk.settle()?;
        backend.close()?;
        assert_eq!(
            log(&recording),
            ["set_len", "write", "sync", "write", "sync"]
        );
        Ok(())
    }

    #[test]
    fn a_failed_sync_fails_every_later_change() -> io::Result<()> {
        let recording = Arc::new(Recording::default());
        let disk = Disk::new(Shared(recording.clone()));
        let backend = SyncBehind(disk.clone());
        backend.set_len(8)?;
        backend.sync_data()?;
        recording
            .fail_sync
            .store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(disk.settle().is_err());
        recording
            .fail_sync
            .store(false, std::sync::atomic::Ordering::SeqCst);
        assert!(backend.write(0, b"x").is_err());
        assert!(backend.sync_data().is_err());
        assert!(disk.settle().is_err());
        assert_eq!(log(&recording), ["set_len"]);
        Ok(())
    }
}

//! RedbStore passes the ticketcore conformance suite (in-memory redb, and a real file).
#![allow(clippy::expect_used)]

use std::sync::Arc;

use ticketcore::Store;
use ticketcore::testkit::Backend;
use ticketcore_redb::RedbStore;

/// A fresh in-memory redb database per test case.
struct InMemoryRedb;

impl Backend for InMemoryRedb {
    async fn store() -> Arc<dyn Store> {
        Arc::new(RedbStore::in_memory().expect("in-memory redb"))
    }
}

ticketcore::conformance_suite!(InMemoryRedb);

mod on_disk {
    use super::*;

    /// A fresh database file per test case (the directory lives as long as the process).
    struct FileRedb;

    impl Backend for FileRedb {
        async fn store() -> Arc<dyn Store> {
            let dir = tempfile::tempdir().expect("temp dir").keep();
            Arc::new(RedbStore::open(dir.join("desk.redb")).expect("redb file"))
        }
    }

    ticketcore::conformance_suite!(FileRedb);
}

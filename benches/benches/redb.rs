//! RedbStore benchmarks (see `ticketcore_benches::backend`): every commit durable (fsync);
//! the queue view and tick at 10k, 100k and 1M tickets.
#![allow(clippy::expect_used, clippy::print_stderr)]

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use ticketcore::Store;
use ticketcore_benches::backend::{self, Subject};
use ticketcore_redb::RedbStore;

struct Redb;

impl Subject for Redb {
    type Guard = (tempfile::TempDir, RedbStore);

    fn name(&self) -> String {
        "redb".into()
    }

    fn store(&self, _rt: &tokio::runtime::Runtime) -> (Arc<dyn Store>, Self::Guard) {
        let dir = tempfile::tempdir().expect("temp dir");
        let redb = RedbStore::open(dir.path().join("bench.redb")).expect("open");
        (Arc::new(redb.clone()), (dir, redb))
    }

    fn report(&self, (_, redb): &Self::Guard) {
        let stats = redb.write_stats();
        eprintln!(
            "group commit so far: {} jobs in {} transactions",
            stats.jobs, stats.transactions
        );
    }
}

fn all(c: &mut Criterion) {
    backend::create(c, &Redb);
    backend::ticket_ops(c, &Redb);
    backend::queue_view(c, &Redb, &[10_000, 100_000, 1_000_000]);
}

criterion_group!(benches, all);
criterion_main!(benches);

//! SqlStore benchmarks on SQLite (always) and PostgreSQL (when
//! `TICKETCORE_BENCH_POSTGRES_URL` or `TICKETCORE_TEST_POSTGRES_URL` is set; each run uses a
//! fresh schema): the same operations as the redb benchmarks.
#![allow(clippy::expect_used)]

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use ticketcore::Store;
use ticketcore_benches::backend::{self, Subject};
use ticketcore_sql::SqlStore;

struct Sqlite;

impl Subject for Sqlite {
    type Guard = tempfile::TempDir;

    fn name(&self) -> String {
        "sqlite".into()
    }

    fn store(&self, rt: &tokio::runtime::Runtime) -> (Arc<dyn Store>, Self::Guard) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("bench.db").display());
        let store = rt.block_on(SqlStore::connect(&url)).expect("sqlite");
        (Arc::new(store), dir)
    }
}

struct Postgres(String);

impl Subject for Postgres {
    type Guard = SqlStore;

    fn name(&self) -> String {
        "postgres".into()
    }

    fn store(&self, rt: &tokio::runtime::Runtime) -> (Arc<dyn Store>, Self::Guard) {
        let store = rt.block_on(backend::postgres_store(&self.0));
        (Arc::new(store.clone()), store)
    }

    fn report(&self, store: &SqlStore) {
        let stats = store.write_stats();
        eprintln!(
            "group commit so far: {} commits in {} transactions",
            stats.jobs, stats.transactions
        );
    }
}

fn all(c: &mut Criterion) {
    backend::create(c, &Sqlite);
    backend::ticket_ops(c, &Sqlite);
    backend::queue_view(c, &Sqlite, &[10_000, 100_000]);
    let url = std::env::var("TICKETCORE_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("TICKETCORE_TEST_POSTGRES_URL"));
    if let Ok(url) = url {
        let pg = Postgres(url);
        backend::create(c, &pg);
        backend::ticket_ops(c, &pg);
        backend::queue_view(c, &pg, &[10_000, 100_000]);
    }
}

criterion_group!(benches, all);
criterion_main!(benches);

//! Statistics at scale: `Desk::stats` for the last 365 days over 1,000,000 tickets (set
//! `TICKETCORE_BENCH_STATS_TICKETS` for another size), as the system and as an agent who
//! reads one of the two groups. It reads the tallies the commits kept, so its cost follows
//! days and queues, not tickets. redb always, PostgreSQL when `TICKETCORE_TEST_POSTGRES_URL`
//! is set.
#![allow(clippy::expect_used, clippy::print_stderr)]

use std::sync::Arc;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ticketcore::stats::Period;
use ticketcore::{Actor, Desk, Store};
use ticketcore_benches::backend::{postgres_store, runtime};
use ticketcore_benches::{desk, populate};
use ticketcore_redb::RedbStore;

fn tickets() -> usize {
    std::env::var("TICKETCORE_BENCH_STATS_TICKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn bench(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    name: &str,
    desk: Arc<Desk>,
    count: usize,
) {
    let began = Instant::now();
    rt.block_on(populate(&desk, count));
    eprintln!(
        "stats: {name}: {count} tickets stored in {:.1?}",
        began.elapsed()
    );
    let period = Period::last_days(desk.now().date_naive(), 365);
    let all = rt
        .block_on(desk.stats(&Actor::System, period))
        .expect("stats");
    assert_eq!(all.tickets as usize, count);
    eprintln!(
        "stats: {name}: {} tickets, {} created and {} closed in the period",
        all.tickets, all.created, all.closed
    );
    let mut group = c.benchmark_group("stats");
    group.sample_size(10);
    for who in ["system", "bernd"] {
        let actor = match who {
            "system" => Actor::System,
            login => Actor::agent(login),
        };
        group.bench_with_input(BenchmarkId::new(name, who), &actor, |b, actor| {
            b.iter(|| rt.block_on(desk.stats(actor, period)).expect("stats"));
        });
    }
    group.finish();
}

fn stats(c: &mut Criterion) {
    let rt = runtime();
    let count = tickets();
    let dir = tempfile::tempdir().expect("tempdir");
    let redb: Arc<dyn Store> =
        Arc::new(RedbStore::open(dir.path().join("stats.redb")).expect("redb"));
    let redb = Arc::new(rt.block_on(desk(redb)));
    bench(c, &rt, "redb", redb, count);
    if let Ok(url) = std::env::var("TICKETCORE_TEST_POSTGRES_URL") {
        let pg: Arc<dyn Store> = Arc::new(rt.block_on(postgres_store(&url)));
        let pg = Arc::new(rt.block_on(desk(pg)));
        bench(c, &rt, "postgres", pg, count);
    }
}

criterion_group!(benches, stats);
criterion_main!(benches);

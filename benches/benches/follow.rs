//! How long after a commit returns its event reaches the followers (`Desk::follow`), with 1
//! and 1,000 of them, each following as an agent (so each checks its permission). Each
//! iteration commits one ticket and waits until every follower has its first event; criterion
//! times that wait (the slowest follower), and the latencies of every follower are printed as
//! percentiles. Memory and redb in one process; PostgreSQL from one store to another (two
//! connection pools, as two processes have: the followers hear of the commit only through
//! LISTEN/NOTIFY) when `TICKETCORE_TEST_POSTGRES_URL` is set.
#![allow(clippy::expect_used, clippy::print_stderr)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use futures_util::StreamExt;
use ticketcore::testkit::{desk_with, fixture_config};
use ticketcore::{Actor, Channel, Desk, MemoryStore, Message, NewTicket, Store};
use ticketcore_redb::RedbStore;
use tokio::sync::mpsc;

/// Starts `n` followers of `desk` as anna; each reports (seq, when it got it).
fn followers(
    rt: &tokio::runtime::Runtime,
    desk: &Arc<Desk>,
    n: usize,
) -> mpsc::UnboundedReceiver<(u64, Instant)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let after = rt
        .block_on(desk.events_since(&Actor::System, 0, usize::MAX))
        .expect("log")
        .cursor;
    for _ in 0..n {
        let tx = tx.clone();
        let stream = desk.follow(Actor::agent("anna"), after);
        rt.spawn(async move {
            let mut stream = Box::pin(stream);
            while let Some(Ok(event)) = stream.next().await {
                if tx.send((event.seq, Instant::now())).is_err() {
                    return;
                }
            }
        });
    }
    rx
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

/// Benchmarks one backend: `writer` commits, `reader` is followed (the same desk in one
/// process; two desks on one database for another process).
fn latency(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    name: &str,
    (writer, reader): (Arc<Desk>, Arc<Desk>),
    n: usize,
) {
    let mut rx = followers(rt, &reader, n);
    let all = Mutex::new(Vec::new());
    let mut group = c.benchmark_group("follow");
    group.sample_size(30);
    group.bench_function(BenchmarkId::new(name, n), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let input = NewTicket::new("Support", "ping", Channel::Phone, Message::text("x"));
                let committed = rt
                    .block_on(writer.create_ticket(&Actor::agent("anna"), input))
                    .expect("create");
                let returned = Instant::now();
                let first = committed.events.first().expect("events").seq;
                let mut waiting = n;
                let mut slowest = Duration::ZERO;
                let mut latencies = Vec::with_capacity(n);
                while waiting > 0 {
                    let (seq, at) = rx.blocking_recv().expect("followers run");
                    if seq == first {
                        waiting -= 1;
                        let latency = at.saturating_duration_since(returned);
                        slowest = slowest.max(latency);
                        latencies.push(latency);
                    }
                }
                all.lock().expect("samples").extend(latencies);
                total += slowest;
            }
            total
        })
    });
    group.finish();
    let mut samples = all.into_inner().expect("samples");
    samples.sort();
    eprintln!(
        "follow/{name}/{n}: {} deliveries, p50 {:?}, p99 {:?}, max {:?}",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples.last().copied().unwrap_or_default()
    );
}

/// A configured desk on `store`, writing and followed in one process.
fn one(rt: &tokio::runtime::Runtime, store: Arc<dyn Store>) -> (Arc<Desk>, Arc<Desk>) {
    let desk = Arc::new(rt.block_on(desk_with(store, fixture_config(), 1)).0);
    (desk.clone(), desk)
}

fn all(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    for n in [1, 1000] {
        latency(c, &rt, "memory", one(&rt, Arc::new(MemoryStore::new())), n);
        let file = dir.path().join(format!("follow-{n}.redb"));
        let redb = RedbStore::open(file).expect("redb");
        latency(c, &rt, "redb", one(&rt, Arc::new(redb)), n);
    }
    let Ok(url) = std::env::var("TICKETCORE_TEST_POSTGRES_URL") else {
        eprintln!("SKIPPED follow on PostgreSQL: TICKETCORE_TEST_POSTGRES_URL is not set");
        return;
    };
    for n in [1, 1000] {
        let (a, b) = rt.block_on(async {
            let schema = ticketcore_benches::backend::postgres_schema(&url).await;
            let a = ticketcore_sql::SqlStore::connect(&schema).await.expect("a");
            let b = ticketcore_sql::SqlStore::connect(&schema).await.expect("b");
            (a, b)
        });
        let (writer, _) = one(&rt, Arc::new(a));
        let reader = Arc::new(Desk::new(Arc::new(b)));
        latency(c, &rt, "postgres-across", (writer, reader), n);
    }
}

criterion_group!(benches, all);
criterion_main!(benches);

//! RedbStore benchmarks: durable creation (one at a time, 16 concurrent tasks with group
//! commit, batches of 1,000), lock+unlock, adding an article, lookups, the queue view at
//! 10k/100k/1M tickets and `tick` with 1,000 due. Every commit is durable (fsync).
#![allow(clippy::expect_used, clippy::print_stderr)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ticketcore::rules::{self, Ctx, Fresh};
use ticketcore::{Actor, ArticleId, Desk, Message, Store, TicketId, TicketNumber, TicketQuery};
use ticketcore_benches::{desk, populate, populated_message_id, request, working_view};
use ticketcore_redb::RedbStore;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A desk on a fresh redb file holding `size` tickets.
fn redb_desk(rt: &tokio::runtime::Runtime, size: usize) -> (Desk, tempfile::TempDir) {
    let (desk, dir, _) = redb_desk_and_store(rt, size);
    (desk, dir)
}

/// The same, keeping the RedbStore handle for its statistics.
fn redb_desk_and_store(
    rt: &tokio::runtime::Runtime,
    size: usize,
) -> (Desk, tempfile::TempDir, RedbStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let redb = RedbStore::open(dir.path().join("bench.redb")).expect("open");
    let store: Arc<dyn Store> = Arc::new(redb.clone());
    let desk = rt.block_on(async {
        let desk = desk(store).await;
        populate(&desk, size).await;
        desk
    });
    (desk, dir, redb)
}

fn create(c: &mut Criterion) {
    let rt = runtime();
    let (desk, _dir, redb) = redb_desk_and_store(&rt, 0);
    let desk = Arc::new(desk);
    let n = Arc::new(AtomicUsize::new(0));
    let mut group = c.benchmark_group("redb/create_ticket");
    group.sample_size(20);
    group.throughput(Throughput::Elements(1));
    group.bench_function("one_at_a_time", |b| {
        b.to_async(&rt).iter(|| async {
            let i = n.fetch_add(1, Ordering::Relaxed);
            black_box(
                desk.create_ticket(&Actor::System, request(i))
                    .await
                    .expect("create"),
            )
        })
    });
    group.throughput(Throughput::Elements(1600));
    group.bench_function("16_tasks_x100", |b| {
        b.to_async(&rt).iter(|| async {
            let mut tasks = Vec::new();
            for _ in 0..16 {
                let (desk, n) = (desk.clone(), n.clone());
                tasks.push(tokio::spawn(async move {
                    for _ in 0..100 {
                        let i = n.fetch_add(1, Ordering::Relaxed);
                        desk.create_ticket(&Actor::System, request(i))
                            .await
                            .expect("create");
                    }
                }));
            }
            for t in tasks {
                t.await.expect("task");
            }
        })
    });
    let stats = redb.write_stats();
    eprintln!(
        "group commit so far: {} jobs in {} transactions",
        stats.jobs, stats.transactions
    );
    group.throughput(Throughput::Elements(1000));
    group.bench_function("batch_of_1000", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let desk = desk.clone();
            let n = n.clone();
            async move {
                let config = desk.config().await.expect("config");
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let now = desk.now();
                    let ctx = Ctx {
                        config: &config,
                        actor: &Actor::System,
                        customer: None,
                        now,
                    };
                    let batch: Vec<_> = (0..1000)
                        .map(|_| {
                            let i = n.fetch_add(1, Ordering::Relaxed) as u128;
                            let fresh = Fresh {
                                ticket: TicketId(uuid::Uuid::from_u128((7 << 120) + i)),
                                number: config.numbers.format(
                                    now.date_naive(),
                                    50_000_000 + i as u64,
                                    0,
                                ),
                                article: ArticleId(uuid::Uuid::from_u128((9 << 120) + i)),
                            };
                            rules::create(ctx, &request(i as usize), &fresh).expect("create")
                        })
                        .collect();
                    let start = Instant::now();
                    let results = desk.store().commit_batch(batch).await.expect("batch");
                    total += start.elapsed();
                    assert!(results.iter().all(Result::is_ok));
                }
                total
            }
        })
    });
    group.finish();
}

fn ticket_ops(c: &mut Criterion) {
    let rt = runtime();
    let (desk, _dir) = redb_desk(&rt, 10_000);
    let anna = Actor::agent("anna");
    let ticket = rt
        .block_on(desk.create_ticket(&Actor::System, request(1)))
        .expect("create")
        .ticket;
    let mut group = c.benchmark_group("redb/ticket");
    group.sample_size(20);
    group.bench_function("lock_and_unlock", |b| {
        b.to_async(&rt).iter(|| async {
            desk.lock(&anna, ticket.id).await.expect("lock");
            desk.unlock(&anna, ticket.id).await.expect("unlock");
        })
    });
    group.bench_function("add_article", |b| {
        b.to_async(&rt).iter(|| async {
            desk.note(&anna, ticket.id, Message::text("still on it"), false, &[])
                .await
                .expect("note")
        })
    });
    let number: TicketNumber = ticket.number.clone();
    group.bench_function("lookup_by_number", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                desk.store()
                    .ticket_by_number(&number)
                    .await
                    .expect("lookup"),
            )
        })
    });
    let message_id = populated_message_id(4_321);
    group.bench_function("lookup_by_message_id", |b| {
        b.to_async(&rt).iter(|| async {
            let found = desk
                .store()
                .article_by_message_id(&message_id)
                .await
                .expect("lookup");
            assert!(found.is_some());
            black_box(found)
        })
    });
    group.finish();
}

/// Puts `ids` into "pending auto close+" due at `due`, in one batch (untimed set-up).
async fn rearm(desk: &Desk, ids: &[TicketId], due: chrono::DateTime<chrono::Utc>) {
    let config = desk.config().await.expect("config");
    let ctx = Ctx {
        config: &config,
        actor: &Actor::System,
        customer: None,
        now: desk.now(),
    };
    let op = ticketcore::Op::SetState {
        state: "pending auto close+".into(),
        pending_until: Some(due),
    };
    let mut batch = Vec::with_capacity(ids.len());
    for id in ids {
        let ticket = desk
            .store()
            .ticket(*id)
            .await
            .expect("read")
            .expect("exists");
        batch.push(rules::apply(ctx, &ticket, &op).expect("re-arm"));
    }
    for result in desk.store().commit_batch(batch).await.expect("batch") {
        result.expect("commit");
    }
}

fn queue_view(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("redb/queue_view_first_page");
    group.sample_size(30);
    let sizes: Vec<usize> = std::env::var("TICKETCORE_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000, 1_000_000]);
    for size in sizes {
        let (desk, _dir) = redb_desk(&rt, size);
        let anna = Actor::agent("anna");
        group.sample_size(30);
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            b.to_async(&rt).iter(|| async {
                let page = desk
                    .queue_view(&anna, working_view(25))
                    .await
                    .expect("view");
                assert_eq!(page.tickets.len(), 25);
                black_box(page)
            })
        });
        group.sample_size(10);
        group.bench_with_input(BenchmarkId::new("tick_1000_due", size), &size, |b, _| {
            let ids: Vec<_> = rt
                .block_on(desk.queue_view(
                    &Actor::System,
                    TicketQuery {
                        limit: 1000,
                        ..TicketQuery::default()
                    },
                ))
                .expect("view")
                .tickets
                .into_iter()
                .map(|t| t.id)
                .collect();
            let due = desk.now();
            b.to_async(&rt).iter_custom(|iters| {
                let (desk, ids) = (&desk, &ids);
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        rearm(desk, ids, due).await;
                        let start = Instant::now();
                        let report = desk.tick(due).await.expect("tick");
                        total += start.elapsed();
                        assert_eq!(report.closed, 1000);
                    }
                    total
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, create, ticket_ops, queue_view);
criterion_main!(benches);

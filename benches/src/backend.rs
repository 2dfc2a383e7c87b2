//! Benchmarks every backend runs alike: the same operations on the same data, so figures
//! compare across stores.
#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use ticketcore::rules::{self, Ctx, Fresh};
use ticketcore::{Actor, ArticleId, Desk, Message, Store, TicketId, TicketNumber, TicketQuery};

use crate::{commit_all, desk, populate, populated_message_id, request, working_view};

/// A SqlStore in a fresh schema of the PostgreSQL database at `url`. Schemas of earlier
/// benchmark runs are dropped first (benchmarks never run side by side), so runs do not pile
/// up data.
pub async fn postgres_store(url: &str) -> ticketcore_sql::SqlStore {
    ticketcore_sql::SqlStore::connect(&postgres_schema(url).await)
        .await
        .expect("postgres")
}

/// The URL of a fresh schema of the PostgreSQL database at `url` (see [`postgres_store`]), for
/// benchmarks that connect to it more than once, as several processes would.
pub async fn postgres_schema(url: &str) -> String {
    use sqlx::{AssertSqlSafe, Connection, Row};
    static RUN: std::sync::Once = std::sync::Once::new();
    let mut admin = sqlx::PgConnection::connect(url).await.expect("connect");
    let mut first = false;
    RUN.call_once(|| first = true);
    if first {
        let old: Vec<String> = sqlx::query(
            "SELECT CAST(schema_name AS TEXT) FROM information_schema.schemata \
             WHERE schema_name LIKE 'tc\\_bench\\_%'",
        )
        .fetch_all(&mut admin)
        .await
        .expect("list schemas")
        .iter()
        .map(|r| r.get(0))
        .collect();
        for schema in old {
            sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&mut admin)
                .await
                .expect("drop old schema");
        }
    }
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let schema = format!(
        "tc_bench_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .expect("schema");
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

/// The runtime benchmarks run on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A backend under benchmark: makes a fresh, empty store (and whatever must live as long as
/// it, e.g. a temporary directory).
pub trait Subject {
    /// What keeps the store's resources alive.
    type Guard;
    /// The name used in benchmark ids, e.g. "redb".
    fn name(&self) -> String;
    /// A fresh, empty store.
    fn store(&self, rt: &tokio::runtime::Runtime) -> (Arc<dyn Store>, Self::Guard);
    /// Called after the concurrent-creation benchmark, e.g. to print group-commit statistics.
    fn report(&self, _guard: &Self::Guard) {}
}

/// A desk on a fresh store holding `size` tickets.
fn subject_desk<S: Subject>(s: &S, rt: &tokio::runtime::Runtime, size: usize) -> (Desk, S::Guard) {
    let (store, guard) = s.store(rt);
    let desk = rt.block_on(async {
        let desk = desk(store).await;
        populate(&desk, size).await;
        desk
    });
    (desk, guard)
}

/// Creation: one at a time, from 16 tasks, in batches of 1,000.
pub fn create<S: Subject>(c: &mut Criterion, s: &S) {
    let rt = runtime();
    let (desk, guard) = subject_desk(s, &rt, 0);
    let desk = Arc::new(desk);
    let n = Arc::new(AtomicUsize::new(0));
    let mut group = c.benchmark_group(format!("{}/create_ticket", s.name()));
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
    s.report(&guard);
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
                    let results = desk
                        .store_unchecked()
                        .commit_batch(batch)
                        .await
                        .expect("batch");
                    total += start.elapsed();
                    assert!(results.iter().all(Result::is_ok));
                }
                total
            }
        })
    });
    group.finish();
}

/// Lock+unlock, adding an article, lookups by number and Message-ID.
pub fn ticket_ops<S: Subject>(c: &mut Criterion, s: &S) {
    let rt = runtime();
    let (desk, _guard) = subject_desk(s, &rt, 10_000);
    let anna = Actor::agent("anna");
    let ticket = rt
        .block_on(desk.create_ticket(&Actor::System, request(1)))
        .expect("create")
        .ticket;
    let mut group = c.benchmark_group(format!("{}/ticket", s.name()));
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
                desk.store_unchecked()
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
                .store_unchecked()
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
            .store_unchecked()
            .ticket(*id)
            .await
            .expect("read")
            .expect("exists");
        batch.push(rules::apply(ctx, &ticket, &op).expect("re-arm"));
    }
    commit_all(desk, batch).await;
}

/// The queue view's first page and `tick` with 1,000 due, at each size.
pub fn queue_view<S: Subject>(c: &mut Criterion, s: &S, default_sizes: &[usize]) {
    let rt = runtime();
    let mut group = c.benchmark_group(format!("{}/queue_view_first_page", s.name()));
    group.sample_size(30);
    let sizes: Vec<usize> = std::env::var("TICKETCORE_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| default_sizes.to_vec());
    for size in sizes {
        let (desk, _guard) = subject_desk(s, &rt, size);
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

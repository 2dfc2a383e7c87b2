//! Desk benchmarks on MemoryStore: ticket creation and the queue view's first page at 10k and
#![allow(clippy::expect_used)]
//! 100k tickets (index-backed: the page should cost about the same at both sizes).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ticketcore::{Actor, MemoryStore, Store, TicketQuery};
use ticketcore_benches::{desk, populate, request, working_view};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn create(c: &mut Criterion) {
    let rt = runtime();
    let desk = rt.block_on(desk(Arc::new(MemoryStore::new()) as Arc<dyn Store>));
    let n = AtomicUsize::new(0);
    c.bench_function("memory/create_ticket", |b| {
        b.to_async(&rt).iter(|| async {
            let i = n.fetch_add(1, Ordering::Relaxed);
            black_box(
                desk.create_ticket(&Actor::System, request(i))
                    .await
                    .expect("create"),
            )
        })
    });
}

fn queue_view(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("memory/queue_view_first_page");
    for size in [10_000usize, 100_000] {
        let desk = rt.block_on(async {
            let desk = desk(Arc::new(MemoryStore::new())).await;
            populate(&desk, size).await;
            desk
        });
        for agent in ["anna", "bernd"] {
            let actor = Actor::agent(agent);
            group.bench_with_input(BenchmarkId::new(agent, size), &size, |b, _| {
                b.to_async(&rt).iter(|| async {
                    let page = desk
                        .queue_view(&actor, working_view(25))
                        .await
                        .expect("view");
                    assert_eq!(page.tickets.len(), 25);
                    black_box(page)
                })
            });
        }
    }
    group.finish();
}

/// `tick` with 1,000 due tickets among 100k and among 1M: the cost should follow what is due,
/// not how many tickets exist. Each iteration re-arms the same 1,000 tickets (pending
/// auto-close at `due`, untimed) and times one `tick(due)` that closes them all.
fn tick(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("memory/tick_1000_due");
    group.sample_size(10);
    for size in [100_000usize, 1_000_000] {
        let (desk, ids) = rt.block_on(async {
            let desk = desk(Arc::new(MemoryStore::new())).await;
            populate(&desk, size).await;
            let query = TicketQuery {
                limit: 1000,
                ..TicketQuery::default()
            };
            let ids: Vec<_> = desk
                .queue_view(&Actor::System, query)
                .await
                .expect("view")
                .tickets
                .into_iter()
                .map(|t| t.id)
                .collect();
            (desk, ids)
        });
        assert_eq!(ids.len(), 1000);
        let due = desk.now();
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            b.to_async(&rt).iter_custom(|iters| {
                let (desk, ids) = (&desk, &ids);
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        for id in ids {
                            desk.set_state(&Actor::System, *id, "pending auto close+", Some(due))
                                .await
                                .expect("re-arm");
                        }
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

criterion_group!(benches, create, queue_view, tick);
criterion_main!(benches);

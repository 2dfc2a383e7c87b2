//! Mail throughput: parsing alone, and the whole PostMaster pipeline (parse, duplicate check,
//! filters, follow-up detection, routing, ticket creation or follow-up, auto-response) into
//! MemoryStore, redb and (with a URL) PostgreSQL, on a generated corpus of new requests and
//! follow-ups, delivered as an mbox import is: many messages in flight, so their commits
//! share transactions. With `TICKETCORE_BENCH_MAIL_SEARCHABLE` set, each run also says how
//! long the first search after the import took (redb's index trails a burst of commits).
#![allow(clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ticketcore::analyzer::term;
use ticketcore::{Config, Desk, MemoryStore, SearchQuery, Store};
use ticketcore_benches::mail::{CONFIG, corpus};
use ticketcore_mail::{Inbound, Postmaster, source};
use ticketcore_redb::RedbStore;

/// Messages per run: a small import, whose start (the first number block, the first group
/// commit) weighs in its figure.
const MESSAGES: usize = 2_000;

/// Messages per run of the long import, which shows the rate a large mbox keeps up
/// (`TICKETCORE_BENCH_MAIL_LONG` sets another number).
const LONG: usize = 10_000;

fn long() -> usize {
    std::env::var("TICKETCORE_BENCH_MAIL_LONG")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(LONG)
}

/// The allocator `ticketctl` ships with, as this measures its import; the other benchmarks
/// measure the library as any application embeds it, on the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Delivers a run the way `ticketctl ingest --mbox` does: the library's bulk delivery with
/// its default number of messages in flight.
async fn deliver_all(postmaster: Arc<Postmaster>, messages: Vec<Vec<u8>>) {
    let named = messages
        .into_iter()
        .enumerate()
        .map(|(n, raw)| (n.to_string(), raw));
    source::deliver_all(postmaster, named, source::IN_FLIGHT, |h| {
        if let Err(e) = &h.result {
            panic!("message {} not delivered: {e}", h.source);
        }
    })
    .await
    .expect("delivered");
}

/// Times the pipeline on fresh desks from `store`, one run of `n` messages per iteration, on
/// the single-threaded runtime `ticketctl` runs an import on. On 2 cores that is also the
/// faster one: the store's own threads (redb's writer) get the other core, where two async
/// workers spent their time handing tasks to each other (7.2k instead of 8.1k messages/s
/// into redb, measured alternately).
fn pipeline(
    c: &mut Criterion,
    name: &str,
    n: usize,
    mut store: impl FnMut(&tokio::runtime::Runtime) -> Arc<dyn Store>,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("mail/pipeline");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(n as u64));
    let mut run = 0;
    let searchable = std::env::var_os("TICKETCORE_BENCH_MAIL_SEARCHABLE").is_some();
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                run += 1;
                let messages = corpus(run, n);
                let store = store(&rt);
                let postmaster = rt.block_on(async {
                    let desk = Desk::new(store.clone());
                    desk.configure(Config::from_toml(CONFIG).expect("config"))
                        .await
                        .expect("configure");
                    Arc::new(Postmaster::new(Arc::new(desk)))
                });
                let start = Instant::now();
                rt.block_on(deliver_all(postmaster, messages));
                total += start.elapsed();
                if searchable {
                    // Outside the measured time: how long until the import is searchable
                    // (the first search catches the index up to the log's end).
                    let start = Instant::now();
                    let query = SearchQuery {
                        all: vec![vec![term("request").expect("a term")]],
                        internal: true,
                        limit: 20,
                        ..SearchQuery::default()
                    };
                    let page = rt.block_on(store.search(&query)).expect("search");
                    eprintln!(
                        "{name}: first search after the import {:.0?} ({} hits on its page)",
                        start.elapsed(),
                        page.hits.len()
                    );
                }
            }
            total
        })
    });
    group.finish();
}

fn all(c: &mut Criterion) {
    let messages = corpus(0, MESSAGES);
    let mut group = c.benchmark_group("mail/parse");
    group.throughput(Throughput::Elements(MESSAGES as u64));
    group.bench_function("inbound", |b| {
        b.iter(|| {
            for raw in &messages {
                std::hint::black_box(Inbound::parse(raw, u64::MAX).expect("parse"));
            }
        })
    });
    group.finish();

    pipeline(c, "memory", MESSAGES, |_| Arc::new(MemoryStore::new()));
    let dir = tempfile::tempdir().expect("temp dir");
    let mut file = 0;
    let mut redb = || {
        // The last run's file goes (its store is closed by now): a hundred runs would leave
        // gigabytes behind.
        let _ = std::fs::remove_file(dir.path().join(format!("mail{file}.redb")));
        file += 1;
        let store = RedbStore::open(dir.path().join(format!("mail{file}.redb"))).expect("open");
        Arc::new(store) as Arc<dyn Store>
    };
    pipeline(c, "redb", MESSAGES, |_| redb());
    let long = long();
    pipeline(c, &format!("redb-{}k", long / 1000), long, |_| redb());
    let url = std::env::var("TICKETCORE_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("TICKETCORE_TEST_POSTGRES_URL"));
    if let Ok(url) = url {
        pipeline(c, "postgres", MESSAGES, |rt| {
            Arc::new(rt.block_on(ticketcore_benches::backend::postgres_store(&url)))
        });
    }
}

criterion_group!(benches, all);
criterion_main!(benches);

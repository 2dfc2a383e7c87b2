//! Full-text search at scale: the first page of a one-word and of a two-word query, as an
//! agent who reads every queue, over 100,000 tickets with 1,000,000 articles (set
//! `TICKETCORE_BENCH_SEARCH_TICKETS` for another size; ten articles per ticket). The text is
//! drawn from a vocabulary of a few thousand words with a skewed frequency, plus words of
//! known frequency: `drucker` in 2% of the tickets, `defekt` with it in 1%, `hallo` in all.
//! redb (with its tantivy index) always, PostgreSQL when `TICKETCORE_TEST_POSTGRES_URL` is set.
#![allow(clippy::expect_used, clippy::print_stderr)]

use std::sync::Arc;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ticketcore::rules::{self, Ctx, Fresh};
use ticketcore::{Actor, ArticleId, Channel, Desk, Message, NewTicket, Paging, Store, TicketId};
use ticketcore_benches::backend::{postgres_store, runtime};
use ticketcore_benches::{commit_all, desk};
use ticketcore_redb::RedbStore;

const QUEUES: [&str; 4] = ["Support", "Support::Level2", "Finance", "Sales"];
const ARTICLES: usize = 10;
const VOCABULARY: u64 = 4000;

fn tickets() -> usize {
    std::env::var("TICKETCORE_BENCH_SEARCH_TICKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// A deterministic stream of pseudo-random numbers (xorshift).
struct Dice(u64);

impl Dice {
    fn roll(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A text of `words` words, frequent words more often (a square skews toward 0).
    fn text(&mut self, words: usize) -> String {
        let mut out = String::with_capacity(words * 8);
        for _ in 0..words {
            let r = self.roll() % VOCABULARY;
            let w = r * r / VOCABULARY;
            out.push_str(&format!("wort{w} "));
        }
        out
    }
}

fn uuid(n: u128) -> uuid::Uuid {
    uuid::Builder::from_u128(n << 80 | n).into_uuid()
}

/// Fills `desk` with the corpus, a thousand tickets per batch commit.
async fn corpus(desk: &Desk, count: usize) {
    let config = desk.config().await.expect("config");
    let start = desk.now() - chrono::Duration::days(365);
    let day = desk.now().date_naive();
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let began = Instant::now();
    for chunk in (0..count).collect::<Vec<_>>().chunks(1000) {
        let mut batch = Vec::with_capacity(chunk.len());
        for &i in chunk {
            let now = start + chrono::Duration::seconds(i as i64 * 30);
            let ctx = Ctx {
                config: &config,
                actor: &Actor::System,
                customer: None,
                now,
            };
            let mut first = format!("Hallo, {}", dice.text(30));
            if i % 50 == 0 {
                first.push_str(" unser Drucker");
            }
            if i % 100 == 0 {
                first.push_str(" ist defekt");
            }
            let mut input = NewTicket::new(
                QUEUES[i % QUEUES.len()],
                format!("Anfrage {} {}", i, dice.text(4)),
                Channel::Email,
                Message::text(first),
            );
            input.customer = Some(format!("customer{}", i % 5000));
            let fresh = Fresh {
                ticket: TicketId(uuid(i as u128 + 1)),
                number: config.numbers.format(day, 1_000_000 + i as u64, 0),
                article: ArticleId(uuid((1u128 << 64) + (i * ARTICLES) as u128)),
            };
            let mut change = rules::create(ctx, &input, &fresh).expect("create");
            let write = &mut change.writes[0];
            let template = write.articles[0].clone();
            for k in 1..ARTICLES {
                let mut article = template.clone();
                article.id = ArticleId(uuid((1u128 << 64) + (i * ARTICLES + k) as u128));
                article.message_id = None;
                article.visible_to_customer = k % 3 != 0;
                article.body = dice.text(40);
                write.articles.push(article);
            }
            batch.push(change);
        }
        commit_all(desk, batch).await;
    }
    eprintln!(
        "search: {count} tickets with {} articles stored in {:.1?}",
        count * ARTICLES,
        began.elapsed()
    );
}

fn bench(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, desk: Arc<Desk>) {
    let anna = Actor::agent("anna");
    let began = Instant::now();
    let first = rt
        .block_on(desk.search(&anna, "drucker", Paging::default()))
        .expect("search");
    eprintln!(
        "search: {name}: first search (catching the index up) took {:.1?}, {} hits on its page",
        began.elapsed(),
        first.hits.len()
    );
    let mut group = c.benchmark_group("search");
    group.sample_size(20);
    for query in ["drucker", "drucker defekt", "hallo"] {
        group.bench_with_input(BenchmarkId::new(name, query), &query, |b, query| {
            b.iter(|| {
                let page = rt
                    .block_on(desk.search(&anna, query, Paging::default()))
                    .expect("search");
                assert!(!page.hits.is_empty());
            });
        });
    }
    group.finish();
}

fn search(c: &mut Criterion) {
    let rt = runtime();
    let count = tickets();
    let dir = tempfile::tempdir().expect("tempdir");
    let redb: Arc<dyn Store> =
        Arc::new(RedbStore::open(dir.path().join("search.redb")).expect("redb"));
    let redb = Arc::new(rt.block_on(desk(redb)));
    rt.block_on(corpus(&redb, count));
    bench(c, &rt, "redb", redb);
    if let Ok(url) = std::env::var("TICKETCORE_TEST_POSTGRES_URL") {
        let pg: Arc<dyn Store> = Arc::new(rt.block_on(postgres_store(&url)));
        let pg = Arc::new(rt.block_on(desk(pg)));
        rt.block_on(corpus(&pg, count));
        bench(c, &rt, "postgres", pg);
    }
}

criterion_group!(benches, search);
criterion_main!(benches);

//! Shared set-up for the criterion benchmarks in `benches/`: a desk configuration and a
//! realistic ticket population (most tickets closed, a working set new or open), so every
//! backend is measured on the same data.

#![allow(clippy::expect_used)] // benchmark set-up: failing loudly is the point

pub mod backend;
pub mod mail;

use std::collections::BTreeSet;
use std::sync::Arc;

use ticketcore::rules::{self, Ctx, Fresh};
use ticketcore::{
    Actor, ArticleId, Channel, Config, Desk, Message, NewTicket, Priority, StateType, Store,
    TicketId, TicketQuery,
};

/// The benchmark desk: four queues in two groups, agents with full and partial views.
pub const CONFIG: &str = r#"
[numbers]
generator = "DateChecksum"
block = 64

[[groups]]
name = "support"
[[groups]]
name = "finance"

[[queues]]
name = "Support"
group = "support"
[[queues]]
name = "Support::Level2"
group = "support"
[[queues]]
name = "Finance"
group = "finance"
[[queues]]
name = "Sales"
group = "support"

[[agents]]
login = "anna"
groups = { support = ["rw"], finance = ["rw"] }
[[agents]]
login = "bernd"
groups = { finance = ["rw"] }
"#;

const QUEUES: [&str; 4] = ["Support", "Support::Level2", "Finance", "Sales"];

/// A desk on `store`, configured with [`CONFIG`].
pub async fn desk(store: Arc<dyn Store>) -> Desk {
    let desk = Desk::new(store);
    let config = Config::from_toml(CONFIG).expect("benchmark configuration");
    desk.configure(config).await.expect("configure");
    desk
}

/// Fills the store with `count` tickets through batch commits of 1,000: one in ten is new or
/// open (the working set a queue view shows), the rest closed, spread over the queues.
pub async fn populate(desk: &Desk, count: usize) {
    let config = desk.config().await.expect("config");
    let start = desk.now() - chrono::Duration::days(365);
    let day = desk.now().date_naive();
    let mut counter = desk
        .store_unchecked()
        .next_counter("bench-population", count as u64)
        .await
        .expect("counter");
    for chunk in (0..count).collect::<Vec<_>>().chunks(1000) {
        let mut batch = Vec::with_capacity(chunk.len());
        for &i in chunk {
            let ctx = Ctx {
                config: &config,
                actor: &Actor::System,
                customer: None,
                now: start + chrono::Duration::seconds(i as i64 * 30),
            };
            let mut message = Message::text("Hello, my printer is broken again.");
            message.message_id = Some(populated_message_id(i));
            let mut input = NewTicket::new(
                QUEUES[i % QUEUES.len()],
                format!("Request {i}"),
                Channel::Email,
                message,
            );
            input.customer = Some(format!("customer{}", i % 5000));
            input.priority = Priority::new((i % 5) as u8 + 1).ok();
            input.state = Some(
                match i % 10 {
                    0 => "new",
                    1 => "open",
                    _ => "closed successful",
                }
                .into(),
            );
            let fresh = Fresh {
                ticket: TicketId(uuid_from(i as u128 + 1)),
                number: config.numbers.format(day, 1_000_000 + counter, 0),
                article: ArticleId(uuid_from((1u128 << 64) + i as u128)),
            };
            counter += 1;
            batch.push(rules::create(ctx, &input, &fresh).expect("create"));
        }
        commit_all(desk, batch).await;
    }
}

/// Commits `batch` in one batch commit, every change required to succeed.
pub async fn commit_all(desk: &Desk, batch: Vec<ticketcore::Change>) {
    for result in desk
        .store_unchecked()
        .commit_batch(batch)
        .await
        .expect("batch")
    {
        result.expect("commit");
    }
}

/// The Message-ID of the `i`-th populated ticket's first article.
pub fn populated_message_id(i: usize) -> String {
    format!("{i}.populate@bench.example")
}

fn uuid_from(n: u128) -> uuid::Uuid {
    // Version-7 layout so ids sort like real ones: timestamp bits from n.
    uuid::Builder::from_u128(n << 80 | n).into_uuid()
}

/// A new customer request, as mail ingest or a web form would create it.
pub fn request(i: usize) -> NewTicket {
    let mut input = NewTicket::new(
        QUEUES[i % QUEUES.len()],
        format!("New request {i}"),
        Channel::Web,
        Message::text("Please help."),
    );
    input.customer = Some(format!("customer{}", i % 5000));
    input
}

/// The agent's working view: new and open tickets, highest priority first, first page.
pub fn working_view(limit: usize) -> TicketQuery {
    TicketQuery {
        state_types: Some(BTreeSet::from([StateType::New, StateType::Open])),
        limit,
        ..TicketQuery::default()
    }
}

/// This process's peak resident memory (VmHWM), for the memory probes in `examples/`.
pub fn peak_rss_mib() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or_else(|| "unknown".into(), |kb| format!("{} MiB", kb / 1024))
}

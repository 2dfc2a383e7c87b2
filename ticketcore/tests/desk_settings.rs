//! The desk's knobs do what they say: a configured escalation warning point, and the bound on
//! recomputing a conflicting operation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use ticketcore::acl::CustomerUser;
use ticketcore::article::ContentHash;
use ticketcore::store::StoredConfig;
use ticketcore::{
    Actor, Article, Change, Channel, Config, Desk, DueKind, Error, Event, EventKind, ManualClock,
    MemoryStore, Message, NewTicket, Receipt, SeededEntropy, Store, StoreError, StoreResult,
    Ticket, TicketId, TicketNumber, TicketPage, TicketQuery,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap()
}

async fn desk(store: Arc<dyn Store>, config: &str) -> (Desk, ManualClock) {
    let clock = ManualClock::new(t0());
    let desk = Desk::new(store)
        .with_clock(Arc::new(clock.clone()))
        .with_entropy(Arc::new(SeededEntropy::new(3)));
    desk.configure(Config::from_toml(config).unwrap())
        .await
        .unwrap();
    (desk, clock)
}

const HALFWAY: &str = r#"
[escalation]
warning_percent = 50

[[groups]]
name = "support"

[[queues]]
name = "Support"
group = "support"
solution = "10h"

[[agents]]
login = "anna"
groups = { support = ["rw"] }
"#;

#[tokio::test]
async fn the_warning_comes_at_the_configured_share_of_the_time() {
    let (desk, _clock) = desk(Arc::new(MemoryStore::new()), HALFWAY).await;
    let anna = Actor::agent("anna");
    let input = NewTicket::new("Support", "slow", Channel::Phone, Message::text("help"));
    let t = desk.create_ticket(&anna, input).await.unwrap().ticket;

    let early = desk.tick(t0() + Duration::hours(4)).await.unwrap();
    assert_eq!((early.warnings, early.escalations), (0, 0));
    let halfway = desk.tick(t0() + Duration::hours(5)).await.unwrap();
    assert_eq!((halfway.warnings, halfway.escalations), (1, 0));
    let again = desk.tick(t0() + Duration::hours(9)).await.unwrap();
    assert_eq!((again.warnings, again.escalations), (0, 0));
    let late = desk.tick(t0() + Duration::hours(10)).await.unwrap();
    assert_eq!((late.warnings, late.escalations), (0, 1));

    let history = desk.history(&anna, t.id).await.unwrap();
    let warned_at: Vec<DateTime<Utc>> = history
        .iter()
        .filter(|e| matches!(e.kind, EventKind::EscalationWarning { .. }))
        .map(|e| e.at)
        .collect();
    assert_eq!(warned_at, [t0() + Duration::hours(5)]);
}

#[test]
fn a_warning_point_outside_1_to_100_is_refused() {
    for bad in ["0", "101"] {
        let config = HALFWAY.replace("warning_percent = 50", &format!("warning_percent = {bad}"));
        let error = Config::from_toml(&config).unwrap_err().to_string();
        assert!(error.contains("warning_percent"), "{error}");
    }
}

/// MemoryStore whose commits of existing tickets always find them changed meanwhile.
#[derive(Debug)]
struct AlwaysStale(MemoryStore);

#[async_trait]
impl Store for AlwaysStale {
    async fn config(&self) -> StoreResult<Option<StoredConfig>> {
        self.0.config().await
    }
    async fn save_config(&self, config: &Config, expected: u64) -> StoreResult<u64> {
        self.0.save_config(config, expected).await
    }
    async fn put_customer(&self, c: &CustomerUser) -> StoreResult<()> {
        self.0.put_customer(c).await
    }
    async fn customer(&self, login: &str) -> StoreResult<Option<CustomerUser>> {
        self.0.customer(login).await
    }
    async fn customer_by_email(&self, email: &str) -> StoreResult<Option<CustomerUser>> {
        self.0.customer_by_email(email).await
    }
    async fn next_counter(&self, key: &str, count: u64) -> StoreResult<u64> {
        self.0.next_counter(key, count).await
    }
    async fn ticket(&self, id: TicketId) -> StoreResult<Option<Ticket>> {
        self.0.ticket(id).await
    }
    async fn ticket_by_number(&self, n: &TicketNumber) -> StoreResult<Option<Ticket>> {
        self.0.ticket_by_number(n).await
    }
    async fn article_by_message_id(&self, id: &str) -> StoreResult<Option<Article>> {
        self.0.article_by_message_id(id).await
    }
    async fn articles(&self, ticket: TicketId) -> StoreResult<Vec<Article>> {
        self.0.articles(ticket).await
    }
    async fn blob(&self, hash: &ContentHash) -> StoreResult<Option<Vec<u8>>> {
        self.0.blob(hash).await
    }
    async fn history(&self, ticket: TicketId) -> StoreResult<Vec<Event>> {
        self.0.history(ticket).await
    }
    async fn query(&self, query: &TicketQuery) -> StoreResult<TicketPage> {
        self.0.query(query).await
    }
    async fn due(&self, kind: DueKind, until: DateTime<Utc>, n: usize) -> StoreResult<Vec<Ticket>> {
        self.0.due(kind, until, n).await
    }
    async fn next_due(&self, kind: DueKind) -> StoreResult<Option<DateTime<Utc>>> {
        self.0.next_due(kind).await
    }
    async fn commit(&self, change: Change) -> StoreResult<Receipt> {
        if change.writes.iter().any(|w| w.expected_version.is_some()) {
            return Err(StoreError::Conflict("always".into()));
        }
        self.0.commit(change).await
    }
    async fn events_since(&self, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        self.0.events_since(after, limit).await
    }
    async fn cursor(&self, consumer: &str) -> StoreResult<u64> {
        self.0.cursor(consumer).await
    }
    async fn save_cursor(&self, consumer: &str, position: u64) -> StoreResult<()> {
        self.0.save_cursor(consumer, position).await
    }
}

#[tokio::test]
async fn endless_conflicts_end_in_contention_after_the_configured_attempts() {
    let (desk, _clock) = desk(Arc::new(AlwaysStale(MemoryStore::new())), HALFWAY).await;
    let desk = desk.with_attempts(3);
    let anna = Actor::agent("anna");
    let input = NewTicket::new("Support", "busy", Channel::Phone, Message::text("help"));
    let t = desk.create_ticket(&anna, input).await.unwrap().ticket;
    match desk.lock(&anna, t.id).await {
        Err(Error::Contention(3)) => {}
        other => panic!("expected contention after 3 attempts, got {other:?}"),
    }
    let stored = desk.ticket(&anna, t.id).await.unwrap();
    assert_eq!(stored.version, t.version, "nothing was written");
}

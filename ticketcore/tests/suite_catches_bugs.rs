//! The conformance suite is only worth something if it fails broken backends. These wrap
//! MemoryStore with one classic storage bug each and require the suite to catch it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ticketcore::acl::CustomerUser;
use ticketcore::article::{Blob, ContentHash};
use ticketcore::store::StoredConfig;
use ticketcore::testkit::{self, Backend, scenarios};
use ticketcore::{Account, FaqEntry, FaqPage, FaqQuery, FaqState, StoredAccount};
use ticketcore::{
    Actor, Article, Change, Channel, Config, DueKind, Error, Event, MemoryStore, Message,
    NewTicket, Receipt, SearchDoc, SearchPage, SearchQuery, Store, StoreError, StoreResult, Ticket,
    TicketId, TicketNumber, TicketPage, TicketQuery,
};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Bug {
    /// Commits ignore the expected version (last writer wins).
    NoCompareAndSwap,
    /// Queries ignore the queue restriction (filtering "after the fact" forgotten).
    IgnoresQueueFilter,
    /// The event feed skips every 10th event.
    DropsEvents,
    /// Pages restart at the beginning instead of after the key.
    IgnoresPageKey,
    /// The due-time index misses the latest due tickets (an off-by-one on `until`).
    StaleDueIndex,
    /// Every commit of an existing ticket finds it changed meanwhile (endless contention).
    AlwaysStale,
    /// Account writes ignore the expected version (concurrent failures overwrite each other).
    AccountLastWriterWins,
    /// The configuration's version stays what it was first read as (a cache that never
    /// expires).
    FrozenConfigVersion,
    /// Searches look at internal notes for every viewer (the customer flag forgotten).
    SearchesInternalNotes,
    /// FAQ searches show every state in every category (the reader's view forgotten).
    FaqShowsEverything,
    /// FAQ saves overwrite whatever version is stored.
    FaqLastWriterWins,
}

#[derive(Debug)]
struct Buggy(MemoryStore, Bug, std::sync::OnceLock<u64>);

#[async_trait]
impl Store for Buggy {
    async fn config(&self) -> StoreResult<Option<StoredConfig>> {
        self.0.config().await
    }
    async fn save_config(&self, config: &Config, expected: u64) -> StoreResult<u64> {
        self.0.save_config(config, expected).await
    }
    async fn config_version(&self) -> StoreResult<u64> {
        match self.1 {
            Bug::FrozenConfigVersion => {
                let now = self.0.config_version().await?;
                Ok(*self.2.get_or_init(|| now))
            }
            _ => self.0.config_version().await,
        }
    }
    async fn account(&self, login: &str) -> StoreResult<Option<StoredAccount>> {
        self.0.account(login).await
    }
    async fn save_account(&self, account: &Account, expected: u64) -> StoreResult<u64> {
        let expected = match self.1 {
            Bug::AccountLastWriterWins => self
                .0
                .account(&account.login)
                .await?
                .map_or(0, |a| a.version),
            _ => expected,
        };
        self.0.save_account(account, expected).await
    }
    async fn put_customer(&self, c: &CustomerUser) -> StoreResult<()> {
        self.0.put_customer(c).await
    }
    async fn customer(&self, login: &str) -> StoreResult<Option<CustomerUser>> {
        self.0.customer(login).await
    }
    async fn customers(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<CustomerUser>> {
        self.0.customers(after, limit).await
    }
    async fn customer_by_email(&self, email: &str) -> StoreResult<Option<CustomerUser>> {
        self.0.customer_by_email(email).await
    }
    async fn next_counter(&self, key: &str, count: u64) -> StoreResult<u64> {
        self.0.next_counter(key, count).await
    }
    async fn counters_between(&self, start: &str, end: &str) -> StoreResult<Vec<(String, i64)>> {
        self.0.counters_between(start, end).await
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
        let mut query = query.clone();
        match self.1 {
            Bug::IgnoresQueueFilter => query.queues = None,
            Bug::IgnoresPageKey => query.after = None,
            _ => {}
        }
        self.0.query(&query).await
    }
    async fn search(&self, query: &SearchQuery) -> StoreResult<SearchPage> {
        let mut query = query.clone();
        match self.1 {
            Bug::IgnoresQueueFilter => query.queues = None,
            Bug::IgnoresPageKey => query.after = None,
            Bug::SearchesInternalNotes => query.internal = true,
            _ => {}
        }
        self.0.search(&query).await
    }
    async fn faq_entry(&self, number: u64) -> StoreResult<Option<FaqEntry>> {
        self.0.faq_entry(number).await
    }
    async fn faq_versions(&self, number: u64) -> StoreResult<Vec<FaqEntry>> {
        self.0.faq_versions(number).await
    }
    async fn save_faq(&self, entry: &FaqEntry, blobs: &[Blob]) -> StoreResult<()> {
        let mut entry = entry.clone();
        if self.1 == Bug::FaqLastWriterWins {
            entry.version = self.0.faq_versions(entry.number).await?.len() as u64 + 1;
        }
        self.0.save_faq(&entry, blobs).await
    }
    async fn faq_search(&self, query: &FaqQuery) -> StoreResult<FaqPage> {
        let mut query = query.clone();
        match self.1 {
            Bug::IgnoresPageKey => query.after = None,
            Bug::FaqShowsEverything => {
                query.visible = FaqState::ALL.into_iter().map(|s| (s, None)).collect();
            }
            _ => {}
        }
        self.0.faq_search(&query).await
    }
    async fn put_search(&self, ticket: TicketId, doc: &SearchDoc) -> StoreResult<()> {
        self.0.put_search(ticket, doc).await
    }
    async fn due(
        &self,
        kind: DueKind,
        until: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Ticket>> {
        let until = match self.1 {
            Bug::StaleDueIndex => until - chrono::Duration::seconds(1),
            _ => until,
        };
        self.0.due(kind, until, limit).await
    }
    async fn next_due(&self, kind: DueKind) -> StoreResult<Option<DateTime<Utc>>> {
        self.0.next_due(kind).await
    }
    async fn commit(&self, mut change: Change) -> StoreResult<Receipt> {
        if self.1 == Bug::AlwaysStale && change.writes.iter().any(|w| w.expected_version.is_some())
        {
            return Err(StoreError::Conflict("always".into()));
        }
        if self.1 == Bug::NoCompareAndSwap {
            for w in &mut change.writes {
                if w.expected_version.is_some()
                    && let Some(current) = self.0.ticket(w.ticket.id).await?
                {
                    w.expected_version = Some(current.version);
                }
            }
        }
        self.0.commit(change).await
    }
    async fn last_seq(&self) -> StoreResult<u64> {
        self.0.last_seq().await
    }
    async fn events_since(&self, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        let mut events = self.0.events_since(after, limit).await?;
        if self.1 == Bug::DropsEvents {
            events.retain(|e| e.seq % 10 != 0);
        }
        Ok(events)
    }
    async fn cursor(&self, consumer: &str) -> StoreResult<u64> {
        self.0.cursor(consumer).await
    }
    async fn save_cursor(&self, consumer: &str, position: u64) -> StoreResult<()> {
        self.0.save_cursor(consumer, position).await
    }
    async fn consumer_state(&self, consumer: &str) -> StoreResult<Option<Vec<u8>>> {
        self.0.consumer_state(consumer).await
    }
    async fn save_consumer_state(&self, consumer: &str, state: &[u8]) -> StoreResult<()> {
        self.0.save_consumer_state(consumer, state).await
    }
}

macro_rules! buggy_backend {
    ($name:ident, $bug:expr) => {
        struct $name;
        impl Backend for $name {
            async fn store() -> Arc<dyn Store> {
                Arc::new(Buggy(MemoryStore::new(), $bug, Default::default()))
            }
        }
    };
}

buggy_backend!(NoCas, Bug::NoCompareAndSwap);
buggy_backend!(Leaky, Bug::IgnoresQueueFilter);
buggy_backend!(Lossy, Bug::DropsEvents);
buggy_backend!(Restarting, Bug::IgnoresPageKey);
buggy_backend!(Late, Bug::StaleDueIndex);
buggy_backend!(Overwriting, Bug::AccountLastWriterWins);
buggy_backend!(Frozen, Bug::FrozenConfigVersion);
buggy_backend!(Indiscreet, Bug::SearchesInternalNotes);
buggy_backend!(Gossip, Bug::FaqShowsEverything);
buggy_backend!(FaqOverwriting, Bug::FaqLastWriterWins);

fn fails(f: impl FnOnce()) -> bool {
    catch_unwind(AssertUnwindSafe(f)).is_err()
}

fn scenario_fails<B: Backend, F, Fut>(scenario: F) -> bool
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    fails(|| testkit::block_on(async { scenario(B::store().await).await }))
}

#[test]
fn lost_updates_are_caught() {
    assert!(scenario_fails::<NoCas, _, _>(
        scenarios::stale_write_conflicts
    ));
    assert!(scenario_fails::<NoCas, _, _>(
        scenarios::batch_commit_isolates_failures
    ));
}

#[test]
fn permission_leaks_are_caught() {
    assert!(fails(testkit::acl::run::<Leaky>));
    assert!(scenario_fails::<Leaky, _, _>(
        scenarios::move_and_transfer_queue
    ));
    assert!(scenario_fails::<Leaky, _, _>(
        scenarios::search_finds_what_was_written
    ));
}

#[test]
fn internal_notes_found_by_customers_are_caught() {
    assert!(fails(testkit::acl::run::<Indiscreet>));
    assert!(scenario_fails::<Indiscreet, _, _>(
        scenarios::search_finds_what_was_written
    ));
    assert!(scenario_fails::<Indiscreet, _, _>(
        scenarios::search_ranks_pages_and_explains
    ));
}

#[test]
fn faq_leaks_and_lost_versions_are_caught() {
    assert!(scenario_fails::<Gossip, _, _>(
        scenarios::faq_is_found_versioned_and_sent
    ));
    assert!(scenario_fails::<FaqOverwriting, _, _>(
        scenarios::faq_is_found_versioned_and_sent
    ));
    assert!(scenario_fails::<Restarting, _, _>(
        scenarios::faq_is_found_versioned_and_sent
    ));
}

#[test]
fn event_gaps_are_caught() {
    assert!(scenario_fails::<Lossy, _, _>(
        scenarios::events_seen_once_in_order
    ));
    assert!(fails(testkit::model::run::<Lossy>));
}

#[test]
fn broken_paging_is_caught() {
    assert!(scenario_fails::<Restarting, _, _>(
        scenarios::queue_view_pages
    ));
    assert!(scenario_fails::<Restarting, _, _>(
        scenarios::search_ranks_pages_and_explains
    ));
    assert!(fails(testkit::model::run::<Restarting>));
}

#[test]
fn missed_due_times_are_caught() {
    assert!(scenario_fails::<Late, _, _>(scenarios::lock_expires));
    assert!(scenario_fails::<Late, _, _>(
        scenarios::pending_reminder_and_auto_close
    ));
}

#[test]
fn lost_account_updates_are_caught() {
    assert!(scenario_fails::<Overwriting, _, _>(
        scenarios::accounts_are_versioned
    ));
}

#[test]
fn a_stale_configuration_is_caught() {
    assert!(scenario_fails::<Frozen, _, _>(
        scenarios::revocation_takes_effect_at_once
    ));
}

#[test]
fn the_reference_itself_passes() {
    assert!(!fails(testkit::model::run::<testkit::Memory>));
}

#[test]
fn endless_conflicts_end_in_contention_after_the_configured_attempts() {
    testkit::block_on(async {
        let store: Arc<dyn Store> = Arc::new(Buggy(
            MemoryStore::new(),
            Bug::AlwaysStale,
            Default::default(),
        ));
        let (desk, _clock) = testkit::desk_with(store, testkit::fixture_config(), 1).await;
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
    });
}

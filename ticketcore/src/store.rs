//! The storage contract. A backend persists what the rules computed, atomically, and enforces
//! only storage invariants: unique ticket numbers and Message-IDs, version compare-and-swap,
//! monotonic counters, an event sequence that followers read in order without ever skipping
//! an event (a number whose commit failed may stay unused). It knows nothing of locks or
//! states.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::account::{Account, StoredAccount};
use crate::acl::{CustomerScope, CustomerUser};
use crate::article::{Article, Blob, ContentHash};
use crate::config::Config;
use crate::event::Event;
use crate::faq::{FaqEntry, FaqPage, FaqQuery};
use crate::number::TicketNumber;
use crate::search::{SearchDoc, SearchPage, SearchQuery};
use crate::state::StateType;
use crate::ticket::{DueKind, Priority, Ticket, TicketId};

/// What went wrong in a store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The thing asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A write was computed from a stale version; reload and retry.
    #[error("conflict: {0} changed since it was read")]
    Conflict(String),
    /// A unique key (ticket number, Message-ID, customer email) is taken.
    #[error("duplicate {0}")]
    Duplicate(Unique),
    /// A [`Quota`] of the change is used up; nothing of the change was written.
    #[error("quota {0} is used up")]
    QuotaExhausted(String),
    /// The backend failed (I/O, connection, corrupt data).
    #[error("storage backend: {0}")]
    Backend(String),
}

/// Which unique key a [`StoreError::Duplicate`] is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
pub enum Unique {
    /// Ticket number.
    #[error("ticket number {0}")]
    TicketNumber(TicketNumber),
    /// Ticket id.
    #[error("ticket id {0}")]
    TicketId(TicketId),
    /// Article Message-ID.
    #[error("Message-ID {0}")]
    MessageId(String),
}

/// Result of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// One ticket's part of a change: its new state plus what to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketWrite {
    /// The ticket as it is after the change; its `version` is `expected_version + 1`
    /// (1 for a new ticket).
    pub ticket: Ticket,
    /// The version this change was computed from; `None` creates the ticket.
    pub expected_version: Option<u64>,
    /// Articles to append.
    pub articles: Vec<Article>,
    /// Attachment bytes to store (skipped when the hash is already present).
    pub blobs: Vec<Blob>,
    /// Events to append to the log and the ticket's history (`seq` is assigned by the store).
    pub events: Vec<Event>,
    /// Counter changes the store adds in the same transaction: the statistics' tallies
    /// (see [`crate::stats`]).
    pub tallies: Vec<crate::stats::Tally>,
}

/// How a store has grouped writes into transactions (group commit): a backend's own
/// statistics, for benchmarks and tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteStats {
    /// Durable write transactions.
    pub transactions: u64,
    /// Write jobs joined into them (each commit or commit batch is one).
    pub jobs: u64,
}

/// An atomic change of one or more tickets (merge and split touch two): all or nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Change {
    /// The ticket writes.
    pub writes: Vec<TicketWrite>,
    /// Rate limits this change uses one unit of, checked and counted in its transaction.
    pub quotas: Vec<Quota>,
}

/// One unit of a rate limit (the auto-responses a sender may get today): the store advances
/// counter `key` by one with the change, or refuses the whole change with
/// [`StoreError::QuotaExhausted`] when the counter has reached `limit`. Checked where it is
/// counted, the limit holds exactly however many processes deliver at once, and costs no
/// commit of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    /// The counter (see [`Store::next_counter`]).
    pub key: String,
    /// The most units there may be.
    pub limit: u64,
}

impl Change {
    /// Checks the quotas against their counters' current values, counting the change's own
    /// units: what a store runs before it writes the change.
    pub fn check_quotas(
        &self,
        mut current: impl FnMut(&str) -> StoreResult<u64>,
    ) -> StoreResult<()> {
        let mut used: std::collections::BTreeMap<&str, u64> = Default::default();
        for quota in &self.quotas {
            let units = used.entry(&quota.key).or_insert(0);
            *units += 1;
            if current(&quota.key)? + *units > quota.limit {
                return Err(StoreError::QuotaExhausted(quota.key.clone()));
            }
        }
        Ok(())
    }

    /// This change followed by `next` (computed from this change's result) as one atomic
    /// change: writes to the same ticket merge into one, keeping the version this change
    /// expects, so two steps cost one commit.
    pub fn then(mut self, next: Change) -> Change {
        self.quotas.extend(next.quotas);
        for w in next.writes {
            match self.writes.iter_mut().find(|m| m.ticket.id == w.ticket.id) {
                Some(merged) => {
                    let version = merged.ticket.version;
                    merged.ticket = w.ticket;
                    merged.ticket.version = version;
                    merged.articles.extend(w.articles);
                    merged.blobs.extend(w.blobs);
                    merged.events.extend(w.events);
                    merged.tallies.extend(w.tallies);
                }
                None => self.writes.push(w),
            }
        }
        self
    }
}

/// What a commit returns: the appended events with their sequence numbers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Receipt {
    /// The events as stored.
    pub events: Vec<Event>,
}

/// The ordering key of the queue view: priority (high first), then age (old first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PageKey {
    /// 5 - priority, so that ascending order is highest priority first.
    pub rank: u8,
    /// Creation time.
    #[serde(with = "crate::stamp")]
    pub created: DateTime<Utc>,
    /// Tie breaker.
    pub id: TicketId,
}

impl PageKey {
    /// The key of `ticket`.
    pub fn of(ticket: &Ticket) -> PageKey {
        PageKey {
            rank: Priority::HIGHEST.get() - ticket.priority.get(),
            created: ticket.created,
            id: ticket.id,
        }
    }
}

/// A ticket query: the queue view and customer views. Every filter is applied inside the store
/// (index-backed), never by dropping rows after paging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketQuery {
    /// Only these queues (`None`: all). The Desk narrows this to the agent's readable queues.
    pub queues: Option<BTreeSet<String>>,
    /// Only these state types (`None`: all).
    pub state_types: Option<BTreeSet<StateType>>,
    /// Only locked (`Some(true)`) or unlocked (`Some(false)`) tickets.
    pub locked: Option<bool>,
    /// Only tickets owned by this agent.
    pub owner: Option<String>,
    /// Only tickets of this customer (or their company).
    pub customer: Option<CustomerScope>,
    /// Archived tickets: `Some(false)` (default) hides them, `Some(true)` shows only them.
    pub archived: Option<bool>,
    /// Resume after this key (keyset pagination).
    pub after: Option<PageKey>,
    /// Page size.
    pub limit: usize,
}

impl Default for TicketQuery {
    fn default() -> Self {
        TicketQuery {
            queues: None,
            state_types: None,
            locked: None,
            owner: None,
            customer: None,
            archived: Some(false),
            after: None,
            limit: 50,
        }
    }
}

impl TicketQuery {
    /// Whether `ticket` passes every filter except the page position.
    pub fn matches(&self, ticket: &Ticket) -> bool {
        self.queues
            .as_ref()
            .is_none_or(|q| q.contains(&ticket.queue))
            && self
                .state_types
                .as_ref()
                .is_none_or(|s| s.contains(&ticket.state_type))
            && self
                .locked
                .is_none_or(|l| l == ticket.lock.holder().is_some())
            && self
                .owner
                .as_ref()
                .is_none_or(|o| ticket.owner.as_ref() == Some(o))
            && self.customer.as_ref().is_none_or(|c| c.sees(ticket))
            && self.archived.is_none_or(|a| a == ticket.archived)
    }
}

/// One page of tickets in queue-view order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TicketPage {
    /// The tickets.
    pub tickets: Vec<Ticket>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next: Option<PageKey>,
}

/// A versioned configuration document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredConfig {
    /// 1 for the first stored document, +1 per replacement.
    pub version: u64,
    /// The document.
    pub config: Config,
}

/// How a store wakes, in its own process, the followers waiting for its next commit: rung
/// after every commit, heard by [`Store::wait_for_events`]. Followers in other processes
/// need the backend's own channel (PostgreSQL's LISTEN/NOTIFY) or fall back to polling.
#[derive(Debug, Default)]
pub struct Bell(event_listener::Event);

impl Bell {
    /// Wakes everyone waiting.
    pub fn ring(&self) {
        self.0.notify(usize::MAX);
    }

    /// Waits until `arrived` says yes, or the bell rings after it said no, or `timeout` has
    /// passed. The bell is listened to before `arrived` runs, so a commit in between is heard.
    pub async fn wait(
        &self,
        timeout: std::time::Duration,
        arrived: impl std::future::Future<Output = StoreResult<bool>>,
    ) -> StoreResult<()> {
        let listener = self.0.listen();
        if arrived.await? {
            return Ok(());
        }
        let _ = tokio::time::timeout(timeout, listener).await;
        Ok(())
    }
}

/// A ticketcore storage backend. Keep it small: conveniences live on the Desk.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// The configuration, if one was stored.
    async fn config(&self) -> StoreResult<Option<StoredConfig>>;
    /// Replaces the configuration if the stored version is still `expected` (0: none stored);
    /// returns the new version.
    async fn save_config(&self, config: &Config, expected: u64) -> StoreResult<u64>;

    /// The stored configuration's version (0: none stored). The Desk asks on every request of
    /// a signed-in actor, so a backend answers it without reading the document.
    async fn config_version(&self) -> StoreResult<u64> {
        Ok(self.config().await?.map_or(0, |c| c.version))
    }

    /// The sign-in account of `login`, if one was stored.
    async fn account(&self, login: &str) -> StoreResult<Option<StoredAccount>>;
    /// Stores `account` (by its login) if its stored version is still `expected` (0: none
    /// stored); returns the new version. A stale `expected` is a [`StoreError::Conflict`].
    async fn save_account(&self, account: &Account, expected: u64) -> StoreResult<u64>;

    /// Inserts or replaces a customer user (by login). Emails are unique among customers.
    async fn put_customer(&self, customer: &CustomerUser) -> StoreResult<()>;
    /// A customer user by login.
    async fn customer(&self, login: &str) -> StoreResult<Option<CustomerUser>>;
    /// A customer user by email address (case-insensitive).
    async fn customer_by_email(&self, email: &str) -> StoreResult<Option<CustomerUser>>;
    /// Up to `limit` customer users with a login after `after` (from the first when `None`),
    /// in login order: the directory page by page, for export and administration.
    async fn customers(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<CustomerUser>>;

    /// Atomically advances counter `key` by `count` and returns the first of the reserved
    /// values (counters start at 1).
    async fn next_counter(&self, key: &str, count: u64) -> StoreResult<u64>;

    /// The current value of counter `key` (0 when never advanced), without advancing it.
    async fn counter(&self, key: &str) -> StoreResult<u64> {
        Ok(self.next_counter(key, 0).await?.saturating_sub(1))
    }

    /// Every counter whose name is at or after `start` and before `end` (by bytes), with its
    /// value read as signed (tallies go down as well as up): how statistics read a period.
    async fn counters_between(&self, start: &str, end: &str) -> StoreResult<Vec<(String, i64)>>;

    /// A ticket by id.
    async fn ticket(&self, id: TicketId) -> StoreResult<Option<Ticket>>;
    /// A ticket by number.
    async fn ticket_by_number(&self, number: &TicketNumber) -> StoreResult<Option<Ticket>>;
    /// The article carrying a Message-ID.
    async fn article_by_message_id(&self, message_id: &str) -> StoreResult<Option<Article>>;
    /// A ticket's articles, oldest first.
    async fn articles(&self, ticket: TicketId) -> StoreResult<Vec<Article>>;
    /// Attachment bytes by content hash.
    async fn blob(&self, hash: &ContentHash) -> StoreResult<Option<Vec<u8>>>;
    /// A ticket's history, oldest first.
    async fn history(&self, ticket: TicketId) -> StoreResult<Vec<Event>>;
    /// One page of the query, in [`PageKey`] order.
    async fn query(&self, query: &TicketQuery) -> StoreResult<TicketPage>;
    /// One page of a full-text search, best first (see [`crate::search`]): every filter and
    /// the page position applied in the backend's index. The terms are those the store keeps
    /// per ticket: it applies [`SearchUpdate::of`](crate::search::SearchUpdate::of) of every
    /// write it commits.
    async fn search(&self, query: &SearchQuery) -> StoreResult<SearchPage>;
    /// Replaces the search terms of `ticket` (a rebuild: commits keep the terms in step
    /// themselves). A missing ticket is [`StoreError::NotFound`].
    async fn put_search(&self, ticket: TicketId, doc: &SearchDoc) -> StoreResult<()>;

    /// The newest version of FAQ entry `number`.
    async fn faq_entry(&self, number: u64) -> StoreResult<Option<FaqEntry>>;
    /// Every version of FAQ entry `number`, oldest first.
    async fn faq_versions(&self, number: u64) -> StoreResult<Vec<FaqEntry>>;
    /// Stores `entry` as its newest version if the stored one is `entry.version - 1`
    /// (version 1 creates it; otherwise [`StoreError::Conflict`]), keeping every older
    /// version, with its attachments' bytes `blobs` (skipped where the hash is present) and
    /// its terms ([`FaqEntry::terms`]) in the store's term index, in one transaction.
    async fn save_faq(&self, entry: &FaqEntry, blobs: &[Blob]) -> StoreResult<()>;
    /// One page of FAQ entries: a listing (no words) straight from the store's index in
    /// number order, newest first; a search from the entries its term index holds every
    /// wanted term of, ranked by [`FaqPage::rank`].
    async fn faq_search(&self, query: &FaqQuery) -> StoreResult<FaqPage>;

    /// Up to `limit` tickets whose [`Ticket::due`] of `kind` is at or before `until`, earliest
    /// first (index-backed: the cost follows what is due, not how many tickets exist).
    async fn due(
        &self,
        kind: DueKind,
        until: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Ticket>>;
    /// The earliest [`Ticket::due`] of `kind` over all tickets.
    async fn next_due(&self, kind: DueKind) -> StoreResult<Option<DateTime<Utc>>>;

    /// Commits one change atomically, compare-and-swap on every ticket's version.
    async fn commit(&self, change: Change) -> StoreResult<Receipt>;
    /// Commits many independent changes, ideally in one transaction; each gets its own result
    /// (a conflict in one does not fail the others). The outer error is for the backend
    /// failing as a whole.
    async fn commit_batch(&self, changes: Vec<Change>) -> StoreResult<Vec<StoreResult<Receipt>>> {
        let mut results = Vec::with_capacity(changes.len());
        for change in changes {
            results.push(self.commit(change).await);
        }
        Ok(results)
    }

    /// The newest event's sequence number (0 for an empty log), such that no event with a
    /// smaller number commits after this answer: where a follower of the live end starts.
    async fn last_seq(&self) -> StoreResult<u64>;
    /// Up to `limit` events with `seq > after`, in sequence order.
    async fn events_since(&self, after: u64, limit: usize) -> StoreResult<Vec<Event>>;
    /// Waits until an event after `after` may exist, or `timeout` has passed. Backends that can
    /// be woken (PostgreSQL's LISTEN/NOTIFY) return as soon as one commits, in any process;
    /// the default returns at once, leaving the caller to poll.
    async fn wait_for_events(&self, after: u64, timeout: std::time::Duration) -> StoreResult<()> {
        let _ = (after, timeout);
        Ok(())
    }
    /// A consumer's saved cursor (0 when new).
    async fn cursor(&self, consumer: &str) -> StoreResult<u64>;
    /// Saves a consumer's cursor.
    async fn save_cursor(&self, consumer: &str, position: u64) -> StoreResult<()>;
    /// The small document a consumer keeps beside its cursor (a webhook's failures and last
    /// error), if it saved one.
    async fn consumer_state(&self, consumer: &str) -> StoreResult<Option<Vec<u8>>>;
    /// Saves a consumer's document (a few kilobytes at most), replacing the one before.
    async fn save_consumer_state(&self, consumer: &str, state: &[u8]) -> StoreResult<()>;
}

/// Where a backend keeps a consumer's document: beside the configuration in its `meta`
/// table, under a key that fits 64 bytes (long consumer names are hashed).
pub fn consumer_state_key(consumer: &str) -> String {
    let key = format!("consumer:{consumer}");
    if key.len() <= 64 {
        key
    } else {
        let hash = crate::article::ContentHash::of(consumer.as_bytes()).0;
        format!("consumer#{}", &hash[..55])
    }
}

//! `MemoryStore`: the reference backend. Everything in process memory, indexed like a real
//! backend so its costs are honest; used by tests, fuzzing and as the model the conformance
//! suite compares every other backend with.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::account::{Account, StoredAccount};
use crate::acl::CustomerUser;
use crate::article::{Article, Blob, ContentHash};
use crate::config::Config;
use crate::event::Event;
use crate::faq::{FaqEntry, FaqPage, FaqQuery};
use crate::number::TicketNumber;
use crate::search::{SearchDoc, SearchHit, SearchPage, SearchQuery, SearchUpdate};
use crate::state::StateType;
use crate::store::{
    Bell, Change, PageKey, Receipt, Store, StoreError, StoreResult, StoredConfig, TicketPage,
    TicketQuery, Unique,
};
use crate::ticket::{DueKind, Ticket, TicketId};

/// The in-memory reference store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
    appended: Bell,
}

/// The queue-view index bucket: archived flag, queue, state type.
type Bucket = (bool, String, StateType);

#[derive(Debug, Default)]
struct Inner {
    config: Option<StoredConfig>,
    accounts: HashMap<String, StoredAccount>,
    customers: BTreeMap<String, CustomerUser>,
    customer_emails: HashMap<String, String>,
    counters: BTreeMap<String, u64>,
    tickets: HashMap<TicketId, Ticket>,
    by_number: HashMap<TicketNumber, TicketId>,
    articles: HashMap<TicketId, Vec<Article>>,
    by_message_id: HashMap<String, (TicketId, usize)>,
    blobs: HashMap<ContentHash, Vec<u8>>,
    events: EventLog,
    history: HashMap<TicketId, Vec<usize>>,
    view: BTreeMap<Bucket, BTreeSet<PageKey>>,
    by_customer: HashMap<String, BTreeSet<PageKey>>,
    by_company: HashMap<String, BTreeSet<PageKey>>,
    due: HashMap<DueKind, BTreeSet<(DateTime<Utc>, TicketId)>>,
    cursors: HashMap<String, u64>,
    consumer_states: HashMap<String, Vec<u8>>,
    /// Search terms per ticket. The reference search scans them: clear beats fast here.
    search: HashMap<TicketId, SearchDoc>,
    /// FAQ entries by number, every version, oldest first, with the newest one's terms.
    faq: BTreeMap<u64, (Vec<FaqEntry>, SearchDoc)>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        // A poisoned lock means a panic elsewhere mid-update; the data is still consistent
        // because every mutation validates before it changes anything.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Events per log segment.
const SEGMENT: usize = 4096;

/// The event log in fixed-size segments: appending never moves what is already there, so a
/// log of millions of events grows without copying itself.
#[derive(Debug, Default)]
struct EventLog {
    segments: Vec<Vec<Event>>,
    len: usize,
}

impl EventLog {
    fn len(&self) -> usize {
        self.len
    }

    fn push(&mut self, event: Event) {
        match self.segments.last_mut() {
            Some(segment) if segment.len() < SEGMENT => segment.push(event),
            _ => {
                let mut segment = Vec::with_capacity(SEGMENT);
                segment.push(event);
                self.segments.push(segment);
            }
        }
        self.len += 1;
    }

    fn get(&self, index: usize) -> Option<&Event> {
        self.segments.get(index / SEGMENT)?.get(index % SEGMENT)
    }

    /// Events from position `start` on.
    fn since(&self, start: usize) -> impl Iterator<Item = &Event> {
        let first = self
            .segments
            .get(start / SEGMENT)
            .map(|s| &s[(start % SEGMENT).min(s.len())..]);
        first
            .into_iter()
            .flatten()
            .chain(self.segments.iter().skip(start / SEGMENT + 1).flatten())
    }
}

fn bucket(t: &Ticket) -> Bucket {
    (t.archived, t.queue.clone(), t.state_type)
}

impl Inner {
    fn index(&mut self, t: &Ticket) {
        for kind in DueKind::ALL {
            if let Some(at) = t.due(kind) {
                self.due.entry(kind).or_default().insert((at, t.id));
            }
        }
        let key = PageKey::of(t);
        self.view.entry(bucket(t)).or_default().insert(key);
        if let Some(c) = &t.customer {
            self.by_customer.entry(c.clone()).or_default().insert(key);
        }
        if let Some(c) = &t.customer_company {
            self.by_company.entry(c.clone()).or_default().insert(key);
        }
    }

    fn unindex(&mut self, t: &Ticket) {
        for kind in DueKind::ALL {
            if let (Some(at), Some(set)) = (t.due(kind), self.due.get_mut(&kind)) {
                set.remove(&(at, t.id));
            }
        }
        let key = PageKey::of(t);
        if let Some(set) = self.view.get_mut(&bucket(t)) {
            set.remove(&key);
        }
        if let Some(set) = t
            .customer
            .as_ref()
            .and_then(|c| self.by_customer.get_mut(c))
        {
            set.remove(&key);
        }
        if let Some(set) = t
            .customer_company
            .as_ref()
            .and_then(|c| self.by_company.get_mut(c))
        {
            set.remove(&key);
        }
    }

    fn check(&self, change: &Change) -> StoreResult<()> {
        let mut message_ids = BTreeSet::new();
        let mut numbers = BTreeSet::new();
        for w in &change.writes {
            let t = &w.ticket;
            match (w.expected_version, self.tickets.get(&t.id)) {
                (None, Some(_)) => return Err(StoreError::Duplicate(Unique::TicketId(t.id))),
                (None, None) => {
                    if self.by_number.contains_key(&t.number) || !numbers.insert(&t.number) {
                        return Err(StoreError::Duplicate(Unique::TicketNumber(
                            t.number.clone(),
                        )));
                    }
                }
                (Some(_), None) => return Err(StoreError::NotFound(format!("ticket {}", t.id))),
                (Some(v), Some(stored)) if stored.version != v => {
                    return Err(StoreError::Conflict(format!("ticket {}", stored.number)));
                }
                (Some(_), Some(stored)) if stored.number != t.number => {
                    return Err(StoreError::Backend(format!(
                        "ticket {} would change its number",
                        stored.number
                    )));
                }
                (Some(_), Some(_)) => {}
            }
            for id in w.articles.iter().filter_map(|a| a.message_id.as_ref()) {
                if self.by_message_id.contains_key(id) || !message_ids.insert(id) {
                    return Err(StoreError::Duplicate(Unique::MessageId(id.clone())));
                }
            }
        }
        change.check_quotas(|key| Ok(self.counters.get(key).copied().unwrap_or(0)))
    }

    fn apply(&mut self, change: Change) -> Receipt {
        let mut receipt = Receipt::default();
        for quota in change.quotas {
            *self.counters.entry(quota.key).or_insert(0) += 1;
        }
        for w in change.writes {
            if let Some(old) = self.tickets.get(&w.ticket.id).cloned() {
                self.unindex(&old);
            }
            self.index(&w.ticket);
            let id = w.ticket.id;
            for tally in &w.tallies {
                let counter = self.counters.entry(tally.key.clone()).or_insert(0);
                *counter = counter.wrapping_add_signed(tally.delta);
            }
            if let Some(update) = SearchUpdate::of(&w) {
                self.search.entry(id).or_default().apply(&update);
            }
            self.by_number.insert(w.ticket.number.clone(), id);
            self.tickets.insert(id, w.ticket);
            let articles = self.articles.entry(id).or_default();
            for article in w.articles {
                if let Some(mid) = &article.message_id {
                    self.by_message_id.insert(mid.clone(), (id, articles.len()));
                }
                articles.push(article);
            }
            for blob in w.blobs {
                self.blobs.entry(blob.hash).or_insert(blob.data);
            }
            for mut event in w.events {
                event.seq = self.events.len() as u64 + 1;
                self.history.entry(id).or_default().push(self.events.len());
                self.events.push(event.clone());
                receipt.events.push(event);
            }
        }
        receipt
    }

    fn query(&self, q: &TicketQuery) -> TicketPage {
        let after = |key: &&PageKey| q.after.is_none_or(|a| **key > a);
        let take = q.limit.saturating_add(1);
        let mut keys: Vec<PageKey> = Vec::new();
        let mut collect = |set: &BTreeSet<PageKey>| {
            keys.extend(
                set.iter()
                    .filter(after)
                    .filter(|k| self.tickets.get(&k.id).is_some_and(|t| q.matches(t)))
                    .take(take),
            );
        };
        match &q.customer {
            Some(scope) => {
                let own = self.by_customer.get(&scope.login);
                let company = scope.company.as_ref().and_then(|c| self.by_company.get(c));
                own.into_iter().chain(company).for_each(&mut collect);
            }
            None => self
                .view
                .iter()
                .filter(|((archived, queue, state_type), _)| {
                    q.archived.is_none_or(|a| a == *archived)
                        && q.queues.as_ref().is_none_or(|qs| qs.contains(queue))
                        && q.state_types
                            .as_ref()
                            .is_none_or(|s| s.contains(state_type))
                })
                .for_each(|(_, set)| collect(set)),
        }
        keys.sort();
        keys.dedup();
        let more = keys.len() > q.limit;
        keys.truncate(q.limit);
        TicketPage {
            next: if more { keys.last().copied() } else { None },
            tickets: keys
                .iter()
                .filter_map(|k| self.tickets.get(&k.id).cloned())
                .collect(),
        }
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn config(&self) -> StoreResult<Option<StoredConfig>> {
        Ok(self.read().config.clone())
    }

    async fn save_config(&self, config: &Config, expected: u64) -> StoreResult<u64> {
        let mut inner = self.write();
        let current = inner.config.as_ref().map_or(0, |c| c.version);
        if current != expected {
            return Err(StoreError::Conflict("configuration".into()));
        }
        inner.config = Some(StoredConfig {
            version: current + 1,
            config: config.clone(),
        });
        Ok(current + 1)
    }

    async fn config_version(&self) -> StoreResult<u64> {
        Ok(self.read().config.as_ref().map_or(0, |c| c.version))
    }

    async fn account(&self, login: &str) -> StoreResult<Option<StoredAccount>> {
        Ok(self.read().accounts.get(login).cloned())
    }

    async fn save_account(&self, account: &Account, expected: u64) -> StoreResult<u64> {
        let mut inner = self.write();
        let current = inner.accounts.get(&account.login).map_or(0, |a| a.version);
        if current != expected {
            return Err(StoreError::Conflict(format!("account {}", account.login)));
        }
        let stored = StoredAccount {
            version: current + 1,
            account: account.clone(),
        };
        inner.accounts.insert(account.login.clone(), stored);
        Ok(current + 1)
    }

    async fn put_customer(&self, customer: &CustomerUser) -> StoreResult<()> {
        let mut inner = self.write();
        let email = customer.email.to_lowercase();
        if let Some(other) = inner.customer_emails.get(&email)
            && *other != customer.login
        {
            return Err(StoreError::Backend(format!(
                "customer email {email} already belongs to {other}"
            )));
        }
        if let Some(old) = inner.customers.get(&customer.login).cloned() {
            inner.customer_emails.remove(&old.email.to_lowercase());
        }
        inner.customer_emails.insert(email, customer.login.clone());
        inner
            .customers
            .insert(customer.login.clone(), customer.clone());
        Ok(())
    }

    async fn customer(&self, login: &str) -> StoreResult<Option<CustomerUser>> {
        Ok(self.read().customers.get(login).cloned())
    }

    async fn customers(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<CustomerUser>> {
        use std::ops::Bound;
        let from = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_string()));
        Ok(self
            .read()
            .customers
            .range((from, Bound::Unbounded))
            .take(limit)
            .map(|(_, c)| c.clone())
            .collect())
    }

    async fn customer_by_email(&self, email: &str) -> StoreResult<Option<CustomerUser>> {
        let inner = self.read();
        Ok(inner
            .customer_emails
            .get(&email.to_lowercase())
            .and_then(|login| inner.customers.get(login))
            .cloned())
    }

    async fn next_counter(&self, key: &str, count: u64) -> StoreResult<u64> {
        let mut inner = self.write();
        let counter = inner.counters.entry(key.to_string()).or_insert(0);
        let first = *counter + 1;
        *counter += count;
        Ok(first)
    }

    async fn counter(&self, key: &str) -> StoreResult<u64> {
        Ok(self.read().counters.get(key).copied().unwrap_or(0))
    }

    async fn counters_between(&self, start: &str, end: &str) -> StoreResult<Vec<(String, i64)>> {
        if start >= end {
            return Ok(Vec::new());
        }
        Ok(self
            .read()
            .counters
            .range::<str, _>((
                std::ops::Bound::Included(start),
                std::ops::Bound::Excluded(end),
            ))
            .map(|(k, v)| (k.clone(), *v as i64))
            .collect())
    }

    async fn ticket(&self, id: TicketId) -> StoreResult<Option<Ticket>> {
        Ok(self.read().tickets.get(&id).cloned())
    }

    async fn ticket_by_number(&self, number: &TicketNumber) -> StoreResult<Option<Ticket>> {
        let inner = self.read();
        Ok(inner
            .by_number
            .get(number)
            .and_then(|id| inner.tickets.get(id))
            .cloned())
    }

    async fn article_by_message_id(&self, message_id: &str) -> StoreResult<Option<Article>> {
        let inner = self.read();
        Ok(inner
            .by_message_id
            .get(message_id)
            .and_then(|(t, i)| inner.articles.get(t)?.get(*i))
            .cloned())
    }

    async fn articles(&self, ticket: TicketId) -> StoreResult<Vec<Article>> {
        Ok(self
            .read()
            .articles
            .get(&ticket)
            .cloned()
            .unwrap_or_default())
    }

    async fn blob(&self, hash: &ContentHash) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.read().blobs.get(hash).cloned())
    }

    async fn history(&self, ticket: TicketId) -> StoreResult<Vec<Event>> {
        let inner = self.read();
        Ok(inner
            .history
            .get(&ticket)
            .map(|idx| {
                idx.iter()
                    .filter_map(|&i| inner.events.get(i).cloned())
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn query(&self, query: &TicketQuery) -> StoreResult<TicketPage> {
        Ok(self.read().query(query))
    }

    async fn search(&self, query: &SearchQuery) -> StoreResult<SearchPage> {
        let inner = self.read();
        let hits = inner
            .search
            .iter()
            .filter_map(|(id, doc)| {
                let ticket = inner.tickets.get(id).filter(|t| query.admits(t))?;
                Some(SearchHit {
                    score: query.score(doc)?,
                    ticket: ticket.clone(),
                })
            })
            .collect();
        Ok(SearchPage::of(hits, query.after, query.limit))
    }

    async fn faq_entry(&self, number: u64) -> StoreResult<Option<FaqEntry>> {
        Ok(self
            .read()
            .faq
            .get(&number)
            .and_then(|(versions, _)| versions.last().cloned()))
    }

    async fn faq_versions(&self, number: u64) -> StoreResult<Vec<FaqEntry>> {
        Ok(self
            .read()
            .faq
            .get(&number)
            .map(|(versions, _)| versions.clone())
            .unwrap_or_default())
    }

    async fn save_faq(&self, entry: &FaqEntry, blobs: &[Blob]) -> StoreResult<()> {
        let mut inner = self.write();
        let stored = inner
            .faq
            .get(&entry.number)
            .map_or(0, |(v, _)| v.len() as u64);
        if entry.version != stored + 1 {
            return Err(StoreError::Conflict(format!("FAQ entry {}", entry.number)));
        }
        for blob in blobs {
            inner
                .blobs
                .entry(blob.hash.clone())
                .or_insert_with(|| blob.data.clone());
        }
        let (versions, terms) = inner.faq.entry(entry.number).or_default();
        versions.push(entry.clone());
        *terms = entry.terms();
        Ok(())
    }

    async fn faq_search(&self, query: &FaqQuery) -> StoreResult<FaqPage> {
        let inner = self.read();
        let candidates = inner
            .faq
            .values()
            .filter_map(|(versions, terms)| Some((versions.last()?.clone(), terms.clone())));
        Ok(FaqPage::rank(query, candidates))
    }

    async fn put_search(&self, ticket: TicketId, doc: &SearchDoc) -> StoreResult<()> {
        let mut inner = self.write();
        if !inner.tickets.contains_key(&ticket) {
            return Err(StoreError::NotFound(format!("ticket {ticket}")));
        }
        inner.search.insert(ticket, doc.clone());
        Ok(())
    }

    async fn due(
        &self,
        kind: DueKind,
        until: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Ticket>> {
        let inner = self.read();
        Ok(inner
            .due
            .get(&kind)
            .into_iter()
            .flatten()
            .take_while(|(at, _)| *at <= until)
            .take(limit)
            .filter_map(|(_, id)| inner.tickets.get(id).cloned())
            .collect())
    }

    async fn next_due(&self, kind: DueKind) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(self
            .read()
            .due
            .get(&kind)
            .and_then(|set| set.first())
            .map(|(at, _)| *at))
    }

    async fn commit(&self, change: Change) -> StoreResult<Receipt> {
        let receipt = {
            let mut inner = self.write();
            inner.check(&change)?;
            inner.apply(change)
        };
        self.appended.ring();
        Ok(receipt)
    }

    async fn commit_batch(&self, changes: Vec<Change>) -> StoreResult<Vec<StoreResult<Receipt>>> {
        let results = {
            let mut inner = self.write();
            changes
                .into_iter()
                .map(|change| {
                    inner.check(&change)?;
                    Ok(inner.apply(change))
                })
                .collect()
        };
        self.appended.ring();
        Ok(results)
    }

    async fn wait_for_events(&self, after: u64, timeout: std::time::Duration) -> StoreResult<()> {
        let arrived = async { Ok(self.read().events.len() as u64 > after) };
        self.appended.wait(timeout, arrived).await
    }

    async fn last_seq(&self) -> StoreResult<u64> {
        Ok(self.read().events.len() as u64)
    }

    async fn events_since(&self, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        let inner = self.read();
        let start = usize::try_from(after).unwrap_or(usize::MAX);
        Ok(inner.events.since(start).take(limit).cloned().collect())
    }

    async fn cursor(&self, consumer: &str) -> StoreResult<u64> {
        Ok(self.read().cursors.get(consumer).copied().unwrap_or(0))
    }

    async fn consumer_state(&self, consumer: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.read().consumer_states.get(consumer).cloned())
    }

    async fn save_consumer_state(&self, consumer: &str, state: &[u8]) -> StoreResult<()> {
        self.write()
            .consumer_states
            .insert(consumer.to_string(), state.to_vec());
        Ok(())
    }

    async fn save_cursor(&self, consumer: &str, position: u64) -> StoreResult<()> {
        self.write().cursors.insert(consumer.to_string(), position);
        Ok(())
    }
}

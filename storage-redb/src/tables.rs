//! The redb tables: documents (MessagePack, see [`encode`]) and the index tables that make
//! every read a range scan.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use redb::{
    Database, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable, Table,
    TableDefinition, TableHandle, WriteTransaction,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use ticketcore::StoredAccount;
use ticketcore::acl::CustomerUser;
use ticketcore::article::{Blob, ContentHash};
use ticketcore::store::{StoredConfig, Unique};
use ticketcore::{
    Article, Change, DueKind, Event, PageKey, Receipt, SearchDoc, StoreError, StoreResult, Ticket,
    TicketId, TicketNumber, TicketPage, TicketQuery,
};

use crate::OpenError;
use crate::keys::{self, Entries};

pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");
pub const TICKETS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("tickets");
pub const NUMBERS: TableDefinition<&str, &[u8]> = TableDefinition::new("ticket_numbers");
pub const ARTICLES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("articles");
pub const MESSAGE_IDS: TableDefinition<&str, &[u8]> = TableDefinition::new("message_ids");
pub const BLOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("blobs");
pub const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
pub const HISTORY: TableDefinition<&[u8], ()> = TableDefinition::new("history");
pub const BUCKETS: TableDefinition<&[u8], u64> = TableDefinition::new("view_buckets");
pub const VIEW: TableDefinition<&[u8], ()> = TableDefinition::new("view");
pub const BY_CUSTOMER: TableDefinition<&[u8], ()> = TableDefinition::new("by_customer");
pub const BY_COMPANY: TableDefinition<&[u8], ()> = TableDefinition::new("by_company");
pub const DUE: TableDefinition<&[u8], ()> = TableDefinition::new("due");
pub const CUSTOMERS: TableDefinition<&str, &[u8]> = TableDefinition::new("customers");
pub const CUSTOMER_EMAILS: TableDefinition<&str, &str> = TableDefinition::new("customer_emails");
pub const CURSORS: TableDefinition<&str, u64> = TableDefinition::new("cursors");
/// Sign-in accounts by login: the version (8 bytes, little-endian), then the document.
pub const ACCOUNTS: TableDefinition<&str, &[u8]> = TableDefinition::new("accounts");
/// The FAQ: entries, versions and their indexes (see `faq.rs`).
pub const FAQ: TableDefinition<&[u8], &[u8]> = TableDefinition::new("faq");

const SCHEMA: &str = "schema_version";
const CONFIG: &str = "config";
const CONFIG_VERSION: &str = "config_version";

/// Maps any redb error into the store's error.
pub fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("redb: {e}"))
}

/// A document as stored: MessagePack, with field names so that fields can be added later
/// (`#[serde(default)]`) as with JSON, which format version 1 wrote. Encoding and decoding
/// JSON had been a sixth of the async thread's work in a mail import, which that thread's
/// time bounds; with MessagePack the import runs 12% faster (9.5k → 10.7k messages/s in
/// alternating runs).
pub fn encode<T: Serialize>(value: &T) -> StoreResult<Vec<u8>> {
    rmp_serde::to_vec_named(value).map_err(|e| StoreError::Backend(format!("encoding: {e}")))
}

/// An account value's version and document.
fn versioned(value: &[u8]) -> StoreResult<(u64, &[u8])> {
    match value.split_first_chunk::<8>() {
        Some((version, doc)) => Ok((u64::from_le_bytes(*version), doc)),
        None => Err(StoreError::Backend("corrupt account: too short".into())),
    }
}

/// Reads a document of either format: a JSON document (format version 1) is an object, so it
/// starts with `{`, which no MessagePack map does (0x7b is the integer 123 there).
pub fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> StoreResult<T> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Backend(format!("corrupt {what}: {e}"));
    if bytes.first() == Some(&b'{') {
        serde_json::from_slice(bytes).map_err(|e| corrupt(&e))
    } else {
        rmp_serde::from_slice(bytes).map_err(|e| corrupt(&e))
    }
}

/// Checks the format version and creates every table, in one transaction.
pub fn prepare(db: &Database, supported: u64) -> Result<(), OpenError> {
    if ready(db, supported)? {
        return Ok(());
    }
    let fail = |e: &dyn std::fmt::Display| OpenError::Redb(e.to_string());
    let txn = db.begin_write().map_err(|e| fail(&e))?;
    {
        let mut meta = txn.open_table(META).map_err(|e| fail(&e))?;
        // A new file, or one of an older version: its documents are read as they are, and
        // a build too old for what is written from now on refuses the file.
        if schema_version(&meta, supported)? != Some(supported) {
            meta.insert(SCHEMA, supported.to_le_bytes().as_slice())
                .map_err(|e| fail(&e))?;
        }
    }
    // Create every table now, so readers never meet a missing one; derive the FAQ's terms
    // again if the analyzer changed.
    {
        let mut writes = Writes::open(&txn).map_err(|e| fail(&e))?;
        crate::faq::upgrade(&mut writes.faq)
            .map_err(|e| fail(&e))?
            .map_err(|e| OpenError::Redb(e.to_string()))?;
    }
    txn.commit().map_err(|e| fail(&e))
}

/// The format version a file was written with, refusing a newer one.
fn schema_version(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
    supported: u64,
) -> Result<Option<u64>, OpenError> {
    let found = meta
        .get(SCHEMA)
        .map_err(|e| OpenError::Redb(e.to_string()))?
        .map(|v| {
            v.value()
                .try_into()
                .map(u64::from_le_bytes)
                .map_err(|_| OpenError::Foreign("unreadable format version".into()))
        })
        .transpose()?;
    match found {
        Some(found) if found > supported => Err(OpenError::NewerFormat { found, supported }),
        found => Ok(found),
    }
}

/// Whether the file already has a schema and every table, so opening it needs no write
/// transaction: two fsyncs less for every process that opens the desk for one delivery.
fn ready(db: &Database, supported: u64) -> Result<bool, OpenError> {
    let fail = |e: &dyn std::fmt::Display| OpenError::Redb(e.to_string());
    let txn = db.begin_read().map_err(|e| fail(&e))?;
    let meta = match txn.open_table(META) {
        Ok(meta) => meta,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(false),
        Err(e) => return Err(fail(&e)),
    };
    if schema_version(&meta, supported)? != Some(supported) {
        return Ok(false);
    }
    let present: BTreeSet<String> = txn
        .list_tables()
        .map_err(|e| fail(&e))?
        .map(|t| t.name().to_string())
        .collect();
    let wanted = [
        META.name(),
        COUNTERS.name(),
        TICKETS.name(),
        NUMBERS.name(),
        ARTICLES.name(),
        MESSAGE_IDS.name(),
        BLOBS.name(),
        EVENTS.name(),
        HISTORY.name(),
        BUCKETS.name(),
        VIEW.name(),
        BY_CUSTOMER.name(),
        BY_COMPANY.name(),
        DUE.name(),
        CUSTOMERS.name(),
        CUSTOMER_EMAILS.name(),
        CURSORS.name(),
        ACCOUNTS.name(),
        FAQ.name(),
    ];
    if !wanted.iter().all(|name| present.contains(*name)) {
        return Ok(false);
    }
    let faq = txn.open_table(FAQ).map_err(|e| fail(&e))?;
    crate::faq::current(&faq).map_err(|e| fail(&e))
}

/// The tables of one write transaction.
pub struct Writes<'t> {
    meta: Table<'t, &'static str, &'static [u8]>,
    counters: Table<'t, &'static str, u64>,
    tickets: Table<'t, &'static [u8], &'static [u8]>,
    numbers: Table<'t, &'static str, &'static [u8]>,
    articles: Table<'t, &'static [u8], &'static [u8]>,
    message_ids: Table<'t, &'static str, &'static [u8]>,
    blobs: Table<'t, &'static str, &'static [u8]>,
    events: Table<'t, u64, &'static [u8]>,
    history: Table<'t, &'static [u8], ()>,
    buckets: Table<'t, &'static [u8], u64>,
    view: Table<'t, &'static [u8], ()>,
    by_customer: Table<'t, &'static [u8], ()>,
    by_company: Table<'t, &'static [u8], ()>,
    due: Table<'t, &'static [u8], ()>,
    customers: Table<'t, &'static str, &'static [u8]>,
    customer_emails: Table<'t, &'static str, &'static str>,
    cursors: Table<'t, &'static str, u64>,
    accounts: Table<'t, &'static str, &'static [u8]>,
    faq: Table<'t, &'static [u8], &'static [u8]>,
    /// The statistics tallies of the group's commits, summed per counter and added once, when
    /// the group is done ([`Writes::finish`]): a thousand new tickets touch a handful of
    /// counters, and each was a read and a write per ticket.
    tallies: std::collections::BTreeMap<String, i64>,
    /// The last event's sequence number, once looked up: read once per transaction rather
    /// than once per change.
    last_event: Option<u64>,
}

type R<T> = Result<T, redb::Error>;

impl<'t> Writes<'t> {
    pub fn open(txn: &'t WriteTransaction) -> R<Writes<'t>> {
        Ok(Writes {
            meta: txn.open_table(META)?,
            counters: txn.open_table(COUNTERS)?,
            tickets: txn.open_table(TICKETS)?,
            numbers: txn.open_table(NUMBERS)?,
            articles: txn.open_table(ARTICLES)?,
            message_ids: txn.open_table(MESSAGE_IDS)?,
            blobs: txn.open_table(BLOBS)?,
            events: txn.open_table(EVENTS)?,
            history: txn.open_table(HISTORY)?,
            buckets: txn.open_table(BUCKETS)?,
            view: txn.open_table(VIEW)?,
            by_customer: txn.open_table(BY_CUSTOMER)?,
            by_company: txn.open_table(BY_COMPANY)?,
            due: txn.open_table(DUE)?,
            customers: txn.open_table(CUSTOMERS)?,
            customer_emails: txn.open_table(CUSTOMER_EMAILS)?,
            cursors: txn.open_table(CURSORS)?,
            accounts: txn.open_table(ACCOUNTS)?,
            faq: txn.open_table(FAQ)?,
            tallies: std::collections::BTreeMap::new(),
            last_event: None,
        })
    }

    /// A logical outcome, or a redb failure that dooms the whole transaction.
    pub fn save_config(&mut self, doc: &[u8], expected: u64) -> R<StoreResult<u64>> {
        let current = self
            .meta
            .get(CONFIG_VERSION)?
            .and_then(|v| v.value().try_into().ok().map(u64::from_le_bytes))
            .unwrap_or(0);
        if current != expected {
            return Ok(Err(StoreError::Conflict("configuration".into())));
        }
        self.meta.insert(CONFIG, doc)?;
        self.meta
            .insert(CONFIG_VERSION, (current + 1).to_le_bytes().as_slice())?;
        Ok(Ok(current + 1))
    }

    /// Stores an account document if the stored version is still `expected`.
    pub fn save_account(&mut self, login: &str, doc: &[u8], expected: u64) -> R<StoreResult<u64>> {
        let current = self
            .accounts
            .get(login)?
            .map_or(Ok(0), |v| versioned(v.value()).map(|(version, _)| version));
        let current = match current {
            Ok(current) => current,
            Err(e) => return Ok(Err(e)),
        };
        if current != expected {
            return Ok(Err(StoreError::Conflict(format!("account {login}"))));
        }
        let mut value = Vec::with_capacity(8 + doc.len());
        value.extend_from_slice(&(current + 1).to_le_bytes());
        value.extend_from_slice(doc);
        self.accounts.insert(login, value.as_slice())?;
        Ok(Ok(current + 1))
    }

    /// Stores a new version of an FAQ entry (compare-and-swap on the version).
    pub fn save_faq(&mut self, entry: &ticketcore::FaqEntry, blobs: &[Blob]) -> R<StoreResult<()>> {
        crate::faq::save(&mut self.faq, &mut self.blobs, entry, blobs)
    }

    pub fn next_counter(&mut self, key: &str, count: u64) -> R<StoreResult<u64>> {
        let current = self.counters.get(key)?.map(|v| v.value()).unwrap_or(0);
        self.counters.insert(key, current.saturating_add(count))?;
        Ok(Ok(current + 1))
    }

    pub fn save_meta(&mut self, key: &str, value: &[u8]) -> R<StoreResult<()>> {
        self.meta.insert(key, value)?;
        Ok(Ok(()))
    }

    pub fn save_cursor(&mut self, consumer: &str, position: u64) -> R<StoreResult<()>> {
        self.cursors.insert(consumer, position)?;
        Ok(Ok(()))
    }

    pub fn put_customer(&mut self, customer: &CustomerUser) -> R<StoreResult<()>> {
        let email = customer.email.to_lowercase();
        if let Some(other) = self.customer_emails.get(email.as_str())?
            && other.value() != customer.login
        {
            return Ok(Err(StoreError::Backend(format!(
                "customer email {email} already belongs to {}",
                other.value()
            ))));
        }
        let old_email = match self.customers.get(customer.login.as_str())? {
            Some(old) => match decode::<CustomerUser>(old.value(), "customer") {
                Ok(old) => Some(old.email.to_lowercase()),
                Err(e) => return Ok(Err(e)),
            },
            None => None,
        };
        if let Some(old) = old_email {
            self.customer_emails.remove(old.as_str())?;
        }
        let doc = match encode(customer) {
            Ok(doc) => doc,
            Err(e) => return Ok(Err(e)),
        };
        self.customer_emails
            .insert(email.as_str(), customer.login.as_str())?;
        self.customers
            .insert(customer.login.as_str(), doc.as_slice())?;
        Ok(Ok(()))
    }

    /// Adds the group's tallies to their counters: the last step of every group.
    pub fn finish(&mut self) -> R<()> {
        for (key, delta) in std::mem::take(&mut self.tallies) {
            if delta == 0 {
                continue;
            }
            let current = self.counters.get(key.as_str())?.map_or(0, |v| v.value());
            self.counters
                .insert(key.as_str(), current.wrapping_add_signed(delta))?;
        }
        Ok(())
    }

    fn stored_ticket(&self, id: TicketId) -> R<Option<Vec<u8>>> {
        Ok(self
            .tickets
            .get(keys::id(id).as_slice())?
            .map(|v| v.value().to_vec()))
    }

    /// Checks a change against the storage invariants without writing anything.
    fn check(&self, change: &Change) -> R<StoreResult<Vec<Option<Ticket>>>> {
        let mut numbers = BTreeSet::new();
        let mut message_ids = BTreeSet::new();
        let mut olds = Vec::with_capacity(change.writes.len());
        for w in &change.writes {
            let t = &w.ticket;
            let stored = match self.stored_ticket(t.id)? {
                Some(bytes) => match decode::<Ticket>(&bytes, "ticket") {
                    Ok(t) => Some(t),
                    Err(e) => return Ok(Err(e)),
                },
                None => None,
            };
            let outcome = match (w.expected_version, &stored) {
                (None, Some(_)) => Err(StoreError::Duplicate(Unique::TicketId(t.id))),
                (None, None) => {
                    if self.numbers.get(t.number.as_str())?.is_some() || !numbers.insert(&t.number)
                    {
                        Err(StoreError::Duplicate(Unique::TicketNumber(
                            t.number.clone(),
                        )))
                    } else {
                        Ok(())
                    }
                }
                (Some(_), None) => Err(StoreError::NotFound(format!("ticket {}", t.id))),
                (Some(v), Some(s)) if s.version != v => {
                    Err(StoreError::Conflict(format!("ticket {}", s.number)))
                }
                (Some(_), Some(s)) if s.number != t.number => Err(StoreError::Backend(format!(
                    "ticket {} would change its number",
                    s.number
                ))),
                (Some(_), Some(_)) => Ok(()),
            };
            if let Err(e) = outcome {
                return Ok(Err(e));
            }
            for id in w.articles.iter().filter_map(|a| a.message_id.as_ref()) {
                if self.message_ids.get(id.as_str())?.is_some() || !message_ids.insert(id) {
                    return Ok(Err(StoreError::Duplicate(Unique::MessageId(id.clone()))));
                }
            }
            olds.push(stored);
        }
        let counters = &self.counters;
        let fits = change
            .check_quotas(|key| Ok(counters.get(key).map_err(backend)?.map_or(0, |v| v.value())));
        Ok(fits.map(|()| olds))
    }

    /// Moves a ticket's index entries from `old` (as stored before, if it was) to `new`,
    /// touching only the entries that differ: a follow-up usually changes none, and removing
    /// and inserting the same keys copied index pages all over the file into the commit.
    fn reindex(&mut self, old: Option<&Ticket>, new: &Ticket) -> R<()> {
        let new = Entries::of(new);
        let old = old.map(Entries::of);
        let old = old.as_ref();
        replace(&mut self.view, old.map(|o| &o.view), Some(&new.view))?;
        if old.map(|o| &o.bucket) != Some(&new.bucket) {
            if let Some(o) = old {
                self.count(&o.bucket, false)?;
            }
            self.count(&new.bucket, true)?;
        }
        replace(
            &mut self.by_customer,
            old.and_then(|o| o.customer.as_ref()),
            new.customer.as_ref(),
        )?;
        replace(
            &mut self.by_company,
            old.and_then(|o| o.company.as_ref()),
            new.company.as_ref(),
        )?;
        let old_due = old.map_or(&[][..], |o| o.due.as_slice());
        for k in old_due.iter().filter(|k| !new.due.contains(k)) {
            self.due.remove(k.as_slice())?;
        }
        for k in new.due.iter().filter(|k| !old_due.contains(k)) {
            self.due.insert(k.as_slice(), ())?;
        }
        Ok(())
    }

    /// Counts a ticket into (`up`) or out of a queue-view bucket; an empty bucket goes.
    fn count(&mut self, bucket: &[u8], up: bool) -> R<()> {
        let count = self.buckets.get(bucket)?.map_or(0, |v| v.value());
        match (up, count) {
            (true, _) => self.buckets.insert(bucket, count + 1)?,
            (false, 0 | 1) => self.buckets.remove(bucket)?,
            (false, _) => self.buckets.insert(bucket, count - 1)?,
        };
        Ok(())
    }

    /// Checks and, if it passes, writes one change: ticket documents, indexes, articles,
    /// attachments, events. Answers the sequence number after which its events were stored;
    /// the change itself goes back to its caller, whose thread builds the receipt from it and
    /// frees it, rather than this one.
    pub fn commit(&mut self, encoded: &Encoded) -> R<StoreResult<u64>> {
        let Encoded {
            change,
            tickets,
            articles,
            events,
        } = encoded;
        let olds = match self.check(change)? {
            Ok(olds) => olds,
            Err(e) => return Ok(Err(e)),
        };
        for quota in &change.quotas {
            if let Err(e) = self.next_counter(&quota.key, 1)? {
                return Ok(Err(e));
            }
        }
        let base = match self.last_event {
            Some(last) => last,
            None => self.events.last()?.map_or(0, |(k, _)| k.value()),
        };
        let mut seq = base;
        let docs = tickets.iter().zip(articles).zip(events);
        for ((w, old), ((doc, article_docs), event_docs)) in
            change.writes.iter().zip(olds).zip(docs)
        {
            let t = &w.ticket;
            self.reindex(old.as_ref(), t)?;
            let id = keys::id(t.id);
            self.tickets.insert(id.as_slice(), doc.as_slice())?;
            if old.is_none() {
                self.numbers.insert(t.number.as_str(), id.as_slice())?;
            }
            // A new ticket has no articles yet: the range lookup cost an eighth of the
            // writer's time when most changes open tickets.
            let next = match old {
                None => 0,
                Some(_) => self
                    .articles
                    .range::<&[u8]>(
                        keys::article(t.id, 0).as_slice()
                            ..=keys::article(t.id, u32::MAX).as_slice(),
                    )?
                    .next_back()
                    .transpose()?
                    .and_then(|(k, _)| k.value().get(16..20)?.try_into().ok())
                    .map_or(0, |b| u32::from_be_bytes(b) + 1),
            };
            for ((article, doc), index) in w.articles.iter().zip(article_docs).zip(next..) {
                let key = keys::article(t.id, index);
                self.articles.insert(key.as_slice(), doc.as_slice())?;
                if let Some(mid) = &article.message_id {
                    self.message_ids.insert(mid.as_str(), key.as_slice())?;
                }
            }
            for tally in &w.tallies {
                *self.tallies.entry(tally.key.clone()).or_insert(0) += tally.delta;
            }
            for Blob { hash, data } in &w.blobs {
                if self.blobs.get(hash.0.as_str())?.is_none() {
                    self.blobs.insert(hash.0.as_str(), data.as_slice())?;
                }
            }
            for doc in event_docs {
                seq += 1;
                self.events.insert(seq, doc.as_slice())?;
                self.history
                    .insert(keys::history(t.id, seq).as_slice(), ())?;
            }
        }
        self.last_event = Some(seq);
        Ok(Ok(base))
    }
}

/// Replaces index entry `old` with `new` in `table`, leaving it alone when they are the same.
fn replace(
    table: &mut Table<'_, &'static [u8], ()>,
    old: Option<&Vec<u8>>,
    new: Option<&Vec<u8>>,
) -> R<()> {
    if old == new {
        return Ok(());
    }
    if let Some(k) = old {
        table.remove(k.as_slice())?;
    }
    if let Some(k) = new {
        table.insert(k.as_slice(), ())?;
    }
    Ok(())
}

/// A change with its documents already encoded, by the committing task rather than on the
/// one writer thread, whose time bounds every store's write throughput.
pub struct Encoded {
    change: Change,
    tickets: Vec<Vec<u8>>,
    articles: Vec<Vec<Vec<u8>>>,
    /// Encoded with `seq` 0: the store assigns it, and readers take it from the key.
    events: Vec<Vec<Vec<u8>>>,
}

impl Encoded {
    /// The receipt of this change, its events stored after sequence number `base`.
    pub fn receipt(self, base: u64) -> Receipt {
        let events = self.change.writes.into_iter().flat_map(|w| w.events);
        Receipt {
            events: events
                .zip(base + 1..)
                .map(|(event, seq)| Event { seq, ..event })
                .collect(),
        }
    }

    pub fn new(change: Change) -> StoreResult<Encoded> {
        let mut tickets = Vec::with_capacity(change.writes.len());
        let mut articles = Vec::with_capacity(change.writes.len());
        let mut events = Vec::with_capacity(change.writes.len());
        for w in &change.writes {
            tickets.push(encode(&w.ticket)?);
            articles.push(w.articles.iter().map(encode).collect::<StoreResult<_>>()?);
            events.push(w.events.iter().map(encode).collect::<StoreResult<_>>()?);
        }
        Ok(Encoded {
            change,
            tickets,
            articles,
            events,
        })
    }
}

/// An event document with the sequence number its key gives it.
fn event_at(seq: u64, doc: &[u8]) -> StoreResult<Event> {
    let mut event: Event = decode(doc, "event")?;
    event.seq = seq;
    Ok(event)
}

/// A table of a snapshot, opened on its first use: a snapshot that serves many lookups
/// opens each table once (opening one parses its definition from the table tree).
struct Opened<K: redb::Key + 'static, V: redb::Value + 'static> {
    def: TableDefinition<'static, K, V>,
    table: OnceLock<ReadOnlyTable<K, V>>,
}

impl<K: redb::Key + 'static, V: redb::Value + 'static> Opened<K, V> {
    fn new(def: TableDefinition<'static, K, V>) -> Self {
        Opened {
            def,
            table: OnceLock::new(),
        }
    }
}

/// A read snapshot.
pub struct Reader {
    txn: ReadTransaction,
    meta: Opened<&'static str, &'static [u8]>,
    counters: Opened<&'static str, u64>,
    tickets: Opened<&'static [u8], &'static [u8]>,
    numbers: Opened<&'static str, &'static [u8]>,
    articles: Opened<&'static [u8], &'static [u8]>,
    message_ids: Opened<&'static str, &'static [u8]>,
    blobs: Opened<&'static str, &'static [u8]>,
    events: Opened<u64, &'static [u8]>,
    history: Opened<&'static [u8], ()>,
    buckets: Opened<&'static [u8], u64>,
    view: Opened<&'static [u8], ()>,
    by_customer: Opened<&'static [u8], ()>,
    by_company: Opened<&'static [u8], ()>,
    due: Opened<&'static [u8], ()>,
    customers: Opened<&'static str, &'static [u8]>,
    customer_emails: Opened<&'static str, &'static str>,
    cursors: Opened<&'static str, u64>,
    accounts: Opened<&'static str, &'static [u8]>,
    faq: Opened<&'static [u8], &'static [u8]>,
}

fn missing_ok<T>(r: Result<T, redb::TableError>) -> StoreResult<Option<T>> {
    match r {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(backend(e)),
    }
}

impl Reader {
    pub fn new(txn: ReadTransaction) -> Reader {
        Reader {
            txn,
            meta: Opened::new(META),
            counters: Opened::new(COUNTERS),
            tickets: Opened::new(TICKETS),
            numbers: Opened::new(NUMBERS),
            articles: Opened::new(ARTICLES),
            message_ids: Opened::new(MESSAGE_IDS),
            blobs: Opened::new(BLOBS),
            events: Opened::new(EVENTS),
            history: Opened::new(HISTORY),
            buckets: Opened::new(BUCKETS),
            view: Opened::new(VIEW),
            by_customer: Opened::new(BY_CUSTOMER),
            by_company: Opened::new(BY_COMPANY),
            due: Opened::new(DUE),
            customers: Opened::new(CUSTOMERS),
            customer_emails: Opened::new(CUSTOMER_EMAILS),
            cursors: Opened::new(CURSORS),
            accounts: Opened::new(ACCOUNTS),
            faq: Opened::new(FAQ),
        }
    }

    /// The search terms of `ticket`, from its articles (the analyzer decides them; the
    /// tantivy index beside the file is all that keeps them).
    pub fn search_doc(&self, ticket: &Ticket) -> StoreResult<SearchDoc> {
        Ok(SearchDoc::of(ticket, &self.articles(ticket.id)?))
    }

    /// The FAQ's reads.
    pub fn faq(
        &self,
    ) -> StoreResult<crate::faq::Faq<'_, ReadOnlyTable<&'static [u8], &'static [u8]>>> {
        Ok(crate::faq::Faq(self.table(&self.faq)?))
    }

    fn table<'a, K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        opened: &'a Opened<K, V>,
    ) -> StoreResult<&'a ReadOnlyTable<K, V>> {
        if let Some(table) = opened.table.get() {
            return Ok(table);
        }
        let table = missing_ok(self.txn.open_table(opened.def))?.ok_or_else(|| {
            StoreError::Backend(format!("table {} is missing", opened.def.name()))
        })?;
        // Another thread sharing this snapshot may have opened it meanwhile: either is fine.
        let _ = opened.table.set(table);
        opened
            .table
            .get()
            .ok_or_else(|| StoreError::Backend(format!("table {} is missing", opened.def.name())))
    }

    /// Entry 0 of a test's table, straight from the snapshot.
    #[cfg(test)]
    pub fn probe(&self, def: TableDefinition<u64, u64>) -> Option<u64> {
        let table = self.txn.open_table(def).ok()?;
        let value = table.get(0).ok()??.value();
        Some(value)
    }

    pub fn config_version(&self) -> StoreResult<Option<u64>> {
        Ok(self
            .table(&self.meta)?
            .get(CONFIG_VERSION)
            .map_err(backend)?
            .and_then(|v| v.value().try_into().ok().map(u64::from_le_bytes)))
    }

    pub fn account(&self, login: &str) -> StoreResult<Option<StoredAccount>> {
        let Some(value) = self.table(&self.accounts)?.get(login).map_err(backend)? else {
            return Ok(None);
        };
        let (version, doc) = versioned(value.value())?;
        Ok(Some(StoredAccount {
            version,
            account: decode(doc, "account")?,
        }))
    }

    pub fn config(&self) -> StoreResult<Option<StoredConfig>> {
        let Some(version) = self.config_version()? else {
            return Ok(None);
        };
        let meta = self.table(&self.meta)?;
        let doc = meta
            .get(CONFIG)
            .map_err(backend)?
            .ok_or_else(|| StoreError::Backend("configuration version without document".into()))?;
        Ok(Some(StoredConfig {
            version,
            config: decode(doc.value(), "configuration")?,
        }))
    }

    pub fn customer(&self, login: &str) -> StoreResult<Option<CustomerUser>> {
        self.table(&self.customers)?
            .get(login)
            .map_err(backend)?
            .map(|v| decode(v.value(), "customer"))
            .transpose()
    }

    pub fn customers(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<CustomerUser>> {
        use std::ops::Bound;
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.table(&self.customers)?
            .range::<&str>((from, Bound::Unbounded))
            .map_err(backend)?
            .take(limit)
            .map(|entry| decode(entry.map_err(backend)?.1.value(), "customer"))
            .collect()
    }

    pub fn customer_by_email(&self, email: &str) -> StoreResult<Option<CustomerUser>> {
        let login = self
            .table(&self.customer_emails)?
            .get(email)
            .map_err(backend)?
            .map(|v| v.value().to_string());
        match login {
            Some(login) => self.customer(&login),
            None => Ok(None),
        }
    }

    pub fn ticket(&self, id: TicketId) -> StoreResult<Option<Ticket>> {
        self.table(&self.tickets)?
            .get(keys::id(id).as_slice())
            .map_err(backend)?
            .map(|v| decode(v.value(), "ticket"))
            .transpose()
    }

    fn tickets(&self, ids: impl IntoIterator<Item = TicketId>) -> StoreResult<Vec<Ticket>> {
        let table = self.table(&self.tickets)?;
        ids.into_iter()
            .filter_map(|id| match table.get(keys::id(id).as_slice()) {
                Ok(Some(v)) => Some(decode(v.value(), "ticket")),
                Ok(None) => None,
                Err(e) => Some(Err(backend(e))),
            })
            .collect()
    }

    pub fn ticket_by_number(&self, number: &TicketNumber) -> StoreResult<Option<Ticket>> {
        let id = self
            .table(&self.numbers)?
            .get(number.as_str())
            .map_err(backend)?
            .and_then(|v| keys::id_at_end(v.value()));
        match id {
            Some(id) => self.ticket(id),
            None => Ok(None),
        }
    }

    pub fn article_by_message_id(&self, message_id: &str) -> StoreResult<Option<Article>> {
        let key = self
            .table(&self.message_ids)?
            .get(message_id)
            .map_err(backend)?
            .map(|v| v.value().to_vec());
        let Some(key) = key else { return Ok(None) };
        self.table(&self.articles)?
            .get(key.as_slice())
            .map_err(backend)?
            .map(|v| decode(v.value(), "article"))
            .transpose()
    }

    pub fn articles(&self, ticket: TicketId) -> StoreResult<Vec<Article>> {
        let lo = keys::article(ticket, 0);
        let hi = keys::article(ticket, u32::MAX);
        self.table(&self.articles)?
            .range::<&[u8]>(lo.as_slice()..=hi.as_slice())
            .map_err(backend)?
            .map(|entry| {
                let (_, v) = entry.map_err(backend)?;
                decode(v.value(), "article")
            })
            .collect()
    }

    pub fn blob(&self, hash: &ContentHash) -> StoreResult<Option<Vec<u8>>> {
        Ok(self
            .table(&self.blobs)?
            .get(hash.0.as_str())
            .map_err(backend)?
            .map(|v| v.value().to_vec()))
    }

    pub fn history(&self, ticket: TicketId) -> StoreResult<Vec<Event>> {
        let lo = keys::history(ticket, 0);
        let hi = keys::history(ticket, u64::MAX);
        let events = self.table(&self.events)?;
        self.table(&self.history)?
            .range::<&[u8]>(lo.as_slice()..=hi.as_slice())
            .map_err(backend)?
            .map(|entry| {
                let (k, _) = entry.map_err(backend)?;
                let seq = k
                    .value()
                    .get(16..24)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes)
                    .ok_or_else(|| StoreError::Backend("corrupt history key".into()))?;
                let doc = events
                    .get(seq)
                    .map_err(backend)?
                    .ok_or_else(|| StoreError::Backend(format!("event {seq} is missing")))?;
                event_at(seq, doc.value())
            })
            .collect()
    }

    pub fn last_seq(&self) -> StoreResult<u64> {
        Ok(self
            .table(&self.events)?
            .last()
            .map_err(backend)?
            .map_or(0, |(k, _)| k.value()))
    }

    pub fn events_since(&self, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        if after == u64::MAX {
            return Ok(Vec::new());
        }
        self.table(&self.events)?
            .range(after + 1..)
            .map_err(backend)?
            .take(limit)
            .map(|entry| {
                let (k, v) = entry.map_err(backend)?;
                event_at(k.value(), v.value())
            })
            .collect()
    }

    pub fn meta_value(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self
            .table(&self.meta)?
            .get(key)
            .map_err(backend)?
            .map(|v| v.value().to_vec()))
    }

    pub fn cursor(&self, consumer: &str) -> StoreResult<u64> {
        Ok(self
            .table(&self.cursors)?
            .get(consumer)
            .map_err(backend)?
            .map_or(0, |v| v.value()))
    }

    pub fn counters_between(&self, start: &str, end: &str) -> StoreResult<Vec<(String, i64)>> {
        if start >= end {
            return Ok(Vec::new());
        }
        self.table(&self.counters)?
            .range::<&str>(start..end)
            .map_err(backend)?
            .map(|entry| {
                let (k, v) = entry.map_err(backend)?;
                Ok((k.value().to_string(), v.value() as i64))
            })
            .collect()
    }

    pub fn counter(&self, key: &str) -> StoreResult<u64> {
        Ok(self
            .table(&self.counters)?
            .get(key)
            .map_err(backend)?
            .map_or(0, |v| v.value()))
    }

    /// Up to `take` tickets, in page order, after `q.after` in the index ranges of
    /// `prefixes` that pass the query's remaining filters. The ranges are merged by page key,
    /// so a ticket is read and decoded only when it is the next one of the page: a view over
    /// many queues and states reads about a page of tickets, not a page per bucket.
    fn scan(
        &self,
        table: &ReadOnlyTable<&'static [u8], ()>,
        tickets: &ReadOnlyTable<&'static [u8], &'static [u8]>,
        prefixes: &[Vec<u8>],
        q: &TicketQuery,
        take: usize,
        out: &mut Vec<(PageKey, Ticket)>,
    ) -> StoreResult<()> {
        let mut ranges = Vec::with_capacity(prefixes.len());
        for prefix in prefixes {
            let start = match &q.after {
                Some(after) => Bound::Excluded(keys::with_page(prefix, after)),
                None => Bound::Included(prefix.clone()),
            };
            let end = Bound::Excluded(keys::after_prefix(prefix));
            let range = (
                start.as_ref().map(Vec::as_slice),
                end.as_ref().map(Vec::as_slice),
            );
            ranges.push(table.range::<&[u8]>(range).map_err(backend)?);
        }
        let next_key =
            |range: &mut redb::Range<'_, &'static [u8], ()>| -> StoreResult<Option<PageKey>> {
                match range.next() {
                    None => Ok(None),
                    Some(entry) => {
                        let (k, _) = entry.map_err(backend)?;
                        keys::page_at_end(k.value())
                            .map(Some)
                            .ok_or_else(|| StoreError::Backend("corrupt index key".into()))
                    }
                }
            };
        let mut heads = std::collections::BinaryHeap::new();
        for (i, range) in ranges.iter_mut().enumerate() {
            if let Some(key) = next_key(range)? {
                heads.push(std::cmp::Reverse((key, i)));
            }
        }
        let mut found = 0;
        while let Some(std::cmp::Reverse((key, i))) = heads.pop() {
            if let Some(next) = next_key(&mut ranges[i])? {
                heads.push(std::cmp::Reverse((next, i)));
            }
            let Some(doc) = tickets.get(keys::id(key.id).as_slice()).map_err(backend)? else {
                continue;
            };
            let ticket: Ticket = decode(doc.value(), "ticket")?;
            if q.matches(&ticket) {
                out.push((key, ticket));
                found += 1;
                if found >= take {
                    break;
                }
            }
        }
        Ok(())
    }

    pub fn query(&self, q: &TicketQuery) -> StoreResult<TicketPage> {
        let tickets = self.table(&self.tickets)?;
        let take = q.limit.saturating_add(1);
        let mut found: Vec<(PageKey, Ticket)> = Vec::new();
        match &q.customer {
            Some(scope) => {
                let own = self.table(&self.by_customer)?;
                let prefix = [keys::owner_prefix(&scope.login)];
                self.scan(own, tickets, &prefix, q, take, &mut found)?;
                if let Some(company) = &scope.company {
                    let by_company = self.table(&self.by_company)?;
                    let prefix = [keys::owner_prefix(company)];
                    self.scan(by_company, tickets, &prefix, q, take, &mut found)?;
                }
            }
            None => {
                let view = self.table(&self.view)?;
                let buckets: Vec<Vec<u8>> = self
                    .table(&self.buckets)?
                    .iter()
                    .map_err(backend)?
                    .filter_map(|entry| {
                        let (k, _) = entry.ok()?;
                        let key = k.value().to_vec();
                        let (archived, queue, state_type) = keys::bucket_of(&key)?;
                        let wanted = q.archived.is_none_or(|a| a == archived)
                            && q.queues.as_ref().is_none_or(|qs| qs.contains(&queue))
                            && q.state_types
                                .as_ref()
                                .is_none_or(|s| s.contains(&state_type));
                        wanted.then_some(key)
                    })
                    .collect();
                self.scan(view, tickets, &buckets, q, take, &mut found)?;
            }
        }
        found.sort_by_key(|(k, _)| *k);
        found.dedup_by_key(|(k, _)| *k);
        let more = found.len() > q.limit;
        found.truncate(q.limit);
        Ok(TicketPage {
            next: if more {
                found.last().map(|(k, _)| *k)
            } else {
                None
            },
            tickets: found.into_iter().map(|(_, t)| t).collect(),
        })
    }

    pub fn due(
        &self,
        kind: DueKind,
        until: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Ticket>> {
        let lo = vec![keys::due_index(kind)];
        let hi = keys::due(kind, until, TicketId(uuid::Uuid::max()));
        let ids: Vec<TicketId> = self
            .table(&self.due)?
            .range::<&[u8]>(lo.as_slice()..=hi.as_slice())
            .map_err(backend)?
            .take(limit)
            .map(|entry| {
                let (k, _) = entry.map_err(backend)?;
                keys::id_at_end(k.value())
                    .ok_or_else(|| StoreError::Backend("corrupt due key".into()))
            })
            .collect::<StoreResult<_>>()?;
        self.tickets(ids)
    }

    pub fn next_due(&self, kind: DueKind) -> StoreResult<Option<DateTime<Utc>>> {
        let lo = vec![keys::due_index(kind)];
        let hi = vec![keys::due_index(kind) + 1];
        let first = self
            .table(&self.due)?
            .range::<&[u8]>(lo.as_slice()..hi.as_slice())
            .map_err(backend)?
            .next()
            .transpose()
            .map_err(backend)?;
        Ok(first.and_then(|(k, _)| keys::time_of(k.value().get(1..)?)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;
    use ticketcore::Config;
    use ticketcore::testkit::strategies;

    use super::{decode, encode};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(strategies::cases(64)))]

        /// Configurations carry the most serde shapes (maps, nested enums, calendars,
        /// durations): they read back from either format as they were.
        #[test]
        fn a_configuration_reads_back_from_either_format(config in strategies::config()) {
            for doc in [encode(&config).unwrap(), serde_json::to_vec(&config).unwrap()] {
                prop_assert_eq!(&decode::<Config>(&doc, "configuration").unwrap(), &config);
            }
        }
    }

    #[test]
    fn what_is_neither_format_is_a_clear_error() {
        for bytes in [&b""[..], b"{not json", b"\xc1", b"\x81\xa2id"] {
            let e = decode::<Config>(bytes, "configuration")
                .unwrap_err()
                .to_string();
            assert!(e.contains("corrupt configuration"), "{e}");
        }
    }
}

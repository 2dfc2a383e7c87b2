//! A whole desk as JSON lines, so it moves between backends (from redb to PostgreSQL when it
//! outgrows one machine). One line per record keeps memory flat however large the desk:
//! first the configuration, then the customers, then the sign-in accounts (hashes only, as
//! stored), then each ticket with its articles, attachment bytes and history, then each FAQ
//! entry with every version and its attachment bytes.
//!
//! Export reads through the Desk as the system; import restores into an empty store the
//! caller opened, with the store's own writes (a restore keeps ids, numbers and history as
//! they were, which no actor's operation could).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use ticketcore::acl::CustomerUser;
use ticketcore::article::{Blob, ContentHash};
use ticketcore::{
    Account, Actor, Article, Change, Config, Desk, Event, FaqEntry, Store, StoreError, Ticket,
    TicketQuery, TicketWrite,
};

use ticketcore_mail::Outbox;

use crate::failure::Failure;

/// The export format's version. Version 2 added the sign-in accounts, 3 the FAQ; `import`
/// reads 1 to 3.
const FORMAT: u32 = 3;
/// Tickets per commit while importing.
const BATCH: usize = 256;

/// One line of an export.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Record {
    /// The first line.
    Desk { format: u32, config: Box<Config> },
    /// A customer user.
    Customer { customer: CustomerUser },
    /// A sign-in account: password hash, throttling, API token hashes.
    Account { account: Account },
    /// A ticket with everything that belongs to it.
    Ticket {
        ticket: Box<Ticket>,
        articles: Vec<Article>,
        /// Attachment bytes by content hash, base64.
        blobs: BTreeMap<String, String>,
        history: Vec<Event>,
    },
    /// An FAQ entry with every version, oldest first.
    Faq {
        versions: Vec<FaqEntry>,
        /// Attachment bytes of every version by content hash, base64.
        blobs: BTreeMap<String, String>,
    },
}

fn write(out: &mut impl Write, record: &Record) -> Result<(), Failure> {
    serde_json::to_writer(&mut *out, record)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Every ticket `desk` holds, archived or not, oldest first (so an import recreates the
/// history in about the order it happened).
async fn all_tickets(desk: &Desk) -> Result<Vec<Ticket>, Failure> {
    let mut query = TicketQuery {
        archived: None,
        limit: 500,
        ..TicketQuery::default()
    };
    let mut all = Vec::new();
    loop {
        let page = desk.queue_view(&Actor::System, query.clone()).await?;
        all.extend(page.tickets);
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    all.sort_by_key(|t| (t.created, t.id));
    Ok(all)
}

/// Writes the whole of `desk` to `out` as JSON lines, reading it as the system.
pub async fn export(desk: &Desk, out: &mut impl Write) -> Result<(), Failure> {
    let system = &Actor::System;
    let config = desk.config().await?;
    let list = all_tickets(desk).await?;
    let header = Record::Desk {
        format: FORMAT,
        config: Box::new((*config).clone()),
    };
    write(out, &header)?;
    let mut logins: BTreeSet<String> = config.agents.iter().map(|a| a.login.clone()).collect();
    let mut after: Option<String> = None;
    loop {
        let page = desk.customers(system, after.as_deref(), 500).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.login.clone());
        for customer in page {
            logins.insert(customer.login.clone());
            write(out, &Record::Customer { customer })?;
        }
    }
    for login in &logins {
        if let Some(stored) = desk.account(system, login).await? {
            write(
                out,
                &Record::Account {
                    account: stored.account,
                },
            )?;
        }
    }
    for ticket in list {
        let articles = desk.articles(system, ticket.id).await?;
        let mut blobs = BTreeMap::new();
        for hash in articles
            .iter()
            .flat_map(|a| &a.attachments)
            .map(|f| &f.hash)
        {
            if blobs.contains_key(&hash.0) {
                continue;
            }
            let data = desk
                .attachment(system, ticket.id, hash)
                .await
                .map_err(|e| {
                    Failure::failed(format!(
                        "ticket {}: attachment {}: {e}",
                        ticket.number, hash.0
                    ))
                })?;
            blobs.insert(hash.0.clone(), BASE64.encode(data));
        }
        let history = desk.history(system, ticket.id).await?;
        let record = Record::Ticket {
            ticket: Box::new(ticket),
            articles,
            blobs,
            history,
        };
        write(out, &record)?;
    }
    export_faq(desk, out).await?;
    out.flush()?;
    Ok(())
}

/// Writes every FAQ entry with its versions and their attachments.
async fn export_faq(desk: &Desk, out: &mut impl Write) -> Result<(), Failure> {
    let system = Some(&Actor::System);
    let mut after = None;
    loop {
        let page = desk.faq_list(system, None, after, 200).await?;
        for hit in &page.hits {
            let number = hit.entry.number;
            let versions = desk.faq_versions(&Actor::System, number).await?;
            let mut blobs = BTreeMap::new();
            for hash in versions
                .iter()
                .flat_map(|v| &v.attachments)
                .map(|a| &a.hash)
            {
                if blobs.contains_key(&hash.0) {
                    continue;
                }
                let data = desk
                    .faq_attachment(system, number, hash)
                    .await
                    .map_err(|e| {
                        Failure::failed(format!("FAQ entry {number}: attachment {}: {e}", hash.0))
                    })?;
                blobs.insert(hash.0.clone(), BASE64.encode(data));
            }
            write(out, &Record::Faq { versions, blobs })?;
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(()),
        }
    }
}

/// A ticket of the export as a creation in the target store.
fn creation(
    ticket: Ticket,
    articles: Vec<Article>,
    blobs: BTreeMap<String, String>,
    history: Vec<Event>,
) -> Result<TicketWrite, String> {
    let blobs = decoded(blobs)?;
    let events: Vec<Event> = history.into_iter().map(|e| Event { seq: 0, ..e }).collect();
    Ok(TicketWrite {
        tallies: ticketcore::stats::tallies(None, &ticket, &events),
        ticket,
        expected_version: None,
        articles,
        blobs,
        events,
    })
}

/// Attachment bytes from base64, each checked against its hash.
fn decoded(blobs: BTreeMap<String, String>) -> Result<Vec<Blob>, String> {
    blobs
        .into_iter()
        .map(|(hash, data)| {
            let data = BASE64
                .decode(data)
                .map_err(|e| format!("attachment {hash}: {e}"))?;
            let hash = ContentHash(hash);
            if ContentHash::of(&data) != hash {
                return Err(format!(
                    "attachment {}: bytes do not match the hash",
                    hash.0
                ));
            }
            Ok(Blob { hash, data })
        })
        .collect()
}

/// Stores an FAQ entry's versions in order, each with the attachment bytes it brought.
async fn restore_faq(
    store: &dyn Store,
    versions: Vec<FaqEntry>,
    blobs: BTreeMap<String, String>,
) -> Result<u64, String> {
    let mut blobs = decoded(blobs)?;
    let mut number = 0;
    for version in versions {
        let (brought, rest) = blobs
            .into_iter()
            .partition(|b| version.attachments.iter().any(|a| a.hash == b.hash));
        blobs = rest;
        let brought: Vec<Blob> = brought;
        store.save_faq(&version, &brought).await.map_err(|e| {
            format!(
                "FAQ entry {} version {}: {e}",
                version.number, version.version
            )
        })?;
        number = version.number;
    }
    Ok(number)
}

/// Commits a batch of creations; `lines` are their line numbers for messages.
async fn commit(
    store: &dyn Store,
    batch: &mut Vec<(usize, TicketWrite)>,
    last_seq: &mut u64,
) -> Result<(), Failure> {
    let (lines, writes): (Vec<usize>, Vec<TicketWrite>) = batch.drain(..).unzip();
    let changes = writes
        .into_iter()
        .map(|w| Change {
            writes: vec![w],
            quotas: Vec::new(),
        })
        .collect();
    let results = store.commit_batch(changes).await?;
    for (line, result) in lines.into_iter().zip(results) {
        match result {
            Ok(receipt) => {
                if let Some(seq) = receipt.events.iter().map(|e| e.seq).max() {
                    *last_seq = (*last_seq).max(seq);
                }
            }
            Err(StoreError::Duplicate(what)) => {
                return Err(Failure::failed(format!(
                    "line {line}: duplicate {what}: the store already holds it"
                )));
            }
            Err(e) => return Err(Failure::failed(format!("line {line}: {e}"))),
        }
    }
    Ok(())
}

/// What an import brought in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Imported {
    /// Tickets.
    pub tickets: usize,
    /// Customer users.
    pub customers: usize,
    /// Sign-in accounts.
    pub accounts: usize,
    /// FAQ entries.
    pub faq: usize,
}

/// Restores an export read from `reader` (called `name` in messages) into `store`, which must
/// hold no desk yet.
pub async fn import(
    store: Arc<dyn Store>,
    reader: impl BufRead,
    name: &str,
) -> Result<Imported, Failure> {
    if store.config().await?.is_some() {
        return Err(Failure::failed(
            "the target store already holds a desk; import into an empty store",
        ));
    }
    let desk = Desk::new(store.clone());
    let mut config: Option<Config> = None;
    let mut batch = Vec::with_capacity(BATCH);
    let mut counters: BTreeMap<String, u64> = BTreeMap::new();
    let mut imported = Imported::default();
    let mut last_seq = 0;
    for (index, line) in reader.lines().enumerate() {
        let n = index + 1;
        let line = line.map_err(|e| Failure::failed(format!("{name}: line {n}: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let record: Record = serde_json::from_str(&line).map_err(|e| {
            Failure::failed(format!(
                "{name}: line {n}: not a ticketctl export record: {e}"
            ))
        })?;
        match (record, &config) {
            (Record::Desk { format, config: c }, None) => {
                if !(1..=FORMAT).contains(&format) {
                    return Err(Failure::failed(format!(
                        "{name}: export format {format}, but this ticketctl reads format {FORMAT}"
                    )));
                }
                desk.configure((*c).clone()).await?;
                config = Some(*c);
            }
            (_, None) => {
                return Err(Failure::failed(format!(
                    "{name}: line {n}: an export starts with the desk's configuration"
                )));
            }
            (Record::Desk { .. }, Some(_)) => {
                return Err(Failure::failed(format!(
                    "{name}: line {n}: a second configuration"
                )));
            }
            (Record::Customer { customer }, Some(_)) => {
                store.put_customer(&customer).await?;
                imported.customers += 1;
            }
            (Record::Account { account }, Some(_)) => {
                store.save_account(&account, 0).await?;
                imported.accounts += 1;
            }
            (Record::Faq { versions, blobs }, Some(_)) => {
                let number = restore_faq(store.as_ref(), versions, blobs)
                    .await
                    .map_err(|e| Failure::failed(format!("{name}: line {n}: {e}")))?;
                let highest = counters
                    .entry(ticketcore::faq::FAQ_COUNTER.into())
                    .or_default();
                *highest = (*highest).max(number);
                imported.faq += 1;
            }
            (
                Record::Ticket {
                    ticket,
                    articles,
                    blobs,
                    history,
                },
                Some(c),
            ) => {
                if let Some((key, value)) = c.numbers.counter_of(&ticket.number) {
                    let highest = counters.entry(key).or_default();
                    *highest = (*highest).max(value);
                }
                let write = creation(*ticket, articles, blobs, history)
                    .map_err(|e| Failure::failed(format!("{name}: line {n}: {e}")))?;
                batch.push((n, write));
                imported.tickets += 1;
                if batch.len() == BATCH {
                    commit(store.as_ref(), &mut batch, &mut last_seq).await?;
                }
            }
        }
    }
    if config.is_none() {
        return Err(Failure::failed(format!(
            "{name}: empty, not a ticketctl export"
        )));
    }
    commit(store.as_ref(), &mut batch, &mut last_seq).await?;
    // New numbers continue after the imported ones, and the imported answers were sent
    // by the old desk: the outbox starts after them.
    for (key, highest) in counters {
        let next = store.next_counter(&key, 0).await?;
        if next <= highest {
            store.next_counter(&key, highest + 1 - next).await?;
        }
    }
    store.save_cursor(Outbox::CONSUMER, last_seq).await?;
    Ok(imported)
}

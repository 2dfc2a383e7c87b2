//! `ticketctl export` / `import`: a whole desk as JSON lines, so it moves between backends
//! (from redb to PostgreSQL when it outgrows one machine). One line per record keeps memory
//! flat however large the desk: first the configuration, then customers, then each ticket
//! with its articles, attachment bytes and history.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use ticketcore::acl::CustomerUser;
use ticketcore::article::{Blob, ContentHash};
use ticketcore::{
    Actor, Article, Change, Config, Event, Store, StoreError, Ticket, TicketQuery, TicketWrite,
};

use ticketcore_mail::Outbox;

use crate::failure::Failure;
use crate::open::Access;
use crate::view::tickets;

/// The export format's version; `import` refuses others.
const FORMAT: u32 = 1;
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
    /// A ticket with everything that belongs to it.
    Ticket {
        ticket: Box<Ticket>,
        articles: Vec<Article>,
        /// Attachment bytes by content hash, base64.
        blobs: BTreeMap<String, String>,
        history: Vec<Event>,
    },
}

fn write(out: &mut impl Write, record: &Record) -> Result<(), Failure> {
    serde_json::to_writer(&mut *out, record)?;
    out.write_all(b"\n")?;
    Ok(())
}

pub async fn export(access: &Access) -> Result<u8, Failure> {
    let desk = access.desk().await?;
    let store = desk.store();
    let config = desk.config().await?;
    let all = TicketQuery {
        archived: None,
        ..TicketQuery::default()
    };
    let mut list = tickets(&desk, &Actor::System, all, None).await?;
    // Oldest first, so an import recreates the history in about the order it happened.
    list.sort_by_key(|t| (t.created, t.id));

    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let header = Record::Desk {
        format: FORMAT,
        config: Box::new((*config).clone()),
    };
    write(&mut out, &header)?;
    let logins: BTreeSet<&str> = list.iter().filter_map(|t| t.customer.as_deref()).collect();
    for login in logins {
        if let Some(customer) = store.customer(login).await? {
            write(&mut out, &Record::Customer { customer })?;
        }
    }
    for ticket in list {
        let articles = store.articles(ticket.id).await?;
        let mut blobs = BTreeMap::new();
        for hash in articles
            .iter()
            .flat_map(|a| &a.attachments)
            .map(|f| &f.hash)
        {
            if blobs.contains_key(&hash.0) {
                continue;
            }
            let data = store.blob(hash).await?.ok_or_else(|| {
                Failure::failed(format!(
                    "ticket {}: attachment {} is missing from the store",
                    ticket.number, hash.0
                ))
            })?;
            blobs.insert(hash.0.clone(), BASE64.encode(data));
        }
        let history = store.history(ticket.id).await?;
        let record = Record::Ticket {
            ticket: Box::new(ticket),
            articles,
            blobs,
            history,
        };
        write(&mut out, &record)?;
    }
    out.flush()?;
    Ok(0)
}

/// A ticket of the export as a creation in the target store.
fn creation(
    ticket: Ticket,
    articles: Vec<Article>,
    blobs: BTreeMap<String, String>,
    history: Vec<Event>,
) -> Result<TicketWrite, String> {
    let blobs = blobs
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
        .collect::<Result<Vec<_>, String>>()?;
    let events = history.into_iter().map(|e| Event { seq: 0, ..e }).collect();
    Ok(TicketWrite {
        ticket,
        expected_version: None,
        articles,
        blobs,
        events,
    })
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

pub async fn import(access: &Access, file: Option<&Path>) -> Result<u8, Failure> {
    let name = file.map_or("stdin".to_string(), |f| f.display().to_string());
    let reader: Box<dyn BufRead> = match file {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path)
                .map_err(|e| Failure::failed(format!("cannot read {name}: {e}")))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let desk = access.desk().await?;
    let store = desk.store().clone();
    if store.config().await?.is_some() {
        return Err(Failure::failed(
            "the target store already holds a desk; import into an empty store",
        ));
    }
    let mut config: Option<Config> = None;
    let mut batch = Vec::with_capacity(BATCH);
    let mut counters: BTreeMap<String, u64> = BTreeMap::new();
    let (mut customers, mut imported, mut last_seq) = (0, 0, 0);
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
                if format != FORMAT {
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
                customers += 1;
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
                imported += 1;
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
    println!("imported {imported} tickets and {customers} customers from {name}");
    Ok(0)
}

//! Durability: a child process commits a stream of tickets and reports each commit once it
//! has returned; the parent kills it with SIGKILL at a random moment, reopens the database and
//! checks that every reported ticket is there with all its articles and that no half-written
//! ticket exists. Twenty kills per run (`TICKETCORE_CRASH_KILLS` to change).
//!
//! One binary, two roles: with `TICKETCORE_REDB_CRASH_CHILD=<path>` it is the writer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use ticketcore::testkit::{desk_with, fixture_config};
use ticketcore::{Actor, Channel, EventKind, Message, NewAttachment, NewTicket, Store};
use ticketcore_redb::RedbStore;

const CHILD: &str = "TICKETCORE_REDB_CRASH_CHILD";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    match std::env::var(CHILD) {
        Ok(path) => runtime.block_on(child(path)),
        Err(_) => {
            // Be quiet when cargo lists tests.
            if std::env::args().any(|a| a == "--list") {
                return;
            }
            let (kills, tickets) = runtime.block_on(parent());
            println!("crash: {kills} SIGKILLs, {tickets} committed tickets all intact");
            let interrupted = runtime.block_on(interrupted_creation());
            println!("crash: {interrupted} SIGKILLs while creating a new database, each reopened");
        }
    }
}

/// The writer: four tasks creating tickets with an attachment, then noting on them, each
/// reporting "<number> <articles>" after its commit returned.
async fn child(path: String) {
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(&path).expect("open"));
    let seed = std::process::id() as u64;
    let (desk, _) = desk_with(store, fixture_config(), seed).await;
    let desk = Arc::new(desk);
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let mut tasks = Vec::new();
    for task in 0..4 {
        let (desk, out) = (desk.clone(), out.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                let mut message = Message::text(format!("request {task}/{i}"));
                message.attachments = vec![NewAttachment {
                    name: "scan.bin".into(),
                    content_type: "application/octet-stream".into(),
                    inline: false,
                    data: vec![(i % 251) as u8; 4096 + i % 1000],
                }];
                let input = NewTicket::new(
                    "Support",
                    format!("crash {task}/{i}"),
                    Channel::Web,
                    message,
                )
                .for_customer("karla");
                let t = desk
                    .create_ticket(&Actor::System, input)
                    .await
                    .expect("create")
                    .ticket;
                report(&out, &t.number.to_string(), 1);
                desk.note(
                    &Actor::agent("anna"),
                    t.id,
                    Message::text("noted"),
                    false,
                    &[],
                )
                .await
                .expect("note");
                report(&out, &t.number.to_string(), 2);
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
}

fn report(out: &std::sync::Mutex<std::io::Stdout>, number: &str, articles: usize) {
    let mut out = out.lock().unwrap();
    writeln!(out, "{number} {articles}").unwrap();
    out.flush().unwrap();
}

/// Kills the writer within its first milliseconds, while it creates a new database file, at
/// twenty different moments; the file must then be absent or open cleanly.
async fn interrupted_creation() -> u32 {
    let dir = tempfile::tempdir().unwrap();
    let mut kills = 0;
    for delay in (0..40).step_by(2) {
        let path = dir.path().join(format!("new-{delay}.redb"));
        ticketcore::testkit::killed_child(CHILD, &path, Duration::from_millis(delay));
        kills += 1;
        if path.exists() {
            let store = RedbStore::open(&path)
                .unwrap_or_else(|e| panic!("reopen after a kill {delay} ms into creation: {e}"));
            store.events_since(0, 10).await.unwrap();
        }
    }
    kills
}

async fn parent() -> (u32, usize) {
    let kills: u32 = std::env::var("TICKETCORE_CRASH_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.redb");
    let mut promised: BTreeMap<String, usize> = BTreeMap::new();
    for kill in 0..kills {
        // Kill at varying moments, some early (during open/configure), most mid-stream.
        let delay = Duration::from_millis(40 + (u64::from(kill) * 7919) % 400);
        let lines = ticketcore::testkit::killed_child(CHILD, &path, delay);
        for line in &lines {
            let mut parts = line.split(' ');
            let (Some(number), Some(articles)) = (parts.next(), parts.next()) else {
                continue;
            };
            let Ok(articles) = articles.parse::<usize>() else {
                continue;
            };
            let entry = promised.entry(number.to_string()).or_default();
            *entry = (*entry).max(articles);
        }
        verify(&path, &promised, kill).await;
    }
    assert!(
        promised.len() > 20,
        "the child committed only {} tickets in {kills} runs",
        promised.len()
    );
    (kills, promised.len())
}

/// Every promised ticket is there with at least its promised articles; every stored ticket is
/// whole: findable by number, in the queue view once, its articles matching its history.
async fn verify(path: &std::path::Path, promised: &BTreeMap<String, usize>, kill: u32) {
    let store = RedbStore::open(path).unwrap_or_else(|e| panic!("reopen after kill {kill}: {e}"));
    let all = ticketcore::testkit::all_tickets(&store).await;
    let mut numbers = BTreeSet::new();
    for t in &all {
        assert!(
            numbers.insert(t.number.to_string()),
            "ticket twice in the view"
        );
        let by_number = store.ticket_by_number(&t.number).await.unwrap();
        assert_eq!(by_number.as_ref(), Some(t));
        let articles = store.articles(t.id).await.unwrap();
        let history = store.history(t.id).await.unwrap();
        let article_events = history
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    EventKind::WebRequestCustomer { .. } | EventKind::AddNote { .. }
                )
            })
            .count();
        assert_eq!(
            articles.len(),
            article_events,
            "ticket {} is half-written",
            t.number
        );
        for a in &articles {
            for x in &a.attachments {
                let blob = store
                    .blob(&x.hash)
                    .await
                    .unwrap()
                    .expect("attachment stored");
                assert_eq!(blob.len() as u64, x.size);
            }
        }
    }
    for (number, articles) in promised {
        let n = ticketcore::TicketNumber::from_stored(number.clone());
        let t = store
            .ticket_by_number(&n)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("committed ticket {number} lost after kill {kill}"));
        let stored = store.articles(t.id).await.unwrap().len();
        assert!(
            stored >= *articles,
            "ticket {number}: {stored} of {articles} articles"
        );
    }
    // The search index, killed along with its writer, has caught up: every committed ticket
    // is found by its words, and every committed note by its word.
    let find = |word: &str| {
        let store = &store;
        let term = ticketcore::analyzer::term(word).expect("a term");
        async move {
            let mut found = BTreeSet::new();
            let mut query = ticketcore::SearchQuery {
                all: vec![vec![term]],
                internal: true,
                limit: 500,
                ..ticketcore::SearchQuery::default()
            };
            loop {
                let page = store.search(&query).await.expect("search");
                found.extend(page.hits.iter().map(|h| h.ticket.number.to_string()));
                match page.next {
                    Some(next) => query.after = Some(next),
                    None => return found,
                }
            }
        }
    };
    assert_eq!(
        find("crash").await,
        numbers,
        "search misses tickets after kill {kill}"
    );
    let mut noted = BTreeSet::new();
    for t in &all {
        if store.articles(t.id).await.unwrap().len() > 1 {
            noted.insert(t.number.to_string());
        }
    }
    assert_eq!(
        find("noted").await,
        noted,
        "search misses notes after kill {kill}"
    );
    let seqs: Vec<u64> = store
        .events_since(0, usize::MAX)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "event log has gaps"
    );
}

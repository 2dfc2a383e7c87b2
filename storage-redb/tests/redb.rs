//! redb-specific guarantees: format versioning, group commit, readers beside the writer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Instant;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use ticketcore::rules::{self, Ctx, Fresh};
use ticketcore::testkit::{desk_with, fixture_config};
use ticketcore::{
    Actor, ArticleId, Change, Channel, Message, NewTicket, Store, TicketId, TicketQuery,
};
use ticketcore_redb::{OpenError, RedbOptions, RedbStore, SCHEMA_VERSION};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

#[test]
fn a_newer_format_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("desk.redb");
    drop(RedbStore::open(&path).unwrap());
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(
                "schema_version",
                (SCHEMA_VERSION + 1).to_le_bytes().as_slice(),
            )
            .unwrap();
        txn.commit().unwrap();
    }
    match RedbStore::open(&path) {
        Err(OpenError::NewerFormat { found, supported }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected NewerFormat, got {other:?}"),
    }
    let message = RedbStore::open(&path).unwrap_err().to_string();
    assert!(message.contains("upgrade"), "{message}");
}

#[test]
fn garbage_is_refused_without_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-db.redb");
    std::fs::write(
        &path,
        b"From: someone\r\nSubject: this is mail, not a database\r\n",
    )
    .unwrap();
    assert!(matches!(RedbStore::open(&path), Err(OpenError::Redb(_))));
}

#[test]
fn a_file_in_use_is_told_apart_from_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("desk.redb");
    let first = RedbStore::open(&path).unwrap();
    assert!(matches!(RedbStore::open(&path), Err(OpenError::InUse(_))));
    drop(first);
    assert!(RedbStore::open(&path).is_ok());
}

/// Shared files: two handles, as two processes would hold them, both write and each reads
/// what the other committed.
#[tokio::test]
async fn shared_handles_see_each_others_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("desk.redb");
    let shared = RedbOptions {
        shared: true,
        ..RedbOptions::default()
    };
    let a: Arc<dyn Store> = Arc::new(RedbStore::open_with(&path, shared).unwrap());
    let b: Arc<dyn Store> = Arc::new(RedbStore::open_with(&path, shared).unwrap());
    assert_eq!(a.next_counter("n", 1).await.unwrap(), 1);
    assert_eq!(b.next_counter("n", 1).await.unwrap(), 2);
    assert_eq!(a.counter("n").await.unwrap(), 2);
    b.save_cursor("bot", 7).await.unwrap();
    assert_eq!(a.cursor("bot").await.unwrap(), 7);
}

#[tokio::test]
async fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("desk.redb");
    let number = {
        let store: Arc<dyn Store> = Arc::new(RedbStore::open(&path).unwrap());
        let (desk, _) = desk_with(store, fixture_config(), 1).await;
        let input = NewTicket::new("Support", "persist", Channel::Web, Message::text("hi"))
            .for_customer("karla");
        desk.create_ticket(&Actor::System, input)
            .await
            .unwrap()
            .ticket
            .number
    };
    let store = RedbStore::open(&path).unwrap();
    let t = store.ticket_by_number(&number).await.unwrap().unwrap();
    assert_eq!(store.articles(t.id).await.unwrap().len(), 1);
    assert_eq!(store.config().await.unwrap().unwrap().version, 1);
    // The new ticket, its first article and the notice to the queue's readers.
    assert_eq!(store.events_since(0, 10).await.unwrap().len(), 3);
}

/// Builds `n` independent ticket creations.
fn creations(config: &ticketcore::Config, n: usize, offset: u128) -> Vec<Change> {
    let now = ticketcore::testkit::epoch();
    let ctx = Ctx {
        config,
        actor: &Actor::System,
        customer: None,
        now,
    };
    (0..n)
        .map(|i| {
            let i = i as u128 + offset;
            let fresh = Fresh {
                ticket: TicketId(uuid::Uuid::from_u128(i + 1)),
                number: config
                    .numbers
                    .format(now.date_naive(), 100_000 + i as u64, 0),
                article: ArticleId(uuid::Uuid::from_u128((1 << 100) + i)),
            };
            let input = NewTicket::new(
                "Support",
                format!("t{i}"),
                Channel::Email,
                Message::text("x"),
            );
            rules::create(ctx, &input, &fresh).unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_commits_share_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path().join("desk.redb")).unwrap());
    let config = fixture_config();
    let before = store.write_stats();
    let mut tasks = Vec::new();
    for change in creations(&config, 64, 0) {
        let store = store.clone();
        tasks.push(tokio::spawn(async move { store.commit(change).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let after = store.write_stats();
    let jobs = after.jobs - before.jobs;
    let transactions = after.transactions - before.transactions;
    assert_eq!(jobs, 64);
    assert!(
        transactions < jobs,
        "64 concurrent commits took {transactions} transactions"
    );
    let all = store
        .query(&TicketQuery {
            limit: 100,
            ..TicketQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(all.tickets.len(), 64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_proceed_while_the_writer_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path().join("desk.redb")).unwrap());
    let config = fixture_config();
    store.commit_batch(creations(&config, 10, 0)).await.unwrap();
    let big = creations(&config, 20_000, 1_000);
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            let results = store.commit_batch(big).await.unwrap();
            assert!(results.iter().all(Result::is_ok));
            Instant::now()
        })
    };
    // Give the writer a head start into its transaction.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let mut reads_done = Instant::now();
    for _ in 0..50 {
        let page = store.query(&TicketQuery::default()).await.unwrap();
        assert!(page.tickets.len() == 10 || page.tickets.len() == 50);
        reads_done = Instant::now();
    }
    let written = writer.await.unwrap();
    assert!(
        reads_done < written,
        "reads waited for the writer to finish its transaction"
    );
}

/// A creation abandoned while it reserves ticket numbers (its future dropped, as when a web
/// request is cancelled) ends that reservation: the next creation does not wait for it.
#[tokio::test]
async fn an_abandoned_number_reservation_blocks_no_later_creation() {
    let store: Arc<dyn Store> = Arc::new(RedbStore::in_memory().unwrap());
    let (desk, _) = desk_with(store, fixture_config(), 3).await;
    let request = || {
        NewTicket::new(
            "Support",
            "printer",
            Channel::Web,
            Message::text("it smokes"),
        )
    };
    let karla = Actor::customer("karla");
    {
        let abandoned = desk.create_ticket(&karla, request());
        let mut abandoned = std::pin::pin!(abandoned);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        // The first poll reaches the writer thread with the reservation, and waits.
        assert!(abandoned.as_mut().poll(&mut cx).is_pending());
    }
    let created = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        desk.create_ticket(&karla, request()),
    )
    .await
    .expect("the creation after an abandoned one went ahead")
    .unwrap();
    assert!(created.ticket.number.as_str().starts_with("20260302"));
}

/// Rewrites every document of a closed store as format version 1 wrote it: JSON.
fn rewrite_as_version_1(path: &std::path::Path) {
    fn json<T: serde::Serialize + serde::de::DeserializeOwned>(doc: &[u8]) -> Vec<u8> {
        let value: T = rmp_serde::from_slice(doc).unwrap();
        serde_json::to_vec(&value).unwrap()
    }
    /// Rewrites table `$name`'s documents of type `$doc`; `$owned` makes a key outlive its read.
    macro_rules! rewrite {
        ($txn:expr, $name:literal, $key:ty, $owned:expr, $doc:ty) => {{
            let mut table = $txn
                .open_table(TableDefinition::<$key, &[u8]>::new($name))
                .unwrap();
            let docs: Vec<_> = table
                .iter()
                .unwrap()
                .map(|e| {
                    let (k, v) = e.unwrap();
                    ($owned(k.value()), json::<$doc>(v.value()))
                })
                .collect();
            for (key, doc) in &docs {
                table.insert(&**key, doc.as_slice()).unwrap();
            }
            assert!(!docs.is_empty(), "no {} to rewrite", $name);
        }};
    }
    let db = Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    rewrite!(txn, "tickets", &[u8], <[u8]>::to_vec, ticketcore::Ticket);
    rewrite!(txn, "articles", &[u8], <[u8]>::to_vec, ticketcore::Article);
    rewrite!(txn, "events", u64, Box::new, ticketcore::Event);
    rewrite!(
        txn,
        "customers",
        &str,
        str::to_string,
        ticketcore::acl::CustomerUser
    );
    {
        let mut meta = txn.open_table(META).unwrap();
        let config = json::<ticketcore::Config>(meta.get("config").unwrap().unwrap().value());
        meta.insert("config", config.as_slice()).unwrap();
        meta.insert("schema_version", 1u64.to_le_bytes().as_slice())
            .unwrap();
    }
    txn.commit().unwrap();
}

fn schema_version(path: &std::path::Path) -> u64 {
    let db = Database::create(path).unwrap();
    let txn = db.begin_read().unwrap();
    let meta = txn.open_table(META).unwrap();
    let bytes = meta.get("schema_version").unwrap().unwrap();
    u64::from_le_bytes(bytes.value().try_into().unwrap())
}

/// Format version 1 stored JSON documents: such a file opens, reads as it was written, takes
/// new (MessagePack) documents beside the old ones, and is marked version 2 so that a build
/// that reads only JSON refuses it instead of misreading it.
#[tokio::test]
async fn a_version_1_file_of_json_documents_reads_as_written_and_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("desk.redb");
    let root = Actor::agent("root");
    let (id, articles, events, config, karla) = {
        let store: Arc<dyn Store> = Arc::new(RedbStore::open(&path).unwrap());
        let (desk, _) = desk_with(store.clone(), fixture_config(), 1).await;
        let input = NewTicket::new(
            "Support",
            "printer",
            Channel::Email,
            Message::text("broken"),
        )
        .for_customer("karla");
        let id = desk.create_ticket(&root, input).await.unwrap().ticket.id;
        desk.lock(&root, id).await.unwrap();
        desk.note(
            &root,
            id,
            Message::text("checked the toner"),
            false,
            &["anna"],
        )
        .await
        .unwrap();
        desk.reply(&root, id, Message::text("we are on it"))
            .await
            .unwrap();
        desk.move_ticket(&root, id, "Support::Level2")
            .await
            .unwrap();
        (
            id,
            store.articles(id).await.unwrap(),
            store.events_since(0, 100).await.unwrap(),
            store.config().await.unwrap().unwrap(),
            store.customer("karla").await.unwrap().unwrap(),
        )
    };
    let ticket = RedbStore::open(&path)
        .unwrap()
        .ticket(id)
        .await
        .unwrap()
        .unwrap();
    rewrite_as_version_1(&path);
    assert_eq!(schema_version(&path), 1);

    {
        let store: Arc<dyn Store> = Arc::new(RedbStore::open(&path).unwrap());
        assert_eq!(store.ticket(id).await.unwrap().unwrap(), ticket);
        assert_eq!(store.articles(id).await.unwrap(), articles);
        assert_eq!(store.events_since(0, 100).await.unwrap(), events);
        assert_eq!(store.history(id).await.unwrap(), events);
        assert_eq!(store.config().await.unwrap().unwrap(), config);
        assert_eq!(store.customer("karla").await.unwrap().unwrap(), karla);
        // A JSON ticket is changed: its new version is a MessagePack document.
        let (desk, _) = desk_with(store.clone(), fixture_config(), 2).await;
        desk.unlock(&root, id).await.unwrap();
        assert_eq!(store.articles(id).await.unwrap(), articles);
    }
    assert_eq!(schema_version(&path), SCHEMA_VERSION);
    let store = RedbStore::open(&path).unwrap();
    let history = store.history(id).await.unwrap();
    assert_eq!(history[..events.len()], events[..]);
    assert!(history.len() > events.len());
    assert_eq!(
        store.ticket(id).await.unwrap().unwrap().version,
        ticket.version + 1
    );
}

/// A bulk import's store (`RedbOptions::bulk`) adds index segments without merging them, and
/// what it imported is searchable, there and once the desk is opened as usual.
#[tokio::test]
async fn a_bulk_import_is_searchable_and_leaves_merging_to_the_next_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("desk.redb");
    let search = |store: Arc<dyn Store>, word: &'static str| async move {
        let query = ticketcore::SearchQuery {
            all: vec![vec![ticketcore::analyzer::term(word).unwrap()]],
            internal: true,
            limit: 100,
            ..ticketcore::SearchQuery::default()
        };
        store.search(&query).await.unwrap().hits.len()
    };
    {
        let store: Arc<dyn Store> =
            Arc::new(RedbStore::open_with(&path, RedbOptions::bulk()).unwrap());
        let (desk, _) = desk_with(store.clone(), fixture_config(), 1).await;
        // Ten rounds, each committed to the index by a search: ten segments, none merged
        // (tantivy's default policy merges eight of a size).
        for round in 0..10 {
            for i in 0..3 {
                let input = NewTicket::new(
                    "Support",
                    format!("Drucker {round}.{i}"),
                    Channel::Email,
                    Message::text("Der Drucker druckt nicht."),
                );
                desk.create_ticket(&Actor::System, input).await.unwrap();
            }
            assert_eq!(search(store.clone(), "drucker").await, 3 * (round + 1));
        }
    }
    let segments: std::collections::BTreeSet<String> =
        std::fs::read_dir(dir.path().join("desk.redb.search"))
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                name.strip_suffix(".term").map(String::from)
            })
            .collect();
    assert!(segments.len() >= 10, "{} segments", segments.len());
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(&path).unwrap());
    assert_eq!(search(store, "drucker").await, 30);
}

//! # ticketcore-redb
//!
//! ticketcore's embedded default [`Store`]: one redb file, no server. Tickets, articles and
//! events are MessagePack documents in redb tables; every query path is a secondary-index
//! table of order-preserving byte keys (see `keys`), written in the same transaction as the
//! document, so the queue view, lookups and due-time scans are range scans whose cost follows
//! the page size, not the database size.
//!
//! Writes go to one writer thread that drains whatever has queued up and commits it as one
//! durable transaction (group commit): sixteen tasks committing at once cost about one fsync,
//! and each still gets its own result. The fsync runs behind the writer, which meanwhile
//! works on the next group; a group's callers hear of it, and readers see it, once it is on
//! disk. Reads run against redb's MVCC snapshots (point lookups right on the caller's thread,
//! scans on tokio's blocking pool), so they proceed while the writer commits.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use ticketcore::{Desk, Store};
//! use ticketcore_redb::RedbStore;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path().join("desk.redb")).unwrap());
//! let desk = Desk::new(store);
//! # });
//! ```
#![deny(missing_docs)]

mod faq;
mod keys;
mod search;
mod snapshot;
mod sync_behind;
mod tables;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redb::Database;
use ticketcore::acl::CustomerUser;
use ticketcore::article::ContentHash;
use ticketcore::store::{Bell, StoredConfig};
use ticketcore::{Account, StoredAccount};
use ticketcore::{
    Article, Change, Config, DueKind, Event, Receipt, SearchDoc, SearchPage, SearchQuery, Store,
    StoreError, StoreResult, Ticket, TicketId, TicketNumber, TicketPage, TicketQuery,
};
use tokio::sync::oneshot;

use crate::search::{Follower, SearchIndex};
use crate::snapshot::Snapshots;
use crate::sync_behind::{Disk, SyncBehind};
use crate::tables::Reader;
use crate::writer::{Job, Writer};

/// The on-disk format this version writes: 2, documents in MessagePack. It reads version 1
/// (documents in JSON) as well, and marks such a file as version 2 when it opens it, since
/// from then on it holds documents that older builds cannot read.
pub const SCHEMA_VERSION: u64 = 2;

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// redb refused (not a redb file, I/O error, ...).
    #[error("cannot open the ticket database: {0}")]
    Redb(String),
    /// Another process has the file open: redb admits one process at a time, so a caller that
    /// may wait (an MTA's delivery program) tries again shortly.
    #[error("the ticket database {0} is in use by another process")]
    InUse(String),
    /// Written by a newer ticketcore-redb: refusing rather than misreading it.
    #[error(
        "the ticket database has format version {found}, but this ticketcore-redb understands \
         only up to {supported}; upgrade ticketcore to open it"
    )]
    NewerFormat {
        /// The file's format version.
        found: u64,
        /// The newest this build understands.
        supported: u64,
    },
    /// A redb file, but not a ticketcore one (or damaged metadata).
    #[error("not a ticketcore database: {0}")]
    Foreign(String),
}

/// Tuning for [`RedbStore::open_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedbOptions {
    /// redb's page cache. The default, 128 MiB, keeps a process with a million tickets well
    /// under 300 MiB; more cache means fewer reads from disk on large desks.
    pub cache_bytes: usize,
    /// Let other processes open the file at the same time, each reading and writing (redb's
    /// multi-writer mode, with byte-range locks: Linux, macOS, Windows): an MTA's delivery
    /// processes, a maintenance loop and a web server can then share one desk file, write
    /// transactions taking turns. Off by default, where the first process excludes every
    /// other one: every shared commit also records the allocator state, which measured here
    /// cost 2-3x per commit (one at a time 1.9 ms instead of 0.7 ms; 2.1k instead of 5-6k
    /// tickets/s from 16 tasks; 15k instead of 23k/s in batches).
    pub shared: bool,
    /// Whether this process imports in bulk: its search index then adds segments without
    /// merging them or reading them back until it is searched. Merging large segments reads
    /// them whole through memory maps, and reading the index back after every commit opens
    /// every segment, whose pages stay mapped: with both, a 4-million-message import peaked at
    /// 474 MiB, without them at 159 MiB. The next process that opens the store as usual
    /// merges the segments in the background after its first index commit.
    pub importing: bool,
}

impl Default for RedbOptions {
    fn default() -> Self {
        RedbOptions {
            cache_bytes: 128 << 20,
            shared: false,
            importing: false,
        }
    }
}

impl RedbOptions {
    /// For a process that writes a stream of new tickets and exits (a mailbox import), in
    /// memory that does not grow with the stream: a 16 MiB cache, the search index kept as an
    /// importing process keeps it ([`RedbOptions::importing`]). Such a
    /// process mostly appends and reads back what it has just written, so its rate does not
    /// depend on the cache (measured: a 200,000-message import ran 30.7k–32.5k messages/s
    /// with 16 MiB and 30.9k–32.3k with 128 MiB), while the default's 128 MiB was most of the
    /// import's memory (41 instead of 157 MiB at its peak).
    pub fn bulk() -> RedbOptions {
        RedbOptions {
            cache_bytes: 16 << 20,
            importing: true,
            ..RedbOptions::default()
        }
    }

    fn builder(&self) -> redb::Builder {
        let mut builder = Database::builder();
        builder.set_cache_size(self.cache_bytes);
        if self.shared {
            builder.set_concurrency_mode(redb::ConcurrencyMode::MultiWriter);
        }
        builder
    }
}

pub use ticketcore::store::WriteStats;

/// Creates a new database file so that `path` never names a half-initialised one: the file
/// is made and given its tables under a temporary name, then linked into place (which fails,
/// harmlessly, if another process got there first). A crash midway leaves only the temporary
/// file behind.
fn create_whole(path: &Path, options: &RedbOptions) -> Result<(), OpenError> {
    let io = |e: std::io::Error| OpenError::Redb(format!("creating {}: {e}", path.display()));
    let name = path
        .file_name()
        .ok_or_else(|| OpenError::Redb(format!("{} names no file", path.display())))?;
    let mut temporary = name.to_os_string();
    temporary.push(format!(".creating-{}", std::process::id()));
    let temporary = path.with_file_name(temporary);
    let _ = std::fs::remove_file(&temporary);
    let db = options
        .builder()
        .create(&temporary)
        .map_err(|e| OpenError::Redb(e.to_string()))?;
    tables::prepare(&db, SCHEMA_VERSION)?;
    drop(db);
    let linked = std::fs::hard_link(&temporary, path);
    std::fs::remove_file(&temporary).map_err(io)?;
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(io(e)),
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io)
}

/// Why redb would not open the database `name`.
fn refused(name: &str) -> impl Fn(redb::DatabaseError) -> OpenError + '_ {
    move |e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => OpenError::InUse(name.to_string()),
        e => OpenError::Redb(e.to_string()),
    }
}

/// ticketcore's Store on redb.
#[derive(Debug, Clone)]
pub struct RedbStore {
    // Dropped in this order: the last store's search indexer and writer join their threads,
    // then the snapshot they published ends, then the database closes with no transaction
    // left open.
    search: Arc<Follower>,
    writer: Writer,
    snapshots: Arc<Snapshots>,
    /// Rung once a commit's events can be read, for followers in this process.
    appended: Arc<Bell>,
    _db: Arc<Database>,
}

impl RedbStore {
    /// Creates or opens the database file at `path` with default [`RedbOptions`].
    pub fn open(path: impl AsRef<Path>) -> Result<RedbStore, OpenError> {
        RedbStore::open_with(path, RedbOptions::default())
    }

    /// Creates or opens the database file at `path`.
    pub fn open_with(path: impl AsRef<Path>, options: RedbOptions) -> Result<RedbStore, OpenError> {
        let path = path.as_ref();
        if !path.exists() {
            create_whole(path, &options)?;
        }
        let name = path.display().to_string();
        if options.shared {
            // Other processes read each commit as soon as it lands: redb syncs itself.
            // Each process keeps its own index in memory: a tantivy directory has one writer.
            let db = options.builder().open(path).map_err(refused(&name))?;
            return RedbStore::with_database(db, None, None, options.importing);
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| OpenError::Redb(format!("{name}: {e}")))?;
        if file.metadata().is_ok_and(|m| m.len() == 0) {
            // `create_whole` never leaves an empty file; redb would make one a new database.
            return Err(OpenError::Foreign(format!("{name} is empty")));
        }
        let file = redb::backends::FileBackend::new(file).map_err(refused(&name))?;
        RedbStore::over(
            options.builder(),
            file,
            &name,
            Some(SearchIndex::dir_of(path)),
            options.importing,
        )
    }

    /// A database that lives in memory only (for tests). Its commits pass through the same
    /// deferred syncs as a file's.
    pub fn in_memory() -> Result<RedbStore, OpenError> {
        let memory = redb::backends::InMemoryBackend::new();
        RedbStore::over(
            Database::builder(),
            memory,
            "the in-memory database",
            None,
            false,
        )
    }

    /// The database on `backend` (`name` in errors), its syncs run behind the writer, its
    /// search index in `search` (in memory for `None`), kept as an importing process keeps it
    /// or as usual.
    fn over(
        builder: redb::Builder,
        backend: impl redb::StorageBackend,
        name: &str,
        search: Option<PathBuf>,
        importing: bool,
    ) -> Result<RedbStore, OpenError> {
        let disk = Disk::new(backend);
        let db = builder
            .create_with_backend(SyncBehind(disk.clone()))
            .map_err(refused(name))?;
        RedbStore::with_database(db, Some(disk), search, importing)
    }

    /// Starts the writer on `db`, whose syncs `disk` defers (`None` for a shared file, which
    /// redb syncs itself and every read sees as it is).
    fn with_database(
        db: Database,
        disk: Option<Arc<Disk>>,
        search: Option<PathBuf>,
        importing: bool,
    ) -> Result<RedbStore, OpenError> {
        let fail = |e: &dyn std::fmt::Display| OpenError::Redb(e.to_string());
        tables::prepare(&db, SCHEMA_VERSION)?;
        let db = Arc::new(db);
        let snapshots = match &disk {
            Some(disk) => {
                // What `prepare` wrote must be on disk before readers see it.
                disk.settle().map_err(|e| fail(&format!("sync: {e}")))?;
                Snapshots::published(&db).map_err(|e| fail(&e))?
            }
            None => Snapshots::fresh(db.clone()),
        };
        let snapshots = Arc::new(snapshots);
        let index = SearchIndex::open(
            search.as_deref(),
            snapshots.reader().map_err(|e| fail(&e))?.as_ref(),
            importing,
        )
        .map_err(|e| fail(&e))?;
        Ok(RedbStore {
            search: Arc::new(Follower::start(Arc::new(index), Arc::downgrade(&snapshots))),
            writer: Writer::start(db.clone(), disk, snapshots.clone()),
            snapshots,
            appended: Arc::default(),
            _db: db,
        })
    }

    /// Group-commit statistics: how many write jobs (commits, counters, ...) the writer has
    /// run, in how many durable transactions.
    pub fn write_stats(&self) -> WriteStats {
        let (transactions, jobs) = self.writer.counts();
        WriteStats { transactions, jobs }
    }

    /// Runs a read against a snapshot on the blocking pool.
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Reader) -> StoreResult<T> + Send + 'static,
    {
        let reader = self.snapshots.reader()?;
        let work = move || f(reader.as_ref());
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle
                .spawn_blocking(work)
                .await
                .map_err(|e| StoreError::Backend(format!("read task failed: {e}")))?,
            Err(_) => work(),
        }
    }

    /// Runs a point lookup (a few pages, usually cached) right here: handing it to the
    /// blocking pool cost more in thread hand-offs than the read itself, about a third of
    /// the mail pipeline's CPU time.
    fn lookup<T>(&self, f: impl FnOnce(&Reader) -> StoreResult<T>) -> StoreResult<T> {
        f(self.snapshots.reader()?.as_ref())
    }

    /// Sends a job to the writer thread and waits for its result.
    async fn write<T>(
        &self,
        job: impl FnOnce(oneshot::Sender<StoreResult<T>>) -> Job,
    ) -> StoreResult<T> {
        let (tx, rx) = oneshot::channel();
        self.writer.send(job(tx))?;
        rx.await
            .map_err(|_| StoreError::Backend("the redb writer stopped".into()))?
    }
}

#[async_trait]
impl Store for RedbStore {
    async fn config(&self) -> StoreResult<Option<StoredConfig>> {
        self.lookup(|r| r.config())
    }

    async fn save_config(&self, config: &Config, expected: u64) -> StoreResult<u64> {
        let doc = tables::encode(config)?;
        self.write(|reply| Job::SaveConfig {
            doc,
            expected,
            reply,
        })
        .await
    }

    async fn config_version(&self) -> StoreResult<u64> {
        Ok(self.lookup(|r| r.config_version())?.unwrap_or(0))
    }

    async fn account(&self, login: &str) -> StoreResult<Option<StoredAccount>> {
        self.lookup(|r| r.account(login))
    }

    async fn save_account(&self, account: &Account, expected: u64) -> StoreResult<u64> {
        let doc = tables::encode(account)?;
        let login = account.login.clone();
        self.write(|reply| Job::SaveAccount {
            login,
            doc,
            expected,
            reply,
        })
        .await
    }

    async fn put_customer(&self, customer: &CustomerUser) -> StoreResult<()> {
        let customer = customer.clone();
        self.write(|reply| Job::PutCustomer { customer, reply })
            .await
    }

    async fn customer(&self, login: &str) -> StoreResult<Option<CustomerUser>> {
        self.lookup(|r| r.customer(login))
    }

    async fn customers(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<CustomerUser>> {
        self.lookup(|r| r.customers(after, limit))
    }

    async fn customer_by_email(&self, email: &str) -> StoreResult<Option<CustomerUser>> {
        let email = email.to_lowercase();
        self.lookup(|r| r.customer_by_email(&email))
    }

    async fn next_counter(&self, key: &str, count: u64) -> StoreResult<u64> {
        let key = key.to_string();
        self.write(|reply| Job::Counter { key, count, reply }).await
    }

    async fn counters_between(&self, start: &str, end: &str) -> StoreResult<Vec<(String, i64)>> {
        let (start, end) = (start.to_string(), end.to_string());
        self.read(move |r| r.counters_between(&start, &end)).await
    }

    async fn ticket(&self, id: TicketId) -> StoreResult<Option<Ticket>> {
        self.lookup(|r| r.ticket(id))
    }

    async fn ticket_by_number(&self, number: &TicketNumber) -> StoreResult<Option<Ticket>> {
        self.lookup(|r| r.ticket_by_number(number))
    }

    async fn article_by_message_id(&self, message_id: &str) -> StoreResult<Option<Article>> {
        self.lookup(|r| r.article_by_message_id(message_id))
    }

    async fn articles(&self, ticket: TicketId) -> StoreResult<Vec<Article>> {
        self.read(move |r| r.articles(ticket)).await
    }

    async fn blob(&self, hash: &ContentHash) -> StoreResult<Option<Vec<u8>>> {
        let hash = hash.clone();
        self.read(move |r| r.blob(&hash)).await
    }

    async fn history(&self, ticket: TicketId) -> StoreResult<Vec<Event>> {
        self.read(move |r| r.history(ticket)).await
    }

    async fn query(&self, query: &TicketQuery) -> StoreResult<TicketPage> {
        let query = query.clone();
        self.read(move |r| r.query(&query)).await
    }

    async fn faq_entry(&self, number: u64) -> StoreResult<Option<ticketcore::FaqEntry>> {
        self.lookup(|r| r.faq()?.entry(number))
    }

    async fn faq_versions(&self, number: u64) -> StoreResult<Vec<ticketcore::FaqEntry>> {
        self.read(move |r| r.faq()?.versions(number)).await
    }

    async fn save_faq(
        &self,
        entry: &ticketcore::FaqEntry,
        blobs: &[ticketcore::article::Blob],
    ) -> StoreResult<()> {
        let (entry, blobs) = (Box::new(entry.clone()), blobs.to_vec());
        self.write(|reply| Job::SaveFaq {
            entry,
            blobs,
            reply,
        })
        .await
    }

    async fn faq_search(&self, query: &ticketcore::FaqQuery) -> StoreResult<ticketcore::FaqPage> {
        let query = query.clone();
        self.read(move |r| r.faq()?.search(&query)).await
    }

    async fn search(&self, query: &SearchQuery) -> StoreResult<SearchPage> {
        let query = query.clone();
        let search = self.search.clone();
        self.read(move |r| search.index().search(r, &query)).await
    }

    /// The terms of a redb ticket are always its articles' (the index derives them), so a
    /// rebuild indexes the ticket afresh.
    async fn put_search(&self, ticket: TicketId, _doc: &SearchDoc) -> StoreResult<()> {
        if self.lookup(|r| r.ticket(ticket))?.is_none() {
            return Err(StoreError::NotFound(format!("ticket {ticket}")));
        }
        self.search.index().refresh(ticket);
        Ok(())
    }

    async fn due(
        &self,
        kind: DueKind,
        until: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Ticket>> {
        self.read(move |r| r.due(kind, until, limit)).await
    }

    async fn next_due(&self, kind: DueKind) -> StoreResult<Option<DateTime<Utc>>> {
        self.lookup(|r| r.next_due(kind))
    }

    async fn commit(&self, change: Change) -> StoreResult<Receipt> {
        let mut results = self.commit_batch(vec![change]).await?;
        results
            .pop()
            .unwrap_or_else(|| Err(StoreError::Backend("empty commit result".into())))
    }

    async fn commit_batch(&self, changes: Vec<Change>) -> StoreResult<Vec<StoreResult<Receipt>>> {
        // Encoding our own documents cannot fail short of a bug; if it does, the batch fails
        // whole, as for a failing backend.
        let changes = changes
            .into_iter()
            .map(tables::Encoded::new)
            .collect::<StoreResult<_>>()?;
        let committed = self.write(|reply| Job::Commit { changes, reply }).await?;
        self.appended.ring();
        self.search.index().kick();
        Ok(committed
            .into_iter()
            .map(|(change, base)| base.map(|base| change.receipt(base)))
            .collect())
    }

    /// The newest few events are read right here (followers near the end of the log ask for
    /// them after every commit, and a hand-off to the blocking pool per follower cost more
    /// than the read); a longer stretch continues on the blocking pool.
    async fn events_since(&self, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        const INLINE: usize = 32;
        let mut events = self.lookup(|r| r.events_since(after, limit.min(INLINE)))?;
        if events.len() == INLINE && limit > INLINE {
            let after = events.last().map_or(after, |e| e.seq);
            let rest = limit - INLINE;
            events.extend(self.read(move |r| r.events_since(after, rest)).await?);
        }
        Ok(events)
    }

    async fn last_seq(&self) -> StoreResult<u64> {
        self.lookup(|r| r.last_seq())
    }

    /// Woken by commits of this process only: a redb file has one process at a time.
    async fn wait_for_events(&self, after: u64, timeout: std::time::Duration) -> StoreResult<()> {
        let arrived = async { Ok(!self.events_since(after, 1).await?.is_empty()) };
        self.appended.wait(timeout, arrived).await
    }

    async fn counter(&self, key: &str) -> StoreResult<u64> {
        self.lookup(|r| r.counter(key))
    }

    async fn cursor(&self, consumer: &str) -> StoreResult<u64> {
        self.lookup(|r| r.cursor(consumer))
    }

    async fn consumer_state(&self, consumer: &str) -> StoreResult<Option<Vec<u8>>> {
        let key = ticketcore::store::consumer_state_key(consumer);
        self.lookup(|r| r.meta_value(&key))
    }

    async fn save_consumer_state(&self, consumer: &str, state: &[u8]) -> StoreResult<()> {
        let key = ticketcore::store::consumer_state_key(consumer);
        let state = state.to_vec();
        self.write(|reply| Job::SaveMeta { key, state, reply })
            .await
    }

    async fn save_cursor(&self, consumer: &str, position: u64) -> StoreResult<()> {
        let consumer = consumer.to_string();
        self.write(|reply| Job::SaveCursor {
            consumer,
            position,
            reply,
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    use redb::StorageBackend;
    use redb::backends::InMemoryBackend;

    use super::*;

    /// Memory whose syncs wait while the test holds the gate shut: a disk that is slow to
    /// make a commit durable.
    #[derive(Debug, Default)]
    struct Gate {
        shut: Mutex<bool>,
        opened: Condvar,
    }

    impl Gate {
        fn set(&self, shut: bool) {
            *self.shut.lock().unwrap_or_else(|e| e.into_inner()) = shut;
            self.opened.notify_all();
        }
    }

    /// Opens the gate however the test ends, so that a failing one cannot hang on its store's
    /// last sync.
    struct Opens(Arc<Gate>);

    impl Drop for Opens {
        fn drop(&mut self) {
            self.0.set(false);
        }
    }

    #[derive(Debug)]
    struct Gated {
        memory: InMemoryBackend,
        gate: Arc<Gate>,
    }

    impl StorageBackend for Gated {
        fn len(&self) -> std::io::Result<u64> {
            self.memory.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
            self.memory.read(offset, out)
        }
        fn set_len(&self, len: u64) -> std::io::Result<()> {
            self.memory.set_len(len)
        }
        fn sync_data(&self) -> std::io::Result<()> {
            let mut shut = self.gate.shut.lock().unwrap();
            while *shut {
                shut = self.gate.opened.wait(shut).unwrap();
            }
            Ok(())
        }
        fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
            self.memory.write(offset, data)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_is_answered_and_read_only_once_it_is_on_disk() {
        let gate = Arc::new(Gate::default());
        let gated = Gated {
            memory: InMemoryBackend::new(),
            gate: gate.clone(),
        };
        let store = RedbStore::over(Database::builder(), gated, "gated", None, false).unwrap();
        let _opens = Opens(gate.clone());
        gate.set(true);
        let committing = store.clone();
        let commit = tokio::spawn(async move { committing.next_counter("k", 1).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!commit.is_finished(), "answered before its sync");
        assert_eq!(store.counter("k").await.unwrap(), 0, "read before its sync");
        gate.set(false);
        assert_eq!(commit.await.unwrap().unwrap(), 1);
        assert_eq!(
            store.counter("k").await.unwrap(),
            1,
            "its caller cannot read it back"
        );
    }
}

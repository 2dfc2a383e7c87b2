//! # ticketcore-sql
//!
//! ticketcore's [`Store`] on SQL databases through sqlx: SQLite, PostgreSQL and MySQL/MariaDB,
//! chosen at run time by the connection URL. PostgreSQL is how a desk scales out: several
//! processes, each with its own pool, on one database.
//!
//! Tickets, articles and events are JSON documents beside the columns every query path needs,
//! each with an index: the queue view (archived, queue, state type, priority, age), customers,
//! companies, due times, numbers, Message-IDs. A commit is one transaction; the version
//! compare-and-swap is a conditional `UPDATE`. A reader following `events_since` never skips
//! an event that commits late: on SQLite and MariaDB event numbers come from one counter row
//! locked until commit, so they become visible in order; on PostgreSQL, where commits from
//! many processes must run side by side, they come from a sequence under a shared advisory
//! lock, and a reader that meets a gap waits out the commits that may fill it.
//!
//! Throughput comes from doing per statement what others do per row: on PostgreSQL a whole
//! batch commits in one statement (`pg`), concurrent single commits are joined into shared
//! transactions and concurrent point reads into shared queries (`group`), and large batches
//! are written in parts side by side.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ticketcore::StoreError> {
//! let store = ticketcore_sql::SqlStore::connect("sqlite:desk.db").await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod batch;
mod db;
mod faq;
mod group;
#[cfg(feature = "postgres")]
mod pg;
mod search;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use ticketcore::acl::CustomerUser;
use ticketcore::article::ContentHash;
use ticketcore::store::{Bell, StoredConfig, Unique, WriteStats};
use ticketcore::{Account, StoredAccount};
use ticketcore::{
    Article, Change, Config, DueKind, Event, PageKey, Quota, Receipt, SearchDoc, SearchPage,
    SearchQuery, StateType, Store, StoreError, StoreResult, Ticket, TicketId, TicketNumber,
    TicketPage, TicketQuery,
};

use crate::batch::{Keys, Known};
pub use crate::db::Dialect;
use crate::db::{Db, K, P, Tx, V, is_unique_violation};
use crate::group::Joiner;

/// Parameters per statement: under SQLite's 32,766, PostgreSQL's and MySQL's 65,535.
const MAX_PARAMS: usize = 30_000;
/// Bytes of parameter data per statement: well under MariaDB's default 16 MiB packet (a
/// single larger row still goes alone).
const MAX_BYTES: usize = 4 << 20;

/// How writing a batch ended.
enum Written {
    /// Each change's events, or why it was refused.
    Done(Vec<StoreResult<Vec<Event>>>),
    /// Another transaction changed a row between this one's reads and writes: nothing of the
    /// transaction may stand. The error is what a change alone gets for it.
    Raced(StoreError),
}

/// A conjunction of conditions with their parameters, for building the queue view's branches.
#[derive(Debug, Clone, Default)]
struct Where {
    conditions: Vec<String>,
    params: Vec<P>,
}

impl Where {
    fn cond(mut self, sql: &str, params: impl IntoIterator<Item = P>) -> Where {
        self.conditions.push(sql.to_string());
        self.params.extend(params);
        self
    }

    fn eq(self, column: &str, value: P) -> Where {
        self.cond(&format!("{column} = ?"), [value])
    }

    /// `column IN (values)`; no values match nothing.
    fn one_of(self, column: &str, values: Vec<P>) -> Where {
        if values.is_empty() {
            return self.cond("1 = 0", []);
        }
        let marks = vec!["?"; values.len()].join(", ");
        self.cond(&format!("{column} IN ({marks})"), values)
    }

    fn and(mut self, other: &Where) -> Where {
        self.conditions.extend(other.conditions.iter().cloned());
        self.params.extend(other.params.iter().cloned());
        self
    }

    fn sql(&self) -> String {
        if self.conditions.is_empty() {
            return "1 = 1".into();
        }
        self.conditions.join(" AND ")
    }
}

/// Units per quota key and the lowest limit given for it, over `quotas` of several changes.
fn quota_units<'a>(quotas: impl Iterator<Item = &'a Vec<Quota>>) -> BTreeMap<&'a str, (u64, u64)> {
    let mut units: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for quota in quotas.flatten() {
        let (count, limit) = units.entry(quota.key.as_str()).or_insert((0, quota.limit));
        *count += 1;
        *limit = (*limit).min(quota.limit);
    }
    units
}

/// A failed write is a lost race when a unique index refused it; anything else fails.
fn raced(e: StoreError, lost: impl FnOnce() -> StoreError) -> StoreResult<Written> {
    if is_unique_violation(&e) {
        Ok(Written::Raced(lost()))
    } else {
        Err(e)
    }
}

/// ticketcore's Store on SQLite, PostgreSQL or MySQL/MariaDB.
#[derive(Debug, Clone)]
pub struct SqlStore {
    db: Db,
    /// Wakes the task that tells PostgreSQL listeners about new events (coalesced, outside
    /// the write transactions: NOTIFY takes a database-wide lock at commit).
    wake: Option<tokio::sync::mpsc::Sender<()>>,
    /// Joins concurrent single commits into shared transactions (see [`group`]).
    commits: Option<Joiner<Change, Receipt>>,
    /// Joins concurrent point reads into shared statements (PostgreSQL).
    lookups: Option<Joiner<(Lookup, P), Option<String>>>,
    /// Queues known to be in `ticket_queues` (rows there are never removed), so a commit
    /// need not offer them again.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    queues: Arc<std::sync::Mutex<HashSet<String>>>,
    /// Rung by this process's commits and, on PostgreSQL, by the one listener that hears
    /// every other process's: what event followers wait on.
    appended: Arc<Bell>,
    /// The PostgreSQL listener, started by the first follower to wait.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    listening: Arc<tokio::sync::OnceCell<()>>,
}

/// How often a follower looks for events committed by another process where nothing tells
/// it (SQLite, MySQL/MariaDB): the fallback's bound on how late such an event is seen.
const POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// Starts the process's one PostgreSQL listener: every notification (and every reconnect,
/// after which something may have been missed) rings `bell`, until the store is gone.
#[cfg(feature = "postgres")]
async fn listen(pool: sqlx::Pool<sqlx::Postgres>, bell: std::sync::Weak<Bell>) -> StoreResult<()> {
    let connect = |pool: sqlx::Pool<sqlx::Postgres>| async move {
        let mut listener = sqlx::postgres::PgListener::connect_with(&pool)
            .await
            .map_err(db::sql_err)?;
        listener
            .listen("ticketcore_events")
            .await
            .map_err(db::sql_err)?;
        Ok::<_, StoreError>(listener)
    };
    let mut listener = connect(pool.clone()).await?;
    tokio::spawn(async move {
        loop {
            let heard = listener.recv().await;
            let Some(bell) = bell.upgrade() else { return };
            bell.ring();
            if let Err(e) = heard {
                // PgListener reconnects by itself on the next recv; a pause keeps a server
                // that is down from being asked in a tight loop.
                tracing::warn!("event listener: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
        }
    });
    Ok(())
}

/// Changes per part when a large batch is written in parts side by side (PostgreSQL).
const PART_SIZE: usize = 250;
/// The most parts a batch is written in.
const MAX_PARTS: usize = 4;

/// Whether no two changes touch the same ticket, ticket number or Message-ID: only then may
/// parts of a batch be written side by side without the order deciding any outcome.
fn independent(changes: &[Change]) -> bool {
    let (mut ids, mut numbers, mut message_ids) = (HashSet::new(), HashSet::new(), HashSet::new());
    changes.iter().flat_map(|c| &c.writes).all(|w| {
        ids.insert(w.ticket.id)
            && (w.expected_version.is_some() || numbers.insert(w.ticket.number.to_string()))
            && w.articles
                .iter()
                .filter_map(|a| a.message_id.as_deref())
                .all(|mid| message_ids.insert(mid))
    })
}

/// The advisory lock PostgreSQL committers hold, shared, while they take and write event
/// numbers; a follower meeting a gap takes it exclusively to wait them out.
const EVENT_NUMBERS: i64 = 0x7463_6576_656e_7473;

/// Starts the task that tells PostgreSQL listeners about new events, one NOTIFY per burst of
/// commits; it ends with the last clone of its store.
#[cfg(feature = "postgres")]
fn notifier(pool: sqlx::Pool<sqlx::Postgres>) -> tokio::sync::mpsc::Sender<()> {
    let (wake, mut woken) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        while woken.recv().await.is_some() {
            let notify = sqlx::query("SELECT pg_notify('ticketcore_events', '')");
            if let Err(e) = notify.execute(&pool).await {
                tracing::warn!("waking event followers: {e}");
            }
        }
    });
    wake
}

/// Pool settings of every dialect. Connections are not pinged before each use: the ping is a
/// round trip of its own, which doubled what a point read cost; a connection that broke
/// meanwhile fails its statement instead, and the pool replaces it.
fn pool_options<DB: sqlx::Database>() -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new().test_before_acquire(false)
}

fn encode<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("encoding: {e}")))
}

fn decode<T: DeserializeOwned>(value: Option<&V>, what: &str) -> StoreResult<T> {
    let text = value
        .and_then(V::t)
        .ok_or_else(|| StoreError::Backend(format!("{what}: document missing")))?;
    decode_text(text, what)
}

fn decode_text<T: DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Backend(format!("corrupt {what}: {e}")))
}

/// The point reads by key that concurrent callers share statements for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Lookup {
    Customer,
    CustomerByEmail,
    Ticket,
    TicketByNumber,
    Article,
}

impl Lookup {
    /// Selects the key and the document, up to the key's `IN (…)`.
    fn select(self) -> &'static str {
        match self {
            Lookup::Customer => "SELECT login, doc FROM customers WHERE login",
            Lookup::CustomerByEmail => "SELECT email, doc FROM customers WHERE email",
            Lookup::Ticket => "SELECT id, doc FROM tickets WHERE id",
            Lookup::TicketByNumber => "SELECT number, doc FROM tickets WHERE number",
            Lookup::Article => "SELECT message_id, doc FROM articles WHERE message_id",
        }
    }

    fn key(self) -> K {
        match self {
            Lookup::Ticket => K::B,
            _ => K::T,
        }
    }
}

/// A lookup key as bytes, for matching rows to requests.
fn key_bytes(p: &P) -> &[u8] {
    match p {
        P::T(s) => s.as_bytes(),
        P::B(b) => b,
        _ => &[],
    }
}

/// An event from its row: the number is the column's (a document written in one statement
/// with its number carries none).
fn numbered(seq: u64, doc: Option<&V>) -> StoreResult<Event> {
    let mut event: Event = decode(doc, "event")?;
    event.seq = seq;
    Ok(event)
}

/// An instant as nanoseconds since the epoch (covers 1677–2262; beyond saturates).
fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

fn state_index(s: StateType) -> i64 {
    StateType::ALL.iter().position(|t| *t == s).unwrap_or(0) as i64
}

fn id_bytes(id: TicketId) -> Vec<u8> {
    id.0.as_bytes().to_vec()
}

fn due_column(kind: DueKind) -> &'static str {
    match kind {
        DueKind::LockExpiry => "lock_due",
        DueKind::Pending => "pending_due",
        DueKind::Escalation => "escalation_due",
    }
}

const TICKET_COLUMNS: &str = "id, number, version, queue, state_type, archived, urgency, created, \
     locked, owner, customer, company, lock_due, pending_due, escalation_due, doc";

/// A plan's article rows: ticket, position, Message-ID, document.
fn article_rows(plan: &batch::Plan<'_>) -> StoreResult<Vec<Vec<P>>> {
    plan.articles
        .iter()
        .map(|(ticket, position, a)| {
            Ok(vec![
                P::B(id_bytes(*ticket)),
                P::I(*position),
                P::ot(a.message_id.as_deref()),
                P::T(encode(a)?),
            ])
        })
        .collect()
}

/// A plan's tally rows: counter name, delta.
fn tally_rows(plan: &batch::Plan<'_>) -> Vec<Vec<P>> {
    plan.tallies
        .iter()
        .map(|(name, delta)| vec![P::T(name.clone()), P::I(*delta)])
        .collect()
}

/// A plan's attachment rows: hash, bytes.
fn blob_rows(plan: &batch::Plan<'_>) -> Vec<Vec<P>> {
    plan.blobs
        .iter()
        .map(|b| vec![P::T(b.hash.0.clone()), P::B(b.data.clone())])
        .collect()
}

/// The column values of a ticket row, in [`TICKET_COLUMNS`] order.
fn ticket_params(t: &Ticket) -> StoreResult<Vec<P>> {
    let key = PageKey::of(t);
    Ok(vec![
        P::B(id_bytes(t.id)),
        P::T(t.number.to_string()),
        P::I(t.version as i64),
        P::T(t.queue.clone()),
        P::I(state_index(t.state_type)),
        P::I(i64::from(t.archived)),
        P::I(i64::from(key.rank)),
        P::I(nanos(key.created)),
        P::I(i64::from(t.lock.holder().is_some())),
        P::ot(t.owner.as_deref()),
        P::ot(t.customer.as_deref()),
        P::ot(t.customer_company.as_deref()),
        P::oi(t.due(DueKind::LockExpiry).map(nanos)),
        P::oi(t.due(DueKind::Pending).map(nanos)),
        P::oi(t.due(DueKind::Escalation).map(nanos)),
        P::T(encode(t)?),
    ])
}

impl SqlStore {
    /// Connects by URL — `sqlite:PATH`, `postgres://…`, `mysql://…` (also MariaDB) — and
    /// applies the embedded migrations.
    pub async fn connect(url: &str) -> StoreResult<SqlStore> {
        let backend = |e: sqlx::Error| StoreError::Backend(format!("connecting to {url}: {e}"));
        let db = if url.starts_with("sqlite:") {
            #[cfg(feature = "sqlite")]
            {
                use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
                let options = SqliteConnectOptions::from_str(url)
                    .map_err(backend)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(false)
                    .busy_timeout(std::time::Duration::from_secs(30));
                let pool = pool_options()
                    .max_connections(8)
                    .connect_with(options)
                    .await
                    .map_err(backend)?;
                sqlx::migrate!("./migrations/sqlite")
                    .run(&pool)
                    .await
                    .map_err(|e| StoreError::Backend(format!("migrating {url}: {e}")))?;
                Db::Sqlite(pool)
            }
            #[cfg(not(feature = "sqlite"))]
            return Err(StoreError::Backend(
                "built without the sqlite feature".into(),
            ));
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            #[cfg(feature = "postgres")]
            {
                // Every statement is planned once per connection: planning the commit
                // statement took a quarter of the server's time, and every query path is
                // index-backed under generic plans (tests/explain.rs checks).
                let options = sqlx::postgres::PgConnectOptions::from_str(url)
                    .map_err(backend)?
                    .options([("plan_cache_mode", "force_generic_plan")]);
                let pool = pool_options()
                    .max_connections(16)
                    .connect_with(options)
                    .await
                    .map_err(backend)?;
                sqlx::migrate!("./migrations/postgres")
                    .run(&pool)
                    .await
                    .map_err(|e| StoreError::Backend(format!("migrating {url}: {e}")))?;
                Db::Postgres(pool)
            }
            #[cfg(not(feature = "postgres"))]
            return Err(StoreError::Backend(
                "built without the postgres feature".into(),
            ));
        } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            #[cfg(feature = "mysql")]
            {
                let url = url.replacen("mariadb://", "mysql://", 1);
                let pool = pool_options()
                    .max_connections(16)
                    .connect(&url)
                    .await
                    .map_err(backend)?;
                sqlx::migrate!("./migrations/mysql")
                    .run(&pool)
                    .await
                    .map_err(|e| StoreError::Backend(format!("migrating {url}: {e}")))?;
                Db::MySql(pool)
            }
            #[cfg(not(feature = "mysql"))]
            return Err(StoreError::Backend(
                "built without the mysql feature".into(),
            ));
        } else {
            return Err(StoreError::Backend(format!(
                "unsupported database URL {url:?}: use sqlite:PATH, postgres://… or mysql://…"
            )));
        };
        let wake = match &db {
            #[cfg(feature = "postgres")]
            Db::Postgres(pool) => Some(notifier(pool.clone())),
            #[allow(unreachable_patterns)]
            _ => None,
        };
        let plain = SqlStore {
            db,
            wake,
            commits: None,
            lookups: None,
            queues: Arc::default(),
            appended: Arc::default(),
            listening: Arc::default(),
        };
        let mut store = plain.clone();
        let writer = plain.clone();
        store.commits = Some(Joiner::start(move |changes| {
            let writer = writer.clone();
            async move { writer.commit_changes(changes).await }
        }));
        if store.dialect() == Dialect::Postgres {
            store.lookups = Some(Joiner::start(move |requests| {
                let reader = plain.clone();
                async move { reader.look_up_all(requests).await }
            }));
        }
        store.upgrade_terms().await?;
        let indexed = store.backfill_search().await?;
        if indexed > 0 {
            tracing::info!("indexed {indexed} tickets that had no search terms");
        }
        Ok(store)
    }

    /// How single commits have been joined into transactions so far (batch commits are not
    /// counted).
    pub fn write_stats(&self) -> WriteStats {
        self.commits
            .as_ref()
            .map_or(WriteStats::default(), Joiner::stats)
    }

    /// The dialect in use.
    pub fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    fn upsert(&self, table: &str, key: &str, columns: &[&str]) -> String {
        let all: Vec<&str> = std::iter::once(key)
            .chain(columns.iter().copied())
            .collect();
        let marks = vec!["?"; all.len()].join(", ");
        let head = format!("INSERT INTO {table} ({}) VALUES ({marks})", all.join(", "));
        match self.dialect() {
            Dialect::MySql => format!(
                "{head} ON DUPLICATE KEY UPDATE {}",
                columns
                    .iter()
                    .map(|c| format!("{c} = VALUES({c})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => format!(
                "{head} ON CONFLICT ({key}) DO UPDATE SET {}",
                columns
                    .iter()
                    .map(|c| format!("{c} = excluded.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// An `INSERT` of `rows` rows; with `ignore`, rows whose key exists are skipped.
    fn insert_sql(&self, table: &str, columns: &[&str], rows: usize, ignore: bool) -> String {
        let row = format!("({})", vec!["?"; columns.len()].join(", "));
        let values = vec![row.as_str(); rows].join(", ");
        let columns = columns.join(", ");
        match (ignore, self.dialect()) {
            (false, _) => format!("INSERT INTO {table} ({columns}) VALUES {values}"),
            (true, Dialect::MySql) => {
                format!("INSERT IGNORE INTO {table} ({columns}) VALUES {values}")
            }
            (true, _) => {
                format!("INSERT INTO {table} ({columns}) VALUES {values} ON CONFLICT DO NOTHING")
            }
        }
    }

    /// Inserts rows with as few multi-row statements as the databases' parameter and packet
    /// limits allow (one per table for a batch of a thousand tickets).
    async fn insert_rows(
        &self,
        tx: &mut Tx,
        table: &str,
        columns: &[&str],
        rows: Vec<Vec<P>>,
        ignore: bool,
    ) -> StoreResult<()> {
        self.insert_chunks(tx, columns.len(), rows, |count| {
            self.insert_sql(table, columns, count, ignore)
        })
        .await
    }

    /// Inserts rows as [`SqlStore::insert_rows`] does, with `on_conflict` deciding what
    /// happens to rows whose key exists.
    async fn upsert_rows(
        &self,
        tx: &mut Tx,
        table: &str,
        columns: &[&str],
        rows: Vec<Vec<P>>,
        on_conflict: &str,
    ) -> StoreResult<()> {
        self.insert_chunks(tx, columns.len(), rows, |count| {
            format!(
                "{} {on_conflict}",
                self.insert_sql(table, columns, count, false)
            )
        })
        .await
    }

    /// Runs `sql(count)` for chunks of `rows` that fit the parameter and packet limits.
    async fn insert_chunks(
        &self,
        tx: &mut Tx,
        columns: usize,
        rows: Vec<Vec<P>>,
        sql: impl Fn(usize) -> String,
    ) -> StoreResult<()> {
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let (mut params, mut count, mut bytes) = (Vec::new(), 0, 0);
            while let Some(row) = rows.peek() {
                let size: usize = row.iter().map(P::size).sum();
                let fits = (count + 1) * columns <= MAX_PARAMS && bytes + size <= MAX_BYTES;
                if count > 0 && !fits {
                    break;
                }
                params.extend(rows.next().into_iter().flatten());
                count += 1;
                bytes += size;
            }
            tx.exec(&sql(count), &params).await?;
        }
        Ok(())
    }

    /// Adds a plan's statistics tallies to their counters, in key order.
    async fn add_tallies(&self, tx: &mut Tx, plan: &batch::Plan<'_>) -> StoreResult<()> {
        let rows = tally_rows(plan);
        let on_conflict = match self.dialect() {
            Dialect::MySql => "ON DUPLICATE KEY UPDATE value = value + VALUES(value)",
            _ => "ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value",
        };
        self.upsert_rows(tx, "counters", &["name", "value"], rows, on_conflict)
            .await
    }

    /// `FOR UPDATE` where the dialect has row locks (SQLite locks the database instead).
    fn for_update(&self) -> &'static str {
        match self.dialect() {
            Dialect::Sqlite => "",
            _ => " FOR UPDATE",
        }
    }

    /// The number a one-row, one-column `select` finds for `key`; 0 when there is no row.
    async fn number(&self, select: &str, key: &str) -> StoreResult<u64> {
        Ok(self
            .db
            .rows(select, &[P::T(key.into())], &[K::I])
            .await?
            .first()
            .and_then(|r| r.first()?.i())
            .unwrap_or(0) as u64)
    }

    /// Advances counter `name` by `count` and returns its new value.
    async fn counter_add(&self, tx: &mut Tx, name: &str, count: u64) -> StoreResult<u64> {
        self.counter_bump(tx, name, count).await?;
        let rows = tx
            .rows(
                "SELECT value FROM counters WHERE name = ?",
                &[P::T(name.into())],
                &[K::I],
            )
            .await?;
        let value = rows
            .first()
            .and_then(|r| r.first())
            .and_then(V::i)
            .ok_or_else(|| StoreError::Backend(format!("counter {name} vanished")))?;
        Ok(value as u64)
    }

    /// Advances counter `name` by `count`, creating it at 0 first.
    async fn counter_bump(&self, tx: &mut Tx, name: &str, count: u64) -> StoreResult<()> {
        let sql = match self.dialect() {
            Dialect::MySql => {
                "INSERT INTO counters (name, value) VALUES (?, ?) \
                 ON DUPLICATE KEY UPDATE value = value + VALUES(value)"
            }
            _ => {
                "INSERT INTO counters (name, value) VALUES (?, ?) \
                 ON CONFLICT (name) DO UPDATE SET value = counters.value + excluded.value"
            }
        };
        tx.exec(sql, &[P::T(name.into()), P::I(count as i64)])
            .await?;
        Ok(())
    }

    /// Rows of `SELECT {columns} FROM {table} WHERE {key} IN (…)`, one statement per chunk of
    /// keys.
    async fn rows_in(
        &self,
        tx: &mut Tx,
        select: &str,
        keys: Vec<P>,
        kinds: &[K],
        group_by: &str,
    ) -> StoreResult<Vec<Vec<V>>> {
        let mut out = Vec::new();
        for chunk in keys.chunks(MAX_PARAMS / 4) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!("{select} IN ({marks}){group_by}");
            out.extend(tx.rows(&sql, chunk, kinds).await?);
        }
        Ok(out)
    }

    /// What the database holds for the keys a batch touches, with one statement per kind of
    /// key. No row locks: the conditional `UPDATE` is the compare-and-swap and the unique
    /// indexes guard the rest (locking missing rows would take gap locks that deadlock
    /// concurrent creations on MariaDB).
    async fn known(&self, tx: &mut Tx, keys: Keys) -> StoreResult<Known> {
        let corrupt = || StoreError::Backend("corrupt ticket row".into());
        let mut known = Known::default();
        let ids = keys.tickets.iter().map(|id| P::B(id_bytes(*id))).collect();
        let select = "SELECT id, version, number FROM tickets WHERE id";
        for row in self
            .rows_in(tx, select, ids, &[K::B, K::I, K::T], "")
            .await?
        {
            let (Some(id), Some(version), Some(number)) = (row[0].b(), row[1].i(), row[2].t())
            else {
                return Err(corrupt());
            };
            let id = TicketId(uuid::Uuid::from_slice(id).map_err(|_| corrupt())?);
            known
                .tickets
                .insert(id, (version as u64, number.to_string()));
        }
        let numbers = keys.numbers.into_iter().map(P::T).collect();
        let select = "SELECT number FROM tickets WHERE number";
        for row in self.rows_in(tx, select, numbers, &[K::T], "").await? {
            known.numbers.extend(row[0].t().map(String::from));
        }
        let mids = keys.message_ids.into_iter().map(P::T).collect();
        let select = "SELECT message_id FROM articles WHERE message_id";
        for row in self.rows_in(tx, select, mids, &[K::T], "").await? {
            known.message_ids.extend(row[0].t().map(String::from));
        }
        let stored: Vec<P> = keys
            .with_articles
            .iter()
            .filter(|id| known.tickets.contains_key(id))
            .map(|id| P::B(id_bytes(*id)))
            .collect();
        let select = "SELECT ticket, MAX(position) FROM articles WHERE ticket";
        for row in self
            .rows_in(tx, select, stored, &[K::B, K::I], " GROUP BY ticket")
            .await?
        {
            let (Some(id), Some(position)) = (row[0].b(), row[1].i()) else {
                return Err(corrupt());
            };
            let id = TicketId(uuid::Uuid::from_slice(id).map_err(|_| corrupt())?);
            known.positions.insert(id, position);
        }
        Ok(known)
    }

    /// Plans `changes` against the database and writes what passes, one multi-row statement
    /// per table.
    async fn write_changes(&self, tx: &mut Tx, changes: &[Change]) -> StoreResult<Written> {
        let known = self.known(tx, Keys::of(changes)).await?;
        let plan = batch::plan(known, changes);
        let sets = TICKET_COLUMNS
            .split(", ")
            .skip(2)
            .map(|c| format!("{c} = ?"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("UPDATE tickets SET {sets} WHERE id = ? AND version = ?");
        for (t, expected) in &plan.updates {
            let mut params = ticket_params(t)?.split_off(2);
            params.push(P::B(id_bytes(t.id)));
            params.push(P::I(*expected as i64));
            if tx.exec(&sql, &params).await? != 1 {
                return Ok(Written::Raced(StoreError::Conflict(format!(
                    "ticket {}",
                    t.number
                ))));
            }
        }
        let columns: Vec<&str> = TICKET_COLUMNS.split(", ").collect();
        let rows = plan
            .inserts
            .iter()
            .map(|t| ticket_params(t))
            .collect::<StoreResult<_>>()?;
        if let Err(e) = self.insert_rows(tx, "tickets", &columns, rows, false).await {
            return raced(e, || match plan.inserts.first() {
                Some(t) => StoreError::Duplicate(Unique::TicketNumber(t.number.clone())),
                None => StoreError::Conflict("tickets".into()),
            });
        }
        let queues = plan
            .queues
            .iter()
            .map(|q| vec![P::T(q.to_string())])
            .collect();
        self.insert_rows(tx, "ticket_queues", &["queue"], queues, true)
            .await?;
        let rows = article_rows(&plan)?;
        let columns = ["ticket", "position", "message_id", "doc"];
        if let Err(e) = self
            .insert_rows(tx, "articles", &columns, rows, false)
            .await
        {
            return raced(e, || {
                let mid = plan
                    .articles
                    .iter()
                    .find_map(|(_, _, a)| a.message_id.clone());
                match mid {
                    Some(mid) => StoreError::Duplicate(Unique::MessageId(mid)),
                    None => StoreError::Conflict("articles".into()),
                }
            });
        }
        self.insert_rows(tx, "blobs", &["hash", "data"], blob_rows(&plan), true)
            .await?;
        self.write_search(tx, &plan).await?;
        self.add_tallies(tx, &plan).await?;
        // Quotas last, in key order (no deadlocks between batches): one conditional UPDATE
        // per counter. One that does not fit makes the batch a race, so each change is
        // written again on its own and only those past the limit fail.
        let standing = changes
            .iter()
            .zip(&plan.outcomes)
            .filter(|(_, o)| o.is_ok());
        let units = quota_units(standing.map(|(c, _)| &c.quotas));
        for (key, (count, limit)) in units {
            self.counter_bump(tx, key, 0).await?;
            let taken = tx
                .exec(
                    "UPDATE counters SET value = value + ? WHERE name = ? AND value + ? <= ?",
                    &[
                        P::I(count as i64),
                        P::T(key.into()),
                        P::I(count as i64),
                        P::I(limit as i64),
                    ],
                )
                .await?;
            if taken != 1 {
                return Ok(Written::Raced(StoreError::QuotaExhausted(key.into())));
            }
        }
        Ok(Written::Done(plan.outcomes))
    }

    /// Writes the changes one by one, each isolated by a savepoint: after a race, so that the
    /// change that lost it fails alone.
    async fn write_one_by_one(
        &self,
        tx: &mut Tx,
        changes: &[Change],
    ) -> StoreResult<Vec<StoreResult<Vec<Event>>>> {
        let mut outcomes = Vec::with_capacity(changes.len());
        for change in changes {
            tx.exec("SAVEPOINT tc_change", &[]).await?;
            let outcome = match self.write_changes(tx, std::slice::from_ref(change)).await? {
                Written::Done(mut outcome) => outcome
                    .pop()
                    .unwrap_or_else(|| Err(StoreError::Backend("change without outcome".into()))),
                Written::Raced(e) => Err(e),
            };
            if outcome.is_err() {
                tx.exec("ROLLBACK TO SAVEPOINT tc_change", &[]).await?;
            }
            tx.exec("RELEASE SAVEPOINT tc_change", &[]).await?;
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// Commits changes in one transaction with multi-row statements; if another transaction
    /// raced it, again with each change isolated by a savepoint. Events get their sequence
    /// numbers last, from the locked counter row, so the lock is held only for the event
    /// inserts and the commit.
    async fn commit_changes(&self, changes: Vec<Change>) -> StoreResult<Vec<StoreResult<Receipt>>> {
        let parts = (changes.len() / PART_SIZE).min(MAX_PARTS);
        if self.dialect() != Dialect::Postgres || parts < 2 || !independent(&changes) {
            return self.commit_whole(changes).await;
        }
        // A large batch of independent changes is written in parts side by side, on
        // several connections, so that more than one server process writes its rows. Each
        // change stays atomic; should a part fail as a whole, the others stand, and a retry
        // of the batch meets their changes as duplicates.
        let size = changes.len().div_ceil(parts);
        let mut changes = changes.into_iter();
        let mut running = Vec::with_capacity(parts);
        loop {
            let part: Vec<Change> = changes.by_ref().take(size).collect();
            if part.is_empty() {
                break;
            }
            let store = self.clone();
            running.push(tokio::spawn(async move { store.commit_whole(part).await }));
        }
        let mut results = Vec::new();
        for part in running {
            let part = part
                .await
                .map_err(|e| StoreError::Backend(format!("a batch part failed: {e}")))?;
            results.extend(part?);
        }
        Ok(results)
    }

    /// Commits changes in one transaction: on PostgreSQL in one statement if it can, else
    /// the careful way.
    async fn commit_whole(&self, changes: Vec<Change>) -> StoreResult<Vec<StoreResult<Receipt>>> {
        #[cfg(feature = "postgres")]
        if let Db::Postgres(pool) = &self.db
            && let Some(events) = pg::commit_at_once(pool, &self.queues, &changes).await?
        {
            self.woken(events.iter().map(Vec::len).sum());
            return Ok(events
                .into_iter()
                .map(|events| Ok(Receipt { events }))
                .collect());
        }
        let mut tx = self.db.begin().await?;
        let mut written = self.write_changes(&mut tx, &changes).await;
        if let Ok(Written::Raced(e)) = &written {
            tracing::debug!("batch raced ({e}); writing its changes one by one");
            tx.rollback().await?;
            tx = self.db.begin().await?;
            written = self
                .write_one_by_one(&mut tx, &changes)
                .await
                .map(Written::Done);
        }
        let outcomes = match written {
            Ok(Written::Done(outcomes)) => outcomes,
            Err(e) if db::is_transaction_lost(&e) => {
                // The database chose this transaction as a deadlock victim: nothing of it
                // stands. Every change is a conflict; callers recompute and retry.
                tracing::debug!("transaction lost: {e}");
                return Ok(changes
                    .iter()
                    .map(|_| Err(StoreError::Conflict("concurrent transaction".into())))
                    .collect());
            }
            Ok(Written::Raced(e)) | Err(e) => return Err(e),
        };
        let total: usize = outcomes.iter().flatten().map(Vec::len).sum();
        let mut numbers = self.event_numbers(&mut tx, total).await?.into_iter();
        let results: Vec<StoreResult<Receipt>> = outcomes
            .into_iter()
            .map(|outcome| {
                outcome.map(|events| Receipt {
                    events: events
                        .into_iter()
                        .map(|mut e| {
                            e.seq = numbers.next().unwrap_or_default();
                            e
                        })
                        .collect(),
                })
            })
            .collect();
        let rows = results
            .iter()
            .flatten()
            .flat_map(|r| &r.events)
            .map(|e| {
                Ok(vec![
                    P::I(e.seq as i64),
                    P::B(id_bytes(e.ticket)),
                    P::T(encode(e)?),
                ])
            })
            .collect::<StoreResult<_>>()?;
        self.insert_rows(&mut tx, "events", &["seq", "ticket", "doc"], rows, false)
            .await?;
        tx.commit().await?;
        self.woken(total);
        Ok(results)
    }

    /// Tells event followers about `count` new events.
    fn woken(&self, count: usize) {
        if count == 0 {
            return;
        }
        self.appended.ring();
        if let Some(wake) = &self.wake {
            // Full means a wake-up is already pending: it covers these events too.
            let _ = wake.try_send(());
        }
    }

    /// Numbers for `count` events, ascending. PostgreSQL takes them from a sequence, under the
    /// shared [`EVENT_NUMBERS`] lock held to commit, so commits run side by side; elsewhere
    /// they come from the counter row, locked until commit, so they become visible in order.
    async fn event_numbers(&self, tx: &mut Tx, count: usize) -> StoreResult<Vec<u64>> {
        if count == 0 {
            return Ok(Vec::new());
        }
        if self.dialect() != Dialect::Postgres {
            let last = self.counter_add(tx, "event_seq", count as u64).await?;
            return Ok((last + 1 - count as u64..=last).collect());
        }
        tx.exec(
            "SELECT pg_advisory_xact_lock_shared(?)",
            &[P::I(EVENT_NUMBERS)],
        )
        .await?;
        let rows = tx
            .rows(
                "SELECT nextval('events_seq') FROM generate_series(1, ?)",
                &[P::I(count as i64)],
                &[K::I],
            )
            .await?;
        let mut numbers: Vec<u64> = rows
            .iter()
            .filter_map(|r| r.first()?.i())
            .map(|n| n as u64)
            .collect();
        if numbers.len() != count {
            return Err(StoreError::Backend(
                "events_seq gave too few numbers".into(),
            ));
        }
        numbers.sort_unstable();
        Ok(numbers)
    }

    /// Events after `after` in order, up to `limit`, stopping before a gap unless every
    /// number below `settled` is known to be final.
    async fn events_after(
        &self,
        after: u64,
        limit: usize,
        settled: u64,
    ) -> StoreResult<(Vec<Event>, bool, u64)> {
        let from = i64::try_from(after).unwrap_or(i64::MAX);
        let sql = format!("SELECT seq, doc FROM events WHERE seq > ? ORDER BY seq LIMIT {limit}");
        let rows = self.db.rows(&sql, &[P::I(from)], &[K::I, K::T]).await?;
        let mut expected = after.saturating_add(1);
        let mut events = Vec::with_capacity(rows.len());
        let mut highest = after;
        for row in &rows {
            let seq = row
                .first()
                .and_then(V::i)
                .ok_or_else(|| StoreError::Backend("corrupt event row".into()))?
                as u64;
            highest = highest.max(seq);
            if seq != expected && seq > settled {
                return Ok((events, true, highest));
            }
            events.push(numbered(seq, row.get(1))?);
            expected = seq + 1;
        }
        Ok((events, false, highest))
    }

    /// The document `kind` finds for `key`, read together with concurrent lookups.
    async fn look_up(&self, kind: Lookup, key: P) -> StoreResult<Option<String>> {
        let request = match &self.lookups {
            Some(lookups) => match lookups.call((kind, key)).await {
                Ok(found) => return found,
                Err(request) => request,
            },
            None => (kind, key),
        };
        self.look_up_all(vec![request])
            .await?
            .pop()
            .unwrap_or(Ok(None))
    }

    /// Answers lookups with one statement per kind.
    async fn look_up_all(
        &self,
        requests: Vec<(Lookup, P)>,
    ) -> StoreResult<Vec<StoreResult<Option<String>>>> {
        if let [(kind, key)] = requests.as_slice() {
            // Alone, the database's own comparison decides (MariaDB's collations match
            // case-insensitively).
            let sql = format!("{} = ?", kind.select());
            let rows = self
                .db
                .rows(&sql, std::slice::from_ref(key), &[kind.key(), K::T])
                .await?;
            let doc = rows.into_iter().next().and_then(|r| r.into_iter().nth(1));
            return Ok(vec![Ok(doc.and_then(|d| d.t().map(String::from)))]);
        }
        let mut found: HashMap<(Lookup, Vec<u8>), String> = HashMap::new();
        let kinds: BTreeSet<Lookup> = requests.iter().map(|(kind, _)| *kind).collect();
        for kind in kinds {
            let mut keys: Vec<&P> = requests
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, key)| key)
                .collect();
            keys.sort_by(|a, b| key_bytes(a).cmp(key_bytes(b)));
            keys.dedup_by(|a, b| key_bytes(a) == key_bytes(b));
            let marks = vec!["?"; keys.len()].join(", ");
            let sql = format!("{} IN ({marks})", kind.select());
            let params: Vec<P> = keys.into_iter().cloned().collect();
            for row in self.db.rows(&sql, &params, &[kind.key(), K::T]).await? {
                let key = match row.first() {
                    Some(V::T(t)) => t.as_bytes().to_vec(),
                    Some(V::B(b)) => b.clone(),
                    _ => continue,
                };
                if let Some(doc) = row.get(1).and_then(V::t) {
                    found.insert((kind, key), doc.to_string());
                }
            }
        }
        Ok(requests
            .iter()
            .map(|(kind, key)| Ok(found.get(&(*kind, key_bytes(key).to_vec())).cloned()))
            .collect())
    }

    async fn tickets_where(&self, sql: &str, params: &[P]) -> StoreResult<Vec<Ticket>> {
        self.db
            .rows(sql, params, &[K::T])
            .await?
            .iter()
            .map(|r| decode(r.first(), "ticket"))
            .collect()
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn config(&self) -> StoreResult<Option<StoredConfig>> {
        let version = self
            .db
            .rows(
                "SELECT value FROM counters WHERE name = 'config_version'",
                &[],
                &[K::I],
            )
            .await?
            .first()
            .and_then(|r| r.first()?.i());
        let Some(version) = version else {
            return Ok(None);
        };
        let rows = self
            .db
            .rows("SELECT value FROM meta WHERE name = 'config'", &[], &[K::B])
            .await?;
        let bytes = rows
            .first()
            .and_then(|r| r.first()?.b())
            .ok_or_else(|| StoreError::Backend("configuration version without document".into()))?;
        let config = serde_json::from_slice(bytes)
            .map_err(|e| StoreError::Backend(format!("corrupt configuration: {e}")))?;
        Ok(Some(StoredConfig {
            version: version as u64,
            config,
        }))
    }

    async fn save_config(&self, config: &Config, expected: u64) -> StoreResult<u64> {
        let json = encode(config)?.into_bytes();
        let mut tx = self.db.begin().await?;
        let sql = format!(
            "SELECT value FROM counters WHERE name = 'config_version'{}",
            self.for_update()
        );
        let current = tx
            .rows(&sql, &[], &[K::I])
            .await?
            .first()
            .and_then(|r| r.first()?.i())
            .unwrap_or(0) as u64;
        if current != expected {
            return Err(StoreError::Conflict("configuration".into()));
        }
        let upsert_counter = self.upsert("counters", "name", &["value"]);
        tx.exec(
            &upsert_counter,
            &[P::T("config_version".into()), P::I(current as i64 + 1)],
        )
        .await?;
        let upsert_meta = self.upsert("meta", "name", &["value"]);
        tx.exec(&upsert_meta, &[P::T("config".into()), P::B(json)])
            .await?;
        tx.commit().await?;
        Ok(current + 1)
    }

    async fn config_version(&self) -> StoreResult<u64> {
        let rows = self
            .db
            .rows(
                "SELECT value FROM counters WHERE name = 'config_version'",
                &[],
                &[K::I],
            )
            .await?;
        Ok(rows.first().and_then(|r| r.first()?.i()).unwrap_or(0) as u64)
    }

    async fn account(&self, login: &str) -> StoreResult<Option<StoredAccount>> {
        let rows = self
            .db
            .rows(
                "SELECT version, doc FROM accounts WHERE login = ?",
                &[P::T(login.into())],
                &[K::I, K::T],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(StoredAccount {
            version: row.first().and_then(V::i).unwrap_or(0) as u64,
            account: decode(row.get(1), "account")?,
        }))
    }

    async fn save_account(&self, account: &Account, expected: u64) -> StoreResult<u64> {
        let conflict = || StoreError::Conflict(format!("account {}", account.login));
        let doc = encode(account)?;
        let version = expected as i64 + 1;
        let login = P::T(account.login.clone());
        // Compare-and-swap in one statement: a new account is an insert that the primary key
        // refuses when another process made it first; a change names the version it read.
        if expected == 0 {
            let sql = "INSERT INTO accounts (login, version, doc) VALUES (?, 1, ?)";
            return match self.db.exec(sql, &[login, P::T(doc)]).await {
                Ok(_) => Ok(1),
                Err(e) if is_unique_violation(&e) => Err(conflict()),
                Err(e) => Err(e),
            };
        }
        let sql = "UPDATE accounts SET version = ?, doc = ? WHERE login = ? AND version = ?";
        let params = [P::I(version), P::T(doc), login, P::I(expected as i64)];
        match self.db.exec(sql, &params).await? {
            1 => Ok(version as u64),
            _ => Err(conflict()),
        }
    }

    async fn put_customer(&self, customer: &CustomerUser) -> StoreResult<()> {
        let email = customer.email.to_lowercase();
        let mut tx = self.db.begin().await?;
        let owner = tx
            .rows(
                "SELECT login FROM customers WHERE email = ?",
                &[P::T(email.clone())],
                &[K::T],
            )
            .await?;
        if let Some(other) = owner.first().and_then(|r| r.first()?.t())
            && other != customer.login
        {
            return Err(StoreError::Backend(format!(
                "customer email {email} already belongs to {other}"
            )));
        }
        let upsert = self.upsert("customers", "login", &["email", "doc"]);
        tx.exec(
            &upsert,
            &[
                P::T(customer.login.clone()),
                P::T(email),
                P::T(encode(customer)?),
            ],
        )
        .await?;
        tx.commit().await
    }

    async fn customer(&self, login: &str) -> StoreResult<Option<CustomerUser>> {
        self.look_up(Lookup::Customer, P::T(login.into()))
            .await?
            .map(|doc| decode_text(&doc, "customer"))
            .transpose()
    }

    async fn customers(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<CustomerUser>> {
        let limit = P::I(i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = match after {
            Some(after) => {
                let sql = "SELECT doc FROM customers WHERE login > ? ORDER BY login LIMIT ?";
                self.db
                    .rows(sql, &[P::T(after.into()), limit], &[K::T])
                    .await?
            }
            None => {
                let sql = "SELECT doc FROM customers ORDER BY login LIMIT ?";
                self.db.rows(sql, &[limit], &[K::T]).await?
            }
        };
        rows.iter()
            .map(|row| decode(row.first(), "customer"))
            .collect()
    }

    async fn customer_by_email(&self, email: &str) -> StoreResult<Option<CustomerUser>> {
        self.look_up(Lookup::CustomerByEmail, P::T(email.to_lowercase()))
            .await?
            .map(|doc| decode_text(&doc, "customer"))
            .transpose()
    }

    async fn next_counter(&self, key: &str, count: u64) -> StoreResult<u64> {
        let mut tx = self.db.begin().await?;
        let last = self.counter_add(&mut tx, key, count).await?;
        tx.commit().await?;
        Ok(last - count + 1)
    }

    async fn ticket(&self, id: TicketId) -> StoreResult<Option<Ticket>> {
        self.look_up(Lookup::Ticket, P::B(id_bytes(id)))
            .await?
            .map(|doc| decode_text(&doc, "ticket"))
            .transpose()
    }

    async fn ticket_by_number(&self, number: &TicketNumber) -> StoreResult<Option<Ticket>> {
        self.look_up(Lookup::TicketByNumber, P::T(number.to_string()))
            .await?
            .map(|doc| decode_text(&doc, "ticket"))
            .transpose()
    }

    async fn article_by_message_id(&self, message_id: &str) -> StoreResult<Option<Article>> {
        self.look_up(Lookup::Article, P::T(message_id.into()))
            .await?
            .map(|doc| decode_text(&doc, "article"))
            .transpose()
    }

    async fn articles(&self, ticket: TicketId) -> StoreResult<Vec<Article>> {
        self.db
            .rows(
                "SELECT doc FROM articles WHERE ticket = ? ORDER BY position",
                &[P::B(id_bytes(ticket))],
                &[K::T],
            )
            .await?
            .iter()
            .map(|r| decode(r.first(), "article"))
            .collect()
    }

    async fn blob(&self, hash: &ContentHash) -> StoreResult<Option<Vec<u8>>> {
        let rows = self
            .db
            .rows(
                "SELECT data FROM blobs WHERE hash = ?",
                &[P::T(hash.0.clone())],
                &[K::B],
            )
            .await?;
        Ok(rows
            .first()
            .and_then(|r| r.first()?.b())
            .map(<[u8]>::to_vec))
    }

    async fn history(&self, ticket: TicketId) -> StoreResult<Vec<Event>> {
        self.db
            .rows(
                "SELECT seq, doc FROM events WHERE ticket = ? ORDER BY seq",
                &[P::B(id_bytes(ticket))],
                &[K::I, K::T],
            )
            .await?
            .iter()
            .map(|r| {
                let seq = r.first().and_then(V::i).unwrap_or_default();
                numbered(seq as u64, r.get(1))
            })
            .collect()
    }

    async fn query(&self, q: &TicketQuery) -> StoreResult<TicketPage> {
        let take = q.limit.saturating_add(1);
        // Conditions every branch shares; each branch is then one index range.
        let mut shared = Where::default();
        if let Some(after) = &q.after {
            let (rank, created) = (i64::from(after.rank), nanos(after.created));
            shared = shared.cond(
                "(urgency > ? OR (urgency = ? AND (created > ? OR (created = ? AND id > ?))))",
                [
                    P::I(rank),
                    P::I(rank),
                    P::I(created),
                    P::I(created),
                    P::B(id_bytes(after.id)),
                ],
            );
        }
        if let Some(locked) = q.locked {
            // A literal, so PostgreSQL's partial index of locked tickets applies.
            shared = shared.cond(if locked { "locked = 1" } else { "locked = 0" }, []);
        }
        let queues: Option<Vec<P>> = q
            .queues
            .as_ref()
            .map(|qs| qs.iter().map(|s| P::T(s.clone())).collect());
        let states =
            |types: &BTreeSet<StateType>| types.iter().map(|s| P::I(state_index(*s))).collect();
        let types: BTreeSet<StateType> = q
            .state_types
            .clone()
            .unwrap_or_else(|| StateType::ALL.into_iter().collect());
        let archived: Vec<bool> = q.archived.map_or(vec![false, true], |a| vec![a]);
        let flag = |a: &bool| P::I(i64::from(*a));
        let mut branches: Vec<Where> = Vec::new();
        match (&q.customer, &q.owner) {
            (Some(scope), _) => {
                let mut rest = shared;
                if let Some(owner) = &q.owner {
                    rest = rest.eq("owner", P::T(owner.clone()));
                }
                if let Some(a) = &q.archived {
                    rest = rest.eq("archived", flag(a));
                }
                if let Some(queues) = &queues {
                    rest = rest.one_of("queue", queues.clone());
                }
                if let Some(types) = &q.state_types {
                    rest = rest.one_of("state_type", states(types));
                }
                // Own tickets, and the company's other tickets: disjoint, so the outer LIMIT
                // never counts a ticket twice.
                let login = P::T(scope.login.clone());
                branches.push(Where::default().eq("customer", login.clone()).and(&rest));
                if let Some(company) = &scope.company {
                    branches.push(
                        Where::default()
                            .eq("company", P::T(company.clone()))
                            .cond("(customer IS NULL OR customer <> ?)", [login])
                            .and(&rest),
                    );
                }
            }
            (None, Some(owner)) => {
                // An agent's own tickets: one range per state type, the queues a filter.
                let rest = match &queues {
                    Some(queues) => shared.one_of("queue", queues.clone()),
                    None => shared,
                };
                for a in &archived {
                    for state in &types {
                        branches.push(
                            Where::default()
                                .eq("owner", P::T(owner.clone()))
                                .eq("archived", flag(a))
                                .eq("state_type", P::I(state_index(*state)))
                                .and(&rest),
                        );
                    }
                }
            }
            (None, None) if q.locked == Some(true) => {
                // The locked tickets are few: one range per archive flag.
                let mut rest = shared.one_of("state_type", states(&types));
                if let Some(queues) = &queues {
                    rest = rest.one_of("queue", queues.clone());
                }
                for a in &archived {
                    branches.push(Where::default().eq("archived", flag(a)).and(&rest));
                }
            }
            (None, None) => {
                // The queue view: one range per queue, state type and archive flag.
                let queues: Vec<P> = match queues {
                    Some(queues) => queues,
                    None => self
                        .db
                        .rows("SELECT queue FROM ticket_queues", &[], &[K::T])
                        .await?
                        .iter()
                        .filter_map(|r| Some(P::T(r.first()?.t()?.to_string())))
                        .collect(),
                };
                for a in &archived {
                    for queue in &queues {
                        for state in &types {
                            branches.push(
                                Where::default()
                                    .eq("archived", flag(a))
                                    .eq("queue", queue.clone())
                                    .eq("state_type", P::I(state_index(*state)))
                                    .and(&shared),
                            );
                        }
                    }
                }
            }
        }
        if branches.is_empty() {
            return Ok(TicketPage::default());
        }
        let mut sql = String::from("SELECT doc FROM (");
        let mut params = Vec::new();
        for (i, branch) in branches.into_iter().enumerate() {
            if i > 0 {
                sql.push_str(" UNION ALL ");
            }
            sql.push_str(&format!(
                "SELECT * FROM (SELECT doc, urgency, created, id FROM tickets WHERE {} \
                 ORDER BY urgency, created, id LIMIT {take}) b{i}",
                branch.sql()
            ));
            params.extend(branch.params);
        }
        sql.push_str(&format!(") u ORDER BY urgency, created, id LIMIT {take}"));
        let mut tickets = self.tickets_where(&sql, &params).await?;
        let more = tickets.len() > q.limit;
        tickets.truncate(q.limit);
        Ok(TicketPage {
            next: if more {
                tickets.last().map(PageKey::of)
            } else {
                None
            },
            tickets,
        })
    }

    async fn search(&self, query: &SearchQuery) -> StoreResult<SearchPage> {
        self.search_page(query).await
    }

    async fn faq_entry(&self, number: u64) -> StoreResult<Option<ticketcore::FaqEntry>> {
        self.faq_newest(number).await
    }

    async fn faq_versions(&self, number: u64) -> StoreResult<Vec<ticketcore::FaqEntry>> {
        self.faq_all_versions(number).await
    }

    async fn save_faq(
        &self,
        entry: &ticketcore::FaqEntry,
        blobs: &[ticketcore::article::Blob],
    ) -> StoreResult<()> {
        self.faq_save(entry, blobs).await
    }

    async fn faq_search(&self, query: &ticketcore::FaqQuery) -> StoreResult<ticketcore::FaqPage> {
        self.faq_page(query).await
    }

    async fn put_search(&self, ticket: TicketId, doc: &SearchDoc) -> StoreResult<()> {
        if self.ticket(ticket).await?.is_none() {
            return Err(StoreError::NotFound(format!("ticket {ticket}")));
        }
        self.replace_search(ticket, doc).await
    }

    async fn due(
        &self,
        kind: DueKind,
        until: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Ticket>> {
        let column = due_column(kind);
        let sql = format!(
            "SELECT doc FROM tickets WHERE {column} <= ? ORDER BY {column}, id LIMIT {limit}"
        );
        self.tickets_where(&sql, &[P::I(nanos(until))]).await
    }

    async fn next_due(&self, kind: DueKind) -> StoreResult<Option<DateTime<Utc>>> {
        let column = due_column(kind);
        let sql = format!("SELECT MIN({column}) FROM tickets");
        let rows = self.db.rows(&sql, &[], &[K::I]).await?;
        Ok(rows
            .first()
            .and_then(|r| r.first()?.i())
            .map(DateTime::from_timestamp_nanos))
    }

    async fn commit(&self, change: Change) -> StoreResult<Receipt> {
        let change = match &self.commits {
            Some(commits) => match commits.call(change).await {
                Ok(result) => return result,
                Err(change) => change,
            },
            None => change,
        };
        let mut results = self.commit_changes(vec![change]).await?;
        results
            .pop()
            .unwrap_or_else(|| Err(StoreError::Backend("empty commit result".into())))
    }

    async fn commit_batch(&self, changes: Vec<Change>) -> StoreResult<Vec<StoreResult<Receipt>>> {
        self.commit_changes(changes).await
    }

    async fn events_since(&self, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        let limit = limit.min(i64::MAX as usize);
        let (events, gap, highest) = self.events_after(after, limit, 0).await?;
        if !gap {
            return Ok(events);
        }
        // PostgreSQL: a smaller number may belong to a commit still under way. Every holder of
        // a number below `highest` took the shared lock before its number, so once this
        // exclusive lock is granted they have all ended; a number still missing then belongs
        // to a commit that failed, and is passed.
        let mut barrier = self.db.begin().await?;
        barrier
            .exec("SELECT pg_advisory_xact_lock(?)", &[P::I(EVENT_NUMBERS)])
            .await?;
        barrier.commit().await?;
        Ok(self.events_after(after, limit, highest).await?.0)
    }

    async fn last_seq(&self) -> StoreResult<u64> {
        let mut tx = self.db.begin().await?;
        // PostgreSQL numbers commits from a sequence side by side: once the exclusive lock on
        // event numbers is granted, every commit holding a smaller number has ended.
        #[cfg(feature = "postgres")]
        if matches!(self.db, Db::Postgres(_)) {
            tx.exec("SELECT pg_advisory_xact_lock(?)", &[P::I(EVENT_NUMBERS)])
                .await?;
        }
        let rows = tx.rows("SELECT MAX(seq) FROM events", &[], &[K::I]).await?;
        tx.commit().await?;
        Ok(rows.first().and_then(|r| r.first()?.i()).unwrap_or(0) as u64)
    }

    /// Woken at once by this process's commits, and on PostgreSQL by any process's through
    /// one listener per process. SQLite and MySQL/MariaDB cannot tell other processes about a
    /// commit: their followers also look every [`POLL`] until `timeout`.
    async fn wait_for_events(&self, after: u64, timeout: std::time::Duration) -> StoreResult<()> {
        let arrived = || async { Ok(!self.events_since(after, 1).await?.is_empty()) };
        // Irrefutable in a build with PostgreSQL alone.
        #[cfg(feature = "postgres")]
        #[allow(irrefutable_let_patterns)]
        if let Db::Postgres(pool) = &self.db {
            let bell = Arc::downgrade(&self.appended);
            self.listening
                .get_or_try_init(|| listen(pool.clone(), bell))
                .await?;
            return self.appended.wait(timeout, arrived()).await;
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(());
            }
            self.appended
                .wait(POLL.min(deadline - now), arrived())
                .await?;
            if arrived().await? {
                return Ok(());
            }
        }
    }

    async fn counter(&self, key: &str) -> StoreResult<u64> {
        self.number("SELECT value FROM counters WHERE name = ?", key)
            .await
    }

    async fn counters_between(&self, start: &str, end: &str) -> StoreResult<Vec<(String, i64)>> {
        if start >= end {
            return Ok(Vec::new());
        }
        // By bytes whatever the database's collation (PostgreSQL has an index for that).
        let sql = match self.dialect() {
            Dialect::Postgres => {
                "SELECT name, value FROM counters WHERE name COLLATE \"C\" >= ? \
                 AND name COLLATE \"C\" < ? ORDER BY name COLLATE \"C\""
            }
            _ => "SELECT name, value FROM counters WHERE name >= ? AND name < ? ORDER BY name",
        };
        let rows = self
            .db
            .rows(sql, &[P::T(start.into()), P::T(end.into())], &[K::T, K::I])
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| Some((r.first()?.t()?.to_string(), r.get(1)?.i()?)))
            .collect())
    }

    async fn cursor(&self, consumer: &str) -> StoreResult<u64> {
        self.number("SELECT position FROM cursors WHERE consumer = ?", consumer)
            .await
    }

    async fn consumer_state(&self, consumer: &str) -> StoreResult<Option<Vec<u8>>> {
        let key = ticketcore::store::consumer_state_key(consumer);
        let rows = self
            .db
            .rows(
                "SELECT value FROM meta WHERE name = ?",
                &[P::T(key)],
                &[K::B],
            )
            .await?;
        Ok(rows
            .first()
            .and_then(|r| r.first()?.b())
            .map(<[u8]>::to_vec))
    }

    async fn save_consumer_state(&self, consumer: &str, state: &[u8]) -> StoreResult<()> {
        let key = ticketcore::store::consumer_state_key(consumer);
        let upsert = self.upsert("meta", "name", &["value"]);
        self.db
            .exec(&upsert, &[P::T(key), P::B(state.to_vec())])
            .await?;
        Ok(())
    }

    async fn save_cursor(&self, consumer: &str, position: u64) -> StoreResult<()> {
        let upsert = self.upsert("cursors", "consumer", &["position"]);
        self.db
            .exec(
                &upsert,
                &[
                    P::T(consumer.into()),
                    P::I(position.min(i64::MAX as u64) as i64),
                ],
            )
            .await?;
        Ok(())
    }
}

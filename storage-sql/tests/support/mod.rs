//! Fresh, isolated databases for tests: a temporary SQLite file, a new PostgreSQL schema, a new
//! MariaDB database. Schemas and databases of earlier test processes are dropped on the way.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sqlx::{AssertSqlSafe, Connection, Row};
use ticketcore::Store;
use ticketcore_sql::SqlStore;

pub const POSTGRES: &str = "TICKETCORE_TEST_POSTGRES_URL";
pub const MYSQL: &str = "TICKETCORE_TEST_MYSQL_URL";
const PREFIX: &str = "tc_test_";

static NEXT: AtomicU64 = AtomicU64::new(0);

fn fresh_name() -> String {
    format!(
        "{PREFIX}{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Why the suite for `var` is skipped, if it is.
pub fn unavailable(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => None,
        _ => Some(format!(
            "{var} is not set (scripts/test-databases.sh starts the servers and prints it)"
        )),
    }
}

/// Whether a leftover schema/database belongs to a process that has ended.
fn stale(name: &str) -> bool {
    name.strip_prefix(PREFIX)
        .and_then(|rest| rest.split('_').next())
        .and_then(|pid| pid.parse::<u32>().ok())
        .is_some_and(|pid| {
            pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        })
}

pub async fn sqlite() -> SqlStore {
    let dir = tempfile::tempdir().expect("temp dir").keep();
    let url = format!("sqlite:{}", dir.join("desk.db").display());
    SqlStore::connect(&url).await.expect("sqlite")
}

const LIST: &str = "SELECT CAST(schema_name AS CHAR(255)) FROM information_schema.schemata \
     WHERE schema_name LIKE 'tc\\_test\\_%'";

pub async fn postgres() -> Option<SqlStore> {
    let url = postgres_url().await?;
    Some(SqlStore::connect(&url).await.expect("connect with schema"))
}

/// A URL for a fresh PostgreSQL schema (connect to it as often as you like).
pub async fn postgres_url() -> Option<String> {
    Some(postgres_schema().await?.0)
}

/// A fresh PostgreSQL schema: a URL whose connections use it, and its name. Schemas that
/// earlier test processes left behind are dropped on the way.
pub async fn postgres_schema() -> Option<(String, String)> {
    let url = std::env::var(POSTGRES).ok()?;
    let mut admin = sqlx::PgConnection::connect(&url)
        .await
        .expect("connect to PostgreSQL");
    let leftovers: Vec<String> = sqlx::query(LIST)
        .fetch_all(&mut admin)
        .await
        .expect("list schemas")
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    for schema in leftovers.into_iter().filter(|s| stale(s)) {
        let _ = sqlx::query(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE"
        )))
        .execute(&mut admin)
        .await;
    }
    let schema = fresh_name();
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .expect("create schema");
    let sep = if url.contains('?') { '&' } else { '?' };
    let url = format!("{url}{sep}options=-c%20search_path%3D{schema}");
    Some((url, schema))
}

/// `url` (from [`postgres_schema`], whose `options` come last) with more server settings.
pub fn with_settings(url: &str, settings: &[(&str, &str)]) -> String {
    let mut url = url.to_string();
    for (name, value) in settings {
        url.push_str(&format!("%20-c%20{name}%3D{value}"));
    }
    url
}

/// Drops a schema made by [`postgres_schema`].
pub async fn drop_postgres_schema(schema: &str) {
    let url = std::env::var(POSTGRES).expect("PostgreSQL URL");
    let mut admin = sqlx::PgConnection::connect(&url)
        .await
        .expect("connect to PostgreSQL");
    sqlx::query(AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .execute(&mut admin)
    .await
    .expect("drop schema");
}

pub async fn mysql() -> Option<SqlStore> {
    let url = mysql_url().await?;
    Some(SqlStore::connect(&url).await.expect("connect to database"))
}

/// A URL for a fresh MariaDB database (connect to it as often as you like).
pub async fn mysql_url() -> Option<String> {
    Some(mysql_database().await?.0)
}

/// A fresh MariaDB database: a URL for it and its name. Databases that earlier test
/// processes left behind are dropped on the way.
pub async fn mysql_database() -> Option<(String, String)> {
    let url = std::env::var(MYSQL).ok()?;
    let mut admin = sqlx::MySqlConnection::connect(&url)
        .await
        .expect("connect to MariaDB");
    let leftovers: Vec<String> = sqlx::query(LIST)
        .fetch_all(&mut admin)
        .await
        .expect("list databases")
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    for db in leftovers.into_iter().filter(|s| stale(s)) {
        let _ = sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db}")))
            .execute(&mut admin)
            .await;
    }
    let db = fresh_name();
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&mut admin)
        .await
        .expect("create database");
    let base = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base);
    Some((format!("{base}/{db}"), db))
}

/// Schemas and databases made for stores, by the store's address, so that
/// [`release`] can drop them.
static MADE: Mutex<Vec<(usize, Made)>> = Mutex::new(Vec::new());

#[derive(Debug)]
enum Made {
    Schema(String),
    Database(String),
}

fn address(store: &Arc<dyn Store>) -> usize {
    Arc::as_ptr(store) as *const () as usize
}

/// A store in a fresh PostgreSQL schema, dropped by [`release`].
pub async fn postgres_store() -> Option<Arc<dyn Store>> {
    let (url, schema) = postgres_schema().await?;
    let store: Arc<dyn Store> = Arc::new(SqlStore::connect(&url).await.expect("connect"));
    MADE.lock()
        .unwrap()
        .push((address(&store), Made::Schema(schema)));
    Some(store)
}

/// A store in a fresh MariaDB database, dropped by [`release`].
pub async fn mysql_store() -> Option<Arc<dyn Store>> {
    let (url, db) = mysql_database().await?;
    let store: Arc<dyn Store> = Arc::new(SqlStore::connect(&url).await.expect("connect"));
    MADE.lock()
        .unwrap()
        .push((address(&store), Made::Database(db)));
    Some(store)
}

/// Drops the schema or database of a store from [`postgres_store`] or [`mysql_store`].
pub async fn release(store: Arc<dyn Store>) {
    let key = address(&store);
    drop(store);
    let made = {
        let mut made = MADE.lock().unwrap();
        let Some(i) = made.iter().position(|(k, _)| *k == key) else {
            return;
        };
        made.swap_remove(i).1
    };
    match made {
        Made::Schema(schema) => {
            let url = std::env::var(POSTGRES).expect("PostgreSQL URL");
            let mut admin = sqlx::PgConnection::connect(&url).await.expect("connect");
            let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
            sqlx::query(AssertSqlSafe(sql))
                .execute(&mut admin)
                .await
                .expect("drop schema");
        }
        Made::Database(db) => {
            let url = std::env::var(MYSQL).expect("MariaDB URL");
            let mut admin = sqlx::MySqlConnection::connect(&url).await.expect("connect");
            let sql = format!("DROP DATABASE IF EXISTS {db}");
            sqlx::query(AssertSqlSafe(sql))
                .execute(&mut admin)
                .await
                .expect("drop database");
        }
    }
}

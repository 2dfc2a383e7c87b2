//! One small, dialect-neutral way to run SQL on the three concrete sqlx drivers: statements
//! are written once with `?` placeholders (numbered for PostgreSQL), parameters and results
//! are a handful of plain kinds. The store's logic is written once on top of this.

#[cfg(feature = "mysql")]
use sqlx::MySql;
#[cfg(feature = "postgres")]
use sqlx::Postgres;
#[cfg(feature = "sqlite")]
use sqlx::Sqlite;
use sqlx::{AssertSqlSafe, Pool, Row, Transaction};
use ticketcore::{StoreError, StoreResult};

/// Which SQL dialect a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL / MariaDB.
    MySql,
}

/// A statement parameter.
#[derive(Debug, Clone)]
pub enum P {
    /// Integer.
    I(i64),
    /// Text.
    T(String),
    /// Bytes.
    B(Vec<u8>),
    /// Floating point (a search score).
    F(f64),
    /// NULL integer.
    NoI,
    /// NULL text.
    NoT,
}

impl P {
    /// An optional integer.
    pub fn oi(v: Option<i64>) -> P {
        v.map_or(P::NoI, P::I)
    }

    /// Roughly how many bytes the value takes on the wire.
    pub fn size(&self) -> usize {
        match self {
            P::T(s) => s.len(),
            P::B(b) => b.len(),
            _ => 8,
        }
    }

    /// An optional text.
    pub fn ot(v: Option<&str>) -> P {
        v.map_or(P::NoT, |s| P::T(s.to_string()))
    }
}

/// The kind of a result column.
#[derive(Debug, Clone, Copy)]
pub enum K {
    /// Integer.
    I,
    /// Text.
    T,
    /// Bytes.
    B,
    /// Floating point.
    F,
}

/// A result value.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    /// NULL.
    Null,
    /// Integer.
    I(i64),
    /// Text.
    T(String),
    /// Bytes.
    B(Vec<u8>),
    /// Floating point.
    F(f64),
}

impl V {
    /// The floating-point number, if it is one.
    pub fn f(&self) -> Option<f64> {
        match self {
            V::F(v) => Some(*v),
            _ => None,
        }
    }

    /// The integer, if it is one.
    pub fn i(&self) -> Option<i64> {
        match self {
            V::I(v) => Some(*v),
            _ => None,
        }
    }

    /// The text, if it is one.
    pub fn t(&self) -> Option<&str> {
        match self {
            V::T(v) => Some(v),
            _ => None,
        }
    }

    /// The bytes, if they are.
    pub fn b(&self) -> Option<&[u8]> {
        match self {
            V::B(v) => Some(v),
            _ => None,
        }
    }
}

/// Maps a driver error; unique violations are reported by the caller's context.
pub fn sql_err(e: sqlx::Error) -> StoreError {
    StoreError::Backend(format!("sql: {e}"))
}

/// Whether `e` is a unique-constraint violation.
pub fn is_unique_violation(e: &StoreError) -> bool {
    matches!(e, StoreError::Backend(m) if {
        let m = m.to_lowercase();
        m.contains("unique") || m.contains("duplicate")
    })
}

/// Whether the database rolled the whole transaction back (deadlock victim, lock wait
/// timeout, serialization failure): savepoints are gone, only a retry helps.
pub fn is_transaction_lost(e: &StoreError) -> bool {
    matches!(e, StoreError::Backend(m) if {
        let m = m.to_lowercase();
        m.contains("deadlock") || m.contains("lock wait timeout") || m.contains("could not serialize")
            || m.contains("1213") || m.contains("40p01") || m.contains("40001")
    })
}

/// Rewrites `?` placeholders to `$1, $2, ...` for PostgreSQL.
pub fn dialect_sql(dialect: Dialect, sql: &str) -> String {
    if dialect != Dialect::Postgres {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

macro_rules! bind_all {
    ($query:expr, $params:expr) => {{
        let mut q = $query;
        for p in $params {
            q = match p {
                P::I(v) => q.bind(*v),
                P::T(s) => q.bind(s.clone()),
                P::B(b) => q.bind(b.clone()),
                P::F(v) => q.bind(*v),
                P::NoI => q.bind(None::<i64>),
                P::NoT => q.bind(None::<String>),
            };
        }
        q
    }};
}

macro_rules! decode_rows {
    ($rows:expr, $kinds:expr) => {{
        let mut out = Vec::with_capacity($rows.len());
        for row in $rows {
            let mut values = Vec::with_capacity($kinds.len());
            for (i, kind) in $kinds.iter().enumerate() {
                values.push(
                    match kind {
                        K::I => row
                            .try_get::<Option<i64>, _>(i)
                            .map(|v| v.map_or(V::Null, V::I)),
                        K::T => row
                            .try_get::<Option<String>, _>(i)
                            .map(|v| v.map_or(V::Null, V::T)),
                        K::B => row
                            .try_get::<Option<Vec<u8>>, _>(i)
                            .map(|v| v.map_or(V::Null, V::B)),
                        K::F => row
                            .try_get::<Option<f64>, _>(i)
                            .map(|v| v.map_or(V::Null, V::F)),
                    }
                    .map_err(sql_err)?,
                );
            }
            out.push(values);
        }
        out
    }};
}

/// Generates `rows` and `exec` over any executor expression of each driver.
macro_rules! each_driver {
    ($self:ident, $exec:ident => $executor:expr, $sql:ident, $params:ident, $body:ident) => {
        match $self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite($exec) => {
                let sql = dialect_sql(Dialect::Sqlite, $sql);
                $body!(
                    sqlx::query::<Sqlite>(AssertSqlSafe(sql)),
                    $executor,
                    $params
                )
            }
            #[cfg(feature = "postgres")]
            Self::Postgres($exec) => {
                let sql = dialect_sql(Dialect::Postgres, $sql);
                $body!(
                    sqlx::query::<Postgres>(AssertSqlSafe(sql)),
                    $executor,
                    $params
                )
            }
            #[cfg(feature = "mysql")]
            Self::MySql($exec) => {
                let sql = dialect_sql(Dialect::MySql, $sql);
                $body!(sqlx::query::<MySql>(AssertSqlSafe(sql)), $executor, $params)
            }
        }
    };
}

macro_rules! exec_body {
    ($q:expr, $executor:expr, $params:expr) => {
        bind_all!($q, $params)
            .execute($executor)
            .await
            .map_err(sql_err)
            .map(|r| r.rows_affected())
    };
}

/// A connection pool of one of the drivers.
#[derive(Debug, Clone)]
pub enum Db {
    /// SQLite.
    #[cfg(feature = "sqlite")]
    Sqlite(Pool<Sqlite>),
    /// PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(Pool<Postgres>),
    /// MySQL / MariaDB.
    #[cfg(feature = "mysql")]
    MySql(Pool<MySql>),
}

/// An open transaction of one of the drivers.
#[derive(Debug)]
pub enum Tx {
    /// SQLite.
    #[cfg(feature = "sqlite")]
    Sqlite(Transaction<'static, Sqlite>),
    /// PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(Transaction<'static, Postgres>),
    /// MySQL / MariaDB.
    #[cfg(feature = "mysql")]
    MySql(Transaction<'static, MySql>),
}

impl Db {
    /// The dialect.
    pub fn dialect(&self) -> Dialect {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(_) => Dialect::Sqlite,
            #[cfg(feature = "postgres")]
            Db::Postgres(_) => Dialect::Postgres,
            #[cfg(feature = "mysql")]
            Db::MySql(_) => Dialect::MySql,
        }
    }

    /// Runs a query and decodes its rows.
    pub async fn rows(&self, sql: &str, params: &[P], kinds: &[K]) -> StoreResult<Vec<Vec<V>>> {
        match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(pool) => {
                let q = sqlx::query::<Sqlite>(AssertSqlSafe(dialect_sql(Dialect::Sqlite, sql)));
                let rows = bind_all!(q, params)
                    .fetch_all(pool)
                    .await
                    .map_err(sql_err)?;
                Ok(decode_rows!(rows, kinds))
            }
            #[cfg(feature = "postgres")]
            Db::Postgres(pool) => {
                let q = sqlx::query::<Postgres>(AssertSqlSafe(dialect_sql(Dialect::Postgres, sql)));
                let rows = bind_all!(q, params)
                    .fetch_all(pool)
                    .await
                    .map_err(sql_err)?;
                Ok(decode_rows!(rows, kinds))
            }
            #[cfg(feature = "mysql")]
            Db::MySql(pool) => {
                let q = sqlx::query::<MySql>(AssertSqlSafe(dialect_sql(Dialect::MySql, sql)));
                let rows = bind_all!(q, params)
                    .fetch_all(pool)
                    .await
                    .map_err(sql_err)?;
                Ok(decode_rows!(rows, kinds))
            }
        }
    }

    /// Runs a statement outside a transaction.
    pub async fn exec(&self, sql: &str, params: &[P]) -> StoreResult<u64> {
        each_driver!(self, pool => pool, sql, params, exec_body)
    }

    /// Begins a write transaction (SQLite: `BEGIN IMMEDIATE`, so two writers never deadlock
    /// upgrading read locks).
    pub async fn begin(&self) -> StoreResult<Tx> {
        Ok(match self {
            #[cfg(feature = "sqlite")]
            Db::Sqlite(pool) => {
                Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await.map_err(sql_err)?)
            }
            #[cfg(feature = "postgres")]
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await.map_err(sql_err)?),
            #[cfg(feature = "mysql")]
            Db::MySql(pool) => Tx::MySql(pool.begin().await.map_err(sql_err)?),
        })
    }
}

impl Tx {
    /// Runs a query inside the transaction and decodes its rows.
    pub async fn rows(&mut self, sql: &str, params: &[P], kinds: &[K]) -> StoreResult<Vec<Vec<V>>> {
        match self {
            #[cfg(feature = "sqlite")]
            Tx::Sqlite(tx) => {
                let q = sqlx::query::<Sqlite>(AssertSqlSafe(dialect_sql(Dialect::Sqlite, sql)));
                let rows = bind_all!(q, params)
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(sql_err)?;
                Ok(decode_rows!(rows, kinds))
            }
            #[cfg(feature = "postgres")]
            Tx::Postgres(tx) => {
                let q = sqlx::query::<Postgres>(AssertSqlSafe(dialect_sql(Dialect::Postgres, sql)));
                let rows = bind_all!(q, params)
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(sql_err)?;
                Ok(decode_rows!(rows, kinds))
            }
            #[cfg(feature = "mysql")]
            Tx::MySql(tx) => {
                let q = sqlx::query::<MySql>(AssertSqlSafe(dialect_sql(Dialect::MySql, sql)));
                let rows = bind_all!(q, params)
                    .fetch_all(&mut **tx)
                    .await
                    .map_err(sql_err)?;
                Ok(decode_rows!(rows, kinds))
            }
        }
    }

    /// Runs a statement inside the transaction.
    pub async fn exec(&mut self, sql: &str, params: &[P]) -> StoreResult<u64> {
        each_driver!(self, tx => &mut **tx, sql, params, exec_body)
    }

    /// Rolls back.
    pub async fn rollback(self) -> StoreResult<()> {
        match self {
            #[cfg(feature = "sqlite")]
            Tx::Sqlite(tx) => tx.rollback().await.map_err(sql_err),
            #[cfg(feature = "postgres")]
            Tx::Postgres(tx) => tx.rollback().await.map_err(sql_err),
            #[cfg(feature = "mysql")]
            Tx::MySql(tx) => tx.rollback().await.map_err(sql_err),
        }
    }

    /// Commits.
    pub async fn commit(self) -> StoreResult<()> {
        match self {
            #[cfg(feature = "sqlite")]
            Tx::Sqlite(tx) => tx.commit().await.map_err(sql_err),
            #[cfg(feature = "postgres")]
            Tx::Postgres(tx) => tx.commit().await.map_err(sql_err),
            #[cfg(feature = "mysql")]
            Tx::MySql(tx) => tx.commit().await.map_err(sql_err),
        }
    }
}

//! SqlStore passes the ticketcore conformance suite on SQLite (always), PostgreSQL
//! (`TICKETCORE_TEST_POSTGRES_URL`) and MariaDB/MySQL (`TICKETCORE_TEST_MYSQL_URL`). Each test
//! gets a fresh schema (PostgreSQL) or database (MariaDB); those of earlier runs are dropped.
#![allow(clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use ticketcore::Store;
use ticketcore::testkit::Backend;

struct Sqlite;

impl Backend for Sqlite {
    async fn store() -> Arc<dyn Store> {
        Arc::new(support::sqlite().await)
    }
}

ticketcore::conformance_suite!(Sqlite);

mod postgres {
    use super::*;

    struct Postgres;

    impl Backend for Postgres {
        async fn store() -> Arc<dyn Store> {
            support::postgres_store()
                .await
                .expect("TICKETCORE_TEST_POSTGRES_URL")
        }

        async fn release(store: Arc<dyn Store>) {
            support::release(store).await
        }

        fn unavailable() -> Option<String> {
            support::unavailable(support::POSTGRES)
        }
    }

    ticketcore::conformance_suite!(Postgres);
}

mod mysql {
    use super::*;

    struct MySql;

    impl Backend for MySql {
        async fn store() -> Arc<dyn Store> {
            support::mysql_store()
                .await
                .expect("TICKETCORE_TEST_MYSQL_URL")
        }

        async fn release(store: Arc<dyn Store>) {
            support::release(store).await
        }

        fn unavailable() -> Option<String> {
            support::unavailable(support::MYSQL)
        }
    }

    ticketcore::conformance_suite!(MySql);
}

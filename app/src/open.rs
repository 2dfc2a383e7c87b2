//! Opening a desk by its store URL: `redb:PATH`, `sqlite:PATH`, `postgres://…`, `mysql://…`.
//! Each backend is a cargo feature of this crate (all on by default); a URL whose backend a
//! build left out is refused with the feature it needs, not with an unknown scheme.

use std::path::PathBuf;
use std::sync::Arc;

use ticketcore::{Desk, Store};

use crate::failure::Failure;

/// Where the desk lives.
#[derive(Debug, Clone)]
pub enum Access {
    /// A redb file: one process at a time.
    Redb(PathBuf),
    /// A database server or SQLite file, shared by any number of processes.
    Sql(String),
}

impl Access {
    /// Reads a store URL: `redb:PATH`, `sqlite:PATH`, `postgres://…`, `mysql://…`.
    pub fn new(url: &str) -> Result<Access, Failure> {
        if let Some(path) = url.strip_prefix("redb:") {
            if path.is_empty() {
                return Err(Failure::usage(
                    "--store redb: needs a path, e.g. redb:./ticketcore.redb",
                ));
            }
            return Ok(Access::Redb(PathBuf::from(path)));
        }
        const SQL: [&str; 5] = [
            "sqlite:",
            "postgres://",
            "postgresql://",
            "mysql://",
            "mariadb://",
        ];
        if SQL.iter().any(|scheme| url.starts_with(scheme)) {
            return Ok(Access::Sql(url.to_string()));
        }
        Err(Failure::usage(format!(
            "unknown store {url:?}: use redb:PATH, sqlite:PATH, postgres://… or mysql://…"
        )))
    }

    /// The store's file, for a redb or SQLite desk.
    pub fn file(&self) -> Option<PathBuf> {
        match self {
            Access::Redb(path) => Some(path.clone()),
            Access::Sql(url) => {
                let rest = url.strip_prefix("sqlite:")?;
                let path = rest.strip_prefix("//").unwrap_or(rest);
                let path = path.split('?').next().unwrap_or(path);
                (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
            }
        }
    }

    /// Whether only one process can have the store open; long-running commands then open it
    /// for each round of work only, so mail deliveries are not locked out.
    pub fn exclusive(&self) -> bool {
        matches!(self, Access::Redb(_))
    }

    /// Opens the store (creating an empty redb or SQLite file where there is none).
    pub async fn store(&self) -> Result<Arc<dyn Store>, Failure> {
        match self {
            #[cfg(feature = "redb")]
            Access::Redb(path) => Ok(Arc::new(redb::open(path).await?)),
            #[cfg(not(feature = "redb"))]
            Access::Redb(_) => Err(left_out("redb")),
            Access::Sql(url) => sql(url).await,
        }
    }

    /// A desk over the opened store for a command that creates at most a ticket or two
    /// before it exits: it reserves ticket numbers one at a time, leaving no gaps.
    pub async fn desk(&self) -> Result<Arc<Desk>, Failure> {
        Ok(Arc::new(
            Desk::new(self.store().await?).with_number_block(1),
        ))
    }

    /// A desk for bulk work (mailbox imports): numbers reserved in the configured blocks.
    pub async fn bulk_desk(&self) -> Result<Arc<Desk>, Failure> {
        Ok(Arc::new(Desk::new(self.store().await?)))
    }
}

/// A backend this build was made without.
#[allow(dead_code)]
fn left_out(feature: &str) -> Failure {
    Failure::usage(format!(
        "this build has no {feature} backend (cargo feature \"{feature}\" of ticketcore-app)"
    ))
}

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
async fn sql(url: &str) -> Result<Arc<dyn Store>, Failure> {
    let wanted = match url.split_once(':').map_or(url, |(scheme, _)| scheme) {
        "sqlite" => "sqlite",
        "mysql" | "mariadb" => "mysql",
        _ => "postgres",
    };
    let built = match wanted {
        "sqlite" => cfg!(feature = "sqlite"),
        "mysql" => cfg!(feature = "mysql"),
        _ => cfg!(feature = "postgres"),
    };
    if !built {
        return Err(left_out(wanted));
    }
    Ok(Arc::new(ticketcore_sql::SqlStore::connect(url).await?))
}

#[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
async fn sql(url: &str) -> Result<Arc<dyn Store>, Failure> {
    let scheme = url.split_once(':').map_or(url, |(scheme, _)| scheme);
    Err(left_out(if scheme == "sqlite" {
        "sqlite"
    } else {
        "postgres"
    }))
}

#[cfg(feature = "redb")]
mod redb {
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    use ticketcore_redb::{OpenError, RedbStore};

    use crate::failure::{Failure, TEMPORARY};

    /// How long to wait for a redb file another process has open: MTAs start deliveries in
    /// parallel, and each holds the file only for its one commit.
    const IN_USE_PATIENCE: Duration = Duration::from_secs(30);

    pub async fn open(path: &PathBuf) -> Result<RedbStore, Failure> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match RedbStore::open(path) {
                Ok(store) => return Ok(store),
                Err(OpenError::InUse(_)) if started.elapsed() < IN_USE_PATIENCE => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(e @ OpenError::InUse(_)) => {
                    return Err(Failure {
                        message: format!(
                            "{e} (waited {}s; try again later)",
                            IN_USE_PATIENCE.as_secs()
                        ),
                        code: TEMPORARY,
                    });
                }
                Err(e) => return Err(Failure::failed(format!("{}: {e}", path.display()))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls_name_their_backend_and_file() {
        let redb = Access::new("redb:./desk.redb").unwrap();
        assert!(redb.exclusive());
        assert_eq!(redb.file(), Some(PathBuf::from("./desk.redb")));
        for (url, file) in [
            ("sqlite:desk.db", Some("desk.db")),
            ("sqlite://var/desk.db?mode=rwc", Some("var/desk.db")),
            ("sqlite::memory:", None),
            ("postgres://db/helpdesk", None),
            ("postgresql://db/helpdesk", None),
            ("mysql://root@db/helpdesk", None),
            ("mariadb://root@db/helpdesk", None),
        ] {
            let access = Access::new(url).unwrap();
            assert!(!access.exclusive(), "{url}");
            assert_eq!(access.file(), file.map(PathBuf::from), "{url}");
        }
        for bad in ["", "redb:", "desk.redb", "http://x", "file:desk.redb"] {
            let e = Access::new(bad).unwrap_err();
            assert_eq!(e.code, crate::failure::USAGE, "{bad:?}: {}", e.message);
        }
    }

    #[tokio::test]
    async fn a_memory_sqlite_desk_opens() {
        let store = Access::new("sqlite::memory:")
            .unwrap()
            .store()
            .await
            .unwrap();
        assert_eq!(store.config_version().await.unwrap(), 0);
    }
}

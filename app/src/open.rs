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
        self.open(false).await
    }

    /// Opens the store for a bulk import, or for ordinary work.
    #[cfg_attr(not(feature = "redb"), allow(unused_variables))]
    async fn open(&self, bulk: bool) -> Result<Arc<dyn Store>, Failure> {
        match self {
            #[cfg(feature = "redb")]
            Access::Redb(path) => {
                let options = if bulk {
                    ticketcore_redb::RedbOptions::bulk()
                } else {
                    ticketcore_redb::RedbOptions::default()
                };
                Ok(Arc::new(redb::open(path, options).await?))
            }
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

    /// A desk for bulk work (mailbox imports): numbers reserved in the configured blocks, a
    /// redb store opened with a small cache ([`ticketcore_redb::RedbOptions::bulk`]).
    pub async fn bulk_desk(&self) -> Result<Arc<Desk>, Failure> {
        Ok(Arc::new(Desk::new(self.open(true).await?)))
    }
}

/// A long-running process's claim on a redb file it holds (the web server's): another
/// process that finds the file in use learns at once who holds it, rather than waiting for
/// it. The note beside the file goes when this is dropped.
#[derive(Debug)]
pub struct Holder {
    note: Option<PathBuf>,
}

impl Access {
    /// Announces `program` (this process) as the holder of a redb desk; nothing for other
    /// stores, which any number of processes share.
    pub fn announce(&self, program: &str) -> Holder {
        let Access::Redb(path) = self else {
            return Holder { note: None };
        };
        let note = holder_note(path);
        let text = format!("{program}\n{}\n", std::process::id());
        match std::fs::write(&note, text) {
            Ok(()) => Holder { note: Some(note) },
            Err(e) => {
                tracing::warn!("cannot write {}: {e}", note.display());
                Holder { note: None }
            }
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        if let Some(note) = &self.note
            && holder(note).is_some_and(|(_, pid)| pid == std::process::id())
        {
            let _ = std::fs::remove_file(note);
        }
    }
}

/// Where the holder of the redb file `path` writes its name.
fn holder_note(path: &std::path::Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".holder");
    PathBuf::from(name)
}

/// The program and process named in a holder note, if that process still runs.
fn holder(note: &std::path::Path) -> Option<(String, u32)> {
    let text = std::fs::read_to_string(note).ok()?;
    let mut lines = text.lines();
    let program = lines.next()?.trim().to_string();
    let pid: u32 = lines.next()?.trim().parse().ok()?;
    let alive =
        !cfg!(target_os = "linux") || std::path::Path::new(&format!("/proc/{pid}")).exists();
    alive.then_some((program, pid))
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

    use ticketcore_redb::{OpenError, RedbOptions, RedbStore};

    use super::{holder, holder_note};
    use crate::failure::{Failure, TEMPORARY};

    /// Who announced holding the file at `path`, if that process still runs.
    fn held_by(path: &std::path::Path) -> Option<(String, u32)> {
        holder(&holder_note(path))
    }

    /// How long to wait for a redb file another process has open: MTAs start deliveries in
    /// parallel, and each holds the file only for its one commit.
    const IN_USE_PATIENCE: Duration = Duration::from_secs(30);

    pub async fn open(path: &PathBuf, options: RedbOptions) -> Result<RedbStore, Failure> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match RedbStore::open_with(path, options) {
                Ok(store) => return Ok(store),
                Err(e @ OpenError::InUse(_)) => {
                    if let Some((program, pid)) = held_by(path) {
                        return Err(Failure {
                            message: format!(
                                "the ticket database {} is held by {program} (pid {pid}), the \
                                 desk's resident process: use the desk through it, or stop it \
                                 first (mail piped to `ticketctl ingest` is spooled and \
                                 delivered by it)",
                                path.display()
                            ),
                            code: TEMPORARY,
                        });
                    }
                    if started.elapsed() >= IN_USE_PATIENCE {
                        return Err(Failure {
                            message: format!(
                                "{e} (waited {}s; try again later)",
                                IN_USE_PATIENCE.as_secs()
                            ),
                            code: TEMPORARY,
                        });
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(20));
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
    async fn a_held_redb_desk_names_its_holder_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("redb:{}", dir.path().join("desk.redb").display());
        let access = Access::new(&url).unwrap();
        let _open = access.store().await.unwrap();
        let claim = access.announce("ticketcore-web");
        let started = std::time::Instant::now();
        let refused = access.store().await.err().unwrap();
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "no waiting"
        );
        assert!(
            refused.message.contains("held by ticketcore-web")
                && refused
                    .message
                    .contains(&format!("pid {}", std::process::id())),
            "{}",
            refused.message
        );
        assert_eq!(refused.code, crate::failure::TEMPORARY);
        assert!(!refused.message.contains('\n'));
        drop(claim);
        assert!(
            !dir.path().join("desk.redb.holder").exists(),
            "the note goes with it"
        );
        // A note left by a process that is gone names nobody.
        std::fs::write(dir.path().join("desk.redb.holder"), "ghost\n4294967295\n").unwrap();
        assert!(holder(&dir.path().join("desk.redb.holder")).is_none());
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

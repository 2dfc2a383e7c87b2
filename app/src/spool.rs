//! The mail spool: how `ticketctl ingest` hands a message over in a few milliseconds while a
//! resident `ticketctl serve-tick` attends the desk, as Postfix's `sendmail` drops mail into
//! the maildrop queue for its resident `pickup`. An MTA starts one delivery process per
//! message; opening a desk, committing durably and closing it again is most of such a
//! process's time, and the attendant does that once for everything that has come in since.
//!
//! The spool is a directory beside a redb or SQLite file (`desk.redb.spool`), or the one
//! `TICKETCORE_SPOOL` names for a database server. A message is appended to its journal
//! (see `journal`), or where that has no room written to `tmp/`, synced and renamed into
//! `new/` (as in a Maildir); either way it survives a crash once `ingest` exits 0. The
//! attendant delivers it and then forgets it (ingest is idempotent, so a crash in between
//! delivers nothing twice), or keeps it in `failed/` when it can never be taken in.
//!
//! `attendant.lock` is locked by the attendant for as long as it runs, and holds the limits
//! `ingest` must check itself (the largest message the desk takes). Without an attendant,
//! `ingest` delivers directly, so mail never waits in a spool nobody reads.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::failure::{Failure, TEMPORARY};
use crate::journal::{Journal, Taken, sync_dir};
use crate::open::Access;

/// Where a spool lives for a server store.
pub const SPOOL_ENV: &str = "TICKETCORE_SPOOL";

/// A desk's spool directory.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

/// What an attendant tells `ingest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest message the desk takes, in bytes.
    pub max_message_size: u64,
}

impl Limits {
    const KEY: &str = "max_message_size=";

    fn parse(text: &str) -> Option<Limits> {
        let value = text.lines().find_map(|l| l.strip_prefix(Limits::KEY))?;
        Some(Limits {
            max_message_size: value.trim().parse().ok()?,
        })
    }
}

impl Spool {
    /// The spool of the desk at `access`, if it has a place for one.
    pub fn of(access: &Access) -> Option<Spool> {
        if let Some(dir) = std::env::var_os(SPOOL_ENV).filter(|d| !d.is_empty()) {
            return Some(Spool { dir: dir.into() });
        }
        let file = access.file()?;
        let mut name = file.file_name()?.to_os_string();
        name.push(".spool");
        Some(Spool {
            dir: file.with_file_name(name),
        })
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.join("attendant.lock")
    }

    fn bell_path(&self) -> PathBuf {
        self.dir.join("bell")
    }

    /// The limits published by a running attendant, or None when nobody attends (or it has
    /// not published them yet): then the caller delivers itself.
    pub fn attended(&self) -> Option<Limits> {
        let mut file = File::open(self.lock_path()).ok()?;
        match file.try_lock_shared() {
            // Nobody holds it: released when `file` is dropped.
            Ok(()) => None,
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                file.read_to_string(&mut text).ok()?;
                Limits::parse(&text)
            }
            Err(std::fs::TryLockError::Error(_)) => None,
        }
    }

    fn journal(&self) -> Journal {
        Journal::at(self.dir.join("journal"))
    }

    /// Writes `raw` durably: appended to the journal, or where it has no room (or cannot be
    /// used), as a file in `new/`. Where it went.
    pub fn drop_off(&self, raw: &[u8]) -> std::io::Result<PathBuf> {
        let journal = self.journal();
        if journal.append(raw).unwrap_or(false) {
            return Ok(journal.path().to_path_buf());
        }
        let name = self.drop_file(raw)?;
        Ok(self.dir.join("new").join(name))
    }

    /// Writes `raw` durably into `new/`; its name there.
    fn drop_file(&self, raw: &[u8]) -> std::io::Result<String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        // Names sort in arrival order; the pid keeps concurrent deliveries apart.
        let name = format!("{:020}.{}.eml", now.as_nanos(), std::process::id());
        let tmp = self.dir.join("tmp").join(&name);
        let mut file = File::create(&tmp)?;
        file.write_all(raw)?;
        file.sync_data()?;
        drop(file);
        let new = self.dir.join("new");
        let spooled = new.join(&name);
        std::fs::rename(&tmp, &spooled)?;
        sync_dir(&spooled)?;
        Ok(name)
    }

    /// Wakes the attendant (best effort: it also looks by itself every few seconds).
    pub fn ring(&self) {
        #[cfg(unix)]
        if let Ok(socket) = std::os::unix::net::UnixDatagram::unbound() {
            // Never wait: a full bell (an attendant stopped) has rung enough.
            let _ = socket.set_nonblocking(true);
            let _ = socket.send_to(b"!", self.bell_path());
        }
    }

    /// Becomes the spool's attendant, for as long as the returned value lives.
    pub fn attend(&self) -> Result<Attendant, Failure> {
        let io = |what: &str, e: std::io::Error| Failure {
            message: format!("spool {}: cannot {what}: {e}", self.dir.display()),
            code: TEMPORARY,
        };
        for sub in ["tmp", "new", "failed"] {
            std::fs::create_dir_all(self.dir.join(sub)).map_err(|e| io("create it", e))?;
        }
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.lock_path())
            .map_err(|e| io("open its lock", e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Failure::failed(format!(
                    "another serve-tick attends the spool {}; one is enough",
                    self.dir.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io("lock it", e)),
        }
        lock.set_len(0).map_err(|e| io("reset its lock", e))?;
        self.journal()
            .make()
            .map_err(|e| io("make its journal", e))?;
        #[cfg(unix)]
        let bell = {
            let path = self.bell_path();
            let _ = std::fs::remove_file(&path);
            tokio::net::UnixDatagram::bind(&path).map_err(|e| io("open its bell", e))?
        };
        Ok(Attendant {
            spool: self.clone(),
            lock,
            published: None,
            read: None,
            #[cfg(unix)]
            bell,
        })
    }
}

/// The running attendant of a spool: holds its lock, hears its bell.
#[derive(Debug)]
pub struct Attendant {
    spool: Spool,
    lock: File,
    published: Option<Limits>,
    /// How far the journal has been delivered, when not from its start.
    read: Option<u64>,
    #[cfg(unix)]
    bell: tokio::net::UnixDatagram,
}

impl Attendant {
    /// The spool attended.
    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    /// Tells `ingest` the desk's limits; from then on it spools instead of delivering.
    pub fn publish(&mut self, limits: Limits) -> Result<(), Failure> {
        if self.published == Some(limits) {
            return Ok(());
        }
        let text = format!("{}{}\n", Limits::KEY, limits.max_message_size);
        let mut lock = &self.lock;
        let written = lock
            .set_len(0)
            .and_then(|()| lock.seek(std::io::SeekFrom::Start(0)))
            .and_then(|_| lock.write_all(text.as_bytes()))
            .and_then(|()| lock.sync_data());
        written.map_err(|e| Failure {
            message: format!(
                "spool {}: cannot publish limits: {e}",
                self.spool.dir.display()
            ),
            code: TEMPORARY,
        })?;
        self.published = Some(limits);
        Ok(())
    }

    /// Waits until someone rings, then takes every ring waiting (one round serves them all).
    pub async fn rung(&self) {
        #[cfg(unix)]
        {
            let mut buf = [0u8; 16];
            if self.bell.recv(&mut buf).await.is_ok() {
                while self.bell.try_recv(&mut buf).is_ok() {}
                return;
            }
        }
        std::future::pending::<()>().await;
    }

    /// The messages appended to the journal since the last round that delivered them all;
    /// hand the returned end to [`Attendant::delivered`] once they are.
    pub fn journal(&mut self) -> std::io::Result<Taken> {
        let journal = self.spool.journal();
        match journal.read(self.read) {
            Ok(taken) => Ok(taken),
            // Damaged (or removed): `ingest` spools files meanwhile; start a fresh one.
            Err(_) => {
                journal.make()?;
                self.read = None;
                journal.read(None)
            }
        }
    }

    /// The journal's messages up to `end` are in the desk: the next round reads after them,
    /// and the journal starts afresh if nothing else came.
    pub fn delivered(&mut self, end: u64) -> std::io::Result<()> {
        self.read = Some(end);
        if self.spool.journal().reset_at(end)? {
            self.read = None;
        }
        Ok(())
    }

    /// Keeps a message that can never be taken in, as a file in `failed/`.
    pub fn keep_failed(&self, raw: &[u8]) -> std::io::Result<()> {
        let name = self.spool.drop_file(raw)?;
        self.set_aside(&self.spool.dir.join("new").join(name))
    }

    /// The messages waiting in `new/`, oldest first.
    pub fn waiting(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.spool.dir.join("new"))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        files.sort();
        Ok(files)
    }

    /// Sets a message that can never be taken in aside for a person to look at.
    pub fn set_aside(&self, message: &Path) -> std::io::Result<()> {
        let name = message.file_name().unwrap_or_default();
        std::fs::rename(message, self.spool.dir.join("failed").join(name))
    }
}

impl Drop for Attendant {
    fn drop(&mut self) {
        // No limits, no attendant: even before the lock goes with the process.
        let _ = self.lock.set_len(0);
        #[cfg(unix)]
        let _ = std::fs::remove_file(self.spool.bell_path());
    }
}

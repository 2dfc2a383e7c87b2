//! Where incoming mail comes from: a Maildir (a message leaves `new/` only once its delivery
//! committed) and mbox files (bulk import, many messages in flight so their commits share
//! transactions). Both are read as they are delivered, a window of messages at a time, and
//! each result is handed on as it finishes, so an archive of any size imports in bounded
//! memory. A single message from stdin or a file is just [`Postmaster::deliver`].

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::OsStr;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::MailError;
use crate::inbound::Inbound;
use crate::postmaster::{Delivery, Postmaster};

/// What became of one message of a mailbox.
#[derive(Debug)]
pub struct Handled {
    /// Where it came from: the Maildir file, or "mbox FILE #N".
    pub source: String,
    /// Its delivery, or why it was not taken in.
    pub result: Result<Delivery, MailError>,
}

/// The exit status an MTA expects from a delivery program (sysexits): 0 when the message was
/// taken (created, followed up, recorded, deliberately dropped or already there), 75
/// (`EX_TEMPFAIL`) when trying again later may work, so the MTA keeps the message queued, and
/// 65 (`EX_DATAERR`) when it never will (too large, not a message), so the MTA returns it to
/// its sender instead of losing it.
pub fn exit_code(result: &Result<Delivery, MailError>) -> i32 {
    match result {
        Ok(_) => 0,
        Err(e) if e.is_temporary() => 75,
        Err(_) => 65,
    }
}

/// The messages waiting in a Maildir's `new/`, oldest first. Only their names are held (about
/// 70 bytes a message: going oldest-first, so that a reply follows the message it answers,
/// needs them all); each message is read when its turn comes.
#[derive(Debug)]
pub struct Maildir {
    dir: PathBuf,
    names: Vec<(std::time::SystemTime, Box<OsStr>)>,
}

impl Maildir {
    /// Lists `dir/new`, making `cur/` where delivered messages go.
    pub fn open(dir: &Path) -> std::io::Result<Maildir> {
        std::fs::create_dir_all(dir.join("cur"))?;
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir.join("new"))? {
            let entry = entry?;
            if !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let modified = entry
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            names.push((modified, entry.file_name().into_boxed_os_str()));
        }
        names.sort();
        Ok(Maildir {
            dir: dir.to_path_buf(),
            names,
        })
    }

    /// How many messages wait.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether none do.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Delivers every message of the Maildir, up to `in_flight` at once (see [`deliver_all`]),
/// and returns how many it handled. A delivered message (and one that can never be taken in,
/// flagged `F` for a person to look at) moves to `cur/`; a temporary failure leaves it in
/// `new/` and starts no more, so nothing is lost and a rerun resumes.
pub async fn deliver_maildir(
    postmaster: Arc<Postmaster>,
    maildir: Maildir,
    in_flight: usize,
    mut each: impl FnMut(Handled),
) -> Result<usize, MailError> {
    let Maildir { dir, names } = maildir;
    let (new, cur) = (dir.join("new"), dir.join("cur"));
    let stopped = Cell::new(false);
    let failure: RefCell<Option<std::io::Error>> = RefCell::new(None);
    let fail = |e: std::io::Error| {
        stopped.set(true);
        failure.borrow_mut().get_or_insert(e);
    };
    let messages = names
        .into_iter()
        .take_while(|_| !stopped.get())
        .filter_map(|(_, name)| {
            let path = new.join(&*name);
            match std::fs::read(&path) {
                Ok(raw) => Some((path.display().to_string(), raw)),
                // Taken by someone else meanwhile: not ours to deliver.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    fail(e);
                    None
                }
            }
        });
    let handled = deliver_all(postmaster, messages, in_flight, |mut h| {
        let flags = match &h.result {
            Err(e) if e.is_temporary() => {
                stopped.set(true);
                each(h);
                return;
            }
            Err(_) => "F",
            Ok(_) => "S",
        };
        let path = PathBuf::from(&h.source);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let base = name.split(":2,").next().unwrap_or(&name);
        let target = cur.join(format!("{base}:2,{flags}"));
        match std::fs::rename(&path, &target) {
            Ok(()) => h.source = target.display().to_string(),
            Err(e) => fail(e),
        }
        each(h);
    })
    .await?;
    match failure.into_inner() {
        Some(e) => Err(e.into()),
        None => Ok(handled),
    }
}

/// The messages of an mbox file, read as a stream: each starts with a `From ` line at the
/// start of the file or after an empty line, and `>From ` quoting (mboxrd) is undone. Only
/// the message being read is held.
#[derive(Debug)]
pub struct Mbox<R> {
    reader: R,
    /// What the sources are called: "NAME #N".
    name: String,
    count: usize,
    line: Vec<u8>,
    /// The message being read, once its `From ` line was seen.
    current: Option<Vec<u8>>,
    previous_blank: bool,
    read: Arc<AtomicU64>,
}

impl Mbox<std::io::BufReader<std::fs::File>> {
    /// Opens an mbox file; its size is what [`Mbox::bytes_read`] counts towards.
    pub fn open(path: &Path) -> std::io::Result<(Self, u64)> {
        let file = std::fs::File::open(path)?;
        let size = file.metadata()?.len();
        let reader = std::io::BufReader::with_capacity(1 << 16, file);
        Ok((Mbox::new(reader, &path.display().to_string()), size))
    }
}

impl<R: BufRead> Mbox<R> {
    /// Reads mbox `reader`, calling its messages "NAME #1", "NAME #2", …
    pub fn new(reader: R, name: &str) -> Mbox<R> {
        Mbox {
            reader,
            name: name.to_string(),
            count: 0,
            line: Vec::new(),
            current: None,
            previous_blank: true,
            read: Arc::default(),
        }
    }

    /// How many bytes have been read so far, for a progress bar while the mbox is consumed
    /// elsewhere.
    pub fn bytes_read(&self) -> Arc<AtomicU64> {
        self.read.clone()
    }

    /// The message read, named, unless it is empty.
    fn done(&mut self, message: Vec<u8>) -> Option<(String, Vec<u8>)> {
        let message = trim_separator(message);
        if message.is_empty() {
            return None;
        }
        self.count += 1;
        Some((format!("{} #{}", self.name, self.count), message))
    }
}

impl<R: BufRead> Iterator for Mbox<R> {
    type Item = std::io::Result<(String, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.line.clear();
            let n = match self.reader.read_until(b'\n', &mut self.line) {
                Ok(n) => n,
                Err(e) => return Some(Err(e)),
            };
            self.read.fetch_add(n as u64, Ordering::Relaxed);
            if n == 0 {
                let last = self.current.take()?;
                return self.done(last).map(Ok);
            }
            let line = &self.line;
            if line.starts_with(b"From ") && self.previous_blank {
                self.previous_blank = false;
                if let Some(message) = self.current.replace(Vec::new())
                    && let Some(done) = self.done(message)
                {
                    return Some(Ok(done));
                }
                continue;
            }
            self.previous_blank = line == b"\n" || line == b"\r\n";
            if let Some(message) = self.current.as_mut() {
                match line.iter().position(|b| *b != b'>') {
                    Some(n) if n > 0 && line[n..].starts_with(b"From ") => {
                        message.extend_from_slice(&line[1..])
                    }
                    _ => message.extend_from_slice(line),
                }
            }
        }
    }
}

/// Drops the empty line mbox puts between messages.
fn trim_separator(mut message: Vec<u8>) -> Vec<u8> {
    if message.ends_with(b"\r\n\r\n") {
        message.truncate(message.len() - 2);
    } else if message.ends_with(b"\n\n") {
        message.truncate(message.len() - 1);
    }
    message
}

/// How many messages bulk delivery (an mbox import) keeps in flight by default. Deliveries
/// spend most of their time waiting for the store, and a store that groups commits (redb's
/// writer, PostgreSQL's joined statement) writes all those that wait in one transaction: the
/// more wait together, the fewer durable commits per message. Measured on 2 cores with a
/// window that let every message fly, the whole pipeline ran 6.2k messages/s into redb with
/// 64 in flight, 8.2k with 256 and 8.8k with 1,024; into PostgreSQL 1.8k with 64 and 2.7k
/// with 256. Through this function, whose replies wait for their parents, on ticketctl's
/// single-threaded runtime: 10.7k–14.2k and 2.5k (redb's documents in MessagePack).
pub const IN_FLIGHT: usize = 256;

/// Delivers the messages of an mbox, up to `in_flight` at once (see [`deliver_all`]), as
/// they are read, and returns how many it handled. Idempotent: an interrupted import run again
/// skips what was taken in (as duplicates) and loses nothing.
pub async fn deliver_mbox<R: BufRead>(
    postmaster: Arc<Postmaster>,
    mbox: Mbox<R>,
    in_flight: usize,
    each: impl FnMut(Handled),
) -> Result<usize, MailError> {
    let failure: RefCell<Option<std::io::Error>> = RefCell::new(None);
    let messages =
        mbox.map_while(|message| message.map_err(|e| *failure.borrow_mut() = Some(e)).ok());
    let handled = deliver_all(postmaster, messages, in_flight, each).await?;
    match failure.into_inner() {
        Some(e) => Err(e.into()),
        None => Ok(handled),
    }
}

/// Delivers `(source, raw)` messages, up to `in_flight` at once, so their commits share
/// transactions where the store groups them, and returns how many it handled. A reply whose
/// parent (a message it answers) is still being delivered waits aside until the parent is in,
/// so it follows up on that ticket instead of opening its own; the messages behind it go on
/// meanwhile. Messages are taken from `messages` only as room opens (at most `in_flight`
/// delivering and `in_flight` waiting aside), and `each` is handed every result as it
/// finishes, in any order, and keeps what it wants of it: memory stays bounded however many
/// messages come.
pub async fn deliver_all(
    postmaster: Arc<Postmaster>,
    messages: impl IntoIterator<Item = (String, Vec<u8>)>,
    in_flight: usize,
    mut each: impl FnMut(Handled),
) -> Result<usize, MailError> {
    let in_flight = in_flight.max(1);
    let limit = postmaster.desk().config().await?.mail.max_message_size;
    let mut tasks = tokio::task::JoinSet::new();
    let mut handled = 0;
    let mut pending = messages
        .into_iter()
        .fuse()
        .map(|(source, raw)| Waiting::parse(source, &raw, limit));
    let mut waiting = Threads::default();
    loop {
        while tasks.len() < in_flight {
            let next = if let Some(message) = waiting.ready() {
                message
            } else if waiting.parked.len() < in_flight
                && let Some(message) = pending.next()
            {
                if waiting.blocks(&message) {
                    waiting.park(message);
                    continue;
                }
                message
            } else if tasks.is_empty()
                && let Some(message) = waiting.unpark_first()
            {
                // Parents that answer each other, or more parked than may fly: nothing
                // else would free them.
                message
            } else {
                break;
            };
            let Waiting {
                source, mail, id, ..
            } = next;
            let mail = match mail {
                Ok(mail) => mail,
                Err(e) => {
                    handled += 1;
                    each(Handled {
                        source,
                        result: Err(e),
                    });
                    continue;
                }
            };
            if let Some(id) = &id {
                waiting.held.insert(id.clone());
            }
            let postmaster = postmaster.clone();
            // Boxed: the delivery's state is kilobytes, which the runtime would otherwise
            // copy each time the task is spawned, polled to completion and joined.
            tasks.spawn(async move {
                let result = Box::pin(postmaster.deliver_parsed(&mail)).await;
                (source, id, result)
            });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let (source, id, result) =
            joined.map_err(|e| MailError::Transport(format!("import task: {e}")))?;
        if let Some(id) = id {
            waiting.release(&id);
        }
        handled += 1;
        each(Handled { source, result });
    }
    Ok(handled)
}

/// A message not yet handed to a delivery task.
struct Waiting {
    source: String,
    /// The message parsed, or why it cannot be.
    mail: Result<Inbound, MailError>,
    id: Option<String>,
    /// The Message-IDs it answers.
    answers: Vec<String>,
}

impl Waiting {
    /// Parses a message as it is read, which tells its Message-ID and those it answers. (A
    /// second, ids-only parse for that had cost a twentieth of an import's async thread.)
    fn parse(source: String, raw: &[u8], limit: u64) -> Waiting {
        let mail = Inbound::parse(raw, limit);
        // A message that cannot be parsed is never delivered, so no reply waits for it.
        let (id, answers) = match &mail {
            Ok(m) => (
                m.message_id.clone(),
                m.in_reply_to
                    .iter()
                    .chain(&m.references)
                    .filter(|a| Some(*a) != m.message_id.as_ref())
                    .cloned()
                    .collect(),
            ),
            Err(_) => (None, Vec::new()),
        };
        Waiting {
            source,
            mail,
            id,
            answers,
        }
    }
}

/// Replies waiting for their parents. Each parked reply counts the parents it still waits
/// for, and each held Message-ID lists the replies waiting on it, so a delivery that finishes
/// frees its replies without a scan of everything parked (which, with hundreds parked, had
/// cost more than parsing).
#[derive(Default)]
struct Threads {
    /// Message-IDs being delivered or parked: a message answering one of them waits.
    held: HashSet<String>,
    /// Replies waiting, by arrival, with how many of their parents are still held.
    parked: BTreeMap<u64, (Waiting, usize)>,
    /// The parked replies whose parents are all in.
    free: BTreeSet<u64>,
    /// The parked replies each held Message-ID stops.
    waiters: HashMap<String, Vec<u64>>,
    arrivals: u64,
}

impl Threads {
    fn blocks(&self, message: &Waiting) -> bool {
        message.answers.iter().any(|a| self.held.contains(a))
    }

    fn park(&mut self, message: Waiting) {
        let at = self.arrivals;
        self.arrivals += 1;
        let mut parents = 0;
        for parent in message.answers.iter().filter(|a| self.held.contains(*a)) {
            self.waiters.entry(parent.clone()).or_default().push(at);
            parents += 1;
        }
        if parents == 0 {
            self.free.insert(at);
        }
        if let Some(id) = &message.id {
            self.held.insert(id.clone());
        }
        self.parked.insert(at, (message, parents));
    }

    /// A delivery is done: the replies waiting only for it may go.
    fn release(&mut self, id: &str) {
        self.held.remove(id);
        for at in self.waiters.remove(id).unwrap_or_default() {
            if let Some((_, parents)) = self.parked.get_mut(&at) {
                *parents = parents.saturating_sub(1);
                if *parents == 0 {
                    self.free.insert(at);
                }
            }
        }
    }

    /// The first parked reply whose parents are all in, taken out of the queue.
    fn ready(&mut self) -> Option<Waiting> {
        let at = self.free.pop_first()?;
        self.unpark(at)
    }

    /// The longest-waiting reply, whether or not its parents are in.
    fn unpark_first(&mut self) -> Option<Waiting> {
        let at = *self.parked.keys().next()?;
        self.unpark(at)
    }

    /// Takes a reply out to be delivered; its Message-ID stays held until it is in.
    fn unpark(&mut self, at: u64) -> Option<Waiting> {
        self.free.remove(&at);
        self.parked.remove(&at).map(|(message, _)| message)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn split(mbox: &[u8], buffer: usize) -> Vec<Vec<u8>> {
        Mbox::new(std::io::BufReader::with_capacity(buffer, mbox), "m")
            .map(|m| m.unwrap().1)
            .collect()
    }

    #[test]
    fn mbox_splits_on_from_lines_and_unquotes() {
        let mbox = b"From a@x Mon Jan 1 00:00:00 2026\nSubject: one\n\nhello\n>From here\n\nFrom b@x Mon Jan 1 00:00:01 2026\nSubject: two\n\nnot From the start\nbye\n";
        // Lines that straddle the reader's buffer read the same.
        for buffer in [3, 7, 1 << 16] {
            let messages = split(mbox, buffer);
            assert_eq!(messages.len(), 2, "{messages:?}");
            assert_eq!(messages[0], b"Subject: one\n\nhello\nFrom here\n".to_vec());
            assert!(messages[1].starts_with(b"Subject: two\n"));
        }
        assert!(split(b"", 8).is_empty());
        assert!(split(b"no mbox at all\n", 8).is_empty());
        let mut named = Mbox::new(&mbox[..], "archive.mbox");
        assert_eq!(named.next().unwrap().unwrap().0, "archive.mbox #1");
        assert_eq!(named.next().unwrap().unwrap().0, "archive.mbox #2");
        assert!(named.next().is_none());
        assert_eq!(
            named.bytes_read().load(Ordering::Relaxed),
            mbox.len() as u64
        );
    }
}

//! Where incoming mail comes from: a Maildir (a message leaves `new/` only once its delivery
//! committed) and mbox files (bulk import, many messages in flight so their commits share
//! transactions). A single message from stdin or a file is just [`Postmaster::deliver`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// Delivers every message in the Maildir's `new/`, oldest first. A delivered message (and
/// one that can never be taken in, flagged `F` for a person to look at) moves to `cur/`; a
/// temporary failure leaves it in `new/` and stops, so nothing is lost and a rerun resumes.
pub async fn deliver_maildir(
    postmaster: &Postmaster,
    dir: &Path,
    mut each: impl FnMut(&Handled),
) -> Result<Vec<Handled>, MailError> {
    let new = dir.join("new");
    let cur = dir.join("cur");
    std::fs::create_dir_all(&cur)?;
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&new)?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| {
            let modified = e
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            (modified, e.path())
        })
        .collect();
    files.sort();
    let mut handled = Vec::with_capacity(files.len());
    for (_, path) in files {
        let raw = std::fs::read(&path)?;
        let result = postmaster.deliver(&raw).await;
        let flags = match &result {
            Err(e) if e.is_temporary() => {
                let h = Handled {
                    source: path.display().to_string(),
                    result,
                };
                each(&h);
                handled.push(h);
                break;
            }
            Err(_) => "F",
            Ok(_) => "S",
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let base = name.split(":2,").next().unwrap_or(&name).to_string();
        let target = cur.join(format!("{base}:2,{flags}"));
        std::fs::rename(&path, &target)?;
        let h = Handled {
            source: target.display().to_string(),
            result,
        };
        each(&h);
        handled.push(h);
    }
    Ok(handled)
}

/// Splits an mbox file into its messages: each starts with a `From ` line at the start of
/// the file or after an empty line; `>From ` quoting (mboxrd) is undone.
pub fn split_mbox(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    let mut previous_blank = true;
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b"From ") && previous_blank {
            if let Some(done) = current.take() {
                messages.push(trim_separator(done));
            }
            current = Some(Vec::new());
            previous_blank = false;
            continue;
        }
        let blank = line == b"\n" || line == b"\r\n";
        if let Some(message) = current.as_mut() {
            let quoted = line.iter().position(|b| *b != b'>');
            match quoted {
                Some(n) if n > 0 && line[n..].starts_with(b"From ") => {
                    message.extend_from_slice(&line[1..])
                }
                _ => message.extend_from_slice(line),
            }
        }
        previous_blank = blank;
    }
    if let Some(done) = current {
        messages.push(trim_separator(done));
    }
    messages.retain(|m| !m.is_empty());
    messages
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

/// Delivers the messages of an mbox file, up to `in_flight` at once (see [`deliver_all`]).
/// Idempotent: an interrupted import run again skips what was taken in (as duplicates) and
/// loses nothing.
pub async fn deliver_mbox(
    postmaster: Arc<Postmaster>,
    file: &Path,
    in_flight: usize,
    each: impl FnMut(&Handled),
) -> Result<Vec<Handled>, MailError> {
    let bytes = std::fs::read(file)?;
    let messages = split_mbox(&bytes)
        .into_iter()
        .enumerate()
        .map(|(n, raw)| (format!("{} #{}", file.display(), n + 1), raw));
    deliver_all(postmaster, messages, in_flight, each).await
}

/// Delivers `(source, raw)` messages, up to `in_flight` at once, so their commits share
/// transactions where the store groups them. A reply whose parent (a message it answers) is
/// still being delivered waits aside until the parent is in, so it follows up on that ticket
/// instead of opening its own; the messages behind it go on meanwhile. `each` sees every
/// message as it finishes, in any order (a progress bar counts them).
pub async fn deliver_all(
    postmaster: Arc<Postmaster>,
    messages: impl IntoIterator<Item = (String, Vec<u8>)>,
    in_flight: usize,
    mut each: impl FnMut(&Handled),
) -> Result<Vec<Handled>, MailError> {
    let in_flight = in_flight.max(1);
    let limit = postmaster.desk().config().await?.mail.max_message_size;
    let mut tasks = tokio::task::JoinSet::new();
    let mut handled = Vec::new();
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
                    let h = Handled {
                        source,
                        result: Err(e),
                    };
                    each(&h);
                    handled.push(h);
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
        let h = Handled { source, result };
        each(&h);
        handled.push(h);
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
mod tests {
    use super::*;

    #[test]
    fn mbox_splits_on_from_lines_and_unquotes() {
        let mbox = b"From a@x Mon Jan 1 00:00:00 2026\nSubject: one\n\nhello\n>From here\n\nFrom b@x Mon Jan 1 00:00:01 2026\nSubject: two\n\nnot From the start\nbye\n";
        let messages = split_mbox(mbox);
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert_eq!(messages[0], b"Subject: one\n\nhello\nFrom here\n".to_vec());
        assert!(messages[1].starts_with(b"Subject: two\n"));
        assert!(split_mbox(b"").is_empty());
        assert!(split_mbox(b"no mbox at all\n").is_empty());
    }
}

//! Where incoming mail comes from: a Maildir (a message leaves `new/` only once its delivery
//! committed) and mbox files (bulk import, many messages in flight so their commits share
//! transactions). A single message from stdin or a file is just [`Postmaster::deliver`].

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::MailError;
use crate::inbound::thread_ids;
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
/// transactions where the store groups them. A reply waits while the message it answers is
/// still being delivered, so it follows up on that ticket instead of opening its own; the
/// order of the input is kept otherwise. `each` sees every message as it finishes, in any
/// order (a progress bar counts them).
pub async fn deliver_all(
    postmaster: Arc<Postmaster>,
    messages: impl IntoIterator<Item = (String, Vec<u8>)>,
    in_flight: usize,
    mut each: impl FnMut(&Handled),
) -> Result<Vec<Handled>, MailError> {
    let mut tasks = tokio::task::JoinSet::new();
    let mut handled = Vec::new();
    let mut pending = messages.into_iter().map(|(source, raw)| {
        let (id, answers) = thread_ids(&raw);
        (source, raw, id, answers)
    });
    let mut next = None;
    // Message-IDs being delivered right now.
    let mut flying: HashSet<String> = HashSet::new();
    let in_flight = in_flight.max(1);
    loop {
        while tasks.len() < in_flight {
            if next.is_none() {
                next = pending.next();
            }
            let Some((source, raw, id, answers)) = next.take() else {
                break;
            };
            if answers.iter().any(|a| flying.contains(a)) {
                next = Some((source, raw, id, answers));
                break;
            }
            if let Some(id) = &id {
                flying.insert(id.clone());
            }
            let postmaster = postmaster.clone();
            tasks.spawn(async move { (source, id, postmaster.deliver(&raw).await) });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let (source, id, result) =
            joined.map_err(|e| MailError::Transport(format!("import task: {e}")))?;
        if let Some(id) = id {
            flying.remove(&id);
        }
        let h = Handled { source, result };
        each(&h);
        handled.push(h);
    }
    Ok(handled)
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

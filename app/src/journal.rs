//! The spool's journal: one preallocated file that `ingest` appends messages to in place,
//! so handing a message over costs one small synced write instead of creating, renaming and
//! syncing a file and its directory (a third of a spooled delivery's time here).
//!
//! Layout: a header page (`MAGIC`, then the end of the last record as u64 LE), then records
//! of `[length u32 LE][FNV-1a 64 of the data, u64 LE][data]`, each padded to 8 bytes. The
//! file is filled with zeros when made, so writing into it never changes its size or extents
//! and `fdatasync` writes just the pages touched. Writers and the reader take turns under an
//! exclusive lock on the file. A record torn by a crash before its sync (never acknowledged
//! to the MTA) fails its checksum and ends the journal there; the next attendant cuts it
//! off before it lets `ingest` append again.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"TCSPOOL1";
/// Where records start.
const START: u64 = 4096;
/// The journal's size; messages that do not fit (large ones, or a backlog) are spooled as
/// files instead.
const SIZE: u64 = 16 << 20;
/// A record's length and checksum.
const RECORD_HEADER: u64 = 12;

/// The journal file of a spool.
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
}

/// What a round read from the journal.
#[derive(Debug)]
pub struct Taken {
    /// The messages, in the order they were appended.
    pub messages: Vec<Vec<u8>>,
    /// Where the next round goes on reading.
    pub end: u64,
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn padded(len: u64) -> u64 {
    len.div_ceil(8) * 8
}

/// The header's end of records.
fn end_of(file: &mut &File) -> std::io::Result<u64> {
    let mut header = [0u8; 16];
    file.seek(SeekFrom::Start(0))?;
    file.read_exact(&mut header)?;
    if &header[..8] != MAGIC {
        return Err(std::io::Error::other("not a ticketctl spool journal"));
    }
    let mut end = [0u8; 8];
    end.copy_from_slice(&header[8..]);
    Ok(u64::from_le_bytes(end).clamp(START, SIZE))
}

fn set_end(file: &mut &File, end: u64) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(8))?;
    file.write_all(&end.to_le_bytes())
}

impl Journal {
    /// The journal at `path` (made by [`Journal::make`]).
    pub fn at(path: PathBuf) -> Journal {
        Journal { path }
    }

    /// Its file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes an empty journal unless a good one is there (whose records are still to be
    /// delivered): zeros written, synced, then renamed into place.
    pub fn make(&self) -> std::io::Result<()> {
        if let Ok(file) = OpenOptions::new().read(true).write(true).open(&self.path)
            && file.metadata()?.len() == SIZE
            && end_of(&mut &file).is_ok()
        {
            // A record torn by a crash is cut off, so that what is appended from now on is
            // not hidden behind it.
            let valid = self.read(None)?.end;
            file.lock()?;
            let mut f = &file;
            if end_of(&mut f)? != valid {
                set_end(&mut f, valid)?;
                file.sync_data()?;
            }
            return Ok(());
        }
        let mut tmp = self.path.as_os_str().to_os_string();
        tmp.push(".new");
        let tmp = PathBuf::from(tmp);
        let mut file = File::create(&tmp)?;
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..SIZE / zeros.len() as u64 {
            file.write_all(&zeros)?;
        }
        file.seek(SeekFrom::Start(0))?;
        file.write_all(MAGIC)?;
        file.write_all(&START.to_le_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        sync_dir(&self.path)
    }

    /// Appends `raw` durably; false when the journal has no room (or is not there).
    pub fn append(&self, raw: &[u8]) -> std::io::Result<bool> {
        let Ok(file) = OpenOptions::new().read(true).write(true).open(&self.path) else {
            return Ok(false);
        };
        let len = u32::try_from(raw.len()).map_err(std::io::Error::other)?;
        file.lock()?;
        let mut f = &file;
        let end = end_of(&mut f)?;
        let next = end + padded(RECORD_HEADER + u64::from(len));
        if next > SIZE {
            return Ok(false);
        }
        let mut record = Vec::with_capacity(padded(RECORD_HEADER + raw.len() as u64) as usize);
        record.extend_from_slice(&len.to_le_bytes());
        record.extend_from_slice(&fnv1a(raw).to_le_bytes());
        record.extend_from_slice(raw);
        record.resize((next - end) as usize, 0);
        f.seek(SeekFrom::Start(end))?;
        f.write_all(&record)?;
        set_end(&mut f, next)?;
        file.sync_data()?;
        Ok(true)
    }

    /// The messages appended after `from` (a previous read's end, or the start).
    pub fn read(&self, from: Option<u64>) -> std::io::Result<Taken> {
        let file = OpenOptions::new().read(true).write(true).open(&self.path)?;
        file.lock()?;
        let mut f = &file;
        let end = end_of(&mut f)?;
        let from = from.unwrap_or(START).clamp(START, end);
        let mut bytes = vec![0u8; (end - from) as usize];
        f.seek(SeekFrom::Start(from))?;
        f.read_exact(&mut bytes)?;
        drop(file);
        let mut messages = Vec::new();
        let mut at = 0usize;
        while let Some(header) = bytes.get(at..at + RECORD_HEADER as usize) {
            let (len, sum) = header.split_at(4);
            let len = u32::from_le_bytes(len.try_into().unwrap_or_default()) as usize;
            let sum = u64::from_le_bytes(sum.try_into().unwrap_or_default());
            let start = at + RECORD_HEADER as usize;
            match bytes.get(start..start + len) {
                Some(data) if len > 0 && fnv1a(data) == sum => messages.push(data.to_vec()),
                // Torn by a crash before its sync: nothing after it was acknowledged.
                _ => break,
            }
            at += padded(RECORD_HEADER + len as u64) as usize;
        }
        Ok(Taken {
            messages,
            end: from + at as u64,
        })
    }

    /// Starts the journal afresh if nothing was appended after `end`; whether it did.
    pub fn reset_at(&self, end: u64) -> std::io::Result<bool> {
        let file = OpenOptions::new().read(true).write(true).open(&self.path)?;
        file.lock()?;
        let mut f = &file;
        if end_of(&mut f)? != end || end == START {
            return Ok(false);
        }
        set_end(&mut f, START)?;
        file.sync_data()?;
        Ok(true)
    }
}

/// Makes a rename in `path`'s directory durable.
pub fn sync_dir(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => File::open(".")?.sync_all(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn appended_messages_are_read_back_once_and_a_torn_one_ends_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::at(dir.path().join("journal"));
        assert!(!journal.append(b"before").unwrap(), "no journal yet");
        journal.make().unwrap();
        for m in [&b"one"[..], b"two, a little longer", b"three"] {
            assert!(journal.append(m).unwrap());
        }
        let first = journal.read(None).unwrap();
        assert_eq!(
            first.messages,
            vec![
                b"one".to_vec(),
                b"two, a little longer".to_vec(),
                b"three".to_vec()
            ]
        );
        assert!(journal.append(b"four").unwrap());
        let second = journal.read(Some(first.end)).unwrap();
        assert_eq!(second.messages, vec![b"four".to_vec()]);
        // Appended since the first read: no reset yet.
        assert!(!journal.reset_at(first.end).unwrap());
        assert!(journal.reset_at(second.end).unwrap());
        assert!(journal.read(None).unwrap().messages.is_empty());
        // A good journal survives being made again; a torn record ends it.
        assert!(journal.append(b"five").unwrap());
        assert!(journal.append(b"six").unwrap());
        journal.make().unwrap();
        let mut file = OpenOptions::new()
            .write(true)
            .open(dir.path().join("journal"))
            .unwrap();
        file.seek(SeekFrom::Start(START + 16 + RECORD_HEADER))
            .unwrap();
        file.write_all(b"x").unwrap();
        assert_eq!(journal.read(None).unwrap().messages, vec![b"five".to_vec()]);
        journal.make().unwrap();
        assert!(journal.append(b"seven").unwrap());
        assert_eq!(
            journal.read(None).unwrap().messages,
            vec![b"five".to_vec(), b"seven".to_vec()],
            "appended after the torn record was cut off"
        );
        // No room: the caller spools a file instead.
        assert!(!journal.append(&vec![b'x'; SIZE as usize]).unwrap());
    }
}

//! The FAQ in one redb table of byte keys, each kind under its own first byte:
//!
//! - `e` number → the newest version with its terms,
//! - `v` number version → every version,
//! - `s` state number → category: the listing, newest first per state,
//! - `t` term 0 number → nothing: the term index a search looks candidates up in,
//! - `a` → the analyzer version those terms were made with.
//!
//! A search ranks its candidates with ticketcore's [`FaqPage::rank`], so every backend ranks
//! alike.

use std::collections::BTreeSet;

use redb::{ReadableTable, Table};
use ticketcore::article::Blob;
use ticketcore::faq::{FaqEntry, FaqHit, FaqPage, FaqQuery};
use ticketcore::{SearchDoc, StoreError, StoreResult};

use crate::tables::{backend, decode, encode};

/// The key of the analyzer version the stored terms were made with.
const ANALYZER: &[u8] = b"a";
const ENTRY: u8 = b'e';
const VERSION: u8 = b'v';
const STATE: u8 = b's';
const TERM: u8 = b't';

fn entry_key(number: u64) -> [u8; 9] {
    let mut key = [ENTRY; 9];
    key[1..].copy_from_slice(&number.to_be_bytes());
    key
}

fn version_key(number: u64, version: u64) -> [u8; 17] {
    let mut key = [VERSION; 17];
    key[1..9].copy_from_slice(&number.to_be_bytes());
    key[9..].copy_from_slice(&version.to_be_bytes());
    key
}

fn state_key(state: u8, number: u64) -> [u8; 10] {
    let mut key = [STATE; 10];
    key[1] = state;
    key[2..].copy_from_slice(&number.to_be_bytes());
    key
}

fn term_key(term: &str, number: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(term.len() + 10);
    key.push(TERM);
    key.extend_from_slice(term.as_bytes());
    key.push(0);
    key.extend_from_slice(&number.to_be_bytes());
    key
}

/// The number at the end of a key.
fn number_at_end(key: &[u8]) -> Option<u64> {
    let start = key.len().checked_sub(8)?;
    Some(u64::from_be_bytes(key[start..].try_into().ok()?))
}

fn distinct(terms: &SearchDoc) -> BTreeSet<&str> {
    terms
        .parts(true)
        .flat_map(|part| part.split(' '))
        .filter(|t| !t.is_empty())
        .collect()
}

type FaqTable<'t> = Table<'t, &'static [u8], &'static [u8]>;
type R<T> = Result<T, redb::Error>;

/// Stores a new version if the newest stored one is `entry.version - 1`: a logical outcome,
/// or a redb failure that dooms the transaction.
pub fn save(
    faq: &mut FaqTable<'_>,
    blobs: &mut Table<'_, &'static str, &'static [u8]>,
    entry: &FaqEntry,
    new_blobs: &[Blob],
) -> R<StoreResult<()>> {
    let old: Option<(FaqEntry, SearchDoc)> = match faq.get(entry_key(entry.number).as_slice())? {
        Some(v) => match decode(v.value(), "FAQ entry") {
            Ok(old) => Some(old),
            Err(e) => return Ok(Err(e)),
        },
        None => None,
    };
    let stored = old.as_ref().map_or(0, |(e, _)| e.version);
    if entry.version != stored + 1 {
        return Ok(Err(StoreError::Conflict(format!(
            "FAQ entry {}",
            entry.number
        ))));
    }
    let terms = entry.terms();
    let (current, version) = match (encode(&(entry, &terms)), encode(entry)) {
        (Ok(current), Ok(version)) => (current, version),
        (Err(e), _) | (_, Err(e)) => return Ok(Err(e)),
    };
    if let Some((old, old_terms)) = &old {
        faq.remove(state_key(old.state.code(), old.number).as_slice())?;
        for term in distinct(old_terms) {
            faq.remove(term_key(term, old.number).as_slice())?;
        }
    }
    faq.insert(entry_key(entry.number).as_slice(), current.as_slice())?;
    faq.insert(
        version_key(entry.number, entry.version).as_slice(),
        version.as_slice(),
    )?;
    faq.insert(
        state_key(entry.state.code(), entry.number).as_slice(),
        entry.category.as_bytes(),
    )?;
    for term in distinct(&terms) {
        faq.insert(term_key(term, entry.number).as_slice(), [].as_slice())?;
    }
    for blob in new_blobs {
        if blobs.get(blob.hash.0.as_str())?.is_none() {
            blobs.insert(blob.hash.0.as_str(), blob.data.as_slice())?;
        }
    }
    Ok(Ok(()))
}

/// Whether the terms were made by this analyzer (a file without entries is stamped when it
/// is prepared).
pub fn current(faq: &impl ReadableTable<&'static [u8], &'static [u8]>) -> R<bool> {
    let version = ticketcore::analyzer::VERSION.to_be_bytes();
    Ok(faq
        .get(ANALYZER)?
        .is_some_and(|v| v.value() == version.as_slice()))
}

/// Derives every entry's terms again when the analyzer changed since they were made;
/// returns how many entries it indexed.
pub fn upgrade(faq: &mut FaqTable<'_>) -> R<StoreResult<u64>> {
    if current(faq)? {
        return Ok(Ok(0));
    }
    let (start, end) = (entry_key(0), entry_key(u64::MAX));
    let mut stored = Vec::new();
    for item in faq.range::<&[u8]>(start.as_slice()..=end.as_slice())? {
        let (_, value) = item?;
        match decode::<(FaqEntry, SearchDoc)>(value.value(), "FAQ entry") {
            Ok(pair) => stored.push(pair),
            Err(e) => return Ok(Err(e)),
        }
    }
    for (entry, old) in &stored {
        for term in distinct(old) {
            faq.remove(term_key(term, entry.number).as_slice())?;
        }
        let terms = entry.terms();
        for term in distinct(&terms) {
            faq.insert(term_key(term, entry.number).as_slice(), [].as_slice())?;
        }
        match encode(&(entry, &terms)) {
            Ok(value) => faq.insert(entry_key(entry.number).as_slice(), value.as_slice())?,
            Err(e) => return Ok(Err(e)),
        };
    }
    let version = ticketcore::analyzer::VERSION.to_be_bytes();
    faq.insert(ANALYZER, version.as_slice())?;
    Ok(Ok(stored.len() as u64))
}

/// The reads, on a snapshot's table.
pub struct Faq<'a, T: ReadableTable<&'static [u8], &'static [u8]>>(pub &'a T);

impl<T: ReadableTable<&'static [u8], &'static [u8]>> Faq<'_, T> {
    fn newest(&self, number: u64) -> StoreResult<Option<(FaqEntry, SearchDoc)>> {
        self.0
            .get(entry_key(number).as_slice())
            .map_err(backend)?
            .map(|v| decode(v.value(), "FAQ entry"))
            .transpose()
    }

    /// The newest version of `number`.
    pub fn entry(&self, number: u64) -> StoreResult<Option<FaqEntry>> {
        Ok(self.newest(number)?.map(|(entry, _)| entry))
    }

    /// Every version of `number`, oldest first.
    pub fn versions(&self, number: u64) -> StoreResult<Vec<FaqEntry>> {
        let (start, end) = (version_key(number, 0), version_key(number, u64::MAX));
        let mut out = Vec::new();
        for item in self
            .0
            .range::<&[u8]>(start.as_slice()..=end.as_slice())
            .map_err(backend)?
        {
            let (_, value) = item.map_err(backend)?;
            out.push(decode(value.value(), "FAQ entry")?);
        }
        Ok(out)
    }

    /// A listing by the state index, newest first; a search ranks the entries whose terms
    /// hold every wanted one.
    pub fn search(&self, q: &FaqQuery) -> StoreResult<FaqPage> {
        if q.is_listing() {
            return self.listing(q);
        }
        let mut candidates: Option<BTreeSet<u64>> = None;
        for term in q.wanted_terms() {
            let numbers = self.with_term(term)?;
            candidates = Some(match candidates {
                Some(c) => c.intersection(&numbers).copied().collect(),
                None => numbers,
            });
        }
        let numbers: Vec<u64> = match candidates {
            Some(c) => c.into_iter().collect(),
            // Only unwanted words: every entry is a candidate.
            None => self.all_numbers()?,
        };
        let mut found = Vec::with_capacity(numbers.len());
        for number in numbers {
            found.extend(self.newest(number)?);
        }
        Ok(FaqPage::rank(q, found))
    }

    fn with_term(&self, term: &str) -> StoreResult<BTreeSet<u64>> {
        let mut start = vec![TERM];
        start.extend_from_slice(term.as_bytes());
        start.push(0);
        let mut end = start.clone();
        end.extend_from_slice(&[0xff; 8]);
        Ok(self.numbers_between(&start, &end)?.into_iter().collect())
    }

    fn all_numbers(&self) -> StoreResult<Vec<u64>> {
        self.numbers_between(&entry_key(0), &entry_key(u64::MAX))
    }

    /// The entry numbers at the end of the keys from `start` to `end`, in key order.
    fn numbers_between(&self, start: &[u8], end: &[u8]) -> StoreResult<Vec<u64>> {
        let mut out = Vec::new();
        for item in self.0.range::<&[u8]>(start..=end).map_err(backend)? {
            let (key, _) = item.map_err(backend)?;
            out.extend(number_at_end(key.value()));
        }
        Ok(out)
    }

    /// Per visible state, the newest entries before the page position whose category the
    /// reader sees, merged newest first.
    fn listing(&self, q: &FaqQuery) -> StoreResult<FaqPage> {
        let want = q.limit.saturating_add(1);
        let before = q.after.map_or(u64::MAX, |a| a.number);
        let mut hits: Vec<FaqHit> = Vec::new();
        for (state, categories) in &q.visible {
            let (start, end) = (state_key(state.code(), 0), state_key(state.code(), before));
            let range = self
                .0
                .range::<&[u8]>(start.as_slice()..end.as_slice())
                .map_err(backend)?;
            let mut taken = 0;
            for item in range.rev() {
                let (key, category) = item.map_err(backend)?;
                let seen = categories.as_ref().is_none_or(|c| {
                    std::str::from_utf8(category.value()).is_ok_and(|name| c.contains(name))
                });
                let Some(number) = number_at_end(key.value()).filter(|_| seen) else {
                    continue;
                };
                let Some(entry) = self.entry(number)?.filter(|e| q.admits(e)) else {
                    continue;
                };
                hits.push(FaqHit { entry, score: 0.0 });
                taken += 1;
                if taken == want {
                    break;
                }
            }
        }
        hits.sort_by_key(|h| std::cmp::Reverse(h.entry.number));
        Ok(FaqPage::cut(hits, q.limit))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use redb::{Database, ReadableDatabase, backends::InMemoryBackend};
    use ticketcore::{Actor, FaqState};

    use super::*;
    use crate::tables::{BLOBS, FAQ};

    #[test]
    fn terms_of_an_older_analyzer_are_derived_again() {
        let db = Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .unwrap();
        let entry = FaqEntry {
            number: 7,
            version: 1,
            title: "Beiträge".into(),
            category: "Allgemein".into(),
            keywords: Vec::new(),
            language: "de".into(),
            text: "Kündigungen".into(),
            html: None,
            attachments: Vec::new(),
            state: FaqState::Public,
            created: chrono::DateTime::UNIX_EPOCH,
            changed: chrono::DateTime::UNIX_EPOCH,
            changed_by: Actor::System,
        };
        let txn = db.begin_write().unwrap();
        {
            let mut faq = txn.open_table(FAQ).unwrap();
            let mut blobs = txn.open_table(BLOBS).unwrap();
            save(&mut faq, &mut blobs, &entry, &[]).unwrap().unwrap();
            // What an older analyzer left: other terms, no stamp.
            let stale = SearchDoc {
                head: "stale".into(),
                ..SearchDoc::default()
            };
            for term in distinct(&entry.terms()) {
                faq.remove(term_key(term, 7).as_slice()).unwrap();
            }
            faq.insert(term_key("stale", 7).as_slice(), [].as_slice())
                .unwrap();
            let value = encode(&(&entry, &stale)).unwrap();
            faq.insert(entry_key(7).as_slice(), value.as_slice())
                .unwrap();
            assert!(!current(&faq).unwrap());
            assert_eq!(upgrade(&mut faq).unwrap().unwrap(), 1);
            assert!(current(&faq).unwrap());
            assert_eq!(upgrade(&mut faq).unwrap().unwrap(), 0, "once");
        }
        txn.commit().unwrap();
        let read = db.begin_read().unwrap();
        let table = read.open_table(FAQ).unwrap();
        let faq = Faq(&table);
        assert!(faq.with_term("stale").unwrap().is_empty());
        let mut q = FaqQuery {
            all: vec![vec![ticketcore::analyzer::term("Beitrag").unwrap()]],
            limit: 5,
            ..FaqQuery::default()
        };
        q.visible.insert(FaqState::Public, None);
        assert_eq!(faq.search(&q).unwrap().hits.len(), 1);
    }
}

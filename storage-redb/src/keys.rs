//! Byte keys whose byte order is the order the engine needs: every secondary index is a redb
//! table of such keys, so each query is a range scan.

use chrono::{DateTime, Utc};
use ticketcore::{DueKind, PageKey, StateType, Ticket, TicketId};
use uuid::Uuid;

/// Length of an encoded [`PageKey`].
pub const PAGE_KEY_LEN: usize = 1 + TIME_LEN + 16;
const TIME_LEN: usize = 12;

/// An instant, ordered: seconds with the sign bit flipped, then nanoseconds, big-endian.
pub fn time(t: DateTime<Utc>) -> [u8; TIME_LEN] {
    let mut out = [0u8; TIME_LEN];
    out[..8].copy_from_slice(&((t.timestamp() as u64) ^ (1 << 63)).to_be_bytes());
    out[8..].copy_from_slice(&t.timestamp_subsec_nanos().to_be_bytes());
    out
}

/// The instant encoded by [`time`].
pub fn time_of(bytes: &[u8]) -> Option<DateTime<Utc>> {
    let secs = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?) ^ (1 << 63);
    let nanos = u32::from_be_bytes(bytes.get(8..TIME_LEN)?.try_into().ok()?);
    DateTime::from_timestamp(secs as i64, nanos)
}

/// A ticket id.
pub fn id(id: TicketId) -> [u8; 16] {
    *id.0.as_bytes()
}

/// The ticket id at the end of an index key.
pub fn id_at_end(key: &[u8]) -> Option<TicketId> {
    let start = key.len().checked_sub(16)?;
    Some(TicketId(Uuid::from_bytes(key[start..].try_into().ok()?)))
}

/// The queue-view order: rank (highest priority first), creation time, id.
pub fn page(key: &PageKey) -> [u8; PAGE_KEY_LEN] {
    let mut out = [0u8; PAGE_KEY_LEN];
    out[0] = key.rank;
    out[1..1 + TIME_LEN].copy_from_slice(&time(key.created));
    out[1 + TIME_LEN..].copy_from_slice(key.id.0.as_bytes());
    out
}

/// The [`PageKey`] at the end of an index key.
pub fn page_at_end(key: &[u8]) -> Option<PageKey> {
    let start = key.len().checked_sub(PAGE_KEY_LEN)?;
    let k = &key[start..];
    Some(PageKey {
        rank: k[0],
        created: time_of(&k[1..1 + TIME_LEN])?,
        id: id_at_end(k)?,
    })
}

fn text(out: &mut Vec<u8>, s: &str) {
    // Length-prefixed, so no value can run into the next field.
    out.extend_from_slice(&(s.len().min(u16::MAX as usize) as u16).to_be_bytes());
    out.extend_from_slice(&s.as_bytes()[..s.len().min(u16::MAX as usize)]);
}

/// A queue-view bucket: archived flag, queue, state type.
pub fn bucket(archived: bool, queue: &str, state_type: StateType) -> Vec<u8> {
    let mut out = vec![u8::from(archived)];
    text(&mut out, queue);
    out.push(state_index(state_type));
    out
}

/// Decodes a [`bucket`].
pub fn bucket_of(key: &[u8]) -> Option<(bool, String, StateType)> {
    let archived = *key.first()? == 1;
    let len = usize::from(u16::from_be_bytes(key.get(1..3)?.try_into().ok()?));
    let queue = std::str::from_utf8(key.get(3..3 + len)?).ok()?.to_string();
    let state = *StateType::ALL.get(usize::from(*key.get(3 + len)?))?;
    Some((archived, queue, state))
}

fn state_index(state_type: StateType) -> u8 {
    StateType::ALL
        .iter()
        .position(|s| *s == state_type)
        .unwrap_or_default() as u8
}

/// The prefix of a per-customer or per-company index.
pub fn owner_prefix(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2 + PAGE_KEY_LEN);
    text(&mut out, name);
    out
}

/// A prefix followed by a page key.
pub fn with_page(prefix: &[u8], key: &PageKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(prefix.len() + PAGE_KEY_LEN);
    out.extend_from_slice(prefix);
    out.extend_from_slice(&page(key));
    out
}

/// The first key after every key starting with `prefix` followed by a page key.
pub fn after_prefix(prefix: &[u8]) -> Vec<u8> {
    let mut out = prefix.to_vec();
    out.push(0xFF);
    out
}

/// A due-time index key.
pub fn due(kind: DueKind, at: DateTime<Utc>, ticket: TicketId) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + TIME_LEN + 16);
    out.push(due_index(kind));
    out.extend_from_slice(&time(at));
    out.extend_from_slice(ticket.0.as_bytes());
    out
}

/// The first byte of every due key of `kind`.
pub fn due_index(kind: DueKind) -> u8 {
    DueKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or_default() as u8
}

/// A history key: ticket, sequence number.
pub fn history(ticket: TicketId, seq: u64) -> [u8; 24] {
    let mut out = [0u8; 24];
    out[..16].copy_from_slice(ticket.0.as_bytes());
    out[16..].copy_from_slice(&seq.to_be_bytes());
    out
}

/// An article key: ticket, position.
pub fn article(ticket: TicketId, index: u32) -> [u8; 20] {
    let mut out = [0u8; 20];
    out[..16].copy_from_slice(ticket.0.as_bytes());
    out[16..].copy_from_slice(&index.to_be_bytes());
    out
}

/// Every index entry a ticket has: (view bucket, customer, company, due keys).
pub struct Entries {
    /// Queue-view bucket.
    pub bucket: Vec<u8>,
    /// Key within the bucket table.
    pub view: Vec<u8>,
    /// Customer index key.
    pub customer: Option<Vec<u8>>,
    /// Company index key.
    pub company: Option<Vec<u8>>,
    /// Due-time keys.
    pub due: Vec<Vec<u8>>,
}

impl Entries {
    /// The index entries of `t`.
    pub fn of(t: &Ticket) -> Entries {
        let key = PageKey::of(t);
        let bucket = bucket(t.archived, &t.queue, t.state_type);
        Entries {
            view: with_page(&bucket, &key),
            bucket,
            customer: t
                .customer
                .as_deref()
                .map(|c| with_page(&owner_prefix(c), &key)),
            company: t
                .customer_company
                .as_deref()
                .map(|c| with_page(&owner_prefix(c), &key)),
            due: DueKind::ALL
                .iter()
                .filter_map(|k| Some(due(*k, t.due(*k)?, t.id)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_sort_like_instants() {
        let instants = [
            Utc.with_ymd_and_hms(1960, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap() + chrono::Duration::nanoseconds(1),
            Utc.with_ymd_and_hms(2300, 1, 1, 0, 0, 0).unwrap(),
        ];
        for w in instants.windows(2) {
            assert!(time(w[0]) < time(w[1]));
        }
        for t in instants {
            assert_eq!(time_of(&time(t)), Some(t));
        }
    }

    #[test]
    fn buckets_round_trip() {
        let b = bucket(true, "Vorstand::Schatzmeister", StateType::PendingReminder);
        assert_eq!(
            bucket_of(&b),
            Some((
                true,
                "Vorstand::Schatzmeister".into(),
                StateType::PendingReminder
            ))
        );
        assert_eq!(bucket_of(&[1, 0]), None);
    }
}

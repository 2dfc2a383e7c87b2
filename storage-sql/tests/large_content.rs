//! Large bodies and attachments round-trip byte for byte on every database, and an attachment
//! sent twice is stored once: random content of up to 10 MB (a property test), and 10 MB of
//! each in one article. SQLite always; PostgreSQL and MariaDB when their URLs are set.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod support;

use std::io::Write;
use std::sync::Arc;

use proptest::prelude::*;
use ticketcore::article::{ContentHash, NewAttachment};
use ticketcore::testkit::{desk_with, fixture_config};
use ticketcore::{Actor, Channel, Message, NewTicket, Store};

const MAX: usize = 10 << 20;

/// A seeded generator (splitmix64): proptest shrinks the length and seed, not megabytes of
/// content.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `len` random bytes.
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut random = Random(seed);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&random.next().to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Text of at least `len` bytes with every kind of character: ASCII, control characters and
/// NUL, quotes and backslashes, multi-byte letters, emoji.
fn text(len: usize, seed: u64) -> String {
    let mut random = Random(seed);
    let mut out = String::with_capacity(len + 4);
    while out.len() < len {
        let n = random.next();
        out.push(match n % 4 {
            0 => char::from((n >> 8) as u8 & 0x7f),
            1 => ['\0', '"', '\\', '\n', '\r', '\u{7f}', '\''][(n >> 8) as usize % 7],
            _ => char::from_u32((n >> 8) as u32 % 0x11_0000).unwrap_or('\u{fffd}'),
        });
    }
    out
}

/// Sizes up to [`MAX`], most of them small so a run stays quick.
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => 0..4096usize,
        2 => 4096..(1usize << 20),
        1 => (1usize << 20)..=MAX,
    ]
}

/// Creates a ticket whose first article carries the body and the attachment (twice, under two
/// names), a second ticket with the same attachment, and reads everything back.
async fn round_trip(store: Arc<dyn Store>, body: String, data: Vec<u8>) {
    let (desk, _clock) = desk_with(store.clone(), fixture_config(), 7).await;
    let anna = Actor::agent("anna");
    let attachment = |name: &str| NewAttachment {
        name: name.into(),
        content_type: "application/octet-stream".into(),
        inline: false,
        data: data.clone(),
    };
    let mut message = Message::text(body.clone());
    message.attachments = vec![attachment("a.bin"), attachment("copy.bin")];
    let first = desk
        .create_ticket(
            &anna,
            NewTicket::new("Support", "large", Channel::Phone, message),
        )
        .await
        .expect("create")
        .ticket;
    let mut again = Message::text("the same file");
    again.attachments = vec![attachment("again.bin")];
    let second = desk
        .create_ticket(
            &anna,
            NewTicket::new("Support", "again", Channel::Phone, again),
        )
        .await
        .expect("create again")
        .ticket;

    let hash = ContentHash::of(&data);
    let articles = desk.articles(&anna, first.id).await.expect("articles");
    assert_eq!(articles.len(), 1);
    assert!(articles[0].body == body, "the body came back changed");
    let stored = &articles[0].attachments;
    assert_eq!(stored.len(), 2);
    assert!(
        stored
            .iter()
            .all(|a| a.hash == hash && a.size == data.len() as u64)
    );
    for ticket in [first.id, second.id] {
        let back = desk
            .attachment(&anna, ticket, &hash)
            .await
            .expect("attachment");
        assert!(back == data, "the attachment came back changed");
    }
}

fn run(store: impl Future<Output = Option<Arc<dyn Store>>>, body: String, data: Vec<u8>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        if let Some(store) = store.await {
            round_trip(store.clone(), body, data).await;
            support::release(store).await;
        }
    });
}

async fn sqlite() -> Option<Arc<dyn Store>> {
    Some(Arc::new(support::sqlite().await))
}

async fn postgres() -> Option<Arc<dyn Store>> {
    support::postgres_store().await
}

async fn mysql() -> Option<Arc<dyn Store>> {
    support::mysql_store().await
}

fn skipped(var: &str, test: &str) -> bool {
    match support::unavailable(var) {
        Some(reason) => {
            let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
            true
        }
        None => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn sqlite_round_trips(body_len in size(), data_len in size(), seed in any::<u64>()) {
        run(sqlite(), text(body_len, seed), bytes(data_len, !seed));
    }

    #[test]
    fn postgres_round_trips(body_len in size(), data_len in size(), seed in any::<u64>()) {
        if !skipped(support::POSTGRES, "large content on PostgreSQL") {
            run(postgres(), text(body_len, seed), bytes(data_len, !seed));
        }
    }

    #[test]
    fn mariadb_round_trips(body_len in size(), data_len in size(), seed in any::<u64>()) {
        if !skipped(support::MYSQL, "large content on MariaDB") {
            run(mysql(), text(body_len, seed), bytes(data_len, !seed));
        }
    }
}

#[test]
fn ten_megabytes_each_on_every_database() {
    let (body, data) = (text(MAX, 1), bytes(MAX, 2));
    assert!(body.len() >= MAX && data.len() == MAX);
    run(sqlite(), body.clone(), data.clone());
    if !skipped(support::POSTGRES, "10 MB on PostgreSQL") {
        run(postgres(), body.clone(), data.clone());
    }
    if !skipped(support::MYSQL, "10 MB on MariaDB") {
        run(mysql(), body, data);
    }
}

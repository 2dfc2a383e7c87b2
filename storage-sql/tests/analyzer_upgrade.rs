//! Terms made by an older analyzer are derived again when the store opens: a database whose
//! `analyzer` counter is behind (as every database written before the counter existed) finds
//! its tickets and FAQ entries by the current analyzer's terms after a reconnect.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use sqlx::Connection;
use ticketcore::testkit::{desk_with, fixture_config};
use ticketcore::{Actor, Channel, FaqCategory, FaqState, Message, NewFaq, NewTicket, Store};
use ticketcore_sql::SqlStore;

#[tokio::test(flavor = "multi_thread")]
async fn stale_terms_are_derived_again_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("desk.db").display());
    let store: Arc<dyn Store> = Arc::new(SqlStore::connect(&url).await.unwrap());
    let mut config = fixture_config();
    config.faq_categories = vec![FaqCategory::new("Allgemein", "support")];
    let (desk, _) = desk_with(store, config, 1).await;
    let input = NewTicket::new(
        "Support",
        "Verträge",
        Channel::Phone,
        Message::text("Anträge"),
    );
    desk.create_ticket(&Actor::agent("anna"), input)
        .await
        .unwrap();
    desk.faq_add(
        &Actor::agent("anna"),
        NewFaq {
            state: FaqState::Public,
            ..NewFaq::new("Beiträge", "Allgemein", "Kündigungen")
        },
    )
    .await
    .unwrap();
    drop(desk);

    // What an older analyzer left behind: other terms, and no counter saying which made them.
    let mut raw = sqlx::SqliteConnection::connect(&url).await.unwrap();
    for sql in [
        "UPDATE ticket_search SET head = 'stale', public = 'stale', internal = ''",
        "UPDATE faq SET head = 'stale', body = 'stale'",
        "DELETE FROM faq_terms",
        "INSERT INTO faq_terms (term, number) VALUES ('stale', 1)",
        "DELETE FROM counters WHERE name = 'analyzer'",
    ] {
        sqlx::query(sql).execute(&mut raw).await.unwrap();
    }
    raw.close().await.unwrap();

    let store: Arc<dyn Store> = Arc::new(SqlStore::connect(&url).await.unwrap());
    let (desk, _) = desk_with(store.clone(), fixture_config(), 1).await;
    let found = desk
        .search(&Actor::agent("anna"), "Vertrag Antrag", Default::default())
        .await
        .unwrap();
    assert_eq!(found.hits.len(), 1, "the ticket by its current terms");
    let faq = desk
        .faq_search(None, "Beitrag Kündigung", None, 10)
        .await
        .unwrap();
    assert_eq!(faq.hits.len(), 1, "the FAQ entry by its current terms");
    assert_eq!(
        store.counter("analyzer").await.unwrap(),
        ticketcore::analyzer::VERSION
    );
}
